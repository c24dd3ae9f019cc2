/* tests/test_num.c — numbers from outside text (util/num): whole, finite and in range, or
 * refused. The table is the hostile set of issue 15 item 4: inf, nan, 1e39, junk, hex, blanks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "lookalike.h"
#include "util/num.h"

typedef struct num_case {
  const char *in;
  double lo, hi;
  int ok;
  double want;
} num_case;

static const num_case doubles[] = {
    {"0.3", 0, 1e4, 1, 0.3},      {"1", 0, 1e4, 1, 1},          {"-2.5", -10, 10, 1, -2.5},
    {".5", 0, 1, 1, 0.5},         {"1e3", 0, 1e4, 1, 1000},     {"+4", 0, 10, 1, 4},
    {"1e-400", 0, 1, 1, 0},       /* underflow to 0 is a fine 0 */
    {"inf", 0, 1e4, 0, 0},        {"-inf", -1e4, 1e4, 0, 0},    {"infinity", 0, 1e4, 0, 0},
    {"nan", 0, 1e4, 0, 0},        {"NAN", 0, 1e4, 0, 0},        {"1e39", 0, 1e40, 1, 1e39},
    {"1e39", 0, 1e4, 0, 0},       {"1e400", 0, 1e300, 0, 0},    {"", 0, 1, 0, 0},
    {" 1", 0, 1, 0, 0},           {"1 ", 0, 1, 0, 0},           {"1x", 0, 10, 0, 0},
    {"0x10", 0, 100, 0, 0},       {"-1", 0, 10, 0, 0},          {"11", 0, 10, 0, 0},
    {".", 0, 1, 0, 0},            {"-", 0, 1, 0, 0},            {"e5", 0, 1e9, 0, 0},
};

static void test_double(void **state) {
  for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++) {
    const num_case *c = &doubles[i];
    double v = -42;
    int rc = lk_num_double(c->in, c->lo, c->hi, &v);
    if ((rc == 0) != c->ok) fail_msg("'%s' in %g..%g: rc %d", c->in, c->lo, c->hi, rc);
    if (c->ok && !(fabs(v - c->want) <= 1e-12 * fabs(c->want))) fail_msg("'%s': %g", c->in, v);
    if (!c->ok) {
      assert_int_equal(rc, LK_EINVAL);
      assert_true(v == -42); /* untouched */
    }
  }
  double v;
  assert_int_equal(lk_num_double(NULL, 0, 1, &v), LK_EINVAL);
}

static void test_int(void **state) {
  static const struct {
    const char *in;
    long lo, hi;
    int ok;
    long want;
  } cases[] = {
      {"8", 1, 256, 1, 8},     {"-3", -5, 5, 1, -3},   {"+7", 0, 10, 1, 7},  {"256", 1, 256, 1, 256},
      {"257", 1, 256, 0, 0},   {"0", 1, 256, 0, 0},    {"", 0, 9, 0, 0},     {" 5", 0, 9, 0, 0},
      {"5 ", 0, 9, 0, 0},      {"1e3", 0, 10000, 0, 0}, {"3.0", 0, 9, 0, 0}, {"inf", 0, 9, 0, 0},
      {"nan", 0, 9, 0, 0},     {"0x10", 0, 99, 0, 0},  {"99999999999999999999", 0, 9, 0, 0},
      {"-", 0, 9, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    long v = -42;
    int rc = lk_num_int(cases[i].in, cases[i].lo, cases[i].hi, &v);
    if ((rc == 0) != cases[i].ok) fail_msg("'%s' in %ld..%ld: rc %d", cases[i].in, cases[i].lo, cases[i].hi, rc);
    if (cases[i].ok) assert_int_equal(v, cases[i].want);
    else assert_int_equal(v, -42);
  }
}

static void test_u64(void **state) {
  uint64_t v = 42;
  assert_int_equal(lk_num_u64("0", &v), 0);
  assert_true(v == 0);
  assert_int_equal(lk_num_u64("18446744073709551615", &v), 0);
  assert_true(v == UINT64_MAX);
  static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "18446744073709551616", "1e3", "0x10", "x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    v = 42;
    if (lk_num_u64(bad[i], &v) != LK_EINVAL || v != 42) fail_msg("'%s' accepted", bad[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_double),
      cmocka_unit_test(test_int),
      cmocka_unit_test(test_u64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
