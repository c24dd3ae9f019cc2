/* index/truth.h — exact top-k of a few query vectors over rows that arrive in batches (the
 * rows of a catalog as an index is built, never all in memory at once): one sgemm a batch, a
 * bounded best-k per query. What an approximate index's recall is measured against (the IVF's
 * probe depth, index/ivf.h lk_ivf_tune_nprobe). */
#ifndef LK_INDEX_TRUTH_H
#define LK_INDEX_TRUTH_H

#include <stddef.h>
#include <stdint.h>

#include "lookalike.h"

typedef struct lk_truth lk_truth;

/* nq queries (q: nq x dim floats, copied) whose best k rows are wanted; skip[i] is an id query
 * i never counts (its own row when the queries are catalog rows; -1 none; skip may be NULL).
 * *out owned by the caller: lk_truth_free. LK_EINVAL on bad sizes (nq, k in 1..10000). */
int lk_truth_new(int dim, int k, const float *q, const int64_t *skip, int nq, lk_truth **out);
void lk_truth_free(lk_truth *t); /* NULL-safe */
/* Scores m rows (x: m x dim floats, ids[i] their ids) against every query and keeps each
 * query's best k (ties: the smaller id). LK_EINVAL after lk_truth_finish. */
int lk_truth_add(lk_truth *t, const int64_t *ids, const float *x, size_t m);
/* Ends the adds: each query's hits sorted best first. */
void lk_truth_finish(lk_truth *t);
int lk_truth_nq(const lk_truth *t);
int lk_truth_k(const lk_truth *t);
int lk_truth_dim(const lk_truth *t);
/* Query i's vector and skipped id. */
const float *lk_truth_query(const lk_truth *t, int i);
int64_t lk_truth_skip(const lk_truth *t, int i);
/* Query i's exact hits after lk_truth_finish: k entries best first (id -1 past the rows
 * seen), their number in *n (may be NULL); NULL before it. */
const lk_hit *lk_truth_hits(const lk_truth *t, int i, int *n);
/* The share of query i's exact hits found among got[0..ngot) (1 when it has none). */
double lk_truth_recall(const lk_truth *t, int i, const lk_hit *got, int ngot);

#endif
