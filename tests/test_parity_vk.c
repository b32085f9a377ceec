/* Parity of the transformer on a Vulkan device (engine/vk/vk_lm.c, through
 * sessions with backend HK_BACKEND_VULKAN, lavapipe allowed), on every
 * fixture model and golden, as test_parity.c does on the CPU:
 *   exact  vs *.dequant.kvf32 (F32 files: *.kvf32): REL_TOL_EXACT (1e-4);
 *   kvf32, kvf16 (llama.cpp's activation and F16 roundings) vs their
 *          goldens: FLIP_CEIL (2.5%), and the greedy ids up to the first
 *          step whose margin is below GREEDY_MARGIN.
 * The CPU test also demands a minimum share of bit-level matches; that does
 * not carry over: its bit-level matches come from copying llama.cpp's x86
 * summation orders, which a GPU (a tree of workgroup partial sums, another
 * order on every device) cannot copy, so each one-ulp difference may flip
 * an int8 or F16 rounding anywhere.  What stays is the ceiling, which a
 * systematic error (a missing rounding, a wrong RoPE) exceeds.
 *
 * Then: one-token steps (one recorded command buffer, reused with new
 * values in the step buffer) give the logits of one batch of the same
 * tokens; the context shift on the device gives the logits the CPU's shift
 * gives; logits read back in chunks equal those read at once; a KV cache
 * in several buffers (parts: what a layer larger than maxStorageBufferRange
 * takes, forced small with HARK_VK_KV_PART_BYTES) and the split one-token
 * attention (HARK_VK_ATTN_SPLIT) give the logits of the one-buffer,
 * one-workgroup attention and of the CPU, at a few hundred cells.  With
 * HARK_VK_VALIDATE=1 every session must end without a validation error.
 * Exit 77 (skipped) only when there is no Vulkan device at all. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_impl.h"
#include "parity_common.h"
#include "vk/vk.h"
#include "vk/vk_lm.h"

/* Tolerance of the two tests below with an F16 cache: K and V are rounded to
 * F16 when stored, so a one-ulp difference upstream (another matmul kernel,
 * another summation order) flips a rounding by an F16 ulp (5e-4 relative)
 * and moves the logits.  Measured on lavapipe: 3e-5 (steps vs batch,
 * llama-tied-Q4_K_M), 1.2e-4 (shifts, stories260K); a shift that moves the
 * cells without re-roping the keys gives 1.6e-2 (qwen2) to 0.21 (stories). */
#define KV_F16_TOL 1e-3

static hk_session *session_on(hk_model *m, hk_matmul_mode mm, hk_type kv, int32_t n_ctx, hk_backend_kind backend,
                              int32_t n_keep)
{
    hk_session_params p = hk_session_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = 64;
    p.kv_type = kv;
    p.matmul = mm;
    p.n_threads = 1;
    p.backend = backend;
    p.ctx_shift = n_keep >= 0;
    p.n_keep = n_keep >= 0 ? n_keep : 0;
    hk_error err = {{0}};
    hk_session *s = hk_session_new(m, &p, &err);
    CHECK(s != NULL, "session: %s", err.msg);
    return s;
}

/* A session on the Vulkan device, or NULL (a failed CHECK) when it fell
 * back to the CPU: a silent fallback would test the CPU twice. */
static hk_session *vk_session(hk_model *m, hk_matmul_mode mm, hk_type kv, int32_t n_ctx, int32_t n_keep)
{
    hk_session *s = session_on(m, mm, kv, n_ctx, HK_BACKEND_VULKAN, n_keep);
    if (s && strncmp(hk_session_backend_name(s), "vulkan", 6) != 0) {
        CHECK(0, "%s: the session runs on %s, not on Vulkan", hk_model_path(m), hk_session_backend_name(s));
        hk_session_free(s);
        return NULL;
    }
    return s;
}

/* Ends a Vulkan session: still on the device, no validation errors. */
static void vk_end(hk_session *s, const char *what)
{
    if (!s)
        return;
    CHECK(s->vk != NULL, "%s: the session fell back to the CPU", what);
    if (s->vk)
        CHECK(hk_vk_validation_errors(s->vk) == 0, "%s: %d Vulkan validation errors", what,
              hk_vk_validation_errors(s->vk));
    hk_session_free(s);
}

static void check_rel(int mi, double rel, const char *name, const char *what)
{
    if (mi == 0)
        CHECK(rel <= REL_TOL_EXACT, "%s exact: %s rel rms %.3g > %g", name, what, rel, REL_TOL_EXACT);
    else
        CHECK(rel <= FLIP_CEIL, "%s %s: %s rel rms %.3g > %g", name, MODES[mi].label, what, rel, FLIP_CEIL);
}

/* The golden greedy run fed back one token at a time (teacher forcing):
 * every step's row against *.greedy_logits.f32, argmax against the ids. */
static void greedy_steps(hk_session *s, const char *name, int mi, int nv, char *report, size_t report_size)
{
    int n_ids, n_mar;
    int32_t *ids = read_ids(golden(name, greedy_ids_suffix(mi)), &n_ids);
    double *mar = read_numbers(golden(name, greedy_margins_suffix(mi)), &n_mar);
    size_t n_rows = 0;
    float *rows = exists(golden(name, greedy_rows_suffix(mi))) ? read_f32(golden(name, greedy_rows_suffix(mi)), &n_rows)
                                                               : NULL;
    CHECK(ids && mar && n_ids >= GREEDY_STEPS && n_mar >= GREEDY_STEPS, "%s: greedy goldens", name);
    if (!ids || !mar || n_ids < GREEDY_STEPS || n_mar < GREEDY_STEPS)
        goto out;
    int cutoff = GREEDY_STEPS, same = 0;
    for (int k = 0; k < GREEDY_STEPS; k++)
        if (mar[k] < GREEDY_MARGIN) {
            cutoff = k;
            break;
        }
    diff_acc acc = {0};
    hk_error err = {{0}};
    for (int k = 0; k < GREEDY_STEPS; k++) {
        if (k > 0 && hk_session_decode(s, &ids[k - 1], 1, false, &err)) {
            CHECK(0, "%s: step %d: %s", name, k, err.msg);
            break;
        }
        const float *row = hk_session_logits(s, -1);
        const int got = argmax(row, nv);
        if (k < cutoff) {
            CHECK(got == ids[k], "%s %s: greedy step %d: %d, golden %d (margin %.3g)", name, MODES[mi].label, k, got,
                  ids[k], mar[k]);
            same += got == ids[k];
        }
        if (rows && n_rows >= (size_t)(k + 1) * (size_t)nv)
            diff_add(&acc, row, rows + (size_t)k * (size_t)nv, (size_t)nv);
    }
    if (acc.g2 > 0) {
        check_rel(mi, diff_rel(&acc), name, "greedy rows");
        snprintf(report, report_size, "%2d/%-2d ids, rows %.2e", same, cutoff, diff_rel(&acc));
    } else {
        snprintf(report, report_size, "%2d/%-2d ids", same, cutoff);
    }
out:
    free(ids);
    free(mar);
    free(rows);
}

/* The 32-token batch (every row kept) against its golden, then the greedy steps. */
static void run_variant(hk_model *m, const char *name, int mi, bool greedy)
{
    const int nv = hk_model_n_vocab(m);
    int n_tok;
    int32_t *tok = read_ids(golden(name, "tokens.txt"), &n_tok);
    bool dequant;
    const char *gsuf = logits_golden(name, mi, &dequant);
    size_t ng = 0;
    float *gl = read_f32(golden(name, gsuf), &ng);
    CHECK(tok && n_tok > 0 && gl && ng == (size_t)n_tok * (size_t)nv, "%s.%s: missing goldens", name, gsuf);
    hk_session *s = tok && gl && n_tok > 0 ? vk_session(m, MODES[mi].mm, MODES[mi].kv, 64, -1) : NULL;
    if (!s)
        goto out;
    hk_error err = {{0}};
    if (hk_session_decode(s, tok, n_tok, true, &err)) {
        CHECK(0, "%s: decode: %s", name, err.msg);
        goto out;
    }
    diff_acc acc = {0};
    for (int i = 0; i < n_tok; i++)
        diff_add(&acc, hk_session_logits(s, i), gl + (size_t)i * (size_t)nv, (size_t)nv);
    check_rel(mi, diff_rel(&acc), name, gsuf);
    char report[128] = "-";
    if (greedy)
        greedy_steps(s, name, mi, nv, report, sizeof report);
    printf("  %-22s %-6s %-9s rel %.2e  max %.2e  %s\n", name, MODES[mi].label, dequant ? "(dequant)" : "",
           diff_rel(&acc), acc.max, report);
out:
    vk_end(s, name);
    free(tok);
    free(gl);
}

/* 200 greedy tokens from BOS alone, free running, must be llama.cpp's. */
static void stories_bos(hk_model *m, int mi)
{
    const int nv = hk_model_n_vocab(m);
    int n_ids, n_bos;
    int32_t *want = read_ids(golden("stories260K.bos", greedy_ids_suffix(mi)), &n_ids);
    int32_t *bos = read_ids(golden("stories260K.bos", "tokens.txt"), &n_bos);
    CHECK(want && n_ids == STORIES_STEPS && bos && n_bos == 1, "stories260K.bos goldens");
    hk_session *s = want && n_ids == STORIES_STEPS && bos ? vk_session(m, MODES[mi].mm, MODES[mi].kv, 256, -1) : NULL;
    int same = 0;
    if (s) {
        hk_error err = {{0}};
        int32_t t = bos[0];
        for (int k = 0; k < STORIES_STEPS; k++) {
            if (hk_session_decode(s, &t, 1, false, &err)) {
                CHECK(0, "stories260K step %d: %s", k, err.msg);
                break;
            }
            t = argmax(hk_session_logits(s, -1), nv);
            if (t != want[k])
                break;
            same++;
        }
        CHECK(same == STORIES_STEPS, "stories260K.bos %s: first %d of %d greedy ids match", MODES[mi].label, same,
              STORIES_STEPS);
        printf("  %-22s %-6s %-9s %d/%d greedy ids\n", "stories260K.bos", MODES[mi].label, "", same, STORIES_STEPS);
    }
    vk_end(s, "stories260K.bos");
    free(want);
    free(bos);
}

static void parity_all(void)
{
    int n;
    char **names = fixture_models(&n);
    CHECK(n >= 17, "only %d models in %s", n, hk_shared_path("fixtures/llm/models"));
    printf("model                    mode             logits vs golden              greedy (ids matched/checked, "
           "step rows rel rms)\n");
    for (int i = 0; i < n; i++) {
        hk_model *m = load_fixture(names[i]);
        const bool stories = strcmp(names[i], "stories260K") == 0;
        char variant[300];
        snprintf(variant, sizeof variant, "%s%s", names[i], stories ? ".prompt" : "");
        for (int mi = 0; m && mi < 3; mi++) {
            bool dequant;
            logits_golden(variant, mi, &dequant);
            run_variant(m, variant, mi, !stories && (mi > 0 || !dequant));
            if (stories)
                stories_bos(m, mi);
        }
        hk_model_free(m);
        free(names[i]);
    }
    free(names);
}

/* Tokens for the tests below: the model's golden token list, cycled. */
static int32_t *test_tokens(const char *name, int n)
{
    int n_tok;
    int32_t *tok = read_ids(golden(name, "tokens.txt"), &n_tok);
    CHECK(tok && n_tok > 0, "%s: tokens", name);
    if (!tok || n_tok <= 0) {
        free(tok);
        return NULL;
    }
    int32_t *out = malloc(sizeof *out * (size_t)n);
    for (int i = 0; i < n; i++)
        out[i] = tok[(i * 7 + i / n_tok) % n_tok]; /* a different order on each pass */
    free(tok);
    return out;
}

/* One-token steps, each through the command buffer recorded for the
 * first one (positions, token ids and RoPE rows change only in the step
 * buffer), against one batch of the same tokens. */
static void steps_vs_batch(const char *name, const char *tokens_of, hk_type kv)
{
    enum { N = 32 };
    hk_model *m = load_fixture(name);
    int32_t *tok = m ? test_tokens(tokens_of, N) : NULL;
    hk_session *a = tok ? vk_session(m, HK_MATMUL_EXACT, kv, 64, -1) : NULL;
    hk_session *b = tok ? vk_session(m, HK_MATMUL_EXACT, kv, 64, -1) : NULL;
    if (a && b) {
        const int nv = hk_model_n_vocab(m);
        hk_error err = {{0}};
        CHECK(hk_session_decode(b, tok, N, true, &err) == 0, "%s", err.msg);
        diff_acc acc = {0};
        for (int i = 0; i < N; i++) {
            CHECK(hk_session_decode(a, &tok[i], 1, false, &err) == 0, "%s", err.msg);
            const float *ra = hk_session_logits(a, -1), *rb = hk_session_logits(b, i);
            if (ra && rb)
                diff_add(&acc, ra, rb, (size_t)nv);
        }
        /* only the matmul kernels differ (matrix-vector vs tiled): summation order */
        const double tol = kv == HK_TYPE_F16 ? KV_F16_TOL : REL_TOL_EXACT;
        CHECK(diff_rel(&acc) <= tol, "%s %s: one-token steps vs one batch: rel rms %.3g", name, hk_type_name(kv),
              diff_rel(&acc));
        printf("%s (KV %s): %d one-token steps vs one batch: rel rms %.2e, max %.2e\n", name, hk_type_name(kv), N,
               diff_rel(&acc), acc.max);
    }
    vk_end(a, name);
    vk_end(b, name);
    free(tok);
    hk_model_free(m);
}

/* Sets HARK_VK_KV_PART_BYTES to part_cells cells of m's cache of type kv
 * (0: unsets it), HARK_VK_ATTN_SPLIT to split (0: unsets it). */
static void kv_env(const hk_model *m, hk_type kv, int part_cells, int split)
{
    char v[32];
    const int64_t row = m->head_dim_k > m->head_dim_v ? m->head_dim_k : m->head_dim_v;
    snprintf(v, sizeof v, "%lld", (long long)part_cells * m->n_head_kv * row * (kv == HK_TYPE_F16 ? 2 : 4));
    if (part_cells)
        setenv("HARK_VK_KV_PART_BYTES", v, 1);
    else
        unsetenv("HARK_VK_KV_PART_BYTES");
    snprintf(v, sizeof v, "%d", split);
    if (split)
        setenv("HARK_VK_ATTN_SPLIT", v, 1);
    else
        unsetenv("HARK_VK_ATTN_SPLIT");
}

/* Whether session s's attention runs as asked: n_parts parts, split chunks
 * a part for one-token steps. */
static bool layout_is(hk_session *s, int n_parts, int split, const char *what)
{
    int parts = 0, cells = 0, sp = 0;
    if (s && s->gpu)
        hk_vk_lm_attention_layout(s->gpu, &parts, &cells, &sp);
    CHECK(parts == n_parts && sp == split, "%s: %d parts of %d cells, split %d; asked for %d parts, split %d", what,
          parts, cells, sp, n_parts, split);
    return parts == n_parts && sp == split;
}

/* The context shift (hk_vk_lm_shift: cells moved on the device, keys
 * re-roped there) against the CPU's (memmove + hk_kv_rerope): a 32-cell
 * context that keeps 4 tokens and shifts every 14, 60 tokens through it.
 * part_cells > 0: the cache in parts of that many cells, so that moves
 * cross from one part's buffers to another's. */
static void shift_vs_cpu(const char *name, const char *tokens_of, hk_type kv, int part_cells)
{
    enum { N_CTX = 32, N_KEEP = 4, N_STEPS = 60 };
    hk_model *m = load_fixture(name);
    int32_t *tok = m ? test_tokens(tokens_of, N_STEPS + N_CTX) : NULL;
    hk_session *c = tok ? session_on(m, HK_MATMUL_EXACT, kv, N_CTX, HK_BACKEND_CPU, N_KEEP) : NULL;
    if (m)
        kv_env(m, kv, part_cells, 0);
    hk_session *g = tok ? vk_session(m, HK_MATMUL_EXACT, kv, N_CTX, N_KEEP) : NULL;
    kv_env(m, kv, 0, 0);
    if (g && part_cells && !layout_is(g, (N_CTX + part_cells - 1) / part_cells, 1, name)) {
        vk_end(g, name);
        g = NULL;
    }
    if (c && g) {
        const int nv = hk_model_n_vocab(m);
        hk_error err = {{0}};
        CHECK(hk_session_decode(c, tok, N_CTX, false, &err) == 0, "%s", err.msg);
        CHECK(hk_session_decode(g, tok, N_CTX, false, &err) == 0, "%s", err.msg);
        diff_acc acc = {0};
        int shifts = 0;
        for (int k = 0; k < N_STEPS; k++) {
            const int32_t before = hk_session_pos(g);
            CHECK(hk_session_decode(c, &tok[N_CTX + k], 1, false, &err) == 0, "%s", err.msg);
            CHECK(hk_session_decode(g, &tok[N_CTX + k], 1, false, &err) == 0, "%s", err.msg);
            shifts += hk_session_pos(g) <= before;
            CHECK(hk_session_pos(g) == hk_session_pos(c), "positions %d vs %d", hk_session_pos(g), hk_session_pos(c));
            const float *rc = hk_session_logits(c, -1), *rg = hk_session_logits(g, -1);
            if (rc && rg)
                diff_add(&acc, rg, rc, (size_t)nv);
        }
        CHECK(shifts >= 3, "%s: only %d context shifts", name, shifts);
        const double tol = kv == HK_TYPE_F16 ? KV_F16_TOL : REL_TOL_EXACT;
        CHECK(diff_rel(&acc) <= tol, "%s %s: after %d shifts the logits differ from the CPU's by %.3g", name,
              hk_type_name(kv), shifts, diff_rel(&acc));
        printf("%s (KV %s%s): %d context shifts on the device, logits vs the CPU's: rel rms %.2e, max %.2e\n", name,
               hk_type_name(kv), part_cells ? ", cache in parts" : "", shifts, diff_rel(&acc), acc.max);
    }
    hk_session_free(c);
    vk_end(g, name);
    free(tok);
    hk_model_free(m);
}

/* A context of a few hundred cells: a PROMPT-token batch (every row) and
 * then STEPS one-token steps, with the cache in parts of part_cells cells
 * (0: one buffer) and one-token steps split in `split` chunks a part,
 * against the one-buffer, one-workgroup attention (HARK_VK_ATTN_SPLIT=1)
 * and against the CPU.  The split one-token steps reach n_kv 289..312, so
 * that with split 5 every chunk (>= 64 cells, attention.comp's MIN_CHUNK)
 * holds cells. */
static void long_context(const char *name, hk_type kv, int part_cells, int split)
{
    enum { N_CTX = 320, PROMPT = 288, STEPS = 24 };
    hk_model *m = load_fixture(name);
    int32_t *tok = m ? test_tokens(name, PROMPT + STEPS) : NULL;
    hk_session *r = NULL, *x = NULL, *c = NULL;
    if (tok) {
        kv_env(m, kv, 0, 1);
        r = vk_session(m, HK_MATMUL_EXACT, kv, N_CTX, -1);
        kv_env(m, kv, part_cells, split);
        x = vk_session(m, HK_MATMUL_EXACT, kv, N_CTX, -1);
        kv_env(m, kv, 0, 0);
        c = session_on(m, HK_MATMUL_EXACT, kv, N_CTX, HK_BACKEND_CPU, -1);
    }
    char what[160];
    snprintf(what, sizeof what, "%s (KV %s, %d-cell parts, split %d)", name, hk_type_name(kv), part_cells, split);
    if (r && x && c && layout_is(r, 1, 1, what) &&
        layout_is(x, part_cells ? (N_CTX + part_cells - 1) / part_cells : 1, split, what)) {
        const int nv = hk_model_n_vocab(m);
        hk_error err = {{0}};
        diff_acc xr = {0}, xc = {0}, sxr = {0}, sxc = {0};
        CHECK(hk_session_decode(r, tok, PROMPT, true, &err) == 0, "%s", err.msg);
        CHECK(hk_session_decode(x, tok, PROMPT, true, &err) == 0, "%s", err.msg);
        CHECK(hk_session_decode(c, tok, PROMPT, true, &err) == 0, "%s", err.msg);
        for (int i = 0; i < PROMPT; i++) {
            const float *rx = hk_session_logits(x, i), *rr = hk_session_logits(r, i), *rc = hk_session_logits(c, i);
            if (rx && rr && rc) {
                diff_add(&xr, rx, rr, (size_t)nv);
                diff_add(&xc, rx, rc, (size_t)nv);
            }
        }
        for (int k = 0; k < STEPS; k++) {
            const int32_t t = tok[PROMPT + k];
            CHECK(hk_session_decode(r, &t, 1, false, &err) == 0, "%s", err.msg);
            CHECK(hk_session_decode(x, &t, 1, false, &err) == 0, "%s", err.msg);
            CHECK(hk_session_decode(c, &t, 1, false, &err) == 0, "%s", err.msg);
            const float *rx = hk_session_logits(x, -1), *rr = hk_session_logits(r, -1), *rc = hk_session_logits(c, -1);
            if (rx && rr && rc) {
                diff_add(&sxr, rx, rr, (size_t)nv);
                diff_add(&sxc, rx, rc, (size_t)nv);
            }
        }
        /* F32: the same products in another summation order (per-chunk
         * online softmax, then the merge); F16: that order may also flip an
         * F16 rounding of P, as in the tests above */
        const double tol = kv == HK_TYPE_F16 ? KV_F16_TOL : REL_TOL_EXACT;
        CHECK(diff_rel(&xr) <= tol && diff_rel(&sxr) <= tol, "%s: vs one buffer, one workgroup: batch %.3g, steps %.3g",
              what, diff_rel(&xr), diff_rel(&sxr));
        CHECK(diff_rel(&xc) <= tol && diff_rel(&sxc) <= tol, "%s: vs the CPU: batch %.3g, steps %.3g", what,
              diff_rel(&xc), diff_rel(&sxc));
        printf("%s: %d-token batch, %d steps to n_kv %d; vs unsplit: rel rms %.2e / %.2e (max %.2e), vs the CPU: "
               "%.2e / %.2e\n",
               what, PROMPT, STEPS, PROMPT + STEPS, diff_rel(&xr), diff_rel(&sxr), sxr.max, diff_rel(&xc),
               diff_rel(&sxc));
    }
    vk_end(r, what);
    vk_end(x, what);
    hk_session_free(c);
    free(tok);
    hk_model_free(m);
}

/* An all-logits batch longer than the rows of logits the device keeps
 * (HARK_VK_LOGITS_ROWS=5: 32 rows in 7 chunks, 6 of them computed and read
 * back after the step, final soft-cap on each) against one readback. */
static void chunked_logits(void)
{
    enum { N = 32 };
    hk_model *m = load_fixture("gemma2-Q8_0");
    int32_t *tok = m ? test_tokens("gemma2-Q8_0", N) : NULL;
    hk_session *a = tok ? vk_session(m, HK_MATMUL_EXACT, HK_TYPE_F32, 64, -1) : NULL;
    setenv("HARK_VK_LOGITS_ROWS", "5", 1);
    hk_session *b = tok ? vk_session(m, HK_MATMUL_EXACT, HK_TYPE_F32, 64, -1) : NULL;
    unsetenv("HARK_VK_LOGITS_ROWS");
    if (a && b) {
        hk_error err = {{0}};
        CHECK(hk_session_decode(a, tok, N, true, &err) == 0, "%s", err.msg);
        CHECK(hk_session_decode(b, tok, N, true, &err) == 0, "%s", err.msg);
        const int nv = hk_model_n_vocab(m);
        diff_acc acc = {0};
        for (int i = 0; i < N; i++)
            if (hk_session_logits(a, i) && hk_session_logits(b, i))
                diff_add(&acc, hk_session_logits(b, i), hk_session_logits(a, i), (size_t)nv);
        /* the same kernels on fewer rows at a time: at most summation order */
        CHECK(diff_rel(&acc) <= REL_TOL_EXACT, "logits in chunks of 5 rows: rel rms %.3g", diff_rel(&acc));
        printf("gemma2-Q8_0: 32 rows of logits in chunks of 5 vs one readback: rel rms %.2e\n", diff_rel(&acc));
    }
    vk_end(a, "gemma2-Q8_0");
    vk_end(b, "gemma2-Q8_0 (chunks)");
    free(tok);
    hk_model_free(m);
}

int main(void)
{
    hk_vk_device_info dev[16];
    hk_error err = {{0}};
    const int n_dev = hk_vk_list(dev, 16, &err);
    if (n_dev <= 0) {
        printf("parity_vk: skipped: no Vulkan device (%s)\n", n_dev < 0 ? err.msg : "the loader lists none");
        return 77;
    }
    const char *validate = getenv("HARK_VK_VALIDATE");
    printf("Vulkan devices: %d; the sessions pick one as hark does (HARK_DEVICE to choose)%s\n", n_dev,
           validate && strcmp(validate, "1") == 0 ? "; validation on" : "");
    parity_all();
    steps_vs_batch("llama-tied-Q4_K_M", "llama-tied-Q4_K_M", HK_TYPE_F32);
    steps_vs_batch("llama-tied-Q4_K_M", "llama-tied-Q4_K_M", HK_TYPE_F16);
    steps_vs_batch("gemma2-Q8_0", "gemma2-Q8_0", HK_TYPE_F32); /* window 8 < 32, soft-caps, 26 layers */
    shift_vs_cpu("stories260K", "stories260K.prompt", HK_TYPE_F32, 0);
    shift_vs_cpu("stories260K", "stories260K.prompt", HK_TYPE_F16, 0);
    shift_vs_cpu("qwen2-Q8_0", "qwen2-Q8_0", HK_TYPE_F16, 0); /* NEOX pairs */
    shift_vs_cpu("stories260K", "stories260K.prompt", HK_TYPE_F32, 10); /* parts of 10, 10, 10, 2 cells */
    shift_vs_cpu("stories260K", "stories260K.prompt", HK_TYPE_F16, 10);
    /* ~33 s on lavapipe for these five (2 cores, shared) */
    long_context("llama-tied-Q4_K_M", HK_TYPE_F16, 40, 1);  /* 8 parts */
    long_context("llama-tied-Q4_K_M", HK_TYPE_F32, 100, 2); /* parts of 100, 100, 100, 20 cells, 2 chunks each */
    long_context("llama-tied-Q4_K_M", HK_TYPE_F32, 0, 5);   /* one part, 5 chunks */
    long_context("llama-tied-Q4_K_M", HK_TYPE_F16, 0, 5);
    long_context("gemma2-Q8_0", HK_TYPE_F16, 100, 3); /* 4 parts, 3 chunks each; window, soft-caps */
    chunked_logits();
    return hk_check_done("parity_vk");
}
