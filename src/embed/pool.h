/* embed/pool.h — a fixed set of embedders (embed/embed.h: one per thread) lent to searches
 * one photo at a time, so that photo searches embed in parallel on a multi-core machine
 * instead of queueing on one embedder. An engine (search/engine.h) owns one, shared by
 * reference with the engines derived or rebuilt from it; the models load lazily, on the first
 * photo, unless lk_embed_pool_load is called first. */
#ifndef LK_EMBED_POOL_H
#define LK_EMBED_POOL_H

#include "embed/recipe.h"
#include "image/image.h"
#include "util/err.h"

#define LK_EMBED_POOL_MAX 64

typedef struct lk_embed_pool lk_embed_pool;

/* A pool of n (1..LK_EMBED_POOL_MAX) embedders of recipe r (copied) from models_dir (copied;
 * NULL: lk_embed_find_models' search), loaded by the first lk_embed_pool_load or _run (a
 * failed load is tried again by the next call). backend is enum lk_backend. With n > 1 each
 * embedder runs single-threaded so that n searches share the cores instead of fighting over
 * them. *out: lk_embed_pool_free. */
int lk_embed_pool_new(const lk_recipe *r, const char *models_dir, int backend, int n, lk_embed_pool **out,
                      lk_errbuf *err);
/* A pool of one embedder that is a function: fn(ctx, img, vec, err) fills dim floats (a
 * caller's own model, or a test's stand-in); side is what lk_embed_pool_input_side reports.
 * Runs are serialised as with one embedder. *out: lk_embed_pool_free. */
typedef int (*lk_embed_pool_fn)(void *ctx, const lk_image *img, float *vec, lk_errbuf *err);
int lk_embed_pool_new_fn(lk_embed_pool_fn fn, void *ctx, int dim, int side, lk_embed_pool **out, lk_errbuf *err);
/* Another reference to p (each is dropped by lk_embed_pool_free); returns p. Thread-safe. */
lk_embed_pool *lk_embed_pool_ref(lk_embed_pool *p);
/* Drops a reference; the last one frees the embedders (no run may be in progress then).
 * NULL-safe. */
void lk_embed_pool_free(lk_embed_pool *p);
/* Loads the embedders now if they are not yet. Thread-safe. */
int lk_embed_pool_load(lk_embed_pool *p, lk_errbuf *err);
int lk_embed_pool_size(const lk_embed_pool *p);
/* The vectors' floats and the side decoders should keep (lk_embedder_input_side); 0 until
 * loaded. */
int lk_embed_pool_dim(lk_embed_pool *p);
int lk_embed_pool_input_side(lk_embed_pool *p);
/* Loads if needed, waits for a free embedder (in arrival order), embeds img into vec
 * (lk_embed_pool_dim floats), gives it back. Thread-safe. *wait_s (may be NULL) gets the
 * seconds spent waiting for an embedder. */
int lk_embed_pool_run(lk_embed_pool *p, const lk_image *img, float *vec, double *wait_s, lk_errbuf *err);
/* From now on runs that have not started embedding (waiting, or to come) return LK_EINTR at
 * once; those embedding finish. For a server's stop. NULL-safe. */
void lk_embed_pool_close_queue(lk_embed_pool *p);

#endif
