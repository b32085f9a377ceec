/* What the CPU we run on can execute, detected once at run time.
 *
 * The engine is built for the baseline of its target (x86-64 or arm64);
 * faster kernels live in files compiled with extra ISA flags and are only
 * ever called when these flags say the CPU (and, for the wide x86
 * registers, the operating system) supports them. */
#ifndef HK_CPU_FEATURES_H
#define HK_CPU_FEATURES_H

#include <stdbool.h>

typedef struct hk_cpu_features {
    /* x86-64 */
    bool avx2;       /* 256-bit integer SIMD (and AVX, with the OS saving ymm state) */
    bool fma;        /* fused multiply-add on ymm */
    bool f16c;       /* half <-> float conversion instructions */
    bool avxvnni;    /* VEX vpdpbusd / vpdpwssd on ymm (AVX-VNNI; AVX2 CPUs from Alder Lake on) */
    bool avx512f;    /* 512-bit foundation, OS saves zmm and opmask state */
    bool avx512bw;   /* byte/word operations on zmm */
    bool avx512vl;   /* EVEX encodings of 128/256-bit operations */
    bool avx512vnni; /* vpdpbusd / vpdpwssd: int8 and int16 dot products into int32 */
    bool avx512bf16; /* vdpbf16ps and bfloat16 conversions */
    bool avx512vbmi; /* vpermb / vpermt2b: byte permutes across the whole zmm */
    bool amx_int8;   /* AMX tiles with int8 products, and Linux let this process use them */
    /* arm64 */
    bool neon;       /* Advanced SIMD (always present on arm64 Linux) */
    bool dotprod;    /* sdot/udot: int8 dot products into int32 */
} hk_cpu_features;

/* Features of this CPU; detected on first call, then constant (thread-safe). */
const hk_cpu_features *hk_cpu_features_get(void);

#endif
