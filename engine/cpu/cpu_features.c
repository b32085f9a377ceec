/* CPU feature detection: cpuid + xgetbv on x86-64, getauxval on arm64.
 *
 * A CPU flag alone is not enough on x86: the OS must also save the wider
 * register state on a context switch (XCR0), or the upper halves of ymm/zmm
 * registers would be corrupted by other processes.  Hypervisors sometimes
 * hide AVX-512 state this way while cpuid still reports the instructions. */
#include "cpu_features.h"

#include <pthread.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    /* inline asm rather than the _xgetbv intrinsic, which would need
     * -mxsave on this file that must stay baseline */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static void detect(hk_cpu_features *f)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    const bool osxsave = c & (1u << 27);
    const bool avx = c & (1u << 28);
    const bool fma = c & (1u << 12);
    const bool f16c = c & (1u << 29);
    if (!osxsave || !avx)
        return;
    const uint64_t xcr0 = read_xcr0();
    /* bit 1: SSE state, bit 2: AVX (upper ymm) state */
    const bool os_ymm = (xcr0 & 0x6) == 0x6;
    /* bits 5-7: opmask registers, upper halves of zmm0-15, zmm16-31 */
    const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
    if (!os_ymm)
        return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return;
    f->avx2 = b & (1u << 5);
    f->fma = fma;
    f->f16c = f16c;
    {
        /* leaf 7 sub-leaf 1, eax bit 4; only valid when sub-leaf 0 says it exists */
        unsigned a1, b1, c1, d1;
        if (a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
            f->avxvnni = a1 & (1u << 4);
    }
    if (os_zmm) {
        f->avx512f = b & (1u << 16);
        f->avx512bw = b & (1u << 30);
        f->avx512vl = b & (1u << 31);
        f->avx512vnni = c & (1u << 11);
        f->avx512vbmi = c & (1u << 1);
        unsigned a1, b1, c1, d1;
        /* leaf 7 sub-leaf 1, eax bit 5; only valid when sub-leaf 0 says it exists */
        if (a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
            f->avx512bf16 = a1 & (1u << 5);
    }
    /* AMX: edx bits 24 (tiles) and 25 (int8 products); XCR0 bits 17-18, the
     * tile configuration and data, which Linux (5.16 on) hands a process
     * only when it asks (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, 18):
     * without that the first tile instruction is a fatal signal */
    const bool amx = (d & (1u << 24)) && (d & (1u << 25)) && (xcr0 & 0x60000) == 0x60000;
#if defined(__linux__) && defined(SYS_arch_prctl)
    f->amx_int8 = amx && os_zmm && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    (void)amx;
#endif
}

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static void detect(hk_cpu_features *f)
{
    const unsigned long hw = getauxval(AT_HWCAP);
    f->neon = hw & HWCAP_ASIMD;
    f->dotprod = f->neon && (hw & HWCAP_ASIMDDP);
}

#elif defined(__aarch64__)
/* arm64 without Linux auxv (macOS, BSDs): NEON is architectural; dotprod is
 * left off rather than guessed. */
static void detect(hk_cpu_features *f)
{
    f->neon = true;
}

#else
static void detect(hk_cpu_features *f)
{
    (void)f;
}
#endif

static hk_cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void init_features(void)
{
    detect(&features);
}

const hk_cpu_features *hk_cpu_features_get(void)
{
    pthread_once(&features_once, init_features);
    return &features;
}
