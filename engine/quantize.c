/* hark quantize: llama-quantize's choices and output, reproduced.
 *
 * Three parts: which type each tensor gets (tensor_get_type, a transcription
 * of the decision rules in llama.cpp's src/llama-quant.cpp for the ftypes
 * hark writes), the plan of the output file (tensor order and key/values),
 * and the conversion itself, rows split across threads inside the gguf
 * writer's produce callback so no tensor is held twice in memory. */
#include "quantize.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"

/* ---------------------------------------------------------------- ftypes */

typedef struct ftype_info {
    const char *name;
    int ftype;    /* llama_ftype number */
    hk_type base; /* llama_model_quantize_impl's default_type */
} ftype_info;

static const ftype_info ftypes[] = {
    {"F32", HK_FTYPE_ALL_F32, HK_TYPE_F32},
    {"F16", HK_FTYPE_MOSTLY_F16, HK_TYPE_F16},
    {"BF16", HK_FTYPE_MOSTLY_BF16, HK_TYPE_BF16},
    {"Q8_0", HK_FTYPE_MOSTLY_Q8_0, HK_TYPE_Q8_0},
    {"Q4_0", HK_FTYPE_MOSTLY_Q4_0, HK_TYPE_Q4_0},
    {"Q4_1", HK_FTYPE_MOSTLY_Q4_1, HK_TYPE_Q4_1},
    {"Q5_0", HK_FTYPE_MOSTLY_Q5_0, HK_TYPE_Q5_0},
    {"Q5_1", HK_FTYPE_MOSTLY_Q5_1, HK_TYPE_Q5_1},
    {"Q2_K", HK_FTYPE_MOSTLY_Q2_K, HK_TYPE_Q2_K},
    {"Q3_K_S", HK_FTYPE_MOSTLY_Q3_K_S, HK_TYPE_Q3_K},
    {"Q3_K_M", HK_FTYPE_MOSTLY_Q3_K_M, HK_TYPE_Q3_K},
    {"Q3_K_L", HK_FTYPE_MOSTLY_Q3_K_L, HK_TYPE_Q3_K},
    {"Q4_K_S", HK_FTYPE_MOSTLY_Q4_K_S, HK_TYPE_Q4_K},
    {"Q4_K_M", HK_FTYPE_MOSTLY_Q4_K_M, HK_TYPE_Q4_K},
    {"Q5_K_S", HK_FTYPE_MOSTLY_Q5_K_S, HK_TYPE_Q5_K},
    {"Q5_K_M", HK_FTYPE_MOSTLY_Q5_K_M, HK_TYPE_Q5_K},
    {"Q6_K", HK_FTYPE_MOSTLY_Q6_K, HK_TYPE_Q6_K},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

static const ftype_info *ftype_lookup(int ftype)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype)
            return &ftypes[i];
    return NULL;
}

int hk_ftype_from_name(const char *name)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (strcasecmp(ftypes[i].name, name) == 0)
            return ftypes[i].ftype;
    /* llama-quantize also takes the number */
    char *end;
    errno = 0;
    long v = strtol(name, &end, 10);
    if (*name && !*end && !errno && v >= 0 && v <= 1000 && ftype_lookup((int)v))
        return (int)v;
    return -1;
}

const char *hk_ftype_name(int ftype)
{
    const ftype_info *f = ftype_lookup(ftype);
    return f ? f->name : NULL;
}

hk_type hk_ftype_base_type(int ftype)
{
    const ftype_info *f = ftype_lookup(ftype);
    return f ? f->base : HK_TYPE_COUNT;
}

static bool is_quantized(hk_type t)
{
    return t != HK_TYPE_F32 && t != HK_TYPE_F16 && t != HK_TYPE_BF16;
}

/* ---------------------------------------------------------------- type choice */

/* What llama_tensor_get_type reads from the model and counts as it goes. */
typedef struct qstate {
    bool falcon;          /* arch "falcon" has its own rules */
    bool is_70b;          /* llama.cpp's LLM_TYPE_70B: attn_v gets more bits */
    int n_layer;          /* <arch>.block_count */
    int n_gqa;            /* n_head / n_head_kv of layer 0 (0 without heads) */
    int n_expert;         /* <arch>.expert_count, 0 when absent */
    bool has_output;      /* a separate output.weight exists (else token_embd is the output) */
    int n_attention_wv, i_attention_wv;
    int i_ffn_down, i_ffn_gate, i_ffn_up;
} qstate;

static bool contains(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}

/* More bits for the first and last eighth of the layers and every third in
 * between (llama.cpp's use_more_bits). */
static bool use_more_bits(int i_layer, int n_layers)
{
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/* The layer a per-layer rule applies to: the running count of such tensors,
 * except in MoE models whose expert tensors are not in layer order. */
static int layer_of(const qstate *qs, int counter, const char *name, hk_error *err)
{
    if (qs->n_expert <= 1)
        return counter;
    int layer;
    if (sscanf(name, "blk.%d.", &layer) != 1)
        return hk_fail(err, "failed to determine the layer of tensor '%s'", name), -1;
    if (layer < 0 || layer >= qs->n_layer)
        return hk_fail(err, "tensor '%s': layer %d is not in [0, %d)", name, layer, qs->n_layer), -1;
    return layer;
}

/* llama_tensor_get_type for the ftypes in the table above (the IQ rules of the
 * original never fire for them).  nx is the row length.  Returns the type, or
 * HK_TYPE_COUNT after filling err. */
static hk_type tensor_get_type(qstate *qs, hk_type new_type, const char *name, int64_t nx, int ftype, hk_error *err)
{
    if (strcmp(name, "output.weight") == 0 || (!qs->has_output && strcmp(name, "token_embd.weight") == 0)) {
        /* tied embeddings are the output matrix too, so they get its type */
        if (qs->falcon || nx % hk_type_traits_of(new_type)->block_size != 0)
            new_type = HK_TYPE_Q8_0;
        else if (new_type != HK_TYPE_Q8_0)
            new_type = HK_TYPE_Q6_K;
    } else if (strcmp(name, "token_embd.weight") == 0) {
        /* only IQ and TQ ftypes change it */
    } else if (contains(name, "attn_v.weight")) {
        if (ftype == HK_FTYPE_MOSTLY_Q2_K)
            new_type = qs->n_gqa >= 4 ? HK_TYPE_Q4_K : HK_TYPE_Q3_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q3_K_M)
            new_type = qs->i_attention_wv < 2 ? HK_TYPE_Q5_K : HK_TYPE_Q4_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q3_K_L)
            new_type = HK_TYPE_Q5_K;
        else if ((ftype == HK_FTYPE_MOSTLY_Q4_K_M || ftype == HK_FTYPE_MOSTLY_Q5_K_M) &&
                 use_more_bits(qs->i_attention_wv, qs->n_attention_wv))
            new_type = HK_TYPE_Q6_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q4_K_S && qs->i_attention_wv < 4)
            new_type = HK_TYPE_Q5_K;
        /* 70B models share each attn_v among 8 heads, so it is small: spend bits */
        if (qs->is_70b && (new_type == HK_TYPE_Q3_K || new_type == HK_TYPE_Q4_K))
            new_type = HK_TYPE_Q5_K;
        if (qs->n_expert == 8)
            new_type = HK_TYPE_Q8_0;
        qs->i_attention_wv++;
    } else if (contains(name, "attn_k.weight")) {
        if (qs->n_expert == 8)
            new_type = HK_TYPE_Q8_0;
    } else if (contains(name, "attn_q.weight")) {
        /* only IQ3 ftypes change it */
    } else if (contains(name, "ffn_down")) {
        const int i_layer = layer_of(qs, qs->i_ffn_down, name, err), n_layer = qs->n_layer;
        if (i_layer < 0)
            return HK_TYPE_COUNT;
        if (ftype == HK_FTYPE_MOSTLY_Q2_K)
            new_type = HK_TYPE_Q3_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q3_K_M)
            new_type = i_layer < n_layer / 16 ? HK_TYPE_Q5_K
                       : !qs->falcon || use_more_bits(i_layer, n_layer) ? HK_TYPE_Q4_K
                                                                         : HK_TYPE_Q3_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q3_K_L)
            new_type = qs->falcon ? HK_TYPE_Q4_K : HK_TYPE_Q5_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q4_K_M) {
            if (qs->falcon)
                new_type = i_layer < n_layer / 16 ? HK_TYPE_Q6_K
                           : use_more_bits(i_layer, n_layer) ? HK_TYPE_Q5_K
                                                             : HK_TYPE_Q4_K;
            else if (use_more_bits(i_layer, n_layer))
                new_type = HK_TYPE_Q6_K;
        } else if (ftype == HK_FTYPE_MOSTLY_Q5_K_M && use_more_bits(i_layer, n_layer))
            new_type = HK_TYPE_Q6_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q4_K_S && !qs->falcon && i_layer < n_layer / 8)
            new_type = HK_TYPE_Q5_K;
        /* (the Q4_0/Q5_0 rule here needs an importance matrix) */
        qs->i_ffn_down++;
    } else if (contains(name, "attn_output.weight")) {
        if (!qs->falcon) {
            if (qs->n_expert == 8) {
                if (ftype == HK_FTYPE_MOSTLY_Q2_K || ftype == HK_FTYPE_MOSTLY_Q3_K_S ||
                    ftype == HK_FTYPE_MOSTLY_Q3_K_M || ftype == HK_FTYPE_MOSTLY_Q4_K_S ||
                    ftype == HK_FTYPE_MOSTLY_Q4_K_M)
                    new_type = HK_TYPE_Q5_K;
            } else {
                if (ftype == HK_FTYPE_MOSTLY_Q2_K)
                    new_type = HK_TYPE_Q3_K;
                else if (ftype == HK_FTYPE_MOSTLY_Q3_K_M)
                    new_type = HK_TYPE_Q4_K;
                else if (ftype == HK_FTYPE_MOSTLY_Q3_K_L)
                    new_type = HK_TYPE_Q5_K;
            }
        } else if (ftype == HK_FTYPE_MOSTLY_Q3_K_L) {
            new_type = HK_TYPE_Q4_K;
        }
    } else if (contains(name, "attn_qkv.weight")) {
        if (ftype == HK_FTYPE_MOSTLY_Q3_K_M || ftype == HK_FTYPE_MOSTLY_Q3_K_L)
            new_type = HK_TYPE_Q4_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q4_K_M)
            new_type = HK_TYPE_Q5_K;
        else if (ftype == HK_FTYPE_MOSTLY_Q5_K_M)
            new_type = HK_TYPE_Q6_K;
    } else if (contains(name, "ffn_gate")) {
        /* layer_of is still called: in MoE models a bad name is an error there too */
        if (layer_of(qs, qs->i_ffn_gate, name, err) < 0)
            return HK_TYPE_COUNT;
        qs->i_ffn_gate++;
    } else if (contains(name, "ffn_up")) {
        if (layer_of(qs, qs->i_ffn_up, name, err) < 0)
            return HK_TYPE_COUNT;
        qs->i_ffn_up++;
    }

    /* Rows must hold whole blocks; K-quants fall back to 32-element types. */
    if (nx % hk_type_traits_of(new_type)->block_size != 0) {
        hk_type fb;
        switch (new_type) {
        case HK_TYPE_Q4_K: fb = HK_TYPE_Q5_0; break;
        case HK_TYPE_Q5_K: fb = HK_TYPE_Q5_1; break;
        case HK_TYPE_Q6_K: fb = HK_TYPE_Q8_0; break;
        case HK_TYPE_Q2_K:
        case HK_TYPE_Q3_K:
            return hk_fail(err,
                           "tensor '%s': rows of %lld do not fit %s blocks and llama.cpp's fallback, IQ4_NL, "
                           "is a type hark cannot write",
                           name, (long long)nx, hk_type_name(new_type)),
                   HK_TYPE_COUNT;
        default:
            return hk_fail(err, "tensor '%s': rows of %lld elements cannot be stored as %s", name, (long long)nx,
                           hk_type_name(new_type)),
                   HK_TYPE_COUNT;
        }
        if (nx % hk_type_traits_of(fb)->block_size != 0)
            fb = HK_TYPE_F16;
        new_type = fb;
    }
    return new_type;
}

/* ---------------------------------------------------------------- the plan */

typedef struct plan_tensor {
    const hk_gguf_tensor *src;
    char *name;      /* NUL-terminated copy */
    int layer;       /* N of "blk.N.", -1 for the others */
    hk_type type;    /* type written */
    bool convert;    /* false: bytes copied unchanged */
} plan_tensor;

/* llama.cpp's weight_name_comparer: layer number first (non-layer tensors
 * count as -1, so they come first), then the name byte by byte. */
static int cmp_plan(const void *a, const void *b)
{
    const plan_tensor *x = a, *y = b;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* ggml_n_dims: trailing dimensions of size 1 do not count. */
static int n_dims_of(const hk_gguf_tensor *t)
{
    for (int i = 3; i >= 1; i--)
        if (t->ne[i] > 1)
            return i + 1;
    return 1;
}

/* The tensors llama-quantize leaves alone whatever the ftype. */
static bool may_quantize(const plan_tensor *p)
{
    const char *name = p->name;
    const size_t len = strlen(name);
    /* the original tests rfind("weight") == size() - 6, which a 5-character
     * name without "weight" also passes (npos == size_t(-1)) */
    bool q = len >= 6 ? strcmp(name + len - 6, "weight") == 0 : len == 5;
    q = q && n_dims_of(p->src) >= 2;
    q = q && !contains(name, "_norm.weight");
    q = q && !contains(name, "ffn_gate_inp.weight");
    q = q && strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
    static const char *const never[] = {
        "ssm_conv1d.weight",      "time_mix_first.weight",    "time_mix_w1.weight",       "time_mix_w2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    };
    for (size_t i = 0; q && i < sizeof never / sizeof never[0]; i++)
        q = !contains(name, never[i]);
    return q;
}

static int kv_u32(const hk_gguf *g, const char *arch, const char *suffix, uint32_t *out)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const hk_gguf_kv *kv = hk_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type == HK_GGUF_ARRAY) {
        /* per-layer counts (some architectures): llama.cpp's n_gqa() reads layer 0 */
        if (kv->arr_n == 0)
            return 0;
        int64_t v = hk_gguf_arr_int(kv, 0);
        if (v < 0 || v > UINT32_MAX)
            return 0;
        *out = (uint32_t)v;
        return 1;
    }
    return hk_gguf_get_u32(g, key, out) ? 1 : 0;
}

/* The model facts llama_tensor_get_type looks at, from hyper-parameters. */
static void qstate_init(qstate *qs, const char *arch, uint32_t n_layer, uint32_t n_head, uint32_t n_head_kv,
                        uint32_t n_expert)
{
    memset(qs, 0, sizeof *qs);
    qs->falcon = strcmp(arch, "falcon") == 0;
    qs->n_layer = (int)n_layer;
    qs->n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 0;
    qs->n_expert = (int)n_expert;
    /* llama.cpp's model-size class, only where it changes the choice: 80
     * layers is "70B" for llama (with grouped-query attention, else 65B) and
     * for qwen2 */
    qs->is_70b = n_layer == 80 && ((strcmp(arch, "llama") == 0 && n_expert != 8 && n_head != n_head_kv) ||
                                   strcmp(arch, "qwen2") == 0);
}

static int read_hparams(const hk_gguf *g, qstate *qs, hk_error *err)
{
    hk_str arch_s;
    if (!hk_gguf_get_str(g, "general.architecture", &arch_s))
        return hk_fail(err, "%s: no general.architecture key", g->path);
    char arch[128];
    snprintf(arch, sizeof arch, "%.*s", (int)(arch_s.len < 127 ? arch_s.len : 127), arch_s.ptr);

    uint32_t n_layer = 0, n_head = 0, n_head_kv = 0, n_expert = 0;
    if (!kv_u32(g, arch, "block_count", &n_layer))
        return hk_fail(err, "%s: no %s.block_count key", g->path, arch);
    kv_u32(g, arch, "attention.head_count", &n_head);
    if (!kv_u32(g, arch, "attention.head_count_kv", &n_head_kv))
        n_head_kv = n_head;
    kv_u32(g, arch, "expert_count", &n_expert);
    if (n_layer > 100000 || n_expert > 100000)
        return hk_fail(err, "%s: implausible block_count %u / expert_count %u", g->path, n_layer, n_expert);
    qstate_init(qs, arch, n_layer, n_head, n_head_kv, n_expert);
    return 0;
}

/* Puts the plan in llama-quantize's tensor order and gives every tensor its
 * type: the counts llama_tensor_get_type needs first, then the choice tensor
 * by tensor in that order (its per-layer counters depend on it).  Sets
 * p->type; p->convert says whether it differs from the source type.  path
 * prefixes error messages. */
static int choose_types(qstate *qs, plan_tensor *plan, size_t n_plan, int ftype, const char *path, hk_error *err)
{
    const hk_type base = hk_ftype_base_type(ftype);
    for (size_t i = 0; i < n_plan; i++) {
        const char *name = plan[i].name;
        plan[i].layer = -1;
        sscanf(name, "blk.%d.", &plan[i].layer);
        if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight"))
            qs->n_attention_wv++;
        else if (strcmp(name, "output.weight") == 0)
            qs->has_output = true;
    }
    qsort(plan, n_plan, sizeof *plan, cmp_plan);
    for (size_t i = 0; i < n_plan; i++) {
        plan_tensor *p = &plan[i];
        const hk_type src_type = (hk_type)p->src->type;
        hk_type new_type = src_type;
        if (may_quantize(p)) {
            new_type = base;
            if (is_quantized(base)) {
                new_type = tensor_get_type(qs, base, p->name, p->src->ne[0], ftype, err);
                if (new_type == HK_TYPE_COUNT) {
                    char msg[sizeof err->msg];
                    snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
                    return hk_fail(err, "%s: %s", path, msg);
                }
            }
        }
        p->type = new_type;
        p->convert = new_type != src_type;
    }
    return 0;
}

/* ---------------------------------------------------------------- conversion */

typedef struct job {
    const plan_tensor *plan;
    size_t n_plan;
    int n_threads;
} job;

typedef struct convert_task {
    const plan_tensor *p;
    void *dst;
    int64_t row0, row1;  /* rows [row0, row1) */
    int64_t bad_row;     /* first row that failed validation, -1 if none, -2 out of memory */
} convert_task;

static bool half_ok(hk_half h)
{
    return (h & 0x7c00) != 0x7c00;
}

/* ggml_validate_row_data: llama-quantize refuses to write a NaN or infinite
 * value or block scale. */
static bool row_is_valid(hk_type t, const void *row, int64_t n)
{
    const size_t nb = (size_t)(n / hk_type_traits_of(t)->block_size);
    switch (t) {
    case HK_TYPE_F32: {
        const float *f = row;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(f[i]))
                return false;
        return true;
    }
    case HK_TYPE_F16: {
        const hk_half *h = row;
        for (int64_t i = 0; i < n; i++)
            if (!half_ok(h[i]))
                return false;
        return true;
    }
    case HK_TYPE_BF16: {
        const uint16_t *h = row;
        for (int64_t i = 0; i < n; i++)
            if ((h[i] & 0x7f80) == 0x7f80)
                return false;
        return true;
    }
#define CHECK_D(T, cond)                   \
    do {                                   \
        const T *b = row;                  \
        for (size_t i = 0; i < nb; i++)    \
            if (!(cond))                   \
                return false;              \
        return true;                       \
    } while (0)
    case HK_TYPE_Q4_0: CHECK_D(hk_block_q4_0, half_ok(b[i].d));
    case HK_TYPE_Q4_1: CHECK_D(hk_block_q4_1, half_ok(b[i].d) && half_ok(b[i].m));
    case HK_TYPE_Q5_0: CHECK_D(hk_block_q5_0, half_ok(b[i].d));
    case HK_TYPE_Q5_1: CHECK_D(hk_block_q5_1, half_ok(b[i].d) && half_ok(b[i].m));
    case HK_TYPE_Q8_0: CHECK_D(hk_block_q8_0, half_ok(b[i].d));
    case HK_TYPE_Q2_K: CHECK_D(hk_block_q2_K, half_ok(b[i].d) && half_ok(b[i].dmin));
    case HK_TYPE_Q3_K: CHECK_D(hk_block_q3_K, half_ok(b[i].d));
    case HK_TYPE_Q4_K: CHECK_D(hk_block_q4_K, half_ok(b[i].d) && half_ok(b[i].dmin));
    case HK_TYPE_Q5_K: CHECK_D(hk_block_q5_K, half_ok(b[i].d) && half_ok(b[i].dmin));
    case HK_TYPE_Q6_K: CHECK_D(hk_block_q6_K, half_ok(b[i].d));
#undef CHECK_D
    default:
        return true;
    }
}

static void *convert_rows(void *arg)
{
    convert_task *t = arg;
    const plan_tensor *p = t->p;
    const hk_gguf_tensor *s = p->src;
    const int64_t n = s->ne[0];
    const size_t in_row = hk_row_size((hk_type)s->type, n);
    const size_t out_row = hk_row_size(p->type, n);
    /* F16/BF16 sources go through one float row; F32 rows are used in place */
    float *tmp = s->type == HK_TYPE_F32 ? NULL : malloc((size_t)n * sizeof(float));
    t->bad_row = -1;
    if (s->type != HK_TYPE_F32 && !tmp) {
        t->bad_row = -2;
        return NULL;
    }
    for (int64_t r = t->row0; r < t->row1; r++) {
        const void *in = (const uint8_t *)s->data + (size_t)r * in_row;
        void *out = (uint8_t *)t->dst + (size_t)r * out_row;
        const float *x = in;
        if (tmp) {
            hk_dequantize_row((hk_type)s->type, in, tmp, n);
            x = tmp;
        }
        hk_quantize_row_ref(p->type, x, out, n);
        if (t->bad_row == -1 && !row_is_valid(p->type, out, n))
            t->bad_row = r;
    }
    free(tmp);
    return NULL;
}

static int produce(void *user, uint64_t idx, void *dst, size_t nbytes, hk_error *err)
{
    const job *jb = user;
    if (idx >= jb->n_plan)
        return hk_fail(err, "internal error: tensor index %llu out of range", (unsigned long long)idx);
    const plan_tensor *p = &jb->plan[idx];
    const hk_gguf_tensor *s = p->src;
    const int64_t n = s->ne[0];
    const int64_t rows = s->ne[1] * s->ne[2] * s->ne[3];
    if (hk_row_size(p->type, n) * (size_t)rows != nbytes)
        return hk_fail(err, "internal error: tensor '%s' size mismatch", p->name);
    if (!p->convert) {
        memcpy(dst, s->data, nbytes);
        return 0;
    }
    int nt = jb->n_threads;
    if (nt > rows)
        nt = (int)rows;
    if (nt < 1)
        nt = 1;
    convert_task tasks[64];
    pthread_t tids[64];
    bool started[64] = {false};
    for (int i = 0; i < nt; i++) {
        tasks[i] = (convert_task){p, dst, rows * i / nt, rows * (i + 1) / nt, -1};
        /* the calling thread takes the last share; if a thread cannot be
         * started its rows are done here too */
        if (i < nt - 1)
            started[i] = pthread_create(&tids[i], NULL, convert_rows, &tasks[i]) == 0;
    }
    for (int i = 0; i < nt; i++)
        if (!started[i])
            convert_rows(&tasks[i]);
    for (int i = 0; i < nt; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
    for (int i = 0; i < nt; i++) {
        if (tasks[i].bad_row == -2)
            return hk_fail(err, "out of memory converting tensor '%s'", p->name);
        if (tasks[i].bad_row >= 0)
            return hk_fail(err, "tensor '%s': row %lld has a NaN or infinite value after conversion to %s", p->name,
                           (long long)tasks[i].bad_row, hk_type_name(p->type));
    }
    return 0;
}

/* ---------------------------------------------------------------- the file */

static void free_plan(plan_tensor *plan, size_t n)
{
    if (!plan)
        return;
    for (size_t i = 0; i < n; i++)
        free(plan[i].name);
    free(plan);
}

/* Keys llama-quantize drops from the copy (it writes one file, never splits)
 * or re-adds at the end. */
static bool skip_key(hk_str key)
{
    return hk_str_eq(key, "general.quantization_version") || hk_str_eq(key, "general.file_type") ||
           hk_str_eq(key, "split.no") || hk_str_eq(key, "split.count") || hk_str_eq(key, "split.tensors.count");
}

int hk_quantize_file(const char *in_path, const char *out_path, const char *ftype_name, int n_threads, hk_error *err)
{
    const int ftype = hk_ftype_from_name(ftype_name);
    if (ftype < 0)
        return hk_fail(err, "unknown quantization type '%s' (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, "
                            "Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K)",
                       ftype_name);
    if (n_threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = ncpu > 0 ? (int)ncpu : 1;
    }
    if (n_threads > 64)
        n_threads = 64;

    hk_gguf *g = hk_gguf_open(in_path, err);
    if (!g)
        return -1;
    int rc = -1;
    plan_tensor *plan = NULL;
    size_t n_plan = 0;
    hk_gguf_writer *w = NULL;

    qstate qs;
    if (read_hparams(g, &qs, err))
        goto done;

    plan = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *plan);
    if (!plan) {
        hk_fail(err, "%s: out of memory", in_path);
        goto done;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const hk_gguf_tensor *t = &g->tensors[i];
        plan_tensor *p = &plan[n_plan];
        p->src = t;
        p->name = malloc(t->name.len + 1);
        if (!p->name) {
            hk_fail(err, "%s: out of memory", in_path);
            goto done;
        }
        memcpy(p->name, t->name.ptr, t->name.len);
        p->name[t->name.len] = 0;
        n_plan++;
        if (strlen(p->name) != t->name.len) {
            hk_fail(err, "%s: tensor name with a NUL byte", in_path);
            goto done;
        }
    }
    if (choose_types(&qs, plan, n_plan, ftype, in_path, err))
        goto done;
    for (size_t i = 0; i < n_plan; i++) {
        const plan_tensor *p = &plan[i];
        const hk_type src_type = (hk_type)p->src->type, new_type = p->type;
        if (!p->convert)
            continue;
        if (is_quantized(src_type)) {
            /* llama-quantize refuses too unless told --allow-requantize:
             * quantizing twice loses more than quantizing once */
            hk_fail(err, "%s: tensor '%s' is %s; requantizing is not supported, start from F32, F16 or BF16",
                    in_path, p->name, hk_type_name(src_type));
            goto done;
        }
        if (!hk_can_quantize(new_type) || hk_row_size(new_type, p->src->ne[0]) == 0) {
            hk_fail(err, "%s: tensor '%s' cannot be written as %s", in_path, p->name, hk_type_name(new_type));
            goto done;
        }
    }

    w = hk_gguf_writer_new();
    if (!w) {
        hk_fail(err, "%s: out of memory", out_path);
        goto done;
    }
    hk_gguf_writer_set_alignment(w, g->alignment);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (skip_key(g->kv[i].key))
            continue;
        if (hk_gguf_writer_copy_kv(w, &g->kv[i])) {
            hk_fail(err, "%s: cannot copy key '%.*s'", out_path, (int)g->kv[i].key.len, g->kv[i].key.ptr);
            goto done;
        }
    }
    /* GGML_QNT_VERSION, then the ftype, both last as llama.cpp's gguf_set_val
     * removes a key and appends it */
    if (hk_gguf_writer_add_u32(w, "general.quantization_version", 2) ||
        hk_gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype)) {
        hk_fail(err, "%s: out of memory", out_path);
        goto done;
    }
    for (size_t i = 0; i < n_plan; i++) {
        const plan_tensor *p = &plan[i];
        /* gguf_write stores ggml_n_dims, dropping trailing dimensions of 1 */
        if (hk_gguf_writer_add_tensor(w, p->name, p->type, (uint32_t)n_dims_of(p->src), p->src->ne, NULL)) {
            hk_fail(err, "%s: cannot add tensor '%s'", out_path, p->name);
            goto done;
        }
    }
    job jb = {plan, n_plan, n_threads};
    rc = hk_gguf_writer_write(w, out_path, produce, &jb, err);

done:
    if (w)
        hk_gguf_writer_free(w);
    free_plan(plan, n_plan);
    hk_gguf_close(g);
    return rc;
}

int hk_quantize_choose_types(const char *arch, uint32_t n_layer, uint32_t n_head, uint32_t n_head_kv, int ftype,
                             hk_quant_tensor *t, size_t n, hk_error *err)
{
    if (!hk_ftype_name(ftype))
        return hk_fail(err, "unknown file type %d", ftype);
    qstate qs;
    qstate_init(&qs, arch, n_layer, n_head, n_head_kv, 0);
    /* the plan points at tensor infos; these carry only what the choice reads */
    hk_gguf_tensor *src = calloc(n ? n : 1, sizeof *src);
    plan_tensor *plan = calloc(n ? n : 1, sizeof *plan);
    hk_quant_tensor *sorted = malloc((n ? n : 1) * sizeof *sorted);
    int rc = -1;
    if (!src || !plan || !sorted) {
        hk_fail(err, "%s: out of memory", arch);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        src[i].n_dims = t[i].n_dims;
        memcpy(src[i].ne, t[i].ne, sizeof src[i].ne);
        src[i].type = t[i].src_type;
        plan[i].src = &src[i];
        plan[i].name = (char *)t[i].name; /* never written or freed here */
    }
    if (choose_types(&qs, plan, n, ftype, arch, err))
        goto done;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = t[plan[i].src - src];
        sorted[i].type = plan[i].type;
    }
    memcpy(t, sorted, n * sizeof *t);
    rc = 0;
done:
    free(sorted);
    free(plan);
    free(src);
    return rc;
}
