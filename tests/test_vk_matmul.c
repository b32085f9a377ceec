/* Matrix products and embedding lookups on a Vulkan device
 * (engine/vk/vk_matmul.h) against the CPU, for every weight type and both
 * matmul modes, on whatever device hk_vk_open(-1, allow_cpu) picks (lavapipe
 * on a machine without a GPU).  Exit 77 (skipped) when there is no Vulkan
 * device; with HARK_VK_VALIDATE=1 also when the validation layer is
 * missing, and otherwise no validation error may be reported.
 *
 * Shapes are odd on purpose: 67 and 33 output rows, rows of 100 F32/F16/BF16
 * elements (F16 rows of 200 bytes, not word-aligned), 5 blocks of 32 or 2 of
 * 256 for the quantized types; batches of 1, 3, 2, 5, 7 (matrix-vector
 * kernel, several rows a pass from 2 on), 17 and 70 rows (tiled kernel)
 * starting at rows 5, 0, 3, 9, 60, 7, 2 of x; x, y at
 * offsets off the storage alignment with strides wider than the rows; one
 * product with a bias, one without, sharing the rounded activations.  Each
 * type runs twice: whole, and split into parts of a few rows
 * (HARK_VK_SPLIT_BYTES), which covers the path that tensors larger than
 * maxStorageBufferRange take with a lowered threshold, fast; and where the
 * device's range is at most 256 MiB (lavapipe: 128 MiB) a real Q8_0 weight
 * of a little more than the range goes through in two parts.
 *
 * References and tolerances (u = 2^-24, S = sum over i of |w_i x_i| with the
 * CPU's dequantized weights and the activations as the dot product sees
 * them):
 *   EXACT: hk_op_matmul on a scalar CPU backend (double sums of float
 *     products).  The GPU sums the same float products in float, in a tree:
 *     |gpu - cpu| <= (n_in - 1) u S at worst (Higham ch. 4), in practice a
 *     few u S; the test asks for 1e-5 S (about 170 u S: room for rows of
 *     thousands without flakiness) and prints the worst err/(u S) per type
 *     (lavapipe, Nov 2026: 2.3 to 4.9 for every type, i.e. <= 3e-7 S).
 *   LLAMACPP: the rounded activations must be bit-identical to the CPU's
 *     SIMD-level act_from_float (x86 llama.cpp's rounding, which produced
 *     the goldens, NEON's copy of it, or on a CPU with neither the same in
 *     plain C here; x row 0 is made of rounding ties to tell them from the
 *     scalar Q8_0 code, which rounds ties away from zero); the
 *     outputs are compared with the scalar vec_dot of the weight row and
 *     those very activations, and with hk_op_matmul on a CPU backend at the
 *     SIMD level (same activations, the SIMD kernels' sum orders).  Integer
 *     block sums are exact on both sides
 *     and each block's float expression is the same, so only the order of
 *     adding K float terms differs (K = blocks x 8 lanes, + 1 per block for
 *     mins): |gpu - cpu| <= 2 K u T, T = sum |terms| <= 4 S for these
 *     formats (a min term and its block's scaled sum are each at most about
 *     S of that block).  The test checks err <= 8 K u S and prints err/(u S)
 *     (lavapipe: 0.6 to 4.5 for every type).  Rows of one block leave no
 *     summation order to differ: there the outputs must be bit-identical
 *     to vec_dot, which checks each block's float expression exactly.
 *   get_rows: bit-identical to hk_op_get_row.
 *   Optional paths (test_variants): integer dot products (OpSDot, where the
 *     device has them) and several rows per matrix-vector pass change no
 *     bit of any output against HARK_VK_INT_DOT=0 and HARK_VK_MV_ROWS=1. */
#include "check.h"
#include "cpu/kernels.h"
#include "ops.h"
#include "quant.h"
#include "threadpool.h"
#include "vk/spirv.h"
#include "vk/vk.h"
#include "vk/vk_matmul.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HK_HAVE_VULKAN

#define U 5.9604644775390625e-8 /* 2^-24 */

static hk_vk *vk;
static hk_vk_cmd *cmd;
static hk_pool *pool;
static hk_cpu_level best_level; /* the CPU's SIMD level, whose act_from_float the GPU reproduces */

enum { X_ROWS = 80, MAX_ROWS = 72, PAD = 4 /* floats before each region: 16 bytes */ };

static const hk_type types[] = {HK_TYPE_F32, HK_TYPE_F16, HK_TYPE_BF16, HK_TYPE_Q4_0, HK_TYPE_Q4_1,
                                HK_TYPE_Q5_0, HK_TYPE_Q5_1, HK_TYPE_Q8_0, HK_TYPE_Q2_K, HK_TYPE_Q3_K,
                                HK_TYPE_Q4_K, HK_TYPE_Q5_K, HK_TYPE_Q6_K};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

/* ---------------------------------------------------------------- helpers */

static hk_vk_buf *dev_buf(const float *v, size_t n, const char *what)
{
    hk_error err = {{0}};
    hk_vk_buf *b = hk_vk_buf_new(vk, n * sizeof(float), HK_VK_DEVICE, what, &err);
    CHECK(b != NULL, "buffer: %s", err.msg);
    if (b && v)
        CHECK(hk_vk_upload(vk, b, 0, v, n * sizeof(float), &err) == 0, "upload: %s", err.msg);
    return b;
}

static int run_begin(hk_error *err) { return hk_vk_cmd_begin(cmd, err); }

static void run_end(hk_error *err, int rc)
{
    if (rc == 0) {
        hk_vk_cmd_barrier(cmd);
        rc = hk_vk_cmd_end(cmd, err);
    }
    if (rc == 0)
        rc = hk_vk_cmd_submit(cmd, err);
    if (rc == 0)
        rc = hk_vk_cmd_wait(cmd, err);
    CHECK(rc == 0, "running: %s", err->msg);
}

/* A random n_out x n_in weight of type t (rows packed), plus its
 * dequantized copy. */
typedef struct test_weight {
    hk_weight w;
    uint8_t *data;
    float *deq;
} test_weight;

static test_weight make_weight(hk_type t, int64_t n_in, int64_t n_out)
{
    test_weight tw = {0};
    const size_t rb = hk_row_size(t, n_in);
    tw.data = malloc(rb * (size_t)n_out);
    tw.deq = malloc(sizeof(float) * (size_t)(n_in * n_out));
    float *row = malloc(sizeof(float) * (size_t)n_in);
    for (int64_t r = 0; r < n_out; r++) {
        /* rows of different scales and a bias, so that mins and scales vary */
        const float scale = frand(0.05f, 2.0f), shift = frand(-0.3f, 0.3f) * scale;
        for (int64_t i = 0; i < n_in; i++)
            row[i] = frand(-scale, scale) + shift;
        hk_quantize_row_ref(t, row, tw.data + (size_t)r * rb, n_in);
        hk_dequantize_row(t, tw.data + (size_t)r * rb, tw.deq + (size_t)(r * n_in), n_in);
    }
    free(row);
    tw.w = (hk_weight){t, tw.data, n_in, n_out, rb};
    return tw;
}

static void free_weight(test_weight *tw)
{
    free(tw->data);
    free(tw->deq);
}

/* x: X_ROWS rows of ld floats.  Row 0 hits the rounding ties of the
 * activation quantizers (halves of integers against a block maximum of 127,
 * so that 127/amax = 1 and -127/max = 1), row 1 is zero (the all-zero block
 * path), the rest random with a different range per row. */
static float *make_x(int64_t n_in, int64_t ld)
{
    float *x = malloc(sizeof(float) * (size_t)(X_ROWS * ld));
    for (int t = 0; t < X_ROWS; t++) {
        const float range = frand(0.1f, 4.0f);
        for (int64_t i = 0; i < ld; i++) {
            float v;
            if (t == 0)
                v = i % 32 == 0 ? -127.0f : (float)((i * 37) % 253) - 126.0f + 0.5f;
            else if (t == 1)
                v = 0.0f;
            else
                v = frand(-range, range);
            x[t * ld + i] = i < n_in ? v : 1e30f; /* past the row: never read */
        }
    }
    return x;
}

/* x86 llama.cpp's quantize_row_q8_0/q8_1 (engine/cpu/quant_x86.h) in plain
 * C, for a CPU with no SIMD level: multiplier 127/amax, ties to even. */
static void act_q8_x86(bool q8_1, const float *x, void *dst, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f, d = amax / 127.f;
        int8_t *qs = q8_1 ? ((hk_block_q8_1 *)dst)[b].qs : ((hk_block_q8_0 *)dst)[b].qs;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const float v = x[j] * id;
            qs[j] = (int8_t)nearbyintf(v); /* the default rounding mode: to nearest even */
            sum += qs[j];
        }
        if (q8_1) {
            ((hk_block_q8_1 *)dst)[b].d = hk_f32_to_f16(d);
            ((hk_block_q8_1 *)dst)[b].s = hk_f32_to_f16(d * (float)sum);
        } else {
            ((hk_block_q8_0 *)dst)[b].d = hk_f32_to_f16(d);
        }
    }
}

/* Activations rounded to `at` as the GPU must round them: the CPU's SIMD
 * level's act_from_float (x86 llama.cpp's rounding; NEON copies it), or
 * without a SIMD level the same rounding in plain C. */
static void act_reference(hk_type at, const float *x, void *dst, int64_t n)
{
    if (best_level != HK_CPU_SCALAR)
        hk_quant_ops_level(at, best_level)->act_from_float(x, dst, n);
    else if (at == HK_TYPE_Q8_0 || at == HK_TYPE_Q8_1)
        act_q8_x86(at == HK_TYPE_Q8_1, x, dst, n);
    else
        hk_quantize_act(at, x, dst, n);
}

/* ---------------------------------------------------------------- matmul */

typedef struct mm_case {
    hk_matmul_mode mode;
    hk_type type;
    int64_t n_in;
    const char *label;
} mm_case;

static double worst; /* of the case running: max err/(u S) */

/* CPU reference for rows [row0, row0+n) of product k into ref[t][o]. */
static void cpu_reference(const mm_case *mc, hk_backend *be, const float *x, int64_t ldx, const test_weight *w,
                          const float *bias, int row0, int n, float *ref, float *S)
{
    const int64_t n_in = mc->n_in, n_out = w->w.n_out;
    const hk_type t = mc->type;
    const hk_type at = hk_type_traits_of(t)->vec_dot_type;
    const bool round_act = mc->mode == HK_MATMUL_LLAMACPP && t != HK_TYPE_F32;
    uint8_t *act = malloc(hk_row_size(HK_TYPE_Q8_K, 4096) + 4 * (size_t)n_in);
    float *xr = malloc(sizeof(float) * (size_t)n_in);
    if (!round_act) {
        hk_matmul_out o = {&w->w, ref, n_out, bias};
        hk_op_matmul(be, n, x + (size_t)(row0 * ldx), ldx, &o, 1);
    }
    for (int r = 0; r < n; r++) {
        const float *xt = x + (size_t)((row0 + r) * ldx);
        if (round_act) {
            act_reference(at, xt, act, n_in);
            hk_dequantize_row(at, act, xr, n_in);
        } else {
            memcpy(xr, xt, sizeof(float) * (size_t)n_in);
        }
        for (int64_t o = 0; o < n_out; o++) {
            double s = 0;
            for (int64_t i = 0; i < n_in; i++)
                s += fabs((double)w->deq[o * n_in + i] * xr[i]);
            S[r * n_out + o] = (float)s;
            if (round_act) {
                const float v = hk_vec_dot(t, n_in, w->w.data + (size_t)o * w->w.row_bytes, act);
                ref[r * n_out + o] = bias ? v + bias[o] : v;
            }
        }
    }
    free(act);
    free(xr);
}

/* Compares the activations the GPU rounded for rows [row0, row0+n) with the
 * CPU's act_from_float at its SIMD level, byte for byte. */
static void check_act(const mm_case *mc, const hk_vk_mm *mm, const float *x, int64_t ldx, int row0, int n)
{
    const hk_type at = hk_type_traits_of(mc->type)->vec_dot_type;
    const size_t bytes = hk_row_size(at, mc->n_in);
    uint8_t *cpu = malloc(bytes), *gpu = malloc(bytes);
    hk_error err = {{0}};
    for (int r = 0; r < n; r++) {
        act_reference(at, x + (size_t)((row0 + r) * ldx), cpu, mc->n_in);
        const int rc = hk_vk_mm_read_act(vk, mm, 0, row0 + r, gpu, &err);
        CHECK(rc == 0, "%s: read act: %s", mc->label, err.msg);
        if (rc == 0 && memcmp(cpu, gpu, bytes) != 0) {
            size_t i = 0;
            while (cpu[i] == gpu[i])
                i++;
            CHECK(0, "%s: rounded activations of row %d differ from the CPU's (%s) at byte %zu: %d vs %d",
                  mc->label, row0 + r, hk_type_name(at), i, gpu[i], cpu[i]);
        }
    }
    free(cpu);
    free(gpu);
}

static void compare(const mm_case *mc, const float *gpu, int64_t ldy, const float *ref, const float *S, int64_t n_out,
                    int row0, int n, const char *what)
{
    const int64_t nb = mc->n_in / hk_type_traits_of(mc->type)->block_size;
    const double k_terms = (double)nb * 8 + (double)nb + 2;
    int bad = 0;
    for (int r = 0; r < n; r++)
        for (int64_t o = 0; o < n_out; o++) {
            const double g = gpu[(size_t)((row0 + r) * ldy + o)], c = ref[r * n_out + o];
            const double s = S[r * n_out + o] > 0 ? S[r * n_out + o] : 1e-30;
            const double err = fabs(g - c);
            bool ok;
            if (mc->mode == HK_MATMUL_EXACT || mc->type == HK_TYPE_F32)
                ok = err <= 1e-5 * s;
            else
                ok = err <= 8 * k_terms * U * s;
            if (err / (U * s) > worst)
                worst = err / (U * s);
            if (!ok && bad++ < 3)
                CHECK(0, "%s %s row %d out %lld: gpu %.9g cpu %.9g (err/S %.3g)", mc->label, what, row0 + r,
                      (long long)o, g, c, err / s);
        }
    CHECK(bad == 0, "%s %s: %d outputs off", mc->label, what, bad);
}

typedef struct batch {
    int row0, n;
} batch;

static void test_matmul_case(const mm_case *mc)
{
    hk_error err = {{0}};
    const int64_t n_in = mc->n_in, ldx = n_in + 7;
    const int64_t n_out[2] = {67, 33}, ldy[2] = {67 + 3, 33 + 5};
    test_weight tw[2] = {make_weight(mc->type, n_in, n_out[0]), make_weight(mc->type, n_in, n_out[1])};
    float *x = make_x(n_in, ldx);
    float *bias = malloc(sizeof(float) * (size_t)n_out[0]);
    for (int64_t o = 0; o < n_out[0]; o++)
        bias[o] = frand(-1, 1);
    float *xpad = calloc((size_t)(PAD + X_ROWS * ldx), sizeof(float));
    memcpy(xpad + PAD, x, sizeof(float) * (size_t)(X_ROWS * ldx));
    hk_vk_buf *dx = dev_buf(xpad, (size_t)(PAD + X_ROWS * ldx), "x");
    hk_vk_buf *dy[2] = {dev_buf(NULL, (size_t)(PAD + MAX_ROWS * ldy[0]), "y0"),
                        dev_buf(NULL, (size_t)(PAD + MAX_ROWS * ldy[1]), "y1")};
    hk_vk_buf *db = dev_buf(bias, (size_t)n_out[0], "bias");
    hk_vk_weight *gw[2] = {hk_vk_weight_upload(vk, &tw[0].w, "test.w0", &err), NULL};
    CHECK(gw[0] != NULL, "%s: upload: %s", mc->label, err.msg);
    gw[1] = hk_vk_weight_upload(vk, &tw[1].w, "test.w1", &err);
    CHECK(gw[1] != NULL, "%s: upload: %s", mc->label, err.msg);
    hk_backend *be = hk_backend_new(pool, mc->mode, n_in, MAX_ROWS, 1, 1, 2);
    /* LLAMACPP mode also against the CPU backend at its SIMD level, which
     * rounds activations as the GPU does (x86 llama.cpp's quantizers) */
    hk_backend *be_simd = NULL;
    if (mc->mode == HK_MATMUL_LLAMACPP && best_level != HK_CPU_SCALAR) {
        hk_cpu_level_set(best_level);
        be_simd = hk_backend_new(pool, mc->mode, n_in, MAX_ROWS, 1, 1, 2);
        hk_cpu_level_set(HK_CPU_SCALAR);
    }
    hk_vk_mm *mm = NULL;
    if (gw[0] && gw[1] && dx && dy[0] && dy[1] && db) {
        const hk_vk_mm_out outs[2] = {
            {gw[0], {dy[0], PAD * sizeof(float), ldy[0]}, db},
            {gw[1], {dy[1], PAD * sizeof(float), ldy[1]}, NULL},
        };
        mm = hk_vk_mm_new(vk, mc->mode, (hk_vk_rows){dx, PAD * sizeof(float), ldx}, MAX_ROWS, outs, 2, &err);
        CHECK(mm != NULL, "%s: mm_new: %s", mc->label, err.msg);
    }
    const batch batches[] = {{5, 1}, {0, 3}, {3, 2}, {9, 5}, {60, 7}, {7, 17}, {2, 70}};
    for (size_t bi = 0; mm && bi < sizeof batches / sizeof batches[0]; bi++) {
        const batch b = batches[bi];
        int rc = run_begin(&err);
        if (rc == 0)
            hk_vk_mm_record(cmd, mm, b.row0, b.n);
        run_end(&err, rc);
        if (mc->mode == HK_MATMUL_LLAMACPP && mc->type != HK_TYPE_F32)
            check_act(mc, mm, x, ldx, b.row0, b.n);
        for (int k = 0; k < 2; k++) {
            float *gpu = malloc(sizeof(float) * (size_t)(MAX_ROWS * ldy[k]));
            float *ref = malloc(sizeof(float) * (size_t)(b.n * n_out[k]));
            float *S = malloc(sizeof(float) * (size_t)(b.n * n_out[k]));
            CHECK(hk_vk_download(vk, dy[k], PAD * sizeof(float), gpu, sizeof(float) * (size_t)(MAX_ROWS * ldy[k]),
                                 &err) == 0,
                  "download: %s", err.msg);
            cpu_reference(mc, be, x, ldx, &tw[k], k == 0 ? bias : NULL, b.row0, b.n, ref, S);
            char what[96];
            snprintf(what, sizeof what, "%s, rows %d+%d", k == 0 ? "bias" : "no bias", b.row0, b.n);
            compare(mc, gpu, ldy[k], ref, S, n_out[k], b.row0, b.n, what);
            if (be_simd) {
                const hk_matmul_out o = {&tw[k].w, ref, n_out[k], k == 0 ? bias : NULL};
                hk_op_matmul(be_simd, b.n, x + (size_t)(b.row0 * ldx), ldx, &o, 1);
                strcat(what, ", simd hk_op_matmul");
                compare(mc, gpu, ldy[k], ref, S, n_out[k], b.row0, b.n, what);
            }
            free(gpu);
            free(ref);
            free(S);
        }
    }
    hk_vk_mm_free(vk, mm);
    hk_backend_free(be);
    hk_backend_free(be_simd);
    for (int k = 0; k < 2; k++) {
        hk_vk_weight_free(vk, gw[k]);
        hk_vk_buf_free(vk, dy[k]);
        free_weight(&tw[k]);
    }
    hk_vk_buf_free(vk, dx);
    hk_vk_buf_free(vk, db);
    free(x);
    free(xpad);
    free(bias);
}

static int64_t n_in_of(hk_type t)
{
    const uint32_t bs = hk_type_traits_of(t)->block_size;
    return bs == 1 ? 100 : bs == 32 ? 160 : 512;
}

static void test_matmul(bool split)
{
    printf("  matmul%s, max |gpu - cpu| / (u S):\n", split ? " split in parts" : "");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        printf("    %-5s", hk_type_name(types[i]));
        for (int mode = 0; mode < 2; mode++) {
            char label[64];
            snprintf(label, sizeof label, "%s %s%s", hk_type_name(types[i]), mode ? "llamacpp" : "exact",
                     split ? " split" : "");
            const mm_case mc = {mode ? HK_MATMUL_LLAMACPP : HK_MATMUL_EXACT, types[i], n_in_of(types[i]), label};
            worst = 0;
            test_matmul_case(&mc);
            printf("  %s %6.2f", mode ? "llamacpp" : "exact", worst);
        }
        printf("\n");
    }
}

/* Two products whose weights want different activation formats (Q8_0 and
 * Q8_K) in one hk_vk_mm: both roundings, each used by its product; the
 * scratch a buffer of the test's (hk_vk_mm_new_shared). */
static void test_mixed(void)
{
    hk_error err = {{0}};
    const int64_t n_in = 512, ldx = n_in, n_out = 67;
    test_weight tw[2] = {make_weight(HK_TYPE_Q8_0, n_in, n_out), make_weight(HK_TYPE_Q4_K, n_in, n_out)};
    float *x = make_x(n_in, ldx);
    hk_vk_buf *dx = dev_buf(x, (size_t)(X_ROWS * ldx), "x");
    hk_vk_buf *dy = dev_buf(NULL, (size_t)(2 * MAX_ROWS * n_out), "y");
    hk_vk_weight *gw[2] = {hk_vk_weight_upload(vk, &tw[0].w, "mixed.q8_0", &err),
                           hk_vk_weight_upload(vk, &tw[1].w, "mixed.q4_k", &err)};
    CHECK(gw[0] && gw[1], "upload: %s", err.msg);
    hk_vk_mm *mm = NULL;
    hk_vk_buf *scratch = NULL;
    if (gw[0] && gw[1]) {
        const hk_vk_mm_out outs[2] = {{gw[0], {dy, 0, n_out}, NULL},
                                      {gw[1], {dy, sizeof(float) * (size_t)(MAX_ROWS * n_out), n_out}, NULL}};
        /* through a scratch of the caller's (too small first) */
        const uint64_t bytes = hk_vk_mm_scratch_bytes(HK_MATMUL_LLAMACPP, MAX_ROWS, outs, 2);
        CHECK(bytes > 0, "no scratch needed");
        hk_vk_buf *small = hk_vk_buf_new(vk, bytes - 4, HK_VK_DEVICE, "small scratch", &err);
        scratch = hk_vk_buf_new(vk, bytes, HK_VK_DEVICE, "scratch", &err);
        CHECK(small && scratch, "scratch: %s", err.msg);
        if (small && scratch) {
            err.msg[0] = '\0';
            CHECK(hk_vk_mm_new_shared(vk, HK_MATMUL_LLAMACPP, (hk_vk_rows){dx, 0, ldx}, MAX_ROWS, outs, 2, small,
                                      &err) == NULL && err.msg[0],
                  "a scratch too small was taken");
            mm = hk_vk_mm_new_shared(vk, HK_MATMUL_LLAMACPP, (hk_vk_rows){dx, 0, ldx}, MAX_ROWS, outs, 2, scratch,
                                     &err);
            CHECK(mm != NULL, "mixed mm_new: %s", err.msg);
        }
        hk_vk_buf_free(vk, small);
    }
    if (mm) {
        int rc = run_begin(&err);
        if (rc == 0)
            hk_vk_mm_record(cmd, mm, 0, 3);
        run_end(&err, rc);
        float *gpu = malloc(sizeof(float) * (size_t)(2 * MAX_ROWS * n_out));
        CHECK(hk_vk_download(vk, dy, 0, gpu, sizeof(float) * (size_t)(2 * MAX_ROWS * n_out), &err) == 0, "download");
        for (int k = 0; k < 2; k++) {
            const mm_case mc = {HK_MATMUL_LLAMACPP, tw[k].w.type, n_in, k ? "mixed Q4_K" : "mixed Q8_0"};
            float ref[3 * 67], S[3 * 67];
            cpu_reference(&mc, NULL, x, ldx, &tw[k], NULL, 0, 3, ref, S);
            compare(&mc, gpu + k * MAX_ROWS * n_out, n_out, ref, S, n_out, 0, 3, "mixed");
            uint8_t a[2][2 * sizeof(hk_block_q8_K)]; /* a row of 512 in Q8_0 or Q8_K */
            act_reference(hk_type_traits_of(tw[k].w.type)->vec_dot_type, x + 2 * ldx, a[0], n_in);
            CHECK(hk_vk_mm_read_act(vk, mm, k, 2, a[1], &err) == 0, "read act: %s", err.msg);
            CHECK(memcmp(a[0], a[1], hk_row_size(hk_type_traits_of(tw[k].w.type)->vec_dot_type, n_in)) == 0,
                  "mixed: product %d activations differ", k);
        }
        free(gpu);
    }
    hk_vk_mm_free(vk, mm);
    for (int k = 0; k < 2; k++) {
        hk_vk_weight_free(vk, gw[k]);
        free_weight(&tw[k]);
    }
    hk_vk_buf_free(vk, scratch);
    hk_vk_buf_free(vk, dx);
    hk_vk_buf_free(vk, dy);
    free(x);
}

/* ---------------------------------------------------------------- get_rows */

static void test_get_rows(bool split)
{
    hk_error err = {{0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const hk_type t = types[i];
        const int64_t n_in = n_in_of(t), n_out = 67, ld = n_in + 5;
        const int32_t ids[] = {66, 0, 5, 31, 32, 66, 17, 40, 1};
        const int n = (int)(sizeof ids / sizeof ids[0]);
        test_weight tw = make_weight(t, n_in, n_out);
        /* the split pass also uploads from rows 8 bytes apart more than
         * their size, as a row range of a fused tensor (phi3's qkv) is */
        const size_t rb = tw.w.row_bytes, stride = split ? rb + 8 : rb;
        uint8_t *spaced = malloc(stride * (size_t)n_out);
        for (int64_t r = 0; r < n_out; r++)
            memcpy(spaced + (size_t)r * stride, tw.data + (size_t)r * rb, rb);
        const hk_weight ws = {t, spaced, n_in, n_out, stride};
        hk_vk_weight *gw = hk_vk_weight_upload(vk, &ws, "test.embd", &err);
        CHECK(gw != NULL, "%s: upload: %s", hk_type_name(t), err.msg);
        if (split && gw)
            CHECK(hk_vk_weight_parts(gw) > 1, "%s: not split", hk_type_name(t));
        hk_vk_buf *dids = hk_vk_buf_new(vk, sizeof ids, HK_VK_DEVICE, "ids", &err);
        hk_vk_buf *dy = dev_buf(NULL, (size_t)(PAD + n * ld), "rows");
        hk_vk_get_rows *g = NULL;
        if (gw && dids && dy) {
            CHECK(hk_vk_upload(vk, dids, 0, ids, sizeof ids, &err) == 0, "upload: %s", err.msg);
            g = hk_vk_get_rows_new(vk, gw, dids, (hk_vk_rows){dy, PAD * sizeof(float), ld}, &err);
            CHECK(g != NULL, "%s: get_rows_new: %s", hk_type_name(t), err.msg);
        }
        if (g) {
            int rc = run_begin(&err);
            if (rc == 0)
                hk_vk_get_rows_record(cmd, g, n);
            run_end(&err, rc);
            float *gpu = malloc(sizeof(float) * (size_t)(n * ld)), *cpu = malloc(sizeof(float) * (size_t)n_in);
            CHECK(hk_vk_download(vk, dy, PAD * sizeof(float), gpu, sizeof(float) * (size_t)(n * ld), &err) == 0,
                  "download: %s", err.msg);
            for (int r = 0; r < n; r++) {
                hk_op_get_row(&tw.w, ids[r], cpu);
                CHECK(memcmp(cpu, gpu + r * ld, sizeof(float) * (size_t)n_in) == 0,
                      "%s%s: row %d (id %d) differs from hk_op_get_row", hk_type_name(t), split ? " split" : "", r,
                      ids[r]);
            }
            free(gpu);
            free(cpu);
        }
        hk_vk_get_rows_free(vk, g);
        hk_vk_weight_free(vk, gw);
        hk_vk_buf_free(vk, dids);
        hk_vk_buf_free(vk, dy);
        free_weight(&tw);
        free(spaced);
    }
}

/* ---------------------------------------------------------------- one block */

/* Rows of a single block: the CPU's vec_dot then adds one float term (or, for
 * Q3_K..Q6_K, its eight lane terms and the min term in a fixed order the GPU
 * copies), so the GPU must give the same bits, not just close numbers: this
 * checks every per-block float expression operand for operand. */
static void test_one_block(void)
{
    hk_error err = {{0}};
    int bad_types = 0;
    for (size_t i = 3; i < sizeof types / sizeof types[0]; i++) {
        const hk_type t = types[i], at = hk_type_traits_of(t)->vec_dot_type;
        const int64_t n_in = hk_type_traits_of(t)->block_size, n_out = 67;
        test_weight tw = make_weight(t, n_in, n_out);
        float *x = make_x(n_in, n_in);
        hk_vk_buf *dx = dev_buf(x, (size_t)(X_ROWS * n_in), "x");
        hk_vk_buf *dy = dev_buf(NULL, (size_t)(MAX_ROWS * n_out), "y");
        hk_vk_weight *gw = hk_vk_weight_upload(vk, &tw.w, "one.block", &err);
        hk_vk_mm *mm = NULL;
        if (gw && dx && dy) {
            const hk_vk_mm_out o = {gw, {dy, 0, n_out}, NULL};
            mm = hk_vk_mm_new(vk, HK_MATMUL_LLAMACPP, (hk_vk_rows){dx, 0, n_in}, MAX_ROWS, &o, 1, &err);
        }
        CHECK(mm != NULL, "%s one block: %s", hk_type_name(t), err.msg);
        const batch batches[] = {{5, 1}, {0, 20}}; /* matrix-vector and tiled kernels */
        float *gpu = malloc(sizeof(float) * (size_t)(MAX_ROWS * n_out));
        uint8_t act[sizeof(hk_block_q8_K)];
        int bad = 0;
        for (size_t bi = 0; mm && bi < 2; bi++) {
            int rc = run_begin(&err);
            if (rc == 0)
                hk_vk_mm_record(cmd, mm, batches[bi].row0, batches[bi].n);
            run_end(&err, rc);
            CHECK(hk_vk_download(vk, dy, 0, gpu, sizeof(float) * (size_t)(MAX_ROWS * n_out), &err) == 0, "download");
            for (int r = batches[bi].row0; r < batches[bi].row0 + batches[bi].n; r++) {
                act_reference(at, x + r * n_in, act, n_in);
                for (int64_t o = 0; o < n_out; o++) {
                    const float c = hk_vec_dot(t, n_in, tw.data + (size_t)o * tw.w.row_bytes, act);
                    if (c != gpu[r * n_out + o] && bad++ < 2)
                        CHECK(0, "%s one block, row %d out %lld: gpu %a cpu %a", hk_type_name(t), r, (long long)o,
                              gpu[r * n_out + o], c);
                }
            }
        }
        bad_types += bad > 0;
        free(gpu);
        hk_vk_mm_free(vk, mm);
        hk_vk_weight_free(vk, gw);
        hk_vk_buf_free(vk, dx);
        hk_vk_buf_free(vk, dy);
        free_weight(&tw);
        free(x);
    }
    CHECK(bad_types == 0, "%d types not bit-identical on one block", bad_types);
    printf("  one block per row, LLAMACPP: %s\n", bad_types ? "DIFFERENT" : "bit-identical to vec_dot, every type");
}

/* ---------------------------------------------------------------- many rows */

/* Short rows, many of them: the matrix-vector kernel then needs more than
 * 65535 workgroups (the guaranteed maxComputeWorkGroupCount) and continues
 * in z; every row is checked. */
static void test_tall(hk_type t, hk_matmul_mode mode)
{
    hk_error err = {{0}};
    const int64_t n_in = t == HK_TYPE_F32 ? 16 : 32, n_out = 600007;
    test_weight tw = make_weight(t, n_in, n_out);
    float *x = make_x(n_in, n_in);
    hk_vk_buf *dx = dev_buf(x, (size_t)(X_ROWS * n_in), "x"), *dy = dev_buf(NULL, (size_t)(4 * n_out), "y");
    hk_vk_weight *gw = hk_vk_weight_upload(vk, &tw.w, "tall", &err);
    CHECK(gw != NULL, "tall upload: %s", err.msg);
    hk_vk_mm *mm = NULL;
    if (gw) {
        const hk_vk_mm_out o = {gw, {dy, 0, n_out}, NULL};
        mm = hk_vk_mm_new(vk, mode, (hk_vk_rows){dx, 0, n_in}, 4, &o, 1, &err);
        CHECK(mm != NULL, "tall mm_new: %s", err.msg);
    }
    if (mm) {
        int rc = run_begin(&err);
        if (rc == 0)
            hk_vk_mm_record(cmd, mm, 3, 1);
        run_end(&err, rc);
        float *gpu = malloc(sizeof(float) * (size_t)(4 * n_out)), *ref = malloc(sizeof(float) * (size_t)n_out);
        float *S = malloc(sizeof(float) * (size_t)n_out);
        CHECK(hk_vk_download(vk, dy, 0, gpu, sizeof(float) * (size_t)(4 * n_out), &err) == 0, "download");
        hk_backend *be = hk_backend_new(pool, mode, n_in, 4, 1, 1, 2);
        const mm_case mc = {mode, t, n_in, t == HK_TYPE_F32 ? "tall F32" : "tall Q4_0"};
        cpu_reference(&mc, be, x, n_in, &tw, NULL, 3, 1, ref, S);
        compare(&mc, gpu, n_out, ref, S, n_out, 3, 1, "600007 rows");
        hk_backend_free(be);
        free(gpu);
        free(ref);
        free(S);
    }
    hk_vk_mm_free(vk, mm);
    hk_vk_weight_free(vk, gw);
    hk_vk_buf_free(vk, dx);
    hk_vk_buf_free(vk, dy);
    free_weight(&tw);
    free(x);
}

/* ---------------------------------------------------------------- a real split */

/* A Q8_0 weight of more than maxStorageBufferRange bytes (random blocks
 * written directly, not quantized, to keep it quick), one token through it:
 * the parts are real buffers of the device's limit.  Rows of both parts are
 * checked against the scalar vec_dot; a part bound at the wrong rows would
 * be off by O(1), far outside the 1e-4 relative tolerance. */
static void test_big(void)
{
    hk_error err = {{0}};
    const uint64_t range = hk_vk_info(vk)->max_storage_range;
    const int64_t n_in = 4096, rb = (int64_t)hk_row_size(HK_TYPE_Q8_0, n_in);
    const int64_t n_out = (int64_t)(range / (uint64_t)rb) + 1000;
    uint8_t *data = malloc((size_t)(rb * n_out));
    if (!data) {
        printf("  big weight: skipped, no host memory\n");
        return;
    }
    for (int64_t b = 0; b < n_out * n_in / 32; b++) {
        hk_block_q8_0 *blk = (hk_block_q8_0 *)(void *)data + b;
        blk->d = hk_f32_to_f16(frand(0.001f, 0.01f));
        for (int j = 0; j < 32; j++) {
            if (j % 8 == 0)
                frand(0, 1); /* eight fresh random bytes */
            blk->qs[j] = (int8_t)(rng >> (j % 8 * 8));
        }
    }
    const hk_weight w = {HK_TYPE_Q8_0, data, n_in, n_out, (size_t)rb};
    hk_vk_weight *gw = hk_vk_weight_upload(vk, &w, "big.q8_0", &err);
    CHECK(gw != NULL, "big upload: %s", err.msg);
    float *x = malloc(sizeof(float) * (size_t)n_in), *y = malloc(sizeof(float) * (size_t)n_out);
    for (int64_t i = 0; i < n_in; i++)
        x[i] = frand(-1, 1);
    hk_vk_buf *dx = dev_buf(x, (size_t)n_in, "x"), *dy = dev_buf(NULL, (size_t)n_out, "y");
    hk_vk_mm *mm = NULL;
    if (gw) {
        printf("  big weight: %.1f MiB in %d parts\n", (double)hk_vk_weight_bytes(gw) / 1048576.0,
               hk_vk_weight_parts(gw));
        CHECK(hk_vk_weight_parts(gw) == 2, "big weight in %d parts", hk_vk_weight_parts(gw));
        const hk_vk_mm_out o = {gw, {dy, 0, n_out}, NULL};
        mm = hk_vk_mm_new(vk, HK_MATMUL_LLAMACPP, (hk_vk_rows){dx, 0, n_in}, 1, &o, 1, &err);
        CHECK(mm != NULL, "big mm_new: %s", err.msg);
    }
    if (mm) {
        int rc = run_begin(&err);
        if (rc == 0)
            hk_vk_mm_record(cmd, mm, 0, 1);
        run_end(&err, rc);
        CHECK(hk_vk_download(vk, dy, 0, y, sizeof(float) * (size_t)n_out, &err) == 0, "download: %s", err.msg);
        uint8_t act[sizeof(hk_block_q8_0) * 4096 / 32];
        act_reference(HK_TYPE_Q8_0, x, act, n_in);
        int bad = 0;
        for (int64_t o = 0; o < n_out; o += 97) {
            const float c = hk_vec_dot(HK_TYPE_Q8_0, n_in, data + (size_t)(o * rb), act);
            if (fabsf(c - y[o]) > 1e-4f * (fabsf(c) + 1.0f))
                bad++;
        }
        const int64_t last = n_out - 1;
        const float c = hk_vec_dot(HK_TYPE_Q8_0, n_in, data + (size_t)(last * rb), act);
        CHECK(bad == 0 && fabsf(c - y[last]) <= 1e-4f * (fabsf(c) + 1.0f), "big weight: %d rows off", bad);
    }
    hk_vk_mm_free(vk, mm);
    hk_vk_weight_free(vk, gw);
    hk_vk_buf_free(vk, dx);
    hk_vk_buf_free(vk, dy);
    free(data);
    free(x);
    free(y);
}

/* ---------------------------------------------------------------- optional paths */

/* Outputs of one weight for the batches below, under the environment
 * variable `var` = val (NULL: as the device and defaults choose); y holds
 * VAR_ROWS rows of n_out. */
enum { VAR_ROWS = 38 };
static const batch var_batches[] = {{5, 1}, {0, 2}, {6, 3}, {9, 5}, {14, 7}, {21, 17}};

static void run_variant(hk_matmul_mode mode, const test_weight *tw, hk_vk_weight *gw, hk_vk_buf *dx, int64_t ldx,
                        hk_vk_buf *db, const char *var, const char *val, float *y)
{
    hk_error err = {{0}};
    const int64_t n_out = tw->w.n_out;
    if (var)
        setenv(var, val, 1);
    float *zero = calloc((size_t)(VAR_ROWS * n_out), sizeof(float));
    hk_vk_buf *dy = dev_buf(zero, (size_t)(VAR_ROWS * n_out), "y");
    const hk_vk_mm_out o = {gw, {dy, 0, n_out}, db};
    hk_vk_mm *mm = dy ? hk_vk_mm_new(vk, mode, (hk_vk_rows){dx, 0, ldx}, VAR_ROWS, &o, 1, &err) : NULL;
    CHECK(mm != NULL, "variant %s=%s: %s", var ? var : "-", var ? val : "-", err.msg);
    if (var)
        unsetenv(var);
    for (size_t bi = 0; mm && bi < sizeof var_batches / sizeof var_batches[0]; bi++) {
        int rc = run_begin(&err);
        if (rc == 0)
            hk_vk_mm_record(cmd, mm, var_batches[bi].row0, var_batches[bi].n);
        run_end(&err, rc);
    }
    if (mm)
        CHECK(hk_vk_download(vk, dy, 0, y, sizeof(float) * (size_t)(VAR_ROWS * n_out), &err) == 0, "download: %s",
              err.msg);
    hk_vk_mm_free(vk, mm);
    hk_vk_buf_free(vk, dy);
    free(zero);
}

/* Each optional path against its fallback, every type, both modes, bit for
 * bit: integer dot products (forced off with HARK_VK_INT_DOT=0) and 4 or
 * 8 activation rows per matrix-vector pass (HARK_VK_MV_ROWS=1: one). */
static void test_variants(void)
{
    static const struct { const char *var, *val; } alt[] = {
        {"HARK_VK_INT_DOT", "0"}, {"HARK_VK_MV_ROWS", "1"}, {"HARK_VK_MV_ROWS", "8"}};
    int diff_types = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const hk_type t = types[i];
        const int64_t n_in = n_in_of(t), ldx = n_in + 3, n_out = 67;
        test_weight tw = make_weight(t, n_in, n_out);
        float *x = make_x(n_in, ldx), *bias = malloc(sizeof(float) * (size_t)n_out);
        for (int64_t o = 0; o < n_out; o++)
            bias[o] = frand(-1, 1);
        hk_error err = {{0}};
        hk_vk_buf *dx = dev_buf(x, (size_t)(X_ROWS * ldx), "x"), *db = dev_buf(bias, (size_t)n_out, "bias");
        hk_vk_weight *gw = hk_vk_weight_upload(vk, &tw.w, "variants", &err);
        CHECK(gw != NULL, "variants upload: %s", err.msg);
        const size_t n = (size_t)(VAR_ROWS * n_out);
        float *base = malloc(sizeof(float) * n), *other = malloc(sizeof(float) * n);
        bool differs = false;
        for (int mode = 0; gw && dx && db && mode < 2; mode++) {
            const hk_matmul_mode m = mode ? HK_MATMUL_LLAMACPP : HK_MATMUL_EXACT;
            run_variant(m, &tw, gw, dx, ldx, db, NULL, NULL, base);
            for (size_t k = 0; k < sizeof alt / sizeof alt[0]; k++) {
                run_variant(m, &tw, gw, dx, ldx, db, alt[k].var, alt[k].val, other);
                if (memcmp(base, other, sizeof(float) * n) != 0) {
                    size_t j = 0;
                    while (memcmp(&base[j], &other[j], sizeof(float)) == 0)
                        j++;
                    CHECK(0, "%s %s: %s=%s changes row %zu out %zu: %a vs %a", hk_type_name(t),
                          mode ? "llamacpp" : "exact", alt[k].var, alt[k].val, j / (size_t)n_out, j % (size_t)n_out,
                          (double)other[j], (double)base[j]);
                    differs = true;
                }
            }
        }
        diff_types += differs;
        free(base);
        free(other);
        hk_vk_weight_free(vk, gw);
        hk_vk_buf_free(vk, dx);
        hk_vk_buf_free(vk, db);
        free_weight(&tw);
        free(x);
        free(bias);
    }
    printf("  integer dot products (%s), rows per matrix-vector pass: %s\n",
           hk_vk_enabled(vk)->int_dot ? "used" : "not on this device",
           diff_types ? "DIFFERENT" : "bit-identical to the fallbacks, every type");
}

/* ---------------------------------------------------------------- SPIR-V */

/* Fused multiply-adds (GLSL.std.450 Fma) in a SPIR-V module.  The shaders
 * mark the CPU's separately rounded products `precise`, but spirv-opt's
 * unroller once dropped that from unrolled copies and fused them (found by
 * test_one_block); this catches such a build on any machine, also one whose
 * driver would run an Fma as a multiply and an add. */
static int count_fma(const hk_spirv *sp)
{
    const uint32_t *w = sp->code;
    const size_t n = sp->size / 4;
    uint32_t glsl_set = 0;
    int fma = 0;
    for (size_t i = 5; i < n;) {
        const uint32_t op = w[i] & 0xffff, wc = w[i] >> 16;
        if (wc == 0)
            break;
        if (op == 11 && i + 2 < n && memcmp(&w[i + 2], "GLSL.std.450", 12) == 0) /* OpExtInstImport */
            glsl_set = w[i + 1];
        if (op == 12 && i + 4 < n && w[i + 3] == glsl_set && w[i + 4] == 50) /* OpExtInst Fma */
            fma++;
        i += wc;
    }
    return fma;
}

static void test_no_fma(void)
{
    static const char *prefixes[] = {"mvq_", "mmq_", "get_rows_", "act_"};
    int checked = 0;
    for (int i = 0; i < hk_spirv_count; i++)
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
            if (strncmp(hk_spirv_table[i].name, prefixes[k], strlen(prefixes[k])) == 0) {
                const int f = count_fma(&hk_spirv_table[i]);
                CHECK(f == 0, "shader %s has %d fused multiply-adds", hk_spirv_table[i].name, f);
                checked++;
            }
    CHECK(checked >= 48, "only %d shaders checked for fused multiply-adds", checked);
}

/* ---------------------------------------------------------------- main */

static void test_errors(void)
{
    hk_error err = {{0}};
    uint8_t data[64] = {0};
    const hk_weight w = {HK_TYPE_IQ2_XXS, data, 256, 1, 66};
    CHECK(hk_vk_weight_upload(vk, &w, "blk.0.ffn_up.weight", &err) == NULL, "IQ2_XXS uploaded");
    CHECK(strstr(err.msg, "blk.0.ffn_up.weight") != NULL, "error names the tensor: %s", err.msg);

    /* products of one input must share its row length */
    test_weight a = make_weight(HK_TYPE_Q8_0, 64, 3), b = make_weight(HK_TYPE_Q8_0, 96, 3);
    hk_vk_weight *ga = hk_vk_weight_upload(vk, &a.w, "blk.1.attn_q.weight", &err);
    hk_vk_weight *gb = hk_vk_weight_upload(vk, &b.w, "blk.1.attn_k.weight", &err);
    hk_vk_buf *buf = dev_buf(NULL, 1024, "x");
    if (ga && gb && buf) {
        const hk_vk_mm_out outs[2] = {{ga, {buf, 0, 8}, NULL}, {gb, {buf, 0, 8}, NULL}};
        err.msg[0] = '\0';
        hk_vk_mm *mm = hk_vk_mm_new(vk, HK_MATMUL_EXACT, (hk_vk_rows){buf, 0, 96}, 2, outs, 2, &err);
        CHECK(mm == NULL && strstr(err.msg, "blk.1.attn_k.weight") != NULL, "mismatched rows: %s", err.msg);
        hk_vk_mm_free(vk, mm);
    }
    hk_vk_weight_free(vk, ga);
    hk_vk_weight_free(vk, gb);
    hk_vk_buf_free(vk, buf);
    free_weight(&a);
    free_weight(&b);
}

int main(void)
{
    hk_error err = {{0}};
    vk = hk_vk_open(-1, true, &err);
    if (!vk) {
        printf("test_vk_matmul: skipped, no Vulkan device: %s\n", err.msg);
        return 77;
    }
    const char *validate = getenv("HARK_VK_VALIDATE");
    if (validate && strcmp(validate, "1") == 0 && !hk_vk_validating(vk)) {
        printf("test_vk_matmul: skipped, HARK_VK_VALIDATE=1 but the validation layer is not available\n");
        hk_vk_close(vk);
        return 77;
    }
    const hk_vk_device_info *info = hk_vk_info(vk);
    printf("device: %s (%s), subgroup arithmetic: %s\n", info->name, hk_vk_device_type_name(info->type),
           info->subgroup_arith ? "yes" : "no");
    test_no_fma();
    best_level = hk_cpu_level_active();
    hk_cpu_level_set(HK_CPU_SCALAR); /* the CPU backends of the references */
    pool = hk_pool_new(1);
    cmd = hk_vk_cmd_new(vk, &err);
    CHECK(cmd != NULL, "command buffer: %s", err.msg);
    if (cmd) {
        test_errors();
        test_matmul(false);
        test_mixed();
        test_one_block();
        test_tall(HK_TYPE_F32, HK_MATMUL_EXACT);
        test_tall(HK_TYPE_Q4_0, HK_MATMUL_LLAMACPP);
        test_get_rows(false);
        test_variants();
        /* parts of a few rows each, and the shared-memory reduction */
        setenv("HARK_VK_SPLIT_BYTES", "1000", 1);
        setenv("HARK_VK_SUBGROUPS", "0", 1);
        test_matmul(true);
        test_get_rows(true);
        test_variants();
        unsetenv("HARK_VK_SPLIT_BYTES");
        unsetenv("HARK_VK_SUBGROUPS");
        /* a real tensor over the limit where that costs little memory (lavapipe:
         * 128 MiB); a GPU with a 4 GiB range would need a 4 GiB weight */
        if (info->max_storage_range <= (256u << 20))
            test_big();
        else
            printf("  big weight: skipped, maxStorageBufferRange is %llu MiB\n",
                   (unsigned long long)(info->max_storage_range >> 20));
        hk_vk_cmd_free(vk, cmd);
    }
    CHECK(hk_vk_validation_errors(vk) == 0, "%d validation errors", hk_vk_validation_errors(vk));
    hk_pool_free(pool);
    hk_vk_close(vk);
    return hk_check_done("vk_matmul");
}

#else

int main(void)
{
    printf("test_vk_matmul: skipped, this hark was built without Vulkan\n");
    return 77;
}

#endif
