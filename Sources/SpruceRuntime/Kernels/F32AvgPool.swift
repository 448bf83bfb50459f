// f32-avgpool: 2-D average pooling (kernel, strides, pads), NCHW, batch 1, with both ONNX
// divisor rules: count_include_pad = 1 divides by the whole window (kH·kW, as onnxruntime 1.18
// does even where a ceil-mode window runs past the trailing pad), = 0 by the taps in the input.
// The caller passes the output size (ceil mode). Dilations are ignored (AveragePool has none).

import _SpruceSupport

/// Channels in `channels` of average pooling.
public func f32AvgPool(_ g: PoolGeometry, countIncludePad: Bool, input: UnsafePointer<Float>,
                       output: UnsafeMutablePointer<Float>, channels: Range<Int>) {
    // Stride 1 (Inception's branch pools): eight outputs at a time where the window's columns lie
    // inside the row, each lane summing in the scalar loop's order (rows, then columns), so the
    // results are the same bits; the last block moved back to end at the last such output.
    let kw = g.kernelWidth
    var blocks: [Int] = []
    if g.strideWidth == 1 {
        let first = g.padLeft, last = min(g.outWidth, g.inWidth - kw + g.padLeft + 1) - 8  // block starts
        if last >= first {
            blocks = Array(stride(from: first, to: last, by: 8)) + [last]
        }
    }
    let simd = blocks.isEmpty ? 0..<0 : blocks[0]..<(blocks[blocks.count - 1] + 8)
    for c in channels.clamped(to: 0..<g.channels) {
        let plane = input + c * g.inHeight * g.inWidth
        let out = output + c * g.outHeight * g.outWidth
        for oy in 0..<g.outHeight {
            let y0 = oy * g.strideHeight - g.padTop
            let yLo = max(y0, 0), yHi = min(y0 + g.kernelHeight, g.inHeight)
            if yLo < yHi {
                let count = countIncludePad ? g.kernelHeight * kw : (yHi - yLo) * kw
                let scale = SIMD8<Float>(repeating: Float(count))
                for ox in blocks {
                    var sum = SIMD8<Float>.zero
                    for iy in yLo..<yHi {
                        let row = plane + iy * g.inWidth + ox - g.padLeft
                        for kx in 0..<kw { sum += load8(row + kx) }
                    }
                    store8(sum / scale, out + oy * g.outWidth + ox)
                }
            }
            for ox in 0..<g.outWidth where yLo >= yHi || !simd.contains(ox) {
                let x0 = ox * g.strideWidth - g.padLeft
                let xLo = max(x0, 0), xHi = min(x0 + g.kernelWidth, g.inWidth)
                var sum: Float = 0
                if yLo < yHi && xLo < xHi {
                    for iy in yLo..<yHi {
                        let row = plane + iy * g.inWidth
                        for ix in xLo..<xHi { sum += row[ix] }
                    }
                }
                let count = countIncludePad
                    ? g.kernelHeight * g.kernelWidth
                    : max(0, yHi - yLo) * max(0, xHi - xLo)
                out[oy * g.outWidth + ox] = count > 0 ? sum / Float(count) : 0
            }
        }
    }
}

/// Reference twin of `f32AvgPool`: every window tap tested against the input and the pads.
public func f32AvgPoolReference(_ g: PoolGeometry, countIncludePad: Bool, input: UnsafePointer<Float>,
                                output: UnsafeMutablePointer<Float>, channels: Range<Int>) {
    for c in channels.clamped(to: 0..<g.channels) {
        for oy in 0..<g.outHeight {
            for ox in 0..<g.outWidth {
                var sum: Float = 0
                var inside = 0, window = 0
                for ky in 0..<g.kernelHeight {
                    for kx in 0..<g.kernelWidth {
                        let iy = oy * g.strideHeight - g.padTop + ky
                        let ix = ox * g.strideWidth - g.padLeft + kx
                        window += 1
                        if iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth { continue }
                        sum += input[(c * g.inHeight + iy) * g.inWidth + ix]
                        inside += 1
                    }
                }
                let count = countIncludePad ? window : inside
                output[(c * g.outHeight + oy) * g.outWidth + ox] = count > 0 ? sum / Float(count) : 0
            }
        }
    }
}
