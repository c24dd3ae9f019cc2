/* tests/test_collapse.c — collapsed results and near-duplicate groups (search/collapse.h), and
 * comparisons on extra columns applied inside the search, on a hand-made catalog: random
 * vectors plus a photo listed twice, a near-identical re-listing, a near-identical photo of
 * another colour, and one product in three colours. */
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
#include "search/collapse.h"
#include "search/engine.h"
#include "testutil.h"

#define N 400
#define D 16
#define DUP_SAME 1001  /* the photo of item 1, byte for byte */
#define DUP_NEAR 1002  /* item 1's photo re-encoded: cosine ~0.999, same colour */
#define DUP_OTHER 1003 /* as near, but another baseColour: not a duplicate */
#define VAR_A 2001     /* "Acme Men Red Polo Tshirt" and its other colours */
#define VAR_B 2002
#define VAR_C 2003

typedef struct fixture {
  char *dir;
  lk_engine *e;
  float vec[N][D];
} fixture;

static void unit(float *v) {
  double s = 0;
  for (int d = 0; d < D; d++) s += (double)v[d] * v[d];
  for (int d = 0; d < D; d++) v[d] /= (float)sqrt(s);
}

static void put(lk_catalog *c, int64_t id, const char *hash, const char *colour, const char *name, const char *extra,
                const float *v) {
  lk_item it = {0};
  it.id = id;
  it.path = "p.jpg";
  it.hash = (char *)hash;
  it.status = "ok";
  it.field[0] = "Men";
  it.field[3] = "Tshirts";
  it.field[4] = (char *)colour;
  it.field[8] = (char *)name;
  it.extra = (char *)extra;
  assert_int_equal(lk_catalog_put_item(c, &it), 0);
  assert_int_equal(lk_catalog_put_vector(c, id, v, D), 0);
}

/* Item i's extra columns: price i % 100 (text, as styles.csv gives it, or a JSON number),
 * in_stock every third item; every tenth item has none, every seventh a price "n/a". */
static void extra_of(int i, char *buf, size_t cap) {
  if (i % 10 == 0) snprintf(buf, cap, "{}");
  else if (i % 7 == 0) snprintf(buf, cap, "{\"in_stock\":%s,\"price\":\"n/a\"}", i % 3 ? "false" : "true");
  else if (i % 2) snprintf(buf, cap, "{\"in_stock\":\"%s\",\"price\":\"%d.5\"}", i % 3 ? "false" : "true", i % 100);
  else snprintf(buf, cap, "{\"in_stock\":%s,\"price\":%d.5}", i % 3 ? "false" : "true", i % 100);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", f->dir);
  lk_catalog *c;
  lk_errbuf eb = {0};
  assert_non_null(c = lk_test_catalog_new(db));
  srand(11);
  for (int i = 0; i < N; i++) {
    char name[64], hash[32], extra[96];
    for (int d = 0; d < D; d++) f->vec[i][d] = (float)rand() / RAND_MAX - 0.5f;
    unit(f->vec[i]);
    snprintf(name, sizeof name, "Brand%d Men Tshirt", i);
    snprintf(hash, sizeof hash, "h%d", i);
    extra_of(i, extra, sizeof extra);
    put(c, i, hash, "Black", name, extra, f->vec[i]);
  }
  float v[D];
  put(c, DUP_SAME, "h1", "Black", "Brand1 Men Tshirt", NULL, f->vec[1]);
  for (int d = 0; d < D; d++) v[d] = f->vec[1][d] + (d % 2 ? 0.01f : -0.01f);
  unit(v);
  put(c, DUP_NEAR, "near", "Black", "Brand1 Men Tshirt", NULL, v);
  for (int d = 0; d < D; d++) v[d] = f->vec[1][d] + (d % 3 ? 0.012f : -0.01f);
  unit(v);
  put(c, DUP_OTHER, "other", "White", "Brand1 Men White Tshirt", NULL, v);
  /* three colours of one product: alike in shape (cosine ~0.9), not near-identical */
  for (int j = 0; j < 3; j++) {
    for (int d = 0; d < D; d++) v[d] = f->vec[50][d] + (d == j ? 0.35f : 0);
    unit(v);
    static const char *const colours[] = {"Red", "Navy Blue", "Green"};
    static const char *const names[] = {"Acme Men Red Polo Tshirt", "Acme Men Navy Blue Polo Tshirt",
                                        "Acme Men Polo Tshirt Green"};
    char hash[16];
    snprintf(hash, sizeof hash, "var%d", j);
    put(c, VAR_A + j, hash, colours[j], names[j], NULL, v);
  }
  lk_catalog_commit(c);
  lk_catalog_close(c);
  assert_int_equal(lk_engine_open(db, NULL, &f->e, &eb), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  lk_engine_close(f->e);
  lk_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static void test_where_inside_search(void **state) {
  fixture *f = *state;
  lk_filter flt = {0};
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_add_where(&flt, "price<=20", &eb), 0);
  assert_int_equal(lk_filter_add_where(&flt, "in_stock=true", &eb), 0);
  int expect = 0;
  for (int i = 0; i < N; i++) expect += i % 10 && i % 7 && i % 100 + 0.5 <= 20 && i % 3 == 0;
  assert_true(expect > 10);
  lk_hit hits[N];
  int n;
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, N, -1, hits, &n, &eb), 0);
  assert_int_equal(n, expect);
  for (int i = 0; i < n; i++) {
    int64_t id = hits[i].id;
    assert_true(id < N && id % 3 == 0 && id % 100 + 0.5 <= 20);
  }
  /* fewer wanted than match: exactly k, the best k of the matches */
  lk_hit top[5];
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, 5, -1, top, &n, &eb), 0);
  assert_int_equal(n, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(top[i].id, hits[i].id);
  /* price=19.5 matches ids 19, 219, 319 (119 = 7 x 17 has "n/a") */
  memset(&flt, 0, sizeof flt);
  assert_int_equal(lk_filter_add_where(&flt, "price=19.5", &eb), 0);
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, 10, -1, hits, &n, &eb), 0);
  assert_int_equal(n, 3);
  /* a column no item has: refused, naming it */
  memset(&flt, 0, sizeof flt);
  assert_int_equal(lk_filter_add_where(&flt, "prize<=20", &eb), 0);
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, 10, -1, hits, &n, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "'prize'"));
}

static void test_collapse_duplicates(void **state) {
  fixture *f = *state;
  lk_group g[8];
  int n;
  lk_errbuf eb = {0};
  assert_int_equal(lk_collapse_search_vector(f->e, f->vec[1], NULL, 8, LK_COLLAPSE_DUPLICATES, g, &n, &eb), 0);
  assert_int_equal(n, 8); /* still k hits */
  assert_true(g[0].hit.id == 1 || g[0].hit.id == DUP_SAME);
  assert_int_equal(g[0].n, 2); /* the other copy and the re-encoded one */
  int64_t other = g[0].hit.id == 1 ? DUP_SAME : 1;
  assert_true((g[0].member[0] == other && g[0].member[1] == DUP_NEAR) || (g[0].member[1] == other && g[0].member[0] == DUP_NEAR));
  int seen_other = 0;
  for (int i = 1; i < n; i++) {
    assert_int_not_equal(g[i].hit.id, 1);
    assert_int_not_equal(g[i].hit.id, DUP_SAME);
    assert_int_not_equal(g[i].hit.id, DUP_NEAR);
    seen_other |= g[i].hit.id == DUP_OTHER; /* near-identical but White: its own hit */
    assert_true(g[i - 1].hit.score >= g[i].hit.score);
  }
  assert_true(seen_other);
  /* none: the plain top k, as the engine gives it */
  lk_hit h[8];
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[1], NULL, 8, -1, h, &n, &eb), 0);
  assert_int_equal(lk_collapse_search_vector(f->e, f->vec[1], NULL, 8, LK_COLLAPSE_NONE, g, &n, &eb), 0);
  for (int i = 0; i < n; i++) assert_int_equal(g[i].hit.id, h[i].id);
  /* similar() of the copy: the item itself excluded, its duplicates folded into it, not hits */
  lk_group self;
  assert_int_equal(lk_collapse_similar(f->e, DUP_SAME, NULL, 3, LK_COLLAPSE_DUPLICATES, &self, g, &n, &eb), 0);
  assert_int_equal(n, 3);
  assert_int_equal(self.hit.id, DUP_SAME);
  assert_int_equal(self.n, 2);
  assert_int_equal(self.member[0], 1);
  assert_int_equal(self.member[1], DUP_NEAR);
  for (int i = 0; i < n; i++) assert_true(g[i].hit.id != 1 && g[i].hit.id != DUP_NEAR && g[i].hit.id != DUP_SAME);
  assert_int_equal(lk_collapse_similar(f->e, 999999, NULL, 3, LK_COLLAPSE_DUPLICATES, NULL, g, &n, &eb), LK_ENOTFOUND);
  /* the JSON shape */
  assert_int_equal(lk_collapse_search_vector(f->e, f->vec[1], NULL, 2, LK_COLLAPSE_DUPLICATES, g, &n, &eb), 0);
  json_t *j = lk_collapse_hits_json(f->e, g, n, LK_COLLAPSE_DUPLICATES);
  json_t *hits = json_object_get(j, "hits");
  assert_int_equal(json_array_size(hits), 2);
  assert_int_equal(json_array_size(json_object_get(json_array_get(hits, 0), "duplicates")), 2);
  assert_int_equal(json_array_size(json_object_get(json_array_get(hits, 1), "duplicates")), 0);
  json_decref(j);
}

/* Every hit folds: still k groups (more candidates fetched), with filters applied inside. */
static void test_collapse_keeps_k(void **state) {
  fixture *f = *state;
  lk_filter flt = {0};
  lk_filter_add_where(&flt, "in_stock=true", NULL);
  lk_group g[40];
  int n;
  lk_errbuf eb = {0};
  assert_int_equal(lk_collapse_search_vector(f->e, f->vec[3], &flt, 40, LK_COLLAPSE_DUPLICATES, g, &n, &eb), 0);
  assert_int_equal(n, 40);
  for (int i = 0; i < n; i++) assert_true(g[i].hit.id % 3 == 0);
  /* more wanted than there are: every group, the two copies of item 1 folded */
  size_t all = lk_engine_size(f->e);
  assert_int_equal(all, N + 6);
  lk_group *many = calloc(all, sizeof *many);
  assert_int_equal(lk_collapse_search_vector(f->e, f->vec[3], NULL, (int)all, LK_COLLAPSE_DUPLICATES, many, &n, &eb), 0);
  assert_int_equal(n, (int)all - 2);
  free(many);
}

static void test_collapse_variants(void **state) {
  fixture *f = *state;
  lk_group g[5];
  int n;
  lk_errbuf eb = {0};
  const float *q = lk_engine_vector(f->e, VAR_A);
  assert_int_equal(lk_collapse_search_vector(f->e, q, NULL, 5, LK_COLLAPSE_VARIANTS, g, &n, &eb), 0);
  assert_int_equal(n, 5);
  assert_int_equal(g[0].hit.id, VAR_A);
  assert_int_equal(g[0].n, 2);
  assert_true((g[0].member[0] == VAR_B && g[0].member[1] == VAR_C) || (g[0].member[0] == VAR_C && g[0].member[1] == VAR_B));
  json_t *j = lk_collapse_hits_json(f->e, g, n, LK_COLLAPSE_VARIANTS);
  json_t *v = json_object_get(json_array_get(json_object_get(j, "hits"), 0), "variants");
  assert_int_equal(json_array_size(v), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *m = json_array_get(v, i);
    const char *col = json_string_value(json_object_get(m, "baseColour"));
    assert_string_equal(col, json_integer_value(json_object_get(m, "id")) == VAR_B ? "Navy Blue" : "Green");
  }
  json_decref(j);
}

static void test_variant_key(void **state) {
  static const struct {
    const char *gender, *type, *name, *key;
  } cases[] = {
      {"Men", "Tshirts", "Puma Men Black Polo Tshirt", "men|tshirts|puma men polo tshirt"},
      {"Men", "Tshirts", "Puma Men Navy Blue Polo Tshirt", "men|tshirts|puma men polo tshirt"},
      {"Men", "Tshirts", "Puma Men Polo-Tshirt, OFF White", "men|tshirts|puma men polo tshirt"},
      {"Women", "Tops", "Biba Women Embroidered Kurta", "women|tops|biba women embroidered kurta"},
      {NULL, NULL, "Caf\xc3\xa9 Red Mug", "||caf\xc3\xa9 mug"},
      {"Men", "Tshirts", NULL, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lk_item it = {0};
    it.field[0] = (char *)cases[i].gender;
    it.field[3] = (char *)cases[i].type;
    it.field[8] = (char *)cases[i].name;
    char key[256];
    lk_collapse_variant_key(&it, key, sizeof key);
    assert_string_equal(key, cases[i].key);
  }
  int mode;
  assert_int_equal(lk_collapse_parse("variants", &mode), 0);
  assert_int_equal(mode, LK_COLLAPSE_VARIANTS);
  assert_int_equal(lk_collapse_parse("dupes", &mode), LK_EINVAL);
}

static void test_dups(void **state) {
  fixture *f = *state;
  lk_dups d;
  lk_errbuf eb = {0};
  assert_int_equal(lk_dups_find(f->e, LK_COLLAPSE_DUP_COS, 10, NULL, NULL, &d, &eb), 0);
  assert_int_equal(d.ngroups, 1);
  assert_int_equal(d.groups[0].n, 3);
  const lk_dup_member *m = &d.members[d.groups[0].first];
  assert_int_equal(m[0].id, 1);
  assert_int_equal(m[1].id, DUP_SAME);
  assert_int_equal(m[2].id, DUP_NEAR);
  assert_true(m[1].same_photo && !m[2].same_photo);
  assert_true(m[2].similarity >= LK_COLLAPSE_DUP_COS && m[2].similarity < 1.0f);
  assert_float_equal(d.groups[0].min_similarity, m[2].similarity, 1e-6);
  lk_dups_free(&d);
  /* a lower threshold joins the three colours of the Acme shirt? No: colours differ */
  assert_int_equal(lk_dups_find(f->e, 0.5f, 10, NULL, NULL, &d, &eb), 0);
  for (size_t g = 0; g < d.ngroups; g++)
    for (size_t i = 0; i < d.groups[g].n; i++) assert_true(d.members[d.groups[g].first + i].id < VAR_A);
  for (size_t g = 1; g < d.ngroups; g++) assert_true(d.groups[g - 1].n >= d.groups[g].n);
  lk_dups_free(&d);
  assert_int_equal(lk_dups_find(f->e, 1.5f, 10, NULL, NULL, &d, &eb), LK_EINVAL);
  lk_dups_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_where_inside_search), cmocka_unit_test(test_collapse_duplicates),
      cmocka_unit_test(test_collapse_keeps_k),    cmocka_unit_test(test_collapse_variants),
      cmocka_unit_test(test_variant_key),         cmocka_unit_test(test_dups),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
