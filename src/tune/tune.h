/* tune/tune.h — `lookalike tune` around the optimiser (tune/train.h): the fixed train/test
 * split by product id, loading a catalog's raw vectors and labels into memory, and writing a
 * tuned catalog (same items, projected vectors, the tuned recipe) next to the source one, so
 * the source keeps the raw vectors and tuning can be rerun without embedding anything. */
#ifndef LK_TUNE_TUNE_H
#define LK_TUNE_TUNE_H

#include <stdint.h>
#include <stdio.h>

#include "embed/recipe.h"
#include "util/err.h"

#define LK_TUNE_MAX_LABELS 4
#define LK_TUNE_MAX_CLASSES 4096 /* distinct values per label field */

/* The split: a product is held out (test) when hash(id) mod `mod` == 0, with a fixed 64-bit
 * mix of the id, so the split never depends on the catalog's content or order. mod <= 0 means
 * no split: nothing is held out. */
uint64_t lk_tune_hash(int64_t id);
int lk_tune_is_holdout(int64_t id, int mod);

/* Copies the header and the rows of the styles table at csv_path whose id (first column) is in
 * the test split (want_test = 1) or the training split (0) to out, byte for byte. Rows are
 * split by an RFC 4180 record scanner (quoted newlines kept); limits: 1 MiB per row. */
int lk_tune_split_csv(const char *csv_path, int mod, int want_test, FILE *out, long *rows_out,
                      lk_errbuf *err);

/* A catalog's vectors and labels in memory. Rows are the items with a vector, in id order. */
typedef struct lk_tune_set {
  long n;
  int dim;
  int64_t *id;          /* n */
  float *x;             /* n * dim */
  int nlabels;
  int field[LK_TUNE_MAX_LABELS];  /* lk_catalog_fields indices */
  int32_t *y;           /* n * nlabels class indices, -1 = no value */
  int nclass[LK_TUNE_MAX_LABELS];
  char **cname[LK_TUNE_MAX_LABELS]; /* class names (case as first seen) */
  int32_t *dup;         /* n: byte-identical photos share a group number; -1 = unique */
  uint8_t *test;        /* n: 1 = held out */
  char **path;          /* n: the item's photo path as indexed (NULL = unknown) */
  lk_recipe recipe;     /* the catalog's recipe (owned) */
} lk_tune_set;

/* Loads db_path (read-only). fields: label field names (lk_catalog_fields, case-insensitive).
 * Refuses a catalog whose recipe already has a projection (its raw vectors are elsewhere). */
int lk_tune_load(const char *db_path, const char *const *fields, int nfields, int holdout_mod,
                 lk_tune_set **out, lk_errbuf *err);
void lk_tune_set_free(lk_tune_set *s); /* NULL-safe */

/* Street-like views (tune/augment.h) of the photos of the rows with use[i] (NULL = all),
 * embedded with the set's recipe: `views` per photo, on `threads` workers (each with its own
 * embedder), deterministic for a seed. *x gets nviews rows of s->dim floats (caller frees), *src
 * the set row each view comes from (caller frees). A photo that cannot be read is skipped (and
 * counted in *skipped). progress(ctx, done, total) may be NULL; non-zero stops with LK_EINTR. */
int lk_tune_embed_views(const lk_tune_set *s, const uint8_t *use, int views, int threads,
                        const char *models_dir, uint64_t seed,
                        int (*progress)(void *ctx, long done, long total), void *ctx,
                        float **x, long **src, long *nviews, long *skipped, lk_errbuf *err);

/* Writes a new catalog at dst_path (which must not exist): every item of src_path, the vectors
 * of src_path passed through tuned->proj, and the tuned recipe (with meta tuned_from = the
 * source path and source_recipe_id). Built in dst_path.tmp, then renamed. tuned's recipe minus
 * its projection, name and prescale must be the source catalog's recipe (a prescale leaves the
 * stored vectors valid when every catalog photo is already that small: the caller's call). */
int lk_tune_write(const char *src_path, const char *dst_path, const lk_recipe *tuned, lk_errbuf *err);

#endif
