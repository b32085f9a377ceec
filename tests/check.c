#include "check.h"

#include <stdlib.h>
#include <string.h>

int hk_checks_run, hk_checks_failed;

const char *hk_shared_path(const char *rel)
{
    static char buf[4096];
    const char *env = getenv("HARK_SHARED");
    if (env && *env)
        snprintf(buf, sizeof buf, "%s/%s", env, rel);
    else
        snprintf(buf, sizeof buf, "%s/../shared/%s", HK_SOURCE_ROOT, rel);
    return buf;
}

char *hk_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int hk_check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, hk_checks_run, hk_checks_failed);
    return hk_checks_failed ? 1 : 0;
}
