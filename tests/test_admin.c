/* tests/test_admin.c — the owner's statistics (server/admin.h) without a server: the weak-match
 * threshold against a brute-force reading of its definition, its refusals (one kind only, a
 * stop), searches counted per hour (the ring of 24, the current hour last, a clock gone back),
 * searches made before the threshold was known classified when it is, and the answer's shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "server/admin.h"
#include "testutil.h"

#define N 60     /* items of the random catalogs */
#define NMAX 600 /* of the clustered one */
#define D 16
static const char *const kinds[] = {"Tshirts", "Shirts", "Jeans"};

typedef struct fixture {
  char *dir;
  lk_engine *e;
  int n;
  float vec[NMAX][D];
  int kind[NMAX]; /* -1: no articleType */
} fixture;

enum { RANDOM, ONE_KIND, CLUSTERED };

/* A catalog of N random unit vectors: three kinds, some items without one, one without a
 * vector; ONE_KIND: all "Tshirts"; CLUSTERED: NMAX items, 500 "Tshirts" around one direction
 * and 100 "Jeans" around another, so a T-shirt's 256 nearest are all T-shirts. */
static fixture *make(int mode) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/c.db", f->dir);
  lk_catalog *c;
  lk_errbuf eb = {0};
  assert_non_null(c = lk_test_catalog_new(db));
  srand(16);
  f->n = mode == CLUSTERED ? NMAX : N;
  for (int i = 0; i < f->n; i++) {
    lk_item it = {.id = 100 + i, .path = "p.jpg", .hash = "h", .status = "ok"};
    f->kind[i] = mode == ONE_KIND ? 0 : mode == CLUSTERED ? (i < 500 ? 0 : 2) : i % 7 == 6 ? -1 : i % 3;
    if (f->kind[i] >= 0) it.field[3] = (char *)kinds[f->kind[i]];
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    double s = 0;
    for (int d = 0; d < D; d++) {
      f->vec[i][d] = (float)rand() / RAND_MAX - 0.5f;
      if (mode == CLUSTERED && d == (f->kind[i] ? 1 : 0)) f->vec[i][d] += 8; /* the kind's direction */
      s += f->vec[i][d] * f->vec[i][d];
    }
    for (int d = 0; d < D; d++) f->vec[i][d] /= (float)sqrt(s);
    assert_int_equal(lk_catalog_put_vector(c, it.id, f->vec[i], D), 0);
  }
  lk_item bad = {.id = 5, .path = "bad.jpg", .status = "error", .error = "not an image"};
  bad.field[3] = (char *)"Jeans";
  assert_int_equal(lk_catalog_put_item(c, &bad), 0);
  lk_catalog_commit(c);
  lk_catalog_close(c);
  assert_int_equal(lk_engine_open(db, NULL, &f->e, &eb), 0);
  return f;
}

static void unmake(fixture *f) {
  lk_engine_close(f->e);
  lk_test_rmtree(f->dir);
  free(f->dir);
  free(f);
}

static int cmp_float(const void *x, const void *y) {
  float a = *(const float *)x, b = *(const float *)y;
  return (a > b) - (a < b);
}

/* The definition, by brute force: for every item with a kind, the best cosine to an item of
 * another (known) kind; their median. best gets them sorted, *n their number. */
static float reference(const fixture *f, float *best, int *nbest) {
  int n = 0;
  for (int i = 0; i < f->n; i++) {
    if (f->kind[i] < 0) continue;
    float b = -2;
    for (int j = 0; j < f->n; j++) {
      if (j == i || f->kind[j] < 0 || f->kind[j] == f->kind[i]) continue;
      float dot = 0;
      for (int d = 0; d < D; d++) dot += f->vec[i][d] * f->vec[j][d];
      if (dot > b) b = dot;
    }
    best[n++] = b;
  }
  qsort(best, (size_t)n, sizeof *best, cmp_float);
  *nbest = n;
  return n % 2 ? best[n / 2] : (best[n / 2 - 1] + best[n / 2]) / 2;
}

static void test_threshold_matches_definition(void **state) {
  fixture *f = make(RANDOM);
  float best[NMAX];
  int n;
  float want = reference(f, best, &n);
  float t = 0;
  int used = 0;
  assert_int_equal(lk_admin_weak_threshold(f->e, 200, NULL, &t, &used), 0);
  assert_int_equal(used, n); /* every item with a kind and a vector: fewer than 200 */
  assert_float_equal(t, want, 1e-4);
  /* a sample of 5 spread over the catalog: a median of 5 of those values */
  assert_int_equal(lk_admin_weak_threshold(f->e, 5, NULL, &t, &used), 0);
  assert_int_equal(used, 5);
  assert_true(t >= best[0] - 1e-4f && t <= best[n - 1] + 1e-4f);
  atomic_int stop = 1;
  assert_int_equal(lk_admin_weak_threshold(f->e, 200, &stop, &t, &used), LK_EINTR);
  assert_int_equal(lk_admin_weak_threshold(f->e, 0, NULL, &t, &used), LK_EINVAL);
  unmake(f);
  f = make(ONE_KIND); /* one kind: no neighbour of another */
  assert_int_equal(lk_admin_weak_threshold(f->e, 200, NULL, &t, &used), LK_ENOTFOUND);
  assert_int_equal(used, 0);
  unmake(f);
  /* a kind with more items than the first look (256 neighbours) takes the deeper one */
  f = make(CLUSTERED);
  want = reference(f, best, &n);
  assert_int_equal(lk_admin_weak_threshold(f->e, NMAX, NULL, &t, &used), 0);
  assert_int_equal(used, NMAX);
  assert_float_equal(t, want, 1e-4);
  unmake(f);
}

static json_t *stats(lk_admin *a, int64_t now) {
  lk_api_reply r;
  assert_int_equal(lk_admin_stats(a, NULL, NULL, now, &r), 0);
  assert_int_equal(r.status, 200);
  return r.body;
}

static int64_t jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static json_t *hour_at(json_t *o, int i) { return json_array_get(json_object_get(o, "searches_per_hour"), (size_t)i); }

static void test_counts_per_hour(void **state) {
  fixture *f = make(RANDOM);
  lk_admin *a;
  assert_int_equal(lk_admin_new(&a), 0);
  const int64_t t0 = 1796547600 + 120; /* 2026-12-06T09:02Z */
  /* before the threshold is known: counted, classified later */
  lk_admin_note_search(a, t0, 3, 0.9f);
  lk_admin_note_search(a, t0 + 60, 3, 0.2f);
  lk_admin_note_search(a, t0 + 120, 0, 0);
  lk_api_reply r;
  assert_int_equal(lk_admin_stats(a, f->e, NULL, t0 + 180, &r), 0);
  json_t *o = r.body;
  assert_int_equal(jint(o, "items"), N + 1);
  assert_int_equal(jint(o, "searchable"), N);
  assert_int_equal(jint(o, "searches"), 3);
  assert_true(json_is_null(json_object_get(o, "weak_share")));
  assert_true(json_is_null(json_object_get(o, "weak_threshold")));
  assert_int_equal(json_array_size(json_object_get(o, "searches_per_hour")), LK_ADMIN_HOURS);
  assert_string_equal(json_string_value(json_object_get(hour_at(o, LK_ADMIN_HOURS - 1), "hour")), "2026-12-06T09:00Z");
  assert_string_equal(json_string_value(json_object_get(hour_at(o, 0), "hour")), "2026-12-05T10:00Z");
  json_decref(o);
  lk_admin_set_threshold(a, 0.5f, 40); /* 0.2 and the search without hits are weak */
  lk_admin_note_search(a, t0 + 3600, 5, 0.4f); /* the next hour: weak */
  lk_admin_note_search(a, t0 + 3601, 5, 0.5f); /* at the threshold: not weak */
  o = stats(a, t0 + 3700);
  assert_int_equal(jint(o, "searches"), 5);
  assert_int_equal(jint(o, "weak"), 3);
  assert_float_equal(json_real_value(json_object_get(o, "weak_share")), 0.6, 1e-9);
  assert_float_equal(json_real_value(json_object_get(o, "weak_threshold")), 0.5, 1e-9);
  assert_int_equal(jint(o, "weak_threshold_items"), 40);
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 1), "searches"), 2);
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 1), "weak"), 1);
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 2), "searches"), 3);
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 2), "weak"), 2);
  json_decref(o);
  /* 23 hours later the first hour is the oldest shown; 24 hours later it is gone */
  o = stats(a, t0 + 23 * 3600);
  assert_int_equal(jint(hour_at(o, 0), "searches"), 3);
  assert_int_equal(jint(o, "searches"), 5);
  json_decref(o);
  o = stats(a, t0 + 24 * 3600);
  assert_int_equal(jint(o, "searches"), 2);
  json_decref(o);
  /* a search a day later reuses the first hour's slot; one stamped before it (a clock gone
   * back a day) is dropped rather than counted in the wrong hour */
  lk_admin_note_search(a, t0 + 24 * 3600, 1, 0.9f);
  lk_admin_note_search(a, t0, 1, 0.9f);
  o = stats(a, t0 + 24 * 3600);
  assert_int_equal(jint(o, "searches"), 3);
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 1), "searches"), 1);
  json_decref(o);
  /* from a search answer's body, at the current time (a fresh ring: this one is a day ahead) */
  lk_admin_free(a);
  assert_int_equal(lk_admin_new(&a), 0);
  lk_admin_set_threshold(a, 0.5f, 40);
  json_t *hit = json_pack("{s:[{s:f}]}", "hits", "score", 0.1);
  json_t *none = json_pack("{s:[]}", "hits");
  lk_admin_note_search_reply(a, hit);
  lk_admin_note_search_reply(a, none);
  json_decref(hit);
  json_decref(none);
  o = stats(a, (int64_t)time(NULL));
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 1), "searches"), 2);
  assert_int_equal(jint(hour_at(o, LK_ADMIN_HOURS - 1), "weak"), 2);
  json_decref(o);
  lk_admin_free(a);
  lk_admin_free(NULL);
  unmake(f);
}

/* The threshold thread over a borrowed engine: the threshold appears, and freeing joins it. */
static void test_threshold_thread(void **state) {
  fixture *f = make(RANDOM);
  lk_admin *a;
  assert_int_equal(lk_admin_new(&a), 0);
  assert_int_equal(lk_admin_start_threshold(a, f->e, NULL, NULL, NULL), 0);
  json_t *o = NULL;
  for (int i = 0; i < 500; i++) { /* 5 s at most */
    o = stats(a, 1796547600);
    if (!json_is_null(json_object_get(o, "weak_threshold"))) break;
    json_decref(o);
    o = NULL;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_non_null(o);
  assert_true(jint(o, "weak_threshold_items") > 0);
  json_decref(o);
  lk_admin_free(a);
  assert_int_equal(lk_admin_new(&a), 0); /* freed while it may still run: stopped and joined */
  assert_int_equal(lk_admin_start_threshold(a, f->e, NULL, NULL, NULL), 0);
  lk_admin_free(a);
  unmake(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threshold_matches_definition),
      cmocka_unit_test(test_counts_per_hour),
      cmocka_unit_test(test_threshold_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
