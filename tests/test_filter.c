/* tests/test_filter.c — search filters (search/filter.h): parsing comparisons, reading extra
 * columns from an item's JSON text, and matching items, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "search/filter.h"

static void test_parse(void **state) {
  static const struct {
    const char *expr;
    int rc, op, kind;
    const char *column;
  } cases[] = {
      {"price<=50", 0, LK_FILTER_LE, LK_FILTER_NUM, "price"},
      {" price >= 10.5 ", 0, LK_FILTER_GE, LK_FILTER_NUM, "price"},
      {"price<1e3", 0, LK_FILTER_LT, LK_FILTER_NUM, "price"},
      {"price>-2", 0, LK_FILTER_GT, LK_FILTER_NUM, "price"},
      {"price=19.99", 0, LK_FILTER_EQ, LK_FILTER_NUM, "price"},
      {"in_stock=true", 0, LK_FILTER_EQ, LK_FILTER_BOOL, "in_stock"},
      {"in_stock!=FALSE", 0, LK_FILTER_NE, LK_FILTER_BOOL, "in_stock"},
      {"material=Cotton", 0, LK_FILTER_EQ, LK_FILTER_TEXT, "material"},
      {"year>=2012", 0, LK_FILTER_GE, LK_FILTER_NUM, "year"},
      {"price", LK_EINVAL, 0, 0, NULL},          /* no operator */
      {"<=5", LK_EINVAL, 0, 0, NULL},            /* no column */
      {"price<=", LK_EINVAL, 0, 0, NULL},        /* no value */
      {"price<=cheap", LK_EINVAL, 0, 0, NULL},   /* < needs a number */
      {"in_stock>true", LK_EINVAL, 0, 0, NULL},  /* > needs a number */
      {"price<=5<=6", LK_EINVAL, 0, 0, NULL},    /* two operators */
      {"price<==5", LK_EINVAL, 0, 0, NULL},
      {"price<=inf", LK_EINVAL, 0, 0, NULL},     /* inf is no number (util/num.h) and < needs one */
      {"price<=nan", LK_EINVAL, 0, 0, NULL},
      {"pr\"ice=1", LK_EINVAL, 0, 0, NULL},      /* quotes in a column name */
      {"a=\xff", LK_EINVAL, 0, 0, NULL},         /* not UTF-8 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lk_filter f = {0};
    lk_errbuf eb = {0};
    int rc = lk_filter_add_where(&f, cases[i].expr, &eb);
    if (rc != cases[i].rc) fail_msg("'%s': rc %d, want %d (%s)", cases[i].expr, rc, cases[i].rc, eb.msg);
    if (rc) {
      assert_true(eb.msg[0]);
      assert_int_equal(f.nwhere, 0);
      continue;
    }
    assert_int_equal(f.nwhere, 1);
    assert_int_equal(f.where[0].op, cases[i].op);
    assert_int_equal(f.where[0].kind, cases[i].kind);
    assert_string_equal(f.where[0].column, cases[i].column);
  }
  /* the CLI's --where: field=value on a field stays text equality; the rest are comparisons */
  lk_filter f = {0};
  assert_int_equal(lk_filter_add(&f, "gender=Women", NULL), 0);
  assert_int_equal(lk_filter_add(&f, "price<=50", NULL), 0);
  assert_int_equal(lk_filter_add(&f, "in_stock=true", NULL), 0);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.nwhere, 2);
  /* limits */
  memset(&f, 0, sizeof f);
  for (int i = 0; i < LK_FILTER_MAX_WHERE; i++) assert_int_equal(lk_filter_add_where(&f, "price>1", NULL), 0);
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_add_where(&f, "price>1", &eb), LK_ETOOBIG);
  char longx[LK_FILTER_MAX_EXPR + 8];
  memset(longx, 'a', sizeof longx);
  memcpy(longx, "p=", 2);
  longx[sizeof longx - 1] = '\0';
  memset(&f, 0, sizeof f);
  assert_int_equal(lk_filter_add_where(&f, longx, &eb), LK_ETOOBIG);
}

static void test_json_get(void **state) {
  static const struct {
    const char *json, *key, *val;
    int is_string;
  } cases[] = {
      {"{\"price\":\"19.99\",\"in_stock\":true}", "price", "19.99", 1},
      {"{\"price\":\"19.99\",\"in_stock\":true}", "in_stock", "true", 0},
      {" { \"a\" : [1,{\"price\":2}] , \"price\" : 7 } ", "price", "7", 0}, /* nested keys do not count */
      {"{\"n\":{\"x\":\"}\"},\"price\":-1.5e2}", "price", "-1.5e2", 0},
      {"{\"q\\\"x\":1,\"price\":\"a\\\"b\"}", "price", "a\\\"b", 1},
      {"{\"PRICE\":3}", "price", "3", 0}, /* column names are case-insensitive */
      {"{\"price\":null}", "price", "null", 0},
      {"{}", "price", NULL, 0},
      {"[\"price\",1]", "price", NULL, 0},
      {"{\"price\"", "price", NULL, 0},
      {"{\"price\":\"unterminated}", "price", NULL, 0},
      {"{\"a\":1 \"price\":2}", "price", NULL, 0}, /* missing comma: stop */
      {"", "price", NULL, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *v = NULL;
    size_t n = 0;
    int s = -1, found = lk_filter_json_get(cases[i].json, cases[i].key, &v, &n, &s);
    if (found != (cases[i].val != NULL)) fail_msg("case %zu: found %d", i, found);
    if (!found) continue;
    assert_int_equal(n, strlen(cases[i].val));
    assert_memory_equal(v, cases[i].val, n);
    assert_int_equal(s, cases[i].is_string);
  }
  const char *v;
  size_t n;
  int s;
  assert_int_equal(lk_filter_json_get(NULL, "price", &v, &n, &s), 0);
}

static void test_match(void **state) {
  static const struct {
    const char *extra, *year, *expr;
    int pass;
  } cases[] = {
      {"{\"price\":\"19.99\"}", NULL, "price<=20", 1},
      {"{\"price\":\"19.99\"}", NULL, "price<19.99", 0},
      {"{\"price\":19.99}", NULL, "price=19.99", 1},
      {"{\"price\":\" 20 \"}", NULL, "price>=20", 1},  /* CSV text with blanks */
      {"{\"price\":\"n/a\"}", NULL, "price<=50", 0},   /* not a number: false */
      {"{\"price\":\"n/a\"}", NULL, "price!=5", 0},    /* ... with != too */
      {"{\"price\":null}", NULL, "price<=50", 0},
      {"{\"price\":true}", NULL, "price<=50", 0},
      {NULL, NULL, "price<=50", 0},                     /* no extra at all */
      {"{\"in_stock\":true}", NULL, "in_stock=true", 1},
      {"{\"in_stock\":false}", NULL, "in_stock=true", 0},
      {"{\"in_stock\":\"TRUE\"}", NULL, "in_stock=true", 1},
      {"{\"in_stock\":\"yes\"}", NULL, "in_stock=true", 1},
      {"{\"in_stock\":\"0\"}", NULL, "in_stock=false", 1},
      {"{\"in_stock\":\"0\"}", NULL, "in_stock!=true", 1},
      {"{\"in_stock\":\"maybe\"}", NULL, "in_stock!=true", 0},
      {"{\"material\":\"Cotton\"}", NULL, "material=cotton", 1},
      {"{\"material\":\"Cotton\"}", NULL, "material!=cotton", 0},
      {NULL, "2012", "year>=2012", 1},                  /* a standard field */
      {NULL, "2011", "year>=2012", 0},
      {NULL, NULL, "year>=2012", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lk_item it = {0};
    it.id = 1;
    it.extra = (char *)cases[i].extra;
    it.field[6] = (char *)cases[i].year;
    lk_filter f = {0};
    assert_int_equal(lk_filter_add_where(&f, cases[i].expr, NULL), 0);
    if (lk_filter_match(&it, &f, NULL) != cases[i].pass) fail_msg("'%s' on %s: want %d", cases[i].expr, cases[i].extra, cases[i].pass);
  }
  /* comparisons AND-ed with field conditions; seen marks the extra columns an item has */
  lk_item it = {0};
  it.field[0] = "Women";
  it.extra = "{\"price\":\"10\",\"in_stock\":\"false\"}";
  lk_filter f = {0};
  lk_filter_add(&f, "gender=women", NULL);
  lk_filter_add(&f, "price<=50", NULL);
  assert_int_equal(lk_filter_match(&it, &f, NULL), 1);
  lk_filter_add(&f, "in_stock=true", NULL);
  lk_filter_add(&f, "colour=red", NULL);
  unsigned seen = 0;
  assert_int_equal(lk_filter_match(&it, &f, &seen), 0);
  assert_int_equal(seen, 3u); /* price and in_stock, not colour */
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_check_seen(&f, seen, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "column 'colour'"));
  assert_int_equal(lk_filter_check_seen(&f, 7u, &eb), 0);
  assert_int_equal(lk_filter_match(&it, NULL, NULL), 1);
}

/* The public handle (lookalike.h): lk_filter_new gives an empty filter, add fills it, a refused
 * condition leaves it as it was, lk_filter_free takes NULL. */
static void test_handle(void **state) {
  (void)state;
  lk_filter *f = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_new(NULL), LK_EINVAL);
  assert_int_equal(lk_filter_new(&f), 0);
  assert_non_null(f);
  lk_item it = {0};
  it.field[0] = "Women";
  it.field[6] = "2011";
  assert_int_equal(lk_filter_match(&it, f, NULL), 1);
  assert_int_equal(lk_filter_add(f, "gender=women", &eb), 0);
  assert_int_equal(lk_filter_match(&it, f, NULL), 1);
  assert_int_equal(lk_filter_add(f, "year>=", &eb), LK_EINVAL);
  assert_true(eb.msg[0] != '\0');
  assert_int_equal(f->nwhere, 0);
  assert_int_equal(lk_filter_add_where(f, "year>=2012", &eb), 0);
  assert_int_equal(lk_filter_match(&it, f, NULL), 0);
  lk_filter_free(f);
  lk_filter_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_json_get),
                                     cmocka_unit_test(test_match), cmocka_unit_test(test_handle)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
