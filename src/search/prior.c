/* search/prior.c — the label prior (see prior.h): class lookup by name and the widened
 * catalog and query vectors. */
#include "search/prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct prior_head {
  int src;       /* head index in the projection */
  float sw;      /* sqrt of the weight */
  int *order;    /* class indices sorted by name (case-insensitive) */
} prior_head;

struct lk_prior {
  const lk_projection *p;
  int nh, extra;
  prior_head h[LK_PROJ_MAX_HEADS];
};

static int by_name(const void *a, const void *b, void *ctx) {
  const lk_projection_head *hd = ctx;
  return strcasecmp(hd->classes[*(const int *)a], hd->classes[*(const int *)b]);
}

int lk_prior_new(const lk_projection *p, float weight, lk_prior **out, lk_errbuf *err) {
  *out = NULL;
  if (!p || weight == 0) return 0;
  lk_prior *pr = calloc(1, sizeof *pr);
  if (!pr) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pr->p = p;
  for (int i = 0; i < p->nheads; i++) {
    const lk_projection_head *hd = &p->head[i];
    float w = weight < 0 ? hd->prior : weight;
    if (!(w > 0)) continue;
    prior_head *h = &pr->h[pr->nh];
    h->src = i;
    h->sw = sqrtf(w);
    h->order = malloc(sizeof *h->order * (size_t)hd->nclass);
    if (!h->order) {
      lk_prior_free(pr);
      return lk_err_set(err, LK_ENOMEM, "out of memory");
    }
    for (int c = 0; c < hd->nclass; c++) h->order[c] = c;
    qsort_r(h->order, (size_t)hd->nclass, sizeof *h->order, by_name, (void *)hd);
    pr->extra += hd->nclass;
    pr->nh++;
  }
  if (!pr->nh) {
    lk_prior_free(pr);
    return 0;
  }
  *out = pr;
  return 0;
}

void lk_prior_free(lk_prior *pr) {
  if (!pr) return;
  for (int i = 0; i < pr->nh; i++) free(pr->h[i].order);
  free(pr);
}

int lk_prior_nheads(const lk_prior *pr) { return pr ? pr->nh : 0; }
const char *lk_prior_field(const lk_prior *pr, int h) { return pr->p->head[pr->h[h].src].field; }
int lk_prior_extra(const lk_prior *pr) { return pr ? pr->extra : 0; }

int lk_prior_class(const lk_prior *pr, int h, const char *value) {
  if (!value) return -1;
  const lk_projection_head *hd = &pr->p->head[pr->h[h].src];
  int lo = 0, hi = hd->nclass;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2, c = strcasecmp(hd->classes[pr->h[h].order[mid]], value);
    if (!c) return pr->h[h].order[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

void lk_prior_gallery(const lk_prior *pr, const float *vec, int dim, const int *cls, float *out) {
  memmove(out, vec, sizeof(float) * (size_t)dim);
  float *o = out + dim;
  for (int i = 0; i < pr->nh; i++) {
    int C = pr->p->head[pr->h[i].src].nclass;
    memset(o, 0, sizeof(float) * (size_t)C);
    if (cls[i] >= 0 && cls[i] < C) o[cls[i]] = pr->h[i].sw;
    o += C;
  }
}

void lk_prior_query(const lk_prior *pr, const float *vec, int dim, float *out) {
  memmove(out, vec, sizeof(float) * (size_t)dim);
  float *o = out + dim;
  for (int i = 0; i < pr->nh; i++) {
    const prior_head *h = &pr->h[i];
    int C = pr->p->head[h->src].nclass;
    lk_projection_posterior(pr->p, h->src, vec, o);
    for (int c = 0; c < C; c++) o[c] *= h->sw;
    o += C;
  }
}

float lk_prior_score(const lk_prior *pr, const float *qrow, const float *grow, int dim) {
  double cos = 0, keep = 1;
  for (int j = 0; j < dim; j++) cos += (double)qrow[j] * grow[j];
  const float *q = qrow + dim, *g = grow + dim;
  for (int i = 0; i < pr->nh; i++) {
    int C = pr->p->head[pr->h[i].src].nclass;
    double b = 0;
    for (int c = 0; c < C; c++) b += (double)q[c] * g[c];
    keep *= 1 - (b < LK_PRIOR_MAX_SHRINK ? (b > 0 ? b : 0) : LK_PRIOR_MAX_SHRINK);
    q += C;
    g += C;
  }
  return (float)(1 - (1 - cos) * keep);
}
