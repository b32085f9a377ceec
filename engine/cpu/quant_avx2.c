/* AVX2 + FMA + F16C row kernels (built with -mavx2 -mfma -mf16c; called only
 * when cpu_features reports all three).  The kernels are in quant_x86.h,
 * shared with the AVX-512 VNNI build, and compiled twice here: as they are,
 * and under an AVX-VNNI target (Alder Lake and later, Zen 5: CPUs with the
 * VEX-encoded vpdpbusd/vpdpwssd, most without AVX-512), installed in the
 * AVX2 level's table only when cpu_features reports AVX-VNNI.  One VNNI
 * instruction where the plain build takes vpmaddubsw + vpmaddwd + vpaddd:
 * the same integer sums (none saturates there), so the same bits. */
#define HK_X86_SFX avx2
#define HK_X86_VNNI 0
#include "quant_x86.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avxvnni")
#endif
#define HK_X86_SFX avxvnni
#define HK_X86_VNNI 2
#include "quant_x86.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#include "kernels.h"

void hk_cpu_fill_avx2(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT])
{
    fill_avx2(ops, names, "avx2");
}

void hk_cpu_fill4_avx2(hk_vec_dot4_fn dot4[HK_TYPE_COUNT])
{
    fill4_avx2(dot4);
}

void hk_cpu_fill_avxvnni(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT])
{
    fill_avxvnni(ops, names, "avx2-vnni");
}

void hk_cpu_fill4_avxvnni(hk_vec_dot4_fn dot4[HK_TYPE_COUNT])
{
    fill4_avxvnni(dot4);
}
