// Depthwise 2-D convolution (groups == C == M, one kH×kW filter per channel), NCHW float32:
// forward, backward-data and backward-weights, vectorized with SIMD8 along output rows.
// Each input plane is first copied into a zero-padded buffer split by column phase (column
// x goes to phase x mod sW, slot x / sW), so every tap reads a contiguous run even when
// strided. Stride 1 goes further: outputs are computed over whole padded rows as one flat run
// (the padded columns are computed and dropped), so even 3×3 planes fill SIMD8 lanes.
// Not the GEMM path (ConvolutionKernels.swift), not the runtime's kernel.

import SpruceCore

/// Per-plane depthwise kernels; channels are spread over cores, the batch loop is inside.
enum DepthwiseKernels {
    /// Layout of the padded, phase-split plane buffer.
    struct Layout {
        /// Padded rows and columns actually touched by some window.
        var rows: Int, cols: Int
        /// Slots per phase row: ceil(cols / sW).
        var slots: Int
        /// Offset of tap (ki, kj) inside the buffer relative to the output row's base.
        var taps: [Int]

        init(_ g: Window) {
            rows = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1
            cols = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
            slots = (cols + g.sw - 1) / g.sw
            var t: [Int] = []
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let shift = kj * g.dw
                    t.append(((shift % g.sw) * rows + ki * g.dh) * slots + shift / g.sw)
                }
            }
            taps = t
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Copies plane `src` [H, W] into the padded phase-split buffer.
    static func pack(_ src: UnsafePointer<Float>, _ g: Window, _ l: Layout, _ buf: UnsafeMutablePointer<Float>) {
        let bufSize = g.sw * l.rows * l.slots
        buf.update(repeating: 0, count: bufSize)
        let xs = Window.validRange(count: l.cols, stride: 1, offset: -g.padLeft, limit: g.w)
        for y in 0..<l.rows {
            let iy = y - g.padTop
            if iy < 0 || iy >= g.h || xs.isEmpty { continue }
            let s = src + iy * g.w - g.padLeft
            if g.sw == 1 {
                (buf + y * l.slots + xs.lowerBound).update(from: s + xs.lowerBound, count: xs.count)
            } else {
                for x in xs { buf[((x % g.sw) * l.rows + y) * l.slots + x / g.sw] = s[x] }
            }
        }
    }

    /// Adds the padded phase-split gradient buffer back onto plane `dst` [H, W] (overwrites dst).
    static func unpack(_ buf: UnsafePointer<Float>, _ g: Window, _ l: Layout, _ dst: UnsafeMutablePointer<Float>) {
        dst.update(repeating: 0, count: g.h * g.w)
        let xs = Window.validRange(count: l.cols, stride: 1, offset: -g.padLeft, limit: g.w)
        for y in 0..<l.rows {
            let iy = y - g.padTop
            if iy < 0 || iy >= g.h || xs.isEmpty { continue }
            let d = dst + iy * g.w - g.padLeft
            if g.sw == 1 {
                (d + xs.lowerBound).update(from: buf + y * l.slots + xs.lowerBound, count: xs.count)
            } else {
                for x in xs { d[x] = buf[((x % g.sw) * l.rows + y) * l.slots + x / g.sw] }
            }
        }
    }

    /// y[N, C, OH, OW] = depthwise(x, w[C, 1, kH, kW]) + bias.
    static func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        y: UnsafeMutablePointer<Float>, _ g: Window, threads: Int) {
        if g.sh == 1 && g.sw == 1 {
            forwardFlat(x: x, weight: weight, bias: bias, y: y, g, threads: threads)
            return
        }
        let l = Layout(g)
        let taps = l.taps.count, p = g.oh * g.ow
        parallelChunks(g.c, threads: threads) { channels in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: g.sw * l.rows * l.slots)
            defer { buf.deallocate() }
            l.taps.withUnsafeBufferPointer { tapOffsets in
                for ch in channels {
                    let k = weight + ch * taps
                    let beta = bias?[ch] ?? 0
                    for b in 0..<g.n {
                        pack(x + (b * g.c + ch) * g.h * g.w, g, l, buf)
                        let out = y + (b * g.c + ch) * p
                        for oy in 0..<g.oh {
                            let rowBase = buf + oy * g.sh * l.slots
                            let o = out + oy * g.ow
                            var ox = 0
                            while ox + 8 <= g.ow {
                                var acc = SIMD8<Float>(repeating: beta)
                                for t in 0..<taps {
                                    acc += SIMD8<Float>(repeating: k[t]) * load(rowBase + tapOffsets[t] + ox)
                                }
                                store(acc, o + ox)
                                ox += 8
                            }
                            while ox < g.ow {
                                var acc = beta
                                for t in 0..<taps { acc += k[t] * rowBase[tapOffsets[t] + ox] }
                                o[ox] = acc
                                ox += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// Gradients of `forward`; dx, dWeight, dBias (each overwritten) may be nil.
    static func backward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                         dBias: UnsafeMutablePointer<Float>?, _ g: Window, threads: Int) {
        if g.sh == 1 && g.sw == 1 {
            backwardFlat(x: x, weight: weight, dy: dy, dx: dx, dWeight: dWeight, dBias: dBias, g, threads: threads)
            return
        }
        let l = Layout(g)
        let taps = l.taps.count, p = g.oh * g.ow
        let bufSize = g.sw * l.rows * l.slots
        parallelChunks(g.c, threads: threads) { channels in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: bufSize)
            let acc = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: taps)
            let tail = UnsafeMutablePointer<Float>.allocate(capacity: taps)
            defer { buf.deallocate(); acc.deallocate(); tail.deallocate() }
            l.taps.withUnsafeBufferPointer { tapOffsets in
                for ch in channels {
                    let k = weight + ch * taps
                    if let dBias {
                        var sum: Float = 0
                        for b in 0..<g.n {
                            let s = dy + (b * g.c + ch) * p
                            for i in 0..<p { sum += s[i] }
                        }
                        dBias[ch] = sum
                    }
                    if let dWeight {
                        acc.update(repeating: SIMD8<Float>(repeating: 0), count: taps)
                        tail.update(repeating: 0, count: taps)
                        for b in 0..<g.n {
                            pack(x + (b * g.c + ch) * g.h * g.w, g, l, buf)
                            let grad = dy + (b * g.c + ch) * p
                            for oy in 0..<g.oh {
                                let rowBase = buf + oy * g.sh * l.slots
                                let gr = grad + oy * g.ow
                                var ox = 0
                                while ox + 8 <= g.ow {
                                    let gv = load(gr + ox)
                                    for t in 0..<taps { acc[t] += gv * load(rowBase + tapOffsets[t] + ox) }
                                    ox += 8
                                }
                                while ox < g.ow {
                                    for t in 0..<taps { tail[t] += gr[ox] * rowBase[tapOffsets[t] + ox] }
                                    ox += 1
                                }
                            }
                        }
                        for t in 0..<taps { dWeight[ch * taps + t] = acc[t].sum() + tail[t] }
                    }
                    if let dx {
                        for b in 0..<g.n {
                            buf.update(repeating: 0, count: bufSize)
                            let grad = dy + (b * g.c + ch) * p
                            for oy in 0..<g.oh {
                                let rowBase = buf + oy * g.sh * l.slots
                                let gr = grad + oy * g.ow
                                for t in 0..<taps {
                                    let kv = k[t]
                                    let kvv = SIMD8<Float>(repeating: kv)
                                    let d = rowBase + tapOffsets[t]
                                    var ox = 0
                                    while ox + 8 <= g.ow {
                                        store(load(d + ox) + kvv * load(gr + ox), d + ox)
                                        ox += 8
                                    }
                                    while ox < g.ow {
                                        d[ox] += kv * gr[ox]
                                        ox += 1
                                    }
                                }
                            }
                            unpack(buf, g, l, dx + (b * g.c + ch) * g.h * g.w)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Stride 1, flat over padded rows

    /// With stride 1 the padded plane is Hp×Wp (Wp = OW + (kW−1)·dW) and output (oy, ox) reads
    /// buf[(oy + ki·dH)·Wp + ox + kj·dW]. Indexing outputs by q = oy·Wp + ox makes every tap a
    /// constant shift of q, so q runs flat over 0..<OH·Wp; q with ox ≥ OW is scratch. Reads run
    /// at most 7 + (kW−1)·dW past the plane, into zeroed slack.
    static func flatSlack(_ g: Window) -> Int { 16 + (g.kw - 1) * g.dw }

    static func forwardFlat(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            y: UnsafeMutablePointer<Float>, _ g: Window, threads: Int) {
        let l = Layout(g)
        let taps = l.taps.count, p = g.oh * g.ow
        let block = l.rows * l.slots, span = g.oh * l.slots
        let slack = flatSlack(g)
        parallelChunks(g.c, threads: threads) { channels in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: block + slack)
            let row = UnsafeMutablePointer<Float>.allocate(capacity: span + 8)
            defer { buf.deallocate(); row.deallocate() }
            (buf + block).initialize(repeating: 0, count: slack)
            l.taps.withUnsafeBufferPointer { tapOffsets in
                for ch in channels {
                    let k = weight + ch * taps
                    let beta = bias?[ch] ?? 0
                    for b in 0..<g.n {
                        pack(x + (b * g.c + ch) * g.h * g.w, g, l, buf)
                        var q = 0
                        while q < span {
                            var acc = SIMD8<Float>(repeating: beta)
                            for t in 0..<taps {
                                acc += SIMD8<Float>(repeating: k[t]) * load(buf + tapOffsets[t] + q)
                            }
                            store(acc, row + q)
                            q += 8
                        }
                        let out = y + (b * g.c + ch) * p
                        for oy in 0..<g.oh { (out + oy * g.ow).update(from: row + oy * l.slots, count: g.ow) }
                    }
                }
            }
        }
    }

    static func backwardFlat(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                             dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                             dBias: UnsafeMutablePointer<Float>?, _ g: Window, threads: Int) {
        let l = Layout(g)
        let taps = l.taps.count, p = g.oh * g.ow
        let block = l.rows * l.slots, span = g.oh * l.slots
        let slack = flatSlack(g)
        parallelChunks(g.c, threads: threads) { channels in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: block + slack)
            let dbuf = UnsafeMutablePointer<Float>.allocate(capacity: block + slack)
            let grad = UnsafeMutablePointer<Float>.allocate(capacity: span + 8)
            let acc = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: taps)
            defer { buf.deallocate(); dbuf.deallocate(); grad.deallocate(); acc.deallocate() }
            (buf + block).initialize(repeating: 0, count: slack)
            // The scratch columns of the gradient rows stay zero, so they add nothing below.
            grad.initialize(repeating: 0, count: span + 8)
            l.taps.withUnsafeBufferPointer { tapOffsets in
                for ch in channels {
                    let k = weight + ch * taps
                    if let dBias {
                        var sum: Float = 0
                        for b in 0..<g.n { sum += BatchNormKernels.sum(dy + (b * g.c + ch) * p, p) }
                        dBias[ch] = sum
                    }
                    acc.update(repeating: SIMD8<Float>(repeating: 0), count: taps)
                    for b in 0..<g.n {
                        let src = dy + (b * g.c + ch) * p
                        for oy in 0..<g.oh { (grad + oy * l.slots).update(from: src + oy * g.ow, count: g.ow) }
                        if dWeight != nil {
                            pack(x + (b * g.c + ch) * g.h * g.w, g, l, buf)
                            var q = 0
                            while q < span {
                                let gv = load(grad + q)
                                for t in 0..<taps { acc[t] += gv * load(buf + tapOffsets[t] + q) }
                                q += 8
                            }
                        }
                        if let dx {
                            dbuf.update(repeating: 0, count: block + slack)
                            for t in 0..<taps {
                                let kv = SIMD8<Float>(repeating: k[t])
                                let d = dbuf + tapOffsets[t]
                                var q = 0
                                while q < span {
                                    store(load(d + q) + kv * load(grad + q), d + q)
                                    q += 8
                                }
                            }
                            unpack(dbuf, g, l, dx + (b * g.c + ch) * g.h * g.w)
                        }
                    }
                    if let dWeight { for t in 0..<taps { dWeight[ch * taps + t] = acc[t].sum() } }
                }
            }
        }
    }
}
