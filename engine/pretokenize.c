/* Pre-tokenizer word splitting, equivalent to llama.cpp's unicode_regex_split.
 *
 * llama.cpp applies a list of regexes in turn; each one re-splits every piece
 * the previous ones produced.  Two regexes (GPT-2's and Llama-3's) run through
 * hand-written functions there and are reproduced line for line in behaviour
 * below (gpt2_split, llama3_split).  Every other regex runs through std::regex
 * and its results follow ECMAScript semantics plus two llama.cpp details:
 *  - the text the regex sees: with \p{..} in the pattern, every non-ASCII code
 *    point is "collapsed" to one byte standing for letter / number /
 *    punctuation / other, so \p{L} means "ASCII letter or non-ASCII letter",
 *    \s means ASCII whitespace or non-ASCII White_Space; without \p{..}, the
 *    code points are matched as they are, except non-ASCII White_Space which
 *    becomes \v;
 *  - the split: every match is a word and so is every run of text between
 *    two matches (unmatched characters are not split further).
 * Each such regex is a "matcher": the length of the match that starts at a
 * position (0 for none); matches are searched leftmost-first as
 * std::regex_iterator does. */
#include "pretokenize.h"

#include <stdlib.h>

#include "unicode.h"

void hk_sizes_free(hk_sizes *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int sizes_push(hk_sizes *s, size_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        size_t *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = len;
    return 0;
}

/* ---- character classes as the std::regex path sees them ---- */

static bool ascii_alpha(uint32_t c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool ascii_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

/* \s: ASCII isspace, and non-ASCII White_Space (collapsed to \v). */
static bool rx_space(uint32_t c)
{
    return hk_ucp_is_space(c) != 0;
}

static bool rx_letter(uint32_t c) /* collapsed \p{L} */
{
    return c < 0x80 ? ascii_alpha(c) : hk_ucp_class(c) == HK_UCAT_LETTER;
}

static bool rx_number(uint32_t c) /* collapsed \p{N} */
{
    return c < 0x80 ? ascii_digit(c) : hk_ucp_class(c) == HK_UCAT_NUMBER;
}

/* collapsed \p{P}: llama.cpp lists the ASCII punctuation explicitly:
 * !"#%&'()*,-./:;?@[\]_{} */
static bool rx_punct(uint32_t c)
{
    if (c >= 0x80)
        return hk_ucp_class(c) == HK_UCAT_PUNCT;
    return (c >= 0x21 && c <= 0x23) || (c >= 0x25 && c <= 0x2A) || (c >= 0x2C && c <= 0x2F) ||
           c == 0x3A || c == 0x3B || c == 0x3F || c == 0x40 || (c >= 0x5B && c <= 0x5D) ||
           c == 0x5F || c == 0x7B || c == 0x7D;
}

/* The code point a pattern without \p{..} compares against. */
static uint32_t rx_plain(uint32_t c)
{
    return (c >= 0x80 && hk_ucp_is_space(c)) ? 0x0B : c;
}

typedef struct range {
    uint32_t lo, hi;
} range;

static bool in_ranges(uint32_t c, const range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return true;
    return false;
}

/* [一-龥ࠀ-一가-퟿] of the DeepSeek pre-tokenizers (CJK, then U+0800..U+4E00, Hangul). */
static bool rx_cjk(uint32_t c)
{
    c = rx_plain(c);
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) || (c >= 0xAC00 && c <= 0xD7FF);
}

/* DeepSeek-LLM's explicit list of cased letters (the expansion of \p{LC} in
 * its tokenizer.json), as code point ranges. */
static const range ds_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1},
    {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5},
    {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
    {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4},
    {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D},
    {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139},
    {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B},
    {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

static bool rx_ds_letter(uint32_t c)
{
    c = rx_plain(c);
    if (c < 0x80)
        return ascii_alpha(c);
    return in_ranges(c, ds_letters, sizeof ds_letters / sizeof ds_letters[0]);
}

/* [!-/:-~！-／：-～‘-‟　-。] */
static bool rx_ds_punct(uint32_t c)
{
    static const range r[] = {{0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
                              {0x2018, 0x201F}, {0x3000, 0x3002}};
    return in_ranges(rx_plain(c), r, sizeof r / sizeof r[0]);
}

/* [^(\s|.,!?…。，、।۔،)] of the BLOOM family. */
static bool rx_bloom_word(uint32_t c)
{
    c = rx_plain(c);
    if (rx_space(c))
        return false;
    switch (c) {
    case '(': case ')': case '|': case '.': case ',': case '!': case '?':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
        return false;
    default:
        return true;
    }
}

/* ---- matchers: length of the match at pos within [pos, end), or 0 ---- */

typedef size_t (*matcher)(const uint32_t *cps, size_t pos, size_t end);

static size_t run_of(const uint32_t *cps, size_t pos, size_t end, bool (*is)(uint32_t))
{
    size_t p = pos;
    while (p < end && is(cps[p]))
        p++;
    return p - pos;
}

/* \s?C+ : greedy optional blank, taken only when a C follows it. */
static size_t opt_space_run(const uint32_t *cps, size_t pos, size_t end, bool (*is)(uint32_t))
{
    if (is(cps[pos]))
        return run_of(cps, pos, end, is);
    if (rx_space(cps[pos]) && pos + 1 < end && is(cps[pos + 1]))
        return 1 + run_of(cps, pos + 1, end, is);
    return 0;
}

static bool is_default_punct(uint32_t c) /* [\p{P}\$\+<=>\^~\|] */
{
    return rx_punct(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
           c == '~' || c == '|';
}

static bool is_falcon_punct(uint32_t c) /* [\p{P}\$\+<=>\^~\|`] */
{
    return is_default_punct(c) || c == '`';
}

static size_t m_default_punct(const uint32_t *cps, size_t pos, size_t end)
{
    return run_of(cps, pos, end, is_default_punct);
}

static size_t m_falcon_punct(const uint32_t *cps, size_t pos, size_t end)
{
    return run_of(cps, pos, end, is_falcon_punct);
}

static size_t m_numbers(const uint32_t *cps, size_t pos, size_t end) /* \p{N}+ */
{
    return run_of(cps, pos, end, rx_number);
}

static size_t m_number(const uint32_t *cps, size_t pos, size_t end) /* \p{N} */
{
    (void)end;
    return rx_number(cps[pos]) ? 1 : 0;
}

static size_t m_three_digits(const uint32_t *cps, size_t pos, size_t end) /* [0-9][0-9][0-9] */
{
    if (end - pos >= 3 && ascii_digit(cps[pos]) && ascii_digit(cps[pos + 1]) && ascii_digit(cps[pos + 2]))
        return 3;
    return 0;
}

static size_t m_newline(const uint32_t *cps, size_t pos, size_t end) /* [\r\n] */
{
    (void)end;
    return cps[pos] == '\r' || cps[pos] == '\n';
}

static size_t m_space_letters(const uint32_t *cps, size_t pos, size_t end) /* \s?\p{L}+ */
{
    return opt_space_run(cps, pos, end, rx_letter);
}

static size_t m_space_punct(const uint32_t *cps, size_t pos, size_t end) /* \s?\p{P}+ */
{
    return opt_space_run(cps, pos, end, rx_punct);
}

static size_t m_cjk(const uint32_t *cps, size_t pos, size_t end)
{
    return run_of(cps, pos, end, rx_cjk);
}

static size_t m_ds_letters(const uint32_t *cps, size_t pos, size_t end)
{
    return opt_space_run(cps, pos, end, rx_ds_letter);
}

static size_t m_ds_punct(const uint32_t *cps, size_t pos, size_t end)
{
    return opt_space_run(cps, pos, end, rx_ds_punct);
}

static size_t m_bloom(const uint32_t *cps, size_t pos, size_t end) /*  ?[^(\s|.,!?…。，、।۔،)]+ */
{
    if (cps[pos] == ' ' && pos + 1 < end && rx_bloom_word(cps[pos + 1]))
        return 1 + run_of(cps, pos + 1, end, rx_bloom_word);
    return run_of(cps, pos, end, rx_bloom_word);
}

/* Qwen2's regex, which llama.cpp runs through std::regex (it is not the
 * Llama-3 string its fast path recognises):
 *   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])
 *   |[^\r\n\p{L}\p{N}]?\p{L}+ |\p{N}
 *   | ?[^\s\p{L}\p{N}]+[\r\n]* |\s*[\r\n]+ |\s+(?!\S) |\s+
 * Every character starts some alternative, so this never returns 0. */
static bool rx_other(uint32_t c)
{
    return !rx_space(c) && !rx_letter(c) && !rx_number(c);
}

static size_t m_qwen2(const uint32_t *cps, size_t pos, size_t end)
{
    uint32_t c = cps[pos];
    if (c == '\'' && pos + 1 < end) {
        uint32_t a = cps[pos + 1] | 0x20, b = pos + 2 < end ? (cps[pos + 2] | 0x20) : 0;
        if (cps[pos + 1] < 0x80 && (a == 's' || a == 't' || a == 'm' || a == 'd'))
            return 2;
        if (cps[pos + 1] < 0x80 && pos + 2 < end && cps[pos + 2] < 0x80 &&
            ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')))
            return 3;
    }
    if (rx_letter(c))
        return run_of(cps, pos, end, rx_letter);
    if (c != '\r' && c != '\n' && !rx_number(c) && pos + 1 < end && rx_letter(cps[pos + 1]))
        return 1 + run_of(cps, pos + 1, end, rx_letter);
    if (rx_number(c))
        return 1;
    size_t p = pos + (c == ' ' && pos + 1 < end && rx_other(cps[pos + 1]));
    if (p < end && rx_other(cps[p])) {
        p += run_of(cps, p, end, rx_other);
        while (p < end && (cps[p] == '\r' || cps[p] == '\n'))
            p++;
        return p - pos;
    }
    /* c is whitespace: the three whitespace alternatives. */
    size_t q = pos, last_nl = 0;
    while (q < end && rx_space(cps[q])) {
        if (cps[q] == '\r' || cps[q] == '\n')
            last_nl = q + 1;
        q++;
    }
    if (last_nl)
        return last_nl - pos;
    if (q == end || q - pos == 1)
        return q - pos;
    return q - pos - 1;
}

/* ---- the two llama.cpp fast paths ---- */

#define OUT_OF_RANGE 0xFFFFFFFFu

typedef struct chunk {
    const uint32_t *cps;
    size_t end;      /* one past the chunk */
    size_t prev_end; /* where the next word starts */
    hk_sizes *out;
    int err;
} chunk;

static uint32_t ch_cpt(const chunk *c, size_t pos)
{
    return pos < c->end ? c->cps[pos] : OUT_OF_RANGE;
}

/* Flags of pos; 0 (no class at all) past the chunk. */
static unsigned ch_flags(const chunk *c, size_t pos)
{
    return pos < c->end ? hk_ucp_flags(c->cps[pos]) : 0;
}

static size_t ch_add(chunk *c, size_t end)
{
    size_t len = end - c->prev_end;
    if (len > 0 && sizes_push(c->out, len))
        c->err = -1;
    c->prev_end = end;
    return len;
}

#define F_WS HK_UFLAG_WHITESPACE
#define F_L HK_UCAT_LETTER
#define F_N HK_UCAT_NUMBER

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S), the
 * way unicode_regex_split_custom_gpt2 matches it: a lone blank before a
 * non-blank, which the regex would not match, becomes a word by itself. */
static void gpt2_split(chunk *c, size_t start)
{
    for (size_t pos = start; pos < c->end;) {
        uint32_t cpt = ch_cpt(c, pos);
        unsigned flags = ch_flags(c, pos);
        if (cpt == '\'' && pos + 1 < c->end) {
            uint32_t n1 = ch_cpt(c, pos + 1);
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += ch_add(c, pos + 2);
                continue;
            }
            if (pos + 2 < c->end) {
                uint32_t n2 = ch_cpt(c, pos + 2);
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    pos += ch_add(c, pos + 3);
                    continue;
                }
            }
        }
        unsigned f2 = cpt == ' ' ? ch_flags(c, pos + 1) : flags;
        if (f2 & F_L) {
            pos += cpt == ' ';
            while (f2 & F_L)
                f2 = ch_flags(c, ++pos);
            ch_add(c, pos);
            continue;
        }
        if (f2 & F_N) {
            pos += cpt == ' ';
            while (f2 & F_N)
                f2 = ch_flags(c, ++pos);
            ch_add(c, pos);
            continue;
        }
        if (!(f2 & (F_WS | F_L | F_N)) && f2) {
            pos += cpt == ' ';
            while (!(f2 & (F_WS | F_L | F_N)) && f2)
                f2 = ch_flags(c, ++pos);
            ch_add(c, pos);
            continue;
        }
        size_t nws = 0;
        while (ch_flags(c, pos + nws) & F_WS)
            nws++;
        if (nws > 1 && ch_cpt(c, pos + nws) != OUT_OF_RANGE) {
            pos += nws - 1;
            ch_add(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            ch_add(c, pos);
            continue;
        }
        ch_add(c, ++pos);
    }
}

/* Only ASCII letters have a simple lowercase among s t r e v m l d, so
 * llama.cpp's unicode_tolower reduces to ASCII here. */
static uint32_t lower_ascii(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * as unicode_regex_split_custom_llama3 matches it. */
static void llama3_split(chunk *c, size_t start)
{
    for (size_t pos = start; pos < c->end;) {
        uint32_t cpt = ch_cpt(c, pos);
        unsigned flags = ch_flags(c, pos);
        if (cpt == '\'' && pos + 1 < c->end) {
            uint32_t n1 = lower_ascii(ch_cpt(c, pos + 1));
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += ch_add(c, pos + 2);
                continue;
            }
            if (pos + 2 < c->end) {
                uint32_t n2 = lower_ascii(ch_cpt(c, pos + 2));
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    pos += ch_add(c, pos + 3);
                    continue;
                }
            }
        }
        if (!(cpt == '\r' || cpt == '\n' || (flags & F_N))) {
            if ((flags & F_L) || (ch_flags(c, pos + 1) & F_L)) {
                pos++;
                while (ch_flags(c, pos) & F_L)
                    pos++;
                ch_add(c, pos);
                continue;
            }
        }
        if (flags & F_N) {
            size_t ini = pos;
            while (ch_flags(c, pos) & F_N) {
                if (++pos - ini >= 3) {
                    ch_add(c, pos);
                    ini = pos;
                }
            }
            ch_add(c, pos);
            continue;
        }
        unsigned f2 = cpt == ' ' ? ch_flags(c, pos + 1) : flags;
        /* llama.cpp tests the current character's flags here, not f2's. */
        if (!(f2 & (F_WS | F_L | F_N)) && flags) {
            pos += cpt == ' ';
            while (!(f2 & (F_WS | F_L | F_N)) && f2)
                f2 = ch_flags(c, ++pos);
            uint32_t c2 = ch_cpt(c, pos);
            while (c2 == '\r' || c2 == '\n')
                c2 = ch_cpt(c, ++pos);
            ch_add(c, pos);
            continue;
        }
        size_t nws = 0, last_nl = 0;
        while (ch_flags(c, pos + nws) & F_WS) {
            uint32_t c2 = ch_cpt(c, pos + nws);
            if (c2 == '\r' || c2 == '\n')
                last_nl = pos + nws + 1;
            nws++;
        }
        if (last_nl > 0) {
            pos = last_nl;
            ch_add(c, pos);
            continue;
        }
        if (nws > 1 && ch_cpt(c, pos + nws) != OUT_OF_RANGE) {
            pos += nws - 1;
            ch_add(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            ch_add(c, pos);
            continue;
        }
        ch_add(c, ++pos);
    }
}

/* ---- one regex over every current piece ---- */

typedef enum step_kind {
    STEP_GPT2,
    STEP_LLAMA3,
    STEP_TRAILING_SPACE, /* \s+$ */
    STEP_MATCHER,
} step_kind;

typedef struct step {
    step_kind kind;
    matcher match;
} step;

/* std::regex_iterator semantics: leftmost match, then continue after it;
 * matches and the gaps between them are the pieces. */
static int split_matcher(const uint32_t *cps, size_t s, size_t e, matcher match, hk_sizes *out)
{
    size_t last = s;
    for (size_t pos = s; pos < e;) {
        size_t len = match(cps, pos, e);
        if (!len) {
            pos++;
            continue;
        }
        if (pos > last && sizes_push(out, pos - last))
            return -1;
        if (sizes_push(out, len))
            return -1;
        pos += len;
        last = pos;
    }
    if (e > last && sizes_push(out, e - last))
        return -1;
    return 0;
}

/* \s+$ can only match the blanks that end the piece, and the leftmost start
 * is the first of them. */
static int split_trailing_space(const uint32_t *cps, size_t s, size_t e, hk_sizes *out)
{
    size_t t = e;
    while (t > s && rx_space(cps[t - 1]))
        t--;
    if (t > s && sizes_push(out, t - s))
        return -1;
    if (e > t && sizes_push(out, e - t))
        return -1;
    return 0;
}

static int apply_step(const step *st, const uint32_t *cps, const hk_sizes *in, hk_sizes *out)
{
    size_t s = 0;
    for (size_t i = 0; i < in->n; i++) {
        size_t e = s + in->v[i];
        int rc = 0;
        if (st->kind == STEP_GPT2 || st->kind == STEP_LLAMA3) {
            chunk c = {cps, e, s, out, 0};
            if (st->kind == STEP_GPT2)
                gpt2_split(&c, s);
            else
                llama3_split(&c, s);
            rc = c.err;
        } else if (st->kind == STEP_TRAILING_SPACE) {
            rc = split_trailing_space(cps, s, e, out);
        } else {
            rc = split_matcher(cps, s, e, st->match, out);
        }
        if (rc)
            return -1;
        s = e;
    }
    return 0;
}

#define GPT2 {STEP_GPT2, NULL}
#define LLAMA3 {STEP_LLAMA3, NULL}
#define M(f) {STEP_MATCHER, f}

static const step steps_default[] = {M(m_default_punct), GPT2, M(m_numbers), M(m_three_digits)};
static const step steps_gpt2[] = {GPT2};
static const step steps_llama3[] = {LLAMA3};
static const step steps_qwen2[] = {M(m_qwen2)};
static const step steps_deepseek_llm[] = {M(m_newline), M(m_ds_letters), M(m_ds_punct),
                                          {STEP_TRAILING_SPACE, NULL}, M(m_cjk), M(m_numbers)};
static const step steps_deepseek_coder[] = {M(m_newline), M(m_space_letters), M(m_space_punct), M(m_cjk),
                                            M(m_number)};
static const step steps_falcon[] = {M(m_falcon_punct), GPT2, M(m_three_digits)};
static const step steps_starcoder[] = {M(m_number), GPT2};
static const step steps_bloom[] = {M(m_bloom)};
static const step steps_viking[] = {M(m_bloom), M(m_number)};

#define N_STEPS(a) (sizeof a / sizeof a[0])

int hk_pretokenize(hk_pretok kind, const uint32_t *cps, size_t n, hk_sizes *words)
{
    const step *steps;
    size_t n_steps;
    switch (kind) {
    case HK_PRE_GPT2: steps = steps_gpt2; n_steps = 1; break;
    case HK_PRE_LLAMA3: steps = steps_llama3; n_steps = 1; break;
    case HK_PRE_QWEN2: steps = steps_qwen2; n_steps = 1; break;
    case HK_PRE_DEEPSEEK_LLM: steps = steps_deepseek_llm; n_steps = N_STEPS(steps_deepseek_llm); break;
    case HK_PRE_DEEPSEEK_CODER: steps = steps_deepseek_coder; n_steps = N_STEPS(steps_deepseek_coder); break;
    case HK_PRE_FALCON: steps = steps_falcon; n_steps = N_STEPS(steps_falcon); break;
    case HK_PRE_STARCODER: steps = steps_starcoder; n_steps = N_STEPS(steps_starcoder); break;
    case HK_PRE_BLOOM: steps = steps_bloom; n_steps = 1; break;
    case HK_PRE_VIKING: steps = steps_viking; n_steps = N_STEPS(steps_viking); break;
    case HK_PRE_DEFAULT:
    default: steps = steps_default; n_steps = N_STEPS(steps_default); break;
    }
    hk_sizes cur = {0}, next = {0};
    words->n = 0;
    if (n == 0)
        return 0;
    if (sizes_push(&cur, n))
        return -1;
    for (size_t i = 0; i < n_steps; i++) {
        next.n = 0;
        if (apply_step(&steps[i], cps, &cur, &next)) {
            hk_sizes_free(&cur);
            hk_sizes_free(&next);
            return -1;
        }
        hk_sizes t = cur;
        cur = next;
        next = t;
    }
    hk_sizes_free(&next);
    hk_sizes_free(words);
    *words = cur;
    return 0;
}
