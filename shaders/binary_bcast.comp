#version 450
// y[r][i] = y[r][i] op b[r * ldb + i] over n_rows rows of n, as
// hk_op_binary (engine/ops_enc.c): ldb = 0 broadcasts one row (bias add,
// per-channel scale), ldb >= n is a full matrix (positional embeddings).
// OP (specialization constant): 0 add, 1 mul.  One float operation, so the
// result is the CPU's bit for bit.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(push_constant) uniform P {
    uint n_rows, n;
    uint y0, ldy;
    uint b0, ldb;
} p;

void main()
{
    const uint idx = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
    if (idx >= p.n_rows * p.n)
        return;
    const uint r = idx / p.n, i = idx - r * p.n;
    const uint at = p.y0 + r * p.ldy + i;
    const float c = b[p.b0 + r * p.ldb + i];
    precise float v = OP == 0 ? y[at] + c : y[at] * c;
    y[at] = v;
}
