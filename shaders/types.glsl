// Weight formats as engine/quant.h lays them out, read from a storage
// buffer of uint32 words (W[]) by byte address: quantized rows are not
// 4-byte aligned in general (a Q4_0 block is 18 bytes), and words need no
// 8/16-bit storage feature, so every device runs these shaders.
//
// One definition of the weight type is expected: TYPE_F32, TYPE_F16,
// TYPE_BF16, TYPE_Q4_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_Q8_0,
// TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K or TYPE_Q6_K.  The including
// shader declares `uint W[]` before including this file.
//
// A quantized block is read as groups of 16 consecutive elements that share
// one integer scale s and one integer min mn (decode16), plus two float
// block scales d and dm (block_df).  The CPU's dequantized value of every
// type is then
//     (d * s) * a + MIN_SIGN * (dm * mn)
// with those roundings in that order (engine/quant.c, quant_k.c), and the
// integer dot products of the LLAMACPP mode are sums of s * a * q.
// (The including shader enables GL_EXT_control_flow_attributes.)

#include "rounding.glsl"

// ---------------------------------------------------------------- bytes

uint load_u8(uint addr)
{
    return (W[addr >> 2] >> ((addr & 3u) * 8u)) & 0xffu;
}

// addr even (every 16-bit field of every block is)
uint load_u16(uint addr)
{
    return (W[addr >> 2] >> ((addr & 2u) * 8u)) & 0xffffu;
}

// four bytes from any address, little-endian; the word after the last byte
// of a row exists because vk_matmul.c pads every weight buffer by a word
uint load_u32(uint addr)
{
    const uint sh = (addr & 3u) * 8u;
    const uint lo = W[addr >> 2];
    if (sh == 0u)
        return lo;
    return (lo >> sh) | (W[(addr >> 2) + 1u] << (32u - sh));
}

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
#define TYPE_FLOAT 1
#define QK 1u
#else
#define TYPE_FLOAT 0
#endif

// ---------------------------------------------------------------- plain floats

#if TYPE_FLOAT
#if defined(TYPE_F32)
#define ELEM_BYTES 4u
float load_elem(uint row_addr, uint i)
{
    return uintBitsToFloat(load_u32(row_addr + 4u * i));
}
#elif defined(TYPE_F16)
#define ELEM_BYTES 2u
float load_elem(uint row_addr, uint i)
{
    return half_to_float(load_u16(row_addr + 2u * i));
}
#else
#define ELEM_BYTES 2u
float load_elem(uint row_addr, uint i)
{
    return uintBitsToFloat(load_u16(row_addr + 2u * i) << 16);
}
#endif
#endif

// ---------------------------------------------------------------- 32-element blocks

#if defined(TYPE_Q4_0)
#define QK 32u
#define QB 18u
#define MIN_SIGN 0
void block_df(uint b, out float d, out float dm) { d = half_to_float(load_u16(b)); dm = 0.0; }
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    s = 1; mn = 0;
    const uint sh = 4u * g; // group 0: low nibbles, group 1: high nibbles of qs[0..15]
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(b + 2u + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = int((w >> (8u * i + sh)) & 0xfu) - 8;
    }
}
#elif defined(TYPE_Q4_1)
#define QK 32u
#define QB 20u
#define MIN_SIGN 1
void block_df(uint b, out float d, out float dm)
{
    d = half_to_float(load_u16(b));
    dm = half_to_float(load_u16(b + 2u));
}
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    s = 1; mn = 1; // x = d * q + m
    const uint sh = 4u * g;
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(b + 4u + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = int((w >> (8u * i + sh)) & 0xfu);
    }
}
#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#define QK 32u
#if defined(TYPE_Q5_0)
#define QB 22u
#define QH_AT 2u
#define MIN_SIGN 0
#define Q5_OFFSET 16
#else
#define QB 24u
#define QH_AT 4u
#define MIN_SIGN 1
#define Q5_OFFSET 0
#endif
void block_df(uint b, out float d, out float dm)
{
    d = half_to_float(load_u16(b));
    dm = MIN_SIGN != 0 ? half_to_float(load_u16(b + 2u)) : 0.0;
}
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    s = 1; mn = MIN_SIGN != 0 ? 1 : 0;
    const uint qh = load_u32(b + QH_AT) >> (16u * g); // fifth bits of elements 16g..16g+15
    const uint sh = 4u * g;
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(b + QH_AT + 4u + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = int(((w >> (8u * i + sh)) & 0xfu) | (((qh >> (k + i)) & 1u) << 4)) - Q5_OFFSET;
    }
}
#elif defined(TYPE_Q8_0)
#define QK 32u
#define QB 34u
#define MIN_SIGN 0
void block_df(uint b, out float d, out float dm) { d = half_to_float(load_u16(b)); dm = 0.0; }
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    s = 1; mn = 0;
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(b + 2u + 16u * g + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = bitfieldExtract(int(w), int(8u * i), 8);
    }
}

// ---------------------------------------------------------------- K-quants (256-element blocks)

#elif defined(TYPE_Q2_K)
#define QK 256u
#define QB 84u
#define MIN_SIGN -1
void block_df(uint b, out float d, out float dm)
{
    d = half_to_float(load_u16(b + 80u));
    dm = half_to_float(load_u16(b + 82u));
}
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    const uint sc = load_u8(b + g);
    s = int(sc & 0xfu); mn = int(sc >> 4);
    // element j = 16g + i: byte qs[32 * (j / 128) + j % 32], bits 2 * ((j % 128) / 32)
    const uint q = b + 16u + 32u * (g / 8u) + 16u * (g % 2u);
    const uint sh = 2u * ((g % 8u) / 2u);
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(q + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = int((w >> (8u * i + sh)) & 3u);
    }
}
#elif defined(TYPE_Q3_K)
#define QK 256u
#define QB 110u
#define MIN_SIGN 0
void block_df(uint b, out float d, out float dm) { d = half_to_float(load_u16(b + 108u)); dm = 0.0; }
// sixteen 6-bit scales biased by 32: low nibbles in bytes 0-7, top bits in 8-11
int q3_scale(uint b, uint j)
{
    const uint lo = j < 8u ? (load_u8(b + 96u + j) & 0xfu) : (load_u8(b + 96u + j - 8u) >> 4);
    const uint hi = (load_u8(b + 96u + 8u + j % 4u) >> (2u * (j / 4u))) & 3u;
    return int(lo | (hi << 4)) - 32;
}
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    s = q3_scale(b, g); mn = 0;
    const uint ll = 16u * (g % 2u);               // element j % 32
    const uint q = b + 32u + 32u * (g / 8u) + ll;
    const uint sh = 2u * ((g % 8u) / 2u);
    const uint hbit = 4u * (g / 8u) + (g % 8u) / 2u; // hmask bit of this group
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(q + k);
        const uint h = load_u32(b + ll + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = int((w >> (8u * i + sh)) & 3u) - (((h >> (8u * i + hbit)) & 1u) != 0u ? 0 : 4);
    }
}
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define QK 256u
#if defined(TYPE_Q4_K)
#define QB 144u
#define QS_AT 16u
#else
#define QB 176u
#define QS_AT 48u
#endif
#define MIN_SIGN -1
void block_df(uint b, out float d, out float dm)
{
    d = half_to_float(load_u16(b));
    dm = half_to_float(load_u16(b + 2u));
}
// eight 6-bit scales and mins packed in 12 bytes (get_scale_min_k4)
void scale_min_k4(uint b, uint j, out int sc, out int m)
{
    const uint q = b + 4u;
    if (j < 4u) {
        sc = int(load_u8(q + j) & 63u);
        m = int(load_u8(q + j + 4u) & 63u);
    } else {
        sc = int((load_u8(q + j + 4u) & 0xfu) | ((load_u8(q + j - 4u) >> 6) << 4));
        m = int((load_u8(q + j + 4u) >> 4) | ((load_u8(q + j) >> 6) << 4));
    }
}
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    scale_min_k4(b, g / 2u, s, mn);
    // element j = 16g + i: nibble (j % 64) / 32 of qs[32 * (j / 64) + j % 32]
    const uint ll = 16u * (g % 2u);
    const uint q = b + QS_AT + 32u * (g / 4u) + ll;
    const uint sh = 4u * ((g % 4u) / 2u);
#if defined(TYPE_Q5_K)
    const uint hbit = g / 2u; // qh[j % 32] bit (j / 32)
#endif
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(q + k);
#if defined(TYPE_Q5_K)
        const uint h = load_u32(b + 16u + ll + k);
#endif
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            int v = int((w >> (8u * i + sh)) & 0xfu);
#if defined(TYPE_Q5_K)
            v += ((h >> (8u * i + hbit)) & 1u) != 0u ? 16 : 0;
#endif
            a[k + i] = v;
        }
    }
}
#elif defined(TYPE_Q6_K)
#define QK 256u
#define QB 210u
#define MIN_SIGN 0
void block_df(uint b, out float d, out float dm) { d = half_to_float(load_u16(b + 208u)); dm = 0.0; }
void decode16(uint b, uint g, out int a[16], out int s, out int mn)
{
    s = bitfieldExtract(int(load_u8(b + 192u + g)), 0, 8); mn = 0;
    // element j: quarter qq = (j % 128) / 32 of half j / 128; low four bits
    // in ql[64 * half + j % 32 + 32 * (qq % 2)] (nibble qq / 2), high two in
    // qh[32 * half + j % 32] bits 2 * qq
    const uint half_ = g / 8u, qq = (g % 8u) / 2u, ll = 16u * (g % 2u);
    const uint ql = b + 64u * half_ + ll + 32u * (qq % 2u);
    const uint qh = b + 128u + 32u * half_ + ll;
    const uint sh = 4u * (qq / 2u);
    [[unroll]] for (uint k = 0u; k < 16u; k += 4u) {
        const uint w = load_u32(ql + k);
        const uint h = load_u32(qh + k);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[k + i] = int(((w >> (8u * i + sh)) & 0xfu) | (((h >> (8u * i + 2u * qq)) & 3u) << 4)) - 32;
    }
}
#endif

#if !TYPE_FLOAT
#define GPB (QK / 16u) // groups of 16 per block
#endif

// Elements 16G .. 16G+15 of the row at row_addr as the CPU dequantizes them
// (n_in: row length, which for float types need not be a multiple of 16).
void dequant16(uint row_addr, uint G, uint n_in, out float v[16])
{
#if TYPE_FLOAT
    [[unroll]] for (uint i = 0u; i < 16u; i++) {
        const uint e = 16u * G + i;
        v[i] = e < n_in ? load_elem(row_addr, e) : 0.0;
    }
#else
    const uint b = row_addr + (G / GPB) * QB;
    int a[16];
    int s, mn;
    decode16(b, G % GPB, a, s, mn);
    float d, dm;
    block_df(b, d, dm);
    precise const float ds = d * float(s);
#if MIN_SIGN != 0
    precise const float m = dm * float(mn);
    // no [[unroll]] on loops of precise arithmetic: spirv-opt's unroller
    // drops NoContraction from the copies, and its next passes fuse them
    // into fma (the driver may still unroll; NIR keeps the exact flags)
    for (uint i = 0u; i < 16u; i++) {
        precise float x = ds * float(a[i]);
#if MIN_SIGN > 0
        x = x + m;
#else
        x = x - m;
#endif
        v[i] = x;
    }
#else
    for (uint i = 0u; i < 16u; i++) {
        precise float x = ds * float(a[i]);
        v[i] = x;
    }
#endif
#endif
}
