#version 450
// Attention of one query token and one head per workgroup over the KV
// cache (hk_op_attention): GQA (consecutive query heads share a KV head),
// causal mask and sliding window, optional soft-cap of the scores.  The
// keys up to this query's position (and below n_kv from the step buffer)
// are read in tiles of WG: each invocation scores one key of a tile, then
// each accumulates its output dims over the tile (V reads coalesced).
//
// F32 cache: one pass, online softmax (running max, rescaled sum and
// accumulators), nothing of size n_ctx kept.
// KV_F16: llama.cpp rounds Q and the normalized probabilities to F16
// before the products with an F16 cache; the probabilities need the final
// max and sum first, so a first pass finds those and a second recomputes
// each score (bit-identical) and accumulates P.V.  Without that rounding
// the kvf16 goldens move by 1.2-1.5% rms (measured on the CPU, ops.c).
//
// SPLIT (vk_lm.c: a KV cache layer in several buffers, "parts", and
// split-K "flash-decoding" of one-token steps): workgroup (h, t, s) reads
// the cells of one part [cell0, cell0 + cells) and of them the s-th of
// n_split chunks of this query's range, and writes a partial record
// (m, sum, acc[dv]) at chunk chunk0 + s of n_chunks; attention_merge.comp
// combines them.  F32: one pass, acc not yet divided by sum.  KV_F16: a
// first pass writes (m, sum); the PV pass (after a barrier) takes the
// global max and sum from every chunk's record, so that P is rounded to
// F16 from the same final max and sum as the one-workgroup shader, and
// writes acc = sum of round_f16(P) V over its chunk; the merge adds them.
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64; // power of two, >= 32
layout(local_size_x_id = 0) in;
const uint MAX_D = 256;          // largest head dim (the host checks)
const uint DPT = MAX_D / 32;     // output dims per invocation, at most

layout(std430, binding = 0) readonly buffer Q { float q[]; };
#ifdef KV_F16
layout(std430, binding = 1) readonly buffer K { uint k[]; };
layout(std430, binding = 2) readonly buffer V { uint v[]; };
#else
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
#endif
#ifdef SPLIT
layout(std430, binding = 3) buffer Part { float pr[]; };
#else
layout(std430, binding = 3) writeonly buffer O { float o[]; };
#endif
layout(std430, binding = 4) readonly buffer Step { int pos0; int n_tok; int n_kv; int pad_; };
layout(push_constant) uniform P {
    uint n_head;
    uint n_head_kv;
    uint dk;
    uint dv;
    uint ldq;
    uint ldo;
    uint q_row0;  // row of q (and position offset) of workgroup row 0
    int window;   // > 0: keys p-window+1 .. p
    float scale;
    float softcap; // > 0: s = softcap * tanh(s / softcap)
    float cap_inv;
    // SPLIT only
    uint cell0;    // first cell of the bound part
    uint cells;    // cells of the part
    uint n_split;  // chunks of the part (gl_WorkGroupID.z)
    uint chunk0;   // record index of this part's chunk 0
    uint n_chunks; // records per (row, head)
} p;
const int MIN_CHUNK = int(WG); // a chunk holds at least a tile (short contexts: fewer busy chunks)

shared float qs[MAX_D];
shared float ps[WG];
shared float red[WG];

float score(uint j, uint g)
{
    precise float s = 0.0;
#ifdef KV_F16
    const uint base = (j * p.n_head_kv * p.dk + g * p.dk) / 2;
    for (uint w = 0; w < p.dk / 2; w++) {
        vec2 kk = unpack_f16x2(k[base + w]);
        s = s + kk.x * qs[2 * w]; // F16 x F16 products are exact in float
        s = s + kk.y * qs[2 * w + 1];
    }
#else
    const uint base = j * p.n_head_kv * p.dk + g * p.dk;
    for (uint d = 0; d < p.dk; d++)
        s = fma(k[base + d], qs[d], s);
#endif
    if (p.softcap > 0.0)
        s = tanh_acc(s * p.cap_inv) * p.softcap;
    s = s * p.scale;
    return s;
}

float v_at(uint j, uint g, uint d)
{
    const uint e = j * p.n_head_kv * p.dv + g * p.dv + d;
#ifdef KV_F16
    return unpack_f16x2(v[e >> 1])[e & 1];
#else
    return v[e];
#endif
}

float reduce_max(float x)
{
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = x;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s)
            red[tid] = max(red[tid], red[tid + s]);
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

float reduce_sum(float x)
{
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = x;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (tid < s)
            red[tid] = red[tid] + red[tid + s];
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

#define NEG_INF uintBitsToFloat(0xff800000u)

#ifndef SPLIT
void main()
{
    const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const int pq = pos0 + int(p.q_row0 + t);
    const uint g = h / (p.n_head / p.n_head_kv);
    const int j0 = p.window > 0 ? max(0, pq - p.window + 1) : 0;
    const int j1 = min(pq, n_kv - 1);
    const uint qb = (p.q_row0 + t) * p.ldq + h * p.dk;
    for (uint d = tid; d < p.dk; d += WG)
#ifdef KV_F16
        qs[d] = round_f16(q[qb + d]); // ggml converts the other operand of an F16 matmul
#else
        qs[d] = q[qb + d];
#endif
    barrier();

    float acc[DPT];
    for (uint c = 0; c < DPT; c++)
        acc[c] = 0.0;
    float m = NEG_INF, sum = 0.0;
#ifdef KV_F16
    for (int c0 = j0; c0 <= j1; c0 += int(WG)) {
        const int j = c0 + int(tid);
        const float s = j <= j1 ? score(uint(j), g) : NEG_INF;
        const float m_new = max(m, reduce_max(s));
        const float e = j <= j1 ? ggml_expf(s - m_new) : 0.0;
        const float tsum = reduce_sum(e);
        precise float sc = m == NEG_INF ? 0.0 : sum * ggml_expf(m - m_new);
        sum = sc + tsum;
        m = m_new;
    }
    precise float inv = 1.0 / sum;
    for (int c0 = j0; c0 <= j1; c0 += int(WG)) {
        const int j = c0 + int(tid);
        precise float pr = j <= j1 ? ggml_expf(score(uint(j), g) - m) * inv : 0.0;
        ps[tid] = round_f16(pr);
        barrier();
        const uint nt = uint(min(int(WG), j1 - c0 + 1));
        for (uint c = 0; c < DPT; c++) {
            const uint d = tid + c * WG;
            if (d < p.dv)
                for (uint i = 0; i < nt; i++)
                    acc[c] = fma(ps[i], v_at(uint(c0) + i, g, d), acc[c]);
        }
        barrier();
    }
    for (uint c = 0; c < DPT; c++) {
        const uint d = tid + c * WG;
        if (d < p.dv)
            o[(t * p.ldo) + h * p.dv + d] = acc[c];
    }
#else
    for (int c0 = j0; c0 <= j1; c0 += int(WG)) {
        const int j = c0 + int(tid);
        const float s = j <= j1 ? score(uint(j), g) : NEG_INF;
        const float m_new = max(m, reduce_max(s));
        const float corr = m == NEG_INF ? 0.0 : ggml_expf(m - m_new);
        const float e = j <= j1 ? ggml_expf(s - m_new) : 0.0;
        ps[tid] = e;
        const float tsum = reduce_sum(e); // its barriers publish ps too
        precise float ns = sum * corr + tsum;
        sum = ns;
        const uint nt = uint(min(int(WG), j1 - c0 + 1));
        for (uint c = 0; c < DPT; c++) {
            const uint d = tid + c * WG;
            if (d < p.dv) {
                precise float a = acc[c] * corr;
                for (uint i = 0; i < nt; i++)
                    a = fma(ps[i], v_at(uint(c0) + i, g, d), a);
                acc[c] = a;
            }
        }
        barrier();
        m = m_new;
    }
    precise float inv = 1.0 / sum;
    for (uint c = 0; c < DPT; c++) {
        const uint d = tid + c * WG;
        if (d < p.dv)
            o[(t * p.ldo) + h * p.dv + d] = acc[c] * inv;
    }
#endif
}
#endif // !SPLIT

#ifdef SPLIT
void main()
{
    const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, ks = gl_WorkGroupID.z, tid = gl_LocalInvocationID.x;
    const int pq = pos0 + int(p.q_row0 + t);
    const uint g = h / (p.n_head / p.n_head_kv);
    const int j0 = p.window > 0 ? max(0, pq - p.window + 1) : 0;
    const int j1 = min(pq, n_kv - 1);
    // this query's cells in the part, then this workgroup's chunk of them,
    // as cells of the part's buffer [a, b] (empty when a > b)
    const int lo = max(j0, int(p.cell0)), hi = min(j1, int(p.cell0 + p.cells) - 1);
    const int len = max(hi - lo + 1, 0);
    const int L = max((len + int(p.n_split) - 1) / int(p.n_split), MIN_CHUNK);
    const int a = lo + int(ks) * L - int(p.cell0);
    const int b = min(hi, lo + int(ks) * L + L - 1) - int(p.cell0);
    const uint REC = p.dv + 2;
    const uint th = (t * p.n_head + h) * p.n_chunks; // this (row, head)'s record 0
    const uint rec = (th + p.chunk0 + ks) * REC;
    const uint qb = (p.q_row0 + t) * p.ldq + h * p.dk;
    for (uint d = tid; d < p.dk; d += WG)
#ifdef KV_F16
        qs[d] = round_f16(q[qb + d]);
#else
        qs[d] = q[qb + d];
#endif
    barrier();

    float acc[DPT];
    for (uint c = 0; c < DPT; c++)
        acc[c] = 0.0;
    float m = NEG_INF, sum = 0.0;
#if defined(KV_F16) && !defined(PV)
    for (int c0 = a; c0 <= b; c0 += int(WG)) {
        const int j = c0 + int(tid);
        const float s = j <= b ? score(uint(j), g) : NEG_INF;
        const float m_new = max(m, reduce_max(s));
        const float e = j <= b ? ggml_expf(s - m_new) : 0.0;
        const float tsum = reduce_sum(e);
        precise float sc = m == NEG_INF ? 0.0 : sum * ggml_expf(m - m_new);
        sum = sc + tsum;
        m = m_new;
    }
    if (tid == 0) {
        pr[rec] = m;
        pr[rec + 1] = sum;
    }
#elif defined(KV_F16)
    // the global max and sum, from every chunk's (m, sum) in chunk order
    for (uint c = 0; c < p.n_chunks; c++)
        m = max(m, pr[(th + c) * REC]);
    for (uint c = 0; c < p.n_chunks; c++) {
        const float mc = pr[(th + c) * REC];
        if (mc != NEG_INF) {
            precise float ns = sum + pr[(th + c) * REC + 1] * ggml_expf(mc - m);
            sum = ns;
        }
    }
    precise float inv = 1.0 / sum;
    for (int c0 = a; c0 <= b; c0 += int(WG)) {
        const int j = c0 + int(tid);
        precise float pj = j <= b ? ggml_expf(score(uint(j), g) - m) * inv : 0.0;
        ps[tid] = round_f16(pj);
        barrier();
        const uint nt = uint(min(int(WG), b - c0 + 1));
        for (uint c = 0; c < DPT; c++) {
            const uint d = tid + c * WG;
            if (d < p.dv)
                for (uint i = 0; i < nt; i++)
                    acc[c] = fma(ps[i], v_at(uint(c0) + i, g, d), acc[c]);
        }
        barrier();
    }
    for (uint c = 0; c < DPT; c++) {
        const uint d = tid + c * WG;
        if (d < p.dv)
            pr[rec + 2 + d] = acc[c];
    }
#else
    for (int c0 = a; c0 <= b; c0 += int(WG)) {
        const int j = c0 + int(tid);
        const float s = j <= b ? score(uint(j), g) : NEG_INF;
        const float m_new = max(m, reduce_max(s));
        const float corr = m == NEG_INF ? 0.0 : ggml_expf(m - m_new);
        const float e = j <= b ? ggml_expf(s - m_new) : 0.0;
        ps[tid] = e;
        const float tsum = reduce_sum(e); // its barriers publish ps too
        precise float ns = sum * corr + tsum;
        sum = ns;
        const uint nt = uint(min(int(WG), b - c0 + 1));
        for (uint c = 0; c < DPT; c++) {
            const uint d = tid + c * WG;
            if (d < p.dv) {
                precise float x = acc[c] * corr;
                for (uint i = 0; i < nt; i++)
                    x = fma(ps[i], v_at(uint(c0) + i, g, d), x);
                acc[c] = x;
            }
        }
        barrier();
        m = m_new;
    }
    if (tid == 0) {
        pr[rec] = m;
        pr[rec + 1] = sum;
    }
    for (uint c = 0; c < DPT; c++) {
        const uint d = tid + c * WG;
        if (d < p.dv)
            pr[rec + 2 + d] = acc[c];
    }
#endif
}
#endif // SPLIT
