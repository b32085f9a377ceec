/* Chat templates: turning a conversation into the text a model was trained on.
 *
 * hark does not run Jinja.  Like llama.cpp's built-in templates
 * (src/llama-chat.cpp: llm_chat_detect_template / llm_chat_apply_template),
 * it recognizes a model's tokenizer.chat_template by marker substrings and
 * formats with a hand-written routine per family.  Output matches llama.cpp's
 * built-in formatter byte for byte, for every family it has, including its
 * choices for roles a family lacks (Gemma and Orion fold the system prompt
 * into the first user turn; Llama 2 without <<SYS>> puts it before the first
 * user message; ...).
 *
 * Multi-turn reuse.  An engine keeps the conversation in its KV cache and
 * feeds only what is new.  Two properties make that exact:
 *
 *  1. Generation prompt is a prefix.  For every kind except HK_CHAT_YANDEX
 *     and HK_CHAT_BAILING_THINK (whose prompts end in "[SEP]" / "<think>",
 *     which formatted replies lack), hk_chat_format(msgs[0,j), true) is a
 *     prefix of hk_chat_format(msgs[0,n), ...) for any n > j where msgs[j]
 *     is the assistant's reply.  The reply's content follows it directly,
 *     or after a separator the model is expected to write itself: a space
 *     or newline (Mistral, Vicuna, OpenChat, DeepSeek 2, GLM, RWKV, SmolVLM,
 *     Grok), "<|message|>" (gpt-oss, after its channel), or a second
 *     "<｜hy_Assistant｜>" (Hunyuan dense, as llama.cpp writes it).
 *  2. hk_chat_format_delta(msgs, n, n_done, ...) returns what the full
 *     formatting has after the content of msgs[n_done-1].
 *
 * So a turn goes: feed hk_chat_format(msgs[0,m), true); generate the reply R
 * until an end-of-turn token (sampled but never decoded); append
 * {"assistant", R} and the next {"user", U}; feed
 * hk_chat_format_delta(msgs, m + 2, m + 1, true), which starts with the
 * reply's closing marker ("<|im_end|>\n<|im_start|>user\nU<|im_end|>\n
 * <|im_start|>assistant\n" for ChatML).  Families that trim the assistant's
 * content (Llama 3, Gemma, Command-R, Mistral v3, ...) would re-format R
 * without its outer whitespace; the cache keeps what the model produced, and
 * the delta is still exactly right after it. */
#ifndef HK_CHAT_H
#define HK_CHAT_H

#include <stdbool.h>
#include <stddef.h>

/* One per llama.cpp built-in template (same grouping, same names). */
typedef enum hk_chat_kind {
    HK_CHAT_CHATML,            /* "chatml": Qwen, SmolLM, OpenHermes */
    HK_CHAT_LLAMA2,            /* "llama2": [INST] without <<SYS>> (Mistral v0.1/v0.2) */
    HK_CHAT_LLAMA2_SYS,        /* "llama2-sys": with <<SYS>> */
    HK_CHAT_LLAMA2_SYS_BOS,    /* "llama2-sys-bos": <s> before each later [INST] */
    HK_CHAT_LLAMA2_SYS_STRIP,  /* "llama2-sys-strip": contents trimmed */
    HK_CHAT_MISTRAL_V1,        /* "mistral-v1" */
    HK_CHAT_MISTRAL_V3,        /* "mistral-v3" */
    HK_CHAT_MISTRAL_V3_TEKKEN, /* "mistral-v3-tekken" */
    HK_CHAT_MISTRAL_V7,        /* "mistral-v7" */
    HK_CHAT_MISTRAL_V7_TEKKEN, /* "mistral-v7-tekken" */
    HK_CHAT_PHI3,              /* "phi3" */
    HK_CHAT_PHI4,              /* "phi4" */
    HK_CHAT_FALCON3,           /* "falcon3" */
    HK_CHAT_ZEPHYR,            /* "zephyr" */
    HK_CHAT_MONARCH,           /* "monarch" */
    HK_CHAT_GEMMA,             /* "gemma": Gemma 1/2/3 */
    HK_CHAT_ORION,             /* "orion" */
    HK_CHAT_OPENCHAT,          /* "openchat" */
    HK_CHAT_VICUNA,            /* "vicuna" */
    HK_CHAT_VICUNA_ORCA,       /* "vicuna-orca" */
    HK_CHAT_DEEPSEEK,          /* "deepseek" (coder) */
    HK_CHAT_DEEPSEEK2,         /* "deepseek2" */
    HK_CHAT_DEEPSEEK3,         /* "deepseek3" */
    HK_CHAT_COMMAND_R,         /* "command-r" */
    HK_CHAT_LLAMA3,            /* "llama3": Llama 3.x */
    HK_CHAT_CHATGLM3,          /* "chatglm3" */
    HK_CHAT_CHATGLM4,          /* "chatglm4" */
    HK_CHAT_GLMEDGE,           /* "glmedge" */
    HK_CHAT_MINICPM,           /* "minicpm" */
    HK_CHAT_EXAONE3,           /* "exaone3" */
    HK_CHAT_EXAONE4,           /* "exaone4" */
    HK_CHAT_RWKV_WORLD,        /* "rwkv-world" */
    HK_CHAT_GRANITE,           /* "granite" */
    HK_CHAT_GIGACHAT,          /* "gigachat" */
    HK_CHAT_MEGREZ,            /* "megrez" */
    HK_CHAT_YANDEX,            /* "yandex" */
    HK_CHAT_BAILING,           /* "bailing" */
    HK_CHAT_BAILING_THINK,     /* "bailing-think" */
    HK_CHAT_BAILING2,          /* "bailing2" */
    HK_CHAT_LLAMA4,            /* "llama4" */
    HK_CHAT_SMOLVLM,           /* "smolvlm" */
    HK_CHAT_DOTS1,             /* "dots1" (llama.cpp detects it but has no name for it) */
    HK_CHAT_HUNYUAN_MOE,       /* "hunyuan-moe" */
    HK_CHAT_GPT_OSS,           /* "gpt-oss" */
    HK_CHAT_HUNYUAN_DENSE,     /* "hunyuan-dense" */
    HK_CHAT_KIMI_K2,           /* "kimi-k2" */
    HK_CHAT_SEED_OSS,          /* "seed_oss" */
    HK_CHAT_GROK2,             /* "grok-2" */
    HK_CHAT_PANGU_EMBED,       /* "pangu-embedded" */
    HK_CHAT_COUNT
} hk_chat_kind;

typedef struct hk_chat_msg {
    const char *role;    /* "system" | "user" | "assistant" (others pass through as each family does) */
    const char *content; /* UTF-8, NUL-terminated */
} hk_chat_msg;

/* Recognize a tokenizer.chat_template (tmpl[0,len), need not be
 * NUL-terminated) by its markers, in llama.cpp's order of tests; a template
 * that is exactly one of the names (hk_chat_name) selects that kind, so
 * "chatml" works as a user override.  NULL or empty or unrecognized: false,
 * and *out is left alone. */
bool hk_chat_detect(const char *tmpl, size_t len, hk_chat_kind *out);

/* llama.cpp's name for a kind ("chatml", "llama3", ...); "unknown" if out of range. */
const char *hk_chat_name(hk_chat_kind k);

/* The kind named name (exactly as hk_chat_name spells it), for a user's
 * --chat-template choice; false if there is none (or name is NULL). */
bool hk_chat_from_name(const char *name, hk_chat_kind *out);

/* Format msgs[0,n).  add_assistant_prefix: end with the opening of the
 * assistant's turn (families whose user turn already ends with it, like
 * Llama 2 or Mistral, add nothing).  Writes at most cap bytes including the
 * NUL (out may be NULL when cap is 0); returns the full length the text
 * needs, without the NUL, as snprintf does, or -1 for a bad kind, a NULL
 * message field, or a length over INT_MAX. */
int hk_chat_format(hk_chat_kind k, const hk_chat_msg *msgs, size_t n, bool add_assistant_prefix,
                   char *out, size_t cap);

/* The part of hk_chat_format(k, msgs, n, add_assistant_prefix) that follows
 * the content of msgs[n_done - 1] (all of it when n_done is 0); see the
 * multi-turn notes at the top.  Same return convention, and -1 also when
 * n_done > n or msgs[n_done - 1]'s content never appears in the text (a
 * Gemma or Orion system prompt that no user turn has picked up yet). */
int hk_chat_format_delta(hk_chat_kind k, const hk_chat_msg *msgs, size_t n, size_t n_done,
                         bool add_assistant_prefix, char *out, size_t cap);

/* NULL-terminated list of the texts that end the assistant's turn for this
 * family ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>"...),
 * so the engine can stop on them when they arrive as text rather than as an
 * end-of-generation token.  An empty list for a bad kind. */
const char *const *hk_chat_stop_strings(hk_chat_kind k);

#endif
