/* Quantization tests.
 *
 * 1. Bit-exactness with llama.cpp: every 2-D tensor of the llama-tied
 *    fixtures (made by llama-quantize from llama-tied-F32.gguf, no imatrix)
 *    is re-quantized here from the F32 weights and compared byte for byte.
 * 2. Round trips on random data (odd block counts, zeros, constants, one
 *    spike, large and tiny magnitudes): legacy formats against error bounds
 *    derived from their block scale; K-quants against the property their
 *    final pass guarantees (every element sits on the level nearest to it
 *    given the stored scales, unless clipped at the end of the range), plus
 *    a relative-RMS sanity bound.
 * 3. Activation quantization and dot products: the integer-sum dot product
 *    must equal the float dot product of the two dequantized rows (up to float
 *    accumulation), and differ from the exact float product by no more than
 *    the activation rounding allows.
 * 4. F16/BF16 conversions: every half and bfloat16 round-trips; rounding of
 *    random and hand-picked floats (ties, subnormals, overflow, inf, NaN)
 *    agrees with an independent nearest-even search.
 * 5. hk_quantize_file: quantizing llama-tied-F32.gguf to each fixture type
 *    reproduces the fixture file (byte-identical, else key/values, tensor
 *    types and data compared one by one to say what differs); for qwen2,
 *    phi3 and gemma2 (only F16 sources here) the per-tensor type choice and
 *    the key/value list must match the fixture files; error paths. */
#include "check.h"
#include "gguf.h"
#include "quant.h"
#include "quantize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x1234abcdULL;
static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_unif(void) { return (double)(rng_u64() >> 11) * 0x1.0p-53; }
static float rng_gauss(void)
{
    double u = rng_unif(), v = rng_unif();
    if (u < 1e-300)
        u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v));
}

static const char *models_dir(void)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", hk_shared_path("fixtures/llm/models"));
    return dir;
}

static hk_gguf *open_model(const char *file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", models_dir(), file);
    hk_error err = {{0}};
    hk_gguf *g = hk_gguf_open(path, &err);
    CHECK(g != NULL, "cannot open %s: %s", path, err.msg);
    return g;
}

static void tensor_name(const hk_gguf_tensor *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.*s", (int)t->name.len, t->name.ptr);
}

/* ---------------------------------------------------------------- 1. fixtures */

static const char *fixture_types[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_K_S",
                                      "Q4_0", "Q3_K_M", "Q2_K", "F16",  "BF16"};
#define N_FIXTURE_TYPES (sizeof fixture_types / sizeof fixture_types[0])

static void test_bitexact_fixtures(void)
{
    hk_gguf *src = open_model("llama-tied-F32.gguf");
    if (!src)
        return;
    for (size_t k = 0; k < N_FIXTURE_TYPES; k++) {
        char file[64];
        snprintf(file, sizeof file, "llama-tied-%s.gguf", fixture_types[k]);
        hk_gguf *q = open_model(file);
        if (!q)
            continue;
        int n_tensors = 0, n_equal = 0;
        char types_seen[256] = "";
        for (uint64_t i = 0; i < q->n_tensors; i++) {
            const hk_gguf_tensor *qt = &q->tensors[i];
            if (qt->n_dims < 2)
                continue;
            char name[256];
            tensor_name(qt, name, sizeof name);
            const hk_gguf_tensor *st = hk_gguf_find_tensor(src, name);
            CHECK(st && st->type == HK_TYPE_F32 && st->ne[0] == qt->ne[0] && st->ne[1] == qt->ne[1],
                  "%s: no matching F32 tensor for %s", file, name);
            if (!st)
                continue;
            n_tensors++;
            const int64_t n = qt->ne[0];
            const size_t rs = hk_row_size((hk_type)qt->type, n);
            CHECK(rs > 0 && hk_can_quantize((hk_type)qt->type), "%s: %s is %s", file, name,
                  hk_type_name(qt->type));
            if (!rs || !hk_can_quantize((hk_type)qt->type))
                continue;
            uint8_t *row = malloc(rs);
            int64_t bad = 0, first_bad = -1;
            for (int64_t r = 0; r < qt->ne[1]; r++) {
                hk_quantize_row_ref((hk_type)qt->type, (const float *)st->data + r * n, row, n);
                if (memcmp(row, (const uint8_t *)qt->data + (size_t)r * rs, rs) != 0) {
                    if (first_bad < 0)
                        first_bad = r;
                    bad++;
                }
            }
            free(row);
            CHECK(bad == 0, "%s: %s (%s): %lld of %lld rows differ from llama.cpp's, first %lld", file, name,
                  hk_type_name(qt->type), (long long)bad, (long long)qt->ne[1], (long long)first_bad);
            if (bad == 0) {
                n_equal++;
                if (!strstr(types_seen, hk_type_name(qt->type))) {
                    strcat(types_seen, " ");
                    strcat(types_seen, hk_type_name(qt->type));
                }
            }
        }
        printf("bit-exact %-7s %2d/%2d 2-D tensors identical to llama.cpp (types:%s)\n", fixture_types[k],
               n_equal, n_tensors, types_seen);
        CHECK(n_tensors == 15, "%s: expected 15 2-D tensors, saw %d", file, n_tensors);
        hk_gguf_close(q);
    }
    hk_gguf_close(src);
}

/* ---------------------------------------------------------------- 2. round trips */

typedef enum { D_GAUSS, D_ZERO, D_CONST, D_SPIKE, D_BIG, D_TINY, D_NEG, D_MIXSCALE, D_COUNT } dist;
static const char *dist_name[D_COUNT] = {"gauss", "zeros", "const", "spike", "big", "tiny", "negative", "mixscale"};

static void fill(float *x, int64_t n, dist d)
{
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case D_GAUSS: x[i] = rng_gauss(); break;
        case D_ZERO: x[i] = 0.0f; break;
        case D_CONST: x[i] = 0.75f; break;
        case D_SPIKE: x[i] = (i % 97 == 5) ? 40.0f : 0.01f * rng_gauss(); break;
        case D_BIG: x[i] = 3000.0f * rng_gauss(); break;
        case D_TINY: x[i] = 1e-3f * rng_gauss(); break;
        case D_NEG: x[i] = -fabsf(rng_gauss()) - 0.5f; break;
        /* blocks of very different scale in one row: scales are per block */
        case D_MIXSCALE: x[i] = rng_gauss() * powf(10.0f, (float)((i / 32) % 5) - 2.0f); break;
        default: x[i] = 0; break;
        }
    }
}

/* Largest error of rounding v to f16: half an ulp, 2^-11 relative for
 * normal halves, 2^-25 absolute among the subnormals. */
static double f16_err(double v)
{
    return fmax(fabs(v) / 2048, 0x1.0p-25);
}

/* Legacy 32-element formats: bound on |x - dequant(x)| from the block's own
 * numbers.  Rounding to the nearest step costs half a step; the f16 scale
 * (and min) adds at most 2^-11 relative per unit of the quant; Q4_0/Q5_0 may
 * clip the one value of the opposite sign to the block's extreme by a whole
 * step. */
static double legacy_bound(hk_type t, const float *x, int j)
{
    float amax = 0, max = 0, mn = x[0], mx = x[0];
    for (int i = 0; i < 32; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    const double rel = 1e-6 * fabs(x[j]) + 1e-30;
    switch (t) {
    case HK_TYPE_Q8_0: {
        const double d = amax / 127.0;
        return 0.5 * d + 127 * f16_err(d) + rel;
    }
    case HK_TYPE_Q4_0:
    case HK_TYPE_Q5_0: {
        const double nmax = t == HK_TYPE_Q4_0 ? 8 : 16;
        const double d = fabs(max) / nmax;
        /* x[j] on the far side of zero from max by (nmax - 0.5) steps or more is clipped */
        const bool clipped = (double)x[j] * (max > 0 ? -1 : 1) / d > nmax - 0.5;
        return (clipped ? 1.0 : 0.5) * d + 2 * nmax * f16_err(d) + rel;
    }
    case HK_TYPE_Q4_1:
    case HK_TYPE_Q5_1: {
        const double levels = t == HK_TYPE_Q4_1 ? 15 : 31;
        const double d = ((double)mx - mn) / levels;
        return 0.5 * d + levels * f16_err(d) + f16_err(mn) + rel + 1e-6 * (fabs(mn) + fabs(mx));
    }
    default:
        return 0;
    }
}

/* K-quants: reconstruct each element's level grid from the stored fields and
 * check the element sits on the nearest level (or is clipped at an end).
 * Returns the number of elements that do not. */
typedef struct kgrid {
    double step, offset; /* level l is step * l - offset */
    int lmin, lmax;
} kgrid;

static int k_scale_min(const uint8_t *q, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
    return 0;
}

static kgrid k_grid(hk_type t, const void *blk, int e)
{
    kgrid g = {0, 0, 0, 0};
    switch (t) {
    case HK_TYPE_Q2_K: {
        const hk_block_q2_K *b = blk;
        const int sc = b->scales[e / 16];
        g.step = (double)hk_f16_to_f32(b->d) * (sc & 0xF);
        g.offset = (double)hk_f16_to_f32(b->dmin) * (sc >> 4);
        g.lmin = 0, g.lmax = 3;
        break;
    }
    case HK_TYPE_Q3_K: {
        const hk_block_q3_K *b = blk;
        const int j = e / 16;
        const int lo = j < 8 ? (b->scales[j] & 0xF) : (b->scales[j - 8] >> 4);
        const int hi = (b->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        g.step = (double)hk_f16_to_f32(b->d) * ((lo | hi << 4) - 32);
        g.lmin = -4, g.lmax = 3;
        break;
    }
    case HK_TYPE_Q4_K:
    case HK_TYPE_Q5_K: {
        const uint8_t *scales = t == HK_TYPE_Q4_K ? ((const hk_block_q4_K *)blk)->scales
                                                  : ((const hk_block_q5_K *)blk)->scales;
        const hk_half d = t == HK_TYPE_Q4_K ? ((const hk_block_q4_K *)blk)->d : ((const hk_block_q5_K *)blk)->d;
        const hk_half dmin =
            t == HK_TYPE_Q4_K ? ((const hk_block_q4_K *)blk)->dmin : ((const hk_block_q5_K *)blk)->dmin;
        int sc, m;
        k_scale_min(scales, e / 32, &sc, &m);
        g.step = (double)hk_f16_to_f32(d) * sc;
        g.offset = (double)hk_f16_to_f32(dmin) * m;
        g.lmin = 0, g.lmax = t == HK_TYPE_Q4_K ? 15 : 31;
        break;
    }
    case HK_TYPE_Q6_K: {
        const hk_block_q6_K *b = blk;
        g.step = (double)hk_f16_to_f32(b->d) * b->scales[e / 16];
        g.lmin = -32, g.lmax = 31;
        break;
    }
    default:
        break;
    }
    return g;
}

static void roundtrip_case(hk_type t, int64_t n, dist d, double *rel_rms_out)
{
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    const size_t rs = hk_row_size(t, n);
    uint8_t *q = malloc(rs);
    fill(x, n, d);
    hk_quantize_row_ref(t, x, q, n);
    hk_dequantize_row(t, q, y, n);
    const int bs = (int)hk_type_traits_of(t)->block_size;
    const size_t tsz = hk_type_traits_of(t)->type_size;
    int64_t bad = 0, first = -1;
    double err2 = 0, sig2 = 0;
    for (int64_t i = 0; i < n; i++) {
        err2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        sig2 += (double)x[i] * x[i];
        bool ok = isfinite(y[i]);
        const int64_t b = i / bs;
        const float *xb = x + b * bs;
        if (ok && bs == 32) {
            ok = fabs((double)x[i] - y[i]) <= legacy_bound(t, xb, (int)(i % bs));
        } else if (ok) {
            const kgrid g = k_grid(t, q + b * tsz, (int)(i % bs));
            if (g.step > 0 || g.step < 0) {
                /* distance in steps to the level the element sits on */
                const double s = fabs(g.step);
                const double pos = (y[i] + g.offset) / g.step;
                const double lv = nearbyint(pos);
                const double dist_steps = ((double)x[i] - y[i]) / s;
                const double tol = 0.5 + 1e-4;
                if (fabs(dist_steps) > tol) {
                    /* allowed only when the level is the end of the range and x lies beyond it */
                    const bool at_max = (g.step > 0 ? lv >= g.lmax : lv <= g.lmin);
                    const bool at_min = (g.step > 0 ? lv <= g.lmin : lv >= g.lmax);
                    ok = (at_max && x[i] > y[i]) || (at_min && x[i] < y[i]);
                }
            }
        }
        if (!ok) {
            if (first < 0)
                first = i;
            bad++;
        }
    }
    CHECK(bad == 0, "%s n=%lld %s: %lld elements off (first %lld: x=%g got %g)", hk_type_name(t), (long long)n,
          dist_name[d], (long long)bad, (long long)first, first >= 0 ? x[first] : 0.0,
          first >= 0 ? y[first] : 0.0);
    if (d == D_ZERO) {
        int nonzero = 0;
        for (int64_t i = 0; i < n; i++)
            nonzero += y[i] != 0.0f;
        CHECK(nonzero == 0, "%s: zeros came back as %d non-zeros", hk_type_name(t), nonzero);
    }
    if (rel_rms_out)
        *rel_rms_out = sig2 > 0 ? sqrt(err2 / sig2) : 0;
    free(x);
    free(y);
    free(q);
}

static void test_roundtrips(void)
{
    /* Relative RMS error bounds for N(0,1) data.  Uniform rounding noise is
     * step/sqrt(12); for the legacy types the step is ~amax/levels with amax
     * of 32 normals ~2.1 (e.g. Q4_0 2.1/8/3.46 = 0.076).  The K bounds are the
     * same estimate from their bits with the sub-block search's gain ignored,
     * so they hold with margin; they catch a broken format, not a small
     * regression (the bit-exact fixture check does that). */
    static const struct {
        hk_type t;
        double max_rel_rms;
    } types[] = {
        {HK_TYPE_Q4_0, 0.10}, {HK_TYPE_Q4_1, 0.09}, {HK_TYPE_Q5_0, 0.05}, {HK_TYPE_Q5_1, 0.045},
        {HK_TYPE_Q8_0, 0.006}, {HK_TYPE_Q2_K, 0.40}, {HK_TYPE_Q3_K, 0.20}, {HK_TYPE_Q4_K, 0.10},
        {HK_TYPE_Q5_K, 0.05}, {HK_TYPE_Q6_K, 0.025},
    };
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const hk_type t = types[k].t;
        const int bs = (int)hk_type_traits_of(t)->block_size;
        /* one block, odd block counts, and a long row */
        const int64_t sizes[] = {bs, 3 * bs, 7 * bs, 17 * bs, bs == 32 ? 4096 : 4096};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int d = 0; d < D_COUNT; d++) {
                double rel = 0;
                roundtrip_case(t, sizes[s], (dist)d, &rel);
                if (d == D_GAUSS && sizes[s] == 4096) {
                    printf("roundtrip %-5s gauss rel rms %.4f (bound %.3f)\n", hk_type_name(t), rel,
                           types[k].max_rel_rms);
                    CHECK(rel <= types[k].max_rel_rms, "%s: relative rms %g > %g", hk_type_name(t), rel,
                          types[k].max_rel_rms);
                }
            }
    }
    /* the finer the format, the smaller the error on the same data */
    double r[4];
    const hk_type ladder[4] = {HK_TYPE_Q2_K, HK_TYPE_Q3_K, HK_TYPE_Q4_K, HK_TYPE_Q6_K};
    for (int i = 0; i < 4; i++) {
        rng_state = 777;
        roundtrip_case(ladder[i], 4096, D_GAUSS, &r[i]);
    }
    CHECK(r[0] > r[1] && r[1] > r[2] && r[2] > r[3], "K-quant errors not ordered by bits: %g %g %g %g", r[0], r[1],
          r[2], r[3]);

    /* plain types: F32 exact, F16/BF16 equal to the scalar conversions */
    float x[64], y[64];
    uint16_t h[64];
    fill(x, 64, D_GAUSS);
    hk_quantize_row_ref(HK_TYPE_F32, x, y, 64);
    CHECK(memcmp(x, y, sizeof x) == 0, "F32 row copy changed values");
    hk_quantize_row_ref(HK_TYPE_F16, x, h, 64);
    hk_dequantize_row(HK_TYPE_F16, h, y, 64);
    int bad = 0;
    for (int i = 0; i < 64; i++)
        bad += h[i] != hk_f32_to_f16(x[i]) || y[i] != hk_f16_to_f32(h[i]);
    CHECK(bad == 0, "F16 rows disagree with the scalar conversion in %d places", bad);
    hk_quantize_row_ref(HK_TYPE_BF16, x, h, 64);
    hk_dequantize_row(HK_TYPE_BF16, h, y, 64);
    bad = 0;
    for (int i = 0; i < 64; i++)
        bad += h[i] != hk_f32_to_bf16(x[i]) || y[i] != hk_bf16_to_f32(h[i]);
    CHECK(bad == 0, "BF16 rows disagree with the scalar conversion in %d places", bad);
}

/* ---------------------------------------------------------------- 3. dot products */

/* Largest |x - dequant(act)| an activation block may have. */
static double act_bound(hk_type vt, const float *xb, int bs)
{
    float amax = 0;
    for (int i = 0; i < bs; i++)
        amax = fmaxf(amax, fabsf(xb[i]));
    const double d = amax / 127.0;
    if (vt == HK_TYPE_Q8_K) /* float scale: half a step plus float rounding */
        return 0.5 * d * (1 + 1e-6) + amax * 1e-7;
    return 0.5 * d + 127 * f16_err(d) + amax * 1e-7; /* f16 scale */
}

static void test_activations(void)
{
    /* Q8_1's s is d * sum(qs); Q8_K's bsums are the sums of 16 quants */
    float x[512];
    fill(x, 512, D_GAUSS);
    hk_block_q8_1 b1[16];
    hk_quantize_act(HK_TYPE_Q8_1, x, b1, 512);
    int bad = 0;
    for (int i = 0; i < 16; i++) {
        int sum = 0;
        for (int j = 0; j < 32; j++)
            sum += b1[i].qs[j];
        /* ggml rounds sum * d with the float d, before d itself went to f16 */
        const float approx = sum * hk_f16_to_f32(b1[i].d);
        bad += fabsf(hk_f16_to_f32(b1[i].s) - approx) > 2e-3f * fabsf(approx) + 1e-6f;
    }
    CHECK(bad == 0, "Q8_1 sum field wrong in %d blocks", bad);
    hk_block_q8_K bk[2];
    hk_quantize_act(HK_TYPE_Q8_K, x, bk, 512);
    bad = 0;
    for (int i = 0; i < 2; i++) {
        int maxq = 0;
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += bk[i].qs[16 * j + l];
            bad += sum != bk[i].bsums[j];
        }
        for (int j = 0; j < 256; j++)
            maxq = abs(bk[i].qs[j]) > maxq ? abs(bk[i].qs[j]) : maxq;
        CHECK(maxq == 127, "Q8_K block %d: largest quant %d, expected 127", i, maxq);
    }
    CHECK(bad == 0, "Q8_K bsums wrong in %d places", bad);
    /* all-zero input: zero scale, zero quants, zero sums */
    float z[256] = {0};
    hk_quantize_act(HK_TYPE_Q8_K, z, bk, 256);
    bad = bk[0].d != 0.0f;
    for (int j = 0; j < 256; j++)
        bad += bk[0].qs[j] != 0;
    for (int j = 0; j < 16; j++)
        bad += bk[0].bsums[j] != 0;
    CHECK(bad == 0, "Q8_K of zeros is not all zero");
}

static void dot_case(hk_type wt, int64_t n, dist dw, dist dx)
{
    const hk_type vt = hk_type_traits_of(wt)->vec_dot_type;
    float *w = malloc((size_t)n * sizeof *w), *x = malloc((size_t)n * sizeof *x);
    float *wd = malloc((size_t)n * sizeof *wd), *ad = malloc((size_t)n * sizeof *ad);
    uint8_t *wq = malloc(hk_row_size(wt, n)), *aq = malloc(hk_row_size(vt, n));
    fill(w, n, dw);
    fill(x, n, dx);
    hk_quantize_row_ref(wt, w, wq, n);
    hk_dequantize_row(wt, wq, wd, n);
    hk_quantize_act(vt, x, aq, n);
    hk_dequantize_row(vt, aq, ad, n);
    const float dot = hk_vec_dot(wt, n, wq, aq);

    /* (a) integer path == float product of the dequantized rows */
    double ref_q = 0, mag = 0, wmax = 0;
    for (int64_t i = 0; i < n; i++)
        wmax = fmax(wmax, fabs(wd[i]));
    for (int64_t i = 0; i < n; i++) {
        ref_q += (double)wd[i] * ad[i];
        /* K-quant sums split a weight into scale*q and min parts that cancel:
         * bound the rounding by their magnitude, not by |wd| */
        mag += fabs((double)ad[i]) * (fabs(wd[i]) + wmax);
    }
    const int bsz = (int)hk_type_traits_of(wt)->block_size;
    double tol_a = (double)(n / bsz + 16) * 4 * 0x1.0p-24 * mag + 1e-30;
    if (vt == HK_TYPE_Q8_1) {
        /* Q4_1/Q5_1 add min * s, and s is d * sum(q) rounded to f16 from the
         * unrounded d: it differs from the dequantized activations' sum by
         * exactly this much, by design */
        const hk_block_q8_1 *ab = (const hk_block_q8_1 *)aq;
        for (int64_t b = 0; b < n / 32; b++) {
            const hk_half m = wt == HK_TYPE_Q4_1 ? ((const hk_block_q4_1 *)wq)[b].m : ((const hk_block_q5_1 *)wq)[b].m;
            int sum = 0;
            for (int j = 0; j < 32; j++)
                sum += ab[b].qs[j];
            tol_a += fabs((double)hk_f16_to_f32(m)) *
                     fabs((double)hk_f16_to_f32(ab[b].s) - (double)hk_f16_to_f32(ab[b].d) * sum);
        }
    }
    CHECK(fabs(dot - ref_q) <= tol_a, "%s.%s n=%lld: dot %.9g vs dequantized %.9g (tol %.3g)", hk_type_name(wt),
          hk_type_name(vt), (long long)n, dot, ref_q, tol_a);

    /* (b) against the exact product with the unrounded activations */
    double ref_x = 0, act_err = 0;
    const int abs_ = (int)hk_type_traits_of(vt)->block_size;
    for (int64_t i = 0; i < n; i++) {
        ref_x += (double)wd[i] * x[i];
        const double eb = abs_ > 1 ? act_bound(vt, x + (i / abs_) * abs_, abs_) : fabs(x[i] - ad[i]);
        act_err += fabs(wd[i]) * eb;
    }
    CHECK(fabs(dot - ref_x) <= act_err + tol_a, "%s n=%lld: dot %.9g vs float %.9g, bound %.3g", hk_type_name(wt),
          (long long)n, dot, ref_x, act_err + tol_a);
    free(w);
    free(x);
    free(wd);
    free(ad);
    free(wq);
    free(aq);
}

static void test_dots(void)
{
    const hk_type wts[] = {HK_TYPE_F32,  HK_TYPE_F16,  HK_TYPE_BF16, HK_TYPE_Q4_0, HK_TYPE_Q4_1,
                           HK_TYPE_Q5_0, HK_TYPE_Q5_1, HK_TYPE_Q8_0, HK_TYPE_Q2_K, HK_TYPE_Q3_K,
                           HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K};
    for (size_t k = 0; k < sizeof wts / sizeof wts[0]; k++) {
        const int64_t bs = hk_type_traits_of(wts[k])->block_size == 256 ? 256 : 32;
        const int64_t sizes[] = {bs, 3 * bs, 11 * bs, 4096};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            dot_case(wts[k], sizes[s], D_GAUSS, D_GAUSS);
            dot_case(wts[k], sizes[s], D_MIXSCALE, D_SPIKE);
            dot_case(wts[k], sizes[s], D_NEG, D_MIXSCALE);
            dot_case(wts[k], sizes[s], D_GAUSS, D_ZERO);
        }
    }
    /* the order of ggml's float accumulation is part of the result: a value
     * computed by hand for one Q8_0 pair of blocks */
    hk_block_q8_0 a[2], b[2];
    for (int i = 0; i < 2; i++) {
        a[i].d = hk_f32_to_f16(0.5f + i);
        b[i].d = hk_f32_to_f16(0.25f);
        for (int j = 0; j < 32; j++) {
            a[i].qs[j] = (int8_t)(j - 16);
            b[i].qs[j] = (int8_t)(i ? -j : j);
        }
    }
    /* sum_j (j-16)*j = 10416 - 7936 = 2480; block 0: 2480*0.125, block 1: -2480*0.375 */
    CHECK(hk_vec_dot(HK_TYPE_Q8_0, 64, a, b) == 2480 * 0.125f - 2480 * 0.375f, "Q8_0 dot of known blocks: %g",
          hk_vec_dot(HK_TYPE_Q8_0, 64, a, b));
}

/* ---------------------------------------------------------------- 4. F16 / BF16 */

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Independent reference: the half nearest to f by search over the ordered
 * positive halves, ties to the even code; beyond 65520 (half-way to the next
 * power of two) infinity. */
static uint16_t ref_f32_to_f16(float f)
{
    if (isnan(f))
        return 0x7e00 | (signbit(f) ? 0x8000 : 0);
    const uint16_t sign = signbit(f) ? 0x8000 : 0;
    const double a = fabs((double)f);
    if (a >= 65520.0)
        return sign | 0x7c00;
    int lo = 0, hi = 0x7bff;
    while (lo < hi) { /* largest code with value <= a */
        const int mid = (lo + hi + 1) / 2;
        if ((double)hk_f16_to_f32((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0x7bff)
        return sign | 0x7bff;
    const double vlo = hk_f16_to_f32((uint16_t)lo), vhi = hk_f16_to_f32((uint16_t)(lo + 1));
    int pick = (a - vlo < vhi - a) ? lo : (a - vlo > vhi - a) ? lo + 1 : ((lo & 1) ? lo + 1 : lo);
    return (uint16_t)(sign | pick);
}

static uint16_t ref_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x40);
    const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    const double a = f, vlo = bits_f(lo);
    /* past the largest finite value the next candidate is infinity, which
     * rounding treats as 2^128 */
    const double vhi = ((hi >> 23) & 0xff) == 0xff ? copysign(ldexp(1.0, 128), a) : bits_f(hi);
    /* both candidates have the same sign as f, so compare distances */
    const double dl = fabs(a - vlo), dh = fabs(vhi - a);
    if (dl < dh || (dl == dh && !((lo >> 16) & 1)))
        return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

static void test_half_conversions(void)
{
    int bad = 0;
    /* every code round-trips (NaN stays NaN) */
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = hk_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            bad += !isnan(f) || (hk_f32_to_f16(f) & 0x7c00) != 0x7c00 || !(hk_f32_to_f16(f) & 0x3ff);
        else
            bad += hk_f32_to_f16(f) != h;
    }
    CHECK(bad == 0, "%d half codes do not round-trip", bad);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = hk_bf16_to_f32((uint16_t)h);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f))
            bad += !isnan(f) || (hk_f32_to_bf16(f) & 0x7fc0) != 0x7fc0;
        else
            bad += hk_f32_to_bf16(f) != h;
    }
    CHECK(bad == 0, "%d bfloat16 codes do not round-trip", bad);

    /* hand-picked: ties, subnormals, overflow, specials */
    static const struct {
        uint32_t f;
        uint16_t h;
    } f16_cases[] = {
        {0x00000000, 0x0000}, {0x80000000, 0x8000}, {0x3f800000, 0x3c00}, /* 0, -0, 1 */
        {0x3f801000, 0x3c00}, /* 1 + 2^-11: tie, to even (down) */
        {0x3f803000, 0x3c02}, /* 1 + 3*2^-11: tie, to even (up) */
        {0x3f801001, 0x3c01}, /* just above the tie */
        {0x477fe000, 0x7bff}, /* 65504, largest half */
        {0x477fefff, 0x7bff}, /* 65519.99 */
        {0x477ff000, 0x7c00}, /* 65520: tie with 65536, to even = inf */
        {0x7f800000, 0x7c00}, {0xff800000, 0xfc00}, /* +-inf */
        {0x33800000, 0x0001}, /* 2^-24, smallest subnormal */
        {0x33000000, 0x0000}, /* 2^-25: tie between 0 and 2^-24, to even */
        {0x33400000, 0x0001}, /* 1.5 * 2^-25 rounds up */
        {0x33c00000, 0x0002}, /* 1.5 * 2^-24: tie, to even (2) */
        {0x38800000, 0x0400}, /* 2^-14, smallest normal */
        {0x387fc000, 0x03ff}, /* largest subnormal */
        {0x387fe000, 0x0400}, /* tie between largest subnormal and smallest normal: to even */
        {0x7fc00000, 0x7e00}, {0xffc00000, 0xfe00}, {0x7f800001, 0x7e00}, /* NaNs: quiet, sign kept */
    };
    for (size_t i = 0; i < sizeof f16_cases / sizeof f16_cases[0]; i++) {
        const uint16_t got = hk_f32_to_f16(bits_f(f16_cases[i].f));
        CHECK(got == f16_cases[i].h, "f16(0x%08x) = 0x%04x, expected 0x%04x", f16_cases[i].f, got, f16_cases[i].h);
    }
    static const struct {
        uint32_t f;
        uint16_t h;
    } bf16_cases[] = {
        {0x3f800000, 0x3f80}, {0x3f808000, 0x3f80}, /* tie, to even (down) */
        {0x3f818000, 0x3f82},                       /* tie, to even (up) */
        {0x3f808001, 0x3f81}, {0x7f7fffff, 0x7f80}, /* largest float rounds to inf */
        {0x00000001, 0x0000}, /* subnormals round, not flushed */
        {0x00018000, 0x0002}, {0x80008001, 0x8001}, {0x7f800000, 0x7f80},
        {0x7f800001, 0x7fc0}, /* signalling NaN made quiet */
        {0xffc00000, 0xffc0},
    };
    for (size_t i = 0; i < sizeof bf16_cases / sizeof bf16_cases[0]; i++) {
        const uint16_t got = hk_f32_to_bf16(bits_f(bf16_cases[i].f));
        CHECK(got == bf16_cases[i].h, "bf16(0x%08x) = 0x%04x, expected 0x%04x", bf16_cases[i].f, got,
              bf16_cases[i].h);
    }

    /* random bit patterns against the independent references; half of them
     * are drawn near the half range, where the interesting cases are */
    int bad16 = 0, badb = 0;
    uint32_t first16 = 0, firstb = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        if (i & 1)
            u = (u & 0x807fffffu) | ((uint32_t)(98 + rng_u64() % 50) << 23); /* exponents 2^-29 .. 2^20 */
        const float f = bits_f(u);
        if (hk_f32_to_f16(f) != ref_f32_to_f16(f) && !bad16++)
            first16 = u;
        if (hk_f32_to_bf16(f) != ref_f32_to_bf16(f) && !badb++)
            firstb = u;
    }
    CHECK(bad16 == 0, "f16 rounding differs from the reference for %d floats (first 0x%08x)", bad16, first16);
    CHECK(badb == 0, "bf16 rounding differs from the reference for %d floats (first 0x%08x)", badb, firstb);
}

/* ---------------------------------------------------------------- 5. files */

static bool kv_equal(const hk_gguf_kv *a, const hk_gguf_kv *b)
{
    if (a->key.len != b->key.len || memcmp(a->key.ptr, b->key.ptr, a->key.len) || a->type != b->type ||
        a->size != b->size)
        return false;
    if (a->type == HK_GGUF_ARRAY && (a->arr_type != b->arr_type || a->arr_n != b->arr_n))
        return false;
    return memcmp(a->data, b->data, a->size) == 0;
}

/* Compare got with want: key/value list, tensor names/types/shapes, and
 * (when data is true) tensor bytes.  Returns the number of differences. */
static int compare_models(const char *what, const hk_gguf *got, const hk_gguf *want, bool data, bool skip_file_type)
{
    int diffs = 0;
    CHECK(got->n_kv == want->n_kv, "%s: %llu keys, fixture has %llu", what, (unsigned long long)got->n_kv,
          (unsigned long long)want->n_kv);
    diffs += got->n_kv != want->n_kv;
    for (uint64_t i = 0; i < got->n_kv && i < want->n_kv; i++) {
        const bool ft = hk_str_eq(want->kv[i].key, "general.file_type");
        const bool same = ft && skip_file_type ? hk_str_eq(got->kv[i].key, "general.file_type")
                                               : kv_equal(&got->kv[i], &want->kv[i]);
        CHECK(same, "%s: key %llu is '%.*s', fixture has '%.*s' (or the values differ)", what,
              (unsigned long long)i, (int)got->kv[i].key.len, got->kv[i].key.ptr, (int)want->kv[i].key.len,
              want->kv[i].key.ptr);
        diffs += !same;
    }
    CHECK(got->n_tensors == want->n_tensors, "%s: %llu tensors, fixture has %llu", what,
          (unsigned long long)got->n_tensors, (unsigned long long)want->n_tensors);
    diffs += got->n_tensors != want->n_tensors;
    for (uint64_t i = 0; i < got->n_tensors && i < want->n_tensors; i++) {
        const hk_gguf_tensor *a = &got->tensors[i], *b = &want->tensors[i];
        char an[256], bn[256];
        tensor_name(a, an, sizeof an);
        tensor_name(b, bn, sizeof bn);
        const bool same_info = strcmp(an, bn) == 0 && a->type == b->type && a->n_dims == b->n_dims &&
                               !memcmp(a->ne, b->ne, sizeof a->ne) && a->offset == b->offset;
        CHECK(same_info, "%s: tensor %llu is %s %s, fixture has %s %s", what, (unsigned long long)i, an,
              hk_type_name(a->type), bn, hk_type_name(b->type));
        diffs += !same_info;
        if (data && same_info) {
            const bool same = a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0;
            CHECK(same, "%s: data of %s differs", what, an);
            diffs += !same;
        }
    }
    return diffs;
}

static const char *tmp_path(const char *tag)
{
    static char p[512];
    const char *dir = getenv("TMPDIR");
    snprintf(p, sizeof p, "%s/hark-test-quant-%d-%s.gguf", dir && *dir ? dir : "/tmp", (int)getpid(), tag);
    return p;
}

static void test_quantize_files(void)
{
    char in[4200], want_path[4200];
    snprintf(in, sizeof in, "%s/llama-tied-F32.gguf", models_dir());
    for (size_t k = 0; k < N_FIXTURE_TYPES; k++) {
        const char *out = tmp_path(fixture_types[k]);
        hk_error err = {{0}};
        const int rc = hk_quantize_file(in, out, fixture_types[k], 2, &err);
        CHECK(rc == 0, "quantize to %s: %s", fixture_types[k], err.msg);
        if (rc)
            continue;
        snprintf(want_path, sizeof want_path, "%s/llama-tied-%s.gguf", models_dir(), fixture_types[k]);
        size_t n_got = 0, n_want = 0;
        char *got = hk_read_file(out, &n_got), *want = hk_read_file(want_path, &n_want);
        const bool identical = got && want && n_got == n_want && memcmp(got, want, n_got) == 0;
        printf("quantize llama-tied-F32 -> %-7s %s\n", fixture_types[k],
               identical ? "byte-identical to the fixture" : "DIFFERS from the fixture");
        CHECK(identical, "%s: output (%zu bytes) is not byte-identical to the fixture (%zu bytes)",
              fixture_types[k], n_got, n_want);
        if (!identical) {
            hk_gguf *g = hk_gguf_open(out, &err), *w = hk_gguf_open(want_path, &err);
            if (g && w)
                compare_models(fixture_types[k], g, w, true, false);
            hk_gguf_close(g);
            hk_gguf_close(w);
        }
        free(got);
        free(want);
        unlink(out);
    }

    /* Other families: only F16 sources are here, so the bytes differ from
     * the fixtures (made from F32), but llama-quantize's per-tensor types
     * and the key/value list (except the ftype number) must be the same. */
    static const struct {
        const char *family, *type;
    } cross[] = {
        {"qwen2", "Q8_0"}, {"qwen2", "Q6_K"}, {"qwen2", "Q4_K_M"}, {"qwen2", "Q4_0"}, {"phi3", "Q8_0"},
        {"phi3", "Q4_K_M"}, {"phi3", "Q4_0"}, {"gemma2", "Q8_0"}, {"gemma2", "Q4_0"},
    };
    for (size_t k = 0; k < sizeof cross / sizeof cross[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "%s-%s", cross[k].family, cross[k].type);
        snprintf(in, sizeof in, "%s/%s-F16.gguf", models_dir(), cross[k].family);
        snprintf(want_path, sizeof want_path, "%s/%s.gguf", models_dir(), what);
        const char *out = tmp_path(what);
        hk_error err = {{0}};
        const int rc = hk_quantize_file(in, out, cross[k].type, 1, &err);
        CHECK(rc == 0, "quantize %s: %s", what, err.msg);
        if (rc)
            continue;
        hk_gguf *g = hk_gguf_open(out, &err);
        CHECK(g != NULL, "%s: output does not open: %s", what, err.msg);
        hk_gguf *w = hk_gguf_open(want_path, &err);
        if (g && w) {
            const int diffs = compare_models(what, g, w, false, false);
            printf("quantize %-6s-F16 -> %-7s tensor types and keys %s the fixture\n", cross[k].family,
                   cross[k].type, diffs ? "DIFFER from" : "match");
        }
        hk_gguf_close(g);
        hk_gguf_close(w);
        unlink(out);
    }

    /* gemma2 Q4_K_M (26 layers of 64-wide rows; the file is not among the
     * fixtures, the README lists its types): rows of 64 cannot hold K-quant
     * blocks, so Q4_K falls back to Q5_0 and Q6_K to Q8_0; attn_v and
     * ffn_down get Q6_K (hence Q8_0) where use_more_bits picks the layer. */
    {
        snprintf(in, sizeof in, "%s/gemma2-F16.gguf", models_dir());
        const char *out = tmp_path("gemma2-Q4_K_M");
        hk_error err = {{0}};
        const int rc = hk_quantize_file(in, out, "Q4_K_M", 2, &err);
        CHECK(rc == 0, "quantize gemma2 Q4_K_M: %s", err.msg);
        hk_gguf *g = rc ? NULL : hk_gguf_open(out, &err);
        if (g) {
            static const int more_bits[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 22, 23, 24, 25};
            int wrong = 0;
            for (uint64_t i = 0; i < g->n_tensors; i++) {
                const hk_gguf_tensor *t = &g->tensors[i];
                char name[256];
                tensor_name(t, name, sizeof name);
                hk_type want = HK_TYPE_Q5_0;
                int layer = -1;
                sscanf(name, "blk.%d.", &layer);
                if (t->n_dims == 1)
                    want = HK_TYPE_F32;
                else if (strcmp(name, "token_embd.weight") == 0)
                    want = HK_TYPE_Q8_0;
                else if (strstr(name, "attn_v") || strstr(name, "ffn_down"))
                    for (size_t k = 0; k < sizeof more_bits / sizeof more_bits[0]; k++)
                        if (layer == more_bits[k])
                            want = HK_TYPE_Q8_0;
                CHECK(t->type == want, "gemma2 Q4_K_M: %s is %s, llama.cpp makes it %s", name,
                      hk_type_name(t->type), hk_type_name(want));
                wrong += t->type != want;
            }
            printf("quantize gemma2-F16 -> Q4_K_M  tensor types %s README 4.8\n", wrong ? "DIFFER from" : "match");
            hk_gguf_close(g);
        }
        unlink(out);
    }

    /* error paths: a message naming the problem, and no file left behind */
    hk_error err = {{0}};
    const char *out = tmp_path("err");
    snprintf(in, sizeof in, "%s/llama-tied-F32.gguf", models_dir());
    CHECK(hk_quantize_file(in, out, "Q9_9", 1, &err) == -1 && strstr(err.msg, "Q9_9"), "bad type: '%s'",
          err.msg);
    CHECK(access(out, F_OK) != 0, "a file was left after a failed quantize");
    CHECK(hk_quantize_file("/nonexistent/x.gguf", out, "Q4_0", 1, &err) == -1 && err.msg[0], "missing input");
    snprintf(in, sizeof in, "%s/llama-tied-Q4_0.gguf", models_dir());
    CHECK(hk_quantize_file(in, out, "Q8_0", 1, &err) == -1 && strstr(err.msg, "requantiz"),
          "quantized input accepted: '%s'", err.msg);
    CHECK(access(out, F_OK) != 0, "a file was left after a failed quantize");
    CHECK(hk_ftype_from_name("q4_k_m") == HK_FTYPE_MOSTLY_Q4_K_M && hk_ftype_from_name("15") == 15 &&
              hk_ftype_from_name("IQ2_XXS") == -1,
          "ftype names");
}

int main(void)
{
    test_bitexact_fixtures();
    test_roundtrips();
    test_activations();
    test_dots();
    test_half_conversions();
    test_quantize_files();
    return hk_check_done("quant");
}
