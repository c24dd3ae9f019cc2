/* fuzz/fuzz_query.c — fuzz target for the query string and form fields of the API: the input is
 * split like a query string ("k=v&k=v", percent-decoded by lk_http_unescape) and every pair is
 * applied to a search's parameters (lk_api_param: k, crop, filter fields) and to GET
 * /api/items' ones (lk_http_list_param). Whatever the bytes, each parameter is accepted within
 * its range or refused with a message. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "server/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  lk_api_params p;
  lk_api_params_init(&p);
  lk_http_list l;
  lk_http_list_init(&l, LK_API_DEFAULT_K);
  char *save = NULL;
  for (char *pair = strtok_r(s, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(pair, '='), *val = NULL;
    if (eq) *eq = '\0', val = eq + 1;
    lk_http_unescape(pair);
    if (val) lk_http_unescape(val);
    lk_errbuf eb = {0};
    int rc = lk_api_param(&p, pair, val, &eb);
    if (rc && (rc != LK_EINVAL && rc != LK_ETOOBIG && rc != LK_ENOMEM)) abort();
    if (rc && !*lk_err_msg(&eb)) abort();
    lk_errbuf eb2 = {0};
    rc = lk_http_list_param(&l, pair, val, &eb2);
    if (rc && (rc != LK_EINVAL || !*lk_err_msg(&eb2))) abort();
  }
  if (p.k < 1 || p.k > LK_API_MAX_K) abort();
  if (p.has_crop && (p.crop[2] < 1 || p.crop[3] < 1)) abort();
  if (p.filter.n < 0 || p.filter.n > LK_FILTER_MAX) abort();
  for (int i = 0; i < p.filter.n; i++)
    if (p.filter.cond[i].field < 0 || strlen(p.filter.cond[i].value) >= sizeof p.filter.cond[i].value) abort();
  if (l.limit < 1 || l.limit > LK_HTTP_MAX_LIMIT || l.offset < 0 || l.sample < 0 || l.sample > LK_HTTP_MAX_LIMIT)
    abort();
  free(s);
  return 0;
}
