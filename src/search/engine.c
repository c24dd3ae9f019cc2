/* search/engine.c — loads a catalog into memory and answers searches (see engine.h). */
#include "search/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/garment.h"
#include "index/index.h"
#include "index/ivf.h"
#include "index/lkx.h"
#include "nn/model.h"
#include "search/calibrate.h"
#include "search/facetcode.h"
#include "search/itemtab.h"
#include "search/prior.h"
#include "util/array.h"
#include "util/hash.h"
#include "util/size.h"

struct lk_engine {
  lk_recipe recipe;
  char recipe_id[17];
  char note[LK_ERRMSG_MAX]; /* lk_catalog_note of the catalog it was read from, or "" */
  char models_dir[4096];
  int backend;
  int garment;        /* 1 = photo searches isolate the garment first */
  lk_item *items;     /* all items, sorted by id (NULL with tab) */
  size_t nitems, capitems;
  lk_itemtab *tab;    /* from the saved index (open_saved): the items, decoded as asked for */
  lk_index *index;
  lk_ivf *ivf;        /* the approximate index when in use (rows = index rows), else NULL */
  lk_facetcode *facets; /* with ivf: the dictionaries of its filter columns (search/facetcode.h) */
  size_t *row_item;   /* index row -> position in items */
  int dim;            /* the recipe's vectors */
  lk_prior *prior;    /* the tuned recipe's label prior (search/prior.h), or NULL */
  int qdim;           /* the index's rows: dim + the prior's extra floats */
  int prior_field[LK_PROJ_MAX_HEADS]; /* lk_catalog_fields index of each prior head, or -1 */
  float *gbuf;        /* a widened row while loading */
  lk_embed_pool *pool; /* the embedders (embed/pool.h: loaded lazily), shared by reference with
                          the engines rebuilt from this one; NULL in a derived engine (its base's) */
  float prior_weight; /* lk_engine_opts.prior as opened */
  pthread_mutex_t lock;
  int refs;           /* references (atomic): its owner's and each derived engine's */
  /* A derived engine (lk_engine_derive) borrows items, row_item, index, ivf and prior from
   * base, a full engine it holds a reference to, and adds the changes since: */
  lk_engine *base;    /* NULL for a full engine */
  struct live_ent *delta; /* the changed ids, sorted */
  size_t ndelta;
  uint64_t *mask;     /* base rows deleted or replaced (lk_index_size(index) / 64 + 1 words) */
  size_t live_items, live_size; /* lk_engine_item_count and lk_engine_size */
  lk_calibration cal; /* the catalog's match-strength calibration (search/calibrate.h) */
  int has_cal;        /* 0: uncalibrated */
  /* the saved index (index/lkx.h): its path ("" = none: a postgresql:// catalog, a rebuild),
   * the catalog version the rows were read at (-1: unknown, then nothing is mapped or saved),
   * how the IVF came (LKX_NONE, _BUILT, _MAPPED) and why a file was not used */
  char lkx_path[4096];
  int64_t cat_version;
  int lkx_state;
  char lkx_note[LK_ERRMSG_MAX];
  /* an engine opened from the saved index (open_saved): the mapping its items' strings, index
   * rows, ids and IVF lie in (closed last), else NULL */
  lk_lkx *lkx;
  /* (a server's engine from the saved index, lk_engine_open_saved, checks its float rows as
   * searches first read them: row_vec, index/lkx.h lk_lkx_verify) */
};

static size_t engine_rows(const lk_engine *e);
static const lk_item *live_item_at(const lk_engine *e, size_t i);
typedef struct col_filter col_filter;
static int live_rows(const lk_engine *e, const float *queries, int nq, int k, const uint64_t *allow,
                     const col_filter *cf, int64_t exclude_id, lk_hit *hits, int *nfound);
static const struct live_ent *live_find(const lk_engine *e, int64_t id);
static void live_filter(const lk_engine *e, const lk_filter *f, uint64_t *bm);
static const lk_item *live_ent_item(const struct live_ent *d);
static const float *live_ent_vector(const struct live_ent *d);
static void live_free(lk_engine *e);

void lk_engine_opts_default(lk_engine_opts *o) {
  memset(o, 0, sizeof *o);
  o->backend = LK_BACKEND_DNNL;
  o->lazy_model = 1;
  o->prior = -1.0f;
}

int lk_engine_index_parse(const char *s, int *out) {
  if (!strcmp(s, "auto")) *out = LK_ENGINE_INDEX_AUTO;
  else if (!strcmp(s, "exact")) *out = LK_ENGINE_INDEX_EXACT;
  else if (!strcmp(s, "ivf")) *out = LK_ENGINE_INDEX_IVF;
  else return LK_EINVAL;
  return 0;
}

int lk_engine_garment_parse(const char *s, int *out) {
  if (!strcmp(s, "on")) *out = LK_ENGINE_GARMENT_ON;
  else if (!strcmp(s, "off")) *out = LK_ENGINE_GARMENT_OFF;
  else return LK_EINVAL;
  return 0;
}

int lk_engine_index_choice(int index, size_t nvectors) {
  if (index == LK_ENGINE_INDEX_AUTO) index = nvectors >= LK_ENGINE_IVF_AUTO_MIN ? LK_ENGINE_INDEX_IVF : LK_ENGINE_INDEX_EXACT;
  return index == LK_ENGINE_INDEX_IVF && nvectors >= LK_ENGINE_IVF_MIN_ROWS ? LK_ENGINE_INDEX_IVF : LK_ENGINE_INDEX_EXACT;
}

/* Item i of a full engine (the saved index's table or the array), NULL when damaged. */
static const lk_item *base_item(const lk_engine *e, size_t i) {
  return e->tab ? lk_itemtab_get(e->tab, i) : &e->items[i];
}
static int64_t base_id(const lk_engine *e, size_t i) { return e->tab ? lk_itemtab_id(e->tab, i) : e->items[i].id; }

/* The item of index row r: row_item's, or without one (a saved index whose items all have a row)
 * item r, which must have the row's id; NULL when damaged. */
static const lk_item *row_item_of(const lk_engine *e, size_t r) {
  const lk_item *it = base_item(e, e->row_item ? e->row_item[r] : r);
  return it && (e->row_item || it->id == lk_index_ids(e->index)[r]) ? it : NULL;
}

/* What lk_engine_item_at gives for an item whose bytes in the saved index are damaged (so that
 * its callers' loops go on; searches that meet it fail: search_rows). */
static const lk_item damaged_item = {.id = -1, .status = "error", .error = "damaged in the saved index"};

/* The IVF's exact re-rank reads the engine's float vectors. */
static int ivf_vector(void *ctx, int64_t id, const float **out) {
  *out = lk_engine_vector(ctx, id);
  return *out ? 0 : LK_ECORRUPT;
}

/* The facet codes of index rows r0..r0+m-1 (m x LK_FACETCODE_NCOLS bytes), their values coded
 * into fc in row order (search/facetcode.h: earlier rows' codes never change), or with fc NULL
 * looked up in e->facets (which has them all). */
static int code_rows(const lk_engine *e, lk_facetcode *fc, size_t r0, size_t m, uint8_t *cols) {
  int rc = 0;
  for (size_t i = 0; i < m && !rc; i++) {
    const lk_item *it = row_item_of(e, r0 + i);
    if (!it) return LK_ECORRUPT;
    if (fc) rc = lk_facetcode_code(fc, it, cols + i * LK_FACETCODE_NCOLS);
    else lk_facetcode_lookup(e->facets, it, cols + i * LK_FACETCODE_NCOLS);
  }
  return rc;
}

/* Adds index rows r0.. to the IVF with their facet columns, in row order (so allow bitmaps
 * carry over), and scores them for t's queries (t NULL: not). */
static int add_rows(lk_engine *e, size_t r0, lk_truth *t) {
  size_t n = lk_index_size(e->index), chunk = 1024, d = (size_t)lk_engine_query_dim(e);
  float *x = malloc(sizeof(float) * chunk * d);
  uint8_t *cols = malloc(chunk * LK_FACETCODE_NCOLS);
  int rc = x && cols ? 0 : LK_ENOMEM;
  for (; !rc && r0 < n; r0 += chunk) {
    size_t m = n - r0 < chunk ? n - r0 : chunk;
    for (size_t i = 0; i < m; i++) memcpy(x + i * d, lk_index_vector(e->index, r0 + i), sizeof(float) * d);
    if (!(rc = code_rows(e, e->facets, r0, m, cols)))
      rc = lk_ivf_add_cols(e->ivf, lk_index_ids(e->index) + r0, x, cols, m);
    if (!rc && t) rc = lk_truth_add(t, lk_index_ids(e->index) + r0, x, m);
  }
  free(x);
  free(cols);
  return rc;
}

#define IVF_TRAIN_MAX 65536 /* training rows i * n / nt, nt = min(n, this) */

/* The IVF's options for n index rows of d floats (the in-RAM and the streamed build's, and
 * what a saved IVF must have been built with): coarse-only codes no longer than the rows or
 * half the training rows, shorter where fewer directions hold LK_ENGINE_IVF_CODE_SHARE of the
 * rows' energy (lk_ivf_opts.code_share). */
static void ivf_opts(const lk_engine_opts *o, size_t n, int d, lk_ivf_opts *io) {
  size_t nt = n < IVF_TRAIN_MAX ? n : IVF_TRAIN_MAX;
  lk_ivf_opts_default(io);
  io->expected = n;
  io->nprobe = o->nprobe > 0 ? o->nprobe : LK_ENGINE_IVF_NPROBE;
  io->rerank = LK_ENGINE_IVF_RERANK;
  io->ncols = LK_FACETCODE_NCOLS;
  io->fine_dims = 0;
  io->coarse_dims = LK_ENGINE_IVF_CODE < d ? LK_ENGINE_IVF_CODE : d;
  if ((size_t)io->coarse_dims > nt / 2) io->coarse_dims = (int)(nt / 2);
  io->code_share = LK_ENGINE_IVF_CODE_SHARE;
}

/* The fewest lists a search of an IVF of n rows may probe: LK_ENGINE_IVF_MIN_SCAN rows' worth
 * (all of them in a catalog that small). */
static int ivf_min_probe(const lk_ivf *ivf, size_t n) {
  int nlist, fine, coarse;
  lk_ivf_shape(ivf, &nlist, &fine, &coarse);
  return n ? (int)fmin(nlist, ceil((double)LK_ENGINE_IVF_MIN_SCAN * nlist / (double)n)) : nlist;
}

/* The lists a search of an IVF of n rows probes: o's; else the depth tuned when it was built
 * (tune_probe); else (not tuned) LK_ENGINE_IVF_NPROBE, but at least ivf_min_probe. */
static int ivf_nprobe(const lk_engine_opts *o, const lk_ivf *ivf, size_t n) {
  if (o->nprobe > 0) return o->nprobe;
  if (lk_ivf_recall(ivf) >= 0) return lk_ivf_nprobe(ivf);
  int p = ivf_min_probe(ivf, n);
  return p > LK_ENGINE_IVF_NPROBE ? p : LK_ENGINE_IVF_NPROBE;
}

/* The exact top-10s a built IVF's probe depth is tuned against: LK_ENGINE_IVF_TUNE_QUERIES of
 * the nt training rows x (d floats; training row i is index row i * n / nt, of id
 * ids[i * n / nt]) spread evenly, each skipping its own id (a shopper's "more like this").
 * Filled as the rows are added (lk_truth_add). *out NULL when o sets the depth. */
static int tune_truth(const lk_engine_opts *o, const float *x, size_t nt, int d, const int64_t *ids, size_t n,
                      lk_truth **out) {
  *out = NULL;
  if (o->nprobe > 0 || !nt) return 0;
  int nq = nt < LK_ENGINE_IVF_TUNE_QUERIES ? (int)nt : LK_ENGINE_IVF_TUNE_QUERIES;
  float *q = malloc(sizeof(float) * (size_t)nq * (size_t)d);
  int64_t *skip = malloc(sizeof(int64_t) * (size_t)nq);
  int rc = q && skip ? 0 : LK_ENOMEM;
  for (int j = 0; !rc && j < nq; j++) {
    size_t i = (size_t)j * nt / (size_t)nq;
    memcpy(q + (size_t)j * d, x + i * (size_t)d, sizeof(float) * (size_t)d);
    skip[j] = ids[i * n / nt];
  }
  if (!rc) rc = lk_truth_new(d, 10, q, skip, nq, out);
  free(q);
  free(skip);
  return rc;
}

/* Tunes the IVF of n rows, searched as served (rerank, refine set), to the fewest lists that
 * reach LK_ENGINE_IVF_RECALL on t's queries (lk_ivf_tune_nprobe), at least ivf_min_probe;
 * saved with the index. Nothing when t is NULL (o sets the depth). */
static int tune_probe(lk_ivf *ivf, lk_truth *t, size_t n) {
  return t ? lk_ivf_tune_nprobe(ivf, t, LK_ENGINE_IVF_RECALL, ivf_min_probe(ivf, n)) : 0;
}

/* Readies e->ivf (built, or loaded from a file) for searches: its codes must be ivf_opts's for
 * its n rows, the coarse ones no longer (else LK_EMISMATCH "stale": a file saved by a version
 * with other codes; the
 * message starts with "path: " when path is given), then the probe depth (ivf_nprobe), the
 * candidates and their exact re-rank from the engine's float rows. */
static int ivf_ready(lk_engine *e, const lk_engine_opts *o, const char *path, lk_errbuf *err) {
  lk_ivf_opts io;
  int nlist, fine, coarse;
  size_t n = lk_ivf_size(e->ivf);
  ivf_opts(o, n, lk_engine_query_dim(e), &io);
  lk_ivf_shape(e->ivf, &nlist, &fine, &coarse);
  if (fine != io.fine_dims || coarse > io.coarse_dims)
    return lk_err_set(err, LK_EMISMATCH, "%s%sstale (IVF codes %d+%d, this version's %d+<=%d)", path ? path : "",
                      path ? ": " : "", fine, coarse, io.fine_dims, io.coarse_dims);
  int rc = lk_ivf_set_nprobe(e->ivf, ivf_nprobe(o, e->ivf, n));
  if (!rc) rc = lk_ivf_set_rerank(e->ivf, io.rerank);
  if (!rc) rc = lk_ivf_set_refine(e->ivf, LK_ENGINE_IVF_REFINE, ivf_vector, e);
  return rc ? lk_err_set(err, rc, "%s", lk_strerror(rc)) : 0;
}

/* Builds the IVF over every index row, in row order (so allow bitmaps carry over): trained on
 * up to 65,536 rows spread over the catalog, codes no longer than the vectors. */
static int build_ivf(lk_engine *e, const lk_engine_opts *o, lk_errbuf *err) {
  size_t n = lk_index_size(e->index), nt = n < IVF_TRAIN_MAX ? n : IVF_TRAIN_MAX;
  int d = lk_engine_query_dim(e), rc; /* the index rows: with a label prior, wider than e->dim */
  lk_ivf_opts io;
  ivf_opts(o, n, d, &io);
  size_t bytes;
  if (lk_size_mul3(nt, (size_t)d, sizeof(float), &bytes)) return lk_err_set(err, LK_ENOMEM, "out of memory");
  float *x = malloc(bytes);
  if (!x) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < nt; i++) memcpy(x + i * (size_t)d, lk_index_vector(e->index, i * n / nt), sizeof(float) * (size_t)d);
  lk_truth *t = NULL;
  rc = lk_ivf_train(&io, d, x, nt, &e->ivf);
  if (!rc) rc = tune_truth(o, x, nt, d, lk_index_ids(e->index), n, &t);
  free(x);
  if (!rc) rc = lk_facetcode_new(&e->facets);
  if (!rc) rc = add_rows(e, 0, t);
  if (!rc) rc = lk_ivf_trim(e->ivf); /* the growth room of the adds, ~10 % of its RAM */
  if (rc) {
    lk_truth_free(t);
    return lk_err_set(err, rc, "building the IVF index: %s", lk_strerror(rc));
  }
  rc = ivf_ready(e, o, NULL, err);
  if (!rc && (rc = tune_probe(e->ivf, t, n)))
    rc = lk_err_set(err, rc, "tuning the IVF index's probe depth: %s", lk_strerror(rc));
  lk_truth_free(t);
  return rc;
}

/* What makes two engines' index rows differ beyond the recipe: the label prior's weight. */
static uint32_t rows_key(const lk_engine *e) {
  uint32_t k;
  memcpy(&k, &e->prior_weight, sizeof k);
  return e->prior ? k : 0;
}

#define LKX_ROWS 0x524f5753 /* "ROWS": crc32 of the index rows' floats the IVF was built from */
#define LKX_VECS 0x53434556 /* "VECS": the index rows (rows x query-dim floats, IVF row order) */
/* (0x43524356 "VCRC", a crc32 per 256 rows of VECS, was format 2's: the file's chunk checksums
 * do it now) */
#define LKX_FDICT LK_FACETCODE_LKX_TAG /* the facet dictionaries (lk_facetcode_encode) */
/* Float row r of a full engine, or NULL when its bytes in the mapped file are damaged (their
 * chunks checked now if they were not yet, when the file was mapped lazily: lk_lkx_verify). */
static const float *row_vec(const lk_engine *e, size_t r) {
  const float *v = lk_index_vector(e->index, r);
  return !e->lkx || !v || !lk_lkx_verify(e->lkx, v, sizeof(float) * (size_t)e->qdim) ? v : NULL;
}

/* Every float row checked (row_vec): 0, or LK_ECORRUPT when a chunk is damaged. */
static int check_rows(const lk_engine *e) {
  size_t n = lk_index_size(e->index);
  return e->lkx && n && lk_lkx_verify(e->lkx, lk_index_vector(e->index, 0), n * sizeof(float) * (size_t)e->qdim)
             ? LK_ECORRUPT : 0;
}
#define LKX_FACETS 0x46414353 /* "FACS": crc32 of the coded fields and the rows' facet codes */

/* crc32 (util/hash.h) of the floats of index rows 0..n-1. */
static uint32_t rows_crc(const lk_engine *e, size_t n) {
  uint32_t c = 0;
  for (size_t r = 0; r < n; r++)
    c = lk_hash_crc32(c, lk_index_vector(e->index, r), sizeof(float) * (size_t)lk_engine_query_dim(e));
  return c;
}

/* crc32 of the coded fields and the facet codes of index rows 0..n-1 (code_rows: coded into fc,
 * or looked up when fc is NULL). */
static uint32_t facets_crc0(void) { /* the coded fields: the crc32's start */
  uint8_t fields[LK_FACETCODE_NCOLS];
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) fields[c] = (uint8_t)LK_FACETCODE_FIELDS[c];
  return lk_hash_crc32(0, fields, sizeof fields);
}

static int facets_crc(const lk_engine *e, lk_facetcode *fc, size_t n, uint32_t *out) {
  uint8_t cols[1024 * LK_FACETCODE_NCOLS];
  uint32_t crc = facets_crc0();
  int rc = 0;
  for (size_t r0 = 0; r0 < n && !rc; r0 += 1024) {
    size_t m = n - r0 < 1024 ? n - r0 : 1024;
    rc = code_rows(e, fc, r0, m, cols);
    crc = lk_hash_crc32(crc, cols, m * LK_FACETCODE_NCOLS);
  }
  *out = crc;
  return rc;
}

/* Whether the saved IVF's filter columns are the facet codes rows 0..n-1 get now (their items'
 * fields may have changed without their vectors), coding those rows into a new e->facets:
 * 0, or LK_EMISMATCH ("stale") / LK_ENOMEM with a message. */
static int check_facets(lk_engine *e, const lk_lkx *x, size_t n, lk_errbuf *err) {
  const void *p;
  size_t sz;
  uint32_t want, have;
  if (lk_ivf_ncols(e->ivf) != LK_FACETCODE_NCOLS || lk_lkx_section(x, LKX_FACETS, 4, 1, &p, &sz, NULL))
    return lk_err_set(err, LK_EMISMATCH, "%s: stale (no facet columns)", e->lkx_path);
  memcpy(&want, p, 4);
  int rc = lk_facetcode_new(&e->facets);
  if (!rc) rc = facets_crc(e, e->facets, n, &have);
  if (rc) return lk_err_set(err, rc, "coding the facet columns: %s", lk_strerror(rc));
  if (have != want) return lk_err_set(err, LK_EMISMATCH, "%s: stale (items' facet fields changed)", e->lkx_path);
  return 0;
}

/* Maps the saved index when it holds these rows: the recipe, the prior weight and the dimension
 * are the engine's, and either the catalog version and every row's id, or (a file behind the
 * catalog) its rows are the first rows here with the same ids and floats (the crc32 of the
 * rows) and the rows after them (items added since) are added to the IVF. 0 with e->ivf set,
 * or an error whose message (one line) says why the file was passed over. */
static int map_ivf(lk_engine *e, const lk_engine_opts *o, int *behind, lk_errbuf *err) {
  lk_lkx *x = NULL;
  int rc = lk_lkx_map(e->lkx_path, &x, err);
  if (rc) return rc;
  const lkx_meta *m = lk_lkx_meta(x);
  size_t n = lk_index_size(e->index), nf = m->items <= n ? (size_t)m->items : 0;
  const void *rc32;
  size_t sz;
  if (strcmp(m->recipe_id, e->recipe_id) || m->rows_key != rows_key(e) || m->dim != (uint32_t)lk_engine_query_dim(e))
    rc = lk_err_set(err, LK_EMISMATCH, "%s: stale (another recipe or prior weight)", e->lkx_path);
  else if (m->items > n)
    rc = lk_err_set(err, LK_EMISMATCH, "%s: stale (%llu items, the catalog has %zu: some were deleted)", e->lkx_path,
                    (unsigned long long)m->items, n);
  else if (!(rc = lk_ivf_load(x, &e->ivf, err)) && !(rc = ivf_ready(e, o, e->lkx_path, err)) &&
           memcmp(lk_ivf_ids(e->ivf), lk_index_ids(e->index), nf * sizeof(int64_t)))
    rc = lk_err_set(err, LK_EMISMATCH, "%s: stale (its rows are not the catalog's: items deleted or inserted among them)",
                    e->lkx_path);
  else if (!rc && !(rc = check_facets(e, x, nf, err)) && (m->catalog_version != e->cat_version || nf != n)) {
    uint32_t want;
    if (!(rc = lk_lkx_section(x, LKX_ROWS, 4, 1, &rc32, &sz, err))) memcpy(&want, rc32, 4);
    if (!rc && want != rows_crc(e, nf))
      rc = lk_err_set(err, LK_EMISMATCH, "%s: stale (vectors changed since catalog version %lld)", e->lkx_path,
                      (long long)m->catalog_version);
    *behind = nf != n;
    if (!rc && (rc = add_rows(e, nf, NULL))) rc = lk_err_set(err, rc, "adding the new items to the saved index: %s", lk_strerror(rc));
  }
  lk_lkx_close(x);
  if (rc) {
    lk_ivf_free(e->ivf);
    e->ivf = NULL;
    lk_facetcode_free(e->facets);
    e->facets = NULL;
  }
  return rc;
}

/* The IVF from the saved index when it matches, else built (the file's fault noted). */
static int map_or_build_ivf(lk_engine *e, const lk_engine_opts *o, lk_errbuf *err) {
  if (e->lkx_path[0] && e->cat_version >= 0 && !e->lkx_note[0]) { /* (a note: open_saved passed it over) */
    lk_errbuf me = {0};
    int behind = 0, rc = map_ivf(e, o, &behind, &me);
    if (!rc) {
      e->lkx_state = behind ? LK_ENGINE_LKX_BEHIND : LK_ENGINE_LKX_MAPPED;
      return 0;
    }
    if (rc != LK_ENOTFOUND) snprintf(e->lkx_note, sizeof e->lkx_note, "%s; rebuilt the index", lk_err_msg(&me));
  }
  e->lkx_state = LK_ENGINE_LKX_BUILT;
  return build_ivf(e, o, err);
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

int lk_engine_check_catalog(const lk_engine *e, lk_catalog *cat, lk_errbuf *err) {
  size_t n = lk_engine_item_count(e);
  for (size_t s = 0; s < LK_ENGINE_CHECK_SAMPLE && n; s++) {
    const lk_item *a = lk_engine_item_at(e, s * (n - 1) / (LK_ENGINE_CHECK_SAMPLE - 1));
    lk_item b = {0};
    int rc = lk_catalog_get_item(cat, a->id, &b);
    int same = !rc && same_str(a->hash, b.hash) && same_str(a->path, b.path) && a->size == b.size && a->mtime == b.mtime;
    lk_item_clear(&b);
    if (rc && rc != LK_ENOTFOUND) return lk_catalog_fail(cat, rc, err, "checking the saved index against the catalog");
    if (!same)
      return lk_err_set(err, LK_EMISMATCH, "stale (item %lld is not the catalog's: re-created?)", (long long)a->id);
  }
  return 0;
}

/* The engine from the saved index alone (lk_engine_open_saved): items, index rows, ids and IVF
 * point into the mapped file, the facet dictionaries decoded, nothing read from the catalog. 0
 * with e->lkx set; 1 when the file does not apply (none, an exact index, or one behind the
 * catalog at v0 when behind_ok is 0: the full read maps its IVF then); or an error saying why
 * the file was passed over (stale, damaged, a sample of its items not the catalog's), with e as
 * it was. */
static int open_saved(lk_engine *e, lk_catalog *cat, const lk_engine_opts *o, int64_t v0, int behind_ok,
                      lk_errbuf *err) {
  lk_lkx *x = NULL;
  lkx_meta hm; /* the header first: a file this open does not use is not read */
  int rc = lk_lkx_peek(e->lkx_path, &hm, err), extra = lk_prior_extra(e->prior);
  if (rc == LK_ENOTFOUND) return 1;
  if (rc) return rc;
  if (o->plain_scan || lk_engine_index_choice(o->index, (size_t)hm.items) != LK_ENGINE_INDEX_IVF ||
      (hm.catalog_version < v0 && !behind_ok))
    return 1;
  /* a server checks its rows (row_vec), its items (search/itemtab.h) and most of the IVF
   * (index/ivf.h) as it reads them */
  uint32_t lazy[3 + LK_IVF_NLAZY] = {LKX_VECS, LK_ITEMTAB_TABLE, LK_ITEMTAB_POOL};
  memcpy(lazy + 3, lk_ivf_lazy_sections, sizeof lk_ivf_lazy_sections);
  if ((rc = lk_lkx_map_lazy(e->lkx_path, lazy, behind_ok ? 3 + LK_IVF_NLAZY : 0, &x, err))) return rc;
  const lkx_meta *m = lk_lkx_meta(x);
  const void *vp = NULL, *fp = NULL;
  size_t vs, fs, n = 0;
  if (strcmp(m->recipe_id, e->recipe_id) || m->rows_key != rows_key(e) || m->dim <= (uint32_t)extra ||
      m->dim > (1u << 20))
    rc = lk_err_set(err, LK_EMISMATCH, "stale (another recipe or prior weight)");
  else if (m->catalog_version > v0)
    rc = lk_err_set(err, LK_EMISMATCH, "stale (saved at catalog version %lld, the catalog is at %lld: re-created?)",
                    (long long)m->catalog_version, (long long)v0);
  /* a server checks the IVF's lists as searches first probe them (index/ivf.h) */
  if (!rc) rc = behind_ok ? lk_ivf_load_lazy(x, &e->ivf, err) : lk_ivf_load_mapped(x, &e->ivf, err);
  if (!rc) {
    n = lk_ivf_size(e->ivf);
    e->qdim = (int)m->dim;
    e->dim = e->qdim - extra;
    if (lk_ivf_ncols(e->ivf) != LK_FACETCODE_NCOLS) rc = lk_err_set(err, LK_EMISMATCH, "stale (no facet columns)");
    else rc = ivf_ready(e, o, NULL, err);
  }
  if (!rc) rc = lk_lkx_section(x, LKX_VECS, sizeof(float) * (size_t)e->qdim, n, &vp, &vs, err);
  if (!rc) rc = lk_lkx_section(x, LKX_FDICT, 1, 0, &fp, &fs, err);
  if (!rc && (rc = lk_facetcode_decode(fp, fs, &e->facets)))
    rc = lk_err_set(err, rc, rc == LK_ENOMEM ? "out of memory" : "damaged facet dictionaries");
  if (!rc && (rc = lk_index_wrap(e->qdim, lk_ivf_ids(e->ivf), vp, n, &e->index)))
    rc = lk_err_set(err, LK_ECORRUPT, "the rows' ids are not ascending");
  /* the items, decoded as asked for (a server) or all now (the other commands) */
  if (!rc) rc = lk_itemtab_open(x, &e->tab, err);
  if (!rc && !behind_ok) rc = lk_itemtab_check(e->tab, err);
  if (!rc) e->nitems = lk_itemtab_count(e->tab);
  /* the row -> item map, both in id order: none when every item has a row (item r is row r's:
   * checked as read, row_item_of; all now for the other commands), else one merge */
  const int64_t *ids = rc ? NULL : lk_ivf_ids(e->ivf);
  for (size_t r = 0; !rc && e->nitems == n && !behind_ok && r < n; r++)
    if (base_id(e, r) != ids[r]) rc = lk_err_set(err, LK_ECORRUPT, "row %zu has no item", r);
  if (!rc && e->nitems != n && !(e->row_item = malloc(sizeof *e->row_item * (n + 1))))
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t r = 0, i = 0; !rc && e->row_item && r < n; r++) {
    while (i < e->nitems && base_id(e, i) < ids[r]) i++;
    if (i == e->nitems || base_id(e, i) != ids[r]) rc = lk_err_set(err, LK_ECORRUPT, "row %zu has no item", r);
    else e->row_item[r] = i;
  }
  /* a file at the catalog's version: its items are the catalog's, unless that was re-created
   * (one behind is checked after its changes are applied: search/live.c) */
  if (!rc && m->catalog_version == v0) rc = lk_engine_check_catalog(e, cat, err);
  if (rc) {
    char why[LK_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", lk_err_msg(err));
    lk_err_set(err, rc, "%s: %s", e->lkx_path, why);
    lk_ivf_free(e->ivf);
    lk_facetcode_free(e->facets);
    lk_index_free(e->index);
    lk_itemtab_free(e->tab);
    free(e->row_item);
    e->ivf = NULL, e->facets = NULL, e->index = NULL, e->tab = NULL, e->row_item = NULL;
    e->nitems = 0, e->dim = e->qdim = 0;
    lk_lkx_close(x);
    return rc;
  }
  e->lkx = x;
  e->cat_version = m->catalog_version;
  e->lkx_state = LK_ENGINE_LKX_MAPPED;
  return 0;
}

int lk_engine_index_path(const char *db, char *out, size_t n) {
  if (!strncmp(db, "postgresql://", 13) || !strncmp(db, "postgres://", 11)) return LK_ENOTFOUND;
  return snprintf(out, n, "%s.lkx", db) < (int)n ? 0 : LK_EINVAL;
}

int lk_engine_index_state(const lk_engine *e) { return e->lkx_state; }
const char *lk_engine_index_note(const lk_engine *e) { return e->lkx_note[0] ? e->lkx_note : NULL; }

static const lk_item *save_item_at(const void *ctx, size_t i) { return base_item(ctx, i); }

/* The saved index written as its rows come, for both builds (one writer): lk_engine_save_index
 * passes the engine's rows, lk_engine_build_index the rows it streams from the catalog. The
 * rows go first (VECS; their chunk checksums come with the file, index/lkx.h), with the crc32s
 * of all rows (ROWS) and of the facet codes (FACETS) kept as they pass; save_end then writes
 * what needs every row: the items (search/itemtab.h), the facet dictionaries, the IVF, ROWS and
 * FACETS, then the header. */
typedef struct saver {
  lk_lkx_writer w;
  size_t row, n;         /* bytes a row; rows written */
  uint32_t rows, facets; /* the crc32s so far */
} saver;

/* Starts path's temporary file (m: the header, its items set at save_end). On failure nothing
 * is left (the temporary file removed). */
static int save_begin(saver *s, const char *path, const lkx_meta *m, lk_errbuf *err) {
  memset(s, 0, sizeof *s);
  s->row = sizeof(float) * m->dim;
  s->facets = facets_crc0();
  int rc = lk_lkx_create(&s->w, path, m, err);
  if (!rc && (rc = lk_lkx_begin(&s->w, LKX_VECS, err))) lk_lkx_abandon(&s->w);
  return rc;
}

/* m more rows (x: m x dim floats) and their facet codes (m x LK_FACETCODE_NCOLS). */
static int save_rows(saver *s, const float *x, const uint8_t *cols, size_t m, lk_errbuf *err) {
  s->rows = lk_hash_crc32(s->rows, x, m * s->row);
  s->n += m;
  s->facets = lk_hash_crc32(s->facets, cols, m * LK_FACETCODE_NCOLS);
  return lk_lkx_write(&s->w, x, m * s->row, err);
}

/* The rest, and the file renamed into place (the items: engine e's, or with e NULL tab's);
 * abandoned (the temporary file removed) on any failure. */
static int save_end(saver *s, const lk_ivf *ivf, const lk_facetcode *fc, const lk_engine *e, const lk_itembuild *tab,
                    lk_errbuf *err) {
  uint8_t *dict = NULL;
  size_t len = 0;
  int rc = lk_ivf_size(ivf) == s->n ? 0 : lk_err_set(err, LK_EINVAL, "saving the index: the IVF does not hold every row");
  if (!rc) rc = lk_lkx_end(&s->w, err);
  if (!rc) rc = e ? lk_itemtab_write_from(&s->w, save_item_at, e, e->nitems, err) : lk_itembuild_save(tab, &s->w, err);
  if (!rc && (rc = lk_facetcode_encode(fc, &dict, &len))) rc = lk_err_set(err, rc, "out of memory");
  if (!rc) rc = lk_lkx_add(&s->w, LKX_FDICT, dict, len, err);
  if (!rc) rc = lk_ivf_save(ivf, &s->w, err);
  if (!rc) rc = lk_lkx_add(&s->w, LKX_ROWS, &s->rows, sizeof s->rows, err);
  if (!rc) rc = lk_lkx_add(&s->w, LKX_FACETS, &s->facets, sizeof s->facets, err);
  free(dict);
  s->w.meta.items = s->n;
  if (rc) lk_lkx_abandon(&s->w);
  return rc ? rc : lk_lkx_commit(&s->w, err);
}

/* The header of e's saved index. */
static lkx_meta save_meta(const lk_engine *e) {
  lkx_meta m = {.catalog_version = e->cat_version, .dim = (uint32_t)lk_engine_query_dim(e), .rows_key = rows_key(e)};
  memcpy(m.recipe_id, e->recipe_id, sizeof m.recipe_id);
  return m;
}

int lk_engine_save_index(const lk_engine *e, const char *path, lk_errbuf *err) {
  if (e->base || !e->ivf) return lk_err_set(err, LK_EINVAL, "only an IVF index is saved (the exact one is rebuilt in seconds)");
  if (e->cat_version < 0) return lk_err_set(err, LK_EINVAL, "this catalog has no version to tag a saved index with");
  size_t n = lk_index_size(e->index);
  if (lk_ivf_size(e->ivf) != n) return lk_err_set(err, LK_EINVAL, "saving the index: the IVF does not hold every row");
  if (check_rows(e)) return lk_err_set(err, LK_ECORRUPT, "saving the index: the saved index it was read from is damaged");
  lkx_meta m = save_meta(e);
  saver s;
  uint8_t cols[1024 * LK_FACETCODE_NCOLS];
  int rc = save_begin(&s, path, &m, err);
  if (rc) return rc;
  for (size_t r0 = 0; !rc && r0 < n; r0 += 1024) {
    size_t k = n - r0 < 1024 ? n - r0 : 1024;
    if (code_rows(e, NULL, r0, k, cols)) /* (looked up: fails only on an item damaged in the file) */
      rc = lk_err_set(err, LK_ECORRUPT, "saving the index: the saved index it was read from is damaged");
    else rc = save_rows(&s, lk_index_vector(e->index, r0), cols, k, err); /* (rows are contiguous) */
  }
  if (rc) {
    lk_lkx_abandon(&s.w);
    return rc;
  }
  return save_end(&s, e->ivf, e->facets, e, NULL, err);
}

/* The index row of vector v (e->dim floats) of item it (NULL: none) into out (qdim floats): with
 * a label prior, the item's labels appended (prior.h). */
static void widen(const lk_engine *e, const lk_item *it, const float *v, float *out) {
  int cls[LK_PROJ_MAX_HEADS];
  for (int h = 0; h < lk_prior_nheads(e->prior); h++)
    cls[h] = it && e->prior_field[h] >= 0 ? lk_prior_class(e->prior, h, it->field[e->prior_field[h]]) : -1;
  if (e->prior) lk_prior_gallery(e->prior, v, e->dim, cls, out);
  else memcpy(out, v, sizeof(float) * (size_t)e->dim);
}

static int item_cb(void *ctx, const lk_item *it) {
  lk_engine *e = ctx;
  if (LK_ARRAY_RESERVE(e->items, e->capitems, e->nitems + 1, 1024)) return LK_ENOMEM;
  return lk_item_copy(&e->items[e->nitems++], it);
}

static int vector_cb(void *ctx, int64_t id, const float *v, int dim) {
  lk_engine *e = ctx;
  if (!e->index) {
    e->dim = dim;
    e->qdim = dim + lk_prior_extra(e->prior);
    if (e->prior && !(e->gbuf = malloc(sizeof(float) * (size_t)e->qdim))) return LK_ENOMEM;
    int rc = lk_index_new(e->qdim, &e->index);
    if (rc) return rc;
  }
  if (dim != e->dim) return LK_ECORRUPT;
  if (!e->prior) return lk_index_add(e->index, id, v);
  widen(e, lk_engine_item(e, id), v, e->gbuf);
  return lk_index_add(e->index, id, e->gbuf);
}

static int finish(lk_engine *e, const lk_engine_opts *op, const char *db_path, lk_errbuf *err);
static int engine_open(lk_catalog *cat, const char *db_path, const lk_engine_opts *opts, int behind_ok,
                       lk_engine **out, int64_t *version, lk_errbuf *err);

int lk_engine_open(const char *db_path, const lk_engine_opts *opts, lk_engine **out, lk_errbuf *err) {
  lk_catalog *cat = NULL;
  int rc = lk_catalog_open(db_path, LK_CATALOG_READONLY, &cat, err);
  if (!rc) rc = lk_engine_open_catalog(cat, db_path, opts, out, err);
  lk_catalog_close(cat);
  return rc;
}

/* A new engine with one reference and the settings of o that open and rebuild share; NULL when
 * out of memory. */
static lk_engine *engine_new(const lk_engine_opts *o) {
  lk_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  pthread_mutex_init(&e->lock, NULL);
  e->refs = 1;
  e->backend = o->backend;
  e->garment = (o->garment == LK_ENGINE_GARMENT_AUTO ? LK_ENGINE_GARMENT_DEFAULT : o->garment) == LK_ENGINE_GARMENT_ON;
  e->prior_weight = o->prior;
  e->cat_version = -1;
  return e;
}

int lk_engine_open_catalog(lk_catalog *cat, const char *db_path, const lk_engine_opts *opts, lk_engine **out,
                           lk_errbuf *err) {
  return engine_open(cat, db_path, opts, 0, out, NULL, err);
}

int lk_engine_open_saved(lk_catalog *cat, const char *db_path, const lk_engine_opts *opts, lk_engine **out,
                         int64_t *version, lk_errbuf *err) {
  return engine_open(cat, db_path, opts, 1, out, version, err);
}

/* What an engine takes from its catalog before any item: the recipe (its JSON kept in *rj for
 * the caller to free), the catalog's note, the label prior, the calibration, the saved index's
 * path. */
static int engine_head(lk_engine *e, lk_catalog *cat, const char *db_path, const lk_engine_opts *o, char **rj,
                       lk_errbuf *err) {
  int rc;
  if ((rc = lk_catalog_get_meta(cat, "recipe", rj))) {
    rc = rc == LK_ENOTFOUND ? LK_ECORRUPT : rc; /* (LK_ENOMEM stays LK_ENOMEM) */
    if (rc == LK_ECORRUPT) return lk_err_set(err, rc, "%s: catalog has no recipe (was it indexed?)", db_path);
    return lk_catalog_fail(cat, rc, err, "%s", db_path);
  }
  if ((rc = lk_recipe_from_json(*rj, &e->recipe, err))) return rc;
  lk_recipe_id(&e->recipe, e->recipe_id);
  if (lk_catalog_note(cat)) snprintf(e->note, sizeof e->note, "%s", lk_catalog_note(cat));
  if ((rc = lk_prior_new(e->recipe.proj, o->prior, &e->prior, err))) return rc;
  for (int h = 0; h < lk_prior_nheads(e->prior); h++) e->prior_field[h] = lk_filter_field(lk_prior_field(e->prior, h));
  /* a damaged or other recipe's calibration leaves the engine uncalibrated, as none does */
  e->has_cal = lk_calibration_load(cat, e->recipe_id, &e->cal, NULL, NULL) == 0;
  if (lk_engine_index_path(db_path, e->lkx_path, sizeof e->lkx_path)) e->lkx_path[0] = '\0';
  return 0;
}

/* lk_engine_open_catalog (behind_ok 0) and lk_engine_open_saved (1, *version set). */
static int engine_open(lk_catalog *cat, const char *db_path, const lk_engine_opts *opts, int behind_ok,
                       lk_engine **out, int64_t *version, lk_errbuf *err) {
  lk_engine_opts o;
  if (opts) o = *opts; else lk_engine_opts_default(&o);
  lk_engine *e = engine_new(&o);
  if (!e) return lk_err_set(err, LK_ENOMEM, "out of memory");
  char *rj = NULL;
  int rc;
  if ((rc = engine_head(e, cat, db_path, &o, &rj, err))) goto fail;
  int64_t v0 = -1, v1 = -2;
  if (lk_catalog_version(cat, &v0)) v0 = -1;
  if (e->lkx_path[0] && v0 >= 0) { /* the saved index, when it holds this catalog: nothing more is read */
    lk_errbuf me = {0};
    int sv = open_saved(e, cat, &o, v0, behind_ok, &me);
    if (sv < 0) snprintf(e->lkx_note, sizeof e->lkx_note, "%s; rebuilt the index", lk_err_msg(&me));
    if (sv == 0) {
      free(rj);
      rj = NULL;
      if ((rc = finish(e, &o, db_path, err))) goto fail;
      if (version) *version = e->cat_version;
      *out = e;
      return 0;
    }
  }
  if ((rc = lk_catalog_foreach_item(cat, item_cb, e))) {
    lk_catalog_fail(cat, rc, err, "%s: reading items", db_path);
    goto fail;
  }
  if ((rc = lk_catalog_foreach_unit_vector(cat, vector_cb, e))) {
    lk_catalog_fail(cat, rc, err, "%s: reading vectors", db_path);
    goto fail;
  }
  free(rj);
  rj = NULL;
  /* the saved index is used only when the rows were read at one known version */
  e->cat_version = v0 >= 0 && !lk_catalog_version(cat, &v1) && v1 == v0 ? v0 : -1;
  if ((rc = finish(e, &o, db_path, err))) goto fail;
  if (version) *version = -1;
  *out = e;
  return 0;
fail:
  free(rj);
  lk_engine_close(e);
  return rc;
}

/* After the items and vectors are in: the index as the options ask, the row map, the model. */
static int finish(lk_engine *e, const lk_engine_opts *op, const char *db_path, lk_errbuf *err) {
  lk_engine_opts o = *op;
  int rc;
  if (!e->index && (rc = lk_index_new(1, &e->index))) return rc;
  free(e->gbuf);
  e->gbuf = NULL;
  /* a plain-scan engine (lk_engine_opts.plain_scan) gets no IVF either */
  int use_ivf = !o.plain_scan && lk_engine_index_choice(o.index, lk_index_size(e->index)) == LK_ENGINE_INDEX_IVF;
  /* the int8 shortlist scan (same results, ~10x faster; index/index.h) pays off from a few
   * thousand rows; if it cannot be built the plain scan serves */
  if (!use_ivf && !o.plain_scan && lk_index_size(e->index) >= 4096 && lk_index_optimize(e->index, 0) == 0)
    lk_index_set_threads(e->index, o.search_threads > 0 ? o.search_threads : 1);
  if (!e->row_item && !e->tab) { /* (open_saved made it, or needs none) */
    e->row_item = malloc(sizeof *e->row_item * (lk_index_size(e->index) + 1));
    if (!e->row_item) return lk_err_set(err, LK_ENOMEM, "out of memory");
    for (size_t r = 0; r < lk_index_size(e->index); r++) e->row_item[r] = SIZE_MAX;
    for (size_t i = 0; i < e->nitems; i++) {
      int64_t r = lk_index_row(e->index, e->items[i].id);
      if (r >= 0) e->row_item[r] = i;
    }
    for (size_t r = 0; r < lk_index_size(e->index); r++)
      if (e->row_item[r] == SIZE_MAX)
        return lk_err_set(err, LK_ECORRUPT, "%s: a vector has no item (run `lookalike check`)", db_path);
  }
  if (use_ivf && !e->ivf && (rc = map_or_build_ivf(e, &o, err))) return rc;
  if (o.models_dir) snprintf(e->models_dir, sizeof e->models_dir, "%s", o.models_dir);
  if (!e->pool && (rc = lk_embed_pool_new(&e->recipe, e->models_dir[0] ? e->models_dir : NULL, e->backend,
                                          o.embedders > 0 ? o.embedders : 1, &e->pool, err)))
    return rc;
  if (!o.lazy_model && (rc = lk_embed_pool_load(e->pool, err))) return rc;
  return 0;
}

/* ---- the saved index streamed from the catalog (lk_engine_build_index) ----
 * Items first (the item table, in its sections' form), then the vectors twice in id order: their
 * ids (so the IVF's training rows, rows i * n / nt as build_ivf takes them, are known and read
 * by id), then each widened row written to the file, coded and added to the IVF trained on
 * them, ADD_ROWS at a time as add_rows adds them (the same calls: the same file). */
#define ADD_ROWS 1024

typedef struct stream {
  lk_engine *e; /* the recipe, prior, paths: no items, rows or index */
  const char *db;
  lk_itembuild tab;
  size_t next;    /* the item cursor: the vectors come in id order, as the items */
  int64_t *ids;   /* the rows' ids (pass 1) */
  size_t n, cap;  /* rows */
  float *x;       /* rows waiting for the IVF (m of ADD_ROWS) */
  uint8_t *cols;
  size_t m;
  lk_facetcode *fc;
  lk_ivf *ivf;
  lk_truth *truth; /* the exact top-10s the probe depth is tuned against (tune_truth) */
  saver s;
  lk_engine_progress_fn fn;
  void *ctx;
  int failed;     /* a callback set err (else the catalog's message is the error's) */
  lk_errbuf *err;
} stream;

static int stream_progress(stream *st, const char *step, size_t done, size_t total) {
  if (st->fn && st->fn(st->ctx, step, done, total)) {
    st->failed = 1;
    return lk_err_set(st->err, LK_EINTR, "interrupted: the saved index was not written (a file there before is kept)");
  }
  return 0;
}

static int stream_item_cb(void *ctx, const lk_item *it) {
  stream *st = ctx;
  int rc = lk_itembuild_add(&st->tab, it);
  if (!rc && st->tab.n % 65536 == 0) rc = stream_progress(st, "items", st->tab.n, 0);
  return rc;
}

/* The item of vector id into *it (the ids ascending: the cursor moves on), or, as the in-RAM
 * open fails for it (finish), LK_ECORRUPT. */
static int stream_item_of(stream *st, int64_t id, lk_item *it) {
  while (st->next < st->tab.n && lk_itembuild_id(&st->tab, st->next) < id) st->next++;
  if (st->next == st->tab.n || lk_itembuild_id(&st->tab, st->next) != id) {
    st->failed = 1;
    return lk_err_set(st->err, LK_ECORRUPT, "%s: a vector has no item (run `lookalike check`)", st->db);
  }
  lk_itembuild_get(&st->tab, st->next, it);
  return 0;
}

static int stream_id_cb(void *ctx, int64_t id, const float *v, int dim) {
  stream *st = ctx;
  lk_engine *e = st->e;
  lk_item it;
  (void)v;
  if (!st->n) {
    e->dim = dim;
    e->qdim = dim + lk_prior_extra(e->prior);
  }
  if (dim != e->dim) return LK_ECORRUPT;
  int rc = stream_item_of(st, id, &it);
  if (!rc && (rc = LK_ARRAY_RESERVE(st->ids, st->cap, st->n + 1, 65536))) return rc;
  if (!rc) st->ids[st->n++] = id;
  if (!rc && st->n % 65536 == 0) rc = stream_progress(st, "vector ids", st->n, 0);
  return rc;
}

/* The waiting rows to the file and the IVF. */
static int stream_flush(stream *st) {
  size_t r0 = st->s.n;
  int rc = save_rows(&st->s, st->x, st->cols, st->m, st->err);
  if (!rc && (rc = lk_ivf_add_cols(st->ivf, st->ids + r0, st->x, st->cols, st->m)))
    rc = lk_err_set(st->err, rc, "building the IVF index: %s", lk_strerror(rc));
  if (!rc && st->truth && (rc = lk_truth_add(st->truth, st->ids + r0, st->x, st->m)))
    rc = lk_err_set(st->err, rc, "building the IVF index: %s", lk_strerror(rc));
  if (rc) st->failed = 1;
  st->m = 0;
  return rc ? rc : stream_progress(st, "rows", st->s.n, st->n);
}

static int stream_row_cb(void *ctx, int64_t id, const float *v, int dim) {
  stream *st = ctx;
  size_t r = st->s.n + st->m, d = (size_t)st->e->qdim;
  lk_item it;
  int rc;
  if (dim != st->e->dim) return LK_ECORRUPT;
  if (r >= st->n || st->ids[r] != id) { /* (read in one snapshot: cannot happen) */
    st->failed = 1;
    return lk_err_set(st->err, LK_EMISMATCH, "%s: the vectors changed while they were read", st->db);
  }
  if ((rc = stream_item_of(st, id, &it))) return rc;
  widen(st->e, &it, v, st->x + st->m * d);
  if ((rc = lk_facetcode_code(st->fc, &it, st->cols + st->m * LK_FACETCODE_NCOLS))) return rc;
  return ++st->m == ADD_ROWS ? stream_flush(st) : 0;
}

/* The IVF trained on rows i * n / nt (build_ivf's), read by id. */
static int stream_train(stream *st, lk_catalog *cat, const lk_engine_opts *o) {
  lk_engine *e = st->e;
  size_t n = st->n, nt = n < IVF_TRAIN_MAX ? n : IVF_TRAIN_MAX, d = (size_t)e->qdim, bytes;
  lk_ivf_opts io;
  ivf_opts(o, n, e->qdim, &io);
  if (lk_size_mul3(nt, d, sizeof(float), &bytes)) return lk_err_set(st->err, LK_ENOMEM, "out of memory");
  float *x = malloc(bytes), *v = malloc(sizeof(float) * d);
  int rc = x && v ? 0 : lk_err_set(st->err, LK_ENOMEM, "out of memory");
  st->next = 0; /* (ids i * n / nt ascend: the cursor runs once) */
  for (size_t i = 0; !rc && i < nt; i++) {
    int64_t id = st->ids[i * n / nt];
    lk_item it;
    int got = lk_catalog_get_vector(cat, id, v, e->dim);
    if (got != e->dim) rc = lk_catalog_fail(cat, got < 0 ? got : LK_ECORRUPT, st->err, "%s: reading vectors", st->db);
    if (!rc && !(rc = stream_item_of(st, id, &it))) widen(e, &it, v, x + i * d);
  }
  if (!rc && (rc = lk_ivf_train(&io, e->qdim, x, nt, &st->ivf)))
    rc = lk_err_set(st->err, rc, "building the IVF index: %s", lk_strerror(rc));
  if (!rc) rc = lk_ivf_set_nprobe(st->ivf, ivf_nprobe(o, st->ivf, n)); /* (saved as build_ivf's) */
  if (!rc && (rc = tune_truth(o, x, nt, e->qdim, st->ids, n, &st->truth)))
    rc = lk_err_set(st->err, rc, "out of memory");
  free(x);
  free(v);
  return rc;
}

/* The float row of id from the rows written so far (ctx: an index wrapping them). */
static int wrapped_vector(void *ctx, int64_t id, const float **out) {
  int64_t r = lk_index_row(ctx, id);
  *out = r >= 0 ? lk_index_vector(ctx, (size_t)r) : NULL;
  return *out ? 0 : LK_ECORRUPT;
}

/* The probe depth tuned (tune_probe) with the exact re-rank served from the rows just written
 * to the file, mapped back; the IVF left without a re-rank source again. */
static int stream_tune(stream *st) {
  if (!st->truth) return 0;
  if (stream_progress(st, "tuning the probe depth", 0, 1)) return LK_EINTR;
  const void *rows;
  size_t size, n = lk_ivf_size(st->ivf);
  lk_index *ix = NULL;
  int rc = lk_lkx_map_current(&st->s.w, &rows, &size, st->err);
  if (rc) return rc;
  if (size != n * st->s.row || (rc = lk_index_wrap(st->e->qdim, lk_ivf_ids(st->ivf), rows, n, &ix)))
    rc = lk_err_set(st->err, rc ? rc : LK_ECORRUPT, "tuning the IVF index's probe depth: %s",
                    lk_strerror(rc ? rc : LK_ECORRUPT));
  if (!rc && (rc = lk_ivf_set_refine(st->ivf, LK_ENGINE_IVF_REFINE, wrapped_vector, ix)) == 0 &&
      (rc = tune_probe(st->ivf, st->truth, n)))
    rc = lk_err_set(st->err, rc, "tuning the IVF index's probe depth: %s", lk_strerror(rc));
  lk_ivf_set_refine(st->ivf, 0, NULL, NULL);
  lk_index_free(ix);
  lk_lkx_unmap(rows, size);
  return rc ? rc : stream_progress(st, "tuning the probe depth", 1, 1);
}

/* The build itself, in cat's snapshot at version v0. */
static int stream_build(stream *st, lk_catalog *cat, const lk_engine_opts *o, int64_t v0, lk_engine_built *out) {
  lk_engine *e = st->e;
  int rc;
  if ((rc = lk_catalog_foreach_item(cat, stream_item_cb, st)))
    return st->failed ? rc : lk_catalog_fail(cat, rc, st->err, "%s: reading items", st->db);
  if ((rc = lk_catalog_foreach_unit_vector(cat, stream_id_cb, st)))
    return st->failed ? rc : lk_catalog_fail(cat, rc, st->err, "%s: reading vectors", st->db);
  out->rows = st->n;
  if (o->plain_scan || lk_engine_index_choice(o->index, st->n) != LK_ENGINE_INDEX_IVF) {
    out->state = LK_ENGINE_LKX_NONE;
    return 0;
  }
  e->cat_version = v0;
  lkx_meta m = save_meta(e);
  size_t bytes;
  if (lk_size_mul3(ADD_ROWS, (size_t)e->qdim, sizeof(float), &bytes) || !(st->x = malloc(bytes)) ||
      !(st->cols = malloc(ADD_ROWS * LK_FACETCODE_NCOLS)) || lk_facetcode_new(&st->fc))
    return lk_err_set(st->err, LK_ENOMEM, "out of memory");
  if ((rc = stream_train(st, cat, o)) || (rc = save_begin(&st->s, e->lkx_path, &m, st->err))) return rc;
  st->next = 0;
  if ((rc = lk_catalog_foreach_unit_vector(cat, stream_row_cb, st))) {
    if (!st->failed) lk_catalog_fail(cat, rc, st->err, "%s: reading vectors", st->db);
  } else if (st->m) rc = stream_flush(st);
  if (!rc && st->s.n != st->n) rc = lk_err_set(st->err, LK_EMISMATCH, "%s: the vectors changed while they were read", st->db);
  if (rc) {
    lk_lkx_abandon(&st->s.w);
    return rc;
  }
  free(st->ids); /* (the IVF has its own) */
  st->ids = NULL;
  if ((rc = stream_tune(st))) {
    lk_lkx_abandon(&st->s.w);
    return rc;
  }
  if ((rc = save_end(&st->s, st->ivf, st->fc, NULL, &st->tab, st->err))) return rc;
  out->state = LK_ENGINE_LKX_BUILT;
  return 0;
}

int lk_engine_build_index(const char *db_path, const lk_engine_opts *opts, lk_engine_progress_fn fn, void *ctx,
                          lk_engine_built *out, lk_errbuf *err) {
  lk_engine_opts o;
  if (opts) o = *opts; else lk_engine_opts_default(&o);
  memset(out, 0, sizeof *out);
  out->recall = -1;
  char path[4096];
  if (lk_engine_index_path(db_path, path, sizeof path))
    return lk_err_set(err, LK_EINVAL, "a saved index sits beside a catalog file (not a postgresql:// catalog)");
  lk_catalog *cat = NULL;
  int rc = lk_catalog_open(db_path, LK_CATALOG_READONLY, &cat, err);
  if (rc) return rc;
  stream st = {.db = db_path, .fn = fn, .ctx = ctx, .err = err, .e = engine_new(&o)};
  char *rj = NULL;
  int snap = !strcmp(lk_catalog_backend(cat), "sqlite") && lk_catalog_begin(cat) == 0; /* one snapshot */
  int64_t v0 = -1;
  if (!st.e) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  if (!rc) rc = engine_head(st.e, cat, db_path, &o, &rj, err);
  if (!rc && (lk_catalog_version(cat, &v0) || v0 < 0))
    rc = lk_err_set(err, LK_EINVAL, "this catalog has no version to tag a saved index with");
  if (!rc) { /* a current file is kept (open_saved checks it as every open does) */
    lk_errbuf me = {0};
    int sv = open_saved(st.e, cat, &o, v0, 0, &me);
    if (sv < 0) snprintf(out->note, sizeof out->note, "%s; rebuilt the index", lk_err_msg(&me));
    if (sv == 0) {
      out->state = LK_ENGINE_LKX_MAPPED;
      out->rows = lk_index_size(st.e->index);
    } else {
      rc = stream_build(&st, cat, &o, v0, out);
    }
    const lk_ivf *iv = sv == 0 ? st.e->ivf : st.ivf;
    if (!rc && iv) {
      int fine, coarse;
      lk_ivf_shape(iv, &out->nlist, &fine, &coarse);
      out->nprobe = lk_ivf_nprobe(iv); /* (ivf_nprobe's, set by ivf_ready or stream_train / stream_tune) */
      out->recall = lk_ivf_recall(iv);
    }
  }
  if (snap) lk_catalog_rollback(cat);
  lk_catalog_close(cat);
  free(rj);
  free(st.ids);
  free(st.x);
  free(st.cols);
  lk_itembuild_clear(&st.tab);
  lk_facetcode_free(st.fc);
  lk_ivf_free(st.ivf);
  lk_truth_free(st.truth);
  lk_engine_close(st.e);
  return rc;
}

void lk_engine_close(lk_engine *e) {
  if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  if (e->base) {
    live_free(e);
    return;
  }
  for (size_t i = 0; i < e->nitems && !e->lkx; i++) lk_item_clear(&e->items[i]); /* (mapped: the file's) */
  free(e->items);
  lk_index_free(e->index);
  lk_ivf_free(e->ivf);
  lk_facetcode_free(e->facets);
  lk_prior_free(e->prior);
  free(e->gbuf);
  free(e->row_item);
  lk_embed_pool_free(e->pool);
  pthread_mutex_destroy(&e->lock);
  lk_recipe_clear(&e->recipe);
  lk_itemtab_free(e->tab);
  lk_lkx_close(e->lkx); /* last: the items, rows and IVF above pointed into it */
  free(e);
}

size_t lk_engine_size(const lk_engine *e) { return e->base ? e->live_size : lk_index_size(e->index); }
size_t lk_engine_item_count(const lk_engine *e) { return e->base ? e->live_items : e->nitems; }
size_t lk_engine_rows(const lk_engine *e) { return engine_rows(e); }
int lk_engine_dim(const lk_engine *e) { return e->dim; }
const lk_recipe *lk_engine_recipe(const lk_engine *e) { return e->base ? &e->base->recipe : &e->recipe; }
const char *lk_engine_recipe_id(const lk_engine *e) { return e->recipe_id; }
const lk_calibration *lk_engine_calibration(const lk_engine *e) { return e->has_cal ? &e->cal : NULL; }

void lk_engine_set_calibration(lk_engine *e, const lk_calibration *c) {
  e->has_cal = c != NULL;
  if (c) e->cal = *c;
  else memset(&e->cal, 0, sizeof e->cal);
}

const lk_item *lk_engine_item_at(const lk_engine *e, size_t i) {
  if (e->base) return live_item_at(e, i);
  const lk_item *it = i < e->nitems ? base_item(e, i) : NULL;
  return it || i >= e->nitems ? it : &damaged_item;
}

const struct lk_index *lk_engine_index(const lk_engine *e) { return e->index; }
const char *lk_engine_note(const lk_engine *e) { return e->note[0] ? e->note : NULL; }

const char *lk_engine_index_name(const lk_engine *e) { return e->ivf ? "ivf" : "exact"; }
int lk_engine_query_dim(const lk_engine *e) { return e->qdim > 0 ? e->qdim : e->dim; }
const lk_prior *lk_engine_prior(const lk_engine *e) { return e->prior; }

void lk_engine_make_query(const lk_engine *e, const float *vec, float *q) {
  if (e->prior) lk_prior_query(e->prior, vec, e->dim, q);
  else if (q != vec) memcpy(q, vec, sizeof(float) * (size_t)e->dim);
}

/* A filter the IVF checks inside its list scan: f on its facet columns (search/facetcode.h), with f
 * itself for the rows of a derived engine's delta. */
struct col_filter {
  lk_ivf_filter cols;
  const lk_filter *f;
};

/* Rows the search may return: allow (NULL: all) or, instead, cf (NULL: none). */
static int index_rows(const lk_engine *e, const float *queries, int nq, int k, const uint64_t *allow,
                      const col_filter *cf, int64_t exclude_id, lk_hit *hits, int *nfound) {
  if (e->base) return live_rows(e, queries, nq, k, allow, cf, exclude_id, hits, nfound);
  if (cf) return lk_ivf_search_where(e->ivf, queries, nq, k, 0, &cf->cols, exclude_id, hits, nfound);
  if (e->ivf) return lk_ivf_search(e->ivf, queries, nq, k, 0, allow, exclude_id, hits, nfound);
  return lk_index_search(e->index, queries, nq, k, allow, exclude_id, hits, nfound);
}

static int by_hit_rank(const void *a, const void *b) {
  const lk_hit *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1;
  return (x->id > y->id) - (x->id < y->id);
}

/* With a label prior: candidates from the widened dot product (cos + bonuses) and from the
 * cosine alone (the query's prior part zeroed), re-scored with lk_prior_score. */
#define PRIOR_CANDIDATES 200
static int prior_rows(const lk_engine *e, const float *queries, int nq, int k, const uint64_t *allow,
                      const col_filter *cf, int64_t exclude_id, lk_hit *hits, int *nfound) {
  int qd = e->qdim, m = 4 * k > PRIOR_CANDIDATES ? 4 * k : PRIOR_CANDIDATES, rc = 0;
  if ((size_t)m > lk_engine_size(e)) m = (int)lk_engine_size(e);
  if (m < 1) m = 1;
  lk_hit *cand = malloc(sizeof *cand * (size_t)m * 2);
  float *q0 = malloc(sizeof(float) * (size_t)qd);
  if (!cand || !q0) {
    free(cand);
    free(q0);
    return LK_ENOMEM;
  }
  for (int i = 0; i < nq && !rc; i++) {
    const float *q = queries + (size_t)i * qd;
    int n1 = 0, n2 = 0;
    memcpy(q0, q, sizeof(float) * (size_t)e->dim);
    memset(q0 + e->dim, 0, sizeof(float) * (size_t)(qd - e->dim));
    if ((rc = index_rows(e, q, 1, m, allow, cf, exclude_id, cand, &n1)) ||
        (rc = index_rows(e, q0, 1, m, allow, cf, exclude_id, cand + n1, &n2)))
      break;
    int n = 0;
    for (int c = 0; c < n1 + n2; c++) { /* the union, re-scored */
      int dup = 0;
      for (int d = 0; d < n && !dup; d++) dup = cand[d].id == cand[c].id;
      if (dup) continue;
      const float *row = lk_engine_vector(e, cand[c].id);
      if (!row) continue;
      cand[n].id = cand[c].id;
      cand[n].score = lk_prior_score(e->prior, q, row, e->dim);
      n++;
    }
    qsort(cand, (size_t)n, sizeof *cand, by_hit_rank);
    lk_hit *h = hits + (size_t)i * k;
    int keep = n < k ? n : k;
    for (int j = 0; j < k; j++) h[j] = j < keep ? cand[j] : (lk_hit){-1, -INFINITY};
    if (nfound) nfound[i] = keep;
  }
  free(cand);
  free(q0);
  return rc;
}

static int search_rows(const lk_engine *e, const float *queries, int nq, int k, const uint64_t *allow,
                       const col_filter *cf, int64_t exclude_id, lk_hit *hits, int *nfound) {
  int rc = e->prior && k > 0 && k <= LK_INDEX_MAX_K ? prior_rows(e, queries, nq, k, allow, cf, exclude_id, hits, nfound)
                                                    : index_rows(e, queries, nq, k, allow, cf, exclude_id, hits, nfound);
  /* a hit whose item is damaged in the saved index fails the search (its bytes are never served) */
  for (int q = 0; !rc && e->tab && q < nq; q++)
    for (int j = 0; !rc && j < (nfound ? nfound[q] : k); j++)
      if (hits[(size_t)q * k + j].id >= 0 && !lk_engine_item(e, hits[(size_t)q * k + j].id)) rc = LK_ECORRUPT;
  return rc;
}

/* A failed search's message: a chunk of the saved index found damaged is named as such. */
static int search_failed(const lk_engine *e, int rc, lk_errbuf *err) {
  const lk_engine *b = e->base ? e->base : e;
  if (rc == LK_ECORRUPT && b->lkx)
    return lk_err_set(err, rc, "search failed: the saved index %s is damaged (`lookalike optimize` writes it anew)",
                      b->lkx_path);
  return lk_err_set(err, rc, "search failed: %s", lk_strerror(rc));
}

int lk_engine_search_rows(const lk_engine *e, const float *queries, int nq, int k,
                          const uint64_t *allow, int64_t exclude_id, lk_hit *hits, int *nfound) {
  return search_rows(e, queries, nq, k, allow, NULL, exclude_id, hits, nfound);
}

const lk_item *lk_engine_item(const lk_engine *e, int64_t id) {
  if (e->base) {
    const struct live_ent *d = live_find(e, id);
    if (d) return live_ent_item(d);
    e = e->base;
  }
  size_t lo = 0, hi = e->nitems;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (base_id(e, mid) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < e->nitems && base_id(e, lo) == id ? base_item(e, lo) : NULL; /* (NULL: damaged too) */
}

const float *lk_engine_vector(const lk_engine *e, int64_t id) {
  if (e->base) {
    const struct live_ent *d = live_find(e, id);
    if (d) return live_ent_vector(d);
    e = e->base;
  }
  int64_t row = lk_index_row(e->index, id);
  return row < 0 ? NULL : row_vec(e, (size_t)row);
}

int lk_engine_has_vector(const lk_engine *e, int64_t id) {
  if (e->base) {
    const struct live_ent *d = live_find(e, id);
    if (d) return live_ent_vector(d) != NULL;
    e = e->base;
  }
  return lk_index_row(e->index, id) >= 0;
}

int lk_engine_load_model(lk_engine *e, lk_errbuf *err) {
  const lk_engine *root = e->base ? e->base : e; /* a derived engine embeds with its base's */
  int rc = lk_embed_pool_load(root->pool, err);
  if (!rc && lk_embed_pool_dim(root->pool) != root->dim && lk_index_size(root->index) > 0)
    rc = lk_err_set(err, LK_EMISMATCH, "the models make %d-d vectors, the catalog holds %d-d ones",
                    lk_embed_pool_dim(root->pool), root->dim);
  return rc;
}

int lk_engine_embed_timed(lk_engine *e, const lk_image *img, float *vec, double *wait_s, lk_errbuf *err) {
  if (wait_s) *wait_s = 0;
  int rc = lk_engine_load_model(e, err);
  return rc ? rc : lk_embed_pool_run((e->base ? e->base : e)->pool, img, vec, wait_s, err);
}

int lk_engine_embed(lk_engine *e, const lk_image *img, float *vec, lk_errbuf *err) {
  return lk_engine_embed_timed(e, img, vec, NULL, err);
}

int lk_engine_input_side(lk_engine *e, lk_errbuf *err) {
  int rc = lk_engine_load_model(e, err);
  return rc ? rc : lk_embed_pool_input_side((e->base ? e->base : e)->pool);
}

void lk_engine_close_queue(lk_engine *e) {
  if (e) lk_embed_pool_close_queue((e->base ? e->base : e)->pool);
}

void lk_engine_set_pool(lk_engine *e, lk_embed_pool *p) {
  lk_engine *root = e->base ? e->base : e;
  lk_embed_pool *old = root->pool;
  root->pool = lk_embed_pool_ref(p);
  lk_embed_pool_free(old);
}

lk_embed_pool *lk_engine_pool(const lk_engine *e) { return (e->base ? e->base : e)->pool; }

float lk_engine_prior_weight(const lk_engine *e) { return (e->base ? e->base : e)->prior_weight; }

/* Stops at the first items that show every column, so it costs little when they exist. */
int lk_engine_filter_check(const lk_engine *e, const lk_filter *f, lk_errbuf *err) {
  unsigned want = 0, seen = 0;
  if (!f) return 0;
  for (int w = 0; w < f->nwhere; w++)
    if (f->where[w].field < 0) want |= 1u << w;
  size_t n = lk_engine_item_count(e); /* a derived engine's items too */
  for (size_t i = 0; i < n && (seen & want) != want; i++) lk_filter_match(lk_engine_item_at(e, i), f, &seen);
  return lk_filter_check_seen(f, seen, err);
}

/* Bitmap of rows whose item passes the filter; NULL filter or no conditions -> *out = NULL. */
static int filter_bitmap(const lk_engine *e, const lk_filter *f, uint64_t **out) {
  *out = NULL;
  if (!f || (f->n == 0 && f->nwhere == 0)) return 0;
  size_t n = lk_index_size(e->index);
  uint64_t *bm = calloc(engine_rows(e) / 64 + 1, sizeof *bm);
  if (!bm) return LK_ENOMEM;
  for (size_t r = 0; r < n; r++) {
    const lk_item *it = row_item_of(e, r);
    if (!it) {
      free(bm);
      return LK_ECORRUPT;
    }
    if (lk_filter_match(it, f, NULL)) bm[r / 64] |= 1ull << (r % 64);
  }
  live_filter(e, f, bm); /* a derived engine's delta rows */
  *out = bm;
  return 0;
}

/* f as a filter on the IVF's facet columns: 1 with *cf set when the IVF can check f in its list
 * scan exactly (search/facetcode.h), else 0: the rows passing f are found by walking the items. */
static int col_filter_of(const lk_engine *e, const lk_filter *f, col_filter *cf) {
  cf->f = f;
  return e->facets && lk_facetcode_filter(e->facets, f, &cf->cols) == 1;
}

int lk_engine_filter_in_index(const lk_engine *e, const lk_filter *f) {
  col_filter cf;
  return col_filter_of(e, f, &cf);
}

int lk_engine_search_vector(const lk_engine *e, const float *vec, const lk_filter *f, int k,
                            int64_t exclude_id, lk_hit *hits, int *nfound, lk_errbuf *err) {
  if (k <= 0 || k > 10000) return lk_err_set(err, LK_EINVAL, "k must be in 1..10000");
  if (!vec) return lk_err_set(err, LK_EINVAL, "no query vector");
  /* scores are cosines (in -1..1, plus a prior's bonus) only for a finite, normalised query */
  double nq = 0;
  for (int i = 0; i < e->dim; i++) nq += (double)vec[i] * vec[i];
  if (!isfinite(nq) || (nq != 0 && !(fabs(sqrt(nq) - 1) <= LK_CATALOG_NORM_TOL)))
    return lk_err_set(err, LK_EINVAL, "the query vector is not finite and normalised (norm %g)", sqrt(nq));
  uint64_t *bm = NULL;
  float *q = NULL;
  col_filter cf;
  int rc = lk_engine_filter_check(e, f, err), cols = !rc && col_filter_of(e, f, &cf);
  if (rc) return rc;
  if (!cols) rc = filter_bitmap(e, f, &bm);
  if (!rc && e->prior && !(q = malloc(sizeof(float) * (size_t)e->qdim))) rc = LK_ENOMEM;
  if (rc) {
    free(bm);
    return lk_err_set(err, rc, "out of memory");
  }
  if (q) lk_engine_make_query(e, vec, q);
  rc = search_rows(e, q ? q : vec, 1, k, bm, cols ? &cf : NULL, exclude_id, hits, nfound);
  free(q);
  free(bm);
  if (rc) return search_failed(e, rc, err);
  return 0;
}

int lk_engine_garment(const lk_engine *e) { return e->garment; }

int lk_engine_query_photo(const lk_engine *e, const lk_image *img, lk_image *out, lk_errbuf *err) {
  int rc;
  if (e->garment) rc = lk_garment_isolate(img, out, NULL);
  else if (!(rc = lk_image_crop(img, 0, 0, img->w, img->h, out))) return 0;
  if (rc) return lk_err_set(err, rc, "preparing the photo: %s", lk_strerror(rc));
  return 0;
}

/* The rows of a full engine are its vectors in id order (open and rebuild add them so), as
 * wide as the recipe's unless a label prior widens them. */
int lk_engine_vectors(const lk_engine *e, const int64_t **ids, const float **vecs, size_t *n) {
  if (!e || !ids || !vecs || !n) return LK_EINVAL;
  if (e->base || e->qdim != e->dim) return LK_EUNSUPPORTED;
  if (check_rows(e)) return LK_ECORRUPT;
  *n = lk_index_size(e->index);
  *ids = lk_index_ids(e->index);
  *vecs = lk_index_vector(e->index, 0);
  return 0;
}

int lk_engine_similar(const lk_engine *e, int64_t id, const lk_filter *f, int k, lk_hit *hits,
                      int *nfound, lk_errbuf *err) {
  const float *v = lk_engine_vector(e, id);
  if (!v) {
    if (!lk_engine_item(e, id)) return lk_err_set(err, LK_ENOTFOUND, "no item with id %lld", (long long)id);
    return lk_err_set(err, LK_ENOTFOUND, "item %lld has no vector (photo missing or undecodable)", (long long)id);
  }
  return lk_engine_search_vector(e, v, f, k, id, hits, nfound, err);
}

/* ---------------------------------------------------------------- multi-crop search */

int lk_engine_crop_boxes(int w, int h, int boxes[][4]) {
  static const struct { int num, den, steps; } scale[] = {{1, 1, 1}, {3, 4, 2}, {1, 2, 3}};
  int n = 0;
  for (size_t s = 0; s < sizeof scale / sizeof *scale; s++) {
    int cw = (int)((int64_t)w * scale[s].num / scale[s].den), ch = (int)((int64_t)h * scale[s].num / scale[s].den);
    if (s > 0 && (cw < 8 || ch < 8)) continue; /* crops too small to say anything; never the photo */
    int st = scale[s].steps;
    for (int yi = 0; yi < st; yi++)
      for (int xi = 0; xi < st; xi++) {
        boxes[n][0] = st > 1 ? (int)((int64_t)(w - cw) * xi / (st - 1)) : 0;
        boxes[n][1] = st > 1 ? (int)((int64_t)(h - ch) * yi / (st - 1)) : 0;
        boxes[n][2] = cw;
        boxes[n][3] = ch;
        n++;
      }
  }
  return n;
}

int lk_engine_search_crops(lk_engine *e, const lk_image *img, const lk_filter *f, const uint64_t *allow, int k,
                           lk_hit *hits, int *nfound, double *wait_s, lk_errbuf *err) {
  if (wait_s) *wait_s = 0;
  if (k <= 0 || k > 10000) return lk_err_set(err, LK_EINVAL, "k must be in 1..10000");
  if (e->dim <= 0) return lk_err_set(err, LK_ENOTFOUND, "the catalog has no vectors yet");
  if (lk_engine_filter_check(e, f, err)) return LK_EINVAL;
  int boxes[LK_ENGINE_CROPS][4], nb = lk_engine_crop_boxes(img->w, img->h, boxes), rc = 0, total = 0;
  size_t nrows = engine_rows(e), words = nrows / 64 + 1;
  uint64_t *bm = NULL;
  col_filter cf;
  int cols = !allow && col_filter_of(e, f, &cf); /* (an allow bitmap: the filter's joins it) */
  float *vec = malloc(sizeof(float) * (size_t)e->dim), *q = malloc(sizeof(float) * (size_t)lk_engine_query_dim(e));
  lk_hit *all = malloc(sizeof *all * (size_t)k * LK_ENGINE_CROPS);
  if (!vec || !q || !all || (!cols && (rc = filter_bitmap(e, f, &bm)))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  if (allow && bm) { /* both: rows that pass the filter and are allowed */
    for (size_t i = 0; i < words; i++) bm[i] &= allow[i];
  } else if (allow) {
    if (!(bm = malloc(sizeof *bm * words))) {
      rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      goto out;
    }
    memcpy(bm, allow, sizeof *bm * words);
  }
  for (int b = 0; b < nb && !rc; b++) {
    lk_image c = {0};
    if ((rc = lk_image_crop(img, boxes[b][0], boxes[b][1], boxes[b][2], boxes[b][3], &c))) {
      rc = lk_err_set(err, rc, "crop failed: %s", lk_strerror(rc));
      break;
    }
    double w = 0;
    rc = lk_engine_embed_timed(e, &c, vec, &w, err);
    if (wait_s) *wait_s += w;
    lk_image_free(&c);
    if (rc) break;
    int n = 0;
    lk_engine_make_query(e, vec, q);
    if ((rc = search_rows(e, q, 1, k, bm, cols ? &cf : NULL, -1, all + total, &n)))
      rc = search_failed(e, rc, err);
    total += n;
  }
  if (!rc) { /* best score per item: sort, then keep each id's first occurrence */
    qsort(all, (size_t)total, sizeof *all, by_hit_rank);
    int n = 0;
    for (int i = 0; i < total && n < k; i++) {
      int seen = 0;
      for (int j = 0; j < n && !seen; j++) seen = hits[j].id == all[i].id;
      if (!seen) hits[n++] = all[i];
    }
    for (int i = n; i < k; i++) hits[i] = (lk_hit){-1, -INFINITY};
    *nfound = n;
  }
out:
  free(vec);
  free(q);
  free(all);
  free(bm);
  return rc;
}

/* ---------------------------------------------------------------- live changes */

/* One change, shared by reference count between the derived engines whose delta holds it. */
typedef struct live_rec {
  int refs;    /* atomic */
  int64_t id;
  int deleted;
  lk_item it;  /* the item as changed (deleted: empty) */
  float *row;  /* its search row (lk_engine_query_dim floats), or NULL: no vector */
} live_rec;

/* A delta entry: the change and where its id falls in the base. */
typedef struct live_ent {
  live_rec *r;
  size_t base_pos;  /* base items with a smaller id */
  int64_t base_row; /* the base's index row of this id (masked), or -1 */
  int in_base;      /* the base has an item with this id (hidden) */
  size_t before;    /* items of the derived engine with a smaller id */
} live_ent;

static size_t engine_rows(const lk_engine *e) {
  return lk_index_size(e->index) + (e->base ? e->ndelta : 0);
}

static const lk_item *live_ent_item(const live_ent *d) { return d->r->deleted ? NULL : &d->r->it; }
static const float *live_ent_vector(const live_ent *d) { return d->r->row; }

static const live_ent *live_find(const lk_engine *e, int64_t id) {
  size_t lo = 0, hi = e->ndelta;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e->delta[mid].r->id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < e->ndelta && e->delta[lo].r->id == id ? &e->delta[lo] : NULL;
}

/* The i-th item in id order: the last delta entry with `before` <= i says how many base items
 * precede (the delta's ids and the base's others interleave; entries are in id order). */
static const lk_item *live_item_at(const lk_engine *e, size_t i) {
  if (i >= e->live_items) return NULL;
  size_t lo = 0, hi = e->ndelta; /* first entry with before > i */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e->delta[mid].before <= i) lo = mid + 1;
    else hi = mid;
  }
  size_t b = i;
  if (lo > 0) {
    const live_ent *d = &e->delta[lo - 1];
    int up = !d->r->deleted;
    if (up && d->before == i) return &d->r->it;
    b = d->base_pos + (size_t)d->in_base + (i - d->before - (size_t)up);
  }
  return b < e->base->nitems ? lk_engine_item_at(e->base, b) : NULL;
}

static void live_filter(const lk_engine *e, const lk_filter *f, uint64_t *bm) {
  if (!e->base) return;
  size_t nb = lk_index_size(e->index);
  for (size_t j = 0; j < e->ndelta; j++) {
    const live_rec *r = e->delta[j].r;
    if (r->row && lk_filter_match(&r->it, f, NULL)) bm[(nb + j) / 64] |= 1ull << ((nb + j) % 64);
  }
}

/* h[0..*len) is a heap of the best hits so far, the worst (by_hit_rank) on top: x joins when
 * there is room or it beats the top. */
static void heap_offer(lk_hit *h, int *len, int k, lk_hit x) {
  int i;
  if (*len < k) { /* sift up */
    for (i = (*len)++; i > 0 && by_hit_rank(&x, &h[(i - 1) / 2]) > 0; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    h[i] = x;
    return;
  }
  if (by_hit_rank(&x, &h[0]) >= 0) return; /* not better than the worst kept */
  for (i = 0;;) { /* sift down */
    int c = 2 * i + 1;
    if (c >= k) break;
    if (c + 1 < k && by_hit_rank(&h[c + 1], &h[c]) > 0) c++;
    if (by_hit_rank(&h[c], &x) <= 0) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* A derived engine's base searched through the IVF's columns (cf): k hits asked, plus as many
 * as the delta hides base rows (at most max(k, 8) more), and the hidden ones dropped: nq x k
 * hits, nf[q] of them found. 1 when a full answer kept fewer than k (hidden rows took the
 * places: the caller walks the items instead), else 0 or an error. */
static int base_where(const lk_engine *e, const float *queries, int nq, int k, const col_filter *cf,
                      int64_t exclude_id, lk_hit *hits, int *nf) {
  size_t hidden = 0, more = k > 8 ? (size_t)k : 8;
  for (size_t j = 0; j < e->ndelta; j++) hidden += e->delta[j].base_row >= 0;
  int kk = k + (int)(hidden < more ? hidden : more);
  if (kk > LK_INDEX_MAX_K) kk = LK_INDEX_MAX_K;
  size_t bytes;
  lk_hit *all = lk_size_mul3((size_t)kk, (size_t)nq + 1, sizeof *all, &bytes) ? NULL : malloc(bytes);
  int *nall = malloc(sizeof *nall * ((size_t)nq + 1));
  int rc = !all || !nall ? LK_ENOMEM : lk_ivf_search_where(e->ivf, queries, nq, kk, 0, &cf->cols, exclude_id, all, nall);
  for (int q = 0; !rc && q < nq; q++) {
    const lk_hit *a = all + (size_t)q * (size_t)kk;
    lk_hit *h = hits + (size_t)q * (size_t)k;
    nf[q] = 0;
    for (int j = 0; j < nall[q] && nf[q] < k; j++)
      if (!live_find(e, a[j].id)) h[nf[q]++] = a[j];
    if (nf[q] < k && nall[q] == kk) rc = 1;
  }
  free(all);
  free(nall);
  return rc;
}

/* The base's search over its rows not masked (allow, or cf through the IVF's columns), and an
 * exact scan of the delta's rows, merged. */
static int live_rows(const lk_engine *e, const float *queries, int nq, int k, const uint64_t *allow,
                     const col_filter *cf, int64_t exclude_id, lk_hit *hits, int *nfound) {
  if (k <= 0 || k > LK_INDEX_MAX_K || nq < 0) return LK_EINVAL;
  size_t nb = lk_index_size(e->index), words = nb / 64 + 1, m = 0;
  int qd = lk_engine_query_dim(e), rc = LK_ENOMEM;
  uint64_t *bm = cf ? NULL : malloc(sizeof *bm * words);
  const float **rows = malloc(sizeof *rows * (e->ndelta + 1));
  int64_t *ids = malloc(sizeof *ids * (e->ndelta + 1));
  float *sc = malloc(sizeof *sc * (e->ndelta + 1));
  lk_hit *cand = malloc(sizeof *cand * (size_t)k);
  int *nf = malloc(sizeof *nf * ((size_t)nq + 1));
  if ((!cf && !bm) || !rows || !ids || !sc || !cand || !nf) goto out;
  for (size_t j = 0; j < e->ndelta; j++) {
    const live_rec *r = e->delta[j].r;
    if (!r->row || r->id == exclude_id) continue;
    if (cf ? !lk_filter_match(&r->it, cf->f, NULL) : allow && !(allow[(nb + j) / 64] >> ((nb + j) % 64) & 1)) continue;
    rows[m] = r->row;
    ids[m++] = r->id;
  }
  if (cf) {
    rc = base_where(e, queries, nq, k, cf, exclude_id, hits, nf);
  } else {
    for (size_t w = 0; w < words; w++) bm[w] = (allow ? allow[w] : ~(uint64_t)0) & ~e->mask[w];
    bm[nb / 64] &= nb % 64 ? ((uint64_t)1 << (nb % 64)) - 1 : 0; /* the rest are the delta's bits */
    rc = index_rows(e->base, queries, nq, k, bm, NULL, exclude_id, hits, nf);
  }
  if (rc == 1) { /* hidden rows crowded the columns' answer: the rows passing the filter, walked */
    rc = filter_bitmap(e, cf->f, &bm);
    if (!rc) rc = live_rows(e, queries, nq, k, bm, NULL, exclude_id, hits, nfound);
    goto out;
  }
  if (rc) goto out;
  for (int q = 0; q < nq; q++) {
    lk_hit *h = hits + (size_t)q * (size_t)k;
    int n = 0;
    for (int j = 0; j < nf[q]; j++) heap_offer(cand, &n, k, h[j]);
    if (m) lk_index_dots(queries + (size_t)q * (size_t)qd, rows, (int)m, qd, sc);
    for (size_t j = 0; j < m; j++) heap_offer(cand, &n, k, (lk_hit){ids[j], sc[j]});
    qsort(cand, (size_t)n, sizeof *cand, by_hit_rank);
    int keep = n;
    for (int j = 0; j < k; j++) h[j] = j < keep ? cand[j] : (lk_hit){-1, -INFINITY};
    if (nfound) nfound[q] = keep;
  }
out:
  free(bm);
  free(rows);
  free(ids);
  free(sc);
  free(cand);
  free(nf);
  return rc;
}

static void rec_release(live_rec *r) {
  if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  lk_item_clear(&r->it);
  free(r->row);
  free(r);
}

static void live_free(lk_engine *e) {
  for (size_t j = 0; j < e->ndelta; j++) rec_release(e->delta[j].r);
  free(e->delta);
  free(e->mask);
  lk_engine *b = e->base;
  pthread_mutex_destroy(&e->lock);
  free(e);
  lk_engine_close(b);
}

/* A record of change c for engines over root (the search row widened with the item's labels
 * when the recipe has a label prior, as vector_cb does at load). */
static int rec_new(const lk_engine *root, const lk_engine_change *c, live_rec **out) {
  live_rec *r = calloc(1, sizeof *r);
  if (!r) return LK_ENOMEM;
  r->refs = 1;
  r->id = c->id;
  r->deleted = c->item == NULL;
  *out = r;
  if (r->deleted) return 0;
  if (lk_item_copy(&r->it, c->item)) return LK_ENOMEM;
  if (!c->vec) return 0;
  if (!(r->row = malloc(sizeof(float) * (size_t)lk_engine_query_dim(root)))) return LK_ENOMEM;
  widen(root, &r->it, c->vec, r->row);
  return 0;
}

int lk_engine_derive(lk_engine *from, const lk_engine_change *ch, size_t n, lk_engine **out, lk_errbuf *err) {
  lk_engine *root = from->base ? from->base : from;
  *out = NULL;
  for (size_t i = 0; i < n; i++) {
    const lk_engine_change *c = &ch[i];
    if (c->id < 0 || (i > 0 && c->id <= ch[i - 1].id))
      return lk_err_set(err, LK_EINVAL, "engine changes: ids must be >= 0, sorted, each once (id %lld)",
                        (long long)c->id);
    if (c->item && c->item->id != c->id)
      return lk_err_set(err, LK_EINVAL, "engine changes: item %lld given for id %lld", (long long)c->item->id,
                        (long long)c->id);
    if (!c->item || !c->vec) continue;
    if (root->dim <= 0)
      return lk_err_set(err, LK_EUNSUPPORTED, "item %lld: the catalog's first vector needs a full load",
                        (long long)c->id);
    if (c->dim != root->dim)
      return lk_err_set(err, LK_EMISMATCH, "item %lld: a vector of %d floats, the catalog's have %d",
                        (long long)c->id, c->dim, root->dim);
    int rc = lk_catalog_vector_check(c->id, c->vec, c->dim, 1, err);
    if (rc) return rc;
  }
  size_t nb = lk_index_size(root->index), words = nb / 64 + 1, nold = from->base ? from->ndelta : 0, cap;
  if (lk_size_add(nold, n, &cap) || lk_size_add(cap, 1, &cap) || lk_size_mul(cap, sizeof(live_ent), &cap))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  lk_engine *e = calloc(1, sizeof *e);
  if (!e) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pthread_mutex_init(&e->lock, NULL);
  e->refs = 1;
  e->base = root;
  __atomic_add_fetch(&root->refs, 1, __ATOMIC_ACQ_REL);
  e->delta = malloc(cap);
  e->mask = from->base ? malloc(sizeof *e->mask * words) : calloc(words, sizeof *e->mask);
  if (!e->delta || !e->mask) {
    live_free(e);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  if (from->base) memcpy(e->mask, from->mask, sizeof *e->mask * words);
  /* what a derived engine borrows from its base */
  e->items = root->items;
  e->tab = root->tab;
  e->nitems = root->nitems;
  e->row_item = root->row_item;
  e->index = root->index;
  e->ivf = root->ivf;
  e->facets = root->facets;
  e->prior = root->prior;
  memcpy(e->prior_field, root->prior_field, sizeof e->prior_field);
  e->dim = root->dim;
  e->qdim = root->qdim;
  e->backend = root->backend;
  e->garment = root->garment;
  memcpy(e->recipe_id, root->recipe_id, sizeof e->recipe_id);
  memcpy(e->note, root->note, sizeof e->note);
  memcpy(e->models_dir, root->models_dir, sizeof e->models_dir);
  e->cal = from->cal; /* from's: a calibration given since (lk_engine_set_calibration) carries on */
  e->has_cal = from->has_cal;
  /* the old delta and the changes, merged by id (a change replaces an old entry) */
  size_t i = 0, c = 0;
  const live_ent *old = from->base ? from->delta : NULL;
  while (i < nold || c < n) {
    if (c < n && (i == nold || ch[c].id <= old[i].r->id)) {
      live_ent d = {0};
      if (i < nold && old[i].r->id == ch[c].id) {
        d = old[i++];
      } else { /* where the id falls in the base */
        size_t lo = 0, hi = root->nitems;
        while (lo < hi) {
          size_t mid = lo + (hi - lo) / 2;
          if (base_id(root, mid) < ch[c].id) lo = mid + 1;
          else hi = mid;
        }
        d.base_pos = lo;
        d.in_base = lo < root->nitems && base_id(root, lo) == ch[c].id;
        d.base_row = d.in_base ? lk_index_row(root->index, ch[c].id) : -1;
        if (d.base_row < 0) d.base_row = -1;
      }
      if (!ch[c].item && !d.in_base) { /* a deletion of what the base never had: nothing left */
        c++;
        continue;
      }
      d.r = NULL; /* (an old entry's record stays the old engine's) */
      int rc = rec_new(root, &ch[c++], &d.r);
      if (rc) {
        rec_release(d.r);
        live_free(e);
        return lk_err_set(err, rc, "out of memory");
      }
      if (d.base_row >= 0) e->mask[d.base_row / 64] |= 1ull << (d.base_row % 64);
      e->delta[e->ndelta++] = d;
    } else {
      live_ent d = old[i++];
      __atomic_add_fetch(&d.r->refs, 1, __ATOMIC_ACQ_REL);
      e->delta[e->ndelta++] = d;
    }
  }
  /* the counts, and where each entry falls among the derived engine's items */
  size_t hidden = 0, masked = 0, up = 0, upv = 0;
  for (size_t j = 0; j < e->ndelta; j++) {
    live_ent *d = &e->delta[j];
    d->before = d->base_pos - hidden + up;
    hidden += (size_t)d->in_base;
    masked += d->base_row >= 0;
    up += !d->r->deleted;
    upv += d->r->row != NULL;
  }
  e->live_items = root->nitems - hidden + up;
  e->live_size = nb - masked + upv;
  *out = e;
  return 0;
}

size_t lk_engine_delta(const lk_engine *e) { return e->base ? e->ndelta : 0; }
int lk_engine_mapped(const lk_engine *e) { return (e->base ? e->base : e)->lkx != NULL; }

int lk_engine_rebuild(const lk_engine *from, const lk_engine_opts *opts, lk_engine **out, lk_errbuf *err) {
  lk_engine_opts o;
  if (opts) o = *opts; else lk_engine_opts_default(&o);
  const lk_engine *root = from->base ? from->base : from;
  *out = NULL;
  lk_engine *e = engine_new(&o);
  if (!e) return lk_err_set(err, LK_ENOMEM, "out of memory");
  e->pool = lk_embed_pool_ref(root->pool); /* the models already loaded (or to load) serve on */
  size_t n = lk_engine_item_count(from), bytes;
  int rc = lk_recipe_copy(&e->recipe, &root->recipe);
  if (rc) {
    rc = lk_err_set(err, rc, "out of memory");
    goto fail;
  }
  memcpy(e->recipe_id, root->recipe_id, sizeof e->recipe_id);
  memcpy(e->note, root->note, sizeof e->note);
  e->cal = from->cal;
  e->has_cal = from->has_cal;
  if ((rc = lk_prior_new(e->recipe.proj, o.prior, &e->prior, err))) goto fail;
  for (int h = 0; h < lk_prior_nheads(e->prior); h++) e->prior_field[h] = lk_filter_field(lk_prior_field(e->prior, h));
  if (lk_size_mul(n + 1, sizeof *e->items, &bytes) || !(e->items = malloc(bytes))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto fail;
  }
  e->capitems = n + 1;
  for (size_t i = 0; i < n && !rc; i++) {
    const lk_item *it = lk_engine_item_at(from, i);
    rc = it == &damaged_item ? LK_ECORRUPT : lk_item_copy(&e->items[e->nitems++], it);
  }
  for (size_t i = 0; i < n && !rc; i++) {
    int64_t id = e->items[i].id;
    const float *v = lk_engine_vector(from, id);
    if (v) rc = vector_cb(e, id, v, root->dim); /* (its first dim floats: the item's own vector) */
  }
  if (rc) {
    rc = lk_err_set(err, rc, "rebuilding the engine: %s", lk_strerror(rc));
    goto fail;
  }
  if ((rc = finish(e, &o, "the catalog", err))) goto fail;
  *out = e;
  return 0;
fail:
  lk_engine_close(e);
  return rc;
}

int lk_engine_rebase(lk_engine *target, const lk_engine *from, const lk_engine *cur, lk_engine **out,
                     lk_errbuf *err) {
  const lk_engine *root = from->base ? from->base : from;
  *out = NULL;
  if (cur != from && cur->base != root)
    return lk_err_set(err, LK_EMISMATCH, "the engine in use was not derived from the one rebuilt");
  size_t na = from->base ? from->ndelta : 0, nb = cur->base ? cur->ndelta : 0, a = 0, b = 0, n = 0;
  lk_engine_change *ch = malloc(sizeof *ch * (na + nb + 1));
  if (!ch) return lk_err_set(err, LK_ENOMEM, "out of memory");
  while (a < na || b < nb) { /* both sorted; an entry of cur that is not from's is a change */
    const live_rec *ra = a < na ? from->delta[a].r : NULL, *rb = b < nb ? cur->delta[b].r : NULL;
    if (ra && (!rb || ra->id < rb->id)) { /* dropped since: a deletion of an id the base lacks */
      ch[n++] = (lk_engine_change){ra->id, NULL, NULL, 0};
      a++;
      continue;
    }
    if (ra && ra->id == rb->id) a++;
    b++;
    if (rb == ra) continue;
    ch[n++] = (lk_engine_change){rb->id, rb->deleted ? NULL : &rb->it, rb->row, rb->row ? root->dim : 0};
  }
  int same_cal = lk_calibration_same(lk_engine_calibration(target), lk_engine_calibration(cur));
  if (n == 0 && same_cal) { /* nothing since: the target itself */
    free(ch);
    __atomic_add_fetch(&target->refs, 1, __ATOMIC_ACQ_REL);
    *out = target;
    return 0;
  }
  int rc = lk_engine_derive(target, ch, n, out, err);
  free(ch);
  if (!rc && !same_cal) lk_engine_set_calibration(*out, lk_engine_calibration(cur)); /* cur's, the newer */
  return rc;
}
