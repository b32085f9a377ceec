/* hark bench / mkmodel: measuring speed.
 *
 * bench follows llama-bench's method so the numbers compare with it: a
 * prompt test (ppN) evaluates N random tokens as one batch in an empty
 * cache, a generation test (tgN) decodes N random tokens one at a time from
 * an empty cache; each test runs once to warm up and then REPS times, and
 * the table shows the mean and standard deviation of tokens/s.  For
 * generation it also shows the roofline: the bytes of weights one token
 * reads against the machine's read bandwidth, measured here. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cpu/kernels.h"
#include "gguf.h"
#include "membw.h"
#include "mkmodel.h"
#include "model.h"
#include "quantize.h"
#include "vk/vk.h"

/* ---------------------------------------------------------------- mkmodel */

static void print_shapes(void)
{
    printf("%-14s %-7s %6s %6s %6s %5s %4s %5s %7s %7s %s\n", "shape", "arch", "embd", "ff", "layers", "heads",
           "kv", "hdim", "vocab", "tied", "from");
    for (size_t i = 0; hk_shape_at(i); i++) {
        const hk_shape *s = hk_shape_at(i);
        printf("%-14s %-7s %6d %6d %6d %5d %4d %5d %7d %7s %s\n", s->name, s->arch, s->n_embd, s->n_ff, s->n_layer,
               s->n_head, s->n_head_kv, s->head_dim, s->n_vocab, s->tied ? "yes" : "no", s->source);
    }
}

int cmd_mkmodel(int argc, char **argv)
{
    hk_mkmodel_params p = hk_mkmodel_default_params();
    const char *out = NULL, *shape = NULL, *type = NULL;
    int64_t v;
    cli_args c = {"mkmodel", argc, argv, 1, false};
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark mkmodel --shape NAME --type TYPE -o FILE [--layers N] [--seed S] [-t THREADS]\n"
                   "       hark mkmodel --list\n"
                   "Write a GGUF model with random weights and the exact tensor names, shapes, per-tensor\n"
                   "types and metadata of a real model, to measure speed without downloading it.\n\n"
                   "  --shape NAME     qwen2.5-0.5b qwen2.5-1.5b qwen2.5-3b llama3.2-1b llama3.2-3b\n"
                   "                   smollm2-360m smollm2-1.7b gemma2-2b phi3-mini (--list shows them)\n"
                   "  --type TYPE      file type as llama-quantize takes it: F32 F16 BF16 Q8_0 Q4_0 Q4_1\n"
                   "                   Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K\n"
                   "  -o, --out FILE   where to write it\n"
                   "  --layers N       N transformer blocks instead of the real number (small test files)\n"
                   "  --seed S         seed of the random values (default 42)\n"
                   "  -t, --threads N  threads that generate and quantize (default: all CPUs)\n");
            return 0;
        } else if (cli_opt(&c, NULL, "--list")) {
            print_shapes();
            return 0;
        } else if (cli_opt(&c, "-s", "--shape")) {
            shape = cli_value(&c);
        } else if (cli_opt(&c, NULL, "--type")) {
            type = cli_value(&c);
        } else if (cli_opt(&c, "-o", "--out")) {
            out = cli_value(&c);
        } else if (cli_opt(&c, NULL, "--layers")) {
            if (cli_int(&c, 1, 4096, &v))
                p.n_layer = (int32_t)v;
        } else if (cli_opt(&c, NULL, "--seed")) {
            if (cli_int(&c, 0, INT64_MAX, &v))
                p.seed = (uint64_t)v;
        } else if (cli_opt(&c, "-t", "--threads")) {
            if (cli_int(&c, 1, 1024, &v))
                p.n_threads = (int)v;
        } else {
            return cli_error("mkmodel: unknown argument '%s' (see hark mkmodel --help)", argv[c.i]);
        }
    }
    if (c.bad)
        return 2;
    if (!shape || !type || !out)
        return cli_error("mkmodel: --shape, --type and -o are required (see hark mkmodel --help)");
    p.shape = shape;
    p.ftype = type;
    hk_error err;
    if (hk_mkmodel_write(out, &p, &err))
        return cli_error("mkmodel: %s", err.msg);
    return 0;
}

/* ---------------------------------------------------------------- bench options */

enum { MAX_LIST = 32 };

typedef struct int_list {
    int n;
    int v[MAX_LIST];
} int_list;

/* "128" or "128,256,512" into l (replacing what an earlier option gave). */
static bool parse_list(cli_args *c, int lo, int hi, int_list *l)
{
    const char *name = c->argv[c->i];
    const char *s = cli_value(c);
    if (!s)
        return false;
    l->n = 0;
    for (const char *p = s;;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || (*end && *end != ',') || x < lo || x > hi || l->n == MAX_LIST) {
            cli_error("%s: %s expects integers from %d to %d, comma-separated (at most %d), got '%s'", c->cmd, name,
                      lo, hi, MAX_LIST, s);
            c->bad = true;
            return false;
        }
        l->v[l->n++] = (int)x;
        if (!*end)
            return true;
        p = end + 1;
    }
}

/* ---------------------------------------------------------------- measurement */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

/* The bandwidth measurement's 1 GiB buffer would count in this process's
 * peak RSS, which bench reports for the model, so it runs in a child.  Called
 * before any session exists, so the fork copies no running threads. */
static double measure(int n_threads, int64_t mib)
{
    return mib ? hk_measure_read_bandwidth_ex(n_threads, (size_t)mib << 20, 8) : hk_measure_read_bandwidth(n_threads);
}

typedef struct probe {
    int n_threads;
    int64_t mib;
    const hk_session_params *session; /* for the device probe */
    char device[256];                 /* its name, set in the child */
} probe;

static double cpu_probe(probe *p) { return measure(p->n_threads, p->mib); }

/* fn(p) in a child process; the result, and p->device, come back by a pipe. */
static double in_child(double (*fn)(probe *), probe *p)
{
    int fds[2];
    if (pipe(fds))
        return fn(p);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return fn(p);
    }
    if (pid == 0) {
        close(fds[0]);
        double gbs = fn(p);
        if (write(fds[1], p->device, sizeof p->device) != (ssize_t)sizeof p->device)
            _exit(1);
        ssize_t w = write(fds[1], &gbs, sizeof gbs);
        _exit(w == (ssize_t)sizeof gbs ? 0 : 1);
    }
    close(fds[1]);
    double gbs = -1;
    ssize_t r;
    do
        r = read(fds[0], p->device, sizeof p->device);
    while (r < 0 && errno == EINTR);
    p->device[sizeof p->device - 1] = 0;
    do
        r = read(fds[0], &gbs, sizeof gbs);
    while (r < 0 && errno == EINTR);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)sizeof gbs ? gbs : -1;
}

/* The read bandwidth of the Vulkan device the sessions will use (the same
 * choice rules), measured with a shader; -1 when there is no such device or
 * it cannot be measured.  In a child too: on a CPU driver or a UMA device its
 * buffer is this process's memory. */
static double device_probe(probe *p)
{
    if (p->session->backend == HK_BACKEND_CPU)
        return -1;
    hk_error err;
    hk_vk *vk = hk_vk_open(p->session->device, p->session->backend == HK_BACKEND_VULKAN, &err);
    if (!vk)
        return -1;
    snprintf(p->device, sizeof p->device, "%s", hk_vk_info(vk)->name);
    double gbs = hk_vk_measure_read_bandwidth(vk, 0, 5, &err);
    hk_vk_close(vk);
    return gbs;
}

/* What a model file is, as llama-bench describes it. */
typedef struct model_info {
    char type[32];            /* "Q4_K_M" (general.file_type) or the type most weight bytes have */
    uint64_t size;            /* bytes of all tensors */
    uint64_t params;          /* elements of all tensors */
    uint64_t bytes_per_token; /* weight bytes one generated token reads */
    uint64_t run_lo, run_hi;  /* the longest stretch of the file that generation reads whole */
} model_info;

typedef struct span {
    uint64_t lo, hi;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The longest stretch of the file covered by tensors that generation
 * reads whole (only padding between them), into mi->run_lo / run_hi. */
static void longest_run(span *sp, uint64_t n, uint32_t alignment, model_info *mi)
{
    qsort(sp, (size_t)n, sizeof *sp, span_cmp);
    for (uint64_t i = 0; i < n;) {
        uint64_t lo = sp[i].lo, hi = sp[i].hi;
        for (i++; i < n && sp[i].lo <= hi + alignment; i++)
            hi = sp[i].hi > hi ? sp[i].hi : hi;
        if (hi - lo > mi->run_hi - mi->run_lo) {
            mi->run_lo = lo;
            mi->run_hi = hi;
        }
    }
}

static void describe(const hk_model *m, model_info *mi)
{
    const hk_gguf *g = hk_model_gguf(m);
    /* gemma2 ties its output to the embeddings even when the file has an
     * output.weight (llama.cpp never reads it); hark does the same */
    const bool gemma = strcmp(hk_model_arch(m), "gemma2") == 0;
    const bool untied = !gemma && hk_gguf_find_tensor(g, "output.weight") != NULL;
    uint64_t by_type[HK_TYPE_COUNT] = {0};
    memset(mi, 0, sizeof *mi);
    span *read = malloc(sizeof *read * (g->n_tensors ? g->n_tensors : 1));
    uint64_t n_read = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const hk_gguf_tensor *t = &g->tensors[i];
        mi->size += t->nbytes;
        mi->params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if (t->n_dims >= 2 && t->type < HK_TYPE_COUNT)
            by_type[t->type] += t->nbytes;
        if (hk_str_eq(t->name, "token_embd.weight") && untied) {
            mi->bytes_per_token += hk_row_size((hk_type)t->type, t->ne[0]); /* one row is looked up */
        } else if (!(gemma && hk_str_eq(t->name, "output.weight"))) {
            mi->bytes_per_token += t->nbytes; /* tied embeddings: the whole matrix is the output */
            if (read)
                read[n_read++] = (span){g->data_offset + t->offset, g->data_offset + t->offset + t->nbytes};
        }
    }
    if (read)
        longest_run(read, n_read, g->alignment, mi);
    free(read);
    uint32_t ft;
    const char *name = hk_gguf_get_u32(g, "general.file_type", &ft) ? hk_ftype_name((int)ft) : NULL;
    if (!name) {
        int best = HK_TYPE_F32;
        for (int t = 0; t < HK_TYPE_COUNT; t++)
            if (by_type[t] > by_type[best])
                best = t;
        name = hk_type_name((uint32_t)best);
    }
    snprintf(mi->type, sizeof mi->type, "%s", name);
}

typedef struct result {
    double mean, sd;          /* tokens/s over the repetitions */
    bool gpu;                 /* ran on a Vulkan device (else the CPU) */
    double own_gbs;           /* tg on the CPU: read bandwidth of the model's own pages, or <= 0 */
} result;

/* One test: n_prompt tokens in one batch (pp), or n_gen single-token
 * decodes (tg), reps times after a warm-up.  Returns 0 or -1 (err). */
static int run_test(hk_model *m, const hk_session_params *base, int n_prompt, int n_gen, int threads, int reps,
                    result *res, hk_error *err)
{
    const int n = n_prompt ? n_prompt : n_gen;
    hk_session_params sp = *base;
    sp.n_ctx = n;
    sp.n_batch = n_prompt ? n_prompt : 1;
    sp.n_threads = threads;
    hk_session *s = hk_session_new(m, &sp, err);
    if (!s)
        return -1;
    int32_t *tokens = malloc(sizeof *tokens * (size_t)n);
    double *tps = malloc(sizeof *tps * (size_t)reps);
    int rc = -1;
    if (!tokens || !tps) {
        hk_fail(err, "out of memory");
        goto done;
    }
    /* random ids, as llama-bench uses: the content does not change the work */
    uint64_t state = 0x853c49e6748fea9bULL;
    const int32_t n_vocab = hk_model_n_vocab(m);
    for (int i = 0; i < n; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        tokens[i] = (int32_t)((state >> 33) % (uint64_t)n_vocab);
    }
    for (int r = -1; r < reps; r++) {
        /* an empty cache each time, as llama-bench clears it; the session
         * (threads, buffers) is reused so only decoding is timed */
        hk_session_truncate(s, 0);
        const double t0 = now_s();
        if (n_prompt) {
            if (hk_session_decode(s, tokens, n_prompt, false, err))
                goto done;
        } else {
            for (int i = 0; i < n_gen; i++)
                if (hk_session_decode(s, &tokens[i], 1, false, err))
                    goto done;
        }
        const double dt = now_s() - t0;
        if (r >= 0)
            tps[r] = n / dt;
    }
    double sum = 0, sq = 0;
    for (int r = 0; r < reps; r++)
        sum += tps[r];
    res->mean = sum / reps;
    for (int r = 0; r < reps; r++)
        sq += (tps[r] - res->mean) * (tps[r] - res->mean);
    res->sd = reps > 1 ? sqrt(sq / (reps - 1)) : 0.0;
    /* after the runs: a device lost on the way leaves the session on the CPU */
    res->gpu = strncmp(hk_session_backend_name(s), "vulkan", 6) == 0;
    rc = 0;
done:
    free(tps);
    free(tokens);
    hk_session_free(s);
    return rc;
}

/* ---------------------------------------------------------------- output */

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void human_bytes(char *out, size_t n, double b)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(out, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else
        snprintf(out, n, "%.2f MiB", b / (1024.0 * 1024));
}

static void human_count(char *out, size_t n, double c)
{
    if (c >= 1e9)
        snprintf(out, n, "%.2f B", c / 1e9);
    else
        snprintf(out, n, "%.2f M", c / 1e6);
}

/* The file name of a path, as the table shows models. */
static const char *file_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static const char TABLE_HEAD[] =
    "| model                          | type   |       size |   params | backend | threads |   test |"
    "              t/s |  MB/token | roofline t/s | % roofline |\n"
    "| ------------------------------ | ------ | ---------: | -------: | ------- | ------: | -----: |"
    " ---------------: | --------: | -----------: | ---------: |\n";

static void print_row(bool json, const char *path, const model_info *mi, int threads, const char *test, bool tg,
                      const result *r, double gbs)
{
    const char *backend = r->gpu ? "vulkan" : "cpu";
    const double roof = gbs > 0 ? gbs * 1e9 / (double)mi->bytes_per_token : 0;
    if (json) {
        printf("{\"model\": ");
        json_string(path);
        printf(", \"type\": ");
        json_string(mi->type);
        printf(", \"size_bytes\": %llu, \"params\": %llu, \"backend\": \"%s\", \"threads\": %d, \"test\": \"%s\", "
               "\"tokens_per_s\": %.4f, \"sd\": %.4f",
               (unsigned long long)mi->size, (unsigned long long)mi->params, backend, threads, test, r->mean, r->sd);
        if (tg) {
            printf(", \"bytes_per_token\": %llu", (unsigned long long)mi->bytes_per_token);
            if (gbs > 0)
                printf(", \"bandwidth_gbs\": %.3f, \"roofline_pct\": %.2f", gbs, 100.0 * r->mean / roof);
            else
                printf(", \"bandwidth_gbs\": null, \"roofline_pct\": null");
            if (r->own_gbs > 0)
                printf(", \"weights_bandwidth_gbs\": %.3f, \"weights_roofline_pct\": %.2f", r->own_gbs,
                       100.0 * r->mean * (double)mi->bytes_per_token / (r->own_gbs * 1e9));
        }
        printf(", \"peak_rss_mib\": %.1f}\n", peak_rss_mib());
    } else {
        const char *base = file_name(path);
        char size[32], params[32], tps[48], bpt[24] = "", rt[24] = "", pct[24] = "";
        human_bytes(size, sizeof size, (double)mi->size);
        human_count(params, sizeof params, (double)mi->params);
        snprintf(tps, sizeof tps, "%.2f ± %.2f", r->mean, r->sd);
        if (tg) {
            snprintf(bpt, sizeof bpt, "%.2f", (double)mi->bytes_per_token / 1e6);
            if (gbs > 0) {
                snprintf(rt, sizeof rt, "%.2f", roof);
                snprintf(pct, sizeof pct, "%.1f %%", 100.0 * r->mean / roof);
            }
        }
        /* "±" is two bytes but one column: one more byte of width */
        printf("| %-30.30s | %-6s | %10s | %8s | %-7s | %7d | %6s | %18s | %9s | %12s | %10s |\n", base, mi->type,
               size, params, backend, threads, test, tps, bpt, rt, pct);
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- bench */

/* A tg test's reading of the weights' own pages (table footer). */
enum { MAX_OWN = 256 };
typedef struct own_line {
    int model, threads, n_gen;
    double gbs, pct;
} own_line;

/* How much of a model was in memory after its tests, and in huge pages. */
typedef struct huge_use {
    bool known;
    uint64_t resident, huge;
} huge_use;

/* --cold: the file's clean cached pages dropped, so the model is read from
 * disk again (and, through hark's mapping, into 2 MiB folios where the
 * file system has them).  Pages another process maps stay.  0 or -1
 * (errno). */
static int drop_cached(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    if (rc) {
        errno = rc;
        return -1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *models[MAX_LIST];
    int n_models = 0;
    int_list pp = {1, {512}}, tg = {1, {128}}, th = {0, {0}};
    int64_t reps = 5, membw_mib = 0;
    bool json = false, cold = false;
    hk_session_params base = hk_session_default_params();
    cli_args c = {"bench", argc, argv, 1, false};
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark bench -m FILE [-m FILE ...] [-p 512] [-n 128] [-t THREADS] [-r REPS]\n"
                   "                  [--backend auto|cpu|vulkan] [--device N] [--json] [--cold]\n"
                   "Measure prompt (ppN) and generation (tgN) speed as llama-bench does: random tokens,\n"
                   "an empty cache per repetition, one warm-up run, then mean ± sd of tokens/s.  For\n"
                   "generation also the bytes of weights read per token, the machine's read bandwidth\n"
                   "(measured here; on a Vulkan device, the device's, read by a shader) and tg as a\n"
                   "percentage of that roofline; on the CPU also how fast the model's own pages read\n"
                   "(a virtual machine's page cache can be slower than fresh memory) and tg against that.\n\n"
                   "  -m, --model FILE        GGUF model; repeat for several\n"
                   "  -p, --n-prompt N[,N..]  prompt lengths (default 512; 0 = no prompt test)\n"
                   "  -n, --n-gen N[,N..]     tokens to generate (default 128; 0 = no generation test)\n"
                   "  -t, --threads N[,N..]   CPU threads (default: all online CPUs)\n"
                   "  -r, --repetitions N     timed runs per test (default 5)\n"
                   "      --backend B         auto, cpu or vulkan (default: $HARK_BACKEND or auto); the\n"
                   "                          backend column shows where each test ran\n"
                   "      --device N          Vulkan device (see hark devices)\n"
                   "      --json              one JSON object per line and test instead of the table\n"
                   "      --cold              drop each model file from the page cache before loading it,\n"
                   "                          so that it is read again, into huge pages where the kernel\n"
                   "                          can (see \"weights in huge pages\" below the table)\n"
                   "      --membw-mib N       buffer of the bandwidth probe (default: 4x the last-level\n"
                   "                          cache, at least 1 GiB; smaller measures caches)\n"
                   "\nPeak RSS (table footer, \"peak_rss_mib\") is this process's so far: with several\n"
                   "models, that of the largest yet.  The footer also says how much of each model was\n"
                   "mapped in huge pages, which spares generation a TLB miss every 4 KiB: hark asks for\n"
                   "them, and the kernel gives them to a file it reads from disk for such a mapping,\n"
                   "not to one it already holds in small pages (--cold reads it again).  Make test\n"
                   "models with 'hark mkmodel'.\n");
            return 0;
        } else if (cli_opt(&c, "-m", "--model")) {
            const char *m = cli_value(&c);
            if (m && n_models == MAX_LIST)
                return cli_error("bench: at most %d models", MAX_LIST);
            if (m)
                models[n_models++] = m;
        } else if (cli_opt(&c, "-p", "--n-prompt")) {
            parse_list(&c, 0, 1 << 16, &pp);
        } else if (cli_opt(&c, "-n", "--n-gen")) {
            parse_list(&c, 0, 1 << 16, &tg);
        } else if (cli_opt(&c, "-t", "--threads")) {
            parse_list(&c, 1, 512, &th);
        } else if (cli_opt(&c, "-r", "--repetitions")) {
            cli_int(&c, 1, 1000, &reps);
        } else if (cli_backend_option(&c, &base)) {
        } else if (cli_opt(&c, NULL, "--json")) {
            json = true;
        } else if (cli_opt(&c, NULL, "--cold")) {
            cold = true;
        } else if (cli_opt(&c, NULL, "--membw-mib")) {
            cli_int(&c, 1, 1 << 20, &membw_mib);
        } else {
            return cli_error("bench: unknown argument '%s' (see hark bench --help)", argv[c.i]);
        }
    }
    if (c.bad)
        return 2;
    if (n_models == 0)
        return cli_error("bench: no model (use -m FILE; 'hark mkmodel' makes one)");
    bool any_pp = false, any_tg = false, any_cpu = false;
    for (int i = 0; i < pp.n; i++)
        any_pp |= pp.v[i] > 0;
    for (int i = 0; i < tg.n; i++)
        any_tg |= tg.v[i] > 0;
    if (!any_pp && !any_tg)
        return cli_error("bench: nothing to measure (-p and -n are all 0)");
    if (th.n == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        th.n = 1;
        th.v[0] = n > 0 ? (int)(n < 512 ? n : 512) : 1;
    }
    for (int i = 0; i < n_models; i++)
        if (access(models[i], R_OK))
            return cli_error("bench: %s: %s", models[i], strerror(errno));

    /* the roofline of each thread count, measured before any model is
     * loaded so nothing else competes for memory */
    double gbs[MAX_LIST];
    for (int i = 0; i < th.n; i++)
        gbs[i] = any_tg ? in_child(cpu_probe, &(probe){.n_threads = th.v[i], .mib = membw_mib}) : -1;
    probe dev = {.session = &base};
    const double dev_gbs = any_tg ? in_child(device_probe, &dev) : -1;

    int status = 0;
    bool header = false;
    huge_use huge[MAX_LIST] = {0};
    own_line own[MAX_OWN];
    int n_own = 0;
    for (int mi_idx = 0; mi_idx < n_models && !status; mi_idx++) {
        hk_error err;
        if (cold && drop_cached(models[mi_idx])) {
            status = cli_error("bench: %s: cannot drop it from the page cache: %s", models[mi_idx], strerror(errno));
            break;
        }
        hk_model *m = hk_model_load(models[mi_idx], &err);
        if (!m) {
            status = cli_error("%s", err.msg);
            break;
        }
        model_info mi;
        describe(m, &mi);
        for (int ti = 0; ti < th.n && !status; ti++) {
            for (int k = 0; k < pp.n + tg.n && !status; k++) {
                const bool is_tg = k >= pp.n;
                const int count = is_tg ? tg.v[k - pp.n] : pp.v[k];
                if (count == 0)
                    continue;
                result r;
                if (run_test(m, &base, is_tg ? 0 : count, is_tg ? count : 0, th.v[ti], (int)reps, &r, &err)) {
                    status = cli_error("bench: %s", err.msg);
                    break;
                }
                char test[32];
                snprintf(test, sizeof test, "%s%d", is_tg ? "tg" : "pp", count);
                /* Generation on the CPU: also the read bandwidth of the
                 * weights' own pages, just read by the test.  In a virtual
                 * machine the page cache holding a file may read slower
                 * than the probe's fresh buffer (qwen2.5-0.5b Q4_0 on the
                 * 2-core Sapphire Rapids VM, 2 threads: 21-24 GB/s against
                 * 28-29), which no kernel can beat. */
                r.own_gbs = -1;
                if (is_tg && !r.gpu && mi.run_hi > mi.run_lo) {
                    const hk_gguf *g = hk_model_gguf(m);
                    r.own_gbs = hk_measure_read_bandwidth_of(g->base + mi.run_lo, mi.run_hi - mi.run_lo, th.v[ti], 3);
                    if (r.own_gbs > 0 && n_own < MAX_OWN)
                        own[n_own++] = (own_line){mi_idx, th.v[ti], count, r.own_gbs,
                                                  100.0 * r.mean * (double)mi.bytes_per_token / (r.own_gbs * 1e9)};
                }
                if (!json && !header) {
                    fputs(TABLE_HEAD, stdout);
                    header = true;
                }
                /* the CPU's bandwidth is no roofline for a device */
                print_row(json, models[mi_idx], &mi, th.v[ti], test, is_tg, &r, r.gpu ? dev_gbs : gbs[ti]);
                any_cpu |= !r.gpu;
            }
        }
        /* after the tests, with the weights they read in memory */
        huge[mi_idx].known = hk_gguf_huge_pages(hk_model_gguf(m), &huge[mi_idx].resident, &huge[mi_idx].huge) == 0;
        hk_model_free(m);
    }
    if (!json && header) {
        printf("\n");
        for (int i = 0; i < th.n && any_tg; i++) {
            if (gbs[i] > 0)
                printf("read bandwidth (%d threads): %.2f GB/s\n", th.v[i], gbs[i]);
            else
                printf("read bandwidth (%d threads): could not be measured\n", th.v[i]);
        }
        if (dev_gbs > 0)
            printf("device read bandwidth (%s): %.2f GB/s\n", dev.device, dev_gbs);
        for (int i = 0; i < n_own; i++) {
            printf("read bandwidth of the weights' own pages (%s, %d threads): %.2f GB/s, tg%d at %.1f%% of it\n",
                   file_name(models[own[i].model]), own[i].threads, own[i].gbs, own[i].n_gen, own[i].pct);
        }
        for (int i = 0; i < n_models; i++) {
            if (!huge[i].known || !huge[i].resident)
                continue;
            printf("weights in huge pages (%s): %.0f%% of the %.1f MiB in memory\n", file_name(models[i]),
                   100.0 * (double)huge[i].huge / (double)huge[i].resident, (double)huge[i].resident / 1048576.0);
        }
        if (any_cpu) {
            printf("CPU kernels: %s", hk_cpu_level_name(hk_cpu_level_active()));
            const hk_tile_kind tile = hk_tile_active();
            if (tile == HK_TILE_AMX)
                printf(", AMX tiles for batches of %d+ tokens on Q4_0/Q5_0/Q8_0 weights (HARK_AMX=0: off), "
                       "VNNI tiles for %d+ on Q4_K/Q5_K/Q6_K",
                       hk_tile_min_tokens(tile, HK_TYPE_Q4_0), hk_tile_min_tokens(tile, HK_TYPE_Q4_K));
            else if (tile != HK_TILE_NONE)
                printf(", %s tiles of 16 x 16 for batches of %d+ tokens on Q4_0/Q5_0/Q8_0/Q4_K/Q5_K/Q6_K weights",
                       hk_tile_kind_name(tile), hk_tile_min_tokens(tile, HK_TYPE_Q4_0));
            printf("\n");
        }
        printf("peak RSS: %.1f MiB\n", peak_rss_mib());
    }
    fflush(stdout);
    if (ferror(stdout) && !status)
        status = cli_error("bench: cannot write to stdout");
    return status;
}
