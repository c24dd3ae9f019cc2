/* server/embedpool.c — embedders lent to request threads (see embedpool.h): a stack of free
 * embedders under a mutex; when all are busy, requests wait their turn in arrival order
 * (tickets), so that no search starves behind later ones. */
#include "server/embedpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "embed/embed.h"
#include "util/clock.h"

#define MAX_EMBEDDERS 64

struct lk_embedpool {
  pthread_mutex_t lock;
  pthread_cond_t freed;
  int n, nfree, dim;
  unsigned long long next_ticket, head; /* tickets handed out; the next one to serve */
  int closed;                            /* lk_embedpool_close_queue: no new run starts */
  lk_embedder *all[MAX_EMBEDDERS];
  lk_embedder *free_[MAX_EMBEDDERS]; /* stack of idle embedders */
};

int lk_embedpool_new(const lk_recipe *r, const char *models_dir, int backend, int n, lk_embedpool **out,
                     lk_errbuf *err) {
  if (n < 1 || n > MAX_EMBEDDERS) return lk_err_set(err, LK_EINVAL, "embedders must be 1..%d, got %d", MAX_EMBEDDERS, n);
  char dir[4096];
  int rc = lk_embed_find_models(models_dir, dir, sizeof dir, err);
  if (rc) return rc;
  lk_embedpool *p = calloc(1, sizeof *p);
  if (!p) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->freed, NULL);
  lk_embedder_opts eo;
  lk_embedder_opts_default(&eo);
  eo.backend = backend;
  eo.max_batch = 1;
  eo.threads = n > 1 ? 1 : 0;
  for (int i = 0; i < n; i++) {
    if ((rc = lk_embedder_new(r, dir, &eo, &p->all[i], err))) {
      lk_embedpool_free(p);
      return rc;
    }
    p->free_[p->nfree++] = p->all[i];
    p->n++;
  }
  p->dim = lk_embedder_dim(p->all[0]);
  *out = p;
  return 0;
}

void lk_embedpool_free(lk_embedpool *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++) lk_embedder_free(p->all[i]);
  pthread_cond_destroy(&p->freed);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

void lk_embedpool_close_queue(lk_embedpool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->closed = 1;
  pthread_cond_broadcast(&p->freed);
  pthread_mutex_unlock(&p->lock);
}

int lk_embedpool_size(const lk_embedpool *p) { return p->n; }
int lk_embedpool_dim(const lk_embedpool *p) { return p->dim; }

int lk_embedpool_run(lk_embedpool *p, const lk_image *img, float *vec, double *wait_s, lk_errbuf *err) {
  double t0 = lk_clock_now();
  pthread_mutex_lock(&p->lock);
  unsigned long long ticket = p->next_ticket++;
  while (!p->closed && (ticket != p->head || p->nfree == 0)) pthread_cond_wait(&p->freed, &p->lock);
  if (p->closed) { /* the queue is given up: no later ticket is ever served in order again */
    pthread_mutex_unlock(&p->lock);
    return lk_err_set(err, LK_EINTR, "the server is stopping; send the search again");
  }
  p->head++;
  lk_embedder *e = p->free_[--p->nfree];
  pthread_cond_broadcast(&p->freed); /* the next in line may take another free one */
  pthread_mutex_unlock(&p->lock);
  if (wait_s) *wait_s = lk_clock_now() - t0;
  int rc = lk_embedder_run(e, img, 1, vec, err);
  pthread_mutex_lock(&p->lock);
  p->free_[p->nfree++] = e;
  pthread_cond_broadcast(&p->freed);
  pthread_mutex_unlock(&p->lock);
  return rc;
}
