/* context.c — Vulkan instance and device: loading through volk, device listing and choice,
 * optional-feature detection, the validation-layer messenger, and context lifetime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static const char *EVK__VALIDATION_LAYER = "VK_LAYER_KHRONOS_validation";

const char *evk__vk_result_name(VkResult r) {
    switch (r) {
#define _C(x) case x: return #x;
        _C(VK_SUCCESS) _C(VK_NOT_READY) _C(VK_TIMEOUT) _C(VK_INCOMPLETE)
        _C(VK_ERROR_OUT_OF_HOST_MEMORY) _C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        _C(VK_ERROR_INITIALIZATION_FAILED) _C(VK_ERROR_DEVICE_LOST) _C(VK_ERROR_MEMORY_MAP_FAILED)
        _C(VK_ERROR_LAYER_NOT_PRESENT) _C(VK_ERROR_EXTENSION_NOT_PRESENT)
        _C(VK_ERROR_FEATURE_NOT_PRESENT) _C(VK_ERROR_INCOMPATIBLE_DRIVER)
        _C(VK_ERROR_TOO_MANY_OBJECTS) _C(VK_ERROR_FORMAT_NOT_SUPPORTED)
        _C(VK_ERROR_FRAGMENTED_POOL) _C(VK_ERROR_OUT_OF_POOL_MEMORY) _C(VK_ERROR_UNKNOWN)
#undef _C
    default: return "VK_ERROR_(unnamed)";
    }
}

evk_status evk__vk_fail(VkResult r, const char *what, const char *file, int line) {
    evk_status s = EVK_ERROR_VULKAN;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) s = EVK_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (r == VK_ERROR_OUT_OF_HOST_MEMORY) s = EVK_ERROR_OUT_OF_HOST_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST) s = EVK_ERROR_DEVICE_LOST;
    else if (r == VK_TIMEOUT) s = EVK_ERROR_TIMEOUT;
    else if (r == VK_ERROR_INCOMPATIBLE_DRIVER) s = EVK_ERROR_NO_DEVICE;
    const char *slash = strrchr(file, '/');
    return evk_fail(s, "%s failed: %s%s (%s:%d)", what, evk__vk_result_name(r),
                    r == VK_ERROR_DEVICE_LOST ? " — the GPU device was lost" : "",
                    slash ? slash + 1 : file, line);
}

/* An EVOKE_* variable holding a whole number in [min, max]: unset or empty leaves *out alone; any
 * other text is an error naming the variable. A value that fell back to a default silently
 * would turn a mistyped EVOKE_TIMEOUT into an unbounded wait. */
static evk_status evk__env_number(const char *name, uint64_t min, uint64_t max, const char *what, uint64_t *out) {
    const char *v = getenv(name);
    if (!v || !*v) return EVK_OK;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno || x < min || x > max)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s=%s is not %s", name, v, what);
    *out = x;
    return EVK_OK;
}

/* The environment a context honours, checked before any Vulkan work. */
static evk_status evk__env_read(evk_context *ctx, long *device) {
    uint64_t validation = 0, profile = 0, timeout_s = 600, limit_mib = 0, dev = UINT64_MAX;
    EVK_TRY(evk__env_number("EVOKE_VALIDATION", 0, 1, "0 or 1", &validation));
    EVK_TRY(evk__env_number("EVOKE_PROFILE", 0, 1, "0 or 1", &profile));
    EVK_TRY(evk__env_number("EVOKE_TIMEOUT", 1, 31536000, "a whole number of seconds from 1 to 31536000", &timeout_s));
    EVK_TRY(evk__env_number("EVOKE_MEMORY_LIMIT_MB", 1, 1ull << 32, "a whole number of MiB from 1 to 4294967296", &limit_mib));
    EVK_TRY(evk__env_number("EVOKE_DEVICE", 0, UINT32_MAX, "a device index (see `evoke devices`)", &dev));
    ctx->validation = ctx->config.validation || validation;
    ctx->print_profile_at_exit = profile != 0;
    ctx->timeout_ns = timeout_s * 1000000000ull;
    ctx->env_memory_limit = limit_mib << 20;
    *device = dev == UINT64_MAX ? -1 : (long)dev;
    return EVK_OK;
}

const char *evk_device_type_name(evk_device_type type) {
    switch (type) {
    case EVK_DEVICE_TYPE_INTEGRATED: return "integrated";
    case EVK_DEVICE_TYPE_DISCRETE: return "discrete";
    case EVK_DEVICE_TYPE_VIRTUAL: return "virtual";
    case EVK_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

const char *evk_vendor_name(uint32_t id) {
    switch (id) {
    case 0x1002: return "AMD";
    case 0x10DE: return "NVIDIA";
    case 0x8086: return "Intel";
    case 0x106B: return "Apple";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x1010: return "ImgTec";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

/* ---- loading and instance ---------------------------------------------------------------- */

static evk_status evk__load_vulkan(void) {
    static int loaded = 0;
    if (loaded) return EVK_OK;
    if (volkInitialize() != VK_SUCCESS)
        return evk_fail(EVK_ERROR_NO_DEVICE,
                        "no Vulkan driver found: the Vulkan loader (libvulkan.so.1) could not be "
                        "loaded; install a Vulkan driver (e.g. mesa-vulkan-drivers)");
    loaded = 1;
    return EVK_OK;
}

static int evk__has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return 0;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static int evk__has_instance_ext(const char *layer, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL evk__debug_callback(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)types;
    evk_context *ctx = user;
    if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
    ctx->validation_count++;
    const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
    if (ctx->config.on_validation_message) ctx->config.on_validation_message(ctx->config.user, msg);
    else fprintf(stderr, "evoke: validation: %s\n", msg);
    return VK_FALSE;
}

static evk_status evk__instance_create(int validation, VkInstance *out, int *has_debug_utils) {
    EVK_TRY(evk__load_vulkan());
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_1)
        return evk_fail(EVK_ERROR_NO_DEVICE, "the Vulkan loader supports only Vulkan %u.%u; evoke needs 1.1",
                        VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
    const char *layers[1];
    uint32_t layer_count = 0;
    if (validation) {
        if (!evk__has_layer(EVK__VALIDATION_LAYER))
            return evk_fail(EVK_ERROR_UNSUPPORTED,
                            "validation was requested but %s is not installed "
                            "(Debian/Ubuntu: apt-get install vulkan-validationlayers)",
                            EVK__VALIDATION_LAYER);
        layers[layer_count++] = EVK__VALIDATION_LAYER;
    }
    const char *exts[4];
    uint32_t ext_count = 0;
    VkInstanceCreateFlags flags = 0;
    *has_debug_utils = 0;
    if (validation && (evk__has_instance_ext(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
                       evk__has_instance_ext(EVK__VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))) {
        exts[ext_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        *has_debug_utils = 1;
    }
    if (evk__has_instance_ext(NULL, "VK_KHR_portability_enumeration")) {
        exts[ext_count++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "evoke",
        .pEngineName = "evoke",
        .apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : loader_version,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = layer_count,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = ext_count,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
        return evk_fail(EVK_ERROR_NO_DEVICE,
                        "no Vulkan device found: no Vulkan driver could be loaded (%s); "
                        "install one (e.g. mesa-vulkan-drivers) or check VK_ICD_FILENAMES",
                        evk__vk_result_name(r));
    if (r != VK_SUCCESS) return evk__vk_fail(r, "vkCreateInstance", __FILE__, __LINE__);
    volkLoadInstance(*out);
    return EVK_OK;
}

static evk_status evk__physical_devices(VkInstance instance, VkPhysicalDevice **out, uint32_t *count) {
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(instance, &n, NULL);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return evk__vk_fail(r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
    if (n == 0)
        return evk_fail(EVK_ERROR_NO_DEVICE,
                        "no Vulkan device found: the Vulkan loader found no driver or device; install "
                        "one (e.g. mesa-vulkan-drivers for the CPU device lavapipe) or check VK_ICD_FILENAMES");
    VkPhysicalDevice *p = calloc(n, sizeof *p);
    if (!p) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory listing devices");
    r = vkEnumeratePhysicalDevices(instance, &n, p);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(p);
        return evk__vk_fail(r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
    }
    *out = p;
    *count = n;
    return EVK_OK;
}

/* ---- device properties ------------------------------------------------------------------- */

typedef struct evk__ext_list {
    VkExtensionProperties *props;
    uint32_t count;
} evk__ext_list;

static int evk__ext_has(const evk__ext_list *l, const char *name) {
    for (uint32_t i = 0; i < l->count; i++)
        if (strcmp(l->props[i].extensionName, name) == 0) return 1;
    return 0;
}

static void evk__ext_list_get(VkPhysicalDevice pd, evk__ext_list *l) {
    l->count = 0;
    l->props = NULL;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &l->count, NULL) != VK_SUCCESS) return;
    l->props = calloc(l->count ? l->count : 1, sizeof *l->props);
    if (!l->props || vkEnumerateDeviceExtensionProperties(pd, NULL, &l->count, l->props) != VK_SUCCESS)
        l->count = 0;
}

static evk_device_type evk__type(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return EVK_DEVICE_TYPE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return EVK_DEVICE_TYPE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return EVK_DEVICE_TYPE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return EVK_DEVICE_TYPE_CPU;
    default: return EVK_DEVICE_TYPE_OTHER;
    }
}

/* Fill `info` for one physical device; `exts` stays valid for device creation. */
static void evk__device_query(VkPhysicalDevice pd, uint32_t index, const evk__ext_list *exts,
                              evk_device_info *info, uint8_t *cache_uuid) {
    memset(info, 0, sizeof *info);
    info->index = index;
    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(pd, &base);
    uint32_t api = base.apiVersion;
    int v12 = api >= VK_API_VERSION_1_2;

    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT ssc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    sub.pNext = &m3;
    void **tail = &m3.pNext;
    int has_drv = v12 || evk__ext_has(exts, "VK_KHR_driver_properties");
    int has_ssc = api >= VK_API_VERSION_1_3 || evk__ext_has(exts, "VK_EXT_subgroup_size_control");
    if (has_drv) { *tail = &drv; tail = &drv.pNext; }
    if (has_ssc) { *tail = &ssc; tail = &ssc.pNext; }
    vkGetPhysicalDeviceProperties2(pd, &p2);

    snprintf(info->name, sizeof info->name, "%s", base.deviceName);
    info->type = evk__type(base.deviceType);
    info->vendor_id = base.vendorID;
    info->device_id = base.deviceID;
    info->driver_version = base.driverVersion;
    info->api_version = api;
    if (has_drv) {
        snprintf(info->driver_name, sizeof info->driver_name, "%s", drv.driverName);
        snprintf(info->driver_info, sizeof info->driver_info, "%s", drv.driverInfo);
    }
    const VkPhysicalDeviceLimits *lim = &base.limits;
    info->subgroup_size = sub.subgroupSize;
    info->min_subgroup_size = has_ssc ? ssc.minSubgroupSize : sub.subgroupSize;
    info->max_subgroup_size = has_ssc ? ssc.maxSubgroupSize : sub.subgroupSize;
    for (int i = 0; i < 3; i++) {
        info->max_workgroup_size[i] = lim->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    }
    info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    info->max_shared_memory = lim->maxComputeSharedMemorySize;
    info->max_storage_buffer_range = lim->maxStorageBufferRange;
    info->max_allocation_size = m3.maxMemoryAllocationSize;
    info->max_push_constants = lim->maxPushConstantsSize;
    info->min_storage_buffer_offset_alignment = (uint32_t)lim->minStorageBufferOffsetAlignment;
    info->min_texel_buffer_offset_alignment = (uint32_t)lim->minTexelBufferOffsetAlignment;
    info->max_texel_buffer_elements = lim->maxTexelBufferElements;
    info->timestamp_period_ns = lim->timestampPeriod;
    if (cache_uuid) memcpy(cache_uuid, base.pipelineCacheUUID, VK_UUID_SIZE);

    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    info->heap_count = mem.memoryHeapCount < EVK_MAX_HEAPS ? mem.memoryHeapCount : EVK_MAX_HEAPS;
    for (uint32_t i = 0; i < info->heap_count; i++) {
        info->heaps[i].size = mem.memoryHeaps[i].size;
        info->heaps[i].device_local = (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
    }

    /* features */
    evk_device_features *f = &info->features;
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT sscf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    tail = &s16.pNext;
    int has_f16 = v12 || evk__ext_has(exts, "VK_KHR_shader_float16_int8");
    int has_s8 = v12 || evk__ext_has(exts, "VK_KHR_8bit_storage");
    if (has_f16) { *tail = &f16; tail = &f16.pNext; }
    if (has_s8) { *tail = &s8; tail = &s8.pNext; }
    if (has_ssc) { *tail = &sscf; tail = &sscf.pNext; }
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    f->storage_16bit = s16.storageBuffer16BitAccess;
    f->float16 = has_f16 && f16.shaderFloat16;
    f->int8 = has_f16 && f16.shaderInt8;
    f->storage_8bit = has_s8 && s8.storageBuffer8BitAccess;
    f->subgroup_size_control = has_ssc && sscf.subgroupSizeControl && sscf.computeFullSubgroups;
    VkSubgroupFeatureFlags sf = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sub.supportedOperations : 0;
    f->subgroup_basic = (sf & VK_SUBGROUP_FEATURE_BASIC_BIT) != 0;
    f->subgroup_arithmetic = (sf & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) != 0;
    f->subgroup_shuffle = (sf & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) != 0;
    f->subgroup_ballot = (sf & VK_SUBGROUP_FEATURE_BALLOT_BIT) != 0;
    f->cooperative_matrix = evk__ext_has(exts, "VK_KHR_cooperative_matrix") ||
                            evk__ext_has(exts, "VK_NV_cooperative_matrix");
    f->memory_budget = evk__ext_has(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    f->push_descriptor = evk__ext_has(exts, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);

    uint32_t qn = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, NULL);
    VkQueueFamilyProperties *q = calloc(qn ? qn : 1, sizeof *q);
    if (q) {
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, q);
        for (uint32_t i = 0; i < qn; i++)
            if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].timestampValidBits > 0 && lim->timestampPeriod > 0)
                f->timestamps = 1;
        free(q);
    }
}

evk_status evk_devices_list(evk_device_info **out, uint32_t *count) {
    *out = NULL;
    *count = 0;
    VkInstance instance;
    int dbg;
    EVK_TRY(evk__instance_create(0, &instance, &dbg));
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    evk_status s = evk__physical_devices(instance, &pds, &n);
    if (s == EVK_OK) {
        evk_device_info *infos = calloc(n, sizeof *infos);
        if (!infos) s = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory listing devices");
        for (uint32_t i = 0; infos && i < n; i++) {
            evk__ext_list exts;
            evk__ext_list_get(pds[i], &exts);
            evk__device_query(pds[i], i, &exts, &infos[i], NULL);
            free(exts.props);
        }
        *out = infos;
        *count = infos ? n : 0;
    }
    free(pds);
    vkDestroyInstance(instance, NULL);
    return s;
}

static int evk__type_rank(evk_device_type t) {
    switch (t) {
    case EVK_DEVICE_TYPE_DISCRETE: return 4;
    case EVK_DEVICE_TYPE_INTEGRATED: return 3;
    case EVK_DEVICE_TYPE_VIRTUAL: return 2;
    case EVK_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

/* ---- context ----------------------------------------------------------------------------- */

static evk_status evk__device_create(evk_context *ctx, const evk__ext_list *exts) {
    const evk_device_info *info = &ctx->info;
    uint32_t qn = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &qn, NULL);
    VkQueueFamilyProperties *q = calloc(qn ? qn : 1, sizeof *q);
    if (!q) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &qn, q);
    int best = -1, best_score = -1;
    for (uint32_t i = 0; i < qn; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        /* prefer timestamps, then a compute-only family (async compute on discrete GPUs) */
        int score = (q[i].timestampValidBits > 0) * 2 + !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT);
        if (score > best_score) best = (int)i, best_score = score;
    }
    free(q);
    if (best < 0)
        return evk_fail(EVK_ERROR_UNSUPPORTED, "device %u (%s) has no compute queue", info->index, info->name);
    ctx->queue_family = (uint32_t)best;

    const char *names[8];
    uint32_t n = 0;
    int v12 = info->api_version >= VK_API_VERSION_1_2;
    if (info->features.memory_budget) names[n++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    if (!v12 && (info->features.float16 || info->features.int8)) names[n++] = "VK_KHR_shader_float16_int8";
    if (!v12 && info->features.storage_8bit) names[n++] = "VK_KHR_8bit_storage";
    if (info->features.subgroup_size_control && info->api_version < VK_API_VERSION_1_3)
        names[n++] = "VK_EXT_subgroup_size_control";
    if (evk__ext_has(exts, "VK_KHR_portability_subset")) names[n++] = "VK_KHR_portability_subset";

    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                .storageBuffer16BitAccess = info->features.storage_16bit};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
                                                     .shaderFloat16 = info->features.float16,
                                                     .shaderInt8 = info->features.int8};
    VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
                                              .storageBuffer8BitAccess = info->features.storage_8bit};
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT ssc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT,
        .subgroupSizeControl = VK_TRUE, .computeFullSubgroups = VK_TRUE};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    VkPhysicalDeviceFeatures supported;
    vkGetPhysicalDeviceFeatures(ctx->physical, &supported);
    f2.features.shaderInt64 = supported.shaderInt64;
    f2.features.shaderFloat64 = VK_FALSE;
    void **tail = &s16.pNext;
    if (info->features.float16 || info->features.int8) { *tail = &f16; tail = &f16.pNext; }
    if (info->features.storage_8bit) { *tail = &s8; tail = &s8.pNext; }
    if (info->features.subgroup_size_control) { *tail = &ssc; tail = &ssc.pNext; }

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = ctx->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f2,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n,
        .ppEnabledExtensionNames = names,
    };
    EVK__VK_TRY(vkCreateDevice(ctx->physical, &dci, NULL, &ctx->device));
    volkLoadDevice(ctx->device);
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    return EVK_OK;
}

evk_status evk_context_create(const evk_context_config *config, evk_context **out) {
    *out = NULL;
    evk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory creating the context");
    if (config) ctx->config = *config;
    long env_device = -1;
    evk_status s = evk__env_read(ctx, &env_device);
    if (s) { free(ctx); return s; }
    ctx->profiling = ctx->config.profile || ctx->print_profile_at_exit;

    int has_debug_utils = 0;
    s = evk__instance_create(ctx->validation, &ctx->instance, &has_debug_utils);
    if (s) { free(ctx); return s; }
    if (has_debug_utils) {
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = evk__debug_callback,
            .pUserData = ctx,
        };
        VkResult r = vkCreateDebugUtilsMessengerEXT(ctx->instance, &mci, NULL, &ctx->messenger);
        if (r != VK_SUCCESS) {
            s = evk__vk_fail(r, "vkCreateDebugUtilsMessengerEXT", __FILE__, __LINE__);
            evk_context_destroy(ctx);
            return s;
        }
    }

    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    s = evk__physical_devices(ctx->instance, &pds, &n);
    if (s) { evk_context_destroy(ctx); return s; }

    long want = ctx->config.pick_device ? (long)ctx->config.device_index : env_device;
    if (want >= (long)n) {
        free(pds);
        evk_context_destroy(ctx);
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "device %ld requested but only %u Vulkan device%s found (see `evoke devices`)",
                        want, n, n == 1 ? " was" : "s were");
    }
    uint32_t chosen = 0;
    if (want >= 0) {
        chosen = (uint32_t)want;
    } else {
        int best_rank = -1;
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[i], &p);
            int rank = p.apiVersion >= VK_API_VERSION_1_1 ? evk__type_rank(evk__type(p.deviceType)) : -1;
            if (rank > best_rank) best_rank = rank, chosen = i;
        }
    }
    ctx->physical = pds[chosen];
    free(pds);
    evk__ext_list exts;
    evk__ext_list_get(ctx->physical, &exts);
    evk__device_query(ctx->physical, chosen, &exts, &ctx->info, ctx->pipeline_cache_uuid);
    if (ctx->config.binding_limit) {
        /* storage ranges directly; texel buffers by their element count, so single-float views
         * meet the same limit (lavapipe too allows 16× more bytes through RGBA32F views) */
        evk_device_info *in = &ctx->info;
        if (ctx->config.binding_limit < in->max_storage_buffer_range) in->max_storage_buffer_range = ctx->config.binding_limit;
        uint64_t texels = ctx->config.binding_limit / 4;
        if (texels < in->max_texel_buffer_elements) in->max_texel_buffer_elements = (uint32_t)(texels ? texels : 1);
    }
    if (ctx->info.api_version < VK_API_VERSION_1_1) {
        free(exts.props);
        evk_context_destroy(ctx);
        return evk_fail(EVK_ERROR_UNSUPPORTED, "device %u (%s) supports Vulkan %u.%u; evoke needs 1.1", chosen,
                        ctx->info.name, VK_API_VERSION_MAJOR(ctx->info.api_version),
                        VK_API_VERSION_MINOR(ctx->info.api_version));
    }
    vkGetPhysicalDeviceMemoryProperties(ctx->physical, &ctx->memory_properties);
    s = evk__device_create(ctx, &exts);
    free(exts.props);
    if (!s) s = evk__arena_init(ctx);
    if (!s) s = evk__pipelines_init(ctx);
    if (s) {
        evk_fail_context(s, "setting up device %u (%s)", chosen, ctx->info.name);
        evk_context_destroy(ctx);
        return s;
    }
    if (ctx->profiling && !ctx->info.features.timestamps) ctx->profiling = 0;
    *out = ctx;
    return EVK_OK;
}

void evk_context_destroy(evk_context *ctx) {
    if (!ctx) return;
    if (ctx->device) {
        /* after a timeout the device may never go idle: EVOKE_TIMEOUT bounds the process, so
         * the device and everything it may still use are left to the end of the process */
        if (!ctx->stuck) vkDeviceWaitIdle(ctx->device);
        if (ctx->print_profile_at_exit && !ctx->stuck) evk_profile_print(ctx, stderr);
        evk__pipelines_destroy(ctx);
        evk__arena_destroy(ctx);
        if (!ctx->stuck) vkDestroyDevice(ctx->device, NULL);
    }
    evk__profile_destroy(ctx);
    if (!ctx->stuck) {
        if (ctx->messenger) vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
        if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    }
    free(ctx);
}

const evk_device_info *evk_context_device(const evk_context *ctx) { return &ctx->info; }
bool evk_context_is_cpu(const evk_context *ctx) { return ctx->info.type == EVK_DEVICE_TYPE_CPU; }
uint32_t evk_context_validation_count(const evk_context *ctx) { return ctx->validation_count; }
bool evk_context_profiling(const evk_context *ctx) { return ctx->profiling; }
