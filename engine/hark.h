/* hark — the engine's public API, in one include.
 *
 * Layers, from files up to text:
 *   gguf.h      GGUF files: strictly validated mmap reader, atomic writer
 *   types.h     tensor element types (ggml's ids), quant.h their formats
 *   model.h     hk_model: a file's weights, mmapped and never copied, immutable
 *               and shareable across threads; hk_session: one conversation's KV
 *               cache and position, batched decode, logits
 *   tokenizer.h SentencePiece and byte-level BPE from GGUF metadata
 *   sampler.h   the sampling chain; chat.h chat templates
 *   generate.h  text in, streamed text out: prompts, generation, chat turns
 *   quantize.h  llama-quantize-compatible file quantization
 * Every fallible call returns a status (0 / -1) or NULL and fills an hk_error
 * (error.h) with one line naming the file and the problem; bad input never
 * aborts the process. */
#ifndef HARK_H
#define HARK_H

#include "error.h"
#include "types.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"
#include "sampler.h"
#include "chat.h"
#include "generate.h"
#include "quantize.h"

#endif
