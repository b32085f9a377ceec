// Workgroup-wide sum and max for kernels that give a row to one workgroup
// (layer_norm.comp, softmax.comp).  Include right after #version, with WG
// (the local size, a power of two) defined.  Compiled with USE_SUBGROUP
// (only for devices that report subgroup arithmetic in compute) the lanes
// of a subgroup combine in registers and shared memory holds one value per
// subgroup; otherwise a shared-memory tree, log2(WG) barriers.
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float red_buf[WG];

#ifdef USE_SUBGROUP
float wg_sum(float v)
{
    v = subgroupAdd(v);
    if (subgroupElect())
        red_buf[gl_SubgroupID] = v;
    barrier();
    float s = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++)
        s += red_buf[i];
    barrier(); // red_buf is reused by the next reduction
    return s;
}

float wg_max(float v)
{
    v = subgroupMax(v);
    if (subgroupElect())
        red_buf[gl_SubgroupID] = v;
    barrier();
    float m = red_buf[0];
    for (uint i = 1; i < gl_NumSubgroups; i++)
        m = max(m, red_buf[i]);
    barrier();
    return m;
}
#else
float wg_sum(float v)
{
    const uint l = gl_LocalInvocationID.x;
    red_buf[l] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s)
            red_buf[l] += red_buf[l + s];
        barrier();
    }
    const float r = red_buf[0];
    barrier();
    return r;
}

float wg_max(float v)
{
    const uint l = gl_LocalInvocationID.x;
    red_buf[l] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s)
            red_buf[l] = max(red_buf[l], red_buf[l + s]);
        barrier();
    }
    const float r = red_buf[0];
    barrier();
    return r;
}
#endif

// Row handled by this workgroup: rows past 65535 spill into gl_WorkGroupID.y.
uint wg_row() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
