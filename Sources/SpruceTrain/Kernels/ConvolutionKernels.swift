// Dense (and grouped) 2-D convolution for training, NCHW float32: forward, backward-data and
// backward-weights through im2col + cblas_sgemm. The whole batch goes into one matrix
// (columns = N·OH·OW) so late layers with tiny spatial sizes still give OpenBLAS large GEMMs.
// Legend: K = C/groups·kH·kW (rows of the column matrix), P = OH·OW, NP = N·P.
// Depthwise convolution has its own kernel (DepthwiseKernels.swift); this file is not it.

import SpruceCore

import COpenBLAS
import Dispatch

/// im2col / col2im and the GEMM-based convolution passes.
enum ConvolutionKernels {
    /// Writes the column matrix [K, NP] of input channels `c0..<c0+cg`: row (ci·kH + ki)·kW + kj,
    /// column b·P + oy·OW + ox holds x[b, c0+ci, oy·sH − padTop + ki·dH, ox·sW − padLeft + kj·dW] (0 outside).
    static func im2col(_ x: UnsafePointer<Float>, _ g: Window, c0: Int, cg: Int,
                       _ col: UnsafeMutablePointer<Float>) {
        let p = g.oh * g.ow, np = g.n * p, plane = g.h * g.w
        if g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.padTop == 0 && g.padLeft == 0
            && g.oh == g.h && g.ow == g.w {
            // 1×1 stride-1 unpadded: the column matrix is the input with N and C swapped.
            for ci in 0..<cg {
                for b in 0..<g.n {
                    copyFloats(col + ci * np + b * p, x + (b * g.c + c0 + ci) * plane, p)
                }
            }
            return
        }
        for ci in 0..<cg {
            for ki in 0..<g.kh {
                let rowOffset = ki * g.dh - g.padTop
                let ys = validOutputRange(outSize: g.oh, inSize: g.h, stride: g.sh, offset: rowOffset)
                for kj in 0..<g.kw {
                    let colOffset = kj * g.dw - g.padLeft
                    let xs = validOutputRange(outSize: g.ow, inSize: g.w, stride: g.sw, offset: colOffset)
                    let row = col + ((ci * g.kh + ki) * g.kw + kj) * np
                    for b in 0..<g.n {
                        let src = x + (b * g.c + c0 + ci) * plane
                        let dst = row + b * p
                        for oy in 0..<g.oh {
                            let d = dst + oy * g.ow
                            guard ys.contains(oy), !xs.isEmpty else {
                                d.update(repeating: 0, count: g.ow)
                                continue
                            }
                            let s = src + (oy * g.sh + rowOffset) * g.w + colOffset
                            // Pads are a cell or two: plain stores, not memset calls.
                            for ox in 0..<xs.lowerBound { d[ox] = 0 }
                            for ox in xs.upperBound..<max(xs.upperBound, g.ow) { d[ox] = 0 }
                            if g.sw == 1 {
                                copyFloats(d + xs.lowerBound, s + xs.lowerBound, xs.count)
                            } else {
                                for ox in xs { d[ox] = s[ox * g.sw] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds every column-matrix entry back onto the input cell it was read from.
    static func col2im(_ col: UnsafePointer<Float>, _ g: Window, c0: Int, cg: Int,
                       _ dx: UnsafeMutablePointer<Float>, channels: Range<Int>? = nil) {
        let p = g.oh * g.ow, np = g.n * p, plane = g.h * g.w
        for ci in channels ?? 0..<cg {
            for ki in 0..<g.kh {
                let rowOffset = ki * g.dh - g.padTop
                let ys = validOutputRange(outSize: g.oh, inSize: g.h, stride: g.sh, offset: rowOffset)
                for kj in 0..<g.kw {
                    let colOffset = kj * g.dw - g.padLeft
                    let xs = validOutputRange(outSize: g.ow, inSize: g.w, stride: g.sw, offset: colOffset)
                    if ys.isEmpty || xs.isEmpty { continue }
                    let row = col + ((ci * g.kh + ki) * g.kw + kj) * np
                    for b in 0..<g.n {
                        let dst = dx + (b * g.c + c0 + ci) * plane
                        let src = row + b * p
                        for oy in ys {
                            let s = src + oy * g.ow
                            let d = dst + (oy * g.sh + rowOffset) * g.w + colOffset
                            if g.sw == 1 {
                                for ox in xs { d[ox] += s[ox] }
                            } else {
                                for ox in xs { d[ox * g.sw] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Output planes at least this large get one GEMM per image (no batch gather/scatter);
    /// smaller ones (late layers) are batched so OpenBLAS sees a wide enough matrix.
    static let perImageMinimum = 256

    /// 1×1, stride 1, unpadded: the input planes already are the column matrix.
    static func isPointwise(_ g: Window) -> Bool {
        g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.padTop == 0 && g.padLeft == 0 && g.oh == g.h && g.ow == g.w
    }

    @inline(__always)
    static func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                     _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[M, N] = op(A)·op(B) + β·C split over cores along M or N, whichever is larger: each
    /// chunk packs its share of one operand and all of the other, so splitting the long side
    /// keeps the re-packed operand the small one. A few chunks per thread absorb a core that
    /// another process takes for a moment.
    static func parallelGemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>,
                             _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
                             _ c: UnsafeMutablePointer<Float>, _ ldc: Int, threads: Int) {
        guard m > 0, n > 0 else { return }
        let chunks = threads <= 1 ? 1 : max(1, min(threads * 2, max(m, n) / 64))
        if chunks == 1 || k == 0 {
            gemm(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
            return
        }
        let splitRows = m >= n
        let total = splitRows ? m : n
        withoutActuallyEscaping({ (i: Int) in
            // Boundaries on multiples of 16 match the GEMM kernel's register blocking.
            let lo = min(total, (i * total / chunks + 8) / 16 * 16), hi = i + 1 == chunks ? total : min(total, ((i + 1) * total / chunks + 8) / 16 * 16)
            guard lo < hi else { return }
            if splitRows {
                gemm(transA, transB, hi - lo, n, k, a + (transA ? lo : lo * lda), lda, b, ldb, beta, c + lo * ldc, ldc)
            } else {
                gemm(transA, transB, m, hi - lo, k, a, lda, b + (transB ? lo * ldb : lo), ldb, beta, c + lo, ldc)
            }
        }) { body in
            let work = GemmChunk(run: body)
            DispatchQueue.concurrentPerform(iterations: chunks) { work.run($0) }
        }
    }

    /// y[N, M, OH, OW] = conv(x, w) + bias, with `groups` groups (w is [M, C/groups, kH, kW]).
    static func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        y: UnsafeMutablePointer<Float>, _ g: Window, m: Int, groups: Int, pool: BufferPool, threads: Int) {
        let cg = g.c / groups, mg = m / groups
        let k = cg * g.kh * g.kw, p = g.oh * g.ow, np = g.n * p
        let pointwise = isPointwise(g)
        if p >= perImageMinimum {
            var one = g
            one.n = 1
            parallelChunks(g.n, threads: threads) { images in
                let col = pointwise ? nil : pool.take(k * p)
                defer { if let col { pool.give(col, k * p) } }
                for b in images {
                    let xb = x + b * g.c * g.h * g.w
                    for group in 0..<groups {
                        var src = xb + group * cg * p
                        if let col {
                            im2col(xb, one, c0: group * cg, cg: cg, col)
                            src = UnsafePointer(col)
                        }
                        gemm(false, false, mg, p, k, weight + group * mg * k, k, src, p, 0, y + (b * m + group * mg) * p, p)
                    }
                    if let bias {
                        for oc in 0..<m {
                            let d = y + (b * m + oc) * p, beta = bias[oc]
                            for i in 0..<p { d[i] += beta }
                        }
                    }
                }
            }
            return
        }
        let col = pool.take(k * np), out = pool.take(mg * np)
        defer { pool.give(col, k * np); pool.give(out, mg * np) }
        let taps = g.kh * g.kw
        for group in 0..<groups {
            parallelChunks(cg, threads: threads) { channels in
                im2col(x, g, c0: group * cg + channels.lowerBound, cg: channels.count, col + channels.lowerBound * taps * np)
            }
            parallelGemm(false, false, mg, np, k, weight + group * mg * k, k, col, np, 0, out, np, threads: threads)
            parallelChunks(mg, threads: threads) { rows in
                for mi in rows {
                    let oc = group * mg + mi
                    let beta = bias?[oc] ?? 0
                    for b in 0..<g.n {
                        let s = out + mi * np + b * p, d = y + (b * m + oc) * p
                        for i in 0..<p { d[i] = s[i] + beta }
                    }
                }
            }
        }
    }

    /// Gradients of `forward`: any of dx (overwritten), dWeight (overwritten), dBias (overwritten) may be nil.
    static func backward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                         dBias: UnsafeMutablePointer<Float>?, _ g: Window, m: Int, groups: Int, pool: BufferPool,
                         threads: Int) {
        let cg = g.c / groups, mg = m / groups
        let k = cg * g.kh * g.kw, p = g.oh * g.ow, np = g.n * p
        if let dBias {
            for oc in 0..<m {
                var sum: Float = 0
                for b in 0..<g.n { sum += BatchNormKernels.sum(dy + (b * m + oc) * p, p) }
                dBias[oc] = sum
            }
        }
        guard dx != nil || dWeight != nil else { return }
        let pointwise = isPointwise(g)
        if p >= perImageMinimum {
            var one = g
            one.n = 1
            let plane = g.c * g.h * g.w, wCount = m * k
            let chunks = chunkCount(g.n, threads: threads)
            // Chunk 0 accumulates into dWeight itself, the others into partial sums added at the end.
            let partial = dWeight != nil && chunks > 1 ? pool.take((chunks - 1) * wCount) : nil
            defer { if let partial { pool.give(partial, (chunks - 1) * wCount) } }
            parallelChunks(g.n, threads: threads) { chunk, images in
                let dw = chunk == 0 ? dWeight : partial.map { $0 + (chunk - 1) * wCount }
                let col = pointwise ? nil : pool.take(k * p)
                defer { if let col { pool.give(col, k * p) } }
                for b in images {
                    let xb = x + b * plane
                    for group in 0..<groups {
                        let dyg = dy + (b * m + group * mg) * p
                        let wg = weight + group * mg * k
                        if let dw {
                            var src = xb + group * cg * p
                            if let col {
                                im2col(xb, one, c0: group * cg, cg: cg, col)
                                src = UnsafePointer(col)
                            }
                            gemm(false, true, mg, k, p, dyg, p, src, p, b == images.lowerBound ? 0 : 1, dw + group * mg * k, k)
                        }
                        if let dx {
                            let dxb = dx + b * plane
                            if let col {
                                gemm(true, false, k, p, mg, wg, k, dyg, p, 0, col, p)
                                if group == 0 { dxb.update(repeating: 0, count: plane) }
                                col2im(col, one, c0: group * cg, cg: cg, dxb)
                            } else {
                                gemm(true, false, k, p, mg, wg, k, dyg, p, 0, dxb + group * cg * p, p)
                            }
                        }
                    }
                }
            }
            if let dWeight, let partial {
                for c in 0..<(chunks - 1) {
                    let src = partial + c * wCount
                    for i in 0..<wCount { dWeight[i] += src[i] }
                }
            }
            return
        }
        let col = pool.take(k * np), dyT = pool.take(mg * np)
        defer { pool.give(col, k * np); pool.give(dyT, mg * np) }
        let taps = g.kh * g.kw, plane = g.h * g.w
        for group in 0..<groups {
            parallelChunks(mg, threads: threads) { rows in
                for mi in rows {
                    for b in 0..<g.n {
                        (dyT + mi * np + b * p).update(from: dy + (b * m + group * mg + mi) * p, count: p)
                    }
                }
            }
            let wg = weight + group * mg * k
            if let dWeight {
                parallelChunks(cg, threads: threads) { channels in
                    im2col(x, g, c0: group * cg + channels.lowerBound, cg: channels.count, col + channels.lowerBound * taps * np)
                }
                parallelGemm(false, true, mg, k, np, dyT, np, col, np, 0, dWeight + group * mg * k, k, threads: threads)
            }
            if let dx {
                // dCol = Wᵀ·dY, then each input channel gathers its column-matrix rows.
                parallelGemm(true, false, k, np, mg, wg, k, dyT, np, 0, col, np, threads: threads)
                parallelChunks(cg, threads: threads) { channels in
                    for ci in channels {
                        for b in 0..<g.n {
                            let d = dx + (b * g.c + group * cg + ci) * plane
                            if pointwise {
                                // 1×1 stride 1: the column-matrix row is the gradient plane.
                                d.update(from: col + ci * np + b * p, count: plane)
                            } else {
                                d.update(repeating: 0, count: plane)
                            }
                        }
                    }
                    if !pointwise { col2im(col, g, c0: group * cg, cg: cg, dx, channels: channels) }
                }
            }
        }
    }
}

/// Carries a GEMM chunk body into Dispatch's `@Sendable` closure; chunks write disjoint blocks of C.
private struct GemmChunk: @unchecked Sendable {
    let run: (Int) -> Void
}
