/* K-quants (Q2_K..Q6_K) and the Q8_K activation format, bit-exact with
 * ggml's quantize_row_q*_K_ref (what llama-quantize runs without an
 * importance matrix), dequantize_row_q*_K and the scalar
 * ggml_vec_dot_q*_K_q8_K.
 *
 * Operand order in every float expression follows ggml on purpose; see
 * quant.c. */
#include "quant.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <assert.h>
#include <math.h>

#define H2F(h) hk_f16_to_f32(h)
#define F2H(f) hk_f32_to_f16(f)

/* Below this a group counts as all zeros (ggml's GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- scale search */

/* Symmetric quants in [-nmax, nmax-1] with weights x^2 (ggml's make_qx_quants
 * with rmse_type 1 and no importance weights): start from the scale that maps
 * the largest-magnitude value to -nmax, then try 18 nearby scales and keep
 * the one with the best weighted least-squares fit.  Returns the scale; L
 * gets quants biased by nmax. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = hk_nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = hk_nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = hk_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's sub-block search (make_q3_quants with do_rmse): weighted least
 * squares with weights x^2, improved by moving one quant at a time while the
 * fit gets better (at most five sweeps). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = hk_nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = hk_nearest_int(x[i] * sl2 / slx);
                new_l = imax(-nmax, imin(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quants in [0, nmax] with a scale and a (non-positive) min
 * (make_qkx2_quants): a grid of nstep+1 candidate scales around nmax/range,
 * each refitted by weighted least squares for scale and min; keeps the one
 * with the smallest weighted error (absolute or squared).  *the_min gets
 * -min (a non-negative number). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = hk_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = hk_nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; i++)
                    L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes:
 * sub-blocks 0-3 whole in bytes 0-3 / 4-7, sub-blocks 4-7 as nibbles in bytes
 * 8-11 with their top two bits in the spare high bits of bytes 0-7. */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static void pack_scale_min_k4(uint8_t scales[12], const float *sc, const float *mn, float inv_scale,
                              float inv_min)
{
    for (int j = 0; j < HK_QK_K / 32; j++) {
        uint8_t ls = (uint8_t)hk_nearest_int(inv_scale * sc[j]);
        uint8_t lm = (uint8_t)hk_nearest_int(inv_min * mn[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            scales[j] = ls;
            scales[j + 4] = lm;
        } else {
            scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
}

/* Q3_K's sixteen 6-bit scales: low nibbles in bytes 0-7 (two per byte, j and
 * j+8), top two bits in bytes 8-11. */
static inline int q3_K_scale(const uint8_t s[12], int j)
{
    const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* ggml's scalar K-quant dot product core: the 256 quants a[] against the
 * block's activations q8[], one scale per `group` (16 or 32) elements,
 * integer sums in eight lanes, each lane's sum times d added to its float
 * partial sum (the order the goldens were made in). */
static void k_lane_sums(const int scales[], int group, const int8_t *a, const int8_t *q8, float d, float sums[8])
{
    int32_t aux32[8] = {0};
    for (int j = 0; j < HK_QK_K / group; j++)
        for (int part = 0; part < group / 8; part++) {
            for (int l = 0; l < 8; l++)
                aux32[l] += scales[j] * (int16_t)(q8[l] * a[l]);
            q8 += 8;
            a += 8;
        }
    for (int l = 0; l < 8; l++)
        sums[l] += d * aux32[l];
}

/* ---------------------------------------------------------------- Q2_K */

void hk_quantize_row_q2_K_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q2_K *y = dst;
    assert(n % HK_QK_K == 0);
    uint8_t L[HK_QK_K], Laux[16];
    float weights[16], mins[HK_QK_K / 16], scales[HK_QK_K / 16];
    const float q4scale = 15.f;

    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        float max_scale = 0, max_min = 0; /* scales are positive once the min is split off */
        for (int j = 0; j < HK_QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                         0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < HK_QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)hk_nearest_int(iscale * scales[j]);
            y[i].d = F2H(max_scale / q4scale);
        } else {
            for (int j = 0; j < HK_QK_K / 16; j++)
                y[i].scales[j] = 0;
            y[i].d = F2H(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < HK_QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)(hk_nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = F2H(max_min / q4scale);
        } else {
            y[i].dmin = F2H(0.f);
        }
        /* requantize against the scales as they will be read back */
        for (int j = 0; j < HK_QK_K / 16; j++) {
            const float d = H2F(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d)
                continue;
            const float dm = H2F(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = hk_nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
            }
        }
        for (int j = 0; j < HK_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
        x += HK_QK_K;
    }
}

void hk_dequantize_row_q2_K(const void *src, float *y, int64_t n)
{
    const hk_block_q2_K *x = src;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d = H2F(x[i].d);
        const float min = H2F(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int blk = 0; blk < HK_QK_K; blk += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * ((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
    }
}

float hk_vec_dot_q2_K_q8_K(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q2_K *x = w_row;
    const hk_block_q8_K *y = act_row;
    assert(n % HK_QK_K == 0);
    float sumf = 0;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *q2 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        const uint8_t *sc = x[i].scales;
        int summs = 0;
        for (int j = 0; j < 16; j++)
            summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * H2F(x[i].d);
        const float dmin = y[i].d * H2F(x[i].dmin);
        int isum = 0, is = 0;
        for (int k = 0; k < HK_QK_K / 128; k++) {
            for (int shift = 0; shift < 8; shift += 2) {
                int d = sc[is++] & 0xF;
                int isuml = 0;
                for (int l = 0; l < 16; l++)
                    isuml += q8[l] * ((q2[l] >> shift) & 3);
                isum += d * isuml;
                d = sc[is++] & 0xF;
                isuml = 0;
                for (int l = 16; l < 32; l++)
                    isuml += q8[l] * ((q2[l] >> shift) & 3);
                isum += d * isuml;
                q8 += 32;
            }
            q2 += 32;
        }
        sumf += dall * isum - dmin * summs;
    }
    return sumf;
}

/* ---------------------------------------------------------------- Q3_K */

void hk_quantize_row_q3_K_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q3_K *y = dst;
    assert(n % HK_QK_K == 0);
    int8_t L[HK_QK_K];
    float scales[HK_QK_K / 16];

    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < HK_QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < HK_QK_K / 16; j++) {
                int8_t l = (int8_t)hk_nearest_int(iscale * scales[j]);
                l = (int8_t)(imax(-32, imin(31, l)) + 32);
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = F2H(1 / iscale);
        } else {
            y[i].d = F2H(0.f);
        }
        for (int j = 0; j < HK_QK_K / 16; j++) {
            const float d = H2F(y[i].d) * q3_K_scale(y[i].scales, j);
            if (!d)
                continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = hk_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-4, imin(3, l)) + 4);
            }
        }
        /* high bit of element j goes to hmask[j % 32], bit j / 32 */
        memset(y[i].hmask, 0, HK_QK_K / 8);
        for (int j = 0; j < HK_QK_K; j++) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        }
        for (int j = 0; j < HK_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
        x += HK_QK_K;
    }
}

void hk_dequantize_row_q3_K(const void *src, float *y, int64_t n)
{
    const hk_block_q3_K *x = src;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d_all = H2F(x[i].d);
        const uint8_t *q = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int blk = 0; blk < HK_QK_K; blk += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * q3_K_scale(x[i].scales, is++);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
                m = (uint8_t)(m << 1);
            }
            q += 32;
        }
    }
}

float hk_vec_dot_q3_K_q8_K(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q3_K *x = w_row;
    const hk_block_q8_K *y = act_row;
    assert(n % HK_QK_K == 0);
    int8_t aux8[HK_QK_K];
    /* eight partial float sums across blocks, added at the end, as ggml's
     * scalar code does (it was written to auto-vectorize) */
    float sums[8] = {0};
    float sumf = 0;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *q3 = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        int8_t *a = aux8;
        uint8_t m = 1;
        for (int j = 0; j < HK_QK_K; j += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int l = 0; l < 32; l++)
                    a[l] = (int8_t)(((q3[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                a += 32;
                m = (uint8_t)(m << 1);
            }
            q3 += 32;
        }
        int scales[HK_QK_K / 16];
        for (int j = 0; j < HK_QK_K / 16; j++)
            scales[j] = q3_K_scale(x[i].scales, j);
        k_lane_sums(scales, 16, aux8, y[i].qs, H2F(x[i].d) * y[i].d, sums);
    }
    for (int l = 0; l < 8; l++)
        sumf += sums[l];
    return sumf;
}

/* The scale/min search shared by Q4_K and Q5_K (nmax 15 or 31 levels): per
 * 32-element sub-block a weighted min/scale fit, the 6-bit packing of those
 * against the block's super-scales, then each element rounded to its level
 * under the packed (not the fitted) scales, as ggml does. */
static void quantize_k_scale_min_block(const float *x, int nmax, float rmin, int nstep, uint8_t *L,
                                       uint8_t *packed_scales, uint16_t *d_out, uint16_t *dmin_out)
{
    uint8_t Laux[32];
    float weights[32], mins[HK_QK_K / 32], scales[HK_QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < HK_QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep,
                                     false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    pack_scale_min_k4(packed_scales, scales, mins, inv_scale, inv_min);
    *d_out = F2H(max_scale / 63.f);
    *dmin_out = F2H(max_min / 63.f);

    for (int j = 0; j < HK_QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, packed_scales, &sc, &m);
        const float d = H2F(*d_out) * sc;
        if (!d)
            continue;
        const float dm = H2F(*dmin_out) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = hk_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

/* ---------------------------------------------------------------- Q4_K */

void hk_quantize_row_q4_K_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q4_K *y = dst;
    assert(n % HK_QK_K == 0);
    uint8_t L[HK_QK_K];

    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        quantize_k_scale_min_block(x, 15, -1.f, 20, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < HK_QK_K; j += 64) {
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
        x += HK_QK_K;
    }
}

void hk_dequantize_row_q4_K(const void *src, float *y, int64_t n)
{
    const hk_block_q4_K *x = src;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = H2F(x[i].d);
        const float min = H2F(x[i].dmin);
        int is = 0;
        for (int j = 0; j < HK_QK_K; j += 64) {
            uint8_t sc, m;
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

/* Shared tail of the Q4_K and Q5_K dot products: a holds the 256 unsigned
 * quants, the scales/mins come from the packed 12 bytes. */
static void k4_accumulate(const uint8_t packed[12], const int8_t *a, const hk_block_q8_K *y, float xd, float xdmin,
                          float sums[8], float *sumf)
{
    uint8_t scales[8], mins[8];
    for (int j = 0; j < 8; j++)
        get_scale_min_k4(j, packed, &scales[j], &mins[j]);
    int sumi = 0;
    for (int j = 0; j < HK_QK_K / 16; j++)
        sumi += y->bsums[j] * mins[j / 2];
    int sc[HK_QK_K / 32];
    for (int j = 0; j < HK_QK_K / 32; j++)
        sc[j] = scales[j];
    k_lane_sums(sc, 32, a, y->qs, xd * y->d, sums);
    const float dmin = xdmin * y->d;
    *sumf -= dmin * sumi;
}

float hk_vec_dot_q4_K_q8_K(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q4_K *x = w_row;
    const hk_block_q8_K *y = act_row;
    assert(n % HK_QK_K == 0);
    int8_t aux8[HK_QK_K];
    float sums[8] = {0};
    float sumf = 0;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *q4 = x[i].qs;
        int8_t *a = aux8;
        for (int j = 0; j < HK_QK_K / 64; j++) {
            for (int l = 0; l < 32; l++)
                a[l] = (int8_t)(q4[l] & 0xF);
            a += 32;
            for (int l = 0; l < 32; l++)
                a[l] = (int8_t)(q4[l] >> 4);
            a += 32;
            q4 += 32;
        }
        k4_accumulate(x[i].scales, aux8, &y[i], H2F(x[i].d), H2F(x[i].dmin), sums, &sumf);
    }
    for (int l = 0; l < 8; l++)
        sumf += sums[l];
    return sumf;
}

/* ---------------------------------------------------------------- Q5_K */

void hk_quantize_row_q5_K_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q5_K *y = dst;
    assert(n % HK_QK_K == 0);
    uint8_t L[HK_QK_K];

    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        quantize_k_scale_min_block(x, 31, -0.5f, 15, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *qh = y[i].qh;
        uint8_t *ql = y[i].qs;
        memset(qh, 0, HK_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int blk = 0; blk < HK_QK_K; blk += 64) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[blk + j];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                int l2 = L[blk + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
            ql += 32;
        }
        x += HK_QK_K;
    }
}

void hk_dequantize_row_q5_K(const void *src, float *y, int64_t n)
{
    const hk_block_q5_K *x = src;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        const float d = H2F(x[i].d);
        const float min = H2F(x[i].dmin);
        int is = 0;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < HK_QK_K; j += 64) {
            uint8_t sc, m;
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

float hk_vec_dot_q5_K_q8_K(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q5_K *x = w_row;
    const hk_block_q8_K *y = act_row;
    assert(n % HK_QK_K == 0);
    int8_t aux8[HK_QK_K];
    float sums[8] = {0};
    float sumf = 0;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *q4 = x[i].qs;
        const uint8_t *hm = x[i].qh;
        int8_t *a = aux8;
        uint8_t m = 1;
        for (int j = 0; j < HK_QK_K / 64; j++) {
            for (int l = 0; l < 32; l++)
                a[l] = (int8_t)((q4[l] & 0xF) + (hm[l] & m ? 16 : 0));
            a += 32;
            m = (uint8_t)(m << 1);
            for (int l = 0; l < 32; l++)
                a[l] = (int8_t)((q4[l] >> 4) + (hm[l] & m ? 16 : 0));
            a += 32;
            m = (uint8_t)(m << 1);
            q4 += 32;
        }
        k4_accumulate(x[i].scales, aux8, &y[i], H2F(x[i].d), H2F(x[i].dmin), sums, &sumf);
    }
    for (int l = 0; l < 8; l++)
        sumf += sums[l];
    return sumf;
}

/* ---------------------------------------------------------------- Q6_K */

void hk_quantize_row_q6_K_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q6_K *y = dst;
    assert(n % HK_QK_K == 0);
    int8_t L[HK_QK_K];
    float scales[HK_QK_K / 16];

    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < HK_QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = F2H(0.f);
            x += HK_QK_K;
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = F2H(1 / iscale);
        for (int ib = 0; ib < HK_QK_K / 16; ib++)
            y[i].scales[ib] = (int8_t)imin(127, hk_nearest_int(iscale * scales[ib]));
        for (int j = 0; j < HK_QK_K / 16; j++) {
            const float d = H2F(y[i].d) * y[i].scales[j];
            if (!d)
                continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = hk_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
            }
        }
        uint8_t *ql = y[i].ql;
        uint8_t *qh = y[i].qh;
        for (int j = 0; j < HK_QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l + 0] & 0xF;
                const uint8_t q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF;
                const uint8_t q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
        x += HK_QK_K;
    }
}

void hk_dequantize_row_q6_K(const void *src, float *y, int64_t n)
{
    const hk_block_q6_K *x = src;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const float d = H2F(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int blk = 0; blk < HK_QK_K; blk += 128) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

float hk_vec_dot_q6_K_q8_K(int64_t n, const void *w_row, const void *act_row)
{
    const hk_block_q6_K *x = w_row;
    const hk_block_q8_K *y = act_row;
    assert(n % HK_QK_K == 0);
    int8_t aux8[HK_QK_K];
    float sums[8] = {0};
    float sumf = 0;
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        const uint8_t *q4 = x[i].ql;
        const uint8_t *qh = x[i].qh;
        int8_t *a = aux8;
        for (int j = 0; j < HK_QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                a[l + 0] = (int8_t)(((q4[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                a[l + 32] = (int8_t)(((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                a[l + 64] = (int8_t)(((q4[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                a[l + 96] = (int8_t)(((q4[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
            a += 128;
            q4 += 64;
            qh += 32;
        }
        int scales[HK_QK_K / 16];
        for (int j = 0; j < HK_QK_K / 16; j++)
            scales[j] = x[i].scales[j];
        k_lane_sums(scales, 16, aux8, y[i].qs, H2F(x[i].d) * y[i].d, sums);
    }
    for (int l = 0; l < 8; l++)
        sumf += sums[l];
    return sumf;
}

/* ---------------------------------------------------------------- Q8_K */

/* Activations for the K-quant dot products.  ggml scales by -127/max (not
 * 128) so that the largest value lands on +-127 exactly. */
void hk_quantize_row_q8_K_ref(const float *x, void *dst, int64_t n)
{
    hk_block_q8_K *y = dst;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++) {
        float max = 0, amax = 0;
        for (int j = 0; j < HK_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) {
            /* ggml leaves bsums untouched here; zero keeps the block defined
             * and changes no dot product, since d = 0 multiplies them */
            memset(&y[i], 0, sizeof y[i]);
            x += HK_QK_K;
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < HK_QK_K; j++)
            y[i].qs[j] = (int8_t)imin(127, hk_nearest_int(iscale * x[j]));
        for (int j = 0; j < HK_QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++)
                sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
        x += HK_QK_K;
    }
}

void hk_dequantize_row_q8_K(const void *src, float *y, int64_t n)
{
    const hk_block_q8_K *x = src;
    assert(n % HK_QK_K == 0);
    for (int64_t i = 0; i < n / HK_QK_K; i++)
        for (int j = 0; j < HK_QK_K; j++)
            y[i * HK_QK_K + j] = x[i].d * x[i].qs[j];
}
