/* server/http.h — the server's own parsers of request text, apart from libmicrohttpd so that
 * unit tests and fuzz targets (fuzz/fuzz_url.c, fuzz/fuzz_query.c) reach them without a
 * socket: percent-decoding, the route table, item ids, GET /api/items parameters,
 * Content-Length and the photo sniffing. Every function is pure and bounded by its input. */
#ifndef LK_SERVER_HTTP_H
#define LK_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* What a (decoded) path names. */
enum lk_http_route {
  LK_HTTP_NONE,        /* no such route: 404 */
  LK_HTTP_PAGE,        /* "/", "/admin" or "/static/NAME": asset = "index.html", "admin.html" or NAME */
  LK_HTTP_SEARCH,      /* /api/search */
  LK_HTTP_ITEMS,       /* /api/items */
  LK_HTTP_ITEM,        /* /api/items/{id} */
  LK_HTTP_SIMILAR,     /* /api/items/{id}/similar */
  LK_HTTP_BADID,       /* /api/items/{not an id}[/similar]: 400 */
  LK_HTTP_FACETS,      /* /api/facets */
  LK_HTTP_PHOTO,       /* /photos/{id} */
  LK_HTTP_HEALTH,      /* /health */
  LK_HTTP_METRICS,     /* /metrics */
  LK_HTTP_MAP,         /* /api/map */
  LK_HTTP_ADMIN_STATS, /* /api/admin/stats (the page /admin is LK_HTTP_PAGE "admin.html") */
  LK_HTTP_UPLOADS,     /* /api/uploads (POST: server/write.h) */
  LK_HTTP_BATCH        /* /api/items/batch (POST: server/write.h) */
};

typedef struct lk_http_target {
  enum lk_http_route route;
  int64_t id;          /* LK_HTTP_ITEM, LK_HTTP_SIMILAR, LK_HTTP_PHOTO: 0..10^18-1 */
  int similar;         /* LK_HTTP_BADID: the path ended in /similar */
  const char *asset;   /* LK_HTTP_PAGE: the asset name (points into the path or a literal) */
} lk_http_target;

/* Percent-decodes str in place, once (no double decoding); "%00" becomes DEL (0x7f) so that a
 * NUL can never cut a path or a value short; malformed escapes stay as they are. Returns the
 * new length (never more than the old one). */
size_t lk_http_unescape(char *str);

/* Maps a decoded path to a route. Asset names are only names: the caller looks them up in the
 * compiled-in table, so no path reaches the file system. */
void lk_http_route(const char *path, lk_http_target *t);

/* Strict decimal id of 1..18 digits ending at '\0' or '/'; *end: where it stopped. 0 or -1. */
int lk_http_parse_id(const char *p, int64_t *id, const char **end);

/* Strict unsigned decimal (digits only, no sign, no spaces) not above max: 0 or -1. */
int lk_http_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Parameters of GET /api/items. */
#define LK_HTTP_MAX_LIMIT 500
typedef struct lk_http_list {
  int offset, limit, sample;
  uint64_t seed;
} lk_http_list;
void lk_http_list_init(lk_http_list *a, int default_limit);
/* Applies one parameter (offset, limit, sample, seed); LK_EINVAL with a message otherwise. */
int lk_http_list_param(lk_http_list *a, const char *key, const char *value, lk_errbuf *err);

/* Content-Type of an image from its first bytes (JPEG, PNG, WebP), or NULL. */
const char *lk_http_sniff(const unsigned char *h, size_t n);

/* The token of an "Authorization: Bearer TOKEN" header value (RFC 6750: the scheme in any
 * case, then spaces or tabs, the token, optional trailing blanks): *token points into header,
 * *len is its length (1..LK_HTTP_MAX_TOKEN, no blank inside). -1 for anything else (NULL, no
 * token, another scheme, a token too long or with a blank or control byte in it). */
#define LK_HTTP_MAX_TOKEN 256
int lk_http_bearer(const char *header, const char **token, size_t *len);

/* 1 when an Accept-Encoding header value (RFC 9110 12.5.3: codings separated by commas, each
 * with an optional ";q=" weight) accepts gzip: "gzip", "x-gzip" or "*" with a weight above 0,
 * unless gzip itself is weighted 0. 0 for NULL, anything else, or a value over 4 KiB. */
int lk_http_accepts_gzip(const char *accept_encoding);

#endif
