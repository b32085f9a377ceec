/* Small helpers shared by the subcommands: strict option values and errors. */
#ifndef HK_CLI_H
#define HK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

/* Print "hark: <msg>" on stderr; returns 1 (the exit status for failures). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Option cursor over argv: cli_opt(&c, "-n", "--tokens") matches either
 * spelling and, for options with a value, cli_value() returns it (or reports
 * a missing value and sets c->bad). */
typedef struct cli_args {
    const char *cmd;   /* "run", for messages */
    int argc;
    char **argv;
    int i;             /* current index */
    bool bad;          /* a parse error was reported */
} cli_args;

bool cli_opt(cli_args *c, const char *short_name, const char *long_name);
const char *cli_value(cli_args *c);
bool cli_int(cli_args *c, int64_t min, int64_t max, int64_t *out);
bool cli_float(cli_args *c, double min, double max, float *out);

/* --backend auto|cpu|vulkan and --device N, shared by run, chat, logits and
 * bench: consumes the option at c->i into p; false when it is neither. */
bool cli_backend_option(cli_args *c, hk_session_params *p);
/* Their lines for --help (two options, aligned like the rest). */
extern const char cli_backend_help[];

/* Default model: $HARK_MODEL, else the first *.gguf (by name) in
 * $XDG_DATA_HOME/hark/models (~/.local/share/hark/models).  Returns a
 * malloc'd path or NULL. */
char *cli_default_model(void);

/* Whole file, NUL-terminated (len excludes the NUL); reports and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len);

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_devices(int argc, char **argv);

#endif
