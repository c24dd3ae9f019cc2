/* util/gzip.h — gzip (RFC 1952) compression of a buffer in memory with zlib, for HTTP
 * answers sent with Content-Encoding: gzip (the page's map layout, GET /api/map). */
#ifndef LK_UTIL_GZIP_H
#define LK_UTIL_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Compresses in[0..n) at zlib level (1 fastest .. 9 smallest) into *out (malloc'd, the caller
 * frees), *out_n bytes. LK_ENOMEM, LK_ETOOBIG (n over 1 GiB) or LK_EIO with a message. */
int lk_gzip(const void *in, size_t n, int level, uint8_t **out, size_t *out_n, lk_errbuf *err);

#endif
