/* search/prior.h — the label prior of a tuned catalog: for each classifier head h the tuned
 * projection keeps (embed/projection.h), the query's class probabilities p_h and the item's label
 * (its catalog metadata) give a bonus b_h = w_h * p_h(item's label), and an item ranks by
 * 1 - (1 - cos) * prod_h (1 - b_h): its cosine distance shrunk when it is of the kind, colour,
 * gender the photo most likely shows (lk_prior_score). Candidates come from dot products of
 * widened vectors: a catalog row [v, sqrt(w_h) * onehot_h(label)], a query [q, sqrt(w_h) *
 * p_h(q)], whose dot is cos + sum_h b_h. The query side uses the photo only (never the item's
 * own labels), so leave-one-out evaluation stays honest. */
#ifndef LK_SEARCH_PRIOR_H
#define LK_SEARCH_PRIOR_H

#include "embed/projection.h"
#include "util/err.h"

typedef struct lk_prior lk_prior;

/* From the heads of p with a weight > 0: weight < 0 = each head's stored prior (as tuned), else
 * this weight for every head (0 = off). *out = NULL (and 0 returned) when no head qualifies.
 * *out owned by caller: lk_prior_free. p must outlive the prior. */
int lk_prior_new(const lk_projection *p, float weight, lk_prior **out, lk_errbuf *err);
void lk_prior_free(lk_prior *pr); /* NULL-safe */

int lk_prior_nheads(const lk_prior *pr);
/* Field name of head h (a styles.csv column, e.g. "articleType"). */
const char *lk_prior_field(const lk_prior *pr, int h);
/* Floats added to each vector (the heads' class counts). */
int lk_prior_extra(const lk_prior *pr);
/* Class index of a label value for head h (case-insensitive), or -1. */
int lk_prior_class(const lk_prior *pr, int h, const char *value);

/* out (dim + extra floats) = [vec, sqrt(w_h) * onehot(cls[h])]; cls[h] -1 = no label (zeros). */
void lk_prior_gallery(const lk_prior *pr, const float *vec, int dim, const int *cls, float *out);
/* out (dim + extra floats) = [vec, sqrt(w_h) * p_h(vec)]; vec is a projected vector. */
void lk_prior_query(const lk_prior *pr, const float *vec, int dim, float *out);

/* The ranking score of a catalog row for a query row (both widened as above):
 *   1 - (1 - cos) * prod_h (1 - min(b_h, LK_PRIOR_MAX_SHRINK)),  b_h = w_h * p_h(item's label)
 * i.e. the cosine distance shrunk by each head's bonus: relative, so a near-identical photo
 * (distance ~0) stays first whatever the labels, while among ordinary neighbours the predicted
 * kind and colour come first. The dot product of the rows (cos + sum_h b_h) ranks the
 * candidates; this re-scores them (search/engine.c). */
#define LK_PRIOR_MAX_SHRINK 0.9f
float lk_prior_score(const lk_prior *pr, const float *qrow, const float *grow, int dim);

#endif
