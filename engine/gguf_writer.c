/* GGUF v3 writer.
 *
 * Keys and tensor infos are collected in memory (they are small); tensor data
 * is never gathered: at write time each tensor is written straight from the
 * caller's pointer, or produced into one scratch buffer reused for every
 * tensor.  The layout is the one gguf-py and ggml write (header, keys in
 * insertion order, tensor infos, zero padding to the alignment, then every
 * tensor's data followed by zero padding to the alignment), so a file read
 * and written back key by key and tensor by tensor comes out byte for byte
 * the same.  The file appears under its name only once complete and synced.
 *
 * The bytes go out through one aligned 4 MiB staging buffer, with O_DIRECT
 * where the filesystem takes it, so the page cache is bypassed: on the
 * 2-core build VM, 512 MiB written through the page cache and then fsynced
 * took 7-10 s, the same with O_DIRECT 0.6-0.9 s (dd, Nov 2026), and filling
 * the page cache had cost mkmodel as much CPU as generating the weights.
 * Where O_DIRECT is refused the same buffer goes through ordinary writes. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_VERSION 3
#define MAX_DIMS 4
#define ALIGNMENT_KEY "general.alignment"

/* One key/value as it will appear in the file after the key string and the
 * type: the value's encoded bytes (for arrays: element type, count, elements). */
typedef struct wkv {
    char *key;          /* owned, key_len bytes (may hold NUL when copied from a file) */
    uint64_t key_len;
    hk_gguf_type type;
    uint8_t *val;       /* owned encoded value */
    uint64_t val_len;
} wkv;

typedef struct wtensor {
    char *name;         /* owned, NUL-terminated */
    uint32_t n_dims;
    int64_t ne[MAX_DIMS];
    hk_type type;
    uint64_t nbytes;
    uint64_t offset;    /* within the data section; assigned at write time */
    const void *data;   /* borrowed; NULL = ask the producer */
} wtensor;

struct hk_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;  /* from set_alignment; 0 = not set */
    /* The first failure of an add_* call.  Adds only return -1 (they take no
     * hk_error), so the reason is kept and write() refuses to produce a file
     * the caller did not fully describe. */
    char error[256];
};

/* A growable byte buffer for the header. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

/* GGUF is little-endian; so is every host hark runs on (x86-64, arm64), and
 * the reader makes the same assumption, so values are copied as they lie. */
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s, uint64_t n)
{
    put_u64(b, n);
    put(b, s, n);
}

static int fail_add(hk_gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_add(hk_gguf_writer *w, const char *fmt, ...)
{
    if (!w->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->error, sizeof w->error, fmt, ap);
        va_end(ap);
    }
    return -1;
}

hk_gguf_writer *hk_gguf_writer_new(void)
{
    return calloc(1, sizeof(hk_gguf_writer));
}

void hk_gguf_writer_free(hk_gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

void hk_gguf_writer_set_alignment(hk_gguf_writer *w, uint32_t alignment)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        fail_add(w, "alignment %u is not a power of two", alignment);
        return;
    }
    w->alignment = alignment;
}

static wkv *find_kv(hk_gguf_writer *w, const char *key, uint64_t key_len)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (w->kv[i].key_len == key_len && memcmp(w->kv[i].key, key, key_len) == 0)
            return &w->kv[i];
    return NULL;
}

/* Appends a key whose value is already encoded in val (ownership passes). */
static int append_kv(hk_gguf_writer *w, const char *key, uint64_t key_len, hk_gguf_type type, bytes *val)
{
    if (val->oom) {
        free(val->p);
        return fail_add(w, "out of memory adding key '%.*s'", (int)(key_len > 100 ? 100 : key_len), key);
    }
    if (find_kv(w, key, key_len)) {
        free(val->p);
        return fail_add(w, "duplicate key '%.*s'", (int)(key_len > 100 ? 100 : key_len), key);
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *kv = realloc(w->kv, cap * sizeof *kv);
        if (!kv) {
            free(val->p);
            return fail_add(w, "out of memory");
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = malloc(key_len ? key_len : 1);
    if (!k) {
        free(val->p);
        return fail_add(w, "out of memory");
    }
    memcpy(k, key, key_len);
    w->kv[w->n_kv++] = (wkv){k, key_len, type, val->p, val->len};
    return 0;
}

/* Encodes one scalar (or a STRING given as const char *) of type t. */
static int encode_scalar(hk_gguf_writer *w, bytes *b, const char *key, hk_gguf_type t, const void *value)
{
    if (t == HK_GGUF_STRING) {
        const char *s = value;
        if (!s)
            return fail_add(w, "key '%s': NULL string", key);
        put_str(b, s, strlen(s));
        return 0;
    }
    size_t sz = hk_gguf_type_size(t);
    if (!sz)
        return fail_add(w, "key '%s': type %u is not a scalar type", key, (unsigned)t);
    if (t == HK_GGUF_BOOL) {
        /* ggml refuses bool bytes other than 0 and 1 */
        uint8_t v = *(const bool *)value ? 1 : 0;
        put(b, &v, 1);
        return 0;
    }
    put(b, value, sz);
    return 0;
}

int hk_gguf_writer_add_kv(hk_gguf_writer *w, const char *key, hk_gguf_type type, const void *value)
{
    bytes b = {0};
    if (!key)
        return fail_add(w, "NULL key");
    if (type == HK_GGUF_ARRAY)
        return fail_add(w, "key '%s': arrays go through hk_gguf_writer_add_array", key);
    if (type != HK_GGUF_STRING && !value)
        return fail_add(w, "key '%s': NULL value", key);
    if (encode_scalar(w, &b, key, type, value)) {
        free(b.p);
        return -1;
    }
    return append_kv(w, key, strlen(key), type, &b);
}

int hk_gguf_writer_add_u32(hk_gguf_writer *w, const char *key, uint32_t v)
{
    return hk_gguf_writer_add_kv(w, key, HK_GGUF_UINT32, &v);
}

int hk_gguf_writer_add_f32(hk_gguf_writer *w, const char *key, float v)
{
    return hk_gguf_writer_add_kv(w, key, HK_GGUF_FLOAT32, &v);
}

int hk_gguf_writer_add_bool(hk_gguf_writer *w, const char *key, bool v)
{
    return hk_gguf_writer_add_kv(w, key, HK_GGUF_BOOL, &v);
}

int hk_gguf_writer_add_str(hk_gguf_writer *w, const char *key, const char *v)
{
    return hk_gguf_writer_add_kv(w, key, HK_GGUF_STRING, v);
}

int hk_gguf_writer_add_array(hk_gguf_writer *w, const char *key, hk_gguf_type elem, const void *elems, uint64_t n)
{
    if (!key)
        return fail_add(w, "NULL key");
    if (n && !elems)
        return fail_add(w, "key '%s': NULL array", key);
    bytes b = {0};
    put_u32(&b, (uint32_t)elem);
    put_u64(&b, n);
    if (elem == HK_GGUF_STRING) {
        const char *const *s = elems;
        for (uint64_t i = 0; i < n; i++) {
            if (!s[i]) {
                free(b.p);
                return fail_add(w, "key '%s': NULL string at index %llu", key, (unsigned long long)i);
            }
            put_str(&b, s[i], strlen(s[i]));
        }
    } else if (elem == HK_GGUF_BOOL) {
        const bool *v = elems;
        for (uint64_t i = 0; i < n; i++) {
            uint8_t x = v[i] ? 1 : 0;
            put(&b, &x, 1);
        }
    } else {
        size_t es = hk_gguf_type_size(elem);
        if (!es) {
            free(b.p);
            return fail_add(w, "key '%s': type %u cannot be an array element here", key, (unsigned)elem);
        }
        if (n > SIZE_MAX / es) {
            free(b.p);
            return fail_add(w, "key '%s': array too large", key);
        }
        put(&b, elems, (size_t)(n * es));
    }
    return append_kv(w, key, strlen(key), HK_GGUF_ARRAY, &b);
}

int hk_gguf_writer_copy_kv(hk_gguf_writer *w, const hk_gguf_kv *kv)
{
    if (!kv || (unsigned)kv->type >= HK_GGUF_TYPE_COUNT)
        return fail_add(w, "copy of an invalid key");
    /* The reader's data/size cover the value's encoded bytes (for arrays:
     * the elements after the header, nested arrays included), so the copy is
     * the original bytes, not a re-encoding. */
    bytes b = {0};
    if (kv->type == HK_GGUF_ARRAY) {
        put_u32(&b, (uint32_t)kv->arr_type);
        put_u64(&b, kv->arr_n);
    }
    if (kv->size > SIZE_MAX) {
        free(b.p);
        return fail_add(w, "key too large");
    }
    put(&b, kv->data, (size_t)kv->size);
    return append_kv(w, kv->key.ptr, kv->key.len, kv->type, &b);
}

int hk_gguf_writer_set_u32(hk_gguf_writer *w, const char *key, uint32_t v)
{
    if (!key)
        return fail_add(w, "NULL key");
    wkv *kv = find_kv(w, key, strlen(key));
    if (!kv)
        return hk_gguf_writer_add_u32(w, key, v);
    /* Replace in place so the key keeps its position in the file. */
    uint8_t *val = malloc(4);
    if (!val)
        return fail_add(w, "out of memory");
    memcpy(val, &v, 4);
    free(kv->val);
    kv->val = val;
    kv->val_len = 4;
    kv->type = HK_GGUF_UINT32;
    return 0;
}

int hk_gguf_writer_add_tensor(hk_gguf_writer *w, const char *name, hk_type type, uint32_t n_dims,
                              const int64_t *ne, const void *data)
{
    if (!name)
        return fail_add(w, "tensor with a NULL name");
    const hk_type_traits *tr = hk_type_traits_of((uint32_t)type);
    if (!tr)
        return fail_add(w, "tensor '%s': unknown type id %u", name, (unsigned)type);
    if (n_dims == 0 || n_dims > MAX_DIMS || !ne)
        return fail_add(w, "tensor '%s': %u dimensions (1 to %d allowed)", name, n_dims, MAX_DIMS);
    wtensor t = {.n_dims = n_dims, .type = type, .data = data};
    uint64_t nel = 1;
    for (int d = 0; d < MAX_DIMS; d++) {
        t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0)
            return fail_add(w, "tensor '%s': dimension %d is negative", name, d);
        /* ggml keeps element counts in int64_t */
        if (t.ne[d] && nel > (uint64_t)INT64_MAX / (uint64_t)t.ne[d])
            return fail_add(w, "tensor '%s': element count overflows", name);
        nel *= (uint64_t)t.ne[d];
    }
    if (t.ne[0] % tr->block_size)
        return fail_add(w, "tensor '%s': row of %lld is not a multiple of the %s block size %u", name,
                        (long long)t.ne[0], tr->name, tr->block_size);
    t.nbytes = nel / tr->block_size * tr->type_size;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return fail_add(w, "duplicate tensor name '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt)
            return fail_add(w, "out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name)
        return fail_add(w, "out of memory");
    w->t[w->n_t++] = t;
    return 0;
}

/* ---- writing ---- */

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* The alignment the file will declare and use.  *extra_key is set when the
 * caller asked for a non-default alignment without adding the key, which
 * then has to be written or a reader would assume 32. */
static int resolve_alignment(hk_gguf_writer *w, const char *path, uint32_t *align, bool *extra_key, hk_error *err)
{
    const wkv *kv = find_kv(w, ALIGNMENT_KEY, strlen(ALIGNMENT_KEY));
    *extra_key = false;
    if (kv) {
        uint32_t a;
        /* ggml reads the key with gguf_get_val_u32, which insists on UINT32 */
        if (kv->type != HK_GGUF_UINT32 || kv->val_len != 4)
            return hk_fail(err, "%s: %s must be a UINT32, not %s", path, ALIGNMENT_KEY, hk_gguf_type_name(kv->type));
        memcpy(&a, kv->val, 4);
        if (a == 0 || (a & (a - 1)))
            return hk_fail(err, "%s: %s %u is not a power of two", path, ALIGNMENT_KEY, a);
        if (w->alignment && w->alignment != a)
            return hk_fail(err, "%s: %s is %u but alignment %u was asked for", path, ALIGNMENT_KEY, a, w->alignment);
        *align = a;
        return 0;
    }
    *align = w->alignment ? w->alignment : HK_GGUF_DEFAULT_ALIGNMENT;
    *extra_key = *align != HK_GGUF_DEFAULT_ALIGNMENT;
    return 0;
}

static void put_zeros(bytes *b, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        put(b, zeros, k);
        n -= k;
    }
}

/* Everything before the tensor data: header, keys, tensor infos, padding. */
static int build_header(hk_gguf_writer *w, uint32_t align, bool extra_key, bytes *b)
{
    put(b, "GGUF", 4);
    put_u32(b, GGUF_VERSION);
    put_u64(b, w->n_t);
    put_u64(b, w->n_kv + (extra_key ? 1 : 0));
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        put_str(b, kv->key, kv->key_len);
        put_u32(b, (uint32_t)kv->type);
        put(b, kv->val, kv->val_len);
    }
    if (extra_key) {
        put_str(b, ALIGNMENT_KEY, strlen(ALIGNMENT_KEY));
        put_u32(b, HK_GGUF_UINT32);
        put_u32(b, align);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name, strlen(t->name));
        put_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(b, (uint64_t)t->ne[d]);
        put_u32(b, (uint32_t)t->type);
        put_u64(b, t->offset);
    }
    /* The data section starts aligned.  A file without tensors has no data
     * section and gets no padding: gguf-py writes vocab-only files that way
     * (llama.cpp's models/ggml-vocab-*.gguf), and readers accept both. */
    if (w->n_t)
        put_zeros(b, pad_to(b->len, align) - b->len);
    return b->oom ? -1 : 0;
}

/* The output: bytes are gathered in buf and written in large aligned
 * pieces (O_DIRECT needs file offsets, lengths and memory aligned to the
 * device's block; DIRECT_ALIGN covers 4 KiB-sector disks). */
enum { DIRECT_ALIGN = 4096, STAGE_SIZE = 4 << 20 };

typedef struct sink {
    int fd;
    bool direct;     /* the file is open with O_DIRECT */
    uint8_t *buf;    /* STAGE_SIZE bytes, DIRECT_ALIGN-aligned */
    size_t fill;
    uint64_t pos;    /* file offset of buf[0] */
} sink;

/* Writes buf[0, n) at pos; n is the fill, or the fill rounded up to
 * DIRECT_ALIGN for the last piece of a direct file. */
static int sink_write(sink *s, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(s->fd, s->buf + done, n - done, (off_t)(s->pos + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* O_DIRECT refused after all (a filesystem that accepts the flag
             * at open but not these writes, or a short write that left the
             * offset unaligned): go on through the page cache */
            if (errno == EINVAL && s->direct) {
                int fl = fcntl(s->fd, F_GETFL);
                if (fl >= 0 && fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
                    s->direct = false;
                    continue;
                }
                errno = EINVAL;
            }
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

static int sink_flush(sink *s)
{
    size_t n = s->fill;
    if (s->direct && n % DIRECT_ALIGN) {
        /* the last piece: padded to the alignment, then cut back by the caller */
        size_t padded = (size_t)pad_to(n, DIRECT_ALIGN);
        memset(s->buf + n, 0, padded - n);
        n = padded;
    }
    if (n && sink_write(s, n))
        return -1;
    s->pos += s->fill;
    s->fill = 0;
    return 0;
}

/* Appends n bytes from p, or n zeros when p is NULL. */
static int sink_put(sink *s, const void *p, uint64_t n)
{
    const uint8_t *c = p;
    while (n) {
        size_t k = STAGE_SIZE - s->fill;
        if (k > n)
            k = (size_t)n;
        if (c) {
            memcpy(s->buf + s->fill, c, k);
            c += k;
        } else {
            memset(s->buf + s->fill, 0, k);
        }
        s->fill += k;
        n -= k;
        if (s->fill == STAGE_SIZE && sink_flush(s))
            return -1;
    }
    return 0;
}

/* Writes what is left and cuts off the last piece's padding. */
static int sink_finish(sink *s)
{
    const uint64_t size = s->pos + s->fill;
    const bool padded = s->direct && s->fill % DIRECT_ALIGN;
    if (sink_flush(s))
        return -1;
    return padded ? ftruncate(s->fd, (off_t)size) : 0;
}

/* After the rename: make the new directory entry durable.  The file itself
 * is already synced and in place, so a failure here is not reported as a
 * failed write (some filesystems refuse fsync on directories). */
static void sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(copy);
}

/* Calls the producer for tensor i, naming the output file in its error. */
static int produce_one(hk_gguf_writer *w, size_t i, const char *path, hk_gguf_produce_fn produce, void *user,
                       void *dst, hk_error *err)
{
    const wtensor *t = &w->t[i];
    hk_error perr = {{0}};
    if (produce(user, i, dst, (size_t)t->nbytes, &perr) == 0)
        return 0;
    /* The producer's message usually names no output file. */
    size_t n = strlen(path);
    if (strncmp(perr.msg, path, n) == 0 && perr.msg[n] == ':')
        hk_fail(err, "%s", perr.msg);
    else if (perr.msg[0])
        hk_fail(err, "%s: %s", path, perr.msg);
    else
        hk_fail(err, "%s: producing tensor '%s' failed", path, t->name);
    return -1;
}

int hk_gguf_writer_write(hk_gguf_writer *w, const char *path, hk_gguf_produce_fn produce, void *user,
                         hk_error *err)
{
    if (w->error[0])
        return hk_fail(err, "%s: %s", path, w->error);

    uint32_t align = HK_GGUF_DEFAULT_ALIGNMENT;
    bool extra_key = false;
    if (resolve_alignment(w, path, &align, &extra_key, err))
        return -1;

    /* Offsets in the data section, and the largest tensor that has to be
     * produced (the one scratch buffer is sized for it). */
    uint64_t off = 0, max_produced = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        if (!t->data && !produce)
            return hk_fail(err, "%s: tensor '%s' has no data and there is no producer", path, t->name);
        if (!t->data && t->nbytes > max_produced)
            max_produced = t->nbytes;
        t->offset = off;
        if (t->nbytes > UINT64_MAX - off - align)
            return hk_fail(err, "%s: tensor data larger than 2^64 bytes", path);
        off = pad_to(off + t->nbytes, align);
    }
    if (max_produced > SIZE_MAX)
        return hk_fail(err, "%s: tensor too large for memory", path);

    bytes hdr = {0};
    if (build_header(w, align, extra_key, &hdr)) {
        free(hdr.p);
        return hk_fail(err, "%s: out of memory building the header", path);
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    uint8_t *scratch = max_produced ? malloc((size_t)max_produced) : NULL;
    sink sk = {.fd = -1};
    if (!tmp || (max_produced && !scratch) || posix_memalign((void **)&sk.buf, DIRECT_ALIGN, STAGE_SIZE)) {
        sk.buf = NULL;
        free(hdr.p);
        free(tmp);
        free(scratch);
        return hk_fail(err, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    int rc = -1;
    const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int fd = open(tmp, flags | O_DIRECT, 0666);
    sk.direct = fd >= 0;
    if (fd < 0 && errno == EINVAL) /* a filesystem without O_DIRECT */
        fd = open(tmp, flags, 0666);
    if (fd < 0) {
        hk_fail(err, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    sk.fd = fd;
    if (sink_put(&sk, hdr.p, hdr.len))
        goto io_error;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            if (produce_one(w, i, path, produce, user, scratch, err))
                goto fail;
            src = scratch;
        }
        if (sink_put(&sk, src, t->nbytes) || sink_put(&sk, NULL, pad_to(t->nbytes, align) - t->nbytes))
            goto io_error;
    }
    if (sink_finish(&sk))
        goto io_error;
    if (fsync(fd))
        goto io_error;
    {
        int c = close(fd);
        fd = -1;
        if (c) /* NFS reports delayed write errors at close */
            goto io_error;
    }
    if (rename(tmp, path)) {
        hk_fail(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        goto fail;
    }
    sync_dir_of(path);
    rc = 0;
    goto out;

io_error:
    hk_fail(err, "%s: write failed: %s", path, strerror(errno));
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(hdr.p);
    free(tmp);
    free(scratch);
    free(sk.buf);
    return rc;
}
