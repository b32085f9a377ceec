/* hark info / tokenize / logits / quantize: tools over model files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "gguf.h"
#include "model.h"
#include "quantize.h"
#include "tokenizer.h"
#include "vk/vk.h"

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: hark info FILE.gguf\nPrint a GGUF file's metadata and tensor table.\n");
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return cli_error("info: unknown option '%s' (see hark info --help)", argv[i]);
        if (path)
            return cli_error("info: one file at a time ('%s' and '%s')", path, argv[i]);
        path = argv[i];
    }
    if (!path)
        return cli_error("info: no file given (usage: hark info FILE.gguf)");
    hk_error err;
    hk_gguf *g = hk_gguf_open(path, &err);
    if (!g)
        return cli_error("%s", err.msg);
    hk_gguf_print_info(g, stdout);
    hk_gguf_close(g);
    fflush(stdout);
    return ferror(stdout) ? cli_error("info: cannot write to stdout") : 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *text = NULL;
    bool ids_only = false, add_special = false, parse_special = false;
    cli_args c = {"tokenize", argc, argv, 1, false};
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark tokenize -m FILE [--ids] [--add-special] [--parse-special] (TEXT | --file F)\n"
                   "Tokenize text with a model's vocabulary (vocab-only GGUF files work too).\n"
                   "By default no BOS/EOS is added and special-token text is plain text.\n\n"
                   "  -m, --model FILE    GGUF file with a tokenizer\n"
                   "      --ids           print only the ids, on one line, separated by spaces\n"
                   "      --add-special   add BOS/EOS as the vocabulary asks\n"
                   "      --parse-special match special-token text such as <|im_start|>\n"
                   "      --file F        tokenize the bytes of F exactly\n");
            return 0;
        } else if (cli_opt(&c, "-m", "--model")) {
            model = cli_value(&c);
        } else if (cli_opt(&c, NULL, "--ids")) {
            ids_only = true;
        } else if (cli_opt(&c, NULL, "--add-special")) {
            add_special = true;
        } else if (cli_opt(&c, NULL, "--parse-special")) {
            parse_special = true;
        } else if (cli_opt(&c, "-f", "--file")) {
            file = cli_value(&c);
        } else if (argv[c.i][0] == '-' && argv[c.i][1] && !text) {
            return cli_error("tokenize: unknown option '%s' (see hark tokenize --help)", argv[c.i]);
        } else if (!text) {
            text = argv[c.i];
        } else {
            return cli_error("tokenize: give the text as one argument (quote it)");
        }
    }
    if (c.bad)
        return 2;
    if (!model)
        return cli_error("tokenize: no model (use -m FILE)");
    if (!!text == !!file)
        return cli_error("tokenize: give either TEXT or --file F");
    size_t len = 0;
    char *buf = NULL;
    if (file) {
        if (!(buf = cli_read_file(file, &len)))
            return 1;
        text = buf;
    } else {
        len = strlen(text);
    }
    hk_error err;
    hk_gguf *g = hk_gguf_open(model, &err);
    hk_tokenizer *tok = g ? hk_tokenizer_load(g, &err) : NULL;
    int status = 1;
    int32_t *ids = NULL;
    if (!tok) {
        cli_error("%s", err.msg);
        goto out;
    }
    int32_t cap = (int32_t)(len < 1024 ? 1024 : len + 16);
    ids = malloc(sizeof *ids * (size_t)cap);
    int32_t n = ids ? hk_tokenize(tok, text, len, add_special, parse_special, ids, cap) : -1;
    if (n < 0 || n > cap) {
        cli_error("tokenize: %s: cannot tokenize the text", model);
        goto out;
    }
    char piece[512];
    for (int32_t i = 0; i < n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", ids[i]);
            continue;
        }
        int32_t pl = hk_token_to_piece(tok, ids[i], piece, sizeof piece - 1, true);
        if (pl < 0 || pl >= (int32_t)sizeof piece)
            pl = 0;
        piece[pl] = 0;
        printf("%6d -> '%s'\n", ids[i], piece);
    }
    if (ids_only)
        putchar('\n');
    fflush(stdout);
    status = ferror(stdout) ? cli_error("tokenize: cannot write to stdout") : 0;
out:
    free(ids);
    hk_tokenizer_free(tok);
    hk_gguf_close(g);
    free(buf);
    return status;
}

/* Parse one token id a line (blank lines ignored). */
static int32_t *read_ids(const char *path, int32_t *n_out)
{
    size_t len;
    char *text = cli_read_file(path, &len);
    if (!text)
        return NULL;
    int32_t cap = 64, n = 0;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    char *line = text, *next;
    int lineno = 1;
    for (; ids && line && *line; line = next, lineno++) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        while (*line == ' ' || *line == '\t' || *line == '\r')
            line++;
        if (!*line)
            continue;
        char *end;
        errno = 0;
        long v = strtol(line, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r')
            end++;
        if (errno || *end || v < 0 || v > INT32_MAX) {
            cli_error("%s:%d: not a token id: '%s'", path, lineno, line);
            free(ids);
            free(text);
            return NULL;
        }
        if (n == cap) {
            int32_t *m = realloc(ids, sizeof *ids * (size_t)(cap *= 2));
            if (!m)
                free(ids);
            ids = m;
            if (!ids)
                break;
        }
        ids[n++] = (int32_t)v;
    }
    free(text);
    if (!ids)
        cli_error("%s: out of memory", path);
    *n_out = n;
    return ids;
}

int cmd_logits(int argc, char **argv)
{
    const char *model = NULL, *tokens = NULL, *out = NULL;
    hk_session_params sp = hk_session_default_params();
    cli_args c = {"logits", argc, argv, 1, false};
    int64_t v;
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark logits -m FILE --tokens IDS.txt --out OUT.f32 [options]\n"
                   "Evaluate the tokens (one id a line) as one batch and write the logits of every\n"
                   "position as raw little-endian float32, row-major [positions][n_vocab].\n\n"
                   "  -t, --threads N     CPU threads\n"
                   "      --kv-type f16|f32  KV cache precision (default f32: exact)\n"
                   "      --llamacpp      quantize activations as llama.cpp does (default: exact F32\n"
                   "                      arithmetic on dequantized weights)\n%s",
                   cli_backend_help);
            return 0;
        } else if (cli_opt(&c, "-m", "--model")) {
            model = cli_value(&c);
        } else if (cli_opt(&c, NULL, "--tokens")) {
            tokens = cli_value(&c);
        } else if (cli_opt(&c, "-o", "--out")) {
            out = cli_value(&c);
        } else if (cli_opt(&c, "-t", "--threads")) {
            if (cli_int(&c, 1, 1024, &v))
                sp.n_threads = (int)v;
        } else if (cli_opt(&c, NULL, "--kv-type")) {
            const char *s = cli_value(&c);
            if (s && strcasecmp(s, "f16") == 0)
                sp.kv_type = HK_TYPE_F16;
            else if (s && strcasecmp(s, "f32") == 0)
                sp.kv_type = HK_TYPE_F32;
            else if (s)
                c.bad = cli_error("logits: --kv-type expects f16 or f32, got '%s'", s);
        } else if (cli_opt(&c, NULL, "--llamacpp")) {
            sp.matmul = HK_MATMUL_LLAMACPP;
        } else if (cli_backend_option(&c, &sp)) {
        } else {
            return cli_error("logits: unknown option '%s' (see hark logits --help)", argv[c.i]);
        }
    }
    if (c.bad)
        return 2;
    if (!model || !tokens || !out)
        return cli_error("logits: -m, --tokens and --out are required");
    int32_t n = 0;
    int32_t *ids = read_ids(tokens, &n);
    if (!ids)
        return 1;
    if (n == 0) {
        free(ids);
        return cli_error("%s: no token ids", tokens);
    }
    hk_error err;
    int status = 1;
    hk_session *s = NULL;
    FILE *f = NULL;
    char *tmp = NULL;
    hk_model *m = hk_model_load(model, &err);
    if (!m) {
        cli_error("%s", err.msg);
        goto done;
    }
    int32_t n_vocab = hk_model_n_vocab(m);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] >= n_vocab) {
            cli_error("%s: token id %d is outside the vocabulary of %d", tokens, ids[i], n_vocab);
            goto done;
        }
    /* The outside interface is fixed: all positions in one batch, exact F32
     * unless asked otherwise. */
    if (sp.n_ctx < n)
        sp.n_ctx = n;
    sp.n_batch = n;
    s = hk_session_new(m, &sp, &err);
    if (!s || hk_session_decode(s, ids, n, true, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    tmp = malloc(strlen(out) + 8);
    if (!tmp) {
        cli_error("out of memory");
        goto done;
    }
    sprintf(tmp, "%s.tmp", out);
    f = fopen(tmp, "wb");
    if (!f) {
        cli_error("%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    for (int32_t i = 0; i < n; i++)
        fwrite(hk_session_logits(s, i), sizeof(float), (size_t)n_vocab, f);
    if (fflush(f) || ferror(f) || fsync(fileno(f))) {
        cli_error("%s: write failed: %s", out, strerror(errno));
        fclose(f);
        f = NULL;
        unlink(tmp);
        goto done;
    }
    fclose(f);
    f = NULL;
    if (rename(tmp, out)) {
        cli_error("%s: cannot rename %s: %s", out, tmp, strerror(errno));
        unlink(tmp);
        goto done;
    }
    status = 0;
done:
    free(tmp);
    hk_session_free(s);
    hk_model_free(m);
    free(ids);
    return status;
}

int cmd_quantize(int argc, char **argv)
{
    const char *pos[3] = {0};
    int n_pos = 0;
    int64_t threads = 0;
    cli_args c = {"quantize", argc, argv, 1, false};
    for (; c.i < argc && !c.bad; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n"
                   "Write a quantized copy of a model as llama-quantize would (same per-tensor types).\n"
                   "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L\n"
                   "      Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K\n");
            return 0;
        } else if (cli_opt(&c, "-t", "--threads")) {
            cli_int(&c, 1, 1024, &threads);
        } else if (argv[c.i][0] == '-' && argv[c.i][1]) {
            return cli_error("quantize: unknown option '%s' (see hark quantize --help)", argv[c.i]);
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[c.i];
        } else {
            return cli_error("quantize: too many arguments (usage: hark quantize IN OUT TYPE)");
        }
    }
    if (c.bad)
        return 2;
    if (n_pos != 3)
        return cli_error("quantize: usage: hark quantize IN.gguf OUT.gguf TYPE");
    hk_error err;
    if (hk_quantize_file(pos[0], pos[1], pos[2], (int)threads, &err))
        return cli_error("%s", err.msg);
    return 0;
}

/* ---- hark devices ---- */

static void print_device(const hk_vk_device_info *d, bool picked)
{
    printf("%c %d: %s\n", picked ? '*' : ' ', d->index, d->name);
    printf("    type %s, Vulkan %u.%u.%u, driver %s\n", hk_vk_device_type_name(d->type), d->api_version >> 22,
           (d->api_version >> 12) & 0x3ffu, d->api_version & 0xfffu, d->driver[0] ? d->driver : "(not reported)");
    printf("    device-local memory %.0f MiB, max storage buffer %.0f MiB, subgroup %u\n",
           (double)d->device_local_bytes / (1024.0 * 1024.0), (double)d->max_storage_range / (1024.0 * 1024.0),
           d->subgroup_size);
    printf("    fp16 %s, int8-dot %s, subgroup-arith %s, coopmat %s\n", d->fp16 ? "yes" : "no",
           d->int8_dot ? "yes" : "no", d->subgroup_arith ? "yes" : "no", d->coopmat ? "yes" : "no");
}

int cmd_devices(int argc, char **argv)
{
    cli_args c = {"devices", argc, argv, 1, false};
    for (; c.i < argc; c.i++) {
        if (cli_opt(&c, "-h", "--help")) {
            printf("usage: hark devices\n"
                   "List the Vulkan devices (the index is --device N) and mark with * the one\n"
                   "--backend auto uses: the best GPU, never a CPU driver such as lavapipe.\n");
            return 0;
        }
        return cli_error("devices: unknown option '%s' (see hark devices --help)", argv[c.i]);
    }
    enum { MAX_DEVICES = 64 };
    hk_vk_device_info list[MAX_DEVICES];
    hk_error err;
    int n = hk_vk_list(list, MAX_DEVICES, &err);
    if (n < 0) { /* no Vulkan is an answer, not a failure */
        printf("no Vulkan devices: %s\n", err.msg);
        return 0;
    }
    if (n > MAX_DEVICES)
        n = MAX_DEVICES;
    int pick = hk_vk_pick(list, n, false);
    for (int i = 0; i < n; i++)
        print_device(&list[i], i == pick);
    if (n == 0)
        printf("no Vulkan devices\n");
    if (pick >= 0)
        printf("auto: device %d (%s)\n", pick, list[pick].name);
    else if ((pick = hk_vk_pick(list, n, true)) >= 0)
        printf("auto: the CPU (no Vulkan GPU; --backend vulkan would use device %d)\n", pick);
    else
        printf("auto: the CPU (no usable Vulkan device)\n");
    return 0;
}
