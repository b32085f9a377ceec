/* UTF-8 and code point classes with llama.cpp's exact conventions. */
#include "unicode.h"

int hk_ucp_is_space(uint32_t cp)
{
    if (cp <= 0x20)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85)
        return 0;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

static int is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Mirrors unicode_cpt_from_utf8: only the continuation-byte pattern is
 * checked (overlong forms and surrogates decode as they come), and a lead
 * byte of 11111xxx is malformed. */
uint32_t hk_utf8_decode(const char *str, size_t n, size_t *adv)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    *adv = 1;
    if (!(c & 0x80))
        return c;
    if (!(c & 0x40))
        return HK_UCP_REPLACEMENT;
    if (!(c & 0x20)) {
        if (n < 2 || !is_cont(s[1]))
            return HK_UCP_REPLACEMENT;
        *adv = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (n < 3 || !is_cont(s[1]) || !is_cont(s[2]))
            return HK_UCP_REPLACEMENT;
        *adv = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (n < 4 || !is_cont(s[1]) || !is_cont(s[2]) || !is_cont(s[3]))
            return HK_UCP_REPLACEMENT;
        *adv = 4;
        return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
    return HK_UCP_REPLACEMENT;
}

size_t hk_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp >= HK_UCP_MAX)
        cp = HK_UCP_REPLACEMENT;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Strict validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF):
 * this is for text shown to people, not for tokenizer compatibility. */
size_t hk_utf8_valid_prefix(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
        if (c < 0x80)
            len = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else
            return i;
        if (i + len > n)
            return i;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi))
            return i;
        for (size_t k = 2; k < len; k++)
            if (!is_cont(s[i + k]))
                return i;
        i += len;
    }
    return i;
}

/* Bytes that are printable Latin-1 keep their code point; the other 68 take
 * U+0100.. in byte order (GPT-2's bytes_to_unicode). */
static int gpt2_keeps(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t hk_gpt2_byte_cp(unsigned char b)
{
    if (gpt2_keeps(b))
        return b;
    /* Count the bytes below b that are remapped. */
    uint32_t k;
    if (b <= 0x20)
        k = b;
    else if (b == 0x7F)
        k = 33;
    else if (b <= 0xA0)
        k = 34 + (uint32_t)(b - 0x80);
    else
        k = 67; /* 0xAD */
    return 0x100 + k;
}

int hk_gpt2_cp_byte(uint32_t cp)
{
    if (cp < 0x100)
        return gpt2_keeps(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68)
        return -1;
    uint32_t k = cp - 0x100;
    if (k <= 32)
        return (int)k;
    if (k == 33)
        return 0x7F;
    if (k <= 66)
        return (int)(0x80 + (k - 34));
    return 0xAD;
}
