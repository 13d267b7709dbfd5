// SIMD micro-kernels that Swift cannot express: int8 dot-product matrix blocks on packed data.
//
// Only the innermost loops live here. Quantization, packing, threading and dispatch are Swift
// (SMMKernels/QuantizedLinear.swift, Int8Packing.swift), and every kernel here has a plain Swift
// reference (`Int8Reference`) that defines its result bit for bit: the int32 accumulators, and the
// float output stage applied to them while they are still in registers.
//
// Packed weight layout "VNNI 16x4" (built by `QuantizedMatrix` in Swift):
//   the N output columns are cut into panels of 16 columns, the K inputs into groups of 4
//   (kGroups = ceil(K / 4)); panel p is one contiguous run of panelBytes = kGroups * 64 bytes and
//       byte  p * panelBytes + g * 64 + c * 4 + j   holds   w[16 p + c][4 g + j]   (signed int8)
//   with zeros where 16 p + c >= N or 4 g + j >= K. One 64-byte group is exactly the second
//   operand of one `vpdpbusd` for 16 columns, and the base is 64-byte aligned.
// Activation rows: unsigned bytes (quantized with a zero point), row i at a + i * lda, at least
//   kGroups * 4 readable bytes per row (padding bytes are multiplied by zero weights).
// Raw results: int32 dot products  acc[i][n] = sum over k < 4 * kGroups of a[i][k] * w[n][k].
#ifndef SMM_CMICROKERNELS_H
#define SMM_CMICROKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Largest `rows` the tile kernels take.
#define SMM_I8_TILE_MAX_ROWS 6
/// Largest `panels` (16 columns each) the tile kernels take.
#define SMM_I8_TILE_MAX_PANELS 4

/// The output stage applied to the accumulators of a block (see `Int8Reference.output`):
///   y[i][n] = ((float(acc) - zeroPoint[i] * columnSum[n]) * rowScale[i] + r[i][n]) * columnScale[n] + bias[n]
///   r[i][n] = sum over o < outlierCount[i], in order, of outlierValue[i][o] * float(w[n][outlierIndex[i][o]])
/// (float operations in exactly this order, none fused), stored to out[i * ldo + n] for n < columns.
/// Row arrays start at the block's first row, column arrays at its first column.
typedef struct smm_i8_output {
    const float *rowScale;          ///< per row
    const float *rowZeroPoint;      ///< per row, an integer 0...255 as float
    const int32_t *outlierCount;    ///< per row
    const int32_t *outlierIndex;    ///< per row, outlierStride apart: input columns k
    const float *outlierValue;      ///< per row, outlierStride apart: x[k]
    int32_t outlierStride;
    const float *columnSum;         ///< per column: sum_k w[n][k] (exact in float), 0 past N
    const float *columnScale;       ///< per column, 0 past N
    const float *bias;              ///< per column (only the first `columns` are read), or NULL
    int32_t columns;                ///< columns to store, <= 16 * panels
    float *out;
    size_t ldo;
} smm_i8_output;

/// 1 when this CPU (and OS) run AVX-512 F/BW/VL and AVX-512 VNNI, so the `smm_i8_vnni512_*`
/// kernels may be called; 0 otherwise (and on other architectures).
int smm_i8_vnni512_available(void);

/// Raw accumulators c[i][16 q + c'] for rows i < rows (1...SMM_I8_TILE_MAX_ROWS) and panels
/// q < panels (1...SMM_I8_TILE_MAX_PANELS) starting at `b` (panel q at b + q * panelBytes); c has
/// row stride ldc int32. Requires smm_i8_vnni512_available().
void smm_i8_vnni512_tile(const uint8_t *a, size_t lda, int rows,
                         const int8_t *b, size_t panelBytes, int panels, int kGroups,
                         int32_t *c, size_t ldc);

/// The same tile through the output stage `o` (float results, no int32 store).
void smm_i8_vnni512_tile_output(const uint8_t *a, size_t lda, int rows,
                                const int8_t *b, size_t panelBytes, int panels, int kGroups,
                                const smm_i8_output *o);

/// Raw accumulators of one activation row against `panels` consecutive panels: c[16 q + c'].
/// Requires smm_i8_vnni512_available().
void smm_i8_vnni512_gemv(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels,
                         int kGroups, int32_t *c);

/// One row against `panels` consecutive panels through the output stage `o` (one row).
void smm_i8_vnni512_gemv_output(const uint8_t *a, const int8_t *b, size_t panelBytes, int panels,
                                int kGroups, const smm_i8_output *o);


// ---- fp32 on prepacked weights (AVX-512F) ------------------------------------------------------
//
// Packed layout: the weight matrix W (N outputs x K inputs) is cut into panels of
// SMM_F32_PANEL_COLUMNS = 48 consecutive output columns; panel p holds K rows of 48 floats,
// element (k, j) at panel[k * 48 + j] = W[48 p + j][k], zero past N; panels follow one another
// (K * 48 floats each) and start 64-byte aligned. The bias, when there is one, is padded with
// zeros to a whole number of panels.

/// Output columns per packed panel.
#define SMM_F32_PANEL_COLUMNS 48
/// Rows of A per register block inside smm_f32_avx512_panel.
#define SMM_F32_BLOCK_ROWS 8

/// 1 when this CPU (and OS) run AVX-512F and FMA, so smm_f32_avx512_panel may be called.
int smm_f32_avx512_available(void);

/// One panel of C = A W^T + bias:
/// c[i * ldc + j] = fma(a[i, K-1], panel[K-1, j], ... fma(a[i, 0], panel[0, j], bias[j] or 0))
/// for rows i < rows and columns j < columns (<= 48; the other columns of c are not written).
/// `a` has row stride lda floats; `panel` is 64-byte aligned; `bias` points at the panel's 48
/// (padded) bias values or is NULL. Requires smm_f32_avx512_available().
void smm_f32_avx512_panel(const float *a, size_t lda, int rows, const float *panel, int depth,
                          const float *bias, float *c, size_t ldc, int columns);

#ifdef __cplusplus
}
#endif

#endif
