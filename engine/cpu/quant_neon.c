/* arm64 row kernels (compiled only on aarch64, baseline flags; NEON is part
 * of the architecture).  The dotprod version (sdot, Armv8.2+, most cores
 * since Cortex-A55/A75 and Apple M1) is compiled under a target attribute
 * and installed only when cpu_features reports it. */
#include <arm_neon.h>
#include <string.h>

#include "cpu_features.h"
#include "kernels.h"
#include "quant.h"

#define HK_NEON_SFX neon
#define HK_NEON_DOTPROD 0
#include "quant_neon.h"
#undef HK_NEON_SFX
#undef HK_NEON_DOTPROD
#undef N

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod") /* what arm_neon.h declares vdotq_s32 under */
#endif
#define HK_NEON_SFX dotprod
#define HK_NEON_DOTPROD 1
#include "quant_neon.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void hk_cpu_fill_neon(hk_quant_ops ops[HK_TYPE_COUNT], const char *names[HK_TYPE_COUNT], const hk_cpu_features *f)
{
    if (f->dotprod)
        fill_dotprod(ops, names, "neon-dotprod");
    else
        fill_neon(ops, names, "neon");
}
