// AVX-512 VNNI int8 micro-kernels (`vpdpbusd`: unsigned 8-bit activations x signed 8-bit weights,
// 4 products summed into each int32 lane, no saturation). The packed layout, the output stage and
// the meaning of every argument are in include/CMicroKernels.h; the Swift reference
// `Int8Reference` defines the results and the tests compare the two bit for bit.
//
// The functions carry their instruction set in `__attribute__((target(...)))` so that the rest of
// the package builds for the baseline CPU; Swift calls them only after smm_i8_vnni512_available().
#include "CMicroKernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// The output stage must round exactly like the Swift reference: no fused multiply-adds.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "Int8Output.h"

int smm_i8_vnni512_available(void) {
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the ZMM and opmask state (XCR0).
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

/// Four activation bytes a[0..3] in every 32-bit lane.
SMM_INLINE SMM_VNNI512 __m512i broadcast4(const uint8_t *a) {
    int32_t v;
    memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
}

/// The rows x panels tile; `rows` and `panels` are compile-time constants at every call site, so
/// the accumulators stay in registers (6 x 4 = 24 zmm, plus 4 weight vectors and 1 broadcast).
/// With `o` the accumulators go through the output stage, else to c as int32.
SMM_INLINE SMM_VNNI512 void tile(const int rows, const int panels, const uint8_t *a, size_t lda,
                                 const int8_t *b, size_t panelBytes, int kGroups, int32_t *c, size_t ldc,
                                 const smm_i8_output *o) {
    __m512i acc[SMM_I8_TILE_MAX_ROWS][SMM_I8_TILE_MAX_PANELS];
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < panels; q++) acc[i][q] = _mm512_setzero_si512();
    for (int g = 0; g < kGroups; g++) {
        __m512i w[SMM_I8_TILE_MAX_PANELS];
        for (int q = 0; q < panels; q++)
            w[q] = _mm512_loadu_si512((const void *)(b + (size_t)q * panelBytes + (size_t)g * 64));
        for (int i = 0; i < rows; i++) {
            const __m512i x = broadcast4(a + (size_t)i * lda + (size_t)g * 4);
            for (int q = 0; q < panels; q++) acc[i][q] = _mm512_dpbusd_epi32(acc[i][q], x, w[q]);
        }
    }
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < panels; q++) {
            if (o) store_output(acc[i][q], i, q, b + (size_t)q * panelBytes, o);
            else _mm512_storeu_si512((void *)(c + (size_t)i * ldc + (size_t)q * 16), acc[i][q]);
        }
}

typedef void (*tile_fn)(const uint8_t *, size_t, const int8_t *, size_t, int, int32_t *, size_t,
                        const smm_i8_output *);

#define SMM_TILE_FN(R, P)                                                                          \
    static SMM_VNNI512 void tile_##R##x##P(const uint8_t *a, size_t lda, const int8_t *b, size_t pb,  \
                                           int kg, int32_t *c, size_t ldc, const smm_i8_output *o) {  \
        tile(R, P, a, lda, b, pb, kg, c, ldc, o);                                                  \
    }
#define SMM_TILE_ROW(R) SMM_TILE_FN(R, 1) SMM_TILE_FN(R, 2) SMM_TILE_FN(R, 3) SMM_TILE_FN(R, 4)
SMM_TILE_ROW(1)
SMM_TILE_ROW(2)
SMM_TILE_ROW(3)
SMM_TILE_ROW(4)
SMM_TILE_ROW(5)
SMM_TILE_ROW(6)

#define SMM_TILE_ENTRY(R) { tile_##R##x1, tile_##R##x2, tile_##R##x3, tile_##R##x4 }
static const tile_fn tiles[SMM_I8_TILE_MAX_ROWS][SMM_I8_TILE_MAX_PANELS] = {
    SMM_TILE_ENTRY(1), SMM_TILE_ENTRY(2), SMM_TILE_ENTRY(3),
    SMM_TILE_ENTRY(4), SMM_TILE_ENTRY(5), SMM_TILE_ENTRY(6),
};

void smm_i8_vnni512_tile(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                         int panels, int kGroups, int32_t *c, size_t ldc) {
    if (rows < 1 || rows > SMM_I8_TILE_MAX_ROWS || panels < 1 || panels > SMM_I8_TILE_MAX_PANELS) return;
    tiles[rows - 1][panels - 1](a, lda, b, panelBytes, kGroups, c, ldc, NULL);
}

void smm_i8_vnni512_tile_output(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                                int panels, int kGroups, const smm_i8_output *o) {
    if (rows < 1 || rows > SMM_I8_TILE_MAX_ROWS || panels < 1 || panels > SMM_I8_TILE_MAX_PANELS || !o) return;
    tiles[rows - 1][panels - 1](a, lda, b, panelBytes, kGroups, NULL, 0, o);
}

/// One row against `P` panels, k unrolled by two (2 x P independent accumulator chains); raw to c,
/// or through the output stage (`o`, its columns counted from `firstPanel`).
SMM_INLINE SMM_VNNI512 void gemv_panels(const int P, const uint8_t *a, const int8_t *b, size_t panelBytes,
                                        int kGroups, int32_t *c, const smm_i8_output *o, int firstPanel) {
    __m512i acc0[4], acc1[4];
    for (int q = 0; q < P; q++) {
        acc0[q] = _mm512_setzero_si512();
        acc1[q] = _mm512_setzero_si512();
    }
    int g = 0;
    for (; g + 2 <= kGroups; g += 2) {
        const __m512i x0 = broadcast4(a + (size_t)g * 4);
        const __m512i x1 = broadcast4(a + (size_t)g * 4 + 4);
        for (int q = 0; q < P; q++) {
            const int8_t *w = b + (size_t)q * panelBytes + (size_t)g * 64;
            acc0[q] = _mm512_dpbusd_epi32(acc0[q], x0, _mm512_loadu_si512((const void *)w));
            acc1[q] = _mm512_dpbusd_epi32(acc1[q], x1, _mm512_loadu_si512((const void *)(w + 64)));
        }
    }
    if (g < kGroups) {
        const __m512i x0 = broadcast4(a + (size_t)g * 4);
        for (int q = 0; q < P; q++) {
            const int8_t *w = b + (size_t)q * panelBytes + (size_t)g * 64;
            acc0[q] = _mm512_dpbusd_epi32(acc0[q], x0, _mm512_loadu_si512((const void *)w));
        }
    }
    for (int q = 0; q < P; q++) {
        const __m512i sum = _mm512_add_epi32(acc0[q], acc1[q]);
        if (o) store_output(sum, 0, firstPanel + q, b + (size_t)q * panelBytes, o);
        else _mm512_storeu_si512((void *)(c + (size_t)q * 16), sum);
    }
}

static SMM_VNNI512 void gemv4(const uint8_t *a, const int8_t *b, size_t pb, int kg, int32_t *c,
                              const smm_i8_output *o, int firstPanel) {
    gemv_panels(4, a, b, pb, kg, c, o, firstPanel);
}
static SMM_VNNI512 void gemv1(const uint8_t *a, const int8_t *b, size_t pb, int kg, int32_t *c,
                              const smm_i8_output *o, int firstPanel) {
    gemv_panels(1, a, b, pb, kg, c, o, firstPanel);
}

static void gemv(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels, int kGroups, int32_t *c,
                 const smm_i8_output *o) {
    int p = 0;
    for (; p + 4 <= panels; p += 4)
        gemv4(a, b + (size_t)p * panelBytes, panelBytes, kGroups, c ? c + (size_t)p * 16 : NULL, o, p);
    for (; p < panels; p++)
        gemv1(a, b + (size_t)p * panelBytes, panelBytes, kGroups, c ? c + (size_t)p * 16 : NULL, o, p);
}

void smm_i8_vnni512_gemv(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels, int kGroups,
                         int32_t *c) {
    gemv(a, b, panelBytes, panels, kGroups, c, NULL);
}

void smm_i8_vnni512_gemv_output(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels, int kGroups,
                                const smm_i8_output *o) {
    if (o) gemv(a, b, panelBytes, panels, kGroups, NULL, o);
}

#else  // not x86-64: no kernels; Swift uses its portable path and never calls these.

int smm_i8_vnni512_available(void) { return 0; }

void smm_i8_vnni512_tile(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                         int panels, int kGroups, int32_t *c, size_t ldc) {
    (void)a; (void)lda; (void)rows; (void)b; (void)panelBytes; (void)panels; (void)kGroups; (void)c; (void)ldc;
}

void smm_i8_vnni512_tile_output(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                                int panels, int kGroups, const smm_i8_output *o) {
    (void)a; (void)lda; (void)rows; (void)b; (void)panelBytes; (void)panels; (void)kGroups; (void)o;
}

void smm_i8_vnni512_gemv(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels, int kGroups,
                         int32_t *c) {
    (void)a; (void)b; (void)panelBytes; (void)panels; (void)kGroups; (void)c;
}

void smm_i8_vnni512_gemv_output(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels, int kGroups,
                                const smm_i8_output *o) {
    (void)a; (void)b; (void)panelBytes; (void)panels; (void)kGroups; (void)o;
}

#endif
