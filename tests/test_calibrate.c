/* tests/test_calibrate.c — match strength (search/calibrate.h) and its fitting primitive
 * (util/isotonic.h): isotonic regression against hand-worked answers, fits on known score
 * distributions (monotone, bounded, the labels in order), the stored JSON's round trip and its
 * refusals. The catalog-level checks (a photo finds itself as "same product", noise is weak)
 * are in tests/server.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/calibrate.h"
#include "util/isotonic.h"
#include "util/rng.h"

static void test_isotonic_known(void **state) {
  (void)state;
  double y[] = {1, 3, 2, 4}, fit[4];
  assert_int_equal(lk_isotonic_fit(y, NULL, 4, fit), 0);
  double want[] = {1, 2.5, 2.5, 4};
  for (int i = 0; i < 4; i++) assert_float_equal(fit[i], want[i], 1e-12);
  double y2[] = {5, 4, 3, 2, 1}, w2[] = {1, 1, 1, 1, 4}, f2[5];
  assert_int_equal(lk_isotonic_fit(y2, w2, 5, f2), 0); /* all pooled: the weighted mean */
  for (int i = 0; i < 5; i++) assert_float_equal(f2[i], (5 + 4 + 3 + 2 + 4.0) / 8, 1e-12);
  double y3[] = {0, 1, 0, 1, 1}; /* in place */
  assert_int_equal(lk_isotonic_fit(y3, NULL, 5, y3), 0);
  double want3[] = {0, 0.5, 0.5, 1, 1};
  for (int i = 0; i < 5; i++) assert_float_equal(y3[i], want3[i], 1e-12);
  assert_int_equal(lk_isotonic_fit(y3, NULL, 0, y3), 0);
  double bad[] = {1, NAN};
  assert_int_equal(lk_isotonic_fit(bad, NULL, 2, bad), LK_EINVAL);
  double wneg[] = {1, 0};
  assert_int_equal(lk_isotonic_fit(y, wneg, 2, fit), LK_EINVAL);
}

static void test_isotonic_random(void **state) {
  (void)state;
  uint64_t rng = 42;
  enum { N = 2000 };
  static double y[N], fit[N];
  for (int i = 0; i < N; i++) y[i] = lk_rng_unit(&rng) < (double)i / N; /* rising probability */
  assert_int_equal(lk_isotonic_fit(y, NULL, N, fit), 0);
  double sy = 0, sf = 0;
  for (int i = 0; i < N; i++) {
    assert_true(fit[i] >= 0 && fit[i] <= 1);
    if (i) assert_true(fit[i] >= fit[i - 1]);
    sy += y[i];
    sf += fit[i];
  }
  assert_float_equal(sy, sf, 1e-6); /* PAV keeps the mean */
  assert_true(fit[N / 10] < 0.25 && fit[N - N / 10] > 0.75);
}

/* Known distributions: other kind U(0.3, 0.8), same kind U(0.7, 0.95), same product U(0.93, 1). */
static void fit_known(lk_calibration *c) {
  enum { N = 3000 };
  static float s[N];
  static uint8_t cls[N];
  uint64_t rng = 7;
  for (int i = 0; i < N; i++) {
    cls[i] = (uint8_t)(i % 3);
    float u = lk_rng_unit(&rng);
    s[i] = cls[i] == LK_CAL_OTHER ? 0.3f + 0.5f * u : cls[i] == LK_CAL_KIND ? 0.7f + 0.25f * u : 0.93f + 0.07f * u;
  }
  lk_errbuf eb = {0};
  assert_int_equal(lk_calibration_fit(s, cls, N, "0123456789abcdef", c, &eb), 0);
}

static void test_fit_known(void **state) {
  (void)state;
  lk_calibration c;
  fit_known(&c);
  assert_true(c.n >= 2 && c.n <= LK_CAL_MAX_POINTS);
  assert_int_equal(c.pairs_other + c.pairs_kind + c.pairs_product, 3000);
  assert_string_equal(c.recipe_id, "0123456789abcdef");
  for (int i = 0; i < c.n; i++) {
    assert_true(c.p_kind[i] >= 0 && c.p_kind[i] <= 1 && c.p_product[i] >= 0 && c.p_product[i] <= 1);
    if (i) assert_true(c.score[i] > c.score[i - 1] && c.p_kind[i] >= c.p_kind[i - 1] && c.p_product[i] >= c.p_product[i - 1]);
  }
  /* the curves and the labels rise with the score, everywhere, NaN and the far ends included */
  lk_match prev = {0}, m;
  for (float x = -2; x <= 2; x += 0.001f) {
    lk_calibration_match(&c, x, &m);
    assert_true(m.p_kind >= prev.p_kind - 1e-6f && m.p_product >= prev.p_product - 1e-6f && m.label >= prev.label);
    prev = m;
  }
  lk_calibration_match(&c, NAN, &m);
  assert_int_equal(m.label, LK_MATCH_NONE);
  /* where the distributions do not overlap the answers are certain */
  lk_calibration_match(&c, 0.4f, &m);
  assert_int_equal(m.label, LK_MATCH_NONE);
  assert_float_equal(m.p_kind, 0, 1e-6);
  lk_calibration_match(&c, 0.85f, &m);
  assert_true(m.label == LK_MATCH_SIMILAR && m.p_kind > 0.99f && m.p_product < 0.01f);
  lk_calibration_match(&c, 0.98f, &m);
  assert_int_equal(m.label, LK_MATCH_PRODUCT);
  /* in the overlap of other (0.3-0.8) and same kind (0.7-0.95) p_kind is about 2/3 (twice the
   * kind pairs there: same kind and same product both count), so "same kind" */
  lk_calibration_match(&c, 0.75f, &m);
  assert_true(m.p_kind > 0.45f && m.p_kind < 0.85f);
  /* the weak score: just where "same kind" starts */
  float t = lk_calibration_weak_score(&c);
  lk_calibration_match(&c, t, &m);
  assert_true(m.label >= LK_MATCH_KIND);
  lk_calibration_match(&c, t - 1e-3f, &m);
  assert_true(m.label < LK_MATCH_KIND);
  assert_true(t > 0.65f && t < 0.8f);
  assert_string_equal(lk_match_label_name(LK_MATCH_PRODUCT), "same product");
  assert_string_equal(lk_match_label_name(LK_MATCH_NONE), "no close match");
  assert_string_equal(lk_match_label_name(99), "no close match");
}

static void test_fit_refusals(void **state) {
  (void)state;
  float s[] = {0.5f, 0.6f, 0.7f};
  uint8_t only_kind[] = {1, 1, 2}, bad_cls[] = {0, 1, 7};
  lk_calibration c;
  lk_errbuf eb = {0};
  assert_int_equal(lk_calibration_fit(s, only_kind, 3, "x", &c, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "other-kind"));
  assert_int_equal(lk_calibration_fit(s, bad_cls, 3, "x", &c, &eb), LK_EINVAL);
  float nan_s[] = {0.5f, NAN, 0.7f};
  uint8_t ok[] = {0, 1, 2};
  assert_int_equal(lk_calibration_fit(nan_s, ok, 3, "x", &c, &eb), LK_EINVAL);
  assert_int_equal(lk_calibration_fit(s, ok, 3, "x", &c, &eb), 0); /* one of each is enough */
  assert_true(c.n == 3);
}

/* The flags: search hits (LK_CAL_KIND_FIT: same kind 80% of the time at every score in 0.5..1)
 * set p_kind alone, best-of-each-kind pairs (LK_CAL_PRODUCT_FIT: 50%, in 0.5..0.9) p_product
 * alone; unflagged product (0.93..1) and junk (0.2..0.3) pairs count in both. Counted in
 * both fits, the 50% pairs would pull p_kind to ~0.65 and the hits near 1 p_product to ~0.3. */
static void test_fit_flags(void **state) {
  (void)state;
  enum { N = 6000 };
  static float s[N];
  static uint8_t cls[N];
  uint64_t rng = 11;
  for (int i = 0; i < N; i++) {
    float u = lk_rng_unit(&rng), v = lk_rng_unit(&rng);
    switch (i % 6) {
      case 0: case 1: case 2: s[i] = 0.5f + 0.5f * u; cls[i] = (v < 0.8f ? LK_CAL_KIND : LK_CAL_OTHER) | LK_CAL_KIND_FIT; break;
      case 3: case 4: s[i] = 0.5f + 0.4f * u; cls[i] = (v < 0.5f ? LK_CAL_KIND : LK_CAL_OTHER) | LK_CAL_PRODUCT_FIT; break;
      default: s[i] = v < 0.5f ? 0.93f + 0.07f * u : 0.2f + 0.1f * u; cls[i] = v < 0.5f ? LK_CAL_PRODUCT : LK_CAL_OTHER;
    }
  }
  lk_calibration c;
  lk_errbuf eb = {0};
  assert_int_equal(lk_calibration_fit(s, cls, N, "x", &c, &eb), 0);
  double sum = 0;
  lk_match m;
  for (int j = 0; j <= 20; j++) {
    lk_calibration_match(&c, 0.6f + 0.01f * (float)j, &m);
    sum += m.p_kind;
  }
  assert_true(fabs(sum / 21 - 0.8) < 0.05);
  lk_calibration_match(&c, 0.97f, &m);
  assert_true(m.p_product > 0.95f);
  lk_calibration_match(&c, 0.7f, &m);
  assert_true(m.p_product < 0.02f);
  for (int i = 0; i < N; i++) /* no same-kind pair left for p_product: refused, saying so */
    if ((cls[i] & LK_CAL_CLASS) == LK_CAL_KIND) cls[i] = LK_CAL_KIND | LK_CAL_KIND_FIT;
  assert_int_equal(lk_calibration_fit(s, cls, N, "x", &c, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "no same-kind pairs to fit p_same_product"));
}

/* Regression: scores closer than the stored precision (a colour-only recipe's near-identical
 * catalog) made points that read back out of order, and `check` called the catalog damaged. */
static void test_close_scores_round_trip(void **state) {
  (void)state;
  enum { N = 300 };
  float s[N];
  uint8_t cls[N];
  for (int i = 0; i < N; i++) {
    s[i] = 0.9f + (float)i * 2e-8f; /* all within 6e-6 */
    cls[i] = (uint8_t)(i % 3);
  }
  s[0] = 0.5f;
  lk_calibration c, back;
  lk_errbuf eb = {0};
  assert_int_equal(lk_calibration_fit(s, cls, N, "x", &c, &eb), 0);
  char *js = NULL;
  assert_int_equal(lk_calibration_to_json(&c, &js, &eb), 0);
  int rc = lk_calibration_from_json(js, &back, &eb);
  if (rc) fail_msg("%s: %s", eb.msg, js);
  free(js);
  assert_int_equal(back.n, c.n);
}

static void test_json(void **state) {
  (void)state;
  lk_calibration c, back;
  fit_known(&c);
  c.items = 28147; /* the searchable items it was fitted at (lk_calibration_still_fits) */
  char *js = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_calibration_to_json(&c, &js, &eb), 0);
  assert_int_equal(lk_calibration_from_json(js, &back, &eb), 0);
  free(js);
  assert_int_equal(back.items, 28147);
  assert_true(lk_calibration_same(&back, &c));
  assert_false(lk_calibration_same(&back, NULL));
  assert_true(lk_calibration_same(NULL, NULL));
  assert_int_equal(back.n, c.n);
  assert_string_equal(back.recipe_id, c.recipe_id);
  assert_int_equal(back.pairs_kind, c.pairs_kind);
  for (int i = 0; i < c.n; i++) {
    assert_float_equal(back.score[i], c.score[i], 1e-6);
    assert_float_equal(back.p_kind[i], c.p_kind[i], 1e-6);
    assert_float_equal(back.p_product[i], c.p_product[i], 1e-6);
  }
  lk_calibration old, moved = back;
  moved.p_kind[0] += 0.25f;
  assert_false(lk_calibration_same(&moved, &c));
  assert_int_equal(lk_calibration_from_json("{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,"
                                            "\"same_kind\":1,\"other_kind\":1},\"points\":[[0,0,0]]}", &old, &eb), 0);
  assert_int_equal(old.items, 0); /* older calibrations: not recorded */
  static const struct {
    const char *text, *says;
  } bad[] = {
      {"", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {"{\"version\":2,\"recipe_id\":\"a\",\"pairs\":{},\"points\":[]}", "unknown version"},
      {"{\"version\":1,\"recipe_id\":\"0123456789abcdef0\",\"pairs\":{},\"points\":[[0,0,0]]}", "recipe_id"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":-1},\"points\":[[0,0,0]]}", "pairs"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"points\":[]}", "points"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"points\":[[0,0,1.5]]}", "probabilities"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"points\":[[0,0,0],[0,0,0]]}", "order"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"points\":[[0,0.5,0],[1,0.4,0]]}", "order"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"points\":[[0,0,0,0]]}", "a point"},
      {"{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"items\":-1,\"points\":[[0,0,0]]}", "items"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    lk_err_clear(&eb);
    int rc = lk_calibration_from_json(bad[i].text, &back, &eb);
    if (rc != LK_ECORRUPT || !strstr(eb.msg, bad[i].says) || !strstr(eb.msg, "lookalike calibrate"))
      fail_msg("case %zu: rc %d, message '%s'", i, rc, eb.msg);
    assert_int_equal(back.n, 0);
  }
  /* more than 64 points */
  char big[8192] = "{\"version\":1,\"recipe_id\":\"a\",\"pairs\":{\"same_product\":1,\"same_kind\":1,\"other_kind\":1},\"points\":[";
  for (int i = 0; i < 65; i++) snprintf(big + strlen(big), sizeof big - strlen(big), "%s[%d,0,0]", i ? "," : "", i);
  strcat(big, "]}");
  assert_int_equal(lk_calibration_from_json(big, &back, &eb), LK_ECORRUPT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_isotonic_known), cmocka_unit_test(test_isotonic_random), cmocka_unit_test(test_fit_known),
      cmocka_unit_test(test_fit_refusals),   cmocka_unit_test(test_fit_flags),   cmocka_unit_test(test_json), cmocka_unit_test(test_close_scores_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
