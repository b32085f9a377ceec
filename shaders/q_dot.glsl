// The LLAMACPP-mode block dot product: integer sums inside a block exactly
// as the scalar ggml_vec_dot_*_q8_* forms them, then that function's float
// expression for the block, operand for operand (engine/quant.c,
// quant_k.c).  Only the float sum across blocks is left to the caller, in
// any order.  Needs types.glsl and act.glsl first, and `uint A[]` (the
// scratch).
//
// Per block the caller accumulates, over its 16-element groups:
//   lanes[i % LANES] += s * (a[i] * q[i])   (LANES 8 where ggml keeps eight
//                                            lane sums: Q3_K..Q6_K; else 1)
//   msum += bsums[g] * mn                    (K-quants with mins)
// and block_term turns them into the block's float contribution.

#if defined(TYPE_Q3_K) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K) || defined(TYPE_Q6_K)
#define LANES 8
#else
#define LANES 1
#endif
#if defined(TYPE_Q2_K) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define HAS_MSUM 1
#else
#define HAS_MSUM 0
#endif

// xd, xm: the weight block's d and dm (block_df); yd, ys: the activation
// block's d and s.
float block_term(int lanes[LANES], int msum, float xd, float xm, float yd, float ys)
{
#if defined(TYPE_Q4_0)
    precise const float r = float(lanes[0]) * xd * yd;
#elif defined(TYPE_Q5_0)
    precise const float r = (xd * yd) * float(lanes[0]);
#elif defined(TYPE_Q8_0)
    precise const float r = float(lanes[0]) * (xd * yd);
#elif defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    precise const float r = (xd * yd) * float(lanes[0]) + xm * ys;
#elif defined(TYPE_Q2_K)
    precise const float r = (yd * xd) * float(lanes[0]) - (yd * xm) * float(msum);
#else
    // ggml adds d * aux32[l] into eight running lane sums (and subtracts
    // the min term from the total first); the terms are these products, in
    // ggml's order so that a row of one block gives ggml's bits
    precise const float d = xd * yd;
#if HAS_MSUM
    precise float r = -((xm * yd) * float(msum));
#else
    precise float r = 0.0;
#endif
    for (int l = 0; l < LANES; l++) // not [[unroll]]: see dequant16 in types.glsl
        r += d * float(lanes[l]);
#endif
    return r;
}

// INT_DOT=1 (types with LANES 1 only): the sums of four products as
// OpSDot on packed signed bytes (VK_KHR_shader_integer_dot_product; the
// shader enables GL_EXT_spirv_intrinsics, since glslang before 12 has no
// GL_EXT_integer_dot_product).  Integer sums are exact, so a group's
// s * (sum of four dots) is the same integer as the sixteen s * (a * q)
// added one by one: the outputs keep their bits.
#if INT_DOT
#if LANES != 1
#error INT_DOT needs one lane sum per block
#endif
// capabilities DotProduct (6019), DotProductInput4x8BitPacked (6018); OpSDot
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(int a, int b, spirv_literal int packed_format); // format 0: PackedVectorFormat4x8Bit

// four decoded quants (each in -128..127) as the bytes of a word
int pack4x8(int a[16], uint k)
{
    return (a[4u * k] & 0xff) | ((a[4u * k + 1u] & 0xff) << 8) | ((a[4u * k + 2u] & 0xff) << 16) |
           (a[4u * k + 3u] << 24);
}
#endif

// The 16 quants of a weight group, decoded once for every activation row
// (packed four to a word for INT_DOT), with its scale and min.
struct wgroup {
#if INT_DOT
    int pw[4];
#else
    int w[16];
#endif
    int s, mn;
};

wgroup load_group(uint b, uint g)
{
    wgroup r;
#if INT_DOT && defined(TYPE_Q8_0)
    r.s = 1; r.mn = 0;
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        r.pw[k] = int(load_u32(b + 2u + 16u * g + 4u * k)); // already four int8
#elif INT_DOT
    int w[16];
    decode16(b, g, w, r.s, r.mn);
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        r.pw[k] = pack4x8(w, k);
#else
    decode16(b, g, r.w, r.s, r.mn);
#endif
    return r;
}

// One activation row's integer sums over a block (see the top).
struct qsums {
    int lanes[LANES];
    int msum;
};

// Weight group g of a block against activation row `row`: element offset
// e0 of the group in the row, block index blk in the row.
void group_dot(wgroup wg, uint g, uint row, uint e0, uint blk, uint n_in, uint a_qs, uint a_bs, inout qsums q)
{
    const uint qw = a_qs + row * (n_in / 4u) + e0 / 4u;
#if INT_DOT
    int d = 0;
    [[unroll]] for (uint k = 0u; k < 4u; k++)
        d += sdot4x8(wg.pw[k], int(A[qw + k]), 0);
    q.lanes[0] += wg.s * d;
#else
    [[unroll]] for (uint k = 0u; k < 4u; k++) {
        const int a = int(A[qw + k]);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            q.lanes[(4u * k + i) % uint(LANES)] += wg.s * (wg.w[4u * k + i] * bitfieldExtract(a, int(8u * i), 8));
    }
#endif
#if HAS_MSUM
    q.msum += int(A[a_bs + 16u * (row * (n_in / QK) + blk) + g]) * wg.mn;
#endif
}
