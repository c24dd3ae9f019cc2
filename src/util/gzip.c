/* util/gzip.c — one-shot gzip compression with zlib's deflate (windowBits 15 + 16 writes the
 * gzip header and CRC-32 trailer), into a buffer sized by deflateBound. */
#include "util/gzip.h"

#include <stdlib.h>
#include <zlib.h>

#define GZIP_MAX_IN ((size_t)1 << 30)

int lk_gzip(const void *in, size_t n, int level, uint8_t **out, size_t *out_n, lk_errbuf *err) {
  *out = NULL;
  *out_n = 0;
  if (n > GZIP_MAX_IN) return lk_err_set(err, LK_ETOOBIG, "gzip: %zu bytes is over the 1 GiB limit", n);
  if (level < 1 || level > 9) level = 6;
  z_stream z = {0};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return lk_err_set(err, LK_ENOMEM, "gzip: zlib could not start (out of memory)");
  size_t cap = deflateBound(&z, (uLong)n);
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) {
    deflateEnd(&z);
    return lk_err_set(err, LK_ENOMEM, "gzip: out of memory for %zu bytes", cap);
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = buf;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  size_t got = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(buf);
    return lk_err_set(err, LK_EIO, "gzip: deflate failed (%d)", rc);
  }
  *out = buf;
  *out_n = got;
  return 0;
}
