// Depthwise 2-D convolution (groups == C == M, one kH×kW filter per channel), NCHW float32:
// forward, backward-data and backward-weights, vectorized with SIMD8. Each plane is first
// copied into a zero-padded buffer split by row and column phase (padded cell (y, x) goes to
// phase (y mod sH, x mod sW), row y / sH, slot x / sW). In that layout output (oy, ox) reads
// tap (ki, kj) at a constant offset plus oy·slots + ox for every stride, so outputs are
// computed over whole buffer rows as one flat run q = oy·slots + ox (q with ox ≥ OW is scratch,
// dropped): even 3×3 planes fill SIMD8 lanes. 3×3 filters get unrolled loops with the nine
// weights or partial sums in registers. Not the GEMM path (ConvolutionKernels.swift), not the
// runtime's kernel.

import SpruceCore
import _SpruceSupport

/// Per-plane depthwise kernels; channels are spread over cores, the batch loop is inside.
enum DepthwiseKernels {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { load8(p) }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { store8(v, p) }

    /// Layout of the padded, phase-split plane buffer of one window geometry.
    struct Layout {
        var sh: Int, sw: Int
        /// Padded rows and columns some window touches.
        var rows: Int, cols: Int
        /// Rows per row phase (ceil(rows / sH)) and slots per column phase (ceil(cols / sW)).
        var rowSlots: Int, slots: Int
        /// Floats per phase block: rowSlots · slots.
        var block: Int
        /// Offset of tap (ki, kj) (index ki·kW + kj) relative to flat output position q.
        var taps: [Int]
        /// Flat outputs computed per plane: OH · slots rounded up to SIMD8.
        var span: Int
        /// Floats in a plane buffer: every phase block, plus slack for the scratch outputs'
        /// reads and writes past the last block (kept zero).
        var size: Int
        var padTop: Int, padLeft: Int, h: Int, w: Int

        init(_ g: Window) {
            sh = g.sh; sw = g.sw
            rows = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1
            cols = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
            rowSlots = (rows + g.sh - 1) / g.sh
            slots = (cols + g.sw - 1) / g.sw
            block = rowSlots * slots
            var t: [Int] = []
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let dy = ki * g.dh, dx = kj * g.dw
                    t.append(((dy % g.sh) * g.sw + dx % g.sw) * block + (dy / g.sh) * slots + dx / g.sw)
                }
            }
            taps = t
            span = (g.oh * slots + 7) / 8 * 8
            size = max(g.sh * g.sw * block, (t.max() ?? 0) + span) + 8
            padTop = g.padTop; padLeft = g.padLeft; h = g.h; w = g.w
            // Rows and columns up to the physical end of the phase blocks may hold input: cells
            // past `rows` / `cols` are read only by scratch outputs, so any finite value does.
            let (sh, sw, rowSlots, slots, block) = (sh, sw, rowSlots, slots, block)
            rowBase = (0..<g.h).map { iy in
                let y = iy + g.padTop
                return y < rowSlots * sh ? (y % sh) * sw * block + (y / sh) * slots : -1
            }
            stored = max(0, min(g.w, slots * sw - g.padLeft))
        }

        /// Buffer offset of slot 0, phase 0 of each input row's phase row; −1 for rows no window reads.
        var rowBase: [Int]
        /// Input columns stored per row: those whose padded column lies inside the slots.
        var stored: Int

        /// Copies plane `src` [H, W] into `buf`. Only cells holding input are written: the
        /// padding cells keep the zeros the buffer was created with.
        func pack(_ src: UnsafePointer<Float>, _ buf: UnsafeMutablePointer<Float>) {
            rowBase.withUnsafeBufferPointer { rows in
                for iy in 0..<h where rows[iy] >= 0 {
                    let s = src + iy * w, d = buf + rows[iy]
                    switch sw {
                    case 1: copyFloats(d + padLeft, s, stored)
                    case 2:
                        // Even input columns go to one column phase, odd ones to the other.
                        let a = d + (padLeft & 1) * block + padLeft / 2
                        let b = d + ((padLeft + 1) & 1) * block + (padLeft + 1) / 2
                        let pairs = stored / 2
                        var i = 0
                        while i + 8 <= pairs {
                            let v = UnsafeRawPointer(s + 2 * i).loadUnaligned(as: SIMD16<Float>.self)
                            store8(v.evenHalf, a + i)
                            store8(v.oddHalf, b + i)
                            i += 8
                        }
                        while i < pairs { a[i] = s[2 * i]; b[i] = s[2 * i + 1]; i += 1 }
                        if stored & 1 == 1 { a[pairs] = s[stored - 1] }
                    default:
                        for ix in 0..<stored {
                            let x = ix + padLeft
                            d[(x % sw) * block + x / sw] = s[ix]
                        }
                    }
                }
            }
        }

        /// Writes plane `dst` [H, W] from the cells of `buf` that hold input (0 where no window reads).
        func unpack(_ buf: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
            rowBase.withUnsafeBufferPointer { rows in
                for iy in 0..<h {
                    let d = dst + iy * w
                    guard rows[iy] >= 0 else {
                        d.update(repeating: 0, count: w)
                        continue
                    }
                    let s = buf + rows[iy]
                    switch sw {
                    case 1: copyFloats(d, s + padLeft, stored)
                    case 2:
                        let a = s + (padLeft & 1) * block + padLeft / 2
                        let b = s + ((padLeft + 1) & 1) * block + (padLeft + 1) / 2
                        let pairs = stored / 2
                        var i = 0
                        while i + 8 <= pairs {
                            var v = SIMD16<Float>()
                            v.evenHalf = load8(a + i)
                            v.oddHalf = load8(b + i)
                            UnsafeMutableRawPointer(d + 2 * i).storeBytes(of: v, as: SIMD16<Float>.self)
                            i += 8
                        }
                        while i < pairs { d[2 * i] = a[i]; d[2 * i + 1] = b[i]; i += 1 }
                        if stored & 1 == 1 { d[stored - 1] = a[pairs] }
                    default:
                        for ix in 0..<stored {
                            let x = ix + padLeft
                            d[ix] = s[(x % sw) * block + x / sw]
                        }
                    }
                    for ix in stored..<max(stored, w) { d[ix] = 0 }
                }
            }
        }

        /// Copies the flat rows of `row` (stride `slots`) into the dense plane `out` [OH, OW].
        func unflatten(_ row: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, oh: Int, ow: Int) {
            for oy in 0..<oh { copyFloats(out + oy * ow, row + oy * slots, ow) }
        }

        /// Copies the dense plane `src` [OH, OW] into flat rows of stride `slots` (scratch untouched).
        func flatten(_ src: UnsafePointer<Float>, _ row: UnsafeMutablePointer<Float>, oh: Int, ow: Int) {
            for oy in 0..<oh { copyFloats(row + oy * slots, src + oy * ow, ow) }
        }
    }

    // MARK: - Flat cores

    /// out[q] = bias + Σ_t k[t]·buf[taps[t] + q] for q in 0..<span (a multiple of 8). Plain
    /// loops over q (no reduction across q): the release build vectorizes them, and debug
    /// builds avoid generic SIMD calls.
    @inline(__always)
    static func convolveFlat(_ buf: UnsafePointer<Float>, _ taps: UnsafeBufferPointer<Int>, _ k: UnsafePointer<Float>,
                             bias: Float, span: Int, _ out: UnsafeMutablePointer<Float>) {
        if taps.count == 9 {
            let k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7], k8 = k[8]
            let p0 = buf + taps[0], p1 = buf + taps[1], p2 = buf + taps[2], p3 = buf + taps[3], p4 = buf + taps[4]
            let p5 = buf + taps[5], p6 = buf + taps[6], p7 = buf + taps[7], p8 = buf + taps[8]
            for q in 0..<span {
                // Two partial sums halve the dependency chain of nine multiply-adds.
                let a = bias + k0 * p0[q] + k2 * p2[q] + k4 * p4[q] + k6 * p6[q] + k8 * p8[q]
                let c = k1 * p1[q] + k3 * p3[q] + k5 * p5[q] + k7 * p7[q]
                out[q] = a + c
            }
            return
        }
        for q in 0..<span { out[q] = bias }
        for t in 0..<taps.count {
            let kt = k[t], p = buf + taps[t]
            for q in 0..<span { out[q] += kt * p[q] }
        }
    }

    /// acc[t] += grad[q]·buf[taps[t] + q] over q in 0..<span, lane-wise.
    @inline(__always)
    static func correlateFlat(_ grad: UnsafePointer<Float>, _ buf: UnsafePointer<Float>, _ taps: UnsafeBufferPointer<Int>,
                              span: Int, _ acc: UnsafeMutablePointer<SIMD8<Float>>) {
        if taps.count == 9 {
            let p0 = buf + taps[0], p1 = buf + taps[1], p2 = buf + taps[2], p3 = buf + taps[3], p4 = buf + taps[4]
            let p5 = buf + taps[5], p6 = buf + taps[6], p7 = buf + taps[7], p8 = buf + taps[8]
            var a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4]
            var a5 = acc[5], a6 = acc[6], a7 = acc[7], a8 = acc[8]
            var q = 0
            while q < span {
                let gv = load8(grad + q)
                a0 = multiplyAdd(a0, gv, load8(p0 + q)); a1 = multiplyAdd(a1, gv, load8(p1 + q))
                a2 = multiplyAdd(a2, gv, load8(p2 + q)); a3 = multiplyAdd(a3, gv, load8(p3 + q))
                a4 = multiplyAdd(a4, gv, load8(p4 + q)); a5 = multiplyAdd(a5, gv, load8(p5 + q))
                a6 = multiplyAdd(a6, gv, load8(p6 + q)); a7 = multiplyAdd(a7, gv, load8(p7 + q))
                a8 = multiplyAdd(a8, gv, load8(p8 + q))
                q += 8
            }
            acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4
            acc[5] = a5; acc[6] = a6; acc[7] = a7; acc[8] = a8
            return
        }
        for t in 0..<taps.count {
            let p = buf + taps[t]
            var a = acc[t]
            var q = 0
            while q < span {
                a = multiplyAdd(a, load8(grad + q), load8(p + q))
                q += 8
            }
            acc[t] = a
        }
    }

    /// dbuf[taps[t] + q] += k[t]·grad[q] over q in 0..<span (the adjoint of `convolveFlat`).
    @inline(__always)
    static func scatterFlat(_ grad: UnsafePointer<Float>, _ taps: UnsafeBufferPointer<Int>, _ k: UnsafePointer<Float>,
                            span: Int, _ dbuf: UnsafeMutablePointer<Float>) {
        // One pass per tap: overlapping read-modify-writes of neighbouring taps inside one pass
        // would stall on store forwarding.
        for t in 0..<taps.count {
            let kv = SIMD8<Float>(repeating: k[t])
            let d = dbuf + taps[t]
            var q = 0
            while q < span {
                store8(multiplyAdd(load8(d + q), kv, load8(grad + q)), d + q)
                q += 8
            }
        }
    }

    // MARK: - Passes

    /// y[N, C, OH, OW] = depthwise(x, w[C, 1, kH, kW]) + bias.
    static func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        y: UnsafeMutablePointer<Float>, _ g: Window, threads: Int) {
        let l = Layout(g)
        let taps = l.taps.count, p = g.oh * g.ow
        parallelChunks(g.c, threads: threads) { channels in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: l.size)
            let row = UnsafeMutablePointer<Float>.allocate(capacity: l.span)
            defer { buf.deallocate(); row.deallocate() }
            buf.initialize(repeating: 0, count: l.size)
            l.taps.withUnsafeBufferPointer { tapOffsets in
                for ch in channels {
                    let k = weight + ch * taps
                    let beta = bias?[ch] ?? 0
                    for b in 0..<g.n {
                        l.pack(x + (b * g.c + ch) * g.h * g.w, buf)
                        convolveFlat(buf, tapOffsets, k, bias: beta, span: l.span, row)
                        l.unflatten(row, y + (b * g.c + ch) * p, oh: g.oh, ow: g.ow)
                    }
                }
            }
        }
    }

    /// The geometry of backward-data as a forward depthwise convolution of the gradient with the
    /// flipped filter (stride 1 only): nil when that needs negative padding.
    static func transposedWindow(_ g: Window) -> Window? {
        guard g.sh == 1, g.sw == 1 else { return nil }
        var t = g
        t.h = g.oh; t.w = g.ow; t.oh = g.h; t.ow = g.w
        t.padTop = (g.kh - 1) * g.dh - g.padTop
        t.padLeft = (g.kw - 1) * g.dw - g.padLeft
        t.padBottom = (g.kh - 1) * g.dh - g.padBottom
        t.padRight = (g.kw - 1) * g.dw - g.padRight
        guard t.padTop >= 0, t.padLeft >= 0, t.padBottom >= 0, t.padRight >= 0 else { return nil }
        // Rows the forward never read (none at stride 1 with these pads) would need zero gradient.
        guard g.oh + t.padTop + t.padBottom - (g.kh - 1) * g.dh == g.h,
              g.ow + t.padLeft + t.padRight - (g.kw - 1) * g.dw == g.w else { return nil }
        return t
    }

    /// Gradients of `forward`; dx, dWeight, dBias (each overwritten) may be nil.
    static func backward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                         dBias: UnsafeMutablePointer<Float>?, _ g: Window, threads: Int) {
        let l = Layout(g)
        let taps = l.taps.count, p = g.oh * g.ow, plane = g.h * g.w
        let transposed = dx == nil ? nil : transposedWindow(g)
        let lt = transposed.map { Layout($0) }
        parallelChunks(g.c, threads: threads) { channels in
            // buf: packed x (dWeight); grad: dy in flat rows, zero scratch; dbuf: packed dy
            // (gather form) or the scattered dx; row: the gathered dx in flat rows.
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: l.size)
            let grad = UnsafeMutablePointer<Float>.allocate(capacity: l.span)
            let dbufSize = lt?.size ?? l.size
            let dbuf = UnsafeMutablePointer<Float>.allocate(capacity: dbufSize)
            let row = UnsafeMutablePointer<Float>.allocate(capacity: lt?.span ?? 8)
            let acc = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: taps)
            let flipped = UnsafeMutablePointer<Float>.allocate(capacity: taps)
            defer {
                buf.deallocate(); grad.deallocate(); dbuf.deallocate(); row.deallocate()
                acc.deallocate(); flipped.deallocate()
            }
            buf.initialize(repeating: 0, count: l.size)
            grad.initialize(repeating: 0, count: l.span)
            dbuf.initialize(repeating: 0, count: dbufSize)
            l.taps.withUnsafeBufferPointer { tapOffsets in
                (lt?.taps ?? []).withUnsafeBufferPointer { transposedTaps in
                    for ch in channels {
                        let k = weight + ch * taps
                        if let dBias {
                            var sum: Float = 0
                            for b in 0..<g.n { sum += BatchNormKernels.sum(dy + (b * g.c + ch) * p, p) }
                            dBias[ch] = sum
                        }
                        for t in 0..<taps { flipped[t] = k[taps - 1 - t] }
                        acc.update(repeating: SIMD8<Float>(repeating: 0), count: taps)
                        for b in 0..<g.n {
                            let gp = dy + (b * g.c + ch) * p
                            if dWeight != nil || lt == nil { l.flatten(gp, grad, oh: g.oh, ow: g.ow) }
                            if dWeight != nil {
                                l.pack(x + (b * g.c + ch) * plane, buf)
                                correlateFlat(grad, buf, tapOffsets, span: l.span, acc)
                            }
                            guard let dx else { continue }
                            let dxp = dx + (b * g.c + ch) * plane
                            if let lt {
                                lt.pack(gp, dbuf)
                                convolveFlat(dbuf, transposedTaps, flipped, bias: 0, span: lt.span, row)
                                lt.unflatten(row, dxp, oh: g.h, ow: g.w)
                            } else {
                                dbuf.update(repeating: 0, count: l.size)
                                scatterFlat(grad, tapOffsets, k, span: l.span, dbuf)
                                l.unpack(dbuf, dxp)
                            }
                        }
                        if let dWeight { for t in 0..<taps { dWeight[ch * taps + t] = acc[t].sum() } }
                    }
                }
            }
        }
    }
}
