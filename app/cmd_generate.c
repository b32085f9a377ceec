/* hark run / hark chat: text generation from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "generate.h"

typedef struct gen_opts {
    const char *model;
    int32_t n_predict;
    bool verbose;
    hk_generator_params p;
} gen_opts;

static const char gen_options_help[] =
    "  -m, --model FILE        GGUF model (default: $HARK_MODEL or ~/.local/share/hark/models/*.gguf)\n"
    "  -n, --n-predict N       tokens to generate (-1: until end of text; run: 128, chat: -1)\n"
    "  -c, --ctx-size N        context length in tokens (default: min(model's, 4096))\n"
    "  -t, --threads N         CPU threads (default: all cores)\n"
    "      --temp T            temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K           keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P           nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P           drop tokens below P x the top probability; 0 = off (default 0.05)\n"
    "      --repeat-penalty F  penalize repeated tokens; 1 = off (default 1)\n"
    "      --frequency-penalty F, --presence-penalty F   OpenAI-style penalties; 0 = off\n"
    "      --repeat-last-n N   tokens the penalties look back on (default 64, -1 = context)\n"
    "  -s, --seed S            random seed; the same seed gives the same text\n"
    "      --kv-type f16|f32   KV cache precision (default f16, as llama.cpp)\n"
    "      --ctx-shift         when the context fills, drop old tokens instead of stopping\n"
    "      --exact             F32 arithmetic on dequantized weights instead of llama.cpp's\n"
    "                          8-bit activation quantization\n"
    "  -v, --verbose           print timings on stderr\n";

/* The --help text: the options above, then --backend and --device. */
static void print_gen_options(void)
{
    fputs(gen_options_help, stdout);
    fputs(cli_backend_help, stdout);
}

/* Consume one generation option at c->i; false if it is not one. */
static bool gen_option(cli_args *c, gen_opts *o)
{
    int64_t v;
    const char *s;
    hk_sampling *sp = &o->p.sampling;
    hk_session_params *ss = &o->p.session;
    if (cli_opt(c, "-m", "--model")) {
        o->model = cli_value(c);
    } else if (cli_opt(c, "-n", "--n-predict")) {
        if (cli_int(c, -1, INT32_MAX, &v))
            o->n_predict = (int32_t)v;
    } else if (cli_opt(c, "-c", "--ctx-size")) {
        if (cli_int(c, 0, INT32_MAX, &v))
            ss->n_ctx = (int32_t)v;
    } else if (cli_opt(c, "-t", "--threads")) {
        if (cli_int(c, 1, 1024, &v))
            ss->n_threads = (int)v;
    } else if (cli_opt(c, NULL, "--temp")) {
        cli_float(c, 0, 100, &sp->temp);
    } else if (cli_opt(c, NULL, "--top-k")) {
        if (cli_int(c, 0, INT32_MAX, &v))
            sp->top_k = (int32_t)v;
    } else if (cli_opt(c, NULL, "--top-p")) {
        cli_float(c, 0, 1, &sp->top_p);
    } else if (cli_opt(c, NULL, "--min-p")) {
        cli_float(c, 0, 1, &sp->min_p);
    } else if (cli_opt(c, NULL, "--repeat-penalty")) {
        cli_float(c, 0, 100, &sp->repeat_penalty);
    } else if (cli_opt(c, NULL, "--frequency-penalty")) {
        cli_float(c, -100, 100, &sp->frequency_penalty);
    } else if (cli_opt(c, NULL, "--presence-penalty")) {
        cli_float(c, -100, 100, &sp->presence_penalty);
    } else if (cli_opt(c, NULL, "--repeat-last-n")) {
        if (cli_int(c, -1, INT32_MAX, &v))
            sp->penalty_last_n = (int32_t)v;
    } else if (cli_opt(c, "-s", "--seed")) {
        if (cli_int(c, 0, INT64_MAX, &v))
            sp->seed = (uint64_t)v;
    } else if (cli_opt(c, NULL, "--kv-type")) {
        if ((s = cli_value(c))) {
            if (strcmp(s, "f16") == 0 || strcmp(s, "F16") == 0)
                ss->kv_type = HK_TYPE_F16;
            else if (strcmp(s, "f32") == 0 || strcmp(s, "F32") == 0)
                ss->kv_type = HK_TYPE_F32;
            else
                c->bad = cli_error("%s: --kv-type expects f16 or f32, got '%s'", c->cmd, s);
        }
    } else if (cli_opt(c, NULL, "--ctx-shift")) {
        ss->ctx_shift = true;
    } else if (cli_opt(c, NULL, "--exact")) {
        ss->matmul = HK_MATMUL_EXACT;
    } else if (cli_opt(c, "-v", "--verbose")) {
        o->verbose = true;
    } else if (cli_backend_option(c, ss)) {
    } else {
        return false;
    }
    return true;
}

static void gen_opts_init(gen_opts *o, int32_t n_predict)
{
    memset(o, 0, sizeof *o);
    o->n_predict = n_predict;
    o->p = hk_generator_default_params();
}

static bool print_piece(const char *piece, void *user)
{
    (void)user;
    fputs(piece, stdout);
    fflush(stdout);
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Load the model named by -m or the default one. */
static hk_model *load_model(const char *cmd, const char *path)
{
    char *found = NULL;
    if (!path) {
        found = cli_default_model();
        if (!found) {
            cli_error("%s: no model: pass -m FILE.gguf or set HARK_MODEL", cmd);
            return NULL;
        }
        path = found;
    }
    hk_error err;
    hk_model *m = hk_model_load(path, &err);
    if (!m)
        cli_error("%s", err.msg);
    free(found);
    return m;
}

int cmd_run(int argc, char **argv)
{
    gen_opts o;
    gen_opts_init(&o, 128);
    const char *prompt = NULL, *prompt_file = NULL;
    bool parse_special = false, ignore_eos = false;
    cli_args c = {"run", argc, argv, 1, false};
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark run -m FILE [-p TEXT | -f FILE] [options]\n"
                   "Continue a prompt (or start from BOS when there is none), streaming text to stdout.\n\n"
                   "  -p, --prompt TEXT       prompt text\n"
                   "  -f, --file FILE         read the prompt from a file\n"
                   "      --special           parse special-token text (<|im_start|>...) in the prompt\n"
                   "      --ignore-eos        do not stop at end-of-text tokens\n");
            print_gen_options();
            return 0;
        } else if (cli_opt(&c, "-p", "--prompt")) {
            prompt = cli_value(&c);
        } else if (cli_opt(&c, "-f", "--file")) {
            prompt_file = cli_value(&c);
        } else if (cli_opt(&c, NULL, "--special")) {
            parse_special = true;
        } else if (cli_opt(&c, NULL, "--ignore-eos")) {
            ignore_eos = true;
        } else if (!gen_option(&c, &o)) {
            return cli_error("run: unknown option '%s' (see hark run --help)", argv[c.i]);
        }
    }
    if (c.bad)
        return 2;
    char *file_text = NULL;
    if (prompt_file) {
        if (!(file_text = cli_read_file(prompt_file, NULL)))
            return 1;
        prompt = file_text;
    }

    hk_model *m = load_model("run", o.model);
    if (!m) {
        free(file_text);
        return 1;
    }
    hk_error err;
    int status = 1;
    hk_generator *g = hk_generator_new(m, &o.p, &err);
    if (!g) {
        cli_error("%s", err.msg);
        goto out;
    }
    double t0 = now_s();
    int rc = (prompt && *prompt) ? hk_gen_add_text(g, prompt, parse_special, &err) : hk_gen_add_bos(g, &err);
    if (rc) {
        cli_error("%s", err.msg);
        goto out;
    }
    int32_t n_prompt = hk_gen_n_past(g);
    double t1 = now_s();
    if (prompt && *prompt)
        fputs(prompt, stdout);
    int n = hk_gen_generate(g, o.n_predict, ignore_eos, print_piece, NULL, &err);
    double t2 = now_s();
    fputc('\n', stdout);
    fflush(stdout);
    if (n < 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (o.verbose)
        fprintf(stderr, "hark: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in %.3f s (%.1f tok/s)\n",
                n_prompt, t1 - t0, n_prompt / (t1 - t0 + 1e-9), n, t2 - t1, n / (t2 - t1 + 1e-9));
    status = ferror(stdout) ? cli_error("run: cannot write to stdout") : 0;
out:
    hk_generator_free(g);
    hk_model_free(m);
    free(file_text);
    return status;
}

/* Read one turn from stdin: a line, without its newline.  NULL at EOF. */
static char *read_turn(char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, stdin);
    if (n < 0)
        return NULL;
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
        (*buf)[--n] = 0;
    return *buf;
}

int cmd_chat(int argc, char **argv)
{
    gen_opts o;
    gen_opts_init(&o, -1);
    cli_args c = {"chat", argc, argv, 1, false};
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark chat -m FILE [--system TEXT] [options]\n"
                   "Multi-turn chat with the model's chat template.  One line of stdin is one turn\n"
                   "(interactive or piped); /exit or end of input quits.\n\n"
                   "      --system TEXT       system prompt\n"
                   "      --template NAME     chat template instead of the file's (chatml, llama3, llama2,\n"
                   "                          gemma, phi3, mistral, zephyr...)\n");
            print_gen_options();
            return 0;
        } else if (cli_opt(&c, NULL, "--system")) {
            o.p.system_prompt = cli_value(&c);
        } else if (cli_opt(&c, NULL, "--template")) {
            o.p.chat_template = cli_value(&c);
        } else if (!gen_option(&c, &o)) {
            return cli_error("chat: unknown option '%s' (see hark chat --help)", argv[c.i]);
        }
    }
    if (c.bad)
        return 2;
    hk_model *m = load_model("chat", o.model);
    if (!m)
        return 1;
    hk_error err;
    int status = 1;
    hk_generator *g = hk_generator_new(m, &o.p, &err);
    if (!g) {
        cli_error("%s", err.msg);
        hk_model_free(m);
        return 1;
    }
    bool tty = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!read_turn(&line, &cap) || strcmp(line, "/exit") == 0) {
            status = 0;
            break;
        }
        if (!*line)
            continue;
        double t0 = now_s();
        int n = hk_gen_chat(g, line, o.n_predict, print_piece, NULL, &err);
        fputc('\n', stdout);
        fflush(stdout);
        if (n < 0) {
            cli_error("%s", err.msg);
            break;
        }
        if (o.verbose)
            fprintf(stderr, "hark: %d prompt tokens, %d generated in %.3f s\n", hk_gen_last_prompt_tokens(g), n,
                    now_s() - t0);
    }
    free(line);
    hk_generator_free(g);
    hk_model_free(m);
    return status;
}
