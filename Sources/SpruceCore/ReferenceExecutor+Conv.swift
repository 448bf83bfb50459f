// Reference 2-D convolution (grouped, depthwise, strided, dilated, asymmetric pads, fused
// activation) and inference-mode batch normalization, NCHW.
// Legend: N batch, C input channels, M output channels, H×W input, OH×OW output, kH×kW kernel.
// Plain direct convolution; not im2col, not tiled, not the runtime's sparse kernels.

extension ReferenceExecutor {
    /// Direct convolution; `geometry` carries the resolved pads and output size.
    static func conv2D(_ x: Tensor, weight w: Tensor, bias: Tensor?, attributes a: ConvAttributes,
                       geometry: WindowGeometry, outputShape: [Int]) -> Tensor {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3]
        let m = w.shape[0], cg = w.shape[1], kh = w.shape[2], kw = w.shape[3]
        let oh = outputShape[2], ow = outputShape[3]
        let sh = a.strides[0], sw = a.strides[1], dh = a.dilations[0], dw = a.dilations[1]
        let padTop = geometry.pads[0], padLeft = geometry.pads[1]
        let mg = m / a.groups
        let plane = oh * ow
        var out = [Float](repeating: 0, count: n * m * plane)
        let biasData = bias?.data ?? [Float](repeating: 0, count: m)
        // Per kernel row / column: the output rows / columns whose input tap lies inside the
        // image (oy*sh - padTop + ki*dh in 0..<h), so the inner loops need no bounds tests.
        let rowRanges = (0..<kh).map { validOutputRange(outSize: oh, inSize: h, stride: sh, offset: $0 * dh - padTop) }
        let colRanges = (0..<kw).map { validOutputRange(outSize: ow, inSize: wd, stride: sw, offset: $0 * dw - padLeft) }
        let rowLo = rowRanges.map(\.lowerBound), rowHi = rowRanges.map(\.upperBound)
        let colLo = colRanges.map(\.lowerBound), colHi = colRanges.map(\.upperBound)
        out.withUnsafeMutableBufferPointer { ob in
            x.data.withUnsafeBufferPointer { xb in
                w.data.withUnsafeBufferPointer { wp in
                    guard let o = ob.baseAddress, let xp = xb.baseAddress else { return }
                    for b in 0..<n {
                        for oc in 0..<m {
                            let group = oc / mg
                            let oBase = (b * m + oc) * plane
                            for i in 0..<plane { o[oBase + i] = biasData[oc] }
                            for ci in 0..<cg {
                                let xBase = (b * c + group * cg + ci) * h * wd
                                for ki in 0..<kh where rowLo[ki] < rowHi[ki] {
                                    let rowOffset = ki * dh - padTop
                                    for kj in 0..<kw where colLo[kj] < colHi[kj] {
                                        let weight = wp[((oc * cg + ci) * kh + ki) * kw + kj]
                                        let (c0, cn) = (colLo[kj], colHi[kj] - colLo[kj])
                                        let first = xp + xBase + c0 * sw + kj * dw - padLeft
                                        if sh == 1 && sw == 1 && ow == wd && cn == ow {
                                            // Whole rows back to back: one contiguous run (the common 1×1 case).
                                            accumulate(weight, first + (rowLo[ki] + rowOffset) * wd, 1,
                                                       o + oBase + rowLo[ki] * ow, (rowHi[ki] - rowLo[ki]) * ow)
                                            continue
                                        }
                                        var oy = rowLo[ki]
                                        while oy < rowHi[ki] {
                                            accumulate(weight, first + (oy * sh + rowOffset) * wd, sw,
                                                       o + oBase + oy * ow + c0, cn)
                                            oy += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        switch a.activation {
        case .none: break
        case .relu: return map(Tensor(shape: outputShape, data: out)) { $0 > 0 ? $0 : 0 }
        case .clip(let lo, let hi): return map(Tensor(shape: outputShape, data: out)) { min(max($0, lo), hi) }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// dst[i] += weight * src[i * stride] for i in 0..<count.
    @inline(__always)
    static func accumulate(_ weight: Float, _ src: UnsafePointer<Float>, _ stride: Int,
                           _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0, j = 0
        while i < count {
            dst[i] += weight * src[j]
            i += 1
            j += stride
        }
    }

    /// y = (x - mean) / sqrt(var + eps) * scale + B, per channel (axis 1); a nil scale is 1.
    static func batchNormalization(_ x: Tensor, scale: Tensor?, bias: Tensor, mean: Tensor, variance: Tensor,
                                   epsilon: Float) -> Tensor {
        let n = x.shape[0], c = x.shape[1]
        let spatial = Array(x.shape.dropFirst(2)).elementCount
        var out = x.data
        out.withUnsafeMutableBufferPointer { o in
            for b in 0..<n {
                for ch in 0..<c {
                    let inv = 1 / (variance.data[ch] + epsilon).squareRoot()
                    let gamma = scale?.data[ch] ?? 1
                    let base = (b * c + ch) * spatial
                    for i in 0..<spatial {
                        o[base + i] = (o[base + i] - mean.data[ch]) * inv * gamma + bias.data[ch]
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }
}
