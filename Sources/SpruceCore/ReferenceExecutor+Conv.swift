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
        out.withUnsafeMutableBufferPointer { o in
            x.data.withUnsafeBufferPointer { xp in
                w.data.withUnsafeBufferPointer { wp in
                    for b in 0..<n {
                        for oc in 0..<m {
                            let group = oc / mg
                            let oBase = (b * m + oc) * plane
                            for i in 0..<plane { o[oBase + i] = biasData[oc] }
                            for ci in 0..<cg {
                                let xBase = (b * c + group * cg + ci) * h * wd
                                for ki in 0..<kh {
                                    // Output rows whose input row (oy*sh - padTop + ki*dh) lies inside the image.
                                    let rowOffset = ki * dh - padTop
                                    let rows = validRange(count: oh, stride: sh, offset: rowOffset, limit: h)
                                    for kj in 0..<kw {
                                        let weight = wp[((oc * cg + ci) * kh + ki) * kw + kj]
                                        let colOffset = kj * dw - padLeft
                                        let cols = validRange(count: ow, stride: sw, offset: colOffset, limit: wd)
                                        if cols.isEmpty { continue }
                                        for oy in rows {
                                            let xRow = xBase + (oy * sh + rowOffset) * wd
                                            let oRow = oBase + oy * ow
                                            var ix = cols.lowerBound * sw + colOffset
                                            for ox in cols {
                                                o[oRow + ox] += weight * xp[xRow + ix]
                                                ix += sw
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
            case .relu:
                for i in 0..<o.count where !(o[i] > 0) { o[i] = 0 }
            case .clip(let lo, let hi):
                for i in 0..<o.count { o[i] = min(max(o[i], lo), hi) }
            }
        }
        return Tensor(shape: outputShape, data: out)
    }

    /// Output positions `p` in 0..<count with `p * stride + offset` in 0..<limit.
    static func validRange(count: Int, stride: Int, offset: Int, limit: Int) -> Range<Int> {
        let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = limit - 1 - offset
        let hi = last < 0 ? 0 : min(count, last / stride + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// y = (x - mean) / sqrt(var + eps) * scale + B, per channel (axis 1).
    static func batchNormalization(_ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
                                   epsilon: Float) -> Tensor {
        let n = x.shape[0], c = x.shape[1]
        let spatial = Array(x.shape.dropFirst(2)).elementCount
        var out = x.data
        out.withUnsafeMutableBufferPointer { o in
            for b in 0..<n {
                for ch in 0..<c {
                    let inv = 1 / (variance.data[ch] + epsilon).squareRoot()
                    let base = (b * c + ch) * spatial
                    for i in 0..<spatial {
                        o[base + i] = (o[base + i] - mean.data[ch]) * inv * scale.data[ch] + bias.data[ch]
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }
}
