// Elementwise activations and numpy-broadcasting binary arithmetic for training, float32,
// with their backward passes (broadcast gradients are summed back onto the operand's shape).
// Same-shape operands take a flat loop; other shapes walk rows with stride-0 broadcast axes.
// Not the reference executor's closures-per-element code and not fused with anything.

import SpruceCore

import _SpruceSupport

/// The four broadcasting binary operators.
enum BinaryKind: Sendable {
    case add, sub, mul, div
}

/// Activation and broadcasting kernels.
enum ElementwiseKernels {
    static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { y[i] = x[i] > 0 ? x[i] : 0 }
    }

    /// dx = dy where the output was positive (the output identifies the active set). Branch-free
    /// SIMD selects: activations' signs are random, so a branch here mispredicts half the time.
    static func reluBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            let g = DepthwiseKernels.load(dy + i)
            DepthwiseKernels.store(g.replacing(with: zero, where: DepthwiseKernels.load(y + i) .<= zero), dx + i)
            i += 8
        }
        while i < count { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
    }

    static func clip(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, lo: Float, hi: Float) {
        for i in 0..<count { y[i] = min(max(x[i], lo), hi) }
    }

    /// dx = dy strictly inside (lo, hi); at the bounds the clamp is flat, as in TensorFlow's relu6.
    static func clipBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                             _ count: Int, lo: Float, hi: Float) {
        let zero = SIMD8<Float>(repeating: 0), low = SIMD8<Float>(repeating: lo), high = SIMD8<Float>(repeating: hi)
        var i = 0
        while i + 8 <= count {
            let v = DepthwiseKernels.load(x + i)
            let outside = (v .<= low) .| (v .>= high)
            DepthwiseKernels.store(DepthwiseKernels.load(dy + i).replacing(with: zero, where: outside), dx + i)
            i += 8
        }
        while i < count { dx[i] = x[i] > lo && x[i] < hi ? dy[i] : 0; i += 1 }
    }

    static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { y[i] = 1 / (1 + expf(-x[i])) }
    }

    static func sigmoidBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { dx[i] = dy[i] * y[i] * (1 - y[i]) }
    }

    static func hardSigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, alpha: Float, beta: Float) {
        for i in 0..<count { y[i] = max(0, min(1, alpha * x[i] + beta)) }
    }

    /// dx = alpha · dy where the output lies strictly inside (0, 1), else 0 (flat at the bounds).
    static func hardSigmoidBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                    _ count: Int, alpha: Float) {
        for i in 0..<count { dx[i] = y[i] > 0 && y[i] < 1 ? alpha * dy[i] : 0 }
    }

    static func hardSwish(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { y[i] = x[i] * max(0, min(1, x[i] / 6 + 0.5)) }
    }

    /// d/dx of x · clamp(x/6 + 1/2, 0, 1): 0 at or below −3, 1 at or above 3, (2x + 3)/6 between
    /// (PyTorch's convention at the two kinks).
    static func hardSwishBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            let v = x[i]
            dx[i] = v < -3 ? 0 : (v > 3 ? dy[i] : dy[i] * (2 * v + 3) / 6)
        }
    }

    static func erf(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { y[i] = erff(x[i]) }
    }

    /// d erf(x)/dx = 2/√π · exp(−x²).
    static func erfBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int) {
        let twoOverRootPi = Float(2 / Double.pi.squareRoot())
        for i in 0..<count { dx[i] = dy[i] * twoOverRootPi * expf(-x[i] * x[i]) }
    }

    /// x·Φ(x), or its tanh approximation (see `Op.gelu`).
    static func gelu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, tanhApproximation: Bool) {
        if tanhApproximation {
            let c = Float((2 / Double.pi).squareRoot())
            for i in 0..<count {
                let v = x[i]
                y[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
            }
        } else {
            let invRoot2 = Float(1 / 2.0.squareRoot())
            for i in 0..<count { y[i] = 0.5 * x[i] * (1 + erff(x[i] * invRoot2)) }
        }
    }

    /// Exact: d(x·Φ(x))/dx = Φ(x) + x·φ(x). Tanh form, with u = c·(x + k·x³) and t = tanh(u):
    /// ½(1 + t) + ½x·(1 − t²)·c·(1 + 3k·x²).
    static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                             _ count: Int, tanhApproximation: Bool) {
        if tanhApproximation {
            let c = Float((2 / Double.pi).squareRoot()), k: Float = 0.044715
            for i in 0..<count {
                let v = x[i]
                let t = tanhf(c * (v + k * v * v * v))
                dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * k * v * v))
            }
        } else {
            let invRoot2 = Float(1 / 2.0.squareRoot()), invRoot2Pi = Float(1 / (2 * Double.pi).squareRoot())
            for i in 0..<count {
                let v = x[i]
                dx[i] = dy[i] * (0.5 * (1 + erff(v * invRoot2)) + v * invRoot2Pi * expf(-0.5 * v * v))
            }
        }
    }

    /// Calls `body(outOffset, aOffset, bOffset)` for every row of `shape` (all axes but the last),
    /// with operand offsets from `sa` / `sb`.
    @inline(__always)
    static func forEachRow(_ shape: [Int], _ sa: [Int], _ sb: [Int], _ body: (Int, Int, Int) -> Void) {
        let outer = Array(shape.dropLast())
        let rows = outer.elementCount
        if rows == 0 || shape.last == 0 { return }
        let last = shape.last ?? 1
        var index = [Int](repeating: 0, count: outer.count)
        var oa = 0, ob = 0
        for r in 0..<rows {
            body(r * last, oa, ob)
            var axis = outer.count - 1
            while axis >= 0 {
                index[axis] += 1
                oa += sa[axis]
                ob += sb[axis]
                if index[axis] < outer[axis] { break }
                oa -= sa[axis] * outer[axis]
                ob -= sb[axis] * outer[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    @inline(__always)
    static func apply(_ kind: BinaryKind, _ a: Float, _ b: Float) -> Float {
        switch kind {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        }
    }

    /// y = a ∘ b with numpy broadcasting to `outShape`.
    static func binary(_ kind: BinaryKind, _ a: UnsafePointer<Float>, _ aShape: [Int], _ b: UnsafePointer<Float>,
                       _ bShape: [Int], _ y: UnsafeMutablePointer<Float>, _ outShape: [Int]) {
        let count = outShape.elementCount
        if aShape == outShape && bShape == outShape {
            switch kind {
            case .add: for i in 0..<count { y[i] = a[i] + b[i] }
            case .sub: for i in 0..<count { y[i] = a[i] - b[i] }
            case .mul: for i in 0..<count { y[i] = a[i] * b[i] }
            case .div: for i in 0..<count { y[i] = a[i] / b[i] }
            }
            return
        }
        let shape = outShape.isEmpty ? [1] : outShape
        let sa = aShape.broadcastStrides(to: shape), sb = bShape.broadcastStrides(to: shape)
        let n = shape[shape.count - 1], la = sa[sa.count - 1], lb = sb[sb.count - 1]
        forEachRow(shape, sa, sb) { o, ia, ib in
            for i in 0..<n { y[o + i] = apply(kind, a[ia + i * la], b[ib + i * lb]) }
        }
    }

    /// dst (overwritten, of `shape`) = sum of `src` (of the broadcast `outShape`) over broadcast axes.
    static func reduce(_ src: UnsafePointer<Float>, _ outShape: [Int], into dst: UnsafeMutablePointer<Float>, _ shape: [Int]) {
        let count = shape.elementCount
        if shape == outShape {
            dst.update(from: src, count: count)
            return
        }
        dst.update(repeating: 0, count: count)
        let full = outShape.isEmpty ? [1] : outShape
        let sd = shape.broadcastStrides(to: full)
        let zeros = [Int](repeating: 0, count: full.count)
        let n = full[full.count - 1], ld = sd[sd.count - 1]
        forEachRow(full, sd, zeros) { o, id, _ in
            if ld == 0 {
                var s: Float = 0
                for i in 0..<n { s += src[o + i] }
                dst[id] += s
            } else {
                for i in 0..<n { dst[id + i * ld] += src[o + i] }
            }
        }
    }
}
