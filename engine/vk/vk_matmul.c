/* Matrix products and embedding lookups on a Vulkan device (vk_matmul.h).
 *
 * Weights: each tensor is uploaded as it is in the file (quantized rows
 * packed one after the other), in parts of whole rows that each fit
 * maxStorageBufferRange, one buffer per part (so every binding starts at
 * offset 0 and byte addresses fit 32 bits); every kernel runs once per part
 * on its row range.  Shaders read the weights as uint32 words by byte
 * address (shaders/types.glsl), which needs no 8/16-bit storage feature.
 *
 * Kernels (shaders/), one source per kind, variants by weight type:
 *   mv   one workgroup per NR weight rows and activation row: invocations
 *        take consecutive 16-element units (or blocks) of the NR rows, so
 *        neighbours read neighbouring bytes; a subgroupAdd reduction where
 *        the device has subgroup arithmetic, else a shared-memory tree.
 *        Token generation: bound by reading W once.  Batches of 2..7
 *        rows: MV_ROWS activation rows per workgroup, each unit decoded
 *        once for all of them; one reduction per row as for a row alone.
 *   mm   32x32 output tiles, 32 elements a step; the weight tile is
 *        dequantized (or decoded to integers) into shared memory once for
 *        32 activation rows.  Batches of MV_MAX_ROWS rows and more.
 *   mvq, mmq (LLAMACPP mode, quantized weights): the same shapes with
 *        integer block dot products against the activations quant_act
 *        rounded into this hk_vk_mm's scratch, once per record for every
 *        product of the same dot type (q, k, v share it).  _dot
 *        variants use OpSDot where the device has integer dot products.
 * Numbers (shaders/types.glsl, q_dot.glsl, rounding.glsl): the CPU's
 * dequantized values and per-block float expressions with the same
 * roundings (`precise` against fused multiply-adds, division and F16
 * rounding done with integers), so only float summation orders differ. */
#include "vk/vk_matmul.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

/* Batches of fewer rows than this take the matrix-vector kernel; larger
 * ones the tiled kernel.  The matrix-vector kernel takes MV_ROWS of them
 * per pass over the weights (its spec constant NT; one row alone takes an
 * NT = 1 pipeline, with fewer registers). */
enum { MV_MAX_ROWS = 8, MV_ROWS = 4, MV_ROWS_MAX = 8 };
/* mv.comp: invocations per workgroup (its reduction array holds 64 x 8). */
enum { MV_WG = 64, MV_MAX_NR = 8 };
/* mm.comp's tile (TM weight rows x TN activation rows). */
enum { MM_TM = 32, MM_TN = 32 };
/* Workgroup sizes of quant_act.comp and get_rows.comp. */
enum { ACT_WG = 64, ROWS_WG = 64 };
enum { MAX_GROUPS = 65535 }; /* maxComputeWorkGroupCount guaranteed by Vulkan */
/* Bytes a weight buffer gets beyond its rows: the shaders read a field as
 * the words it straddles, so the word after the last byte must exist. */
enum { WORD_PAD = 4 };

/* The push constants of quant_act, mv and mm (shaders/act.glsl, mm_push). */
typedef struct mm_push {
    uint32_t n_in, n_out, out_row0, n_tok, row0;
    uint32_t w_off, w_row_bytes;
    uint32_t x_off, x_ld, y_off, y_ld;
    uint32_t has_bias;
    uint32_t a_qs, a_sc, a_bs;
} mm_push;

typedef struct rows_push {
    uint32_t n_in, part_row0, part_rows, w_off, w_row_bytes, y_off, y_ld;
} rows_push;

/* ---------------------------------------------------------------- weights */

typedef struct weight_part {
    hk_vk_buf *buf;
    int64_t row0;   /* first tensor row it holds */
    int64_t n_rows;
} weight_part;

struct hk_vk_weight {
    hk_type type;
    int64_t n_in, n_out;
    uint64_t row_bytes; /* packed on the device: hk_row_size(type, n_in) */
    char *name;
    int n_parts;
    weight_part *parts;
};

static const char *lower_type_name(hk_type t)
{
    switch (t) {
    case HK_TYPE_F32: return "f32";
    case HK_TYPE_F16: return "f16";
    case HK_TYPE_BF16: return "bf16";
    case HK_TYPE_Q4_0: return "q4_0";
    case HK_TYPE_Q4_1: return "q4_1";
    case HK_TYPE_Q5_0: return "q5_0";
    case HK_TYPE_Q5_1: return "q5_1";
    case HK_TYPE_Q8_0: return "q8_0";
    case HK_TYPE_Q2_K: return "q2_k";
    case HK_TYPE_Q3_K: return "q3_k";
    case HK_TYPE_Q4_K: return "q4_k";
    case HK_TYPE_Q5_K: return "q5_k";
    case HK_TYPE_Q6_K: return "q6_k";
    case HK_TYPE_Q8_1: return "q8_1";
    case HK_TYPE_Q8_K: return "q8_k";
    default: return NULL;
    }
}

static bool is_float_type(hk_type t) { return t == HK_TYPE_F32 || t == HK_TYPE_F16 || t == HK_TYPE_BF16; }

/* Whether the shaders read weights of type t (Q8_1, Q8_K hold activations only). */
static bool weight_type_supported(hk_type t) { return lower_type_name(t) && t != HK_TYPE_Q8_1 && t != HK_TYPE_Q8_K; }

/* Bytes of one part at most: maxStorageBufferRange, or less under the test
 * hook HARK_VK_SPLIT_BYTES (vk_matmul.h). */
static uint64_t part_limit(const hk_vk *vk) { return hk_vk_range_limit(vk, "HARK_VK_SPLIT_BYTES"); }

/* Copies rows [r0, r0+n) of w into buf, packed. */
static int upload_rows(hk_vk *vk, hk_vk_buf *buf, const hk_weight *w, uint64_t row_bytes, int64_t r0, int64_t n,
                       hk_error *err)
{
    if (w->row_bytes == row_bytes)
        return hk_vk_upload(vk, buf, 0, w->data + (size_t)r0 * w->row_bytes, (uint64_t)n * row_bytes, err);
    /* a row range of a wider tensor (phi3's fused qkv): pack through a
     * bounded host copy so that uploads stay few */
    const int64_t chunk = (int64_t)((16u << 20) / row_bytes) + 1;
    uint8_t *tmp = malloc((size_t)(chunk * (int64_t)row_bytes));
    if (!tmp)
        return hk_fail(err, "vulkan: out of host memory packing a weight");
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i += chunk) {
        const int64_t m = n - i < chunk ? n - i : chunk;
        for (int64_t r = 0; r < m; r++)
            memcpy(tmp + (size_t)r * row_bytes, w->data + (size_t)(r0 + i + r) * w->row_bytes, row_bytes);
        rc = hk_vk_upload(vk, buf, (uint64_t)i * row_bytes, tmp, (uint64_t)m * row_bytes, err);
    }
    free(tmp);
    return rc;
}

static int weight_check(const hk_vk *vk, const hk_weight *w, const char *name, uint64_t row_bytes, hk_error *err)
{
    if (!weight_type_supported(w->type))
        return hk_fail(err, "%s: type %s has no Vulkan kernel", name, hk_type_name(w->type));
    if (w->n_in <= 0 || w->n_out <= 0 || row_bytes == 0)
        return hk_fail(err, "%s: %lld x %lld is not a matrix of whole %s blocks", name, (long long)w->n_out,
                       (long long)w->n_in, hk_type_name(w->type));
    if (row_bytes + 2 * WORD_PAD > part_limit(vk))
        return hk_fail(err, "%s: a row of %llu bytes exceeds the device's storage buffer range", name,
                       (unsigned long long)row_bytes);
    return 0;
}

hk_vk_weight *hk_vk_weight_upload(hk_vk *vk, const hk_weight *w, const char *name, hk_error *err)
{
    const uint64_t row_bytes = w->n_in > 0 ? hk_row_size(w->type, w->n_in) : 0;
    if (weight_check(vk, w, name, row_bytes, err))
        return NULL;
    /* a part's buffer is padded to whole words plus one: the shaders read
     * bytes as uint32 words, also the word after an unaligned field */
    const int64_t rows_per_part = (int64_t)((part_limit(vk) - 2 * WORD_PAD) / row_bytes);
    hk_vk_weight *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        hk_fail(err, "%s: out of host memory", name);
        return NULL;
    }
    g->type = w->type;
    g->n_in = w->n_in;
    g->n_out = w->n_out;
    g->row_bytes = row_bytes;
    const int n_parts = (int)((w->n_out + rows_per_part - 1) / rows_per_part);
    g->parts = calloc((size_t)n_parts, sizeof *g->parts);
    if (!g->parts) {
        hk_fail(err, "%s: out of host memory", name);
        hk_vk_weight_free(vk, g);
        return NULL;
    }
    for (int i = 0; i < n_parts; i++) {
        weight_part *p = &g->parts[i];
        p->row0 = (int64_t)i * rows_per_part;
        p->n_rows = w->n_out - p->row0 < rows_per_part ? w->n_out - p->row0 : rows_per_part;
        const uint64_t bytes = ((uint64_t)p->n_rows * row_bytes + 2 * WORD_PAD - 1) / WORD_PAD * WORD_PAD;
        p->buf = hk_vk_buf_new(vk, bytes, HK_VK_DEVICE, name, err);
        if (!p->buf || upload_rows(vk, p->buf, w, row_bytes, p->row0, p->n_rows, err)) {
            hk_vk_weight_free(vk, g);
            return NULL;
        }
        g->n_parts = i + 1;
    }
    return g;
}

void hk_vk_weight_free(hk_vk *vk, hk_vk_weight *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n_parts; i++)
        hk_vk_buf_free(vk, w->parts[i].buf);
    free(w->parts);
    free(w->name);
    free(w);
}

uint64_t hk_vk_weight_bytes(const hk_vk_weight *w) { return (uint64_t)w->n_out * w->row_bytes; }

int hk_vk_weight_parts(const hk_vk_weight *w) { return w->n_parts; }

/* ---------------------------------------------------------------- bindings */

/* A binding of buf from byte `offset` on: the offset aligned down to what
 * the device accepts, the rest returned in floats for the push constants. */
static hk_vk_binding bind_at(const hk_vk *vk, const hk_vk_buf *buf, uint64_t offset, uint32_t *rest_floats)
{
    uint64_t align = hk_vk_min_offset_align(vk);
    if (align < 4)
        align = 4;
    const uint64_t base = offset / align * align;
    const uint64_t max = hk_vk_info(vk)->max_storage_range / 4 * 4;
    const uint64_t left = hk_vk_buf_size(buf) - base;
    if (rest_floats)
        *rest_floats = (uint32_t)((offset - base) / 4);
    return (hk_vk_binding){buf, base, left < max ? left : max};
}

static hk_vk_binding bind_part(const weight_part *p) { return (hk_vk_binding){p->buf, 0, 0}; }

/* ---------------------------------------------------------------- rounded activations */

/* One activation format of a hk_vk_mm: where its rows live in the scratch. */
typedef struct act_region {
    hk_type type;          /* Q8_0, Q8_1, Q8_K, F16 or BF16 */
    uint32_t qs, sc, bs;   /* word offsets (act.glsl) */
    hk_vk_node *node;      /* quant_act: x -> scratch */
} act_region;

static int64_t act_block(hk_type t) { return t == HK_TYPE_Q8_K ? HK_QK_K : 32; }

/* Words of the scratch that format t takes for rows of n_in, max_rows rows. */
static uint64_t act_words(hk_type t, int64_t n_in, int max_rows)
{
    const uint64_t rows = (uint64_t)max_rows, nb = (uint64_t)(n_in / act_block(t));
    if (t == HK_TYPE_F16 || t == HK_TYPE_BF16)
        return rows * (uint64_t)n_in;
    return rows * (uint64_t)n_in / 4 + rows * nb * 2 + (t == HK_TYPE_Q8_K ? rows * nb * 16 : 0);
}

/* ---------------------------------------------------------------- products */

typedef struct part_nodes {
    hk_vk_node *mv, *mvn, *mm; /* mv: one activation row; mvn: up to mv_nt rows a pass */
    uint32_t mv_nr;        /* weight rows per mv workgroup */
    uint32_t mv_nt;        /* activation rows per mvn workgroup */
} part_nodes;

typedef struct mm_product {
    const hk_vk_weight *w;
    int act;               /* index into acts, or -1: float kernels on x itself */
    bool qdot;             /* integer kernels (mvq, mmq) */
    uint32_t x_off, x_ld;  /* float kernels: where their input rows are in binding 1 */
    uint32_t y_off, y_ld;
    bool has_bias;
    part_nodes *parts;     /* w->n_parts */
} mm_product;

struct hk_vk_mm {
    hk_matmul_mode mode;
    int64_t n_in;
    int max_rows;
    uint32_t x_off, x_ld;  /* x in the quantizers' binding 0 */
    const hk_vk_buf *scratch; /* rounded activations (own_scratch or the caller's), or NULL */
    hk_vk_buf *own_scratch;
    int n_acts;
    act_region acts[5];
    int n_outs;
    mm_product *outs;
};

static int act_index(hk_vk_mm *mm, hk_type t)
{
    for (int i = 0; i < mm->n_acts; i++)
        if (mm->acts[i].type == t)
            return i;
    mm->acts[mm->n_acts].type = t;
    return mm->n_acts++;
}

/* Places each activation format's regions in the scratch; returns its words. */
static uint64_t act_layout(hk_vk_mm *mm)
{
    uint64_t words = 0;
    for (int i = 0; i < mm->n_acts; i++) {
        act_region *a = &mm->acts[i];
        const uint64_t rows = (uint64_t)mm->max_rows, nb = (uint64_t)(mm->n_in / act_block(a->type));
        a->qs = (uint32_t)words;
        a->sc = (uint32_t)(words + rows * (uint64_t)mm->n_in / 4);
        a->bs = (uint32_t)(a->sc + rows * nb * 2);
        words += act_words(a->type, mm->n_in, mm->max_rows);
    }
    return words;
}

/* The scratch (shared, or made here) and one quantizer node per format. */
static int make_act_nodes(hk_vk *vk, hk_vk_mm *mm, hk_vk_rows x, const hk_vk_buf *shared, hk_error *err)
{
    const uint64_t bytes = 4 * act_layout(mm);
    if (mm->n_acts == 0)
        return 0;
    if (bytes > hk_vk_info(vk)->max_storage_range)
        return hk_fail(err, "vulkan: rounded activations of %d rows of %lld exceed the storage buffer range",
                       mm->max_rows, (long long)mm->n_in);
    if (shared && hk_vk_buf_size(shared) < bytes)
        return hk_fail(err, "vulkan: a shared scratch of %llu bytes for rounded activations needing %llu",
                       (unsigned long long)hk_vk_buf_size(shared), (unsigned long long)bytes);
    if (shared) {
        mm->scratch = shared;
    } else {
        if (!(mm->own_scratch = hk_vk_buf_new(vk, bytes, HK_VK_DEVICE, "rounded activations", err)))
            return -1;
        mm->scratch = mm->own_scratch;
    }
    for (int i = 0; i < mm->n_acts; i++) {
        char name[32];
        snprintf(name, sizeof name, "act_%s", lower_type_name(mm->acts[i].type));
        hk_vk_pipeline *p = hk_vk_pipeline_get(vk, name, 2, sizeof(mm_push), NULL, 0, err);
        if (!p)
            return -1;
        const hk_vk_binding b[2] = {bind_at(vk, x.buf, x.offset, &mm->x_off), bind_at(vk, mm->scratch, 0, NULL)};
        if (!(mm->acts[i].node = hk_vk_node_new(vk, p, b, 2, err)))
            return -1;
    }
    return 0;
}

/* Weight rows per mv workgroup: enough units (16 elements, or one block
 * for the integer kernels) to keep 64 invocations busy on short rows. */
static uint32_t mv_rows_per_group(const hk_vk_weight *w, bool qdot)
{
    const int64_t units = qdot ? w->n_in / hk_type_traits_of(w->type)->block_size : (w->n_in + 15) / 16;
    uint32_t nr = 2;
    while (nr < MV_MAX_NR && units * nr < MV_WG)
        nr *= 2;
    return nr;
}

/* The subgroup-reduction variant of mv where the device has subgroup
 * arithmetic, unless HARK_VK_SUBGROUPS=0 (as vk_ops.h: tests cover both). */
static bool use_subgroups(const hk_vk *vk)
{
    const char *env = getenv("HARK_VK_SUBGROUPS");
    return hk_vk_enabled(vk)->subgroup_arith && !(env && strcmp(env, "0") == 0);
}

/* The _dot variants of the integer kernels (OpSDot on packed bytes) where
 * the device enabled shaderIntegerDotProduct and the type has them (every
 * quantized weight type: shaders/meson.build), unless HARK_VK_INT_DOT=0.
 * Integer sums are exact, so both give the same bits (tests compare). */
static bool use_int_dot(const hk_vk *vk, hk_type t)
{
    const char *env = getenv("HARK_VK_INT_DOT");
    if (!hk_vk_enabled(vk)->int_dot || (env && strcmp(env, "0") == 0))
        return false;
    return t == HK_TYPE_Q4_0 || t == HK_TYPE_Q4_1 || t == HK_TYPE_Q5_0 || t == HK_TYPE_Q5_1 || t == HK_TYPE_Q8_0 ||
           t == HK_TYPE_Q2_K || t == HK_TYPE_Q3_K || t == HK_TYPE_Q4_K || t == HK_TYPE_Q5_K || t == HK_TYPE_Q6_K;
}

/* Activation rows per pass of the matrix-vector kernel for batches of
 * 2..MV_MAX_ROWS-1 rows: MV_ROWS, or HARK_VK_MV_ROWS (1..8; tests compare
 * 1, the kernel's old one pass per row, for identical bits). */
static uint32_t mv_rows_per_pass(void)
{
    const char *env = getenv("HARK_VK_MV_ROWS");
    const int n = env && *env ? atoi(env) : MV_ROWS;
    return n >= 1 && n <= MV_ROWS_MAX ? (uint32_t)n : MV_ROWS;
}

static int make_product_nodes(hk_vk *vk, mm_product *o, const hk_vk_mm_out *out,
                              hk_vk_binding x_bind, hk_error *err)
{
    const hk_vk_weight *w = o->w;
    const bool sg = use_subgroups(vk);
    const char *dot = o->qdot && use_int_dot(vk, w->type) ? "_dot" : "";
    char mv_name[32], mm_name[32];
    snprintf(mv_name, sizeof mv_name, "%s_%s%s%s", o->qdot ? "mvq" : "mv", lower_type_name(w->type), dot,
             sg ? "_sg" : "");
    snprintf(mm_name, sizeof mm_name, "%s_%s%s", o->qdot ? "mmq" : "mm", lower_type_name(w->type), dot);
    const uint32_t nr = mv_rows_per_group(w, o->qdot), nt = mv_rows_per_pass();
    const uint32_t spec[3] = {MV_WG, nr, 1}, spec_n[3] = {MV_WG, nr, nt};
    hk_vk_pipeline *pmv = hk_vk_pipeline_get(vk, mv_name, 4, sizeof(mm_push), spec, 3, err);
    hk_vk_pipeline *pmvn = pmv ? hk_vk_pipeline_get(vk, mv_name, 4, sizeof(mm_push), spec_n, 3, err) : NULL;
    hk_vk_pipeline *pmm = pmvn ? hk_vk_pipeline_get(vk, mm_name, 4, sizeof(mm_push), NULL, 0, err) : NULL;
    if (!pmm)
        return -1;
    if (!(o->parts = calloc((size_t)w->n_parts, sizeof *o->parts)))
        return hk_fail(err, "%s: out of host memory", w->name);
    const hk_vk_binding y_bind = bind_at(vk, out->y.buf, out->y.offset, &o->y_off);
    /* no bias: any buffer fills the binding; has_bias keeps it unread */
    const hk_vk_binding b_bind = out->bias ? bind_at(vk, out->bias, 0, NULL) : y_bind;
    for (int i = 0; i < w->n_parts; i++) {
        const hk_vk_binding b[4] = {bind_part(&w->parts[i]), x_bind, y_bind, b_bind};
        o->parts[i].mv_nr = nr;
        o->parts[i].mv_nt = nt;
        o->parts[i].mv = hk_vk_node_new(vk, pmv, b, 4, err);
        o->parts[i].mvn = o->parts[i].mv ? hk_vk_node_new(vk, pmvn, b, 4, err) : NULL;
        o->parts[i].mm = o->parts[i].mvn ? hk_vk_node_new(vk, pmm, b, 4, err) : NULL;
        if (!o->parts[i].mm)
            return -1;
        if ((w->parts[i].n_rows + MM_TM - 1) / MM_TM > MAX_GROUPS)
            return hk_fail(err, "%s: %lld rows in one part are too many for the tiled kernel", w->name,
                           (long long)w->parts[i].n_rows);
    }
    return 0;
}

static int check_out(const hk_vk_mm_out *o, int64_t n_in, hk_error *err)
{
    if (!o->w)
        return hk_fail(err, "vulkan: matmul output without a weight");
    if (o->w->n_in != n_in)
        return hk_fail(err, "%s: rows of %lld elements, the input has %lld", o->w->name, (long long)o->w->n_in,
                       (long long)n_in);
    if (o->y.offset % 4 || (o->y.ld < o->w->n_out))
        return hk_fail(err, "%s: output rows of %lld floats hold %lld outputs", o->w->name, (long long)o->y.ld,
                       (long long)o->w->n_out);
    return 0;
}

static void mm_setup_product(hk_vk_mm *mm, int k, const hk_vk_mm_out *out, hk_vk_rows x)
{
    mm_product *o = &mm->outs[k];
    const hk_type t = out->w->type;
    o->w = out->w;
    o->y_ld = (uint32_t)out->y.ld;
    o->has_bias = out->bias != NULL;
    o->act = -1;
    o->x_ld = (uint32_t)x.ld;
    if (mm->mode == HK_MATMUL_LLAMACPP && t != HK_TYPE_F32) {
        o->act = act_index(mm, hk_type_traits_of(t)->vec_dot_type);
        o->qdot = !is_float_type(t);
    }
}

uint64_t hk_vk_mm_scratch_bytes(hk_matmul_mode mode, int max_rows, const hk_vk_mm_out *outs, int n_outs)
{
    hk_vk_mm tmp = {.mode = mode, .n_in = n_outs > 0 && outs[0].w ? outs[0].w->n_in : 0, .max_rows = max_rows};
    for (int k = 0; k < n_outs; k++)
        if (outs[k].w && mode == HK_MATMUL_LLAMACPP && outs[k].w->type != HK_TYPE_F32)
            act_index(&tmp, hk_type_traits_of(outs[k].w->type)->vec_dot_type);
    return 4 * act_layout(&tmp);
}

hk_vk_mm *hk_vk_mm_new(hk_vk *vk, hk_matmul_mode mode, hk_vk_rows x, int max_rows, const hk_vk_mm_out *outs,
                       int n_outs, hk_error *err)
{
    return hk_vk_mm_new_shared(vk, mode, x, max_rows, outs, n_outs, NULL, err);
}

hk_vk_mm *hk_vk_mm_new_shared(hk_vk *vk, hk_matmul_mode mode, hk_vk_rows x, int max_rows, const hk_vk_mm_out *outs,
                              int n_outs, const hk_vk_buf *scratch, hk_error *err)
{
    if (n_outs <= 0 || max_rows <= 0 || max_rows > MAX_GROUPS) {
        hk_fail(err, "vulkan: matmul of %d products of %d rows", n_outs, max_rows);
        return NULL;
    }
    if (x.offset % 4) {
        hk_fail(err, "vulkan: matmul input at byte offset %llu", (unsigned long long)x.offset);
        return NULL;
    }
    hk_vk_mm *mm = calloc(1, sizeof *mm);
    if (!mm || !(mm->outs = calloc((size_t)n_outs, sizeof *mm->outs))) {
        free(mm);
        hk_fail(err, "vulkan: out of host memory");
        return NULL;
    }
    mm->mode = mode;
    mm->n_in = outs[0].w ? outs[0].w->n_in : 0;
    mm->max_rows = max_rows;
    mm->x_ld = (uint32_t)x.ld;
    mm->n_outs = n_outs;
    for (int k = 0; k < n_outs; k++) {
        if (check_out(&outs[k], mm->n_in, err))
            goto fail;
        mm_setup_product(mm, k, &outs[k], x);
    }
    if (make_act_nodes(vk, mm, x, scratch, err))
        goto fail;
    for (int k = 0; k < n_outs; k++) {
        mm_product *o = &mm->outs[k];
        hk_vk_binding xb;
        if (o->act < 0) {
            xb = bind_at(vk, x.buf, x.offset, &o->x_off);
        } else {
            xb = bind_at(vk, mm->scratch, 0, NULL);
            /* F16/BF16 weights: float kernels on the rounded floats */
            o->x_off = mm->acts[o->act].qs;
            if (!o->qdot)
                o->x_ld = (uint32_t)mm->n_in;
        }
        if (make_product_nodes(vk, o, &outs[k], xb, err))
            goto fail;
    }
    return mm;
fail:
    hk_vk_mm_free(vk, mm);
    return NULL;
}

void hk_vk_mm_free(hk_vk *vk, hk_vk_mm *mm)
{
    if (!mm)
        return;
    for (int k = 0; k < mm->n_outs; k++) {
        mm_product *o = &mm->outs[k];
        if (!o->parts)
            continue;
        for (int i = 0; i < o->w->n_parts; i++) {
            hk_vk_node_free(vk, o->parts[i].mv);
            hk_vk_node_free(vk, o->parts[i].mvn);
            hk_vk_node_free(vk, o->parts[i].mm);
        }
        free(o->parts);
    }
    for (int i = 0; i < mm->n_acts; i++)
        hk_vk_node_free(vk, mm->acts[i].node);
    hk_vk_buf_free(vk, mm->own_scratch);
    free(mm->outs);
    free(mm);
}

static void record_act(hk_vk_cmd *c, const hk_vk_mm *mm, const act_region *a, int row0, int n_rows)
{
    const int64_t qa = a->type == HK_TYPE_Q8_K ? HK_QK_K : 32;
    const uint32_t nb = (uint32_t)((mm->n_in + qa - 1) / qa);
    const mm_push p = {
        .n_in = (uint32_t)mm->n_in, .n_tok = (uint32_t)n_rows, .row0 = (uint32_t)row0,
        .x_off = mm->x_off, .x_ld = mm->x_ld, .a_qs = a->qs, .a_sc = a->sc, .a_bs = a->bs,
    };
    hk_vk_cmd_dispatch(c, a->node, &p, sizeof p, (nb + ACT_WG - 1) / ACT_WG, (uint32_t)n_rows, 1);
}

static void record_product(hk_vk_cmd *c, const hk_vk_mm *mm, const mm_product *o, int row0, int n_rows)
{
    const hk_vk_weight *w = o->w;
    const act_region *a = o->act >= 0 ? &mm->acts[o->act] : NULL;
    for (int i = 0; i < w->n_parts; i++) {
        const weight_part *part = &w->parts[i];
        const mm_push p = {
            .n_in = (uint32_t)w->n_in, .n_out = (uint32_t)part->n_rows, .out_row0 = (uint32_t)part->row0,
            .n_tok = (uint32_t)n_rows, .row0 = (uint32_t)row0, .w_off = 0, .w_row_bytes = (uint32_t)w->row_bytes,
            .x_off = o->x_off, .x_ld = o->x_ld, .y_off = o->y_off, .y_ld = o->y_ld, .has_bias = o->has_bias,
            .a_qs = a ? a->qs : 0, .a_sc = a ? a->sc : 0, .a_bs = a ? a->bs : 0,
        };
        if (n_rows < MV_MAX_ROWS) {
            const part_nodes *pn = &o->parts[i];
            const uint32_t groups = (uint32_t)((part->n_rows + pn->mv_nr - 1) / pn->mv_nr);
            const uint32_t gz = (groups + MAX_GROUPS - 1) / MAX_GROUPS;
            const uint32_t nt = n_rows == 1 ? 1 : pn->mv_nt;
            hk_vk_cmd_dispatch(c, n_rows == 1 ? pn->mv : pn->mvn, &p, sizeof p, (groups + gz - 1) / gz,
                               ((uint32_t)n_rows + nt - 1) / nt, gz);
        } else {
            hk_vk_cmd_dispatch(c, o->parts[i].mm, &p, sizeof p, (uint32_t)((part->n_rows + MM_TM - 1) / MM_TM),
                               (uint32_t)((n_rows + MM_TN - 1) / MM_TN), 1);
        }
    }
}

void hk_vk_mm_record(hk_vk_cmd *c, const hk_vk_mm *mm, int row0, int n_rows)
{
    assert(row0 >= 0 && row0 + n_rows <= mm->max_rows);
    if (n_rows <= 0)
        return;
    for (int i = 0; i < mm->n_acts; i++)
        record_act(c, mm, &mm->acts[i], row0, n_rows);
    if (mm->n_acts > 0)
        hk_vk_cmd_barrier(c);
    for (int k = 0; k < mm->n_outs; k++)
        record_product(c, mm, &mm->outs[k], row0, n_rows);
}

/* ---------------------------------------------------------------- test hook */

static void act_to_cpu(hk_type t, const uint32_t *qs, const uint32_t *sc, const uint32_t *bs, int64_t n, void *dst)
{
    float f;
    if (t == HK_TYPE_F16 || t == HK_TYPE_BF16) {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) {
            memcpy(&f, &qs[i], 4);
            d[i] = t == HK_TYPE_F16 ? hk_f32_to_f16(f) : (uint16_t)(qs[i] >> 16);
        }
        return;
    }
    const int64_t nb = n / act_block(t);
    const int8_t *q = (const int8_t *)(const void *)qs;
    for (int64_t b = 0; b < nb; b++) {
        if (t == HK_TYPE_Q8_K) {
            hk_block_q8_K *y = (hk_block_q8_K *)dst + b;
            memcpy(&y->d, &sc[2 * b], 4);
            memcpy(y->qs, q + b * HK_QK_K, HK_QK_K);
            for (int j = 0; j < HK_QK_K / 16; j++)
                y->bsums[j] = (int16_t)(int32_t)bs[16 * b + j];
        } else if (t == HK_TYPE_Q8_1) {
            hk_block_q8_1 *y = (hk_block_q8_1 *)dst + b;
            memcpy(&f, &sc[2 * b], 4);
            y->d = hk_f32_to_f16(f);
            memcpy(&f, &sc[2 * b + 1], 4);
            y->s = hk_f32_to_f16(f);
            memcpy(y->qs, q + b * 32, 32);
        } else {
            hk_block_q8_0 *y = (hk_block_q8_0 *)dst + b;
            memcpy(&f, &sc[2 * b], 4);
            y->d = hk_f32_to_f16(f);
            memcpy(y->qs, q + b * 32, 32);
        }
    }
}

int hk_vk_mm_read_act(hk_vk *vk, const hk_vk_mm *mm, int out, int row, void *dst, hk_error *err)
{
    if (out < 0 || out >= mm->n_outs || mm->outs[out].act < 0 || row < 0 || row >= mm->max_rows)
        return hk_fail(err, "vulkan: product %d row %d has no rounded activations", out, row);
    const act_region *a = &mm->acts[mm->outs[out].act];
    const int64_t n = mm->n_in, nb = n / act_block(a->type);
    const bool plain = a->type == HK_TYPE_F16 || a->type == HK_TYPE_BF16;
    const uint64_t qs_words = plain ? (uint64_t)n : (uint64_t)n / 4;
    uint32_t *tmp = malloc(sizeof(uint32_t) * (size_t)(qs_words + 2 * nb + 16 * nb));
    if (!tmp)
        return hk_fail(err, "vulkan: out of host memory");
    uint32_t *sc = tmp + qs_words, *bs = sc + 2 * nb;
    int rc = hk_vk_download(vk, mm->scratch, 4 * (a->qs + (uint64_t)row * qs_words), tmp, 4 * qs_words, err);
    if (!rc && !plain)
        rc = hk_vk_download(vk, mm->scratch, 4 * (a->sc + (uint64_t)row * 2 * nb), sc, 8 * (uint64_t)nb, err);
    if (!rc && a->type == HK_TYPE_Q8_K)
        rc = hk_vk_download(vk, mm->scratch, 4 * (a->bs + (uint64_t)row * 16 * nb), bs, 64 * (uint64_t)nb, err);
    if (!rc)
        act_to_cpu(a->type, tmp, sc, bs, n, dst);
    free(tmp);
    return rc;
}

/* ---------------------------------------------------------------- get_rows */

struct hk_vk_get_rows {
    const hk_vk_weight *w;
    uint32_t y_off, y_ld;
    hk_vk_node **nodes; /* one per part */
};

hk_vk_get_rows *hk_vk_get_rows_new(hk_vk *vk, const hk_vk_weight *w, const hk_vk_buf *ids, hk_vk_rows y,
                                   hk_error *err)
{
    if (y.offset % 4 || y.ld < w->n_in) {
        hk_fail(err, "%s: lookup into rows of %lld floats", w->name, (long long)y.ld);
        return NULL;
    }
    char name[32];
    snprintf(name, sizeof name, "get_rows_%s", lower_type_name(w->type));
    hk_vk_pipeline *p = hk_vk_pipeline_get(vk, name, 3, sizeof(rows_push), NULL, 0, err);
    if (!p)
        return NULL;
    hk_vk_get_rows *g = calloc(1, sizeof *g);
    if (!g || !(g->nodes = calloc((size_t)w->n_parts, sizeof *g->nodes))) {
        free(g);
        hk_fail(err, "%s: out of host memory", w->name);
        return NULL;
    }
    g->w = w;
    g->y_ld = (uint32_t)y.ld;
    const hk_vk_binding yb = bind_at(vk, y.buf, y.offset, &g->y_off);
    for (int i = 0; i < w->n_parts; i++) {
        const hk_vk_binding b[3] = {bind_part(&w->parts[i]), bind_at(vk, ids, 0, NULL), yb};
        if (!(g->nodes[i] = hk_vk_node_new(vk, p, b, 3, err))) {
            hk_vk_get_rows_free(vk, g);
            return NULL;
        }
    }
    return g;
}

void hk_vk_get_rows_free(hk_vk *vk, hk_vk_get_rows *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->w->n_parts; i++)
        hk_vk_node_free(vk, g->nodes[i]);
    free(g->nodes);
    free(g);
}

void hk_vk_get_rows_record(hk_vk_cmd *c, const hk_vk_get_rows *g, int n)
{
    assert(n <= MAX_GROUPS); /* one workgroup row per id */
    const hk_vk_weight *w = g->w;
    const uint32_t groups = (uint32_t)((w->n_in + 15) / 16);
    for (int i = 0; i < w->n_parts && n > 0; i++) {
        const rows_push p = {
            .n_in = (uint32_t)w->n_in, .part_row0 = (uint32_t)w->parts[i].row0,
            .part_rows = (uint32_t)w->parts[i].n_rows, .w_off = 0, .w_row_bytes = (uint32_t)w->row_bytes,
            .y_off = g->y_off, .y_ld = g->y_ld,
        };
        hk_vk_cmd_dispatch(c, g->nodes[i], &p, sizeof p, (groups + ROWS_WG - 1) / ROWS_WG, (uint32_t)n, 1);
    }
}
