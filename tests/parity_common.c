/* Goldens, modes and differences shared by the parity tests (parity_common.h). */
#include "parity_common.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

static char path_buf[4096];

const char *golden(const char *name, const char *suffix)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s.%s", hk_shared_path("fixtures/llm/goldens"), name, suffix);
    return path_buf;
}

bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

float *read_f32(const char *path, size_t *n)
{
    size_t len;
    char *buf = hk_read_file(path, &len);
    if (!buf)
        return NULL;
    *n = len / sizeof(float);
    float *v = malloc(len ? len : 1);
    memcpy(v, buf, len);
    free(buf);
    return v;
}

double *read_numbers(const char *path, int *n)
{
    char *buf = hk_read_file(path, NULL);
    *n = 0;
    if (!buf)
        return NULL;
    size_t cap = 64;
    double *v = malloc(cap * sizeof *v);
    char *p = buf, *end;
    for (;;) {
        double d = strtod(p, &end);
        if (end == p)
            break;
        if ((size_t)*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = d;
        p = end;
    }
    free(buf);
    return v;
}

int32_t *read_ids(const char *path, int *n)
{
    double *d = read_numbers(path, n);
    if (!d)
        return NULL;
    int32_t *ids = malloc(sizeof *ids * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)d[i];
    free(d);
    return ids;
}

int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

void diff_add(diff_acc *a, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        a->d2 += d * d;
        a->g2 += (double)want[i] * want[i];
        if (fabs(d) > a->max || isnan(d))
            a->max = isnan(d) ? INFINITY : fabs(d);
    }
}

double diff_rel(const diff_acc *a) { return a->g2 > 0 ? sqrt(a->d2 / a->g2) : INFINITY; }

const mode MODES[3] = {
    {"exact", HK_MATMUL_EXACT, HK_TYPE_F32},
    {"kvf32", HK_MATMUL_LLAMACPP, HK_TYPE_F32},
    {"kvf16", HK_MATMUL_LLAMACPP, HK_TYPE_F16},
};

const char *logits_golden(const char *name, int mi, bool *dequant)
{
    *dequant = false;
    if (mi == 0) {
        if (exists(golden(name, "dequant.kvf32.logits.f32"))) {
            *dequant = true;
            return "dequant.kvf32.logits.f32";
        }
        return "kvf32.logits.f32";
    }
    return mi == 1 ? "kvf32.logits.f32" : "logits.f32";
}

const char *greedy_ids_suffix(int mi) { return mi == 2 ? "greedy.txt" : "kvf32.greedy.txt"; }
const char *greedy_margins_suffix(int mi) { return mi == 2 ? "greedy_margins.txt" : "kvf32.greedy_margins.txt"; }
const char *greedy_rows_suffix(int mi) { return mi == 2 ? "greedy_logits.f32" : "kvf32.greedy_logits.f32"; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **fixture_models(int *n)
{
    *n = 0;
    DIR *d = opendir(hk_shared_path("fixtures/llm/models"));
    if (!d)
        return NULL;
    int cap = 32;
    char **names = malloc(sizeof *names * (size_t)cap);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
            continue;
        if (*n == cap)
            names = realloc(names, sizeof *names * (size_t)(cap *= 2));
        names[(*n)++] = strndup(e->d_name, len - 5);
    }
    closedir(d);
    qsort(names, (size_t)*n, sizeof *names, cmp_str);
    return names;
}

hk_model *load_fixture(const char *name)
{
    char rel[512];
    snprintf(rel, sizeof rel, "fixtures/llm/models/%s.gguf", name);
    hk_error err = {{0}};
    hk_model *m = hk_model_load(hk_shared_path(rel), &err);
    CHECK(m != NULL, "load %s: %s", name, err.msg);
    return m;
}
