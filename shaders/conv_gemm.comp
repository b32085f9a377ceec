#version 450
// Convolution as ggml does it, im2col + matmul, with the im2col never
// stored: y[m][o] = sum_j W[o][j] * A(m, j) (+ bias[o]), where A is read from
// the input as it is needed (an implicit GEMM).
//   default: ggml_conv_1d (Whisper's front end): m a time step, j = c*kw + k,
//            A(m, j) = x[x0 + c*sc + (m*stride + k - pad)*st], 0 in the padding;
//   PATCH:   ggml_conv_2d with stride = kernel = p (ViT patch embedding): m a
//            patch (py = m / gw, px = m % gw), j = (c*p + ky)*p + kx,
//            A(m, j) = x[x0 + c*sc + (py*p + ky)*len + px*p + kx].
// ROUND_F16 rounds A to F16 as ggml's F16 im2col does (the kernel is
// uploaded already rounded): the products of two F16 values are exact in
// float, so only the float summation order differs from the CPU's double
// sum (hk_op_conv1d / hk_op_patch_embed).
//
// Tiles: a workgroup computes BM x BN outputs (rows x channels) from BK-wide
// slices of A and W staged in shared memory; each invocation owns 4 x 4 of
// them, with channels fastest across invocations so the stores coalesce.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define BM 64
#define BN 64
#define BK 16
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint HAS_BIAS = 0;
layout(constant_id = 1) const uint ROUND_F16 = 1;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };      // [N][K]
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint M, N, K;     // output rows, output channels, im2col row length
    uint x0, y0, ldy; // in floats
    uint kw;          // kernel width (conv) or patch size p
    uint stride, pad; // conv only
    uint len;         // conv: input samples; PATCH: image width
    uint sc, st;      // channel stride; conv: time stride
    uint gw;          // PATCH: patches per image row
} p;

shared float As[BK][BM];
shared float Bs[BK][BN + 1]; // +1: the loads below write down columns

float im2col(uint m, uint j)
{
#ifdef PATCH
    const uint pp = p.kw * p.kw;
    const uint c = j / pp, r = j - c * pp;
    const uint ky = r / p.kw, kx = r - ky * p.kw;
    const uint py = m / p.gw, px = m - py * p.gw;
    const float v = x[p.x0 + c * p.sc + (py * p.kw + ky) * p.len + px * p.kw + kx];
#else
    const uint c = j / p.kw, k = j - c * p.kw;
    const int t = int(m * p.stride + k) - int(p.pad);
    const float v = t < 0 || t >= int(p.len) ? 0.0 : x[p.x0 + c * p.sc + uint(t) * p.st];
#endif
    return ROUND_F16 != 0 ? round_f16(v) : v;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint tn = lid % 16, tm = lid / 16;
    const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
    float acc[4][4];
    for (uint i = 0; i < 4; i++)
        for (uint q = 0; q < 4; q++)
            acc[i][q] = 0.0;
    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        for (uint l = lid; l < BM * BK; l += 256) {
            // A: consecutive invocations take consecutive rows (time steps
            // of a channel-major signal sit next to each other)
            const uint mm = l % BM, kk = l / BM;
            const uint m = m0 + mm, j = k0 + kk;
            As[kk][mm] = m < p.M && j < p.K ? im2col(m, j) : 0.0;
            // W: consecutive invocations read consecutive j of a kernel row
            const uint jj = l % BK, nn = l / BK;
            const uint o = n0 + nn, jw = k0 + jj;
            Bs[jj][nn] = o < p.N && jw < p.K ? w[o * p.K + jw] : 0.0;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float a[4], b[4];
            for (uint i = 0; i < 4; i++)
                a[i] = As[kk][tm + 16 * i];
            for (uint q = 0; q < 4; q++)
                b[q] = Bs[kk][tn + 16 * q];
            for (uint i = 0; i < 4; i++)
                for (uint q = 0; q < 4; q++)
                    acc[i][q] += a[i] * b[q];
        }
        barrier();
    }
    for (uint i = 0; i < 4; i++) {
        const uint m = m0 + tm + 16 * i;
        if (m >= p.M)
            continue;
        for (uint q = 0; q < 4; q++) {
            const uint o = n0 + tn + 16 * q;
            if (o < p.N) {
                precise float v = acc[i][q];
                if (HAS_BIAS != 0)
                    v = v + bias[o];
                y[p.y0 + m * p.ldy + o] = v;
            }
        }
    }
}
