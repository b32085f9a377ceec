/* Sessions: the KV cache of one sequence (cell i holds position i), the
 * work buffers of the forward pass, the thread pool.  Everything is sized
 * here; decoding allocates only when a caller asks for more logits rows than
 * ever before (all_logits over a long prompt), never per token. */
#include "model_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vk/vk_lm.h"

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
        .backend = HK_BACKEND_AUTO,
        .device = -1,
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
    return bytes ? hk_alloc_work(bytes) : NULL;
}

/* bytes of the K (row = k_row) or V (v_row) cache; cpu_kv_init checked
 * that the whole cache is addressable */
static size_t kv_half_bytes(const hk_session *s, int64_t row)
{
    return (size_t)s->m->n_layer * (size_t)s->p.n_ctx * (size_t)row * s->kv_elt;
}

static int cpu_kv_init(hk_session *s, hk_error *err)
{
    const hk_model *m = s->m;
    const hk_session_params p = s->p;
    size_t per_layer = mul3((size_t)p.n_ctx, (size_t)(s->k_row + s->v_row), s->kv_elt);
    size_t kv_bytes = mul3(per_layer, (size_t)m->n_layer, 1);
    if (kv_bytes == 0)
        return hk_fail(err, "%s: a KV cache of %d positions is too large to address", m->path, p.n_ctx);
    s->k_cache = hk_alloc_zeroed(kv_half_bytes(s, s->k_row));
    s->v_cache = hk_alloc_zeroed(kv_half_bytes(s, s->v_row));
    if (!s->k_cache || !s->v_cache)
        return hk_fail(err, "%s: cannot allocate a KV cache of %.0f MiB for %d positions; use a smaller -c", m->path,
                       (double)kv_bytes / (1024.0 * 1024.0), p.n_ctx);
    return 0;
}

/* The CPU's KV cache, work buffers, threads and kernels: made when the
 * session starts on the CPU, or when it falls back there. */
static int cpu_init(hk_session *s, hk_error *err)
{
    const hk_model *m = s->m;
    const hk_session_params p = s->p;
    if (cpu_kv_init(s, err) < 0)
        return -1;
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
    if (!s->x || !s->xn || !s->tmp || !s->q || !s->k || !s->v || !s->att || !s->gate || !s->up || !s->positions ||
        !s->row)
        return hk_fail(err, "%s: cannot allocate work buffers for batches of %d tokens", m->path, B);
    s->pool = hk_pool_new(p.n_threads);
    if (!s->pool)
        return hk_fail(err, "cannot start %d threads", p.n_threads);
    int64_t max_in = m->n_embd;
    if (m->n_ff > max_in)
        max_in = m->n_ff;
    if (no > max_in)
        max_in = no;
    int max_hd = m->head_dim_k > m->head_dim_v ? m->head_dim_k : m->head_dim_v;
    s->be = hk_backend_new(s->pool, p.matmul, max_in, B, p.n_ctx, max_hd, m->rope.n_rot);
    if (!s->be)
        return hk_fail(err, "%s: cannot allocate work buffers for batches of %d tokens", m->path, B);
    snprintf(s->backend_name, sizeof s->backend_name, "cpu");
    return 0;
}

static void cpu_free(hk_session *s)
{
    hk_backend_free(s->be);
    hk_pool_free(s->pool);
    hk_free_zeroed(s->k_cache, kv_half_bytes(s, s->k_row));
    hk_free_zeroed(s->v_cache, kv_half_bytes(s, s->v_row));
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
}

static void gpu_free(hk_session *s)
{
    hk_vk_lm_free(s->gpu);
    hk_vk_close(s->vk);
    s->gpu = NULL;
    s->vk = NULL;
}

/* p->backend, or for AUTO what $HARK_BACKEND asks for. */
static hk_backend_kind resolve_backend(hk_backend_kind b)
{
    if (b != HK_BACKEND_AUTO)
        return b;
    const char *e = getenv("HARK_BACKEND");
    if (!e || !*e || strcmp(e, "auto") == 0)
        return HK_BACKEND_AUTO;
    if (strcmp(e, "cpu") == 0)
        return HK_BACKEND_CPU;
    if (strcmp(e, "vulkan") == 0)
        return HK_BACKEND_VULKAN;
    fprintf(stderr, "hark: HARK_BACKEND=%s is not auto, cpu or vulkan; ignored\n", e);
    return HK_BACKEND_AUTO;
}

/* The one line a fallback costs; every reason is named as Vulkan's. */
static void warn_fallback(const char *reason)
{
    bool named = strncmp(reason, "vulkan: ", 8) == 0;
    fprintf(stderr, "hark: %s%s; running on the CPU\n", named ? "" : "vulkan: ", reason);
}

/* Puts the model on a Vulkan device when the backend asks for one.  Fails
 * only in the sense that the session stays on the CPU: quietly when AUTO
 * finds no GPU, with one line on stderr otherwise. */
static void gpu_init(hk_session *s, hk_backend_kind backend)
{
    hk_error e = {{0}};
    if (backend == HK_BACKEND_CPU)
        return;
    bool explicit = backend == HK_BACKEND_VULKAN;
    /* auto on a machine without a GPU must cost nothing: ask a child */
    if (!explicit && !hk_vk_probe_gpu(s->p.device))
        return;
    s->vk = hk_vk_open(s->p.device, explicit, &e);
    if (!s->vk) {
        if (explicit)
            warn_fallback(e.msg);
        return;
    }
    s->gpu = hk_vk_lm_new(s->vk, s->m, &s->p, &e);
    if (!s->gpu) {
        warn_fallback(e.msg);
        gpu_free(s);
        return;
    }
    snprintf(s->backend_name, sizeof s->backend_name, "vulkan (%.280s)", hk_vk_info(s->vk)->name);
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
    if (p.backend != HK_BACKEND_AUTO && p.backend != HK_BACKEND_CPU && p.backend != HK_BACKEND_VULKAN) {
        hk_fail(err, "unknown backend %d", (int)p.backend);
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
    s->history = malloc(sizeof *s->history * (size_t)p.n_ctx);
    s->logits_cap = 1;
    s->logits = alloc_rows(1, m->n_vocab);
    if (!s->history || !s->logits) {
        hk_fail(err, "out of memory");
        goto fail;
    }
    gpu_init(s, resolve_backend(p.backend));
    if (!s->gpu && cpu_init(s, err) < 0)
        goto fail;
    return s;
fail:
    hk_session_free(s);
    return NULL;
}

void hk_session_free(hk_session *s)
{
    if (!s)
        return;
    gpu_free(s);
    cpu_free(s);
    free(s->history);
    free(s->logits);
    free(s);
}

const char *hk_session_backend_name(const hk_session *s) { return s->backend_name; }

/* Leaves the device for the CPU (reason: the device's error) and rebuilds
 * the cache there from the history: positions [0, s->pos). */
static int fall_back_to_cpu(hk_session *s, const char *reason, hk_error *err)
{
    warn_fallback(reason);
    gpu_free(s);
    if (cpu_init(s, err) < 0)
        return -1;
    for (int32_t off = 0; off < s->pos; off += s->p.n_batch) {
        int32_t len = s->pos - off < s->p.n_batch ? s->pos - off : s->p.n_batch;
        hk_forward(s, s->history + off, len, off, 0, s->logits);
    }
    return 0;
}

/* One chunk (n <= n_batch) at position pos on whichever backend runs the session. */
static int eval_chunk(hk_session *s, const int32_t *tokens, int n, int32_t pos, int out_rows, float *out,
                      hk_error *err)
{
    if (s->gpu) {
        hk_error e = {{0}};
        if (hk_vk_lm_forward(s->gpu, tokens, n, pos, out_rows, out, &e) == 0)
            return 0;
        if (fall_back_to_cpu(s, e.msg, err) < 0)
            return -1;
    }
    hk_forward(s, tokens, n, pos, out_rows, out);
    return 0;
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
static void cpu_context_shift(hk_session *s, int32_t pos, int32_t keep, int32_t d)
{
    const size_t kb = (size_t)s->k_row * s->kv_elt, vb = (size_t)s->v_row * s->kv_elt;
    for (int il = 0; il < s->m->n_layer; il++) {
        uint8_t *k = s->k_cache + (size_t)il * (size_t)s->p.n_ctx * kb;
        uint8_t *v = s->v_cache + (size_t)il * (size_t)s->p.n_ctx * vb;
        memmove(k + (size_t)keep * kb, k + (size_t)(keep + d) * kb, (size_t)(pos - keep - d) * kb);
        memmove(v + (size_t)keep * vb, v + (size_t)(keep + d) * vb, (size_t)(pos - keep - d) * vb);
    }
    hk_kv_rerope(s, keep, pos - d, -d);
}

/* The history moves with the cells.  After a fallback here the CPU rebuilds
 * the shifted cache by evaluating the kept tokens afresh: not the same
 * numbers as shifted cells (their keys and values saw the dropped tokens),
 * but the closest the CPU can get without the device's cache. */
static int context_shift(hk_session *s, hk_error *err)
{
    const int32_t pos = s->pos, keep = kept(s, pos), d = discard_at(s, pos);
    memmove(s->history + keep, s->history + keep + d, sizeof *s->history * (size_t)(pos - keep - d));
    hk_error e = {{0}};
    if (s->gpu && hk_vk_lm_shift(s->gpu, keep, d, pos, &e) < 0) {
        s->pos = pos - d;
        return fall_back_to_cpu(s, e.msg, err);
    }
    if (!s->gpu)
        cpu_context_shift(s, pos, keep, d);
    s->pos = pos - d;
    return 0;
}

int hk_session_decode(hk_session *s, const int32_t *tokens, int32_t n, bool all_logits, hk_error *err)
{
    const hk_model *m = s->m;
    if (!s->gpu && !s->be)
        return hk_fail(err, "%s: the session lost its device and could not move to the CPU", m->path);
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
    s->logits_valid = false;
    while (s->pos + n > s->p.n_ctx)
        if (context_shift(s, err) < 0)
            return -1;

    for (int32_t off = 0; off < n; off += s->p.n_batch) {
        int32_t len = n - off < s->p.n_batch ? n - off : s->p.n_batch;
        bool last_chunk = off + len == n;
        int out_rows = all_logits ? len : last_chunk ? 1 : 0;
        float *out = all_logits ? s->logits + (size_t)off * (size_t)m->n_vocab : s->logits;
        if (eval_chunk(s, tokens + off, len, s->pos, out_rows, out, err) < 0)
            return -1;
        memcpy(s->history + s->pos, tokens + off, sizeof *tokens * (size_t)len);
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
