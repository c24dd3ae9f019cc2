/* tests/test_linalg.c — util/linalg.h: the eigensolver on a matrix with known eigenpairs (order,
 * signs) and on random symmetric matrices (A v = lambda v, orthonormal columns, the sign rule),
 * its bad arguments; the sgemm wrapper against a plain double loop for every transpose pair,
 * alpha/beta, leading dimensions wider than the rows, an empty inner dimension and bad shapes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "util/linalg.h"
#include "util/rng.h"

static void test_eigsym_known(void **state) {
  (void)state;
  /* eigenvalues 5 (e2), 3 ((1,1,0)/sqrt2), 1 ((1,-1,0)/sqrt2); given with negative signs wanted flipped */
  double a[9] = {2, 1, 0, 1, 2, 0, 0, 0, 5}, w[3], v[9];
  assert_int_equal(lk_linalg_eigsym(a, 3, w, v, NULL), 0);
  assert_true(fabs(w[0] - 5) < 1e-12 && fabs(w[1] - 3) < 1e-12 && fabs(w[2] - 1) < 1e-12);
  assert_true(fabs(v[2 * 3 + 0] - 1) < 1e-12 && fabs(v[0 * 3 + 0]) < 1e-12); /* +e2 */
  assert_true(fabs(v[0 * 3 + 1] - sqrt(0.5)) < 1e-12 && fabs(v[1 * 3 + 1] - sqrt(0.5)) < 1e-12);
  /* (1,-1,0)/sqrt2: a tie in magnitude, so the first component is the positive one */
  assert_true(fabs(v[0 * 3 + 2] - sqrt(0.5)) < 1e-12 && fabs(v[1 * 3 + 2] + sqrt(0.5)) < 1e-12);
  double one = 7, w1, v1;
  assert_int_equal(lk_linalg_eigsym(&one, 1, &w1, &v1, NULL), 0);
  assert_true(w1 == 7 && v1 == 1);
}

static void test_eigsym_random(void **state) {
  (void)state;
  static const int sizes[] = {2, 7, 40, 130};
  uint64_t s = 99;
  for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
    int n = sizes[t];
    double *a = malloc(sizeof(double) * n * n), *a0 = malloc(sizeof(double) * n * n);
    double *v = malloc(sizeof(double) * n * n), *w = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++)
      for (int j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = lk_rng_gauss(&s);
    memcpy(a0, a, sizeof(double) * n * n);
    assert_int_equal(lk_linalg_eigsym(a, n, w, v, NULL), 0);
    for (int c = 0; c < n; c++) {
      if (c) assert_true(w[c] <= w[c - 1]);
      int best = 0;
      for (int r = 0; r < n; r++) {
        double av = 0;
        for (int j = 0; j < n; j++) av += a0[r * n + j] * v[j * n + c];
        assert_true(fabs(av - w[c] * v[r * n + c]) < 1e-9 * n);
        if (fabs(v[r * n + c]) > fabs(v[best * n + c])) best = r;
      }
      assert_true(v[best * n + c] > 0);
      for (int c2 = 0; c2 <= c; c2++) {
        double dot = 0;
        for (int r = 0; r < n; r++) dot += v[r * n + c] * v[r * n + c2];
        assert_true(fabs(dot - (c == c2)) < 1e-10);
      }
    }
    free(a);
    free(a0);
    free(v);
    free(w);
  }
}

static void test_eigsym_bad_args(void **state) {
  (void)state;
  double a[4] = {1, 0, 0, 1}, w[2], v[4];
  lk_errbuf eb = {0};
  assert_int_equal(lk_linalg_eigsym(a, 0, w, v, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "eigsym"));
  assert_int_equal(lk_linalg_eigsym(NULL, 2, w, v, NULL), LK_EINVAL);
  assert_int_equal(lk_linalg_eigsym(a, 2, NULL, v, NULL), LK_EINVAL);
  double nan2[4] = {NAN, 0, 0, 1};
  assert_int_not_equal(lk_linalg_eigsym(nan2, 2, w, v, NULL), 0); /* LAPACK refuses a NaN */
}

/* The element (i, j) of op(X) for a row-major X with leading dimension ld. */
static float at(const float *x, char t, int64_t ld, int64_t i, int64_t j) { return t == 'N' ? x[i * ld + j] : x[j * ld + i]; }

static void test_sgemm(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 4}, {17, 9, 33}, {64, 65, 7}};
  static const char ops[4][2] = {{'N', 'N'}, {'N', 'T'}, {'T', 'N'}, {'T', 'T'}};
  uint64_t s = 5;
  for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++)
    for (int o = 0; o < 4; o++) {
      int64_t m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
      char ta = ops[o][0], tb = ops[o][1];
      int64_t lda = (ta == 'N' ? k : m) + 3, ldb = (tb == 'N' ? n : k) + 1, ldc = n + 2;
      float *a = malloc(sizeof(float) * (ta == 'N' ? m : k) * lda), *b = malloc(sizeof(float) * (tb == 'N' ? k : n) * ldb);
      float *c = malloc(sizeof(float) * m * ldc), *c0 = malloc(sizeof(float) * m * ldc);
      for (int64_t i = 0; i < (ta == 'N' ? m : k) * lda; i++) a[i] = lk_rng_range(&s, -1, 1);
      for (int64_t i = 0; i < (tb == 'N' ? k : n) * ldb; i++) b[i] = lk_rng_range(&s, -1, 1);
      for (int64_t i = 0; i < m * ldc; i++) c[i] = c0[i] = lk_rng_range(&s, -1, 1);
      assert_int_equal(lk_linalg_sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c, ldc), 0);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
          if (j >= n) { /* padding untouched */
            assert_true(c[i * ldc + j] == c0[i * ldc + j]);
            continue;
          }
          double ref = 2.0 * c0[i * ldc + j];
          for (int64_t p = 0; p < k; p++) ref += 0.5 * (double)at(a, ta, lda, i, p) * at(b, tb, ldb, p, j);
          assert_true(fabs(c[i * ldc + j] - ref) < 1e-4);
        }
      free(a);
      free(b);
      free(c);
      free(c0);
    }
}

static void test_sgemm_edges(void **state) {
  (void)state;
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {1, 1, 1, 1};
  assert_int_equal(lk_linalg_sgemm('N', 'N', 2, 2, 0, 1.f, a, 2, b, 2, 3.f, c, 2), 0); /* C = 3 C */
  for (int i = 0; i < 4; i++) assert_true(c[i] == 3);
  assert_int_equal(lk_linalg_sgemm('N', 'N', 2, 2, 0, 1.f, a, 2, b, 2, 0.f, c, 2), 0); /* C = 0 */
  for (int i = 0; i < 4; i++) assert_true(c[i] == 0);
  assert_int_equal(lk_linalg_sgemm('N', 'N', 0, 2, 2, 1.f, a, 2, b, 2, 0.f, NULL, 2), 0);
  assert_int_equal(lk_linalg_sgemm('X', 'N', 2, 2, 2, 1.f, a, 2, b, 2, 0.f, c, 2), LK_EINVAL);
  assert_int_equal(lk_linalg_sgemm('N', 'N', -1, 2, 2, 1.f, a, 2, b, 2, 0.f, c, 2), LK_EINVAL);
  assert_int_equal(lk_linalg_sgemm('N', 'N', 2, 2, 2, 1.f, a, 1, b, 2, 0.f, c, 2), LK_EINVAL); /* lda < k */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_eigsym_known),  cmocka_unit_test(test_eigsym_random),
      cmocka_unit_test(test_eigsym_bad_args), cmocka_unit_test(test_sgemm),
      cmocka_unit_test(test_sgemm_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
