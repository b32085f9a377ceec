/* Text generation and chat on real fixture files: streaming, seeds, stop
 * tokens, and multi-turn chat that reuses the KV cache. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hark.h" /* the public API in one include */

typedef struct collected {
    char text[8192];
    size_t len;
    int pieces;
    int stop_after; /* stop when this many pieces arrived (0: never) */
} collected;

static bool collect(const char *piece, void *user)
{
    collected *c = user;
    size_t n = strlen(piece);
    if (c->len + n < sizeof c->text) {
        memcpy(c->text + c->len, piece, n);
        c->len += n;
        c->text[c->len] = 0;
    }
    c->pieces++;
    return !(c->stop_after && c->pieces >= c->stop_after);
}

static hk_model *load(const char *rel)
{
    hk_error err;
    hk_model *m = hk_model_load(hk_shared_path(rel), &err);
    CHECK(m != NULL, "%s", err.msg);
    return m;
}

/* Greedy story from BOS equals llama.cpp's golden text. */
static void test_story(hk_model *m)
{
    hk_generator_params p = hk_generator_default_params();
    p.sampling.temp = 0;
    hk_error err;
    hk_generator *g = hk_generator_new(m, &p, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g)
        return;
    CHECK(hk_gen_add_bos(g, &err) == 0, "%s", err.msg);
    collected c = {0};
    int n = hk_gen_generate(g, 200, false, collect, &c, &err);
    CHECK(n == 200, "generated %d tokens: %s", n, n < 0 ? err.msg : "");
    char *gold = hk_read_file(hk_shared_path("fixtures/llm/goldens/stories260K.bos.greedy.text.txt"), NULL);
    CHECK(gold != NULL, "golden text missing");
    if (gold) {
        const char *a = c.text, *b = gold;
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        CHECK(strcmp(a, b) == 0, "story differs:\n%s\n---\n%s", a, b);
    }
    free(gold);
    hk_generator_free(g);
}

/* Same seed, same text; another seed, (almost surely) other text; a callback
 * returning false stops the stream. */
static void test_seeds(hk_model *m)
{
    char out[3][8192];
    uint64_t seeds[3] = {42, 42, 7};
    for (int k = 0; k < 3; k++) {
        hk_generator_params p = hk_generator_default_params();
        p.sampling.temp = 1.0f;
        p.sampling.seed = seeds[k];
        hk_error err;
        hk_generator *g = hk_generator_new(m, &p, &err);
        CHECK(g != NULL, "%s", err.msg);
        if (!g)
            return;
        hk_gen_add_text(g, "Once upon a time", false, &err);
        collected c = {0};
        hk_gen_generate(g, 60, true, collect, &c, &err);
        memcpy(out[k], c.text, sizeof c.text);
        hk_generator_free(g);
    }
    CHECK(strcmp(out[0], out[1]) == 0, "same seed gave different text");
    CHECK(strcmp(out[0], out[2]) != 0, "different seeds gave the same 60 tokens");

    hk_generator_params p = hk_generator_default_params();
    hk_error err;
    hk_generator *g = hk_generator_new(m, &p, &err);
    if (!g)
        return;
    hk_gen_add_bos(g, &err);
    collected c = {.stop_after = 5};
    int n = hk_gen_generate(g, 100, true, collect, &c, &err);
    CHECK(c.pieces == 5 && n <= 6, "callback stop: %d pieces, %d tokens", c.pieces, n);
    hk_generator_free(g);
}

/* Chat: the second turn evaluates only its new text, and what it generates is
 * what a fresh session fed the whole conversation at once would generate. */
static void test_chat_reuse(hk_model *m)
{
    hk_generator_params p = hk_generator_default_params();
    p.sampling.temp = 0;
    /* Exact arithmetic, so batch and one-token evaluation agree to float
     * rounding and greedy choices cannot flip between the two paths. */
    p.session.kv_type = HK_TYPE_F32;
    p.session.matmul = HK_MATMUL_EXACT;
    p.system_prompt = "You are a storyteller.";
    hk_error err;
    hk_generator *g = hk_generator_new(m, &p, &err);
    CHECK(g != NULL, "%s", err.msg);
    if (!g)
        return;
    CHECK(hk_gen_chat_kind(g) == HK_CHAT_CHATML, "qwen2 fixture template should be ChatML");
    collected c1 = {0}, c2 = {0};
    int n1 = hk_gen_chat(g, "Tell me a story.", 12, collect, &c1, &err);
    CHECK(n1 > 0, "turn 1: %s", n1 < 0 ? err.msg : "no tokens");
    int32_t past = hk_gen_n_past(g);
    int n2 = hk_gen_chat(g, "And then?", 12, collect, &c2, &err);
    CHECK(n2 > 0, "turn 2: %s", n2 < 0 ? err.msg : "no tokens");
    int32_t fed2 = hk_gen_last_prompt_tokens(g);
    /* Turn 2's prompt is "<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n":
     * far fewer tokens than the conversation so far. */
    CHECK(fed2 > 0 && fed2 < past, "turn 2 evaluated %d tokens with %d already cached", fed2, past);

    /* Reference: a fresh session evaluates the same tokens (everything up to
     * the end of turn 2's prompt) in one batch, then generates greedily. */
    int32_t n_hist;
    const int32_t *hist = hk_gen_history(g, &n_hist);
    CHECK(n_hist == past + fed2 + n2, "history %d != %d + %d + %d", n_hist, past, fed2, n2);
    hk_generator *r = hk_generator_new(m, &p, &err);
    if (r && n_hist >= past + fed2) {
        CHECK(hk_gen_add_tokens(r, hist, past + fed2, &err) == 0, "%s", err.msg);
        collected c3 = {0};
        hk_gen_generate(r, 12, false, collect, &c3, &err);
        CHECK(strcmp(c2.text, c3.text) == 0, "reused cache gave '%s', fresh evaluation '%s'", c2.text, c3.text);
    }
    hk_generator_free(r);
    hk_generator_free(g);
}

/* A context that fills: without shift generation stops short with the cache
 * intact; with shift it goes on past the context length. */
static void test_context(hk_model *m)
{
    hk_generator_params p = hk_generator_default_params();
    p.session.n_ctx = 32;
    p.sampling.temp = 0;
    hk_error err;
    hk_generator *g = hk_generator_new(m, &p, &err);
    if (!g) {
        CHECK(0, "%s", err.msg);
        return;
    }
    hk_gen_add_bos(g, &err);
    int n = hk_gen_generate(g, 100, true, NULL, NULL, &err);
    CHECK(n == 31, "without shift: %d tokens in a 32-token context", n);
    CHECK(hk_gen_n_past(g) == 32, "cache holds %d", hk_gen_n_past(g));
    hk_generator_free(g);

    p.session.ctx_shift = true;
    p.session.n_keep = 1;
    g = hk_generator_new(m, &p, &err);
    if (!g) {
        CHECK(0, "%s", err.msg);
        return;
    }
    hk_gen_add_bos(g, &err);
    collected c = {0};
    n = hk_gen_generate(g, 100, true, collect, &c, &err);
    CHECK(n == 100, "with shift: %d tokens (%s)", n, n < 0 ? err.msg : "");
    CHECK(hk_gen_n_past(g) <= 32, "cache holds %d of 32", hk_gen_n_past(g));
    hk_generator_free(g);
}

int main(void)
{
    hk_model *stories = load("fixtures/llm/models/stories260K.gguf");
    if (stories) {
        test_story(stories);
        test_seeds(stories);
        test_context(stories);
        hk_model_free(stories);
    }
    hk_model *qwen = load("fixtures/llm/models/qwen2-Q8_0.gguf");
    if (qwen) {
        test_chat_reuse(qwen);
        hk_model_free(qwen);
    }
    return hk_check_done("generate");
}
