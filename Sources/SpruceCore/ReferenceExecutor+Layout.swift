// Reference kernels for broadcasting arithmetic, Gemm, MatMul and the data-movement operators
// (Transpose, Concat, Pad, Slice; a Split is one Slice per output). Broadcasting follows numpy: shapes align on the right and size-1
// axes repeat, done here with stride 0. Not the trainer's BLAS path, not the runtime's kernels.

extension ReferenceExecutor {
    /// Elementwise `f(a, b)` with numpy broadcasting to `outputShape`.
    static func broadcasting(_ a: Tensor, _ b: Tensor, outputShape: [Int],
                             _ f: (Float, Float) -> Float) -> Tensor {
        let shape = outputShape.isEmpty ? [1] : outputShape
        let sa = a.shape.broadcastStrides(to: shape), sb = b.shape.broadcastStrides(to: shape)
        let so = shape.rowMajorStrides
        let last = shape.count - 1
        var out = [Float](repeating: 0, count: shape.elementCount)
        out.withUnsafeMutableBufferPointer { o in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    forEachRow(of: shape) { index in
                        var ia = offset(index, sa), ib = offset(index, sb)
                        let io = offset(index, so)
                        for i in 0..<shape[last] {
                            o[io + i] = f(ap[ia], bp[ib])
                            ia += sa[last]
                            ib += sb[last]
                        }
                    }
                }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Y = alpha * op(A) * op(B) + beta * C, with C broadcast to [M, N].
    static func gemm(_ a: Tensor, _ b: Tensor, _ c: Tensor?, attributes g: GemmAttributes,
                     outputShape: [Int]) -> Tensor {
        let m = outputShape[0], n = outputShape[1]
        let k = g.transA ? a.shape[0] : a.shape[1]
        // Element (i, p) of op(A) sits at i * aRow + p * aCol; likewise for op(B).
        let (aRow, aCol) = g.transA ? (1, a.shape[1]) : (a.shape[1], 1)
        let (bRow, bCol) = g.transB ? (1, b.shape[1]) : (b.shape[1], 1)
        var out = [Float](repeating: 0, count: m * n)
        let cStrides = c.map { $0.shape.broadcastStrides(to: [m, n]) }
        out.withUnsafeMutableBufferPointer { o in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum: Float = 0
                            for p in 0..<k { sum += ap[i * aRow + p * aCol] * bp[p * bRow + j * bCol] }
                            var y = g.alpha * sum
                            if let c, let cs = cStrides { y += g.beta * c.data[i * cs[0] + j * cs[1]] }
                            o[i * n + j] = y
                        }
                    }
                }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// numpy matmul: 1-D operands are promoted and the promoted axis dropped; batch axes broadcast.
    static func matMul(_ a: Tensor, _ b: Tensor, outputShape: [Int]) -> Tensor {
        let sa = a.rank == 1 ? [1] + a.shape : a.shape
        let sb = b.rank == 1 ? b.shape + [1] : b.shape
        let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        let batch = Graph.broadcast(batchA, batchB) ?? []
        let strideA = batchA.broadcastStrides(to: batch).map { $0 * m * k }
        let strideB = batchB.broadcastStrides(to: batch).map { $0 * k * n }
        let batchShape = batch + [1]  // a trailing unit axis so forEachRow visits every batch index
        var out = [Float](repeating: 0, count: batch.elementCount * m * n)
        out.withUnsafeMutableBufferPointer { o in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    var bi = 0
                    forEachRow(of: batchShape) { index in
                        let aBase = offset(index, strideA), bBase = offset(index, strideB)
                        let oBase = bi * m * n
                        for i in 0..<m {
                            for p in 0..<k {
                                let av = ap[aBase + i * k + p]
                                for j in 0..<n { o[oBase + i * n + j] += av * bp[bBase + p * n + j] }
                            }
                        }
                        bi += 1
                    }
                }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Output axis i is input axis perm[i].
    static func transpose(_ x: Tensor, perm: [Int]) -> Tensor {
        let outShape = perm.map { x.shape[$0] }
        guard !outShape.isEmpty else { return x }
        let inStrides = x.shape.rowMajorStrides
        let src = perm.map { inStrides[$0] }
        let dst = outShape.rowMajorStrides
        let last = outShape.count - 1
        var out = [Float](repeating: 0, count: x.count)
        out.withUnsafeMutableBufferPointer { o in
            x.data.withUnsafeBufferPointer { xp in
                forEachRow(of: outShape) { index in
                    var si = offset(index, src)
                    let di = offset(index, dst)
                    for i in 0..<outShape[last] {
                        o[di + i] = xp[si]
                        si += src[last]
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out)
    }

    /// Joins `parts` along `axis`.
    static func concat(_ parts: [Tensor], axis: Int, outputShape: [Int]) -> Tensor {
        let outer = Array(outputShape[..<axis]).elementCount
        var out: [Float] = []
        out.reserveCapacity(outputShape.elementCount)
        let chunks = parts.map { Array($0.shape[axis...]).elementCount }
        for o in 0..<outer {
            for (part, chunk) in zip(parts, chunks) {
                out.append(contentsOf: part.data[(o * chunk)..<((o + 1) * chunk)])
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Pad in any mode: every output element copies the input element `g` names on each axis,
    /// or is `value` where an axis names none (constant mode).
    static func pad(_ x: Tensor, _ g: PadGeometry, value: Float) -> Tensor {
        let outputShape = g.output
        guard !outputShape.isEmpty else { return x }
        let inStrides = x.shape.rowMajorStrides
        let dst = outputShape.rowMajorStrides
        let last = outputShape.count - 1
        var out = [Float](repeating: value, count: outputShape.elementCount)
        out.withUnsafeMutableBufferPointer { o in
            x.data.withUnsafeBufferPointer { xp in
                forEachRow(of: outputShape) { index in
                    // The source row, or none when this output row lies in constant padding.
                    var src = 0
                    for axis in 0..<last {
                        let i = g.sources[axis][index[axis]]
                        if i < 0 { return }
                        src += i * inStrides[axis]
                    }
                    let di = offset(index, dst)
                    for j in 0..<outputShape[last] {
                        let i = g.sources[last][j]
                        if i >= 0 { o[di + j] = xp[src + i] }
                    }
                }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// The elements `g` selects, read one by one at first + index · step on every axis.
    static func slice(_ x: Tensor, _ g: SliceGeometry) -> Tensor {
        guard !g.output.isEmpty else { return x }
        let inStrides = x.shape.rowMajorStrides
        let last = g.output.count - 1
        var out: [Float] = []
        out.reserveCapacity(g.output.elementCount)
        x.data.withUnsafeBufferPointer { xp in
            forEachRow(of: g.output) { index in
                var src = 0
                for axis in 0..<last { src += (g.first[axis] + index[axis] * g.steps[axis]) * inStrides[axis] }
                for j in 0..<g.output[last] {
                    out.append(xp[src + (g.first[last] + j * g.steps[last]) * inStrides[last]])
                }
            }
        }
        return Tensor(shape: g.output, data: out)
    }
}
