/* Tokenizers from GGUF metadata, behaving as llama.cpp's llama-vocab.cpp at
 * c392e50 (see tokenizer.h).  Where llama.cpp would throw or assert on bad
 * input, this file returns an error or falls back as noted, never aborts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "tokenizer.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pretokenize.h"
#include "unicode.h"

enum vocab_type { VOCAB_SPM, VOCAB_BPE };

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    TOKTYPE_NORMAL = 1,
    TOKTYPE_UNKNOWN = 2,
    TOKTYPE_CONTROL = 3,
    TOKTYPE_USER_DEFINED = 4,
    TOKTYPE_UNUSED = 5,
    TOKTYPE_BYTE = 6,
};

typedef struct token {
    uint32_t off, len;       /* text in t->pool */
    uint32_t piece_off, piece_len; /* piece with special = true, in t->pool */
    float score;
    uint32_t attr;           /* HK_TOKEN_ATTR_* */
} token;

/* A merge "a b" of tokenizer.ggml.merges; its rank is its index. */
typedef struct merge {
    uint32_t a_off, a_len, b_off, b_len; /* in t->pool */
} merge;

/* Trie over the texts of special tokens, to find which of them occur in a
 * text in one pass. */
typedef struct trie_node {
    int32_t child;   /* first child, -1 if none */
    int32_t sibling; /* next child of the parent, -1 if none */
    unsigned char byte;
    bool terminal;   /* some special token's text ends here */
} trie_node;

struct hk_tokenizer {
    enum vocab_type type;
    hk_pretok pre;
    int32_t n_tokens;
    token *tokens;
    char *pool; /* token texts, pieces and merge strings */
    size_t pool_len, pool_cap;

    /* text -> id (open addressing; the last id of a duplicated text wins,
     * as in llama.cpp's token_to_id map) */
    int32_t *id_table;
    size_t id_mask;

    merge *merges;
    int32_t n_merges;
    int32_t *merge_table; /* (a, b) -> rank; the first of duplicates wins */
    size_t merge_mask;

    int32_t bos, eos, eot, eom, unk, sep, pad;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;

    int32_t *eog; /* sorted */
    int32_t n_eog;

    int32_t *specials; /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_specials;
    int32_t *special_node; /* trie node ending each entry of specials */
    trie_node *trie;
    int32_t n_trie, cap_trie;
    int32_t trie_root[256]; /* child of the root for each first byte, -1 if none */

    int32_t byte_token[256]; /* SPM byte fallback: <0xXX>, else the byte itself, else -1 */
    int32_t max_piece;
};

/* ---- small helpers ---- */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define HASH_SEED 0xcbf29ce484222325ull

static size_t table_size_for(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 1)
        cap *= 2;
    return cap;
}

static int pool_add(hk_tokenizer *t, const void *p, size_t n, uint32_t *off)
{
    if (t->pool_len + n > UINT32_MAX)
        return -1;
    if (t->pool_len + n > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 4096;
        while (cap < t->pool_len + n)
            cap *= 2;
        char *np = realloc(t->pool, cap);
        if (!np)
            return -1;
        t->pool = np;
        t->pool_cap = cap;
    }
    if (n)
        memcpy(t->pool + t->pool_len, p, n);
    *off = (uint32_t)t->pool_len;
    t->pool_len += n;
    return 0;
}

static const char *tok_text(const hk_tokenizer *t, int32_t id)
{
    return t->pool + t->tokens[id].off;
}

static bool text_is(const hk_tokenizer *t, int32_t id, const char *s, size_t n)
{
    return t->tokens[id].len == n && memcmp(tok_text(t, id), s, n) == 0;
}

static int32_t lookup(const hk_tokenizer *t, const char *s, size_t n)
{
    size_t i = hash_bytes(s, n, HASH_SEED) & t->id_mask;
    for (;; i = (i + 1) & t->id_mask) {
        int32_t id = t->id_table[i];
        if (id < 0)
            return -1;
        if (text_is(t, id, s, n))
            return id;
    }
}

static int32_t lookup_cstr(const hk_tokenizer *t, const char *s)
{
    return lookup(t, s, strlen(s));
}

static void id_table_insert(hk_tokenizer *t, int32_t id)
{
    const token *tk = &t->tokens[id];
    size_t i = hash_bytes(tok_text(t, id), tk->len, HASH_SEED) & t->id_mask;
    for (;; i = (i + 1) & t->id_mask) {
        int32_t old = t->id_table[i];
        if (old < 0 || text_is(t, old, tok_text(t, id), tk->len)) {
            t->id_table[i] = id;
            return;
        }
    }
}

static uint64_t merge_hash(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = hash_bytes(a, an, HASH_SEED);
    h = hash_bytes("\xff", 1, h); /* a separator no UTF-8 text contains */
    return hash_bytes(b, bn, h);
}

static int32_t merge_rank(const hk_tokenizer *t, const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = merge_hash(a, an, b, bn) & t->merge_mask;
    for (;; i = (i + 1) & t->merge_mask) {
        int32_t r = t->merge_table[i];
        if (r < 0)
            return -1;
        const merge *m = &t->merges[r];
        if (m->a_len == an && m->b_len == bn && !memcmp(t->pool + m->a_off, a, an) &&
            !memcmp(t->pool + m->b_off, b, bn))
            return r;
    }
}

/* ASCII blanks as C isspace sees them (llama.cpp's lstrip/rstrip test). */
static bool c_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* ---- loading ---- */

typedef struct pre_name {
    const char *name;
    hk_pretok pre;
    bool llama3_flags; /* ignore_merges and add_bos default on */
} pre_name;

/* tokenizer.ggml.pre values llama.cpp accepts, for the regex families this
 * file implements. */
static const pre_name pre_names[] = {
    {"default", HK_PRE_DEFAULT, false},
    {"llama3", HK_PRE_LLAMA3, true},
    {"llama-v3", HK_PRE_LLAMA3, true},
    {"llama-bpe", HK_PRE_LLAMA3, true},
    {"falcon3", HK_PRE_LLAMA3, true},
    {"dbrx", HK_PRE_LLAMA3, false},
    {"smaug-bpe", HK_PRE_LLAMA3, false},
    {"chatglm-bpe", HK_PRE_LLAMA3, false},
    {"deepseek-llm", HK_PRE_DEEPSEEK_LLM, false},
    {"deepseek-coder", HK_PRE_DEEPSEEK_CODER, false},
    {"falcon", HK_PRE_FALCON, false},
    {"mpt", HK_PRE_GPT2, false},
    {"starcoder", HK_PRE_STARCODER, false},
    {"gpt-2", HK_PRE_GPT2, false},
    {"phi-2", HK_PRE_GPT2, false},
    {"jina-es", HK_PRE_GPT2, false},
    {"jina-de", HK_PRE_GPT2, false},
    {"gigachat", HK_PRE_GPT2, false},
    {"jina-v1-en", HK_PRE_GPT2, false},
    {"jina-v2-es", HK_PRE_GPT2, false},
    {"jina-v2-de", HK_PRE_GPT2, false},
    {"jina-v2-code", HK_PRE_GPT2, false},
    {"roberta-bpe", HK_PRE_GPT2, false},
    {"refact", HK_PRE_STARCODER, false},
    {"command-r", HK_PRE_STARCODER, false},
    {"qwen2", HK_PRE_QWEN2, false},
    {"stablelm2", HK_PRE_QWEN2, false},
    {"megrez", HK_PRE_QWEN2, false},
    {"olmo", HK_PRE_GPT2, false},
    {"poro-chat", HK_PRE_BLOOM, false},
    {"viking", HK_PRE_VIKING, false},
    {"jais", HK_PRE_GPT2, false},
    {"smollm", HK_PRE_STARCODER, false},
    {"codeshell", HK_PRE_STARCODER, false},
    {"bloom", HK_PRE_BLOOM, false},
    {"gpt3-finnish", HK_PRE_BLOOM, false},
    {"exaone", HK_PRE_STARCODER, false},
    {"minerva-7b", HK_PRE_STARCODER, false},
};

static bool str_is(hk_str s, const char *c)
{
    return hk_str_eq(s, c);
}

static bool str_contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k > n)
        return false;
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k))
            return true;
    return false;
}

/* Special-token keys; an id outside the vocabulary keeps the default, as
 * llama.cpp does (old files store 4294967295 for "none"). */
static void read_special_id(const hk_gguf *g, const char *key, int32_t n_tokens, int32_t *id)
{
    uint32_t v;
    if (hk_gguf_get_u32(g, key, &v) && v < (uint32_t)n_tokens)
        *id = (int32_t)v;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;

/* Longest text first; equal lengths by id (llama.cpp's std::sort leaves
 * their order unspecified). */
static int cmp_special(const void *a, const void *b)
{
    const len_id *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Force a recognised special token to CONTROL, as llama.cpp does for tokens
 * it finds by text. */
static void make_control(hk_tokenizer *t, int32_t id)
{
    if (!(t->tokens[id].attr & HK_TOKEN_ATTR_CONTROL))
        t->tokens[id].attr = HK_TOKEN_ATTR_CONTROL;
}

/* The first of texts present in the vocabulary, or -1.  llama.cpp takes the
 * first match in its hash map's order; this takes the first in list order. */
static int32_t find_first(const hk_tokenizer *t, const char *const *texts)
{
    for (; *texts; texts++) {
        int32_t id = lookup_cstr(t, *texts);
        if (id >= 0)
            return id;
    }
    return -1;
}

static void detect_by_text(hk_tokenizer *t, int32_t *id, const char *const *texts)
{
    if (*id >= 0)
        return;
    *id = find_first(t, texts);
    if (*id >= 0)
        make_control(t, *id);
}

static int add_eog(hk_tokenizer *t, int32_t id)
{
    if (id < 0)
        return 0;
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return 0;
    int32_t *e = realloc(t->eog, sizeof *e * (size_t)(t->n_eog + 1));
    if (!e)
        return -1;
    t->eog = e;
    t->eog[t->n_eog++] = id;
    return 0;
}

static int trie_new_node(hk_tokenizer *t, unsigned char byte)
{
    if (t->n_trie == t->cap_trie) {
        int32_t cap = t->cap_trie ? t->cap_trie * 2 : 256;
        trie_node *nt = realloc(t->trie, sizeof *nt * (size_t)cap);
        if (!nt)
            return -1;
        t->trie = nt;
        t->cap_trie = cap;
    }
    t->trie[t->n_trie] = (trie_node){-1, -1, byte, false};
    return t->n_trie++;
}

static int32_t trie_child(const hk_tokenizer *t, int32_t node, unsigned char byte)
{
    if (node == 0)
        return t->trie_root[byte];
    for (int32_t c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
        if (t->trie[c].byte == byte)
            return c;
    return -1;
}

static int32_t trie_insert(hk_tokenizer *t, const char *s, size_t n)
{
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = trie_child(t, node, b);
        if (c < 0) {
            c = trie_new_node(t, b);
            if (c < 0)
                return -1;
            t->trie[c].sibling = t->trie[node].child;
            t->trie[node].child = c;
            if (node == 0)
                t->trie_root[b] = c;
        }
        node = c;
    }
    t->trie[node].terminal = true;
    return node;
}

static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<EOT>", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
                                        NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {"<|fim_prefix|>", "<fim-prefix>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", NULL};
static const char *const fim_suf_texts[] = {"<|fim_suffix|>", "<fim-suffix>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>", NULL};
static const char *const fim_mid_texts[] = {"<|fim_middle|>", "<fim-middle>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|eom_id|>", "<EOT>", NULL};

static int set_attr_by_text(hk_tokenizer *t, const hk_gguf *g, const char *text, uint32_t attr, bool on,
                            hk_error *err)
{
    int32_t id = lookup_cstr(t, text);
    if (id < 0)
        return hk_fail(err, "%s: the vocabulary has no token '%s', which this model's tokenizer needs", g->path,
                       text);
    if (on)
        t->tokens[id].attr |= attr;
    else
        t->tokens[id].attr &= ~attr;
    return 0;
}

/* Per-model attributes llama.cpp sets from general.name / the pre-tokenizer
 * name, since GGUF files carry no lstrip/rstrip flags. */
static int apply_name_attrs(hk_tokenizer *t, const hk_gguf *g, hk_error *err)
{
    hk_str name = {"", 0}, pre = {"", 0};
    hk_gguf_get_str(g, "general.name", &name);
    hk_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    char lower[256];
    size_t n = name.len < sizeof lower ? (size_t)name.len : sizeof lower;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)name.ptr[i]);
    if (str_contains(pre.ptr, pre.len, "jina-v2-de") || str_contains(pre.ptr, pre.len, "jina-v2-es") ||
        str_contains(pre.ptr, pre.len, "jina-v2-code"))
        return set_attr_by_text(t, g, "<mask>", HK_TOKEN_ATTR_LSTRIP, true, err);
    if (str_contains(lower, n, "phi-3") || str_contains(lower, n, "phi3")) {
        for (int32_t i = 0; i < t->n_specials; i++)
            t->tokens[t->specials[i]].attr |= HK_TOKEN_ATTR_RSTRIP;
        if (set_attr_by_text(t, g, "</s>", HK_TOKEN_ATTR_RSTRIP, true, err) ||
            set_attr_by_text(t, g, "<unk>", HK_TOKEN_ATTR_RSTRIP, false, err) ||
            set_attr_by_text(t, g, "<s>", HK_TOKEN_ATTR_RSTRIP, false, err) ||
            set_attr_by_text(t, g, "<|endoftext|>", HK_TOKEN_ATTR_RSTRIP, false, err))
            return -1;
    }
    return 0;
}

static uint32_t attr_of_type(int64_t type)
{
    switch (type) {
    case TOKTYPE_NORMAL: return HK_TOKEN_ATTR_NORMAL;
    case TOKTYPE_UNKNOWN: return HK_TOKEN_ATTR_UNKNOWN;
    case TOKTYPE_CONTROL: return HK_TOKEN_ATTR_CONTROL;
    case TOKTYPE_USER_DEFINED: return HK_TOKEN_ATTR_USER_DEFINED;
    case TOKTYPE_UNUSED: return HK_TOKEN_ATTR_UNUSED;
    case TOKTYPE_BYTE: return HK_TOKEN_ATTR_BYTE;
    default: return 0; /* undefined: behaves like an unused token */
    }
}

static int load_vocab_type(hk_tokenizer *t, const hk_gguf *g, hk_error *err)
{
    hk_str model;
    if (!hk_gguf_get_str(g, "tokenizer.ggml.model", &model))
        return hk_fail(err, "%s: no tokenizer (tokenizer.ggml.model is missing)", g->path);
    if (str_is(model, "llama")) {
        t->type = VOCAB_SPM;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->pre = HK_PRE_DEFAULT;
        t->add_space_prefix = true;
        t->add_bos = true;
        t->add_eos = false;
    } else if (str_is(model, "gpt2")) {
        t->type = VOCAB_BPE;
        t->bos = 11;
        t->eos = 11;
        t->unk = -1;
        t->add_space_prefix = false;
        hk_str pre;
        if (!hk_gguf_get_str(g, "tokenizer.ggml.pre", &pre) || pre.len == 0) {
            t->pre = HK_PRE_DEFAULT; /* llama.cpp warns and uses the default regexes */
        } else {
            size_t i, n = sizeof pre_names / sizeof pre_names[0];
            for (i = 0; i < n && !str_is(pre, pre_names[i].name); i++)
                ;
            if (i == n)
                return hk_fail(err, "%s: unsupported pre-tokenizer '%.*s'", g->path, (int)pre.len, pre.ptr);
            t->pre = pre_names[i].pre;
            if (pre_names[i].llama3_flags) {
                t->ignore_merges = true;
                t->add_bos = true;
            }
            if (str_is(pre, "chatglm-bpe"))
                t->bos = -1;
        }
    } else if (str_is(model, "no_vocab") || str_is(model, "none")) {
        return hk_fail(err, "%s: the file has no vocabulary (tokenizer.ggml.model '%.*s')", g->path,
                       (int)model.len, model.ptr);
    } else {
        return hk_fail(err, "%s: unsupported tokenizer '%.*s' (hark reads 'llama' and 'gpt2')", g->path,
                       (int)model.len, model.ptr);
    }
    bool b;
    if (hk_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b))
        t->add_space_prefix = b;
    return 0;
}

static int load_tokens(hk_tokenizer *t, const hk_gguf *g, hk_error *err)
{
    const hk_gguf_kv *tk = hk_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tk || tk->type != HK_GGUF_ARRAY || tk->arr_type != HK_GGUF_STRING)
        return hk_fail(err, "%s: no tokenizer vocabulary (tokenizer.ggml.tokens)", g->path);
    if (tk->arr_n == 0 || tk->arr_n > INT32_MAX / 2)
        return hk_fail(err, "%s: tokenizer.ggml.tokens has %llu entries", g->path, (unsigned long long)tk->arr_n);
    int32_t n = (int32_t)tk->arr_n;
    const hk_gguf_kv *sc = hk_gguf_find(g, "tokenizer.ggml.scores");
    const hk_gguf_kv *ty = hk_gguf_find(g, "tokenizer.ggml.token_type");
    if (sc && (sc->type != HK_GGUF_ARRAY || sc->arr_n < (uint64_t)n))
        return hk_fail(err, "%s: tokenizer.ggml.scores has fewer entries than the vocabulary", g->path);
    if (ty && (ty->type != HK_GGUF_ARRAY || ty->arr_n < (uint64_t)n))
        return hk_fail(err, "%s: tokenizer.ggml.token_type has fewer entries than the vocabulary", g->path);

    t->n_tokens = n;
    t->tokens = calloc((size_t)n, sizeof *t->tokens);
    size_t cap = table_size_for((size_t)n);
    t->id_table = malloc(cap * sizeof *t->id_table);
    if (!t->tokens || !t->id_table)
        return hk_fail(err, "%s: out of memory for the vocabulary", g->path);
    memset(t->id_table, 0xff, cap * sizeof *t->id_table);
    t->id_mask = cap - 1;
    for (int32_t i = 0; i < n; i++) {
        hk_str s = hk_gguf_arr_str(tk, (uint64_t)i);
        token *k = &t->tokens[i];
        int rc;
        if (s.len == 0) {
            char buf[32];
            int bl = snprintf(buf, sizeof buf, "[EMPTY_%d]", (int)i);
            rc = pool_add(t, buf, (size_t)bl, &k->off);
            k->len = (uint32_t)bl;
        } else {
            if (s.len > UINT32_MAX)
                return hk_fail(err, "%s: token %d is too long", g->path, (int)i);
            rc = pool_add(t, s.ptr, (size_t)s.len, &k->off);
            k->len = (uint32_t)s.len;
        }
        if (rc)
            return hk_fail(err, "%s: out of memory for the vocabulary", g->path);
        k->score = sc ? hk_gguf_arr_f32(sc, (uint64_t)i) : 0.0f;
        k->attr = ty ? attr_of_type(hk_gguf_arr_int(ty, (uint64_t)i)) : HK_TOKEN_ATTR_NORMAL;
        id_table_insert(t, i);
    }
    return 0;
}

static int load_merges(hk_tokenizer *t, const hk_gguf *g, hk_error *err)
{
    const hk_gguf_kv *mk = hk_gguf_find(g, "tokenizer.ggml.merges");
    if (!mk || mk->type != HK_GGUF_ARRAY || mk->arr_type != HK_GGUF_STRING)
        return hk_fail(err, "%s: a gpt2 tokenizer needs tokenizer.ggml.merges", g->path);
    if (mk->arr_n > INT32_MAX / 2)
        return hk_fail(err, "%s: too many merges", g->path);
    int32_t n = (int32_t)mk->arr_n;
    size_t cap = table_size_for((size_t)n);
    t->merges = calloc((size_t)n + 1, sizeof *t->merges);
    t->merge_table = malloc(cap * sizeof *t->merge_table);
    if (!t->merges || !t->merge_table)
        return hk_fail(err, "%s: out of memory for the merges", g->path);
    memset(t->merge_table, 0xff, cap * sizeof *t->merge_table);
    t->merge_mask = cap - 1;
    t->n_merges = n;
    for (int32_t r = 0; r < n; r++) {
        hk_str s = hk_gguf_arr_str(mk, (uint64_t)r);
        merge *m = &t->merges[r];
        /* The separator is the first blank after the first byte, so a merge
         * whose left part is a blank still splits right.  Without one,
         * llama.cpp files the merge under ("", ""), which no pair of
         * symbols can ever look up: leave it out. */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (!sp)
            continue;
        size_t an = (size_t)(sp - s.ptr), bn = (size_t)s.len - an - 1;
        if (pool_add(t, s.ptr, an, &m->a_off) || pool_add(t, sp + 1, bn, &m->b_off))
            return hk_fail(err, "%s: out of memory for the merges", g->path);
        m->a_len = (uint32_t)an;
        m->b_len = (uint32_t)bn;
        size_t i = merge_hash(s.ptr, an, sp + 1, bn) & t->merge_mask;
        for (;; i = (i + 1) & t->merge_mask) {
            int32_t o = t->merge_table[i];
            if (o < 0) {
                t->merge_table[i] = r;
                break;
            }
            const merge *om = &t->merges[o];
            if (om->a_len == an && om->b_len == bn && !memcmp(t->pool + om->a_off, s.ptr, an) &&
                !memcmp(t->pool + om->b_off, sp + 1, bn))
                break; /* duplicate: the earlier (lower) rank stays */
        }
    }
    return 0;
}

static int load_specials(hk_tokenizer *t, const hk_gguf *g, hk_error *err)
{
    int32_t n = t->n_tokens;
    static const struct {
        const char *key;
        size_t field;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(hk_tokenizer, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(hk_tokenizer, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(hk_tokenizer, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(hk_tokenizer, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(hk_tokenizer, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(hk_tokenizer, sep)},
        {"tokenizer.ggml.padding_token_id", offsetof(hk_tokenizer, pad)},
        {"tokenizer.ggml.fim_pre_token_id", offsetof(hk_tokenizer, fim_pre)},
        {"tokenizer.ggml.fim_suf_token_id", offsetof(hk_tokenizer, fim_suf)},
        {"tokenizer.ggml.fim_mid_token_id", offsetof(hk_tokenizer, fim_mid)},
        {"tokenizer.ggml.fim_pad_token_id", offsetof(hk_tokenizer, fim_pad)},
        {"tokenizer.ggml.fim_rep_token_id", offsetof(hk_tokenizer, fim_rep)},
        {"tokenizer.ggml.fim_sep_token_id", offsetof(hk_tokenizer, fim_sep)},
        /* deprecated names of the FIM ids */
        {"tokenizer.ggml.prefix_token_id", offsetof(hk_tokenizer, fim_pre)},
        {"tokenizer.ggml.suffix_token_id", offsetof(hk_tokenizer, fim_suf)},
        {"tokenizer.ggml.middle_token_id", offsetof(hk_tokenizer, fim_mid)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        read_special_id(g, keys[i].key, n, (int32_t *)((char *)t + keys[i].field));
    /* Defaults that point outside a small vocabulary mean "none". */
    int32_t *ids[] = {&t->bos, &t->eos, &t->unk};
    for (size_t i = 0; i < 3; i++)
        if (*ids[i] >= n)
            *ids[i] = -1;

    bool b;
    if (hk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b))
        t->add_bos = b;
    if (hk_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b))
        t->add_eos = b;

    detect_by_text(t, &t->eot, eot_texts);
    detect_by_text(t, &t->eom, eom_texts);
    detect_by_text(t, &t->fim_pre, fim_pre_texts);
    detect_by_text(t, &t->fim_suf, fim_suf_texts);
    detect_by_text(t, &t->fim_mid, fim_mid_texts);
    detect_by_text(t, &t->fim_pad, fim_pad_texts);
    detect_by_text(t, &t->fim_rep, fim_rep_texts);
    detect_by_text(t, &t->fim_sep, fim_sep_texts);

    if (add_eog(t, t->fim_pad) || add_eog(t, t->fim_rep) || add_eog(t, t->fim_sep))
        goto oom;
    for (const char *const *s = eog_texts; *s; s++) {
        int32_t id = lookup_cstr(t, *s);
        if (id >= 0) {
            make_control(t, id);
            if (add_eog(t, id))
                goto oom;
        }
    }
    if (add_eog(t, t->eos) || add_eog(t, t->eot) || add_eog(t, t->eom))
        goto oom;
    if (t->n_eog)
        qsort(t->eog, (size_t)t->n_eog, sizeof *t->eog, cmp_i32);

    /* Special tokens, longest first: the order tokenizer_st_partition
     * splits the text by. */
    t->specials = malloc(sizeof *t->specials * (size_t)n);
    len_id *order = malloc(sizeof *order * (size_t)n);
    if (!t->specials || !order) {
        free(order);
        goto oom;
    }
    for (int32_t i = 0; i < n; i++)
        if (t->tokens[i].attr & (HK_TOKEN_ATTR_CONTROL | HK_TOKEN_ATTR_USER_DEFINED | HK_TOKEN_ATTR_UNKNOWN))
            order[t->n_specials++] = (len_id){t->tokens[i].len, i};
    qsort(order, (size_t)t->n_specials, sizeof *order, cmp_special);
    for (int32_t i = 0; i < t->n_specials; i++)
        t->specials[i] = order[i].id;
    free(order);
    t->special_node = malloc(sizeof *t->special_node * (size_t)(t->n_specials + 1));
    if (!t->special_node || trie_new_node(t, 0) < 0)
        goto oom;
    for (int32_t i = 0; i < t->n_specials; i++) {
        int32_t id = t->specials[i];
        t->special_node[i] = trie_insert(t, tok_text(t, id), t->tokens[id].len);
        if (t->special_node[i] < 0)
            goto oom;
    }
    return 0;
oom:
    return hk_fail(err, "%s: out of memory for the vocabulary", g->path);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The byte of "<0xXX>" (llama.cpp: strtol of text[3..5), 0 if no digits). */
static unsigned char byte_of_token(const hk_tokenizer *t, int32_t id)
{
    const char *s = tok_text(t, id);
    uint32_t n = t->tokens[id].len;
    unsigned v = 0;
    for (uint32_t i = 3; i < 5 && i < n && hexval(s[i]) >= 0; i++)
        v = v * 16 + (unsigned)hexval(s[i]);
    return (unsigned char)v;
}

/* The piece with special = true (llama.cpp's cache_token_to_piece). */
static void compute_piece(const hk_tokenizer *t, int32_t id, char *out, size_t *n)
{
    const token *k = &t->tokens[id];
    const char *s = tok_text(t, id);
    size_t o = 0;
    if (k->attr & (HK_TOKEN_ATTR_UNKNOWN | HK_TOKEN_ATTR_CONTROL | HK_TOKEN_ATTR_USER_DEFINED)) {
        memcpy(out, s, k->len);
        *n = k->len;
        return;
    }
    if (t->type == VOCAB_SPM) {
        if (k->attr & HK_TOKEN_ATTR_NORMAL) {
            for (uint32_t i = 0; i < k->len;) {
                if (i + 3 <= k->len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                    out[o++] = ' ';
                    i += 3;
                } else {
                    out[o++] = s[i++];
                }
            }
        } else if (k->attr & HK_TOKEN_ATTR_BYTE) {
            out[o++] = (char)byte_of_token(t, id);
        }
        *n = o;
        return;
    }
    if (k->attr & HK_TOKEN_ATTR_NORMAL) {
        for (size_t i = 0; i < k->len;) {
            size_t adv;
            uint32_t cp = hk_utf8_decode(s + i, k->len - i, &adv);
            i += adv;
            int b = hk_gpt2_cp_byte(cp);
            if (b >= 0) {
                out[o++] = (char)b;
                continue;
            }
            /* llama_decode_text's marker for a character outside the
             * byte alphabet, whole token text included. */
            char u[4];
            size_t un = hk_utf8_encode(cp, u);
            memcpy(out + o, "[UNK_BYTE_0x", 12);
            o += 12;
            for (size_t j = 0; j < un; j++) {
                static const char hex[] = "0123456789abcdef";
                out[o++] = hex[(unsigned char)u[j] >> 4];
                out[o++] = hex[(unsigned char)u[j] & 15];
            }
            memcpy(out + o, s, k->len);
            o += k->len;
            out[o++] = ']';
        }
    }
    *n = o;
}

static int build_pieces(hk_tokenizer *t, const hk_gguf *g, hk_error *err)
{
    size_t cap = 0;
    char *buf = NULL;
    for (int32_t i = 0; i < t->n_tokens; i++) {
        /* Pieces are never longer than the text, except that byte-level
         * decoding writes "[UNK_BYTE_0x<hex>" + text + "]" for each
         * character outside its alphabet. */
        size_t len = t->tokens[i].len, need = 16 + len * (len + 24);
        if (need > cap) {
            char *nb = realloc(buf, need);
            if (!nb) {
                free(buf);
                return hk_fail(err, "%s: out of memory for the token pieces", g->path);
            }
            buf = nb;
            cap = need;
        }
        size_t n;
        compute_piece(t, i, buf, &n);
        if (n > INT32_MAX / 2 || pool_add(t, buf, n, &t->tokens[i].piece_off)) {
            free(buf);
            return hk_fail(err, "%s: out of memory for the token pieces", g->path);
        }
        t->tokens[i].piece_len = (uint32_t)n;
        if ((int32_t)n > t->max_piece)
            t->max_piece = (int32_t)n;
    }
    free(buf);
    return 0;
}

static void find_byte_tokens(hk_tokenizer *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        int32_t id = lookup(t, name, 6);
        if (id < 0) {
            char c = (char)b;
            id = lookup(t, &c, 1);
        }
        t->byte_token[b] = id;
    }
}

hk_tokenizer *hk_tokenizer_load(const hk_gguf *g, hk_error *err)
{
    hk_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        hk_fail(err, "%s: out of memory for the tokenizer", g->path);
        return NULL;
    }
    t->eot = t->eom = t->sep = t->pad = -1;
    memset(t->trie_root, 0xff, sizeof t->trie_root);
    t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = -1;
    if (load_vocab_type(t, g, err) || load_tokens(t, g, err) ||
        (t->type == VOCAB_BPE && load_merges(t, g, err)) || load_specials(t, g, err) ||
        build_pieces(t, g, err) || apply_name_attrs(t, g, err)) {
        hk_tokenizer_free(t);
        return NULL;
    }
    find_byte_tokens(t);
    return t;
}

void hk_tokenizer_free(hk_tokenizer *t)
{
    if (!t)
        return;
    free(t->tokens);
    free(t->pool);
    free(t->id_table);
    free(t->merges);
    free(t->merge_table);
    free(t->eog);
    free(t->specials);
    free(t->special_node);
    free(t->trie);
    free(t);
}

/* ---- queries ---- */

int32_t hk_tokenizer_n_vocab(const hk_tokenizer *t) { return t->n_tokens; }
int32_t hk_tokenizer_bos(const hk_tokenizer *t) { return t->bos; }
int32_t hk_tokenizer_eos(const hk_tokenizer *t) { return t->eos; }
int32_t hk_tokenizer_eot(const hk_tokenizer *t) { return t->eot; }
int32_t hk_tokenizer_unk(const hk_tokenizer *t) { return t->unk; }
bool hk_tokenizer_add_bos(const hk_tokenizer *t) { return t->add_bos; }
bool hk_tokenizer_add_eos(const hk_tokenizer *t) { return t->add_eos; }
bool hk_tokenizer_add_space_prefix(const hk_tokenizer *t)
{
    return t->type == VOCAB_SPM && t->add_space_prefix;
}
int32_t hk_tokenizer_max_piece(const hk_tokenizer *t) { return t->max_piece; }

bool hk_tokenizer_is_eog(const hk_tokenizer *t, int32_t id)
{
    if (id < 0 || !t->n_eog)
        return false;
    return bsearch(&id, t->eog, (size_t)t->n_eog, sizeof id, cmp_i32) != NULL;
}

int32_t hk_tokenizer_find(const hk_tokenizer *t, const char *text)
{
    return lookup_cstr(t, text);
}

const char *hk_tokenizer_text(const hk_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_tokens)
        return NULL;
    *len = t->tokens[id].len;
    return tok_text(t, id);
}

uint32_t hk_tokenizer_attr(const hk_tokenizer *t, int32_t id)
{
    return (id < 0 || id >= t->n_tokens) ? 0 : t->tokens[id].attr;
}

/* ---- growable buffers for one tokenize call ---- */

typedef struct ids_vec {
    int32_t *v;
    size_t n, cap;
    int err;
} ids_vec;

static void ids_push(ids_vec *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *nv = realloc(o->v, cap * sizeof *nv);
        if (!nv) {
            o->err = -1;
            return;
        }
        o->v = nv;
        o->cap = cap;
    }
    o->v[o->n++] = id;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = realloc(p, c * elem);
    if (np)
        *cap = c;
    return np;
}

/* ---- special-token partition (tokenizer_st_partition) ---- */

typedef struct fragment {
    int32_t id;       /* the token, or -1 for raw text */
    size_t off, len;  /* the raw text, when id < 0 */
} fragment;

typedef struct frag_vec {
    fragment *v;
    size_t n, cap;
} frag_vec;

static int frag_push(frag_vec *f, int32_t id, size_t off, size_t len)
{
    fragment *nv = grow(f->v, &f->cap, f->n + 1, sizeof *f->v);
    if (!nv)
        return -1;
    f->v = nv;
    f->v[f->n++] = (fragment){id, off, len};
    return 0;
}

/* Split one raw fragment by every occurrence of special token id, with its
 * lstrip/rstrip attributes, as llama.cpp's loop does. */
static int split_fragment(const hk_tokenizer *t, const char *text, size_t off, size_t len, int32_t id,
                          frag_vec *out)
{
    const char *s = tok_text(t, id);
    size_t sn = t->tokens[id].len;
    uint32_t attr = t->tokens[id].attr;
    for (;;) {
        const char *p = len >= sn ? memmem(text + off, len, s, sn) : NULL;
        if (!p)
            return len > 0 ? frag_push(out, -1, off, len) : 0;
        size_t m = (size_t)(p - text);
        size_t left = m - off;
        if (attr & HK_TOKEN_ATTR_LSTRIP)
            while (left > 0 && c_space(text[off + left - 1]))
                left--;
        if (left > 0 && frag_push(out, -1, off, left))
            return -1;
        if (frag_push(out, id, 0, 0))
            return -1;
        size_t r_off = m + sn, r_len = off + len - r_off;
        if (r_len == 0)
            return 0;
        if (attr & HK_TOKEN_ATTR_RSTRIP)
            while (r_len > 0 && c_space(text[r_off])) {
                r_off++;
                r_len--;
            }
        off = r_off;
        len = r_len;
    }
}

static int partition(const hk_tokenizer *t, const char *text, size_t n, bool parse_special, frag_vec *frags)
{
    frags->n = 0;
    if (n == 0)
        return 0;
    if (frag_push(frags, -1, 0, n))
        return -1;
    if (!t->n_specials)
        return 0;
    /* Which special texts occur at all: one pass over the text with the
     * trie, so vocabularies with thousands of special tokens stay fast. */
    bool *present = calloc((size_t)t->n_trie, 1);
    if (!present)
        return -1;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        int32_t node = 0;
        for (size_t j = i; j < n; j++) {
            node = trie_child(t, node, (unsigned char)text[j]);
            if (node < 0)
                break;
            if (t->trie[node].terminal)
                present[node] = any = true;
        }
    }
    frag_vec next = {0};
    int rc = 0;
    for (int32_t k = 0; any && k < t->n_specials && !rc; k++) {
        int32_t id = t->specials[k];
        if (!present[t->special_node[k]])
            continue;
        if (!parse_special && (t->tokens[id].attr & (HK_TOKEN_ATTR_CONTROL | HK_TOKEN_ATTR_UNKNOWN)))
            continue; /* USER_DEFINED tokens are split out even then */
        next.n = 0;
        for (size_t f = 0; f < frags->n && !rc; f++) {
            const fragment *fr = &frags->v[f];
            if (fr->id >= 0)
                rc = frag_push(&next, fr->id, 0, 0);
            else
                rc = split_fragment(t, text, fr->off, fr->len, id, &next);
        }
        frag_vec tmp = *frags;
        *frags = next;
        next = tmp;
    }
    free(next.v);
    free(present);
    return rc;
}

/* ---- SentencePiece BPE (llm_tokenizer_spm) ---- */

typedef struct symbol {
    int32_t prev, next;
    size_t off; /* in the work text */
    size_t n;   /* bytes; 0 once merged into its left neighbour */
} symbol;

typedef struct bigram {
    int32_t left, right;
    float score; /* SPM: score of the merged token */
    int32_t rank; /* BPE: merge rank */
    size_t size;
} bigram;

typedef struct session {
    const hk_tokenizer *t;
    char *text;
    size_t text_cap;
    symbol *sym;
    size_t sym_cap;
    bigram *heap;
    size_t heap_n, heap_cap;
    uint32_t *cps;
    size_t cps_cap;
    hk_sizes words;
    int err;
} session;

/* SPM order: higher score first, then the leftmost. */
static bool spm_before(const bigram *a, const bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

/* BPE order: lower rank first, then the leftmost. */
static bool bpe_before(const bigram *a, const bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(session *s, bigram b, bool (*before)(const bigram *, const bigram *))
{
    bigram *h = grow(s->heap, &s->heap_cap, s->heap_n + 1, sizeof *h);
    if (!h) {
        s->err = -1;
        return;
    }
    s->heap = h;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = b;
}

static bigram heap_pop(session *s, bool (*before)(const bigram *, const bigram *))
{
    bigram *h = s->heap;
    bigram top = h[0], last = h[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&h[c + 1], &h[c]))
            c++;
        if (!before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

/* Split s->text[0,n) into one symbol per UTF-8 character (by lead byte,
 * clipped at the end), linked in order. */
static int32_t make_symbols(session *s, size_t n)
{
    symbol *sym = grow(s->sym, &s->sym_cap, n, sizeof *sym);
    if (!sym) {
        s->err = -1;
        return 0;
    }
    s->sym = sym;
    int32_t count = 0;
    for (size_t off = 0; off < n;) {
        size_t len = hk_utf8_len((unsigned char)s->text[off]);
        if (len > n - off)
            len = n - off;
        sym[count] = (symbol){count - 1, off + len == n ? -1 : count + 1, off, len};
        off += len;
        count++;
    }
    return count;
}

static void spm_try_bigram(session *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    size_t size = s->sym[left].n + s->sym[right].n;
    int32_t id = lookup(s->t, s->text + s->sym[left].off, size);
    if (id < 0)
        return;
    bigram b = {left, right, s->t->tokens[id].score, 0, size};
    heap_push(s, b, spm_before);
}

static void spm_emit_symbol(session *s, const symbol *sym, ids_vec *out)
{
    const hk_tokenizer *t = s->t;
    int32_t id = lookup(t, s->text + sym->off, sym->n);
    if (id >= 0) {
        ids_push(out, id);
        return;
    }
    /* Byte fallback.  A vocabulary with neither <0xXX> nor the raw byte makes
     * llama.cpp throw; unk is the closest thing that keeps going. */
    for (size_t j = 0; j < sym->n; j++) {
        int32_t b = t->byte_token[(unsigned char)s->text[sym->off + j]];
        if (b < 0)
            b = t->unk;
        if (b >= 0)
            ids_push(out, b);
    }
}

static void spm_tokenize(session *s, const char *frag, size_t len, bool space_prefix, ids_vec *out)
{
    /* Escape blanks as U+2581 "▁" (3 bytes each). */
    size_t need = 3 * (len + 1);
    char *text = grow(s->text, &s->text_cap, need, 1);
    if (!text) {
        s->err = -1;
        return;
    }
    s->text = text;
    size_t n = 0;
    if (space_prefix) {
        memcpy(text, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (frag[i] == ' ') {
            memcpy(text + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            text[n++] = frag[i];
        }
    }
    if (n == 0)
        return;
    int32_t count = make_symbols(s, n);
    if (s->err)
        return;
    s->heap_n = 0;
    for (int32_t i = 1; i < count; i++)
        spm_try_bigram(s, i - 1, i);
    while (s->heap_n && !s->err) {
        bigram b = heap_pop(s, spm_before);
        symbol *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* one side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = b.left;
        spm_try_bigram(s, l->prev, b.left);
        spm_try_bigram(s, b.left, l->next);
    }
    for (int32_t i = 0; i != -1 && !s->err; i = s->sym[i].next)
        spm_emit_symbol(s, &s->sym[i], out);
}

/* ---- byte-level BPE (llm_tokenizer_bpe) ---- */

static void bpe_add_bigram(session *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const symbol *l = &s->sym[left], *r = &s->sym[right];
    int32_t rank = merge_rank(s->t, s->text + l->off, l->n, s->text + r->off, r->n);
    if (rank < 0)
        return;
    bigram b = {left, right, 0.0f, rank, l->n + r->n};
    heap_push(s, b, bpe_before);
}

static void bpe_word(session *s, size_t n, ids_vec *out)
{
    const hk_tokenizer *t = s->t;
    int32_t count;
    if (t->ignore_merges && lookup(t, s->text, n) >= 0) {
        symbol *sym = grow(s->sym, &s->sym_cap, 1, sizeof *sym);
        if (!sym) {
            s->err = -1;
            return;
        }
        s->sym = sym;
        sym[0] = (symbol){-1, -1, 0, n};
        count = 1;
    } else {
        count = make_symbols(s, n);
        if (s->err)
            return;
    }
    s->heap_n = 0;
    for (int32_t i = 1; i < count; i++)
        bpe_add_bigram(s, i - 1, i);
    while (s->heap_n && !s->err) {
        bigram b = heap_pop(s, bpe_before);
        symbol *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = b.left;
        bpe_add_bigram(s, l->prev, b.left);
        bpe_add_bigram(s, b.left, l->next);
    }
    for (int32_t i = 0; i < count; i++) {
        const symbol *sym = &s->sym[i];
        if (sym->n == 0)
            continue;
        int32_t id = lookup(t, s->text + sym->off, sym->n);
        if (id >= 0) {
            ids_push(out, id);
            continue;
        }
        /* llama.cpp then tries each byte of the symbol as a one-byte token
         * and drops the bytes that are none. */
        for (size_t j = 0; j < sym->n; j++) {
            int32_t bid = lookup(t, s->text + sym->off + j, 1);
            if (bid >= 0)
                ids_push(out, bid);
        }
    }
}

static void bpe_tokenize(session *s, const char *frag, size_t len, ids_vec *out)
{
    uint32_t *cps = grow(s->cps, &s->cps_cap, len, sizeof *cps);
    if (!cps) {
        s->err = -1;
        return;
    }
    s->cps = cps;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        cps[n++] = hk_utf8_decode(frag + i, len - i, &adv);
        i += adv;
    }
    if (hk_pretokenize(s->t->pre, cps, n, &s->words)) {
        s->err = -1;
        return;
    }
    size_t start = 0;
    for (size_t w = 0; w < s->words.n && !s->err; w++) {
        size_t wl = s->words.v[w];
        /* Each byte of the word's UTF-8 becomes one character of the GPT-2
         * byte alphabet (at most 2 bytes of UTF-8 each). */
        char *text = grow(s->text, &s->text_cap, wl * 8, 1);
        if (!text) {
            s->err = -1;
            return;
        }
        s->text = text;
        size_t tn = 0;
        for (size_t k = start; k < start + wl; k++) {
            char u[4];
            size_t un = hk_utf8_encode(cps[k], u);
            for (size_t j = 0; j < un; j++)
                tn += hk_utf8_encode(hk_gpt2_byte_cp((unsigned char)u[j]), text + tn);
        }
        start += wl;
        if (tn)
            bpe_word(s, tn, out);
    }
}

/* ---- tokenize ---- */

int32_t hk_tokenize(const hk_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                    int32_t *ids, int32_t cap)
{
    ids_vec out = {0};
    frag_vec frags = {0};
    session s = {0};
    s.t = t;
    /* Symbol indices and counts are int32_t, and a byte can become up to
     * three (SPM's "▁") before splitting. */
    if (len > INT32_MAX / 4)
        return -1;
    if (partition(t, text, len, parse_special, &frags)) {
        free(frags.v);
        return -1;
    }
    if (t->type == VOCAB_SPM) {
        /* A text fragment gets the leading blank when it starts the input or
         * follows a special token. */
        bool prev_special = true;
        if (add_special && t->add_bos && t->bos >= 0)
            ids_push(&out, t->bos);
        for (size_t f = 0; f < frags.n && !s.err && !out.err; f++) {
            const fragment *fr = &frags.v[f];
            if (fr->id >= 0) {
                ids_push(&out, fr->id);
                prev_special = true;
            } else {
                spm_tokenize(&s, text + fr->off, fr->len, t->add_space_prefix && prev_special, &out);
                prev_special = false;
            }
        }
        if (add_special && t->add_eos && t->eos >= 0)
            ids_push(&out, t->eos);
    } else {
        if (add_special && t->add_bos && t->bos >= 0)
            ids_push(&out, t->bos);
        for (size_t f = 0; f < frags.n && !s.err && !out.err; f++) {
            const fragment *fr = &frags.v[f];
            if (fr->id >= 0)
                ids_push(&out, fr->id);
            else
                bpe_tokenize(&s, text + fr->off, fr->len, &out);
        }
        if (add_special && t->add_eos && t->eos >= 0)
            ids_push(&out, t->eos);
    }
    free(frags.v);
    free(s.text);
    free(s.sym);
    free(s.heap);
    free(s.cps);
    hk_sizes_free(&s.words);
    int32_t result = -1;
    if (!s.err && !out.err && out.n <= INT32_MAX) {
        result = (int32_t)out.n;
        size_t k = out.n < (size_t)(cap > 0 ? cap : 0) ? out.n : (size_t)(cap > 0 ? cap : 0);
        if (k)
            memcpy(ids, out.v, k * sizeof *ids);
    }
    free(out.v);
    return result;
}

/* ---- detokenize ---- */

int32_t hk_token_to_piece(const hk_tokenizer *t, int32_t id, char *buf, int32_t cap, bool special)
{
    if (id < 0 || id >= t->n_tokens)
        return -1;
    const token *k = &t->tokens[id];
    if (!special && (k->attr & (HK_TOKEN_ATTR_UNKNOWN | HK_TOKEN_ATTR_CONTROL)))
        return 0;
    if ((int64_t)k->piece_len <= (int64_t)cap && k->piece_len)
        memcpy(buf, t->pool + k->piece_off, k->piece_len);
    return (int32_t)k->piece_len;
}

/* Bytes of pending followed by piece, read as one stream. */
typedef struct joined {
    const char *a, *b;
    size_t an, n;
} joined;

static unsigned char byte_at(const joined *j, size_t i)
{
    return (unsigned char)(i < j->an ? j->a[i] : j->b[i - j->an]);
}

/* Allowed range of the byte after lead c (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static void second_range(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c == 0xE0)
        *lo = 0xA0;
    else if (c == 0xED)
        *hi = 0x9F;
    else if (c == 0xF0)
        *lo = 0x90;
    else if (c == 0xF4)
        *hi = 0x8F;
}

int hk_detok_push(hk_detok *d, const hk_tokenizer *t, int32_t id, char *out, size_t cap)
{
    if (!cap)
        return 0;
    const char *piece = "";
    size_t pn = 0;
    if (id >= 0 && id < t->n_tokens) {
        const token *k = &t->tokens[id];
        if (!(k->attr & (HK_TOKEN_ATTR_UNKNOWN | HK_TOKEN_ATTR_CONTROL))) {
            piece = t->pool + k->piece_off;
            pn = k->piece_len;
        }
    }
    char held[8];
    size_t hn = (size_t)d->n_pending;
    memcpy(held, d->pending, hn);
    d->n_pending = 0;
    joined j = {held, piece, hn, hn + pn};
    size_t room = cap - 1, o = 0, i = 0;
    while (i < j.n) {
        unsigned char c = byte_at(&j, i);
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                   : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        size_t k = 1;
        bool bad = len == 0;
        for (; !bad && k < len && i + k < j.n; k++) {
            unsigned char lo, hi, b = byte_at(&j, i + k);
            if (k == 1)
                second_range(c, &lo, &hi);
            else
                lo = 0x80, hi = 0xBF;
            if (b < lo || b > hi)
                bad = true;
        }
        if (bad) {
            /* The bytes up to the offending one stand for one U+FFFD; the
             * offending byte starts afresh. */
            if (len)
                k--;
            if (o + 3 > room)
                break;
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += k ? k : 1;
            continue;
        }
        if (k < len) {
            /* Cut off by the end of the piece: wait for the next one. */
            for (size_t q = 0; q < k; q++)
                d->pending[q] = (char)byte_at(&j, i + q);
            d->n_pending = (int)k;
            break;
        }
        if (o + len > room)
            break; /* out is full: the rest is dropped at a character boundary */
        for (size_t q = 0; q < len; q++)
            out[o + q] = (char)byte_at(&j, i + q);
        o += len;
        i += len;
    }
    out[o] = 0;
    return (int)o;
}

int hk_detok_flush(hk_detok *d, char *out, size_t cap)
{
    if (!cap)
        return 0;
    size_t o = 0;
    if (d->n_pending && cap > 3) {
        memcpy(out, "\xef\xbf\xbd", 3);
        o = 3;
    }
    d->n_pending = 0;
    out[o] = 0;
    return (int)o;
}
