// AVX-512 fp32 matrix micro-kernel on prepacked weights: one 48-column panel of C = A B + bias.
// OpenBLAS repacks the weight matrix on every sgemm call (a fifth of BERT's time); packing once at
// load and running this kernel instead is what ONNX Runtime's MLAS does too. The packed layout and
// the exact result are stated in include/CMicroKernels.h; the Swift reference `PackedF32Reference`
// defines the result (the same fused multiply-adds in the same order) and the tests compare the
// two bit for bit.
//
// The function carries its instruction set in `__attribute__((target(...)))` so that the package
// builds for the baseline CPU; Swift calls it only after smm_f32_avx512_available().
#include "CMicroKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define SMM_AVX512F __attribute__((target("avx512f,fma")))
#define SMM_INLINE static inline __attribute__((always_inline))

int smm_f32_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

/// Rows R (1...8) of A times the panel: 3 zmm accumulators per row (48 columns), started from the
/// bias (or 0), then one fused multiply-add per k in k order. With `prefetch`, the panel is fetched
/// 16 k-steps ahead: only the first row block of a panel reads it from memory, the next ones find
/// it in cache and would only pay for the extra instructions.
SMM_INLINE SMM_AVX512F void block(const int prefetch, const int R, const float *a, size_t lda,
                                  const float *panel, int depth, const float *bias, float *c, size_t ldc,
                                  __mmask16 m0, __mmask16 m1, __mmask16 m2) {
    __m512 acc[SMM_F32_BLOCK_ROWS][3];
    const __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
    const __m512 b2 = bias ? _mm512_loadu_ps(bias + 32) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) { acc[r][0] = b0; acc[r][1] = b1; acc[r][2] = b2; }
    int k = 0;
    for (; k + 4 <= depth; k += 4) {
        for (int u = 0; u < 4; u++) {
            const float *p = panel + (size_t)(k + u) * SMM_F32_PANEL_COLUMNS;
            if (prefetch) {
                _mm_prefetch((const char *)(p + 16 * SMM_F32_PANEL_COLUMNS), _MM_HINT_T0);
                _mm_prefetch((const char *)(p + 16 * SMM_F32_PANEL_COLUMNS + 16), _MM_HINT_T0);
                _mm_prefetch((const char *)(p + 16 * SMM_F32_PANEL_COLUMNS + 32), _MM_HINT_T0);
            }
            const __m512 w0 = _mm512_load_ps(p), w1 = _mm512_load_ps(p + 16), w2 = _mm512_load_ps(p + 32);
            for (int r = 0; r < R; r++) {
                const __m512 x = _mm512_set1_ps(a[(size_t)r * lda + (size_t)(k + u)]);
                acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(x, w2, acc[r][2]);
            }
        }
    }
    for (; k < depth; k++) {
        const float *p = panel + (size_t)k * SMM_F32_PANEL_COLUMNS;
        const __m512 w0 = _mm512_load_ps(p), w1 = _mm512_load_ps(p + 16), w2 = _mm512_load_ps(p + 32);
        for (int r = 0; r < R; r++) {
            const __m512 x = _mm512_set1_ps(a[(size_t)r * lda + (size_t)k]);
            acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(x, w2, acc[r][2]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *row = c + (size_t)r * ldc;
        _mm512_mask_storeu_ps(row, m0, acc[r][0]);
        _mm512_mask_storeu_ps(row + 16, m1, acc[r][1]);
        _mm512_mask_storeu_ps(row + 32, m2, acc[r][2]);
    }
}

#define SMM_BLOCK_CASE(R) \
    case R: if (first) block(1, R, a, lda, panel, depth, bias, c, ldc, m0, m1, m2); \
            else block(0, R, a, lda, panel, depth, bias, c, ldc, m0, m1, m2); break;

SMM_AVX512F void smm_f32_avx512_panel(const float *a, size_t lda, int rows, const float *panel, int depth,
                                      const float *bias, float *c, size_t ldc, int columns) {
    if (rows <= 0 || columns <= 0) return;
    const int cols = columns > SMM_F32_PANEL_COLUMNS ? SMM_F32_PANEL_COLUMNS : columns;
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xFFFF : (1u << cols) - 1u);
    const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (1u << (cols - 16)) - 1u);
    const __mmask16 m2 = (__mmask16)(cols >= 48 ? 0xFFFF : cols <= 32 ? 0 : (1u << (cols - 32)) - 1u);
    for (int i = 0; i < rows; i += SMM_F32_BLOCK_ROWS) {
        const int first = i == 0;
        const int r = rows - i < SMM_F32_BLOCK_ROWS ? rows - i : SMM_F32_BLOCK_ROWS;
        const float *ai = a + (size_t)i * lda;
        float *ci = c + (size_t)i * ldc;
        // Each case is a fully unrolled block; `a`, `c` are advanced here so the macro stays short.
        {
            const float *a = ai;
            float *c = ci;
            switch (r) {
                SMM_BLOCK_CASE(1) SMM_BLOCK_CASE(2) SMM_BLOCK_CASE(3) SMM_BLOCK_CASE(4)
                SMM_BLOCK_CASE(5) SMM_BLOCK_CASE(6) SMM_BLOCK_CASE(7) SMM_BLOCK_CASE(8)
                default: break;
            }
        }
    }
}

#else

int smm_f32_avx512_available(void) { return 0; }

void smm_f32_avx512_panel(const float *a, size_t lda, int rows, const float *panel, int depth,
                          const float *bias, float *c, size_t ldc, int columns) {
    (void)a; (void)lda; (void)rows; (void)panel; (void)depth; (void)bias; (void)c; (void)ldc; (void)columns;
}

#endif
