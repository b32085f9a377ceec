/* hark mkmodel: every shape written (one or two layers, Q8_0), read back
 * and checked against the real model's numbers, which are written out
 * again here from the Hugging Face config.json files rather than taken from
 * mkmodel's own table; then loaded and run for a finite forward pass.  Also:
 * the per-tensor type choice mkmodel uses is llama-quantize's (as
 * hk_quantize_file makes it), values do not depend on the thread count and
 * have the drawn distribution (mean, spread, bound), and the bandwidth
 * probe returns a positive number.  No timing is asserted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gguf.h"
#include "membw.h"
#include "mkmodel.h"
#include "model.h"
#include "quant.h"
#include "quantize.h"
#include "tokenizer.h"

typedef struct expect {
    const char *shape, *arch;
    int64_t embd, ff, layers, heads, kv, head_dim, vocab;
    bool tied, bias, fused, rope_freqs, gemma;
    const char *tok_model, *pre;
    int64_t bos, eos;
    const char *marker;  /* a special token of the chat template, and its id */
    int64_t marker_id;
} expect;

/* Values of each model's config.json / tokenizer_config.json. */
static const expect EXPECT[] = {
    {"qwen2.5-0.5b", "qwen2", 896, 4864, 24, 14, 2, 64, 151936, true, true, false, false, false, "gpt2", "qwen2",
     151643, 151645, "<|im_start|>", 151644},
    {"qwen2.5-1.5b", "qwen2", 1536, 8960, 28, 12, 2, 128, 151936, true, true, false, false, false, "gpt2", "qwen2",
     151643, 151645, "<|im_start|>", 151644},
    {"qwen2.5-3b", "qwen2", 2048, 11008, 36, 16, 2, 128, 151936, true, true, false, false, false, "gpt2", "qwen2",
     151643, 151645, "<|im_start|>", 151644},
    {"llama3.2-1b", "llama", 2048, 8192, 16, 32, 8, 64, 128256, true, false, false, true, false, "gpt2", "llama-bpe",
     128000, 128009, "<|start_header_id|>", 128006},
    {"llama3.2-3b", "llama", 3072, 8192, 28, 24, 8, 128, 128256, true, false, false, true, false, "gpt2", "llama-bpe",
     128000, 128009, "<|start_header_id|>", 128006},
    {"smollm2-360m", "llama", 960, 2560, 32, 15, 5, 64, 49152, true, false, false, false, false, "gpt2", "smollm", 1, 2,
     "<|im_start|>", 1},
    {"smollm2-1.7b", "llama", 2048, 8192, 24, 32, 32, 64, 49152, true, false, false, false, false, "gpt2", "smollm", 1,
     2, "<|im_start|>", 1},
    {"gemma2-2b", "gemma2", 2304, 9216, 26, 8, 4, 256, 256000, true, false, false, false, true, "llama", "default", 2, 1,
     "<start_of_turn>", 106},
    {"phi3-mini", "phi3", 3072, 8192, 32, 32, 32, 96, 32064, false, false, true, false, false, "llama", "default", 1,
     32000, "<|user|>", 32010},
};

static char tmpdir[] = "/tmp/hk_test_mkmodel_XXXXXX";

static int64_t get_int(const hk_gguf *g, const char *arch, const char *suffix)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v = -1;
    if (!hk_gguf_get_i64(g, key, &v))
        return -1;
    return v;
}

/* Tensor name has the shape [ne0] (ne1 == 1) or [ne0, ne1] and the type. */
static void check_tensor(const hk_gguf *g, const char *shape, const char *name, int64_t ne0, int64_t ne1,
                         hk_type type)
{
    const hk_gguf_tensor *t = hk_gguf_find_tensor(g, name);
    CHECK(t != NULL, "%s: no tensor %s", shape, name);
    if (!t)
        return;
    CHECK(t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->n_dims == (ne1 > 1 ? 2u : 1u),
          "%s: %s is %lld x %lld, expected %lld x %lld", shape, name, (long long)t->ne[0], (long long)t->ne[1],
          (long long)ne0, (long long)ne1);
    CHECK(t->type == (uint32_t)type, "%s: %s is %s, expected %s", shape, name, hk_type_name(t->type),
          hk_type_name(type));
}

static void check_file(const expect *e, const char *path, int layers)
{
    hk_error err;
    hk_gguf *g = hk_gguf_open(path, &err);
    CHECK(g != NULL, "%s: %s", e->shape, err.msg);
    if (!g)
        return;
    hk_str s;
    CHECK(hk_gguf_get_str(g, "general.architecture", &s) && hk_str_eq(s, e->arch), "%s: architecture", e->shape);
    CHECK(get_int(g, e->arch, "block_count") == layers, "%s: block_count", e->shape);
    CHECK(get_int(g, e->arch, "embedding_length") == e->embd, "%s: embedding_length", e->shape);
    CHECK(get_int(g, e->arch, "feed_forward_length") == e->ff, "%s: feed_forward_length", e->shape);
    CHECK(get_int(g, e->arch, "attention.head_count") == e->heads, "%s: head_count", e->shape);
    CHECK(get_int(g, e->arch, "attention.head_count_kv") == e->kv, "%s: head_count_kv", e->shape);
    uint32_t ft = 0;
    CHECK(hk_gguf_get_u32(g, "general.file_type", &ft) && ft == HK_FTYPE_MOSTLY_Q8_0, "%s: file_type %u", e->shape,
          ft);
    CHECK(hk_gguf_get_str(g, "tokenizer.ggml.model", &s) && hk_str_eq(s, e->tok_model), "%s: tokenizer model",
          e->shape);
    CHECK(hk_gguf_get_str(g, "tokenizer.ggml.pre", &s) && hk_str_eq(s, e->pre), "%s: pre-tokenizer", e->shape);
    int64_t v = -1;
    CHECK(hk_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &v) && v == e->bos, "%s: bos %lld", e->shape,
          (long long)v);
    CHECK(hk_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &v) && v == e->eos, "%s: eos %lld", e->shape,
          (long long)v);
    const hk_gguf_kv *tokens = hk_gguf_find(g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->arr_n == (uint64_t)e->vocab, "%s: vocabulary size", e->shape);
    if (tokens && (uint64_t)e->marker_id < tokens->arr_n)
        CHECK(hk_str_eq(hk_gguf_arr_str(tokens, (uint64_t)e->marker_id), e->marker), "%s: token %lld is not %s",
              e->shape, (long long)e->marker_id, e->marker);
    CHECK(hk_gguf_get_str(g, "tokenizer.chat_template", &s) && memmem(s.ptr, s.len, e->marker, strlen(e->marker)),
          "%s: chat template without %s", e->shape, e->marker);

    const int64_t E = e->embd, F = e->ff, nq = e->heads * e->head_dim, nkv = e->kv * e->head_dim;
    /* tied output: llama-quantize gives token_embd the output's Q8_0 too */
    size_t want_n = 2;
    check_tensor(g, e->shape, "token_embd.weight", E, e->vocab, HK_TYPE_Q8_0);
    check_tensor(g, e->shape, "output_norm.weight", E, 1, HK_TYPE_F32);
    if (!e->tied) {
        check_tensor(g, e->shape, "output.weight", E, e->vocab, HK_TYPE_Q8_0);
        want_n++;
    }
    CHECK((hk_gguf_find_tensor(g, "output.weight") != NULL) == !e->tied, "%s: output.weight presence", e->shape);
    if (e->rope_freqs) {
        check_tensor(g, e->shape, "rope_freqs.weight", e->head_dim / 2, 1, HK_TYPE_F32);
        want_n++;
        const hk_gguf_tensor *t = hk_gguf_find_tensor(g, "rope_freqs.weight");
        /* llama3 scaling: factor 1 for the fastest rotations, 32 for the slowest */
        if (t) {
            const float *f = t->data;
            CHECK(f[0] == 1.0f && fabsf(f[e->head_dim / 2 - 1] - 32.0f) < 1e-3f, "%s: rope factors %g .. %g", e->shape,
                  f[0], f[e->head_dim / 2 - 1]);
        }
    }
    for (int il = 0; il < layers; il++) {
        char n[96];
#define T(suffix, a, b, type) (snprintf(n, sizeof n, "blk.%d." suffix, il), check_tensor(g, e->shape, n, a, b, type), want_n++)
        T("attn_norm.weight", E, 1, HK_TYPE_F32);
        if (e->fused) {
            T("attn_qkv.weight", E, nq + 2 * nkv, HK_TYPE_Q8_0);
            T("ffn_up.weight", E, 2 * F, HK_TYPE_Q8_0);
        } else {
            T("attn_q.weight", E, nq, HK_TYPE_Q8_0);
            T("attn_k.weight", E, nkv, HK_TYPE_Q8_0);
            T("attn_v.weight", E, nkv, HK_TYPE_Q8_0);
            T("ffn_gate.weight", E, F, HK_TYPE_Q8_0);
            T("ffn_up.weight", E, F, HK_TYPE_Q8_0);
        }
        if (e->bias) {
            T("attn_q.bias", nq, 1, HK_TYPE_F32);
            T("attn_k.bias", nkv, 1, HK_TYPE_F32);
            T("attn_v.bias", nkv, 1, HK_TYPE_F32);
        }
        T("attn_output.weight", nq, E, HK_TYPE_Q8_0);
        T("ffn_norm.weight", E, 1, HK_TYPE_F32);
        T("ffn_down.weight", F, E, HK_TYPE_Q8_0);
        if (e->gemma) {
            T("post_attention_norm.weight", E, 1, HK_TYPE_F32);
            T("post_ffw_norm.weight", E, 1, HK_TYPE_F32);
        }
#undef T
    }
    CHECK(g->n_tensors == want_n, "%s: %llu tensors, expected %zu", e->shape, (unsigned long long)g->n_tensors,
          want_n);
    char n[64];
    snprintf(n, sizeof n, "blk.%d.attn_norm.weight", layers);
    CHECK(hk_gguf_find_tensor(g, n) == NULL, "%s: a layer too many", e->shape);
    hk_gguf_close(g);
}

/* hark loads it, knows its special tokens, and two decoded tokens give
 * finite logits over the whole vocabulary. */
static void check_runs(const expect *e, const char *path)
{
    hk_error err;
    hk_model *m = hk_model_load(path, &err);
    CHECK(m != NULL, "%s: %s", e->shape, err.msg);
    if (!m)
        return;
    CHECK(hk_model_n_vocab(m) == e->vocab, "%s: n_vocab %d", e->shape, hk_model_n_vocab(m));
    const hk_tokenizer *tok = hk_model_tokenizer(m);
    CHECK(tok && hk_tokenizer_find(tok, e->marker) == e->marker_id, "%s: %s is not token %lld", e->shape, e->marker,
          (long long)e->marker_id);
    int32_t ids[64];
    int32_t n_ids = tok ? hk_tokenize(tok, "Hello world, hello!", 19, false, false, ids, 64) : -1;
    CHECK(n_ids > 0 && n_ids <= 19, "%s: tokenizing gave %d tokens", e->shape, n_ids);
    hk_session_params sp = hk_session_default_params();
    sp.n_ctx = 8;
    sp.n_threads = 2;
    hk_session *s = hk_session_new(m, &sp, &err);
    CHECK(s != NULL, "%s: %s", e->shape, err.msg);
    int32_t in[2] = {(int32_t)e->bos, (int32_t)(e->vocab / 3)};
    if (s && hk_session_decode(s, in, 2, false, &err) == 0) {
        const float *l = hk_session_logits(s, -1);
        int bad = 0;
        for (int64_t i = 0; l && i < e->vocab; i++)
            bad += !isfinite(l[i]);
        CHECK(l && bad == 0, "%s: %d logits are not finite", e->shape, bad);
    } else {
        CHECK(false, "%s: decode failed: %s", e->shape, s ? err.msg : "no session");
    }
    hk_session_free(s);
    hk_model_free(m);
}

static void test_shapes(void)
{
    CHECK(hk_shape_at(sizeof EXPECT / sizeof EXPECT[0]) == NULL, "mkmodel has shapes this test does not check");
    for (size_t i = 0; i < sizeof EXPECT / sizeof EXPECT[0]; i++) {
        const expect *e = &EXPECT[i];
        const hk_shape *sh = hk_shape_find(e->shape);
        CHECK(sh && sh->n_layer == e->layers, "%s: unknown, or %d layers", e->shape, sh ? sh->n_layer : -1);
        /* two layers where the layers differ (gemma2 alternates local and
         * global attention), one elsewhere to keep the files small */
        const int layers = e->gemma ? 2 : 1;
        char path[256];
        snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, e->shape);
        hk_mkmodel_params p = hk_mkmodel_default_params();
        p.shape = e->shape;
        p.ftype = "Q8_0";
        p.n_layer = layers;
        p.n_threads = 2;
        hk_error err;
        int rc = hk_mkmodel_write(path, &p, &err);
        CHECK(rc == 0, "%s: %s", e->shape, err.msg);
        if (rc == 0) {
            check_file(e, path, layers);
            check_runs(e, path);
        }
        unlink(path);
    }
}

/* The choice mkmodel makes through hk_quantize_choose_types is the one
 * hk_quantize_file makes (which test_quant checks against llama-quantize's
 * files): same tensors in, same order and types out. */
static void test_type_choice(void)
{
    char out[256];
    snprintf(out, sizeof out, "%s/q.gguf", tmpdir);
    const char *in = hk_shared_path("fixtures/llm/models/llama-tied-F32.gguf");
    const char *ftypes[] = {"Q4_K_M", "Q3_K_M", "Q4_0", "Q6_K", "F16"};
    for (size_t k = 0; k < sizeof ftypes / sizeof ftypes[0]; k++) {
        hk_error err;
        CHECK(hk_quantize_file(in, out, ftypes[k], 1, &err) == 0, "%s", err.msg);
        hk_gguf *src = hk_gguf_open(in, &err), *q = hk_gguf_open(out, &err);
        CHECK(src && q, "%s", err.msg);
        if (src && q) {
            uint32_t n_layer = 0, n_head = 0, n_head_kv = 0;
            hk_gguf_get_u32(src, "llama.block_count", &n_layer);
            hk_gguf_get_u32(src, "llama.attention.head_count", &n_head);
            hk_gguf_get_u32(src, "llama.attention.head_count_kv", &n_head_kv);
            hk_quant_tensor *t = calloc(src->n_tensors, sizeof *t);
            char (*names)[96] = calloc(src->n_tensors, sizeof *names);
            for (uint64_t i = 0; t && names && i < src->n_tensors; i++) {
                const hk_gguf_tensor *st = &src->tensors[i];
                snprintf(names[i], sizeof names[i], "%.*s", (int)st->name.len, st->name.ptr);
                t[i] = (hk_quant_tensor){names[i], st->n_dims, {st->ne[0], st->ne[1], st->ne[2], st->ne[3]},
                                         (hk_type)st->type, HK_TYPE_COUNT};
            }
            int rc = t && names ? hk_quantize_choose_types("llama", n_layer, n_head, n_head_kv,
                                                           hk_ftype_from_name(ftypes[k]), t, src->n_tensors, &err)
                                : -1;
            CHECK(rc == 0, "%s: %s", ftypes[k], err.msg);
            CHECK(q->n_tensors == src->n_tensors, "%s: tensor count", ftypes[k]);
            for (uint64_t i = 0; rc == 0 && i < q->n_tensors; i++)
                CHECK(hk_str_eq(q->tensors[i].name, t[i].name) && q->tensors[i].type == (uint32_t)t[i].type,
                      "%s: tensor %llu: file has %.*s %s, choice %s %s", ftypes[k], (unsigned long long)i,
                      (int)q->tensors[i].name.len, q->tensors[i].name.ptr, hk_type_name(q->tensors[i].type),
                      t[i].name, hk_type_name(t[i].type));
            free(names);
            free(t);
        }
        hk_gguf_close(q);
        hk_gguf_close(src);
    }
    unlink(out);
}

/* The values of a tensor (its first max_rows rows): mean near `mean`, the
 * standard deviation 0.02 mkmodel draws with, and nothing beyond the bound
 * of its bell-shaped draws (a sum of four uniforms reaches at most
 * 2 * sqrt(3) = 3.46 standard deviations).  Tolerances: the sample mean is
 * within 5 standard errors (5 * 0.02 / sqrt(n), n >= 960 here), the sample
 * standard deviation within 10% (its relative standard error is
 * 1 / sqrt(2n), under 3%), and Q8_0 rounding moves a value by at most half a
 * step, amax / 254 < 0.0003, which the 0.001 added to the bound covers
 * (the tensors checked are F32 and Q8_0). */
static void check_values(const hk_gguf *g, const char *name, float mean, int64_t max_rows)
{
    const hk_gguf_tensor *t = hk_gguf_find_tensor(g, name);
    CHECK(t != NULL, "no tensor %s", name);
    if (!t)
        return;
    const int64_t n = t->ne[0], rows = t->ne[1] < max_rows ? t->ne[1] : max_rows;
    const size_t row_bytes = (size_t)(t->nbytes / (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]));
    float *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL, "out of memory");
    if (!x)
        return;
    double s1 = 0, s2 = 0, dev = 0;
    for (int64_t r = 0; r < rows; r++) {
        hk_dequantize_row((hk_type)t->type, (const uint8_t *)t->data + (size_t)r * row_bytes, x, n);
        for (int64_t i = 0; i < n; i++) {
            const double d = (double)x[i] - mean;
            s1 += d;
            s2 += d * d;
            if (fabs(d) > dev)
                dev = fabs(d);
        }
    }
    free(x);
    const double cnt = (double)(n * rows), m = s1 / cnt, sd = sqrt(s2 / cnt - m * m);
    CHECK(fabs(m) < 5 * 0.02 / sqrt(cnt), "%s: mean %g, expected %g", name, m + mean, (double)mean);
    CHECK(fabs(sd - 0.02) < 0.002, "%s: standard deviation %g, expected 0.02", name, sd);
    CHECK(dev <= 0.02 * 2 * sqrt(3.0) + 0.001, "%s: a value %g from the mean, beyond the draws' bound", name, dev);
}

static char *slurp(const char *path, size_t *len)
{
    return hk_read_file(path, len);
}

/* The values come from the seed alone: 1 and 2 threads write the same
 * bytes; another seed writes others.  Also the K-quant rules of a real
 * shape: SmolLM2-360M's rows of 960 fit no 256-block, so Q4_K_M falls back
 * to Q5_0 / Q8_0 except in ffn_down (rows of 2560). */
static void test_determinism(void)
{
    char a[256], b[256], c[256];
    snprintf(a, sizeof a, "%s/a.gguf", tmpdir);
    snprintf(b, sizeof b, "%s/b.gguf", tmpdir);
    snprintf(c, sizeof c, "%s/c.gguf", tmpdir);
    hk_mkmodel_params p = hk_mkmodel_default_params();
    p.shape = "smollm2-360m";
    p.ftype = "Q4_K_M";
    p.n_layer = 2;
    hk_error err;
    p.n_threads = 1;
    CHECK(hk_mkmodel_write(a, &p, &err) == 0, "%s", err.msg);
    p.n_threads = 2;
    CHECK(hk_mkmodel_write(b, &p, &err) == 0, "%s", err.msg);
    p.seed = 7;
    CHECK(hk_mkmodel_write(c, &p, &err) == 0, "%s", err.msg);
    size_t la = 0, lb = 0, lc = 0;
    char *da = slurp(a, &la), *db = slurp(b, &lb), *dc = slurp(c, &lc);
    CHECK(da && db && la == lb && memcmp(da, db, la) == 0, "1 and 2 threads wrote different files");
    CHECK(dc && lc == la && memcmp(da, dc, la) != 0, "another seed wrote the same file");
    free(da);
    free(db);
    free(dc);
    hk_gguf *g = hk_gguf_open(a, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (g) {
        /* use_more_bits(layer, 2) holds for layer 1 only */
        check_tensor(g, "smollm2 Q4_K_M", "token_embd.weight", 960, 49152, HK_TYPE_Q8_0);
        check_tensor(g, "smollm2 Q4_K_M", "blk.0.attn_q.weight", 960, 960, HK_TYPE_Q5_0);
        check_tensor(g, "smollm2 Q4_K_M", "blk.0.attn_v.weight", 960, 320, HK_TYPE_Q5_0);
        check_tensor(g, "smollm2 Q4_K_M", "blk.1.attn_v.weight", 960, 320, HK_TYPE_Q8_0);
        check_tensor(g, "smollm2 Q4_K_M", "blk.0.ffn_down.weight", 2560, 960, HK_TYPE_Q4_K);
        check_tensor(g, "smollm2 Q4_K_M", "blk.1.ffn_down.weight", 2560, 960, HK_TYPE_Q6_K);
        uint32_t ft = 0;
        CHECK(hk_gguf_get_u32(g, "general.file_type", &ft) && ft == HK_FTYPE_MOSTLY_Q4_K_M, "file_type %u", ft);
        check_values(g, "output_norm.weight", 1.0f, 1);
        check_values(g, "blk.1.ffn_norm.weight", 1.0f, 1);
        check_values(g, "token_embd.weight", 0.0f, 1024);
        check_values(g, "blk.1.attn_v.weight", 0.0f, 1024);
        hk_gguf_close(g);
    }
    unlink(a);
    unlink(b);
    unlink(c);
}

static void test_errors(void)
{
    hk_error err;
    char path[256];
    snprintf(path, sizeof path, "%s/x.gguf", tmpdir);
    hk_mkmodel_params p = hk_mkmodel_default_params();
    p.shape = "llama-7b";
    CHECK(hk_mkmodel_write(path, &p, &err) == -1 && strstr(err.msg, "llama-7b"), "unknown shape: %s", err.msg);
    p = hk_mkmodel_default_params();
    p.ftype = "Q9_9";
    CHECK(hk_mkmodel_write(path, &p, &err) == -1 && strstr(err.msg, "Q9_9"), "unknown type: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "a failed write left a file");
}

static uint8_t fill_byte(size_t i) { return (uint8_t)(((uint32_t)i * 2654435761u) >> 24); }

static void test_bandwidth(void)
{
    /* a small buffer: this checks the probe works, not the machine */
    double gbs = hk_measure_read_bandwidth_ex(2, (size_t)8 << 20, 2);
    CHECK(gbs > 0 && isfinite(gbs), "bandwidth %g", gbs);

    /* memory of the caller's, read in place and left as it was, from an
     * address that is no page boundary */
    const size_t n = (size_t)8 << 20;
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL, "alloc");
    if (!buf)
        return;
    /* bytes without a short period, so that the probe's check that every
     * way of reading saw the same bytes (membw.c) has something to see */
    for (size_t i = 0; i < n; i++)
        buf[i] = fill_byte(i);
    gbs = hk_measure_read_bandwidth_of(buf + 100, n - 200, 2, 2);
    CHECK(gbs > 0 && isfinite(gbs), "bandwidth of the caller's memory %g", gbs);
    size_t changed = 0;
    for (size_t i = 0; i < n; i++)
        changed += buf[i] != fill_byte(i);
    CHECK(changed == 0, "%zu bytes of the caller's memory changed", changed);
    /* less than a whole page per thread: nothing to measure */
    CHECK(hk_measure_read_bandwidth_of(buf + 100, 6000, 2, 2) < 0, "a page and a half for two threads");
    free(buf);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_errors();
    test_bandwidth();
    test_type_choice();
    test_determinism();
    test_shapes();
    rmdir(tmpdir);
    return hk_check_done("mkmodel");
}
