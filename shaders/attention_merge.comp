#version 450
// Combines the partial records of the split attention (attention.comp with
// SPLIT): workgroup (h, t) reads the n_chunks records (m, sum, acc[dv]) of
// row t, head h, and writes that head's output row.  F32: the chunks'
// online-softmax states rescaled to the largest max, o = sum_c acc_c e^(m_c
// - M) / sum_c sum_c e^(m_c - M).  KV_F16: the records already hold
// round_f16(P) V with P from the global max and sum, so o = sum_c acc_c.
// Chunks are added in chunk (= cell) order.
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Part { float pr[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
    uint n_head;
    uint dv;
    uint ldo;
    uint n_chunks;
} p;

#define NEG_INF uintBitsToFloat(0xff800000u)

void main()
{
    const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint REC = p.dv + 2;
    const uint th = (t * p.n_head + h) * p.n_chunks;
#ifdef KV_F16
    for (uint d = tid; d < p.dv; d += WG) {
        precise float x = 0.0;
        for (uint c = 0; c < p.n_chunks; c++)
            x = x + pr[(th + c) * REC + 2 + d];
        o[t * p.ldo + h * p.dv + d] = x;
    }
#else
    float m = NEG_INF;
    for (uint c = 0; c < p.n_chunks; c++)
        m = max(m, pr[(th + c) * REC]);
    precise float sum = 0.0;
    for (uint c = 0; c < p.n_chunks; c++) {
        const float mc = pr[(th + c) * REC];
        if (mc != NEG_INF)
            sum = sum + pr[(th + c) * REC + 1] * ggml_expf(mc - m);
    }
    precise float inv = 1.0 / sum;
    for (uint d = tid; d < p.dv; d += WG) {
        precise float x = 0.0;
        for (uint c = 0; c < p.n_chunks; c++) {
            const float mc = pr[(th + c) * REC];
            if (mc != NEG_INF)
                x = x + pr[(th + c) * REC + 2 + d] * ggml_expf(mc - m);
        }
        o[t * p.ldo + h * p.dv + d] = x * inv;
    }
#endif
}
