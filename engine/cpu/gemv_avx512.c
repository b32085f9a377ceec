/* AVX-512 one-token kernels (the generation step's matrix-vector products),
 * built like gemm_avx512.c and installed with its row-group kernels, whose
 * numbers they reproduce bit for bit (kernels.h hk_gemm_kernel.one_tok). */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "avx512_common.h"
#include "kernels.h"
#include "quant.h"

/* One activation row against many weight rows: the generation step, which
 * streams every weight once per token.  Q4_0, Q5_0 and Q8_0 against the
 * packed activations of gemm_avx512.c (kernels.h hk_act_q8p): out[r] is
 * bit-identical to that file's row-group kernel for (nr, nc) = (1, 1), so
 * a batch still gives the numbers of one token at a time.  The lanes, their
 * integer sums (u = q + c against the activations, started at -c * their
 * sum) and the float steps (scale product, conversion, one FMA per quad of
 * blocks into one 16-lane accumulator, _mm512_reduce_add_ps) are that
 * kernel's; what differs is how the weights reach the lanes, with less of
 * the work on port 5, which the byte permutes, conversions and mask moves
 * all need:
 *   - the 16 quants bytes of each block are inserted into their 128-bit
 *     lane from memory (a load plus a port-0/5 uop) instead of two 64-byte
 *     loads and a two-source byte permute (two port-5 uops);
 *   - except a whole quad of Q4_0: its blocks' quants start at bytes 2,
 *     20, 38 and 56, so blocks 0 and 2 are whole dwords of the 64 bytes at
 *     q + 2 and blocks 1 and 3 of those at q + 8, one vpermt2d (one port-5
 *     uop, measured) gathers them, and one vpermw spreads the four scale
 *     words of the 64 bytes at q for the conversion: two uops for what
 *     took three inserts and three selects;
 *   - Q5_0's fifth bits come from the blocks' qh words broadcast into their
 *     lanes and one vpmultishiftqb per 64 quants (bit k of qh to bit 4 of
 *     byte k) instead of two 64-bit masks built in general registers;
 *   - Q4_0/Q8_0 scales come from word broadcasts (pure loads) merged by
 *     bitwise selects.
 * Two rows go through together, so that each row's chain of FMAs (the
 * accumulation order) overlaps the other's.  Measured on the 2-core
 * Sapphire Rapids VM (rows of 896 in L2, one thread): Q5_0 16 -> 23 GB/s,
 * Q8_0 28 -> 40, Q4_0 18 -> 25 against the row-group kernel at (1, 1).
 * Rows of 896 in L1, one thread, same minutes: the activations loaded
 * once for both rows (one_act) took Q4_0 from 21.2 to 22.9 GB/s (12.1 ->
 * 11.1 cycles a quad of a row), Q5_0 19.2 -> 20.5, Q8_0 33.9 -> 36.4; the
 * Q4_0 quad by permutes then to 23.7-23.8 (10.7-10.8 cycles).  Streamed
 * from memory by two threads they read what they read before (27-29 GB/s
 * for Q4_0 either way: there the lines in flight decide, see below), and
 * hark bench tg64 moved by -1 to +3% (4 interleaved rounds, qwen2.5-0.5b
 * Q4_0 and Q8_0): fewer instructions for the same speed.
 *
 * (Read-roofline percentages in this file are of the bandwidth probe of
 * their time, which read 14-17% below the machine's best; membw.c.)
 *
 * Generation streams the weights from memory, and a core reaches its share
 * of the bandwidth only with many lines in flight while it computes.  So
 * the kernels ask for the weights ONE_PREFETCH bytes ahead of each of the
 * two rows from inside the loop, every line as the quads go, rather than a
 * row's worth at once before each call (ops.c prefetch_ahead), whose burst
 * filled the line-fill buffers and stalled the core with nothing to
 * compute.  hark bench tg64, 2 threads, qwen2.5-0.5b Q4_K_M, same binary
 * but the distance, 3 rounds interleaved: 1 KiB 68-70% of the read
 * roofline, 2 KiB 75-78%, 4 KiB 80-86%, 6-8 KiB 82-85%, 12 KiB 82-84%,
 * 16 KiB 80-83%; llama3.2-1b Q4_K_M: 2 KiB 75%, 4 KiB 77-79%, 8 KiB
 * 81-83%, 12 KiB 80-82%.  One prefetch per 128 bytes instead of every line
 * (the adjacent-line prefetcher fetching the other) fell to 65-70%.
 *
 * Each line is also asked for ONE_NEAR bytes ahead into L1 (prefetcht0),
 * so that the loads find it there rather than wait on L2.  One thread,
 * weights in 2 MiB pages (rows of 896 and 2048): Q4_0 12.4-12.8 -> 13.3-13.8
 * GB/s, Q5_0 12.4-12.5 -> 13.3-13.6, Q6_K 14.0-14.3 -> 15.2-15.4, Q5_K
 * 13.3-13.5 -> 13.8-14.7, Q4_K 14.0 -> 14.2-14.4 (256 bytes ahead gave
 * less, 2 KiB the same as 1 KiB); a plain read loop gets 14.4.  hark bench
 * tg64, 2 threads, 3 rounds interleaved, every round faster: qwen2.5-0.5b
 * Q4_0 +3-7%, Q4_K_M +2-7%, Q8_0 +1-4%, F16 +0-4%, llama3.2-1b Q4_K_M +4%.
 * A further prefetch 32-128 KiB ahead once per 4 KiB page (to walk the
 * page tables early) lost 5-15%; one far prefetch per quad of Q4_0 or Q5_0
 * blocks (72, 88 bytes) instead of one per line it reaches lost 7-20% (one
 * thread): a line that is not asked for ahead costs its whole latency. */
HK_AVX512_KERNELS_BEGIN

enum { ONE_PREFETCH = 8192 }; /* bytes ahead of each row being read, into L2 (see above) */
enum { ONE_NEAR = 1024 };     /* and into L1 (see above) */
enum { ONE_F16_ROWS = 2 };    /* F16 rows in flight (see one_tok_f16) */

#define ONE_INLINE HK_AVX512_INLINE

/* The 16 bytes at p + stride * b in 128-bit lane b, for b < m; zeros in
 * the lanes past m (a row's last quad), whose bytes are never read. */
ONE_INLINE __m512i one_lanes16(const uint8_t *p, size_t stride, int m)
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    if (m >= 4) {
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
        return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
    }
    v = _mm512_maskz_mov_epi32(0x000F, v);
    if (m > 1)
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
    if (m > 2)
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
    return v;
}

ONE_INLINE uint16_t one_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

ONE_INLINE uint32_t one_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The F16 scales (first two bytes of each block) of m <= 4 blocks as 16
 * floats, lanes 4b .. 4b+3 block b's, 0 past m: the values of
 * scales4 (avx512_common.h).  Word broadcasts merged by 64-bit selects. */
ONE_INLINE __m512 one_scales_sel(const uint8_t *p, size_t stride, int m)
{
    const __m256i odd = _mm256_setr_epi64x(0, -1, 0, -1), high = _mm256_setr_epi64x(0, 0, -1, -1);
    const __m256i z = _mm256_setzero_si256();
    const __m256i b0 = _mm256_set1_epi16((short)one_u16(p));
    const __m256i b1 = m > 1 ? _mm256_set1_epi16((short)one_u16(p + stride)) : z;
    const __m256i b2 = m > 2 ? _mm256_set1_epi16((short)one_u16(p + 2 * stride)) : z;
    const __m256i b3 = m > 3 ? _mm256_set1_epi16((short)one_u16(p + 3 * stride)) : z;
    /* imm 0xCA: first operand ? second : third, bit by bit */
    const __m256i h01 = _mm256_ternarylogic_epi64(odd, b1, b0, 0xCA);
    const __m256i h23 = _mm256_ternarylogic_epi64(odd, b3, b2, 0xCA);
    return _mm512_cvtph_ps(_mm256_ternarylogic_epi64(high, h23, h01, 0xCA));
}

/* A quad's packed activations (kernels.h hk_act_q8p) in registers, loaded
 * once for both rows in flight.  The empty asm makes them opaque values:
 * otherwise GCC folds each load into both rows' instructions and reads
 * the 256 bytes twice, and the loads, not the vector arithmetic, bound
 * these kernels (the weights' 64-byte loads mostly straddle two lines):
 * see the figures at the top of the file. */
typedef struct one_act {
    __m512i lo, hi, sum; /* elements 0-15 / 16-31 of each block; the block sums */
    __m512 d;            /* the blocks' scales */
} one_act;

ONE_INLINE one_act one_act_load(const uint8_t *aq)
{
    one_act a = {_mm512_loadu_si512(aq), _mm512_loadu_si512(aq + 64), _mm512_loadu_si512(aq + 128),
                 _mm512_loadu_ps(aq + 192)};
    __asm__("" : "+v"(a.lo), "+v"(a.hi), "+v"(a.sum), "+v"(a.d));
    return a;
}

/* The products of a quad: gemm_avx512.c's GEMM_QUAD for one row and one
 * token, operation for operation. */
ONE_INLINE __m512 one_q8p_quad(__m512i lo, __m512i hi, __m512 dw, const one_act *a, int shift, __m512 acc)
{
    __m512i s = _mm512_dpbusd_epi32(_mm512_slli_epi32(a->sum, (unsigned)shift), lo, a->lo);
    s = _mm512_dpbusd_epi32(s, hi, a->hi);
    return _mm512_fmadd_ps(_mm512_mul_ps(dw, a->d), _mm512_cvtepi32_ps(s), acc);
}

/* u = q + 8: the nibbles as they are */
ONE_INLINE __m512 one_quad_q4_0(const uint8_t *q, int m, const one_act *aq, __m512 acc)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i z;
    __m512 d;
    if (m == 4) {
        /* blocks 0 and 2 are dword-aligned from q + 2, 1 and 3 from q + 8 */
        const __m512i l = _mm512_loadu_si512(q + 2), r = _mm512_loadu_si512(q + 8);
        z = _mm512_permutex2var_epi32(l, _mm512_setr_epi32(0, 1, 2, 3, 19, 20, 21, 22, 9, 10, 11, 12, 28, 29, 30, 31), r);
        const __m512i s = _mm512_loadu_si512(q);
        d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(
            _mm512_setr_epi32(0, 0, 0x90009, 0x90009, 0x120012, 0x120012, 0x1B001B, 0x1B001B, 0, 0, 0, 0, 0, 0, 0, 0), s)));
    } else {
        z = one_lanes16(q + offsetof(hk_block_q4_0, qs), sizeof(hk_block_q4_0), m);
        d = one_scales_sel(q, sizeof(hk_block_q4_0), m);
    }
    return one_q8p_quad(_mm512_and_si512(z, m4), _mm512_and_si512(_mm512_srli_epi16(z, 4), m4), d, aq, 3, acc);
}

/* u = q + 16 = nibble + 16 * (bit j of qh) for element j */
ONE_INLINE __m512 one_quad_q5_0(const uint8_t *q, int m, const one_act *aq, __m512 acc)
{
    const size_t bs = sizeof(hk_block_q5_0), qh = offsetof(hk_block_q5_0, qh);
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    const __m512i z = one_lanes16(q + offsetof(hk_block_q5_0, qs), bs, m);
    /* qh of block b in every dword of lane b (64-bit selects) */
    const __m512i zero = _mm512_setzero_si512();
    const __m512i c0 = _mm512_set1_epi32((int)one_u32(q + qh));
    const __m512i c1 = m > 1 ? _mm512_set1_epi32((int)one_u32(q + bs + qh)) : zero;
    const __m512i c2 = m > 2 ? _mm512_set1_epi32((int)one_u32(q + 2 * bs + qh)) : zero;
    const __m512i c3 = m > 3 ? _mm512_set1_epi32((int)one_u32(q + 3 * bs + qh)) : zero;
    const __m512i odd = _mm512_setr_epi64(0, 0, -1, -1, 0, 0, -1, -1), high = _mm512_setr_epi64(0, 0, 0, 0, -1, -1, -1, -1);
    const __m512i h = _mm512_ternarylogic_epi64(high, _mm512_ternarylogic_epi64(odd, c3, c2, 0xCA),
                                                _mm512_ternarylogic_epi64(odd, c1, c0, 0xCA), 0xCA);
    /* byte k of a lane (element k, or 16 + k) takes the eight bits of its
     * qword from bit k - 4 (k + 12) on, wrapping around: bit 4 of it is
     * bit k (16 + k) of qh */
    const __m512i sel_lo = _mm512_set_epi8(11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 63, 62, 61, 60,
                                           11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 63, 62, 61, 60,
                                           11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 63, 62, 61, 60,
                                           11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 63, 62, 61, 60);
    const __m512i sel_hi = _mm512_add_epi8(sel_lo, _mm512_set1_epi8(16));
    const __m512i h_lo = _mm512_and_si512(_mm512_multishift_epi64_epi8(sel_lo, h), b4);
    const __m512i h_hi = _mm512_and_si512(_mm512_multishift_epi64_epi8(sel_hi, h), b4);
    /* imm 0xEA: (first & second) | third */
    const __m512i lo = _mm512_ternarylogic_epi32(z, m4, h_lo, 0xEA);
    const __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(z, 4), m4, h_hi, 0xEA);
    /* the scales gathered in a general register (scales4): the vector
     * ports are busier here with the fifth bits */
    return one_q8p_quad(lo, hi, scales4(q, bs, m), aq, 4, acc);
}

/* u = q + 128 = q ^ 0x80 as unsigned */
ONE_INLINE __m512 one_quad_q8_0(const uint8_t *q, int m, const one_act *aq, __m512 acc)
{
    const size_t bs = sizeof(hk_block_q8_0), qs = offsetof(hk_block_q8_0, qs);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i lo = _mm512_xor_si512(one_lanes16(q + qs, bs, m), flip);
    const __m512i hi = _mm512_xor_si512(one_lanes16(q + qs + 16, bs, m), flip);
    return one_q8p_quad(lo, hi, one_scales_sel(q, bs, m), aq, 7, acc);
}

/* y[r] = row r . act for r < nr; rows w_stride bytes apart.  QUAD is one of
 * the above, BS the bytes of a block. */
#define ONE_BODY(QUAD, BS)                                                                                      \
    const int64_t nb = n / HK_QK8_0, nq = nb / 4;                                                               \
    const int tail = (int)(nb % 4);                                                                             \
    const size_t quad = 4 * (BS);                                                                               \
    const uint8_t *ar = act;                                                                                    \
    int64_t r = 0;                                                                                              \
    for (; r + 2 <= nr; r += 2) {                                                                               \
        const uint8_t *w0 = (const uint8_t *)w + (size_t)r * ws, *w1 = w0 + ws;                                 \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                                               \
        for (int64_t iq = 0; iq < nq; iq++) {                                                                   \
            const size_t off = (size_t)iq * quad;                                                               \
            for (size_t p = 0; p < quad; p += 64) {                                                             \
                __builtin_prefetch(w0 + off + ONE_PREFETCH + p, 0, 2);                                          \
                __builtin_prefetch(w1 + off + ONE_PREFETCH + p, 0, 2);                                          \
                __builtin_prefetch(w0 + off + ONE_NEAR + p, 0, 3);                                              \
                __builtin_prefetch(w1 + off + ONE_NEAR + p, 0, 3);                                              \
            }                                                                                                   \
            const one_act a = one_act_load(ar + (size_t)iq * HK_ACT_Q8P_QUAD_BYTES);                            \
            a0 = QUAD(w0 + off, 4, &a, a0);                                                                     \
            a1 = QUAD(w1 + off, 4, &a, a1);                                                                     \
        }                                                                                                       \
        if (tail) {                                                                                             \
            const one_act a = one_act_load(ar + (size_t)nq * HK_ACT_Q8P_QUAD_BYTES);                            \
            a0 = QUAD(w0 + (size_t)nq * quad, tail, &a, a0);                                                    \
            a1 = QUAD(w1 + (size_t)nq * quad, tail, &a, a1);                                                    \
        }                                                                                                       \
        y[r] = _mm512_reduce_add_ps(a0);                                                                        \
        y[r + 1] = _mm512_reduce_add_ps(a1);                                                                    \
    }                                                                                                           \
    if (r < nr) {                                                                                               \
        const uint8_t *w0 = (const uint8_t *)w + (size_t)r * ws;                                                \
        __m512 a0 = _mm512_setzero_ps();                                                                        \
        for (int64_t iq = 0; iq < nq; iq++) {                                                                   \
            const one_act a = one_act_load(ar + (size_t)iq * HK_ACT_Q8P_QUAD_BYTES);                            \
            a0 = QUAD(w0 + (size_t)iq * quad, 4, &a, a0);                                                       \
        }                                                                                                       \
        if (tail) {                                                                                             \
            const one_act a = one_act_load(ar + (size_t)nq * HK_ACT_Q8P_QUAD_BYTES);                            \
            a0 = QUAD(w0 + (size_t)nq * quad, tail, &a, a0);                                                    \
        }                                                                                                       \
        y[r] = _mm512_reduce_add_ps(a0);                                                                        \
    }

static void one_tok_q4_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y)
{
    ONE_BODY(one_quad_q4_0, sizeof(hk_block_q4_0))
}

static void one_tok_q5_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y)
{
    ONE_BODY(one_quad_q5_0, sizeof(hk_block_q5_0))
}

static void one_tok_q8_0(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y)
{
    ONE_BODY(one_quad_q8_0, sizeof(hk_block_q8_0))
}

#undef ONE_BODY

/* Q2_K-Q6_K against Q8_K activations as the level's act_from_float makes
 * them: out[r] is bit-identical to the level's vec_dot (and so to the
 * row-group kernels, which reproduce it).  The steps are gemm_avx512.c's
 * for one row and one token (64 elements per vpmaddubsw/vpdpwssd pair, the
 * two halves of the int32 lanes folded into the 256-bit kernels' eight, the
 * same float steps in the same order); what changes is the work around
 * them, with less of it on ports 0 and 5, the only vector ports while
 * 512-bit uops run (port 0 alone takes the 512-bit multiply-adds):
 *   - the scale words come from one byte permute each out of the scales in
 *     a register (instead of a widening plus a word permute);
 *   - the block's float scales are F16 broadcasts (pure loads) converted in
 *     a vector and multiplied there by y's, the same single rounding as the
 *     scalar product; d and dmin as one pair (Q2_K 14.1 -> 14.4 GB/s,
 *     Q4_K 21.5 -> 22.0 below);
 *   - Q2_K, Q3_K and Q5_K take their bit fields with vpmultishiftqb (port
 *     5) instead of variable word shifts (port 0) and a shift to put them
 *     in place; Q3_K's scales likewise (one_q3_K_scales).
 * Rows of 2048 in L2 (256 KiB), one thread, GB/s of weights, the row-group
 * kernel at (1, 1) -> these: Q2_K 11.5 -> 14.4 (the same with the word
 * shifts), Q3_K 12.0 -> 14.3 (12.2 with the word shifts, 13.2 with the
 * general-register scales), Q4_K 20.1 -> 22.2 (its nibbles by
 * vpmultishiftqb: the same), Q5_K 18.8 -> 23.6 (21.5 with the word
 * shifts), Q6_K 26.4 -> 27.9.  The larger gain is the prefetching, as
 * above.  Q2_K and Q3_K stay about at a core's share of the read bandwidth
 * (~14 of ~28 GB/s) even in L2, so their generation is bound by these
 * instructions: whatever the weights' width, every 64 elements take a
 * vpmaddubsw and a vpdpwssd, some 40 vector uops a block of 84 (110)
 * bytes.  hark bench tg64, llama3.2-1b, 2 threads, medians of 3 rounds
 * interleaved with the row-group kernel at (1, 1), read roofline: Q2_K
 * 63% -> 75%, Q3_K_M 73% -> 80%, Q5_K_M 77% -> 86%. */

/* word w of the result: byte (base + w / per) of v, the high byte 0 */
ONE_INLINE __m512i one_spread8(__m128i v, int base, int per)
{
    int8_t idx[64];
    for (int i = 0; i < 64; i++)
        idx[i] = (int8_t)(base + i / 2 / per);
    return _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, _mm512_loadu_si512(idx), _mm512_castsi128_si512(v));
}

/* the F16 at p as 8 equal floats */
ONE_INLINE __m256 one_h8(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _mm256_cvtph_ps(_mm_set1_epi16((short)h));
}

/* isum of a block: u[k] holds elements 64k .. 64k+63 (unsigned), scl[k]
 * their sub-blocks' scales word by word */
ONE_INLINE __m256i one_k_isum(const __m512i u[4], const __m512i scl[4], const hk_block_q8_K *y)
{
    __m512i isum0 = _mm512_setzero_si512(), isum1 = isum0;
    for (int k = 0; k < 4; k += 2) {
        isum0 = _mm512_dpwssd_epi32(isum0, _mm512_maddubs_epi16(u[k], _mm512_loadu_si512(y->qs + 64 * k)), scl[k]);
        isum1 = _mm512_dpwssd_epi32(isum1, _mm512_maddubs_epi16(u[k + 1], _mm512_loadu_si512(y->qs + 64 * k + 64)),
                                    scl[k + 1]);
    }
    return fold(_mm512_add_epi32(isum0, isum1));
}

/* Q4_K/Q5_K's packed 6-bit scales and mins, get_scale_min_k4 four per word
 * (quant.h hk_k4_scales): the eight scales as the low bytes of *sc, the
 * eight mins of *mn */
ONE_INLINE void one_k4_scales(const uint8_t s[12], __m128i *sc, __m128i *mn)
{
    uint64_t sc8, mn8;
    hk_k4_scales(s, &sc8, &mn8);
    *sc = _mm_cvtsi64_si128((long long)sc8);
    *mn = _mm_cvtsi64_si128((long long)mn8);
}

/* acc + d * isum - dmin * summ, d and dmin the block's (the F16 pair at dp)
 * times y's: the pair converted and multiplied at once (one 32-bit
 * broadcast, one conversion and product instead of two each), then each
 * spread */
ONE_INLINE __m256 one_dmin_finish(const hk_half *dp, __m256 yd, __m256i isum, __m256i summ, __m256 acc)
{
    uint32_t h;
    memcpy(&h, dp, sizeof h);
    const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi32((int)h)), yd);
    acc = _mm256_fmadd_ps(_mm256_permutexvar_ps(_mm256_setzero_si256(), dd), _mm256_cvtepi32_ps(isum), acc);
    return _mm256_fnmadd_ps(_mm256_permutexvar_ps(_mm256_set1_epi32(1), dd), _mm256_cvtepi32_ps(summ), acc);
}

/* Q4_K/Q5_K's float steps: d * isum - dmin * (min . bsum) */
ONE_INLINE __m256 one_k4_finish(const hk_half *dp, __m128i mnv, __m256i isum, const hk_block_q8_K *y, __m256 yd,
                                __m256 acc)
{
    /* each min twice, one per 16-element bsum */
    const __m256i mins16 = _mm512_castsi512_si256(one_spread8(mnv, 0, 2));
    const __m256i summ = _mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)y->bsums));
    return one_dmin_finish(dp, yd, isum, summ, acc);
}

ONE_INLINE __m256 one_blk_q4_K(const hk_block_q4_K *x, const hk_block_q8_K *y, __m256 yd, __m256 acc)
{
    __m128i scv, mnv;
    one_k4_scales(x->scales, &scv, &mnv);
    const __m512i nib_shift = _mm512_set_epi64(0x0004000400040004ll, 0x0004000400040004ll, 0x0004000400040004ll,
                                               0x0004000400040004ll, 0, 0, 0, 0);
    __m512i u[4], scl[4];
    for (int k = 0; k < 4; k++) {
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));
        u[k] = _mm512_and_si512(_mm512_srlv_epi16(q, nib_shift), _mm512_set1_epi8(0x0F));
        scl[k] = one_spread8(scv, 2 * k, 16);
    }
    return one_k4_finish(&x->d, mnv, one_k_isum(u, scl, y), y, yd, acc);
}

/* vpmultishiftqb's control: byte e of every qword takes the eight bits of
 * its qword from bit 8e + a on (mod 64, so a may be negative) in the lower
 * 256 bits, from 8e + b in the upper: a per-half right shift of each byte,
 * on port 5 where the variable word shifts take port 0, the one port of the
 * 512-bit multiply-adds */
ONE_INLINE __m512i one_fields(int a, int b)
{
    int8_t idx[64];
    for (int i = 0; i < 64; i++)
        idx[i] = (int8_t)((8 * (i % 8) + (i < 32 ? a : b)) & 63);
    return _mm512_loadu_si512(idx);
}

/* Q5_K: Q4_K's nibbles, each with its fifth bit: bit g of qh byte e for
 * element e of 32-element group g (groups 2k and 2k+1 in step k) */
ONE_INLINE __m256 one_blk_q5_K(const hk_block_q5_K *x, const hk_block_q8_K *y, __m256 yd, __m256 acc)
{
    __m128i scv, mnv;
    one_k4_scales(x->scales, &scv, &mnv);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->qh));
    __m512i u[4], scl[4];
    for (int k = 0; k < 4; k++) {
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * k)));
        const __m512i lo = _mm512_and_si512(_mm512_multishift_epi64_epi8(one_fields(0, 4), q), _mm512_set1_epi8(0x0F));
        /* bit 4 of byte e: bit g = 2k (2k + 1) of qh byte e */
        const __m512i hb = _mm512_multishift_epi64_epi8(one_fields(2 * k - 4, 2 * k - 3), qh);
        /* imm 0xF8: first | (second & third) */
        u[k] = _mm512_ternarylogic_epi32(lo, hb, _mm512_set1_epi8(0x10), 0xF8);
        scl[k] = one_spread8(scv, 2 * k, 16);
    }
    return one_k4_finish(&x->d, mnv, one_k_isum(u, scl, y), y, yd, acc);
}

/* Q2_K and Q3_K's two low bits of elements 64k .. 64k+63: group g = 4c + s
 * (32 elements) is bits 2s, 2s+1 of qs bytes 32c .. 32c+31, so step k takes
 * c = k / 2, s = 2 (k % 2) in the lower half and s + 1 in the upper */
ONE_INLINE __m512i one_low2(const uint8_t *qs, int k)
{
    const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * (k / 2))));
    return _mm512_and_si512(_mm512_multishift_epi64_epi8(one_fields(4 * (k % 2), 4 * (k % 2) + 2), q),
                            _mm512_set1_epi8(3));
}

/* Q2_K: scales in the low nibbles, mins in the high ones, sixteen each (one
 * per 16 elements: words 0-7 of a 256-bit half one, 8-15 the next) */
ONE_INLINE __m256 one_blk_q2_K(const hk_block_q2_K *x, const hk_block_q8_K *y, __m256 yd, __m256 acc)
{
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)x->scales);
    const __m128i scv = _mm_and_si128(sc8, m4);
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    __m512i u[4], scl[4];
    for (int k = 0; k < 4; k++) {
        u[k] = one_low2(x->qs, k);
        scl[k] = one_spread8(scv, 4 * k, 8);
    }
    const __m256i summ = _mm256_madd_epi16(mn16, _mm256_loadu_si256((const __m256i *)y->bsums));
    return one_dmin_finish(&x->d, yd, one_k_isum(u, scl, y), summ, acc);
}

/* Q3_K's sixteen 6-bit scales as int16 in [-32, 31] (quant_x86.h
 * q3_K_scales): scale i has its low nibble in byte i % 8 of the scales
 * (bits 0-3 for i < 8, 4-7 after), its top two bits at bits 2 (i / 4),
 * 2 (i / 4) + 1 of byte 8 + i % 4.  Two vpmultishiftqb put the two fields
 * of every scale in place (bits 0-3 from the first eight bytes, 4-5 from
 * the last four) rather than some twenty general-register operations and
 * the inserts of four words into a vector, which took the same ports */
ONE_INLINE __m256i one_q3_K_scales(const uint8_t s[12])
{
    int8_t lo[16], hi[16];
    for (int i = 0; i < 16; i++) {
        lo[i] = (int8_t)(8 * (i % 8) + (i < 8 ? 0 : 4));
        hi[i] = (int8_t)((8 * (i % 4) + 2 * (i / 4) - 4) & 63);
    }
    uint64_t a;
    uint32_t t;
    memcpy(&a, s, 8);
    memcpy(&t, s + 8, 4);
    const __m128i fa = _mm_multishift_epi64_epi8(_mm_loadu_si128((const __m128i *)lo), _mm_set1_epi64x((long long)a));
    const __m128i fb = _mm_multishift_epi64_epi8(_mm_loadu_si128((const __m128i *)hi), _mm_set1_epi32((int)t));
    /* imm 0xCA: first ? second : third, bit by bit */
    const __m128i v = _mm_and_si128(_mm_ternarylogic_epi32(_mm_set1_epi8(0x0F), fa, fb, 0xCA), _mm_set1_epi8(0x3F));
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(v, _mm_set1_epi8(32)));
}

/* Q3_K: u = q + 4 = low two bits | hmask bit g << 2 */
ONE_INLINE __m256 one_blk_q3_K(const hk_block_q3_K *x, const hk_block_q8_K *y, __m256 yd, __m256 acc)
{
    const __m256i s16 = one_q3_K_scales(x->scales);
    const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->hmask));
    __m512i u[4], scl[4];
    for (int k = 0; k < 4; k++) {
        /* bit 2 of byte e: bit g = 2k (2k + 1) of hmask byte e */
        const __m512i hb = _mm512_multishift_epi64_epi8(one_fields(2 * k - 2, 2 * k - 1), hm);
        /* imm 0xF8: first | (second & third) */
        u[k] = _mm512_ternarylogic_epi32(one_low2(x->qs, k), hb, _mm512_set1_epi8(4), 0xF8);
        scl[k] = spread16(_mm512_castsi256_si512(s16), 4 * k, 8);
    }
    const __m256i isum = one_k_isum(u, scl, y);
    /* sum scale * (u - 4) * y = sum scale * u * y - 4 * sum scale * bsum */
    const __m256i corr = _mm256_madd_epi16(s16, _mm256_loadu_si256((const __m256i *)y->bsums));
    const __m256i tot = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, 2));
    return _mm256_fmadd_ps(_mm256_mul_ps(one_h8(&x->d), yd), _mm256_cvtepi32_ps(tot), acc);
}

ONE_INLINE __m256 one_blk_q6_K(const hk_block_q6_K *x, const hk_block_q8_K *y, __m256 yd, __m256 acc)
{
    const __m256i s8 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    const __m512i sc16 = _mm512_castsi256_si512(s8);
    const long long two = 0x0002000200020002ll, four = 0x0004000400040004ll;
    const __m512i shl = _mm512_set_epi64(two, two, two, two, four, four, four, four);
    const __m512i shr = _mm512_set_epi64(two, two, two, two, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
    __m512i u[4], scl[4];
    for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512(x->ql + 64 * h);
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
        /* imm 0xF8: first | (second & third) */
        u[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, m4), _mm512_sllv_epi16(q, shl), m2, 0xF8);
        u[2 * h + 1] =
            _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_srlv_epi16(q, shr), m2, 0xF8);
    }
    for (int k = 0; k < 4; k++)
        scl[k] = spread16(sc16, 4 * k, 8);
    const __m256i isum = one_k_isum(u, scl, y);
    /* sum scale * (u - 32) * y = sum scale * u * y - 32 * sum scale * bsum */
    const __m256i corr = _mm256_madd_epi16(s8, _mm256_loadu_si256((const __m256i *)y->bsums));
    const __m256i tot = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, 5));
    return _mm256_fmadd_ps(_mm256_mul_ps(one_h8(&x->d), yd), _mm256_cvtepi32_ps(tot), acc);
}

#define ONE_K_BODY(BLK, BLOCK)                                                                                  \
    const int64_t nb = n / HK_QK_K;                                                                             \
    const hk_block_q8_K *y = act;                                                                               \
    int64_t r = 0;                                                                                              \
    for (; r + 2 <= nr; r += 2) {                                                                               \
        const uint8_t *w0 = (const uint8_t *)w + (size_t)r * ws, *w1 = w0 + ws;                                 \
        const BLOCK *x0 = (const BLOCK *)(const void *)w0, *x1 = (const BLOCK *)(const void *)w1;               \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                               \
        for (int64_t i = 0; i < nb; i++) {                                                                      \
            const size_t off = (size_t)i * sizeof(BLOCK);                                                       \
            for (size_t p = 0; p < sizeof(BLOCK); p += 64) {                                                    \
                __builtin_prefetch(w0 + off + ONE_PREFETCH + p, 0, 2);                                          \
                __builtin_prefetch(w1 + off + ONE_PREFETCH + p, 0, 2);                                          \
                __builtin_prefetch(w0 + off + ONE_NEAR + p, 0, 3);                                              \
                __builtin_prefetch(w1 + off + ONE_NEAR + p, 0, 3);                                              \
            }                                                                                                   \
            const __m256 yd = _mm256_set1_ps(y[i].d);                                                           \
            a0 = BLK(&x0[i], &y[i], yd, a0);                                                                    \
            a1 = BLK(&x1[i], &y[i], yd, a1);                                                                    \
        }                                                                                                       \
        y_out[r] = hsum8(a0);                                                                               \
        y_out[r + 1] = hsum8(a1);                                                                           \
    }                                                                                                           \
    if (r < nr) {                                                                                               \
        const BLOCK *x0 = (const BLOCK *)(const void *)((const uint8_t *)w + (size_t)r * ws);                   \
        __m256 a0 = _mm256_setzero_ps();                                                                        \
        for (int64_t i = 0; i < nb; i++)                                                                        \
            a0 = BLK(&x0[i], &y[i], _mm256_set1_ps(y[i].d), a0);                                                \
        y_out[r] = hsum8(a0);                                                                               \
    }

static void one_tok_q4_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y_out)
{
    ONE_K_BODY(one_blk_q4_K, hk_block_q4_K)
}

static void one_tok_q6_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y_out)
{
    ONE_K_BODY(one_blk_q6_K, hk_block_q6_K)
}

static void one_tok_q2_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y_out)
{
    ONE_K_BODY(one_blk_q2_K, hk_block_q2_K)
}

static void one_tok_q3_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y_out)
{
    ONE_K_BODY(one_blk_q3_K, hk_block_q3_K)
}

static void one_tok_q5_K(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y_out)
{
    ONE_K_BODY(one_blk_q5_K, hk_block_q5_K)
}

#undef ONE_K_BODY

/* F16 weights against the F16-rounded floats of gemm_avx512.c's
 * act_pack_f16f: gemm_f16's steps for one row and one token (and so
 * engine/ops.c's dot1_f16_f32's), operation for operation: one 16-lane FMA
 * accumulator per row taking elements i .. i+15 in order, the eight-element
 * step into its lower half, the two halves added and reduced by hsum8, then
 * the scalar tail.  A step of 32 elements is one 64-byte line of each row,
 * asked for ONE_PREFETCH bytes ahead; ONE_F16_ROWS rows go through side by
 * side (their FMA chains overlap), the activations loaded once for all.
 * Rows of 2048 in L2, one thread: gemm_f16 at (1, 1) 28.6 GB/s, this 36.0.
 * hark bench tg64 of qwen2.5-0.5b F16, 2 threads, read roofline: ops.c's
 * dot1_f16_f32 with prefetch_ahead 68-77% (median of 3 interleaved 76%),
 * this with two rows 91-93% (median 92%), with four 89-90%. */
ONE_INLINE void one_rows_f16(int64_t n, const uint8_t *w, size_t ws, int rows, const float *x, float *y)
{
    __m512 a[ONE_F16_ROWS];
    for (int r = 0; r < rows; r++)
        a[r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
        for (int r = 0; r < rows; r++) {
            const uint8_t *p = w + (size_t)r * ws + sizeof(uint16_t) * (size_t)i;
            __builtin_prefetch(p + ONE_PREFETCH, 0, 2);
            __builtin_prefetch(p + ONE_NEAR, 0, 3);
            a[r] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)), x0, a[r]);
            a[r] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32))), x1, a[r]);
        }
    }
    if (i + 16 <= n) {
        const __m512 x0 = _mm512_loadu_ps(x + i);
        for (int r = 0; r < rows; r++) {
            const uint8_t *p = w + (size_t)r * ws + sizeof(uint16_t) * (size_t)i;
            a[r] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)), x0, a[r]);
        }
        i += 16;
    }
    if (i + 8 <= n) {
        const __m512 x0 = _mm512_castps256_ps512(_mm256_loadu_ps(x + i));
        for (int r = 0; r < rows; r++) {
            const uint8_t *p = w + (size_t)r * ws + sizeof(uint16_t) * (size_t)i;
            const __m512 wv = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)));
            a[r] = _mm512_mask3_fmadd_ps(wv, x0, a[r], 0x00FF);
        }
        i += 8;
    }
    for (int r = 0; r < rows; r++) {
        const uint16_t *wr = (const uint16_t *)(const void *)(w + (size_t)r * ws);
        const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[r]), 1));
        float v = hsum8(_mm256_add_ps(_mm512_castps512_ps256(a[r]), hi));
        for (int64_t k = i; k < n; k++)
            v += _cvtsh_ss(wr[k]) * x[k];
        y[r] = v;
    }
}

static void one_tok_f16(int64_t n, const void *w, size_t ws, int64_t nr, const void *act, float *y)
{
    int64_t r = 0;
    for (; r + ONE_F16_ROWS <= nr; r += ONE_F16_ROWS)
        one_rows_f16(n, (const uint8_t *)w + (size_t)r * ws, ws, ONE_F16_ROWS, act, y + r);
    for (; r < nr; r++)
        one_rows_f16(n, (const uint8_t *)w + (size_t)r * ws, ws, 1, act, y + r);
}

HK_AVX512_KERNELS_END

hk_one_tok_fn hk_cpu_one_tok_avx512(hk_type t)
{
    switch (t) {
    case HK_TYPE_Q4_0: return one_tok_q4_0;
    case HK_TYPE_Q5_0: return one_tok_q5_0;
    case HK_TYPE_Q8_0: return one_tok_q8_0;
    case HK_TYPE_Q4_K: return one_tok_q4_K;
    case HK_TYPE_Q6_K: return one_tok_q6_K;
    case HK_TYPE_Q2_K: return one_tok_q2_K;
    case HK_TYPE_Q3_K: return one_tok_q3_K;
    case HK_TYPE_Q5_K: return one_tok_q5_K;
    case HK_TYPE_F16: return one_tok_f16;
    default: return NULL;
    }
}
