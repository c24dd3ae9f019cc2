/* util/utf8.c — UTF-8 validation and repair (see utf8.h). */
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

#include "lookalike.h"
#include "util/size.h"

int lk_utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF; /* no overlong, no surrogate */
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
  }
  return 0;
}

int lk_utf8_fix(const char *s, char **out) {
  *out = NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t bad = 0, len = 0;
  while (p[len]) {
    int l = lk_utf8_len(p + len);
    if (!l) {
      bad++;
      l = 1;
    }
    len += (size_t)l;
  }
  if (!bad) return 0;
  size_t bytes; /* each bad byte (1) becomes 3 */
  if (lk_size_add(len, 2 * bad + 1, &bytes)) return LK_ENOMEM;
  char *d = malloc(bytes), *q = d;
  if (!d) return LK_ENOMEM;
  for (size_t i = 0; i < len;) {
    int l = lk_utf8_len(p + i);
    if (l) {
      memcpy(q, p + i, (size_t)l);
      q += l;
      i += (size_t)l;
    } else {
      memcpy(q, "\xEF\xBF\xBD", 3);
      q += 3;
      i++;
    }
  }
  *q = '\0';
  *out = d;
  return 0;
}

long lk_utf8_count(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  long n = 0;
  while (*p) {
    int l = lk_utf8_len(p);
    p += l ? l : 1;
    n++;
  }
  return n;
}
