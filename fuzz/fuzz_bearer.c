/* fuzz/fuzz_bearer.c — fuzz target for the Authorization header of `serve --require-key`
 * (lk_http_bearer in server/http.c), with the invariants a hostile header must never break:
 * the token lies inside the header, is 1..LK_HTTP_MAX_TOKEN printable bytes without a blank,
 * and only blanks follow it. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  const char *tok;
  size_t len;
  if (lk_http_bearer(s, &tok, &len) == 0) {
    size_t n = strlen(s);
    if (tok < s || tok + len > s + n || len == 0 || len > LK_HTTP_MAX_TOKEN) abort();
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) abort();
    if (strspn(tok + len, " \t") != strlen(tok + len)) abort();
  }
  free(s);
  return 0;
}
