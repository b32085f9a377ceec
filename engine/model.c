/* Loading: hyper-parameters with llama.cpp's defaults, then every tensor the
 * architecture needs, bound in place inside the mapping and checked for
 * shape and type, so that the forward pass never meets a surprise. */
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

/* Limits far above any real model that keep every size product inside
 * int64/size_t arithmetic. */
enum { MAX_DIM = 1 << 20, MAX_LAYERS = 4096, MAX_HEADS = 4096 };

typedef struct loader {
    hk_model *m;
    const hk_gguf *g;
    hk_error *err;
    bool *used;          /* per tensor of the file: bound by some field */
    char key[256];
    char name[256];
} loader;

static const char *akey(loader *L, const char *suffix)
{
    snprintf(L->key, sizeof L->key, "%s.%s", L->m->arch_name, suffix);
    return L->key;
}

/* Integer hyper-parameter <arch>.<suffix>.  Absent: def, or an error when
 * required.  Present with another type (an array of per-layer values, a
 * string) is an error rather than a silent default. */
static int get_int(loader *L, const char *suffix, bool required, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out)
{
    const char *k = akey(L, suffix);
    const hk_gguf_kv *kv = hk_gguf_find(L->g, k);
    if (!kv) {
        if (required)
            return hk_fail(L->err, "%s: missing key '%s'", L->m->path, k);
        *out = def;
        return 0;
    }
    int64_t v;
    if (!hk_gguf_get_i64(L->g, k, &v))
        return hk_fail(L->err, "%s: key '%s' has type %s; expected one integer", L->m->path, k,
                       hk_gguf_type_name(kv->type));
    if (v < lo || v > hi)
        return hk_fail(L->err, "%s: key '%s' = %lld is out of range [%lld, %lld]", L->m->path, k, (long long)v,
                       (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

static int get_float(loader *L, const char *suffix, bool required, float def, float *out)
{
    const char *k = akey(L, suffix);
    const hk_gguf_kv *kv = hk_gguf_find(L->g, k);
    if (!kv) {
        if (required)
            return hk_fail(L->err, "%s: missing key '%s'", L->m->path, k);
        *out = def;
        return 0;
    }
    if (!hk_gguf_get_f32(L->g, k, out) || !isfinite(*out))
        return hk_fail(L->err, "%s: key '%s' is not a finite float", L->m->path, k);
    return 0;
}

static const hk_gguf_tensor *find(loader *L, const char *name)
{
    const hk_gguf_tensor *t = hk_gguf_find_tensor(L->g, name);
    if (t)
        L->used[t - L->g->tensors] = true;
    return t;
}

static int check_shape(loader *L, const hk_gguf_tensor *t, const char *name, int64_t ne0, int64_t ne1)
{
    if (t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1)
        return 0;
    char got[96], want[64];
    if (t->n_dims <= 1)
        snprintf(got, sizeof got, "[%lld]", (long long)t->ne[0]);
    else if (t->n_dims == 2)
        snprintf(got, sizeof got, "[%lld, %lld]", (long long)t->ne[0], (long long)t->ne[1]);
    else
        snprintf(got, sizeof got, "[%lld, %lld, %lld, %lld]", (long long)t->ne[0], (long long)t->ne[1],
                 (long long)t->ne[2], (long long)t->ne[3]);
    if (ne1 == 1)
        snprintf(want, sizeof want, "[%lld]", (long long)ne0);
    else
        snprintf(want, sizeof want, "[%lld, %lld]", (long long)ne0, (long long)ne1);
    return hk_fail(L->err, "%s: tensor '%s' has shape %s, expected %s", L->m->path, name, got, want);
}

/* A matrix the forward pass multiplies by (or looks rows up in). */
static int bind_weight(loader *L, hk_weight *w, const char *name, int64_t n_in, int64_t n_out, bool required,
                       bool *found)
{
    const hk_gguf_tensor *t = find(L, name);
    if (found)
        *found = t != NULL;
    if (!t)
        return required ? hk_fail(L->err, "%s: tensor '%s' not found", L->m->path, name) : 0;
    if (check_shape(L, t, name, n_in, n_out))
        return -1;
    const hk_quant_ops *ops = hk_quant_ops_of((hk_type)t->type);
    const hk_type_traits *tr = hk_type_traits_of(t->type);
    if (!ops || !ops->to_float || !ops->vec_dot || !tr || !hk_quant_ops_of(tr->vec_dot_type) ||
        !hk_quant_ops_of(tr->vec_dot_type)->act_from_float)
        return hk_fail(L->err, "%s: tensor '%s' has type %s, which hark cannot compute with", L->m->path, name,
                       hk_type_name(t->type));
    size_t rb = hk_row_size((hk_type)t->type, n_in);
    if (rb == 0 || hk_row_size(tr->vec_dot_type, n_in) == 0)
        return hk_fail(L->err, "%s: tensor '%s': row length %lld is not a multiple of the %s block size %u",
                       L->m->path, name, (long long)n_in, hk_type_name(t->type), tr->block_size);
    w->type = (hk_type)t->type;
    w->data = t->data;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = rb;
    return 0;
}

/* Rows [r0, r0+n) of a bound matrix, as a matrix of its own. */
static hk_weight weight_rows(const hk_weight *w, int64_t r0, int64_t n)
{
    hk_weight v = *w;
    v.data = w->data + (size_t)r0 * w->row_bytes;
    v.n_out = n;
    return v;
}

/* A vector of F32 values: norms, biases, rope factors. */
static int bind_vec(loader *L, const float **out, const char *name, int64_t n, bool required)
{
    const hk_gguf_tensor *t = find(L, name);
    *out = NULL;
    if (!t)
        return required ? hk_fail(L->err, "%s: tensor '%s' not found", L->m->path, name) : 0;
    if (check_shape(L, t, name, n, 1))
        return -1;
    if (t->type != HK_TYPE_F32)
        return hk_fail(L->err, "%s: tensor '%s' has type %s; expected F32", L->m->path, name, hk_type_name(t->type));
    if ((uintptr_t)t->data % sizeof(float) != 0)
        return hk_fail(L->err, "%s: tensor '%s' is not aligned to 4 bytes", L->m->path, name);
    *out = t->data;
    return 0;
}

static const char *lname(loader *L, int il, const char *suffix)
{
    snprintf(L->name, sizeof L->name, "blk.%d.%s", il, suffix);
    return L->name;
}

static int load_hparams(loader *L)
{
    hk_model *m = L->m;
    int64_t v;
    if (get_int(L, "context_length", true, 0, 1, INT32_MAX, &v))
        return -1;
    m->n_ctx_train = (int32_t)v;
    if (get_int(L, "embedding_length", true, 0, 1, MAX_DIM, &v))
        return -1;
    m->n_embd = (int32_t)v;
    if (get_int(L, "block_count", true, 0, 1, MAX_LAYERS, &v))
        return -1;
    m->n_layer = (int32_t)v;
    if (get_int(L, "feed_forward_length", true, 0, 1, MAX_DIM, &v))
        return -1;
    m->n_ff = (int32_t)v;
    if (get_int(L, "attention.head_count", true, 0, 1, MAX_HEADS, &v))
        return -1;
    m->n_head = (int32_t)v;
    if (get_int(L, "attention.head_count_kv", false, m->n_head, 1, MAX_HEADS, &v))
        return -1;
    m->n_head_kv = (int32_t)v;
    if (m->n_head % m->n_head_kv != 0)
        return hk_fail(L->err, "%s: %d attention heads do not divide into %d KV heads", m->path, m->n_head,
                       m->n_head_kv);
    bool has_k = hk_gguf_find(L->g, akey(L, "attention.key_length")) != NULL;
    if (!has_k && m->n_embd % m->n_head != 0)
        return hk_fail(L->err, "%s: embedding length %d is not a multiple of the %d heads", m->path, m->n_embd,
                       m->n_head);
    if (get_int(L, "attention.key_length", false, m->n_embd / m->n_head, 1, MAX_DIM / 4, &v))
        return -1;
    m->head_dim_k = (int32_t)v;
    if (get_int(L, "attention.value_length", false, m->n_embd / m->n_head, 1, MAX_DIM / 4, &v))
        return -1;
    m->head_dim_v = (int32_t)v;
    if (get_int(L, "rope.dimension_count", false, m->head_dim_k, 0, m->head_dim_k, &v))
        return -1;
    if (v % 2 != 0)
        return hk_fail(L->err, "%s: key '%s' = %lld is odd; RoPE rotates pairs", m->path,
                       akey(L, "rope.dimension_count"), (long long)v);
    m->rope.n_rot = (int)v;
    if (get_float(L, "attention.layer_norm_rms_epsilon", true, 0, &m->norm_eps))
        return -1;
    if (get_float(L, "rope.freq_base", false, 10000.0f, &m->rope.freq_base))
        return -1;
    if (m->rope.freq_base <= 0)
        return hk_fail(L->err, "%s: key '%s' must be positive", m->path, akey(L, "rope.freq_base"));

    /* llama.cpp: freq_scale = 1/factor whenever a factor is given, unless the
     * scaling type is "none"; "linear" is just that.  YaRN and LongRoPE need
     * corrections hark does not implement, so they are refused rather than
     * run with wrong angles.  ("llama3" scaling arrives as rope_freqs.) */
    float factor = 0;
    if (get_float(L, "rope.scaling.factor", false, 0, &factor))
        return -1;
    if (factor == 0 && get_float(L, "rope.scale_linear", false, 0, &factor))
        return -1;
    m->rope.freq_scale = factor == 0 ? 1.0f : 1.0f / factor;
    hk_str type;
    if (hk_gguf_get_str(L->g, akey(L, "rope.scaling.type"), &type)) {
        if (hk_str_eq(type, "none"))
            m->rope.freq_scale = 1.0f;
        else if (hk_str_eq(type, "yarn") || hk_str_eq(type, "longrope"))
            return hk_fail(L->err, "%s: rope scaling '%.*s' is not supported", m->path, (int)type.len, type.ptr);
    }
    if (!(m->rope.freq_scale > 0) || !isfinite(m->rope.freq_scale))
        return hk_fail(L->err, "%s: key '%s' must be positive", m->path, akey(L, "rope.scaling.factor"));

    m->q_scale = 1.0f;
    m->attn_scale = 1.0f / sqrtf((float)m->head_dim_v);
    m->embd_scale = 1.0f;
    m->ffn_act = HK_FFN_SILU;
    m->rope.neox = m->arch != HK_ARCH_LLAMA;

    if (m->arch == HK_ARCH_LLAMA || m->arch == HK_ARCH_QWEN2 || m->arch == HK_ARCH_PHI3) {
        if (m->head_dim_k != m->head_dim_v)
            return hk_fail(L->err, "%s: key and value head sizes differ (%d, %d); %s needs them equal", m->path,
                           m->head_dim_k, m->head_dim_v, m->arch_name);
    }
    if (m->arch == HK_ARCH_LLAMA) {
        if (get_int(L, "expert_count", false, 0, 0, INT32_MAX, &v))
            return -1;
        if (v > 0)
            return hk_fail(L->err, "%s: mixture-of-experts models (%lld experts) are not supported", m->path,
                           (long long)v);
        if (m->rope.n_rot != m->head_dim_k) /* as llama.cpp refuses it for this architecture */
            return hk_fail(L->err, "%s: rope.dimension_count %d differs from the head size %d", m->path,
                           m->rope.n_rot, m->head_dim_k);
    }
    int64_t window = 0;
    if (m->arch == HK_ARCH_PHI3) {
        /* Q is scaled before the product; the softmax scale is 1 */
        m->q_scale = 1.0f / sqrtf((float)m->head_dim_v);
        m->attn_scale = 1.0f;
        /* llama.cpp's backward-compatible defaults for files without the
         * key, then the key itself; 0 (Phi-4) means no window */
        if ((m->n_layer == 32 || m->n_layer == 40) && m->n_ctx_train == 4096)
            window = 2047;
        else if (m->n_layer == 32 && m->n_head_kv == 32 && m->n_ctx_train == 131072)
            window = 262144;
        else if (m->n_layer == 40 && m->n_ctx_train == 131072)
            window = 131072;
        bool found = hk_gguf_find(L->g, akey(L, "attention.sliding_window")) != NULL;
        if (get_int(L, "attention.sliding_window", false, window, 0, INT32_MAX, &window))
            return -1;
        if (!found && window == 0)
            return hk_fail(L->err, "%s: missing key '%s'", m->path, akey(L, "attention.sliding_window"));
    }
    if (m->arch == HK_ARCH_GEMMA2) {
        /* llama.cpp picks the Q scale by size class: 27B (46 layers) uses
         * n_embd/n_head, the others the head size */
        m->q_scale = m->n_layer == 46 ? 1.0f / sqrtf((float)(m->n_embd / m->n_head))
                                      : 1.0f / sqrtf((float)m->head_dim_k);
        m->attn_scale = 1.0f;
        m->embd_scale = sqrtf((float)m->n_embd);
        m->ffn_act = HK_FFN_GELU;
        if (get_float(L, "attn_logit_softcapping", false, 50.0f, &m->attn_softcap) ||
            get_float(L, "final_logit_softcapping", false, 30.0f, &m->final_softcap))
            return -1;
        if (m->attn_softcap < 0 || m->final_softcap < 0)
            return hk_fail(L->err, "%s: negative soft-cap", m->path);
        if (get_int(L, "attention.sliding_window", false, 4096, 0, INT32_MAX, &window))
            return -1;
    }
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers)
        return hk_fail(L->err, "out of memory");
    for (int il = 0; il < m->n_layer; il++) {
        if (m->arch == HK_ARCH_PHI3)
            m->layers[il].window = (int32_t)window;
        else if (m->arch == HK_ARCH_GEMMA2) /* gemma2 alternates local (even) and global layers */
            m->layers[il].window = il % 2 == 0 ? (int32_t)window : 0;
    }
    return 0;
}

static int load_tensors(loader *L)
{
    hk_model *m = L->m;
    const int64_t E = m->n_embd, F = m->n_ff;
    const int64_t nq = (int64_t)m->n_head * m->head_dim_k;
    const int64_t nk = (int64_t)m->n_head_kv * m->head_dim_k;
    const int64_t nv = (int64_t)m->n_head_kv * m->head_dim_v;
    const int64_t no = (int64_t)m->n_head * m->head_dim_v;
    const hk_gguf_tensor *te = hk_gguf_find_tensor(L->g, "token_embd.weight");
    if (!te)
        return hk_fail(L->err, "%s: tensor 'token_embd.weight' not found", m->path);
    if (te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return hk_fail(L->err, "%s: tensor 'token_embd.weight' has %lld rows", m->path, (long long)te->ne[1]);
    m->n_vocab = (int32_t)te->ne[1];
    if (bind_weight(L, &m->tok_embd, "token_embd.weight", E, m->n_vocab, true, NULL))
        return -1;
    bool has_output = false;
    if (m->arch != HK_ARCH_GEMMA2) { /* llama.cpp never reads gemma2's output.weight */
        if (bind_weight(L, &m->output, "output.weight", E, m->n_vocab, m->arch == HK_ARCH_PHI3, &has_output))
            return -1;
    }
    if (!has_output)
        m->output = m->tok_embd;
    if (bind_vec(L, &m->output_norm, "output_norm.weight", E, true) ||
        bind_vec(L, &m->output_bias, "output.bias", m->n_vocab, false))
        return -1;
    if (m->arch == HK_ARCH_LLAMA && bind_vec(L, &m->rope.factors, "rope_freqs.weight", m->rope.n_rot / 2, false))
        return -1;
    if (m->arch == HK_ARCH_PHI3 && (hk_gguf_find_tensor(L->g, "rope_factors_long.weight") ||
                                    hk_gguf_find_tensor(L->g, "rope_factors_short.weight")))
        return hk_fail(L->err, "%s: tensor 'rope_factors_long.weight': long-context (LongRoPE) Phi-3 is not supported",
                       m->path);

    for (int il = 0; il < m->n_layer; il++) {
        hk_layer *l = &m->layers[il];
        bool qwen = m->arch == HK_ARCH_QWEN2, gemma = m->arch == HK_ARCH_GEMMA2;
        if (bind_vec(L, &l->attn_norm, lname(L, il, "attn_norm.weight"), E, true))
            return -1;
        bool fused = false;
        if (m->arch == HK_ARCH_PHI3) {
            hk_weight qkv;
            if (bind_weight(L, &qkv, lname(L, il, "attn_qkv.weight"), E, nq + nk + nv, false, &fused))
                return -1;
            if (fused) {
                l->wq = weight_rows(&qkv, 0, nq);
                l->wk = weight_rows(&qkv, nq, nk);
                l->wv = weight_rows(&qkv, nq + nk, nv);
            }
        }
        if (!fused) {
            if (bind_weight(L, &l->wq, lname(L, il, "attn_q.weight"), E, nq, true, NULL) ||
                bind_weight(L, &l->wk, lname(L, il, "attn_k.weight"), E, nk, true, NULL) ||
                bind_weight(L, &l->wv, lname(L, il, "attn_v.weight"), E, nv, true, NULL))
                return -1;
        }
        if (!gemma) {
            /* qwen2 requires its biases; llama and phi3 take them when present */
            if (bind_vec(L, &l->bq, lname(L, il, "attn_q.bias"), nq, qwen) ||
                bind_vec(L, &l->bk, lname(L, il, "attn_k.bias"), nk, qwen) ||
                bind_vec(L, &l->bv, lname(L, il, "attn_v.bias"), nv, qwen) ||
                bind_vec(L, &l->bo, lname(L, il, "attn_output.bias"), E, false))
                return -1;
        }
        if (bind_weight(L, &l->wo, lname(L, il, "attn_output.weight"), no, E, true, NULL) ||
            bind_vec(L, &l->ffn_norm, lname(L, il, "ffn_norm.weight"), E, true))
            return -1;
        if (gemma && (bind_vec(L, &l->post_attn_norm, lname(L, il, "post_attention_norm.weight"), E, true) ||
                      bind_vec(L, &l->post_ffw_norm, lname(L, il, "post_ffw_norm.weight"), E, true)))
            return -1;
        if (m->arch == HK_ARCH_PHI3) {
            hk_weight up;
            if (bind_weight(L, &up, lname(L, il, "ffn_up.weight"), E, 2 * F, true, NULL))
                return -1;
            l->w_gate = weight_rows(&up, 0, F);
            l->w_up = weight_rows(&up, F, F);
        } else if (bind_weight(L, &l->w_gate, lname(L, il, "ffn_gate.weight"), E, F, true, NULL) ||
                   bind_weight(L, &l->w_up, lname(L, il, "ffn_up.weight"), E, F, true, NULL)) {
            return -1;
        }
        if (bind_weight(L, &l->w_down, lname(L, il, "ffn_down.weight"), F, E, true, NULL))
            return -1;
    }
    /* As llama.cpp ("wrong number of tensors"): a tensor nobody reads means
     * the file is not the layout this code thinks it is. */
    for (uint64_t i = 0; i < L->g->n_tensors; i++)
        if (!L->used[i])
            return hk_fail(L->err, "%s: unexpected tensor '%.*s' for architecture %s", m->path,
                           (int)L->g->tensors[i].name.len, L->g->tensors[i].name.ptr, m->arch_name);
    return 0;
}

static const struct {
    const char *name;
    hk_arch arch;
} ARCHS[] = {
    {"llama", HK_ARCH_LLAMA},
    {"qwen2", HK_ARCH_QWEN2},
    {"phi3", HK_ARCH_PHI3},
    {"gemma2", HK_ARCH_GEMMA2},
};

hk_model *hk_model_load(const char *path, hk_error *err)
{
    hk_model *m = calloc(1, sizeof *m);
    if (!m) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    m->path = strdup(path);
    if (!m->path) {
        hk_fail(err, "out of memory");
        free(m);
        return NULL;
    }
    m->gguf = hk_gguf_open(path, err);
    if (!m->gguf)
        goto fail;
    loader L = {.m = m, .g = m->gguf, .err = err};
    L.used = calloc(m->gguf->n_tensors ? m->gguf->n_tensors : 1, sizeof *L.used);
    if (!L.used) {
        hk_fail(err, "out of memory");
        goto fail;
    }
    hk_str arch;
    if (!hk_gguf_get_str(m->gguf, "general.architecture", &arch)) {
        hk_fail(err, "%s: missing key 'general.architecture'", path);
        goto fail_used;
    }
    m->arch_name = NULL;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (hk_str_eq(arch, ARCHS[i].name)) {
            m->arch = ARCHS[i].arch;
            m->arch_name = ARCHS[i].name;
        }
    if (!m->arch_name) {
        hk_fail(err, "%s: architecture '%.*s' is not supported (llama, qwen2, phi3, gemma2)", path,
                (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        goto fail_used;
    }
    if (load_hparams(&L) || load_tensors(&L))
        goto fail_used;
    free(L.used);
    L.used = NULL;
    if (hk_gguf_find(m->gguf, "tokenizer.ggml.model")) {
        m->tok = hk_tokenizer_load(m->gguf, err);
        if (!m->tok)
            goto fail;
        if (hk_tokenizer_n_vocab(m->tok) != m->n_vocab) {
            hk_fail(err, "%s: tensor 'token_embd.weight' has %d rows but the vocabulary has %d tokens", path,
                    m->n_vocab, hk_tokenizer_n_vocab(m->tok));
            goto fail;
        }
    }
    return m;
fail_used:
    free(L.used);
fail:
    hk_model_free(m);
    return NULL;
}

void hk_model_free(hk_model *m)
{
    if (!m)
        return;
    hk_tokenizer_free(m->tok);
    free(m->layers);
    hk_gguf_close(m->gguf);
    free(m->path);
    free(m);
}

const char *hk_model_path(const hk_model *m) { return m->path; }
const char *hk_model_arch(const hk_model *m) { return m->arch_name; }
int32_t hk_model_n_vocab(const hk_model *m) { return m->n_vocab; }
int32_t hk_model_n_ctx_train(const hk_model *m) { return m->n_ctx_train; }
int32_t hk_model_n_embd(const hk_model *m) { return m->n_embd; }
int32_t hk_model_n_layer(const hk_model *m) { return m->n_layer; }
const hk_gguf *hk_model_gguf(const hk_model *m) { return m->gguf; }
const hk_tokenizer *hk_model_tokenizer(const hk_model *m) { return m->tok; }
