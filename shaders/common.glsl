#ifndef HK_COMMON_GLSL
#define HK_COMMON_GLSL
// Helpers shared by the forward-pass shaders (included, never compiled alone).
//
// Every function here exists because the GPU's built-in would not give the
// CPU's numbers (engine/ops.c): Vulkan lets exp/tanh/packHalf2x16 be
// approximate or round toward zero on some drivers, and lets a*b+c contract
// into one fma unless the result is `precise`.  With these, a shader rounds
// where llama.cpp's CPU path rounds, on every driver.

#include "rounding.glsl"

// F16 through rounding.glsl's integer conversions: exact widening (also of
// subnormal halves, which a hardware convert may flush) and round to nearest
// even (hk_f32_to_f16; AMD's packHalf2x16 truncates).
float round_f16(float f) { return half_to_float(float_to_half(f)); }
uint pack_f16x2(vec2 v) { return float_to_half(v.x) | (float_to_half(v.y) << 16); }
vec2 unpack_f16x2(uint w) { return vec2(half_to_float(w & 0xffffu), half_to_float(w >> 16)); }

// ggml's AVX-512 ggml_v_expf, one lane (ops.c ggml_expf): the softmax and
// silu use it so that every driver gives the same bits.
float ggml_expf(float x)
{
    const float r = uintBitsToFloat(0x4b400000u); // 0x1.8p23
    precise float z = fma(x, uintBitsToFloat(0x3fb8aa3bu), r);
    precise float n = z - r;
    precise float b = fma(-n, uintBitsToFloat(0x35bfbe8eu), fma(-n, uintBitsToFloat(0x3f317200u), x));
    if (isnan(x))
        return x;
    if (abs(n) > 192.0)
        return n <= 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    precise float u = b * b;
    precise float j = fma(fma(fma(uintBitsToFloat(0x3c072010u), b, uintBitsToFloat(0x3d2b9f17u)), u,
                              fma(uintBitsToFloat(0x3e2aaf33u), b, uintBitsToFloat(0x3efffedbu))),
                          u, fma(uintBitsToFloat(0x3f7ffff6u), b, 1.0));
    return ldexp(j, int(n));
}

// tanh to about an ulp: near 0 the usual 1 - 2/(e^2x + 1) cancels (a
// soft-cap sees scores of 1e-3 of its cap), so there the Taylor series
// (10 terms: 7e-11 relative at |x| = 0.55).
float tanh_acc(float x)
{
    float a = abs(x);
    if (a < 0.55) {
        precise float x2 = x * x;
        precise float p = 9.691537956929451e-05;
        p = p * x2 - 0.00023912911424355248;
        p = p * x2 + 0.000590027440945586;
        p = p * x2 - 0.0014558343870513183;
        p = p * x2 + 0.003592128036572481;
        p = p * x2 - 0.008863235529902197;
        p = p * x2 + 0.021869488536155203;
        p = p * x2 - 0.05396825396825397;
        p = p * x2 + 0.13333333333333333;
        p = p * x2 - 0.3333333333333333;
        precise float r = x + x * x2 * p;
        return r;
    }
    precise float r = 1.0 - 2.0 / (ggml_expf(2.0 * a) + 1.0);
    return x < 0.0 ? -r : r;
}

// Error-free sum: s + e == a + b exactly.  Pairs of these carry a sum of
// floats with ~48 bits, which stands in for the CPU's double accumulators
// where shaderFloat64 is missing (most GPUs run it slowly anyway).
void two_sum(float a, float b, out float s, out float e)
{
    precise float ps = a + b;
    precise float bb = ps - a;
    precise float pe = (a - (ps - bb)) + (b - bb);
    s = ps;
    e = pe;
}
#endif
