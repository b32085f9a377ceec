/* Byte-level BPE pre-tokenizers: the word splits llama.cpp makes with the
 * regexes tokenizer.ggml.pre selects (llm_tokenizer_bpe), written as
 * hand-made matchers that give the same words as unicode_regex_split,
 * including its hand-written fast paths for the GPT-2 and Llama-3 regexes
 * (which differ from the regexes in corner cases). */
#ifndef HK_PRETOKENIZE_H
#define HK_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hk_pretok {
    HK_PRE_DEFAULT,        /* missing/"default": punctuation runs, GPT-2, digit runs, 3 digits */
    HK_PRE_GPT2,           /* gpt-2, mpt, olmo, jais, phi-2, roberta-bpe, jina... */
    HK_PRE_LLAMA3,         /* llama3, llama-bpe, dbrx, smaug-bpe, chatglm-bpe, falcon3 */
    HK_PRE_QWEN2,          /* qwen2, stablelm2, megrez: Llama-3 regex with single digits */
    HK_PRE_DEEPSEEK_LLM,
    HK_PRE_DEEPSEEK_CODER,
    HK_PRE_FALCON,
    HK_PRE_STARCODER,      /* starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b */
    HK_PRE_BLOOM,          /* bloom, poro-chat, gpt3-finnish */
    HK_PRE_VIKING,
} hk_pretok;

/* A growable list of word lengths, in code points. */
typedef struct hk_sizes {
    size_t *v;
    size_t n, cap;
} hk_sizes;

void hk_sizes_free(hk_sizes *s);

/* Split cps[0,n) into words: on success *words holds their lengths, which
 * add up to n, and 0 is returned; -1 when memory runs out. */
int hk_pretokenize(hk_pretok kind, const uint32_t *cps, size_t n, hk_sizes *words);

#endif
