/* tests/test_ivf.c — the IVF index (index/ivf.h) on clustered synthetic data: recall@10
 * against brute force above a floor (codes only, and with the exact re-rank), filters that
 * never let a disallowed or excluded row through and still fill k, and bad arguments; the
 * coarse-only mode, filter columns searched with lk_ivf_search_where (exact filtered top-k at
 * full probe, lists skipped, bad filters) and their round trip through a saved file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <zlib.h>

#include "index/ivf.h"
#include "index/quant.h"
#include "index/truth.h"
#include "util/clock.h"
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
  lk_ivf *cols[2]; /* built once by build_cols: coarse-only, fine codes */
} fixture;

static int get_vec(void *ctx, int64_t id, const float **out) {
  const float *v = ctx;
  if (id < 1 || (id - 1) % 3 || (id - 1) / 3 >= N) return LK_ENOTFOUND;
  *out = v + (size_t)((id - 1) / 3) * DIM;
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
  lk_ivf_free(f->cols[0]);
  lk_ivf_free(f->cols[1]);
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
  o.fine_dims = 0; /* coarse-only: coarse_dims up to dim */
  o.coarse_dims = DIM + 1;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  o.coarse_dims = 8;
  o.ncols = LK_IVF_MAX_COLS + 1;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  o.ncols = -1;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 1000, &v), LK_EINVAL);
  o.ncols = 0;
  o.fine_dims = 16;
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

/* ---- coarse-only mode and filter columns (lk_ivf_add_cols, lk_ivf_search_where) ---- */

enum { NLIST2 = 64 };

/* Row r's columns: 0 = r % 50 (a value passes 2% of rows), 1 = 200 + r % 3 (values 200..202)
 * but 9 for the 5 rows 1000, 3000, .. 9000. */
static void row_cols(size_t r, uint8_t *c) {
  c[0] = (uint8_t)(r % 50);
  c[1] = r % 2000 == 1000 && r < 10000 ? 9 : (uint8_t)(200 + r % 3);
}

static int pass_row(const lk_ivf_filter *flt, size_t r) {
  uint8_t c[2];
  row_cols(r, c);
  for (int j = 0; j < 2; j++)
    if ((flt->used >> j & 1) && !(flt->allow[j][c[j] / 64] >> (c[j] % 64) & 1)) return 0;
  return 1;
}

/* The rows passing flt as an allow bitmap (for brute), and their count. */
static size_t pass_bitmap(const lk_ivf_filter *flt, uint64_t *allow) {
  size_t na = 0;
  memset(allow, 0, (N / 64 + 1) * sizeof *allow);
  for (size_t r = 0; r < N; r++)
    if (pass_row(flt, r)) {
      allow[r / 64] |= (uint64_t)1 << (r % 64);
      na++;
    }
  return na;
}

static void allow_value(lk_ivf_filter *flt, int col, int value) {
  flt->used |= 1u << col;
  flt->allow[col][value / 64] |= (uint64_t)1 << (value % 64);
}

/* A coarse-only (fine_dims 0, coarse_dims = dim) or fine-code index over f->v with 2 columns,
 * built on first use and kept in the fixture. */
static lk_ivf *build_cols(fixture *f, int fine_dims) {
  if (f->cols[fine_dims > 0]) return f->cols[fine_dims > 0];
  lk_ivf_opts o;
  lk_ivf_opts_default(&o);
  o.fine_dims = fine_dims;
  o.coarse_dims = fine_dims ? 16 : DIM;
  o.nlist = NLIST2;
  o.nprobe = 12;
  o.rerank = 200;
  o.ncols = 2;
  lk_ivf *v = NULL;
  assert_int_equal(lk_ivf_train(&o, DIM, f->v, 8000, &v), 0);
  int64_t *ids = malloc(N * sizeof *ids);
  uint8_t *cols = malloc(N * 2);
  for (size_t r = 0; r < N; r++) {
    ids[r] = (int64_t)r * 3 + 1;
    row_cols(r, cols + r * 2);
  }
  assert_int_equal(lk_ivf_add_cols(v, ids, f->v, cols, N / 2), 0);
  assert_int_equal(lk_ivf_add_cols(v, ids + N / 2, f->v + (size_t)(N / 2) * DIM, cols + N, N - N / 2), 0);
  assert_int_equal(lk_ivf_trim(v), 0);
  assert_int_equal(lk_ivf_ncols(v), 2);
  free(ids);
  free(cols);
  return f->cols[fine_dims > 0] = v;
}

/* recall@10 of lk_ivf_search_where against the exact filtered top-10 (flt NULL: unfiltered);
 * every hit passes, and each query gets min(K, #passing) hits. */
static double recall_where(fixture *f, const lk_ivf *v, int nprobe, const lk_ivf_filter *flt) {
  uint64_t *allow = malloc((N / 64 + 1) * sizeof *allow);
  size_t na = flt ? pass_bitmap(flt, allow) : N;
  double sum = 0;
  for (int q = 0; q < NQ; q++) {
    int64_t want[K];
    lk_hit got[K];
    int nf;
    brute(f->v, f->q + (size_t)q * DIM, flt ? allow : NULL, want);
    assert_int_equal(lk_ivf_search_where(v, f->q + (size_t)q * DIM, 1, K, nprobe, flt, -1, got, &nf), 0);
    assert_int_equal(nf, na < K ? (int)na : K);
    for (int i = 0; i < nf; i++) {
      if (flt && !pass_row(flt, (size_t)(got[i].id - 1) / 3)) fail_msg("hit %lld does not pass", (long long)got[i].id);
      for (int j = 0; j < K; j++) sum += got[i].id == want[j];
    }
  }
  free(allow);
  return sum / (NQ * (na < K ? (double)na : K));
}

/* Coarse-only with the exact re-rank finds the exact top-10 on this easy set; at every list it
 * is the exact top-10, scores and all; memory stays near the codes. */
static void test_coarse_only(void **state) {
  fixture *f = *state;
  lk_ivf *v = build_cols(f, 0);
  size_t per = lk_ivf_memory(v) / N;
  print_message("coarse-only, %d-d, 2 columns: %zu bytes/row\n", DIM, per);
  assert_true(per >= 8 + 128 + 2 && per < 8 + 128 + 2 + 40); /* id, 128-byte padded code, columns */
  assert_int_equal(lk_ivf_set_refine(v, 40, get_vec, f->v), 0);
  double r12 = recall_where(f, v, 12, NULL), rall = recall_where(f, v, NLIST2, NULL);
  print_message("coarse-only refined recall@10: nprobe 12 %.3f, all %.3f\n", r12, rall);
  assert_true(r12 >= 0.95); /* 0.998 when written */
  assert_true(rall == 1.0);
  lk_hit h[K];
  assert_int_equal(lk_ivf_search(v, f->q, 1, K, NLIST2, NULL, -1, h, NULL), 0);
  const float *x = f->v + (size_t)((h[0].id - 1) / 3) * DIM;
  double s = 0;
  for (int j = 0; j < DIM; j++) s += (double)f->q[j] * x[j];
  assert_true(fabs(s - h[0].score) < 1e-5);
  /* the row bitmap (lk_ivf_search's allow): a selective one (10 rows: each scored exactly) and a
   * 2% one (the probe) give the exact allowed top-10 at full probe */
  uint64_t *allow = calloc(N / 64 + 1, sizeof *allow);
  for (int sel = 0; sel < 2; sel++) {
    size_t na = 0;
    memset(allow, 0, (N / 64 + 1) * sizeof *allow);
    for (size_t r = sel ? 7 : 1000; r < N; r += sel ? 50 : 2000, na++) allow[r / 64] |= (uint64_t)1 << (r % 64);
    for (int q = 0; q < 5; q++) {
      int64_t want[K];
      int nf;
      brute(f->v, f->q + (size_t)q * DIM, allow, want);
      assert_int_equal(lk_ivf_search(v, f->q + (size_t)q * DIM, 1, K, NLIST2, allow, -1, h, &nf), 0);
      assert_int_equal(nf, na < K ? (int)na : K);
      for (int i = 0; i < nf; i++) assert_int_equal(h[i].id, want[i]);
    }
  }
  free(allow);
  /* without the refine callback: coarse scores, still the right neighbours mostly */
  assert_int_equal(lk_ivf_set_refine(v, 0, NULL, NULL), 0);
  double rc = recall_where(f, v, 12, NULL);
  print_message("coarse-only unrefined recall@10 at nprobe 12: %.3f\n", rc);
  assert_true(rc >= 0.8 && rc < r12 + 1e-9);
}

/* Filtered searches: only passing rows, min(k, #passing) hits, the exact filtered top-10 at full
 * probe, recall near the unfiltered one at nprobe 12, the excluded id never returned, lists
 * with no passing row skipped, bad filters refused. Coarse-only and fine-code indexes. */
static void test_where(void **state) {
  fixture *f = *state;
  for (int mode = 0; mode < 2; mode++) {
    lk_ivf *v = build_cols(f, mode ? 64 : 0);
    assert_int_equal(lk_ivf_set_refine(v, 40, get_vec, f->v), 0);
    lk_ivf_filter two = {0}, narrow = {0}, none = {0}, both = {0};
    allow_value(&two, 0, 7); /* 2% of rows */
    allow_value(&narrow, 0, 7);
    allow_value(&narrow, 1, 201); /* 1 row in 150 */
    allow_value(&none, 1, 5);     /* no row */
    for (int c = 0; c < 50; c += 2) allow_value(&both, 0, c);
    allow_value(&both, 1, 200);
    allow_value(&both, 1, 202); /* a third of the half */
    const lk_ivf_filter *fl[] = {&two, &narrow, &both};
    for (int i = 0; i < 3; i++) {
      double full = recall_where(f, v, NLIST2, fl[i]), r12 = recall_where(f, v, 12, fl[i]);
      print_message("%s, filter %d: recall@10 all lists %.3f, nprobe 12 %.3f\n", mode ? "fine" : "coarse-only", i,
                    full, r12);
      assert_true(full == 1.0);
      assert_true(r12 >= 0.9); /* 0.99+ when written */
    }
    /* a filter passing 5 rows gives those 5, best first; 4 when one is excluded */
    lk_ivf_filter five = {0};
    allow_value(&five, 1, 9);
    lk_hit h[K];
    int nf;
    for (int pr = 1; pr <= NLIST2; pr *= 8) {
      assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, pr, &five, -1, h, &nf), 0);
      assert_int_equal(nf, 5);
      for (int i = 0; i < nf; i++) {
        assert_true(pass_row(&five, (size_t)(h[i].id - 1) / 3));
        if (i) assert_true(h[i - 1].score >= h[i].score);
      }
      assert_int_equal(h[5].id, -1);
      assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, pr, &five, 3000 * 3 + 1, h, &nf), 0);
      assert_int_equal(nf, 4);
      for (int i = 0; i < nf; i++) assert_true(h[i].id != 3000 * 3 + 1);
    }
    uint64_t *allow = malloc((N / 64 + 1) * sizeof *allow);
    /* excluded: the query's own best passing row is never returned, k still filled */
    int64_t want[K];
    pass_bitmap(&two, allow);
    brute(f->v, f->q, allow, want);
    assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, NLIST2, &two, want[0], h, &nf), 0);
    assert_int_equal(nf, K);
    for (int i = 0; i < K; i++) {
      assert_true(h[i].id != want[0]);
      assert_int_equal(h[i].id, i + 1 < K ? want[i + 1] : h[i].id);
    }
    /* a filter matching nothing: 0 hits, padding, and every list skipped by its presence masks
     * (faster than one unfiltered search of all lists by far) */
    assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, 12, &none, -1, h, &nf), 0);
    assert_int_equal(nf, 0);
    assert_int_equal(h[0].id, -1);
    double t0 = lk_clock_now();
    for (int i = 0; i < 20; i++) assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, 12, &none, -1, h, &nf), 0);
    double t1 = lk_clock_now();
    for (int i = 0; i < 20; i++) assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, NLIST2, NULL, -1, h, &nf), 0);
    double t2 = lk_clock_now();
    print_message("no passing row: %.3f ms a search, all lists unfiltered %.3f ms\n", (t1 - t0) / 20 * 1e3,
                  (t2 - t1) / 20 * 1e3);
    assert_true(t1 - t0 < (t2 - t1) / 3);
    /* no filter, or used 0: the unfiltered search */
    lk_hit a[K], b[K];
    lk_ivf_filter zero = {0};
    assert_int_equal(lk_ivf_search(v, f->q, 1, K, 12, NULL, -1, a, NULL), 0);
    assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, 12, &zero, -1, b, NULL), 0);
    for (int i = 0; i < K; i++) assert_int_equal(a[i].id, b[i].id);
    /* bad filters */
    lk_ivf_filter bad = {0};
    allow_value(&bad, 2, 1); /* the index has 2 columns */
    assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, 12, &bad, -1, h, &nf), LK_EINVAL);
    bad.used = 1u << 31;
    assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, 12, &bad, -1, h, &nf), LK_EINVAL);
    assert_int_equal(lk_ivf_search_where(NULL, f->q, 1, K, 12, &two, -1, h, &nf), LK_EINVAL);
    assert_int_equal(lk_ivf_search_where(v, f->q, 1, 0, 12, &two, -1, h, &nf), LK_EINVAL);
    free(allow);
    assert_int_equal(lk_ivf_set_refine(v, 0, NULL, NULL), 0);
  }
  /* an index without columns refuses any used column */
  lk_ivf_filter one = {0};
  allow_value(&one, 0, 0);
  lk_hit h[K];
  assert_int_equal(lk_ivf_search_where(f->ivf, f->q, 1, K, 12, &one, -1, h, NULL), LK_EINVAL);
}

/* Writes v (or, v NULL, a bare 40-byte IVF parameter section as version 1 wrote it) to path. */
static void save_to(const lk_ivf *v, const char *path) {
  lkx_meta m = {.recipe_id = "0123456789abcdef", .catalog_version = 1, .items = N, .dim = DIM};
  lk_lkx_writer w;
  lk_errbuf eb = {0};
  assert_int_equal(lk_lkx_create(&w, path, &m, &eb), 0);
  if (v) {
    assert_int_equal(lk_ivf_save(v, &w, &eb), 0);
  } else {
    int32_t old[10] = {DIM, 64, 16, 64, 64, 8, 4, 50};
    assert_int_equal(lk_lkx_add(&w, 0x49564650 /* the parameters' tag */, old, sizeof old, &eb), 0);
  }
  assert_int_equal(lk_lkx_commit(&w, &eb), 0);
}

/* a and b give the same hits and scores for 10 queries, unfiltered and with flt. */
static void same_answers(const fixture *f, const lk_ivf *a, const lk_ivf *b, const lk_ivf_filter *flt) {
  for (int q = 0; q < 10; q++)
    for (int filtered = 0; filtered < 2; filtered++) {
      lk_hit ha[K], hb[K];
      int na, nb;
      const float *qq = f->q + (size_t)q * DIM;
      assert_int_equal(lk_ivf_search_where(a, qq, 1, K, 4, filtered ? flt : NULL, -1, ha, &na), 0);
      assert_int_equal(lk_ivf_search_where(b, qq, 1, K, 4, filtered ? flt : NULL, -1, hb, &nb), 0);
      assert_int_equal(na, K);
      assert_int_equal(nb, na);
      for (int i = 0; i < K; i++) {
        assert_int_equal(ha[i].id, hb[i].id);
        assert_true(ha[i].score == hb[i].score);
      }
    }
}

/* Columns, presence masks and coarse-only codes come back from a saved file, copied
 * (lk_ivf_load) or mapped (lk_ivf_load_mapped): the loaded index answers every filtered search
 * exactly as the saved one, before and after rows are added; a file of the older IVF layout is
 * refused as stale. */
static void test_save_load_cols(void **state) {
  fixture *f = *state;
  char *dir = lk_test_mkdtemp(), path[512];
  snprintf(path, sizeof path, "%s/i.lkx", dir);
  lk_ivf_filter flt = {0};
  allow_value(&flt, 0, 7);
  allow_value(&flt, 0, 8);
  allow_value(&flt, 1, 202);
  for (int mode = 0; mode < 2; mode++) {
    lk_ivf *v = build_cols(f, mode ? 64 : 0);
    save_to(v, path);
    lk_lkx *x = NULL;
    lk_ivf *u = NULL;
    lk_errbuf eb = {0};
    assert_int_equal(lk_lkx_map(path, &x, &eb), 0);
    assert_int_equal(lk_ivf_load(x, &u, &eb), 0);
    lk_lkx_close(x);
    assert_int_equal(lk_lkx_map(path, &x, &eb), 0); /* and mapped: x stays open */
    lk_ivf *um = NULL;
    assert_int_equal(lk_ivf_load_mapped(x, &um, &eb), 0);
    lk_ivf *three[] = {u, um};
    for (int w = 0; w < 2; w++) {
      assert_int_equal(lk_ivf_size(three[w]), N);
      assert_int_equal(lk_ivf_ncols(three[w]), 2);
      assert_int_equal(lk_ivf_memory(three[w]), lk_ivf_memory(v));
      same_answers(f, v, three[w], &flt);
    }
    /* rows added to both the copy and the mapped one (which copies what grows) */
    int64_t nid[3] = {N * 3 + 1, N * 3 + 4, N * 3 + 7};
    uint8_t nc[6] = {7, 202, 8, 202, 7, 200};
    assert_int_equal(lk_ivf_add_cols(u, nid, f->q, nc, 3), 0);
    assert_int_equal(lk_ivf_add_cols(um, nid, f->q, nc, 3), 0);
    same_answers(f, u, um, &flt);
    lk_hit h[K];
    assert_int_equal(lk_ivf_search_where(um, f->q, 1, K, 4, &flt, -1, h, NULL), 0);
    assert_int_equal(h[0].id, nid[0]); /* the query itself, added with passing columns */
    lk_ivf_free(um);
    lk_lkx_close(x);
    lk_ivf_free(u);
  }
  save_to(NULL, path);
  lk_lkx *x = NULL;
  lk_ivf *u = (lk_ivf *)1;
  lk_errbuf eb = {0};
  assert_int_equal(lk_lkx_map(path, &x, &eb), 0);
  assert_int_equal(lk_ivf_load(x, &u, &eb), LK_EMISMATCH);
  assert_null(u);
  print_message("older file: %s\n", lk_err_msg(&eb));
  assert_non_null(strstr(lk_err_msg(&eb), "stale"));
  lk_lkx_close(x);
  lk_test_rmtree(dir);
  free(dir);
}

/* Section tag i of the IVF (index/ivf.c's order from its parameters, 0x49564650). */
#define IVF_TAG(i) (0x49564650u + (i))

/* Changes the first 4 bytes of section tag in the file at path to val and, with fix, makes
 * every checksum right again (the chunks', the sections', the header's), as a crafted file
 * would be; without, leaves them (a damaged file). */
static void patch_file(const char *path, uint32_t tag, const void *val, int fix) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, 0, SEEK_END), 0);
  size_t size = (size_t)ftell(fp);
  uint8_t *b = malloc(size);
  assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
  assert_int_equal(fread(b, 1, size, fp), size);
  fclose(fp);
  uint32_t ns;
  memcpy(&ns, b + 12, 4);
  int found = 0;
  uint8_t *ck = NULL;
  size_t at = 0;
  for (int pass = 0; pass < 3; pass++)
    for (uint32_t i = 0; i < ns; i++) {
      uint8_t *e = b + 64 + (size_t)i * 24;
      uint32_t t;
      uint64_t off, len;
      memcpy(&t, e, 4);
      memcpy(&off, e + 8, 8);
      memcpy(&len, e + 16, 8);
      if (pass == 0 && t == tag) memcpy(b + off, val, 4), found = 1;
      if (pass == 0 && t == LKX_CHUNKS) ck = b + off;
      for (uint64_t c = 0; pass == 1 && t != LKX_CHUNKS && c < len; c += LKX_CHUNK, at++) {
        uint32_t v = (uint32_t)crc32(0, b + off + c, (uInt)(len - c < LKX_CHUNK ? len - c : LKX_CHUNK));
        if (fix) memcpy(ck + 4 * at, &v, 4);
      }
      uint32_t c = (uint32_t)crc32(0, b + off, (uInt)len);
      if (pass == 2 && fix) memcpy(e + 4, &c, 4);
    }
  assert_true(found);
  assert_non_null(ck);
  uint32_t c = (uint32_t)crc32(0, b, 4092);
  if (fix) memcpy(b + 4092, &c, 4);
  assert_non_null(fp = fopen(path, "wb"));
  assert_int_equal(fwrite(b, 1, size, fp), size);
  assert_int_equal(fclose(fp), 0);
  free(b);
}

static void patch_section(const char *path, uint32_t tag, const void *val) { patch_file(path, tag, val, 1); }

static int load_file(const char *path, lk_ivf **out, lk_errbuf *eb) {
  lk_lkx *x = NULL;
  int rc = lk_lkx_map(path, &x, eb);
  if (!rc) rc = lk_ivf_load(x, out, eb);
  lk_lkx_close(x);
  return rc;
}

/* 96-row files of both kinds with columns load back; a list sum or a list row changed (with
 * the checksums made right) is refused as corrupt. With LK_IVF_SEED_DIR set, the files are
 * written there: fuzz/corpus/lkx's seeds (small.lkx, small_coarse.lkx, bad_sum.lkx,
 * dup_row.lkx) are made so. */
static void test_small_files(void **state) {
  fixture *f = *state;
  const char *seeds = getenv("LK_IVF_SEED_DIR");
  char *dir = seeds ? NULL : lk_test_mkdtemp(), path[512];
  enum { SN = 96 };
  int64_t ids[SN];
  uint8_t cols[SN * 2];
  for (int r = 0; r < SN; r++) {
    ids[r] = r * 3 + 1;
    row_cols((size_t)r * 41, cols + r * 2);
  }
  static const char *names[] = {"small_coarse.lkx", "small.lkx", "bad_sum.lkx", "dup_row.lkx"};
  for (int i = 0; i < 4; i++) {
    lk_ivf_opts o;
    lk_ivf_opts_default(&o);
    o.fine_dims = i == 1 ? 32 : 0;
    o.coarse_dims = i == 1 ? 8 : DIM;
    o.nlist = 4;
    o.ncols = 2;
    lk_ivf *v = NULL, *u = NULL;
    assert_int_equal(lk_ivf_train(&o, DIM, f->v, SN, &v), 0);
    assert_int_equal(lk_ivf_add_cols(v, ids, f->v, cols, SN), 0);
    snprintf(path, sizeof path, "%s/%s", seeds ? seeds : dir, names[i]);
    lkx_meta m = {.recipe_id = "0123456789abcdef", .catalog_version = 1, .items = SN, .dim = DIM};
    lk_lkx_writer w;
    lk_errbuf eb = {0};
    assert_int_equal(lk_lkx_create(&w, path, &m, &eb), 0);
    assert_int_equal(lk_ivf_save(v, &w, &eb), 0);
    assert_int_equal(lk_lkx_commit(&w, &eb), 0);
    if (i == 2) { /* the first list entry's sum off by one */
      int32_t bad = 1 + 0x7f;
      patch_section(path, IVF_TAG(15), &bad);
    } else if (i == 3) { /* the first list entry names the last row, which another entry holds */
      uint32_t r = SN - 1;
      patch_section(path, IVF_TAG(12), &r);
    }
    int rc = load_file(path, &u, &eb);
    if (i >= 2) {
      print_message("%s: %s\n", names[i], lk_err_msg(&eb));
      assert_int_equal(rc, LK_ECORRUPT);
      assert_null(u);
    } else {
      assert_int_equal(rc, 0);
      lk_ivf_filter flt = {0};
      allow_value(&flt, 1, 200);
      lk_hit a[K], b[K];
      int na, nb;
      assert_int_equal(lk_ivf_search_where(v, f->q, 1, K, 2, &flt, -1, a, &na), 0);
      assert_int_equal(lk_ivf_search_where(u, f->q, 1, K, 2, &flt, -1, b, &nb), 0);
      assert_int_equal(na, K);
      assert_int_equal(nb, K);
      for (int j = 0; j < K; j++) assert_int_equal(a[j].id, b[j].id);
    }
    lk_ivf_free(u);
    lk_ivf_free(v);
  }
  if (dir) {
    lk_test_rmtree(dir);
    free(dir);
  }
}

/* lk_ivf_load_lazy on a file mapped with lk_ivf_lazy_sections left unverified (a server's
 * load): an intact file answers as the saved index and passes lk_ivf_check; a list's
 * coarse-code sum or a row's fine-code sum changed (checksums made right: the structural
 * checks), or a scale damaged (the chunk checksums) loads, but the search that reads it fails with
 * LK_ECORRUPT instead of scoring it, as lk_ivf_check and lk_ivf_save do, where the whole
 * verification (lk_lkx_map, lk_ivf_load_mapped) refuses the file at once. */
static void test_lazy_checks(void **state) {
  fixture *f = *state;
  char *dir = lk_test_mkdtemp(), path[512];
  snprintf(path, sizeof path, "%s/lazy.lkx", dir);
  lk_ivf *v = build_cols(f, 64);
  /* 0: intact; 1: list 0's first coarse sum (LSUM); 2: row 0's fine sum (FSUM), the checksums
   * made right; 3, 4: a list's scale, a row's fine scale (no structural check reads them) damaged,
   * the checksums left */
  for (int fault = 0; fault < 5; fault++) {
    save_to(v, path);
    int32_t bad = 1 << 20;
    static const int tag[] = {0, 15, 10, 14, 9}; /* (3, 4: list 0's first scale, row 0's fine scale) */
    if (fault) patch_file(path, IVF_TAG(tag[fault]), &bad, fault < 3);
    lk_lkx *x = NULL;
    lk_ivf *u = NULL, *w = NULL;
    lk_errbuf eb = {0};
    if (fault < 3) {
      assert_int_equal(lk_lkx_map(path, &x, &eb), 0);
      assert_int_equal(lk_ivf_load_mapped(x, &w, &eb), fault ? LK_ECORRUPT : 0);
      lk_ivf_free(w);
      lk_lkx_close(x);
    } else {
      assert_int_equal(lk_lkx_map(path, &x, &eb), LK_ECORRUPT);
      print_message("damaged, mapped whole: %s\n", lk_err_msg(&eb));
    }
    assert_int_equal(lk_lkx_map_lazy(path, lk_ivf_lazy_sections, LK_IVF_NLAZY, &x, &eb), 0);
    assert_int_equal(lk_ivf_load_lazy(x, &u, &eb), 0);
    lk_hit h[K];
    int nf = 0, nl = NLIST2; /* (every list probed: the damaged one is among them; the query is row
                              * 0, which is then a candidate whose fine code is read) */
    if (!fault) {
      same_answers(f, v, u, NULL);
      assert_int_equal(lk_ivf_check(u), 0);
    }
    assert_int_equal(lk_ivf_search(u, f->v, 1, K, nl, NULL, -1, h, &nf), fault ? LK_ECORRUPT : 0);
    assert_int_equal(lk_ivf_search(u, f->v, 1, K, nl, NULL, -1, h, &nf), fault ? LK_ECORRUPT : 0); /* (kept) */
    assert_int_equal(lk_ivf_check(u), fault ? LK_ECORRUPT : 0);
    lkx_meta m = {.recipe_id = "0123456789abcdef", .catalog_version = 1, .items = N, .dim = DIM};
    lk_lkx_writer wr;
    assert_int_equal(lk_lkx_create(&wr, lk_test_path("%s/again.lkx", dir), &m, &eb), 0);
    int rc = lk_ivf_save(u, &wr, &eb);
    assert_int_equal(rc, fault ? LK_ECORRUPT : 0);
    if (rc) lk_lkx_abandon(&wr);
    else assert_int_equal(lk_lkx_commit(&wr, &eb), 0);
    lk_ivf_free(u);
    lk_lkx_close(x);
  }
  lk_test_rmtree(dir);
  free(dir);
}

/* The filter columns' byte-set test (index/quant.h) against the plain bit lookup: every value,
 * random sets from sparse to full, every length 0..64 (the AVX2 blocks and the tail). */
static void test_byteset(void **state) {
  (void)state;
  uint64_t s = 99;
  uint8_t x[64];
  for (int trial = 0; trial < 200; trial++) {
    uint64_t bits[4] = {0};
    int dens = trial % 8; /* 1 in 2^dens values, then sparse single values */
    for (int b = 0; b < 256; b++)
      if (dens < 7 ? rng_next(&s) % ((uint64_t)1 << dens) == 0 : b == (int)(rng_next(&s) % 256))
        bits[b / 64] |= (uint64_t)1 << (b % 64);
    lk_quant_byteset set;
    lk_quant_byteset_init(&set, bits);
    for (int i = 0; i < 64; i++) x[i] = trial < 4 ? (uint8_t)(i * 4 + trial) : (uint8_t)rng_next(&s);
    int n = trial < 4 ? 64 : trial % 65;
    uint64_t want = 0, got = lk_quant_byteset_mask(x, n, &set);
    for (int i = 0; i < n; i++) want |= (bits[x[i] / 64] >> (x[i] % 64) & 1) << i;
    if (got != want) fail_msg("trial %d n %d: %016llx, want %016llx", trial, n, (unsigned long long)got, (unsigned long long)want);
  }
}


/* lk_quant_dots and _range against a plain sum, for every row count around the kernel's block
 * sizes (4, 1) and code lengths of 1-4 blocks, rows picked out of order and consecutive; then
 * lk_quant_scores against its formula. */
static void test_dots(void **state) {
  (void)state;
  enum { ROWS = 70, MAXLEN = 256 };
  uint64_t s = 7;
  static int8_t codes[ROWS * MAXLEN];
  uint8_t qu[MAXLEN];
  for (size_t i = 0; i < sizeof codes; i++) codes[i] = (int8_t)(rng_next(&s) % 256 - 128);
  for (int j = 0; j < MAXLEN; j++) qu[j] = (uint8_t)(rng_next(&s) % 256);
  codes[5] = -128; /* the extremes */
  qu[5] = 255;
  size_t rows[ROWS];
  int32_t raw[ROWS];
  for (int len = 64; len <= MAXLEN; len += 64)
    for (int m = 0; m <= 50; m++) {
      size_t first = (size_t)(m % 7);
      for (int i = 0; i < m; i++) rows[i] = (size_t)(i * 37 + m) % ROWS;
      for (int mode = 0; mode < 2; mode++) {
        if (mode) lk_quant_dots_range(qu, codes, MAXLEN, first, m, len, raw);
        else lk_quant_dots(qu, codes, MAXLEN, rows, m, len, raw);
        for (int i = 0; i < m; i++) {
          const int8_t *x = codes + (mode ? first + (size_t)i : rows[i]) * MAXLEN;
          int32_t want = 0;
          for (int j = 0; j < len; j++) want += (int32_t)qu[j] * x[j];
          if (raw[i] != want) fail_msg("len %d m %d row %d (%s): %d, want %d", len, m, i, mode ? "range" : "rows", raw[i], want);
        }
      }
    }
  /* lk_quant_scores: the same floats as the formula written out, the vector body and its tail */
  float scale[ROWS], out[ROWS];
  int32_t sum[ROWS];
  for (int i = 0; i < ROWS; i++) {
    raw[i] = (int32_t)(rng_next(&s) % 200001) - 100000;
    sum[i] = (int32_t)(rng_next(&s) % 201) - 100;
    scale[i] = (float)(rng_next(&s) % 100000 + 1) / 79193.0f;
  }
  /* the last base is near the products, where a fused multiply-add would round otherwise */
  static const float bases[] = {-1.25f, 3.1e-3f, 5731.0f};
  for (int b = 0; b < 3; b++)
    for (int m = 0; m <= 40; m++) {
      lk_quant_scores(raw, scale, sum, 0.37f, bases[b], m, out);
      for (int i = 0; i < m; i++) {
        float want = bases[b] + 0.37f * scale[i] * (float)(raw[i] - 128 * sum[i]);
        if (memcmp(&out[i], &want, sizeof want)) fail_msg("scores m %d row %d: %.9g, want %.9g", m, i, out[i], want);
      }
    }
}

/* Refine callback over a plain row-major array of D=256 floats, id = row. */
static int rows_get(void *ctx, int64_t id, const float **out) {
  *out = (const float *)ctx + (size_t)id * 256;
  return 0;
}

/* code_share: rows whose energy lies in 40 directions (of 256) get 64-d codes, isotropic rows
 * keep coarse_dims; the search with the short codes still finds the exact neighbours (refined);
 * a share outside [0, 1] is refused. */
static void test_code_share(void **state) {
  (void)state;
  enum { D = 256, R = 40, M = 4000 };
  uint64_t s = 99;
  float *basis = malloc(sizeof(float) * R * D), *x = malloc(sizeof(float) * (size_t)M * D);
  assert_non_null(basis);
  assert_non_null(x);
  for (int i = 0; i < R * D; i++) basis[i] = rng_gauss(&s);
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < M; i++) {
      float *r = x + i * D;
      if (pass == 0) { /* in the span of the R basis rows, plus faint noise */
        for (int j = 0; j < D; j++) r[j] = 0.01f * rng_gauss(&s);
        for (int c = 0; c < R; c++) {
          float a = rng_gauss(&s);
          for (int j = 0; j < D; j++) r[j] += a * basis[(size_t)c * D + j];
        }
      } else {
        for (int j = 0; j < D; j++) r[j] = rng_gauss(&s);
      }
    }
    lk_ivf_opts o;
    lk_ivf_opts_default(&o);
    o.fine_dims = 0;
    o.coarse_dims = 128;
    o.nlist = 16;
    o.code_share = 0.985f;
    lk_ivf *v;
    assert_int_equal(lk_ivf_train(&o, D, x, M, &v), 0);
    int nl, fine, coarse;
    lk_ivf_shape(v, &nl, &fine, &coarse);
    assert_int_equal(fine, 0);
    assert_int_equal(coarse, pass == 0 ? 64 : 128);
    int64_t ids[M];
    for (int i = 0; i < M; i++) ids[i] = i;
    assert_int_equal(lk_ivf_add(v, ids, x, M), 0);
    if (pass == 0) { /* all lists probed, exact re-rank: the true top-10 of a row's own query */
      assert_int_equal(lk_ivf_set_refine(v, 40, rows_get, x), 0);
      for (int q = 0; q < 20; q++) {
        const float *qv = x + (size_t)(q * 97) * D;
        lk_hit h[10];
        int nf;
        assert_int_equal(lk_ivf_search(v, qv, 1, 10, nl, NULL, -1, h, &nf), 0);
        assert_int_equal(nf, 10);
        assert_int_equal(h[0].id, q * 97);
      }
    }
    lk_ivf_free(v);
    o.code_share = pass ? -0.5f : 1.5f;
    assert_int_equal(lk_ivf_train(&o, D, x, M, &v), LK_EINVAL);
  }
  free(basis);
  free(x);
}

/* index/truth.h: the exact top-10 over rows added in uneven batches is brute force's, a skipped
 * id never counts; lk_ivf_tune_nprobe picks the first ladder rung whose recall (the same as
 * this file's own measure) reaches the target, the rung below it missing it; an unreachable
 * target gives every list; min_nprobe is a floor; the depth and its recall survive a save and
 * load; bad arguments are refused. */
static void test_tune_nprobe(void **state) {
  fixture *f = *state;
  int64_t *ids = malloc(N * sizeof *ids), skip[NQ];
  for (size_t r = 0; r < N; r++) ids[r] = (int64_t)r * 3 + 1;
  for (int pass = 0; pass < 2; pass++) { /* pass 1: each query skips its exact best */
    for (int q = 0; q < NQ; q++) {
      int64_t want[K];
      brute(f->v, f->q + (size_t)q * DIM, NULL, want);
      skip[q] = pass ? want[0] : -1;
    }
    lk_truth *t = NULL;
    assert_int_equal(lk_truth_new(DIM, K, f->q, skip, NQ, &t), 0);
    assert_null(lk_truth_hits(t, 0, NULL)); /* not finished */
    size_t cut[] = {0, 1, 1500, 9000, N};
    for (int b = 0; b + 1 < 5; b++)
      assert_int_equal(lk_truth_add(t, ids + cut[b], f->v + cut[b] * DIM, cut[b + 1] - cut[b]), 0);
    lk_truth_finish(t);
    assert_int_equal(lk_truth_add(t, ids, f->v, 1), LK_EINVAL); /* finished */
    for (int q = 0; q < NQ; q++) {
      int64_t want[K + 1];
      uint64_t *none = NULL;
      brute(f->v, f->q + (size_t)q * DIM, none, want);
      int n;
      const lk_hit *h = lk_truth_hits(t, q, &n);
      assert_int_equal(n, K);
      for (int i = 0; i < K; i++) {
        assert_true(h[i].id != skip[q]);
        if (!pass || i + 1 < K) assert_int_equal(h[i].id, want[i + pass]);
      }
      assert_true(lk_truth_recall(t, q, h, K) == 1.0);
      assert_true(lk_truth_recall(t, q, h, K / 2) == 0.5);
    }
    lk_truth_free(t);
  }
  /* the fine-code index without a re-rank: recall@10 0.82 at 1 list, 0.858 at all 64 */
  lk_truth *t = NULL;
  assert_int_equal(lk_truth_new(DIM, K, f->q, NULL, NQ, &t), 0);
  assert_int_equal(lk_truth_add(t, ids, f->v, N), 0);
  const double target = 0.85;
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, target, 0), 0);
  int p = lk_ivf_nprobe(f->ivf);
  double got = lk_ivf_recall(f->ivf), own = recall(f, p, NULL);
  print_message("tuned to %g: nprobe %d, recall %.4f (this file's measure %.4f, one list fewer %.4f)\n", target, p, got,
                own, p > 1 ? recall(f, p - 1, NULL) : 0.0);
  assert_true(got >= target && fabs(got - own) < 1e-6);
  assert_true(p > 1 && p <= 12); /* (rungs 1..12 are every whole number) */
  assert_true(recall(f, p - 1, NULL) < target);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, 1.0, 0), 0); /* out of reach: every list */
  assert_int_equal(lk_ivf_nprobe(f->ivf), 64);
  assert_true(fabs(lk_ivf_recall(f->ivf) - recall(f, 64, NULL)) < 1e-6);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, target, 20), 0); /* the floor */
  assert_int_equal(lk_ivf_nprobe(f->ivf), 20);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, target, 0), 0);
  /* saved and loaded back with its depth and recall */
  char *dir = lk_test_mkdtemp(), path[512];
  snprintf(path, sizeof path, "%s/t.lkx", dir);
  save_to(f->ivf, path);
  lk_lkx *x = NULL;
  lk_ivf *u = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_lkx_map(path, &x, &eb), 0);
  assert_int_equal(lk_ivf_load(x, &u, &eb), 0);
  assert_int_equal(lk_ivf_nprobe(u), p);
  assert_true(lk_ivf_recall(u) == (float)got);
  lk_ivf_free(u);
  lk_lkx_close(x);
  lk_test_rmtree(dir);
  free(dir);
  /* an untuned index: -1 */
  lk_ivf *c = build_cols(f, 0);
  assert_true(lk_ivf_recall(c) == -1);
  /* bad arguments */
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, 0, 0), LK_EINVAL);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, 1.5, 0), LK_EINVAL);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, NAN, 0), LK_EINVAL);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t, target, -1), LK_EINVAL);
  assert_int_equal(lk_ivf_tune_nprobe(NULL, t, target, 0), LK_EINVAL);
  lk_truth *t2 = NULL;
  assert_int_equal(lk_truth_new(DIM - 1, K, f->q, NULL, NQ, &t2), 0);
  assert_int_equal(lk_ivf_tune_nprobe(f->ivf, t2, target, 0), LK_EINVAL); /* another dimension */
  lk_truth_free(t2);
  assert_int_equal(lk_truth_new(DIM, 0, f->q, NULL, NQ, &t2), LK_EINVAL);
  assert_int_equal(lk_truth_new(DIM, K, f->q, NULL, 0, &t2), LK_EINVAL);
  assert_null(t2);
  lk_truth_free(t);
  assert_int_equal(lk_ivf_set_nprobe(f->ivf, 12), 0);
  free(ids);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recall),
      cmocka_unit_test(test_trim_and_large_k),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_coarse_only),
      cmocka_unit_test(test_where),
      cmocka_unit_test(test_save_load_cols),
      cmocka_unit_test(test_small_files),
      cmocka_unit_test(test_lazy_checks),
      cmocka_unit_test(test_byteset),
      cmocka_unit_test(test_dots),
      cmocka_unit_test(test_code_share),
      cmocka_unit_test(test_tune_nprobe),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
