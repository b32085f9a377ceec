/* Language models read from GGUF files and the sessions that run them.
 *
 * One forward pass serves every supported family (llama, qwen2, phi3,
 * gemma2); the families differ by flags read from the file's metadata, and
 * the numbers reproduce llama.cpp's CPU backend (see
 * shared/fixtures/llm/README.md, sections 5 and 6).
 *
 * An hk_model is immutable after hk_model_load and may be shared by threads;
 * every hk_session owns its KV cache, work buffers and thread pool, so two
 * sessions on one model can run at the same time. */
#ifndef HK_MODEL_H
#define HK_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "error.h"
#include "tokenizer.h"
#include "types.h"

typedef struct hk_model hk_model;
typedef struct hk_session hk_session;

/* How matrix products with the weights are computed. */
typedef enum hk_matmul_mode {
    /* Dequantize weight rows to F32 and take F32 dot products: what
     * *.dequant.kvf32.logits.f32 (and F32 files' *.kvf32) hold, to ~1e-6. */
    HK_MATMUL_EXACT,
    /* Round activations to the weight type's dot-product type (Q8_0, Q8_1,
     * Q8_K, F16, BF16) and use integer block dot products, as llama.cpp's CPU
     * backend does: what *.kvf32.logits.f32 (F32 KV) and the plain goldens
     * (F16 KV) hold.  The default, so that hark answers as llama.cpp does. */
    HK_MATMUL_LLAMACPP,
} hk_matmul_mode;

/* Where a session computes. */
typedef enum hk_backend_kind {
    HK_BACKEND_AUTO,   /* $HARK_BACKEND if set, else a Vulkan GPU when there is one (never a
                        * CPU driver such as lavapipe), else the CPU */
    HK_BACKEND_CPU,
    HK_BACKEND_VULKAN, /* any Vulkan device, lavapipe included; when there is none, or it
                        * fails, one line on stderr and the CPU */
} hk_backend_kind;

typedef struct hk_session_params {
    int32_t n_ctx;         /* positions the KV cache holds; 0 = min(context_length, 4096) */
    int32_t n_batch;       /* most tokens one forward pass evaluates; longer inputs are split */
    hk_type kv_type;       /* HK_TYPE_F16 (default, as llama.cpp) or HK_TYPE_F32 (exact) */
    hk_matmul_mode matmul; /* default HK_MATMUL_LLAMACPP */
    int n_threads;         /* 0 = number of online CPUs */
    bool ctx_shift;        /* when full: drop the older half after n_keep and re-rope the rest */
    int32_t n_keep;        /* tokens at the start that a context shift never drops */
    hk_backend_kind backend; /* default HK_BACKEND_AUTO */
    int device;            /* Vulkan device index; -1 (default) = $HARK_DEVICE or the best */
} hk_session_params;

hk_session_params hk_session_default_params(void);

/* Loads a model: maps the file, reads its hyper-parameters, binds and checks
 * every tensor, loads the tokenizer when the file has one.  On error returns
 * NULL with one line in err naming the file and, where there is one, the
 * tensor or key ("m.gguf: tensor 'blk.0.attn_k.weight' has shape [256, 32],
 * expected [256, 64]"). */
hk_model *hk_model_load(const char *path, hk_error *err);
void hk_model_free(hk_model *m);

const char *hk_model_path(const hk_model *m);
const char *hk_model_arch(const hk_model *m);        /* "llama", "qwen2", "phi3", "gemma2" */
int32_t hk_model_n_vocab(const hk_model *m);         /* rows of the logits */
int32_t hk_model_n_ctx_train(const hk_model *m);     /* <arch>.context_length */
int32_t hk_model_n_embd(const hk_model *m);
int32_t hk_model_n_layer(const hk_model *m);
const hk_gguf *hk_model_gguf(const hk_model *m);      /* metadata, for chat templates etc. */
const hk_tokenizer *hk_model_tokenizer(const hk_model *m); /* NULL when the file has none */

/* A conversation: KV cache, position, work buffers and threads, all sized
 * here so that decoding allocates nothing.  p->backend picks the device
 * (model.h: hk_backend_kind; $HARK_BACKEND = auto|cpu|vulkan when AUTO).  A
 * Vulkan device that cannot be used - none there, too little memory, an
 * error, or lost while decoding - costs one line on stderr ("hark: vulkan:
 * <reason>; running on the CPU") and the session carries on on the CPU,
 * rebuilding its cache there from the tokens it holds. */
hk_session *hk_session_new(hk_model *m, const hk_session_params *p, hk_error *err);
void hk_session_free(hk_session *s);

/* Evaluates tokens at positions pos .. pos+n-1 (pos = hk_session_pos), in
 * chunks of n_batch tokens, and advances the position.  all_logits keeps the
 * logits of every token, otherwise only the last one's.  When the tokens do
 * not fit, it fails ("context full: 256 tokens; use -c or --ctx-shift")
 * leaving the session as it was, unless ctx_shift is on: then it first drops
 * old tokens as llama.cpp's context shift does.  Returns 0 or -1. */
int hk_session_decode(hk_session *s, const int32_t *tokens, int32_t n, bool all_logits, hk_error *err);

/* Logits (n_vocab floats) of token i of the last decode; i = -1: the last
 * token.  NULL for a row that was not kept or after a truncate. */
const float *hk_session_logits(const hk_session *s, int32_t i);
int32_t hk_session_pos(const hk_session *s);   /* tokens in the KV cache */
int32_t hk_session_n_ctx(const hk_session *s);
/* Where the session computes: "cpu" or "vulkan (<device name>)"; after a
 * fallback (the device failed or was lost) "cpu". */
const char *hk_session_backend_name(const hk_session *s);
/* Whether a full cache can make room by a context shift. */
bool hk_session_can_shift(const hk_session *s);
/* Forgets positions >= pos (to evaluate a different continuation). */
void hk_session_truncate(hk_session *s, int32_t pos);

#endif
