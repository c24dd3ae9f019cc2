/* tests/test_facets.c — GET /api/facets's cache over a live catalog's snapshots (server/facets.h):
 * a snapshot's body is computed once and kept with it; a newer snapshot reuses one computed
 * less than a second before, and gets its own counts after that. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "search/live.h"
#include "server/facets.h"
#include "testutil.h"

#define D 16

/* Item id (gender Men for odd ids, else Women) with a unit vector along axis id % D, committed. */
static void put(lk_catalog *c, int64_t id) {
  lk_item it = {.id = id, .path = "p.jpg", .status = "ok"};
  it.field[0] = id % 2 ? "Men" : "Women";
  float v[D] = {0};
  v[id % D] = 1;
  assert_int_equal(lk_catalog_begin(c), 0);
  assert_int_equal(lk_catalog_put_item(c, &it), 0);
  assert_int_equal(lk_catalog_put_vector(c, id, v, D), 0);
  assert_int_equal(lk_catalog_commit(c), 0);
}

/* The body's "items" (searchable items counted). */
static json_int_t items_in(const char *body, size_t len) {
  json_t *j = json_loadb(body, len, 0, NULL);
  assert_non_null(j);
  json_int_t n = json_integer_value(json_object_get(j, "items"));
  json_decref(j);
  return n;
}

static void test_facets_per_snapshot(void **state) {
  (void)state;
  char *dir = lk_test_mkdtemp();
  char *db = strdup(lk_test_path("%s/c.db", dir));
  lk_catalog *w = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_test_catalog_preset(db, "color", &w), 0);
  for (int64_t id = 1; id <= 20; id++) put(w, id);
  lk_live *l = NULL;
  assert_int_equal(lk_live_open(db, NULL, NULL, &l, &eb), 0);
  lk_facets *fc = NULL;
  assert_int_equal(lk_facets_new(&fc), 0);

  const lk_live_snap *s1 = lk_live_acquire(l);
  size_t len1 = 0, len = 0;
  const char *b1 = lk_facets_get(fc, s1, &len1);
  assert_int_equal(items_in(b1, len1), 20);
  assert_ptr_equal(lk_facets_get(fc, s1, &len), b1); /* kept with the snapshot */
  assert_int_equal(len, len1);
  /* a write: the next snapshot reuses the body computed less than a second before */
  put(w, 21);
  assert_int_equal(lk_live_sync(l, w, &eb), 0);
  const lk_live_snap *s2 = lk_live_acquire(l);
  assert_ptr_not_equal(s2, s1);
  const char *b2 = lk_facets_get(fc, s2, &len);
  assert_ptr_not_equal(b2, b1);
  assert_int_equal(items_in(b2, len), 20);
  assert_string_equal(b1, b2); /* (the first snapshot's, still held, is unchanged) */
  /* past a second, a new snapshot gets its own counts */
  struct timespec ts = {1, 100000000};
  nanosleep(&ts, NULL);
  put(w, 22);
  assert_int_equal(lk_live_sync(l, w, &eb), 0);
  const lk_live_snap *s3 = lk_live_acquire(l);
  assert_int_equal(items_in(lk_facets_get(fc, s3, &len), len), 22);
  assert_non_null(strstr(lk_facets_get(fc, s3, &len), "\"Women\""));
  lk_live_release(l, s1); /* each goes with its body */
  lk_live_release(l, s2);
  lk_live_release(l, s3);
  lk_facets_free(fc);
  lk_live_close(l);
  lk_catalog_close(w);
  lk_test_rmtree(dir);
  free(dir);
  free(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_facets_per_snapshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
