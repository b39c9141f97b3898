/* evoke.c — the `evoke` command line: dispatches to one subcommand per tools/cmd_*.c. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "shard.h"
#include "cli.h"
#include "core/file.h"

static const cli_command commands[] = {
    {"devices", "list Vulkan devices and what each supports", cmd_devices},
    {"verify", "check shapes-model images against their caption, claim by claim", cmd_verify},
    {"bench", "time kernels (matmul, conv, attention, ...) against the device's peak", cmd_bench},
    {"generate", "search denoising trajectories for high-reward samples (sample, bon, fk, evo)", cmd_generate},
    {"score", "score images with a reward (e.g. CLIP score against a prompt)", cmd_score},
    {"demo", "the shipped model: plain sampling vs Best-of-N vs EvoSearch, with pictures and a report", cmd_demo},
};
static const size_t command_count = sizeof commands / sizeof commands[0];

static void usage(FILE *out) {
    fprintf(out,
            "usage: evoke <command> [options]\n"
            "\n"
            "Portable Vulkan-compute runtime for image and video generators, with test-time\n"
            "evolutionary search (EvoSearch) over denoising trajectories.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < command_count; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "`evoke <command> --help` describes each command's options.\n"
            "environment: EVOKE_DEVICE=N picks a device, EVOKE_PROFILE=1 prints GPU time per kernel,\n"
            "EVOKE_VALIDATION=1 turns on the Vulkan validation layer, EVOKE_TIMEOUT=S (whole seconds)\n"
            "bounds GPU waits, EVOKE_MEMORY_LIMIT_MB=N caps device memory, EVOKE_SHARD_TIMEOUT=S bounds\n"
            "waits on other devices or MPI ranks (--devices, mpirun; EVOKE_FAULT_RANK=R injects a fault).\n");
}

/* SIGINT / SIGTERM: remove the temporary file of a write in progress (outputs are only ever
 * renamed into place whole), then die of the signal as the shell expects (exit status 130/143). */
static void on_signal(int sig) {
    evk_file_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("evoke 0.1.0\n");
        if (evk_shard_mpi_built()) printf("with MPI: runs under mpirun / srun spread a search over the ranks\n");
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < command_count; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "evoke: unknown command '%s' (see `evoke --help`)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
