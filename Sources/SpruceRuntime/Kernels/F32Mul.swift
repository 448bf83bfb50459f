// f32-mul: elementwise product, same shape (Swish's x · σ(x)) and per-channel broadcast (a
// squeeze-and-excitation block scaling each channel of a [C × plane] tensor). Batch 1.

import _SpruceSupport

/// y[i] = a[i] · b[i] for i in 0..<count (y may alias a or b).
public func f32Mul(count: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        store8(load8(a + i) * load8(b + i), y + i)
        i += 8
    }
    while i < count {
        y[i] = a[i] * b[i]
        i += 1
    }
}

/// y[c, j] = a[c, j] · b[c] for channels in `channels`, j in 0..<plane.
public func f32MulChannelBroadcast(channels: Range<Int>, plane: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                   y: UnsafeMutablePointer<Float>) {
    for c in channels {
        let pa = a + c * plane, py = y + c * plane
        let v = SIMD8<Float>(repeating: b[c])
        var j = 0
        while j + 8 <= plane {
            store8(load8(pa + j) * v, py + j)
            j += 8
        }
        while j < plane {
            py[j] = pa[j] * b[c]
            j += 1
        }
    }
}

/// Reference twin of `f32Mul`.
public func f32MulReference(count: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = a[i] * b[i] }
}

/// Reference twin of `f32MulChannelBroadcast`.
public func f32MulChannelBroadcastReference(channels: Range<Int>, plane: Int, a: UnsafePointer<Float>,
                                            b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for c in channels {
        for j in 0..<plane { y[c * plane + j] = a[c * plane + j] * b[c] }
    }
}
