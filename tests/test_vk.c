/* The Vulkan device layer (engine/vk/vk.h) on whatever device hk_vk_open
 * picks with allow_cpu (lavapipe on CI), driven through the `scale` shader
 * (y[i] *= s).  With validation on (when the layer is installed) and its
 * error count checked at the end.  Exits 77 (skipped) only when the machine
 * has no Vulkan device at all. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vk/vk.h"

typedef struct scale_push {
    uint32_t n;
    float s;
} scale_push;

static const uint64_t MiB = 1024 * 1024;

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state;
}

static void fill_random(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(rnd() >> 8) / (float)(1u << 24) * 8.0f - 4.0f;
}

static hk_vk_pipeline *scale_pipeline(hk_vk *vk)
{
    hk_error err = {{0}};
    hk_vk_pipeline *p = hk_vk_pipeline_get(vk, "scale", 1, sizeof(scale_push), NULL, 0, &err);
    CHECK(p != NULL, "scale pipeline: %s", err.msg);
    return p;
}

/* Scales n floats of binding b by s in one recorded buffer; 0 or the error status. */
static int run_scale(hk_vk *vk, hk_vk_binding b, uint32_t n, float s, hk_error *err)
{
    hk_vk_pipeline *p = scale_pipeline(vk);
    if (!p)
        return -1;
    hk_vk_node *node = hk_vk_node_new(vk, p, &b, 1, err);
    if (!node)
        return -1;
    hk_vk_cmd *c = hk_vk_cmd_new(vk, err);
    int r = c ? 0 : -1;
    scale_push push = {n, s};
    if (r == 0 && (r = hk_vk_cmd_begin(c, err)) == 0) {
        hk_vk_cmd_dispatch(c, node, &push, sizeof push, (n + 255) / 256, 1, 1);
        if ((r = hk_vk_cmd_end(c, err)) == 0 && (r = hk_vk_cmd_submit(c, err)) == 0)
            r = hk_vk_cmd_wait(c, err);
    }
    hk_vk_cmd_free(vk, c);
    hk_vk_node_free(vk, node);
    return r;
}

/* Device buffer round trip: what goes up comes back, at an odd size and offset. */
static void test_round_trip(hk_vk *vk, uint64_t size)
{
    hk_error err = {{0}};
    hk_vk_buf *b = hk_vk_buf_new(vk, size, HK_VK_DEVICE, "round trip", &err);
    CHECK(b != NULL, "buf_new %llu: %s", (unsigned long long)size, err.msg);
    if (!b)
        return;
    CHECK(hk_vk_buf_size(b) == size, "size %llu", (unsigned long long)hk_vk_buf_size(b));
    CHECK(hk_vk_buf_map(b) == NULL, "device buffers are not mapped for the caller");
    uint8_t *src = malloc(size), *dst = malloc(size);
    for (uint64_t i = 0; i < size; i++)
        src[i] = (uint8_t)rnd();
    CHECK(hk_vk_upload(vk, b, 0, src, size, &err) == 0, "upload: %s", err.msg);
    memset(dst, 0, size);
    CHECK(hk_vk_download(vk, b, 0, dst, size, &err) == 0, "download: %s", err.msg);
    CHECK(memcmp(src, dst, size) == 0, "round trip of %llu bytes differs", (unsigned long long)size);
    /* A partial upload at an odd offset leaves the rest alone. */
    uint8_t patch[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    CHECK(hk_vk_upload(vk, b, size - 20, patch, sizeof patch, &err) == 0, "patch: %s", err.msg);
    memcpy(src + size - 20, patch, sizeof patch);
    CHECK(hk_vk_download(vk, b, 0, dst, size, &err) == 0, "download: %s", err.msg);
    CHECK(memcmp(src, dst, size) == 0, "partial upload changed other bytes");
    CHECK(hk_vk_upload(vk, b, size - 4, patch, 8, &err) < 0 && strstr(err.msg, "past the end"),
          "upload past the end refused: %s", err.msg);
    CHECK(hk_vk_download(vk, b, size + 1, dst, 1, &err) < 0 && strstr(err.msg, "past the end"),
          "download past the end refused: %s", err.msg);
    free(src);
    free(dst);
    hk_vk_buf_free(vk, b);
}

/* One dispatch scales every float, and resubmitting the same recording
 * scales again; the host buffer is read through its mapping. */
static void test_dispatch_twice(hk_vk *vk)
{
    enum { N = 1000 };
    hk_error err = {{0}};
    hk_vk_pipeline *p = scale_pipeline(vk);
    hk_vk_buf *b = hk_vk_buf_new(vk, N * sizeof(float), HK_VK_HOST, "dispatch", &err);
    CHECK(b != NULL, "host buf: %s", err.msg);
    if (!b || !p)
        return;
    float *y = hk_vk_buf_map(b), x[N];
    CHECK(y != NULL, "host buffers are mapped");
    fill_random(x, N);
    memcpy(y, x, sizeof x);
    hk_vk_binding bind = {b, 0, 0};
    hk_vk_node *node = hk_vk_node_new(vk, p, &bind, 1, &err);
    hk_vk_cmd *c = hk_vk_cmd_new(vk, &err);
    CHECK(node && c, "node/cmd: %s", err.msg);
    if (node && c) {
        scale_push push = {N - 1, 2.5f}; /* the last float stays: the shader's bound check */
        CHECK(hk_vk_cmd_begin(c, &err) == 0, "begin: %s", err.msg);
        hk_vk_cmd_dispatch(c, node, &push, sizeof push, (N + 255) / 256, 1, 1);
        CHECK(hk_vk_cmd_end(c, &err) == 0, "end: %s", err.msg);
        CHECK(hk_vk_cmd_submit(c, &err) == 0 && hk_vk_cmd_wait(c, &err) == 0, "submit 1: %s", err.msg);
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += y[i] != (i < N - 1 ? x[i] * 2.5f : x[i]);
        CHECK(bad == 0, "%d floats wrong after one dispatch", bad);
        CHECK(hk_vk_cmd_submit(c, &err) == 0, "submit 2: %s", err.msg);
        CHECK(hk_vk_cmd_submit(c, &err) == 0, "submit 3 while 2 may be pending: %s", err.msg);
        CHECK(hk_vk_cmd_wait(c, &err) == 0, "wait: %s", err.msg);
        bad = 0;
        for (int i = 0; i < N; i++)
            bad += y[i] != (i < N - 1 ? x[i] * 2.5f * 2.5f * 2.5f : x[i]);
        CHECK(bad == 0, "%d floats wrong after three submissions of one recording", bad);
    }
    hk_vk_cmd_free(vk, c);
    hk_vk_node_free(vk, node);
    hk_vk_buf_free(vk, b);
}

/* A binding at an aligned offset sees only its range: floats before and
 * after it keep their values.  Misaligned offsets and too-long ranges are
 * refused with the reason. */
static void test_offset_binding(hk_vk *vk)
{
    hk_error err = {{0}};
    uint64_t align = hk_vk_min_offset_align(vk);
    CHECK(align > 0 && (align & (align - 1)) == 0, "min offset alignment %llu is a power of two",
          (unsigned long long)align);
    const uint64_t off = align > 16 ? align : 16 * align; /* bytes before the range */
    const uint32_t n = 300, tail = 50;
    uint64_t size = off + (uint64_t)(n + tail) * sizeof(float);
    hk_vk_buf *b = hk_vk_buf_new(vk, size, HK_VK_DEVICE, "offset", &err);
    CHECK(b != NULL, "buf: %s", err.msg);
    if (!b)
        return;
    size_t nf = (size_t)(size / sizeof(float));
    float *x = malloc(size), *y = malloc(size);
    fill_random(x, nf);
    CHECK(hk_vk_upload(vk, b, 0, x, size, &err) == 0, "upload: %s", err.msg);
    hk_vk_binding bind = {b, off, (uint64_t)n * sizeof(float)};
    CHECK(run_scale(vk, bind, n + tail, -3.0f, &err) == 0, "scale at offset: %s", err.msg);
    CHECK(hk_vk_download(vk, b, 0, y, size, &err) == 0, "download: %s", err.msg);
    size_t first = (size_t)(off / sizeof(float)), bad = 0;
    for (size_t i = 0; i < nf; i++)
        bad += y[i] != (i >= first && i < first + n ? x[i] * -3.0f : x[i]);
    CHECK(bad == 0, "%zu floats wrong with a binding at offset %llu", bad, (unsigned long long)off);

    hk_vk_pipeline *p = scale_pipeline(vk);
    if (align > 1) {
        hk_vk_binding mis = {b, align / 2, 64};
        CHECK(!hk_vk_node_new(vk, p, &mis, 1, &err) && strstr(err.msg, "not a multiple"),
              "misaligned offset refused: %s", err.msg);
    }
    hk_vk_binding past = {b, off, size};
    CHECK(!hk_vk_node_new(vk, p, &past, 1, &err) && strstr(err.msg, "ends past"), "range past the end refused: %s",
          err.msg);
    CHECK(!hk_vk_node_new(vk, p, &bind, 2, &err) && strstr(err.msg, "takes 1 binding"),
          "wrong binding count refused: %s", err.msg);
    free(x);
    free(y);
    hk_vk_buf_free(vk, b);
}

/* A buffer longer than maxStorageBufferRange: binding it whole is refused,
 * and two ranges of it (one reaching past that limit) work. */
static void test_big_buffer(hk_vk *vk)
{
    hk_error err = {{0}};
    const hk_vk_device_info *info = hk_vk_info(vk);
    uint64_t max = info->max_storage_range, align = hk_vk_min_offset_align(vk);
    if (max > 512 * MiB) {
        printf("big buffer: skipped, maxStorageBufferRange is %llu MiB\n", (unsigned long long)(max / MiB));
        return;
    }
    uint64_t size = max + 2 * MiB;
    hk_vk_buf *b = hk_vk_buf_new(vk, size, HK_VK_DEVICE, "big", &err);
    CHECK(b != NULL, "buffer of %llu MiB: %s", (unsigned long long)(size / MiB), err.msg);
    if (!b)
        return;
    hk_vk_pipeline *p = scale_pipeline(vk);
    hk_vk_binding whole = {b, 0, 0};
    CHECK(!hk_vk_node_new(vk, p, &whole, 1, &err) && strstr(err.msg, "maxStorageBufferRange"),
          "whole big buffer refused: %s", err.msg);
    /* Head: [0, 1 MiB); tail: the last 4 MiB, crossing maxStorageBufferRange. */
    enum { HEAD = 1 << 18, TAIL = 1 << 20 }; /* floats */
    uint64_t tail_off = (size - (uint64_t)TAIL * sizeof(float)) / align * align;
    uint32_t tail_n = (uint32_t)((size - tail_off) / sizeof(float));
    float *x = malloc((size_t)tail_n * sizeof(float)), *y = malloc((size_t)tail_n * sizeof(float));
    fill_random(x, tail_n);
    CHECK(hk_vk_upload(vk, b, 0, x, HEAD * sizeof(float), &err) == 0, "upload head: %s", err.msg);
    CHECK(hk_vk_upload(vk, b, tail_off, x, (uint64_t)tail_n * sizeof(float), &err) == 0, "upload tail: %s", err.msg);
    CHECK(run_scale(vk, (hk_vk_binding){b, 0, HEAD * sizeof(float)}, HEAD, 0.5f, &err) == 0, "head: %s", err.msg);
    CHECK(run_scale(vk, (hk_vk_binding){b, tail_off, 0}, tail_n, 4.0f, &err) == 0, "tail: %s", err.msg);
    size_t bad = 0;
    CHECK(hk_vk_download(vk, b, 0, y, HEAD * sizeof(float), &err) == 0, "download head: %s", err.msg);
    for (size_t i = 0; i < HEAD; i++)
        bad += y[i] != x[i] * 0.5f;
    CHECK(hk_vk_download(vk, b, tail_off, y, (uint64_t)tail_n * sizeof(float), &err) == 0, "download tail: %s",
          err.msg);
    for (size_t i = 0; i < tail_n; i++)
        bad += y[i] != x[i] * 4.0f;
    CHECK(bad == 0, "%zu floats wrong in the two ranges of a %llu MiB buffer", bad,
          (unsigned long long)(size / MiB));
    free(x);
    free(y);
    hk_vk_buf_free(vk, b);
}

/* Pipelines come from the cache by (name, spec); mismatches and unknown names fail. */
static void test_pipeline_cache(hk_vk *vk)
{
    hk_error err = {{0}};
    const uint32_t spec1[2] = {1, 2}, spec2[2] = {1, 3};
    hk_vk_pipeline *a = hk_vk_pipeline_get(vk, "scale", 1, sizeof(scale_push), NULL, 0, &err);
    hk_vk_pipeline *b = hk_vk_pipeline_get(vk, "scale", 1, sizeof(scale_push), NULL, 0, &err);
    CHECK(a && a == b, "same (name, spec): same pipeline");
    hk_vk_pipeline *c = hk_vk_pipeline_get(vk, "scale", 1, sizeof(scale_push), spec1, 2, &err);
    hk_vk_pipeline *d = hk_vk_pipeline_get(vk, "scale", 1, sizeof(scale_push), spec2, 2, &err);
    hk_vk_pipeline *e = hk_vk_pipeline_get(vk, "scale", 1, sizeof(scale_push), spec1, 2, &err);
    CHECK(c && d && c != a && c != d && e == c, "spec constants key the cache");
    CHECK(!hk_vk_pipeline_get(vk, "scale", 2, sizeof(scale_push), NULL, 0, &err) && strstr(err.msg, "scale"),
          "same shader with another layout refused: %s", err.msg);
    CHECK(!hk_vk_pipeline_get(vk, "no_such_shader", 1, 8, NULL, 0, &err) && strstr(err.msg, "no_such_shader"),
          "unknown shader: %s", err.msg);
    CHECK(!hk_vk_pipeline_get(vk, "scale", 1, 6, NULL, 0, &err), "push size not a multiple of 4 refused");
}

/* Many small buffers (a model's tensors) fit in the driver's allocation limit. */
static void test_many_buffers(hk_vk *vk)
{
    enum { N = 1200 };
    hk_error err = {{0}};
    static hk_vk_buf *b[N];
    int made = 0;
    for (int i = 0; i < N; i++) {
        b[i] = hk_vk_buf_new(vk, 4096 + (uint64_t)i * 4, i % 3 ? HK_VK_DEVICE : HK_VK_HOST, "many", &err);
        made += b[i] != NULL;
    }
    CHECK(made == N, "%d of %d buffers: %s", made, N, err.msg);
    /* Each keeps its own bytes. */
    int bad = 0;
    for (int i = 0; i < N; i += 97) {
        uint32_t v = 0xabc00000u + (uint32_t)i, got = 0;
        if (b[i] && hk_vk_upload(vk, b[i], 4092, &v, 4, &err) == 0)
            bad += hk_vk_download(vk, b[i], 4092, &got, 4, &err) != 0;
        for (int j = 0; j < i; j += 97)
            if (b[j] && hk_vk_download(vk, b[j], 4092, &got, 4, &err) == 0)
                bad += got != 0xabc00000u + (uint32_t)j;
    }
    CHECK(bad == 0, "%d buffers lost their bytes", bad);
    for (int i = 0; i < N; i++)
        hk_vk_buf_free(vk, b[i]);
}

/* Copy and fill commands with the barrier between them. */
static void test_copy_fill(hk_vk *vk)
{
    hk_error err = {{0}};
    hk_vk_buf *a = hk_vk_buf_new(vk, 4096, HK_VK_DEVICE, "a", &err);
    hk_vk_buf *h = hk_vk_buf_new(vk, 4096, HK_VK_HOST, "h", &err);
    hk_vk_cmd *c = hk_vk_cmd_new(vk, &err);
    CHECK(a && h && c, "copy/fill setup: %s", err.msg);
    if (a && h && c) {
        uint32_t *m = hk_vk_buf_map(h);
        memset(m, 0, 4096);
        CHECK(hk_vk_cmd_begin(c, &err) == 0, "begin: %s", err.msg);
        hk_vk_cmd_fill(c, a, 0, 4096, 0x01020304u);
        hk_vk_cmd_barrier(c);
        hk_vk_cmd_fill(c, a, 1024, 1024, 7u);
        hk_vk_cmd_barrier(c);
        hk_vk_cmd_copy(c, a, 512, h, 0, 2048);
        CHECK(hk_vk_cmd_end(c, &err) == 0, "end: %s", err.msg);
        CHECK(hk_vk_cmd_submit(c, &err) == 0 && hk_vk_cmd_wait(c, &err) == 0, "run: %s", err.msg);
        int bad = 0;
        for (int i = 0; i < 512; i++)
            bad += m[i] != (i < 128 || i >= 384 ? 0x01020304u : 7u);
        bad += m[600] != 0; /* past the copy */
        CHECK(bad == 0, "%d words wrong after fill/copy", bad);
    }
    hk_vk_cmd_free(vk, c);
    hk_vk_buf_free(vk, a);
    hk_vk_buf_free(vk, h);
}

static void test_memory_limit(void)
{
    hk_error err = {{0}};
    setenv("HARK_VK_MEMORY_LIMIT", "1", 1);
    hk_vk *vk = hk_vk_open(-1, true, &err);
    unsetenv("HARK_VK_MEMORY_LIMIT");
    CHECK(vk != NULL, "open with a memory limit: %s", err.msg);
    if (!vk)
        return;
    hk_vk_buf *small = hk_vk_buf_new(vk, 512 * 1024, HK_VK_DEVICE, "small", &err);
    CHECK(small != NULL, "512 KiB under a 1 MiB limit: %s", err.msg);
    hk_vk_buf *big = hk_vk_buf_new(vk, 768 * 1024, HK_VK_DEVICE, "blk.0.ffn_up.weight", &err);
    CHECK(big == NULL, "768 KiB more is refused");
    CHECK(strstr(err.msg, "vulkan: out of device memory") && strstr(err.msg, "'blk.0.ffn_up.weight'") &&
              strstr(err.msg, "HARK_VK_MEMORY_LIMIT"),
          "error names the buffer and the limit: %s", err.msg);
    hk_vk_buf *host = hk_vk_buf_new(vk, 4 * MiB, HK_VK_HOST, "host", &err);
    CHECK(host != NULL, "host buffers are not charged to the device limit: %s", err.msg);
    hk_vk_buf_free(vk, small);
    hk_vk_buf *again = hk_vk_buf_new(vk, 768 * 1024, HK_VK_DEVICE, "again", &err);
    CHECK(again != NULL, "freed bytes count again: %s", err.msg);
    hk_vk_buf_free(vk, again);
    hk_vk_buf_free(vk, big);
    hk_vk_buf_free(vk, host);
    hk_vk_close(vk);
}

static void test_lost(void)
{
    hk_error err = {{0}};
    setenv("HARK_VK_LOSE_AFTER", "1", 1);
    hk_vk *vk = hk_vk_open(-1, true, &err);
    unsetenv("HARK_VK_LOSE_AFTER");
    CHECK(vk != NULL, "open: %s", err.msg);
    if (!vk)
        return;
    hk_vk_buf *b = hk_vk_buf_new(vk, 1024, HK_VK_HOST, "lost", &err);
    CHECK(b != NULL, "buf: %s", err.msg);
    if (b) {
        memset(hk_vk_buf_map(b), 0, 1024);
        CHECK(run_scale(vk, (hk_vk_binding){b, 0, 0}, 256, 2.0f, &err) == 0, "first submission works: %s", err.msg);
        CHECK(run_scale(vk, (hk_vk_binding){b, 0, 0}, 256, 2.0f, &err) == HK_VK_LOST, "second is lost");
        CHECK(strstr(err.msg, "device lost") != NULL, "error says so: %s", err.msg);
        CHECK(hk_vk_is_lost(vk), "marked lost");
        CHECK(hk_vk_cmd_new(vk, &err) == NULL && strstr(err.msg, "device lost"), "nothing works after: %s", err.msg);
    }
    hk_vk_close(vk); /* frees b too */
}

static void test_open_errors(int n_devices)
{
    hk_error err = {{0}};
    CHECK(hk_vk_open(n_devices, true, &err) == NULL && strstr(err.msg, "no device"), "index past the list: %s",
          err.msg);
    setenv("HARK_DEVICE", "x", 1);
    CHECK(hk_vk_open(-1, true, &err) == NULL && strstr(err.msg, "HARK_DEVICE"), "bad HARK_DEVICE: %s", err.msg);
    unsetenv("HARK_DEVICE");
}

static void test_device(hk_vk *vk, const hk_vk_device_info *list, int n)
{
    const hk_vk_device_info *info = hk_vk_info(vk);
    printf("device %d: %s (%s), Vulkan %u.%u, driver %s, subgroup %u, max range %llu MiB, fp16 %d int8_dot %d "
           "subgroup_arith %d coopmat %d\n",
           info->index, info->name, hk_vk_device_type_name(info->type), info->api_version >> 22,
           (info->api_version >> 12) & 0x3ff, info->driver, info->subgroup_size,
           (unsigned long long)(info->max_storage_range / MiB), info->fp16, info->int8_dot, info->subgroup_arith,
           info->coopmat);
    CHECK(info->index >= 0 && info->index < n, "index %d in the list of %d", info->index, n);
    CHECK(info->index == hk_vk_pick(list, n, true), "open(-1, allow_cpu) opened what hk_vk_pick chose");
    CHECK(strcmp(info->name, list[info->index].name) == 0, "same name as listed");
    CHECK(info->name[0] && info->max_storage_range >= 65536 && info->subgroup_size > 0, "info filled");
    const hk_vk_features *f = hk_vk_enabled(vk);
    CHECK(f->float16 == info->fp16 && f->int_dot == info->int8_dot, "supported features are enabled");
}

int main(void)
{
    hk_error err = {{0}};
    hk_vk_device_info list[16];
    int n = hk_vk_list(list, 16, &err);
    if (n <= 0) {
        printf("test_vk: skipped: no Vulkan device on this machine (%s)\n", n < 0 ? err.msg : "the loader lists none");
        return 77;
    }
    setenv("HARK_VK_VALIDATE", "1", 1);
    /* synchronization validation too: a missing barrier is an error */
    setenv("VK_LAYER_SETTINGS_PATH", HK_SOURCE_ROOT "/tests/vk_sync_validation.txt", 0);
    hk_vk *vk = hk_vk_open(-1, true, &err);
    CHECK(vk != NULL, "open: %s", err.msg);
    if (!vk)
        return hk_check_done("test_vk");
    bool validating = hk_vk_validating(vk);
    printf("validation layer: %s\n", validating ? "on" : "not installed");
    test_device(vk, list, n > 16 ? 16 : n);
    test_round_trip(vk, 3 * MiB + 7);
    test_dispatch_twice(vk);
    test_offset_binding(vk);
    test_pipeline_cache(vk);
    test_copy_fill(vk);
    test_many_buffers(vk);
    test_big_buffer(vk);
    double gbs = hk_vk_measure_read_bandwidth(vk, 8 * MiB, 2, &err);
    CHECK(gbs > 0 && gbs < 1e5, "device read bandwidth %.3g GB/s: %s", gbs, err.msg);
    CHECK(hk_vk_validation_errors(vk) == 0, "%d validation errors", hk_vk_validation_errors(vk));
    hk_vk_close(vk);

    /* The staging path (discrete GPUs) on any device, across chunk boundaries. */
    setenv("HARK_VK_STAGING", "1", 1);
    vk = hk_vk_open(-1, true, &err);
    unsetenv("HARK_VK_STAGING");
    CHECK(vk != NULL, "open (staging): %s", err.msg);
    if (vk) {
        test_round_trip(vk, 70 * MiB + 3);
        test_offset_binding(vk);
        CHECK(hk_vk_validation_errors(vk) == 0, "%d validation errors (staging)", hk_vk_validation_errors(vk));
        hk_vk_close(vk);
    }
    unsetenv("HARK_VK_VALIDATE");
    test_memory_limit();
    test_lost();
    test_open_errors(n);
    return hk_check_done("test_vk");
}
