/* file.c — whole-file reads and atomic writes (file.h): the one place evoke opens a file to read
 * it all or replaces one, so every such message names the user's path and says why (strerror). */
#define _POSIX_C_SOURCE 200809L
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint evk__tmp_counter;

static evk_status evk__write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return EVK_ERROR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return EVK_OK;
}

/* Temporary files being written, for evk_file_remove_temporaries() in a signal handler: a slot's
 * path is complete before its flag is set, and the flag is cleared before the slot is reused. */
#define EVK__LIVE_TEMPS 16
static struct { char path[PATH_MAX]; volatile sig_atomic_t live; } evk__temps[EVK__LIVE_TEMPS];
static atomic_flag evk__temp_taken[EVK__LIVE_TEMPS];

void evk_file_remove_temporaries(void) {
    for (int i = 0; i < EVK__LIVE_TEMPS; i++)
        if (evk__temps[i].live) unlink(evk__temps[i].path);
}

static int evk__temp_register(const char *tmp) {
    for (int i = 0; i < EVK__LIVE_TEMPS; i++)
        if (!atomic_flag_test_and_set(&evk__temp_taken[i])) {
            memcpy(evk__temps[i].path, tmp, strlen(tmp) + 1);
            evk__temps[i].live = 1;
            return i;
        }
    return -1; /* more concurrent writes than slots: this one is simply not cleaned up on a signal */
}

static void evk__temp_release(int slot) {
    if (slot < 0) return;
    evk__temps[slot].live = 0;
    atomic_flag_clear(&evk__temp_taken[slot]);
}

evk_status evk_file_write_atomic(const char *path, const void *data, size_t size) {
    if (!path || !*path) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_file_write_atomic: empty path");
    if (!data && size) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_file_write_atomic: '%s': no data", path);
    /* The temporary file lives in the target's directory so that rename() is atomic (same
     * file system); a short fixed name avoids NAME_MAX trouble with long targets. */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char tmp[PATH_MAX];
    if (dir_len + 40 >= sizeof tmp) return evk_fail(EVK_ERROR_IO, "writing '%s': path too long", path);
    int fd = -1, slot = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        unsigned n = atomic_fetch_add(&evk__tmp_counter, 1u);
        snprintf(tmp, sizeof tmp, "%.*s.evk-%ld-%u.tmp", (int)dir_len, path, (long)getpid(), n);
        slot = evk__temp_register(tmp); /* before open: a signal right after it still finds the file */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) evk__temp_release(slot), slot = -1;
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        return evk_fail(EVK_ERROR_IO, "writing '%s': cannot create a file in '%.*s': %s", path,
                        dir_len ? (int)dir_len : 1, dir_len ? path : ".", strerror(e));
    }
    const char *step = "write";
    int e = 0;
    if (evk__write_all(fd, data, size) != EVK_OK) e = errno;
    else if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) { e = errno; step = "fsync"; }
    if (close(fd) != 0 && !e) { e = errno; step = "close"; }
    if (!e && rename(tmp, path) != 0) { e = errno; step = "rename"; }
    if (e) unlink(tmp);
    evk__temp_release(slot);
    if (e) return evk_fail(EVK_ERROR_IO, "writing '%s': %s failed: %s", path, step, strerror(e));
    return EVK_OK;
}

evk_status evk_file_read(const char *path, size_t max_size, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    if (!path || !*path) return evk_fail(EVK_ERROR_INVALID_ARGUMENT, "evk_file_read: empty path");
    FILE *f = fopen(path, "rb");
    if (!f) return evk_fail(EVK_ERROR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return evk_fail(EVK_ERROR_IO, "cannot read '%s': not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        fclose(f);
        return evk_fail(EVK_ERROR_FORMAT, "'%s' is %lld bytes, more than the %zu allowed", path,
                        (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "reading '%s': %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return evk_fail(EVK_ERROR_IO, "reading '%s': short read (%zu of %zu bytes)", path, got, n);
    }
    *data = buf;
    *size = n;
    return EVK_OK;
}

evk_status evk_file_read_text(const char *path, size_t max_size, char **out) {
    *out = NULL;
    uint8_t *data;
    size_t n;
    EVK_TRY(evk_file_read(path, max_size, &data, &n));
    if (memchr(data, 0, n)) {
        free(data);
        return evk_fail(EVK_ERROR_FORMAT, "'%s' contains a NUL byte (not a JSON/text file)", path);
    }
    char *text = realloc(data, n + 1);
    if (!text) {
        free(data);
        return evk_fail(EVK_ERROR_OUT_OF_HOST_MEMORY, "reading '%s': %zu bytes", path, n + 1);
    }
    text[n] = 0;
    *out = text;
    return EVK_OK;
}

/* The live mappings of evk_file_map, so evk_file_release acts on nothing else. */
#define EVK__MAPS_MAX 256
static struct { uintptr_t a, b; } evk__maps[EVK__MAPS_MAX];
static int evk__maps_count;
static pthread_mutex_t evk__maps_lock = PTHREAD_MUTEX_INITIALIZER;

static void evk__maps_note(const void *p, size_t n, bool add) {
    pthread_mutex_lock(&evk__maps_lock);
    if (add && evk__maps_count < EVK__MAPS_MAX) {
        evk__maps[evk__maps_count].a = (uintptr_t)p;
        evk__maps[evk__maps_count++].b = (uintptr_t)p + n;
    } else if (!add) {
        for (int i = 0; i < evk__maps_count; i++)
            if (evk__maps[i].a == (uintptr_t)p) {
                evk__maps[i] = evk__maps[--evk__maps_count];
                break;
            }
    }
    pthread_mutex_unlock(&evk__maps_lock);
}

static bool evk__maps_contains(const void *p, size_t n) {
    bool in = false;
    pthread_mutex_lock(&evk__maps_lock);
    for (int i = 0; i < evk__maps_count && !in; i++) in = (uintptr_t)p >= evk__maps[i].a && (uintptr_t)p + n <= evk__maps[i].b;
    pthread_mutex_unlock(&evk__maps_lock);
    return in;
}

evk_status evk_file_map(const char *path, void **map, size_t *size) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return evk_fail(EVK_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return evk_fail(EVK_ERROR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    if (n) {
        void *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return evk_fail(EVK_ERROR_IO, "%s: cannot map %zu bytes: %s", path, n, strerror(e));
        }
        *map = m;
        *size = n;
        evk__maps_note(m, n, true);
    }
    close(fd);
    return EVK_OK;
}

void evk_file_unmap(void *map, size_t size) {
    if (!map) return;
    evk__maps_note(map, size, false);
    munmap(map, size);
}

void evk_file_release(const void *p, size_t n) {
    /* only inside a file mapping: on heap memory (a reader parsing bytes it was handed) the
     * advice would zero the pages instead */
    if (!p || !n || !evk__maps_contains(p, n)) return;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t page = pg > 0 ? (uintptr_t)pg : 4096u, a = (uintptr_t)p & ~(page - 1), b = ((uintptr_t)p + n + page - 1) & ~(page - 1);
    /* advice only: a failure (not a mapping, say) leaves the pages where they are */
    (void)madvise((void *)a, b - a, MADV_DONTNEED);
}
