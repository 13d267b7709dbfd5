// SIMD micro-kernels that Swift cannot express: int8 dot-product matrix blocks on packed data
// (AVX-512 VNNI and AMX), 4-bit block weights (AVX-512 VNNI), bf16 panels (AVX512_BF16 and AMX-BF16) and fp32 panels (AVX-512F).
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

// ---- int8 activation quantization loops (AVX-512 F/BW/VL) -----------------------------------------
//
// The three passes of `Int8Reference.quantizeRow` over one row of k floats, bit for bit (Swift
// computes the threshold and the row's scale and zero point between them).

/// 1 when the CPU (and OS) run AVX-512 F/BW/VL, so the functions below do their work.
int smm_i8_quantize_available(void);

/// lo = min(0, min x), hi = max(0, max x); sumOfSquares = the 16 lane sums of x[16 t + l]^2 added in
/// lane order, plus the tail's (the last k % 16 values) sum.
void smm_i8_row_stats(const float *x, int k, float *lo, float *hi, float *sumOfSquares);

/// The outliers |x| > threshold in index order (the first `cap` to indices/values); returns how many
/// there are. lo/hi as above with the outliers counted as 0.
int smm_i8_row_outliers(const float *x, int k, float threshold, int cap, int32_t *indices, float *values,
                        float *lo, float *hi);

/// a[j] = roundEven(clamp(x[j] * inverse + zeroPoint, 0, 255)) for j < k.
void smm_i8_row_bytes(const float *x, int k, float inverse, float zeroPoint, uint8_t *a);

// ---- GELU and softmax (AVX-512 F/BW/VL) -----------------------------------------------------------

/// 1 when the CPU (and OS) run AVX-512 F/BW/VL, so the GELU and softmax functions do their work.
int smm_gelu_available(void);

/// x = 0.5 x (1 + erf(x / sqrt 2)) in place, bit for bit Swift's `Activations.geluErf`.
void smm_gelu_erf(float *x, size_t count);

/// x = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in place, bit for bit `Activations.geluTanh`.
void smm_gelu_tanh(float *x, size_t count);

/// Softmax of x[0 ..< valid] in place, x[valid ..< count] set to 0 (valid <= 0: the whole row 0):
/// `Softmax.row`'s steps with its exp, the sum in 16 lanes (a few ulps from the Swift loop's).
void smm_softmax_row(float *x, int count, int valid);

// ---- int8 on AMX tiles (AMX-TILE + AMX-INT8, Sapphire Rapids and later) -----------------------
//
// The same packed weights, activations and output stage as the VNNI kernels, and the same int32
// dot products (`tdpbusd`), for any number of rows at once. K must be a whole number of tiles:
// kGroups a positive multiple of 16 (K = 64, 128, ... inputs), lda >= 4 * kGroups and <= 65535.
// A call with any other shape does nothing (Swift uses the VNNI kernels there).

/// 1 when this CPU has AMX-TILE and AMX-INT8 (and the VNNI kernels) and the OS granted this
/// process the tile state (Linux: arch_prctl ARCH_REQ_XCOMP_PERM, asked here once); 0 otherwise.
int smm_i8_amx_available(void);

/// Raw accumulators c[i][16 q + c'] for rows i < rows (any number >= 1) and panels q < panels
/// starting at `b`; c has row stride ldc int32. Requires smm_i8_amx_available().
void smm_i8_amx_gemm(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                     int panels, int kGroups, int32_t *c, size_t ldc);

/// The same products through the output stage `o`, whose row arrays cover all `rows` rows and
/// whose columns start at the first panel.
void smm_i8_amx_gemm_output(const uint8_t *a, size_t lda, int rows, const int8_t *b, size_t panelBytes,
                            int panels, int kGroups, const smm_i8_output *o);

// ---- bf16 on packed weights (AVX512_BF16 `vdpbf16ps`; AMX-BF16 `tdpbf16ps`) --------------------
//
// Packed layout "BF16 16x2": the N output columns are cut into panels of 16, the K inputs into
// pairs, kPairs = 16 * ceil(K / 32) (whole AMX tiles of 32 inputs); panel p is panelBytes =
// kPairs * 64 bytes, 64-byte aligned, and
//     bf16 element  p * panelBytes / 2 + g * 32 + c * 2 + j   holds   w[16 p + c][2 g + j]
// with zeros where 16 p + c >= N or 2 g + j >= K: one 64-byte group is one `vdpbf16ps` operand
// for 16 columns and one row of an AMX B tile. Activation rows: bf16, row i at a + i * lda
// (lda >= 2 * kPairs elements), zeros from K to 2 * kPairs.
// Result: out[i * ldo + n] = (sum over k of a[i][k] * w[n][k], in f32) + bias[n], for rows
// i < rows and columns n < columns (<= 16 * panels); the other columns are not written.

/// 1 when this CPU (and OS) run AVX-512 F/BW/VL and AVX512_BF16.
int smm_bf16_avx512_available(void);

/// 1 when this CPU has AMX-TILE and AMX-BF16 (and AVX512_BF16) and the OS granted the tile state.
int smm_bf16_amx_available(void);

/// out[i] = bf16 bits of x[i] for i < count: nearest, ties to even (denormals kept, NaN quiet),
/// bit for bit the Swift `f32ToBF16Bits`. Requires smm_bf16_avx512_available() (else does nothing).
void smm_bf16_round(const float *x, size_t count, uint16_t *out);

/// out = A W^T + bias on the AVX512_BF16 kernel; kPairs a positive multiple of 16 and
/// panelBytes = 64 * kPairs (any other shape does nothing). `bias` has 16 * panels values or is NULL.
void smm_bf16_avx512_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes,
                          int panels, int kPairs, const float *bias, int columns, float *out, size_t ldo);

/// The same on AMX tiles (also lda <= 32767).
void smm_bf16_amx_gemm(const uint16_t *a, size_t lda, int rows, const uint16_t *b, size_t panelBytes,
                       int panels, int kPairs, const float *bias, int columns, float *out, size_t ldo);

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

// ---- 4-bit block weights (AVX-512 VNNI) ----------------------------------------------------------
//
// Packed layout "Q4 16x32" (built by `Q4Matrix` in Swift from the file's q4 blocks, SMMQ4Blocks):
//   N outputs in panels of 16, K inputs in blocks of 32 (blocks = K / 32); panel p is one run of
//   panelBytes = blocks * 256 bytes, and within it block b is 256 bytes, of which
//       byte  b * 256 + h * 64 + c * 4 + t   (h < 4, c < 16, t < 4)
//   holds code(16 p + c, 32 b + 8 h + t) in its low nibble and code(16 p + c, 32 b + 8 h + 4 + t)
//   in its high nibble (codes 0...15 stand for code - 8 steps of the block's scale; 8 past N).
//   So each nibble half of a 64-byte line is the first operand of one `vpdpbusd` for 16 outputs.
// Scales: f16 bits, 16 per (panel, block): scales[(p * blocks + b) * 16 + c] = scale(16 p + c, b),
//   0 past N.
// Activations: row i of K signed bytes at a + i * lda, quantized per block of 32 with the float
//   aScale[i * lds + b] and the int32 aSum[i * lds + b] = sum of that block's 32 bytes.
// Result, for every output n < columns (counted from the first panel's first output):
//   acc = 0; for b = 0 ..< blocks, in order:
//       acc = fma(float(dot_b(w codes, a) - 8 * aSum_b), float(f16 scale(n, b)) * aScale_b, acc)
//   out[i * ldo + n] = acc + bias[n]   (or acc when bias is NULL)
// which `Q4Reference` in Swift computes the same way, bit for bit.

/// 1 when this CPU (and OS) run AVX-512 F/BW/VL, VNNI and F16C conversions, so
/// smm_q4_vnni512_gemm may be called.
int smm_q4_vnni512_available(void);

/// `Q4Linear.quantizeRow` (k a multiple of 32) in AVX-512, bit for bit: the int8 codes, the float
/// scale and the int32 sum of each block of 32. Does nothing unless smm_q4_vnni512_available().
void smm_q4_quantize_row(const float *x, int k, int8_t *q, float *scales, int32_t *sums);

/// `rows` activation rows (any number) against `panels` consecutive panels starting at `w` (and
/// their scales at `scales`). Requires smm_q4_vnni512_available().
void smm_q4_vnni512_gemm(const int8_t *a, size_t lda, const float *aScale, const int32_t *aSum, size_t lds,
                         int rows, const uint8_t *w, const uint16_t *scales, int blocks, int panels,
                         const float *bias, float *out, size_t ldo, int columns);

// ---- fused bidirectional attention, f32 (AttentionF32.c) -------------------------------------------

/// 1 when the CPU (and OS) run AVX-512 F/BW/VL/DQ and FMA, so smm_attention_f32 may be called.
int smm_attention_f32_available(void);

/// Floats of scratch smm_attention_f32 needs for `valid` keys and head size d.
size_t smm_attention_f32_scratch(int valid, int d);

/// One (sequence, head): out[i] = softmax_j<valid(scale * q_i . k_j) . V for i < t, with q, k, v
/// rows `ld` floats apart (the head's first column at each pointer), out rows `ldo` apart; keys at
/// and after `valid` are masked. d a multiple of 16, at most 64; t, valid > 0. Requires
/// smm_attention_f32_available() and smm_gelu_available() (its softmax).
void smm_attention_f32(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                       int t, int valid, int d, float scale, float *scratch);

// ---- instruction peaks (Peaks.c, for `smm bench-kernels`) ---------------------------------------
//
// `iterations` x 16 independent instructions each, no memory operands: vpdpbusd (16 x 64 int8
// multiply-adds per iteration), vfmadd (16 x 16 f32 FMAs), vdpbf16ps (16 x 32 bf16 multiply-adds).
// Call only where the instructions exist (smm_i8_vnni512_available, smm_f32_avx512_available,
// smm_bf16_avx512_available).
void smm_peak_vnni512(long iterations, int32_t *sink);
void smm_peak_fma512(long iterations, float *sink);
void smm_peak_bf16(long iterations, float *sink);

#ifdef __cplusplus
}
#endif

#endif
