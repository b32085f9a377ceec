/* Batch products in tiles of 16 weight rows x 16 tokens for Q4_0, Q5_0 and
 * Q8_0 weights against Q8_0 activations (kernels.h hk_tile_gemm), on AMX
 * (Advanced Matrix Extensions: Xeon Sapphire Rapids and later) or AVX-512
 * VNNI, with the same layouts and the same numbers; and for Q4_K, Q5_K and
 * Q6_K against Q8_K activations on AVX-512 VNNI (further down).
 *
 * AMX: one tile instruction (tdpbssd) takes the integer dot products of a
 * block (32 elements) for 16 weight rows and 16 tokens: A is the 16 rows'
 * quants of the block (16 x 32 bytes: Q8_0 rows straight from the mapping,
 * Q4_0 and Q5_0 unpacked to int8 into this thread's panel), B the 16
 * tokens' quants as the instruction wants them, row k holding quants
 * 4k..4k+3 of each token (hk_tile_act_put lays them out once per matmul).
 * A block cannot share a tile instruction with the next: each has its own
 * scales.
 *
 * VNNI: the same B rows, one zmm each (16 tokens x 4 quants, made unsigned
 * by adding 128), against four int8 quants of a weight row broadcast to
 * every lane by the vpdpbusd itself: eight instructions give a row's block
 * sums for the 16 tokens.  Each sum starts at -128 x the row's quant sum of
 * the block (kept in the panel), which takes the 128 back exactly.
 *
 * The 16 x 16 int32 sums are exact, so what is left to choose is the float
 * steps, and they are the scalar vec_dot's (engine/quant.c), in its order,
 * lane by lane over the 16 tokens:
 *   Q8_0, Q5_0: acc + sumi * (d_w * d_a)
 *   Q4_0:       acc + (sumi * d_w) * d_a
 * block after block from 0.  Every y element is therefore bit-identical to
 * hk_quant_ops_of(t)->vec_dot of its row against the token's Q8_0 blocks,
 * the reference the tests hold every kernel to.  The one-token kernels keep
 * their own (VNNI) order, so a batch of hk_tile_min_tokens() or more tokens
 * and the same tokens one at a time agree to float rounding, not to the
 * bit. */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"

enum { AMX_ROWS = 16, AMX_TOKS = HK_TILE_GROUP, AMX_KB = HK_QK8_0 };

/* Q4_K, Q5_K and Q6_K (below): per row and block of the panel, 16 corrections, 16
 * scales, 4 pairs of mins, d and dmin, 2 unused */
enum { K_ROW_INTS = 40 };

/* Q8_K activations: per group of 16 tokens and block, 64 rows of 16 x 4
 * quants, the 16 float scales, then 4 rows of 16 x (two int16: the sums of
 * the quants of sub-blocks 2i and 2i + 1) */
static size_t k_unit_bytes(void)
{
    return HK_QK_K / 4 * AMX_TOKS * 4 + AMX_TOKS * sizeof(float) + 4 * AMX_TOKS * 4;
}

size_t hk_tile_act_bytes(hk_type act_type, int64_t n, int n_tok)
{
    const size_t groups = (size_t)((n_tok + AMX_TOKS - 1) / AMX_TOKS);
    if (act_type == HK_TYPE_Q8_K)
        return groups * (size_t)(n / HK_QK_K) * k_unit_bytes();
    return groups * (size_t)(n / HK_QK8_0) * HK_TILE_ACT_UNIT;
}

size_t hk_tile_scratch_bytes(int64_t n)
{
    /* the panel's int8 quants and its scales (Q4_0/Q5_0/Q8_0: and the
     * corrections of the VNNI kernel), then two blocks' 16 x 16 sums; 64
     * bytes to align them; or Q4_K's panel, its quants and K_ROW_INTS a row */
    const size_t per_block = AMX_ROWS * AMX_KB + AMX_ROWS * sizeof(float) + AMX_ROWS * sizeof(int32_t);
    const size_t q8 = (size_t)(n / HK_QK8_0) * per_block + 2 * AMX_ROWS * AMX_TOKS * sizeof(int32_t);
    const size_t k = (size_t)(n / HK_QK_K) * AMX_ROWS * (HK_QK_K + K_ROW_INTS * sizeof(int32_t));
    return (q8 > k ? q8 : k) + 64;
}

void hk_tile_act_put(hk_type act_type, const void *blocks, int64_t n, int t, void *act)
{
    const int c = t % AMX_TOKS;
    if (act_type == HK_TYPE_Q8_K) {
        const hk_block_q8_K *q = blocks;
        const int64_t nb = n / HK_QK_K;
        const size_t unit = k_unit_bytes();
        uint8_t *u = (uint8_t *)act + (size_t)(t / AMX_TOKS) * (size_t)nb * unit;
        for (int64_t b = 0; b < nb; b++, u += unit) {
            for (int k = 0; k < HK_QK_K / 4; k++)
                memcpy(u + k * AMX_TOKS * 4 + c * 4, q[b].qs + 4 * k, 4);
            uint8_t *tail = u + HK_QK_K / 4 * AMX_TOKS * 4;
            memcpy(tail + c * sizeof(float), &q[b].d, sizeof(float));
            for (int i = 0; i < 4; i++) {
                const int16_t p[2] = {(int16_t)(q[b].bsums[4 * i] + q[b].bsums[4 * i + 1]),
                                      (int16_t)(q[b].bsums[4 * i + 2] + q[b].bsums[4 * i + 3])};
                memcpy(tail + AMX_TOKS * sizeof(float) + i * AMX_TOKS * 4 + c * 4, p, sizeof p);
            }
        }
        return;
    }
    const hk_block_q8_0 *q = blocks;
    const int64_t nb = n / HK_QK8_0;
    uint8_t *u = (uint8_t *)act + (size_t)(t / AMX_TOKS) * (size_t)nb * HK_TILE_ACT_UNIT;
    for (int64_t b = 0; b < nb; b++, u += HK_TILE_ACT_UNIT) {
        for (int k = 0; k < AMX_KB / 4; k++)
            memcpy(u + k * AMX_TOKS * 4 + c * 4, q[b].qs + 4 * k, 4);
        const float d = _cvtsh_ss(q[b].d);
        memcpy(u + AMX_KB * AMX_TOKS + c * sizeof(float), &d, sizeof d);
    }
}

/* The F16 scales of every block of 16 rows (each block starts with its d)
 * as floats: one gather a block of the dwords at the blocks' starts, whose
 * low halves they are, instead of 16 conversions of single words (hark
 * bench pp128, qwen2.5-0.5b, 3 interleaved rounds: Q8_0 811-826 -> 838-867
 * tokens/s, Q4_0 827-871 -> 877-896). */
static void panel_scales(int64_t nb, size_t bs, const uint8_t *w, size_t ws, float *d)
{
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    for (int64_t b = 0; b < nb; b++) {
        const __m512i v = _mm512_i32gather_epi32(rows, w + (size_t)b * bs, 1);
        _mm512_storeu_ps(d + b * AMX_ROWS, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)));
    }
}

/* Rows [0, m) of a panel of 16 (m <= 16) into int8 quants, block by block
 * (16 rows x 32 bytes each), rows m..15 zero, and their scales as floats
 * (16 per block, 0 past m; a full panel's by panel_scales). */
static void unpack_panel(hk_type t, int64_t nb, const uint8_t *w, size_t ws, int m, int8_t *q, float *d)
{
    if (m == AMX_ROWS)
        panel_scales(nb, hk_row_size(t, HK_QK8_0), w, ws, d);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        int8_t *qb = q + (size_t)b * AMX_ROWS * AMX_KB;
        float *db = d + (size_t)b * AMX_ROWS;
        for (int r = 0; r < AMX_ROWS; r++) {
            int8_t *o = qb + r * AMX_KB;
            if (r >= m) {
                memset(o, 0, AMX_KB);
                db[r] = 0.0f;
                continue;
            }
            const uint8_t *row = w + (size_t)r * ws;
            if (t == HK_TYPE_Q8_0) {
                const hk_block_q8_0 *x = (const hk_block_q8_0 *)(const void *)row + b;
                memcpy(o, x->qs, AMX_KB);
                if (m < AMX_ROWS)
                    db[r] = _cvtsh_ss(x->d);
            } else if (t == HK_TYPE_Q4_0) {
                const hk_block_q4_0 *x = (const hk_block_q4_0 *)(const void *)row + b;
                const __m128i v = _mm_loadu_si128((const __m128i *)x->qs), e = _mm_set1_epi8(8);
                _mm_storeu_si128((__m128i *)o, _mm_sub_epi8(_mm_and_si128(v, m4), e));
                _mm_storeu_si128((__m128i *)(o + 16), _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e));
                if (m < AMX_ROWS)
                    db[r] = _cvtsh_ss(x->d);
            } else {
                const hk_block_q5_0 *x = (const hk_block_q5_0 *)(const void *)row + b;
                uint32_t qh;
                memcpy(&qh, x->qh, sizeof qh);
                /* bit j of qh is the fifth bit of element j: as a byte mask,
                 * bit 4 of each selected byte */
                const __m128i v = _mm_loadu_si128((const __m128i *)x->qs), e = _mm_set1_epi8(16);
                const __m128i h0 = _mm_maskz_mov_epi8((__mmask16)(qh & 0xFFFF), _mm_set1_epi8(0x10));
                const __m128i h1 = _mm_maskz_mov_epi8((__mmask16)(qh >> 16), _mm_set1_epi8(0x10));
                _mm_storeu_si128((__m128i *)o, _mm_sub_epi8(_mm_or_si128(_mm_and_si128(v, m4), h0), e));
                _mm_storeu_si128((__m128i *)(o + 16),
                                 _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(v, 4), m4), h1), e));
                if (m < AMX_ROWS)
                    db[r] = _cvtsh_ss(x->d);
            }
        }
    }
}

/* v[0..15] (rows x tokens) -> v[c] = column c (tokens x rows) */
static inline __attribute__((always_inline)) void transpose16(__m512 v[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        v[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        v[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        v[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        v[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* v[4g + j]: lane l holds column 4l + j of rows 4g .. 4g+3 */
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++) {
            t[8 * h + j] = _mm512_shuffle_f32x4(v[8 * h + j], v[8 * h + 4 + j], 0x88);
            t[8 * h + 4 + j] = _mm512_shuffle_f32x4(v[8 * h + j], v[8 * h + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        v[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        v[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    }
}

/* The accumulators of a group (acc[r]: row r0 + r, lanes: tokens 16g ..)
 * into y: transposed, then the group's tokens and the panel's m rows
 * (rmask) stored */
static inline __attribute__((always_inline)) void store_group(__m512 acc[16], float *y, size_t ldy, int g, int64_t r0,
                                                              int n_tok, __mmask16 rmask)
{
    transpose16(acc);
    const int nt = n_tok - g * AMX_TOKS < AMX_TOKS ? n_tok - g * AMX_TOKS : AMX_TOKS;
    for (int c = 0; c < nt; c++)
        _mm512_mask_storeu_ps(y + (size_t)(g * AMX_TOKS + c) * ldy + (size_t)r0, rmask, acc[c]);
}

/* This thread's scratch (hk_tile_scratch_bytes), 64-byte aligned: the
 * panel's int8 quants for nb blocks of 32, then 16 floats a block, then 16
 * int32 a block (AMX: two blocks' sums; VNNI: the corrections).  The
 * K-quants' row ints follow their quants instead (vnni_gemm). */
typedef struct panel_mem {
    int8_t *q;
    float *d;
    int32_t *i;
} panel_mem;

static panel_mem panel_mem_of(void *scratch, int64_t nb)
{
    panel_mem m;
    m.q = (int8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    m.d = (float *)(void *)(m.q + (size_t)nb * AMX_ROWS * AMX_KB);
    m.i = (int32_t *)(void *)(m.d + (size_t)nb * AMX_ROWS);
    return m;
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-int8"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-int8")
#endif

/* One tile configuration (palette 1) for every call: C 16 x 16 int32, A 16
 * rows x one block, B one block's 8 dword pairs of rows x 16 tokens.
 * Macros: the tile intrinsics paste their register numbers into asm. */
#define TILE_C 0
#define TILE_A 1
#define TILE_B 2
#define TILE_C1 3
#define TILE_A1 4
#define TILE_B1 5

typedef struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;

static void amx_config(void)
{
    amx_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[TILE_C] = AMX_ROWS, c.colsb[TILE_C] = AMX_TOKS * 4;
    c.rows[TILE_A] = AMX_ROWS, c.colsb[TILE_A] = AMX_KB;
    c.rows[TILE_B] = AMX_KB / 4, c.colsb[TILE_B] = AMX_TOKS * 4;
    c.rows[TILE_C1] = c.rows[TILE_C], c.colsb[TILE_C1] = c.colsb[TILE_C];
    c.rows[TILE_A1] = c.rows[TILE_A], c.colsb[TILE_A1] = c.colsb[TILE_A];
    c.rows[TILE_B1] = c.rows[TILE_B], c.colsb[TILE_B1] = c.colsb[TILE_B];
    _tile_loadconfig(&c);
}

/* GCC's tile intrinsics are asm statements that name no memory: these tell
 * the compiler what a tile store wrote and that a panel's stores must be
 * done before tile loads read it. */
#define AMX_WROTE(p) __asm__ volatile("" : "+m"(*(int32_t(*)[AMX_ROWS * AMX_TOKS])(p)))
#define AMX_MEMORY_DONE() __asm__ volatile("" ::: "memory")

/* One group of 16 tokens against a panel of 16 rows, every block, in two
 * sets of tiles (C0/A0/B0 for even blocks, C1/A1/B1 for odd ones).  Step b:
 * block b's sums go to memory, block b + 1's products are asked for, and
 * block b - 1's float steps run.  A tile store reaches later loads only
 * once it has retired, so float steps that read the sums stored just
 * before them wait for it every block; a step later they do not.  The 16
 * accumulators stay in registers: as an array GCC kept them on the stack,
 * a load and a store more per row and block.  One thread, 896 rows of 896
 * in L2, 128 tokens, 3 interleaved rounds: Q8_0 0.42-0.44 ms (array),
 * 0.39 (registers), 0.35-0.36 (and a step later); Q4_0 0.41-0.42, 0.38,
 * 0.33.  pf, pf_len: bytes to ask for ahead, spread over the
 * blocks. */
#define AMX_LOAD(C, A, B, b)                                                                                    \
    do {                                                                                                        \
        if (direct)                                                                                             \
            _tile_loadd(A, wr + (size_t)(b) * sizeof(hk_block_q8_0) + offsetof(hk_block_q8_0, qs), w_stride);   \
        else                                                                                                    \
            _tile_loadd(A, pq + (size_t)(b) * AMX_ROWS * AMX_KB, AMX_KB);                                       \
        _tile_loadd(B, ag + (size_t)(b) * HK_TILE_ACT_UNIT, AMX_TOKS * 4);                                       \
        _tile_zero(C);                                                                                          \
        _tile_dpbssd(C, A, B);                                                                                  \
    } while (0)
#define AMX_STORE(C, S)                                                                                         \
    do {                                                                                                        \
        AMX_WROTE(S);                                                                                           \
        _tile_stored(C, S, AMX_TOKS * 4);                                                                       \
        AMX_WROTE(S);                                                                                           \
    } while (0)
#define AMX_R16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define AMX_ACC_ZERO(r) __m512 a##r = _mm512_setzero_ps();
#define AMX_ACC_OUT(r) acc[r] = a##r;
/* a_r (lanes: the group's 16 tokens) += block b's sums of row r, in
 * quant.c's order for the type (see the top of the file) */
#define AMX_ROW(r)                                                                                              \
    {                                                                                                           \
        const __m512 si = _mm512_cvtepi32_ps(_mm512_load_si512(sm + (r) * AMX_TOKS));                         \
        const __m512 dr = _mm512_set1_ps(dw[r]);                                                                \
        a##r = _mm512_add_ps(a##r, q4 ? _mm512_mul_ps(_mm512_mul_ps(si, dr), da)                                \
                                      : _mm512_mul_ps(si, _mm512_mul_ps(dr, da)));                              \
    }
#define AMX_FLOAT_STEPS(S, b)                                                                                   \
    do {                                                                                                        \
        const int32_t *sm = (S);                                                                                \
        const float *dw = pd + (b) * AMX_ROWS;                                                                  \
        const __m512 da = _mm512_loadu_ps((const float *)(const void *)(ag + (size_t)(b) * HK_TILE_ACT_UNIT +    \
                                                                        AMX_KB * AMX_TOKS));                   \
        AMX_R16(AMX_ROW)                                                                                        \
    } while (0)

static inline __attribute__((always_inline)) void amx_group(__m512 acc[AMX_ROWS], int64_t nb, const uint8_t *wr,
                                                            size_t w_stride, bool direct, const int8_t *pq,
                                                            const float *pd, const uint8_t *ag, int32_t *sums,
                                                            bool q4, const uint8_t *pf, size_t pf_len)
{
    int32_t *s0 = sums, *s1 = sums + AMX_ROWS * AMX_TOKS;
    const size_t pf_step = (pf_len / 64 + (size_t)nb - 1) / (size_t)nb * 64;
    size_t pf_done = 0;
    AMX_R16(AMX_ACC_ZERO)
    AMX_LOAD(TILE_C, TILE_A, TILE_B, 0);
    AMX_STORE(TILE_C, s0);
    if (nb > 1)
        AMX_LOAD(TILE_C1, TILE_A1, TILE_B1, 1);
    for (int64_t b = 1; b < nb; b += 2) {
        /* C1 holds block b, s0 block b - 1's sums */
        AMX_STORE(TILE_C1, s1);
        if (b + 1 < nb)
            AMX_LOAD(TILE_C, TILE_A, TILE_B, b + 1);
        if (pf)
            for (const size_t to = pf_done + 2 * pf_step; pf_done < to && pf_done < pf_len; pf_done += 64)
                _mm_prefetch((const char *)pf + pf_done, _MM_HINT_T0);
        AMX_FLOAT_STEPS(s0, b - 1);
        if (b + 1 == nb) {
            AMX_FLOAT_STEPS(s1, b);
            AMX_R16(AMX_ACC_OUT)
            return;
        }
        AMX_STORE(TILE_C, s0);
        if (b + 2 < nb)
            AMX_LOAD(TILE_C1, TILE_A1, TILE_B1, b + 2);
        AMX_FLOAT_STEPS(s1, b);
    }
    /* nb odd: the last block's sums are in s0 */
    AMX_FLOAT_STEPS(s0, nb - 1);
    AMX_R16(AMX_ACC_OUT)
}

static inline __attribute__((always_inline)) void amx_rows(hk_type t, int64_t nb, const uint8_t *w, size_t w_stride,
                                                           int64_t nr, const uint8_t *act, int n_tok, float *y,
                                                           size_t ldy, int8_t *pq, float *pd, int32_t *sums, bool q4)
{
    const int groups = (n_tok + AMX_TOKS - 1) / AMX_TOKS;
    const size_t panel_bytes = AMX_ROWS * w_stride;
    for (int64_t r0 = 0; r0 < nr; r0 += AMX_ROWS) {
        const int m = nr - r0 < AMX_ROWS ? (int)(nr - r0) : AMX_ROWS;
        const uint8_t *wr = w + (size_t)r0 * w_stride;
        /* Q8_0 rows go to the tiles as they are, but for the scales, unless
         * the panel is short (the tile would read past the last row) */
        const bool direct = t == HK_TYPE_Q8_0 && m == AMX_ROWS;
        if (direct) {
            panel_scales(nb, sizeof(hk_block_q8_0), wr, w_stride, pd);
        } else {
            unpack_panel(t, nb, wr, w_stride, m, pq, pd);
        }
        AMX_MEMORY_DONE();
        const __mmask16 rmask = (__mmask16)((1u << m) - 1);
        for (int g = 0; g < groups; g++) {
            const uint8_t *ag = act + (size_t)g * (size_t)nb * HK_TILE_ACT_UNIT;
            __m512 acc[AMX_ROWS];
            for (int r = 0; r < AMX_ROWS; r++)
                acc[r] = _mm512_setzero_ps();
            /* the next panel's weights (the next rows of the matrix, which
             * the next work item of this thread usually starts with) come
             * in while the first group runs: the prompt reads every weight
             * from memory once, and these loads would otherwise wait on it */
            amx_group(acc, nb, wr, w_stride, direct, pq, pd, ag, sums, q4, g == 0 ? wr + panel_bytes : NULL,
                      panel_bytes);
            store_group(acc, y, ldy, g, r0, n_tok, rmask);
        }
    }
}

static void amx_gemm(hk_type t, int64_t n, const void *w, size_t w_stride, int64_t nr, const void *act, int n_tok,
                     float *y, size_t ldy, void *scratch)
{
    const int64_t nb = n / HK_QK8_0;
    const panel_mem p = panel_mem_of(scratch, nb);
    amx_config();
    if (t == HK_TYPE_Q4_0)
        amx_rows(t, nb, w, w_stride, nr, act, n_tok, y, ldy, p.q, p.d, p.i, true);
    else
        amx_rows(t, nb, w, w_stride, nr, act, n_tok, y, ldy, p.q, p.d, p.i, false);
    _tile_release();
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---------------------------------------------------------------- VNNI */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512vnni")
#endif

/* -128 x the sum of each row's quants of each block of the panel */
static void panel_corr(int64_t nb, const int8_t *q, int32_t *corr)
{
    const __m128i flip = _mm_set1_epi8((char)0x80), z = _mm_setzero_si128();
    for (int64_t i = 0; i < nb * AMX_ROWS; i++) {
        const __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(q + 32 * i)), flip);
        const __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(q + 32 * i + 16)), flip);
        const __m128i s = _mm_add_epi64(_mm_sad_epu8(a, z), _mm_sad_epu8(b, z));
        const int32_t sum = (int32_t)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1)) - 32 * 128;
        corr[i] = -128 * sum;
    }
}

/* Four rows' corrections: s holds their sums of quants as unsigned bytes,
 * two qwords a row (128-bit lane k: row k); bias is the sum that stands for
 * 0.  The result: -128 x (sum - bias) for each row. */
static inline __attribute__((always_inline)) __m128i corr4(__m512i s, int bias)
{
    s = _mm512_add_epi64(s, _mm512_shuffle_epi32(s, _MM_PERM_BADC));
    const __m128i sum = _mm256_castsi256_si128(_mm512_cvtepi64_epi32(_mm512_maskz_compress_epi64(0x55, s)));
    return _mm_slli_epi32(_mm_sub_epi32(_mm_set1_epi32(bias), sum), 7);
}

/* A full panel (16 rows) of Q4_0, Q5_0 or Q8_0 into int8 quants with the
 * corrections in the same pass, four rows a step (Q8_0: two per 64-byte
 * vector): what unpack_panel and panel_corr do row by row, in far fewer
 * instructions (896 x 896 Q4_0, 16 tokens, one thread: 0.126 -> 0.108 ms
 * for the whole product).  The scales come from panel_scales. */
static void vnni_unpack_full(hk_type t, int64_t nb, const uint8_t *w, size_t ws, int8_t *q, float *d, int32_t *corr)
{
    panel_scales(nb, hk_row_size(t, HK_QK8_0), w, ws, d);
    const __m512i m4 = _mm512_set1_epi8(0x0F), z = _mm512_setzero_si512();
    const __m512i i01 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i i23 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    if (t == HK_TYPE_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        for (int64_t b = 0; b < nb; b++)
            for (int r = 0; r < AMX_ROWS; r += 4) {
                const uint8_t *p = w + (size_t)r * ws + (size_t)b * sizeof(hk_block_q8_0) + 2;
                const __m512i v0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                                                      _mm256_loadu_si256((const __m256i *)(p + ws)), 1);
                const __m512i v1 =
                    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 2 * ws))),
                                       _mm256_loadu_si256((const __m256i *)(p + 3 * ws)), 1);
                int8_t *o = q + ((size_t)b * AMX_ROWS + (size_t)r) * AMX_KB;
                _mm512_storeu_si512(o, v0);
                _mm512_storeu_si512(o + 64, v1);
                /* v0: rows r, r + 1, v1: r + 2, r + 3, half a row per 128
                 * bits; each row's two halves added */
                __m512i s0 = _mm512_sad_epu8(_mm512_xor_si512(v0, flip), z);
                __m512i s1 = _mm512_sad_epu8(_mm512_xor_si512(v1, flip), z);
                s0 = _mm512_add_epi64(s0, _mm512_shuffle_i64x2(s0, s0, _MM_SHUFFLE(2, 3, 0, 1)));
                s1 = _mm512_add_epi64(s1, _mm512_shuffle_i64x2(s1, s1, _MM_SHUFFLE(2, 3, 0, 1)));
                /* rows r, r + 1 in 128-bit lanes 0 and 2 of s0, r + 2, r + 3
                 * in lanes 0 and 2 of s1: together as r, r + 2, r + 1, r + 3,
                 * then in order */
                const __m512i s =
                    _mm512_mask_blend_epi64(0xCC, s0, _mm512_shuffle_i64x2(s1, s1, _MM_SHUFFLE(2, 2, 0, 0)));
                const __m512i order = _mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7);
                const __m128i c = corr4(_mm512_permutexvar_epi64(order, s), 32 * 128);
                _mm_storeu_si128((__m128i *)(corr + b * AMX_ROWS + r), c);
            }
        return;
    }
    const bool q5 = t == HK_TYPE_Q5_0;
    const size_t bs = q5 ? sizeof(hk_block_q5_0) : sizeof(hk_block_q4_0), qs = q5 ? 6 : 2;
    const __m512i e = _mm512_set1_epi8(q5 ? 16 : 8);
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < AMX_ROWS; r += 4) {
            const uint8_t *p = w + (size_t)r * ws + (size_t)b * bs;
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + qs)));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + ws + qs)), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * ws + qs)), 2);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * ws + qs)), 3);
            __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            if (q5) {
                /* bit j of a row's qh: the fifth bit of its element j */
                uint64_t klo = 0, khi = 0;
                for (int k = 0; k < 4; k++) {
                    uint32_t h;
                    memcpy(&h, p + (size_t)k * ws + 2, 4);
                    klo |= (uint64_t)(h & 0xFFFF) << (16 * k);
                    khi |= (uint64_t)(h >> 16) << (16 * k);
                }
                lo = _mm512_mask_add_epi8(lo, (__mmask64)klo, lo, e);
                hi = _mm512_mask_add_epi8(hi, (__mmask64)khi, hi, e);
            }
            /* the sums of the unsigned values, less 32 x the offset, then x -128 */
            const __m128i c = corr4(_mm512_add_epi64(_mm512_sad_epu8(lo, z), _mm512_sad_epu8(hi, z)), q5 ? 512 : 256);
            _mm_storeu_si128((__m128i *)(corr + b * AMX_ROWS + r), c);
            lo = _mm512_sub_epi8(lo, e);
            hi = _mm512_sub_epi8(hi, e);
            int8_t *o = q + ((size_t)b * AMX_ROWS + (size_t)r) * AMX_KB;
            _mm512_storeu_si512(o, _mm512_permutex2var_epi64(lo, i01, hi));
            _mm512_storeu_si512(o + 64, _mm512_permutex2var_epi64(lo, i23, hi));
        }
}

/* acc + the products of u's bytes (unsigned) with the four at p (signed),
 * broadcast by the instruction itself ({1to16}): GCC's intrinsic loads them
 * with a separate vpbroadcastd (896 x 896 Q4_0, 128 tokens, one thread:
 * 0.680 -> 0.645 ms) */
static inline __attribute__((always_inline)) __m512i dpbusd_b(__m512i acc, __m512i u, const int32_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*p));
    return acc;
}

/* One group of 16 tokens against a panel of 16 rows, block by block: the
 * block's eight B rows (made unsigned) stay in registers for the 16 weight
 * rows, each of which takes eight vpdpbusd from its correction, then the
 * float steps of its type (the top of the file).  The 16 accumulators are
 * named registers, as in amx_group.  One thread, 896 x 896 in L2, 128
 * tokens: 0.645 ms (159 GMAC/s, Zen 4), against 1.197 for the row-group
 * kernels of gemm_avx512.c, four rows by four tokens. */
#define V_ACC_ZERO(r) __m512 a##r = _mm512_setzero_ps();
#define V_ACC_OUT(r) acc[r] = a##r;
#define V_ROW(r)                                                                                                      \
    {                                                                                                                 \
        const int32_t *wq = (const int32_t *)(const void *)(pq + (size_t)b * AMX_ROWS * AMX_KB) + 8 * (r);            \
        __m512i s = _mm512_set1_epi32(pc[b * AMX_ROWS + (r)]);                                                        \
        s = dpbusd_b(s, b0, wq + 0);                                                                                  \
        s = dpbusd_b(s, b1, wq + 1);                                                                                  \
        s = dpbusd_b(s, b2, wq + 2);                                                                                  \
        s = dpbusd_b(s, b3, wq + 3);                                                                                  \
        s = dpbusd_b(s, b4, wq + 4);                                                                                  \
        s = dpbusd_b(s, b5, wq + 5);                                                                                  \
        s = dpbusd_b(s, b6, wq + 6);                                                                                  \
        s = dpbusd_b(s, b7, wq + 7);                                                                                  \
        const __m512 si = _mm512_cvtepi32_ps(s);                                                                      \
        const __m512 dr = _mm512_set1_ps(pd[b * AMX_ROWS + (r)]);                                                     \
        a##r = _mm512_add_ps(a##r, q4 ? _mm512_mul_ps(_mm512_mul_ps(si, dr), da)                                      \
                                      : _mm512_mul_ps(si, _mm512_mul_ps(dr, da)));                                    \
    }

static inline __attribute__((always_inline)) void vnni_group(__m512 acc[AMX_ROWS], int64_t nb, const int8_t *pq,
                                                             const float *pd, const int32_t *pc, const uint8_t *ag,
                                                             bool q4, const uint8_t *pf, size_t pf_len)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const size_t pf_step = (pf_len / 64 + (size_t)nb - 1) / (size_t)nb * 64;
    size_t pf_done = 0;
    AMX_R16(V_ACC_ZERO)
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = ag + (size_t)b * HK_TILE_ACT_UNIT;
        const __m512i b0 = _mm512_xor_si512(_mm512_loadu_si512(u), flip);
        const __m512i b1 = _mm512_xor_si512(_mm512_loadu_si512(u + 64), flip);
        const __m512i b2 = _mm512_xor_si512(_mm512_loadu_si512(u + 128), flip);
        const __m512i b3 = _mm512_xor_si512(_mm512_loadu_si512(u + 192), flip);
        const __m512i b4 = _mm512_xor_si512(_mm512_loadu_si512(u + 256), flip);
        const __m512i b5 = _mm512_xor_si512(_mm512_loadu_si512(u + 320), flip);
        const __m512i b6 = _mm512_xor_si512(_mm512_loadu_si512(u + 384), flip);
        const __m512i b7 = _mm512_xor_si512(_mm512_loadu_si512(u + 448), flip);
        const __m512 da = _mm512_loadu_ps((const float *)(const void *)(u + AMX_KB * AMX_TOKS));
        if (pf)
            for (const size_t to = pf_done + pf_step; pf_done < to && pf_done < pf_len; pf_done += 64)
                _mm_prefetch((const char *)pf + pf_done, _MM_HINT_T0);
        AMX_R16(V_ROW)
    }
    AMX_R16(V_ACC_OUT)
}

static inline __attribute__((always_inline)) void vnni_rows(hk_type t, int64_t nb, const uint8_t *w, size_t w_stride,
                                                            int64_t nr, const uint8_t *act, int n_tok, float *y,
                                                            size_t ldy, int8_t *pq, float *pd, int32_t *pc, bool q4)
{
    const int groups = (n_tok + AMX_TOKS - 1) / AMX_TOKS;
    const size_t panel_bytes = AMX_ROWS * w_stride;
    for (int64_t r0 = 0; r0 < nr; r0 += AMX_ROWS) {
        const int m = nr - r0 < AMX_ROWS ? (int)(nr - r0) : AMX_ROWS;
        const uint8_t *wr = w + (size_t)r0 * w_stride;
        if (m == AMX_ROWS) {
            vnni_unpack_full(t, nb, wr, w_stride, pq, pd, pc);
        } else {
            unpack_panel(t, nb, wr, w_stride, m, pq, pd);
            panel_corr(nb, pq, pc);
        }
        const __mmask16 rmask = (__mmask16)((1u << m) - 1);
        for (int g = 0; g < groups; g++) {
            const uint8_t *ag = act + (size_t)g * (size_t)nb * HK_TILE_ACT_UNIT;
            __m512 acc[AMX_ROWS];
            vnni_group(acc, nb, pq, pd, pc, ag, q4, g == 0 ? wr + panel_bytes : NULL, panel_bytes);
            store_group(acc, y, ldy, g, r0, n_tok, rmask);
        }
    }
}

/* ---- Q4_K, Q5_K and Q6_K: the same tiles, a block of 256 elements at a
 * time.  Per (row, token) and block the integer sums are exact: S_j, the
 * sub-blocks' dot products (Q4_K, Q5_K: 8 of 32 elements, eight vpdpbusd
 * each; Q6_K: 16 of 16, four each; as above), T = sum of scale_j x S_j
 * (vpmulld), and for Q4_K and Q5_K M = sum of min_j x (the token's two
 * bsums of sub-block j) (vpdpwssd on pairs of words).  The float steps are
 *   acc + (d_w * d_a) * T, then (Q4_K, Q5_K) - (dmin_w * d_a) * M
 * block after block: the scalar vec_dot's products and roundings of the
 * block's scales, but one sum where it keeps eight lanes (element index mod
 * 8) of T, so the results agree with it to float rounding (the vec_dot
 * contract of kernels.h), not to the bit. */

/* Q6_K's signed quants, 32 in v: -128 x the sums of each 16 (their bytes
 * + 128 summed, less 16 x 128) into c[0], c[1] */
static inline __attribute__((always_inline)) void k_corr16(__m256i v, int32_t *c)
{
    const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    int64_t t[4];
    _mm256_storeu_si256((__m256i *)t, s);
    c[0] = -128 * (int32_t)(t[0] + t[1] - 16 * 128);
    c[1] = -128 * (int32_t)(t[2] + t[3] - 16 * 128);
}

/* One row's block into the panel: its 256 quants (int8, element order) and
 * K_ROW_INTS ints: corrections of the sub-blocks at 0, scales at 16, the
 * min pairs at 32, d and dmin (floats) at 36, 37.
 * Q4_K; Q5_K (q5: the fifth bits, qh bit 2p of byte l for element 64p + l,
 * bit 2p + 1 for element 64p + 32 + l).  The quants are not negative, so
 * their sums are the byte sums of vpsadbw as they are; the eight sub-blocks'
 * four partial sums each are added in one network of unpacks. */
static inline __attribute__((always_inline)) void k_unpack_q45_K(const uint8_t *blk, int8_t *o, int32_t *kr,
                                                                 bool q5)
{
    const hk_block_q4_K *x4 = (const hk_block_q4_K *)(const void *)blk;
    const hk_block_q5_K *x5 = (const hk_block_q5_K *)(const void *)blk;
    const uint8_t *qs = q5 ? x5->qs : x4->qs, *scales = q5 ? x5->scales : x4->scales;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1), z = _mm256_setzero_si256();
    const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)x5->qh) : z;
    __m256i sums[8];
    for (int p = 0; p < 4; p++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (q5) {
            const __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p), one);
            const __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p + 1), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
        }
        _mm256_storeu_si256((__m256i *)(o + 64 * p), lo);
        _mm256_storeu_si256((__m256i *)(o + 64 * p + 32), hi);
        sums[2 * p] = _mm256_sad_epu8(lo, z);
        sums[2 * p + 1] = _mm256_sad_epu8(hi, z);
    }
    /* sums[j]: four qwords adding up to sub-block j's sum */
    __m256i u[4];
    for (int i = 0; i < 4; i++)
        u[i] = _mm256_add_epi64(_mm256_unpacklo_epi64(sums[2 * i], sums[2 * i + 1]),
                                _mm256_unpackhi_epi64(sums[2 * i], sums[2 * i + 1]));
    /* u[i]: qwords 2i, 2i + 1, 2i, 2i + 1 (halves) */
    const __m256i t0 = _mm256_add_epi64(_mm256_permute2x128_si256(u[0], u[1], 0x20),
                                        _mm256_permute2x128_si256(u[0], u[1], 0x31));
    const __m256i t1 = _mm256_add_epi64(_mm256_permute2x128_si256(u[2], u[3], 0x20),
                                        _mm256_permute2x128_si256(u[2], u[3], 0x31));
    const __m256i w8 = _mm256_set_m128i(_mm256_cvtepi64_epi32(t1), _mm256_cvtepi64_epi32(t0));
    _mm256_storeu_si256((__m256i *)kr, _mm256_slli_epi32(_mm256_sub_epi32(z, w8), 7));
    uint64_t sc, mn;
    hk_k4_scales(scales, &sc, &mn);
    _mm256_storeu_si256((__m256i *)(kr + 16), _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)));
    /* min pairs: min 2i in the low word, 2i + 1 in the high one */
    _mm_storeu_si128((__m128i *)(kr + 32), _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn)));
    const float d = _cvtsh_ss(x4->d), dmin = _cvtsh_ss(x4->dmin); /* the same place in both */
    memcpy(&kr[36], &d, sizeof d);
    memcpy(&kr[37], &dmin, sizeof dmin);
}

/* Q6_K: quants (ql | qh << 4) - 32 in element order, as
 * hk_dequantize_row_q6_K lays them out */
static void k_unpack_q6_K(const uint8_t *blk, int8_t *o, int32_t *kr)
{
    const hk_block_q6_K *x = (const hk_block_q6_K *)(const void *)blk;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03), k32 = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)),
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)),
        };
        for (int i = 0; i < 4; i++) {
            const __m256i v = _mm256_sub_epi8(q[i], k32);
            _mm256_storeu_si256((__m256i *)(o + 128 * h + 32 * i), v);
            k_corr16(v, kr + 8 * h + 2 * i);
        }
    }
    for (int j = 0; j < 16; j++)
        kr[16 + j] = x->scales[j];
    const float d = _cvtsh_ss(x->d);
    memcpy(&kr[36], &d, sizeof d);
    kr[32] = kr[33] = kr[34] = kr[35] = kr[37] = 0;
}

static void unpack_panel_k(hk_type t, int64_t nb, const uint8_t *w, size_t ws, int m, int8_t *q, int32_t *k)
{
    const size_t bs = hk_row_size(t, HK_QK_K);
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < AMX_ROWS; r++) {
            int8_t *o = q + ((size_t)b * AMX_ROWS + (size_t)r) * HK_QK_K;
            int32_t *kr = k + ((size_t)b * AMX_ROWS + (size_t)r) * K_ROW_INTS;
            if (r >= m) {
                memset(o, 0, HK_QK_K);
                memset(kr, 0, K_ROW_INTS * sizeof(int32_t));
            } else if (t == HK_TYPE_Q4_K) {
                k_unpack_q45_K(w + (size_t)r * ws + (size_t)b * bs, o, kr, false);
            } else if (t == HK_TYPE_Q5_K) {
                k_unpack_q45_K(w + (size_t)r * ws + (size_t)b * bs, o, kr, true);
            } else {
                k_unpack_q6_K(w + (size_t)r * ws + (size_t)b * bs, o, kr);
            }
        }
}

/* T of a block for every row of the panel, sub-blocks of SUB quants */
#define K_SUMS(NSUB, SUB)                                                                                      \
    for (int j = 0; j < (NSUB); j++) {                                                                         \
        __m512i bq[(SUB) / 4];                                                                                 \
        for (int k = 0; k < (SUB) / 4; k++)                                                                    \
            bq[k] = _mm512_xor_si512(_mm512_loadu_si512(u + (size_t)((SUB) / 4 * j + k) * 64), flip);          \
        for (int r = 0; r < AMX_ROWS; r++) {                                                                   \
            const int32_t *wq = (const int32_t *)(const void *)(qb + (size_t)r * HK_QK_K + (SUB) * j);         \
            const int32_t *kr = kb + r * K_ROW_INTS;                                                           \
            __m512i s = _mm512_set1_epi32(kr[j]);                                                              \
            for (int k = 0; k < (SUB) / 4; k++)                                                                \
                s = dpbusd_b(s, bq[k], wq + k);                                                                \
            t[r] = _mm512_add_epi32(t[r], _mm512_mullo_epi32(s, _mm512_set1_epi32(kr[16 + j])));              \
        }                                                                                                      \
    }

static inline __attribute__((always_inline)) void vnni_rows_k(hk_type type, int64_t nb, const uint8_t *w,
                                                              size_t w_stride, int64_t nr, const uint8_t *act,
                                                              int n_tok, float *y, size_t ldy, int8_t *pq,
                                                              int32_t *pk)
{
    const int groups = (n_tok + AMX_TOKS - 1) / AMX_TOKS;
    const size_t unit = k_unit_bytes();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const bool q4 = type != HK_TYPE_Q6_K; /* Q4_K, Q5_K: 8 sub-blocks, mins */
    for (int64_t r0 = 0; r0 < nr; r0 += AMX_ROWS) {
        const int m = nr - r0 < AMX_ROWS ? (int)(nr - r0) : AMX_ROWS;
        unpack_panel_k(type, nb, w + (size_t)r0 * w_stride, w_stride, m, pq, pk);
        const __mmask16 rmask = (__mmask16)((1u << m) - 1);
        for (int g = 0; g < groups; g++) {
            const uint8_t *ag = act + (size_t)g * (size_t)nb * unit;
            __m512 acc[AMX_ROWS];
            for (int r = 0; r < AMX_ROWS; r++)
                acc[r] = _mm512_setzero_ps();
            /* the next panel's weights come in while the first group runs
             * (as in vnni_group) */
            const uint8_t *pf = g == 0 ? w + (size_t)(r0 + AMX_ROWS) * w_stride : NULL;
            const size_t pf_len = AMX_ROWS * w_stride, pf_step = (pf_len / 64 + (size_t)nb - 1) / (size_t)nb * 64;
            for (int64_t b = 0; b < nb; b++) {
                if (pf)
                    for (size_t o = (size_t)b * pf_step; o < (size_t)(b + 1) * pf_step && o < pf_len; o += 64)
                        _mm_prefetch((const char *)pf + o, _MM_HINT_T0);
                const uint8_t *u = ag + (size_t)b * unit;
                const int8_t *qb = pq + (size_t)b * AMX_ROWS * HK_QK_K;
                const int32_t *kb = pk + (size_t)b * AMX_ROWS * K_ROW_INTS;
                __m512i t[AMX_ROWS];
                for (int r = 0; r < AMX_ROWS; r++)
                    t[r] = _mm512_setzero_si512();
                if (q4) {
                    K_SUMS(8, 32)
                } else {
                    K_SUMS(16, 16)
                }
                const __m512 da = _mm512_loadu_ps((const float *)(const void *)(u + HK_QK_K / 4 * 64));
                const uint8_t *bm = u + HK_QK_K / 4 * 64 + AMX_TOKS * sizeof(float);
                for (int r = 0; r < AMX_ROWS; r++) {
                    const int32_t *kr = kb + r * K_ROW_INTS;
                    float d;
                    memcpy(&d, &kr[36], sizeof d);
                    acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(d), da),
                                                                 _mm512_cvtepi32_ps(t[r])));
                    if (q4) {
                        __m512i mm = _mm512_setzero_si512();
                        for (int jj = 0; jj < 4; jj++)
                            mm = _mm512_dpwssd_epi32(mm, _mm512_loadu_si512(bm + 64 * jj),
                                                     _mm512_set1_epi32(kr[32 + jj]));
                        float dmin;
                        memcpy(&dmin, &kr[37], sizeof dmin);
                        acc[r] = _mm512_sub_ps(acc[r], _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(dmin), da),
                                                                     _mm512_cvtepi32_ps(mm)));
                    }
                }
            }
            store_group(acc, y, ldy, g, r0, n_tok, rmask);
        }
    }
}

static void vnni_gemm(hk_type t, int64_t n, const void *w, size_t w_stride, int64_t nr, const void *act, int n_tok,
                      float *y, size_t ldy, void *scratch)
{
    const int64_t nb = n / HK_QK8_0, nbk = n / HK_QK_K;
    const panel_mem p = panel_mem_of(scratch, nb);
    int32_t *pk = (int32_t *)(void *)(p.q + (size_t)nbk * AMX_ROWS * HK_QK_K);
    switch (t) {
    case HK_TYPE_Q4_K: vnni_rows_k(HK_TYPE_Q4_K, nbk, w, w_stride, nr, act, n_tok, y, ldy, p.q, pk); break;
    case HK_TYPE_Q5_K: vnni_rows_k(HK_TYPE_Q5_K, nbk, w, w_stride, nr, act, n_tok, y, ldy, p.q, pk); break;
    case HK_TYPE_Q6_K: vnni_rows_k(HK_TYPE_Q6_K, nbk, w, w_stride, nr, act, n_tok, y, ldy, p.q, pk); break;
    case HK_TYPE_Q4_0: vnni_rows(t, nb, w, w_stride, nr, act, n_tok, y, ldy, p.q, p.d, p.i, true); break;
    default: vnni_rows(t, nb, w, w_stride, nr, act, n_tok, y, ldy, p.q, p.d, p.i, false); break;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void hk_tile_gemm(hk_tile_kind k, hk_type t, int64_t n, const void *w, size_t w_stride, int64_t nr, const void *act,
                  int n_tok, float *y, size_t ldy, void *scratch)
{
    if (k == HK_TILE_AMX && (t == HK_TYPE_Q4_0 || t == HK_TYPE_Q5_0 || t == HK_TYPE_Q8_0))
        amx_gemm(t, n, w, w_stride, nr, act, n_tok, y, ldy, scratch);
    else
        vnni_gemm(t, n, w, w_stride, nr, act, n_tok, y, ldy, scratch);
}
