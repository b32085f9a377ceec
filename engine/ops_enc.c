/* Encoder operations in ggml's CPU semantics (see ops_enc.h): the scalar
 * reference for the Whisper and ViT encoders and for their Vulkan kernels. */
#include "ops_enc.h"

/* ggml's results come from separately rounded products and sums; a fused
 * multiply-add would round once and drift from them (and from the GPU). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"

static float round_f16(float x) { return hk_f16_to_f32(hk_f32_to_f16(x)); }

/* ---- rows split over the pool ---- */

/* Computes row r; ith identifies the thread (for per-thread scratch). */
typedef void (*row_fn)(const void *ctx, int64_t r, int ith);

typedef struct rows_job {
    row_fn fn;
    const void *ctx;
    int64_t n_rows;
} rows_job;

static void rows_run(void *arg, int ith, int nth)
{
    const rows_job *j = arg;
    long lo, hi;
    hk_split((long)j->n_rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++)
        j->fn(j->ctx, r, ith);
}

static int pool_threads(const hk_pool *pool) { return pool ? hk_pool_size(pool) : 1; }

static void for_rows(hk_pool *pool, int64_t n_rows, row_fn fn, const void *ctx)
{
    rows_job j = {fn, ctx, n_rows};
    if (pool && n_rows > 1)
        hk_pool_run(pool, rows_run, &j);
    else
        rows_run(&j, 0, 1);
}

/* ---- layer norm ---- */

typedef struct norm_job {
    const float *x;
    int64_t ldx;
    float *y;
    int64_t ldy;
    const float *w, *b;
    int64_t n;
    float eps;
} norm_job;

static void layer_norm_row(const void *ctx, int64_t r, int ith)
{
    (void)ith;
    const norm_job *j = ctx;
    const float *x = j->x + r * j->ldx;
    float *y = j->y + r * j->ldy;
    double sum = 0.0;
    for (int64_t i = 0; i < j->n; i++)
        sum += (double)x[i];
    const float mean = (float)(sum / (double)j->n);
    /* ggml keeps the centred values in y and sums their float squares */
    double sum2 = 0.0;
    for (int64_t i = 0; i < j->n; i++) {
        const float v = x[i] - mean;
        y[i] = v;
        sum2 += (double)(v * v);
    }
    const float var = (float)(sum2 / (double)j->n);
    const float scale = 1.0f / sqrtf(var + j->eps);
    for (int64_t i = 0; i < j->n; i++) {
        float v = y[i] * scale;
        if (j->w)
            v = v * j->w[i];
        if (j->b)
            v = v + j->b[i];
        y[i] = v;
    }
}

void hk_op_layer_norm(hk_pool *pool, const float *x, int64_t ldx, float *y, int64_t ldy, const float *w,
                      const float *b, int n_rows, int64_t n, float eps)
{
    norm_job j = {x, ldx, y, ldy, w, b, n, eps};
    for_rows(pool, n_rows, layer_norm_row, &j);
}

/* ---- activations ---- */

float hk_gelu_erf(float x)
{
    const float sqrt_2_inv = 0.70710678118654752440084436210484f;
    return 0.5f * x * (1.0f + erff(x * sqrt_2_inv));
}

float hk_gelu_quick_ggml(float x)
{
    const float coef = -1.702f;
    const float h = round_f16(x);
    return round_f16(h * (1.0f / (1.0f + expf(coef * h))));
}

typedef struct act_job {
    hk_act act;
    float *y;
    int64_t ldy, n;
} act_job;

static void act_row(const void *ctx, int64_t r, int ith)
{
    (void)ith;
    const act_job *j = ctx;
    float *y = j->y + r * j->ldy;
    for (int64_t i = 0; i < j->n; i++)
        switch (j->act) {
        case HK_ACT_GELU: y[i] = hk_gelu_ggml(y[i]); break;
        case HK_ACT_GELU_ERF: y[i] = hk_gelu_erf(y[i]); break;
        case HK_ACT_GELU_QUICK: y[i] = hk_gelu_quick_ggml(y[i]); break;
        }
}

void hk_op_act(hk_pool *pool, hk_act act, float *y, int64_t ldy, int n_rows, int64_t n)
{
    act_job j = {act, y, ldy, n};
    for_rows(pool, n_rows, act_row, &j);
}

/* ---- softmax ---- */

typedef struct softmax_job {
    float *y;
    int64_t ldy, n;
    float scale;
    const float *mask;
    int64_t ldm;
    int mask_rows;
} softmax_job;

static void softmax_row(const void *ctx, int64_t r, int ith)
{
    (void)ith;
    const softmax_job *j = ctx;
    float *y = j->y + r * j->ldy;
    const float *m = j->mask ? j->mask + (r % j->mask_rows) * j->ldm : NULL;
    float max = -INFINITY;
    for (int64_t i = 0; i < j->n; i++) {
        float w = y[i] * j->scale;
        if (m)
            w = w + m[i];
        y[i] = w;
        max = w > max ? w : max;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < j->n; i++) {
        const float e = expf(y[i] - max);
        sum += (double)e;
        y[i] = e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < j->n; i++)
        y[i] *= inv;
}

void hk_op_softmax(hk_pool *pool, float *y, int64_t ldy, int n_rows, int64_t n, float scale, const float *mask,
                   int64_t ldm, int mask_rows)
{
    softmax_job j = {y, ldy, n, scale, mask, ldm, mask_rows > 0 ? mask_rows : 1};
    for_rows(pool, n_rows, softmax_row, &j);
}

/* ---- broadcast add / mul: memory-bound, one thread is enough ---- */

void hk_op_binary(hk_binop op, float *y, int64_t ldy, const float *b, int64_t ldb, int n_rows, int64_t n)
{
    for (int r = 0; r < n_rows; r++) {
        float *yr = y + (int64_t)r * ldy;
        const float *br = b + (int64_t)r * ldb;
        if (op == HK_BIN_ADD)
            for (int64_t i = 0; i < n; i++)
                yr[i] = yr[i] + br[i];
        else
            for (int64_t i = 0; i < n; i++)
                yr[i] = yr[i] * br[i];
    }
}

/* ---- convolutions as im2col + matmul ---- */

int64_t hk_conv1d_out_len(int64_t in_len, int k, int stride, int pad)
{
    return (in_len + 2 * (int64_t)pad - k) / stride + 1;
}

/* Row t of the 1-D im2col: n_ch * k values. */
static void im2col_1d_row(const hk_signal *s, int k, int stride, int pad, bool f16, int64_t t, float *row)
{
    for (int c = 0; c < s->n_ch; c++)
        for (int j = 0; j < k; j++) {
            const int64_t ti = t * stride + j - pad;
            const float v = ti < 0 || ti >= s->len ? 0.0f : s->x[c * s->sc + ti * s->st];
            row[c * k + j] = f16 ? round_f16(v) : v;
        }
}

void hk_op_im2col_1d(const hk_signal *s, int k, int stride, int pad, bool f16, float *col)
{
    const int64_t n_out = hk_conv1d_out_len(s->len, k, stride, pad);
    for (int64_t t = 0; t < n_out; t++)
        im2col_1d_row(s, k, stride, pad, f16, t, col + t * s->n_ch * k);
}

/* Row q (a patch) of the 2-D im2col with stride = kernel = p. */
static void im2col_patch_row(const hk_image_chw *img, int p, bool f16, int64_t q, float *row)
{
    const int gw = img->w / p;
    const int py = (int)(q / gw), px = (int)(q % gw);
    for (int c = 0; c < img->n_ch; c++)
        for (int ky = 0; ky < p; ky++) {
            const float *src = img->x + ((int64_t)c * img->h + (int64_t)py * p + ky) * img->w + (int64_t)px * p;
            float *dst = row + ((int64_t)c * p + ky) * p;
            for (int kx = 0; kx < p; kx++)
                dst[kx] = f16 ? round_f16(src[kx]) : src[kx];
        }
}

/* y[m][o] = W[o] . im2col row m (+ bias[o]), rows in blocks of GEMM_ROWS. */
enum { GEMM_ROWS = 4, GEMM_OUTS = 4 };

typedef struct gemm_job {
    const float *wf;      /* kernel as floats [n_out][n_in], F16-rounded when round */
    const float *bias;    /* n_out or NULL */
    int64_t n_in, n_out, n_rows;
    bool round;
    const hk_signal *sig; /* conv1d input, or NULL */
    int k, stride, pad;
    const hk_image_chw *img; /* patch embedding input, or NULL */
    int patch;
    float *rows;          /* per thread: GEMM_ROWS im2col rows */
    float *y;
    int64_t ldy;
} gemm_job;

/* ggml_vec_dot_f16/_f32 in their scalar form - float products (exact for F16
 * operands), a ggml_float sum in index order - for GEMM_ROWS rows and
 * GEMM_OUTS kernel rows at once: each of the 16 sums is the same sequential
 * sum as one dot product alone, the block only gives the CPU independent
 * additions to overlap and reuses every load 4 times. */
static void dot_block(const float *rows, const float *w, int64_t n, double s[GEMM_ROWS][GEMM_OUTS])
{
    for (int r = 0; r < GEMM_ROWS; r++)
        for (int q = 0; q < GEMM_OUTS; q++)
            s[r][q] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int r = 0; r < GEMM_ROWS; r++)
            for (int q = 0; q < GEMM_OUTS; q++)
                s[r][q] += (double)(rows[r * n + i] * w[q * n + i]);
}

static float dot_double(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(a[i] * b[i]);
    return (float)s;
}

static void gemm_store(const gemm_job *j, int64_t m, int64_t o, double d)
{
    const float v = (float)d;
    j->y[m * j->ldy + o] = j->bias ? v + j->bias[o] : v;
}

static void gemm_block(const void *ctx, int64_t blk, int ith)
{
    const gemm_job *j = ctx;
    const int64_t n = j->n_in, m0 = blk * GEMM_ROWS;
    const int nr = (int)(j->n_rows - m0 < GEMM_ROWS ? j->n_rows - m0 : GEMM_ROWS);
    float *rows = j->rows + (int64_t)ith * GEMM_ROWS * n;
    for (int r = 0; r < GEMM_ROWS; r++) {
        float *row = rows + r * n;
        if (r >= nr)
            memset(row, 0, (size_t)n * sizeof *row); /* computed, never stored */
        else if (j->sig)
            im2col_1d_row(j->sig, j->k, j->stride, j->pad, j->round, m0 + r, row);
        else
            im2col_patch_row(j->img, j->patch, j->round, m0 + r, row);
    }
    int64_t o = 0;
    for (; o + GEMM_OUTS <= j->n_out; o += GEMM_OUTS) {
        double s[GEMM_ROWS][GEMM_OUTS];
        dot_block(rows, j->wf + o * n, n, s);
        for (int r = 0; r < nr; r++)
            for (int q = 0; q < GEMM_OUTS; q++)
                gemm_store(j, m0 + r, o + q, s[r][q]);
    }
    for (; o < j->n_out; o++)
        for (int r = 0; r < nr; r++)
            gemm_store(j, m0 + r, o, dot_double(rows + r * n, j->wf + o * n, n));
}

float *hk_conv_kernel_f32(const hk_weight *w, bool round, hk_error *err)
{
    if (w->type != HK_TYPE_F16 && w->type != HK_TYPE_F32) {
        hk_fail(err, "convolution kernel of type %s: only F16 and F32 are supported", hk_type_name(w->type));
        return NULL;
    }
    float *wf = malloc((size_t)(w->n_in * w->n_out) * sizeof *wf);
    if (!wf) {
        hk_fail(err, "out of memory for a %lld x %lld convolution kernel", (long long)w->n_out,
                (long long)w->n_in);
        return NULL;
    }
    for (int64_t o = 0; o < w->n_out; o++) {
        const uint8_t *src = w->data + (size_t)o * w->row_bytes;
        float *dst = wf + o * w->n_in;
        for (int64_t i = 0; i < w->n_in; i++) {
            if (w->type == HK_TYPE_F16) {
                const uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
                dst[i] = hk_f16_to_f32(h);
            } else {
                float v;
                memcpy(&v, src + 4 * i, sizeof v);
                dst[i] = round ? round_f16(v) : v;
            }
        }
    }
    return wf;
}

static int run_gemm(hk_pool *pool, const hk_weight *w, gemm_job *j, int64_t n_rows, hk_error *err)
{
    j->wf = hk_conv_kernel_f32(w, j->round, err);
    if (!j->wf)
        return -1;
    j->n_in = w->n_in;
    j->n_out = w->n_out;
    j->n_rows = n_rows;
    j->rows = malloc((size_t)(pool_threads(pool) * GEMM_ROWS * w->n_in) * sizeof *j->rows);
    if (!j->rows) {
        free((void *)j->wf);
        return hk_fail(err, "out of memory for convolution rows");
    }
    for_rows(pool, (n_rows + GEMM_ROWS - 1) / GEMM_ROWS, gemm_block, j);
    free(j->rows);
    free((void *)j->wf);
    return 0;
}

int hk_op_conv1d(hk_pool *pool, const hk_weight *w, int k, int stride, int pad, const float *bias,
                 const hk_signal *s, float *y, int64_t ldy, hk_error *err)
{
    if (k <= 0 || stride <= 0 || pad < 0 || w->n_in != (int64_t)s->n_ch * k)
        return hk_fail(err, "conv1d: kernel of %lld per output channel does not fit %d channels x width %d",
                       (long long)w->n_in, s->n_ch, k);
    const int64_t n_out = hk_conv1d_out_len(s->len, k, stride, pad);
    if (n_out <= 0)
        return hk_fail(err, "conv1d: input of %lld samples is shorter than the kernel", (long long)s->len);
    gemm_job j = {.bias = bias, .round = true, .sig = s, .k = k, .stride = stride, .pad = pad, .y = y, .ldy = ldy};
    return run_gemm(pool, w, &j, n_out, err);
}

int hk_op_patch_embed(hk_pool *pool, const hk_weight *w, int patch, const float *bias, const hk_image_chw *img,
                      float *y, int64_t ldy, hk_error *err)
{
    if (patch <= 0 || w->n_in != (int64_t)img->n_ch * patch * patch)
        return hk_fail(err, "patch embedding: kernel of %lld per output does not fit %d channels x %d x %d",
                       (long long)w->n_in, img->n_ch, patch, patch);
    if (img->h < patch || img->w < patch)
        return hk_fail(err, "patch embedding: image %d x %d is smaller than a %d-pixel patch", img->w, img->h,
                       patch);
    const int64_t n_patches = (int64_t)(img->h / patch) * (img->w / patch);
    gemm_job j = {.bias = bias, .round = w->type == HK_TYPE_F16, .img = img, .patch = patch, .y = y, .ldy = ldy};
    return run_gemm(pool, w, &j, n_patches, err);
}
