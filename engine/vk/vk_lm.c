/* The language model on a Vulkan device (vk_lm.h): hk_forward's operations
 * in hk_forward's order, as dispatches recorded into a command buffer.
 *
 * What lives where:
 *   device   weights (vk_matmul.c uploads them), norm vectors and biases as
 *            F32 buffers, the KV cache (K and V buffers per layer, [n_ctx][row];
 *            a layer whose K or V exceeds maxStorageBufferRange is split
 *            along the cells into parts of part_cells cells, one buffer
 *            each), work buffers of n_batch rows,
 *            ggml's GELU table, the logits of up to logit_rows rows;
 *   host     `ids` (the token ids get_rows reads), `step` (pos0, n_tok,
 *            n_kv and the cos/sin of each row's RoPE angles) and the logits
 *            read back.
 * Everything that changes from one step to the next is in ids and step, so
 * a command buffer recorded for (n tokens, out_rows) serves every later step
 * of that shape: the one-token step is recorded once per session.
 *
 * The RoPE angles' cos/sin come from the host (ggml's iterative float
 * angle, libm's cosf/sinf, hk_op_rope's exact expressions): Vulkan allows
 * sin/cos an absolute error of 2^-11 and GPUs reduce arguments in the
 * thousands of radians coarsely, which would break parity.  It is n_rot
 * floats per token, written with the token ids.
 *
 * Attention: one workgroup per (query row, head) over all cells
 * (attention.comp) where the cache is one part and the step is not split;
 * otherwise the split shader: each workgroup takes one chunk of one part's
 * cells and writes a partial online-softmax record (max, sum, output row),
 * and attention_merge.comp combines them.  One-token steps split each
 * part's cells into att_split chunks ("flash-decoding"), so that a GPU
 * gets n_head * att_split workgroups rather than n_head; batches have
 * n_head * rows workgroups already and split only by parts.
 *
 * Environment (tests): HARK_VK_KV_PART_BYTES=N caps a cache buffer at N
 * bytes (below maxStorageBufferRange) to force the parts on small models;
 * HARK_VK_ATTN_SPLIT=N (1..64) forces N chunks a part for one-token steps
 * (1: never split). */
#include "vk/vk_lm.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"
#include "vk/vk_matmul.h"

/* Workgroup sizes, given to the shaders as specialization constant 0.  The
 * row kernels use one workgroup per row; 128 keeps a 4096-wide row at 32
 * loads per invocation.  Attention: 64 keys per tile, >= 32 (the shader
 * holds up to 256 / 32 output dims per invocation). */
enum {
    WG_NORM = 128,
    WG_ROPE = 64,
    WG_ELT = 256,
    WG_KV = 64,
    WG_ATT = 64,
    WG_COPY = 256,
};
_Static_assert((WG_NORM & (WG_NORM - 1)) == 0 && (WG_ATT & (WG_ATT - 1)) == 0 && WG_ATT >= 32,
               "rms_norm and attention reduce by halving trees; attention keeps <= 8 dims an invocation");
enum { MAX_HEAD_DIM = 256 };      /* attention.comp's MAX_D */
enum { MAX_GROUPS = 65535 };      /* the smallest maxComputeWorkGroupCount[1] Vulkan allows */
enum { N_STEP_CMDS = 4 };         /* recorded step shapes kept (one-token, prompt chunks, ...) */
enum { MAX_ATT_SPLIT = 64 };      /* chunks a part for a one-token step, at most */
/* The auto split (GPUs only): Vulkan's core properties do not tell the
 * number of compute units, so it aims at ATT_TARGET_WG workgroups, enough to
 * fill a GPU of ~100 compute units twice; a chunk has at least WG_ATT cells
 * (attention.comp's MIN_CHUNK), so short contexts leave the later chunks
 * empty, which costs one record write each.  CPU drivers (lavapipe) run a
 * thread per core, which n_head workgroups already fill: no split. */
enum { ATT_TARGET_WG = 256 };
#define LOGITS_BUDGET (32.0 * 1024 * 1024) /* bytes of device logits: more rows go in chunks */

/* The step buffer's header; the cos/sin rows follow (n_rot floats a row). */
typedef struct step_hdr {
    int32_t pos0;  /* position of row 0 */
    int32_t n_tok; /* rows of this step */
    int32_t n_kv;  /* cache cells valid after it (pos0 + n_tok) */
    int32_t pad;
} step_hdr;

/* Push constants, laid out as the shaders declare them. */
typedef struct norm_push {
    uint32_t n, ldx, ldy, x_row0, y_row0;
    float eps;
} norm_push;
typedef struct rope_push {
    uint32_t n_head, head_dim, ld, row0, n_rot, cs_stride;
} rope_push;
typedef struct elt_push {
    uint32_t n, ldy, ldx, y_row0, x_row0;
    float s, s_inv;
} elt_push;
typedef struct kv_push {
    uint32_t row, ld, cell0, cells;
} kv_push;
typedef struct att_push {
    uint32_t n_head, n_head_kv, dk, dv, ldq, ldo, q_row0;
    int32_t window;
    float scale, softcap, cap_inv;
    uint32_t cell0, cells, n_split, chunk0, n_chunks; /* the split shader's */
} att_push;
typedef struct merge_push {
    uint32_t n_head, dv, ldo, n_chunks;
} merge_push;
typedef struct copy_push {
    uint32_t src, dst, n;
} copy_push;

typedef struct vk_layer {
    hk_vk_buf *attn_norm, *ffn_norm;            /* (n_embd) */
    hk_vk_buf *post_attn_norm, *post_ffw_norm;  /* gemma2, else NULL */
    hk_vk_buf *bq, *bk, *bv, *bo;               /* biases or NULL */
    hk_vk_weight *wq, *wk, *wv, *wo, *w_gate, *w_up, *w_down;
    struct kv_part *parts;                      /* g->n_parts */
    hk_vk_mm *mm_qkv, *mm_o, *mm_gu, *mm_down;
    hk_vk_node *attn_norm_n, *ffn_norm_n, *post_attn_norm_n, *post_ffw_norm_n;
} vk_layer;

/* Cells [cell0, cell0 + cells) of one layer's cache: a K and a V buffer
 * ([cells][k_row], [cells][v_row] in kv_type) and the nodes bound to them. */
typedef struct kv_part {
    hk_vk_buf *k, *v;
    int32_t cell0, cells;
    hk_vk_node *store_k, *store_v;
    hk_vk_node *attention;        /* the one-workgroup shader: one part only */
    hk_vk_node *split, *split_pv; /* the split shader (split_pv: F16's second pass), when used */
    hk_vk_node *move_k, *move_v, *rerope; /* the context shift */
} kv_part;

/* A recorded step and its shape. */
typedef struct step_cmd {
    hk_vk_cmd *cmd;
    int n, out_rows;   /* 0 = not recorded */
    uint64_t used;     /* clock of the last use (the least recent is re-recorded) */
} step_cmd;

struct hk_vk_lm {
    hk_vk *vk;
    const hk_model *m;
    hk_session_params p;
    bool f16;                    /* KV cache in F16 */
    size_t kv_elt;               /* bytes per cached value */
    int64_t k_row, v_row;        /* values per cell per layer */
    int32_t part_cells;          /* cells of a cache part (the last may have fewer) */
    int n_parts;                 /* parts of a layer's cache */
    int att_split;               /* chunks a part for one-token steps (1: not split) */
    /* floats between rows of the work buffers (multiples of 4, so that a
     * row's offset is a multiple of 16 bytes as hk_vk_rows wants) */
    uint32_t ld_e, ld_q, ld_k, ld_v, ld_o, ld_f;

    hk_vk_buf **bufs;            /* every buffer made here, to free and count */
    int n_bufs, cap_bufs;
    hk_vk_node **nodes;
    int n_nodes, cap_nodes;
    hk_vk_weight **weights;
    int n_weights, cap_weights;

    hk_vk_weight *tok_embd, *output;
    hk_vk_buf *output_norm, *output_bias, *gelu_table;
    hk_vk_buf *x, *xn, *q, *k, *v, *att, *tmp, *gate, *up, *logits; /* device */
    hk_vk_buf *ids, *step, *logits_host;                              /* host */
    hk_vk_buf *partials;         /* the split attention's records, or NULL */
    hk_vk_node *merge;           /* attention_merge over partials, or NULL */
    int logit_rows;              /* rows of logits / logits_host */
    vk_layer *layers;
    hk_vk_get_rows *embd;
    hk_vk_mm **mm_out;           /* the output matmul of logit-row chunk c (x at row c * logit_rows) */
    int n_mm_out;
    hk_vk_node *embd_scale, *rope_q, *rope_k, *scale_q, *add, *act, *out_norm, *softcap;

    step_cmd steps[N_STEP_CMDS];
    uint64_t clock;
    hk_vk_cmd *aux;              /* the context shift and logits chunks past the first */
    uint64_t weight_bytes, buf_bytes; /* device memory: weights, the other device buffers */
};

/* ------------------------------------------------------------ ownership */

static int grow(void **arr, int *cap, int n, size_t elt)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 32;
    void *a = realloc(*arr, (size_t)nc * elt);
    if (!a)
        return -1;
    *arr = a;
    *cap = nc;
    return 0;
}

static hk_vk_buf *buf_new(hk_vk_lm *g, uint64_t size, hk_vk_mem mem, const char *what, hk_error *err)
{
    if (grow((void **)&g->bufs, &g->cap_bufs, g->n_bufs, sizeof *g->bufs)) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    hk_vk_buf *b = hk_vk_buf_new(g->vk, size ? size : 4, mem, what, err);
    if (b) {
        g->bufs[g->n_bufs++] = b;
        if (mem == HK_VK_DEVICE)
            g->buf_bytes += hk_vk_buf_size(b);
    }
    return b;
}

/* A device buffer holding n floats of v (NULL v: NULL, no buffer). */
static int vec_new(hk_vk_lm *g, const float *v, int64_t n, const char *what, hk_vk_buf **out, hk_error *err)
{
    *out = NULL;
    if (!v)
        return 0;
    hk_vk_buf *b = buf_new(g, (uint64_t)n * sizeof(float), HK_VK_DEVICE, what, err);
    if (!b || hk_vk_upload(g->vk, b, 0, v, (uint64_t)n * sizeof(float), err))
        return -1;
    *out = b;
    return 0;
}

static int weight_new(hk_vk_lm *g, const hk_weight *w, const char *name, hk_vk_weight **out, hk_error *err)
{
    if (grow((void **)&g->weights, &g->cap_weights, g->n_weights, sizeof *g->weights))
        return hk_fail(err, "out of memory");
    *out = hk_vk_weight_upload(g->vk, w, name, err);
    if (!*out)
        return -1;
    g->weights[g->n_weights++] = *out;
    g->weight_bytes += hk_vk_weight_bytes(*out);
    return 0;
}

/* A node of shader `name` with buffers bufs[0..n) bound whole. */
static hk_vk_node *node_new(hk_vk_lm *g, const char *name, uint32_t wg, uint32_t push_size,
                            const hk_vk_buf *const *bufs, int n, hk_error *err)
{
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes)) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    hk_vk_pipeline *p = hk_vk_pipeline_get(g->vk, name, n, push_size, &wg, 1, err);
    if (!p)
        return NULL;
    hk_vk_binding b[8] = {{0}};
    for (int i = 0; i < n; i++)
        b[i].buf = bufs[i];
    hk_vk_node *nd = hk_vk_node_new(g->vk, p, b, n, err);
    if (nd)
        g->nodes[g->n_nodes++] = nd;
    return nd;
}

#define NODE(g, name, wg, push, err, ...)                                                                  \
    node_new((g), (name), (wg), sizeof(push), (const hk_vk_buf *const[]){__VA_ARGS__},                    \
             (int)(sizeof((const hk_vk_buf *const[]){__VA_ARGS__}) / sizeof(const hk_vk_buf *)), (err))

void hk_vk_lm_free(hk_vk_lm *g)
{
    if (!g)
        return;
    for (int i = 0; i < N_STEP_CMDS; i++)
        if (g->steps[i].cmd)
            hk_vk_cmd_free(g->vk, g->steps[i].cmd);
    if (g->aux)
        hk_vk_cmd_free(g->vk, g->aux);
    if (g->layers)
        for (int il = 0; il < g->m->n_layer; il++) {
            vk_layer *l = &g->layers[il];
            hk_vk_mm_free(g->vk, l->mm_qkv);
            hk_vk_mm_free(g->vk, l->mm_o);
            hk_vk_mm_free(g->vk, l->mm_gu);
            hk_vk_mm_free(g->vk, l->mm_down);
            free(l->parts);
        }
    for (int i = 0; i < g->n_mm_out; i++)
        hk_vk_mm_free(g->vk, g->mm_out[i]);
    hk_vk_get_rows_free(g->vk, g->embd);
    for (int i = 0; i < g->n_nodes; i++)
        hk_vk_node_free(g->vk, g->nodes[i]);
    for (int i = 0; i < g->n_weights; i++)
        hk_vk_weight_free(g->vk, g->weights[i]);
    for (int i = 0; i < g->n_bufs; i++)
        hk_vk_buf_free(g->vk, g->bufs[i]);
    free(g->mm_out);
    free(g->layers);
    free(g->bufs);
    free(g->nodes);
    free(g->weights);
    free(g);
}

/* ------------------------------------------------------------ building */

static uint32_t ld4(int64_t n) { return (uint32_t)((n + 3) / 4 * 4); }

/* What the shaders assume of the shapes; one line for a model they cannot run. */
static int check_shapes(const hk_model *m, const hk_session_params *p, hk_error *err)
{
    if (p->n_ctx <= 0 || p->n_batch <= 0 || p->n_batch > p->n_ctx || p->n_batch > MAX_GROUPS)
        return hk_fail(err, "vulkan: n_ctx %d / n_batch %d not resolved or out of range", p->n_ctx, p->n_batch);
    if (p->kv_type != HK_TYPE_F16 && p->kv_type != HK_TYPE_F32)
        return hk_fail(err, "vulkan: KV cache type %s is not supported (F16 or F32)", hk_type_name(p->kv_type));
    if (m->head_dim_k > MAX_HEAD_DIM || m->head_dim_v > MAX_HEAD_DIM || m->head_dim_k % 2 || m->head_dim_v % 2)
        return hk_fail(err, "%s: head dims %d/%d: the Vulkan attention takes even head dims up to %d", m->path,
                       m->head_dim_k, m->head_dim_v, MAX_HEAD_DIM);
    if (m->rope.n_rot % 4 || m->rope.n_rot > m->head_dim_k)
        return hk_fail(err, "%s: %d rotary dims: the Vulkan RoPE takes a multiple of 4 up to the head dim", m->path,
                       m->rope.n_rot);
    return 0;
}

static int upload_layer(hk_vk_lm *g, int il, hk_error *err)
{
    const hk_layer *ml = &g->m->layers[il];
    vk_layer *l = &g->layers[il];
    const int64_t E = g->m->n_embd;
    char name[96];
#define W(field, what)                                                                                      \
    (snprintf(name, sizeof name, "blk.%d." what, il), weight_new(g, &ml->field, name, &l->field, err))
#define V(field, n, what)                                                                                   \
    (snprintf(name, sizeof name, "blk.%d." what, il), vec_new(g, ml->field, (n), name, &l->field, err))
    if (W(wq, "attn_q.weight") || W(wk, "attn_k.weight") || W(wv, "attn_v.weight") || W(wo, "attn_output.weight") ||
        W(w_gate, "ffn_gate.weight") || W(w_up, "ffn_up.weight") || W(w_down, "ffn_down.weight"))
        return -1;
    if (V(attn_norm, E, "attn_norm.weight") || V(ffn_norm, E, "ffn_norm.weight") ||
        V(post_attn_norm, E, "post_attention_norm.weight") || V(post_ffw_norm, E, "post_ffw_norm.weight") ||
        V(bq, ml->wq.n_out, "attn_q.bias") || V(bk, ml->wk.n_out, "attn_k.bias") ||
        V(bv, ml->wv.n_out, "attn_v.bias") || V(bo, ml->wo.n_out, "attn_output.bias"))
        return -1;
#undef W
#undef V
    if (!(l->parts = calloc((size_t)g->n_parts, sizeof *l->parts)))
        return hk_fail(err, "out of memory");
    for (int i = 0; i < g->n_parts; i++) {
        kv_part *pt = &l->parts[i];
        pt->cell0 = i * g->part_cells;
        pt->cells = g->p.n_ctx - pt->cell0 < g->part_cells ? g->p.n_ctx - pt->cell0 : g->part_cells;
        const uint64_t kb = (uint64_t)pt->cells * (uint64_t)g->k_row * g->kv_elt;
        const uint64_t vb = (uint64_t)pt->cells * (uint64_t)g->v_row * g->kv_elt;
        for (int kv = 0; kv < 2; kv++) {
            if (g->n_parts > 1)
                snprintf(name, sizeof name, "KV cache %c of layer %d, cells %d..%d", "KV"[kv], il, pt->cell0,
                         pt->cell0 + pt->cells - 1);
            else
                snprintf(name, sizeof name, "KV cache %c of layer %d", "KV"[kv], il);
            hk_vk_buf **b = kv ? &pt->v : &pt->k;
            if (!(*b = buf_new(g, kv ? vb : kb, HK_VK_DEVICE, name, err)))
                return -1;
        }
    }
    return 0;
}

static int layer_products(hk_vk_lm *g, int il, hk_error *err)
{
    vk_layer *l = &g->layers[il];
    const int B = g->p.n_batch;
    const hk_matmul_mode mode = g->p.matmul;
    const hk_vk_mm_out qkv[3] = {
        {l->wq, {g->q, 0, g->ld_q}, l->bq},
        {l->wk, {g->k, 0, g->ld_k}, l->bk},
        {l->wv, {g->v, 0, g->ld_v}, l->bv},
    };
    const hk_vk_mm_out o = {l->wo, {g->tmp, 0, g->ld_e}, l->bo};
    const hk_vk_mm_out gu[2] = {
        {l->w_gate, {g->gate, 0, g->ld_f}, NULL},
        {l->w_up, {g->up, 0, g->ld_f}, NULL},
    };
    const hk_vk_mm_out down = {l->w_down, {g->tmp, 0, g->ld_e}, NULL};
    l->mm_qkv = hk_vk_mm_new(g->vk, mode, (hk_vk_rows){g->xn, 0, g->ld_e}, B, qkv, 3, err);
    l->mm_o = l->mm_qkv ? hk_vk_mm_new(g->vk, mode, (hk_vk_rows){g->att, 0, g->ld_o}, B, &o, 1, err) : NULL;
    l->mm_gu = l->mm_o ? hk_vk_mm_new(g->vk, mode, (hk_vk_rows){g->xn, 0, g->ld_e}, B, gu, 2, err) : NULL;
    l->mm_down = l->mm_gu ? hk_vk_mm_new(g->vk, mode, (hk_vk_rows){g->gate, 0, g->ld_f}, B, &down, 1, err) : NULL;
    return l->mm_down ? 0 : -1;
}

static int layer_nodes(hk_vk_lm *g, int il, hk_error *err)
{
    vk_layer *l = &g->layers[il];
    const char *kv = g->f16 ? "kv_store_f16" : "kv_store_f32";
    const char *rope = g->m->rope.neox ? (g->f16 ? "rope_neox_f16" : "rope_neox")
                                       : (g->f16 ? "rope_norm_f16" : "rope_norm");
    l->attn_norm_n = NODE(g, "rms_norm", WG_NORM, norm_push, err, g->x, l->attn_norm, g->xn);
    l->ffn_norm_n = l->attn_norm_n ? NODE(g, "rms_norm", WG_NORM, norm_push, err, g->x, l->ffn_norm, g->xn) : NULL;
    if (!l->ffn_norm_n)
        return -1;
    if (l->post_attn_norm &&
        !(l->post_attn_norm_n = NODE(g, "rms_norm", WG_NORM, norm_push, err, g->tmp, l->post_attn_norm, g->tmp)))
        return -1;
    if (l->post_ffw_norm &&
        !(l->post_ffw_norm_n = NODE(g, "rms_norm", WG_NORM, norm_push, err, g->tmp, l->post_ffw_norm, g->tmp)))
        return -1;
    for (int i = 0; i < g->n_parts; i++) {
        kv_part *pt = &l->parts[i];
        if (!(pt->store_k = NODE(g, kv, WG_KV, kv_push, err, g->k, pt->k, g->step)) ||
            !(pt->store_v = NODE(g, kv, WG_KV, kv_push, err, g->v, pt->v, g->step)) ||
            !(pt->move_k = NODE(g, "copy_words", WG_COPY, copy_push, err, pt->k)) ||
            !(pt->move_v = NODE(g, "copy_words", WG_COPY, copy_push, err, pt->v)) ||
            !(pt->rerope = NODE(g, rope, WG_ROPE, rope_push, err, pt->k, g->step)))
            return -1;
        if (g->n_parts == 1 && !(pt->attention = NODE(g, g->f16 ? "attention_f16" : "attention_f32", WG_ATT,
                                                      att_push, err, g->q, pt->k, pt->v, g->att, g->step)))
            return -1;
        if (g->partials &&
            !(pt->split = NODE(g, g->f16 ? "attention_split_f16" : "attention_split_f32", WG_ATT, att_push, err,
                               g->q, pt->k, pt->v, g->partials, g->step)))
            return -1;
        if (g->partials && g->f16 &&
            !(pt->split_pv = NODE(g, "attention_split_pv_f16", WG_ATT, att_push, err, g->q, pt->k, pt->v,
                                  g->partials, g->step)))
            return -1;
    }
    return 0;
}

/* Bytes of a cache buffer at most: maxStorageBufferRange, or less under the
 * test hook HARK_VK_KV_PART_BYTES. */
static uint64_t kv_part_limit(const hk_vk *vk) { return hk_vk_range_limit(vk, "HARK_VK_KV_PART_BYTES"); }

/* The cache's parts and the one-token split (this file's header), and the
 * buffer of the split attention's partial records when either is used. */
static int kv_layout(hk_vk_lm *g, hk_error *err)
{
    const hk_model *m = g->m;
    const uint64_t cell = (uint64_t)(g->k_row > g->v_row ? g->k_row : g->v_row) * g->kv_elt;
    const uint64_t fit = kv_part_limit(g->vk) / cell;
    if (fit < 1)
        return hk_fail(err, "vulkan: one KV cache cell of %" PRIu64 " bytes exceeds maxStorageBufferRange", cell);
    g->part_cells = fit < (uint64_t)g->p.n_ctx ? (int32_t)fit : g->p.n_ctx;
    g->n_parts = (g->p.n_ctx + g->part_cells - 1) / g->part_cells;
    int split = 1;
    const char *env = getenv("HARK_VK_ATTN_SPLIT");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end != '\0' || v < 1 || v > MAX_ATT_SPLIT)
            return hk_fail(err, "vulkan: HARK_VK_ATTN_SPLIT=%s is not a number from 1 to %d", env, MAX_ATT_SPLIT);
        split = (int)v;
    } else if (hk_vk_info(g->vk)->type != HK_VK_CPU) {
        const int want = (ATT_TARGET_WG + m->n_head * g->n_parts - 1) / (m->n_head * g->n_parts);
        const int most = (g->part_cells + WG_ATT - 1) / WG_ATT; /* chunks of >= WG_ATT cells */
        split = want < most ? want : most;
        split = split < 1 ? 1 : split > MAX_ATT_SPLIT ? MAX_ATT_SPLIT : split;
    }
    g->att_split = split;
    if (g->n_parts == 1 && split == 1)
        return 0; /* the one-workgroup shader only */
    /* records of the rows of a batch (n_parts each: several parts only) or
     * of a one-token step (n_parts * split) */
    const int batch = g->n_parts > 1 ? g->p.n_batch * g->n_parts : 0, one = g->n_parts * split;
    const uint64_t rec = (uint64_t)(m->head_dim_v + 2) * sizeof(float) * (uint64_t)m->n_head;
    const uint64_t bytes = rec * (uint64_t)(batch > one ? batch : one);
    if (bytes > hk_vk_info(g->vk)->max_storage_range)
        return hk_fail(err, "vulkan: the split attention's %.1f MiB of partial results exceed maxStorageBufferRange "
                            "(%.1f MiB; a smaller batch fits)",
                       (double)bytes / (1024.0 * 1024.0),
                       (double)hk_vk_info(g->vk)->max_storage_range / (1024.0 * 1024.0));
    g->partials = buf_new(g, bytes, HK_VK_DEVICE, "attention partial results", err);
    return g->partials ? 0 : -1;
}

static int work_buffers(hk_vk_lm *g, hk_error *err)
{
    const hk_model *m = g->m;
    const uint64_t B = (uint64_t)g->p.n_batch, F4 = sizeof(float);
    g->ld_e = ld4(m->n_embd);
    g->ld_q = ld4((int64_t)m->n_head * m->head_dim_k);
    g->ld_k = ld4(g->k_row);
    g->ld_v = ld4(g->v_row);
    g->ld_o = ld4((int64_t)m->n_head * m->head_dim_v);
    g->ld_f = ld4(m->n_ff);
    const uint64_t row_bytes = (uint64_t)m->n_vocab * F4;
    double fit = LOGITS_BUDGET;
    if ((double)hk_vk_info(g->vk)->max_storage_range < fit)
        fit = (double)hk_vk_info(g->vk)->max_storage_range;
    int64_t lr = (int64_t)(fit / (double)row_bytes);
    /* test hook: fewer rows, so that a test reaches the chunked readback */
    const char *cap = getenv("HARK_VK_LOGITS_ROWS");
    if (cap && atoi(cap) > 0 && atoi(cap) < lr)
        lr = atoi(cap);
    g->logit_rows = (int)(lr < 1 ? 1 : lr > (int64_t)B ? (int64_t)B : lr);
    const uint64_t need_step = sizeof(step_hdr) + B * (uint64_t)(m->rope.n_rot > 0 ? m->rope.n_rot : 1) * F4;
    if (!(g->x = buf_new(g, B * g->ld_e * F4, HK_VK_DEVICE, "residual rows", err)) ||
        !(g->xn = buf_new(g, B * g->ld_e * F4, HK_VK_DEVICE, "normed rows", err)) ||
        !(g->tmp = buf_new(g, B * g->ld_e * F4, HK_VK_DEVICE, "sub-block output rows", err)) ||
        !(g->q = buf_new(g, B * g->ld_q * F4, HK_VK_DEVICE, "Q rows", err)) ||
        !(g->k = buf_new(g, B * g->ld_k * F4, HK_VK_DEVICE, "K rows", err)) ||
        !(g->v = buf_new(g, B * g->ld_v * F4, HK_VK_DEVICE, "V rows", err)) ||
        !(g->att = buf_new(g, B * g->ld_o * F4, HK_VK_DEVICE, "attention rows", err)) ||
        !(g->gate = buf_new(g, B * g->ld_f * F4, HK_VK_DEVICE, "FFN gate rows", err)) ||
        !(g->up = buf_new(g, B * g->ld_f * F4, HK_VK_DEVICE, "FFN up rows", err)) ||
        !(g->logits = buf_new(g, (uint64_t)g->logit_rows * row_bytes, HK_VK_DEVICE, "logits", err)) ||
        !(g->logits_host = buf_new(g, (uint64_t)g->logit_rows * row_bytes, HK_VK_HOST, "logits readback", err)) ||
        !(g->ids = buf_new(g, B * sizeof(int32_t), HK_VK_HOST, "token ids", err)) ||
        !(g->step = buf_new(g, need_step, HK_VK_HOST, "step values", err)))
        return -1;
    return 0;
}

/* ggml's GELU table (hk_gelu_ggml of every F16 value), for gelu_mul. */
static int gelu_table(hk_vk_lm *g, hk_error *err)
{
    float *t = malloc(65536 * sizeof(float));
    if (!t)
        return hk_fail(err, "out of memory");
    for (uint32_t h = 0; h < 65536; h++)
        t[h] = hk_gelu_ggml(hk_f16_to_f32((uint16_t)h));
    int rc = vec_new(g, t, 65536, "GELU table", &g->gelu_table, err);
    free(t);
    return rc;
}

static int global_parts(hk_vk_lm *g, hk_error *err)
{
    const hk_model *m = g->m;
    if (weight_new(g, &m->tok_embd, "token_embd.weight", &g->tok_embd, err))
        return -1;
    const bool tied = m->output.data == m->tok_embd.data && m->output.type == m->tok_embd.type &&
                      m->output.n_out == m->tok_embd.n_out && m->output.n_in == m->tok_embd.n_in;
    if (tied)
        g->output = g->tok_embd;
    else if (weight_new(g, &m->output, "output.weight", &g->output, err))
        return -1;
    if (vec_new(g, m->output_norm, m->n_embd, "output_norm.weight", &g->output_norm, err) ||
        vec_new(g, m->output_bias, m->n_vocab, "output.bias", &g->output_bias, err))
        return -1;
    if (m->ffn_act == HK_FFN_GELU && gelu_table(g, err))
        return -1;
    return 0;
}

static int global_nodes(hk_vk_lm *g, hk_error *err)
{
    const hk_model *m = g->m;
    const char *rope = m->rope.neox ? "rope_neox" : "rope_norm";
    g->embd = hk_vk_get_rows_new(g->vk, g->tok_embd, g->ids, (hk_vk_rows){g->x, 0, g->ld_e}, err);
    if (!g->embd)
        return -1;
    if (!(g->embd_scale = NODE(g, "scale_rows", WG_ELT, elt_push, err, g->x)) ||
        !(g->rope_q = NODE(g, rope, WG_ROPE, rope_push, err, g->q, g->step)) ||
        !(g->rope_k = NODE(g, rope, WG_ROPE, rope_push, err, g->k, g->step)) ||
        !(g->scale_q = NODE(g, "scale_rows", WG_ELT, elt_push, err, g->q)) ||
        !(g->add = NODE(g, "add", WG_ELT, elt_push, err, g->x, g->tmp)) ||
        !(g->out_norm = NODE(g, "rms_norm", WG_NORM, norm_push, err, g->x, g->output_norm, g->xn)) ||
        !(g->softcap = NODE(g, "softcap", WG_ELT, elt_push, err, g->logits)))
        return -1;
    g->act = m->ffn_act == HK_FFN_GELU ? NODE(g, "gelu_mul", WG_ELT, elt_push, err, g->gate, g->up, g->gelu_table)
                                       : NODE(g, "silu_mul", WG_ELT, elt_push, err, g->gate, g->up);
    if (!g->act)
        return -1;
    if (g->partials && !(g->merge = NODE(g, g->f16 ? "attention_merge_f16" : "attention_merge_f32", WG_ATT,
                                         merge_push, err, g->partials, g->att)))
        return -1;
    /* the output matmul by chunks of logit_rows rows of xn */
    g->n_mm_out = (g->p.n_batch + g->logit_rows - 1) / g->logit_rows;
    g->mm_out = calloc((size_t)g->n_mm_out, sizeof *g->mm_out);
    if (!g->mm_out)
        return hk_fail(err, "out of memory");
    for (int c = 0; c < g->n_mm_out; c++) {
        const hk_vk_mm_out o = {g->output, {g->logits, 0, m->n_vocab}, g->output_bias};
        const hk_vk_rows x = {g->xn, (uint64_t)c * (uint64_t)g->logit_rows * g->ld_e * sizeof(float), g->ld_e};
        const int rows = g->p.n_batch - c * g->logit_rows < g->logit_rows ? g->p.n_batch - c * g->logit_rows
                                                                           : g->logit_rows;
        if (!(g->mm_out[c] = hk_vk_mm_new(g->vk, g->p.matmul, x, rows, &o, 1, err)))
            return -1;
    }
    return 0;
}

hk_vk_lm *hk_vk_lm_new(hk_vk *vk, const hk_model *m, const hk_session_params *p, hk_error *err)
{
    if (check_shapes(m, p, err))
        return NULL;
    hk_vk_lm *g = calloc(1, sizeof *g);
    if (!g) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    g->vk = vk;
    g->m = m;
    g->p = *p;
    g->f16 = p->kv_type == HK_TYPE_F16;
    g->kv_elt = g->f16 ? 2 : 4;
    g->k_row = (int64_t)m->n_head_kv * m->head_dim_k;
    g->v_row = (int64_t)m->n_head_kv * m->head_dim_v;
    g->layers = calloc((size_t)m->n_layer, sizeof *g->layers);
    if (!g->layers) {
        hk_fail(err, "out of memory");
        goto fail;
    }
    if (kv_layout(g, err) || work_buffers(g, err) || global_parts(g, err))
        goto fail;
    for (int il = 0; il < m->n_layer; il++)
        if (upload_layer(g, il, err) || layer_products(g, il, err) || layer_nodes(g, il, err))
            goto fail;
    if (global_nodes(g, err))
        goto fail;
    for (int i = 0; i < N_STEP_CMDS; i++)
        if (!(g->steps[i].cmd = hk_vk_cmd_new(vk, err)))
            goto fail;
    if (!(g->aux = hk_vk_cmd_new(vk, err)))
        goto fail;
    return g;
fail:
    hk_vk_lm_free(g);
    return NULL;
}

uint64_t hk_vk_lm_device_bytes(const hk_vk_lm *g) { return g->weight_bytes + g->buf_bytes; }

void hk_vk_lm_attention_layout(const hk_vk_lm *g, int *n_parts, int *part_cells, int *split)
{
    *n_parts = g->n_parts;
    *part_cells = g->part_cells;
    *split = g->att_split;
}

/* ------------------------------------------------------------ recording */

static uint32_t groups(uint64_t n, uint32_t wg) { return (uint32_t)((n + wg - 1) / wg); }

static void rms_norm(hk_vk_cmd *c, const hk_vk_lm *g, const hk_vk_node *n, int rows, int x_row0)
{
    const norm_push pc = {(uint32_t)g->m->n_embd, g->ld_e, g->ld_e, (uint32_t)x_row0, 0, g->m->norm_eps};
    hk_vk_cmd_dispatch(c, n, &pc, sizeof pc, (uint32_t)rows, 1, 1);
}

/* y rows y_row0.. op= x rows x_row0.. (or y *= s / softcap s), rows of n */
static void eltwise(hk_vk_cmd *c, const hk_vk_node *nd, int rows, int64_t n, uint32_t ldy, uint32_t ldx, int y_row0,
                    int x_row0, float s)
{
    const elt_push pc = {(uint32_t)n, ldy, ldx, (uint32_t)y_row0, (uint32_t)x_row0, s, s != 0 ? 1.0f / s : 0.0f};
    hk_vk_cmd_dispatch(c, nd, &pc, sizeof pc, groups((uint64_t)n, WG_ELT), (uint32_t)rows, 1);
}

static void rope(hk_vk_cmd *c, const hk_vk_lm *g, const hk_vk_node *n, int rows, int n_head, uint32_t ld)
{
    const int n_rot = g->m->rope.n_rot;
    const rope_push pc = {(uint32_t)n_head, (uint32_t)g->m->head_dim_k, ld, 0, (uint32_t)n_rot, (uint32_t)n_rot};
    if (n_rot > 0)
        hk_vk_cmd_dispatch(c, n, &pc, sizeof pc, groups((uint64_t)n_head * (uint64_t)n_rot / 4, WG_ROPE),
                           (uint32_t)rows, 1);
}

/* K (v false) or V rows 0..rows-1 into the cells pos0.. of layer il: a
 * dispatch per part, each storing the rows whose cells it holds. */
static void store_kv(hk_vk_cmd *c, const hk_vk_lm *g, int il, bool v, int rows)
{
    const int64_t row = v ? g->v_row : g->k_row;
    for (int i = 0; i < g->n_parts; i++) {
        const kv_part *pt = &g->layers[il].parts[i];
        const kv_push pc = {(uint32_t)row, v ? g->ld_v : g->ld_k, (uint32_t)pt->cell0, (uint32_t)pt->cells};
        hk_vk_cmd_dispatch(c, v ? pt->store_v : pt->store_k, &pc, sizeof pc,
                           groups((uint64_t)(g->f16 ? row / 2 : row), WG_KV), (uint32_t)rows, 1);
    }
}

static void attention(hk_vk_cmd *c, const hk_vk_lm *g, int il, int rows, int first)
{
    const hk_model *m = g->m;
    const att_push pc = {
        .n_head = (uint32_t)m->n_head,
        .n_head_kv = (uint32_t)m->n_head_kv,
        .dk = (uint32_t)m->head_dim_k,
        .dv = (uint32_t)m->head_dim_v,
        .ldq = g->ld_q,
        .ldo = g->ld_o,
        .q_row0 = (uint32_t)first,
        .window = m->layers[il].window,
        .scale = m->attn_scale,
        .softcap = m->attn_softcap,
        .cap_inv = m->attn_softcap > 0 ? 1.0f / m->attn_softcap : 0.0f,
    };
    const kv_part *parts = g->layers[il].parts;
    const uint32_t nq = (uint32_t)(rows - first);
    const int split = nq == 1 ? g->att_split : 1;
    if (g->n_parts == 1 && split == 1) {
        hk_vk_cmd_dispatch(c, parts[0].attention, &pc, sizeof pc, (uint32_t)m->n_head, nq, 1);
        return;
    }
    /* records per (row, head): split chunks of each part; then the merge */
    const uint32_t n_chunks = (uint32_t)(g->n_parts * split);
    for (int pass = 0; pass < (g->f16 ? 2 : 1); pass++) {
        for (int i = 0; i < g->n_parts; i++) {
            att_push pp = pc;
            pp.cell0 = (uint32_t)parts[i].cell0;
            pp.cells = (uint32_t)parts[i].cells;
            pp.n_split = (uint32_t)split;
            pp.chunk0 = (uint32_t)(i * split);
            pp.n_chunks = n_chunks;
            hk_vk_cmd_dispatch(c, pass ? parts[i].split_pv : parts[i].split, &pp, sizeof pp, (uint32_t)m->n_head, nq,
                               (uint32_t)split);
        }
        hk_vk_cmd_barrier(c); /* F16: the PV pass reads every chunk's (max, sum) */
    }
    const merge_push mp = {(uint32_t)m->n_head, (uint32_t)m->head_dim_v, g->ld_o, n_chunks};
    hk_vk_cmd_dispatch(c, g->merge, &mp, sizeof mp, (uint32_t)m->n_head, nq, 1);
}

/* The attention half of layer il up to its K/V stores. */
static void record_qkv(hk_vk_cmd *c, const hk_vk_lm *g, int il, int rows)
{
    const hk_model *m = g->m;
    const vk_layer *l = &g->layers[il];
    rms_norm(c, g, l->attn_norm_n, rows, 0);
    hk_vk_cmd_barrier(c);
    hk_vk_mm_record(c, l->mm_qkv, 0, rows);
    hk_vk_cmd_barrier(c);
    rope(c, g, g->rope_q, rows, m->n_head, g->ld_q);
    rope(c, g, g->rope_k, rows, m->n_head_kv, g->ld_k);
    hk_vk_cmd_barrier(c);
    if (m->q_scale != 1.0f)
        eltwise(c, g->scale_q, rows, (int64_t)m->n_head * m->head_dim_k, g->ld_q, 0, 0, 0, m->q_scale);
    store_kv(c, g, il, false, rows);
    store_kv(c, g, il, true, rows);
    hk_vk_cmd_barrier(c);
}

/* gemma2's norm of a sub-block's output (rows 0.. of tmp, in place), when
 * the layer has one. */
static void post_norm(hk_vk_cmd *c, const hk_vk_lm *g, const hk_vk_node *n, int rows)
{
    if (!n)
        return;
    const int64_t E = g->m->n_embd;
    const norm_push pc = {(uint32_t)E, g->ld_e, g->ld_e, 0, 0, g->m->norm_eps};
    hk_vk_cmd_dispatch(c, n, &pc, sizeof pc, (uint32_t)rows, 1, 1);
    hk_vk_cmd_barrier(c);
}

/* The rest of layer il on `rows` rows; the residual rows start at r0 of x
 * (the last layer keeps only its last row there), the others at row 0. */
static void record_block(hk_vk_cmd *c, const hk_vk_lm *g, int il, int rows, int r0)
{
    const hk_model *m = g->m;
    const vk_layer *l = &g->layers[il];
    const int64_t E = m->n_embd, F = m->n_ff;
    hk_vk_mm_record(c, l->mm_o, 0, rows);
    hk_vk_cmd_barrier(c);
    post_norm(c, g, l->post_attn_norm_n, rows);
    eltwise(c, g->add, rows, E, g->ld_e, g->ld_e, r0, 0, 0);
    hk_vk_cmd_barrier(c);
    rms_norm(c, g, l->ffn_norm_n, rows, r0);
    hk_vk_cmd_barrier(c);
    hk_vk_mm_record(c, l->mm_gu, 0, rows);
    hk_vk_cmd_barrier(c);
    eltwise(c, g->act, rows, F, g->ld_f, g->ld_f, 0, 0, 0);
    hk_vk_cmd_barrier(c);
    hk_vk_mm_record(c, l->mm_down, 0, rows);
    hk_vk_cmd_barrier(c);
    post_norm(c, g, l->post_ffw_norm_n, rows);
    eltwise(c, g->add, rows, E, g->ld_e, g->ld_e, r0, 0, 0);
    hk_vk_cmd_barrier(c);
}

/* Logits of xn rows [chunk * logit_rows, + rows) into logits_host rows 0.. */
static void record_logits(hk_vk_cmd *c, const hk_vk_lm *g, int chunk, int rows)
{
    const hk_model *m = g->m;
    hk_vk_mm_record(c, g->mm_out[chunk], 0, rows);
    hk_vk_cmd_barrier(c);
    if (m->final_softcap > 0) {
        eltwise(c, g->softcap, rows, m->n_vocab, (uint32_t)m->n_vocab, 0, 0, 0, m->final_softcap);
        hk_vk_cmd_barrier(c);
    }
    hk_vk_cmd_copy(c, g->logits, 0, g->logits_host, 0, (uint64_t)rows * (uint64_t)m->n_vocab * sizeof(float));
}

/* hk_forward's operations for n tokens; out_rows as there.  Only the first
 * chunk of logit_rows rows of logits is computed here. */
static void record_forward(hk_vk_cmd *c, const hk_vk_lm *g, int n, int out_rows)
{
    const hk_model *m = g->m;
    /* orders this step after what the queue ran before (a shift, the last
     * step): barriers reach back across submissions */
    hk_vk_cmd_barrier(c);
    hk_vk_get_rows_record(c, g->embd, n);
    hk_vk_cmd_barrier(c);
    if (m->embd_scale != 1.0f) {
        eltwise(c, g->embd_scale, n, m->n_embd, g->ld_e, 0, 0, 0, m->embd_scale);
        hk_vk_cmd_barrier(c);
    }
    int rows = n, r0 = 0;
    for (int il = 0; il < m->n_layer; il++) {
        record_qkv(c, g, il, rows);
        /* after the last layer's K/V only the rows that give logits matter */
        int first = 0;
        if (il == m->n_layer - 1 && out_rows < rows) {
            if (out_rows == 0)
                return;
            first = rows - 1;
        }
        attention(c, g, il, rows, first);
        hk_vk_cmd_barrier(c);
        r0 = first;
        rows -= first;
        record_block(c, g, il, rows, r0);
    }
    rms_norm(c, g, g->out_norm, rows, r0);
    hk_vk_cmd_barrier(c);
    record_logits(c, g, 0, rows < g->logit_rows ? rows : g->logit_rows);
}

/* The command buffer of a step of this shape: recorded before, or now in
 * the least recently used slot. */
static hk_vk_cmd *step_cmd_for(hk_vk_lm *g, int n, int out_rows, hk_error *err)
{
    step_cmd *best = &g->steps[0];
    for (int i = 0; i < N_STEP_CMDS; i++) {
        step_cmd *s = &g->steps[i];
        if (s->n == n && s->out_rows == out_rows) {
            s->used = ++g->clock;
            return s->cmd;
        }
        if (s->used < best->used)
            best = s;
    }
    best->n = 0;
    if (hk_vk_cmd_begin(best->cmd, err))
        return NULL;
    record_forward(best->cmd, g, n, out_rows);
    if (hk_vk_cmd_end(best->cmd, err))
        return NULL;
    best->n = n;
    best->out_rows = out_rows;
    best->used = ++g->clock;
    return best->cmd;
}

/* cos/sin of the rotary pairs at position pos, exactly as hk_op_rope
 * computes them (ggml_rope_cache_init: the angle advances by a float
 * multiply per pair). */
static void rope_row(const hk_rope_args *r, int32_t pos, float *cs)
{
    const int n_rot = r->n_rot;
    const float theta_scale = powf(r->freq_base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float ff = r->factors ? r->factors[i0 / 2] : 1.0f;
        const float th = r->freq_scale * (theta / ff);
        cs[i0] = cosf(th);
        cs[i0 + 1] = sinf(th);
        theta *= theta_scale;
    }
}

static void write_step(hk_vk_lm *g, const int32_t *tokens, int n, int32_t pos0)
{
    memcpy(hk_vk_buf_map(g->ids), tokens, sizeof(int32_t) * (size_t)n);
    step_hdr *h = hk_vk_buf_map(g->step);
    *h = (step_hdr){pos0, n, pos0 + n, 0};
    float *cs = (float *)(h + 1);
    for (int t = 0; t < n; t++)
        rope_row(&g->m->rope, pos0 + t, cs + (size_t)t * (size_t)g->m->rope.n_rot);
}

static int run(hk_vk_cmd *c, hk_error *err)
{
    int rc = hk_vk_cmd_submit(c, err);
    return rc ? rc : hk_vk_cmd_wait(c, err);
}

/* Logit rows [row0, row0 + rows) past the first chunk, one chunk a submission. */
static int later_logits(hk_vk_lm *g, int row0, int rows, float *logits, hk_error *err)
{
    const size_t nv = (size_t)g->m->n_vocab;
    for (int r = row0; r < row0 + rows; r += g->logit_rows) {
        const int len = row0 + rows - r < g->logit_rows ? row0 + rows - r : g->logit_rows;
        int rc = hk_vk_cmd_begin(g->aux, err);
        if (rc)
            return rc;
        hk_vk_cmd_barrier(g->aux);
        record_logits(g->aux, g, r / g->logit_rows, len);
        if ((rc = hk_vk_cmd_end(g->aux, err)) || (rc = run(g->aux, err)))
            return rc;
        memcpy(logits + (size_t)r * nv, hk_vk_buf_map(g->logits_host), sizeof(float) * (size_t)len * nv);
    }
    return 0;
}

int hk_vk_lm_forward(hk_vk_lm *g, const int32_t *tokens, int n, int32_t pos0, int out_rows, float *logits,
                     hk_error *err)
{
    const hk_model *m = g->m;
    if (n < 1 || n > g->p.n_batch || pos0 < 0 || pos0 > g->p.n_ctx - n)
        return hk_fail(err, "vulkan: %d tokens at position %d do not fit (batch %d, context %d)", n, pos0,
                       g->p.n_batch, g->p.n_ctx);
    if (out_rows != 0 && out_rows != 1 && out_rows != n)
        return hk_fail(err, "vulkan: %d logit rows of a %d-token step (0, 1 or all)", out_rows, n);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= m->n_vocab)
            return hk_fail(err, "%s: token id %d is outside the vocabulary (%d tokens)", m->path, tokens[t],
                           m->n_vocab);
    if (out_rows == 1 && n == 1)
        out_rows = n; /* the same step: one shape, one recording */
    hk_vk_cmd *c = step_cmd_for(g, n, out_rows, err);
    if (!c)
        return hk_vk_is_lost(g->vk) ? HK_VK_LOST : -1;
    write_step(g, tokens, n, pos0);
    int rc = run(c, err);
    if (rc || out_rows == 0)
        return rc;
    const int first = out_rows < g->logit_rows ? out_rows : g->logit_rows;
    memcpy(logits, hk_vk_buf_map(g->logits_host), sizeof(float) * (size_t)first * (size_t)m->n_vocab);
    return later_logits(g, first, out_rows - first, logits, err);
}

/* ------------------------------------------------------------ context shift */

/* Words [src, src+n) to [dst, dst+n) of the buffer of node nd (no overlap). */
static void move_words(hk_vk_cmd *c, const hk_vk_node *nd, uint64_t src, uint64_t dst, uint64_t n)
{
    const uint64_t per = (uint64_t)WG_COPY * MAX_GROUPS; /* one dispatch's x range */
    for (uint64_t off = 0; off < n; off += per) {
        const uint64_t len = n - off < per ? n - off : per;
        const copy_push pc = {(uint32_t)(src + off), (uint32_t)(dst + off), (uint32_t)len};
        hk_vk_cmd_dispatch(c, nd, &pc, sizeof pc, groups(len, WG_COPY), 1, 1);
    }
}

/* Cells [src, src+n) of layer il's cache to [dst, dst+n) (no overlap):
 * in pieces that stay inside one part at both ends, by the copy shader
 * within a part and by a transfer copy from one part's buffers to
 * another's. */
static void move_cells(hk_vk_cmd *c, const hk_vk_lm *g, int il, int32_t src, int32_t dst, int32_t n)
{
    const uint64_t kw = (uint64_t)g->k_row * g->kv_elt / 4, vw = (uint64_t)g->v_row * g->kv_elt / 4;
    const int32_t P = g->part_cells;
    const kv_part *parts = g->layers[il].parts;
    for (int32_t i = 0; i < n;) {
        const int32_t s = src + i, t = dst + i;
        int32_t len = n - i;
        if (P - s % P < len)
            len = P - s % P;
        if (P - t % P < len)
            len = P - t % P;
        const kv_part *ps = &parts[s / P], *pt = &parts[t / P];
        const uint64_t so = (uint64_t)(s % P), to = (uint64_t)(t % P);
        if (ps == pt) {
            move_words(c, pt->move_k, so * kw, to * kw, (uint64_t)len * kw);
            move_words(c, pt->move_v, so * vw, to * vw, (uint64_t)len * vw);
        } else {
            hk_vk_cmd_copy(c, ps->k, so * kw * 4, pt->k, to * kw * 4, (uint64_t)len * kw * 4);
            hk_vk_cmd_copy(c, ps->v, so * vw * 4, pt->v, to * vw * 4, (uint64_t)len * vw * 4);
        }
        i += len;
    }
}

static void record_shift(hk_vk_cmd *c, const hk_vk_lm *g, int32_t keep, int32_t d, int32_t pos)
{
    const hk_model *m = g->m;
    const int32_t cells = pos - keep - d;
    hk_vk_cmd_barrier(c);
    /* chunks of d cells: a chunk's source never overlaps its destination,
     * and the barrier orders it before the next chunk overwrites it */
    for (int32_t s = 0; s < cells; s += d) {
        const int32_t len = cells - s < d ? cells - s : d;
        for (int il = 0; il < m->n_layer; il++)
            move_cells(c, g, il, keep + d + s, keep + s, len);
        hk_vk_cmd_barrier(c);
    }
    const int n_rot = m->rope.n_rot;
    if (n_rot == 0)
        return;
    /* cells [keep, keep + cells) of each part */
    for (int i = 0; i < g->n_parts; i++) {
        const int32_t c0 = g->layers[0].parts[i].cell0, c1 = c0 + g->layers[0].parts[i].cells;
        const int32_t lo = keep > c0 ? keep : c0, hi = keep + cells < c1 ? keep + cells : c1;
        for (int32_t r = lo; r < hi; r += MAX_GROUPS) {
            const int32_t len = hi - r < MAX_GROUPS ? hi - r : MAX_GROUPS;
            /* cs_stride 0: every cell turns by the same -d */
            const rope_push pc = {(uint32_t)m->n_head_kv, (uint32_t)m->head_dim_k, (uint32_t)g->k_row,
                                  (uint32_t)(r - c0), (uint32_t)n_rot, 0};
            for (int il = 0; il < m->n_layer; il++)
                hk_vk_cmd_dispatch(c, g->layers[il].parts[i].rerope, &pc, sizeof pc,
                                   groups((uint64_t)m->n_head_kv * (uint64_t)n_rot / 4, WG_ROPE), (uint32_t)len, 1);
        }
    }
}

int hk_vk_lm_shift(hk_vk_lm *g, int32_t keep, int32_t d, int32_t pos, hk_error *err)
{
    if (keep < 0 || d <= 0 || pos > g->p.n_ctx || keep > pos - d)
        return hk_fail(err, "vulkan: context shift of %d cells after %d kept at position %d does not fit", d, keep,
                       pos);
    step_hdr *h = hk_vk_buf_map(g->step);
    *h = (step_hdr){0, 0, pos, 0};
    rope_row(&g->m->rope, -d, (float *)(h + 1));
    int rc = hk_vk_cmd_begin(g->aux, err);
    if (rc)
        return rc;
    record_shift(g->aux, g, keep, d, pos);
    if ((rc = hk_vk_cmd_end(g->aux, err)))
        return rc;
    return run(g->aux, err);
}
