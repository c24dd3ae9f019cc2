/* server/write.c — the write API (see write.h): items parsed from JSON, NDJSON, form fields or
 * a CSV in the styles.csv layout; photos checked and embedded as `lookalike index` embeds them
 * (lk_ingest_photo_vector) outside the catalog lock; item + vector + photo written in one
 * transaction of the server's read-write handle (synchronous=FULL), then applied to the served
 * engine with lk_live_sync before the answer. The upload store keeps photos for a later JSON
 * write. Locks: emb_lock (the embedder), db_lock (the writer handle: one transaction at a
 * time), sync_lock (the handle the engine is brought up to date through: taken after the
 * commit, so that writers queued meanwhile commit, and one sync applies them all), photo_lock
 * (the handle /photos reads stored photos with), up_lock (uploads). */
#include "server/write.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "catalog/csv.h"
#include "embed/embed.h"
#include "ingest/ingest.h"
#include "search/live.h"
#include "server/http.h"
#include "util/array.h"
#include "util/hash.h"
#include "util/id.h"
#include "util/size.h"
#include "util/utf8.h"
#include "util/clock.h"

#define MIB ((size_t)1 << 20)
#define MAX_UPLOADS 4096 /* uploads held at once, whatever their size */

typedef struct upload {
  struct upload *next;
  char id[LK_WRITE_UPLOAD_ID];
  const char *type;
  uint8_t *data;
  size_t len;
  double expires;
} upload;

struct lk_write {
  lk_write_opts o;
  pthread_mutex_t emb_lock;
  lk_embedder *emb;        /* made at the first photo */
  pthread_mutex_t db_lock;
  lk_catalog *cat;         /* the writer, opened at the first write */
  pthread_mutex_t sync_lock;
  lk_catalog *syncer;      /* reads the committed writes into the served engine (lk_live_sync) */
  pthread_mutex_t photo_lock;
  lk_catalog *reader;      /* stored photos for GET /photos */
  pthread_mutex_t up_lock;
  upload *uploads;
  size_t up_bytes, up_count;
};

int lk_write_new(const lk_write_opts *o, lk_write **out, lk_errbuf *err) {
  lk_write *w = calloc(1, sizeof *w);
  if (!w) return lk_err_set(err, LK_ENOMEM, "out of memory");
  w->o = *o;
  if (!w->o.upload_cap) w->o.upload_cap = 256 * MIB;
  if (w->o.upload_ttl_s <= 0) w->o.upload_ttl_s = 3600;
  if (w->o.busy_s <= 0) w->o.busy_s = 5;
  pthread_mutex_init(&w->emb_lock, NULL);
  pthread_mutex_init(&w->db_lock, NULL);
  pthread_mutex_init(&w->sync_lock, NULL);
  pthread_mutex_init(&w->photo_lock, NULL);
  pthread_mutex_init(&w->up_lock, NULL);
  *out = w;
  return 0;
}

void lk_write_free(lk_write *w) {
  if (!w) return;
  lk_embedder_free(w->emb);
  lk_catalog_close(w->cat);
  lk_catalog_close(w->reader);
  lk_catalog_close(w->syncer);
  for (upload *u = w->uploads, *n; u; u = n) {
    n = u->next;
    free(u->data);
    free(u);
  }
  pthread_mutex_destroy(&w->emb_lock);
  pthread_mutex_destroy(&w->db_lock);
  pthread_mutex_destroy(&w->sync_lock);
  pthread_mutex_destroy(&w->photo_lock);
  pthread_mutex_destroy(&w->up_lock);
  free(w);
}

/* ------------------------------------------------------------------ parsing items */

void lk_write_item_clear(lk_write_item *it) {
  if (!it) return;
  for (int i = 0; i < LK_NFIELDS; i++) free(it->field[i]);
  json_decref(it->extra);
  memset(it, 0, sizeof *it);
}

static int field_index(const char *name) {
  for (int i = 0; i < LK_NFIELDS; i++)
    if (!strcasecmp(name, lk_catalog_fields[i])) return i;
  return -1;
}

static int valid_name(const char *name, lk_errbuf *err) {
  size_t n = strlen(name);
  if (!n || n > LK_WRITE_MAX_NAME) return lk_err_set(err, LK_EINVAL, "a field name must be 1 to %d bytes", LK_WRITE_MAX_NAME);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return lk_err_set(err, LK_EINVAL, "field name '%.40s' holds a control character", name);
  return 0;
}

/* A text value: at most LK_WRITE_MAX_VALUE bytes of UTF-8 without NUL. */
static int valid_text(const char *name, const char *v, size_t n, lk_errbuf *err) {
  if (n > LK_WRITE_MAX_VALUE)
    return lk_err_set(err, LK_EINVAL, "field '%s' is %zu bytes long; at most %d", name, n, LK_WRITE_MAX_VALUE);
  if (memchr(v, 0, n)) return lk_err_set(err, LK_EINVAL, "field '%s' holds a NUL byte", name);
  char *fixed = NULL;
  if (lk_utf8_fix(v, &fixed)) return lk_err_set(err, LK_ENOMEM, "out of memory");
  if (fixed) {
    free(fixed);
    return lk_err_set(err, LK_EINVAL, "field '%s' is not UTF-8 text", name);
  }
  return 0;
}

static int set_id_text(lk_write_item *it, const char *v, lk_errbuf *err) {
  int64_t id;
  if (lk_id_parse(v, strlen(v), &id))
    return lk_err_set(err, LK_EINVAL, "\"id\" must be a whole number from 0 to 9223372036854775807, not '%.40s'", v);
  it->id = id;
  it->has_id = 1;
  return 0;
}

static int count_fields(lk_write_item *it, lk_errbuf *err) {
  int n = it->has_id + (it->upload[0] != 0) + (int)(it->extra ? json_object_size(it->extra) : 0);
  for (int i = 0; i < LK_NFIELDS; i++) n += (it->sent >> i) & 1;
  if (n > LK_WRITE_MAX_FIELDS) return lk_err_set(err, LK_EINVAL, "more than %d fields in one item", LK_WRITE_MAX_FIELDS);
  return 0;
}

/* Sets one field from a JSON value (v borrowed). */
static int set_json_field(lk_write_item *it, const char *name, json_t *v, lk_errbuf *err) {
  int rc;
  if ((rc = valid_name(name, err))) return rc;
  if (!strcmp(name, "id")) {
    if (json_is_integer(v)) {
      if (json_integer_value(v) < 0)
        return lk_err_set(err, LK_EINVAL, "\"id\" must be a whole number from 0 to 9223372036854775807");
      it->id = json_integer_value(v);
      it->has_id = 1;
      return 0;
    }
    if (json_is_string(v)) return set_id_text(it, json_string_value(v), err);
    return lk_err_set(err, LK_EINVAL, "\"id\" must be a whole number from 0 to 9223372036854775807");
  }
  if (!strcmp(name, "upload")) {
    const char *u = json_string_value(v);
    if (json_is_null(v)) return 0;
    if (!u || strlen(u) != LK_WRITE_UPLOAD_ID - 1 || strncmp(u, "u_", 2) || strspn(u + 2, "0123456789abcdef") != 32)
      return lk_err_set(err, LK_EINVAL, "\"upload\" must be an upload id (\"u_\" and 32 hex digits) from POST /api/uploads");
    memcpy(it->upload, u, LK_WRITE_UPLOAD_ID);
    return 0;
  }
  int k = field_index(name);
  if (k >= 0) {
    char num[32];
    const char *s = NULL;
    if (json_is_string(v)) s = json_string_value(v);
    else if (k == 6 && json_is_integer(v)) /* year */
      snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), s = num;
    else if (!json_is_null(v))
      return lk_err_set(err, LK_EINVAL, "field '%s' must be a string%s", lk_catalog_fields[k], k == 6 ? " or a whole number" : "");
    if (s && (rc = valid_text(lk_catalog_fields[k], s, strlen(s), err))) return rc;
    free(it->field[k]);
    it->field[k] = s && *s ? strdup(s) : NULL;
    if (s && *s && !it->field[k]) return lk_err_set(err, LK_ENOMEM, "out of memory");
    it->sent |= 1u << k;
    return 0;
  }
  if (json_is_object(v) || json_is_array(v))
    return lk_err_set(err, LK_EINVAL, "field '%s' must be a string, a number, a boolean or null", name);
  if (json_is_real(v) && !isfinite(json_real_value(v)))
    return lk_err_set(err, LK_EINVAL, "field '%s' is not a finite number", name);
  if (json_is_string(v) && (rc = valid_text(name, json_string_value(v), json_string_length(v), err))) return rc;
  if (!it->extra && !(it->extra = json_object())) return lk_err_set(err, LK_ENOMEM, "out of memory");
  if (json_object_set(it->extra, name, v)) return lk_err_set(err, LK_ENOMEM, "out of memory");
  return 0;
}

int lk_write_parse_json(const char *text, size_t len, lk_write_item *it, lk_errbuf *err) {
  memset(it, 0, sizeof *it);
  if (len > LK_WRITE_MAX_JSON)
    return lk_err_set(err, LK_EINVAL, "an item's JSON is %zu bytes; at most %zu", len, LK_WRITE_MAX_JSON);
  json_error_t je;
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!o) return lk_err_set(err, LK_EINVAL, "bad JSON at character %d: %s", je.position, je.text);
  int rc = 0;
  if (!json_is_object(o)) rc = lk_err_set(err, LK_EINVAL, "an item must be a JSON object {\"id\": ..., ...}");
  else if (json_object_size(o) > LK_WRITE_MAX_FIELDS + 2)
    rc = lk_err_set(err, LK_EINVAL, "more than %d fields in one item", LK_WRITE_MAX_FIELDS);
  const char *k;
  json_t *v;
  if (!rc) json_object_foreach(o, k, v) {
      if ((rc = set_json_field(it, k, v, err))) break;
    }
  json_decref(o);
  if (!rc) rc = count_fields(it, err);
  if (rc) lk_write_item_clear(it);
  return rc;
}

int lk_write_item_field(lk_write_item *it, const char *name, const char *value, int numbers, lk_errbuf *err) {
  int rc = valid_name(name, err);
  if (rc) return rc;
  size_t n = strlen(value);
  if ((rc = valid_text(name, value, n, err))) return rc;
  if (!strcmp(name, "id")) return set_id_text(it, value, err);
  json_t *v = NULL;
  if (numbers && field_index(name) < 0 && n && n < 64 && strcmp(name, "upload")) {
    /* a form value that is a JSON number or boolean keeps that type in extra */
    json_t *j = json_loadb(value, n, JSON_DECODE_ANY, NULL);
    if (j && (json_is_number(j) || json_is_boolean(j))) v = j;
    else json_decref(j);
  }
  if (!v && !(v = json_string(value))) return lk_err_set(err, LK_ENOMEM, "out of memory");
  rc = set_json_field(it, name, v, err);
  json_decref(v);
  if (!rc) rc = count_fields(it, err);
  return rc;
}

int lk_write_next_line(const uint8_t *buf, size_t n, size_t *pos, long *lineno, const char **line, size_t *len) {
  while (*pos < n) {
    const uint8_t *p = buf + *pos, *nl = memchr(p, '\n', n - *pos);
    size_t l = nl ? (size_t)(nl - p) : n - *pos;
    *pos += l + (nl != NULL);
    ++*lineno;
    if (l && p[l - 1] == '\r') l--;
    size_t b = 0;
    while (b < l && (p[b] == ' ' || p[b] == '\t')) b++;
    if (b == l) continue; /* blank */
    *line = (const char *)p;
    *len = l;
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ uploads */

static void purge_expired_locked(lk_write *w, double now) {
  for (upload **pp = &w->uploads; *pp;) {
    upload *u = *pp;
    if (u->expires > now) {
      pp = &u->next;
      continue;
    }
    *pp = u->next;
    w->up_bytes -= u->len;
    w->up_count--;
    free(u->data);
    free(u);
  }
}

/* A copy of upload id's bytes; LK_ENOTFOUND when unknown or expired. */
static int upload_get(lk_write *w, const char *id, uint8_t **data, size_t *len) {
  int rc = LK_ENOTFOUND;
  pthread_mutex_lock(&w->up_lock);
  purge_expired_locked(w, lk_clock_now());
  for (upload *u = w->uploads; u; u = u->next)
    if (!strcmp(u->id, id)) {
      *data = malloc(u->len ? u->len : 1);
      rc = *data ? 0 : LK_ENOMEM;
      if (*data) memcpy(*data, u->data, u->len), *len = u->len;
      break;
    }
  pthread_mutex_unlock(&w->up_lock);
  return rc;
}

/* ------------------------------------------------------------------ photos */

/* The photo of a request: type sniffed, decoded and embedded. 0, or an HTTP status (415,
 * 413, 503, 500) with the message in err. */
static int embed_photo(lk_write *w, const uint8_t *data, size_t len, float *vec, int dim, const char **type,
                       lk_errbuf *err) {
  if (!len) return lk_err_set(err, 400, "the photo is empty"), 400;
  if (len > LK_CATALOG_MAX_PHOTO) {
    lk_err_set(err, 413, "the photo is %zu bytes; at most %zu MiB", len, LK_CATALOG_MAX_PHOTO >> 20);
    return 413;
  }
  if (!(*type = lk_http_sniff(data, len))) {
    lk_err_set(err, 415, "not a JPEG, PNG or WebP photo");
    return 415;
  }
  pthread_mutex_lock(&w->emb_lock);
  int rc = 0;
  if (!w->emb) {
    char models[4096];
    lk_errbuf eb = {0};
    const lk_live_snap *snap = lk_live_acquire(w->o.follow); /* the embedder copies its recipe */
    if (!(rc = lk_embed_find_models(w->o.models_dir, models, sizeof models, &eb)))
      rc = lk_ingest_embedder_new(lk_engine_recipe(lk_live_engine(snap)), models, w->o.backend, 8, &w->emb, &eb);
    lk_live_release(w->o.follow, snap);
    if (rc) {
      pthread_mutex_unlock(&w->emb_lock);
      lk_err_set(err, 503, "cannot embed photos: %s", lk_err_msg(&eb));
      return 503;
    }
  }
  if (lk_embedder_dim(w->emb) != dim) {
    pthread_mutex_unlock(&w->emb_lock);
    lk_err_set(err, 500, "the models make %d-d vectors, the catalog holds %d-d ones", lk_embedder_dim(w->emb), dim);
    return 500;
  }
  lk_errbuf eb = {0};
  rc = lk_ingest_photo_vector(w->emb, data, len, &w->o.image, vec, &eb);
  pthread_mutex_unlock(&w->emb_lock);
  if (!rc) return 0;
  if (rc == LK_ENOMEM) return lk_err_set(err, 503, "out of memory embedding the photo; try again"), 503;
  if (rc == LK_ETOOBIG) return lk_err_set(err, 413, "the photo is too large: %s", lk_err_msg(&eb)), 413;
  if (rc == LK_EDECODE || rc == LK_EUNSUPPORTED || rc == LK_ECORRUPT)
    return lk_err_set(err, 415, "the photo cannot be decoded: %s", lk_err_msg(&eb)), 415;
  return lk_err_set(err, 500, "embedding the photo failed: %s", lk_err_msg(&eb)), 500;
}

/* ------------------------------------------------------------------ one row of a write */

/* A write being prepared: the item as sent, its photo, the outcome. */
typedef struct row {
  long line;              /* batch: its line; 0 for a single write */
  lk_write_item it;
  const uint8_t *photo;   /* the photo bytes (into the body, or owned) */
  size_t plen;
  uint8_t *owned;         /* an upload's copy */
  const char *type;
  float *vec;             /* when a photo was sent: its vector (dim floats) */
  int dim;
  int status;             /* 0 until decided: 201, 200, or an error status */
  char error[LK_ERRMSG_MAX];
} row;

static void row_clear(row *r) {
  lk_write_item_clear(&r->it);
  free(r->owned);
  free(r->vec);
}

static void row_fail(row *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void row_fail(row *r, int status, const char *fmt, ...) {
  if (r->status) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->error, sizeof r->error, fmt, ap);
  va_end(ap);
  lk_utf8_scrub(r->error);
  r->status = status;
}

/* Fetches the upload named by the row and embeds its photo (outside the catalog lock). */
static void prepare_row(lk_write *w, row *r, int dim) {
  if (r->status) return;
  if (!r->it.has_id) return row_fail(r, 400, "\"id\" is missing: every item needs one (a whole number)");
  if (!r->photo && r->it.upload[0]) {
    int rc = upload_get(w, r->it.upload, &r->owned, &r->plen);
    if (rc == LK_ENOMEM) return row_fail(r, 503, "out of memory; try again");
    if (rc) return row_fail(r, 400, "unknown or expired upload '%s': send the photo to POST /api/uploads again", r->it.upload);
    r->photo = r->owned;
  }
  if (!r->photo) return;
  if (!(r->vec = malloc(sizeof(float) * (size_t)dim))) return row_fail(r, 503, "out of memory; try again");
  r->dim = dim;
  lk_errbuf eb = {0};
  int st = embed_photo(w, r->photo, r->plen, r->vec, dim, &r->type, &eb);
  if (st) row_fail(r, st, "item %lld: %s", (long long)r->it.id, eb.msg);
}

/* Extra of the item written: the old one merged with what was sent (patch), or what was sent
 * (a null or "" value clears a field; sent may be NULL). *out: JSON text or NULL (none),
 * malloc'd. */
static int merge_extra(const char *old, const json_t *sent, int patch, char **out) {
  *out = NULL;
  json_t *o = patch && old ? json_loads(old, 0, NULL) : NULL;
  if (o && !json_is_object(o)) json_decref(o), o = NULL;
  if (!o && !(o = json_object())) return LK_ENOMEM;
  const char *k;
  json_t *v;
  if (sent) json_object_foreach((json_t *)sent, k, v) {
    if (json_is_null(v) || (json_is_string(v) && !json_string_length(v))) json_object_del(o, k);
    else if (json_object_set(o, k, v)) return json_decref(o), LK_ENOMEM;
  }
  if (json_object_size(o)) *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  int rc = json_object_size(o) && !*out ? LK_ENOMEM : 0;
  json_decref(o);
  return rc;
}

static int64_t unix_now(void) { return (int64_t)time(NULL); }

/* Writes one prepared row inside the open transaction. op: POST/PUT (replace) or PATCH.
 * Sets r->status; returns a catalog error only (the row's own problems are its status). */
static int write_row(lk_write *w, row *r, int op) {
  if (r->status) return 0;
  lk_catalog *cat = w->cat;
  lk_item old;
  int rc = lk_catalog_get_item(cat, r->it.id, &old), exists = rc == 0;
  if (rc && rc != LK_ENOTFOUND) return rc;
  if (!exists) memset(&old, 0, sizeof old);
  if (!exists && op == LK_WRITE_PATCH) {
    row_fail(r, 404, "no item with id %lld (PATCH changes an item; create it with POST or PUT)", (long long)r->it.id);
    return 0;
  }
  if (!r->photo && (!exists || !old.hash)) {
    lk_item_clear(&old);
    row_fail(r, 400, "item %lld is new: send its photo (an 'image' part, or \"upload\")", (long long)r->it.id);
    return 0;
  }
  int patch = op == LK_WRITE_PATCH;
  lk_item it = {0};
  char path[64], hash[LK_SHA256_HEX], *extra = NULL;
  it.id = r->it.id;
  for (int i = 0; i < LK_NFIELDS; i++)
    it.field[i] = r->it.sent >> i & 1 ? r->it.field[i] : patch ? old.field[i] : NULL;
  if ((rc = merge_extra(old.extra, r->it.extra, patch, &extra))) goto out;
  it.extra = extra;
  it.status = (char *)"ok";
  it.source = (char *)"api";
  if (r->photo) {
    snprintf(path, sizeof path, LK_CATALOG_PHOTO_PATH "%lld", (long long)it.id);
    lk_hash_sha256_hex(r->photo, r->plen, hash);
    it.path = path;
    it.hash = hash;
    it.size = (int64_t)r->plen;
    /* the same photo again keeps its time: a repeated write leaves the row as it was */
    it.mtime = exists && old.hash && !strcmp(old.hash, hash) ? old.mtime : unix_now();
  } else { /* the photo stays: its file, or the stored bytes */
    it.path = old.path;
    it.hash = old.hash;
    it.size = old.size;
    it.mtime = old.mtime;
    it.status = old.status;
    it.error = old.error;
  }
  if ((rc = lk_catalog_put_item(cat, &it))) goto out;
  if (r->photo && (rc = lk_catalog_put_vector(cat, it.id, r->vec, r->dim))) goto out;
  if (r->photo && (rc = lk_catalog_put_photo(cat, it.id, r->type, r->photo, r->plen))) goto out;
  r->status = exists ? 200 : 201;
out:
  free(extra);
  lk_item_clear(&old);
  return rc;
}

/* ------------------------------------------------------------------ transactions */

/* Brings the served engine up to every commit so far (this caller's included): after the
 * return, every request sees them. Writers that committed while another sync ran are applied
 * by the next one together. 0, or 500 with the reason in err. */
static int sync_engine(lk_write *w, lk_errbuf *err) {
  pthread_mutex_lock(&w->sync_lock);
  lk_errbuf eb = {0};
  int rc = 0;
  if (!w->syncer) rc = lk_catalog_open(w->o.db, LK_CATALOG_READONLY, &w->syncer, &eb);
  if (!rc) rc = lk_live_sync(w->o.follow, w->syncer, &eb);
  if (w->syncer) lk_catalog_rollback(w->syncer); /* a PostgreSQL snapshot ends here */
  pthread_mutex_unlock(&w->sync_lock);
  if (!rc) return 0;
  lk_err_set(err, 500, "the write was committed, but the server could not apply it to its search engine: %s", eb.msg);
  return 500;
}

/* The writer handle, opened at the first write. 0, or 503 with the reason in err. */
static int open_writer_locked(lk_write *w, lk_errbuf *err) {
  if (w->cat) return 0;
  lk_errbuf eb = {0};
  int rc = lk_catalog_open(w->o.db, LK_CATALOG_CREATE, &w->cat, &eb);
  if (!rc && (rc = lk_catalog_set_durable(w->cat))) lk_catalog_fail(w->cat, rc, &eb, NULL);
  if (rc) {
    lk_catalog_close(w->cat);
    w->cat = NULL;
    lk_err_set(err, 503, "this catalog is served read-only: %s", eb.msg);
    return 503;
  }
  return 0;
}

/* Writes the rows not refused yet in one transaction, commits (durable), and applies it to the
 * served engine. 0 (rows' statuses set), or an HTTP status for the whole request with the
 * message in err (nothing written) and *retry_s for a busy catalog. */
static int commit_rows(lk_write *w, row *rows, size_t n, int op, int *retry_s, lk_errbuf *err) {
  pthread_mutex_lock(&w->db_lock);
  int status = open_writer_locked(w, err), rc = 0;
  if (status) goto out;
  lk_catalog *cat = w->cat;
  double t0 = lk_clock_now();
  while ((rc = lk_catalog_begin(cat)) == LK_EDB && lk_clock_now() - t0 < w->o.busy_s) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (rc) {
    status = 503;
    *retry_s = 1;
    lk_catalog_fail(cat, 503, err, "the catalog is busy (another process is writing it); try again");
    goto out;
  }
  size_t stored = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    rc = write_row(w, &rows[i], op);
    if (!rc && (rows[i].status == 200 || rows[i].status == 201)) stored++;
  }
  if (!rc && stored) rc = lk_catalog_commit(cat);
  if (rc || !stored) {
    lk_catalog_rollback(cat);
    if (rc) {
      status = rc == LK_EDB || rc == LK_ENOMEM ? 503 : 500;
      if (status == 503) *retry_s = 1;
      lk_catalog_fail(cat, status, err, "nothing was written");
      for (size_t i = 0; i < n; i++)
        if (rows[i].status == 200 || rows[i].status == 201) rows[i].status = 0;
    }
    goto out;
  }
  pthread_mutex_unlock(&w->db_lock);
  return sync_engine(w, err);
out:
  pthread_mutex_unlock(&w->db_lock);
  return status;
}

/* ------------------------------------------------------------------ answers */

/* The served engine's view of the catalog right now. */
typedef struct view {
  lk_live *f;
  const lk_live_snap *snap;
  lk_engine *e;
} view;

static void view_open(lk_write *w, view *v) {
  v->f = w->o.follow;
  v->snap = lk_live_acquire(v->f);
  v->e = lk_live_engine(v->snap);
}

static void view_close(view *v) { lk_live_release(v->f, v->snap); }

static int reply_error(lk_api_reply *r, int status, const char *msg) { return lk_api_error(r, status, "%s", msg); }

/* The body of a single write: its row, answered as GET /api/items/{id} shows the item. */
static int reply_item(lk_write *w, row *rw, lk_api_reply *r) {
  if (rw->status != 200 && rw->status != 201) return reply_error(r, rw->status, rw->error);
  view v;
  view_open(w, &v);
  lk_api_reply item;
  int rc = lk_api_item(v.e, rw->it.id, &item);
  int64_t version = lk_live_version(v.snap);
  view_close(&v);
  if (rc) return rc;
  if (item.status != 200) {
    json_decref(item.body);
    return lk_api_error(r, 500, "item %lld was written but the server does not show it", (long long)rw->it.id);
  }
  memset(r, 0, sizeof *r);
  r->status = rw->status;
  r->body = json_pack("{s:o, s:I, s:b}", "item", item.body, "catalog_version", (json_int_t)version, "created",
                      rw->status == 201);
  return r->body ? 0 : lk_api_error(r, 500, "out of memory");
}

/* ------------------------------------------------------------------ requests */

static int is_photo_part(const lk_write_part *p) { return !strcmp(p->name ? p->name : "", "image") || p->filename; }

/* A single item from the body (multipart fields + image, or JSON) into rw. */
static void parse_single(const lk_write_body *b, row *rw) {
  lk_errbuf eb = {0};
  if (b->multipart) {
    for (size_t i = 0; i < b->nparts && !rw->status; i++) {
      const lk_write_part *p = &b->parts[i];
      if (is_photo_part(p)) {
        if (rw->photo) return row_fail(rw, 400, "send one photo (one 'image' part), not several");
        rw->photo = p->data;
        rw->plen = p->len;
        continue;
      }
      char *v = malloc(p->len + 1);
      if (!v) return row_fail(rw, 503, "out of memory; try again");
      memcpy(v, p->data, p->len);
      v[p->len] = '\0';
      if (memchr(p->data, 0, p->len)) row_fail(rw, 400, "form field '%.64s' holds a NUL byte", p->name ? p->name : "");
      else if (lk_write_item_field(&rw->it, p->name ? p->name : "", v, 1, &eb))
        row_fail(rw, 400, "%s", lk_err_msg(&eb));
      free(v);
    }
    return;
  }
  if (!b->len)
    return row_fail(rw, 400, "no item: send it as JSON (Content-Type: application/json) or as multipart/form-data "
                             "fields with its photo in an 'image' part");
  if (lk_write_parse_json((const char *)b->raw, b->len, &rw->it, &eb)) row_fail(rw, 400, "%s", lk_err_msg(&eb));
}

static int do_single(lk_write *w, int op, int64_t path_id, const lk_write_body *b, lk_api_reply *r, int *retry_s) {
  row rw = {0};
  parse_single(b, &rw);
  if (!rw.status && op != LK_WRITE_POST) {
    if (rw.it.has_id && rw.it.id != path_id)
      row_fail(&rw, 400, "the body's \"id\" %lld is not the path's %lld", (long long)rw.it.id, (long long)path_id);
    rw.it.id = path_id;
    rw.it.has_id = 1;
  }
  view v;
  view_open(w, &v);
  int dim = lk_engine_dim(v.e);
  view_close(&v);
  prepare_row(w, &rw, dim);
  int rc = 0;
  if (!rw.status) {
    lk_errbuf eb = {0};
    int st = commit_rows(w, &rw, 1, op, retry_s, &eb);
    if (st) {
      rc = reply_error(r, st, eb.msg);
      goto out;
    }
  }
  rc = reply_item(w, &rw, r);
out:
  row_clear(&rw);
  return rc;
}

static int do_delete(lk_write *w, int64_t id, lk_api_reply *r, int *retry_s) {
  lk_errbuf eb = {0};
  pthread_mutex_lock(&w->db_lock);
  int status = open_writer_locked(w, &eb), rc = 0;
  if (status) goto out;
  double t0 = lk_clock_now();
  while ((rc = lk_catalog_begin(w->cat)) == LK_EDB && lk_clock_now() - t0 < w->o.busy_s) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (rc) {
    status = 503;
    *retry_s = 1;
    lk_err_set(&eb, 503, "the catalog is busy (another process is writing it); try again");
    goto out;
  }
  rc = lk_catalog_delete_item(w->cat, id);
  if (!rc) rc = lk_catalog_commit(w->cat);
  if (rc) {
    lk_catalog_rollback(w->cat);
    status = rc == LK_ENOTFOUND ? 404 : rc == LK_EDB ? 503 : 500;
    if (status == 503) *retry_s = 1;
    if (rc == LK_ENOTFOUND) lk_err_set(&eb, 404, "no item with id %lld", (long long)id);
    else lk_catalog_fail(w->cat, status, &eb, "nothing was deleted");
    goto out;
  }
  pthread_mutex_unlock(&w->db_lock);
  status = sync_engine(w, &eb);
  goto answer;
out:
  pthread_mutex_unlock(&w->db_lock);
answer:
  if (status) return reply_error(r, status, eb.msg);
  view v;
  view_open(w, &v);
  int64_t version = lk_live_version(v.snap);
  view_close(&v);
  memset(r, 0, sizeof *r);
  r->status = 200;
  r->body = json_pack("{s:I, s:I}", "deleted", (json_int_t)id, "catalog_version", (json_int_t)version);
  return r->body ? 0 : lk_api_error(r, 500, "out of memory");
}

static int do_upload(lk_write *w, const lk_write_body *b, lk_api_reply *r, int *retry_s) {
  const uint8_t *data = b->raw;
  size_t len = b->len;
  if (b->multipart) {
    data = NULL, len = 0;
    for (size_t i = 0; i < b->nparts; i++)
      if (is_photo_part(&b->parts[i])) {
        if (data) return lk_api_error(r, 400, "send one photo (one 'image' part), not several");
        data = b->parts[i].data, len = b->parts[i].len;
      }
  }
  if (!data || !len) return lk_api_error(r, 400, "no photo: send it as the body, or as a multipart 'image' part");
  const char *type = lk_http_sniff(data, len);
  if (!type) return lk_api_error(r, 415, "not a JPEG, PNG or WebP photo");
  lk_image img = {0};
  lk_errbuf eb = {0};
  int rc = lk_image_decode(data, len, &w->o.image, 0, &img, &eb);
  int width = img.w, height = img.h;
  lk_image_free(&img);
  if (rc == LK_ENOMEM) return *retry_s = 1, lk_api_error(r, 503, "out of memory; try again");
  if (rc == LK_ETOOBIG) return lk_api_error(r, 413, "the photo is too large: %s", lk_err_msg(&eb));
  if (rc) return lk_api_error(r, 415, "the photo cannot be decoded: %s", lk_err_msg(&eb));
  upload *u = calloc(1, sizeof *u);
  if (!u || !(u->data = malloc(len))) {
    free(u);
    return *retry_s = 1, lk_api_error(r, 503, "out of memory; try again");
  }
  memcpy(u->data, data, len);
  u->len = len;
  u->type = type;
  unsigned char rnd[16];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    free(u->data), free(u);
    return lk_api_error(r, 500, "no random bytes for an upload id");
  }
  memcpy(u->id, "u_", 2);
  for (int i = 0; i < 16; i++) snprintf(u->id + 2 + 2 * i, 3, "%02x", rnd[i]);
  double now = lk_clock_now();
  u->expires = now + w->o.upload_ttl_s;
  pthread_mutex_lock(&w->up_lock);
  purge_expired_locked(w, now);
  int full = w->up_count >= MAX_UPLOADS || w->up_bytes + len > w->o.upload_cap;
  size_t held = w->up_bytes;
  if (!full) {
    u->next = w->uploads;
    w->uploads = u;
    w->up_bytes += len;
    w->up_count++;
  }
  pthread_mutex_unlock(&w->up_lock);
  if (full) {
    free(u->data), free(u);
    *retry_s = 60;
    return lk_api_error(r, 503, "the upload store is full (%zu MiB held, at most %zu MiB and %d uploads, each kept "
                        "%.0f s): write the items of earlier uploads first, or try again later",
                        held / MIB, w->o.upload_cap / MIB, MAX_UPLOADS, w->o.upload_ttl_s);
  }
  memset(r, 0, sizeof *r);
  r->status = 201;
  r->body = json_pack("{s:s, s:I, s:s, s:i, s:i, s:i}", "upload", u->id, "bytes", (json_int_t)len, "type", type,
                      "width", width, "height", height, "expires_s", (int)w->o.upload_ttl_s);
  return r->body ? 0 : lk_api_error(r, 500, "out of memory");
}

/* ---- batches */

/* The id a photo part's file name gives ("123.jpg", "dir/123.webp"), or -1. */
static int64_t part_id(const char *filename) {
  if (!filename) return -1;
  const char *base = strrchr(filename, '/');
  base = base ? base + 1 : filename;
  const char *dot = strrchr(base, '.');
  int64_t id;
  if (!dot || (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png") && strcasecmp(dot, ".webp")) ||
      lk_id_parse(base, (size_t)(dot - base), &id))
    return -1;
  return id;
}

/* Rows of an NDJSON body. */
static int batch_ndjson(const lk_write_body *b, row **rows, size_t *n, lk_errbuf *err) {
  size_t pos = 0, len, cap = 0;
  long lineno = 0;
  const char *line;
  while (lk_write_next_line(b->raw, b->len, &pos, &lineno, &line, &len)) {
    if (*n >= LK_WRITE_MAX_BATCH)
      return lk_err_set(err, 413, "more than %d items in one batch: split it", LK_WRITE_MAX_BATCH);
    if (LK_ARRAY_RESERVE(*rows, cap, *n + 1, 64)) return lk_err_set(err, 503, "out of memory; try again");
    row *rw = &(*rows)[(*n)++];
    memset(rw, 0, sizeof *rw);
    rw->line = lineno;
    lk_errbuf eb = {0};
    if (lk_write_parse_json(line, len, &rw->it, &eb)) row_fail(rw, 400, "line %ld: %s", lineno, lk_err_msg(&eb));
  }
  return 0;
}

/* Rows of a multipart batch: a "csv" part in the styles.csv layout and photo parts ID.jpg. */
static int batch_csv(const lk_write_body *b, row **rows, size_t *n, lk_errbuf *err) {
  const lk_write_part *csvp = NULL;
  for (size_t i = 0; i < b->nparts; i++)
    if (!strcmp(b->parts[i].name ? b->parts[i].name : "", "csv")) {
      if (csvp) return lk_err_set(err, 400, "send one 'csv' part, not several");
      csvp = &b->parts[i];
    }
  if (!csvp) return lk_err_set(err, 400, "no 'csv' part: send the items as a CSV in the styles.csv layout (header row first) "
                                         "in a part named 'csv', and their photos as parts with file names ID.jpg");
  lk_csv *csv;
  lk_csv_limits lim = {.max_field = LK_WRITE_MAX_VALUE, .max_fields = LK_WRITE_MAX_FIELDS, .max_rows = LK_WRITE_MAX_BATCH + 1};
  lk_errbuf eb = {0};
  if (lk_csv_open_buffer((const char *)csvp->data, csvp->len, &lim, &csv, &eb))
    return lk_err_set(err, 400, "csv: %s", lk_err_msg(&eb));
  char **f, *names[LK_WRITE_MAX_FIELDS];
  int nf, nnames = 0, status = 0, idcol = -1;
  size_t cap = 0;
  int got = lk_csv_next(csv, &f, &nf);
  if (got <= 0) {
    status = lk_err_set(err, 400, "csv: %s", got < 0 ? lk_csv_error(csv) : "empty: the first row must name the columns (id,gender,...)");
    goto out;
  }
  for (int i = 0; i < nf; i++) {
    if (!(names[nnames] = strdup(f[i]))) { status = lk_err_set(err, 503, "out of memory"); goto out; }
    if (!strcasecmp(f[i], "id")) idcol = i;
    nnames++;
  }
  if (idcol < 0) {
    status = lk_err_set(err, 400, "csv: the header row has no 'id' column");
    goto out;
  }
  while ((got = lk_csv_next(csv, &f, &nf)) > 0) {
    if (*n >= LK_WRITE_MAX_BATCH) {
      status = lk_err_set(err, 413, "more than %d items in one batch: split it", LK_WRITE_MAX_BATCH);
      goto out;
    }
    if (LK_ARRAY_RESERVE(*rows, cap, *n + 1, 64)) {
      status = lk_err_set(err, 503, "out of memory; try again");
      goto out;
    }
    row *rw = &(*rows)[(*n)++];
    memset(rw, 0, sizeof *rw);
    rw->line = lk_csv_line(csv);
    if (nf == 1 && !f[0][0]) { (*n)--; continue; } /* a blank line */
    if (nf != nnames) {
      row_fail(rw, 400, "line %ld: %d fields, the header has %d", rw->line, nf, nnames);
      continue;
    }
    for (int i = 0; i < nf && !rw->status; i++) {
      if (i != idcol && !f[i][0]) continue; /* empty: no value */
      if (lk_write_item_field(&rw->it, names[i], f[i], 0, &eb)) row_fail(rw, 400, "line %ld: %s", rw->line, lk_err_msg(&eb));
    }
    if (rw->status) continue;
    for (size_t i = 0; i < b->nparts; i++)
      if (b->parts[i].filename && part_id(b->parts[i].filename) == rw->it.id) {
        rw->photo = b->parts[i].data;
        rw->plen = b->parts[i].len;
      }
  }
  if (got < 0) status = lk_err_set(err, 400, "csv: %s", lk_csv_error(csv));
out:
  for (int i = 0; i < nnames; i++) free(names[i]);
  lk_csv_close(csv);
  return status;
}

static int do_batch(lk_write *w, const lk_write_body *b, lk_api_reply *r, int *retry_s) {
  row *rows = NULL;
  size_t n = 0;
  lk_errbuf eb = {0};
  int status = b->multipart ? batch_csv(b, &rows, &n, &eb) : batch_ndjson(b, &rows, &n, &eb), rc = 0;
  if (!status && !n) status = lk_err_set(&eb, 400, "an empty batch: send one item per line (NDJSON), or a CSV");
  if (status) {
    rc = reply_error(r, status, eb.msg);
    goto out;
  }
  view v;
  view_open(w, &v);
  int dim = lk_engine_dim(v.e);
  view_close(&v);
  for (size_t i = 0; i < n; i++) {
    prepare_row(w, &rows[i], dim);
    if (rows[i].status == 400 && !strncmp(rows[i].error, "\"id\"", 4)) {
      char tmp[LK_ERRMSG_MAX];
      snprintf(tmp, sizeof tmp, "line %ld: %.480s", rows[i].line, rows[i].error);
      snprintf(rows[i].error, sizeof rows[i].error, "%s", tmp);
    }
  }
  if ((status = commit_rows(w, rows, n, LK_WRITE_POST, retry_s, &eb))) {
    rc = reply_error(r, status, eb.msg);
    goto out;
  }
  view_open(w, &v);
  int64_t version = lk_live_version(v.snap);
  view_close(&v);
  json_t *res = json_array();
  long stored = 0, refused = 0;
  for (size_t i = 0; res && i < n; i++) {
    row *rw = &rows[i];
    int ok = rw->status == 200 || rw->status == 201;
    ok ? stored++ : refused++;
    json_t *o = json_pack("{s:I, s:I, s:i}", "line", (json_int_t)rw->line, "id", (json_int_t)rw->it.id, "status", rw->status);
    if (o && !rw->it.has_id) json_object_set_new(o, "id", json_null());
    if (o && !ok) json_object_set_new(o, "error", json_string(rw->error));
    if (!o || json_array_append_new(res, o)) json_decref(res), res = NULL;
  }
  memset(r, 0, sizeof *r);
  r->status = 200;
  r->body = res ? json_pack("{s:I, s:I, s:I, s:o}", "stored", (json_int_t)stored, "refused", (json_int_t)refused,
                            "catalog_version", (json_int_t)version, "results", res)
                : NULL;
  rc = r->body ? 0 : lk_api_error(r, 500, "out of memory");
out:
  for (size_t i = 0; i < n; i++) row_clear(&rows[i]);
  free(rows);
  return rc;
}

int lk_write_run(lk_write *w, int op, int64_t id, const lk_write_body *b, lk_api_reply *r, int *retry_s) {
  *retry_s = 0;
  memset(r, 0, sizeof *r);
  if (op == LK_WRITE_UPLOAD) return do_upload(w, b, r, retry_s);
  lk_live_state st;
  lk_live_status(w->o.follow, &st);
  if (!st.following)
    return lk_api_error(r, 503, "this server does not follow its catalog (serve --no-follow, or a catalog without a "
                        "change sequence), so writes would not be searchable: serve it without --no-follow");
  switch (op) {
  case LK_WRITE_DELETE: return do_delete(w, id, r, retry_s);
  case LK_WRITE_BATCH: return do_batch(w, b, r, retry_s);
  default: return do_single(w, op, id, b, r, retry_s);
  }
}

int lk_write_photo(lk_write *w, int64_t id, char **type, void **data, size_t *len, lk_errbuf *err) {
  pthread_mutex_lock(&w->photo_lock);
  int rc = 0;
  if (!w->reader && (rc = lk_catalog_open(w->o.db, LK_CATALOG_READONLY, &w->reader, err))) goto out;
  if ((rc = lk_catalog_get_photo(w->reader, id, type, data, len))) lk_catalog_fail(w->reader, rc, err, NULL);
  lk_catalog_rollback(w->reader); /* a PostgreSQL reader's snapshot ends here */
out:
  pthread_mutex_unlock(&w->photo_lock);
  return rc;
}
