/* tests/test_eval.c — retrieval metrics on hand-checked examples, and leave-one-out on a tiny
 * catalog whose answers are worked out by hand in the comments. */
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
#include "embed/recipe.h"
#include "eval/eval.h"
#include "search/engine.h"
#include "testutil.h"

static void test_precision(void **state) {
  int rel[10] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  assert_float_equal(lk_eval_precision_at(rel, 10, 1), 1.0, 1e-12);
  assert_float_equal(lk_eval_precision_at(rel, 10, 10), 0.4, 1e-12);
  assert_float_equal(lk_eval_precision_at(rel, 3, 10), 0.2, 1e-12); /* fewer hits than k */
}

static void test_ap(void **state) {
  int rel[10] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
  /* precisions at the relevant ranks: 1/1, 2/3, 3/4, 4/10; R = 4 -> (1 + .6667 + .75 + .4)/4 */
  assert_float_equal(lk_eval_ap_at(rel, 10, 10, 4), (1.0 + 2.0 / 3 + 0.75 + 0.4) / 4, 1e-12);
  /* R = 20 > k: normalised by k = 10 */
  assert_float_equal(lk_eval_ap_at(rel, 10, 10, 20), (1.0 + 2.0 / 3 + 0.75 + 0.4) / 10, 1e-12);
  int none[3] = {0, 0, 0};
  assert_float_equal(lk_eval_ap_at(none, 3, 10, 5), 0.0, 1e-12);
  assert_float_equal(lk_eval_ap_at(rel, 10, 10, 0), 0.0, 1e-12);
}

/* Six items on the unit circle (2-d vectors at the given angles, degrees):
 *   1: 0 deg  Shirts    2: 10 deg Shirts    3: 20 deg Jeans
 *   4: 180    Jeans     5: 190    Jeans     6: 10 deg Shirts, byte-identical to item 2
 * Leave-one-out, field articleType, k=10 (all 5 others ranked):
 *   q1: ranking 2|6(tie 10deg) ,3, 5?, ... -> neighbours by angle: 2 (10), 6 (10), 3 (20), 5 (170
 *       away -> 190), 4 (180). Relevant (Shirts, R=2): 2, 6 -> ranks 1,2: P@1=1, AP=1.
 *   q2: 6 excluded (duplicate); order 1 (10), 3 (10), ... ties broken by smaller id: 1, 3, 5?, 4:
 *       angle from 10: item1 10, item3 10, item5 180, item4 170 -> 1,3,4,5. Relevant Shirts, R=1
 *       (item 1; item 6 is its duplicate and excluded): P@1=1, AP=1.
 *   q6: symmetric to q2 with 2 excluded: 1,3,4,5; P@1=1, AP=1.
 *   q3: 20 deg: 2 (10), 6 (10), 1 (20), 5 (170), 4 (160) -> 2,6,1,4,5. Relevant Jeans, R=2
 *       (4,5) at ranks 4,5: P@1=0, AP=(1/4+2/5)/2=0.325.
 *   q4: 180: 5 (10), 3 (160), 2 (170), 6 (170), 1 (180) -> 5,3,... R=2 (3,5): ranks 1,2: AP=1.
 *   q5: 190: 4 (10), 3 (170), 2/6 (180), 1 (170) -> 4, then 1 and 3 tie at 170 -> 1,3: ranks
 *       4 (10deg), 1 (170), 3 (170) => 4,1,3,2,6. Relevant Jeans (3,4): ranks 1 and 3:
 *       P@1=1, AP=(1 + 2/3)/2.
 * P@1 mean = (1+1+1+0+1+1)/6 = 5/6. mAP@10 mean = (1+1+1+0.325+1+0.8333)/6. */
static void test_loo_tiny(void **state) {
  char *dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", dir);
  lk_catalog *c;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(db, LK_CATALOG_CREATE, &c, &eb), 0);
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  char *js = lk_recipe_to_json(&r);
  assert_int_equal(lk_catalog_set_meta(c, "recipe", js), 0);
  free(js);
  struct { int id; double deg; const char *type; const char *hash; } items[] = {
      {1, 0, "Shirts", "h1"}, {2, 10, "Shirts", "h2"}, {3, 20, "Jeans", "h3"},
      {4, 180, "Jeans", "h4"}, {5, 190, "Jeans", "h5"}, {6, 10, "Shirts", "h2"}};
  for (int i = 0; i < 6; i++) {
    lk_item it = {0};
    it.id = items[i].id;
    it.path = "x.jpg";
    it.hash = (char *)items[i].hash;
    it.status = "ok";
    it.field[3] = (char *)items[i].type;
    it.field[0] = i % 2 ? "Men" : "Women";
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    float v[2] = {(float)cos(items[i].deg * M_PI / 180), (float)sin(items[i].deg * M_PI / 180)};
    assert_int_equal(lk_catalog_put_vector(c, it.id, v, 2), 0);
  }
  lk_catalog_close(c);
  lk_engine *e;
  assert_int_equal(lk_engine_open(db, NULL, &e, &eb), 0);
  lk_eval_result *res = calloc(1, sizeof *res);
  int fields[1] = {3};
  assert_int_equal(lk_eval_loo(e, fields, 1, 0, 1, res, &eb), 0);
  assert_int_equal(res->m[0].queries, 6);
  assert_float_equal(res->m[0].p1, 5.0 / 6, 1e-9);
  assert_float_equal(res->m[0].map10, (1 + 1 + 1 + 0.325 + 1 + (1 + 2.0 / 3) / 2) / 6, 1e-6);
  /* Worst articleType first: Jeans (q3,q4,q5) P@10 = (2+2+2)/10/3 = 0.2; Shirts: q1 2/10, q2 1/10, q6 1/10 */
  assert_int_equal(res->ngroups, 2);
  assert_string_equal(res->groups[0].value, "Shirts");
  assert_float_equal(res->groups[0].p10, (0.2 + 0.1 + 0.1) / 3, 1e-9);
  assert_float_equal(res->groups[1].p10, 0.2, 1e-9);
  free(res);
  lk_engine_close(e);
  lk_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_precision),
      cmocka_unit_test(test_ap),
      cmocka_unit_test(test_loo_tiny),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
