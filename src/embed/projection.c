/* embed/projection.c — learned projections (see projection.h): allocation and application
 * (x W + b per layer with oneDNN's sgemm, ReLU, L2-normalisation, the optional colour tail). */
#include "embed/projection.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "util/size.h"

void lk_projection_free(lk_projection *p) {
  if (!p) return;
  for (int i = 0; i < p->nlayers; i++) {
    free(p->layer[i].w);
    free(p->layer[i].b);
  }
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
      if (dnnl_sgemm('N', 'N', nb, l->out, l->in, 1.0f, in, i ? l->in : in0, l->w, l->out, 1.0f, o, ldo) !=
          dnnl_success) {
        rc = lk_err_set(err, LK_EINVAL, "projection: sgemm failed");
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

