#version 450
// y = x / sqrt(mean(x^2) + eps) * w, one workgroup per row (hk_op_rms_norm).
// The CPU sums the float squares in double; here each invocation keeps an
// error-free (hi, lo) float pair and the pairs are summed by a tree, so the
// mean rounds to the same float as the double sum nearly always (no
// shaderFloat64 needed).  Measured on lavapipe against the exact-mode
// goldens: gemma2 (26 layers) 2.2-4.1e-5 rel rms, with a plain float tree
// 2.7-4.3e-5; the 2-layer models do not tell them apart (~6e-7).
// y may be x (in place: every invocation writes only what it read).
#include "common.glsl"

layout(constant_id = 0) const uint WG = 128; // power of two
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint n;      // row length
    uint ldx;    // floats between rows of x
    uint ldy;
    uint x_row0; // row of x that workgroup 0 reads (the last layer's trimmed row)
    uint y_row0;
    float eps;
} p;

shared float sh_hi[WG];
shared float sh_lo[WG];

void main()
{
    const uint tid = gl_LocalInvocationID.x, row = gl_WorkGroupID.x;
    const uint xo = (p.x_row0 + row) * p.ldx, yo = (p.y_row0 + row) * p.ldy;
    float hi = 0.0, lo = 0.0;
    for (uint i = tid; i < p.n; i += WG) {
        precise float sq = x[xo + i] * x[xo + i];
        float e;
        two_sum(hi, sq, hi, e);
        lo += e;
    }
    sh_hi[tid] = hi;
    sh_lo[tid] = lo;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s) {
            float h, e;
            two_sum(sh_hi[tid], sh_hi[tid + s], h, e);
            precise float l = sh_lo[tid] + sh_lo[tid + s] + e;
            sh_hi[tid] = h;
            sh_lo[tid] = l;
        }
        barrier();
    }
    // mean = float((hi + lo) / n) with one rounding, as (float)(sum / (double)n)
    const float nf = float(p.n);
    precise float q = sh_hi[0] / nf;
    precise float r = fma(-q, nf, sh_hi[0]) + sh_lo[0];
    precise float mean = q + r / nf;
    precise float scale = 1.0 / sqrt(mean + p.eps);
    for (uint i = tid; i < p.n; i += WG) {
        precise float v = x[xo + i] * scale; // ggml_rms_norm then ggml_mul: two roundings
        y[yo + i] = v * w[i];
    }
}
