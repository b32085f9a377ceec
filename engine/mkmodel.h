/* Random-weight models in the exact shape of real ones (`hark mkmodel`).
 *
 * Speed depends on shapes and tensor types, not on the values, so a file
 * with the tensor names, shapes, per-tensor types and metadata of a real
 * model measures what the real file would, without a download.  The
 * vocabulary has the real size and the special ids llama.cpp reads (BOS,
 * EOS, the chat template's turn markers); the other token strings are
 * synthetic.  The values are small random numbers (norms near 1) that keep
 * a forward pass finite. */
#ifndef HK_MKMODEL_H
#define HK_MKMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The hyper-parameters of one real model, from its Hugging Face
 * config.json (field names in the comments). */
typedef struct hk_shape {
    const char *name;         /* what --shape takes: "qwen2.5-0.5b" */
    const char *source;       /* Hugging Face repository whose config.json the numbers come from */
    const char *arch;         /* general.architecture: llama, qwen2, phi3, gemma2 */
    const char *general_name; /* general.name as llama.cpp's converter writes it */
    const char *size_label;   /* general.size_label */
    int32_t n_embd;           /* hidden_size */
    int32_t n_ff;             /* intermediate_size */
    int32_t n_layer;          /* num_hidden_layers */
    int32_t n_head;           /* num_attention_heads */
    int32_t n_head_kv;        /* num_key_value_heads */
    int32_t head_dim;         /* head_dim, else hidden_size / num_attention_heads */
    int32_t n_vocab;          /* vocab_size: rows of token_embd */
    int32_t n_ctx_train;      /* max_position_embeddings */
    float rope_base;          /* rope_theta */
    float norm_eps;           /* rms_norm_eps */
    bool tied;                /* tie_word_embeddings: no output.weight, token_embd is the output */
    bool qkv_bias;            /* Qwen2: attn_q/k/v carry biases */
    bool fused;               /* Phi-3: attn_qkv = q|k|v and ffn_up = gate|up */
    bool head_dim_keys;       /* the converter writes attention.key_length/value_length */
    /* rope_scaling of type "llama3" (Llama 3.1+): written as rope_freqs.weight; factor 0 = none */
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int32_t rope_orig_ctx;    /* original_max_position_embeddings */
    float attn_softcap;       /* Gemma 2: attn_logit_softcapping (0 = none) */
    float final_softcap;      /* Gemma 2: final_logit_softcapping */
    int32_t sliding_window;   /* sliding_window (0 = none written) */
    int vocab;                /* index into the vocabulary table of mkmodel.c */
} hk_shape;

/* The shapes hark knows, in a fixed order; NULL past the end. */
const hk_shape *hk_shape_at(size_t i);
/* By name (case-insensitive); NULL when unknown. */
const hk_shape *hk_shape_find(const char *name);

typedef struct hk_mkmodel_params {
    const char *shape;   /* a name hk_shape_find knows */
    const char *ftype;   /* a file type as llama-quantize takes it: F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, ... */
    int32_t n_layer;     /* 0 = the real model's; else that many blocks (small files for tests) */
    uint64_t seed;       /* the values are a function of the seed only, not of the threads */
    int n_threads;       /* <= 0: one per online CPU */
} hk_mkmodel_params;

hk_mkmodel_params hk_mkmodel_default_params(void);

/* Writes the model to path (through a temporary name, so a failure leaves
 * no partial file).  Tensor data is generated and quantized tensor by
 * tensor, rows split across threads, so memory stays near the largest
 * tensor.  Returns 0, or -1 with err saying why ("unknown shape 'x'"). */
int hk_mkmodel_write(const char *path, const hk_mkmodel_params *p, hk_error *err);

#endif
