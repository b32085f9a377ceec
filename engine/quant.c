/* Plain floats and the 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q8_1), plus the per-type dispatch.  The K-quants live in quant_k.c.
 *
 * Every expression below keeps ggml's operand order: float rounding makes
 * (a*b)*c and a*(b*c) different numbers, and bit-exactness is the point. */
#include "quant.h"

/* A fused multiply-add rounds once instead of twice and would change results
 * if the compiler were allowed to contract a*b+c under -march flags. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <assert.h>
#include <float.h>
#include <math.h>

static_assert(sizeof(hk_block_q4_0) == 18, "Q4_0 block");
static_assert(sizeof(hk_block_q4_1) == 20, "Q4_1 block");
static_assert(sizeof(hk_block_q5_0) == 22, "Q5_0 block");
static_assert(sizeof(hk_block_q5_1) == 24, "Q5_1 block");
static_assert(sizeof(hk_block_q8_0) == 34, "Q8_0 block");
static_assert(sizeof(hk_block_q8_1) == 36, "Q8_1 block");
static_assert(sizeof(hk_block_q2_K) == 84, "Q2_K block");
static_assert(sizeof(hk_block_q3_K) == 110, "Q3_K block");
static_assert(sizeof(hk_block_q4_K) == 144, "Q4_K block");
static_assert(sizeof(hk_block_q5_K) == 176, "Q5_K block");
static_assert(sizeof(hk_block_q6_K) == 210, "Q6_K block");
static_assert(sizeof(hk_block_q8_K) == 292, "Q8_K block");

#define H2F(h) hk_f16_to_f32(h)
#define F2H(f) hk_f32_to_f16(f)

static inline int imin(int a, int b) { return a < b ? a : b; }
/* ggml's MAX macro, which (unlike fmaxf) lets a NaN through */
static inline float fmax_ggml(float a, float b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- F32/F16/BF16 */

static void f32_to_float(const void *src, float *dst, int64_t n)
{
    memmove(dst, src, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *src, void *dst, int64_t n)
{
    memmove(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = hk_f16_to_f32(s[i]);
}

static void f16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = hk_f32_to_f16(src[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = hk_bf16_to_f32(s[i]);
}

static void bf16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = hk_f32_to_bf16(src[i]);
}

/* ggml's scalar vec_dot_f32/f16/bf16: each product rounded to float, the
 * running sum kept in double (ggml_float). */
static float f32_vec_dot(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    return (float)sum;
}

static float f16_vec_dot(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(hk_f16_to_f32(x[i]) * hk_f16_to_f32(y[i]));
    return (float)sum;
}

static float bf16_vec_dot(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(hk_bf16_to_f32(x[i]) * hk_bf16_to_f32(y[i]));
    return (float)sum;
}

/* ---------------------------------------------------------------- dequantize */

void hk_dequantize_row_q4_0(const void *src, float *y, int64_t n)
{
    const hk_block_q4_0 *x = src;
    assert(n % HK_QK4_0 == 0);
    for (int64_t i = 0; i < n / HK_QK4_0; i++) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < HK_QK4_0 / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            y[i * HK_QK4_0 + j] = x0 * d;
            y[i * HK_QK4_0 + j + HK_QK4_0 / 2] = x1 * d;
        }
    }
}

void hk_dequantize_row_q4_1(const void *src, float *y, int64_t n)
{
    const hk_block_q4_1 *x = src;
    assert(n % HK_QK4_1 == 0);
    for (int64_t i = 0; i < n / HK_QK4_1; i++) {
        const float d = H2F(x[i].d);
        const float m = H2F(x[i].m);
        for (int j = 0; j < HK_QK4_1 / 2; j++) {
            const int x0 = x[i].qs[j] & 0x0F;
            const int x1 = x[i].qs[j] >> 4;
            y[i * HK_QK4_1 + j] = x0 * d + m;
            y[i * HK_QK4_1 + j + HK_QK4_1 / 2] = x1 * d + m;
        }
    }
}

static inline uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh(uint8_t qh[4], uint32_t v)
{
    qh[0] = (uint8_t)v;
    qh[1] = (uint8_t)(v >> 8);
    qh[2] = (uint8_t)(v >> 16);
    qh[3] = (uint8_t)(v >> 24);
}

void hk_dequantize_row_q5_0(const void *src, float *y, int64_t n)
{
    const hk_block_q5_0 *x = src;
    assert(n % HK_QK5_0 == 0);
    for (int64_t i = 0; i < n / HK_QK5_0; i++) {
        const float d = H2F(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < HK_QK5_0 / 2; j++) {
            const int hi0 = (int)((qh >> j) << 4 & 0x10);
            const int hi1 = (int)((qh >> (j + 12)) & 0x10);
            const int x0 = ((x[i].qs[j] & 0x0F) | hi0) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | hi1) - 16;
            y[i * HK_QK5_0 + j] = x0 * d;
            y[i * HK_QK5_0 + j + HK_QK5_0 / 2] = x1 * d;
        }
    }
}

void hk_dequantize_row_q5_1(const void *src, float *y, int64_t n)
{
    const hk_block_q5_1 *x = src;
    assert(n % HK_QK5_1 == 0);
    for (int64_t i = 0; i < n / HK_QK5_1; i++) {
        const float d = H2F(x[i].d);
        const float m = H2F(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < HK_QK5_1 / 2; j++) {
            const int hi0 = (int)((qh >> j) << 4 & 0x10);
            const int hi1 = (int)((qh >> (j + 12)) & 0x10);
            const int x0 = (x[i].qs[j] & 0x0F) | hi0;
            const int x1 = (x[i].qs[j] >> 4) | hi1;
            y[i * HK_QK5_1 + j] = x0 * d + m;
            y[i * HK_QK5_1 + j + HK_QK5_1 / 2] = x1 * d + m;
        }
    }
}

void hk_dequantize_row_q8_0(const void *src, float *y, int64_t n)
{
    const hk_block_q8_0 *x = src;
    assert(n % HK_QK8_0 == 0);
    for (int64_t i = 0; i < n / HK_QK8_0; i++) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < HK_QK8_0; j++)
            y[i * HK_QK8_0 + j] = x[i].qs[j] * d;
    }
}

/* ggml has no to_float for Q8_1 (it never stores it); this is the obvious
 * d * q, for tests and debugging of activations. */
void hk_dequantize_row_q8_1(const void *src, float *y, int64_t n)
{
    const hk_block_q8_1 *x = src;
    assert(n % HK_QK8_1 == 0);
    for (int64_t i = 0; i < n / HK_QK8_1; i++) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < HK_QK8_1; j++)
            y[i * HK_QK8_1 + j] = x[i].qs[j] * d;
    }
}

/* ---------------------------------------------------------------- quantize */

/* Symmetric 4/5-bit: the value of largest magnitude maps to -8 (-16) exactly,
 * which is why ggml divides the signed max, not the absolute max. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

/* The block's smallest and largest value, as ggml's Q4_1/Q5_1 search them. */
static void min_max(const float *x, int n, float *min, float *max)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

void hk_quantize_row_q4_0_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q4_0 *y = dst;
    const int qk = HK_QK4_0;
    assert(n % qk == 0);
    for (int64_t i = 0; i < n / qk; i++) {
        const float max = signed_absmax(x + i * qk, qk);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = x[i * qk + j] * id;
            const float x1 = x[i * qk + qk / 2 + j] * id;
            /* truncation of a value >= 0.5: the +8.5 makes it round-half-up */
            const int q0 = imin(15, (int8_t)(x0 + 8.5f));
            const int q1 = imin(15, (int8_t)(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void hk_quantize_row_q4_1_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q4_1 *y = dst;
    const int qk = HK_QK4_1;
    assert(n % qk == 0);
    for (int64_t i = 0; i < n / qk; i++) {
        float min, max;
        min_max(x + i * qk, qk, &min, &max);
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(min);
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = (x[i * qk + j] - min) * id;
            const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
            const int q0 = imin(15, (int8_t)(x0 + 0.5f));
            const int q1 = imin(15, (int8_t)(x1 + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void hk_quantize_row_q5_0_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q5_0 *y = dst;
    const int qk = HK_QK5_0;
    assert(n % qk == 0);
    for (int64_t i = 0; i < n / qk; i++) {
        const float max = signed_absmax(x + i * qk, qk);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = x[i * qk + j] * id;
            const float x1 = x[i * qk + qk / 2 + j] * id;
            const uint8_t q0 = (uint8_t)imin(31, (int8_t)(x0 + 16.5f));
            const uint8_t q1 = (uint8_t)imin(31, (int8_t)(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)((q0 & 0x10u) >> 4) << j;
            qh |= (uint32_t)((q1 & 0x10u) >> 4) << (j + qk / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

void hk_quantize_row_q5_1_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q5_1 *y = dst;
    const int qk = HK_QK5_1;
    assert(n % qk == 0);
    for (int64_t i = 0; i < n / qk; i++) {
        float min, max;
        min_max(x + i * qk, qk, &min, &max);
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(min);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = (x[i * qk + j] - min) * id;
            const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
            /* ggml does not clamp here; a 32 loses its bits, as there */
            const uint8_t q0 = (uint8_t)(x0 + 0.5f);
            const uint8_t q1 = (uint8_t)(x1 + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)((q0 & 0x10u) >> 4) << j;
            qh |= (uint32_t)((q1 & 0x10u) >> 4) << (j + qk / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

/* roundf (halves away from zero) of v as integer steps the compiler
 * vectorizes: t = trunc(v) and v - t are exact for |v| < 2^22, so this is
 * exactly (int)roundf(v); libm's roundf per element was most of the time of
 * mkmodel's Q8_0 files.  round_away_ok(amax * id) says that every v = x * id
 * of a block is in that range (rounded products are monotonic in |x|), and
 * excludes inf and NaN, which take roundf as before. */
static inline int round_away(float v)
{
    const int t = (int)v;
    const float f = v - (float)t;
    return t + (f >= 0.5f) - (f <= -0.5f);
}

static inline bool round_away_ok(float vmax)
{
    return vmax < 4194304.0f; /* 2^22; false for NaN */
}

/* ggml's sequential amax of a block of 32, in eight lanes: without NaNs
 * every |x| is >= +0 and the maximum does not depend on the order; a NaN
 * (which the sequential fmax_ggml keeps or drops by position) takes the
 * sequential loop. */
typedef float hk_v4f __attribute__((vector_size(16)));
typedef int32_t hk_v4i __attribute__((vector_size(16)));

static inline float block_amax32(const float *x)
{
    const hk_v4i abs_mask = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    hk_v4f m0 = {0}, m1 = {0}, nan = {0};
    for (int j = 0; j < 32; j += 8) {
        hk_v4f a0, a1;
        memcpy(&a0, x + j, sizeof a0);
        memcpy(&a1, x + j + 4, sizeof a1);
        nan += (a0 - a0) + (a1 - a1); /* NaN from a NaN or an infinity */
        a0 = (hk_v4f)((hk_v4i)a0 & abs_mask);
        a1 = (hk_v4f)((hk_v4i)a1 & abs_mask);
        const hk_v4i k0 = m0 > a0, k1 = m1 > a1; /* m = m > a ? m : a */
        m0 = (hk_v4f)(((hk_v4i)m0 & k0) | ((hk_v4i)a0 & ~k0));
        m1 = (hk_v4f)(((hk_v4i)m1 & k1) | ((hk_v4i)a1 & ~k1));
    }
    if (nan[0] != 0.0f || nan[1] != 0.0f || nan[2] != 0.0f || nan[3] != 0.0f) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmax_ggml(amax, fabsf(x[j]));
        return amax;
    }
    float amax = 0.0f;
    for (int l = 0; l < 4; l++) {
        amax = fmax_ggml(amax, m0[l]);
        amax = fmax_ggml(amax, m1[l]);
    }
    return amax;
}

void hk_quantize_row_q8_0_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q8_0 *y = dst;
    assert(n % HK_QK8_0 == 0);
    for (int64_t i = 0; i < n / HK_QK8_0; i++) {
        const float amax = block_amax32(x + i * HK_QK8_0);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        if (round_away_ok(amax * id)) {
            for (int j = 0; j < HK_QK8_0; j++)
                y[i].qs[j] = (int8_t)round_away(x[i * HK_QK8_0 + j] * id);
        } else {
            for (int j = 0; j < HK_QK8_0; j++)
                y[i].qs[j] = (int8_t)roundf(x[i * HK_QK8_0 + j] * id);
        }
    }
}

void hk_quantize_row_q8_1_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q8_1 *y = dst;
    const int qk = HK_QK8_1;
    assert(n % qk == 0);
    for (int64_t i = 0; i < n / qk; i++) {
        float amax = 0.0f;
        for (int j = 0; j < qk; j++)
            amax = fmax_ggml(amax, fabsf(x[i * qk + j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        int sum = 0;
        for (int j = 0; j < qk / 2; j++) {
            y[i].qs[j] = (int8_t)roundf(x[i * qk + j] * id);
            y[i].qs[qk / 2 + j] = (int8_t)roundf(x[i * qk + qk / 2 + j] * id);
            sum += y[i].qs[j] + y[i].qs[qk / 2 + j];
        }
        y[i].s = F2H(sum * d);
    }
}

/* ---------------------------------------------------------------- dot products */

float hk_vec_dot_q4_0_q8_0(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q4_0 *x = w_row;
    const hk_block_q8_0 *y = act_row;
    const int qk = HK_QK8_0;
    assert(n % qk == 0);
    float sumf = 0;
    for (int64_t ib = 0; ib < n / qk; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < qk / 2; j++) {
            const int v0 = (x[ib].qs[j] & 0x0F) - 8;
            const int v1 = (x[ib].qs[j] >> 4) - 8;
            sumi0 += v0 * y[ib].qs[j];
            sumi1 += v1 * y[ib].qs[j + qk / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += sumi * H2F(x[ib].d) * H2F(y[ib].d);
    }
    return sumf;
}

float hk_vec_dot_q4_1_q8_1(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q4_1 *x = w_row;
    const hk_block_q8_1 *y = act_row;
    const int qk = HK_QK8_1;
    assert(n % qk == 0);
    float sumf = 0;
    for (int64_t ib = 0; ib < n / qk; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < qk / 2; j++) {
            const int v0 = x[ib].qs[j] & 0x0F;
            const int v1 = x[ib].qs[j] >> 4;
            sumi0 += v0 * y[ib].qs[j];
            sumi1 += v1 * y[ib].qs[j + qk / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (H2F(x[ib].d) * H2F(y[ib].d)) * sumi + H2F(x[ib].m) * H2F(y[ib].s);
    }
    return sumf;
}

float hk_vec_dot_q5_0_q8_0(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q5_0 *x = w_row;
    const hk_block_q8_0 *y = act_row;
    const int qk = HK_QK8_0;
    assert(n % qk == 0);
    float sumf = 0;
    for (int64_t ib = 0; ib < n / qk; ib++) {
        const uint32_t qh = load_qh(x[ib].qh);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < qk / 2; j++) {
            const int hi0 = (int)((qh >> j) << 4 & 0x10);
            const int hi1 = (int)((qh >> (j + 12)) & 0x10);
            const int x0 = ((x[ib].qs[j] & 0x0F) | hi0) - 16;
            const int x1 = ((x[ib].qs[j] >> 4) | hi1) - 16;
            sumi0 += x0 * y[ib].qs[j];
            sumi1 += x1 * y[ib].qs[j + qk / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (H2F(x[ib].d) * H2F(y[ib].d)) * sumi;
    }
    return sumf;
}

float hk_vec_dot_q5_1_q8_1(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q5_1 *x = w_row;
    const hk_block_q8_1 *y = act_row;
    const int qk = HK_QK8_1;
    assert(n % qk == 0);
    float sumf = 0;
    for (int64_t ib = 0; ib < n / qk; ib++) {
        const uint32_t qh = load_qh(x[ib].qh);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < qk / 2; j++) {
            const int hi0 = (int)((qh >> j) << 4 & 0x10);
            const int hi1 = (int)((qh >> (j + 12)) & 0x10);
            const int x0 = (x[ib].qs[j] & 0x0F) | hi0;
            const int x1 = (x[ib].qs[j] >> 4) | hi1;
            sumi0 += x0 * y[ib].qs[j];
            sumi1 += x1 * y[ib].qs[j + qk / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (H2F(x[ib].d) * H2F(y[ib].d)) * sumi + H2F(x[ib].m) * H2F(y[ib].s);
    }
    return sumf;
}

float hk_vec_dot_q8_0_q8_0(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q8_0 *x = w_row;
    const hk_block_q8_0 *y = act_row;
    assert(n % HK_QK8_0 == 0);
    float sumf = 0;
    for (int64_t ib = 0; ib < n / HK_QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < HK_QK8_0; j++)
            sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += sumi * (H2F(x[ib].d) * H2F(y[ib].d));
    }
    return sumf;
}

/* ---------------------------------------------------------------- dispatch */

/* Activations use the same scalar functions as weights: ggml's CPU
 * from_float for these types is the _ref code when no SIMD path applies. */
static const hk_quant_ops ops_table[HK_TYPE_COUNT] = {
    [HK_TYPE_F32] = {f32_to_float, f32_from_float, f32_from_float, f32_vec_dot},
    [HK_TYPE_F16] = {f16_to_float, f16_from_float, f16_from_float, f16_vec_dot},
    [HK_TYPE_BF16] = {bf16_to_float, bf16_from_float, bf16_from_float, bf16_vec_dot},
    [HK_TYPE_Q4_0] = {hk_dequantize_row_q4_0, hk_quantize_row_q4_0_ref, hk_quantize_row_q4_0_ref,
                      hk_vec_dot_q4_0_q8_0},
    [HK_TYPE_Q4_1] = {hk_dequantize_row_q4_1, hk_quantize_row_q4_1_ref, hk_quantize_row_q4_1_ref,
                      hk_vec_dot_q4_1_q8_1},
    [HK_TYPE_Q5_0] = {hk_dequantize_row_q5_0, hk_quantize_row_q5_0_ref, hk_quantize_row_q5_0_ref,
                      hk_vec_dot_q5_0_q8_0},
    [HK_TYPE_Q5_1] = {hk_dequantize_row_q5_1, hk_quantize_row_q5_1_ref, hk_quantize_row_q5_1_ref,
                      hk_vec_dot_q5_1_q8_1},
    [HK_TYPE_Q8_0] = {hk_dequantize_row_q8_0, hk_quantize_row_q8_0_ref, hk_quantize_row_q8_0_ref,
                      hk_vec_dot_q8_0_q8_0},
    /* ggml has no Q8_1 x Q8_1 dot product: Q8_1 only ever holds activations */
    [HK_TYPE_Q8_1] = {hk_dequantize_row_q8_1, hk_quantize_row_q8_1_ref, hk_quantize_row_q8_1_ref, NULL},
    [HK_TYPE_Q2_K] = {hk_dequantize_row_q2_K, hk_quantize_row_q2_K_ref, hk_quantize_row_q2_K_ref,
                      hk_vec_dot_q2_K_q8_K},
    [HK_TYPE_Q3_K] = {hk_dequantize_row_q3_K, hk_quantize_row_q3_K_ref, hk_quantize_row_q3_K_ref,
                      hk_vec_dot_q3_K_q8_K},
    [HK_TYPE_Q4_K] = {hk_dequantize_row_q4_K, hk_quantize_row_q4_K_ref, hk_quantize_row_q4_K_ref,
                      hk_vec_dot_q4_K_q8_K},
    [HK_TYPE_Q5_K] = {hk_dequantize_row_q5_K, hk_quantize_row_q5_K_ref, hk_quantize_row_q5_K_ref,
                      hk_vec_dot_q5_K_q8_K},
    [HK_TYPE_Q6_K] = {hk_dequantize_row_q6_K, hk_quantize_row_q6_K_ref, hk_quantize_row_q6_K_ref,
                      hk_vec_dot_q6_K_q8_K},
    /* Q8_K: activations only; llama-quantize never writes it */
    [HK_TYPE_Q8_K] = {hk_dequantize_row_q8_K, hk_quantize_row_q8_K_ref, hk_quantize_row_q8_K_ref, NULL},
};

const hk_quant_ops *hk_quant_ops_of(hk_type t)
{
    if ((unsigned)t >= HK_TYPE_COUNT || ops_table[t].to_float == NULL)
        return NULL;
    return &ops_table[t];
}

bool hk_can_dequantize(hk_type t)
{
    return hk_quant_ops_of(t) != NULL;
}

bool hk_can_quantize(hk_type t)
{
    const hk_quant_ops *o = hk_quant_ops_of(t);
    return o && o->from_float;
}

void hk_dequantize_row(hk_type t, const void *src, float *dst, int64_t n)
{
    const hk_quant_ops *o = hk_quant_ops_of(t);
    assert(o && n % hk_type_traits_of(t)->block_size == 0);
    o->to_float(src, dst, n);
}

void hk_quantize_row_ref(hk_type t, const float *src, void *dst, int64_t n)
{
    const hk_quant_ops *o = hk_quant_ops_of(t);
    assert(o && o->from_float && n % hk_type_traits_of(t)->block_size == 0);
    o->from_float(src, dst, n);
}

void hk_quantize_act(hk_type vec_dot_type, const float *x, void *dst, int64_t n)
{
    const hk_quant_ops *o = hk_quant_ops_of(vec_dot_type);
    assert(o && o->act_from_float && n % hk_type_traits_of(vec_dot_type)->block_size == 0);
    o->act_from_float(x, dst, n);
}

float hk_vec_dot(hk_type wt, int64_t n, const void *w_row, const void *act_row)
{
    const hk_quant_ops *o = hk_quant_ops_of(wt);
    assert(o && o->vec_dot && n % hk_type_traits_of(wt)->block_size == 0);
    return o->vec_dot(n, w_row, act_row);
}
