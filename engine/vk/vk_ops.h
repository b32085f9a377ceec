/* The encoder operations of ops_enc.h (Whisper, ViT) on a Vulkan device, as
 * prepared ops: each is made once - pipeline, descriptor set, its own
 * parameters (norm gains, conv kernels, biases) copied to the device - and
 * then recorded into command buffers as often as needed, like vk_matmul.h's
 * hk_vk_mm.  Activations are regions of device buffers (hk_vk_rows) that
 * the caller owns; every op works in place or from one region to another
 * of the same shape.
 *
 * Numbers: the same operations in the same order as the CPU reference
 * (ops_enc.c).  GELU and quick-GELU read a table the op makes on the host
 * with the CPU's functions (ggml's method), so they give the CPU's bits;
 * the F16 im2col rounds as the CPU does; exp and erf agree with libm's to
 * about two ulp on every driver; sums are float where the CPU's are double.
 * tests/test_vk_ops.c measures what remains (a few 1e-7 relative).
 *
 * Environment: HARK_VK_SUBGROUPS=0 makes the reductions use the shared-memory
 * variant even where the device has subgroup arithmetic (tests cover both). */
#ifndef HK_VK_OPS_H
#define HK_VK_OPS_H

#include <stdint.h>

#include "ops_enc.h"
#include "vk.h"
#include "vk_matmul.h"

typedef struct hk_vk_op hk_vk_op;

/* Records rows 0 .. n_rows-1 of the op (n_rows <= its max_rows; for the
 * convolutions, output rows).  The caller puts barriers before (inputs
 * written) and after (outputs read). */
void hk_vk_op_record(hk_vk_cmd *c, const hk_vk_op *op, int n_rows);
/* Rows the op was made for: max_rows, or a convolution's output rows. */
int hk_vk_op_max_rows(const hk_vk_op *op);
void hk_vk_op_free(hk_vk *vk, hk_vk_op *op);

/* y = LayerNorm(x) [* w] [+ b] over rows of n (hk_op_layer_norm); w and b
 * are n host floats or NULL.  y may be the same region as x. */
hk_vk_op *hk_vk_layer_norm_new(hk_vk *vk, hk_vk_rows x, hk_vk_rows y, int64_t n, int max_rows, const float *w,
                               const float *b, float eps, hk_error *err);

/* y = act(y) in place (hk_op_act). */
hk_vk_op *hk_vk_act_new(hk_vk *vk, hk_act act, hk_vk_rows y, int64_t n, int max_rows, hk_error *err);

/* Softmax in place (hk_op_softmax): row r adds mask row r % mask_rows when
 * mask is not NULL. */
hk_vk_op *hk_vk_softmax_new(hk_vk *vk, hk_vk_rows y, int64_t n, int max_rows, float scale, const hk_vk_rows *mask,
                            int mask_rows, hk_error *err);

/* y[r] = y[r] op b[r] in place (hk_op_binary); b.ld = 0 broadcasts b's
 * first row (a bias on the device, per-channel scale). */
hk_vk_op *hk_vk_binary_new(hk_vk *vk, hk_binop op, hk_vk_rows y, hk_vk_rows b, int64_t n, int max_rows,
                           hk_error *err);

/* A signal on the device: sample t of channel c at float
 * offset/4 + c * sc + t * st of buf (as hk_signal). */
typedef struct hk_vk_signal {
    const hk_vk_buf *buf;
    uint64_t offset; /* bytes, a multiple of 4 */
    int n_ch;
    int64_t len;
    int64_t sc, st;
} hk_vk_signal;

/* hk_op_conv1d: the kernel w (host, F16 or F32) is uploaded rounded to F16
 * and bias (host, out channels, or NULL) with it; output rows are time
 * steps, hk_conv1d_out_len of them. */
hk_vk_op *hk_vk_conv1d_new(hk_vk *vk, const hk_weight *w, int k, int stride, int pad, const float *bias,
                           const hk_vk_signal *x, hk_vk_rows y, hk_error *err);

/* A planar [n_ch][h][w] float image on the device. */
typedef struct hk_vk_image {
    const hk_vk_buf *buf;
    uint64_t offset; /* bytes, a multiple of 4 */
    int n_ch, h, w;
} hk_vk_image;

/* hk_op_patch_embed: rows are patches, (h / p) * (w / p) of them. */
hk_vk_op *hk_vk_patch_embed_new(hk_vk *vk, const hk_weight *w, int patch, const float *bias, const hk_vk_image *img,
                                hk_vk_rows y, hk_error *err);

#endif
