/* Fuzz target for the GGUF reader.
 *
 * LLVMFuzzerTestOneInput opens the input with hk_gguf_open_memory and, when
 * it opens, walks every key, array element and tensor through the public
 * getters and prints `hark info` for it, so a sanitizer sees every byte the
 * reader hands out.  A rejected input must give one line naming the file.
 *
 * Built two ways:
 *  - with -fsanitize=fuzzer (meson -Dfuzz=true, clang): libFuzzer's main;
 *  - with -DHK_FUZZ_STANDALONE: a bounded, deterministic mutation run over
 *    seed files for the test suite (HK_FUZZ_ITERS iterations, HK_FUZZ_SEED),
 *    or `fuzz_gguf FILE...` to replay inputs (libFuzzer crash artifacts), or
 *    `fuzz_gguf --write-seeds DIR` to give libFuzzer the same seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

#define FUZZ_NAME "fuzz.gguf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps the touched bytes observable so the reads are not optimized away. */
static volatile uint64_t sink_sum;
static FILE *info_sink;
static long inputs_opened; /* for the standalone run's report */

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_gguf: invariant failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static bool inside(const hk_gguf *g, const void *p, uint64_t n)
{
    const uint8_t *b = p;
    return b >= g->base && b <= g->base + g->size && n <= (uint64_t)(g->base + g->size - b);
}

static void touch(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    if (n) {
        sink_sum += b[0];
        sink_sum += b[n - 1];
    }
}

static void walk_kv(const hk_gguf *g, const hk_gguf_kv *kv, uint64_t idx)
{
    REQUIRE(inside(g, kv->key.ptr, kv->key.len));
    REQUIRE(inside(g, kv->data, kv->size));
    REQUIRE((unsigned)kv->type < HK_GGUF_TYPE_COUNT);
    touch(kv->key.ptr, kv->key.len);
    touch(kv->data, kv->size);

    /* lookups by name land on this key, unless the name holds a NUL (then
     * no C string can name it) */
    char key[256];
    bool nameable = kv->key.len < sizeof key && !memchr(kv->key.ptr, 0, kv->key.len);
    if (nameable) {
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = 0;
        REQUIRE(hk_gguf_find(g, key) == &g->kv[idx]);
        uint32_t u;
        int64_t i;
        float f;
        bool b;
        hk_str s;
        if (hk_gguf_get_u32(g, key, &u))
            sink_sum += u;
        if (hk_gguf_get_i64(g, key, &i))
            sink_sum += (uint64_t)i;
        if (hk_gguf_get_f32(g, key, &f))
            sink_sum += f == f;
        if (hk_gguf_get_bool(g, key, &b))
            sink_sum += b;
        if (hk_gguf_get_str(g, key, &s)) {
            REQUIRE(kv->type == HK_GGUF_STRING && inside(g, s.ptr, s.len));
            touch(s.ptr, s.len);
        }
    }
    if (kv->type != HK_GGUF_ARRAY)
        return;
    REQUIRE((unsigned)kv->arr_type < HK_GGUF_TYPE_COUNT);
    size_t es = hk_gguf_type_size(kv->arr_type);
    if (es)
        REQUIRE(kv->size == kv->arr_n * es);
    /* one past the end too: getters must refuse it */
    for (uint64_t i = 0; i <= kv->arr_n; i++) {
        sink_sum += (uint64_t)hk_gguf_arr_int(kv, i);
        float f = hk_gguf_arr_f32(kv, i);
        sink_sum += f == f;
        hk_str s = hk_gguf_arr_str(kv, i);
        if (kv->arr_type == HK_GGUF_STRING && i < kv->arr_n) {
            REQUIRE(inside(g, s.ptr, s.len));
            touch(s.ptr, s.len);
        } else {
            REQUIRE(s.len == 0);
        }
    }
}

static void walk_tensor(const hk_gguf *g, const hk_gguf_tensor *t, uint64_t idx)
{
    REQUIRE(inside(g, t->name.ptr, t->name.len));
    REQUIRE(t->n_dims >= 1 && t->n_dims <= 4);
    const hk_type_traits *tr = hk_type_traits_of(t->type);
    REQUIRE(tr != NULL);
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) {
        REQUIRE(t->ne[d] >= 0);
        REQUIRE((uint32_t)d < t->n_dims || t->ne[d] == 1);
        nel *= (uint64_t)t->ne[d]; /* the reader refused overflow, so this is exact */
    }
    REQUIRE(t->ne[0] % tr->block_size == 0);
    REQUIRE(t->nbytes == nel / tr->block_size * tr->type_size);
    REQUIRE(t->offset % g->alignment == 0);
    REQUIRE(t->data == g->base + g->data_offset + t->offset);
    REQUIRE(inside(g, t->data, t->nbytes));
    touch(t->data, t->nbytes);
    char name[256];
    if (t->name.len < sizeof name && !memchr(t->name.ptr, 0, t->name.len)) {
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;
        REQUIRE(hk_gguf_find_tensor(g, name) == &g->tensors[idx]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hk_error err;
    err.msg[0] = 0;
    hk_gguf *g = hk_gguf_open_memory(data, size, FUZZ_NAME, &err);
    if (!g) {
        /* the error contract: one line, naming the file */
        REQUIRE(strncmp(err.msg, FUZZ_NAME ": ", strlen(FUZZ_NAME) + 2) == 0);
        REQUIRE(strchr(err.msg, '\n') == NULL);
        REQUIRE(strlen(err.msg) > strlen(FUZZ_NAME) + 2);
        return 0;
    }
    inputs_opened++;
    REQUIRE(g->version == 2 || g->version == 3);
    REQUIRE(g->alignment && !(g->alignment & (g->alignment - 1)));
    REQUIRE(g->n_tensors == 0 || g->data_offset <= g->size);
    for (uint64_t i = 0; i < g->n_kv; i++)
        walk_kv(g, &g->kv[i], i);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        walk_tensor(g, &g->tensors[i], i);
    /* a lookup of a name that is not there finds nothing (the fuzzer may
     * well put this very name into the file: then it must find that) */
    const hk_gguf_kv *nk = hk_gguf_find(g, "\x01no such key");
    const hk_gguf_tensor *nt = hk_gguf_find_tensor(g, "\x01no such tensor");
    REQUIRE(!nk || hk_str_eq(nk->key, "\x01no such key"));
    REQUIRE(!nt || hk_str_eq(nt->name, "\x01no such tensor"));
    if (!info_sink)
        info_sink = fopen("/dev/null", "w");
    if (info_sink)
        REQUIRE(hk_gguf_print_info(g, info_sink) == 0);
    hk_gguf_close(g);
    return 0;
}

#ifdef HK_FUZZ_STANDALONE

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

typedef struct seed {
    uint8_t *p;
    size_t n;
} seed;

static seed seeds[64];
static int n_seeds;

static void add_seed(const void *p, size_t n)
{
    if (n_seeds == (int)(sizeof seeds / sizeof seeds[0]) || !n)
        return;
    seeds[n_seeds].p = malloc(n);
    memcpy(seeds[n_seeds].p, p, n);
    seeds[n_seeds].n = n;
    n_seeds++;
}

static void add_seed_file(const char *path, size_t max)
{
    size_t n = 0;
    char *s = hk_read_file(path, &n);
    if (!s) {
        fprintf(stderr, "fuzz_gguf: no seed %s\n", path);
        return;
    }
    add_seed(s, n < max ? n : max);
    free(s);
}

/* Scalar keys of a fixture copied verbatim plus its tensor table with every
 * tensor shrunk to one block: a realistic header in a file of a few KB. */
static int zero_fill(void *user, uint64_t idx, void *dst, size_t nbytes, hk_error *err)
{
    (void)user;
    (void)idx;
    (void)err;
    memset(dst, 0x5a, nbytes);
    return 0;
}

static void add_shrunk_fixture(const char *rel, const char *tmp)
{
    hk_error err;
    hk_gguf *g = hk_gguf_open(hk_shared_path(rel), &err);
    if (!g) {
        fprintf(stderr, "fuzz_gguf: %s\n", err.msg);
        return;
    }
    hk_gguf_writer *w = hk_gguf_writer_new();
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].type != HK_GGUF_ARRAY || g->kv[i].arr_n <= 8)
            hk_gguf_writer_copy_kv(w, &g->kv[i]);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const hk_gguf_tensor *t = &g->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 100 ? t->name.len : 100), t->name.ptr);
        int64_t ne[4] = {hk_type_traits_of(t->type)->block_size, 1, 1, 1};
        hk_gguf_writer_add_tensor(w, name, (hk_type)t->type, t->n_dims, ne, NULL);
    }
    if (hk_gguf_writer_write(w, tmp, zero_fill, NULL, &err) == 0)
        add_seed_file(tmp, SIZE_MAX);
    else
        fprintf(stderr, "fuzz_gguf: %s\n", err.msg);
    hk_gguf_writer_free(w);
    hk_gguf_close(g);
}

/* Every value type, a nested array and a few tensors, alignment 64. */
static void add_writer_seed(const char *tmp)
{
    /* a nested array can only be copied from a file: build one by hand */
    uint8_t nested[] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0, 'n', 9, 0, 0, 0,           /* key "n", ARRAY */
        9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,                /* of 2 arrays */
        4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0,    /* [7] */
        8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'x', /* ["x"] */
    };
    add_seed(nested, sizeof nested);
    hk_error err;
    hk_gguf *src = hk_gguf_open_memory(nested, sizeof nested, "nested", &err);

    hk_gguf_writer *w = hk_gguf_writer_new();
    uint8_t u8 = 7;
    int16_t i16 = -3;
    uint64_t u64 = 1ull << 40;
    double f64 = 0.5;
    const int32_t a32[3] = {1, -2, 3};
    const char *as[3] = {"a", "", "bc"};
    const float af[2] = {0.25f, -1};
    hk_gguf_writer_add_str(w, "general.architecture", "llama");
    hk_gguf_writer_set_alignment(w, 64);
    hk_gguf_writer_add_kv(w, "u8", HK_GGUF_UINT8, &u8);
    hk_gguf_writer_add_kv(w, "i16", HK_GGUF_INT16, &i16);
    hk_gguf_writer_add_u32(w, "llama.block_count", 2);
    hk_gguf_writer_add_kv(w, "u64", HK_GGUF_UINT64, &u64);
    hk_gguf_writer_add_f32(w, "f32", 1e-5f);
    hk_gguf_writer_add_kv(w, "f64", HK_GGUF_FLOAT64, &f64);
    hk_gguf_writer_add_bool(w, "b", true);
    hk_gguf_writer_add_array(w, "a32", HK_GGUF_INT32, a32, 3);
    hk_gguf_writer_add_array(w, "as", HK_GGUF_STRING, as, 3);
    hk_gguf_writer_add_array(w, "af", HK_GGUF_FLOAT32, af, 2);
    if (src)
        hk_gguf_writer_copy_kv(w, &src->kv[0]);
    const int64_t ne1[1] = {8}, ne2[2] = {32, 2}, ne3[3] = {256, 1, 1};
    hk_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", HK_TYPE_F32, 1, ne1, NULL);
    hk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", HK_TYPE_Q8_0, 2, ne2, NULL);
    hk_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", HK_TYPE_Q4_K, 3, ne3, NULL);
    if (hk_gguf_writer_write(w, tmp, zero_fill, NULL, &err) == 0)
        add_seed_file(tmp, SIZE_MAX);
    else
        fprintf(stderr, "fuzz_gguf: %s\n", err.msg);
    hk_gguf_writer_free(w);
    hk_gguf_close(src);
}

static void make_seeds(const char *tmp)
{
    static const char *fixtures[] = {
        "fixtures/llm/models/stories260K.gguf",   "fixtures/llm/models/llama-tied-Q4_K_M.gguf",
        "fixtures/llm/models/qwen2-Q8_0.gguf",     "fixtures/llm/models/phi3-Q4_0.gguf",
        "fixtures/llm/tokenizer/ggml-vocab-gpt-2.gguf",
    };
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
        add_seed_file(hk_shared_path(fixtures[i]), 4096);
    add_shrunk_fixture("fixtures/llm/models/qwen2-Q4_K_M.gguf", tmp);
    add_shrunk_fixture("fixtures/llm/models/phi3-Q8_0.gguf", tmp);
    add_writer_seed(tmp);
    unlink(tmp);
}

/* splitmix64: deterministic, so a failing iteration can be replayed */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static const uint64_t interesting[] = {
    0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 14, 16, 31, 32, 33, 63, 64, 255, 256, 4096, 0x7fffffffull, 0x80000000ull,
    0xffffffffull, 1ull << 32, 1ull << 60, 1ull << 62, 0x7fffffffffffffffull, 0x8000000000000000ull, UINT64_MAX,
};

/* Applies one random mutation to buf (len bytes, capacity cap). */
static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    /* header fields (counts) and the bytes just after them matter most */
    size_t pos = rnd() % 4 == 0 ? below(len < 64 ? len : 64) : below(len);
    switch (rnd() % 9) {
    case 0:
        if (len)
            buf[pos] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1:
        if (len)
            buf[pos] = (uint8_t)rnd();
        break;
    case 2:
    case 3: {
        uint64_t v = interesting[below(sizeof interesting / sizeof interesting[0])];
        size_t w = rnd() % 2 ? 8 : 4;
        if (rnd() % 4 == 0)
            v = len + (rnd() % 64) - 32; /* values near the file size */
        if (pos + w <= len)
            memcpy(buf + pos, &v, w);
        break;
    }
    case 4:
        len = below(len + 1);
        break;
    case 5: { /* delete a chunk */
        size_t n = below(len - pos < 64 ? len - pos + 1 : 64);
        memmove(buf + pos, buf + pos + n, len - pos - n);
        len -= n;
        break;
    }
    case 6: { /* copy a chunk from elsewhere over this position */
        size_t from = below(len), n = below(32);
        if (from + n <= len && pos + n <= len)
            memmove(buf + pos, buf + from, n);
        break;
    }
    case 7: { /* insert a chunk of the file (repeats keys, tensor infos) */
        size_t from = below(len), n = below(48);
        if (from + n <= len && len + n <= cap) {
            uint8_t tmp[48];
            memcpy(tmp, buf + from, n);
            memmove(buf + pos + n, buf + pos, len - pos);
            memcpy(buf + pos, tmp, n);
            len += n;
        }
        break;
    }
    case 8: /* small integer nudge of a 32-bit field: types, n_dims */
        if (pos + 4 <= len) {
            uint32_t v;
            memcpy(&v, buf + pos, 4);
            v += (uint32_t)(rnd() % 5) - 2;
            memcpy(buf + pos, &v, 4);
        }
        break;
    }
    return len;
}

static int replay(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t n = 0;
        char *p = hk_read_file(argv[i], &n);
        if (!p) {
            fprintf(stderr, "fuzz_gguf: cannot read %s\n", argv[i]);
            return 1;
        }
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, p, n);
        free(p);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        printf("%s: ok\n", argv[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    char tmp[512];
    const char *td = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/hk_fuzz_seed_%ld.gguf", td && *td ? td : "/tmp", (long)getpid());

    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
        make_seeds(tmp);
        for (int i = 0; i < n_seeds; i++) {
            char p[1024];
            snprintf(p, sizeof p, "%s/seed%02d.gguf", argv[2], i);
            FILE *f = fopen(p, "wb");
            if (!f || fwrite(seeds[i].p, 1, seeds[i].n, f) != seeds[i].n || fclose(f)) {
                fprintf(stderr, "fuzz_gguf: %s: %s\n", p, strerror(errno));
                return 1;
            }
        }
        printf("%d seeds written to %s\n", n_seeds, argv[2]);
        return 0;
    }
    if (argc > 1)
        return replay(argc, argv);

    const char *it = getenv("HK_FUZZ_ITERS"), *sd = getenv("HK_FUZZ_SEED"), *dump = getenv("HK_FUZZ_DUMP");
    long iters = it && *it ? strtol(it, NULL, 10) : 500000;
    rng_state = sd && *sd ? strtoull(sd, NULL, 0) : 0x6861726b; /* "hark" */
    long dump_at = dump && *dump ? strtol(dump, NULL, 10) : -1;

    make_seeds(tmp);
    if (n_seeds < 3) {
        fprintf(stderr, "fuzz_gguf: only %d seeds (fixtures missing?)\n", n_seeds);
        return 1;
    }
    /* every seed as it is first: they must open (the writer-made ones) or
     * fail cleanly (the truncated fixtures) */
    for (int i = 0; i < n_seeds; i++)
        LLVMFuzzerTestOneInput(seeds[i].p, seeds[i].n);

    size_t cap = 0;
    for (int i = 0; i < n_seeds; i++)
        if (seeds[i].n > cap)
            cap = seeds[i].n;
    cap += 4096;
    uint8_t *work = malloc(cap);
    long opened_before = inputs_opened;
    for (long k = 0; k < iters; k++) {
        const seed *s = &seeds[below((size_t)n_seeds)];
        memcpy(work, s->p, s->n);
        size_t len = s->n;
        int n_mut = 1 + (int)(rnd() % 4);
        for (int m = 0; m < n_mut; m++)
            len = mutate(work, len, cap);
        /* an exact-size copy so a sanitizer sees reads past the end */
        uint8_t *in = malloc(len ? len : 1);
        memcpy(in, work, len);
        if (k == dump_at) {
            FILE *f = fopen("fuzz-input.gguf", "wb");
            if (f) {
                fwrite(in, 1, len, f);
                fclose(f);
            }
        }
        LLVMFuzzerTestOneInput(in, len);
        free(in);
    }
    free(work);
    for (int i = 0; i < n_seeds; i++)
        free(seeds[i].p);
    if (info_sink)
        fclose(info_sink);
    long opened = inputs_opened - opened_before;
    printf("fuzz_gguf: %ld iterations over %d seeds, %ld inputs opened, no failures\n", iters, n_seeds, opened);
    /* all-rejections would mean the mutations never reach the walkers */
    if (iters >= 1000 && opened == 0) {
        fprintf(stderr, "fuzz_gguf: no mutated input opened\n");
        return 1;
    }
    return 0;
}

#endif
