/* Scalar reference backend: plain C loops, the truth the faster backends are
 * checked against.  Where llama.cpp rounds (activations to the weight's dot
 * type, Q and the attention weights to F16 against an F16 cache, GELU through
 * an F16 table) this rounds identically; what remains are summation-order
 * differences of ~1e-7 relative.  Sums of products use double accumulators,
 * as ggml's scalar dot products do. */
#include "ops.h"

/* A fused multiply-add rounds once instead of twice; ggml's results (and the
 * goldens) come from separately rounded products on the paths that matter. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

/* Lanes of an AVX-512 float vector: llama.cpp's kernels sum in 16 lanes. */
enum { LANES = 16 };

struct hk_backend {
    hk_pool *pool;
    hk_matmul_mode mode;
    int n_threads;
    int64_t max_in;
    int max_rows;
    int32_t n_ctx;
    int max_head_dim;
    uint8_t *act;          /* activations converted for the dot product: max_rows rows */
    size_t act_row_cap;    /* bytes reserved per row of act */
    float *rows;           /* per thread: one dequantized weight row (HK_MATMUL_EXACT) */
    float *scores;         /* per thread: n_ctx attention scores */
    float *qrow;           /* per thread: a query head as the kernel sees it */
    double *acc;           /* per thread: max_head_dim accumulators (P.V) */
    float *rope_cache;     /* cos, sin of each rotary pair for one position */
};

/* Bytes per element of the widest activation format a matmul converts to
 * (F16/BF16: 2; Q8_0 34/32, Q8_1 36/32, Q8_K 292/256 are narrower).  F32
 * weights take the activations as they are. */
enum { ACT_BYTES_PER_ELEMENT = 2 };

hk_backend *hk_backend_new(hk_pool *pool, hk_matmul_mode mode, int64_t max_in, int max_rows, int32_t n_ctx,
                           int max_head_dim, int max_rot)
{
    hk_backend *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    int nt = hk_pool_size(pool);
    b->pool = pool;
    b->mode = mode;
    b->n_threads = nt;
    b->max_in = max_in;
    b->max_rows = max_rows;
    b->n_ctx = n_ctx;
    b->max_head_dim = max_head_dim;
    /* + one Q8_K block of slack: a row narrower than its first block never
     * exists (shapes are validated), but the bound then needs no proof */
    b->act_row_cap = (size_t)max_in * ACT_BYTES_PER_ELEMENT + sizeof(hk_block_q8_K);
    b->act = malloc(b->act_row_cap * (size_t)max_rows);
    b->rows = malloc(sizeof(float) * (size_t)max_in * (size_t)nt);
    b->scores = malloc(sizeof(float) * (size_t)n_ctx * (size_t)nt);
    b->qrow = malloc(sizeof(float) * (size_t)max_head_dim * (size_t)nt);
    b->acc = malloc(sizeof(double) * (size_t)max_head_dim * (size_t)nt);
    b->rope_cache = malloc(sizeof(float) * (size_t)(max_rot > 0 ? max_rot : 2));
    if (!b->act || !b->rows || !b->scores || !b->qrow || !b->acc || !b->rope_cache) {
        hk_backend_free(b);
        return NULL;
    }
    return b;
}

void hk_backend_free(hk_backend *b)
{
    if (!b)
        return;
    free(b->act);
    free(b->rows);
    free(b->scores);
    free(b->qrow);
    free(b->acc);
    free(b->rope_cache);
    free(b);
}

/* ggml's scalar dot products: each product rounded to float, summed in double. */
static inline float dot_f32(const float *a, const float *b, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(a[i] * b[i]);
    return (float)sum;
}

static inline float dot_f16_f16(const uint16_t *a, const uint16_t *b, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(hk_f16_to_f32(a[i]) * hk_f16_to_f32(b[i]));
    return (float)sum;
}

/* ---------------------------------------------------------------- matmul */

typedef struct matmul_job {
    hk_backend *b;
    int n_tok;
    const float *x;
    int64_t ldx;
    const hk_matmul_out *outs;
    int n_outs;
    int64_t total_rows;    /* sum of the outs' n_out */
    bool convert;          /* activations go through act (LLAMACPP mode, non-F32 weights) */
    hk_type act_type;      /* their format then */
    size_t act_row;        /* bytes of one converted row */
} matmul_job;

static void matmul_rows(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith)
{
    const hk_weight *w = o->w;
    const int64_t n = w->n_in;
    const bool exact = j->b->mode == HK_MATMUL_EXACT;
    float *row = j->b->rows + (size_t)ith * (size_t)j->b->max_in;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = w->data + (size_t)r * w->row_bytes;
        const float bias = o->bias ? o->bias[r] : 0.0f;
        if (w->type == HK_TYPE_F32 || exact) {
            const float *wf = (const float *)(const void *)wr;
            if (w->type != HK_TYPE_F32) {
                hk_dequantize_row(w->type, wr, row, n);
                wf = row;
            }
            for (int t = 0; t < j->n_tok; t++) {
                float v = dot_f32(wf, j->x + (size_t)t * (size_t)j->ldx, n);
                o->y[(size_t)t * (size_t)o->ldy + (size_t)r] = o->bias ? v + bias : v;
            }
        } else {
            for (int t = 0; t < j->n_tok; t++) {
                float v = hk_vec_dot(w->type, n, wr, j->b->act + (size_t)t * j->act_row);
                o->y[(size_t)t * (size_t)o->ldy + (size_t)r] = o->bias ? v + bias : v;
            }
        }
    }
}

static void matmul_run(void *arg, int ith, int nth)
{
    const matmul_job *j = arg;
    long lo, hi;
    if (j->convert) {
        const int64_t n = j->outs[0].w->n_in;
        hk_split(j->n_tok, ith, nth, &lo, &hi);
        for (long t = lo; t < hi; t++)
            hk_quantize_act(j->act_type, j->x + (size_t)t * (size_t)j->ldx, j->b->act + (size_t)t * j->act_row, n);
        hk_pool_barrier(j->b->pool);
    }
    hk_split((long)j->total_rows, ith, nth, &lo, &hi);
    int64_t base = 0;
    for (int k = 0; k < j->n_outs; k++) {
        const int64_t n_out = j->outs[k].w->n_out;
        int64_t r0 = lo > base ? lo - base : 0;
        int64_t r1 = hi - base < n_out ? hi - base : n_out;
        if (r0 < r1)
            matmul_rows(j, &j->outs[k], r0, r1, ith);
        base += n_out;
    }
}

static hk_type act_type_of(hk_type wt) { return hk_type_traits_of(wt)->vec_dot_type; }

void hk_op_matmul(hk_backend *b, int n_tok, const float *x, int64_t ldx, const hk_matmul_out *outs, int n_outs)
{
    assert(n_tok <= b->max_rows);
    /* Products whose weights want the same activation format share one
     * conversion and one dispatch; mixed files (Q4_K_M's Q6_K attn_v next to
     * Q4_K attn_q still share Q8_K) rarely split a group. */
    int k = 0;
    while (k < n_outs) {
        const hk_weight *w0 = outs[k].w;
        const bool convert = b->mode == HK_MATMUL_LLAMACPP && w0->type != HK_TYPE_F32;
        int e = k + 1;
        while (e < n_outs && outs[e].w->n_in == w0->n_in &&
               (b->mode == HK_MATMUL_EXACT ||
                (outs[e].w->type == HK_TYPE_F32) == (w0->type == HK_TYPE_F32)) &&
               (!convert || act_type_of(outs[e].w->type) == act_type_of(w0->type)))
            e++;
        matmul_job j = {
            .b = b, .n_tok = n_tok, .x = x, .ldx = ldx, .outs = outs + k, .n_outs = e - k,
            .convert = convert,
        };
        for (int i = k; i < e; i++)
            j.total_rows += outs[i].w->n_out;
        if (convert) {
            j.act_type = act_type_of(w0->type);
            j.act_row = hk_row_size(j.act_type, w0->n_in);
            assert(j.act_row > 0 && j.act_row <= b->act_row_cap && w0->n_in <= b->max_in);
        }
        hk_pool_run(b->pool, matmul_run, &j);
        k = e;
    }
}

/* ---------------------------------------------------------------- attention */

/* llama.cpp evaluates attention (flash attention off) as two matmuls against
 * the cache and a softmax, on x86 with AVX-512 kernels whose float summation
 * order is visible: a one-ulp change upstream of an 8-bit activation
 * quantization can flip a rounding and move logits by 1%.  So the reference
 * reproduces those orders:
 *   - K.Q of a batch of >= 2 tokens against an F16 cache goes through
 *     llamafile's tinyBLAS once Q is converted to F16 (inner length a
 *     multiple of 16): 16 float lanes, element l into lane l % 16, fused
 *     multiply-adds, then _mm512_reduce_add_ps's pairwise tree;
 *   - otherwise ggml_vec_dot_f16/_f32: 4 x 16 lanes per 64 elements, reduced
 *     pairwise, then the leftovers one by one (F16: in double; F32: float
 *     fused multiply-adds, as GCC contracts ggml's `sumf += x[i]*y[i]`);
 *   - the softmax takes ggml_v_expf (not libm's expf) in chunks of 16 cells,
 *     each chunk summed by the same tree, the chunk sums in double.
 * Each of these was kept because it raised the number of goldens matched to
 * the last bit (tests/test_parity.c); libm's expf instead loses three.
 * F16 products are exact in float, so for them a fused multiply-add is a
 * plain add. */
enum { VEC_STEP = 4 * LANES };

static float reduce16(const float *v)
{
    float a[8], b[4];
    for (int i = 0; i < 8; i++)
        a[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; i++)
        b[i] = a[i + 4] + a[i];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* ggml's AVX-512 ggml_v_expf, one lane of it (the Arm optimized-routines
 * algorithm: 2^n by scalef times a degree-5 polynomial in the remainder). */
static float ggml_expf(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192)
        return n <= 0 ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    return scalbnf(j, (int)n);
}

/* K.Q for one key: sum of a[i] * b[i], i < n, in the order of the kernel
 * llama.cpp would use.  a is the cached key (F16 or F32), b the query,
 * already rounded to F16 values when f16. */
static float kq_dot(bool tinyblas, bool f16, const void *a, const float *b, int n)
{
    const uint16_t *ah = a;
    const float *af = a;
#define A_AT(i) (f16 ? hk_f16_to_f32(ah[i]) : af[i])
#define MADD(acc, x, y) ((acc) = f16 ? (acc) + (x) * (y) : fmaf((x), (y), (acc)))
    if (tinyblas) {
        float lane[LANES] = {0};
        for (int i = 0; i < n; i++)
            MADD(lane[i % LANES], A_AT(i), b[i]);
        return reduce16(lane);
    }
    const int np = n & ~(VEC_STEP - 1);
    float sum[4][LANES] = {{0}};
    int i = 0;
    for (; i < np; i++)
        MADD(sum[(i % VEC_STEP) / LANES][i % LANES], A_AT(i), b[i]);
    for (int l = 0; l < LANES; l++) {
        sum[0][l] = sum[0][l] + sum[2][l];
        sum[1][l] = sum[1][l] + sum[3][l];
        sum[0][l] = sum[0][l] + sum[1][l];
    }
    if (f16) {
        double acc = (double)reduce16(sum[0]);
        for (; i < n; i++)
            acc += (double)(A_AT(i) * b[i]);
        return (float)acc;
    }
    float acc = reduce16(sum[0]);
    for (; i < n; i++)
        MADD(acc, A_AT(i), b[i]);
    return acc;
#undef A_AT
#undef MADD
}

typedef struct attention_job {
    hk_backend *b;
    const hk_attention_args *a;
} attention_job;

static void attention_one(hk_backend *b, const hk_attention_args *a, int t, int h, int ith)
{
    const int group = a->n_head / a->n_head_kv;
    const int g = h / group; /* consecutive query heads share a KV head, as ggml's broadcast */
    const int32_t p = a->pos0 + t;
    const int32_t j0 = a->window > 0 && p - a->window + 1 > 0 ? p - a->window + 1 : 0;
    const int dk = a->head_dim_k, dv = a->head_dim_v;
    const size_t k_stride = (size_t)a->n_head_kv * (size_t)dk, v_stride = (size_t)a->n_head_kv * (size_t)dv;
    const float *q = a->q + (size_t)t * (size_t)a->ldq + (size_t)h * (size_t)dk;
    float *sc = b->scores + (size_t)ith * (size_t)b->n_ctx; /* indexed by cell */
    float *qr = b->qrow + (size_t)ith * (size_t)b->max_head_dim;
    const bool f16 = a->kv_type == HK_TYPE_F16;
    const size_t elt = f16 ? 2 : 4;
    for (int d = 0; d < dk; d++) /* ggml converts the other operand of an F16 matmul to F16 */
        qr[d] = f16 ? hk_f16_to_f32(hk_f32_to_f16(q[d])) : q[d];

    const float cap_inv = a->softcap > 0 ? 1.0f / a->softcap : 0.0f;
    float max = -INFINITY;
    for (int32_t j = j0; j <= p; j++) {
        const uint8_t *krow = (const uint8_t *)a->k + ((size_t)j * k_stride + (size_t)g * (size_t)dk) * elt;
        float s = kq_dot(a->batched && f16 && dk % LANES == 0, f16, krow, qr, dk);
        if (a->softcap > 0)
            s = tanhf(s * cap_inv) * a->softcap;
        s *= a->scale;
        sc[j] = s;
        if (s > max)
            max = s;
    }
    /* ggml_soft_max: masked cells are exp(-inf) = 0 inside their chunk */
    double sum = 0.0;
    for (int32_t c0 = j0 - j0 % LANES; c0 <= p; c0 += LANES) {
        float chunk[LANES];
        for (int l = 0; l < LANES; l++) {
            const int32_t j = c0 + l;
            chunk[l] = j >= j0 && j <= p ? ggml_expf(sc[j] - max) : 0.0f;
            if (j >= j0 && j <= p)
                sc[j] = chunk[l];
        }
        sum += (double)reduce16(chunk);
    }
    const float inv = (float)(1.0 / sum);
    for (int32_t j = j0; j <= p; j++) {
        sc[j] = sc[j] * inv;
        if (f16)
            sc[j] = hk_f16_to_f32(hk_f32_to_f16(sc[j]));
    }
    /* P.V: double accumulation of float products.  Measured against the
     * goldens this agrees more often than a 16-lane tinyBLAS order does
     * (39 vs 36 of 79 rows of comparisons bit-level); the kernel llama.cpp
     * took here is not pinned down, and double is the order-free rounding. */
    float *out = a->out + (size_t)t * (size_t)a->ldo + (size_t)h * (size_t)dv;
    double *acc = b->acc + (size_t)ith * (size_t)b->max_head_dim;
    for (int d = 0; d < dv; d++)
        acc[d] = 0.0;
    for (int32_t j = j0; j <= p; j++) {
        const float w = sc[j];
        const size_t off = (size_t)j * v_stride + (size_t)g * (size_t)dv;
        if (f16) {
            const uint16_t *v = (const uint16_t *)a->v + off;
            for (int d = 0; d < dv; d++)
                acc[d] += (double)(w * hk_f16_to_f32(v[d]));
        } else {
            const float *v = (const float *)a->v + off;
            for (int d = 0; d < dv; d++)
                acc[d] += (double)(w * v[d]);
        }
    }
    for (int d = 0; d < dv; d++)
        out[d] = (float)acc[d];
}

static void attention_run(void *arg, int ith, int nth)
{
    const attention_job *j = arg;
    const hk_attention_args *a = j->a;
    long lo, hi;
    hk_split((long)a->n_tok * a->n_head, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        attention_one(j->b, a, (int)(i / a->n_head), (int)(i % a->n_head), ith);
}

void hk_op_attention(hk_backend *b, const hk_attention_args *a)
{
    assert(a->pos0 + a->n_tok <= b->n_ctx && a->head_dim_k <= b->max_head_dim && a->head_dim_v <= b->max_head_dim);
    assert(a->n_head % a->n_head_kv == 0);
    attention_job j = {b, a};
    hk_pool_run(b->pool, attention_run, &j);
}

/* ---------------------------------------------------------------- per-row ops */

void hk_op_rms_norm(const float *x, int64_t ldx, float *y, int64_t ldy, const float *w, int n_tok, int64_t n,
                    float eps)
{
    for (int t = 0; t < n_tok; t++) {
        const float *xr = x + (size_t)t * (size_t)ldx;
        float *yr = y + (size_t)t * (size_t)ldy;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)(xr[i] * xr[i]);
        const float mean = (float)(sum / (double)n);
        const float scale = 1.0f / sqrtf(mean + eps);
        /* ggml_rms_norm then ggml_mul: two roundings, kept apart */
        for (int64_t i = 0; i < n; i++) {
            float v = xr[i] * scale;
            yr[i] = v * w[i];
        }
    }
}

void hk_op_rope(hk_backend *b, const hk_rope_args *r, float *x, int64_t ldx, int n_tok, int n_head, int head_dim,
                const int32_t *pos)
{
    const int n_rot = r->n_rot;
    const float theta_scale = powf(r->freq_base, -2.0f / (float)n_rot);
    float *cache = b->rope_cache;
    for (int t = 0; t < n_tok; t++) {
        /* ggml_rope_cache_init: the angle advances by a float multiply per
         * pair, so it carries float rounding that an exact power would not */
        float theta = (float)pos[t];
        for (int i0 = 0; i0 < n_rot; i0 += 2) {
            const float ff = r->factors ? r->factors[i0 / 2] : 1.0f;
            const float th = r->freq_scale * (theta / ff);
            cache[i0] = cosf(th);
            cache[i0 + 1] = sinf(th);
            theta *= theta_scale;
        }
        float *row = x + (size_t)t * (size_t)ldx;
        for (int h = 0; h < n_head; h++) {
            float *v = row + (size_t)h * (size_t)head_dim;
            for (int i0 = 0; i0 < n_rot; i0 += 2) {
                const float c = cache[i0], s = cache[i0 + 1];
                float *a, *bb;
                if (r->neox) {
                    a = v + i0 / 2;
                    bb = v + i0 / 2 + n_rot / 2;
                } else {
                    a = v + i0;
                    bb = v + i0 + 1;
                }
                const float x0 = *a, x1 = *bb;
                *a = x0 * c - x1 * s;
                *bb = x0 * s + x1 * c;
            }
        }
    }
}

void hk_op_add(float *y, int64_t ldy, const float *x, int64_t ldx, int n_tok, int64_t n)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++)
            y[(size_t)t * (size_t)ldy + (size_t)i] += x[(size_t)t * (size_t)ldx + (size_t)i];
}

void hk_op_scale(float *y, int64_t ldy, int n_tok, int64_t n, float s)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++)
            y[(size_t)t * (size_t)ldy + (size_t)i] *= s;
}

void hk_op_softcap(float *y, int64_t ldy, int n_tok, int64_t n, float c)
{
    const float inv = 1.0f / c;
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) {
            float *v = &y[(size_t)t * (size_t)ldy + (size_t)i];
            *v = tanhf(*v * inv) * c;
        }
}

float hk_silu(float x) { return x / (1.0f + expf(-x)); }

/* ggml's CPU GELU reads a 65536-entry table indexed by the F16 bits of x and
 * holding F16 values, so both the input and the output are rounded to half
 * precision; outside (-10, 10) it passes x through or returns 0. */
float hk_gelu_ggml(float x)
{
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const float h = hk_f16_to_f32(hk_f32_to_f16(x));
    const float g = 0.5f * h * (1.0f + tanhf(sqrt_2_over_pi * h * (1.0f + coef_a * h * h)));
    return hk_f16_to_f32(hk_f32_to_f16(g));
}

void hk_op_silu_mul(float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) {
            float *v = &g[(size_t)t * (size_t)ldg + (size_t)i];
            *v = hk_silu(*v) * u[(size_t)t * (size_t)ldu + (size_t)i];
        }
}

void hk_op_gelu_mul(float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) {
            float *v = &g[(size_t)t * (size_t)ldg + (size_t)i];
            *v = hk_gelu_ggml(*v) * u[(size_t)t * (size_t)ldu + (size_t)i];
        }
}

void hk_op_get_row(const hk_weight *w, int64_t row, float *y)
{
    hk_dequantize_row(w->type, w->data + (size_t)row * w->row_bytes, y, w->n_in);
}
