/* search/recommend.h — `lookalike recommend`: every product's top-k neighbours (itself left
 * out) in one pass over the catalog's own vectors, what a shop lists under "you may also like".
 * The products are searched in batches with the engine's index (lk_engine_search_rows), on
 * worker threads, each batch restricted by an allow bitmap: the rows passing the filter and,
 * with `same` fields, the rows sharing the product's values of them. Results are the ones
 * `lookalike similar ID` gives product by product (same index, same filter). */
#ifndef LK_SEARCH_RECOMMEND_H
#define LK_SEARCH_RECOMMEND_H

#include <stddef.h>
#include <stdint.h>

#include "search/engine.h"
#include "search/filter.h"
#include "lookalike.h"

#define LK_RECOMMEND_MAX_K 1000
#define LK_RECOMMEND_MAX_THREADS 16

/* Called on the calling thread between batches with the products done so far; nonzero stops
 * the run (LK_EINTR). */
typedef int (*lk_recommend_progress)(void *ctx, size_t done, size_t total);

typedef struct lk_recommend_opts {
  int k;                   /* neighbours per product, 1..LK_RECOMMEND_MAX_K (default 10) */
  const lk_filter *filter; /* the products recommended for and recommended (NULL: all) */
  int nsame;               /* fields (lk_catalog_fields indexes) a neighbour must share with */
  int same[LK_NFIELDS];    /* the product, compared case-insensitively like filters; an item
                              whose value is unknown shares it only with items where it is
                              unknown too (it keeps its neighbours; none of a known value) */
  int threads;             /* workers, 1..LK_RECOMMEND_MAX_THREADS (0: the online CPUs) */
  lk_recommend_progress progress; /* may be NULL */
  void *ctx;
} lk_recommend_opts;

void lk_recommend_opts_default(lk_recommend_opts *o);

/* The result: n products (the searchable items passing the filter) in id order, each with
 * nfound[i] <= k neighbours hits[i*k ..], best first as the search ranks them, padded with
 * id -1. Fewer than k only when fewer other products qualify (a small `same` group). Owned by
 * the caller: lk_recommend_free. Memory: about 16 (k + 1) bytes per product. */
typedef struct lk_recommend {
  size_t n;
  int k;
  int64_t *ids;
  lk_hit *hits;
  int *nfound;
  size_t short_lists; /* products with fewer than k neighbours */
  int threads;        /* workers used */
} lk_recommend;

/* Runs it on a full engine (LK_EUNSUPPORTED for a derived one, search/engine.h). LK_EINVAL for
 * options out of range or a filter comparison on a column no item has; LK_ENOMEM; LK_EINTR when
 * progress asked to stop. out is zeroed first and holds nothing on error. Reads e only: other
 * threads may search it meanwhile. */
int lk_recommend_run(const lk_engine *e, const lk_recommend_opts *o, lk_recommend *out, lk_errbuf *err);
void lk_recommend_free(lk_recommend *r); /* NULL-safe; leaves r zeroed */

/* Writes r as CSV in the long format, one row per (product, neighbour): the header
 * "id,rank,neighbour_id,score", rank 1..nfound, score the cosine (with a label prior, the
 * search's score) with 6 decimals; LF line ends. Temp file -> fsync -> rename (util/file.h).
 * LK_EIO naming the file. */
int lk_recommend_write_csv(const lk_recommend *r, const char *path, lk_errbuf *err);

#endif
