/* tune/train.c — the projection optimiser (see train.h): a cosine-softmax classifier trained
 * with AdamW through a linear map or a one-hidden-layer MLP, PCA-whitening by subspace
 * iteration, and leave-one-out kNN precision for reports and tests. Matrix products and the
 * eigensolver come from util/linalg.h; everything else is plain loops. */
#include "tune/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/linalg.h"
#include "util/rng.h"
#include "util/size.h"

void lk_train_opts_default(lk_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->method = LK_TRAIN_SOFTMAX;
  o->dims = 256;
  o->epochs = 20;
  o->batch = 256;
  o->lr = 2e-3f;
  o->weight_decay = 1e-4f;
  o->scale = 16.0f;
  o->margin = 0.1f;
  for (int h = 0; h < LK_TRAIN_MAX_HEADS; h++) o->head_weight[h] = 1.0f;
  o->pca_eps = 0.1f;
}


static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* Mean of the training rows and the scale that gives the centred rows a mean squared norm of 1. */
static int centre(const lk_train_data *d, const long *rows, long nr, float *mu, float *scale) {
  double *acc = calloc((size_t)d->dim, sizeof *acc);
  if (!acc) return LK_ENOMEM;
  for (long i = 0; i < nr; i++) {
    const float *x = d->x + (size_t)rows[i] * d->dim;
    for (int j = 0; j < d->dim; j++) acc[j] += x[j];
  }
  for (int j = 0; j < d->dim; j++) mu[j] = (float)(acc[j] / nr);
  double ss = 0;
  for (long i = 0; i < nr; i++) {
    const float *x = d->x + (size_t)rows[i] * d->dim;
    for (int j = 0; j < d->dim; j++) ss += ((double)x[j] - mu[j]) * ((double)x[j] - mu[j]);
  }
  free(acc);
  ss /= nr;
  *scale = ss > 0 ? (float)(1.0 / sqrt(ss)) : 1.0f;
  return 0;
}

/* Copies rows idx[0..n) of d->x, centred and scaled, into dst (n x dim). */
static void gather(const lk_train_data *d, const long *idx, long n, const float *mu, float sc, float *dst) {
  for (long i = 0; i < n; i++) {
    const float *x = d->x + (size_t)idx[i] * d->dim;
    float *o = dst + (size_t)i * d->dim;
    for (int j = 0; j < d->dim; j++) o[j] = (x[j] - mu[j]) * sc;
  }
}

/* Folds x' = (x - mu) * sc into layer 0: W <- sc W, b <- b - sc mu W. */
static int fold_centre(lk_projection *p, const float *mu, float sc) {
  lk_projection_layer *l = &p->layer[0];
  float *t = falloc((size_t)l->out);
  if (!t) return LK_ENOMEM;
  for (size_t i = 0; i < (size_t)l->in * l->out; i++) l->w[i] *= sc;
  int rc = lk_linalg_sgemm('N', 'N', 1, l->out, l->in, 1.0f, mu, l->in, l->w, l->out, 0.0f, t, l->out);
  for (int k = 0; k < l->out && !rc; k++) l->b[k] -= t[k];
  free(t);
  return rc;
}

/* ---------------------------------------------------------------- AdamW */

typedef struct adam {
  float *m, *v;
  size_t n;
} adam;

static int adam_init(adam *a, size_t n) {
  a->n = n;
  a->m = falloc(n);
  a->v = falloc(n);
  return a->m && a->v ? 0 : LK_ENOMEM;
}
static void adam_free(adam *a) {
  free(a->m);
  free(a->v);
}
/* One step on w with gradient g; bc1/bc2: bias corrections 1 - beta^t. */
static void adam_step(adam *a, float *w, const float *g, float lr, float wd, double bc1, double bc2) {
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  float c1 = (float)(1.0 / bc1), c2 = (float)(1.0 / bc2);
  for (size_t i = 0; i < a->n; i++) {
    a->m[i] = b1 * a->m[i] + (1 - b1) * g[i];
    a->v[i] = b2 * a->v[i] + (1 - b2) * g[i] * g[i];
    w[i] -= lr * (a->m[i] * c1 / (sqrtf(a->v[i] * c2) + eps) + wd * w[i]);
  }
}

/* ---------------------------------------------------------------- softmax training */

typedef struct net {
  int nl;                          /* projection layers */
  lk_projection *p;                /* the weights being learnt */
  adam aw[LK_PROJ_MAX_LAYERS], ab[LK_PROJ_MAX_LAYERS];
  float *gw[LK_PROJ_MAX_LAYERS], *gb[LK_PROJ_MAX_LAYERS];
  float *act[LK_PROJ_MAX_LAYERS + 1]; /* act[0] = batch input, act[l+1] = output of layer l */
  float *g[2];                     /* backward scratch, B x widest */
  int nh;
  float *V[LK_TRAIN_MAX_HEADS], *Vn[LK_TRAIN_MAX_HEADS], *gV[LK_TRAIN_MAX_HEADS];
  float *vnorm[LK_TRAIN_MAX_HEADS];
  adam aV[LK_TRAIN_MAX_HEADS];
  float *logits, *dU, *U, *rnorm;
  uint64_t rs;                     /* dropout's random stream */
} net;

static void net_free(net *t) {
  for (int l = 0; l < LK_PROJ_MAX_LAYERS; l++) {
    adam_free(&t->aw[l]);
    adam_free(&t->ab[l]);
    free(t->gw[l]);
    free(t->gb[l]);
  }
  for (int l = 0; l <= LK_PROJ_MAX_LAYERS; l++) free(t->act[l]);
  free(t->g[0]);
  free(t->g[1]);
  for (int h = 0; h < LK_TRAIN_MAX_HEADS; h++) {
    free(t->V[h]);
    free(t->Vn[h]);
    free(t->gV[h]);
    free(t->vnorm[h]);
    adam_free(&t->aV[h]);
  }
  free(t->logits);
  free(t->dU);
  free(t->U);
  free(t->rnorm);
}

static int net_init(net *t, const lk_train_data *d, const lk_train_opts *o, int B, uint64_t *rs) {
  int dims[3] = {d->dim, o->hidden > 0 ? o->hidden : o->dims, o->dims};
  int nl = o->hidden > 0 ? 2 : 1, K = o->dims;
  int rc = lk_projection_new(nl, dims, &t->p, NULL);
  if (rc) return rc;
  t->nl = nl;
  int widest = d->dim, cmax = 1;
  for (int l = 0; l < nl; l++) {
    lk_projection_layer *L = &t->p->layer[l];
    float sd = (float)sqrt((L->relu ? 2.0 : 1.0) / L->in); /* He / LeCun initialisation */
    for (size_t i = 0; i < (size_t)L->in * L->out; i++) L->w[i] = sd * (float)lk_rng_gauss(rs);
    if (L->out > widest) widest = L->out;
    if ((rc = adam_init(&t->aw[l], (size_t)L->in * L->out)) || (rc = adam_init(&t->ab[l], (size_t)L->out)))
      return rc;
    t->gw[l] = falloc((size_t)L->in * L->out);
    t->gb[l] = falloc((size_t)L->out);
    if (!t->gw[l] || !t->gb[l]) return LK_ENOMEM;
  }
  for (int l = 0; l <= nl; l++)
    if (!(t->act[l] = falloc((size_t)B * (l == 0 ? d->dim : dims[l])))) return LK_ENOMEM;
  t->rs = lk_rng_next(rs);
  t->g[0] = falloc((size_t)B * widest);
  t->g[1] = falloc((size_t)B * widest);
  t->nh = d->nheads;
  for (int h = 0; h < d->nheads; h++) {
    int C = d->nclass[h];
    if (C > cmax) cmax = C;
    t->V[h] = falloc((size_t)K * C);
    t->Vn[h] = falloc((size_t)K * C);
    t->gV[h] = falloc((size_t)K * C);
    t->vnorm[h] = falloc((size_t)C);
    if (!t->V[h] || !t->Vn[h] || !t->gV[h] || !t->vnorm[h]) return LK_ENOMEM;
    if ((rc = adam_init(&t->aV[h], (size_t)K * C))) return rc;
    for (size_t i = 0; i < (size_t)K * C; i++) t->V[h][i] = (float)lk_rng_gauss(rs);
  }
  t->logits = falloc((size_t)B * cmax);
  t->dU = falloc((size_t)B * K);
  t->U = falloc((size_t)B * K);
  t->rnorm = falloc((size_t)B);
  if (!t->g[0] || !t->g[1] || !t->logits || !t->dU || !t->U || !t->rnorm) return LK_ENOMEM;
  return 0;
}

/* One forward/backward pass over a batch of B rows already in act[0]; labels yb (B x nheads).
 * Fills the gradients and returns the loss in *loss. */
static int net_step(net *t, const lk_train_opts *o, const int32_t *yb, int nheads, const int *nclass,
                    int B, double *loss) {
  const lk_projection *p = t->p;
  int K = lk_projection_out(p), rc = 0;
  /* Forward through the layers, dropping out inputs (layer 0) and hidden units (later ones). */
  for (int l = 0; l < t->nl && !rc; l++) {
    const lk_projection_layer *L = &p->layer[l];
    float *out = t->act[l + 1];
    float rate = l == 0 ? o->input_dropout : o->dropout;
    if (rate > 0 && rate < 1) {
      uint32_t thr = (uint32_t)(rate * 4294967296.0);
      float keep = 1.0f / (1.0f - rate);
      for (size_t i = 0; i < (size_t)B * L->in; i++) /* a dropped unit reads 0: backward knows */
        t->act[l][i] = (uint32_t)(lk_rng_next(&t->rs) >> 32) >= thr ? t->act[l][i] * keep : 0;
    }
    for (int i = 0; i < B; i++) memcpy(out + (size_t)i * L->out, L->b, sizeof(float) * L->out);
    rc = lk_linalg_sgemm('N', 'N', B, L->out, L->in, 1.0f, t->act[l], L->in, L->w, L->out, 1.0f, out, L->out);
    if (L->relu)
      for (size_t i = 0; i < (size_t)B * L->out; i++) out[i] = out[i] > 0 ? out[i] : 0;
  }
  if (rc) return rc;
  const float *Z = t->act[t->nl];
  for (int i = 0; i < B; i++) {
    double s = 0;
    for (int k = 0; k < K; k++) s += (double)Z[(size_t)i * K + k] * Z[(size_t)i * K + k];
    float r = (float)sqrt(s > 1e-24 ? s : 1e-24);
    t->rnorm[i] = r;
    for (int k = 0; k < K; k++) t->U[(size_t)i * K + k] = Z[(size_t)i * K + k] / r;
  }
  memset(t->dU, 0, sizeof(float) * (size_t)B * K);
  double total = 0;
  float s = o->scale;
  for (int h = 0; h < nheads && !rc; h++) {
    int C = nclass[h];
    float *V = t->V[h], *Vn = t->Vn[h], *nrm = t->vnorm[h], *G = t->logits;
    /* Normalised class vectors (columns of V, K x C). */
    for (int c = 0; c < C; c++) nrm[c] = 0;
    for (int k = 0; k < K; k++)
      for (int c = 0; c < C; c++) nrm[c] += V[(size_t)k * C + c] * V[(size_t)k * C + c];
    for (int c = 0; c < C; c++) nrm[c] = sqrtf(nrm[c] > 1e-24f ? nrm[c] : 1e-24f);
    for (int k = 0; k < K; k++)
      for (int c = 0; c < C; c++) Vn[(size_t)k * C + c] = V[(size_t)k * C + c] / nrm[c];
    if ((rc = lk_linalg_sgemm('N', 'N', B, C, K, s, t->U, K, Vn, C, 0.0f, G, C))) break;
    int labelled = 0;
    for (int i = 0; i < B; i++) labelled += yb[(size_t)i * nheads + h] >= 0;
    float w = labelled ? o->head_weight[h] / labelled : 0;
    for (int i = 0; i < B; i++) {
      float *g = G + (size_t)i * C;
      int y = yb[(size_t)i * nheads + h];
      if (y < 0) {
        memset(g, 0, sizeof(float) * C);
        continue;
      }
      g[y] -= s * o->margin;
      float mx = g[0];
      for (int c = 1; c < C; c++) mx = g[c] > mx ? g[c] : mx;
      double z = 0;
      for (int c = 0; c < C; c++) z += exp((double)g[c] - mx);
      total += o->head_weight[h] * (log(z) + mx - g[y]) / labelled;
      float iz = (float)(1.0 / z);
      for (int c = 0; c < C; c++) g[c] = w * expf(g[c] - mx) * iz;
      g[y] -= w;
    }
    /* dU += s G Vn^T; dVn = s U^T G; then through the column normalisation. */
    if ((rc = lk_linalg_sgemm('N', 'T', B, K, C, s, G, C, Vn, C, 1.0f, t->dU, K)) ||
        (rc = lk_linalg_sgemm('T', 'N', K, C, B, s, t->U, K, G, C, 0.0f, t->gV[h], C)))
      break;
    float *gV = t->gV[h], *dot = t->logits; /* G no longer needed: reuse as C dots */
    for (int c = 0; c < C; c++) dot[c] = 0;
    for (int k = 0; k < K; k++)
      for (int c = 0; c < C; c++) dot[c] += Vn[(size_t)k * C + c] * gV[(size_t)k * C + c];
    for (int k = 0; k < K; k++)
      for (int c = 0; c < C; c++) {
        size_t ix = (size_t)k * C + c;
        gV[ix] = (gV[ix] - Vn[ix] * dot[c]) / nrm[c];
      }
  }
  if (rc) return rc;
  *loss = total;
  /* Through the row normalisation: dZ = (dU - U (U . dU)) / |Z|. */
  float *g = t->g[0];
  for (int i = 0; i < B; i++) {
    const float *u = t->U + (size_t)i * K, *du = t->dU + (size_t)i * K;
    double dot = 0;
    for (int k = 0; k < K; k++) dot += (double)u[k] * du[k];
    for (int k = 0; k < K; k++) g[(size_t)i * K + k] = (du[k] - u[k] * (float)dot) / t->rnorm[i];
  }
  /* Back through the layers. */
  int cur = 0;
  for (int l = t->nl - 1; l >= 0 && !rc; l--) {
    const lk_projection_layer *L = &p->layer[l];
    const float *gl = t->g[cur];
    if ((rc = lk_linalg_sgemm('T', 'N', L->in, L->out, B, 1.0f, t->act[l], L->in, gl, L->out, 0.0f, t->gw[l], L->out)))
      break;
    for (int k = 0; k < L->out; k++) t->gb[l][k] = 0;
    for (int i = 0; i < B; i++)
      for (int k = 0; k < L->out; k++) t->gb[l][k] += gl[(size_t)i * L->out + k];
    if (l == 0) break;
    float *gp = t->g[!cur];
    if ((rc = lk_linalg_sgemm('N', 'T', B, L->in, L->out, 1.0f, gl, L->out, L->w, L->out, 0.0f, gp, L->in))) break;
    const float *a = t->act[l]; /* output of the ReLU layer l-1, after dropout */
    float rate = o->dropout, keep = rate > 0 && rate < 1 ? 1.0f / (1.0f - rate) : 1.0f;
    for (size_t i = 0; i < (size_t)B * L->in; i++)
      gp[i] = a[i] > 0 ? gp[i] * keep : 0; /* dropped units have a == 0 too */
    cur = !cur;
  }
  return rc;
}

/* Keeps the trained class vectors (unit columns) as the projection's heads, for the heads
 * whose names the caller gave. */
static int keep_heads(net *t, const lk_train_data *d, const lk_train_opts *o, lk_errbuf *err) {
  int K = o->dims;
  for (int h = 0; h < d->nheads; h++) {
    if (!d->head_field[h] || !d->class_name[h]) continue;
    int C = d->nclass[h];
    float *w = falloc((size_t)K * C);
    if (!w) return lk_err_set(err, LK_ENOMEM, "out of memory");
    for (int c = 0; c < C; c++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)t->V[h][(size_t)k * C + c] * t->V[h][(size_t)k * C + c];
      float f = s > 1e-30 ? (float)(1 / sqrt(s)) : 0;
      for (int k = 0; k < K; k++) w[(size_t)k * C + c] = t->V[h][(size_t)k * C + c] * f;
    }
    int rc = lk_projection_add_head(t->p, d->head_field[h], C, (const char *const *)d->class_name[h], w, o->scale,
                                    o->prior[h], err);
    free(w);
    if (rc) return rc;
  }
  return 0;
}

static int fit_softmax(const lk_train_data *d, const lk_train_opts *o, const long *rows, long nr,
                       const float *mu, float sc, lk_projection **out, double *loss_out, lk_errbuf *err) {
  int B = o->batch;
  if ((long)B > nr) B = (int)nr;
  uint64_t rs = o->seed ^ 0x7475726e65ull;
  net t;
  memset(&t, 0, sizeof t);
  long *perm = malloc(sizeof *perm * (size_t)nr);
  int32_t *yb = malloc(sizeof *yb * (size_t)B * (d->nheads > 0 ? d->nheads : 1));
  int rc = perm && yb ? net_init(&t, d, o, B, &rs) : LK_ENOMEM;
  if (rc) {
    rc = lk_err_set(err, rc, rc == LK_ENOMEM ? "out of memory for training" : "bad training shape");
    goto out;
  }
  for (long i = 0; i < nr; i++) perm[i] = rows[i];
  long steps_per_epoch = nr / B, total = steps_per_epoch * o->epochs, step = 0;
  long warm = total / 50 + 1;
  double last = 0;
  for (int ep = 0; ep < o->epochs && !rc; ep++) {
    for (long i = nr - 1; i > 0; i--) { /* Fisher-Yates */
      long j = (long)(lk_rng_next(&rs) % (uint64_t)(i + 1));
      long tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
    double sum = 0;
    for (long b = 0; b < steps_per_epoch && !rc; b++, step++) {
      const long *idx = perm + b * B;
      gather(d, idx, B, mu, sc, t.act[0]);
      for (int i = 0; i < B; i++)
        for (int h = 0; h < d->nheads; h++) yb[(size_t)i * d->nheads + h] = d->y[(size_t)idx[i] * d->nheads + h];
      double loss = 0;
      if ((rc = net_step(&t, o, yb, d->nheads, d->nclass, B, &loss))) break;
      sum += loss;
      double lr = step < warm ? o->lr * (double)(step + 1) / warm
                              : 0.5 * o->lr * (1 + cos(3.141592653589793 * (step - warm) / (double)(total - warm + 1)));
      double bc1 = 1 - pow(0.9, (double)(step + 1)), bc2 = 1 - pow(0.999, (double)(step + 1));
      for (int l = 0; l < t.nl; l++) {
        adam_step(&t.aw[l], t.p->layer[l].w, t.gw[l], (float)lr, o->weight_decay, bc1, bc2);
        if (l > 0) adam_step(&t.ab[l], t.p->layer[l].b, t.gb[l], (float)lr, 0, bc1, bc2);
      }
      for (int h = 0; h < d->nheads; h++) adam_step(&t.aV[h], t.V[h], t.gV[h], (float)lr, 0, bc1, bc2);
    }
    if (rc) break;
    last = steps_per_epoch ? sum / steps_per_epoch : 0;
    if (!isfinite(last)) {
      rc = lk_err_set(err, LK_EINVAL, "training diverged (loss %g at epoch %d): lower --lr", last, ep + 1);
      break;
    }
    if (o->progress && o->progress(o->ctx, ep + 1, o->epochs, last)) break;
  }
  if (rc) {
    if (err && !err->code) lk_err_set(err, rc, "training failed");
    goto out;
  }
  if ((rc = fold_centre(t.p, mu, sc))) {
    lk_err_set(err, rc, "folding the centring failed");
    goto out;
  }
  if ((rc = keep_heads(&t, d, o, err))) goto out;
  *out = t.p;
  t.p = NULL;
  if (loss_out) *loss_out = last;
out:
  lk_projection_free(t.p);
  net_free(&t);
  free(perm);
  free(yb);
  return rc;
}

/* ---------------------------------------------------------------- PCA-whitening */

/* Orthonormalises the k columns of q (D x k, row-major) by modified Gram-Schmidt. */
static void orthonormalise(float *q, int D, int k) {
  for (int j = 0; j < k; j++) {
    for (int i = 0; i < j; i++) {
      double dot = 0;
      for (int r = 0; r < D; r++) dot += (double)q[(size_t)r * k + i] * q[(size_t)r * k + j];
      for (int r = 0; r < D; r++) q[(size_t)r * k + j] -= (float)dot * q[(size_t)r * k + i];
    }
    double nn = 0;
    for (int r = 0; r < D; r++) nn += (double)q[(size_t)r * k + j] * q[(size_t)r * k + j];
    float inv = nn > 1e-30 ? (float)(1 / sqrt(nn)) : 0;
    for (int r = 0; r < D; r++) q[(size_t)r * k + j] *= inv;
  }
}

static int fit_pca(const lk_train_data *d, const lk_train_opts *o, const long *rows, long nr, const float *mu,
                   float sc, lk_projection **out, lk_errbuf *err) {
  int D = d->dim, K = o->dims;
  if (K > D) return lk_err_set(err, LK_EINVAL, "PCA: --dims %d exceeds the input's %d", K, D);
  const long B = 1024;
  float *cov = falloc((size_t)D * D), *xb = falloc((size_t)B * D), *q = falloc((size_t)D * K);
  float *y = falloc((size_t)D * K), *sm = falloc((size_t)K * K);
  double *a = calloc((size_t)K * K, sizeof *a), *w = calloc((size_t)K, sizeof *w), *v = calloc((size_t)K * K, sizeof *v);
  lk_projection *p = NULL;
  int rc = cov && xb && q && y && sm && a && w && v ? 0 : LK_ENOMEM;
  /* Covariance of the centred, scaled training rows. */
  for (long r0 = 0; r0 < nr && !rc; r0 += B) {
    long nb = nr - r0 < B ? nr - r0 : B;
    gather(d, rows + r0, nb, mu, sc, xb);
    rc = lk_linalg_sgemm('T', 'N', D, D, nb, 1.0f / (float)nr, xb, D, xb, D, 1.0f, cov, D);
  }
  /* Top-K eigenvectors by subspace iteration, then Rayleigh-Ritz on the K x K problem. */
  uint64_t rs = o->seed ^ 0x706361ull;
  for (size_t i = 0; !rc && i < (size_t)D * K; i++) q[i] = (float)lk_rng_gauss(&rs);
  if (!rc) orthonormalise(q, D, K);
  for (int it = 0; it < 30 && !rc; it++) {
    if ((rc = lk_linalg_sgemm('N', 'N', D, K, D, 1.0f, cov, D, q, K, 0.0f, y, K))) break;
    memcpy(q, y, sizeof(float) * (size_t)D * K);
    orthonormalise(q, D, K);
  }
  if (!rc) rc = lk_linalg_sgemm('N', 'N', D, K, D, 1.0f, cov, D, q, K, 0.0f, y, K);
  if (!rc) rc = lk_linalg_sgemm('T', 'N', K, K, D, 1.0f, q, K, y, K, 0.0f, sm, K);
  if (!rc) {
    for (int i = 0; i < K; i++) /* symmetrised: the eigensolver reads one triangle */
      for (int j = 0; j < K; j++) a[(size_t)i * K + j] = 0.5 * ((double)sm[(size_t)i * K + j] + sm[(size_t)j * K + i]);
    rc = lk_linalg_eigsym(a, K, w, v, err);
  }
  if (!rc) {
    double mean = 0;
    for (int k = 0; k < K; k++) mean += w[k] > 0 ? w[k] : 0;
    mean /= K;
    int dims[2] = {D, K};
    rc = lk_projection_new(1, dims, &p, err);
    /* W = Q V diag(1 / sqrt(lambda + eps)) */
    for (int r = 0; r < D && !rc; r++)
      for (int k = 0; k < K; k++) {
        double s = 0;
        for (int j = 0; j < K; j++) s += (double)q[(size_t)r * K + j] * v[(size_t)j * K + k];
        double lam = w[k] > 0 ? w[k] : 0;
        p->layer[0].w[(size_t)r * K + k] = (float)(s / sqrt(lam + o->pca_eps * mean + 1e-12));
      }
  }
  if (!rc) rc = fold_centre(p, mu, sc);
  if (rc) {
    if (err && !err->code) lk_err_set(err, rc, rc == LK_ENOMEM ? "out of memory for PCA" : "PCA failed");
    lk_projection_free(p);
  } else {
    *out = p;
  }
  free(cov);
  free(xb);
  free(q);
  free(y);
  free(sm);
  free(a);
  free(w);
  free(v);
  return rc;
}

int lk_train_fit(const lk_train_data *d, const lk_train_opts *o, lk_projection **out, double *loss,
                 lk_errbuf *err) {
  *out = NULL;
  if (loss) *loss = 0;
  if (d->n < 2 || d->dim < 1 || d->dim > LK_PROJ_MAX_DIM)
    return lk_err_set(err, LK_EINVAL, "training needs >= 2 rows of 1..%d floats", LK_PROJ_MAX_DIM);
  if (o->dims < 1 || o->dims > LK_PROJ_MAX_DIM || o->hidden < 0 || o->hidden > LK_PROJ_MAX_DIM)
    return lk_err_set(err, LK_EINVAL, "--dims and --hidden must be 1..%d", LK_PROJ_MAX_DIM);
  if (o->method == LK_TRAIN_SOFTMAX) {
    if (d->nheads < 1 || d->nheads > LK_TRAIN_MAX_HEADS)
      return lk_err_set(err, LK_EINVAL, "1..%d label fields", LK_TRAIN_MAX_HEADS);
    if (o->epochs < 1 || o->epochs > 10000 || o->batch < 2 || o->batch > 65536 || !(o->lr > 0) || !(o->scale > 0))
      return lk_err_set(err, LK_EINVAL, "bad training options (epochs, batch, lr, scale)");
    for (int h = 0; h < d->nheads; h++)
      if (d->nclass[h] < 1 || d->nclass[h] > 1000000) return lk_err_set(err, LK_EINVAL, "bad class count");
  } else if (o->method != LK_TRAIN_PCA) {
    return lk_err_set(err, LK_EINVAL, "unknown training method");
  }
  long *rows = malloc(sizeof *rows * (size_t)d->n), nr = 0;
  float *mu = falloc((size_t)d->dim), sc = 1;
  int rc = 0;
  if (!rows || !mu) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (long i = 0; i < d->n; i++)
    if (!d->use || d->use[i]) rows[nr++] = i;
  if (nr < 2) {
    rc = lk_err_set(err, LK_EINVAL, "fewer than 2 training rows");
    goto out;
  }
  if ((rc = centre(d, rows, nr, mu, &sc))) {
    lk_err_set(err, rc, "out of memory");
    goto out;
  }
  rc = o->method == LK_TRAIN_PCA ? fit_pca(d, o, rows, nr, mu, sc, out, err)
                                 : fit_softmax(d, o, rows, nr, mu, sc, out, loss, err);
out:
  free(rows);
  free(mu);
  return rc;
}

/* ---------------------------------------------------------------- kNN precision */

int lk_train_knn_precision(const float *x, int dim, const long *rows, long nrows, const int32_t *y,
                           int nheads, const int32_t *dup, int k, double *p_at_k, lk_errbuf *err) {
  return lk_train_knn_precision_q(x, NULL, dim, rows, nrows, y, nheads, dup, k, p_at_k, err);
}

int lk_train_knn_precision_q(const float *x, const float *qx, int dim, const long *rows, long nrows,
                             const int32_t *y, int nheads, const int32_t *dup, int k, double *p_at_k,
                             lk_errbuf *err) {
  return lk_train_knn_precision_fn(x, qx, dim, rows, nrows, y, nheads, dup, k, NULL, NULL, p_at_k, err);
}

int lk_train_knn_precision_fn(const float *x, const float *qx, int dim, const long *rows, long nrows,
                              const int32_t *y, int nheads, const int32_t *dup, int k, lk_train_score_fn score,
                              const void *ctx, double *p_at_k, lk_errbuf *err) {
  for (int h = 0; h < nheads; h++) p_at_k[h] = 0;
  if (nrows < 2 || k < 1 || k > 1000 || nheads < 1 || nheads > LK_TRAIN_MAX_HEADS)
    return lk_err_set(err, LK_EINVAL, "kNN precision: bad arguments");
  const long QB = 128;
  size_t ng, nq;
  if (lk_size_mul((size_t)nrows, (size_t)dim, &ng) || lk_size_mul((size_t)QB, (size_t)nrows, &nq))
    return lk_err_set(err, LK_ETOOBIG, "kNN precision: too many rows");
  float *g = falloc(ng), *sim = falloc(nq), *qg = qx ? falloc(ng) : NULL;
  long *top = malloc(sizeof *top * (size_t)(k + 1)), *cnt = NULL;
  float *tops = falloc((size_t)k + 1);
  int32_t cmax = 0;
  for (long i = 0; i < nrows; i++)
    for (int h = 0; h < nheads; h++) {
      int32_t c = y[(size_t)rows[i] * nheads + h];
      if (c + 1 > cmax) cmax = c + 1;
    }
  cnt = calloc((size_t)cmax * nheads + 1, sizeof *cnt);
  double sum[LK_TRAIN_MAX_HEADS] = {0};
  long nqs[LK_TRAIN_MAX_HEADS] = {0};
  int rc = g && sim && top && tops && cnt && (qg || !qx) ? 0 : LK_ENOMEM;
  for (long i = 0; i < nrows && !rc; i++) {
    memcpy(g + (size_t)i * dim, x + (size_t)rows[i] * dim, sizeof(float) * dim);
    if (qx) memcpy(qg + (size_t)i * dim, qx + (size_t)rows[i] * dim, sizeof(float) * dim);
    for (int h = 0; h < nheads; h++) {
      int32_t c = y[(size_t)rows[i] * nheads + h];
      if (c >= 0) cnt[(size_t)h * cmax + c]++;
    }
  }
  for (long q0 = 0; q0 < nrows && !rc; q0 += QB) {
    long nb = nrows - q0 < QB ? nrows - q0 : QB;
    if (score) {
      for (long b = 0; b < nb; b++)
        for (long j = 0; j < nrows; j++)
          sim[(size_t)b * nrows + j] = score(ctx, (qx ? qg : g) + (size_t)(q0 + b) * dim, g + (size_t)j * dim);
    } else if ((rc = lk_linalg_sgemm('N', 'T', nb, nrows, dim, 1.0f, (qx ? qg : g) + (size_t)q0 * dim, dim, g, dim, 0.0f, sim,
                          nrows))) {
      break;
    }
    for (long b = 0; b < nb; b++) {
      long qi = q0 + b, qr = rows[qi];
      int32_t qd = dup ? dup[qr] : -1;
      const float *s = sim + (size_t)b * nrows;
      int nt = 0;
      for (long j = 0; j < nrows; j++) {
        if (j == qi || (qd >= 0 && dup[rows[j]] == qd)) continue;
        float v = s[j];
        if (nt == k && v <= tops[k - 1]) continue;
        int pos = nt < k ? nt++ : k - 1;
        while (pos > 0 && tops[pos - 1] < v) {
          tops[pos] = tops[pos - 1];
          top[pos] = top[pos - 1];
          pos--;
        }
        tops[pos] = v;
        top[pos] = rows[j];
      }
      for (int h = 0; h < nheads; h++) {
        int32_t want = y[(size_t)qr * nheads + h];
        if (want < 0) continue;
        long R = cnt[(size_t)h * cmax + want] - 1;
        if (qd >= 0)
          for (long j = 0; j < nrows; j++)
            if (j != qi && dup[rows[j]] == qd && y[(size_t)rows[j] * nheads + h] == want) R--;
        if (R <= 0) continue;
        int hit = 0;
        for (int t = 0; t < nt; t++) hit += y[(size_t)top[t] * nheads + h] == want;
        sum[h] += (double)hit / k;
        nqs[h]++;
      }
    }
  }
  if (rc) lk_err_set(err, rc, rc == LK_ENOMEM ? "out of memory" : "kNN precision: sgemm failed");
  for (int h = 0; h < nheads && !rc; h++) p_at_k[h] = nqs[h] ? sum[h] / nqs[h] : 0;
  free(g);
  free(qg);
  free(sim);
  free(top);
  free(tops);
  free(cnt);
  return rc;
}
