/* `hark info`: a GGUF file's header, metadata and tensor table as text.
 *
 * The file may be hostile (it only passed the reader's validation), so every
 * name and string is escaped before it reaches a terminal, long values are
 * shortened, and nested arrays are walked with their own bounds checks. */
#include "gguf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define STR_SHOWN 60   /* bytes of a string value shown before "..." */
#define ITEM_STR_SHOWN 24
#define ITEMS_SHOWN 4  /* first elements of an array shown */
#define NAME_COL_MAX 48

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF could fool a terminal */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Prints s escaped (C style; valid UTF-8 kept as is), at most max bytes of it
 * and then "...".  Returns the characters printed, for column alignment. */
static int put_escaped(FILE *out, const char *s, uint64_t len, uint64_t max)
{
    const uint8_t *p = (const uint8_t *)s;
    uint64_t i = 0;
    int cols = 0;
    while (i < len) {
        if (i >= max) {
            fputs("...", out);
            return cols + 3;
        }
        uint8_t c = p[i];
        size_t u = c >= 0x80 ? utf8_len(p + i, (size_t)(len - i < 4 ? len - i : 4)) : 1;
        if (c >= 0x80 && u) {
            fwrite(p + i, 1, u, out);
            i += u;
            cols++;
            continue;
        }
        switch (c) {
        case '\\': fputs("\\\\", out); cols += 2; break;
        case '"': fputs("\\\"", out); cols += 2; break;
        case '\n': fputs("\\n", out); cols += 2; break;
        case '\t': fputs("\\t", out); cols += 2; break;
        case '\r': fputs("\\r", out); cols += 2; break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                fprintf(out, "\\x%02x", c);
                cols += 4;
            } else {
                fputc(c, out);
                cols++;
            }
        }
        i++;
    }
    return cols;
}

static void put_quoted(FILE *out, const char *s, uint64_t len, uint64_t max)
{
    fputc('"', out);
    put_escaped(out, s, len, max);
    fputc('"', out);
    if (len > max)
        fprintf(out, " (%" PRIu64 " bytes)", len);
}

/* A bounds-checked walk over encoded values (array elements). */
typedef struct walk {
    const uint8_t *p, *end;
} walk;

static bool take(walk *w, void *dst, uint64_t n)
{
    if (n > (uint64_t)(w->end - w->p))
        return false;
    if (dst)
        memcpy(dst, w->p, n);
    w->p += n;
    return true;
}

/* The shortest decimal that reads back as the same value: 1e-05, not
 * 9.99999975e-06. */
static void put_float(FILE *out, double v, bool single)
{
    char txt[40];
    for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
        snprintf(txt, sizeof txt, "%.*g", prec, v);
        double back = strtod(txt, NULL);
        if (single ? (float)back == (float)v : back == v)
            break;
    }
    fputs(txt, out);
}

static void put_scalar(FILE *out, hk_gguf_type t, const uint8_t *p)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; float f32; double f64; } x;
    memcpy(&x, p, hk_gguf_type_size(t));
    switch (t) {
    case HK_GGUF_UINT8: fprintf(out, "%u", x.u8); break;
    case HK_GGUF_INT8: fprintf(out, "%d", x.i8); break;
    case HK_GGUF_UINT16: fprintf(out, "%u", x.u16); break;
    case HK_GGUF_INT16: fprintf(out, "%d", x.i16); break;
    case HK_GGUF_UINT32: fprintf(out, "%" PRIu32, x.u32); break;
    case HK_GGUF_INT32: fprintf(out, "%" PRId32, x.i32); break;
    case HK_GGUF_UINT64: fprintf(out, "%" PRIu64, x.u64); break;
    case HK_GGUF_INT64: fprintf(out, "%" PRId64, x.i64); break;
    case HK_GGUF_FLOAT32: put_float(out, x.f32, true); break;
    case HK_GGUF_FLOAT64: put_float(out, x.f64, false); break;
    case HK_GGUF_BOOL: fputs(x.u8 ? "true" : "false", out); break;
    default: break;
    }
}

/* Prints (or, when out is NULL, only skips) one encoded value of type t.
 * Returns false if the bytes do not hold such a value. */
static bool put_value(FILE *out, walk *w, hk_gguf_type t, uint64_t str_max, int depth);

/* Prints "N: [first items, ...]" for n elements of type et at w, preceded by
 * "arr[TYPE] " when nested (at the top level the type has its own column). */
static bool put_array(FILE *out, walk *w, hk_gguf_type et, uint64_t n, int depth)
{
    if (out && depth > 0)
        fprintf(out, "arr[%s] ", hk_gguf_type_name(et));
    if (out)
        fprintf(out, "%" PRIu64 ": [", n);
    size_t es = hk_gguf_type_size(et);
    for (uint64_t i = 0; i < n; i++) {
        FILE *o = i < ITEMS_SHOWN ? out : NULL;
        if (i == ITEMS_SHOWN && out)
            fputs(", ...", out);
        if (!o && es) {
            /* the rest of a fixed-size array in one step */
            if (!take(w, NULL, (n - i) > UINT64_MAX / es ? UINT64_MAX : (n - i) * es))
                return false;
            break;
        }
        if (o && i)
            fputs(", ", o);
        if (!put_value(o, w, et, ITEM_STR_SHOWN, depth + 1))
            return false;
    }
    if (out)
        fputc(']', out);
    return true;
}

static bool put_value(FILE *out, walk *w, hk_gguf_type t, uint64_t str_max, int depth)
{
    if (t == HK_GGUF_STRING) {
        uint64_t len;
        if (!take(w, &len, 8) || len > (uint64_t)(w->end - w->p))
            return false;
        if (out)
            put_quoted(out, (const char *)w->p, len, str_max);
        w->p += len;
        return true;
    }
    if (t == HK_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        /* the reader refuses deeper nesting; this bound only keeps the
         * recursion finite if it ever changes */
        if (depth > 16 || !take(w, &et, 4) || !take(w, &n, 8) || et >= HK_GGUF_TYPE_COUNT)
            return false;
        return put_array(out, w, (hk_gguf_type)et, n, depth);
    }
    size_t sz = hk_gguf_type_size(t);
    if (!sz || (uint64_t)(w->end - w->p) < sz)
        return false;
    if (out)
        put_scalar(out, t, w->p);
    w->p += sz;
    return true;
}

static void put_kv(FILE *out, const hk_gguf_kv *kv)
{
    walk w = {kv->data, kv->data + kv->size};
    bool ok;
    if (kv->type == HK_GGUF_ARRAY) {
        char type[16];
        snprintf(type, sizeof type, "arr[%s]", hk_gguf_type_name(kv->arr_type));
        fprintf(out, "%-9s ", type);
        ok = put_array(out, &w, kv->arr_type, kv->arr_n, 0);
    } else {
        fprintf(out, "%-9s ", hk_gguf_type_name(kv->type));
        ok = put_value(out, &w, kv->type, STR_SHOWN, 0);
    }
    if (!ok)
        fputs(" <malformed>", out);
}

static int name_width(uint64_t len, int width)
{
    return len > (uint64_t)width ? (int)(len > NAME_COL_MAX ? NAME_COL_MAX : len) : width;
}

/* Prints a name escaped and padded to width columns. */
static void put_name(FILE *out, hk_str s, int width)
{
    for (int i = put_escaped(out, s.ptr, s.len, NAME_COL_MAX); i < width; i++)
        fputc(' ', out);
}

int hk_gguf_print_info(const hk_gguf *g, FILE *out)
{
    fprintf(out, "%s: GGUF version %" PRIu32 ", %zu bytes, alignment %" PRIu32, g->path, g->version, g->size,
            g->alignment);
    /* a file without tensors has no data section (vocab-only files end
     * right after their keys) */
    if (g->n_tensors)
        fprintf(out, ", tensor data at byte %" PRIu64 "\n", g->data_offset);
    else
        fputs(", no tensor data\n", out);

    int kw = 3;
    for (uint64_t i = 0; i < g->n_kv; i++)
        kw = name_width(g->kv[i].key.len, kw);
    fprintf(out, "\n%" PRIu64 " metadata keys:\n", g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        fprintf(out, "%5" PRIu64 "  ", i);
        put_name(out, g->kv[i].key, kw);
        fputs("  ", out);
        put_kv(out, &g->kv[i]);
        fputc('\n', out);
    }

    int tw = 4;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        tw = name_width(g->tensors[i].name.len, tw);
    fprintf(out, "\n%" PRIu64 " tensors:\n", g->n_tensors);
    if (g->n_tensors) {
        fprintf(out, "%5s  %-*s  %-7s  %-24s  %12s  %12s\n", "index", tw, "name", "type", "shape", "offset",
                "bytes");
    }
    /* Totals in double as well: a hostile file may declare element counts
     * whose sum overflows 64 bits even though each tensor fits the file
     * (zero-byte dimensions). */
    uint64_t nbytes = 0;
    double params_d = 0;
    uint64_t per_type[HK_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const hk_gguf_tensor *t = &g->tensors[i];
        fprintf(out, "%5" PRIu64 "  ", i);
        put_name(out, t->name, tw);
        char shape[96];
        int n = 0;
        for (uint32_t d = 0; d < t->n_dims && d < 4; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%" PRId64, d ? " x " : "", t->ne[d]);
        uint64_t nel = (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        fprintf(out, "  %-7s  %-24s  %12" PRIu64 "  %12" PRIu64 "\n", hk_type_name(t->type), shape, t->offset,
                t->nbytes);
        params_d += (double)nel;
        nbytes += t->nbytes;
        if (t->type < HK_TYPE_COUNT)
            per_type[t->type]++;
    }
    if (g->n_tensors) {
        fputs("\ntensor types:", out);
        for (int ty = 0; ty < HK_TYPE_COUNT; ty++)
            if (per_type[ty])
                fprintf(out, " %s %" PRIu64, hk_type_name((uint32_t)ty), per_type[ty]);
        fputc('\n', out);
    }
    fprintf(out, "total: %" PRIu64 " tensors, %.0f parameters, %" PRIu64 " bytes", g->n_tensors,
            params_d, nbytes);
    if (params_d > 0)
        fprintf(out, ", %.4g bits per weight", (double)nbytes * 8.0 / params_d);
    fputc('\n', out);
    return ferror(out) ? -1 : 0;
}
