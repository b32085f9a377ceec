/* Matrix products and embedding lookups with quantized weights on a Vulkan
 * device: the weights uploaded once, each tensor split into row ranges that
 * fit maxStorageBufferRange; y[t][o] = W[o] . x[t] (+ bias[o]) for every
 * type of engine/types.h the CPU reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q2_K..Q6_K): direct kernels for the common types (a
 * matrix-vector kernel for one token, a tiled matrix-matrix kernel for
 * batches), a dequantize-then-F32 path for the rest.
 *
 * Numbers as the CPU's hk_op_matmul in the same mode (ops.h):
 *   HK_MATMUL_EXACT     weights dequantized exactly, F32 products and sums;
 *   HK_MATMUL_LLAMACPP  each activation row first rounded to the weight
 *                       type's vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16:
 *                       the same bits as the CPU's act_from_float at the SIMD
 *                       level), integer block dot products, float sums.
 * Only the order of float sums across blocks differs from the CPU.
 *
 * Optional device features, each with a fallback that gives the same bits
 * (test_vk_matmul compares them):
 *   subgroup arithmetic   mv reduces with subgroupAdd; else a shared-memory
 *                         tree (the sum order changes, so not bit for bit
 *                         with it, but both within the parity tolerance);
 *   shaderIntegerDotProduct  (VK_KHR_shader_integer_dot_product, core 1.3)
 *                         the LLAMACPP-mode integer kernels add four int8
 *                         products at a time with OpSDot for Q4_0, Q4_1,
 *                         Q5_0, Q5_1, Q8_0 and Q2_K (one integer sum per
 *                         block), two for Q3_K..Q6_K (ggml's eight lane
 *                         sums per block: a lane gets elements l and l + 8
 *                         of each group of 16, so a dot takes those two,
 *                         interleaved, and two zero bytes); else one
 *                         product at a time.  Integer sums are exact:
 *                         identical bits.
 * Not used for products, on purpose: float16 arithmetic and float16
 * cooperative matrices round products and sums to half (or fuse them)
 * where llama.cpp's CPU code forms F32 products of the exact dequantized
 * values, so the outputs would leave the parity tests' bounds.  (Int8
 * cooperative matrices would keep integer block sums exact; they would
 * need a tile per block of 32 and are not written.)
 *
 * Batches of 2..7 rows take the matrix-vector kernel with up to 4 rows a
 * pass (one read of the weights for all of them), each row's sum formed
 * as for a row alone, so its bits do not depend on the batch.
 *
 * Environment (a test hook):
 *   HARK_VK_SPLIT_BYTES=N  split weights into parts of at most N bytes (whole
 *                          rows) instead of maxStorageBufferRange, so that
 *                          tests cover the split path with small tensors;
 *   HARK_VK_SUBGROUPS=0    reduce in shared memory even where the device has
 *                          subgroup arithmetic (as vk_ops.h);
 *   HARK_VK_INT_DOT=0      no integer dot product instructions even where
 *                          the device enabled them;
 *   HARK_VK_MV_ROWS=N      activation rows per matrix-vector pass (1..8,
 *                          default 4; 1: one pass per row). */
#ifndef HK_VK_MATMUL_H
#define HK_VK_MATMUL_H

#include "model.h"
#include "ops.h"
#include "vk.h"

/* A weight matrix on the device (possibly several buffers, by row ranges). */
typedef struct hk_vk_weight hk_vk_weight;
/* Uploads w (name for errors, e.g. "blk.3.attn_q.weight"). */
hk_vk_weight *hk_vk_weight_upload(hk_vk *vk, const hk_weight *w, const char *name, hk_error *err);
void hk_vk_weight_free(hk_vk *vk, hk_vk_weight *w);
uint64_t hk_vk_weight_bytes(const hk_vk_weight *w);
/* Buffers (row ranges) it was split into: 1 unless a part would exceed
 * maxStorageBufferRange (or HARK_VK_SPLIT_BYTES). */
int hk_vk_weight_parts(const hk_vk_weight *w);

/* A region of a device buffer holding rows of floats. */
typedef struct hk_vk_rows {
    const hk_vk_buf *buf;
    uint64_t offset;  /* bytes; a multiple of 16 */
    int64_t ld;       /* floats from one row to the next */
} hk_vk_rows;

typedef struct hk_vk_mm_out {
    const hk_vk_weight *w;
    hk_vk_rows y;
    const hk_vk_buf *bias; /* n_out floats at offset 0, or NULL */
} hk_vk_mm_out;

/* Products of one input x with n_outs weights (q, k, v or gate, up), all
 * with the same n_in, for batches of up to max_rows rows: pipelines,
 * descriptor sets and the scratch for rounded activations are made here,
 * once. */
typedef struct hk_vk_mm hk_vk_mm;
hk_vk_mm *hk_vk_mm_new(hk_vk *vk, hk_matmul_mode mode, hk_vk_rows x, int max_rows, const hk_vk_mm_out *outs,
                       int n_outs, hk_error *err);
/* The same with the scratch in a buffer of the caller's, at offset 0 and of
 * at least hk_vk_mm_scratch_bytes(mode, max_rows, outs, n_outs) bytes (0:
 * nothing is rounded), so that the products of a model share one scratch
 * instead of one each.  Safe as long as records of products sharing it are
 * separated by barriers, as the contract of hk_vk_mm_record has them. */
uint64_t hk_vk_mm_scratch_bytes(hk_matmul_mode mode, int max_rows, const hk_vk_mm_out *outs, int n_outs);
hk_vk_mm *hk_vk_mm_new_shared(hk_vk *vk, hk_matmul_mode mode, hk_vk_rows x, int max_rows, const hk_vk_mm_out *outs,
                              int n_outs, const hk_vk_buf *scratch, hk_error *err);
void hk_vk_mm_free(hk_vk *vk, hk_vk_mm *mm);
/* Records the products of rows row0 .. row0+n_rows-1 of x into the same rows
 * of each y (row0 + n_rows <= max_rows), with the barriers it needs inside;
 * the caller puts a barrier before (x written) and after (y read). */
void hk_vk_mm_record(hk_vk_cmd *c, const hk_vk_mm *mm, int row0, int n_rows);
/* For tests: row `row` of the activations as the last record rounded them
 * for product `out`, in the CPU's layout of its weight type's vec_dot_type
 * (what hk_quantize_act writes: Q8_0/Q8_1/Q8_K blocks, F16/BF16 bits), so
 * that a test compares them byte for byte.  Waits for nothing: call after
 * the command buffer finished.  Fails for products that round nothing
 * (EXACT mode, F32 weights). */
int hk_vk_mm_read_act(hk_vk *vk, const hk_vk_mm *mm, int out, int row, void *dst, hk_error *err);

/* Embedding lookup: rows ids[0..n) of weight w (the token ids are int32 in
 * `ids` at offset 0, read by the shader) dequantized to y rows 0..n-1. */
typedef struct hk_vk_get_rows hk_vk_get_rows;
hk_vk_get_rows *hk_vk_get_rows_new(hk_vk *vk, const hk_vk_weight *w, const hk_vk_buf *ids, hk_vk_rows y,
                                   hk_error *err);
void hk_vk_get_rows_free(hk_vk *vk, hk_vk_get_rows *g);
void hk_vk_get_rows_record(hk_vk_cmd *c, const hk_vk_get_rows *g, int n);

#endif
