/* catalog/catalog.c — the catalog's public functions (catalog.h): checks arguments, picks
 * the backend from the path at open (a postgresql:// URL → pg.c, anything else → the SQLite
 * file of sqlite.c) and dispatches every call through the handle's operations table
 * (catalog_int.h). Also what the backends share: field names, lk_item_clear, float coding.
 * Items read from any backend pass through item_repair here: text that is not valid UTF-8
 * (written by versions before 2026-12, or by hand) is handed out with U+FFFD in its place
 * (the photo path excepted: it is a file name). */
#include "catalog/catalog_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/array.h"
#include "util/hash.h"
#include "util/size.h"
#include "util/utf8.h"

const char *const lk_catalog_fields[LK_NFIELDS] = {
    "gender", "masterCategory", "subCategory", "articleType",       "baseColour",
    "season", "year",           "usage",       "productDisplayName",
};

int lk_catalog_is_url(const char *path) {
  return path && (!strncasecmp(path, "postgresql://", 13) || !strncasecmp(path, "postgres://", 11));
}

int lk_catalog_open(const char *path, int flags, lk_catalog **out, lk_errbuf *err) {
  if (!out || !path || (flags != LK_CATALOG_READONLY && flags != LK_CATALOG_CREATE))
    return lk_err_set(err, LK_EINVAL, "catalog: bad arguments to open");
  *out = NULL;
  if (lk_catalog_is_url(path)) return lk_catalog_pg_open(path, flags, out, err);
  return lk_catalog_sqlite_open(path, flags, out, err);
}

void lk_catalog_close(lk_catalog *c) {
  if (c) c->ops->close(c);
}

const char *lk_catalog_errmsg(const lk_catalog *c) {
  return c ? lk_err_msg(&c->err) : "catalog: no handle";
}

int lk_catalog_fail(const lk_catalog *c, int rc, lk_errbuf *err, const char *fmt, ...) {
  if (!err) return rc;
  char msg[LK_ERRMSG_MAX], what[LK_ERRMSG_MAX]; /* copies: err may be the handle's own buffer */
  snprintf(msg, sizeof msg, "%s", lk_catalog_errmsg(c));
  if (!fmt) return lk_err_set(err, rc, "%s", msg);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return lk_err_set(err, rc, "%s: %s", what, msg);
}

const char *lk_catalog_note(const lk_catalog *c) { return c && c->note[0] ? c->note : NULL; }

const char *lk_catalog_backend(const lk_catalog *c) { return c ? c->ops->name : "none"; }

int lk_catalog_get_meta(lk_catalog *c, const char *key, char **value) {
  if (!c || !key || !value) return LK_EINVAL;
  *value = NULL;
  return c->ops->get_meta(c, key, value);
}

int lk_catalog_set_meta(lk_catalog *c, const char *key, const char *value) {
  if (!c || !key) return LK_EINVAL;
  return c->ops->set_meta(c, key, value);
}

int lk_catalog_add_meta(lk_catalog *c, const char *key, const char *value) {
  if (!c || !key || !value) return LK_EINVAL;
  int rc = c->ops->add_meta(c, key, value);
  if (rc) return rc;
  char *now = NULL;
  if ((rc = c->ops->get_meta(c, key, &now))) return rc;
  if (strcmp(now, value))
    rc = lk_err_set(&c->err, LK_EMISMATCH, "catalog: meta '%s' is '%.64s', not '%.64s' (set by another writer?)",
                    key, now, value);
  free(now);
  return rc;
}

int lk_catalog_foreach_meta(lk_catalog *c, lk_meta_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  return c->ops->foreach_meta(c, cb, ctx);
}

int lk_catalog_set_durable(lk_catalog *c) {
  if (!c) return LK_EINVAL;
  return c->ops->set_durable ? c->ops->set_durable(c) : 0;
}

int lk_catalog_begin(lk_catalog *c) { return c ? c->ops->begin(c) : LK_EINVAL; }
int lk_catalog_commit(lk_catalog *c) { return c ? c->ops->commit(c) : LK_EINVAL; }
int lk_catalog_rollback(lk_catalog *c) { return c ? c->ops->rollback(c) : LK_EINVAL; }

int lk_catalog_put_item(lk_catalog *c, const lk_item *it) {
  if (!c || !it) return LK_EINVAL;
  return c->ops->put_item(c, it);
}

/* The text members of an item, for item_repair. Not path: a file name is bytes that open()
 * needs as they are (serve's /photos/ID); what prints it as JSON repairs its copy. */
static char **item_text(lk_item *it, int k) {
  if (k < LK_NFIELDS) return &it->field[k];
  char **rest[] = {&it->hash, &it->extra, &it->status, &it->error};
  return rest[k - LK_NFIELDS];
}
#define ITEM_NTEXT (LK_NFIELDS + 4)

/* Replaces each text of it that is not valid UTF-8 by a malloc'd repaired copy, recording in
 * *owned the bits of the members now owned (to free: item_free_owned); the others are left as
 * they are. 0 or LK_ENOMEM (it then unchanged apart from copies already freed). */
static int item_repair(lk_item *it, unsigned *owned) {
  *owned = 0;
  for (int k = 0; k < ITEM_NTEXT; k++) {
    char **p = item_text(it, k), *fixed = NULL;
    if (!*p) continue;
    if (lk_utf8_fix(*p, &fixed)) {
      for (int j = 0; j < k; j++)
        if (*owned & 1u << j) free(*item_text(it, j)); /* undo the copies made so far */
      *owned = 0;
      return LK_ENOMEM;
    }
    if (fixed) {
      *p = fixed;
      *owned |= 1u << k;
    }
  }
  return 0;
}

static void item_free_owned(lk_item *it, unsigned owned) {
  for (int k = 0; k < ITEM_NTEXT; k++)
    if (owned & 1u << k) free(*item_text(it, k));
}

int lk_catalog_get_item(lk_catalog *c, int64_t id, lk_item *it) {
  if (!c || !it) return LK_EINVAL;
  memset(it, 0, sizeof *it);
  int rc = c->ops->get_item(c, id, it);
  if (rc) return rc;
  lk_item orig = *it; /* every string is the item's own: repaired copies replace them */
  unsigned owned;
  if (item_repair(it, &owned)) {
    *it = orig;
    lk_item_clear(it);
    return lk_err_set(&c->err, LK_ENOMEM, "catalog: out of memory");
  }
  for (int k = 0; k < ITEM_NTEXT; k++)
    if (owned & 1u << k) free(*item_text(&orig, k));
  return 0;
}

void lk_item_clear(lk_item *it) {
  if (!it) return;
  free(it->path);
  free(it->hash);
  for (int i = 0; i < LK_NFIELDS; i++) free(it->field[i]);
  free(it->extra);
  free(it->status);
  free(it->error);
  free(it->source);
  memset(it, 0, sizeof *it);
}

static char *dup_or_null(const char *s, int *bad) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *bad = 1;
  return d;
}

int lk_item_copy(lk_item *dst, const lk_item *src) {
  int bad = 0;
  memset(dst, 0, sizeof *dst);
  dst->id = src->id;
  dst->size = src->size;
  dst->mtime = src->mtime;
  dst->path = dup_or_null(src->path, &bad);
  dst->hash = dup_or_null(src->hash, &bad);
  for (int i = 0; i < LK_NFIELDS; i++) dst->field[i] = dup_or_null(src->field[i], &bad);
  dst->extra = dup_or_null(src->extra, &bad);
  dst->status = dup_or_null(src->status, &bad);
  dst->error = dup_or_null(src->error, &bad);
  dst->source = dup_or_null(src->source, &bad);
  return bad ? LK_ENOMEM : 0;
}

int lk_catalog_delete_item(lk_catalog *c, int64_t id) {
  return c ? c->ops->delete_item(c, id) : LK_EINVAL;
}

int lk_catalog_vector_check(int64_t id, const float *v, int dim, int norm, lk_errbuf *err) {
  double s = 0;
  for (int i = 0; i < dim; i++) {
    if (!isfinite(v[i]))
      return lk_err_set(err, LK_ECORRUPT, "item %lld: vector element %d of %d is %g, not a finite number",
                        (long long)id, i, dim, (double)v[i]);
    s += (double)v[i] * v[i];
  }
  if (norm && !(fabs(sqrt(s) - 1) <= LK_CATALOG_NORM_TOL))
    return lk_err_set(err, LK_ECORRUPT, "item %lld: vector has norm %g, not 1 (vectors are normalised)",
                      (long long)id, sqrt(s));
  return 0;
}

/* A vector read from the backend: checked, the message on the handle naming the item. */
static int read_check(lk_catalog *c, int64_t id, const float *v, int dim, int norm) {
  lk_errbuf eb = {0};
  int rc = lk_catalog_vector_check(id, v, dim, norm, &eb);
  if (rc)
    lk_err_set(&c->err, rc, "catalog: %s: the catalog is damaged; index the photos again into a new catalog",
               eb.msg);
  return rc;
}

int lk_catalog_put_vector(lk_catalog *c, int64_t id, const float *v, int dim) {
  if (!c || !v || dim <= 0 || dim > LK_CATALOG_MAX_DIM)
    return c ? lk_err_set(&c->err, LK_EINVAL, "catalog: bad vector (dim %d)", dim) : LK_EINVAL;
  lk_errbuf eb = {0};
  if (lk_catalog_vector_check(id, v, dim, 0, &eb)) /* never store what no reader accepts */
    return lk_err_set(&c->err, LK_EINVAL, "catalog: refusing to store %s", eb.msg);
  return c->ops->put_vector(c, id, v, dim);
}

int lk_catalog_get_vector(lk_catalog *c, int64_t id, float *v, int cap) {
  if (!c || (!v && cap > 0)) return LK_EINVAL;
  int dim = c->ops->get_vector(c, id, v, cap);
  if (dim > 0 && read_check(c, id, v, dim, 0)) return LK_ECORRUPT;
  return dim;
}

int lk_catalog_delete_all_vectors(lk_catalog *c) {
  return c ? c->ops->delete_all_vectors(c) : LK_EINVAL;
}

/* foreach_item's callback in between: the caller's callback sees repaired text. */
typedef struct repair_ctx {
  lk_catalog *c;
  lk_item_cb cb;
  void *ctx;
  int nomem;
} repair_ctx;

static int repair_cb(void *ctx, const lk_item *it) {
  repair_ctx *r = ctx;
  lk_item copy = *it;
  unsigned owned;
  if (item_repair(&copy, &owned)) {
    r->nomem = 1;
    return LK_ENOMEM;
  }
  int rc = r->cb(r->ctx, &copy);
  item_free_owned(&copy, owned);
  return rc;
}

int lk_catalog_foreach_item(lk_catalog *c, lk_item_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  repair_ctx r = {c, cb, ctx, 0};
  int rc = c->ops->foreach_item(c, repair_cb, &r);
  if (r.nomem) lk_err_set(&c->err, LK_ENOMEM, "catalog: out of memory");
  return rc;
}

typedef struct checked_cb {
  lk_catalog *c;
  lk_vector_cb cb;
  void *ctx;
  int norm;
} checked_cb;

static int vector_checked(void *ctx, int64_t id, const float *v, int dim) {
  checked_cb *k = ctx;
  if (read_check(k->c, id, v, dim, k->norm)) return LK_ECORRUPT;
  int rc = k->cb(k->ctx, id, v, dim);
  if (rc < 0 && !k->c->err.msg[0]) /* the callback's own refusal, named for the caller */
    lk_err_set(&k->c->err, rc, "catalog: item %lld: vector of %d floats refused: %s", (long long)id, dim,
               lk_strerror(rc));
  return rc;
}

static int foreach_checked(lk_catalog *c, lk_vector_cb cb, void *ctx, int norm) {
  if (!c || !cb) return LK_EINVAL;
  checked_cb k = {c, cb, ctx, norm};
  lk_err_clear(&c->err);
  return c->ops->foreach_vector(c, vector_checked, &k);
}

int lk_catalog_foreach_vector(lk_catalog *c, lk_vector_cb cb, void *ctx) { return foreach_checked(c, cb, ctx, 0); }
int lk_catalog_foreach_unit_vector(lk_catalog *c, lk_vector_cb cb, void *ctx) { return foreach_checked(c, cb, ctx, 1); }

static int no_op(void *ctx, int64_t id, const float *v, int dim) { return 0; }

int lk_catalog_counts(lk_catalog *c, int64_t *items, int64_t *vectors, int64_t *errors) {
  return c ? c->ops->counts(c, items, vectors, errors) : LK_EINVAL;
}

/* An item whose photo is stored in the catalog (path LK_CATALOG_PHOTO_PATH...), for check. */
typedef struct stored_ref {
  int64_t id;
  char hash[LK_SHA256_HEX];
  int seen;
} stored_ref;

/* check's walk over the items as stored: text that is not UTF-8 (see item_repair), and the
 * items whose photo is in the catalog (ids ascending, as foreach_item goes). */
typedef struct text_scan {
  long bad;
  int64_t first_id;
  const char *first_field;
  stored_ref *refs;
  size_t nrefs, cap;
  int nomem;
} text_scan;

static int is_stored_path(const char *path) {
  return path && !strncmp(path, LK_CATALOG_PHOTO_PATH, sizeof LK_CATALOG_PHOTO_PATH - 1);
}

static int text_scan_cb(void *ctx, const lk_item *it) {
  static const char *const rest[] = {"hash", "extra", "status", "error"};
  text_scan *t = ctx;
  if (is_stored_path(it->path)) {
    if (LK_ARRAY_RESERVE(t->refs, t->cap, t->nrefs + 1, 64)) return t->nomem = 1, LK_ENOMEM;
    stored_ref *r = &t->refs[t->nrefs++];
    r->id = it->id;
    r->seen = 0;
    snprintf(r->hash, sizeof r->hash, "%s", it->hash ? it->hash : "");
  }
  lk_item copy = *it;
  for (int k = 0; k < ITEM_NTEXT; k++) {
    char *same, **p = item_text(&copy, k);
    if (!*p || !lk_utf8_decode(*p, LK_ENC_UTF8, &same, NULL, NULL)) continue;
    if (!t->bad++) {
      t->first_id = it->id;
      t->first_field = k < LK_NFIELDS ? lk_catalog_fields[k] : rest[k - LK_NFIELDS];
    }
    break;
  }
  return 0;
}

typedef struct photo_scan {
  text_scan *t;
  lk_errbuf err[1]; /* the problem found by the callback */
} photo_scan;

static int photo_check_cb(void *ctx, int64_t id, const char *type, const void *data, size_t len) {
  photo_scan *ps = ctx;
  text_scan *t = ps->t;
  size_t lo = 0, hi = t->nrefs;
  while (lo < hi) { /* refs are in id order */
    size_t mid = lo + (hi - lo) / 2;
    if (t->refs[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  if (lo == t->nrefs || t->refs[lo].id != id)
    return 0; /* its item's photo is a file now (indexed again from a folder): these bytes are left over */
  char hex[LK_SHA256_HEX];
  lk_hash_sha256_hex(data, len, hex);
  if (strcmp(hex, t->refs[lo].hash))
    return lk_err_set(ps->err, LK_ECORRUPT,
                      "catalog: item %lld: its stored photo (%zu bytes, %s) does not match the item's hash; "
                      "write the item again with its photo", (long long)id, len, type ? type : "no type");
  t->refs[lo].seen = 1;
  return 0;
}

/* Every item whose path says its photo is stored has it, with the item's hash. (A photo
 * without any item is the backends' check: their foreign keys keep it from happening.) */
static int check_photos(lk_catalog *c, text_scan *t, lk_errbuf *err) {
  if (!c->ops->foreach_photo) return 0;
  photo_scan ps = {t, {{0}}};
  int rc = c->ops->foreach_photo(c, photo_check_cb, &ps);
  if (rc) return lk_err_set(err, rc, "%s", ps.err->msg[0] ? ps.err->msg : lk_err_msg(&c->err));
  for (size_t i = 0; i < t->nrefs; i++)
    if (!t->refs[i].seen)
      return lk_err_set(err, LK_ECORRUPT, "catalog: item %lld was written over HTTP but its photo is not stored; "
                        "write it again with its photo, or delete it", (long long)t->refs[i].id);
  return 0;
}

int lk_catalog_check(lk_catalog *c, lk_errbuf *err) {
  if (!c) return lk_err_set(err, LK_EINVAL, "catalog: no handle");
  int rc = c->ops->check(c);
  if (!rc) rc = lk_catalog_foreach_unit_vector(c, no_op, NULL);
  if (rc) return lk_err_set(err, rc, "%s", lk_err_msg(&c->err));
  text_scan t = {0};
  if ((rc = c->ops->foreach_item(c, text_scan_cb, &t))) {
    free(t.refs);
    return t.nomem ? lk_err_set(err, LK_ENOMEM, "catalog: out of memory") : lk_err_set(err, rc, "%s", lk_err_msg(&c->err));
  }
  rc = check_photos(c, &t, err);
  free(t.refs);
  if (rc) return rc;
  if (t.bad)
    return lk_err_set(err, LK_ECORRUPT,
                      "catalog: %ld item%s hold%s text that is not UTF-8 (first: id %lld, %s), as "
                      "versions before 2026-12 stored a Windows-1252 styles.csv; it reads as U+FFFD: "
                      "run `lookalike index` again with that styles.csv to store it decoded",
                      t.bad, t.bad == 1 ? "" : "s", t.bad == 1 ? "s" : "", (long long)t.first_id,
                      t.first_field);
  return 0;
}

const char *lk_item_source(const lk_item *it, char *buf, size_t cap) {
  if (!cap) return buf;
  if (it->source) {
    snprintf(buf, cap, "%s", it->source);
    return buf;
  }
  const char *p = it->path ? it->path : "", *slash = strrchr(p, '/');
  size_t n = slash ? (size_t)(slash - p) : 0;
  if (slash == p) n = 1; /* a photo at the root: "/" */
  if (n >= cap) n = cap - 1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return buf;
}

/* foreach_source's tally: sources in order of first appearance, found by an open-addressing
 * hash of their names (a catalog has a few; a hostile one with one per item stays linear). */
typedef struct source_tally {
  char **name;
  int64_t *count;
  size_t n, cap;
  size_t *slot; /* nslot entries: index + 1 into name, 0 = empty */
  size_t nslot;
  int nomem;
} source_tally;

static size_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (size_t)h;
}

static int tally_grow(source_tally *t) {
  size_t nc, ns;
  if (lk_array_grow_cap(t->cap, t->cap + 1, 8, sizeof(size_t), &nc) || lk_size_mul(nc, 2, &ns) ||
      LK_ARRAY_RESIZE(t->name, nc) || LK_ARRAY_RESIZE(t->count, nc))
    return LK_ENOMEM;
  size_t *sl = calloc(ns, sizeof *sl);
  if (!sl) return LK_ENOMEM;
  for (size_t i = 0; i < t->n; i++) {
    size_t h = str_hash(t->name[i]) & (ns - 1);
    while (sl[h]) h = (h + 1) & (ns - 1);
    sl[h] = i + 1;
  }
  free(t->slot);
  t->slot = sl;
  t->nslot = ns;
  t->cap = nc;
  return 0;
}

static int source_cb(void *ctx, const lk_item *it) {
  source_tally *t = ctx;
  char buf[4096];
  const char *s = lk_item_source(it, buf, sizeof buf);
  if (t->n == t->cap && tally_grow(t)) return t->nomem = 1, LK_ENOMEM;
  size_t h = str_hash(s) & (t->nslot - 1);
  for (; t->slot[h]; h = (h + 1) & (t->nslot - 1))
    if (!strcmp(t->name[t->slot[h] - 1], s)) {
      t->count[t->slot[h] - 1]++;
      return 0;
    }
  if (!(t->name[t->n] = strdup(s))) return t->nomem = 1, LK_ENOMEM;
  t->count[t->n++] = 1;
  t->slot[h] = t->n;
  return 0;
}

int lk_catalog_foreach_source(lk_catalog *c, lk_source_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  source_tally t = {0};
  int rc = c->ops->foreach_item(c, source_cb, &t);
  if (t.nomem) rc = lk_err_set(&c->err, LK_ENOMEM, "catalog: out of memory");
  for (size_t i = 0; i < t.n && !rc; i++) rc = cb(ctx, t.name[i], t.count[i]);
  for (size_t i = 0; i < t.n; i++) free(t.name[i]);
  free(t.name);
  free(t.count);
  free(t.slot);
  return rc;
}

static int unsupported(lk_catalog *c) {
  return lk_err_set(&c->err, LK_EUNSUPPORTED,
                    "catalog: a %s catalog has no change sequence (use a postgresql:// catalog)",
                    c->ops->name);
}

int lk_catalog_version(lk_catalog *c, int64_t *version) {
  if (!c || !version) return LK_EINVAL;
  return c->ops->version ? c->ops->version(c, version) : unsupported(c);
}

typedef struct checked_change {
  lk_catalog *c;
  lk_change_cb cb;
  void *ctx;
} checked_change;

static int change_checked(void *ctx, int64_t id, const lk_item *it, const float *v, int dim) {
  checked_change *k = ctx;
  if (v && dim > 0 && read_check(k->c, id, v, dim, 0)) return LK_ECORRUPT;
  int rc = k->cb(k->ctx, id, it, v, dim);
  if (rc < 0 && !k->c->err.msg[0])
    lk_err_set(&k->c->err, rc, "catalog: item %lld: change refused: %s%s", (long long)id, lk_strerror(rc),
               rc == LK_ECORRUPT ? " (a vector that is not normalised?)" : "");
  return rc;
}

int lk_catalog_changes(lk_catalog *c, int64_t since, lk_change_cb cb, void *ctx, int64_t *version) {
  if (!c || !cb || !version || since < 0) return LK_EINVAL;
  checked_change k = {c, cb, ctx};
  lk_err_clear(&c->err);
  return c->ops->changes ? c->ops->changes(c, since, change_checked, &k, version) : unsupported(c);
}

typedef struct checked_recent {
  lk_recent_cb cb;
  void *ctx;
} checked_recent;

/* The name as valid UTF-8 (catalog.h's promise for text read back). */
static int recent_checked(void *ctx, int64_t id, int64_t version, int deleted, const char *name) {
  checked_recent *k = ctx;
  char *fixed = NULL;
  if (name && lk_utf8_fix(name, &fixed)) return LK_ENOMEM;
  int rc = k->cb(k->ctx, id, version, deleted, deleted ? NULL : fixed ? fixed : name);
  free(fixed);
  return rc;
}

int lk_catalog_recent_changes(lk_catalog *c, int limit, lk_recent_cb cb, void *ctx) {
  if (!c || !cb || limit < 1 || limit > LK_CATALOG_MAX_RECENT) return LK_EINVAL;
  lk_err_clear(&c->err);
  checked_recent k = {cb, ctx};
  return c->ops->recent ? c->ops->recent(c, limit, recent_checked, &k) : unsupported(c);
}

int lk_catalog_wait_change(lk_catalog *c, int timeout_ms) {
  if (!c || timeout_ms < 0) return LK_EINVAL;
  return c->ops->wait_change ? c->ops->wait_change(c, timeout_ms) : unsupported(c);
}

static int no_keys(lk_catalog *c) {
  return lk_err_set(&c->err, LK_EUNSUPPORTED, "catalog: a %s catalog cannot hold API keys", c->ops->name);
}

int lk_catalog_add_key(lk_catalog *c, const lk_key *k, int64_t *id) {
  if (!c || !k || !k->role || !k->hash || !id) return LK_EINVAL;
  return c->ops->add_key ? c->ops->add_key(c, k, id) : no_keys(c);
}

int lk_catalog_foreach_key(lk_catalog *c, lk_key_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  return c->ops->foreach_key ? c->ops->foreach_key(c, cb, ctx) : no_keys(c);
}

int lk_catalog_revoke_key(lk_catalog *c, int64_t id) {
  if (!c) return LK_EINVAL;
  return c->ops->revoke_key ? c->ops->revoke_key(c, id) : no_keys(c);
}

static int no_photos(lk_catalog *c) {
  return lk_err_set(&c->err, LK_EUNSUPPORTED, "catalog: a %s catalog cannot hold photos", c->ops->name);
}

int lk_catalog_put_photo(lk_catalog *c, int64_t id, const char *type, const void *data, size_t len) {
  if (!c || !type || (!data && len)) return LK_EINVAL;
  if (len > LK_CATALOG_MAX_PHOTO)
    return lk_err_set(&c->err, LK_ETOOBIG, "catalog: item %lld: a photo of %zu bytes is over the %zu MiB limit",
                      (long long)id, len, LK_CATALOG_MAX_PHOTO >> 20);
  return c->ops->put_photo ? c->ops->put_photo(c, id, type, data, len) : no_photos(c);
}

int lk_catalog_get_photo(lk_catalog *c, int64_t id, char **type, void **data, size_t *len) {
  if (!c || !type || !data || !len) return LK_EINVAL;
  *type = NULL;
  *data = NULL;
  *len = 0;
  return c->ops->get_photo ? c->ops->get_photo(c, id, type, data, len) : no_photos(c);
}

int lk_catalog_delete_photo(lk_catalog *c, int64_t id) {
  if (!c) return LK_EINVAL;
  return c->ops->delete_photo ? c->ops->delete_photo(c, id) : no_photos(c);
}

int lk_catalog_foreach_photo(lk_catalog *c, lk_photo_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  return c->ops->foreach_photo ? c->ops->foreach_photo(c, cb, ctx) : no_photos(c);
}

static int is_little_endian(void) { return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__; }

void lk_catalog_decode_floats(float *dst, const void *src, int n) {
  if (is_little_endian()) {
    memcpy(dst, src, (size_t)n * 4);
    return;
  }
  const unsigned char *p = src;
  for (int i = 0; i < n; i++, p += 4) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(&dst[i], &u, 4);
  }
}

void lk_catalog_encode_floats(void *dst, const float *src, int n) {
  if (is_little_endian()) {
    memcpy(dst, src, (size_t)n * 4);
    return;
  }
  unsigned char *p = dst;
  for (int i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &src[i], 4);
    for (int b = 0; b < 4; b++) p[4 * i + b] = (unsigned char)(u >> (8 * b));
  }
}
