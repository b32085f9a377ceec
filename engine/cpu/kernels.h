/* Row kernels chosen at run time by CPU features.
 *
 * hk_quant_ops_best(t) is the drop-in replacement for hk_quant_ops_of(t)
 * (engine/quant.h) in hot loops: same members, same contracts, each member
 * the fastest implementation this CPU supports, else the scalar one.
 *
 *   - vec_dot: integer sums inside a block are exactly the scalar ones; only
 *     the order of the float accumulation across blocks differs, so results
 *     agree with the scalar code to a few float ulps of sum |terms|.
 *   - act_from_float (Q8_0, Q8_1): at the SIMD levels, x86 llama.cpp's
 *     quantize_row_q8_0/q8_1 (scale 127/amax, round half to even), which is
 *     what produced the goldens; the scalar level keeps ggml's generic code.
 *     Q8_K, F16, BF16: bit-exact with the scalar functions.
 *   - to_float: bit-exact with the scalar functions.
 *
 * HARK_CPU=scalar|avx2|avx512|neon in the environment caps the level (for
 * tests and benchmarks); a level the CPU lacks is never used. */
#ifndef HK_KERNELS_H
#define HK_KERNELS_H

#include "quant.h"

typedef enum hk_cpu_level {
    HK_CPU_SCALAR = 0,
    HK_CPU_AVX2,   /* AVX2 + FMA + F16C */
    HK_CPU_AVX512, /* AVX2 level + AVX-512 F/BW/VL; VNNI and BF16 used when present */
    HK_CPU_NEON,   /* arm64 Advanced SIMD; dotprod used when present */
    HK_CPU_LEVEL_COUNT
} hk_cpu_level;

/* Fastest row functions for t; NULL where hk_quant_ops_of(t) is NULL. */
const hk_quant_ops *hk_quant_ops_best(hk_type t);

/* Which implementation hk_quant_ops_best(t)->vec_dot is ("avx512-vnni",
 * "avx2", "scalar", ...; for types without a dot product, the to_float one). */
const char *hk_cpu_kernel_name(hk_type t);

/* The level hk_quant_ops_best uses: the best supported one, capped by HARK_CPU. */
hk_cpu_level hk_cpu_level_active(void);
const char *hk_cpu_level_name(hk_cpu_level l);

/* nr weight rows of t (w_stride bytes apart) against four activation rows
 * (act_stride bytes apart, in t's vec_dot_type): y[c * ldy + r] is
 * bit-identical to hk_quant_ops_level(t, l)->vec_dot(n, w + r * w_stride,
 * act + c * act_stride), in fewer instructions (each weight block unpacked
 * once for the four, the activations' scales converted once for all rows).
 * prefetch: when not 0, each row's bytes are asked for that far ahead of
 * it as its turn comes.  NULL where level l has no such kernel for t;
 * callers then call vec_dot per row. */
typedef void (*hk_vec_dot4_fn)(int64_t n, const void *w, size_t w_stride, int64_t nr, const void *act,
                               size_t act_stride, float *y, size_t ldy, size_t prefetch);
hk_vec_dot4_fn hk_vec_dot4_level(hk_type t, hk_cpu_level l);

/* Row-group products: nr (1..4) weight rows of t, w_stride bytes apart,
 * against nc (1..4) activation rows in the kernel's packed layout,
 * act_stride bytes apart; out[4 * c + r] = row r . activation c.  Each out
 * element takes the same operations in the same order whatever nr and nc
 * are, so a batch gives the numbers of one token at a time; against the
 * scalar vec_dot the integer sums of every block are exact and only the
 * float accumulation order differs (the vec_dot contract above).  The
 * activations are quantized to act_type exactly as the level's
 * act_from_float does, then laid out for the kernel by act_pack:
 *
 * hk_act_q8p (act_type Q8_0): per quad of blocks (128 elements; missing
 * blocks past the row's end are zeros) HK_ACT_Q8P_QUAD_BYTES bytes: 64 int8,
 * quants 0-15 of each of the four blocks; 64 int8, quants 16-31 of each;
 * 16 int32, lane l = -(sum of the eight quants at bytes 4l .. 4l+3 of the
 * two); 16 floats, lanes 4b .. 4b+3 the scale of block b (the F16 d as
 * float).
 * Q8_K (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K): the Q8_K blocks of act_from_float as they are.
 * F32: the n floats as they are (engine/ops.c also runs this kernel on tiles
 * of F16 rows converted to floats, against the F16-rounded activations).
 * F16 (x86): n floats, the activations rounded to F16 values (engine/ops.c
 * takes F16 weights that way on x86: F16 x F16 products are exact in float). */
#define HK_ACT_Q8P_QUAD_BYTES 256
/* One activation row in the kernel's packed layout against nr consecutive
 * weight rows, w_stride bytes apart: y[r] = row r . act, each bit-identical
 * to the kernel's gemm at nr = nc = 1.  The generation step: it keeps rows
 * in flight and asks for the weights ahead from inside its loop. */
typedef void (*hk_one_tok_fn)(int64_t n, const void *w, size_t w_stride, int64_t nr, const void *act, float *y);
typedef void (*hk_gemm_fn)(int64_t n, const void *w, size_t w_stride, int nr, const void *act, size_t act_stride,
                           int nc, float out[16]);
typedef struct hk_gemm_kernel {
    hk_type type;                   /* weights */
    hk_type act_type;               /* what the activations are quantized to */
    hk_from_float_fn act_pack;      /* floats -> one packed activation row */
    size_t (*act_size)(int64_t n);  /* bytes of a packed row of n elements */
    hk_gemm_fn gemm;
    bool same_as_vec_dot;           /* out[] is bit-identical to the level's vec_dot */
    hk_one_tok_fn one_tok;          /* NULL or the one-token kernel below */
} hk_gemm_kernel;
/* NULL where level l has no row-group kernel for t. */
const hk_gemm_kernel *hk_gemm_level(hk_type t, hk_cpu_level l);

/* Batch products in tiles of 16 weight rows x 16 tokens for Q4_0, Q5_0 and
 * Q8_0 weights (cpu/gemm_tile.c), on AMX (Xeon Sapphire Rapids and later: one
 * tile instruction a block) or, with the same layouts and the same numbers,
 * on AVX-512 VNNI (Ice Lake, Zen 4 and later: a vpdpbusd per four quants of a
 * row, the 16 tokens in its lanes), and for Q4_K, Q5_K and Q6_K on AVX-512
 * VNNI (with either kind): y[c * ldy + r] = weight row r against token c, for
 * nr rows (w_stride bytes apart) and n_tok tokens, each bit-identical to the
 * scalar hk_quant_ops_of(t)->vec_dot of the row against the token's
 * activations (Q8_0 blocks; Q8_K for the K-quants) as the level's
 * act_from_float makes them; the K-quants within float rounding of it (their
 * own order, the same wherever the row and the token sit in the tiles).  act:
 * the tokens laid out by hk_tile_act_put (hk_tile_act_bytes(act_type, n,
 * n_tok) bytes; what a partial last group of 16 leaves unset is read but
 * never reaches y); scratch: hk_tile_scratch_bytes(n) bytes of this thread's.
 * Worth it from hk_tile_min_tokens(kind, t) tokens (a short group costs a whole
 * one): hark bench qwen2.5-0.5b, 2 threads, AMX against the VNNI row-group
 * kernels, tokens/s: Q8_0 pp4 138 / 145, pp8 253 / 207, pp12 354 / 248, pp16
 * 455 / 266; Q4_0 pp4 163 / 212, pp8 293 / 290, pp12 413 / 324, pp16 529 /
 * 347.  VNNI tiles against the row-group kernels, one thread, 896 x 896 Q4_0
 * (Zen 4), ms: 8 tokens 0.129 / 0.077, 12 0.130 / 0.112, 16 0.129 / 0.149, 32
 * 0.203 / 0.298, 128 0.645 / 1.197 (before the faster panels: 16 tokens now
 * 0.108); llama3.2-1b Q4_K_M pp128 (2 threads, 2 interleaved rounds) 121-125
 * -> 226 tokens/s with Q4_K's tiles, -> 284-287 with Q6_K's (qwen2.5-0.5b
 * Q4_K_M 606-626 -> 700-712); llama3.2-1b Q5_K_M 121 -> 287 with Q5_K's.
 * hk_tile_supported(k): this CPU can run kind k (AMX: AMX-TILE and AMX-INT8,
 * and the kernel granted this process the tile state; VNNI: the AVX-512 level
 * with VNNI); hk_tile_active(): the kind the engine uses, AMX before VNNI,
 * none unless the active level is AVX-512 (HARK_AMX=0 leaves AMX out). */
typedef enum hk_tile_kind { HK_TILE_NONE = 0, HK_TILE_VNNI, HK_TILE_AMX } hk_tile_kind;
#define HK_TILE_ACT_UNIT 576 /* bytes per 16 tokens and block: 8 x 64 quants, 16 float scales */
enum { HK_TILE_GROUP = 16 /* tokens per tile, laid out together */ };
bool hk_tile_supported(hk_tile_kind k);
hk_tile_kind hk_tile_active(void);
const char *hk_tile_kind_name(hk_tile_kind k);
int hk_tile_min_tokens(hk_tile_kind k, hk_type t);
bool hk_tile_has_type(hk_type t);
size_t hk_tile_act_bytes(hk_type act_type, int64_t n, int n_tok);
size_t hk_tile_scratch_bytes(int64_t n);
void hk_tile_act_put(hk_type act_type, const void *blocks, int64_t n, int t, void *act);
void hk_tile_gemm(hk_tile_kind k, hk_type t, int64_t n, const void *w, size_t w_stride, int64_t nr, const void *act,
                  int n_tok, float *y, size_t ldy, void *scratch);

/* For tests and benchmarks: makes l the active level (capped at the best
 * supported one below it, as HARK_CPU does) and returns the previous one.
 * Objects that cache the level (a session's backend) keep theirs; call it
 * before creating them, and never while another thread uses the kernels. */
hk_cpu_level hk_cpu_level_set(hk_cpu_level l);

/* For tests and benchmarks: whether this build and CPU can run level l, and
 * the table of that level (NULL if it cannot, or t has no scalar ops). */
bool hk_cpu_level_supported(hk_cpu_level l);
const hk_quant_ops *hk_quant_ops_level(hk_type t, hk_cpu_level l);
const char *hk_cpu_kernel_name_level(hk_type t, hk_cpu_level l);

/* Internal: each SIMD file overwrites the members it implements in a table
 * that starts as a copy of the scalar one, and names its vec_dot kernels.
 * Called only when the CPU has the level's features. */
typedef struct hk_cpu_features hk_cpu_features;
void hk_cpu_fill_avx2(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT]);
void hk_cpu_fill_avx512(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT],
                        const hk_cpu_features *f);
void hk_cpu_fill4_avx2(hk_vec_dot4_fn dot4[HK_TYPE_COUNT]);
void hk_cpu_fill_avxvnni(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT]);
void hk_cpu_fill4_avxvnni(hk_vec_dot4_fn dot4[HK_TYPE_COUNT]);
void hk_cpu_fill4_avx512(hk_vec_dot4_fn dot4[HK_TYPE_COUNT], const hk_cpu_features *f);
hk_one_tok_fn hk_cpu_one_tok_avx512(hk_type t);
void hk_cpu_fill_gemm_avx512(const hk_gemm_kernel *gemm[HK_TYPE_COUNT], const hk_quant_ops ops[HK_TYPE_COUNT],
                             const hk_cpu_features *f);
void hk_cpu_fill_neon(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT],
                      const hk_cpu_features *f);

#endif
