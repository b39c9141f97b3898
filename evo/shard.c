/* shard.c — the partition layer (shard.h): the block partition, and the collectives a search
 * needs over three backends — none (NULL shard), threads of one process (shared memory, a timed
 * barrier), and MPI ranks (non-blocking MPI calls polled against a deadline, with failure notices
 * on their own tag). Every call that communicates goes through evk__enter (counting, fault
 * injection) and ends before the deadline with "rank R: <cause>" when a rank failed or hung. */
#include "shard.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#endif

#ifdef EVOKE_MPI
#include <dlfcn.h>
#include <link.h>
#include <mpi.h>
#if defined(__SANITIZE_ADDRESS__)
/* What Open MPI allocates while it starts and stops (and never frees) is not leak-checked. */
#include <sanitizer/lsan_interface.h>
#define EVK__LSAN_OFF() __lsan_disable()
#define EVK__LSAN_ON() __lsan_enable()
#else
#define EVK__LSAN_OFF() ((void)0)
#define EVK__LSAN_ON() ((void)0)
#endif
#endif

enum { EVK__SHARD_THREADS = 1, EVK__SHARD_MPI = 2 };
enum { EVK__FAULT_FAIL = 0, EVK__FAULT_KILL, EVK__FAULT_SEGV, EVK__FAULT_HANG };

/* The shared state of the threads of one group. */
typedef struct evk__group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t n, arrived, refs;
    uint64_t epoch;
    const void **post; /* each rank's published buffer for the current call */
    int fault_rank;    /* -1: none */
    evk_status fault_status;
    char fault_msg[1024];
} evk__group;

struct evk_shard {
    int backend;
    uint32_t rank, size, local_rank;
    double timeout;
    evk__group *group;
    evk_shard_stats stats;
    uint32_t calls;
    int inject_rank, inject_kind;
    uint32_t inject_at; /* the collective the fault strikes (1-based) */
    bool failed_elsewhere;
#ifdef EVOKE_MPI
    MPI_Comm comm;
    char notice[1100];
#endif
};

static double evk__shard_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void evk__shard_env(evk_shard *s) {
    const char *t = getenv("EVOKE_SHARD_TIMEOUT");
    s->timeout = t && atof(t) > 0 ? atof(t) : 600;
    const char *r = getenv("EVOKE_FAULT_RANK"), *k = getenv("EVOKE_FAULT_KIND");
    s->inject_rank = r && *r ? atoi(r) : -1;
    s->inject_kind = k && !strcmp(k, "kill") ? EVK__FAULT_KILL : k && !strcmp(k, "segv") ? EVK__FAULT_SEGV
                   : k && !strcmp(k, "hang") ? EVK__FAULT_HANG : EVK__FAULT_FAIL;
    const char *at = getenv("EVOKE_FAULT_AT");
    s->inject_at = at && atoi(at) > 0 ? (uint32_t)atoi(at) : 2;
}

bool evk_shard_failed_elsewhere(const evk_shard *s) { return s && s->failed_elsewhere; }
uint32_t evk_shard_rank(const evk_shard *s) { return s ? s->rank : 0; }
uint32_t evk_shard_size(const evk_shard *s) { return s ? s->size : 1; }
uint32_t evk_shard_local_rank(const evk_shard *s) { return s ? s->local_rank : 0; }
const char *evk_shard_backend(const evk_shard *s) { return !s ? "single" : s->backend == EVK__SHARD_MPI ? "mpi" : "threads"; }

void evk_shard_get_stats(const evk_shard *s, evk_shard_stats *out) {
    if (s) *out = s->stats;
    else memset(out, 0, sizeof *out);
}

void evk_shard_block(uint32_t n, uint32_t size, uint32_t r, uint32_t *first, uint32_t *count) {
    uint32_t a = (uint32_t)((uint64_t)n * r / size), b = (uint32_t)((uint64_t)n * (r + 1) / size);
    *first = a, *count = b - a;
}

void evk_shard_range(const evk_shard *s, uint32_t n, uint32_t *first, uint32_t *count) {
    evk_shard_block(n, evk_shard_size(s), evk_shard_rank(s), first, count);
}

uint32_t evk_shard_owner(const evk_shard *s, uint32_t n, uint32_t i, uint32_t *local) {
    uint32_t size = evk_shard_size(s), r = (uint32_t)(((uint64_t)i * size + size - 1) / (n ? n : 1)), first, count;
    /* the block formula's inverse, corrected by one either way for rounding */
    if (r >= size) r = size - 1;
    for (;;) {
        evk_shard_block(n, size, r, &first, &count);
        if (i < first) r--;
        else if (i >= first + count) r++;
        else break;
    }
    if (local) *local = i - first;
    return r;
}

/* Every communicating call starts here: counts it and injects the configured fault. */
static evk_status evk__enter(evk_shard *s, const char *what) {
    s->calls++;
    s->stats.collectives++;
    if (s->inject_rank >= 0 && (uint32_t)s->inject_rank == s->rank && s->calls == s->inject_at) {
        if (s->inject_kind == EVK__FAULT_KILL && s->backend == EVK__SHARD_MPI) raise(SIGKILL);
        if (s->inject_kind == EVK__FAULT_SEGV && s->backend == EVK__SHARD_MPI) { /* a crash no handler catches */
            signal(SIGSEGV, SIG_DFL);
            raise(SIGSEGV);
        }
        if (s->inject_kind == EVK__FAULT_HANG && s->backend == EVK__SHARD_MPI)
            for (;;) pause();
        return evk_fail(EVK_ERROR_DEVICE_LOST, "injected fault (EVOKE_FAULT_RANK=%d) before the %s", s->inject_rank, what);
    }
    return EVK_OK;
}

/* ---- threads ----------------------------------------------------------------------------------- */

static evk_status evk__group_fault_error(evk_shard *s) {
    evk__group *g = s->group;
    if ((uint32_t)g->fault_rank != s->rank) s->failed_elsewhere = true;
    return evk_fail(g->fault_status, "rank %d: %s", g->fault_rank, g->fault_msg);
}

/* Publish `mine` and wait for every rank of the group (or a failure, or the deadline). */
static evk_status evk__group_barrier(evk_shard *s, const void *mine, const char *what) {
    evk__group *g = s->group;
    pthread_mutex_lock(&g->mu);
    if (g->fault_rank >= 0) {
        evk_status st = evk__group_fault_error(s);
        pthread_mutex_unlock(&g->mu);
        return st;
    }
    if (mine) g->post[s->rank] = mine; /* the closing barrier (NULL) keeps it: others may still read */
    uint64_t epoch = g->epoch;
    if (++g->arrived == g->n) {
        g->arrived = 0, g->epoch++;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        return EVK_OK;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double t = dl.tv_sec + dl.tv_nsec * 1e-9 + s->timeout;
    dl.tv_sec = (time_t)t, dl.tv_nsec = (long)((t - (double)dl.tv_sec) * 1e9);
    while (g->epoch == epoch && g->fault_rank < 0) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT && g->epoch == epoch && g->fault_rank < 0) {
            g->fault_rank = (int)s->rank, g->fault_status = EVK_ERROR_TIMEOUT;
            snprintf(g->fault_msg, sizeof g->fault_msg, "timed out after %g s waiting for the other ranks in the %s", s->timeout, what);
            pthread_cond_broadcast(&g->cv);
        }
    }
    evk_status st = g->epoch != epoch ? EVK_OK : evk__group_fault_error(s);
    pthread_mutex_unlock(&g->mu);
    return st;
}

evk_status evk_shard_group_create(uint32_t n, evk_shard **shards) {
    if (n < 1) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "shard: a group needs at least one member");
    evk__group *g = calloc(1, sizeof *g);
    if (g) g->post = calloc(n, sizeof *g->post);
    if (!g || !g->post) {
        if (g) free(g);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->n = n, g->refs = n, g->fault_rank = -1;
    for (uint32_t i = 0; i < n; i++) {
        shards[i] = calloc(1, sizeof **shards);
        if (!shards[i]) {
            for (uint32_t j = 0; j < i; j++) free(shards[j]);
            free(g->post), free(g);
            return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        shards[i]->backend = EVK__SHARD_THREADS, shards[i]->rank = shards[i]->local_rank = i, shards[i]->size = n, shards[i]->group = g;
        evk__shard_env(shards[i]);
    }
    return EVK_OK;
}

/* ---- MPI --------------------------------------------------------------------------------------- */

#ifdef EVOKE_MPI
enum { EVK__TAG_ROWS = 11, EVK__TAG_FAULT = 12, EVK__TAG_REPORTED = 13 };

/* Poll requests until done, a failure notice arrives, or the deadline. */
static evk_status evk__mpi_wait(evk_shard *s, int n, MPI_Request *reqs, const char *what) {
    double deadline = evk__shard_now() + s->timeout;
    long pause_ns = 2000;
    for (;;) {
        int done = 1;
        if (n) MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (done) return EVK_OK;
        int flag = 0;
        MPI_Status ms;
        MPI_Iprobe(MPI_ANY_SOURCE, EVK__TAG_FAULT, s->comm, &flag, &ms);
        if (flag) {
            char buf[sizeof s->notice];
            int len = 0;
            MPI_Get_count(&ms, MPI_BYTE, &len);
            if (len > (int)sizeof buf) len = (int)sizeof buf;
            MPI_Recv(buf, len, MPI_BYTE, ms.MPI_SOURCE, EVK__TAG_FAULT, s->comm, MPI_STATUS_IGNORE);
            int32_t code;
            memcpy(&code, buf, sizeof code);
            buf[len > 4 ? len - 1 : 4] = 0;
            s->failed_elsewhere = true;
            return evk_fail(code > 0 ? (evk_status)code : EVK_ERROR_INTERNAL, "rank %d: %s", ms.MPI_SOURCE, buf + 4);
        }
        if (evk__shard_now() > deadline)
            return evk_fail(EVK_ERROR_TIMEOUT, "timed out after %g s waiting for the other ranks in the %s", s->timeout, what);
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 1000000) pause_ns *= 2;
    }
}

static int evk__pin_plugin(struct dl_phdr_info *info, size_t size, void *user);

/* The launcher's word: mpirun (OMPI_*), a PMIx or PMI server (srun --mpi=pmix / pmi2 sets PMIX_RANK
 * / PMI_RANK), or srun itself (a step of several tasks: SLURM_STEP_NUM_TASKS; a batch script's own
 * shell has SLURM_NTASKS but is one process, and is not taken for a rank). */
static bool evk__launched_by_mpi(void) {
    const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (getenv(v[i])) return true;
    const char *tasks = getenv("SLURM_STEP_NUM_TASKS");
    return getenv("SLURM_PROCID") && tasks && atoi(tasks) > 1;
}

/* How many processes the launcher started, by its environment (0: it does not say). */
static int evk__launched_size(void) {
    const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (getenv(v[i]) && atoi(getenv(v[i])) > 0) return atoi(getenv(v[i]));
    return 0;
}

static evk_status evk__mpi_count(size_t bytes, int *out, const char *what) {
    if (bytes > (size_t)2147483647) return evk_fail(EVK_ERROR_UNSUPPORTED, "shard: the %s moves %zu bytes at once, more than MPI's 2 GiB per message", what, bytes);
    *out = (int)bytes;
    return EVK_OK;
}
#endif

/* ---- the watcher of a rank (MPI launches, Linux) ------------------------------------------------ */

#if defined(EVOKE_MPI) && defined(__linux__)
/* What the working child tells its watcher: shared memory mapped before the fork. */
typedef struct evk__watch_page {
    int32_t rank, size; /* -1 until MPI has said */
    int32_t agreed;     /* every rank agreed to write (rank 0 may be writing) */
    char phase[224];    /* "after evo generation 2" */
} evk__watch_page;

static evk__watch_page *evk__page; /* in the child; NULL elsewhere */
static volatile sig_atomic_t evk__watch_forwarded;
static volatile pid_t evk__watch_child;
static const int evk__watch_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void evk__watch_forward(int sig) {
    evk__watch_forwarded = sig;
    if (evk__watch_child > 0) kill(evk__watch_child, sig);
}

static int evk__env_int(const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return -1;
}
#endif

void evk_shard_mpi_watch(void) {
#if defined(EVOKE_MPI) && defined(__linux__)
    if (!evk__launched_by_mpi() || evk__page) return;
    const char *off = getenv("EVOKE_SHARD_WATCH");
    if (off && !strcmp(off, "0")) return;
    evk__watch_page *page = mmap(NULL, sizeof *page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return; /* unwatched: a killed rank is then reported by the launcher */
    page->rank = page->size = -1;
    snprintf(page->phase, sizeof page->phase, "while starting");
    fflush(stdout), fflush(stderr);
    pid_t parent = getpid();
    sigset_t set, old;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof evk__watch_signals / sizeof evk__watch_signals[0]; i++) sigaddset(&set, evk__watch_signals[i]);
    sigprocmask(SIG_BLOCK, &set, &old); /* none may arrive before the watcher knows its child */
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        munmap(page, sizeof *page);
        return;
    }
    if (pid == 0) { /* the worker: dies with its watcher */
        sigprocmask(SIG_SETMASK, &old, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        evk__page = page;
        return;
    }
    evk__watch_child = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = evk__watch_forward;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof evk__watch_signals / sizeof evk__watch_signals[0]; i++) sigaction(evk__watch_signals[i], &sa, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) _exit(1);
    if (WIFEXITED(ws)) _exit(WEXITSTATUS(ws)); /* it said why itself (or rank 0 did) */
    int fwd = evk__watch_forwarded;
    if (fwd) { /* the launcher (or the user) ended it: end as it asked, without a word */
        signal(fwd, SIG_DFL);
        raise(fwd);
        _exit(128 + fwd);
    }
    int sig = WTERMSIG(ws);
    static const char *const rank_env[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    static const char *const size_env[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"};
    int rank = page->rank >= 0 ? page->rank : evk__env_int(rank_env, 4), size = page->size >= 0 ? page->size : evk__env_int(size_env, 4);
    char who[64];
    if (size > 0) snprintf(who, sizeof who, "rank %d of %d", rank, size);
    else snprintf(who, sizeof who, "rank %d", rank);
    char phase[sizeof page->phase];
    memcpy(phase, page->phase, sizeof phase);
    phase[sizeof phase - 1] = 0;
    fprintf(stderr, "evoke: %s ended (killed by signal %d, %s) %s%s\n", who, sig, strsignal(sig), phase,
            page->agreed ? "" : "; nothing written");
    fflush(stderr);
    _exit(1);
#endif
}

void evk_shard_note(const char *fmt, ...) {
#if defined(EVOKE_MPI) && defined(__linux__)
    if (!evk__page) return;
    char text[sizeof evk__page->phase];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    memcpy(evk__page->phase, text, sizeof text);
#else
    (void)fmt;
#endif
}

bool evk_shard_mpi_built(void) {
#ifdef EVOKE_MPI
    return true;
#else
    return false;
#endif
}

evk_status evk_shard_mpi_init(int *argc, char ***argv, evk_shard **out) {
    *out = NULL;
#ifdef EVOKE_MPI
    if (!evk__launched_by_mpi()) return EVK_OK;
    int ok = 0;
    MPI_Initialized(&ok);
    EVK__LSAN_OFF();
    int rc = ok ? MPI_SUCCESS : MPI_Init(argc, argv);
    EVK__LSAN_ON();
    if (rc != MPI_SUCCESS) return evk_fail(EVK_ERROR_UNSUPPORTED, "MPI_Init failed");
    dl_iterate_phdr(evk__pin_plugin, NULL);
    evk_shard *s = calloc(1, sizeof *s);
    if (!s) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->backend = EVK__SHARD_MPI;
    MPI_Comm_dup(MPI_COMM_WORLD, &s->comm);
    MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
    int rank, size, lrank;
    MPI_Comm_rank(s->comm, &rank);
    MPI_Comm_size(s->comm, &size);
    int launched = evk__launched_size();
    if (launched > 1 && size != launched) {
        /* e.g. srun without a PMI plugin Open MPI can use: every task would run the whole job alone */
        MPI_Comm_free(&s->comm);
        free(s);
        EVK__LSAN_OFF();
        MPI_Finalize();
        EVK__LSAN_ON();
        return evk_fail(EVK_ERROR_UNSUPPORTED,
                        "the launcher started %d processes but MPI sees %d: under srun pass --mpi=pmix (the PMI Open MPI was built "
                        "with; see `srun --mpi=list`)",
                        launched, size);
    }
    MPI_Comm node;
    MPI_Comm_split_type(s->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &lrank);
    MPI_Comm_free(&node);
    s->rank = (uint32_t)rank, s->size = (uint32_t)size, s->local_rank = (uint32_t)lrank;
    evk__shard_env(s);
#ifdef __linux__
    if (evk__page) evk__page->rank = rank, evk__page->size = size;
#endif
    *out = s;
    return EVK_OK;
#else
    (void)argc, (void)argv;
    return EVK_OK;
#endif
}

#ifdef EVOKE_MPI
/* Open MPI's and PMIx's plugins (…/openmpi/…/mca_*.so, …/pmix2/…/mca_*.so) stay mapped until the process exits: MPI_Finalize
 * would unload them, and what they left behind could no longer be named by a leak checker
 * (tests/lsan.supp suppresses what Open MPI and PMIx leave by their libraries' paths). */
static int evk__pin_plugin(struct dl_phdr_info *info, size_t size, void *user) {
    (void)size, (void)user;
    if (info->dlpi_name && strstr(info->dlpi_name, "mca_") && (strstr(info->dlpi_name, "/openmpi/") || strstr(info->dlpi_name, "/pmix")))
        dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    return 0;
}

static void evk__watchdog(int sig) {
    (void)sig;
    _exit(1);
}
#endif

void evk_shard_destroy(evk_shard *s, bool failed) {
    if (!s) return;
    if (s->backend == EVK__SHARD_THREADS) {
        evk__group *g = s->group;
        pthread_mutex_lock(&g->mu);
        bool last = --g->refs == 0;
        pthread_mutex_unlock(&g->mu);
        if (last) {
            pthread_mutex_destroy(&g->mu);
            pthread_cond_destroy(&g->cv);
            free(g->post);
            free(g);
        }
    }
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI) {
        if (failed && s->rank != 0 && s->size > 1) {
            /* stay until rank 0 has reported the failure (the launcher ends the job when the first
             * process exits non-zero): its word, or 10 s */
            double deadline = evk__shard_now() + 10;
            int flag = 0;
            while (!flag && evk__shard_now() < deadline) {
                MPI_Iprobe(0, EVK__TAG_REPORTED, s->comm, &flag, MPI_STATUS_IGNORE);
                struct timespec ts = {0, 1000000};
                if (!flag) nanosleep(&ts, NULL);
            }
            if (flag) MPI_Recv(NULL, 0, MPI_BYTE, 0, EVK__TAG_REPORTED, s->comm, MPI_STATUS_IGNORE);
        }
        if (failed) {
            /* the others may be gone or stuck in a collective that cannot complete: finalise, but
             * give up after 2 s (exit status 1 either way) */
            fflush(stdout), fflush(stderr);
            signal(SIGALRM, evk__watchdog);
            alarm(2);
        }
        MPI_Comm_free(&s->comm);
        dl_iterate_phdr(evk__pin_plugin, NULL);
        EVK__LSAN_OFF();
        MPI_Finalize();
        EVK__LSAN_ON();
        if (failed) alarm(0);
    }
#endif
    (void)failed;
    free(s);
}

void evk_shard_reported(evk_shard *s) {
#ifdef EVOKE_MPI
    if (!s || s->backend != EVK__SHARD_MPI || s->rank != 0 || s->size < 2) return;
    MPI_Request *reqs = calloc(s->size, sizeof *reqs);
    int n = 0;
    for (uint32_t r = 1; reqs && r < s->size; r++) MPI_Isend(NULL, 0, MPI_BYTE, (int)r, EVK__TAG_REPORTED, s->comm, &reqs[n++]);
    double deadline = evk__shard_now() + 2;
    int done = 0;
    while (reqs && !done && evk__shard_now() < deadline) {
        MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        struct timespec ts = {0, 1000000};
        if (!done) nanosleep(&ts, NULL);
    }
    free(reqs);
#else
    (void)s;
#endif
}

void evk_shard_fail(evk_shard *s, evk_status st) {
    if (!s || s->failed_elsewhere) return; /* another rank's failure: that rank tells */
    const char *msg = evk_error_message();
    if (s->backend == EVK__SHARD_THREADS) {
        evk__group *g = s->group;
        pthread_mutex_lock(&g->mu);
        if (g->fault_rank < 0) {
            g->fault_rank = (int)s->rank, g->fault_status = st;
            snprintf(g->fault_msg, sizeof g->fault_msg, "%s", msg && *msg ? msg : evk_status_name(st));
            pthread_cond_broadcast(&g->cv);
        }
        pthread_mutex_unlock(&g->mu);
    }
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI && s->size > 1) {
        int32_t code = (int32_t)st;
        memcpy(s->notice, &code, sizeof code);
        int len = snprintf(s->notice + 4, sizeof s->notice - 4, "%s", msg && *msg ? msg : evk_status_name(st));
        if (len > (int)sizeof s->notice - 5) len = (int)sizeof s->notice - 5;
        MPI_Request *reqs = calloc(s->size, sizeof *reqs);
        int n = 0;
        for (uint32_t r = 0; reqs && r < s->size; r++)
            if (r != s->rank) MPI_Isend(s->notice, len + 5, MPI_BYTE, (int)r, EVK__TAG_FAULT, s->comm, &reqs[n++]);
        /* small messages leave at once; a peer that is gone must not hold this rank */
        double deadline = evk__shard_now() + 2;
        int done = 0;
        while (reqs && !done && evk__shard_now() < deadline) {
            MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
            struct timespec ts = {0, 1000000};
            if (!done) nanosleep(&ts, NULL);
        }
        free(reqs);
    }
#endif
}

evk_status evk_shard_agree(evk_shard *s, evk_status mine) {
    if (!s || s->size == 1) return mine;
    if (mine) {
        if (!s->failed_elsewhere && s->rank == 0) {
            /* name the rank in rank 0's own message too */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", evk_error_message());
            evk_shard_fail(s, mine);
            return evk_fail(mine, "rank 0: %s", msg);
        }
        evk_shard_fail(s, mine);
        return mine;
    }
    double t0 = evk__shard_now();
    evk_status st = EVK_OK;
    s->stats.collectives++;
    if (s->backend == EVK__SHARD_THREADS) st = evk__group_barrier(s, NULL, "final agreement");
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI) {
        MPI_Request rq;
        MPI_Ibarrier(s->comm, &rq);
        st = evk__mpi_wait(s, 1, &rq, "final agreement");
    }
#endif
    s->stats.seconds += evk__shard_now() - t0;
    if (st && !s->failed_elsewhere) evk_shard_fail(s, st);
#if defined(EVOKE_MPI) && defined(__linux__)
    if (!st && s->backend == EVK__SHARD_MPI && evk__page) {
        evk_shard_note("after every rank had agreed to write the results (rank 0 may have written them)");
        evk__page->agreed = 1;
    }
#endif
    return st;
}

evk_status evk_shard_gather(evk_shard *s, const void *mine, size_t item, uint32_t n, void *all, bool root_only, const char *what) {
    uint32_t first, count;
    evk_shard_range(s, n, &first, &count);
    if (!s || s->size == 1) {
        if (count && all != mine) memmove(all, mine, (size_t)count * item);
        return EVK_OK;
    }
    EVK_TRY(evk__enter(s, what));
    double t0 = evk__shard_now();
    evk_status st = EVK_OK;
    bool receive = !root_only || s->rank == 0;
    s->stats.bytes_sent += root_only && s->rank == 0 ? 0 : (uint64_t)count * item * (root_only ? 1 : s->size - 1);
    if (receive) s->stats.bytes_received += (uint64_t)(n - count) * item;
    if (s->backend == EVK__SHARD_THREADS) {
        st = evk__group_barrier(s, mine, what);
        if (!st && receive)
            for (uint32_t r = 0; r < s->size; r++) {
                uint32_t f, c;
                evk_shard_block(n, s->size, r, &f, &c);
                if (c) memcpy((char *)all + (size_t)f * item, s->group->post[r], (size_t)c * item);
            }
        if (!st) st = evk__group_barrier(s, NULL, what);
    }
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI) {
        int *counts = malloc(2 * s->size * sizeof *counts), mycount = 0;
        if (!counts) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t r = 0; r < s->size && !st; r++) {
            uint32_t f, c;
            evk_shard_block(n, s->size, r, &f, &c);
            st = evk__mpi_count((size_t)c * item, &counts[r], what);
            if (!st) st = evk__mpi_count((size_t)f * item, &counts[s->size + r], what);
        }
        if (!st) st = evk__mpi_count((size_t)count * item, &mycount, what);
        static char dummy;
        const void *sendbuf = count ? mine : &dummy;
        MPI_Request rq;
        if (!st && root_only)
            MPI_Igatherv(sendbuf, mycount, MPI_BYTE, all, counts, counts + s->size, MPI_BYTE, 0, s->comm, &rq);
        else if (!st)
            MPI_Iallgatherv(sendbuf, mycount, MPI_BYTE, all, counts, counts + s->size, MPI_BYTE, s->comm, &rq);
        if (!st) st = evk__mpi_wait(s, 1, &rq, what);
        free(counts);
    }
#endif
    s->stats.seconds += evk__shard_now() - t0;
    return st;
}

evk_status evk_shard_sum_u64(evk_shard *s, uint64_t *v, uint32_t count, const char *what) {
    if (!s || s->size == 1) return EVK_OK;
    EVK_TRY(evk__enter(s, what));
    double t0 = evk__shard_now();
    evk_status st = EVK_OK;
    s->stats.bytes_sent += (uint64_t)count * 8 * (s->size - 1);
    s->stats.bytes_received += (uint64_t)count * 8 * (s->size - 1);
    if (s->backend == EVK__SHARD_THREADS) {
        uint64_t *mine = malloc(count * sizeof *mine);
        if (!mine) return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        memcpy(mine, v, count * sizeof *v);
        st = evk__group_barrier(s, mine, what);
        if (!st) {
            memset(v, 0, count * sizeof *v);
            for (uint32_t r = 0; r < s->size; r++)
                for (uint32_t i = 0; i < count; i++) v[i] += ((const uint64_t *)s->group->post[r])[i];
            st = evk__group_barrier(s, NULL, what);
        }
        free(mine);
    }
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI) {
        MPI_Request rq;
        MPI_Iallreduce(MPI_IN_PLACE, v, (int)count, MPI_UINT64_T, MPI_SUM, s->comm, &rq);
        st = evk__mpi_wait(s, 1, &rq, what);
    }
#endif
    s->stats.seconds += evk__shard_now() - t0;
    return st;
}

evk_status evk_shard_broadcast(evk_shard *s, void *buf, size_t bytes, uint32_t root, const char *what) {
    if (!s || s->size == 1) return EVK_OK;
    EVK_TRY(evk__enter(s, what));
    double t0 = evk__shard_now();
    evk_status st = EVK_OK;
    if (s->rank == root) s->stats.bytes_sent += (uint64_t)bytes * (s->size - 1);
    else s->stats.bytes_received += bytes;
    if (s->backend == EVK__SHARD_THREADS) {
        st = evk__group_barrier(s, buf, what);
        if (!st && s->rank != root) memcpy(buf, s->group->post[root], bytes);
        if (!st) st = evk__group_barrier(s, NULL, what);
    }
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI) {
        int n = 0;
        st = evk__mpi_count(bytes, &n, what);
        MPI_Request rq;
        if (!st) MPI_Ibcast(buf, n, MPI_BYTE, (int)root, s->comm, &rq);
        if (!st) st = evk__mpi_wait(s, 1, &rq, what);
    }
#endif
    s->stats.seconds += evk__shard_now() - t0;
    return st;
}

/* The messages of an exchange, computed alike on every rank from the global source arrays: for
 * each ordered pair (from, to) of different ranks, the distinct source rows of `from` that `to`'s
 * block needs, in order of first use. slot[j] (j in this rank's block, source elsewhere): the
 * index of its row in the message from its source rank; sent[p] / recv[p]: rows per message. */
typedef struct evk__plan {
    uint32_t *slot, *sent, *recv;
} evk__plan;

static void evk__plan_free(evk__plan *pl) { free(pl->slot), free(pl->sent), free(pl->recv); }

static evk_status evk__plan_make(const evk_shard *s, uint32_t n, const uint32_t *src_rank, const uint32_t *src_row, evk__plan *pl) {
    uint32_t P = s->size, first, count, maxrow = 0;
    evk_shard_range(s, n, &first, &count);
    for (uint32_t j = 0; j < n; j++) maxrow = src_row[j] + 1 > maxrow ? src_row[j] + 1 : maxrow;
    pl->slot = malloc((count ? count : 1) * sizeof *pl->slot), pl->sent = calloc(P, sizeof *pl->sent), pl->recv = calloc(P, sizeof *pl->recv);
    uint32_t *seen = malloc((maxrow ? maxrow : 1) * sizeof *seen); /* index + 1 of a row in the current message; 0: not yet */
    if (!pl->slot || !pl->sent || !pl->recv || !seen) {
        free(seen), evk__plan_free(pl);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t to = 0; to < P; to++) { /* messages from this rank to `to` */
        if (to == s->rank) continue;
        uint32_t f, c;
        evk_shard_block(n, P, to, &f, &c);
        memset(seen, 0, maxrow * sizeof *seen);
        for (uint32_t j = f; j < f + c; j++)
            if (src_rank[j] == s->rank && !seen[src_row[j]]) seen[src_row[j]] = ++pl->sent[to];
    }
    for (uint32_t from = 0; from < P; from++) { /* messages from `from` to this rank */
        if (from == s->rank) continue;
        memset(seen, 0, maxrow * sizeof *seen);
        for (uint32_t j = first; j < first + count; j++)
            if (src_rank[j] == from) {
                if (!seen[src_row[j]]) seen[src_row[j]] = ++pl->recv[from];
                pl->slot[j - first] = seen[src_row[j]] - 1;
            }
    }
    free(seen);
    return EVK_OK;
}

evk_status evk_shard_exchange_rows(evk_shard *s, uint32_t n, const uint32_t *src_rank, const uint32_t *src_row, const void *src,
                                   size_t row_bytes, void *dst, const char *what) {
    uint32_t first, count;
    evk_shard_range(s, n, &first, &count);
    if (!s || s->size == 1) {
        for (uint32_t j = first; j < first + count; j++)
            memcpy((char *)dst + (size_t)(j - first) * row_bytes, (const char *)src + (size_t)src_row[j] * row_bytes, row_bytes);
        return EVK_OK;
    }
    EVK_TRY(evk__enter(s, what));
    double t0 = evk__shard_now();
    evk__plan pl;
    evk_status st = evk__plan_make(s, n, src_rank, src_row, &pl);
    if (st) return st;
    uint32_t P = s->size;
    for (uint32_t p = 0; p < P; p++) s->stats.bytes_sent += (uint64_t)pl.sent[p] * row_bytes, s->stats.bytes_received += (uint64_t)pl.recv[p] * row_bytes;
    if (s->backend == EVK__SHARD_THREADS) { /* shared memory: each rank copies what its block needs */
        st = evk__group_barrier(s, src, what);
        for (uint32_t j = first; !st && j < first + count; j++)
            memcpy((char *)dst + (size_t)(j - first) * row_bytes, (const char *)s->group->post[src_rank[j]] + (size_t)src_row[j] * row_bytes,
                   row_bytes);
        if (!st) st = evk__group_barrier(s, NULL, what);
    }
#ifdef EVOKE_MPI
    if (s->backend == EVK__SHARD_MPI) {
        /* per peer one message each way: the distinct rows it needs from here, in order of first use */
        size_t *soff = calloc(P + 1, sizeof *soff), *roff = calloc(P + 1, sizeof *roff);
        MPI_Request *reqs = calloc(2 * P, sizeof *reqs);
        char *sbuf = NULL, *rbuf = NULL;
        uint32_t *seen = NULL, maxrow = 0;
        for (uint32_t j = 0; j < n; j++) maxrow = src_row[j] + 1 > maxrow ? src_row[j] + 1 : maxrow;
        if (!soff || !roff || !reqs || !(seen = malloc((maxrow ? maxrow : 1) * sizeof *seen)))
            st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t p = 0; !st && p < P; p++)
            soff[p + 1] = soff[p] + (size_t)pl.sent[p] * row_bytes, roff[p + 1] = roff[p] + (size_t)pl.recv[p] * row_bytes;
        if (!st && ((soff[P] && !(sbuf = malloc(soff[P]))) || (roff[P] && !(rbuf = malloc(roff[P])))))
            st = evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t to = 0; !st && to < P; to++) { /* pack, in the plan's order */
            if (to == s->rank || !pl.sent[to]) continue;
            uint32_t f, c, k = 0;
            evk_shard_block(n, P, to, &f, &c);
            memset(seen, 0, maxrow * sizeof *seen);
            for (uint32_t j = f; j < f + c; j++)
                if (src_rank[j] == s->rank && !seen[src_row[j]]) {
                    seen[src_row[j]] = 1;
                    memcpy(sbuf + soff[to] + (size_t)k++ * row_bytes, (const char *)src + (size_t)src_row[j] * row_bytes, row_bytes);
                }
        }
        int nr = 0;
        for (uint32_t p = 0; !st && p < P; p++) {
            int c = 0;
            if (roff[p + 1] > roff[p] && !(st = evk__mpi_count(roff[p + 1] - roff[p], &c, what)))
                MPI_Irecv(rbuf + roff[p], c, MPI_BYTE, (int)p, EVK__TAG_ROWS, s->comm, &reqs[nr++]);
            if (!st && soff[p + 1] > soff[p] && !(st = evk__mpi_count(soff[p + 1] - soff[p], &c, what)))
                MPI_Isend(sbuf + soff[p], c, MPI_BYTE, (int)p, EVK__TAG_ROWS, s->comm, &reqs[nr++]);
        }
        if (!st) st = evk__mpi_wait(s, nr, reqs, what);
        for (uint32_t j = first; !st && j < first + count; j++) {
            char *d = (char *)dst + (size_t)(j - first) * row_bytes;
            uint32_t p = src_rank[j];
            if (p == s->rank) memcpy(d, (const char *)src + (size_t)src_row[j] * row_bytes, row_bytes);
            else memcpy(d, rbuf + roff[p] + (size_t)pl.slot[j - first] * row_bytes, row_bytes);
        }
        /* on failure the requests may still be pending: the buffers stay (the run ends) */
        if (!st) free(sbuf), free(rbuf), free(reqs);
        free(seen), free(soff), free(roff);
    }
#endif
    evk__plan_free(&pl);
    s->stats.seconds += evk__shard_now() - t0;
    return st;
}
