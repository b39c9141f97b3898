/* harness.h — what every evoke test shares: a context with the validation layer on whose
 * messages fail the test, a seeded random generator, poisoning and comparison helpers against
 * double-precision references, and fixture-file lookup (EVOKE_TEST_DATA). */
#ifndef EVOKE_TEST_HARNESS_H
#define EVOKE_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/context.h"
#include "core/memory.h"
#include "ops/op_fill.h"
#include "core/pipeline.h"
#include "core/stream.h"
#include "core/tensor.h"

/* Context with validation forced on; every validation message is printed and counted. */
evk_context *test_context_create(void);
evk_context *test_context_create_with(evk_context_config config);
/* Fails the current test if any validation message was seen, then destroys the context. */
void test_context_destroy(evk_context *ctx);
/* Fails the current test if validation messages were seen so far. */
void test_assert_no_validation(const evk_context *ctx);
/* cmocka group setup/teardown that keep one context in *state. */
int test_group_setup(void **state);
int test_group_teardown(void **state);

/* Fail with the evoke error message unless status is EVK_OK. */
#define TEST_OK(expr)                                                                         \
    do {                                                                                      \
        evk_status _t_s = (expr);                                                             \
        if (_t_s != EVK_OK) fail_msg("%s -> %s: %s", #expr, evk_status_name(_t_s), evk_error_message()); \
    } while (0)

/* Deterministic generator (splitmix64). */
typedef struct test_rng { uint64_t state; } test_rng;
uint64_t test_rng_u64(test_rng *r);
double test_rng_uniform(test_rng *r);               /* [0, 1) */
double test_rng_normal(test_rng *r);
void test_rng_fill(test_rng *r, float *out, size_t n, float lo, float hi); /* never exactly 0 */

/* The NaN pattern outputs are poisoned with before a kernel runs. */
#define TEST_POISON_BITS 0x7fc0dead
void test_poison(evk_context *ctx, const evk_buffer *buf);

/* ||got - ref|| / ||ref||; fails on any NaN/Inf in got. */
double test_rel_l2(const float *got, const double *ref, size_t n);
void test_assert_close(const float *got, const double *ref, size_t n, double tol, const char *what);

/* Path of a fixture under tests/data (EVOKE_TEST_DATA); returns buf. */
const char *test_data_path(const char *name, char *buf, size_t n);

#endif
