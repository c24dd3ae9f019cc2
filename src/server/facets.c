/* server/facets.c — the whole-catalog facets of live snapshots, cached (see facets.h). */
#include "server/facets.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "util/clock.h"

/* A body computed less than this long ago serves a newer snapshot too (under a stream of
 * writes, counts lag by at most this much instead of each write costing a walk). */
#define FACETS_REUSE_S 1.0

struct lk_facets {
  pthread_mutex_t lock; /* guards the snapshots' slots and the three below */
  char *last;           /* the last body computed, reused for FACETS_REUSE_S */
  double last_at;
};

int lk_facets_new(lk_facets **out) {
  lk_facets *fc = calloc(1, sizeof *fc);
  if (!fc) return LK_ENOMEM;
  pthread_mutex_init(&fc->lock, NULL);
  *out = fc;
  return 0;
}

void lk_facets_free(lk_facets *fc) {
  if (!fc) return;
  pthread_mutex_destroy(&fc->lock);
  free(fc->last);
  free(fc);
}

const char *lk_facets_get(lk_facets *fc, const lk_live_snap *s, size_t *len) {
  static const char oom[] = "{\"error\":\"out of memory\"}";
  void **slot = lk_live_user(s);
  pthread_mutex_lock(&fc->lock);
  char *body = *slot;
  if (!body) {
    double t = lk_clock_now();
    if (fc->last && t - fc->last_at < FACETS_REUSE_S) {
      body = strdup(fc->last);
    } else {
      json_t *fj = NULL;
      if (!lk_api_facets(lk_live_engine(s), &fj) && (body = json_dumps(fj, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        char *copy = strdup(body);
        if (copy) {
          free(fc->last);
          fc->last = copy;
          fc->last_at = t;
        }
      }
      json_decref(fj);
    }
    *slot = body;
  }
  pthread_mutex_unlock(&fc->lock);
  if (!body) {
    *len = sizeof oom - 1;
    return oom;
  }
  *len = strlen(body);
  return body;
}
