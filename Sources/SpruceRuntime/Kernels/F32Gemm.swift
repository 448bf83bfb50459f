// f32-gemm: C[M×N] = A[M×K] · B[K×N] (+ bias per row, then clamp), the dense workhorse behind
// im2col convolutions. A is packed once (at plan time) into MR-row panels; B is packed per
// KC×NC block into the workspace as the kernel runs. Register-blocked 6×16 micro-kernel.
// Not a general BLAS: no transposes, no alpha/beta, row-major only, batch 1.

import _SpruceSupport

/// Rows of A per micro-tile.
public let f32GemmMR = 6
/// Columns of B per micro-tile (two SIMD8 vectors).
public let f32GemmNR = 16
/// Largest depth of one packed B block; KC·NR floats stay in L1. Depths are split into equal
/// blocks, so no block is a thin remainder.
let f32GemmKC = 320

/// Floats needed by `f32GemmPackA` for an M×K matrix.
public func f32GemmPackedACount(m: Int, k: Int) -> Int {
    roundUp(m, f32GemmMR) * k
}

/// Packs row-major A[M×K] (row stride `lda`) into panels of MR rows, k-major, zero-padded.
public func f32GemmPackA(m: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                         packed: UnsafeMutablePointer<Float>) {
    let mr = f32GemmMR
    let panels = (m + mr - 1) / mr
    for p in 0..<panels {
        let dst = packed + p * mr * k
        for r in 0..<mr {
            let row = p * mr + r
            if row < m {
                let src = a + row * lda
                for kk in 0..<k { dst[kk * mr + r] = src[kk] }
            } else {
                for kk in 0..<k { dst[kk * mr + r] = 0 }
            }
        }
    }
}

/// Columns of B packed together (NC): every A panel block is applied to all NC/NR strips while it
/// sits in L1, so A (the weights, often larger than L2) is read once per NC columns rather than
/// once per NR columns; the packed KC×NC block of B stays in L2.
let f32GemmNC = 256

/// Workspace bytes `f32Gemm` needs for depth `k`.
public func f32GemmWorkspaceBytes(k: Int) -> Int {
    (max(1, min(k, f32GemmKC)) * f32GemmNC + f32GemmMR * f32GemmNR + f32GemmMR) * MemoryLayout<Float>.stride
}

/// C[rows, 0..<n] = clamp(packedA · B + bias) for the rows in `rows` (a sub-range of 0..<m).
/// `packedA` comes from `f32GemmPackA`; B is row-major with row stride `ldb`, or, with
/// `bRowOffsets`, row kk starts at `b + bRowOffsets[kk]` (an implicit im2col: the rows are runs of
/// phase planes); `bias` has m entries.
public func f32Gemm(m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>,
                    b: UnsafePointer<Float>, ldb: Int, bRowOffsets: UnsafePointer<Int>? = nil,
                    c: UnsafeMutablePointer<Float>, ldc: Int,
                    bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                    rows: Range<Int>, workspace: UnsafeMutableRawPointer) {
    let mr = f32GemmMR, nr = f32GemmNR
    let rows = rows.clamped(to: 0..<m)
    guard !rows.isEmpty, n > 0 else { return }
    let kcMax = max(1, min(k, f32GemmKC))
    let bPack = workspace.bindMemory(to: Float.self, capacity: f32GemmWorkspaceBytes(k: k) / 4)
    let tile = bPack + kcMax * f32GemmNC
    let tileBias = tile + mr * nr
    let firstPanel = rows.lowerBound / mr
    let lastPanel = (rows.upperBound - 1) / mr
    let blocks = max(1, (k + f32GemmKC - 1) / f32GemmKC)
    let blockDepth = (k + blocks - 1) / blocks

    var jc = 0
    while jc < n {
        let strips = (min(f32GemmNC, n - jc) + nr - 1) / nr
        var k0 = 0
        repeat {
            let kLen = min(blockDepth, k - k0)
            // Pack the KC×NC block of B, strip by strip, so the micro-kernel reads each strip
            // contiguously; the last strip is zero-padded.
            for sIndex in 0..<strips {
                let j0 = jc + sIndex * nr
                let nValid = min(nr, n - j0)
                let strip = bPack + sIndex * kLen * nr
                for kk in 0..<kLen {
                    let src = b + (bRowOffsets?[k0 + kk] ?? (k0 + kk) * ldb) + j0
                    let dst = strip + kk * nr
                    if nValid == nr {
                        store8(load8(src), dst)
                        store8(load8(src + 8), dst + 8)
                    } else {
                        for j in 0..<nr { dst[j] = j < nValid ? src[j] : 0 }
                    }
                }
            }
            let first = k0 == 0
            let last = k0 + kLen >= k
            for p in firstPanel...lastPanel {
                let r0 = p * mr
                let lo = max(rows.lowerBound, r0)
                let hi = min(rows.upperBound, r0 + mr)
                let aBlock = packedA + p * mr * k + k0 * mr
                for sIndex in 0..<strips {
                    let j0 = jc + sIndex * nr
                    let nValid = min(nr, n - j0)
                    let strip = bPack + sIndex * kLen * nr
                    if lo == r0 && nValid == nr {
                        // Whole strip; rows past the last (an edge panel's) are computed, not stored.
                        f32GemmTile(kLen: kLen, a: aBlock, b: strip, c: c + r0 * ldc + j0, ldc: ldc, rows: hi - r0,
                                    bias: bias.map { $0 + r0 }, first: first, last: last, bounds: bounds)
                        continue
                    }
                    // A strip of at most four columns (49 = 3·16 + 1 on 7×7 maps): column by column,
                    // the same multiply-adds in the same order as the tile, a quarter of its work or less.
                    if nValid <= f32GemmNarrowColumns {
                        f32GemmColumns(kLen: kLen, columns: nValid, a: aBlock, b: strip, c: c + r0 * ldc + j0, ldc: ldc,
                                       rows: (lo - r0)..<(hi - r0), bias: bias.map { $0 + r0 }, first: first, last: last,
                                       bounds: bounds)
                        continue
                    }
                    // Edge tile: run the same micro-kernel on a full scratch tile, copy the valid part.
                    for r in 0..<mr {
                        let inside = r0 + r >= lo && r0 + r < hi
                        for j in 0..<nr {
                            tile[r * nr + j] = (!first && inside && j < nValid) ? c[(r0 + r) * ldc + j0 + j] : 0
                        }
                        tileBias[r] = (bias != nil && r0 + r < m) ? bias![r0 + r] : 0
                    }
                    f32GemmTile(kLen: kLen, a: aBlock, b: strip, c: tile, ldc: nr, rows: mr,
                                bias: bias == nil ? nil : UnsafePointer(tileBias),
                                first: first, last: last, bounds: bounds)
                    for row in lo..<hi {
                        let src = tile + (row - r0) * nr
                        let dst = c + row * ldc + j0
                        for j in 0..<nValid { dst[j] = src[j] }
                    }
                }
            }
            k0 += kLen
        } while k0 < k
        jc += f32GemmNC
    }
}

/// The 6×16 register tile: twelve SIMD8 accumulators, one broadcast of A and two vectors of B per k.
/// Rows `rows..<6` of C (past an edge panel's last) are neither read (nor their bias) nor stored.
/// Called through `f32GemmTile` (ISADispatch.swift), which may run its C version instead.
@inline(never)
func f32GemmMicroKernel6x16(kLen: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, bias: UnsafePointer<Float>?,
                            first: Bool, last: Bool, bounds: ActivationBounds) {
    var c00 = SIMD8<Float>.zero, c01 = SIMD8<Float>.zero, c10 = SIMD8<Float>.zero, c11 = SIMD8<Float>.zero
    var c20 = SIMD8<Float>.zero, c21 = SIMD8<Float>.zero, c30 = SIMD8<Float>.zero, c31 = SIMD8<Float>.zero
    var c40 = SIMD8<Float>.zero, c41 = SIMD8<Float>.zero, c50 = SIMD8<Float>.zero, c51 = SIMD8<Float>.zero
    let c0 = c, c1 = c + ldc, c2 = c + 2 * ldc, c3 = c + 3 * ldc, c4 = c + 4 * ldc, c5 = c + 5 * ldc
    if !first {
        c00 = load8(c0); c01 = load8(c0 + 8)
        if rows > 1 { c10 = load8(c1); c11 = load8(c1 + 8) }
        if rows > 2 { c20 = load8(c2); c21 = load8(c2 + 8) }
        if rows > 3 { c30 = load8(c3); c31 = load8(c3 + 8) }
        if rows > 4 { c40 = load8(c4); c41 = load8(c4 + 8) }
        if rows > 5 { c50 = load8(c5); c51 = load8(c5 + 8) }
    } else if let bias {
        c00 = SIMD8(repeating: bias[0]); c01 = c00
        if rows > 1 { c10 = SIMD8(repeating: bias[1]); c11 = c10 }
        if rows > 2 { c20 = SIMD8(repeating: bias[2]); c21 = c20 }
        if rows > 3 { c30 = SIMD8(repeating: bias[3]); c31 = c30 }
        if rows > 4 { c40 = SIMD8(repeating: bias[4]); c41 = c40 }
        if rows > 5 { c50 = SIMD8(repeating: bias[5]); c51 = c50 }
    }
    var ap = a
    var bp = b
    for _ in 0..<kLen {
        let b0 = load8(bp), b1 = load8(bp + 8)
        var av = SIMD8<Float>(repeating: ap[0])
        c00 = multiplyAdd(c00, av, b0); c01 = multiplyAdd(c01, av, b1)
        av = SIMD8<Float>(repeating: ap[1])
        c10 = multiplyAdd(c10, av, b0); c11 = multiplyAdd(c11, av, b1)
        av = SIMD8<Float>(repeating: ap[2])
        c20 = multiplyAdd(c20, av, b0); c21 = multiplyAdd(c21, av, b1)
        av = SIMD8<Float>(repeating: ap[3])
        c30 = multiplyAdd(c30, av, b0); c31 = multiplyAdd(c31, av, b1)
        av = SIMD8<Float>(repeating: ap[4])
        c40 = multiplyAdd(c40, av, b0); c41 = multiplyAdd(c41, av, b1)
        av = SIMD8<Float>(repeating: ap[5])
        c50 = multiplyAdd(c50, av, b0); c51 = multiplyAdd(c51, av, b1)
        ap += 6
        bp += 16
    }
    if last {
        let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
        c00 = clamp8(c00, lo, hi); c01 = clamp8(c01, lo, hi)
        c10 = clamp8(c10, lo, hi); c11 = clamp8(c11, lo, hi)
        c20 = clamp8(c20, lo, hi); c21 = clamp8(c21, lo, hi)
        c30 = clamp8(c30, lo, hi); c31 = clamp8(c31, lo, hi)
        c40 = clamp8(c40, lo, hi); c41 = clamp8(c41, lo, hi)
        c50 = clamp8(c50, lo, hi); c51 = clamp8(c51, lo, hi)
    }
    store8(c00, c0); store8(c01, c0 + 8)
    if rows > 1 { store8(c10, c1); store8(c11, c1 + 8) }
    if rows > 2 { store8(c20, c2); store8(c21, c2 + 8) }
    if rows > 3 { store8(c30, c3); store8(c31, c3 + 8) }
    if rows > 4 { store8(c40, c4); store8(c41, c4 + 8) }
    if rows > 5 { store8(c50, c5); store8(c51, c5 + 8) }
}

/// Widest strip `f32Gemm` computes column by column (`f32GemmMicroKernel6xColumns`) rather than
/// as a full 6×16 tile.
let f32GemmNarrowColumns = 4

/// Columns 0..<`columns` (at most four) of the 6×16 tile: per k, the six packed A values (a
/// vector of four and one of two) times each of the first four B values of the strip, four
/// independent chains per half, each element added in k order as the tile adds it (so a column
/// has the same bits either way). B's strip is zero-padded, so the columns past `columns` are
/// computed and dropped. Only rows in `rows` (within 0..<6) of C are read and stored; `bias`
/// points at row 0's. Called through `f32GemmColumns` (ISADispatch.swift), which may run its C
/// version instead.
@inline(never)
func f32GemmMicroKernel6xColumns(kLen: Int, columns: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                 c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>, bias: UnsafePointer<Float>?,
                                 first: Bool, last: Bool, bounds: ActivationBounds) {
    /// Column j's starting sums, rows 0–3 and 4–5.
    func start(_ j: Int) -> (SIMD4<Float>, SIMD2<Float>) {
        var v = SIMD8<Float>.zero
        if j < columns { for r in rows { v[r] = first ? (bias?[r] ?? 0) : c[r * ldc + j] } }
        return (v.lowHalf, v.highHalf.lowHalf)
    }
    var (t0, u0) = start(0), (t1, u1) = start(1), (t2, u2) = start(2), (t3, u3) = start(3)
    var ap = UnsafeRawPointer(a), bp = UnsafeRawPointer(b)
    for _ in 0..<kLen {
        let a4 = ap.loadUnaligned(as: SIMD4<Float>.self), a2 = ap.loadUnaligned(fromByteOffset: 16, as: SIMD2<Float>.self)
        let bv = bp.loadUnaligned(as: SIMD4<Float>.self)
        t0 = multiplyAdd(t0, a4, SIMD4(repeating: bv[0])); u0 = multiplyAdd(u0, a2, SIMD2(repeating: bv[0]))
        t1 = multiplyAdd(t1, a4, SIMD4(repeating: bv[1])); u1 = multiplyAdd(u1, a2, SIMD2(repeating: bv[1]))
        t2 = multiplyAdd(t2, a4, SIMD4(repeating: bv[2])); u2 = multiplyAdd(u2, a2, SIMD2(repeating: bv[2]))
        t3 = multiplyAdd(t3, a4, SIMD4(repeating: bv[3])); u3 = multiplyAdd(u3, a2, SIMD2(repeating: bv[3]))
        ap += 24
        bp += 64
    }
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    func store(_ j: Int, _ t: SIMD4<Float>, _ u: SIMD2<Float>) {
        guard j < columns else { return }
        var v = SIMD8<Float>(lowHalf: t, highHalf: SIMD4(lowHalf: u, highHalf: .zero))
        if last { v = clamp8(v, lo, hi) }
        for r in rows { c[r * ldc + j] = v[r] }
    }
    store(0, t0, u0)
    store(1, t1, u1)
    store(2, t2, u2)
    store(3, t3, u3)
}

/// Reference twin of `f32Gemm` over an unpacked row-major A (row stride `lda`): plain loops.
public func f32GemmReference(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int,
                             bias: UnsafePointer<Float>?, bounds: ActivationBounds, rows: Range<Int>) {
    for i in rows.clamped(to: 0..<m) {
        for j in 0..<n {
            var sum: Float = bias?[i] ?? 0
            for kk in 0..<k { sum += a[i * lda + kk] * b[kk * ldb + j] }
            c[i * ldc + j] = bounds.apply(sum)
        }
    }
}

/// Rows per block of `f32GemmRows`: the packed block of X stays in L2 beside B's packing.
let f32GemmRowsBlock = 96

/// Workspace bytes `f32GemmRows` needs for depth `k`.
public func f32GemmRowsWorkspaceBytes(k: Int) -> Int {
    f32GemmWorkspaceBytes(k: k) + f32GemmPackedACount(m: f32GemmRowsBlock, k: k) * MemoryLayout<Float>.stride
}

/// Y[r, 0..<n] = X[r, 0..<k] · B + bias for the rows r in `rows`: a Linear layer over many rows
/// (tokens, positions), X row-major [· × k], B row-major [k × n], bias per column. The rows are the
/// GEMM's A, packed block by block into the workspace; B is the weight.
public func f32GemmRows(rows: Range<Int>, n: Int, k: Int, x: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, workspace: UnsafeMutableRawPointer) {
    let packed = workspace.bindMemory(to: Float.self, capacity: f32GemmRowsWorkspaceBytes(k: k) / 4)
    let gemmWorkspace = UnsafeMutableRawPointer(packed + f32GemmPackedACount(m: f32GemmRowsBlock, k: k))
    var r0 = rows.lowerBound
    while r0 < rows.upperBound {
        let m = min(f32GemmRowsBlock, rows.upperBound - r0)
        f32GemmPackA(m: m, k: k, a: x + r0 * k, lda: k, packed: packed)
        let c = y + r0 * n
        f32Gemm(m: m, n: n, k: k, packedA: packed, b: b, ldb: n, c: c, ldc: n, bias: nil, bounds: .identity,
                rows: 0..<m, workspace: gemmWorkspace)
        if let bias {
            for r in 0..<m {
                let row = c + r * n
                var j = 0
                while j + 8 <= n {
                    store8(load8(row + j) + load8(bias + j), row + j)
                    j += 8
                }
                while j < n {
                    row[j] += bias[j]
                    j += 1
                }
            }
        }
        r0 += m
    }
}
