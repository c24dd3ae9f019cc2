/* embed/embed.h — turns decoded photos into catalog vectors following a recipe: preprocess
 * (squash or pad to the model's input size), run each model part, L2-normalise and weight the
 * parts, add the colour histogram, and L2-normalise the whole. One embedder per thread. */
#ifndef LK_EMBED_EMBED_H
#define LK_EMBED_EMBED_H

#include "embed/recipe.h"
#include "image/image.h"
#include "util/err.h"

typedef struct lk_embedder lk_embedder;

typedef struct lk_embedder_opts {
  int backend;              /* enum lk_backend (nn/model.h); default LK_BACKEND_DNNL */
  int max_batch;            /* images per lk_embedder_run; default 8 */
  int threads;              /* 0 = backend default */
  int quantize_activations; /* default 1 (matches the official runtime) */
  int verify_models;        /* default 1: check model files against the recipe's SHA-256 */
} lk_embedder_opts;
void lk_embedder_opts_default(lk_embedder_opts *o);

/* Finds the models folder: explicit (if not NULL), else $LOOKALIKE_MODELS, ./models,
 * ../shared/models, <dir of the running binary>/../models. The first that holds
 * mobilenet_v2_1.0_224_quant.tflite wins. LK_ENOTFOUND with advice otherwise. */
int lk_embed_find_models(const char *explicit_dir, char *out, size_t cap, lk_errbuf *err);

/* Loads the recipe's models from models_dir and plans sessions. *out: lk_embedder_free. */
int lk_embedder_new(const lk_recipe *r, const char *models_dir, const lk_embedder_opts *o,
                    lk_embedder **out, lk_errbuf *err);
void lk_embedder_free(lk_embedder *e); /* NULL-safe */
/* Width of the vectors lk_embedder_run makes (the projection's output when the recipe has one). */
int lk_embedder_dim(const lk_embedder *e);
/* Width before the recipe's projection: the normalised concatenation of the parts. */
int lk_embedder_raw_dim(const lk_embedder *e);
/* Smallest side decoders should keep (DCT scaling hint): the models' input size. */
int lk_embedder_input_side(const lk_embedder *e);
int lk_embedder_max_batch(const lk_embedder *e);
/* Embeds n <= max_batch images into out (n rows of lk_embedder_dim floats, unit norm). */
int lk_embedder_run(lk_embedder *e, const lk_image *imgs, int n, float *out, lk_errbuf *err);

/* L2-normalises v in place (a zero vector stays zero). */
void lk_embed_normalize(float *v, int n);

#endif
