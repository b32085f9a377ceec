/* AVX2 + FMA + F16C row kernels (built with -mavx2 -mfma -mf16c; called only
 * when cpu_features reports all three).  The kernels are in quant_x86.h,
 * shared with the AVX-512 VNNI build. */
#define HK_X86_SFX avx2
#define HK_X86_VNNI 0
#include "quant_x86.h"

#include "kernels.h"

void hk_cpu_fill_avx2(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT])
{
    fill_avx2(ops, names, "avx2");
}

void hk_cpu_fill4_avx2(hk_vec_dot4_fn dot4[HK_TYPE_COUNT])
{
    fill4_avx2(dot4);
}
