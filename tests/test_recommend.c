/* tests/test_recommend.c — every product's neighbours (search/recommend.h) on a hand-made
 * catalog (no model needed): the same neighbours as lk_engine_similar product by product, with
 * and without a filter; `same` fields (case-insensitive, unknown with unknown); short lists;
 * option errors; stopping from the progress callback; the CSV file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "search/engine.h"
#include "search/recommend.h"
#include "testutil.h"

#define N 600
#define D 16
#define K 5

static char *dir;     /* the catalog's folder */
static lk_engine *eng; /* the catalog, loaded once for every test */

/* "men" and "Men" are one value; every 7th item has no gender; 3 items are "Unisex" */
static const char *gender_of(int i) {
  static const char *g[] = {"Men", "Women", "men", "Girls"};
  if (i % 7 == 3) return NULL;
  if (i == 11 || i == 22 || i == 33) return "Unisex";
  return g[i % 4];
}

static int setup(void **state) {
  dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", dir);
  lk_catalog *c = lk_test_catalog_new(db);
  assert_non_null(c);
  srand(11);
  for (int i = 0; i < N; i++) {
    char name[64], year[8];
    float v[D];
    lk_item it = {.id = 100 + i * 2, .path = "p.jpg", .hash = name, .status = "ok"};
    snprintf(name, sizeof name, "Product %d", i);
    snprintf(year, sizeof year, "%d", 2010 + i % 5);
    it.field[0] = (char *)gender_of(i);
    it.field[6] = year;
    it.field[8] = name;
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    lk_test_unit_vector(v, D);
    assert_int_equal(lk_catalog_put_vector(c, it.id, v, D), 0);
  }
  lk_item bad = {.id = 5, .path = "bad.jpg", .status = "error", .error = "not an image"};
  assert_int_equal(lk_catalog_put_item(c, &bad), 0);
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  lk_errbuf eb = {0};
  return lk_engine_open(db, NULL, &eng, &eb);
}

static int teardown(void **state) {
  lk_engine_close(eng);
  lk_test_rmtree(dir);
  free(dir);
  return 0;
}

/* Each product's list equals lk_engine_similar's with filter f. */
static void same_as_similar(const lk_engine *e, const lk_recommend *r, const lk_filter *f) {
  for (size_t i = 0; i < r->n; i++) {
    lk_hit want[K];
    int n = 0;
    lk_errbuf eb = {0};
    assert_int_equal(lk_engine_similar(e, r->ids[i], f, K, want, &n, &eb), 0);
    assert_int_equal(r->nfound[i], n);
    for (int h = 0; h < n; h++) {
      assert_int_equal(r->hits[i * K + (size_t)h].id, want[h].id);
      assert_true(r->hits[i * K + (size_t)h].score == want[h].score);
    }
  }
}

static void test_all_products(void **state) {
  lk_recommend_opts o;
  lk_recommend_opts_default(&o);
  assert_int_equal(o.k, 10);
  o.k = K;
  o.threads = 3;
  lk_recommend r;
  lk_errbuf eb = {0};
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), 0);
  assert_int_equal(r.n, N); /* the item without a vector is left out */
  assert_int_equal(r.threads, 3);
  assert_int_equal(r.short_lists, 0);
  for (size_t i = 0; i < r.n; i++) {
    assert_int_equal(r.ids[i], 100 + 2 * (int64_t)i); /* id order */
    for (int h = 0; h < K; h++) assert_true(r.hits[i * K + (size_t)h].id != r.ids[i]);
  }
  same_as_similar(eng, &r, NULL);
  lk_recommend_free(&r);
  assert_null(r.ids);
}

static void test_filter(void **state) {
  lk_filter flt = {0};
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_add(&flt, "year>=2012", &eb), 0);
  lk_recommend_opts o;
  lk_recommend_opts_default(&o);
  o.k = K;
  o.filter = &flt;
  lk_recommend r;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), 0);
  assert_int_equal(r.n, N * 3 / 5);
  for (size_t i = 0; i < r.n; i++) assert_true(lk_filter_match(lk_engine_item(eng, r.ids[i]), &flt, NULL));
  same_as_similar(eng, &r, &flt);
  lk_recommend_free(&r);
  lk_filter bad = {0};
  assert_int_equal(lk_filter_add(&bad, "prize<3", &eb), 0);
  o.filter = &bad;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), LK_EINVAL); /* a column no item has */
  assert_non_null(strstr(lk_err_msg(&eb), "prize"));
}

static int same_gender(const lk_item *a, const lk_item *b) {
  const char *x = a->field[0], *y = b->field[0];
  return (!x || !y) ? x == y : strcasecmp(x, y) == 0;
}

static void test_same(void **state) {
  lk_recommend_opts o;
  lk_recommend_opts_default(&o);
  o.k = K;
  o.nsame = 1;
  o.same[0] = 0; /* gender */
  lk_recommend r;
  lk_errbuf eb = {0};
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), 0);
  assert_int_equal(r.n, N);
  size_t unisex = 0, unknown = 0;
  for (size_t i = 0; i < r.n; i++) {
    const lk_item *it = lk_engine_item(eng, r.ids[i]);
    for (int h = 0; h < r.nfound[i]; h++)
      assert_true(same_gender(it, lk_engine_item(eng, r.hits[i * K + (size_t)h].id)));
    if (it->field[0] && !strcmp(it->field[0], "Unisex")) {
      assert_int_equal(r.nfound[i], 2); /* the other two */
      unisex++;
      continue;
    }
    assert_int_equal(r.nfound[i], K);
    if (!it->field[0]) {
      unknown++;
      continue;
    }
    /* a known value: what similar gives with gender=VALUE (case-insensitive, as here) */
    lk_filter flt = {0};
    assert_int_equal(lk_filter_add_kv(&flt, "gender", it->field[0], &eb), 0);
    lk_hit want[K];
    int n = 0;
    assert_int_equal(lk_engine_similar(eng, r.ids[i], &flt, K, want, &n, &eb), 0);
    assert_int_equal(n, K);
    for (int h = 0; h < K; h++) assert_int_equal(r.hits[i * K + (size_t)h].id, want[h].id);
  }
  assert_int_equal(unisex, 3);
  assert_true(unknown > 50);
  assert_int_equal(r.short_lists, 3);
  lk_recommend_free(&r);
}

static int stop_at_once(void *ctx, size_t done, size_t total) {
  (*(int *)ctx)++;
  return done < total;
}

static void test_errors_and_stop(void **state) {
  lk_recommend_opts o;
  lk_recommend r;
  lk_errbuf eb = {0};
  lk_recommend_opts_default(&o);
  o.k = 0;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), LK_EINVAL);
  o.k = LK_RECOMMEND_MAX_K + 1;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), LK_EINVAL);
  o.k = K;
  o.threads = LK_RECOMMEND_MAX_THREADS + 1;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), LK_EINVAL);
  o.threads = 1;
  o.nsame = 1;
  o.same[0] = LK_NFIELDS;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), LK_EINVAL);
  o.nsame = 0;
  int calls = 0;
  o.progress = stop_at_once;
  o.ctx = &calls;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), LK_EINTR);
  assert_int_equal(calls, 1);
  assert_null(r.ids);
  assert_int_equal(r.n, 0);
}

static void test_csv(void **state) {
  lk_recommend_opts o;
  lk_recommend_opts_default(&o);
  o.k = 2;
  lk_filter flt = {0};
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_add(&flt, "productDisplayName=Product 0", &eb), 0);
  assert_int_equal(lk_filter_add(&flt, "productDisplayName=Product 1", &eb), 0);
  assert_int_equal(lk_filter_add(&flt, "productDisplayName=Product 2", &eb), 0);
  o.filter = &flt;
  lk_recommend r;
  assert_int_equal(lk_recommend_run(eng, &o, &r, &eb), 0);
  assert_int_equal(r.n, 3);
  const char *path = lk_test_path("%s/similar.csv", dir);
  assert_int_equal(lk_recommend_write_csv(&r, path, &eb), 0);
  assert_int_equal(access(lk_test_path("%s/similar.csv.tmp", dir), F_OK), -1);
  char want[512];
  int at = snprintf(want, sizeof want, "id,rank,neighbour_id,score\n");
  for (size_t i = 0; i < 3; i++)
    for (int h = 0; h < 2; h++)
      at += snprintf(want + at, sizeof want - (size_t)at, "%lld,%d,%lld,%.6f\n", (long long)r.ids[i], h + 1,
                     (long long)r.hits[i * 2 + (size_t)h].id, (double)r.hits[i * 2 + (size_t)h].score);
  size_t len = 0;
  uint8_t *got = lk_test_read_file(path, &len);
  assert_non_null(got);
  assert_int_equal(len, (size_t)at);
  assert_memory_equal(got, want, len);
  free(got);
  assert_int_equal(lk_recommend_write_csv(&r, lk_test_path("%s/no/such/dir.csv", dir), &eb), LK_EIO);
  lk_recommend_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_products),
      cmocka_unit_test(test_filter),
      cmocka_unit_test(test_same),
      cmocka_unit_test(test_errors_and_stop),
      cmocka_unit_test(test_csv),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
