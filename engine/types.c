#include "types.h"

#include <string.h>
#include <strings.h>

#define T(id, nm, bs, ts, sup, vd) [id] = {nm, bs, ts, sup, vd}

static const hk_type_traits traits[HK_TYPE_COUNT] = {
    T(HK_TYPE_F32, "F32", 1, 4, true, HK_TYPE_F32),
    T(HK_TYPE_F16, "F16", 1, 2, true, HK_TYPE_F16),
    T(HK_TYPE_Q4_0, "Q4_0", 32, 18, true, HK_TYPE_Q8_0),
    T(HK_TYPE_Q4_1, "Q4_1", 32, 20, true, HK_TYPE_Q8_1),
    T(HK_TYPE_Q5_0, "Q5_0", 32, 22, true, HK_TYPE_Q8_0),
    T(HK_TYPE_Q5_1, "Q5_1", 32, 24, true, HK_TYPE_Q8_1),
    T(HK_TYPE_Q8_0, "Q8_0", 32, 34, true, HK_TYPE_Q8_0),
    T(HK_TYPE_Q8_1, "Q8_1", 32, 36, true, HK_TYPE_Q8_1),
    T(HK_TYPE_Q2_K, "Q2_K", 256, 84, true, HK_TYPE_Q8_K),
    T(HK_TYPE_Q3_K, "Q3_K", 256, 110, true, HK_TYPE_Q8_K),
    T(HK_TYPE_Q4_K, "Q4_K", 256, 144, true, HK_TYPE_Q8_K),
    T(HK_TYPE_Q5_K, "Q5_K", 256, 176, true, HK_TYPE_Q8_K),
    T(HK_TYPE_Q6_K, "Q6_K", 256, 210, true, HK_TYPE_Q8_K),
    T(HK_TYPE_Q8_K, "Q8_K", 256, 292, true, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ2_XXS, "IQ2_XXS", 256, 66, false, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ2_XS, "IQ2_XS", 256, 74, false, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ3_XXS, "IQ3_XXS", 256, 98, false, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ1_S, "IQ1_S", 256, 50, false, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ4_NL, "IQ4_NL", 32, 18, false, HK_TYPE_Q8_0),
    T(HK_TYPE_IQ3_S, "IQ3_S", 256, 110, false, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ2_S, "IQ2_S", 256, 82, false, HK_TYPE_Q8_K),
    T(HK_TYPE_IQ4_XS, "IQ4_XS", 256, 136, false, HK_TYPE_Q8_K),
    T(HK_TYPE_I8, "I8", 1, 1, false, HK_TYPE_I8),
    T(HK_TYPE_I16, "I16", 1, 2, false, HK_TYPE_I16),
    T(HK_TYPE_I32, "I32", 1, 4, false, HK_TYPE_I32),
    T(HK_TYPE_I64, "I64", 1, 8, false, HK_TYPE_I64),
    T(HK_TYPE_F64, "F64", 1, 8, false, HK_TYPE_F64),
    T(HK_TYPE_IQ1_M, "IQ1_M", 256, 56, false, HK_TYPE_Q8_K),
    T(HK_TYPE_BF16, "BF16", 1, 2, true, HK_TYPE_BF16),
    T(HK_TYPE_TQ1_0, "TQ1_0", 256, 54, false, HK_TYPE_Q8_K),
    T(HK_TYPE_TQ2_0, "TQ2_0", 256, 66, false, HK_TYPE_Q8_K),
};

const hk_type_traits *hk_type_traits_of(uint32_t type)
{
    if (type >= HK_TYPE_COUNT || traits[type].name == NULL)
        return NULL;
    return &traits[type];
}

const char *hk_type_name(uint32_t type)
{
    const hk_type_traits *t = hk_type_traits_of(type);
    return t ? t->name : "unknown";
}

int hk_type_from_name(const char *name)
{
    for (int i = 0; i < HK_TYPE_COUNT; i++)
        if (traits[i].name && strcasecmp(traits[i].name, name) == 0)
            return i;
    return -1;
}

size_t hk_row_size(hk_type t, int64_t n)
{
    const hk_type_traits *tr = hk_type_traits_of(t);
    if (!tr || n < 0 || n % tr->block_size)
        return 0;
    return (size_t)(n / tr->block_size) * tr->type_size;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float hk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 is exact in float */
        float v = (float)man * (1.0f / 16777216.0f);
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t hk_f32_to_f16(float f)
{
    /* Same algorithm as ggml's scalar fallback (FP16 round to nearest even). */
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (f < 0 ? -f : f) * scale_to_inf * scale_to_zero;
    uint32_t w = f32_bits(f);
    uint32_t shl1_w = w + w;
    uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xff000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;
    base = bits_f32((bias >> 1) + 0x07800000u) + base;
    uint32_t bits = f32_bits(base);
    uint32_t exp_bits = (bits >> 13) & 0x00007c00u;
    uint32_t mantissa_bits = bits & 0x00000fffu;
    uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

float hk_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t hk_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet */
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}
