// bf16 micro-kernels: bf16 activations x bf16 weights, products exact in f32, accumulated in f32.
// AVX512_BF16 (`vdpbf16ps`, Zen 4 and Sapphire Rapids) in register tiles of up to 6 rows x 4
// panels, and AMX-BF16 (`tdpbf16ps`, Sapphire Rapids and later) in 32 x 32 tile blocks. The
// layout and arguments are in include/CMicroKernels.h; the Swift reference `BF16Reference`
// defines the result (the exact sum of the products, within the f32 accumulation bound that the
// tests hold every kernel to; the kernels differ from it, and from each other, only in the order
// of their f32 additions).
#include "CMicroKernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#include "AMXTiles.h"

#define SMM_BF16_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define SMM_AMX_BF16 __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))

int smm_bf16_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

int smm_bf16_amx_available(void) {
    static int answer = -1;  // read and written atomically: any thread may ask first
    const int known = __atomic_load_n(&answer, __ATOMIC_ACQUIRE);
    if (known >= 0) return known;
    __builtin_cpu_init();
    int ok = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16")
        && smm_bf16_avx512_available();
    if (ok) ok = smm_amx_request_tiles();
    __atomic_store_n(&answer, ok, __ATOMIC_RELEASE);
    return ok;
}

/// acc + bias for the 16 columns of panel q (columns counted from the call's first), masked to
/// the call's `columns`, stored to row `out`.
SMM_INLINE SMM_BF16_512 void store_row(__m512 acc, int q, const float *bias, int columns, float *out) {
    const int col0 = 16 * q, left = columns - col0;
    if (left <= 0) return;
    const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
    if (bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, bias + col0));
    _mm512_mask_storeu_ps(out + col0, mask, acc);
}

// ---- Rounding activations ---------------------------------------------------------------------

/// bf16 bits of each float: round to nearest, ties to even, on the integer bits (no DAZ/FTZ, unlike
/// vcvtneps2bf16), NaN kept a quiet NaN; exactly `f32ToBF16Bits` (SMMFormat), 16 at a time.
static SMM_BF16_512 void round_avx512(const float *x, size_t count, uint16_t *out) {
    const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet = _mm512_set1_epi32(0x0040);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m512i bits = _mm512_loadu_si512((const void *)(x + i));
        const __m512i high = _mm512_srli_epi32(bits, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(half, _mm512_and_si512(high, one))), 16);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, absMask), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(high, quiet));
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(r));
    }
    for (; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) out[i] = (uint16_t)((bits >> 16) | 0x0040);
        else out[i] = (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    }
}

void smm_bf16_round(const float *x, size_t count, uint16_t *out) {
    if (!x || !out || !smm_bf16_avx512_available()) return;
    round_avx512(x, count, out);
}

// ---- AVX512_BF16 ----------------------------------------------------------------------------

/// A rows x panels register tile (compile-time sizes at every call site: up to 24 accumulators).
SMM_INLINE SMM_BF16_512 void tile(const int rows, const int panels, const uint16_t *a, size_t lda,
                                  const uint16_t *b, size_t panelBytes, int kPairs, const float *bias,
                                  int columns, float *out, size_t ldo) {
    __m512 acc[6][4];
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < panels; q++) acc[i][q] = _mm512_setzero_ps();
    const size_t panelHalves = panelBytes / 2;
    for (int g = 0; g < kPairs; g++) {
        __m512i w[4];
        for (int q = 0; q < panels; q++)
            w[q] = _mm512_loadu_si512((const void *)(b + (size_t)q * panelHalves + (size_t)g * 32));
        for (int i = 0; i < rows; i++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)i * lda + (size_t)g * 2, 4);
            const __m512i x = _mm512_set1_epi32(pair);
            for (int q = 0; q < panels; q++)
                acc[i][q] = _mm512_dpbf16_ps(acc[i][q], (__m512bh)x, (__m512bh)w[q]);
        }
    }
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < panels; q++) store_row(acc[i][q], q, bias, columns, out + (size_t)i * ldo);
}

typedef void (*bf16_tile_fn)(const uint16_t *, size_t, const uint16_t *, size_t, int, const float *, int, float *,
                             size_t);

#define SMM_BF16_TILE_FN(R, P)                                                                                \
    static SMM_BF16_512 void tile_##R##x##P(const uint16_t *a, size_t lda, const uint16_t *b, size_t pb, int kp, \
                                            const float *bias, int columns, float *out, size_t ldo) {         \
        tile(R, P, a, lda, b, pb, kp, bias, columns, out, ldo);                                               \
    }
#define SMM_BF16_TILE_ROW(R) SMM_BF16_TILE_FN(R, 1) SMM_BF16_TILE_FN(R, 2) SMM_BF16_TILE_FN(R, 3) SMM_BF16_TILE_FN(R, 4)
SMM_BF16_TILE_ROW(1)
SMM_BF16_TILE_ROW(2)
SMM_BF16_TILE_ROW(3)
SMM_BF16_TILE_ROW(4)
SMM_BF16_TILE_ROW(5)
SMM_BF16_TILE_ROW(6)

#define SMM_BF16_TILE_ENTRY(R) { tile_##R##x1, tile_##R##x2, tile_##R##x3, tile_##R##x4 }
static const bf16_tile_fn bf16_tiles[6][4] = {
    SMM_BF16_TILE_ENTRY(1), SMM_BF16_TILE_ENTRY(2), SMM_BF16_TILE_ENTRY(3),
    SMM_BF16_TILE_ENTRY(4), SMM_BF16_TILE_ENTRY(5), SMM_BF16_TILE_ENTRY(6),
};

static int bf16_shape_ok(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes, int panels,
                         int kPairs, int columns, const float *out, size_t ldo) {
    return a && b && out && rows >= 1 && panels >= 1 && kPairs >= 16 && kPairs % 16 == 0
        && panelBytes == (size_t)kPairs * 64 && lda >= (size_t)kPairs * 2 && columns >= 1
        && columns <= 16 * panels && ldo >= (size_t)columns;
}

void smm_bf16_avx512_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes, int panels,
                          int kPairs, const float *bias, int columns, float *out, size_t ldo) {
    if (!bf16_shape_ok(a, lda, rows, b, panelBytes, panels, kPairs, columns, out, ldo)) return;
    for (int p = 0; p < panels; p += 4) {
        const int count = panels - p < 4 ? panels - p : 4;
        const uint16_t *bp = b + (size_t)p * (panelBytes / 2);
        const float *bb = bias ? bias + 16 * p : NULL;
        const int cols = columns - 16 * p;
        for (int r = 0; r < rows; r += 6) {
            const int h = rows - r < 6 ? rows - r : 6;
            bf16_tiles[h - 1][count - 1](a + (size_t)r * lda, lda, bp, panelBytes, kPairs, bb, cols,
                                         out + (size_t)r * ldo + 16 * p, ldo);
        }
    }
}

// ---- AMX-BF16 -------------------------------------------------------------------------------

/// One 32 x 32 block (or part: twoRowTiles, two panels), K in tiles of 32 values (16 pairs); the
/// f32 results to buf[32][32].
SMM_INLINE SMM_AMX_BF16 void amx_block(const int twoRowTiles, const int two, const uint16_t *a, size_t lda,
                                       const uint16_t *b0, const uint16_t *b1, int kPairs, float *buf) {
    _tile_zero(0);
    if (two) _tile_zero(1);
    if (twoRowTiles) {
        _tile_zero(2);
        if (two) _tile_zero(3);
    }
    const long stride = (long)(lda * 2);
    const uint16_t *a1 = a + 16 * lda;
    for (int g = 0; g < kPairs; g += 16) {
        _tile_loadd(4, a + (size_t)g * 2, stride);
        _tile_loadd(6, b0 + (size_t)g * 32, 64);
        _tile_dpbf16ps(0, 4, 6);
        if (two) {
            _tile_loadd(7, b1 + (size_t)g * 32, 64);
            _tile_dpbf16ps(1, 4, 7);
        }
        if (twoRowTiles) {
            _tile_loadd(5, a1 + (size_t)g * 2, stride);
            _tile_dpbf16ps(2, 5, 6);
            if (two) _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, buf, 128);
    if (two) _tile_stored(1, buf + 16, 128);
    if (twoRowTiles) {
        _tile_stored(2, buf + 16 * 32, 128);
        if (two) _tile_stored(3, buf + 16 * 32 + 16, 128);
    }
}

static SMM_AMX_BF16 void amx_block_2x2(const uint16_t *a, size_t lda, const uint16_t *b0, const uint16_t *b1,
                                       int kp, float *buf) {
    amx_block(1, 1, a, lda, b0, b1, kp, buf);
}
static SMM_AMX_BF16 void amx_block_2x1(const uint16_t *a, size_t lda, const uint16_t *b0, const uint16_t *b1,
                                       int kp, float *buf) {
    amx_block(1, 0, a, lda, b0, b1, kp, buf);
}
static SMM_AMX_BF16 void amx_block_1x2(const uint16_t *a, size_t lda, const uint16_t *b0, const uint16_t *b1,
                                       int kp, float *buf) {
    amx_block(0, 1, a, lda, b0, b1, kp, buf);
}
static SMM_AMX_BF16 void amx_block_1x1(const uint16_t *a, size_t lda, const uint16_t *b0, const uint16_t *b1,
                                       int kp, float *buf) {
    amx_block(0, 0, a, lda, b0, b1, kp, buf);
}

static SMM_AMX_BF16 void amx_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes,
                                   int panels, int kPairs, const float *bias, int columns, float *out, size_t ldo) {
    float buf[32 * 32] __attribute__((aligned(64)));
    int configured0 = -1, configured1 = -1;
    const size_t panelHalves = panelBytes / 2;
    for (int p = 0; p < panels; p += 2) {
        const int two = panels - p >= 2;
        const uint16_t *b0 = b + (size_t)p * panelHalves, *b1 = b0 + panelHalves;
        for (int r = 0; r < rows; r += 32) {
            const int h = rows - r < 32 ? rows - r : 32;
            const int h0 = h < 16 ? h : 16, h1 = h - h0;
            if (h0 != configured0 || h1 != configured1) {
                smm_amx_configure(h0, h1);
                configured0 = h0;
                configured1 = h1;
            }
            const uint16_t *ar = a + (size_t)r * lda;
            if (h1 > 0) {
                if (two) amx_block_2x2(ar, lda, b0, b1, kPairs, buf);
                else amx_block_2x1(ar, lda, b0, b1, kPairs, buf);
            } else {
                if (two) amx_block_1x2(ar, lda, b0, b1, kPairs, buf);
                else amx_block_1x1(ar, lda, b0, b1, kPairs, buf);
            }
            for (int i = 0; i < h; i++)
                for (int q = 0; q <= two; q++)
                    store_row(_mm512_load_ps(buf + i * 32 + q * 16), p + q, bias, columns,
                              out + (size_t)(r + i) * ldo);
        }
    }
    _tile_release();
}

void smm_bf16_amx_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes, int panels,
                       int kPairs, const float *bias, int columns, float *out, size_t ldo) {
    if (!bf16_shape_ok(a, lda, rows, b, panelBytes, panels, kPairs, columns, out, ldo) || lda * 2 > 65535
        || !smm_bf16_amx_available())
        return;
    amx_gemm(a, lda, rows, b, panelBytes, panels, kPairs, bias, columns, out, ldo);
}

#else  // not x86-64: no bf16 kernels; Swift keeps bf16 models in f32 there.

int smm_bf16_avx512_available(void) { return 0; }
int smm_bf16_amx_available(void) { return 0; }

void smm_bf16_round(const float *x, size_t count, uint16_t *out) { (void)x; (void)count; (void)out; }

void smm_bf16_avx512_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes, int panels,
                          int kPairs, const float *bias, int columns, float *out, size_t ldo) {
    (void)a; (void)lda; (void)rows; (void)b; (void)panelBytes; (void)panels; (void)kPairs; (void)bias;
    (void)columns; (void)out; (void)ldo;
}

void smm_bf16_amx_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes, int panels,
                       int kPairs, const float *bias, int columns, float *out, size_t ldo) {
    (void)a; (void)lda; (void)rows; (void)b; (void)panelBytes; (void)panels; (void)kPairs; (void)bias;
    (void)columns; (void)out; (void)ldo;
}

#endif
