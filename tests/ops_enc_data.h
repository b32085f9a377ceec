/* Random inputs shared by test_ops_enc.c and test_vk_ops.c: a fixed-seed
 * generator (the same numbers on every run and machine) and convolution
 * kernels in the model file's layout. */
#ifndef HK_OPS_ENC_DATA_H
#define HK_OPS_ENC_DATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "types.h"

#define U 5.9604644775390625e-8 /* 2^-24, float's unit roundoff */

/* Largest err/tol and |err| seen by the current check, for the log. */
static double worst, worst_abs;
static inline void note(double err, double tol)
{
    if (tol > 0 && err / tol > worst)
        worst = err / tol;
    if (err > worst_abs)
        worst_abs = err;
}
static inline void report(const char *what)
{
    printf("  %-34s max err / tol = %.3f, max |err| = %.2g\n", what, worst, worst_abs);
    worst = worst_abs = 0;
}

static uint64_t enc_rng = 0x2545F4914F6CDD1Dull;

/* Uniform in [lo, hi). */
static inline float enc_uniform(float lo, float hi)
{
    enc_rng ^= enc_rng << 13;
    enc_rng ^= enc_rng >> 7;
    enc_rng ^= enc_rng << 17;
    return lo + (hi - lo) * (float)((enc_rng >> 40) * (1.0 / 16777216.0));
}

static inline float *enc_random(size_t n, float lo, float hi)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = enc_uniform(lo, hi);
    return v;
}

/* A weight of n_out rows of n_in values v (F32 or F16, stored little-endian
 * as in a model file); *bytes receives the malloc'd storage. */
static inline hk_weight enc_weight(hk_type type, const float *v, int64_t n_out, int64_t n_in, uint8_t **bytes)
{
    const size_t es = type == HK_TYPE_F16 ? 2 : 4;
    uint8_t *d = malloc((size_t)(n_out * n_in) * es);
    for (int64_t i = 0; d && i < n_out * n_in; i++) {
        if (type == HK_TYPE_F16) {
            const uint16_t h = hk_f32_to_f16(v[i]);
            d[2 * i] = (uint8_t)(h & 0xff);
            d[2 * i + 1] = (uint8_t)(h >> 8);
        } else {
            memcpy(d + 4 * i, &v[i], 4);
        }
    }
    *bytes = d;
    hk_weight w = {type, d, n_in, n_out, (size_t)n_in * es};
    return w;
}

static inline float enc_f16(float x) { return hk_f16_to_f32(hk_f32_to_f16(x)); }

#endif
