// Instruction peaks for `smm bench-kernels`: each loop issues one instruction kind on 16
// independent accumulators (no loads), so its rate is what the core can retire of that
// instruction. The kernels' GOP/s are reported as a share of these.
#include "CMicroKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define SMM_PEAK_ACC 16

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
void smm_peak_vnni512(long iterations, int32_t *sink) {
    __m512i acc[SMM_PEAK_ACC];
    for (int i = 0; i < SMM_PEAK_ACC; i++) acc[i] = _mm512_set1_epi32(i);
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < SMM_PEAK_ACC; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
    }
    __m512i s = acc[0];
    for (int i = 1; i < SMM_PEAK_ACC; i++) s = _mm512_add_epi32(s, acc[i]);
    *sink = _mm512_reduce_add_epi32(s);
}

__attribute__((target("avx512f,fma")))
void smm_peak_fma512(long iterations, float *sink) {
    __m512 acc[SMM_PEAK_ACC];
    for (int i = 0; i < SMM_PEAK_ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < SMM_PEAK_ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
    }
    __m512 s = acc[0];
    for (int i = 1; i < SMM_PEAK_ACC; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16")))
void smm_peak_bf16(long iterations, float *sink) {
    __m512 acc[SMM_PEAK_ACC];
    for (int i = 0; i < SMM_PEAK_ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3a83);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < SMM_PEAK_ACC; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
    }
    __m512 s = acc[0];
    for (int i = 1; i < SMM_PEAK_ACC; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
}

#else

void smm_peak_vnni512(long iterations, int32_t *sink) { (void)iterations; *sink = 0; }
void smm_peak_fma512(long iterations, float *sink) { (void)iterations; *sink = 0; }
void smm_peak_bf16(long iterations, float *sink) { (void)iterations; *sink = 0; }

#endif
