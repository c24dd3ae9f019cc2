/* tests/test_search.c — the search engine on hand-made catalogs (no model needed): filters
 * applied inside the search, k larger than the matches, similar(), JSON shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog/catalog.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "search/query.h"
#include "search/results.h"
#include "testutil.h"

#define N 2000
#define D 16

typedef struct fixture {
  char *dir;
  lk_engine *e;
  float vec[N][D];
} fixture;

static const char *genders[] = {"Men", "Women", "Boys", "Girls"};
static const char *types[] = {"Tshirts", "Shirts", "Jeans", "Heels", "Watches"};

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", f->dir);
  lk_catalog *c;
  lk_errbuf eb = {0};
  assert_non_null(c = lk_test_catalog_new(db));
  srand(7);
  for (int i = 0; i < N; i++) {
    lk_item it = {0};
    char name[64], year[8];
    it.id = 1000 + i * 3; /* sparse ids */
    snprintf(name, sizeof name, "Product %d", i);
    snprintf(year, sizeof year, "%d", 2010 + i % 5);
    it.path = "p.jpg";
    it.hash = name;
    it.status = "ok";
    it.field[0] = (char *)genders[i % 4];
    it.field[3] = (char *)types[i % 5];
    it.field[4] = i % 2 ? "Black" : "Blue";
    it.field[6] = year;
    it.field[8] = name;
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    double s = 0;
    for (int d = 0; d < D; d++) {
      f->vec[i][d] = (float)rand() / RAND_MAX - 0.5f;
      s += f->vec[i][d] * f->vec[i][d];
    }
    for (int d = 0; d < D; d++) f->vec[i][d] /= (float)sqrt(s);
    assert_int_equal(lk_catalog_put_vector(c, it.id, f->vec[i], D), 0);
  }
  /* An item without a vector (a failed photo). */
  lk_item bad = {.id = 5, .path = "bad.jpg", .status = "error", .error = "not an image"};
  assert_int_equal(lk_catalog_put_item(c, &bad), 0);
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

static void test_counts(void **state) {
  fixture *f = *state;
  assert_int_equal(lk_engine_size(f->e), N);
  assert_int_equal(lk_engine_item_count(f->e), N + 1);
  assert_int_equal(lk_engine_dim(f->e), D);
  assert_non_null(lk_engine_item(f->e, 5));
  assert_null(lk_engine_vector(f->e, 5));
  assert_null(lk_engine_item(f->e, 1001));
}

static void test_unfiltered_matches_bruteforce(void **state) {
  fixture *f = *state;
  lk_hit hits[10];
  int n;
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[17], NULL, 10, -1, hits, &n, NULL), 0);
  assert_int_equal(n, 10);
  assert_int_equal(hits[0].id, 1000 + 17 * 3);
  assert_float_equal(hits[0].score, 1.0, 1e-5);
  /* brute force: count how many items score above hits[9] */
  int above = 0;
  for (int i = 0; i < N; i++) {
    float s = 0;
    for (int d = 0; d < D; d++) s += f->vec[i][d] * f->vec[17][d];
    if (s > hits[9].score + 1e-6f) above++;
  }
  assert_int_equal(above, 9);
}

/* Scores are cosines (finite, in -1..1): a query that is not finite and normalised is refused
 * (issue 15, item 4: a 1e30 vector once scored 1.9e31). */
static void test_query_must_be_unit(void **state) {
  fixture *f = *state;
  lk_hit hits[10];
  int n;
  lk_errbuf eb = {0};
  float q[D];
  const float scale[] = {1e30f, 2.0f, 0.5f};
  for (size_t i = 0; i < sizeof scale / sizeof *scale; i++) {
    for (int d = 0; d < D; d++) q[d] = f->vec[3][d] * scale[i];
    assert_int_equal(lk_engine_search_vector(f->e, q, NULL, 10, -1, hits, &n, &eb), LK_EINVAL);
    assert_non_null(strstr(eb.msg, "not finite and normalised"));
  }
  memcpy(q, f->vec[3], sizeof q);
  q[5] = NAN;
  assert_int_equal(lk_engine_search_vector(f->e, q, NULL, 10, -1, hits, &n, &eb), LK_EINVAL);
  q[5] = INFINITY;
  assert_int_equal(lk_engine_search_vector(f->e, q, NULL, 10, -1, hits, &n, &eb), LK_EINVAL);
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[3], NULL, 10, -1, hits, &n, &eb), 0);
  for (int i = 0; i < n; i++) assert_true(isfinite(hits[i].score) && hits[i].score >= -1.0001f && hits[i].score <= 1.0001f);
}

static void test_filters(void **state) {
  fixture *f = *state;
  lk_filter flt = {0};
  lk_errbuf eb = {0};
  assert_int_equal(lk_filter_add(&flt, "gender=women", &eb), 0);
  assert_int_equal(lk_filter_add(&flt, "articleType=Heels", &eb), 0);
  assert_int_equal(lk_filter_add(&flt, "ARTICLETYPE=jeans", &eb), 0);
  /* Women (i%4==1) and (Heels i%5==3 or Jeans i%5==2): count by hand */
  int expect = 0;
  for (int i = 0; i < N; i++) expect += i % 4 == 1 && (i % 5 == 3 || i % 5 == 2);
  lk_hit hits[N];
  int n;
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, N, -1, hits, &n, &eb), 0);
  assert_int_equal(n, expect);
  for (int i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item(f->e, hits[i].id);
    assert_string_equal(it->field[0], "Women");
    assert_true(!strcmp(it->field[3], "Heels") || !strcmp(it->field[3], "Jeans"));
    if (i) assert_true(hits[i - 1].score >= hits[i].score);
  }
  /* k smaller than the matches: exactly k, and they are the best k of the matches */
  lk_hit top[3];
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, 3, -1, top, &n, &eb), 0);
  assert_int_equal(n, 3);
  for (int i = 0; i < 3; i++) assert_int_equal(top[i].id, hits[i].id);
}

static void test_filter_errors(void **state) {
  fixture *f = *state;
  lk_filter flt = {0};
  lk_errbuf eb = {0};
  /* not a field: a comparison on an extra column, which no item has: the search says so */
  assert_int_equal(lk_filter_add(&flt, "colour=Red", &eb), 0);
  lk_hit hits[3];
  int n;
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, 3, -1, hits, &n, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "no item in the catalog has a column 'colour'"));
  memset(&flt, 0, sizeof flt);
  assert_int_equal(lk_filter_add(&flt, "baseColour=Cr\xe8me", &eb), LK_EINVAL); /* Latin-1 byte */
  assert_non_null(strstr(eb.msg, "baseColour: the value is not UTF-8"));
  assert_int_equal(lk_filter_add(&flt, "gender", &eb), LK_EINVAL);
  assert_int_equal(lk_filter_add(&flt, "=x", &eb), LK_EINVAL);
  assert_int_equal(flt.n, 0);
}

static void test_no_match(void **state) {
  fixture *f = *state;
  lk_filter flt = {0};
  lk_filter_add(&flt, "usage=Nowhere", NULL);
  lk_hit hits[5];
  int n = -1;
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], &flt, 5, -1, hits, &n, NULL), 0);
  assert_int_equal(n, 0);
  assert_int_equal(hits[0].id, -1);
}

static void test_similar(void **state) {
  fixture *f = *state;
  lk_hit hits[5];
  int n;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_similar(f->e, 1000 + 3 * 40, NULL, 5, hits, &n, &eb), 0);
  assert_int_equal(n, 5);
  for (int i = 0; i < n; i++) assert_int_not_equal(hits[i].id, 1000 + 3 * 40);
  assert_int_equal(lk_engine_similar(f->e, 5, NULL, 5, hits, &n, &eb), LK_ENOTFOUND);
  assert_non_null(strstr(eb.msg, "no vector"));
  assert_int_equal(lk_engine_similar(f->e, 424242, NULL, 5, hits, &n, &eb), LK_ENOTFOUND);
  assert_int_equal(lk_engine_search_vector(f->e, f->vec[0], NULL, 0, -1, hits, &n, &eb), LK_EINVAL);
}

static void test_json_shape(void **state) {
  fixture *f = *state;
  lk_hit hits[2];
  int n;
  lk_engine_search_vector(f->e, f->vec[2], NULL, 2, -1, hits, &n, NULL);
  json_t *j = lk_results_hits_json(f->e, hits, n);
  json_t *arr = json_object_get(j, "hits");
  assert_int_equal(json_array_size(arr), 2);
  json_t *h0 = json_array_get(arr, 0);
  assert_int_equal(json_integer_value(json_object_get(h0, "id")), 1006);
  assert_string_equal(json_string_value(json_object_get(h0, "gender")), "Boys");
  assert_int_equal(json_integer_value(json_object_get(h0, "year")), 2012);
  assert_true(json_is_null(json_object_get(h0, "season")));
  assert_true(json_is_real(json_object_get(h0, "score")));
  json_decref(j);
}

/* The year is a JSON number only when the stored text is a number that fits: a 23-digit year
 * (or a word shifted into the column by a stray comma) stays the text as stored, not clamped
 * to 9223372036854775807. */
static void test_json_year(void **state) {
  (void)state;
  static const struct { const char *year; long want; const char *text; } yc[] = {
      {"2012", 2012, NULL},
      {"12345678901234567890123", 0, "12345678901234567890123"},
      {"-99999999999999999999", 0, "-99999999999999999999"},
      {"Spring", 0, "Spring"},
      {"", 0, ""},
      {"2012x", 0, "2012x"},
  };
  for (size_t i = 0; i < sizeof yc / sizeof yc[0]; i++) {
    lk_item it = {.id = 1};
    it.field[6] = (char *)yc[i].year;
    json_t *o = lk_results_item_json(&it, 0, 0);
    json_t *y = json_object_get(o, "year");
    if (yc[i].text) {
      if (!json_is_string(y) || strcmp(json_string_value(y), yc[i].text))
        fail_msg("year '%s' not kept as text", yc[i].year);
    } else {
      assert_true(json_is_integer(y));
      assert_int_equal(json_integer_value(y), yc[i].want);
    }
    json_decref(o);
  }
  /* text that is not UTF-8 (an item that did not come through the catalog's repair) keeps its
   * key, repaired, instead of vanishing */
  lk_item it = {.id = 2};
  it.field[4] = (char *)"Cr\xe8me";
  json_t *o = lk_results_item_json(&it, 0, 0);
  assert_string_equal(json_string_value(json_object_get(o, "baseColour")), "Cr\xef\xbf\xbdme");
  json_decref(o);
  json_t *t = lk_results_text("/data/caf\xe9.db");
  assert_string_equal(json_string_value(t), "/data/caf\xef\xbf\xbd.db");
  json_decref(t);
  assert_true(json_is_null(t = lk_results_text(NULL)));
  json_decref(t);
}

/* The approximate index in the engine: filters still return min(k, #allowed) hits, all
 * allowed, also when the nearest lists hold none of them (nprobe 1 of ~67 lists): selective
 * filters (every allowed row scored) and a broad one (lists probed until k allowed are seen). */
static void test_ivf_filters(void **state) {
  fixture *f = *state;
  lk_errbuf eb = {0};
  assert_string_equal(lk_engine_index_name(f->e), "exact"); /* auto: exact below 200k */
  assert_int_equal(lk_engine_index_choice(LK_ENGINE_INDEX_AUTO, LK_ENGINE_IVF_AUTO_MIN), LK_ENGINE_INDEX_IVF);
  assert_int_equal(lk_engine_index_choice(LK_ENGINE_INDEX_IVF, 10), LK_ENGINE_INDEX_EXACT);
  int kind = -1;
  assert_int_equal(lk_engine_index_parse("ivf", &kind), 0);
  assert_int_equal(kind, LK_ENGINE_INDEX_IVF);
  assert_int_equal(lk_engine_index_parse("hnsw", &kind), LK_EINVAL);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  o.nprobe = 1;
  lk_engine *e = NULL;
  assert_int_equal(lk_engine_open(lk_test_path("%s/c.db", f->dir), &o, &e, &eb), 0);
  assert_string_equal(lk_engine_index_name(e), "ivf");
  lk_hit hits[N];
  int n;
  /* unfiltered: the query item first, with its exact score (the re-rank uses the floats) */
  assert_int_equal(lk_engine_search_vector(e, f->vec[17], NULL, 10, -1, hits, &n, &eb), 0);
  assert_int_equal(n, 10);
  assert_int_equal(hits[0].id, 1000 + 17 * 3);
  assert_float_equal(hits[0].score, 1.0, 1e-5);
  /* each query item, three filters of different selectivity */
  const char *flt_sets[3][2] = {{"gender=Women", "articleType=Heels"}, {"gender=Men", NULL}, {"productDisplayName=Product 7", NULL}};
  for (int q = 0; q < N; q += 97)
    for (int s = 0; s < 3; s++) {
      lk_filter flt = {0};
      for (int c = 0; c < 2 && flt_sets[s][c]; c++) assert_int_equal(lk_filter_add(&flt, flt_sets[s][c], &eb), 0);
      int allowed = 0;
      for (int i = 0; i < N; i++)
        allowed += s == 0 ? i % 4 == 1 && i % 5 == 3 : s == 1 ? i % 4 == 0 : i == 7;
      for (int k = 1; k <= N; k *= 4) {
        assert_int_equal(lk_engine_search_vector(e, f->vec[q], &flt, k, -1, hits, &n, &eb), 0);
        assert_int_equal(n, k < allowed ? k : allowed);
        for (int i = 0; i < n; i++) {
          int row = (int)(hits[i].id - 1000) / 3;
          int ok = s == 0 ? row % 4 == 1 && row % 5 == 3 : s == 1 ? row % 4 == 0 : row == 7;
          assert_true(ok);
          if (i) assert_true(hits[i - 1].score >= hits[i].score);
        }
      }
    }
  /* similar() never returns the item itself */
  assert_int_equal(lk_engine_similar(e, 1000 + 3 * 40, NULL, 5, hits, &n, &eb), 0);
  assert_int_equal(n, 5);
  for (int i = 0; i < n; i++) assert_int_not_equal(hits[i].id, 1000 + 3 * 40);
  lk_engine_close(e);
}

/* The engine's IVF at its defaults (search/engine.h: coarse-only 128-d codes, rerank; a
 * catalog under LK_ENGINE_IVF_MIN_SCAN rows has every list probed) returns the exact scan's
 * top-10 with exact scores on a clustered catalog whose rows are wider than the codes (so the
 * codes drop dimensions, as 128 of 446 do on a tuned catalog), for queries near catalog rows;
 * so does a probe of LK_ENGINE_IVF_NPROBE of its ~95 lists, and the same check fails at
 * nprobe 1, so it can tell a too-shallow probe. */
#define NX 4000
#define DX 192
#define NCLUST 40
static int ivf_exact_misses(const char *db, const float *rows, const float *qs, int nq, int nprobe) {
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  o.nprobe = nprobe;
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_open(db, &o, &e, &eb), 0);
  assert_string_equal(lk_engine_index_name(e), "ivf");
  int misses = 0;
  for (int q = 0; q < nq; q++) {
    const float *v = qs + (size_t)q * DX;
    float best[10];
    int64_t ids[10];
    for (int j = 0; j < 10; j++) best[j] = -INFINITY, ids[j] = -1;
    for (int i = 0; i < NX; i++) { /* the exact top-10 by insertion */
      float s = 0;
      for (int d = 0; d < DX; d++) s += v[d] * rows[(size_t)i * DX + d];
      int j = 10;
      while (j > 0 && s > best[j - 1]) j--;
      if (j == 10) continue;
      memmove(best + j + 1, best + j, sizeof(float) * (size_t)(9 - j));
      memmove(ids + j + 1, ids + j, sizeof(int64_t) * (size_t)(9 - j));
      best[j] = s, ids[j] = i + 1;
    }
    lk_hit h[10];
    int n = 0;
    assert_int_equal(lk_engine_search_vector(e, v, NULL, 10, -1, h, &n, &eb), 0);
    assert_int_equal(n, 10);
    for (int j = 0; j < 10; j++) {
      int found = 0;
      for (int i = 0; i < 10; i++) found |= h[i].id == ids[j];
      misses += !found;
      if (nprobe == 0) assert_float_equal(h[j].score, best[j], 1e-4); /* exact re-rank */
    }
  }
  lk_engine_close(e);
  return misses;
}

static void test_ivf_exact_top10(void **state) {
  (void)state;
  char *dir = lk_test_mkdtemp();
  char db[512], hash[16];
  snprintf(db, sizeof db, "%s/x.db", dir);
  float *rows = malloc(sizeof(float) * NX * DX), *cent = malloc(sizeof(float) * NCLUST * DX);
  float *qs = malloc(sizeof(float) * 100 * DX);
  lk_catalog *c;
  assert_non_null(c = lk_test_catalog_new(db));
  srand(19);
  for (int k = 0; k < NCLUST; k++) lk_test_unit_vector(cent + (size_t)k * DX, DX);
  /* row = its cluster's centre + noise whose spread falls with the dimension (as embeddings'
   * principal components do), unit length; queries: rows 37 q moved further off */
  for (int i = 0; i < NX + 100; i++) {
    float *v = i < NX ? rows + (size_t)i * DX : qs + (size_t)(i - NX) * DX;
    const float *src = i < NX ? cent + (size_t)(i % NCLUST) * DX : rows + (size_t)(37 * (i - NX)) * DX;
    double s = 0;
    for (int d = 0; d < DX; d++) {
      v[d] = src[d] + (i < NX ? 0.6f : 0.3f) * ((float)rand() / RAND_MAX - 0.5f) / (1.0f + d / 24.0f);
      s += v[d] * v[d];
    }
    for (int d = 0; d < DX; d++) v[d] /= (float)sqrt(s);
    if (i >= NX) continue;
    snprintf(hash, sizeof hash, "h%d", i);
    lk_item it = {.id = i + 1, .path = "p.jpg", .hash = hash, .status = "ok"};
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, it.id, v, DX), 0);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  assert_int_equal(ivf_exact_misses(db, rows, qs, 100, 0), 0);
  assert_int_equal(ivf_exact_misses(db, rows, qs, 100, LK_ENGINE_IVF_NPROBE), 0);
  assert_true(ivf_exact_misses(db, rows, qs, 100, 1) > 0);
  free(rows);
  free(cent);
  free(qs);
  lk_test_rmtree(dir);
  free(dir);
}

/* The IVF's facet columns (search/facetcode.h) on a catalog of NC items: gender in two cases
 * and sometimes missing, 300 article types (the first 254 coded, the rest "other"), years,
 * an extra column. */
#define NC 3000
#define NTYPES 300
static const char *facet_gender(int i) {
  static const char *g[] = {"Men", "Women", "Boys", "Girls", "WOMEN"};
  return i % 11 == 0 ? NULL : g[i % 7 == 1 ? 4 : i % 4];
}

static void facet_item(int i, lk_item *it, char *type, char *year, char *extra) {
  memset(it, 0, sizeof *it);
  it->id = 10 + i;
  it->path = "p.jpg";
  it->status = "ok";
  it->field[0] = (char *)facet_gender(i);
  sprintf(type, "T%03d", i % NTYPES);
  it->field[3] = type;
  sprintf(year, "%d", 2010 + i % 6);
  it->field[6] = year;
  sprintf(extra, "{\"price\": %d}", i % 100);
  it->extra = extra;
}

/* Searches e with each filter (strings, NULL-ended; one set per row) against the exact engine
 * x: the same hits (ids in order, scores within 1e-5), all passing, min(k, #passing) of them;
 * in_index[s]: whether the IVF's columns should answer set s (-1: not asked). */
static void same_as_exact(const lk_engine *e, const lk_engine *x, const char *const sets[][3], const int *in_index,
                          int nsets, const float (*q)[D], int nq) {
  lk_errbuf eb = {0};
  static lk_hit a[64], b[64];
  for (int s = 0; s < nsets; s++) {
    lk_filter flt = {0};
    for (int c = 0; c < 3 && sets[s][c]; c++) assert_int_equal(lk_filter_add(&flt, sets[s][c], &eb), 0);
    if (in_index[s] >= 0) assert_int_equal(lk_engine_filter_in_index(e, &flt), in_index[s]);
    assert_int_equal(lk_engine_filter_in_index(x, &flt), 0); /* the exact index walks */
    size_t passing = 0;
    for (size_t i = 0; i < lk_engine_item_count(e); i++) {
      const lk_item *it = lk_engine_item_at(e, i);
      passing += lk_engine_vector(e, it->id) && lk_filter_match(it, &flt, NULL);
    }
    for (int j = 0; j < nq; j++)
      for (int k = 1; k <= 41; k += k == 1 ? 9 : 30) { /* 1, 10, 40: under the IVF's exact re-rank of 50 */
        int n = 0, m = 0;
        assert_int_equal(lk_engine_search_vector(e, q[j], &flt, k, -1, a, &n, &eb), 0);
        assert_int_equal(lk_engine_search_vector(x, q[j], &flt, k, -1, b, &m, &eb), 0);
        assert_int_equal(n, (size_t)k < passing ? (size_t)k : passing);
        assert_int_equal(n, m);
        for (int i = 0; i < n; i++) {
          assert_true(lk_filter_match(lk_engine_item(e, a[i].id), &flt, NULL));
          if (a[i].id != b[i].id) fprintf(stderr, "set %d q %d k %d i %d: %lld %g vs %lld %g\n", s, j, k, i, (long long)a[i].id, a[i].score, (long long)b[i].id, b[i].score);
          assert_int_equal(a[i].id, b[i].id);
          assert_float_equal(a[i].score, b[i].score, 1e-5);
        }
      }
  }
}

/* Filters on facet fields run inside the IVF's list scan and give the exact engine's filtered
 * top-k at full probe; a value coded "other", an extra column and productDisplayName walk the
 * items and are still right; a derived engine never returns what it deleted, also when the
 * deleted rows crowd the columns' answer; a saved index mapped again answers the same, and is
 * rebuilt once an item's fields changed under it. */
static void test_ivf_facet_columns(void **state) {
  (void)state;
  char *dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/f.db", dir);
  char dbs[512], lkx[600];
  snprintf(dbs, sizeof dbs, "%s", db);
  assert_int_equal(lk_engine_index_path(dbs, lkx, sizeof lkx), 0);
  static float vec[NC][D];
  lk_catalog *c;
  lk_errbuf eb = {0};
  assert_non_null(c = lk_test_catalog_new(dbs));
  srand(11);
  for (int i = 0; i < NC; i++) {
    lk_item it;
    char type[16], year[8], extra[32];
    facet_item(i, &it, type, year, extra);
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    lk_test_unit_vector(vec[i], D);
    assert_int_equal(lk_catalog_put_vector(c, it.id, vec[i], D), 0);
  }
  lk_catalog_commit(c);
  lk_catalog_close(c);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  o.nprobe = 100000; /* every list: the IVF's answers are then exact */
  lk_engine *e = NULL, *x = NULL, *d = NULL, *dx = NULL;
  assert_int_equal(lk_engine_open(dbs, &o, &e, &eb), 0);
  assert_string_equal(lk_engine_index_name(e), "ivf");
  o.index = LK_ENGINE_INDEX_EXACT;
  assert_int_equal(lk_engine_open(dbs, &o, &x, &eb), 0);
  static const char *const sets[][3] = {
      {"gender=women", NULL},                                  /* "Women" and "WOMEN" */
      {"gender=Women", "articleType=T010", NULL},              /* selective */
      {"gender=Men", "gender=Boys", "year>=2014"},             /* a set, a comparison on a field */
      {"articleType=T280", NULL},                              /* coded "other" with others: walks */
      {"articleType=T010", "articleType=T290", NULL},          /* the same */
      {"year!=2012", "gender=Girls", NULL},                    /* != passes every "other" year */
      {"price<30", "gender=Men", NULL},                        /* an extra column: walks */
      {"productDisplayName=x", NULL},                          /* not a column: walks, no hit */
      {"gender=Nobody", NULL},                                 /* nothing passes: no hit */
  };
  static const int in_index[] = {1, 1, 1, 0, 0, 1, 0, 0, 1};
  int nsets = (int)(sizeof sets / sizeof *sets);
  float q[4][D];
  for (int j = 0; j < 4; j++) lk_test_unit_vector(q[j], D);
  same_as_exact(e, x, sets, in_index, nsets, (const float(*)[D])q, 4);
  /* derived engines: Women items with i % 3 == 0 deleted, every 5th item's vector replaced,
   * and q[0]'s 40 nearest Men deleted (they crowd the columns' answer: k + 8 asked) */
  lk_hit near[40];
  int nn = 0;
  lk_filter men = {0};
  assert_int_equal(lk_filter_add(&men, "gender=Men", &eb), 0);
  assert_int_equal(lk_engine_search_vector(x, q[0], &men, 40, -1, near, &nn, &eb), 0);
  assert_int_equal(nn, 40);
  static lk_engine_change ch[NC];
  static lk_item its[NC];
  static char tnames[NC][16], years[NC][8], extras[NC][32];
  static float nv[NC][D];
  int m = 0;
  for (int i = 0; i < NC; i++) {
    int del = (facet_gender(i) && !strcasecmp(facet_gender(i), "Women") && i % 3 == 0);
    for (int j = 0; j < nn; j++) del |= near[j].id == 10 + i;
    if (del) ch[m++] = (lk_engine_change){10 + i, NULL, NULL, 0};
    else if (i % 5 == 0) {
      facet_item(i, &its[i], tnames[i], years[i], extras[i]);
      lk_test_unit_vector(nv[i], D);
      ch[m++] = (lk_engine_change){10 + i, &its[i], nv[i], D};
    }
  }
  assert_int_equal(lk_engine_derive(e, ch, (size_t)m, &d, &eb), 0);
  assert_int_equal(lk_engine_derive(x, ch, (size_t)m, &dx, &eb), 0);
  same_as_exact(d, dx, sets, in_index, nsets, (const float(*)[D])q, 4);
  lk_engine_close(d);
  lk_engine_close(dx);
  /* the saved index: mapped, the same answers */
  assert_int_equal(lk_engine_save_index(e, lkx, &eb), 0);
  lk_engine_close(e);
  o.index = LK_ENGINE_INDEX_IVF;
  assert_int_equal(lk_engine_open(dbs, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_index_state(e), LK_ENGINE_LKX_MAPPED);
  same_as_exact(e, x, sets, in_index, nsets, (const float(*)[D])q, 4);
  lk_engine_close(e);
  /* an item's gender changed (its vector not): the file's codes are stale, the IVF rebuilt;
   * and a new item of a new gender */
  assert_int_equal(lk_catalog_open(dbs, LK_CATALOG_CREATE, &c, &eb), 0);
  assert_int_equal(lk_catalog_begin(c), 0);
  lk_item it;
  char type[16], year[8], extra[32];
  facet_item(0, &it, type, year, extra);
  it.field[0] = "Girls";
  assert_int_equal(lk_catalog_put_item(c, &it), 0);
  facet_item(NC, &it, type, year, extra);
  it.field[0] = "Unisex";
  assert_int_equal(lk_catalog_put_item(c, &it), 0);
  assert_int_equal(lk_catalog_put_vector(c, it.id, q[1], D), 0);
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  assert_int_equal(lk_engine_open(dbs, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_index_state(e), LK_ENGINE_LKX_BUILT);
  assert_non_null(strstr(lk_engine_index_note(e), "facet"));
  lk_engine_close(x);
  o.index = LK_ENGINE_INDEX_EXACT;
  assert_int_equal(lk_engine_open(dbs, &o, &x, &eb), 0);
  static const char *const sets2[][3] = {{"gender=Girls", NULL}, {"gender=Unisex", NULL}, {"gender=Men", NULL}};
  static const int in2[] = {1, 1, 1};
  same_as_exact(e, x, sets2, in2, 3, (const float(*)[D])q, 4);
  /* saved again, then an item added: the file behind the catalog is mapped, the new item coded */
  assert_int_equal(lk_engine_save_index(e, lkx, &eb), 0);
  lk_engine_close(e);
  lk_engine_close(x);
  assert_int_equal(lk_catalog_open(dbs, LK_CATALOG_CREATE, &c, &eb), 0);
  assert_int_equal(lk_catalog_begin(c), 0);
  facet_item(NC + 1, &it, type, year, extra);
  it.field[0] = "Kids";
  assert_int_equal(lk_catalog_put_item(c, &it), 0);
  assert_int_equal(lk_catalog_put_vector(c, it.id, q[2], D), 0);
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  o.index = LK_ENGINE_INDEX_IVF;
  assert_int_equal(lk_engine_open(dbs, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_index_state(e), LK_ENGINE_LKX_BEHIND);
  o.index = LK_ENGINE_INDEX_EXACT;
  assert_int_equal(lk_engine_open(dbs, &o, &x, &eb), 0);
  static const char *const sets3[][3] = {{"gender=Kids", NULL}, {"gender=Unisex", NULL}, {"gender=Girls", NULL}};
  same_as_exact(e, x, sets3, in2, 3, (const float(*)[D])q, 4);
  lk_engine_close(e);
  lk_engine_close(x);
  lk_test_rmtree(dir);
  free(dir);
}

/* Multi-crop of thin photos (a side under 8 px): the whole photo is still searched (issue 15,
 * item 9: they returned 0 hits). The embedder is a stand-in that returns a catalog vector. */
static int fake_embed(void *ctx, const lk_image *img, float *vec, lk_errbuf *err) {
  memcpy(vec, ctx, sizeof(float) * D);
  return 0;
}

static void test_crops_thin_photos(void **state) {
  fixture *f = *state;
  lk_embed_pool *pool = NULL;
  assert_int_equal(lk_embed_pool_new_fn(fake_embed, f->vec[0], D, 0, &pool, NULL), 0);
  lk_engine_set_pool(f->e, pool);
  lk_embed_pool_free(pool);
  static const int sizes[][2] = {{200, 5}, {5, 200}, {1, 1}, {7, 7}, {8, 8}, {300, 400}};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    int boxes[LK_ENGINE_CROPS][4];
    int nb = lk_engine_crop_boxes(sizes[i][0], sizes[i][1], boxes);
    assert_true(nb >= 1 && nb <= LK_ENGINE_CROPS);
    assert_true(boxes[0][0] == 0 && boxes[0][1] == 0 && boxes[0][2] == sizes[i][0] && boxes[0][3] == sizes[i][1]);
    lk_image img = {sizes[i][0], sizes[i][1], calloc((size_t)sizes[i][0] * sizes[i][1], 3)};
    lk_hit hits[5];
    int n = -1;
    lk_errbuf eb = {0};
    lk_query q;
    lk_query_init(&q);
    q.k = 5;
    q.multi_crop = 1;
    assert_int_equal(lk_engine_search_pixels(f->e, img.px, img.w, img.h, (size_t)img.w * 3, &q, hits, &n, NULL, &eb), 0);
    if (n != 5) fail_msg("%dx%d: %d hits", sizes[i][0], sizes[i][1], n);
    free(img.px);
  }
  int all[LK_ENGINE_CROPS][4];
  assert_int_equal(lk_engine_crop_boxes(300, 400, all), LK_ENGINE_CROPS); /* a normal photo: every crop */
}

static void test_missing_db(void **state) {
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  assert_int_not_equal(lk_engine_open("/nonexistent/x.db", NULL, &e, &eb), 0);
  assert_null(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts),      cmocka_unit_test(test_unfiltered_matches_bruteforce),
      cmocka_unit_test(test_filters),     cmocka_unit_test(test_filter_errors),
      cmocka_unit_test(test_query_must_be_unit),
      cmocka_unit_test(test_no_match),    cmocka_unit_test(test_similar),
      cmocka_unit_test(test_json_shape),  cmocka_unit_test(test_json_year),
      cmocka_unit_test(test_ivf_filters),
      cmocka_unit_test(test_ivf_exact_top10),
      cmocka_unit_test(test_ivf_facet_columns),
      cmocka_unit_test(test_missing_db),
      cmocka_unit_test(test_crops_thin_photos),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
