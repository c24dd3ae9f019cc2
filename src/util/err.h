/* util/err.h — error buffers that live on handles, and lk_strerror.
 * A function that fails writes a message into the caller's lk_errbuf (which may be NULL)
 * and returns the negative code; lk_err_set does both in one line. */
#ifndef LK_UTIL_ERR_H
#define LK_UTIL_ERR_H

#include "lookalike.h"

/* lk_errbuf, LK_ERRMSG_MAX and lk_err_msg: public, lookalike.h. */

/* Formats the message into eb (if not NULL) and returns code. */
int lk_err_set(lk_errbuf *eb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears eb (if not NULL). */
void lk_err_clear(lk_errbuf *eb);

#endif
