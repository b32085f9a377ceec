/* AVX-512 row kernels (built with -mavx512f -mavx512bw -mavx512vl plus the
 * AVX2 level's flags; called only when cpu_features reports F, BW and VL).
 *
 * VNNI and BF16 are not in every AVX-512 CPU (Skylake-X has neither, Ice
 * Lake no BF16), so the functions that use them are compiled under a target
 * pragma of their own and only installed when the CPU has the feature; the
 * rest of this file cannot emit those instructions by accident.
 *
 *   - quantized formats with VNNI: the 256-bit kernels of quant_x86.h with
 *     vpdpbusd/vpdpwssd (one instruction for vpmaddubsw + vpmaddwd + add);
 *     without VNNI the AVX2 kernels stay;
 *   - float dot products: 512-bit FMA, vdpbf16ps for BF16 where present. */
#include <immintrin.h>
#include <string.h>

#include "cpu_features.h"
#include "kernels.h"
#include "quant.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512vnni")
#endif
#define HK_X86_SFX vnni256
#define HK_X86_VNNI 1
#include "quant_x86.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---------------------------------------------------------------- float types */

static inline float hsum512(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}

static float vec_dot_f32_avx512(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
    if (i < n) {
        /* masked loads read only the n - i remaining elements */
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i), s1);
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 load_f16x16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static float vec_dot_f16_avx512(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), s0);
        s1 = _mm512_fmadd_ps(load_f16x16(x + i + 16), load_f16x16(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_f16x16(x + i + 32), load_f16x16(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_f16x16(x + i + 48), load_f16x16(y + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), s0);
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, x + i));
        const __m512 yv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, y + i));
        s1 = _mm512_fmadd_ps(xv, yv, s1);
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 load_bf16x16(const uint16_t *p)
{
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

static float vec_dot_bf16_avx512(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_bf16x16(x + i), load_bf16x16(y + i), s0);
        s1 = _mm512_fmadd_ps(load_bf16x16(x + i + 16), load_bf16x16(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_bf16x16(x + i + 32), load_bf16x16(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_bf16x16(x + i + 48), load_bf16x16(y + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(load_bf16x16(x + i), load_bf16x16(y + i), s0);
    float sum = hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++)
        sum += hk_bf16_to_f32(x[i]) * hk_bf16_to_f32(y[i]);
    return sum;
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512bf16")
#endif
/* vdpbf16ps multiplies bfloat16 pairs exactly in float and adds them to the
 * accumulator; it treats subnormal inputs as zero, a difference far below
 * the float accumulation error for any real activation. */
static float vec_dot_bf16_avx512bf16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_dpbf16_ps(s0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(y + i));
        s1 = _mm512_dpbf16_ps(s1, (__m512bh)_mm512_loadu_si512(x + i + 32), (__m512bh)_mm512_loadu_si512(y + i + 32));
    }
    for (; i + 32 <= n; i += 32)
        s0 = _mm512_dpbf16_ps(s0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(y + i));
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++)
        sum += hk_bf16_to_f32(x[i]) * hk_bf16_to_f32(y[i]);
    return sum;
}
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---------------------------------------------------------------- table */

void hk_cpu_fill_avx512(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT], const hk_cpu_features *f)
{
    if (f->avx512vnni)
        fill_vnni256(ops, names, "avx512-vnni256");
    ops[HK_TYPE_F32].vec_dot = vec_dot_f32_avx512;
    names[HK_TYPE_F32] = "avx512";
    ops[HK_TYPE_F16].vec_dot = vec_dot_f16_avx512;
    names[HK_TYPE_F16] = "avx512";
    if (f->avx512bf16) {
        ops[HK_TYPE_BF16].vec_dot = vec_dot_bf16_avx512bf16;
        names[HK_TYPE_BF16] = "avx512-bf16";
    } else {
        ops[HK_TYPE_BF16].vec_dot = vec_dot_bf16_avx512;
        names[HK_TYPE_BF16] = "avx512";
    }
}

void hk_cpu_fill4_avx512(hk_vec_dot4_fn dot4[HK_TYPE_COUNT], const hk_cpu_features *f)
{
    /* the same kernels as the table above: VNNI's, else the AVX2 ones the
     * caller already put there */
    if (f->avx512vnni)
        fill4_vnni256(dot4);
}
