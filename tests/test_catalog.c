/* tests/test_catalog.c — the SQLite catalog: create/reopen, meta, items (all fields, NULLs,
 * replace, delete), vectors and their blob validation, iteration order, counts, transactions,
 * refusing missing/foreign/garbage/newer files, check(), the handle's message passed on
 * (lk_catalog_fail), and a writer killed with SIGKILL in the middle of a big transaction; the change sequence (versions, changes, deletions, waiting)
 * and sources, on new files and on files made before them. Raw sqlite3 is used to plant damage the API cannot write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/csv.h"
#include "testutil.h"
#include "util/hash.h"

typedef struct fixture {
  char *dir;
  const char *db; /* <dir>/cat.db */
  lk_catalog *cat;
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  fx->dir = lk_test_mkdtemp();
  if (!fx->dir) return -1;
  fx->db = strdup(lk_test_path("%s/cat.db", fx->dir));
  lk_errbuf eb = {0};
  if (lk_catalog_open(fx->db, LK_CATALOG_CREATE, &fx->cat, &eb) != 0) {
    fprintf(stderr, "open: %s\n", eb.msg);
    return -1;
  }
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  lk_catalog_close(fx->cat);
  lk_test_rmtree(fx->dir);
  free(fx->dir);
  free((char *)fx->db);
  free(fx);
  return 0;
}

/* Runs SQL on the file through a separate raw connection; returns the sqlite result. */
static int raw_exec(const char *path, const char *sql) {
  sqlite3 *db;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

/* One value of a query through a raw connection, as malloc'd text (NULL on error). */
static char *raw_text(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *s;
  char *out = NULL;
  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      out = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

/* A normalised vector (what indexing stores and `check` wants) that depends on id. */
static void fill_vec(float *v, int dim, int64_t id) {
  double s = 0;
  for (int j = 0; j < dim; j++) v[j] = sinf((float)id * 0.37f + (float)j * 0.11f), s += (double)v[j] * v[j];
  for (int j = 0; j < dim; j++) v[j] = (float)(v[j] / sqrt(s));
}

static lk_item make_item(int64_t id, const char *status) {
  lk_item it = {0};
  it.id = id;
  it.path = (char *)lk_test_path("images/%lld.jpg", (long long)id);
  it.hash = (char *)"ab12";
  it.size = 1000 + id;
  it.mtime = 1700000000 + id;
  it.status = (char *)status;
  return it;
}

static void test_create_reopen(void **state) {
  fixture *fx = *state;
  char *v = NULL;
  assert_int_equal(lk_catalog_get_meta(fx->cat, "schema_version", &v), 0);
  assert_string_equal(v, "1");
  free(v);
  lk_item it = make_item(7, "ok");
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  lk_catalog_close(fx->cat);
  fx->cat = NULL;

  char *mode = raw_text(fx->db, "PRAGMA journal_mode");
  assert_string_equal(mode, "wal");
  free(mode);
  char *idx = raw_text(fx->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                               " AND tbl_name = 'items' AND sql LIKE '%(hash)%'");
  assert_string_equal(idx, "1");
  free(idx);

  lk_errbuf eb = {0};
  lk_catalog *ro;
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_READONLY, &ro, &eb), 0);
  lk_item got;
  assert_int_equal(lk_catalog_get_item(ro, 7, &got), 0);
  lk_item_clear(&got);
  /* a read-only handle cannot write */
  it.id = 8;
  assert_true(lk_catalog_put_item(ro, &it) < 0);
  assert_true(strlen(lk_catalog_errmsg(ro)) > 0);
  lk_catalog_close(ro);
  /* CREATE on an existing catalog keeps it */
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_CREATE, &fx->cat, &eb), 0);
  int64_t n;
  assert_int_equal(lk_catalog_counts(fx->cat, &n, NULL, NULL), 0);
  assert_int_equal(n, 1);
  lk_catalog_close(NULL);
}

static void test_meta(void **state) {
  fixture *fx = *state;
  char *v = (char *)1;
  assert_int_equal(lk_catalog_get_meta(fx->cat, "recipe", &v), LK_ENOTFOUND);
  assert_null(v);
  const char *vals[] = {"{\"model\":\"a\",\"dim\":1792}", "", "second value with 'quotes'"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(lk_catalog_set_meta(fx->cat, "recipe", vals[i]), 0);
    assert_int_equal(lk_catalog_get_meta(fx->cat, "recipe", &v), 0);
    assert_string_equal(v, vals[i]);
    free(v);
  }
  assert_int_equal(lk_catalog_set_meta(fx->cat, "recipe_id", "abc"), 0);
  assert_int_equal(lk_catalog_get_meta(fx->cat, "recipe_id", &v), 0);
  assert_string_equal(v, "abc");
  free(v);
  /* add: only where absent; the same value again is fine, another is refused untouched */
  assert_int_equal(lk_catalog_add_meta(fx->cat, "dim", "1792"), 0);
  assert_int_equal(lk_catalog_add_meta(fx->cat, "dim", "1792"), 0);
  assert_int_equal(lk_catalog_add_meta(fx->cat, "recipe_id", "other"), LK_EMISMATCH);
  assert_int_equal(lk_catalog_get_meta(fx->cat, "recipe_id", &v), 0);
  assert_string_equal(v, "abc");
  free(v);
}

static int meta_collect(void *ctx, const char *key, const char *value) {
  char *buf = ctx;
  size_t n = strlen(buf);
  snprintf(buf + n, 512 - n, "%s=%s;", key, value ? value : "NULL");
  return 0;
}

/* foreach_meta in key order; the backend's name; change following is PostgreSQL's. */
static void test_meta_listing_and_backend(void **state) {
  fixture *fx = *state;
  assert_int_equal(lk_catalog_set_meta(fx->cat, "b", "2"), 0);
  assert_int_equal(lk_catalog_set_meta(fx->cat, "a", NULL), 0);
  char buf[512] = "";
  assert_int_equal(lk_catalog_foreach_meta(fx->cat, meta_collect, buf), 0);
  assert_string_equal(buf, "a=NULL;b=2;schema_version=1;");
  assert_string_equal(lk_catalog_backend(fx->cat), "sqlite");
  int64_t v = -1;
  assert_int_equal(lk_catalog_version(fx->cat, &v), 0); /* SQLite has a change sequence too */
  assert_true(v > 0);                                   /* the meta written above */
  assert_int_equal(lk_catalog_wait_change(fx->cat, 0), 0);
  assert_true(lk_catalog_is_url("postgresql://u@h/db"));
  assert_true(lk_catalog_is_url("POSTGRES://h/db"));
  assert_false(lk_catalog_is_url("catalog.db"));
  assert_false(lk_catalog_is_url("postgresql:/x"));
  assert_false(lk_catalog_is_url(NULL));
}

static int streq_null(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void assert_items_equal(const lk_item *a, const lk_item *b) {
  assert_int_equal(a->id, b->id);
  assert_true(streq_null(a->path, b->path));
  assert_true(streq_null(a->hash, b->hash));
  assert_int_equal(a->size, b->size);
  assert_int_equal(a->mtime, b->mtime);
  for (int i = 0; i < LK_NFIELDS; i++)
    if (!streq_null(a->field[i], b->field[i]))
      fail_msg("field %s: '%s' vs '%s'", lk_catalog_fields[i], a->field[i] ? a->field[i] : "NULL",
               b->field[i] ? b->field[i] : "NULL");
  assert_true(streq_null(a->extra, b->extra));
  assert_true(streq_null(a->status, b->status));
  assert_true(streq_null(a->error, b->error));
}

static void test_items(void **state) {
  fixture *fx = *state;
  lk_item items[3] = {
      {.id = 39386, .path = "images/39386.jpg", .hash = "00ff", .size = 1234, .mtime = 99,
       .field = {"Men", "Apparel", "Bottomwear", "Jeans", "Blue", "Summer", "2012", "Casual",
                 "Peter England Men Party Blue Jeans"},
       .extra = "{\"col10\":\"x, y\"}", .status = "ok"},
      {.id = 1, .field = {NULL, "Accessories"}, .status = "error", .error = "bad jpeg"},
      {.id = INT64_MAX, .path = "p\xc3\xa9 'q'\n", .size = -1, .mtime = INT64_MIN,
       .field = {"", "", "", "", "", "", "", "", ""}},
  };
  for (int i = 0; i < 3; i++) assert_int_equal(lk_catalog_put_item(fx->cat, &items[i]), 0);
  for (int i = 0; i < 3; i++) {
    lk_item got;
    assert_int_equal(lk_catalog_get_item(fx->cat, items[i].id, &got), 0);
    assert_items_equal(&got, &items[i]);
    lk_item_clear(&got);
    assert_null(got.path);
  }
  lk_item got;
  assert_int_equal(lk_catalog_get_item(fx->cat, 555, &got), LK_ENOTFOUND);
  assert_non_null(strstr(lk_catalog_errmsg(fx->cat), "555"));

  /* replace: metadata changes, the vector stays */
  float v[4] = {1, 2, 3, 4}, w[4];
  assert_int_equal(lk_catalog_put_vector(fx->cat, 1, v, 4), 0);
  lk_item repl = {.id = 1, .path = "new.jpg", .field = {"Women"}, .status = "ok"};
  assert_int_equal(lk_catalog_put_item(fx->cat, &repl), 0);
  assert_int_equal(lk_catalog_get_item(fx->cat, 1, &got), 0);
  assert_items_equal(&got, &repl);
  lk_item_clear(&got);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 1, w, 4), 4);
  assert_memory_equal(v, w, sizeof v);

  /* delete removes item and vector; a second delete finds nothing */
  assert_int_equal(lk_catalog_delete_item(fx->cat, 1), 0);
  assert_int_equal(lk_catalog_get_item(fx->cat, 1, &got), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 1, w, 4), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_delete_item(fx->cat, 1), LK_ENOTFOUND);
  int64_t n;
  assert_int_equal(lk_catalog_counts(fx->cat, &n, NULL, NULL), 0);
  assert_int_equal(n, 2);
  lk_item_clear(NULL);
}

static void test_fields_match_csv_and_schema(void **state) {
  fixture *fx = *state;
  for (int i = 0; i < LK_NFIELDS; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(%s) FROM items", lk_catalog_fields[i]);
    char *r = raw_text(fx->db, sql);
    if (!r) fail_msg("column %s missing", lk_catalog_fields[i]);
    free(r);
  }
  const char *shared = lk_test_shared_dir();
  if (!shared) return;
  lk_csv *c;
  if (lk_csv_open(lk_test_path("%s/data/fashion-catalog/styles.csv", shared), NULL, &c, NULL))
    return;
  char **f;
  int nf;
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_int_equal(nf, LK_NFIELDS + 1);
  for (int i = 0; i < LK_NFIELDS; i++) assert_string_equal(f[i + 1], lk_catalog_fields[i]);
  lk_csv_close(c);
}

static void test_vectors(void **state) {
  fixture *fx = *state;
  enum { DIM = 1792 };
  float *v = malloc(DIM * sizeof *v), *w = malloc(DIM * sizeof *w);
  lk_item it = make_item(5, "ok");
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  fill_vec(v, DIM, 5);
  v[0] = -0.0f;
  v[1] = 1e-40f; /* subnormal */
  v[2] = -FLT_MAX;
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, v, DIM), 0);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 5, w, DIM), DIM);
  assert_memory_equal(v, w, DIM * sizeof *v);
  /* stored as float32 little-endian */
  char *hex = raw_text(fx->db, "SELECT hex(substr(data, 9, 4)) FROM vectors WHERE id = 5");
  unsigned char le[4];
  memcpy(le, &v[2], 4); /* this host is little-endian (x86) */
  char want[9];
  snprintf(want, sizeof want, "%02X%02X%02X%02X", le[0], le[1], le[2], le[3]);
  assert_string_equal(hex, want);
  free(hex);

  assert_int_equal(lk_catalog_get_vector(fx->cat, 5, w, DIM - 1), LK_ETOOBIG);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 6, w, DIM), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_put_vector(fx->cat, 6, v, DIM), LK_ENOTFOUND); /* no item 6 */
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, v, 0), LK_EINVAL);
  /* overwrite with another dim */
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, v, 3), 0);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 5, w, DIM), 3);

  /* blob validation: a blob that is not 4*dim bytes is refused */
  static const char *const bad[] = {
      "UPDATE vectors SET dim = 4 WHERE id = 5",         /* 12 bytes for dim 4 */
      "UPDATE vectors SET data = x'0000' WHERE id = 5",  /* 2 bytes */
      "UPDATE vectors SET dim = -3, data = x'' WHERE id = 5",
      "UPDATE vectors SET data = 'abcdefghijkl', dim = 3 WHERE id = 5", /* TEXT, not BLOB */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(lk_catalog_put_vector(fx->cat, 5, v, 3), 0);
    assert_int_equal(raw_exec(fx->db, bad[i]), SQLITE_OK);
    int rc = lk_catalog_get_vector(fx->cat, 5, w, DIM);
    if (rc != LK_ECORRUPT) fail_msg("case %zu: get_vector %d", i, rc);
    lk_errbuf eb = {0};
    rc = lk_catalog_check(fx->cat, &eb);
    if (rc != LK_ECORRUPT || !strstr(eb.msg, "vector 5"))
      fail_msg("case %zu: check %d '%s'", i, rc, eb.msg);
  }
  float unit[3] = {0.6f, 0.8f, 0};
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, unit, 3), 0);
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);
  /* non-finite numbers are never stored, and never read as a vector (issue 15, item 4) */
  float nan3[3] = {NAN, 0, 0}, inf3[3] = {0.6f, INFINITY, 0};
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, nan3, 3), LK_EINVAL);
  assert_non_null(strstr(lk_catalog_errmsg(fx->cat), "item 5"));
  { /* the handle's message handed to the caller: alone, after a formatted prefix, or nowhere */
    char expect[LK_ERRMSG_MAX + 32];
    lk_errbuf fe = {0};
    assert_int_equal(lk_catalog_fail(fx->cat, LK_EINVAL, &fe, NULL), LK_EINVAL);
    assert_string_equal(fe.msg, lk_catalog_errmsg(fx->cat));
    assert_int_equal(fe.code, LK_EINVAL);
    assert_int_equal(lk_catalog_fail(fx->cat, 503, &fe, "%s: writing item %d", "cat.db", 5), 503);
    snprintf(expect, sizeof expect, "cat.db: writing item 5: %s", lk_catalog_errmsg(fx->cat));
    assert_string_equal(fe.msg, expect);
    assert_int_equal(lk_catalog_fail(fx->cat, LK_EIO, NULL, "x"), LK_EIO);
    assert_int_equal(lk_catalog_fail(NULL, LK_EINVAL, &fe, "map"), LK_EINVAL);
    assert_string_equal(fe.msg, "map: catalog: no handle");
  }
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, inf3, 3), LK_EINVAL);
  assert_int_equal(raw_exec(fx->db, "UPDATE vectors SET data = CAST(x'0000C07F' || substr(data, 5) AS BLOB) WHERE id = 5"),
                   SQLITE_OK);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 5, w, DIM), LK_ECORRUPT);
  assert_non_null(strstr(lk_catalog_errmsg(fx->cat), "item 5: vector element 0 of 3 is nan"));
  assert_int_equal(lk_catalog_put_vector(fx->cat, 5, unit, 3), 0);
  assert_int_equal(lk_catalog_delete_all_vectors(fx->cat), 0);
  assert_int_equal(lk_catalog_get_vector(fx->cat, 5, w, DIM), LK_ENOTFOUND);
  free(v);
  free(w);
}

typedef struct iter {
  int64_t ids[64];
  int n, stop_at;
  lk_catalog *cat;
  int dim_seen, bad_values, nested_rc;
} iter;

static int item_cb(void *ctx, const lk_item *it) {
  iter *s = ctx;
  s->ids[s->n++] = it->id;
  if (!it->path || strstr(it->path, "images/") != it->path) s->bad_values++;
  if (s->cat) { /* other statements may be used from a callback, the same one may not */
    lk_item got;
    if (lk_catalog_get_item(s->cat, it->id, &got) != 0) s->bad_values++;
    lk_item_clear(&got);
    s->nested_rc = lk_catalog_foreach_item(s->cat, item_cb, ctx);
  }
  return s->n == s->stop_at ? 42 : 0;
}

static int vec_cb(void *ctx, int64_t id, const float *v, int dim) {
  iter *s = ctx;
  s->ids[s->n++] = id;
  s->dim_seen = dim;
  float want[16];
  fill_vec(want, dim, id);
  if (memcmp(want, v, (size_t)dim * sizeof *v) != 0) s->bad_values++;
  return s->n == s->stop_at ? 7 : 0;
}

static void test_foreach_and_counts(void **state) {
  fixture *fx = *state;
  static const int64_t ids[] = {50, 3, 900, 17, -4, 1000000000000LL, 8};
  static const char *const status[] = {"ok", "ok", "error", "pending", "ok", "ok", NULL};
  enum { N = sizeof ids / sizeof ids[0], DIM = 16 };
  for (int i = 0; i < N; i++) {
    lk_item it = make_item(ids[i], status[i]);
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  }
  float v[DIM];
  for (int i = 0; i < N; i++) {
    if (ids[i] == 900 || ids[i] == 1000000000000LL) continue; /* no vector */
    fill_vec(v, DIM, ids[i]);
    assert_int_equal(lk_catalog_put_vector(fx->cat, ids[i], v, DIM), 0);
  }
  iter s = {.stop_at = -1};
  assert_int_equal(lk_catalog_foreach_item(fx->cat, item_cb, &s), 0);
  assert_int_equal(s.n, N);
  for (int i = 1; i < s.n; i++) assert_true(s.ids[i - 1] < s.ids[i]);
  assert_int_equal(s.bad_values, 0);

  memset(&s, 0, sizeof s);
  s.stop_at = -1;
  assert_int_equal(lk_catalog_foreach_vector(fx->cat, vec_cb, &s), 0);
  static const int64_t vec_ids[] = {-4, 3, 8, 17, 50};
  assert_int_equal(s.n, 5);
  assert_memory_equal(s.ids, vec_ids, sizeof vec_ids);
  assert_int_equal(s.dim_seen, DIM);
  assert_int_equal(s.bad_values, 0);

  /* a callback's non-zero return stops the walk and is returned */
  memset(&s, 0, sizeof s);
  s.stop_at = 2;
  assert_int_equal(lk_catalog_foreach_vector(fx->cat, vec_cb, &s), 7);
  assert_int_equal(s.n, 2);
  memset(&s, 0, sizeof s);
  s.stop_at = 3;
  s.cat = fx->cat;
  assert_int_equal(lk_catalog_foreach_item(fx->cat, item_cb, &s), 42);
  assert_int_equal(s.n, 3);
  assert_int_equal(s.bad_values, 0);
  assert_int_equal(s.nested_rc, LK_EINVAL);
  /* the catalog is usable again after stopping early */
  memset(&s, 0, sizeof s);
  s.stop_at = -1;
  assert_int_equal(lk_catalog_foreach_vector(fx->cat, vec_cb, &s), 0);
  assert_int_equal(s.n, 5);

  int64_t items, vectors, errors;
  assert_int_equal(lk_catalog_counts(fx->cat, &items, &vectors, &errors), 0);
  assert_int_equal(items, N);
  assert_int_equal(vectors, 3); /* status ok with a vector: -4, 3, 50 */
  assert_int_equal(errors, 1);
}

/* A catalog written by an older version holds text that is not UTF-8 (a cp1252 styles.csv
 * stored as found): every read hands it out repaired, U+FFFD for each bad byte, in every text
 * member but the photo's file name, so JSON output never loses the key and serve starts. */
typedef struct text_seen {
  int n;
  char colour[32], extra[64];
} text_seen;

static int text_cb(void *ctx, const lk_item *it) {
  text_seen *t = ctx;
  t->n++;
  snprintf(t->colour, sizeof t->colour, "%s", it->field[4] ? it->field[4] : "(null)");
  snprintf(t->extra, sizeof t->extra, "%s", it->extra ? it->extra : "(null)");
  return 0;
}

static void test_invalid_utf8_repaired_on_read(void **state) {
  fixture *fx = *state;
  lk_item it = make_item(5, "ok");
  it.field[4] = (char *)"Cr\xe8me";
  it.field[8] = (char *)"Caf\xc3\xa9"; /* valid: left alone */
  it.extra = (char *)"{\"note\":\"na\xefve\"}";
  it.path = (char *)"/photos/\xff.jpg";
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  char *raw = raw_text(fx->db, "select hex(baseColour) from items where id = 5");
  assert_string_equal(raw, "4372E86D65"); /* stored as the bytes came (as older versions did) */
  free(raw);
  lk_item got;
  assert_int_equal(lk_catalog_get_item(fx->cat, 5, &got), 0);
  assert_string_equal(got.field[4], "Cr\xef\xbf\xbdme");
  assert_string_equal(got.field[8], "Caf\xc3\xa9");
  assert_string_equal(got.extra, "{\"note\":\"na\xef\xbf\xbdve\"}");
  assert_string_equal(got.path, "/photos/\xff.jpg"); /* a file name: kept as bytes, to open */
  assert_null(got.field[0]);
  lk_item_clear(&got);
  text_seen t = {0};
  assert_int_equal(lk_catalog_foreach_item(fx->cat, text_cb, &t), 0);
  assert_int_equal(t.n, 1);
  assert_string_equal(t.colour, "Cr\xef\xbf\xbdme");
  assert_string_equal(t.extra, "{\"note\":\"na\xef\xbf\xbdve\"}");
  /* check names it (it used to say ok) */
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(fx->cat, &eb), LK_ECORRUPT);
  assert_non_null(strstr(eb.msg, "1 item holds text that is not UTF-8 (first: id 5, baseColour)"));
  it.field[4] = (char *)"Cr\xc3\xa8me";
  it.extra = NULL;
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0); /* the path may stay bytes */
}

static void test_transactions(void **state) {
  fixture *fx = *state;
  assert_int_equal(lk_catalog_begin(fx->cat), 0);
  assert_int_equal(lk_catalog_begin(fx->cat), LK_EINVAL);
  float v[8] = {0};
  for (int i = 1; i <= 100; i++) {
    lk_item it = make_item(i, "ok");
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
    assert_int_equal(lk_catalog_put_vector(fx->cat, i, v, 8), 0);
  }
  assert_int_equal(lk_catalog_set_meta(fx->cat, "recipe", "x"), 0);
  assert_int_equal(lk_catalog_rollback(fx->cat), 0);
  int64_t items, vectors;
  assert_int_equal(lk_catalog_counts(fx->cat, &items, &vectors, NULL), 0);
  assert_int_equal(items, 0);
  assert_int_equal(vectors, 0);
  char *r;
  assert_int_equal(lk_catalog_get_meta(fx->cat, "recipe", &r), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_commit(fx->cat), LK_EINVAL);
  assert_int_equal(lk_catalog_rollback(fx->cat), 0); /* nothing open: harmless */

  assert_int_equal(lk_catalog_begin(fx->cat), 0);
  for (int i = 1; i <= 10; i++) {
    lk_item it = make_item(i, "ok");
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  }
  assert_int_equal(lk_catalog_commit(fx->cat), 0);
  assert_int_equal(lk_catalog_counts(fx->cat, &items, NULL, NULL), 0);
  assert_int_equal(items, 10);
  /* an open transaction is rolled back when the handle closes */
  assert_int_equal(lk_catalog_begin(fx->cat), 0);
  assert_int_equal(lk_catalog_delete_item(fx->cat, 3), 0);
  lk_catalog_close(fx->cat);
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_CREATE, &fx->cat, NULL), 0);
  assert_int_equal(lk_catalog_counts(fx->cat, &items, NULL, NULL), 0);
  assert_int_equal(items, 10);
}

/* The change sequence of a SQLite catalog (catalog.h "Change following"). */
typedef struct seen_changes {
  int64_t ids[64], deleted[64];
  int dims[64];
  char *source[64];
  int n, ndel;
} seen_changes;

static int seen_cb(void *ctx, int64_t id, const lk_item *it, const float *v, int dim) {
  seen_changes *s = ctx;
  if (!it) {
    assert_true(s->ndel < 64);
    s->deleted[s->ndel++] = id;
    return 0;
  }
  assert_true(s->n < 64);
  assert_int_equal(it->id, id);
  s->dims[s->n] = v ? dim : 0;
  s->source[s->n] = it->source ? strdup(it->source) : NULL;
  s->ids[s->n++] = id;
  return 0;
}

static void seen_clear(seen_changes *s) {
  for (int i = 0; i < s->n; i++) free(s->source[i]);
  memset(s, 0, sizeof *s);
}

static void test_change_sequence(void **state) {
  fixture *fx = *state;
  float v[8];
  int64_t v0, v1, v2, v3, got;
  assert_int_equal(lk_catalog_version(fx->cat, &v0), 0);
  lk_catalog *rd; /* a follower: another handle, read-only, as serve opens it */
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_READONLY, &rd, NULL), 0);
  assert_int_equal(lk_catalog_version(rd, &got), 0);
  assert_true(got == v0);
  assert_int_equal(lk_catalog_wait_change(rd, 0), 0); /* nothing new */

  assert_int_equal(lk_catalog_begin(fx->cat), 0);
  for (int i = 1; i <= 5; i++) {
    lk_item it = make_item(i, "ok");
    it.source = (char *)(i <= 3 ? "shop-a" : "shop-b");
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
    fill_vec(v, 8, i);
    if (i != 5) assert_int_equal(lk_catalog_put_vector(fx->cat, i, v, 8), 0);
  }
  assert_int_equal(lk_catalog_version(rd, &got), 0); /* not committed: not seen */
  assert_true(got == v0);
  assert_int_equal(lk_catalog_commit(fx->cat), 0);
  assert_int_equal(lk_catalog_version(fx->cat, &v1), 0);
  assert_true(v1 > v0);
  assert_int_equal(lk_catalog_wait_change(rd, 1000), 1); /* the commit of another handle is noticed */

  seen_changes s = {0};
  assert_int_equal(lk_catalog_changes(rd, v0, seen_cb, &s, &got), 0);
  assert_true(got == v1);
  assert_int_equal(s.n, 5);
  assert_int_equal(s.ndel, 0);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(s.ids[i], i + 1);
    assert_int_equal(s.dims[i], i == 4 ? 0 : 8); /* item 5 has no vector */
    assert_string_equal(s.source[i], i < 3 ? "shop-a" : "shop-b");
  }
  seen_clear(&s);
  assert_int_equal(lk_catalog_wait_change(rd, 0), 0); /* caught up */
  assert_int_equal(lk_catalog_changes(rd, v1, seen_cb, &s, &got), 0);
  assert_true(got == v1);
  assert_int_equal(s.n + s.ndel, 0);

  /* one vector rewritten, one item deleted: only those two ids come back */
  fill_vec(v, 8, 99);
  assert_int_equal(lk_catalog_put_vector(fx->cat, 2, v, 8), 0);
  assert_int_equal(lk_catalog_delete_item(fx->cat, 4), 0);
  assert_int_equal(lk_catalog_version(fx->cat, &v2), 0);
  assert_true(v2 > v1);
  assert_int_equal(lk_catalog_changes(rd, v1, seen_cb, &s, &got), 0);
  assert_true(got == v2);
  assert_int_equal(s.ndel, 1);
  assert_int_equal(s.deleted[0], 4);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.ids[0], 2);
  seen_clear(&s);
  /* writing what is there already (an item, a vector, a meta value) is no change */
  assert_int_equal(lk_catalog_set_meta(fx->cat, "dim", "8"), 0);
  assert_int_equal(lk_catalog_version(fx->cat, &v2), 0);
  {
    lk_item it = make_item(2, "ok");
    it.source = (char *)"shop-a";
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
    assert_int_equal(lk_catalog_put_vector(fx->cat, 2, v, 8), 0);
    assert_int_equal(lk_catalog_set_meta(fx->cat, "dim", "8"), 0);
    assert_int_equal(lk_catalog_version(fx->cat, &got), 0);
    assert_true(got == v2);
  }
  /* a rolled-back transaction leaves no version behind */
  assert_int_equal(lk_catalog_begin(fx->cat), 0);
  assert_int_equal(lk_catalog_delete_item(fx->cat, 1), 0);
  assert_int_equal(lk_catalog_rollback(fx->cat), 0);
  assert_int_equal(lk_catalog_version(fx->cat, &v3), 0);
  assert_true(v3 == v2);
  /* asked for changes past the catalog's version (re-created, restored): LK_EMISMATCH */
  assert_int_equal(lk_catalog_changes(rd, v2 + 100, seen_cb, &s, &got), LK_EMISMATCH);
  assert_non_null(strstr(lk_catalog_errmsg(rd), "went back"));
  /* inside a transaction: refused */
  assert_int_equal(lk_catalog_begin(rd), 0);
  assert_int_equal(lk_catalog_changes(rd, v0, seen_cb, &s, &got), LK_EINVAL);
  assert_int_equal(lk_catalog_rollback(rd), 0);
  /* an outside writer (another version of lookalike, the sqlite3 shell) is seen too: triggers */
  assert_int_equal(raw_exec(fx->db, "UPDATE items SET productDisplayName = 'x' WHERE id = 3"), SQLITE_OK);
  assert_int_equal(lk_catalog_changes(rd, v2, seen_cb, &s, &got), 0);
  assert_true(got > v2);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.ids[0], 3);
  seen_clear(&s);
  /* another file renamed over this one: the follower is told to open it again */
  const char *other = lk_test_path("%s/other.db", fx->dir);
  lk_catalog *oc;
  assert_int_equal(lk_catalog_open(other, LK_CATALOG_CREATE, &oc, NULL), 0);
  lk_catalog_close(oc);
  unlink(lk_test_path("%s-wal", fx->db)); /* SQLite's rule for replacing a file in use */
  unlink(lk_test_path("%s-shm", fx->db));
  assert_int_equal(rename(other, fx->db), 0);
  assert_int_equal(lk_catalog_wait_change(rd, 0), 1);
  assert_int_equal(lk_catalog_changes(rd, got, seen_cb, &s, &got), LK_EMISMATCH); /* read it whole */
  assert_non_null(strstr(lk_catalog_errmsg(rd), "was replaced by another file"));
  int64_t items = -1;
  assert_int_equal(lk_catalog_counts(rd, &items, NULL, NULL), 0); /* the handle reads the new file */
  assert_int_equal(items, 0);
  assert_int_equal(lk_catalog_changes(rd, 0, seen_cb, &s, &got), 0);
  /* removed: the file open stays (no change) until one is put back, which is read whole */
  assert_int_equal(unlink(fx->db), 0);
  assert_int_equal(lk_catalog_wait_change(rd, 0), 0);
  assert_int_equal(lk_catalog_open(other, LK_CATALOG_CREATE, &oc, NULL), 0);
  lk_catalog_close(oc);
  assert_int_equal(rename(other, fx->db), 0);
  assert_int_equal(lk_catalog_wait_change(rd, 0), 1);
  assert_int_equal(lk_catalog_changes(rd, 0, seen_cb, &s, &got), LK_EMISMATCH);
  lk_catalog_close(rd);
}

/* A file made before sources and the change sequence: read as it is by a read-only handle
 * (version 0, sources from the photo paths' folders), upgraded by the first writable open. */
static int source_count_cb(void *ctx, const char *source, int64_t items) {
  char *buf = ctx;
  snprintf(buf + strlen(buf), 512 - strlen(buf), "%s=%lld;", source, (long long)items);
  return 0;
}

typedef struct recent_seen {
  int n;
  int64_t id[8], version[8];
  int deleted[8];
  char name[8][64];
} recent_seen;

static int recent_cb(void *ctx, int64_t id, int64_t version, int deleted, const char *name) {
  recent_seen *r = ctx;
  if (r->n >= 8) return -1;
  r->id[r->n] = id;
  r->version[r->n] = version;
  r->deleted[r->n] = deleted;
  snprintf(r->name[r->n], sizeof r->name[r->n], "%s", name ? name : "(null)");
  r->n++;
  return 0;
}

/* The owner's page's list: the last writes, newest first, deletions marked, names as UTF-8. */
static void test_recent_changes(void **state) {
  fixture *fx = *state;
  static const char *const names[] = {"One", "Two", "Thr\xe9" "e", NULL};
  for (int i = 1; i <= 4; i++) {
    lk_item it = make_item(i, "ok");
    it.field[LK_NFIELDS - 1] = (char *)names[i - 1];
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  }
  assert_int_equal(lk_catalog_delete_item(fx->cat, 2), 0);
  lk_item it = make_item(3, "ok");
  it.field[LK_NFIELDS - 1] = (char *)"Thr\xe9" "e again";
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  recent_seen r = {0};
  assert_int_equal(lk_catalog_recent_changes(fx->cat, 10, recent_cb, &r), 0);
  assert_int_equal(r.n, 4);
  static const int64_t want[] = {3, 2, 4, 1};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(r.id[i], want[i]);
    assert_int_equal(r.deleted[i], want[i] == 2);
    if (i) assert_true(r.version[i] < r.version[i - 1]);
  }
  int64_t v;
  assert_int_equal(lk_catalog_version(fx->cat, &v), 0);
  assert_true(r.version[0] == v);
  assert_string_equal(r.name[0], "Thr\xef\xbf\xbd" "e again"); /* the bad byte read as U+FFFD */
  assert_string_equal(r.name[1], "(null)");                   /* deleted: no name */
  assert_string_equal(r.name[2], "(null)");                   /* none given */
  assert_string_equal(r.name[3], "One");
  memset(&r, 0, sizeof r); /* a limit */
  assert_int_equal(lk_catalog_recent_changes(fx->cat, 2, recent_cb, &r), 0);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.id[1], 2);
  assert_int_equal(lk_catalog_recent_changes(fx->cat, 0, recent_cb, &r), LK_EINVAL);
  assert_int_equal(lk_catalog_recent_changes(fx->cat, LK_CATALOG_MAX_RECENT + 1, recent_cb, &r), LK_EINVAL);
}

/* Stored photos (items written over HTTP): put/get/delete, the item's delete takes its photo,
 * each write is a change of the item, and check verifies the bytes against the item's hash. */
static void test_photos(void **state) {
  fixture *fx = *state;
  static const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0, 4, 0xff, 0xd9};
  char hex[LK_SHA256_HEX];
  lk_hash_sha256_hex(jpg, sizeof jpg, hex);
  float v[8];
  char *type = NULL;
  void *data = NULL;
  size_t len = 0;
  /* a catalog without the table: nothing stored, nothing to check */
  assert_int_equal(lk_catalog_get_photo(fx->cat, 7, &type, &data, &len), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_check(fx->cat, NULL), 0);
  assert_int_equal(lk_catalog_put_photo(fx->cat, 7, "image/jpeg", jpg, sizeof jpg), LK_ENOTFOUND); /* no item 7 */
  lk_item it = make_item(7, "ok");
  it.path = (char *)LK_CATALOG_PHOTO_PATH "7";
  it.hash = hex;
  it.source = (char *)"api";
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  fill_vec(v, 8, 7);
  assert_int_equal(lk_catalog_put_vector(fx->cat, 7, v, 8), 0);
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(fx->cat, &eb), LK_ECORRUPT); /* an api item without its photo */
  assert_non_null(strstr(eb.msg, "item 7"));
  int64_t v0, v1, got;
  assert_int_equal(lk_catalog_version(fx->cat, &v0), 0);
  assert_int_equal(lk_catalog_put_photo(fx->cat, 7, "image/jpeg", jpg, sizeof jpg), 0);
  assert_int_equal(lk_catalog_version(fx->cat, &v1), 0);
  assert_true(v1 > v0); /* a photo written is a change of its item */
  seen_changes sc = {0};
  assert_int_equal(lk_catalog_changes(fx->cat, v0, seen_cb, &sc, &got), 0);
  assert_int_equal(sc.n, 1);
  assert_int_equal(sc.ids[0], 7);
  seen_clear(&sc);
  assert_int_equal(lk_catalog_get_photo(fx->cat, 7, &type, &data, &len), 0);
  assert_string_equal(type, "image/jpeg");
  assert_int_equal(len, sizeof jpg);
  assert_memory_equal(data, jpg, sizeof jpg);
  free(type), free(data);
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);
  /* another reader sees it; a handle of an older lookalike would just ignore the table */
  lk_catalog *rd;
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_READONLY, &rd, NULL), 0);
  assert_int_equal(lk_catalog_get_photo(rd, 7, &type, &data, &len), 0);
  assert_int_equal(len, sizeof jpg);
  free(type), free(data);
  assert_int_equal(lk_catalog_check(rd, NULL), 0);
  /* bytes that are not the item's: check names the item */
  assert_int_equal(raw_exec(fx->db, "UPDATE photos SET data = x'ffd8ff00' WHERE id = 7"), SQLITE_OK);
  assert_int_equal(lk_catalog_check(rd, &eb), LK_ECORRUPT);
  assert_non_null(strstr(eb.msg, "item 7"));
  assert_int_equal(lk_catalog_put_photo(fx->cat, 7, "image/jpeg", jpg, sizeof jpg), 0);
  /* a photo whose item is gone (written by hand): named */
  assert_int_equal(raw_exec(fx->db, "PRAGMA foreign_keys = OFF; INSERT INTO photos VALUES(9, 'image/png', x'89504e47')"), SQLITE_OK);
  assert_int_equal(lk_catalog_check(rd, &eb), LK_ECORRUPT);
  assert_non_null(strstr(eb.msg, "stored photo 9 has no item"));
  assert_int_equal(raw_exec(fx->db, "DELETE FROM photos WHERE id = 9"), SQLITE_OK);
  assert_int_equal(lk_catalog_check(rd, NULL), 0);
  /* over the size limit: refused before the backend */
  assert_int_equal(lk_catalog_put_photo(fx->cat, 7, "image/jpeg", jpg, LK_CATALOG_MAX_PHOTO + 1), LK_ETOOBIG);
  /* the item indexed again from a file (`lookalike index` over the same id): its stored bytes
   * are left over, not a fault */
  lk_item file = make_item(7, "ok");
  assert_int_equal(lk_catalog_put_item(fx->cat, &file), 0);
  assert_int_equal(lk_catalog_check(rd, &eb), 0);
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  /* delete_photo, then delete_item takes item, vector and photo in one go */
  assert_int_equal(lk_catalog_delete_photo(fx->cat, 7), 0);
  assert_int_equal(lk_catalog_delete_photo(fx->cat, 7), LK_ENOTFOUND);
  assert_int_equal(lk_catalog_put_photo(fx->cat, 7, "image/jpeg", jpg, sizeof jpg), 0);
  assert_int_equal(lk_catalog_delete_item(fx->cat, 7), 0);
  assert_int_equal(lk_catalog_get_photo(rd, 7, &type, &data, &len), LK_ENOTFOUND);
  char *n = raw_text(fx->db, "SELECT count(*) FROM photos");
  assert_string_equal(n, "0");
  free(n);
  assert_int_equal(lk_catalog_check(rd, NULL), 0);
  lk_catalog_close(rd);
}

static void test_older_file_upgraded(void **state) {
  fixture *fx = *state;
  for (int i = 1; i <= 3; i++) {
    lk_item it = make_item(i, "ok");
    it.path = (char *)lk_test_path(i < 3 ? "/photos/a/%d.jpg" : "/photos/b/%d.jpg", i);
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  }
  lk_catalog_close(fx->cat);
  fx->cat = NULL;
  assert_int_equal(raw_exec(fx->db,
                            "DROP TRIGGER lk_items_ins; DROP TRIGGER lk_items_upd; DROP TRIGGER lk_items_del;"
                            "DROP TRIGGER lk_vectors_ins; DROP TRIGGER lk_vectors_upd; DROP TRIGGER lk_vectors_del;"
                            "DROP TRIGGER lk_meta_ins; DROP TRIGGER lk_meta_upd; DROP TRIGGER lk_meta_del;"
                            "DROP TABLE changes; DROP TABLE catalog_version; ALTER TABLE items DROP COLUMN source"),
                   SQLITE_OK);
  lk_catalog *rd;
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_READONLY, &rd, NULL), 0);
  int64_t v = -1, got = -1;
  assert_int_equal(lk_catalog_version(rd, &v), 0);
  assert_int_equal(v, 0);
  char buf[512] = "";
  assert_int_equal(lk_catalog_foreach_source(rd, source_count_cb, buf), 0);
  assert_string_equal(buf, "/photos/a=2;/photos/b=1;");
  recent_seen r = {0}; /* no change sequence yet: no recent changes either */
  assert_int_equal(lk_catalog_recent_changes(rd, 10, recent_cb, &r), 0);
  assert_int_equal(r.n, 0);
  lk_item it;
  assert_int_equal(lk_catalog_get_item(rd, 1, &it), 0);
  assert_null(it.source);
  char sb[64];
  assert_string_equal(lk_item_source(&it, sb, sizeof sb), "/photos/a");
  lk_item_clear(&it);
  it = make_item(9, "ok");
  assert_int_equal(lk_catalog_put_item(rd, &it), LK_EINVAL); /* read-only */
  /* the first writable open adds the column and the sequence; the follower sees what follows */
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_CREATE, &fx->cat, NULL), 0);
  it.source = (char *)"new";
  assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
  seen_changes s = {0};
  assert_int_equal(lk_catalog_wait_change(rd, 1000), 1);
  assert_int_equal(lk_catalog_changes(rd, 0, seen_cb, &s, &got), 0);
  assert_true(got > 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.ids[0], 9);
  seen_clear(&s);
  buf[0] = '\0';
  assert_int_equal(lk_catalog_foreach_source(fx->cat, source_count_cb, buf), 0);
  assert_string_equal(buf, "/photos/a=2;/photos/b=1;new=1;");
  lk_catalog_close(rd);
  lk_item bare = {.id = 1, .path = (char *)"x.jpg"}; /* no folder: an empty source */
  assert_string_equal(lk_item_source(&bare, sb, sizeof sb), "");
  bare.path = (char *)"/x.jpg";
  assert_string_equal(lk_item_source(&bare, sb, sizeof sb), "/");
}

static void test_refused_files(void **state) {
  fixture *fx = *state;
  lk_catalog *c = (lk_catalog *)1;
  lk_errbuf eb = {0};
  const char *missing = lk_test_path("%s/missing.db", fx->dir);
  assert_int_equal(lk_catalog_open(missing, LK_CATALOG_READONLY, &c, &eb), LK_ENOTFOUND);
  assert_null(c);
  assert_int_equal(access(missing, F_OK), -1); /* not created */
  assert_int_equal(lk_catalog_open(fx->db, 7, &c, &eb), LK_EINVAL);

  const char *garbage = lk_test_path("%s/garbage.db", fx->dir);
  char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 7 + 3);
  assert_int_equal(lk_test_write_file(garbage, junk, sizeof junk), 0);
  const char *foreign = lk_test_path("%s/foreign.db", fx->dir);
  assert_int_equal(raw_exec(foreign, "CREATE TABLE foo(x); INSERT INTO foo VALUES(1)"), 0);
  const char *empty = lk_test_path("%s/empty.db", fx->dir);
  assert_int_equal(lk_test_write_file(empty, "", 0), 0);
  const char *newer = lk_test_path("%s/newer.db", fx->dir);
  const char *odd = lk_test_path("%s/odd.db", fx->dir);
  const char *cols = lk_test_path("%s/cols.db", fx->dir);
  const char *appid = lk_test_path("%s/appid.db", fx->dir);
  const char *made[] = {newer, odd, cols, appid};
  for (int i = 0; i < 4; i++) {
    const char *p = made[i];
    lk_catalog *tmp;
    assert_int_equal(lk_catalog_open(p, LK_CATALOG_CREATE, &tmp, NULL), 0);
    lk_catalog_close(tmp);
  }
  assert_int_equal(raw_exec(newer, "UPDATE meta SET value = '2' WHERE key = 'schema_version'"), 0);
  assert_int_equal(raw_exec(odd, "UPDATE meta SET value = 'one' WHERE key = 'schema_version'"), 0);
  assert_int_equal(raw_exec(cols, "DROP TABLE vectors; CREATE TABLE vectors(id, x)"), 0);
  assert_int_equal(raw_exec(appid, "PRAGMA application_id = 1234"), 0);

  static const struct {
    int which, flags, rc;
    const char *msg;
  } cases[] = {
      {0, LK_CATALOG_READONLY, LK_ECORRUPT, "not a lookalike catalog"},
      {0, LK_CATALOG_CREATE, LK_ECORRUPT, "not a lookalike catalog"},
      {1, LK_CATALOG_READONLY, LK_ECORRUPT, "not a lookalike catalog"},
      {1, LK_CATALOG_CREATE, LK_ECORRUPT, "not a lookalike catalog"},
      {2, LK_CATALOG_READONLY, LK_ECORRUPT, "empty"},
      {3, LK_CATALOG_READONLY, LK_EMISMATCH, "schema_version '2'"},
      {3, LK_CATALOG_CREATE, LK_EMISMATCH, "schema_version '2'"},
      {4, LK_CATALOG_READONLY, LK_EMISMATCH, "schema_version 'one'"},
      {5, LK_CATALOG_READONLY, LK_ECORRUPT, "schema does not match"},
      {6, LK_CATALOG_CREATE, LK_ECORRUPT, "application_id 0x4d2"},
  };
  const char *paths[] = {garbage, foreign, empty, newer, odd, cols, appid};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    c = (lk_catalog *)1;
    memset(&eb, 0, sizeof eb);
    int rc = lk_catalog_open(paths[cases[i].which], cases[i].flags, &c, &eb);
    if (rc != cases[i].rc || !strstr(eb.msg, cases[i].msg))
      fail_msg("case %zu: rc %d msg '%s'", i, rc, eb.msg);
    assert_null(c);
  }
  /* the foreign file was left as it was */
  char *n = raw_text(foreign, "SELECT count(*) FROM sqlite_master");
  assert_string_equal(n, "1");
  free(n);
  char *mode = raw_text(foreign, "PRAGMA journal_mode");
  assert_string_equal(mode, "delete");
  free(mode);
  /* an empty file may become a catalog */
  assert_int_equal(lk_catalog_open(empty, LK_CATALOG_CREATE, &c, &eb), 0);
  lk_catalog_close(c);
}

static void test_check(void **state) {
  fixture *fx = *state;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0); /* empty catalog is fine */
  float v[8];
  for (int i = 1; i <= 6; i++) {
    lk_item it = make_item(i, "ok");
    assert_int_equal(lk_catalog_put_item(fx->cat, &it), 0);
    fill_vec(v, 8, i);
    assert_int_equal(lk_catalog_put_vector(fx->cat, i, v, 8), 0);
  }
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);

  static const struct {
    const char *damage, *msg, *repair;
  } cases[] = {
      {"UPDATE vectors SET data = substr(data, 1, 20) WHERE id = 2", "vector 2: blob length 20",
       "DELETE FROM vectors WHERE id = 2"},
      {"PRAGMA foreign_keys = OFF; INSERT INTO vectors VALUES(99, 8, zeroblob(32))",
       "vector 99 has no item", "DELETE FROM vectors WHERE id = 99"},
      {"UPDATE vectors SET dim = 4, data = zeroblob(16) WHERE id = 3", "vector 3 has dim 4",
       "DELETE FROM vectors WHERE id = 3"},
      {"UPDATE items SET status = 'weird' WHERE id = 1", "unknown status 'weird'",
       "UPDATE items SET status = 'ok'"},

      /* every vector finite and normalised, the first bad item named (issue 15, item 4) */
      {"UPDATE vectors SET data = CAST(x'0000C07F' || substr(data, 5) AS BLOB) WHERE id = 4",
       "item 4: vector element 0 of 8 is nan", "DELETE FROM vectors WHERE id = 4"},
      {"UPDATE vectors SET data = CAST(x'0000807F' || substr(data, 5) AS BLOB) WHERE id = 6",
       "item 6: vector element 0 of 8 is inf", "DELETE FROM vectors WHERE id = 6"},
      {"UPDATE vectors SET data = zeroblob(32) WHERE id = 5", "item 5: vector has norm 0, not 1",
       "DELETE FROM vectors WHERE id = 5"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(raw_exec(fx->db, cases[i].damage), SQLITE_OK);
    memset(&eb, 0, sizeof eb);
    int rc = lk_catalog_check(fx->cat, &eb);
    if (rc != LK_ECORRUPT || !strstr(eb.msg, cases[i].msg))
      fail_msg("case %zu: rc %d msg '%s'", i, rc, eb.msg);
    assert_non_null(strstr(lk_catalog_errmsg(fx->cat), cases[i].msg));
    assert_int_equal(raw_exec(fx->db, cases[i].repair), SQLITE_OK);
    assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);
  }
  /* damaged pages: integrity_check catches what the schema cannot */
  lk_catalog_close(fx->cat);
  fx->cat = NULL;
  assert_int_equal(raw_exec(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  size_t len;
  uint8_t *raw = lk_test_read_file(fx->db, &len);
  assert_non_null(raw);
  assert_true(len >= 4 * 4096);
  for (size_t i = 2 * 4096 + 100; i < len; i += 7) raw[i] ^= 0x5a; /* trash every table page */
  assert_int_equal(lk_test_write_file(fx->db, raw, len), 0);
  free(raw);
  lk_catalog *c;
  int rc = lk_catalog_open(fx->db, LK_CATALOG_READONLY, &c, &eb);
  if (rc == 0) {
    rc = lk_catalog_check(c, &eb);
    lk_catalog_close(c);
  }
  assert_int_equal(rc, LK_ECORRUPT);
}

/* A child writes a committed batch, then a large uncommitted one, and is killed with SIGKILL
 * while inside it. The catalog must open, pass check and hold exactly the committed batch. */
static void test_kill_during_transaction(void **state) {
  fixture *fx = *state;
  lk_catalog_close(fx->cat);
  fx->cat = NULL;
  enum { COMMITTED = 300, DIM = 512, SIGNAL_AT = 3000 };
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    lk_catalog *c;
    float v[DIM];
    if (lk_catalog_open(fx->db, LK_CATALOG_CREATE, &c, NULL) != 0) _exit(1);
    if (lk_catalog_begin(c) != 0) _exit(1);
    for (int i = 1; i <= COMMITTED; i++) {
      lk_item it = make_item(i, "ok");
      fill_vec(v, DIM, i);
      if (lk_catalog_put_item(c, &it) || lk_catalog_put_vector(c, i, v, DIM)) _exit(1);
    }
    if (lk_catalog_set_meta(c, "recipe", "committed") || lk_catalog_commit(c)) _exit(1);
    if (lk_catalog_begin(c) != 0) _exit(1);
    lk_catalog_set_meta(c, "recipe", "uncommitted");
    lk_catalog_delete_item(c, 1);
    for (int i = COMMITTED + 1; i < 1000000; i++) { /* ~2 KiB per row: spills into the WAL */
      lk_item it = make_item(i, "ok");
      fill_vec(v, DIM, i);
      if (lk_catalog_put_item(c, &it) || lk_catalog_put_vector(c, i, v, DIM)) _exit(1);
      if (i == SIGNAL_AT && write(pipefd[1], "x", 1) != 1) _exit(1);
    }
    _exit(2); /* never reached: the parent kills us first */
  }
  close(pipefd[1]);
  char b;
  assert_int_equal(read(pipefd[0], &b, 1), 1);
  kill(pid, SIGKILL);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  close(pipefd[0]);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  /* the WAL holds uncommitted frames */
  size_t wal_len = 0;
  uint8_t *wal = lk_test_read_file(lk_test_path("%s-wal", fx->db), &wal_len);
  free(wal);
  assert_true(wal_len > (size_t)SIGNAL_AT * DIM * 2);

  for (int pass = 0; pass < 2; pass++) {
    lk_catalog *c;
    lk_errbuf eb = {0};
    int flags = pass == 0 ? LK_CATALOG_READONLY : LK_CATALOG_CREATE;
    if (lk_catalog_open(fx->db, flags, &c, &eb) != 0) fail_msg("open: %s", eb.msg);
    if (lk_catalog_check(c, &eb) != 0) fail_msg("check: %s", eb.msg);
    int64_t items, vectors;
    assert_int_equal(lk_catalog_counts(c, &items, &vectors, NULL), 0);
    assert_int_equal(items, COMMITTED);
    assert_int_equal(vectors, COMMITTED);
    char *r;
    assert_int_equal(lk_catalog_get_meta(c, "recipe", &r), 0);
    assert_string_equal(r, "committed");
    free(r);
    float v[DIM], w[DIM];
    for (int i = 1; i <= COMMITTED; i += 37) {
      fill_vec(v, DIM, i);
      assert_int_equal(lk_catalog_get_vector(c, i, w, DIM), DIM);
      assert_memory_equal(v, w, sizeof v);
    }
    lk_item it;
    assert_int_equal(lk_catalog_get_item(c, COMMITTED + 1, &it), LK_ENOTFOUND);
    lk_catalog_close(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meta_listing_and_backend, setup, teardown),
      cmocka_unit_test_setup_teardown(test_items, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fields_match_csv_and_schema, setup, teardown),
      cmocka_unit_test_setup_teardown(test_vectors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_foreach_and_counts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_utf8_repaired_on_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_change_sequence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recent_changes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_photos, setup, teardown),
      cmocka_unit_test_setup_teardown(test_older_file_upgraded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_during_transaction, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
