#version 450
// The GELU family in place over n_rows rows of n, as hk_op_act
// (engine/ops_enc.c), chosen by specialization constant ACT:
//   0  ggml_gelu: tanh form through ggml's F16 table - x <= -10 gives 0,
//      x >= 10 gives x, else table[f16 bits of x];
//   1  ggml_gelu_erf: 0.5 x (1 + erf(x / sqrt 2)) in float, no table (ggml
//      has none for F32);
//   2  ggml_gelu_quick (CLIP): table[f16 bits of x], no clamp.
// The tables (binding 1, 65536 floats) are made on the host by the CPU's
// own functions, as ggml makes them, so 0 and 2 give the CPU's bits on
// every driver; erf_acc and ggml_expf are within about an ulp everywhere
// (Vulkan lets the built-ins be far worse).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint ACT = 0;
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer T { float table[]; }; // ACT 0, 2
layout(push_constant) uniform P {
    uint n_rows, n;
    uint y0, ldy;
} p;

// erf to within 1 ulp (Norbert Juffa's minimax fit, checked against
// libm's erf over [-12, 12] in steps of 1e-4: 0.97 ulp at most).
float erf_acc(float a)
{
    const float t = abs(a), s = a * a;
    if (t > 0.927734375) {
        precise float r = fma(-1.72853470e-5, t, 3.83197126e-4);
        precise float u = fma(-3.88396438e-3, t, 2.42546219e-2);
        r = fma(r, s, u);
        r = fma(r, t, -1.06777877e-1);
        r = fma(r, t, -6.34846687e-1);
        r = fma(r, t, -1.28717512e-1);
        r = fma(r, t, -t);
        r = 1.0 - ggml_expf(r);
        return a < 0.0 ? -r : r;
    }
    precise float r = -5.96761703e-4;
    r = fma(r, s, 4.99119423e-3);
    r = fma(r, s, -2.67681349e-2);
    r = fma(r, s, 1.12819925e-1);
    r = fma(r, s, -3.76125336e-1);
    r = fma(r, s, 1.28379166e-1);
    return fma(r, a, a);
}

float gelu_erf(float x)
{
    precise float g = 0.5 * x * (1.0 + erf_acc(x * 0.70710678118654752440084436210484));
    return g;
}

float act(float x)
{
    if (ACT == 1)
        return gelu_erf(x);
    if (ACT == 0 && x <= -10.0)
        return 0.0;
    if (ACT == 0 && x >= 10.0)
        return x;
    return table[float_to_half(x)];
}

void main()
{
    // one invocation per element; rows past 65535 groups spill into y
    const uint idx = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
    if (idx >= p.n_rows * p.n)
        return;
    const uint r = idx / p.n, i = idx - r * p.n;
    const uint at = p.y0 + r * p.ldy + i;
    const float v = y[at];
    y[at] = act(v);
}
