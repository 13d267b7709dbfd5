// 4-bit block weights against int8 activations with AVX-512 VNNI (`vpdpbusd`: the unsigned 4-bit
// codes x the signed activation bytes, 4 products summed into each int32 lane). The packed layout
// and the exact result are stated in include/CMicroKernels.h; the Swift reference `Q4Reference`
// computes the same floats in the same order and the tests compare the two bit for bit.
//
// Decode is bound by reading the weights: one 64-byte line holds 128 weights of 16 outputs, and
// costs one load, three integer operations and two `vpdpbusd` per row. Each block of 32 inputs
// ends with one fused multiply-add per row into 16 float accumulators (one per output).
#include "CMicroKernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// Only the explicit fused multiply-add of the result's definition; nothing else fused.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SMM_Q4 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")))
#define SMM_INLINE static inline __attribute__((always_inline))

/// Largest number of rows one pass over a panel serves.
#define Q4_ROWS 4
/// Bytes ahead of the current block that are prefetched (the stream runs on into the next panel).
#ifndef Q4_PREFETCH
#define Q4_PREFETCH 2048
#endif

int smm_q4_vnni512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")
        && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
}

/// Four activation bytes in every 32-bit lane.
SMM_INLINE SMM_Q4 __m512i broadcast4(const int8_t *a) {
    int32_t v;
    memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
}

/// `rows` (a compile-time constant at every call site) rows against one panel.
SMM_INLINE SMM_Q4 void panel(const int rows, const int8_t *a, size_t lda, const float *as, const int32_t *asum,
                             size_t lds, const uint8_t *w, const uint16_t *ws, int blocks, const float *bias,
                             float *out, size_t ldo, int columns) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    __m512 acc[Q4_ROWS];
    for (int i = 0; i < rows; i++) acc[i] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *wb = w + (size_t)b * 256;
        __m512i even[Q4_ROWS], odd[Q4_ROWS];
        for (int i = 0; i < rows; i++) { even[i] = _mm512_setzero_si512(); odd[i] = _mm512_setzero_si512(); }
        for (int h = 0; h < 4; h++) {
            _mm_prefetch((const char *)(wb + Q4_PREFETCH + h * 64), _MM_HINT_T0);
            const __m512i v = _mm512_loadu_si512((const void *)(wb + h * 64));
            const __m512i lo = _mm512_and_si512(v, low);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            for (int i = 0; i < rows; i++) {
                const int8_t *x = a + (size_t)i * lda + (size_t)b * 32 + h * 8;
                even[i] = _mm512_dpbusd_epi32(even[i], lo, broadcast4(x));
                odd[i] = _mm512_dpbusd_epi32(odd[i], hi, broadcast4(x + 4));
            }
        }
        const __m512 sw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ws + (size_t)b * 16)));
        for (int i = 0; i < rows; i++) {
            __m512i dot = _mm512_add_epi32(even[i], odd[i]);
            dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(8 * asum[(size_t)i * lds + b]));
            const __m512 scale = _mm512_mul_ps(sw, _mm512_set1_ps(as[(size_t)i * lds + b]));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
        }
    }
    const __mmask16 m = columns >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << columns) - 1);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
    for (int i = 0; i < rows; i++) {
        const __m512 y = bias ? _mm512_add_ps(acc[i], bv) : acc[i];
        _mm512_mask_storeu_ps(out + (size_t)i * ldo, m, y);
    }
}

/// `Q4Linear.quantizeRow` in AVX-512, bit for bit: per block of 32, amax = max |x|; when it is
/// positive and every x finite, inverse = 127 / amax, y = x * inverse, code = trunc(y) plus one step
/// away from zero when the exact remainder is at least 1/2, clamped to ±127; scale = amax / 127.
/// Otherwise codes 0 and scale 0 (all zero) or NaN (a NaN or infinity).
static SMM_Q4 void quantize_row(const float *x, int k, int8_t *q, float *scales, int32_t *sums) {
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff);
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    for (int b = 0; b < k / 32; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        const __mmask16 bad = _mm512_cmp_ps_mask(_mm512_sub_ps(v0, v0), zero, _CMP_NEQ_UQ)
                            | _mm512_cmp_ps_mask(_mm512_sub_ps(v1, v1), zero, _CMP_NEQ_UQ);
        const __m512 a0 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v0), absMask));
        const __m512 a1 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v1), absMask));
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        if (bad || !(amax > 0)) {
            memset(q + 32 * b, 0, 32);
            sums[b] = 0;
            scales[b] = bad ? __builtin_nanf("") : 0.0f;
            continue;
        }
        const __m512 inverse = _mm512_set1_ps(127.0f / amax);
        __m512i codes[2];
        const __m512 v[2] = {v0, v1};
        for (int h = 0; h < 2; h++) {
            const __m512 y = _mm512_mul_ps(v[h], inverse);
            const __m512 t = _mm512_roundscale_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 r = _mm512_sub_ps(y, t);
            __m512 c = _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(r, half, _CMP_GE_OQ), t, one);
            c = _mm512_mask_sub_ps(c, _mm512_cmp_ps_mask(r, _mm512_sub_ps(zero, half), _CMP_LE_OQ), c, one);
            c = _mm512_min_ps(_mm512_max_ps(c, lo), hi);
            codes[h] = _mm512_cvttps_epi32(c);
        }
        _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtepi32_epi8(codes[0]));
        _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(codes[1]));
        sums[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(codes[0], codes[1]));
        scales[b] = amax / 127.0f;
    }
}

SMM_Q4 void smm_q4_vnni512_gemm(const int8_t *a, size_t lda, const float *aScale, const int32_t *aSum, size_t lds,
                                int rows, const uint8_t *w, const uint16_t *scales, int blocks, int panels,
                                const float *bias, float *out, size_t ldo, int columns) {
    const size_t panelBytes = (size_t)blocks * 256, panelScales = (size_t)blocks * 16;
    for (int q = 0; q < panels; q++) {
        const int cols = columns - 16 * q < 16 ? columns - 16 * q : 16;
        if (cols <= 0) break;
        const uint8_t *wq = w + (size_t)q * panelBytes;
        const uint16_t *sq = scales + (size_t)q * panelScales;
        const float *bq = bias ? bias + 16 * q : NULL;
        float *oq = out + 16 * q;
        int i = 0;
        for (; i + Q4_ROWS <= rows; i += Q4_ROWS)
            panel(Q4_ROWS, a + (size_t)i * lda, lda, aScale + (size_t)i * lds, aSum + (size_t)i * lds, lds, wq, sq,
                  blocks, bq, oq + (size_t)i * ldo, ldo, cols);
        const int8_t *ai = a + (size_t)i * lda;
        const float *si = aScale + (size_t)i * lds;
        const int32_t *ui = aSum + (size_t)i * lds;
        float *oi = oq + (size_t)i * ldo;
        switch (rows - i) {
        case 3: panel(3, ai, lda, si, ui, lds, wq, sq, blocks, bq, oi, ldo, cols); break;
        case 2: panel(2, ai, lda, si, ui, lds, wq, sq, blocks, bq, oi, ldo, cols); break;
        case 1: panel(1, ai, lda, si, ui, lds, wq, sq, blocks, bq, oi, ldo, cols); break;
        default: break;
        }
    }
}

void smm_q4_quantize_row(const float *x, int k, int8_t *q, float *scales, int32_t *sums) {
    if (smm_q4_vnni512_available()) quantize_row(x, k, q, scales, sums);
}

#else  // not x86-64: no kernel; Swift uses `Q4Reference` and never calls this.

int smm_q4_vnni512_available(void) { return 0; }

void smm_q4_quantize_row(const float *x, int k, int8_t *q, float *scales, int32_t *sums) {
    (void)x; (void)k; (void)q; (void)scales; (void)sums;
}

void smm_q4_vnni512_gemm(const int8_t *a, size_t lda, const float *aScale, const int32_t *aSum, size_t lds,
                         int rows, const uint8_t *w, const uint16_t *scales, int blocks, int panels,
                         const float *bias, float *out, size_t ldo, int columns) {
    (void)a; (void)lda; (void)aScale; (void)aSum; (void)lds; (void)rows; (void)w; (void)scales; (void)blocks;
    (void)panels; (void)bias; (void)out; (void)ldo; (void)columns;
}

#endif
