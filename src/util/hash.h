/* util/hash.h — SHA-256 (via nettle) of buffers and files, as lowercase hex, used for photo
 * content hashes (incremental indexing) and model file verification; and CRC-32 (via ISA-L),
 * the saved index's checksums. */
#ifndef LK_UTIL_HASH_H
#define LK_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define LK_SHA256_HEX 65 /* 64 hex digits + NUL */

void lk_hash_sha256_hex(const void *buf, size_t len, char out[LK_SHA256_HEX]);
/* Hashes a whole file (streamed). LK_EIO with a message on failure. */
int lk_hash_sha256_file(const char *path, char out[LK_SHA256_HEX], lk_errbuf *err);
/* CRC-32 (IEEE 802.3, reflected: the values of zlib's crc32 and gzip), crc continued over
 * p[0..n), any n; start with crc 0. ISA-L picks the host's fastest kernel (PCLMULQDQ/VPCLMULQDQ:
 * ~30 GB/s here against zlib's ~4), so a saved index's sections are checked at memory speed. */
uint32_t lk_hash_crc32(uint32_t crc, const void *p, size_t n);

#endif
