// AMX int8 micro-kernel (`tdpbusd`: unsigned 8-bit activations x signed 8-bit weights, int32
// accumulators, no saturation: the same integers as `vpdpbusd`, so `Int8Reference` defines the
// result bit for bit, as it does for the VNNI kernels).
//
// The packed "VNNI 16x4" weight layout (include/CMicroKernels.h) is already what a B tile wants:
// 16 consecutive 64-byte groups of one panel are one 16-row x 64-byte tile (K = 64 inputs of 16
// columns), loaded with a stride of 64 bytes. An A tile is 16 activation rows x 64 bytes.
//
// Tiles: tmm0..3 accumulators (C[rows 0-15 | 16-31] x [panel 0 | 1]), tmm4/5 two A tiles,
// tmm6/7 two B tiles: a 32 x 32 block per pass over K, four `tdpbusd` per four tile loads.
// Each block's int32 results go through a 4 KiB buffer on the stack into the shared AVX-512
// output stage (Int8Output.h), row by row.
//
// Linux hands AMX state to a process only after it asks (arch_prctl ARCH_REQ_XCOMP_PERM), once;
// smm_i8_amx_available() asks. Every call loads its own tile configuration and releases the
// tiles at its end, so no tile state outlives a call or crosses threads.
#include "CMicroKernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "Int8Output.h"
#include "AMXTiles.h"

#define SMM_AMX_INT8 __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni")))

int smm_i8_amx_available(void) {
#if defined(__linux__)
    static int answer = -1;  // read and written atomically: any thread may ask first
    const int known = __atomic_load_n(&answer, __ATOMIC_ACQUIRE);
    if (known >= 0) return known;
    __builtin_cpu_init();
    int ok = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8")
        && smm_i8_vnni512_available();
    if (ok) {
        ok = smm_amx_request_tiles();
    }
    __atomic_store_n(&answer, ok, __ATOMIC_RELEASE);
    return ok;
#else
    return 0;
#endif
}

/// One block: rows of A at `a` (h1 > 0: two A tiles) against one or two panels (`two`), K in
/// steps of 64 bytes; the int32 results to buf[32][32].
SMM_INLINE SMM_AMX_INT8 void block(const int twoRowTiles, const int two, const uint8_t *a, size_t lda,
                                   const int8_t *b0, const int8_t *b1, int kGroups, int32_t *buf) {
    _tile_zero(0);
    if (two) _tile_zero(1);
    if (twoRowTiles) {
        _tile_zero(2);
        if (two) _tile_zero(3);
    }
    const uint8_t *a1 = a + 16 * lda;
    for (int g = 0; g < kGroups; g += 16) {
        _tile_loadd(4, a + (size_t)g * 4, (long)lda);
        _tile_loadd(6, b0 + (size_t)g * 64, 64);
        _tile_dpbusd(0, 4, 6);
        if (two) {
            _tile_loadd(7, b1 + (size_t)g * 64, 64);
            _tile_dpbusd(1, 4, 7);
        }
        if (twoRowTiles) {
            _tile_loadd(5, a1 + (size_t)g * 4, (long)lda);
            _tile_dpbusd(2, 5, 6);
            if (two) _tile_dpbusd(3, 5, 7);
        }
    }
    _tile_stored(0, buf, 128);
    if (two) _tile_stored(1, buf + 16, 128);
    if (twoRowTiles) {
        _tile_stored(2, buf + 16 * 32, 128);
        if (two) _tile_stored(3, buf + 16 * 32 + 16, 128);
    }
}

static SMM_AMX_INT8 void block_2x2(const uint8_t *a, size_t lda, const int8_t *b0, const int8_t *b1, int kg,
                                   int32_t *buf) {
    block(1, 1, a, lda, b0, b1, kg, buf);
}
static SMM_AMX_INT8 void block_2x1(const uint8_t *a, size_t lda, const int8_t *b0, const int8_t *b1, int kg,
                                   int32_t *buf) {
    block(1, 0, a, lda, b0, b1, kg, buf);
}
static SMM_AMX_INT8 void block_1x2(const uint8_t *a, size_t lda, const int8_t *b0, const int8_t *b1, int kg,
                                   int32_t *buf) {
    block(0, 1, a, lda, b0, b1, kg, buf);
}
static SMM_AMX_INT8 void block_1x1(const uint8_t *a, size_t lda, const int8_t *b0, const int8_t *b1, int kg,
                                   int32_t *buf) {
    block(0, 0, a, lda, b0, b1, kg, buf);
}

/// rows x panels through the tiles; each block's results raw to c (int32, row stride ldc) or,
/// with `o`, through the output stage.
static SMM_AMX_INT8 void gemm(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                              int panels, int kGroups, int32_t *c, size_t ldc, const smm_i8_output *o) {
    int32_t buf[32 * 32] __attribute__((aligned(64)));
    int configured0 = -1, configured1 = -1;
    for (int p = 0; p < panels; p += 2) {
        const int two = panels - p >= 2;
        const int8_t *b0 = b + (size_t)p * panelBytes, *b1 = b0 + panelBytes;
        for (int r = 0; r < rows; r += 32) {
            const int h = rows - r < 32 ? rows - r : 32;
            const int h0 = h < 16 ? h : 16, h1 = h - h0;
            if (h0 != configured0 || h1 != configured1) {
                smm_amx_configure(h0, h1);
                configured0 = h0;
                configured1 = h1;
            }
            const uint8_t *ar = a + (size_t)r * lda;
            if (h1 > 0) {
                if (two) block_2x2(ar, lda, b0, b1, kGroups, buf);
                else block_2x1(ar, lda, b0, b1, kGroups, buf);
            } else {
                if (two) block_1x2(ar, lda, b0, b1, kGroups, buf);
                else block_1x1(ar, lda, b0, b1, kGroups, buf);
            }
            for (int i = 0; i < h; i++)
                for (int q = 0; q <= two; q++) {
                    const __m512i acc = _mm512_load_si512((const void *)(buf + i * 32 + q * 16));
                    if (o) store_output(acc, r + i, p + q, b + (size_t)(p + q) * panelBytes, o);
                    else _mm512_storeu_si512((void *)(c + (size_t)(r + i) * ldc + (size_t)(p + q) * 16), acc);
                }
        }
    }
    _tile_release();
}

static int amx_shape_ok(const uint8_t *a, size_t lda, int rows, const int8_t *b, int panels, int kGroups) {
    return a && b && rows >= 1 && panels >= 1 && kGroups >= 16 && kGroups % 16 == 0 && lda >= (size_t)kGroups * 4
        && lda <= 65535 && smm_i8_amx_available();
}

void smm_i8_amx_gemm(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes, int panels,
                     int kGroups, int32_t *c, size_t ldc) {
    if (!c || !amx_shape_ok(a, lda, rows, b, panels, kGroups)) return;
    gemm(a, lda, rows, b, panelBytes, panels, kGroups, c, ldc, NULL);
}

void smm_i8_amx_gemm_output(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                            int panels, int kGroups, const smm_i8_output *o) {
    if (!o || !amx_shape_ok(a, lda, rows, b, panels, kGroups)) return;
    gemm(a, lda, rows, b, panelBytes, panels, kGroups, NULL, 0, o);
}

#else  // not x86-64: no AMX; Swift never calls these.

int smm_i8_amx_available(void) { return 0; }

void smm_i8_amx_gemm(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes, int panels,
                     int kGroups, int32_t *c, size_t ldc) {
    (void)a; (void)lda; (void)rows; (void)b; (void)panelBytes; (void)panels; (void)kGroups; (void)c; (void)ldc;
}

void smm_i8_amx_gemm_output(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                            int panels, int kGroups, const smm_i8_output *o) {
    (void)a; (void)lda; (void)rows; (void)b; (void)panelBytes; (void)panels; (void)kGroups; (void)o;
}

#endif
