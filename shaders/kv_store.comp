#version 450
// Stores rows of K or V (F32 work rows) into one layer's cache at the cells
// pos0 .. pos0+n-1, pos0 read from the step buffer so that a recorded step
// serves every position.  KV_F16: rounded to F16 (two halves a word; the row
// length is even), as llama.cpp's ggml_cpy into an F16 cache.  The bound
// buffer is one part of the layer's cache, cells [cell0, cell0 + cells):
// rows whose cell lies elsewhere are left to that part's dispatch.
#include "common.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer S { float src[]; };
#ifdef KV_F16
layout(std430, binding = 1) writeonly buffer C { uint cache[]; };
#else
layout(std430, binding = 1) writeonly buffer C { float cache[]; };
#endif
layout(std430, binding = 2) readonly buffer Step { int pos0; int n_tok; int n_kv; int pad_; };
layout(push_constant) uniform P {
    uint row;  // elements per cell
    uint ld;   // floats between rows of src
    uint cell0; // first cell of the bound part
    uint cells; // cells of the part
} p;

void main()
{
    const uint i = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    if (uint(pos0) + t < p.cell0 || uint(pos0) + t >= p.cell0 + p.cells)
        return;
    const uint cell = uint(pos0) + t - p.cell0;
#ifdef KV_F16
    if (i >= p.row / 2)
        return;
    const uint s = t * p.ld + 2 * i;
    cache[cell * (p.row / 2) + i] = pack_f16x2(vec2(src[s], src[s + 1]));
#else
    if (i >= p.row)
        return;
    cache[cell * p.row + i] = src[t * p.ld + i];
#endif
}
