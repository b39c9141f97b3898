/* shard.h — one search's population spread over several devices or processes.
 *
 * A shard is one member ("rank") of a group that runs the same search together. Individuals keep
 * their global ids and every random draw is keyed by (seed, individual, step), so the partition
 * never changes a result: each rank holds a contiguous block of every population (evk_shard_range),
 * denoises and scores only its block, and the few values selection needs (scores, counters) are
 * all-gathered, so selection is computed identically everywhere. States move only when a parent
 * lives on another rank (evk_shard_exchange_rows), and the final population and best sample are
 * gathered to rank 0, the only rank that writes.
 *
 * Backends: none (a NULL shard: one process, one device; every call is a no-op), threads in one
 * process (evk_shard_group_create: one shard per device, each thread with its own context and
 * model), and MPI ranks (evk_shard_mpi_init: one process per device under mpirun / srun; built
 * only when Open MPI was found, see evk_shard_mpi_built).
 *
 * Every wait is bounded (EVOKE_SHARD_TIMEOUT seconds, default 600): a collective that does not
 * complete in time, or a rank that fails (evk_shard_fail), ends the call on every rank with one
 * message naming the rank and the cause — never a hang. A rank killed outright cannot say anything
 * itself: under MPI its watcher process does (evk_shard_mpi_watch), and the launcher ends the rest.
 * EVOKE_FAULT_RANK=r (with EVOKE_FAULT_KIND=fail|kill|segv|hang, default fail, and EVOKE_FAULT_AT=k,
 * default 2) makes rank r fail, be killed by SIGKILL or SIGSEGV (MPI only), or stop for good at its
 * k-th collective: the fault tests. */
#ifndef EVK_SHARD_H
#define EVK_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_shard evk_shard;

typedef struct evk_shard_stats {
    uint64_t collectives;   /* calls that communicated */
    uint64_t bytes_sent;    /* payload this rank sent (a broadcast's root counts once per receiver) */
    uint64_t bytes_received;
    double seconds;         /* host time inside the calls, waiting included */
} evk_shard_stats;

/* Under an MPI launcher, on Linux, in an MPI build: split this process in two, before
 * evk_shard_mpi_init and before any device is touched. The process the launcher started stays a
 * small watcher; its child returns from this call and does the work (MPI, the device, the search).
 * When the child is killed outright (SIGKILL, a segfault, the kernel's out-of-memory killer), the
 * watcher prints the one line "evoke: rank R of N ended (killed by signal S, <name>) <phase>;
 * nothing written" (phase: evk_shard_note's last word) and exits 1 — so the launcher sees a rank
 * that exited 1 rather than one killed by a signal, and ends the job as it does for any failed rank
 * (mpirun: SIGTERM to the others; srun: with --kill-on-bad-exit). Signals the launcher or the user
 * send the watcher (TERM, INT, HUP, QUIT, USR1, USR2) are passed to the child, and the watcher then
 * ends by the same signal without a word; the child dies with the watcher (PR_SET_PDEATHSIG). A
 * child that exits (after saying why itself, or rank 0 did) passes its status on. Not under a
 * launcher, or EVOKE_SHARD_WATCH=0: returns at once and nothing is forked. */
void evk_shard_mpi_watch(void);
/* What this process is doing, for the watcher's line if it is killed: a phrase such as "after evo
 * generation 2" (printf-style; a no-op when there is no watcher). evk_shard_agree notes on its own
 * that every rank agreed to write. */
void evk_shard_note(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Whether this build has the MPI backend. */
bool evk_shard_mpi_built(void);
/* Under an MPI launcher (its environment says so: mpirun's OMPI_COMM_WORLD_*, PMIX_RANK or PMI_RANK
 * from srun --mpi=pmix / pmi2, or srun's SLURM_PROCID with SLURM_STEP_NUM_TASKS > 1) initialise MPI
 * and return this process's rank; otherwise (or built without MPI) *out = NULL: one process. When
 * the launcher says it started more processes than MPI sees (srun without a PMI plugin Open MPI can
 * use), fails rather than let every process run the whole job alone. Call once, first (after
 * evk_shard_mpi_watch). */
evk_status evk_shard_mpi_init(int *argc, char ***argv, evk_shard **out);
/* n shards of one group in this process, one per thread (shards[i] is rank i). */
evk_status evk_shard_group_create(uint32_t n, evk_shard **shards);
/* Leave the group. `failed`: this rank ends after a failure (MPI: finalise without waiting for
 * the others longer than the timeout). The MPI shard is destroyed last in its process. */
void evk_shard_destroy(evk_shard *s, bool failed);

uint32_t evk_shard_rank(const evk_shard *s); /* NULL: 0 */
uint32_t evk_shard_size(const evk_shard *s); /* NULL: 1 */
/* Under MPI, the rank among those on this host (for picking a device); else the rank. */
uint32_t evk_shard_local_rank(const evk_shard *s);
const char *evk_shard_backend(const evk_shard *s); /* "single", "threads", "mpi" */

/* The block of n items rank r holds: [*first, *first + *count). */
void evk_shard_block(uint32_t n, uint32_t size, uint32_t r, uint32_t *first, uint32_t *count);
/* This rank's block. */
void evk_shard_range(const evk_shard *s, uint32_t n, uint32_t *first, uint32_t *count);
/* Which rank holds item i of n, and its index there. */
uint32_t evk_shard_owner(const evk_shard *s, uint32_t n, uint32_t i, uint32_t *local);

/* all[n·item] = every rank's block (mine: this rank's count of items of `item` bytes). With
 * root_only only rank 0 receives (all is untouched elsewhere). `what` names it in messages. */
evk_status evk_shard_gather(evk_shard *s, const void *mine, size_t item, uint32_t n, void *all, bool root_only, const char *what);
/* v[count] = the sum over ranks. */
evk_status evk_shard_sum_u64(evk_shard *s, uint64_t *v, uint32_t count, const char *what);
/* buf[bytes] from rank root to all. */
evk_status evk_shard_broadcast(evk_shard *s, void *buf, size_t bytes, uint32_t root, const char *what);
/* Rows between ranks: destination j of n (blocked like any population) takes row src_row[j] of
 * rank src_rank[j]'s `src` (this rank's source rows, row_bytes each); dst: this rank's block of
 * the destinations. src_rank and src_row are the same on every rank. */
evk_status evk_shard_exchange_rows(evk_shard *s, uint32_t n, const uint32_t *src_rank, const uint32_t *src_row, const void *src,
                                   size_t row_bytes, void *dst, const char *what);
/* The end of a run before anything is written: with mine == EVK_OK, waits for every rank's
 * verdict and returns the first failure (the failing rank's message); otherwise tells the others
 * this rank failed (evk_shard_fail) and returns mine. */
evk_status evk_shard_agree(evk_shard *s, evk_status mine);
/* Tell the other ranks this rank failed with `st` and the current error message; their next (or
 * current) call fails with "rank R: <message>". */
void evk_shard_fail(evk_shard *s, evk_status st);
/* Rank 0 has reported a failure: the other ranks, waiting for this in evk_shard_destroy, may
 * end (a launcher ends the whole job when the first process exits non-zero). */
void evk_shard_reported(evk_shard *s);
/* Whether the error of a failed call is another rank's (this rank need not report it). */
bool evk_shard_failed_elsewhere(const evk_shard *s);

void evk_shard_get_stats(const evk_shard *s, evk_shard_stats *out);

#ifdef __cplusplus
}
#endif
#endif
