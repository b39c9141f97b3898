/* cli.c — shared helpers of the `evoke` subcommands: error reporting, number parsing, output
 * paths whose folders may not exist yet, and where the shipped assets are. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by CMakeLists.txt: the source tree this evoke was built from, and the installed data
 * folder relative to the installed binary's folder. */
#ifndef EVOKE_SOURCE_DIR
#define EVOKE_SOURCE_DIR "."
#endif
#ifndef EVOKE_BINDIR_TO_DATADIR
#define EVOKE_BINDIR_TO_DATADIR "../share/evoke"
#endif

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

/* mkdir -p: every missing folder along dir, each component created in turn. */
static evk_status evk__make_folders(const char *option, const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: the path %s is too long", option, dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char was = *p;
        *p = 0;
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return evk_fail(EVK_ERROR_IO, "%s: cannot create the folder %s: %s", option, path, strerror(errno));
        } else if (!S_ISDIR(sb.st_mode)) {
            return evk_fail(EVK_ERROR_IO, "%s: cannot create the folder %s: a file of that name exists", option, path);
        }
        *p = was;
        if (!was) return EVK_OK;
    }
}

evk_status cli_prepare_output(const char *option, const char *path, bool is_folder) {
    if (!path) return EVK_OK;
    if (!*path) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: the path is empty", option);
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: the path %s is too long", option, path);
    if (!is_folder) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "%s: %s is a folder, not a file", option, path);
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == dir) dir[1] = 0; /* a file in / */
        else *slash = 0;
    }
    evk_status st = evk__make_folders(option, dir);
    if (st) return st;
    if (access(dir, W_OK | X_OK) != 0)
        return evk_fail(EVK_ERROR_IO, "%s: cannot write in the folder %s: %s", option, dir, strerror(errno));
    return EVK_OK;
}

evk_status cli_asset_path(const char *rel, const char *option, char *out, size_t size) {
    char installed[PATH_MAX] = "", exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        if (snprintf(installed, sizeof installed, "%s/" EVOKE_BINDIR_TO_DATADIR "/assets/%s", exe, rel) >= (int)sizeof installed)
            installed[0] = 0; /* no such path can exist */
    }
    char source[PATH_MAX];
    if (snprintf(source, sizeof source, "%s/assets/%s", EVOKE_SOURCE_DIR, rel) >= (int)sizeof source) source[0] = 0;
    const char *found = installed[0] && access(installed, R_OK) == 0 ? installed : source[0] && access(source, R_OK) == 0 ? source : NULL;
    if (!found)
        return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "the shipped assets/%s is neither at %s nor at %s; pass %s", rel,
                        installed[0] ? installed : "(the installed data folder)", source, option);
    /* reports name it as short as it is true: "assets/tiny-sd" when run from the source tree (as
     * every recorded figure was), else without "bin/../" */
    char resolved[PATH_MAX], here[PATH_MAX], local[PATH_MAX];
    if (realpath(found, resolved)) found = resolved;
    if (found == resolved && snprintf(local, sizeof local, "assets/%s", rel) < (int)sizeof local && realpath(local, here) &&
        !strcmp(here, resolved))
        found = local;
    if (snprintf(out, size, "%s", found) >= (int)size) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "the path %s is too long", found);
    return EVK_OK;
}
