/* bench/engine_ivf_bench.c — the engine's IVF as built (fine + coarse codes, search/engine.c
 * build_ivf's options) against coarse-only codes (index/ivf.h fine_dims 0, 128-d coarse, exact
 * re-rank of the best `rerank` from the float rows), over a catalog's own index rows (with a
 * tuned catalog's label prior, the widened rows the engine searches), opened from its saved
 * index: recall@10 against the exact scan of the same rows and p50/p99 of one query per call,
 * one thread, queries = the search rows of Q items spread over the catalog (each excluded from
 * its own answer). docs/PERFORMANCE.md "Saved index". Not a test.
 *   engine_ivf_bench --db CATALOG [--queries 200] [--nprobe 16,32,96] [--rerank 100,200,1000] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "index/ivf.h"
#include "search/engine.h"

#include "search_common.h"

typedef struct rows {
  const lk_index *ix;
} rows;

static int row_get(void *ctx, int64_t id, float *out) {
  const rows *r = ctx;
  int64_t row = lk_index_row(r->ix, id);
  if (row < 0) return LK_ECORRUPT;
  memcpy(out, lk_index_vector(r->ix, (size_t)row), sizeof(float) * (size_t)lk_index_dim(r->ix));
  return 0;
}

/* An IVF over every row of ix, trained as build_ivf trains the engine's (65,536 rows spread). */
static int build(const lk_index *ix, int fine, int coarse, lk_ivf **out, double *secs) {
  size_t n = lk_index_size(ix), nt = n < 65536 ? n : 65536;
  int d = lk_index_dim(ix), rc;
  lk_ivf_opts io;
  lk_ivf_opts_default(&io);
  io.expected = n;
  io.nprobe = LK_ENGINE_IVF_NPROBE;
  io.rerank = LK_ENGINE_IVF_RERANK;
  io.fine_dims = fine > d ? d : fine;
  io.coarse_dims = coarse > (fine ? io.fine_dims : d) ? (fine ? io.fine_dims : d) : coarse;
  float *x = malloc(sizeof(float) * nt * (size_t)d);
  if (!x) return LK_ENOMEM;
  double t0 = now();
  for (size_t i = 0; i < nt; i++) memcpy(x + i * (size_t)d, lk_index_vector(ix, i * n / nt), sizeof(float) * (size_t)d);
  rc = lk_ivf_train(&io, d, x, nt, out);
  free(x);
  for (size_t r0 = 0; !rc && r0 < n; r0 += 4096) {
    size_t m = n - r0 < 4096 ? n - r0 : 4096;
    rc = lk_ivf_add(*out, lk_index_ids(ix) + r0, lk_index_vector(ix, r0), m);
  }
  if (!rc) rc = lk_ivf_trim(*out);
  *secs = now() - t0;
  return rc;
}

int main(int argc, char **argv) {
  const char *db = arg(argc + 1, argv - 1, "--db", NULL);
  int nq = atoi(arg(argc + 1, argv - 1, "--queries", "200"));
  if (!db || nq <= 0) {
    fprintf(stderr, "usage: engine_ivf_bench --db CATALOG [--queries 200]\n");
    return 2;
  }
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  if (lk_engine_open(db, &o, &e, &eb)) {
    fprintf(stderr, "%s\n", lk_err_msg(&eb));
    return 1;
  }
  const lk_index *ix = lk_engine_index(e);
  size_t n = lk_index_size(ix);
  int d = lk_index_dim(ix), k = 10;
  rows rr = {ix};
  /* queries: the search rows of items spread over the catalog; truth: the exact scan */
  float *q = malloc(sizeof(float) * (size_t)nq * (size_t)d);
  int64_t *qid = malloc(sizeof *qid * (size_t)nq);
  lk_hit *truth = malloc(sizeof *truth * (size_t)nq * (size_t)k), *h = malloc(sizeof *h * (size_t)k);
  double *t = malloc(sizeof *t * (size_t)nq);
  for (int i = 0; i < nq; i++) {
    size_t r = (size_t)i * n / (size_t)nq + 7;
    qid[i] = lk_index_ids(ix)[r];
    lk_engine_make_query(e, lk_engine_vector(e, qid[i]), q + (size_t)i * (size_t)d);
    if (lk_index_search(ix, q + (size_t)i * (size_t)d, 1, k, NULL, qid[i], truth + (size_t)i * (size_t)k, NULL)) return 1;
  }
  printf("engine_ivf: %s, %zu rows of %d floats, %d queries, k %d\n", db, n, d, nq, k);
  static const struct { const char *name; int fine, coarse; } kinds[] = {{"fine+coarse (engine)", 768, 128}, {"coarse-only 128", 0, 128}};
  static const int probes[] = {16, 32, 96}, reranks[] = {100, 200, 1000};
  for (int c = 0; c < 2; c++) {
    lk_ivf *v = NULL;
    double bs;
    if (build(ix, kinds[c].fine, kinds[c].coarse, &v, &bs)) return 1;
    if (lk_ivf_set_refine(v, LK_ENGINE_IVF_REFINE, row_get, &rr)) return 1;
    printf("%s: built in %.1f s, %.0f B/item\n", kinds[c].name, bs, (double)lk_ivf_memory(v) / (double)n);
    for (int pi = 0; pi < 3; pi++)
      for (int ri = 0; ri < 3; ri++) {
        if (lk_ivf_set_rerank(v, reranks[ri]) || (!kinds[c].fine && lk_ivf_set_refine(v, reranks[ri], row_get, &rr)))
          return 1;
        double hit = 0;
        for (int i = 0; i < nq; i++) {
          double t0 = now();
          int nf = 0;
          if (lk_ivf_search(v, q + (size_t)i * (size_t)d, 1, k, probes[pi], NULL, qid[i], h, &nf)) return 1;
          t[i] = (now() - t0) * 1e3;
          for (int a = 0; a < nf; a++)
            for (int b = 0; b < k; b++) hit += h[a].id == truth[(size_t)i * (size_t)k + (size_t)b].id;
        }
        double p50 = pct(t, nq, 50), p99 = pct(t, nq, 99);
        printf("RESULT %s nprobe=%d rerank=%d recall@10=%.3f p50_ms=%.3f p99_ms=%.3f\n", kinds[c].name, probes[pi],
               reranks[ri], hit / ((double)nq * k), p50, p99);
        fflush(stdout);
      }
    lk_ivf_free(v);
  }
  lk_engine_close(e);
  return 0;
}
