/* server/http.c — the request-text parsers of the server (see http.h): percent-decoding,
 * routes, ids, list parameters, image sniffing. No allocation, no I/O: what server.c feeds
 * them comes straight from the network, and fuzz/fuzz_url.c and fuzz/fuzz_query.c feed them
 * arbitrary bytes. */
#include "server/http.h"

#include "util/id.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

size_t lk_http_unescape(char *str) {
  char *w = str;
  for (const char *p = str; *p; p++) {
    int hi, lo;
    if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
      *w++ = (hi || lo) ? (char)(hi * 16 + lo) : 0x7f;
      p += 2;
    } else {
      *w++ = *p;
    }
  }
  *w = '\0';
  return (size_t)(w - str);
}

int lk_http_parse_id(const char *p, int64_t *id, const char **end) {
  const char *e;
  int64_t v;
  if (lk_id_parse_prefix(p, &v, &e) || (*e && *e != '/')) return -1;
  *id = v;
  *end = e;
  return 0;
}

void lk_http_route(const char *url, lk_http_target *t) {
  const char *end;
  memset(t, 0, sizeof *t);
  t->route = LK_HTTP_NONE;
  if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
    t->route = LK_HTTP_PAGE, t->asset = "index.html";
  } else if (!strcmp(url, "/admin")) {
    t->route = LK_HTTP_PAGE, t->asset = "admin.html";
  } else if (!strcmp(url, "/api/admin/stats")) {
    t->route = LK_HTTP_ADMIN_STATS;
  } else if (!strncmp(url, "/static/", 8)) {
    t->route = LK_HTTP_PAGE, t->asset = url + 8;
  } else if (!strcmp(url, "/api/search")) {
    t->route = LK_HTTP_SEARCH;
  } else if (!strcmp(url, "/api/facets")) {
    t->route = LK_HTTP_FACETS;
  } else if (!strcmp(url, "/api/map")) {
    t->route = LK_HTTP_MAP;
  } else if (!strcmp(url, "/api/items")) {
    t->route = LK_HTTP_ITEMS;
  } else if (!strcmp(url, "/api/items/batch")) {
    t->route = LK_HTTP_BATCH;
  } else if (!strcmp(url, "/api/uploads")) {
    t->route = LK_HTTP_UPLOADS;
  } else if (!strncmp(url, "/api/items/", 11)) {
    const char *p = url + 11;
    if (lk_http_parse_id(p, &t->id, &end)) {
      const char *slash = strchr(p, '/');
      t->id = 0;
      if (!slash || !strcmp(slash, "/similar")) t->route = LK_HTTP_BADID, t->similar = slash != NULL;
    } else if (!*end) {
      t->route = LK_HTTP_ITEM;
    } else if (!strcmp(end, "/similar")) {
      t->route = LK_HTTP_SIMILAR;
    } else {
      t->id = 0;
    }
  } else if (!strncmp(url, "/photos/", 8)) {
    if (!lk_http_parse_id(url + 8, &t->id, &end) && !*end) t->route = LK_HTTP_PHOTO;
    else t->id = 0;
  } else if (!strcmp(url, "/health")) {
    t->route = LK_HTTP_HEALTH;
  } else if (!strcmp(url, "/metrics")) {
    t->route = LK_HTTP_METRICS;
  }
}

int lk_http_parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -1;
  *out = v;
  return 0;
}

void lk_http_list_init(lk_http_list *a, int default_limit) {
  memset(a, 0, sizeof *a);
  a->limit = default_limit;
}

int lk_http_list_param(lk_http_list *a, const char *key, const char *value, lk_errbuf *err) {
  uint64_t v = 0;
  if (!key) key = "";
  if (!value || !*value) return lk_err_set(err, LK_EINVAL, "parameter '%.40s' needs a value", key);
  if (!strcmp(key, "seed")) {
    if (lk_http_parse_u64(value, UINT64_MAX, &v)) return lk_err_set(err, LK_EINVAL, "seed must be a non-negative integer");
    a->seed = v;
  } else if (!strcmp(key, "offset")) {
    if (lk_http_parse_u64(value, INT32_MAX, &v)) return lk_err_set(err, LK_EINVAL, "offset must be an integer >= 0");
    a->offset = (int)v;
  } else if (!strcmp(key, "limit") || !strcmp(key, "sample")) {
    if (lk_http_parse_u64(value, LK_HTTP_MAX_LIMIT, &v) || v < 1)
      return lk_err_set(err, LK_EINVAL, "%s must be an integer in 1..%d", key, LK_HTTP_MAX_LIMIT);
    *(key[0] == 'l' ? &a->limit : &a->sample) = (int)v;
  } else {
    return lk_err_set(err, LK_EINVAL, "unknown parameter '%.60s' (expected offset, limit, sample, seed)", key);
  }
  return 0;
}

const char *lk_http_sniff(const unsigned char *h, size_t n) {
  if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return "image/jpeg";
  if (n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8)) return "image/png";
  if (n >= 12 && !memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WEBP", 4)) return "image/webp";
  return NULL;
}

int lk_http_bearer(const char *h, const char **token, size_t *len) {
  if (!h) return -1;
  while (*h == ' ' || *h == '\t') h++;
  if (strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t')) return -1;
  h += 7;
  while (*h == ' ' || *h == '\t') h++;
  size_t n = 0;
  while (n <= LK_HTTP_MAX_TOKEN && (unsigned char)h[n] > 0x20 && (unsigned char)h[n] < 0x7f) n++;
  if (n == 0 || n > LK_HTTP_MAX_TOKEN) return -1;
  for (const char *p = h + n; *p; p++) /* only blanks may follow */
    if (*p != ' ' && *p != '\t') return -1;
  *token = h;
  *len = n;
  return 0;
}

/* The weight of one coding's parameters (after its name): 0 when q is 0, 0.0, 0.00 or
 * 0.000, else 1 (only zero matters here). */
static int q_positive(const char *p, const char *end) {
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) p++;
    if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      p += 2;
      if (p < end && *p == '0') {
        p++;
        if (p < end && *p == '.') {
          p++;
          while (p < end && *p == '0') p++;
        }
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p == end || *p == ';') return 0;
      }
      return 1;
    }
    while (p < end && *p != ';') p++;
  }
  return 1;
}

int lk_http_accepts_gzip(const char *h) {
  if (!h || strnlen(h, 4097) > 4096) return 0;
  int gzip = -1, star = -1; /* -1 not named, 0 refused, 1 accepted */
  while (*h) {
    while (*h == ' ' || *h == '\t' || *h == ',') h++;
    const char *name = h;
    while (*h && *h != ',' && *h != ';' && *h != ' ' && *h != '\t') h++;
    size_t n = (size_t)(h - name);
    const char *params = h;
    while (*h && *h != ',') h++;
    if (!n) continue;
    int ok = q_positive(params, h);
    if ((n == 4 && !strncasecmp(name, "gzip", 4)) || (n == 6 && !strncasecmp(name, "x-gzip", 6))) gzip = gzip == 1 ? 1 : ok;
    else if (n == 1 && *name == '*') star = ok;
  }
  return gzip >= 0 ? gzip : star == 1;
}
