/* embed/projection.c — learned projections (see projection.h): allocation and application
 * (x W + b per layer with oneDNN's sgemm, ReLU, L2-normalisation, the optional colour tail). */
#include "embed/projection.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/linalg.h"
#include "util/size.h"

static void head_clear(lk_projection_head *h) {
  if (h->classes)
    for (int c = 0; c < h->nclass; c++) free(h->classes[c]);
  free(h->classes);
  free(h->w);
  memset(h, 0, sizeof *h);
}

void lk_projection_free(lk_projection *p) {
  if (!p) return;
  for (int i = 0; i < p->nlayers; i++) {
    free(p->layer[i].w);
    free(p->layer[i].b);
  }
  for (int h = 0; h < p->nheads; h++) head_clear(&p->head[h]);
  free(p);
}

int lk_projection_new(int nlayers, const int *dims, lk_projection **out, lk_errbuf *err) {
  *out = NULL;
  if (nlayers < 1 || nlayers > LK_PROJ_MAX_LAYERS)
    return lk_err_set(err, LK_EINVAL, "projection: 1..%d layers", LK_PROJ_MAX_LAYERS);
  for (int i = 0; i <= nlayers; i++)
    if (dims[i] < 1 || dims[i] > LK_PROJ_MAX_DIM)
      return lk_err_set(err, LK_ETOOBIG, "projection: width %d out of 1..%d", dims[i], LK_PROJ_MAX_DIM);
  lk_projection *p = calloc(1, sizeof *p);
  if (!p) return lk_err_set(err, LK_ENOMEM, "out of memory");
  p->nlayers = nlayers;
  for (int i = 0; i < nlayers; i++) {
    lk_projection_layer *l = &p->layer[i];
    size_t nw;
    l->in = dims[i];
    l->out = dims[i + 1];
    l->relu = i + 1 < nlayers;
    if (lk_size_mul((size_t)l->in, (size_t)l->out, &nw)) {
      lk_projection_free(p);
      return lk_err_set(err, LK_ETOOBIG, "projection too large");
    }
    l->w = calloc(nw, sizeof(float));
    l->b = calloc((size_t)l->out, sizeof(float));
    if (!l->w || !l->b) {
      lk_projection_free(p);
      return lk_err_set(err, LK_ENOMEM, "out of memory for a projection");
    }
  }
  *out = p;
  return 0;
}

int lk_projection_in(const lk_projection *p) { return p->layer[0].in; }
int lk_projection_out(const lk_projection *p) { return p->layer[p->nlayers - 1].out + p->tail; }

/* Scales v[0..n) to norm w (a zero vector stays zero). */
static void normalise(float *v, int n, float w) {
  double s = 0;
  for (int k = 0; k < n; k++) s += (double)v[k] * v[k];
  if (s <= 0) return;
  float f = (float)(w / sqrt(s));
  for (int k = 0; k < n; k++) v[k] *= f;
}

int lk_projection_apply(const lk_projection *p, const float *x, long n, float *y, lk_errbuf *err) {
  if (n <= 0) return 0;
  int wmax = 0, od = lk_projection_out(p), lo = p->layer[p->nlayers - 1].out, in0 = p->layer[0].in;
  for (int i = 0; i < p->nlayers; i++) if (p->layer[i].out > wmax) wmax = p->layer[i].out;
  /* Rows in blocks so the scratch stays small whatever n is. */
  const long B = 256;
  size_t cap;
  if (lk_size_mul3((size_t)B, (size_t)wmax, 2, &cap)) return lk_err_set(err, LK_ETOOBIG, "projection too large");
  float *buf = malloc(cap * sizeof(float));
  if (!buf) return lk_err_set(err, LK_ENOMEM, "out of memory");
  int rc = 0;
  for (long r0 = 0; r0 < n && !rc; r0 += B) {
    long nb = n - r0 < B ? n - r0 : B;
    const float *in = x + (size_t)r0 * p->layer[0].in;
    for (int i = 0; i < p->nlayers; i++) {
      const lk_projection_layer *l = &p->layer[i];
      int last = i + 1 == p->nlayers, ldo = last ? od : l->out; /* the last writes rows of od */
      float *o = last ? y + (size_t)r0 * od : buf + (size_t)(i & 1) * B * wmax;
      for (long r = 0; r < nb; r++) memcpy(o + (size_t)r * ldo, l->b, sizeof(float) * l->out);
      if ((rc = lk_linalg_sgemm('N', 'N', nb, l->out, l->in, 1.0f, in, i ? l->in : in0, l->w, l->out, 1.0f, o, ldo))) {
        rc = lk_err_set(err, rc, "projection: sgemm failed");
        break;
      }
      if (l->relu)
        for (long r = 0; r < nb; r++)
          for (int k = 0; k < l->out; k++) o[(size_t)r * ldo + k] = o[(size_t)r * ldo + k] > 0 ? o[(size_t)r * ldo + k] : 0;
      in = o;
    }
    for (long r = 0; r < nb && !rc; r++) {
      float *v = y + (size_t)(r0 + r) * od;
      normalise(v, lo, 1.0f);
      if (p->tail > 0) {
        memcpy(v + lo, x + (size_t)(r0 + r) * in0 + (in0 - p->tail), sizeof(float) * p->tail);
        normalise(v + lo, p->tail, p->tail_weight);
        normalise(v, od, 1.0f);
      }
    }
  }
  free(buf);
  return rc;
}


int lk_projection_add_head(lk_projection *p, const char *field, int nclass, const char *const *classes,
                           const float *w, float scale, float prior, lk_errbuf *err) {
  int K = p->layer[p->nlayers - 1].out;
  if (p->nheads >= LK_PROJ_MAX_HEADS) return lk_err_set(err, LK_EINVAL, "projection: at most %d heads", LK_PROJ_MAX_HEADS);
  if (nclass < 1 || nclass > LK_PROJ_MAX_CLASSES)
    return lk_err_set(err, LK_EINVAL, "projection head: 1..%d classes", LK_PROJ_MAX_CLASSES);
  if (!field || !*field || strlen(field) >= LK_PROJ_MAX_NAME)
    return lk_err_set(err, LK_EINVAL, "projection head: bad field name");
  if (!(scale > 0 && scale <= 1000) || !(prior >= 0 && prior <= 100))
    return lk_err_set(err, LK_EINVAL, "projection head: scale must be in (0, 1000], prior in [0, 100]");
  for (int c = 0; c < nclass; c++)
    if (!classes[c] || strlen(classes[c]) >= LK_PROJ_MAX_NAME)
      return lk_err_set(err, LK_EINVAL, "projection head: class name %d missing or too long", c);
  lk_projection_head *h = &p->head[p->nheads];
  memset(h, 0, sizeof *h);
  snprintf(h->field, sizeof h->field, "%s", field);
  h->classes = calloc((size_t)nclass, sizeof *h->classes);
  h->w = malloc(sizeof(float) * (size_t)K * (size_t)nclass); /* K, nclass <= 8192, 4096 */
  int ok = h->classes && h->w;
  h->nclass = ok ? nclass : 0;
  for (int c = 0; ok && c < nclass; c++) ok = (h->classes[c] = strdup(classes[c])) != NULL;
  if (!ok) {
    h->nclass = h->classes ? nclass : 0;
    head_clear(h);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  memcpy(h->w, w, sizeof(float) * (size_t)K * nclass);
  h->scale = scale;
  h->prior = prior;
  p->nheads++;
  return 0;
}

void lk_projection_posterior(const lk_projection *p, int hi, const float *y, float *prob) {
  const lk_projection_head *h = &p->head[hi];
  int K = p->layer[p->nlayers - 1].out, C = h->nclass;
  double n2 = 0;
  for (int k = 0; k < K; k++) n2 += (double)y[k] * y[k];
  float inv = n2 > 0 ? (float)(1 / sqrt(n2)) : 0;
  for (int c = 0; c < C; c++) prob[c] = 0;
  for (int k = 0; k < K; k++) {
    float yk = y[k] * inv;
    const float *wr = h->w + (size_t)k * C;
    for (int c = 0; c < C; c++) prob[c] += yk * wr[c];
  }
  float mx = -INFINITY;
  for (int c = 0; c < C; c++) {
    prob[c] *= h->scale;
    if (prob[c] > mx) mx = prob[c];
  }
  double z = 0;
  for (int c = 0; c < C; c++) z += (prob[c] = expf(prob[c] - mx));
  for (int c = 0; c < C; c++) prob[c] = (float)(prob[c] / z);
}

lk_projection *lk_projection_dup(const lk_projection *src) {
  int dims[LK_PROJ_MAX_LAYERS + 1];
  dims[0] = src->layer[0].in;
  for (int i = 0; i < src->nlayers; i++) dims[i + 1] = src->layer[i].out;
  lk_projection *p;
  if (lk_projection_new(src->nlayers, dims, &p, NULL)) return NULL;
  for (int i = 0; i < src->nlayers; i++) {
    p->layer[i].relu = src->layer[i].relu;
    memcpy(p->layer[i].w, src->layer[i].w, sizeof(float) * (size_t)src->layer[i].in * src->layer[i].out);
    memcpy(p->layer[i].b, src->layer[i].b, sizeof(float) * (size_t)src->layer[i].out);
  }
  p->tail = src->tail;
  p->tail_weight = src->tail_weight;
  for (int h = 0; h < src->nheads; h++) {
    const lk_projection_head *sh = &src->head[h];
    if (lk_projection_add_head(p, sh->field, sh->nclass, (const char *const *)sh->classes, sh->w, sh->scale,
                               sh->prior, NULL)) {
      lk_projection_free(p);
      return NULL;
    }
  }
  return p;
}
