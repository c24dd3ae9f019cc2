/* util/err.c — error code texts and per-handle error messages (always valid UTF-8: they end
 * up in JSON answers and --json output, and may quote file names or values from outside). */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

const char *lk_strerror(int code) {
  switch (code) {
  case LK_OK: return "success";
  case LK_ENOMEM: return "out of memory";
  case LK_EINVAL: return "invalid argument";
  case LK_EIO: return "input/output error";
  case LK_ECORRUPT: return "corrupt or malformed file";
  case LK_EDECODE: return "image could not be decoded";
  case LK_ETOOBIG: return "limit exceeded";
  case LK_EUNSUPPORTED: return "unsupported";
  case LK_ENOTFOUND: return "not found";
  case LK_EMISMATCH: return "recipe or model mismatch";
  case LK_EINTR: return "interrupted";
  case LK_EDB: return "database error";
  default: return "unknown error";
  }
}

int lk_err_set(lk_errbuf *eb, int code, const char *fmt, ...) {
  if (eb) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
    va_end(ap);
    lk_utf8_scrub(eb->msg);
    eb->code = code;
  }
  return code;
}

void lk_err_clear(lk_errbuf *eb) {
  if (eb) {
    eb->code = 0;
    eb->msg[0] = '\0';
  }
}

const char *lk_err_msg(const lk_errbuf *eb) {
  if (!eb) return "unknown error";
  if (eb->msg[0]) return eb->msg;
  return lk_strerror(eb->code);
}
