/* The encoder ops on a Vulkan device (engine/vk/vk_ops.h) against the CPU
 * reference (engine/ops_enc.h) on random inputs of odd sizes, on whatever
 * device hk_vk_open(-1, allow_cpu) picks (lavapipe on a machine without a
 * GPU).  Exit 77 (skipped) when there is no Vulkan device at all; with
 * HARK_VK_VALIDATE=1 also when the validation layer is missing, and
 * otherwise no validation error may be reported.
 *
 * Regions sit at offsets that are not multiples of the device's storage
 * alignment and have row strides larger than the rows, so the binding
 * arithmetic is covered; the reductions run in both variants (subgroup and
 * shared memory) where the device has subgroup arithmetic.
 *
 * Tolerances (u = 2^-24): the GPU runs the same float operations with the
 * same F16 roundings; it differs where the CPU sums in double and the GPU in
 * float, and where exp/tanh/erf differ by an ulp (ggml_expf vs libm).  A
 * float sum of K terms errs by at most (K-1) u sum|terms| (Higham ch. 4);
 * the bounds below use that or a measured multiple of u, printed as
 * "max err / tol". */
#include "check.h"
#include "ops_enc.h"
#include "ops_enc_data.h"
#include "vk/vk.h"
#include "vk/vk_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HK_HAVE_VULKAN

static hk_vk *vk;
static hk_vk_cmd *cmd;

/* A device buffer holding `pad` floats of garbage, then v[0..n), then
 * garbage: regions start at byte 4 * pad, off the storage alignment. */
enum { PAD = 3 };
static hk_vk_buf *dev_with(const float *v, size_t n)
{
    hk_error err = {{0}};
    const size_t total = n + 2 * PAD;
    float *tmp = malloc(total * sizeof *tmp);
    for (size_t i = 0; i < total; i++)
        tmp[i] = i < PAD || i >= PAD + n ? 1e30f : v[i - PAD];
    hk_vk_buf *b = hk_vk_buf_new(vk, total * sizeof *tmp, HK_VK_DEVICE, "test data", &err);
    CHECK(b != NULL, "buffer: %s", err.msg);
    if (b)
        CHECK(hk_vk_upload(vk, b, 0, tmp, total * sizeof *tmp, &err) == 0, "upload: %s", err.msg);
    free(tmp);
    return b;
}

static void download(const hk_vk_buf *b, float *v, size_t n)
{
    hk_error err = {{0}};
    CHECK(hk_vk_download(vk, b, PAD * sizeof *v, v, n * sizeof *v, &err) == 0, "download: %s", err.msg);
}

static hk_vk_rows rows_of(const hk_vk_buf *b, int64_t ld)
{
    hk_vk_rows r = {b, PAD * sizeof(float), ld};
    return r;
}

/* Records op over n_rows rows, runs it, waits. */
static void run(const hk_vk_op *op, int n_rows)
{
    hk_error err = {{0}};
    int rc = hk_vk_cmd_begin(cmd, &err);
    if (rc == 0) {
        hk_vk_op_record(cmd, op, n_rows);
        hk_vk_cmd_barrier(cmd);
        rc = hk_vk_cmd_end(cmd, &err);
    }
    if (rc == 0)
        rc = hk_vk_cmd_submit(cmd, &err);
    if (rc == 0)
        rc = hk_vk_cmd_wait(cmd, &err);
    CHECK(rc == 0, "running an op: %s", err.msg);
}

/* ---- layer norm ---- */

static void test_layer_norm(void)
{
    const int64_t sizes[] = {1, 2, 129, 1003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int wb = 0; wb < 2; wb++) {
            const int64_t n = sizes[s], ld = n + 5;
            const int rows = 7;
            const size_t len = (size_t)(rows * ld);
            float *x = enc_random(len, -3.0f, 5.0f), *w = enc_random((size_t)n, 0.5f, 1.5f);
            float *b = enc_random((size_t)n, -1, 1), *y = malloc(len * sizeof *y), *g = malloc(len * sizeof *g);
            hk_vk_buf *dx = dev_with(x, len), *dy = dev_with(x, len);
            hk_error err = {{0}};
            /* wb = 0: x -> y with w, b; wb = 1: in place, plain */
            hk_vk_op *op = wb ? hk_vk_layer_norm_new(vk, rows_of(dy, ld), rows_of(dy, ld), n, rows, NULL, NULL,
                                                     1e-5f, &err)
                              : hk_vk_layer_norm_new(vk, rows_of(dx, ld), rows_of(dy, ld), n, rows, w, b, 1e-5f, &err);
            CHECK(op != NULL, "layer_norm op: %s", err.msg);
            if (op) {
                run(op, rows);
                download(dy, g, len);
                hk_op_layer_norm(NULL, x, ld, y, ld, wb ? NULL : w, wb ? NULL : b, rows, n, 1e-5f);
                for (int r = 0; r < rows; r++) {
                    double mean = 0, var = 0;
                    for (int64_t i = 0; i < n; i++)
                        mean += x[r * ld + i];
                    mean /= (double)n;
                    for (int64_t i = 0; i < n; i++)
                        var += (x[r * ld + i] - mean) * (x[r * ld + i] - mean);
                    const double sigma = sqrt(var / (double)n + 1e-5);
                    for (int64_t i = 0; i < n; i++) {
                        const double wi = wb ? 1 : w[i], bi = wb ? 0 : b[i];
                        const double z = (x[r * ld + i] - mean) / sigma;
                        /* the float mean's error (~log2(n) u sum|x| / n)
                         * shifts every output by err / sigma; the scale's
                         * (sqrt, division: a few u, float variance sum)
                         * is relative; measured 0.12 of this */
                        const double tol = 16 * U * (fabs(z * wi) + fabs(bi)) + 16 * U * (fabs(mean) + 4) * wi / sigma;
                        const double e = fabs(g[r * ld + i] - y[r * ld + i]);
                        note(e, tol);
                        CHECK(e <= tol, "layer_norm n=%lld wb=%d [%d][%lld]: gpu %.9g cpu %.9g", (long long)n, wb, r,
                              (long long)i, g[r * ld + i], y[r * ld + i]);
                    }
                    for (int64_t i = n; i < ld && r < rows - 1; i++)
                        CHECK(g[r * ld + i] == x[r * ld + i], "layer_norm wrote past its row (n=%lld)", (long long)n);
                }
                hk_vk_op_free(vk, op);
            }
            hk_vk_buf_free(vk, dx), hk_vk_buf_free(vk, dy);
            free(x), free(w), free(b), free(y), free(g);
        }
}

/* ---- activations ---- */

/* Runs act on the device over rows x n of x (ld apart) and on the CPU;
 * returns the number of values whose bits differ, checks the rest against
 * erf's bound; *g gets the device's values. */
static int act_compare(hk_act a, const float *x, int rows, int64_t n, int64_t ld)
{
    const size_t len = (size_t)rows * (size_t)ld;
    float *y = malloc(len * sizeof *y), *g = malloc(len * sizeof *g);
    hk_vk_buf *d = dev_with(x, len);
    hk_error err = {{0}};
    int differ = 0;
    hk_vk_op *op = hk_vk_act_new(vk, a, rows_of(d, ld), n, rows, &err);
    CHECK(op != NULL, "act op: %s", err.msg);
    if (op) {
        run(op, rows);
        download(d, g, len);
        memcpy(y, x, len * sizeof *y);
        hk_op_act(NULL, a, y, ld, rows, n);
        for (size_t r = 0; r < (size_t)rows; r++)
            for (int64_t i = 0; i < n; i++) {
                const float c = y[r * ld + i], v = g[r * ld + i], xi = x[r * ld + i];
                const bool same = memcmp(&c, &v, sizeof c) == 0 || (isnan(c) && isnan(v));
                differ += !same;
                if (a == HK_ACT_GELU_ERF && isinf(c)) {
                    CHECK(v == c, "gelu_erf at %g: gpu %g cpu %g", xi, v, c);
                } else if (a == HK_ACT_GELU_ERF && !isnan(c)) {
                    /* erf_acc and ggml_expf vs libm's erff: an ulp or two
                     * of erf, i.e. a few u of |x| after 0.5 x (1 + erf) */
                    const double tol = 4 * U * fabs(xi) + 1e-37, e = fabs((double)v - c);
                    note(e, tol);
                    CHECK(e <= tol, "gelu_erf at %.9g: gpu %.9g cpu %.9g", xi, v, c);
                }
            }
        for (int64_t i = n; i < ld && rows > 1; i++)
            CHECK(g[i] == x[i], "act wrote past its row");
        hk_vk_op_free(vk, op);
    }
    hk_vk_buf_free(vk, d);
    free(y), free(g);
    return differ;
}

static void test_act(void)
{
    const int rows = 3;
    const int64_t n = 1001, ld = 1003;
    static const char *names[] = {"gelu (F16 table)", "gelu_erf", "gelu_quick (F16 table)"};
    /* every half value (inf and NaN too) as input: the tables' whole domain */
    float *all = malloc(65536 * sizeof *all);
    for (uint32_t h = 0; h < 65536; h++)
        all[h] = hk_f16_to_f32((uint16_t)h);
    for (int a = 0; a < 3; a++) {
        float *x = enc_random((size_t)(rows * ld), -12.0f, 12.0f);
        /* the clamp edges and values between half numbers */
        x[0] = -10.0f, x[1] = 10.0f, x[2] = -9.999f, x[3] = 1.0f + 0x1p-12f, x[4] = -0.0f;
        const int d_rand = act_compare((hk_act)a, x, rows, n, ld);
        const int d_all = act_compare((hk_act)a, all, 64, 1024, 1024);
        if (a != HK_ACT_GELU_ERF) /* the host-made table: the CPU's bits */
            CHECK(d_rand == 0 && d_all == 0, "%s: %d random and %d half inputs differ from the CPU", names[a],
                  d_rand, d_all);
        printf("  %-34s %d of %lld random and %d of 65536 half inputs differ\n", names[a], d_rand,
               (long long)(rows * n), d_all);
        free(x);
        if (a == HK_ACT_GELU_ERF)
            report(names[a]);
    }
    free(all);
}

/* ---- softmax ---- */

static void test_softmax_case(int rows, int64_t n, bool with_mask)
{
    const int64_t ld = n + 2;
    const int mask_rows = 3;
    const size_t len = (size_t)rows * (size_t)ld;
    float *x = enc_random(len, -20.0f, 20.0f), *y = malloc(len * sizeof *y), *g = malloc(len * sizeof *g);
    float *mask = enc_random((size_t)(mask_rows * n), -2, 2);
    for (int r = 0; r < mask_rows; r++)
        for (int64_t i = r + 1; i < n; i += 2)
            mask[r * n + i] = -INFINITY;
    hk_vk_buf *d = dev_with(x, len), *dm = dev_with(mask, (size_t)(mask_rows * n));
    hk_error err = {{0}};
    const hk_vk_rows mr = rows_of(dm, n);
    hk_vk_op *op = hk_vk_softmax_new(vk, rows_of(d, ld), n, rows, 0.37f, with_mask ? &mr : NULL, mask_rows, &err);
    CHECK(op != NULL, "softmax op: %s", err.msg);
    if (op) {
        run(op, rows);
        download(d, g, len);
        memcpy(y, x, len * sizeof *y);
        hk_op_softmax(NULL, y, ld, rows, n, 0.37f, with_mask ? mask : NULL, n, mask_rows);
        for (size_t r = 0; r < (size_t)rows; r++)
            for (int64_t i = 0; i < n; i++) {
                const double c = y[r * ld + i], v = g[r * ld + i];
                /* ggml_expf is within 2.2 ulp of exp, libm's expf 0.5
                 * (measured over [-16, 0]): up to ~6u between them, plus
                 * the roundings of 1/sum and the product; the float sum
                 * over n positive terms errs by <= (n-1) u relative (seen
                 * far below: 0.25 n u covers it).  Measured: 12u at n = 2. */
                const double tol = c * (16 + 0.25 * (double)n) * U + 1e-38;
                const double e = fabs(v - c);
                note(e, tol);
                CHECK(e <= tol, "softmax n=%lld [%zu][%lld]: gpu %.9g cpu %.9g", (long long)n, r, (long long)i, v, c);
            }
        hk_vk_op_free(vk, op);
    }
    hk_vk_buf_free(vk, d), hk_vk_buf_free(vk, dm);
    free(x), free(y), free(g), free(mask);
}

static void test_softmax(void)
{
    test_softmax_case(9, 1, true);
    test_softmax_case(9, 65, true);
    test_softmax_case(7, 1500, true);
    test_softmax_case(5, 333, false);
    /* more rows than one dispatch dimension holds: the grid folds into y */
    test_softmax_case(65537 + 6, 2, true);
}

/* ---- add / mul ---- */

static void test_binary(void)
{
    const int rows = 5;
    const int64_t n = 37, ld = 41;
    const size_t len = (size_t)(rows * ld);
    for (int op_i = 0; op_i < 2; op_i++)
        for (int bc = 0; bc < 2; bc++) {
            float *y = enc_random(len, -1, 1), *b = enc_random(len, -1, 1), *g = malloc(len * sizeof *g);
            hk_vk_buf *dy = dev_with(y, len), *db = dev_with(b, len);
            hk_error err = {{0}};
            const int64_t ldb = bc ? 0 : ld;
            hk_vk_op *op = hk_vk_binary_new(vk, (hk_binop)op_i, rows_of(dy, ld), rows_of(db, ldb), n, rows, &err);
            CHECK(op != NULL, "binary op: %s", err.msg);
            if (op) {
                /* made for `rows`, recorded for fewer: the rest stays */
                const int used = rows - 2;
                run(op, used);
                download(dy, g, len);
                hk_op_binary((hk_binop)op_i, y, ld, b, ldb, used, n);
                int bad = 0;
                for (size_t i = 0; i < len - (size_t)(ld - n); i++)
                    bad += g[i] != y[i];
                /* one float operation: the same bits */
                CHECK(bad == 0, "binary op %d broadcast %d: %d values differ", op_i, bc, bad);
                hk_vk_op_free(vk, op);
            }
            hk_vk_buf_free(vk, dy), hk_vk_buf_free(vk, db);
            free(y), free(b), free(g);
        }
}

/* ---- convolutions ---- */

/* |gpu - cpu| for y[m][o] against the float-summation bound: the CPU's
 * double sum is within 2u |y| of exact, the GPU's float sum within (K-1) u
 * sum|terms| (products exact with F16 operands; u |term| more each without). */
static void check_gemm(const char *what, const float *g, const float *c, int64_t ldy, int64_t m_rows, int64_t n_out,
                       int64_t k, const double *abs_terms)
{
    for (int64_t m = 0; m < m_rows; m++)
        for (int64_t o = 0; o < n_out; o++) {
            const double v = g[m * ldy + o], r = c[m * ldy + o];
            const double tol = (double)k * U * abs_terms[m * n_out + o] + 4 * U * fabs(r) + 1e-30;
            const double e = fabs(v - r);
            note(e, tol);
            CHECK(e <= tol, "%s y[%lld][%lld]: gpu %.9g cpu %.9g", what, (long long)m, (long long)o, v, r);
        }
}

static void test_conv1d(void)
{
    const int ic = 13, oc = 70, k = 3; /* 70 > 64: two tiles of channels */
    const int64_t len = 37;
    float *x = enc_random((size_t)(ic * len), -2, 2), *wk = enc_random((size_t)(oc * ic * k), -0.5f, 0.5f);
    float *bias = enc_random((size_t)oc, -1, 1);
    const int64_t ldt = ic + 2; /* the time-major copy, as a previous conv's output */
    float *xt = calloc((size_t)(len * ldt), sizeof *xt);
    for (int c = 0; c < ic; c++)
        for (int64_t t = 0; t < len; t++)
            xt[t * ldt + c] = x[c * len + t];
    hk_vk_buf *dx = dev_with(x, (size_t)(ic * len)), *dxt = dev_with(xt, (size_t)(len * ldt));
    for (int type = 0; type < 2; type++)
        for (int stride = 1; stride <= 2; stride++)
            for (int layout = 0; layout < 2; layout++) {
                uint8_t *bytes;
                const hk_weight w = enc_weight(type ? HK_TYPE_F32 : HK_TYPE_F16, wk, oc, (int64_t)ic * k, &bytes);
                const int64_t n_out = hk_conv1d_out_len(len, k, stride, 1), ldy = oc + 3;
                const size_t ylen = (size_t)(n_out * ldy);
                float *y = calloc(ylen, sizeof *y), *g = malloc(ylen * sizeof *g);
                hk_vk_buf *dy = dev_with(y, ylen);
                const hk_vk_signal sig = layout ? (hk_vk_signal){dxt, PAD * 4, ic, len, 1, ldt}
                                                : (hk_vk_signal){dx, PAD * 4, ic, len, len, 1};
                const hk_signal csig = {x, ic, len, len, 1};
                hk_error err = {{0}};
                const float *bs = layout ? NULL : bias;
                hk_vk_op *op = hk_vk_conv1d_new(vk, &w, k, stride, 1, bs, &sig, rows_of(dy, ldy), &err);
                CHECK(op != NULL, "conv1d op: %s", err.msg);
                CHECK(hk_op_conv1d(NULL, &w, k, stride, 1, bs, &csig, y, ldy, &err) == 0, "cpu conv1d: %s", err.msg);
                if (op) {
                    CHECK(hk_vk_op_max_rows(op) == n_out, "conv1d rows %d", hk_vk_op_max_rows(op));
                    run(op, (int)n_out);
                    download(dy, g, ylen);
                    double *abs = calloc((size_t)(n_out * oc), sizeof *abs);
                    for (int64_t t = 0; t < n_out; t++)
                        for (int o = 0; o < oc; o++)
                            for (int c = 0; c < ic; c++)
                                for (int j = 0; j < k; j++) {
                                    const int64_t ti = t * stride + j - 1;
                                    if (ti >= 0 && ti < len)
                                        abs[t * oc + o] +=
                                            fabs((double)enc_f16(wk[(o * ic + c) * k + j]) * enc_f16(x[c * len + ti]));
                                }
                    check_gemm("conv1d", g, y, ldy, n_out, oc, (int64_t)ic * k, abs);
                    free(abs);
                    hk_vk_op_free(vk, op);
                }
                hk_vk_buf_free(vk, dy);
                free(y), free(g), free(bytes);
            }
    hk_vk_buf_free(vk, dx), hk_vk_buf_free(vk, dxt);
    free(x), free(wk), free(bias), free(xt);
    report("conv1d");
}

static void test_patch_embed(void)
{
    const int ch = 3, h = 31, wd = 45, p = 7, ne = 67;
    const int n_patches = (h / p) * (wd / p);
    const size_t ilen = (size_t)(ch * h * wd);
    float *img = enc_random(ilen, -2, 2), *wk = enc_random((size_t)(ne * ch * p * p), -0.2f, 0.2f);
    float *bias = enc_random((size_t)ne, -1, 1);
    hk_vk_buf *di = dev_with(img, ilen);
    for (int f16 = 0; f16 < 2; f16++) {
        uint8_t *bytes;
        const hk_weight w = enc_weight(f16 ? HK_TYPE_F16 : HK_TYPE_F32, wk, ne, (int64_t)ch * p * p, &bytes);
        const int64_t ldy = ne + 1;
        const size_t ylen = (size_t)(n_patches * ldy);
        float *y = calloc(ylen, sizeof *y), *g = malloc(ylen * sizeof *g);
        hk_vk_buf *dy = dev_with(y, ylen);
        const hk_vk_image vimg = {di, PAD * 4, ch, h, wd};
        const hk_image_chw cimg = {img, ch, h, wd};
        hk_error err = {{0}};
        const float *bs = f16 ? bias : NULL;
        hk_vk_op *op = hk_vk_patch_embed_new(vk, &w, p, bs, &vimg, rows_of(dy, ldy), &err);
        CHECK(op != NULL, "patch op: %s", err.msg);
        CHECK(hk_op_patch_embed(NULL, &w, p, bs, &cimg, y, ldy, &err) == 0, "cpu patch: %s", err.msg);
        if (op) {
            run(op, n_patches);
            download(dy, g, ylen);
            double *abs = calloc((size_t)(n_patches * ne), sizeof *abs);
            for (int q = 0; q < n_patches; q++)
                for (int o = 0; o < ne; o++)
                    for (int c = 0; c < ch; c++)
                        for (int ky = 0; ky < p; ky++)
                            for (int kx = 0; kx < p; kx++) {
                                float a = img[(c * h + (q / (wd / p)) * p + ky) * wd + (q % (wd / p)) * p + kx];
                                float b = wk[((o * ch + c) * p + ky) * p + kx];
                                abs[q * ne + o] += fabs((double)(f16 ? enc_f16(a) : a) * (f16 ? enc_f16(b) : b));
                            }
            /* F32: each product rounded too, one more u per term: K + 1 */
            check_gemm(f16 ? "patch f16" : "patch f32", g, y, ldy, n_patches, ne, (int64_t)ch * p * p + 1, abs);
            free(abs);
            hk_vk_op_free(vk, op);
        }
        hk_vk_buf_free(vk, dy);
        free(y), free(g), free(bytes);
        report(f16 ? "patch_embed (F16 kernel)" : "patch_embed (F32 kernel)");
    }
    /* bad shapes are an error line */
    hk_error err = {{0}};
    uint8_t *bytes;
    const hk_weight w = enc_weight(HK_TYPE_F16, wk, ne, (int64_t)ch * p * p, &bytes);
    const hk_vk_image small = {di, PAD * 4, ch, 5, 5};
    hk_vk_op *bad = hk_vk_patch_embed_new(vk, &w, p, NULL, &small, rows_of(di, ne), &err);
    CHECK(bad == NULL && err.msg[0], "patch embedding of a too-small image must fail");
    hk_vk_op *far = hk_vk_layer_norm_new(vk, rows_of(di, 100), rows_of(di, 100), 100, 1000, NULL, NULL, 1e-5f, &err);
    CHECK(far == NULL && strstr(err.msg, "do not fit"), "a region past the buffer must fail: %s", err.msg);
    free(bytes);
    hk_vk_buf_free(vk, di);
    free(img), free(wk), free(bias);
}

int main(void)
{
    hk_error err = {{0}};
    vk = hk_vk_open(-1, true, &err);
    if (!vk) {
        printf("test_vk_ops: skipped, no Vulkan device: %s\n", err.msg);
        return 77;
    }
    const char *validate = getenv("HARK_VK_VALIDATE");
    if (validate && strcmp(validate, "1") == 0 && !hk_vk_validating(vk)) {
        printf("test_vk_ops: skipped, HARK_VK_VALIDATE=1 but the validation layer is not available\n");
        hk_vk_close(vk);
        return 77;
    }
    const hk_vk_device_info *info = hk_vk_info(vk);
    printf("device: %s (%s), subgroup arithmetic: %s, validation layer: %s\n", info->name,
           hk_vk_device_type_name(info->type), hk_vk_enabled(vk)->subgroup_arith ? "yes" : "no",
           hk_vk_validating(vk) ? "on" : "off");
    cmd = hk_vk_cmd_new(vk, &err);
    CHECK(cmd != NULL, "command buffer: %s", err.msg);
    if (cmd) {
        /* the reductions: subgroup variant where there is one, then shared memory */
        for (int sg = hk_vk_enabled(vk)->subgroup_arith ? 1 : 0; sg >= 0; sg--) {
            setenv("HARK_VK_SUBGROUPS", sg ? "1" : "0", 1);
            test_layer_norm();
            report(sg ? "layer_norm (subgroups)" : "layer_norm (shared memory)");
            test_softmax();
            report(sg ? "softmax (subgroups)" : "softmax (shared memory)");
        }
        test_act();
        test_binary();
        test_conv1d();
        test_patch_embed();
        hk_vk_cmd_free(vk, cmd);
    }
    CHECK(hk_vk_validation_errors(vk) == 0, "%d validation errors", hk_vk_validation_errors(vk));
    hk_vk_close(vk);
    return hk_check_done("vk_ops");
}

#else

int main(void)
{
    printf("test_vk_ops: skipped, this hark was built without Vulkan\n");
    return 77;
}

#endif
