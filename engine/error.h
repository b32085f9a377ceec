/* Errors: every fallible engine call returns a status (0 on success, -1 on
 * failure) or NULL, and fills an hk_error with one line the user can read,
 * naming the file and the problem. */
#ifndef HK_ERROR_H
#define HK_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hk_error {
    char msg[512]; /* "model.gguf: tensor 'x' ends past end of file" */
} hk_error;

/* Fill err (may be NULL) with a printf-style message; always returns -1 so
 * error paths can `return hk_fail(err, ...)`. */
int hk_fail(hk_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
