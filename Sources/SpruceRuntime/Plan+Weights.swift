// Planning the weight-bearing nodes (Conv, Gemm, MatMul): checks each stored weight against its
// node, then converts it once into kernel form: packed f32 panels for dense convolutions, 32-bit
// CSR indices, 64-bit-per-word masks, int8 values with row scales, and 2–7-bit values packed as
// stored for the sparse row kernels (the vecmat kernels get them widened to int8). Sparse weights
// stay sparse; only dense int8 tensors (stored dense because that was smallest) are dequantized here.
import SpruceCore
import SpruceFormat

extension PlanBuilder {
    mutating func planConv(_ node: Node, _ a: ConvAttributes) throws(RuntimeError) {
        guard node.inputs.count >= 2 else { throw unsupported(node, "no weight input") }
        let xName = node.inputs[0], wName = node.inputs[1], out = node.outputs[0]
        guard let stored = tensors[wName] else { throw .missingWeight(node: node.name, tensor: wName) }
        let xs = try shape(xName, node), ws = stored.shape, ys = try shape(out, node)
        guard xs.count == 4, ws.count == 4, ys.count == 4, a.kernelShape.count == 2 else {
            throw unsupported(node, "only 2-D NCHW convolution; input \(xs), weight \(ws)")
        }
        let batch = xs[0]
        let pads = resolvePads(input: [xs[2], xs[3]], kernel: a.kernelShape, strides: a.strides,
                               dilations: a.dilations, pads: a.pads, autoPad: a.autoPad)
        let g = ConvGeometry(inChannels: xs[1], inHeight: xs[2], inWidth: xs[3], outChannels: ws[0],
                             kernelHeight: ws[2], kernelWidth: ws[3], strideHeight: a.strides[0],
                             strideWidth: a.strides[1], pads: pads, dilationHeight: a.dilations[0],
                             dilationWidth: a.dilations[1], groups: a.groups)
        guard g.isValid, g.outHeight == ys[2], g.outWidth == ys[3], ys[1] == g.outChannels else {
            throw unsupported(node, "geometry \(g) disagrees with output \(ys)")
        }
        let bias = try optionalBias(node, index: 2, count: g.outChannels, scale: 1)
        let bounds = ActivationBounds(a.activation)
        let x = try read(xName, node: node)
        let rows = g.outChannels, cols = g.reduction
        let depthwise = g.groups == g.inChannels && g.inChannelsPerGroup == 1
        let nonZeros = stored.storedValues
        let sparse: Bool
        switch (stored, kernelChoice) {
        case (.dense, _), (.denseInt8, _): sparse = false
        case (_, .stored): sparse = true
        case (_, .dense): sparse = false
        case (_, .automatic): sparse = !ConvCostModel.densePays(g, nonZeros: nonZeros)
        }
        if !sparse {
            // Speed choice: a sparse weight expanded here costs M·K floats of memory but runs as a
            // dense GEMM, which the cost model found faster for this layer (tiny maps, moderate sparsity).
            let w = stored.denseTensor().data
            if depthwise {
                steps.append(DWConvStep(node: node.name, geometry: g, weights: w, bias: bias, bounds: bounds,
                                        input: x, output: write(out), batch: batch))
            } else {
                var packed = [Float](repeating: 0, count: max(1, f32ConvDensePackedWeightsCount(g)))
                w.withUnsafeBufferPointer { wp in
                    packed.withUnsafeMutableBufferPointer { pp in
                        f32ConvDensePackWeights(g, weights: wp.baseAddress!, packed: pp.baseAddress!)
                    }
                }
                steps.append(ConvDenseStep(node: node.name, geometry: g, packedWeights: packed, bias: bias,
                                           bounds: bounds, input: x, output: write(out), batch: batch))
            }
        } else {
            let (index, values) = try sparseForm(stored, rows: rows, cols: cols, node: node, tensor: wName, scale: 1)
            steps.append(SparseConvStep(node: node.name, geometry: g, index: index, values: values, bias: bias,
                                        bounds: bounds, input: x, output: write(out), batch: batch, nonZeros: nonZeros))
        }
    }

    /// Gemm (Y = alpha · A · op(B) + beta · C) and MatMul with a constant B, for one sample row.
    mutating func planGemm(_ node: Node, transA: Bool, transB: Bool, alpha: Float, beta: Float) throws(RuntimeError) {
        guard node.inputs.count >= 2 else { throw unsupported(node, "needs two inputs") }
        let aName = node.inputs[0], wName = node.inputs[1], out = node.outputs[0]
        guard !transA else { throw unsupported(node, "transA") }
        guard let stored = tensors[wName] else { throw .missingWeight(node: node.name, tensor: wName) }
        let aShape = try shape(aName, node), ws = stored.shape, ys = try shape(out, node)
        guard ws.count == 2, let k = aShape.last else {
            throw unsupported(node, "only A times a constant 2-D B; A \(aShape), B \(ws)")
        }
        let rows = Array(aShape.dropLast()).elementCount
        let n = transB ? ws[0] : ws[1]
        guard (transB ? ws[1] : ws[0]) == k, ys.elementCount == rows * n else {
            throw .weightMismatch(node: node.name, tensor: wName, detail: "shape \(ws) for A \(aShape) and output \(ys)")
        }
        let bias = try optionalBias(node, index: 2, count: n, scale: beta)
        let x = try read(aName, node: node)
        if case .dense(let t) = stored, rows >= f32GemmMR {
            // Many rows: one GEMM with B [K × N] (transposed once from a transB weight).
            var w = [Float](repeating: 0, count: k * n + 1)
            for r in 0..<k {
                for c in 0..<n { w[r * n + c] = (transB ? t.data[c * k + r] : t.data[r * n + c]) * alpha }
            }
            steps.append(RowGemmStep(node: node.name, outputs: n, depth: k, rows: rows, weights: w, bias: bias,
                                     input: x, output: write(out)))
            return
        }
        if transB {
            // Rows of B are output rows: the stored form is already what the kernels want.
            switch stored {
            case .dense(let t):
                steps.append(DenseGemmStep(node: node.name, outputs: n, depth: k, values: .f32(t.data.map { $0 * alpha } + [0]),
                                           bias: bias, input: x, output: write(out), rows: rows))
            case .denseInt8(_, let q):
                guard q.values.count == n * k, q.scales.count == n else {
                    throw .weightMismatch(node: node.name, tensor: wName, detail: "int8 rows do not match \(ws)")
                }
                steps.append(DenseGemmStep(node: node.name, outputs: n, depth: k,
                                           values: .int8(q.values + [0], scales: q.scales.map { $0 * alpha } + [0]),
                                           bias: bias, input: x, output: write(out), rows: rows))
            default:
                let (index, values) = try sparseForm(stored, rows: n, cols: k, node: node, tensor: wName, scale: alpha)
                steps.append(SparseGemmStep(node: node.name, outputs: n, depth: k, index: index, values: values,
                                            bias: bias, input: x, output: write(out), rows: rows))
            }
            return
        }
        // B is [K × N] (a MatMul Linear weight, or Gemm without transB): its rows are inputs, and
        // int8 scales belong to them. Dense f32 is transposed once for the dot-product kernel;
        // int8 and sparse forms run as stored, each row scaled by its input (f32-vecmat-kn).
        switch stored {
        case .dense(let t):
            var w = [Float](repeating: 0, count: n * k + 1)
            for r in 0..<k { for c in 0..<n { w[c * k + r] = t.data[r * n + c] * alpha } }
            steps.append(DenseGemmStep(node: node.name, outputs: n, depth: k, values: .f32(w), bias: bias,
                                       input: x, output: write(out), rows: rows))
        case .denseInt8(_, let q):
            guard q.values.count == n * k, q.scales.count == k else {
                throw .weightMismatch(node: node.name, tensor: wName, detail: "int8 rows do not match \(ws)")
            }
            steps.append(VecMatStep(node: node.name, depth: k, outputs: n,
                                    weights: .denseInt8(q.values + [0], scales: q.scales.map { $0 * alpha } + [0]),
                                    bias: bias, input: x, output: write(out), rows: rows))
        default:
            let (index, values) = try sparseForm(stored, rows: k, cols: n, node: node, tensor: wName, scale: alpha,
                                                 packedValues: false)
            steps.append(VecMatStep(node: node.name, depth: k, outputs: n, weights: .sparse(index, values),
                                    bias: bias, input: x, output: write(out), rows: rows))
        }
    }

    /// A constant bias input (times `scale`), or nil when the node has none.
    func optionalBias(_ node: Node, index: Int, count: Int, scale: Float) throws(RuntimeError) -> [Float]? {
        guard node.inputs.count > index, !node.inputs[index].isEmpty else { return nil }
        let name = node.inputs[index]
        guard let t = tensors[name] else { throw unsupported(node, "bias '\(name)' is not a constant") }
        let data = t.denseTensor().data
        if data.count == count { return data.map { $0 * scale } }
        if data.count == 1 { return [Float](repeating: data[0] * scale, count: count) }
        throw .weightMismatch(node: node.name, tensor: name, detail: "\(data.count) bias values for \(count) outputs")
    }

    /// Kernel form of a sparse stored matrix [rows × cols], checked element by element.
    /// `scale` multiplies f32 values or int8 row scales (Gemm's alpha). Values narrower than 8
    /// bits stay packed when `packedValues`, else they are widened to int8.
    func sparseForm(_ stored: StoredTensor, rows: Int, cols: Int, node: Node, tensor: String,
                    scale: Float, packedValues: Bool = true) throws(RuntimeError) -> (SparseIndexStore, SparseValueStore) {
        func mismatch(_ detail: String) -> RuntimeError { .weightMismatch(node: node.name, tensor: tensor, detail: detail) }
        func csrIndex(_ m: Int, _ c: Int, _ rp: [Int32], _ ci: [Int32], _ nnz: Int) throws(RuntimeError) -> SparseIndexStore {
            guard m == rows, c == cols else { throw mismatch("CSR \(m)x\(c), node needs \(rows)x\(cols)") }
            guard rp.count == rows + 1, rp.first == 0, Int(rp.last ?? -1) == nnz, ci.count == nnz else {
                throw mismatch("inconsistent CSR row pointers")
            }
            for r in 0..<rows where rp[r] > rp[r + 1] { throw mismatch("row pointers decrease at row \(r)") }
            for col in ci where col < 0 || Int(col) >= cols { throw mismatch("column index \(col) out of 0..<\(cols)") }
            return .csr(rowPointers: rp.map { UInt32(bitPattern: $0) }, columns: ci.map { UInt32(bitPattern: $0) } + [0])
        }
        func maskIndex(_ m: Int, _ c: Int, _ mask: [UInt8], _ nnz: Int) throws(RuntimeError) -> SparseIndexStore {
            guard m == rows, c == cols else { throw mismatch("bitmask \(m)x\(c), node needs \(rows)x\(cols)") }
            let bytesPerRow = (cols + 7) / 8, wordsPerRow = (cols + 63) / 64
            guard mask.count == rows * bytesPerRow else { throw mismatch("mask has \(mask.count) bytes") }
            var words = [UInt64](repeating: 0, count: max(1, rows * wordsPerRow))
            var offsets = [UInt32](repeating: 0, count: rows + 1)
            var total = 0
            for r in 0..<rows {
                offsets[r] = UInt32(truncatingIfNeeded: total)
                for b in 0..<bytesPerRow {
                    let byte = mask[r * bytesPerRow + b]
                    if b == bytesPerRow - 1 && cols % 8 != 0 && byte >> UInt8(cols % 8) != 0 {
                        throw mismatch("mask bits set past column \(cols)")
                    }
                    words[r * wordsPerRow + b / 8] |= UInt64(byte) << UInt64(8 * (b % 8))
                    total += byte.nonzeroBitCount
                }
            }
            offsets[rows] = UInt32(truncatingIfNeeded: total)
            guard total == nnz else { throw mismatch("mask marks \(total) values, \(nnz) stored") }
            return .bitmask(words: words, rowValueOffsets: offsets)
        }
        func int8Values(_ q: Int8Rows, _ nnz: Int) throws(RuntimeError) -> SparseValueStore {
            guard q.values.count == nnz, q.scales.count == rows else { throw mismatch("int8 values or scales do not match") }
            let scales = q.scales.map { $0 * scale } + [0]
            if packedValues && q.bits < 8 { return .packed(Int8Rows.packBits(q.values, bits: q.bits) + [UInt8](repeating: 0, count: packedValueSlack),
                                                             bits: q.bits, scales: scales) }
            return .int8(q.values + [0], scales: scales)
        }
        switch stored {
        case .csr(_, let m):
            return (try csrIndex(m.rows, m.cols, m.rowPointers, m.columnIndices, m.values.count),
                    .f32(m.values.map { $0 * scale } + [0]))
        case .csrInt8(_, let m):
            return (try csrIndex(m.rows, m.cols, m.rowPointers, m.columnIndices, m.values.values.count),
                    try int8Values(m.values, m.values.values.count))
        case .bitmask(_, let m):
            return (try maskIndex(m.rows, m.cols, m.mask, m.values.count), .f32(m.values.map { $0 * scale } + [0]))
        case .bitmaskInt8(_, let m):
            return (try maskIndex(m.rows, m.cols, m.mask, m.values.values.count),
                    try int8Values(m.values, m.values.values.count))
        case .dense, .denseInt8:
            throw mismatch("expected a sparse encoding")
        }
    }
}
