/* hark mkmodel: random weights in the shapes of real models.
 *
 * Three parts: the table of real shapes (hyper-parameters from each model's
 * Hugging Face config.json; keys and tensor layout as llama.cpp's
 * convert_hf_to_gguf.py writes them, Feb 2025), the synthetic vocabulary
 * (real size and the ids llama.cpp reads, made-up strings elsewhere), and the
 * writer: per-tensor types chosen by quantize.c's transcription of
 * llama-quantize, values generated row by row from the seed and quantized
 * inside the GGUF writer's produce callback, so only one tensor is ever in
 * memory. */
#include "mkmodel.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"
#include "quantize.h"

/* ---------------------------------------------------------------- chat templates */

/* tokenizer_config.json's chat_template of each family's instruct model,
 * which the converter copies to tokenizer.chat_template. */
static const char TEMPLATE_QWEN25[] =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}";

static const char TEMPLATE_LLAMA32[] =
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- System message #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if tools is not none %}\n"
    "    {{- \"Environment: ipython\\n\" }}\n"
    "{%- endif %}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "{%- endif %}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n"
    "{%- endif %}\n"
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "        {{- '\"parameters\": ' }}\n"
    "        {{- tool_call.arguments | tojson }}\n"
    "        {{- \"}\" }}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}";

static const char TEMPLATE_SMOLLM2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}";

static const char TEMPLATE_GEMMA2[] =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n"
    "' + message['content'] | trim + '<end_of_turn>\n"
    "' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n"
    "'}}{% endif %}";

static const char TEMPLATE_PHI3[] =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% elif message['role'] == 'user' %}{{'<|user|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n"
    "' + message['content'] + '<|end|>\n"
    "'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n"
    "' }}{% else %}{{ eos_token }}{% endif %}";

/* ---------------------------------------------------------------- vocabularies */

/* llama.cpp's token types (tokenizer.ggml.token_type). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

typedef struct special {
    int32_t id;
    const char *text;
    int type;
} special;

/* Ids first..last named by printf(fmt, id + offset): reserved and padding
 * tokens, which real vocabularies also number this way. */
typedef struct filler {
    int32_t first, last;
    const char *fmt;
    int32_t offset;
    int type;
} filler;

typedef struct vocab_spec {
    const char *model;        /* tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece) */
    const char *pre;          /* tokenizer.ggml.pre */
    int32_t bos, eos, unk, pad; /* the *_token_id keys; -1: not written */
    int add_bos, add_eos, add_space_prefix; /* the boolean keys; -1: not written */
    int32_t byte_base;        /* first of the 256 byte tokens (gpt2: the byte alphabet, llama: <0xXX>) */
    const special *specials;  /* real ids and texts of the special tokens */
    size_t n_specials;
    const filler *fillers;
    size_t n_fillers;
    const char *chat_template;
} vocab_spec;

/* Qwen2.5: tokenizer_config.json "added_tokens_decoder"; 151665.. are the
 * converter's padding up to vocab_size ("[PAD%d]", UNUSED). */
static const special QWEN25_SPECIALS[] = {
    {151643, "<|endoftext|>", TT_CONTROL},       {151644, "<|im_start|>", TT_CONTROL},
    {151645, "<|im_end|>", TT_CONTROL},          {151646, "<|object_ref_start|>", TT_CONTROL},
    {151647, "<|object_ref_end|>", TT_CONTROL},  {151648, "<|box_start|>", TT_CONTROL},
    {151649, "<|box_end|>", TT_CONTROL},         {151650, "<|quad_start|>", TT_CONTROL},
    {151651, "<|quad_end|>", TT_CONTROL},        {151652, "<|vision_start|>", TT_CONTROL},
    {151653, "<|vision_end|>", TT_CONTROL},      {151654, "<|vision_pad|>", TT_CONTROL},
    {151655, "<|image_pad|>", TT_CONTROL},       {151656, "<|video_pad|>", TT_CONTROL},
    {151657, "<tool_call>", TT_USER_DEFINED},    {151658, "</tool_call>", TT_USER_DEFINED},
    {151659, "<|fim_prefix|>", TT_USER_DEFINED}, {151660, "<|fim_middle|>", TT_USER_DEFINED},
    {151661, "<|fim_suffix|>", TT_USER_DEFINED}, {151662, "<|fim_pad|>", TT_USER_DEFINED},
    {151663, "<|repo_name|>", TT_USER_DEFINED},  {151664, "<|file_sep|>", TT_USER_DEFINED},
};
static const filler QWEN25_FILLERS[] = {{151665, 151935, "[PAD%d]", 0, TT_UNUSED}};

/* Llama 3.x: tokenizer.json "added_tokens"; 128011.. are
 * <|reserved_special_token_3|>..  */
static const special LLAMA3_SPECIALS[] = {
    {128000, "<|begin_of_text|>", TT_CONTROL},
    {128001, "<|end_of_text|>", TT_CONTROL},
    {128002, "<|reserved_special_token_0|>", TT_CONTROL},
    {128003, "<|reserved_special_token_1|>", TT_CONTROL},
    {128004, "<|finetune_right_pad_id|>", TT_CONTROL},
    {128005, "<|reserved_special_token_2|>", TT_CONTROL},
    {128006, "<|start_header_id|>", TT_CONTROL},
    {128007, "<|end_header_id|>", TT_CONTROL},
    {128008, "<|eom_id|>", TT_CONTROL},
    {128009, "<|eot_id|>", TT_CONTROL},
    {128010, "<|python_tag|>", TT_CONTROL},
};
static const filler LLAMA3_FILLERS[] = {{128011, 128255, "<|reserved_special_token_%d|>", -128008, TT_CONTROL}};

/* SmolLM2: tokenizer.json "added_tokens" (ids 0..16). */
static const special SMOLLM2_SPECIALS[] = {
    {0, "<|endoftext|>", TT_CONTROL},  {1, "<|im_start|>", TT_CONTROL},    {2, "<|im_end|>", TT_CONTROL},
    {3, "<repo_name>", TT_CONTROL},    {4, "<reponame>", TT_CONTROL},      {5, "<file_sep>", TT_CONTROL},
    {6, "<filename>", TT_CONTROL},     {7, "<gh_stars>", TT_CONTROL},      {8, "<issue_start>", TT_CONTROL},
    {9, "<issue_comment>", TT_CONTROL}, {10, "<issue_closed>", TT_CONTROL}, {11, "<jupyter_start>", TT_CONTROL},
    {12, "<jupyter_text>", TT_CONTROL}, {13, "<jupyter_code>", TT_CONTROL}, {14, "<jupyter_output>", TT_CONTROL},
    {15, "<jupyter_script>", TT_CONTROL}, {16, "<empty_output>", TT_CONTROL},
};

/* Gemma 2: the first ids of tokenizer.model and the turn markers at 106/107;
 * byte pieces start at 217. */
static const special GEMMA2_SPECIALS[] = {
    {0, "<pad>", TT_CONTROL},          {1, "<eos>", TT_CONTROL},          {2, "<bos>", TT_CONTROL},
    {3, "<unk>", TT_UNKNOWN},          {4, "<mask>", TT_USER_DEFINED},    {5, "[@BOS@]", TT_USER_DEFINED},
    {106, "<start_of_turn>", TT_CONTROL}, {107, "<end_of_turn>", TT_CONTROL},
};
static const filler GEMMA2_FILLERS[] = {{6, 105, "<unused%d>", -6, TT_USER_DEFINED}};

/* Phi-3 mini: the LLaMA 2 SentencePiece layout (<unk> <s> </s>, then the
 * 256 byte pieces) plus added_tokens 32000..32010; 32011.. are the
 * converter's padding up to vocab_size. */
static const special PHI3_SPECIALS[] = {
    {0, "<unk>", TT_UNKNOWN},             {1, "<s>", TT_CONTROL},
    {2, "</s>", TT_CONTROL},              {32000, "<|endoftext|>", TT_CONTROL},
    {32001, "<|assistant|>", TT_CONTROL}, {32002, "<|placeholder1|>", TT_CONTROL},
    {32003, "<|placeholder2|>", TT_CONTROL}, {32004, "<|placeholder3|>", TT_CONTROL},
    {32005, "<|placeholder4|>", TT_CONTROL}, {32006, "<|system|>", TT_CONTROL},
    {32007, "<|end|>", TT_CONTROL},       {32008, "<|placeholder5|>", TT_CONTROL},
    {32009, "<|placeholder6|>", TT_CONTROL}, {32010, "<|user|>", TT_CONTROL},
};
static const filler PHI3_FILLERS[] = {{32011, 32063, "[PAD%d]", 0, TT_UNUSED}};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

enum { V_QWEN25, V_LLAMA3, V_SMOLLM2, V_GEMMA2, V_PHI3 };

/* Ids and flags as the converter writes them for each instruct model
 * (tokenizer_config.json / generation_config.json). */
static const vocab_spec VOCABS[] = {
    [V_QWEN25] = {"gpt2", "qwen2", 151643, 151645, -1, 151643, 0, -1, -1, 0, QWEN25_SPECIALS,
                  N_OF(QWEN25_SPECIALS), QWEN25_FILLERS, N_OF(QWEN25_FILLERS), TEMPLATE_QWEN25},
    [V_LLAMA3] = {"gpt2", "llama-bpe", 128000, 128009, -1, -1, -1, -1, -1, 0, LLAMA3_SPECIALS,
                  N_OF(LLAMA3_SPECIALS), LLAMA3_FILLERS, N_OF(LLAMA3_FILLERS), TEMPLATE_LLAMA32},
    [V_SMOLLM2] = {"gpt2", "smollm", 1, 2, 0, 2, -1, -1, -1, 17, SMOLLM2_SPECIALS, N_OF(SMOLLM2_SPECIALS), NULL, 0,
                   TEMPLATE_SMOLLM2},
    [V_GEMMA2] = {"llama", "default", 2, 1, 3, 0, 1, 0, 0, 217, GEMMA2_SPECIALS, N_OF(GEMMA2_SPECIALS),
                  GEMMA2_FILLERS, N_OF(GEMMA2_FILLERS), TEMPLATE_GEMMA2},
    [V_PHI3] = {"llama", "default", 1, 32000, 0, 32000, 0, 0, -1, 3, PHI3_SPECIALS, N_OF(PHI3_SPECIALS), PHI3_FILLERS,
                N_OF(PHI3_FILLERS), TEMPLATE_PHI3},
};

/* ---------------------------------------------------------------- shapes */

/* Every number is the config.json value of the repository in the second
 * column (Hugging Face, the instruct variant; base models share the shapes).
 * head_dim: the config's head_dim where it has one (Llama 3.2, Gemma 2),
 * else hidden_size / num_attention_heads.  n_ctx_train: max_position_embeddings.
 *
 *  name          repo                                  embd   ff     lay head kv hdim vocab   ctx     rope_theta eps   tied
 *  qwen2.5-0.5b  Qwen/Qwen2.5-0.5B-Instruct            896    4864   24  14   2  64   151936  32768   1e6        1e-6  yes
 *  qwen2.5-1.5b  Qwen/Qwen2.5-1.5B-Instruct            1536   8960   28  12   2  128  151936  32768   1e6        1e-6  yes
 *  qwen2.5-3b    Qwen/Qwen2.5-3B-Instruct              2048   11008  36  16   2  128  151936  32768   1e6        1e-6  yes
 *  llama3.2-1b   meta-llama/Llama-3.2-1B-Instruct      2048   8192   16  32   8  64   128256  131072  500000     1e-5  yes
 *  llama3.2-3b   meta-llama/Llama-3.2-3B-Instruct      3072   8192   28  24   8  128  128256  131072  500000     1e-5  yes
 *  smollm2-360m  HuggingFaceTB/SmolLM2-360M-Instruct   960    2560   32  15   5  64   49152   8192    100000     1e-5  yes
 *  smollm2-1.7b  HuggingFaceTB/SmolLM2-1.7B-Instruct   2048   8192   24  32  32  64   49152   8192    130000     1e-5  yes
 *  gemma2-2b     google/gemma-2-2b-it                  2304   9216   26   8   4  256  256000  8192    10000      1e-6  yes
 *  phi3-mini     microsoft/Phi-3-mini-4k-instruct      3072   8192   32  32  32  96   32064   4096    10000      1e-5  no
 *
 * Llama 3.2 rope_scaling: {rope_type llama3, factor 32, low_freq_factor 1,
 * high_freq_factor 4, original_max_position_embeddings 8192}.  Gemma 2:
 * attn_logit_softcapping 50, final_logit_softcapping 30, sliding_window 4096
 * (query_pre_attn_scalar 256 = head_dim, which is what llama.cpp assumes).
 * Phi-3 mini 4k: sliding_window 2047, original_max_position_embeddings 4096. */
static const hk_shape SHAPES[] = {
    {.name = "qwen2.5-0.5b", .source = "Qwen/Qwen2.5-0.5B-Instruct", .arch = "qwen2",
     .general_name = "Qwen2.5 0.5B Instruct", .size_label = "0.5B", .n_embd = 896, .n_ff = 4864, .n_layer = 24,
     .n_head = 14, .n_head_kv = 2, .head_dim = 64, .n_vocab = 151936, .n_ctx_train = 32768, .rope_base = 1e6f,
     .norm_eps = 1e-6f, .tied = true, .qkv_bias = true, .vocab = V_QWEN25},
    {.name = "qwen2.5-1.5b", .source = "Qwen/Qwen2.5-1.5B-Instruct", .arch = "qwen2",
     .general_name = "Qwen2.5 1.5B Instruct", .size_label = "1.5B", .n_embd = 1536, .n_ff = 8960, .n_layer = 28,
     .n_head = 12, .n_head_kv = 2, .head_dim = 128, .n_vocab = 151936, .n_ctx_train = 32768, .rope_base = 1e6f,
     .norm_eps = 1e-6f, .tied = true, .qkv_bias = true, .vocab = V_QWEN25},
    {.name = "qwen2.5-3b", .source = "Qwen/Qwen2.5-3B-Instruct", .arch = "qwen2",
     .general_name = "Qwen2.5 3B Instruct", .size_label = "3B", .n_embd = 2048, .n_ff = 11008, .n_layer = 36,
     .n_head = 16, .n_head_kv = 2, .head_dim = 128, .n_vocab = 151936, .n_ctx_train = 32768, .rope_base = 1e6f,
     .norm_eps = 1e-6f, .tied = true, .qkv_bias = true, .vocab = V_QWEN25},
    {.name = "llama3.2-1b", .source = "meta-llama/Llama-3.2-1B-Instruct", .arch = "llama",
     .general_name = "Llama 3.2 1B Instruct", .size_label = "1B", .n_embd = 2048, .n_ff = 8192, .n_layer = 16,
     .n_head = 32, .n_head_kv = 8, .head_dim = 64, .n_vocab = 128256, .n_ctx_train = 131072, .rope_base = 500000.0f,
     .norm_eps = 1e-5f, .tied = true, .head_dim_keys = true, .rope_factor = 32.0f, .rope_low_freq_factor = 1.0f,
     .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192, .vocab = V_LLAMA3},
    {.name = "llama3.2-3b", .source = "meta-llama/Llama-3.2-3B-Instruct", .arch = "llama",
     .general_name = "Llama 3.2 3B Instruct", .size_label = "3B", .n_embd = 3072, .n_ff = 8192, .n_layer = 28,
     .n_head = 24, .n_head_kv = 8, .head_dim = 128, .n_vocab = 128256, .n_ctx_train = 131072, .rope_base = 500000.0f,
     .norm_eps = 1e-5f, .tied = true, .head_dim_keys = true, .rope_factor = 32.0f, .rope_low_freq_factor = 1.0f,
     .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192, .vocab = V_LLAMA3},
    {.name = "smollm2-360m", .source = "HuggingFaceTB/SmolLM2-360M-Instruct", .arch = "llama",
     .general_name = "SmolLM2 360M Instruct", .size_label = "360M", .n_embd = 960, .n_ff = 2560, .n_layer = 32,
     .n_head = 15, .n_head_kv = 5, .head_dim = 64, .n_vocab = 49152, .n_ctx_train = 8192, .rope_base = 100000.0f,
     .norm_eps = 1e-5f, .tied = true, .vocab = V_SMOLLM2},
    {.name = "smollm2-1.7b", .source = "HuggingFaceTB/SmolLM2-1.7B-Instruct", .arch = "llama",
     .general_name = "SmolLM2 1.7B Instruct", .size_label = "1.7B", .n_embd = 2048, .n_ff = 8192, .n_layer = 24,
     .n_head = 32, .n_head_kv = 32, .head_dim = 64, .n_vocab = 49152, .n_ctx_train = 8192, .rope_base = 130000.0f,
     .norm_eps = 1e-5f, .tied = true, .vocab = V_SMOLLM2},
    {.name = "gemma2-2b", .source = "google/gemma-2-2b-it", .arch = "gemma2", .general_name = "Gemma 2 2b It",
     .size_label = "2.6B", .n_embd = 2304, .n_ff = 9216, .n_layer = 26, .n_head = 8, .n_head_kv = 4,
     .head_dim = 256, .n_vocab = 256000, .n_ctx_train = 8192, .rope_base = 10000.0f, .norm_eps = 1e-6f,
     .tied = true, .head_dim_keys = true, .attn_softcap = 50.0f, .final_softcap = 30.0f, .sliding_window = 4096,
     .vocab = V_GEMMA2},
    {.name = "phi3-mini", .source = "microsoft/Phi-3-mini-4k-instruct", .arch = "phi3", .general_name = "Phi3",
     .size_label = "3.8B", .n_embd = 3072, .n_ff = 8192, .n_layer = 32, .n_head = 32, .n_head_kv = 32,
     .head_dim = 96, .n_vocab = 32064, .n_ctx_train = 4096, .rope_base = 10000.0f, .norm_eps = 1e-5f,
     .tied = false, .fused = true, .sliding_window = 2047, .rope_orig_ctx = 4096, .vocab = V_PHI3},
};

const hk_shape *hk_shape_at(size_t i)
{
    return i < N_OF(SHAPES) ? &SHAPES[i] : NULL;
}

const hk_shape *hk_shape_find(const char *name)
{
    for (size_t i = 0; i < N_OF(SHAPES); i++)
        if (strcasecmp(SHAPES[i].name, name) == 0)
            return &SHAPES[i];
    return NULL;
}

hk_mkmodel_params hk_mkmodel_default_params(void)
{
    return (hk_mkmodel_params){.shape = "qwen2.5-0.5b", .ftype = "Q4_0", .n_layer = 0, .seed = 42, .n_threads = 0};
}

/* ---------------------------------------------------------------- the vocabulary */

/* The texts, types and scores of a synthetic vocabulary of n tokens. */
typedef struct vocab {
    int32_t n;
    char **text;        /* n pointers into pool */
    char *pool;
    int32_t *type;
    float *score;       /* SentencePiece only */
    char **merges;      /* BPE only: "a b" strings, in rank order, pointers into mpool */
    char *mpool;
    int32_t n_merges;
} vocab;

static void vocab_free(vocab *v)
{
    free(v->text);
    free(v->pool);
    free(v->type);
    free(v->score);
    free(v->merges);
    free(v->mpool);
}

/* GPT-2's bytes_to_unicode: the character byte b stands for in a
 * byte-level BPE vocabulary, in the order those vocabularies list them
 * (printable bytes first). */
static void byte_alphabet(uint32_t order_byte[256], uint32_t cp_of[256])
{
    int n = 0, extra = 0;
    for (uint32_t b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            order_byte[n++] = b;
            cp_of[b] = b;
        }
    for (uint32_t b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            order_byte[n++] = b;
            cp_of[b] = 256 + (uint32_t)extra++;
        }
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

enum { MAX_TOKEN_TEXT = 48 };

/* Specials and fillers at their real ids, byte tokens at byte_base, then
 * for the remaining ids in order: a space (Ġ / ▁) before each printable
 * ASCII character, every pair of printable characters (with the merges
 * that build them, so BPE has work to do), and unique filler names. */
static int vocab_build(vocab *v, const vocab_spec *vs, int32_t n, hk_error *err)
{
    const bool bpe = strcmp(vs->model, "gpt2") == 0;
    memset(v, 0, sizeof *v);
    v->n = n;
    v->text = calloc((size_t)n, sizeof *v->text);
    v->pool = malloc((size_t)n * MAX_TOKEN_TEXT);
    v->type = calloc((size_t)n, sizeof *v->type);
    v->score = bpe ? NULL : calloc((size_t)n, sizeof *v->score);
    enum { N_PRINT = '~' - '!' + 1, MAX_MERGES = N_PRINT + N_PRINT * N_PRINT };
    v->merges = bpe ? calloc(MAX_MERGES, sizeof *v->merges) : NULL;
    v->mpool = bpe ? malloc((size_t)MAX_MERGES * 8) : NULL;
    if (!v->text || !v->pool || !v->type || (!bpe && !v->score) || (bpe && (!v->merges || !v->mpool)))
        return hk_fail(err, "out of memory for a vocabulary of %d tokens", n);
    char *slot;
#define SLOT(i) (slot = v->pool + (size_t)(i) * MAX_TOKEN_TEXT, v->text[i] = slot, slot)
    for (size_t i = 0; i < vs->n_specials; i++) {
        const special *s = &vs->specials[i];
        if (s->id >= n)
            continue;
        snprintf(SLOT(s->id), MAX_TOKEN_TEXT, "%s", s->text);
        v->type[s->id] = s->type;
    }
    for (size_t i = 0; i < vs->n_fillers; i++)
        for (int32_t id = vs->fillers[i].first; id <= vs->fillers[i].last && id < n; id++) {
            snprintf(SLOT(id), MAX_TOKEN_TEXT, vs->fillers[i].fmt, id + vs->fillers[i].offset);
            v->type[id] = vs->fillers[i].type;
        }
    uint32_t order_byte[256], cp_of[256];
    byte_alphabet(order_byte, cp_of);
    for (int32_t b = 0; b < 256 && vs->byte_base + b < n; b++) {
        const int32_t id = vs->byte_base + b;
        if (bpe) {
            char *t = SLOT(id);
            t[utf8_put(t, cp_of[order_byte[b]])] = 0;
            v->type[id] = TT_NORMAL;
        } else {
            snprintf(SLOT(id), MAX_TOKEN_TEXT, "<0x%02X>", (unsigned)b);
            v->type[id] = TT_BYTE;
        }
    }
    /* the space marker: Ġ (the byte alphabet's space) or ▁ (SentencePiece) */
    const char *space = bpe ? "\xc4\xa0" : "\xe2\x96\x81";
    char *mp = v->mpool;
    int32_t k = 0; /* synthetic tokens made so far */
    for (int32_t id = 0; id < n; id++) {
        if (v->text[id])
            continue;
        char *t = SLOT(id);
        if (k < MAX_MERGES) {
            char a, b = 0;
            if (k < N_PRINT) {
                a = (char)('!' + k);
                snprintf(t, MAX_TOKEN_TEXT, "%s%c", space, a);
                if (bpe)
                    snprintf(mp, 8, "%s %c", space, a);
            } else {
                a = (char)('!' + (k - N_PRINT) / N_PRINT);
                b = (char)('!' + (k - N_PRINT) % N_PRINT);
                snprintf(t, MAX_TOKEN_TEXT, "%c%c", a, b);
                if (bpe)
                    snprintf(mp, 8, "%c %c", a, b);
            }
            if (bpe) {
                v->merges[v->n_merges++] = mp;
                mp += 8;
            }
        } else {
            snprintf(t, MAX_TOKEN_TEXT, "[SYN%d]", (int)id);
        }
        v->type[id] = TT_NORMAL;
        if (v->score)
            v->score[id] = -(float)k; /* earlier pieces merge first */
        k++;
    }
#undef SLOT
    return 0;
}

/* ---------------------------------------------------------------- tensors */

typedef struct tensor_list {
    hk_quant_tensor *t;
    size_t n, cap;
    char *names;        /* n names of up to NAME_LEN bytes */
} tensor_list;

enum { NAME_LEN = 64 };

static int add_tensor(tensor_list *L, const char *name, int64_t ne0, int64_t ne1)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        hk_quant_tensor *t = realloc(L->t, cap * sizeof *t);
        if (!t)
            return -1;
        L->t = t;
        char *names = realloc(L->names, cap * NAME_LEN);
        if (!names)
            return -1;
        /* the names moved: re-point the tensors at them (tensor i's name is
         * slot i until the list is reordered, after the last add) */
        for (size_t i = 0; i < L->n; i++)
            L->t[i].name = names + i * NAME_LEN;
        L->names = names;
        L->cap = cap;
    }
    char *dst = L->names + L->n * NAME_LEN;
    snprintf(dst, NAME_LEN, "%s", name);
    L->t[L->n++] = (hk_quant_tensor){
        .name = dst, .n_dims = ne1 > 1 ? 2 : 1, .ne = {ne0, ne1, 1, 1}, .src_type = HK_TYPE_F32};
    return 0;
}

/* The tensors llama.cpp's converter writes for the shape (ggml order:
 * ne0 is the input size). */
static int build_tensors(tensor_list *L, const hk_shape *s, int32_t n_layer)
{
    const int64_t E = s->n_embd, F = s->n_ff, V = s->n_vocab;
    const int64_t nq = (int64_t)s->n_head * s->head_dim, nkv = (int64_t)s->n_head_kv * s->head_dim;
    const bool gemma = strcmp(s->arch, "gemma2") == 0;
    int rc = add_tensor(L, "token_embd.weight", E, V);
    rc |= add_tensor(L, "output_norm.weight", E, 1);
    if (!s->tied)
        rc |= add_tensor(L, "output.weight", E, V);
    if (s->rope_factor > 0)
        rc |= add_tensor(L, "rope_freqs.weight", s->head_dim / 2, 1);
    char name[NAME_LEN];
    /* one statement each: the name buffer is shared, so no two may be in flight */
#define LT(suffix, ne0, ne1)                                           \
    do {                                                               \
        snprintf(name, sizeof name, "blk.%d." suffix, (int)il);        \
        rc |= add_tensor(L, name, ne0, ne1);                           \
    } while (0)
    for (int32_t il = 0; il < n_layer; il++) {
        LT("attn_norm.weight", E, 1);
        if (s->fused) {
            LT("attn_qkv.weight", E, nq + 2 * nkv);
        } else {
            LT("attn_q.weight", E, nq);
            LT("attn_k.weight", E, nkv);
            LT("attn_v.weight", E, nkv);
        }
        if (s->qkv_bias) {
            LT("attn_q.bias", nq, 1);
            LT("attn_k.bias", nkv, 1);
            LT("attn_v.bias", nkv, 1);
        }
        LT("attn_output.weight", nq, E);
        if (gemma)
            LT("post_attention_norm.weight", E, 1);
        LT("ffn_norm.weight", E, 1);
        if (s->fused) {
            LT("ffn_up.weight", E, 2 * F);
        } else {
            LT("ffn_gate.weight", E, F);
            LT("ffn_up.weight", E, F);
        }
        LT("ffn_down.weight", F, E);
        if (gemma)
            LT("post_ffw_norm.weight", E, 1);
    }
#undef LT
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- values */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* n values of mean + sd * (approximately normal): the sum of four 16-bit
 * uniforms (Irwin-Hall, bell-shaped, bounded, so no outlier can blow up a
 * block scale).  The uniforms come from RNG_LANES xoshiro128++ generators
 * run side by side, seeded from the row's state by splitmix64: each step of
 * all lanes gives RNG_LANES 32-bit words, and value j of the step sums the
 * halves of words j and j + RNG_LANES / 2.  Lane-wise adds, xors and shifts
 * only, so the loops vectorize (SSE2 everywhere, AVX2 or AVX-512 where the
 * CPU has them) and every variant computes the same integers.  The variants
 * do one float operation, the multiply by the scale (a conversion and one
 * multiply cannot be fused); the mean is added after, by code compiled once,
 * so the values do not depend on which variant runs.  The stream depends
 * only on the state, so rows come out the same whatever thread makes them. */
enum { RNG_LANES = 16, RNG_STEP = RNG_LANES / 2 };

static inline __attribute__((always_inline)) uint32_t rotl32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

/* the sum of the four uniforms has mean 4 * 32767.5 and standard deviation
 * 65536 / sqrt(3) */
#define RNG_SUM_MEAN 131070
#define RNG_SUM_SD 37837.23f

static inline __attribute__((always_inline)) void random_row_body(float *dst, int64_t n, uint64_t state, float scale)
{
    uint32_t s0[RNG_LANES], s1[RNG_LANES], s2[RNG_LANES], s3[RNG_LANES];
    for (int l = 0; l < RNG_LANES; l++) {
        const uint64_t a = splitmix64(&state), b = splitmix64(&state);
        s0[l] = (uint32_t)a;
        s1[l] = (uint32_t)(a >> 32);
        s2[l] = (uint32_t)b;
        s3[l] = (uint32_t)(b >> 32) | 1; /* never the all-zero state */
    }
    for (int64_t i = 0; i < n; i += RNG_STEP) {
        uint32_t w[RNG_LANES];
        for (int l = 0; l < RNG_LANES; l++) {
            w[l] = rotl32(s0[l] + s3[l], 7) + s0[l];
            const uint32_t t = s1[l] << 9;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = rotl32(s3[l], 11);
        }
        float v[RNG_STEP];
        for (int j = 0; j < RNG_STEP; j++) {
            const uint32_t a = w[j], b = w[j + RNG_STEP];
            const int32_t sum = (int32_t)((a & 0xffff) + (a >> 16) + (b & 0xffff) + (b >> 16));
            v[j] = (float)(sum - RNG_SUM_MEAN) * scale;
        }
        if (n - i >= RNG_STEP)
            memcpy(dst + i, v, sizeof v);
        else
            memcpy(dst + i, v, (size_t)(n - i) * sizeof(float));
    }
}

static void random_row_generic(float *dst, int64_t n, uint64_t state, float scale)
{
    random_row_body(dst, n, state, scale);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void random_row_avx2(float *dst, int64_t n, uint64_t state, float scale)
{
    random_row_body(dst, n, state, scale);
}

__attribute__((target("avx512f"))) static void random_row_avx512(float *dst, int64_t n, uint64_t state, float scale)
{
    random_row_body(dst, n, state, scale);
}
#endif

typedef void (*random_row_fn)(float *dst, int64_t n, uint64_t state, float scale);

static random_row_fn pick_random_row(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        return random_row_avx512;
    if (__builtin_cpu_supports("avx2"))
        return random_row_avx2;
#endif
    return random_row_generic;
}

static void random_row(random_row_fn fn, float *dst, int64_t n, uint64_t state, float mean, float sd)
{
    fn(dst, n, state, sd / RNG_SUM_SD);
    if (mean != 0.0f)
        for (int64_t i = 0; i < n; i++)
            dst[i] += mean;
}

/* Llama 3.1's frequency factors (the converter's generate_extra_tensors for
 * rope_type "llama3"): 1 for short wavelengths, `factor` for long ones, a
 * smooth blend between. */
static void llama3_rope_factors(const hk_shape *s, float *out)
{
    const int dim = s->head_dim;
    const double low_wavelen = s->rope_orig_ctx / s->rope_low_freq_factor;
    const double high_wavelen = s->rope_orig_ctx / s->rope_high_freq_factor;
    for (int i = 0; i < dim / 2; i++) {
        const double freq = 1.0 / pow(s->rope_base, (double)(2 * i) / dim);
        const double wavelen = 2 * M_PI / freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = s->rope_factor;
        } else {
            const double smooth = (s->rope_orig_ctx / wavelen - s->rope_low_freq_factor) /
                                  (s->rope_high_freq_factor - s->rope_low_freq_factor);
            f = 1.0 / ((1 - smooth) / s->rope_factor + smooth);
        }
        out[i] = (float)f;
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

typedef struct job {
    const hk_shape *shape;
    const hk_quant_tensor *t; /* in file order */
    size_t n;
    uint64_t seed;
    int n_threads;
} job;

typedef struct row_task {
    const job *jb;
    const hk_quant_tensor *t;
    uint8_t *dst;
    int64_t row0, row1;
    bool oom;
} row_task;

static void *make_rows(void *arg)
{
    row_task *rt = arg;
    const hk_quant_tensor *t = rt->t;
    const int64_t n = t->ne[0];
    const size_t row_bytes = hk_row_size(t->type, n);
    const bool direct = t->type == HK_TYPE_F32;
    float *tmp = direct ? NULL : malloc((size_t)n * sizeof(float));
    if (!direct && !tmp) {
        rt->oom = true;
        return NULL;
    }
    const uint64_t base = rt->jb->seed * 0x9e3779b97f4a7c15ULL ^ fnv1a(t->name);
    const random_row_fn fn = pick_random_row();
    /* norms multiply the signal: keep them near 1, as trained models have them */
    const bool norm = ends_with(t->name, "norm.weight");
    for (int64_t r = rt->row0; r < rt->row1; r++) {
        float *x = direct ? (float *)(void *)(rt->dst + (size_t)r * row_bytes) : tmp;
        uint64_t state = base ^ ((uint64_t)r * 0xd1b54a32d192ed03ULL);
        splitmix64(&state);
        random_row(fn, x, n, state, norm ? 1.0f : 0.0f, 0.02f);
        if (!direct)
            hk_quantize_row_ref(t->type, x, rt->dst + (size_t)r * row_bytes, n);
    }
    free(tmp);
    return NULL;
}

static int produce(void *user, uint64_t idx, void *dst, size_t nbytes, hk_error *err)
{
    const job *jb = user;
    if (idx >= jb->n)
        return hk_fail(err, "internal error: tensor %llu out of range", (unsigned long long)idx);
    const hk_quant_tensor *t = &jb->t[idx];
    const int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (hk_row_size(t->type, t->ne[0]) * (size_t)rows != nbytes)
        return hk_fail(err, "internal error: tensor '%s' size mismatch", t->name);
    if (strcmp(t->name, "rope_freqs.weight") == 0) {
        llama3_rope_factors(jb->shape, dst);
        return 0;
    }
    enum { MAX_THREADS = 64 };
    int nt = jb->n_threads < MAX_THREADS ? jb->n_threads : MAX_THREADS;
    /* small tensors (norms, biases) are not worth a thread */
    if ((int64_t)nbytes < ((int64_t)1 << 16) || rows < nt)
        nt = 1;
    row_task tasks[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int i = 0; i < nt; i++) {
        tasks[i] = (row_task){jb, t, dst, rows * i / nt, rows * (i + 1) / nt, false};
        /* the caller takes the last share, and the share of any thread that
         * could not be started */
        if (i < nt - 1)
            started[i] = pthread_create(&tids[i], NULL, make_rows, &tasks[i]) == 0;
    }
    for (int i = 0; i < nt; i++)
        if (!started[i])
            make_rows(&tasks[i]);
    bool oom = false;
    for (int i = 0; i < nt; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        oom |= tasks[i].oom;
    }
    return oom ? hk_fail(err, "out of memory making tensor '%s'", t->name) : 0;
}

/* ---------------------------------------------------------------- the file */

static int add_keys(hk_gguf_writer *w, const hk_shape *s, int32_t n_layer, int ftype, const vocab *v)
{
    const vocab_spec *vs = &VOCABS[s->vocab];
    char key[128];
    int rc = 0;
#define AK(suffix) (snprintf(key, sizeof key, "%s." suffix, s->arch), key)
    rc |= hk_gguf_writer_add_str(w, "general.architecture", s->arch);
    rc |= hk_gguf_writer_add_str(w, "general.type", "model");
    rc |= hk_gguf_writer_add_str(w, "general.name", s->general_name);
    rc |= hk_gguf_writer_add_str(w, "general.size_label", s->size_label);
    rc |= hk_gguf_writer_add_u32(w, AK("context_length"), (uint32_t)s->n_ctx_train);
    if (s->fused)
        rc |= hk_gguf_writer_add_u32(w, AK("rope.scaling.original_context_length"), (uint32_t)s->rope_orig_ctx);
    rc |= hk_gguf_writer_add_u32(w, AK("embedding_length"), (uint32_t)s->n_embd);
    rc |= hk_gguf_writer_add_u32(w, AK("feed_forward_length"), (uint32_t)s->n_ff);
    rc |= hk_gguf_writer_add_u32(w, AK("block_count"), (uint32_t)n_layer);
    rc |= hk_gguf_writer_add_u32(w, AK("attention.head_count"), (uint32_t)s->n_head);
    rc |= hk_gguf_writer_add_u32(w, AK("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    if (strcmp(s->arch, "gemma2") != 0) /* Gemma 2's converter leaves the default 10000 implicit */
        rc |= hk_gguf_writer_add_f32(w, AK("rope.freq_base"), s->rope_base);
    rc |= hk_gguf_writer_add_f32(w, AK("attention.layer_norm_rms_epsilon"), s->norm_eps);
    if (s->head_dim_keys) {
        rc |= hk_gguf_writer_add_u32(w, AK("attention.key_length"), (uint32_t)s->head_dim);
        rc |= hk_gguf_writer_add_u32(w, AK("attention.value_length"), (uint32_t)s->head_dim);
    }
    if (strcmp(s->arch, "llama") == 0 || s->fused) {
        if (strcmp(s->arch, "llama") == 0)
            rc |= hk_gguf_writer_add_u32(w, AK("vocab_size"), (uint32_t)s->n_vocab);
        rc |= hk_gguf_writer_add_u32(w, AK("rope.dimension_count"), (uint32_t)s->head_dim);
    }
    if (s->attn_softcap > 0) {
        rc |= hk_gguf_writer_add_f32(w, AK("attn_logit_softcapping"), s->attn_softcap);
        rc |= hk_gguf_writer_add_f32(w, AK("final_logit_softcapping"), s->final_softcap);
    }
    if (s->sliding_window > 0)
        rc |= hk_gguf_writer_add_u32(w, AK("attention.sliding_window"), (uint32_t)s->sliding_window);
#undef AK
    rc |= hk_gguf_writer_add_str(w, "tokenizer.ggml.model", vs->model);
    rc |= hk_gguf_writer_add_str(w, "tokenizer.ggml.pre", vs->pre);
    rc |= hk_gguf_writer_add_array(w, "tokenizer.ggml.tokens", HK_GGUF_STRING, v->text, (uint64_t)v->n);
    if (v->score)
        rc |= hk_gguf_writer_add_array(w, "tokenizer.ggml.scores", HK_GGUF_FLOAT32, v->score, (uint64_t)v->n);
    rc |= hk_gguf_writer_add_array(w, "tokenizer.ggml.token_type", HK_GGUF_INT32, v->type, (uint64_t)v->n);
    if (v->merges)
        rc |= hk_gguf_writer_add_array(w, "tokenizer.ggml.merges", HK_GGUF_STRING, v->merges, (uint64_t)v->n_merges);
    const struct {
        const char *key;
        int32_t id;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", vs->bos},
        {"tokenizer.ggml.eos_token_id", vs->eos},
        {"tokenizer.ggml.unknown_token_id", vs->unk},
        {"tokenizer.ggml.padding_token_id", vs->pad},
    };
    for (size_t i = 0; i < N_OF(ids); i++)
        if (ids[i].id >= 0)
            rc |= hk_gguf_writer_add_u32(w, ids[i].key, (uint32_t)ids[i].id);
    if (vs->add_bos >= 0)
        rc |= hk_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", vs->add_bos);
    if (vs->add_eos >= 0)
        rc |= hk_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", vs->add_eos);
    if (vs->add_space_prefix >= 0)
        rc |= hk_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", vs->add_space_prefix);
    rc |= hk_gguf_writer_add_str(w, "tokenizer.chat_template", vs->chat_template);
    /* last, as llama-quantize appends them */
    rc |= hk_gguf_writer_add_u32(w, "general.quantization_version", 2);
    rc |= hk_gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype);
    return rc ? -1 : 0;
}

int hk_mkmodel_write(const char *path, const hk_mkmodel_params *p, hk_error *err)
{
    const hk_shape *s = hk_shape_find(p->shape);
    if (!s) {
        char names[512] = "";
        for (size_t i = 0; i < N_OF(SHAPES); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", SHAPES[i].name);
        return hk_fail(err, "unknown shape '%s' (%s)", p->shape, names);
    }
    const int ftype = hk_ftype_from_name(p->ftype);
    if (ftype < 0)
        return hk_fail(err, "unknown file type '%s' (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, "
                            "Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K)",
                       p->ftype);
    if (p->n_layer < 0 || p->n_layer > 4096)
        return hk_fail(err, "layer count %d is out of range [1, 4096]", p->n_layer);
    const int32_t n_layer = p->n_layer ? p->n_layer : s->n_layer;
    int n_threads = p->n_threads;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }

    int rc = -1;
    tensor_list L = {0};
    vocab v = {0};
    hk_gguf_writer *w = NULL;
    if (build_tensors(&L, s, n_layer)) {
        hk_fail(err, "out of memory");
        goto done;
    }
    if (hk_quantize_choose_types(s->arch, (uint32_t)n_layer, (uint32_t)s->n_head, (uint32_t)s->n_head_kv, ftype, L.t,
                                 L.n, err))
        goto done;
    for (size_t i = 0; i < L.n; i++)
        if (!hk_can_quantize(L.t[i].type)) {
            hk_fail(err, "%s: tensor '%s' would be %s, which hark cannot write", s->name, L.t[i].name,
                    hk_type_name(L.t[i].type));
            goto done;
        }
    if (vocab_build(&v, &VOCABS[s->vocab], s->n_vocab, err))
        goto done;
    w = hk_gguf_writer_new();
    if (!w || add_keys(w, s, n_layer, ftype, &v)) {
        hk_fail(err, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < L.n; i++)
        if (hk_gguf_writer_add_tensor(w, L.t[i].name, L.t[i].type, L.t[i].n_dims, L.t[i].ne, NULL)) {
            hk_fail(err, "%s: cannot add tensor '%s'", path, L.t[i].name);
            goto done;
        }
    job jb = {s, L.t, L.n, p->seed, n_threads};
    rc = hk_gguf_writer_write(w, path, produce, &jb, err);
done:
    if (w)
        hk_gguf_writer_free(w);
    vocab_free(&v);
    free(L.t);
    free(L.names);
    return rc;
}
