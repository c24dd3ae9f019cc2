/* tests/test_write.c — the write API's parsers and upload store (server/write.h) without a
 * socket: item JSON (ids, field types, limits, extra), form fields, NDJSON line splitting, and
 * POST /api/uploads' store (a catalog photo accepted, a text file 415, the byte cap 503, expiry).
 * The HTTP side and the writes themselves are tests/writes.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/write.h"
#include "testutil.h"

static void test_parse_json(void **state) {
  static const struct {
    const char *json;
    int ok;
    int64_t id;
    const char *msg; /* part of the error, or NULL */
  } cases[] = {
      {"{\"id\":42}", 1, 42, NULL},
      {"{\"id\":\"0042\"}", 1, 42, NULL},
      {"{\"id\":9223372036854775807}", 1, INT64_MAX, NULL},
      {"{\"id\":-1}", 0, 0, "whole number"},
      {"{\"id\":\"12x\"}", 0, 0, "'12x'"},
      {"{\"id\":1.5}", 0, 0, "whole number"},
      {"{\"id\":true}", 0, 0, "whole number"},
      {"{\"id\":1,\"id\":2}", 0, 0, "bad JSON"},
      {"[1]", 0, 0, "JSON object"},
      {"{\"id\":1,", 0, 0, "bad JSON"},
      {"{\"id\":1,\"gender\":5}", 0, 0, "'gender' must be a string"},
      {"{\"id\":1,\"year\":2012}", 1, 1, NULL},
      {"{\"id\":1,\"year\":2012.5}", 0, 0, "'year'"},
      {"{\"id\":1,\"colour\":{\"a\":1}}", 0, 0, "'colour'"},
      {"{\"id\":1,\"tags\":[1]}", 0, 0, "'tags'"},
      {"{\"id\":1,\"upload\":\"u_0123456789abcdef0123456789abcdef\"}", 1, 1, NULL},
      {"{\"id\":1,\"upload\":\"u_XYZ\"}", 0, 0, "upload id"},
      {"{\"id\":1,\"\":2}", 0, 0, "field name"},
      {"{\"productDisplayName\":\"no id\"}", 1, 0, NULL}, /* the id is the writer's check (400) */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lk_write_item it;
    lk_errbuf eb = {0};
    int rc = lk_write_parse_json(cases[i].json, strlen(cases[i].json), &it, &eb);
    if ((rc == 0) != cases[i].ok) fail_msg("%s: rc %d (%s)", cases[i].json, rc, eb.msg);
    if (rc == 0 && strstr(cases[i].json, "\"id\"")) {
      assert_true(it.has_id);
      assert_true(it.id == cases[i].id);
    }
    if (cases[i].msg && !strstr(eb.msg, cases[i].msg)) fail_msg("%s: message '%s' lacks '%s'", cases[i].json, eb.msg, cases[i].msg);
    lk_write_item_clear(&it);
  }
}

static void test_fields_and_extra(void **state) {
  lk_write_item it;
  lk_errbuf eb = {0};
  const char *j = "{\"id\":7,\"GENDER\":\"Men\",\"season\":\"\",\"usage\":null,\"price\":9.5,\"in_stock\":false,"
                  "\"note\":\"x\",\"gone\":null,\"year\":2020}";
  assert_int_equal(lk_write_parse_json(j, strlen(j), &it, &eb), 0);
  assert_string_equal(it.field[0], "Men"); /* field names in any case */
  assert_true(it.sent & 1u << 5);           /* season sent as "": cleared */
  assert_null(it.field[5]);
  assert_true(it.sent & 1u << 7);           /* usage sent as null: cleared */
  assert_string_equal(it.field[6], "2020");
  assert_false(it.sent & 1u << 8);          /* productDisplayName not sent */
  assert_true(json_is_real(json_object_get(it.extra, "price")));
  assert_true(json_is_false(json_object_get(it.extra, "in_stock")));
  assert_true(json_is_null(json_object_get(it.extra, "gone")));
  lk_write_item_clear(&it);
  /* form fields: numbers and booleans keep their type in extra, the fixed fields stay text */
  lk_write_item f = {0};
  assert_int_equal(lk_write_item_field(&f, "id", "12", 1, &eb), 0);
  assert_int_equal(lk_write_item_field(&f, "price", "12.50", 1, &eb), 0);
  assert_int_equal(lk_write_item_field(&f, "in_stock", "true", 1, &eb), 0);
  assert_int_equal(lk_write_item_field(&f, "sku", "007", 1, &eb), 0);
  assert_int_equal(lk_write_item_field(&f, "year", "2012", 1, &eb), 0);
  assert_true(f.id == 12);
  assert_true(json_is_real(json_object_get(f.extra, "price")));
  assert_true(json_is_true(json_object_get(f.extra, "in_stock")));
  assert_string_equal(json_string_value(json_object_get(f.extra, "sku")), "007");
  assert_string_equal(f.field[6], "2012");
  assert_int_equal(lk_write_item_field(&f, "id", "x1", 1, &eb), LK_EINVAL);
  assert_int_equal(lk_write_item_field(&f, "name", "\xff\xfe", 1, &eb), LK_EINVAL); /* not UTF-8 */
  assert_non_null(strstr(eb.msg, "UTF-8"));
  lk_write_item_clear(&f);
  /* limits: a value over LK_WRITE_MAX_VALUE, more than LK_WRITE_MAX_FIELDS fields */
  char *big = malloc(LK_WRITE_MAX_VALUE + 2);
  memset(big, 'a', LK_WRITE_MAX_VALUE + 1);
  big[LK_WRITE_MAX_VALUE + 1] = '\0';
  lk_write_item g = {0};
  assert_int_equal(lk_write_item_field(&g, "productDisplayName", big, 0, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "productDisplayName"));
  free(big);
  for (int i = 0; i < LK_WRITE_MAX_FIELDS; i++) {
    char name[16];
    snprintf(name, sizeof name, "f%d", i);
    assert_int_equal(lk_write_item_field(&g, name, "1", 0, &eb), 0);
  }
  assert_int_equal(lk_write_item_field(&g, "one_more", "1", 0, &eb), LK_EINVAL);
  lk_write_item_clear(&g);
}

static void test_lines(void **state) {
  const char body[] = "{\"id\":1}\r\n\n   \n{\"id\":2}\n{\"id\":3}";
  size_t pos = 0, len;
  long lineno = 0;
  const char *line;
  long want[] = {1, 4, 5};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(lk_write_next_line((const uint8_t *)body, sizeof body - 1, &pos, &lineno, &line, &len), 1);
    assert_int_equal(lineno, want[k]);
    assert_int_equal(len, 8); /* no CR, no LF */
    assert_int_equal(line[6], '1' + k);
  }
  assert_int_equal(lk_write_next_line((const uint8_t *)body, sizeof body - 1, &pos, &lineno, &line, &len), 0);
}

static void test_upload_store(void **state) {
  char path[4096];
  snprintf(path, sizeof path, "%s/data/fashion-catalog/images/10001.jpg", lk_test_shared_dir());
  size_t n;
  uint8_t *jpg = lk_test_read_file(path, &n);
  if (!jpg) skip();
  lk_write_opts o = {.db = "unused.db", .upload_cap = n + n / 2, .upload_ttl_s = 0.3};
  lk_write *w;
  assert_int_equal(lk_write_new(&o, &w, NULL), 0);
  lk_write_body b = {.raw = jpg, .len = n};
  lk_api_reply r;
  int retry;
  assert_int_equal(lk_write_run(w, LK_WRITE_UPLOAD, 0, &b, &r, &retry), 0);
  assert_int_equal(r.status, 201);
  const char *id = json_string_value(json_object_get(r.body, "upload"));
  assert_non_null(id);
  assert_int_equal(strlen(id), LK_WRITE_UPLOAD_ID - 1);
  assert_true(json_integer_value(json_object_get(r.body, "bytes")) == (json_int_t)n);
  assert_true(json_integer_value(json_object_get(r.body, "width")) > 0);
  json_decref(r.body);
  /* a second one does not fit under the cap: 503, retry later */
  assert_int_equal(lk_write_run(w, LK_WRITE_UPLOAD, 0, &b, &r, &retry), 0);
  assert_int_equal(r.status, 503);
  assert_true(retry > 0);
  json_decref(r.body);
  /* not an image: 415; nothing at all: 400 */
  lk_write_body t = {.raw = (const uint8_t *)"hello, not a photo", .len = 18};
  assert_int_equal(lk_write_run(w, LK_WRITE_UPLOAD, 0, &t, &r, &retry), 0);
  assert_int_equal(r.status, 415);
  json_decref(r.body);
  lk_write_body e = {0};
  assert_int_equal(lk_write_run(w, LK_WRITE_UPLOAD, 0, &e, &r, &retry), 0);
  assert_int_equal(r.status, 400);
  json_decref(r.body);
  /* once the first has expired, there is room again */
  usleep(400 * 1000);
  assert_int_equal(lk_write_run(w, LK_WRITE_UPLOAD, 0, &b, &r, &retry), 0);
  assert_int_equal(r.status, 201);
  json_decref(r.body);
  lk_write_free(w);
  free(jpg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_json),
      cmocka_unit_test(test_fields_and_extra),
      cmocka_unit_test(test_lines),
      cmocka_unit_test(test_upload_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
