/* eval/eval.h — retrieval quality of a catalog, as `lookalike eval` reports it.
 * Leave-one-out: each sampled item queries the rest (itself and byte-identical duplicates
 * excluded); relevance = same value of a label field. Same-product: photos of catalog products
 * taken elsewhere (e.g. photos-225x300/ID.jpg) must find their own catalog item. */
#ifndef LK_EVAL_EVAL_H
#define LK_EVAL_EVAL_H

#include <stdint.h>

#include "search/engine.h"

#define LK_EVAL_MAX_FIELDS 4
#define LK_EVAL_MAX_GROUPS 512

typedef struct lk_eval_metrics {
  double p1, p10, map10, r10; /* means over queries with >= 1 relevant item */
  long queries;
} lk_eval_metrics;

typedef struct lk_eval_group {   /* per-value breakdown of the first field */
  char value[64];
  long queries;
  double p10;
} lk_eval_group;

typedef struct lk_eval_result {
  int nfields;
  int field[LK_EVAL_MAX_FIELDS];           /* lk_catalog_fields indices */
  lk_eval_metrics m[LK_EVAL_MAX_FIELDS];
  int ngroups;
  lk_eval_group groups[LK_EVAL_MAX_GROUPS]; /* sorted worst P@10 first */
  long sample;                              /* queries drawn */
  double seconds;
} lk_eval_result;

/* Leave-one-out over `sample` items drawn with `seed` (0 = every item with a vector). */
int lk_eval_loo(const lk_engine *e, const int *fields, int nfields, long sample, uint64_t seed,
                lk_eval_result *out, lk_errbuf *err);

/* Which part of the catalog an evaluation uses: with holdout_mod M > 0, queries AND gallery are
 * only the products of one split of tune/tune.h (test: hash(id) mod M == 0; train: the rest),
 * so a tuned catalog is measured on products its projection never saw. */
enum { LK_EVAL_SPLIT_TEST = 0, LK_EVAL_SPLIT_TRAIN = 1 };
typedef struct lk_eval_scope {
  int holdout_mod; /* 0 = the whole catalog */
  int split;       /* LK_EVAL_SPLIT_* */
  int multi_crop;  /* same-product queries: lk_engine_search_crops instead of the whole photo */
} lk_eval_scope;

/* lk_eval_loo restricted to a scope (NULL = the whole catalog). */
int lk_eval_loo_scoped(const lk_engine *e, const lk_eval_scope *scope, const int *fields, int nfields,
                       long sample, uint64_t seed, lk_eval_result *out, lk_errbuf *err);

typedef struct lk_eval_same {
  long queries, missing, failed; /* photos used; ids not in the catalog; undecodable */
  long at1, at10;                /* own item ranked 1st / in the top 10 */
  double seconds;
  long outside;                  /* ids in the catalog but outside the scope (not queried) */
  /* Label precision of the same searches: share of the top 10 hits with the photo's product's
   * value of each field (the product itself counts when found), over photos with a value. */
  int nfields;
  int field[LK_EVAL_MAX_FIELDS];
  double p10[LK_EVAL_MAX_FIELDS];
  long labelled[LK_EVAL_MAX_FIELDS];
} lk_eval_same;

/* For every ID.jpg in dir whose ID has a vector: embed, search top 10, find ID. limit 0 = all. */
int lk_eval_same_product(lk_engine *e, const char *dir, long limit, lk_eval_same *out, lk_errbuf *err);
/* The same within a scope (NULL = the whole catalog): only ids of the split are queried, and
 * only items of the split are searched; fields (nfields 0..LK_EVAL_MAX_FIELDS) get the label
 * precision above. */
int lk_eval_same_product_scoped(lk_engine *e, const lk_eval_scope *scope, const char *dir, long limit,
                                const int *fields, int nfields, lk_eval_same *out, lk_errbuf *err);

/* Street photos: real photos of garments (phone shots on beds, floors, hangers, worn) with
 * labels, as in ../shared/data/street-photos: DIR/labels.csv has the columns image, label,
 * articleTypes (';'-separated catalog articleTypes that count as the right kind of product)
 * and DIR/images/IMAGE.jpg the photos. Each photo is searched in the whole catalog (top 10,
 * the same engine call as an upload) and P@10 = share of hits whose articleType is listed.
 * Reported per label (LK_EVAL_MAX_LABELS at most), micro (over photos) and macro (over labels). */
#define LK_EVAL_MAX_LABELS 64
typedef struct lk_eval_street_label {
  char name[64];
  long photos;
  long gallery;        /* catalog items of the label's articleTypes */
  double p10;
  char top_wrong[64];  /* the commonest wrong articleType in its hits ("" = none) */
} lk_eval_street_label;

typedef struct lk_eval_street {
  long photos, failed;  /* searched; undecodable or missing */
  double micro_p10, macro_p10;
  int nlabels;
  lk_eval_street_label label[LK_EVAL_MAX_LABELS]; /* sorted by photos, most first */
  double seconds;
} lk_eval_street;

/* limit 0 = every photo. */
int lk_eval_street_photos(lk_engine *e, const char *dir, long limit, lk_eval_street *out, lk_errbuf *err);

/* Metric helpers (exposed for tests): rel[i] != 0 when hit i is relevant, n hits, R relevant
 * in the whole gallery. */
double lk_eval_precision_at(const int *rel, int n, int k);
double lk_eval_ap_at(const int *rel, int n, int k, long R);

#endif
