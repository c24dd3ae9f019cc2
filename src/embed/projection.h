/* embed/projection.h — a learned linear map or small MLP applied to embeddings after the
 * recipe's parts are concatenated (made by `lookalike tune`, carried by a tuned recipe, see
 * embed/recipe.h for its JSON form, applied by the embedder and by tune/tune.c alike).
 * Matrix products use oneDNN's sgemm. */
#ifndef LK_EMBED_PROJECTION_H
#define LK_EMBED_PROJECTION_H

#include "util/err.h"

#define LK_PROJ_MAX_LAYERS 3
#define LK_PROJ_MAX_DIM 8192 /* limit on every width of a projection read from JSON */
#define LK_PROJ_MAX_HEADS 4
#define LK_PROJ_MAX_CLASSES 4096 /* classes per head */
#define LK_PROJ_MAX_NAME 128     /* bytes of a class or field name, NUL included */

/* A learned map applied after the parts are concatenated and L2-normalised (lookalike tune):
 * y = layer_n(...layer_1(x)), layer(x) = x W + b (W row-major in x out), then ReLU when relu;
 * y is L2-normalised. With tail > 0, the last `tail` values of x (the colour histogram),
 * L2-normalised and scaled by tail_weight, are appended to y and the whole is L2-normalised
 * again, so instance-level colour survives the projection. Stored in the recipe JSON as
 *   "projection":{"layers":[{"in":D,"out":K,"relu":false,"w":BASE64,"b":BASE64},...]
 *                 [,"tail":T,"tail_weight":W]}
 * with w and b float32 little-endian, base64 (RFC 4648). */
typedef struct lk_projection_layer {
  int in, out, relu;
  float *w; /* in * out */
  float *b; /* out */
} lk_projection_layer;

/* A classifier head kept from training (lookalike tune): the class vectors of one label field
 * in the output space of the last layer (K = its width). p(c | y) = softmax_c(scale * cos(y[0..K),
 * w_c)). With prior > 0 a search shrinks each item's cosine distance by 1 - prior * p(label of
 * the item | query) (search/prior.h): results of the kind and colour the photo most likely
 * shows come first.
 * JSON: "heads":[{"field":F,"scale":S,"prior":P,"classes":[names],"w":BASE64}] (w: K x nclass,
 * row-major, unit columns). */
typedef struct lk_projection_head {
  char field[LK_PROJ_MAX_NAME];
  int nclass;
  char **classes; /* nclass NUL-terminated names, owned */
  float *w;       /* K * nclass, owned */
  float scale;
  float prior;
} lk_projection_head;

typedef struct lk_projection {
  int nlayers;
  lk_projection_layer layer[LK_PROJ_MAX_LAYERS];
  int tail;           /* 0 = none; else <= the input width */
  float tail_weight;
  int nheads;         /* 0 = none (older recipes) */
  lk_projection_head head[LK_PROJ_MAX_HEADS];
} lk_projection;

/* Zeroed weights for layers of widths dims[0] -> dims[1] -> ... -> dims[nlayers] (ReLU after
 * every layer but the last), no tail. *out: lk_projection_free. */
int lk_projection_new(int nlayers, const int *dims, lk_projection **out, lk_errbuf *err);
void lk_projection_free(lk_projection *p); /* NULL-safe */
int lk_projection_in(const lk_projection *p);
int lk_projection_out(const lk_projection *p); /* the last layer's width + tail */
/* Applies p to n rows of x (lk_projection_in floats each) into y (n rows of
 * lk_projection_out floats), each output row L2-normalised. Uses oneDNN's sgemm. */
int lk_projection_apply(const lk_projection *p, const float *x, long n, float *y, lk_errbuf *err);

/* Adds head h (index p->nheads, which grows by one): field name, nclass class names (copied)
 * and K x nclass weights (copied as they are: the caller gives unit columns). LK_EINVAL on bad sizes or
 * names, LK_ENOMEM. */
int lk_projection_add_head(lk_projection *p, const char *field, int nclass, const char *const *classes,
                           const float *w, float scale, float prior, lk_errbuf *err);
/* Class probabilities of head h for a projected vector y (lk_projection_out floats): prob gets
 * nclass values summing to 1. */
void lk_projection_posterior(const lk_projection *p, int h, const float *y, float *prob);
/* Deep copy (NULL on out of memory). */
lk_projection *lk_projection_dup(const lk_projection *src);

#endif
