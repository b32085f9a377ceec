/* The compute shaders (shaders/NAME.comp), compiled by glslc at build time and
 * embedded (shaders/embed_spirv.py writes the table).  One entry per
 * variant: shaders/meson.build names each as NAME=FILE.comp[:DEF=VAL,...]. */
#ifndef HK_SPIRV_H
#define HK_SPIRV_H

#include <stddef.h>
#include <stdint.h>

typedef struct hk_spirv {
    const char *name;
    const uint32_t *code;
    size_t size; /* bytes */
} hk_spirv;

extern const hk_spirv hk_spirv_table[];
extern const int hk_spirv_count;

/* The entry called name, or NULL. */
const hk_spirv *hk_spirv_find(const char *name);

#endif
