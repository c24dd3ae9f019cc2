/* tests/test_catalog_pg.c — the PostgreSQL catalog (catalog/pg.c) through the public API:
 * meta, items, vectors, transactions, the change sequence (versions in commit order,
 * tombstones, identical writes leaving the version alone), LISTEN/NOTIFY waits, read-only
 * snapshots, nested iteration, check(), UTF-8 repair and open errors. Needs a server:
 * LK_TEST_PG=postgresql://user@/postgres?host=... (a database it may create others from;
 * tests/pg.sh starts one). Without it every test is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <math.h>

#include "catalog/catalog.h"
#include "catalog/keys.h"
#include "server/auth.h"
#include "util/hash.h"

/* The URL of database db on the test server (static buffer). */
static const char *url_of(const char *db) {
  static char buf[4][1024];
  static int k;
  const char *base = getenv("LK_TEST_PG");
  const char *slash = strstr(base, "://");
  slash = slash ? strchr(slash + 3, '/') : NULL;
  const char *q = slash ? strchr(slash, '?') : NULL;
  char *out = buf[k++ % 4];
  snprintf(out, sizeof buf[0], "%.*s/%s%s", (int)(slash ? slash - base : (long)strlen(base)), base, db, q ? q : "");
  return out;
}

static void quiet(void *arg, const char *msg) { (void)arg, (void)msg; }

static void sql(const char *db, const char *fmt, ...) {
  char q[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof q, fmt, ap);
  va_end(ap);
  PGconn *c = PQconnectdb(url_of(db));
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PQsetNoticeProcessor(c, quiet, NULL);
  PGresult *r = PQexec(c, q);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
}

typedef struct fixture {
  char db[64];
  const char *url;
  lk_catalog *cat;
} fixture;

static int setup(void **state) {
  if (!getenv("LK_TEST_PG")) return 0;
  static int n;
  fixture *fx = calloc(1, sizeof *fx);
  snprintf(fx->db, sizeof fx->db, "lk_unit_%d", n++);
  sql("postgres", "DROP DATABASE IF EXISTS %s", fx->db);
  sql("postgres", "CREATE DATABASE %s", fx->db);
  fx->url = strdup(url_of(fx->db));
  lk_errbuf eb = {0};
  if (lk_catalog_open(fx->url, LK_CATALOG_CREATE, &fx->cat, &eb)) {
    fprintf(stderr, "open: %s\n", eb.msg);
    return -1;
  }
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  if (!fx) return 0;
  lk_catalog_close(fx->cat);
  sql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx->db);
  free((char *)fx->url);
  free(fx);
  return 0;
}

#define NEED_PG()                                 \
  do {                                            \
    if (!getenv("LK_TEST_PG")) {                  \
      skip();                                     \
      return;                                     \
    }                                             \
  } while (0)

static lk_item item(int64_t id, const char *type) {
  lk_item it = {0};
  it.id = id;
  it.path = (char *)"/photos/x.jpg";
  it.hash = (char *)"abcd";
  it.size = 100 + id;
  it.mtime = 1700000000;
  it.field[3] = (char *)type; /* articleType */
  it.status = (char *)"ok";
  return it;
}

/* A normalised vector (what indexing stores and check wants) that depends on id. */
static void vec(float *v, int dim, int64_t id) {
  double s = 0;
  for (int j = 0; j < dim; j++) v[j] = sinf((float)id * 0.37f + (float)j * 0.11f), s += (double)v[j] * v[j];
  for (int j = 0; j < dim; j++) v[j] = (float)(v[j] / sqrt(s));
}

static int64_t version(lk_catalog *c) {
  int64_t v = -1;
  assert_int_equal(lk_catalog_version(c, &v), 0);
  return v;
}

static void test_meta_items_vectors(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_catalog *c = fx->cat;
  assert_string_equal(lk_catalog_backend(c), "postgresql");
  char *v = NULL;
  assert_int_equal(lk_catalog_get_meta(c, "recipe", &v), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_set_meta(c, "recipe", "{\"a\":1}"), 0);
  assert_int_equal(lk_catalog_add_meta(c, "recipe_id", "r1"), 0);
  assert_int_equal(lk_catalog_add_meta(c, "recipe_id", "r2"), LK_EMISMATCH);
  assert_int_equal(lk_catalog_get_meta(c, "recipe_id", &v), 0);
  assert_string_equal(v, "r1");
  free(v);
  lk_item a = item(7, "Shirts");
  a.field[0] = (char *)"Wömen \xff bad byte"; /* invalid UTF-8 is repaired, not refused */
  a.extra = (char *)"{\"note\":\"tab\\there\"}";
  assert_int_equal(lk_catalog_put_item(c, &a), 0);
  lk_item got;
  assert_int_equal(lk_catalog_get_item(c, 7, &got), 0);
  assert_string_equal(got.field[0], "Wömen \xEF\xBF\xBD bad byte");
  assert_string_equal(got.field[3], "Shirts");
  assert_null(got.field[1]);
  assert_string_equal(got.extra, a.extra);
  assert_int_equal(got.size, 107);
  lk_item_clear(&got);
  float x[16], y[16];
  vec(x, 16, 7);
  assert_int_equal(lk_catalog_put_vector(c, 7, x, 16), 0);
  assert_int_equal(lk_catalog_get_vector(c, 7, y, 16), 16);
  assert_memory_equal(x, y, sizeof x);
  assert_int_equal(lk_catalog_get_vector(c, 7, y, 8), LK_ETOOBIG);
  assert_int_equal(lk_catalog_put_vector(c, 8, x, 16), LK_ENOTFOUND); /* no such item */
  int64_t ni, nv, ne;
  assert_int_equal(lk_catalog_counts(c, &ni, &nv, &ne), 0);
  assert_int_equal(ni, 1);
  assert_int_equal(nv, 1);
  assert_int_equal(lk_catalog_delete_item(c, 7), 0); /* the vector goes with it */
  assert_int_equal(lk_catalog_delete_item(c, 7), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_get_vector(c, 7, y, 16), LK_ENOTFOUND);
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(c, &eb), 0);
}

static void test_transactions(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_catalog *c = fx->cat;
  assert_int_equal(lk_catalog_commit(c), LK_EINVAL);
  assert_int_equal(lk_catalog_rollback(c), 0);
  assert_int_equal(lk_catalog_begin(c), 0);
  assert_int_equal(lk_catalog_begin(c), LK_EINVAL);
  lk_item a = item(1, "Tshirts");
  assert_int_equal(lk_catalog_put_item(c, &a), 0);
  assert_int_equal(lk_catalog_rollback(c), 0);
  lk_item got;
  assert_int_equal(lk_catalog_get_item(c, 1, &got), LK_ENOTFOUND);
  int64_t v0 = version(c);
  assert_int_equal(lk_catalog_begin(c), 0);
  assert_int_equal(lk_catalog_put_item(c, &a), 0);
  assert_int_equal(lk_catalog_commit(c), 0);
  assert_int_equal(lk_catalog_get_item(c, 1, &got), 0);
  lk_item_clear(&got);
  assert_int_equal(version(c), v0 + 1);
}

typedef struct seen {
  int64_t ids[16];
  int deleted[16], dims[16];
  int n;
} seen;

static int on_change(void *ctx, int64_t id, const lk_item *it, const float *v, int dim) {
  seen *s = ctx;
  if (s->n < 16) {
    s->ids[s->n] = id;
    s->deleted[s->n] = it == NULL;
    s->dims[s->n] = v ? dim : 0;
    s->n++;
  }
  return 0;
}

/* Versions follow commits; identical writes make none; changes = tombstones, then items. */
typedef struct recent_seen {
  int n;
  int64_t id[8], version[8];
  int deleted[8];
} recent_seen;

static int on_recent(void *ctx, int64_t id, int64_t version, int deleted, const char *name) {
  recent_seen *r = ctx;
  if (r->n >= 8) return -1;
  r->id[r->n] = id;
  r->version[r->n] = version;
  r->deleted[r->n++] = deleted;
  return 0;
}

static void test_change_sequence(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_catalog *w = fx->cat, *r = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(fx->url, LK_CATALOG_READONLY, &r, &eb), 0);
  int64_t v0 = version(r);
  float x[8];
  for (int64_t id = 1; id <= 3; id++) {
    lk_item a = item(id, "Jeans");
    assert_int_equal(lk_catalog_put_item(w, &a), 0); /* each its own transaction */
    vec(x, 8, id);
    assert_int_equal(lk_catalog_put_vector(w, id, x, 8), 0);
  }
  int64_t v1 = version(w);
  assert_int_equal(v1, v0 + 6);
  lk_item same = item(2, "Jeans");
  assert_int_equal(lk_catalog_put_item(w, &same), 0); /* unchanged: no new version */
  vec(x, 8, 2);
  assert_int_equal(lk_catalog_put_vector(w, 2, x, 8), 0);
  assert_int_equal(version(w), v1);
  /* one transaction: delete 1, delete and re-add 3, change 2's metadata */
  assert_int_equal(lk_catalog_begin(w), 0);
  assert_int_equal(lk_catalog_delete_item(w, 1), 0);
  assert_int_equal(lk_catalog_delete_item(w, 3), 0);
  lk_item three = item(3, "Jeans");
  assert_int_equal(lk_catalog_put_item(w, &three), 0);
  lk_item two = item(2, "Trousers");
  assert_int_equal(lk_catalog_put_item(w, &two), 0);
  assert_int_equal(lk_catalog_commit(w), 0);
  assert_int_equal(version(w), v1 + 1);
  seen s = {0};
  int64_t got = 0;
  assert_int_equal(lk_catalog_changes(r, v1, on_change, &s, &got), 0);
  assert_int_equal(got, v1 + 1);
  assert_int_equal(s.n, 4); /* tombstones 1, 3; then items 2 (with its vector), 3 (none) */
  assert_int_equal(s.ids[0], 1);
  assert_true(s.deleted[0]);
  assert_int_equal(s.ids[1], 3);
  assert_true(s.deleted[1]);
  assert_int_equal(s.ids[2], 2);
  assert_false(s.deleted[2]);
  assert_int_equal(s.dims[2], 8);
  assert_int_equal(s.ids[3], 3);
  assert_int_equal(s.dims[3], 0);
  memset(&s, 0, sizeof s);
  assert_int_equal(lk_catalog_changes(r, got, on_change, &s, &got), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(lk_catalog_changes(r, got + 5, on_change, &s, &got), LK_EMISMATCH);
  /* the owner's recent changes: one commit's ids, newest id first; 3 was deleted and re-added
   * (its tombstone is not a deletion any more), 1 is deleted */
  recent_seen rs = {0};
  assert_int_equal(lk_catalog_recent_changes(r, 10, on_recent, &rs), 0);
  assert_int_equal(rs.n, 3);
  static const int64_t want[] = {3, 2, 1};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(rs.id[i], want[i]);
    assert_int_equal(rs.version[i], v1 + 1);
    assert_int_equal(rs.deleted[i], want[i] == 1);
  }
  memset(&rs, 0, sizeof rs);
  assert_int_equal(lk_catalog_recent_changes(r, 1, on_recent, &rs), 0);
  assert_int_equal(rs.n, 1);
  assert_int_equal(lk_catalog_check(w, &eb), 0);
  lk_catalog_close(r);
}

/* Two writers interleaved: the version order is the commit order, and a follower that read
 * up to the first commit gets the second's rows next. */
static void test_concurrent_writers(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_catalog *a = fx->cat, *b = NULL, *r = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(fx->url, LK_CATALOG_CREATE, &b, &eb), 0);
  assert_int_equal(lk_catalog_open(fx->url, LK_CATALOG_READONLY, &r, &eb), 0);
  int64_t v0 = version(r);
  assert_int_equal(lk_catalog_begin(a), 0);
  lk_item i1 = item(10, "Tops");
  assert_int_equal(lk_catalog_put_item(a, &i1), 0); /* a: uncommitted */
  assert_int_equal(lk_catalog_begin(b), 0);
  lk_item i2 = item(20, "Tops");
  assert_int_equal(lk_catalog_put_item(b, &i2), 0);
  assert_int_equal(lk_catalog_commit(b), 0); /* b commits first */
  seen s = {0};
  int64_t got;
  assert_int_equal(lk_catalog_changes(r, v0, on_change, &s, &got), 0);
  assert_int_equal(got, v0 + 1);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.ids[0], 20);
  assert_int_equal(lk_catalog_commit(a), 0);
  memset(&s, 0, sizeof s);
  assert_int_equal(lk_catalog_changes(r, got, on_change, &s, &got), 0);
  assert_int_equal(got, v0 + 2);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.ids[0], 10);
  lk_catalog_close(b);
  lk_catalog_close(r);
}

/* A read-only handle keeps its snapshot until told; a wait ends it and sees the NOTIFY. */
static void test_snapshot_and_wait(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_catalog *w = fx->cat, *r = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(fx->url, LK_CATALOG_READONLY, &r, &eb), 0);
  int64_t n0 = -1, n1 = -1;
  assert_int_equal(lk_catalog_counts(r, &n0, NULL, NULL), 0);
  assert_int_equal(lk_catalog_wait_change(r, 0), 0); /* starts listening; nothing yet */
  lk_item a = item(5, "Heels");
  assert_int_equal(lk_catalog_put_item(w, &a), 0);
  assert_int_equal(lk_catalog_wait_change(r, 5000), 1);
  assert_int_equal(lk_catalog_wait_change(r, 50), 0);
  assert_int_equal(lk_catalog_counts(r, &n1, NULL, NULL), 0);
  assert_int_equal(n1, n0 + 1);
  /* the snapshot now holds: a second write is not seen until it ends */
  lk_item b = item(6, "Heels");
  assert_int_equal(lk_catalog_put_item(w, &b), 0);
  assert_int_equal(lk_catalog_counts(r, &n1, NULL, NULL), 0);
  assert_int_equal(n1, n0 + 1);
  assert_int_equal(lk_catalog_begin(r), 0);
  assert_int_equal(lk_catalog_commit(r), 0);
  assert_int_equal(lk_catalog_counts(r, &n1, NULL, NULL), 0);
  assert_int_equal(n1, n0 + 2);
  assert_int_equal(lk_catalog_put_item(r, &b), LK_EINVAL); /* read-only */
  lk_catalog_close(r);
}

typedef struct nested {
  lk_catalog *c;
  int items, vectors;
} nested;

static int nested_cb(void *ctx, const lk_item *it) {
  nested *n = ctx;
  float v[4];
  n->items++;
  if (lk_catalog_get_vector(n->c, it->id, v, 4) == 4) n->vectors++;
  return 0;
}

static void test_nested_iteration_and_check(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_catalog *c = fx->cat;
  float x[4];
  assert_int_equal(lk_catalog_begin(c), 0);
  for (int64_t id = 1; id <= 1100; id++) { /* more than one cursor fetch */
    lk_item a = item(id, id % 2 ? "Watches" : "Belts");
    assert_int_equal(lk_catalog_put_item(c, &a), 0);
    vec(x, 4, id);
    if (id % 3) assert_int_equal(lk_catalog_put_vector(c, id, x, 4), 0);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
  nested n = {c, 0, 0};
  assert_int_equal(lk_catalog_foreach_item(c, nested_cb, &n), 0);
  assert_int_equal(n.items, 1100);
  assert_int_equal(n.vectors, 1100 - 1100 / 3);
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(c, &eb), 0);
  sql(fx->db, "UPDATE vectors SET data = '\\x0000' WHERE id = 2");
  assert_int_equal(lk_catalog_check(c, &eb), LK_ECORRUPT);
  assert_non_null(strstr(eb.msg, "vector 2"));
}

static int count_keys(void *ctx, const lk_key *k) {
  int *n = ctx;
  (*n)++;
  return 0;
}

/* API keys on PostgreSQL: no table until the first add (older catalogs), then add / list /
 * revoke; keys do not move the catalog version (they are not items); a read-only handle and
 * lk_auth (a fresh snapshot per refresh) see a revocation. */
static void test_keys(void **state) {
  NEED_PG();
  fixture *fx = *state;
  lk_errbuf eb = {0};
  int n = 0;
  assert_int_equal(lk_catalog_foreach_key(fx->cat, count_keys, &n), 0);
  assert_int_equal(n, 0);
  lk_catalog *ro;
  assert_int_equal(lk_catalog_open(fx->url, LK_CATALOG_READONLY, &ro, &eb), 0);
  assert_int_equal(lk_catalog_foreach_key(ro, count_keys, &n), 0); /* no table yet: no keys, no error */
  assert_int_equal(n, 0);
  lk_catalog_rollback(ro);
  int64_t v0 = version(fx->cat);
  char k1[LK_KEYS_LEN], k2[LK_KEYS_LEN], kx[LK_KEYS_LEN];
  int64_t id1, id2, idx;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "shop", k1, &id1, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_ADMIN, NULL, k2, &id2, &eb), 0);
  assert_true(id2 > id1);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "shop", kx, &idx, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "exists already"));
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "other", kx, &idx, &eb), 0); /* the handle still works */
  assert_int_equal(version(fx->cat), v0);
  lk_keys_set *set;
  assert_int_equal(lk_keys_load(ro, &set, &eb), 0);
  assert_int_equal(lk_keys_count(set), 3);
  int64_t id;
  assert_int_equal(lk_keys_find(set, k1, strlen(k1), &id), LK_KEYS_READ);
  assert_int_equal(id, id1);
  assert_int_equal(lk_keys_find(set, k2, strlen(k2), NULL), LK_KEYS_ADMIN);
  assert_int_equal(lk_keys_find(set, "lk_nope", 7, NULL), LK_KEYS_NONE);
  lk_keys_set_free(set);
  lk_catalog_rollback(ro);
  lk_auth *a;
  assert_int_equal(lk_auth_open(fx->url, 0.05, &a, &eb), 0);
  char hdr[128], msg[LK_ERRMSG_MAX];
  snprintf(hdr, sizeof hdr, "Bearer %s", k1);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_WRITE, NULL, msg, sizeof msg), 403);
  assert_int_equal(lk_keys_revoke(fx->cat, "shop", &eb), 0);
  assert_int_equal(lk_keys_revoke(fx->cat, "nobody", &eb), LK_ENOTFOUND);
  assert_int_equal(lk_keys_revoke(fx->cat, "12345", &eb), LK_ENOTFOUND);
  assert_int_equal(lk_keys_revoke(ro, "shop", &eb), LK_EINVAL); /* read-only */
  usleep(100 * 1000);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 401);
  lk_auth_free(a);
  lk_catalog_close(ro);
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);
}

/* Stored photos on PostgreSQL: made at the first put, a change of the item (a new version, the
 * item in the changes), read by another handle, taken by the item's delete, checked. */
typedef struct photo_seen {
  int n;
  int64_t id;
} photo_seen;

static int photo_change(void *ctx, int64_t id, const lk_item *it, const float *v, int dim) {
  photo_seen *p = ctx;
  if (it) p->n++, p->id = id;
  return 0;
}

static void test_photos(void **state) {
  NEED_PG();
  fixture *fx = *state;
  static const unsigned char png[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 1, 2, 3};
  char hex[LK_SHA256_HEX], *type;
  void *data;
  size_t len;
  float v[8];
  lk_hash_sha256_hex(png, sizeof png, hex);
  lk_catalog *ro;
  assert_int_equal(lk_catalog_open(fx->url, LK_CATALOG_READONLY, &ro, NULL), 0);
  assert_int_equal(lk_catalog_get_photo(ro, 5, &type, &data, &len), LK_ENOTFOUND); /* no table yet */
  lk_catalog_rollback(ro);
  lk_item it = item(5, "Shirts");
  it.path = (char *)LK_CATALOG_PHOTO_PATH "5";
  it.hash = hex;
  it.source = (char *)"api";
  assert_int_equal(lk_catalog_begin(fx->cat), 0);
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  vec(v, 8, 5);
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, v, 8), 0);
  assert_int_equal(lk_catalog_put_photo(fx->cat, 5, "image/png", png, sizeof png), 0);
  assert_int_equal(lk_catalog_commit(fx->cat), 0);
  int64_t v1 = version(fx->cat);
  assert_int_equal(lk_catalog_get_photo(ro, 5, &type, &data, &len), 0);
  assert_string_equal(type, "image/png");
  assert_int_equal(len, sizeof png);
  assert_memory_equal(data, png, sizeof png);
  free(type), free(data);
  lk_catalog_rollback(ro);
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(ro, &eb), 0);
  lk_catalog_rollback(ro);
  /* a new photo alone is a change of its item */
  static const unsigned char png2[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 9, 9};
  assert_int_equal(lk_catalog_put_photo(fx->cat, 5, "image/png", png2, sizeof png2), 0);
  int64_t v2 = version(fx->cat), got;
  assert_true(v2 > v1);
  photo_seen ps = {0};
  assert_int_equal(lk_catalog_changes(ro, v1, photo_change, &ps, &got), 0);
  assert_int_equal(ps.n, 1);
  assert_int_equal(ps.id, 5);
  assert_int_equal(lk_catalog_check(ro, &eb), LK_ECORRUPT); /* bytes no longer the item's hash */
  assert_non_null(strstr(eb.msg, "item 5"));
  lk_catalog_rollback(ro);
  /* the item's delete takes its photo */
  assert_int_equal(lk_catalog_delete_item(fx->cat, 5), 0);
  assert_int_equal(lk_catalog_get_photo(ro, 5, &type, &data, &len), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_delete_photo(fx->cat, 5), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_put_photo(fx->cat, 6, "image/png", png, sizeof png), LK_ENOTFOUND); /* no item 6 */
  lk_catalog_rollback(ro);
  assert_int_equal(lk_catalog_check(ro, &eb), 0);
  lk_catalog_close(ro);
}

static void test_open_errors(void **state) {
  NEED_PG();
  lk_catalog *c = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(url_of("lk_no_such_db"), LK_CATALOG_READONLY, &c, &eb), LK_ENOTFOUND);
  assert_null(c);
  sql("postgres", "DROP DATABASE IF EXISTS lk_unit_empty");
  sql("postgres", "CREATE DATABASE lk_unit_empty");
  assert_int_equal(lk_catalog_open(url_of("lk_unit_empty"), LK_CATALOG_READONLY, &c, &eb), LK_ECORRUPT);
  sql("lk_unit_empty", "CREATE TABLE items(id int)");
  assert_int_equal(lk_catalog_open(url_of("lk_unit_empty"), LK_CATALOG_CREATE, &c, &eb), LK_ECORRUPT);
  sql("postgres", "DROP DATABASE lk_unit_empty");
  /* no server there; the password never shows in the message */
  assert_int_equal(lk_catalog_open("postgresql://u:s3cret@/x?host=/nonexistent&connect_timeout=2", LK_CATALOG_READONLY,
                                   &c, &eb),
                   LK_EIO);
  assert_null(strstr(eb.msg, "s3cret"));
  assert_non_null(strstr(eb.msg, "u:***@"));
}

int main(void) {
  if (!getenv("LK_TEST_PG"))
    fprintf(stderr, "test_catalog_pg: LK_TEST_PG is not set: skipped (tests/pg.sh runs these on a server of its own)\n");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_meta_items_vectors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_change_sequence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_and_wait, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nested_iteration_and_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_photos, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
