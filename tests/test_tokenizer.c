/* Tokenizer against llama.cpp's goldens (fixtures/llm/tokenizer, README §2
 * and §7): every vocab-only GGUF with its .inp/.out pair, the fixture
 * vocabularies with and without special handling, detokenization round
 * trips and the streaming UTF-8-safe decoder. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gguf.h"
#include "pretokenize.h"
#include "tokenizer.h"
#include "unicode.h"

#define TOKDIR "fixtures/llm/tokenizer/"
#define SEPARATOR "\n__ggml_vocab_test__\n"

typedef struct cases {
    char *buf;      /* the .inp file; cases point into it */
    const char **text;
    size_t *len;
    size_t n;
} cases;

/* Split an .inp file: each case is followed by the separator. */
static bool read_cases(const char *path, cases *c)
{
    size_t n;
    memset(c, 0, sizeof *c);
    c->buf = hk_read_file(path, &n);
    if (!c->buf)
        return false;
    size_t cap = 16;
    c->text = malloc(cap * sizeof *c->text);
    c->len = malloc(cap * sizeof *c->len);
    const char *p = c->buf, *end = c->buf + n;
    size_t sl = strlen(SEPARATOR);
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), SEPARATOR, sl);
        if (!q)
            break;
        if (c->n == cap) {
            cap *= 2;
            c->text = realloc(c->text, cap * sizeof *c->text);
            c->len = realloc(c->len, cap * sizeof *c->len);
        }
        c->text[c->n] = p;
        c->len[c->n] = (size_t)(q - p);
        c->n++;
        p = q + sl;
    }
    return true;
}

static void free_cases(cases *c)
{
    free(c->buf);
    free(c->text);
    free(c->len);
}

/* One line of ids per case (" 1 2 3"); returns the number of lines. */
typedef struct expected {
    char *buf;
    char **line;
    size_t n;
} expected;

static bool read_expected(const char *path, expected *e)
{
    size_t n;
    memset(e, 0, sizeof *e);
    e->buf = hk_read_file(path, &n);
    if (!e->buf)
        return false;
    size_t cap = 16;
    e->line = malloc(cap * sizeof *e->line);
    char *p = e->buf, *end = e->buf + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl)
            *nl = 0;
        if (e->n == cap) {
            cap *= 2;
            e->line = realloc(e->line, cap * sizeof *e->line);
        }
        e->line[e->n++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    return true;
}

static void free_expected(expected *e)
{
    free(e->buf);
    free(e->line);
}

static int parse_ids(const char *line, int32_t *ids, int cap)
{
    int n = 0;
    char *end;
    for (;;) {
        long v = strtol(line, &end, 10);
        if (end == line)
            return n;
        if (n < cap)
            ids[n] = (int32_t)v;
        n++;
        line = end;
    }
}

static void print_ids(const char *what, const int32_t *ids, int n)
{
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static int32_t *tokenize_all(const hk_tokenizer *t, const char *s, size_t n, bool add, bool parse, int32_t *count)
{
    int32_t cap = (int32_t)n + 16;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    *count = hk_tokenize(t, s, n, add, parse, ids, cap);
    if (*count > cap) {
        cap = *count;
        ids = realloc(ids, sizeof *ids * (size_t)cap);
        *count = hk_tokenize(t, s, n, add, parse, ids, cap);
    }
    return ids;
}

/* Concatenated pieces (special = false), as llama.cpp's goldens detokenize. */
static char *detokenize(const hk_tokenizer *t, const int32_t *ids, int32_t n, size_t *len)
{
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    for (int32_t i = 0; i < n; i++) {
        int32_t pl = hk_token_to_piece(t, ids[i], s + o, (int32_t)(cap - o), false);
        if (pl < 0)
            continue;
        if ((size_t)pl > cap - o) {
            while ((size_t)pl > cap - o)
                cap *= 2;
            s = realloc(s, cap);
            pl = hk_token_to_piece(t, ids[i], s + o, (int32_t)(cap - o), false);
        }
        o += (size_t)pl;
    }
    *len = o;
    return s;
}

/* Tokenize every case and compare with the expected lines; also check the
 * round trip when asked.  Prints "name: passed/total". */
static void run_cases(const char *name, const hk_tokenizer *t, const cases *c, const expected *e, bool add,
                      bool parse, bool round_trip)
{
    int passed = 0, rt_passed = 0, rt_total = 0;
    CHECK(e->n == c->n, "%s: %zu expected lines for %zu cases", name, e->n, c->n);
    for (size_t i = 0; i < c->n && i < e->n; i++) {
        int32_t n;
        int32_t *ids = tokenize_all(t, c->text[i], c->len[i], add, parse, &n);
        int32_t want[4096];
        int nw = parse_ids(e->line[i], want, 4096);
        bool ok = n == nw && nw <= 4096 && !memcmp(ids, want, sizeof *ids * (size_t)n);
        CHECK(ok, "%s case %zu: '%.*s'", name, i, (int)(c->len[i] > 60 ? 60 : c->len[i]), c->text[i]);
        if (!ok) {
            print_ids("expected", want, nw < 4096 ? nw : 4096);
            print_ids("got     ", ids, n);
        }
        passed += ok;
        if (round_trip && !parse) {
            size_t dl;
            char *d = detokenize(t, ids, n, &dl);
            /* SentencePiece adds one leading blank to non-empty text; input
             * that is not UTF-8 cannot come back from byte-level BPE. */
            size_t skip = hk_tokenizer_add_space_prefix(t) && c->len[i] > 0 && dl > 0 && d[0] == ' ';
            bool valid = hk_utf8_valid_prefix(c->text[i], c->len[i]) == c->len[i];
            if (valid) {
                bool same = dl - skip == c->len[i] && !memcmp(d + skip, c->text[i], c->len[i]);
                CHECK(same, "%s case %zu: round trip gives '%.*s'", name, i, (int)dl, d);
                rt_passed += same;
                rt_total++;
            }
            free(d);
        }
        free(ids);
    }
    printf("%-40s %3d/%zu passed", name, passed, c->n);
    if (round_trip && !parse)
        printf(", round trip %d/%d", rt_passed, rt_total);
    putchar('\n');
}

static hk_tokenizer *open_tokenizer(const char *rel, hk_gguf **g)
{
    hk_error err = {{0}};
    *g = hk_gguf_open(hk_shared_path(rel), &err);
    CHECK(*g != NULL, "%s: %s", rel, err.msg);
    if (!*g)
        return NULL;
    hk_tokenizer *t = hk_tokenizer_load(*g, &err);
    CHECK(t != NULL, "%s: %s", rel, err.msg);
    return t;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every ggml-vocab-*.gguf that has an .inp next to it. */
static void test_vocab_files(void)
{
    DIR *dir = opendir(hk_shared_path(TOKDIR));
    CHECK(dir != NULL, "cannot list %s", hk_shared_path(TOKDIR));
    if (!dir)
        return;
    char *names[256];
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && nn < 256) {
        size_t l = strlen(de->d_name);
        if (!strncmp(de->d_name, "ggml-vocab-", 11) && l > 9 && !strcmp(de->d_name + l - 9, ".gguf.inp"))
            names[nn++] = strdup(de->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    CHECK(nn > 0, "no ggml-vocab-*.gguf.inp files");
    for (int k = 0; k < nn; k++) {
        char rel[512], model[512], path[512];
        size_t l = strlen(names[k]);
        snprintf(model, sizeof model, TOKDIR "%.*s", (int)(l - 4), names[k]);
        hk_gguf *g;
        hk_tokenizer *t = open_tokenizer(model, &g);
        cases c;
        snprintf(rel, sizeof rel, TOKDIR "%s", names[k]);
        CHECK(read_cases(hk_shared_path(rel), &c), "cannot read %s", rel);
        const char *suffixes[] = {".out", ".llamacpp.out"};
        for (int s = 0; s < 2 && t; s++) {
            snprintf(rel, sizeof rel, "%s%s", model, suffixes[s]);
            snprintf(path, sizeof path, "%s", hk_shared_path(rel));
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            fclose(f);
            expected e;
            CHECK(read_expected(path, &e), "cannot read %s", rel);
            run_cases(rel + strlen(TOKDIR), t, &c, &e, false, false, true);
            free_expected(&e);
        }
        free_cases(&c);
        hk_tokenizer_free(t);
        hk_gguf_close(g);
        free(names[k]);
    }
}

/* The fixture models' vocabularies on fixture-tok.inp. */
static void test_fixture_vocabs(void)
{
    static const struct {
        const char *model, *golden;
    } v[] = {
        {"fixtures/llm/models/stories260K.gguf", "stories260K"},
        {"fixtures/llm/models/gemma2-Q8_0.gguf", "gemma2"},
        {"fixtures/llm/models/phi3-Q8_0.gguf", "phi3"},
        {"fixtures/llm/models/qwen2-Q8_0.gguf", "qwen2"},
    };
    cases c;
    CHECK(read_cases(hk_shared_path(TOKDIR "fixture-tok.inp"), &c), "cannot read fixture-tok.inp");
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        hk_gguf *g;
        hk_tokenizer *t = open_tokenizer(v[k].model, &g);
        for (int special = 0; special < 2 && t; special++) {
            char rel[256], name[64];
            snprintf(name, sizeof name, "%s.tok%s.out", v[k].golden, special ? ".special" : "");
            snprintf(rel, sizeof rel, TOKDIR "%s", name);
            expected e;
            CHECK(read_expected(hk_shared_path(rel), &e), "cannot read %s", rel);
            run_cases(name, t, &c, &e, special, special, true);
            free_expected(&e);
        }
        hk_tokenizer_free(t);
        hk_gguf_close(g);
    }
    free_cases(&c);
}

/* Special ids, end-of-generation set and lookups of the fixture vocabularies. */
static void test_special_ids(void)
{
    hk_gguf *g;
    hk_tokenizer *t = open_tokenizer("fixtures/llm/models/stories260K.gguf", &g);
    if (t) {
        CHECK(hk_tokenizer_n_vocab(t) == 512, "n_vocab %d", hk_tokenizer_n_vocab(t));
        CHECK(hk_tokenizer_bos(t) == 1 && hk_tokenizer_eos(t) == 2 && hk_tokenizer_eot(t) == -1, "ids");
        CHECK(hk_tokenizer_add_bos(t), "stories260K adds BOS (no add_bos_token key)");
        CHECK(hk_tokenizer_is_eog(t, 2) && !hk_tokenizer_is_eog(t, 1) && !hk_tokenizer_is_eog(t, -1), "eog");
        CHECK(hk_tokenizer_find(t, "<0x0A>") == 13 && hk_tokenizer_find(t, "no such token") == -1, "find");
        /* The prompt golden of README 4.1. */
        const char *lily = "Once upon a time, there was a little girl named Lily.";
        int32_t want[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
        int32_t n, *ids = tokenize_all(t, lily, strlen(lily), true, false, &n);
        CHECK(n == 16 && !memcmp(ids, want, sizeof want), "Lily prompt");
        free(ids);
        /* Capacity: the full count comes back, nothing past cap is written. */
        int32_t small[5] = {-7, -7, -7, -7, -7};
        CHECK(hk_tokenize(t, lily, strlen(lily), true, false, small, 4) == 16, "count beyond cap");
        CHECK(!memcmp(small, want, 4 * sizeof *small) && small[4] == -7, "wrote past cap");
        char piece[8];
        CHECK(hk_token_to_piece(t, 1, piece, sizeof piece, false) == 0, "control piece without special");
        CHECK(hk_token_to_piece(t, 1, piece, sizeof piece, true) == 3 && !memcmp(piece, "<s>", 3), "<s> piece");
        CHECK(hk_token_to_piece(t, 13, piece, sizeof piece, false) == 1 && piece[0] == '\n', "byte piece");
        CHECK(hk_token_to_piece(t, 512, piece, sizeof piece, false) == -1, "id out of range");
        hk_tokenizer_free(t);
        hk_gguf_close(g);
    }
    t = open_tokenizer("fixtures/llm/models/qwen2-Q8_0.gguf", &g);
    if (t) {
        CHECK(hk_tokenizer_eos(t) == 498 && hk_tokenizer_bos(t) == 496 && !hk_tokenizer_add_bos(t), "qwen2 ids");
        CHECK(hk_tokenizer_is_eog(t, 498) && hk_tokenizer_is_eog(t, 496) && !hk_tokenizer_is_eog(t, 497),
              "qwen2 eog");
        CHECK(hk_tokenizer_eot(t) == 498, "qwen2 eot %d", hk_tokenizer_eot(t));
        char piece[16];
        CHECK(hk_token_to_piece(t, 220, piece, sizeof piece, false) == 1 && piece[0] == ' ', "Ġ piece");
        CHECK(hk_token_to_piece(t, 499, piece, sizeof piece, false) == 11, "<tool_call> is user-defined");
        CHECK(hk_token_to_piece(t, 499, piece, 4, false) == 11, "length past cap");
        hk_tokenizer_free(t);
        hk_gguf_close(g);
    }
    t = open_tokenizer("fixtures/llm/models/phi3-Q8_0.gguf", &g);
    if (t) {
        CHECK(hk_tokenizer_is_eog(t, 512) && hk_tokenizer_is_eog(t, 515) && !hk_tokenizer_is_eog(t, 2),
              "phi3 eog");
        CHECK(hk_tokenizer_attr(t, 515) & HK_TOKEN_ATTR_RSTRIP, "phi3 <|end|> rstrip");
        CHECK(hk_tokenizer_attr(t, 2) & HK_TOKEN_ATTR_RSTRIP, "phi3 </s> rstrip");
        CHECK(!(hk_tokenizer_attr(t, 512) & HK_TOKEN_ATTR_RSTRIP), "phi3 <|endoftext|> no rstrip");
        hk_tokenizer_free(t);
        hk_gguf_close(g);
    }
}

/* Push ids one by one; every chunk must be valid UTF-8 and the chunks must
 * add up to want. */
static void check_stream(const hk_tokenizer *t, const int32_t *ids, int32_t n, const char *want, size_t want_len,
                         const char *what)
{
    hk_detok d = {0};
    char out[512], all[4096];
    size_t o = 0;
    bool valid = true;
    for (int32_t i = 0; i < n; i++) {
        int len = hk_detok_push(&d, t, ids[i], out, sizeof out);
        valid &= hk_utf8_valid_prefix(out, (size_t)len) == (size_t)len && out[len] == 0;
        if (o + (size_t)len < sizeof all)
            memcpy(all + o, out, (size_t)len);
        o += (size_t)len;
    }
    int len = hk_detok_flush(&d, out, sizeof out);
    valid &= hk_utf8_valid_prefix(out, (size_t)len) == (size_t)len;
    if (o + (size_t)len < sizeof all)
        memcpy(all + o, out, (size_t)len);
    o += (size_t)len;
    CHECK(valid, "%s: the stream emitted invalid UTF-8", what);
    CHECK(o == want_len && !memcmp(all, want, want_len), "%s: stream gives '%.*s'", what, (int)o, all);
}

static void test_streaming(void)
{
    hk_gguf *g;
    hk_tokenizer *t = open_tokenizer("fixtures/llm/models/stories260K.gguf", &g);
    if (!t)
        return;
    /* CJK and emoji are not in this vocabulary: each becomes 3-4 byte tokens. */
    const char *text = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xa6\x99!";
    int32_t n, *ids = tokenize_all(t, text, strlen(text), false, false, &n);
    int bytes = 0;
    for (int32_t i = 0; i < n; i++)
        bytes += (hk_tokenizer_attr(t, ids[i]) & HK_TOKEN_ATTR_BYTE) != 0;
    CHECK(bytes >= 7, "expected byte tokens, got %d", bytes);
    char want[64];
    snprintf(want, sizeof want, " %s", text);
    check_stream(t, ids, n, want, strlen(want), "multibyte");
    free(ids);

    /* Byte tokens are <0x00>.. at ids 3..258. */
    int32_t bad[] = {3 + 0xE6, 3 + 0x97, 3 + 'a', 3 + 0x80, 3 + 0xF0, 3 + 0x9F};
    /* E6 97 then 'a': the cut sequence is one U+FFFD; a lone 80 another;
     * F0 9F is pending at the end and flushes as a third. */
    const char *want_bad = "\xef\xbf\xbd" "a" "\xef\xbf\xbd" "\xef\xbf\xbd";
    check_stream(t, bad, 6, want_bad, strlen(want_bad), "invalid bytes");
    /* A character split over three pushes comes out whole on the last one. */
    hk_detok d = {0};
    char out[32];
    CHECK(hk_detok_push(&d, t, 3 + 0xE6, out, sizeof out) == 0 && out[0] == 0, "first byte held");
    CHECK(hk_detok_push(&d, t, 3 + 0x97, out, sizeof out) == 0, "second byte held");
    CHECK(hk_detok_push(&d, t, 3 + 0xA5, out, sizeof out) == 3 && !strcmp(out, "\xe6\x97\xa5"), "char emitted");
    CHECK(hk_detok_flush(&d, out, sizeof out) == 0, "nothing left");
    /* Control tokens render as nothing. */
    CHECK(hk_detok_push(&d, t, 1, out, sizeof out) == 0, "BOS renders empty");
    hk_tokenizer_free(t);
    hk_gguf_close(g);
}

/* Minimal GGUF v3 with the given string key/values and no tensors. */
static size_t make_gguf(unsigned char *buf, const char *const *kv, int n_kv)
{
    size_t o = 0;
    memcpy(buf, "GGUF", 4);
    o = 4;
    uint32_t version = 3;
    uint64_t n_tensors = 0, n = (uint64_t)n_kv;
    memcpy(buf + o, &version, 4), o += 4;
    memcpy(buf + o, &n_tensors, 8), o += 8;
    memcpy(buf + o, &n, 8), o += 8;
    for (int i = 0; i < n_kv; i++) {
        uint64_t kl = strlen(kv[2 * i]), vl = strlen(kv[2 * i + 1]);
        uint32_t type = 8; /* STRING */
        memcpy(buf + o, &kl, 8), o += 8;
        memcpy(buf + o, kv[2 * i], kl), o += kl;
        memcpy(buf + o, &type, 4), o += 4;
        memcpy(buf + o, &vl, 8), o += 8;
        memcpy(buf + o, kv[2 * i + 1], vl), o += vl;
    }
    return o;
}

static void test_errors(void)
{
    unsigned char buf[1024];
    const char *none[] = {"general.name", "nothing"};
    hk_error err = {{0}};
    size_t n = make_gguf(buf, none, 1);
    hk_gguf *g = hk_gguf_open_memory(buf, n, "novocab.gguf", &err);
    CHECK(g != NULL, "%s", err.msg);
    if (g) {
        CHECK(hk_tokenizer_load(g, &err) == NULL, "loaded a file without tokenizer");
        CHECK(strstr(err.msg, "novocab.gguf") != NULL, "error names the file: %s", err.msg);
        hk_gguf_close(g);
    }
    const char *bert[] = {"tokenizer.ggml.model", "bert"};
    n = make_gguf(buf, bert, 1);
    g = hk_gguf_open_memory(buf, n, "bert.gguf", &err);
    if (g) {
        CHECK(hk_tokenizer_load(g, &err) == NULL && strstr(err.msg, "bert.gguf") && strstr(err.msg, "bert'"),
              "unsupported model: %s", err.msg);
        hk_gguf_close(g);
    }
    const char *notoks[] = {"tokenizer.ggml.model", "llama"};
    n = make_gguf(buf, notoks, 1);
    g = hk_gguf_open_memory(buf, n, "notokens.gguf", &err);
    if (g) {
        CHECK(hk_tokenizer_load(g, &err) == NULL && strstr(err.msg, "notokens.gguf"), "no tokens: %s", err.msg);
        hk_gguf_close(g);
    }
}

/* Megabytes of text go through in linear time (no timing assertion: this
 * only has to finish), and come back unchanged. */
static void test_long_text(void)
{
    cases c;
    if (!read_cases(hk_shared_path(TOKDIR "fixture-tok.inp"), &c))
        return;
    size_t unit = strlen(c.buf), reps = (2u << 20) / unit + 1, n = unit * reps;
    char *text = malloc(n + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * unit, c.buf, unit);
    text[n] = 0;
    const char *models[] = {"fixtures/llm/models/stories260K.gguf", "fixtures/llm/models/qwen2-Q8_0.gguf",
                            "fixtures/llm/tokenizer/ggml-vocab-gpt-2.gguf"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        hk_gguf *g;
        hk_tokenizer *t = open_tokenizer(models[m], &g);
        if (!t)
            continue;
        int32_t count, *ids = tokenize_all(t, text, n, false, false, &count);
        CHECK(count > 0, "%s: %d tokens for %zu bytes", models[m], count, n);
        size_t dl;
        char *d = detokenize(t, ids, count, &dl);
        size_t skip = hk_tokenizer_add_space_prefix(t) && dl && d[0] == ' ';
        CHECK(dl - skip == n && !memcmp(d + skip, text, n), "%s: long text round trip", models[m]);
        printf("%-40s %zu bytes -> %d tokens\n", models[m] + strlen("fixtures/llm/"), n, count);
        free(d);
        free(ids);
        hk_tokenizer_free(t);
        hk_gguf_close(g);
    }
    free(text);
    free_cases(&c);
}

/* Pre-tokenizer word splits, worked out by hand from the regexes (and, for
 * GPT-2 and Llama-3, from llama.cpp's hand-written versions of them). */
static void test_pretokenizers(void)
{
    static const struct {
        hk_pretok kind;
        const char *name, *text;
        const char *words[16];
    } v[] = {
        {HK_PRE_LLAMA3, "llama3", "Hello, WORLD's 12345 ok\n\n  x  ",
         {"Hello", ",", " WORLD", "'s", " ", "123", "45", " ok", "\n\n", " ", " x", "  "}},
        {HK_PRE_LLAMA3, "llama3 case", "it'S 'LL x\t\ty", {"it", "'S", " '", "LL", " x", "\t", "\ty"}},
        {HK_PRE_QWEN2, "qwen2", "Hello, WORLD's 12345 ok\n\n  x  ",
         {"Hello", ",", " WORLD", "'s", " ", "1", "2", "3", "4", "5", " ok", "\n\n", " ", " x", "  "}},
        {HK_PRE_GPT2, "gpt2", "Hello, WORLD's 12345 ok\n\n  x  ",
         {"Hello", ",", " WORLD", "'s", " 12345", " ok", "\n\n ", " x", "  "}},
        {HK_PRE_DEFAULT, "default", "a+b=1234, x", {"a", "+", "b", "=", "123", "4", ",", " x"}},
        {HK_PRE_STARCODER, "starcoder", "ab 12", {"ab", " ", "1", "2"}},
        {HK_PRE_FALCON, "falcon", "x`y 1234", {"x", "`", "y", " ", "123", "4"}},
        {HK_PRE_DEEPSEEK_CODER, "deepseek-coder", "ab\n12 \xe4\xb8\xad\xe6\x96\x87!",
         {"ab", "\n", "1", "2", " ", "\xe4\xb8\xad\xe6\x96\x87", "!"}},
        {HK_PRE_DEEPSEEK_LLM, "deepseek-llm", "Hi 12  \n", {"Hi", " ", "12", "  ", "\n"}},
        {HK_PRE_BLOOM, "bloom", "Hi, you (x).", {"Hi", ",", " you", " (", "x", ")."}},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        const char *s = v[k].text;
        size_t len = strlen(s), n = 0;
        uint32_t cps[128];
        size_t byte_at_cp[129];
        for (size_t i = 0; i < len;) {
            size_t adv;
            byte_at_cp[n] = i;
            cps[n++] = hk_utf8_decode(s + i, len - i, &adv);
            i += adv;
        }
        byte_at_cp[n] = len;
        hk_sizes words = {0};
        CHECK(hk_pretokenize(v[k].kind, cps, n, &words) == 0, "%s: failed", v[k].name);
        size_t at = 0, w = 0;
        bool ok = true;
        for (; w < words.n && v[k].words[w]; w++) {
            size_t b0 = byte_at_cp[at], b1 = byte_at_cp[at + words.v[w]];
            const char *want = v[k].words[w];
            if (strlen(want) != b1 - b0 || memcmp(want, s + b0, b1 - b0))
                ok = false;
            at += words.v[w];
        }
        ok = ok && w == words.n && (w == 16 || !v[k].words[w]);
        CHECK(ok, "%s: unexpected split", v[k].name);
        if (!ok) {
            at = 0;
            for (w = 0; w < words.n; w++) {
                fprintf(stderr, "  [%.*s]\n", (int)(byte_at_cp[at + words.v[w]] - byte_at_cp[at]), s + byte_at_cp[at]);
                at += words.v[w];
            }
        }
        hk_sizes_free(&words);
    }
}

int main(void)
{
    test_pretokenizers();
    test_vocab_files();
    test_fixture_vocabs();
    test_special_ids();
    test_streaming();
    test_errors();
    test_long_text();
    return hk_check_done("tokenizer");
}
