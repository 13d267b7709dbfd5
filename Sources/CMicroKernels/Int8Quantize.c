// The loops of int8 activation quantization in AVX-512: a row's range and sum of squares, its
// outliers and range without them, and its bytes. `Int8Reference.quantizeRow` defines every result
// (the lane order of the sum of squares included) and Swift's `QuantizedLinear.quantizeRow` calls
// these in its order; the tests hold the two paths to the same bits. Floating-point contraction is
// off: each product and sum rounds on its own, as in Swift.
#include "CMicroKernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SMM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/// lo = min(0, x), hi = max(0, x) over the row; sumOfSquares = the 16 lanes' sums of x[16 t + l]^2
/// added in lane order, plus the tail's sum (from 0, in order).
static SMM_AVX512 void row_stats(const float *x, int k, float *lo, float *hi, float *sumOfSquares) {
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps(), sq = _mm512_setzero_ps();
    const int body = k - k % 16;
    int i = 0;
    for (; i < body; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        vlo = _mm512_mask_mov_ps(vlo, _mm512_cmp_ps_mask(v, vlo, _CMP_LT_OQ), v);
        vhi = _mm512_mask_mov_ps(vhi, _mm512_cmp_ps_mask(v, vhi, _CMP_GT_OQ), v);
        sq = _mm512_add_ps(sq, _mm512_mul_ps(v, v));
    }
    float l[16], h[16], s[16];
    _mm512_storeu_ps(l, vlo);
    _mm512_storeu_ps(h, vhi);
    _mm512_storeu_ps(s, sq);
    float a = l[0], b = h[0];
    for (int j = 1; j < 16; j++) {
        if (l[j] < a) a = l[j];
        if (h[j] > b) b = h[j];
    }
    float tail = 0;
    for (; i < k; i++) {
        const float v = x[i];
        if (v < a) a = v;
        if (v > b) b = v;
        tail += v * v;
    }
    float sum = s[0];
    for (int j = 1; j < 16; j++) sum += s[j];
    *lo = a;
    *hi = b;
    *sumOfSquares = sum + tail;
}

/// Outliers (|x| > threshold) in index order, the first `cap` written; returns how many there are.
/// lo and hi: min(0, ·) and max(0, ·) of the row with the outliers counted as 0.
static SMM_AVX512 int row_outliers(const float *x, int k, float threshold, int cap, int32_t *indices,
                                   float *values, float *lo, float *hi) {
    const __m512 t = _mm512_set1_ps(threshold), nt = _mm512_set1_ps(-threshold);
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    int count = 0, i = 0;
    const int body = k - k % 16;
    for (; i < body; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        const __mmask16 out = _mm512_cmp_ps_mask(v, t, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, nt, _CMP_LT_OQ);
        if (out) {
            for (int j = 0; j < 16; j++) {
                if (out & (1u << j)) {
                    if (count < cap) {
                        indices[count] = i + j;
                        values[count] = x[i + j];
                    }
                    count++;
                }
            }
            v = _mm512_mask_mov_ps(v, out, _mm512_setzero_ps());
        }
        vlo = _mm512_mask_mov_ps(vlo, _mm512_cmp_ps_mask(v, vlo, _CMP_LT_OQ), v);
        vhi = _mm512_mask_mov_ps(vhi, _mm512_cmp_ps_mask(v, vhi, _CMP_GT_OQ), v);
    }
    float l[16], h[16];
    _mm512_storeu_ps(l, vlo);
    _mm512_storeu_ps(h, vhi);
    float a = l[0], b = h[0];
    for (int j = 1; j < 16; j++) {
        if (l[j] < a) a = l[j];
        if (h[j] > b) b = h[j];
    }
    for (; i < k; i++) {
        float v = x[i];
        if (v > threshold || v < -threshold) {
            if (count < cap) {
                indices[count] = i;
                values[count] = v;
            }
            count++;
            v = 0;
        }
        if (v < a) a = v;
        if (v > b) b = v;
    }
    *lo = a;
    *hi = b;
    return count;
}

/// a[j] = roundEven(clamp(x[j] * inverse + zeroPoint, 0, 255)) as a byte, through the 1.5 * 2^23
/// trick (the low byte of the float's bits), NaN passing the clamp as in Swift.
static SMM_AVX512 void row_bytes(const float *x, int k, float inverse, float zeroPoint, uint8_t *a) {
    const __m512 inv = _mm512_set1_ps(inverse), zp = _mm512_set1_ps(zeroPoint);
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255), magic = _mm512_set1_ps(12582912.0f);
    int i = 0;
    for (; i + 16 <= k; i += 16) {
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), inv), zp);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, top, _CMP_GT_OQ), top);
        const __m512i bits = _mm512_castps_si512(_mm512_add_ps(v, magic));
        _mm_storeu_si128((__m128i *)(a + i), _mm512_cvtepi32_epi8(bits));
    }
    for (; i < k; i++) {
        float v = x[i] * inverse + zeroPoint;
        v = v < 0 ? 0 : (v > 255 ? 255 : v);
        const float r = v + 12582912.0f;
        uint32_t bits;
        memcpy(&bits, &r, 4);
        a[i] = (uint8_t)bits;
    }
}

int smm_i8_quantize_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl");
}

void smm_i8_row_stats(const float *x, int k, float *lo, float *hi, float *sumOfSquares) {
    if (!x || k < 0 || !lo || !hi || !sumOfSquares || !smm_i8_quantize_available()) return;
    row_stats(x, k, lo, hi, sumOfSquares);
}

int smm_i8_row_outliers(const float *x, int k, float threshold, int cap, int32_t *indices, float *values,
                        float *lo, float *hi) {
    if (!x || k < 0 || cap < 0 || !indices || !values || !lo || !hi || !smm_i8_quantize_available()) return 0;
    return row_outliers(x, k, threshold, cap, indices, values, lo, hi);
}

void smm_i8_row_bytes(const float *x, int k, float inverse, float zeroPoint, uint8_t *a) {
    if (!x || k < 0 || !a || !smm_i8_quantize_available()) return;
    row_bytes(x, k, inverse, zeroPoint, a);
}

#else  // not x86-64: Swift quantizes in Swift.

int smm_i8_quantize_available(void) { return 0; }

void smm_i8_row_stats(const float *x, int k, float *lo, float *hi, float *sumOfSquares) {
    (void)x; (void)k; (void)lo; (void)hi; (void)sumOfSquares;
}

int smm_i8_row_outliers(const float *x, int k, float threshold, int cap, int32_t *indices, float *values,
                        float *lo, float *hi) {
    (void)x; (void)k; (void)threshold; (void)cap; (void)indices; (void)values; (void)lo; (void)hi;
    return 0;
}

void smm_i8_row_bytes(const float *x, int k, float inverse, float zeroPoint, uint8_t *a) {
    (void)x; (void)k; (void)inverse; (void)zeroPoint; (void)a;
}

#endif
