/* fuzz/fuzz_url.c — fuzz target for the server's URL path handling (server/http.c): the
 * percent-decoding libmicrohttpd calls back into, then the route table and item ids, with the
 * invariants a hostile path must never break: decoding only shrinks, never yields a NUL, and
 * a page route names an asset without '/' and without "..". Build with -DLK_LIBFUZZER for
 * libFuzzer; otherwise fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  size_t before = strlen(s), n = lk_http_unescape(s);
  if (n > before || strlen(s) != n) abort(); /* shrinks, and no NUL came out of "%00" */
  lk_http_target t;
  lk_http_route(s, &t);
  switch (t.route) {
  case LK_HTTP_PAGE:
    /* "/static/NAME": the name is only looked up in the compiled-in table; it starts right
     * after the prefix, so "/static/../x" gives "../x", which matches no asset. */
    if (!t.asset || (strcmp(t.asset, "index.html") && strncmp(s, "/static/", 8) &&
                     (strcmp(s, "/admin") || strcmp(t.asset, "admin.html"))))
      abort(); /* "/admin" is the owner's page */
    break;
  case LK_HTTP_ITEM:
  case LK_HTTP_SIMILAR:
  case LK_HTTP_PHOTO:
    if (t.id < 0) abort(); /* ids are 0..INT64_MAX (util/id.c) */
    if (strspn(s, "/apitemsphoto0123456789similar") != n) abort(); /* only those characters */
    break;
  default:
    if (t.id != 0) abort();
  }
  /* Decoding twice never re-decodes what the first pass produced as '%': must not crash. */
  lk_http_unescape(s);
  free(s);
  return 0;
}
