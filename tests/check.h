/* Minimal test harness: CHECK records a failure and carries on, so one run
 * reports every broken case.  A test program exits non-zero if any failed. */
#ifndef HK_CHECK_H
#define HK_CHECK_H

#include <stdbool.h>
#include <stdio.h>

extern int hk_checks_run, hk_checks_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        hk_checks_run++;                                                   \
        if (!(cond)) {                                                     \
            hk_checks_failed++;                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* Path of a fixture: $HARK_SHARED/<rel> or <source root>/../shared/<rel>.
 * Returns a static buffer (valid until the next call). */
const char *hk_shared_path(const char *rel);
/* Read a whole file; returns malloc'd buffer (NUL-terminated) or NULL. */
char *hk_read_file(const char *path, size_t *len);
/* Print "N checks, N failed" and return the exit status. */
int hk_check_done(const char *name);

#endif
