#version 450
// Rounds rows of activations to a weight type's vec_dot_type, bit for bit as
// the CPU's SIMD level does (engine/cpu/quant_x86.h, which produced the
// llama.cpp goldens): one invocation per block and row.
//   ACT_Q8_0, ACT_Q8_1: x86 llama.cpp's quantize_row_q8_0/q8_1: amax, scale
//       127/amax, quants rounded half to even, d = amax/127 stored as F16
//       (Q8_1 also s = F16(d * sum of quants));
//   ACT_Q8_K: quantize_row_q8_K_ref: the first element of largest magnitude
//       gives iscale = -127/max, quants min(127, round-half-even), bsums of
//       16, d = 1/iscale as a float;
//   ACT_F16, ACT_BF16: round each element, store the rounded float.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer A { uint a[]; };
#include "act.glsl"
#include "rounding.glsl"
layout(push_constant) uniform P { mm_push p; };

#if defined(ACT_Q8_K)
#define QA 256u
#elif defined(ACT_F16) || defined(ACT_BF16)
#define QA 32u
#else
#define QA 32u
#endif

void main()
{
    const uint b = gl_GlobalInvocationID.x;
    const uint t = gl_WorkGroupID.y;
    const uint nb = (p.n_in + QA - 1u) / QA;
    if (b >= nb)
        return;
    const uint row = p.row0 + t;
    const uint xr = p.x_off + row * p.x_ld + b * QA;
#if defined(ACT_F16) || defined(ACT_BF16)
    const uint o = p.a_qs + row * p.n_in + b * QA;
    for (uint i = 0u; i < QA && b * QA + i < p.n_in; i++) {
#if defined(ACT_F16)
        const uint h = float_to_half(x[xr + i]);
        // the half's value as a float, exactly (half -> float never rounds)
        a[o + i] = floatBitsToUint(half_to_float(h));
#else
        a[o + i] = float_to_bf16(x[xr + i]) << 16;
#endif
    }
#else
    float amax = 0.0;
    float vmax = 0.0; // Q8_K: the first element of largest magnitude, signed
    for (uint i = 0u; i < QA; i++) {
        const float v = x[xr + i];
        if (abs(v) > amax) {
            amax = abs(v);
            vmax = v;
        }
    }
    const uint qw = p.a_qs + row * (p.n_in / 4u) + b * (QA / 4u);
    const uint sc = p.a_sc + 2u * (row * nb + b);
#if defined(ACT_Q8_K)
    const uint bs = p.a_bs + 16u * (row * nb + b);
    if (amax == 0.0) {
        for (uint i = 0u; i < QA / 4u; i++)
            a[qw + i] = 0u;
        for (uint j = 0u; j < 16u; j++)
            a[bs + j] = 0u;
        a[sc] = 0u;
        a[sc + 1u] = 0u;
        return;
    }
    const float iscale = div_rn(-127.0, vmax);
    int bsum = 0;
    for (uint i = 0u; i < QA; i += 4u) {
        uint w = 0u;
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            precise const float v = iscale * x[xr + i + k];
            const int q = min(127, int(roundEven(v)));
            bsum += q;
            w |= (uint(q) & 0xffu) << (8u * k);
        }
        a[qw + i / 4u] = w;
        if ((i & 15u) == 12u) {
            a[bs + i / 16u] = uint(bsum);
            bsum = 0;
        }
    }
    a[sc] = floatBitsToUint(div_rn(1.0, iscale));
    a[sc + 1u] = 0u;
#else
    const float id = amax != 0.0 ? div_rn(127.0, amax) : 0.0;
    int sum = 0;
    for (uint i = 0u; i < QA; i += 4u) {
        uint w = 0u;
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            precise const float v = x[xr + i + k] * id;
            // packs_epi32/epi16 saturate; 127/amax keeps |v| <= 127 anyway
            const int q = clamp(int(roundEven(v)), -128, 127);
            sum += q;
            w |= (uint(q) & 0xffu) << (8u * k);
        }
        a[qw + i / 4u] = w;
    }
    const float d = amax != 0.0 ? div_rn(amax, 127.0) : 0.0;
    a[sc] = floatBitsToUint(half_to_float(float_to_half(d)));
#if defined(ACT_Q8_1)
    precise const float ds = d * float(sum);
    a[sc + 1u] = floatBitsToUint(half_to_float(float_to_half(ds)));
#else
    a[sc + 1u] = 0u;
#endif
#endif
#endif
}
