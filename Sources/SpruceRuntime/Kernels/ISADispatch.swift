// Run-time choice between the Swift kernels and their AVX2 + FMA C versions (CSpruceKernels).
// A build that already targets an FMA CPU (`make release`: -target-cpu native -DSPRUCE_FMA) or
// arm64 compiles the Swift kernels with the fast instructions and never calls C. A build for
// baseline x86-64 (a plain `swift build -c release`, as every package that depends on Spruce
// gets) would run the Swift kernels on SSE2 without FMA; there the innermost loops go to C when
// the CPU has AVX2 and FMA. Both compute the same sums in the same order; the C versions fuse
// each multiply-add, as `make release` does. SPRUCE_KERNELS=portable forces the Swift kernels.

import CSpruceKernels

#if arch(x86_64) && !SPRUCE_FMA
/// Whether the AVX2 + FMA C kernels replace their Swift twins in this process.
let avx2FMAKernels = spruce_kernels_isa() == SPRUCE_KERNELS_AVX2_FMA
#else
let avx2FMAKernels = false
#endif

/// `f32GemmMicroKernel6x16`, or its C version.
@inline(__always)
func f32GemmTile(kLen: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                 rows: Int, bias: UnsafePointer<Float>?, first: Bool, last: Bool, bounds: ActivationBounds) {
    #if arch(x86_64) && !SPRUCE_FMA
    if avx2FMAKernels {
        spruce_f32_gemm_6x16_avx2_fma(kLen, a, b, c, ldc, rows, bias, first ? 1 : 0, last ? 1 : 0, bounds.lower, bounds.upper)
        return
    }
    #endif
    f32GemmMicroKernel6x16(kLen: kLen, a: a, b: b, c: c, ldc: ldc, rows: rows, bias: bias, first: first, last: last,
                           bounds: bounds)
}

/// `f32GemmMicroKernel6xColumns`, or its C version.
@inline(__always)
func f32GemmColumns(kLen: Int, columns: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                    ldc: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, first: Bool, last: Bool, bounds: ActivationBounds) {
    #if arch(x86_64) && !SPRUCE_FMA
    if avx2FMAKernels {
        spruce_f32_gemm_6xn_avx2_fma(kLen, columns, a, b, c, ldc, rows.lowerBound, rows.upperBound, bias, first ? 1 : 0,
                                     last ? 1 : 0, bounds.lower, bounds.upper)
        return
    }
    #endif
    f32GemmMicroKernel6xColumns(kLen: kLen, columns: columns, a: a, b: b, c: c, ldc: ldc, rows: rows, bias: bias, first: first,
                                last: last, bounds: bounds)
}

/// `sparseRowAccumulate`, or its C version.
@inline(__always)
func sparseRow<W: SparseWeight>(_ row: SparseRunRow<W>, length: Int, dst: UnsafeMutablePointer<Float>,
                                scale: Float, bias: Float, bounds: ActivationBounds) {
    #if arch(x86_64) && !SPRUCE_FMA
    if avx2FMAKernels {
        let weights = UnsafeRawPointer(row.weights)
        if W.self == Int8.self {
            spruce_sparse_row_qc8w_avx2_fma(row.count, row.columns, row.table, weights.assumingMemoryBound(to: Int8.self),
                                            row.base, length, dst, scale, bias, bounds.lower, bounds.upper)
        } else {
            spruce_sparse_row_f32_avx2_fma(row.count, row.columns, row.table, weights.assumingMemoryBound(to: Float.self),
                                           row.base, length, dst, scale, bias, bounds.lower, bounds.upper)
        }
        return
    }
    #endif
    sparseRowAccumulate(row, length: length, dst: dst, RowEpilogue(scale: scale, bias: bias, bounds: bounds))
}

/// `dwconvWide3x3`, or its C version.
@inline(__always)
func dwconvWide3x3Tile(base: UnsafePointer<Float>, taps: UnsafePointer<Int>, weights: UnsafePointer<Float>,
                       length: Int, dst: UnsafeMutablePointer<Float>, bias: Float, bounds: ActivationBounds) {
    #if arch(x86_64) && !SPRUCE_FMA
    if avx2FMAKernels {
        spruce_dwconv_wide_3x3_avx2_fma(base, taps, weights, length, dst, bias, bounds.lower, bounds.upper)
        return
    }
    #endif
    dwconvWide3x3(base: base, taps: taps, weights: weights, length: length, dst: dst, bias: bias, bounds: bounds)
}

/// `dwconv3x3s1Plane`, or its C version.
@inline(__always)
func dwconv3x3s1PlaneTile(padded: UnsafePointer<Float>, pitch: Int, height: Int, width: Int, weights: UnsafePointer<Float>,
                          bias: Float, bounds: ActivationBounds, out: UnsafeMutablePointer<Float>) {
    #if arch(x86_64) && !SPRUCE_FMA
    if avx2FMAKernels {
        spruce_dwconv_3x3s1_plane_avx2_fma(padded, pitch, height, width, weights, bias, bounds.lower, bounds.upper, out)
        return
    }
    #endif
    dwconv3x3s1Plane(padded: padded, pitch: pitch, height: height, width: width, weights: weights, bias: bias,
                     bounds: bounds, out: out)
}
