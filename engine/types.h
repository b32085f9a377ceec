/* Tensor element types, numbered as ggml numbers them (the GGUF on-disk ids). */
#ifndef HK_TYPES_H
#define HK_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hk_type {
    HK_TYPE_F32 = 0,
    HK_TYPE_F16 = 1,
    HK_TYPE_Q4_0 = 2,
    HK_TYPE_Q4_1 = 3,
    HK_TYPE_Q5_0 = 6,
    HK_TYPE_Q5_1 = 7,
    HK_TYPE_Q8_0 = 8,
    HK_TYPE_Q8_1 = 9,
    HK_TYPE_Q2_K = 10,
    HK_TYPE_Q3_K = 11,
    HK_TYPE_Q4_K = 12,
    HK_TYPE_Q5_K = 13,
    HK_TYPE_Q6_K = 14,
    HK_TYPE_Q8_K = 15,
    HK_TYPE_IQ2_XXS = 16,
    HK_TYPE_IQ2_XS = 17,
    HK_TYPE_IQ3_XXS = 18,
    HK_TYPE_IQ1_S = 19,
    HK_TYPE_IQ4_NL = 20,
    HK_TYPE_IQ3_S = 21,
    HK_TYPE_IQ2_S = 22,
    HK_TYPE_IQ4_XS = 23,
    HK_TYPE_I8 = 24,
    HK_TYPE_I16 = 25,
    HK_TYPE_I32 = 26,
    HK_TYPE_I64 = 27,
    HK_TYPE_F64 = 28,
    HK_TYPE_IQ1_M = 29,
    HK_TYPE_BF16 = 30,
    HK_TYPE_TQ1_0 = 34,
    HK_TYPE_TQ2_0 = 35,
    HK_TYPE_COUNT = 36
} hk_type;

typedef struct hk_type_traits {
    const char *name;      /* "Q4_K"; NULL for ids ggml never assigned or retired */
    uint32_t block_size;   /* elements per block (1 for plain types) */
    uint32_t type_size;    /* bytes per block */
    bool supported;        /* hark can dequantize / compute with it */
    hk_type vec_dot_type;  /* what activations become for the dot product (llama.cpp's choice) */
} hk_type_traits;

/* Traits of a type id read from a file; NULL when the id is not a known type. */
const hk_type_traits *hk_type_traits_of(uint32_t type);
const char *hk_type_name(uint32_t type); /* "unknown" for unknown ids */
/* Parse "Q4_K" (case-insensitive); returns -1 if no such type. */
int hk_type_from_name(const char *name);

/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
size_t hk_row_size(hk_type t, int64_t n);

/* IEEE half and bfloat16 conversions (round to nearest even, as ggml). */
float hk_f16_to_f32(uint16_t h);
uint16_t hk_f32_to_f16(float f);
float hk_bf16_to_f32(uint16_t h);
uint16_t hk_f32_to_bf16(float f);

#endif
