/* The Vulkan device layer: instance and device selection, buffers, compute
 * pipelines built from the SPIR-V embedded at build time (engine/vk/spirv.h),
 * descriptor sets made once, command buffers, fences.  Internal to the
 * engine: the language model on the GPU (vk_lm.h) is its user.
 *
 * The loader (libvulkan.so.1) is opened with dlopen, so a machine without
 * Vulkan runs hark on the CPU; every failure is one line in hk_error, never
 * an abort.  Compiled only when the build found the Vulkan headers and glslc
 * (HK_HAVE_VULKAN); otherwise hk_vk_open and hk_vk_list fail with "this hark
 * was built without Vulkan".
 *
 * Environment:
 *   HARK_DEVICE=N        device index for hk_vk_open(-1) (as --device N)
 *   HARK_VK_VALIDATE=1   enable VK_LAYER_KHRONOS_validation and a debug
 *                        messenger that prints each error/warning as one line
 *                        "hark: vulkan validation: ..." on stderr and counts it
 *   HARK_VK_MEMORY_LIMIT=MiB  pretend the device has at most this much
 *                        device-local memory (tests force the out-of-memory
 *                        fallback with it)
 *   HARK_VK_LOSE_AFTER=N a test hook: submissions after the first N report
 *                        a lost device (HK_VK_LOST), to test the CPU fallback
 *   HARK_VK_STAGING=1    a test hook: uploads and downloads always go through
 *                        the staging buffer, as on a discrete GPU, even where
 *                        device memory is host-visible (lavapipe, UMA) */
#ifndef HK_VK_H
#define HK_VK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum hk_vk_device_type {
    HK_VK_DISCRETE,
    HK_VK_INTEGRATED,
    HK_VK_VIRTUAL,
    HK_VK_CPU, /* lavapipe/llvmpipe and other software drivers */
    HK_VK_OTHER,
} hk_vk_device_type;

typedef struct hk_vk_device_info {
    int index;                   /* as vkEnumeratePhysicalDevices orders them */
    char name[256];
    hk_vk_device_type type;
    uint32_t api_version;        /* VK_MAKE_API_VERSION */
    char driver[256];            /* driverName + driverInfo, when the device reports them */
    uint64_t device_local_bytes; /* sum of DEVICE_LOCAL heaps */
    uint64_t max_storage_range;  /* maxStorageBufferRange */
    uint32_t subgroup_size;
    bool fp16;                   /* shaderFloat16 */
    bool int8_dot;               /* VK_KHR_shader_integer_dot_product */
    bool subgroup_arith;         /* subgroup arithmetic operations in compute */
    bool coopmat;                /* VK_KHR_cooperative_matrix */
} hk_vk_device_info;

const char *hk_vk_device_type_name(hk_vk_device_type t); /* "discrete GPU", "integrated GPU", "CPU", ... */

/* Optional device features that hk_vk_open turned on (each only where the
 * device supports it): a shader needing one is used only when it is true. */
typedef struct hk_vk_features {
    bool float16;         /* shaderFloat16: float16_t arithmetic */
    bool int8;            /* shaderInt8: int8_t arithmetic */
    bool int16;           /* shaderInt16 */
    bool int64;           /* shaderInt64 */
    bool storage16;       /* storageBuffer16BitAccess: 16-bit types in storage buffers */
    bool storage8;        /* storageBuffer8BitAccess: 8-bit types in storage buffers */
    bool int_dot;         /* shaderIntegerDotProduct (dotPacked4x8 etc.) */
    bool subgroup_arith;  /* subgroupAdd etc. in compute shaders (a property, nothing to enable) */
    bool subgroup_size_control; /* subgroupSizeControl + computeFullSubgroups */
} hk_vk_features;

/* Fills up to max entries, returns the number of devices (may exceed max),
 * or -1 with err set (no loader, no driver, instance creation failed). */
int hk_vk_list(hk_vk_device_info *out, int max, hk_error *err);

typedef struct hk_vk hk_vk;

/* Opens device `index`, or with index < 0: $HARK_DEVICE if set, else the
 * best GPU (discrete first, then integrated, then virtual), else - only when
 * allow_cpu - a CPU device (lavapipe).  Creates the compute queue, command
 * pool, descriptor pool and a pipeline cache. */
hk_vk *hk_vk_open(int index, bool allow_cpu, hk_error *err);
/* Waits for the device, then frees everything made from vk (buffers,
 * pipelines, nodes, command buffers not freed yet) and the device. */
void hk_vk_close(hk_vk *vk);
const hk_vk_device_info *hk_vk_info(const hk_vk *vk);
/* Bytes one binding may span: maxStorageBufferRange, or less where the
 * environment variable env (a test hook that forces splits on small
 * models) holds a smaller positive number. */
uint64_t hk_vk_range_limit(const hk_vk *vk, const char *env);
uint64_t hk_vk_min_offset_align(const hk_vk *vk); /* minStorageBufferOffsetAlignment */
/* Validation messages of severity error seen so far (HARK_VK_VALIDATE=1). */
int hk_vk_validation_errors(const hk_vk *vk);
const hk_vk_features *hk_vk_enabled(const hk_vk *vk);
/* Whether HARK_VK_VALIDATE=1 got the validation layer and its messenger. */
bool hk_vk_validating(const hk_vk *vk);
/* Whether a call has reported a lost device (the hk_vk is then unusable). */
bool hk_vk_is_lost(const hk_vk *vk);

/* The device hk_vk_open(-1, allow_cpu) picks among list[0..n) when
 * HARK_DEVICE is unset: its index in list, or -1 when none qualifies. */
int hk_vk_pick(const hk_vk_device_info *list, int n, bool allow_cpu);

/* Whether hk_vk_open(index, false) would open a GPU, asked in a child
 * process: the answer costs this process nothing, where opening Vulkan to
 * find only a CPU driver (lavapipe brings LLVM) would keep ~60 MiB resident
 * for the rest of its life.  The answer is cached per index. */
bool hk_vk_probe_gpu(int index);

/* ---- buffers ---- */
typedef enum hk_vk_mem {
    HK_VK_DEVICE, /* device-local; filled by hk_vk_upload or by shaders */
    HK_VK_HOST,   /* host-visible, coherent, persistently mapped (small per-step inputs, readback) */
} hk_vk_mem;

typedef struct hk_vk_buf hk_vk_buf;
/* Fails cleanly (err: "vulkan: out of device memory allocating 300 MiB for
 * 'blk.0.ffn_up.weight'") when the device or HARK_VK_MEMORY_LIMIT says no.
 * `what` names the buffer in errors. */
hk_vk_buf *hk_vk_buf_new(hk_vk *vk, uint64_t size, hk_vk_mem mem, const char *what, hk_error *err);
void hk_vk_buf_free(hk_vk *vk, hk_vk_buf *b);
uint64_t hk_vk_buf_size(const hk_vk_buf *b);
void *hk_vk_buf_map(hk_vk_buf *b); /* HK_VK_HOST buffers; NULL for device ones */
/* Copies bytes to a device buffer through a staging buffer (waits).  Both
 * first wait for everything submitted on vk, then copy (directly through a
 * mapping where the memory is host-visible). */
int hk_vk_upload(hk_vk *vk, hk_vk_buf *dst, uint64_t offset, const void *src, uint64_t size, hk_error *err);
int hk_vk_download(hk_vk *vk, const hk_vk_buf *src, uint64_t offset, void *dst, uint64_t size, hk_error *err);

/* ---- pipelines and their bound instances ---- */
typedef struct hk_vk_pipeline hk_vk_pipeline;
/* A compute pipeline from the embedded shader `name` with n_bindings storage
 * buffers (binding 0..n-1 of set 0), push constants of push_size bytes
 * (<= 128) and specialization constants spec[0..n_spec) as constant_id
 * 0..n_spec-1 (uint32 each; floats by their bits).  Pipelines are cached by
 * (name, spec): asking twice returns the same object, owned by vk. */
hk_vk_pipeline *hk_vk_pipeline_get(hk_vk *vk, const char *name, int n_bindings, uint32_t push_size,
                                   const uint32_t *spec, int n_spec, hk_error *err);

typedef struct hk_vk_binding {
    const hk_vk_buf *buf;
    uint64_t offset; /* multiple of hk_vk_min_offset_align */
    uint64_t range;  /* <= max_storage_range; 0 = to the end of the buffer (if that fits) */
} hk_vk_binding;

/* A pipeline with its buffers bound: a descriptor set allocated once, used
 * by every dispatch of that node.  Owned by vk (freed by hk_vk_close) or
 * earlier by hk_vk_node_free. */
typedef struct hk_vk_node hk_vk_node;
hk_vk_node *hk_vk_node_new(hk_vk *vk, hk_vk_pipeline *p, const hk_vk_binding *b, int n, hk_error *err);
void hk_vk_node_free(hk_vk *vk, hk_vk_node *n);

/* ---- command buffers ---- */
typedef struct hk_vk_cmd hk_vk_cmd;
hk_vk_cmd *hk_vk_cmd_new(hk_vk *vk, hk_error *err);
void hk_vk_cmd_free(hk_vk *vk, hk_vk_cmd *c);
/* Resets and starts recording (waits for a previous submission first). */
int hk_vk_cmd_begin(hk_vk_cmd *c, hk_error *err);
void hk_vk_cmd_dispatch(hk_vk_cmd *c, const hk_vk_node *n, const void *push, uint32_t push_size, uint32_t gx,
                        uint32_t gy, uint32_t gz);
/* Makes every shader write before it visible to every shader read and
 * transfer after it (a compute->compute|transfer memory barrier; transfer
 * writes - copy, fill - count as writes too, and the host as a reader). */
void hk_vk_cmd_barrier(hk_vk_cmd *c);
void hk_vk_cmd_copy(hk_vk_cmd *c, const hk_vk_buf *src, uint64_t src_off, hk_vk_buf *dst, uint64_t dst_off,
                    uint64_t size);
void hk_vk_cmd_fill(hk_vk_cmd *c, hk_vk_buf *dst, uint64_t off, uint64_t size, uint32_t value);
/* Ends recording with a barrier that makes every write visible to the host
 * too, so a mapped HK_VK_HOST buffer can be read once hk_vk_cmd_wait
 * returns.  A misuse while recording (dispatch with too many push bytes,
 * copy past an end, ...) fails here with the reason; debug builds assert at
 * the call itself. */
int hk_vk_cmd_end(hk_vk_cmd *c, hk_error *err);
/* Submits a recorded buffer; it may be submitted again later without
 * re-recording.  hk_vk_cmd_wait blocks until it finished.  A lost device
 * gives HK_VK_LOST and err "vulkan: device lost (...)"; the hk_vk is then
 * unusable except for hk_vk_close. */
enum { HK_VK_LOST = -2 };
int hk_vk_cmd_submit(hk_vk_cmd *c, hk_error *err);
int hk_vk_cmd_wait(hk_vk_cmd *c, hk_error *err);

/* ---- measurement ---- */
/* Read bandwidth of device memory in GB/s (10^9 bytes/s): a shader sums a
 * buffer of `bytes` (0 = 256 MiB; less on a device with little memory or
 * under HARK_VK_MEMORY_LIMIT), best of `passes` (0 = 5) timed passes after a
 * warm-up, each timed from submission to the end of the wait.  -1 with err
 * set when it cannot be measured.  The buffer is freed before it returns. */
double hk_vk_measure_read_bandwidth(hk_vk *vk, uint64_t bytes, int passes, hk_error *err);

#endif
