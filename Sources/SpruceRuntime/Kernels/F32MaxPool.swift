// f32-maxpool: 2-D max pooling (kernel, strides, pads, dilations), NCHW, batch 1. The caller
// passes the output size, so ceil mode is resolved before the call. Windows are clipped to the
// input (padding never wins the max, as in ONNX). Not a global pool (see f32-gap).

import SpruceCore
import _SpruceSupport

/// Channels in `channels` of max pooling: the window's valid taps are found by range arithmetic.
public func f32MaxPool(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                       channels: Range<Int>) {
    if g.strideHeight == 1 && g.strideWidth == 1 && g.dilationHeight == 1 && g.dilationWidth == 1
        && g.outHeight == g.inHeight && g.outWidth == g.inWidth && g.padTop < g.kernelHeight && g.padLeft < g.kernelWidth {
        maxPoolSameStride1(g, input: input, output: output, channels: channels)
        return
    }
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

/// Stride-1 max pooling whose output is the input's size (GoogLeNet's and Inception's 3×3 branch
/// pools, on maps down to 7×7 where a row fills no vector), as two separable passes over each
/// plane taken as one flat array: a row max (k_w taps at flat offsets; the few columns whose
/// window would wrap into the next row redone with their valid taps), then a column max (taps a
/// row apart, all valid on the interior rows, fewer on the pad rows). Max is exact, so the
/// result equals the windowed max bit for bit.
func maxPoolSameStride1(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                        channels: Range<Int>) {
    let h = g.inHeight, w = g.inWidth, n = h * w
    let kh = g.kernelHeight, kw = g.kernelWidth, pt = g.padTop, pl = g.padLeft
    /// dst[i] = max over t < count of src[i + first + t·step] for i in range (every read inside src).
    @inline(__always) func flatMax(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                                   first: Int, count: Int, step: Int) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            var best = load8(src + i + first)
            for t in 1..<max(count, 1) { best = max8(best, load8(src + i + first + t * step)) }
            store8(best, dst + i)
            i += 8
        }
        while i < range.upperBound {
            var best = src[i + first]
            for t in 1..<max(count, 1) { best = max(best, src[i + first + t * step]) }
            dst[i] = best
            i += 1
        }
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(n, 1)) { buffer in
        let rowMax = buffer.baseAddress!
        for c in channels.clamped(to: 0..<g.channels) {
            let plane = input + c * n, out = output + c * n
            // Row max: flat over the positions whose whole window lies in the plane, then every
            // column whose window leaves its row, with its valid taps.
            let lo = pl, hi = n - (kw - 1 - pl)
            if hi > lo { flatMax(plane, rowMax, lo..<hi, first: -pl, count: kw, step: 1) }
            func edge(_ y: Int, _ x: Int) {
                var best = -Float.infinity
                for kx in max(0, pl - x)..<min(kw, w - x + pl) { best = max(best, plane[y * w + x - pl + kx]) }
                rowMax[y * w + x] = best
            }
            let left = min(pl, w), right = max(left, w - (kw - 1 - pl))
            for y in 0..<h {
                for x in 0..<left { edge(y, x) }
                for x in right..<w { edge(y, x) }
            }
            // Column max: interior rows with all kh taps in one flat run, pad rows with the taps
            // that fall inside.
            let top = min(pt, h), bottom = max(top, h - (kh - 1 - pt))
            if bottom > top { flatMax(rowMax, out, (top * w)..<(bottom * w), first: -pt * w, count: kh, step: w) }
            for y in 0..<h where y < top || y >= bottom {
                let first = max(0, pt - y), last = min(kh, h - y + pt)
                flatMax(rowMax, out, (y * w)..<((y + 1) * w), first: (first - pt) * w, count: last - first, step: w)
            }
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
