// f32-clip and f32-relu: elementwise clamp, y = min(max(x, lower), upper); ReLU is [0, +inf).
// Used when an activation could not be fused into its producer. In place is allowed.

import _SpruceSupport

/// y[i] = min(max(x[i], lower), upper).
public func f32Clip(count: Int, x: UnsafePointer<Float>, bounds: ActivationBounds, y: UnsafeMutablePointer<Float>) {
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    var i = 0
    while i + 8 <= count {
        store8(clamp8(load8(x + i), lo, hi), y + i)
        i += 8
    }
    while i < count {
        y[i] = bounds.apply(x[i])
        i += 1
    }
}

/// y[i] = max(x[i], 0).
public func f32ReLU(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    f32Clip(count: count, x: x, bounds: ActivationBounds(lower: 0, upper: .infinity), y: y)
}

/// Reference twin of `f32Clip`.
public func f32ClipReference(count: Int, x: UnsafePointer<Float>, bounds: ActivationBounds,
                             y: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        var v = x[i]
        if v < bounds.lower { v = bounds.lower }
        if v > bounds.upper { v = bounds.upper }
        y[i] = v
    }
}
