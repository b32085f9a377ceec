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

// INT_DOT=1: the sums of products as OpSDot on packed signed bytes
// (VK_KHR_shader_integer_dot_product; the shader enables
// GL_EXT_spirv_intrinsics, since glslang before 12 has no
// GL_EXT_integer_dot_product).  Integer sums are exact, so a group's
// s * (sum of the dots) is the same integer as the products s * (a * q)
// added one by one: the outputs keep their bits.
//   LANES 1: four dots of four products a group.
//   LANES 8 (Q3_K..Q6_K, every quant in -128..127): lane l of a group gets
//   elements l and l + 8 only, so each dot has two products and two zero
//   bytes: lanes 4k + i (i = 0..3) read bytes of activation words k and
//   k + 2 (elements 4k.. and 4k+8..), interleaved by act_lanes into
//   E = (a[4k], a[4k+8], a[4k+2], a[4k+10]) for i = 0, 2 and
//   O = (a[4k+1], a[4k+9], a[4k+3], a[4k+11]) for i = 1, 3; lane_word puts
//   (q[l], q[l+8]) in the bytes of its half (0-1 for i < 2, 2-3 else).
#if INT_DOT
// capabilities DotProduct (6019), DotProductInput4x8BitPacked (6018); OpSDot
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(int a, int b, spirv_literal int packed_format); // format 0: PackedVectorFormat4x8Bit

// four decoded quants (each in -128..127) as the bytes of a word
int pack4x8(int a[16], uint k)
{
    return (a[4u * k] & 0xff) | ((a[4u * k + 1u] & 0xff) << 8) | ((a[4u * k + 2u] & 0xff) << 16) |
           (a[4u * k + 3u] << 24);
}
#if LANES == 8
int lane_word(int a[16], uint l)
{
    return ((a[l] & 0xff) | ((a[l + 8u] & 0xff) << 8)) << ((l % 4u) >= 2u ? 16 : 0);
}
// E (even) and O (odd) of activation words lo = word k, hi = word k + 2
void act_lanes(uint lo, uint hi, out int e, out int o)
{
    e = int((lo & 0x00ff00ffu) | ((hi & 0x00ff00ffu) << 8));
    o = int(((lo >> 8) & 0x00ff00ffu) | (hi & 0xff00ff00u));
}
#endif
#endif

// The 16 quants of a weight group, decoded once for every activation row
// (packed four to a word for INT_DOT), with its scale and min.
struct wgroup {
#if INT_DOT && LANES == 8
    int pw[8]; // lane_word of each lane
#elif INT_DOT
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
#elif INT_DOT && LANES == 8
    int w[16];
    decode16(b, g, w, r.s, r.mn);
    [[unroll]] for (uint l = 0u; l < 8u; l++)
        r.pw[l] = lane_word(w, l);
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
#if INT_DOT && LANES == 8
    [[unroll]] for (uint k = 0u; k < 2u; k++) {
        int e, o;
        act_lanes(A[qw + k], A[qw + k + 2u], e, o);
        q.lanes[4u * k] += wg.s * sdot4x8(wg.pw[4u * k], e, 0);
        q.lanes[4u * k + 1u] += wg.s * sdot4x8(wg.pw[4u * k + 1u], o, 0);
        q.lanes[4u * k + 2u] += wg.s * sdot4x8(wg.pw[4u * k + 2u], e, 0);
        q.lanes[4u * k + 3u] += wg.s * sdot4x8(wg.pw[4u * k + 3u], o, 0);
    }
#elif INT_DOT
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
