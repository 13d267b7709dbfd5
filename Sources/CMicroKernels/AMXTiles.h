// AMX tile configuration and permission, shared by the int8 (Int8AMX.c) and bf16 (BF16.c) tile
// kernels. Private to CMicroKernels (not in include/).
//
// Both kernels use the same eight tiles: tmm0..3 accumulators (16 x 16 32-bit values: rows
// 0-15 | 16-31 of a 32-row block, times panel 0 | 1), tmm4/5 two A tiles (16 rows x 64 bytes),
// tmm6/7 two B tiles (16 rows x 64 bytes: one 64-byte group of a packed panel per row).
#ifndef SMM_AMX_TILES_H
#define SMM_AMX_TILES_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#ifndef SMM_INLINE
#define SMM_INLINE static inline __attribute__((always_inline))
#endif

/// The 64-byte tile configuration of palette 1 (Intel SDM, LDTILECFG).
typedef struct smm_tile_config {
    uint8_t palette;
    uint8_t startRow;
    uint8_t reserved[14];
    uint16_t columnBytes[16];
    uint8_t rows[16];
} smm_tile_config;

/// Asks Linux for this process's AMX tile-data permission (arch_prctl ARCH_REQ_XCOMP_PERM, 0x1023,
/// for XFEATURE_XTILEDATA, 18); 1 when granted. Refused on kernels before 5.16 and where the
/// hypervisor does not pass AMX through. Asking again is harmless.
static inline int smm_amx_request_tiles(void) {
#if defined(__linux__)
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return 0;
#endif
}

/// Loads the configuration for a block whose two A tiles have h0 (1...16) and h1 (0...16; 0
/// configures a one-row tile that is then not used) rows. Loading a configuration zeroes the tiles.
SMM_INLINE __attribute__((target("amx-tile"))) void smm_amx_configure(int h0, int h1) {
    smm_tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    const int second = h1 > 0 ? h1 : 1;
    const uint8_t rows[8] = {(uint8_t)h0, (uint8_t)h0, (uint8_t)second, (uint8_t)second,
                             (uint8_t)h0, (uint8_t)second, 16, 16};
    for (int t = 0; t < 8; t++) {
        c.rows[t] = rows[t];
        c.columnBytes[t] = 64;
    }
    _tile_loadconfig(&c);
}

#endif
