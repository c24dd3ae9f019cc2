/* util/utf8.c — UTF-8 validation and repair (see utf8.h). */
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void lk_utf8_scrub(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p) {
    int l = lk_utf8_len(p);
    if (!l) *p = '?';
    p += l ? l : 1;
  }
}

int lk_utf8_enc_parse(const char *name) {
  static const struct { const char *name; int enc; } names[] = {
      {"auto", LK_ENC_AUTO},          {"utf-8", LK_ENC_UTF8},           {"utf8", LK_ENC_UTF8},
      {"cp1252", LK_ENC_CP1252},      {"windows-1252", LK_ENC_CP1252},  {"latin1", LK_ENC_LATIN1},
      {"latin-1", LK_ENC_LATIN1},     {"iso-8859-1", LK_ENC_LATIN1},    {"iso8859-1", LK_ENC_LATIN1},
  };
  for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
    if (!strcasecmp(name, names[i].name)) return names[i].enc;
  return -1;
}

/* The code point of byte b (>= 0x80) in Windows-1252; U+FFFD for its five unassigned bytes. */
static unsigned cp1252(unsigned b) {
  static const unsigned short hi[32] = {
      0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
  return b >= 0x80 && b < 0xA0 ? hi[b - 0x80] : b;
}

/* Writes code point u (< 0x10000) as UTF-8 at q; returns the bytes written (at most 3). */
static int put_utf8(char *q, unsigned u) {
  if (u < 0x80) { q[0] = (char)u; return 1; }
  if (u < 0x800) { q[0] = (char)(0xC0 | u >> 6); q[1] = (char)(0x80 | (u & 0x3F)); return 2; }
  q[0] = (char)(0xE0 | u >> 12);
  q[1] = (char)(0x80 | ((u >> 6) & 0x3F));
  q[2] = (char)(0x80 | (u & 0x3F));
  return 3;
}

int lk_utf8_decode(const char *s, int enc, char **out, long *recoded, size_t *bad_at) {
  *out = NULL;
  if (recoded) *recoded = 0;
  const unsigned char *p = (const unsigned char *)s;
  int single = enc == LK_ENC_CP1252 || enc == LK_ENC_LATIN1; /* every byte is one character */
  size_t len = 0, odd = 0; /* odd: bytes to decode one by one */
  while (p[len]) {
    int l = single ? (p[len] < 0x80) : lk_utf8_len(p + len);
    if (!l) {
      if (enc == LK_ENC_UTF8) {
        if (bad_at) *bad_at = len;
        return LK_ECORRUPT;
      }
      odd++;
      l = 1;
    }
    len += (size_t)l;
  }
  if (!odd) return 0;
  size_t bytes; /* each odd byte becomes at most 3 */
  if (lk_size_add(len, 2 * odd + 1, &bytes)) return LK_ENOMEM;
  char *d = malloc(bytes), *q = d;
  if (!d) return LK_ENOMEM;
  for (size_t i = 0; i < len;) {
    int l = single ? (p[i] < 0x80) : lk_utf8_len(p + i);
    if (l) {
      memcpy(q, p + i, (size_t)l);
      q += l;
      i += (size_t)l;
    } else {
      q += put_utf8(q, enc == LK_ENC_LATIN1 ? p[i] : cp1252(p[i]));
      i++;
    }
  }
  *q = '\0';
  if (recoded && enc == LK_ENC_AUTO) *recoded = (long)odd;
  *out = d;
  return 0;
}
