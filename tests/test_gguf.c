/* GGUF reader validation, getters, writer (byte-exact round trips of the
 * fixtures, atomic replacement, error paths), TENSORS.tsv / METADATA.tsv
 * agreement and `hark info` output.
 *
 * Malformed files are built by hand with a small byte builder rather than
 * with the writer, so a writer bug cannot hide a reader bug. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gguf.h"

/* ---- byte builder ---- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void b_raw(buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(2);
        }
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void b_u8(buf *b, uint8_t v) { b_raw(b, &v, 1); }
static void b_u32(buf *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_str(buf *b, const char *s)
{
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(buf *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, HK_GGUF_UINT32);
    b_u32(b, v);
}
static void b_kv_str(buf *b, const char *key, const char *v)
{
    b_str(b, key);
    b_u32(b, HK_GGUF_STRING);
    b_str(b, v);
}
static void b_tinfo(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset)
{
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}
static void b_pad(buf *b, size_t align)
{
    while (b->len % align)
        b_u8(b, 0);
}
static void b_zeros(buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b_u8(b, 0);
}

/* Opens bytes as a GGUF from an exact-size heap copy, so a sanitizer sees
 * any read past the end. */
static hk_gguf *open_bytes(const void *p, size_t n, const char *name, hk_error *err)
{
    void *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    hk_gguf *g = hk_gguf_open_memory(copy, n, name, err);
    if (!g)
        free(copy);
    return g;
}
static void close_bytes(hk_gguf *g)
{
    if (!g)
        return;
    void *p = (void *)g->base;
    hk_gguf_close(g);
    free(p);
}

/* The error must be one line, start with "<name>: " and contain want. */
static bool error_ok(const hk_error *err, const char *name, const char *want)
{
    size_t n = strlen(name);
    return strncmp(err->msg, name, n) == 0 && err->msg[n] == ':' && err->msg[n + 1] == ' ' &&
           !strchr(err->msg, '\n') && strstr(err->msg, want) != NULL;
}

#define EXPECT_FAIL(b, name, want)                                                          \
    do {                                                                                    \
        hk_error e_ = {{0}};                                                                \
        hk_gguf *g_ = open_bytes((b)->p, (b)->len, name, &e_);                              \
        CHECK(g_ == NULL, "%s: opened, expected an error containing \"%s\"", name, want);   \
        CHECK(g_ != NULL || error_ok(&e_, name, want), "%s: error \"%s\", want \"%s\"", name, e_.msg, want); \
        close_bytes(g_);                                                                    \
    } while (0)

static void b_free(buf *b)
{
    free(b->p);
    *b = (buf){0};
}

/* ---- temporary directory ---- */

static char tmpdir[512];

static const char *tmp_path(const char *name)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void rm_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlink(tmp_path(e->d_name));
        closedir(d);
    }
    rmdir(tmpdir);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- malformed files ---- */

/* A valid file with one key and one F32 tensor [4,2] (32 bytes of data). */
static void minimal_file(buf *b, const char *tensor, uint32_t data_bytes)
{
    const uint64_t ne[2] = {4, 2};
    b_header(b, 3, 1, 1);
    b_kv_str(b, "general.architecture", "llama");
    b_tinfo(b, tensor, 2, ne, HK_TYPE_F32, 0);
    b_pad(b, 32);
    for (uint32_t i = 0; i < data_bytes; i++)
        b_u8(b, (uint8_t)i);
}

static void test_minimal_valid(void)
{
    buf b = {0};
    minimal_file(&b, "blk.3.attn_q.weight", 32);
    hk_error err = {{0}};
    hk_gguf *g = open_bytes(b.p, b.len, "ok.gguf", &err);
    CHECK(g != NULL, "minimal file: %s", err.msg);
    if (g) {
        CHECK(g->version == 3 && g->n_kv == 1 && g->n_tensors == 1 && g->alignment == 32, "header");
        const hk_gguf_tensor *t = hk_gguf_find_tensor(g, "blk.3.attn_q.weight");
        CHECK(t && t->nbytes == 32 && t->ne[0] == 4 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 1,
              "tensor info");
        CHECK(t && t->data == g->base + g->data_offset && ((const uint8_t *)t->data)[31] == 31, "tensor data");
        CHECK(g->data_offset % 32 == 0 && g->data_offset + 32 == b.len, "data offset %" PRIu64, g->data_offset);
        hk_str s;
        CHECK(hk_gguf_get_str(g, "general.architecture", &s) && hk_str_eq(s, "llama"), "architecture");
    }
    close_bytes(g);
    b_free(&b);

    /* version 2 files are read the same way */
    minimal_file(&b, "t", 32);
    b.p[4] = 2;
    g = open_bytes(b.p, b.len, "v2.gguf", &err);
    CHECK(g && g->version == 2, "version 2: %s", err.msg);
    close_bytes(g);
    b_free(&b);
}

static void test_header_errors(void)
{
    buf b = {0};
    minimal_file(&b, "t", 32);
    memcpy(b.p, "GGUX", 4);
    EXPECT_FAIL(&b, "magic.gguf", "not a GGUF file (bad magic)");
    b_free(&b);

    b_raw(&b, "GG", 2);
    EXPECT_FAIL(&b, "short.gguf", "bad magic");
    b_free(&b);
    b_raw(&b, "GGUF", 4);
    EXPECT_FAIL(&b, "magic-only.gguf", "truncated file: version");
    b_free(&b);

    minimal_file(&b, "t", 32);
    b.p[4] = 1;
    EXPECT_FAIL(&b, "v1.gguf", "GGUF version 1 is not supported");
    b.p[4] = 4;
    EXPECT_FAIL(&b, "v4.gguf", "unsupported GGUF version 4");
    b.p[4] = 0;
    EXPECT_FAIL(&b, "v0.gguf", "unsupported GGUF version 0");
    b_free(&b);

    /* counts no file could hold: rejected before any allocation */
    b_header(&b, 3, 0, 1ull << 60);
    b_kv_u32(&b, "a", 1);
    EXPECT_FAIL(&b, "nkv.gguf", "key count 1152921504606846976 is larger than the file could hold");
    b_free(&b);
    b_header(&b, 3, 1ull << 60, 1);
    b_kv_u32(&b, "a", 1);
    EXPECT_FAIL(&b, "ntensors.gguf", "tensor count 1152921504606846976 is larger than the file could hold");
    b_free(&b);
    b_header(&b, 3, UINT64_MAX, UINT64_MAX);
    EXPECT_FAIL(&b, "nmax.gguf", "count 18446744073709551615 is larger than the file could hold");
    b_free(&b);
}

static void test_kv_errors(void)
{
    buf b = {0};

    /* key string length past EOF */
    b_header(&b, 3, 0, 1);
    b_u64(&b, 1000);
    b_raw(&b, "abcde", 5);
    b_zeros(&b, 8);
    EXPECT_FAIL(&b, "keylen.gguf", "truncated file: key 0 at byte 32 needs 1000 bytes");
    b_free(&b);

    /* string value length past EOF, and one of 2^63 (no overflow in the check) */
    for (int k = 0; k < 2; k++) {
        b_header(&b, 3, 0, 1);
        b_str(&b, "general.name");
        b_u32(&b, HK_GGUF_STRING);
        b_u64(&b, k ? 1ull << 63 : 64);
        b_raw(&b, "short", 5);
        EXPECT_FAIL(&b, "strlen.gguf", "truncated file: key 'general.name'");
        b_free(&b);
    }

    /* unknown value types */
    b_header(&b, 3, 0, 1);
    b_str(&b, "x.y");
    b_u32(&b, 13);
    b_u32(&b, 0);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, "vtype.gguf", "key 'x.y' has unknown value type 13");
    b_free(&b);
    b_header(&b, 3, 0, 1);
    b_str(&b, "x.y");
    b_u32(&b, 0xffffffffu);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, "vtype2.gguf", "unknown value type 4294967295");
    b_free(&b);
    b_header(&b, 3, 0, 1);
    b_str(&b, "arr");
    b_u32(&b, HK_GGUF_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 1);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, "etype.gguf", "key 'arr' has unknown array element type 77");
    b_free(&b);

    /* array counts no file could hold: fixed-size, string and nested elements */
    const uint32_t etypes[3] = {HK_GGUF_UINT32, HK_GGUF_STRING, HK_GGUF_ARRAY};
    for (int k = 0; k < 3; k++) {
        b_header(&b, 3, 0, 1);
        b_str(&b, "tokenizer.ggml.tokens");
        b_u32(&b, HK_GGUF_ARRAY);
        b_u32(&b, etypes[k]);
        b_u64(&b, 1ull << 60);
        b_zeros(&b, 64);
        EXPECT_FAIL(&b, "arrn.gguf", "array of 1152921504606846976 elements ends past end of file");
        b_free(&b);
    }
    /* a count that fits the file but whose elements do not */
    b_header(&b, 3, 0, 1);
    b_str(&b, "s");
    b_u32(&b, HK_GGUF_ARRAY);
    b_u32(&b, HK_GGUF_STRING);
    b_u64(&b, 3);
    b_str(&b, "one");
    b_str(&b, "two");
    b_u64(&b, 9);
    b_raw(&b, "thr", 3);
    b_zeros(&b, 2);
    EXPECT_FAIL(&b, "arrstr.gguf", "truncated file: key 's'");
    b_free(&b);

    /* duplicate key */
    b_header(&b, 3, 0, 3);
    b_kv_u32(&b, "a.b", 1);
    b_kv_u32(&b, "c", 2);
    b_kv_u32(&b, "a.b", 3);
    EXPECT_FAIL(&b, "dupkey.gguf", "duplicate key 'a.b'");
    b_free(&b);

    /* a key whose name holds control bytes: the message stays on one line */
    b_header(&b, 3, 0, 2);
    b_kv_u32(&b, "evil\nkey", 1);
    b_kv_u32(&b, "evil\nkey", 1);
    EXPECT_FAIL(&b, "nl.gguf", "duplicate key 'evil\\nkey'");
    b_free(&b);

    /* bad general.alignment */
    const uint32_t bad_align[3] = {0, 3, 48};
    for (int k = 0; k < 3; k++) {
        b_header(&b, 3, 0, 1);
        b_kv_u32(&b, "general.alignment", bad_align[k]);
        EXPECT_FAIL(&b, "align.gguf", "general.alignment must be a power of two");
        b_free(&b);
    }
    b_header(&b, 3, 0, 1);
    b_kv_str(&b, "general.alignment", "64");
    EXPECT_FAIL(&b, "alignstr.gguf", "general.alignment must be a power of two");
    b_free(&b);
}

/* Arrays nested `levels` deep: arr[arr[...arr[u32]]], each holding 2 items
 * at the outer levels and [1,2] at the innermost. */
static void b_nested(buf *b, int levels)
{
    if (levels == 1) {
        b_u32(b, HK_GGUF_UINT32);
        b_u64(b, 2);
        b_u32(b, 1);
        b_u32(b, 2);
        return;
    }
    b_u32(b, HK_GGUF_ARRAY);
    b_u64(b, 2);
    for (int i = 0; i < 2; i++)
        b_nested(b, levels - 1);
}

static void test_nested_arrays(void)
{
    buf b = {0};
    /* [[1,2],[3]] then a scalar: the reader must land exactly on "after" */
    b_header(&b, 3, 0, 3);
    b_str(&b, "nested");
    b_u32(&b, HK_GGUF_ARRAY);
    b_u32(&b, HK_GGUF_ARRAY);
    b_u64(&b, 2);
    b_u32(&b, HK_GGUF_UINT32);
    b_u64(&b, 2);
    b_u32(&b, 1);
    b_u32(&b, 2);
    b_u32(&b, HK_GGUF_UINT32);
    b_u64(&b, 1);
    b_u32(&b, 3);
    b_str(&b, "strs");
    b_u32(&b, HK_GGUF_ARRAY);
    b_u32(&b, HK_GGUF_ARRAY);
    b_u64(&b, 1);
    b_u32(&b, HK_GGUF_STRING);
    b_u64(&b, 2);
    b_str(&b, "x");
    b_str(&b, "yz");
    b_kv_u32(&b, "after", 7);
    b_pad(&b, 32);
    hk_error err = {{0}};
    hk_gguf *g = open_bytes(b.p, b.len, "nested.gguf", &err);
    CHECK(g != NULL, "nested arrays: %s", err.msg);
    if (g) {
        const hk_gguf_kv *kv = hk_gguf_find(g, "nested");
        CHECK(kv && kv->type == HK_GGUF_ARRAY && kv->arr_type == HK_GGUF_ARRAY && kv->arr_n == 2 &&
                  kv->size == (4 + 8 + 8) + (4 + 8 + 4),
              "nested kv");
        /* element getters refuse nested arrays rather than misread them */
        CHECK(kv && hk_gguf_arr_int(kv, 0) == 0 && hk_gguf_arr_f32(kv, 1) == 0 && hk_gguf_arr_str(kv, 0).len == 0,
              "getters on nested array");
        kv = hk_gguf_find(g, "strs");
        CHECK(kv && kv->arr_n == 1 && kv->size == 4 + 8 + 9 + 10, "nested string kv");
        uint32_t v = 0;
        CHECK(hk_gguf_get_u32(g, "after", &v) && v == 7, "key after nested arrays: %u", v);
        CHECK(g->n_kv == 3 && hk_str_eq(g->kv[2].key, "after"), "order");
    }
    close_bytes(g);
    b_free(&b);

    /* a few levels are fine; hostile depth fails cleanly instead of recursing */
    for (int levels = 2; levels <= 6; levels++) {
        b_header(&b, 3, 0, 2);
        b_str(&b, "deep");
        b_u32(&b, HK_GGUF_ARRAY);
        b_nested(&b, levels);
        b_kv_u32(&b, "after", 9);
        g = open_bytes(b.p, b.len, "deep.gguf", &err);
        uint32_t v = 0;
        CHECK(g && hk_gguf_get_u32(g, "after", &v) && v == 9, "%d levels: %s", levels, g ? "" : err.msg);
        close_bytes(g);
        b_free(&b);
    }
    b_header(&b, 3, 0, 1);
    b_str(&b, "deep");
    b_u32(&b, HK_GGUF_ARRAY);
    for (int i = 0; i < 1000; i++) {
        b_u32(&b, HK_GGUF_ARRAY);
        b_u64(&b, 1);
    }
    b_u32(&b, HK_GGUF_UINT8);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "deep.gguf", "key 'deep': arrays nested deeper than");
    b_free(&b);
}

static void test_tensor_errors(void)
{
    buf b = {0};
    const uint64_t ne2[2] = {4, 2};

    minimal_file(&b, "blk.3.attn_q.weight", 31);
    EXPECT_FAIL(&b, "past.gguf", "tensor 'blk.3.attn_q.weight' ends past end of file");
    b_free(&b);
    minimal_file(&b, "blk.3.attn_q.weight", 0);
    EXPECT_FAIL(&b, "nodata.gguf", "tensor 'blk.3.attn_q.weight' ends past end of file");
    b_free(&b);

    /* unknown type ids: 4 and 5 (retired Q4_2/Q4_3), 99 */
    const uint32_t bad_types[3] = {4, 5, 99};
    for (int k = 0; k < 3; k++) {
        b_header(&b, 3, 1, 0);
        b_tinfo(&b, "w", 2, ne2, bad_types[k], 0);
        b_pad(&b, 32);
        b_zeros(&b, 64);
        char want[64];
        snprintf(want, sizeof want, "tensor 'w' has unknown type id %u", bad_types[k]);
        EXPECT_FAIL(&b, "ttype.gguf", want);
        b_free(&b);
    }

    const uint32_t bad_dims[2] = {0, 5};
    const uint64_t ne5[5] = {1, 1, 1, 1, 1};
    for (int k = 0; k < 2; k++) {
        b_header(&b, 3, 1, 0);
        b_tinfo(&b, "w", bad_dims[k], ne5, HK_TYPE_F32, 0);
        b_pad(&b, 32);
        b_zeros(&b, 64);
        char want[64];
        snprintf(want, sizeof want, "tensor 'w' has %u dimensions (1 to 4 allowed)", bad_dims[k]);
        EXPECT_FAIL(&b, "ndims.gguf", want);
        b_free(&b);
    }

    /* element count overflow: 2^32 * 2^32 * 2^32 */
    const uint64_t big[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    b_header(&b, 3, 1, 0);
    b_tinfo(&b, "w", 3, big, HK_TYPE_F32, 0);
    b_pad(&b, 32);
    EXPECT_FAIL(&b, "overflow.gguf", "tensor 'w' has an element count that overflows");
    b_free(&b);
    /* bytes overflow while elements do not: 2^62 F32 elements */
    const uint64_t big2[2] = {1ull << 31, 1ull << 31};
    b_header(&b, 3, 1, 0);
    b_tinfo(&b, "w", 2, big2, HK_TYPE_F32, 0);
    b_pad(&b, 32);
    EXPECT_FAIL(&b, "bytes.gguf", "tensor 'w' byte size overflows");
    b_free(&b);
    /* large but representable: must be "past end of file", not a wrap-around */
    const uint64_t big3[2] = {1ull << 30, 1ull << 30};
    b_header(&b, 3, 1, 0);
    b_tinfo(&b, "w", 2, big3, HK_TYPE_F32, 0);
    b_pad(&b, 32);
    EXPECT_FAIL(&b, "huge.gguf", "tensor 'w' ends past end of file");
    b_free(&b);
    /* negative dimension */
    const uint64_t neg[2] = {4, UINT64_MAX};
    b_header(&b, 3, 1, 0);
    b_tinfo(&b, "w", 2, neg, HK_TYPE_F32, 0);
    b_pad(&b, 32);
    EXPECT_FAIL(&b, "neg.gguf", "tensor 'w' dimension 1 is negative");
    b_free(&b);
    /* a row that is not whole blocks */
    const uint64_t ne33[2] = {33, 1};
    b_header(&b, 3, 1, 0);
    b_tinfo(&b, "w", 2, ne33, HK_TYPE_Q8_0, 0);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    EXPECT_FAIL(&b, "block.gguf", "tensor 'w' row of 33 is not a multiple of the Q8_0 block size 32");
    b_free(&b);

    /* misaligned offset, offset past the end, offset near 2^64 */
    const uint64_t offs[3] = {4, 64, UINT64_MAX - 31};
    const char *want_off[3] = {"tensor 'w' data offset 4 is not aligned to 32", "tensor 'w' ends past end of file",
                               "tensor 'w' ends past end of file"};
    for (int k = 0; k < 3; k++) {
        b_header(&b, 3, 1, 0);
        b_tinfo(&b, "w", 2, ne2, HK_TYPE_F32, offs[k]);
        b_pad(&b, 32);
        b_zeros(&b, 64);
        EXPECT_FAIL(&b, "offset.gguf", want_off[k]);
        b_free(&b);
    }
    /* with general.alignment 64, offset 32 is misaligned */
    b_header(&b, 3, 1, 1);
    b_kv_u32(&b, "general.alignment", 64);
    b_tinfo(&b, "w", 2, ne2, HK_TYPE_F32, 32);
    b_pad(&b, 64);
    b_zeros(&b, 128);
    EXPECT_FAIL(&b, "align64.gguf", "tensor 'w' data offset 32 is not aligned to 64");
    b_free(&b);

    /* duplicate tensor name */
    b_header(&b, 3, 2, 0);
    b_tinfo(&b, "blk.0.ffn_up.weight", 2, ne2, HK_TYPE_F32, 0);
    b_tinfo(&b, "blk.0.ffn_up.weight", 2, ne2, HK_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    EXPECT_FAIL(&b, "duptensor.gguf", "duplicate tensor name 'blk.0.ffn_up.weight'");
    b_free(&b);

    /* tensor infos end exactly at EOF: the data section would start past it */
    b_header(&b, 3, 1, 0);
    b_tinfo(&b, "w", 1, ne2, HK_TYPE_F32, 0);
    EXPECT_FAIL(&b, "nodatasec.gguf", "truncated file");
    b_free(&b);
}

/* Files from disk: open() errors name the file too. */
static void test_open_errors(void)
{
    hk_error err = {{0}};
    const char *missing = tmp_path("missing.gguf");
    CHECK(!hk_gguf_open(missing, &err) && error_ok(&err, missing, "No such file or directory"), "%s", err.msg);
    CHECK(!hk_gguf_open(tmpdir, &err) && error_ok(&err, tmpdir, "not a regular file"), "%s", err.msg);
    const char *tiny = tmp_path("tiny.gguf");
    FILE *f = fopen(tiny, "wb");
    fputs("GG", f);
    fclose(f);
    CHECK(!hk_gguf_open(tiny, &err) && error_ok(&err, tiny, "not a GGUF file"), "%s", err.msg);
    unlink(tiny);
}

/* A file of several MiB is mapped at a multiple of HK_GGUF_MAP_ALIGN with
 * the huge-page advice ("hg" in the mapping's VmFlags, where the kernel has
 * transparent huge pages at all), and hk_gguf_huge_pages accounts for what
 * is in memory.  Whether the kernel then gives huge pages depends on the
 * file system and on what the page cache already holds, so only the
 * accounting is checked there. */
static void test_mapping(void)
{
    hk_error err = {{0}};
    const char *path = tmp_path("big.gguf");
    enum { N = 5 << 18 }; /* 5 MiB of F32 */
    float *data = malloc(sizeof(float) * N);
    CHECK(data != NULL, "alloc");
    if (!data)
        return;
    for (int i = 0; i < N; i++)
        data[i] = (float)i;
    hk_gguf_writer *w = hk_gguf_writer_new();
    const int64_t ne[1] = {N};
    hk_gguf_writer_add_str(w, "general.architecture", "llama");
    CHECK(hk_gguf_writer_add_tensor(w, "big", HK_TYPE_F32, 1, ne, data) == 0, "big");
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == 0, "write big: %s", err.msg);
    hk_gguf_writer_free(w);
    free(data);
    hk_gguf *g = hk_gguf_open(path, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g)
        return;
    CHECK((uintptr_t)g->base % HK_GGUF_MAP_ALIGN == 0, "mapped at %p, not a multiple of 2 MiB", (void *)g->base);
    /* the whole file readable through the mapping (none of it unmapped
     * with the reservation's slack) */
    const hk_gguf_tensor *t = hk_gguf_find_tensor(g, "big");
    CHECK(t && ((const float *)t->data)[N - 1] == (float)(N - 1) && ((const float *)t->data)[0] == 0.0f, "data");
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < g->size; i += 4096)
        sink += g->base[i];
    (void)sink;
    uint64_t resident = 0, huge = 0;
    CHECK(hk_gguf_huge_pages(g, &resident, &huge) == 0, "huge pages of a mapped file");
    CHECK(resident >= g->size / 4096 * 4096 && resident <= (g->size + HK_GGUF_MAP_ALIGN) && huge <= resident,
          "resident %llu, huge %llu of %zu bytes", (unsigned long long)resident, (unsigned long long)huge, g->size);
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) { /* the kernel has THP: the advice must be on the mapping */
        fclose(f);
        FILE *sm = fopen("/proc/self/smaps", "r");
        char line[512];
        bool in = false, advised = false;
        while (sm && fgets(line, sizeof line, sm)) {
            unsigned long a, b;
            char dash;
            if (sscanf(line, "%lx%c%lx ", &a, &dash, &b) == 3 && dash == '-')
                in = a <= (uintptr_t)g->base && (uintptr_t)g->base < b;
            else if (in && strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " hg"))
                advised = true;
        }
        if (sm)
            fclose(sm);
        CHECK(advised, "the mapping has no MADV_HUGEPAGE (VmFlags hg)");
    }
    hk_gguf_close(g);
    /* memory a caller lends is no mapping */
    buf b = {0};
    minimal_file(&b, "t", 32);
    hk_gguf *m = open_bytes(b.p, b.len, "mem.gguf", &err);
    CHECK(m && hk_gguf_huge_pages(m, &resident, &huge) == -1 && resident == 0, "borrowed memory: no huge-page count");
    close_bytes(m);
    b_free(&b);
    unlink(path);
}

/* ---- writer ---- */

static uint8_t *slurp(const char *path, size_t *n)
{
    return (uint8_t *)hk_read_file(path, n);
}

/* Every value type, written with the writer, read back through every getter. */
static const char *all_types_file(void)
{
    static char path[1024];
    if (path[0])
        return path;
    snprintf(path, sizeof path, "%s", tmp_path("all.gguf"));
    hk_gguf_writer *w = hk_gguf_writer_new();
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int32_t i32 = -2000000000;
    uint64_t u64 = 1ull << 40, u64big = UINT64_MAX;
    int64_t i64 = INT64_MIN;
    double f64 = 3.25e300;
    CHECK(hk_gguf_writer_add_kv(w, "v.u8", HK_GGUF_UINT8, &u8) == 0, "u8");
    CHECK(hk_gguf_writer_add_kv(w, "v.i8", HK_GGUF_INT8, &i8) == 0, "i8");
    CHECK(hk_gguf_writer_add_kv(w, "v.u16", HK_GGUF_UINT16, &u16) == 0, "u16");
    CHECK(hk_gguf_writer_add_kv(w, "v.i16", HK_GGUF_INT16, &i16) == 0, "i16");
    CHECK(hk_gguf_writer_add_u32(w, "v.u32", 4000000000u) == 0, "u32");
    CHECK(hk_gguf_writer_add_kv(w, "v.i32", HK_GGUF_INT32, &i32) == 0, "i32");
    CHECK(hk_gguf_writer_add_kv(w, "v.u64", HK_GGUF_UINT64, &u64) == 0, "u64");
    CHECK(hk_gguf_writer_add_kv(w, "v.u64big", HK_GGUF_UINT64, &u64big) == 0, "u64");
    CHECK(hk_gguf_writer_add_kv(w, "v.i64", HK_GGUF_INT64, &i64) == 0, "i64");
    CHECK(hk_gguf_writer_add_f32(w, "v.f32", 1e-5f) == 0, "f32");
    CHECK(hk_gguf_writer_add_kv(w, "v.f64", HK_GGUF_FLOAT64, &f64) == 0, "f64");
    CHECK(hk_gguf_writer_add_bool(w, "v.true", true) == 0, "bool");
    CHECK(hk_gguf_writer_add_bool(w, "v.false", false) == 0, "bool");
    CHECK(hk_gguf_writer_add_str(w, "v.str", "line one\nline \"two\"\t\xc3\xa9\xff") == 0, "str");
    CHECK(hk_gguf_writer_add_str(w, "v.empty", "") == 0, "str");
    const uint8_t a8[3] = {1, 2, 255};
    const int16_t a16[3] = {-1, 0, 32767};
    const int32_t a32[4] = {2, 3, 3, -6};
    const uint64_t a64[2] = {0, UINT64_MAX};
    const int64_t ai64[2] = {INT64_MIN, 5};
    const float af[5] = {0.5f, -1.25f, 1e30f, -0x1p63f, __builtin_nanf("")};
    const double ad[2] = {0.125, -2};
    const bool ab[3] = {true, false, true};
    const char *as[4] = {"<unk>", "", "Ġt", "x\ny"};
    CHECK(hk_gguf_writer_add_array(w, "a.u8", HK_GGUF_UINT8, a8, 3) == 0, "a.u8");
    CHECK(hk_gguf_writer_add_array(w, "a.i16", HK_GGUF_INT16, a16, 3) == 0, "a.i16");
    CHECK(hk_gguf_writer_add_array(w, "a.i32", HK_GGUF_INT32, a32, 4) == 0, "a.i32");
    CHECK(hk_gguf_writer_add_array(w, "a.u64", HK_GGUF_UINT64, a64, 2) == 0, "a.u64");
    CHECK(hk_gguf_writer_add_array(w, "a.i64", HK_GGUF_INT64, ai64, 2) == 0, "a.i64");
    CHECK(hk_gguf_writer_add_array(w, "a.f32", HK_GGUF_FLOAT32, af, 5) == 0, "a.f32");
    CHECK(hk_gguf_writer_add_array(w, "a.f64", HK_GGUF_FLOAT64, ad, 2) == 0, "a.f64");
    CHECK(hk_gguf_writer_add_array(w, "a.bool", HK_GGUF_BOOL, ab, 3) == 0, "a.bool");
    CHECK(hk_gguf_writer_add_array(w, "a.str", HK_GGUF_STRING, as, 4) == 0, "a.str");
    CHECK(hk_gguf_writer_add_array(w, "a.empty", HK_GGUF_INT32, NULL, 0) == 0, "a.empty");
    /* a nested array can only come from another file */
    buf b = {0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "a.nested");
    b_u32(&b, HK_GGUF_ARRAY);
    b_nested(&b, 3);
    hk_error err = {{0}};
    hk_gguf *src = open_bytes(b.p, b.len, "src.gguf", &err);
    CHECK(src != NULL, "nested source: %s", err.msg);
    if (src)
        CHECK(hk_gguf_writer_copy_kv(w, &src->kv[0]) == 0, "copy nested");
    float t0[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint16_t t1[3 * 64];
    for (int i = 0; i < 3 * 64; i++)
        t1[i] = (uint16_t)i;
    const int64_t ne0[2] = {4, 2}, ne1[3] = {64, 3, 1};
    CHECK(hk_gguf_writer_add_tensor(w, "t0", HK_TYPE_F32, 2, ne0, t0) == 0, "t0");
    CHECK(hk_gguf_writer_add_tensor(w, "t1", HK_TYPE_F16, 3, ne1, t1) == 0, "t1");
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == 0, "write all types: %s", err.msg);
    hk_gguf_writer_free(w);
    close_bytes(src);
    b_free(&b);
    return path;
}

static void test_getters(void)
{
    const char *path = all_types_file();
    hk_error err = {{0}};
    hk_gguf *g = hk_gguf_open(path, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g)
        return;
    uint32_t u = 0;
    int64_t i = 0;
    float f = 0;
    bool bo = false;
    hk_str s;
    CHECK(g->version == 3 && g->alignment == 32 && g->n_kv == 26 && g->n_tensors == 2, "header %" PRIu64, g->n_kv);
    /* integers convert when the value fits, and only then */
    CHECK(hk_gguf_get_u32(g, "v.u8", &u) && u == 200, "u8 as u32");
    CHECK(hk_gguf_get_i64(g, "v.u8", &i) && i == 200, "u8 as i64");
    CHECK(!hk_gguf_get_u32(g, "v.i8", &u), "negative i8 as u32");
    CHECK(hk_gguf_get_i64(g, "v.i8", &i) && i == -100, "i8");
    CHECK(hk_gguf_get_u32(g, "v.u16", &u) && u == 60000, "u16");
    CHECK(hk_gguf_get_i64(g, "v.i16", &i) && i == -30000, "i16");
    CHECK(hk_gguf_get_u32(g, "v.u32", &u) && u == 4000000000u, "u32");
    CHECK(hk_gguf_get_i64(g, "v.i32", &i) && i == -2000000000, "i32");
    CHECK(!hk_gguf_get_u32(g, "v.u64", &u), "2^40 as u32");
    CHECK(hk_gguf_get_i64(g, "v.u64", &i) && i == 1ll << 40, "u64");
    CHECK(!hk_gguf_get_i64(g, "v.u64big", &i), "2^64-1 as i64");
    CHECK(hk_gguf_get_i64(g, "v.i64", &i) && i == INT64_MIN, "i64");
    CHECK(hk_gguf_get_f32(g, "v.f32", &f) && f == 1e-5f, "f32");
    CHECK(hk_gguf_get_f32(g, "v.f64", &f) && f == (float)3.25e300, "f64 as f32");
    CHECK(!hk_gguf_get_f32(g, "v.u32", &f), "u32 as f32");
    CHECK(!hk_gguf_get_u32(g, "v.f32", &u), "f32 as u32");
    CHECK(hk_gguf_get_bool(g, "v.true", &bo) && bo, "true");
    CHECK(hk_gguf_get_bool(g, "v.false", &bo) && !bo, "false");
    CHECK(!hk_gguf_get_u32(g, "v.true", &u) && !hk_gguf_get_i64(g, "v.true", &i), "bool is not an integer");
    CHECK(!hk_gguf_get_bool(g, "v.u8", &bo), "u8 is not a bool");
    CHECK(hk_gguf_get_str(g, "v.str", &s) && s.len == 23 && memcmp(s.ptr, "line one\nline \"two\"\t\xc3\xa9\xff", 23) == 0,
          "str");
    CHECK(hk_gguf_get_str(g, "v.empty", &s) && s.len == 0, "empty str");
    CHECK(!hk_gguf_get_str(g, "v.u32", &s) && !hk_gguf_get_str(g, "a.str", &s), "non-strings");
    CHECK(!hk_gguf_get_u32(g, "no.such.key", &u) && !hk_gguf_find(g, "no.such.key") && !hk_gguf_find(g, ""),
          "missing");
    CHECK(!hk_gguf_get_u32(g, "a.i32", &u), "array as scalar");

    const hk_gguf_kv *kv = hk_gguf_find(g, "a.u8");
    CHECK(kv && kv->type == HK_GGUF_ARRAY && kv->arr_type == HK_GGUF_UINT8 && kv->arr_n == 3 &&
              hk_gguf_arr_int(kv, 2) == 255 && hk_gguf_arr_f32(kv, 0) == 1.0f,
          "a.u8");
    kv = hk_gguf_find(g, "a.i16");
    CHECK(kv && hk_gguf_arr_int(kv, 0) == -1 && hk_gguf_arr_int(kv, 2) == 32767, "a.i16");
    kv = hk_gguf_find(g, "a.i32");
    CHECK(kv && kv->arr_n == 4 && hk_gguf_arr_int(kv, 3) == -6 && hk_gguf_arr_f32(kv, 1) == 3.0f, "a.i32");
    CHECK(kv && hk_gguf_arr_int(kv, 4) == 0 && hk_gguf_arr_int(kv, UINT64_MAX) == 0, "a.i32 out of range");
    kv = hk_gguf_find(g, "a.u64");
    CHECK(kv && hk_gguf_arr_int(kv, 1) == INT64_MAX, "a.u64 saturates");
    kv = hk_gguf_find(g, "a.i64");
    CHECK(kv && hk_gguf_arr_int(kv, 0) == INT64_MIN && hk_gguf_arr_int(kv, 1) == 5, "a.i64");
    kv = hk_gguf_find(g, "a.f32");
    CHECK(kv && hk_gguf_arr_f32(kv, 1) == -1.25f && hk_gguf_arr_f32(kv, 2) == 1e30f && hk_gguf_arr_int(kv, 0) == 0 &&
              hk_gguf_arr_int(kv, 1) == -1,
          "a.f32");
    /* floats with no int64_t value read as 0 rather than as undefined behaviour */
    CHECK(kv && hk_gguf_arr_int(kv, 2) == 0 && hk_gguf_arr_int(kv, 3) == INT64_MIN && hk_gguf_arr_int(kv, 4) == 0,
          "a.f32 as integers: %" PRId64 " %" PRId64, kv ? hk_gguf_arr_int(kv, 2) : 0, kv ? hk_gguf_arr_int(kv, 4) : 0);
    kv = hk_gguf_find(g, "a.f64");
    CHECK(kv && hk_gguf_arr_f32(kv, 0) == 0.125f && hk_gguf_arr_f32(kv, 1) == -2.0f, "a.f64");
    kv = hk_gguf_find(g, "a.bool");
    CHECK(kv && kv->arr_type == HK_GGUF_BOOL && hk_gguf_arr_int(kv, 0) == 1 && hk_gguf_arr_int(kv, 1) == 0, "a.bool");
    kv = hk_gguf_find(g, "a.str");
    CHECK(kv && kv->arr_type == HK_GGUF_STRING && kv->arr_n == 4 && hk_str_eq(hk_gguf_arr_str(kv, 0), "<unk>") &&
              hk_gguf_arr_str(kv, 1).len == 0 && hk_str_eq(hk_gguf_arr_str(kv, 2), "Ġt") &&
              hk_str_eq(hk_gguf_arr_str(kv, 3), "x\ny") && hk_gguf_arr_str(kv, 4).len == 0,
          "a.str");
    CHECK(kv && hk_gguf_arr_int(kv, 0) == 0 && hk_gguf_arr_f32(kv, 0) == 0, "numbers from strings");
    kv = hk_gguf_find(g, "a.empty");
    CHECK(kv && kv->arr_n == 0 && kv->size == 0 && hk_gguf_arr_int(kv, 0) == 0, "a.empty");
    kv = hk_gguf_find(g, "a.nested");
    /* 3 levels of 2: 2*(12 + 2*(12 + 8)) bytes after the outer header */
    CHECK(kv && kv->arr_type == HK_GGUF_ARRAY && kv->arr_n == 2 && kv->size == 2 * (12 + 2 * (12 + 8)), "a.nested");
    kv = hk_gguf_find(g, "v.u32");
    CHECK(kv && hk_gguf_arr_int(kv, 0) == 0 && hk_gguf_arr_str(kv, 0).len == 0, "array getters on a scalar");
    /* insertion order */
    CHECK(hk_str_eq(g->kv[0].key, "v.u8") && hk_str_eq(g->kv[25].key, "a.nested"), "key order");

    const hk_gguf_tensor *t0 = hk_gguf_find_tensor(g, "t0"), *t1 = hk_gguf_find_tensor(g, "t1");
    CHECK(t0 && t0->n_dims == 2 && t0->type == HK_TYPE_F32 && t0->offset == 0 && t0->nbytes == 32 &&
              ((const float *)t0->data)[7] == 8.0f,
          "t0");
    CHECK(t1 && t1->n_dims == 3 && t1->type == HK_TYPE_F16 && t1->offset == 32 && t1->nbytes == 384 &&
              t1->ne[0] == 64 && t1->ne[1] == 3 && t1->ne[2] == 1 && t1->ne[3] == 1 &&
              ((const uint16_t *)t1->data)[191] == 191,
          "t1");
    CHECK(!hk_gguf_find_tensor(g, "t2") && g->tensors[1].name.len == 2, "tensor lookups");
    CHECK(g->size == g->data_offset + 32 + 384, "file ends after padded data: %zu", g->size);
    hk_gguf_close(g);
}

/* Every byte-offset prefix of a small valid file: never a crash, an error
 * naming the file unless the prefix holds the complete file. */
static void test_truncation(void)
{
    size_t n = 0;
    uint8_t *full = slurp(all_types_file(), &n);
    CHECK(full && n > 0, "read back");
    if (!full)
        return;
    hk_error err = {{0}};
    hk_gguf *g = open_bytes(full, n, "full.gguf", &err);
    uint64_t need = 0;
    for (uint64_t i = 0; g && i < g->n_tensors; i++)
        if (g->data_offset + g->tensors[i].offset + g->tensors[i].nbytes > need)
            need = g->data_offset + g->tensors[i].offset + g->tensors[i].nbytes;
    close_bytes(g);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        err.msg[0] = 0;
        g = open_bytes(full, len, "cut.gguf", &err);
        if (g ? len < need
              : !(error_ok(&err, "cut.gguf", "truncated") || error_ok(&err, "cut.gguf", "past end of file") ||
                  error_ok(&err, "cut.gguf", "could hold") || error_ok(&err, "cut.gguf", "bad magic"))) {
            if (bad++ < 5)
                CHECK(false, "prefix of %zu bytes (need %" PRIu64 "): %s", len, need, g ? "opened" : err.msg);
        }
        close_bytes(g);
    }
    CHECK(bad == 0, "%d bad prefixes", bad);
    free(full);

    /* the header of a real fixture, at every offset (step 7 keeps it quick) */
    const char *fx = hk_shared_path("fixtures/llm/models/qwen2-Q8_0.gguf");
    g = hk_gguf_open(fx, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g)
        return;
    size_t hdr = (size_t)g->data_offset;
    bad = 0;
    for (size_t len = 0; len < hdr; len += 7) {
        hk_gguf *c = open_bytes(g->base, len, "cut.gguf", &err);
        if (c || strncmp(err.msg, "cut.gguf: ", 10) != 0 || strchr(err.msg, '\n'))
            bad++;
        close_bytes(c);
    }
    CHECK(bad == 0, "%d bad fixture prefixes", bad);
    hk_gguf_close(g);
}

static int produce_pattern(void *user, uint64_t idx, void *dst, size_t nbytes, hk_error *err)
{
    int *calls = user;
    (*calls)++;
    if (idx == 99)
        return hk_fail(err, "no tensor 99");
    for (size_t i = 0; i < nbytes; i++)
        ((uint8_t *)dst)[i] = (uint8_t)(i * 7 + idx);
    return 0;
}

static int produce_fail(void *user, uint64_t idx, void *dst, size_t nbytes, hk_error *err)
{
    (void)user;
    (void)dst;
    (void)nbytes;
    return hk_fail(err, "cannot quantize tensor %llu", (unsigned long long)idx);
}

static bool file_is(const char *path, const char *content)
{
    size_t n;
    char *s = hk_read_file(path, &n);
    bool ok = s && n == strlen(content) && memcmp(s, content, n) == 0;
    free(s);
    return ok;
}

static void write_text(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    fputs(content, f);
    fclose(f);
}

static void test_writer(void)
{
    hk_error err = {{0}};
    const char *path = tmp_path("w.gguf");
    const char *tmp = tmp_path("w.gguf.tmp");

    /* produced data, alignment from set_alignment (written as a key) */
    hk_gguf_writer *w = hk_gguf_writer_new();
    const int64_t ne[2] = {256, 3};
    const float borrowed[5] = {1, 2, 3, 4, 5};
    const int64_t ne5[1] = {5};
    hk_gguf_writer_add_str(w, "general.architecture", "llama");
    hk_gguf_writer_set_alignment(w, 64);
    CHECK(hk_gguf_writer_add_tensor(w, "q", HK_TYPE_Q8_0, 2, ne, NULL) == 0, "q");
    CHECK(hk_gguf_writer_add_tensor(w, "b", HK_TYPE_F32, 1, ne5, borrowed) == 0, "b");
    CHECK(hk_gguf_writer_add_tensor(w, "k", HK_TYPE_Q4_K, 2, ne, NULL) == 0, "k");
    int calls = 0;
    CHECK(hk_gguf_writer_write(w, path, produce_pattern, &calls, &err) == 0, "write: %s", err.msg);
    CHECK(calls == 2, "producer called %d times", calls);
    CHECK(!file_exists(tmp), "tmp left behind");
    hk_gguf_writer_free(w);
    hk_gguf *g = hk_gguf_open(path, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (g) {
        uint32_t a = 0;
        CHECK(g->alignment == 64 && hk_gguf_get_u32(g, "general.alignment", &a) && a == 64 &&
                  hk_str_eq(g->kv[1].key, "general.alignment"),
              "alignment key");
        CHECK(g->data_offset % 64 == 0, "data offset aligned");
        const hk_gguf_tensor *q = hk_gguf_find_tensor(g, "q"), *b = hk_gguf_find_tensor(g, "b"),
                             *k = hk_gguf_find_tensor(g, "k");
        CHECK(q && q->nbytes == 3 * 8 * 34 && q->offset == 0, "q info");
        CHECK(b && b->offset == 832 && ((const float *)b->data)[4] == 5.0f, "b: offset %" PRIu64, b ? b->offset : 0);
        CHECK(k && k->offset == 896 && k->nbytes == 3 * 144, "k info");
        bool same = q != NULL && k != NULL;
        for (size_t i = 0; same && i < q->nbytes; i++)
            same = ((const uint8_t *)q->data)[i] == (uint8_t)(i * 7 + 0);
        for (size_t i = 0; same && i < k->nbytes; i++)
            same = ((const uint8_t *)k->data)[i] == (uint8_t)(i * 7 + 2);
        CHECK(same, "produced bytes");
        /* padding bytes are zeros */
        bool zeros = true;
        for (size_t i = (size_t)g->data_offset + 816; i < g->data_offset + 832; i++)
            zeros = zeros && g->base[i] == 0;
        CHECK(zeros && g->size == g->data_offset + 896 + 448, "padding; size %zu", g->size);
    }
    hk_gguf_close(g);

    /* general.alignment added by the caller decides; a conflicting
     * set_alignment is an error, not a silent choice */
    w = hk_gguf_writer_new();
    hk_gguf_writer_add_u32(w, "general.alignment", 128);
    hk_gguf_writer_add_tensor(w, "b", HK_TYPE_F32, 1, ne5, borrowed);
    hk_gguf_writer_add_tensor(w, "c", HK_TYPE_F32, 1, ne5, borrowed);
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == 0, "%s", err.msg);
    g = hk_gguf_open(path, &err);
    CHECK(g && g->alignment == 128 && g->n_kv == 1 && g->tensors[1].offset == 128 && g->data_offset % 128 == 0,
          "alignment 128");
    hk_gguf_close(g);
    hk_gguf_writer_set_alignment(w, 32);
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == -1 &&
              error_ok(&err, path, "general.alignment is 128 but alignment 32 was asked for"),
          "%s", err.msg);
    hk_gguf_writer_free(w);
    w = hk_gguf_writer_new();
    hk_gguf_writer_add_u32(w, "general.alignment", 48);
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == -1 &&
              error_ok(&err, path, "general.alignment 48 is not a power of two"),
          "%s", err.msg);
    hk_gguf_writer_free(w);
    w = hk_gguf_writer_new();
    hk_gguf_writer_set_alignment(w, 3);
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == -1 && error_ok(&err, path, "alignment 3"), "%s",
          err.msg);
    hk_gguf_writer_free(w);

    /* set_u32 replaces in place, or appends */
    w = hk_gguf_writer_new();
    hk_gguf_writer_add_str(w, "a", "x");
    hk_gguf_writer_add_str(w, "general.file_type", "was a string");
    hk_gguf_writer_add_u32(w, "z", 1);
    CHECK(hk_gguf_writer_set_u32(w, "general.file_type", 7) == 0 && hk_gguf_writer_set_u32(w, "new", 8) == 0,
          "set_u32");
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == 0, "%s", err.msg);
    hk_gguf_writer_free(w);
    g = hk_gguf_open(path, &err);
    uint32_t v1 = 0, v2 = 0;
    CHECK(g && g->n_kv == 4 && hk_str_eq(g->kv[1].key, "general.file_type") && g->kv[1].type == HK_GGUF_UINT32 &&
              hk_gguf_get_u32(g, "general.file_type", &v1) && v1 == 7 && hk_str_eq(g->kv[3].key, "new") &&
              hk_gguf_get_u32(g, "new", &v2) && v2 == 8,
          "set_u32 result");
    hk_gguf_close(g);

    /* a failed add makes write fail with its reason, and writes nothing */
    write_text(path, "old contents");
    struct {
        const char *want;
        int which;
    } bad[] = {
        {"duplicate key 'k'", 0},          {"duplicate tensor name 't'", 1}, {"tensor 'u': unknown type id 4", 2},
        {"tensor 'u': 5 dimensions", 3},   {"tensor 'u': 0 dimensions", 4},  {"not a multiple of the Q4_0 block", 5},
        {"dimension 1 is negative", 6},    {"element count overflows", 7},   {"arrays go through", 8},
        {"cannot be an array element", 9}, {"has no data and there is no producer", 10},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        w = hk_gguf_writer_new();
        hk_gguf_writer_add_u32(w, "k", 1);
        hk_gguf_writer_add_tensor(w, "t", HK_TYPE_F32, 1, ne5, borrowed);
        const int64_t ne_bad[5] = {5, -1, 1, 1, 1}, ne_big[4] = {1ll << 32, 1ll << 32, 1, 1}, ne_odd[2] = {33, 1};
        int rc = 0;
        switch (bad[c].which) {
        case 0: rc = hk_gguf_writer_add_u32(w, "k", 2); break;
        case 1: rc = hk_gguf_writer_add_tensor(w, "t", HK_TYPE_F32, 1, ne5, borrowed); break;
        case 2: rc = hk_gguf_writer_add_tensor(w, "u", (hk_type)4, 1, ne5, borrowed); break;
        case 3: rc = hk_gguf_writer_add_tensor(w, "u", HK_TYPE_F32, 5, ne_bad, borrowed); break;
        case 4: rc = hk_gguf_writer_add_tensor(w, "u", HK_TYPE_F32, 0, ne5, borrowed); break;
        case 5: rc = hk_gguf_writer_add_tensor(w, "u", HK_TYPE_Q4_0, 2, ne_odd, borrowed); break;
        case 6: rc = hk_gguf_writer_add_tensor(w, "u", HK_TYPE_F32, 2, ne_bad, borrowed); break;
        case 7: rc = hk_gguf_writer_add_tensor(w, "u", HK_TYPE_F32, 2, ne_big, borrowed); break;
        case 8: rc = hk_gguf_writer_add_kv(w, "u", HK_GGUF_ARRAY, &v1); break;
        case 9: rc = hk_gguf_writer_add_array(w, "u", HK_GGUF_ARRAY, &v1, 1); break;
        case 10: rc = hk_gguf_writer_add_tensor(w, "u", HK_TYPE_F32, 1, ne5, NULL); break;
        }
        CHECK(rc == (bad[c].which == 10 ? 0 : -1), "case %zu: add returned %d", c, rc);
        CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == -1 && error_ok(&err, path, bad[c].want),
              "case %zu: \"%s\", want \"%s\"", c, err.msg, bad[c].want);
        CHECK(file_is(path, "old contents") && !file_exists(tmp), "case %zu: old file kept", c);
        hk_gguf_writer_free(w);
    }

    /* a producer failure mid-file: tmp removed, old file untouched */
    w = hk_gguf_writer_new();
    hk_gguf_writer_add_tensor(w, "b", HK_TYPE_F32, 1, ne5, borrowed);
    hk_gguf_writer_add_tensor(w, "p", HK_TYPE_F32, 1, ne5, NULL);
    CHECK(hk_gguf_writer_write(w, path, produce_fail, NULL, &err) == -1 &&
              error_ok(&err, path, "cannot quantize tensor 1"),
          "%s", err.msg);
    CHECK(file_is(path, "old contents") && !file_exists(tmp), "producer failure: old file kept");
    hk_gguf_writer_free(w);

    /* an I/O error mid-file (the file size limit stands in for a full disk:
     * write() fails with EFBIG as it would with ENOSPC) */
    w = hk_gguf_writer_new();
    size_t big_n = 1 << 20;
    float *big = calloc(big_n, sizeof *big);
    const int64_t ne_big[1] = {(int64_t)big_n};
    hk_gguf_writer_add_tensor(w, "big", HK_TYPE_F32, 1, ne_big, big);
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    lim = old_lim;
    lim.rlim_cur = 256 * 1024;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        int rc = hk_gguf_writer_write(w, path, NULL, NULL, &err);
        setrlimit(RLIMIT_FSIZE, &old_lim);
        CHECK(rc == -1 && error_ok(&err, path, "write failed: File too large"), "%s", err.msg);
        CHECK(file_is(path, "old contents") && !file_exists(tmp), "I/O error: old file kept, tmp removed");
    }
    signal(SIGXFSZ, old_sig);
    /* and with the limit lifted the same writer replaces the file */
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == 0, "%s", err.msg);
    g = hk_gguf_open(path, &err);
    CHECK(g && g->n_tensors == 1 && g->tensors[0].nbytes == big_n * 4, "replaced");
    hk_gguf_close(g);
    hk_gguf_writer_free(w);
    free(big);

    /* a directory that does not exist */
    w = hk_gguf_writer_new();
    const char *nodir = tmp_path("no/such/dir/x.gguf");
    CHECK(hk_gguf_writer_write(w, nodir, NULL, NULL, &err) == -1 && error_ok(&err, nodir, "No such file or directory"),
          "%s", err.msg);
    hk_gguf_writer_free(w);

    /* a stale tmp from a crashed run is overwritten, not appended to */
    write_text(tmp, "stale stale stale stale stale stale stale stale stale stale stale");
    w = hk_gguf_writer_new();
    hk_gguf_writer_add_u32(w, "k", 1);
    CHECK(hk_gguf_writer_write(w, path, NULL, NULL, &err) == 0 && !file_exists(tmp), "%s", err.msg);
    size_t n = 0;
    free(slurp(path, &n));
    /* no tensors: no padding either, as gguf-py writes vocab-only files */
    CHECK(n == 24 + 17, "header-only file is %zu bytes", n);
    hk_gguf_writer_free(w);
}

/* ---- fixtures ---- */

static const char *fixture_files[] = {
    "models/stories260K.gguf",        "models/llama-tied-F32.gguf",   "models/llama-tied-F16.gguf",
    "models/llama-tied-BF16.gguf",    "models/llama-tied-Q2_K.gguf",  "models/llama-tied-Q3_K_M.gguf",
    "models/llama-tied-Q4_0.gguf",    "models/llama-tied-Q4_K_M.gguf", "models/llama-tied-Q4_K_S.gguf",
    "models/llama-tied-Q5_0.gguf",    "models/llama-tied-Q5_K_M.gguf", "models/llama-tied-Q6_K.gguf",
    "models/llama-tied-Q8_0.gguf",    "models/llama-untied-Q8_0.gguf", "models/qwen2-Q8_0.gguf",
    "models/qwen2-F16.gguf",          "models/phi3-Q8_0.gguf",        "models/phi3-Q4_K_M.gguf",
    "models/gemma2-Q8_0.gguf",        "models/gemma2-Q4_0.gguf",      "tokenizer/ggml-vocab-llama-spm.gguf",
    "tokenizer/ggml-vocab-phi-3.gguf", "tokenizer/ggml-vocab-gpt-2.gguf", "tokenizer/ggml-vocab-starcoder.gguf",
    "tokenizer/ggml-vocab-deepseek-coder.gguf",
};

static const char *fixture(const char *rel)
{
    static char p[4096];
    char r[512];
    snprintf(r, sizeof r, "fixtures/llm/%s", rel);
    snprintf(p, sizeof p, "%s", hk_shared_path(r));
    return p;
}

/* Read, copy every key and tensor (data borrowed from the mapping), write,
 * compare: the writer must reproduce what gguf-py / llama-quantize wrote. */
static void test_roundtrip(void)
{
    int done = 0;
    for (size_t f = 0; f < sizeof fixture_files / sizeof fixture_files[0]; f++) {
        const char *in = fixture(fixture_files[f]);
        if (!file_exists(in))
            continue;
        hk_error err = {{0}};
        hk_gguf *g = hk_gguf_open(in, &err);
        CHECK(g != NULL, "%s", err.msg);
        if (!g)
            continue;
        hk_gguf_writer *w = hk_gguf_writer_new();
        for (uint64_t i = 0; i < g->n_kv; i++)
            CHECK(hk_gguf_writer_copy_kv(w, &g->kv[i]) == 0, "%s: copy key %" PRIu64, in, i);
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const hk_gguf_tensor *t = &g->tensors[i];
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            CHECK(hk_gguf_writer_add_tensor(w, name, (hk_type)t->type, t->n_dims, t->ne, t->data) == 0, "%s: %s", in,
                  name);
        }
        const char *out = tmp_path("roundtrip.gguf");
        CHECK(hk_gguf_writer_write(w, out, NULL, NULL, &err) == 0, "%s", err.msg);
        hk_gguf_writer_free(w);
        size_t n = 0;
        uint8_t *bytes = slurp(out, &n);
        size_t first_diff = 0;
        while (bytes && first_diff < n && first_diff < g->size && bytes[first_diff] == g->base[first_diff])
            first_diff++;
        CHECK(bytes && n == g->size && first_diff == n, "%s: rewritten file differs (%zu vs %zu bytes, first at %zu)",
              fixture_files[f], n, g->size, first_diff);
        free(bytes);
        unlink(out);
        hk_gguf_close(g);
        done++;
    }
    CHECK(done >= 10, "only %d fixtures found under %s", done, hk_shared_path("fixtures/llm"));
    printf("round trip: %d fixture files rewritten byte for byte\n", done);
}

/* Splits a tab-separated line in place; returns the field count. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = 0;
            fields[n++] = p + 1;
        }
    return n;
}

static const char *tsv_type_name(hk_gguf_type t)
{
    static const char *names[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32", "INT32",  "FLOAT32",
                                  "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64", "FLOAT64"};
    return (unsigned)t < HK_GGUF_TYPE_COUNT ? names[t] : "?";
}

/* One item of a METADATA.tsv array summary ("'<unk>'", "0.0", "3") against
 * element i. */
static bool item_matches(const hk_gguf_kv *kv, uint64_t i, const char *item)
{
    if (kv->arr_type == HK_GGUF_STRING) {
        size_t n = strlen(item);
        if (n < 2 || item[0] != '\'' || item[n - 1] != '\'')
            return false;
        hk_str s = hk_gguf_arr_str(kv, i);
        return s.len == n - 2 && memcmp(s.ptr, item + 1, n - 2) == 0;
    }
    if (kv->arr_type == HK_GGUF_FLOAT32 || kv->arr_type == HK_GGUF_FLOAT64)
        return hk_gguf_arr_f32(kv, i) == (float)strtod(item, NULL);
    return hk_gguf_arr_int(kv, i) == strtoll(item, NULL, 10);
}

/* METADATA.tsv writes newlines, tabs and backslashes inside strings as
 * Python escapes. */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            *o++ = s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : '\\';
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

static bool value_matches(const hk_gguf *g, const hk_gguf_kv *kv, const char *key, char *val)
{
    uint32_t u;
    float f;
    bool b;
    hk_str s;
    size_t vl = strlen(val);
    switch (kv->type) {
    case HK_GGUF_UINT32: return hk_gguf_get_u32(g, key, &u) && u == strtoull(val, NULL, 10);
    case HK_GGUF_FLOAT32: return hk_gguf_get_f32(g, key, &f) && (double)f == strtod(val, NULL);
    case HK_GGUF_BOOL: return hk_gguf_get_bool(g, key, &b) && strcmp(val, b ? "True" : "False") == 0;
    case HK_GGUF_STRING:
        if (!hk_gguf_get_str(g, key, &s))
            return false;
        unescape(val);
        vl = strlen(val);
        /* long strings are shortened to a prefix and "..." */
        if (vl > 3 && strcmp(val + vl - 3, "...") == 0 && s.len > vl - 3)
            return memcmp(s.ptr, val, vl - 3) == 0;
        return s.len == vl && memcmp(s.ptr, val, vl) == 0;
    case HK_GGUF_ARRAY: {
        unsigned long long n = 0;
        if (sscanf(val, "[%llu items]", &n) != 1 || n != kv->arr_n)
            return false;
        char *first = strstr(val, "first: ");
        if (!first)
            return n == 0;
        first += 7;
        char *end = strstr(first, " ...");
        if (end)
            *end = 0;
        uint64_t i = 0;
        for (char *item = strtok(first, ","); item; item = strtok(NULL, ","), i++) {
            while (*item == ' ')
                item++;
            if (!item_matches(kv, i, item))
                return false;
        }
        return i > 0;
    }
    default: return false;
    }
}

static void test_tsv(void)
{
    size_t n;
    char *tensors = hk_read_file(fixture("TENSORS.tsv"), &n);
    char *meta = hk_read_file(fixture("METADATA.tsv"), &n);
    CHECK(tensors && meta, "TENSORS.tsv / METADATA.tsv missing");
    if (!tensors || !meta) {
        free(tensors);
        free(meta);
        return;
    }
    /* TENSORS.tsv: model_file index name type ne offset nbytes */
    hk_gguf *g = NULL;
    char cur[512] = "";
    uint64_t rows = 0, models = 0, total_rows = 0;
    char *save = NULL;
    hk_error err = {{0}};
    for (char *line = strtok_r(tensors, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
        char *fld[8];
        int nf = line ? split_tabs(line, fld, 8) : 0;
        if (line && strcmp(fld[0], "model_file") == 0)
            continue;
        if (!line || strcmp(fld[0], cur) != 0) {
            if (g)
                CHECK(rows == g->n_tensors, "%s: %" PRIu64 " rows, %" PRIu64 " tensors", cur, rows, g->n_tensors);
            hk_gguf_close(g);
            g = NULL;
            if (!line)
                break;
            snprintf(cur, sizeof cur, "%s", fld[0]);
            rows = 0;
            g = hk_gguf_open(fixture(cur), &err);
            CHECK(g != NULL, "%s", err.msg);
            models++;
        }
        CHECK(nf == 7, "TENSORS.tsv: %d fields", nf);
        if (!g || nf != 7)
            continue;
        uint64_t idx = strtoull(fld[1], NULL, 10);
        rows++;
        total_rows++;
        CHECK(idx < g->n_tensors, "%s: index %" PRIu64, cur, idx);
        if (idx >= g->n_tensors)
            continue;
        const hk_gguf_tensor *t = &g->tensors[idx];
        char ne[128];
        int k = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            k += snprintf(ne + k, sizeof ne - (size_t)k, "%s%" PRId64, d ? "," : "", t->ne[d]);
        CHECK(hk_str_eq(t->name, fld[2]) && hk_gguf_find_tensor(g, fld[2]) == t, "%s: tensor %" PRIu64 " name %s", cur,
              idx, fld[2]);
        CHECK(strcmp(hk_type_name(t->type), fld[3]) == 0, "%s %s: type %s vs %s", cur, fld[2], hk_type_name(t->type),
              fld[3]);
        CHECK(strcmp(ne, fld[4]) == 0, "%s %s: ne %s vs %s", cur, fld[2], ne, fld[4]);
        CHECK(t->offset == strtoull(fld[5], NULL, 10), "%s %s: offset", cur, fld[2]);
        CHECK(t->nbytes == strtoull(fld[6], NULL, 10), "%s %s: nbytes", cur, fld[2]);
        CHECK(t->data == g->base + g->data_offset + t->offset, "%s %s: data pointer", cur, fld[2]);
    }
    CHECK(models >= 20 && total_rows > 1000, "TENSORS.tsv: %" PRIu64 " models, %" PRIu64 " rows", models, total_rows);

    /* METADATA.tsv: model_file index key type value */
    cur[0] = 0;
    rows = models = total_rows = 0;
    save = NULL;
    for (char *line = strtok_r(meta, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
        char *fld[6];
        int nf = line ? split_tabs(line, fld, 6) : 0;
        if (line && strcmp(fld[0], "model_file") == 0)
            continue;
        if (!line || strcmp(fld[0], cur) != 0) {
            if (g)
                CHECK(rows == g->n_kv, "%s: %" PRIu64 " rows, %" PRIu64 " keys", cur, rows, g->n_kv);
            hk_gguf_close(g);
            g = NULL;
            if (!line)
                break;
            snprintf(cur, sizeof cur, "%s", fld[0]);
            rows = 0;
            g = hk_gguf_open(fixture(cur), &err);
            CHECK(g != NULL, "%s", err.msg);
            models++;
        }
        CHECK(nf == 5, "METADATA.tsv: %d fields", nf);
        if (!g || nf != 5)
            continue;
        uint64_t idx = strtoull(fld[1], NULL, 10);
        rows++;
        total_rows++;
        CHECK(idx < g->n_kv, "%s: key index %" PRIu64, cur, idx);
        if (idx >= g->n_kv)
            continue;
        const hk_gguf_kv *kv = &g->kv[idx];
        char type[64];
        if (kv->type == HK_GGUF_ARRAY)
            snprintf(type, sizeof type, "ARRAY[%s]", tsv_type_name(kv->arr_type));
        else
            snprintf(type, sizeof type, "%s", tsv_type_name(kv->type));
        CHECK(hk_str_eq(kv->key, fld[2]) && hk_gguf_find(g, fld[2]) == kv, "%s: key %" PRIu64 " is %s", cur, idx,
              fld[2]);
        CHECK(strcmp(type, fld[3]) == 0, "%s %s: type %s vs %s", cur, fld[2], type, fld[3]);
        CHECK(value_matches(g, kv, fld[2], fld[4]), "%s %s: value does not match %s", cur, fld[2], fld[4]);
    }
    CHECK(models >= 20 && total_rows > 500, "METADATA.tsv: %" PRIu64 " models, %" PRIu64 " rows", models, total_rows);
    free(tensors);
    free(meta);
}

/* ---- hark info ---- */

static char *info_text(const hk_gguf *g)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    CHECK(hk_gguf_print_info(g, f) == 0, "print_info failed");
    fclose(f);
    return text;
}

static bool has_line(const char *text, const char *a, const char *b)
{
    /* a line containing both a and b */
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        if (strstr(line, a) && strstr(line, b))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static void test_info(void)
{
    hk_error err = {{0}};
    hk_gguf *g = hk_gguf_open(fixture("models/stories260K.gguf"), &err);
    CHECK(g != NULL, "%s", err.msg);
    if (g) {
        char *t = info_text(g);
        CHECK(t && has_line(t, "GGUF version 3", "alignment 32"), "version line");
        CHECK(t && has_line(t, "tokenizer.ggml.tokens", "arr[str]  512: [\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", ...]"),
              "tokens line");
        CHECK(t && has_line(t, "tokenizer.ggml.scores", "arr[f32]  512: [0, 0, 0, 0, ...]"), "scores line");
        CHECK(t && has_line(t, "llama.context_length", "u32       2048"), "context line");
        CHECK(t && has_line(t, "tokenizer.ggml.model", "str       \"llama\""), "model line");
        CHECK(t && has_line(t, "token_embd.weight", "F32") && has_line(t, "token_embd.weight", "64 x 512"),
              "tensor line");
        CHECK(t && has_line(t, "48 tensors", "") && has_line(t, "19 metadata keys", ""), "counts");
        /* 260K parameters, all F32: 32 bits per weight */
        CHECK(t && has_line(t, "total: 48 tensors", "32 bits per weight"), "totals");
        free(t);
    }
    hk_gguf_close(g);

    g = hk_gguf_open(fixture("models/llama-tied-Q4_K_M.gguf"), &err);
    if (g) {
        char *t = info_text(g);
        CHECK(t && has_line(t, "tensor types:", "Q4_K") && has_line(t, "total: 21 tensors", "bits per weight"),
              "Q4_K_M totals");
        free(t);
    }
    hk_gguf_close(g);

    g = hk_gguf_open(all_types_file(), &err);
    CHECK(g != NULL, "%s", err.msg);
    if (g) {
        char *t = info_text(g);
        /* strings escaped (control bytes, quotes, invalid UTF-8), valid UTF-8 kept */
        CHECK(t && has_line(t, "v.str", "\"line one\\nline \\\"two\\\"\\t\xc3\xa9\\xff\""), "escaped string");
        CHECK(t && has_line(t, "v.i64", "-9223372036854775808"), "i64");
        CHECK(t && has_line(t, "v.f64", "3.25e+300"), "f64");
        CHECK(t && has_line(t, "v.true", "true") && has_line(t, "v.false", "false"), "bools");
        CHECK(t && has_line(t, "a.str", "arr[str]  4: [\"<unk>\", \"\", \"Ġt\", \"x\\ny\"]"), "string array");
        CHECK(t && has_line(t, "a.nested", "arr[arr]  2: [arr[arr] 2: [arr[u32] 2: [1, 2], arr[u32] 2: [1, 2]], "),
              "nested array");
        CHECK(t && has_line(t, "a.empty", "arr[i32]  0: []"), "empty array");
        CHECK(t && has_line(t, "t1", "64 x 3 x 1"), "3-d shape");
        /* every line starts with the path, a space, or a digit: no raw newline leaked */
        int lines = 0;
        for (const char *p = t; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            lines++;
        CHECK(lines == 1 + 1 + 1 + 26 + 1 + 1 + 1 + 2 + 1 + 1 + 1, "%d lines", lines);
        free(t);
    }
    hk_gguf_close(g);

    /* a long string is shortened */
    hk_gguf_writer *w = hk_gguf_writer_new();
    char longs[500];
    memset(longs, 'a', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    hk_gguf_writer_add_str(w, "long", longs);
    const char *p = tmp_path("long.gguf");
    CHECK(hk_gguf_writer_write(w, p, NULL, NULL, &err) == 0, "%s", err.msg);
    hk_gguf_writer_free(w);
    g = hk_gguf_open(p, &err);
    if (g) {
        char *t = info_text(g);
        CHECK(t && has_line(t, "long", "aaaa...\" (499 bytes)") && strlen(t) < 400, "shortened");
        free(t);
    }
    hk_gguf_close(g);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/hk_gguf_test.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_minimal_valid();
    test_header_errors();
    test_kv_errors();
    test_nested_arrays();
    test_tensor_errors();
    test_open_errors();
    test_mapping();
    test_getters();
    test_truncation();
    test_writer();
    test_roundtrip();
    test_tsv();
    test_info();
    rm_tmpdir();
    return hk_check_done("gguf");
}
