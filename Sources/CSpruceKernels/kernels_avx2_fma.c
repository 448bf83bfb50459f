// AVX2 + FMA versions of the runtime's innermost loops. Each mirrors its Swift twin's blocking
// (named in spruce_kernels.h) so the two differ only in instruction selection: a plain
// `swift build` targets baseline x86-64 (SSE2, no FMA) and cannot select these itself, because
// Swift has no per-function target attribute and SwiftPM forbids -target-cpu in dependencies.
// Clang's target attribute compiles just these functions for AVX2 + FMA; spruce_kernels_isa()
// checks the CPU before the runtime calls any of them.
#include "spruce_kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

static int detect_isa(void) {
    const char *forced = getenv("SPRUCE_KERNELS");
    if (forced && strcmp(forced, "portable") == 0) return SPRUCE_KERNELS_PORTABLE;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return SPRUCE_KERNELS_PORTABLE;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && osxsave && avx)) return SPRUCE_KERNELS_PORTABLE;
    unsigned xcr0, xcr0High;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(xcr0High) : "c"(0));
    if ((xcr0 & 6) != 6) return SPRUCE_KERNELS_PORTABLE; // the OS saves XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return SPRUCE_KERNELS_PORTABLE;
    return ((b >> 5) & 1) ? SPRUCE_KERNELS_AVX2_FMA : SPRUCE_KERNELS_PORTABLE;
}

int spruce_kernels_isa(void) {
    // Racing first calls compute the same answer; an int store is atomic on x86-64.
    static volatile int cached = -1;
    int isa = cached;
    if (isa < 0) cached = isa = detect_isa();
    return isa;
}

#define AVX2_FMA __attribute__((target("avx2,fma")))
#define INLINE_AVX2_FMA static inline __attribute__((always_inline, target("avx2,fma")))

INLINE_AVX2_FMA __m256 clamp8(__m256 v, __m256 lo, __m256 hi) {
    // max/min return their second operand when either is NaN, so a NaN in v stays NaN, as in Swift.
    return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

AVX2_FMA void spruce_f32_gemm_6xn_avx2_fma(long k, long n, const float *a, const float *b, float *c, long ldc,
                                           long rowStart, long rowEnd, const float *bias, int first, int last,
                                           float lower, float upper) {
    float start[4][8];
    memset(start, 0, sizeof start);
    if (n > 4) n = 4;
    for (long j = 0; j < n; j++)
        for (long r = rowStart; r < rowEnd; r++) start[j][r] = first ? (bias ? bias[r] : 0) : c[r * ldc + j];
    __m128 top[4], bottom[4];
    for (int j = 0; j < 4; j++) {
        top[j] = _mm_loadu_ps(start[j]);
        bottom[j] = _mm_loadu_ps(start[j] + 4);
    }
    for (long i = 0; i < k; i++) {
        const __m128 a4 = _mm_loadu_ps(a), a2 = _mm_castpd_ps(_mm_load_sd((const double *)(a + 4)));
        for (int j = 0; j < 4; j++) {
            const __m128 bv = _mm_set1_ps(b[j]);
            top[j] = _mm_fmadd_ps(a4, bv, top[j]);
            bottom[j] = _mm_fmadd_ps(a2, bv, bottom[j]);
        }
        a += 6;
        b += 16;
    }
    const __m128 lo = _mm_set1_ps(lower), hi = _mm_set1_ps(upper);
    for (long j = 0; j < n; j++) {
        if (last) {
            top[j] = _mm_min_ps(hi, _mm_max_ps(lo, top[j]));
            bottom[j] = _mm_min_ps(hi, _mm_max_ps(lo, bottom[j]));
        }
        _mm_storeu_ps(start[j], top[j]);
        _mm_storeu_ps(start[j] + 4, bottom[j]);
        for (long r = rowStart; r < rowEnd; r++) c[r * ldc + j] = start[j][r];
    }
}

AVX2_FMA void spruce_f32_gemm_6x16_avx2_fma(long k, const float *a, const float *b, float *c, long ldc, long rows,
                                            const float *bias, int first, int last, float lower, float upper) {
    __m256 acc[6][2];
    for (int r = 0; r < 6; r++) {
        if (r >= rows) {
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        } else if (!first) {
            acc[r][0] = _mm256_loadu_ps(c + r * ldc);
            acc[r][1] = _mm256_loadu_ps(c + r * ldc + 8);
        } else {
            acc[r][0] = acc[r][1] = bias ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps();
        }
    }
    for (long i = 0; i < k; i++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int r = 0; r < 6; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        a += 6;
        b += 16;
    }
    const __m256 lo = _mm256_set1_ps(lower), hi = _mm256_set1_ps(upper);
    for (int r = 0; r < rows && r < 6; r++) {
        if (last) {
            acc[r][0] = clamp8(acc[r][0], lo, hi);
            acc[r][1] = clamp8(acc[r][1], lo, hi);
        }
        _mm256_storeu_ps(c + r * ldc, acc[r][0]);
        _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
}

// MARK: - Sparse rows

typedef struct {
    long count;
    const uint32_t *columns;
    const int32_t *table;
    const void *weights;
    int int8;
    const float *base;
    __m256 scale, bias, lower, upper;
} sparse_row;

INLINE_AVX2_FMA float row_weight(const sparse_row *r, long t) {
    return r->int8 ? (float)((const int8_t *)r->weights)[t] : ((const float *)r->weights)[t];
}

INLINE_AVX2_FMA const float *row_run(const sparse_row *r, long t, long at) {
    return r->base + r->table[r->columns[t]] + at;
}

INLINE_AVX2_FMA void row_store(const sparse_row *r, __m256 sum, float *p) {
    _mm256_storeu_ps(p, clamp8(_mm256_fmadd_ps(sum, r->scale, r->bias), r->lower, r->upper));
}

// `vectors` SIMD8 outputs from `at` (vector v at at + 8v, or, for v >= 4, at `second` + 8(v - 4)),
// with the non-zeros dealt round-robin over `sets` accumulator sets so that at least six FMA
// chains are in flight. Called with constants only, so clang unrolls it into registers.
INLINE_AVX2_FMA void sparse_block(const sparse_row *r, long at, long second, float *dst, int vectors, int sets) {
    __m256 acc[4][8];
    for (int s = 0; s < sets; s++)
        for (int v = 0; v < vectors; v++) acc[s][v] = _mm256_setzero_ps();
    long offset[8];
    for (int v = 0; v < vectors; v++) offset[v] = v < 4 ? at + 8 * v : second + 8 * (v - 4);
    long t = 0;
    for (; t + sets <= r->count; t += sets) {
        for (int s = 0; s < sets; s++) {
            const float *src = row_run(r, t + s, 0);
            const __m256 w = _mm256_set1_ps(row_weight(r, t + s));
            for (int v = 0; v < vectors; v++)
                acc[s][v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(src + offset[v]), acc[s][v]);
        }
    }
    for (; t < r->count; t++) {
        const float *src = row_run(r, t, 0);
        const __m256 w = _mm256_set1_ps(row_weight(r, t));
        for (int v = 0; v < vectors; v++) acc[0][v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(src + offset[v]), acc[0][v]);
    }
    for (int v = 0; v < vectors; v++) {
        __m256 sum = acc[0][v];
        if (sets == 2) sum = _mm256_add_ps(acc[0][v], acc[1][v]);
        if (sets == 4) sum = _mm256_add_ps(_mm256_add_ps(acc[0][v], acc[1][v]), _mm256_add_ps(acc[2][v], acc[3][v]));
        row_store(r, sum, dst + offset[v]);
    }
}

INLINE_AVX2_FMA void block64(const sparse_row *r, long at, float *dst) { sparse_block(r, at, at + 32, dst, 8, 1); }
INLINE_AVX2_FMA void block32(const sparse_row *r, long at, float *dst) { sparse_block(r, at, 0, dst, 4, 2); }
INLINE_AVX2_FMA void block24(const sparse_row *r, long at, float *dst) { sparse_block(r, at, 0, dst, 3, 2); }
INLINE_AVX2_FMA void block16(const sparse_row *r, long at, float *dst) { sparse_block(r, at, 0, dst, 2, 4); }
INLINE_AVX2_FMA void block8(const sparse_row *r, long at, float *dst) { sparse_block(r, at, 0, dst, 1, 4); }

INLINE_AVX2_FMA void sparse_row_accumulate(const sparse_row *r, long length, float *dst, float scale, float bias,
                                           float lower, float upper) {
    if (length < 8) {
        for (long j = 0; j < length; j++) {
            float a[4] = {0, 0, 0, 0};
            long t = 0;
            for (; t + 4 <= r->count; t += 4)
                for (int s = 0; s < 4; s++) a[s] += row_weight(r, t + s) * row_run(r, t + s, j)[0];
            for (; t < r->count; t++) a[0] += row_weight(r, t) * row_run(r, t, j)[0];
            const float x = ((a[0] + a[1]) + (a[2] + a[3])) * scale + bias;
            dst[j] = x < lower ? lower : (x > upper ? upper : x);
        }
        return;
    }
    long j = 0;
    for (; j + 64 <= length; j += 64) block64(r, j, dst);
    const long rest = length - j;
    if (rest == 0) return;
    if (j > 0) {
        // After a 64-wide block the last block moves back to end at `length`.
        const long vectors = (rest + 7) / 8, at = length - vectors * 8;
        switch (vectors) {
        case 1: block8(r, at, dst); break;
        case 2: block16(r, at, dst); break;
        case 3: block24(r, at, dst); break;
        case 4: block32(r, at, dst); break;
        default: block64(r, length - 64, dst); break;
        }
        return;
    }
    switch (length / 8) {
    case 1: block8(r, 0, dst); break;
    case 2: block16(r, 0, dst); break;
    case 3: block24(r, 0, dst); break;
    case 4: block32(r, 0, dst); break;
    default: sparse_block(r, 0, length - 32, dst, 8, 1); return; // [0, 32) and [length - 32, length)
    }
    if (length % 8 != 0) block8(r, length - 8, dst);
}

#define SPARSE_ROW(name, type, is_int8)                                                                     \
    AVX2_FMA void name(long count, const uint32_t *columns, const int32_t *table, const type *weights,     \
                       const float *base, long length, float *dst, float scale, float bias, float lower,   \
                       float upper) {                                                                       \
        const sparse_row r = {count, columns, table, weights, is_int8, base, _mm256_set1_ps(scale),         \
                              _mm256_set1_ps(bias), _mm256_set1_ps(lower), _mm256_set1_ps(upper)};          \
        sparse_row_accumulate(&r, length, dst, scale, bias, lower, upper);                                  \
    }
SPARSE_ROW(spruce_sparse_row_f32_avx2_fma, float, 0)
SPARSE_ROW(spruce_sparse_row_qc8w_avx2_fma, int8_t, 1)

// MARK: - Depthwise

AVX2_FMA void spruce_dwconv_wide_3x3_avx2_fma(const float *base, const long *taps, const float *weights,
                                              long length, float *dst, float bias, float lower, float upper) {
    const float *p[9];
    __m256 w[9];
    for (int i = 0; i < 9; i++) {
        p[i] = base + taps[i];
        w[i] = _mm256_set1_ps(weights[i]);
    }
    const __m256 vb = _mm256_set1_ps(bias), lo = _mm256_set1_ps(lower), hi = _mm256_set1_ps(upper);
    long j = 0;
    while (j + 16 <= length) {
        __m256 a = vb, b = vb;
        for (int i = 0; i < 9; i++) {
            a = _mm256_fmadd_ps(w[i], _mm256_loadu_ps(p[i] + j), a);
            b = _mm256_fmadd_ps(w[i], _mm256_loadu_ps(p[i] + j + 8), b);
        }
        _mm256_storeu_ps(dst + j, clamp8(a, lo, hi));
        _mm256_storeu_ps(dst + j + 8, clamp8(b, lo, hi));
        j += 16;
        // A tail of 1-15 outputs: one more block moved back to end at `length`.
        if (j < length && j + 16 > length) j = length - 16;
    }
    for (; j < length; j++) {
        float s = bias;
        for (int i = 0; i < 9; i++) s += weights[i] * p[i][j];
        dst[j] = s < lower ? lower : (s > upper ? upper : s);
    }
}

AVX2_FMA void spruce_dwconv_3x3s1_plane_avx2_fma(const float *padded, long pitch, long height, long width,
                                                 const float *weights, float bias, float lower, float upper, float *out) {
    __m256 w[9];
    for (int i = 0; i < 9; i++) w[i] = _mm256_set1_ps(weights[i]);
    const __m256 vb = _mm256_set1_ps(bias), lo = _mm256_set1_ps(lower), hi = _mm256_set1_ps(upper);
    for (long oy = 0; oy < height; oy++) {
        const float *r[3] = {padded + oy * pitch, padded + (oy + 1) * pitch, padded + (oy + 2) * pitch};
        float *dst = out + oy * width;
        for (long x = 0;; x += 8) {
            if (x > width - 8) x = width - 8;  /* the last block moved back to end at the row's end */
            __m256 a = vb;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) a = _mm256_fmadd_ps(w[ky * 3 + kx], _mm256_loadu_ps(r[ky] + x + kx), a);
            _mm256_storeu_ps(dst + x, clamp8(a, lo, hi));
            if (x == width - 8) break;
        }
    }
}

#else

int spruce_kernels_isa(void) { return SPRUCE_KERNELS_PORTABLE; }

#endif
