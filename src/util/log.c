/* util/log.c — formatted lines to a caller's log sink (see log.h). */
#include "util/log.h"

#include <stdio.h>

void lk_log_v(lk_log_fn fn, void *ctx, const char *fmt, va_list ap) {
  if (!fn) return;
  char line[LK_LOG_LINE_MAX];
  vsnprintf(line, sizeof line, fmt, ap);
  fn(ctx, line);
}

void lk_log(lk_log_fn fn, void *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lk_log_v(fn, ctx, fmt, ap);
  va_end(ap);
}
