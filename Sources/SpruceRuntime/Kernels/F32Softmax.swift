// f32-softmax: ONNX Softmax (opset 13) over one axis of a tensor seen as [outer, axis, inner]:
// y = exp(x - max) / Σ exp(x - max) along the axis. Scalar; used on classifier outputs.
import _SpruceSupport

/// Softmax along the middle axis of [outer × axis × inner] (inner = 1 for the last axis).
public func f32Softmax(outer: Int, axis: Int, inner: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    guard axis > 0 else { return }
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * axis * inner + i
            var top = -Float.infinity
            for a in 0..<axis { top = max(top, x[base + a * inner]) }
            var sum: Float = 0
            for a in 0..<axis {
                let e = expf(x[base + a * inner] - top)
                y[base + a * inner] = e
                sum += e
            }
            let inverse = 1 / sum
            for a in 0..<axis { y[base + a * inner] *= inverse }
        }
    }
}

/// Reference twin of `f32Softmax`: the definition in double precision.
public func f32SoftmaxReference(outer: Int, axis: Int, inner: Int, x: UnsafePointer<Float>,
                                y: UnsafeMutablePointer<Float>) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * axis * inner + i
            var top = -Double.infinity
            for a in 0..<axis { top = max(top, Double(x[base + a * inner])) }
            var sum = 0.0
            for a in 0..<axis { sum += exp(Double(x[base + a * inner]) - top) }
            for a in 0..<axis { y[base + a * inner] = Float(exp(Double(x[base + a * inner]) - top) / sum) }
        }
    }
}
