/* util/hash.c — SHA-256 helpers over nettle's sha256 implementation; CRC-32 over ISA-L's. */
#include "util/hash.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

#include "util/file.h"

static void to_hex(const uint8_t *d, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[d[i] >> 4];
    out[2 * i + 1] = hx[d[i] & 15];
  }
  out[2 * n] = '\0';
}

void lk_hash_sha256_hex(const void *buf, size_t len, char out[LK_SHA256_HEX]) {
  struct sha256_ctx ctx;
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, len, buf);
  sha256_digest(&ctx, sizeof d, d);
  to_hex(d, sizeof d, out);
}

int lk_hash_sha256_file(const char *path, char out[LK_SHA256_HEX], lk_errbuf *err) {
  FILE *f;
  int rc = lk_file_fopen(path, &f, NULL, err);
  if (rc) return rc;
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&ctx, n, buf);
  int bad = ferror(f);
  fclose(f);
  if (bad) return lk_err_set(err, LK_EIO, "%s: read error", path);
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof d, d);
  to_hex(d, sizeof d, out);
  return 0;
}

uint32_t lk_hash_crc32(uint32_t crc, const void *p, size_t n) { return crc32_gzip_refl(crc, p, n); }
