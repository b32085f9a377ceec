/* The language model on a Vulkan device: the same forward pass as
 * engine/forward.c (same families, same operation order), with the weights
 * uploaded once to device memory, the KV cache on the device, and one
 * command buffer per step (the one-token step recorded once and reused: the
 * per-step values - token ids, positions, n_kv - come from a small host
 * buffer the shaders read).
 *
 * Numbers: with HK_MATMUL_EXACT the matrix products dequantize the weights
 * exactly and accumulate in F32, so logits match *.dequant.kvf32 goldens to
 * ~1e-6 as the CPU's exact mode does; with HK_MATMUL_LLAMACPP activations
 * are rounded to the weight type's dot type (Q8_0, Q8_1, Q8_K, F16, BF16)
 * first, as llama.cpp's CPU backend does.  KV cache F16 or F32 as asked.
 * The cos/sin of the RoPE angles come from the host (hk_op_rope's float
 * iteration and libm), because Vulkan's sin/cos may be off by 2^-11.
 *
 * Long contexts: a layer's K or V cache larger than maxStorageBufferRange
 * is kept in several buffers ("parts", each a range of cells); attention
 * then runs per part and chunk and merges the online-softmax states.  One-
 * token steps split each part's cells into chunks too ("flash-decoding"),
 * on GPUs, so that more than n_head workgroups run.
 *
 * Environment (tests): HARK_VK_LOGITS_ROWS=N keeps at most N rows of logits
 * on the device, so that longer all-logits batches take the chunked path;
 * HARK_VK_KV_PART_BYTES=N caps a KV cache buffer at N bytes (forcing parts
 * on small models); HARK_VK_ATTN_SPLIT=N (1..64) sets the chunks a part for
 * one-token steps (1: no split; unset: by device). */
#ifndef HK_VK_LM_H
#define HK_VK_LM_H

#include <stdint.h>

#include "error.h"
#include "model.h"
#include "vk.h"

typedef struct hk_vk_lm hk_vk_lm;

/* Uploads the weights and allocates the KV cache (p->n_ctx positions, p->kv_type)
 * and work buffers for batches of p->n_batch tokens.  n_ctx, n_batch must be
 * resolved (non-zero).  Fails (one line, nothing leaked) when the device
 * lacks memory or a feature. */
hk_vk_lm *hk_vk_lm_new(hk_vk *vk, const hk_model *m, const hk_session_params *p, hk_error *err);
void hk_vk_lm_free(hk_vk_lm *g);

/* As hk_forward (model_impl.h): evaluates tokens[0..n) at positions pos0..,
 * n <= n_batch, stores their K/V; out_rows 0, 1 (last token) or n rows of
 * logits to `logits` (host memory).  0, -1 or HK_VK_LOST. */
int hk_vk_lm_forward(hk_vk_lm *g, const int32_t *tokens, int n, int32_t pos0, int out_rows, float *logits,
                     hk_error *err);

/* The context shift on the device: moves cells [keep+d, pos) to keep.. and
 * rotates their keys by -d positions (as hk_kv_rerope: widen, rotate in
 * float, round back to the cache type). */
int hk_vk_lm_shift(hk_vk_lm *g, int32_t keep, int32_t d, int32_t pos, hk_error *err);

/* How the attention runs: parts of each layer's KV cache, their cells
 * (the last part may have fewer), chunks a part for one-token steps. */
void hk_vk_lm_attention_layout(const hk_vk_lm *g, int *n_parts, int *part_cells, int *split);

/* Bytes of device memory it holds (weights + cache + work buffers). */
uint64_t hk_vk_lm_device_bytes(const hk_vk_lm *g);

#endif
