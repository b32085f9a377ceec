/* Chat template tests.  The reference cases (template strings and expected
 * outputs) are transcribed from llama.cpp's tests/test-chat-template.cpp,
 * whose expected_output is what llama.cpp's built-in formatter produces for
 * the conversation below; C and C++ string literals share their escapes, so
 * the literals are as they appear there. */
#include "chat.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const hk_chat_msg conv[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
#define N_CONV (sizeof conv / sizeof conv[0])

/* granite's tool-call case appends these */
static const hk_chat_msg conv_tools[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
    {"user", "What is the weather?"},
    {"assistant_tool_call", "[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"NYC\"}}]"},
    {"tool_response", "{\"temperature\": 72}"},
};

typedef struct ref_case {
    const char *name;
    const char *tmpl;
    hk_chat_kind kind;
    const char *expected;
    bool tools; /* format conv_tools instead of conv */
} ref_case;

static const ref_case refs[] = {
    {"teknium/OpenHermes-2.5-Mistral-7B",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     HK_CHAT_CHATML,
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n",
     false},
    {"mistralai/Mistral-7B-Instruct-v0.2 (old, no system prompt)",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
     HK_CHAT_LLAMA2,
     "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]",
     false},
    {"TheBloke/FusionNet_34Bx2_MoE-AWQ",
     "{%- for idx in range(0, messages|length) -%}\n{%- if messages[idx]['role'] == 'user' -%}\n{%- if idx > 1 -%}\n{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}\n{%- else -%}\n{{- messages[idx]['content'] + ' [/INST]' -}}\n{%- endif -%}\n{% elif messages[idx]['role'] == 'system' %}\n{{- '[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}\n{%- elif messages[idx]['role'] == 'assistant' -%}\n{{- ' '  + messages[idx]['content'] + ' ' + eos_token -}}\n{% endif %}\n{% endfor %}",
     HK_CHAT_LLAMA2_SYS_BOS,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]",
     false},
    {"bofenghuang/vigogne-2-70b-chat",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif true == true and not '<<SYS>>' in messages[0]['content'] %}{% set loop_messages = messages %}{% set system_message = 'Vous êtes Vigogne, un assistant IA créé par Zaion Lab. Vous suivez extrêmement bien les instructions. Aidez autant que vous le pouvez.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
     HK_CHAT_LLAMA2_SYS_STRIP,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I am an assistant</s>[INST] Another question [/INST]",
     false},
    {"mlabonne/AlphaMonarch-7B",
     "{% for message in messages %}{{bos_token + message['role'] + '\\n' + message['content'] + eos_token + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ bos_token + 'assistant\\n' }}{% endif %}",
     HK_CHAT_MONARCH,
     "system\nYou are a helpful assistant</s>\n<s>user\nHello</s>\n<s>assistant\nHi there</s>\n<s>user\nWho are you</s>\n<s>assistant\n   I am an assistant   </s>\n<s>user\nAnother question</s>\n<s>assistant\n",
     false},
    {"google/gemma-7b-it",
     "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
     HK_CHAT_GEMMA,
     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n",
     false},
    {"OrionStarAI/Orion-14B-Chat",
     "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nAssistant: ' + eos_token }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
     HK_CHAT_ORION,
     "Human: You are a helpful assistant\n\nHello\n\nAssistant: </s>Hi there</s>Human: Who are you\n\nAssistant: </s>   I am an assistant   </s>Human: Another question\n\nAssistant: </s>",
     false},
    {"openchat/openchat-3.5-0106",
     "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}{% endfor %}{% if add_generation_prompt %}{{ 'GPT4 Correct Assistant:' }}{% endif %}",
     HK_CHAT_OPENCHAT,
     "You are a helpful assistant<|end_of_turn|>GPT4 Correct User: Hello<|end_of_turn|>GPT4 Correct Assistant: Hi there<|end_of_turn|>GPT4 Correct User: Who are you<|end_of_turn|>GPT4 Correct Assistant:    I am an assistant   <|end_of_turn|>GPT4 Correct User: Another question<|end_of_turn|>GPT4 Correct Assistant:",
     false},
    {"deepseek-ai/deepseek-coder-33b-instruct",
     "{% if not add_generation_prompt is defined %}\n{% set add_generation_prompt = false %}\n{% endif %}\n{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n    {%- endif -%}\n{%- endfor -%}\n{{bos_token}}{%- if not ns.found -%}\n{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\\n'}}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + '\\n'}}\n        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}\n{{'### Response:'}}\n{% endif %}",
     HK_CHAT_DEEPSEEK,
     "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### Instruction:\nWho are you\n### Response:\n   I am an assistant   \n<|EOT|>\n### Instruction:\nAnother question\n### Response:\n",
     false},
    {"eachadea/vicuna-13b-1.1",
     "{%- for message in messages %}{%- if message['role'] == 'system' -%}{{- '' + message['content'] + '\n\n' -}}{%- else -%}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + '\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\n' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}{{-'ASSISTANT:'-}}{%- endif -%}",
     HK_CHAT_VICUNA,
     "You are a helpful assistant\n\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\nASSISTANT:    I am an assistant   </s>\nUSER: Another question\nASSISTANT:",
     false},
    {"Orca-Vicuna",
     "{%- for message in messages %}{%- if message['role'] == 'system' -%}{{-'SYSTEM: ' + message['content'] + '\n' -}}{%- else -%}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + '\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\n' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}{{-'ASSISTANT:'-}}{%- endif -%}",
     HK_CHAT_VICUNA_ORCA,
     "SYSTEM: You are a helpful assistant\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\nASSISTANT:    I am an assistant   </s>\nUSER: Another question\nASSISTANT:",
     false},
    {"CohereForAI/c4ai-command-r-plus",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif false == true %}{% set loop_messages = messages %}{% set system_message = 'You are Command-R, a brilliant, sophisticated, AI-assistant trained to assist human users by providing thorough responses. You are trained by Cohere.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% set content = message['content'] %}{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}",
     HK_CHAT_COMMAND_R,
     "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are you<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I am an assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Another question<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
     false},
    {"Llama-3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}",
     HK_CHAT_LLAMA3,
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     false},
    {"Phi-3-mini",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
     HK_CHAT_PHI3,
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n",
     false},
    {"Phi-3-small",
     "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
     HK_CHAT_PHI3,
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n",
     false},
    {"Phi-3-medium",
     "{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
     HK_CHAT_PHI3,
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n",
     false},
    {"Phi-3-vision",
     "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{- '<|assistant|>\n' -}}{% endif %}",
     HK_CHAT_PHI3,
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n",
     false},
    {"ChatGLM3",
     "{% for message in messages %}{% if loop.first %}[gMASK]sop<|{{ message['role'] }}|>\n {{ message['content'] }}{% else %}<|{{ message['role'] }}|>\n {{ message['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
     HK_CHAT_CHATGLM3,
     "[gMASK]sop<|system|>\n You are a helpful assistant<|user|>\n Hello<|assistant|>\n Hi there<|user|>\n Who are you<|assistant|>\n    I am an assistant   <|user|>\n Another question<|assistant|>",
     false},
    {"ChatGLM4",
     "[gMASK]<sop>{% for item in messages %}{% if item['tools'] is defined %}<|system|>\n你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{% set tools = item['tools'] %}{% for tool in tools %}{% if tool['type'] == 'function' %}\n\n## {{ tool['function']['name'] }}\n\n{{ tool['function'] | tojson(indent=4) }}\n......{% endif %}{% endfor %}{% endif %}{% if item['content'] %}<|{{ item['role'] }}|>{{ item['metadata'] }}\n{{ item['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
     HK_CHAT_CHATGLM4,
     "[gMASK]<sop><|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there<|user|>\nWho are you<|assistant|>\n   I am an assistant   <|user|>\nAnother question<|assistant|>\n",
     false},
    {"GLMEdge",
     "{% for item in messages %}{% if item['role'] == 'system' %}<|system|>\n{{ item['content'] }}{% elif item['role'] == 'user' %}<|user|>\n{{ item['content'] }}{% elif item['role'] == 'assistant' %}<|assistant|>\n{{ item['content'] }}{% endif %}{% endfor %}<|assistant|>",
     HK_CHAT_GLMEDGE,
     "<|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there<|user|>\nWho are you<|assistant|>\n   I am an assistant   <|user|>\nAnother question<|assistant|>",
     false},
    {"MiniCPM-3B-OpenHermes-2.5-v2-GGUF",
     "{% for message in messages %}{% if message['role'] == 'user' %}{{'<用户>' + message['content'].strip() + '<AI>'}}{% else %}{{message['content'].strip()}}{% endif %}{% endfor %}",
     HK_CHAT_MINICPM,
     "You are a helpful assistant<用户>Hello<AI>Hi there<用户>Who are you<AI>I am an assistant<用户>Another question<AI>",
     false},
    {"DeepSeek-V2",
     "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
     HK_CHAT_DEEPSEEK2,
     "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there<｜end▁of▁sentence｜>User: Who are you\n\nAssistant:    I am an assistant   <｜end▁of▁sentence｜>User: Another question\n\nAssistant:",
     false},
    {"ibm-granite/granite-3.0-8b-instruct",
     "{%- if tools %}\n    {{- '<|start_of_role|>available_tools<|end_of_role|>\n' }}\n    {%- for tool in tools %}\n    {{- tool | tojson(indent=4) }}\n    {%- if not loop.last %}\n        {{- '\n\n' }}\n    {%- endif %}\n    {%- endfor %}\n    {{- '<|end_of_text|>\n' }}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n    {{- '<|start_of_role|>system<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'user' %}\n    {{- '<|start_of_role|>user<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'assistant' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>'  + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'assistant_tool_call' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|><|tool_call|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- elif message['role'] == 'tool_response' %}\n    {{- '<|start_of_role|>tool_response<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}\n    {%- endif %}\n    {%- if loop.last and add_generation_prompt %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>' }}\n    {%- endif %}\n{%- endfor %}",
     HK_CHAT_GRANITE,
     "<|start_of_role|>system<|end_of_role|>You are a helpful assistant<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>Hi there<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Who are you<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>   I am an assistant   <|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Another question<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
     false},
    {"mistralai/Mistral-7B-Instruct-v0.2 (mistralai 'v1' template with a system prompt)",
     "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
     HK_CHAT_MISTRAL_V1,
     " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]",
     false},
    {"Mistral-Large-Instruct-2407 (mistralai 'v3' template; modified to have system prompt at start)",
     "{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = messages[0][\"content\"] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n\n{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n{%- for message in loop_messages %}\n    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n            {{- raise_exception(\"After the optional system message, conversation roles must alternate user/assistant/user/assistant/...\") }}\n        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n    {%- endif %}\n{%- endfor %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n            {{- \"[AVAILABLE_TOOLS] [\" }}\n            {%- for tool in tools %}\n                {%- set tool = tool.function %}\n                {{- '{\"type\": \"function\", \"function\": {' }}\n                {%- for key, val in tool.items() if key != \"return\" %}\n                    {%- if val is string %}\n                        {{- '\"' + key + '\": \"' + val + '\"' }}\n                    {%- else %}\n                        {{- '\"' + key + '\": ' + val|tojson }}\n                    {%- endif %}\n                    {%- if not loop.last %}\n                        {{- \", \" }}\n                    {%- endif %}\n                {%- endfor %}\n                {{- \"}}\" }}\n                {%- if not loop.last %}\n                    {{- \", \" }}\n                {%- else %}\n                    {{- \"]\" }}\n                {%- endif %}\n            {%- endfor %}\n            {{- \"[/AVAILABLE_TOOLS]\" }}\n            {%- endif %}\n        {%- if loop.last and system_message is defined %}\n            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n        {%- else %}\n            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n    {%- elif message.tool_calls is defined and message.tool_calls is not none %}\n        {{- \"[TOOL_CALLS] [\" }}\n        {%- for tool_call in message.tool_calls %}\n            {%- set out = tool_call.function|tojson %}\n            {{- out[:-1] }}\n            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n            {%- endif %}\n            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n            {%- if not loop.last %}\n                {{- \", \" }}\n            {%- else %}\n                {{- \"]\" + eos_token }}\n            {%- endif %}\n        {%- endfor %}\n    {%- elif message[\"role\"] == \"assistant\" %}\n        {{- \" \" + message[\"content\"]|trim + eos_token}}\n    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n        {%- if message.content is defined and message.content.content is defined %}\n            {%- set content = message.content.content %}\n        {%- else %}\n            {%- set content = message.content %}\n        {%- endif %}\n        {{- '[TOOL_RESULTS] {\"content\": ' + content|string + \", \" }}\n        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n        {%- endif %}\n        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n    {%- else %}\n        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial optional system message!\") }}\n    {%- endif %}\n{%- endfor %}\n",
     HK_CHAT_MISTRAL_V3,
     "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] Another question[/INST]",
     false},
    {"Mistral-Nemo-Instruct-2407 (mistralai 'v3-tekken' template; modified to have system prompt at start)",
     "{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = messages[0][\"content\"] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n{%- set user_messages = loop_messages | selectattr(\"role\", \"equalto\", \"user\") | list %}\n\n{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}\n{%- set ns = namespace() %}\n{%- set ns.index = 0 %}\n{%- for message in loop_messages %}\n    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined and message.tool_calls is not none)) %}\n        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n            {{- raise_exception(\"After the optional system message, conversation roles must alternate user/assistant/user/assistant/...\") }}\n        {%- endif %}\n        {%- set ns.index = ns.index + 1 %}\n    {%- endif %}\n{%- endfor %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n            {{- \"[AVAILABLE_TOOLS][\" }}\n            {%- for tool in tools %}\n                {%- set tool = tool.function %}\n                {{- '{\"type\": \"function\", \"function\": {' }}\n                {%- for key, val in tool.items() if key != \"return\" %}\n                    {%- if val is string %}\n                        {{- '\"' + key + '\": \"' + val + '\"' }}\n                    {%- else %}\n                        {{- '\"' + key + '\": ' + val|tojson }}\n                    {%- endif %}\n                    {%- if not loop.last %}\n                        {{- \", \" }}\n                    {%- endif %}\n                {%- endfor %}\n                {{- \"}}\" }}\n                {%- if not loop.last %}\n                    {{- \", \" }}\n                {%- else %}\n                    {{- \"]\" }}\n                {%- endif %}\n            {%- endfor %}\n            {{- \"[/AVAILABLE_TOOLS]\" }}\n            {%- endif %}\n        {%- if loop.last and system_message is defined %}\n            {{- \"[INST]\" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n        {%- else %}\n            {{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n    {%- elif (message.tool_calls is defined and message.tool_calls is not none) %}\n        {{- \"[TOOL_CALLS][\" }}\n        {%- for tool_call in message.tool_calls %}\n            {%- set out = tool_call.function|tojson %}\n            {{- out[:-1] }}\n            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}\n                {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n            {%- endif %}\n            {{- ', \"id\": \"' + tool_call.id + '\"}' }}\n            {%- if not loop.last %}\n                {{- \", \" }}\n            {%- else %}\n                {{- \"]\" + eos_token }}\n            {%- endif %}\n        {%- endfor %}\n    {%- elif message[\"role\"] == \"assistant\" %}\n        {{- message[\"content\"] + eos_token}}\n    {%- elif message[\"role\"] == \"tool_results\" or message[\"role\"] == \"tool\" %}\n        {%- if message.content is defined and message.content.content is defined %}\n            {%- set content = message.content.content %}\n        {%- else %}\n            {%- set content = message.content %}\n        {%- endif %}\n        {{- '[TOOL_RESULTS]{\"content\": ' + content|string + \", \" }}\n        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}\n            {{- raise_exception(\"Tool call IDs should be alphanumeric strings with length 9!\") }}\n        {%- endif %}\n        {{- '\"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}\n    {%- else %}\n        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial optional system message!\") }}\n    {%- endif %}\n{%- endfor %}\n",
     HK_CHAT_MISTRAL_V3_TEKKEN,
     "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]",
     false},
    {"mistralai/Mistral-Large-Instruct-2411 (mistralai 'v7' template)",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}",
     HK_CHAT_MISTRAL_V7,
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]",
     false},
    {"ai-sage/GigaChat-20B-A3B-instruct",
     "{% if messages[0]['role'] == 'system' -%}\n    {%- set loop_messages = messages[1:] -%}\n    {%- set system_message = bos_token + messages[0]['content'] + additional_special_tokens[1] -%}\n{%- else -%}\n    {%- set loop_messages = messages -%}\n    {%- set system_message = bos_token + '' -%}\n{%- endif -%}\n{%- for message in loop_messages %}\n    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n    {% endif %}\n    \n    {%- if loop.index0 == 0 -%}\n        {{ system_message -}}\n    {%- endif -%}\n    {%- if message['role'] == 'user' -%}\n        {{ message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1] -}}\n        {{ 'available functions' + additional_special_tokens[0] + additional_special_tokens[2] + additional_special_tokens[3]  + additional_special_tokens[1] -}}\n    {%- endif -%}\n    {%- if message['role'] == 'assistant' -%}\n        {{ message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1] -}}\n    {%- endif -%}\n    {%- if loop.last and add_generation_prompt -%}\n        {{ 'assistant' + additional_special_tokens[0] -}}\n    {%- endif -%}\n{%- endfor %}",
     HK_CHAT_GIGACHAT,
     "<s>You are a helpful assistant<|message_sep|>user<|role_sep|>Hello<|message_sep|>available functions<|role_sep|>[]<|message_sep|>assistant<|role_sep|>Hi there<|message_sep|>user<|role_sep|>Who are you<|message_sep|>available functions<|role_sep|>[]<|message_sep|>assistant<|role_sep|>   I am an assistant   <|message_sep|>user<|role_sep|>Another question<|message_sep|>available functions<|role_sep|>[]<|message_sep|>assistant<|role_sep|>",
     false},
    {"Infinigence/Megrez-3B-Instruct",
     "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|role_start|>system<|role_end|>你是Megrez-3B-Instruct，将针对用户的问题给出详细的、积极的回答。<|turn_end|>' }}{% endif %}{{ '<|role_start|>' + message['role'] + '<|role_end|>' + message['content'] + '<|turn_end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|role_start|>assistant<|role_end|>' }}{% endif %}",
     HK_CHAT_MEGREZ,
     "<|role_start|>system<|role_end|>You are a helpful assistant<|turn_end|><|role_start|>user<|role_end|>Hello<|turn_end|><|role_start|>assistant<|role_end|>Hi there<|turn_end|><|role_start|>user<|role_end|>Who are you<|turn_end|><|role_start|>assistant<|role_end|>   I am an assistant   <|turn_end|><|role_start|>user<|role_end|>Another question<|turn_end|><|role_start|>assistant<|role_end|>",
     false},
    {"phi-4",
     "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|><|im_start|>assistant<|im_sep|>'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}",
     HK_CHAT_PHI4,
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|><|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|im_sep|>Who are you<|im_end|><|im_start|>assistant<|im_sep|>   I am an assistant   <|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|><|im_start|>assistant<|im_sep|>",
     false},
    {"yandex/YandexGPT-5-Lite-8B-instruct",
     "<s>{%- set names = {'assistant': ' Ассистент:', 'user': ' Пользователь:'} %}\n{%- set tools_prefix = 'Тебе доступны следующие функции:' %}\n{%- macro __render_tool(tool) %}\n    {%- set name = tool.function.name %}\n    {%- set description = tool.function.description|default('') %}\n    {%- set parameters = tool.function.parameters|tojson %}\n    {{- '\\n' }}function {{ '{' }}'name':'{{ name }}',\n    {%- if tool.function.description %}'description':'{{ description }}',{% endif %}\n'parameters':{{ parameters }}\n    {{- '}' }}\n{%- endmacro %}\n{%- macro __render_tools(tools) %}\n    {{- tools_prefix }}\n    {%- for tool in tools %}\n        {{- __render_tool(tool) }}\n    {%- endfor %}\n    {{- '\\n\\n' }}\n{%- endmacro %}\n{%- macro __render_tool_message(message) %}\n    {{- '\\n\\nРезультат вызова' }} {{ message.name }}: {{ message.content }} {{ '\\n\\n' }}\n{%- endmacro %}\n{%- if tools -%}\n    {{- __render_tools(tools) }}\n{%- endif -%}\n{%- macro __render_user_message(message) %}\n{{ names.user }} {{ message.content + '\\n\\n' }}\n{%- endmacro %}\n{%- macro __render_assistant_message(message) %}\n    {{- names.assistant }}\n    {%- set call = message['function_call'] %}\n    {%- if call %}\n        {{- '\\n[TOOL_CALL_START]' }}{{ call.name }}{{ '\\n' }}{{ call.arguments|tojson }}\n    {%- else %}\n        {{- ' ' + message.content + '\\n\\n' }}\n    {%- endif %}\n{%- endmacro %}\n{%- if not add_generation_prompt is defined %}\n{%- set add_generation_prompt = false %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if message['role'] == 'user' %}\n        {{- __render_user_message(message) }}\n    {%- endif %}\n    {%- if message.role == 'assistant' and not loop.last %}\n        {{- __render_assistant_message(message) }}\n    {%- endif %}\n    {%- if message.role == 'tool' %}\n        {{- __render_tool_message(message) }}\n    {%- endif %}\n    {%- if loop.last %}\n        {{- ' Ассистент:[SEP]' }}\n    {%- endif %}\n{%- endfor %}\n",
     HK_CHAT_YANDEX,
     " Пользователь: Hello\n\n Ассистент: Hi there\n\n Пользователь: Who are you\n\n Ассистент:    I am an assistant   \n\n Пользователь: Another question\n\n Ассистент:[SEP]",
     false},
    {"inclusionAI/Ling-lite",
     "{% for message in messages %}{% set role = message['role'] | lower %}{% if role == 'user' %}{% set role = 'HUMAN' %}{% endif %}{% set role = role | upper %}{{ '<role>' + role + '</role>' + message['content'] }}{% endfor %}{% if add_generation_prompt %}{{ '<role>ASSISTANT</role>' }}{% endif %}",
     HK_CHAT_BAILING,
     "<role>SYSTEM</role>You are a helpful assistant<role>HUMAN</role>Hello<role>ASSISTANT</role>Hi there<role>HUMAN</role>Who are you<role>ASSISTANT</role>   I am an assistant   <role>HUMAN</role>Another question<role>ASSISTANT</role>",
     false},
    {"ByteDance-Seed/Seed-OSS-36B-Instruct",
     "{# <seed:bos> #}{%- for message in messages %}{%- if message.role in [\"user\", \"system\"] %}{{ bos_token + message.role + \"\\n\" + message.content + eos_token }}{%- elif message.role == \"assistant\" %}{{ bos_token + message.role }}{%- if message.content is defined and message.content is string and message.content|trim|length > 0 %}{{ \"\\n\" + message.content|trim + eos_token }}{%- endif %}{%- else %}{{ bos_token + message.role + \"\\n\" + message.content + eos_token }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{ bos_token + \"assistant\\n\" }}{%- endif %}",
     HK_CHAT_SEED_OSS,
     "<seed:bos>system\nYou are a helpful assistant<seed:eos><seed:bos>user\nHello<seed:eos><seed:bos>assistant\nHi there<seed:eos><seed:bos>user\nWho are you<seed:eos><seed:bos>assistant\nI am an assistant<seed:eos><seed:bos>user\nAnother question<seed:eos><seed:bos>assistant\n",
     false},
    {"ibm-granite/granite-3.x (tool call)",
     "{%- for message in messages %}\n    {%- if message['role'] == 'assistant_tool_call' %}\n    {{- '<|start_of_role|>assistant<|end_of_role|><|tool_call|>' + message['content'] + '<|end_of_text|>\\n' }}\n    {%- else %}\n    {{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + message['content'] + '<|end_of_text|>\\n' }}\n    {%- endif %}\n    {%- if loop.last and add_generation_prompt %}\n    {{- '<|start_of_role|>assistant<|end_of_role|>' }}\n    {%- endif %}\n{%- endfor %}",
     HK_CHAT_GRANITE,
     "<|start_of_role|>system<|end_of_role|>You are a helpful assistant<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>Hi there<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Who are you<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>   I am an assistant   <|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Another question<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>What is the weather?<|end_of_text|>\n<|start_of_role|>assistant_tool_call<|end_of_role|><|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"NYC\"}}]<|end_of_text|>\n<|start_of_role|>tool_response<|end_of_role|>{\"temperature\": 72}<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>",
     true},
};

/* Families llama.cpp's test has no reference string for: expected text
 * worked out by hand from llm_chat_apply_template for the same
 * conversation. */
typedef struct derived_case {
    hk_chat_kind kind;
    const char *expected;
} derived_case;

static const derived_case derived[] = {
    {HK_CHAT_LLAMA2_SYS,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]"},
    {HK_CHAT_MISTRAL_V7_TEKKEN,
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]"},
    {HK_CHAT_ZEPHYR,
     "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n<|assistant|>\n   I am an assistant   <|endoftext|>\n<|user|>\nAnother question<|endoftext|>\n<|assistant|>\n"},
    {HK_CHAT_FALCON3,
     "<|system|>\nYou are a helpful assistant\n<|user|>\nHello\n<|assistant|>\nHi there\n<|user|>\nWho are you\n<|assistant|>\n   I am an assistant   \n<|user|>\nAnother question\n<|assistant|>\n"},
    {HK_CHAT_LLAMA4,
     "<|header_start|>system<|header_end|>\n\nYou are a helpful assistant<|eot|><|header_start|>user<|header_end|>\n\nHello<|eot|><|header_start|>assistant<|header_end|>\n\nHi there<|eot|><|header_start|>user<|header_end|>\n\nWho are you<|eot|><|header_start|>assistant<|header_end|>\n\nI am an assistant<|eot|><|header_start|>user<|header_end|>\n\nAnother question<|eot|><|header_start|>assistant<|header_end|>\n\n"},
    {HK_CHAT_SMOLVLM,
     "<|im_start|>You are a helpful assistant\n\nUser: Hello<end_of_utterance>\nAssistant: Hi there<end_of_utterance>\nUser: Who are you<end_of_utterance>\nAssistant:    I am an assistant   <end_of_utterance>\nUser: Another question<end_of_utterance>\nAssistant:"},
    {HK_CHAT_EXAONE3,
     "[|system|]You are a helpful assistant[|endofturn|]\n[|user|]Hello\n[|assistant|]Hi there[|endofturn|]\n[|user|]Who are you\n[|assistant|]I am an assistant[|endofturn|]\n[|user|]Another question\n[|assistant|]"},
    {HK_CHAT_DEEPSEEK3,
     "You are a helpful assistant\n\n<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜>   I am an assistant   <｜end▁of▁sentence｜><｜User｜>Another question<｜Assistant｜>"},
    {HK_CHAT_RWKV_WORLD,
     "System: You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there\n\nUser: Who are you\n\nAssistant: I am an assistant\n\nUser: Another question\n\nAssistant:"},
    {HK_CHAT_GPT_OSS,
     "<|start|>system<|message|>You are a helpful assistant<|end|><|start|>user<|message|>Hello<|end|><|start|>assistant<|message|>Hi there<|return|><|start|>user<|message|>Who are you<|end|><|start|>assistant<|message|>   I am an assistant   <|return|><|start|>user<|message|>Another question<|end|><|start|>assistant"},
    {HK_CHAT_KIMI_K2,
     "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|><|im_user|>user<|im_middle|>Hello<|im_end|><|im_assistant|>assistant<|im_middle|>Hi there<|im_end|><|im_user|>user<|im_middle|>Who are you<|im_end|><|im_assistant|>assistant<|im_middle|>   I am an assistant   <|im_end|><|im_user|>user<|im_middle|>Another question<|im_end|><|im_assistant|>assistant<|im_middle|>"},
    {HK_CHAT_BAILING2,
     "<role>SYSTEM</role>You are a helpful assistant<|role_end|><role>HUMAN</role>Hello<|role_end|><role>ASSISTANT</role>Hi there<|role_end|><role>HUMAN</role>Who are you<|role_end|><role>ASSISTANT</role>   I am an assistant   <|role_end|><role>HUMAN</role>Another question<|role_end|><role>ASSISTANT</role>"},
    {HK_CHAT_HUNYUAN_DENSE,
     "You are a helpful assistant<｜hy_place▁holder▁no▁3｜><｜hy_User｜>Hello<｜hy_Assistant｜><｜hy_Assistant｜>Hi there<｜hy_place▁holder▁no▁2｜><｜hy_User｜>Who are you<｜hy_Assistant｜><｜hy_Assistant｜>   I am an assistant   <｜hy_place▁holder▁no▁2｜><｜hy_User｜>Another question<｜hy_Assistant｜>"},
};

/* Format into a malloc'd string (NULL on failure). */
static char *fmt(hk_chat_kind k, const hk_chat_msg *m, size_t n, bool add_ass)
{
    int need = hk_chat_format(k, m, n, add_ass, NULL, 0);
    if (need < 0)
        return NULL;
    char *s = malloc((size_t)need + 1);
    int got = hk_chat_format(k, m, n, add_ass, s, (size_t)need + 1);
    if (got != need) {
        free(s);
        return NULL;
    }
    return s;
}

static char *delta(hk_chat_kind k, const hk_chat_msg *m, size_t n, size_t n_done, bool add_ass)
{
    int need = hk_chat_format_delta(k, m, n, n_done, add_ass, NULL, 0);
    if (need < 0)
        return NULL;
    char *s = malloc((size_t)need + 1);
    int got = hk_chat_format_delta(k, m, n, n_done, add_ass, s, (size_t)need + 1);
    if (got != need) {
        free(s);
        return NULL;
    }
    return s;
}

static void test_reference_cases(void)
{
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const ref_case *r = &refs[i];
        hk_chat_kind k = HK_CHAT_COUNT;
        bool found = hk_chat_detect(r->tmpl, strlen(r->tmpl), &k);
        CHECK(found && k == r->kind, "%s: detected %s, want %s", r->name,
              found ? hk_chat_name(k) : "nothing", hk_chat_name(r->kind));
        size_t n = r->tools ? sizeof conv_tools / sizeof conv_tools[0] : N_CONV;
        char *out = fmt(r->kind, r->tools ? conv_tools : conv, n, true);
        CHECK(out && strcmp(out, r->expected) == 0, "%s: formatted\n%s\nwant\n%s", r->name,
              out ? out : "(null)", r->expected);
        free(out);
    }
    for (size_t i = 0; i < sizeof derived / sizeof derived[0]; i++) {
        char *out = fmt(derived[i].kind, conv, N_CONV, true);
        CHECK(out && strcmp(out, derived[i].expected) == 0, "%s: formatted\n%s\nwant\n%s",
              hk_chat_name(derived[i].kind), out ? out : "(null)", derived[i].expected);
        free(out);
    }
}

/* Minimal marker strings for the families without a reference template,
 * plus the cases where the order of llama.cpp's tests decides. */
static void test_detect_markers(void)
{
    static const struct {
        const char *tmpl;
        hk_chat_kind kind;
    } m[] = {
        {"{{'<|user|>\\n' + message['content'] + '<|endoftext|>'}}", HK_CHAT_ZEPHYR},
        {"<|user|> <|assistant|> </s>", HK_CHAT_FALCON3},
        {"<|user|> <|assistant|> <|end|>", HK_CHAT_PHI3}, /* Phi-3 wins over Falcon/GLM */
        {"<|{{ item['role'] }}|> <|begin_of_image|>", HK_CHAT_GLMEDGE},
        {"<|im_start|> <end_of_utterance>", HK_CHAT_SMOLVLM},
        {"mistral anything", HK_CHAT_LLAMA2}, /* starts with "mistral" */
        {"[INST] <<SYS>>", HK_CHAT_LLAMA2_SYS},
        {"<｜Assistant｜><｜User｜><｜end▁of▁sentence｜>", HK_CHAT_DEEPSEEK3},
        {"[|system|][|assistant|][|endofturn|]", HK_CHAT_EXAONE3},
        {"[|system|][|assistant|][|endofturn|][|tool|]", HK_CHAT_EXAONE4},
        {"{{- 'User: ' + message['content']|trim + '\\n\\n' -}}", HK_CHAT_RWKV_WORLD},
        {"<role>ASSISTANT</role> \"HUMAN\" <think>", HK_CHAT_BAILING_THINK},
        {"<role>ASSISTANT</role><role>HUMAN</role><|role_end|>", HK_CHAT_BAILING2},
        {"<|header_start|>x<|header_end|>", HK_CHAT_LLAMA4},
        {"<|endofuserprompt|>", HK_CHAT_DOTS1},
        {"<|extra_0|><|extra_4|>", HK_CHAT_HUNYUAN_MOE},
        {"<|start|>assistant<|channel|>final", HK_CHAT_GPT_OSS},
        {"<｜hy_Assistant｜><｜hy_place▁holder▁no▁3｜>", HK_CHAT_HUNYUAN_DENSE},
        {"<|im_assistant|>assistant<|im_middle|>", HK_CHAT_KIMI_K2},
        {"'Assistant: '  + message['content'] + '<|separator|>'", HK_CHAT_GROK2},
        {"[unused9]系统：[unused10]", HK_CHAT_PANGU_EMBED},
        {"<start_of_turn>user", HK_CHAT_GEMMA},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        hk_chat_kind k = HK_CHAT_COUNT;
        bool found = hk_chat_detect(m[i].tmpl, strlen(m[i].tmpl), &k);
        CHECK(found && k == m[i].kind, "markers '%s': %s, want %s", m[i].tmpl,
              found ? hk_chat_name(k) : "nothing", hk_chat_name(m[i].kind));
    }

    /* not a template we know */
    hk_chat_kind k = HK_CHAT_GEMMA;
    CHECK(!hk_chat_detect("INVALID TEMPLATE", 16, &k) && k == HK_CHAT_GEMMA, "invalid template");
    CHECK(!hk_chat_detect("{{ messages }}", 14, &k), "unknown jinja");
    CHECK(!hk_chat_detect("", 0, &k), "empty");
    CHECK(!hk_chat_detect(NULL, 5, &k), "NULL");
    /* len bounds the search: the marker lies past it */
    CHECK(!hk_chat_detect("xx<|im_start|>", 2, &k), "len respected");
    CHECK(!hk_chat_detect("chatml2", 7, &k), "name must match exactly");

    /* names: every kind round-trips through its name */
    for (int i = 0; i < HK_CHAT_COUNT; i++) {
        const char *name = hk_chat_name((hk_chat_kind)i);
        hk_chat_kind a = HK_CHAT_COUNT, b = HK_CHAT_COUNT;
        CHECK(hk_chat_from_name(name, &a) && a == (hk_chat_kind)i, "from_name(%s)", name);
        CHECK(hk_chat_detect(name, strlen(name), &b) && b == (hk_chat_kind)i, "detect(%s)", name);
    }
    CHECK(strcmp(hk_chat_name(HK_CHAT_COUNT), "unknown") == 0, "name of a bad kind");
    CHECK(!hk_chat_from_name("nope", &k) && !hk_chat_from_name(NULL, &k), "from_name rejects");
}

/* The real template inside the qwen2 fixture (ChatML), read straight from
 * the GGUF bytes: key, then type 8 (string), then a u64 length. */
static void test_fixture_template(void)
{
    size_t len;
    char *buf = hk_read_file(hk_shared_path("fixtures/llm/models/qwen2-Q8_0.gguf"), &len);
    if (!buf) {
        printf("chat: qwen2 fixture not found, skipping its template\n");
        return;
    }
    static const char key[] = "tokenizer.chat_template";
    const char *tmpl = NULL;
    uint64_t tlen = 0;
    for (size_t i = 0; i + sizeof key - 1 + 12 <= len; i++) {
        if (memcmp(buf + i, key, sizeof key - 1) != 0)
            continue;
        const unsigned char *p = (const unsigned char *)buf + i + sizeof key - 1;
        uint32_t type = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
        uint64_t n = 0;
        for (int b = 7; b >= 0; b--)
            n = n << 8 | p[4 + b];
        if (type == 8 && n <= len - (i + sizeof key - 1 + 12)) {
            tmpl = (const char *)p + 12;
            tlen = n;
            break;
        }
    }
    CHECK(tmpl != NULL, "qwen2 fixture has a chat template");
    hk_chat_kind k = HK_CHAT_COUNT;
    CHECK(tmpl && hk_chat_detect(tmpl, (size_t)tlen, &k) && k == HK_CHAT_CHATML,
          "qwen2 fixture template detected as chatml (%s)", hk_chat_name(k));
    free(buf);
}

static bool all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == ' ' || s[i] == '\n'))
            return false;
    return true;
}

/* The multi-turn contract (chat.h): the generation prompt for reply j is a
 * prefix of the longer conversation, the reply's content (maybe trimmed,
 * maybe after a separator the template expects the model to write) follows,
 * and the delta is the rest. */
static void test_multi_turn(void)
{
    static const char *const trimmed[] = {"Hi there", "I am an assistant"};
    for (int ki = 0; ki < HK_CHAT_COUNT; ki++) {
        hk_chat_kind k = (hk_chat_kind)ki;
        /* their generation prompts end in "[SEP]" / "<think>", formatted
         * replies don't: the documented exceptions */
        if (k == HK_CHAT_YANDEX || k == HK_CHAT_BAILING_THINK)
            continue;
        const char *name = hk_chat_name(k);
        char *full = fmt(k, conv, N_CONV, true);
        CHECK(full != NULL, "%s: format", name);
        if (!full)
            continue;
        size_t fl = strlen(full);
        for (size_t j = 2; j < N_CONV; j += 2) { /* the assistant messages */
            char *prompt = fmt(k, conv, j, true);
            char *rest = delta(k, conv, N_CONV, j + 1, true);
            size_t pl = prompt ? strlen(prompt) : 0, rl = rest ? strlen(rest) : 0;
            CHECK(prompt && strncmp(full, prompt, pl) == 0, "%s: prompt before reply %zu is a prefix",
                  name, j);
            CHECK(rest && rl <= fl && strcmp(full + fl - rl, rest) == 0, "%s: delta after reply %zu is a suffix",
                  name, j);
            if (prompt && rest && pl + rl <= fl) {
                /* between them: optional separator, then the content */
                const char *mid = full + pl;
                size_t ml = fl - pl - rl;
                const char *c1 = conv[j].content, *c2 = trimmed[j / 2 - 1];
                /* the separators chat.h lists for gpt-oss and Hunyuan dense */
                const char *marker = k == HK_CHAT_GPT_OSS         ? "<|message|>"
                                     : k == HK_CHAT_HUNYUAN_DENSE ? "<｜hy_Assistant｜>"
                                                                  : "";
                size_t mk = strlen(marker);
                bool ok = false;
                if (ml >= mk && memcmp(mid, marker, mk) == 0) {
                    mid += mk;
                    ml -= mk;
                }
                for (size_t sep = 0; sep <= 2 && sep <= ml && !ok; sep++) {
                    if (!all_space(mid, sep))
                        break;
                    ok = (ml - sep == strlen(c1) && memcmp(mid + sep, c1, ml - sep) == 0) ||
                         (ml - sep == strlen(c2) && memcmp(mid + sep, c2, ml - sep) == 0);
                }
                CHECK(ok, "%s: between prompt and delta of reply %zu: '%.*s'", name, j, (int)ml, mid);
            }
            free(prompt);
            free(rest);
        }
        /* without the assistant prefix, the text is a prefix of the one with it */
        char *bare = fmt(k, conv, N_CONV, false);
        CHECK(bare && strncmp(full, bare, strlen(bare)) == 0, "%s: add_assistant_prefix only appends", name);
        free(bare);
        /* delta from 0 is everything */
        char *all = delta(k, conv, N_CONV, 0, true);
        CHECK(all && strcmp(all, full) == 0, "%s: delta from 0", name);
        free(all);
        free(full);
    }

    /* what the engine feeds for the last turn, for the main families */
    static const struct {
        hk_chat_kind kind;
        const char *text;
    } d[] = {
        {HK_CHAT_CHATML, "<|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
        {HK_CHAT_LLAMA3,
         "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
        {HK_CHAT_GEMMA, "<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n"},
        {HK_CHAT_PHI3, "<|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n"},
        {HK_CHAT_MISTRAL_V7, "</s>[INST] Another question[/INST]"},
        {HK_CHAT_LLAMA2_SYS, "</s>[INST] Another question [/INST]"},
        {HK_CHAT_ZEPHYR, "<|endoftext|>\n<|user|>\nAnother question<|endoftext|>\n<|assistant|>\n"},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        char *rest = delta(d[i].kind, conv, N_CONV, N_CONV - 1, true);
        CHECK(rest && strcmp(rest, d[i].text) == 0, "%s: last-turn delta '%s'", hk_chat_name(d[i].kind),
              rest ? rest : "(null)");
        free(rest);
    }
    /* n_done == n: just the closing of the last message (+ the prefix) */
    char *tail = delta(HK_CHAT_CHATML, conv, N_CONV, N_CONV, false);
    CHECK(tail && strcmp(tail, "<|im_end|>\n") == 0, "delta at the end");
    free(tail);
    CHECK(hk_chat_format_delta(HK_CHAT_CHATML, conv, N_CONV, N_CONV + 1, true, NULL, 0) == -1,
          "n_done past n");
}

static void test_system_prompt_families(void)
{
    /* Gemma: several system messages join, trimmed, without a separator;
     * with no user turn after them they vanish (and cannot anchor a delta) */
    const hk_chat_msg g[] = {{"system", " S1 "}, {"system", "S2"}, {"user", " U "}};
    char *out = fmt(HK_CHAT_GEMMA, g, 3, true);
    CHECK(out && strcmp(out, "<start_of_turn>user\nS1S2\n\nU<end_of_turn>\n<start_of_turn>model\n") == 0,
          "gemma systems: %s", out ? out : "(null)");
    free(out);
    out = fmt(HK_CHAT_GEMMA, g, 2, true);
    CHECK(out && strcmp(out, "<start_of_turn>model\n") == 0, "gemma system alone: %s", out ? out : "(null)");
    free(out);
    CHECK(hk_chat_format_delta(HK_CHAT_GEMMA, g, 2, 1, true, NULL, 0) == -1, "gemma pending system");
    char *rest = delta(HK_CHAT_GEMMA, g, 3, 2, false);
    CHECK(rest && strcmp(rest, "\n\nU<end_of_turn>\n") == 0, "gemma delta after system: %s",
          rest ? rest : "(null)");
    free(rest);

    /* whitespace-only system text adds no blank line */
    const hk_chat_msg g2[] = {{"system", "  "}, {"user", "U"}};
    out = fmt(HK_CHAT_GEMMA, g2, 2, false);
    CHECK(out && strcmp(out, "<start_of_turn>user\nU<end_of_turn>\n") == 0, "gemma blank system");
    free(out);

    /* Llama 2 without <<SYS>>: system text, newline, then the user text */
    const hk_chat_msg l[] = {{"system", "S"}, {"user", "U"}};
    out = fmt(HK_CHAT_LLAMA2, l, 2, true);
    CHECK(out && strcmp(out, "[INST] S\nU [/INST]") == 0, "llama2 system: %s", out ? out : "(null)");
    free(out);

    /* families that drop roles they lack still place them for a delta */
    const hk_chat_msg v[] = {{"user", "U"}, {"tool", "T"}, {"user", "V"}};
    rest = delta(HK_CHAT_VICUNA, v, 3, 2, false);
    CHECK(rest && strcmp(rest, "USER: V\n") == 0, "vicuna dropped role: %s", rest ? rest : "(null)");
    free(rest);
}

static void test_buffers_and_errors(void)
{
    int need = hk_chat_format(HK_CHAT_CHATML, conv, 2, true, NULL, 0);
    const char *want = "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    CHECK(need == (int)strlen(want), "length query %d", need);
    char small[10];
    memset(small, 'x', sizeof small);
    int got = hk_chat_format(HK_CHAT_CHATML, conv, 2, true, small, sizeof small);
    CHECK(got == need && memcmp(small, want, 9) == 0 && small[9] == '\0', "truncated like snprintf");
    char one[1] = {'x'};
    CHECK(hk_chat_format(HK_CHAT_CHATML, conv, 2, true, one, 1) == need && one[0] == '\0', "cap 1");
    char *d = delta(HK_CHAT_CHATML, conv, 2, 1, true);
    char dbuf[8];
    got = hk_chat_format_delta(HK_CHAT_CHATML, conv, 2, 1, true, dbuf, sizeof dbuf);
    CHECK(d && got == (int)strlen(d) && strncmp(dbuf, d, 7) == 0 && dbuf[7] == '\0', "delta truncation");
    free(d);

    CHECK(hk_chat_format(HK_CHAT_COUNT, conv, 2, true, NULL, 0) == -1, "bad kind");
    CHECK(hk_chat_format((hk_chat_kind)-1, conv, 2, true, NULL, 0) == -1, "negative kind");
    const hk_chat_msg bad[] = {{"user", NULL}};
    CHECK(hk_chat_format(HK_CHAT_CHATML, bad, 1, true, NULL, 0) == -1, "NULL content");
    const hk_chat_msg bad2[] = {{NULL, "x"}};
    CHECK(hk_chat_format(HK_CHAT_CHATML, bad2, 1, true, NULL, 0) == -1, "NULL role");
    CHECK(hk_chat_format(HK_CHAT_CHATML, NULL, 1, true, NULL, 0) == -1, "NULL messages");
    CHECK(hk_chat_format(HK_CHAT_CHATML, conv, 1, true, NULL, 5) == -1, "NULL out with cap");
    CHECK(hk_chat_format(HK_CHAT_CHATML, NULL, 0, true, NULL, 0) == (int)strlen("<|im_start|>assistant\n"),
          "no messages");

    /* stop strings: a non-empty list for every kind, the main ones exact */
    for (int i = 0; i < HK_CHAT_COUNT; i++) {
        const char *const *s = hk_chat_stop_strings((hk_chat_kind)i);
        CHECK(s && s[0] && s[0][0], "%s has stop strings", hk_chat_name((hk_chat_kind)i));
    }
    CHECK(strcmp(hk_chat_stop_strings(HK_CHAT_CHATML)[0], "<|im_end|>") == 0, "chatml stop");
    CHECK(strcmp(hk_chat_stop_strings(HK_CHAT_LLAMA3)[0], "<|eot_id|>") == 0, "llama3 stop");
    CHECK(strcmp(hk_chat_stop_strings(HK_CHAT_GEMMA)[0], "<end_of_turn>") == 0, "gemma stop");
    CHECK(strcmp(hk_chat_stop_strings(HK_CHAT_PHI3)[0], "<|end|>") == 0, "phi3 stop");
    CHECK(strcmp(hk_chat_stop_strings(HK_CHAT_MISTRAL_V7)[0], "</s>") == 0, "mistral stop");
    CHECK(hk_chat_stop_strings(HK_CHAT_COUNT)[0] == NULL, "bad kind: empty list");
}

int main(void)
{
    test_reference_cases();
    test_detect_markers();
    test_fixture_template();
    test_multi_turn();
    test_system_prompt_families();
    test_buffers_and_errors();
    return hk_check_done("chat");
}
