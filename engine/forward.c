/* The transformer, one forward pass for every family.  The families differ
 * only in data read at load time (model_impl.h): biases, RoPE style and
 * factors, Q and softmax scales, soft-caps, sliding windows, the extra
 * gemma2 norms, the FFN activation.  The operation order is llama.cpp's
 * (llm_build_llama / qwen2 / phi3 / gemma2), because rounding makes order
 * visible in the logits. */
#include "model_impl.h"

#include <string.h>

#include "types.h"

static void store_kv(hk_session *s, int il, const float *src, int64_t ld, int64_t row, int n, int32_t pos0, bool is_v)
{
    uint8_t *base = is_v ? s->v_cache : s->k_cache;
    const size_t layer_bytes = (size_t)s->p.n_ctx * (size_t)row * s->kv_elt;
    uint8_t *dst = base + (size_t)il * layer_bytes + (size_t)pos0 * (size_t)row * s->kv_elt;
    for (int t = 0; t < n; t++) {
        const float *x = src + (size_t)t * (size_t)ld;
        uint8_t *d = dst + (size_t)t * (size_t)row * s->kv_elt;
        if (s->p.kv_type == HK_TYPE_F16) {
            uint16_t *h = (uint16_t *)(void *)d;
            for (int64_t i = 0; i < row; i++)
                h[i] = hk_f32_to_f16(x[i]);
        } else {
            memcpy(d, x, (size_t)row * sizeof(float));
        }
    }
}

void hk_forward(hk_session *s, const int32_t *tokens, int n, int32_t pos0, int out_rows, float *logits)
{
    const hk_model *m = s->m;
    hk_backend *be = s->be;
    const int64_t E = m->n_embd, F = m->n_ff;
    const int64_t nq = (int64_t)m->n_head * m->head_dim_k, nk = s->k_row, nv = s->v_row;
    const int64_t no = (int64_t)m->n_head * m->head_dim_v;
    float *x = s->x, *xn = s->xn, *tmp = s->tmp;

    for (int t = 0; t < n; t++) {
        s->positions[t] = pos0 + t;
        hk_op_get_row(&m->tok_embd, tokens[t], x + (size_t)t * (size_t)E);
    }
    if (m->embd_scale != 1.0f)
        hk_op_scale(x, E, n, E, m->embd_scale);

    int rows = n; /* rows of x still carried (the last layer drops those without output) */
    for (int il = 0; il < m->n_layer; il++) {
        const hk_layer *l = &m->layers[il];
        const bool last = il == m->n_layer - 1;

        hk_op_rms_norm(x, E, xn, E, l->attn_norm, rows, E, m->norm_eps);
        const hk_matmul_out qkv[3] = {
            {&l->wq, s->q, nq, l->bq},
            {&l->wk, s->k, nk, l->bk},
            {&l->wv, s->v, nv, l->bv},
        };
        hk_op_matmul(be, rows, xn, E, qkv, 3);
        hk_op_rope(be, &m->rope, s->q, nq, rows, m->n_head, m->head_dim_k, s->positions);
        hk_op_rope(be, &m->rope, s->k, nk, rows, m->n_head_kv, m->head_dim_k, s->positions);
        if (m->q_scale != 1.0f)
            hk_op_scale(s->q, nq, rows, nq, m->q_scale);
        store_kv(s, il, s->k, nk, nk, rows, pos0, false);
        store_kv(s, il, s->v, nv, nv, rows, pos0, true);

        /* After the last layer's K/V are stored only the rows that give
         * logits matter (llama.cpp's inp_out_ids): one or none, unless all. */
        int first = 0;
        if (last && out_rows < rows) {
            if (out_rows == 0)
                return;
            first = rows - 1;
        }
        const hk_attention_args a = {
            .n_tok = rows - first,
            .pos0 = pos0 + first,
            .n_head = m->n_head,
            .n_head_kv = m->n_head_kv,
            .head_dim_k = m->head_dim_k,
            .head_dim_v = m->head_dim_v,
            .scale = m->attn_scale,
            .softcap = m->attn_softcap,
            .window = l->window,
            .batched = n >= 2,
            .kv_type = s->p.kv_type,
            .k = s->k_cache + (size_t)il * (size_t)s->p.n_ctx * (size_t)nk * s->kv_elt,
            .v = s->v_cache + (size_t)il * (size_t)s->p.n_ctx * (size_t)nv * s->kv_elt,
            .q = s->q + (size_t)first * (size_t)nq,
            .ldq = nq,
            .out = s->att,
            .ldo = no,
        };
        hk_op_attention(be, &a);
        if (first > 0) {
            memmove(x, x + (size_t)first * (size_t)E, sizeof(float) * (size_t)E);
            rows = 1;
        }

        const hk_matmul_out wo = {&l->wo, tmp, E, l->bo};
        hk_op_matmul(be, rows, s->att, no, &wo, 1);
        if (l->post_attn_norm)
            hk_op_rms_norm(tmp, E, tmp, E, l->post_attn_norm, rows, E, m->norm_eps);
        hk_op_add(x, E, tmp, E, rows, E);

        hk_op_rms_norm(x, E, xn, E, l->ffn_norm, rows, E, m->norm_eps);
        const hk_matmul_out gu[2] = {
            {&l->w_gate, s->gate, F, NULL},
            {&l->w_up, s->up, F, NULL},
        };
        hk_op_matmul(be, rows, xn, E, gu, 2);
        hk_op_ffn_act(be, m->ffn_act == HK_FFN_GELU, s->gate, F, s->up, F, rows, F);
        const hk_matmul_out down = {&l->w_down, tmp, E, NULL};
        hk_op_matmul(be, rows, s->gate, F, &down, 1);
        if (l->post_ffw_norm)
            hk_op_rms_norm(tmp, E, tmp, E, l->post_ffw_norm, rows, E, m->norm_eps);
        hk_op_add(x, E, tmp, E, rows, E);
    }

    hk_op_rms_norm(x, E, xn, E, m->output_norm, rows, E, m->norm_eps);
    const hk_matmul_out out = {&m->output, logits, m->n_vocab, m->output_bias};
    hk_op_matmul(be, rows, xn, E, &out, 1);
    if (m->final_softcap > 0)
        hk_op_softcap(logits, m->n_vocab, rows, m->n_vocab, m->final_softcap);
}

void hk_kv_rerope(hk_session *s, int32_t from, int32_t to, int32_t delta)
{
    const hk_model *m = s->m;
    const int64_t nk = s->k_row;
    const int32_t pos[1] = {delta};
    for (int il = 0; il < m->n_layer; il++) {
        uint8_t *layer = s->k_cache + (size_t)il * (size_t)s->p.n_ctx * (size_t)nk * s->kv_elt;
        for (int32_t j = from; j < to; j++) {
            uint8_t *cell = layer + (size_t)j * (size_t)nk * s->kv_elt;
            if (s->p.kv_type == HK_TYPE_F16) {
                /* as ggml's F16 RoPE: widen, rotate in float, round back */
                const uint16_t *h = (const uint16_t *)(const void *)cell;
                for (int64_t i = 0; i < nk; i++)
                    s->row[i] = hk_f16_to_f32(h[i]);
                hk_op_rope(s->be, &m->rope, s->row, nk, 1, m->n_head_kv, m->head_dim_k, pos);
                store_kv(s, il, s->row, nk, nk, 1, j, false);
            } else {
                hk_op_rope(s->be, &m->rope, (float *)(void *)cell, nk, 1, m->n_head_kv, m->head_dim_k, pos);
            }
        }
    }
}
