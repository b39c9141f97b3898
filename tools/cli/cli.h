/* cli.h — what the `evoke` subcommands share: the command table entry, exit codes, option
 * parsing helpers, output paths and the shipped assets' location.
 *
 * Exit codes: 0 success, 1 runtime failure (device, memory, I/O), 2 bad usage or bad input. */
#ifndef EVOKE_CLI_H
#define EVOKE_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/context.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* Every subcommand, defined in its own tools/cmd_*.c. */
int cmd_devices(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);

/* Print "evoke: <message>" to stderr and return the exit code for the status. */
int cli_report(evk_status status);

/* Several processes (shard.h): under an MPI launcher, MPI starts here and ranks other than 0
 * print nothing (their stdout and stderr go to /dev/null; a rank's own timeout still reaches
 * the terminal), so the run reads like one process. NULL: one process. Under a launcher the
 * process first splits into a watcher and this worker (evk_shard_mpi_watch: a rank killed outright
 * is reported by its watcher); an MPI start that fails ends the process with its message. */
typedef struct evk_shard evk_shard;
evk_shard *cli_ranks_start(void);
/* The end of a command under cli_ranks_start: MPI finalised (bounded when rc != 0; a failed run's
 * other ranks wait for rank 0 to have reported), rc returned. */
int cli_ranks_end(evk_shard *s, int rc);
/* A failed run's message and exit code on any rank: rank 0 reports, another rank only its own
 * timeouts (the failing rank's message reaches rank 0 as "rank R: ..."). */
int cli_rank_report(const evk_shard *s, evk_status status);
/* Rank 0's verdict on its checks (an exit code) to every rank. */
int cli_ranks_verdict(evk_shard *s, int rc);
/* Print "evoke <cmd>: <printf message>" and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Parse an option value; false after one error line if it is malformed or out of range. Integers
 * are decimal digits only, at least `min` (every uint64_t value for u64: seeds); doubles must
 * be finite. */
bool cli_parse_u32(const char *cmd, const char *option, const char *text, uint32_t min, uint32_t *out);
bool cli_parse_u64(const char *cmd, const char *option, const char *text, uint64_t min, uint64_t *out);
bool cli_parse_double(const char *cmd, const char *option, const char *text, double *out);
/* --devices LIST|all: device indices (comma-separated, a device may repeat: two logical devices
 * on one physical one) or every device `evoke devices` lists; at most max. Returns 0, or the exit
 * code after one error line. */
int cli_parse_devices(const char *cmd, const char *option, const char *text, uint32_t *out, uint32_t max, uint32_t *count);
/* An input file or folder the user named must exist: false after one line,
 * "no such file or directory: PATH" (exit 2), the same way in every command. */
bool cli_input_exists(const char *cmd, const char *option, const char *path);
/* Output files, checked before any compute: each in an existing, writable folder and not a
 * folder itself (else one line and CLI_EXIT_FAILURE), and no two naming the same file (one line,
 * CLI_EXIT_USAGE). options[i] names the option of paths[i]; NULL paths are skipped. Returns 0 when
 * all can be written. */
int cli_outputs_check(const char *cmd, const char *const *options, const char *const *paths, int n);
/* Exit code for a status: usage errors for bad input, failures otherwise. */
int cli_exit_code(evk_status status);
/* Print a help text to stdout with "{rewards}" replaced by the reward types the runtime knows and
 * "{methods}" by the search strategies (a|b|c). */
void cli_print_help(const char *text);
/* "sample, bon, ..." from the strategy table, for messages. */
const char *cli_method_list(void);

/* Make an output path usable before any compute: create its missing parent folders (for a
 * folder output such as `demo --out`, the folder itself too) and check the folder is writable.
 * A NULL path is nothing to do. Fails with EVK_ERROR_IO naming the option, the path and why. */
evk_status cli_prepare_output(const char *option, const char *path, bool is_folder);

/* Where a shipped asset (`rel` is relative to assets/, e.g. "tiny-sd") is, whatever the current
 * folder: next to an installed evoke (<bindir>/../share/evoke/assets), else in the source tree
 * this evoke was built from. Writes the path to out; EVK_ERROR_INVALID_ARGUMENT naming the places
 * looked in and `option` (the one to pass instead) when it is in neither. */
evk_status cli_asset_path(const char *rel, const char *option, char *out, size_t size);

#endif
