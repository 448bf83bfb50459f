// The AVX2 + FMA C kernels (CSpruceKernels) against their Swift twins, called directly, on
// lengths and counts that reach every block shape and tail of both. They differ only in whether
// multiply-adds are fused, so they agree to rounding. Skipped, saying so, where the CPU lacks
// AVX2 or FMA; not compiled off x86-64, where the C kernels do not exist.
#if arch(x86_64)
import CSpruceKernels
@testable import SpruceRuntime
import Testing

private let cpuHasAVX2FMA = spruce_kernels_isa() == SPRUCE_KERNELS_AVX2_FMA

@Suite(.enabled(if: cpuHasAVX2FMA, "this CPU has no AVX2 + FMA (or SPRUCE_KERNELS=portable is set)"))
struct ISADispatchTests {
    @Test(arguments: [1, 7, 64, 320])
    func gemmTileMatchesSwift(k: Int) {
        var rng = SplitMix64(seed: UInt64(k))
        let a = rng.floats(k * 6), b = rng.floats(k * 16), bias = rng.floats(6)
        let ldc = 21
        let start = rng.floats(6 * ldc)
        for rows in [6, 2] {
            for (first, last, withBias) in [(true, true, true), (true, false, false), (false, true, true), (false, false, false)] {
                let bounds = last ? ActivationBounds(lower: -0.4, upper: 0.6) : .identity
                var swift = start, c = start
                bias.withUnsafeBufferPointer { bp in
                    let biasPointer = withBias ? bp.baseAddress : nil
                    f32GemmMicroKernel6x16(kLen: k, a: a, b: b, c: &swift, ldc: ldc, rows: rows, bias: biasPointer,
                                           first: first, last: last, bounds: bounds)
                    spruce_f32_gemm_6x16_avx2_fma(k, a, b, &c, ldc, rows, biasPointer, first ? 1 : 0, last ? 1 : 0,
                                                  bounds.lower, bounds.upper)
                }
                expectClose(c, swift, "gemm tile k \(k) rows \(rows) first \(first) last \(last) bias \(withBias)")
                // Columns 16..<21 of each row, and rows past `rows`, are outside the tile.
                for r in 0..<6 {
                    let outside = r < rows ? (r * ldc + 16)..<(r * ldc + ldc) : (r * ldc)..<(r * ldc + ldc)
                    #expect(c[outside] == start[outside] && swift[outside] == start[outside])
                }
            }
        }
    }

    @Test(arguments: [1, 7, 320])
    func gemmColumnsMatchSwift(k: Int) {
        var rng = SplitMix64(seed: UInt64(50 + k))
        let a = rng.floats(k * 6), b = rng.floats(k * 16), bias = rng.floats(6)
        let ldc = 9
        let start = rng.floats(6 * ldc)
        for (columns, rows) in [(1, 0..<6), (4, 0..<6), (3, 2..<5)] {
            for (first, last, withBias) in [(true, true, true), (true, false, false), (false, true, true), (false, false, false)] {
                let bounds = last ? ActivationBounds(lower: -0.4, upper: 0.6) : .identity
                var swift = start, c = start
                bias.withUnsafeBufferPointer { bp in
                    let biasPointer = withBias ? bp.baseAddress : nil
                    f32GemmMicroKernel6xColumns(kLen: k, columns: columns, a: a, b: b, c: &swift, ldc: ldc, rows: rows,
                                                bias: biasPointer, first: first, last: last, bounds: bounds)
                    spruce_f32_gemm_6xn_avx2_fma(k, columns, a, b, &c, ldc, rows.lowerBound, rows.upperBound, biasPointer,
                                                 first ? 1 : 0, last ? 1 : 0, bounds.lower, bounds.upper)
                }
                expectClose(c, swift, "gemm columns k \(k) \(columns) columns rows \(rows) first \(first) last \(last)")
                // Rows outside `rows` and columns past `columns` are untouched.
                for r in 0..<6 {
                    let untouched = rows.contains(r) ? columns..<ldc : 0..<ldc
                    #expect(c[(r * ldc + untouched.lowerBound)..<(r * ldc + untouched.upperBound)]
                            == start[(r * ldc + untouched.lowerBound)..<(r * ldc + untouched.upperBound)])
                }
            }
        }
    }

    @Test(arguments: [0, 1, 3, 4, 5, 17])
    func sparseRowMatchesSwift(count: Int) {
        var rng = SplitMix64(seed: UInt64(100 + count))
        let columnsInRow = 40, maxLength = 200
        let table = (0..<columnsInRow).map { Int32($0 * 7 % 23) }  // run offsets, repeated and unordered
        let columns = (0..<count).map { UInt32(($0 * 13 + 5) % columnsInRow) }
        let source = rng.floats(23 + maxLength)
        let floatWeights = rng.floats(count) + [0]  // one unread pad: never an empty array
        let int8Weights = (0..<count).map { Int8(truncatingIfNeeded: $0 * 37 - 60) } + [0]
        let bounds = ActivationBounds(lower: -1.5, upper: 2)
        for length in [1, 5, 7, 8, 9, 15, 16, 23, 24, 31, 32, 33, 40, 47, 63, 64, 65, 72, 100, 127, 128, 129, maxLength] {
            for int8 in [false, true] {
                var swift = [Float](repeating: .nan, count: length), c = swift
                let scale: Float = int8 ? 0.01 : 1, bias: Float = 0.25
                withPointers(columns, table, source) { columns, table, src in
                    if int8 {
                        int8Weights.withUnsafeBufferPointer { w in
                            let row = SparseRunRow(count: count, columns: columns, table: table, weights: w.baseAddress!, base: src)
                            sparseRowAccumulate(row, length: length, dst: &swift, RowEpilogue(scale: scale, bias: bias, bounds: bounds))
                        }
                        spruce_sparse_row_qc8w_avx2_fma(count, columns, table, int8Weights, src, length, &c,
                                                        scale, bias, bounds.lower, bounds.upper)
                    } else {
                        floatWeights.withUnsafeBufferPointer { w in
                            let row = SparseRunRow(count: count, columns: columns, table: table, weights: w.baseAddress!, base: src)
                            sparseRowAccumulate(row, length: length, dst: &swift, RowEpilogue(scale: scale, bias: bias, bounds: bounds))
                        }
                        spruce_sparse_row_f32_avx2_fma(count, columns, table, floatWeights, src, length, &c,
                                                       scale, bias, bounds.lower, bounds.upper)
                    }
                }
                expectClose(c, swift, "sparse row: \(count) non-zeros, length \(length), int8 \(int8)")
            }
        }
    }

    @Test func dwconvWide3x3MatchesSwift() {
        var rng = SplitMix64(seed: 9)
        let taps = [0, 1, 2, 30, 31, 32, 60, 61, 62]
        let source = rng.floats(62 + 200), weights = rng.floats(9)
        for length in [1, 8, 15, 16, 17, 31, 40, 100, 200] {
            for bounds in [ActivationBounds.identity, ActivationBounds(lower: 0, upper: 6)] {
                var swift = [Float](repeating: .nan, count: length), c = swift
                dwconvWide3x3(base: source, taps: taps, weights: weights, length: length, dst: &swift, bias: -0.1, bounds: bounds)
                spruce_dwconv_wide_3x3_avx2_fma(source, taps, weights, length, &c, -0.1, bounds.lower, bounds.upper)
                expectClose(c, swift, "dwconv 3x3 length \(length) bounds \(bounds)")
            }
        }
    }

    @Test func dwconv3x3PlaneMatchesSwift() {
        var rng = SplitMix64(seed: 10)
        let weights = rng.floats(9)
        for (height, width) in [(1, 8), (3, 14), (5, 28), (2, 16), (4, 9)] {
            let pitch = width + 2
            let padded = rng.floats((height + 2) * pitch)
            var swift = [Float](repeating: .nan, count: height * width), c = swift
            dwconv3x3s1Plane(padded: padded, pitch: pitch, height: height, width: width, weights: weights, bias: 0.2,
                             bounds: .identity, out: &swift)
            spruce_dwconv_3x3s1_plane_avx2_fma(padded, pitch, height, width, weights, 0.2, -.infinity, .infinity, &c)
            expectClose(c, swift, "dwconv 3x3 plane \(height)x\(width)")
        }
    }
}
/// Runs `body` with stable pointers to the three arrays (an empty array still gets a valid pointer).
private func withPointers<R>(_ columns: [UInt32], _ table: [Int32], _ source: [Float],
                             _ body: (UnsafePointer<UInt32>, UnsafePointer<Int32>, UnsafePointer<Float>) -> R) -> R {
    (columns + [0]).withUnsafeBufferPointer { c in
        table.withUnsafeBufferPointer { t in source.withUnsafeBufferPointer { s in body(c.baseAddress!, t.baseAddress!, s.baseAddress!) } }
    }
}
#endif
