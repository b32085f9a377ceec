/* 256-bit x86 row kernels, written once and compiled per ISA level.
 *
 * Included by quant_avx2.c (AVX2 + FMA + F16C, int8 dot products through
 * vpmaddubsw/vpmaddwd), by quant_avx512.c under a VNNI target (the same
 * code with vpdpbusd/vpdpwssd, which also removes the int16 saturation
 * concern) and again by quant_avx2.c under an AVX-VNNI target (the same
 * instructions, VEX-encoded).  The includer defines:
 *   HK_X86_SFX   suffix for every function name (avx2, vnni256, avxvnni);
 *   HK_X86_VNNI  1 to use the AVX-512 VNNI instructions on ymm registers,
 *                2 the AVX-VNNI ones (Alder Lake and later, Zen 5);
 * the file undefines both at its end.
 *
 * Exactness: every integer sum inside a block is formed without overflow or
 * saturation (operand ranges noted at each vpmaddubsw: unsigned operand
 * <= 63 or |x| <= 128, times |y| <= 127, pairs stay below 2^15), so it
 * equals the scalar sum; float terms are accumulated lane-wise, which is the
 * only difference from the scalar code.  Quantizers and dequantizers do the
 * same float operations as their scalar counterparts (the files are built
 * with -ffp-contract=off so that no multiply and add fuse behind our back). */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"

#define HK_X86_PASTE2(a, b) a##_##b
#define HK_X86_PASTE(a, b) HK_X86_PASTE2(a, b)
#define X(name) HK_X86_PASTE(name, HK_X86_SFX)

#if HK_X86_VNNI == 2
#define X_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#define X_DPWSSD(acc, a, b) _mm256_dpwssd_avx_epi32((acc), (a), (b))
#elif HK_X86_VNNI
/* acc + sum of four u8*s8 products per int32 lane, exact */
#define X_DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
/* acc + sum of two s16*s16 products per int32 lane */
#define X_DPWSSD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#else
#define X_DPBUSD(acc, u, s) \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define X_DPWSSD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#endif

static inline float X(hsum_ps)(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int X(hsum_epi32)(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* F16C conversion: exact, the same value as hk_f16_to_f32 */
static inline float X(h2f)(hk_half h)
{
    return _cvtsh_ss(h);
}

/* 16 bytes of packed nibbles -> 32 bytes: the low nibbles (elements 0-15)
 * then the high nibbles (elements 16-31), as every 32-element format packs them */
static inline __m256i X(nibbles32)(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits (little-endian) -> 32 bytes, 0xFF where the bit is set */
static inline __m256i X(bits32)(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    /* byte k takes source byte k/8 (vpshufb works per 128-bit half, and the
     * broadcast puts all four source bytes in each half) */
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

/* acc + signed x . signed y, 4 products per lane.  |x| <= 128 becomes the
 * unsigned operand; y (activations, never -128) takes x's sign. */
static inline __m256i X(dot_i8)(__m256i acc, __m256i x, __m256i y)
{
    return X_DPBUSD(acc, _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* Scale pairs for the 16-element sub-blocks of K-quants: group g of 32
 * elements needs sub-block 2g's scale in the low 8 int16 lanes (elements
 * 0-15 after vpmaddubsw) and 2g+1's in the high 8.  s16 holds 16 int16
 * scales; out[g] for g = 0..7. */
static inline void X(scale_pairs)(__m256i s16, __m256i out[8])
{
    const __m256i lo = _mm256_permute4x64_epi64(s16, 0x44); /* scales 0-7 in both halves */
    const __m256i hi = _mm256_permute4x64_epi64(s16, 0xEE); /* scales 8-15 in both halves */
    for (int g = 0; g < 4; g++) {
        const char a = (char)(4 * g), b = (char)(4 * g + 2);
        const __m256i ctrl = _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1,
                                              a, a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1,
                                              b, b + 1, b, b + 1);
        out[g] = _mm256_shuffle_epi8(lo, ctrl);
        out[g + 4] = _mm256_shuffle_epi8(hi, ctrl);
    }
}

/* The F16 scales of 8 consecutive blocks (stride bytes apart) as 8 floats:
 * gathering the halves in general registers and converting once costs far
 * fewer vector-port operations than 8 scalar conversions and broadcasts. */
static inline __m256 X(scales8)(const uint8_t *p, size_t stride)
{
    uint64_t lo = 0, hi = 0;
    for (int k = 0; k < 4; k++) {
        uint16_t a, b;
        memcpy(&a, p + k * stride, 2);
        memcpy(&b, p + (k + 4) * stride, 2);
        lo |= (uint64_t)a << (16 * k);
        hi |= (uint64_t)b << (16 * k);
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

/* lane k of v in every lane */
static inline __m256 X(lane)(__m256 v, int k)
{
    return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k));
}

/* ---------------------------------------------------------------- float types */

static float X(vec_dot_f32)(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float sum = X(hsum_ps)(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    return sum;
}

static inline __m256 X(load_f16)(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static float X(vec_dot_f16)(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(X(load_f16)(x + i), X(load_f16)(y + i), s0);
        s1 = _mm256_fmadd_ps(X(load_f16)(x + i + 8), X(load_f16)(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(X(load_f16)(x + i + 16), X(load_f16)(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(X(load_f16)(x + i + 24), X(load_f16)(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(X(load_f16)(x + i), X(load_f16)(y + i), s0);
    float sum = X(hsum_ps)(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        sum += _cvtsh_ss(x[i]) * _cvtsh_ss(y[i]);
    return sum;
}

static inline __m256 X(load_bf16)(const uint16_t *p)
{
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float X(vec_dot_bf16)(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(X(load_bf16)(x + i), X(load_bf16)(y + i), s0);
        s1 = _mm256_fmadd_ps(X(load_bf16)(x + i + 8), X(load_bf16)(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(X(load_bf16)(x + i + 16), X(load_bf16)(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(X(load_bf16)(x + i + 24), X(load_bf16)(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(X(load_bf16)(x + i), X(load_bf16)(y + i), s0);
    float sum = X(hsum_ps)(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        sum += hk_bf16_to_f32(x[i]) * hk_bf16_to_f32(y[i]);
    return sum;
}

static void X(f16_to_float)(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, X(load_f16)(s + i));
    for (; i < n; i++)
        dst[i] = _cvtsh_ss(s[i]);
}

/* Round to nearest even, as hk_f32_to_f16 and ggml's F16C path */
static void X(f16_from_float)(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        d[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

static void X(bf16_to_float)(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, X(load_bf16)(s + i));
    for (; i < n; i++)
        dst[i] = hk_bf16_to_f32(s[i]);
}

/* hk_f32_to_bf16 eight at a time: add 0x7fff plus the lowest kept bit
 * (round half to even), keep the high half; NaNs are kept quiet instead. */
static void X(bf16_from_float)(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
    const __m256i inf = _mm256_set1_epi32(0x7f800000);
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
        const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
        const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
        const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
        const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
        /* the eight 32-bit results hold values < 2^16: pack them unsigned */
        const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(d + i), packed);
    }
    for (; i < n; i++)
        d[i] = hk_f32_to_bf16(src[i]);
}

/* ---------------------------------------------------------------- 32-element formats */

static float X(vec_dot_q4_0)(int64_t n, const void *w, const void *a)
{
    const hk_block_q4_0 *x = w;
    const hk_block_q8_0 *y = a;
    const int64_t nb = n / HK_QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    const __m256i eight = _mm256_set1_epi8(8);
    int64_t ib = 0;
    /* eight blocks per step share one scale conversion; two accumulators
     * hide the FMA latency */
    for (; ib + 8 <= nb; ib += 8) {
        const __m256 d = _mm256_mul_ps(X(scales8)((const uint8_t *)&x[ib].d, sizeof x[0]),
                                       X(scales8)((const uint8_t *)&y[ib].d, sizeof y[0]));
        for (int k = 0; k < 8; k += 2) {
            const __m256i q0 = _mm256_sub_epi8(X(nibbles32)(x[ib + k].qs), eight);
            const __m256i q1 = _mm256_sub_epi8(X(nibbles32)(x[ib + k + 1].qs), eight);
            const __m256i s0 = X(dot_i8)(_mm256_setzero_si256(), q0, _mm256_loadu_si256((const __m256i *)y[ib + k].qs));
            const __m256i s1 =
                X(dot_i8)(_mm256_setzero_si256(), q1, _mm256_loadu_si256((const __m256i *)y[ib + k + 1].qs));
            acc0 = _mm256_fmadd_ps(X(lane)(d, k), _mm256_cvtepi32_ps(s0), acc0);
            acc1 = _mm256_fmadd_ps(X(lane)(d, k + 1), _mm256_cvtepi32_ps(s1), acc1);
        }
    }
    for (; ib < nb; ib++) {
        const __m256i q0 = _mm256_sub_epi8(X(nibbles32)(x[ib].qs), eight);
        const __m256i s0 = X(dot_i8)(_mm256_setzero_si256(), q0, _mm256_loadu_si256((const __m256i *)y[ib].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(X(h2f)(x[ib].d) * X(h2f)(y[ib].d)), _mm256_cvtepi32_ps(s0), acc0);
    }
    return X(hsum_ps)(_mm256_add_ps(acc0, acc1));
}

/* Shared loop of the 32-element formats other than Q8_0: eight blocks per
 * step share the scale conversions (see scales8).  QUANT(ib) yields block
 * ib's 32 weight bytes; SIGNED says whether they are signed (dot_i8) or
 * unsigned (vpdpbusd directly); with MINS, the blocks' m * s terms of
 * Q4_1/Q5_1 are added. */
#define X_DOT32_LOOP(QUANT, SIGNED, MINS)                                                                        \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, accm = acc0;                                                 \
    float summ = 0;                                                                                              \
    int64_t ib = 0;                                                                                              \
    for (; ib + 8 <= nb; ib += 8) {                                                                              \
        const __m256 d = _mm256_mul_ps(X(scales8)((const uint8_t *)&x[ib].d, sizeof x[0]),                       \
                                       X(scales8)((const uint8_t *)&y[ib].d, sizeof y[0]));                      \
        if (MINS)                                                                                                \
            accm = _mm256_fmadd_ps(X(scales8)((const uint8_t *)&x[ib].d + 2, sizeof x[0]),                       \
                                   X(scales8)((const uint8_t *)&y[ib].d + 2, sizeof y[0]), accm);                \
        for (int k = 0; k < 8; k++) {                                                                            \
            const __m256i yq = _mm256_loadu_si256((const __m256i *)y[ib + k].qs);                               \
            const __m256i s = SIGNED ? X(dot_i8)(_mm256_setzero_si256(), QUANT(ib + k), yq)                      \
                                     : X_DPBUSD(_mm256_setzero_si256(), QUANT(ib + k), yq);                      \
            if (k & 1)                                                                                           \
                acc1 = _mm256_fmadd_ps(X(lane)(d, k), _mm256_cvtepi32_ps(s), acc1);                              \
            else                                                                                                 \
                acc0 = _mm256_fmadd_ps(X(lane)(d, k), _mm256_cvtepi32_ps(s), acc0);                              \
        }                                                                                                        \
    }                                                                                                            \
    for (; ib < nb; ib++) {                                                                                      \
        const __m256i yq = _mm256_loadu_si256((const __m256i *)y[ib].qs);                                       \
        const __m256i s = SIGNED ? X(dot_i8)(_mm256_setzero_si256(), QUANT(ib), yq)                              \
                                 : X_DPBUSD(_mm256_setzero_si256(), QUANT(ib), yq);                              \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(X(h2f)(x[ib].d) * X(h2f)(y[ib].d)), _mm256_cvtepi32_ps(s), acc0); \
        if (MINS)                                                                                                \
            summ += X(h2f)(((const hk_half *)&x[ib].d)[1]) * X(h2f)(((const hk_half *)&y[ib].d)[1]);             \
    }                                                                                                            \
    return X(hsum_ps)(_mm256_add_ps(acc0, acc1)) + (X(hsum_ps)(accm) + summ);

/* unsigned nibbles 0..15 directly as the unsigned operand */
#define X_Q4_1_QUANT(i) X(nibbles32)(x[i].qs)
/* (nibble | bit << 4) - 16 == nibble - (bit ? 0 : 16), in [-16, 15] */
#define X_Q5_0_QUANT(i) \
    _mm256_sub_epi8(X(nibbles32)(x[i].qs), _mm256_andnot_si256(X(bits32)(x[i].qh), _mm256_set1_epi8(0x10)))
#define X_Q5_1_QUANT(i) \
    _mm256_or_si256(X(nibbles32)(x[i].qs), _mm256_and_si256(X(bits32)(x[i].qh), _mm256_set1_epi8(0x10)))

/* The m (Q4_1/Q5_1) and s (Q8_1) halves follow d in their blocks. */
_Static_assert(offsetof(hk_block_q4_1, m) == 2 && offsetof(hk_block_q5_1, m) == 2 && offsetof(hk_block_q8_1, s) == 2,
               "min and sum fields right after d");

static float X(vec_dot_q4_1)(int64_t n, const void *w, const void *a)
{
    const hk_block_q4_1 *x = w;
    const hk_block_q8_1 *y = a;
    const int64_t nb = n / HK_QK8_1;
    X_DOT32_LOOP(X_Q4_1_QUANT, 0, 1)
}

static float X(vec_dot_q5_0)(int64_t n, const void *w, const void *a)
{
    const hk_block_q5_0 *x = w;
    const hk_block_q8_0 *y = a;
    const int64_t nb = n / HK_QK8_0;
    X_DOT32_LOOP(X_Q5_0_QUANT, 1, 0)
}

static float X(vec_dot_q5_1)(int64_t n, const void *w, const void *a)
{
    const hk_block_q5_1 *x = w;
    const hk_block_q8_1 *y = a;
    const int64_t nb = n / HK_QK8_1;
    X_DOT32_LOOP(X_Q5_1_QUANT, 0, 1)
}

#undef X_Q4_1_QUANT
#undef X_Q5_0_QUANT
#undef X_Q5_1_QUANT
#undef X_DOT32_LOOP

static float X(vec_dot_q8_0)(int64_t n, const void *w, const void *a)
{
    const hk_block_q8_0 *x = w;
    const hk_block_q8_0 *y = a;
    const int64_t nb = n / HK_QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const __m256 d = _mm256_mul_ps(X(scales8)((const uint8_t *)&x[ib].d, sizeof x[0]),
                                       X(scales8)((const uint8_t *)&y[ib].d, sizeof y[0]));
        for (int k = 0; k < 8; k += 2) {
            const __m256i s0 = X(dot_i8)(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)x[ib + k].qs),
                                         _mm256_loadu_si256((const __m256i *)y[ib + k].qs));
            const __m256i s1 =
                X(dot_i8)(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)x[ib + k + 1].qs),
                          _mm256_loadu_si256((const __m256i *)y[ib + k + 1].qs));
            acc0 = _mm256_fmadd_ps(X(lane)(d, k), _mm256_cvtepi32_ps(s0), acc0);
            acc1 = _mm256_fmadd_ps(X(lane)(d, k + 1), _mm256_cvtepi32_ps(s1), acc1);
        }
    }
    for (; ib < nb; ib++) {
        const __m256i s0 = X(dot_i8)(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)x[ib].qs),
                                     _mm256_loadu_si256((const __m256i *)y[ib].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(X(h2f)(x[ib].d) * X(h2f)(y[ib].d)), _mm256_cvtepi32_ps(s0), acc0);
    }
    return X(hsum_ps)(_mm256_add_ps(acc0, acc1));
}

/* ---------------------------------------------------------------- K-quants */

static float X(vec_dot_q2_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q2_K *x = w;
    const hk_block_q8_K *y = a;
    const int64_t nb = n / HK_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float dall = y[i].d * X(h2f)(x[i].d);
        const float dmin = y[i].d * X(h2f)(x[i].dmin);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        const __m256i summs = _mm256_madd_epi16(mn16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        __m256i scale[8];
        X(scale_pairs)(sc16, scale);
        /* two chains: vpdpwssd's latency would otherwise serialize the groups */
        __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int k = 0; k < 2; k++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * k));
            for (int s = 0; s < 4; s++) {
                const int g = 4 * k + s;
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qb, 2 * s), m3);
                /* q <= 3: pairs <= 762 */
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * g)));
                isum[g & 1] = X_DPWSSD(isum[g & 1], p, scale[g]);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(_mm256_add_epi32(isum[0], isum[1])), acc);
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summs), acc);
    }
    return X(hsum_ps)(acc);
}

/* Q3_K's sixteen 6-bit scales (see q3_K_scale in quant_k.c), as int16 in
 * [-32, 31]: low nibbles from bytes 0-7, top two bits from bytes 8-11, four
 * scales per 32-bit word. */
static inline __m256i X(q3_K_scales)(const uint8_t s[12])
{
    uint32_t a0, a1, t, u[4];
    memcpy(&a0, s, 4);
    memcpy(&a1, s + 4, 4);
    memcpy(&t, s + 8, 4);
    u[0] = (a0 & 0x0F0F0F0Fu) | ((t & 0x03030303u) << 4);
    u[1] = (a1 & 0x0F0F0F0Fu) | (((t >> 2) & 0x03030303u) << 4);
    u[2] = ((a0 >> 4) & 0x0F0F0F0Fu) | (((t >> 4) & 0x03030303u) << 4);
    u[3] = ((a1 >> 4) & 0x0F0F0F0Fu) | (((t >> 6) & 0x03030303u) << 4);
    /* from registers: a 16-byte load of four fresh 4-byte stores would miss
     * store-to-load forwarding and stall */
    const __m128i v = _mm_sub_epi8(_mm_setr_epi32((int)u[0], (int)u[1], (int)u[2], (int)u[3]), _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(v);
}

static float X(vec_dot_q3_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q3_K *x = w;
    const hk_block_q8_K *y = a;
    const int64_t nb = n / HK_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = X(h2f)(x[i].d) * y[i].d;
        const __m256i sc16 = X(q3_K_scales)(x[i].scales);
        __m256i scale[8];
        X(scale_pairs)(sc16, scale);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        /* two chains: vpdpwssd's latency would otherwise serialize the groups */
        __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int k = 0; k < 2; k++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * k));
            for (int s = 0; s < 4; s++) {
                const int g = 4 * k + s;
                /* u = q + 4 = low two bits | hmask bit g << 2, in 0..7 */
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qb, 2 * s), m3);
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, g), one), 2);
                const __m256i p = _mm256_maddubs_epi16(_mm256_or_si256(lo, hi),
                                                       _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * g)));
                isum[g & 1] = X_DPWSSD(isum[g & 1], p, scale[g]);
            }
        }
        /* sum scale * (u - 4) * y = sum scale * u * y - 4 * sum scale * bsum */
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        const __m256i tot = _mm256_sub_epi32(_mm256_add_epi32(isum[0], isum[1]), _mm256_slli_epi32(corr, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(tot), acc);
    }
    return X(hsum_ps)(acc);
}

/* Q4_K/Q5_K's packed 6-bit scales and mins (get_scale_min_k4), four per
 * 32-bit word: sc[8] in memory, the eight mins as the bytes of *mn. */
static inline void X(k4_scales)(const uint8_t s[12], uint8_t sc[8], uint64_t *mn)
{
    uint64_t sc64;
    hk_k4_scales(s, &sc64, mn);
    memcpy(sc, &sc64, 8);
}

/* sum over the 16 bsums of bsum * min of its 32-element sub-block, 8 lanes */
static inline __m256i X(k4_mins)(uint64_t mn, const int16_t bsums[16])
{
    __m128i m = _mm_cvtsi64_si128((long long)mn);
    m = _mm_unpacklo_epi8(m, m); /* each min twice: one per 16-element bsum */
    return _mm256_madd_epi16(_mm256_cvtepu8_epi16(m), _mm256_loadu_si256((const __m256i *)bsums));
}

static float X(vec_dot_q4_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q4_K *x = w;
    const hk_block_q8_K *y = a;
    const int64_t nb = n / HK_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8];
        uint64_t mn;
        X(k4_scales)(x[i].scales, sc, &mn);
        const float d = X(h2f)(x[i].d) * y[i].d;
        const float dmin = X(h2f)(x[i].dmin) * y[i].d;
        const __m256i summ = X(k4_mins)(mn, y[i].bsums);
        __m256i isum0 = _mm256_setzero_si256(), isum1 = isum0; /* two chains, as above */
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            const __m256i lo = _mm256_and_si256(qb, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
            /* nibbles <= 15: pairs <= 3810 */
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32)));
            isum0 = X_DPWSSD(isum0, plo, _mm256_set1_epi16(sc[2 * j]));
            isum1 = X_DPWSSD(isum1, phi, _mm256_set1_epi16(sc[2 * j + 1]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(isum0, isum1)), acc);
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), acc);
    }
    return X(hsum_ps)(acc);
}

static float X(vec_dot_q5_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q5_K *x = w;
    const hk_block_q8_K *y = a;
    const int64_t nb = n / HK_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8];
        uint64_t mn;
        X(k4_scales)(x[i].scales, sc, &mn);
        const float d = X(h2f)(x[i].d) * y[i].d;
        const float dmin = X(h2f)(x[i].dmin) * y[i].d;
        const __m256i summ = X(k4_mins)(mn, y[i].bsums);
        const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i isum0 = _mm256_setzero_si256(), isum1 = isum0; /* two chains, as above */
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            /* fifth bit of sub-block 2j is bit 2j of qh, of 2j+1 bit 2j+1 */
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(qb, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), h1);
            /* values <= 31: pairs <= 7874 */
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32)));
            isum0 = X_DPWSSD(isum0, plo, _mm256_set1_epi16(sc[2 * j]));
            isum1 = X_DPWSSD(isum1, phi, _mm256_set1_epi16(sc[2 * j + 1]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(isum0, isum1)), acc);
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), acc);
    }
    return X(hsum_ps)(acc);
}

/* The four 32-element groups of one 128-element half of a Q6_K block, as
 * unsigned values q + 32 in 0..63 (see hk_dequantize_row_q6_K for the order). */
static inline void X(q6_K_groups)(const uint8_t *ql, const uint8_t *qh, __m256i u[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x30);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

static float X(vec_dot_q6_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q6_K *x = w;
    const hk_block_q8_K *y = a;
    const int64_t nb = n / HK_QK_K;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = X(h2f)(x[i].d) * y[i].d;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m256i scale[8];
        X(scale_pairs)(sc16, scale);
        __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int c = 0; c < 2; c++) {
            __m256i u[4];
            X(q6_K_groups)(x[i].ql + 64 * c, x[i].qh + 32 * c, u);
            for (int t = 0; t < 4; t++) {
                const int g = 4 * c + t;
                /* u <= 63: pairs <= 16002 */
                const __m256i p = _mm256_maddubs_epi16(u[t], _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * g)));
                isum[g & 1] = X_DPWSSD(isum[g & 1], p, scale[g]);
            }
        }
        /* sum scale * (u - 32) * y = sum scale * u * y - 32 * sum scale * bsum */
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        const __m256i tot = _mm256_sub_epi32(_mm256_add_epi32(isum[0], isum[1]), _mm256_slli_epi32(corr, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(tot), acc);
    }
    return X(hsum_ps)(acc);
}

/* ---------------------------------------------------------------- activations */

/* x86 llama.cpp's quantize_row_q8_0/q8_1 (AVX2 build): amax by vector max,
 * d = amax / 127 (stored as F16 by F16C), multiplier 127 / amax (not 1/d),
 * products rounded half to even.  Four int32 vectors of 8 elements come back
 * for the caller to pack and, for Q8_1, sum. */
static inline float X(q8_block)(const float *x, __m256i q[4])
{
    __m256 v[4];
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_loadu_ps(x + 8 * k);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, v[0]);
    for (int k = 1; k < 4; k++)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    const __m256 mul = _mm256_set1_ps(id);
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(
            _mm256_round_ps(_mm256_mul_ps(v[k], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    return amax / 127.f;
}

/* int32 x 32 (each within int8 range) -> 32 int8 in element order */
static inline void X(pack_i8)(const __m256i q[4], int8_t *dst)
{
    const __m256i a = _mm256_packs_epi32(q[0], q[1]); /* 0-3 8-11 | 4-7 12-15 */
    const __m256i b = _mm256_packs_epi32(q[2], q[3]); /* 16-19 24-27 | 20-23 28-31 */
    const __m256i c = _mm256_packs_epi16(a, b);      /* 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31 */
    const __m256i r = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, r);
}

static void X(quantize_act_q8_0)(const float *x, void *dst, int64_t n)
{
    hk_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / HK_QK8_0; i++) {
        __m256i q[4];
        const float d = X(q8_block)(x + HK_QK8_0 * i, q);
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        X(pack_i8)(q, y[i].qs);
    }
}

static void X(quantize_act_q8_1)(const float *x, void *dst, int64_t n)
{
    hk_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / HK_QK8_1; i++) {
        __m256i q[4];
        const float d = X(q8_block)(x + HK_QK8_1 * i, q);
        const int sum = X(hsum_epi32)(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
        X(pack_i8)(q, y[i].qs);
    }
}

/* hk_quantize_row_q8_K_ref (which x86 llama.cpp also runs) eight lanes at a
 * time: the scale comes from the first element of largest magnitude, with its
 * sign; quants are min(127, round-half-even(-127/max * x)). */
static void X(quantize_act_q8_K)(const float *x, void *dst, int64_t n)
{
    hk_block_q8_K *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / HK_QK_K; i++, x += HK_QK_K) {
        __m256 m = _mm256_setzero_ps();
        /* operand order makes a NaN lane keep the running max, as the
         * scalar "ax > amax" comparison skips NaNs */
        for (int k = 0; k < HK_QK_K; k += 8)
            m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), m);
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (!(amax > 0)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const __m256 vmax = _mm256_set1_ps(amax);
        float max = 0;
        for (int k = 0; k < HK_QK_K; k += 8) {
            const int hit = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), vmax, _CMP_EQ_OQ));
            if (hit) {
                max = x[k + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 mul = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int k = 0; k < HK_QK_K; k += 32) {
            __m256i q[4];
            for (int j = 0; j < 4; j++)
                q[j] = _mm256_min_epi32(lim, _mm256_cvtps_epi32(_mm256_round_ps(
                                                 _mm256_mul_ps(mul, _mm256_loadu_ps(x + k + 8 * j)),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
            X(pack_i8)(q, y[i].qs + k);
            /* bsums of the two 16-element sub-blocks: int32 vectors 0+1 and 2+3 */
            __m256i s = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            s = _mm256_hadd_epi32(s, s); /* per half: [a0+a1+a2+a3, b.., a.., b..] */
            const __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            y[i].bsums[k / 16] = (int16_t)_mm_cvtsi128_si32(t);
            y[i].bsums[k / 16 + 1] = (int16_t)_mm_extract_epi32(t, 1);
        }
        y[i].d = 1 / iscale;
    }
}

/* ---------------------------------------------------------------- dequantize */

static inline void X(store_i8_as_f32)(__m256i q, __m256 d, float *dst)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

static void X(dequantize_q4_0)(const void *src, float *y, int64_t n)
{
    const hk_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / HK_QK4_0; i++) {
        const __m256i q = _mm256_sub_epi8(X(nibbles32)(x[i].qs), _mm256_set1_epi8(8));
        X(store_i8_as_f32)(q, _mm256_set1_ps(X(h2f)(x[i].d)), y + HK_QK4_0 * i);
    }
}

static void X(dequantize_q8_0)(const void *src, float *y, int64_t n)
{
    const hk_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / HK_QK8_0; i++)
        X(store_i8_as_f32)(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_set1_ps(X(h2f)(x[i].d)),
                           y + HK_QK8_0 * i);
}

/* 32 unsigned bytes -> d * q - m, rounded as the scalar code (two roundings) */
static inline void X(store_u8_affine)(__m256i q, __m256 d, __m256 m, float *dst)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
        _mm256_storeu_ps(dst + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d, f), m));
    }
}

static void X(dequantize_q4_K)(const void *src, float *y, int64_t n)
{
    const hk_block_q4_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        uint8_t sc[8];
        uint64_t mn;
        X(k4_scales)(x[i].scales, sc, &mn);
        const float d = X(h2f)(x[i].d), min = X(h2f)(x[i].dmin);
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            X(store_u8_affine)(_mm256_and_si256(qb, m4), _mm256_set1_ps(d * sc[2 * j]),
                               _mm256_set1_ps(min * (uint8_t)(mn >> (16 * j))), y);
            X(store_u8_affine)(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), _mm256_set1_ps(d * sc[2 * j + 1]),
                               _mm256_set1_ps(min * (uint8_t)(mn >> (16 * j + 8))), y + 32);
            y += 64;
        }
    }
}

static void X(dequantize_q6_K)(const void *src, float *y, int64_t n)
{
    const hk_block_q6_K *x = src;
    const __m256i off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d = X(h2f)(x[i].d);
        for (int c = 0; c < 2; c++) {
            __m256i u[4];
            X(q6_K_groups)(x[i].ql + 64 * c, x[i].qh + 32 * c, u);
            for (int t = 0; t < 4; t++) {
                const __m256i q = _mm256_sub_epi8(u[t], off);
                const int is = 8 * c + 2 * t;
                const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
                /* (d * scale) * q, in that order, as the scalar code */
                const __m256 d0 = _mm256_set1_ps(d * x[i].scales[is]);
                const __m256 d1 = _mm256_set1_ps(d * x[i].scales[is + 1]);
                _mm256_storeu_ps(y + 0, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
                _mm256_storeu_ps(y + 8, _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
                _mm256_storeu_ps(y + 16, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
                _mm256_storeu_ps(y + 24, _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
                y += 32;
            }
        }
    }
}

/* ---------------------------------------------------------------- 4 tokens */

/* Rows against four activation rows (kernels.h hk_vec_dot4_fn): the prompt
 * path's inner step.  Each weight block is unpacked once for the four
 * tokens; for each token the operations, their order and the accumulators
 * are exactly those of the one-row kernel (X_DOT32_LOOP without mins,
 * vec_dot_q4_0, vec_dot_q8_0, the K-quants' vec_dot), so every result is
 * bit-identical to vec_dot and a batch gives the numbers of one token at a
 * time. */

#ifndef HK_X86_DOT4_ONCE
#define HK_X86_DOT4_ONCE
/* Activation blocks whose scales the Q8_0-activation kernels convert once
 * per call into their stack (32 KiB); longer rows (none in the model
 * families here) go through vec_dot. */
enum { HK_DOT4_MAX_BLOCKS = 2048 };

static inline void hk_x86_prefetch_row(const uint8_t *row, size_t bytes, size_t ahead)
{
    if (ahead)
        for (size_t off = 0; off < bytes; off += 64)
            __builtin_prefetch(row + ahead + off, 0, 2);
}
#endif

/* QUANT(i): block i of the row x, 32 signed weights; VEC_DOT the row kernel */
#define X_DOT32_ROWS4(BLOCK, QUANT, VEC_DOT)                                                                     \
    const int64_t nb = n / HK_QK8_0;                                                                             \
    const hk_block_q8_0 *yc[4];                                                                                  \
    for (int c = 0; c < 4; c++)                                                                                  \
        yc[c] = (const hk_block_q8_0 *)(const void *)((const uint8_t *)a + (size_t)c * as);                      \
    if (nb > HK_DOT4_MAX_BLOCKS) {                                                                               \
        for (int64_t r = 0; r < nr; r++)                                                                         \
            for (int c = 0; c < 4; c++)                                                                          \
                y[(size_t)c * ldy + (size_t)r] = VEC_DOT(n, (const uint8_t *)w + (size_t)r * ws, yc[c]);         \
        return;                                                                                                  \
    }                                                                                                            \
    /* the activations' scales as floats, once for all the rows */                                               \
    float dy[4][HK_DOT4_MAX_BLOCKS] __attribute__((aligned(32)));                                                \
    for (int c = 0; c < 4; c++) {                                                                                \
        int64_t ib = 0;                                                                                          \
        for (; ib + 8 <= nb; ib += 8)                                                                            \
            _mm256_store_ps(dy[c] + ib, X(scales8)((const uint8_t *)&yc[c][ib].d, sizeof(hk_block_q8_0)));      \
        for (; ib < nb; ib++)                                                                                    \
            dy[c][ib] = X(h2f)(yc[c][ib].d);                                                                     \
    }                                                                                                            \
    for (int64_t r = 0; r < nr; r++) {                                                                           \
        const BLOCK *x = (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws);                     \
        hk_x86_prefetch_row((const uint8_t *)x, ws, prefetch);                                                   \
        __m256 acc0[4], acc1[4];                                                                                 \
        for (int c = 0; c < 4; c++)                                                                              \
            acc0[c] = acc1[c] = _mm256_setzero_ps();                                                             \
        int64_t ib = 0;                                                                                          \
        for (; ib + 8 <= nb; ib += 8) {                                                                          \
            /* vec_dot's scale products of the eight blocks for each token,                                      \
             * in memory: broadcasts from there are loads, where lanes taken                                     \
             * from registers were permutes and, with the accumulators,                                          \
             * spills */                                                                                         \
            const __m256 dx = X(scales8)((const uint8_t *)&x[ib].d, sizeof x[0]);                                \
            float d[4][8] __attribute__((aligned(32)));                                                          \
            for (int c = 0; c < 4; c++)                                                                          \
                _mm256_store_ps(d[c], _mm256_mul_ps(dx, _mm256_load_ps(dy[c] + ib)));                            \
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++)                                                  \
            {                                                                                                    \
                const __m256i q = QUANT(ib + k);                                                                 \
                for (int c = 0; c < 4; c++) {                                                                    \
                    const __m256i yq = _mm256_loadu_si256((const __m256i *)yc[c][ib + k].qs);                    \
                    const __m256 s = _mm256_cvtepi32_ps(X(dot_i8)(_mm256_setzero_si256(), q, yq));               \
                    if (k & 1)                                                                                   \
                        acc1[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[c][k]), s, acc1[c]);                    \
                    else                                                                                         \
                        acc0[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[c][k]), s, acc0[c]);                    \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
        for (; ib < nb; ib++) {                                                                                  \
            const __m256i q = QUANT(ib);                                                                         \
            const float dx = X(h2f)(x[ib].d);                                                                    \
            for (int c = 0; c < 4; c++) {                                                                        \
                const __m256i yq = _mm256_loadu_si256((const __m256i *)yc[c][ib].qs);                            \
                const __m256 s = _mm256_cvtepi32_ps(X(dot_i8)(_mm256_setzero_si256(), q, yq));                   \
                acc0[c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[c][ib]), s, acc0[c]);                           \
            }                                                                                                    \
        }                                                                                                        \
        for (int c = 0; c < 4; c++)                                                                              \
            y[(size_t)c * ldy + (size_t)r] = X(hsum_ps)(_mm256_add_ps(acc0[c], acc1[c]));                        \
    }

#define X_Q4_0_QUANT4(i) _mm256_sub_epi8(X(nibbles32)(x[i].qs), _mm256_set1_epi8(8))
#define X_Q5_0_QUANT4(i) \
    _mm256_sub_epi8(X(nibbles32)(x[i].qs), _mm256_andnot_si256(X(bits32)(x[i].qh), _mm256_set1_epi8(0x10)))
#define X_Q8_0_QUANT4(i) _mm256_loadu_si256((const __m256i *)x[i].qs)

static void X(vec_dot4_q4_0)(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, float *y,
                             size_t ldy, size_t prefetch)
{
    X_DOT32_ROWS4(hk_block_q4_0, X_Q4_0_QUANT4, X(vec_dot_q4_0))
}

static void X(vec_dot4_q5_0)(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, float *y,
                             size_t ldy, size_t prefetch)
{
    X_DOT32_ROWS4(hk_block_q5_0, X_Q5_0_QUANT4, X(vec_dot_q5_0))
}

static void X(vec_dot4_q8_0)(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, float *y,
                             size_t ldy, size_t prefetch)
{
    X_DOT32_ROWS4(hk_block_q8_0, X_Q8_0_QUANT4, X(vec_dot_q8_0))
}

#undef X_Q4_0_QUANT4
#undef X_Q5_0_QUANT4
#undef X_Q8_0_QUANT4
#undef X_DOT32_ROWS4

/* The K-quants: each block's scales and quants unpacked once for the four
 * tokens, every token given vec_dot's integer sums (exact) and float steps
 * in vec_dot's order. */
/* Q4_K, and with FIFTH Q5_K, whose qh adds the fifth bit of each value */
#define X_K45_ROW4(BLOCK, FIFTH)                                                                                 \
    const BLOCK *x = w;                                                                                          \
    const int64_t nb = n / HK_QK_K;                                                                              \
    const __m256i m4 = _mm256_set1_epi8(0x0F);                                                                   \
    const __m256i one = _mm256_set1_epi8(1);                                                                     \
    const hk_block_q8_K *yc[4];                                                                                  \
    __m256 acc[4];                                                                                               \
    for (int c = 0; c < 4; c++) {                                                                                \
        yc[c] = (const hk_block_q8_K *)(const void *)((const uint8_t *)a + (size_t)c * as);                      \
        acc[c] = _mm256_setzero_ps();                                                                            \
    }                                                                                                            \
    for (int64_t i = 0; i < nb; i++) {                                                                           \
        uint8_t sc[8];                                                                                           \
        uint64_t mn;                                                                                             \
        X(k4_scales)(x[i].scales, sc, &mn);                                                                      \
        __m256i isum0[4], isum1[4];                                                                              \
        for (int c = 0; c < 4; c++)                                                                              \
            isum0[c] = isum1[c] = _mm256_setzero_si256();                                                        \
        for (int j = 0; j < 4; j++) {                                                                            \
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));                          \
            __m256i lo = _mm256_and_si256(qb, m4);                                                               \
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);                                         \
            if (FIFTH) {                                                                                         \
                /* bit 2j of qh for sub-block 2j, 2j + 1 for 2j + 1 (vec_dot_q5_K) */                            \
                const __m256i hb = _mm256_loadu_si256((const __m256i *)X_K45_QH(x[i]));                          \
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4)); \
                hi = _mm256_or_si256(hi,                                                                         \
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4)); \
            }                                                                                                    \
            const __m256i s0 = _mm256_set1_epi16(sc[2 * j]), s1 = _mm256_set1_epi16(sc[2 * j + 1]);              \
            for (int c = 0; c < 4; c++) {                                                                        \
                const int8_t *q = yc[c][i].qs + 64 * j;                                                          \
                const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q));            \
                const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q + 32)));     \
                isum0[c] = X_DPWSSD(isum0[c], plo, s0);                                                          \
                isum1[c] = X_DPWSSD(isum1[c], phi, s1);                                                          \
            }                                                                                                    \
        }                                                                                                        \
        const float xd = X(h2f)(x[i].d), xdmin = X(h2f)(x[i].dmin);                                              \
        for (int c = 0; c < 4; c++) {                                                                            \
            const __m256i summ = X(k4_mins)(mn, yc[c][i].bsums);                                                 \
            const __m256i isum = _mm256_add_epi32(isum0[c], isum1[c]);                                           \
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xd * yc[c][i].d), _mm256_cvtepi32_ps(isum), acc[c]);         \
            acc[c] = _mm256_fnmadd_ps(_mm256_set1_ps(xdmin * yc[c][i].d), _mm256_cvtepi32_ps(summ), acc[c]);     \
        }                                                                                                        \
    }                                                                                                            \
    for (int c = 0; c < 4; c++)                                                                                  \
        out[c] = X(hsum_ps)(acc[c]);

#define X_K45_QH(blk) (blk).qs /* unused without FIFTH */
static void X(vec_dot4_q4_K_row)(int64_t n, const void *w, const void *a, size_t as, float out[4])
{
    X_K45_ROW4(hk_block_q4_K, 0)
}
#undef X_K45_QH

#define X_K45_QH(blk) (blk).qh
static void X(vec_dot4_q5_K_row)(int64_t n, const void *w, const void *a, size_t as, float out[4])
{
    X_K45_ROW4(hk_block_q5_K, 1)
}
#undef X_K45_QH
#undef X_K45_ROW4

static void X(vec_dot4_q6_K_row)(int64_t n, const void *w, const void *a, size_t as, float out[4])
{
    const hk_block_q6_K *x = w;
    const int64_t nb = n / HK_QK_K;
    const hk_block_q8_K *yc[4];
    __m256 acc[4];
    for (int c = 0; c < 4; c++) {
        yc[c] = (const hk_block_q8_K *)(const void *)((const uint8_t *)a + (size_t)c * as);
        acc[c] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m256i scale[8];
        X(scale_pairs)(sc16, scale);
        __m256i isum[4][2];
        for (int c = 0; c < 4; c++)
            isum[c][0] = isum[c][1] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i u[4];
            X(q6_K_groups)(x[i].ql + 64 * h, x[i].qh + 32 * h, u);
            for (int t = 0; t < 4; t++) {
                const int g = 4 * h + t;
                for (int c = 0; c < 4; c++) {
                    const __m256i yq = _mm256_loadu_si256((const __m256i *)(yc[c][i].qs + 32 * g));
                    const __m256i p = _mm256_maddubs_epi16(u[t], yq);
                    isum[c][g & 1] = X_DPWSSD(isum[c][g & 1], p, scale[g]);
                }
            }
        }
        const float xd = X(h2f)(x[i].d);
        for (int c = 0; c < 4; c++) {
            const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)yc[c][i].bsums));
            const __m256i tot = _mm256_sub_epi32(_mm256_add_epi32(isum[c][0], isum[c][1]), _mm256_slli_epi32(corr, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xd * yc[c][i].d), _mm256_cvtepi32_ps(tot), acc[c]);
        }
    }
    for (int c = 0; c < 4; c++)
        out[c] = X(hsum_ps)(acc[c]);
}

#define X_KQ_ROWS4(ROW)                                                                                          \
    for (int64_t r = 0; r < nr; r++) {                                                                           \
        const uint8_t *x = (const uint8_t *)w + (size_t)r * ws;                                                  \
        hk_x86_prefetch_row(x, ws, prefetch);                                                                    \
        float out[4];                                                                                            \
        ROW(n, x, a, as, out);                                                                                   \
        for (int c = 0; c < 4; c++)                                                                              \
            y[(size_t)c * ldy + (size_t)r] = out[c];                                                             \
    }

static void X(vec_dot4_q4_K)(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, float *y,
                             size_t ldy, size_t prefetch)
{
    X_KQ_ROWS4(X(vec_dot4_q4_K_row))
}

static void X(vec_dot4_q5_K)(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, float *y,
                             size_t ldy, size_t prefetch)
{
    X_KQ_ROWS4(X(vec_dot4_q5_K_row))
}

static void X(vec_dot4_q6_K)(int64_t n, const void *w, size_t ws, int64_t nr, const void *a, size_t as, float *y,
                             size_t ldy, size_t prefetch)
{
    X_KQ_ROWS4(X(vec_dot4_q6_K_row))
}

#undef X_KQ_ROWS4

static void X(fill4)(hk_vec_dot4_fn dot4[HK_TYPE_COUNT])
{
    dot4[HK_TYPE_Q4_0] = X(vec_dot4_q4_0);
    dot4[HK_TYPE_Q5_0] = X(vec_dot4_q5_0);
    dot4[HK_TYPE_Q8_0] = X(vec_dot4_q8_0);
    dot4[HK_TYPE_Q4_K] = X(vec_dot4_q4_K);
    dot4[HK_TYPE_Q5_K] = X(vec_dot4_q5_K);
    dot4[HK_TYPE_Q6_K] = X(vec_dot4_q6_K);
}

/* ---------------------------------------------------------------- table */

/* Overwrite what this file implements; label names the vec_dot kernels. */
static void X(fill)(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT], const char *label)
{
    ops[HK_TYPE_F32].vec_dot = X(vec_dot_f32);
    ops[HK_TYPE_F16].vec_dot = X(vec_dot_f16);
    ops[HK_TYPE_F16].to_float = X(f16_to_float);
    ops[HK_TYPE_F16].act_from_float = X(f16_from_float);
    ops[HK_TYPE_BF16].vec_dot = X(vec_dot_bf16);
    ops[HK_TYPE_BF16].to_float = X(bf16_to_float);
    ops[HK_TYPE_BF16].act_from_float = X(bf16_from_float);
    ops[HK_TYPE_Q4_0].vec_dot = X(vec_dot_q4_0);
    ops[HK_TYPE_Q4_0].to_float = X(dequantize_q4_0);
    ops[HK_TYPE_Q4_1].vec_dot = X(vec_dot_q4_1);
    ops[HK_TYPE_Q5_0].vec_dot = X(vec_dot_q5_0);
    ops[HK_TYPE_Q5_1].vec_dot = X(vec_dot_q5_1);
    ops[HK_TYPE_Q8_0].vec_dot = X(vec_dot_q8_0);
    ops[HK_TYPE_Q8_0].to_float = X(dequantize_q8_0);
    ops[HK_TYPE_Q8_0].act_from_float = X(quantize_act_q8_0);
    ops[HK_TYPE_Q8_1].act_from_float = X(quantize_act_q8_1);
    ops[HK_TYPE_Q2_K].vec_dot = X(vec_dot_q2_K);
    ops[HK_TYPE_Q3_K].vec_dot = X(vec_dot_q3_K);
    ops[HK_TYPE_Q4_K].vec_dot = X(vec_dot_q4_K);
    ops[HK_TYPE_Q4_K].to_float = X(dequantize_q4_K);
    ops[HK_TYPE_Q5_K].vec_dot = X(vec_dot_q5_K);
    ops[HK_TYPE_Q6_K].vec_dot = X(vec_dot_q6_K);
    ops[HK_TYPE_Q6_K].to_float = X(dequantize_q6_K);
    ops[HK_TYPE_Q8_K].act_from_float = X(quantize_act_q8_K);
    static const hk_type dots[] = {HK_TYPE_F32, HK_TYPE_F16, HK_TYPE_BF16, HK_TYPE_Q4_0, HK_TYPE_Q4_1,
                                   HK_TYPE_Q5_0, HK_TYPE_Q5_1, HK_TYPE_Q8_0, HK_TYPE_Q2_K, HK_TYPE_Q3_K,
                                   HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K, HK_TYPE_Q8_1, HK_TYPE_Q8_K};
    for (size_t k = 0; k < sizeof dots / sizeof dots[0]; k++)
        names[dots[k]] = label;
}

/* this instance's names go, so that the file can be included again with
 * another suffix */
#undef HK_X86_SFX
#undef HK_X86_VNNI
#undef X
#undef X_DPBUSD
#undef X_DPWSSD
