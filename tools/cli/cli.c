/* cli.c — shared helpers of the `evoke` subcommands: error reporting, number parsing, and help
 * texts whose lists of reward types come from the runtime's table. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewards/reward.h"
#include "search.h"

int cli_exit_code(evk_status status) {
    switch (status) {
    case EVK_OK: return CLI_EXIT_OK;
    case EVK_ERROR_INVALID_ARGUMENT:
    case EVK_ERROR_FORMAT:
    case EVK_ERROR_NUMERIC: return CLI_EXIT_USAGE;
    default: return CLI_EXIT_FAILURE;
    }
}

int cli_report(evk_status status) {
    fprintf(stderr, "evoke: %s\n", evk_error_message()[0] ? evk_error_message() : evk_status_name(status));
    return cli_exit_code(status);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "evoke %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see `evoke %s --help`)\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

bool cli_parse_u32(const char *cmd, const char *option, const char *text, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text ? text : "", &end, 10);
    if (!text || !*text || *end || errno || v > 0xffffffffull || text[0] == '-') {
        cli_usage_error(cmd, "%s expects a non-negative integer, got '%s'", option, text ? text : "");
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *option, const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text ? text : "", &end);
    if (!text || !*text || *end || errno || v != v) {
        cli_usage_error(cmd, "%s expects a number, got '%s'", option, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

void cli_print_help(const char *text) {
    for (const char *p = text; *p;) {
        if (!strncmp(p, "{rewards}", 9)) {
            for (uint32_t i = 0; i < evk_reward_type_count(); i++) printf("%s%s", i ? ", " : "", evk_reward_type_name(i));
            p += 9;
        } else if (!strncmp(p, "{methods}", 9)) {
            for (uint32_t i = 0; i < evk_search_method_count(); i++) printf("%s%s", i ? "|" : "", evk_search_method_name((evk_search_method)i));
            p += 9;
        } else {
            putchar(*p++);
        }
    }
}

const char *cli_method_list(void) {
    static _Thread_local char list[256];
    size_t u = 0;
    list[0] = 0;
    for (uint32_t i = 0; i < evk_search_method_count() && u < sizeof list; i++)
        u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", evk_search_method_name((evk_search_method)i));
    return list;
}
