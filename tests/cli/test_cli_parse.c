/* test_cli_parse.c — the CLI's option-value parsers: every 64-bit seed round-trips exactly and
 * 2^64 is refused, integers are digits only with their minimum enforced, non-finite numbers are
 * refused, and each mistake is exactly one line on stderr saying what the option takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#include "cli.h"

/* stderr of one call, captured through a temporary file */
static char captured[1024];
static int saved_fd = -1;
static FILE *capture_file;

static void capture_begin(void) {
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    saved_fd = dup(fileno(stderr));
    dup2(fileno(capture_file), fileno(stderr));
}

static void capture_end(void) {
    fflush(stderr);
    dup2(saved_fd, fileno(stderr));
    close(saved_fd);
    rewind(capture_file);
    size_t n = fread(captured, 1, sizeof captured - 1, capture_file);
    captured[n] = 0;
    fclose(capture_file);
}

static int lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_seeds_are_u64(void **state) {
    (void)state;
    static const char *const good[] = {"0", "1", "9007199254740992", "9007199254740993", "9223372036854775808",
                                       "18446744073709551614", "18446744073709551615"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 0;
        char back[32];
        capture_begin();
        bool ok = cli_parse_u64("generate", "--seed", good[i], 0, &v);
        capture_end();
        if (!ok) fail_msg("seed %s refused: %s", good[i], captured);
        snprintf(back, sizeof back, "%llu", (unsigned long long)v);
        assert_string_equal(back, good[i]);
    }
    static const char *const bad[] = {"18446744073709551616", "99999999999999999999999", "-1", "+1", " 1", "1 ", "1e3", "0x10",
                                      "", "1.0", "16abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        capture_begin();
        bool ok = cli_parse_u64("generate", "--seed", bad[i], 0, &v);
        capture_end();
        if (ok) fail_msg("seed '%s' accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 7);
        assert_int_equal(lines(captured), 1);
        assert_non_null(strstr(captured, "--seed expects an integer from 0 to 2^64-1"));
    }
}

static void test_one_line_per_mistake(void **state) {
    (void)state;
    uint32_t u = 0;
    capture_begin();
    assert_false(cli_parse_u32("generate", "--height", "-32", 1, &u));
    capture_end();
    assert_int_equal(lines(captured), 1);
    assert_non_null(strstr(captured, "--height expects an integer from 1 to 4294967295, got '-32'"));
    capture_begin();
    assert_false(cli_parse_u32("generate", "--height", "0", 1, &u));
    capture_end();
    assert_int_equal(lines(captured), 1);
    capture_begin();
    assert_false(cli_parse_u32("generate", "--n", "4294967296", 0, &u));
    capture_end();
    assert_int_equal(lines(captured), 1);
    uint64_t v;
    capture_begin();
    assert_false(cli_parse_u64("generate", "--nfe", "--report", 1, &v));
    capture_end();
    assert_int_equal(lines(captured), 1);
    assert_non_null(strstr(captured, "--nfe needs a value"));
    assert_non_null(strstr(captured, "'--report'"));
    capture_begin();
    assert_true(cli_parse_u32("generate", "--n", "4294967295", 1, &u));
    capture_end();
    assert_int_equal(u, 4294967295u);
    assert_string_equal(captured, "");
}

static void test_numbers_are_finite(void **state) {
    (void)state;
    static const char *const bad[] = {"inf", "-inf", "INF", "infinity", "nan", "NaN", "1e999", "-1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double d = 3;
        capture_begin();
        bool ok = cli_parse_double("generate", "--cfg", bad[i], &d);
        capture_end();
        if (ok) fail_msg("--cfg %s accepted as %g", bad[i], d);
        assert_int_equal(lines(captured), 1);
        assert_non_null(strstr(captured, "--cfg expects a finite number"));
    }
    static const char *const malformed[] = {"", "abc", "2x", " 2"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        double d = 3;
        capture_begin();
        assert_false(cli_parse_double("generate", "--cfg", malformed[i], &d));
        capture_end();
        assert_int_equal(lines(captured), 1);
    }
    double d;
    capture_begin();
    assert_true(cli_parse_double("generate", "--cfg", "7.5", &d));
    assert_true(cli_parse_double("generate", "--cfg", "-0.25e1", &d));
    capture_end();
    assert_true(d == -2.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_are_u64),
        cmocka_unit_test(test_one_line_per_mistake),
        cmocka_unit_test(test_numbers_are_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
