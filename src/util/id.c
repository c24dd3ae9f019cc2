/* util/id.c — product ids from text (see id.h). */
#include "util/id.h"

int lk_id_parse_prefix(const char *s, int64_t *id, const char **end) {
  const char *p = s;
  int64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    int d = *p - '0';
    if (v > (INT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (p == s) return -1;
  *id = v;
  *end = p;
  return 0;
}

int lk_id_parse(const char *s, size_t n, int64_t *id) {
  int64_t v = 0;
  if (n == 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    int d = s[i] - '0';
    if (v > (INT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *id = v;
  return 0;
}
