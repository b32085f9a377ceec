/* Token sampling; see sampler.h for the chain and its semantics.
 *
 * Cost per token: one O(V) copy of the logits, O(distinct tokens in the
 * window) for the penalties, one O(V) pass for the maximum, then either a
 * bounded-heap top-k selection (O(V) comparisons against the heap's worst
 * entry, O(k log k) to order the winners) or, with top-k off, a logit
 * histogram that finds the top-p nucleus in two O(V) passes and sorts only
 * the tokens it may contain.  Nothing is allocated after hk_sampler_new. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct hk_cand {
    float logit;
    int32_t id;
} hk_cand;

struct hk_sampler {
    hk_sampling p;
    int32_t n_vocab;
    float *cur;        /* (n_vocab) penalized copy of the caller's logits */
    hk_cand *cand;     /* (n_vocab) selection heap, then the sorted survivors */
    int32_t *count;    /* (n_vocab) occurrences of each token in the penalty window */
    int32_t *seen;     /* (n_vocab) tokens with count > 0, unordered: penalties visit only these */
    int32_t *seen_at;  /* (n_vocab) position of a token in seen[], valid while its count > 0 */
    int32_t n_seen;
    int32_t *ring;     /* (penalty_last_n) window of accepted tokens, oldest at ring_head; NULL unless last_n > 0 */
    int32_t ring_head, ring_len;
    uint64_t rng[4];   /* xoshiro256** state */
};

hk_sampling hk_sampling_default(void)
{
    hk_sampling p = {
        .temp = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = HK_SAMPLING_DEFAULT_SEED,
    };
    return p;
}

/* ---- random numbers --------------------------------------------------------
 * xoshiro256** (Blackman & Vigna, 2018): 256 bits of state, period 2^256-1,
 * passes BigCrush; far more than a sampler needs and only a few instructions.
 * The state is expanded from the 64-bit seed with splitmix64, as its authors
 * recommend, so that similar seeds give unrelated streams. */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static void rng_seed(uint64_t s[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&seed);
}

/* ---- construction ---------------------------------------------------------- */

hk_sampler *hk_sampler_new(const hk_sampling *p, int32_t n_vocab)
{
    if (!p || n_vocab <= 0)
        return NULL;
    if (isnan(p->temp) || isnan(p->top_p) || isnan(p->min_p) || isnan(p->frequency_penalty) ||
        isnan(p->presence_penalty) || !(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty) ||
        p->penalty_last_n < -1)
        return NULL;

    hk_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    s->cur = malloc(n * sizeof *s->cur);
    s->cand = malloc(n * sizeof *s->cand);
    s->count = calloc(n, sizeof *s->count);
    s->seen = malloc(n * sizeof *s->seen);
    s->seen_at = malloc(n * sizeof *s->seen_at);
    if (p->penalty_last_n > 0)
        s->ring = malloc((size_t)p->penalty_last_n * sizeof *s->ring);
    if (!s->cur || !s->cand || !s->count || !s->seen || !s->seen_at ||
        (p->penalty_last_n > 0 && !s->ring)) {
        hk_sampler_free(s);
        return NULL;
    }
    rng_seed(s->rng, p->seed);
    return s;
}

void hk_sampler_free(hk_sampler *s)
{
    if (!s)
        return;
    free(s->cur);
    free(s->cand);
    free(s->count);
    free(s->seen);
    free(s->seen_at);
    free(s->ring);
    free(s);
}

void hk_sampler_reset(hk_sampler *s)
{
    if (!s)
        return;
    for (int32_t i = 0; i < s->n_seen; i++)
        s->count[s->seen[i]] = 0;
    s->n_seen = 0;
    s->ring_head = s->ring_len = 0;
    rng_seed(s->rng, s->p.seed);
}

/* ---- penalty history ------------------------------------------------------- */

static void count_add(hk_sampler *s, int32_t t)
{
    if (s->count[t] == 0) {
        s->seen_at[t] = s->n_seen;
        s->seen[s->n_seen++] = t;
    }
    if (s->count[t] < INT32_MAX) /* whole-context mode never forgets; saturate, don't wrap */
        s->count[t]++;
}

static void count_remove(hk_sampler *s, int32_t t)
{
    if (--s->count[t] > 0)
        return;
    int32_t at = s->seen_at[t];
    int32_t last = s->seen[--s->n_seen];
    s->seen[at] = last;
    s->seen_at[last] = at;
}

void hk_sampler_accept(hk_sampler *s, int32_t token)
{
    if (!s || token < 0 || token >= s->n_vocab || s->p.penalty_last_n == 0)
        return;
    int32_t last_n = s->p.penalty_last_n;
    if (last_n > 0) {
        if (s->ring_len == last_n) {
            count_remove(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % last_n;
        } else {
            s->ring[(s->ring_head + s->ring_len) % last_n] = token;
            s->ring_len++;
        }
    }
    count_add(s, token);
}

void hk_sampler_penalize(const hk_sampler *s, float *logits)
{
    if (!s || !logits)
        return;
    const hk_sampling *p = &s->p;
    if (p->penalty_last_n == 0 ||
        (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f))
        return;
    for (int32_t i = 0; i < s->n_seen; i++) {
        int32_t t = s->seen[i];
        int32_t c = s->count[t];
        float l = logits[t];
        /* Dividing a negative logit would raise it; llama.cpp multiplies instead
         * so that a repeat always becomes less likely. */
        if (l <= 0.0f)
            l *= p->repeat_penalty;
        else
            l /= p->repeat_penalty;
        l -= (float)c * p->frequency_penalty + (float)(c > 0) * p->presence_penalty;
        logits[t] = l;
    }
}

/* ---- candidate selection --------------------------------------------------- */

/* Unnormalized probability relative to the best token.  Float exp, as
 * llama.cpp's softmax; sums are kept in double. */
static inline double weight(float logit, float maxl)
{
    return (double)expf(logit - maxl);
}

/* Maximum with eight independent accumulators: no NaN can be present, and
 * splitting the dependency chain lets it run at memory speed. */
static float max_of(const float *x, size_t n)
{
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    for (; i < n; i++)
        m[0] = x[i] > m[0] ? x[i] : m[0];
    for (int j = 1; j < 8; j++)
        m[0] = m[j] > m[0] ? m[j] : m[0];
    return m[0];
}

/* The one order used everywhere: higher logit first, then lower id. */
static inline bool cand_better(hk_cand a, hk_cand b)
{
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    hk_cand a = *(const hk_cand *)pa, b = *(const hk_cand *)pb;
    return cand_better(a, b) ? -1 : cand_better(b, a) ? 1 : 0;
}

/* Heap with the worst kept candidate at the root, so a newcomer needs one
 * comparison to be rejected. */
static void heap_sift_down(hk_cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_better(h[w], h[l]))
            w = l;
        if (r < n && cand_better(h[w], h[r]))
            w = r;
        if (w == i)
            return;
        hk_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_sift_up(hk_cand *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_better(h[parent], h[i]))
            return;
        hk_cand t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Put the best min(k, eligible) tokens whose logit is >= thresh into
 * s->cand, sorted best first; returns how many. */
static size_t select_top(hk_sampler *s, size_t k, float thresh)
{
    const float *cur = s->cur;
    hk_cand *c = s->cand;
    size_t nv = (size_t)s->n_vocab, n = 0;

    if (k >= nv / 8) {
        /* A heap this large costs about what a sort does; sort directly. */
        for (size_t v = 0; v < nv; v++)
            if (cur[v] >= thresh)
                c[n++] = (hk_cand){cur[v], (int32_t)v};
        qsort(c, n, sizeof *c, cand_cmp);
        return n < k ? n : k;
    }
    for (size_t v = 0; v < nv; v++) {
        /* Once the heap is full almost every token loses to its root; test
         * that first, on the logit alone. */
        if (!(cur[v] >= thresh) || (n == k && cur[v] < c[0].logit))
            continue;
        hk_cand x = {cur[v], (int32_t)v};
        if (n < k) {
            c[n] = x;
            heap_sift_up(c, n++);
        } else if (cand_better(x, c[0])) {
            c[0] = x;
            heap_sift_down(c, n, 0);
        }
    }
    qsort(c, n, sizeof *c, cand_cmp);
    return n;
}

/* Length of the shortest prefix of the sorted candidates whose probability
 * mass (weights exp(logit - maxl) over the normalizer z) reaches top_p;
 * n and *reached = false if the prefix never gets there. */
static size_t top_p_prefix(const hk_cand *c, size_t n, float maxl, double z, float top_p,
                           bool *reached)
{
    double target = (double)top_p * z, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += weight(c[i].logit, maxl);
        if (cum >= target) {
            *reached = true;
            return i + 1;
        }
    }
    *reached = false;
    return n;
}

/* top-p without top-k, over the whole vocabulary.  Sorting 150k logits per
 * token is what llama.cpp avoids with buckets, and so does this: one pass
 * spreads the probability mass over HK_BUCKETS logit ranges below the
 * maximum; the bucket where the running mass reaches top_p bounds the
 * nucleus, so only tokens at or above it are gathered and sorted.  The
 * exact prefix is then found on the sorted tokens.  Bucket sums and the
 * sorted sum round differently; if they disagree about the bucket, the
 * fallback sorts everything eligible. */
#define HK_BUCKETS 256
#define HK_BUCKET_RANGE 32.0f /* logits below the max; exp(-32) ~ 1e-14 of the top mass */

static size_t nucleus_by_buckets(hk_sampler *s, float maxl, float thresh, float top_p)
{
    const float *cur = s->cur;
    size_t nv = (size_t)s->n_vocab;
    double mass[HK_BUCKETS] = {0};
    const float scale = (float)HK_BUCKETS / HK_BUCKET_RANGE;

    for (size_t v = 0; v < nv; v++) {
        float d = (maxl - cur[v]) * scale;
        int b = d < (float)(HK_BUCKETS - 1) ? (int)d : HK_BUCKETS - 1;
        mass[b] += weight(cur[v], maxl);
    }
    double z = 0.0;
    for (int b = 0; b < HK_BUCKETS; b++)
        z += mass[b];
    double target = (double)top_p * z, cum = 0.0;
    int last = HK_BUCKETS - 1;
    for (int b = 0; b < HK_BUCKETS; b++) {
        cum += mass[b];
        if (cum >= target) {
            last = b;
            break;
        }
    }

    /* Gather the eligible (min-p) tokens of buckets 0..last. */
    hk_cand *c = s->cand;
    size_t n = 0;
    bool cut_by_min_p = false;
    for (size_t v = 0; v < nv; v++) {
        float d = (maxl - cur[v]) * scale;
        int b = d < (float)(HK_BUCKETS - 1) ? (int)d : HK_BUCKETS - 1;
        if (b > last)
            continue;
        if (cur[v] >= thresh)
            c[n++] = (hk_cand){cur[v], (int32_t)v};
        else
            cut_by_min_p = true;
    }
    qsort(c, n, sizeof *c, cand_cmp);
    bool reached;
    size_t m = top_p_prefix(c, n, maxl, z, top_p, &reached);
    /* Not reached: either min-p removed part of the nucleus (then everything
     * below is removed too, and the gathered tokens are the answer), or
     * rounding put the boundary one bucket off. */
    if (reached || cut_by_min_p || last == HK_BUCKETS - 1)
        return m;
    size_t all = select_top(s, nv, thresh);
    return top_p_prefix(s->cand, all, maxl, z, top_p, &reached);
}

int32_t hk_sampler_sample(hk_sampler *s, const float *logits)
{
    if (!s || !logits)
        return -1;
    const hk_sampling *p = &s->p;
    size_t nv = (size_t)s->n_vocab;
    float *cur = s->cur;

    /* Branch-free loops so the compiler can vectorize them: they are most
     * of the cost of a token at a 150k vocabulary. */
    for (size_t v = 0; v < nv; v++) {
        float x = logits[v];
        cur[v] = x == x ? x : -INFINITY;
    }
    hk_sampler_penalize(s, cur);
    float maxl = max_of(cur, nv);
    size_t best = 0;
    while (best + 1 < nv && !(cur[best] == maxl))
        best++;
    /* Greedy by request; and when nothing is finite (all -inf, or a +inf
     * that would turn the softmax into NaN) the argmax is the only sane
     * answer. */
    if (p->temp <= 0.0f || !isfinite(maxl))
        return (int32_t)best;

    /* min-p as a logit threshold; clamped so the best token always survives
     * (llama.cpp keeps at least one for min_p > 1 as well). */
    float thresh = -INFINITY;
    if (p->min_p > 0.0f) {
        thresh = maxl + logf(p->min_p);
        if (thresh > maxl)
            thresh = maxl;
    }

    /* top-p, then min-p, each keep a prefix of the candidates sorted by
     * logit, so the survivors are the shorter of the two prefixes.  That lets
     * min-p prune before sorting.  top-p's probabilities are normalized over
     * everything top-k kept (z), min-p'd tokens included, as in llama.cpp. */
    bool top_k_on = p->top_k > 0 && (size_t)p->top_k < nv;
    bool top_p_on = p->top_p < 1.0f;
    size_t n;
    if (top_k_on) {
        n = select_top(s, (size_t)p->top_k, -INFINITY);
        double z = 0.0;
        for (size_t i = 0; i < n; i++)
            z += weight(s->cand[i].logit, maxl);
        if (top_p_on) {
            bool reached;
            n = top_p_prefix(s->cand, n, maxl, z, p->top_p, &reached);
        }
        size_t m = 1;
        while (m < n && s->cand[m].logit >= thresh)
            m++;
        n = m;
    } else if (top_p_on) {
        n = nucleus_by_buckets(s, maxl, thresh, p->top_p);
    } else {
        /* No ordering needed: the draw below is a fixed function of the
         * candidate order, and id order is fixed. */
        n = 0;
        for (size_t v = 0; v < nv; v++)
            if (cur[v] >= thresh)
                s->cand[n++] = (hk_cand){cur[v], (int32_t)v};
    }

    /* Temperature and the draw: weights exp((logit - max) / temp), kept in
     * the candidate array; one uniform number picks by cumulative weight. */
    float inv_t = 1.0f / p->temp;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        float w = expf((s->cand[i].logit - maxl) * inv_t);
        s->cand[i].logit = w;
        total += w;
    }
    double u = rng_uniform(s->rng) * total, acc = 0.0;
    size_t last_positive = 0;
    for (size_t i = 0; i < n; i++) {
        if (s->cand[i].logit <= 0.0f)
            continue;
        acc += s->cand[i].logit;
        last_positive = i;
        if (u < acc)
            return s->cand[i].id;
    }
    /* u rounded up to total: the last token with any weight. */
    return s->cand[last_positive].id;
}
