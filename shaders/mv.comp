#version 450
// y[t][o] = W[o] . x[t] (+ bias[o]) for a few activation rows (one per
// workgroup row gl_WorkGroupID.y): the matrix-vector kernel of token
// generation, bound by reading W once.  NR consecutive weight rows per
// workgroup; the invocations take the rows' units in turn (adjacent
// invocations, adjacent bytes), each keeps one partial sum per row, and the
// workgroup adds them up (subgroupAdd where the device has it: SUBGROUP=1).
//   float kernels (EXACT mode, and F32/F16/BF16 weights in LLAMACPP mode):
//       a unit is 16 elements dequantized exactly as the CPU does, times x
//       (for F16/BF16 in LLAMACPP mode x is the rounded scratch, binding 1);
//   QDOT=1 (LLAMACPP mode, quantized weights): a unit is one block,
//       integer dot product and the block's float term (q_dot.glsl) against
//       the rounded activations in the scratch.
#extension GL_EXT_control_flow_attributes : require
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 2;
layout(std430, binding = 0) readonly buffer Wb { uint W[]; };
#if QDOT
layout(std430, binding = 1) readonly buffer Ab { uint A[]; };
#else
layout(std430, binding = 1) readonly buffer Xb { float X[]; };
#endif
layout(std430, binding = 2) buffer Yb { float Y[]; };
layout(std430, binding = 3) readonly buffer Bb { float B[]; };
#include "types.glsl"
#include "act.glsl"
#if QDOT
#include "q_dot.glsl"
#endif
layout(push_constant) uniform P { mm_push p; };

const uint WG = gl_WorkGroupSize.x;
shared float red[64 * 8]; // WG <= 64 invocations x NR <= 8 rows (checked by the host)

#if QDOT
float unit_dot(uint row_addr, uint blk, uint t)
{
    const uint b = row_addr + blk * QB;
    int lanes[LANES];
    [[unroll]] for (int l = 0; l < LANES; l++)
        lanes[l] = 0;
    int msum = 0;
    [[unroll]] for (uint g = 0u; g < GPB; g++)
        group_dot(b, g, p.row0 + t, blk * QK + 16u * g, blk, p.n_in, p.a_qs, p.a_bs, lanes, msum);
    float xd, xm;
    block_df(b, xd, xm);
    const uint sc = p.a_sc + 2u * ((p.row0 + t) * (p.n_in / QK) + blk);
    return block_term(lanes, msum, xd, xm, uintBitsToFloat(A[sc]), uintBitsToFloat(A[sc + 1u]));
}
#else
float unit_dot(uint row_addr, uint G, uint t)
{
    float v[16];
    dequant16(row_addr, G, p.n_in, v);
    const uint xr = p.x_off + (p.row0 + t) * p.x_ld + 16u * G;
    float s = 0.0;
    [[unroll]] for (uint i = 0u; i < 16u; i++)
        if (16u * G + i < p.n_in)
            s += v[i] * X[xr + i];
    return s;
}
#endif

void main()
{
    // rows past 65535 workgroups continue in z (a vocabulary of 150k rows)
    const uint r0 = (gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x) * NR;
    if (r0 >= p.n_out)
        return; // the whole workgroup: no barrier is skipped by part of it
    const uint t = gl_WorkGroupID.y;
    const uint tid = gl_LocalInvocationID.x;
#if QDOT
    const uint units = p.n_in / QK;
#else
    const uint units = (p.n_in + 15u) / 16u;
#endif
    float acc[8];
    [[unroll]] for (uint r = 0u; r < 8u; r++)
        acc[r] = 0.0;
    for (uint u = tid; u < NR * units; u += WG) {
        const uint r = u / units;
        if (r0 + r < p.n_out)
            acc[r] += unit_dot(p.w_off + (r0 + r) * p.w_row_bytes, u - r * units, t);
    }
#if SUBGROUP
    for (uint r = 0u; r < NR; r++) {
        const float s = subgroupAdd(acc[r]);
        if (subgroupElect())
            red[r * WG + gl_SubgroupID] = s;
    }
    barrier();
    if (tid < NR) {
        float s = 0.0;
        for (uint i = 0u; i < gl_NumSubgroups; i++)
            s += red[tid * WG + i];
        red[tid * WG] = s;
    }
    barrier();
#else
    for (uint r = 0u; r < NR; r++)
        red[r * WG + tid] = acc[r];
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (tid < h)
            for (uint r = 0u; r < NR; r++)
                red[r * WG + tid] += red[r * WG + tid + h];
        barrier();
    }
#endif
    if (tid < NR && r0 + tid < p.n_out) {
        const uint o = r0 + tid;
        float v = red[tid * WG];
        if (p.has_bias != 0u)
            v = v + B[p.out_row0 + o];
        Y[p.y_off + (p.row0 + t) * p.y_ld + p.out_row0 + o] = v;
    }
}
