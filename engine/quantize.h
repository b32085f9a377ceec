/* File-level quantizer: the back end of `hark quantize IN OUT TYPE`.
 *
 * Reproduces llama-quantize (llama.cpp, Feb 2025) without an importance
 * matrix: the same per-tensor type choice (llama_tensor_get_type), the same
 * bytes for every tensor, the same key/value list (general.quantization_version
 * and general.file_type moved to the end) and the same tensor order
 * (non-layer tensors first, then layer by layer, by name inside each group). */
#ifndef HK_QUANTIZE_H
#define HK_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "types.h"

/* llama.cpp's llama_ftype numbers (what general.file_type holds). */
typedef enum hk_ftype {
    HK_FTYPE_ALL_F32 = 0,
    HK_FTYPE_MOSTLY_F16 = 1,
    HK_FTYPE_MOSTLY_Q4_0 = 2,
    HK_FTYPE_MOSTLY_Q4_1 = 3,
    HK_FTYPE_MOSTLY_Q8_0 = 7,
    HK_FTYPE_MOSTLY_Q5_0 = 8,
    HK_FTYPE_MOSTLY_Q5_1 = 9,
    HK_FTYPE_MOSTLY_Q2_K = 10,
    HK_FTYPE_MOSTLY_Q3_K_S = 11,
    HK_FTYPE_MOSTLY_Q3_K_M = 12,
    HK_FTYPE_MOSTLY_Q3_K_L = 13,
    HK_FTYPE_MOSTLY_Q4_K_S = 14,
    HK_FTYPE_MOSTLY_Q4_K_M = 15,
    HK_FTYPE_MOSTLY_Q5_K_S = 16,
    HK_FTYPE_MOSTLY_Q5_K_M = 17,
    HK_FTYPE_MOSTLY_Q6_K = 18,
    HK_FTYPE_MOSTLY_BF16 = 32,
} hk_ftype;

/* "Q4_K_M" (case-insensitive) or its number -> ftype; -1 when unknown or not
 * one hark can write. */
int hk_ftype_from_name(const char *name);
/* "Q4_K_M" for HK_FTYPE_MOSTLY_Q4_K_M; NULL for numbers hark does not write. */
const char *hk_ftype_name(int ftype);
/* The type most tensors get (Q4_K for Q4_K_M); HK_TYPE_COUNT when unknown. */
hk_type hk_ftype_base_type(int ftype);

/* Quantize in_path (F32, F16 or BF16 weights) to out_path.  ftype is a name
 * as above.  n_threads <= 0 means one per online CPU.  Returns 0, or -1 with
 * err saying what went wrong ("model.gguf: tensor 'x': requantizing from Q4_0
 * is not supported").  The output is written to a temporary name and renamed,
 * so a failure never leaves a partial file at out_path. */
int hk_quantize_file(const char *in_path, const char *out_path, const char *ftype, int n_threads, hk_error *err);

/* One tensor of a model described without a file (hark mkmodel). */
typedef struct hk_quant_tensor {
    const char *name;   /* "blk.0.attn_q.weight" */
    uint32_t n_dims;    /* 1..4 */
    int64_t ne[4];      /* elements per dimension, ne[0] = row length; unused dims are 1 */
    hk_type src_type;   /* type before quantizing: F32 for what a converter writes */
    hk_type type;       /* filled in: the type llama-quantize writes */
} hk_quant_tensor;

/* The per-tensor types llama-quantize would write for ftype (a hk_ftype)
 * given a model's architecture name, hyper-parameters and tensors.  Reorders
 * t[0..n) into llama-quantize's output order (non-layer tensors first, then
 * layer by layer, by name inside each) and fills each type.  Returns 0, or -1
 * with err saying which tensor cannot be stored (rows that fit no block). */
int hk_quantize_choose_types(const char *arch, uint32_t n_layer, uint32_t n_head, uint32_t n_head_kv, int ftype,
                             hk_quant_tensor *t, size_t n, hk_error *err);

#endif
