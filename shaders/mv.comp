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
//       the rounded activations in the scratch; INT_DOT=1 adds the sums of
//       four products with OpSDot (q_dot.glsl).
// NT activation rows per workgroup (rows t0 .. t0+NT-1, t0 = NT *
// gl_WorkGroupID.y): each weight unit is read and decoded once for all of
// them, so a batch of a few rows reads W once, not once per row.  Every
// row's sum is formed as with NT = 1 - the same units per invocation, the
// same reduction - so its bits do not depend on NT.
#extension GL_EXT_control_flow_attributes : require
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#if INT_DOT
#extension GL_EXT_spirv_intrinsics : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 2;
layout(constant_id = 2) const uint NT = 1;
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

void main()
{
    // rows past 65535 workgroups continue in z (a vocabulary of 150k rows)
    const uint r0 = (gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x) * NR;
    if (r0 >= p.n_out)
        return; // the whole workgroup: no barrier is skipped by part of it
    const uint t0 = gl_WorkGroupID.y * NT;
    const uint nt = min(NT, p.n_tok - t0);
    const uint tid = gl_LocalInvocationID.x;
#if QDOT
    const uint units = p.n_in / QK;
#else
    const uint units = (p.n_in + 15u) / 16u;
#endif
    float acc[NR * NT]; // weight row r, activation row t: acc[r * NT + t]
    for (uint i = 0u; i < NR * NT; i++)
        acc[i] = 0.0;
    for (uint u = tid; u < NR * units; u += WG) {
        const uint r = u / units;
        if (r0 + r >= p.n_out)
            continue;
        const uint row_addr = p.w_off + (r0 + r) * p.w_row_bytes;
#if QDOT
        // unit: block blk, its integer sums per activation row, then the
        // block's float term
        const uint blk = u - r * units;
        const uint b = row_addr + blk * QB;
        qsums q[NT];
        for (uint t = 0u; t < nt; t++) {
            q[t].msum = 0;
            [[unroll]] for (int l = 0; l < LANES; l++)
                q[t].lanes[l] = 0;
        }
        [[unroll]] for (uint g = 0u; g < GPB; g++) {
            const wgroup wg = load_group(b, g);
            for (uint t = 0u; t < nt; t++)
                group_dot(wg, g, p.row0 + t0 + t, blk * QK + 16u * g, blk, p.n_in, p.a_qs, p.a_bs, q[t]);
        }
        float xd, xm;
        block_df(b, xd, xm);
        for (uint t = 0u; t < nt; t++) {
            const uint sc = p.a_sc + 2u * ((p.row0 + t0 + t) * (p.n_in / QK) + blk);
            acc[r * NT + t] += block_term(q[t].lanes, q[t].msum, xd, xm, uintBitsToFloat(A[sc]),
                                          uintBitsToFloat(A[sc + 1u]));
        }
#else
        // unit: 16 elements dequantized once, times each activation row
        const uint G = u - r * units;
        float v[16];
        dequant16(row_addr, G, p.n_in, v);
        for (uint t = 0u; t < nt; t++) {
            const uint xr = p.x_off + (p.row0 + t0 + t) * p.x_ld + 16u * G;
            float s = 0.0;
            [[unroll]] for (uint i = 0u; i < 16u; i++)
                if (16u * G + i < p.n_in)
                    s += v[i] * X[xr + i];
            acc[r * NT + t] += s;
        }
#endif
    }
    // one reduction per activation row, through the same shared array
    for (uint t = 0u; t < nt; t++) {
#if SUBGROUP
        for (uint r = 0u; r < NR; r++) {
            const float s = subgroupAdd(acc[r * NT + t]);
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
            red[r * WG + tid] = acc[r * NT + t];
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
            Y[p.y_off + (p.row0 + t0 + t) * p.y_ld + p.out_row0 + o] = v;
        }
        barrier(); // red is written again for the next row
    }
}
