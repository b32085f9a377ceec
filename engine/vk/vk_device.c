/* The Vulkan device layer (vk.h).  The loader is dlopen'ed once per process
 * and never closed: closing it would unload the driver's code, and leak
 * reports and driver atexit handlers need it mapped until exit.  Every
 * other function comes through vkGetInstanceProcAddr/vkGetDeviceProcAddr,
 * so the binary has no link-time Vulkan dependency. */
#define VK_NO_PROTOTYPES
#include "vk/vk.h"

#include <assert.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vulkan/vulkan.h>

#include "vk/spirv.h"

enum {
    MAX_PUSH = 128,
    MAX_BINDINGS = 32,
    MAX_SPEC = 32,
    SETS_PER_POOL = 512,
    DESCRIPTORS_PER_SET = 8, /* pool sizing only: a set may have more */
    WAIT_SLICE_NS = 1000000000,
    WAIT_LIMIT_S = 600, /* a GPU that finishes nothing in 10 minutes is treated as lost */
};
static const uint64_t MiB = 1024 * 1024;
/* Buffers up to a quarter of a block share blocks: drivers allow only
 * maxMemoryAllocationCount (often 4096) allocations, and a model has ~10
 * tensors per layer.  Larger buffers get their own allocation. */
static const uint64_t DEVICE_BLOCK = 64 * 1024 * 1024, HOST_BLOCK = 16 * 1024 * 1024;
static const uint64_t STAGING_BYTES = 32 * 1024 * 1024;

/* ---- function tables ---- */

#define GLOBAL_FNS(X)                                                                                             \
    X(vkCreateInstance)                                                                                          \
    X(vkEnumerateInstanceLayerProperties)                                                                        \
    X(vkEnumerateInstanceExtensionProperties)

#define INSTANCE_FNS(X)                                                                                           \
    X(vkDestroyInstance)                                                                                         \
    X(vkEnumeratePhysicalDevices)                                                                                \
    X(vkGetPhysicalDeviceProperties)                                                                             \
    X(vkGetPhysicalDeviceProperties2)                                                                            \
    X(vkGetPhysicalDeviceFeatures2)                                                                              \
    X(vkGetPhysicalDeviceMemoryProperties)                                                                       \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                                  \
    X(vkEnumerateDeviceExtensionProperties)                                                                      \
    X(vkCreateDevice)                                                                                            \
    X(vkGetDeviceProcAddr)

#define DEVICE_FNS(X)                                                                                             \
    X(vkDestroyDevice)                                                                                           \
    X(vkGetDeviceQueue)                                                                                          \
    X(vkDeviceWaitIdle)                                                                                          \
    X(vkQueueWaitIdle)                                                                                           \
    X(vkQueueSubmit)                                                                                             \
    X(vkCreateCommandPool)                                                                                       \
    X(vkDestroyCommandPool)                                                                                      \
    X(vkAllocateCommandBuffers)                                                                                  \
    X(vkFreeCommandBuffers)                                                                                      \
    X(vkBeginCommandBuffer)                                                                                      \
    X(vkEndCommandBuffer)                                                                                        \
    X(vkResetCommandBuffer)                                                                                      \
    X(vkCreateFence)                                                                                             \
    X(vkDestroyFence)                                                                                            \
    X(vkResetFences)                                                                                             \
    X(vkWaitForFences)                                                                                           \
    X(vkCreateBuffer)                                                                                            \
    X(vkDestroyBuffer)                                                                                           \
    X(vkGetBufferMemoryRequirements)                                                                             \
    X(vkAllocateMemory)                                                                                          \
    X(vkFreeMemory)                                                                                              \
    X(vkBindBufferMemory)                                                                                        \
    X(vkMapMemory)                                                                                               \
    X(vkUnmapMemory)                                                                                             \
    X(vkCreateShaderModule)                                                                                      \
    X(vkDestroyShaderModule)                                                                                     \
    X(vkCreateDescriptorSetLayout)                                                                               \
    X(vkDestroyDescriptorSetLayout)                                                                              \
    X(vkCreatePipelineLayout)                                                                                    \
    X(vkDestroyPipelineLayout)                                                                                   \
    X(vkCreateComputePipelines)                                                                                  \
    X(vkDestroyPipeline)                                                                                         \
    X(vkCreatePipelineCache)                                                                                     \
    X(vkDestroyPipelineCache)                                                                                    \
    X(vkCreateDescriptorPool)                                                                                    \
    X(vkDestroyDescriptorPool)                                                                                   \
    X(vkAllocateDescriptorSets)                                                                                  \
    X(vkFreeDescriptorSets)                                                                                      \
    X(vkUpdateDescriptorSets)                                                                                    \
    X(vkCmdBindPipeline)                                                                                         \
    X(vkCmdBindDescriptorSets)                                                                                   \
    X(vkCmdPushConstants)                                                                                        \
    X(vkCmdDispatch)                                                                                             \
    X(vkCmdPipelineBarrier)                                                                                      \
    X(vkCmdCopyBuffer)                                                                                           \
    X(vkCmdFillBuffer)

#define DECLARE_FN(name) PFN_##name name;

typedef struct global_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion; /* NULL on a 1.0 loader */
    GLOBAL_FNS(DECLARE_FN)
} global_fns;

typedef struct instance_fns {
    INSTANCE_FNS(DECLARE_FN)
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;   /* with validation only */
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} instance_fns;

typedef struct device_fns {
    DEVICE_FNS(DECLARE_FN)
} device_fns;

static global_fns G;
static char G_error[256]; /* why the loader could not be used, when it could not */
static pthread_once_t G_once = PTHREAD_ONCE_INIT;

static void load_loader(void)
{
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(G_error, sizeof G_error, "vulkan: cannot load the Vulkan loader libvulkan.so.1 (%s)", dlerror());
        return;
    }
    void *sym = dlsym(lib, "vkGetInstanceProcAddr");
    if (!sym) {
        snprintf(G_error, sizeof G_error, "vulkan: libvulkan.so.1 has no vkGetInstanceProcAddr");
        return;
    }
    memcpy(&G.vkGetInstanceProcAddr, &sym, sizeof sym); /* object to function pointer without a cast warning */
    G.vkEnumerateInstanceVersion =
        (PFN_vkEnumerateInstanceVersion)G.vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
#define LOAD_GLOBAL(name)                                                                                         \
    if (!(G.name = (PFN_##name)G.vkGetInstanceProcAddr(NULL, #name))) {                                          \
        snprintf(G_error, sizeof G_error, "vulkan: the loader lacks %s", #name);                                 \
        G.vkGetInstanceProcAddr = NULL;                                                                           \
        return;                                                                                                   \
    }
    GLOBAL_FNS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
}

static int loader_ready(hk_error *err)
{
    pthread_once(&G_once, load_loader);
    if (!G.vkGetInstanceProcAddr)
        return hk_fail(err, "%s", G_error);
    return 0;
}

/* ---- keeping drivers loaded ----
 * The loader unloads layers and drivers when an instance goes.  They are
 * kept instead: loading lavapipe's LLVM or the validation layer again for
 * every session costs time, and objects they keep in their globals would
 * show up as unreadable leaks once those globals are unmapped. */

typedef struct lib_list {
    char **names;
    int n, cap;
} lib_list;

static int collect_lib(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    lib_list *l = data;
    if (!info->dlpi_name || !info->dlpi_name[0])
        return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **grown = realloc(l->names, sizeof *grown * (size_t)cap);
        if (!grown)
            return 1;
        l->names = grown;
        l->cap = cap;
    }
    if ((l->names[l->n] = strdup(info->dlpi_name)))
        l->n++;
    return 0;
}

static void lib_list_free(lib_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static bool lib_listed(const lib_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return true;
    return false;
}

/* Marks every library loaded since `before` was taken as never to unload. */
static void pin_new_libs(const lib_list *before)
{
    lib_list now = {0};
    dl_iterate_phdr(collect_lib, &now);
    for (int i = 0; i < now.n; i++)
        if (!lib_listed(before, now.names[i]))
            (void)dlopen(now.names[i], RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE); /* the handle is kept on purpose */
    lib_list_free(&now);
}

static const char *result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "success";
    case VK_NOT_READY: return "not ready";
    case VK_TIMEOUT: return "timeout";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case VK_ERROR_INITIALIZATION_FAILED: return "initialization failed";
    case VK_ERROR_DEVICE_LOST: return "device lost";
    case VK_ERROR_MEMORY_MAP_FAILED: return "memory map failed";
    case VK_ERROR_LAYER_NOT_PRESENT: return "layer not present";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "extension not present";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "feature not present";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "no compatible driver";
    case VK_ERROR_TOO_MANY_OBJECTS: return "too many objects";
    case VK_ERROR_FRAGMENTED_POOL: return "fragmented pool";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "out of pool memory";
    case VK_ERROR_INVALID_SHADER_NV: return "invalid shader";
    default: return "error";
    }
}

/* ---- instances ---- */

typedef struct instance {
    VkInstance inst;
    instance_fns f;
    VkDebugUtilsMessengerEXT messenger;
} instance;

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (G.vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *l = calloc(n, sizeof *l);
    bool found = false;
    if (l && G.vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static bool has_instance_ext(const char *layer, const char *name)
{
    uint32_t n = 0;
    if (G.vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    bool found = false;
    if (e && G.vkEnumerateInstanceExtensionProperties(layer, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(e[i].extensionName, name) == 0;
    free(e);
    return found;
}

static int load_instance_fns(instance *in, hk_error *err)
{
#define LOAD_INSTANCE(name)                                                                                       \
    if (!(in->f.name = (PFN_##name)G.vkGetInstanceProcAddr(in->inst, #name)))                                    \
        return hk_fail(err, "vulkan: the loader lacks %s", #name);
    INSTANCE_FNS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
    return 0;
}

/* A 1.2-or-later instance; with validation, the Khronos layer and a
 * messenger (debug, the messenger callback and its user pointer). */
static int instance_create(instance *in, const VkDebugUtilsMessengerCreateInfoEXT *debug, hk_error *err)
{
    memset(in, 0, sizeof *in);
    if (loader_ready(err) < 0)
        return -1;
    uint32_t version = VK_API_VERSION_1_0;
    if (G.vkEnumerateInstanceVersion)
        G.vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2)
        return hk_fail(err, "vulkan: the loader supports Vulkan %u.%u; hark needs 1.2", VK_API_VERSION_MAJOR(version),
                       VK_API_VERSION_MINOR(version));
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "hark",
        .pEngineName = "hark",
        .apiVersion = VK_API_VERSION_1_3,
    };
    const char *layers[1], *exts[2];
    uint32_t n_layers = 0, n_exts = 0;
    VkInstanceCreateFlags flags = 0;
    if (debug) {
        layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    /* Portability drivers (MoltenVK and the like) are listed only when asked. */
    if (has_instance_ext(NULL, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = debug,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = G.vkCreateInstance(&ci, NULL, &in->inst);
    if (r != VK_SUCCESS) {
        in->inst = VK_NULL_HANDLE;
        return hk_fail(err, "vulkan: cannot create an instance: %s", result_name(r));
    }
    PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)G.vkGetInstanceProcAddr(in->inst, "vkDestroyInstance");
    if (load_instance_fns(in, err) < 0) {
        if (destroy)
            destroy(in->inst, NULL);
        in->inst = VK_NULL_HANDLE;
        return -1;
    }
    if (debug) {
        in->f.vkCreateDebugUtilsMessengerEXT = (PFN_vkCreateDebugUtilsMessengerEXT)G.vkGetInstanceProcAddr(
            in->inst, "vkCreateDebugUtilsMessengerEXT");
        in->f.vkDestroyDebugUtilsMessengerEXT = (PFN_vkDestroyDebugUtilsMessengerEXT)G.vkGetInstanceProcAddr(
            in->inst, "vkDestroyDebugUtilsMessengerEXT");
        if (in->f.vkCreateDebugUtilsMessengerEXT &&
            in->f.vkCreateDebugUtilsMessengerEXT(in->inst, debug, NULL, &in->messenger) != VK_SUCCESS)
            in->messenger = VK_NULL_HANDLE;
    }
    return 0;
}

static void instance_destroy(instance *in)
{
    if (!in->inst)
        return;
    if (in->messenger && in->f.vkDestroyDebugUtilsMessengerEXT)
        in->f.vkDestroyDebugUtilsMessengerEXT(in->inst, in->messenger, NULL);
    in->f.vkDestroyInstance(in->inst, NULL);
    in->inst = VK_NULL_HANDLE;
}

/* Physical devices: a malloc'd array in *out, their number returned, -1 on error. */
static int physical_devices(instance *in, VkPhysicalDevice **out, hk_error *err)
{
    uint32_t n = 0;
    VkResult r = in->f.vkEnumeratePhysicalDevices(in->inst, &n, NULL);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return hk_fail(err, "vulkan: cannot list devices: %s", result_name(r));
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return hk_fail(err, "out of memory");
    r = in->f.vkEnumeratePhysicalDevices(in->inst, &n, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        return hk_fail(err, "vulkan: cannot list devices: %s", result_name(r));
    }
    return (int)n;
}

/* ---- what a device offers ---- */

typedef struct device_caps {
    hk_vk_device_info info;
    hk_vk_features can;          /* what could be enabled */
    bool ext_int_dot;            /* VK_KHR_shader_integer_dot_product as an extension (pre-1.3) */
    bool ext_subgroup_size;      /* VK_EXT_subgroup_size_control as an extension (pre-1.3) */
    int queue_family;            /* with compute; -1 when none */
    VkPhysicalDeviceProperties props;
    uint64_t max_alloc;          /* maxMemoryAllocationSize */
} device_caps;

static bool has_device_ext(const VkExtensionProperties *e, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0)
            return true;
    return false;
}

static hk_vk_device_type type_of(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return HK_VK_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return HK_VK_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return HK_VK_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return HK_VK_CPU;
    default: return HK_VK_OTHER;
    }
}

static int compute_queue_family(const instance *in, VkPhysicalDevice pd)
{
    uint32_t n = 0;
    in->f.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    if (!q)
        return -1;
    in->f.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int found = -1;
    for (uint32_t i = 0; i < n && found < 0; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            found = (int)i;
    free(q);
    return found;
}

static void query_features(const instance *in, VkPhysicalDevice pd, device_caps *c)
{
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures ssc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceVulkan12Features v12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features v11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &v12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &v11};
    bool v13 = c->info.api_version >= VK_API_VERSION_1_3;
    void **tail = &v12.pNext;
    if (v13 || c->ext_int_dot) {
        *tail = &dot;
        tail = &dot.pNext;
    }
    if (v13 || c->ext_subgroup_size) {
        *tail = &ssc;
        tail = &ssc.pNext;
    }
    in->f.vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->can.float16 = v12.shaderFloat16;
    c->can.int8 = v12.shaderInt8;
    c->can.int16 = f2.features.shaderInt16;
    c->can.int64 = f2.features.shaderInt64;
    c->can.storage16 = v11.storageBuffer16BitAccess;
    c->can.storage8 = v12.storageBuffer8BitAccess;
    c->can.int_dot = (v13 || c->ext_int_dot) && dot.shaderIntegerDotProduct;
    c->can.subgroup_size_control = (v13 || c->ext_subgroup_size) && ssc.subgroupSizeControl && ssc.computeFullSubgroups;
}

static void query_properties(const instance *in, VkPhysicalDevice pd, device_caps *c)
{
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                             .pNext = &m3};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                            .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    in->f.vkGetPhysicalDeviceProperties2(pd, &p2);
    c->props = p2.properties;
    hk_vk_device_info *info = &c->info;
    snprintf(info->name, sizeof info->name, "%s", p2.properties.deviceName);
    info->type = type_of(p2.properties.deviceType);
    info->api_version = p2.properties.apiVersion;
    if (drv.driverName[0])
        snprintf(info->driver, sizeof info->driver, "%.120s%s%.120s", drv.driverName, drv.driverInfo[0] ? " " : "",
                 drv.driverInfo);
    info->max_storage_range = p2.properties.limits.maxStorageBufferRange;
    info->subgroup_size = sg.subgroupSize;
    c->can.subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                            (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->subgroup_arith = c->can.subgroup_arith;
    c->max_alloc = m3.maxMemoryAllocationSize;

    VkPhysicalDeviceMemoryProperties mp;
    in->f.vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            info->device_local_bytes += mp.memoryHeaps[h].size;
}

/* Fills c for device pd (index idx); devices older than 1.2 get their name
 * and type only: hark's shaders need 1.2. */
static void query_device(const instance *in, VkPhysicalDevice pd, int idx, device_caps *c)
{
    memset(c, 0, sizeof *c);
    c->info.index = idx;
    c->queue_family = compute_queue_family(in, pd);
    VkPhysicalDeviceProperties p;
    in->f.vkGetPhysicalDeviceProperties(pd, &p);
    if (p.apiVersion < VK_API_VERSION_1_2) {
        c->props = p;
        snprintf(c->info.name, sizeof c->info.name, "%s", p.deviceName);
        c->info.type = type_of(p.deviceType);
        c->info.api_version = p.apiVersion;
        return;
    }
    uint32_t n = 0;
    VkExtensionProperties *e = NULL;
    if (in->f.vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) == VK_SUCCESS && n > 0) {
        e = calloc(n, sizeof *e);
        if (!e || in->f.vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e) != VK_SUCCESS)
            n = 0;
    }
    c->ext_int_dot = has_device_ext(e, n, "VK_KHR_shader_integer_dot_product");
    c->ext_subgroup_size = has_device_ext(e, n, "VK_EXT_subgroup_size_control");
    c->info.coopmat = has_device_ext(e, n, "VK_KHR_cooperative_matrix");
    free(e);
    query_properties(in, pd, c);
    query_features(in, pd, c);
    c->info.fp16 = c->can.float16;
    c->info.int8_dot = c->can.int_dot;
}

const char *hk_vk_device_type_name(hk_vk_device_type t)
{
    switch (t) {
    case HK_VK_DISCRETE: return "discrete GPU";
    case HK_VK_INTEGRATED: return "integrated GPU";
    case HK_VK_VIRTUAL: return "virtual GPU";
    case HK_VK_CPU: return "CPU";
    default: return "other";
    }
}

/* Higher is better; 0 = never picked automatically. */
static int device_rank(const hk_vk_device_info *d, bool allow_cpu)
{
    if (d->api_version < VK_API_VERSION_1_2)
        return 0;
    switch (d->type) {
    case HK_VK_DISCRETE: return 5;
    case HK_VK_INTEGRATED: return 4;
    case HK_VK_VIRTUAL: return 3;
    case HK_VK_CPU: return allow_cpu ? 2 : 0;
    default: return allow_cpu ? 1 : 0;
    }
}

int hk_vk_pick(const hk_vk_device_info *list, int n, bool allow_cpu)
{
    int best = -1, best_rank = 0;
    for (int i = 0; i < n; i++) {
        int r = device_rank(&list[i], allow_cpu);
        if (r > best_rank || (r == best_rank && r > 0 && list[i].device_local_bytes > list[best].device_local_bytes)) {
            best = i;
            best_rank = r;
        }
    }
    return best;
}

int hk_vk_list(hk_vk_device_info *out, int max, hk_error *err)
{
    instance in;
    lib_list before = {0};
    dl_iterate_phdr(collect_lib, &before);
    int rc = instance_create(&in, NULL, err);
    pin_new_libs(&before);
    lib_list_free(&before);
    if (rc < 0)
        return -1;
    VkPhysicalDevice *pds = NULL;
    int n = physical_devices(&in, &pds, err);
    for (int i = 0; i < n && i < max; i++) {
        device_caps c;
        query_device(&in, pds[i], i, &c);
        out[i] = c.info;
    }
    free(pds);
    instance_destroy(&in);
    return n;
}

/* ---- the open device ---- */

typedef struct mem_block mem_block;
struct mem_block {
    VkDeviceMemory mem;
    uint64_t size, used;
    uint32_t type;
    int refs;          /* buffers placed in it; freed at 0 */
    bool dedicated;    /* one buffer's own allocation: never shared */
    void *map;         /* persistently mapped when host-visible */
    mem_block *next;
};

struct hk_vk_buf {
    VkBuffer buf;
    uint64_t size;
    hk_vk_mem mem;
    mem_block *block;
    uint64_t offset;   /* in block */
    uint64_t counted;  /* bytes charged to the device-local total */
    void *map;         /* block->map + offset, or NULL */
    bool coherent;
    char what[64];     /* its name, for errors */
    hk_vk_buf *prev, *next;
};

struct hk_vk_pipeline {
    char *name;
    uint32_t spec[MAX_SPEC];
    int n_spec;
    int n_bindings;
    uint32_t push_size;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    hk_vk_pipeline *next;
};

struct hk_vk_node {
    const hk_vk_pipeline *p;
    VkDescriptorPool pool;
    VkDescriptorSet set;
    hk_vk_node *prev, *next;
};

struct hk_vk_cmd {
    hk_vk *vk;
    VkCommandBuffer cb;
    VkFence fence;
    bool recording, recorded, pending;
    const hk_vk_pipeline *bound;  /* pipeline bound while recording */
    char misuse[160];             /* the first recording error, reported by hk_vk_cmd_end */
    hk_vk_cmd *prev, *next;
};

struct hk_vk {
    instance in;
    device_fns f;
    VkPhysicalDevice pd;
    VkDevice dev;
    VkQueue queue;
    VkCommandPool cmd_pool;
    VkPipelineCache cache;
    VkDescriptorPool *pools;
    int n_pools;
    device_caps caps;
    hk_vk_features enabled;
    VkPhysicalDeviceMemoryProperties mp;
    int device_type, host_type;      /* memory type indices for hk_vk_mem, -1 until first used */
    uint64_t mem_limit;              /* HARK_VK_MEMORY_LIMIT in bytes; 0 = none */
    uint64_t device_bytes;           /* HK_VK_DEVICE bytes held */
    uint32_t n_allocations;          /* live vkAllocateMemory allocations */
    mem_block *blocks;
    hk_vk_buf *bufs;
    hk_vk_pipeline *pipelines;
    hk_vk_node *nodes;
    hk_vk_cmd *cmds;
    hk_vk_buf *staging;              /* for uploads and downloads, made on first use */
    hk_vk_cmd *xfer;
    long lose_after;                 /* HARK_VK_LOSE_AFTER; -1 = off */
    long submits;
    bool lost;
    bool validate;
    bool force_staging;              /* HARK_VK_STAGING */
    atomic_int validation_errors;
};

/* Fails with a status for a Vulkan result: HK_VK_LOST (and the device marked
 * lost) for a lost device, -1 otherwise. */
static int vk_fail(hk_vk *vk, hk_error *err, VkResult r, const char *what)
{
    if (r == VK_ERROR_DEVICE_LOST || vk->lost) {
        vk->lost = true;
        hk_fail(err, "vulkan: device lost (%s)", what);
        return HK_VK_LOST;
    }
    return hk_fail(err, "vulkan: %s failed: %s", what, result_name(r));
}

static int check_lost(const hk_vk *vk, hk_error *err)
{
    if (vk->lost) {
        hk_fail(err, "vulkan: device lost (earlier)");
        return HK_VK_LOST;
    }
    return 0;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT types,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    hk_vk *vk = user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)
        atomic_fetch_add(&vk->validation_errors, 1);
    /* One line each, whatever the layer put in the message. */
    char line[1024];
    snprintf(line, sizeof line, "%s", data && data->pMessage ? data->pMessage : "(no message)");
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "hark: vulkan validation: %s%s\n",
            severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error: " : "warning: ", line);
    return VK_FALSE;
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* A non-negative integer from the environment: 1 and *out set, 0 when unset,
 * -1 with err set when malformed. */
static int env_uint(const char *name, long *out, hk_error *err)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0)
        return hk_fail(err, "%s=%s is not a non-negative integer", name, v);
    *out = x;
    return 1;
}

static int choose_device(const device_caps *caps, int n, int index, bool allow_cpu, hk_error *err)
{
    if (n == 0)
        return hk_fail(err, "vulkan: no Vulkan device");
    if (index < 0) {
        long env = 0;
        int r = env_uint("HARK_DEVICE", &env, err);
        if (r < 0)
            return -1;
        if (r > 0)
            index = env > 1000000 ? 1000000 : (int)env;
    }
    if (index >= 0) {
        if (index >= n)
            return hk_fail(err, "vulkan: no device %d (%d device%s; see hark devices)", index, n, n == 1 ? "" : "s");
        const hk_vk_device_info *d = &caps[index].info;
        if (d->api_version < VK_API_VERSION_1_2)
            return hk_fail(err, "vulkan: device %d (%s) supports Vulkan %u.%u; hark needs 1.2", index, d->name,
                           VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version));
        if (!allow_cpu && device_rank(d, false) == 0)
            return hk_fail(err, "vulkan: device %d (%s) is a CPU driver", index, d->name);
        return index;
    }
    hk_vk_device_info *list = calloc((size_t)n, sizeof *list);
    if (!list)
        return hk_fail(err, "out of memory");
    for (int i = 0; i < n; i++)
        list[i] = caps[i].info;
    int best = hk_vk_pick(list, n, allow_cpu);
    free(list);
    if (best < 0)
        return hk_fail(err, allow_cpu ? "vulkan: no device supports Vulkan 1.2" : "vulkan: no GPU (only CPU drivers)");
    return best;
}

/* The pNext chain and extensions that turn on the features in `on`.  The
 * structures live here so that the chain's pointers stay valid. */
typedef struct feature_chain {
    VkPhysicalDeviceFeatures2 f2;
    VkPhysicalDeviceVulkan11Features v11;
    VkPhysicalDeviceVulkan12Features v12;
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot;
    VkPhysicalDeviceSubgroupSizeControlFeatures ssc;
    const char *exts[2];
    uint32_t n_exts;
} feature_chain;

static void feature_chain_init(feature_chain *c, const hk_vk_features *on, bool v13)
{
    memset(c, 0, sizeof *c);
    c->f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    c->f2.pNext = &c->v11;
    c->f2.features.shaderInt16 = on->int16;
    c->f2.features.shaderInt64 = on->int64;
    c->v11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
    c->v11.pNext = &c->v12;
    c->v11.storageBuffer16BitAccess = on->storage16;
    c->v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    c->v12.shaderFloat16 = on->float16;
    c->v12.shaderInt8 = on->int8;
    c->v12.storageBuffer8BitAccess = on->storage8;
    void **tail = &c->v12.pNext;
    if (on->int_dot) { /* core in 1.3, an extension before */
        c->dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
        c->dot.shaderIntegerDotProduct = VK_TRUE;
        *tail = &c->dot;
        tail = &c->dot.pNext;
        if (!v13)
            c->exts[c->n_exts++] = "VK_KHR_shader_integer_dot_product";
    }
    if (on->subgroup_size_control) {
        c->ssc.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES;
        c->ssc.subgroupSizeControl = c->ssc.computeFullSubgroups = VK_TRUE;
        *tail = &c->ssc;
        if (!v13)
            c->exts[c->n_exts++] = "VK_EXT_subgroup_size_control";
    }
}

/* The logical device with one compute queue and every optional feature
 * the device has, and its function table. */
static int create_device(hk_vk *vk, hk_error *err)
{
    const device_caps *c = &vk->caps;
    if (c->queue_family < 0)
        return hk_fail(err, "vulkan: device %d (%s) has no compute queue", c->info.index, c->info.name);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = (uint32_t)c->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    vk->enabled = c->can;
    feature_chain chain;
    feature_chain_init(&chain, &vk->enabled, c->info.api_version >= VK_API_VERSION_1_3);
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &chain.f2,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = chain.n_exts,
        .ppEnabledExtensionNames = chain.exts,
    };
    VkResult r = vk->in.f.vkCreateDevice(vk->pd, &dci, NULL, &vk->dev);
    if (r != VK_SUCCESS) {
        vk->dev = VK_NULL_HANDLE;
        return hk_fail(err, "vulkan: cannot create device %d (%s): %s", c->info.index, c->info.name, result_name(r));
    }
#define LOAD_DEVICE(name)                                                                                         \
    if (!(vk->f.name = (PFN_##name)vk->in.f.vkGetDeviceProcAddr(vk->dev, #name)))                                \
        return hk_fail(err, "vulkan: the driver lacks %s", #name);
    DEVICE_FNS(LOAD_DEVICE)
#undef LOAD_DEVICE
    vk->f.vkGetDeviceQueue(vk->dev, (uint32_t)c->queue_family, 0, &vk->queue);
    return 0;
}

static int create_pools(hk_vk *vk, hk_error *err)
{
    VkCommandPoolCreateInfo cpi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = (uint32_t)vk->caps.queue_family,
    };
    VkResult r = vk->f.vkCreateCommandPool(vk->dev, &cpi, NULL, &vk->cmd_pool);
    if (r != VK_SUCCESS)
        return vk_fail(vk, err, r, "vkCreateCommandPool");
    VkPipelineCacheCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    r = vk->f.vkCreatePipelineCache(vk->dev, &pci, NULL, &vk->cache);
    if (r != VK_SUCCESS)
        return vk_fail(vk, err, r, "vkCreatePipelineCache");
    return 0;
}

/* Instance with validation when asked for and available. */
static int open_instance(hk_vk *vk, hk_error *err)
{
    VkDebugUtilsMessengerCreateInfoEXT debug = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = vk,
    };
    bool want = env_flag("HARK_VK_VALIDATE");
    if (want) {
        if (loader_ready(err) < 0)
            return -1;
        if (!has_layer("VK_LAYER_KHRONOS_validation")) {
            fprintf(stderr, "hark: vulkan: HARK_VK_VALIDATE is set but VK_LAYER_KHRONOS_validation is not "
                            "installed; running without validation\n");
            want = false;
        }
    }
    vk->validate = want;
    return instance_create(&vk->in, want ? &debug : NULL, err);
}

static int read_env(hk_vk *vk, hk_error *err)
{
    long mib = 0;
    int r = env_uint("HARK_VK_MEMORY_LIMIT", &mib, err);
    if (r < 0)
        return -1;
    if (r > 0)
        vk->mem_limit = mib > 0 ? (uint64_t)mib * MiB : 1; /* 0 MiB: nothing fits */
    vk->force_staging = env_flag("HARK_VK_STAGING");
    vk->lose_after = -1;
    if (env_uint("HARK_VK_LOSE_AFTER", &vk->lose_after, err) < 0)
        return -1;
    return 0;
}

/* Picks the physical device (vk->pd, vk->caps) by the hk_vk_open rules. */
static int select_device(hk_vk *vk, int index, bool allow_cpu, hk_error *err)
{
    VkPhysicalDevice *pds = NULL;
    int n = physical_devices(&vk->in, &pds, err);
    if (n < 0)
        return -1;
    device_caps *caps = calloc(n ? (size_t)n : 1, sizeof *caps);
    if (!caps) {
        free(pds);
        return hk_fail(err, "out of memory");
    }
    for (int i = 0; i < n; i++)
        query_device(&vk->in, pds[i], i, &caps[i]);
    int chosen = choose_device(caps, n, index, allow_cpu, err);
    if (chosen >= 0) {
        vk->pd = pds[chosen];
        vk->caps = caps[chosen];
        vk->in.f.vkGetPhysicalDeviceMemoryProperties(vk->pd, &vk->mp);
    }
    free(caps);
    free(pds);
    return chosen < 0 ? -1 : 0;
}

hk_vk *hk_vk_open(int index, bool allow_cpu, hk_error *err)
{
    hk_vk *vk = calloc(1, sizeof *vk);
    if (!vk) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    vk->device_type = vk->host_type = -1;
    atomic_init(&vk->validation_errors, 0);
    lib_list before = {0};
    dl_iterate_phdr(collect_lib, &before);
    int rc = read_env(vk, err);
    if (rc == 0)
        rc = open_instance(vk, err);
    if (rc == 0)
        rc = select_device(vk, index, allow_cpu, err);
    if (rc == 0)
        rc = create_device(vk, err);
    pin_new_libs(&before);
    lib_list_free(&before);
    if (rc == 0)
        rc = create_pools(vk, err);
    if (rc < 0) {
        hk_vk_close(vk);
        return NULL;
    }
    return vk;
}

const hk_vk_device_info *hk_vk_info(const hk_vk *vk) { return &vk->caps.info; }

uint64_t hk_vk_range_limit(const hk_vk *vk, const char *env)
{
    uint64_t limit = vk->caps.info.max_storage_range;
    const char *v = getenv(env);
    if (v && *v) {
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end == '\0' && n > 0 && n < limit)
            limit = n;
    }
    return limit;
}
uint64_t hk_vk_min_offset_align(const hk_vk *vk) { return vk->caps.props.limits.minStorageBufferOffsetAlignment; }
int hk_vk_validation_errors(const hk_vk *vk) { return atomic_load(&((hk_vk *)vk)->validation_errors); }
const hk_vk_features *hk_vk_enabled(const hk_vk *vk) { return &vk->enabled; }
bool hk_vk_is_lost(const hk_vk *vk) { return vk->lost; }
bool hk_vk_validating(const hk_vk *vk) { return vk->validate && vk->in.messenger; }

/* ---- memory ---- */

/* A memory type allowed by bits with every flag of want and none of avoid, or -1. */
static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits, VkMemoryPropertyFlags want,
                     VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid))
            return (int)i;
    }
    return -1;
}

/* Device buffers prefer memory the host cannot see (on a discrete GPU the
 * host-visible device-local window is small); host buffers must be
 * coherent, and cached reads back faster. */
static int memory_type(const hk_vk *vk, uint32_t bits, hk_vk_mem mem)
{
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    int t;
    if (mem == HK_VK_DEVICE) {
        if ((t = find_type(&vk->mp, bits, DL, HV)) >= 0 || (t = find_type(&vk->mp, bits, DL, 0)) >= 0)
            return t;
        return find_type(&vk->mp, bits, 0, 0);
    }
    if ((t = find_type(&vk->mp, bits, HV | HC | CA, 0)) >= 0)
        return t;
    return find_type(&vk->mp, bits, HV | HC, 0);
}

static void block_free(hk_vk *vk, mem_block *b)
{
    for (mem_block **p = &vk->blocks; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    if (b->map)
        vk->f.vkUnmapMemory(vk->dev, b->mem);
    vk->f.vkFreeMemory(vk->dev, b->mem, NULL);
    vk->n_allocations--;
    free(b);
}

static int block_new(hk_vk *vk, uint32_t type, uint64_t size, bool dedicated, mem_block **out, hk_error *err,
                     const char *what)
{
    if (vk->n_allocations >= vk->caps.props.limits.maxMemoryAllocationCount)
        return hk_fail(err, "vulkan: too many memory allocations (%u) for '%s'", vk->n_allocations, what);
    if (vk->caps.max_alloc && size > vk->caps.max_alloc)
        return hk_fail(err, "vulkan: '%s' needs %.0f MiB in one allocation; the device allows %.0f MiB", what,
                       (double)size / MiB, (double)vk->caps.max_alloc / MiB);
    mem_block *b = calloc(1, sizeof *b);
    if (!b)
        return hk_fail(err, "out of memory");
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = size, .memoryTypeIndex = type};
    VkResult r = vk->f.vkAllocateMemory(vk->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        free(b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return hk_fail(err, "vulkan: %s allocating %.0f MiB for '%s'", result_name(r), (double)size / MiB, what);
        return vk_fail(vk, err, r, "vkAllocateMemory");
    }
    vk->n_allocations++;
    b->size = size;
    b->type = type;
    b->dedicated = dedicated;
    if (vk->mp.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        r = vk->f.vkMapMemory(vk->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
        if (r != VK_SUCCESS) {
            b->map = NULL;
            block_free(vk, b);
            return vk_fail(vk, err, r, "vkMapMemory");
        }
    }
    b->next = vk->blocks;
    vk->blocks = b;
    *out = b;
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return a ? (x + a - 1) / a * a : x; }

/* Places req in a shared block of its type with room, or a new one.  Freed
 * space is reused only when a whole block empties: buffers here live as
 * long as a session, so a bump allocator wastes little. */
static int place(hk_vk *vk, const VkMemoryRequirements *req, uint32_t type, hk_vk_mem mem, mem_block **blk,
                 uint64_t *off, hk_error *err, const char *what)
{
    uint64_t block = mem == HK_VK_DEVICE ? DEVICE_BLOCK : HOST_BLOCK;
    if (req->size > block / 4) {
        *off = 0;
        return block_new(vk, type, req->size, true, blk, err, what);
    }
    for (mem_block *b = vk->blocks; b; b = b->next) {
        uint64_t o = align_up(b->used, req->alignment);
        if (!b->dedicated && b->type == type && o + req->size <= b->size) {
            *blk = b;
            *off = o;
            return 0;
        }
    }
    *off = 0;
    return block_new(vk, type, block, false, blk, err, what);
}

static void buf_unlink(hk_vk *vk, hk_vk_buf *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        vk->bufs = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static void buf_destroy(hk_vk *vk, hk_vk_buf *b)
{
    buf_unlink(vk, b);
    if (b->buf)
        vk->f.vkDestroyBuffer(vk->dev, b->buf, NULL);
    if (b->block && --b->block->refs == 0)
        block_free(vk, b->block);
    vk->device_bytes -= b->counted;
    free(b);
}

static int charge_limit(hk_vk *vk, hk_vk_buf *b, uint64_t bytes, hk_error *err, const char *what)
{
    if (b->mem != HK_VK_DEVICE)
        return 0;
    if (vk->mem_limit && vk->device_bytes + bytes > vk->mem_limit)
        return hk_fail(err,
                       "vulkan: out of device memory allocating %.1f MiB for '%s' (HARK_VK_MEMORY_LIMIT=%.0f MiB, "
                       "%.1f MiB in use)",
                       (double)bytes / MiB, what, (double)(vk->mem_limit / MiB), (double)vk->device_bytes / MiB);
    vk->device_bytes += bytes;
    b->counted = bytes;
    return 0;
}

/* The VkBuffer of b, its size rounded to 4 so that hk_vk_cmd_fill may
 * cover it whole. */
static int buf_create(hk_vk *vk, hk_vk_buf *b, hk_error *err)
{
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = align_up(b->size, 4),
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vk->f.vkCreateBuffer(vk->dev, &bci, NULL, &b->buf);
    if (r == VK_SUCCESS)
        return 0;
    b->buf = VK_NULL_HANDLE;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return hk_fail(err, "vulkan: %s creating a buffer of %.1f MiB for '%s'", result_name(r),
                       (double)b->size / MiB, b->what);
    return vk_fail(vk, err, r, "vkCreateBuffer");
}

/* Memory for b: charged to the limit, placed in a block, bound, mapped
 * where the block is. */
static int buf_bind(hk_vk *vk, hk_vk_buf *b, hk_error *err)
{
    VkMemoryRequirements req;
    vk->f.vkGetBufferMemoryRequirements(vk->dev, b->buf, &req);
    int r;
    if ((r = charge_limit(vk, b, req.size, err, b->what)) < 0)
        return r;
    int type = memory_type(vk, req.memoryTypeBits, b->mem);
    if (type < 0)
        return hk_fail(err, "vulkan: no memory type for '%s' (%s)", b->what,
                       b->mem == HK_VK_HOST ? "host-visible" : "device");
    if ((r = place(vk, &req, (uint32_t)type, b->mem, &b->block, &b->offset, err, b->what)) < 0)
        return r;
    b->block->refs++;
    b->block->used = b->offset + req.size;
    VkResult vr = vk->f.vkBindBufferMemory(vk->dev, b->buf, b->block->mem, b->offset);
    if (vr != VK_SUCCESS)
        return vk_fail(vk, err, vr, "vkBindBufferMemory");
    b->coherent = (vk->mp.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    if (b->block->map)
        b->map = (uint8_t *)b->block->map + b->offset;
    return 0;
}

hk_vk_buf *hk_vk_buf_new(hk_vk *vk, uint64_t size, hk_vk_mem mem, const char *what, hk_error *err)
{
    what = what ? what : "buffer";
    if (check_lost(vk, err) < 0)
        return NULL;
    if (size == 0) {
        hk_fail(err, "vulkan: buffer '%s' of 0 bytes", what);
        return NULL;
    }
    hk_vk_buf *b = calloc(1, sizeof *b);
    if (!b) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    b->size = size;
    b->mem = mem;
    snprintf(b->what, sizeof b->what, "%s", what);
    b->next = vk->bufs;
    if (vk->bufs)
        vk->bufs->prev = b;
    vk->bufs = b;
    if (buf_create(vk, b, err) < 0 || buf_bind(vk, b, err) < 0) {
        buf_destroy(vk, b);
        return NULL;
    }
    return b;
}

void hk_vk_buf_free(hk_vk *vk, hk_vk_buf *b)
{
    if (b)
        buf_destroy(vk, b);
}

uint64_t hk_vk_buf_size(const hk_vk_buf *b) { return b->size; }
void *hk_vk_buf_map(hk_vk_buf *b) { return b->mem == HK_VK_HOST ? b->map : NULL; }

static int check_range(const hk_vk_buf *b, uint64_t offset, uint64_t size, const char *op, hk_error *err)
{
    if (offset > b->size || size > b->size - offset)
        return hk_fail(err, "vulkan: %s of %" PRIu64 " bytes at offset %" PRIu64 " past the end of '%s' (%" PRIu64
                            " bytes)",
                       op, size, offset, b->what, b->size);
    return 0;
}

static int staging_ready(hk_vk *vk, hk_error *err)
{
    if (!vk->staging && !(vk->staging = hk_vk_buf_new(vk, STAGING_BYTES, HK_VK_HOST, "staging", err)))
        return -1;
    if (!vk->xfer && !(vk->xfer = hk_vk_cmd_new(vk, err)))
        return -1;
    return 0;
}

/* Waits for every submission, so that a direct copy through the mapping
 * races with no shader. */
static int queue_idle(hk_vk *vk, hk_error *err)
{
    VkResult r = vk->f.vkQueueWaitIdle(vk->queue);
    return r == VK_SUCCESS ? 0 : vk_fail(vk, err, r, "vkQueueWaitIdle");
}

/* One staged copy: records, submits and waits. */
static int staged_copy(hk_vk *vk, const hk_vk_buf *src, uint64_t src_off, hk_vk_buf *dst, uint64_t dst_off,
                       uint64_t size, hk_error *err)
{
    hk_vk_cmd *c = vk->xfer;
    int r;
    if ((r = hk_vk_cmd_begin(c, err)) < 0)
        return r;
    hk_vk_cmd_copy(c, src, src_off, dst, dst_off, size);
    if ((r = hk_vk_cmd_end(c, err)) < 0 || (r = hk_vk_cmd_submit(c, err)) < 0)
        return r;
    return hk_vk_cmd_wait(c, err);
}

int hk_vk_upload(hk_vk *vk, hk_vk_buf *dst, uint64_t offset, const void *src, uint64_t size, hk_error *err)
{
    int r;
    if ((r = check_lost(vk, err)) < 0 || (r = check_range(dst, offset, size, "upload", err)) < 0)
        return r;
    if (size == 0)
        return 0;
    if ((r = queue_idle(vk, err)) < 0)
        return r;
    if (dst->map && dst->coherent && !vk->force_staging) { /* unified memory: no staging needed */
        memcpy((uint8_t *)dst->map + offset, src, size);
        return 0;
    }
    if ((r = staging_ready(vk, err)) < 0)
        return r;
    for (uint64_t done = 0; done < size; done += STAGING_BYTES) {
        uint64_t n = size - done < STAGING_BYTES ? size - done : STAGING_BYTES;
        memcpy(vk->staging->map, (const uint8_t *)src + done, n);
        if ((r = staged_copy(vk, vk->staging, 0, dst, offset + done, n, err)) < 0)
            return r;
    }
    return 0;
}

int hk_vk_download(hk_vk *vk, const hk_vk_buf *src, uint64_t offset, void *dst, uint64_t size, hk_error *err)
{
    int r;
    if ((r = check_lost(vk, err)) < 0 || (r = check_range(src, offset, size, "download", err)) < 0)
        return r;
    if (size == 0)
        return 0;
    if ((r = queue_idle(vk, err)) < 0)
        return r;
    if (src->map && src->coherent && !vk->force_staging) {
        memcpy(dst, (const uint8_t *)src->map + offset, size);
        return 0;
    }
    if ((r = staging_ready(vk, err)) < 0)
        return r;
    for (uint64_t done = 0; done < size; done += STAGING_BYTES) {
        uint64_t n = size - done < STAGING_BYTES ? size - done : STAGING_BYTES;
        if ((r = staged_copy(vk, src, offset + done, vk->staging, 0, n, err)) < 0)
            return r;
        memcpy((uint8_t *)dst + done, vk->staging->map, n);
    }
    return 0;
}

/* ---- pipelines ---- */

static void pipeline_destroy(hk_vk *vk, hk_vk_pipeline *p)
{
    if (p->pipeline)
        vk->f.vkDestroyPipeline(vk->dev, p->pipeline, NULL);
    if (p->layout)
        vk->f.vkDestroyPipelineLayout(vk->dev, p->layout, NULL);
    if (p->set_layout)
        vk->f.vkDestroyDescriptorSetLayout(vk->dev, p->set_layout, NULL);
    free(p->name);
    free(p);
}

static hk_vk_pipeline *pipeline_find(hk_vk *vk, const char *name, const uint32_t *spec, int n_spec)
{
    for (hk_vk_pipeline *p = vk->pipelines; p; p = p->next)
        if (p->n_spec == n_spec && strcmp(p->name, name) == 0 &&
            (n_spec == 0 || memcmp(p->spec, spec, sizeof *spec * (size_t)n_spec) == 0))
            return p;
    return NULL;
}

static int make_layouts(hk_vk *vk, hk_vk_pipeline *p, hk_error *err)
{
    VkDescriptorSetLayoutBinding b[MAX_BINDINGS];
    for (int i = 0; i < p->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)p->n_bindings,
        .pBindings = b,
    };
    VkResult r = vk->f.vkCreateDescriptorSetLayout(vk->dev, &dci, NULL, &p->set_layout);
    if (r != VK_SUCCESS)
        return vk_fail(vk, err, r, "vkCreateDescriptorSetLayout");
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = p->push_size};
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = p->push_size ? 1 : 0,
        .pPushConstantRanges = &pr,
    };
    r = vk->f.vkCreatePipelineLayout(vk->dev, &lci, NULL, &p->layout);
    return r == VK_SUCCESS ? 0 : vk_fail(vk, err, r, "vkCreatePipelineLayout");
}

static int make_pipeline(hk_vk *vk, hk_vk_pipeline *p, const hk_spirv *sp, hk_error *err)
{
    VkShaderModuleCreateInfo sci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = sp->size, .pCode = sp->code};
    VkShaderModule module;
    VkResult r = vk->f.vkCreateShaderModule(vk->dev, &sci, NULL, &module);
    if (r != VK_SUCCESS)
        return vk_fail(vk, err, r, "vkCreateShaderModule");
    VkSpecializationMapEntry map[MAX_SPEC];
    for (int i = 0; i < p->n_spec; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = 4 * (uint32_t)i, .size = 4};
    VkSpecializationInfo si = {
        .mapEntryCount = (uint32_t)p->n_spec,
        .pMapEntries = map,
        .dataSize = 4 * (size_t)p->n_spec,
        .pData = p->spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main",
                .pSpecializationInfo = p->n_spec ? &si : NULL,
            },
        .layout = p->layout,
    };
    r = vk->f.vkCreateComputePipelines(vk->dev, vk->cache, 1, &ci, NULL, &p->pipeline);
    vk->f.vkDestroyShaderModule(vk->dev, module, NULL);
    if (r != VK_SUCCESS) {
        p->pipeline = VK_NULL_HANDLE;
        if (r == VK_ERROR_DEVICE_LOST)
            return vk_fail(vk, err, r, "vkCreateComputePipelines");
        return hk_fail(err, "vulkan: cannot build the pipeline of shader '%s': %s", p->name, result_name(r));
    }
    return 0;
}

hk_vk_pipeline *hk_vk_pipeline_get(hk_vk *vk, const char *name, int n_bindings, uint32_t push_size,
                                   const uint32_t *spec, int n_spec, hk_error *err)
{
    if (check_lost(vk, err) < 0)
        return NULL;
    if (n_bindings < 0 || n_bindings > MAX_BINDINGS || n_spec < 0 || n_spec > MAX_SPEC || push_size > MAX_PUSH ||
        push_size % 4 || push_size > vk->caps.props.limits.maxPushConstantsSize) {
        hk_fail(err, "vulkan: shader '%s': bad layout (%d bindings, %u push bytes, %d constants)", name, n_bindings,
                push_size, n_spec);
        return NULL;
    }
    hk_vk_pipeline *p = pipeline_find(vk, name, spec, n_spec);
    if (p) {
        if (p->n_bindings != n_bindings || p->push_size != push_size) {
            hk_fail(err, "vulkan: shader '%s' asked for with %d bindings and %u push bytes, earlier with %d and %u",
                    name, n_bindings, push_size, p->n_bindings, p->push_size);
            return NULL;
        }
        return p;
    }
    const hk_spirv *sp = hk_spirv_find(name);
    if (!sp) {
        hk_fail(err, "vulkan: no shader '%s' in this build", name);
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(name))) {
        free(p);
        hk_fail(err, "out of memory");
        return NULL;
    }
    p->n_bindings = n_bindings;
    p->push_size = push_size;
    p->n_spec = n_spec;
    if (n_spec)
        memcpy(p->spec, spec, sizeof *spec * (size_t)n_spec);
    if (make_layouts(vk, p, err) < 0 || make_pipeline(vk, p, sp, err) < 0) {
        pipeline_destroy(vk, p);
        return NULL;
    }
    p->next = vk->pipelines;
    vk->pipelines = p;
    return p;
}

/* ---- nodes: descriptor sets ---- */

static int add_pool(hk_vk *vk, hk_error *err)
{
    VkDescriptorPool *grown = realloc(vk->pools, sizeof *grown * (size_t)(vk->n_pools + 1));
    if (!grown)
        return hk_fail(err, "out of memory");
    vk->pools = grown;
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 .descriptorCount = SETS_PER_POOL * DESCRIPTORS_PER_SET};
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT,
        .maxSets = SETS_PER_POOL,
        .poolSizeCount = 1,
        .pPoolSizes = &size,
    };
    VkResult r = vk->f.vkCreateDescriptorPool(vk->dev, &ci, NULL, &vk->pools[vk->n_pools]);
    if (r != VK_SUCCESS)
        return vk_fail(vk, err, r, "vkCreateDescriptorPool");
    vk->n_pools++;
    return 0;
}

/* A set from the newest pool; a full pool (or none yet) gets a new one. */
static int alloc_set(hk_vk *vk, hk_vk_node *n, hk_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (vk->n_pools > 0) {
            VkDescriptorSetAllocateInfo ai = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                .descriptorPool = vk->pools[vk->n_pools - 1],
                .descriptorSetCount = 1,
                .pSetLayouts = &n->p->set_layout,
            };
            VkResult r = vk->f.vkAllocateDescriptorSets(vk->dev, &ai, &n->set);
            if (r == VK_SUCCESS) {
                n->pool = ai.descriptorPool;
                return 0;
            }
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
                return vk_fail(vk, err, r, "vkAllocateDescriptorSets");
        }
        int rc = add_pool(vk, err);
        if (rc < 0)
            return rc;
    }
    return hk_fail(err, "vulkan: cannot allocate a descriptor set for '%s'", n->p->name);
}

/* The binding's range resolved (0 = to the end), or an error naming what is wrong. */
static int check_binding(const hk_vk *vk, const hk_vk_pipeline *p, int i, const hk_vk_binding *b, uint64_t *range,
                         hk_error *err)
{
    if (!b->buf)
        return hk_fail(err, "vulkan: shader '%s': binding %d has no buffer", p->name, i);
    uint64_t align = hk_vk_min_offset_align(vk), max = vk->caps.info.max_storage_range;
    if (align && b->offset % align)
        return hk_fail(err,
                       "vulkan: shader '%s': binding %d at offset %" PRIu64 " of '%s' is not a multiple of %" PRIu64
                       " (minStorageBufferOffsetAlignment)",
                       p->name, i, b->offset, b->buf->what, align);
    if (b->offset >= b->buf->size)
        return hk_fail(err, "vulkan: shader '%s': binding %d at offset %" PRIu64 " of '%s' (%" PRIu64 " bytes)",
                       p->name, i, b->offset, b->buf->what, b->buf->size);
    *range = b->range ? b->range : b->buf->size - b->offset;
    if (*range > b->buf->size - b->offset)
        return hk_fail(err, "vulkan: shader '%s': binding %d (%" PRIu64 " bytes at %" PRIu64 ") ends past '%s' (%" PRIu64
                            " bytes)",
                       p->name, i, *range, b->offset, b->buf->what, b->buf->size);
    if (*range > max)
        return hk_fail(err,
                       "vulkan: shader '%s': binding %d of %.1f MiB of '%s' exceeds maxStorageBufferRange (%.1f MiB)",
                       p->name, i, (double)*range / MiB, b->buf->what, (double)max / MiB);
    return 0;
}

static void node_unlink(hk_vk *vk, hk_vk_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        vk->nodes = n->next;
    if (n->next)
        n->next->prev = n->prev;
}

hk_vk_node *hk_vk_node_new(hk_vk *vk, hk_vk_pipeline *p, const hk_vk_binding *b, int n, hk_error *err)
{
    if (check_lost(vk, err) < 0)
        return NULL;
    if (!p || n != p->n_bindings) {
        hk_fail(err, "vulkan: shader '%s' takes %d bindings, given %d", p ? p->name : "(none)",
                p ? p->n_bindings : 0, n);
        return NULL;
    }
    VkDescriptorBufferInfo info[MAX_BINDINGS];
    VkWriteDescriptorSet w[MAX_BINDINGS];
    for (int i = 0; i < n; i++) {
        uint64_t range = 0;
        if (check_binding(vk, p, i, &b[i], &range, err) < 0)
            return NULL;
        info[i] = (VkDescriptorBufferInfo){.buffer = b[i].buf->buf, .offset = b[i].offset, .range = range};
    }
    hk_vk_node *node = calloc(1, sizeof *node);
    if (!node) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    node->p = p;
    if (alloc_set(vk, node, err) < 0) {
        free(node);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = node->set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &info[i],
        };
    if (n)
        vk->f.vkUpdateDescriptorSets(vk->dev, (uint32_t)n, w, 0, NULL);
    node->next = vk->nodes;
    if (vk->nodes)
        vk->nodes->prev = node;
    vk->nodes = node;
    return node;
}

void hk_vk_node_free(hk_vk *vk, hk_vk_node *n)
{
    if (!n)
        return;
    node_unlink(vk, n);
    vk->f.vkFreeDescriptorSets(vk->dev, n->pool, 1, &n->set);
    free(n);
}

/* ---- command buffers ---- */

static void cmd_unlink(hk_vk *vk, hk_vk_cmd *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        vk->cmds = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void cmd_destroy(hk_vk *vk, hk_vk_cmd *c)
{
    cmd_unlink(vk, c);
    if (c->fence) {
        if (c->pending && !vk->lost)
            vk->f.vkWaitForFences(vk->dev, 1, &c->fence, VK_TRUE, (uint64_t)WAIT_LIMIT_S * WAIT_SLICE_NS);
        vk->f.vkDestroyFence(vk->dev, c->fence, NULL);
    }
    if (c->cb)
        vk->f.vkFreeCommandBuffers(vk->dev, vk->cmd_pool, 1, &c->cb);
    free(c);
}

hk_vk_cmd *hk_vk_cmd_new(hk_vk *vk, hk_error *err)
{
    if (check_lost(vk, err) < 0)
        return NULL;
    hk_vk_cmd *c = calloc(1, sizeof *c);
    if (!c) {
        hk_fail(err, "out of memory");
        return NULL;
    }
    c->vk = vk;
    c->next = vk->cmds;
    if (vk->cmds)
        vk->cmds->prev = c;
    vk->cmds = c;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkResult r = vk->f.vkAllocateCommandBuffers(vk->dev, &ai, &c->cb);
    if (r != VK_SUCCESS) {
        c->cb = VK_NULL_HANDLE;
        vk_fail(vk, err, r, "vkAllocateCommandBuffers");
        cmd_destroy(vk, c);
        return NULL;
    }
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vk->f.vkCreateFence(vk->dev, &fci, NULL, &c->fence);
    if (r != VK_SUCCESS) {
        c->fence = VK_NULL_HANDLE;
        vk_fail(vk, err, r, "vkCreateFence");
        cmd_destroy(vk, c);
        return NULL;
    }
    return c;
}

void hk_vk_cmd_free(hk_vk *vk, hk_vk_cmd *c)
{
    if (c)
        cmd_destroy(vk, c);
}

int hk_vk_cmd_wait(hk_vk_cmd *c, hk_error *err)
{
    hk_vk *vk = c->vk;
    int r;
    if ((r = check_lost(vk, err)) < 0)
        return r;
    if (!c->pending)
        return 0;
    /* In slices, so that a hung device ends as an error instead of a hang. */
    for (int s = 0; s < WAIT_LIMIT_S; s++) {
        VkResult vr = vk->f.vkWaitForFences(vk->dev, 1, &c->fence, VK_TRUE, WAIT_SLICE_NS);
        if (vr == VK_SUCCESS) {
            c->pending = false;
            return 0;
        }
        if (vr != VK_TIMEOUT)
            return vk_fail(vk, err, vr, "vkWaitForFences");
    }
    vk->lost = true;
    hk_fail(err, "vulkan: device lost (no progress in %d s)", (int)WAIT_LIMIT_S);
    return HK_VK_LOST;
}

int hk_vk_cmd_begin(hk_vk_cmd *c, hk_error *err)
{
    hk_vk *vk = c->vk;
    int r;
    if ((r = hk_vk_cmd_wait(c, err)) < 0)
        return r;
    VkResult vr = vk->f.vkResetCommandBuffer(c->cb, 0);
    if (vr != VK_SUCCESS)
        return vk_fail(vk, err, vr, "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vr = vk->f.vkBeginCommandBuffer(c->cb, &bi);
    if (vr != VK_SUCCESS)
        return vk_fail(vk, err, vr, "vkBeginCommandBuffer");
    c->recording = true;
    c->recorded = false;
    c->bound = NULL;
    c->misuse[0] = 0;
    return 0;
}

/* Records the first misuse; hk_vk_cmd_end reports it.  Also an assert, so
 * that a debug build stops where the mistake is. */
static bool misuse(hk_vk_cmd *c, bool bad, const char *what)
{
    if (bad && !c->misuse[0])
        snprintf(c->misuse, sizeof c->misuse, "%s", what);
    assert(!bad && "vulkan command misuse: see hk_vk_cmd_end's error");
    return bad;
}

void hk_vk_cmd_dispatch(hk_vk_cmd *c, const hk_vk_node *n, const void *push, uint32_t push_size, uint32_t gx,
                        uint32_t gy, uint32_t gz)
{
    hk_vk *vk = c->vk;
    const uint32_t *max = vk->caps.props.limits.maxComputeWorkGroupCount;
    if (misuse(c, !c->recording, "dispatch outside begin/end") || misuse(c, !n, "dispatch of no node") ||
        misuse(c, push_size > n->p->push_size || (push_size && !push), "push constants larger than the pipeline's") ||
        misuse(c, gx > max[0] || gy > max[1] || gz > max[2], "workgroup count above maxComputeWorkGroupCount"))
        return;
    if (gx == 0 || gy == 0 || gz == 0)
        return;
    const hk_vk_pipeline *p = n->p;
    if (c->bound != p) {
        vk->f.vkCmdBindPipeline(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
        c->bound = p;
    }
    vk->f.vkCmdBindDescriptorSets(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &n->set, 0, NULL);
    if (push_size)
        vk->f.vkCmdPushConstants(c->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    vk->f.vkCmdDispatch(c->cb, gx, gy, gz);
}

/* A memory barrier from the given producers to every consumer hark has:
 * shaders, transfers and the host (readback through a mapping). */
static void barrier(hk_vk_cmd *c, VkPipelineStageFlags src_stage, VkAccessFlags src_access)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = src_access,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT,
    };
    c->vk->f.vkCmdPipelineBarrier(c->cb, src_stage,
                                  VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                                      VK_PIPELINE_STAGE_HOST_BIT,
                                  0, 1, &mb, 0, NULL, 0, NULL);
}

void hk_vk_cmd_barrier(hk_vk_cmd *c)
{
    if (misuse(c, !c->recording, "barrier outside begin/end"))
        return;
    barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
}

void hk_vk_cmd_copy(hk_vk_cmd *c, const hk_vk_buf *src, uint64_t src_off, hk_vk_buf *dst, uint64_t dst_off,
                    uint64_t size)
{
    if (misuse(c, !c->recording, "copy outside begin/end") ||
        misuse(c, src_off > src->size || size > src->size - src_off, "copy reads past the end of its source") ||
        misuse(c, dst_off > dst->size || size > dst->size - dst_off, "copy writes past the end of its destination"))
        return;
    if (size == 0)
        return;
    VkBufferCopy region = {.srcOffset = src_off, .dstOffset = dst_off, .size = size};
    c->vk->f.vkCmdCopyBuffer(c->cb, src->buf, dst->buf, 1, &region);
}

void hk_vk_cmd_fill(hk_vk_cmd *c, hk_vk_buf *dst, uint64_t off, uint64_t size, uint32_t value)
{
    uint64_t end = align_up(dst->size, 4);
    if (misuse(c, !c->recording, "fill outside begin/end") || misuse(c, off % 4 || size % 4, "fill not in words") ||
        misuse(c, off > end || size > end - off, "fill past the end of its buffer"))
        return;
    if (size == 0)
        return;
    c->vk->f.vkCmdFillBuffer(c->cb, dst->buf, off, size, value);
}

int hk_vk_cmd_end(hk_vk_cmd *c, hk_error *err)
{
    hk_vk *vk = c->vk;
    if (!c->recording)
        return hk_fail(err, "vulkan: hk_vk_cmd_end without hk_vk_cmd_begin");
    /* The last writes become visible to the host, so that mapped readback
     * needs nothing more than hk_vk_cmd_wait. */
    barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
    c->recording = false;
    VkResult r = vk->f.vkEndCommandBuffer(c->cb);
    if (r != VK_SUCCESS)
        return vk_fail(vk, err, r, "vkEndCommandBuffer");
    if (c->misuse[0])
        return hk_fail(err, "vulkan: command buffer misuse: %s", c->misuse);
    c->recorded = true;
    return 0;
}

int hk_vk_cmd_submit(hk_vk_cmd *c, hk_error *err)
{
    hk_vk *vk = c->vk;
    int r;
    if (!c->recorded)
        return hk_fail(err, "vulkan: submitting a command buffer that was not recorded");
    if ((r = hk_vk_cmd_wait(c, err)) < 0) /* a buffer may be pending only once */
        return r;
    if (vk->lose_after >= 0 && vk->submits >= vk->lose_after) {
        vk->lost = true;
        hk_fail(err, "vulkan: device lost (HARK_VK_LOSE_AFTER=%ld)", vk->lose_after);
        return HK_VK_LOST;
    }
    VkResult vr = vk->f.vkResetFences(vk->dev, 1, &c->fence);
    if (vr != VK_SUCCESS)
        return vk_fail(vk, err, vr, "vkResetFences");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &c->cb};
    vr = vk->f.vkQueueSubmit(vk->queue, 1, &si, c->fence);
    if (vr != VK_SUCCESS)
        return vk_fail(vk, err, vr, "vkQueueSubmit");
    vk->submits++;
    c->pending = true;
    return 0;
}

/* ---- read bandwidth (hark bench's roofline on a device) ---- */

enum { BW_MAX_RANGES = 64, BW_MAX_GROUPS = 4096 };

typedef struct bw_probe {
    hk_vk_buf *x, *y;              /* what is read; one float per invocation */
    hk_vk_node *node[BW_MAX_RANGES];
    uint32_t n_vec4[BW_MAX_RANGES];
    int n;                         /* ranges: x in pieces of at most maxStorageBufferRange */
    uint32_t groups;
    hk_vk_cmd *fill, *pass;
} bw_probe;

static void bw_free(hk_vk *vk, bw_probe *b)
{
    for (int i = 0; i < b->n; i++)
        hk_vk_node_free(vk, b->node[i]);
    hk_vk_cmd_free(vk, b->fill);
    hk_vk_cmd_free(vk, b->pass);
    hk_vk_buf_free(vk, b->x);
    hk_vk_buf_free(vk, b->y);
}

/* Bytes to read: asked for, else 256 MiB, and never more than a quarter of
 * the device's memory or half of HARK_VK_MEMORY_LIMIT. */
static uint64_t bw_bytes(const hk_vk *vk, uint64_t bytes, uint64_t piece)
{
    if (bytes == 0)
        bytes = 256 * MiB;
    if (vk->caps.info.device_local_bytes && bytes > vk->caps.info.device_local_bytes / 4)
        bytes = vk->caps.info.device_local_bytes / 4;
    if (vk->mem_limit && bytes > vk->mem_limit / 2)
        bytes = vk->mem_limit / 2;
    if (bytes > piece * BW_MAX_RANGES)
        bytes = piece * BW_MAX_RANGES;
    return bytes / 16 * 16;
}

static int bw_setup(hk_vk *vk, bw_probe *b, uint64_t bytes, hk_error *err)
{
    uint64_t align = hk_vk_min_offset_align(vk) > 16 ? hk_vk_min_offset_align(vk) : 16;
    uint64_t piece = vk->caps.info.max_storage_range / align * align;
    bytes = bw_bytes(vk, bytes, piece);
    if (bytes < 16)
        return hk_fail(err, "vulkan: too little device memory to measure its bandwidth");
    uint32_t max_groups = vk->caps.props.limits.maxComputeWorkGroupCount[0];
    b->groups = max_groups < BW_MAX_GROUPS ? max_groups : BW_MAX_GROUPS;
    hk_vk_pipeline *p = hk_vk_pipeline_get(vk, "membw", 2, 8, NULL, 0, err);
    if (!p || !(b->x = hk_vk_buf_new(vk, bytes, HK_VK_DEVICE, "bandwidth probe", err)) ||
        !(b->y = hk_vk_buf_new(vk, (uint64_t)b->groups * 256 * 4, HK_VK_DEVICE, "bandwidth sums", err)))
        return -1;
    for (uint64_t off = 0; off < bytes; off += piece, b->n++) {
        uint64_t len = bytes - off < piece ? bytes - off : piece;
        hk_vk_binding bind[2] = {{b->x, off, len}, {b->y, 0, 0}};
        if (!(b->node[b->n] = hk_vk_node_new(vk, p, bind, 2, err)))
            return -1;
        b->n_vec4[b->n] = (uint32_t)(len / 16);
    }
    if (!(b->fill = hk_vk_cmd_new(vk, err)) || !(b->pass = hk_vk_cmd_new(vk, err)))
        return -1;
    int r;
    if ((r = hk_vk_cmd_begin(b->fill, err)) < 0)
        return r;
    hk_vk_cmd_fill(b->fill, b->x, 0, bytes, 0x3f800000u); /* 1.0f: the pages exist before timing */
    if ((r = hk_vk_cmd_end(b->fill, err)) < 0 || (r = hk_vk_cmd_begin(b->pass, err)) < 0)
        return r;
    for (int i = 0; i < b->n; i++) {
        uint32_t groups = (b->n_vec4[i] + 255) / 256 < b->groups ? (b->n_vec4[i] + 255) / 256 : b->groups;
        uint32_t push[2] = {b->n_vec4[i], groups * 256};
        hk_vk_cmd_dispatch(b->pass, b->node[i], push, sizeof push, groups, 1, 1);
        hk_vk_cmd_barrier(b->pass); /* every range writes the same sums */
    }
    return hk_vk_cmd_end(b->pass, err);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_and_wait(hk_vk_cmd *c, hk_error *err)
{
    int r = hk_vk_cmd_submit(c, err);
    return r < 0 ? r : hk_vk_cmd_wait(c, err);
}

double hk_vk_measure_read_bandwidth(hk_vk *vk, uint64_t bytes, int passes, hk_error *err)
{
    bw_probe b;
    memset(&b, 0, sizeof b);
    double best = -1;
    if (check_lost(vk, err) == 0 && bw_setup(vk, &b, bytes, err) == 0 && run_and_wait(b.fill, err) == 0 &&
        run_and_wait(b.pass, err) == 0) { /* the second: a warm-up */
        for (int i = 0; i < (passes > 0 ? passes : 5); i++) {
            double t0 = now_seconds();
            if (run_and_wait(b.pass, err) < 0) {
                best = -1;
                break;
            }
            double gbs = (double)hk_vk_buf_size(b.x) / (now_seconds() - t0) / 1e9;
            best = gbs > best ? gbs : best;
        }
    }
    bw_free(vk, &b);
    return best;
}

/* ---- closing ---- */

static void free_device_objects(hk_vk *vk)
{
    while (vk->nodes)
        hk_vk_node_free(vk, vk->nodes);
    while (vk->cmds)
        cmd_destroy(vk, vk->cmds);
    vk->xfer = NULL;
    while (vk->bufs)
        buf_destroy(vk, vk->bufs);
    vk->staging = NULL;
    while (vk->blocks) /* only when a failure left one empty */
        block_free(vk, vk->blocks);
    while (vk->pipelines) {
        hk_vk_pipeline *p = vk->pipelines;
        vk->pipelines = p->next;
        pipeline_destroy(vk, p);
    }
    for (int i = 0; i < vk->n_pools; i++)
        vk->f.vkDestroyDescriptorPool(vk->dev, vk->pools[i], NULL);
    free(vk->pools);
    vk->pools = NULL;
    vk->n_pools = 0;
    if (vk->cache)
        vk->f.vkDestroyPipelineCache(vk->dev, vk->cache, NULL);
    if (vk->cmd_pool)
        vk->f.vkDestroyCommandPool(vk->dev, vk->cmd_pool, NULL);
}

void hk_vk_close(hk_vk *vk)
{
    if (!vk)
        return;
    if (vk->dev) {
        if (vk->f.vkDeviceWaitIdle)
            vk->f.vkDeviceWaitIdle(vk->dev);
        if (vk->f.vkDestroyDevice) { /* else the function table is incomplete: only the device can go */
            free_device_objects(vk);
            vk->f.vkDestroyDevice(vk->dev, NULL);
        } else {
            PFN_vkDestroyDevice destroy =
                (PFN_vkDestroyDevice)vk->in.f.vkGetDeviceProcAddr(vk->dev, "vkDestroyDevice");
            if (destroy)
                destroy(vk->dev, NULL);
        }
    }
    instance_destroy(&vk->in);
    free(vk);
}
