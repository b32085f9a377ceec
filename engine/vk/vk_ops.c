/* Prepared encoder ops on a Vulkan device (vk_ops.h): shaders
 * layer_norm(_sg), softmax(_sg), gelu, binary_bcast, conv1d and patch_embed
 * in shaders/.
 *
 * Regions are bound from their offset rounded down to the device's
 * minStorageBufferOffsetAlignment, and the shader gets the rest as a first
 * index in its push constants: any float-aligned region can be used. */
#include "vk_ops.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"

/* How a dispatch covers the rows it is given. */
typedef enum geometry {
    GEOM_ROWS,  /* one workgroup per row (reductions over a row) */
    GEOM_ELEMS, /* one invocation per element, 256 per workgroup */
    GEOM_TILES, /* 64 x 64 output tiles (rows x channels) */
} geometry;

enum { WG = 256, TILE = 64, MAX_GROUPS = 65535, MAX_PUSH_WORDS = 16 };

struct hk_vk_op {
    hk_vk_node *node;
    hk_vk_buf *params[2]; /* uploaded by this op: gains, bias, kernel */
    uint32_t push[MAX_PUSH_WORDS]; /* word 0 is the row count, set per record */
    uint32_t push_size;
    geometry geom;
    uint32_t n;           /* row length (ELEMS) or output channels (TILES) */
    int max_rows;
};

/* ---- making ops ---- */

static bool use_subgroups(const hk_vk *vk)
{
    const char *env = getenv("HARK_VK_SUBGROUPS");
    if (env && strcmp(env, "0") == 0)
        return false;
    return hk_vk_enabled(vk)->subgroup_arith;
}

/* A binding of `bytes` bytes at byte `off` of buf; *first gets the float
 * index the shader adds. */
static int bind_region(const hk_vk *vk, const hk_vk_buf *buf, uint64_t off, uint64_t bytes, const char *what,
                       hk_vk_binding *b, uint32_t *first, hk_error *err)
{
    uint64_t align = hk_vk_min_offset_align(vk);
    if (align < 4)
        align = 4;
    if (!buf)
        return hk_fail(err, "vulkan: %s: no buffer", what);
    const uint64_t base = off / align * align, size = hk_vk_buf_size(buf);
    if (off % 4 || off + bytes > size || bytes == 0)
        return hk_fail(err, "vulkan: %s: %llu bytes at offset %llu do not fit a %llu-byte buffer", what,
                       (unsigned long long)bytes, (unsigned long long)off, (unsigned long long)size);
    *b = (hk_vk_binding){buf, base, off - base + bytes};
    *first = (uint32_t)((off - base) / 4);
    return 0;
}

/* Bytes spanned by n_rows rows of n floats, ld apart (ld 0: one row). */
static uint64_t rows_bytes(int64_t ld, int n_rows, int64_t n)
{
    return ((uint64_t)(n_rows - 1) * (uint64_t)ld + (uint64_t)n) * 4;
}

static int bind_rows(const hk_vk *vk, hk_vk_rows r, int n_rows, int64_t n, const char *what, hk_vk_binding *b,
                     uint32_t *first, hk_error *err)
{
    if (r.ld < 0 || (r.ld > 0 && r.ld < n) || r.ld > UINT32_MAX)
        return hk_fail(err, "vulkan: %s: row stride %lld for rows of %lld", what, (long long)r.ld, (long long)n);
    return bind_region(vk, r.buf, r.offset, rows_bytes(r.ld, n_rows, n), what, b, first, err);
}

static hk_vk_buf *upload_floats(hk_vk *vk, const float *v, int64_t n, const char *what, hk_error *err)
{
    const uint64_t bytes = (uint64_t)n * sizeof *v;
    hk_vk_buf *b = hk_vk_buf_new(vk, bytes, HK_VK_DEVICE, what, err);
    if (b && hk_vk_upload(vk, b, 0, v, bytes, err) < 0) {
        hk_vk_buf_free(vk, b);
        return NULL;
    }
    return b;
}

/* Uploads n host floats as params[slot] and binds them, or - NULL - binds
 * `dummy` (never read: the shader's specialization constant says so). */
static int bind_param(hk_vk *vk, hk_vk_op *op, int slot, const float *v, int64_t n, const char *what,
                      const hk_vk_binding *dummy, hk_vk_binding *b, hk_error *err)
{
    if (!v) {
        *b = *dummy;
        return 0;
    }
    op->params[slot] = upload_floats(vk, v, n, what, err);
    if (!op->params[slot])
        return -1;
    *b = (hk_vk_binding){op->params[slot], 0, 0};
    return 0;
}

static int check_shape(int64_t n, int max_rows, const char *what, hk_error *err)
{
    if (n <= 0 || max_rows <= 0 || n > UINT32_MAX || (uint64_t)n * (uint64_t)max_rows > UINT32_MAX)
        return hk_fail(err, "vulkan: %s: %d rows of %lld do not fit 32-bit indices", what, max_rows, (long long)n);
    return 0;
}

static hk_vk_op *op_alloc(geometry geom, uint32_t n, int max_rows, hk_error *err)
{
    hk_vk_op *op = calloc(1, sizeof *op);
    if (!op) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    op->geom = geom;
    op->n = n;
    op->max_rows = max_rows;
    return op;
}

/* Finishes an op: the pipeline `name` with these bindings and push words. */
static hk_vk_op *op_finish(hk_vk *vk, hk_vk_op *op, const char *name, const uint32_t *spec, int n_spec,
                           const hk_vk_binding *b, int n_b, const uint32_t *push, int n_push, hk_error *err)
{
    assert(n_push <= MAX_PUSH_WORDS);
    hk_vk_pipeline *p = hk_vk_pipeline_get(vk, name, n_b, (uint32_t)n_push * 4, spec, n_spec, err);
    if (p)
        op->node = hk_vk_node_new(vk, p, b, n_b, err);
    if (!op->node) {
        hk_vk_op_free(vk, op);
        return NULL;
    }
    memcpy(op->push, push, (size_t)n_push * 4);
    op->push_size = (uint32_t)n_push * 4;
    return op;
}

static uint32_t f32_word(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

hk_vk_op *hk_vk_layer_norm_new(hk_vk *vk, hk_vk_rows x, hk_vk_rows y, int64_t n, int max_rows, const float *w,
                               const float *b, float eps, hk_error *err)
{
    if (check_shape(n, max_rows, "layer_norm", err) < 0)
        return NULL;
    hk_vk_op *op = op_alloc(GEOM_ROWS, (uint32_t)n, max_rows, err);
    if (!op)
        return NULL;
    hk_vk_binding bind[4];
    uint32_t x0 = 0, y0 = 0;
    if (bind_rows(vk, x, max_rows, n, "layer_norm input", &bind[0], &x0, err) < 0 ||
        bind_rows(vk, y, max_rows, n, "layer_norm output", &bind[1], &y0, err) < 0 ||
        bind_param(vk, op, 0, w, n, "layer norm weight", &bind[1], &bind[2], err) < 0 ||
        bind_param(vk, op, 1, b, n, "layer norm bias", &bind[1], &bind[3], err) < 0) {
        hk_vk_op_free(vk, op);
        return NULL;
    }
    const uint32_t spec[2] = {w != NULL, b != NULL};
    const uint32_t push[9] = {0, (uint32_t)n, x0, (uint32_t)x.ld, y0, (uint32_t)y.ld, 0, 0, f32_word(eps)};
    return op_finish(vk, op, use_subgroups(vk) ? "layer_norm_sg" : "layer_norm", spec, 2, bind, 4, push, 9, err);
}

/* ggml's F16 table of act: the CPU function at every half value, so the
 * shader's lookup gives the CPU's bits (malloc'd, 65536 floats). */
static float *act_table(hk_act act, hk_error *err)
{
    float *t = malloc(65536 * sizeof *t);
    if (!t) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float x = hk_f16_to_f32((uint16_t)h);
        /* GELU's +-10 entries are read by x just inside the clamp, where
         * the CPU evaluates the formula (gelu(-10) is -0, not the clamp's 0) */
        if (act == HK_ACT_GELU && fabsf(x) == 10.0f)
            x = nextafterf(x, 0.0f);
        t[h] = act == HK_ACT_GELU ? hk_gelu_ggml(x) : hk_gelu_quick_ggml(x);
    }
    return t;
}

hk_vk_op *hk_vk_act_new(hk_vk *vk, hk_act act, hk_vk_rows y, int64_t n, int max_rows, hk_error *err)
{
    if (check_shape(n, max_rows, "activation", err) < 0)
        return NULL;
    hk_vk_op *op = op_alloc(GEOM_ELEMS, (uint32_t)n, max_rows, err);
    if (!op)
        return NULL;
    hk_vk_binding bind[2];
    uint32_t y0 = 0;
    float *table = NULL;
    if (act != HK_ACT_GELU_ERF && !(table = act_table(act, err))) {
        hk_vk_op_free(vk, op);
        return NULL;
    }
    const int rc = bind_rows(vk, y, max_rows, n, "activation", &bind[0], &y0, err) < 0 ||
                   bind_param(vk, op, 0, table, 65536, "GELU table", &bind[0], &bind[1], err) < 0;
    free(table);
    if (rc) {
        hk_vk_op_free(vk, op);
        return NULL;
    }
    /* ACT numbers as in gelu.comp */
    const uint32_t spec[1] = {act == HK_ACT_GELU ? 0u : act == HK_ACT_GELU_ERF ? 1u : 2u};
    const uint32_t push[4] = {0, (uint32_t)n, y0, (uint32_t)y.ld};
    return op_finish(vk, op, "gelu", spec, 1, bind, 2, push, 4, err);
}

hk_vk_op *hk_vk_softmax_new(hk_vk *vk, hk_vk_rows y, int64_t n, int max_rows, float scale, const hk_vk_rows *mask,
                            int mask_rows, hk_error *err)
{
    if (check_shape(n, max_rows, "softmax", err) < 0)
        return NULL;
    if (mask && mask_rows <= 0) {
        hk_fail(err, "vulkan: softmax: a mask of %d rows", mask_rows);
        return NULL;
    }
    hk_vk_op *op = op_alloc(GEOM_ROWS, (uint32_t)n, max_rows, err);
    if (!op)
        return NULL;
    hk_vk_binding bind[2];
    uint32_t y0 = 0, m0 = 0;
    if (bind_rows(vk, y, max_rows, n, "softmax", &bind[0], &y0, err) < 0 ||
        (mask && bind_rows(vk, *mask, mask_rows, n, "softmax mask", &bind[1], &m0, err) < 0)) {
        hk_vk_op_free(vk, op);
        return NULL;
    }
    if (!mask)
        bind[1] = bind[0];
    const uint32_t spec[1] = {mask != NULL};
    const uint32_t push[8] = {0, (uint32_t)n, y0, (uint32_t)y.ld, m0, mask ? (uint32_t)mask->ld : 0,
                              mask ? (uint32_t)mask_rows : 1, f32_word(scale)};
    return op_finish(vk, op, use_subgroups(vk) ? "softmax_sg" : "softmax", spec, 1, bind, 2, push, 8, err);
}

hk_vk_op *hk_vk_binary_new(hk_vk *vk, hk_binop bop, hk_vk_rows y, hk_vk_rows b, int64_t n, int max_rows,
                           hk_error *err)
{
    if (check_shape(n, max_rows, "add/mul", err) < 0)
        return NULL;
    hk_vk_op *op = op_alloc(GEOM_ELEMS, (uint32_t)n, max_rows, err);
    if (!op)
        return NULL;
    hk_vk_binding bind[2];
    uint32_t y0 = 0, b0 = 0;
    if (bind_rows(vk, y, max_rows, n, "add/mul", &bind[0], &y0, err) < 0 ||
        bind_rows(vk, b, max_rows, n, "add/mul operand", &bind[1], &b0, err) < 0) {
        hk_vk_op_free(vk, op);
        return NULL;
    }
    const uint32_t spec[1] = {bop == HK_BIN_MUL};
    const uint32_t push[6] = {0, (uint32_t)n, y0, (uint32_t)y.ld, b0, (uint32_t)b.ld};
    return op_finish(vk, op, "binary_bcast", spec, 1, bind, 2, push, 6, err);
}

/* ---- convolutions: one implicit-GEMM shader, two gathers ---- */

/* The geometry words of conv_gemm.comp after M, N, K, x0, y0, ldy. */
typedef struct conv_geom {
    uint32_t kw, stride, pad, len, sc, st, gw;
} conv_geom;

static hk_vk_op *conv_new(hk_vk *vk, const char *name, const hk_weight *w, bool round, const float *bias,
                          int64_t n_out_rows, const hk_vk_buf *xbuf, uint64_t xoff, uint64_t xbytes, hk_vk_rows y,
                          const conv_geom *g, hk_error *err)
{
    if (n_out_rows > (int64_t)MAX_GROUPS * TILE) {
        hk_fail(err, "vulkan: %s: %lld output rows exceed one dispatch", name, (long long)n_out_rows);
        return NULL;
    }
    if (check_shape(w->n_out, (int)n_out_rows, name, err) < 0 || check_shape(w->n_in, 1, name, err) < 0)
        return NULL;
    hk_vk_op *op = op_alloc(GEOM_TILES, (uint32_t)w->n_out, (int)n_out_rows, err);
    if (!op)
        return NULL;
    float *wf = hk_conv_kernel_f32(w, round, err);
    hk_vk_binding bind[4];
    uint32_t x0 = 0, y0 = 0;
    if (!wf || bind_region(vk, xbuf, xoff, xbytes, name, &bind[0], &x0, err) < 0 ||
        bind_rows(vk, y, (int)n_out_rows, w->n_out, name, &bind[3], &y0, err) < 0 ||
        bind_param(vk, op, 0, wf, w->n_in * w->n_out, "convolution kernel", NULL, &bind[1], err) < 0 ||
        bind_param(vk, op, 1, bias, w->n_out, "convolution bias", &bind[3], &bind[2], err) < 0) {
        free(wf);
        hk_vk_op_free(vk, op);
        return NULL;
    }
    free(wf);
    const uint32_t spec[2] = {bias != NULL, round};
    const uint32_t push[13] = {0, (uint32_t)w->n_out, (uint32_t)w->n_in, x0, y0, (uint32_t)y.ld, g->kw,
                               g->stride, g->pad, g->len, g->sc, g->st, g->gw};
    return op_finish(vk, op, name, spec, 2, bind, 4, push, 13, err);
}

hk_vk_op *hk_vk_conv1d_new(hk_vk *vk, const hk_weight *w, int k, int stride, int pad, const float *bias,
                           const hk_vk_signal *x, hk_vk_rows y, hk_error *err)
{
    const int64_t n_out = hk_conv1d_out_len(x->len, k, stride, pad);
    if (k <= 0 || stride <= 0 || pad < 0 || w->n_in != (int64_t)x->n_ch * k || n_out <= 0 || x->sc < 0 ||
        x->st < 0) {
        hk_fail(err, "vulkan: conv1d: kernel of %lld per output channel, %d channels x width %d, %lld samples",
                (long long)w->n_in, x->n_ch, k, (long long)x->len);
        return NULL;
    }
    const uint64_t span = (uint64_t)(x->n_ch - 1) * (uint64_t)x->sc + (uint64_t)(x->len - 1) * (uint64_t)x->st + 1;
    const conv_geom g = {(uint32_t)k, (uint32_t)stride, (uint32_t)pad, (uint32_t)x->len, (uint32_t)x->sc,
                         (uint32_t)x->st, 0};
    /* ggml_conv_1d's im2col is F16 whatever the kernel type */
    return conv_new(vk, "conv1d", w, true, bias, n_out, x->buf, x->offset, span * 4, y, &g, err);
}

hk_vk_op *hk_vk_patch_embed_new(hk_vk *vk, const hk_weight *w, int patch, const float *bias, const hk_vk_image *img,
                                hk_vk_rows y, hk_error *err)
{
    if (patch <= 0 || w->n_in != (int64_t)img->n_ch * patch * patch || img->h < patch || img->w < patch) {
        hk_fail(err, "vulkan: patch embedding: kernel of %lld per output, %d channels of %d x %d, patch %d",
                (long long)w->n_in, img->n_ch, img->w, img->h, patch);
        return NULL;
    }
    const uint64_t plane = (uint64_t)img->h * (uint64_t)img->w;
    const conv_geom g = {(uint32_t)patch, (uint32_t)patch, 0, (uint32_t)img->w, (uint32_t)plane, 1,
                         (uint32_t)(img->w / patch)};
    const int64_t n_patches = (int64_t)(img->h / patch) * (img->w / patch);
    /* ggml_conv_2d's im2col takes the kernel's type */
    return conv_new(vk, "patch_embed", w, w->type == HK_TYPE_F16, bias, n_patches, img->buf, img->offset,
                    plane * (uint64_t)img->n_ch * 4, y, &g, err);
}

/* ---- recording ---- */

/* groups workgroups as gx * gy with gx within the guaranteed limit; the
 * shaders fold gl_WorkGroupID.y back in and skip what lies past the end. */
static void fold_groups(uint64_t groups, uint32_t *gx, uint32_t *gy)
{
    *gx = groups < MAX_GROUPS ? (uint32_t)groups : MAX_GROUPS;
    *gy = (uint32_t)((groups + *gx - 1) / *gx);
}

void hk_vk_op_record(hk_vk_cmd *c, const hk_vk_op *op, int n_rows)
{
    assert(n_rows <= op->max_rows);
    if (n_rows <= 0)
        return;
    uint32_t push[MAX_PUSH_WORDS];
    memcpy(push, op->push, op->push_size);
    push[0] = (uint32_t)n_rows;
    uint32_t gx, gy;
    switch (op->geom) {
    case GEOM_ROWS: fold_groups((uint64_t)n_rows, &gx, &gy); break;
    case GEOM_ELEMS: fold_groups(((uint64_t)n_rows * op->n + WG - 1) / WG, &gx, &gy); break;
    default:
        gx = (uint32_t)((n_rows + TILE - 1) / TILE);
        gy = (op->n + TILE - 1) / TILE;
        break;
    }
    hk_vk_cmd_dispatch(c, op->node, push, op->push_size, gx, gy, 1);
}

int hk_vk_op_max_rows(const hk_vk_op *op) { return op->max_rows; }

void hk_vk_op_free(hk_vk *vk, hk_vk_op *op)
{
    if (!op)
        return;
    hk_vk_node_free(vk, op->node);
    for (int i = 0; i < 2; i++)
        if (op->params[i])
            hk_vk_buf_free(vk, op->params[i]);
    free(op);
}
