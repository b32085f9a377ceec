/* Quantized tensor formats, bit-exact with ggml (llama.cpp, Feb 2025).
 *
 * Three jobs, each one row at a time so that SIMD versions can replace the
 * scalar ones without changing callers:
 *   - dequantize a row of weights to float (ggml's to_float);
 *   - quantize a row of float weights the way llama-quantize does without an
 *     importance matrix (ggml's quantize_row_*_ref), so files we write are
 *     byte-identical to llama.cpp's;
 *   - quantize a row of activations to the weight's dot-product type and take
 *     the dot product with integer sums inside a block and float accumulation
 *     across blocks, as ggml's scalar CPU code does, so that logits match
 *     llama.cpp rather than "exact" math.
 *
 * Rows: n is the number of elements and must be a multiple of the type's
 * block size (32 for Q4_0..Q8_1, 256 for the K-quants).  Callers validate
 * shapes when they load a file; here that is an internal invariant (assert). */
#ifndef HK_QUANT_H
#define HK_QUANT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "types.h"

#define HK_QK4_0 32
#define HK_QK4_1 32
#define HK_QK5_0 32
#define HK_QK5_1 32
#define HK_QK8_0 32
#define HK_QK8_1 32
#define HK_QK_K 256
#define HK_K_SCALE_SIZE 12

typedef uint16_t hk_half; /* IEEE binary16 bits */

/* Block layouts, field for field as ggml-common.h declares them. */
typedef struct {
    hk_half d;                   /* scale: x = d * (q - 8) */
    uint8_t qs[HK_QK4_0 / 2];    /* nibbles; element j in low half of qs[j], j+16 in high half */
} hk_block_q4_0;

typedef struct {
    hk_half d;                   /* scale */
    hk_half m;                   /* minimum: x = d * q + m */
    uint8_t qs[HK_QK4_1 / 2];
} hk_block_q4_1;

typedef struct {
    hk_half d;                   /* scale: x = d * (q - 16) */
    uint8_t qh[4];               /* fifth bit of each of the 32 quants (little-endian u32) */
    uint8_t qs[HK_QK5_0 / 2];    /* low four bits, packed as in Q4_0 */
} hk_block_q5_0;

typedef struct {
    hk_half d;
    hk_half m;                   /* x = d * q + m */
    uint8_t qh[4];
    uint8_t qs[HK_QK5_1 / 2];
} hk_block_q5_1;

typedef struct {
    hk_half d;                   /* x = d * q */
    int8_t qs[HK_QK8_0];
} hk_block_q8_0;

typedef struct {
    hk_half d;
    hk_half s;                   /* d * sum(qs): lets Q4_1/Q5_1 fold their minimum in one multiply */
    int8_t qs[HK_QK8_1];
} hk_block_q8_1;

/* K-quants: 256-element super-blocks of 16 or 32-element sub-blocks whose
 * scales are themselves quantized against the super-block's d/dmin. */
typedef struct {
    uint8_t scales[HK_QK_K / 16]; /* low nibble: sub-block scale, high nibble: its min */
    uint8_t qs[HK_QK_K / 4];      /* 2-bit quants */
    hk_half d;                    /* scale of the scales */
    hk_half dmin;                 /* scale of the mins */
} hk_block_q2_K;

typedef struct {
    uint8_t hmask[HK_QK_K / 8];   /* third bit of each quant (set = no -4 offset) */
    uint8_t qs[HK_QK_K / 4];      /* low two bits */
    uint8_t scales[12];           /* 16 six-bit signed scales (biased by 32), packed */
    hk_half d;
} hk_block_q3_K;

typedef struct {
    hk_half d;
    hk_half dmin;
    uint8_t scales[HK_K_SCALE_SIZE]; /* 8 six-bit scales and 8 six-bit mins, packed */
    uint8_t qs[HK_QK_K / 2];
} hk_block_q4_K;

typedef struct {
    hk_half d;
    hk_half dmin;
    uint8_t scales[HK_K_SCALE_SIZE];
    uint8_t qh[HK_QK_K / 8];      /* fifth bits */
    uint8_t qs[HK_QK_K / 2];      /* low four bits */
} hk_block_q5_K;

typedef struct {
    uint8_t ql[HK_QK_K / 2];      /* low four bits */
    uint8_t qh[HK_QK_K / 4];      /* high two bits */
    int8_t scales[HK_QK_K / 16];  /* 8-bit signed sub-block scales */
    hk_half d;
} hk_block_q6_K;

/* Activations only (never stored in files). */
typedef struct {
    float d;                      /* float scale, unlike every other block */
    int8_t qs[HK_QK_K];
    int16_t bsums[HK_QK_K / 16];  /* sums of each 16 quants: the K dot products fold mins with them */
} hk_block_q8_K;

/* ggml's nearest_int: round half to even through the float mantissa, valid
 * for |f| <= 4194303.  Quantizers must use exactly this, not lrintf under a
 * possibly different rounding mode nor roundf (half away from zero). */
static inline int hk_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Q4_K/Q5_K's twelve bytes of packed 6-bit scales and mins
 * (get_scale_min_k4), all eight at once: scale j in byte j of *sc, min j in
 * byte j of *mn.  Whole 8-byte values, for the SIMD kernels: one store or
 * one register each, no narrow stores read back wide. */
static inline void hk_k4_scales(const uint8_t s[12], uint64_t *sc, uint64_t *mn)
{
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    *sc = (a & 0x3F3F3F3Fu) | (uint64_t)((c & 0x0F0F0F0Fu) | (((a >> 6) & 0x03030303u) << 4)) << 32;
    *mn = (b & 0x3F3F3F3Fu) | (uint64_t)(((c >> 4) & 0x0F0F0F0Fu) | (((b >> 6) & 0x03030303u) << 4)) << 32;
}

/* Row functions of one type.  A NULL member means the operation does not
 * exist for the type (for example nothing quantizes weights to Q8_K). */
typedef void (*hk_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*hk_from_float_fn)(const float *src, void *dst, int64_t n);
typedef float (*hk_vec_dot_fn)(int64_t n, const void *w_row, const void *act_row);

typedef struct hk_quant_ops {
    hk_to_float_fn to_float;       /* dequantize_row_* */
    hk_from_float_fn from_float;   /* quantize_row_*_ref: weights, as llama-quantize */
    /* What ggml's CPU backend uses for activations: its generic (scalar)
     * code.  Note ggml's AVX2/AVX-512 quantize_row_q8_0/q8_1 differ from it
     * in rare elements (scale 127/amax instead of 1/(amax/127), ties rounded
     * to even); a SIMD backend that must match x86 llama.cpp bit for bit
     * plugs its own function in here. */
    hk_from_float_fn act_from_float;
    hk_vec_dot_fn vec_dot;         /* w_row (this type) . act_row (traits' vec_dot_type) */
} hk_quant_ops;

/* Scalar operations of a type; NULL when hark has none for it. */
const hk_quant_ops *hk_quant_ops_of(hk_type t);

/* Whether rows of t can be dequantized / produced by hk_quantize_row_ref. */
bool hk_can_dequantize(hk_type t);
bool hk_can_quantize(hk_type t);

/* Dispatchers over hk_quant_ops_of: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, Q8_1, Q2_K..Q6_K and Q8_K (hk_vec_dot takes no Q8_1 or Q8_K weights;
 * ggml has no such dot product either). */
void hk_dequantize_row(hk_type t, const void *src, float *dst, int64_t n);
void hk_quantize_row_ref(hk_type t, const float *src, void *dst, int64_t n);
/* x (n floats) -> dst in vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16, F32). */
void hk_quantize_act(hk_type vec_dot_type, const float *x, void *dst, int64_t n);
/* act_row must be in hk_type_traits_of(wt)->vec_dot_type. */
float hk_vec_dot(hk_type wt, int64_t n, const void *w_row, const void *act_row);

/* Scalar rows per type, exported so tests and SIMD code can call one
 * directly and compare against it. */
void hk_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q4_1(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q5_0(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q5_1(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q8_1(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q2_K(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q3_K(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q4_K(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q5_K(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q6_K(const void *src, float *dst, int64_t n);
void hk_dequantize_row_q8_K(const void *src, float *dst, int64_t n);

void hk_quantize_row_q4_0_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q4_1_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q5_0_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q5_1_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q8_0_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q8_1_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q2_K_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q3_K_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q4_K_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q5_K_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q6_K_ref(const float *src, void *dst, int64_t n);
void hk_quantize_row_q8_K_ref(const float *src, void *dst, int64_t n);

float hk_vec_dot_q4_0_q8_0(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q4_1_q8_1(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q5_0_q8_0(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q5_1_q8_1(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q8_0_q8_0(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q2_K_q8_K(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q3_K_q8_K(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q4_K_q8_K(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q5_K_q8_K(int64_t n, const void *w_row, const void *act_row);
float hk_vec_dot_q6_K_q8_K(int64_t n, const void *w_row, const void *act_row);

#endif
