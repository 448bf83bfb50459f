// f32-hardsigmoid and f32-hardswish (MobileNet v3): y = clamp(αx + β, 0, 1) and
// y = x · clamp(x/6 + 1/2, 0, 1), elementwise over feature maps, eight lanes at a time.
import _SpruceSupport

/// y[i] = max(0, min(1, alpha · x[i] + beta)); in place is allowed.
public func f32HardSigmoid(count: Int, alpha: Float, beta: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let a = SIMD8<Float>(repeating: alpha), b = SIMD8<Float>(repeating: beta)
    let zero = SIMD8<Float>.zero, one = SIMD8<Float>(repeating: 1)
    var i = 0
    while i + 8 <= count {
        store8(clamp8(multiplyAdd(b, a, load8(x + i)), zero, one), y + i)
        i += 8
    }
    while i < count {
        y[i] = max(0, min(1, alpha * x[i] + beta))
        i += 1
    }
}

/// y[i] = x[i] · max(0, min(1, x[i]/6 + 1/2)); in place is allowed.
public func f32HardSwish(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let sixth = SIMD8<Float>(repeating: 1 / 6), half = SIMD8<Float>(repeating: 0.5)
    let zero = SIMD8<Float>.zero, one = SIMD8<Float>(repeating: 1)
    var i = 0
    while i + 8 <= count {
        let v = load8(x + i)
        store8(v * clamp8(multiplyAdd(half, v, sixth), zero, one), y + i)
        i += 8
    }
    while i < count {
        y[i] = x[i] * max(0, min(1, x[i] / 6 + 0.5))
        i += 1
    }
}

/// Reference twin of `f32HardSigmoid`, in double precision.
public func f32HardSigmoidReference(count: Int, alpha: Float, beta: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = Float(max(0, min(1, Double(alpha) * Double(x[i]) + Double(beta)))) }
}

/// Reference twin of `f32HardSwish`, in double precision.
public func f32HardSwishReference(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let v = Double(x[i])
        y[i] = Float(v * max(0, min(1, v / 6 + 0.5)))
    }
}
