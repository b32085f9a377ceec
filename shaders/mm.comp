#version 450
// Y[t][o] = W[o] . x[t] (+ bias[o]) for batches (prompt processing): tiles
// of TM weight rows x TN activation rows per workgroup, stepping through
// the rows BK elements at a time; each step dequantizes (or decodes) its
// weight tile into shared memory once for all TN rows and loads the
// activation tile once for all TM weight rows.  128 invocations, each
// owning 4 weight rows x 2 activation rows of the tile.
//   float (EXACT mode; F32/F16/BF16 in LLAMACPP mode): the CPU's
//       dequantized values, F32 products and sums;
//   QDOT=1 (LLAMACPP mode): decoded integer quants against the scratch's
//       int8 activations, integer sums carried across the steps of one
//       block, the block's float term (q_dot.glsl) at its last step;
//       INT_DOT=1 keeps both tiles as packed bytes and adds four products
//       at a time with OpSDot (q_dot.glsl; Q3_K..Q6_K: two products and
//       two zero bytes a dot, one dot per lane).
#extension GL_EXT_control_flow_attributes : require
#if INT_DOT
#extension GL_EXT_spirv_intrinsics : require
#endif
layout(local_size_x = 128) in;
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

#define TM 32u
#define TN 32u
#define BK 32u
#define RM 4u // weight rows per invocation: tx + 8 i
#define RN 2u // activation rows per invocation: ty + 16 j

#if QDOT
#if INT_DOT && LANES == 8
shared int ws[TM][BK / 2u]; // q_dot.glsl's lane_word: eight words a group of 16
#elif INT_DOT
shared int ws[TM][BK / 4u]; // four quants a word
#else
shared int ws[TM][BK];
#endif
shared int wsc[TM][2];  // s of the step's two groups
shared int wmn[TM][2];  // mn of the step's two groups
shared float wd[TM];    // block d, dm
shared float wdm[TM];
#if INT_DOT
shared int xs[TN][BK / 4u];
#else
shared int xs[TN][BK];
#endif
shared int xb[TN][2];   // bsums of the step's two groups (Q8_K)
shared float xd[TN];    // block d, s
shared float xsum[TN];
#else
shared float ws[TM][BK + 1u];
shared float xs[TN][BK + 1u];
#endif

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint tx = tid % 8u, ty = tid / 8u;
    const uint o0 = gl_WorkGroupID.x * TM; // first weight row of the tile
    const uint t0 = gl_WorkGroupID.y * TN; // first activation row (after row0)
    float acc[RM][RN];
    [[unroll]] for (uint i = 0u; i < RM; i++)
        [[unroll]] for (uint j = 0u; j < RN; j++)
            acc[i][j] = 0.0;
#if QDOT
    int lanes[RM][RN][LANES];
    int msum[RM][RN];
    [[unroll]] for (uint i = 0u; i < RM; i++)
        [[unroll]] for (uint j = 0u; j < RN; j++) {
            msum[i][j] = 0;
            [[unroll]] for (int l = 0; l < LANES; l++)
                lanes[i][j][l] = 0;
        }
    const uint nb = p.n_in / QK;
#endif

    for (uint k0 = 0u; k0 < p.n_in; k0 += BK) {
        // ---- load the weight tile: TM rows x 2 groups of 16
        if (tid < 2u * TM) {
            const uint r = tid / 2u, g2 = tid % 2u;
            const uint o = o0 + r;
            const uint G = k0 / 16u + g2;
#if QDOT
            int a[16];
            int s = 0, mn = 0;
            if (o < p.n_out) {
                const uint b = p.w_off + o * p.w_row_bytes + (k0 / QK) * QB;
                decode16(b, G % GPB, a, s, mn);
                if (g2 == 0u) {
                    float d, dm;
                    block_df(b, d, dm);
                    wd[r] = d;
                    wdm[r] = dm;
                }
            } else {
                [[unroll]] for (uint i = 0u; i < 16u; i++)
                    a[i] = 0;
            }
#if INT_DOT && LANES == 8
            [[unroll]] for (uint l = 0u; l < 8u; l++)
                ws[r][8u * g2 + l] = lane_word(a, l);
#elif INT_DOT
            [[unroll]] for (uint k = 0u; k < 4u; k++)
                ws[r][4u * g2 + k] = pack4x8(a, k);
#else
            [[unroll]] for (uint i = 0u; i < 16u; i++)
                ws[r][16u * g2 + i] = a[i];
#endif
            wsc[r][g2] = s;
            wmn[r][g2] = mn;
#else
            float v[16];
            if (o < p.n_out && 16u * G < p.n_in) {
                dequant16(p.w_off + o * p.w_row_bytes, G, p.n_in, v);
            } else {
                [[unroll]] for (uint i = 0u; i < 16u; i++)
                    v[i] = 0.0;
            }
            [[unroll]] for (uint i = 0u; i < 16u; i++)
                ws[r][16u * g2 + i] = v[i];
#endif
        }
        // ---- load the activation tile: TN rows x BK elements
#if QDOT
        [[unroll]] for (uint m = 0u; m < TN * BK / 4u / 128u; m++) {
            const uint idx = tid + 128u * m;
            const uint t = idx / (BK / 4u), kw = idx % (BK / 4u);
            int q = 0;
            if (t0 + t < p.n_tok)
                q = int(A[p.a_qs + (p.row0 + t0 + t) * (p.n_in / 4u) + k0 / 4u + kw]);
#if INT_DOT
            xs[t][kw] = q;
#else
            [[unroll]] for (uint i = 0u; i < 4u; i++)
                xs[t][4u * kw + i] = bitfieldExtract(q, int(8u * i), 8);
#endif
        }
        if (tid < TN) {
            const uint t = tid;
            float d = 0.0, s = 0.0;
            int b0 = 0, b1 = 0;
            if (t0 + t < p.n_tok) {
                const uint row = p.row0 + t0 + t, blk = k0 / QK;
                const uint sc = p.a_sc + 2u * (row * nb + blk);
                d = uintBitsToFloat(A[sc]);
                s = uintBitsToFloat(A[sc + 1u]);
#if HAS_MSUM
                const uint bs = p.a_bs + 16u * (row * nb + blk) + (k0 % QK) / 16u;
                b0 = int(A[bs]);
                b1 = int(A[bs + 1u]);
#endif
            }
            xd[t] = d;
            xsum[t] = s;
            xb[t][0] = b0;
            xb[t][1] = b1;
        }
#else
        [[unroll]] for (uint m = 0u; m < TN * BK / 128u; m++) {
            const uint idx = tid + 128u * m;
            const uint t = idx / BK, k = idx % BK;
            float v = 0.0;
            if (t0 + t < p.n_tok && k0 + k < p.n_in)
                v = X[p.x_off + (p.row0 + t0 + t) * p.x_ld + k0 + k];
            xs[t][k] = v;
        }
#endif
        barrier();

        // ---- multiply
#if QDOT
#if INT_DOT && LANES == 8
        // each activation row's interleaved words (act_lanes), once for
        // every weight row: [j][g2][E of lanes 0-3, O of 0-3, E of 4-7, O of 4-7]
        int xl[RN][2][4];
        [[unroll]] for (uint j = 0u; j < RN; j++)
            [[unroll]] for (uint g2 = 0u; g2 < 2u; g2++)
                [[unroll]] for (uint k = 0u; k < 2u; k++)
                    act_lanes(uint(xs[ty + 16u * j][4u * g2 + k]), uint(xs[ty + 16u * j][4u * g2 + k + 2u]),
                              xl[j][g2][2u * k], xl[j][g2][2u * k + 1u]);
#endif
        [[unroll]] for (uint i = 0u; i < RM; i++) {
            const uint r = tx + 8u * i;
            [[unroll]] for (uint j = 0u; j < RN; j++) {
                const uint t = ty + 16u * j;
                [[unroll]] for (uint g2 = 0u; g2 < 2u; g2++) {
                    const int s = wsc[r][g2];
#if INT_DOT && LANES == 8
                    [[unroll]] for (uint l = 0u; l < 8u; l++)
                        lanes[i][j][l] += s * sdot4x8(ws[r][8u * g2 + l], xl[j][g2][2u * (l / 4u) + l % 2u], 0);
#elif INT_DOT
                    int d = 0;
                    [[unroll]] for (uint k = 0u; k < 4u; k++)
                        d += sdot4x8(ws[r][4u * g2 + k], xs[t][4u * g2 + k], 0);
                    lanes[i][j][0] += s * d;
#else
                    [[unroll]] for (uint k = 0u; k < 16u; k++)
                        lanes[i][j][k % uint(LANES)] += s * (ws[r][16u * g2 + k] * xs[t][16u * g2 + k]);
#endif
#if HAS_MSUM
                    msum[i][j] += xb[t][g2] * wmn[r][g2];
#endif
                }
            }
        }
        if ((k0 + BK) % QK == 0u) {
            // the block's last step: its float terms.  No [[unroll]] here:
            // spirv-opt's unroller drops `precise` from the copies and fuses
            // the term's last product into the add (the driver unrolls these
            // small loops anyway, keeping the exact flags)
            for (uint i = 0u; i < RM; i++) {
                const uint r = tx + 8u * i;
                for (uint j = 0u; j < RN; j++) {
                    const uint t = ty + 16u * j;
                    acc[i][j] += block_term(lanes[i][j], msum[i][j], wd[r], wdm[r], xd[t], xsum[t]);
                    msum[i][j] = 0;
                    [[unroll]] for (int l = 0; l < LANES; l++)
                        lanes[i][j][l] = 0;
                }
            }
        }
#else
        for (uint k = 0u; k < BK; k++) {
            float wv[RM];
            [[unroll]] for (uint i = 0u; i < RM; i++)
                wv[i] = ws[tx + 8u * i][k];
            [[unroll]] for (uint j = 0u; j < RN; j++) {
                const float xv = xs[ty + 16u * j][k];
                [[unroll]] for (uint i = 0u; i < RM; i++)
                    acc[i][j] += wv[i] * xv;
            }
        }
#endif
        barrier();
    }

    [[unroll]] for (uint i = 0u; i < RM; i++) {
        const uint o = o0 + tx + 8u * i;
        if (o >= p.n_out)
            continue;
        [[unroll]] for (uint j = 0u; j < RN; j++) {
            const uint t = t0 + ty + 16u * j;
            if (t >= p.n_tok)
                continue;
            float v = acc[i][j];
            if (p.has_bias != 0u)
                v = v + B[p.out_row0 + o];
            Y[p.y_off + (p.row0 + t) * p.y_ld + p.out_row0 + o] = v;
        }
    }
}
