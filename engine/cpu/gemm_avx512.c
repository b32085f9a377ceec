/* Row-group products on AVX-512 VNNI + VBMI (Ice Lake and later): up to
 * four weight rows against up to four activation rows per call (kernels.h
 * hk_gemm_kernel), for Q4_0, Q5_0, Q8_0 (Q8_0 activations), Q2_K, Q3_K,
 * Q4_K, Q5_K, Q6_K (Q8_K), F16 (the F16-rounded floats of engine/ops.c's x86
 * path) and F32 (which ops.c also runs on tiles of F16 rows it converted).
 *
 * Q4_0, Q5_0, Q8_0 take the activations in a layout of their own
 * (hk_act_q8p): the weights are used as unsigned values u = q + c (c = 8,
 * 16, 128) so that vpdpbusd (unsigned x signed) takes them without the sign
 * trick of the 256-bit kernels, and the offset is taken back exactly in the
 * integer accumulator: each int32 lane starts at -c * (sum of its eight
 * activation quants), which the packed row carries.  Four blocks per step:
 * elements 0-15 of each in one zmm, 16-31 in another, which is how a vpermb
 * of the weight bytes lays the nibbles out, so one lane covers eight
 * elements of one block and the float work is one conversion, one product of
 * scales and one FMA per four blocks.  Integer sums are exact; the float
 * accumulation order differs from the 256-bit vec_dot (measured by
 * tests/test_parity.c: 24 of 79 llama.cpp comparisons stay bit-level at the
 * AVX-512 level instead of 28; all within the policy there).
 *
 * The K-quants and F16 reproduce the 256-bit kernels' lanes and float steps
 * exactly (see each), so they change no result, only the speed.
 *
 * Every (row, token) element gets the same operations in the same order
 * whatever the number of rows and tokens of the call: a batch gives the
 * numbers of one token at a time. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "avx512_common.h"
#include "cpu_features.h"
#include "kernels.h"
#include "quant.h"

HK_AVX512_KERNELS_BEGIN

#define INLINE HK_AVX512_INLINE

_Static_assert(HK_ACT_Q8P_QUAD_BYTES == 256, "packed quad: 2 x 64 quants, 16 lane sums, 16 scales");

/* ---------------------------------------------------------------- activations */

static size_t act_size_q8p(int64_t n)
{
    return (size_t)((n / HK_QK8_0 + 3) / 4) * HK_ACT_Q8P_QUAD_BYTES;
}

/* One block of x86 llama.cpp's quantize_row_q8_0 (see quant_x86.h q8_block):
 * d = amax / 127 stored as F16, quants round-half-even(x * (127 / amax)).
 * Returns the F16-rounded scale the dot products use. */
INLINE float q8_block(const float *x, int8_t *qs)
{
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    const __m512 mul = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(q1));
    return _cvtsh_ss(_cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT));
}

static void act_pack_q8p(const float *x, void *dst, int64_t n)
{
    const int64_t nb = n / HK_QK8_0;
    uint8_t *p = dst;
    for (int64_t ib = 0; ib < nb; ib += 4, p += HK_ACT_Q8P_QUAD_BYTES) {
        int8_t *lo = (int8_t *)p, *hi = (int8_t *)p + 64;
        float *dl = (float *)(void *)(p + 192);
        for (int b = 0; b < 4; b++) {
            int8_t qs[HK_QK8_0];
            float d = 0.0f;
            if (ib + b < nb)
                d = q8_block(x + HK_QK8_0 * (ib + b), qs);
            else
                memset(qs, 0, sizeof qs);
            memcpy(lo + 16 * b, qs, 16);
            memcpy(hi + 16 * b, qs + 16, 16);
            for (int k = 0; k < 4; k++)
                dl[4 * b + k] = d;
        }
        const __m512i one = _mm512_set1_epi8(1);
        __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), one, _mm512_loadu_si512(lo));
        sum = _mm512_dpbusd_epi32(sum, one, _mm512_loadu_si512(hi));
        _mm512_storeu_si512(p + 128, _mm512_sub_epi32(_mm512_setzero_si512(), sum));
    }
}

/* ---------------------------------------------------------------- weights */

/* Bytes [0, n) of a 64-byte load (n may be <= 0 or >= 64); masked loads
 * never touch the bytes they leave out, so a row's last block may end at
 * the end of the mapping. */
INLINE __m512i load_upto(const uint8_t *p, int64_t n)
{
    if (n >= 64)
        return _mm512_loadu_si512(p);
    if (n <= 0)
        return _mm512_setzero_si512();
    return _mm512_maskz_loadu_epi8((__mmask64)((1ull << n) - 1), p);
}

/* Byte i of the result: source byte src(i) of the 128 bytes (a, b) where
 * a holds source bytes [0, 64) of the quad and b [boff, boff + 64). */
#define QUAD_IDX(name, SRC, BOFF)                                                                               \
    static inline __m512i name(void)                                                                            \
    {                                                                                                           \
        int8_t idx[64];                                                                                         \
        for (int i = 0; i < 64; i++) {                                                                          \
            const int s = SRC(i / 16, i % 16);                                                                  \
            idx[i] = (int8_t)(s < (BOFF) ? s : 64 + s - (BOFF));                                                \
        }                                                                                                       \
        return _mm512_loadu_si512(idx);                                                                         \
    }

/* Unsigned weights u = q + c of the quad's blocks, elements 0-15 of each
 * block in *lo, 16-31 in *hi (16 bytes per block), for m <= 4 blocks. */
#define Q4_0_QS(b, k) (18 * (b) + 2 + (k))
QUAD_IDX(idx_q4_0, Q4_0_QS, 8)
INLINE void weights_q4_0(const uint8_t *q, int m, __m512i idx, __m512i *lo, __m512i *hi)
{
    const int64_t len = 18 * m;
    const __m512i z = _mm512_permutex2var_epi8(load_upto(q, len), idx, load_upto(q + 8, len - 8));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    *lo = _mm512_and_si512(z, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
}

#define Q5_0_QS(b, k) (22 * (b) + 6 + (k))
QUAD_IDX(idx_q5_0, Q5_0_QS, 24)
INLINE void weights_q5_0(const uint8_t *q, int m, __m512i idx, __m512i *lo, __m512i *hi)
{
    const int64_t len = 22 * m;
    const __m512i z = _mm512_permutex2var_epi8(load_upto(q, len), idx, load_upto(q + 24, len - 24));
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    /* the fifth bit of element j is bit j of the block's qh: u = nibble + 16 * bit */
    uint64_t klo = 0, khi = 0;
    for (int b = 0; b < 4; b++)
        if (b < m) {
            uint32_t h;
            memcpy(&h, q + 22 * b + 2, 4);
            klo |= (uint64_t)(h & 0xFFFF) << (16 * b);
            khi |= (uint64_t)(h >> 16) << (16 * b);
        }
    const __m512i l = _mm512_and_si512(z, m4), h = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
    *lo = _mm512_mask_add_epi8(l, (__mmask64)klo, l, sixteen);
    *hi = _mm512_mask_add_epi8(h, (__mmask64)khi, h, sixteen);
}

#define Q8_0_LO(b, k) (34 * (b) + 2 + (k))
#define Q8_0_HI(b, k) (34 * (b) + 18 + (k) - 8)
QUAD_IDX(idx_q8_0_lo, Q8_0_LO, 64)
QUAD_IDX(idx_q8_0_hi, Q8_0_HI, 64)
INLINE void weights_q8_0(const uint8_t *q, int m, __m512i idx_lo, __m512i idx_hi, __m512i *lo, __m512i *hi)
{
    const int64_t len = 34 * m;
    const __m512i flip = _mm512_set1_epi8((char)0x80); /* q + 128 = q ^ 0x80 as unsigned */
    /* elements 0-15 from bytes [0, 128), 16-31 from [8, 136) */
    const __m512i a = _mm512_permutex2var_epi8(load_upto(q, len), idx_lo, load_upto(q + 64, len - 64));
    const __m512i b = _mm512_permutex2var_epi8(load_upto(q + 8, len - 8), idx_hi, load_upto(q + 72, len - 72));
    *lo = _mm512_xor_si512(a, flip);
    *hi = _mm512_xor_si512(b, flip);
}

/* ---------------------------------------------------------------- products */

/* One quad of blocks (m of them present) for every (row, token). */
#define GEMM_QUAD(WEIGHTS, SHIFT, BLOCK, M)                                                                     \
    {                                                                                                           \
        const uint8_t *aq = ar + (size_t)(ib / 4) * HK_ACT_Q8P_QUAD_BYTES;                                      \
        __m512i corr[4];                                                                                        \
        for (int c = 0; c < NC; c++)                                                                            \
            corr[c] = _mm512_slli_epi32(_mm512_loadu_si512(aq + (size_t)c * as + 128), SHIFT);                  \
        for (int r = 0; r < NR; r++) {                                                                          \
            const uint8_t *q = wr + (size_t)r * ws + (size_t)ib * sizeof(BLOCK);                                \
            __m512i lo, hi;                                                                                     \
            WEIGHTS(q, M, &lo, &hi);                                                                            \
            const __m512 dw = scales4(q, sizeof(BLOCK), M);                                                     \
            for (int c = 0; c < NC; c++) {                                                                      \
                const uint8_t *a = aq + (size_t)c * as;                                                         \
                __m512i s = _mm512_dpbusd_epi32(corr[c], lo, _mm512_loadu_si512(a));                            \
                s = _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512(a + 64));                                     \
                acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_loadu_ps(a + 192)), _mm512_cvtepi32_ps(s), \
                                            acc[r][c]);                                                         \
            }                                                                                                   \
        }                                                                                                       \
    }

/* The body shared by the three formats.  WEIGHTS(row, m, lo, hi) unpacks a
 * quad of blocks, SHIFT = log2(c), BLOCK is the weight block type (its d
 * first).  NR, NC are compile-time constants at every call. */
#define GEMM_BODY(WEIGHTS, SHIFT, BLOCK)                                                                        \
    const int64_t nb = n / HK_QK8_0;                                                                            \
    const uint8_t *wr = w;                                                                                      \
    const uint8_t *ar = act;                                                                                    \
    __m512 acc[4][4];                                                                                           \
    for (int r = 0; r < NR; r++)                                                                                \
        for (int c = 0; c < NC; c++)                                                                            \
            acc[r][c] = _mm512_setzero_ps();                                                                    \
    int64_t ib = 0;                                                                                             \
    for (; ib + 4 <= nb; ib += 4)                                                                               \
        GEMM_QUAD(WEIGHTS, SHIFT, BLOCK, 4)                                                                     \
    if (ib < nb) {                                                                                              \
        const int m = (int)(nb - ib);                                                                           \
        GEMM_QUAD(WEIGHTS, SHIFT, BLOCK, m)                                                                     \
    }                                                                                                           \
    for (int r = 0; r < NR; r++)                                                                                \
        for (int c = 0; c < NC; c++)                                                                            \
            out[4 * c + r] = _mm512_reduce_add_ps(acc[r][c]);

#define GEMM_TYPE(name, BODY)                                                                                   \
    INLINE void name##_body(int64_t n, const void *w, size_t ws, const void *act, size_t as, float out[16],     \
                            const int NR, const int NC)                                                         \
    {                                                                                                           \
        BODY                                                                                                    \
    }                                                                                                           \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *act, size_t as, int nc,          \
                     float out[16])                                                                             \
    {                                                                                                           \
        switch (4 * (nr - 1) + (nc - 1)) {                                                                      \
        case 0: name##_body(n, w, ws, act, as, out, 1, 1); break;                                               \
        case 1: name##_body(n, w, ws, act, as, out, 1, 2); break;                                               \
        case 2: name##_body(n, w, ws, act, as, out, 1, 3); break;                                               \
        case 3: name##_body(n, w, ws, act, as, out, 1, 4); break;                                               \
        case 4: name##_body(n, w, ws, act, as, out, 2, 1); break;                                               \
        case 5: name##_body(n, w, ws, act, as, out, 2, 2); break;                                               \
        case 6: name##_body(n, w, ws, act, as, out, 2, 3); break;                                               \
        case 7: name##_body(n, w, ws, act, as, out, 2, 4); break;                                               \
        case 8: name##_body(n, w, ws, act, as, out, 3, 1); break;                                               \
        case 9: name##_body(n, w, ws, act, as, out, 3, 2); break;                                               \
        case 10: name##_body(n, w, ws, act, as, out, 3, 3); break;                                              \
        case 11: name##_body(n, w, ws, act, as, out, 3, 4); break;                                              \
        case 12: name##_body(n, w, ws, act, as, out, 4, 1); break;                                              \
        case 13: name##_body(n, w, ws, act, as, out, 4, 2); break;                                              \
        case 14: name##_body(n, w, ws, act, as, out, 4, 3); break;                                              \
        default: name##_body(n, w, ws, act, as, out, 4, 4); break;                                              \
        }                                                                                                       \
    }

#define W_Q4_0(q, m, lo, hi) weights_q4_0(q, m, ix0, lo, hi)
#define W_Q5_0(q, m, lo, hi) weights_q5_0(q, m, ix0, lo, hi)
#define W_Q8_0(q, m, lo, hi) weights_q8_0(q, m, ix0, ix1, lo, hi)
#define GEMM_BODY_Q4_0 const __m512i ix0 = idx_q4_0(); GEMM_BODY(W_Q4_0, 3, hk_block_q4_0)
#define GEMM_BODY_Q5_0 const __m512i ix0 = idx_q5_0(); GEMM_BODY(W_Q5_0, 4, hk_block_q5_0)
#define GEMM_BODY_Q8_0 const __m512i ix0 = idx_q8_0_lo(), ix1 = idx_q8_0_hi(); GEMM_BODY(W_Q8_0, 7, hk_block_q8_0)

GEMM_TYPE(gemm_q4_0, GEMM_BODY_Q4_0)
GEMM_TYPE(gemm_q5_0, GEMM_BODY_Q5_0)
GEMM_TYPE(gemm_q8_0, GEMM_BODY_Q8_0)

/* ---------------------------------------------------------------- K-quants */

/* Q2_K-Q6_K against Q8_K activations as the level's act_from_float
 * makes them (element order; no packing): 64 elements per step, each 128-
 * or 256-bit lane of the weights one sub-block, so that vpmaddubsw pairs
 * (exact: u <= 63, |y| <= 127) and vpdpwssd with the sub-block's scale in
 * every word of its lane form the block's integer sum.  Folding the two
 * halves of the int32 lanes gives exactly the eight lane sums of the
 * 256-bit kernels (lane l: bytes 4l .. 4l+3 of every 32-byte group), and
 * the float steps after that are theirs, in their order: out[] is
 * bit-identical to the level's vec_dot, so these kernels change no result,
 * only the speed. */

static size_t act_size_q8k(int64_t n)
{
    return hk_row_size(HK_TYPE_Q8_K, n);
}

/* the eight mins as 16 int16, each twice: one per 16-element bsum */
INLINE __m256i k4_mins16(uint64_t mn)
{
    __m128i m = _mm_cvtsi64_si128((long long)mn);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
}

/* Q3_K's sixteen 6-bit scales as int16 in [-32, 31] (quant_x86.h
 * q3_K_scales): low nibbles from bytes 0-7, top two bits from bytes 8-11 */
INLINE __m256i q3_K_scales(const uint8_t s[12])
{
    uint32_t a0, a1, t;
    memcpy(&a0, s, 4);
    memcpy(&a1, s + 4, 4);
    memcpy(&t, s + 8, 4);
    const uint32_t u0 = (a0 & 0x0F0F0F0Fu) | ((t & 0x03030303u) << 4);
    const uint32_t u1 = (a1 & 0x0F0F0F0Fu) | (((t >> 2) & 0x03030303u) << 4);
    const uint32_t u2 = ((a0 >> 4) & 0x0F0F0F0Fu) | (((t >> 4) & 0x03030303u) << 4);
    const uint32_t u3 = ((a1 >> 4) & 0x0F0F0F0Fu) | (((t >> 6) & 0x03030303u) << 4);
    const __m128i v = _mm_sub_epi8(_mm_setr_epi32((int)u0, (int)u1, (int)u2, (int)u3), _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(v);
}

#define GEMM_K_BODY(PREP, STEP, FINISH, BLOCK)                                                                  \
    const int64_t nb = n / HK_QK_K;                                                                             \
    const uint8_t *wr = w;                                                                                      \
    const uint8_t *ar = act;                                                                                    \
    __m256 acc[4][4];                                                                                           \
    for (int r = 0; r < NR; r++)                                                                                \
        for (int c = 0; c < NC; c++)                                                                            \
            acc[r][c] = _mm256_setzero_ps();                                                                    \
    for (int64_t i = 0; i < nb; i++) {                                                                          \
        for (int r = 0; r < NR; r++) {                                                                          \
            const BLOCK *x = (const BLOCK *)(const void *)(wr + (size_t)r * ws) + i;                            \
            __m512i u[4], scl[4];                                                                               \
            PREP                                                                                                \
            for (int c = 0; c < NC; c++) {                                                                      \
                const hk_block_q8_K *y = (const hk_block_q8_K *)(const void *)(ar + (size_t)c * as) + i;        \
                __m512i isum0 = _mm512_setzero_si512(), isum1 = isum0;                                          \
                for (int k = 0; k < 4; k += 2) {                                                                \
                    isum0 = _mm512_dpwssd_epi32(                                                                \
                        isum0, _mm512_maddubs_epi16(u[k], _mm512_loadu_si512(y->qs + 64 * k)), scl[k]);         \
                    isum1 = _mm512_dpwssd_epi32(                                                                \
                        isum1, _mm512_maddubs_epi16(u[k + 1], _mm512_loadu_si512(y->qs + 64 * k + 64)),         \
                        scl[k + 1]);                                                                            \
                }                                                                                               \
                /* the two 32-element groups of a step in one: the lanes of the 256-bit kernels */              \
                const __m256i isum = fold(_mm512_add_epi32(isum0, isum1));                                      \
                FINISH                                                                                          \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
    for (int r = 0; r < NR; r++)                                                                                \
        for (int c = 0; c < NC; c++)                                                                            \
            out[4 * c + r] = hsum8(acc[r][c]);

/* Q4_K: the 32 bytes of nibbles k in both halves, the high nibbles in the
 * upper one: sub-blocks 2k (elements 64k ..) and 2k+1 in element order. */
#define Q4_K_PREP                                                                                               \
    uint64_t sc8, mn8;                                                                                          \
    hk_k4_scales(x->scales, &sc8, &mn8);                                                                           \
    const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));         \
    const __m512i nib_shift = _mm512_set_epi64(0x0004000400040004ll, 0x0004000400040004ll, 0x0004000400040004ll, \
                                               0x0004000400040004ll, 0, 0, 0, 0);                              \
    for (int k = 0; k < 4; k++) {                                                                               \
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));        \
        u[k] = _mm512_and_si512(_mm512_srlv_epi16(q, nib_shift), _mm512_set1_epi8(0x0F));                       \
        scl[k] = spread16(sc16, 2 * k, 16);                                                                     \
    }                                                                                                           \
    const __m256i mins16 = k4_mins16(mn8);                                                                      \
    const float dw = _cvtsh_ss(x->d), dminw = _cvtsh_ss(x->dmin);

#define Q4_K_FINISH                                                                                             \
    /* sum over the 16 bsums of bsum * min of its sub-block, 8 lanes */                                       \
    const __m256i summ = _mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)y->bsums));              \
    const float d = dw * y->d, dmin = dminw * y->d;                                                             \
    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc[r][c]);                        \
    acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), acc[r][c]);

/* Q6_K: per 128-element half, the low nibbles of ql (bytes 0-63) with qh's
 * bits 0-1 / 2-3, then the high nibbles with bits 4-5 / 6-7: u = q + 32 of
 * elements 64k .. 64k+63, sub-block 4k + lane. */
#define Q6_K_PREP                                                                                               \
    const __m256i s8 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));                      \
    const __m512i sc16 = _mm512_castsi256_si512(s8);                                                            \
    const long long two = 0x0002000200020002ll, four = 0x0004000400040004ll;                                    \
    const __m512i shl = _mm512_set_epi64(two, two, two, two, four, four, four, four);                           \
    const __m512i shr = _mm512_set_epi64(two, two, two, two, 0, 0, 0, 0);                                       \
    for (int h = 0; h < 2; h++) {                                                                               \
        const __m512i l = _mm512_loadu_si512(x->ql + 64 * h);                                                   \
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));        \
        const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);                                 \
        /* a | (b & m2) */                                                                                      \
        u[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, m4), _mm512_sllv_epi16(q, shl), m2, 0xF8);     \
        u[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),                 \
                                                 _mm512_srlv_epi16(q, shr), m2, 0xF8);                          \
    }                                                                                                           \
    for (int k = 0; k < 4; k++)                                                                                 \
        scl[k] = spread16(sc16, 4 * k, 8);                                                                      \
    const float dw = _cvtsh_ss(x->d);

#define Q6_K_FINISH                                                                                             \
    /* sum scale * (u - 32) * y = sum scale * u * y - 32 * sum scale * bsum */                                  \
    const __m256i corr = _mm256_madd_epi16(s8, _mm256_loadu_si256((const __m256i *)y->bsums));                  \
    const __m256i tot = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, 5));                                     \
    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(tot), acc[r][c]);

/* 16-bit shift counts: a in the lower 256 bits, b in the upper */
INLINE __m512i counts16(int a, int b)
{
    return _mm512_inserti64x4(_mm512_set1_epi16((short)a), _mm256_set1_epi16((short)b), 1);
}

/* Q5_K: Q4_K's nibbles, each with its fifth bit: bit g of qh byte e for
 * element e of 32-element group g (groups 2k and 2k+1 in step k). */
#define Q5_K_PREP                                                                                               \
    uint64_t sc8, mn8;                                                                                          \
    hk_k4_scales(x->scales, &sc8, &mn8);                                                                           \
    const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));         \
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->qh));                     \
    for (int k = 0; k < 4; k++) {                                                                               \
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));        \
        const __m512i lo = _mm512_and_si512(_mm512_srlv_epi16(q, counts16(0, 4)), _mm512_set1_epi8(0x0F));     \
        const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(qh, counts16(2 * k, 2 * k + 1)), _mm512_set1_epi8(1)); \
        u[k] = _mm512_or_si512(lo, _mm512_slli_epi16(hb, 4));                                                   \
        scl[k] = spread16(sc16, 2 * k, 16);                                                                     \
    }                                                                                                           \
    const __m256i mins16 = k4_mins16(mn8);                                                                      \
    const float dw = _cvtsh_ss(x->d), dminw = _cvtsh_ss(x->dmin);

/* Q2_K and Q3_K: group g = 4c + s (32 elements) is bits 2s, 2s+1 of qs
 * bytes 32c .. 32c+31; step k takes groups 2k, 2k+1, so c = k / 2 and
 * s = 2 (k % 2) in the lower half, s + 1 in the upper.  Sixteen scales, one
 * per 16 elements: words 0-7 of each half one, 8-15 the next. */
#define K_LOW2(k)                                                                                               \
    _mm512_and_si512(                                                                                           \
        _mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * ((k) / 2)))), \
                          counts16(4 * ((k) % 2), 4 * ((k) % 2) + 2)),                                          \
        _mm512_set1_epi8(3))

/* u = q + 4 = low two bits | hmask bit g << 2 */
#define Q3_K_PREP                                                                                               \
    const __m256i s16 = q3_K_scales(x->scales);                                                                 \
    const __m512i sc16 = _mm512_castsi256_si512(s16);                                                           \
    const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->hmask));                  \
    for (int k = 0; k < 4; k++) {                                                                               \
        const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(hm, counts16(2 * k, 2 * k + 1)), _mm512_set1_epi8(1)); \
        u[k] = _mm512_or_si512(K_LOW2(k), _mm512_slli_epi16(hb, 2));                                            \
        scl[k] = spread16(sc16, 4 * k, 8);                                                                      \
    }                                                                                                           \
    const float dw = _cvtsh_ss(x->d);

#define Q3_K_FINISH                                                                                             \
    /* sum scale * (u - 4) * y = sum scale * u * y - 4 * sum scale * bsum */                                    \
    const __m256i corr = _mm256_madd_epi16(s16, _mm256_loadu_si256((const __m256i *)y->bsums));                 \
    const __m256i tot = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, 2));                                     \
    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(tot), acc[r][c]);

/* scales: low nibbles; mins: high nibbles, each against its 16-element bsum */
#define Q2_K_PREP                                                                                               \
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)x->scales);                                            \
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(0x0F)))); \
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));     \
    for (int k = 0; k < 4; k++) {                                                                               \
        u[k] = K_LOW2(k);                                                                                       \
        scl[k] = spread16(sc16, 4 * k, 8);                                                                      \
    }                                                                                                           \
    const float dw = _cvtsh_ss(x->d), dminw = _cvtsh_ss(x->dmin);

#define Q2_K_FINISH                                                                                             \
    const __m256i summ = _mm256_madd_epi16(mn16, _mm256_loadu_si256((const __m256i *)y->bsums));                \
    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(isum), acc[r][c]);                \
    acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(dminw * y->d), _mm256_cvtepi32_ps(summ), acc[r][c]);

GEMM_TYPE(gemm_q2_K, GEMM_K_BODY(Q2_K_PREP, , Q2_K_FINISH, hk_block_q2_K))
GEMM_TYPE(gemm_q3_K, GEMM_K_BODY(Q3_K_PREP, , Q3_K_FINISH, hk_block_q3_K))
GEMM_TYPE(gemm_q4_K, GEMM_K_BODY(Q4_K_PREP, , Q4_K_FINISH, hk_block_q4_K))
GEMM_TYPE(gemm_q5_K, GEMM_K_BODY(Q5_K_PREP, , Q4_K_FINISH, hk_block_q5_K))
GEMM_TYPE(gemm_q6_K, GEMM_K_BODY(Q6_K_PREP, , Q6_K_FINISH, hk_block_q6_K))

/* ---------------------------------------------------------------- F16 */

/* F16 weights against activations that are F16 values held as floats (the
 * x86 prompt path of engine/ops.c: llama.cpp rounds the activations to F16
 * and every F16 x F16 product is exact in float).  Bit-identical to ops.c's
 * one- and four-token AVX2 kernels: its two 8-lane accumulators (elements
 * i .. i+7 and i+8 .. i+15 of every 16) are the two halves of one zmm, then
 * the same eight-element step into the first, the same reduction and the
 * same scalar tail. */

static size_t act_size_f16f(int64_t n)
{
    return sizeof(float) * (size_t)n;
}

static void act_pack_f16f(const float *x, void *dst, int64_t n)
{
    float *y = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        y[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

/* Lane j = 4 c + r: hsum8 of the two 8-lane halves of a[r][c] added, for
 * all sixteen at once.  The same additions of the same operands as
 * sixteen hsum8 (h = lo + hi; s_k = h_k + h_k+4; u_0 = s_0 + s_2,
 * u_1 = s_1 + s_3; u_0 + u_1), each a lane of a 16-lane add after the
 * shuffles that line the operands up, so the bits are the same, in about
 * a third of the instructions: a 4 x 4 F32 call of 896-element rows in L1
 * went from 203 to 181 ns, qwen2.5-0.5b's F16 matmuls of 896-element rows
 * 7-12% faster (1 thread, CPU time). */
INLINE __m512 hsum16x16(__m512 a[4][4])
{
    __m512 s[4];
    for (int k = 0; k < 4; k++) {
        /* accumulators k, 4 + k, 8 + k, 12 + k: a[k][0..3] */
        const __m512 x0 = a[k][0], x1 = a[k][1], x2 = a[k][2], x3 = a[k][3];
        /* h of x0 | h of x1, h of x2 | h of x3 (8 lanes each) */
        const __m512 h01 = _mm512_add_ps(_mm512_shuffle_f32x4(x0, x1, 0x44), _mm512_shuffle_f32x4(x0, x1, 0xEE));
        const __m512 h23 = _mm512_add_ps(_mm512_shuffle_f32x4(x2, x3, 0x44), _mm512_shuffle_f32x4(x2, x3, 0xEE));
        /* 128-bit lane L: s (4 lanes) of x_L */
        s[k] = _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, 0x88), _mm512_shuffle_f32x4(h01, h23, 0xDD));
    }
    /* lane L: u_0, u_1 of x_L of s[0] (s[2]), then those of s[1] (s[3]) */
    const __m512 u01 = _mm512_add_ps(_mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 u23 = _mm512_add_ps(_mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane 4 L + k: u_0 + u_1 of s[k]'s x_L, that is a[k][L] */
    return _mm512_add_ps(_mm512_shuffle_ps(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The body shared with F32 weights: WT is the weight element type, W16(p)
 * and W8(p) load 16 and 8 of them as floats, W1(v) one. */
#define GEMM_FLOAT_BODY(WT, W16, W8, W1)                                                                        \
    const WT *wr = w;                                                                                           \
    const size_t wst = ws / sizeof(WT), ast = as / sizeof(float);                                               \
    const float *ar = act;                                                                                      \
    __m512 acc[4][4];                                                                                           \
    for (int r = 0; r < NR; r++)                                                                                \
        for (int c = 0; c < NC; c++)                                                                            \
            acc[r][c] = _mm512_setzero_ps();                                                                    \
    int64_t i = 0;                                                                                              \
    for (; i + 16 <= n; i += 16)                                                                                \
        for (int r = 0; r < NR; r++) {                                                                          \
            const __m512 wv = W16(wr + (size_t)r * wst + i);                                                    \
            for (int c = 0; c < NC; c++)                                                                        \
                acc[r][c] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(ar + (size_t)c * ast + i), acc[r][c]);         \
        }                                                                                                       \
    const bool eight = i + 8 <= n;                                                                              \
    if (eight)                                                                                                  \
        for (int r = 0; r < NR; r++) {                                                                          \
            const __m512 wv = _mm512_castps256_ps512(W8(wr + (size_t)r * wst + i));                             \
            for (int c = 0; c < NC; c++)                                                                        \
                acc[r][c] = _mm512_mask3_fmadd_ps(                                                              \
                    wv, _mm512_castps256_ps512(_mm256_loadu_ps(ar + (size_t)c * ast + i)), acc[r][c], 0x00FF);  \
        }                                                                                                       \
    const int64_t tail = eight ? i + 8 : i;                                                                     \
    if (NR == 4 && NC == 4 && tail == n) {                                                                      \
        _mm512_storeu_ps(out, hsum16x16(acc));                                                                  \
        return;                                                                                                 \
    }                                                                                                           \
    float sum[16];                                                                                              \
    if (NR == 4 && NC == 4)                                                                                     \
        _mm512_storeu_ps(sum, hsum16x16(acc));                                                                  \
    else                                                                                                        \
        for (int r = 0; r < NR; r++)                                                                            \
            for (int c = 0; c < NC; c++) {                                                                      \
                const __m512 a = acc[r][c];                                                                     \
                const __m256 a0 = _mm512_castps512_ps256(a),                                                    \
                             a1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));             \
                sum[4 * c + r] = hsum8(_mm256_add_ps(a0, a1));                                                  \
            }                                                                                                   \
    for (int r = 0; r < NR; r++) {                                                                              \
        const WT *wrow = wr + (size_t)r * wst;                                                                  \
        for (int c = 0; c < NC; c++) {                                                                          \
            const float *x = ar + (size_t)c * ast;                                                              \
            float v = sum[4 * c + r];                                                                           \
            for (int64_t k = tail; k < n; k++)                                                                  \
                v += W1(wrow[k]) * x[k];                                                                        \
            out[4 * c + r] = v;                                                                                 \
        }                                                                                                       \
    }

#define F16_W16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define F16_W8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define F16_W1(v) _cvtsh_ss(v)
#define F32_W16(p) _mm512_loadu_ps(p)
#define F32_W8(p) _mm256_loadu_ps(p)
#define F32_W1(v) (v)

GEMM_TYPE(gemm_f16, GEMM_FLOAT_BODY(uint16_t, F16_W16, F16_W8, F16_W1))

/* F32 weights, the same steps: on the F16 weights converted to floats (an
 * exact conversion) it gives gemm_f16's bits, without gemm_f16's conversion
 * of every weight once per call, which competes with the FMAs for the same
 * two ports.  engine/ops.c converts a tile of F16 rows once for all the
 * tokens of a batch and runs this. */
static size_t act_size_f32(int64_t n)
{
    return sizeof(float) * (size_t)n;
}

static void act_pack_f32(const float *x, void *dst, int64_t n)
{
    memcpy(dst, x, sizeof(float) * (size_t)n);
}

GEMM_TYPE(gemm_f32, GEMM_FLOAT_BODY(float, F32_W16, F32_W8, F32_W1))

#undef GEMM_TYPE
#undef GEMM_BODY
#undef GEMM_QUAD

HK_AVX512_KERNELS_END

/* ---------------------------------------------------------------- table */

static hk_gemm_kernel kernels[] = {
    {HK_TYPE_Q4_0, HK_TYPE_Q8_0, act_pack_q8p, act_size_q8p, gemm_q4_0, false, NULL},
    {HK_TYPE_Q5_0, HK_TYPE_Q8_0, act_pack_q8p, act_size_q8p, gemm_q5_0, false, NULL},
    {HK_TYPE_Q8_0, HK_TYPE_Q8_0, act_pack_q8p, act_size_q8p, gemm_q8_0, false, NULL},
    /* act_pack: the table's Q8_K act_from_float, set below */
    {HK_TYPE_Q4_K, HK_TYPE_Q8_K, NULL, act_size_q8k, gemm_q4_K, true, NULL},
    {HK_TYPE_Q6_K, HK_TYPE_Q8_K, NULL, act_size_q8k, gemm_q6_K, true, NULL},
    {HK_TYPE_Q2_K, HK_TYPE_Q8_K, NULL, act_size_q8k, gemm_q2_K, true, NULL},
    {HK_TYPE_Q3_K, HK_TYPE_Q8_K, NULL, act_size_q8k, gemm_q3_K, true, NULL},
    {HK_TYPE_Q5_K, HK_TYPE_Q8_K, NULL, act_size_q8k, gemm_q5_K, true, NULL},
    /* the F16 prompt path of engine/ops.c: activations as F16-rounded floats */
    {HK_TYPE_F16, HK_TYPE_F16, act_pack_f16f, act_size_f16f, gemm_f16, false, NULL},
    /* F32 x F32; engine/ops.c also runs it on F16 tiles it converted */
    {HK_TYPE_F32, HK_TYPE_F32, act_pack_f32, act_size_f32, gemm_f32, false, NULL},
};

void hk_cpu_fill_gemm_avx512(const hk_gemm_kernel *gemm[HK_TYPE_COUNT], const hk_quant_ops ops[HK_TYPE_COUNT],
                             const hk_cpu_features *f)
{
    if (!f->avx512vnni || !f->avx512vbmi)
        return;
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (kernels[k].act_type == HK_TYPE_Q8_K)
            kernels[k].act_pack = ops[HK_TYPE_Q8_K].act_from_float;
        kernels[k].one_tok = hk_cpu_one_tok_avx512(kernels[k].type);
        gemm[kernels[k].type] = &kernels[k];
    }
}
