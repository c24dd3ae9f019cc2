/* search/calibrate.h — match strength a person can read: a raw search score turned into the
 * probability that the hit is of the same kind (articleType) as the query and that it is the
 * very product, and a label ("same product", "very similar", "same kind", "loosely related",
 * "no close match"). The probabilities are monotone functions of the score fitted (isotonic
 * regression, util/isotonic.h) on pairs drawn from the catalog itself: a catalog photo lightly
 * altered (crop, scale, mirror, brightness) against its own item ("same product"), the top 10
 * hits of searches as a shopper's would meet them (a sampled item's own photo and the altered
 * copies, the item itself excluded), each "same kind" or "other kind" by articleType, so the fit
 * has a search's base rate, and photos of no product made from catalog photos (noise,
 * gradients, shuffled tiles: "other kind"). The fit is
 * stored in the catalog's meta key "calibration" with the recipe id it belongs to; a catalog
 * without one (or with one of another recipe) is "uncalibrated" and gets no labels. */
#ifndef LK_SEARCH_CALIBRATE_H
#define LK_SEARCH_CALIBRATE_H

#include <jansson.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "search/filter.h"
#include "lookalike.h"

struct lk_engine;

#define LK_CAL_META_KEY "calibration"
#define LK_CAL_VERSION 1
#define LK_CAL_MAX_POINTS 64    /* breakpoints of the stored curves */
#define LK_CAL_MAX_JSON 65536   /* longest stored text read */

/* Plain struct: score[] strictly ascending, p_kind[] and p_product[] non-decreasing in [0, 1];
 * between breakpoints the curves are linear, outside them flat. */
typedef struct lk_calibration {
  char recipe_id[17];
  int n;
  float score[LK_CAL_MAX_POINTS], p_kind[LK_CAL_MAX_POINTS], p_product[LK_CAL_MAX_POINTS];
  int pairs_product, pairs_kind, pairs_other; /* the pairs it was fitted on */
  int64_t items; /* the catalog's searchable items when it was fitted (0: not recorded, older ones) */
} lk_calibration;

/* Labels, weakest first. */
enum lk_match_label { LK_MATCH_NONE = 0, LK_MATCH_LOOSE, LK_MATCH_KIND, LK_MATCH_SIMILAR, LK_MATCH_PRODUCT };
/* The cuts: "same product" from p_product >= LK_CAL_CUT_PRODUCT, else by p_kind: "very
 * similar" from LK_CAL_CUT_SIMILAR, "same kind" from LK_CAL_CUT_KIND, "loosely related" from
 * LK_CAL_CUT_LOOSE, else "no close match". A search whose best hit is below "same kind" is weak. */
#define LK_CAL_CUT_PRODUCT 0.5f
#define LK_CAL_CUT_SIMILAR 0.9f
#define LK_CAL_CUT_KIND 0.5f
#define LK_CAL_CUT_LOOSE 0.2f

typedef struct lk_match {
  int label; /* enum lk_match_label */
  float p_kind, p_product;
} lk_match;

/* "same product", "very similar", "same kind", "loosely related", "no close match". */
const char *lk_match_label_name(int label);
/* The match of a hit of score `score` (any float; NaN counts as the lowest). */
void lk_calibration_match(const lk_calibration *c, float score, lk_match *m);
/* The lowest score whose label is "same kind" or better (below it a search is weak). */
float lk_calibration_weak_score(const lk_calibration *c);

/* Classes of fitting pairs (cls & LK_CAL_CLASS), and flags: a pair flagged LK_CAL_KIND_FIT
 * counts only in the p_kind fit (a search's hit: the base rate a search meets), one flagged
 * LK_CAL_PRODUCT_FIT only in the p_product fit (an item's best neighbour of its own kind and
 * of another, as many of each: the base rate "same product" was fitted with before). */
enum { LK_CAL_OTHER = 0, LK_CAL_KIND = 1, LK_CAL_PRODUCT = 2, LK_CAL_CLASS = 3 };
#define LK_CAL_KIND_FIT 4
#define LK_CAL_PRODUCT_FIT 8
/* Fits c from n pairs (score[i], cls[i]): p_kind on KIND + PRODUCT against OTHER, p_product on
 * PRODUCT against the rest, each on the pairs the flags let in. Needs at least one pair of
 * every class in each fit: else LK_EINVAL naming the missing one. Scores must be finite.
 * LK_ENOMEM. recipe_id: the recipe the scores came from. pairs_* count the classes, flags or not. */
int lk_calibration_fit(const float *score, const uint8_t *cls, size_t n, const char *recipe_id, lk_calibration *c,
                       lk_errbuf *err);

/* Canonical JSON {"version":1, "recipe_id", "pairs":{"same_product","same_kind","other_kind"},
 * "points":[[score, p_kind, p_product], ...]}. *out: free(). LK_ENOMEM. */
int lk_calibration_to_json(const lk_calibration *c, char **out, lk_errbuf *err);
/* Parses and validates stored text (at most LK_CAL_MAX_JSON bytes, LK_CAL_MAX_POINTS points,
 * the orders and ranges above): LK_ECORRUPT / LK_ETOOBIG with a message saying what is wrong. */
int lk_calibration_from_json(const char *s, lk_calibration *c, lk_errbuf *err);
/* 1 when a and b (either may be NULL: uncalibrated) give the same matches: same recipe, curves
 * and pair counts; else 0. */
int lk_calibration_same(const lk_calibration *a, const lk_calibration *b);

/* How lk_calibration_compute samples the catalog. */
typedef struct lk_calibrate_opts {
  int photos;     /* catalog photos altered and searched (default 80; 2 views each, each
                     scored against its item and searched: its top 10 other hits) */
  int items;      /* items searched with their own vector, whose top 10 hits are taken (default 400) */
  int junk;       /* photos of no product (noise, a gradient, a catalog photo's tiles shuffled)
                     whose best hit counts as of another kind (default 32; at most photos) */
  uint64_t seed;  /* which ones (default 0) */
  int split;      /* 0: any item (default); 1 or 2: only the items of that half of the catalog (by
                     a hash of the id), to fit on one half and measure on the other */
  const volatile int *stop; /* set to stop early (LK_EINTR), or NULL */
} lk_calibrate_opts;
void lk_calibrate_opts_default(lk_calibrate_opts *o);
/* Draws the pairs from the engine's own catalog (items drawn without repeats; neighbours from
 * the whole catalog) and fits. Photos that cannot be read are skipped; LK_ENOTFOUND when none
 * could be (the message says why) or when no item has an articleType. */
int lk_calibration_compute(struct lk_engine *e, const lk_calibrate_opts *o, lk_calibration *c, lk_errbuf *err);
/* The pairs themselves (*score, *cls: free(); *n pairs), for measuring a calibration on pairs
 * it was not fitted on (the other split). Errors as lk_calibration_compute. */
int lk_calibration_pairs(struct lk_engine *e, const lk_calibrate_opts *o, float **score, uint8_t **cls, size_t *n,
                         lk_errbuf *err);
/* The whole job of `lookalike calibrate`: opens the catalog at db (models: NULL = the default
 * search; backend: enum lk_backend), computes its calibration with o (NULL = defaults) and
 * stores it. *out (may be NULL) gets it, *seconds (may be NULL) the time taken. 0 or an LK_E*
 * code with the message in err. `index` and `tune` call it when they change scores. */
int lk_calibration_update(const char *db, const char *models, int backend, const lk_calibrate_opts *o,
                          lk_calibration *out, double *seconds, lk_errbuf *err);
/* Whether a run that embedded `embedded` photos into the catalog cat may keep its stored
 * calibration instead of fitting it again (a fit loads the whole catalog: seconds at 30k items,
 * minutes at millions): 1 when one exists for the catalog's recipe, fitted at a known count of
 * searchable items that the catalog's count is still within LK_CAL_KEEP_DRIFT of, and the run embedded less
 * than LK_CAL_KEEP_RUN of it; then *kept (may be NULL) gets it. Else 0 (refit; also on any
 * read error, which the fit will report). */
#define LK_CAL_KEEP_RUN 0.02
#define LK_CAL_KEEP_DRIFT 0.10
int lk_calibration_still_fits(lk_catalog *cat, size_t embedded, lk_calibration *kept);
/* Writes c into the catalog's meta (one transaction). */
int lk_calibration_store(lk_catalog *cat, const lk_calibration *c, lk_errbuf *err);
/* Reads the catalog's calibration: 0 and *c filled when there is one for recipe_id;
 * LK_ENOTFOUND when there is none or it belongs to another recipe (*why says which, may be
 * NULL); LK_ECORRUPT when the stored text is bad. */
int lk_calibration_load(lk_catalog *cat, const char *recipe_id, lk_calibration *c, const char **why, lk_errbuf *err);

/* {"label", "p_same_kind", "p_same_product"} for a hit of score `score`, or NULL when the
 * engine is uncalibrated (or on ENOMEM). */
json_t *lk_calibrate_match_json(const struct lk_engine *e, float score);
/* Completes a search answer {"hits":[{..."match":{"label"}}...]}: "calibrated" (bool), and
 * for a calibrated engine "weak" (the best hit is below "same kind", or there is none) and,
 * when weak, "advice": what a person can do (photo = 1: draw a box around the garment; any
 * filter of f named to be removed). LK_ENOMEM. */
int lk_calibrate_answer(const struct lk_engine *e, json_t *answer, const lk_filter *f, int photo);

#endif
