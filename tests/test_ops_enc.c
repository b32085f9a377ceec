/* The encoder ops of engine/ops_enc.h against direct double-precision
 * formulas on random inputs of odd sizes, plus known values and the ggml
 * details an encoder must reproduce (F16 im2col, F16 activation tables, an
 * F32 conv1d kernel used in F16).
 *
 * Tolerances: u = 2^-24 is float's unit roundoff.  Each bound is derived
 * from the roundings the float code does on purpose (the ggml op order) and
 * the largest error measured is printed as "max err / tol" (0.19-0.79; ~1.0
 * for the F16 tables, whose bound is the half-ulp rounding itself), so a
 * change that eats the margin shows.  A wrong formula (a missing F16
 * rounding, variance with n-1, a dropped term) is orders of magnitude
 * larger. */
#include "check.h"
#include "ops_enc.h"
#include "ops_enc_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* One F16 ulp at |x| (normal range; subnormal spacing below 2^-14). */
static double ulp16(double x)
{
    x = fabs(x);
    if (x < 6.103515625e-05)
        return 5.9604644775390625e-08;
    int e;
    frexp(x, &e);
    return ldexp(1.0, e - 11);
}

/* ---- layer norm ---- */

static void test_layer_norm_random(hk_pool *pool)
{
    const int64_t sizes[] = {1, 2, 7, 129, 384, 1003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t n = sizes[s], ld = n + 3;
        const int rows = 5;
        float *x = enc_random((size_t)(rows * ld), -3.0f, 5.0f); /* offset mean: centring matters */
        float *w = enc_random((size_t)n, 0.5f, 1.5f), *b = enc_random((size_t)n, -1.0f, 1.0f);
        float *y = malloc((size_t)(rows * ld) * sizeof *y);
        hk_op_layer_norm(pool, x, ld, y, ld, w, b, rows, n, 1e-5f);
        for (int r = 0; r < rows; r++) {
            const float *xr = x + r * ld;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < n; i++)
                mean += xr[i];
            mean /= (double)n;
            for (int64_t i = 0; i < n; i++)
                var += (xr[i] - mean) * (xr[i] - mean);
            var /= (double)n;
            for (int64_t i = 0; i < n; i++) {
                const double z = (xr[i] - mean) / sqrt(var + 1e-5);
                const double ref = z * w[i] + b[i];
                /* float rounding of the mean (|mean| u), of x - mean, of
                 * the scale (a few u relative) then of * w and + b: error
                 * <= ~4u (|z w| + |b|) + |mean| u |w| / sigma; measured
                 * below half of this bound */
                const double tol =
                    8 * U * (fabs(z * w[i]) + fabs(b[i])) + 4 * U * fabs(mean) * w[i] / sqrt(var + 1e-5);
                const double err = fabs(y[r * ld + i] - ref);
                note(err, tol);
                CHECK(err <= tol, "layer_norm n=%lld row %d [%lld]: %.9g vs %.9g", (long long)n, r,
                      (long long)i, y[r * ld + i], ref);
            }
        }
        /* in place gives the same bits, and without w, b it is plain (x - mean) * scale */
        float *z = malloc((size_t)(rows * ld) * sizeof *z);
        memcpy(z, x, (size_t)(rows * ld) * sizeof *z);
        hk_op_layer_norm(pool, z, ld, z, ld, w, b, rows, n, 1e-5f);
        int diff = 0;
        for (int r = 0; r < rows; r++)
            diff += memcmp(z + r * ld, y + r * ld, (size_t)n * sizeof *z) != 0;
        CHECK(diff == 0, "layer_norm in place differs in %d rows, n=%lld", diff, (long long)n);
        hk_op_layer_norm(NULL, x, ld, z, ld, NULL, NULL, rows, n, 1e-5f);
        for (int64_t i = 0; i < n; i++) {
            const float e = (z[i] * w[i]) + b[i];
            CHECK(e == y[i], "layer_norm without w,b then *w+b differs at %lld", (long long)i);
        }
        free(x), free(w), free(b), free(y), free(z);
    }
    report("layer_norm");
}

static void test_layer_norm_known(void)
{
    /* a constant row has zero variance: (x - mean) is exactly 0, so the
     * output is exactly b (eps keeps the scale finite) */
    float x[33], y[33], b[33];
    for (int i = 0; i < 33; i++)
        x[i] = 0.3f, b[i] = (float)i - 16.0f;
    hk_op_layer_norm(NULL, x, 33, y, 33, NULL, b, 1, 33, 1e-5f);
    for (int i = 0; i < 33; i++)
        CHECK(y[i] == b[i], "layer_norm of a constant row: y[%d] = %g, want %g", i, y[i], b[i]);
    /* +-1: mean 0, population variance 1 (not n/(n-1)), so y = +-1/sqrt(1 + eps) */
    const float pm[4] = {1, -1, 1, -1};
    float out[4];
    hk_op_layer_norm(NULL, pm, 4, out, 4, NULL, NULL, 1, 4, 1e-5f);
    const float want = 1.0f / sqrtf(1.0f + 1e-5f);
    CHECK(out[0] == want && out[1] == -want, "layer_norm of +-1: %.9g, want %.9g", out[0], want);
}

/* ---- activations ---- */

static double gelu_tanh_d(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x))); }
static double gelu_erf_d(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double gelu_quick_d(double x) { return x / (1 + exp(-1.702 * x)); }

static void test_act_known(void)
{
    /* gelu(1) = 0.841192 (tanh form), then the F16 table: 1723 * 2^-11 */
    CHECK(hk_gelu_ggml(1.0f) == 0.84130859375f, "gelu(1) = %.9g", hk_gelu_ggml(1.0f));
    CHECK(fabs(hk_gelu_erf(1.0f) - 0.8413447460685429) < 1e-7, "gelu_erf(1) = %.9g", hk_gelu_erf(1.0f));
    /* 1 / (1 + e^-1.702) = 0.845796 -> F16 1732 * 2^-11 */
    CHECK(hk_gelu_quick_ggml(1.0f) == 0.845703125f, "gelu_quick(1) = %.9g", hk_gelu_quick_ggml(1.0f));
    CHECK(hk_gelu_ggml(-10.0f) == 0.0f && hk_gelu_ggml(12.5f) == 12.5f, "gelu outside (-10, 10)");
    /* no clamp in quick-GELU: 12.5 is an F16 number and sigma(21) rounds to 1 */
    CHECK(hk_gelu_quick_ggml(12.5f) == 12.5f, "gelu_quick(12.5) = %g", hk_gelu_quick_ggml(12.5f));
    /* the table rounds the input: 1 + 2^-12 is between F16 numbers and reads gelu(1) */
    CHECK(hk_gelu_ggml(1.0f + 0x1p-12f) == hk_gelu_ggml(1.0f), "gelu input not rounded to F16");
    CHECK(hk_gelu_quick_ggml(1.0f + 0x1p-12f) == hk_gelu_quick_ggml(1.0f), "gelu_quick input not rounded");
}

static void test_act_random(hk_pool *pool)
{
    const int rows = 3;
    const int64_t n = 1001, ld = 1005;
    for (int a = 0; a < 3; a++) {
        float *x = enc_random((size_t)(rows * ld), -12.0f, 12.0f);
        float *y = malloc((size_t)(rows * ld) * sizeof *y);
        memcpy(y, x, (size_t)(rows * ld) * sizeof *y);
        hk_op_act(pool, (hk_act)a, y, ld, rows, n);
        for (int r = 0; r < rows; r++)
            for (int64_t i = 0; i < n; i++) {
                const float xi = x[r * ld + i], yi = y[r * ld + i];
                double ref, tol;
                if (a == HK_ACT_GELU_ERF) {
                    /* erff and the float steps: a few u of |x| (the
                     * 1 + erf cancellation for x < 0 is in ggml too) */
                    ref = gelu_erf_d(xi);
                    tol = 4 * U * fabs(xi);
                } else {
                    /* table: the exact value at f16(x), rounded to F16 -
                     * half an F16 ulp is the rounding itself (so err/tol
                     * reaches ~1 at ties) - plus the float evaluation
                     * the table was built with: a few u relative, and for
                     * the tanh form ~u |x| absolute more where 1 + tanh
                     * cancels (x < -3; ggml has the same cancellation) */
                    const double h = enc_f16(xi);
                    ref = a == HK_ACT_GELU ? (xi <= -10 ? 0 : xi >= 10 ? xi : gelu_tanh_d(h)) : gelu_quick_d(h);
                    tol = 0.5 * ulp16(ref) + 8 * U * fabs(ref) + (a == HK_ACT_GELU ? 2 * U * fabs(h) : 0) + 1e-30;
                    CHECK(enc_f16(yi) == yi || (a == HK_ACT_GELU && xi >= 10), "act %d: %g is no F16 number", a,
                          yi);
                }
                const double err = fabs(yi - ref);
                note(err, tol);
                CHECK(err <= tol, "act %d at %.9g: %.9g vs %.9g", a, xi, yi, ref);
            }
        free(x), free(y);
        report(a == 0 ? "gelu (F16 table)" : a == 1 ? "gelu_erf" : "gelu_quick (F16 table)");
    }
}

/* ---- softmax ---- */

static void test_softmax(hk_pool *pool)
{
    const int64_t sizes[] = {1, 3, 65, 1500};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t n = sizes[s], ld = n + 1;
        const int rows = 6, mask_rows = 3;
        const float scale = 0.37f;
        float *x = enc_random((size_t)(rows * ld), -20.0f, 20.0f);
        float *mask = enc_random((size_t)(mask_rows * n), -2.0f, 2.0f);
        for (int r = 0; r < mask_rows; r++) /* causal-style -inf after column r+1 */
            for (int64_t i = r + 1; i < n; i++)
                if (i % 2)
                    mask[r * n + i] = -INFINITY;
        float *y = malloc((size_t)(rows * ld) * sizeof *y);
        memcpy(y, x, (size_t)(rows * ld) * sizeof *y);
        hk_op_softmax(pool, y, ld, rows, n, scale, mask, n, mask_rows);
        for (int r = 0; r < rows; r++) {
            const float *m = mask + (r % mask_rows) * n;
            double max = -INFINITY, sum = 0, ysum = 0;
            for (int64_t i = 0; i < n; i++)
                max = fmax(max, (double)x[r * ld + i] * scale + m[i]);
            for (int64_t i = 0; i < n; i++)
                sum += exp((double)x[r * ld + i] * scale + m[i] - max);
            for (int64_t i = 0; i < n; i++) {
                if (m[i] == -INFINITY) {
                    CHECK(y[r * ld + i] == 0.0f, "masked softmax entry is %g", y[r * ld + i]);
                    continue;
                }
                const double arg = (double)x[r * ld + i] * scale + m[i] - max;
                const double ref = exp(arg) / sum;
                /* x*scale and +mask are rounded to float: an error of
                 * ~2u |w| in the exponent is that much relative in exp,
                 * plus expf's and the final scaling's few u */
                const double tol = ref * (2 * U * (fabs(arg) + 2 * fabs(max)) + 6 * U) + 1e-38;
                const double err = fabs(y[r * ld + i] - ref);
                note(err, tol);
                CHECK(err <= tol, "softmax n=%lld row %d [%lld]: %.9g vs %.9g", (long long)n, r, (long long)i,
                      y[r * ld + i], ref);
                ysum += y[r * ld + i];
            }
            CHECK(fabs(ysum - 1) < 1e-5, "softmax row sums to %.9g", ysum);
        }
        free(x), free(mask), free(y);
    }
    /* equal logits: each exactly 1/n where 1/n is a float (n a power of two) */
    float e[64];
    for (int i = 0; i < 64; i++)
        e[i] = 2.5f;
    hk_op_softmax(NULL, e, 64, 1, 64, 1.0f, NULL, 0, 0);
    CHECK(e[0] == 1.0f / 64 && e[63] == 1.0f / 64, "softmax of equal values: %g", e[0]);
    report("softmax");
}

/* ---- broadcast add / mul: a single float operation, so exact ---- */

static void test_binary(void)
{
    const int rows = 4;
    const int64_t n = 37, ld = 40;
    float *y = enc_random((size_t)(rows * ld), -1, 1), *b = enc_random((size_t)(rows * ld), -1, 1);
    float *z = malloc((size_t)(rows * ld) * sizeof *z);
    for (int op = 0; op < 2; op++)
        for (int bc = 0; bc < 2; bc++) {
            memcpy(z, y, (size_t)(rows * ld) * sizeof *z);
            const int64_t ldb = bc ? 0 : ld;
            hk_op_binary((hk_binop)op, z, ld, b, ldb, rows, n);
            int bad = 0;
            for (int r = 0; r < rows; r++)
                for (int64_t i = 0; i < ld; i++) {
                    const float a = y[r * ld + i], c = b[r * ldb + i];
                    const float want = i >= n ? a : op == HK_BIN_ADD ? a + c : a * c;
                    bad += z[r * ld + i] != want;
                }
            CHECK(bad == 0, "binary op %d broadcast %d: %d wrong (padding must stay)", op, bc, bad);
        }
    free(y), free(b), free(z);
}

/* ---- convolutions ---- */

static void test_im2col_1d(void)
{
    /* 2 channels x 5 samples, channel-major; 1 + 2^-12 is not an F16 number */
    const float x[10] = {1.0f + 0x1p-12f, 2, 3, 4, 5, -1, -2, -3, -4, 0.1f};
    const hk_signal s = {x, 2, 5, 5, 1};
    CHECK(hk_conv1d_out_len(5, 3, 1, 1) == 5 && hk_conv1d_out_len(5, 3, 2, 1) == 3 &&
              hk_conv1d_out_len(3000, 3, 2, 1) == 1500,
          "conv1d output lengths");
    float col[5 * 6];
    hk_op_im2col_1d(&s, 3, 2, 1, true, col);
    /* row t = 1 (stride 2): samples 1, 2, 3 of each channel */
    CHECK(col[6] == 2 && col[7] == 3 && col[8] == 4 && col[9] == -2 && col[10] == -3 && col[11] == -4,
          "im2col row 1: %g %g %g %g %g %g", col[6], col[7], col[8], col[9], col[10], col[11]);
    /* row 0 starts in the padding; the first sample is rounded to F16 (1.0), 0.1 too */
    CHECK(col[0] == 0 && col[1] == 1.0f && col[3] == 0, "im2col row 0 padding/F16: %g %g %g", col[0], col[1],
          col[3]);
    CHECK(col[2 * 6 + 5] == 0 && col[2 * 6 + 4] == enc_f16(0.1f) && enc_f16(0.1f) != 0.1f,
          "im2col last row: %g %g", col[2 * 6 + 4], col[2 * 6 + 5]);
    hk_op_im2col_1d(&s, 3, 2, 1, false, col);
    CHECK(col[1] == 1.0f + 0x1p-12f, "im2col without F16 must keep %g", col[1]);
}

/* Direct double sum over kernel taps; each term's magnitude into *abs. */
static double conv_ref(const float *wk, const float *x, int ic, int64_t len, int k, int stride, int pad, int o,
                       int64_t t, double *abs)
{
    double s = 0;
    *abs = 0;
    for (int c = 0; c < ic; c++)
        for (int j = 0; j < k; j++) {
            const int64_t ti = t * stride + j - pad;
            if (ti < 0 || ti >= len)
                continue;
            const double term = (double)enc_f16(wk[((int64_t)o * ic + c) * k + j]) * enc_f16(x[c * len + ti]);
            s += term;
            *abs += fabs(term);
        }
    return s;
}

static void test_conv1d(hk_pool *pool)
{
    const int ic = 13, oc = 21, k = 3;
    const int64_t len = 37;
    float *x = enc_random((size_t)(ic * len), -2, 2), *wk = enc_random((size_t)(oc * ic * k), -0.5f, 0.5f);
    float *bias = enc_random((size_t)oc, -1, 1);
    /* the same signal time-major ([len][ic + 2]), as a previous conv leaves it */
    float *xt = calloc((size_t)(len * (ic + 2)), sizeof *xt);
    for (int c = 0; c < ic; c++)
        for (int64_t t = 0; t < len; t++)
            xt[t * (ic + 2) + c] = x[c * len + t];
    uint8_t *b16, *b32;
    const hk_weight w16 = enc_weight(HK_TYPE_F16, wk, oc, (int64_t)ic * k, &b16);
    const hk_weight w32 = enc_weight(HK_TYPE_F32, wk, oc, (int64_t)ic * k, &b32);
    for (int stride = 1; stride <= 2; stride++) {
        const int64_t n_out = hk_conv1d_out_len(len, k, stride, 1), ldy = oc + 1;
        float *y = malloc((size_t)(n_out * ldy) * sizeof *y), *y2 = malloc((size_t)(n_out * ldy) * sizeof *y2);
        hk_error err = {{0}};
        const hk_signal s = {x, ic, len, len, 1}, st = {xt, ic, len, 1, ic + 2};
        CHECK(hk_op_conv1d(pool, &w16, k, stride, 1, bias, &s, y, ldy, &err) == 0, "conv1d: %s", err.msg);
        for (int64_t t = 0; t < n_out; t++)
            for (int o = 0; o < oc; o++) {
                double abs;
                const double ref = conv_ref(wk, x, ic, len, k, stride, 1, o, t, &abs) + bias[o];
                /* exact products summed in double, then two float
                 * roundings (the sum, + bias) */
                const double tol = 2 * U * (fabs(ref) + fabs(bias[o])) + 1e-12 * abs;
                const double e = fabs(y[t * ldy + o] - ref);
                note(e, tol);
                CHECK(e <= tol, "conv1d stride %d y[%lld][%d] = %.9g, want %.9g", stride, (long long)t, o,
                      y[t * ldy + o], ref);
            }
        /* whisper's F32 model: ggml_conv_1d still takes an F16 im2col and
         * converts the F32 kernel to F16, so the result is the same bits */
        CHECK(hk_op_conv1d(pool, &w32, k, stride, 1, bias, &s, y2, ldy, &err) == 0, "conv1d f32: %s", err.msg);
        int diff = 0;
        for (int64_t t = 0; t < n_out; t++)
            for (int o = 0; o < oc; o++)
                diff += y[t * ldy + o] != y2[t * ldy + o];
        CHECK(diff == 0, "conv1d with an F32 kernel differs from F16 in %d values", diff);
        /* time-major input and a single thread give the same bits */
        CHECK(hk_op_conv1d(NULL, &w16, k, stride, 1, bias, &st, y2, ldy, &err) == 0, "conv1d tm: %s", err.msg);
        diff = 0;
        for (int64_t t = 0; t < n_out; t++)
            for (int o = 0; o < oc; o++)
                diff += y[t * ldy + o] != y2[t * ldy + o];
        CHECK(diff == 0, "conv1d time-major / 1 thread differs in %d values", diff);
        free(y), free(y2);
    }
    /* bad input is an error line, not a crash */
    hk_error err = {{0}};
    float dummy[4];
    const hk_signal s = {x, ic + 1, len, len, 1};
    CHECK(hk_op_conv1d(pool, &w16, k, 1, 1, NULL, &s, dummy, 1, &err) == -1 && err.msg[0], "conv1d shape error");
    hk_weight wq = w16;
    wq.type = HK_TYPE_Q8_0;
    const hk_signal s2 = {x, ic, len, len, 1};
    CHECK(hk_op_conv1d(pool, &wq, k, 1, 1, NULL, &s2, dummy, 1, &err) == -1 && strstr(err.msg, "Q8_0"),
          "conv1d type error: %s", err.msg);
    free(x), free(wk), free(bias), free(xt), free(b16), free(b32);
    report("conv1d");
}

static void test_patch_embed(hk_pool *pool)
{
    const int ch = 3, h = 31, wd = 45, p = 7, ne = 19;
    const int gh = h / p, gw = wd / p;
    float *img = enc_random((size_t)(ch * h * wd), -2, 2), *wk = enc_random((size_t)(ne * ch * p * p), -0.2f, 0.2f);
    float *bias = enc_random((size_t)ne, -1, 1);
    const hk_image_chw im = {img, ch, h, wd};
    for (int f16 = 0; f16 < 2; f16++) {
        uint8_t *bytes;
        const hk_weight w = enc_weight(f16 ? HK_TYPE_F16 : HK_TYPE_F32, wk, ne, (int64_t)ch * p * p, &bytes);
        float *y = malloc((size_t)(gh * gw * ne) * sizeof *y);
        hk_error err = {{0}};
        CHECK(hk_op_patch_embed(pool, &w, p, f16 ? bias : NULL, &im, y, ne, &err) == 0, "patch: %s", err.msg);
        for (int q = 0; q < gh * gw; q++)
            for (int o = 0; o < ne; o++) {
                const int py = q / gw, px = q % gw;
                double ref = 0, abs = 0;
                for (int c = 0; c < ch; c++)
                    for (int ky = 0; ky < p; ky++)
                        for (int kx = 0; kx < p; kx++) {
                            double a = img[(c * h + py * p + ky) * wd + px * p + kx];
                            double b = wk[((o * ch + c) * p + ky) * p + kx];
                            if (f16)
                                a = enc_f16((float)a), b = enc_f16((float)b);
                            ref += a * b;
                            abs += fabs(a * b);
                        }
                const double bo = f16 ? bias[o] : 0;
                ref += bo;
                /* F16: exact products; F32: each product rounded (u |term|).
                 * Without the F16 rounding of the pixels the F16 case
                 * would be off by ~2^-12 |term| per term. */
                const double tol = 2 * U * (fabs(ref) + fabs(bo)) + (f16 ? 1e-12 : 1.0) * U * abs;
                const double e = fabs(y[q * ne + o] - ref);
                note(e, tol);
                CHECK(e <= tol, "patch f16=%d y[%d][%d] = %.9g, want %.9g", f16, q, o, y[q * ne + o], ref);
            }
        free(y), free(bytes);
        report(f16 ? "patch_embed (F16 kernel)" : "patch_embed (F32 kernel)");
    }
    hk_error err = {{0}};
    const hk_image_chw small = {img, ch, 5, 5};
    uint8_t *bytes;
    const hk_weight w = enc_weight(HK_TYPE_F16, wk, ne, (int64_t)ch * p * p, &bytes);
    float dummy[1];
    CHECK(hk_op_patch_embed(pool, &w, p, NULL, &small, dummy, ne, &err) == -1 && err.msg[0],
          "patch embed of a too-small image must fail");
    free(bytes), free(img), free(wk), free(bias);
}

int main(void)
{
    hk_pool *pool = hk_pool_new(2);
    CHECK(pool != NULL, "thread pool");
    test_layer_norm_known();
    test_layer_norm_random(pool);
    test_act_known();
    test_act_random(pool);
    test_softmax(pool);
    test_binary();
    test_im2col_1d();
    test_conv1d(pool);
    test_patch_embed(pool);
    hk_pool_free(pool);
    return hk_check_done("ops_enc");
}
