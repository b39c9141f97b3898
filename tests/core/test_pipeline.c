/* test_pipeline.c — a trivial dispatch with push and specialization constants, pipeline reuse,
 * unknown shaders, and the on-disk pipeline cache being written and then reused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static void test_fill_push_and_spec(void **state) {
    evk_context *ctx = *state;
    const uint64_t n = 70001; /* not a multiple of the workgroup */
    evk_buffer b;
    TEST_OK(evk_buffer_alloc(ctx, (n + 10) * 4, &b));
    test_poison(ctx, &b);
    evk_stream *s;
    TEST_OK(evk_stream_create(ctx, &s));
    TEST_OK(evk_stream_begin(s));
    TEST_OK(evk_op_fill_ramp(s, &b, 3, n, 1.5f, 0.25f));         /* spec MODE=1, push start/step */
    TEST_OK(evk_op_fill_bits(s, &b, n + 3, 5, 0x3f800000u));      /* spec MODE=0 */
    TEST_OK(evk_stream_run(s));
    uint32_t *host = malloc((n + 10) * 4);
    TEST_OK(evk_buffer_download(ctx, &b, 0, host, (n + 10) * 4));
    for (uint64_t i = 0; i < 3; i++) assert_int_equal(host[i], TEST_POISON_BITS);
    for (uint64_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, &host[3 + i], 4);
        float want = 1.5f + (float)i * 0.25f;
        if (v != want) fail_msg("element %llu: %f, expected %f", (unsigned long long)i, v, want);
    }
    for (uint64_t i = n + 3; i < n + 8; i++) assert_int_equal(host[i], 0x3f800000u);
    for (uint64_t i = n + 8; i < n + 10; i++) assert_int_equal(host[i], TEST_POISON_BITS);
    free(host);
    evk_stream_destroy(s);
    evk_buffer_free(ctx, &b);
}

static void test_pipeline_reuse_and_errors(void **state) {
    evk_context *ctx = *state;
    evk_pipeline_desc d = {.shader = "fill", .binding_count = 1, .push_size = 16, .spec_count = 2, .spec = {64, 0}};
    evk_pipeline *a, *b, *c;
    TEST_OK(evk_pipeline_get(ctx, &d, &a));
    TEST_OK(evk_pipeline_get(ctx, &d, &b));
    assert_ptr_equal(a, b);
    d.spec[0] = 128;
    TEST_OK(evk_pipeline_get(ctx, &d, &c));
    assert_ptr_not_equal(a, c);
    evk_pipeline_desc bad = {.shader = "no_such_kernel", .binding_count = 1};
    assert_int_equal(evk_pipeline_get(ctx, &bad, &a), EVK_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(evk_error_message(), "no_such_kernel"));
    assert_non_null(evk_spirv_find("fill"));
}

static void test_pipeline_cache_written_and_reused(void **state) {
    (void)state;
    char dir[] = "/tmp/evoke-cache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    evk_context_config config = {.cache_dir = dir};
    evk_pipeline_desc d = {.shader = "fill", .binding_count = 1, .push_size = 16, .spec_count = 2, .spec = {256, 1}};
    evk_pipeline *p;

    evk_context *ctx = test_context_create_with(config);
    evk_pipeline_stats st;
    evk_pipeline_get_stats(ctx, &st);
    assert_int_equal(st.cache_loaded, 0);
    TEST_OK(evk_pipeline_get(ctx, &d, &p));
    char path[512];
    snprintf(path, sizeof path, "%s", st.cache_path);
    test_context_destroy(ctx); /* saves */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size >= 32); /* at least the header (lavapipe stores nothing more) */

    ctx = test_context_create_with(config);
    evk_pipeline_get_stats(ctx, &st);
    assert_int_equal(st.cache_loaded, 1);
    assert_int_equal(st.cache_bytes_loaded, (uint64_t)sb.st_size);
    TEST_OK(evk_pipeline_get(ctx, &d, &p));
    test_context_destroy(ctx);

    /* a damaged cache file is ignored, not fatal */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("garbage that is not a pipeline cache at all............", f);
    fclose(f);
    ctx = test_context_create_with(config);
    evk_pipeline_get_stats(ctx, &st);
    assert_int_equal(st.cache_loaded, 0);
    TEST_OK(evk_pipeline_get(ctx, &d, &p));
    test_context_destroy(ctx);
    remove(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_push_and_spec),
        cmocka_unit_test(test_pipeline_reuse_and_errors),
        cmocka_unit_test(test_pipeline_cache_written_and_reused),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
