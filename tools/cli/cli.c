/* cli.c — shared helpers of the `evoke` subcommands: error reporting, option values, help texts
 * whose lists of reward types and methods come from the runtime's tables, the checks of the files
 * a user names (inputs exist; outputs writable and distinct; missing output folders created), and
 * where the shipped assets are. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"

#include "rewards/reward.h"
#include "search.h"
#include "shard.h"

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
    if (status == EVK_ERROR_TIMEOUT) {
        /* The device may still be running the timed-out work (or never finish it): exit now, as
         * EVOKE_TIMEOUT promises, without the teardown (exit handlers would unload the driver
         * under its own worker threads). Outputs are only written after compute, so at most a
         * temporary file can exist. */
        fflush(stdout);
        evk_file_remove_temporaries();
        _exit(CLI_EXIT_FAILURE);
    }
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

/* Option values are parsed whole: digits only for integers (no sign, no spaces, no suffix),
 * and exactly one error line per mistake, saying what the option takes. A value that is itself
 * an option ("--nfe --report r.json") means the value was left out. */
static bool cli__bad_value(const char *cmd, const char *option, const char *text, const char *expect) {
    if (text && text[0] == '-' && text[1] == '-')
        cli_usage_error(cmd, "%s needs a value (%s), found the option '%s'", option, expect, text);
    else
        cli_usage_error(cmd, "%s expects %s, got '%s'", option, expect, text ? text : "");
    return false;
}

static bool cli__parse_unsigned(const char *cmd, const char *option, const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    char expect[96];
    if (max != UINT64_MAX)
        snprintf(expect, sizeof expect, "an integer from %llu to %llu", (unsigned long long)min, (unsigned long long)max);
    else if (min)
        snprintf(expect, sizeof expect, "an integer from %llu to 2^64-1", (unsigned long long)min);
    else
        snprintf(expect, sizeof expect, "an integer from 0 to 2^64-1");
    if (!text || text[0] < '0' || text[0] > '9') return cli__bad_value(cmd, option, text, expect);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || errno == ERANGE || v < min || v > max) return cli__bad_value(cmd, option, text, expect);
    *out = v;
    return true;
}

bool cli_parse_u32(const char *cmd, const char *option, const char *text, uint32_t min, uint32_t *out) {
    uint64_t v;
    if (!cli__parse_unsigned(cmd, option, text, min, UINT32_MAX, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *option, const char *text, uint64_t min, uint64_t *out) {
    return cli__parse_unsigned(cmd, option, text, min, UINT64_MAX, out);
}

int cli_parse_devices(const char *cmd, const char *option, const char *text, uint32_t *out, uint32_t max, uint32_t *count) {
    *count = 0;
    if (!strcmp(text, "all")) {
        evk_device_info *list = NULL;
        evk_status st = evk_devices_list(&list, count);
        free(list);
        if (st) return cli_report(st);
        if (!*count) return cli_report(evk_fail(EVK_ERROR_UNSUPPORTED, "%s all: no Vulkan device", option));
        if (*count > max) *count = max;
        for (uint32_t i = 0; i < *count; i++) out[i] = i;
        return CLI_EXIT_OK;
    }
    char copy[256], *save = NULL;
    if (snprintf(copy, sizeof copy, "%s", text) >= (int)sizeof copy) return cli_usage_error(cmd, "%s is too long", option);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*count == max) return cli_usage_error(cmd, "%s has more than %u entries", option, max);
        if (!cli_parse_u32(cmd, option, t, 0, &out[(*count)++])) return CLI_EXIT_USAGE;
    }
    if (!*count) return cli_usage_error(cmd, "%s is empty", option);
    return CLI_EXIT_OK;
}

bool cli_parse_double(const char *cmd, const char *option, const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text ? text : "", &end);
    if (!text || !*text || *end || isspace((unsigned char)text[0])) return cli__bad_value(cmd, option, text, "a number");
    if (!isfinite(v)) return cli__bad_value(cmd, option, text, "a finite number");
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

bool cli_input_exists(const char *cmd, const char *option, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR)
        cli_usage_error(cmd, "%s: no such file or directory: %s", option, path);
    else
        cli_usage_error(cmd, "%s: cannot access %s: %s", option, path, strerror(errno));
    return false;
}

/* The folder part of a path ("." when it has none) and its canonical form + "/" + the file name,
 * which two spellings of one output share. */
static bool cli__output_key(const char *path, char *dir, size_t dn, char *key, size_t kn) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, dn, ".");
    else if (slash == path) snprintf(dir, dn, "/");
    else snprintf(dir, dn, "%.*s", (int)(slash - path), path);
    char real[PATH_MAX];
    if (!realpath(dir, real)) return false;
    snprintf(key, kn, "%s/%s", real, slash ? slash + 1 : path);
    return true;
}

int cli_outputs_check(const char *cmd, const char *const *options, const char *const *paths, int n) {
    char keys[8][PATH_MAX + 256];
    if (n > 8) n = 8;
    for (int i = 0; i < n; i++) {
        keys[i][0] = 0;
        if (!paths[i]) continue;
        char dir[PATH_MAX];
        struct stat st;
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))) {
            fprintf(stderr, "evoke %s: %s %s is a folder, not a file\n", cmd, options[i], paths[i]);
            return CLI_EXIT_FAILURE;
        }
        if (!cli__output_key(paths[i], dir, sizeof dir, keys[i], sizeof keys[i])) {
            fprintf(stderr, "evoke %s: %s %s cannot be written: folder %s: %s\n", cmd, options[i], paths[i], dir, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) errno = ENOTDIR;
        else if (access(dir, W_OK | X_OK) == 0) errno = 0;
        if (errno) {
            fprintf(stderr, "evoke %s: %s %s cannot be written: folder %s: %s\n", cmd, options[i], paths[i], dir, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        for (int j = 0; j < i; j++)
            if (keys[j][0] && !strcmp(keys[i], keys[j]))
                return cli_usage_error(cmd, "%s and %s name the same file %s", options[j], options[i], paths[i]);
    }
    return 0;
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

/* ---- several processes ------------------------------------------------------------------------ */

static int cli__stderr_fd = -1; /* a silenced rank's own stderr, for its timeouts */

evk_shard *cli_ranks_start(void) {
    evk_shard *s = NULL;
    evk_shard_mpi_watch(); /* under a launcher: a watcher process reports this rank if it is killed */
    evk_status st = evk_shard_mpi_init(NULL, NULL, &s);
    if (st) exit(cli_report(st)); /* running alone instead would repeat the whole job in every process */
    if (s && evk_shard_rank(s) != 0) {
        fflush(stdout), fflush(stderr);
        cli__stderr_fd = dup(2);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) cli__stderr_fd = -1;
    }
    return s;
}

int cli_ranks_end(evk_shard *s, int rc) {
    fflush(stdout), fflush(stderr);
    if (rc) evk_shard_reported(s); /* rank 0 has said why: the others may end now */
    evk_shard_destroy(s, rc != 0);
    return rc;
}

int cli_rank_report(const evk_shard *s, evk_status status) {
    const char *msg = evk_error_message()[0] ? evk_error_message() : evk_status_name(status);
    if (evk_shard_rank(s) == 0) fprintf(stderr, "evoke: %s\n", msg);
    else if (status == EVK_ERROR_TIMEOUT && !evk_shard_failed_elsewhere(s) && cli__stderr_fd >= 0)
        dprintf(cli__stderr_fd, "evoke: rank %u: %s\n", evk_shard_rank(s), msg);
    return cli_exit_code(status);
}

int cli_ranks_verdict(evk_shard *s, int rc) {
    int32_t v = rc;
    evk_status st = evk_shard_broadcast(s, &v, sizeof v, 0, "start");
    return st ? cli_rank_report(s, st) : v;
}
