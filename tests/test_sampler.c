/* Sampler tests: determinism, greedy, the penalty formulas, and each filter's
 * effect checked two ways: tokens outside the expected set are never drawn
 * (exact), and draw frequencies inside it match the expected renormalized
 * probabilities (chi-square, bound explained at chi2_limit). */
#include "check.h"
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Deterministic test data: splitmix64, independent of the sampler's RNG. */
static uint64_t test_rng = 12345;
static double urand(void)
{
    uint64_t z = (test_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static void random_logits(float *l, int n, float scale)
{
    for (int i = 0; i < n; i++)
        l[i] = (float)((urand() * 2.0 - 1.0) * scale);
}

static hk_sampling plain(float temp)
{
    hk_sampling p = hk_sampling_default();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static int argmax(const float *l, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b])
            b = i;
    return b;
}

/* ---- a deliberately naive reference: llama.cpp's steps, literally ---------- */

typedef struct ref_cand {
    float l;
    int id;
} ref_cand;

static int ref_cmp(const void *a, const void *b)
{
    const ref_cand *x = a, *y = b;
    if (x->l != y->l)
        return x->l > y->l ? -1 : 1;
    return x->id - y->id;
}

/* Expected probability of each token (probs[n]) for parameters p, logits l
 * and a history of accepted tokens (already cut to the penalty window). */
static void ref_probs(const hk_sampling *p, const float *logits, int n, const int *hist, int n_hist,
                      double *probs)
{
    float *l = malloc(sizeof *l * (size_t)n);
    int *count = calloc((size_t)n, sizeof *count);
    ref_cand *c = malloc(sizeof *c * (size_t)n);
    memcpy(l, logits, sizeof *l * (size_t)n);
    for (int i = 0; i < n_hist; i++)
        count[hist[i]]++;
    for (int t = 0; t < n; t++) {
        if (!count[t] || p->penalty_last_n == 0)
            continue;
        l[t] = l[t] <= 0 ? l[t] * p->repeat_penalty : l[t] / p->repeat_penalty;
        l[t] -= (float)count[t] * p->frequency_penalty + p->presence_penalty;
    }
    for (int t = 0; t < n; t++)
        c[t] = (ref_cand){l[t], t};
    qsort(c, (size_t)n, sizeof *c, ref_cmp);
    int size = n;
    if (p->top_k > 0 && p->top_k < size)
        size = p->top_k;
    if (p->top_p < 1.0f) {
        double z = 0, cum = 0;
        for (int i = 0; i < size; i++)
            z += exp((double)c[i].l - c[0].l);
        for (int i = 0; i < size; i++) {
            cum += exp((double)c[i].l - c[0].l) / z;
            if (cum >= p->top_p) {
                size = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        float min_l = c[0].l + logf(p->min_p);
        int i = 1;
        while (i < size && c[i].l >= min_l)
            i++;
        size = i;
    }
    memset(probs, 0, sizeof *probs * (size_t)n);
    if (p->temp <= 0) {
        probs[c[0].id] = 1.0;
    } else {
        double z = 0;
        for (int i = 0; i < size; i++)
            z += exp(((double)c[i].l - c[0].l) / p->temp);
        for (int i = 0; i < size; i++)
            probs[c[i].id] = exp(((double)c[i].l - c[0].l) / p->temp) / z;
    }
    free(l);
    free(count);
    free(c);
}

/* Chi-square acceptance limit for df degrees of freedom at a false-alarm
 * probability of about 1e-6: the Wilson-Hilferty cube approximation of the
 * chi-square quantile with z = 4.753 (the standard normal's 1 - 1e-6 point).
 * For df = 2 it gives 30.3 against the exact 27.6, so it errs on the lenient
 * side by a little.  A correct sampler therefore fails a check with
 * probability about 1e-6 per seed (and the seeds are fixed, so a pass is
 * permanent).  The main tests draw 100000 times, so a probability off by
 * 0.01 in a bin of expected mass 0.2 adds about 100000 * 0.01^2 / 0.2 = 50
 * to the statistic, beyond the limits here (30.3 for df 2, 32.8 for df 3);
 * a wrongly included or excluded token is caught exactly, by count. */
static double chi2_limit(int df)
{
    double k = df, z = 4.753, a = 2.0 / (9.0 * k);
    double t = 1.0 - a + z * sqrt(a);
    return k * t * t * t;
}

/* Draw n_draws tokens from fixed logits and compare with expected probs:
 * zero-probability tokens must never appear; the rest are binned (tokens
 * with an expected count >= 20 alone, the others pooled) for chi-square. */
static void check_distribution(const char *what, hk_sampler *s, const float *logits, int n,
                               const double *probs, int n_draws)
{
    long *got = calloc((size_t)n, sizeof *got);
    for (int d = 0; d < n_draws; d++) {
        int32_t t = hk_sampler_sample(s, logits);
        if (t < 0 || t >= n) {
            CHECK(0, "%s: token %d out of range", what, (int)t);
            free(got);
            return;
        }
        got[t]++;
    }
    long outside = 0;
    int first_outside = -1;
    double x2 = 0, pool_e = 0;
    long pool_o = 0;
    int bins = 0;
    for (int t = 0; t < n; t++) {
        double e = probs[t] * n_draws;
        if (probs[t] == 0.0) {
            if (got[t] && first_outside < 0)
                first_outside = t;
            outside += got[t];
        } else if (e >= 20.0) {
            x2 += (got[t] - e) * (got[t] - e) / e;
            bins++;
        } else {
            pool_e += e;
            pool_o += got[t];
        }
    }
    if (pool_e >= 5.0) {
        x2 += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        bins++;
    } else {
        /* too little mass to test as a bin; it must still be rare */
        CHECK(pool_o <= 5 + 10 * pool_e, "%s: %ld draws in a pool expecting %.2f", what, pool_o, pool_e);
    }
    CHECK(outside == 0, "%s: %ld draws of excluded tokens (first: %d)", what, outside, first_outside);
    if (bins >= 2) {
        double lim = chi2_limit(bins - 1);
        CHECK(x2 <= lim, "%s: chi-square %.2f over %d bins exceeds %.2f", what, x2, bins, lim);
    }
    free(got);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_greedy(void)
{
    enum { V = 1000 };
    float l[V];
    hk_sampling p = plain(0.0f);
    p.top_k = 40;
    hk_sampler *s = hk_sampler_new(&p, V);
    CHECK(s != NULL, "new");
    for (int r = 0; r < 50; r++) {
        random_logits(l, V, 10.0f);
        CHECK(hk_sampler_sample(s, l) == argmax(l, V), "greedy = argmax (round %d)", r);
    }
    /* ties go to the lowest id */
    for (int i = 0; i < V; i++)
        l[i] = -1.0f;
    l[700] = 5.0f;
    l[300] = 5.0f;
    l[900] = 5.0f;
    CHECK(hk_sampler_sample(s, l) == 300, "greedy tie -> lowest id");
    /* NaN counts as -inf; all -inf picks token 0 */
    l[300] = NAN;
    CHECK(hk_sampler_sample(s, l) == 700, "NaN ignored");
    for (int i = 0; i < V; i++)
        l[i] = -INFINITY;
    CHECK(hk_sampler_sample(s, l) == 0, "all -inf -> 0");
    hk_sampler_free(s);
}

static void test_top_k1_is_greedy(void)
{
    enum { V = 32000 };
    static float l[V];
    hk_sampling p = hk_sampling_default();
    p.top_k = 1;
    p.temp = 1.5f;
    p.min_p = 0.0f;
    p.top_p = 1.0f;
    hk_sampler *s = hk_sampler_new(&p, V);
    for (int r = 0; r < 30; r++) {
        random_logits(l, V, 3.0f);
        CHECK(hk_sampler_sample(s, l) == argmax(l, V), "top_k=1 = greedy (round %d)", r);
    }
    /* top_p <= 0 and min_p >= 1 also leave only the best */
    hk_sampler_free(s);
    p.top_k = 0;
    p.top_p = 0.0f;
    s = hk_sampler_new(&p, V);
    for (int r = 0; r < 10; r++) {
        random_logits(l, V, 3.0f);
        CHECK(hk_sampler_sample(s, l) == argmax(l, V), "top_p=0 = greedy (round %d)", r);
    }
    hk_sampler_free(s);
    p.top_p = 1.0f;
    p.min_p = 1.5f;
    s = hk_sampler_new(&p, V);
    for (int r = 0; r < 10; r++) {
        random_logits(l, V, 3.0f);
        CHECK(hk_sampler_sample(s, l) == argmax(l, V), "min_p>1 = greedy (round %d)", r);
    }
    hk_sampler_free(s);
}

/* Generate n tokens, feeding each back into the history; logits depend on
 * the step so the sequence exercises the penalties too. */
static void run_sequence(hk_sampler *s, int32_t *out, int n, int V)
{
    float *l = malloc(sizeof *l * (size_t)V);
    uint64_t saved = test_rng;
    test_rng = 777;
    for (int i = 0; i < n; i++) {
        random_logits(l, V, 2.0f);
        out[i] = hk_sampler_sample(s, l);
        hk_sampler_accept(s, out[i]);
    }
    test_rng = saved;
    free(l);
}

static void test_determinism(void)
{
    enum { V = 5000, N = 200 };
    int32_t a[N], b[N], c[N], d[N];
    hk_sampling p = hk_sampling_default();
    p.top_k = 0;
    p.min_p = 0.0f;
    p.temp = 1.0f;
    p.repeat_penalty = 1.1f;
    p.seed = 42;
    hk_sampler *s1 = hk_sampler_new(&p, V), *s2 = hk_sampler_new(&p, V);
    run_sequence(s1, a, N, V);
    run_sequence(s2, b, N, V);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed -> same sequence");
    hk_sampler_reset(s1);
    run_sequence(s1, c, N, V);
    CHECK(memcmp(a, c, sizeof a) == 0, "reset -> same sequence again");
    p.seed = 43;
    hk_sampler *s3 = hk_sampler_new(&p, V);
    run_sequence(s3, d, N, V);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += a[i] == d[i];
    /* with these flat logits two independent streams agree on a token a few
     * times in 200 at most */
    CHECK(same < N / 4, "different seeds differ (%d of %d equal)", same, N);

    /* sampling leaves the caller's logits alone */
    float l[V], copy[V];
    random_logits(l, V, 4.0f);
    memcpy(copy, l, sizeof l);
    hk_sampler_accept(s1, 17);
    hk_sampler_sample(s1, l);
    CHECK(memcmp(l, copy, sizeof l) == 0, "logits unmodified");
    hk_sampler_free(s1);
    hk_sampler_free(s2);
    hk_sampler_free(s3);
}

static void test_penalties(void)
{
    enum { V = 6 };
    const float base[V] = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f, 1.0f};
    float l[V];
    hk_sampling p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.penalty_last_n = 64;
    hk_sampler *s = hk_sampler_new(&p, V);
    const int32_t hist[] = {0, 0, 1, 4};
    for (int i = 0; i < 4; i++)
        hk_sampler_accept(s, hist[i]);
    hk_sampler_accept(s, -1); /* ignored */
    hk_sampler_accept(s, V);  /* ignored */
    memcpy(l, base, sizeof l);
    hk_sampler_penalize(s, l);
    /* token 0: count 2, positive: 2/2 - (2*0.5 + 0.25) = -0.25
     * token 1: count 1, negative: -1*2 - (0.5 + 0.25) = -2.75
     * token 4: count 1, zero counts as non-positive: 0*2 - 0.75 = -0.75
     * others untouched */
    const float want[V] = {-0.25f, -2.75f, 0.5f, 3.0f, -0.75f, 1.0f};
    for (int i = 0; i < V; i++)
        CHECK(l[i] == want[i], "penalized logit %d: %g, want %g", i, l[i], want[i]);

    /* Greedy sees the penalized logits: token 0 (2.0) against token 5 (1.0)
     * with a repeat penalty on token 0 only: 2.0 / 1.9 = 1.05 stays on top,
     * 2.0 / 2.1 = 0.95 drops below. */
    hk_sampler_free(s);
    float g[V] = {2.0f, -5.0f, -5.0f, -5.0f, -5.0f, 1.0f};
    p = plain(0.0f);
    p.repeat_penalty = 1.9f;
    s = hk_sampler_new(&p, V);
    hk_sampler_accept(s, 0);
    CHECK(hk_sampler_sample(s, g) == 0, "repeat 1.9 keeps token 0 on top");
    hk_sampler_free(s);
    p.repeat_penalty = 2.1f;
    s = hk_sampler_new(&p, V);
    hk_sampler_accept(s, 0);
    CHECK(hk_sampler_sample(s, g) == 5, "repeat 2.1 moves token 0 below token 5");
    hk_sampler_free(s);

    /* the window: last_n = 3 forgets the first accepted token */
    p = plain(0.0f);
    p.frequency_penalty = 1.0f;
    p.penalty_last_n = 3;
    s = hk_sampler_new(&p, V);
    for (int i = 0; i < 4; i++)
        hk_sampler_accept(s, hist[i]); /* window now 0, 1, 4 */
    memcpy(l, base, sizeof l);
    hk_sampler_penalize(s, l);
    CHECK(l[0] == 1.0f && l[1] == -2.0f && l[4] == -1.0f && l[3] == 3.0f,
          "window of 3: %g %g %g %g", l[0], l[1], l[4], l[3]);
    for (int i = 0; i < 3; i++)
        hk_sampler_accept(s, 5); /* window 5, 5, 5 */
    memcpy(l, base, sizeof l);
    hk_sampler_penalize(s, l);
    CHECK(l[0] == 2.0f && l[1] == -1.0f && l[4] == 0.0f && l[5] == -2.0f,
          "window slides: %g %g %g %g", l[0], l[1], l[4], l[5]);
    hk_sampler_reset(s);
    memcpy(l, base, sizeof l);
    hk_sampler_penalize(s, l);
    CHECK(memcmp(l, base, sizeof l) == 0, "reset clears the history");
    hk_sampler_free(s);

    /* -1: the whole history; 0: penalties off */
    p.penalty_last_n = -1;
    s = hk_sampler_new(&p, V);
    for (int i = 0; i < 1000; i++)
        hk_sampler_accept(s, 2);
    memcpy(l, base, sizeof l);
    hk_sampler_penalize(s, l);
    CHECK(l[2] == 0.5f - 1000.0f, "whole history: %g", l[2]);
    hk_sampler_free(s);
    p.penalty_last_n = 0;
    s = hk_sampler_new(&p, V);
    hk_sampler_accept(s, 2);
    memcpy(l, base, sizeof l);
    hk_sampler_penalize(s, l);
    CHECK(memcmp(l, base, sizeof l) == 0, "last_n 0 disables");
    hk_sampler_free(s);
}

/* Logits whose softmax (temperature 1) is exactly the given probabilities,
 * up to float rounding; the rest of the vocabulary gets `rest`. */
static void logits_from_probs(float *l, int V, const double *pr, int n, float rest)
{
    for (int i = 0; i < V; i++)
        l[i] = rest;
    for (int i = 0; i < n; i++)
        l[i] = (float)log(pr[i]);
}

static void test_filters(void)
{
    enum { DRAWS = 100000 };
    char what[128];

    /* top-k: 3 of a 100-token vocabulary; ids shuffled so order is not id order */
    {
        enum { V = 100 };
        float l[V];
        double probs[V];
        for (int i = 0; i < V; i++)
            l[i] = (float)(-3.0 - 0.01 * i);
        l[57] = 1.0f;
        l[3] = 0.5f;
        l[88] = 0.0f;
        l[12] = -0.5f; /* fourth: must never appear */
        hk_sampling p = plain(1.0f);
        p.top_k = 3;
        p.seed = 1;
        hk_sampler *s = hk_sampler_new(&p, V);
        ref_probs(&p, l, V, NULL, 0, probs);
        CHECK(probs[57] > 0 && probs[3] > 0 && probs[88] > 0 && probs[12] == 0, "reference top-k set");
        check_distribution("top_k=3", s, l, V, probs, DRAWS);
        hk_sampler_free(s);
    }

    /* top-p: 0.4 0.25 0.15 0.1 0.05 0.05, p = 0.75 keeps exactly three
     * (0.65 < 0.75 <= 0.80), renormalized to 0.5 0.3125 0.1875 */
    {
        enum { V = 64 };
        float l[V];
        double probs[V] = {0};
        const double pr[] = {0.4, 0.25, 0.15, 0.1, 0.05, 0.05};
        logits_from_probs(l, V, pr, 6, -INFINITY);
        hk_sampling p = plain(1.0f);
        p.top_p = 0.75f;
        p.seed = 2;
        hk_sampler *s = hk_sampler_new(&p, V);
        probs[0] = 0.5;
        probs[1] = 0.3125;
        probs[2] = 0.1875;
        check_distribution("top_p=0.75", s, l, V, probs, DRAWS);
        hk_sampler_free(s);
    }

    /* top-p over a flat tail (no top-k): head 0.3 0.2 0.1, then 4000 tokens
     * of 1e-4 each.  p = 0.70005 needs the head and exactly 1001 tail tokens
     * (0.7001 >= 0.70005 > 0.7), the lowest ids among equals: the tail shares
     * one histogram bucket, so this walks the sort inside the boundary bucket.
     * Each draw sorts 4000 tokens, hence fewer draws (2500: the four bins
     * still expect 350+ each). */
    {
        enum { V = 4003 };
        static float l[V];
        static double probs[V];
        const double pr[] = {0.3, 0.2, 0.1};
        logits_from_probs(l, V, pr, 3, (float)log(1e-4));
        hk_sampling p = plain(1.0f);
        p.top_p = 0.70005f;
        p.seed = 3;
        hk_sampler *s = hk_sampler_new(&p, V);
        ref_probs(&p, l, V, NULL, 0, probs);
        int kept = 0;
        for (int i = 0; i < V; i++)
            kept += probs[i] > 0;
        CHECK(kept == 3 + 1001 && probs[3 + 1000] > 0 && probs[3 + 1001] == 0,
              "reference nucleus size %d", kept);
        check_distribution("top_p over a flat tail", s, l, V, probs, DRAWS / 40);
        hk_sampler_free(s);
    }

    /* min-p: 0.5 0.2 0.1 0.04 ..., min_p = 0.1 -> threshold 0.05 keeps three */
    {
        enum { V = 300 };
        float l[V];
        double probs[V] = {0};
        const double pr[] = {0.5, 0.2, 0.1, 0.04, 0.03, 0.02};
        logits_from_probs(l, V, pr, 6, (float)log(0.11 / (V - 6)));
        hk_sampling p = plain(1.0f);
        p.min_p = 0.1f;
        p.seed = 4;
        hk_sampler *s = hk_sampler_new(&p, V);
        probs[0] = 0.5 / 0.8;
        probs[1] = 0.2 / 0.8;
        probs[2] = 0.1 / 0.8;
        check_distribution("min_p=0.1", s, l, V, probs, DRAWS);
        hk_sampler_free(s);
    }

    /* temperature alone: p ∝ exp(l / T) over everything */
    {
        enum { V = 8 };
        float l[V] = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 0.25f, 0.75f, -2.0f};
        double probs[V];
        hk_sampling p = plain(0.7f);
        p.seed = 5;
        hk_sampler *s = hk_sampler_new(&p, V);
        ref_probs(&p, l, V, NULL, 0, probs);
        check_distribution("temp=0.7", s, l, V, probs, DRAWS);
        hk_sampler_free(s);
    }

    /* The whole chain on random logits against the naive reference, for
     * several parameter sets, with a penalty history in place. */
    {
        enum { V = 5000, NH = 40 };
        static float l[V];
        static double probs[V];
        int32_t hist[NH];
        const struct { int32_t k; float tp, mp, t, rep, fr, pr; } cfg[] = {
            {40, 0.95f, 0.05f, 0.8f, 1.0f, 0.0f, 0.0f},  /* the defaults */
            {0, 0.9f, 0.0f, 1.0f, 1.1f, 0.0f, 0.0f},
            {0, 1.0f, 0.2f, 1.3f, 1.0f, 0.1f, 0.2f},
            {200, 0.8f, 0.01f, 0.5f, 1.3f, 0.05f, 0.0f},
            {0, 0.6f, 0.02f, 1.0f, 1.0f, 0.0f, 0.5f},
        };
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            random_logits(l, V, 10.0f);
            for (int i = 0; i < NH; i++) /* repeat some of the best tokens */
                hist[i] = i % 2 ? argmax(l, V) : (int32_t)(urand() * V);
            hk_sampling p = hk_sampling_default();
            p.top_k = cfg[c].k;
            p.top_p = cfg[c].tp;
            p.min_p = cfg[c].mp;
            p.temp = cfg[c].t;
            p.repeat_penalty = cfg[c].rep;
            p.frequency_penalty = cfg[c].fr;
            p.presence_penalty = cfg[c].pr;
            p.penalty_last_n = 32; /* the first 8 of the 40 fall out */
            p.seed = 100 + c;
            hk_sampler *s = hk_sampler_new(&p, V);
            for (int i = 0; i < NH; i++)
                hk_sampler_accept(s, hist[i]);
            ref_probs(&p, l, V, hist + NH - 32, 32, probs);
            snprintf(what, sizeof what, "chain config %zu", c);
            check_distribution(what, s, l, V, probs, DRAWS / 10);
            hk_sampler_free(s);
        }
    }
}

static void test_bad_params(void)
{
    hk_sampling p = hk_sampling_default();
    CHECK(hk_sampler_new(&p, 0) == NULL, "n_vocab 0");
    CHECK(hk_sampler_new(NULL, 10) == NULL, "NULL params");
    p.repeat_penalty = 0.0f;
    CHECK(hk_sampler_new(&p, 10) == NULL, "repeat_penalty 0");
    p = hk_sampling_default();
    p.top_p = NAN;
    CHECK(hk_sampler_new(&p, 10) == NULL, "NaN top_p");
    p = hk_sampling_default();
    p.penalty_last_n = -2;
    CHECK(hk_sampler_new(&p, 10) == NULL, "penalty_last_n -2");
    CHECK(hk_sampler_sample(NULL, NULL) == -1, "NULL sampler");
    hk_sampler_accept(NULL, 1);
    hk_sampler_reset(NULL);
    hk_sampler_free(NULL);

    hk_sampling d = hk_sampling_default();
    CHECK(d.temp == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f &&
              d.repeat_penalty == 1.0f && d.frequency_penalty == 0.0f && d.presence_penalty == 0.0f &&
              d.penalty_last_n == 64 && d.seed == HK_SAMPLING_DEFAULT_SEED,
          "defaults");
}

/* A real-sized vocabulary through the default chain: smoke test that the
 * heap path and a long penalty window behave (no timing here; see hark bench). */
static void test_large_vocab(void)
{
    enum { V = 151936, N = 40 };
    float *l = malloc(sizeof *l * V);
    hk_sampling p = hk_sampling_default();
    p.repeat_penalty = 1.1f;
    p.penalty_last_n = -1;
    hk_sampler *s = hk_sampler_new(&p, V);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        random_logits(l, V, 8.0f);
        int32_t t = hk_sampler_sample(s, l);
        ok &= t >= 0 && t < V;
        hk_sampler_accept(s, t);
    }
    CHECK(ok, "large vocabulary tokens in range");
    hk_sampler_free(s);
    free(l);
}

int main(void)
{
    test_greedy();
    test_top_k1_is_greedy();
    test_determinism();
    test_penalties();
    test_filters();
    test_bad_params();
    test_large_vocab();
    return hk_check_done("sampler");
}
