// Element-wise loops in AVX-512, 16 lanes at a time. GELU: the same operations, constants and
// order as Swift's `Activations.geluErf` / `geluTanh` over `FastMath.erf` / `tanh` / `exp` (Float8
// lanes), so the results are the same bits; the tests compare the two on every kind of input.
// Softmax: the same exp as `FastMath.exp` per element (the same bits), its sum in 16 lanes (Swift
// sums in 8), so a row agrees with `Softmax.row`'s Swift loop to a few ulps, not bit for bit. Floating-point
// contraction is off: each product and sum rounds on its own, as in Swift. Swift's lane selects
// (`replace(with:where:)`) become masked moves, so NaN passes the clamps as it does there.
#include "CMicroKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SMM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define SMM_INLINE static inline __attribute__((always_inline))

SMM_INLINE SMM_AVX512 __m512 set(float v) { return _mm512_set1_ps(v); }
SMM_INLINE SMM_AVX512 __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
SMM_INLINE SMM_AVX512 __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
SMM_INLINE SMM_AVX512 __m512 sub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }

/// v with lanes above hi set to hi and lanes below lo set to lo (NaN kept).
SMM_INLINE SMM_AVX512 __m512 clamp(__m512 v, float lo, float hi) {
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, set(hi), _CMP_GT_OQ), set(hi));
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, set(lo), _CMP_LT_OQ), set(lo));
}

/// FastMath.erf: a rational approximation on [-4, 4].
SMM_INLINE SMM_AVX512 __m512 erf16(__m512 x) {
    const __m512 v = clamp(x, -4, 4);
    const __m512 x2 = mul(v, v);
    __m512 p = set(-2.72614225801306e-10f);
    p = add(mul(p, x2), set(2.77068142495902e-08f));
    p = add(mul(p, x2), set(-2.10102402082508e-06f));
    p = add(mul(p, x2), set(-5.69250639462346e-05f));
    p = add(mul(p, x2), set(-7.34990630326855e-04f));
    p = add(mul(p, x2), set(-2.95459980854025e-03f));
    p = add(mul(p, x2), set(-1.60960333262415e-02f));
    p = mul(p, v);
    __m512 q = set(-1.45660718464996e-05f);
    q = add(mul(q, x2), set(-2.13374055278905e-04f));
    q = add(mul(q, x2), set(-1.68282697438203e-03f));
    q = add(mul(q, x2), set(-7.37332916720468e-03f));
    q = add(mul(q, x2), set(-1.42647390514189e-02f));
    return _mm512_div_ps(p, q);
}

/// FastMath.exp: Cody-Waite reduction and a degree-6 polynomial.
SMM_INLINE SMM_AVX512 __m512 exp16(__m512 x) {
    const __m512 v = clamp(x, -87.3365478515625f, 88.3762626647949f);
    const __m512 magic = set(12582912.0f);
    const __m512 t = add(mul(v, set(1.44269504088896341f)), magic);
    const __m512 n = sub(t, magic);
    __m512 r = sub(v, mul(n, set(0.693359375f)));
    r = sub(r, mul(n, set(-2.12194440e-4f)));
    __m512 p = set(1.9875691500e-4f);
    p = add(mul(p, r), set(1.3981999507e-3f));
    p = add(mul(p, r), set(8.3334519073e-3f));
    p = add(mul(p, r), set(4.1665795894e-2f));
    p = add(mul(p, r), set(1.6666665459e-1f));
    p = add(mul(p, r), set(5.0000001201e-1f));
    const __m512 r2 = mul(r, r);
    const __m512 er = add(add(mul(p, r2), r), set(1));
    const __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000));
    const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    return mul(er, scale);
}

/// FastMath.tanh: 1 - 2 / (e^(2x) + 1) on [-9, 9].
SMM_INLINE SMM_AVX512 __m512 tanh16(__m512 x) {
    const __m512 v = clamp(x, -9, 9);
    const __m512 e = exp16(add(v, v));
    return sub(set(1), _mm512_div_ps(set(2), add(e, set(1))));
}

/// 0.5 x (1 + erf(x * 0.70710678)).
SMM_INLINE SMM_AVX512 __m512 gelu_erf16(__m512 v) {
    return mul(mul(set(0.5f), v), add(set(1), erf16(mul(v, set(0.70710678118654752f)))));
}

/// 0.5 x (1 + tanh(c (x + 0.044715 x^3))).
SMM_INLINE SMM_AVX512 __m512 gelu_tanh16(__m512 v) {
    const __m512 cube = mul(mul(mul(set(0.044715f), v), v), v);
    return mul(mul(set(0.5f), v), add(set(1), tanh16(mul(set(0.7978845608028654f), add(v, cube)))));
}

/// Softmax of x[0 ..< valid] in place (max subtracted, FastMath.exp, divided by the sum), x[valid
/// ..< count] set to 0; valid <= 0 zeroes the row.
static SMM_AVX512 void softmax_row(float *x, int count, int valid) {
    const int n = valid < count ? valid : count;
    if (n <= 0) {
        for (int i = 0; i < count; i++) x[i] = 0;
        return;
    }
    // The max: a NaN never wins a comparison, as in Swift.
    __m512 lanes = set(-__builtin_inff());
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        lanes = _mm512_mask_mov_ps(lanes, _mm512_cmp_ps_mask(v, lanes, _CMP_GT_OQ), v);
    }
    float l[16];
    _mm512_storeu_ps(l, lanes);
    float m = x[0];
    for (int j = 0; j < 16; j++) if (l[j] > m) m = l[j];
    for (; i < n; i++) if (x[i] > m) m = x[i];
    const __m512 mv = set(m);
    __m512 acc = _mm512_setzero_ps();
    i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = exp16(sub(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        acc = add(acc, e);
    }
    if (i < n) {
        const __mmask16 mask = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 e = exp16(sub(_mm512_maskz_loadu_ps(mask, x + i), mv));
        _mm512_mask_storeu_ps(x + i, mask, e);
        acc = _mm512_mask_add_ps(acc, mask, acc, e);
    }
    const float sum = _mm512_reduce_add_ps(acc);
    const __m512 inv = set(1 / sum);
    i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, mul(_mm512_loadu_ps(x + i), inv));
    if (i < n) {
        const __mmask16 mask = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(x + i, mask, mul(_mm512_maskz_loadu_ps(mask, x + i), inv));
    }
    for (int j = n; j < count; j++) x[j] = 0;
}

void smm_softmax_row(float *x, int count, int valid) {
    if (x && count > 0 && smm_gelu_available()) softmax_row(x, count, valid);
}

int smm_gelu_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl");
}

static SMM_AVX512 void gelu(float *x, size_t count, int tanhForm) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(x + i, tanhForm ? gelu_tanh16(v) : gelu_erf16(v));
    }
    if (i < count) {
        const __mmask16 m = (__mmask16)((1u << (count - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(x + i, m, tanhForm ? gelu_tanh16(v) : gelu_erf16(v));
    }
}

void smm_gelu_erf(float *x, size_t count) {
    if (x && smm_gelu_available()) gelu(x, count, 0);
}

void smm_gelu_tanh(float *x, size_t count) {
    if (x && smm_gelu_available()) gelu(x, count, 1);
}

#else  // not x86-64: Swift's loops run.

int smm_gelu_available(void) { return 0; }
void smm_gelu_erf(float *x, size_t count) { (void)x; (void)count; }
void smm_gelu_tanh(float *x, size_t count) { (void)x; (void)count; }
void smm_softmax_row(float *x, int count, int valid) { (void)x; (void)count; (void)valid; }

#endif
