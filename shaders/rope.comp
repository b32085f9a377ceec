#version 450
// RoPE in place on rows of heads (hk_op_rope): pairs (2i, 2i+1), or with
// NEOX (i, i + n_rot/2), rotated by the cos/sin of their row.  The angles
// are not computed here: the host writes cos/sin of each row's position
// into the step buffer, with ggml's iterative float angle and libm's
// cosf/sinf, because Vulkan allows sin/cos an absolute error of 2^-11 and
// GPUs reduce large arguments (positions in the thousands) coarsely.
// cs_stride 0 gives every row the same rotation (the context shift).
// KV_F16: the rows are an F16 KV cache (words of two halves): widen, rotate
// in float, round back, as ggml's F16 RoPE.  Each invocation owns two
// consecutive pairs, so with F16 no two invocations write one word.
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

#ifdef KV_F16
layout(std430, binding = 0) buffer D { uint d[]; };
vec2 load2(uint e) { return unpack_f16x2(d[e >> 1]); }
void store2(uint e, vec2 v) { d[e >> 1] = pack_f16x2(v); }
#else
layout(std430, binding = 0) buffer D { float d[]; };
vec2 load2(uint e) { return vec2(d[e], d[e + 1]); }
void store2(uint e, vec2 v) { d[e] = v.x; d[e + 1] = v.y; }
#endif
layout(std430, binding = 1) readonly buffer Step { int pos0; int n_tok; int n_kv; int pad_; float cs[]; };
layout(push_constant) uniform P {
    uint n_head;
    uint head_dim;
    uint ld;       // elements between rows
    uint row0;     // first row (workgroup row 0)
    uint n_rot;    // multiple of 4
    uint cs_stride; // floats of cs per row: n_rot, or 0
} p;

vec2 rot(vec2 v, uint row, uint i) // v = (x0, x1) of pair i
{
    const uint c = row * p.cs_stride + 2 * i;
    const float cs_ = cs[c], sn = cs[c + 1];
    precise float a = v.x * cs_ - v.y * sn;
    precise float b = v.x * sn + v.y * cs_;
    return vec2(a, b);
}

void main()
{
    const uint quads = p.n_rot / 4;
    const uint id = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    if (id >= p.n_head * quads)
        return;
    const uint h = id / quads, u = id % quads;
    const uint base = (p.row0 + t) * p.ld + h * p.head_dim;
    const uint i0 = 2 * u; // pairs i0, i0 + 1
#ifdef NEOX
    // elements (i0, i0+1) pair with (i0+n/2, i0+1+n/2)
    const uint half_ = p.n_rot / 2;
    vec2 a = load2(base + i0), b = load2(base + i0 + half_);
    vec2 r0 = rot(vec2(a.x, b.x), t, i0), r1 = rot(vec2(a.y, b.y), t, i0 + 1);
    store2(base + i0, vec2(r0.x, r1.x));
    store2(base + i0 + half_, vec2(r0.y, r1.y));
#else
    vec2 a = load2(base + 2 * i0), b = load2(base + 2 * i0 + 2);
    store2(base + 2 * i0, rot(a, t, i0));
    store2(base + 2 * i0 + 2, rot(b, t, i0 + 1));
#endif
}
