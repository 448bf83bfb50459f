// Reference pooling and reductions: MaxPool, AveragePool, GlobalAveragePool, ReduceMean, Softmax.
// Window semantics follow onnxruntime, the project's oracle: padded cells are -inf for max; for
// average, the divisor counts only real cells, or (count_include_pad) the whole kernel area kH·kW,
// even where a ceil-mode window runs past the trailing pad (ORT 1.18 and onnx.reference do this;
// PyTorch would count only cells inside input + pads). Not vectorized, not the runtime's kernels.

import _SpruceSupport

extension ReferenceExecutor {
    /// Max over each window; cells outside the input are ignored (padding acts as -inf).
    static func maxPool(_ x: Tensor, attributes a: PoolAttributes, geometry g: WindowGeometry,
                        outputShape: [Int]) -> Tensor {
        pool(x, attributes: a, geometry: g, outputShape: outputShape) { xp, base, rows, cols in
            var best = -Float.infinity
            for iy in rows {
                for ix in cols {
                    let v = xp[base + iy * x.shape[3] + ix]
                    if v > best || v.isNaN { best = v }
                }
            }
            return best
        }
    }

    /// Mean over each window with the divisor chosen by `countIncludePad`.
    static func averagePool(_ x: Tensor, attributes a: PoolAttributes, geometry g: WindowGeometry,
                            outputShape: [Int]) -> Tensor {
        // With count_include_pad every window divides by the full kernel area, so a ceil-mode window
        // hanging past the trailing pad is diluted by its missing cells too: that is what
        // onnxruntime computes, and the fixtures compare against onnxruntime.
        let kernelArea = a.kernelShape[0] * a.kernelShape[1]
        return pool(x, attributes: a, geometry: g, outputShape: outputShape) { xp, base, rows, cols in
            var sum: Float = 0
            for iy in rows {
                for ix in cols { sum += xp[base + iy * x.shape[3] + ix] }
            }
            let count = a.countIncludePad ? kernelArea : rows.count * cols.count
            return count > 0 ? sum / Float(count) : 0
        }
    }

    /// Shared window walk: for each output cell, the taps inside the input along each axis,
    /// handed to `reduce`.
    private static func pool(
        _ x: Tensor, attributes a: PoolAttributes, geometry g: WindowGeometry, outputShape: [Int],
        reduce: (UnsafeBufferPointer<Float>, Int, [Int], [Int]) -> Float
    ) -> Tensor {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let oh = outputShape[2], ow = outputShape[3]
        let axes = [(size: h, out: oh), (size: w, out: ow)]
        // Per axis and output position: the taps inside the input.
        var taps: [[[Int]]] = [[], []]
        for axis in 0..<2 {
            let size = axes[axis].size
            let begin = g.pads[axis]
            for o in 0..<axes[axis].out {
                var inside: [Int] = []
                for k in 0..<a.kernelShape[axis] {
                    let i = o * a.strides[axis] - begin + k * a.dilations[axis]
                    if i >= 0 && i < size { inside.append(i) }
                }
                taps[axis].append(inside)
            }
        }
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        out.withUnsafeMutableBufferPointer { o in
            x.data.withUnsafeBufferPointer { xp in
                for plane in 0..<(n * c) {
                    let base = plane * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            o[(plane * oh + oy) * ow + ox] = reduce(xp, base, taps[0][oy], taps[1][ox])
                        }
                    }
                }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Mean over all spatial positions of each (n, c) plane.
    static func globalAveragePool(_ x: Tensor, outputShape: [Int]) -> Tensor {
        let planes = x.shape[0] * x.shape[1]
        let spatial = Array(x.shape.dropFirst(2)).elementCount
        var out = [Float](repeating: 0, count: planes)
        x.data.withUnsafeBufferPointer { xp in
            for p in 0..<planes {
                var sum: Float = 0
                for i in 0..<spatial { sum += xp[p * spatial + i] }
                out[p] = spatial > 0 ? sum / Float(spatial) : 0
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Mean over `axes` (normalized); the data layout is the same with or without kept dims.
    static func reduceMean(_ x: Tensor, axes: Set<Int>, keepDims: Bool, outputShape: [Int]) -> Tensor {
        let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        // Reduced axes get stride 0 so every input element lands on its output cell.
        var outStrides = kept.rowMajorStrides
        for a in axes { outStrides[a] = 0 }
        let reduced = axes.reduce(1) { $0 * x.shape[$1] }
        var out = [Float](repeating: 0, count: kept.elementCount)
        let shape = x.shape.isEmpty ? [1] : x.shape
        let strides = shape.rowMajorStrides
        if x.shape.isEmpty { outStrides = [0] }
        let last = shape.count - 1
        out.withUnsafeMutableBufferPointer { o in
            x.data.withUnsafeBufferPointer { xp in
                forEachRow(of: shape) { index in
                    let xBase = offset(index, strides)
                    var oi = offset(index, outStrides)
                    for i in 0..<shape[last] {
                        o[oi] += xp[xBase + i]
                        oi += outStrides[last]
                    }
                }
            }
            if reduced > 0 {
                for i in 0..<o.count { o[i] /= Float(reduced) }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Softmax along one axis (opset 13): exp(x - max) / sum, per slice.
    static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        guard !x.shape.isEmpty else { return Tensor(shape: [], data: x.data.map { $0.isNaN ? $0 : 1 }) }
        let outer = Array(x.shape[..<axis]).elementCount
        let d = x.shape[axis]
        let inner = Array(x.shape[(axis + 1)...]).elementCount
        var out = x.data
        out.withUnsafeMutableBufferPointer { o in
            for a in 0..<outer {
                for b in 0..<inner {
                    let base = a * d * inner + b
                    var peak = -Float.infinity
                    for i in 0..<d { peak = max(peak, o[base + i * inner]) }
                    var sum: Float = 0
                    for i in 0..<d {
                        let e = expf(o[base + i * inner] - peak)
                        o[base + i * inner] = e
                        sum += e
                    }
                    for i in 0..<d { o[base + i * inner] /= sum }
                }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }
}
