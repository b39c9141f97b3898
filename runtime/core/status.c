/* status.c — the thread-local last-error message behind evk_fail() and evk_error_message(). */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char evk__message[1024];

const char *evk_status_name(evk_status status) {
    static const char *names[EVK_STATUS_COUNT] = {
        "EVK_OK", "EVK_ERROR_INVALID_ARGUMENT", "EVK_ERROR_NO_DEVICE", "EVK_ERROR_UNSUPPORTED",
        "EVK_ERROR_OUT_OF_DEVICE_MEMORY", "EVK_ERROR_OUT_OF_HOST_MEMORY", "EVK_ERROR_DEVICE_LOST",
        "EVK_ERROR_TIMEOUT", "EVK_ERROR_VULKAN", "EVK_ERROR_IO", "EVK_ERROR_FORMAT",
        "EVK_ERROR_NUMERIC", "EVK_ERROR_INTERNAL",
    };
    if ((unsigned)status >= EVK_STATUS_COUNT) return "EVK_ERROR_UNKNOWN";
    return names[status];
}

const char *evk_error_message(void) { return evk__message; }

void evk_error_clear(void) { evk__message[0] = 0; }

evk_status evk_fail_v(evk_status status, const char *fmt, va_list ap) {
    vsnprintf(evk__message, sizeof evk__message, fmt, ap);
    return status;
}

evk_status evk_fail(evk_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    evk_fail_v(status, fmt, ap);
    va_end(ap);
    return status;
}

evk_status evk_fail_context(evk_status status, const char *fmt, ...) {
    char prefix[512], old[sizeof evk__message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, evk__message, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof evk__message - 3) n = sizeof evk__message - 3;
    memcpy(evk__message, prefix, n);
    memcpy(evk__message + n, ": ", 2);
    size_t m = strlen(old);
    if (m > sizeof evk__message - n - 3) m = sizeof evk__message - n - 3;
    memcpy(evk__message + n + 2, old, m);
    evk__message[n + 2 + m] = 0;
    return status;
}
