/* util/hash.h — SHA-256 (via nettle) of buffers and files, as lowercase hex.
 * Used for photo content hashes (incremental indexing) and model file verification. */
#ifndef LK_UTIL_HASH_H
#define LK_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define LK_SHA256_HEX 65 /* 64 hex digits + NUL */

void lk_hash_sha256_hex(const void *buf, size_t len, char out[LK_SHA256_HEX]);
/* Hashes a whole file (streamed). LK_EIO with a message on failure. */
int lk_hash_sha256_file(const char *path, char out[LK_SHA256_HEX], lk_errbuf *err);

#endif
