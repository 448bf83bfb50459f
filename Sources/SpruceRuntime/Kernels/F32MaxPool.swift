// f32-maxpool: 2-D max pooling (kernel, strides, pads, dilations), NCHW, batch 1. The caller
// passes the output size, so ceil mode is resolved before the call. Windows are clipped to the
// input (padding never wins the max, as in ONNX). Not a global pool (see f32-gap).

import SpruceCore
import _SpruceSupport

/// Channels in `channels` of max pooling: the window's valid taps are found by range arithmetic.
public func f32MaxPool(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                       channels: Range<Int>) {
    // Eight outputs at a time where the whole row of the window lies inside the input (stride 1
    // or 2, no dilation): contiguous or every-other-float loads, no range math. The blocks are the
    // same on every row: from the first output whose window starts inside the row, eight apart,
    // the last moved back to end at the last output that fits (max is idempotent, so the overlap
    // is harmless), so only the edge columns are left to the scalar loop.
    let sw = g.strideWidth, kw = g.kernelWidth
    var blocks: [Int] = []
    if g.dilationWidth == 1 && (sw == 1 || sw == 2) {
        let start = (g.padLeft + sw - 1) / sw
        // The block at `ox` reads inside the row (the last SIMD16 load of a stride-2 block too).
        func fits(_ ox: Int) -> Bool {
            ox + 8 <= g.outWidth && (ox + 7) * sw - g.padLeft + kw <= g.inWidth
                && (sw == 1 || ox * sw - g.padLeft + kw - 1 + 16 <= g.inWidth)
        }
        var ox = start
        while fits(ox) {
            blocks.append(ox)
            ox += 8
        }
        if !blocks.isEmpty {
            var last = min(g.outWidth - 8, ox - 1)
            while last > ox - 8 && !fits(last) { last -= 1 }
            if last > ox - 8 { blocks.append(last) }
        }
    }
    let simd = blocks.isEmpty ? 0..<0 : blocks[0]..<(blocks[blocks.count - 1] + 8)
    for c in channels.clamped(to: 0..<g.channels) {
        let plane = input + c * g.inHeight * g.inWidth
        let out = output + c * g.outHeight * g.outWidth
        for oy in 0..<g.outHeight {
            let y0 = oy * g.strideHeight - g.padTop
            let kyRange = validOutputRange(outSize: g.kernelHeight, inSize: g.inHeight, stride: g.dilationHeight, offset: y0)
            for ox in blocks {
                let x0 = ox * sw - g.padLeft
                // Stride 2: the max runs over 16-float loads and the even lanes are taken once (max
                // commutes with the lane selection). `max8` instead of the stdlib's generic
                // `pointwiseMax`, which is not inlined and runs lane by lane.
                if sw == 1 {
                    var best = SIMD8<Float>(repeating: -.infinity)
                    for ky in kyRange {
                        let row = plane + (y0 + ky * g.dilationHeight) * g.inWidth + x0
                        for kx in 0..<kw { best = max8(best, load8(row + kx)) }
                    }
                    store8(best, out + oy * g.outWidth + ox)
                } else {
                    var best = SIMD16<Float>(repeating: -.infinity)
                    for ky in kyRange {
                        let row = plane + (y0 + ky * g.dilationHeight) * g.inWidth + x0
                        for kx in 0..<kw {
                            let v = UnsafeRawPointer(row + kx).loadUnaligned(as: SIMD16<Float>.self)
                            best = best.replacing(with: v, where: best .< v)
                        }
                    }
                    store8(best.evenHalf, out + oy * g.outWidth + ox)
                }
            }
            // Only the columns the vector blocks left (a row's edges), so interior columns cost no
            // per-column check.
            @inline(__always) func scalar(_ ox: Int) {
                let x0 = ox * g.strideWidth - g.padLeft
                let kxRange = validOutputRange(outSize: g.kernelWidth, inSize: g.inWidth, stride: g.dilationWidth, offset: x0)
                var best = -Float.infinity
                for ky in kyRange {
                    let row = plane + (y0 + ky * g.dilationHeight) * g.inWidth + x0
                    for kx in kxRange { best = max(best, row[kx * g.dilationWidth]) }
                }
                out[oy * g.outWidth + ox] = best
            }
            for ox in 0..<simd.lowerBound { scalar(ox) }
            for ox in simd.upperBound..<g.outWidth { scalar(ox) }
        }
    }
}

/// Reference twin of `f32MaxPool`: every window tap, skipped when it falls in the padding.
public func f32MaxPoolReference(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                channels: Range<Int>) {
    for c in channels.clamped(to: 0..<g.channels) {
        for oy in 0..<g.outHeight {
            for ox in 0..<g.outWidth {
                var best = -Float.infinity
                for ky in 0..<g.kernelHeight {
                    for kx in 0..<g.kernelWidth {
                        let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                        let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                        if iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth { continue }
                        best = max(best, input[(c * g.inHeight + iy) * g.inWidth + ix])
                    }
                }
                output[(c * g.outHeight + oy) * g.outWidth + ox] = best
            }
        }
    }
}
