#version 450
// Embedding lookup: y[i] = row ids[i] of W dequantized exactly as the CPU's
// to_float does (bit for bit), 16 elements per invocation.  A tensor split
// into parts is looked up with one dispatch per part; each writes the rows
// whose id falls in its part.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Wb { uint W[]; };
layout(std430, binding = 1) readonly buffer Ib { int ids[]; };
layout(std430, binding = 2) writeonly buffer Yb { float Y[]; };
#include "types.glsl"
layout(push_constant) uniform P {
    uint n_in;        // elements per row
    uint part_row0;   // first tensor row in this part
    uint part_rows;   // rows in this part
    uint w_off;       // byte offset of the part's first row in binding 0
    uint w_row_bytes;
    uint y_off;       // float offset of y row 0
    uint y_ld;
} p;

void main()
{
    const uint G = gl_GlobalInvocationID.x;
    const uint i = gl_WorkGroupID.y;
    const int id = ids[i];
    if (16u * G >= p.n_in || id < int(p.part_row0) || id >= int(p.part_row0 + p.part_rows))
        return;
    float v[16];
    dequant16(p.w_off + (uint(id) - p.part_row0) * p.w_row_bytes, G, p.n_in, v);
    const uint y = p.y_off + i * p.y_ld + 16u * G;
    [[unroll]] for (uint k = 0u; k < 16u; k++)
        if (16u * G + k < p.n_in)
            Y[y + k] = v[k];
}
