#ifndef HK_ROUNDING_GLSL
#define HK_ROUNDING_GLSL
// Float roundings the CPU does in C, done here with integer operations so
// that every device gives the same bits: a Vulkan OpFDiv may be off by 2.5
// ulp and OpFConvert to half has an implementation-defined rounding, while
// llama.cpp's activation quantizers divide and round to half exactly.

// IEEE half to float by integer operations: exact for every half, also the
// subnormal ones a device may flush when it converts in hardware.
float half_to_float(uint h)
{
    const uint sign = (h & 0x8000u) << 16;
    const uint e = (h >> 10) & 0x1fu;
    const uint m = h & 0x3ffu;
    if (e == 0u) {
        const float v = float(m) * 5.9604644775390625e-8; // m * 2^-24, exact
        return sign != 0u ? -v : v;
    }
    if (e == 31u)
        return uintBitsToFloat(sign | 0x7f800000u | (m << 13));
    return uintBitsToFloat(sign | ((e + 112u) << 23) | (m << 13));
}

// a / b correctly rounded (to nearest even) for finite normal operands and
// a normal quotient, by long division of the mantissas.  Anything else
// (zeros, subnormals, infinities, NaN) takes the device's division: the
// quantizers below never divide by those (a zero block is special-cased).
float div_rn(float a, float b)
{
    const uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
    const uint ea = (ua >> 23) & 0xffu, eb = (ub >> 23) & 0xffu;
    if (ea == 0u || ea == 255u || eb == 0u || eb == 255u)
        return a / b;
    uint ma = (ua & 0x7fffffu) | 0x800000u;
    const uint mb = (ub & 0x7fffffu) | 0x800000u;
    int e = int(ea) - int(eb) + 127;
    if (ma < mb) {
        ma <<= 1;
        e -= 1;
    }
    // mb <= ma < 2 mb: 24 quotient bits and a guard bit; r stays below 2^26
    uint q = 0u, r = ma;
    for (int i = 0; i < 25; i++) {
        q <<= 1;
        if (r >= mb) {
            r -= mb;
            q |= 1u;
        }
        r <<= 1;
    }
    const uint guard = q & 1u;
    q >>= 1;
    if (guard != 0u && (r != 0u || (q & 1u) != 0u))
        q += 1u;
    if (q == 0x1000000u) {
        q >>= 1;
        e += 1;
    }
    if (e <= 0 || e >= 255)
        return a / b;
    return uintBitsToFloat(((ua ^ ub) & 0x80000000u) | (uint(e) << 23) | (q & 0x7fffffu));
}

// IEEE half bits of f, round to nearest even; NaN becomes 0x7e00 with f's
// sign, as hk_f32_to_f16 (ggml's scalar code) and F16C give.
uint float_to_half(float f)
{
    const uint u = floatBitsToUint(f);
    const uint sign = (u >> 16) & 0x8000u;
    const uint au = u & 0x7fffffffu;
    if (au > 0x7f800000u)
        return sign | 0x7e00u;
    if (au >= 0x477ff000u) // 65520 and up round to infinity
        return sign | 0x7c00u;
    if (au < 0x38800000u) { // below 2^-14: a subnormal half (or zero)
        const uint e = au >> 23;
        if (e < 102u)
            return sign;
        const uint m = (au & 0x7fffffu) | 0x800000u;
        const uint shift = 126u - e; // value * 2^24 = m >> shift
        uint q = m >> shift;
        const uint rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u) != 0u))
            q += 1u;
        return sign | q;
    }
    const uint r = au - 0x38000000u; // rebias the exponent from 127 to 15
    uint q = r >> 13;
    const uint rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u) != 0u))
        q += 1u;
    return sign | q;
}

// hk_f32_to_bf16: round half to even on the high 16 bits; NaN kept quiet.
uint float_to_bf16(float f)
{
    const uint u = floatBitsToUint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (u >> 16) | 64u;
    return (u + (0x7fffu + ((u >> 16) & 1u))) >> 16;
}
#endif
