// The rounded activations (the scratch of a hk_vk_mm), as quant_act.comp
// writes them and the LLAMACPP-mode kernels read them, in a uint32 buffer:
//   qs     row t: n_in int8 quants, four to a word, at a_qs + t * n_in / 4
//   scales row t, block b: two words at a_sc + 2 * (t * nb + b): d and (Q8_1)
//          s as floats - the values of the F16 fields for Q8_0/Q8_1, so that
//          the dot products need not convert them again
//   bsums  (Q8_K) row t, block b: sixteen int32 sums of 16 quants each at
//          a_bs + 16 * (t * nb + b)
// F16/BF16 activations: floats holding the rounded values, n_in per row at
// a_qs.  vk_matmul.c turns a row back into the CPU's block layout for the
// tests (hk_vk_mm_read_act).  Rows t are absolute rows of the scratch (the
// rows of x), so every product of one hk_vk_mm_record reads the same ones.

// push constants shared by quant_act.comp, mv.comp, mm.comp
struct mm_push {
    uint n_in;        // elements per row
    uint n_out;       // weight rows of this dispatch (one part of the tensor)
    uint out_row0;    // index in y of the first of them
    uint n_tok;       // activation rows of this dispatch
    uint row0;        // first of them (row of x, y and the scratch)
    uint w_off;       // byte offset of the part's first row in binding 0
    uint w_row_bytes; // bytes from one weight row to the next
    uint x_off;       // float offset of x row 0 in its binding (float kernels, quantizer)
    uint x_ld;        // floats from one x row to the next
    uint y_off;       // float offset of y row 0 in its binding
    uint y_ld;
    uint has_bias;    // bias binding holds n_out floats (of the whole tensor) at 0
    uint a_qs;        // scratch word offsets, see above
    uint a_sc;
    uint a_bs;
};
