// Slice for training, batched and of any rank: the forward copies the crop out of the input, the
// backward writes dy back into a zero-filled tensor of the input's shape (the other elements get
// no gradient). Each Split output is one such crop, so the scatters of a Split's outputs add up
// to the concatenation of their gradients. Rows are walked with ElementwiseKernels' odometer.

import SpruceCore

/// Strided crop forward and backward.
enum SliceKernels {
    /// y = the elements of x that `g` selects, row-major.
    static func forward(_ x: UnsafePointer<Float>, _ g: SliceGeometry, _ y: UnsafeMutablePointer<Float>) {
        walk(g) { out, src, n, step in
            if step == 1 {
                copyFloats(y + out, x + src, n)
            } else {
                for j in 0..<n { y[out + j] = x[src + j * step] }
            }
        }
    }

    /// dx[selected] = dy; `dx` must hold zeros (or a gradient to add to, as the copies overwrite).
    static func backward(_ dy: UnsafePointer<Float>, _ g: SliceGeometry, _ dx: UnsafeMutablePointer<Float>) {
        walk(g) { out, src, n, step in
            for j in 0..<n { dx[src + j * step] = dy[out + j] }
        }
    }

    /// Calls `body(outputOffset, inputOffset, count, inputStep)` for every innermost output row.
    private static func walk(_ g: SliceGeometry, _ body: (Int, Int, Int, Int) -> Void) {
        guard !g.output.contains(0) else { return }
        let strides = g.inputStrides, start = g.inputOffset
        let n = g.output.last ?? 1, step = strides.last ?? 1
        ElementwiseKernels.forEachRow(g.output, strides, strides) { out, src, _ in body(out, start + src, n, step) }
    }
}
