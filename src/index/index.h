/* index/index.h — exact cosine top-k over an in-memory matrix of unit vectors, with an
 * optional allow-bitmap applied inside the scan (a filtered search returns min(k, #allowed)
 * results, never fewer). Rows are dense 0..n-1; the caller maps rows to item ids. */
#ifndef LK_INDEX_INDEX_H
#define LK_INDEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "lookalike.h"

typedef struct lk_index lk_index;

/* New empty index of dimension dim. *out owned by caller: lk_index_free. */
int lk_index_new(int dim, lk_index **out);
void lk_index_free(lk_index *ix); /* NULL-safe */
/* Appends one row (copied); id is stored and returned in hits. */
int lk_index_add(lk_index *ix, int64_t id, const float *vec);
size_t lk_index_size(const lk_index *ix);
int lk_index_dim(const lk_index *ix);
/* Row of an id, or LK_ENOTFOUND. */
int64_t lk_index_row(const lk_index *ix, int64_t id);
const float *lk_index_vector(const lk_index *ix, size_t row);

/* Searches nq queries (nq*dim floats). allow: NULL or a bitmap of lk_index_size bits (bit r
 * set = row r may be returned). exclude_id: an id never returned (e.g. the query item), or -1.
 * hits: nq*k results, best first; unused slots get id -1, score -INFINITY; nfound[q] (may be
 * NULL) gets the number filled. Thread-safe for concurrent searches. */
int lk_index_search(const lk_index *ix, const float *queries, int nq, int k, const uint64_t *allow,
                    int64_t exclude_id, lk_hit *hits, int *nfound);

/* Largest k lk_index_search accepts. */
#define LK_INDEX_MAX_K 10000

/* Preallocates room for n rows in total (optional; lk_index_add grows on its own).
 * Note: lk_index_add refuses (LK_EINVAL) a negative or already present id and a vector with
 * a NaN or infinite value; lk_index_search refuses such queries and k > LK_INDEX_MAX_K. */
int lk_index_reserve(lk_index *ix, size_t n);

#endif
