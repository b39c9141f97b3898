/* status.h — result codes and the last error message.
 *
 * Every evoke function that can fail returns an evk_status (EVK_OK == 0) and, on failure,
 * leaves a message saying what failed and where (call, object, size, file, tensor) that
 * evk_error_message() returns until the next failure on the same thread. Nothing in evoke
 * aborts on bad input: errors travel up the stack to the caller, like SQLite's result codes. */
#ifndef EVK_STATUS_H
#define EVK_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evk_status {
    EVK_OK = 0,
    EVK_ERROR_INVALID_ARGUMENT,     /* a caller passed something unusable */
    EVK_ERROR_NO_DEVICE,            /* no Vulkan driver or no usable device */
    EVK_ERROR_UNSUPPORTED,          /* the device lacks something required */
    EVK_ERROR_OUT_OF_DEVICE_MEMORY, /* request does not fit the heap, budget or limits */
    EVK_ERROR_OUT_OF_HOST_MEMORY,
    EVK_ERROR_DEVICE_LOST,          /* the driver reported VK_ERROR_DEVICE_LOST */
    EVK_ERROR_TIMEOUT,              /* waiting on the GPU took longer than allowed */
    EVK_ERROR_VULKAN,               /* any other failing VkResult */
    EVK_ERROR_IO,                   /* reading or writing a file failed */
    EVK_ERROR_FORMAT,               /* a file or value is malformed */
    EVK_ERROR_NUMERIC,              /* NaN or Inf where numbers were expected */
    EVK_ERROR_INTERNAL,             /* a bug in evoke */
    EVK_STATUS_COUNT
} evk_status;

/* Short stable name of a status ("EVK_ERROR_IO"). */
const char *evk_status_name(evk_status status);

/* Message of the last failure on this thread ("" if none). */
const char *evk_error_message(void);

/* Record a failure message (printf-style) and return `status`, for `return evk_fail(...)`. */
evk_status evk_fail(evk_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
evk_status evk_fail_v(evk_status status, const char *fmt, va_list ap);

/* Prefix the current message with more context ("loading unet: " + message); returns status. */
evk_status evk_fail_context(evk_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void evk_error_clear(void);

/* Propagate a failure: `EVK_TRY(evk_something(...));` */
#define EVK_TRY(expr)                    \
    do {                                 \
        evk_status evk__s = (expr);      \
        if (evk__s != EVK_OK) return evk__s; \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
