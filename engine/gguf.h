/* GGUF v2/v3 reader over an mmapped file (strictly validated), and a writer.
 *
 * Everything a reader returns points into the mapping: strings are not
 * NUL-terminated (use hk_str), tensor data is read-only.  The reader never
 * trusts a count or size from the file before checking it against the file's
 * length. */
#ifndef HK_GGUF_H
#define HK_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "types.h"

#define HK_GGUF_DEFAULT_ALIGNMENT 32

typedef enum hk_gguf_type {
    HK_GGUF_UINT8 = 0,
    HK_GGUF_INT8 = 1,
    HK_GGUF_UINT16 = 2,
    HK_GGUF_INT16 = 3,
    HK_GGUF_UINT32 = 4,
    HK_GGUF_INT32 = 5,
    HK_GGUF_FLOAT32 = 6,
    HK_GGUF_BOOL = 7,
    HK_GGUF_STRING = 8,
    HK_GGUF_ARRAY = 9,
    HK_GGUF_UINT64 = 10,
    HK_GGUF_INT64 = 11,
    HK_GGUF_FLOAT64 = 12,
    HK_GGUF_TYPE_COUNT
} hk_gguf_type;

/* A length-counted string inside the mapping (not NUL-terminated). */
typedef struct hk_str {
    const char *ptr;
    uint64_t len;
} hk_str;

bool hk_str_eq(hk_str s, const char *cstr);

typedef struct hk_gguf_kv {
    hk_str key;
    hk_gguf_type type;       /* value type */
    hk_gguf_type arr_type;   /* element type when type == ARRAY */
    uint64_t arr_n;          /* element count when type == ARRAY */
    const uint8_t *data;     /* the value's bytes; for arrays, the first element */
    uint64_t size;           /* bytes of the value (for arrays: of all elements) */
    hk_str *strs;            /* ARRAY of STRING: arr_n strings, indexed at open (owned) */
} hk_gguf_kv;

typedef struct hk_gguf_tensor {
    hk_str name;
    uint32_t n_dims;         /* 1..4 */
    int64_t ne[4];           /* elements per dimension, ne[0] = row length; unused dims are 1 */
    uint32_t type;           /* hk_type id (validated as known) */
    uint64_t offset;         /* from the start of the tensor-data section */
    uint64_t nbytes;         /* ne[0]*...*ne[3] elements in this type */
    const void *data;        /* inside the mapping */
} hk_gguf_tensor;

typedef struct hk_gguf {
    char *path;              /* as given to open, for error messages (owned) */
    const uint8_t *base;     /* file bytes */
    size_t size;             /* file length */
    bool mapped;             /* base is an mmap (else borrowed memory) */
    uint32_t version;        /* 2 or 3 */
    uint32_t alignment;      /* general.alignment or 32 */
    uint64_t n_kv;
    hk_gguf_kv *kv;
    uint64_t n_tensors;
    hk_gguf_tensor *tensors;
    uint64_t data_offset;    /* start of the tensor-data section in the file */
} hk_gguf;

/* A mapped file of at least this many bytes starts at a multiple of it,
 * with the advice to map it in huge pages (gguf.c map_file). */
#define HK_GGUF_MAP_ALIGN ((size_t)2 << 20)

/* Open and validate a file.  On error returns NULL and err says e.g.
 * "model.gguf: tensor 'blk.3.attn_q.weight' ends past end of file". */
hk_gguf *hk_gguf_open(const char *path, hk_error *err);
/* Same over caller memory that outlives the result (fuzzing, tests). */
hk_gguf *hk_gguf_open_memory(const void *buf, size_t size, const char *name, hk_error *err);
void hk_gguf_close(hk_gguf *g);
/* How much of a mapped file is in memory now (*resident) and how much of
 * that is mapped in huge pages (*huge), in bytes, from /proc/self/smaps;
 * -1 (both 0) when the file is not mapped or that cannot be read. */
int hk_gguf_huge_pages(const hk_gguf *g, uint64_t *resident, uint64_t *huge);

/* Lookups: NULL / false when absent or of an incompatible type. */
const hk_gguf_kv *hk_gguf_find(const hk_gguf *g, const char *key);
const hk_gguf_tensor *hk_gguf_find_tensor(const hk_gguf *g, const char *name);
/* Scalar getters accept any integer type whose value fits the target. */
bool hk_gguf_get_u32(const hk_gguf *g, const char *key, uint32_t *out);
bool hk_gguf_get_i64(const hk_gguf *g, const char *key, int64_t *out);
bool hk_gguf_get_f32(const hk_gguf *g, const char *key, float *out); /* FLOAT32 or FLOAT64 */
bool hk_gguf_get_bool(const hk_gguf *g, const char *key, bool *out);
bool hk_gguf_get_str(const hk_gguf *g, const char *key, hk_str *out);
/* Array element getters (kv must be an ARRAY of a compatible type; i < arr_n). */
int64_t hk_gguf_arr_int(const hk_gguf_kv *kv, uint64_t i);
float hk_gguf_arr_f32(const hk_gguf_kv *kv, uint64_t i);
hk_str hk_gguf_arr_str(const hk_gguf_kv *kv, uint64_t i);

/* Bytes of one scalar value of a fixed-size type; 0 for STRING/ARRAY/unknown. */
size_t hk_gguf_type_size(hk_gguf_type t);
const char *hk_gguf_type_name(hk_gguf_type t);

/* `hark info`: version, alignment, every key with its type and value (arrays
 * shortened to their first items, strings escaped and shortened), the tensor
 * table and totals.  Returns 0, or -1 if writing to out failed. */
int hk_gguf_print_info(const hk_gguf *g, FILE *out);


/* ---- writer ----
 * Collects key/values and tensor infos, then writes the file in one pass:
 * header, kvs, tensor infos, padding, data.  Writes to "<path>.tmp" and
 * renames, so a failed write never leaves a half file under the real name. */
typedef struct hk_gguf_writer hk_gguf_writer;
/* A failed add (duplicate key or tensor name, bad type or shape, no memory)
 * returns -1 and makes write() fail with its reason.  The data alignment is
 * general.alignment (UINT32) if the caller added that key, else the value
 * given to set_alignment (the key is then written last), else 32. */

/* Fills dst (nbytes long) with the data of tensor number idx when the tensor
 * was added without data; returns 0 or -1 (after filling err). */
typedef int (*hk_gguf_produce_fn)(void *user, uint64_t idx, void *dst, size_t nbytes, hk_error *err);

hk_gguf_writer *hk_gguf_writer_new(void);
void hk_gguf_writer_free(hk_gguf_writer *w);
void hk_gguf_writer_set_alignment(hk_gguf_writer *w, uint32_t alignment);
/* Scalars: value points at one value of the type (for STRING: a const char *). */
int hk_gguf_writer_add_kv(hk_gguf_writer *w, const char *key, hk_gguf_type type, const void *value);
int hk_gguf_writer_add_u32(hk_gguf_writer *w, const char *key, uint32_t v);
int hk_gguf_writer_add_f32(hk_gguf_writer *w, const char *key, float v);
int hk_gguf_writer_add_bool(hk_gguf_writer *w, const char *key, bool v);
int hk_gguf_writer_add_str(hk_gguf_writer *w, const char *key, const char *v);
/* Arrays of scalars (elems: n packed values) or of STRING (elems: const char *const *). */
int hk_gguf_writer_add_array(hk_gguf_writer *w, const char *key, hk_gguf_type elem, const void *elems, uint64_t n);
/* Copy a key/value read from another file verbatim (nested arrays included). */
int hk_gguf_writer_copy_kv(hk_gguf_writer *w, const hk_gguf_kv *kv);
/* Replaces the value of an existing key instead of adding a second one. */
int hk_gguf_writer_set_u32(hk_gguf_writer *w, const char *key, uint32_t v);
/* data is borrowed until write; NULL means "ask produce() at write time". */
int hk_gguf_writer_add_tensor(hk_gguf_writer *w, const char *name, hk_type type, uint32_t n_dims,
                              const int64_t *ne, const void *data);
int hk_gguf_writer_write(hk_gguf_writer *w, const char *path, hk_gguf_produce_fn produce, void *user,
                         hk_error *err);

#endif
