/* AVX2 row kernels with AVX-VNNI (Alder Lake and later, Zen 5: CPUs that
 * have the VEX-encoded vpdpbusd/vpdpwssd, most without AVX-512), built with
 * the AVX2 level's flags plus -mavxvnni and installed in the AVX2 level's
 * table only when cpu_features reports AVX-VNNI.  The kernels are
 * quant_x86.h's: one instruction where the AVX2 build takes vpmaddubsw +
 * vpmaddwd + vpaddd, the same integer sums (none saturates there), so the
 * same bits. */
#define HK_X86_SFX avxvnni
#define HK_X86_VNNI 2
#include "quant_x86.h"

#include "kernels.h"

void hk_cpu_fill_avxvnni(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT])
{
    fill_avxvnni(ops, names, "avx2-vnni");
}

void hk_cpu_fill4_avxvnni(hk_vec_dot4_fn dot4[HK_TYPE_COUNT])
{
    fill4_avxvnni(dot4);
}
