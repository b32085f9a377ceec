/* Chat templates; see chat.h.  Each family below is written from llama.cpp's
 * llm_chat_apply_template (src/llama-chat.cpp); where a family's rule looks
 * odd (Orion's "Assistant: </s>", Gemma folding the system prompt into the
 * user turn), it is odd there too, and matching it is the point. */
#include "chat.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------ */

static const char *const kind_names[HK_CHAT_COUNT] = {
    [HK_CHAT_CHATML] = "chatml",
    [HK_CHAT_LLAMA2] = "llama2",
    [HK_CHAT_LLAMA2_SYS] = "llama2-sys",
    [HK_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [HK_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [HK_CHAT_MISTRAL_V1] = "mistral-v1",
    [HK_CHAT_MISTRAL_V3] = "mistral-v3",
    [HK_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [HK_CHAT_MISTRAL_V7] = "mistral-v7",
    [HK_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
    [HK_CHAT_PHI3] = "phi3",
    [HK_CHAT_PHI4] = "phi4",
    [HK_CHAT_FALCON3] = "falcon3",
    [HK_CHAT_ZEPHYR] = "zephyr",
    [HK_CHAT_MONARCH] = "monarch",
    [HK_CHAT_GEMMA] = "gemma",
    [HK_CHAT_ORION] = "orion",
    [HK_CHAT_OPENCHAT] = "openchat",
    [HK_CHAT_VICUNA] = "vicuna",
    [HK_CHAT_VICUNA_ORCA] = "vicuna-orca",
    [HK_CHAT_DEEPSEEK] = "deepseek",
    [HK_CHAT_DEEPSEEK2] = "deepseek2",
    [HK_CHAT_DEEPSEEK3] = "deepseek3",
    [HK_CHAT_COMMAND_R] = "command-r",
    [HK_CHAT_LLAMA3] = "llama3",
    [HK_CHAT_CHATGLM3] = "chatglm3",
    [HK_CHAT_CHATGLM4] = "chatglm4",
    [HK_CHAT_GLMEDGE] = "glmedge",
    [HK_CHAT_MINICPM] = "minicpm",
    [HK_CHAT_EXAONE3] = "exaone3",
    [HK_CHAT_EXAONE4] = "exaone4",
    [HK_CHAT_RWKV_WORLD] = "rwkv-world",
    [HK_CHAT_GRANITE] = "granite",
    [HK_CHAT_GIGACHAT] = "gigachat",
    [HK_CHAT_MEGREZ] = "megrez",
    [HK_CHAT_YANDEX] = "yandex",
    [HK_CHAT_BAILING] = "bailing",
    [HK_CHAT_BAILING_THINK] = "bailing-think",
    [HK_CHAT_BAILING2] = "bailing2",
    [HK_CHAT_LLAMA4] = "llama4",
    [HK_CHAT_SMOLVLM] = "smolvlm",
    [HK_CHAT_DOTS1] = "dots1",
    [HK_CHAT_HUNYUAN_MOE] = "hunyuan-moe",
    [HK_CHAT_GPT_OSS] = "gpt-oss",
    [HK_CHAT_HUNYUAN_DENSE] = "hunyuan-dense",
    [HK_CHAT_KIMI_K2] = "kimi-k2",
    [HK_CHAT_SEED_OSS] = "seed_oss",
    [HK_CHAT_GROK2] = "grok-2",
    [HK_CHAT_PANGU_EMBED] = "pangu-embedded",
};

const char *hk_chat_name(hk_chat_kind k)
{
    return (unsigned)k < HK_CHAT_COUNT ? kind_names[k] : "unknown";
}

bool hk_chat_from_name(const char *name, hk_chat_kind *out)
{
    if (!name)
        return false;
    for (int i = 0; i < HK_CHAT_COUNT; i++) {
        if (strcmp(kind_names[i], name) == 0) {
            if (out)
                *out = (hk_chat_kind)i;
            return true;
        }
    }
    return false;
}

/* ---- detection -------------------------------------------------------------- */

typedef struct tmpl_text {
    const char *s;
    size_t len;
} tmpl_text;

static bool has(tmpl_text t, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= t.len; i++)
        if (t.s[i] == needle[0] && memcmp(t.s + i, needle, n) == 0)
            return true;
    return false;
}

/* The chain of tests is llama.cpp's, in its order: earlier tests shadow later
 * ones (a Phi-3 template also contains "<|user|>"), so the order is part of
 * the behaviour. */
static bool detect_markers(tmpl_text t, hk_chat_kind *k)
{
    if (has(t, "<|im_start|>")) {
        /* SmolVLM uses <|im_start|> as its BOS but is not ChatML */
        *k = has(t, "<|im_sep|>")           ? HK_CHAT_PHI4
             : has(t, "<end_of_utterance>") ? HK_CHAT_SMOLVLM
                                            : HK_CHAT_CHATML;
    } else if ((t.len >= 7 && memcmp(t.s, "mistral", 7) == 0) || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) {
            *k = HK_CHAT_MISTRAL_V7;
        } else if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            /* Mistral's official v1, v3 and v3-tekken templates */
            if (has(t, " [INST]"))
                *k = HK_CHAT_MISTRAL_V1;
            else if (has(t, "\"[INST]\""))
                *k = HK_CHAT_MISTRAL_V3_TEKKEN;
            else
                *k = HK_CHAT_MISTRAL_V3;
        } else if (has(t, "content.strip()")) {
            *k = HK_CHAT_LLAMA2_SYS_STRIP;
        } else if (has(t, "bos_token + '[INST]")) {
            *k = HK_CHAT_LLAMA2_SYS_BOS;
        } else if (has(t, "<<SYS>>")) {
            *k = HK_CHAT_LLAMA2_SYS;
        } else {
            *k = HK_CHAT_LLAMA2;
        }
    } else if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
        *k = HK_CHAT_PHI3;
    } else if (has(t, "[gMASK]<sop>")) {
        *k = HK_CHAT_CHATGLM4;
    } else if (has(t, "<|assistant|>") && has(t, "<|user|>")) {
        *k = has(t, "</s>") ? HK_CHAT_FALCON3 : HK_CHAT_GLMEDGE;
    } else if (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>")) {
        *k = HK_CHAT_GLMEDGE;
    } else if (has(t, "<|user|>") && has(t, "<|endoftext|>")) {
        *k = HK_CHAT_ZEPHYR;
    } else if (has(t, "bos_token + message['role']")) {
        *k = HK_CHAT_MONARCH;
    } else if (has(t, "<start_of_turn>")) {
        *k = HK_CHAT_GEMMA;
    } else if (has(t, "'\\n\\nAssistant: ' + eos_token")) {
        *k = HK_CHAT_ORION;
    } else if (has(t, "GPT4 Correct ")) {
        *k = HK_CHAT_OPENCHAT;
    } else if (has(t, "USER: ") && has(t, "ASSISTANT: ")) {
        *k = has(t, "SYSTEM: ") ? HK_CHAT_VICUNA_ORCA : HK_CHAT_VICUNA;
    } else if (has(t, "### Instruction:") && has(t, "<|EOT|>")) {
        *k = HK_CHAT_DEEPSEEK;
    } else if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")) {
        *k = HK_CHAT_COMMAND_R;
    } else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) {
        *k = HK_CHAT_LLAMA3;
    } else if (has(t, "[gMASK]sop")) {
        *k = HK_CHAT_CHATGLM3;
    } else if (has(t, "<用户>")) {
        *k = HK_CHAT_MINICPM;
    } else if (has(t, "'Assistant: ' + message['content'] + eos_token")) {
        *k = HK_CHAT_DEEPSEEK2;
    } else if (has(t, "<｜Assistant｜>") && has(t, "<｜User｜>") && has(t, "<｜end▁of▁sentence｜>")) {
        *k = HK_CHAT_DEEPSEEK3;
    } else if (has(t, "[|system|]") && has(t, "[|assistant|]") && has(t, "[|endofturn|]")) {
        *k = has(t, "[|tool|]") ? HK_CHAT_EXAONE4 : HK_CHAT_EXAONE3;
    } else if (has(t, "rwkv-world") || has(t, "{{- 'User: ' + message['content']|trim + '\\n\\n' -}}")) {
        *k = HK_CHAT_RWKV_WORLD;
    } else if (has(t, "<|start_of_role|>")) {
        *k = HK_CHAT_GRANITE;
    } else if (has(t, "message['role'] + additional_special_tokens[0] + message['content'] + "
                      "additional_special_tokens[1]")) {
        *k = HK_CHAT_GIGACHAT;
    } else if (has(t, "<|role_start|>")) {
        *k = HK_CHAT_MEGREZ;
    } else if (has(t, " Ассистент:")) {
        *k = HK_CHAT_YANDEX;
    } else if (has(t, "<role>ASSISTANT</role>") && has(t, "'HUMAN'")) {
        *k = HK_CHAT_BAILING;
    } else if (has(t, "<role>ASSISTANT</role>") && has(t, "\"HUMAN\"") && has(t, "<think>")) {
        *k = HK_CHAT_BAILING_THINK;
    } else if (has(t, "<role>ASSISTANT</role>") && has(t, "<role>HUMAN</role>") &&
               has(t, "<|role_end|>")) {
        *k = HK_CHAT_BAILING2;
    } else if (has(t, "<|header_start|>") && has(t, "<|header_end|>")) {
        *k = HK_CHAT_LLAMA4;
    } else if (has(t, "<|endofuserprompt|>")) {
        *k = HK_CHAT_DOTS1;
    } else if (has(t, "<|extra_0|>") && has(t, "<|extra_4|>")) {
        *k = HK_CHAT_HUNYUAN_MOE;
    } else if (has(t, "<|start|>") && has(t, "<|channel|>")) {
        *k = HK_CHAT_GPT_OSS;
    } else if (has(t, "<｜hy_Assistant｜>") && has(t, "<｜hy_place▁holder▁no▁3｜>")) {
        *k = HK_CHAT_HUNYUAN_DENSE;
    } else if (has(t, "<|im_assistant|>assistant<|im_middle|>")) {
        *k = HK_CHAT_KIMI_K2;
    } else if (has(t, "<seed:bos>")) {
        *k = HK_CHAT_SEED_OSS;
    } else if (has(t, "'Assistant: '  + message['content'] + '<|separator|>")) {
        *k = HK_CHAT_GROK2;
    } else if (has(t, "[unused9]系统：[unused10]")) {
        *k = HK_CHAT_PANGU_EMBED;
    } else {
        return false;
    }
    return true;
}

bool hk_chat_detect(const char *tmpl, size_t len, hk_chat_kind *out)
{
    if (!tmpl || len == 0)
        return false;
    hk_chat_kind k;
    for (int i = 0; i < HK_CHAT_COUNT; i++) {
        if (strlen(kind_names[i]) == len && memcmp(kind_names[i], tmpl, len) == 0) {
            if (out)
                *out = (hk_chat_kind)i;
            return true;
        }
    }
    /* Not a name: recognize it by its markers. */
    if (!detect_markers((tmpl_text){tmpl, len}, &k))
        return false;
    if (out)
        *out = k;
    return true;
}

/* ---- stop strings ----------------------------------------------------------- */

const char *const *hk_chat_stop_strings(hk_chat_kind k)
{
    static const char *const none[] = {NULL};
    static const char *const im_end[] = {"<|im_end|>", NULL};
    static const char *const eos[] = {"</s>", NULL};
    static const char *const stops[HK_CHAT_COUNT][4] = {
        [HK_CHAT_LLAMA2] = {"</s>"},
        [HK_CHAT_LLAMA2_SYS] = {"</s>"},
        [HK_CHAT_LLAMA2_SYS_BOS] = {"</s>"},
        [HK_CHAT_LLAMA2_SYS_STRIP] = {"</s>"},
        [HK_CHAT_MISTRAL_V1] = {"</s>"},
        [HK_CHAT_MISTRAL_V3] = {"</s>"},
        [HK_CHAT_MISTRAL_V3_TEKKEN] = {"</s>"},
        [HK_CHAT_MISTRAL_V7] = {"</s>"},
        [HK_CHAT_MISTRAL_V7_TEKKEN] = {"</s>"},
        [HK_CHAT_PHI3] = {"<|end|>", "<|endoftext|>"},
        [HK_CHAT_FALCON3] = {"<|endoftext|>", "<|user|>"},
        [HK_CHAT_ZEPHYR] = {"<|endoftext|>", "</s>"},
        [HK_CHAT_MONARCH] = {"</s>"},
        [HK_CHAT_GEMMA] = {"<end_of_turn>", "<eos>"},
        [HK_CHAT_ORION] = {"</s>"},
        [HK_CHAT_OPENCHAT] = {"<|end_of_turn|>"},
        [HK_CHAT_VICUNA] = {"</s>"},
        [HK_CHAT_VICUNA_ORCA] = {"</s>"},
        [HK_CHAT_DEEPSEEK] = {"<|EOT|>"},
        [HK_CHAT_DEEPSEEK2] = {"<｜end▁of▁sentence｜>"},
        [HK_CHAT_DEEPSEEK3] = {"<｜end▁of▁sentence｜>"},
        [HK_CHAT_COMMAND_R] = {"<|END_OF_TURN_TOKEN|>"},
        [HK_CHAT_LLAMA3] = {"<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"},
        /* GLM ends a turn by opening the next one */
        [HK_CHAT_CHATGLM3] = {"<|user|>", "<|observation|>"},
        [HK_CHAT_CHATGLM4] = {"<|user|>", "<|observation|>", "<|endoftext|>"},
        [HK_CHAT_GLMEDGE] = {"<|user|>", "<|observation|>", "<|endoftext|>"},
        [HK_CHAT_MINICPM] = {"<用户>", "</s>"},
        [HK_CHAT_EXAONE3] = {"[|endofturn|]"},
        [HK_CHAT_EXAONE4] = {"[|endofturn|]"},
        /* RWKV World and YandexGPT are trained to end a turn with a blank line */
        [HK_CHAT_RWKV_WORLD] = {"\n\n"},
        [HK_CHAT_GRANITE] = {"<|end_of_text|>"},
        [HK_CHAT_GIGACHAT] = {"<|message_sep|>"},
        [HK_CHAT_MEGREZ] = {"<|turn_end|>"},
        [HK_CHAT_YANDEX] = {"\n\n", "</s>"},
        [HK_CHAT_BAILING] = {"<|endoftext|>", "<role>"},
        [HK_CHAT_BAILING_THINK] = {"<|endoftext|>", "<role>"},
        [HK_CHAT_BAILING2] = {"<|role_end|>"},
        [HK_CHAT_LLAMA4] = {"<|eot|>"},
        [HK_CHAT_SMOLVLM] = {"<end_of_utterance>"},
        [HK_CHAT_DOTS1] = {"<|endofresponse|>"},
        [HK_CHAT_HUNYUAN_MOE] = {"<|eos|>"},
        [HK_CHAT_GPT_OSS] = {"<|return|>", "<|end|>", "<|call|>"},
        [HK_CHAT_HUNYUAN_DENSE] = {"<｜hy_place▁holder▁no▁2｜>"},
        [HK_CHAT_SEED_OSS] = {"<seed:eos>"},
        [HK_CHAT_GROK2] = {"<|separator|>"},
        [HK_CHAT_PANGU_EMBED] = {"[unused10]"},
    };
    if ((unsigned)k >= HK_CHAT_COUNT)
        return none;
    if (k == HK_CHAT_CHATML || k == HK_CHAT_PHI4 || k == HK_CHAT_KIMI_K2)
        return im_end;
    return stops[k][0] ? stops[k] : eos;
}

/* ---- output ------------------------------------------------------------------ */

/* snprintf-style sink.  For a delta, the text restarts (len = 0) the moment
 * message cut_msg's content has been written: everything before it is the
 * part the caller already has. */
typedef struct writer {
    char *out;
    size_t cap;
    size_t len;      /* bytes of text produced since the start or the cut */
    size_t cut_msg;  /* SIZE_MAX: no cut */
    bool cut_seen;
} writer;

static void put_n(writer *w, const char *s, size_t n)
{
    if (w->cap > 0 && w->len < w->cap - 1) {
        size_t room = w->cap - 1 - w->len;
        memcpy(w->out + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void put(writer *w, const char *s)
{
    put_n(w, s, strlen(s));
}

/* Message i's content ends here (or, for a message a family drops, its
 * place in the text is here). */
static void mark(writer *w, size_t i)
{
    if (i == w->cut_msg && !w->cut_seen) {
        w->cut_seen = true;
        w->len = 0;
    }
}

/* ASCII whitespace, as C's isspace in the "C" locale that llama.cpp's trim
 * runs under; UTF-8 bytes are never whitespace. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void put_trimmed(writer *w, const char *s)
{
    size_t b = 0, e = strlen(s);
    while (b < e && is_space(s[b]))
        b++;
    while (e > b && is_space(s[e - 1]))
        e--;
    put_n(w, s + b, e - b);
}

/* Content of message i, trimmed or not, then the cut point. */
static void content(writer *w, const hk_chat_msg *m, size_t i, bool trim)
{
    if (trim)
        put_trimmed(w, m[i].content);
    else
        put(w, m[i].content);
    mark(w, i);
}

static bool role_is(const hk_chat_msg *m, const char *role)
{
    return strcmp(m->role, role) == 0;
}

static bool trimmed_empty(const char *s)
{
    for (; *s; s++)
        if (!is_space(*s))
            return false;
    return true;
}

/* "<pre>role<mid>content<post>" per message, "gen" as the assistant prefix:
 * the shape shared by ChatML and a dozen others. */
static void wrap_all(writer *w, const hk_chat_msg *m, size_t n, bool add_ass, const char *pre,
                     const char *mid, const char *post, bool trim, const char *gen)
{
    for (size_t i = 0; i < n; i++) {
        put(w, pre);
        put(w, m[i].role);
        put(w, mid);
        content(w, m, i, trim);
        put(w, post);
    }
    if (add_ass)
        put(w, gen);
}

/* ---- families ------------------------------------------------------------------ */

static void fmt_llama2(writer *w, hk_chat_kind k, const hk_chat_msg *m, size_t n)
{
    bool sys_block = k != HK_CHAT_LLAMA2;
    bool bos_inside = k == HK_CHAT_LLAMA2_SYS_BOS;
    bool strip = k == HK_CHAT_LLAMA2_SYS_STRIP;
    bool inside_turn = true; /* the opening [INST] is written up front, without BOS */
    put(w, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside_turn) {
            inside_turn = true;
            put(w, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (role_is(&m[i], "system")) {
            put(w, sys_block ? "<<SYS>>\n" : "");
            content(w, m, i, strip);
            put(w, sys_block ? "\n<</SYS>>\n\n" : "\n");
        } else if (role_is(&m[i], "user")) {
            content(w, m, i, strip);
            put(w, " [/INST]");
        } else {
            content(w, m, i, strip);
            put(w, "</s>");
            inside_turn = false;
        }
    }
}

static void fmt_mistral_v1_v3(writer *w, hk_chat_kind k, const hk_chat_msg *m, size_t n)
{
    const char *lead = k == HK_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = k == HK_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool trim_assistant = k == HK_CHAT_MISTRAL_V3;
    bool inside_turn = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside_turn) {
            put(w, lead);
            put(w, "[INST]");
            put(w, trail);
            inside_turn = true;
        }
        if (role_is(&m[i], "system")) {
            content(w, m, i, false);
            put(w, "\n\n");
        } else if (role_is(&m[i], "user")) {
            content(w, m, i, false);
            put(w, lead);
            put(w, "[/INST]");
        } else {
            put(w, trail);
            content(w, m, i, trim_assistant);
            put(w, "</s>");
            inside_turn = false;
        }
    }
}

static void fmt_mistral_v7(writer *w, hk_chat_kind k, const hk_chat_msg *m, size_t n)
{
    const char *sp = k == HK_CHAT_MISTRAL_V7 ? " " : "";
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            put(w, "[SYSTEM_PROMPT]");
            put(w, sp);
            content(w, m, i, false);
            put(w, "[/SYSTEM_PROMPT]");
        } else if (role_is(&m[i], "user")) {
            put(w, "[INST]");
            put(w, sp);
            content(w, m, i, false);
            put(w, "[/INST]");
        } else {
            put(w, sp);
            content(w, m, i, false);
            put(w, "</s>");
        }
    }
}

/* Gemma has no system role: system texts (trimmed, concatenated) wait for
 * the next non-model turn and open it, followed by a blank line. */
static void fmt_gemma(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    size_t pending_from = SIZE_MAX; /* first system message not yet written */
    bool pending_text = false;      /* whether those have any non-space text */
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            if (pending_from == SIZE_MAX)
                pending_from = i;
            pending_text |= !trimmed_empty(m[i].content);
            continue;
        }
        const char *role = role_is(&m[i], "assistant") ? "model" : m[i].role;
        put(w, "<start_of_turn>");
        put(w, role);
        put(w, "\n");
        if (pending_from != SIZE_MAX && strcmp(role, "model") != 0) {
            for (size_t j = pending_from; j < i; j++)
                if (role_is(&m[j], "system"))
                    content(w, m, j, true);
            if (pending_text)
                put(w, "\n\n");
            pending_from = SIZE_MAX;
            pending_text = false;
        }
        content(w, m, i, true);
        put(w, "<end_of_turn>\n");
    }
    if (add_ass)
        put(w, "<start_of_turn>model\n");
}

/* Orion: like Gemma, the system text joins the next user turn (untrimmed). */
static void fmt_orion(writer *w, const hk_chat_msg *m, size_t n)
{
    size_t pending_from = SIZE_MAX;
    bool pending_text = false;
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            if (pending_from == SIZE_MAX)
                pending_from = i;
            pending_text |= m[i].content[0] != '\0';
        } else if (role_is(&m[i], "user")) {
            put(w, "Human: ");
            if (pending_from != SIZE_MAX) {
                for (size_t j = pending_from; j < i; j++)
                    if (role_is(&m[j], "system"))
                        content(w, m, j, false);
                if (pending_text)
                    put(w, "\n\n");
                pending_from = SIZE_MAX;
                pending_text = false;
            }
            content(w, m, i, false);
            put(w, "\n\nAssistant: </s>");
        } else {
            content(w, m, i, false);
            put(w, "</s>");
        }
    }
}

static void fmt_openchat(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            content(w, m, i, false);
        } else {
            /* "user" -> "User": only the first byte is capitalized */
            const char *r = m[i].role;
            put(w, "GPT4 Correct ");
            if (r[0]) {
                char c = r[0] >= 'a' && r[0] <= 'z' ? (char)(r[0] - 'a' + 'A') : r[0];
                put_n(w, &c, 1);
                put(w, r + 1);
            }
            put(w, ": ");
            content(w, m, i, false);
        }
        put(w, "<|end_of_turn|>");
    }
    if (add_ass)
        put(w, "GPT4 Correct Assistant:");
}

/* Families that write a fixed header per known role and drop other roles. */
typedef struct role_shape {
    const char *role;
    const char *pre, *post;
    bool trim;
} role_shape;

static void fmt_by_role(writer *w, const hk_chat_msg *m, size_t n, bool add_ass,
                        const role_shape *shapes, size_t n_shapes, const char *gen)
{
    for (size_t i = 0; i < n; i++) {
        const role_shape *s = NULL;
        for (size_t j = 0; j < n_shapes && !s; j++)
            if (role_is(&m[i], shapes[j].role))
                s = &shapes[j];
        if (!s) {
            mark(w, i);
            continue;
        }
        put(w, s->pre);
        content(w, m, i, s->trim);
        put(w, s->post);
    }
    if (add_ass && gen)
        put(w, gen);
}

#define N_SHAPES(a) (sizeof(a) / sizeof((a)[0]))

static void fmt_vicuna(writer *w, hk_chat_kind k, const hk_chat_msg *m, size_t n, bool add_ass)
{
    const role_shape shapes[] = {
        k == HK_CHAT_VICUNA_ORCA ? (role_shape){"system", "SYSTEM: ", "\n", false}
                                 : (role_shape){"system", "", "\n\n", false},
        {"user", "USER: ", "\n", false},
        {"assistant", "ASSISTANT: ", "</s>\n", false},
    };
    fmt_by_role(w, m, n, add_ass, shapes, N_SHAPES(shapes), "ASSISTANT:");
}

static void fmt_monarch(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    for (size_t i = 0; i < n; i++) {
        put(w, i == 0 ? "" : "<s>"); /* the caller's BOS opens the first */
        put(w, m[i].role);
        put(w, "\n");
        content(w, m, i, false);
        put(w, "</s>\n");
    }
    if (add_ass)
        put(w, "<s>assistant\n");
}

static void fmt_minicpm(writer *w, const hk_chat_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool user = role_is(&m[i], "user");
        if (user)
            put(w, "<用户>");
        content(w, m, i, true);
        if (user)
            put(w, "<AI>");
    }
}

static void fmt_rwkv(writer *w, const hk_chat_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            put(w, "System: ");
            content(w, m, i, true);
            put(w, "\n\n");
        } else if (role_is(&m[i], "user")) {
            put(w, "User: ");
            content(w, m, i, true);
            put(w, "\n\n");
            if (i == n - 1)
                put(w, "Assistant:");
        } else if (role_is(&m[i], "assistant")) {
            put(w, "Assistant: ");
            content(w, m, i, true);
            put(w, "\n\n");
        } else {
            mark(w, i);
        }
    }
}

static void fmt_granite(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    for (size_t i = 0; i < n; i++) {
        put(w, "<|start_of_role|>");
        put(w, m[i].role);
        put(w, "<|end_of_role|>");
        if (role_is(&m[i], "assistant_tool_call"))
            put(w, "<|tool_call|>");
        content(w, m, i, false);
        put(w, "<|end_of_text|>\n");
    }
    if (add_ass)
        put(w, "<|start_of_role|>assistant<|end_of_role|>");
}

static void fmt_gigachat(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    bool has_system = n > 0 && role_is(&m[0], "system");
    put(w, "<s>");
    if (has_system) {
        content(w, m, 0, false);
        put(w, "<|message_sep|>");
    }
    for (size_t i = has_system ? 1 : 0; i < n; i++) {
        if (role_is(&m[i], "user")) {
            put(w, "user<|role_sep|>");
            content(w, m, i, false);
            put(w, "<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
        } else if (role_is(&m[i], "assistant")) {
            put(w, "assistant<|role_sep|>");
            content(w, m, i, false);
            put(w, "<|message_sep|>");
        } else {
            mark(w, i);
        }
    }
    if (add_ass)
        put(w, "assistant<|role_sep|>");
}

/* Ling: <role>HUMAN</role> for the user, other roles upper-cased. */
static void put_bailing_role(writer *w, const char *role)
{
    put(w, "<role>");
    if (strcmp(role, "user") == 0) {
        put(w, "HUMAN");
    } else {
        for (const char *r = role; *r; r++) {
            char c = *r >= 'a' && *r <= 'z' ? (char)(*r - 'a' + 'A') : *r;
            put_n(w, &c, 1);
        }
    }
    put(w, "</role>");
}

static void fmt_bailing(writer *w, hk_chat_kind k, const hk_chat_msg *m, size_t n, bool add_ass)
{
    bool v2 = k == HK_CHAT_BAILING2;
    if (v2 && !(n > 0 && role_is(&m[0], "system")))
        put(w, "<role>SYSTEM</role>detailed thinking off<|role_end|>");
    for (size_t i = 0; i < n; i++) {
        put_bailing_role(w, m[i].role);
        content(w, m, i, false);
        if (v2)
            put(w, "<|role_end|>");
    }
    if (add_ass) {
        put(w, "<role>ASSISTANT</role>");
        if (k == HK_CHAT_BAILING_THINK)
            put(w, "<think>");
    }
}

static void fmt_smolvlm(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    put(w, "<|im_start|>"); /* SmolVLM's BOS, written as text by llama.cpp */
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system")) {
            content(w, m, i, false);
            put(w, "\n\n");
        } else {
            put(w, role_is(&m[i], "user") ? "User: " : "Assistant: ");
            content(w, m, i, false);
            put(w, "<end_of_utterance>\n");
        }
    }
    if (add_ass)
        put(w, "Assistant:");
}

static void fmt_gpt_oss(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    for (size_t i = 0; i < n; i++) {
        bool assistant = role_is(&m[i], "assistant");
        put(w, "<|start|>");
        put(w, m[i].role);
        put(w, "<|message|>");
        content(w, m, i, false);
        put(w, assistant ? "<|return|>" : "<|end|>");
    }
    if (add_ass)
        put(w, "<|start|>assistant");
}

static void fmt_hunyuan_dense(writer *w, const hk_chat_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "assistant")) {
            put(w, "<｜hy_Assistant｜>");
            content(w, m, i, false);
            put(w, "<｜hy_place▁holder▁no▁2｜>");
        } else if (role_is(&m[i], "user")) {
            put(w, "<｜hy_User｜>");
            content(w, m, i, false);
            put(w, "<｜hy_Assistant｜>");
        } else if (i == 0 && role_is(&m[i], "system")) {
            content(w, m, i, false);
            put(w, "<｜hy_place▁holder▁no▁3｜>");
        } else {
            mark(w, i);
        }
    }
}

static void fmt_kimi(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    for (size_t i = 0; i < n; i++) {
        if (role_is(&m[i], "system"))
            put(w, "<|im_system|>system<|im_middle|>");
        else if (role_is(&m[i], "user"))
            put(w, "<|im_user|>user<|im_middle|>");
        else if (role_is(&m[i], "assistant"))
            put(w, "<|im_assistant|>assistant<|im_middle|>");
        else if (role_is(&m[i], "tool"))
            put(w, "<|im_system|>tool<|im_middle|>");
        content(w, m, i, false);
        put(w, "<|im_end|>");
    }
    if (add_ass)
        put(w, "<|im_assistant|>assistant<|im_middle|>");
}

static void fmt_seed_oss(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    for (size_t i = 0; i < n; i++) {
        put(w, "<seed:bos>");
        put(w, m[i].role);
        put(w, "\n");
        content(w, m, i, role_is(&m[i], "assistant"));
        put(w, "<seed:eos>");
    }
    if (add_ass)
        put(w, "<seed:bos>assistant\n");
}

static void fmt_pangu(writer *w, const hk_chat_msg *m, size_t n, bool add_ass)
{
    static const role_shape shapes[] = {
        {"system", "[unused9]系统：", "[unused10]", false},
        {"user", "[unused9]用户：", "[unused10]", false},
        {"assistant", "[unused9]助手：", "[unused10]", false},
        {"tool", "[unused9]工具：", "[unused10]", false},
        {"function", "[unused9]方法：", "[unused10]", false},
    };
    /* An empty system turn stands in when the conversation starts without one. */
    if (n > 0 && !role_is(&m[0], "system"))
        put(w, "[unused9]系统：[unused10]");
    fmt_by_role(w, m, n, add_ass, shapes, N_SHAPES(shapes), "[unused9]助手：");
}

static bool render(writer *w, hk_chat_kind k, const hk_chat_msg *m, size_t n, bool add_ass)
{
    switch (k) {
    case HK_CHAT_CHATML:
        wrap_all(w, m, n, add_ass, "<|im_start|>", "\n", "<|im_end|>\n", false,
                 "<|im_start|>assistant\n");
        break;
    case HK_CHAT_LLAMA2:
    case HK_CHAT_LLAMA2_SYS:
    case HK_CHAT_LLAMA2_SYS_BOS:
    case HK_CHAT_LLAMA2_SYS_STRIP:
        fmt_llama2(w, k, m, n);
        break;
    case HK_CHAT_MISTRAL_V1:
    case HK_CHAT_MISTRAL_V3:
    case HK_CHAT_MISTRAL_V3_TEKKEN:
        fmt_mistral_v1_v3(w, k, m, n);
        break;
    case HK_CHAT_MISTRAL_V7:
    case HK_CHAT_MISTRAL_V7_TEKKEN:
        fmt_mistral_v7(w, k, m, n);
        break;
    case HK_CHAT_PHI3:
        wrap_all(w, m, n, add_ass, "<|", "|>\n", "<|end|>\n", false, "<|assistant|>\n");
        break;
    case HK_CHAT_PHI4:
        wrap_all(w, m, n, add_ass, "<|im_start|>", "<|im_sep|>", "<|im_end|>", false,
                 "<|im_start|>assistant<|im_sep|>");
        break;
    case HK_CHAT_FALCON3:
        wrap_all(w, m, n, add_ass, "<|", "|>\n", "\n", false, "<|assistant|>\n");
        break;
    case HK_CHAT_ZEPHYR:
        wrap_all(w, m, n, add_ass, "<|", "|>\n", "<|endoftext|>\n", false, "<|assistant|>\n");
        break;
    case HK_CHAT_MONARCH:
        fmt_monarch(w, m, n, add_ass);
        break;
    case HK_CHAT_GEMMA:
        fmt_gemma(w, m, n, add_ass);
        break;
    case HK_CHAT_ORION:
        fmt_orion(w, m, n);
        break;
    case HK_CHAT_OPENCHAT:
        fmt_openchat(w, m, n, add_ass);
        break;
    case HK_CHAT_VICUNA:
    case HK_CHAT_VICUNA_ORCA:
        fmt_vicuna(w, k, m, n, add_ass);
        break;
    case HK_CHAT_DEEPSEEK: {
        static const role_shape s[] = {
            {"system", "", "", false},
            {"user", "### Instruction:\n", "\n", false},
            {"assistant", "### Response:\n", "\n<|EOT|>\n", false},
        };
        fmt_by_role(w, m, n, add_ass, s, N_SHAPES(s), "### Response:\n");
        break;
    }
    case HK_CHAT_DEEPSEEK2: {
        static const role_shape s[] = {
            {"system", "", "\n\n", false},
            {"user", "User: ", "\n\n", false},
            {"assistant", "Assistant: ", "<｜end▁of▁sentence｜>", false},
        };
        fmt_by_role(w, m, n, add_ass, s, N_SHAPES(s), "Assistant:");
        break;
    }
    case HK_CHAT_DEEPSEEK3: {
        static const role_shape s[] = {
            {"system", "", "\n\n", false},
            {"user", "<｜User｜>", "", false},
            {"assistant", "<｜Assistant｜>", "<｜end▁of▁sentence｜>", false},
        };
        fmt_by_role(w, m, n, add_ass, s, N_SHAPES(s), "<｜Assistant｜>");
        break;
    }
    case HK_CHAT_COMMAND_R: {
        static const role_shape s[] = {
            {"system", "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>", "<|END_OF_TURN_TOKEN|>", true},
            {"user", "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>", "<|END_OF_TURN_TOKEN|>", true},
            {"assistant", "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", "<|END_OF_TURN_TOKEN|>", true},
        };
        fmt_by_role(w, m, n, add_ass, s, N_SHAPES(s), "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        break;
    }
    case HK_CHAT_LLAMA3:
        wrap_all(w, m, n, add_ass, "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>",
                 true, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case HK_CHAT_CHATGLM3:
        put(w, "[gMASK]sop");
        wrap_all(w, m, n, add_ass, "<|", "|>\n ", "", false, "<|assistant|>");
        break;
    case HK_CHAT_CHATGLM4:
        put(w, "[gMASK]<sop>");
        wrap_all(w, m, n, add_ass, "<|", "|>\n", "", false, "<|assistant|>\n");
        break;
    case HK_CHAT_GLMEDGE:
        wrap_all(w, m, n, add_ass, "<|", "|>\n", "", false, "<|assistant|>");
        break;
    case HK_CHAT_MINICPM:
        fmt_minicpm(w, m, n);
        break;
    case HK_CHAT_EXAONE3:
    case HK_CHAT_EXAONE4: {
        static const role_shape s[] = {
            {"system", "[|system|]", "[|endofturn|]\n", true},
            {"user", "[|user|]", "\n", true},
            {"assistant", "[|assistant|]", "[|endofturn|]\n", true},
            {"tool", "[|tool|]", "[|endofturn|]\n", true}, /* EXAONE 4 only */
        };
        fmt_by_role(w, m, n, add_ass, s, k == HK_CHAT_EXAONE4 ? 4 : 3, "[|assistant|]");
        break;
    }
    case HK_CHAT_RWKV_WORLD:
        fmt_rwkv(w, m, n);
        break;
    case HK_CHAT_GRANITE:
        fmt_granite(w, m, n, add_ass);
        break;
    case HK_CHAT_GIGACHAT:
        fmt_gigachat(w, m, n, add_ass);
        break;
    case HK_CHAT_MEGREZ:
        wrap_all(w, m, n, add_ass, "<|role_start|>", "<|role_end|>", "<|turn_end|>", false,
                 "<|role_start|>assistant<|role_end|>");
        break;
    case HK_CHAT_YANDEX: {
        static const role_shape s[] = {
            {"user", " Пользователь: ", "\n\n", false},
            {"assistant", " Ассистент: ", "\n\n", false},
        };
        fmt_by_role(w, m, n, add_ass, s, N_SHAPES(s), " Ассистент:[SEP]");
        break;
    }
    case HK_CHAT_BAILING:
    case HK_CHAT_BAILING_THINK:
    case HK_CHAT_BAILING2:
        fmt_bailing(w, k, m, n, add_ass);
        break;
    case HK_CHAT_LLAMA4:
        wrap_all(w, m, n, add_ass, "<|header_start|>", "<|header_end|>\n\n", "<|eot|>", true,
                 "<|header_start|>assistant<|header_end|>\n\n");
        break;
    case HK_CHAT_SMOLVLM:
        fmt_smolvlm(w, m, n, add_ass);
        break;
    case HK_CHAT_DOTS1: {
        /* every role that is not system or user is the response */
        for (size_t i = 0; i < n; i++) {
            bool sys = role_is(&m[i], "system"), user = role_is(&m[i], "user");
            put(w, sys ? "<|system|>" : user ? "<|userprompt|>" : "<|response|>");
            content(w, m, i, false);
            put(w, sys ? "<|endofsystem|>" : user ? "<|endofuserprompt|>" : "<|endofresponse|>");
        }
        if (add_ass)
            put(w, "<|response|>");
        break;
    }
    case HK_CHAT_HUNYUAN_MOE:
        for (size_t i = 0; i < n; i++) {
            if (role_is(&m[i], "assistant")) {
                content(w, m, i, false);
                put(w, "<|eos|>");
            } else {
                bool sys = role_is(&m[i], "system");
                put(w, "<|startoftext|>");
                content(w, m, i, false);
                put(w, sys ? "<|extra_4|>" : "<|extra_0|>");
            }
        }
        break;
    case HK_CHAT_GPT_OSS:
        fmt_gpt_oss(w, m, n, add_ass);
        break;
    case HK_CHAT_HUNYUAN_DENSE:
        fmt_hunyuan_dense(w, m, n);
        break;
    case HK_CHAT_KIMI_K2:
        fmt_kimi(w, m, n, add_ass);
        break;
    case HK_CHAT_SEED_OSS:
        fmt_seed_oss(w, m, n, add_ass);
        break;
    case HK_CHAT_GROK2: {
        static const role_shape s[] = {
            {"system", "System: ", "<|separator|>\n\n", true},
            {"user", "Human: ", "<|separator|>\n\n", true},
            {"assistant", "Assistant: ", "<|separator|>\n\n", false},
        };
        fmt_by_role(w, m, n, add_ass, s, N_SHAPES(s), "Assistant:");
        break;
    }
    case HK_CHAT_PANGU_EMBED:
        fmt_pangu(w, m, n, add_ass);
        break;
    default:
        return false;
    }
    return true;
}

static int format_from(hk_chat_kind k, const hk_chat_msg *msgs, size_t n, size_t cut_msg,
                       bool add_ass, char *out, size_t cap)
{
    if ((unsigned)k >= HK_CHAT_COUNT || (n > 0 && !msgs) || (cap > 0 && !out))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return -1;
    writer w = {.out = out, .cap = cap, .len = 0, .cut_msg = cut_msg, .cut_seen = false};
    if (!render(&w, k, msgs, n, add_ass))
        return -1;
    if (cut_msg != SIZE_MAX && !w.cut_seen)
        return -1;
    if (cap > 0)
        out[w.len < cap ? w.len : cap - 1] = '\0';
    return w.len > (size_t)INT_MAX ? -1 : (int)w.len;
}

int hk_chat_format(hk_chat_kind k, const hk_chat_msg *msgs, size_t n, bool add_assistant_prefix,
                   char *out, size_t cap)
{
    return format_from(k, msgs, n, SIZE_MAX, add_assistant_prefix, out, cap);
}

int hk_chat_format_delta(hk_chat_kind k, const hk_chat_msg *msgs, size_t n, size_t n_done,
                         bool add_assistant_prefix, char *out, size_t cap)
{
    if (n_done > n)
        return -1;
    return format_from(k, msgs, n, n_done == 0 ? SIZE_MAX : n_done - 1, add_assistant_prefix, out,
                       cap);
}
