/* tests/test_array.c — util/array.h: the growth rule (first capacity, doubling, a need beyond
 * double), overflow refused with the array untouched, the typed macros on appends of structs,
 * and arrays that grow together under one capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "util/array.h"

static void test_grow_cap(void **state) {
  (void)state;
  static const struct { size_t cap, need, first, want; } cases[] = {
      {0, 1, 16, 16}, {0, 17, 16, 32}, {16, 17, 16, 32}, {16, 100, 16, 128},
      {0, 1, 0, 1},   {0, 5, 0, 8},    {3, 3, 64, 3},    {1024, 1025, 1, 2048},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t out = 0;
    assert_int_equal(lk_array_grow_cap(cases[i].cap, cases[i].need, cases[i].first, 8, &out), 0);
    assert_int_equal(out, cases[i].want);
  }
  size_t out = 7;
  assert_int_equal(lk_array_grow_cap(SIZE_MAX / 2 + 1, SIZE_MAX, 1, 1, &out), LK_ETOOBIG); /* doubling overflows */
  assert_int_equal(lk_array_grow_cap(SIZE_MAX / 16, SIZE_MAX / 16 + 1, 1, 16, &out), LK_ETOOBIG); /* bytes overflow */
  assert_int_equal(out, 7);
}

typedef struct pt {
  int64_t id;
  double x, y;
} pt;

static void test_reserve_appends(void **state) {
  (void)state;
  pt *v = NULL;
  size_t n = 0, cap = 0;
  for (int i = 0; i < 5000; i++) {
    assert_int_equal(LK_ARRAY_RESERVE(v, cap, n + 1, 64), 0);
    assert_true(cap >= n + 1 && (cap & (cap - 1)) == 0); /* 64, 128, ...: powers of two */
    v[n++] = (pt){i, i * 0.5, -i};
  }
  assert_int_equal(cap, 8192);
  for (int i = 0; i < 5000; i++) assert_true(v[i].id == i && v[i].x == i * 0.5 && v[i].y == -i);
  pt *before = v;
  assert_int_equal(LK_ARRAY_RESERVE(v, cap, 100, 64), 0); /* fits: nothing moves */
  assert_ptr_equal(v, before);
  assert_int_equal(LK_ARRAY_RESERVE(v, cap, SIZE_MAX / 2, 64), LK_ETOOBIG); /* refused, untouched */
  assert_ptr_equal(v, before);
  assert_int_equal(cap, 8192);
  assert_true(v[4999].id == 4999);
  free(v);
}

static void test_resize_together(void **state) {
  (void)state;
  float *a = NULL;
  uint8_t *b = NULL;
  size_t cap = 0;
  for (size_t n = 0; n < 3000; n++) {
    if (n == cap) {
      size_t nc;
      assert_int_equal(lk_array_grow_cap(cap, n + 1, 1024, sizeof *a, &nc), 0);
      assert_int_equal(LK_ARRAY_RESIZE(a, nc), 0);
      assert_int_equal(LK_ARRAY_RESIZE(b, nc), 0);
      cap = nc;
    }
    a[n] = (float)n;
    b[n] = (uint8_t)n;
  }
  assert_int_equal(cap, 4096);
  assert_true(a[2999] == 2999.f && b[2999] == (uint8_t)2999);
  float *keep = a;
  assert_int_equal(LK_ARRAY_RESIZE(a, SIZE_MAX / 2), LK_ETOOBIG); /* SIZE_MAX / 2 * 4 overflows */
  assert_ptr_equal(a, keep);
  assert_int_equal(LK_ARRAY_RESIZE(a, 0), 0); /* shrinks to an empty (non-NULL) block */
  assert_non_null(a);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grow_cap),
      cmocka_unit_test(test_reserve_appends),
      cmocka_unit_test(test_resize_together),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
