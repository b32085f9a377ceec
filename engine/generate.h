/* Text in, text out: a session plus its tokenizer, sampler, token history and
 * chat turns.  This is what the CLI and the assistant service drive. */
#ifndef HK_GENERATE_H
#define HK_GENERATE_H

#include "chat.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

typedef struct hk_generator hk_generator;

/* Called with each complete UTF-8 piece of generated text; return false to stop. */
typedef bool (*hk_piece_fn)(const char *piece, void *user);

typedef struct hk_generator_params {
    hk_session_params session;
    hk_sampling sampling;
    const char *system_prompt;    /* NULL: none */
    const char *chat_template;    /* NULL: detect from the file; else a kind name ("chatml", "llama3"...) */
} hk_generator_params;

hk_generator_params hk_generator_default_params(void);
hk_generator *hk_generator_new(hk_model *m, const hk_generator_params *p, hk_error *err);
void hk_generator_free(hk_generator *g);

/* Evaluate prompt text.  BOS is added when the session is empty and the
 * vocabulary asks for it; special-token text is parsed when parse_special. */
int hk_gen_add_text(hk_generator *g, const char *text, bool parse_special, hk_error *err);
/* Evaluate token ids as they are. */
int hk_gen_add_tokens(hk_generator *g, const int32_t *ids, int32_t n, hk_error *err);
/* The tokens the KV cache holds, in order (*n of them); valid until the next call. */
const int32_t *hk_gen_history(const hk_generator *g, int32_t *n);
/* Evaluate BOS alone (a prompt-less start). */
int hk_gen_add_bos(hk_generator *g, hk_error *err);
/* Sample up to n_predict tokens (< 0: until end of generation or a full
 * context), streaming text to on_piece.  Stops at end-of-generation tokens
 * unless ignore_eos.  Returns the number of tokens generated or -1. */
int hk_gen_generate(hk_generator *g, int32_t n_predict, bool ignore_eos, hk_piece_fn on_piece, void *user,
                    hk_error *err);
/* One chat turn: formats the conversation with the model's template, feeds
 * only what the KV cache has not seen, generates the reply (streamed) and
 * records it.  Returns tokens generated or -1. */
int hk_gen_chat(hk_generator *g, const char *user_text, int32_t n_predict, hk_piece_fn on_piece, void *user,
                hk_error *err);
hk_chat_kind hk_gen_chat_kind(const hk_generator *g);
/* Tokens evaluated so far (the KV cache's contents). */
int32_t hk_gen_n_past(const hk_generator *g);
/* Count of tokens of the last chat turn's prompt that were evaluated (tests
 * use it to check that earlier turns are not evaluated again). */
int32_t hk_gen_last_prompt_tokens(const hk_generator *g);

#endif
