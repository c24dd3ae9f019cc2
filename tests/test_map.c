/* tests/test_map.c — the catalog map (src/map/): PCA on a known matrix (the eigensolver itself
 * is tests/test_linalg.c's), exact kNN, Barnes-Hut t-SNE separating Gaussian clusters and being
 * deterministic for a seed (whatever the thread count), and the stored layout's roundtrip and invalidation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog/catalog.h"
#include "map/pca.h"
#include "map/store.h"
#include "map/tsne.h"
#include "testutil.h"

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double gauss(uint64_t *s) {
  double u1 = ((rng(s) >> 11) + 0.5) / 9007199254740992.0, u2 = ((rng(s) >> 11) + 0.5) / 9007199254740992.0;
  return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Rows spread along known orthogonal axes with variances 16, 4, 1 (plus tiny noise): PCA must
 * recover those variances, axes and projections, by the eigensolver (d=8) and subspace iteration (d=80). */
static void pca_known(int d) {
  const size_t n = 2000;
  uint64_t s = 12345;
  float *x = calloc(n * d, sizeof *x), *out = malloc(n * 3 * sizeof *out), var[3];
  double *coef = malloc(n * 3 * sizeof *coef);
  const double sd[3] = {4, 2, 1};
  /* axes: e0+e1 / sqrt2, e0-e1 / sqrt2, e2 */
  for (size_t i = 0; i < n; i++) {
    double c[3];
    for (int a = 0; a < 3; a++) c[a] = coef[i * 3 + a] = sd[a] * gauss(&s);
    x[i * d + 0] = (float)((c[0] + c[1]) / sqrt(2)) + 7;
    x[i * d + 1] = (float)((c[0] - c[1]) / sqrt(2)) - 3;
    x[i * d + 2] = (float)c[2];
    for (int j = 3; j < d; j++) x[i * d + j] = (float)(0.01 * gauss(&s));
  }
  assert_int_equal(lk_map_pca(x, n, d, 3, 7, out, var, NULL), 0);
  assert_true(var[0] > 13 && var[0] < 19);
  assert_true(var[1] > 3.3 && var[1] < 4.8);
  assert_true(var[2] > 0.8 && var[2] < 1.2);
  for (int a = 0; a < 3; a++) { /* |corr(projection, true coefficient)| ~ 1 */
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
      sxy += out[i * 3 + a] * coef[i * 3 + a];
      sxx += out[i * 3 + a] * out[i * 3 + a];
      syy += coef[i * 3 + a] * coef[i * 3 + a];
    }
    assert_true(fabs(sxy / sqrt(sxx * syy)) > 0.99); /* sampling mixes the axes a little */
  }
  free(x);
  free(out);
  free(coef);
}

static void test_pca_small(void **state) { (void)state; pca_known(8); }
static void test_pca_large(void **state) { (void)state; pca_known(80); }

static void test_pca_bad_args(void **state) {
  (void)state;
  float x[4] = {0}, out[4];
  assert_int_equal(lk_map_pca(x, 2, 2, 3, 0, out, NULL, NULL), LK_EINVAL);
  assert_int_equal(lk_map_pca(NULL, 2, 2, 1, 0, out, NULL, NULL), LK_EINVAL);
  assert_int_equal(lk_map_pca(x, 0, 2, 1, 0, out, NULL, NULL), LK_EINVAL);
}

static void test_knn(void **state) {
  (void)state;
  float x[6] = {0, 1, 3, 7, 15, 31}; /* 1-d points */
  int32_t nn[12];
  float dist[12];
  assert_int_equal(lk_map_knn(x, 6, 1, NULL, 6, 2, nn, dist, NULL), 0);
  assert_int_equal(nn[0], 1); assert_int_equal(nn[1], 2);   /* of 0: 1, 3 */
  assert_true(dist[0] == 1 && dist[1] == 9);
  assert_int_equal(nn[3 * 2], 2); assert_int_equal(nn[3 * 2 + 1], 1); /* of 7: 3, 1 */
  size_t q[1] = {5};
  assert_int_equal(lk_map_knn(x, 6, 1, q, 1, 2, nn, NULL, NULL), 0);
  assert_int_equal(nn[0], 4); assert_int_equal(nn[1], 3);
  assert_int_equal(lk_map_knn(x, 6, 1, NULL, 6, 6, nn, NULL, NULL), LK_EINVAL);
}

/* 3 clusters of 100 points in 20-d. */
static float *clusters(int *labels) {
  const int n = 300, d = 20;
  float *x = malloc((size_t)n * d * sizeof *x);
  uint64_t s = 99;
  for (int i = 0; i < n; i++) {
    int c = i % 3;
    labels[i] = c;
    for (int j = 0; j < d; j++) x[i * d + j] = (float)((j == c * 5 ? 10 : 0) + gauss(&s));
  }
  return x;
}

static void test_tsne_clusters(void **state) {
  (void)state;
  int labels[300];
  float *x = clusters(labels), *y = malloc(600 * sizeof *y);
  lk_tsne_opts o;
  lk_tsne_opts_default(&o);
  o.iters = 500;
  assert_int_equal(lk_tsne_run(x, 300, 20, &o, y, NULL), 0);
  for (int i = 0; i < 600; i++) assert_true(isfinite(y[i]));
  double share_2d, share_hd;
  assert_int_equal(lk_map_neighbour_agreement(y, 300, 2, labels, NULL, 0, 10, &share_2d, NULL), 0);
  assert_int_equal(lk_map_neighbour_agreement(x, 300, 20, labels, NULL, 0, 10, &share_hd, NULL), 0);
  assert_true(share_hd > 0.95);
  assert_true(share_2d > 0.95);
  free(x);
  free(y);
}

static void test_tsne_deterministic(void **state) {
  (void)state;
  int labels[300];
  float *x = clusters(labels), *a = malloc(600 * sizeof *a), *b = malloc(600 * sizeof *b);
  lk_tsne_opts o;
  lk_tsne_opts_default(&o);
  o.iters = 300;
  o.seed = 5;
  assert_int_equal(lk_tsne_run(x, 300, 20, &o, a, NULL), 0);
  assert_int_equal(lk_tsne_run(x, 300, 20, &o, b, NULL), 0);
  assert_memory_equal(a, b, 600 * sizeof *a);
  o.threads = 1; /* the thread count does not change the result */
  assert_int_equal(lk_tsne_run(x, 300, 20, &o, b, NULL), 0);
  assert_memory_equal(a, b, 600 * sizeof *a);
  o.threads = 3;
  assert_int_equal(lk_tsne_run(x, 300, 20, &o, b, NULL), 0);
  assert_memory_equal(a, b, 600 * sizeof *a);
  o.threads = 0;
  o.seed = 6;
  assert_int_equal(lk_tsne_run(x, 300, 20, &o, b, NULL), 0);
  assert_memory_not_equal(a, b, 600 * sizeof *a);
  /* tiny inputs */
  float two[4] = {0, 0, 1, 1}, y2[4];
  o.iters = 50;
  assert_int_equal(lk_tsne_run(two, 2, 2, &o, y2, NULL), 0);
  assert_int_equal(lk_tsne_run(two, 1, 2, &o, y2, NULL), LK_EINVAL);
  free(x);
  free(a);
  free(b);
}

static void test_store_roundtrip(void **state) {
  (void)state;
  char *dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", dir);
  lk_catalog *c = NULL;
  assert_int_equal(lk_catalog_open(db, LK_CATALOG_CREATE, &c, NULL), 0);
  lk_map_layout got;
  assert_int_equal(lk_map_store_load(c, &got, NULL), LK_ENOTFOUND);
  int64_t ids[3] = {5, 17, 90210};
  float xy[6] = {1.5f, -2.25f, 0, 3.125f, -7.5f, 1e-3f};
  lk_map_layout l = {.n = 3, .ids = ids, .xy = xy, .recipe_id = "abcdef0123456789", .perplexity = 30, .iters = 1000, .seed = 4};
  lk_map_ids_sha256(ids, 3, l.ids_sha256);
  assert_int_equal(lk_map_store_save(c, &l, NULL), 0);
  lk_catalog_close(c);
  assert_int_equal(lk_catalog_open(db, LK_CATALOG_READONLY, &c, NULL), 0);
  assert_int_equal(lk_map_store_load(c, &got, NULL), 0);
  lk_catalog_close(c);
  assert_int_equal(got.n, 3);
  assert_memory_equal(got.ids, ids, sizeof ids);
  for (int i = 0; i < 6; i++) assert_true(fabsf(got.xy[i] - xy[i]) < 1e-6f);
  assert_string_equal(got.recipe_id, l.recipe_id);
  assert_int_equal(got.iters, 1000);
  assert_true(got.seed == 4 && got.perplexity == 30);
  /* still valid for the same catalog; invalid when the recipe, count or ids change */
  assert_true(lk_map_layout_matches(&got, "abcdef0123456789", ids, 3));
  assert_false(lk_map_layout_matches(&got, "abcdef012345678a", ids, 3));
  assert_false(lk_map_layout_matches(&got, "abcdef0123456789", ids, 2));
  int64_t other[3] = {5, 18, 90210};
  assert_false(lk_map_layout_matches(&got, "abcdef0123456789", other, 3));
  lk_map_layout_free(&got);
  lk_map_layout_free(&got); /* twice is harmless */
  lk_test_rmtree(dir);
  free(dir);
}

static void test_store_corrupt(void **state) {
  (void)state;
  static const char *const bad[] = {
      "not json",
      "{}",
      "{\"version\":2,\"recipe_id\":\"a\",\"count\":0,\"ids_sha256\":\"" "0123456789012345678901234567890123456789012345678901234567890123\","
      "\"perplexity\":30,\"iters\":1,\"seed\":0,\"ids\":[],\"xy\":[]}",
      "{\"version\":1,\"recipe_id\":\"a\",\"count\":2,\"ids_sha256\":\"" "0123456789012345678901234567890123456789012345678901234567890123\","
      "\"perplexity\":30,\"iters\":1,\"seed\":0,\"ids\":[1],\"xy\":[0,0]}",
      "{\"version\":1,\"recipe_id\":\"a\",\"count\":2,\"ids_sha256\":\"" "0123456789012345678901234567890123456789012345678901234567890123\","
      "\"perplexity\":30,\"iters\":1,\"seed\":0,\"ids\":[2,1],\"xy\":[0,0,1,1]}",
      "{\"version\":1,\"recipe_id\":\"a\",\"count\":1,\"ids_sha256\":\"" "0123456789012345678901234567890123456789012345678901234567890123\","
      "\"perplexity\":30,\"iters\":1,\"seed\":0,\"ids\":[1],\"xy\":[0,\"x\"]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    lk_map_layout l;
    int rc = lk_map_layout_from_json(bad[i], &l, NULL);
    assert_true(rc == LK_ECORRUPT || rc == LK_EMISMATCH);
    assert_null(l.ids);
  }
  lk_map_layout ok;
  assert_int_equal(lk_map_layout_from_json(
                       "{\"version\":1,\"recipe_id\":\"a\",\"count\":0,\"ids_sha256\":\""
                       "0123456789012345678901234567890123456789012345678901234567890123\","
                       "\"perplexity\":30,\"iters\":1,\"seed\":0,\"ids\":[],\"xy\":[]}",
                       &ok, NULL),
                   0);
  assert_int_equal(ok.n, 0);
  lk_map_layout_free(&ok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pca_small),
      cmocka_unit_test(test_pca_large),
      cmocka_unit_test(test_pca_bad_args),
      cmocka_unit_test(test_knn),
      cmocka_unit_test(test_tsne_clusters),
      cmocka_unit_test(test_tsne_deterministic),
      cmocka_unit_test(test_store_roundtrip),
      cmocka_unit_test(test_store_corrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
