/* The backend interface of the transformer: every piece of arithmetic the
 * forward pass does goes through one of these operations, so a faster
 * backend (SIMD, GPU) replaces them one at a time and is checked against
 * this scalar reference on every fixture.
 *
 * Numbers follow llama.cpp's CPU backend operation for operation (see
 * shared/fixtures/llm/README.md section 5): the same float roundings in the
 * same order wherever the order changes a result by more than a summation
 * reordering would. */
#ifndef HK_OPS_H
#define HK_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "threadpool.h"
#include "types.h"

/* A weight matrix in ggml's layout: n_out rows of n_in elements of `type`,
 * y = W x.  May be a row range of a larger tensor (phi3's fused qkv). */
typedef struct hk_weight {
    hk_type type;
    const uint8_t *data;  /* first row, inside the model's mapping */
    int64_t n_in;         /* row length (ne0) */
    int64_t n_out;        /* rows (ne1) */
    size_t row_bytes;     /* bytes from one row to the next */
} hk_weight;

/* One product of a hk_op_matmul call: y[t][o] = W[o] . x[t] (+ bias[o]). */
typedef struct hk_matmul_out {
    const hk_weight *w;
    float *y;             /* n_tok rows */
    int64_t ldy;          /* floats from one row of y to the next */
    const float *bias;    /* n_out floats, or NULL */
} hk_matmul_out;

/* Attention of n_tok consecutive queries over a KV cache. */
typedef struct hk_attention_args {
    int n_tok;
    int32_t pos0;         /* position of the first query; the cache holds keys 0 .. pos0+n_tok-1 */
    int n_head, n_head_kv;
    int head_dim_k, head_dim_v;
    float scale;          /* softmax(scale * s + mask) */
    float softcap;        /* > 0: s = softcap * tanh(s / softcap) before the softmax */
    int32_t window;       /* > 0: query at p sees keys p-window+1 .. p */
    bool batched;         /* the batch had >= 2 tokens (llama.cpp then takes tinyBLAS for K.Q) */
    hk_type kv_type;      /* F16 or F32 */
    const void *k;        /* [positions][n_head_kv * head_dim_k] in kv_type */
    const void *v;        /* [positions][n_head_kv * head_dim_v] in kv_type */
    const float *q;       /* [n_tok][ldq], head h at h * head_dim_k */
    int64_t ldq;
    float *out;           /* [n_tok][ldo], head h at h * head_dim_v */
    int64_t ldo;
} hk_attention_args;

typedef struct hk_backend hk_backend;

/* Work memory for the operations, sized for inputs of at most max_in
 * elements per row, max_rows rows per matmul, attention over at most n_ctx
 * keys with heads of up to max_head_dim, and RoPE over up to max_rot dims.
 * The backend computes with the CPU level active now (hk_cpu_level_active:
 * the best one, or the scalar reference under HARK_CPU=scalar) for its
 * whole life. */
hk_backend *hk_backend_new(hk_pool *pool, hk_matmul_mode mode, int64_t max_in, int max_rows, int32_t n_ctx,
                           int max_head_dim, int max_rot);
void hk_backend_free(hk_backend *b);

/* bytes of work memory for a batch's rows, 64-byte aligned, free()d as
 * usual; from 2 MiB on aligned to 2 MiB and advised into huge pages (a
 * batch's matmuls write and read their rows thousands of bytes apart: in
 * 4 KiB pages, a TLB miss nearly every row; hark bench qwen2.5-0.5b Q4_0
 * with AMX, 2 rounds: pp128 867-893 -> 960-982 tokens/s, pp512 616-620 ->
 * 745; Q4_K_M pp512 453 -> 506). */
void *hk_alloc_work(size_t bytes);

/* bytes of zeros that become memory only as they are written (an anonymous
 * mapping, advised into huge pages), for the KV cache: a long context costs
 * what it holds (pp512 of the same file 746-753 -> 770-789 tokens/s).
 * NULL if it cannot be mapped; hk_free_zeroed(p, the same bytes) unmaps. */
void *hk_alloc_zeroed(size_t bytes);
void hk_free_zeroed(void *p, size_t bytes);

/* Several products of the same input x ([n_tok][ldx] floats) in one job, so
 * the activations are converted once (HK_MATMUL_LLAMACPP) and one thread
 * pool dispatch covers q, k and v (or gate and up).  Output rows are split
 * across threads; every y element is computed by one thread in a fixed order,
 * so results do not depend on the thread count. */
void hk_op_matmul(hk_backend *b, int n_tok, const float *x, int64_t ldx, const hk_matmul_out *outs, int n_outs);

void hk_op_attention(hk_backend *b, const hk_attention_args *a);

/* y = x / sqrt(mean(x^2) + eps) * w, n_tok rows of n (y may be x). */
void hk_op_rms_norm(const float *x, int64_t ldx, float *y, int64_t ldy, const float *w, int n_tok, int64_t n,
                    float eps);

/* RoPE in place on n_tok rows of n_head heads of head_dim, the first n_rot
 * dims of each head rotated by pos[t]: pairs (2i, 2i+1) or, neox, (i,
 * i+n_rot/2); angle pos * freq_scale * base^(-2i/n_rot) / factors[i]
 * (factors may be NULL) computed as ggml does, iteratively in float. */
typedef struct hk_rope_args {
    int n_rot;
    bool neox;
    float freq_base;
    float freq_scale;
    const float *factors;  /* n_rot/2 divisors of the angle, or NULL */
} hk_rope_args;
void hk_op_rope(hk_backend *b, const hk_rope_args *r, float *x, int64_t ldx, int n_tok, int n_head, int head_dim,
                const int32_t *pos);

/* Elementwise, n_tok rows of n: */
void hk_op_add(float *y, int64_t ldy, const float *x, int64_t ldx, int n_tok, int64_t n);   /* y += x */
void hk_op_scale(float *y, int64_t ldy, int n_tok, int64_t n, float s);                   /* y *= s */
/* y = c * tanh(y * (1/c)), the three ggml ops of a soft-cap. */
void hk_op_softcap(float *y, int64_t ldy, int n_tok, int64_t n, float c);
/* g = silu(g) * u  and  g = gelu(g) * u (ggml's F16-table GELU). */
void hk_op_silu_mul(float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n);
void hk_op_gelu_mul(float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n);
/* One of those two on the backend's threads (columns split; the same
 * numbers): an exp or tanh per element of n_ff is worth two cores. */
void hk_op_ffn_act(hk_backend *b, bool gelu, float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n);
/* Row `row` of w, dequantized: an embedding lookup. */
void hk_op_get_row(const hk_weight *w, int64_t row, float *y);

/* Scalar helpers also used outside the ops. */
float hk_silu(float x);
float hk_gelu_ggml(float x);

#endif
