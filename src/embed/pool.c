/* embed/pool.c — embedders lent to searches (see pool.h): a stack of free embedders under a
 * mutex; when all are busy, searches wait their turn in arrival order (tickets), so that no
 * search starves behind later ones. The embedders load on first use, under the same mutex. */
#include "embed/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "embed/embed.h"
#include "util/clock.h"

struct lk_embed_pool {
  pthread_mutex_t lock;
  pthread_cond_t freed;
  int refs;                              /* atomic */
  int n, nfree, loaded, dim, side;
  unsigned long long next_ticket, head; /* tickets handed out; the next one to serve */
  int closed;                            /* lk_embed_pool_close_queue: no new run starts */
  lk_recipe recipe;                      /* what the embedders load (not for a function pool) */
  char models_dir[4096];                 /* "" = lk_embed_find_models' search */
  int backend;
  lk_embed_pool_fn fn;                   /* a function pool's one embedder, else NULL */
  void *ctx;
  lk_embedder *all[LK_EMBED_POOL_MAX];
  int free_[LK_EMBED_POOL_MAX];          /* stack of idle embedders (slots of all) */
};

static int pool_alloc(int n, lk_embed_pool **out, lk_errbuf *err) {
  if (n < 1 || n > LK_EMBED_POOL_MAX)
    return lk_err_set(err, LK_EINVAL, "embedders must be 1..%d, got %d", LK_EMBED_POOL_MAX, n);
  lk_embed_pool *p = calloc(1, sizeof *p);
  if (!p) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->freed, NULL);
  p->refs = 1;
  p->n = n;
  *out = p;
  return 0;
}

int lk_embed_pool_new(const lk_recipe *r, const char *models_dir, int backend, int n, lk_embed_pool **out,
                      lk_errbuf *err) {
  *out = NULL;
  lk_embed_pool *p = NULL;
  int rc = pool_alloc(n, &p, err);
  if (rc) return rc;
  if (lk_recipe_copy(&p->recipe, r)) {
    lk_embed_pool_free(p);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  if (models_dir) snprintf(p->models_dir, sizeof p->models_dir, "%s", models_dir);
  p->backend = backend;
  *out = p;
  return 0;
}

int lk_embed_pool_new_fn(lk_embed_pool_fn fn, void *ctx, int dim, int side, lk_embed_pool **out, lk_errbuf *err) {
  *out = NULL;
  if (!fn || dim <= 0) return lk_err_set(err, LK_EINVAL, "an embedding function and its dimension are needed");
  lk_embed_pool *p = NULL;
  int rc = pool_alloc(1, &p, err);
  if (rc) return rc;
  p->fn = fn;
  p->ctx = ctx;
  p->dim = dim;
  p->side = side;
  p->loaded = 1;
  p->nfree = 1; /* slot 0: the function */
  *out = p;
  return 0;
}

lk_embed_pool *lk_embed_pool_ref(lk_embed_pool *p) {
  if (p) __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
  return p;
}

void lk_embed_pool_free(lk_embed_pool *p) {
  if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  for (int i = 0; i < p->n; i++) lk_embedder_free(p->all[i]);
  if (!p->fn) lk_recipe_clear(&p->recipe);
  pthread_cond_destroy(&p->freed);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

/* Under p->lock: loads every embedder, or none. */
static int load_locked(lk_embed_pool *p, lk_errbuf *err) {
  if (p->loaded) return 0;
  char dir[4096];
  int rc = lk_embed_find_models(p->models_dir[0] ? p->models_dir : NULL, dir, sizeof dir, err);
  if (rc) return rc;
  lk_embedder_opts eo;
  lk_embedder_opts_default(&eo);
  eo.backend = p->backend;
  eo.max_batch = 1;
  eo.threads = p->n > 1 ? 1 : 0;
  for (int i = 0; i < p->n && !rc; i++) rc = lk_embedder_new(&p->recipe, dir, &eo, &p->all[i], err);
  if (rc) {
    for (int i = 0; i < p->n; i++) {
      lk_embedder_free(p->all[i]);
      p->all[i] = NULL;
    }
    return rc;
  }
  for (int i = 0; i < p->n; i++) p->free_[p->nfree++] = i;
  p->dim = lk_embedder_dim(p->all[0]);
  p->side = lk_embedder_input_side(p->all[0]);
  p->loaded = 1;
  return 0;
}

int lk_embed_pool_load(lk_embed_pool *p, lk_errbuf *err) {
  pthread_mutex_lock(&p->lock);
  int rc = load_locked(p, err);
  pthread_mutex_unlock(&p->lock);
  return rc;
}

void lk_embed_pool_close_queue(lk_embed_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->closed = 1;
  pthread_cond_broadcast(&p->freed);
  pthread_mutex_unlock(&p->lock);
}

int lk_embed_pool_size(const lk_embed_pool *p) { return p->n; }

int lk_embed_pool_dim(lk_embed_pool *p) {
  pthread_mutex_lock(&p->lock);
  int d = p->dim;
  pthread_mutex_unlock(&p->lock);
  return d;
}

int lk_embed_pool_input_side(lk_embed_pool *p) {
  pthread_mutex_lock(&p->lock);
  int s = p->side;
  pthread_mutex_unlock(&p->lock);
  return s;
}

int lk_embed_pool_run(lk_embed_pool *p, const lk_image *img, float *vec, double *wait_s, lk_errbuf *err) {
  pthread_mutex_lock(&p->lock);
  int rc = load_locked(p, err); /* (the first run's load is no wait for an embedder) */
  if (rc) {
    pthread_mutex_unlock(&p->lock);
    return rc;
  }
  double t0 = lk_clock_now();
  unsigned long long ticket = p->next_ticket++;
  while (!p->closed && (ticket != p->head || p->nfree == 0)) pthread_cond_wait(&p->freed, &p->lock);
  if (p->closed) { /* the queue is given up: no later ticket is ever served in order again */
    pthread_mutex_unlock(&p->lock);
    return lk_err_set(err, LK_EINTR, "the server is stopping; send the search again");
  }
  p->head++;
  int slot = p->free_[--p->nfree];
  pthread_cond_broadcast(&p->freed); /* the next in line may take another free one */
  pthread_mutex_unlock(&p->lock);
  if (wait_s) *wait_s = lk_clock_now() - t0;
  rc = p->fn ? p->fn(p->ctx, img, vec, err) : lk_embedder_run(p->all[slot], img, 1, vec, err);
  pthread_mutex_lock(&p->lock);
  p->free_[p->nfree++] = slot;
  pthread_cond_broadcast(&p->freed);
  pthread_mutex_unlock(&p->lock);
  return rc;
}
