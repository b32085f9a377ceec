#version 450
// ggml_norm (+ * w + b) on one row per workgroup, as hk_op_layer_norm
// (engine/ops_enc.c): mean, then the centred variance, then
// y = (x - mean) * (1 / sqrt(var + eps)) [* w] [+ b], each step rounded as
// there (precise: no fused multiply-add).  The CPU sums in double; here
// float partial sums over coalesced strided loads and a workgroup tree.
// y may alias x: each invocation writes only the elements it read.
#extension GL_GOOGLE_include_directive : require
#define WG 256
#include "reduce.glsl"

layout(local_size_x = WG) in;
layout(constant_id = 0) const uint HAS_W = 0;
layout(constant_id = 1) const uint HAS_B = 0;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 3) readonly buffer B { float b[]; };
layout(push_constant) uniform P {
    uint n_rows, n;
    uint x0, ldx; // in floats
    uint y0, ldy;
    uint w0, b0;
    float eps;
} p;

void main()
{
    const uint r = wg_row();
    if (r >= p.n_rows)
        return; // uniform over the workgroup, so no barrier is skipped by part of it
    const uint xr = p.x0 + r * p.ldx, yr = p.y0 + r * p.ldy;
    float s = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG)
        s += x[xr + i];
    const float mean = wg_sum(s) / float(p.n);
    float s2 = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) {
        precise float v = x[xr + i] - mean;
        precise float v2 = v * v;
        s2 += v2;
    }
    const float var = wg_sum(s2) / float(p.n);
    const float scale = 1.0 / sqrt(var + p.eps);
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) {
        precise float v = (x[xr + i] - mean) * scale;
        if (HAS_W != 0)
            v = v * w[p.w0 + i];
        if (HAS_B != 0)
            v = v + b[p.b0 + i];
        y[yr + i] = v;
    }
}
