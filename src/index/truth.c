/* index/truth.c — exact top-k of a few queries over batched rows (index/truth.h): the batch's
 * scores by one sgemm (util/linalg.h), then each query's bounded best-k (index/quant.h). */
#include <stdlib.h>
#include <string.h>

#include "index/quant.h"
#include "index/truth.h"
#include "util/linalg.h"
#include "util/size.h"

enum { BATCH = 1024 }; /* rows scored per sgemm */

struct lk_truth {
  int dim, k, nq, done;
  float *q, *sc; /* nq x dim queries; nq x BATCH scores */
  int64_t *skip;
  lk_hit *h; /* nq x k */
  lk_topk *best;
};

void lk_truth_free(lk_truth *t) {
  if (!t) return;
  free(t->q);
  free(t->sc);
  free(t->skip);
  free(t->h);
  free(t->best);
  free(t);
}

int lk_truth_new(int dim, int k, const float *q, const int64_t *skip, int nq, lk_truth **out) {
  *out = NULL;
  if (dim <= 0 || k <= 0 || k > 10000 || nq <= 0 || nq > 100000 || !q) return LK_EINVAL;
  size_t qb, hb;
  if (lk_size_mul3((size_t)nq, (size_t)dim, sizeof(float), &qb) || lk_size_mul3((size_t)nq, (size_t)k, sizeof(lk_hit), &hb))
    return LK_ENOMEM;
  lk_truth *t = calloc(1, sizeof *t);
  if (!t) return LK_ENOMEM;
  t->dim = dim, t->k = k, t->nq = nq;
  t->q = malloc(qb);
  t->sc = malloc(sizeof(float) * (size_t)nq * BATCH);
  t->skip = malloc(sizeof(int64_t) * (size_t)nq);
  t->h = malloc(hb);
  t->best = malloc(sizeof(lk_topk) * (size_t)nq);
  if (!t->q || !t->sc || !t->skip || !t->h || !t->best) {
    lk_truth_free(t);
    return LK_ENOMEM;
  }
  memcpy(t->q, q, qb);
  for (int i = 0; i < nq; i++) {
    t->skip[i] = skip ? skip[i] : -1;
    t->best[i] = (lk_topk){k, 0, t->h + (size_t)i * k};
  }
  *out = t;
  return 0;
}

int lk_truth_add(lk_truth *t, const int64_t *ids, const float *x, size_t m) {
  if (!t || t->done || (m && (!ids || !x))) return LK_EINVAL;
  for (size_t r0 = 0; r0 < m; r0 += BATCH) {
    int b = m - r0 < BATCH ? (int)(m - r0) : BATCH;
    int rc = lk_linalg_sgemm('N', 'T', t->nq, b, t->dim, 1.0f, t->q, t->dim, x + r0 * (size_t)t->dim, t->dim, 0.0f,
                             t->sc, b);
    if (rc) return rc;
    for (int i = 0; i < t->nq; i++) {
      lk_topk *bt = &t->best[i];
      const float *s = t->sc + (size_t)i * b;
      float floor = lk_topk_floor(bt);
      for (int j = 0; j < b; j++) {
        if (s[j] < floor || ids[r0 + (size_t)j] == t->skip[i]) continue;
        lk_topk_offer(bt, ids[r0 + (size_t)j], s[j]);
        floor = lk_topk_floor(bt);
      }
    }
  }
  return 0;
}

void lk_truth_finish(lk_truth *t) {
  if (!t || t->done) return;
  for (int i = 0; i < t->nq; i++) lk_topk_finish(&t->best[i]);
  t->done = 1;
}

int lk_truth_nq(const lk_truth *t) { return t->nq; }
int lk_truth_k(const lk_truth *t) { return t->k; }
int lk_truth_dim(const lk_truth *t) { return t->dim; }
const float *lk_truth_query(const lk_truth *t, int i) { return t->q + (size_t)i * t->dim; }
int64_t lk_truth_skip(const lk_truth *t, int i) { return t->skip[i]; }

const lk_hit *lk_truth_hits(const lk_truth *t, int i, int *n) {
  if (!t->done) return NULL;
  if (n) *n = t->best[i].len;
  return t->h + (size_t)i * t->k;
}

double lk_truth_recall(const lk_truth *t, int i, const lk_hit *got, int ngot) {
  int n = t->best[i].len, found = 0;
  const lk_hit *h = t->h + (size_t)i * t->k;
  if (!n) return 1.0;
  for (int a = 0; a < n; a++)
    for (int b = 0; b < ngot; b++)
      if (got[b].id == h[a].id) {
        found++;
        break;
      }
  return (double)found / n;
}
