#version 450
// Read bandwidth probe (hark bench on a device): each invocation sums a
// strided run of vec4s and writes one float, so the reads cannot be dropped
// and the writes are a rounding error of the traffic.
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; uint stride; } p; // n vec4s; stride = invocations in the grid
void main()
{
    vec4 acc = vec4(0.0);
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += p.stride)
        acc += x[i];
    y[gl_GlobalInvocationID.x] = acc.x + acc.y + acc.z + acc.w;
}
