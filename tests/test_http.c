/* tests/test_http.c — the server's request-text parsers (server/http.c), table-driven:
 * percent-decoding, the route table (traversal attempts included), ids, GET /api/items
 * parameters, numbers, image sniffing, Accept-Encoding and util/gzip; and the search
 * parameters of api.c (k, crop, filters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "server/api.h"
#include "server/http.h"
#include "util/gzip.h"
#include "util/id.h"

#include <stdlib.h>
#include <zlib.h>

static void test_bearer(void **state) {
  (void)state;
  static const struct { const char *h, *token; } cases[] = {
      {"Bearer lk_abc", "lk_abc"},   {"bearer   lk_abc \t", "lk_abc"}, {"BEARER\tx", "x"},
      {"  Bearer a.b-c_d~e+/=", "a.b-c_d~e+/="},
      {NULL, NULL}, {"", NULL}, {"Bearer", NULL}, {"Bearer ", NULL}, {"Bearer \t ", NULL},
      {"Bearerlk_x", NULL}, {"Basic dXNlcjpwYXNz", NULL}, {"Bearer lk a", NULL},
      {"Bearer lk_\x01x", NULL}, {"Bearer lk_\xc3\xa9", NULL}, {"Token lk_x", NULL}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *tok = NULL;
    size_t len = 0;
    int rc = lk_http_bearer(cases[i].h, &tok, &len);
    if (!cases[i].token) {
      assert_int_equal(rc, -1);
      continue;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(cases[i].token));
    assert_memory_equal(tok, cases[i].token, len);
  }
  char big[LK_HTTP_MAX_TOKEN + 16] = "Bearer ";
  memset(big + 7, 'a', LK_HTTP_MAX_TOKEN);
  const char *tok;
  size_t len;
  assert_int_equal(lk_http_bearer(big, &tok, &len), 0); /* exactly the limit */
  big[7 + LK_HTTP_MAX_TOKEN] = 'a';
  assert_int_equal(lk_http_bearer(big, &tok, &len), -1); /* one more */
}

static void test_unescape(void **state) {
  static const struct { const char *in, *out; } cases[] = {
      {"/a%20b", "/a b"},          {"%41%42%43", "ABC"},        {"%2e%2E/%2f", "..//"},
      {"%252e", "%2e"},            /* once: no double decoding */
      {"%", "%"},                  {"%4", "%4"},                {"%zz", "%zz"},
      {"%00x", "\x7fx"},           /* NUL becomes DEL */
      {"a%0", "a%0"},              {"", ""},                    {"%ff", "\xff"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", cases[i].in);
    size_t n = lk_http_unescape(buf);
    assert_string_equal(buf, cases[i].out);
    assert_int_equal(n, strlen(cases[i].out));
  }
}

static void test_route(void **state) {
  static const struct {
    const char *path;
    enum lk_http_route route;
    int64_t id;
    const char *asset;
  } cases[] = {
      {"/", LK_HTTP_PAGE, 0, "index.html"},
      {"/index.html", LK_HTTP_PAGE, 0, "index.html"},
      {"/static/app.js", LK_HTTP_PAGE, 0, "app.js"},
      {"/static/../etc/passwd", LK_HTTP_PAGE, 0, "../etc/passwd"}, /* a name no asset has */
      {"/api/search", LK_HTTP_SEARCH, 0, NULL},
      {"/api/search/", LK_HTTP_NONE, 0, NULL},
      {"/api/items", LK_HTTP_ITEMS, 0, NULL},
      {"/api/items/15970", LK_HTTP_ITEM, 15970, NULL},
      {"/api/items/15970/similar", LK_HTTP_SIMILAR, 15970, NULL},
      {"/api/items/15970/similar/", LK_HTTP_NONE, 0, NULL},
      {"/api/items/15970/x", LK_HTTP_NONE, 0, NULL},
      {"/api/items/abc", LK_HTTP_BADID, 0, NULL},
      {"/api/items/abc/similar", LK_HTTP_BADID, 0, NULL},
      {"/api/items/-1", LK_HTTP_BADID, 0, NULL},
      {"/api/items/999999999999999999", LK_HTTP_ITEM, 999999999999999999LL, NULL},
      {"/api/items/1000000000000000000", LK_HTTP_ITEM, 1000000000000000000LL, NULL}, /* 19 digits */
      {"/api/items/9223372036854775807", LK_HTTP_ITEM, INT64_MAX, NULL}, /* ids go up to INT64_MAX */
      {"/api/items/09223372036854775807/similar", LK_HTTP_SIMILAR, INT64_MAX, NULL},
      {"/api/items/9223372036854775808", LK_HTTP_BADID, 0, NULL}, /* one past it */
      {"/api/items/99999999999999999999", LK_HTTP_BADID, 0, NULL},
      {"/photos/9223372036854775807", LK_HTTP_PHOTO, INT64_MAX, NULL},
      {"/api/items/", LK_HTTP_BADID, 0, NULL},
      {"/photos/42", LK_HTTP_PHOTO, 42, NULL},
      {"/photos/42.jpg", LK_HTTP_NONE, 0, NULL},
      {"/photos/../42", LK_HTTP_NONE, 0, NULL},
      {"/photos/", LK_HTTP_NONE, 0, NULL},
      {"/api/facets", LK_HTTP_FACETS, 0, NULL},
      {"/api/map", LK_HTTP_MAP, 0, NULL},
      {"/admin", LK_HTTP_PAGE, 0, "admin.html"},
      {"/admin/", LK_HTTP_NONE, 0, NULL},
      {"/api/admin/stats", LK_HTTP_ADMIN_STATS, 0, NULL},
      {"/api/admin/stats/", LK_HTTP_NONE, 0, NULL},
      {"/api/admin", LK_HTTP_NONE, 0, NULL},
      {"/api/uploads", LK_HTTP_UPLOADS, 0, NULL},
      {"/api/uploads/1", LK_HTTP_NONE, 0, NULL},
      {"/api/items/batch", LK_HTTP_BATCH, 0, NULL},
      {"/api/items/batch/similar", LK_HTTP_BADID, 0, NULL}, /* not an id: 400 */
      {"/api/items/batchx", LK_HTTP_BADID, 0, NULL},
      {"/health", LK_HTTP_HEALTH, 0, NULL},
      {"/metrics", LK_HTTP_METRICS, 0, NULL},
      {"//health", LK_HTTP_NONE, 0, NULL},
      {"/HEALTH", LK_HTTP_NONE, 0, NULL},
      {"", LK_HTTP_NONE, 0, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lk_http_target t;
    lk_http_route(cases[i].path, &t);
    if (t.route != cases[i].route) fail_msg("%s: route %d, want %d", cases[i].path, t.route, cases[i].route);
    assert_true(t.id == cases[i].id);
    if (cases[i].asset) assert_string_equal(t.asset, cases[i].asset);
  }
  lk_http_target t;
  lk_http_route("/api/items/x/similar", &t);
  assert_int_equal(t.similar, 1);
  lk_http_route("/api/items/x", &t);
  assert_int_equal(t.similar, 0);
}

/* util/id.c: the one id reader of CSV fields, photo names, URLs and the command line. */
static void test_ids(void **state) {
  static const struct {
    const char *s;
    int ok;
    int64_t id;
  } cases[] = {
      {"0", 1, 0}, {"15970", 1, 15970}, {"015970", 1, 15970}, {"9223372036854775807", 1, INT64_MAX},
      {"00000000000000000000009", 1, 9}, {"9223372036854775808", 0, 0}, {"18446744073709551616", 0, 0},
      {"", 0, 0}, {"-1", 0, 0}, {"+1", 0, 0}, {" 1", 0, 0}, {"1 ", 0, 0}, {"1x", 0, 0}, {"IMG_0001", 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t id = -1;
    int rc = lk_id_parse(cases[i].s, strlen(cases[i].s), &id);
    if ((rc == 0) != cases[i].ok) fail_msg("'%s': rc %d", cases[i].s, rc);
    if (cases[i].ok) assert_true(id == cases[i].id);
  }
  const char *end;
  int64_t id;
  assert_int_equal(lk_id_parse_prefix("123,Men", &id, &end), 0);
  assert_true(id == 123 && *end == ',');
  assert_int_equal(lk_id_parse_prefix(",1", &id, &end), -1);
  assert_int_equal(lk_id_parse("12", 1, &id), 0); /* only the first n bytes */
  assert_true(id == 1);
}

static void test_numbers(void **state) {
  uint64_t v;
  assert_int_equal(lk_http_parse_u64("0", 10, &v), 0);
  assert_true(v == 0);
  assert_int_equal(lk_http_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
  assert_true(v == UINT64_MAX);
  static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "18446744073709551616", "11", "0x1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (lk_http_parse_u64(bad[i], 10, &v) == 0) fail_msg("'%s' accepted", bad[i]);
}

static void test_list_params(void **state) {
  lk_http_list a;
  lk_http_list_init(&a, 10);
  lk_errbuf eb = {0};
  assert_int_equal(lk_http_list_param(&a, "offset", "5", &eb), 0);
  assert_int_equal(lk_http_list_param(&a, "limit", "500", &eb), 0);
  assert_int_equal(lk_http_list_param(&a, "sample", "3", &eb), 0);
  assert_int_equal(lk_http_list_param(&a, "seed", "18446744073709551615", &eb), 0);
  assert_int_equal(a.offset, 5);
  assert_int_equal(a.limit, 500);
  assert_int_equal(a.sample, 3);
  assert_true(a.seed == UINT64_MAX);
  static const char *const bad[][2] = {{"limit", "0"},   {"limit", "501"},        {"sample", "-1"},
                                       {"offset", ""},   {"offset", "2147483648"}, {"seed", "x"},
                                       {"colour", "1"},  {"limit", NULL},          {NULL, "1"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lk_errbuf e = {0};
    if (lk_http_list_param(&a, bad[i][0], bad[i][1], &e) != LK_EINVAL)
      fail_msg("%s=%s accepted", bad[i][0] ? bad[i][0] : "(null)", bad[i][1] ? bad[i][1] : "(null)");
    assert_true(*lk_err_msg(&e));
  }
  assert_int_equal(a.limit, 500); /* refusals change nothing */
}

/* Search parameters (api.c): k, crop, filter fields. */
static void test_api_params(void **state) {
  lk_api_params p;
  lk_api_params_init(&p);
  lk_errbuf eb = {0};
  assert_int_equal(p.k, LK_API_DEFAULT_K);
  assert_int_equal(lk_api_param(&p, "k", "500", &eb), 0);
  assert_int_equal(p.k, 500);
  assert_int_equal(lk_api_param(&p, "crop", "-5,10,20,30", &eb), 0);
  assert_int_equal(p.has_crop, 1);
  assert_int_equal(p.crop[0], -5);
  assert_int_equal(p.crop[3], 30);
  assert_int_equal(lk_api_param(&p, "gender", "Men", &eb), 0);
  assert_int_equal(lk_api_param(&p, "GENDER", "Women", &eb), 0); /* names are case-insensitive */
  assert_int_equal(lk_api_param(&p, "articleType", "", &eb), 0);  /* an unset <select>: ignored */
  assert_int_equal(p.filter.n, 2);
  static const struct { const char *name, *value; int rc; } bad[] = {
      {"k", "0", LK_EINVAL},          {"k", "501", LK_EINVAL},         {"k", "1x", LK_EINVAL},
      {"k", "", LK_EINVAL},           {"k", " 5", LK_EINVAL},          {"crop", "1,2,3", LK_EINVAL},
      {"crop", "1,2,3,4,5", LK_EINVAL}, {"crop", "1,2,0,4", LK_EINVAL}, {"crop", "1,2,3,-4", LK_EINVAL},
      {"crop", "a,b,c,d", LK_EINVAL}, {"crop", "1,2,3,99999999999", LK_EINVAL},
      {"colour", "Red", LK_EINVAL},   {"", "x", LK_EINVAL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lk_errbuf e = {0};
    int rc = lk_api_param(&p, bad[i].name, bad[i].value, &e);
    if (rc != bad[i].rc) fail_msg("%s=%s: %d, want %d", bad[i].name, bad[i].value, rc, bad[i].rc);
    assert_true(*lk_err_msg(&e));
  }
  char long_value[LK_API_MAX_VALUE + 8];
  memset(long_value, 'a', sizeof long_value - 1);
  long_value[sizeof long_value - 1] = '\0';
  assert_int_equal(lk_api_param(&p, "gender", long_value, &eb), LK_ETOOBIG);
  assert_int_equal(p.k, 500); /* refusals change nothing */
  assert_int_equal(p.filter.n, 2);
}

static void test_sniff(void **state) {
  assert_string_equal(lk_http_sniff((const unsigned char *)"\xff\xd8\xff\xe0", 4), "image/jpeg");
  assert_string_equal(lk_http_sniff((const unsigned char *)"\x89PNG\r\n\x1a\n", 8), "image/png");
  assert_string_equal(lk_http_sniff((const unsigned char *)"RIFF\0\0\0\0WEBP", 12), "image/webp");
  assert_null(lk_http_sniff((const unsigned char *)"\x89PNG\r\n\x1a", 7));
  assert_null(lk_http_sniff((const unsigned char *)"GIF89a", 6));
  assert_null(lk_http_sniff(NULL, 0));
}

/* Accept-Encoding: which values let GET /api/map answer gzip. */
static void test_accepts_gzip(void **state) {
  (void)state;
  static const struct {
    const char *h;
    int want;
  } cases[] = {
      {"gzip", 1}, {"gzip, deflate, br, zstd", 1}, {"br;q=1.0, GZIP;q=0.5", 1}, {"x-gzip", 1}, {"*", 1},
      {" deflate , gzip ", 1}, {"gzip;q=0.001", 1}, {"gzip ; q=1", 1}, {"identity, *;q=0.1", 1},
      {"", 0}, {"identity", 0}, {"br, deflate", 0}, {"gzip;q=0", 0}, {"gzip;q=0.000", 0}, {"gzip; q=0 ", 0},
      {"*;q=0", 0}, {"*, gzip;q=0", 0}, {"gzipped", 0}, {"xgzip", 0}, {",,,;;;", 0}, {"q=1", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (lk_http_accepts_gzip(cases[i].h) != cases[i].want) fail_msg("Accept-Encoding \"%s\"", cases[i].h);
  }
  assert_int_equal(lk_http_accepts_gzip(NULL), 0);
  char big[5000];
  memset(big, ' ', sizeof big - 6);
  memcpy(big + sizeof big - 6, "gzip", 5);
  assert_int_equal(lk_http_accepts_gzip(big), 0); /* over 4 KiB: not parsed */
}

/* lk_gzip: zlib's inflate (gzip mode) gives the bytes back; repetitive JSON shrinks. */
static void test_gzip(void **state) {
  (void)state;
  size_t n = 200000;
  char *in = malloc(n);
  assert_non_null(in);
  for (size_t i = 0; i < n; i++) in[i] = "[1.234,-5.678,\"Tshirts\"],"[i % 25] ^ (char)(i % 7 == 0);
  uint8_t *gz = NULL;
  size_t gzn = 0;
  assert_int_equal(lk_gzip(in, n, 6, &gz, &gzn, NULL), 0);
  assert_true(gzn > 18 && gzn < n / 5);
  assert_int_equal(gz[0], 0x1f); /* gzip magic */
  assert_int_equal(gz[1], 0x8b);
  char *back = malloc(n + 1);
  assert_non_null(back);
  z_stream z = {0};
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = gz;
  z.avail_in = (uInt)gzn;
  z.next_out = (Bytef *)back;
  z.avail_out = (uInt)n + 1;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  assert_int_equal(z.total_out, n);
  inflateEnd(&z);
  assert_memory_equal(back, in, n);
  free(gz);
  assert_int_equal(lk_gzip("", 0, 6, &gz, &gzn, NULL), 0); /* empty input: a valid empty member */
  assert_true(gzn >= 18);
  free(gz);
  free(back);
  free(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unescape), cmocka_unit_test(test_route), cmocka_unit_test(test_ids),
      cmocka_unit_test(test_numbers), cmocka_unit_test(test_bearer), cmocka_unit_test(test_accepts_gzip), cmocka_unit_test(test_gzip),
      cmocka_unit_test(test_list_params), cmocka_unit_test(test_api_params), cmocka_unit_test(test_sniff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
