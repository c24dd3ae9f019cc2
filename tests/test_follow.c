/* tests/test_follow.c — the served engine following its catalog (server/follow.h): a write
 * applied with lk_follow_sync is searchable on return as a delta over the engine in use; under
 * a stream of writes the optimiser's full rebuild is swapped in with the writes that came
 * meanwhile on top; the engine served at the end equals a fresh load of the catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "server/follow.h"
#include "testutil.h"
#include "util/rng.h"
#include "util/clock.h"

#define N 600
#define D 16

static void rand_vec(uint64_t *rng, float *v) {
  double s = 0;
  for (int d = 0; d < D; d++) {
    v[d] = lk_rng_unit(rng) - 0.5f;
    s += (double)v[d] * v[d];
  }
  for (int d = 0; d < D; d++) v[d] = (float)(v[d] / sqrt(s));
}

/* Writes item id (name "Product ID vN") with vector v, or deletes it (v NULL), and commits. */
static void write_item(lk_catalog *c, int64_t id, int version, const float *v) {
  char name[64];
  snprintf(name, sizeof name, "Product %lld v%d", (long long)id, version);
  lk_item it = {.id = id, .path = "p.jpg", .status = "ok"};
  it.field[0] = id % 2 ? "Men" : "Women";
  it.field[8] = name;
  assert_int_equal(lk_catalog_begin(c), 0);
  if (v) {
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, id, v, D), 0);
  } else {
    int rc = lk_catalog_delete_item(c, id);
    assert_true(rc == 0 || rc == LK_ENOTFOUND);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
}

static void same_engines(const lk_engine *e, const lk_engine *g, uint64_t *rng) {
  assert_int_equal(lk_engine_item_count(e), lk_engine_item_count(g));
  assert_int_equal(lk_engine_size(e), lk_engine_size(g));
  for (size_t i = 0; i < lk_engine_item_count(g); i++) {
    const lk_item *a = lk_engine_item_at(e, i), *b = lk_engine_item_at(g, i);
    assert_int_equal(a->id, b->id);
    assert_string_equal(a->field[8], b->field[8]);
    const float *va = lk_engine_vector(e, a->id), *vb = lk_engine_vector(g, a->id);
    assert_int_equal(va == NULL, vb == NULL);
    if (va) assert_memory_equal(va, vb, sizeof(float) * D);
  }
  for (int q = 0; q < 10; q++) {
    float v[D];
    rand_vec(rng, v);
    lk_hit ha[10], hb[10];
    int na = 0, nb = 0;
    assert_int_equal(lk_engine_search_vector(e, v, NULL, 10, -1, ha, &na, NULL), 0);
    assert_int_equal(lk_engine_search_vector(g, v, NULL, 10, -1, hb, &nb, NULL), 0);
    assert_int_equal(na, nb);
    for (int j = 0; j < na; j++) assert_int_equal(ha[j].id, hb[j].id);
  }
}

static void test_follow_writes(void **state) {
  (void)state;
  char *dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", dir);
  char *dbp = strdup(db);
  uint64_t rng = 5;
  lk_catalog *w = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(dbp, LK_CATALOG_CREATE, &w, &eb), 0);
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  char *js = lk_recipe_to_json(&r);
  assert_int_equal(lk_catalog_set_meta(w, "recipe", js), 0);
  free(js);
  lk_recipe_clear(&r);
  float v[D];
  for (int64_t id = 1; id <= N; id++) {
    rand_vec(&rng, v);
    write_item(w, id, 0, v);
  }
  lk_follow_opts fo;
  lk_follow_opts_default(&fo);
  fo.optimize_after_s = 3600; /* only a large delta starts the optimiser here */
  lk_follow *f = NULL;
  assert_int_equal(lk_follow_open(dbp, NULL, &fo, &f, &eb), 0);

  /* a write, applied before lk_follow_sync returns, as a delta */
  rand_vec(&rng, v);
  write_item(w, 5, 1, v);
  assert_int_equal(lk_follow_sync(f, w, &eb), 0);
  const lk_follow_snap *s = lk_follow_acquire(f);
  const lk_engine *e = lk_follow_engine(s);
  assert_string_equal(lk_engine_item(e, 5)->field[8], "Product 5 v1");
  assert_int_equal(lk_engine_delta(e), 1);
  lk_hit h[3];
  int n = 0;
  assert_int_equal(lk_engine_search_vector(e, v, NULL, 3, -1, h, &n, NULL), 0);
  assert_int_equal(h[0].id, 5);
  lk_follow_release(f, s);
  write_item(w, 7, 1, NULL);
  assert_int_equal(lk_follow_sync(f, w, &eb), 0);
  s = lk_follow_acquire(f);
  assert_null(lk_engine_item(lk_follow_engine(s), 7));
  assert_int_equal(lk_engine_item_count(lk_follow_engine(s)), N - 1);
  lk_follow_release(f, s);

  /* a stream of writes: past 256 changed ids the optimiser rebuilds; the writes during its
   * build are applied on top of its engine, so the delta comes down while writes go on */
  int64_t next = N + 1;
  size_t peak = 0, after = 0;
  double end = lk_clock_now() + 30;
  for (int i = 0; lk_clock_now() < end; i++) {
    int64_t id = i % 3 ? (int64_t)(1 + lk_rng_next(&rng) % N) : next++;
    rand_vec(&rng, v);
    write_item(w, id, 2 + i, i % 7 == 6 ? NULL : v);
    assert_int_equal(lk_follow_sync(f, w, &eb), 0);
    s = lk_follow_acquire(f);
    size_t d = lk_engine_delta(lk_follow_engine(s));
    lk_follow_release(f, s);
    if (d > peak) peak = d;
    if (peak >= 256 && d < peak / 2) {
      after = d;
      break;
    }
  }
  print_message("delta: %zu changed ids at the peak, %zu after the optimiser's swap, %lld writes\n", peak,
                after, (long long)(next - N - 1) * 3);
  assert_true(peak >= 256);
  assert_true(after < peak / 2); /* the optimiser won within 30 s, writes going on */
  /* what is served equals a fresh load of the catalog */
  s = lk_follow_acquire(f);
  lk_engine *g = NULL;
  assert_int_equal(lk_engine_open(dbp, NULL, &g, &eb), 0);
  same_engines(lk_follow_engine(s), g, &rng);
  lk_follow_release(f, s);
  /* facets: at most a second behind */
  struct timespec ts = {1, 100000000};
  nanosleep(&ts, NULL);
  s = lk_follow_acquire(f);
  size_t len = 0;
  const char *body = lk_follow_facets(s, &len);
  json_t *fj = json_loadb(body, len, 0, NULL);
  lk_follow_release(f, s);
  assert_non_null(fj);
  assert_int_equal(json_integer_value(json_object_get(fj, "items")), (json_int_t)lk_engine_size(g));
  json_decref(fj);
  lk_engine_close(g);
  lk_follow_status st;
  lk_follow_get_status(f, &st);
  assert_string_equal(st.error, "");
  lk_follow_close(f);
  lk_catalog_close(w);
  lk_test_rmtree(dir);
  free(dir);
  free(dbp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_follow_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
