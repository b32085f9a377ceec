/* The CPU backend, in two paths chosen per backend by the CPU level active
 * when it is created (engine/cpu/kernels.h; HARK_CPU=scalar caps it):
 *
 * Scalar reference: plain C loops, the truth the faster paths are checked
 * against.  Where llama.cpp rounds (activations to the weight's dot type, Q
 * and the attention weights to F16 against an F16 cache, GELU through an F16
 * table) this rounds identically; what remains are summation-order
 * differences of ~1e-7 relative.  Sums of products use double accumulators,
 * as ggml's scalar dot products do.  Attention copies llama.cpp's AVX-512
 * summation orders (see below).
 *
 * SIMD (every other level): the same roundings through the level's row
 * kernels (activations quantized once per matmul with the level's
 * act_from_float, x86 llama.cpp's function), weight rows in cache-sized
 * tiles dotted with every token of a batch (on AVX-512 VNNI, row-group
 * kernels of up to 4 rows x 4 tokens for Q4_0, Q5_0, Q8_0, Q4_K, Q6_K and
 * F16 (kernels.h hk_gemm_kernel); batches of Q4_0, Q5_0 and Q8_0 of 16
 * tokens or more (8 on AMX) in tiles of 16 rows x 16 tokens, on AMX or
 * AVX-512 VNNI, in the scalar reference's float order, and of Q4_K, Q5_K
 * and Q6_K likewise with one float sum a block (hk_tile_gemm); elsewhere
 * four tokens at a time where the level has
 * a four-token kernel), rows handed to threads in chunks from a
 * shared counter, and an attention without the copied orders.  Only summation
 * orders differ from the reference; tests/test_parity.c runs both. */
#include "ops.h"

/* A fused multiply-add rounds once instead of twice; ggml's results (and the
 * goldens) come from separately rounded products on the paths that matter. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/kernels.h"
#include "quant.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define HK_OPS_X86 1
#else
#define HK_OPS_X86 0
#endif

/* Lanes of an AVX-512 float vector: llama.cpp's kernels sum in 16 lanes. */
enum { LANES = 16 };

struct hk_backend {
    hk_pool *pool;
    hk_matmul_mode mode;
    int n_threads;
    int64_t max_in;
    int max_rows;
    int32_t n_ctx;
    int max_head_dim;
    uint8_t *act;          /* activations converted for the dot product: max_rows rows */
    size_t act_row_cap;    /* bytes reserved per row of act */
    float *rows;           /* per thread: one dequantized weight row (HK_MATMUL_EXACT) */
    float *scores;         /* per thread: n_ctx attention scores */
    float *qrow;           /* per thread: a query head as the kernel sees it */
    double *acc;           /* per thread: max_head_dim accumulators (P.V) */
    float *rope_cache;     /* cos, sin of each rotary pair for one position */
    /* The SIMD path (level above scalar): kernels of hk_quant_ops_level. */
    hk_cpu_level level;
    size_t panel_floats;   /* floats of one thread's panel */
    float *panel;          /* per thread: PANEL_FLOATS dequantized weights (HK_MATMUL_EXACT) */
    float *att_acc;        /* per thread: max_head_dim float accumulators (online softmax) */
    int att_heads;         /* query heads per attention work item the scratch below holds */
    float *att_kv;         /* per thread: ATT_KEYS cache rows widened to float (AVX-512, AVX2),
                              max_head_dim rounded up to 16 floats apart */
    /* batches in 16 x 16 tiles (kernels.h hk_tile_gemm), when the CPU and level have them: */
    hk_tile_kind tile;
    uint8_t *tile_act;      /* max_rows tokens laid out by hk_tile_act_put */
    uint8_t *tile_scratch;  /* per thread: tile_scratch_bytes */
    size_t tile_scratch_bytes;
};

/* The AVX-512 and AVX2 attentions (attention_group_avx512_f16 and
 * attention_group_avx2_f16) take up to ATT_GROUP query heads of one KV head
 * together (each thread keeps that many rows of n_ctx scores: 256 KiB a
 * thread at 8192 cells), at most ATT_KEYS cached rows at a time; AVX-512
 * head sizes up to 16 * ATT_MAX_CHUNKS */
enum { ATT_GROUP = 8, ATT_KEYS = 16, ATT_MAX_CHUNKS = 16 };

/* Bytes per element of the widest activation format a matmul converts to:
 * the SIMD path's F16-rounded floats for F16 weights (4); F16/BF16 2; Q8_0
 * 34/32, Q8_1 36/32, Q8_K 292/256 are narrower.  F32 weights take the
 * activations as they are. */
enum { ACT_BYTES_PER_ELEMENT = 4 };

/* Floats of one thread's EXACT-mode weight panel: 64 KiB, a tile of rows
 * that stays in L2 while every token row is dotted with it (a row longer
 * than that gets a panel of its own length). */
enum { PANEL_FLOATS = 16384 };

void *hk_alloc_work(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge)
        return aligned_alloc(64, (bytes + 63) / 64 * 64);
    const size_t len = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, len);
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, len, MADV_HUGEPAGE); /* advice: without THP it is EINVAL, and fine */
#endif
    return p;
}

void *hk_alloc_zeroed(size_t bytes)
{
    if (bytes == 0)
        return NULL;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void hk_free_zeroed(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

hk_backend *hk_backend_new(hk_pool *pool, hk_matmul_mode mode, int64_t max_in, int max_rows, int32_t n_ctx,
                           int max_head_dim, int max_rot)
{
    hk_backend *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    int nt = hk_pool_size(pool);
    b->pool = pool;
    b->mode = mode;
    b->n_threads = nt;
    b->max_in = max_in;
    b->max_rows = max_rows;
    b->n_ctx = n_ctx;
    b->max_head_dim = max_head_dim;
    /* + one Q8_K block of slack: a row narrower than its first block never
     * exists (shapes are validated), but the bound then needs no proof */
    b->act_row_cap = (size_t)max_in * ACT_BYTES_PER_ELEMENT + sizeof(hk_block_q8_K);
    /* 64-byte rows: the AVX-512 kernels load activations a cache line at a time */
    b->act_row_cap = (b->act_row_cap + 63) / 64 * 64;
    /* at least one row per thread: one-token matmuls give each its own */
    b->act = hk_alloc_work(b->act_row_cap * (size_t)(max_rows > nt ? max_rows : nt));
    b->rows = malloc(sizeof(float) * (size_t)max_in * (size_t)nt);
    b->level = hk_cpu_level_active();
    b->att_heads = b->level == HK_CPU_AVX512 || b->level == HK_CPU_AVX2 ? ATT_GROUP : 1;
    b->scores = malloc(sizeof(float) * (size_t)n_ctx * (size_t)b->att_heads * (size_t)nt);
    b->qrow = malloc(sizeof(float) * (size_t)max_head_dim * (size_t)b->att_heads * (size_t)nt);
    b->att_kv = aligned_alloc(64, sizeof(float) * ATT_KEYS * (size_t)((max_head_dim + 15) / 16 * 16) * (size_t)nt);
    b->acc = malloc(sizeof(double) * (size_t)max_head_dim * (size_t)nt);
    b->rope_cache = malloc(sizeof(float) * (size_t)(max_rot > 0 ? max_rot : 2));
    const size_t panel = max_in > PANEL_FLOATS ? (size_t)max_in : PANEL_FLOATS;
    b->panel_floats = panel;
    b->panel = malloc(sizeof(float) * panel * (size_t)nt);
    b->att_acc = malloc(sizeof(float) * (size_t)max_head_dim * (size_t)nt);
#if HK_OPS_X86
    b->tile = mode == HK_MATMUL_LLAMACPP && b->level == HK_CPU_AVX512 ? hk_tile_active() : HK_TILE_NONE;
    if (b->tile != HK_TILE_NONE && max_rows < hk_tile_min_tokens(b->tile, HK_TYPE_Q4_0))
        b->tile = HK_TILE_NONE;
    if (b->tile != HK_TILE_NONE) {
        b->tile_scratch_bytes = (hk_tile_scratch_bytes(max_in) + 63) / 64 * 64;
        /* zeroed: a short last group of tokens reads lanes no token wrote */
        const size_t tq8 = hk_tile_act_bytes(HK_TYPE_Q8_0, max_in, max_rows);
        const size_t tq8k = hk_tile_act_bytes(HK_TYPE_Q8_K, max_in, max_rows);
        const size_t tile_bytes = tq8 > tq8k ? tq8 : tq8k;
        b->tile_act = hk_alloc_work(tile_bytes);
        if (b->tile_act)
            memset(b->tile_act, 0, tile_bytes);
        b->tile_scratch = malloc(b->tile_scratch_bytes * (size_t)nt);
        if (!b->tile_act || !b->tile_scratch) {
            hk_backend_free(b);
            return NULL;
        }
    }
#endif
    if (!b->act || !b->rows || !b->scores || !b->qrow || !b->acc || !b->rope_cache || !b->panel || !b->att_acc ||
        !b->att_kv) {
        hk_backend_free(b);
        return NULL;
    }
    return b;
}

void hk_backend_free(hk_backend *b)
{
    if (!b)
        return;
    free(b->act);
    free(b->rows);
    free(b->scores);
    free(b->qrow);
    free(b->acc);
    free(b->rope_cache);
    free(b->panel);
    free(b->att_acc);
    free(b->att_kv);
    free(b->tile_act);
    free(b->tile_scratch);
    free(b);
}

/* ggml's scalar dot products: each product rounded to float, summed in double. */
static inline float dot_f32(const float *a, const float *b, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(a[i] * b[i]);
    return (float)sum;
}

/* ---------------------------------------------------------------- matmul */

enum { MATMUL_MAX_RUNS = 64 };

typedef struct matmul_job {
    hk_backend *b;
    int n_tok;
    const float *x;
    int64_t ldx;
    const hk_matmul_out *outs;
    int n_outs;
    int64_t total_rows;    /* sum of the outs' n_out */
    bool convert;          /* activations go through act (LLAMACPP mode, non-F32 weights) */
    hk_type act_type;      /* their format then */
    size_t act_row;        /* bytes of one converted row */
    /* SIMD path: */
    const hk_quant_ops *act_ops; /* converts activations (when convert) */
    bool f16_f32;                /* F16 weights: act holds F16-rounded floats (x86 SIMD) */
    hk_from_float_fn act_pack;   /* row-group kernels: act holds their packed rows (kernels.h) */
    size_t act_thread_off;       /* 0, or one token: each thread converts it itself, into act + ith * this
                                    (see matmul_run_simd) */
    bool tile;                   /* hk_tile_gemm on the tokens in b->tile_act */
    int64_t chunk_rows;          /* weight rows per work item (the last one may have fewer) */
    int64_t n_chunks;            /* work items */
    int n_runs;                  /* runs of consecutive work items, one per thread (see matmul_run_simd) */
    atomic_long run_next[MATMUL_MAX_RUNS]; /* work items of each run handed out so far */
} matmul_job;

/* The converted activations thread ith reads (the SIMD path). */
static inline const uint8_t *job_act(const matmul_job *j, int ith)
{
    return j->b->act + (size_t)ith * j->act_thread_off;
}

static void matmul_rows(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith)
{
    const hk_weight *w = o->w;
    const int64_t n = w->n_in;
    const bool exact = j->b->mode == HK_MATMUL_EXACT;
    float *row = j->b->rows + (size_t)ith * (size_t)j->b->max_in;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = w->data + (size_t)r * w->row_bytes;
        const float bias = o->bias ? o->bias[r] : 0.0f;
        if (w->type == HK_TYPE_F32 || exact) {
            const float *wf = (const float *)(const void *)wr;
            if (w->type != HK_TYPE_F32) {
                hk_dequantize_row(w->type, wr, row, n);
                wf = row;
            }
            for (int t = 0; t < j->n_tok; t++) {
                float v = dot_f32(wf, j->x + (size_t)t * (size_t)j->ldx, n);
                o->y[(size_t)t * (size_t)o->ldy + (size_t)r] = o->bias ? v + bias : v;
            }
        } else {
            for (int t = 0; t < j->n_tok; t++) {
                float v = hk_vec_dot(w->type, n, wr, j->b->act + (size_t)t * j->act_row);
                o->y[(size_t)t * (size_t)o->ldy + (size_t)r] = o->bias ? v + bias : v;
            }
        }
    }
}

/* Rows lo .. hi of the job, counted across its outs in order: each out's
 * share goes to rows(j, out, r0, r1, ith). */
typedef void (*matmul_rows_fn)(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith);

static void matmul_span(const matmul_job *j, int64_t lo, int64_t hi, int ith, matmul_rows_fn rows)
{
    int64_t base = 0;
    for (int k = 0; k < j->n_outs && base < hi; k++) {
        const int64_t n_out = j->outs[k].w->n_out;
        int64_t r0 = lo > base ? lo - base : 0;
        int64_t r1 = hi - base < n_out ? hi - base : n_out;
        if (r0 < r1)
            rows(j, &j->outs[k], r0, r1, ith);
        base += n_out;
    }
}

static void matmul_run(void *arg, int ith, int nth)
{
    const matmul_job *j = arg;
    long lo, hi;
    if (j->convert) {
        const int64_t n = j->outs[0].w->n_in;
        hk_split(j->n_tok, ith, nth, &lo, &hi);
        for (long t = lo; t < hi; t++)
            hk_quantize_act(j->act_type, j->x + (size_t)t * (size_t)j->ldx, j->b->act + (size_t)t * j->act_row, n);
        hk_pool_barrier(j->b->pool);
    }
    hk_split((long)j->total_rows, ith, nth, &lo, &hi);
    matmul_span(j, lo, hi, ith, matmul_rows);
}

/* The SIMD matmul.  Work items are chunks of consecutive weight rows (across
 * the outs of the job), handed out through shared counters so that both
 * threads finish together even when one is slowed down (the machine is
 * shared, and attention-heavy rows do not exist here but unequal outs do).
 * The chunks form one run per thread, and each thread takes the chunks of
 * its own run in order before it helps with the others' (in order too):
 * so a thread's rows follow each other in memory, and the weights it asks
 * for ahead of the rows it is on (prefetch_ahead, the one-token kernels'
 * 8 KiB) are its own next ones rather than another thread's, or rows
 * nobody reads next.  With one counter for all, every chunk boundary
 * fetched bytes for the other core and started cold: qwen2.5-0.5b's
 * attention matrices come in chunks of 20-30 KiB.  Every y element is still
 * one kernel call by one thread, so results do not depend on the thread
 * count or the chunk order.
 *
 * Inside a chunk, tiles of weight rows small enough to stay in L1 (TILE_BYTES)
 * are dotted with every token row before the next tile is read: a batch
 * streams its weights from memory once, and the converted activations
 * (n_tok rows) stay in L2. */
enum { TILE_BYTES = 16384, CHUNKS_PER_THREAD = 16 };

/* Bytes ahead of the row being read that the matmul asks the cache for.
 * Measured on the 2-core AVX-512 machine (Q4_0 rows of 896 from a 200 MB
 * matrix, one thread): the hardware prefetcher alone streams 4.3 GB/s, with
 * this 9 GB/s; 1-8 KiB ahead all do about as well.  Into L2 (prefetcht1),
 * not L1: generation of the llama3.2-1b Q4_K_M file runs 8-12% faster
 * (hark bench tg32, 2 threads, best of 3 interleaved runs, twice), the
 * qwen2.5-0.5b files within 3% either way; the kernels' own loads then
 * take the lines from L2 into L1.  The one-token kernels of
 * engine/cpu/gemv_avx512.c (matmul_one_tok) prefetch inside their loops
 * instead, 8 KiB ahead, which measured better there. */
enum { PREFETCH_AHEAD = 2048, CACHE_LINE = 64 };

static inline void prefetch_ahead(const uint8_t *row, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += CACHE_LINE)
        __builtin_prefetch(row + PREFETCH_AHEAD + off, 0, 2);
}

#if HK_OPS_X86
#define HK_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

HK_TARGET_AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* F16 weights against activations that are F16 values held as floats:
 * llama.cpp rounds the activations to F16 and every F16 x F16 product is
 * exact in float, so this is its F16 dot product up to summation order,
 * while the activations are converted once per matmul instead of once per
 * weight row.  dot4 does, per token, exactly the operations of dot1, so a
 * batch gives the numbers of one token at a time. */
HK_TARGET_AVX2 static void round_f16_row(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        y[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

HK_TARGET_AVX2 static float dot1_f16_f32(int64_t n, const uint16_t *w, const float *x)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8))),
                             _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += _cvtsh_ss(w[i]) * x[i];
    return s;
}

HK_TARGET_AVX2 static void dot4_f16_f32(int64_t n, const uint16_t *w, const float *x, size_t ldx, float out[4])
{
    __m256 a0[4], a1[4];
    for (int c = 0; c < 4; c++)
        a0[c] = a1[c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        for (int c = 0; c < 4; c++) {
            a0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)c * ldx + i), a0[c]);
            a1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + (size_t)c * ldx + i + 8), a1[c]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        for (int c = 0; c < 4; c++)
            a0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)c * ldx + i), a0[c]);
    }
    for (int c = 0; c < 4; c++) {
        float s = hsum8(_mm256_add_ps(a0[c], a1[c]));
        for (int64_t k = i; k < n; k++)
            s += _cvtsh_ss(w[k]) * x[(size_t)c * ldx + (size_t)k];
        out[c] = s;
    }
}

/* The rows [r0, r1) of an F16 matrix against n_tok F16-rounded float rows. */
static void matmul_f16_f32(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith)
{
    const hk_weight *w = o->w;
    const int64_t n = w->n_in;
    const size_t ldx = j->act_row / sizeof(float);
    const float *act = (const float *)(const void *)job_act(j, ith);
    int64_t tile = (int64_t)(TILE_BYTES / w->row_bytes);
    if (tile < 1)
        tile = 1;
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t t1 = t0 + tile < r1 ? t0 + tile : r1;
        int t = 0;
        for (; t + 4 <= j->n_tok; t += 4)
            for (int64_t r = t0; r < t1; r++) {
                const uint8_t *wr = w->data + (size_t)r * w->row_bytes;
                if (t == 0)
                    prefetch_ahead(wr, w->row_bytes);
                float v[4];
                dot4_f16_f32(n, (const uint16_t *)(const void *)wr, act + (size_t)t * ldx, ldx, v);
                for (int c = 0; c < 4; c++)
                    o->y[(size_t)(t + c) * (size_t)o->ldy + (size_t)r] = o->bias ? v[c] + o->bias[r] : v[c];
            }
        for (; t < j->n_tok; t++)
            for (int64_t r = t0; r < t1; r++) {
                const uint8_t *wr = w->data + (size_t)r * w->row_bytes;
                if (t == 0)
                    prefetch_ahead(wr, w->row_bytes);
                const float v = dot1_f16_f32(n, (const uint16_t *)(const void *)wr, act + (size_t)t * ldx);
                o->y[(size_t)t * (size_t)o->ldy + (size_t)r] = o->bias ? v + o->bias[r] : v;
            }
    }
}
#endif

/* Row-group kernels (kernels.h hk_gemm_kernel): for a batch, tiles of
 * GEMM_ROWS weight rows against GEMM_TOKS tokens per call, so a token's
 * activations are read once per four rows and a row's weights once per four
 * tokens; the rows of a tile stay in L1 while every token passes.  For one
 * token, one row per call: four rows read side by side are four streams
 * instead of one, and measured (single thread, CPU time per token of the
 * qwen2.5-0.5b and llama3.2-1b files) one row is 5-15% faster than two or
 * four.  Every y element is computed the same way whatever its group, so
 * results still do not depend on the batch, the thread count or the chunks. */
enum { GEMM_ROWS = 4, GEMM_TOKS = 4 };

/* F16 weights of a batch: a tile of F16_TILE_ROWS rows is converted to
 * floats once, into this thread's panel (64-byte aligned: the kernel loads a
 * cache line at a time; unaligned it ran 15% slower), and the F32 row-group
 * kernel runs on it for every token.  The conversion is exact and the two
 * kernels take the same steps, so the numbers are the F16 kernel's, which
 * instead converts every weight once per four tokens on the two ports the
 * FMAs need.  The panel stays in L1 while the tokens pass; rows longer than
 * F16_PANEL_MAX_IN (ffn_down's) keep the F16 kernel, and so do batches of
 * fewer than F16_PANEL_MIN_TOK tokens, over which the conversion does not
 * pay (qwen2.5-0.5b's F16 matmuls of n_in 896, 1 thread, CPU time: the
 * panel 3-15% slower at 4-16 tokens, even at 24-32, 5-10% faster at 48-128). */
enum { F16_TILE_ROWS = 4, F16_PANEL_MAX_IN = 2048, F16_PANEL_MIN_TOK = 32 };

/* Bytes of packed activations that a chunk's rows are taken through at a
 * time: the whole batch where it fits, else blocks of tokens, so that they
 * stay in L2 while every tile of the chunk passes.  Without this each tile
 * of qwen2.5-0.5b's F16 ffn_down read all 128 tokens' 2.4 MB of activations
 * from L3: 512 KiB blocks made that matmul 1.45x faster (1 thread, CPU
 * time); 256 KiB and 1 MiB did as well, and the quantized types, whose
 * packed rows are 2-4x smaller, did not change. */
enum { ACT_BLOCK_BYTES = 512 * 1024 };

static void matmul_gemm(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith)
{
    const hk_weight *w = o->w;
    const hk_backend *b = j->b;
    hk_gemm_fn gemm = hk_gemm_level(w->type, b->level)->gemm;
    const size_t ldy = (size_t)o->ldy;
    const int64_t n = w->n_in;
    int64_t tile = (int64_t)(TILE_BYTES / w->row_bytes) / GEMM_ROWS * GEMM_ROWS;
    if (tile < GEMM_ROWS)
        tile = GEMM_ROWS;
    hk_to_float_fn to_float = NULL;
    float *panel = NULL;
    const hk_gemm_kernel *g32 = hk_gemm_level(HK_TYPE_F32, b->level);
    if (w->type == HK_TYPE_F16 && j->n_tok >= F16_PANEL_MIN_TOK && g32 && n <= F16_PANEL_MAX_IN &&
        (size_t)F16_TILE_ROWS * (size_t)n + CACHE_LINE / sizeof(float) <= b->panel_floats) {
        to_float = hk_quant_ops_level(HK_TYPE_F16, b->level)->to_float;
        panel = b->panel + (size_t)ith * b->panel_floats;
        panel += (CACHE_LINE - (uintptr_t)panel % CACHE_LINE) % CACHE_LINE / sizeof(float);
        gemm = g32->gemm;
        tile = F16_TILE_ROWS;
    }
    int block = (int)(ACT_BLOCK_BYTES / j->act_row) / GEMM_TOKS * GEMM_TOKS;
    if (block < GEMM_TOKS)
        block = GEMM_TOKS;
    const int rows = j->n_tok == 1 ? 1 : GEMM_ROWS;
    for (int k0 = 0; k0 < j->n_tok; k0 += block) {
        const int k1 = j->n_tok - k0 < block ? j->n_tok : k0 + block;
        const int64_t groups = (k1 - k0 + GEMM_TOKS - 1) / GEMM_TOKS;
        for (int64_t t0 = r0; t0 < r1; t0 += tile) {
            const int64_t t1 = t0 + tile < r1 ? t0 + tile : r1;
            const uint8_t *wt = w->data + (size_t)t0 * w->row_bytes;
            size_t wst = w->row_bytes;
            if (panel) {
                for (int64_t r = t0; r < t1; r++)
                    to_float(w->data + (size_t)r * w->row_bytes, panel + (size_t)(r - t0) * (size_t)n, n);
                wt = (const uint8_t *)panel;
                wst = sizeof(float) * (size_t)n;
            }
            for (int t = k0; t < k1; t += GEMM_TOKS) {
                const int nc = k1 - t < GEMM_TOKS ? k1 - t : GEMM_TOKS;
                const uint8_t *at = job_act(j, ith) + (size_t)t * j->act_row;
                if (panel) {
                    /* the next tile's weights, a share per token group, so
                     * that its conversion finds them in the cache */
                    const int64_t next_end = t1 + tile < w->n_out ? t1 + tile : w->n_out;
                    const size_t bytes = next_end > t1 ? (size_t)(next_end - t1) * w->row_bytes : 0;
                    const size_t share = (bytes / (size_t)groups + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
                    const uint8_t *next = w->data + (size_t)t1 * w->row_bytes;
                    const size_t g = (size_t)((t - k0) / GEMM_TOKS);
                    for (size_t off = g * share; off < (g + 1) * share && off < bytes; off += CACHE_LINE)
                        __builtin_prefetch(next + off, 0, 2);
                }
                for (int64_t r = t0; r < t1; r += rows) {
                    const int nr = t1 - r < rows ? (int)(t1 - r) : rows;
                    const uint8_t *wr = wt + (size_t)(r - t0) * wst;
                    if (t == 0 && !panel)
                        prefetch_ahead(wr, w->row_bytes * (size_t)nr);
                    float v[GEMM_ROWS * GEMM_TOKS];
                    gemm(n, wr, wst, nr, at, j->act_row, nc, v);
                    for (int c = 0; c < nc; c++) {
                        float *yt = o->y + (size_t)(t + c) * ldy + (size_t)r;
                        for (int i = 0; i < nr; i++)
                            yt[i] = o->bias ? v[GEMM_ROWS * c + i] + o->bias[r + i] : v[GEMM_ROWS * c + i];
                    }
                }
            }
        }
    }
}

/* Generation (one token) for the types whose level has a one-token kernel
 * (kernels.h hk_gemm_kernel.one_tok): every row of the chunk in one call.
 * The numbers are matmul_gemm's at one token, bit for bit. */
static void matmul_one_tok(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith,
                           hk_one_tok_fn one)
{
    const hk_weight *w = o->w;
    float *y = o->y + r0;
    one(w->n_in, w->data + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0, job_act(j, ith), y);
    if (o->bias)
        for (int64_t r = r0; r < r1; r++)
            y[r - r0] = y[r - r0] + o->bias[r];
}

static void matmul_tile_simd(const matmul_job *j, const hk_matmul_out *o, int64_t r0, int64_t r1, int ith)
{
    const hk_weight *w = o->w;
    const int64_t n = w->n_in;
    const hk_backend *b = j->b;
    const int n_tok = j->n_tok;
    const size_t ldy = (size_t)o->ldy;
#if HK_OPS_X86
    if (j->f16_f32) {
        matmul_f16_f32(j, o, r0, r1, ith);
        return;
    }
    if (j->tile) {
        float *y = o->y + r0;
        hk_tile_gemm(b->tile, w->type, n, w->data + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0, b->tile_act,
                     n_tok, y, ldy, b->tile_scratch + (size_t)ith * b->tile_scratch_bytes);
        if (o->bias)
            for (int t = 0; t < n_tok; t++)
                for (int64_t r = r0; r < r1; r++)
                    y[(size_t)t * ldy + (size_t)(r - r0)] += o->bias[r];
        return;
    }
#endif
    if (w->type == HK_TYPE_F32 || b->mode == HK_MATMUL_EXACT) {
        /* rows as floats: F32 weights as they are, others dequantized into
         * this thread's panel a tile at a time */
        const hk_vec_dot_fn dot = hk_quant_ops_level(HK_TYPE_F32, b->level)->vec_dot;
        const hk_to_float_fn to_float =
            w->type == HK_TYPE_F32 ? NULL : hk_quant_ops_level(w->type, b->level)->to_float;
        float *panel = b->panel + (size_t)ith * b->panel_floats;
        int64_t tile = (int64_t)(b->panel_floats / (size_t)n);
        if (tile < 1)
            tile = 1;
        for (int64_t t0 = r0; t0 < r1; t0 += tile) {
            const int64_t t1 = t0 + tile < r1 ? t0 + tile : r1;
            for (int64_t r = t0; r < t1; r++)
                if (to_float)
                    to_float(w->data + (size_t)r * w->row_bytes, panel + (size_t)(r - t0) * (size_t)n, n);
            for (int t = 0; t < n_tok; t++) {
                const float *xt = j->x + (size_t)t * (size_t)j->ldx;
                float *yt = o->y + (size_t)t * ldy;
                for (int64_t r = t0; r < t1; r++) {
                    const float *wf = to_float ? panel + (size_t)(r - t0) * (size_t)n
                                               : (const float *)(const void *)(w->data + (size_t)r * w->row_bytes);
                    const float v = dot(n, wf, xt);
                    yt[r] = o->bias ? v + o->bias[r] : v;
                }
            }
        }
        return;
    }
    if (j->act_pack && n_tok == 1) {
        const hk_one_tok_fn one = hk_gemm_level(w->type, b->level)->one_tok;
        if (one) {
            matmul_one_tok(j, o, r0, r1, ith, one);
            return;
        }
    }
    if (j->act_pack) {
        matmul_gemm(j, o, r0, r1, ith);
        return;
    }
    const hk_vec_dot_fn dot = hk_quant_ops_level(w->type, b->level)->vec_dot;
    /* four tokens per weight row where the level has such a kernel: the
     * same numbers as vec_dot, with the weights unpacked once for four */
    const hk_vec_dot4_fn dot4 = n_tok >= 4 ? hk_vec_dot4_level(w->type, b->level) : NULL;
    int64_t tile = (int64_t)(TILE_BYTES / w->row_bytes);
    if (tile < 1)
        tile = 1;
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t t1 = t0 + tile < r1 ? t0 + tile : r1;
        int t = 0;
        if (dot4)
            for (; t + 4 <= n_tok; t += 4) {
                const uint8_t *wt = w->data + (size_t)t0 * w->row_bytes;
                const uint8_t *at = job_act(j, ith) + (size_t)t * j->act_row;
                float *yt = o->y + (size_t)t * ldy + (size_t)t0;
                dot4(n, wt, w->row_bytes, t1 - t0, at, j->act_row, yt, ldy, t == 0 ? PREFETCH_AHEAD : 0);
                if (o->bias)
                    for (int c = 0; c < 4; c++)
                        for (int64_t r = t0; r < t1; r++)
                            yt[(size_t)c * ldy + (size_t)(r - t0)] += o->bias[r];
            }
        for (; t < n_tok; t++) {
            const uint8_t *at = job_act(j, ith) + (size_t)t * j->act_row;
            float *yt = o->y + (size_t)t * ldy;
            for (int64_t r = t0; r < t1; r++) {
                const uint8_t *wr = w->data + (size_t)r * w->row_bytes;
                if (t == 0)
                    prefetch_ahead(wr, w->row_bytes);
                const float v = dot(n, wr, at);
                yt[r] = o->bias ? v + o->bias[r] : v;
            }
        }
    }
}

static void matmul_run_simd(void *arg, int ith, int nth)
{
    matmul_job *j = arg;
#if HK_OPS_X86
    if (j->convert && j->tile) {
        /* whole groups of 16 tokens a thread: hk_tile_act_put interleaves them */
        const int64_t n = j->outs[0].w->n_in;
        long lo, hi;
        hk_split((j->n_tok + HK_TILE_GROUP - 1) / HK_TILE_GROUP, ith, nth, &lo, &hi);
        for (long t = lo * HK_TILE_GROUP; t < hi * HK_TILE_GROUP && t < j->n_tok; t++) {
            uint8_t *at = j->b->act + (size_t)t * j->act_row;
            j->act_ops->act_from_float(j->x + (size_t)t * (size_t)j->ldx, at, n);
            hk_tile_act_put(j->act_type, at, n, (int)t, j->b->tile_act);
        }
        hk_pool_barrier(j->b->pool);
    } else
#endif
    if (j->convert) {
        const int64_t n = j->outs[0].w->n_in;
        long lo, hi;
        hk_split(j->n_tok, ith, nth, &lo, &hi);
        if (j->act_thread_off)
            lo = 0, hi = 1;
        for (long t = lo; t < hi; t++) {
            const float *xt = j->x + (size_t)t * (size_t)j->ldx;
            uint8_t *at = j->b->act + (size_t)ith * j->act_thread_off + (size_t)t * j->act_row;
#if HK_OPS_X86
            if (j->f16_f32) {
                round_f16_row(xt, (float *)(void *)at, n);
                continue;
            }
#endif
            if (j->act_pack)
                j->act_pack(xt, at, n);
            else
                j->act_ops->act_from_float(xt, at, n);
        }
        if (!j->act_thread_off)
            hk_pool_barrier(j->b->pool);
    }
    for (int v = 0; v < j->n_runs; v++) {
        const int run = (ith + v) % j->n_runs;
        const int64_t c0 = j->n_chunks * run / j->n_runs, c1 = j->n_chunks * (run + 1) / j->n_runs;
        for (;;) {
            const int64_t c = c0 + (int64_t)atomic_fetch_add(&j->run_next[run], 1);
            if (c >= c1)
                break;
            const int64_t lo = c * j->chunk_rows;
            const int64_t hi = lo + j->chunk_rows < j->total_rows ? lo + j->chunk_rows : j->total_rows;
            matmul_span(j, lo, hi, ith, matmul_tile_simd);
        }
    }
}

static hk_type act_type_of(hk_type wt) { return hk_type_traits_of(wt)->vec_dot_type; }

void hk_op_matmul(hk_backend *b, int n_tok, const float *x, int64_t ldx, const hk_matmul_out *outs, int n_outs)
{
    assert(n_tok <= b->max_rows);
    /* Products whose weights want the same activation format share one
     * conversion and one dispatch; mixed files (Q4_K_M's Q6_K attn_v next to
     * Q4_K attn_q still share Q8_K) rarely split a group. */
    int k = 0;
    while (k < n_outs) {
        const hk_weight *w0 = outs[k].w;
        const bool convert = b->mode == HK_MATMUL_LLAMACPP && w0->type != HK_TYPE_F32;
        int e = k + 1;
        while (e < n_outs && outs[e].w->n_in == w0->n_in &&
               (b->mode == HK_MATMUL_EXACT ||
                (outs[e].w->type == HK_TYPE_F32) == (w0->type == HK_TYPE_F32)) &&
               (!convert || act_type_of(outs[e].w->type) == act_type_of(w0->type)))
            e++;
        matmul_job j = {
            .b = b, .n_tok = n_tok, .x = x, .ldx = ldx, .outs = outs + k, .n_outs = e - k,
            .convert = convert,
        };
        for (int i = k; i < e; i++)
            j.total_rows += outs[i].w->n_out;
        if (convert) {
            j.act_type = act_type_of(w0->type);
            j.act_row = hk_row_size(j.act_type, w0->n_in);
            assert(j.act_row > 0 && j.act_row <= b->act_row_cap && w0->n_in <= b->max_in);
        }
        if (b->level == HK_CPU_SCALAR) {
            hk_pool_run(b->pool, matmul_run, &j);
        } else {
            if (convert)
                j.act_ops = hk_quant_ops_level(j.act_type, b->level);
            /* row-group kernels when every out of the group has one that
             * takes the same packed activations */
            const hk_gemm_kernel *g0 = convert ? hk_gemm_level(w0->type, b->level) : NULL;
            /* one token of F16 on a level whose row-group kernel for it
             * has no one-token kernel beside it: matmul_f16_f32 gives the
             * same bits (see gemm_avx512.c) and streamed 4% faster than the
             * row-group kernel at one row (single thread, CPU time per
             * token of the qwen2.5-0.5b F16 file).  The one-token kernel
             * (AVX-512's one_tok_f16, gemv_avx512.c) gives those bits too,
             * with rows in flight and prefetched from inside its loop: that
             * file's generation went from 76% to 92% of the read roofline */
            if (g0 && n_tok == 1 && w0->type == HK_TYPE_F16 && !g0->one_tok)
                g0 = NULL;
            bool packed = g0 != NULL;
            for (int i = k + 1; i < e && packed; i++) {
                const hk_gemm_kernel *g = hk_gemm_level(outs[i].w->type, b->level);
                packed = g && g->act_pack == g0->act_pack;
            }
            if (packed) {
                j.act_pack = g0->act_pack;
                j.act_row = g0->act_size(w0->n_in);
                assert(j.act_row <= b->act_row_cap);
            }
            /* a batch whose every out has tile kernels: the tile products,
             * which give the scalar vec_dot's numbers (K-quants: to float
             * rounding; kernels.h hk_tile_gemm), so such a batch and its
             * tokens one at a time (the VNNI one-token kernels) agree to
             * float rounding rather than to the bit */
            j.tile = b->tile != HK_TILE_NONE && convert &&
                     (j.act_type == HK_TYPE_Q8_0 || j.act_type == HK_TYPE_Q8_K);
            for (int i = k; i < e && j.tile; i++)
                j.tile = hk_tile_has_type(outs[i].w->type) && n_tok >= hk_tile_min_tokens(b->tile, outs[i].w->type);
            if (j.tile) {
                j.act_pack = NULL;
                j.act_row = hk_row_size(j.act_type, w0->n_in);
            }
#if HK_OPS_X86
            /* every out of the group is F16 (their act type is F16 only then) */
            if (convert && j.act_type == HK_TYPE_F16 && !j.act_pack) {
                j.f16_f32 = true;
                j.act_row = sizeof(float) * (size_t)w0->n_in;
            }
#endif
            /* small enough chunks to even out, large enough that a chunk
             * is many tiles (multiples of 16 rows keep tiles whole) */
            int64_t chunk = j.total_rows / ((int64_t)b->n_threads * CHUNKS_PER_THREAD);
            chunk = (chunk + 15) / 16 * 16;
            j.chunk_rows = chunk < 16 ? 16 : chunk;
            j.n_chunks = (j.total_rows + j.chunk_rows - 1) / j.chunk_rows;
            /* One token: every thread converts it into a row of its own
             * rather than waiting at a barrier for the one that does; the
             * conversion takes the same time either way, and generation
             * makes ~10 matmuls per layer.  The bits are the same. */
            if (convert && n_tok == 1)
                j.act_thread_off = b->act_row_cap;
            j.n_runs = b->n_threads < MATMUL_MAX_RUNS ? b->n_threads : MATMUL_MAX_RUNS;
            for (int r = 0; r < j.n_runs; r++)
                atomic_init(&j.run_next[r], 0);
            hk_pool_run(b->pool, matmul_run_simd, &j);
        }
        k = e;
    }
}

/* ---------------------------------------------------------------- attention */

/* llama.cpp evaluates attention (flash attention off) as two matmuls against
 * the cache and a softmax, on x86 with AVX-512 kernels whose float summation
 * order is visible: a one-ulp change upstream of an 8-bit activation
 * quantization can flip a rounding and move logits by 1%.  So the reference
 * reproduces those orders:
 *   - K.Q of a batch of >= 2 tokens against an F16 cache goes through
 *     llamafile's tinyBLAS once Q is converted to F16 (inner length a
 *     multiple of 16): 16 float lanes, element l into lane l % 16, fused
 *     multiply-adds, then _mm512_reduce_add_ps's pairwise tree;
 *   - otherwise ggml_vec_dot_f16/_f32: 4 x 16 lanes per 64 elements, reduced
 *     pairwise, then the leftovers one by one (F16: in double; F32: float
 *     fused multiply-adds, as GCC contracts ggml's `sumf += x[i]*y[i]`);
 *   - the softmax takes ggml_v_expf (not libm's expf) in chunks of 16 cells,
 *     each chunk summed by the same tree, the chunk sums in double.
 * Each of these was kept because it raised the number of goldens matched to
 * the last bit (tests/test_parity.c); libm's expf instead loses three.
 * F16 products are exact in float, so for them a fused multiply-add is a
 * plain add. */
enum { VEC_STEP = 4 * LANES };

static float reduce16(const float *v)
{
    float a[8], b[4];
    for (int i = 0; i < 8; i++)
        a[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; i++)
        b[i] = a[i + 4] + a[i];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* ggml's AVX-512 ggml_v_expf, one lane of it (the Arm optimized-routines
 * algorithm: 2^n by scalef times a degree-5 polynomial in the remainder).
 * Inlined, so that the AVX2 callers get their fmaf as instructions (the
 * same correctly rounded results) instead of library calls. */
static inline __attribute__((always_inline)) float ggml_expf(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192)
        return n <= 0 ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    return scalbnf(j, (int)n);
}

/* K.Q for one key: sum of a[i] * b[i], i < n, in the order of the kernel
 * llama.cpp would use.  a is the cached key (F16 or F32), b the query,
 * already rounded to F16 values when f16. */
static float kq_dot(bool tinyblas, bool f16, const void *a, const float *b, int n)
{
    const uint16_t *ah = a;
    const float *af = a;
#define A_AT(i) (f16 ? hk_f16_to_f32(ah[i]) : af[i])
#define MADD(acc, x, y) ((acc) = f16 ? (acc) + (x) * (y) : fmaf((x), (y), (acc)))
    if (tinyblas) {
        float lane[LANES] = {0};
        for (int i = 0; i < n; i++)
            MADD(lane[i % LANES], A_AT(i), b[i]);
        return reduce16(lane);
    }
    const int np = n & ~(VEC_STEP - 1);
    float sum[4][LANES] = {{0}};
    int i = 0;
    for (; i < np; i++)
        MADD(sum[(i % VEC_STEP) / LANES][i % LANES], A_AT(i), b[i]);
    for (int l = 0; l < LANES; l++) {
        sum[0][l] = sum[0][l] + sum[2][l];
        sum[1][l] = sum[1][l] + sum[3][l];
        sum[0][l] = sum[0][l] + sum[1][l];
    }
    if (f16) {
        double acc = (double)reduce16(sum[0]);
        for (; i < n; i++)
            acc += (double)(A_AT(i) * b[i]);
        return (float)acc;
    }
    float acc = reduce16(sum[0]);
    for (; i < n; i++)
        MADD(acc, A_AT(i), b[i]);
    return acc;
#undef A_AT
#undef MADD
}

typedef struct attention_job {
    hk_backend *b;
    const hk_attention_args *a;
} attention_job;

static void attention_one(hk_backend *b, const hk_attention_args *a, int t, int h, int ith)
{
    const int group = a->n_head / a->n_head_kv;
    const int g = h / group; /* consecutive query heads share a KV head, as ggml's broadcast */
    const int32_t p = a->pos0 + t;
    const int32_t j0 = a->window > 0 && p - a->window + 1 > 0 ? p - a->window + 1 : 0;
    const int dk = a->head_dim_k, dv = a->head_dim_v;
    const size_t k_stride = (size_t)a->n_head_kv * (size_t)dk, v_stride = (size_t)a->n_head_kv * (size_t)dv;
    const float *q = a->q + (size_t)t * (size_t)a->ldq + (size_t)h * (size_t)dk;
    float *sc = b->scores + (size_t)ith * (size_t)b->n_ctx; /* indexed by cell */
    float *qr = b->qrow + (size_t)ith * (size_t)b->max_head_dim;
    const bool f16 = a->kv_type == HK_TYPE_F16;
    const size_t elt = f16 ? 2 : 4;
    for (int d = 0; d < dk; d++) /* ggml converts the other operand of an F16 matmul to F16 */
        qr[d] = f16 ? hk_f16_to_f32(hk_f32_to_f16(q[d])) : q[d];

    const float cap_inv = a->softcap > 0 ? 1.0f / a->softcap : 0.0f;
    float max = -INFINITY;
    for (int32_t j = j0; j <= p; j++) {
        const uint8_t *krow = (const uint8_t *)a->k + ((size_t)j * k_stride + (size_t)g * (size_t)dk) * elt;
        float s = kq_dot(a->batched && f16 && dk % LANES == 0, f16, krow, qr, dk);
        if (a->softcap > 0)
            s = tanhf(s * cap_inv) * a->softcap;
        s *= a->scale;
        sc[j] = s;
        if (s > max)
            max = s;
    }
    /* ggml_soft_max: masked cells are exp(-inf) = 0 inside their chunk */
    double sum = 0.0;
    for (int32_t c0 = j0 - j0 % LANES; c0 <= p; c0 += LANES) {
        float chunk[LANES];
        for (int l = 0; l < LANES; l++) {
            const int32_t j = c0 + l;
            chunk[l] = j >= j0 && j <= p ? ggml_expf(sc[j] - max) : 0.0f;
            if (j >= j0 && j <= p)
                sc[j] = chunk[l];
        }
        sum += (double)reduce16(chunk);
    }
    const float inv = (float)(1.0 / sum);
    for (int32_t j = j0; j <= p; j++) {
        sc[j] = sc[j] * inv;
        if (f16)
            sc[j] = hk_f16_to_f32(hk_f32_to_f16(sc[j]));
    }
    /* P.V: double accumulation of float products.  Measured against the
     * goldens this agrees more often than a 16-lane tinyBLAS order does
     * (39 vs 36 of 79 rows of comparisons bit-level); the kernel llama.cpp
     * took here is not pinned down, and double is the order-free rounding. */
    float *out = a->out + (size_t)t * (size_t)a->ldo + (size_t)h * (size_t)dv;
    double *acc = b->acc + (size_t)ith * (size_t)b->max_head_dim;
    for (int d = 0; d < dv; d++)
        acc[d] = 0.0;
    for (int32_t j = j0; j <= p; j++) {
        const float w = sc[j];
        const size_t off = (size_t)j * v_stride + (size_t)g * (size_t)dv;
        if (f16) {
            const uint16_t *v = (const uint16_t *)a->v + off;
            for (int d = 0; d < dv; d++)
                acc[d] += (double)(w * hk_f16_to_f32(v[d]));
        } else {
            const float *v = (const float *)a->v + off;
            for (int d = 0; d < dv; d++)
                acc[d] += (double)(w * v[d]);
        }
    }
    for (int d = 0; d < dv; d++)
        out[d] = (float)acc[d];
}

static void attention_run(void *arg, int ith, int nth)
{
    const attention_job *j = arg;
    const hk_attention_args *a = j->a;
    long lo, hi;
    hk_split((long)a->n_tok * a->n_head, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        attention_one(j->b, a, (int)(i / a->n_head), (int)(i % a->n_head), ith);
}

/* The SIMD attention (x86, AVX2 + FMA + F16C; both x86 SIMD levels have
 * them).  F32 cache: one pass over the keys in tiles of ATT_TILE with an
 * online softmax, so nothing of size n_ctx is written; scores of a tile,
 * then the running maximum, the rescaled accumulator and P.V.  F16 cache:
 * see below (a rounding llama.cpp does needs the whole row).  It keeps
 * llama.cpp's roundings (Q and P to F16 against an F16 cache) and its exp
 * (ggml_expf), not its summation orders; test_parity.c measures what that
 * costs against the goldens.  On AVX-512 an F16 cache goes through
 * attention_group_avx512_f16 instead (below).
 * Work items (token, head) come from a shared counter: with a causal mask
 * the later tokens of a batch see more keys, so a static split would leave
 * one thread idle for most of the op. */
enum { ATT_TILE = 32 };

#if HK_OPS_X86
HK_TARGET_AVX2 static float dot_kf16(const uint16_t *k, const float *q, int n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), _mm256_loadu_ps(q + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8))),
                               _mm256_loadu_ps(q + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), _mm256_loadu_ps(q + i), acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        s += _cvtsh_ss(k[i]) * q[i];
    return s;
}

HK_TARGET_AVX2 static float dot_kf32(const float *k, const float *q, int n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(k + i), _mm256_loadu_ps(q + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(k + i + 8), _mm256_loadu_ps(q + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(k + i), _mm256_loadu_ps(q + i), acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        s += k[i] * q[i];
    return s;
}

/* acc = acc * c + p * v over n */
HK_TARGET_AVX2 static void scale_axpy(float *acc, float c, float p, const void *v, bool f16, int n)
{
    const __m256 vc = _mm256_set1_ps(c), vp = _mm256_set1_ps(p);
    int i = 0;
    if (f16) {
        const uint16_t *vh = v;
        for (; i + 8 <= n; i += 8) {
            const __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + i), vc);
            _mm256_storeu_ps(acc + i,
                             _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vh + i))), vp, a));
        }
        for (; i < n; i++)
            acc[i] = acc[i] * c + p * _cvtsh_ss(vh[i]);
    } else {
        const float *vf = v;
        for (; i + 8 <= n; i += 8) {
            const __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + i), vc);
            _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(_mm256_loadu_ps(vf + i), vp, a));
        }
        for (; i < n; i++)
            acc[i] = acc[i] * c + p * vf[i];
    }
}

/* out = sum over keys j < n of w[j] * V row j (F16, rows stride halves
 * apart), 8 * NC <= 96 wide: scale_axpy's fused multiply-adds in the same
 * order (the same bits), the row in NC of the 16 ymm registers instead of
 * loaded and stored for every key.  One thread, qwen2.5-0.5b's 14 heads of
 * 64, keys in cache: the AVX2 attention went from 49-50 to 38-40 cycles a
 * key and head at 256 and 1024 keys (56 -> 52 at 32). */
HK_TARGET_AVX2 static inline __attribute__((always_inline)) void pv_f16_avx2(const int NC, const uint16_t *v, size_t stride,
                                                                             const float *w, int n, float *out)
{
    __m256 acc[12];
    for (int c = 0; c < NC; c++)
        acc[c] = _mm256_setzero_ps();
    for (int j = 0; j < n; j++) {
        const __m256 wj = _mm256_set1_ps(w[j]);
        const uint16_t *vr = v + (size_t)j * stride;
        for (int c = 0; c < NC; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + 8 * c))), wj, acc[c]);
    }
    for (int c = 0; c < NC; c++)
        _mm256_storeu_ps(out + 8 * c, acc[c]);
}

HK_TARGET_AVX2 static void attention_one_simd(hk_backend *b, const hk_attention_args *a, int t, int h, int ith)
{
    const int group = a->n_head / a->n_head_kv;
    const int g = h / group;
    const int32_t p = a->pos0 + t;
    const int32_t j0 = a->window > 0 && p - a->window + 1 > 0 ? p - a->window + 1 : 0;
    const int dk = a->head_dim_k, dv = a->head_dim_v;
    const size_t k_stride = (size_t)a->n_head_kv * (size_t)dk, v_stride = (size_t)a->n_head_kv * (size_t)dv;
    const float *q = a->q + (size_t)t * (size_t)a->ldq + (size_t)h * (size_t)dk;
    float *qr = b->qrow + (size_t)ith * (size_t)b->max_head_dim;
    float *acc = b->att_acc + (size_t)ith * (size_t)b->max_head_dim;
    const bool f16 = a->kv_type == HK_TYPE_F16;
    const size_t elt = f16 ? 2 : 4;
    for (int d = 0; d < dk; d++)
        qr[d] = f16 ? _cvtsh_ss(_cvtss_sh(q[d], _MM_FROUND_TO_NEAREST_INT)) : q[d];
    for (int d = 0; d < dv; d++)
        acc[d] = 0.0f;
    const float cap_inv = a->softcap > 0 ? 1.0f / a->softcap : 0.0f;
    float *out = a->out + (size_t)t * (size_t)a->ldo + (size_t)h * (size_t)dv;
    if (f16) {
        /* llama.cpp rounds the probabilities to F16 before P.V against an
         * F16 cache, which needs the normalizer first: one row of scores
         * (n_ctx floats per thread, in cache) and two passes.  Without that
         * rounding the kvf16 goldens move by 1.2-1.5% rms (measured). */
        float *row = b->scores + (size_t)ith * (size_t)b->n_ctx;
        float max = -INFINITY;
        for (int32_t j = j0; j <= p; j++) {
            const uint16_t *krow = (const uint16_t *)a->k + (size_t)j * k_stride + (size_t)g * (size_t)dk;
            float s = dot_kf16(krow, qr, dk);
            if (a->softcap > 0)
                s = tanhf(s * cap_inv) * a->softcap;
            s *= a->scale;
            row[j] = s;
            if (s > max)
                max = s;
        }
        double sum = 0.0;
        for (int32_t j = j0; j <= p; j++) {
            row[j] = ggml_expf(row[j] - max);
            sum += (double)row[j];
        }
        const float inv = (float)(1.0 / sum);
        for (int32_t j = j0; j <= p; j++)
            row[j] = _cvtsh_ss(_cvtss_sh(row[j] * inv, _MM_FROUND_TO_NEAREST_INT));
        const uint16_t *v0 = (const uint16_t *)a->v + (size_t)j0 * v_stride + (size_t)g * (size_t)dv;
        switch (dv) {
        case 32: pv_f16_avx2(4, v0, v_stride, row + j0, p - j0 + 1, out); return;
        case 64: pv_f16_avx2(8, v0, v_stride, row + j0, p - j0 + 1, out); return;
        case 80: pv_f16_avx2(10, v0, v_stride, row + j0, p - j0 + 1, out); return;
        case 96: pv_f16_avx2(12, v0, v_stride, row + j0, p - j0 + 1, out); return;
        default: break;
        }
        for (int32_t j = j0; j <= p; j++)
            scale_axpy(acc, 1.0f, row[j], v0 + (size_t)(j - j0) * v_stride, true, dv);
        for (int d = 0; d < dv; d++)
            out[d] = acc[d];
        return;
    }
    float max = -INFINITY, sum = 0.0f;
    float sc[ATT_TILE];
    for (int32_t c0 = j0; c0 <= p; c0 += ATT_TILE) {
        const int nt = p - c0 + 1 < ATT_TILE ? p - c0 + 1 : ATT_TILE;
        float tmax = -INFINITY;
        for (int i = 0; i < nt; i++) {
            const uint8_t *krow = (const uint8_t *)a->k + ((size_t)(c0 + i) * k_stride + (size_t)g * (size_t)dk) * elt;
            float s = f16 ? dot_kf16((const uint16_t *)(const void *)krow, qr, dk)
                          : dot_kf32((const float *)(const void *)krow, qr, dk);
            if (a->softcap > 0)
                s = tanhf(s * cap_inv) * a->softcap;
            s *= a->scale;
            sc[i] = s;
            if (s > tmax)
                tmax = s;
        }
        /* a larger maximum rescales what was summed so far once per tile */
        float corr = 1.0f;
        if (tmax > max) {
            corr = expf(max - tmax);
            max = tmax;
            sum *= corr;
        }
        for (int i = 0; i < nt; i++) {
            const float e = ggml_expf(sc[i] - max);
            sum += e;
            const uint8_t *vrow = (const uint8_t *)a->v + ((size_t)(c0 + i) * v_stride + (size_t)g * (size_t)dv) * elt;
            scale_axpy(acc, i == 0 ? corr : 1.0f, e, vrow, f16, dv);
        }
    }
    const float inv = 1.0f / sum;
    for (int d = 0; d < dv; d++)
        out[d] = acc[d] * inv;
}

/* The F16-cache attention on AVX2 (attention_group_avx2_f16, for CPUs
 * without AVX-512): attention_one_simd's numbers bit for bit, with the work
 * shared by the query heads of one KV head as on AVX-512:
 *   - a work item is a token and up to ATT_GROUP query heads of one KV head;
 *     each block of ATT2_KEYS cached keys, then of ATT_KEYS values, is
 *     widened to float once, into L1, for all of them instead of per head;
 *   - K.Q in dot_kf16's order (two 8-lane accumulators, hsum8, leftovers one
 *     by one), the eight keys' hsum8 done together by one transposition
 *     (att2_hsum8x8), Q in registers for heads of 64;
 *   - ggml_expf eight lanes at a time (att2_expf), the normalizer summed key
 *     by key in double as attention_one_simd does;
 *   - P.V: pv_f16_avx2's fused multiply-adds in key order on the widened
 *     values, up to 64 outputs in registers at a time.
 * Checked equal to attention_one_simd to the bit on 1440 cases (head sizes
 * 20-256, 1-8 KV heads, 1-320 keys, soft-capping, a window).  One thread,
 * keys in cache, built as the project builds (-O3), cycles per key and
 * head against attention_one_simd: qwen2.5-0.5b's shape (14 heads of 64 on
 * 2 KV heads) 27 against 50 at 32 keys, 21.5 against 39.5 at 256 and 1024;
 * heads of 128, 45-46 against 77.  Of the 21.5, before P.V took blocks of
 * 16 values (23 then): scores 8.5, exp and normalizers 5.4, P.V 9.1. */
enum { ATT2_KEYS = 8 };

/* lane i: hsum8(v[i]), the same additions in the same order */
HK_TARGET_AVX2 static inline __attribute__((always_inline)) __m256 att2_hsum8x8(const __m256 v[ATT2_KEYS])
{
    __m256 a[4], b[2];
    /* imm 0x20: the low halves of both sources, 0x31 the high: lanes 0-3
     * hold lo + hi of v[2k], lanes 4-7 of v[2k + 1] */
    for (int k = 0; k < 4; k++)
        a[k] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x31));
    /* s0 + s2, s1 + s3 (hsum8's movehl step) of two vectors side by side */
    for (int k = 0; k < 2; k++)
        b[k] = _mm256_add_ps(_mm256_shuffle_ps(a[2 * k], a[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(a[2 * k], a[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* s0 + s1 (the movehdup step): lanes 0-3 are v[0], v[2], v[4], v[6],
     * lanes 4-7 v[1], v[3], v[5], v[7] */
    const __m256 d = _mm256_add_ps(_mm256_shuffle_ps(b[0], b[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(b[0], b[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm256_permutevar8x32_ps(d, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* ggml_expf in every lane: its operations in its order; 2^n (n an integer
 * of at most 192 in magnitude) applied as two exact powers of two, so the
 * one rounding is scalbnf's */
HK_TARGET_AVX2 static inline __attribute__((always_inline)) __m256 att2_expf(__m256 x)
{
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    /* n = n1 + n2 with n1 = n / 2 rounded toward zero: 2^n1 and 2^n2 are
     * normal floats, and j * 2^n1 is exact (j lies in [0.7, 1.5]) */
    const __m256i ni = _mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(n, _mm256_set1_ps(192.0f)),
                                                        _mm256_set1_ps(-192.0f)));
    const __m256i n1 = _mm256_srai_epi32(_mm256_add_epi32(ni, _mm256_srli_epi32(ni, 31)), 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    const __m256 e = _mm256_mul_ps(_mm256_mul_ps(j, p1), p2);
    /* |n| > 192: 0 below, infinity above */
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 inf = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(INFINITY));
    return _mm256_blendv_ps(e, inf, big);
}

/* rows [0, n) of an F16 cache block (rows stride halves apart, d wide)
 * widened to float, rows ld floats apart (ld a multiple of 8) */
HK_TARGET_AVX2 static inline __attribute__((always_inline)) void att2_widen(const uint16_t *src, size_t stride, int n,
                                                                            int d, float *dst, int ld)
{
    for (int i = 0; i < n; i++) {
        const uint16_t *s = src + (size_t)i * stride;
        float *o = dst + (size_t)i * (size_t)ld;
        int c = 0;
        for (; c + 8 <= d; c += 8)
            _mm256_store_ps(o + c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + c))));
        for (; c < d; c++)
            o[c] = _cvtsh_ss(s[c]);
    }
}

/* out[i] = dot_kf16(key row i, qr, dk) for i < n <= ATT2_KEYS (rows of kf
 * ld floats apart).  DK: dk when it is 64 (Q in eight registers), else 0. */
HK_TARGET_AVX2 static inline __attribute__((always_inline)) void att2_scores8(const int DK, const float *kf, int ld,
                                                                              const float *qr, int dk, int n,
                                                                              float out[ATT2_KEYS])
{
    __m256 q[8];
    for (int c = 0; c < DK / 8; c++)
        q[c] = _mm256_loadu_ps(qr + 8 * c);
    __m256 s[ATT2_KEYS];
#pragma GCC unroll 8
    for (int i = 0; i < ATT2_KEYS; i++) {
        s[i] = _mm256_setzero_ps();
        if (i >= n)
            continue;
        const float *kr = kf + (size_t)i * (size_t)ld;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        if (DK) {
#pragma GCC unroll 8
            for (int e = 0; e < DK; e += 16) {
                a0 = _mm256_fmadd_ps(_mm256_load_ps(kr + e), q[e / 8], a0);
                a1 = _mm256_fmadd_ps(_mm256_load_ps(kr + e + 8), q[e / 8 + 1], a1);
            }
        } else {
            int e = 0;
            for (; e + 16 <= dk; e += 16) {
                a0 = _mm256_fmadd_ps(_mm256_load_ps(kr + e), _mm256_loadu_ps(qr + e), a0);
                a1 = _mm256_fmadd_ps(_mm256_load_ps(kr + e + 8), _mm256_loadu_ps(qr + e + 8), a1);
            }
            if (e + 8 <= dk)
                a0 = _mm256_fmadd_ps(_mm256_load_ps(kr + e), _mm256_loadu_ps(qr + e), a0);
        }
        s[i] = _mm256_add_ps(a0, a1);
    }
    _mm256_storeu_ps(out, att2_hsum8x8(s));
    const int e8 = dk & ~7;
    if (e8 < dk)
        for (int i = 0; i < n; i++) {
            float t = out[i];
            for (int e = e8; e < dk; e++)
                t += kf[(size_t)i * (size_t)ld + e] * qr[e];
            out[i] = t;
        }
}

/* out[c] += sum over keys j < n of w[j] * V row j [c] for c < 8 * NC (rows
 * of vf ld floats apart), in key order; first: out starts at 0 */
HK_TARGET_AVX2 static inline __attribute__((always_inline)) void att2_pv(const int NC, const float *vf, int ld,
                                                                         const float *w, int n, bool first, float *out)
{
    __m256 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++)
        acc[c] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + 8 * c);
    for (int j = 0; j < n; j++) {
        const __m256 wj = _mm256_set1_ps(w[j]);
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_load_ps(vf + (size_t)j * (size_t)ld + 8 * c), wj, acc[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++)
        _mm256_storeu_ps(out + 8 * c, acc[c]);
}

/* What the grouped attentions (attention_group_avx2_f16, _avx512_f16) know
 * of their work item: query heads h0 .. of token t, on thread ith. */
typedef struct att_group {
    int32_t p, j0;             /* the token's position; the first key it sees */
    int dk, dv;                /* head sizes */
    int ld;                    /* floats between the rows widened into kv */
    size_t k_stride, v_stride; /* halves between consecutive cached keys (values) */
    const uint16_t *kc, *vc;   /* the KV head's first key and value */
    float *kv;                 /* this thread's ATT_KEYS widened rows */
    float *qr0, *row0;         /* this thread's query rows and score rows, one per head */
    float cap_inv;             /* 1 / soft cap, or 0 */
} att_group;

static att_group att_group_of(const hk_backend *b, const hk_attention_args *a, int t, int h0, int ith)
{
    att_group G;
    const int g = h0 / (a->n_head / a->n_head_kv);
    G.p = a->pos0 + t;
    G.j0 = a->window > 0 && G.p - a->window + 1 > 0 ? G.p - a->window + 1 : 0;
    G.dk = a->head_dim_k, G.dv = a->head_dim_v;
    G.ld = (b->max_head_dim + 15) / 16 * 16;
    G.k_stride = (size_t)a->n_head_kv * (size_t)G.dk, G.v_stride = (size_t)a->n_head_kv * (size_t)G.dv;
    G.kc = (const uint16_t *)a->k + (size_t)g * (size_t)G.dk;
    G.vc = (const uint16_t *)a->v + (size_t)g * (size_t)G.dv;
    G.kv = b->att_kv + (size_t)ith * ATT_KEYS * (size_t)G.ld;
    G.qr0 = b->qrow + (size_t)ith * (size_t)b->max_head_dim * ATT_GROUP;
    G.row0 = b->scores + (size_t)ith * (size_t)b->n_ctx * ATT_GROUP;
    G.cap_inv = a->softcap > 0 ? 1.0f / a->softcap : 0.0f;
    return G;
}

/* Query heads h0 .. h0 + nh - 1 (nh <= ATT_GROUP) of token t, which share
 * KV head g. */
HK_TARGET_AVX2 static void attention_group_avx2_f16(hk_backend *b, const hk_attention_args *a, int t, int h0, int nh,
                                                    int ith)
{
    const att_group G = att_group_of(b, a, t, h0, ith);
    float max[ATT_GROUP];
    __m256 vmax[ATT_GROUP];
    for (int k = 0; k < nh; k++) {
        const float *q = a->q + (size_t)t * (size_t)a->ldq + (size_t)(h0 + k) * (size_t)G.dk;
        float *qr = G.qr0 + (size_t)k * (size_t)b->max_head_dim;
        for (int d = 0; d < G.dk; d++)
            qr[d] = _cvtsh_ss(_cvtss_sh(q[d], _MM_FROUND_TO_NEAREST_INT));
        max[k] = -INFINITY;
        vmax[k] = _mm256_set1_ps(-INFINITY);
    }
    /* scores and their maxima */
    for (int32_t j = G.j0; j <= G.p; j += ATT2_KEYS) {
        const int n = G.p - j + 1 < ATT2_KEYS ? G.p - j + 1 : ATT2_KEYS;
        att2_widen(G.kc + (size_t)j * G.k_stride, G.k_stride, n, G.dk, G.kv, G.ld);
        for (int k = 0; k < nh; k++) {
            const float *qr = G.qr0 + (size_t)k * (size_t)b->max_head_dim;
            float sc[ATT2_KEYS];
            if (G.dk == 64)
                att2_scores8(64, G.kv, G.ld, qr, G.dk, n, sc);
            else
                att2_scores8(0, G.kv, G.ld, qr, G.dk, n, sc);
            float *row = G.row0 + (size_t)k * (size_t)b->n_ctx + j;
            if (n == ATT2_KEYS && !(a->softcap > 0)) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(sc), _mm256_set1_ps(a->scale));
                _mm256_storeu_ps(row, v);
                vmax[k] = _mm256_max_ps(vmax[k], v);
                continue;
            }
            for (int i = 0; i < n; i++) {
                float s = sc[i];
                if (a->softcap > 0)
                    s = tanhf(s * G.cap_inv) * a->softcap;
                s *= a->scale;
                row[i] = s;
                if (s > max[k])
                    max[k] = s;
            }
        }
    }
    for (int k = 0; k < nh; k++) {
        float m[ATT2_KEYS];
        _mm256_storeu_ps(m, vmax[k]);
        for (int i = 0; i < ATT2_KEYS; i++)
            if (m[i] > max[k])
                max[k] = m[i];
    }
    /* exp(s - max) and the normalizers, key by key in double: the heads'
     * sums are independent chains, so they go side by side */
    double sum[ATT_GROUP] = {0};
    int32_t j = G.j0;
    for (; j + ATT2_KEYS <= G.p + 1; j += ATT2_KEYS)
        for (int k = 0; k < nh; k++) {
            float *row = G.row0 + (size_t)k * (size_t)b->n_ctx + j;
            const __m256 e = att2_expf(_mm256_sub_ps(_mm256_loadu_ps(row), _mm256_set1_ps(max[k])));
            _mm256_storeu_ps(row, e);
            for (int i = 0; i < ATT2_KEYS; i++)
                sum[k] += (double)row[i];
        }
    for (; j <= G.p; j++)
        for (int k = 0; k < nh; k++) {
            float *row = G.row0 + (size_t)k * (size_t)b->n_ctx;
            row[j] = ggml_expf(row[j] - max[k]);
            sum[k] += (double)row[j];
        }
    /* the weights normalized and rounded to F16 */
    for (int k = 0; k < nh; k++) {
        float *row = G.row0 + (size_t)k * (size_t)b->n_ctx;
        const float inv = (float)(1.0 / sum[k]);
        const __m256 vinv = _mm256_set1_ps(inv);
        for (j = G.j0; j + ATT2_KEYS <= G.p + 1; j += ATT2_KEYS)
            _mm256_storeu_ps(row + j, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(row + j), vinv),
                                                                      _MM_FROUND_TO_NEAREST_INT)));
        for (; j <= G.p; j++)
            row[j] = _cvtsh_ss(_cvtss_sh(row[j] * inv, _MM_FROUND_TO_NEAREST_INT));
    }
    /* P.V, a block of values at a time for every head */
    const int dv8 = G.dv & ~7;
    for (int32_t j = G.j0; j <= G.p; j += ATT_KEYS) {
        const int n = G.p - j + 1 < ATT_KEYS ? G.p - j + 1 : ATT_KEYS;
        att2_widen(G.vc + (size_t)j * G.v_stride, G.v_stride, n, G.dv, G.kv, G.ld);
        for (int k = 0; k < nh; k++) {
            const float *w = G.row0 + (size_t)k * (size_t)b->n_ctx + j;
            float *out = a->out + (size_t)t * (size_t)a->ldo + (size_t)(h0 + k) * (size_t)G.dv;
            for (int c0 = 0; c0 < dv8; c0 += 64) {
                switch ((dv8 - c0) / 8 < 8 ? (dv8 - c0) / 8 : 8) {
#define ATT2_PV_CASE(NC)                                                                                               \
    case NC:                                                                                                           \
        att2_pv(NC, G.kv + c0, G.ld, w, n, j == G.j0, out + c0);                                                       \
        break;
                    ATT2_PV_CASE(1) ATT2_PV_CASE(2) ATT2_PV_CASE(3) ATT2_PV_CASE(4)
                    ATT2_PV_CASE(5) ATT2_PV_CASE(6) ATT2_PV_CASE(7) ATT2_PV_CASE(8)
#undef ATT2_PV_CASE
                default:
                    break;
                }
            }
            for (int c = dv8; c < G.dv; c++) {
                float s = j == G.j0 ? 0.0f : out[c];
                for (int i = 0; i < n; i++)
                    s = fmaf(G.kv[(size_t)i * (size_t)G.ld + c], w[i], s);
                out[c] = s;
            }
        }
    }
}

/* The F16-cache attention on AVX-512 (attention_group_avx512_f16):
 * attention_one_simd's two passes and roundings (Q and the normalized
 * weights to F16, ggml_expf), with the work in zmm and shared by the query
 * heads of one KV head:
 *   - a work item is a token and up to ATT_GROUP query heads of one KV head;
 *     each block of 16 cached keys, then of 16 values, is widened to float
 *     once for all of them (into L1) instead of once per head;
 *   - K.Q in the reference's one-token order (kq_dot: ggml_vec_dot_f16's
 *     4 x 16 lanes, then reduce16), the 16 keys' reductions done together
 *     by one transposition (att_reduce16x16), about three uops a key
 *     instead of a horizontal sum each;
 *   - ggml_expf lane by lane in vectors (att_expf: the same operations, so
 *     the same values), the normalizer in attention_one's order (chunks of
 *     16 cells by reduce16, the chunk sums in double);
 *   - P.V with the output row in registers (att_pv): attention_one_simd's
 *     fused multiply-adds in the same order.  Summing the products in
 *     double, as the reference does, left the goldens matched to the bit
 *     unchanged (23 of 79, tests/test_parity.c) for twice the instructions.
 * Each head's numbers do not depend on which heads share its work item,
 * and batch and one token go through this same function.  One thread, keys
 * in cache, qwen2.5-0.5b's shape (14 heads of 64 on 2 KV heads), built as
 * the project builds (-O3), cycles per key and head against
 * attention_one_simd: 15.5 against 56 at 32 keys, 15.1 against 49.5 at 256,
 * 14.9 against 49 at 1024; one head per work item (the keys widened per
 * head) took 24-26. */
#define HK_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* lane i of the result: reduce16 of v[i] (the same additions in the same
 * order), for 16 vectors at once: about three uops a vector instead of a
 * horizontal sum each */
HK_TARGET_AVX512 static inline __attribute__((always_inline)) __m512 att_reduce16x16(const __m512 v[ATT_KEYS])
{
    __m512 a[8], b[4];
    /* imm 0x44: 128-bit lanes 0, 1 of each source; 0xEE: 2, 3.  Vector k
     * holds a_0..a_7 (lane l + lane l + 8) of v[2k], then of v[2k + 1] */
    for (int k = 0; k < 8; k++)
        a[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
    /* imm 0x88: 128-bit lanes 0, 2 of each source; 0xDD: 1, 3.  128-bit
     * lane L of vector k holds b_0..b_3 (a_i + a_i+4) of v[4k + L] */
    for (int k = 0; k < 4; k++)
        b[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xDD));
    /* b_0 + b_2, b_1 + b_3 of two vectors side by side */
    __m512 c[2];
    for (int k = 0; k < 2; k++) {
        const __m512d x = _mm512_castps_pd(b[2 * k]), y = _mm512_castps_pd(b[2 * k + 1]);
        c[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    /* (b_0 + b_2) + (b_1 + b_3); element 4L + k is then v[L + 4k]'s */
    const __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), d);
}

/* reduce16 of one vector, the same additions in the same order */
HK_TARGET_AVX512 static inline __attribute__((always_inline)) float att_reduce16(__m512 v)
{
    const __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(v, v, 0xEE), v);  /* lanes 0-7: v[i + 8] + v[i] */
    const __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(a, a, 0x01), a);  /* lanes 0-3: a[i + 4] + a[i] */
    const __m128 l = _mm512_castps512_ps128(b);
    const __m128 c = _mm_add_ps(l, _mm_movehl_ps(l, l));                 /* b0 + b2, b1 + b3 */
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* ggml_expf in every lane: the same operations in the same order */
HK_TARGET_AVX512 static inline __attribute__((always_inline)) __m512 att_expf(__m512 x)
{
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r), r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 e = _mm512_scalef_ps(j, n);
    /* |n| > 192: 0 below, infinity above */
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    const __mmask16 pos = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(big, e, _mm512_maskz_mov_ps(pos, _mm512_set1_ps(INFINITY)));
}

/* the lanes below n */
static inline __mmask16 att_mask(int n)
{
    return n <= 0 ? (__mmask16)0 : n >= ATT_KEYS ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* rows [0, n) of an F16 cache block (rows stride halves apart, d wide)
 * widened to float, rows ld floats apart; 0 past d up to the next 16 */
HK_TARGET_AVX512 static inline __attribute__((always_inline)) void att_widen(const uint16_t *src, size_t stride, int n,
                                                                             int d, float *dst, int ld)
{
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (; c + 16 <= d; c += 16)
            _mm512_store_ps(dst + (size_t)i * (size_t)ld + c,
                            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + (size_t)i * stride + c))));
        if (c < d)
            _mm512_store_ps(dst + (size_t)i * (size_t)ld + c,
                            _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(att_mask(d - c), src + (size_t)i * stride + c)));
    }
}

/* out[i] = key row i . qr for i < n <= 16 (rows of kf ld floats apart),
 * in kq_dot's one-token order (ggml_vec_dot_f16): the exact products of
 * each 64 elements into 4 x 16 lanes, those summed pairwise and by
 * reduce16, the leftovers added one by one in double.  Q in registers
 * when NQ (its 64-element groups) is a constant. */
HK_TARGET_AVX512 static inline __attribute__((always_inline)) void att_scores16(const int NQ, const float *kf, int ld,
                                                                                const float *qr, int dk, int n,
                                                                                float out[ATT_KEYS])
{
    const int np = dk & ~(VEC_STEP - 1);
    __m512 q[8] = {0};
    for (int c = 0; c < 4 * NQ; c++)
        q[c] = _mm512_loadu_ps(qr + 16 * c);
    __m512 s[ATT_KEYS];
#pragma GCC unroll 16
    for (int i = 0; i < ATT_KEYS; i++) {
        s[i] = _mm512_setzero_ps();
        if (i < n && np > 0) {
            const float *kr = kf + (size_t)i * (size_t)ld;
            __m512 a[4];
            for (int c = 0; c < 4; c++)
                a[c] = _mm512_mul_ps(_mm512_load_ps(kr + 16 * c), NQ > 0 ? q[c] : _mm512_loadu_ps(qr + 16 * c));
            for (int e = VEC_STEP; e < np; e += VEC_STEP)
                for (int c = 0; c < 4; c++)
                    a[c] = _mm512_add_ps(a[c], _mm512_mul_ps(_mm512_load_ps(kr + e + 16 * c),
                                                             NQ > 1 ? q[(e / 16 + c) & 7] : _mm512_loadu_ps(qr + e + 16 * c)));
            s[i] = _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]));
        }
    }
    _mm512_storeu_ps(out, att_reduce16x16(s));
    if (np < dk)
        for (int i = 0; i < n; i++) {
            double t = (double)out[i];
            for (int e = np; e < dk; e++)
                t += (double)(kf[(size_t)i * (size_t)ld + e] * qr[e]);
            out[i] = (float)t;
        }
}

/* out += sum over keys j < n of w[j] * V row j (rows of vf ld floats
 * apart), one fused multiply-add per key in key order, the dv <= 16 * NC
 * outputs in NC registers; first: out starts at 0 */
HK_TARGET_AVX512 static inline __attribute__((always_inline)) void att_pv(const int NC, const float *vf, int ld,
                                                                          const float *w, int n, int dv, bool first,
                                                                          float *out)
{
    __m512 acc[ATT_MAX_CHUNKS];
    const __mmask16 last = att_mask(dv - 16 * (NC - 1));
#pragma GCC unroll 16
    for (int c = 0; c < NC; c++)
        acc[c] = first ? _mm512_setzero_ps()
                       : _mm512_maskz_loadu_ps(c < NC - 1 ? (__mmask16)0xFFFF : last, out + 16 * c);
    for (int j = 0; j < n; j++) {
        const __m512 wj = _mm512_set1_ps(w[j]);
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_load_ps(vf + (size_t)j * (size_t)ld + 16 * c), wj, acc[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < NC; c++)
        _mm512_mask_storeu_ps(out + 16 * c, c < NC - 1 ? (__mmask16)0xFFFF : last, acc[c]);
}

/* Query heads h0 .. h0 + nh - 1 (nh <= ATT_GROUP) of token t, which share
 * KV head g: each block of 16 cached keys (values) is widened to float
 * once, into L1, for all of them, rather than once per head. */
HK_TARGET_AVX512 static void attention_group_avx512_f16(hk_backend *b, const hk_attention_args *a, int t, int h0,
                                                        int nh, int ith)
{
    const att_group G = att_group_of(b, a, t, h0, ith);
    __m512 vmax[ATT_GROUP];
    for (int k = 0; k < nh; k++) {
        const float *q = a->q + (size_t)t * (size_t)a->ldq + (size_t)(h0 + k) * (size_t)G.dk;
        for (int d = 0; d < G.dk; d += 16) {
            const __mmask16 m = att_mask(G.dk - d);
            _mm512_mask_storeu_ps(G.qr0 + (size_t)k * (size_t)b->max_head_dim + d, m,
                                  _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, q + d), _MM_FROUND_TO_NEAREST_INT)));
        }
        vmax[k] = _mm512_set1_ps(-INFINITY);
    }
    /* scores and their maxima */
    for (int32_t j = G.j0; j <= G.p; j += ATT_KEYS) {
        const int n = G.p - j + 1 < ATT_KEYS ? G.p - j + 1 : ATT_KEYS;
        const __mmask16 m = att_mask(n);
        att_widen(G.kc + (size_t)j * G.k_stride, G.k_stride, n, G.dk, G.kv, G.ld);
        for (int k = 0; k < nh; k++) {
            const float *qr = G.qr0 + (size_t)k * (size_t)b->max_head_dim;
            float sc[ATT_KEYS];
            switch (G.dk / VEC_STEP) {
            case 1: att_scores16(1, G.kv, G.ld, qr, G.dk, n, sc); break;
            case 2: att_scores16(2, G.kv, G.ld, qr, G.dk, n, sc); break;
            default: att_scores16(0, G.kv, G.ld, qr, G.dk, n, sc); break;
            }
            if (a->softcap > 0)
                for (int i = 0; i < n; i++)
                    sc[i] = tanhf(sc[i] * G.cap_inv) * a->softcap;
            const __m512 sv = _mm512_mul_ps(_mm512_loadu_ps(sc), _mm512_set1_ps(a->scale));
            _mm512_mask_storeu_ps(G.row0 + (size_t)k * (size_t)b->n_ctx + j, m, sv);
            vmax[k] = _mm512_mask_max_ps(vmax[k], m, vmax[k], sv);
        }
    }
    /* per head: exp(s - max) in ggml_soft_max's chunks of 16 cells (cell
     * indices multiples of 16, 0 outside the keys), each summed by
     * reduce16, the chunk sums in double (attention_one's order); then the
     * weights normalized and rounded to F16 */
    for (int k = 0; k < nh; k++) {
        float *row = G.row0 + (size_t)k * (size_t)b->n_ctx;
        const float max = _mm512_reduce_max_ps(vmax[k]);
        double sum = 0.0;
        for (int32_t c0 = G.j0 - G.j0 % ATT_KEYS; c0 <= G.p; c0 += ATT_KEYS) {
            const __mmask16 m = (__mmask16)(att_mask(G.p - c0 + 1) & ~att_mask(G.j0 - c0));
            const __m512 e = _mm512_maskz_mov_ps(
                m, att_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + c0), _mm512_set1_ps(max))));
            _mm512_mask_storeu_ps(row + c0, m, e);
            sum += (double)att_reduce16(e);
        }
        const float inv = (float)(1.0 / sum);
        for (int32_t j = G.j0; j <= G.p; j += ATT_KEYS) {
            const __mmask16 m = att_mask(G.p - j + 1);
            const __m512 w = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + j), _mm512_set1_ps(inv));
            _mm512_mask_storeu_ps(row + j, m, _mm512_cvtph_ps(_mm512_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT)));
        }
    }
    /* P.V, a block of 16 values at a time for every head */
    for (int32_t j = G.j0; j <= G.p; j += ATT_KEYS) {
        const int n = G.p - j + 1 < ATT_KEYS ? G.p - j + 1 : ATT_KEYS;
        att_widen(G.vc + (size_t)j * G.v_stride, G.v_stride, n, G.dv, G.kv, G.ld);
        for (int k = 0; k < nh; k++) {
            const float *w = G.row0 + (size_t)k * (size_t)b->n_ctx + j;
            float *out = a->out + (size_t)t * (size_t)a->ldo + (size_t)(h0 + k) * (size_t)G.dv;
            switch ((G.dv + 15) / 16) {
#define ATT_PV_CASE(NC)                                                                                                \
    case NC:                                                                                                           \
        att_pv(NC, G.kv, G.ld, w, n, G.dv, j == G.j0, out);                                                            \
        break;
                ATT_PV_CASE(1) ATT_PV_CASE(2) ATT_PV_CASE(3) ATT_PV_CASE(4) ATT_PV_CASE(5) ATT_PV_CASE(6)
                ATT_PV_CASE(7) ATT_PV_CASE(8) ATT_PV_CASE(9) ATT_PV_CASE(10) ATT_PV_CASE(11) ATT_PV_CASE(12)
                ATT_PV_CASE(13) ATT_PV_CASE(14) ATT_PV_CASE(15) ATT_PV_CASE(16)
#undef ATT_PV_CASE
            default:
                assert(0 && "head size above 256");
            }
        }
    }
}
#endif

typedef struct attention_simd_job {
    hk_backend *b;
    const hk_attention_args *a;
    atomic_long next;
} attention_simd_job;

static void attention_run_simd(void *arg, int ith, int nth)
{
    (void)nth;
    attention_simd_job *j = arg;
    const hk_attention_args *a = j->a;
#if HK_OPS_X86
    if (j->b->att_heads > 1 && a->kv_type == HK_TYPE_F16 &&
        (j->b->level == HK_CPU_AVX2 || a->head_dim_v <= 16 * ATT_MAX_CHUNKS)) {
        /* work items (token, KV head, up to ATT_GROUP of its query heads) */
        const int group = a->n_head / a->n_head_kv, parts = (group + ATT_GROUP - 1) / ATT_GROUP;
        const long n = (long)a->n_tok * a->n_head_kv * parts;
        for (long i; (i = atomic_fetch_add(&j->next, 1)) < n;) {
            const int t = (int)(i / ((long)a->n_head_kv * parts)), r = (int)(i % ((long)a->n_head_kv * parts));
            const int h0 = (r / parts) * group + (r % parts) * ATT_GROUP;
            const int nh = group - (r % parts) * ATT_GROUP < ATT_GROUP ? group - (r % parts) * ATT_GROUP : ATT_GROUP;
            if (j->b->level == HK_CPU_AVX2)
                attention_group_avx2_f16(j->b, a, t, h0, nh, ith);
            else
                attention_group_avx512_f16(j->b, a, t, h0, nh, ith);
        }
        return;
    }
#endif
    const long n = (long)a->n_tok * a->n_head;
#if !HK_OPS_X86
    /* elsewhere the reference's attention, in its one-token orders for a
     * batch too (not tinyBLAS's K.Q), so that a batch gives the numbers of
     * one token at a time */
    hk_attention_args one = *a;
    one.batched = false;
    a = &one;
#endif
    for (long i; (i = atomic_fetch_add(&j->next, 1)) < n;) {
#if HK_OPS_X86
        attention_one_simd(j->b, a, (int)(i / a->n_head), (int)(i % a->n_head), ith);
#else
        attention_one(j->b, a, (int)(i / a->n_head), (int)(i % a->n_head), ith);
#endif
    }
}

void hk_op_attention(hk_backend *b, const hk_attention_args *a)
{
    assert(a->pos0 + a->n_tok <= b->n_ctx && a->head_dim_k <= b->max_head_dim && a->head_dim_v <= b->max_head_dim);
    assert(a->n_head % a->n_head_kv == 0);
    if (b->level == HK_CPU_SCALAR) {
        attention_job j = {b, a};
        hk_pool_run(b->pool, attention_run, &j);
        return;
    }
    attention_simd_job j = {.b = b, .a = a};
    atomic_init(&j.next, 0);
    hk_pool_run(b->pool, attention_run_simd, &j);
}

/* ---------------------------------------------------------------- per-row ops */

void hk_op_rms_norm(const float *x, int64_t ldx, float *y, int64_t ldy, const float *w, int n_tok, int64_t n,
                    float eps)
{
    for (int t = 0; t < n_tok; t++) {
        const float *xr = x + (size_t)t * (size_t)ldx;
        float *yr = y + (size_t)t * (size_t)ldy;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)(xr[i] * xr[i]);
        const float mean = (float)(sum / (double)n);
        const float scale = 1.0f / sqrtf(mean + eps);
        /* ggml_rms_norm then ggml_mul: two roundings, kept apart */
        for (int64_t i = 0; i < n; i++) {
            float v = xr[i] * scale;
            yr[i] = v * w[i];
        }
    }
}

void hk_op_rope(hk_backend *b, const hk_rope_args *r, float *x, int64_t ldx, int n_tok, int n_head, int head_dim,
                const int32_t *pos)
{
    const int n_rot = r->n_rot;
    const float theta_scale = powf(r->freq_base, -2.0f / (float)n_rot);
    float *cache = b->rope_cache;
    for (int t = 0; t < n_tok; t++) {
        /* ggml_rope_cache_init: the angle advances by a float multiply per
         * pair, so it carries float rounding that an exact power would not */
        float theta = (float)pos[t];
        for (int i0 = 0; i0 < n_rot; i0 += 2) {
            const float ff = r->factors ? r->factors[i0 / 2] : 1.0f;
            const float th = r->freq_scale * (theta / ff);
            cache[i0] = cosf(th);
            cache[i0 + 1] = sinf(th);
            theta *= theta_scale;
        }
        float *row = x + (size_t)t * (size_t)ldx;
        for (int h = 0; h < n_head; h++) {
            float *v = row + (size_t)h * (size_t)head_dim;
            for (int i0 = 0; i0 < n_rot; i0 += 2) {
                const float c = cache[i0], s = cache[i0 + 1];
                float *a, *bb;
                if (r->neox) {
                    a = v + i0 / 2;
                    bb = v + i0 / 2 + n_rot / 2;
                } else {
                    a = v + i0;
                    bb = v + i0 + 1;
                }
                const float x0 = *a, x1 = *bb;
                *a = x0 * c - x1 * s;
                *bb = x0 * s + x1 * c;
            }
        }
    }
}

void hk_op_add(float *y, int64_t ldy, const float *x, int64_t ldx, int n_tok, int64_t n)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++)
            y[(size_t)t * (size_t)ldy + (size_t)i] += x[(size_t)t * (size_t)ldx + (size_t)i];
}

void hk_op_scale(float *y, int64_t ldy, int n_tok, int64_t n, float s)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++)
            y[(size_t)t * (size_t)ldy + (size_t)i] *= s;
}

void hk_op_softcap(float *y, int64_t ldy, int n_tok, int64_t n, float c)
{
    const float inv = 1.0f / c;
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) {
            float *v = &y[(size_t)t * (size_t)ldy + (size_t)i];
            *v = tanhf(*v * inv) * c;
        }
}

float hk_silu(float x) { return x / (1.0f + expf(-x)); }

/* ggml's silu of element i of a row of n, as Feb 2025 llama.cpp on AVX-512
 * computes it (the fixtures' goldens): ggml_v_silu, with its expf
 * (ggml_expf above), on the 16-element steps of the row, and the scalar
 * ggml_silu_f32 (libm's expf) on the last n % 16; shaders/eltwise.comp
 * takes ggml_expf too.  Against libm's expf everywhere (which cannot be
 * vectorized bit for bit) test_parity moves a few comparisons either way,
 * by as much as a last-bit change of an activation can when it flips its
 * 8-bit quantization (phi3-Q4_K_M, F32 cache: 1.7e-3 -> 2e-7 of the golden;
 * llama-tied-Q3_K_M: 1.6e-7 -> 4.7e-4); the bit-level counts stay 39 of 79
 * (scalar) and 24 (AVX-512). */
static inline float silu_at(float x, int64_t i, int64_t n)
{
    return i < n / 16 * 16 ? x / (1.0f + ggml_expf(-x)) : hk_silu(x);
}

static void silu_mul_range(float *g, const float *u, int64_t lo, int64_t hi, int64_t n)
{
    for (int64_t i = lo; i < hi; i++)
        g[i] = silu_at(g[i], i, n) * u[i];
}

#if HK_OPS_X86
/* silu_mul_range, eight at a time where silu_at takes ggml_expf:
 * ggml_expf's steps in vectors (FMA for fmaf), and its scalbnf as a product
 * with 2^n, which is exact (so the same bits) while the result is a normal
 * float: |n| <= 125 in every lane, else those eight go through silu_at. */
HK_TARGET_AVX2 static void silu_mul_avx2(float *g, const float *u, int64_t lo, int64_t hi, int64_t row_n)
{
    const __m256 r = _mm256_set1_ps(0x1.8p23f), one = _mm256_set1_ps(1.0f);
    const __m256 lim = _mm256_set1_ps(125.0f), sign = _mm256_set1_ps(-0.0f);
    const int64_t v_end = hi < row_n / 16 * 16 ? hi : row_n / 16 * 16;
    int64_t i = lo;
    for (; i + 8 <= v_end; i += 8) {
        const __m256 xv = _mm256_loadu_ps(g + i), x = _mm256_xor_ps(xv, sign); /* e^-x */
        const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
        const __m256 nn = _mm256_sub_ps(z, r);
        const __m256 b = _mm256_fnmadd_ps(nn, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                          _mm256_fnmadd_ps(nn, _mm256_set1_ps(0x1.62e4p-1f), x));
        if (_mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, nn), lim, _CMP_GT_OQ))) {
            silu_mul_range(g, u, i, i + 8, row_n);
            continue;
        }
        const __m256 uu = _mm256_mul_ps(b, b);
        const __m256 j = _mm256_fmadd_ps(
            _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), uu,
                            _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
            uu, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, one));
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nn), _mm256_set1_epi32(127)), 23);
        const __m256 ex = _mm256_mul_ps(j, _mm256_castsi256_ps(e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(xv, _mm256_add_ps(one, ex)), _mm256_loadu_ps(u + i)));
    }
    silu_mul_range(g, u, i, hi, row_n);
}
#endif

/* ggml's CPU GELU reads a 65536-entry table indexed by the F16 bits of x and
 * holding F16 values, so both the input and the output are rounded to half
 * precision; outside (-10, 10) it passes x through or returns 0. */
float hk_gelu_ggml(float x)
{
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const float h = hk_f16_to_f32(hk_f32_to_f16(x));
    const float g = 0.5f * h * (1.0f + tanhf(sqrt_2_over_pi * h * (1.0f + coef_a * h * h)));
    return hk_f16_to_f32(hk_f32_to_f16(g));
}

void hk_op_silu_mul(float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n)
{
    for (int t = 0; t < n_tok; t++)
        silu_mul_range(g + (size_t)t * (size_t)ldg, u + (size_t)t * (size_t)ldu, 0, n, n);
}

void hk_op_gelu_mul(float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n)
{
    for (int t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) {
            float *v = &g[(size_t)t * (size_t)ldg + (size_t)i];
            *v = hk_gelu_ggml(*v) * u[(size_t)t * (size_t)ldu + (size_t)i];
        }
}

typedef struct ffn_act_job {
    bool gelu;
    bool simd;   /* the SIMD level: silu_mul_avx2 (the same numbers) */
    float *g;
    int64_t ldg;
    const float *u;
    int64_t ldu;
    int n_tok;
    int64_t n;
} ffn_act_job;

static void ffn_act_run(void *arg, int ith, int nth)
{
    const ffn_act_job *j = arg;
    long lo, hi;
    hk_split((long)j->n, ith, nth, &lo, &hi);
    if (lo >= hi)
        return;
    if (j->gelu) {
        hk_op_gelu_mul(j->g + lo, j->ldg, j->u + lo, j->ldu, j->n_tok, hi - lo);
        return;
    }
    for (int t = 0; t < j->n_tok; t++) {
        float *g = j->g + (size_t)t * (size_t)j->ldg;
        const float *u = j->u + (size_t)t * (size_t)j->ldu;
#if HK_OPS_X86
        if (j->simd) {
            silu_mul_avx2(g, u, lo, hi, j->n);
            continue;
        }
#endif
        silu_mul_range(g, u, lo, hi, j->n);
    }
}

void hk_op_ffn_act(hk_backend *b, bool gelu, float *g, int64_t ldg, const float *u, int64_t ldu, int n_tok, int64_t n)
{
    ffn_act_job j = {gelu, b->level != HK_CPU_SCALAR, g, ldg, u, ldu, n_tok, n};
    hk_pool_run(b->pool, ffn_act_run, &j);
}

void hk_op_get_row(const hk_weight *w, int64_t row, float *y)
{
    hk_dequantize_row(w->type, w->data + (size_t)row * w->row_bytes, y, w->n_in);
}
