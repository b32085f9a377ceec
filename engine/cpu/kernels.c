/* Run-time choice of row kernels.  One table per level is built on first use
 * (scalar members, overwritten by each SIMD file the CPU can run), so every
 * level stays callable for tests while the engine uses the best one. */
#include "kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu_features.h"

static hk_quant_ops tables[HK_CPU_LEVEL_COUNT][HK_TYPE_COUNT];
static const char *names[HK_CPU_LEVEL_COUNT][HK_TYPE_COUNT];
static hk_vec_dot4_fn dot4s[HK_CPU_LEVEL_COUNT][HK_TYPE_COUNT];
static const hk_gemm_kernel *gemms[HK_CPU_LEVEL_COUNT][HK_TYPE_COUNT];
static bool supported[HK_CPU_LEVEL_COUNT];
static bool amx_supported, vnni_tiles, amx_wanted = true;
static hk_cpu_level active = HK_CPU_SCALAR;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const char *const level_names[HK_CPU_LEVEL_COUNT] = {
    [HK_CPU_SCALAR] = "scalar",
    [HK_CPU_AVX2] = "avx2",
    [HK_CPU_AVX512] = "avx512",
    [HK_CPU_NEON] = "neon",
};

const char *hk_cpu_level_name(hk_cpu_level l)
{
    return (unsigned)l < HK_CPU_LEVEL_COUNT ? level_names[l] : "unknown";
}

static void fill_scalar(hk_cpu_level l)
{
    for (int t = 0; t < HK_TYPE_COUNT; t++) {
        const hk_quant_ops *o = hk_quant_ops_of((hk_type)t);
        if (o)
            tables[l][t] = *o;
        names[l][t] = "scalar";
    }
}

static void init_tables(void)
{
    const hk_cpu_features *f = hk_cpu_features_get();
    (void)f;
    fill_scalar(HK_CPU_SCALAR);
    supported[HK_CPU_SCALAR] = true;
#if defined(__x86_64__) || defined(__i386__)
    if (f->avx2 && f->fma && f->f16c) {
        fill_scalar(HK_CPU_AVX2);
        hk_cpu_fill_avx2(tables[HK_CPU_AVX2], names[HK_CPU_AVX2]);
        hk_cpu_fill4_avx2(dot4s[HK_CPU_AVX2]);
        /* the same kernels with one VNNI instruction for three: the same bits */
        if (f->avxvnni) {
            hk_cpu_fill_avxvnni(tables[HK_CPU_AVX2], names[HK_CPU_AVX2]);
            hk_cpu_fill4_avxvnni(dot4s[HK_CPU_AVX2]);
        }
        supported[HK_CPU_AVX2] = true;
        if (f->avx512f && f->avx512bw && f->avx512vl) {
            /* AVX-512 builds on the AVX2 table: types without a 512-bit
             * kernel keep the 256-bit one */
            fill_scalar(HK_CPU_AVX512);
            hk_cpu_fill_avx2(tables[HK_CPU_AVX512], names[HK_CPU_AVX512]);
            hk_cpu_fill_avx512(tables[HK_CPU_AVX512], names[HK_CPU_AVX512], f);
            hk_cpu_fill4_avx2(dot4s[HK_CPU_AVX512]);
            hk_cpu_fill4_avx512(dot4s[HK_CPU_AVX512], f);
            hk_cpu_fill_gemm_avx512(gemms[HK_CPU_AVX512], tables[HK_CPU_AVX512], f);
            supported[HK_CPU_AVX512] = true;
            /* AMX batches take this level's Q8_0 activations and run beside
             * its VNNI kernels (every AMX CPU has VNNI and VBMI) */
            amx_supported = f->amx_int8 && f->avx512vnni && f->avx512vbmi;
            vnni_tiles = f->avx512vnni;
        }
    }
#elif defined(__aarch64__)
    if (f->neon) {
        fill_scalar(HK_CPU_NEON);
        hk_cpu_fill_neon(tables[HK_CPU_NEON], names[HK_CPU_NEON], f);
        supported[HK_CPU_NEON] = true;
    }
#endif
    for (int l = 0; l < HK_CPU_LEVEL_COUNT; l++)
        if (supported[l])
            active = (hk_cpu_level)l;

    const char *amx = getenv("HARK_AMX");
    if (amx && strcmp(amx, "0") == 0)
        amx_wanted = false;

    const char *want = getenv("HARK_CPU");
    if (want && *want) {
        int cap = -1;
        for (int l = 0; l < HK_CPU_LEVEL_COUNT; l++)
            if (strcasecmp(want, level_names[l]) == 0)
                cap = l;
        if (cap < 0) {
            fprintf(stderr, "hark: HARK_CPU=%s is not one of scalar, avx2, avx512, neon; ignored\n", want);
        } else {
            /* the highest supported level not above the cap; the scalar
             * level is always there */
            for (int l = cap; l >= 0; l--)
                if (supported[l]) {
                    active = (hk_cpu_level)l;
                    break;
                }
        }
    }
}

static void ensure_init(void)
{
    pthread_once(&init_once, init_tables);
}

hk_cpu_level hk_cpu_level_active(void)
{
    ensure_init();
    return active;
}

hk_cpu_level hk_cpu_level_set(hk_cpu_level l)
{
    ensure_init();
    const hk_cpu_level prev = active;
    for (int k = (unsigned)l < HK_CPU_LEVEL_COUNT ? (int)l : HK_CPU_LEVEL_COUNT - 1; k >= 0; k--)
        if (supported[k]) {
            active = (hk_cpu_level)k;
            break;
        }
    return prev;
}

bool hk_cpu_level_supported(hk_cpu_level l)
{
    ensure_init();
    return (unsigned)l < HK_CPU_LEVEL_COUNT && supported[l];
}

const hk_quant_ops *hk_quant_ops_level(hk_type t, hk_cpu_level l)
{
    if (!hk_cpu_level_supported(l) || hk_quant_ops_of(t) == NULL)
        return NULL;
    return &tables[l][t];
}

const hk_quant_ops *hk_quant_ops_best(hk_type t)
{
    return hk_quant_ops_level(t, hk_cpu_level_active());
}

hk_vec_dot4_fn hk_vec_dot4_level(hk_type t, hk_cpu_level l)
{
    if (!hk_cpu_level_supported(l) || (unsigned)t >= HK_TYPE_COUNT)
        return NULL;
    return dot4s[l][t];
}

const hk_gemm_kernel *hk_gemm_level(hk_type t, hk_cpu_level l)
{
    if (!hk_cpu_level_supported(l) || (unsigned)t >= HK_TYPE_COUNT)
        return NULL;
    return gemms[l][t];
}

bool hk_tile_supported(hk_tile_kind k)
{
    ensure_init();
    return k == HK_TILE_AMX ? amx_supported : k == HK_TILE_VNNI ? vnni_tiles : false;
}

hk_tile_kind hk_tile_active(void)
{
    if (hk_cpu_level_active() != HK_CPU_AVX512)
        return HK_TILE_NONE;
    if (amx_supported && amx_wanted)
        return HK_TILE_AMX;
    return vnni_tiles ? HK_TILE_VNNI : HK_TILE_NONE;
}

const char *hk_tile_kind_name(hk_tile_kind k)
{
    return k == HK_TILE_AMX ? "AMX" : k == HK_TILE_VNNI ? "VNNI" : "none";
}

int hk_tile_min_tokens(hk_tile_kind k, hk_type t)
{
    /* AMX: from 8 tokens; VNNI, which the K-quants take on AMX CPUs too: a
     * whole group (see kernels.h) */
    const bool amx = k == HK_TILE_AMX && (t == HK_TYPE_Q4_0 || t == HK_TYPE_Q5_0 || t == HK_TYPE_Q8_0);
    return amx ? 8 : HK_TILE_GROUP;
}

bool hk_tile_has_type(hk_type t)
{
    return t == HK_TYPE_Q4_0 || t == HK_TYPE_Q5_0 || t == HK_TYPE_Q8_0 || t == HK_TYPE_Q4_K ||
           t == HK_TYPE_Q5_K || t == HK_TYPE_Q6_K;
}

const char *hk_cpu_kernel_name_level(hk_type t, hk_cpu_level l)
{
    if (!hk_quant_ops_level(t, l))
        return "none";
    return names[l][t];
}

const char *hk_cpu_kernel_name(hk_type t)
{
    return hk_cpu_kernel_name_level(t, hk_cpu_level_active());
}
