/* test_shard.c — the partition layer (evo/shard.h) with its threads backend: the block partition
 * and its inverse; every strategy (sample, bon, fk with resampling, evo) run by 2 and 3 ranks —
 * populations that do not divide evenly, and one smaller than the ranks — equal bit for bit to
 * the run on one device (final population, rewards, best sample, every generation entry);
 * collectives moving what they promise; and a rank that fails mid-run (EVOKE_FAULT_RANK) ending
 * every rank promptly with one message naming it; and, in an MPI build, the watcher process of a
 * rank (evk_shard_mpi_watch, under a launcher's environment set by hand): the one line for a child
 * killed by a signal, its exit status passed on otherwise, and a signal sent to the watcher passed
 * to the child without a word. The MPI backend runs the same code paths under mpirun:
 * tests/cli/cli_mpi.sh. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "search.h"
#include "shard.h"

#define MAX_RANKS 3

/* One rank's search on its own context, with no cmocka calls (it runs in a thread). */
typedef struct rank_job {
    evk_context *ctx;
    evk_search_config config;
    evk_search_result *result;
    evk_status status;
    char message[1024];
} rank_job;

static void *rank_run(void *arg) {
    rank_job *j = arg;
    char mp[512], rp[512];
    const char *src = getenv("EVOKE_SOURCE_DIR");
    snprintf(mp, sizeof mp, "%s/assets/gmm/toy2d.json", src ? src : ".");
    snprintf(rp, sizeof rp, "%s/assets/gmm/toy2d_reward.json", src ? src : ".");
    evk_model *model = NULL;
    evk_reward *reward = NULL;
    evk_sampler *smp = NULL;
    j->result = NULL;
    j->status = evk_model_load(j->ctx, mp, NULL, &model);
    if (!j->status) j->status = evk_reward_load(j->ctx, rp, &reward);
    if (!j->status) {
        const evk_model_info *mi = evk_model_get_info(model);
        evk_sampler_config c = {.kind = EVK_SAMPLER_DDIM, .schedule = mi->schedule, .prediction = mi->prediction, .steps = 12,
                                .eta = 1, .spacing = EVK_SPACING_TRAILING};
        j->status = evk_sampler_create(&c, &smp);
    }
    if (!j->status) j->status = evk_search_run(j->ctx, model, smp, reward, &j->config, &j->result);
    j->status = evk_shard_agree(j->config.shard, j->status);
    snprintf(j->message, sizeof j->message, "%s", j->status ? evk_error_message() : "");
    evk_sampler_destroy(smp);
    evk_reward_destroy(reward);
    evk_model_destroy(model);
    return NULL;
}

/* Run config on n ranks (n = 1: no shard); jobs[r] hold the results. */
static void run_ranks(const evk_search_config *config, uint32_t n, rank_job *jobs) {
    evk_shard *shards[MAX_RANKS] = {0};
    if (n > 1) TEST_OK(evk_shard_group_create(n, shards));
    pthread_t th[MAX_RANKS];
    for (uint32_t r = 0; r < n; r++) {
        jobs[r] = (rank_job){.ctx = test_context_create(), .config = *config};
        jobs[r].config.shard = shards[r];
    }
    for (uint32_t r = 1; r < n; r++) assert_int_equal(pthread_create(&th[r], NULL, rank_run, &jobs[r]), 0);
    rank_run(&jobs[0]);
    for (uint32_t r = 1; r < n; r++) assert_int_equal(pthread_join(th[r], NULL), 0);
    for (uint32_t r = 0; r < n; r++) evk_shard_destroy(shards[r], false);
}

static void free_ranks(rank_job *jobs, uint32_t n) {
    for (uint32_t r = 0; r < n; r++) {
        evk_search_result_free(jobs[r].result);
        test_context_destroy(jobs[r].ctx);
    }
}

static void assert_same(const evk_search_result *a, const evk_search_result *b, const char *what) {
    if (a->nfe != b->nfe || a->reward_calls != b->reward_calls) fail_msg("%s: NFE %llu vs %llu", what, (unsigned long long)a->nfe, (unsigned long long)b->nfe);
    if (a->population_size != b->population_size || a->generation_count != b->generation_count) fail_msg("%s: population or generations differ", what);
    if (memcmp(&a->best_reward, &b->best_reward, sizeof a->best_reward)) fail_msg("%s: best reward %.9g vs %.9g", what, a->best_reward, b->best_reward);
    if (memcmp(a->best_sample, b->best_sample, (size_t)a->sample_numel * sizeof(float))) fail_msg("%s: best samples differ", what);
    if (memcmp(a->population, b->population, (size_t)a->population_size * a->sample_numel * sizeof(float)))
        fail_msg("%s: final populations differ", what);
    if (memcmp(a->population_rewards, b->population_rewards, a->population_size * sizeof(float))) fail_msg("%s: final rewards differ", what);
    for (uint32_t g = 0; g < a->generation_count; g++) {
        const evk_search_generation *x = &a->generations[g], *y = &b->generations[g];
        if (x->index != y->index || x->step != y->step || x->population != y->population || x->nfe != y->nfe || x->resampled != y->resampled ||
            memcmp(&x->best, &y->best, 8) || memcmp(&x->mean, &y->mean, 8) || memcmp(&x->min, &y->min, 8) || memcmp(&x->ess, &y->ess, 8))
            fail_msg("%s: generation %u differs", what, g);
    }
}

static void test_partition(void **state) {
    (void)state;
    for (uint32_t size = 1; size <= 5; size++)
        for (uint32_t n = 0; n <= 13; n++) {
            uint32_t next = 0;
            for (uint32_t r = 0; r < size; r++) {
                uint32_t f, c;
                evk_shard_block(n, size, r, &f, &c);
                assert_int_equal(f, next); /* contiguous, in rank order, covering [0, n) */
                assert_true(c == n / size || c == n / size + 1);
                next = f + c;
            }
            assert_int_equal(next, n);
        }
    evk_shard *s[3];
    TEST_OK(evk_shard_group_create(3, s));
    for (uint32_t n = 1; n <= 13; n++)
        for (uint32_t i = 0; i < n; i++) {
            uint32_t local, r = evk_shard_owner(s[0], n, i, &local), f, c;
            evk_shard_block(n, 3, r, &f, &c);
            assert_true(i >= f && i < f + c);
            assert_int_equal(local, i - f);
        }
    for (int i = 0; i < 3; i++) evk_shard_destroy(s[i], false);
    assert_int_equal(evk_shard_size(NULL), 1);
    assert_string_equal(evk_shard_backend(NULL), "single");
}

/* Collectives of 3 threads: gather, sum, broadcast and row exchange deliver what they promise. */
typedef struct coll_job {
    evk_shard *s;
    evk_status st;
    float all[7], rows[3][2];
    uint64_t sum[2];
    int32_t b;
} coll_job;

static void *coll_run(void *arg) {
    coll_job *j = arg;
    uint32_t r = evk_shard_rank(j->s), f, c;
    evk_shard_range(j->s, 7, &f, &c);
    float mine[3], src[3][2];
    for (uint32_t i = 0; i < c; i++) mine[i] = (float)(f + i) * 10;
    j->st = evk_shard_gather(j->s, mine, sizeof(float), 7, j->all, false, "test gather");
    j->sum[0] = r + 1, j->sum[1] = 100;
    if (!j->st) j->st = evk_shard_sum_u64(j->s, j->sum, 2, "test sum");
    j->b = r == 2 ? 42 : 0;
    if (!j->st) j->st = evk_shard_broadcast(j->s, &j->b, sizeof j->b, 2, "test broadcast");
    /* 7 destinations, each the row of a rank's source chosen below; each rank has 3 rows r*100+k */
    uint32_t srank[7] = {2, 0, 1, 1, 0, 0, 2}, srow[7] = {1, 0, 2, 0, 1, 1, 0}; /* rank 2 needs row 1 of rank 0 twice */
    for (int k = 0; k < 3; k++) src[k][0] = (float)(r * 100 + k), src[k][1] = -src[k][0];
    if (!j->st) j->st = evk_shard_exchange_rows(j->s, 7, srank, srow, src, sizeof src[0], j->rows, "test exchange");
    if (!j->st) j->st = evk_shard_agree(j->s, EVK_OK);
    return NULL;
}

static void test_collectives(void **state) {
    (void)state;
    evk_shard *s[3];
    TEST_OK(evk_shard_group_create(3, s));
    coll_job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].s = s[i];
        assert_int_equal(pthread_create(&th[i], NULL, coll_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    uint32_t srank[7] = {2, 0, 1, 1, 0, 0, 2}, srow[7] = {1, 0, 2, 0, 1, 1, 0}; /* rank 2 needs row 1 of rank 0 twice */
    for (uint32_t i = 0; i < 3; i++) {
        if (jobs[i].st) fail_msg("rank %u: %s", i, evk_status_name(jobs[i].st));
        for (int k = 0; k < 7; k++) assert_true(jobs[i].all[k] == (float)k * 10);
        assert_int_equal(jobs[i].sum[0], 6);
        assert_int_equal(jobs[i].sum[1], 300);
        assert_int_equal(jobs[i].b, 42);
        uint32_t f, c;
        evk_shard_range(s[i], 7, &f, &c);
        for (uint32_t k = 0; k < c; k++) {
            float want = (float)(srank[f + k] * 100 + srow[f + k]);
            assert_true(jobs[i].rows[k][0] == want && jobs[i].rows[k][1] == -want);
        }
        evk_shard_stats ss;
        evk_shard_get_stats(s[i], &ss);
        assert_true(ss.collectives == 5 && ss.seconds >= 0);
        /* the exchange counts a row once per receiving rank: rank 0 sends row 1 to rank 2 once */
        if (i == 0) assert_int_equal(ss.bytes_sent, 2 * 4 * 2 + 2 * 8 * 2 + 8); /* gather, sum, exchange */
    }
    for (int i = 0; i < 3; i++) evk_shard_destroy(s[i], false);
}

/* Every strategy on 2 and 3 ranks equals one device, bit for bit. */
static void test_same_as_one_device(void **state) {
    (void)state;
    const struct {
        const char *what;
        evk_search_config config;
    } cases[] = {
        {"sample 7", {.method = EVK_SEARCH_SAMPLE, .n = 7, .seed = 2}},
        {"bon 11", {.method = EVK_SEARCH_BON, .n = 11, .seed = 3}},
        {"bon 2 (fewer than the ranks)", {.method = EVK_SEARCH_BON, .n = 2, .seed = 4}},
        {"fk 13 resampling", {.method = EVK_SEARCH_FK, .n = 13, .seed = 5, .fk_lambda = 200, .fk_interval = 2, .fk_start = 0.2, .fk_end = 0.9}},
        {"evo 10,7,5,8",
         {.method = EVK_SEARCH_EVO, .evolution_count = 3, .evolution_schedule = {0, 4, 8}, .population_count = 4,
          .population_schedule = {10, 7, 5, 8}, .elites = 2, .seed = 6}},
        {"evo budget", {.method = EVK_SEARCH_EVO, .nfe = 700, .seed = 7}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rank_job one[1], many[MAX_RANKS];
        run_ranks(&cases[k].config, 1, one);
        if (one[0].status) fail_msg("%s on one device: %s", cases[k].what, one[0].message);
        bool resampled = false;
        for (uint32_t g = 0; g < one[0].result->generation_count; g++) resampled |= one[0].result->generations[g].resampled;
        if (cases[k].config.method == EVK_SEARCH_FK) assert_true(resampled); /* the case moves particles between ranks */
        for (uint32_t n = 2; n <= MAX_RANKS; n++) {
            run_ranks(&cases[k].config, n, many);
            for (uint32_t r = 0; r < n; r++)
                if (many[r].status) fail_msg("%s, rank %u of %u: %s", cases[k].what, r, n, many[r].message);
            char what[160];
            snprintf(what, sizeof what, "%s on %u ranks", cases[k].what, n);
            assert_same(many[0].result, one[0].result, what);
            for (uint32_t r = 1; r < n; r++) /* every rank ends with the best sample */
                assert_memory_equal(many[r].result->best_sample, one[0].result->best_sample, (size_t)one[0].result->sample_numel * sizeof(float));
            free_ranks(many, n);
        }
        free_ranks(one, 1);
    }
}

/* A rank failing mid-run ends every rank at once, each with the failing rank's message. */
static void test_fault(void **state) {
    (void)state;
    setenv("EVOKE_FAULT_RANK", "1", 1);
    setenv("EVOKE_SHARD_TIMEOUT", "30", 1);
    evk_search_config c = {.method = EVK_SEARCH_EVO, .evolution_count = 2, .evolution_schedule = {0, 6}, .population_count = 3,
                           .population_schedule = {9, 6, 6}, .elites = 1, .seed = 1};
    rank_job jobs[MAX_RANKS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_ranks(&c, 3, jobs);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    unsetenv("EVOKE_FAULT_RANK");
    unsetenv("EVOKE_SHARD_TIMEOUT");
    for (uint32_t r = 0; r < 3; r++) {
        assert_int_equal(jobs[r].status, EVK_ERROR_DEVICE_LOST);
        assert_null(jobs[r].result);
        if (!strstr(jobs[r].message, "injected fault (EVOKE_FAULT_RANK=1)")) fail_msg("rank %u: '%s'", r, jobs[r].message);
        if (r != 1 && strncmp(jobs[r].message, "rank 1: ", 8)) fail_msg("rank %u does not name rank 1: '%s'", r, jobs[r].message);
    }
    assert_true(t1.tv_sec - t0.tv_sec < 25); /* not the timeout: at once */
    free_ranks(jobs, 3);
}

/* A watched "rank" in a child process: `how` is what its worker does (kill, segv, exit3, wait).
 * Returns the watcher's wait status; its stderr lands in err. With `terminate` the watcher is
 * sent SIGTERM once the worker runs, and *passed says whether the worker received it. */
static int watch_ready_fd = -1;
static void on_term(int sig) {
    if (write(watch_ready_fd, "t", 1) != 1) _exit(9);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int watched(const char *how, bool terminate, char *err, size_t cap, bool *passed) {
    int fds[2], ready[2];
    if (pipe(fds) || pipe(ready)) fail_msg("pipe");
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork");
    if (pid == 0) { /* the launched process: becomes the watcher */
        dup2(fds[1], 2);
        close(fds[0]), close(fds[1]), close(ready[0]);
        setenv("OMPI_COMM_WORLD_RANK", "2", 1), setenv("OMPI_COMM_WORLD_SIZE", "5", 1);
        unsetenv("EVOKE_SHARD_WATCH");
        evk_shard_mpi_watch();
        /* the worker */
        watch_ready_fd = ready[1];
        signal(SIGTERM, on_term);
        evk_shard_note("after evo generation %d", 3);
        if (write(ready[1], "r", 1) != 1) _exit(8);
        if (!strcmp(how, "kill")) raise(SIGKILL);
        if (!strcmp(how, "segv")) signal(SIGSEGV, SIG_DFL), raise(SIGSEGV);
        if (!strcmp(how, "exit3")) _exit(3);
        for (int i = 0; i < 200; i++) usleep(50000); /* "wait": until the forwarded signal */
        _exit(0);
    }
    close(fds[1]), close(ready[1]);
    char c = 0;
    if (read(ready[0], &c, 1) != 1 || c != 'r') fail_msg("the worker did not start");
    if (terminate) kill(pid, SIGTERM); /* blocked until the watcher forwards: never lost */
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    *passed = read(ready[0], &c, 1) == 1 && c == 't';
    close(fds[0]), close(ready[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    return ws;
}

static void test_watcher(void **state) {
    (void)state;
    if (!evk_shard_mpi_built()) {
        printf("built without MPI: no watcher\n");
        return;
    }
    char err[1024];
    bool passed;
    int ws = watched("kill", false, err, sizeof err, &passed);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
    assert_string_equal(err, "evoke: rank 2 of 5 ended (killed by signal 9, Killed) after evo generation 3; nothing written\n");
    ws = watched("segv", false, err, sizeof err, &passed);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
    assert_string_equal(err, "evoke: rank 2 of 5 ended (killed by signal 11, Segmentation fault) after evo generation 3; nothing written\n");
    ws = watched("exit3", false, err, sizeof err, &passed); /* it spoke for itself (or rank 0 did): its status, no word */
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 3);
    assert_string_equal(err, "");
    ws = watched("wait", true, err, sizeof err, &passed); /* the launcher's SIGTERM: passed on, then the same end */
    assert_true(passed);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
    assert_string_equal(err, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition),
        cmocka_unit_test(test_collectives),
        cmocka_unit_test(test_same_as_one_device),
        cmocka_unit_test(test_fault),
        cmocka_unit_test(test_watcher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
