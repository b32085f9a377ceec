#version 450
// d[dst + i] = d[src + i], i < n (32-bit words): moves cells of a KV cache
// for the context shift.  The caller never lets source and destination of
// one dispatch overlap (it moves in chunks of the shift distance).
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer D { uint d[]; };
layout(push_constant) uniform P { uint src; uint dst; uint n; } p;
void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i < p.n)
        d[p.dst + i] = d[p.src + i];
}
