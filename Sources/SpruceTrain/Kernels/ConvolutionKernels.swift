// Dense (and grouped) 2-D convolution for training, NCHW float32: forward, backward-data and
// backward-weights through im2col + cblas_sgemm. The whole batch goes into one matrix
// (columns = N·OH·OW) so late layers with tiny spatial sizes still give OpenBLAS large GEMMs.
// Legend: K = C/groups·kH·kW (rows of the column matrix), P = OH·OW, NP = N·P.
// Depthwise convolution has its own kernel (DepthwiseKernels.swift); this file is not it.

import SpruceCore

import COpenBLAS

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
                    (col + ci * np + b * p).update(from: x + (b * g.c + c0 + ci) * plane, count: p)
                }
            }
            return
        }
        for ci in 0..<cg {
            for ki in 0..<g.kh {
                let rowOffset = ki * g.dh - g.padTop
                let ys = Window.validRange(count: g.oh, stride: g.sh, offset: rowOffset, limit: g.h)
                for kj in 0..<g.kw {
                    let colOffset = kj * g.dw - g.padLeft
                    let xs = Window.validRange(count: g.ow, stride: g.sw, offset: colOffset, limit: g.w)
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
                            if xs.lowerBound > 0 { d.update(repeating: 0, count: xs.lowerBound) }
                            if xs.upperBound < g.ow { (d + xs.upperBound).update(repeating: 0, count: g.ow - xs.upperBound) }
                            if g.sw == 1 {
                                (d + xs.lowerBound).update(from: s + xs.lowerBound, count: xs.count)
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
                let ys = Window.validRange(count: g.oh, stride: g.sh, offset: rowOffset, limit: g.h)
                for kj in 0..<g.kw {
                    let colOffset = kj * g.dw - g.padLeft
                    let xs = Window.validRange(count: g.ow, stride: g.sw, offset: colOffset, limit: g.w)
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
        for group in 0..<groups {
            im2col(x, g, c0: group * cg, cg: cg, col)
            // Threads take blocks of output channels (rows of W) against the shared columns.
            parallelChunks(mg, threads: threads, minimumPerChunk: 16) { rows in
                gemm(false, false, rows.count, np, k, weight + (group * mg + rows.lowerBound) * k, k, col, np, 0,
                     out + rows.lowerBound * np, np)
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
        if let dx { dx.update(repeating: 0, count: g.n * g.c * g.h * g.w) }
        let col = pool.take(k * np), dyT = pool.take(mg * np)
        defer { pool.give(col, k * np); pool.give(dyT, mg * np) }
        for group in 0..<groups {
            for mi in 0..<mg {
                for b in 0..<g.n {
                    (dyT + mi * np + b * p).update(from: dy + (b * m + group * mg + mi) * p, count: p)
                }
            }
            let wg = weight + group * mg * k
            if let dWeight {
                im2col(x, g, c0: group * cg, cg: cg, col)
                parallelChunks(mg, threads: threads, minimumPerChunk: 16) { rows in
                    gemm(false, true, rows.count, k, np, dyT + rows.lowerBound * np, np, col, np, 0,
                         dWeight + (group * mg + rows.lowerBound) * k, k)
                }
            }
            if let dx {
                // Threads take blocks of columns of dCol = Wᵀ·dY, then input channels of col2im.
                parallelChunks(np, threads: threads, minimumPerChunk: 128) { cols in
                    gemm(true, false, k, cols.count, mg, wg, k, dyT + cols.lowerBound, np, 0, col + cols.lowerBound, np)
                }
                parallelChunks(cg, threads: threads) { channels in
                    col2im(col, g, c0: group * cg, cg: cg, dx, channels: channels)
                }
            }
        }
    }
}
