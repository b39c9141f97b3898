/* test_context.c — device listing and choice, feature detection, errors for bad device
 * requests and bad EVOKE_* values, and the validation layer catching a deliberately bad call. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/internal.h"

static void test_list_devices(void **state) {
    (void)state;
    evk_device_info *d;
    uint32_t n;
    TEST_OK(evk_devices_list(&d, &n));
    assert_true(n >= 1);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(d[i].index, i);
        assert_true(strlen(d[i].name) > 0);
        assert_true(d[i].api_version >= (1u << 22 | 1u << 12)); /* 1.1 */
        assert_true(d[i].heap_count >= 1);
        assert_true(d[i].max_workgroup_invocations >= 128);
        assert_true(d[i].subgroup_size >= 1);
    }
    free(d);
}

static void test_context_info(void **state) {
    evk_context *ctx = *state;
    const evk_device_info *info = evk_context_device(ctx);
    assert_true(strlen(info->name) > 0);
    assert_true(info->max_storage_buffer_range >= (1u << 27));
    assert_true(info->max_shared_memory >= 16384);
    /* lavapipe (the test device) is a CPU device; on other devices this just must agree */
    assert_int_equal(evk_context_is_cpu(ctx), info->type == EVK_DEVICE_TYPE_CPU);
}

static void test_bad_device_index(void **state) {
    (void)state;
    evk_context_config config = {.pick_device = true, .device_index = 99};
    evk_context *ctx = NULL;
    assert_int_equal(evk_context_create(&config, &ctx), EVK_ERROR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(evk_error_message(), "device 99"));
    setenv("EVOKE_DEVICE", "gpu", 1);
    evk_context_config zero = {0};
    assert_int_equal(evk_context_create(&zero, &ctx), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "EVOKE_DEVICE=gpu"));
    setenv("EVOKE_DEVICE", "0", 1);
    TEST_OK(evk_context_create(&zero, &ctx));
    assert_int_equal(evk_context_device(ctx)->index, 0);
    evk_context_destroy(ctx);
    unsetenv("EVOKE_DEVICE");
}

/* Every EVOKE_* variable a context reads is refused when it does not parse, naming the variable,
 * rather than silently taken as its default; good values take effect. */
static void test_bad_environment(void **state) {
    (void)state;
    static const char *const bad[][2] = {
        {"EVOKE_TIMEOUT", "0.001"}, {"EVOKE_TIMEOUT", "abc"}, {"EVOKE_TIMEOUT", "-1"}, {"EVOKE_TIMEOUT", "0"},
        {"EVOKE_TIMEOUT", "5s"}, {"EVOKE_MEMORY_LIMIT_MB", "abc"}, {"EVOKE_MEMORY_LIMIT_MB", "-8"},
        {"EVOKE_MEMORY_LIMIT_MB", "0"}, {"EVOKE_MEMORY_LIMIT_MB", "99999999999999999999"}, {"EVOKE_PROFILE", "yes"},
        {"EVOKE_DEVICE", "-1"},
    };
    evk_context_config zero = {0};
    evk_context *ctx = NULL;
    char want[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        assert_int_equal(evk_context_create(&zero, &ctx), EVK_ERROR_INVALID_ARGUMENT);
        assert_null(ctx);
        snprintf(want, sizeof want, "%s=%s is not", bad[i][0], bad[i][1]);
        if (!strstr(evk_error_message(), want)) fail_msg("%s: message '%s'", want, evk_error_message());
        unsetenv(bad[i][0]);
    }
    setenv("EVOKE_TIMEOUT", "5", 1);
    setenv("EVOKE_MEMORY_LIMIT_MB", "64", 1);
    TEST_OK(evk_context_create(&zero, &ctx));
    evk_memory_stats st;
    evk_memory_get_stats(ctx, &st);
    assert_int_equal(st.budget, 64ull << 20);
    evk_context_destroy(ctx);
    unsetenv("EVOKE_TIMEOUT");
    unsetenv("EVOKE_MEMORY_LIMIT_MB");
}

static uint32_t caught;
static void count_message(void *user, const char *message) {
    (void)user;
    (void)message;
    caught++;
}

/* A buffer with no usage bits violates VUID-VkBufferCreateInfo-usage-requiredbitmask: the
 * layer must report it through our messenger, proving the failure path of every test works. */
static void test_validation_catches_bad_call(void **state) {
    (void)state;
    evk_context_config config = {.validation = true, .on_validation_message = count_message};
    evk_context *ctx;
    TEST_OK(evk_context_create(&config, &ctx));
    assert_int_equal(evk_context_validation_count(ctx), 0);
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 256, .usage = 0};
    VkBuffer buf = VK_NULL_HANDLE;
    VkResult r = vkCreateBuffer(ctx->device, &bci, NULL, &buf);
    if (r == VK_SUCCESS) vkDestroyBuffer(ctx->device, buf, NULL);
    assert_true(evk_context_validation_count(ctx) >= 1);
    assert_true(caught >= 1);
    evk_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_devices),
        cmocka_unit_test(test_context_info),
        cmocka_unit_test(test_bad_device_index),
        cmocka_unit_test(test_bad_environment),
        cmocka_unit_test(test_validation_catches_bad_call),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
