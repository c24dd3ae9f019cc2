/* map/tsne.h — Barnes-Hut t-SNE (van der Maaten 2014) for the catalog map: sparse input
 * affinities over the 3*perplexity exact nearest neighbours (blocked sgemm), sigma by
 * binary search, early exaggeration, momentum and gains, and a quadtree (theta) for the
 * repulsive forces. Multi-threaded, and deterministic for a seed whatever the thread count. */
#ifndef LK_MAP_TSNE_H
#define LK_MAP_TSNE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct lk_tsne_opts {
  double perplexity;   /* default 30 (lowered to (n-1)/3 for small n) */
  int iters;           /* default 1000 */
  double theta;        /* default 0.5 */
  double exaggeration; /* default 12, for the first 250 iterations */
  double learning_rate;/* default 0: max(200, n/exaggeration) */
  uint64_t seed;       /* initial positions */
  int threads;         /* for the forces; 0 = the online CPUs, at most 8 */
  /* Called every few iterations with (done, total); non-zero stops with LK_EINTR. */
  int (*progress)(void *ctx, int done, int total);
  void *progress_ctx;
} lk_tsne_opts;
void lk_tsne_opts_default(lk_tsne_opts *o);

/* x: n rows of d floats (e.g. PCA output). Writes n (x, y) pairs into y (caller allocates
 * 2*n floats), centred. n >= 2. */
int lk_tsne_run(const float *x, size_t n, int d, const lk_tsne_opts *o, float *y, lk_errbuf *err);

/* Exact k nearest neighbours (squared Euclidean) of the rows listed in query (nq indices
 * into x; NULL = all n rows), the row itself excluded: nn gets nq*k indices, dist (may be
 * NULL) their squared distances, nearest first. k < n. */
int lk_map_knn(const float *x, size_t n, int d, const size_t *query, size_t nq, int k, int32_t *nn,
               float *dist, lk_errbuf *err);

/* Share of the k nearest neighbours (lk_map_knn) of the sampled rows that carry the same
 * label (labels[i] < 0: unknown, skipped as a query and counted as different). */
int lk_map_neighbour_agreement(const float *x, size_t n, int d, const int *labels,
                               const size_t *query, size_t nq, int k, double *share,
                               lk_errbuf *err);

#endif
