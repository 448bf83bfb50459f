// Reflect and edge Pad for training, batched and of any rank: the forward gathers every output
// element from the input element `PadGeometry` names; the backward is its transpose, so an input
// element copied into the border several times (an edge, or a row reflect reads) collects the
// gradient of every copy. Constant Pad keeps GradientRules.padCopy (a copy, no accumulation).

import SpruceCore

/// Gather forward and scatter-add backward of Pad.
enum PadKernels {
    /// y[o] = x[source(o)], or `value` where the geometry names no source (constant mode).
    static func forward(_ x: UnsafePointer<Float>, _ g: PadGeometry, value: Float, _ y: UnsafeMutablePointer<Float>) {
        walk(g) { out, src in y[out] = src < 0 ? value : x[src] }
    }

    /// dx[source(o)] += dy[o] over every output element; `dx` must hold zeros (or a gradient to add to).
    static func backward(_ dy: UnsafePointer<Float>, _ g: PadGeometry, _ dx: UnsafeMutablePointer<Float>) {
        walk(g) { out, src in if src >= 0 { dx[src] += dy[out] } }
    }

    /// Calls `body(outputOffset, inputOffset)` for every output element in row-major order, with
    /// -1 for an element no input element feeds.
    private static func walk(_ g: PadGeometry, _ body: (Int, Int) -> Void) {
        let rank = g.output.count
        guard rank > 0 else { body(0, 0); return }
        guard !g.output.contains(0) else { return }
        // Per axis, the flat input offset of each output index (-1: none).
        let strides = g.input.rowMajorStrides
        let offsets = (0..<rank).map { axis in g.sources[axis].map { $0 < 0 ? -1 : $0 * strides[axis] } }
        let last = rank - 1, width = g.output[last]
        var index = [Int](repeating: 0, count: last)
        var out = 0
        for _ in 0..<Array(g.output.dropLast()).elementCount {
            var row = 0
            for axis in 0..<last {
                let o = offsets[axis][index[axis]]
                if o < 0 { row = -1; break }
                row += o
            }
            for j in 0..<width {
                let o = offsets[last][j]
                body(out + j, row < 0 || o < 0 ? -1 : row + o)
            }
            out += width
            var axis = last - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < g.output[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
