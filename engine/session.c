/* Sessions: the KV cache of one sequence (cell i holds position i), the
 * work buffers of the forward pass, the thread pool.  Everything is sized
 * here; decoding allocates only when a caller asks for more logits rows than
 * ever before (all_logits over a long prompt), never per token. */
#include "model_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DEFAULT_N_CTX = 4096, DEFAULT_N_BATCH = 512, MAX_THREADS = 512 };

hk_session_params hk_session_default_params(void)
{
    hk_session_params p = {
        .n_ctx = 0,
        .n_batch = DEFAULT_N_BATCH,
        .kv_type = HK_TYPE_F16,
        .matmul = HK_MATMUL_LLAMACPP,
        .n_threads = 0,
        .ctx_shift = false,
        .n_keep = 0,
    };
    return p;
}

/* a * b * c bytes, or 0 when that overflows size_t. */
static size_t mul3(size_t a, size_t b, size_t c)
{
    size_t ab, abc;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc))
        return 0;
    return abc;
}

static float *alloc_rows(int32_t rows, int64_t width)
{
    size_t bytes = mul3((size_t)rows, (size_t)width, sizeof(float));
    return bytes ? malloc(bytes) : NULL;
}

hk_session *hk_session_new(hk_model *m, const hk_session_params *params, hk_error *err)
{
    hk_session_params p = params ? *params : hk_session_default_params();
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0 || p.n_keep < 0) {
        hk_fail(err, "%s: negative session parameter (n_ctx %d, n_batch %d, threads %d, n_keep %d)", m->path,
                p.n_ctx, p.n_batch, p.n_threads, p.n_keep);
        return NULL;
    }
    if (p.kv_type != HK_TYPE_F16 && p.kv_type != HK_TYPE_F32) {
        hk_fail(err, "KV cache type %s is not supported (F16 or F32)", hk_type_name(p.kv_type));
        return NULL;
    }
    if (p.matmul != HK_MATMUL_EXACT && p.matmul != HK_MATMUL_LLAMACPP) {
        hk_fail(err, "unknown matmul mode %d", (int)p.matmul);
        return NULL;
    }
    if (p.n_ctx == 0)
        p.n_ctx = m->n_ctx_train < DEFAULT_N_CTX ? m->n_ctx_train : DEFAULT_N_CTX;
    if (p.n_batch == 0)
        p.n_batch = DEFAULT_N_BATCH;
    if (p.n_batch > p.n_ctx)
        p.n_batch = p.n_ctx;
    if (p.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = n > 0 ? (int)(n < MAX_THREADS ? n : MAX_THREADS) : 1;
    }
    if (p.n_threads > MAX_THREADS)
        p.n_threads = MAX_THREADS;

    hk_session *s = calloc(1, sizeof *s);
    if (!s) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    s->m = m;
    s->p = p;
    s->kv_elt = p.kv_type == HK_TYPE_F16 ? 2 : 4;
    s->k_row = (int64_t)m->n_head_kv * m->head_dim_k;
    s->v_row = (int64_t)m->n_head_kv * m->head_dim_v;
    size_t per_layer = mul3((size_t)p.n_ctx, (size_t)(s->k_row + s->v_row), s->kv_elt);
    size_t kv_bytes = mul3(per_layer, (size_t)m->n_layer, 1);
    if (kv_bytes == 0) {
        hk_fail(err, "%s: a KV cache of %d positions is too large to address", m->path, p.n_ctx);
        goto fail;
    }
    s->k_cache = calloc((size_t)m->n_layer * (size_t)p.n_ctx, (size_t)s->k_row * s->kv_elt);
    s->v_cache = calloc((size_t)m->n_layer * (size_t)p.n_ctx, (size_t)s->v_row * s->kv_elt);
    if (!s->k_cache || !s->v_cache) {
        hk_fail(err, "%s: cannot allocate a KV cache of %.0f MiB for %d positions; use a smaller -c", m->path,
                (double)kv_bytes / (1024.0 * 1024.0), p.n_ctx);
        goto fail;
    }

    const int32_t B = p.n_batch;
    const int64_t nq = (int64_t)m->n_head * m->head_dim_k, no = (int64_t)m->n_head * m->head_dim_v;
    s->x = alloc_rows(B, m->n_embd);
    s->xn = alloc_rows(B, m->n_embd);
    s->tmp = alloc_rows(B, m->n_embd);
    s->q = alloc_rows(B, nq);
    s->k = alloc_rows(B, s->k_row);
    s->v = alloc_rows(B, s->v_row);
    s->att = alloc_rows(B, no);
    s->gate = alloc_rows(B, m->n_ff);
    s->up = alloc_rows(B, m->n_ff);
    s->positions = malloc(sizeof *s->positions * (size_t)B);
    s->row = alloc_rows(1, s->k_row);
    s->logits_cap = 1;
    s->logits = alloc_rows(1, m->n_vocab);
    if (!s->x || !s->xn || !s->tmp || !s->q || !s->k || !s->v || !s->att || !s->gate || !s->up || !s->positions ||
        !s->row || !s->logits) {
        hk_fail(err, "%s: cannot allocate work buffers for batches of %d tokens", m->path, B);
        goto fail;
    }
    s->pool = hk_pool_new(p.n_threads);
    if (!s->pool) {
        hk_fail(err, "cannot start %d threads", p.n_threads);
        goto fail;
    }
    int64_t max_in = m->n_embd;
    if (m->n_ff > max_in)
        max_in = m->n_ff;
    if (no > max_in)
        max_in = no;
    int max_hd = m->head_dim_k > m->head_dim_v ? m->head_dim_k : m->head_dim_v;
    s->be = hk_backend_new(s->pool, p.matmul, max_in, B, p.n_ctx, max_hd, m->rope.n_rot);
    if (!s->be) {
        hk_fail(err, "%s: cannot allocate work buffers for batches of %d tokens", m->path, B);
        goto fail;
    }
    return s;
fail:
    hk_session_free(s);
    return NULL;
}

void hk_session_free(hk_session *s)
{
    if (!s)
        return;
    hk_backend_free(s->be);
    hk_pool_free(s->pool);
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xn);
    free(s->tmp);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->gate);
    free(s->up);
    free(s->positions);
    free(s->row);
    free(s->logits);
    free(s);
}

static int32_t kept(const hk_session *s, int32_t pos)
{
    return s->p.n_keep < pos ? s->p.n_keep : pos;
}

/* Tokens one context shift drops at position pos: half of those after
 * n_keep, as llama.cpp's examples do. */
static int32_t discard_at(const hk_session *s, int32_t pos) { return (pos - kept(s, pos)) / 2; }

bool hk_session_can_shift(const hk_session *s) { return s->p.ctx_shift && discard_at(s, s->pos) > 0; }

/* Drops cells [keep, keep+d), moves the rest down and rotates their keys by
 * -d positions, so that the cache reads as if those tokens had never been. */
static void context_shift(hk_session *s)
{
    const int32_t pos = s->pos, keep = kept(s, pos), d = discard_at(s, pos);
    const size_t kb = (size_t)s->k_row * s->kv_elt, vb = (size_t)s->v_row * s->kv_elt;
    for (int il = 0; il < s->m->n_layer; il++) {
        uint8_t *k = s->k_cache + (size_t)il * (size_t)s->p.n_ctx * kb;
        uint8_t *v = s->v_cache + (size_t)il * (size_t)s->p.n_ctx * vb;
        memmove(k + (size_t)keep * kb, k + (size_t)(keep + d) * kb, (size_t)(pos - keep - d) * kb);
        memmove(v + (size_t)keep * vb, v + (size_t)(keep + d) * vb, (size_t)(pos - keep - d) * vb);
    }
    hk_kv_rerope(s, keep, pos - d, -d);
    s->pos = pos - d;
}

int hk_session_decode(hk_session *s, const int32_t *tokens, int32_t n, bool all_logits, hk_error *err)
{
    const hk_model *m = s->m;
    if (n <= 0)
        return hk_fail(err, "no tokens to evaluate");
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return hk_fail(err, "%s: token id %d is outside the vocabulary (%d tokens)", m->path, tokens[i],
                           m->n_vocab);
    /* Decide everything that can fail before touching the cache, so a
     * refused call leaves the session as it was. */
    if (s->pos + n > s->p.n_ctx) {
        if (!s->p.ctx_shift)
            return hk_fail(err, "context full: %d tokens; use -c or --ctx-shift", s->p.n_ctx);
        int32_t pos = s->pos;
        while (pos + n > s->p.n_ctx) {
            int32_t d = discard_at(s, pos);
            if (d <= 0)
                return hk_fail(err, "context full: %d tokens; %d new tokens do not fit after the %d kept; use a "
                                    "larger -c",
                               s->p.n_ctx, n, kept(s, pos));
            pos -= d;
        }
    }
    if (all_logits && n > s->logits_cap) {
        size_t bytes = mul3((size_t)n, (size_t)m->n_vocab, sizeof(float));
        float *grown = bytes ? realloc(s->logits, bytes) : NULL;
        if (!grown)
            return hk_fail(err, "cannot allocate logits for %d tokens", n);
        s->logits = grown;
        s->logits_cap = n;
    }
    while (s->pos + n > s->p.n_ctx)
        context_shift(s);

    s->logits_valid = false;
    for (int32_t off = 0; off < n; off += s->p.n_batch) {
        int32_t len = n - off < s->p.n_batch ? n - off : s->p.n_batch;
        bool last_chunk = off + len == n;
        int out_rows = all_logits ? len : last_chunk ? 1 : 0;
        float *out = all_logits ? s->logits + (size_t)off * (size_t)m->n_vocab : s->logits;
        hk_forward(s, tokens + off, len, s->pos, out_rows, out);
        s->pos += len;
    }
    s->n_decoded = n;
    s->all_logits = all_logits;
    s->logits_valid = true;
    return 0;
}

const float *hk_session_logits(const hk_session *s, int32_t i)
{
    if (!s->logits_valid)
        return NULL;
    if (i == -1)
        i = s->n_decoded - 1;
    if (i < 0 || i >= s->n_decoded)
        return NULL;
    if (s->all_logits)
        return s->logits + (size_t)i * (size_t)s->m->n_vocab;
    return i == s->n_decoded - 1 ? s->logits : NULL;
}

int32_t hk_session_pos(const hk_session *s) { return s->pos; }
int32_t hk_session_n_ctx(const hk_session *s) { return s->p.n_ctx; }

void hk_session_truncate(hk_session *s, int32_t pos)
{
    if (pos < 0)
        pos = 0;
    if (pos < s->pos) {
        s->pos = pos;
        s->logits_valid = false;
    }
}
