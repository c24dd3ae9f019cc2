/* bench/search_common.h — what the search benchmarks share (search_bench, big_bench): the
 * catalog's vectors read through the catalog API, clocks and percentiles, .npy headers, the
 * synthetic catalog drawn around the real vectors (deterministic per row, so a chunk can be
 * regenerated), the mapped vector file for the exact re-rank, exact top-k heaps for ground truth.
 * Header-only (static inline); benchmarks are not part of the library or of `make test`. */
#ifndef LK_BENCH_SEARCH_COMMON_H
#define LK_BENCH_SEARCH_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "index/index.h"
#include "index/ivf.h"
#include "index/truth.h"
#include "search/engine.h"
#include "util/array.h"
#include "util/err.h"
#include "util/rng.h"

typedef struct vecs {
  float *v;
  int64_t *ids;
  size_t n, cap;
  int dim;
} vecs;

static inline int vec_cb(void *ctx, int64_t id, const float *v, int dim) {
  vecs *a = ctx;
  if (!a->dim) a->dim = dim;
  if (dim != a->dim) return LK_ECORRUPT;
  if (a->n == a->cap) { /* rows and ids grow together under one capacity (util/array.h's rule) */
    size_t nc;
    int rc = lk_array_grow_cap(a->cap, a->n + 1, 4096, sizeof(float) * (size_t)dim, &nc);
    if (!rc) rc = LK_ARRAY_RESIZE(a->v, nc * (size_t)dim);
    if (!rc) rc = LK_ARRAY_RESIZE(a->ids, nc);
    if (rc) return rc;
    a->cap = nc;
  }
  memcpy(a->v + a->n * (size_t)dim, v, sizeof(float) * (size_t)dim);
  a->ids[a->n++] = id;
  return 0;
}

static inline int load(const char *db, vecs *a) {
  lk_catalog *c;
  lk_errbuf err = {0};
  int rc = lk_catalog_open(db, LK_CATALOG_READONLY, &c, &err);
  if (rc) {
    fprintf(stderr, "%s: %s\n", db, err.msg);
    return rc;
  }
  memset(a, 0, sizeof *a);
  rc = lk_catalog_foreach_vector(c, vec_cb, a);
  lk_catalog_close(c);
  return rc;
}

static inline double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static inline double now(void) { return seconds(CLOCK_MONOTONIC); }

/* This thread's CPU time: unlike the wall clock, it leaves out the time other processes held
 * the core, so it shows what an otherwise idle machine would take (cache sharing aside). */
static inline double cpu_now(void) { return seconds(CLOCK_THREAD_CPUTIME_ID); }

/* This process's resident memory now (kB; -1 unknown). */
typedef struct rss { long vm, anon, file; } rss; /* kB, /proc/self/status */

static inline rss rss_now(void) {
  rss r = {-1, -1, -1};
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    sscanf(line, "VmRSS: %ld", &r.vm);
    sscanf(line, "RssAnon: %ld", &r.anon);
    sscanf(line, "RssFile: %ld", &r.file);
  }
  if (f) fclose(f);
  return r;
}

static inline int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
/* p-th percentile (0..100) of t[0..n), sorts t. */
static inline double pct(double *t, int n, double p) {
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  int i = (int)ceil(p / 100.0 * n) - 1;
  return t[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static inline double unif(uint64_t *s) { return (double)(lk_rng_next(s) >> 11) / 9007199254740992.0; }
static inline float gauss(uint64_t *s) {
  double u = unif(s) + 1e-300, v = unif(s);
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static inline const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 2; i + 1 < argc; i++)
    if (!strcmp(argv[i], name)) return argv[i + 1];
  return def;
}

/* Writes an .npy header for a C-order array of the given dtype and shape. */
static inline int npy_header(FILE *f, const char *dtype, size_t rows, size_t cols) {
  char h[256];
  int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", dtype, rows, cols);
  int total = 10 + n + 1, pad = (64 - total % 64) % 64;
  unsigned short hl = (unsigned short)(n + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fwrite(&hl, 2, 1, f);
  fwrite(h, 1, (size_t)n, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  return ferror(f) ? -1 : 0;
}

/* The synthetic catalog: rows 0..nreal-1 are the real vectors, row r >= nreal is a real vector
 * (chosen by the row's own seed) plus N(0, sigma^2) noise per component, renormalised.
 * Deterministic per row, so a chunk can be regenerated. Gaussians come from a table. */
typedef struct gen {
  const vecs *real;
  int iso;     /* 1: isotropic noise; 0: noise = beta (real_b - real_c), the catalog's covariance */
  float sigma; /* iso: per component; else beta */
  float *table; /* 65536 N(0,1) values */
} gen;

static inline size_t gen_row(const gen *g, uint64_t seed, size_t r, float *out) {
  int d = g->real->dim;
  if (r < g->real->n && seed == 0) {
    memcpy(out, g->real->v + r * (size_t)d, sizeof(float) * (size_t)d);
    return r;
  }
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + r;
  size_t parent = (size_t)(lk_rng_next(&s) % g->real->n);
  const float *p = g->real->v + parent * (size_t)d;
  double nn = 0;
  uint64_t bits = 0;
  if (g->iso) {
    for (int j = 0; j < d; j++) {
      if ((j & 3) == 0) bits = lk_rng_next(&s);
      float x = p[j] + g->sigma * g->table[bits & 0xffff];
      bits >>= 16;
      out[j] = x;
      nn += (double)x * x;
    }
  } else {
    const float *b = g->real->v + (size_t)(lk_rng_next(&s) % g->real->n) * (size_t)d;
    const float *c = g->real->v + (size_t)(lk_rng_next(&s) % g->real->n) * (size_t)d;
    for (int j = 0; j < d; j++) {
      float x = p[j] + g->sigma * (b[j] - c[j]);
      out[j] = x;
      nn += (double)x * x;
    }
  }
  float inv = (float)(1 / sqrt(nn));
  for (int j = 0; j < d; j++) out[j] *= inv;
  return parent;
}

/* The real row row r of the synthetic catalog (seed as gen_row's) is drawn around, without
 * generating it: rows inherit their parent's metadata. */
static inline size_t gen_parent(const gen *g, uint64_t seed, size_t r) {
  if (r < g->real->n && seed == 0) return r;
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + r;
  return (size_t)(lk_rng_next(&s) % g->real->n);
}

/* Sets up g over the real vectors a: the noise scale makes a synthetic row's cosine to its
 * parent the median cosine of a real item to its nearest other item (returned in *nn_cos).
 * iso: isotropic Gaussian noise; else beta (real_b - real_c), the catalog's covariance.
 * g->table is the caller's (free). 0, or -1 when the exact index fails. */
static inline int gen_init(gen *g, const vecs *a, int iso, double *nn_cos) {
  const int d = a->dim;
  lk_index *ix;
  if (lk_index_new(d, &ix)) return -1;
  for (size_t i = 0; i < a->n; i++)
    if (lk_index_add(ix, a->ids[i], a->v + i * (size_t)d)) return lk_index_free(ix), -1;
  if (lk_index_optimize(ix, 0)) return lk_index_free(ix), -1;
  double nnc[200];
  for (int i = 0; i < 200; i++) {
    size_t r = (size_t)i * a->n / 200;
    lk_hit h;
    if (lk_index_search(ix, a->v + r * (size_t)d, 1, 1, NULL, a->ids[r], &h, NULL)) return lk_index_free(ix), -1;
    nnc[i] = h.score;
  }
  lk_index_free(ix);
  double c = pct(nnc, 200, 50);
  /* E|b - c|^2 = 2 (1 - mean cosine between random items) */
  double mc = 0;
  uint64_t ms = 5;
  for (int i = 0; i < 2000; i++) {
    const float *b = a->v + (size_t)(lk_rng_next(&ms) % a->n) * d, *e = a->v + (size_t)(lk_rng_next(&ms) % a->n) * d;
    double dd = 0;
    for (int j = 0; j < d; j++) dd += ((double)b[j] - e[j]) * ((double)b[j] - e[j]);
    mc += dd / 2000;
  }
  double want2 = 1 / (c * c) - 1; /* |noise|^2 for cosine c to a unit parent */
  *g = (gen){a, iso, iso ? (float)sqrt(want2 / d) : (float)sqrt(want2 / mc), malloc(sizeof(float) * 65536)};
  if (!g->table) return -1;
  uint64_t ts = 77;
  for (int i = 0; i < 65536; i++) g->table[i] = gauss(&ts);
  *nn_cos = c;
  return 0;
}

static inline int hit_cmp(const void *a, const void *b) {
  const lk_hit *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* The refine step's vectors: rows of the memory-mapped base.npy. */
typedef struct mapped {
  const float *v;
  int dim;
} mapped;

static inline int mapped_get(void *ctx, int64_t id, const float **out) {
  const mapped *m = ctx;
  *out = m->v + (size_t)id * m->dim;
  return 0;
}

/* The engine's probe depth for v, tuned as search/engine.c tunes it when it builds an IVF:
 * exact top-10s (index/truth.h) of LK_ENGINE_IVF_TUNE_QUERIES rows spread over the N rows of
 * V (id = row; each query skips itself), searched as served (rerank and exact refine
 * LK_ENGINE_IVF_RERANK from the rows in mv), at least LK_ENGINE_IVF_MIN_SCAN rows' worth;
 * lk_ivf_tune_nprobe sets it in v (and its recall), v is left without a refine source.
 * *truth_s and *tune_s: the two steps' seconds; *min_probe the floor. */
static inline int bench_tune_probe(lk_ivf *v, const float *V, size_t N, int d, mapped *mv, double *truth_s,
                                   double *tune_s, int *min_probe) {
  double t = now();
  lk_truth *tr = NULL;
  int nqt = N < LK_ENGINE_IVF_TUNE_QUERIES ? (int)N : LK_ENGINE_IVF_TUNE_QUERIES, nlist, fine, coarse;
  enum { B = 4096 };
  float *tq = malloc(sizeof(float) * (size_t)nqt * d);
  int64_t *tskip = malloc(sizeof(int64_t) * (size_t)nqt), *tids = malloc(sizeof(int64_t) * B);
  int rc = tq && tskip && tids ? 0 : LK_ENOMEM;
  for (int j = 0; !rc && j < nqt; j++) {
    tskip[j] = (int64_t)((size_t)j * N / (size_t)nqt);
    memcpy(tq + (size_t)j * d, V + (size_t)tskip[j] * d, sizeof(float) * (size_t)d);
  }
  if (!rc) rc = lk_truth_new(d, 10, tq, tskip, nqt, &tr);
  for (size_t r0 = 0; !rc && r0 < N; r0 += B) {
    size_t m = N - r0 < B ? N - r0 : B;
    for (size_t i = 0; i < m; i++) tids[i] = (int64_t)(r0 + i);
    rc = lk_truth_add(tr, tids, V + r0 * (size_t)d, m);
  }
  *truth_s = now() - t;
  t = now();
  lk_ivf_shape(v, &nlist, &fine, &coarse);
  *min_probe = (int)fmin(nlist, ceil((double)LK_ENGINE_IVF_MIN_SCAN * nlist / (double)N));
  if (!rc) rc = lk_ivf_set_rerank(v, LK_ENGINE_IVF_RERANK);
  if (!rc) rc = lk_ivf_set_refine(v, LK_ENGINE_IVF_REFINE, mapped_get, mv);
  if (!rc) rc = lk_ivf_tune_nprobe(v, tr, LK_ENGINE_IVF_RECALL, *min_probe);
  lk_ivf_set_refine(v, 0, NULL, NULL);
  *tune_s = now() - t;
  lk_truth_free(tr);
  free(tq), free(tskip), free(tids);
  return rc;
}

/* Inserts v into the ascending list[0..*n) (room for cap) unless it is there or full: the
 * tuned probe depth joins a sweep. */
static inline void sweep_insert(int *list, int *n, int cap, int v) {
  int at = 0;
  while (at < *n && list[at] < v) at++;
  if ((at == *n || list[at] != v) && *n < cap) {
    memmove(list + at + 1, list + at, sizeof(int) * (size_t)(*n - at));
    list[at] = v, (*n)++;
  }
}

/* Exact top-k heaps for nq queries over chunks (sgemm of a chunk against all queries). */
typedef struct gt {
  int nq, k;
  lk_hit *h; /* nq*k, heap per query (min at 0) */
  int *len;
} gt;

static inline void gt_offer(gt *t, int q, int64_t id, float s) {
  lk_hit *h = t->h + (size_t)q * t->k;
  int *len = &t->len[q];
  if (*len < t->k) {
    int i = (*len)++;
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!(s < h[p].score || (s == h[p].score && id > h[p].id))) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = (lk_hit){id, s};
  } else if (s > h[0].score || (s == h[0].score && id < h[0].id)) {
    lk_hit x = {id, s};
    int i = 0;
    for (;;) {
      int c = 2 * i + 1;
      if (c >= t->k) break;
      if (c + 1 < t->k && (h[c + 1].score < h[c].score || (h[c + 1].score == h[c].score && h[c + 1].id > h[c].id))) c++;
      if (!(h[c].score < x.score || (h[c].score == x.score && h[c].id > x.id))) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = x;
  }
}

#endif
