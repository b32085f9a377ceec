/* The Vulkan API of a build without Vulkan (no headers or no glslc at build
 * time): opening and listing fail with the reason, so callers run on the CPU;
 * nothing else can be reached without an open device. */
#include "vk/vk.h"
#include "vk/vk_lm.h"

#define NO_VULKAN "this hark was built without Vulkan"

const char *hk_vk_device_type_name(hk_vk_device_type t)
{
    (void)t;
    return "unknown";
}

int hk_vk_list(hk_vk_device_info *out, int max, hk_error *err)
{
    (void)out;
    (void)max;
    return hk_fail(err, NO_VULKAN);
}

bool hk_vk_probe_gpu(int index)
{
    (void)index;
    return false;
}
int hk_vk_pick(const hk_vk_device_info *list, int n, bool allow_cpu)
{
    (void)list;
    (void)n;
    (void)allow_cpu;
    return -1;
}

hk_vk *hk_vk_open(int index, bool allow_cpu, hk_error *err)
{
    (void)index;
    (void)allow_cpu;
    hk_fail(err, NO_VULKAN);
    return NULL;
}

/* Nothing below is reachable: there is never an hk_vk. */
void hk_vk_close(hk_vk *vk) { (void)vk; }
const hk_vk_device_info *hk_vk_info(const hk_vk *vk)
{
    (void)vk;
    return NULL;
}
uint64_t hk_vk_range_limit(const hk_vk *vk, const char *env)
{
    (void)vk;
    (void)env;
    return 0;
}
uint64_t hk_vk_min_offset_align(const hk_vk *vk)
{
    (void)vk;
    return 1;
}
int hk_vk_validation_errors(const hk_vk *vk)
{
    (void)vk;
    return 0;
}
const hk_vk_features *hk_vk_enabled(const hk_vk *vk)
{
    (void)vk;
    return NULL;
}
bool hk_vk_validating(const hk_vk *vk)
{
    (void)vk;
    return false;
}
bool hk_vk_is_lost(const hk_vk *vk)
{
    (void)vk;
    return false;
}

hk_vk_buf *hk_vk_buf_new(hk_vk *vk, uint64_t size, hk_vk_mem mem, const char *what, hk_error *err)
{
    (void)vk;
    (void)size;
    (void)mem;
    (void)what;
    hk_fail(err, NO_VULKAN);
    return NULL;
}
void hk_vk_buf_free(hk_vk *vk, hk_vk_buf *b)
{
    (void)vk;
    (void)b;
}
uint64_t hk_vk_buf_size(const hk_vk_buf *b)
{
    (void)b;
    return 0;
}
void *hk_vk_buf_map(hk_vk_buf *b)
{
    (void)b;
    return NULL;
}
int hk_vk_upload(hk_vk *vk, hk_vk_buf *dst, uint64_t offset, const void *src, uint64_t size, hk_error *err)
{
    (void)vk;
    (void)dst;
    (void)offset;
    (void)src;
    (void)size;
    return hk_fail(err, NO_VULKAN);
}
int hk_vk_download(hk_vk *vk, const hk_vk_buf *src, uint64_t offset, void *dst, uint64_t size, hk_error *err)
{
    (void)vk;
    (void)src;
    (void)offset;
    (void)dst;
    (void)size;
    return hk_fail(err, NO_VULKAN);
}

hk_vk_pipeline *hk_vk_pipeline_get(hk_vk *vk, const char *name, int n_bindings, uint32_t push_size,
                                   const uint32_t *spec, int n_spec, hk_error *err)
{
    (void)vk;
    (void)name;
    (void)n_bindings;
    (void)push_size;
    (void)spec;
    (void)n_spec;
    hk_fail(err, NO_VULKAN);
    return NULL;
}
hk_vk_node *hk_vk_node_new(hk_vk *vk, hk_vk_pipeline *p, const hk_vk_binding *b, int n, hk_error *err)
{
    (void)vk;
    (void)p;
    (void)b;
    (void)n;
    hk_fail(err, NO_VULKAN);
    return NULL;
}
void hk_vk_node_free(hk_vk *vk, hk_vk_node *n)
{
    (void)vk;
    (void)n;
}

hk_vk_cmd *hk_vk_cmd_new(hk_vk *vk, hk_error *err)
{
    (void)vk;
    hk_fail(err, NO_VULKAN);
    return NULL;
}
void hk_vk_cmd_free(hk_vk *vk, hk_vk_cmd *c)
{
    (void)vk;
    (void)c;
}
int hk_vk_cmd_begin(hk_vk_cmd *c, hk_error *err)
{
    (void)c;
    return hk_fail(err, NO_VULKAN);
}
void hk_vk_cmd_dispatch(hk_vk_cmd *c, const hk_vk_node *n, const void *push, uint32_t push_size, uint32_t gx,
                        uint32_t gy, uint32_t gz)
{
    (void)c;
    (void)n;
    (void)push;
    (void)push_size;
    (void)gx;
    (void)gy;
    (void)gz;
}
void hk_vk_cmd_barrier(hk_vk_cmd *c) { (void)c; }
void hk_vk_cmd_copy(hk_vk_cmd *c, const hk_vk_buf *src, uint64_t src_off, hk_vk_buf *dst, uint64_t dst_off,
                    uint64_t size)
{
    (void)c;
    (void)src;
    (void)src_off;
    (void)dst;
    (void)dst_off;
    (void)size;
}
void hk_vk_cmd_fill(hk_vk_cmd *c, hk_vk_buf *dst, uint64_t off, uint64_t size, uint32_t value)
{
    (void)c;
    (void)dst;
    (void)off;
    (void)size;
    (void)value;
}
int hk_vk_cmd_end(hk_vk_cmd *c, hk_error *err)
{
    (void)c;
    return hk_fail(err, NO_VULKAN);
}
int hk_vk_cmd_submit(hk_vk_cmd *c, hk_error *err)
{
    (void)c;
    return hk_fail(err, NO_VULKAN);
}
int hk_vk_cmd_wait(hk_vk_cmd *c, hk_error *err)
{
    (void)c;
    return hk_fail(err, NO_VULKAN);
}

double hk_vk_measure_read_bandwidth(hk_vk *vk, uint64_t bytes, int passes, hk_error *err)
{
    (void)vk;
    (void)bytes;
    (void)passes;
    hk_fail(err, NO_VULKAN);
    return -1;
}

/* ---- vk_lm.h ---- */

hk_vk_lm *hk_vk_lm_new(hk_vk *vk, const hk_model *m, const hk_session_params *p, hk_error *err)
{
    (void)vk;
    (void)m;
    (void)p;
    hk_fail(err, NO_VULKAN);
    return NULL;
}
void hk_vk_lm_free(hk_vk_lm *g) { (void)g; }
int hk_vk_lm_forward(hk_vk_lm *g, const int32_t *tokens, int n, int32_t pos0, int out_rows, float *logits,
                     hk_error *err)
{
    (void)g;
    (void)tokens;
    (void)n;
    (void)pos0;
    (void)out_rows;
    (void)logits;
    return hk_fail(err, NO_VULKAN);
}
int hk_vk_lm_shift(hk_vk_lm *g, int32_t keep, int32_t d, int32_t pos, hk_error *err)
{
    (void)g;
    (void)keep;
    (void)d;
    (void)pos;
    return hk_fail(err, NO_VULKAN);
}
uint64_t hk_vk_lm_device_bytes(const hk_vk_lm *g)
{
    (void)g;
    return 0;
}
void hk_vk_lm_attention_layout(const hk_vk_lm *g, int *n_parts, int *part_cells, int *split)
{
    (void)g;
    *n_parts = *part_cells = *split = 0;
}
