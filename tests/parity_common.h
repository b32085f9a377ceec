/* What the parity tests share (test_parity.c on the CPU, test_parity_vk.c
 * on a Vulkan device): the fixture goldens of shared/fixtures/llm (see its
 * README, §2-6), the three ways of computing each is meant for, and the
 * relative rms of a difference. */
#ifndef HK_PARITY_COMMON_H
#define HK_PARITY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Relative rms of the difference to the golden: EXACT mode (dequantized
 * weights, F32 arithmetic: summation order only) and the ceiling for the
 * llama.cpp modes, whose int8/F16 roundings flip on one-ulp differences
 * (test_parity.c explains both numbers). */
#define REL_TOL_EXACT 1e-4
#define FLIP_CEIL 0.025
#define GREEDY_MARGIN 0.01f
#define GREEDY_STEPS 16
#define STORIES_STEPS 200

/* Path of goldens/<name>.<suffix> (a static buffer, valid until the next call). */
const char *golden(const char *name, const char *suffix);
bool exists(const char *path);
float *read_f32(const char *path, size_t *n);
/* Whitespace-separated numbers of a text file (ids or margins). */
double *read_numbers(const char *path, int *n);
int32_t *read_ids(const char *path, int *n);
int argmax(const float *v, int n);

typedef struct diff_acc {
    double d2, g2, max;
} diff_acc;
void diff_add(diff_acc *a, const float *got, const float *want, size_t n);
double diff_rel(const diff_acc *a);

typedef struct mode {
    const char *label;
    hk_matmul_mode mm;
    hk_type kv;
} mode;
extern const mode MODES[3]; /* exact, kvf32, kvf16 */

/* Suffix of the golden of mode mi for a fixture; *dequant tells whether it
 * is the dequantized-weights golden. */
const char *logits_golden(const char *name, int mi, bool *dequant);
/* Golden suffixes of the greedy run of mode mi: ids, margins, step rows. */
const char *greedy_ids_suffix(int mi);
const char *greedy_margins_suffix(int mi);
const char *greedy_rows_suffix(int mi);

/* The fixture models (basenames without .gguf, sorted, malloc'd), count in
 * *n; NULL when the folder cannot be read. */
char **fixture_models(int *n);
/* Loads models/<name>.gguf, or NULL after a failed CHECK. */
hk_model *load_fixture(const char *name);

#endif
