// Calibrated int8 rounding for `spruce pack --int8 --calibrate`: the GPTQ method (Frantar et al.,
// "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers", 2022).
// The format does not change: every row keeps the scale of max|w| over its stored values, and
// zeros stay zero. What changes is which way each weight rounds. Round-to-nearest treats the
// weights of a row as independent; GPTQ rounds them one input column at a time and moves the
// not-yet-rounded weights of the row to cancel the error just made, weighted by how the layer's
// inputs correlate on calibration images (H = Σ x·xᵀ). Layers are done in graph order, each
// seeing the activations of the layers before it as already rounded.
import COpenBLAS
import SpruceCore

/// Why calibrated rounding failed.
public enum CalibrationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The calibration run of the model failed.
    case evaluation(String)

    public var description: String {
        switch self {
        case .evaluation(let detail): "calibration run failed: \(detail)"
        }
    }
}

/// GPTQ rounding of conv and Gemm weights onto the per-row int8 grid of the artifact format.
///
/// ```swift
/// let rounded = try CalibratedRounding().round(graph, weights: names, inputs: ["input": images])
/// try ArtifactWriter(int8: true).write(Model(graph: rounded), to: "m.spruce")
/// ```
public struct CalibratedRounding: Sendable {
    /// Added to H's diagonal, as a fraction of its mean diagonal, so H is invertible even when
    /// some inputs never vary on the calibration images (GPTQ's "percdamp").
    public var dampening: Double
    /// Bits per value (8: int8; 2…7 as `ArtifactWriter.valueBits`).
    public var bits: Int

    public init(dampening: Double = 0.01, bits: Int = 8) {
        self.dampening = dampening
        self.bits = bits
    }

    /// `graph` with each weight in `weights` (conv weights, and Gemm weights stored [outputs,
    /// inputs]) replaced by its quantized values as floats, `q · scale` with |q| ≤
    /// `Int8Rows.largestStep(bits:)` and the writer's per-row scale, so `ArtifactWriter(int8: true)`
    /// with the same `valueBits` stores exactly these q. Other
    /// weights are left as they are (the writer rounds them to nearest). `inputs` is the
    /// calibration batch; `progress(done, total, node)` follows each rounded layer.
    public func round(_ graph: Graph, weights: Set<String>, inputs: [String: Tensor],
                      progress: ((Int, Int, String) -> Void)? = nil) throws -> Graph {
        var result = graph
        let total = graph.nodes.filter { Self.layerForm($0, weights: weights, graph: graph) != nil }.count
        var done = 0
        do {
            _ = try ReferenceExecutor(graph: graph).run(inputs, substituting: { node, operands in
                guard let form = Self.layerForm(node, weights: weights, graph: graph),
                      let x = operands[0], let w = operands[1] else { return nil }
                let rounded: Tensor
                switch form {
                case .conv(let a):
                    guard x.rank == 4, w.rank == 4 else { return nil }
                    rounded = try roundConv(w, input: x, attributes: a, node: node)
                case .gemm:
                    guard x.rank == 2, w.rank == 2, x.shape[1] == w.shape[1] else { return nil }
                    var h = [Float](repeating: 0, count: w.shape[1] * w.shape[1])
                    x.data.withUnsafeBufferPointer { xp in
                        accumulateGram(xp.baseAddress!, rows: w.shape[1], columns: x.shape[0], transposed: true, into: &h)
                    }
                    rounded = Tensor(shape: w.shape, data: roundRows(w.data, rows: w.shape[0], k: w.shape[1], gram: h))
                }
                result.initializers[node.inputs[1]] = rounded
                done += 1
                progress?(done, total, node.name)
                var replaced = operands
                replaced[1] = rounded
                return replaced
            })
        } catch {
            throw CalibrationError.evaluation(String(describing: error))
        }
        return result
    }

    enum LayerForm { case conv(ConvAttributes), gemm }

    /// How node's weight is rounded, or nil when it is not one of `weights` in a supported form.
    static func layerForm(_ node: Node, weights: Set<String>, graph: Graph) -> LayerForm? {
        guard node.inputs.count > 1, weights.contains(node.inputs[1]), graph.initializers[node.inputs[1]] != nil else {
            return nil
        }
        switch node.op {
        case .conv(let a) where a.kernelShape.count == 2: return .conv(a)
        case .gemm(let a) where a.transB && !a.transA: return .gemm
        default: return nil
        }
    }

    /// Rounds conv weight `w` [M, C/G, kH, kW] with one H per group from the patches of `x`.
    func roundConv(_ w: Tensor, input x: Tensor, attributes a: ConvAttributes, node: Node) throws -> Tensor {
        let n = x.shape[0], c = x.shape[1], height = x.shape[2], width = x.shape[3]
        let m = w.shape[0], cg = w.shape[1], kh = w.shape[2], kw = w.shape[3]
        let groups = max(1, a.groups), mg = m / groups, k = cg * kh * kw
        let (pads, size) = try Graph.convWindow(node, a, input: [height, width])
        let plane = size[0] * size[1]
        // A 1×1, stride-1, unpadded conv reads each channel plane as its patch rows: no im2col.
        let direct = kh == 1 && kw == 1 && a.strides == [1, 1] && pads == [0, 0, 0, 0]
        var out = [Float](repeating: 0, count: w.count)
        var patches = [Float](repeating: 0, count: direct ? 0 : k * plane)
        for g in 0..<groups {
            var h = [Float](repeating: 0, count: k * k)
            for sample in 0..<n {
                x.data.withUnsafeBufferPointer { xp in
                    let channels = xp.baseAddress! + (sample * c + g * cg) * height * width
                    if direct {
                        accumulateGram(channels, rows: k, columns: plane, transposed: false, into: &h)
                        return
                    }
                    patches.withUnsafeMutableBufferPointer { pp in
                        im2col(channels, channels: cg, height: height, width: width, kernel: (kh, kw),
                               strides: (a.strides[0], a.strides[1]), dilations: (a.dilations[0], a.dilations[1]),
                               pads: (pads[0], pads[1]), output: (size[0], size[1]), into: pp.baseAddress!)
                        accumulateGram(pp.baseAddress!, rows: k, columns: plane, transposed: false, into: &h)
                    }
                }
            }
            let rows = Array(w.data[(g * mg * k)..<((g + 1) * mg * k)])
            out.replaceSubrange((g * mg * k)..<((g + 1) * mg * k), with: roundRows(rows, rows: mg, k: k, gram: h))
        }
        return Tensor(shape: w.shape, data: out)
    }

    /// Rounds `rows` × `k` weights (row-major) given the inputs' Gram matrix `gram` (k × k, upper
    /// triangle filled): GPTQ with the upper Cholesky factor of H⁻¹; round-to-nearest if H cannot
    /// be factored even with 1000× the dampening.
    func roundRows(_ weights: [Float], rows: Int, k: Int, gram: [Float]) -> [Float] {
        let factor = inverseCholesky(gram, k: k)
        var out = weights
        var row = [Double](repeating: 0, count: k)
        for r in 0..<rows {
            let original = weights[(r * k)..<((r + 1) * k)]
            // The row's largest magnitude fixes its scale. That weight becomes ±127 steps, whatever
            // corrections reached it (the scale rounds up to binary16, so it moves by at most 2^-10 of
            // itself), and its error is passed on like any other: every weight is q · scale, so the
            // writer, recomputing the scale from max|w| = 127 · scale, gets the same scale and q.
            var maxAbs: Float = 0, top = -1
            for (j, v) in original.enumerated() where abs(v) > maxAbs { maxAbs = abs(v); top = j }
            guard maxAbs > 0, maxAbs.isFinite else { continue }
            let scale = Int8Rows.scale(maxAbs: maxAbs, bits: bits)
            for (j, v) in original.enumerated() { row[j] = Double(v) }
            for j in 0..<k {
                let value = original[original.startIndex + j]
                if value == 0 { continue }  // pruned weights stay zero and take no corrections
                let largest = Int8Rows.largestStep(bits: bits)
                let rounded = Float(j == top ? (value < 0 ? -largest : largest) : Int(Int8Rows.quantize(Float(row[j]), scale: scale, bits: bits))) * scale
                out[r * k + j] = rounded
                guard let u = factor else { continue }
                let err = (row[j] - Double(rounded)) / u[j * k + j]
                for i in (j + 1)..<k { row[i] -= err * u[j * k + i] }
            }
        }
        return out
    }

    /// The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ·U), row j in `[j*k + j ..< j*k + k]`, where
    /// H is `gram` symmetrized plus dampening; nil when no dampening up to 1000× makes H factor.
    func inverseCholesky(_ gram: [Float], k: Int) -> [Double]? {
        var mean = 0.0
        for j in 0..<k { mean += Double(gram[j * k + j]) }
        mean /= Double(max(1, k))
        if !(mean > 0) { mean = 1 }
        var n = Int32(k), info: Int32 = 0
        var damp = dampening
        while damp <= dampening * 1000 {
            // LAPACK is column-major: its lower triangle ('L') is this row-major array's upper one.
            var a = [Double](repeating: 0, count: k * k)
            for i in 0..<k {
                for j in i..<k { a[i * k + j] = Double(gram[i * k + j]) }
                a[i * k + i] += damp * mean
            }
            dpotrf_("L", &n, &a, &n, &info)
            if info == 0 { dpotri_("L", &n, &a, &n, &info) }
            if info == 0 {
                for i in 0..<k { for j in 0..<i { a[i * k + j] = a[j * k + i] } }  // full H⁻¹
                dpotrf_("L", &n, &a, &n, &info)  // H⁻¹ = L·Lᵀ; U = Lᵀ, whose row j is a[j*k + j...]
                if info == 0 { return a }
            }
            damp *= 10
        }
        return nil
    }
}

/// h (k × k, upper triangle) += X·Xᵀ for X = `rows` × `columns` row-major, or Xᵀ·X for X =
/// `columns` × `rows` when `transposed`.
func accumulateGram(_ x: UnsafePointer<Float>, rows: Int, columns: Int, transposed: Bool, into h: inout [Float]) {
    guard rows > 0, columns > 0 else { return }
    h.withUnsafeMutableBufferPointer { hp in
        cblas_ssyrk(CblasRowMajor, CblasUpper, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns),
                    1, x, Int32(transposed ? rows : columns), 1, hp.baseAddress!, Int32(rows))
    }
}

/// The patches of one sample's channels as rows (c, ky, kx) × columns (oy, ox), zero outside the image.
func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kernel: (Int, Int),
            strides: (Int, Int), dilations: (Int, Int), pads: (Int, Int), output: (Int, Int),
            into out: UnsafeMutablePointer<Float>) {
    var row = 0
    for ch in 0..<channels {
        for ky in 0..<kernel.0 {
            for kx in 0..<kernel.1 {
                let dst = out + row * output.0 * output.1
                for oy in 0..<output.0 {
                    let iy = oy * strides.0 - pads.0 + ky * dilations.0
                    for ox in 0..<output.1 {
                        let ix = ox * strides.1 - pads.1 + kx * dilations.1
                        dst[oy * output.1 + ox] = iy >= 0 && iy < height && ix >= 0 && ix < width
                            ? x[(ch * height + iy) * width + ix] : 0
                    }
                }
                row += 1
            }
        }
    }
}
