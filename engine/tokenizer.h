/* Tokenizers read from GGUF metadata, matching llama.cpp (c392e50, Feb 2025):
 *   tokenizer.ggml.model "llama": SentencePiece-style BPE over scores with
 *                                 byte fallback (llm_tokenizer_spm);
 *   tokenizer.ggml.model "gpt2":  byte-level BPE over merge ranks with the
 *                                 pre-tokenizer tokenizer.ggml.pre names.
 * Special-token parsing, BOS/EOS rules, token attributes (lstrip/rstrip) and
 * detokenization follow llama_tokenize / llama_token_to_piece.
 *
 * A loaded tokenizer owns copies of everything it needs (the GGUF may be
 * closed afterwards) and is read-only: threads may share it. */
#ifndef HK_TOKENIZER_H
#define HK_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "error.h"

typedef struct hk_tokenizer hk_tokenizer;

/* Token attributes, as llama.cpp's llama_token_attr bits. */
enum {
    HK_TOKEN_ATTR_UNKNOWN = 1 << 0,
    HK_TOKEN_ATTR_UNUSED = 1 << 1,
    HK_TOKEN_ATTR_NORMAL = 1 << 2,
    HK_TOKEN_ATTR_CONTROL = 1 << 3,
    HK_TOKEN_ATTR_USER_DEFINED = 1 << 4,
    HK_TOKEN_ATTR_BYTE = 1 << 5,
    HK_TOKEN_ATTR_LSTRIP = 1 << 7,
    HK_TOKEN_ATTR_RSTRIP = 1 << 8,
};

/* Works on vocab-only files.  On error returns NULL and err names g->path:
 * "m.gguf: unknown pre-tokenizer 'x'". */
hk_tokenizer *hk_tokenizer_load(const hk_gguf *g, hk_error *err);
void hk_tokenizer_free(hk_tokenizer *t);

int32_t hk_tokenizer_n_vocab(const hk_tokenizer *t);
/* Special ids; -1 when the vocabulary has none. */
int32_t hk_tokenizer_bos(const hk_tokenizer *t);
int32_t hk_tokenizer_eos(const hk_tokenizer *t);
int32_t hk_tokenizer_eot(const hk_tokenizer *t);
int32_t hk_tokenizer_unk(const hk_tokenizer *t);
/* Whether tokenizing with add_special prepends BOS / appends EOS. */
bool hk_tokenizer_add_bos(const hk_tokenizer *t);
bool hk_tokenizer_add_eos(const hk_tokenizer *t);
/* SentencePiece vocabularies whose text gets a leading blank ("▁"). */
bool hk_tokenizer_add_space_prefix(const hk_tokenizer *t);
/* End of generation: eos, eot, eom and the tokens llama.cpp recognises by
 * text (<|im_end|>, <|eot_id|>, <end_of_turn>, <|end|>, <|endoftext|>, ...). */
bool hk_tokenizer_is_eog(const hk_tokenizer *t, int32_t id);
/* Id of the token whose text is exactly text (NUL-terminated), or -1. */
int32_t hk_tokenizer_find(const hk_tokenizer *t, const char *text);
/* The token's text as stored in the vocabulary (not NUL-terminated; *len
 * gets its length); NULL for an id out of range. */
const char *hk_tokenizer_text(const hk_tokenizer *t, int32_t id, size_t *len);
/* HK_TOKEN_ATTR_* bits of id; 0 for an id out of range. */
uint32_t hk_tokenizer_attr(const hk_tokenizer *t, int32_t id);
/* Bytes of the longest piece hk_token_to_piece can return (size buffers). */
int32_t hk_tokenizer_max_piece(const hk_tokenizer *t);

/* Tokenize text[0,len) (any bytes; need not be NUL-terminated).
 * add_special: BOS/EOS as the vocabulary asks; parse_special: text equal to a
 * CONTROL token becomes that token (USER_DEFINED tokens always do).
 * Returns the number of ids; if > cap, only the first cap are written and the
 * caller may retry with a bigger buffer.  -1 on error (out of memory). */
int32_t hk_tokenize(const hk_tokenizer *t, const char *text, size_t len, bool add_special, bool parse_special,
                    int32_t *ids, int32_t cap);

/* Bytes of the piece of id, as llama_token_to_piece(lstrip = 0, special):
 * "▁" becomes a blank (SPM), byte tokens give their byte, byte-level BPE text
 * is decoded; with special = false, CONTROL and UNKNOWN tokens give "".
 * Writes nothing (no NUL either) when the piece is longer than cap; returns
 * its length anyway so the caller can retry.  -1 for an id out of range. */
int32_t hk_token_to_piece(const hk_tokenizer *t, int32_t id, char *buf, int32_t cap, bool special);

/* Streaming detokenizer: pieces of successive tokens go in, text comes out
 * in whole UTF-8 characters only.  An incomplete sequence at the end of a
 * piece waits for the next one; bytes that cannot be UTF-8 come out as
 * U+FFFD, so the output is always valid UTF-8.  Zero-initialize to start. */
typedef struct hk_detok {
    char pending[8]; /* start of a character whose other bytes have not come */
    int n_pending;
} hk_detok;

/* Appends the piece of id (special = false) and writes the text that is now
 * complete to out, NUL-terminated; returns its length.  out needs room for
 * hk_tokenizer_max_piece(t) + 8 bytes; text that does not fit is dropped at
 * a character boundary. */
int hk_detok_push(hk_detok *d, const hk_tokenizer *t, int32_t id, char *out, size_t cap);
/* Ends the stream: an unfinished character becomes U+FFFD.  Returns the
 * bytes written to out (NUL-terminated; cap >= 4 is enough). */
int hk_detok_flush(hk_detok *d, char *out, size_t cap);

#endif
