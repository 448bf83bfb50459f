// f32-sigmoid: y = 1 / (1 + exp(-x)), elementwise, computed so neither branch overflows.
// Scalar over libm expf: it runs on the classifier's few outputs, not on feature maps.
import _SpruceSupport

/// y[i] = σ(x[i]); in place is allowed.
public func f32Sigmoid(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let v = x[i]
        if v >= 0 {
            y[i] = 1 / (1 + expf(-v))
        } else {
            let e = expf(v)
            y[i] = e / (1 + e)
        }
    }
}

/// Reference twin of `f32Sigmoid`: the textbook formula in double precision.
public func f32SigmoidReference(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = Float(1 / (1 + exp(-Double(x[i])))) }
}
