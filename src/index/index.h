/* index/index.h — exact cosine top-k over an in-memory matrix of unit vectors, with an
 * optional allow-bitmap applied inside the scan (a filtered search returns min(k, #allowed)
 * results, never fewer). Rows are dense 0..n-1; the caller maps rows to item ids.
 * lk_index_optimize adds compact int8 codes (of a learnt reduced basis) that searches scan
 * first, re-ranking a shortlist with the float rows: same results, a fraction of the bytes. */
#ifndef LK_INDEX_INDEX_H
#define LK_INDEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "lookalike.h"

typedef struct lk_index lk_index;

/* New empty index of dimension dim. *out owned by caller: lk_index_free. */
int lk_index_new(int dim, lk_index **out);
void lk_index_free(lk_index *ix); /* NULL-safe */
/* An index over n rows the caller keeps (ids ascending, data n x dim floats, e.g. a saved
 * index's mapped sections: search/engine.c): nothing is copied and no id map is built
 * (lk_index_row is a binary search of ids), so it costs a few bytes whatever n. ids and data
 * must outlive *out (lk_index_free leaves them alone); lk_index_add and lk_index_reserve
 * refuse it (LK_EUNSUPPORTED). LK_ECORRUPT when the ids are not ascending and >= 0. */
int lk_index_wrap(int dim, const int64_t *ids, const float *data, size_t n, lk_index **out);
/* Appends one row (copied); id is stored and returned in hits. */
int lk_index_add(lk_index *ix, int64_t id, const float *vec);
size_t lk_index_size(const lk_index *ix);
int lk_index_dim(const lk_index *ix);
/* Row of an id, or LK_ENOTFOUND. */
int64_t lk_index_row(const lk_index *ix, int64_t id);
const float *lk_index_vector(const lk_index *ix, size_t row);
/* The ids of rows 0..lk_index_size-1 (owned by the index; valid until the next lk_index_add). */
const int64_t *lk_index_ids(const lk_index *ix);

/* Searches nq queries (nq*dim floats). allow: NULL or a bitmap of lk_index_size bits (bit r
 * set = row r may be returned). exclude_id: an id never returned (e.g. the query item), or -1.
 * hits: nq*k results, best first; unused slots get id -1, score -INFINITY; nfound[q] (may be
 * NULL) gets the number filled. Thread-safe for concurrent searches. */
int lk_index_search(const lk_index *ix, const float *queries, int nq, int k, const uint64_t *allow,
                    int64_t exclude_id, lk_hit *hits, int *nfound);

/* Scores of m rows of dim floats (given by pointer) against q into out, with the kernel of the
 * plain scan: a row gets the bit-identical score it would get as a row of an index (used by
 * a derived engine's delta, search/engine.h). */
void lk_index_dots(const float *q, const float *const *rows, int m, int dim, float *out);

/* Largest k lk_index_search accepts. */
#define LK_INDEX_MAX_K 10000

/* Preallocates room for n rows in total (optional; lk_index_add grows on its own).
 * Note: lk_index_add refuses (LK_EINVAL) a negative or already present id and a vector with
 * a NaN or infinite value; lk_index_search refuses such queries and k > LK_INDEX_MAX_K. */
int lk_index_reserve(lk_index *ix, size_t n);

/* Fast exact search. lk_index_optimize learns a p-dimensional basis (the leading eigenvectors
 * of the rows' second moments, from up to LK_INDEX_SAMPLE rows; p = 0: LK_INDEX_DEFAULT_P or
 * dim if smaller; p == dim: int8 codes of the raw rows, no basis) and keeps an int8 code per
 * row, also for rows added later. A search then scans the codes (AVX-512 VNNI when the CPU has
 * it) over the allowed rows, keeps the best max(shortlist, 4k) and re-scores those with the
 * float rows and the plain scan's kernel: scores and tie order are bit-identical to the plain
 * scan's, and the top-k is the same unless a true top-k row falls outside the shortlist (not
 * seen on the 35k catalog, docs/PERFORMANCE.md "Search"). When no more rows than the shortlist
 * are allowed (4 x shortlist), the plain scan of those runs (exact by construction). Call again to re-learn the basis.
 * LK_EINVAL: p out of range or fewer than p rows. Not thread-safe against searches. */
#define LK_INDEX_DEFAULT_P 256
#define LK_INDEX_MAX_P 1024
#define LK_INDEX_SAMPLE 4096
#define LK_INDEX_SHORTLIST 200
#define LK_INDEX_MAX_THREADS 16
int lk_index_optimize(lk_index *ix, int p);
/* Reduced dimensions of the codes, 0 when not optimized. */
int lk_index_optimized_dims(const lk_index *ix);
/* Threads one optimized search splits its code scan over (default 1; 1..LK_INDEX_MAX_THREADS)
 * and the minimum shortlist (default LK_INDEX_SHORTLIST). Set before searching. */
int lk_index_set_threads(lk_index *ix, int threads);
int lk_index_set_shortlist(lk_index *ix, int shortlist);

#endif
