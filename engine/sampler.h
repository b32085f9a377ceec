/* Token sampling: llama.cpp's common sampler chain, in C, allocation-free per token.
 *
 * The chain, in llama.cpp's default order (common/sampling.cpp, with DRY,
 * typical-p, XTC and top-n-sigma off):
 *
 *   penalties -> top-k -> top-p -> min-p -> temperature -> seeded draw
 *
 * penalties  as llama_sampler_init_penalties: for every token seen in the last
 *            penalty_last_n accepted tokens, with count c:
 *              logit <= 0 ? logit *= repeat_penalty : logit /= repeat_penalty;
 *              logit -= c * frequency_penalty + (c > 0) * presence_penalty;
 * top-k      keep the k highest logits.
 * top-p      softmax over what is left; keep the smallest prefix (by falling
 *            probability) whose cumulative probability reaches top_p, at least 1.
 * min-p      keep tokens whose probability is at least min_p times the largest
 *            (compared as logits: logit >= max_logit + log(min_p)).  Like
 *            llama.cpp this sees the penalized but not yet tempered logits.
 * temperature divide the logits by temp; temp <= 0 means greedy.
 * draw       softmax over the survivors, one uniform number from xoshiro256**.
 *
 * Ordering among equal logits is always by token id (lower first), so results
 * are a pure function of (logits, history, parameters, seed).  The draw will
 * not reproduce llama.cpp's own numbers (it uses std::mt19937 and
 * std::discrete_distribution); everything before the draw matches it. */
#ifndef HK_SAMPLER_H
#define HK_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hk_sampling {
    float temp;             /* <= 0: greedy (argmax of the penalized logits, ties to lowest id) */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off; must be > 0 */
    float frequency_penalty;/* 0: off */
    float presence_penalty; /* 0: off */
    int32_t penalty_last_n; /* accepted tokens the penalties look at; 0 disables them;
                               -1: every token accepted since creation/reset */
    uint64_t seed;          /* same seed, logits and history -> same tokens */
} hk_sampling;

#define HK_SAMPLING_DEFAULT_SEED 0x6861726bu /* "hark": fixed so runs repeat unless asked not to */

/* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat 1.0, frequency 0,
 * presence 0, penalty_last_n 64, seed HK_SAMPLING_DEFAULT_SEED (llama.cpp's
 * defaults, except the seed, which llama.cpp draws at random). */
hk_sampling hk_sampling_default(void);

typedef struct hk_sampler hk_sampler;

/* All buffers are sized here for n_vocab, so sampling never allocates.
 * Returns NULL when out of memory or when the parameters make no sense
 * (n_vocab <= 0, repeat_penalty <= 0, a NaN, penalty_last_n < -1). */
hk_sampler *hk_sampler_new(const hk_sampling *p, int32_t n_vocab);
void hk_sampler_free(hk_sampler *s);

/* Pick the next token from n_vocab logits (not modified).  NaN logits count
 * as -inf.  Returns -1 only for NULL arguments.  Does not record the token:
 * call hk_sampler_accept with whatever the caller decides to keep. */
int32_t hk_sampler_sample(hk_sampler *s, const float *logits);

/* Record a token in the penalty history.  Feed prompt tokens too (as
 * llama.cpp's tools do) so the reply is penalized for repeating the prompt.
 * Ids outside [0, n_vocab) are ignored. */
void hk_sampler_accept(hk_sampler *s, int32_t token);

/* Forget the history and restart the random sequence from the seed. */
void hk_sampler_reset(hk_sampler *s);

/* Apply only the penalty stage to logits[n_vocab] in place: what
 * hk_sampler_sample sees before filtering.  For tests and for showing
 * adjusted probabilities. */
void hk_sampler_penalize(const hk_sampler *s, float *logits);

#endif
