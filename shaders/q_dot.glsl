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

// Group g (16 elements) of weight block b against activation row `row`,
// element offset e0 of the group in the row, block index blk in the row.
void group_dot(uint b, uint g, uint row, uint e0, uint blk, uint n_in, uint a_qs, uint a_bs,
               inout int lanes[LANES], inout int msum)
{
    int w[16];
    int s, mn;
    decode16(b, g, w, s, mn);
    const uint qw = a_qs + row * (n_in / 4u) + e0 / 4u;
    [[unroll]] for (uint k = 0u; k < 4u; k++) {
        const int q = int(A[qw + k]);
        [[unroll]] for (uint i = 0u; i < 4u; i++)
            lanes[(4u * k + i) % uint(LANES)] += s * (w[4u * k + i] * bitfieldExtract(q, int(8u * i), 8));
    }
#if HAS_MSUM
    msum += int(A[a_bs + 16u * (row * (n_in / QK) + blk) + g]) * mn;
#endif
}
