/* Helpers shared by the AVX-512 row-group kernels (gemm_avx512.c) and
 * one-token kernels (gemv_avx512.c), which must take the same steps to give
 * the same bits.  Both files are built with -mavx512f -mavx512bw
 * -mavx512vl plus the AVX2 level's flags, and compile their kernels between
 * HK_AVX512_KERNELS_BEGIN and HK_AVX512_KERNELS_END: VNNI and VBMI, which
 * not every AVX-512 CPU has, only there (kernels.c installs them only where
 * cpu_features reports both). */
#ifndef HK_CPU_AVX512_COMMON_H
#define HK_CPU_AVX512_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HK_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define HK_AVX512_KERNELS_BEGIN \
    HK_PRAGMA(clang attribute push(__attribute__((target("avx512vnni,avx512vbmi"))), apply_to = function))
#define HK_AVX512_KERNELS_END HK_PRAGMA(clang attribute pop)
#else
#define HK_AVX512_KERNELS_BEGIN HK_PRAGMA(GCC push_options) HK_PRAGMA(GCC target("avx512vnni,avx512vbmi"))
#define HK_AVX512_KERNELS_END HK_PRAGMA(GCC pop_options)
#endif

#define HK_AVX512_INLINE static inline __attribute__((always_inline))

/* The F16 scales (the first two bytes of each block) of m <= 4 blocks,
 * stride bytes apart, spread over the lanes of their block (4 each), 0 past
 * m: gathered in general registers, which leaves the vector ports to the
 * products. */
HK_AVX512_INLINE __m512 scales4(const uint8_t *p, size_t stride, int m)
{
    uint64_t v = 0;
    for (int k = 0; k < 4; k++)
        if (k < m) {
            uint16_t a;
            memcpy(&a, p + k * stride, 2);
            v |= (uint64_t)a << (16 * k);
        }
    const __m128 d = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
    return _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(d));
}

/* int32 lane l + lane l + 8: a 64-byte step's two 32-byte halves added
 * (the 256-bit kernels' eight lanes) */
HK_AVX512_INLINE __m256i fold(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* quant_x86.h's hsum_ps: the same additions in the same order */
HK_AVX512_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* word w of the result: word (base + w / per) of v */
HK_AVX512_INLINE __m512i spread16(__m512i v, int base, int per)
{
    short idx[32];
    for (int w = 0; w < 32; w++)
        idx[w] = (short)(base + w / per);
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(idx), v);
}

#endif
