/* catalog/catalog.c — the catalog's public functions (catalog.h): checks arguments, picks
 * the backend from the path at open (a postgresql:// URL → pg.c, anything else → the SQLite
 * file of sqlite.c) and dispatches every call through the handle's operations table
 * (catalog_int.h). Also what the backends share: field names, lk_item_clear, float coding. */
#include "catalog/catalog_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int lk_catalog_begin(lk_catalog *c) { return c ? c->ops->begin(c) : LK_EINVAL; }
int lk_catalog_commit(lk_catalog *c) { return c ? c->ops->commit(c) : LK_EINVAL; }
int lk_catalog_rollback(lk_catalog *c) { return c ? c->ops->rollback(c) : LK_EINVAL; }

int lk_catalog_put_item(lk_catalog *c, const lk_item *it) {
  if (!c || !it) return LK_EINVAL;
  return c->ops->put_item(c, it);
}

int lk_catalog_get_item(lk_catalog *c, int64_t id, lk_item *it) {
  if (!c || !it) return LK_EINVAL;
  memset(it, 0, sizeof *it);
  return c->ops->get_item(c, id, it);
}

void lk_item_clear(lk_item *it) {
  if (!it) return;
  free(it->path);
  free(it->hash);
  for (int i = 0; i < LK_NFIELDS; i++) free(it->field[i]);
  free(it->extra);
  free(it->status);
  free(it->error);
  memset(it, 0, sizeof *it);
}

int lk_catalog_delete_item(lk_catalog *c, int64_t id) {
  return c ? c->ops->delete_item(c, id) : LK_EINVAL;
}

int lk_catalog_put_vector(lk_catalog *c, int64_t id, const float *v, int dim) {
  if (!c || !v || dim <= 0 || dim > LK_CATALOG_MAX_DIM)
    return c ? lk_err_set(&c->err, LK_EINVAL, "catalog: bad vector (dim %d)", dim) : LK_EINVAL;
  return c->ops->put_vector(c, id, v, dim);
}

int lk_catalog_get_vector(lk_catalog *c, int64_t id, float *v, int cap) {
  if (!c || (!v && cap > 0)) return LK_EINVAL;
  return c->ops->get_vector(c, id, v, cap);
}

int lk_catalog_delete_all_vectors(lk_catalog *c) {
  return c ? c->ops->delete_all_vectors(c) : LK_EINVAL;
}

int lk_catalog_foreach_item(lk_catalog *c, lk_item_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  return c->ops->foreach_item(c, cb, ctx);
}

int lk_catalog_foreach_vector(lk_catalog *c, lk_vector_cb cb, void *ctx) {
  if (!c || !cb) return LK_EINVAL;
  return c->ops->foreach_vector(c, cb, ctx);
}

int lk_catalog_counts(lk_catalog *c, int64_t *items, int64_t *vectors, int64_t *errors) {
  return c ? c->ops->counts(c, items, vectors, errors) : LK_EINVAL;
}

int lk_catalog_check(lk_catalog *c, lk_errbuf *err) {
  if (!c) return lk_err_set(err, LK_EINVAL, "catalog: no handle");
  int rc = c->ops->check(c);
  if (rc) lk_err_set(err, rc, "%s", lk_err_msg(&c->err));
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

int lk_catalog_changes(lk_catalog *c, int64_t since, lk_change_cb cb, void *ctx, int64_t *version) {
  if (!c || !cb || !version || since < 0) return LK_EINVAL;
  return c->ops->changes ? c->ops->changes(c, since, cb, ctx, version) : unsupported(c);
}

int lk_catalog_wait_change(lk_catalog *c, int timeout_ms) {
  if (!c || timeout_ms < 0) return LK_EINVAL;
  return c->ops->wait_change ? c->ops->wait_change(c, timeout_ms) : unsupported(c);
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
