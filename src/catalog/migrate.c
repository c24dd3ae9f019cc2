/* catalog/migrate.c — copies one catalog into another (see migrate.h). Two handles, each
 * used from this thread only: the source read-only (one snapshot when it is PostgreSQL), the
 * destination written in transactions of BATCH rows. */
#include "catalog/migrate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "util/array.h"
#include "util/size.h"
#include "util/clock.h"

#define BATCH 2000

typedef struct mig {
  lk_catalog *src, *dst;
  lk_migrate_stats *st;
  void (*progress)(void *ctx, const lk_migrate_stats *st);
  void *ctx;
  lk_errbuf *err;
  long pending;        /* rows written in the open transaction */
  int64_t *ids;        /* source item ids (id order) */
  size_t n, cap;
  int64_t *vids;       /* source ids with a vector */
  size_t nv, capv;
  int64_t *gone;       /* destination ids to delete or rewrite */
  size_t ngone, capgone;
  int dst_error;       /* the failure is the destination's (message on it) */
} mig;

static int push(int64_t **v, size_t *n, size_t *cap, int64_t id) {
  if (LK_ARRAY_RESERVE(*v, *cap, *n + 1, 1024)) return LK_ENOMEM;
  (*v)[(*n)++] = id;
  return 0;
}

/* API keys: the destination's, by hash (keys are few: a linear search is fine). */
typedef struct dkey {
  char hash[65];
  int64_t id;
  int revoked;
} dkey;

typedef struct keyscan {
  mig *m;
  dkey *v;
  size_t n, cap;
} keyscan;

static int dst_key_cb(void *ctx, const lk_key *k) {
  keyscan *ks = ctx;
  if (strlen(k->hash) >= sizeof ks->v[0].hash) return 0;
  if (LK_ARRAY_RESERVE(ks->v, ks->cap, ks->n + 1, 64)) return LK_ENOMEM;
  dkey *d = &ks->v[ks->n++];
  strcpy(d->hash, k->hash);
  d->id = k->id;
  d->revoked = k->revoked;
  return 0;
}

/* A source key the destination lacks is added (same hash, name, role, date, state); one it
 * has is revoked there when the source revoked it. Nothing else changes: a re-run adds nothing. */
static int src_key_cb(void *ctx, const lk_key *k) {
  keyscan *ks = ctx;
  mig *m = ks->m;
  int rc = 0;
  size_t i = 0;
  while (i < ks->n && strcmp(ks->v[i].hash, k->hash)) i++;
  if (i < ks->n) {
    if (k->revoked && !ks->v[i].revoked) rc = lk_catalog_revoke_key(m->dst, ks->v[i].id);
    else return 0;
  } else {
    int64_t id;
    rc = lk_catalog_add_key(m->dst, k, &id);
  }
  if (rc) m->dst_error = 1;
  else m->st->keys++;
  return rc;
}

static int copy_keys(mig *m) {
  keyscan ks = {m, NULL, 0, 0};
  int rc = lk_catalog_foreach_key(m->dst, dst_key_cb, &ks);
  if (rc && rc != LK_ENOMEM) m->dst_error = 1;
  if (!rc) rc = lk_catalog_foreach_key(m->src, src_key_cb, &ks);
  free(ks.v);
  return rc;
}

static int has(const int64_t *v, size_t n, int64_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && v[lo] == id;
}

/* Counts one written row; commits and reopens the transaction every BATCH rows. */
static int wrote(mig *m) {
  if (++m->pending < BATCH) return 0;
  m->pending = 0;
  int rc = lk_catalog_commit(m->dst);
  if (!rc) rc = lk_catalog_begin(m->dst);
  if (rc) m->dst_error = 1;
  else if (m->progress) m->progress(m->ctx, m->st);
  return rc;
}

static int meta_cb(void *ctx, const char *key, const char *value) {
  mig *m = ctx;
  if (!strcmp(key, "schema_version")) return 0; /* each backend keeps its own */
  int rc = lk_catalog_set_meta(m->dst, key, value);
  if (rc) m->dst_error = 1;
  else m->st->meta++;
  return rc;
}

static int item_cb(void *ctx, const lk_item *it) {
  mig *m = ctx;
  int rc = push(&m->ids, &m->n, &m->cap, it->id);
  if (rc) return rc;
  if ((rc = lk_catalog_put_item(m->dst, it))) {
    m->dst_error = 1;
    return rc;
  }
  m->st->items++;
  return wrote(m);
}

static int vector_cb(void *ctx, int64_t id, const float *v, int dim) {
  mig *m = ctx;
  int rc = push(&m->vids, &m->nv, &m->capv, id);
  if (rc) return rc;
  if ((rc = lk_catalog_put_vector(m->dst, id, v, dim))) {
    m->dst_error = 1;
    return rc;
  }
  m->st->vectors++;
  return wrote(m);
}

/* Destination items the source lacks. */
static int extra_item_cb(void *ctx, const lk_item *it) {
  mig *m = ctx;
  return has(m->ids, m->n, it->id) ? 0 : push(&m->gone, &m->ngone, &m->capgone, it->id);
}

/* Destination vectors of items the source keeps without a vector. */
static int extra_vector_cb(void *ctx, int64_t id, const float *v, int dim) {
  mig *m = ctx;
  return has(m->vids, m->nv, id) || !has(m->ids, m->n, id) ? 0 : push(&m->gone, &m->ngone, &m->capgone, id);
}

int lk_migrate_run(const char *from, const char *to, void (*progress)(void *ctx, const lk_migrate_stats *st),
                   void *ctx, lk_migrate_stats *st, lk_errbuf *err) {
  memset(st, 0, sizeof *st);
  double t0 = lk_clock_now();
  mig m = {.st = st, .progress = progress, .ctx = ctx, .err = err};
  char *rs = NULL, *rd = NULL;
  int rc = lk_catalog_open(from, LK_CATALOG_READONLY, &m.src, err);
  if (rc) return rc;
  if ((rc = lk_catalog_open(to, LK_CATALOG_CREATE, &m.dst, err))) goto out;
  rc = lk_catalog_get_meta(m.src, "recipe_id", &rs);
  if (rc && rc != LK_ENOTFOUND) goto src_fail;
  rc = lk_catalog_get_meta(m.dst, "recipe_id", &rd);
  if (rc && rc != LK_ENOTFOUND) goto dst_fail;
  if (rs && rd && strcmp(rs, rd)) {
    rc = lk_err_set(err, LK_EMISMATCH, "%s holds vectors of recipe %s, %s of %s: migrate into an empty catalog", to,
                    rd, from, rs);
    goto out;
  }
  if ((rc = lk_catalog_begin(m.dst))) goto dst_fail;
  if ((rc = lk_catalog_foreach_meta(m.src, meta_cb, &m))) goto either;
  if ((rc = lk_catalog_foreach_item(m.src, item_cb, &m))) goto either;
  if ((rc = lk_catalog_foreach_vector(m.src, vector_cb, &m))) goto either;
  if ((rc = copy_keys(&m))) goto either;
  /* what the destination has and the source not: items to delete, vectors to drop (an item
   * is deleted and written again without it) */
  if ((rc = lk_catalog_foreach_item(m.dst, extra_item_cb, &m))) goto dst_fail;
  size_t extra_items = m.ngone;
  if ((rc = lk_catalog_foreach_vector(m.dst, extra_vector_cb, &m))) goto dst_fail;
  for (size_t i = 0; i < m.ngone; i++) {
    if (i >= extra_items) { /* keep the item, lose the vector */
      lk_item it;
      if ((rc = lk_catalog_get_item(m.src, m.gone[i], &it))) goto src_fail;
      rc = lk_catalog_delete_item(m.dst, m.gone[i]);
      if (!rc) rc = lk_catalog_put_item(m.dst, &it);
      lk_item_clear(&it);
      if (rc) goto dst_fail;
      continue;
    }
    if ((rc = lk_catalog_delete_item(m.dst, m.gone[i]))) goto dst_fail;
    st->removed++;
    if ((rc = wrote(&m))) goto dst_fail;
  }
  if ((rc = lk_catalog_commit(m.dst))) goto dst_fail;
  st->seconds = lk_clock_now() - t0;
  goto out;
either:
  if (rc == LK_ENOMEM && !m.dst_error) {
    lk_err_set(err, rc, "out of memory");
    goto out;
  }
  if (m.dst_error) goto dst_fail;
src_fail:
  lk_catalog_fail(m.src, rc, err, NULL);
  goto out;
dst_fail:
  lk_catalog_fail(m.dst, rc, err, NULL);
out:
  if (rc && m.dst) lk_catalog_rollback(m.dst);
  free(rs);
  free(rd);
  free(m.ids);
  free(m.vids);
  free(m.gone);
  lk_catalog_close(m.src);
  lk_catalog_close(m.dst);
  return rc;
}
