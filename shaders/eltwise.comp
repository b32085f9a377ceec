#version 450
// Elementwise ops on rows of n floats (ops.h), one define each:
//   OP_ADD       y[y_row0 + t] += x[x_row0 + t]
//   OP_SCALE     y *= s
//   OP_SOFTCAP   y = s * tanh(y * (1/s))        (the three ggml ops)
//   OP_SILU_MUL  y = silu(y) * x
//   OP_GELU_MUL  y = gelu(y) * x, gelu from ggml's F16 table (binding 2,
//                65536 floats made on the host by hk_gelu_ggml), so the
//                GPU rounds input and output to F16 as ggml does
#include "common.glsl"

layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) buffer Y { float y[]; };
#if defined(OP_ADD) || defined(OP_SILU_MUL) || defined(OP_GELU_MUL)
layout(std430, binding = 1) readonly buffer X { float x[]; };
#endif
#ifdef OP_GELU_MUL
layout(std430, binding = 2) readonly buffer T { float gelu_table[]; };
#endif
layout(push_constant) uniform P {
    uint n;
    uint ldy;
    uint ldx;
    uint y_row0;
    uint x_row0;
    float s;
    float s_inv; // OP_SOFTCAP: 1/s as the host rounds it (a GPU divide may not)
} p;

void main()
{
    const uint i = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    if (i >= p.n)
        return;
    const uint yi = (p.y_row0 + t) * p.ldy + i;
#if defined(OP_ADD) || defined(OP_SILU_MUL) || defined(OP_GELU_MUL)
    const float xv = x[(p.x_row0 + t) * p.ldx + i];
#endif
    precise float v = y[yi];
#if defined(OP_ADD)
    v = v + xv;
#elif defined(OP_SCALE)
    v = v * p.s;
#elif defined(OP_SOFTCAP)
    precise float a = v * p.s_inv;
    v = tanh_acc(a) * p.s;
#elif defined(OP_SILU_MUL)
    precise float sg = v / (1.0 + ggml_expf(-v));
    v = sg * xv;
#elif defined(OP_GELU_MUL)
    float g;
    if (v <= -10.0)
        g = 0.0;
    else if (v >= 10.0)
        g = v;
    else
        g = gelu_table[float_to_half(v)];
    v = g * xv;
#endif
    y[yi] = v;
}
