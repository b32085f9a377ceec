/* hark: one binary, subcommands.  With no arguments it runs the assistant on
 * its built-in defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: hark [COMMAND] [OPTIONS]\n"
    "A private voice-and-vision assistant; everything runs on this machine.\n\n"
    "commands:\n"
    "  run       continue a prompt with a language model, streaming to stdout\n"
    "  chat      multi-turn chat (interactive, or turns piped on stdin)\n"
    "  info      print a GGUF file's metadata and tensors\n"
    "  tokenize  tokenize text with a model's vocabulary\n"
    "  logits    write the logits of a token sequence (for parity checks)\n"
    "  quantize  write a quantized copy of a GGUF model\n"
    "  bench     measure prompt and generation speed (tokens/s, memory roofline)\n"
    "  mkmodel   write a random-weight model in the shape of a real one, for bench\n"
    "  devices   list the Vulkan devices and the one --backend auto would use\n\n"
    "Run 'hark COMMAND --help' for a command's options.  With no command, hark chats\n"
    "with the default model ($HARK_MODEL or the first ~/.local/share/hark/models/*.gguf).\n";

/* The built-in default job: chat with the default model when there is one. */
static int default_job(void)
{
    char *model = cli_default_model();
    if (!model) {
        printf("hark: no language model installed yet.\n\n"
               "Put a GGUF model (e.g. a Qwen2.5, Llama 3.2, SmolLM2, Phi-3 or Gemma 2 file from\n"
               "llama.cpp) in ~/.local/share/hark/models/ or set HARK_MODEL=/path/to/model.gguf,\n"
               "then run 'hark' again, or use 'hark run -m FILE -p TEXT'.\n\n%s",
               usage);
        return 0;
    }
    char *argv[] = {"chat", "-m", model, NULL};
    int rc = cmd_chat(3, argv);
    free(model);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"run", cmd_run},       {"chat", cmd_chat},   {"info", cmd_info},
        {"tokenize", cmd_tokenize}, {"logits", cmd_logits}, {"quantize", cmd_quantize},
        {"bench", cmd_bench},   {"mkmodel", cmd_mkmodel}, {"devices", cmd_devices},
    };
    if (argc < 2)
        return default_job();
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("hark " HARK_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    return cli_error("unknown command '%s' (see hark --help)", argv[1]) + 1;
}
