/* test_memory.c — the arena (alignment, reuse, coalescing, exhaustion) and host transfers
 * (round trips of random data from 1 byte to 256 MiB, mapped and staged). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void test_alignment_and_reuse(void **state) {
    evk_context *ctx = *state;
    const evk_device_info *info = evk_context_device(ctx);
    uint64_t align = info->min_storage_buffer_offset_alignment;
    if (info->min_texel_buffer_offset_alignment > align) align = info->min_texel_buffer_offset_alignment;
    evk_buffer b[7];
    const uint64_t sizes[7] = {1, 3, 17, 4096, 1000003, 255, 65537};
    for (int i = 0; i < 7; i++) {
        TEST_OK(evk_buffer_alloc(ctx, sizes[i], &b[i]));
        assert_int_equal(b[i].size, sizes[i]);
        assert_int_equal(b[i].offset % align, 0);
        for (int j = 0; j < i; j++) /* no overlap with earlier allocations in the same block */
            if (b[j].block == b[i].block)
                assert_true(b[i].offset >= b[j].offset + b[j].size || b[j].offset >= b[i].offset + b[i].size);
    }
    evk_memory_stats st;
    evk_memory_get_stats(ctx, &st);
    assert_int_equal(st.allocations, 7);
    /* free the middle one: the same size fits in the same hole */
    uint64_t hole = b[3].offset;
    void *block = b[3].block;
    evk_buffer_free(ctx, &b[3]);
    assert_null(b[3].block);
    TEST_OK(evk_buffer_alloc(ctx, 4096, &b[3]));
    assert_ptr_equal(b[3].block, block);
    assert_int_equal(b[3].offset, hole);
    for (int i = 0; i < 7; i++) evk_buffer_free(ctx, &b[i]);
    evk_memory_get_stats(ctx, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.allocations, 0);
    /* after everything is freed the block is one free range again: a near-block-size request fits at 0 */
    evk_buffer big;
    TEST_OK(evk_buffer_alloc(ctx, 100u << 20, &big));
    assert_int_equal(big.offset, 0);
    evk_buffer_free(ctx, &big);
    evk_buffer_free(ctx, NULL); /* harmless */
    /* a request larger than half a block gets a block of its own, released only by trim */
    evk_memory_get_stats(ctx, &st);
    uint64_t before = st.reserved;
    TEST_OK(evk_buffer_alloc(ctx, 300u << 20, &big));
    evk_memory_get_stats(ctx, &st);
    assert_true(st.reserved >= before + (300u << 20));
    evk_buffer_free(ctx, &big);
    evk_memory_get_stats(ctx, &st);
    assert_true(st.reserved >= before + (300u << 20));
    evk_memory_trim(ctx);
    evk_memory_get_stats(ctx, &st);
    assert_int_equal(st.reserved, before);
}

static void test_exhaustion_is_an_error(void **state) {
    (void)state;
    evk_context_config config = {.memory_limit = 64ull << 20};
    evk_context *ctx = test_context_create_with(config);
    evk_buffer a, b;
    TEST_OK(evk_buffer_alloc(ctx, 16u << 20, &a));
    evk_status s = evk_buffer_alloc(ctx, 100u << 20, &b);
    assert_int_equal(s, EVK_ERROR_OUT_OF_DEVICE_MEMORY);
    assert_null(b.block);
    const char *msg = evk_error_message();
    assert_non_null(strstr(msg, "100.0 MiB"));
    assert_non_null(strstr(msg, "heap"));
    /* the failure left the arena usable */
    TEST_OK(evk_buffer_alloc(ctx, 1u << 20, &b));
    evk_buffer_free(ctx, &b);
    evk_buffer_free(ctx, &a);
    assert_int_equal(evk_buffer_alloc(ctx, 0, &b), EVK_ERROR_INVALID_ARGUMENT);
    test_context_destroy(ctx);
}

static void round_trips(evk_context *ctx) {
    test_rng rng = {42};
    const uint64_t sizes[] = {1, 2, 3, 5, 64, 1000, 4099, 65536 + 7, (1u << 20) + 13, (16u << 20) + 1, 256u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint64_t n = sizes[k];
        uint8_t *src = malloc(n), *dst = malloc(n);
        assert_non_null(src);
        assert_non_null(dst);
        for (uint64_t i = 0; i < n; i += 8) {
            uint64_t r = test_rng_u64(&rng);
            memcpy(src + i, &r, n - i < 8 ? n - i : 8);
        }
        memset(dst, 0xA5, n);
        evk_buffer b;
        TEST_OK(evk_buffer_alloc(ctx, n, &b));
        TEST_OK(evk_buffer_upload(ctx, &b, 0, src, n));
        TEST_OK(evk_buffer_download(ctx, &b, 0, dst, n));
        if (memcmp(src, dst, n)) fail_msg("round trip of %llu bytes differs", (unsigned long long)n);
        if (n > 3) { /* partial ranges at odd offsets */
            memset(dst, 0, n);
            TEST_OK(evk_buffer_download(ctx, &b, 1, dst, n - 3));
            assert_memory_equal(dst, src + 1, n - 3);
        }
        assert_int_equal(evk_buffer_download(ctx, &b, 1, dst, n), EVK_ERROR_INVALID_ARGUMENT);
        evk_buffer_free(ctx, &b);
        free(src);
        free(dst);
    }
}

static void test_round_trip(void **state) { round_trips(*state); }

static void test_round_trip_staged(void **state) {
    (void)state;
    evk_context_config config = {.force_staging = true};
    evk_context *ctx = test_context_create_with(config);
    round_trips(ctx);
    test_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_reuse),
        cmocka_unit_test(test_exhaustion_is_an_error),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_staged),
    };
    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
