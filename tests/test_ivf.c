/* tests/test_ivf.c — the IVF index (index/ivf.h) on clustered synthetic data: recall@10
 * against brute force above a floor (codes only, and with the exact re-rank), filters that
 * never let a disallowed or excluded row through and still fill k, and bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "index/ivf.h"
#include "testutil.h"

enum { N = 20000, DIM = 96, NQ = 60, K = 10 };

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) / 9007199254740992.0; }
static float rng_gauss(uint64_t *s) {
  double u = rng_unit(s) + 1e-12, v = rng_unit(s);
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* n unit rows around 50 centres; the centres' directions vary in a 24-d subspace plus a
 * little everywhere, as embeddings do. */
static float *clustered(size_t n, uint64_t *s) {
  float *c = malloc(50 * DIM * sizeof *c), *v = malloc(n * DIM * sizeof *v);
  for (int i = 0; i < 50; i++)
    for (int j = 0; j < DIM; j++) c[i * DIM + j] = rng_gauss(s) * (j < 24 ? 1.0f : 0.15f);
  for (size_t r = 0; r < n; r++) {
    const float *cc = c + (rng_next(s) % 50) * DIM;
    float *x = v + r * DIM;
    double nn = 0;
    for (int j = 0; j < DIM; j++) {
      x[j] = cc[j] + 0.5f * rng_gauss(s) * (j < 24 ? 1.0f : 0.3f);
      nn += (double)x[j] * x[j];
    }
    for (int j = 0; j < DIM; j++) x[j] = (float)(x[j] / sqrt(nn));
  }
  free(c);
  return v;
}

/* Exact top-K ids (ids = row * 3 + 1) of q among allowed rows, ties by id. */
static void brute(const float *v, const float *q, const uint64_t *allow, int64_t *out) {
  double best[K];
  for (int i = 0; i < K; i++) {
    best[i] = -INFINITY;
    out[i] = -1;
  }
  for (size_t r = 0; r < N; r++) {
    if (allow && !(allow[r / 64] >> (r % 64) & 1)) continue;
    double s = 0;
    for (int j = 0; j < DIM; j++) s += (double)q[j] * v[r * DIM + j];
    if (s <= best[K - 1]) continue;
    int i = K - 1;
    while (i > 0 && best[i - 1] < s) {
      best[i] = best[i - 1];
      out[i] = out[i - 1];
      i--;
    }
    best[i] = s;
    out[i] = (int64_t)r * 3 + 1;
  }
}

typedef struct fixture {
  float *v, *q;
  lk_ivf *ivf;
} fixture;

static int get_vec(void *ctx, int64_t id, float *out) {
  const float *v = ctx;
  if (id < 1 || (id - 1) % 3 || (id - 1) / 3 >= N) return LK_ENOTFOUND;
  memcpy(out, v + (size_t)((id - 1) / 3) * DIM, DIM * sizeof(float));
  return 0;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  uint64_t s = 11;
  f->v = clustered(N + NQ, &s);
  f->q = f->v + (size_t)N * DIM; /* queries: fresh rows from the same clusters */
  lk_ivf_opts o;
  lk_ivf_opts_default(&o);
  o.fine_dims = 64;
  o.coarse_dims = 16;
  o.nlist = 64;
  o.nprobe = 12;
  o.rerank = 200;
  if (lk_ivf_train(&o, DIM, f->v, 8000, &f->ivf)) return -1;
  int64_t *ids = malloc(N * sizeof *ids);
  for (size_t r = 0; r < N; r++) ids[r] = (int64_t)r * 3 + 1;
  int rc = lk_ivf_add(f->ivf, ids, f->v, N / 2);
  if (!rc) rc = lk_ivf_add(f->ivf, ids + N / 2, f->v + (size_t)(N / 2) * DIM, N - N / 2);
  free(ids);
  *state = f;
  return rc ? -1 : 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  lk_ivf_free(f->ivf);
  free(f->v);
  free(f);
  return 0;
}

static double recall(fixture *f, int nprobe, const uint64_t *allow) {
  double sum = 0;
  for (int q = 0; q < NQ; q++) {
    int64_t want[K];
    lk_hit got[K];
    int nf;
    brute(f->v, f->q + (size_t)q * DIM, allow, want);
    assert_int_equal(lk_ivf_search(f->ivf, f->q + (size_t)q * DIM, 1, K, nprobe, allow, -1, got, &nf), 0);
    assert_int_equal(nf, K);
    for (int i = 0; i < K; i++)
      for (int j = 0; j < K; j++) sum += got[i].id == want[j];
  }
  return sum / (NQ * K);
}

static void test_recall(void **state) {
  fixture *f = *state;
  assert_int_equal(lk_ivf_size(f->ivf), N);
  size_t mem = lk_ivf_memory(f->ivf);
  assert_true(mem > (size_t)N * 48 && mem < (size_t)N * 200); /* codes, not floats (384 B) */
  double r1 = recall(f, 1, NULL), r12 = recall(f, 12, NULL), r64 = recall(f, 64, NULL);
  print_message("recall@10: nprobe 1 %.3f, 12 %.3f, all %.3f\n", r1, r12, r64);
  assert_true(r12 >= 0.8); /* 0.858 when written */
  assert_true(r64 >= r12 - 0.01);
  assert_true(r1 < r64); /* probing more lists finds more */
  /* the exact re-rank from float vectors */
  assert_int_equal(lk_ivf_set_refine(f->ivf, 40, get_vec, f->v), 0);
  double rr = recall(f, 12, NULL);
  print_message("recall@10 with refine 40: %.3f\n", rr);
  assert_true(rr >= 0.95); /* 0.98 when written */
  lk_hit h[K];
  assert_int_equal(lk_ivf_search(f->ivf, f->q, 1, K, 12, NULL, -1, h, NULL), 0);
  double s = 0; /* refined scores are exact */
  const float *v = f->v + (size_t)((h[0].id - 1) / 3) * DIM;
  for (int j = 0; j < DIM; j++) s += (double)f->q[j] * v[j];
  assert_true(fabs(s - h[0].score) < 1e-5);
  assert_int_equal(lk_ivf_set_refine(f->ivf, 0, NULL, NULL), 0);
}

/* lk_ivf_trim gives back the growth room and changes no answer (adding afterwards: in
 * test_bad_args); a k above the rerank depth (200 here) still gets k hits. */
static void test_trim_and_large_k(void **state) {
  fixture *f = *state;
  lk_hit a[K], b[K];
  assert_int_equal(lk_ivf_search(f->ivf, f->q, 1, K, 12, NULL, -1, a, NULL), 0);
  size_t before = lk_ivf_memory(f->ivf);
  assert_int_equal(lk_ivf_trim(f->ivf), 0);
  size_t after = lk_ivf_memory(f->ivf);
  print_message("memory: %zu bytes/row before trim, %zu after\n", before / N, after / N);
  assert_true(after < before);
  assert_int_equal(lk_ivf_trim(f->ivf), 0); /* idempotent */
  assert_int_equal(lk_ivf_memory(f->ivf), after);
  assert_int_equal(lk_ivf_search(f->ivf, f->q, 1, K, 12, NULL, -1, b, NULL), 0);
  for (int i = 0; i < K; i++) {
    assert_int_equal(a[i].id, b[i].id);
    assert_true(a[i].score == b[i].score);
  }
  enum { BIG = 500 };
  lk_hit *h = malloc(BIG * sizeof *h);
  int nf;
  assert_int_equal(lk_ivf_search(f->ivf, f->q, 1, BIG, 1, NULL, -1, h, &nf), 0);
  assert_int_equal(nf, BIG);
  for (int i = 1; i < BIG; i++) assert_true(h[i - 1].score >= h[i].score);
  free(h);
  assert_int_equal(lk_ivf_trim(NULL), LK_EINVAL);
}

static void test_filters(void **state) {
  fixture *f = *state;
  uint64_t s = 3;
  static const double dens[] = {0.5, 0.05, 0.002, 0.0001, 0};
  uint64_t *allow = malloc((N / 64 + 1) * sizeof *allow);
  for (size_t d = 0; d < sizeof dens / sizeof dens[0]; d++) {
    memset(allow, 0, (N / 64 + 1) * sizeof *allow);
    size_t na = 0;
    for (size_t r = 0; r < N; r++)
      if (rng_unit(&s) < dens[d]) {
        allow[r / 64] |= (uint64_t)1 << (r % 64);
        na++;
      }
    for (int q = 0; q < 20; q++) {
      lk_hit h[K];
      int nf;
      /* exclude the query's own best allowed row */
      int64_t want[K];
      brute(f->v, f->q + (size_t)q * DIM, allow, want);
      int64_t ex = want[0];
      for (int pr = 1; pr <= 64; pr *= 8) {
        assert_int_equal(lk_ivf_search(f->ivf, f->q + (size_t)q * DIM, 1, K, pr, allow, ex, h, &nf), 0);
        size_t expect = (ex >= 0 ? na - 1 : na) < K ? (ex >= 0 ? na - 1 : na) : K;
        if ((size_t)nf != expect) fail_msg("density %g nprobe %d: %d hits, want %zu", dens[d], pr, nf, expect);
        for (int i = 0; i < nf; i++) {
          int64_t r = (h[i].id - 1) / 3;
          if (!(allow[r / 64] >> (r % 64) & 1)) fail_msg("density %g: disallowed row %lld", dens[d], (long long)r);
          if (h[i].id == ex) fail_msg("excluded id returned");
          if (i && h[i].score > h[i - 1].score) fail_msg("hits out of order");
        }
        for (int i = nf; i < K; i++) assert_int_equal(h[i].id, -1);
      }
    }
    if (dens[d] >= 0.05) {
      double r = recall(f, 12, allow);
      print_message("filtered recall@10 (density %g): %.3f\n", dens[d], r);
      assert_true(r >= 0.8); /* 0.89, 0.95 when written */
    }
  }
  free(allow);
}

static void test_bad_args(void **state) {
  fixture *f = *state;
  lk_ivf_opts o;
  lk_ivf_opts_default(&o);
  lk_ivf *v = (lk_ivf *)1;
  o.fine_dims = DIM + 1;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  assert_null(v);
  o.fine_dims = 16;
  o.coarse_dims = 17;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  o.coarse_dims = 8;
  o.nlist = 2000; /* more lists than training rows */
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  o.nlist = 8;
  o.nprobe = 0;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  o.nprobe = 4;
  assert_int_equal(lk_ivf_train(&o, 0, f->v, 1000, &v), LK_EINVAL);
  assert_int_equal(lk_ivf_train(&o, DIM, NULL, 1000, &v), LK_EINVAL);
  float *bad = malloc(100 * DIM * sizeof *bad);
  memcpy(bad, f->v, 100 * DIM * sizeof *bad);
  bad[5 * DIM + 7] = NAN;
  assert_int_equal(lk_ivf_train(&o, DIM, bad, 100, &v), LK_EINVAL);
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 100, &v), 0);
  int64_t ids[100];
  for (int i = 0; i < 100; i++) ids[i] = i;
  assert_int_equal(lk_ivf_add(v, ids, bad, 100), LK_EINVAL); /* NaN: nothing added */
  assert_int_equal(lk_ivf_size(v), 0);
  ids[3] = -2;
  assert_int_equal(lk_ivf_add(v, ids, f->v, 100), LK_EINVAL);
  ids[3] = 3;
  assert_int_equal(lk_ivf_add(v, ids, f->v, 100), 0);
  assert_int_equal(lk_ivf_size(v), 100);
  lk_hit h[5];
  assert_int_equal(lk_ivf_search(v, f->q, 1, 0, 0, NULL, -1, h, NULL), LK_EINVAL);
  assert_int_equal(lk_ivf_search(v, f->q, 1, 5, -1, NULL, -1, h, NULL), LK_EINVAL);
  assert_int_equal(lk_ivf_search(v, bad + 5 * DIM, 1, 5, 0, NULL, -1, h, NULL), LK_EINVAL);
  assert_int_equal(lk_ivf_search(NULL, f->q, 1, 5, 0, NULL, -1, h, NULL), LK_EINVAL);
  assert_int_equal(lk_ivf_set_refine(v, 10, NULL, NULL), LK_EINVAL);
  assert_int_equal(lk_ivf_set_refine(v, -1, get_vec, NULL), LK_EINVAL);
  assert_int_equal(lk_ivf_set_rerank(v, 0), LK_EINVAL);
  assert_int_equal(lk_ivf_set_rerank(NULL, 10), LK_EINVAL);
  assert_int_equal(lk_ivf_set_rerank(v, 50), 0);
  /* a refine callback's error is the search's */
  assert_int_equal(lk_ivf_set_refine(v, 10, get_vec, f->v), 0);
  assert_int_equal(lk_ivf_search(v, f->q, 1, 5, 0, NULL, -1, h, NULL), LK_ENOTFOUND); /* ids not row*3+1 */
  int nf;
  assert_int_equal(lk_ivf_set_refine(v, 0, NULL, NULL), 0);
  assert_int_equal(lk_ivf_search(v, f->q, 1, 5, 0, NULL, -1, h, &nf), 0);
  assert_int_equal(nf, 5);
  /* adding after a trim grows again */
  assert_int_equal(lk_ivf_trim(v), 0);
  for (int i = 0; i < 100; i++) ids[i] = 100 + i;
  assert_int_equal(lk_ivf_add(v, ids, f->v + 100 * DIM, 100), 0);
  assert_int_equal(lk_ivf_size(v), 200);
  assert_int_equal(lk_ivf_search(v, f->q, 1, 5, 0, NULL, -1, h, &nf), 0);
  assert_int_equal(nf, 5);
  lk_ivf_free(v);
  lk_ivf_free(NULL);
  free(bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recall),
      cmocka_unit_test(test_trim_and_large_k),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
