// f32-add: elementwise addition with an optional fused clamp: same shape (residual joins) and
// per-channel broadcast (b has one value per channel of a [C × plane] tensor). Batch 1.
// Not general numpy broadcasting; the plan lowers other shapes or falls back.

import _SpruceSupport

/// y[i] = clamp(a[i] + b[i]) for i in 0..<count (y may alias a or b).
public func f32Add(count: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bounds: ActivationBounds,
                   y: UnsafeMutablePointer<Float>) {
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    var i = 0
    while i + 8 <= count {
        store8(clamp8(load8(a + i) + load8(b + i), lo, hi), y + i)
        i += 8
    }
    while i < count {
        y[i] = bounds.apply(a[i] + b[i])
        i += 1
    }
}

/// y[c, j] = clamp(a[c, j] + b[c]) for channels in `channels`, j in 0..<plane.
public func f32AddChannelBroadcast(channels: Range<Int>, plane: Int, a: UnsafePointer<Float>,
                                   b: UnsafePointer<Float>, bounds: ActivationBounds, y: UnsafeMutablePointer<Float>) {
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    for c in channels {
        let pa = a + c * plane, py = y + c * plane
        let v = SIMD8<Float>(repeating: b[c])
        var j = 0
        while j + 8 <= plane {
            store8(clamp8(load8(pa + j) + v, lo, hi), py + j)
            j += 8
        }
        while j < plane {
            py[j] = bounds.apply(pa[j] + b[c])
            j += 1
        }
    }
}

/// Reference twin of `f32Add`.
public func f32AddReference(count: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bounds: ActivationBounds,
                            y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = bounds.apply(a[i] + b[i]) }
}

/// Reference twin of `f32AddChannelBroadcast`.
public func f32AddChannelBroadcastReference(channels: Range<Int>, plane: Int, a: UnsafePointer<Float>,
                                            b: UnsafePointer<Float>, bounds: ActivationBounds,
                                            y: UnsafeMutablePointer<Float>) {
    for c in channels {
        for j in 0..<plane { y[c * plane + j] = bounds.apply(a[c * plane + j] + b[c]) }
    }
}
