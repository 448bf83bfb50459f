// The runtime's innermost loops compiled for one instruction set each and chosen at run time by
// CPU (see Sources/SpruceRuntime/Kernels/KernelCatalog.swift, "ISA dispatch"). Each function has
// a Swift twin with the same name minus the ISA suffix; the twins are what every build without
// the ISA runs, and what the tests compare these with. Not API: the runtime calls them only after
// spruce_kernels_isa() said the CPU has the instruction set.
#ifndef SPRUCE_KERNELS_H
#define SPRUCE_KERNELS_H

#include <stdint.h>

/// Instruction sets with kernels here. Portable: none, use the Swift kernels.
#define SPRUCE_KERNELS_PORTABLE 0
/// x86-64 with AVX2 and FMA (Haswell, Zen and later), enabled by the OS (XSAVE of the YMM state).
#define SPRUCE_KERNELS_AVX2_FMA 1

/// The best instruction set this CPU and this build have kernels for. SPRUCE_KERNELS=portable in
/// the environment forces the Swift kernels. Cheap after the first call; thread-safe.
int spruce_kernels_isa(void);

/// The 6x16 GEMM register tile (twin: f32GemmMicroKernel6x16). a: k x 6 packed, b: k x 16 packed;
/// c: 6 rows of 16 at row stride ldc, of which only the first `rows` are read (with their bias)
/// and stored. first: start from bias (or zero) instead of c; last: clamp to [lower, upper] before
/// storing.
void spruce_f32_gemm_6x16_avx2_fma(long k, const float *a, const float *b, float *c, long ldc, long rows,
                                   const float *bias, int first, int last, float lower, float upper);

/// Columns 0..<n (n <= 4) of the 6x16 tile (twin: f32GemmMicroKernel6xColumns): a and b as for the
/// tile (b's row stride 16, zero-padded past n); only rows rowStart..<rowEnd of c are read and stored.
void spruce_f32_gemm_6xn_avx2_fma(long k, long n, const float *a, const float *b, float *c, long ldc,
                                  long rowStart, long rowEnd, const float *bias, int first, int last,
                                  float lower, float upper);

/// One sparse row (twin: sparseRowAccumulate): dst[j] = clamp(scale * sum_t w_t * run_t[j] + bias)
/// for j < length, where run_t = base + table[columns[t]]. Weights are f32 or int8 (unscaled).
/// Every run must be readable for length floats.
void spruce_sparse_row_f32_avx2_fma(long count, const uint32_t *columns, const int32_t *table,
                                    const float *weights, const float *base, long length, float *dst,
                                    float scale, float bias, float lower, float upper);
void spruce_sparse_row_qc8w_avx2_fma(long count, const uint32_t *columns, const int32_t *table,
                                     const int8_t *weights, const float *base, long length, float *dst,
                                     float scale, float bias, float lower, float upper);

/// Nine 3x3 depthwise taps over one channel's wide grid (twin: dwconvWide3x3):
/// dst[j] = clamp(bias + sum_i weights[i] * base[taps[i] + j]) for j < length.
void spruce_dwconv_wide_3x3_avx2_fma(const float *base, const long *taps, const float *weights,
                                     long length, float *dst, float bias, float lower, float upper);

/// One channel of a 3x3 stride-1 depthwise conv from its zero-bordered plane (twin:
/// dwconv3x3s1Plane): height rows of width ≥ 8 outputs, input row pitch `pitch`.
void spruce_dwconv_3x3s1_plane_avx2_fma(const float *padded, long pitch, long height, long width,
                                        const float *weights, float bias, float lower, float upper, float *out);

#endif
