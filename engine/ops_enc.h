/* Operations of the Whisper encoder/decoder and the ViT (CLIP) encoders that
 * the LM's ops.h does not have: LayerNorm, the GELU family, softmax, the
 * convolutions (Whisper's conv1d front end, the ViT patch embedding) and
 * row-broadcast add/mul.  This scalar code is the reference the Vulkan
 * kernels (vk/vk_ops.h) are checked against.
 *
 * Numbers follow ggml's CPU backend (llama.cpp c392e50 for clip, whisper.cpp
 * 233fe1f; see shared/fixtures/{whisper,vision}/README.md section 3): sums
 * that ggml keeps in ggml_float are double here, F16 roundings happen where
 * ggml rounds (im2col in F16, the GELU tables), and every other operation is
 * the same single float operation in the same order.  What remains against
 * ggml's SIMD paths is summation order, ~1e-7 relative.
 *
 * `pool` may be NULL (runs on the calling thread).  Results never depend on
 * the number of threads: each output row is computed by one thread. */
#ifndef HK_OPS_ENC_H
#define HK_OPS_ENC_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "ops.h"
#include "threadpool.h"

/* ggml_norm then optional ggml_mul by w and ggml_add of b, per row of n:
 * mean and centred variance summed in double, y = (x - mean) * (1/sqrtf(var
 * + eps)) [* w[i]] [+ b[i]] with each step rounded to float.  w and b may be
 * NULL; y may be x. */
void hk_op_layer_norm(hk_pool *pool, const float *x, int64_t ldx, float *y, int64_t ldy, const float *w,
                      const float *b, int n_rows, int64_t n, float eps);

typedef enum hk_act {
    HK_ACT_GELU,       /* ggml_gelu: tanh form through ggml's F16 table (hk_gelu_ggml) */
    HK_ACT_GELU_ERF,   /* ggml_gelu_erf: 0.5 x (1 + erff(x / sqrt 2)), no table for F32 */
    HK_ACT_GELU_QUICK, /* ggml_gelu_quick (CLIP's quick_gelu) through ggml's F16 table */
} hk_act;

float hk_gelu_erf(float x);
/* x * (1 / (1 + expf(-1.702 x))) with x and the result rounded to F16, as
 * ggml's table (GGML_GELU_QUICK_FP16) gives it; unlike GELU no clamp. */
float hk_gelu_quick_ggml(float x);
/* y = act(y) elementwise over n_rows rows of n. */
void hk_op_act(hk_pool *pool, hk_act act, float *y, int64_t ldy, int n_rows, int64_t n);

/* ggml_soft_max_ext without ALiBi, in place on n_rows rows of n:
 * w = y * scale + mask[r % mask_rows] (mask NULL: none), y = exp(w - max w)
 * * (float)(1 / sum), the sum in double.  The mask broadcasts over rows as
 * ggml's does over heads (mask_rows = queries, n_rows = heads * queries). */
void hk_op_softmax(hk_pool *pool, float *y, int64_t ldy, int n_rows, int64_t n, float scale, const float *mask,
                   int64_t ldm, int mask_rows);

typedef enum hk_binop { HK_BIN_ADD, HK_BIN_MUL } hk_binop;
/* y[r][i] = y[r][i] op b[r * ldb + i]: ldb = 0 broadcasts one row (bias add,
 * per-channel scale), ldb >= n adds a matrix (positional embeddings). */
void hk_op_binary(hk_binop op, float *y, int64_t ldy, const float *b, int64_t ldb, int n_rows, int64_t n);

/* ---- convolutions: im2col + matmul, as ggml_conv_1d / ggml_conv_2d ---- */

/* Output length of a 1-D convolution (dilation 1), as ggml computes it. */
int64_t hk_conv1d_out_len(int64_t in_len, int k, int stride, int pad);

/* A 1-D signal of n_ch channels and len samples; sample t of channel c at
 * x[c * sc + t * st] (mel: [ch][len] is sc = len, st = 1; a previous conv's
 * [len][ch] output is sc = 1, st = ld). */
typedef struct hk_signal {
    const float *x;
    int n_ch;
    int64_t len;
    int64_t sc, st;
} hk_signal;

/* ggml_im2col for 1-D: col[t][c * k + j] = x[c][t * stride + j - pad] (0
 * outside), hk_conv1d_out_len rows of n_ch * k, rounded to F16 when f16 (as
 * ggml_conv_1d always asks). */
void hk_op_im2col_1d(const hk_signal *s, int k, int stride, int pad, bool f16, float *col);

/* whisper.cpp's ggml_conv_1d_ph + bias: y[t][o] = sum_{c,j} W[o][c][j] *
 * col[t][c*k+j] (+ bias[o]) where col is the F16 im2col and W (F16 or F32,
 * n_out = out channels, n_in = n_ch * k) is used in F16 too; the products are
 * exact and summed in double.  The output is ggml's result transposed - time
 * steps as rows, [out_len][ldy] - the layout the encoder continues with.
 * Fails (one line in err) for another weight type, a shape mismatch or no
 * memory (it allocates the converted kernel and per-thread rows). */
int hk_op_conv1d(hk_pool *pool, const hk_weight *w, int k, int stride, int pad, const float *bias,
                 const hk_signal *s, float *y, int64_t ldy, hk_error *err);

/* An image as planar float [n_ch][h][w]. */
typedef struct hk_image_chw {
    const float *x;
    int n_ch, h, w;
} hk_image_chw;

/* clip.cpp's ggml_conv_2d(kernel, image, p, p, 0, 0, 1, 1) (+ bias):
 * patch q = py * (w / p) + px gives y[q][o] = sum_{c,ky,kx} W[o][c][ky][kx] *
 * img[c][py*p+ky][px*p+kx] (+ bias[o]), W with n_in = n_ch * p * p.  The
 * im2col takes the kernel's type, so with an F16 kernel the pixels are
 * rounded to F16 (products exact), with an F32 one nothing is; float
 * products summed in double.  (h / p) * (w / p) rows of [ldy]; remainders
 * of h and w past whole patches are ignored, as ggml does. */
int hk_op_patch_embed(hk_pool *pool, const hk_weight *w, int patch, const float *bias, const hk_image_chw *img,
                      float *y, int64_t ldy, hk_error *err);

/* The kernel w (F16 or F32, ggml layout) as floats [n_out][n_in], rounded
 * to F16 when round_f16 (ggml converts an F32 kernel to the F16 im2col's
 * vec_dot type): what the convolutions above multiply with, and what the
 * Vulkan ones upload.  malloc'd; NULL with err for another type or no
 * memory. */
float *hk_conv_kernel_f32(const hk_weight *w, bool round_f16, hk_error *err);

#endif
