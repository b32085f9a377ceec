/* arm64 NEON row kernels, written once and compiled twice by quant_neon.c:
 * with plain NEON (int8 products widened through vmull/vpadal) and under a
 * dotprod target (sdot).  The includer defines:
 *   HK_NEON_SFX      suffix for every function name (neon, dotprod);
 *   HK_NEON_DOTPROD  1 to use vdotq_s32.
 *
 * Exactness as in quant_x86.h: int8 x int8 products fit int16 and are summed
 * in int32, so every integer sum inside a block equals the scalar one; only
 * the float accumulation order differs.  Quantizers and dequantizers repeat
 * the scalar float operations (the file is built with -ffp-contract=off). */
#include <arm_neon.h>
#include <string.h>

#include "quant.h"

#define HK_NEON_PASTE2(a, b) a##_##b
#define HK_NEON_PASTE(a, b) HK_NEON_PASTE2(a, b)
#define N(name) HK_NEON_PASTE(name, HK_NEON_SFX)

/* acc + four int8 x int8 products per int32 lane (which four differs between
 * the two versions; callers only ever use the lane total) */
static inline int32x4_t N(dot)(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if HK_NEON_DOTPROD && defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD)
    /* clang before 16 declares vdotq_s32 only when the whole file targets
     * dotprod; the instruction itself is fine under the target attribute */
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
    return acc;
#elif HK_NEON_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

static inline float N(h2f)(hk_half h)
{
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

/* 16 bits (from bit `first` of the little-endian qh) -> 16 bytes, 0xFF where set */
static inline uint8x16_t N(bits16)(uint32_t qh, int first)
{
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)(qh >> first)), vdup_n_u8((uint8_t)(qh >> (first + 8))));
    return vtstq_u8(b, vld1q_u8(bit));
}

/* ---------------------------------------------------------------- float types */

static float N(vec_dot_f32)(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
        s1 = vfmaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    return sum;
}

static inline float32x4_t N(load_f16)(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static float N(vec_dot_f16)(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, N(load_f16)(x + i), N(load_f16)(y + i));
        s1 = vfmaq_f32(s1, N(load_f16)(x + i + 4), N(load_f16)(y + i + 4));
        s2 = vfmaq_f32(s2, N(load_f16)(x + i + 8), N(load_f16)(y + i + 8));
        s3 = vfmaq_f32(s3, N(load_f16)(x + i + 12), N(load_f16)(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, N(load_f16)(x + i), N(load_f16)(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        sum += N(h2f)(x[i]) * N(h2f)(y[i]);
    return sum;
}

static inline float32x4_t N(load_bf16)(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

static float N(vec_dot_bf16)(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, N(load_bf16)(x + i), N(load_bf16)(y + i));
        s1 = vfmaq_f32(s1, N(load_bf16)(x + i + 4), N(load_bf16)(y + i + 4));
        s2 = vfmaq_f32(s2, N(load_bf16)(x + i + 8), N(load_bf16)(y + i + 8));
        s3 = vfmaq_f32(s3, N(load_bf16)(x + i + 12), N(load_bf16)(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, N(load_bf16)(x + i), N(load_bf16)(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        sum += hk_bf16_to_f32(x[i]) * hk_bf16_to_f32(y[i]);
    return sum;
}

static void N(f16_to_float)(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, N(load_f16)(s + i));
    for (; i < n; i++)
        dst[i] = N(h2f)(s[i]);
}

/* fcvtn rounds to nearest even under the default FPCR, as hk_f32_to_f16 */
static void N(f16_from_float)(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(d + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++)
        d[i] = hk_f32_to_f16(src[i]);
}

static void N(bf16_to_float)(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, N(load_bf16)(s + i));
    for (; i < n; i++)
        dst[i] = hk_bf16_to_f32(s[i]);
}

/* ---------------------------------------------------------------- 32-element formats */

static float N(vec_dot_q4_0)(int64_t n, const void *w, const void *a)
{
    const hk_block_q4_0 *x = w;
    const hk_block_q8_0 *y = a;
    float32x4_t acc = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int64_t ib = 0; ib < n / HK_QK8_0; ib++) {
        const uint8x16_t q = vld1q_u8(x[ib].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
        int32x4_t s = N(dot)(vdupq_n_s32(0), lo, vld1q_s8(y[ib].qs));
        s = N(dot)(s, hi, vld1q_s8(y[ib].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), N(h2f)(x[ib].d) * N(h2f)(y[ib].d));
    }
    return vaddvq_f32(acc);
}

static float N(vec_dot_q4_1)(int64_t n, const void *w, const void *a)
{
    const hk_block_q4_1 *x = w;
    const hk_block_q8_1 *y = a;
    float32x4_t acc = vdupq_n_f32(0);
    float summ = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int64_t ib = 0; ib < n / HK_QK8_1; ib++) {
        const uint8x16_t q = vld1q_u8(x[ib].qs);
        int32x4_t s = N(dot)(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q, m4)), vld1q_s8(y[ib].qs));
        s = N(dot)(s, vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vld1q_s8(y[ib].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), N(h2f)(x[ib].d) * N(h2f)(y[ib].d));
        summ += N(h2f)(x[ib].m) * N(h2f)(y[ib].s);
    }
    return vaddvq_f32(acc) + summ;
}

static float N(vec_dot_q5_0)(int64_t n, const void *w, const void *a)
{
    const hk_block_q5_0 *x = w;
    const hk_block_q8_0 *y = a;
    float32x4_t acc = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), sixteen = vdupq_n_u8(0x10);
    for (int64_t ib = 0; ib < n / HK_QK8_0; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, sizeof qh);
        const uint8x16_t q = vld1q_u8(x[ib].qs);
        /* (nibble | bit << 4) - 16 == nibble - (bit ? 0 : 16) */
        const int8x16_t lo = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q, m4), vbicq_u8(sixteen, N(bits16)(qh, 0))));
        const int8x16_t hi = vreinterpretq_s8_u8(vsubq_u8(vshrq_n_u8(q, 4), vbicq_u8(sixteen, N(bits16)(qh, 16))));
        int32x4_t s = N(dot)(vdupq_n_s32(0), lo, vld1q_s8(y[ib].qs));
        s = N(dot)(s, hi, vld1q_s8(y[ib].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), N(h2f)(x[ib].d) * N(h2f)(y[ib].d));
    }
    return vaddvq_f32(acc);
}

static float N(vec_dot_q5_1)(int64_t n, const void *w, const void *a)
{
    const hk_block_q5_1 *x = w;
    const hk_block_q8_1 *y = a;
    float32x4_t acc = vdupq_n_f32(0);
    float summ = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), sixteen = vdupq_n_u8(0x10);
    for (int64_t ib = 0; ib < n / HK_QK8_1; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, sizeof qh);
        const uint8x16_t q = vld1q_u8(x[ib].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), vandq_u8(sixteen, N(bits16)(qh, 0))));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), vandq_u8(sixteen, N(bits16)(qh, 16))));
        int32x4_t s = N(dot)(vdupq_n_s32(0), lo, vld1q_s8(y[ib].qs));
        s = N(dot)(s, hi, vld1q_s8(y[ib].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), N(h2f)(x[ib].d) * N(h2f)(y[ib].d));
        summ += N(h2f)(x[ib].m) * N(h2f)(y[ib].s);
    }
    return vaddvq_f32(acc) + summ;
}

static float N(vec_dot_q8_0)(int64_t n, const void *w, const void *a)
{
    const hk_block_q8_0 *x = w;
    const hk_block_q8_0 *y = a;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = acc0;
    int64_t ib = 0;
    for (; ib + 2 <= n / HK_QK8_0; ib += 2) {
        int32x4_t s0 = N(dot)(vdupq_n_s32(0), vld1q_s8(x[ib].qs), vld1q_s8(y[ib].qs));
        s0 = N(dot)(s0, vld1q_s8(x[ib].qs + 16), vld1q_s8(y[ib].qs + 16));
        int32x4_t s1 = N(dot)(vdupq_n_s32(0), vld1q_s8(x[ib + 1].qs), vld1q_s8(y[ib + 1].qs));
        s1 = N(dot)(s1, vld1q_s8(x[ib + 1].qs + 16), vld1q_s8(y[ib + 1].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), N(h2f)(x[ib].d) * N(h2f)(y[ib].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(s1), N(h2f)(x[ib + 1].d) * N(h2f)(y[ib + 1].d));
    }
    for (; ib < n / HK_QK8_0; ib++) {
        int32x4_t s0 = N(dot)(vdupq_n_s32(0), vld1q_s8(x[ib].qs), vld1q_s8(y[ib].qs));
        s0 = N(dot)(s0, vld1q_s8(x[ib].qs + 16), vld1q_s8(y[ib].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), N(h2f)(x[ib].d) * N(h2f)(y[ib].d));
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* ---------------------------------------------------------------- K-quants */

/* sum of bsums[j] * m[j] over 16 int16 pairs, exact in int32 */
static inline int32_t N(dot_s16x16)(const int16_t *b, const int16_t *m)
{
    const int16x8_t b0 = vld1q_s16(b), b1 = vld1q_s16(b + 8);
    const int16x8_t m0 = vld1q_s16(m), m1 = vld1q_s16(m + 8);
    int32x4_t s = vmull_s16(vget_low_s16(b0), vget_low_s16(m0));
    s = vmlal_high_s16(s, b0, m0);
    s = vmlal_s16(s, vget_low_s16(b1), vget_low_s16(m1));
    s = vmlal_high_s16(s, b1, m1);
    return vaddvq_s32(s);
}

static float N(vec_dot_q2_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q2_K *x = w;
    const hk_block_q8_K *y = a;
    float sumf = 0;
    const uint8x16_t m3 = vdupq_n_u8(3);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float dall = y[i].d * N(h2f)(x[i].d);
        const float dmin = y[i].d * N(h2f)(x[i].dmin);
        int16_t mins[16];
        for (int j = 0; j < 16; j++)
            mins[j] = (int16_t)(x[i].scales[j] >> 4);
        const int32_t summs = N(dot_s16x16)(y[i].bsums, mins);
        int32x4_t isum = vdupq_n_s32(0);
        for (int k = 0; k < 2; k++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * k), q1 = vld1q_u8(x[i].qs + 32 * k + 16);
            for (int s = 0; s < 4; s++) {
                const int g = 4 * k + s;
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * s));
                const int8x16_t a0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, sh), m3));
                const int8x16_t a1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, sh), m3));
                const int32x4_t p0 = N(dot)(vdupq_n_s32(0), a0, vld1q_s8(y[i].qs + 32 * g));
                const int32x4_t p1 = N(dot)(vdupq_n_s32(0), a1, vld1q_s8(y[i].qs + 32 * g + 16));
                isum = vmlaq_n_s32(isum, p0, x[i].scales[2 * g] & 0xF);
                isum = vmlaq_n_s32(isum, p1, x[i].scales[2 * g + 1] & 0xF);
            }
        }
        sumf += dall * (float)vaddvq_s32(isum) - dmin * (float)summs;
    }
    return sumf;
}

/* Q3_K's sixteen 6-bit scales (see q3_K_scale in quant_k.c), in [-32, 31] */
static inline void N(q3_K_scales)(const uint8_t s[12], int8_t out[16])
{
    uint32_t a0, a1, t, u[4];
    memcpy(&a0, s, 4);
    memcpy(&a1, s + 4, 4);
    memcpy(&t, s + 8, 4);
    u[0] = (a0 & 0x0F0F0F0Fu) | ((t & 0x03030303u) << 4);
    u[1] = (a1 & 0x0F0F0F0Fu) | (((t >> 2) & 0x03030303u) << 4);
    u[2] = ((a0 >> 4) & 0x0F0F0F0Fu) | (((t >> 4) & 0x03030303u) << 4);
    u[3] = ((a1 >> 4) & 0x0F0F0F0Fu) | (((t >> 6) & 0x03030303u) << 4);
    for (int k = 0; k < 16; k++)
        out[k] = (int8_t)((int)((u[k / 4] >> (8 * (k % 4))) & 0xFF) - 32);
}

static float N(vec_dot_q3_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q3_K *x = w;
    const hk_block_q8_K *y = a;
    float sumf = 0;
    const uint8x16_t m3 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    const int8x16_t four = vdupq_n_s8(4);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d = N(h2f)(x[i].d) * y[i].d;
        int8_t sc[16];
        N(q3_K_scales)(x[i].scales, sc);
        const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        int32x4_t isum = vdupq_n_s32(0);
        for (int k = 0; k < 2; k++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * k), q1 = vld1q_u8(x[i].qs + 32 * k + 16);
            for (int s = 0; s < 4; s++) {
                const int g = 4 * k + s;
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * s)), shg = vdupq_n_s8((int8_t)-g);
                /* q = low two bits + 4 * hmask bit g - 4, in [-4, 3] */
                const uint8x16_t h0 = vshlq_n_u8(vandq_u8(vshlq_u8(hm0, shg), one), 2);
                const uint8x16_t h1 = vshlq_n_u8(vandq_u8(vshlq_u8(hm1, shg), one), 2);
                const int8x16_t a0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(vshlq_u8(q0, sh), m3), h0)), four);
                const int8x16_t a1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(vshlq_u8(q1, sh), m3), h1)), four);
                const int32x4_t p0 = N(dot)(vdupq_n_s32(0), a0, vld1q_s8(y[i].qs + 32 * g));
                const int32x4_t p1 = N(dot)(vdupq_n_s32(0), a1, vld1q_s8(y[i].qs + 32 * g + 16));
                isum = vmlaq_n_s32(isum, p0, sc[2 * g]);
                isum = vmlaq_n_s32(isum, p1, sc[2 * g + 1]);
            }
        }
        sumf += d * (float)vaddvq_s32(isum);
    }
    return sumf;
}

/* Q4_K/Q5_K's packed 6-bit scales and mins (get_scale_min_k4) */
static inline void N(k4_scales)(const uint8_t s[12], uint8_t sc[8], uint64_t *mn)
{
    uint64_t sc64;
    hk_k4_scales(s, &sc64, mn);
    memcpy(sc, &sc64, 8);
}

/* sum over the 16 bsums of bsum * min of its 32-element sub-block */
static inline int32_t N(k4_mins)(uint64_t mn, const int16_t bsums[16])
{
    /* pairwise sums of the 16-element bsums are the 32-element sums (|.| <= 4064) */
    const int16x8_t s = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mn)));
    int32x4_t r = vmull_s16(vget_low_s16(s), vget_low_s16(m));
    r = vmlal_high_s16(r, s, m);
    return vaddvq_s32(r);
}

static float N(vec_dot_q4_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q4_K *x = w;
    const hk_block_q8_K *y = a;
    float sumf = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        uint8_t sc[8];
        uint64_t mn;
        N(k4_scales)(x[i].scales, sc, &mn);
        const float d = N(h2f)(x[i].d) * y[i].d;
        const float dmin = N(h2f)(x[i].dmin) * y[i].d;
        const int32_t summ = N(k4_mins)(mn, y[i].bsums);
        int32x4_t isum0 = vdupq_n_s32(0), isum1 = isum0;
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * j), q1 = vld1q_u8(x[i].qs + 32 * j + 16);
            const int8_t *q8 = y[i].qs + 64 * j;
            int32x4_t plo = N(dot)(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(q8));
            plo = N(dot)(plo, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(q8 + 16));
            int32x4_t phi = N(dot)(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(q8 + 32));
            phi = N(dot)(phi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(q8 + 48));
            isum0 = vmlaq_n_s32(isum0, plo, sc[2 * j]);
            isum1 = vmlaq_n_s32(isum1, phi, sc[2 * j + 1]);
        }
        sumf += d * (float)vaddvq_s32(vaddq_s32(isum0, isum1)) - dmin * (float)summ;
    }
    return sumf;
}

static float N(vec_dot_q5_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q5_K *x = w;
    const hk_block_q8_K *y = a;
    float sumf = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        uint8_t sc[8];
        uint64_t mn;
        N(k4_scales)(x[i].scales, sc, &mn);
        const float d = N(h2f)(x[i].d) * y[i].d;
        const float dmin = N(h2f)(x[i].dmin) * y[i].d;
        const int32_t summ = N(k4_mins)(mn, y[i].bsums);
        const uint8x16_t hb0 = vld1q_u8(x[i].qh), hb1 = vld1q_u8(x[i].qh + 16);
        int32x4_t isum0 = vdupq_n_s32(0), isum1 = isum0;
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * j), q1 = vld1q_u8(x[i].qs + 32 * j + 16);
            /* fifth bit of sub-block 2j is bit 2j of qh, of 2j+1 bit 2j+1 */
            const int8x16_t s0 = vdupq_n_s8((int8_t)(-2 * j)), s1 = vdupq_n_s8((int8_t)(-2 * j - 1));
            const uint8x16_t h00 = vshlq_n_u8(vandq_u8(vshlq_u8(hb0, s0), one), 4);
            const uint8x16_t h01 = vshlq_n_u8(vandq_u8(vshlq_u8(hb1, s0), one), 4);
            const uint8x16_t h10 = vshlq_n_u8(vandq_u8(vshlq_u8(hb0, s1), one), 4);
            const uint8x16_t h11 = vshlq_n_u8(vandq_u8(vshlq_u8(hb1, s1), one), 4);
            const int8_t *q8 = y[i].qs + 64 * j;
            int32x4_t plo = N(dot)(vdupq_n_s32(0), vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), h00)), vld1q_s8(q8));
            plo = N(dot)(plo, vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), h01)), vld1q_s8(q8 + 16));
            int32x4_t phi = N(dot)(vdupq_n_s32(0), vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), h10)), vld1q_s8(q8 + 32));
            phi = N(dot)(phi, vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), h11)), vld1q_s8(q8 + 48));
            isum0 = vmlaq_n_s32(isum0, plo, sc[2 * j]);
            isum1 = vmlaq_n_s32(isum1, phi, sc[2 * j + 1]);
        }
        sumf += d * (float)vaddvq_s32(vaddq_s32(isum0, isum1)) - dmin * (float)summ;
    }
    return sumf;
}

/* One 16-element half h of group t (0..3) of a 128-element Q6_K chunk, as
 * signed quants in [-32, 31] (see hk_dequantize_row_q6_K for the order). */
static inline int8x16_t N(q6_K_part)(const uint8_t *ql, const uint8_t *qh, int t, int h)
{
    const uint8x16_t l = vld1q_u8(ql + 32 * (t & 1) + 16 * h);
    const uint8x16_t hb = vld1q_u8(qh + 16 * h);
    const uint8x16_t low = t < 2 ? vandq_u8(l, vdupq_n_u8(0x0F)) : vshrq_n_u8(l, 4);
    const uint8x16_t high = vshlq_n_u8(vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * t))), vdupq_n_u8(3)), 4);
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, high)), vdupq_n_s8(32));
}

static float N(vec_dot_q6_K)(int64_t n, const void *w, const void *a)
{
    const hk_block_q6_K *x = w;
    const hk_block_q8_K *y = a;
    float sumf = 0;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d = N(h2f)(x[i].d) * y[i].d;
        int32x4_t isum0 = vdupq_n_s32(0), isum1 = isum0;
        for (int c = 0; c < 2; c++) {
            const uint8_t *ql = x[i].ql + 64 * c, *qh = x[i].qh + 32 * c;
            for (int t = 0; t < 4; t++) {
                const int g = 4 * c + t;
                const int32x4_t p0 = N(dot)(vdupq_n_s32(0), N(q6_K_part)(ql, qh, t, 0), vld1q_s8(y[i].qs + 32 * g));
                const int32x4_t p1 = N(dot)(vdupq_n_s32(0), N(q6_K_part)(ql, qh, t, 1), vld1q_s8(y[i].qs + 32 * g + 16));
                isum0 = vmlaq_n_s32(isum0, p0, x[i].scales[2 * g]);
                isum1 = vmlaq_n_s32(isum1, p1, x[i].scales[2 * g + 1]);
            }
        }
        sumf += d * (float)vaddvq_s32(vaddq_s32(isum0, isum1));
    }
    return sumf;
}

/* ---------------------------------------------------------------- activations */

/* The x86 llama.cpp semantics (see quant_x86.h), so that an arm64 build gives
 * the same activations as the x86 build that produced the goldens: amax,
 * d = amax / 127, multiplier 127 / amax, round half to even (fcvtns). */
static inline float N(q8_block)(const float *x, int32x4_t q[8])
{
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        m = vmaxq_f32(m, vabsq_f32(v[k]));
    }
    const float amax = vmaxvq_f32(m);
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    for (int k = 0; k < 8; k++)
        q[k] = vcvtnq_s32_f32(vmulq_n_f32(v[k], id));
    return amax / 127.f;
}

/* eight int32x4 (values within int8) -> 32 int8 in order */
static inline void N(pack_i8)(const int32x4_t q[8], int8_t *dst)
{
    for (int k = 0; k < 2; k++) {
        const int16x8_t a = vcombine_s16(vqmovn_s32(q[4 * k]), vqmovn_s32(q[4 * k + 1]));
        const int16x8_t b = vcombine_s16(vqmovn_s32(q[4 * k + 2]), vqmovn_s32(q[4 * k + 3]));
        vst1q_s8(dst + 16 * k, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
}

static void N(quantize_act_q8_0)(const float *x, void *dst, int64_t n)
{
    hk_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / HK_QK8_0; i++) {
        int32x4_t q[8];
        const float d = N(q8_block)(x + HK_QK8_0 * i, q);
        y[i].d = hk_f32_to_f16(d);
        N(pack_i8)(q, y[i].qs);
    }
}

static void N(quantize_act_q8_1)(const float *x, void *dst, int64_t n)
{
    hk_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / HK_QK8_1; i++) {
        int32x4_t q[8];
        const float d = N(q8_block)(x + HK_QK8_1 * i, q);
        int32x4_t s = q[0];
        for (int k = 1; k < 8; k++)
            s = vaddq_s32(s, q[k]);
        y[i].d = hk_f32_to_f16(d);
        y[i].s = hk_f32_to_f16(d * (float)vaddvq_s32(s));
        N(pack_i8)(q, y[i].qs);
    }
}

/* hk_quantize_row_q8_K_ref four lanes at a time (first element of largest
 * magnitude gives the scale and its sign; min(127, round-half-even)). */
static void N(quantize_act_q8_K)(const float *x, void *dst, int64_t n)
{
    hk_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / HK_QK_K; i++, x += HK_QK_K) {
        /* fmaxnm skips NaNs, as the scalar "ax > amax" does */
        float32x4_t m = vdupq_n_f32(0);
        for (int k = 0; k < HK_QK_K; k += 4)
            m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + k)));
        const float amax = vmaxnmvq_f32(m);
        if (!(amax > 0)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        int first = 0;
        while (!(__builtin_fabsf(x[first]) == amax))
            first++;
        const float iscale = -127.f / x[first];
        const int32x4_t lim = vdupq_n_s32(127);
        for (int k = 0; k < HK_QK_K; k += 32) {
            int32x4_t q[8];
            for (int j = 0; j < 8; j++)
                q[j] = vminq_s32(lim, vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + k + 4 * j), iscale)));
            N(pack_i8)(q, y[i].qs + k);
            y[i].bsums[k / 16] = (int16_t)vaddlvq_s8(vld1q_s8(y[i].qs + k));
            y[i].bsums[k / 16 + 1] = (int16_t)vaddlvq_s8(vld1q_s8(y[i].qs + k + 16));
        }
        y[i].d = 1 / iscale;
    }
}

/* ---------------------------------------------------------------- dequantize */

static inline void N(store_s8_scaled)(int8x16_t q, float d, float *dst)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    vst1q_f32(dst + 0, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(dst + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(dst + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

static void N(dequantize_q4_0)(const void *src, float *y, int64_t n)
{
    const hk_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / HK_QK4_0; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const float d = N(h2f)(x[i].d);
        N(store_s8_scaled)(vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(8)), d, y + 32 * i);
        N(store_s8_scaled)(vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8)), d, y + 32 * i + 16);
    }
}

static void N(dequantize_q8_0)(const void *src, float *y, int64_t n)
{
    const hk_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / HK_QK8_0; i++) {
        const float d = N(h2f)(x[i].d);
        N(store_s8_scaled)(vld1q_s8(x[i].qs), d, y + 32 * i);
        N(store_s8_scaled)(vld1q_s8(x[i].qs + 16), d, y + 32 * i + 16);
    }
}

/* 16 unsigned bytes -> d * q - m, two roundings as the scalar code */
static inline void N(store_u8_affine)(uint8x16_t q, float d, float m, float *dst)
{
    const uint16x8_t lo = vmovl_u8(vget_low_u8(q)), hi = vmovl_high_u8(q);
    const float32x4_t vm = vdupq_n_f32(m);
    vst1q_f32(dst + 0, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), d), vm));
    vst1q_f32(dst + 4, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(lo)), d), vm));
    vst1q_f32(dst + 8, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), d), vm));
    vst1q_f32(dst + 12, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(hi)), d), vm));
}

static void N(dequantize_q4_K)(const void *src, float *y, int64_t n)
{
    const hk_block_q4_K *x = src;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        uint8_t sc[8];
        uint64_t mn;
        N(k4_scales)(x[i].scales, sc, &mn);
        const float d = N(h2f)(x[i].d), min = N(h2f)(x[i].dmin);
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * j), q1 = vld1q_u8(x[i].qs + 32 * j + 16);
            const float d1 = d * sc[2 * j], m1 = min * (uint8_t)(mn >> (16 * j));
            const float d2 = d * sc[2 * j + 1], m2 = min * (uint8_t)(mn >> (16 * j + 8));
            N(store_u8_affine)(vandq_u8(q0, vdupq_n_u8(0x0F)), d1, m1, y);
            N(store_u8_affine)(vandq_u8(q1, vdupq_n_u8(0x0F)), d1, m1, y + 16);
            N(store_u8_affine)(vshrq_n_u8(q0, 4), d2, m2, y + 32);
            N(store_u8_affine)(vshrq_n_u8(q1, 4), d2, m2, y + 48);
            y += 64;
        }
    }
}

static void N(dequantize_q6_K)(const void *src, float *y, int64_t n)
{
    const hk_block_q6_K *x = src;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d = N(h2f)(x[i].d);
        for (int c = 0; c < 2; c++) {
            const uint8_t *ql = x[i].ql + 64 * c, *qh = x[i].qh + 32 * c;
            for (int t = 0; t < 4; t++) {
                const int is = 8 * c + 2 * t;
                /* (d * scale) * q, in that order, as the scalar code */
                N(store_s8_scaled)(N(q6_K_part)(ql, qh, t, 0), d * x[i].scales[is], y);
                N(store_s8_scaled)(N(q6_K_part)(ql, qh, t, 1), d * x[i].scales[is + 1], y + 16);
                y += 32;
            }
        }
    }
}

/* ---------------------------------------------------------------- table */

static void N(fill)(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT], const char *label)
{
    ops[HK_TYPE_F32].vec_dot = N(vec_dot_f32);
    ops[HK_TYPE_F16].vec_dot = N(vec_dot_f16);
    ops[HK_TYPE_F16].to_float = N(f16_to_float);
    ops[HK_TYPE_F16].act_from_float = N(f16_from_float);
    ops[HK_TYPE_BF16].vec_dot = N(vec_dot_bf16);
    ops[HK_TYPE_BF16].to_float = N(bf16_to_float);
    ops[HK_TYPE_Q4_0].vec_dot = N(vec_dot_q4_0);
    ops[HK_TYPE_Q4_0].to_float = N(dequantize_q4_0);
    ops[HK_TYPE_Q4_1].vec_dot = N(vec_dot_q4_1);
    ops[HK_TYPE_Q5_0].vec_dot = N(vec_dot_q5_0);
    ops[HK_TYPE_Q5_1].vec_dot = N(vec_dot_q5_1);
    ops[HK_TYPE_Q8_0].vec_dot = N(vec_dot_q8_0);
    ops[HK_TYPE_Q8_0].to_float = N(dequantize_q8_0);
    ops[HK_TYPE_Q8_0].act_from_float = N(quantize_act_q8_0);
    ops[HK_TYPE_Q8_1].act_from_float = N(quantize_act_q8_1);
    ops[HK_TYPE_Q2_K].vec_dot = N(vec_dot_q2_K);
    ops[HK_TYPE_Q3_K].vec_dot = N(vec_dot_q3_K);
    ops[HK_TYPE_Q4_K].vec_dot = N(vec_dot_q4_K);
    ops[HK_TYPE_Q4_K].to_float = N(dequantize_q4_K);
    ops[HK_TYPE_Q5_K].vec_dot = N(vec_dot_q5_K);
    ops[HK_TYPE_Q6_K].vec_dot = N(vec_dot_q6_K);
    ops[HK_TYPE_Q6_K].to_float = N(dequantize_q6_K);
    ops[HK_TYPE_Q8_K].act_from_float = N(quantize_act_q8_K);
    static const hk_type dots[] = {HK_TYPE_F32, HK_TYPE_F16, HK_TYPE_BF16, HK_TYPE_Q4_0, HK_TYPE_Q4_1,
                                   HK_TYPE_Q5_0, HK_TYPE_Q5_1, HK_TYPE_Q8_0, HK_TYPE_Q2_K, HK_TYPE_Q3_K,
                                   HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K, HK_TYPE_Q8_1, HK_TYPE_Q8_K};
    for (size_t k = 0; k < sizeof dots / sizeof dots[0]; k++)
        names[dots[k]] = label;
}
