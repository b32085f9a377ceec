#version 450
// y[i] *= s over n floats: the smallest kernel, also the device layer's self-test.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; float s; } p;
void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i < p.n)
        y[i] *= p.s;
}
