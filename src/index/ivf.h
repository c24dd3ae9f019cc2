/* index/ivf.h — approximate top-k for large catalogs: an inverted file (IVF) over a k-means
 * coarse quantiser, with two int8 codes per item and no float vectors kept, so RAM stays
 * under ~1 KiB per item at 1792 dimensions. Each vector is projected on a learnt basis of
 * fine_dims (the leading principal directions of the training rows); the first coarse_dims
 * principal directions inside that space give the coarse space, where k-means runs. An item
 * keeps a coarse code (its coarse projection minus its list's centroid, int8) in its list and
 * a fine code (fine projection minus the list's fine-space mean, int8). A search ranks lists
 * by centroid, scans the nprobe best lists' coarse codes, keeps the best `rerank` and
 * re-scores those with the fine codes. Allowed rows are checked inside the scan; more lists are
 * probed the fewer pass (until seen x covered >= T^2: ivf.c probe()), and a very selective
 * filter (fewer allowed rows than the probe would scan) scores every allowed row's fine code
 * instead: a filtered search returns min(k, #allowed) hits, all allowed. Scores are approximate cosines, unless the caller
 * supplies float vectors for an exact re-rank of a short list (lk_ivf_set_refine).
 *
 * Coarse-only mode (fine_dims 0): no fine code; the coarse space is learnt from the vectors
 * themselves (coarse_dims may equal dim) and the best `rerank` coarse candidates go straight to
 * the exact re-rank (which such an index needs for exact scores; without it the coarse scores
 * are returned). Per item then: its id (8 B) and its list entry (row, coarse code, scale, sum,
 * filter columns): ~285 B at 256 dimensions with 8 columns.
 *
 * Filter columns (ncols, up to LK_IVF_MAX_COLS): a uint8 per column per row, stored in list
 * order beside the codes with a 256-bit presence mask per column per list, so a filtered search
 * (lk_ivf_search_where) checks rows inside the scan and skips lists holding no passing row. */
#ifndef LK_INDEX_IVF_H
#define LK_INDEX_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "index/lkx.h"
#include "index/truth.h"
#include "lookalike.h"

typedef struct lk_ivf lk_ivf;

#define LK_IVF_MAX_COLS 8

typedef struct lk_ivf_opts {
  int nlist;       /* lists (k-means centroids); 0 = about 1.5 sqrt(expected rows) */
  int fine_dims;   /* fine code length (default 768; <= dim); 0 = coarse-only (above) */
  int coarse_dims; /* coarse code length (default 128; <= fine_dims, or <= dim when coarse-only) */
  int kmeans_iter; /* default 10 */
  int nprobe;      /* lists scanned per query (default 48); per search overridable */
  int rerank;      /* candidates re-scored with fine codes (coarse-only: exactly; default 400) */
  size_t expected; /* rows expected (picks nlist when 0); 0 = the training rows x 20 */
  uint64_t seed;
  int ncols; /* per-row uint8 filter columns, 0..LK_IVF_MAX_COLS (default 0) */
  /* coarse-only: > 0 shortens the codes to the fewest principal directions of the training
   * rows, a multiple of 64 and at most coarse_dims, that hold this share (0..1] of the rows'
   * energy (lk_ivf_shape tells the length chosen); 0 (default) = coarse_dims always */
  float code_share;
} lk_ivf_opts;

void lk_ivf_opts_default(lk_ivf_opts *o);

/* Learns the bases and the coarse quantiser from n training rows of x (n x dim floats, not
 * kept; n >= nlist and >= fine_dims). *out is empty and owned by the caller: lk_ivf_free.
 * LK_EINVAL on bad options or too few rows. */
int lk_ivf_train(const lk_ivf_opts *o, int dim, const float *x, size_t n, lk_ivf **out);
void lk_ivf_free(lk_ivf *ivf); /* NULL-safe */

/* Adds n rows (x: n x dim, copied into codes; ids[i] >= 0, not checked for duplicates). Rows
 * are numbered in add order 0..size-1; allow bitmaps refer to these rows. Refuses non-finite
 * values (LK_EINVAL; nothing of that batch is added). */
int lk_ivf_add(lk_ivf *ivf, const int64_t *ids, const float *x, size_t n);
/* Adds n rows with their columns (cols: n x ncols bytes, row-major, copied; NULL = all zero).
 * lk_ivf_add(v, ids, x, n) == lk_ivf_add_cols(v, ids, x, NULL, n). */
int lk_ivf_add_cols(lk_ivf *ivf, const int64_t *ids, const float *x, const uint8_t *cols, size_t n);
int lk_ivf_ncols(const lk_ivf *ivf); /* the option ncols */
/* What it was trained with: the lists and the options fine_dims (0: coarse-only), coarse_dims. */
void lk_ivf_shape(const lk_ivf *ivf, int *nlist, int *fine_dims, int *coarse_dims);
size_t lk_ivf_size(const lk_ivf *ivf);
/* Gives back the room kept for future adds (the arrays grow geometrically): call after a bulk
 * add. Adding later still works. LK_ENOMEM leaves the index as it was, usable. */
int lk_ivf_trim(lk_ivf *ivf);
/* Bytes of memory held (codes, ids, lists, bases, centroids). */
size_t lk_ivf_memory(const lk_ivf *ivf);

/* nq queries, k hits each into hits (nq*k; padding id -1, score -INFINITY), nfound (may be
 * NULL). nprobe 0 = the option's. allow: NULL or a bitmap over rows; exclude_id: an id never
 * returned or -1. Thread-safe for concurrent searches. LK_EINVAL on bad arguments. */
int lk_ivf_search(const lk_ivf *ivf, const float *queries, int nq, int k, int nprobe,
                  const uint64_t *allow, int64_t exclude_id, lk_hit *hits, int *nfound);

/* A filter on the columns: a row passes when, for every column c with bit c of `used` set,
 * bit (row's value) of allow[c] is set (allow[c] is 256 bits: value b is bit b % 64 of
 * allow[c][b / 64]). A used bit at or beyond the index's ncols is LK_EINVAL. */
typedef struct lk_ivf_filter {
  uint32_t used;
  uint64_t allow[LK_IVF_MAX_COLS][4];
} lk_ivf_filter;

/* lk_ivf_search with the filter checked inside the list scan (f NULL or used 0: no filter, the
 * same as lk_ivf_search without allow). Returns min(k, #passing rows) hits, all passing. The
 * probe skips lists whose presence masks hold no passing row and, as with an allow bitmap,
 * goes on past the nprobe nearest lists until (passing rows seen) x (rows of the lists passed)
 * >= T^2, T the rows of the nprobe nearest lists: about T / sqrt(s) rows covered for a filter
 * passing a share s of them (7x the unfiltered probe at 2 %), fewer where passing rows crowd
 * near the query. (At 1M raw 1,792-d rows with a 2 % shopper's filter: recall@10 0.990-0.995,
 * above the unfiltered 0.94-0.95, at p50 0.90-1.06 ms; scanning until T passing rows were
 * seen, as before, took 1.86-2.02 ms for 0.999.) Thread-safe for concurrent searches. */
int lk_ivf_search_where(const lk_ivf *ivf, const float *queries, int nq, int k, int nprobe,
                        const lk_ivf_filter *f, int64_t exclude_id, lk_hit *hits, int *nfound);

/* Optional exact re-rank: the best `refine` (> k) fine-code hits of each search are re-scored
 * with the float vector fn finds for their id (*out: id's dim floats, the caller's, left
 * unchanged until the search returns; fn returns 0 or an LK_E* code, which the search returns).
 * The vectors stay with the caller (a memory-mapped file, the catalog), so the index's RAM does
 * not grow; scores are then exact cosines. A search asks for up to 32 vectors before it reads
 * any, so their reads overlap. refine 0 turns it off. fn must be safe to call from concurrent
 * searches. Not thread-safe against searches. */
typedef int (*lk_ivf_vector_fn)(void *ctx, int64_t id, const float **out);
int lk_ivf_set_refine(lk_ivf *ivf, int refine, lk_ivf_vector_fn fn, void *ctx);
/* Changes the option `nprobe` (> 0) after training. Not thread-safe against searches. */
int lk_ivf_set_nprobe(lk_ivf *ivf, int nprobe);
/* Changes the option `rerank` (1..100000) after training. Not thread-safe against searches. */
int lk_ivf_set_rerank(lk_ivf *ivf, int rerank);

/* The option nprobe, and the mean recall@k measured there by lk_ivf_tune_nprobe (saved with
 * the index), or -1 when it was not measured. */
int lk_ivf_nprobe(const lk_ivf *ivf);
double lk_ivf_recall(const lk_ivf *ivf);
/* Sets the option nprobe to the fewest lists, on a ladder from min_nprobe (0 or 1: from 1) up
 * in steps of about 1/6 to nlist, at which searches of t's queries (each excluding its skipped
 * id; index/truth.h, finished here) reach a mean recall@k >= target (0..1] against t's exact
 * hits, k being t's: a binary search of the ladder (recall grows with the lists probed), so
 * about log2(rungs) passes of t's queries. nlist when no rung below it does. The searches run
 * as the caller's will (rerank, refine set first). Records the recall reached (lk_ivf_recall).
 * LK_EINVAL on bad arguments or a t of another dimension. Not thread-safe against searches. */
int lk_ivf_tune_nprobe(lk_ivf *ivf, lk_truth *t, double target, int min_nprobe);

/* The saved index (index/lkx.h): lk_ivf_save appends the IVF's sections (parameters, bases,
 * centroids, per-row ids and fine codes, the lists and their filter columns) to w; the lists'
 * presence masks are recomputed from the columns at load. lk_ivf_load makes a new IVF from a
 * verified file's sections, checking every count against the file's header and every row and
 * list number before use (LK_ECORRUPT with a message). The loaded IVF owns copies (no refine
 * callback set); the file may be closed after. An IVF saved by an older version (another
 * IVF parameter layout) is refused with LK_EMISMATCH ("stale"), so the engine rebuilds it. Not
 * thread-safe against searches. */
int lk_ivf_save(const lk_ivf *ivf, lk_lkx_writer *w, lk_errbuf *err);
int lk_ivf_load(const lk_lkx *x, lk_ivf **out, lk_errbuf *err);
/* lk_ivf_load without the copies: the ids, per-row codes and lists point into x's mapping
 * (checked as lk_ivf_load checks them), so a 10M-item file is served after one verifying read
 * and its pages stay the page cache's. x must outlive the IVF (lk_lkx_close after lk_ivf_free).
 * Adding rows copies the arrays that grow (the list's, the ids) first; the file is never
 * written. */
int lk_ivf_load_mapped(const lk_lkx *x, lk_ivf **out, lk_errbuf *err);
/* lk_ivf_load_mapped with the checks that read every row (each list's checksums, rows and
 * coarse codes' sums; the fine codes' checksums and sums) run as searches first read a list or
 * a chunk of fine codes (util/lazy.h), so a server's start does not read the whole IVF; a search that meets a damaged
 * list or chunk fails with LK_ECORRUPT and never scores it. The counts, ids and list numbers
 * of every row are still checked at load. */
int lk_ivf_load_lazy(const lk_lkx *x, lk_ivf **out, lk_errbuf *err);
/* The sections lk_ivf_load_lazy verifies as it reads them (index/lkx.h lk_lkx_verify), for
 * lk_lkx_map_lazy: the per-row codes and the lists (~97 % of the IVF's bytes); the others (ids,
 * row -> list, filter columns, bases) must be verified by the map. */
#define LK_IVF_NLAZY 7
extern const uint32_t lk_ivf_lazy_sections[LK_IVF_NLAZY];
/* Runs every check lk_ivf_load_lazy left: 0, or LK_ECORRUPT when a list or chunk is damaged
 * (lk_ivf_save runs it first). Thread-safe against searches. */
int lk_ivf_check(const lk_ivf *ivf);
/* The ids of rows 0..lk_ivf_size-1 (owned by the index, or its mapped file's). */
const int64_t *lk_ivf_ids(const lk_ivf *ivf);

#endif
