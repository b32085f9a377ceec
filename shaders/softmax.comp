#version 450
// ggml_soft_max_ext without ALiBi, in place, one row per workgroup, as
// hk_op_softmax (engine/ops_enc.c): w = y * scale (+ mask row r % mask_rows),
// e = exp(w - max), y = e * (1 / sum e).  exp is ggml_expf (common.glsl),
// the same bits on every driver; the CPU sums in double, here float partial
// sums and a workgroup tree.  Each invocation revisits only its own
// elements between passes, so the passes need no barrier of their own.
#extension GL_GOOGLE_include_directive : require
#define WG 256
#include "reduce.glsl"
#include "common.glsl"

layout(local_size_x = WG) in;
layout(constant_id = 0) const uint HAS_MASK = 0;
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer M { float mask[]; };
layout(push_constant) uniform P {
    uint n_rows, n;
    uint y0, ldy;
    uint m0, ldm, mask_rows;
    float scale;
} p;

void main()
{
    const uint r = wg_row();
    if (r >= p.n_rows)
        return;
    const uint yr = p.y0 + r * p.ldy, mr = p.m0 + (r % p.mask_rows) * p.ldm;
    float mx = uintBitsToFloat(0xff800000u); // -inf
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) {
        precise float v = y[yr + i] * p.scale;
        if (HAS_MASK != 0)
            v = v + mask[mr + i];
        y[yr + i] = v;
        mx = max(mx, v);
    }
    mx = wg_max(mx);
    float s = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) {
        const float e = ggml_expf(y[yr + i] - mx);
        y[yr + i] = e;
        s += e;
    }
    // Vulkan lets 1/x be 2.5 ulp off; the CPU's is correctly rounded
    const float inv = div_rn(1.0, wg_sum(s));
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG)
        y[yr + i] *= inv;
}
