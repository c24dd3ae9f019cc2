/* bench/finetune.c — issue 14's "transfer learning proper" experiment (not shipped): trains
 * MobileNetV2's last 1x1 conv (Conv_1: 320 -> 1280, ReLU6, before the average pool that the
 * default recipe taps) in fp32 with lk_linalg_sgemm, from the network's own weights, with
 * cosine classifier heads on articleType and baseColour, on views of the TRAINING split's
 * photos (lk_tune_is_holdout(id, 5) == 0): the studio photo, street-like views
 * (tune/augment.c) and plain crop/flip/colour-jitter views. The frozen part (everything
 * below Conv_1) is run once, in int8 as the default recipe does, and its 7x7x320 output is
 * cached as uint8 on the tensor's own grid. Each epoch prints held-out (test split)
 * accuracy on studio photos and on street-like views, and the held-out products' P@10
 * (articleType) among themselves, for studio and street-like queries. Writes the trained
 * weights (float32: 1280*320 W in the model's [1280,1,1,320] order, then 1280 biases) for
 * bench/finetune_patch.py, which makes a .tflite whose Conv_1 carries them; bench/finetune.sh
 * runs the whole experiment (train, patch, the shop pipeline, street and studio evals). Usage:
 *   make build/bench/finetune
 *   build/bench/finetune --db CATALOG.db --models DIR --cache FILE [--out W.bin] [--epochs 3]
 *       [--probe-epochs 2] [--lr 1e-4] [--lr-head 2e-3] [--street-views 2] [--plain-views 1]
 *       [--threads 2] [--limit ROWS]
 * CATALOG.db: a whole untuned catalog (its items, paths and labels; vectors unused). The cache
 * is built when FILE does not exist (~15 KB a view) and reused after. OUT.e0 gets the
 * network's own weights, OUT.eN those after epoch N of Conv_1's training. docs/QUALITY.md
 * ("What was tried") has the result. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"
#include "index/quant.h"
#include "nn/model.h"
#include "nn/nn_int.h"
#include "tune/augment.h"
#include "tune/tune.h"
#include "util/linalg.h"
#include "util/rng.h"

#define SIDE 224
#define HW 49 /* the 7x7 map */
#define CIN 320
#define COUT 1280
#define HOLDOUT 5
#define BATCH 8

enum { V_STUDIO = 0, V_STREET = 1, V_PLAIN = 2 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ the cache of frozen maps */

typedef struct cache {
  long n;          /* views */
  int32_t *row;    /* n: the set's row */
  uint8_t *kind;   /* n: V_* */
  uint8_t *q;      /* n * HW * CIN: the map on its grid */
  float scale;
  int zp;
} cache;

typedef struct job {
  const lk_tune_set *s;
  const lk_model *m;
  const char *tap;
  int street, plain;
  cache *c;
  long *first;     /* per row: its first view (-1: photo unreadable) */
  long next;
  pthread_mutex_t lock;
  int rc;
} job;

/* A plain view: a crop of 80-100 % of each side, a mirror half the time, per-channel gain. */
static int plain_view(const lk_image *src, uint64_t seed, lk_image *out) {
  uint64_t s = seed;
  int w = (int)(src->w * lk_rng_range(&s, 0.8f, 1.0f)), h = (int)(src->h * lk_rng_range(&s, 0.8f, 1.0f));
  if (w < 8) w = src->w;
  if (h < 8) h = src->h;
  int x = lk_rng_int(&s, src->w - w + 1), y = lk_rng_int(&s, src->h - h + 1);
  int rc = lk_image_crop(src, x, y, w, h, out);
  if (rc) return rc;
  int flip = lk_rng_int(&s, 2);
  float gain[3], bright = lk_rng_range(&s, -20, 20);
  for (int c = 0; c < 3; c++) gain[c] = lk_rng_range(&s, 0.85f, 1.15f);
  for (int yy = 0; yy < h; yy++) {
    uint8_t *r = out->px + (size_t)yy * w * 3;
    if (flip)
      for (int a = 0, b = w - 1; a < b; a++, b--)
        for (int c = 0; c < 3; c++) {
          uint8_t t = r[a * 3 + c];
          r[a * 3 + c] = r[b * 3 + c];
          r[b * 3 + c] = t;
        }
    for (int i = 0; i < w * 3; i++) {
      float v = r[i] * gain[i % 3] + bright;
      r[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
    }
  }
  return 0;
}

/* The recipe's preprocessing: shrink to a longer side of 80 (prescale), squash to 224x224. */
static int to_input(const lk_image *im, uint8_t *dst) {
  lk_image small = {0}, sized = {0};
  const lk_image *use = im;
  int big = im->w > im->h ? im->w : im->h, rc = 0;
  if (big > 80) {
    int w = im->w * 80 / big, h = im->h * 80 / big;
    if ((rc = lk_image_resize(im, w > 0 ? w : 1, h > 0 ? h : 1, &small))) return rc;
    use = &small;
  }
  if (!(rc = lk_image_resize(use, SIDE, SIDE, &sized))) memcpy(dst, sized.px, (size_t)SIDE * SIDE * 3);
  lk_image_free(&small);
  lk_image_free(&sized);
  return rc;
}

static void *extract_worker(void *arg) {
  job *j = arg;
  lk_errbuf err = {0};
  lk_session *sess = NULL;
  lk_session_opts so;
  lk_session_opts_default(&so);
  so.backend = LK_BACKEND_DNNL;
  so.compute = LK_COMPUTE_INT8;
  so.max_batch = BATCH;
  so.threads = 1;
  lk_tap tap = {.tensor = j->tap, .pool = LK_POOL_AVG};
  int rc = lk_session_new(j->m, &tap, 1, &so, &sess, &err);
  int ti = lk_model_find_tensor(j->m, j->tap);
  int per = 1 + j->street + j->plain;
  uint8_t *in = malloc((size_t)BATCH * SIDE * SIDE * 3);
  float *pooled = malloc(sizeof(float) * BATCH * CIN), *map = malloc(sizeof(float) * HW * CIN);
  if (rc) fprintf(stderr, "session: %s\n", err.msg);
  for (; !rc;) {
    pthread_mutex_lock(&j->lock);
    long r = j->rc ? j->s->n : j->next++;
    pthread_mutex_unlock(&j->lock);
    if (r >= j->s->n) break;
    lk_image src = {0};
    if (!j->s->path[r] || lk_image_load(j->s->path[r], NULL, 0, &src, &err)) continue;
    int nv = j->s->test[r] ? 2 : per, nb = 0;
    long v0 = j->first[r];
    for (int v = 0; v < nv && !rc; v++) {
      lk_image view = {0};
      uint64_t seed = lk_rng_mix((uint64_t)j->s->id[r] * 131 + (uint64_t)v);
      int kind = v == 0 ? V_STUDIO : v <= j->street ? V_STREET : V_PLAIN;
      if (kind == V_STUDIO) rc = to_input(&src, in + (size_t)nb * SIDE * SIDE * 3);
      else {
        rc = kind == V_STREET ? lk_augment_view(&src, 112, seed, &view) : plain_view(&src, seed, &view);
        if (!rc) rc = to_input(&view, in + (size_t)nb * SIDE * SIDE * 3);
        lk_image_free(&view);
      }
      j->c->row[v0 + v] = (int32_t)r;
      j->c->kind[v0 + v] = (uint8_t)kind;
      nb++;
      if (rc) break;
      if (nb == nv) {
        if ((rc = lk_session_run(sess, in, nb, pooled, &err))) break;
        for (int b = 0; b < nb; b++) {
          int got = lk_session_tensor(sess, ti, b, map, (size_t)HW * CIN);
          if (got != HW * CIN) {
            rc = LK_EINVAL;
            break;
          }
          uint8_t *q = j->c->q + (size_t)(v0 + b) * HW * CIN;
          for (int k = 0; k < HW * CIN; k++) {
            float t = roundf(map[k] / j->c->scale) + (float)j->c->zp;
            q[k] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
          }
        }
      }
    }
    lk_image_free(&src);
    if (r % 2000 == 0) fprintf(stderr, "  extract: row %ld of %ld\n", r, j->s->n);
  }
  if (rc) {
    fprintf(stderr, "extract: %s (%s)\n", lk_strerror(rc), err.msg);
    pthread_mutex_lock(&j->lock);
    j->rc = rc;
    pthread_mutex_unlock(&j->lock);
  }
  free(in);
  free(pooled);
  free(map);
  lk_session_free(sess);
  return NULL;
}

static int cache_save(const cache *c, const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return -1;
  int ok = fwrite("LKFTC001", 8, 1, f) == 1 && fwrite(&c->n, sizeof c->n, 1, f) == 1 &&
           fwrite(&c->scale, sizeof c->scale, 1, f) == 1 && fwrite(&c->zp, sizeof c->zp, 1, f) == 1 &&
           fwrite(c->row, sizeof *c->row, (size_t)c->n, f) == (size_t)c->n &&
           fwrite(c->kind, 1, (size_t)c->n, f) == (size_t)c->n &&
           fwrite(c->q, (size_t)HW * CIN, (size_t)c->n, f) == (size_t)c->n;
  ok = fclose(f) == 0 && ok;
  return ok && rename(tmp, path) == 0 ? 0 : -1;
}

static int cache_alloc(cache *c) {
  c->row = malloc(sizeof *c->row * (size_t)c->n);
  c->kind = malloc((size_t)c->n);
  c->q = malloc((size_t)c->n * HW * CIN);
  return c->row && c->kind && c->q ? 0 : -1;
}

static int cache_load(cache *c, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char magic[8];
  int ok = fread(magic, 8, 1, f) == 1 && !memcmp(magic, "LKFTC001", 8) && fread(&c->n, sizeof c->n, 1, f) == 1 &&
           c->n > 0 && c->n < 10000000 && fread(&c->scale, sizeof c->scale, 1, f) == 1 &&
           fread(&c->zp, sizeof c->zp, 1, f) == 1 && !cache_alloc(c) &&
           fread(c->row, sizeof *c->row, (size_t)c->n, f) == (size_t)c->n &&
           fread(c->kind, 1, (size_t)c->n, f) == (size_t)c->n &&
           fread(c->q, (size_t)HW * CIN, (size_t)c->n, f) == (size_t)c->n;
  fclose(f);
  return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ the trained layers */

typedef struct adam {
  float *m, *v;
  long t;
} adam;

static void adam_update(adam *a, float *w, const float *g, size_t n, float lr, float wd) {
  a->t++;
  double c1 = 1 - pow(0.9, (double)a->t), c2 = 1 - pow(0.999, (double)a->t);
  for (size_t i = 0; i < n; i++) {
    a->m[i] = 0.9f * a->m[i] + 0.1f * g[i];
    a->v[i] = 0.999f * a->v[i] + 0.001f * g[i] * g[i];
    w[i] -= lr * (float)((a->m[i] / c1) / (sqrt(a->v[i] / c2) + 1e-8) + wd * w[i]);
  }
}

typedef struct net {
  float *W, *b;            /* COUT x CIN, COUT */
  int nh, ncls[2];
  float *H[2], *hb[2];     /* head h: ncls x COUT weights, ncls biases */
  float s;                 /* cosine classifier scale */
} net;

/* Scratch for a batch of n views. */
typedef struct work {
  float *X, *Z, *F, *Fn, *L, *dF, *dZ, *dW, *db, *dH[2], *dhb[2];
  float *nrm;
} work;

/* Forward to normalised pooled features (Fn, n x COUT), Z kept for the backward pass. */
static void forward(const net *t, const cache *c, const long *idx, int n, work *w) {
  float sc = c->scale;
  for (int i = 0; i < n; i++) {
    const uint8_t *q = c->q + (size_t)idx[i] * HW * CIN;
    float *x = w->X + (size_t)i * HW * CIN;
    for (int k = 0; k < HW * CIN; k++) x[k] = ((int)q[k] - c->zp) * sc;
  }
  for (long r = 0; r < (long)n * HW; r++) memcpy(w->Z + r * COUT, t->b, sizeof(float) * COUT);
  lk_linalg_sgemm('N', 'T', (int64_t)n * HW, COUT, CIN, 1.0f, w->X, CIN, t->W, CIN, 1.0f, w->Z, COUT);
  for (int i = 0; i < n; i++) {
    float *f = w->F + (size_t)i * COUT;
    memset(f, 0, sizeof(float) * COUT);
    for (int p = 0; p < HW; p++) {
      const float *z = w->Z + ((size_t)i * HW + p) * COUT;
      for (int o = 0; o < COUT; o++) f[o] += z[o] < 0 ? 0 : z[o] > 6 ? 6 : z[o];
    }
    double ss = 0;
    for (int o = 0; o < COUT; o++) {
      f[o] /= HW;
      ss += (double)f[o] * f[o];
    }
    float inv = ss > 0 ? (float)(1 / sqrt(ss)) : 0;
    w->nrm[i] = ss > 0 ? (float)sqrt(ss) : 1;
    for (int o = 0; o < COUT; o++) w->Fn[(size_t)i * COUT + o] = f[o] * inv;
  }
}

/* Head h's logits (n x ncls) for the normalised features. */
static void logits(const net *t, int h, const work *w, int n, float *L) {
  int k = t->ncls[h];
  for (int i = 0; i < n; i++) memcpy(L + (size_t)i * k, t->hb[h], sizeof(float) * k);
  lk_linalg_sgemm('N', 'T', n, k, COUT, t->s, w->Fn, COUT, t->H[h], COUT, 1.0f, L, k);
}

/* Softmax cross-entropy of head h over labels y (-1 = none) into dL (mean over labelled,
 * times wt); returns the loss sum and counts the correct ones. */
static double softmax_ce(float *L, int n, int k, const int32_t *y, float wt, long *correct, long *cnt) {
  double loss = 0;
  long m = 0;
  for (int i = 0; i < n; i++) m += y[i] >= 0;
  for (int i = 0; i < n; i++) {
    float *l = L + (size_t)i * k;
    int best = 0;
    float mx = l[0];
    for (int j = 1; j < k; j++)
      if (l[j] > mx) mx = l[j], best = j;
    double z = 0;
    for (int j = 0; j < k; j++) z += exp(l[j] - mx);
    if (y[i] < 0) {
      memset(l, 0, sizeof(float) * k);
      continue;
    }
    (*cnt)++;
    *correct += best == y[i];
    loss += log(z) - (l[y[i]] - mx);
    for (int j = 0; j < k; j++) l[j] = (float)(exp(l[j] - mx) / z) * wt / (float)m;
    l[y[i]] -= wt / (float)m;
  }
  return loss;
}

typedef struct opt {
  adam aW, ab, aH[2], ahb[2];
} opt;

static void *zalloc(size_t n) { return calloc(n, 1); }

/* One step on the views idx[0..n): heads always, Conv_1 when train_conv. */
static double step(net *t, opt *o, const cache *c, const lk_tune_set *s, const long *idx, int n, work *w,
                   int train_conv, float lr_conv, float lr_head) {
  forward(t, c, idx, n, w);
  memset(w->dF, 0, sizeof(float) * (size_t)n * COUT);
  double loss = 0;
  int32_t y[512];
  for (int h = 0; h < t->nh; h++) {
    int k = t->ncls[h];
    for (int i = 0; i < n; i++) y[i] = s->y[(size_t)c->row[idx[i]] * s->nlabels + h];
    logits(t, h, w, n, w->L);
    long cor = 0, cnt = 0;
    loss += softmax_ce(w->L, n, k, y, h == 0 ? 1.0f : 0.5f, &cor, &cnt);
    /* head gradients: dH = s * dL^T Fn, dhb = sum dL; dFn += s * dL H */
    lk_linalg_sgemm('T', 'N', k, COUT, n, t->s, w->L, k, w->Fn, COUT, 0.0f, w->dH[h], COUT);
    memset(w->dhb[h], 0, sizeof(float) * k);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < k; j++) w->dhb[h][j] += w->L[(size_t)i * k + j];
    lk_linalg_sgemm('N', 'N', n, COUT, k, t->s, w->L, k, t->H[h], COUT, 1.0f, w->dF, COUT);
    adam_update(&o->aH[h], t->H[h], w->dH[h], (size_t)k * COUT, lr_head, 1e-4f);
    adam_update(&o->ahb[h], t->hb[h], w->dhb[h], (size_t)k, lr_head, 0);
  }
  if (!train_conv) return loss;
  /* through the normalisation: dF = (dFn - Fn (Fn . dFn)) / |F|, then the mean over 49 cells
   * and ReLU6 */
  for (int i = 0; i < n; i++) {
    float *fn = w->Fn + (size_t)i * COUT, *d = w->dF + (size_t)i * COUT;
    double dot = 0;
    for (int o2 = 0; o2 < COUT; o2++) dot += (double)fn[o2] * d[o2];
    for (int o2 = 0; o2 < COUT; o2++) d[o2] = (float)((d[o2] - fn[o2] * dot) / w->nrm[i] / HW);
    for (int p = 0; p < HW; p++) {
      const float *z = w->Z + ((size_t)i * HW + p) * COUT;
      float *dz = w->dZ + ((size_t)i * HW + p) * COUT;
      for (int o2 = 0; o2 < COUT; o2++) dz[o2] = z[o2] > 0 && z[o2] < 6 ? d[o2] : 0;
    }
  }
  lk_linalg_sgemm('T', 'N', COUT, CIN, (int64_t)n * HW, 1.0f, w->dZ, COUT, w->X, CIN, 0.0f, w->dW, CIN);
  memset(w->db, 0, sizeof(float) * COUT);
  for (long r = 0; r < (long)n * HW; r++)
    for (int o2 = 0; o2 < COUT; o2++) w->db[o2] += w->dZ[r * COUT + o2];
  adam_update(&o->aW, t->W, w->dW, (size_t)COUT * CIN, lr_conv, 0);
  adam_update(&o->ab, t->b, w->db, COUT, lr_conv, 0);
  return loss;
}

/* Held-out measures: head accuracy on studio and street-like test views; P@10 (articleType) of
 * the test products among their own studio photos, queried by studio (leave-one-out) and by
 * street-like views. */
static void evaluate(const net *t, const cache *c, const lk_tune_set *s, work *w, int bs, const char *tag) {
  long nst = 0, nsv = 0;
  for (long v = 0; v < c->n; v++)
    if (s->test[c->row[v]]) c->kind[v] == V_STUDIO ? nst++ : c->kind[v] == V_STREET ? nsv++ : 0;
  float *gal = malloc(sizeof(float) * (size_t)nst * COUT), *qry = malloc(sizeof(float) * (size_t)nsv * COUT);
  long *grow = malloc(sizeof(long) * (size_t)nst), *qrow = malloc(sizeof(long) * (size_t)nsv);
  long cor[2][2] = {{0}}, cnt[2][2] = {{0}}, gi = 0, qi = 0;
  long *idx = malloc(sizeof(long) * (size_t)bs);
  float *L = malloc(sizeof(float) * (size_t)bs * LK_TUNE_MAX_CLASSES);
  for (long v = 0; v < c->n;) {
    int n = 0;
    while (v < c->n && n < bs) {
      if (s->test[c->row[v]] && c->kind[v] != V_PLAIN) idx[n++] = v;
      v++;
    }
    if (!n) continue;
    forward(t, c, idx, n, w);
    for (int i = 0; i < n; i++) {
      int st = c->kind[idx[i]] == V_STUDIO;
      float *dst = st ? gal + (size_t)gi * COUT : qry + (size_t)qi * COUT;
      memcpy(dst, w->Fn + (size_t)i * COUT, sizeof(float) * COUT);
      if (st) grow[gi++] = c->row[idx[i]];
      else qrow[qi++] = c->row[idx[i]];
    }
    for (int h = 0; h < t->nh; h++) {
      int k = t->ncls[h];
      logits(t, h, w, n, L);
      for (int i = 0; i < n; i++) {
        int y = s->y[(size_t)c->row[idx[i]] * s->nlabels + h], st = c->kind[idx[i]] == V_STUDIO;
        if (y < 0) continue;
        int best = 0;
        for (int j = 1; j < k; j++)
          if (L[(size_t)i * k + j] > L[(size_t)i * k + best]) best = j;
        cnt[h][st]++;
        cor[h][st] += best == y;
      }
    }
  }
  /* P@10 by articleType against the studio gallery of the test products */
  double p10[2] = {0, 0};
  long np[2] = {0, 0};
  float *sim = malloc(sizeof(float) * 256 * (size_t)nst);
  for (int pass = 0; pass < 2; pass++) {
    long nq = pass ? qi : gi;
    const float *Q = pass ? qry : gal;
    const long *qr = pass ? qrow : grow;
    for (long q0 = 0; q0 < nq; q0 += 256) {
      int m = (int)(nq - q0 < 256 ? nq - q0 : 256);
      lk_linalg_sgemm('N', 'T', m, gi, COUT, 1.0f, Q + (size_t)q0 * COUT, COUT, gal, COUT, 0.0f, sim, gi);
      for (int i = 0; i < m; i++) {
        long self = qr[q0 + i];
        int yq = s->y[(size_t)self * s->nlabels];
        if (yq < 0) continue;
        lk_hit top[10];
        lk_topk tk = {.k = 10, .len = 0, .h = top};
        for (long g = 0; g < gi; g++)
          if (grow[g] != self) lk_topk_offer(&tk, grow[g], sim[(size_t)i * gi + g]); /* not itself */
        int nb = lk_topk_finish(&tk), hit = 0;
        for (int j = 0; j < nb; j++) hit += s->y[(size_t)top[j].id * s->nlabels] == yq;
        p10[pass] += hit / 10.0;
        np[pass]++;
      }
    }
  }
  printf("%-10s held-out accuracy articleType studio %.3f street-like %.3f | baseColour studio %.3f street-like %.3f"
         " | P@10 articleType studio->studio %.3f street-like->studio %.3f\n",
         tag, (double)cor[0][1] / (cnt[0][1] ? cnt[0][1] : 1), (double)cor[0][0] / (cnt[0][0] ? cnt[0][0] : 1),
         (double)cor[1][1] / (cnt[1][1] ? cnt[1][1] : 1), (double)cor[1][0] / (cnt[1][0] ? cnt[1][0] : 1),
         p10[0] / (np[0] ? np[0] : 1), p10[1] / (np[1] ? np[1] : 1));
  fflush(stdout);
  free(sim);
  free(gal);
  free(qry);
  free(grow);
  free(qrow);
  free(idx);
  free(L);
}

/* OUT.eN: Conv_1's weights after epoch N (W then b, float32), for bench/finetune_patch.py. */
static int save_weights(const net *t, const char *out, int epoch) {
  char path[4096];
  snprintf(path, sizeof path, "%s.e%d", out, epoch);
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(t->W, sizeof(float), COUT * CIN, f) == COUT * CIN && fwrite(t->b, sizeof(float), COUT, f) == COUT;
  if (f && fclose(f)) ok = 0;
  if (!ok) fprintf(stderr, "cannot write %s\n", path);
  return ok ? 0 : -1;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name)) return argv[i + 1];
  return def;
}

int main(int argc, char **argv) {
  const char *db = arg(argc, argv, "--db", NULL), *models = arg(argc, argv, "--models", "models");
  const char *cpath = arg(argc, argv, "--cache", NULL), *out = arg(argc, argv, "--out", NULL);
  int epochs = atoi(arg(argc, argv, "--epochs", "3")), threads = atoi(arg(argc, argv, "--threads", "2"));
  int street = atoi(arg(argc, argv, "--street-views", "2")), plain = atoi(arg(argc, argv, "--plain-views", "1"));
  int probe = atoi(arg(argc, argv, "--probe-epochs", "2"));
  float lr = (float)atof(arg(argc, argv, "--lr", "1e-4")), lr_head = (float)atof(arg(argc, argv, "--lr-head", "2e-3"));
  if (!db || !cpath) {
    fprintf(stderr, "usage: finetune --db CATALOG.db --models DIR --cache FILE [--epochs N] [--out W.bin]\n");
    return 2;
  }
  lk_errbuf err = {0};
  const char *fields[] = {"articleType", "baseColour"};
  lk_tune_set *s = NULL;
  if (lk_tune_load(db, fields, 2, HOLDOUT, &s, &err)) {
    fprintf(stderr, "%s: %s\n", db, err.msg);
    return 1;
  }
  long limit = atol(arg(argc, argv, "--limit", "0")); /* a quick check on the first rows only */
  if (limit > 0 && limit < s->n) s->n = limit;
  char mpath[4096];
  snprintf(mpath, sizeof mpath, "%s/mobilenet_v2_1.0_224_quant.tflite", models);
  lk_model *m = NULL;
  if (lk_model_load(mpath, &m, &err)) {
    fprintf(stderr, "%s: %s\n", mpath, err.msg);
    return 1;
  }
  /* Conv_1: the CONV_2D writing the 7x7x1280 map the recipe's average pool reads */
  int conv = -1;
  for (int i = 0; i < m->nops; i++)
    if (m->ops[i].code == LK_OP_CONV_2D && !strncmp(m->tensors[m->ops[i].out[0]].name, "MobilenetV2/Conv_1/", 19))
      conv = i;
  if (conv < 0) {
    fprintf(stderr, "no Conv_1 in %s\n", mpath);
    return 1;
  }
  const lk_nn_op *op = &m->ops[conv];
  const lk_nn_tensor *tin = &m->tensors[op->in[0]], *tw = &m->tensors[op->in[1]], *tb = &m->tensors[op->in[2]];
  if (tw->count != (size_t)COUT * CIN || tb->count != COUT || tin->count != (size_t)HW * CIN || tin->nq != 1) {
    fprintf(stderr, "Conv_1 is not 320 -> 1280 on 7x7\n");
    return 1;
  }
  printf("catalog %s: %ld items; Conv_1 input '%.60s...' scale %g zp %d\n", db, s->n, tin->name,
         (double)tin->scale[0], tin->zero_point[0]);

  cache c = {0};
  double t0 = now_s();
  if (access(cpath, R_OK) == 0) {
    if (cache_load(&c, cpath)) {
      fprintf(stderr, "%s: not a cache of this tool\n", cpath);
      return 1;
    }
  } else {
    long *first = malloc(sizeof(long) * (size_t)s->n);
    c.n = 0;
    for (long r = 0; r < s->n; r++) {
      first[r] = c.n;
      c.n += s->test[r] ? 2 : 1 + street + plain;
    }
    c.scale = tin->scale[0];
    c.zp = tin->zero_point[0];
    if (cache_alloc(&c)) {
      fprintf(stderr, "out of memory for %ld views\n", c.n);
      return 1;
    }
    memset(c.kind, 255, (size_t)c.n); /* 255: not made (unreadable photo) */
    job j = {.s = s, .m = m, .tap = tin->name, .street = street, .plain = plain, .c = &c, .first = first};
    pthread_mutex_init(&j.lock, NULL);
    pthread_t th[16];
    if (threads < 1 || threads > 16) threads = 2;
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, extract_worker, &j);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    if (j.rc) return 1;
    /* drop views never made */
    long k = 0;
    for (long v = 0; v < c.n; v++) {
      if (c.kind[v] == 255) continue;
      if (k != v) {
        c.row[k] = c.row[v];
        c.kind[k] = c.kind[v];
        memcpy(c.q + (size_t)k * HW * CIN, c.q + (size_t)v * HW * CIN, (size_t)HW * CIN);
      }
      k++;
    }
    c.n = k;
    free(first);
    if (cache_save(&c, cpath)) fprintf(stderr, "warning: could not save the cache at %s\n", cpath);
  }
  long ntrain = 0;
  for (long v = 0; v < c.n; v++) ntrain += !s->test[c.row[v]];
  printf("cache: %ld views (%ld of training products), %.0f s\n", c.n, ntrain, now_s() - t0);

  net t = {.nh = 2, .s = 16.0f};
  t.W = malloc(sizeof(float) * COUT * CIN);
  t.b = malloc(sizeof(float) * COUT);
  memcpy(t.W, tw->data, sizeof(float) * COUT * CIN);
  memcpy(t.b, tb->data, sizeof(float) * COUT);
  uint64_t rs = 12345;
  opt o = {0};
  o.aW = (adam){zalloc(sizeof(float) * COUT * CIN), zalloc(sizeof(float) * COUT * CIN), 0};
  o.ab = (adam){zalloc(sizeof(float) * COUT), zalloc(sizeof(float) * COUT), 0};
  for (int h = 0; h < 2; h++) {
    int k = t.ncls[h] = s->nclass[h];
    t.H[h] = malloc(sizeof(float) * (size_t)k * COUT);
    t.hb[h] = zalloc(sizeof(float) * (size_t)k);
    for (size_t i = 0; i < (size_t)k * COUT; i++) t.H[h][i] = (float)lk_rng_gauss(&rs) * 0.03f;
    o.aH[h] = (adam){zalloc(sizeof(float) * (size_t)k * COUT), zalloc(sizeof(float) * (size_t)k * COUT), 0};
    o.ahb[h] = (adam){zalloc(sizeof(float) * (size_t)k), zalloc(sizeof(float) * (size_t)k), 0};
  }
  int bs = 64;
  work w = {0};
  w.X = malloc(sizeof(float) * (size_t)bs * HW * CIN);
  w.Z = malloc(sizeof(float) * (size_t)bs * HW * COUT);
  w.dZ = malloc(sizeof(float) * (size_t)bs * HW * COUT);
  w.F = malloc(sizeof(float) * (size_t)bs * COUT);
  w.Fn = malloc(sizeof(float) * (size_t)bs * COUT);
  w.dF = malloc(sizeof(float) * (size_t)bs * COUT);
  w.nrm = malloc(sizeof(float) * (size_t)bs);
  w.L = malloc(sizeof(float) * (size_t)bs * LK_TUNE_MAX_CLASSES);
  w.dW = malloc(sizeof(float) * COUT * CIN);
  w.db = malloc(sizeof(float) * COUT);
  for (int h = 0; h < 2; h++) {
    w.dH[h] = malloc(sizeof(float) * (size_t)t.ncls[h] * COUT);
    w.dhb[h] = malloc(sizeof(float) * (size_t)t.ncls[h]);
  }
  long *order = malloc(sizeof(long) * (size_t)ntrain);
  long k = 0;
  for (long v = 0; v < c.n; v++)
    if (!s->test[c.row[v]]) order[k++] = v;
  if (out && save_weights(&t, out, 0)) return 1; /* OUT.e0: the network's own weights */
  evaluate(&t, &c, s, &w, bs, "frozen");
  for (int e = 0; e < probe + epochs; e++) {
    int conv_on = e >= probe;
    double te = now_s(), loss = 0;
    for (long i = ntrain - 1; i > 0; i--) { /* shuffle */
      long j = (long)(lk_rng_next(&rs) % (uint64_t)(i + 1)), tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
    for (long i = 0; i + bs <= ntrain; i += bs)
      loss += step(&t, &o, &c, s, order + i, bs, &w, conv_on, lr, lr_head);
    char tag[32];
    snprintf(tag, sizeof tag, "%s %d", conv_on ? "tuned" : "probe", conv_on ? e - probe + 1 : e + 1);
    printf("epoch %d (%s): loss %.3f, %.0f s\n", e + 1, conv_on ? "Conv_1 + heads" : "heads only, Conv_1 frozen",
           loss / (double)ntrain, now_s() - te);
    evaluate(&t, &c, s, &w, bs, tag);
    if (out && conv_on && save_weights(&t, out, e - probe + 1)) return 1;
  }
  double dw = 0, nw = 0;
  for (size_t i = 0; i < (size_t)COUT * CIN; i++) {
    dw += (double)(t.W[i] - tw->data[i]) * (t.W[i] - tw->data[i]);
    nw += (double)tw->data[i] * tw->data[i];
  }
  printf("Conv_1 weights moved by %.4f of their norm\n", sqrt(dw / nw));
  lk_model_free(m);
  lk_tune_set_free(s);
  return 0;
}
