/* GGUF reader: mmap the file, walk the header with a bounds-checked cursor,
 * index keys and tensors, then validate every tensor against the file. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
#define MAX_DIMS 4
/* Nested arrays deeper than this are refused: no real file nests more than
 * twice, and unbounded recursion on hostile input would blow the stack. */
#define MAX_ARRAY_DEPTH 8

bool hk_str_eq(hk_str s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

size_t hk_gguf_type_size(hk_gguf_type t)
{
    switch (t) {
    case HK_GGUF_UINT8: case HK_GGUF_INT8: case HK_GGUF_BOOL: return 1;
    case HK_GGUF_UINT16: case HK_GGUF_INT16: return 2;
    case HK_GGUF_UINT32: case HK_GGUF_INT32: case HK_GGUF_FLOAT32: return 4;
    case HK_GGUF_UINT64: case HK_GGUF_INT64: case HK_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *hk_gguf_type_name(hk_gguf_type t)
{
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < HK_GGUF_TYPE_COUNT ? names[t] : "unknown";
}

/* A cursor over the file bytes; every read checks the remaining length. */
typedef struct cursor {
    const hk_gguf *g;
    uint64_t pos;
    hk_error *err;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->g->size - c->pos)
        return hk_fail(c->err, "%s: truncated file: %s at byte %llu needs %llu bytes, file has %zu",
                       c->g->path, what, (unsigned long long)c->pos, (unsigned long long)n, c->g->size);
    return 0;
}

static int read_bytes(cursor *c, void *dst, uint64_t n, const char *what)
{
    if (need(c, n, what))
        return -1;
    memcpy(dst, c->g->base + c->pos, n);
    c->pos += n;
    return 0;
}

static int read_u32(cursor *c, uint32_t *v, const char *what) { return read_bytes(c, v, 4, what); }
static int read_u64(cursor *c, uint64_t *v, const char *what) { return read_bytes(c, v, 8, what); }

static int read_str(cursor *c, hk_str *s, const char *what)
{
    uint64_t len;
    if (read_u64(c, &len, what))
        return -1;
    if (need(c, len, what))
        return -1;
    s->ptr = (const char *)c->g->base + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

/* A name from the file as it appears in a message: messages are one line,
 * so control bytes are escaped, and a hostile name is cut short. */
typedef struct shown_name {
    char s[4 * 64 + 4];
} shown_name;

static shown_name shown(hk_str name)
{
    shown_name r;
    size_t o = 0;
    for (uint64_t i = 0; i < name.len; i++) {
        if (i == 64) {
            memcpy(r.s + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char ch = (unsigned char)name.ptr[i];
        if (ch == '\n')
            o += (size_t)snprintf(r.s + o, sizeof r.s - o, "\\n");
        else if (ch < 0x20 || ch == 0x7f)
            o += (size_t)snprintf(r.s + o, sizeof r.s - o, "\\x%02x", ch);
        else
            r.s[o++] = (char)ch;
    }
    r.s[o] = 0;
    return r;
}

/* Skip one value of type t (arrays recursively), checking bounds. */
static int skip_value(cursor *c, hk_gguf_type t, int depth, const char *what)
{
    if (t == HK_GGUF_STRING) {
        hk_str s;
        return read_str(c, &s, what);
    }
    if (t == HK_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (depth >= MAX_ARRAY_DEPTH)
            return hk_fail(c->err, "%s: %s: arrays nested deeper than %d", c->g->path, what, MAX_ARRAY_DEPTH);
        if (read_u32(c, &et, what) || read_u64(c, &n, what))
            return -1;
        if (et >= HK_GGUF_TYPE_COUNT)
            return hk_fail(c->err, "%s: %s: unknown array element type %u", c->g->path, what, et);
        size_t es = hk_gguf_type_size((hk_gguf_type)et);
        if (es) {
            if (n > (c->g->size - c->pos) / es)
                return hk_fail(c->err, "%s: %s: array of %llu elements ends past end of file", c->g->path,
                               what, (unsigned long long)n);
            c->pos += n * es;
            return 0;
        }
        /* Variable-size elements take at least 8 bytes each (a length or a
         * nested header), so a lying count fails here, not after n loops. */
        if (n > (c->g->size - c->pos) / 8)
            return hk_fail(c->err, "%s: %s: array of %llu elements ends past end of file", c->g->path, what,
                           (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++)
            if (skip_value(c, (hk_gguf_type)et, depth + 1, what))
                return -1;
        return 0;
    }
    size_t sz = hk_gguf_type_size(t);
    if (!sz)
        return hk_fail(c->err, "%s: %s: unknown value type %u", c->g->path, what, (unsigned)t);
    if (need(c, sz, what))
        return -1;
    c->pos += sz;
    return 0;
}

/* Hash table over names for O(1) lookup of keys and tensors. */
static uint64_t hash_bytes(const char *p, uint64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

typedef struct name_index {
    uint64_t cap;   /* power of two */
    int64_t *slot;  /* index+1 into the owner's array, 0 = empty */
} name_index;

static int index_build(name_index *ix, uint64_t n)
{
    ix->cap = 16;
    while (ix->cap < n * 2)
        ix->cap <<= 1;
    ix->slot = calloc(ix->cap, sizeof *ix->slot);
    return ix->slot ? 0 : -1;
}

/* Returns the existing index of an equal name, or inserts idx and returns -1. */
static int64_t index_put(name_index *ix, hk_str name, int64_t idx, const hk_str *(*get)(const hk_gguf *, int64_t),
                         const hk_gguf *g)
{
    uint64_t h = hash_bytes(name.ptr, name.len) & (ix->cap - 1);
    while (ix->slot[h]) {
        const hk_str *o = get(g, ix->slot[h] - 1);
        if (o->len == name.len && memcmp(o->ptr, name.ptr, name.len) == 0)
            return ix->slot[h] - 1;
        h = (h + 1) & (ix->cap - 1);
    }
    ix->slot[h] = idx + 1;
    return -1;
}

static int64_t index_get(const name_index *ix, const char *name, const hk_str *(*get)(const hk_gguf *, int64_t),
                         const hk_gguf *g)
{
    if (!ix->slot)
        return -1;
    size_t n = strlen(name);
    uint64_t h = hash_bytes(name, n) & (ix->cap - 1);
    while (ix->slot[h]) {
        const hk_str *o = get(g, ix->slot[h] - 1);
        if (o->len == n && memcmp(o->ptr, name, n) == 0)
            return ix->slot[h] - 1;
        h = (h + 1) & (ix->cap - 1);
    }
    return -1;
}

/* The public struct has no room for the indexes; keep them beside it. */
typedef struct gguf_full {
    hk_gguf pub;
    name_index keys, tensors;
} gguf_full;

static const hk_str *kv_name(const hk_gguf *g, int64_t i) { return &g->kv[i].key; }
static const hk_str *tensor_name(const hk_gguf *g, int64_t i) { return &g->tensors[i].name; }

static int parse_kv(cursor *c, hk_gguf_kv *kv, uint64_t i)
{
    char what[sizeof(shown_name) + 16];
    snprintf(what, sizeof what, "key %llu", (unsigned long long)i);
    if (read_str(c, &kv->key, what))
        return -1;
    uint32_t t;
    if (read_u32(c, &t, what))
        return -1;
    if (t >= HK_GGUF_TYPE_COUNT)
        return hk_fail(c->err, "%s: key '%s' has unknown value type %u", c->g->path, shown(kv->key).s, t);
    kv->type = (hk_gguf_type)t;
    if (kv->type == HK_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (read_u32(c, &et, what) || read_u64(c, &n, what))
            return -1;
        if (et >= HK_GGUF_TYPE_COUNT)
            return hk_fail(c->err, "%s: key '%s' has unknown array element type %u", c->g->path,
                           shown(kv->key).s, et);
        kv->arr_type = (hk_gguf_type)et;
        kv->arr_n = n;
        kv->data = c->g->base + c->pos;
        /* Rewind over the array header so skip_value validates the whole array. */
        uint64_t start = c->pos;
        c->pos -= 12;
        snprintf(what, sizeof what, "key '%s'", shown(kv->key).s);
        if (skip_value(c, HK_GGUF_ARRAY, 0, what))
            return -1;
        kv->size = c->pos - start;
        if (kv->arr_type == HK_GGUF_STRING) {
            kv->strs = malloc((n ? n : 1) * sizeof *kv->strs);
            if (!kv->strs)
                return hk_fail(c->err, "%s: out of memory indexing '%s'", c->g->path, what);
            cursor sc = {c->g, start, c->err};
            for (uint64_t k = 0; k < n; k++)
                read_str(&sc, &kv->strs[k], what); /* already validated */
        }
        return 0;
    }
    kv->data = c->g->base + c->pos;
    uint64_t start = c->pos;
    snprintf(what, sizeof what, "key '%s'", shown(kv->key).s);
    if (skip_value(c, kv->type, 0, what))
        return -1;
    kv->size = c->pos - start;
    return 0;
}

static int parse_tensor_info(cursor *c, hk_gguf_tensor *t, uint64_t i)
{
    char what[64];
    snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
    if (read_str(c, &t->name, what) || read_u32(c, &t->n_dims, what))
        return -1;
    const char *path = c->g->path;
    if (t->n_dims == 0 || t->n_dims > MAX_DIMS)
        return hk_fail(c->err, "%s: tensor '%s' has %u dimensions (1 to %d allowed)", path, shown(t->name).s,
                       t->n_dims, MAX_DIMS);
    for (int d = 0; d < MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if (read_u64(c, &ne, what))
            return -1;
        if (ne > INT64_MAX)
            return hk_fail(c->err, "%s: tensor '%s' dimension %u is negative", path, shown(t->name).s, d);
        t->ne[d] = (int64_t)ne;
    }
    if (read_u32(c, &t->type, what) || read_u64(c, &t->offset, what))
        return -1;
    const hk_type_traits *tr = hk_type_traits_of(t->type);
    if (!tr)
        return hk_fail(c->err, "%s: tensor '%s' has unknown type id %u", path, shown(t->name).s, t->type);
    if (t->ne[0] % tr->block_size)
        return hk_fail(c->err, "%s: tensor '%s' row of %lld is not a multiple of the %s block size %u", path,
                       shown(t->name).s, (long long)t->ne[0], tr->name, tr->block_size);
    /* Element count and byte size, refusing anything that overflows. */
    uint64_t nel = 1;
    for (int d = 0; d < MAX_DIMS; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if (ne && nel > UINT64_MAX / ne)
            return hk_fail(c->err, "%s: tensor '%s' has an element count that overflows", path,
                           shown(t->name).s);
        nel *= ne;
    }
    uint64_t blocks = nel / tr->block_size;
    if (blocks > UINT64_MAX / tr->type_size)
        return hk_fail(c->err, "%s: tensor '%s' byte size overflows", path, shown(t->name).s);
    t->nbytes = blocks * tr->type_size;
    return 0;
}

static void free_contents(hk_gguf *g)
{
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].strs);
    free(g->kv);
    free(g->tensors);
    gguf_full *f = (gguf_full *)g;
    free(f->keys.slot);
    free(f->tensors.slot);
}

static int parse(gguf_full *f, hk_error *err)
{
    hk_gguf *g = &f->pub;
    cursor c = {g, 0, err};
    char magic[4];
    if (g->size < 4 || memcmp(g->base, GGUF_MAGIC, 4) != 0)
        return hk_fail(err, "%s: not a GGUF file (bad magic)", g->path);
    if (read_bytes(&c, magic, 4, "magic") || read_u32(&c, &g->version, "version"))
        return -1;
    if (g->version == 1)
        return hk_fail(err, "%s: GGUF version 1 is not supported (convert it with a newer llama.cpp)", g->path);
    if (g->version != 2 && g->version != 3)
        return hk_fail(err, "%s: unsupported GGUF version %u", g->path, g->version);
    if (read_u64(&c, &g->n_tensors, "tensor count") || read_u64(&c, &g->n_kv, "key count"))
        return -1;
    /* Each key takes at least 8+4+1 bytes and each tensor info 8+4+8+4+8:
     * a count the file cannot hold is rejected before allocating for it. */
    uint64_t rest = g->size - c.pos;
    if (g->n_kv > rest / 13)
        return hk_fail(err, "%s: key count %llu is larger than the file could hold", g->path,
                       (unsigned long long)g->n_kv);
    if (g->n_tensors > rest / 32)
        return hk_fail(err, "%s: tensor count %llu is larger than the file could hold", g->path,
                       (unsigned long long)g->n_tensors);
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors || index_build(&f->keys, g->n_kv) || index_build(&f->tensors, g->n_tensors))
        return hk_fail(err, "%s: out of memory", g->path);

    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (parse_kv(&c, &g->kv[i], i))
            return -1;
        if (index_put(&f->keys, g->kv[i].key, (int64_t)i, kv_name, g) >= 0)
            return hk_fail(err, "%s: duplicate key '%s'", g->path, shown(g->kv[i].key).s);
    }

    g->alignment = HK_GGUF_DEFAULT_ALIGNMENT;
    const hk_gguf_kv *al = hk_gguf_find(g, "general.alignment");
    if (al) {
        uint32_t a;
        if (!hk_gguf_get_u32(g, "general.alignment", &a) || a == 0 || (a & (a - 1)))
            return hk_fail(err, "%s: general.alignment must be a power of two", g->path);
        g->alignment = a;
    }

    for (uint64_t i = 0; i < g->n_tensors; i++) {
        hk_gguf_tensor *t = &g->tensors[i];
        if (parse_tensor_info(&c, t, i))
            return -1;
        if (index_put(&f->tensors, t->name, (int64_t)i, tensor_name, g) >= 0)
            return hk_fail(err, "%s: duplicate tensor name '%s'", g->path, shown(t->name).s);
    }

    uint64_t data = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && data > g->size)
        return hk_fail(err, "%s: truncated file: tensor data section starts past end of file", g->path);
    g->data_offset = data;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        hk_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return hk_fail(err, "%s: tensor '%s' data offset %llu is not aligned to %u", g->path,
                           shown(t->name).s, (unsigned long long)t->offset, g->alignment);
        if (t->offset > g->size - data || t->nbytes > g->size - data - t->offset)
            return hk_fail(err, "%s: tensor '%s' ends past end of file", g->path, shown(t->name).s);
        t->data = g->base + data + t->offset;
    }
    return 0;
}

static hk_gguf *open_common(const void *buf, size_t size, const char *name, bool mapped, hk_error *err)
{
    gguf_full *f = calloc(1, sizeof *f);
    char *path = strdup(name);
    if (!f || !path) {
        free(f);
        free(path);
        hk_fail(err, "%s: out of memory", name);
        return NULL;
    }
    f->pub.path = path;
    f->pub.base = buf;
    f->pub.size = size;
    f->pub.mapped = mapped;
    if (parse(f, err)) {
        free_contents(&f->pub);
        free(path);
        free(f);
        return NULL;
    }
    return &f->pub;
}

hk_gguf *hk_gguf_open_memory(const void *buf, size_t size, const char *name, hk_error *err)
{
    return open_common(buf, size, name, false, err);
}

/* The file mapped read-only at an address that is a multiple of
 * HK_GGUF_MAP_ALIGN (2 MiB), advised MADV_HUGEPAGE: where the kernel keeps
 * the file in 2 MiB folios (it reads them so for a mapping with that advice
 * whose file is not yet cached, ext4 and others since Linux 6.16), it then
 * maps each with one page-table entry, which needs the address and the file
 * offset to agree modulo 2 MiB.  Generation reads every weight once per
 * token, and through 4 KiB pages every 4 KiB costs a TLB miss, also to the
 * prefetches the one-token kernels issue ahead of the rows.  On the 2-core
 * Sapphire Rapids VM, the same cached 2 MiB folios mapped at an address 4
 * KiB off (so in 4 KiB pages) and at this one, hark bench tg64, 2 threads,
 * two rounds: llama3.2-1b Q4_K_M 23.3 -> 28.5 tokens/s, qwen2.5-0.5b Q4_0
 * 49 -> 54.  The advice is
 * only that: without transparent huge pages, or with the file already
 * cached in small folios, the mapping is an ordinary one.  MAP_FAILED with
 * errno set on failure. */
static void *map_file(int fd, size_t size)
{
    const size_t align = HK_GGUF_MAP_ALIGN;
    if (size < align || size > SIZE_MAX - align)
        return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    /* reserve size + align bytes of addresses, put the file at the first
     * aligned one, give back the rest */
    uint8_t *res = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return MAP_FAILED;
    uint8_t *at = (uint8_t *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
    void *map = mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        munmap(res, size + align);
        errno = e;
        return MAP_FAILED;
    }
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t end = ((size_t)(at - res) + size + page - 1) / page * page;
    if (at > res)
        munmap(res, (size_t)(at - res));
    if (end < size + align)
        munmap(res + end, size + align - end);
#ifdef MADV_HUGEPAGE
    (void)madvise(map, size, MADV_HUGEPAGE); /* advice: EINVAL without THP is fine */
#endif
    return map;
}

hk_gguf *hk_gguf_open(const char *path, hk_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hk_fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        hk_fail(err, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        hk_fail(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size < 4) {
        hk_fail(err, "%s: not a GGUF file (%lld bytes)", path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    void *map = map_file(fd, (size_t)st.st_size);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        hk_fail(err, "%s: cannot map file: %s", path, strerror(map_errno));
        return NULL;
    }
    hk_gguf *g = open_common(map, (size_t)st.st_size, path, true, err);
    if (!g)
        munmap(map, (size_t)st.st_size);
    return g;
}

int hk_gguf_huge_pages(const hk_gguf *g, uint64_t *resident, uint64_t *huge)
{
    *resident = *huge = 0;
    if (!g->mapped)
        return -1;
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return -1;
    const uintptr_t lo = (uintptr_t)g->base, hi = lo + g->size;
    bool in = false, seen = false;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        unsigned long long kb;
        char dash;
        /* a mapping's first line: "start-end perms offset dev inode path" */
        if (sscanf(line, "%lx%c%lx ", &a, &dash, &b) == 3 && dash == '-') {
            in = a < hi && b > lo;
            seen |= in;
        } else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1) {
            *resident += (uint64_t)kb << 10;
        } else if (in && sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1) {
            *huge += (uint64_t)kb << 10;
        }
    }
    fclose(f);
    return seen ? 0 : -1;
}

void hk_gguf_close(hk_gguf *g)
{
    if (!g)
        return;
    if (g->mapped)
        munmap((void *)g->base, g->size);
    free_contents(g);
    free(g->path);
    free(g);
}

const hk_gguf_kv *hk_gguf_find(const hk_gguf *g, const char *key)
{
    int64_t i = index_get(&((const gguf_full *)g)->keys, key, kv_name, g);
    return i < 0 ? NULL : &g->kv[i];
}

const hk_gguf_tensor *hk_gguf_find_tensor(const hk_gguf *g, const char *name)
{
    int64_t i = index_get(&((const gguf_full *)g)->tensors, name, tensor_name, g);
    return i < 0 ? NULL : &g->tensors[i];
}

/* Integer value of a scalar at p of type t; false if t is not an integer. */
static bool int_at(hk_gguf_type t, const uint8_t *p, int64_t *v, uint64_t *uv, bool *is_unsigned)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; } x;
    size_t sz = hk_gguf_type_size(t);
    if (!sz || t == HK_GGUF_FLOAT32 || t == HK_GGUF_FLOAT64)
        return false;
    memcpy(&x, p, sz);
    *is_unsigned = false;
    switch (t) {
    case HK_GGUF_UINT8: *v = x.u8; break;
    case HK_GGUF_BOOL: *v = x.u8 != 0; break;
    case HK_GGUF_INT8: *v = x.i8; break;
    case HK_GGUF_UINT16: *v = x.u16; break;
    case HK_GGUF_INT16: *v = x.i16; break;
    case HK_GGUF_UINT32: *v = x.u32; break;
    case HK_GGUF_INT32: *v = x.i32; break;
    case HK_GGUF_INT64: *v = x.i64; break;
    case HK_GGUF_UINT64: *uv = x.u64; *is_unsigned = true; *v = x.u64 > INT64_MAX ? INT64_MAX : (int64_t)x.u64; break;
    default: return false;
    }
    if (!*is_unsigned)
        *uv = *v < 0 ? 0 : (uint64_t)*v;
    return true;
}

bool hk_gguf_get_u32(const hk_gguf *g, const char *key, uint32_t *out)
{
    const hk_gguf_kv *kv = hk_gguf_find(g, key);
    int64_t v;
    uint64_t uv;
    bool u;
    if (!kv || kv->type == HK_GGUF_BOOL || !int_at(kv->type, kv->data, &v, &uv, &u))
        return false;
    if ((!u && (v < 0 || v > UINT32_MAX)) || (u && uv > UINT32_MAX))
        return false;
    *out = (uint32_t)uv;
    return true;
}

bool hk_gguf_get_i64(const hk_gguf *g, const char *key, int64_t *out)
{
    const hk_gguf_kv *kv = hk_gguf_find(g, key);
    int64_t v;
    uint64_t uv;
    bool u;
    if (!kv || kv->type == HK_GGUF_BOOL || !int_at(kv->type, kv->data, &v, &uv, &u))
        return false;
    if (u && uv > INT64_MAX)
        return false;
    *out = v;
    return true;
}

bool hk_gguf_get_f32(const hk_gguf *g, const char *key, float *out)
{
    const hk_gguf_kv *kv = hk_gguf_find(g, key);
    if (!kv)
        return false;
    if (kv->type == HK_GGUF_FLOAT32) {
        memcpy(out, kv->data, 4);
        return true;
    }
    if (kv->type == HK_GGUF_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return true;
    }
    return false;
}

bool hk_gguf_get_bool(const hk_gguf *g, const char *key, bool *out)
{
    const hk_gguf_kv *kv = hk_gguf_find(g, key);
    if (!kv || kv->type != HK_GGUF_BOOL)
        return false;
    *out = kv->data[0] != 0;
    return true;
}

bool hk_gguf_get_str(const hk_gguf *g, const char *key, hk_str *out)
{
    const hk_gguf_kv *kv = hk_gguf_find(g, key);
    if (!kv || kv->type != HK_GGUF_STRING)
        return false;
    uint64_t len;
    memcpy(&len, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    out->len = len;
    return true;
}

int64_t hk_gguf_arr_int(const hk_gguf_kv *kv, uint64_t i)
{
    int64_t v = 0;
    uint64_t uv;
    bool u;
    size_t es = hk_gguf_type_size(kv->arr_type);
    if (kv->type != HK_GGUF_ARRAY || i >= kv->arr_n || !es)
        return 0;
    if (!int_at(kv->arr_type, kv->data + i * es, &v, &uv, &u)) {
        float f;
        if (kv->arr_type == HK_GGUF_FLOAT32) {
            memcpy(&f, kv->data + i * 4, 4);
            /* NaN and floats outside int64_t have no integer value, and
             * converting them is undefined behaviour (found by fuzzing) */
            if (!(f >= -0x1p63f && f < 0x1p63f))
                return 0;
            return (int64_t)f;
        }
        return 0;
    }
    return v;
}

float hk_gguf_arr_f32(const hk_gguf_kv *kv, uint64_t i)
{
    if (kv->type != HK_GGUF_ARRAY || i >= kv->arr_n)
        return 0;
    if (kv->arr_type == HK_GGUF_FLOAT32) {
        float f;
        memcpy(&f, kv->data + i * 4, 4);
        return f;
    }
    if (kv->arr_type == HK_GGUF_FLOAT64) {
        double d;
        memcpy(&d, kv->data + i * 8, 8);
        return (float)d;
    }
    return (float)hk_gguf_arr_int(kv, i);
}

hk_str hk_gguf_arr_str(const hk_gguf_kv *kv, uint64_t i)
{
    hk_str empty = {"", 0};
    if (kv->type != HK_GGUF_ARRAY || kv->arr_type != HK_GGUF_STRING || i >= kv->arr_n)
        return empty;
    return kv->strs[i];
}
