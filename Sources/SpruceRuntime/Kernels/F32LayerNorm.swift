// f32-layernorm: LayerNormalization over rows of `width` contiguous values (the trailing axes,
// e.g. the channels of ConvNeXt's NHWC-permuted maps): per row the mean, then the variance from
// the squared deviations (two passes, so no cancellation), then (x − mean)/σ · scale + bias.
// Eight lanes at a time. Not fused with the Transpose around it.
import _SpruceSupport

/// Rows `rows` of [R × width]: y = (x − mean) / √(variance + epsilon) · scale + bias, with the
/// population variance of each row; in place is allowed.
public func f32LayerNorm(rows: Range<Int>, width: Int, epsilon: Float, scale: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    guard width > 0 else { return }
    let inverseWidth = 1 / Float(width)
    for r in rows {
        let px = x + r * width, py = y + r * width
        var lanes = SIMD8<Float>.zero
        var j = 0
        while j + 8 <= width {
            lanes += load8(px + j)
            j += 8
        }
        var sum = lanes.sum()
        while j < width {
            sum += px[j]
            j += 1
        }
        let mean = sum * inverseWidth
        let vm = SIMD8<Float>(repeating: mean)
        lanes = .zero
        j = 0
        while j + 8 <= width {
            let d = load8(px + j) - vm
            lanes = multiplyAdd(lanes, d, d)
            j += 8
        }
        var squares = lanes.sum()
        while j < width {
            let d = px[j] - mean
            squares += d * d
            j += 1
        }
        let inv = 1 / (squares * inverseWidth + epsilon).squareRoot()
        let vi = SIMD8<Float>(repeating: inv)
        j = 0
        while j + 8 <= width {
            store8(multiplyAdd(load8(bias + j), (load8(px + j) - vm) * vi, load8(scale + j)), py + j)
            j += 8
        }
        while j < width {
            py[j] = (px[j] - mean) * inv * scale[j] + bias[j]
            j += 1
        }
    }
}

/// Reference twin of `f32LayerNorm`: the definition in double precision.
public func f32LayerNormReference(rows: Range<Int>, width: Int, epsilon: Float, scale: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    guard width > 0 else { return }
    for r in rows {
        let px = x + r * width, py = y + r * width
        var sum = 0.0
        for j in 0..<width { sum += Double(px[j]) }
        let mean = sum / Double(width)
        var squares = 0.0
        for j in 0..<width { squares += (Double(px[j]) - mean) * (Double(px[j]) - mean) }
        let inv = 1 / (squares / Double(width) + Double(epsilon)).squareRoot()
        for j in 0..<width { py[j] = Float((Double(px[j]) - mean) * inv * Double(scale[j]) + Double(bias[j])) }
    }
}
