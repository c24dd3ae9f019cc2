/* util/log.h — one formatted line to a caller's log sink: the (function, context) pair that
 * the server's and the live catalog's options carry, where NULL means silent. A line is cut
 * at LK_LOG_LINE_MAX - 1 bytes and carries no newline. */
#ifndef LK_UTIL_LOG_H
#define LK_UTIL_LOG_H

#include <stdarg.h>

#define LK_LOG_LINE_MAX 512

typedef void (*lk_log_fn)(void *ctx, const char *line);

/* Formats the line and hands it to fn(ctx, line); nothing when fn is NULL. */
void lk_log(lk_log_fn fn, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void lk_log_v(lk_log_fn fn, void *ctx, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif
