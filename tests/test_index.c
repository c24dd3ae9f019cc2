/* tests/test_index.c — exact top-k search against a brute-force double-precision reference on
 * random unit vectors, over a table of (rows, dim, k, bitmap density, exclude) cases, plus ties,
 * batched queries, bad arguments, id lookup and concurrent searches from two threads; and the
 * optimized (int8 shortlist + float re-rank) search against the plain one on clustered data; the
 * query projection (vectorised in 64-column blocks) against a double-precision reference; an
 * index over borrowed rows (lk_index_wrap) against the same rows copied in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <pthread.h>

#include "index/index.h"
#include "index/quant.h"
#include "testutil.h"

/* xorshift64*: deterministic, seedable per test */
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

static void random_unit(float *v, int dim, uint64_t *s) {
  double n = 0;
  for (int j = 0; j < dim; j++) {
    v[j] = rng_gauss(s);
    n += (double)v[j] * v[j];
  }
  for (int j = 0; j < dim; j++) v[j] = (float)(v[j] / sqrt(n));
}

/* lk_hit has padding: compare fields, not bytes. */
static void assert_hits_equal(const lk_hit *a, const lk_hit *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i].id != b[i].id || memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0)
      fail_msg("hit %zu: (%lld, %g) vs (%lld, %g)", i, (long long)a[i].id, a[i].score,
               (long long)b[i].id, b[i].score);
}

typedef struct ref_hit {
  int64_t id;
  double score;
} ref_hit;

static int ref_cmp(const void *a, const void *b) {
  const ref_hit *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Brute force: every allowed, non-excluded row scored in double, sorted best first. */
static int reference(const lk_index *ix, const float *q, const uint64_t *allow, int64_t exclude,
                     ref_hit *out) {
  int m = 0, dim = lk_index_dim(ix);
  for (size_t r = 0; r < lk_index_size(ix); r++) {
    if (allow && !(allow[r / 64] >> (r % 64) & 1)) continue;
    const float *v = lk_index_vector(ix, r);
    int64_t id = (int64_t)r * 7 + 3; /* make_index's ids */
    assert_int_equal(lk_index_row(ix, id), (int64_t)r);
    if (id == exclude) continue;
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)q[j] * v[j];
    out[m].id = id;
    out[m].score = s;
    m++;
  }
  qsort(out, (size_t)m, sizeof *out, ref_cmp);
  return m;
}

/* Checks one query's hits against the reference. */
static void check_hits(const lk_index *ix, const float *q, const uint64_t *allow, int64_t exclude,
                       const lk_hit *hits, int nfound, int k, const char *what) {
  size_t n = lk_index_size(ix);
  ref_hit *ref = malloc((n + 1) * sizeof *ref);
  int m = reference(ix, q, allow, exclude, ref);
  int want = m < k ? m : k;
  if (nfound != want) fail_msg("%s: nfound %d want %d", what, nfound, want);
  int dim = lk_index_dim(ix);
  for (int i = 0; i < want; i++) {
    int64_t row = lk_index_row(ix, hits[i].id);
    if (row < 0) fail_msg("%s: hit %d: unknown id %lld", what, i, (long long)hits[i].id);
    if (allow && !(allow[row / 64] >> (row % 64) & 1)) fail_msg("%s: hit %d not allowed", what, i);
    if (hits[i].id == exclude) fail_msg("%s: excluded id returned", what);
    for (int j = 0; j < i; j++)
      if (hits[j].id == hits[i].id) fail_msg("%s: id %lld twice", what, (long long)hits[i].id);
    const float *v = lk_index_vector(ix, (size_t)row);
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)q[j] * v[j];
    if (fabs(s - hits[i].score) > 1e-4) fail_msg("%s: hit %d score %g true %g", what, i, hits[i].score, s);
    if (fabs(ref[i].score - hits[i].score) > 1e-4)
      fail_msg("%s: hit %d score %g, reference %g", what, i, hits[i].score, ref[i].score);
    if (i > 0 && (hits[i].score > hits[i - 1].score ||
                  (hits[i].score == hits[i - 1].score && hits[i].id < hits[i - 1].id)))
      fail_msg("%s: hits %d,%d out of order", what, i - 1, i);
  }
  /* with a clear gap at the cut, the chosen set must be exactly the reference's */
  if (want > 0 && (want == m || ref[want - 1].score - ref[want].score > 1e-4)) {
    for (int i = 0; i < want; i++) {
      int found = 0;
      for (int j = 0; j < want; j++) found |= hits[j].id == ref[i].id;
      if (!found) fail_msg("%s: reference id %lld missing", what, (long long)ref[i].id);
    }
  }
  for (int i = want; i < k; i++)
    if (hits[i].id != -1 || !isinf(hits[i].score) || hits[i].score > 0)
      fail_msg("%s: slot %d not padded", what, i);
  free(ref);
}

/* An index of n random unit rows with ids row*7+3 added in shuffled order (so rows != ids). */
static lk_index *make_index(size_t n, int dim, uint64_t *s, float **data) {
  lk_index *ix;
  assert_int_equal(lk_index_new(dim, &ix), 0);
  float *v = malloc((n ? n : 1) * (size_t)dim * sizeof *v);
  for (size_t r = 0; r < n; r++) random_unit(v + r * (size_t)dim, dim, s);
  for (size_t r = 0; r < n; r++) assert_int_equal(lk_index_add(ix, (int64_t)r * 7 + 3, v + r * (size_t)dim), 0);
  assert_int_equal(lk_index_size(ix), n);
  if (data) *data = v;
  else free(v);
  return ix;
}

static void test_against_reference(void **state) {
  static const struct {
    size_t n;
    int dim, k, nq;
    double density; /* < 0: no bitmap */
    int exclude;    /* exclude the first query's nearest row id (query = that row) */
  } cases[] = {
      {0, 8, 5, 1, -1, 0},       {1, 3, 1, 1, -1, 0},      {100, 7, 10, 1, -1, 0},
      {100, 7, 150, 1, -1, 0},   {64, 16, 64, 1, -1, 0},   {65, 16, 3, 1, 1.0, 1},
      {1000, 64, 20, 1, 0.1, 0}, {1000, 64, 50, 1, 0.01, 0}, {777, 33, 5, 1, 0.0, 0},
      {130, 17, 10, 1, 0.5, 1},  {2000, 1792, 10, 1, -1, 1}, {2000, 1792, 100, 3, 0.3, 0},
      {513, 40, 7, 20, -1, 0},   {300, 9, 10000, 2, 0.9, 1}, {50, 1, 5, 4, -1, 0},
  };
  uint64_t s = 42;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t n = cases[c].n;
    int dim = cases[c].dim, k = cases[c].k, nq = cases[c].nq;
    float *data;
    lk_index *ix = make_index(n, dim, &s, &data);
    uint64_t *allow = NULL;
    if (cases[c].density >= 0) {
      allow = calloc(n / 64 + 1, sizeof *allow);
      for (size_t r = 0; r < n; r++)
        if (rng_unit(&s) < cases[c].density) allow[r / 64] |= (uint64_t)1 << (r % 64);
    }
    float *q = malloc((size_t)nq * (size_t)dim * sizeof *q);
    for (int i = 0; i < nq; i++) random_unit(q + (size_t)i * dim, dim, &s);
    int64_t exclude = -1;
    if (cases[c].exclude && n > 0) {
      size_t r = n / 2;
      memcpy(q, data + r * (size_t)dim, (size_t)dim * sizeof *q);
      exclude = (int64_t)r * 7 + 3;
    }
    lk_hit *hits = malloc((size_t)nq * (size_t)k * sizeof *hits);
    int *nfound = malloc((size_t)nq * sizeof *nfound);
    for (size_t i = 0; i < (size_t)nq * (size_t)k; i++) hits[i] = (lk_hit){-7, 7.0f};
    int rc = lk_index_search(ix, q, nq, k, allow, exclude, hits, nfound);
    if (rc) fail_msg("case %zu: rc %d", c, rc);
    for (int i = 0; i < nq; i++) {
      char what[64];
      snprintf(what, sizeof what, "case %zu query %d", c, i);
      check_hits(ix, q + (size_t)i * dim, allow, exclude, hits + (size_t)i * k, nfound[i], k, what);
      /* a batch gives what one-at-a-time searches give */
      if (nq > 1) {
        lk_hit *one = malloc((size_t)k * sizeof *one);
        int nf1;
        assert_int_equal(lk_index_search(ix, q + (size_t)i * dim, 1, k, allow, exclude, one, &nf1), 0);
        assert_int_equal(nf1, nfound[i]);
        assert_hits_equal(one, hits + (size_t)i * k, (size_t)k);
        free(one);
      }
    }
    if (cases[c].exclude && n > 1 && cases[c].density < 0) /* the query row itself is gone */
      assert_true(hits[0].score < 0.999f);
    free(nfound);
    free(hits);
    free(q);
    free(allow);
    free(data);
    lk_index_free(ix);
  }
}

/* Equal rows score exactly alike: ties are ordered by id, and the cut keeps the smaller ids. */
/* lk_index_wrap: the rows and ids stay the caller's; lookups, vectors and searches (plain, with
 * an allow bitmap, excluding an id) are the copied index's; adds refused; bad ids refused. */
static void test_wrap(void **state) {
  enum { N = 300, DIM = 20 };
  uint64_t s = 21;
  float *data;
  lk_index *ix = make_index(N, DIM, &s, &data), *w = NULL;
  int64_t ids[N];
  memcpy(ids, lk_index_ids(ix), sizeof ids);
  assert_int_equal(lk_index_wrap(DIM, ids, data, N, &w), 0);
  assert_int_equal(lk_index_size(w), N);
  assert_int_equal(lk_index_dim(w), DIM);
  assert_ptr_equal(lk_index_vector(w, 5), data + 5 * DIM); /* not copied */
  assert_ptr_equal(lk_index_ids(w), ids);
  for (size_t r = 0; r < N; r++) assert_int_equal(lk_index_row(w, ids[r]), (int64_t)r);
  assert_int_equal(lk_index_row(w, 4), LK_ENOTFOUND);
  assert_int_equal(lk_index_row(w, -1), LK_ENOTFOUND);
  assert_int_equal(lk_index_row(w, ids[N - 1] + 1), LK_ENOTFOUND);
  uint64_t allow[N / 64 + 1] = {0};
  for (int r = 0; r < N; r += 3) allow[r / 64] |= 1ull << (r % 64);
  for (int q = 0; q < 10; q++) {
    float v[DIM];
    random_unit(v, DIM, &s);
    for (int f = 0; f < 2; f++) {
      lk_hit a[8], b[8];
      int na, nb;
      assert_int_equal(lk_index_search(ix, v, 1, 8, f ? allow : NULL, ids[q], a, &na), 0);
      assert_int_equal(lk_index_search(w, v, 1, 8, f ? allow : NULL, ids[q], b, &nb), 0);
      assert_int_equal(na, nb);
      for (int i = 0; i < na; i++) {
        assert_int_equal(a[i].id, b[i].id);
        assert_true(a[i].score == b[i].score);
      }
    }
  }
  assert_int_equal(lk_index_add(w, 100000, data), LK_EUNSUPPORTED);
  assert_int_equal(lk_index_reserve(w, 2 * N), LK_EUNSUPPORTED);
  lk_index_free(w); /* leaves ids and data alone */
  assert_int_equal(ids[0], 3);
  lk_index *bad = (lk_index *)1;
  int64_t swapped[3] = {3, 10, 7}, negative[2] = {-1, 4};
  assert_int_equal(lk_index_wrap(DIM, swapped, data, 3, &bad), LK_ECORRUPT);
  assert_null(bad);
  assert_int_equal(lk_index_wrap(DIM, negative, data, 2, &bad), LK_ECORRUPT);
  assert_int_equal(lk_index_wrap(0, ids, data, N, &bad), LK_EINVAL);
  assert_int_equal(lk_index_wrap(DIM, NULL, data, N, &bad), LK_EINVAL);
  assert_int_equal(lk_index_wrap(DIM, NULL, NULL, 0, &bad), 0); /* empty */
  assert_int_equal(lk_index_size(bad), 0);
  lk_index_free(bad);
  lk_index_free(ix);
  free(data);
}

static void test_ties(void **state) {
  enum { DIM = 37, DISTINCT = 6, COPIES = 9, N = DISTINCT * COPIES };
  uint64_t s = 7;
  float base[DISTINCT][DIM];
  for (int i = 0; i < DISTINCT; i++) random_unit(base[i], DIM, &s);
  int64_t ids[N];
  for (int i = 0; i < N; i++) ids[i] = 1000 - 11 * i;
  for (int i = N - 1; i > 0; i--) { /* shuffle */
    int j = (int)(rng_next(&s) % (uint64_t)(i + 1));
    int64_t t = ids[i];
    ids[i] = ids[j];
    ids[j] = t;
  }
  lk_index *ix;
  assert_int_equal(lk_index_new(DIM, &ix), 0);
  for (int i = 0; i < N; i++) assert_int_equal(lk_index_add(ix, ids[i], base[i % DISTINCT]), 0);
  for (int k = 1; k <= N; k += 4) {
    lk_hit hits[N];
    int nf;
    assert_int_equal(lk_index_search(ix, base[2], 1, k, NULL, -1, hits, &nf), 0);
    assert_int_equal(nf, k);
    /* expected: group by base vector, best group first, ids ascending inside a group */
    int64_t want[N];
    int w = 0;
    float gs[DISTINCT];
    int order[DISTINCT];
    for (int g = 0; g < DISTINCT; g++) {
      float sc = 0;
      for (int j = 0; j < DIM; j++) sc += base[2][j] * base[g][j];
      gs[g] = sc;
      order[g] = g;
    }
    for (int a = 0; a < DISTINCT; a++)
      for (int b = a + 1; b < DISTINCT; b++)
        if (gs[order[b]] > gs[order[a]]) {
          int t = order[a];
          order[a] = order[b];
          order[b] = t;
        }
    for (int g = 0; g < DISTINCT; g++) {
      int64_t grp[COPIES];
      int m = 0;
      for (int i = 0; i < N; i++)
        if (i % DISTINCT == order[g]) grp[m++] = ids[i];
      for (int a = 0; a < m; a++)
        for (int b = a + 1; b < m; b++)
          if (grp[b] < grp[a]) {
            int64_t t = grp[a];
            grp[a] = grp[b];
            grp[b] = t;
          }
      for (int a = 0; a < m; a++) want[w++] = grp[a];
    }
    for (int i = 0; i < k; i++)
      if (hits[i].id != want[i])
        fail_msg("k %d: hit %d id %lld want %lld", k, i, (long long)hits[i].id, (long long)want[i]);
    for (int i = 1; i < k; i++)
      if (i % COPIES && hits[i].score != hits[i - 1].score)
        fail_msg("k %d: copies of one vector scored differently at %d", k, i);
  }
  lk_index_free(ix);
}

static void test_rows_and_bad_args(void **state) {
  uint64_t s = 3;
  float *data;
  lk_index *ix = make_index(200, 10, &s, &data);
  for (size_t r = 0; r < 200; r++) {
    assert_int_equal(lk_index_row(ix, (int64_t)r * 7 + 3), (int64_t)r);
    assert_memory_equal(lk_index_vector(ix, r), data + r * 10, 10 * sizeof(float));
  }
  assert_int_equal(lk_index_row(ix, 4), LK_ENOTFOUND);
  assert_int_equal(lk_index_row(ix, -1), LK_ENOTFOUND);
  assert_null(lk_index_vector(ix, 200));
  assert_int_equal(lk_index_dim(ix), 10);

  float v[10] = {1};
  assert_int_equal(lk_index_add(ix, 3, v), LK_EINVAL);  /* duplicate id */
  assert_int_equal(lk_index_add(ix, -5, v), LK_EINVAL); /* negative id */
  v[4] = NAN;
  assert_int_equal(lk_index_add(ix, 5, v), LK_EINVAL);
  v[4] = INFINITY;
  assert_int_equal(lk_index_add(ix, 5, v), LK_EINVAL);
  assert_int_equal(lk_index_size(ix), 200);
  v[4] = 0;

  lk_hit hits[10];
  assert_int_equal(lk_index_search(ix, v, 1, 0, NULL, -1, hits, NULL), LK_EINVAL);
  assert_int_equal(lk_index_search(ix, v, 1, -3, NULL, -1, hits, NULL), LK_EINVAL);
  assert_int_equal(lk_index_search(ix, v, 1, LK_INDEX_MAX_K + 1, NULL, -1, hits, NULL), LK_EINVAL);
  assert_int_equal(lk_index_search(ix, v, -1, 5, NULL, -1, hits, NULL), LK_EINVAL);
  assert_int_equal(lk_index_search(ix, NULL, 1, 5, NULL, -1, hits, NULL), LK_EINVAL);
  v[0] = NAN;
  assert_int_equal(lk_index_search(ix, v, 1, 5, NULL, -1, hits, NULL), LK_EINVAL);
  v[0] = 1;
  assert_int_equal(lk_index_search(ix, v, 0, 5, NULL, -1, hits, NULL), 0);
  /* an exclude id that is not in the index excludes nothing */
  int nf;
  assert_int_equal(lk_index_search(ix, v, 1, 10, NULL, 424242, hits, &nf), 0);
  assert_int_equal(nf, 10);

  lk_index *bad = (lk_index *)1;
  assert_int_equal(lk_index_new(0, &bad), LK_EINVAL);
  assert_null(bad);
  lk_index_free(NULL);

  /* reserve then add: same answers as growing */
  lk_index *ix2;
  assert_int_equal(lk_index_new(10, &ix2), 0);
  assert_int_equal(lk_index_reserve(ix2, 200), 0);
  for (size_t r = 0; r < 200; r++) assert_int_equal(lk_index_add(ix2, (int64_t)r * 7 + 3, data + r * 10), 0);
  lk_hit h1[10], h2[10];
  assert_int_equal(lk_index_search(ix, data + 50, 1, 10, NULL, -1, h1, NULL), 0);
  assert_int_equal(lk_index_search(ix2, data + 50, 1, 10, NULL, -1, h2, NULL), 0);
  assert_hits_equal(h1, h2, 10);
  assert_int_equal(h1[0].id, 5 * 7 + 3); /* a row's own vector is its best match */
  lk_index_free(ix2);
  lk_index_free(ix);
  free(data);
}

typedef struct worker {
  const lk_index *ix;
  const float *q;
  const uint64_t *allow;
  int nq, dim, k;
  lk_hit *hits;
  int rc;
} worker;

static void *worker_run(void *arg) {
  worker *w = arg;
  for (int rep = 0; rep < 3 && !w->rc; rep++)
    for (int i = 0; i < w->nq && !w->rc; i++)
      w->rc = lk_index_search(w->ix, w->q + (size_t)i * w->dim, 1, w->k, w->allow, -1,
                              w->hits + (size_t)(rep * w->nq + i) * w->k, NULL);
  return NULL;
}

static void test_concurrent(void **state) {
  enum { N = 6000, DIM = 128, K = 25, NQ = 12 };
  uint64_t s = 99;
  lk_index *ix = make_index(N, DIM, &s, NULL);
  uint64_t allow[N / 64 + 1] = {0};
  for (int r = 0; r < N; r++)
    if (r % 3) allow[r / 64] |= (uint64_t)1 << (r % 64);
  float q[2][NQ * DIM];
  lk_hit want[2][NQ * K];
  for (int t = 0; t < 2; t++) {
    for (int i = 0; i < NQ; i++) random_unit(q[t] + i * DIM, DIM, &s);
    assert_int_equal(lk_index_search(ix, q[t], NQ, K, t ? allow : NULL, -1, want[t], NULL), 0);
  }
  worker w[2];
  pthread_t th[2];
  for (int t = 0; t < 2; t++) {
    w[t] = (worker){ix, q[t], t ? allow : NULL, NQ, DIM, K, malloc(3 * NQ * K * sizeof(lk_hit)), 0};
    assert_int_equal(pthread_create(&th[t], NULL, worker_run, &w[t]), 0);
  }
  for (int t = 0; t < 2; t++) {
    pthread_join(th[t], NULL);
    assert_int_equal(w[t].rc, 0);
    for (int rep = 0; rep < 3; rep++)
      assert_hits_equal(w[t].hits + rep * NQ * K, want[t], NQ * K);
    free(w[t].hits);
  }
  lk_index_free(ix);
}


/* n unit rows around `centers` cluster centres (noise of relative size `spread`): the kind of
 * structure real embeddings have, where a reduced basis keeps the neighbours apart. */
static float *clustered(size_t n, int dim, int centers, float spread, uint64_t *s) {
  float *c = malloc((size_t)centers * dim * sizeof *c), *v = malloc(n * (size_t)dim * sizeof *v);
  for (int i = 0; i < centers; i++) random_unit(c + (size_t)i * dim, dim, s);
  for (size_t r = 0; r < n; r++) {
    const float *cc = c + (size_t)(rng_next(s) % (uint64_t)centers) * dim;
    float *x = v + r * (size_t)dim;
    double nn = 0;
    for (int j = 0; j < dim; j++) {
      x[j] = cc[j] + spread / sqrtf((float)dim) * rng_gauss(s);
      nn += (double)x[j] * x[j];
    }
    for (int j = 0; j < dim; j++) x[j] = (float)(x[j] / sqrt(nn));
  }
  free(c);
  return v;
}

/* The optimized search gives the plain scan's hits, bit for bit, over a table of cases; the
 * filtered ones include bitmaps small enough for the exact fallback and large ones scanned
 * through the codes. */
static void test_optimized(void **state) {
  static const struct {
    size_t n;
    int dim, p, k, threads, shortlist;
    double density; /* < 0: no bitmap */
    int exclude;
  } cases[] = {
      {5000, 256, 64, 10, 1, 0, -1, 0},   {5000, 256, 64, 10, 2, 0, -1, 1},
      {6000, 300, 0, 25, 2, 0, 0.5, 0},   {4000, 200, 200, 10, 1, 0, -1, 0}, /* p == dim: raw codes */
      {4000, 96, 32, 10, 3, 50, 0.03, 1}, /* few allowed rows: the plain fallback */
      {3000, 128, 48, 100, 1, 0, 0.3, 0}, {3001, 64, 16, 1, 2, 0, 0.8, 1},
  };
  uint64_t s = 2024;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t n = cases[c].n;
    int dim = cases[c].dim, k = cases[c].k;
    float *v = clustered(n + 20, dim, 40, 0.6f, &s);
    lk_index *plain, *fast;
    assert_int_equal(lk_index_new(dim, &plain), 0);
    assert_int_equal(lk_index_new(dim, &fast), 0);
    for (size_t r = 0; r < n; r++) {
      assert_int_equal(lk_index_add(plain, (int64_t)r * 7 + 3, v + r * (size_t)dim), 0);
      assert_int_equal(lk_index_add(fast, (int64_t)r * 7 + 3, v + r * (size_t)dim), 0);
    }
    assert_int_equal(lk_index_optimized_dims(fast), 0);
    assert_int_equal(lk_index_optimize(fast, cases[c].p), 0);
    int want_p = cases[c].p ? cases[c].p : (dim < LK_INDEX_DEFAULT_P ? dim : LK_INDEX_DEFAULT_P);
    assert_int_equal(lk_index_optimized_dims(fast), want_p);
    assert_int_equal(lk_index_set_threads(fast, cases[c].threads), 0);
    if (cases[c].shortlist) assert_int_equal(lk_index_set_shortlist(fast, cases[c].shortlist), 0);
    uint64_t *allow = NULL;
    if (cases[c].density >= 0) {
      allow = calloc(n / 64 + 1, sizeof *allow);
      for (size_t r = 0; r < n; r++)
        if (rng_unit(&s) < cases[c].density) allow[r / 64] |= (uint64_t)1 << (r % 64);
    }
    lk_hit *h1 = malloc((size_t)k * sizeof *h1), *h2 = malloc((size_t)k * sizeof *h2);
    for (int q = 0; q < 20; q++) {
      /* queries: catalog rows (the exclude case drops the row itself) and fresh rows */
      const float *qv = q < 10 ? v + (size_t)(q * 97 % n) * dim : v + (n + (size_t)q) * (size_t)dim;
      int64_t ex = cases[c].exclude && q < 10 ? (int64_t)(q * 97 % n) * 7 + 3 : -1;
      int n1, n2;
      assert_int_equal(lk_index_search(plain, qv, 1, k, allow, ex, h1, &n1), 0);
      assert_int_equal(lk_index_search(fast, qv, 1, k, allow, ex, h2, &n2), 0);
      assert_int_equal(n1, n2);
      assert_hits_equal(h1, h2, (size_t)k);
      char what[64];
      snprintf(what, sizeof what, "optimized case %zu query %d", c, q);
      check_hits(fast, qv, allow, ex, h2, n2, k, what);
    }
    /* rows added after optimize get codes too: a new row is its own best match */
    const float *nv = v + (n + 19) * (size_t)dim;
    assert_int_equal(lk_index_add(fast, 999999, nv), 0);
    int nf;
    assert_int_equal(lk_index_search(fast, nv, 1, k, NULL, -1, h2, &nf), 0);
    assert_int_equal(h2[0].id, 999999);
    free(h1);
    free(h2);
    free(allow);
    free(v);
    lk_index_free(plain);
    lk_index_free(fast);
  }
}

static void test_optimize_bad_args(void **state) {
  uint64_t s = 5;
  lk_index *ix = make_index(100, 32, &s, NULL);
  assert_int_equal(lk_index_optimize(NULL, 0), LK_EINVAL);
  assert_int_equal(lk_index_optimize(ix, -1), LK_EINVAL);
  assert_int_equal(lk_index_optimize(ix, 33), LK_EINVAL); /* more than dim */
  assert_int_equal(lk_index_optimize(ix, LK_INDEX_MAX_P + 1), LK_EINVAL);
  assert_int_equal(lk_index_optimized_dims(ix), 0);
  assert_int_equal(lk_index_set_threads(ix, 0), LK_EINVAL);
  assert_int_equal(lk_index_set_threads(ix, LK_INDEX_MAX_THREADS + 1), LK_EINVAL);
  assert_int_equal(lk_index_set_shortlist(ix, 0), LK_EINVAL);
  assert_int_equal(lk_index_set_shortlist(ix, LK_INDEX_MAX_K + 1), LK_EINVAL);
  lk_index *small;
  assert_int_equal(lk_index_new(64, &small), 0);
  float v[64] = {1};
  assert_int_equal(lk_index_add(small, 1, v), 0);
  assert_int_equal(lk_index_optimize(small, 16), LK_EINVAL); /* fewer rows than dimensions */
  assert_int_equal(lk_index_optimize(small, 64), 0);         /* raw codes need no basis */
  lk_hit h[3];
  int nf;
  assert_int_equal(lk_index_search(small, v, 1, 3, NULL, -1, h, &nf), 0);
  assert_int_equal(nf, 1);
  assert_int_equal(h[1].id, -1);
  lk_index_free(small);
  /* optimizing twice re-learns the basis and keeps the answers */
  assert_int_equal(lk_index_optimize(ix, 8), 0);
  assert_int_equal(lk_index_optimize(ix, 16), 0);
  assert_int_equal(lk_index_optimized_dims(ix), 16);
  lk_index_free(ix);
}

/* lk_quant_project against a double reference, at widths that use only the 64-column blocks,
 * only the tail, and both (the CLI's default is dim 1792, p 256). */
static void test_project(void **state) {
  static const int shapes[][2] = {{1792, 256}, {40, 7}, {300, 64}, {129, 100}, {1, 1}};
  uint64_t s = 11;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    int dim = shapes[k][0], p = shapes[k][1];
    float *b = malloc(sizeof(float) * (size_t)dim * (size_t)p), *v = malloc(sizeof(float) * (size_t)dim);
    float *out = malloc(sizeof(float) * (size_t)p);
    assert_non_null(b);
    assert_non_null(v);
    assert_non_null(out);
    for (size_t i = 0; i < (size_t)dim * (size_t)p; i++) b[i] = rng_gauss(&s);
    for (int j = 0; j < dim; j++) v[j] = rng_gauss(&s);
    lk_quant_project(b, dim, p, v, out);
    for (int c = 0; c < p; c++) {
      double ref = 0, mag = 0;
      for (int j = 0; j < dim; j++) {
        ref += (double)b[(size_t)j * p + c] * v[j];
        mag += fabs((double)b[(size_t)j * p + c] * v[j]);
      }
      if (fabs(out[c] - ref) > 1e-5 * mag + 1e-6) fail_msg("dim %d p %d column %d: %g vs %g", dim, p, c, out[c], ref);
    }
    free(b);
    free(v);
    free(out);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_reference),
      cmocka_unit_test(test_ties),
      cmocka_unit_test(test_wrap),
      cmocka_unit_test(test_rows_and_bad_args),
      cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_optimized),
      cmocka_unit_test(test_optimize_bad_args),
      cmocka_unit_test(test_project),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
