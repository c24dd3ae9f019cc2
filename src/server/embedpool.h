/* server/embedpool.h — a fixed set of embedders (embed/embed.h: one per thread) lent to
 * request threads one search at a time, so that photo searches embed in parallel on a
 * multi-core machine instead of queueing on the engine's single embedder. */
#ifndef LK_SERVER_EMBEDPOOL_H
#define LK_SERVER_EMBEDPOOL_H

#include "embed/recipe.h"
#include "image/image.h"
#include "util/err.h"

typedef struct lk_embedpool lk_embedpool;

/* Loads n (1..64) embedders of recipe r from models_dir (NULL: lk_embed_find_models'
 * search). backend is enum lk_backend. With n > 1 each embedder runs single-threaded so
 * that n searches share the cores instead of fighting over them. *out: lk_embedpool_free. */
int lk_embedpool_new(const lk_recipe *r, const char *models_dir, int backend, int n, lk_embedpool **out,
                     lk_errbuf *err);
void lk_embedpool_free(lk_embedpool *p); /* NULL-safe; no run may be in progress */
int lk_embedpool_size(const lk_embedpool *p);
int lk_embedpool_dim(const lk_embedpool *p);
/* Waits for a free embedder, embeds img into vec (lk_embedpool_dim floats), gives it back.
 * Thread-safe. *wait_s (may be NULL) gets the seconds spent waiting for an embedder. */
int lk_embedpool_run(lk_embedpool *p, const lk_image *img, float *vec, double *wait_s, lk_errbuf *err);
/* From now on runs that have not started embedding (waiting, or to come) return LK_EINTR at
 * once; those embedding finish. For a server's stop. NULL-safe. */
void lk_embedpool_close_queue(lk_embedpool *p);

#endif
