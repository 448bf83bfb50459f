// f32-gap: global average pooling, y[c] = mean of input plane c (NCHW, batch 1), SIMD sums.
// Not a windowed pool (see f32-avgpool).

import _SpruceSupport

/// Channels in `channels`: output[c] = Σ plane c / plane.
public func f32GAP(channels: Range<Int>, plane: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
    guard plane > 0 else { return }
    let inverse = 1 / Float(plane)
    for c in channels {
        let p = input + c * plane
        var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero
        var j = 0
        while j + 16 <= plane {
            a0 += load8(p + j)
            a1 += load8(p + j + 8)
            j += 16
        }
        var sum = (a0 + a1).sum()
        while j < plane {
            sum += p[j]
            j += 1
        }
        output[c] = sum * inverse
    }
}

/// Reference twin of `f32GAP`.
public func f32GAPReference(channels: Range<Int>, plane: Int, input: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>) {
    for c in channels {
        var sum: Float = 0
        for j in 0..<plane { sum += input[c * plane + j] }
        output[c] = sum / Float(plane)
    }
}
