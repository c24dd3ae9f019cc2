/* server/write.h — the write API of `lookalike serve` (docs/API.md "Writing the catalog"):
 * POST /api/uploads, POST /api/items, PUT/PATCH/DELETE /api/items/{id} and POST
 * /api/items/batch. server.c receives the bodies and checks the keys; this module parses items
 * (JSON, NDJSON lines, form fields, a styles.csv-layout CSV), embeds photos the way `lookalike
 * index` does (ingest.h lk_ingest_photo_vector), writes item + vector + photo in one transaction
 * through its own read-write catalog handle (opened at the first write, PRAGMA synchronous=FULL:
 * durable when answered; one writer at a time), and applies the change to the served engine
 * (lk_live_sync) before answering, so the next request sees it. Photos written over HTTP are
 * kept in the catalog (catalog.h "Stored photos"); lk_write_photo reads them back for /photos.
 * Uploads wait in memory (an hour, a total byte cap) for a later JSON write. Thread-safe. */
#ifndef LK_SERVER_WRITE_H
#define LK_SERVER_WRITE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "image/image.h"
#include "server/api.h"
#include "util/err.h"

typedef struct lk_write lk_write;
struct lk_live;

typedef struct lk_write_opts {
  const char *db;              /* the catalog (path or postgresql:// URL) */
  struct lk_live *follow;      /* the served engine (search/live.h): every write is applied to it before the answer;
                                  photos are embedded with its recipe (the catalog's) */
  const char *models_dir;      /* NULL: lk_embed_find_models' search */
  int backend;                 /* enum lk_backend */
  lk_image_limits image;       /* photos */
  size_t upload_cap;           /* bytes of uploads held at once; default 256 MiB (then 503) */
  double upload_ttl_s;         /* how long an upload is kept; default 3600 */
  double busy_s;               /* a catalog locked by another writer is waited for this long; default 5 */
} lk_write_opts;

/* Nothing is opened yet (the catalog handle and the embedder come with the first write).
 * *out: lk_write_free. LK_ENOMEM. */
int lk_write_new(const lk_write_opts *o, lk_write **out, lk_errbuf *err);
void lk_write_free(lk_write *w); /* NULL-safe; no call may be in progress */

/* One part of a multipart/form-data body (a form field when filename is NULL). */
typedef struct lk_write_part {
  const char *name, *filename;
  const uint8_t *data;
  size_t len;
} lk_write_part;

/* A request body as received: multipart parts, or the raw bytes with their Content-Type. */
typedef struct lk_write_body {
  int multipart;
  const lk_write_part *parts;
  size_t nparts;
  const char *content_type; /* NULL when absent */
  const uint8_t *raw;
  size_t len;
} lk_write_body;

enum lk_write_op { LK_WRITE_UPLOAD, LK_WRITE_POST, LK_WRITE_PUT, LK_WRITE_PATCH, LK_WRITE_DELETE, LK_WRITE_BATCH };

/* Runs one write request (id: the path's, for PUT, PATCH and DELETE) and fills r with the
 * answer of the HTTP contract (201/200, 400, 404, 413, 415, 503...). *retry_s gets a
 * Retry-After in seconds for a 503 that is worth retrying, else 0. 0, or LK_ENOMEM when not
 * even an error body could be made. */
int lk_write_run(lk_write *w, int op, int64_t id, const lk_write_body *b, lk_api_reply *r, int *retry_s);

/* The stored photo of an item written over HTTP (catalog.h "Stored photos"): *type and *data
 * malloc'd (caller frees). LK_ENOTFOUND, or a catalog error, with a message in err. */
int lk_write_photo(lk_write *w, int64_t id, char **type, void **data, size_t *len, lk_errbuf *err);

/* ---- the parsers of outside input (fuzz/fuzz_write.c reaches them) ---- */

#define LK_WRITE_MAX_FIELDS 64        /* fields of one item */
#define LK_WRITE_MAX_VALUE 4096       /* bytes of one text value */
#define LK_WRITE_MAX_NAME 64          /* bytes of a field name */
#define LK_WRITE_MAX_JSON ((size_t)1 << 20) /* one item's JSON text (a body or an NDJSON line) */
#define LK_WRITE_MAX_BATCH 10000      /* rows of one batch */
#define LK_WRITE_UPLOAD_ID 35         /* "u_" + 32 hex + NUL */

/* One item as a request sent it. */
typedef struct lk_write_item {
  int64_t id;
  int has_id;
  char *field[LK_NFIELDS]; /* the fixed fields sent with a value (malloc'd) */
  unsigned sent;           /* bit i: field i was sent (with a value, or "" / null to clear it) */
  json_t *extra;           /* the other fields sent, an object (a JSON null: clear that field) */
  char upload[LK_WRITE_UPLOAD_ID]; /* "" when none */
} lk_write_item;
void lk_write_item_clear(lk_write_item *it); /* NULL-safe */

/* A JSON object (an item's body, or one NDJSON line) into *it: "id" (an integer, or a string
 * of digits), the fixed fields as strings ("year" also a number), "upload" (an upload id),
 * anything else into extra (strings, numbers, booleans, null). LK_EINVAL with a message
 * naming the field otherwise. */
int lk_write_parse_json(const char *text, size_t len, lk_write_item *it, lk_errbuf *err);
/* The same from named text values (form fields, CSV columns): a value that is a JSON number or
 * true/false keeps that type in extra when numbers is set. */
int lk_write_item_field(lk_write_item *it, const char *name, const char *value, int numbers, lk_errbuf *err);
/* The next line of an NDJSON body at *pos (LF or CRLF; blank lines skipped): 1 with *line and
 * *len set and *lineno its 1-based number, 0 at the end. */
int lk_write_next_line(const uint8_t *buf, size_t n, size_t *pos, long *lineno, const char **line, size_t *len);

#endif
