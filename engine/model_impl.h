/* Inside of hk_model and hk_session, shared by model.c (loading), forward.c
 * (the transformer) and session.c (KV cache, batching).  Not public. */
#ifndef HK_MODEL_IMPL_H
#define HK_MODEL_IMPL_H

#include "model.h"
#include "ops.h"
#include "threadpool.h"
#include "vk/vk.h"

typedef struct hk_vk_lm hk_vk_lm;

typedef enum hk_arch {
    HK_ARCH_LLAMA,   /* Llama 2/3, TinyLlama, SmolLM2, stories: the reference layout */
    HK_ARCH_QWEN2,   /* + q/k/v biases, NEOX rope */
    HK_ARCH_PHI3,    /* fused qkv and gate+up, sliding window on every layer, NEOX rope */
    HK_ARCH_GEMMA2,  /* scaled embedding, post norms, soft-caps, GELU, window on even layers */
} hk_arch;

typedef enum hk_ffn_act { HK_FFN_SILU, HK_FFN_GELU } hk_ffn_act;

/* One transformer block.  Shapes in ggml order (input first): */
typedef struct hk_layer {
    const float *attn_norm;      /* (n_embd) */
    hk_weight wq;                /* (n_embd -> n_head * head_dim_k) */
    hk_weight wk;                /* (n_embd -> n_head_kv * head_dim_k) */
    hk_weight wv;                /* (n_embd -> n_head_kv * head_dim_v); phi3: row ranges of attn_qkv */
    const float *bq, *bk, *bv;   /* biases of those, or NULL */
    hk_weight wo;                /* (n_head * head_dim_v -> n_embd) */
    const float *bo;             /* or NULL */
    const float *post_attn_norm; /* (n_embd), gemma2 only: norm of the attention output */
    const float *ffn_norm;       /* (n_embd) */
    hk_weight w_gate;            /* (n_embd -> n_ff); phi3: first half of ffn_up */
    hk_weight w_up;              /* (n_embd -> n_ff); phi3: second half of ffn_up */
    hk_weight w_down;            /* (n_ff -> n_embd) */
    const float *post_ffw_norm;  /* (n_embd), gemma2 only */
    int32_t window;              /* sliding attention window of this layer; 0 = full context */
} hk_layer;

struct hk_model {
    char *path;                  /* as given to load (owned) */
    hk_gguf *gguf;               /* the mapping every pointer below points into */
    hk_tokenizer *tok;           /* NULL when the file has no tokenizer */
    hk_arch arch;
    const char *arch_name;       /* static string */

    int32_t n_vocab;             /* rows of token_embd */
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head, n_head_kv;
    int32_t head_dim_k, head_dim_v;
    int32_t n_ff;
    float norm_eps;

    hk_rope_args rope;           /* n_rot, style, base, scale, rope_freqs */

    float q_scale;               /* != 1: Q *= q_scale after RoPE (phi3, gemma2) */
    float attn_scale;            /* softmax(attn_scale * scores) */
    float attn_softcap;          /* 0 = none */
    float final_softcap;         /* 0 = none */
    float embd_scale;            /* != 1: embeddings *= embd_scale (gemma2: sqrt(n_embd)) */
    hk_ffn_act ffn_act;

    hk_weight tok_embd;          /* (n_embd -> n_vocab): rows are the embeddings */
    hk_weight output;            /* (n_embd -> n_vocab): output.weight or tok_embd when tied */
    const float *output_bias;    /* (n_vocab) or NULL */
    const float *output_norm;    /* (n_embd) */
    hk_layer *layers;            /* n_layer of them */
};

struct hk_session {
    hk_model *m;
    hk_session_params p;         /* as resolved: n_ctx, n_batch, n_threads filled in */
    hk_vk *vk;                   /* the Vulkan device the session runs on, or NULL */
    hk_vk_lm *gpu;               /* the model on it (weights, KV cache); NULL on the CPU */
    char backend_name[300];      /* "cpu" or "vulkan (<device name>)" */
    int32_t *history;            /* [n_ctx] token at each cached position, to rebuild the
                                  * cache on the CPU when the device is lost */

    /* The CPU path: everything below up to the logits is allocated only
     * when the session runs on the CPU (from the start or after a fallback). */
    hk_pool *pool;
    hk_backend *be;
    size_t kv_elt;               /* bytes per cached value: 2 (F16) or 4 (F32) */
    int64_t k_row, v_row;        /* values per position per layer: n_head_kv * head_dim */
    uint8_t *k_cache;            /* [layer][n_ctx][k_row] */
    uint8_t *v_cache;            /* [layer][n_ctx][v_row] */
    int32_t pos;                 /* positions filled (= cells: a single sequence) */

    /* work buffers, n_batch rows each */
    float *x;                    /* residual stream (n_embd) */
    float *xn;                   /* normed input of a sub-block (n_embd) */
    float *q, *k, *v;            /* projections (n_head*head_dim_k, k_row, v_row) */
    float *att;                  /* attention output (n_head * head_dim_v) */
    float *tmp;                  /* a sub-block's output (n_embd) */
    float *gate, *up;            /* (n_ff) */
    int32_t *positions;          /* of the rows being evaluated */
    float *row;                  /* one K row of max(k_row) floats, for the context shift */

    float *logits;               /* [logits_cap][n_vocab] */
    int32_t logits_cap;          /* rows allocated */
    int32_t n_decoded;           /* tokens of the last decode */
    bool all_logits;             /* whether it kept every row (else row 0 = its last token) */
    bool logits_valid;
};

/* Evaluates tokens[0..n) at positions pos0.. (n <= n_batch; the cache must
 * hold pos0 entries) and stores their K/V.  out_rows: 0 = no logits, 1 = the
 * last token's, n = every token's, written to `logits` row by row. */
void hk_forward(hk_session *s, const int32_t *tokens, int n, int32_t pos0, int out_rows, float *logits);

/* Rotates cached keys at positions [from, to) of every layer by delta
 * positions (the context shift), rounding back to the cache type. */
void hk_kv_rerope(hk_session *s, int32_t from, int32_t to, int32_t delta);

#endif
