// The int8 output stage in AVX-512, shared by the VNNI (Int8VNNI.c) and AMX (Int8AMX.c) kernels:
// y = ((float(acc) - zp * columnSum) * rowScale + outliers) * columnScale + bias, in exactly the
// order of `Int8Reference.output` (the including file turns floating-point contraction off).
// Private to CMicroKernels (not in include/).
#ifndef SMM_INT8_OUTPUT_H
#define SMM_INT8_OUTPUT_H

#include "CMicroKernels.h"

#include <immintrin.h>
#include <string.h>

#define SMM_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define SMM_INLINE static inline __attribute__((always_inline))

/// The output stage (smm_i8_output) for row i of the block and its panel q, whose weights start
/// at `panel`.
SMM_INLINE SMM_VNNI512 void store_output(__m512i acc, int i, int q, const int8_t *panel, const smm_i8_output *o) {
    const int col0 = 16 * q, left = o->columns - col0;
    if (left <= 0) return;
    const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
    __m512 y = _mm512_cvtepi32_ps(acc);
    y = _mm512_sub_ps(y, _mm512_mul_ps(_mm512_set1_ps(o->rowZeroPoint[i]), _mm512_loadu_ps(o->columnSum + col0)));
    y = _mm512_mul_ps(y, _mm512_set1_ps(o->rowScale[i]));
    __m512 r = _mm512_setzero_ps();
    const int count = o->outlierCount[i];
    const int32_t *index = o->outlierIndex + (size_t)i * (size_t)o->outlierStride;
    const float *value = o->outlierValue + (size_t)i * (size_t)o->outlierStride;
    for (int t = 0; t < count; t++) {
        // Column k of the 16 weights: byte k % 4 of every lane of group k / 4, sign-extended.
        const int k = index[t];
        __m512i w = _mm512_loadu_si512((const void *)(panel + (size_t)(k >> 2) * 64));
        w = _mm512_srai_epi32(_mm512_sll_epi32(w, _mm_cvtsi32_si128(24 - 8 * (k & 3))), 24);
        r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_set1_ps(value[t]), _mm512_cvtepi32_ps(w)));
    }
    y = _mm512_add_ps(y, r);
    y = _mm512_mul_ps(y, _mm512_loadu_ps(o->columnScale + col0));
    if (o->bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, o->bias + col0));
    _mm512_mask_storeu_ps(o->out + (size_t)i * o->ldo + col0, mask, y);
}

#endif
