// Fused bidirectional attention for one (sequence, head) in f32 AVX-512: for each block of 8
// queries, the scores against every valid key (8 x keys, in L1/L2), the softmax of each row
// (`smm_softmax_row`), and the value product, without an s x s matrix or a BLAS call. The keys of
// the head are first copied transposed (d x keys) so that 16 keys fill one vector.
//   scores[i][j] = scale * sum_c q[i][c] k[j][c]   (c in order, fused multiply-adds)
//   out[i][c]    = sum_{j < valid} softmax(scores[i])[j] v[j][c]   (j in order)
// The Swift path (`Attention.bidirectional` through OpenBLAS) sums in other orders; the tests hold
// the two within 1e-5 of a double-precision reference.
#include "CMicroKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define SMM_ATT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define SMM_INLINE static inline __attribute__((always_inline))

/// Queries per block.
#define ATT_ROWS 8

int smm_attention_f32_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}

size_t smm_attention_f32_scratch(int valid, int d) {
    const size_t keys = ((size_t)valid + 31) / 32 * 32;
    return (size_t)d * keys + ATT_ROWS * keys;
}

/// scores[r][j0 .. j0 + 32) for `rows` (compile-time at each call) queries.
SMM_INLINE SMM_ATT void scoreTile(const int rows, const float *q, size_t ld, const float *kt, size_t keys, int d,
                                  float scale, float *s, int j0) {
    __m512 acc[ATT_ROWS][2];
    for (int r = 0; r < rows; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (int c = 0; c < d; c++) {
        const __m512 k0 = _mm512_loadu_ps(kt + (size_t)c * keys + j0), k1 = _mm512_loadu_ps(kt + (size_t)c * keys + j0 + 16);
        for (int r = 0; r < rows; r++) {
            const __m512 x = _mm512_set1_ps(q[(size_t)r * ld + c]);
            acc[r][0] = _mm512_fmadd_ps(x, k0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, k1, acc[r][1]);
        }
    }
    const __m512 sv = _mm512_set1_ps(scale);
    for (int r = 0; r < rows; r++) {
        _mm512_storeu_ps(s + (size_t)r * keys + j0, _mm512_mul_ps(acc[r][0], sv));
        _mm512_storeu_ps(s + (size_t)r * keys + j0 + 16, _mm512_mul_ps(acc[r][1], sv));
    }
}

/// out rows r0 ..< r0 + 4 (or fewer: `rows`) = P (rows x valid) V, d = 16 * dv (dv <= 4).
SMM_INLINE SMM_ATT void valueTile(const int rows, const int dv, const float *p, size_t keys, const float *v, size_t ld,
                                  int valid, float *out, size_t ldo) {
    __m512 acc[4][4];
    for (int r = 0; r < rows; r++)
        for (int x = 0; x < dv; x++) acc[r][x] = _mm512_setzero_ps();
    for (int j = 0; j < valid; j++) {
        __m512 row[4];
        for (int x = 0; x < dv; x++) row[x] = _mm512_loadu_ps(v + (size_t)j * ld + 16 * x);
        for (int r = 0; r < rows; r++) {
            const __m512 w = _mm512_set1_ps(p[(size_t)r * keys + j]);
            for (int x = 0; x < dv; x++) acc[r][x] = _mm512_fmadd_ps(w, row[x], acc[r][x]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int x = 0; x < dv; x++) _mm512_storeu_ps(out + (size_t)r * ldo + 16 * x, acc[r][x]);
}

SMM_INLINE SMM_ATT void values(const int dv, const float *p, size_t keys, const float *v, size_t ld, int valid,
                               int rows, float *out, size_t ldo) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) valueTile(4, dv, p + (size_t)r * keys, keys, v, ld, valid, out + (size_t)r * ldo, ldo);
    switch (rows - r) {
    case 3: valueTile(3, dv, p + (size_t)r * keys, keys, v, ld, valid, out + (size_t)r * ldo, ldo); break;
    case 2: valueTile(2, dv, p + (size_t)r * keys, keys, v, ld, valid, out + (size_t)r * ldo, ldo); break;
    case 1: valueTile(1, dv, p + (size_t)r * keys, keys, v, ld, valid, out + (size_t)r * ldo, ldo); break;
    default: break;
    }
}

SMM_ATT void smm_attention_f32(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                               int t, int valid, int d, float scale, float *scratch) {
    if (t <= 0 || valid <= 0 || d <= 0 || d % 16 != 0 || d > 64) return;
    const size_t keys = ((size_t)valid + 31) / 32 * 32;
    float *kt = scratch, *s = scratch + (size_t)d * keys;
    // Keys transposed, zero past `valid` (their scores are never read: softmax covers `valid`).
    for (int c = 0; c < d; c++) {
        float *row = kt + (size_t)c * keys;
        for (int j = 0; j < valid; j++) row[j] = k[(size_t)j * ld + c];
        for (size_t j = (size_t)valid; j < keys; j++) row[j] = 0;
    }
    for (int i0 = 0; i0 < t; i0 += ATT_ROWS) {
        const int rows = t - i0 < ATT_ROWS ? t - i0 : ATT_ROWS;
        const float *qi = q + (size_t)i0 * ld;
        for (int j0 = 0; j0 < (int)keys; j0 += 32) {
            if (rows == ATT_ROWS) scoreTile(ATT_ROWS, qi, ld, kt, keys, d, scale, s, j0);
            else {
                switch (rows) {
                case 7: scoreTile(7, qi, ld, kt, keys, d, scale, s, j0); break;
                case 6: scoreTile(6, qi, ld, kt, keys, d, scale, s, j0); break;
                case 5: scoreTile(5, qi, ld, kt, keys, d, scale, s, j0); break;
                case 4: scoreTile(4, qi, ld, kt, keys, d, scale, s, j0); break;
                case 3: scoreTile(3, qi, ld, kt, keys, d, scale, s, j0); break;
                case 2: scoreTile(2, qi, ld, kt, keys, d, scale, s, j0); break;
                default: scoreTile(1, qi, ld, kt, keys, d, scale, s, j0); break;
                }
            }
        }
        for (int r = 0; r < rows; r++) smm_softmax_row(s + (size_t)r * keys, valid, valid);
        float *oi = out + (size_t)i0 * ldo;
        switch (d / 16) {
        case 1: values(1, s, keys, v, ld, valid, rows, oi, ldo); break;
        case 2: values(2, s, keys, v, ld, valid, rows, oi, ldo); break;
        case 3: values(3, s, keys, v, ld, valid, rows, oi, ldo); break;
        default: values(4, s, keys, v, ld, valid, rows, oi, ldo); break;
        }
    }
}

#else

int smm_attention_f32_available(void) { return 0; }
size_t smm_attention_f32_scratch(int valid, int d) { (void)valid; (void)d; return 0; }
void smm_attention_f32(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                       int t, int valid, int d, float scale, float *scratch) {
    (void)q; (void)k; (void)v; (void)ld; (void)out; (void)ldo; (void)t; (void)valid; (void)d; (void)scale; (void)scratch;
}

#endif
