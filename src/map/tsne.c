/* map/tsne.c — Barnes-Hut t-SNE and the exact kNN it starts from. Input affinities are
 * sparse (3*perplexity neighbours, symmetrised), the attractive forces walk that sparse
 * matrix and the repulsive ones a quadtree rebuilt every iteration. See map/tsne.h. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map/tsne.h"
#include "util/array.h"
#include "util/linalg.h"
#include "util/rng.h"
#include "util/size.h"

void lk_tsne_opts_default(lk_tsne_opts *o) {
  memset(o, 0, sizeof *o);
  o->perplexity = 30;
  o->iters = 1000;
  o->theta = 0.5;
  o->exaggeration = 12;
  o->threads = 0;
}

/* ---- exact kNN: a max-heap of k per query over blocked dot products ---- */

static void heap_push(float *hd, int32_t *hi, int *len, int k, float d, int32_t idx) {
  if (*len < k) { /* sift up */
    int c = (*len)++;
    while (c > 0) {
      int p = (c - 1) / 2;
      if (hd[p] >= d) break;
      hd[c] = hd[p];
      hi[c] = hi[p];
      c = p;
    }
    hd[c] = d;
    hi[c] = idx;
    return;
  }
  if (d >= hd[0]) return;
  int c = 0; /* replace the root, sift down */
  for (;;) {
    int l = 2 * c + 1, r = l + 1, m = c;
    float md = d;
    if (l < k && hd[l] > md) { m = l; md = hd[l]; }
    if (r < k && hd[r] > md) { m = r; md = hd[r]; }
    if (m == c) break;
    hd[c] = hd[m];
    hi[c] = hi[m];
    c = m;
  }
  hd[c] = d;
  hi[c] = idx;
}

int lk_map_knn(const float *x, size_t n, int d, const size_t *query, size_t nq, int k, int32_t *nn,
               float *dist, lk_errbuf *err) {
  if (!x || !nn || d <= 0 || k <= 0 || (size_t)k >= n || n > INT32_MAX)
    return lk_err_set(err, LK_EINVAL, "knn: bad arguments (n=%zu k=%d)", n, k);
  if (!query) nq = n;
  if (nq == 0) return 0;
  const size_t B = 256;
  size_t gsz;
  if (lk_size_mul(B, n, &gsz)) return lk_err_set(err, LK_ETOOBIG, "knn: too many rows");
  float *norm = malloc(n * sizeof *norm), *g = malloc(gsz * sizeof *g);
  float *qb = malloc(B * (size_t)d * sizeof *qb), *hd = malloc((size_t)k * sizeof *hd);
  int32_t *hi = malloc((size_t)k * sizeof *hi);
  int rc = 0;
  if (!norm || !g || !qb || !hd || !hi) {
    rc = lk_err_set(err, LK_ENOMEM, "knn: out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
    norm[i] = (float)s;
  }
  for (size_t b0 = 0; b0 < nq; b0 += B) {
    size_t nb = nq - b0 < B ? nq - b0 : B;
    for (size_t t = 0; t < nb; t++) {
      size_t qi = query ? query[b0 + t] : b0 + t;
      memcpy(qb + t * d, x + qi * d, (size_t)d * sizeof *qb);
    }
    if ((rc = lk_linalg_sgemm('N', 'T', (int64_t)nb, (int64_t)n, d, 1.f, qb, d, x, d, 0.f, g, (int64_t)n))) {
      rc = lk_err_set(err, rc, "knn: sgemm failed");
      goto done;
    }
    for (size_t t = 0; t < nb; t++) {
      size_t qi = query ? query[b0 + t] : b0 + t;
      const float *row = g + t * n;
      float qn = norm[qi];
      int len = 0;
      for (size_t j = 0; j < n; j++) {
        if (j == qi) continue;
        float dd = qn + norm[j] - 2 * row[j];
        if (dd < 0) dd = 0;
        heap_push(hd, hi, &len, k, dd, (int32_t)j);
      }
      /* pop the heap into ascending order */
      int32_t *on = nn + (b0 + t) * (size_t)k;
      float *od = dist ? dist + (b0 + t) * (size_t)k : NULL;
      for (int e = len - 1; e >= 0; e--) {
        on[e] = hi[0];
        if (od) od[e] = hd[0];
        float ld = hd[len - 1];
        int32_t li = hi[len - 1];
        len--;
        int c = 0;
        for (;;) {
          int l = 2 * c + 1, r = l + 1, m = c;
          float md = ld;
          if (l < len && hd[l] > md) { m = l; md = hd[l]; }
          if (r < len && hd[r] > md) { m = r; md = hd[r]; }
          if (m == c) break;
          hd[c] = hd[m];
          hi[c] = hi[m];
          c = m;
        }
        if (len > 0) {
          hd[c] = ld;
          hi[c] = li;
        }
      }
    }
  }
done:
  free(norm);
  free(g);
  free(qb);
  free(hd);
  free(hi);
  return rc;
}

int lk_map_neighbour_agreement(const float *x, size_t n, int d, const int *labels,
                               const size_t *query, size_t nq, int k, double *share,
                               lk_errbuf *err) {
  if (!labels || !share) return lk_err_set(err, LK_EINVAL, "agreement: bad arguments");
  if (!query) nq = n;
  size_t cnt;
  if (lk_size_mul(nq, (size_t)k, &cnt)) return lk_err_set(err, LK_ETOOBIG, "agreement: too many");
  int32_t *nn = malloc((cnt ? cnt : 1) * sizeof *nn);
  if (!nn) return lk_err_set(err, LK_ENOMEM, "agreement: out of memory");
  int rc = lk_map_knn(x, n, d, query, nq, k, nn, NULL, err);
  if (!rc) {
    size_t same = 0, total = 0;
    for (size_t t = 0; t < nq; t++) {
      size_t qi = query ? query[t] : t;
      if (labels[qi] < 0) continue;
      for (int e = 0; e < k; e++) same += labels[nn[t * k + e]] == labels[qi];
      total += (size_t)k;
    }
    *share = total ? (double)same / (double)total : 0;
  }
  free(nn);
  return rc;
}

/* ---- input affinities ---- */

/* Row i's conditional P(j|i) over its k neighbours with squared distances dist, by binary
 * search on beta = 1/(2 sigma^2) for the wanted entropy log(perplexity). */
static void row_affinity(const float *dist, int k, double perplexity, float *p) {
  double beta = 1, lo = -1, hi = -1, target = log(perplexity);
  double dmin = dist[0];
  for (int t = 0; t < 200; t++) {
    double sum = 0, hsum = 0;
    for (int j = 0; j < k; j++) {
      double v = exp(-beta * (dist[j] - dmin));
      p[j] = (float)v;
      sum += v;
      hsum += v * (dist[j] - dmin);
    }
    double h = log(sum) + beta * hsum / sum;
    for (int j = 0; j < k; j++) p[j] = (float)(p[j] / sum);
    if (fabs(h - target) < 1e-5) break;
    if (h > target) { /* too flat: raise beta */
      lo = beta;
      beta = hi < 0 ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = lo < 0 ? beta / 2 : (beta + lo) / 2;
    }
  }
}

typedef struct edge {
  int32_t col;
  float val;
} edge;

static int edge_cmp(const void *a, const void *b) {
  const edge *x = a, *y = b;
  return (x->col > y->col) - (x->col < y->col);
}

/* Symmetric P in CSR form (rowptr n+1, edges), summing to 1. */
static int build_p(const float *x, size_t n, int d, double perplexity, size_t **rowptr_out,
                   edge **edges_out, lk_errbuf *err) {
  int k = (int)(3 * perplexity);
  if ((size_t)k > n - 1) k = (int)(n - 1);
  if (k < 1) k = 1;
  size_t nk, nk2;
  if (lk_size_mul(n, (size_t)k, &nk) || lk_size_mul(nk, 2 * sizeof(edge), &nk2))
    return lk_err_set(err, LK_ETOOBIG, "tsne: too many rows");
  int32_t *nn = malloc(nk * sizeof *nn);
  float *dist = malloc(nk * sizeof *dist), *pc = malloc(nk * sizeof *pc);
  size_t *cnt = calloc(n + 1, sizeof *cnt), *fill = calloc(n, sizeof *fill);
  edge *e = malloc(nk2);
  int rc = 0;
  if (!nn || !dist || !pc || !cnt || !fill || !e) {
    rc = lk_err_set(err, LK_ENOMEM, "tsne: out of memory");
    goto fail;
  }
  if ((rc = lk_map_knn(x, n, d, NULL, n, k, nn, dist, err))) goto fail;
  for (size_t i = 0; i < n; i++) row_affinity(dist + i * k, k, perplexity, pc + i * k);
  for (size_t i = 0; i < n; i++)
    for (int t = 0; t < k; t++) {
      cnt[i + 1]++;
      cnt[(size_t)nn[i * k + t] + 1]++;
    }
  for (size_t i = 0; i < n; i++) cnt[i + 1] += cnt[i];
  for (size_t i = 0; i < n; i++)
    for (int t = 0; t < k; t++) {
      size_t j = (size_t)nn[i * k + t];
      e[cnt[i] + fill[i]++] = (edge){(int32_t)j, pc[i * k + t]};
      e[cnt[j] + fill[j]++] = (edge){(int32_t)i, pc[i * k + t]};
    }
  /* sort each row by column, merge duplicates, compact in place */
  size_t w = 0;
  double total = 0;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    size_t a = cnt[i], b = cnt[i + 1];
    if (b > a) qsort(e + a, b - a, sizeof *e, edge_cmp);
    cnt[i] = start;
    for (size_t t = a; t < b; t++) {
      if (w > start && e[w - 1].col == e[t].col) e[w - 1].val += e[t].val;
      else e[w++] = e[t];
      total += e[t].val;
    }
    start = w;
  }
  cnt[n] = w;
  for (size_t t = 0; t < w; t++) e[t].val = (float)(e[t].val / total);
  free(nn);
  free(dist);
  free(pc);
  free(fill);
  *rowptr_out = cnt;
  *edges_out = e;
  return 0;
fail:
  free(nn);
  free(dist);
  free(pc);
  free(cnt);
  free(fill);
  free(e);
  return rc;
}

/* ---- quadtree ---- */

typedef struct qnode {
  double cx, cy, hw;     /* cell centre and half width */
  double mx, my;         /* sum of positions (centre of mass * count) */
  int32_t count;
  int32_t child;         /* first of 4 children, or -1 for a leaf */
  int32_t point;         /* a leaf's point, -1 when empty */
} qnode;

typedef struct qtree {
  qnode *nodes;
  size_t len, cap;
} qtree;

static int32_t qt_new(qtree *t, double cx, double cy, double hw) {
  if (LK_ARRAY_RESERVE(t->nodes, t->cap, t->len + 1, 1024)) return -1;
  t->nodes[t->len] = (qnode){cx, cy, hw, 0, 0, 0, -1, -1};
  return (int32_t)t->len++;
}

static int qt_insert(qtree *t, const float *y, int32_t p) {
  int32_t cur = 0;
  double px = y[2 * (size_t)p], py = y[2 * (size_t)p + 1];
  for (int depth = 0;; depth++) {
    qnode *nd = &t->nodes[cur];
    nd->mx += px;
    nd->my += py;
    nd->count++;
    if (nd->child < 0) {
      if (nd->count == 1) {
        nd->point = p;
        return 0;
      }
      if (depth > 40) return 0; /* coincident points stay together in one leaf */
      /* split: push the old point down */
      double cx = nd->cx, cy = nd->cy, h = nd->hw / 2;
      int32_t old = nd->point;
      int32_t c0 = qt_new(t, cx - h, cy - h, h);
      if (c0 < 0) return LK_ENOMEM;
      if (qt_new(t, cx + h, cy - h, h) < 0 || qt_new(t, cx - h, cy + h, h) < 0 || qt_new(t, cx + h, cy + h, h) < 0)
        return LK_ENOMEM;
      nd = &t->nodes[cur];
      nd->child = c0;
      nd->point = -1;
      double ox = y[2 * (size_t)old], oy = y[2 * (size_t)old + 1];
      int32_t oc = c0 + (ox >= cx) + 2 * (oy >= cy);
      qnode *on = &t->nodes[oc];
      on->mx += ox;
      on->my += oy;
      on->count = 1;
      on->point = old;
    }
    cur = nd->child + (px >= nd->cx) + 2 * (py >= nd->cy);
  }
}

static int qt_build(qtree *t, const float *y, size_t n) {
  double minx = y[0], maxx = y[0], miny = y[1], maxy = y[1];
  for (size_t i = 1; i < n; i++) {
    if (y[2 * i] < minx) minx = y[2 * i];
    if (y[2 * i] > maxx) maxx = y[2 * i];
    if (y[2 * i + 1] < miny) miny = y[2 * i + 1];
    if (y[2 * i + 1] > maxy) maxy = y[2 * i + 1];
  }
  double hw = fmax(maxx - minx, maxy - miny) / 2 * 1.0001 + 1e-9;
  t->len = 0;
  if (qt_new(t, (minx + maxx) / 2, (miny + maxy) / 2, hw) < 0) return LK_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (qt_insert(t, y, (int32_t)i)) return LK_ENOMEM;
  return 0;
}

/* Repulsive force on (px, py) from the tree; adds q^2 * diff to f and q to *z. */
static void qt_repulse(const qtree *t, int32_t node, double px, double py, double theta2,
                       double *fx, double *fy, double *z) {
  const qnode *nd = &t->nodes[node];
  if (nd->count == 0) return;
  double cmx = nd->mx / nd->count, cmy = nd->my / nd->count;
  double dx = px - cmx, dy = py - cmy, d2 = dx * dx + dy * dy;
  double side = 2 * nd->hw;
  if (nd->child < 0 || side * side < theta2 * d2) {
    double m = nd->count;
    if (d2 < 1e-20) { /* the point itself (and any coincident ones) */
      if (nd->child < 0) *z += m - 1;
      return;
    }
    double q = 1 / (1 + d2);
    *z += m * q;
    *fx += m * q * q * dx;
    *fy += m * q * q * dy;
    return;
  }
  for (int c = 0; c < 4; c++) qt_repulse(t, nd->child + c, px, py, theta2, fx, fy, z);
}

/* One iteration's forces, in NCHUNK fixed chunks of points handed out to threads. */
#define NCHUNK 64

typedef struct forces {
  const qtree *tree;
  const float *y;
  const size_t *rowptr;
  const edge *e;
  size_t n;
  double theta2;
  double *rep, *attr;    /* 2n each */
  double zpart[NCHUNK];  /* sum of q per chunk */
  atomic_int next;
} forces;

static void *force_worker(void *arg) {
  forces *f = arg;
  for (;;) {
    int c = atomic_fetch_add(&f->next, 1);
    if (c >= NCHUNK) break;
    size_t lo = f->n * (size_t)c / NCHUNK, hi = f->n * (size_t)(c + 1) / NCHUNK;
    double z = 0;
    for (size_t i = lo; i < hi; i++) {
      double fx = 0, fy = 0, yix = f->y[2 * i], yiy = f->y[2 * i + 1];
      qt_repulse(f->tree, 0, yix, yiy, f->theta2, &fx, &fy, &z);
      f->rep[2 * i] = fx;
      f->rep[2 * i + 1] = fy;
      double ax = 0, ay = 0;
      for (size_t t = f->rowptr[i]; t < f->rowptr[i + 1]; t++) {
        size_t j = (size_t)f->e[t].col;
        double dx = yix - f->y[2 * j], dy = yiy - f->y[2 * j + 1];
        double q = f->e[t].val / (1 + dx * dx + dy * dy);
        ax += q * dx;
        ay += q * dy;
      }
      f->attr[2 * i] = ax;
      f->attr[2 * i + 1] = ay;
    }
    f->zpart[c] = z;
  }
  return NULL;
}

/* Fills rep, attr and returns Z (the sum of q over all pairs), with nthreads threads. */
static double compute_forces(forces *f, int nthreads) {
  pthread_t th[16];
  int started = 0;
  atomic_store(&f->next, 0);
  for (int t = 1; t < nthreads && t < 16; t++)
    if (!pthread_create(&th[started], NULL, force_worker, f)) started++;
  force_worker(f); /* the calling thread works too; it finishes whatever is left */
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  double z = 0;
  for (int c = 0; c < NCHUNK; c++) z += f->zpart[c];
  return z;
}

int lk_tsne_run(const float *x, size_t n, int d, const lk_tsne_opts *o, float *y, lk_errbuf *err) {
  lk_tsne_opts def;
  if (!o) {
    lk_tsne_opts_default(&def);
    o = &def;
  }
  if (!x || !y || n < 2 || d <= 0 || n > INT32_MAX / 4 || o->iters < 0 || o->perplexity <= 0)
    return lk_err_set(err, LK_EINVAL, "tsne: bad arguments (n=%zu)", n);
  double perp = o->perplexity;
  if (3 * perp > (double)(n - 1)) perp = (double)(n - 1) / 3;
  if (perp < 1) perp = 1;
  size_t *rowptr = NULL;
  edge *e = NULL;
  int rc = build_p(x, n, d, perp, &rowptr, &e, err);
  if (rc) return rc;
  double *grad = malloc(2 * n * sizeof *grad), *upd = calloc(2 * n, sizeof *upd);
  double *gains = malloc(2 * n * sizeof *gains), *rep = malloc(2 * n * sizeof *rep);
  double *attr = malloc(2 * n * sizeof *attr);
  qtree tree = {0};
  if (!grad || !upd || !gains || !rep || !attr) {
    rc = lk_err_set(err, LK_ENOMEM, "tsne: out of memory");
    goto done;
  }
  uint64_t s = o->seed ^ 0x7D5Eull;
  for (size_t i = 0; i < 2 * n; i++) {
    y[i] = (float)(1e-4 * lk_rng_gauss(&s));
    gains[i] = 1;
  }
  double exag = o->exaggeration > 0 ? o->exaggeration : 1;
  double eta = o->learning_rate > 0 ? o->learning_rate : fmax(200, (double)n / exag);
  double theta2 = o->theta * o->theta;
  int stop_exag = o->iters < 250 ? o->iters / 4 : 250;
  int nthreads = o->threads;
  if (nthreads <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
  }
  if (nthreads > 16) nthreads = 16;
  for (int it = 0; it < o->iters; it++) {
    double ex = it < stop_exag ? exag : 1, mom = it < stop_exag ? 0.5 : 0.8;
    if (qt_build(&tree, y, n)) {
      rc = lk_err_set(err, LK_ENOMEM, "tsne: out of memory (quadtree)");
      goto done;
    }
    forces fc = {.tree = &tree, .y = y, .rowptr = rowptr, .e = e, .n = n, .theta2 = theta2, .rep = rep, .attr = attr};
    double z = compute_forces(&fc, nthreads);
    if (z < 1e-300) z = 1e-300;
    for (size_t i = 0; i < 2 * n; i++) grad[i] = 4 * (ex * attr[i] - rep[i] / z);
    double mx = 0, my = 0;
    for (size_t i = 0; i < 2 * n; i++) {
      gains[i] = (grad[i] > 0) != (upd[i] > 0) ? gains[i] + 0.2 : gains[i] * 0.8;
      if (gains[i] < 0.01) gains[i] = 0.01;
      upd[i] = mom * upd[i] - eta * gains[i] * grad[i];
      y[i] = (float)(y[i] + upd[i]);
    }
    for (size_t i = 0; i < n; i++) {
      mx += y[2 * i];
      my += y[2 * i + 1];
    }
    mx /= (double)n;
    my /= (double)n;
    for (size_t i = 0; i < n; i++) {
      y[2 * i] = (float)(y[2 * i] - mx);
      y[2 * i + 1] = (float)(y[2 * i + 1] - my);
    }
    if (o->progress && ((it + 1) % 10 == 0 || it + 1 == o->iters) &&
        o->progress(o->progress_ctx, it + 1, o->iters)) {
      rc = lk_err_set(err, LK_EINTR, "tsne: interrupted");
      goto done;
    }
  }
done:
  free(rowptr);
  free(e);
  free(grad);
  free(upd);
  free(gains);
  free(rep);
  free(attr);
  free(tree.nodes);
  return rc;
}
