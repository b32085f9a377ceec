/* Generation on top of a session: prompt evaluation, the sampling loop with
 * UTF-8-safe streaming, and chat turns that feed the KV cache only what it
 * has not seen yet. */
#include "generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text_buf {
    char *ptr;
    size_t len, cap;
} text_buf;

struct hk_generator {
    hk_model *model;
    hk_session *session;
    const hk_tokenizer *tok;
    hk_sampler *sampler;
    int32_t n_ctx;

    int32_t *hist;          /* tokens in the KV cache, in order (n_hist of n_ctx) */
    int32_t n_hist;
    int32_t *scratch;       /* tokenizer output, n_ctx long */

    hk_chat_kind kind;
    bool kind_is_fallback;  /* the file's template was unknown: ChatML, with a warning */
    bool warned;
    hk_chat_msg *msgs;      /* conversation so far (strings owned) */
    size_t n_msgs, cap_msgs;
    size_t n_fed_msgs;      /* messages whose text the KV cache holds */
    text_buf reply;         /* text of the reply being generated */
    text_buf fmt;           /* formatting scratch */
    char *piece;            /* one streamed piece: the longest token's text + a held UTF-8 tail */
    size_t piece_cap;
    int32_t last_prompt_tokens;
};

static int buf_reserve(text_buf *b, size_t n)
{
    if (n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n + 1)
        cap *= 2;
    char *p = realloc(b->ptr, cap);
    if (!p)
        return -1;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

static int buf_append(text_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, b->len + n))
        return -1;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = 0;
    return 0;
}

static int push_msg(hk_generator *g, const char *role, const char *content)
{
    if (g->n_msgs == g->cap_msgs) {
        size_t cap = g->cap_msgs ? g->cap_msgs * 2 : 8;
        hk_chat_msg *m = realloc(g->msgs, cap * sizeof *m);
        if (!m)
            return -1;
        g->msgs = m;
        g->cap_msgs = cap;
    }
    char *r = strdup(role), *c = strdup(content);
    if (!r || !c) {
        free(r);
        free(c);
        return -1;
    }
    g->msgs[g->n_msgs].role = r;
    g->msgs[g->n_msgs].content = c;
    g->n_msgs++;
    return 0;
}

hk_generator_params hk_generator_default_params(void)
{
    hk_generator_params p;
    memset(&p, 0, sizeof p);
    p.session = hk_session_default_params();
    p.sampling = hk_sampling_default();
    return p;
}

void hk_generator_free(hk_generator *g)
{
    if (!g)
        return;
    hk_session_free(g->session);
    hk_sampler_free(g->sampler);
    for (size_t i = 0; i < g->n_msgs; i++) {
        free((char *)g->msgs[i].role);
        free((char *)g->msgs[i].content);
    }
    free(g->msgs);
    free(g->hist);
    free(g->scratch);
    free(g->reply.ptr);
    free(g->fmt.ptr);
    free(g->piece);
    free(g);
}

hk_generator *hk_generator_new(hk_model *m, const hk_generator_params *p, hk_error *err)
{
    const hk_tokenizer *tok = hk_model_tokenizer(m);
    if (!tok) {
        hk_fail(err, "%s: the file has no tokenizer", hk_model_path(m));
        return NULL;
    }
    hk_generator *g = calloc(1, sizeof *g);
    if (!g) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    g->model = m;
    g->tok = tok;
    g->session = hk_session_new(m, &p->session, err);
    if (!g->session)
        goto fail;
    g->n_ctx = hk_session_n_ctx(g->session);
    g->hist = malloc(sizeof *g->hist * (size_t)g->n_ctx);
    g->scratch = malloc(sizeof *g->scratch * (size_t)g->n_ctx);
    g->sampler = hk_sampler_new(&p->sampling, hk_tokenizer_n_vocab(tok));
    g->piece_cap = (size_t)hk_tokenizer_max_piece(tok) + 16;
    g->piece = malloc(g->piece_cap);
    if (!g->hist || !g->scratch || !g->sampler || !g->piece) {
        hk_fail(err, "out of memory");
        goto fail;
    }

    if (p->chat_template) {
        if (!hk_chat_from_name(p->chat_template, &g->kind)) {
            hk_fail(err, "unknown chat template '%s'", p->chat_template);
            goto fail;
        }
    } else {
        hk_str tmpl = {NULL, 0};
        bool have = hk_gguf_get_str(hk_model_gguf(m), "tokenizer.chat_template", &tmpl);
        if (!have || !hk_chat_detect(tmpl.ptr, tmpl.len, &g->kind)) {
            g->kind = HK_CHAT_CHATML;
            g->kind_is_fallback = true;
        }
    }
    if (p->system_prompt && *p->system_prompt && push_msg(g, "system", p->system_prompt)) {
        hk_fail(err, "out of memory");
        goto fail;
    }
    return g;
fail:
    hk_generator_free(g);
    return NULL;
}

hk_chat_kind hk_gen_chat_kind(const hk_generator *g) { return g->kind; }
int32_t hk_gen_n_past(const hk_generator *g) { return hk_session_pos(g->session); }
int32_t hk_gen_last_prompt_tokens(const hk_generator *g) { return g->last_prompt_tokens; }

/* Decode tokens and mirror them into the history (which feeds the penalties
 * and lets a chat find how much of a conversation the cache already holds). */
static int feed(hk_generator *g, const int32_t *ids, int32_t n, hk_error *err)
{
    if (n <= 0)
        return 0;
    int32_t before = hk_session_pos(g->session);
    if (hk_session_decode(g->session, ids, n, false, err))
        return -1;
    int32_t after = hk_session_pos(g->session);
    for (int32_t i = 0; i < n; i++)
        hk_sampler_accept(g->sampler, ids[i]);
    if (after == before + n && g->n_hist + n <= g->n_ctx) {
        memcpy(g->hist + g->n_hist, ids, sizeof *ids * (size_t)n);
        g->n_hist += n;
    } else {
        /* The session shifted its context: the history no longer mirrors it
         * and a chat must start matching from scratch. */
        g->n_hist = 0;
    }
    return 0;
}

/* Tokenize into g->scratch; returns count or -1. */
static int32_t tokenize(hk_generator *g, const char *text, size_t len, bool add_special, bool parse_special,
                        hk_error *err)
{
    int32_t n = hk_tokenize(g->tok, text, len, add_special, parse_special, g->scratch, g->n_ctx);
    if (n < 0)
        return hk_fail(err, "%s: cannot tokenize the prompt", hk_model_path(g->model));
    if (n > g->n_ctx)
        return hk_fail(err, "prompt of %d tokens does not fit the context of %d tokens (use -c)", n, g->n_ctx);
    return n;
}

int hk_gen_add_text(hk_generator *g, const char *text, bool parse_special, hk_error *err)
{
    bool first = hk_session_pos(g->session) == 0;
    int32_t n = tokenize(g, text, strlen(text), first, parse_special, err);
    if (n < 0)
        return -1;
    return feed(g, g->scratch, n, err);
}

int hk_gen_add_tokens(hk_generator *g, const int32_t *ids, int32_t n, hk_error *err)
{
    int32_t n_vocab = hk_tokenizer_n_vocab(g->tok);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return hk_fail(err, "token id %d is outside the vocabulary of %d", ids[i], n_vocab);
    return feed(g, ids, n, err);
}

const int32_t *hk_gen_history(const hk_generator *g, int32_t *n)
{
    *n = g->n_hist;
    return g->hist;
}

int hk_gen_add_bos(hk_generator *g, hk_error *err)
{
    int32_t bos = hk_tokenizer_bos(g->tok);
    if (bos < 0)
        return hk_fail(err, "%s: the vocabulary has no BOS token", hk_model_path(g->model));
    return feed(g, &bos, 1, err);
}

/* Is tok where a reply ends: the vocabulary's end-of-generation tokens. */
static bool is_stop(const hk_generator *g, int32_t tok)
{
    return hk_tokenizer_is_eog(g->tok, tok);
}

int hk_gen_generate(hk_generator *g, int32_t n_predict, bool ignore_eos, hk_piece_fn on_piece, void *user,
                    hk_error *err)
{
    if (hk_session_pos(g->session) == 0)
        return hk_fail(err, "nothing to continue from: evaluate a prompt or BOS first");
    hk_detok detok = {0};
    char *piece = g->piece;
    int n = 0;
    bool go_on = true;
    while (go_on && (n_predict < 0 || n < n_predict)) {
        /* A sampled token must fit the cache, so the cache always holds
         * exactly the text that was shown: a full context ends the reply. */
        if (hk_session_pos(g->session) >= g->n_ctx && !hk_session_can_shift(g->session))
            break;
        const float *logits = hk_session_logits(g->session, -1);
        int32_t tok = hk_sampler_sample(g->sampler, logits);
        if (!ignore_eos && is_stop(g, tok))
            break;
        n++;
        int len = hk_detok_push(&detok, g->tok, tok, piece, g->piece_cap);
        if (len > 0) {
            buf_append(&g->reply, piece, (size_t)len);
            if (on_piece && !on_piece(piece, user))
                go_on = false;
        }
        if (feed(g, &tok, 1, err))
            return -1;
    }
    int len = hk_detok_flush(&detok, piece, g->piece_cap);
    if (len > 0) {
        buf_append(&g->reply, piece, (size_t)len);
        if (on_piece)
            on_piece(piece, user);
    }
    return n;
}

/* Format msgs (all, or the part after message n_done - 1 when delta) into
 * g->fmt; returns 0 or -1. */
static int format_chat(hk_generator *g, bool delta, size_t n_done)
{
    for (int pass = 0; pass < 2; pass++) {
        int need = delta ? hk_chat_format_delta(g->kind, g->msgs, g->n_msgs, n_done, true, g->fmt.ptr, g->fmt.cap)
                         : hk_chat_format(g->kind, g->msgs, g->n_msgs, true, g->fmt.ptr, g->fmt.cap);
        if (need < 0)
            return -1;
        if ((size_t)need < g->fmt.cap) {
            g->fmt.len = (size_t)need;
            return 0;
        }
        if (buf_reserve(&g->fmt, (size_t)need))
            return -1;
    }
    return -1;
}

/* Evaluate g->fmt, reusing the longest common token prefix with the cache. */
static int32_t feed_from_common_prefix(hk_generator *g, hk_error *err)
{
    int32_t n = tokenize(g, g->fmt.ptr, g->fmt.len, true, true, err);
    if (n < 0)
        return -1;
    int32_t pos = hk_session_pos(g->session), common = 0;
    while (common < n && common < g->n_hist && common < pos && g->hist[common] == g->scratch[common])
        common++;
    if (common == n) /* evaluate at least one token, to have logits */
        common--;
    hk_session_truncate(g->session, common);
    g->n_hist = common;
    hk_sampler_reset(g->sampler);
    for (int32_t i = 0; i < common; i++)
        hk_sampler_accept(g->sampler, g->hist[i]);
    if (feed(g, g->scratch + common, n - common, err))
        return -1;
    return n - common;
}

int hk_gen_chat(hk_generator *g, const char *user_text, int32_t n_predict, hk_piece_fn on_piece, void *user,
                hk_error *err)
{
    if (g->kind_is_fallback && !g->warned) {
        fprintf(stderr, "hark: %s: unknown or missing chat template, using ChatML\n", hk_model_path(g->model));
        g->warned = true;
    }
    size_t n_done = g->n_msgs;
    int32_t pos = hk_session_pos(g->session);
    /* The cache holds exactly the conversation up to the last reply. */
    bool mirrors = pos > 0 && g->n_hist == pos && g->n_fed_msgs == n_done;
    if (push_msg(g, "user", user_text))
        return hk_fail(err, "out of memory");

    int32_t n;
    if (mirrors && format_chat(g, true, n_done) == 0) {
        /* Only the text after the last reply: its end-of-turn marker, the new
         * user turn and the assistant's opening. */
        n = tokenize(g, g->fmt.ptr, g->fmt.len, false, true, err);
        if (n < 0)
            return -1;
        if (pos + n > g->n_ctx && !hk_session_can_shift(g->session))
            return hk_fail(err, "context full: %d + %d tokens exceed %d (start a new chat or use -c)", pos, n,
                           g->n_ctx);
        if (feed(g, g->scratch, n, err))
            return -1;
    } else {
        if (format_chat(g, false, 0))
            return hk_fail(err, "cannot format the conversation with the %s template", hk_chat_name(g->kind));
        if ((n = feed_from_common_prefix(g, err)) < 0)
            return -1;
    }
    g->last_prompt_tokens = n;

    g->reply.len = 0;
    if (buf_reserve(&g->reply, 0))
        return hk_fail(err, "out of memory");
    g->reply.ptr[0] = 0;
    int gen = hk_gen_generate(g, n_predict, false, on_piece, user, err);
    if (gen < 0)
        return -1;
    if (push_msg(g, "assistant", g->reply.ptr))
        return hk_fail(err, "out of memory");
    g->n_fed_msgs = g->n_msgs;
    return gen;
}
