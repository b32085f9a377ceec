#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hark: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

bool cli_opt(cli_args *c, const char *short_name, const char *long_name)
{
    const char *a = c->argv[c->i];
    return (short_name && strcmp(a, short_name) == 0) || (long_name && strcmp(a, long_name) == 0);
}

const char *cli_value(cli_args *c)
{
    const char *name = c->argv[c->i];
    if (c->i + 1 >= c->argc) {
        cli_error("%s: option %s needs a value", c->cmd, name);
        c->bad = true;
        return NULL;
    }
    return c->argv[++c->i];
}

const char cli_backend_help[] =
    "      --backend B         auto (a Vulkan GPU if there is one, else the CPU), cpu or\n"
    "                          vulkan (any Vulkan device, lavapipe included); default\n"
    "                          $HARK_BACKEND or auto.  An unusable device: the CPU\n"
    "      --device N          Vulkan device (see hark devices; default $HARK_DEVICE or the best)\n";

bool cli_backend_option(cli_args *c, hk_session_params *p)
{
    if (cli_opt(c, NULL, "--backend")) {
        const char *s = cli_value(c);
        if (!s)
            return true;
        if (strcmp(s, "auto") == 0)
            p->backend = HK_BACKEND_AUTO;
        else if (strcmp(s, "cpu") == 0)
            p->backend = HK_BACKEND_CPU;
        else if (strcmp(s, "vulkan") == 0)
            p->backend = HK_BACKEND_VULKAN;
        else
            c->bad = cli_error("%s: --backend expects auto, cpu or vulkan, got '%s'", c->cmd, s);
        return true;
    }
    if (cli_opt(c, NULL, "--device")) {
        int64_t v;
        if (cli_int(c, 0, 1000, &v))
            p->device = (int)v;
        return true;
    }
    return false;
}

bool cli_int(cli_args *c, int64_t min, int64_t max, int64_t *out)
{
    const char *name = c->argv[c->i];
    const char *v = cli_value(c);
    if (!v)
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        cli_error("%s: %s expects an integer from %lld to %lld, got '%s'", c->cmd, name, (long long)min,
                  (long long)max, v);
        c->bad = true;
        return false;
    }
    *out = x;
    return true;
}

bool cli_float(cli_args *c, double min, double max, float *out)
{
    const char *name = c->argv[c->i];
    const char *v = cli_value(c);
    if (!v)
        return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < min || x > max) {
        cli_error("%s: %s expects a number from %g to %g, got '%s'", c->cmd, name, min, max, v);
        c->bad = true;
        return false;
    }
    *out = (float)x;
    return true;
}

char *cli_default_model(void)
{
    const char *env = getenv("HARK_MODEL");
    if (env && *env)
        return strdup(env);
    char dir[PATH_MAX];
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/hark/models", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.local/share/hark/models", home);
    else
        return NULL;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *best = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        /* The first by name, so the choice does not depend on readdir order. */
        if (n > 5 && strcmp(e->d_name + n - 5, ".gguf") == 0 && (!best || strcmp(e->d_name, best) < 0)) {
            free(best);
            best = strdup(e->d_name);
        }
    }
    closedir(d);
    if (!best)
        return NULL;
    char *path = malloc(strlen(dir) + strlen(best) + 2);
    if (path)
        sprintf(path, "%s/%s", dir, best);
    free(best);
    return path;
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        cli_error("%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}
