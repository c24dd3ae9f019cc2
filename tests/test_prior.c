/* tests/test_prior.c — the label prior (search/prior.h): posteriors and widened vectors checked
 * by hand, classifier heads through the recipe JSON (ids stable, bad input refused), and the
 * engine ranking with a prior: the label the photo most likely shows wins a close call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "embed/projection.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "search/prior.h"
#include "testutil.h"

/* A 2 -> 2 identity projection with one head over 2 classes whose vectors are the axes. */
static lk_projection *toy_projection(float prior) {
  int dims[2] = {2, 2};
  lk_projection *p = NULL;
  assert_int_equal(lk_projection_new(1, dims, &p, NULL), 0);
  p->layer[0].w[0] = 1;
  p->layer[0].w[3] = 1;
  const char *names[2] = {"Shirts", "Shoes"};
  float w[4] = {1, 0, 0, 1}; /* K x C: column 0 = (1,0), column 1 = (0,1) */
  assert_int_equal(lk_projection_add_head(p, "articleType", 2, names, w, 2.0f, prior, NULL), 0);
  return p;
}

static void test_posterior_and_rows(void **state) {
  (void)state;
  lk_projection *p = toy_projection(0.5f);
  float y[2] = {3, 0}, prob[2]; /* not unit: the posterior uses the cosine */
  lk_projection_posterior(p, 0, y, prob);
  double e2 = exp(2.0);
  assert_float_equal(prob[0], e2 / (e2 + 1), 1e-6);
  assert_float_equal(prob[1], 1 / (e2 + 1), 1e-6);
  lk_prior *pr = NULL;
  assert_int_equal(lk_prior_new(p, -1, &pr, NULL), 0);
  assert_non_null(pr);
  assert_int_equal(lk_prior_nheads(pr), 1);
  assert_int_equal(lk_prior_extra(pr), 2);
  assert_string_equal(lk_prior_field(pr, 0), "articleType");
  assert_int_equal(lk_prior_class(pr, 0, "shoes"), 1); /* case-insensitive */
  assert_int_equal(lk_prior_class(pr, 0, "SHIRTS"), 0);
  assert_int_equal(lk_prior_class(pr, 0, "Sandals"), -1);
  assert_int_equal(lk_prior_class(pr, 0, NULL), -1);
  /* dot(query row, gallery row) = cosine + w * p(label of the item | query) */
  float q[2] = {0.6f, 0.8f}, g[2] = {0.8f, 0.6f}, qw[4], gw[4];
  int cls = 0;
  lk_prior_query(pr, q, 2, qw);
  lk_prior_gallery(pr, g, 2, &cls, gw);
  float pq[2];
  lk_projection_posterior(p, 0, q, pq);
  double dot = 0;
  for (int i = 0; i < 4; i++) dot += (double)qw[i] * gw[i];
  assert_float_equal(dot, 0.6 * 0.8 + 0.8 * 0.6 + 0.5 * pq[0], 1e-6);
  /* The ranking score: the cosine distance shrunk by the bonus. */
  assert_float_equal(lk_prior_score(pr, qw, gw, 2), 1 - (1 - 0.96) * (1 - 0.5 * pq[0]), 1e-6);
  /* No label: the cosine alone. */
  cls = -1;
  lk_prior_gallery(pr, g, 2, &cls, gw);
  assert_float_equal(gw[2], 0, 0);
  assert_float_equal(gw[3], 0, 0);
  lk_prior_free(pr);
  /* Weight 0 = no prior; a weight given overrides the stored one. */
  assert_int_equal(lk_prior_new(p, 0, &pr, NULL), 0);
  assert_null(pr);
  assert_int_equal(lk_prior_new(p, 2.0f, &pr, NULL), 0);
  cls = 1;
  lk_prior_gallery(pr, g, 2, &cls, gw);
  assert_float_equal(gw[3], sqrt(2.0), 1e-6);
  lk_prior_free(pr);
  lk_projection_free(p);
  /* A stored prior of 0 is off unless a weight is given. */
  p = toy_projection(0);
  assert_int_equal(lk_prior_new(p, -1, &pr, NULL), 0);
  assert_null(pr);
  lk_projection_free(p);
  lk_prior_free(NULL);
}

static void test_heads_json(void **state) {
  (void)state;
  lk_recipe base, r, back, cp;
  lk_recipe_preset("mnv2-avg+color", &base, NULL);
  assert_int_equal(lk_recipe_copy(&r, &base), 0);
  lk_recipe_set_projection(&r, toy_projection(0.5f));
  char *js = lk_recipe_to_json(&r);
  assert_non_null(strstr(js, "\"heads\":[{\"classes\":[\"Shirts\",\"Shoes\"]"));
  assert_int_equal(lk_recipe_from_json(js, &back, NULL), 0);
  assert_int_equal(back.proj->nheads, 1);
  assert_string_equal(back.proj->head[0].classes[1], "Shoes");
  assert_float_equal(back.proj->head[0].prior, 0.5, 0);
  char *js2 = lk_recipe_to_json(&back);
  assert_string_equal(js, js2); /* parse -> write is exact, so the id is stable */
  assert_int_equal(lk_recipe_copy(&cp, &back), 0);
  char a[17], b[17];
  lk_recipe_id(&r, a);
  lk_recipe_id(&cp, b);
  assert_string_equal(a, b);
  /* Bad heads are refused before anything is allocated for them. */
  struct {
    const char *from, *to;
  } bad[] = {
      {"[\"Shirts\",\"Shoes\"]", "[\"Shirts\"]"},       /* w too big for 1 class */
      {"[\"Shirts\",\"Shoes\"]", "[\"Shirts\",7]"},     /* not a name */
      {"\"field\":\"articleType\"", "\"field\":3"},
      {"\"scale\":2.0", "\"scale\":-1"},
      {"\"prior\":0.5", "\"prior\":1e9"},
      {"\"heads\":[", "\"heads\":{\"x\":["},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *at = strstr(js, bad[i].from);
    assert_non_null(at);
    size_t n = strlen(js) + 64;
    char *buf = malloc(n);
    snprintf(buf, n, "%.*s%s%s", (int)(at - js), js, bad[i].to, at + strlen(bad[i].from));
    lk_recipe x;
    lk_errbuf eb = {0};
    assert_int_equal(lk_recipe_from_json(buf, &x, &eb), LK_ECORRUPT);
    assert_null(x.proj);
    free(buf);
  }
  free(js);
  free(js2);
  lk_recipe_clear(&r);
  lk_recipe_clear(&back);
  lk_recipe_clear(&cp);
}

/* A catalog whose recipe carries the toy projection: 4 items in 2-d. */
static void make_catalog(const char *path, float prior) {
  lk_catalog *c = NULL;
  assert_int_equal(lk_catalog_open(path, LK_CATALOG_CREATE, &c, NULL), 0);
  assert_int_equal(lk_catalog_begin(c), 0);
  struct {
    int64_t id;
    const char *type, *gender;
    float v[2];
  } rows[] = {
      {1, "Shirts", "Men", {0.93f, 0.3676f}},  /* cos to (1,0): 0.93, a shirt */
      {2, "shoes", "Men", {0.95f, 0.312f}},    /* cos 0.95, but shoes (label in another case) */
      {3, "Shirts", "Women", {0.80f, 0.60f}},  /* cos 0.80 */
      {4, "Sandals", "Men", {0.99f, 0.141f}},  /* cos 0.99, a label the head does not know */
  };
  for (size_t i = 0; i < 4; i++) {
    lk_item it = {.id = rows[i].id, .status = "ok"};
    it.field[0] = (char *)rows[i].gender;
    it.field[3] = (char *)rows[i].type;
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, rows[i].id, rows[i].v, 2), 0);
  }
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  lk_recipe_set_projection(&r, toy_projection(prior));
  char *js = lk_recipe_to_json(&r);
  assert_int_equal(lk_catalog_set_meta(c, "recipe", js), 0);
  free(js);
  lk_recipe_clear(&r);
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
}

static void search(const char *db, float prior, const lk_filter *f, int64_t *ids, float *scores) {
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.prior = prior;
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  int rc = lk_engine_open(db, &o, &e, &eb);
  if (rc) fprintf(stderr, "%s\n", lk_err_msg(&eb));
  assert_int_equal(rc, 0);
  assert_int_equal(lk_engine_dim(e), 2);
  assert_int_equal(lk_engine_query_dim(e), lk_engine_prior(e) ? 4 : 2);
  float q[2] = {1, 0};
  lk_hit hits[4];
  int n = 0;
  assert_int_equal(lk_engine_search_vector(e, q, f, 4, -1, hits, &n, &eb), 0);
  for (int i = 0; i < 4; i++) ids[i] = i < n ? hits[i].id : -1, scores[i] = i < n ? hits[i].score : 0;
  /* An item's own vector is the first lk_engine_dim floats of its row. */
  const float *v = lk_engine_vector(e, 2);
  assert_float_equal(v[0], 0.95f, 0);
  lk_engine_close(e);
}

static void test_engine_prior(void **state) {
  (void)state;
  char *dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", dir);
  char path[512];
  snprintf(path, sizeof path, "%s", db);
  make_catalog(path, 0.5f);
  int64_t ids[4];
  float sc[4];
  /* No prior: cosine order 4 (0.99), 2 (0.95), 1 (0.93), 3 (0.80). */
  search(path, 0, NULL, ids, sc);
  int64_t plain[4] = {4, 2, 1, 3};
  assert_memory_equal(ids, plain, sizeof plain);
  /* As tuned (0.5): the query (1,0) is a shirt with p = e^2/(e^2+1) = 0.881, so a shirt's
   * distance 1 - cos shrinks by 1 - 0.5 * 0.881 and the shoes' by 1 - 0.5 * 0.119; the
   * sandals (a label the head does not know) keep theirs: 4 (0.990) stays first, as a
   * near-identical photo should, then the shirt 1 (0.961) passes the shoes 2 (0.953), and 3
   * (0.888). */
  search(path, -1, NULL, ids, sc);
  int64_t prior[4] = {4, 1, 2, 3};
  assert_memory_equal(ids, prior, sizeof prior);
  double ps = exp(2.0) / (exp(2.0) + 1);
  assert_float_equal(sc[0], 0.99, 1e-5);
  assert_float_equal(sc[1], 1 - 0.07 * (1 - 0.5 * ps), 1e-5);
  assert_float_equal(sc[2], 1 - 0.05 * (1 - 0.5 * (1 - ps)), 1e-5);
  assert_float_equal(sc[3], 1 - 0.20 * (1 - 0.5 * ps), 1e-5);
  /* Filters still apply inside the search. */
  lk_filter f = {0};
  assert_int_equal(lk_filter_add(&f, "gender=Men", NULL), 0);
  search(path, -1, &f, ids, sc);
  int64_t men[4] = {4, 1, 2, -1};
  assert_memory_equal(ids, men, sizeof men);
  lk_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posterior_and_rows),
      cmocka_unit_test(test_heads_json),
      cmocka_unit_test(test_engine_prior),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
