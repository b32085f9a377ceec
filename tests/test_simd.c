/* SIMD row kernels (engine/cpu) against the scalar ones (engine/quant*.c).
 *
 * For every weight type and every kernel level this CPU can run (forced
 * through hk_quant_ops_level, not only the best one):
 *
 * 1. vec_dot on random weights quantized by the scalar reference code and
 *    random activations quantized by the scalar act code: one block, odd
 *    block counts, rows of 4096 and 11008.  The integer sums inside a block
 *    are exact in both implementations, so the two results differ only by
 *    float rounding in the per-block products and the accumulation across
 *    blocks.  Recursive summation of N terms t_k in float errs by at most
 *    (N-1)u sum|t_k| (u = 2^-24, Higham, ch. 4), each term's product chain
 *    adds a few u|t_k|, and a lane-wise SIMD sum is N/lanes-term recursive
 *    sums plus a log-depth reduction.  Both sides together therefore stay
 *    within 2u(N + 16) sum|t_k|, where N is the number of blocks (quantized
 *    types: the scalar code keeps one running sum) or n/8 (float types: the
 *    scalar code sums in double, the SIMD code in >= 8 float lanes).
 *    sum|t_k| is bounded by sum_i (|w_i| + 2R) |a_i| over the dequantized
 *    rows: R = 0 for symmetric formats (every term is a sum of w_i a_i); for
 *    formats with a minimum (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K), where the block
 *    splits into a scale part and a min part that may cancel, each part is
 *    at most (|w_i| + R)|a_i| with R the block's largest |w_i| (the
 *    reference quantizers put the block minimum on quant 0).
 * 2. act_from_float: Q8_0/Q8_1 at the SIMD levels bit-exact with a scalar
 *    transcription of x86 llama.cpp's quantize_row_q8_0/q8_1 (scale 127/amax,
 *    round half to even), including exact ties where that differs from the
 *    generic code; Q8_K, F16 and BF16 bit-exact with the scalar functions.
 * 3. to_float bit-exact with the scalar dequantizers (reference-quantized
 *    rows and random bytes; every F16 and BF16 bit pattern).
 * 4. HARK_CPU=scalar caps the active level; the AVX-512 table a CPU without
 *    VNNI and BF16 would get is tested too, where this CPU has AVX-512.
 *
 * `test_simd --bench` instead times a 4096 x 4096 matrix-vector product row
 * by row per type and level and prints GB/s of weight bytes (not a test). */
#include "check.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "ops.h"
#include "quant.h"
#include "threadpool.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const hk_type weight_types[] = {
    HK_TYPE_F32, HK_TYPE_F16, HK_TYPE_BF16, HK_TYPE_Q8_0, HK_TYPE_Q4_0, HK_TYPE_Q4_1, HK_TYPE_Q5_0,
    HK_TYPE_Q5_1, HK_TYPE_Q2_K, HK_TYPE_Q3_K, HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K,
};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

/* ---------------------------------------------------------------- random data */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_u64(void)
{
    /* splitmix64: fast, and good enough to make test data */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_uniform(void)
{
    return (float)((rng_u64() >> 40) * (1.0 / 16777216.0));
}

static float rng_normal(void)
{
    const float u1 = rng_uniform() + 1e-7f, u2 = rng_uniform();
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

/* Rows of a few shapes: plain normal, scaled with outliers, one-sided. */
static void fill_row(float *x, int64_t n, int kind)
{
    for (int64_t i = 0; i < n; i++) {
        switch (kind % 3) {
        case 0: x[i] = rng_normal(); break;
        case 1: x[i] = 0.02f * rng_normal() * ((rng_u64() & 63) == 0 ? 30.0f : 1.0f); break;
        default: x[i] = 0.5f + rng_uniform(); break;
        }
    }
}

/* ---------------------------------------------------------------- helpers */

static size_t row_bytes(hk_type t, int64_t n)
{
    return hk_row_size(t, n);
}

static bool has_min(hk_type t)
{
    return t == HK_TYPE_Q4_1 || t == HK_TYPE_Q5_1 || t == HK_TYPE_Q2_K || t == HK_TYPE_Q4_K || t == HK_TYPE_Q5_K;
}

static bool is_float_type(hk_type t)
{
    return t == HK_TYPE_F32 || t == HK_TYPE_F16 || t == HK_TYPE_BF16;
}

/* Bound on |simd - scalar| derived in the header comment. */
static double dot_tolerance(hk_type t, int64_t n, const float *w, const float *a)
{
    const int64_t bs = hk_type_traits_of(t)->block_size;
    double mag = 0;
    for (int64_t b = 0; b < n; b += bs) {
        double r = 0;
        if (has_min(t))
            for (int64_t i = b; i < b + bs; i++)
                r = fmax(r, fabs(w[i]));
        for (int64_t i = b; i < b + bs; i++)
            mag += (fabs(w[i]) + 2 * r) * fabs(a[i]);
    }
    const double terms = is_float_type(t) ? (double)n / 8 : (double)(n / bs);
    return 2.0 * ldexp(1.0, -24) * (terms + 16) * mag;
}

/* ---------------------------------------------------------------- 1. vec_dot */

static void test_vec_dot(const char *label, const hk_quant_ops *simd, hk_type t)
{
    const hk_quant_ops *ref = hk_quant_ops_of(t);
    const hk_type vt = hk_type_traits_of(t)->vec_dot_type;
    const hk_quant_ops *act = hk_quant_ops_of(vt);
    const int64_t bs = hk_type_traits_of(t)->block_size;
    int64_t sizes[8];
    int ns = 0;
    if (bs == 1) {
        const int64_t fs[] = {1, 7, 31, 33, 100, 257, 4096, 11008};
        for (int k = 0; k < 8; k++)
            sizes[ns++] = fs[k];
    } else {
        const int64_t blocks[] = {1, 3, 7, 13};
        for (int k = 0; k < 4; k++)
            sizes[ns++] = blocks[k] * bs;
        sizes[ns++] = 4096;
        sizes[ns++] = 11008;
    }
    for (int s = 0; s < ns; s++) {
        const int64_t n = sizes[s];
        if (n % bs)
            continue;
        float *wf = malloc(sizeof(float) * n), *af = malloc(sizeof(float) * n);
        float *wd = malloc(sizeof(float) * n), *ad = malloc(sizeof(float) * n);
        void *wq = malloc(row_bytes(t, n)), *aq = malloc(row_bytes(vt, n));
        for (int kind = 0; kind < 3; kind++) {
            fill_row(wf, n, kind);
            fill_row(af, n, kind + 1);
            ref->from_float(wf, wq, n);
            act->act_from_float(af, aq, n);
            ref->to_float(wq, wd, n);
            act->to_float(aq, ad, n);
            const double want = ref->vec_dot(n, wq, aq);
            const double got = simd->vec_dot(n, wq, aq);
            const double tol = dot_tolerance(t, n, wd, ad);
            CHECK(fabs(got - want) <= tol, "%s %s n=%lld kind %d: simd %.9g scalar %.9g diff %.3g > tol %.3g",
                  label, hk_type_name(t), (long long)n, kind, got, want, fabs(got - want), tol);
        }
        free(wf), free(af), free(wd), free(ad), free(wq), free(aq);
    }
}

/* ---------------------------------------------------------------- 1b. vec_dot4 */

/* The four-token kernels against the same level's vec_dot, bit for bit (the
 * prompt path relies on batch and one-token results being the same), on
 * sizes with and without a remainder of eight blocks, over 2048 blocks
 * (where the Q8_0-activation kernels hand the rows to vec_dot), with three
 * weight rows and the four activation rows at strides larger than a row,
 * asking for the weights ahead or not. */
static void test_vec_dot4(hk_cpu_level lvl, hk_type t)
{
    const hk_vec_dot4_fn dot4 = hk_vec_dot4_level(t, lvl);
    if (!dot4)
        return;
    const hk_quant_ops *ops = hk_quant_ops_level(t, lvl), *ref = hk_quant_ops_of(t);
    const hk_type vt = hk_type_traits_of(t)->vec_dot_type;
    const hk_quant_ops *act = hk_quant_ops_level(vt, lvl);
    const int64_t bs = hk_type_traits_of(t)->block_size;
    const int64_t blocks[] = {1, 3, 7, 8, 9, 13, 16, 28, 152, 2049};
    enum { NR = 3, LDY = NR + 2 };
    for (size_t s = 0; s < sizeof blocks / sizeof blocks[0]; s++) {
        const int64_t n = blocks[s] * bs;
        const size_t stride = row_bytes(vt, n) + 2 * row_bytes(vt, bs);
        const size_t ws = row_bytes(t, n) + row_bytes(t, bs);
        float *wf = malloc(sizeof(float) * n), *af = malloc(sizeof(float) * n);
        uint8_t *wq = calloc(NR, ws), *aq = malloc(stride * 4);
        for (int kind = 0; kind < 3; kind++) {
            for (int r = 0; r < NR; r++) {
                fill_row(wf, n, kind + 3 * r);
                ref->from_float(wf, wq + (size_t)r * ws, n);
            }
            for (int c = 0; c < 4; c++) {
                fill_row(af, n, kind + c);
                act->act_from_float(af, aq + (size_t)c * stride, n);
            }
            float out[4 * LDY];
            dot4(n, wq, ws, NR, aq, stride, out, LDY, kind == 1 ? 2048 : 0);
            for (int r = 0; r < NR; r++)
                for (int c = 0; c < 4; c++) {
                    const float want = ops->vec_dot(n, wq + (size_t)r * ws, aq + (size_t)c * stride);
                    CHECK(memcmp(&out[c * LDY + r], &want, sizeof want) == 0,
                          "%s %s vec_dot4 n=%lld kind %d weight row %d token %d: %.9g vs %.9g",
                          hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind, r, c, out[c * LDY + r], want);
                }
        }
        free(wf), free(af), free(wq), free(aq);
    }
}

/* ---------------------------------------------------------------- 1c. row-group kernels */

/* Rows placed so that the last one ends where a PROT_NONE page begins: a
 * kernel reading one byte past a row's end (a full-width load of the last
 * block) faults instead of passing. */
static uint8_t *guarded_alloc(size_t bytes, void **base, size_t *map_len)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t len = (bytes + page - 1) / page * page + page;
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    mprotect(m + len - page, page, PROT_NONE);
    *base = m;
    *map_len = len;
    return m + len - page - bytes;
}

/* hk_gemm_level kernels against the scalar vec_dot (tolerance as in 1.) and
 * against themselves: every (row, token) element of an nr x nc call is
 * bit-identical to the 1 x 1 call, which is what lets a batch give the
 * numbers of one token at a time.  The packed activations carry exactly the
 * quants and scales of the level's act_from_float (kernels.h layout). */
static void fill_act_edges(float *x, int64_t n, int kind);

static void test_gemm(hk_cpu_level lvl, hk_type t)
{
    const hk_gemm_kernel *g = hk_gemm_level(t, lvl);
    if (!g)
        return;
    const hk_quant_ops *ops = hk_quant_ops_level(t, lvl), *ref = hk_quant_ops_of(t);
    const hk_type vt = hk_type_traits_of(t)->vec_dot_type;
    CHECK(g->type == t && g->act_type == vt, "%s gemm %s: types", hk_cpu_level_name(lvl), hk_type_name(t));
    const hk_quant_ops *act = hk_quant_ops_level(vt, lvl), *act_ref = hk_quant_ops_of(vt);
    const int64_t bs = hk_type_traits_of(t)->block_size;
    /* the last five only for F16 and F32 (block size 1): whole 16-element
     * steps, after which a 4 x 4 call reduces its sixteen sums together
     * (896, 4864: qwen2.5-0.5b's rows), and 896 + 8 */
    const int64_t blocks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 28, 152, 16, 64, 896, 904, 4864};
    const size_t n_sizes = bs == 1 ? 17 : 12;
    for (size_t s = 0; s < n_sizes; s++) {
        const int64_t n = blocks[s] * bs;
        const size_t rb = row_bytes(t, n), ab = row_bytes(vt, n), pb = g->act_size(n);
        /* packed rows a little apart, as the backend's act buffer may lay them */
        const size_t stride = pb + 64;
        float *wf = malloc(sizeof(float) * n), *af = malloc(sizeof(float) * n * 4);
        float *wd = malloc(sizeof(float) * n), *ad = malloc(sizeof(float) * n);
        void *map = NULL;
        size_t map_len = 0;
        uint8_t *wq = guarded_alloc(rb * 4, &map, &map_len);
        if (!wq) {
            CHECK(false, "cannot map %zu bytes of guarded weights", rb * 4);
            break;
        }
        uint8_t *aq = malloc(ab * 4), *ap = malloc(stride * 4);
        for (int kind = 0; kind < 3; kind++) {
            for (int r = 0; r < 4; r++) {
                fill_row(wf, n, kind + r);
                ref->from_float(wf, wq + rb * (size_t)r, n);
            }
            for (int c = 0; c < 4; c++) {
                /* kind 2: an all-zero block, exact rounding ties, huge and tiny values */
                fill_act_edges(af + n * c, n, kind == 2 ? 2 : kind + c + 1);
                act->act_from_float(af + n * c, aq + ab * (size_t)c, n);
                memset(ap + stride * (size_t)c, 0xA5, stride);
                g->act_pack(af + n * c, ap + stride * (size_t)c, n);
            }
            /* the packed quants and scales are the act_from_float ones */
            if (vt == HK_TYPE_Q8_0) {
                int bad = 0;
                for (int c = 0; c < 4; c++) {
                    const hk_block_q8_0 *y = (const hk_block_q8_0 *)(const void *)(aq + ab * (size_t)c);
                    for (int64_t ib = 0; ib < (n / 32 + 3) / 4 * 4; ib++) {
                        const uint8_t *quad = ap + stride * (size_t)c + (size_t)(ib / 4) * HK_ACT_Q8P_QUAD_BYTES;
                        const int b = (int)(ib % 4);
                        const int8_t *lo = (const int8_t *)quad + 16 * b, *hi = lo + 64;
                        const int32_t *nsum = (const int32_t *)(const void *)(quad + 128);
                        const float *dl = (const float *)(const void *)(quad + 192);
                        const bool here = ib < n / 32;
                        for (int k = 0; k < 16; k++) {
                            bad += lo[k] != (here ? y[ib].qs[k] : 0);
                            bad += hi[k] != (here ? y[ib].qs[16 + k] : 0);
                        }
                        for (int l = 0; l < 4; l++) {
                            int sum = 0;
                            for (int k = 0; k < 4; k++)
                                sum += lo[4 * l + k] + hi[4 * l + k];
                            bad += nsum[4 * b + l] != -sum;
                            const float want = here ? hk_f16_to_f32(y[ib].d) : 0.0f;
                            bad += memcmp(&dl[4 * b + l], &want, sizeof want) != 0;
                        }
                    }
                }
                CHECK(bad == 0, "%s gemm %s n=%lld kind %d: %d packed activation values differ from act_from_float",
                      hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind, bad);
            }
            if (vt == HK_TYPE_F16) {
                int bad = 0;
                for (int c = 0; c < 4; c++)
                    for (int64_t i = 0; i < n; i++) {
                        const float got = ((const float *)(const void *)(ap + stride * (size_t)c))[i];
                        const float want = hk_f16_to_f32(((const uint16_t *)(const void *)(aq + ab * (size_t)c))[i]);
                        bad += memcmp(&got, &want, sizeof got) != 0;
                    }
                CHECK(bad == 0 && pb == sizeof(float) * (size_t)n,
                      "%s gemm %s n=%lld: %d packed activations are not act_from_float's", hk_cpu_level_name(lvl),
                      hk_type_name(t), (long long)n, bad);
            }
            if (vt == HK_TYPE_Q8_K)
                for (int c = 0; c < 4; c++)
                    CHECK(memcmp(ap + stride * (size_t)c, aq + ab * (size_t)c, ab) == 0 && pb == ab,
                          "%s gemm %s n=%lld: packed activations are not act_from_float's", hk_cpu_level_name(lvl),
                          hk_type_name(t), (long long)n);
            float one[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    float v[16];
                    g->gemm(n, wq + rb * (size_t)r, rb, 1, ap + stride * (size_t)c, stride, 1, v);
                    one[r][c] = v[0];
                    ref->to_float(wq + rb * (size_t)r, wd, n);
                    act_ref->to_float(aq + ab * (size_t)c, ad, n);
                    const double want = ops->vec_dot(n, wq + rb * (size_t)r, aq + ab * (size_t)c);
                    const double tol = dot_tolerance(t, n, wd, ad);
                    /* the edge rows' 3e30 makes an infinite F16 scale: both sides NaN;
                     * with F16's 896 and longer rows the sums overflow: the
                     * same infinity on both sides */
                    if (g->same_as_vec_dot) {
                        const float w1 = (float)want;
                        CHECK(memcmp(&v[0], &w1, sizeof w1) == 0, "%s gemm %s n=%lld kind %d (%d,%d): %.9g, vec_dot %.9g",
                              hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind, r, c, v[0], want);
                    }
                    CHECK(isnan(want) ? isnan(v[0]) : v[0] == want || fabs(v[0] - want) <= tol, "%s gemm %s n=%lld kind %d (%d,%d): %.9g vs vec_dot %.9g (tol %.3g)",
                          hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind, r, c, v[0], want, tol);
                }
            int differ = 0;
            for (int nr = 1; nr <= 4; nr++)
                for (int nc = 1; nc <= 4; nc++) {
                    /* the group ending at the last row: its loads end at the guard page */
                    const int r0 = 4 - nr;
                    float v[16];
                    g->gemm(n, wq + rb * (size_t)r0, rb, nr, ap, stride, nc, v);
                    for (int r = 0; r < nr; r++)
                        for (int c = 0; c < nc; c++)
                            differ += memcmp(&v[4 * c + r], &one[r0 + r][c], sizeof(float)) != 0;
                }
            CHECK(differ == 0, "%s gemm %s n=%lld kind %d: %d elements of multi-row/token calls differ from 1x1",
                  hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind, differ);
            /* engine/ops.c converts tiles of F16 rows to floats and runs the
             * F32 kernel on them for a batch: the F16 kernel's bits */
            const hk_gemm_kernel *g32 = hk_gemm_level(HK_TYPE_F32, lvl);
            if (t == HK_TYPE_F16 && g32) {
                float *w32 = malloc(sizeof(float) * (size_t)n * 4);
                for (int r = 0; r < 4; r++)
                    ref->to_float(wq + rb * (size_t)r, w32 + n * r, n);
                int panel_differ = 0;
                for (int nr = 1; nr <= 4; nr++)
                    for (int nc = 1; nc <= 4; nc++) {
                        float v[16];
                        g32->gemm(n, w32 + n * (4 - nr), sizeof(float) * (size_t)n, nr, ap, stride, nc, v);
                        for (int r = 0; r < nr; r++)
                            for (int c = 0; c < nc; c++)
                                panel_differ += memcmp(&v[4 * c + r], &one[4 - nr + r][c], sizeof(float)) != 0;
                    }
                CHECK(panel_differ == 0, "%s gemm F32 on F16 rows n=%lld kind %d: %d elements differ from gemm F16",
                      hk_cpu_level_name(lvl), (long long)n, kind, panel_differ);
                free(w32);
            }
        }
        free(wf), free(af), free(wd), free(ad), free(aq), free(ap);
        munmap(map, map_len);
    }
}

/* ---------------------------------------------------------------- 0. scalar Q8_0 quantizer */

/* hk_quantize_row_q8_0_ref rounds with integer steps and finds amax in
 * lanes (engine/quant.c) instead of ggml's roundf and sequential max: the
 * bytes must be ggml's, here written out as ggml writes them.  Blocks with
 * exact ties (amax 127: id 1), random values, zeros, a tiny amax (id is
 * infinite), infinities and NaNs. */
static void q8_0_ggml(const float *x, hk_block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / HK_QK8_0; i++) {
        float amax = 0.0f;
        for (int j = 0; j < HK_QK8_0; j++) {
            const float a = fabsf(x[i * HK_QK8_0 + j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = hk_f32_to_f16(d);
        for (int j = 0; j < HK_QK8_0; j++)
            y[i].qs[j] = (int8_t)roundf(x[i * HK_QK8_0 + j] * id);
    }
}

static void test_q8_0_ref(void)
{
    enum { NB = 64, N = NB * HK_QK8_0 };
    float *x = malloc(sizeof(float) * N);
    hk_block_q8_0 *got = malloc(sizeof(hk_block_q8_0) * NB), *want = malloc(sizeof(hk_block_q8_0) * NB);
    uint64_t st = 12345;
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < N; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            const int kind = (i / HK_QK8_0 + rep) % 8;
            const float u = (float)((st >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
            switch (kind) {
            case 0: x[i] = u; break;
            case 1: /* ties: id = 1, values k + 0.5 */
                x[i] = i % HK_QK8_0 == 0 ? 127.0f : (float)((int)(u * 126.0f)) + (u < 0 ? -0.5f : 0.5f);
                break;
            case 2: x[i] = 0.0f; break;
            case 3: x[i] = u * 1e-42f; break;
            case 4: x[i] = i % 7 == 0 ? INFINITY : u; break;
            case 5: x[i] = i % 11 == 3 ? NAN : u * 100.0f; break;
            case 6: x[i] = i % HK_QK8_0 == 5 ? 3e38f : u * 1e30f; break;
            default: x[i] = u * 1e-3f; break;
            }
        }
        hk_quantize_row_q8_0_ref(x, got, N);
        q8_0_ggml(x, want, N);
        CHECK(memcmp(got, want, sizeof(hk_block_q8_0) * NB) == 0, "scalar Q8_0 quantizer differs from ggml's (rep %d)",
              rep);
    }
    free(x), free(got), free(want);
}

/* ---------------------------------------------------------------- 5. backend ops */

/* The SIMD path of the backend (engine/ops.c: tiles, four-token kernels,
 * the F16 x float kernel, thread chunks, attention) against its scalar
 * reference on random data, with token counts that leave remainders of the
 * four-token step and row counts that leave partial tiles and chunks.
 * Matmul: the same activation quantization, so only summation order
 * differs (bound as for vec_dot, per element); and at the SIMD level a
 * batch equals its tokens one at a time, bit for bit, with 1 and 2 threads. */
/* n_tok 40: engine/ops.c's F16 batch path (a converted panel) starts at 32
 * tokens; n_in 4864: F16 activations of 40 tokens (760 KiB) then go
 * through in two blocks of tokens, as qwen2.5-0.5b's ffn_down's do.  The
 * bound against the reference is the one measured for n_in 768 (with
 * 4864 the Q8_0 activation roundings alone, which differ between the
 * levels, reach 3e-5), so the longer rows check the batch only against
 * one token at a time. */
static void test_backend_matmul_shape(hk_cpu_level lvl, hk_matmul_mode mode, int64_t n_in, int64_t n_out, int n_tok,
                                      bool vs_reference)
{
    const hk_type types[] = {HK_TYPE_Q4_0, HK_TYPE_Q5_0, HK_TYPE_Q8_0, HK_TYPE_Q2_K, HK_TYPE_Q3_K, HK_TYPE_Q4_K,
                             HK_TYPE_Q5_K, HK_TYPE_Q6_K, HK_TYPE_F16, HK_TYPE_BF16, HK_TYPE_F32};
    float *wf = malloc(sizeof(float) * (size_t)(n_in * n_out)), *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    float *want = malloc(sizeof(float) * (size_t)(n_out * n_tok)), *got = malloc(sizeof(float) * (size_t)(n_out * n_tok));
    float *one = malloc(sizeof(float) * (size_t)n_out);
    fill_row(wf, n_in * n_out, 0);
    fill_row(x, n_in * n_tok, 1);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const hk_type t = types[k];
        const size_t rb = row_bytes(t, n_in);
        uint8_t *wq = malloc(rb * (size_t)n_out);
        for (int64_t r = 0; r < n_out; r++) {
            if (t == HK_TYPE_F32)
                memcpy(wq + rb * (size_t)r, wf + r * n_in, rb);
            else
                hk_quantize_row_ref(t, wf + r * n_in, wq + rb * (size_t)r, n_in);
        }
        const hk_weight w = {t, wq, n_in, n_out, rb};
        for (int nth = 1; nth <= 2; nth++) {
            hk_pool *pool = hk_pool_new(nth);
            hk_cpu_level_set(HK_CPU_SCALAR);
            hk_backend *ref = hk_backend_new(pool, mode, n_in, n_tok, 16, 64, 64);
            hk_cpu_level_set(lvl);
            hk_backend *simd = hk_backend_new(pool, mode, n_in, n_tok, 16, 64, 64);
            const hk_matmul_out o_ref = {&w, want, n_out, NULL}, o_simd = {&w, got, n_out, NULL};
            hk_op_matmul(ref, n_tok, x, n_in, &o_ref, 1);
            hk_op_matmul(simd, n_tok, x, n_in, &o_simd, 1);
            double worst = 0, scale = 0;
            for (int64_t i = 0; i < n_out * n_tok; i++) {
                worst = fmax(worst, fabs((double)got[i] - want[i]));
                scale = fmax(scale, fabs((double)want[i]));
            }
            /* sums of n_in terms: a few float ulps of the largest output */
            CHECK(!vs_reference || worst <= 1e-5 * scale,
                  "%s matmul %s %s %lldx%lld, %d tokens, %d threads: max diff %.3g of %.3g",
                  hk_cpu_level_name(lvl), mode == HK_MATMUL_EXACT ? "exact" : "llamacpp", hk_type_name(t),
                  (long long)n_in, (long long)n_out, n_tok, nth, worst, scale);
            /* batches in tiles give the scalar vec_dot's numbers instead
             * (kernels.h hk_tile_gemm), against the level's activations;
             * the K-quants those of their tiles */
            const hk_tile_kind kind = hk_tile_active();
            const bool tile = lvl == HK_CPU_AVX512 && mode == HK_MATMUL_LLAMACPP && kind != HK_TILE_NONE &&
                              hk_tile_has_type(t) && n_tok >= hk_tile_min_tokens(kind, t);
            int differ = 0;
            for (int tk = 0; tk < n_tok; tk++) {
                const float *xt = x + (size_t)tk * (size_t)n_in;
                if (tile) {
                    const hk_type vt = hk_type_traits_of(t)->vec_dot_type;
                    const size_t ab = row_bytes(vt, n_in);
                    uint8_t *aq = malloc(ab);
                    hk_quant_ops_level(vt, lvl)->act_from_float(xt, aq, n_in);
                    if (t == HK_TYPE_Q4_0 || t == HK_TYPE_Q5_0 || t == HK_TYPE_Q8_0) {
                        for (int64_t r = 0; r < n_out; r++)
                            one[r] = hk_quant_ops_of(t)->vec_dot(n_in, wq + rb * (size_t)r, aq);
                    } else {
#if defined(__x86_64__) || defined(__i386__)
                        /* the K-quant tiles keep their own float order (test_tiles):
                         * the token alone in a tile */
                        uint8_t *pk = calloc(1, hk_tile_act_bytes(vt, n_in, 1));
                        void *scr = malloc(hk_tile_scratch_bytes(n_in));
                        hk_tile_act_put(vt, aq, n_in, 0, pk);
                        hk_tile_gemm(kind, t, n_in, wq, rb, n_out, pk, 1, one, (size_t)n_out, scr);
                        free(pk), free(scr);
#endif
                    }
                    free(aq);
                } else {
                    const hk_matmul_out o1 = {&w, one, n_out, NULL};
                    hk_op_matmul(simd, 1, xt, n_in, &o1, 1);
                }
                differ += memcmp(one, got + (size_t)tk * (size_t)n_out, sizeof(float) * (size_t)n_out) != 0;
            }
            CHECK(differ == 0, "%s matmul %s %s %lldx%lld, %d threads: %d of %d batch rows differ from %s",
                  hk_cpu_level_name(lvl), mode == HK_MATMUL_EXACT ? "exact" : "llamacpp", hk_type_name(t),
                  (long long)n_in, (long long)n_out, nth, differ, n_tok,
                  tile ? "the scalar vec_dot (tiles)" : "one-token results");
            hk_backend_free(ref);
            hk_backend_free(simd);
            hk_pool_free(pool);
        }
        free(wq);
    }
    free(wf), free(x), free(want), free(got), free(one);
}

static void test_backend_matmul(hk_cpu_level lvl, hk_matmul_mode mode)
{
    test_backend_matmul_shape(lvl, mode, 512 + 256, 75, 9, true);
    test_backend_matmul_shape(lvl, mode, 512 + 256, 75, 40, true);
    test_backend_matmul_shape(lvl, mode, 4864, 21, 40, false);
}

/* Attention: F16 and F32 caches, grouped heads, a window, a soft-cap, head
 * sizes with and without a remainder of the 8-float step.  Both paths round
 * Q and P to F16 against an F16 cache; a one-ulp order difference can flip
 * one such rounding (2^-11 of a probability), so the bound is 2e-3 of the
 * largest |V|.  And one token at a time (generation) on the SIMD path must
 * give the numbers of that token's row in the batch, bit for bit: a batch
 * evaluates the prompt that generation then continues. */
static void test_backend_attention(hk_cpu_level lvl)
{
    /* head sizes: 64 and 128 (one and two 64-element groups of the F16
     * dot product, Q held in registers on AVX-512), 20 (leftovers only), 96
     * (a group and leftovers), 256 (four groups); 4 query heads on 2 KV
     * heads, or 20 on one (AVX-512 and AVX2 take the query heads of a KV head 8
     * at a time: 8 + 8 + 4) */
    const int n_ctx = 40, n_tok = 7;
    const int dims[] = {64, 20, 128, 96, 256};
    for (size_t di = 0; di < 5; di++)
        for (int f16 = 0; f16 <= 1; f16++)
            for (int variant = 0; variant < 4; variant++) {
                const int hd = dims[di];
                const int n_head = variant == 3 ? 20 : 4, n_head_kv = variant == 3 ? 1 : 2;
                const size_t kv_n = (size_t)n_ctx * (size_t)n_head_kv * (size_t)hd;
                float *kf = malloc(sizeof(float) * kv_n), *vf = malloc(sizeof(float) * kv_n);
                uint16_t *kh = malloc(2 * kv_n), *vh = malloc(2 * kv_n);
                float *q = malloc(sizeof(float) * (size_t)(n_tok * n_head * hd));
                float *want = malloc(sizeof(float) * (size_t)(n_tok * n_head * hd));
                float *got = malloc(sizeof(float) * (size_t)(n_tok * n_head * hd));
                fill_row(kf, (int64_t)kv_n, 0);
                fill_row(vf, (int64_t)kv_n, 0);
                fill_row(q, n_tok * n_head * hd, 0);
                double vmax = 0;
                for (size_t i = 0; i < kv_n; i++) {
                    kh[i] = hk_f32_to_f16(kf[i]);
                    vh[i] = hk_f32_to_f16(vf[i]);
                    vmax = fmax(vmax, fabs(vf[i]));
                }
                hk_attention_args a = {
                    .n_tok = n_tok, .pos0 = n_ctx - n_tok, .n_head = n_head, .n_head_kv = n_head_kv,
                    .head_dim_k = hd, .head_dim_v = hd, .scale = 1.0f / sqrtf((float)hd),
                    .softcap = variant == 2 ? 5.0f : 0.0f, .window = variant == 1 ? 9 : 0, .batched = true,
                    .kv_type = f16 ? HK_TYPE_F16 : HK_TYPE_F32, .k = f16 ? (const void *)kh : (const void *)kf,
                    .v = f16 ? (const void *)vh : (const void *)vf, .q = q, .ldq = n_head * hd,
                    .ldo = n_head * hd,
                };
                hk_pool *pool = hk_pool_new(2);
                hk_cpu_level_set(HK_CPU_SCALAR);
                hk_backend *ref = hk_backend_new(pool, HK_MATMUL_LLAMACPP, 64, 8, n_ctx, hd, hd);
                hk_cpu_level_set(lvl);
                hk_backend *simd = hk_backend_new(pool, HK_MATMUL_LLAMACPP, 64, 8, n_ctx, hd, hd);
                a.out = want;
                hk_op_attention(ref, &a);
                a.out = got;
                hk_op_attention(simd, &a);
                double worst = 0;
                for (int i = 0; i < n_tok * n_head * hd; i++)
                    worst = fmax(worst, fabs((double)got[i] - want[i]));
                CHECK(worst <= 2e-3 * vmax, "%s attention hd %d %s variant %d: max diff %.3g (|V| <= %.3g)",
                      hk_cpu_level_name(lvl), hd, f16 ? "F16" : "F32", variant, worst, vmax);
                for (int t = 0; t < n_tok; t++) {
                    hk_attention_args a1 = a;
                    a1.n_tok = 1;
                    a1.pos0 = a.pos0 + t;
                    a1.batched = false;
                    a1.q = q + (size_t)t * (size_t)a.ldq;
                    a1.out = want + (size_t)t * (size_t)a.ldo;
                    hk_op_attention(simd, &a1);
                }
                CHECK(memcmp(want, got, sizeof(float) * (size_t)(n_tok * n_head * hd)) == 0,
                      "%s one-token attention hd %d %s variant %d differs from the batch", hk_cpu_level_name(lvl), hd,
                      f16 ? "F16" : "F32", variant);
                hk_backend_free(ref);
                hk_backend_free(simd);
                hk_pool_free(pool);
                free(kf), free(vf), free(kh), free(vh), free(q), free(want), free(got);
            }
}

/* ---------------------------------------------------------------- 2. activations */

/* x86 llama.cpp's quantize_row_q8_0/q8_1 (AVX2/AVX-512 builds), element by
 * element: amax over |x|, d = amax/127, multiplier 127/amax, rintf (round
 * half to even in the default mode). */
static void x86_q8_block(const float *x, int8_t *q, float *d_out)
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax)
            amax = fabsf(x[j]);
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    for (int j = 0; j < 32; j++)
        q[j] = (int8_t)(int)rintf(x[j] * id);
    *d_out = amax / 127.f;
}

static void x86_quantize_q8_0(const float *x, void *dst, int64_t n)
{
    hk_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++) {
        float d;
        x86_q8_block(x + 32 * i, y[i].qs, &d);
        y[i].d = hk_f32_to_f16(d);
    }
}

static void x86_quantize_q8_1(const float *x, void *dst, int64_t n)
{
    hk_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / 32; i++) {
        float d;
        x86_q8_block(x + 32 * i, y[i].qs, &d);
        int sum = 0;
        for (int j = 0; j < 32; j++)
            sum += y[i].qs[j];
        y[i].d = hk_f32_to_f16(d);
        y[i].s = hk_f32_to_f16(d * (float)sum);
    }
}

/* Rows that exercise the edges: random, an all-zero block, exact ties after
 * scaling (amax 127 makes the multiplier 1, so 2.5 must become 2 and -3.5
 * -4), equal maxima of opposite sign (Q8_K takes the first one's sign),
 * tiny and huge magnitudes. */
static void fill_act_edges(float *x, int64_t n, int kind)
{
    fill_row(x, n, kind);
    if (kind != 2 || n < 512)
        return;
    memset(x, 0, 32 * sizeof(float));
    x[32] = 127.0f;
    for (int j = 33; j < 64; j++)
        x[j] = (float)(j - 48) + 0.5f;
    x[256] = -1000.0f, x[300] = 1000.0f;
    x[64] = 1e-30f, x[96] = 3e30f;
}

/* hk_op_ffn_act's silu at a SIMD level (vectors where ggml's silu takes
 * ggml_v_expf) against the scalar hk_op_silu_mul, bit for bit: two tokens
 * of rows whose length leaves a tail of 1-15, values from tiny to beyond
 * the range where e^-x is a normal float (those go through the scalar
 * code), both threads' column shares. */
static void test_silu(hk_cpu_level lvl)
{
    const int64_t lens[] = {1, 15, 16, 17, 40, 72, 4864, 4871};
    hk_pool *pool = hk_pool_new(2);
    hk_cpu_level_set(lvl);
    hk_backend *b = hk_backend_new(pool, HK_MATMUL_LLAMACPP, 64, 8, 16, 64, 64);
    CHECK(pool && b, "silu %s: cannot make a backend", hk_cpu_level_name(lvl));
    for (size_t k = 0; b && k < sizeof lens / sizeof lens[0]; k++) {
        const int64_t n = lens[k], ld = n + 3;
        float *g = malloc(sizeof(float) * (size_t)(2 * ld)), *want = malloc(sizeof(float) * (size_t)(2 * ld));
        float *u = malloc(sizeof(float) * (size_t)(2 * ld));
        fill_row(g, 2 * ld, 0);
        fill_row(u, 2 * ld, 0);
        for (int64_t i = 0; i < 2 * ld; i++) {
            const float big[] = {1e-30f, -3e-8f, 90.0f, -90.0f, 87.5f, -104.0f, 150.0f, -200.0f, 30.0f, -30.0f};
            g[i] = i % 13 == 5 ? big[(i / 13) % 10] : g[i] * (float)(1 + i % 7) * 3.0f;
        }
        memcpy(want, g, sizeof(float) * (size_t)(2 * ld));
        hk_op_silu_mul(want, ld, u, ld, 2, n);
        hk_op_ffn_act(b, false, g, ld, u, ld, 2, n);
        int bad = 0;
        for (int t = 0; t < 2; t++)
            for (int64_t i = 0; i < n; i++) {
                const float x = g[t * ld + i], y = want[t * ld + i];
                bad += memcmp(&x, &y, sizeof x) != 0;
            }
        CHECK(bad == 0, "silu %s n=%lld: %d of %lld values differ from the scalar op", hk_cpu_level_name(lvl),
              (long long)n, bad, (long long)(2 * n));
        free(g);
        free(want);
        free(u);
    }
    hk_backend_free(b);
    hk_pool_free(pool);
}

static void test_act(hk_cpu_level lvl)
{
    const int64_t sizes[] = {256, 768, 4096, 11008};
    for (int s = 0; s < 4; s++) {
        const int64_t n = sizes[s];
        float *x = malloc(sizeof(float) * n);
        uint8_t *want = malloc(hk_row_size(HK_TYPE_F32, n)), *got = malloc(hk_row_size(HK_TYPE_F32, n));
        for (int kind = 0; kind < 3; kind++) {
            fill_act_edges(x, n, kind);
            const hk_type types[] = {HK_TYPE_Q8_0, HK_TYPE_Q8_1, HK_TYPE_Q8_K, HK_TYPE_F16, HK_TYPE_BF16, HK_TYPE_F32};
            for (int k = 0; k < 6; k++) {
                const hk_type t = types[k];
                const size_t bytes = hk_row_size(t, n);
                if (!bytes)
                    continue;
                if (lvl != HK_CPU_SCALAR && t == HK_TYPE_Q8_0)
                    x86_quantize_q8_0(x, want, n);
                else if (lvl != HK_CPU_SCALAR && t == HK_TYPE_Q8_1)
                    x86_quantize_q8_1(x, want, n);
                else
                    hk_quant_ops_of(t)->act_from_float(x, want, n);
                memset(got, 0xAB, bytes);
                hk_quant_ops_level(t, lvl)->act_from_float(x, got, n);
                if (lvl != HK_CPU_SCALAR && t == HK_TYPE_Q8_0 && kind == 2 && n >= 512) {
                    /* the tie block must tell x86 rounding from the generic
                     * code, or this test could not see the difference */
                    hk_block_q8_0 generic[2];
                    hk_quantize_row_q8_0_ref(x + 32, generic, 32);
                    CHECK(memcmp(generic, want + sizeof(hk_block_q8_0), sizeof(hk_block_q8_0)) != 0,
                          "tie block quantizes the same both ways");
                }
                size_t at = 0;
                while (at < bytes && want[at] == got[at])
                    at++;
                CHECK(at == bytes, "%s act %s n=%lld kind %d: first differing byte %zu of %zu",
                      hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind, at, bytes);
            }
        }
        free(x), free(want), free(got);
    }
    /* F16/BF16 special values: subnormals, overflow, infinities, NaN
     * (which must stay NaN; the scalar code quiets it, F16C keeps the payload) */
    const float special[16] = {0.0f, -0.0f, 1e-8f, -6e-5f, 65504.0f, 65520.0f, 1e6f, -1e6f,
                               INFINITY, -INFINITY, 3.4e38f, 1e-40f, -1e-45f, 0.33333334f, 2049.0f, 1.0f / 3e4f};
    for (int k = 0; k < 2; k++) {
        const hk_type t = k ? HK_TYPE_BF16 : HK_TYPE_F16;
        uint16_t want[16], got[16];
        hk_quant_ops_of(t)->act_from_float(special, want, 16);
        hk_quant_ops_level(t, lvl)->act_from_float(special, got, 16);
        CHECK(memcmp(want, got, sizeof want) == 0, "%s act %s special values", hk_cpu_level_name(lvl),
              hk_type_name(t));
        const float nan_in[8] = {NAN, -NAN, 1, 2, 3, 4, 5, 6};
        hk_quant_ops_level(t, lvl)->act_from_float(nan_in, got, 8);
        const float back = k ? hk_bf16_to_f32(got[0]) : hk_f16_to_f32(got[0]);
        CHECK(isnan(back), "%s act %s NaN stays NaN", hk_cpu_level_name(lvl), hk_type_name(t));
    }
}

/* ---------------------------------------------------------------- 3. to_float */

/* Byte offsets of the F16 scale fields, which must stay finite in random
 * blocks (a NaN scale has no single bit pattern to agree on). */
static int half_fields(hk_type t, int off[2])
{
    switch (t) {
    case HK_TYPE_Q4_0: case HK_TYPE_Q5_0: case HK_TYPE_Q8_0: off[0] = 0; return 1;
    case HK_TYPE_Q4_1: case HK_TYPE_Q5_1: case HK_TYPE_Q4_K: case HK_TYPE_Q5_K: off[0] = 0, off[1] = 2; return 2;
    case HK_TYPE_Q2_K: off[0] = 80, off[1] = 82; return 2;
    case HK_TYPE_Q3_K: off[0] = 108; return 1;
    case HK_TYPE_Q6_K: off[0] = 208; return 1;
    default: return 0;
    }
}

static void test_to_float(hk_cpu_level lvl, hk_type t)
{
    const hk_quant_ops *ref = hk_quant_ops_of(t);
    const hk_quant_ops *simd = hk_quant_ops_level(t, lvl);
    if (simd->to_float == ref->to_float)
        return;
    if (t == HK_TYPE_F16 || t == HK_TYPE_BF16) {
        uint16_t *h = malloc(sizeof(uint16_t) * 65536);
        float *want = malloc(sizeof(float) * 65536), *got = malloc(sizeof(float) * 65536);
        for (int i = 0; i < 65536; i++)
            h[i] = (uint16_t)i;
        ref->to_float(h, want, 65536);
        simd->to_float(h, got, 65535); /* an odd count runs the tail too */
        got[65535] = want[65535];
        int bad = 0;
        for (int i = 0; i < 65535; i++) {
            if (isnan(want[i]) && isnan(got[i]))
                continue; /* F16C quiets signalling NaNs; both are NaN */
            bad += memcmp(&want[i], &got[i], sizeof(float)) != 0;
        }
        CHECK(bad == 0, "%s to_float %s: %d of 65535 bit patterns differ", hk_cpu_level_name(lvl), hk_type_name(t),
              bad);
        free(h), free(want), free(got);
        return;
    }
    const int64_t bs = hk_type_traits_of(t)->block_size;
    const size_t ts = hk_type_traits_of(t)->type_size;
    const int64_t blocks[] = {1, 3, 16, 43};
    for (int s = 0; s < 4; s++) {
        const int64_t n = blocks[s] * bs;
        float *x = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
        uint8_t *q = malloc(row_bytes(t, n));
        for (int kind = 0; kind < 4; kind++) {
            if (kind < 3) {
                fill_row(x, n, kind);
                ref->from_float(x, q, n);
            } else {
                int off[2];
                const int nh = half_fields(t, off);
                for (size_t i = 0; i < row_bytes(t, n); i++)
                    q[i] = (uint8_t)rng_u64();
                for (int64_t b = 0; b < blocks[s]; b++)
                    for (int k = 0; k < nh; k++) {
                        const uint16_t h = hk_f32_to_f16(rng_normal());
                        memcpy(q + b * ts + off[k], &h, 2);
                    }
            }
            ref->to_float(q, want, n);
            simd->to_float(q, got, n);
            CHECK(memcmp(want, got, sizeof(float) * n) == 0, "%s to_float %s n=%lld kind %d differs",
                  hk_cpu_level_name(lvl), hk_type_name(t), (long long)n, kind);
        }
        free(x), free(want), free(got), free(q);
    }
}

/* ---------------------------------------------------------------- bench */

static double now_s(void)
{
    struct timespec ts;
    /* thread CPU time: the machine is shared, and this measures the kernels */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench(void)
{
    enum { ROWS = 4096, COLS = 4096, DISTINCT = 64, HOT = 128 };
    printf("matvec %d x %d, one row at a time, GB/s of weight bytes (1 thread)\n", ROWS, COLS);
    printf("%-6s", "type");
    for (int l = 0; l < HK_CPU_LEVEL_COUNT; l++)
        if (hk_cpu_level_supported((hk_cpu_level)l))
            printf(" %22s", hk_cpu_level_name((hk_cpu_level)l));
    printf("\n");
    float *x = malloc(sizeof(float) * COLS * DISTINCT), *a = malloc(sizeof(float) * COLS);
    float *out = malloc(sizeof(float) * ROWS);
    fill_row(x, (int64_t)COLS * DISTINCT, 0);
    fill_row(a, COLS, 0);
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        const hk_type t = weight_types[k];
        const hk_type vt = hk_type_traits_of(t)->vec_dot_type;
        const size_t rb = row_bytes(t, COLS);
        uint8_t *w = malloc(rb * ROWS);
        /* quantizing 16M weights with the reference K-quant search would take
         * longer than the benchmark; the timing does not depend on values */
        for (int r = 0; r < DISTINCT; r++)
            hk_quant_ops_of(t)->from_float(x + (size_t)r * COLS, w + rb * r, COLS);
        for (int r = DISTINCT; r < ROWS; r++)
            memcpy(w + rb * r, w + rb * (r % DISTINCT), rb);
        void *aq = malloc(row_bytes(vt, COLS));
        printf("%-6s", hk_type_name(t));
        for (int l = 0; l < HK_CPU_LEVEL_COUNT; l++) {
            if (!hk_cpu_level_supported((hk_cpu_level)l))
                continue;
            const hk_quant_ops *o = hk_quant_ops_level(t, (hk_cpu_level)l);
            hk_quant_ops_level(vt, (hk_cpu_level)l)->act_from_float(a, aq, COLS);
            int reps = 0;
            const double t0 = now_s();
            double t1;
            do {
                for (int r = 0; r < ROWS; r++)
                    out[r] = o->vec_dot(COLS, w + rb * r, aq);
                reps++;
                t1 = now_s();
            } while (t1 - t0 < 0.3);
            char cell[64];
            snprintf(cell, sizeof cell, "%.2f (%s)", (double)rb * ROWS * reps / (t1 - t0) * 1e-9,
                     hk_cpu_kernel_name_level(t, (hk_cpu_level)l));
            printf(" %22s", cell);
            fflush(stdout);
        }
        /* the row-group kernels, four rows per call, one and four tokens */
        const hk_gemm_kernel *g = hk_gemm_level(t, hk_cpu_level_active());
        if (g) {
            uint8_t *ap = malloc(g->act_size(COLS) * 4);
            for (int c = 0; c < 4; c++)
                g->act_pack(a, ap + g->act_size(COLS) * (size_t)c, COLS);
            /* all rows (memory), then the first HOT rows again and again (L2: the kernel's own speed) */
            for (int v = 0; v < 4; v++) {
                const int nc = v & 1 ? 4 : 1, rows = v < 2 ? ROWS : HOT;
                int reps = 0;
                const double t0 = now_s();
                double t1;
                do {
                    for (int r = 0; r < rows; r += 4) {
                        float v[16];
                        g->gemm(COLS, w + rb * r, rb, 4, ap, g->act_size(COLS), nc, v);
                        out[r] = v[0];
                    }
                    reps++;
                    t1 = now_s();
                } while (t1 - t0 < 0.3);
                printf("  gemm 4x%d%s %.2f", nc, rows == HOT ? " L2" : "", (double)rb * rows * reps / (t1 - t0) * 1e-9);
            }
            free(ap);
        }
        printf("\n");
        free(w), free(aq);
    }
    free(x), free(a), free(out);
    return 0;
}

/* ---------------------------------------------------------------- main */

#if defined(__x86_64__) || defined(__i386__)
/* The AVX-512 one-token kernels (engine/cpu/gemv_avx512.c, kernels.h
 * hk_gemm_kernel.one_tok; engine/ops.c runs them for generation): each y[r] bit-identical
 * to the level's row-group kernel at one row and one token, for 1-5 rows
 * (two at a time plus an odd one), block counts that leave the last quad of
 * a row 1-3 blocks short, and rows ending at a guard page (the kernels read
 * no byte past a row; their prefetches may point anywhere). */
static void test_one_tok(void)
{
    if (!hk_cpu_level_supported(HK_CPU_AVX512))
        return;
    const hk_cpu_features *f = hk_cpu_features_get();
    /* the types that must have one where the CPU has VNNI and VBMI */
    const hk_type expected[] = {HK_TYPE_Q4_0, HK_TYPE_Q5_0, HK_TYPE_Q8_0, HK_TYPE_Q2_K, HK_TYPE_Q3_K,
                                HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K, HK_TYPE_F16};
    for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
        const hk_gemm_kernel *g = hk_gemm_level(expected[k], HK_CPU_AVX512);
        CHECK((g && g->one_tok) == (f->avx512vnni && f->avx512vbmi),
              "one-token %s: kernel present %d, VNNI %d, VBMI %d", hk_type_name(expected[k]), g && g->one_tok,
              f->avx512vnni, f->avx512vbmi);
    }
    /* blocks per row; for F16 (one element a block) also rows that end in
     * each of its steps: 32-element lines, then 16, 8 and single elements
     * (63 = 32 + 16 + 8 + 7, 903 = 28 * 32 + 7, 1000 = 31 * 32 + 8) */
    const int64_t blocks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 28, 152, 63, 903, 1000};
    const size_t n_sizes = sizeof blocks / sizeof blocks[0], n_sizes_quant = n_sizes - 3;
    enum { MAX_ROWS = 5 };
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        const hk_type t = weight_types[k];
        const hk_gemm_kernel *g = hk_gemm_level(t, HK_CPU_AVX512);
        const hk_one_tok_fn one = g ? g->one_tok : NULL;
        if (!one)
            continue;
        const hk_quant_ops *ref = hk_quant_ops_of(t);
        const int64_t bs = hk_type_traits_of(t)->block_size;
        for (size_t s = 0; s < (bs == 1 ? n_sizes : n_sizes_quant); s++) {
            const int64_t n = blocks[s] * bs;
            const size_t rb = row_bytes(t, n), pb = g->act_size(n);
            float *wf = malloc(sizeof(float) * (size_t)n), *af = malloc(sizeof(float) * (size_t)n);
            uint8_t *ap = malloc(pb);
            void *map = NULL;
            size_t map_len = 0;
            uint8_t *wq = guarded_alloc(rb * MAX_ROWS, &map, &map_len);
            if (!wq) {
                CHECK(false, "cannot map %zu bytes of guarded weights", rb * MAX_ROWS);
                free(wf), free(af), free(ap);
                break;
            }
            for (int kind = 0; kind < 3; kind++) {
                for (int r = 0; r < MAX_ROWS; r++) {
                    fill_row(wf, n, kind + r);
                    ref->from_float(wf, wq + rb * (size_t)r, n);
                }
                fill_act_edges(af, n, kind == 2 ? 2 : kind + 1);
                g->act_pack(af, ap, n);
                float want[MAX_ROWS];
                for (int r = 0; r < MAX_ROWS; r++) {
                    float v[16];
                    g->gemm(n, wq + rb * (size_t)r, rb, 1, ap, pb, 1, v);
                    want[r] = v[0];
                }
                for (int nr = 1; nr <= MAX_ROWS; nr++) {
                    /* the last nr rows: the last one ends at the guard page */
                    float got[MAX_ROWS];
                    one(n, wq + rb * (size_t)(MAX_ROWS - nr), rb, nr, ap, got);
                    int differ = 0;
                    for (int r = 0; r < nr; r++)
                        differ += memcmp(&got[r], &want[MAX_ROWS - nr + r], sizeof(float)) != 0;
                    CHECK(differ == 0, "one-token %s n=%lld kind %d, %d rows: %d differ from the row-group kernel",
                          hk_type_name(t), (long long)n, kind, nr, differ);
                }
            }
            munmap(map, map_len);
            free(wf), free(af), free(ap);
        }
    }
}

/* The AVX2 level as a CPU without AVX-VNNI gets it (Haswell to Tiger Lake),
 * where this CPU's AVX2 level takes the AVX-VNNI build of the same kernels
 * (quant_avxvnni.c): the plain table against the scalar code as in 1., and
 * both tables' vec_dot and four-token kernels against each other bit for
 * bit (one VNNI instruction for vpmaddubsw + vpmaddwd + vpaddd, the same
 * integer sums). */
static void test_avx2_without_vnni(void)
{
    if (!hk_cpu_level_supported(HK_CPU_AVX2) || !hk_cpu_features_get()->avxvnni)
        return;
    static hk_quant_ops plain[HK_TYPE_COUNT];
    static const char *names[HK_TYPE_COUNT];
    static hk_vec_dot4_fn plain4[HK_TYPE_COUNT];
    for (int t = 0; t < HK_TYPE_COUNT; t++)
        if (hk_quant_ops_of((hk_type)t))
            plain[t] = *hk_quant_ops_of((hk_type)t);
    hk_cpu_fill_avx2(plain, names);
    hk_cpu_fill4_avx2(plain4);
    long compared = 0;
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        const hk_type t = weight_types[k], vt = hk_type_traits_of(t)->vec_dot_type;
        test_vec_dot("avx2 without AVX-VNNI", &plain[t], t);
        const hk_quant_ops *vnni = hk_quant_ops_level(t, HK_CPU_AVX2), *act = hk_quant_ops_level(vt, HK_CPU_AVX2);
        const hk_vec_dot4_fn vnni4 = hk_vec_dot4_level(t, HK_CPU_AVX2);
        CHECK(!plain4[t] == !vnni4, "avx2 %s: a four-token kernel in one build only", hk_type_name(t));
        const int64_t bs = hk_type_traits_of(t)->block_size;
        const int64_t blocks[] = {1, 3, 9, 28, 152};
        for (size_t s = 0; s < sizeof blocks / sizeof blocks[0]; s++) {
            const int64_t n = blocks[s] * (bs == 1 ? 32 : bs);
            const size_t wb = row_bytes(t, n), ab = row_bytes(vt, n);
            float *x = malloc(sizeof(float) * (size_t)n);
            uint8_t *wq = malloc(wb * 4), *aq = malloc(ab * 4);
            for (int r = 0; r < 4; r++) {
                fill_row(x, n, r);
                hk_quant_ops_of(t)->from_float(x, wq + wb * (size_t)r, n);
                fill_act_edges(x, n, r % 3);
                act->act_from_float(x, aq + ab * (size_t)r, n);
            }
            int differ = 0;
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    const float a = plain[t].vec_dot(n, wq + wb * (size_t)r, aq + ab * (size_t)c);
                    const float b = vnni->vec_dot(n, wq + wb * (size_t)r, aq + ab * (size_t)c);
                    differ += memcmp(&a, &b, sizeof a) != 0;
                }
            if (vnni4 && plain4[t]) {
                float ya[16], yb[16];
                plain4[t](n, wq, wb, 4, aq, ab, ya, 4, 0);
                vnni4(n, wq, wb, 4, aq, ab, yb, 4, 0);
                differ += memcmp(ya, yb, sizeof ya) != 0;
            }
            compared += 17;
            CHECK(differ == 0, "avx2 %s n=%lld: %d results differ between the AVX-VNNI build and the plain one",
                  hk_type_name(t), (long long)n, differ);
            free(x), free(wq), free(aq);
        }
    }
    printf("avx2 without AVX-VNNI: %ld results compared with the AVX-VNNI build\n", compared);
}

/* The tile batch kernels (engine/cpu/gemm_tile.c), AMX and VNNI: for Q4_0,
 * Q5_0 and Q8_0 every y element equal, bit for bit, to the scalar vec_dot of
 * its row against the token's Q8_0 blocks as the AVX-512 level's
 * act_from_float makes them; for Q4_K, Q5_K and Q6_K (one float sum where
 * the scalar code keeps eight lanes) within dot_tolerance of it, and the same bits wherever
 * the row and the token sit in their tiles (every element against the first
 * call that computed it).  Row counts around the 16 of a tile (the last row
 * ending at a guard page: a short panel must not be read past its rows),
 * token counts around the 16 of a tile, block counts 1 to 152 (K-quants: 1 to
 * 19 of 256), random quants over the whole int8 range for Q8_0 (-128
 * included); y is laid out wider than the rows, and nothing outside the
 * rows and tokens may be written. */
static void test_tiles(hk_tile_kind kind)
{
    const char *kn = hk_tile_kind_name(kind);
    if (!hk_tile_supported(kind)) {
        printf("%s tiles: this CPU (or kernel) cannot run them; not tested here\n", kn);
        return;
    }
    const hk_type types[] = {HK_TYPE_Q4_0, HK_TYPE_Q5_0, HK_TYPE_Q8_0, HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K};
    const int64_t blocks[] = {1, 3, 28, 152}, k_blocks[] = {1, 3, 19};
    const int rows[] = {1, 15, 16, 17, 35}, toks[] = {1, 5, 16, 17, 40};
    enum { MAX_R = 35, MAX_T = 40, PAD = 3 };
    long n_checked = 0;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const hk_type t = types[k], vt = hk_type_traits_of(t)->vec_dot_type;
        const bool exact = t == HK_TYPE_Q4_0 || t == HK_TYPE_Q5_0 || t == HK_TYPE_Q8_0;
        const hk_quant_ops *ref = hk_quant_ops_of(t), *act = hk_quant_ops_level(vt, HK_CPU_AVX512);
        CHECK(hk_tile_has_type(t), "%s tiles: no kernel for %s", kn, hk_type_name(t));
        const int64_t bs = hk_type_traits_of(t)->block_size;
        for (size_t s = 0; s < (exact ? sizeof blocks / sizeof blocks[0] : sizeof k_blocks / sizeof k_blocks[0]); s++) {
            const int64_t nb = exact ? blocks[s] : k_blocks[s], n = nb * bs;
            const size_t rb = row_bytes(t, n), ab = row_bytes(vt, n);
            void *map = NULL;
            size_t map_len = 0;
            uint8_t *wq = guarded_alloc(rb * MAX_R, &map, &map_len);
            float *wf = malloc(sizeof(float) * (size_t)n), *x = malloc(sizeof(float) * (size_t)n);
            float *wd = malloc(sizeof(float) * (size_t)n * MAX_R), *ad = malloc(sizeof(float) * (size_t)n * MAX_T);
            uint8_t *aq = malloc(ab * MAX_T), *packed = calloc(1, hk_tile_act_bytes(vt, n, MAX_T));
            void *scratch = malloc(hk_tile_scratch_bytes(n));
            const size_t ldy = MAX_R + PAD;
            float *y = malloc(sizeof(float) * ldy * MAX_T), *want = malloc(sizeof(float) * MAX_R * MAX_T);
            float *first = malloc(sizeof(float) * MAX_R * MAX_T);
            bool *seen = calloc(MAX_R * MAX_T, sizeof(bool));
            if (!wq || !wf || !x || !wd || !ad || !aq || !packed || !scratch || !y || !want || !first || !seen) {
                CHECK(false, "%s tiles: out of memory", kn);
                break;
            }
            for (int r = 0; r < MAX_R; r++) {
                fill_row(wf, n, r);
                ref->from_float(wf, wq + rb * (size_t)r, n);
                if (t == HK_TYPE_Q8_0 && r % 3 == 1) /* every quant value, -128 too */
                    for (int64_t b = 0; b < nb; b++)
                        for (int i = 0; i < HK_QK8_0; i++)
                            ((hk_block_q8_0 *)(void *)(wq + rb * (size_t)r))[b].qs[i] = (int8_t)(rng_u64() & 0xFF);
                ref->to_float(wq + rb * (size_t)r, wd + (size_t)n * (size_t)r, n);
            }
            for (int c = 0; c < MAX_T; c++) {
                fill_act_edges(x, n, c % 3);
                act->act_from_float(x, aq + ab * (size_t)c, n);
                hk_quant_ops_of(vt)->to_float(aq + ab * (size_t)c, ad + (size_t)n * (size_t)c, n);
                hk_tile_act_put(vt, aq + ab * (size_t)c, n, c, packed);
            }
            for (int c = 0; c < MAX_T; c++)
                for (int r = 0; r < MAX_R; r++)
                    want[c * MAX_R + r] = ref->vec_dot(n, wq + rb * (size_t)r, aq + ab * (size_t)c);
            for (size_t ir = 0; ir < sizeof rows / sizeof rows[0]; ir++)
                for (size_t it = 0; it < sizeof toks / sizeof toks[0]; it++) {
                    const int nr = rows[ir], nt = toks[it], r0 = MAX_R - nr;
                    for (size_t i = 0; i < ldy * MAX_T; i++)
                        y[i] = -7.0f;
                    hk_tile_gemm(kind, t, n, wq + rb * (size_t)r0, rb, nr, packed, nt, y, ldy, scratch);
                    int differ = 0, stray = 0, moved = 0;
                    for (int c = 0; c < MAX_T; c++)
                        for (size_t r = 0; r < ldy; r++) {
                            const float v = y[(size_t)c * ldy + r];
                            if (c >= nt || (int)r >= nr) {
                                stray += v != -7.0f;
                                continue;
                            }
                            const int e = c * MAX_R + r0 + (int)r;
                            if (exact) {
                                differ += memcmp(&v, &want[e], sizeof v) != 0;
                                continue;
                            }
                            const double tol = dot_tolerance(t, n, wd + (size_t)n * (size_t)(r0 + (int)r),
                                                             ad + (size_t)n * (size_t)c);
                            differ += !(fabs((double)v - want[e]) <= tol);
                            if (seen[e])
                                moved += memcmp(&v, &first[e], sizeof v) != 0;
                            first[e] = v, seen[e] = true;
                        }
                    n_checked += (long)nr * nt;
                    CHECK(differ == 0 && stray == 0 && moved == 0,
                          "%s tiles %s n=%lld, %d rows x %d tokens: %d differ from the scalar vec_dot%s, %d written "
                          "outside, %d other bits than at another place in the tiles",
                          kn, hk_type_name(t), (long long)n, nr, nt, differ, exact ? "" : " (tolerance)", stray, moved);
                }
            munmap(map, map_len);
            free(wf), free(x), free(wd), free(ad), free(aq), free(packed), free(scratch), free(y), free(want);
            free(first), free(seen);
        }
    }
    printf("%s tiles: %ld elements compared with the scalar vec_dot\n", kn, n_checked);
}
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();

    test_q8_0_ref();

    /* Before anything reads the tables: the cap must win over the best level. */
    setenv("HARK_CPU", "scalar", 1);
    CHECK(hk_cpu_level_active() == HK_CPU_SCALAR, "HARK_CPU=scalar: active level %s",
          hk_cpu_level_name(hk_cpu_level_active()));
    CHECK(hk_quant_ops_best(HK_TYPE_Q4_K) == hk_quant_ops_level(HK_TYPE_Q4_K, HK_CPU_SCALAR),
          "HARK_CPU=scalar: best table is the scalar one");
    CHECK(hk_quant_ops_best(HK_TYPE_I32) == NULL, "no ops for a type without scalar ops");

    for (int l = 0; l < HK_CPU_LEVEL_COUNT; l++) {
        const hk_cpu_level lvl = (hk_cpu_level)l;
        if (!hk_cpu_level_supported(lvl))
            continue;
        printf("level %s:", hk_cpu_level_name(lvl));
        for (size_t k = 0; k < N_WEIGHT_TYPES; k++)
            printf(" %s=%s", hk_type_name(weight_types[k]), hk_cpu_kernel_name_level(weight_types[k], lvl));
        printf("\n");
        for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
            test_vec_dot(hk_cpu_level_name(lvl), hk_quant_ops_level(weight_types[k], lvl), weight_types[k]);
            test_to_float(lvl, weight_types[k]);
            test_vec_dot4(lvl, weight_types[k]);
            test_gemm(lvl, weight_types[k]);
        }
        /* every row-group kernel of the level is one test_gemm ran */
        for (int t = 0; t < HK_TYPE_COUNT; t++) {
            bool listed = false;
            for (size_t k = 0; k < N_WEIGHT_TYPES; k++)
                listed |= weight_types[k] == (hk_type)t;
            CHECK(!hk_gemm_level((hk_type)t, lvl) || listed, "%s gemm %s: a kernel that weight_types leaves untested",
                  hk_cpu_level_name(lvl), hk_type_name((hk_type)t));
        }
        test_act(lvl);
    }
    const hk_cpu_level active = hk_cpu_level_active();
    for (int l = 1; l < HK_CPU_LEVEL_COUNT; l++) {
        const hk_cpu_level lvl = (hk_cpu_level)l;
        if (!hk_cpu_level_supported(lvl))
            continue;
        test_backend_matmul(lvl, HK_MATMUL_LLAMACPP);
        test_backend_matmul(lvl, HK_MATMUL_EXACT);
        test_backend_attention(lvl);
        test_silu(lvl);
    }
    hk_cpu_level_set(active);
#if defined(__x86_64__) || defined(__i386__)
    /* The AVX-512 level without VNNI and BF16 (Skylake-X), which this CPU
     * may have but would otherwise never run: its table built as kernels.c
     * does, with those two features masked off. */
    if (hk_cpu_level_supported(HK_CPU_AVX512)) {
        static hk_quant_ops ops[HK_TYPE_COUNT];
        static const char *names[HK_TYPE_COUNT];
        for (int t = 0; t < HK_TYPE_COUNT; t++)
            if (hk_quant_ops_of((hk_type)t))
                ops[t] = *hk_quant_ops_of((hk_type)t);
        hk_cpu_features f = *hk_cpu_features_get();
        f.avx512vnni = f.avx512bf16 = false;
        hk_cpu_fill_avx2(ops, names);
        hk_cpu_fill_avx512(ops, names, &f);
        for (size_t k = 0; k < N_WEIGHT_TYPES; k++)
            test_vec_dot("avx512 without VNNI/BF16", &ops[weight_types[k]], weight_types[k]);
    }
    test_one_tok();
    test_avx2_without_vnni();
    test_tiles(HK_TILE_AMX);
    test_tiles(HK_TILE_VNNI);
#endif
    return hk_check_done("simd");
}
