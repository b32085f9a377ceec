/* Code point classes and UTF-8 handling as llama.cpp's tokenizers see them.
 *
 * The classes are the general categories folded the way llama.cpp folds them
 * (src/unicode.cpp): \p{L}, \p{N}, \p{P}, ... plus its fixed White_Space set.
 * UTF-8 decoding follows unicode_cpts_from_utf8: a byte that does not start a
 * well-formed sequence becomes U+FFFD and decoding resumes at the next byte. */
#ifndef HK_UNICODE_H
#define HK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* One class bit per code point (values as llama.cpp's codepoint flags). */
enum {
    HK_UCAT_UNDEFINED = 0x01, /* Cn: unassigned */
    HK_UCAT_NUMBER = 0x02,    /* Nd Nl No */
    HK_UCAT_LETTER = 0x04,    /* Lu Ll Lt Lm Lo */
    HK_UCAT_SEPARATOR = 0x08, /* Zs Zl Zp */
    HK_UCAT_MARK = 0x10,      /* Mn Mc Me */
    HK_UCAT_PUNCT = 0x20,     /* Pc Pd Ps Pe Pi Pf Po */
    HK_UCAT_SYMBOL = 0x40,    /* Sm Sc Sk So */
    HK_UCAT_CONTROL = 0x80,   /* Cc Cf Co Cs */
};
#define HK_UFLAG_WHITESPACE 0x100 /* added to the class by hk_ucp_flags */

#define HK_UCP_MAX 0x110000u
#define HK_UCP_REPLACEMENT 0xFFFDu

/* Generated tables (engine/unicode_data.c). */
extern const uint16_t hk_ucd_stage1[HK_UCP_MAX >> 8];
extern const uint8_t hk_ucd_blocks[][256];

/* Class bit of cp; HK_UCAT_UNDEFINED beyond U+10FFFF. */
static inline unsigned hk_ucp_class(uint32_t cp)
{
    if (cp >= HK_UCP_MAX)
        return HK_UCAT_UNDEFINED;
    return hk_ucd_blocks[hk_ucd_stage1[cp >> 8]][cp & 255];
}

/* llama.cpp's White_Space list: \t..\r, space, U+0085, U+00A0, U+1680,
 * U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
int hk_ucp_is_space(uint32_t cp);

/* Class bit plus HK_UFLAG_WHITESPACE. */
static inline unsigned hk_ucp_flags(uint32_t cp)
{
    return hk_ucp_class(cp) | (hk_ucp_is_space(cp) ? HK_UFLAG_WHITESPACE : 0);
}

/* Bytes of the UTF-8 sequence a lead byte announces, from its high nibble
 * only (continuation bytes count as 1), as unicode_len_utf8 does. */
static inline size_t hk_utf8_len(unsigned char lead)
{
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

/* Decode the code point at s[0..n) (n >= 1); *adv gets the bytes used.
 * Malformed or truncated input gives U+FFFD with *adv = 1. */
uint32_t hk_utf8_decode(const char *s, size_t n, size_t *adv);

/* Encode cp into out (4 bytes of room); returns the byte count.  Values past
 * U+10FFFF (reachable from 4-byte sequences with a lead byte over F4)
 * encode as U+FFFD. */
size_t hk_utf8_encode(uint32_t cp, char *out);

/* Length of the longest prefix of s[0..n) that is well-formed UTF-8 and does
 * not end inside a sequence. */
size_t hk_utf8_valid_prefix(const char *s, size_t n);

/* GPT-2 byte-level alphabet: byte b is written as code point
 * hk_gpt2_byte_cp(b); hk_gpt2_cp_byte maps back (-1 for other code points). */
uint32_t hk_gpt2_byte_cp(unsigned char b);
int hk_gpt2_cp_byte(uint32_t cp);

#endif
