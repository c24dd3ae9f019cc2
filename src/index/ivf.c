/* index/ivf.c — IVF index with int8 coarse and fine codes (see ivf.h). Training: fine basis
 * from the rows' second moments, coarse basis inside the fine space (coarse-only: from the
 * rows), k-means (sgemm assignment) in the coarse space. Per item: id, list, fine code
 * (residual to the list's fine-space mean; none when coarse-only) and, inside its list, the
 * coarse code (residual to the centroid) and the filter columns. */
#include "index/ivf.h"

#include <malloc.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "index/quant.h"
#include "index/truth.h"
#include "util/array.h"
#include "util/lazy.h"
#include "util/linalg.h"
#include "util/size.h"
#include "util/rng.h"

#define MAX_DIM (1 << 16)
#define CHUNK 1024 /* rows projected per sgemm */

typedef struct ivf_list {
  size_t len, cap;
  uint32_t *rows;  /* item rows */
  int8_t *codes;   /* len x pcl coarse residual codes */
  float *scale;
  int32_t *sum;
  uint8_t *cols[LK_IVF_MAX_COLS]; /* ncols arrays of len values, in list order */
  int mapped; /* the arrays point into a saved file (lk_ivf_load_mapped): copied before growing */
} ivf_list;

struct lk_ivf {
  int dim, pf, pc, pfl, pcl, nlist, nprobe, rerank, ncols;
  float recall; /* mean recall@k measured at nprobe (lk_ivf_tune_nprobe), or -1 */
  float *bf;    /* dim x pf fine basis (transposed, index/quant.h); NULL when coarse-only */
  float *wc;    /* pf x pc coarse basis inside the fine space (dim x pc when coarse-only) */
  float *cent;  /* nlist x pc centroids */
  float *fmean; /* nlist x pf fine-space list means */
  float *chn;   /* nlist: |centroid|^2 / 2 */
  /* nlist x pcl int8 codes of the centroids (derived from cent, not saved): a search ranks
   * the lists with them, a quarter of the float centroids' bytes (at 10M, 4,743 lists: 0.6 MB
   * instead of 2.4 MB read per query) */
  int8_t *ccode;
  float *cscale;
  int32_t *csum;
  int refine;   /* > 0: re-score this many best fine-code hits with float vectors from fn */
  lk_ivf_vector_fn fn;
  void *fn_ctx;
  size_t n, cap;
  int64_t *ids;
  uint32_t *rlist; /* row -> list (NULL when coarse-only, as the fine arrays) */
  int8_t *fcode;   /* n x pfl */
  float *fscale;
  int32_t *fsum;
  ivf_list *lists;
  int mapped;     /* ids and the fine arrays point into a saved file, as a list's may */
  uint64_t *pres; /* nlist x ncols x 4: bit b set when the list holds a row of value b */
  /* lk_ivf_load_lazy: each list's checks (its rows, its codes' sums) and each FCHUNK rows'
   * fine codes' sums run when a search first reads them: 0 unchecked, 1 good, 2 damaged
   * (atomic bytes); NULL: all checked at load */
  uint8_t *lok, *fok;
  const lk_lkx *x; /* with lok: the file, whose lk_ivf_lazy_sections are checked as read */
};

#define FCHUNK 32 /* rows of fine codes checked at once (14 KB at 446-d: about one file chunk) */

void lk_ivf_opts_default(lk_ivf_opts *o) {
  memset(o, 0, sizeof *o);
  o->fine_dims = 768;
  o->coarse_dims = 128;
  o->kmeans_iter = 10;
  o->nprobe = 48;
  o->rerank = 400;
  o->seed = 1;
  o->ncols = 0;
}

void lk_ivf_free(lk_ivf *v) {
  if (!v) return;
  free(v->bf);
  free(v->wc);
  free(v->cent);
  free(v->fmean);
  free(v->chn);
  free(v->ccode);
  free(v->cscale);
  free(v->csum);
  free(v->lok);
  free(v->fok);
  if (!v->mapped) {
    free(v->ids);
    free(v->rlist);
    free(v->fcode);
    free(v->fscale);
    free(v->fsum);
  }
  if (v->lists)
    for (int l = 0; l < v->nlist; l++) {
      if (v->lists[l].mapped) continue;
      free(v->lists[l].rows);
      free(v->lists[l].codes);
      free(v->lists[l].scale);
      free(v->lists[l].sum);
      for (int c = 0; c < v->ncols; c++) free(v->lists[l].cols[c]);
    }
  free(v->lists);
  free(v->pres);
  free(v);
}

size_t lk_ivf_size(const lk_ivf *v) { return v ? v->n : 0; }

size_t lk_ivf_memory(const lk_ivf *v) {
  if (!v) return 0;
  size_t in = v->pf ? (size_t)v->pf : (size_t)v->dim; /* the coarse basis's input space */
  size_t b = sizeof *v + sizeof(float) * ((size_t)v->dim * v->pf + in * v->pc +
                                          (size_t)v->nlist * (v->pc + v->pf + 1));
  b += v->cap * sizeof(int64_t);
  if (v->pf) b += v->cap * (sizeof(uint32_t) + (size_t)v->pfl + sizeof(float) + sizeof(int32_t));
  b += (size_t)v->nlist * (size_t)v->ncols * 4 * sizeof(uint64_t);
  b += (size_t)v->nlist * ((size_t)v->pcl + sizeof(float) + sizeof(int32_t)); /* centroid codes */
  for (int l = 0; l < v->nlist; l++)
    b += sizeof(ivf_list) +
         v->lists[l].cap * (sizeof(uint32_t) + (size_t)v->pcl + sizeof(float) + sizeof(int32_t) + (size_t)v->ncols);
  return b;
}


static float dotf(const float *a, const float *b, int n) {
  float s[8] = {0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; u++) s[u] += a[j + u] * b[j + u];
  float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; j < n; j++) t += a[j] * b[j];
  return t;
}

/* Nearest centroid (largest <x,c> - |c|^2/2) of m rows of xc (m x pc) into lab; g is scratch
 * of m x nlist floats, half_norm the centroids' |c|^2/2. */
static int assign(const lk_ivf *v, const float *xc, size_t m, const float *half_norm, float *g,
                  uint32_t *lab) {
  int rc = lk_linalg_sgemm('N', 'T', (int64_t)m, v->nlist, v->pc, 1.0f, xc, v->pc, v->cent, v->pc, 0.0f, g, v->nlist);
  if (rc) return rc;
  for (size_t i = 0; i < m; i++) {
    const float *gi = g + i * (size_t)v->nlist;
    /* the first largest: the best block of 64 by its maximum (8 lanes, vectorised), then the
     * first list of that block reaching it (3x the plain scan at 4,743 lists) */
    float bs = -INFINITY;
    int b0 = 0, n = v->nlist;
    for (int l0 = 0; l0 < n; l0 += 64) {
      int e = n - l0 < 64 ? n - l0 : 64, j = 0;
      float mx[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
      for (; j + 8 <= e; j += 8)
        for (int u = 0; u < 8; u++) {
          float s = gi[l0 + j + u] - half_norm[l0 + j + u];
          mx[u] = s > mx[u] ? s : mx[u];
        }
      for (; j < e; j++) {
        float s = gi[l0 + j] - half_norm[l0 + j];
        mx[0] = s > mx[0] ? s : mx[0];
      }
      for (int u = 1; u < 8; u++) mx[0] = mx[u] > mx[0] ? mx[u] : mx[0];
      if (mx[0] > bs) {
        bs = mx[0];
        b0 = l0;
      }
    }
    int best = b0;
    while (best < n - 1 && gi[best] - half_norm[best] != bs) best++;
    lab[i] = (uint32_t)best;
  }
  return 0;
}

/* The centroids' int8 codes (ccode, cscale, csum) from cent. */
static int cent_codes(lk_ivf *v) {
  v->ccode = malloc((size_t)v->nlist * (size_t)v->pcl);
  v->cscale = malloc(sizeof(float) * (size_t)v->nlist);
  v->csum = malloc(sizeof(int32_t) * (size_t)v->nlist);
  if (!v->ccode || !v->cscale || !v->csum) return LK_ENOMEM;
  for (int l = 0; l < v->nlist; l++)
    lk_quant_encode(v->cent + (size_t)l * v->pc, v->pc, v->ccode + (size_t)l * v->pcl, &v->cscale[l], &v->csum[l]);
  return 0;
}

static void half_norms(const lk_ivf *v, float *hn) {
  for (int l = 0; l < v->nlist; l++) {
    const float *c = v->cent + (size_t)l * v->pc;
    hn[l] = 0.5f * dotf(c, c, v->pc);
  }
}

/* Projects m rows of x into fine (m x pf) and coarse (m x pc) coordinates. */
static int project(const lk_ivf *v, const float *x, size_t m, float *xf, float *xc) {
  if (!v->pf) return lk_quant_project_rows(v->wc, v->dim, v->pc, x, m, xc);
  int rc = lk_quant_project_rows(v->bf, v->dim, v->pf, x, m, xf);
  if (!rc) rc = lk_quant_project_rows(v->wc, v->pf, v->pc, xf, m, xc);
  return rc;
}

static int kmeans(lk_ivf *v, const float *xc, size_t n, int iters, uint64_t seed) {
  size_t gb;
  if (lk_size_mul3(CHUNK, (size_t)v->nlist, sizeof(float), &gb)) return LK_ETOOBIG;
  float *g = malloc(gb), *hn = malloc(sizeof(float) * (size_t)v->nlist);
  double *acc = malloc(sizeof(double) * (size_t)v->nlist * v->pc);
  size_t *cnt = malloc(sizeof(size_t) * (size_t)v->nlist);
  uint32_t *lab = malloc(sizeof(uint32_t) * n);
  int rc = g && hn && acc && cnt && lab ? 0 : LK_ENOMEM;
  uint64_t s = seed ^ 0x6b6d65616e73ULL;
  /* start: nlist distinct rows (a partial Fisher-Yates over row numbers) */
  size_t *perm = rc ? NULL : malloc(sizeof(size_t) * n);
  if (!rc && !perm) rc = LK_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) perm[i] = i;
  for (int l = 0; !rc && l < v->nlist; l++) {
    size_t j = (size_t)l + (size_t)(lk_rng_next(&s) % (n - (size_t)l)), t = perm[l];
    perm[l] = perm[j];
    perm[j] = t;
    memcpy(v->cent + (size_t)l * v->pc, xc + perm[l] * (size_t)v->pc, sizeof(float) * (size_t)v->pc);
  }
  free(perm);
  for (int it = 0; !rc && it < iters; it++) {
    half_norms(v, hn);
    for (size_t r0 = 0; !rc && r0 < n; r0 += CHUNK) {
      size_t m = n - r0 < CHUNK ? n - r0 : CHUNK;
      rc = assign(v, xc + r0 * (size_t)v->pc, m, hn, g, lab + r0);
    }
    if (rc) break;
    memset(acc, 0, sizeof(double) * (size_t)v->nlist * v->pc);
    memset(cnt, 0, sizeof(size_t) * (size_t)v->nlist);
    for (size_t i = 0; i < n; i++) {
      double *a = acc + (size_t)lab[i] * v->pc;
      const float *x = xc + i * (size_t)v->pc;
      for (int j = 0; j < v->pc; j++) a[j] += x[j];
      cnt[lab[i]]++;
    }
    for (int l = 0; l < v->nlist; l++) {
      float *c = v->cent + (size_t)l * v->pc;
      if (cnt[l]) {
        for (int j = 0; j < v->pc; j++) c[j] = (float)(acc[(size_t)l * v->pc + j] / (double)cnt[l]);
      } else { /* empty: restart at a random row */
        memcpy(c, xc + (size_t)(lk_rng_next(&s) % n) * v->pc, sizeof(float) * (size_t)v->pc);
      }
    }
  }
  free(g);
  free(hn);
  free(acc);
  free(cnt);
  free(lab);
  return rc;
}

/* Coarse-only, code_share > 0: turns the basis wc (dim x pc) to the principal directions of the
 * m sample rows inside its span, strongest first, then keeps the fewest of them, a multiple of
 * LK_QUANT_ALIGN, that hold code_share of the rows' energy (sum of |x|^2): a vector whose energy
 * lies in few directions (a tuned 256-d recipe: 64 of them hold 98.8 %) gets codes that short,
 * and a probe reads that much less (at 1M items, p50 -40 % at recall@10 -0.005 against 128-d
 * codes); a raw 1,792-d recipe (128 hold 90 %) keeps pc. */
static int shorten_codes(lk_ivf *v, int dim, const float *x, size_t m, float code_share) {
  int p = v->pc;
  size_t yb;
  if (p <= LK_QUANT_ALIGN || lk_size_mul3(m, (size_t)p, sizeof(float), &yb)) return 0;
  float *y = malloc(yb), *g = malloc(sizeof(float) * (size_t)p * p), *w = malloc(sizeof(float) * (size_t)dim * p);
  double *a = malloc(sizeof(double) * (size_t)p * p), *ev = malloc(sizeof(double) * (size_t)p),
         *vec = malloc(sizeof(double) * (size_t)p * p);
  int rc = y && g && w && a && ev && vec ? 0 : LK_ENOMEM;
  if (!rc) rc = lk_quant_project_rows(v->wc, dim, p, x, m, y);
  if (!rc) rc = lk_linalg_sgemm('T', 'N', p, p, (int64_t)m, 1.0f, y, p, y, p, 0.0f, g, p); /* Y^T Y */
  for (size_t i = 0; !rc && i < (size_t)p * p; i++) a[i] = g[i];
  if (!rc) rc = lk_linalg_eigsym(a, p, ev, vec, NULL); /* descending */
  double total = 0, kept = 0;
  for (size_t i = 0; !rc && i < m * (size_t)dim; i++) total += (double)x[i] * x[i];
  int keep = p;
  for (int c = 0; !rc && c < p; c++) {
    kept += ev[c] > 0 ? ev[c] : 0;
    if (c + 1 < keep && (c + 1) % LK_QUANT_ALIGN == 0 && total > 0 && kept >= code_share * total) keep = c + 1;
  }
  if (!rc && keep < p) { /* w = wc V, its first keep columns: dim x keep, transposed as wc is */
    for (int j = 0; j < dim; j++)
      for (int c = 0; c < keep; c++) {
        double t = 0;
        for (int u = 0; u < p; u++) t += (double)v->wc[(size_t)j * p + u] * vec[(size_t)u * p + c];
        w[(size_t)j * keep + c] = (float)t;
      }
    free(v->wc);
    v->wc = w;
    w = NULL;
    v->pc = keep;
    v->pcl = lk_quant_padded(keep);
  }
  free(y);
  free(g);
  free(w);
  free(a);
  free(ev);
  free(vec);
  return rc;
}

int lk_ivf_train(const lk_ivf_opts *opts, int dim, const float *x, size_t n, lk_ivf **out) {
  if (!out) return LK_EINVAL;
  *out = NULL;
  lk_ivf_opts o;
  if (opts) o = *opts;
  else lk_ivf_opts_default(&o);
  if (!x || dim <= 0 || dim > MAX_DIM || n == 0 || n > UINT32_MAX) return LK_EINVAL;
  if (o.fine_dims < 0 || o.fine_dims > dim || o.ncols < 0 || o.ncols > LK_IVF_MAX_COLS) return LK_EINVAL;
  if (o.coarse_dims <= 0 || o.coarse_dims > (o.fine_dims ? o.fine_dims : dim)) return LK_EINVAL;
  if (o.nprobe <= 0 || o.rerank <= 0 || o.rerank > 100000 || o.kmeans_iter < 0 || o.nlist < 0)
    return LK_EINVAL;
  if (!(o.code_share >= 0 && o.code_share <= 1)) return LK_EINVAL;
  if (o.nlist == 0) {
    double e = o.expected ? (double)o.expected : 20.0 * (double)n;
    o.nlist = (int)(1.5 * sqrt(e));
    if (o.nlist < 1) o.nlist = 1;
    if ((size_t)o.nlist > n) o.nlist = (int)n;
  }
  if ((size_t)o.nlist > n || (size_t)o.fine_dims > n || (size_t)o.coarse_dims > n || o.nlist > 1 << 20)
    return LK_EINVAL;
  for (size_t i = 0; i < n * (size_t)dim; i++)
    if (!isfinite(x[i])) return LK_EINVAL;
  lk_ivf *v = calloc(1, sizeof *v);
  if (!v) return LK_ENOMEM;
  v->dim = dim;
  v->recall = -1.0f;
  v->pf = o.fine_dims;
  v->pc = o.coarse_dims;
  v->pfl = lk_quant_padded(v->pf);
  v->pcl = lk_quant_padded(v->pc);
  v->nlist = o.nlist;
  v->nprobe = o.nprobe;
  v->rerank = o.rerank;
  v->ncols = o.ncols;
  float *xf = NULL, *xc = NULL, *fx = NULL;
  size_t fb, cb;
  int rc = 0;
  if (lk_size_mul3(n, (size_t)v->pf, sizeof(float), &fb) || lk_size_mul3(n, (size_t)v->pc, sizeof(float), &cb))
    rc = LK_ETOOBIG;
  /* the fine basis (coarse-only: the coarse one) from at most 8192 rows spread over the sample */
  size_t ms = n < 8192 ? n : 8192;
  if (!rc && !(fx = malloc(sizeof(float) * ms * (size_t)dim))) rc = LK_ENOMEM;
  for (size_t i = 0; !rc && i < ms; i++)
    memcpy(fx + i * (size_t)dim, x + (i * n / ms) * (size_t)dim, sizeof(float) * (size_t)dim);
  if (!rc && v->pf) rc = lk_quant_basis(fx, ms, dim, v->pf, o.seed, &v->bf);
  if (!rc && !v->pf) rc = lk_quant_basis(fx, ms, dim, v->pc, o.seed + 1, &v->wc);
  if (!rc && !v->pf && o.code_share > 0) rc = shorten_codes(v, dim, fx, ms, o.code_share);
  free(fx);
  if (!rc && ((v->pf && !(xf = malloc(fb))) || !(xc = malloc(cb)))) rc = LK_ENOMEM;
  if (!rc && v->pf) rc = lk_quant_project_rows(v->bf, dim, v->pf, x, n, xf);
  if (!rc && v->pf) rc = lk_quant_basis(xf, n, v->pf, v->pc, o.seed + 1, &v->wc);
  if (!rc) rc = lk_quant_project_rows(v->wc, v->pf ? v->pf : dim, v->pc, v->pf ? xf : x, n, xc);
  if (!rc) {
    v->cent = malloc(sizeof(float) * (size_t)v->nlist * v->pc);
    v->fmean = v->pf ? calloc((size_t)v->nlist * v->pf, sizeof(float)) : NULL;
    v->lists = calloc((size_t)v->nlist, sizeof *v->lists);
    v->pres = calloc((size_t)v->nlist * (size_t)v->ncols * 4 + 1, sizeof(uint64_t));
    if (!v->cent || (v->pf && !v->fmean) || !v->lists || !v->pres) rc = LK_ENOMEM;
  }
  if (!rc) rc = kmeans(v, xc, n, o.kmeans_iter, o.seed);
  if (!rc && !(v->chn = malloc(sizeof(float) * (size_t)v->nlist))) rc = LK_ENOMEM;
  if (!rc) half_norms(v, v->chn);
  if (!rc) rc = cent_codes(v);
  if (!rc && v->pf) { /* fine-space means of the final lists */
    float *hn = malloc(sizeof(float) * (size_t)v->nlist), *g = malloc(sizeof(float) * CHUNK * (size_t)v->nlist);
    uint32_t *lab = malloc(sizeof(uint32_t) * CHUNK);
    double *acc = calloc((size_t)v->nlist * v->pf, sizeof(double));
    size_t *cnt = calloc((size_t)v->nlist, sizeof(size_t));
    if (!hn || !g || !lab || !acc || !cnt) rc = LK_ENOMEM;
    if (!rc) half_norms(v, hn);
    for (size_t r0 = 0; !rc && r0 < n; r0 += CHUNK) {
      size_t m = n - r0 < CHUNK ? n - r0 : CHUNK;
      if ((rc = assign(v, xc + r0 * (size_t)v->pc, m, hn, g, lab))) break;
      for (size_t i = 0; i < m; i++) {
        double *a = acc + (size_t)lab[i] * v->pf;
        const float *f = xf + (r0 + i) * (size_t)v->pf;
        for (int j = 0; j < v->pf; j++) a[j] += f[j];
        cnt[lab[i]]++;
      }
    }
    for (int l = 0; !rc && l < v->nlist; l++)
      if (cnt[l])
        for (int j = 0; j < v->pf; j++)
          v->fmean[(size_t)l * v->pf + j] = (float)(acc[(size_t)l * v->pf + j] / (double)cnt[l]);
    free(hn);
    free(g);
    free(lab);
    free(acc);
    free(cnt);
  }
  free(xf);
  free(xc);
  if (rc) {
    lk_ivf_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

/* Reallocates n arrays in turn (*p[i] to size[i] > 0 bytes), stopping at the first failure
 * (those before it keep their new size). 1 when all were. */
static int realloc_all(void **p[], const size_t size[], int n) {
  for (int i = 0; i < n; i++) {
    void *q = realloc(*p[i], size[i]);
    if (!q) return 0;
    *p[i] = q;
  }
  return 1;
}

/* The same for arrays that point into a saved file: new ones of size[i] bytes each, keep[i]
 * bytes copied over, all or none (then 0). */
static int unmap_all(void **p[], const size_t size[], const size_t keep[], int n) {
  void *q[4 + LK_IVF_MAX_COLS];
  int i = 0;
  for (; i < n && (q[i] = malloc(size[i])); i++) memcpy(q[i], *p[i], keep[i] < size[i] ? keep[i] : size[i]);
  if (i < n) {
    while (i--) free(q[i]);
    return 0;
  }
  for (i = 0; i < n; i++) *p[i] = q[i];
  return 1;
}

/* Reallocates the per-row arrays to cap rows (cap >= n). */
static int resize_rows(lk_ivf *v, size_t cap) {
  size_t fb;
  if (cap > UINT32_MAX || lk_size_mul(cap, (size_t)v->pfl, &fb)) return LK_ETOOBIG;
  void **p[] = {(void **)&v->ids, (void **)&v->rlist, (void **)&v->fcode, (void **)&v->fscale, (void **)&v->fsum};
  size_t size[] = {cap * sizeof *v->ids, cap * sizeof *v->rlist, fb, cap * sizeof *v->fscale, cap * sizeof *v->fsum};
  int na = v->pf ? 5 : 1; /* the fine arrays: none when coarse-only */
  size_t keep[5];
  for (int i = 0; i < na; i++) keep[i] = size[i] / cap * v->n;
  int ok = v->mapped ? unmap_all(p, size, keep, na) : realloc_all(p, size, na);
  if (ok) v->mapped = 0;
  if (ok || cap < v->cap) v->cap = cap; /* a failed shrink still shrank some: cap is the room */
  return ok ? 0 : LK_ENOMEM;
}

static int grow_rows(lk_ivf *v, size_t want) {
  if (want <= v->cap) return 0;
  size_t cap = v->cap + v->cap / 8; /* modest growth: the arrays are most of the RAM */
  return resize_rows(v, cap < want ? want : cap);
}

/* Reallocates a list's arrays to cap entries (cap >= len). On failure the arrays reallocated
 * so far hold cap entries: a shrink then still takes effect (cap is the smallest room). */
static int resize_list(lk_ivf *v, ivf_list *L, size_t cap) {
  size_t cb;
  if (lk_size_mul(cap, (size_t)v->pcl, &cb)) return LK_ETOOBIG;
  void **p[4 + LK_IVF_MAX_COLS] = {(void **)&L->rows, (void **)&L->codes, (void **)&L->scale, (void **)&L->sum};
  size_t size[4 + LK_IVF_MAX_COLS] = {cap * sizeof *L->rows, cb, cap * sizeof *L->scale, cap * sizeof *L->sum};
  for (int j = 0; j < v->ncols; j++) {
    p[4 + j] = (void **)&L->cols[j];
    size[4 + j] = cap;
  }
  size_t keep[4 + LK_IVF_MAX_COLS];
  for (int i = 0; i < 4 + v->ncols; i++) keep[i] = size[i] / cap * L->len;
  int ok = L->mapped ? unmap_all(p, size, keep, 4 + v->ncols) : realloc_all(p, size, 4 + v->ncols);
  if (ok) L->mapped = 0;
  if (ok || cap < L->cap) L->cap = cap;
  return ok ? 0 : LK_ENOMEM;
}

int lk_ivf_trim(lk_ivf *v) {
  if (!v) return LK_EINVAL;
  int rc = v->n && v->n < v->cap ? resize_rows(v, v->n) : 0;
  for (int l = 0; !rc && l < v->nlist; l++)
    if (v->lists[l].len && v->lists[l].len < v->lists[l].cap) rc = resize_list(v, &v->lists[l], v->lists[l].len);
  /* the shrunk lists leave the heap's free holes resident (a 1M-item build held 443 B/item of
   * RSS against its 280 own): hand them back to the kernel */
  malloc_trim(0);
  return rc;
}

/* Appends row (its coarse residual res, its column values col or NULL) to list l. */
static int list_push(lk_ivf *v, int l, uint32_t row, const float *res, const uint8_t *col) {
  ivf_list *L = &v->lists[l];
  if (L->len == L->cap) { /* the list's arrays grow together */
    size_t cap;
    int rc = lk_array_grow_cap(L->cap, L->len + 1, 16, sizeof *L->sum, &cap);
    if (rc || (rc = resize_list(v, L, cap))) return rc;
  }
  L->rows[L->len] = row;
  lk_quant_encode(res, v->pc, L->codes + L->len * (size_t)v->pcl, &L->scale[L->len], &L->sum[L->len]);
  for (int c = 0; c < v->ncols; c++) {
    uint8_t b = col ? col[c] : 0;
    L->cols[c][L->len] = b;
    v->pres[((size_t)l * v->ncols + c) * 4 + b / 64] |= (uint64_t)1 << (b % 64);
  }
  L->len++;
  return 0;
}

int lk_ivf_ncols(const lk_ivf *v) { return v ? v->ncols : 0; }

void lk_ivf_shape(const lk_ivf *v, int *nlist, int *fine_dims, int *coarse_dims) {
  *nlist = v ? v->nlist : 0;
  *fine_dims = v ? v->pf : 0;
  *coarse_dims = v ? v->pc : 0;
}

int lk_ivf_add(lk_ivf *v, const int64_t *ids, const float *x, size_t n) { return lk_ivf_add_cols(v, ids, x, NULL, n); }

int lk_ivf_add_cols(lk_ivf *v, const int64_t *ids, const float *x, const uint8_t *cols, size_t n) {
  if (!v || (n && (!ids || !x))) return LK_EINVAL;
  if (v->lok) { /* growing copies the mapped arrays: every lazy check first, then none left */
    if (lk_ivf_check(v)) return LK_ECORRUPT;
    free(v->lok);
    free(v->fok);
    v->lok = v->fok = NULL;
  }
  size_t total;
  if (lk_size_mul(n, (size_t)v->dim, &total) || lk_size_add(v->n, n, &total) || total > UINT32_MAX)
    return LK_ETOOBIG;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0) return LK_EINVAL;
    for (int j = 0; j < v->dim; j++)
      if (!isfinite(x[i * (size_t)v->dim + j])) return LK_EINVAL;
  }
  int rc = grow_rows(v, v->n + n);
  if (rc) return rc;
  float *xf = malloc(sizeof(float) * CHUNK * (size_t)v->pf + 1), *xc = malloc(sizeof(float) * CHUNK * (size_t)v->pc);
  float *g = malloc(sizeof(float) * CHUNK * (size_t)v->nlist), *hn = malloc(sizeof(float) * (size_t)v->nlist);
  float *res = malloc(sizeof(float) * (size_t)(v->pf > v->pc ? v->pf : v->pc));
  uint32_t *lab = malloc(sizeof(uint32_t) * CHUNK);
  if (!xf || !xc || !g || !hn || !res || !lab) rc = LK_ENOMEM;
  if (!rc) half_norms(v, hn);
  for (size_t r0 = 0; !rc && r0 < n; r0 += CHUNK) {
    size_t m = n - r0 < CHUNK ? n - r0 : CHUNK;
    if ((rc = project(v, x + r0 * (size_t)v->dim, m, xf, xc))) break;
    if ((rc = assign(v, xc, m, hn, g, lab))) break;
    for (size_t i = 0; i < m && !rc; i++) {
      size_t row = v->n;
      uint32_t l = lab[i];
      const float *c = v->cent + (size_t)l * v->pc;
      for (int j = 0; j < v->pc; j++) res[j] = xc[i * (size_t)v->pc + j] - c[j];
      if ((rc = list_push(v, (int)l, (uint32_t)row, res, cols ? cols + (r0 + i) * (size_t)v->ncols : NULL))) break;
      if (v->pf) {
        const float *fm = v->fmean + (size_t)l * v->pf;
        for (int j = 0; j < v->pf; j++) res[j] = xf[i * (size_t)v->pf + j] - fm[j];
        lk_quant_encode(res, v->pf, v->fcode + row * (size_t)v->pfl, &v->fscale[row], &v->fsum[row]);
        v->rlist[row] = l;
      }
      v->ids[row] = ids[r0 + i];
      v->n++;
    }
  }
  free(xf);
  free(xc);
  free(g);
  free(hn);
  free(res);
  free(lab);
  return rc;
}

typedef struct lscore {
  float s;
  int l;
} lscore;

static int cmp_lscore(const void *a, const void *b) {
  const lscore *x = a, *y = b;
  if (x->s != y->s) return x->s > y->s ? -1 : 1;
  return x->l - y->l;
}

/* a ranks before b (cmp_lscore's order: higher score, then the lower list). */
static int lbefore(lscore a, lscore b) { return a.s > b.s || (a.s == b.s && a.l < b.l); }

/* Restores the heap order of h[0..m) below i: the worst (lbefore's last) at the top. */
static void worst_down(lscore *h, size_t m, size_t i) {
  lscore x = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= m) break;
    if (c + 1 < m && lbefore(h[c], h[c + 1])) c++;
    if (!lbefore(x, h[c])) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* Puts the best want of o[0..n) first, in order, the rest after them in any order. Few wanted
 * (a probe's nprobe of nlist): one pass keeping the best so far in a heap at the front, whose
 * worst is swapped out when a better one comes (rarely after the first lists, so the test is a
 * predicted branch): at 10M items (4,743 lists, nprobe 8) 10-12 kcycles a query where the
 * three-way quickselect, whose every comparison is a coin toss, took 113-127 (18 % of the
 * query). Many wanted: that quickselect. Then a sort of those want only. */
static void select_lists(lscore *o, size_t n, size_t want) {
  if (want > n) want = n;
  if (want && want <= 256 && want * 16 <= n) {
    for (size_t i = want / 2; i-- > 0;) worst_down(o, want, i);
    for (size_t i = want; i < n; i++)
      if (lbefore(o[i], o[0])) {
        lscore t = o[0];
        o[0] = o[i];
        o[i] = t;
        worst_down(o, want, 0);
      }
  } else {
    size_t lo = 0, hi = n;
    while (want < n && hi - lo > 1) {
      lscore pv = o[lo + (hi - lo) / 2], t;
      size_t lt = lo, i = lo, gt = hi;
      while (i < gt) {
        if (lbefore(o[i], pv)) {
          t = o[lt], o[lt++] = o[i], o[i++] = t;
        } else if (lbefore(pv, o[i])) {
          t = o[--gt], o[gt] = o[i], o[i] = t;
        } else {
          i++;
        }
      }
      if (want < lt) hi = lt;
      else if (want >= gt) lo = gt;
      else break;
    }
  }
  qsort(o, want, sizeof *o, cmp_lscore);
}

static int allowed_row(const uint64_t *allow, size_t r) { return !allow || (allow[r / 64] >> (r % 64) & 1); }

/* A column filter prepared for the scan: the used columns and each one's allowed values. */
typedef struct fprep {
  int nused, col[LK_IVF_MAX_COLS];
  const uint64_t (*allow)[4];
  lk_quant_byteset set[LK_IVF_MAX_COLS];
} fprep;

/* 1 when list l may hold a passing row (its presence masks meet every used column's set). */
static int list_may_pass(const lk_ivf *v, const fprep *fp, int l) {
  for (int u = 0; u < fp->nused; u++) {
    const uint64_t *m = v->pres + ((size_t)l * v->ncols + fp->col[u]) * 4, *a = fp->allow[fp->col[u]];
    if (!((m[0] & a[0]) | (m[1] & a[1]) | (m[2] & a[2]) | (m[3] & a[3]))) return 0;
  }
  return 1;
}

enum { REFINE_BATCH = 32 }; /* vectors offer_exact finds and prefetches before it scores them */

/* Per-query scratch. */
typedef struct qwork {
  float *qf, *qc, *fdot;
  uint8_t *qcu;
  lscore *order;
  lk_hit *cand, *fin;
  int64_t *xid; /* ids for the refine step: max(R, refine, REFINE_BATCH - 1 + 64) */
  size_t *rows;
  int32_t *raw;
  float *sc, *gscale; /* 128 scores (lk_quant_scores) and the scales and sums gathered for them */
  int32_t *gsum;
  float qcs; /* the query's coarse code scale */
  int ncand; /* cand's room: max(rerank, k), so k > rerank still gets k hits */
} qwork;

/* <q, code> with the float query (the re-rank keeps the query unquantised). */
static float dot_f_i8(const float *q, const int8_t *c, int n) {
  float s[16] = {0};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int u = 0; u < 16; u++) s[u] += q[j + u] * (float)c[j + u];
  float t = 0;
  for (int u = 0; u < 16; u++) t += s[u];
  for (; j < n; j++) t += q[j] * (float)c[j];
  return t;
}

static int list_ok(const lk_ivf *v, int l);
static int fine_ok(const lk_ivf *v, size_t r);

/* Fine score of row r: the list's mean plus the residual code, float query. */
static float fine_score(const lk_ivf *v, const qwork *w, size_t r) {
  return w->fdot[v->rlist[r]] + v->fscale[r] * dot_f_i8(w->qf, v->fcode + r * (size_t)v->pfl, v->pf);
}

/* Offers the exact scores of ids[0..n) (their vectors from the refine callback) to t. The
 * vectors are found first and their cache lines prefetched, then scored, so random reads (a
 * 10M-item vector file is 10 GB) can overlap: measured 10-13 % faster for a 0.1 % filter at 1M
 * (every allowed row re-ranked), no different unfiltered at 10M. */
static int offer_exact(const lk_ivf *v, const float *q, lk_topk *t, const int64_t *ids, int n) {
  const float *vec[REFINE_BATCH];
  size_t bytes = sizeof(float) * (size_t)v->dim;
  for (int i0 = 0; i0 < n; i0 += REFINE_BATCH) {
    int m = n - i0 < REFINE_BATCH ? n - i0 : REFINE_BATCH;
    for (int i = 0; i < m; i++) {
      int rc = v->fn(v->fn_ctx, ids[i0 + i], &vec[i]);
      if (rc) return rc;
      if (!vec[i]) return LK_ECORRUPT;
      for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)vec[i] + b);
    }
    for (int i = 0; i < m; i++) lk_topk_offer(t, ids[i0 + i], dotf(q, vec[i], v->dim));
  }
  return 0;
}

/* Scores m rows of list L (rows idx[0..m), or first..first+m-1 when idx is NULL) with the
 * coarse codes into cand, but the excluded id; returns how many were offered (m less it). */
static size_t score_rows(const lk_ivf *v, qwork *w, const ivf_list *L, float base, const size_t *idx, size_t first,
                         int m, int64_t exclude_id, lk_topk *cand) {
  size_t n = (size_t)m;
  if (!idx) {
    lk_quant_dots_range(w->qcu, L->codes, (size_t)v->pcl, first, m, v->pcl, w->raw);
    lk_quant_scores(w->raw, L->scale + first, L->sum + first, w->qcs, base, m, w->sc);
  } else {
    lk_quant_dots(w->qcu, L->codes, (size_t)v->pcl, idx, m, v->pcl, w->raw);
    for (int i = 0; i < m; i++) {
      w->gscale[i] = L->scale[idx[i]];
      w->gsum[i] = L->sum[idx[i]];
    }
    lk_quant_scores(w->raw, w->gscale, w->gsum, w->qcs, base, m, w->sc);
  }
  float floor = lk_topk_floor(cand);
  for (int i = 0; i < m; i++) {
    float s = w->sc[i];
    if (s >= floor) {
      size_t j = idx ? idx[i] : first + (size_t)i;
      /* the excluded id is looked up only for rows that would enter: a random read of ids[]
       * for every scanned row cost more than the scan itself */
      if (exclude_id >= 0 && v->ids[L->rows[j]] == exclude_id) {
        n--;
        continue;
      }
      lk_topk_offer(cand, (int64_t)L->rows[j], s);
      floor = lk_topk_floor(cand);
    }
  }
  return n;
}

/* Scans the lists nearest first into cand (rows, coarse scores): unfiltered, the nprobe
 * nearest, then on until k rows were seen. Filtered (a row bitmap allow, or a column filter fp
 * whose lists without a passing row are skipped), also on until seen x covered >= T^2, where
 * seen counts the passing rows scored, covered every row of the lists passed (skipped or not)
 * and T the rows of the nprobe nearest lists. The k nearest passing rows of a filter passing a
 * share s of the rows lie about as far out as the k/s nearest rows, so a filtered search must
 * cover more lists than the nprobe nearest; the rule covers about T/sqrt(s) rows (s estimated as
 * seen/covered as the scan goes: 7x the unfiltered probe for a 2 % filter, 3x for 10 %), fewer
 * where the passing rows crowd near the query, more where they are scarce there. */
static int probe(const lk_ivf *v, int k, int nprobe, const uint64_t *allow, const fprep *fp,
                 int64_t exclude_id, qwork *w, lk_topk *cand) {
  int ranked = nprobe;
  select_lists(w->order, (size_t)v->nlist, (size_t)ranked);
  size_t seen = 0, covered = 0, T = 0;
  for (int p = 0; p < nprobe; p++) T += v->lists[w->order[p].l].len;
  double want = (allow || fp) ? (double)T * (double)T : 0.0;
  for (int p = 0; p < v->nlist && (p < nprobe || seen < (size_t)k || (double)seen * (double)covered < want); p++) {
    if (p == ranked) { /* rank the next lists: twice as many as so far */
      int more = ranked < v->nlist - ranked ? ranked : v->nlist - ranked;
      select_lists(w->order + ranked, (size_t)(v->nlist - ranked), (size_t)more);
      ranked += more;
    }
    int l = w->order[p].l;
    const ivf_list *L = &v->lists[l];
    covered += L->len;
    if (fp && !list_may_pass(v, fp, l)) continue;
    if (!list_ok(v, l)) return LK_ECORRUPT;
    if (v->pf) w->fdot[l] = dotf(w->qf, v->fmean + (size_t)l * v->pf, v->pf);
    float base = dotf(w->qc, v->cent + (size_t)l * v->pc, v->pc); /* <q, c>, exact (ranked by codes) */
    size_t pend[128]; /* the column filter's passing rows, scored 64 or more at a time */
    int np = 0;
    for (size_t i0 = 0; i0 < L->len; i0 += 64) {
      int m = L->len - i0 < 64 ? (int)(L->len - i0) : 64, mm = m;
      size_t idx[64];
      if (allow) { /* the bitmap is n/8 bytes (cache-resident); the rows' ids are not */
        mm = 0;
        for (int i = 0; i < m; i++)
          if (allowed_row(allow, L->rows[i0 + (size_t)i])) idx[mm++] = i0 + (size_t)i;
        if (!mm) continue;
      } else if (fp) { /* the columns lie in list order: read sequentially, 32 bytes a test */
        uint64_t pass = m == 64 ? ~(uint64_t)0 : ((uint64_t)1 << m) - 1;
        for (int u = 0; pass && u < fp->nused; u++)
          pass &= lk_quant_byteset_mask(L->cols[fp->col[u]] + i0, m, &fp->set[u]);
        for (; pass; pass &= pass - 1) pend[np++] = i0 + (size_t)__builtin_ctzll(pass);
        if (np >= 64 || (np && i0 + 64 >= L->len)) {
          seen += score_rows(v, w, L, base, pend, 0, np, exclude_id, cand);
          np = 0;
        }
        continue;
      }
      seen += score_rows(v, w, L, base, mm == m ? NULL : idx, i0, mm, exclude_id, cand);
    }
  }
  return 0;
}

static int search_one(const lk_ivf *v, const float *q, int k, int nprobe, const uint64_t *allow,
                      const fprep *fp, int64_t exclude_id, qwork *w, lk_hit *out, int *nfound) {
  if (v->pf) {
    lk_quant_project(v->bf, v->dim, v->pf, q, w->qf);
    lk_quant_project(v->wc, v->pf, v->pc, w->qf, w->qc);
  } else {
    lk_quant_project(v->wc, v->dim, v->pc, q, w->qc);
  }
  lk_quant_encode_query(w->qc, v->pc, w->qcu, &w->qcs);
  int kk = v->refine > k ? v->refine : k;
  lk_topk best = {kk, 0, v->refine ? w->fin : out};
  size_t allowed = v->n;
  if (allow) {
    allowed = 0;
    for (size_t i = 0; i < (v->n + 63) / 64; i++) {
      uint64_t word = allow[i];
      if (v->n - i * 64 < 64) word &= ((uint64_t)1 << (v->n - i * 64)) - 1;
      allowed += (size_t)__builtin_popcountll(word);
    }
  }
  size_t probe_rows = (size_t)((double)v->n * nprobe / v->nlist);
  /* an allowed row costs a fine-code dot here, 4-6x a coarse one in the probe; coarse-only,
   * an exact one through the refine callback (without one: the probe, on until k are seen) */
  if (allow && allowed <= probe_rows / 4 + (size_t)v->rerank && (v->pf || v->refine)) {
    /* selective filter: every allowed row's fine code (coarse-only: its exact score) */
    if (v->pf)
      for (int l = 0; l < v->nlist; l++) w->fdot[l] = dotf(w->qf, v->fmean + (size_t)l * v->pf, v->pf);
    lk_topk fin = {k, 0, out};
    int nx = 0; /* coarse-only: allowed ids waiting for their exact scores, a batch or more at a time */
    for (size_t b = 0; b < v->n; b += 64) {
      uint64_t word = allow[b / 64];
      if (v->n - b < 64) word &= ((uint64_t)1 << (v->n - b)) - 1;
      if (!word) continue;
      int m = 0;
      for (; word; word &= word - 1) {
        size_t r = b + (size_t)__builtin_ctzll(word);
        if (v->ids[r] != exclude_id) w->rows[m++] = r;
      }
      for (int i = 0; i < m; i++) {
        int64_t id = v->ids[w->rows[i]];
        if (v->pf) {
          if (!fine_ok(v, w->rows[i])) return LK_ECORRUPT;
          lk_topk_offer(&best, id, fine_score(v, w, w->rows[i]));
        } else {
          w->xid[nx++] = id;
        }
      }
      if (nx >= REFINE_BATCH) {
        int rc = offer_exact(v, q, &fin, w->xid, nx);
        if (rc) return rc;
        nx = 0;
      }
    }
    int rc = nx ? offer_exact(v, q, &fin, w->xid, nx) : 0;
    if (rc) return rc;
    if (!v->pf) { /* already exact */
      int len = lk_topk_finish(&fin);
      if (nfound) *nfound = len;
      return 0;
    }
  } else {
    /* lists nearest first (L2 to the centroid, as items were assigned), ranked by the
     * centroids' int8 codes: a quarter of the float centroids' memory reads (at 10M items,
     * 4,743 lists, p50 0.147 -> 0.126 ms at nprobe 2; the probed lists' <q, c> stays exact) */
    for (int l0 = 0; l0 < v->nlist; l0 += 128) {
      int m = v->nlist - l0 < 128 ? v->nlist - l0 : 128;
      lk_quant_dots_range(w->qcu, v->ccode, (size_t)v->pcl, (size_t)l0, m, v->pcl, w->raw);
      lk_quant_scores(w->raw, v->cscale + l0, v->csum + l0, w->qcs, 0.0f, m, w->sc);
      for (int i = 0; i < m; i++) {
        int l = l0 + i;
        w->order[l].s = w->sc[i] - v->chn[l];
        w->order[l].l = l;
      }
    }
    lk_topk cand = {w->ncand, 0, w->cand};
    int prc = probe(v, k, nprobe, allow, fp, exclude_id, w, &cand);
    if (prc) return prc;
    if (!v->pf) { /* coarse-only: the candidates go straight to the exact re-rank */
      lk_topk fin = {k, 0, out};
      for (int i = 0; i < cand.len; i++) {
        int64_t id = v->ids[cand.h[i].id];
        if (!v->refine) lk_topk_offer(&fin, id, cand.h[i].score);
        else w->xid[i] = id;
      }
      int rc = v->refine ? offer_exact(v, q, &fin, w->xid, cand.len) : 0;
      if (rc) return rc;
      int len = lk_topk_finish(&fin);
      if (nfound) *nfound = len;
      return 0;
    }
    for (int i = 0; i < cand.len; i++) {
      size_t r = (size_t)cand.h[i].id;
      if (!fine_ok(v, r)) return LK_ECORRUPT;
      lk_topk_offer(&best, v->ids[r], fine_score(v, w, r));
    }
  }
  if (v->refine) { /* exact scores of the best kk from the caller's float vectors */
    lk_topk fin = {k, 0, out};
    for (int i = 0; i < best.len; i++) w->xid[i] = best.h[i].id;
    int rc = offer_exact(v, q, &fin, w->xid, best.len);
    if (rc) return rc;
    best = fin;
  }
  int len = lk_topk_finish(&best);
  if (nfound) *nfound = len;
  return 0;
}

int lk_ivf_set_nprobe(lk_ivf *v, int nprobe) {
  if (!v || nprobe <= 0) return LK_EINVAL;
  v->nprobe = nprobe;
  return 0;
}

int lk_ivf_set_rerank(lk_ivf *v, int rerank) {
  if (!v || rerank <= 0 || rerank > 100000) return LK_EINVAL;
  v->rerank = rerank;
  return 0;
}

int lk_ivf_set_refine(lk_ivf *v, int refine, lk_ivf_vector_fn fn, void *ctx) {
  if (!v || refine < 0 || refine > 10000 || (refine > 0 && !fn)) return LK_EINVAL;
  v->refine = refine;
  v->fn = refine ? fn : NULL;
  v->fn_ctx = refine ? ctx : NULL;
  return 0;
}

/* The searches' one path: allow (a row bitmap) or fp (a prepared column filter), or neither. */
static int search(const lk_ivf *v, const float *queries, int nq, int k, int nprobe, const uint64_t *allow,
                  const fprep *fp, int64_t exclude_id, lk_hit *hits, int *nfound) {
  if (!v || nq < 0 || k <= 0 || k > 10000 || nprobe < 0 || (nq > 0 && (!queries || !hits)))
    return LK_EINVAL;
  if (nprobe == 0) nprobe = v->nprobe;
  if (nprobe > v->nlist) nprobe = v->nlist;
  for (size_t i = 0; i < (size_t)nq * (size_t)v->dim; i++)
    if (!isfinite(queries[i])) return LK_EINVAL;
  qwork w;
  int R = v->rerank > k ? v->rerank : k;
  w.ncand = R;
  w.qf = malloc(sizeof(float) * (size_t)v->pf + 1);
  w.qc = malloc(sizeof(float) * (size_t)v->pc);
  w.fdot = malloc(sizeof(float) * (size_t)v->nlist);
  w.qcu = malloc((size_t)v->pcl);
  w.order = malloc(sizeof(lscore) * (size_t)v->nlist);
  w.cand = malloc(sizeof(lk_hit) * (size_t)R);
  w.fin = malloc(sizeof(lk_hit) * (size_t)(v->refine > k ? v->refine : k));
  int X = R > v->refine ? R : v->refine;
  if (X < REFINE_BATCH - 1 + 64) X = REFINE_BATCH - 1 + 64; /* (the selective filter: a batch short, then a word) */
  w.xid = malloc(sizeof(int64_t) * (size_t)X);
  w.rows = malloc(sizeof(size_t) * (size_t)(R > 64 ? R : 64));
  w.raw = malloc(sizeof(int32_t) * 128);
  w.sc = malloc(sizeof(float) * 128);
  w.gscale = malloc(sizeof(float) * 128);
  w.gsum = malloc(sizeof(int32_t) * 128);
  int rc = w.qf && w.qc && w.fdot && w.qcu && w.order && w.cand && w.rows && w.raw && w.sc && w.gscale && w.gsum &&
                   w.fin && w.xid
               ? 0
               : LK_ENOMEM;
  for (int q = 0; !rc && q < nq; q++)
    rc = search_one(v, queries + (size_t)q * v->dim, k, nprobe, allow, fp, exclude_id, &w,
                    hits + (size_t)q * (size_t)k, nfound ? nfound + q : NULL);
  free(w.qf);
  free(w.qc);
  free(w.fdot);
  free(w.qcu);
  free(w.order);
  free(w.cand);
  free(w.fin);
  free(w.xid);
  free(w.rows);
  free(w.raw);
  free(w.sc);
  free(w.gscale);
  free(w.gsum);
  return rc;
}

int lk_ivf_search(const lk_ivf *v, const float *queries, int nq, int k, int nprobe,
                  const uint64_t *allow, int64_t exclude_id, lk_hit *hits, int *nfound) {
  return search(v, queries, nq, k, nprobe, allow, NULL, exclude_id, hits, nfound);
}

int lk_ivf_search_where(const lk_ivf *v, const float *queries, int nq, int k, int nprobe,
                        const lk_ivf_filter *f, int64_t exclude_id, lk_hit *hits, int *nfound) {
  if (!v) return LK_EINVAL;
  if (!f || !f->used) return search(v, queries, nq, k, nprobe, NULL, NULL, exclude_id, hits, nfound);
  if (f->used >> v->ncols) return LK_EINVAL; /* a column the index does not have */
  fprep *fp = malloc(sizeof *fp);
  if (!fp) return LK_ENOMEM;
  fp->nused = 0;
  fp->allow = f->allow;
  for (int c = 0; c < v->ncols; c++) {
    if (!(f->used >> c & 1)) continue;
    lk_quant_byteset_init(&fp->set[fp->nused], f->allow[c]);
    fp->col[fp->nused++] = c;
  }
  int rc = search(v, queries, nq, k, nprobe, NULL, fp, exclude_id, hits, nfound);
  free(fp);
  return rc;
}

int lk_ivf_nprobe(const lk_ivf *v) { return v->nprobe; }
double lk_ivf_recall(const lk_ivf *v) { return v->recall; }

/* Mean recall@k of searches probing p lists against t's exact hits. */
static int recall_at(const lk_ivf *v, const lk_truth *t, int p, lk_hit *h, double *out) {
  int k = lk_truth_k(t), nq = lk_truth_nq(t), nf;
  double sum = 0;
  for (int i = 0; i < nq; i++) {
    int rc = search(v, lk_truth_query(t, i), 1, k, p, NULL, NULL, lk_truth_skip(t, i), h, &nf);
    if (rc) return rc;
    sum += lk_truth_recall(t, i, h, nf);
  }
  *out = sum / nq;
  return 0;
}

int lk_ivf_tune_nprobe(lk_ivf *v, lk_truth *t, double target, int min_nprobe) {
  if (!v || !t || !(target > 0 && target <= 1) || min_nprobe < 0 || lk_truth_dim(t) != v->dim) return LK_EINVAL;
  lk_truth_finish(t);
  int ladder[160], nl = 0;
  for (int p = min_nprobe > 1 ? min_nprobe : 1; p < v->nlist && nl < 159; p += p / 6 > 1 ? p / 6 : 1) ladder[nl++] = p;
  ladder[nl++] = v->nlist;
  lk_hit *h = malloc(sizeof(lk_hit) * (size_t)lk_truth_k(t));
  double *rec = malloc(sizeof(double) * (size_t)nl);
  int rc = h && rec ? 0 : LK_ENOMEM;
  for (int i = 0; i < nl && rec; i++) rec[i] = -1;
  int lo = 0, hi = nl - 1; /* the first rung reaching target (recall grows with the lists probed) */
  while (!rc && lo < hi) {
    int mid = lo + (hi - lo) / 2;
    rc = recall_at(v, t, ladder[mid], h, &rec[mid]);
    if (rc) break;
    if (rec[mid] >= target) hi = mid;
    else lo = mid + 1;
  }
  if (!rc && rec[lo] < 0) rc = recall_at(v, t, ladder[lo], h, &rec[lo]);
  if (!rc) {
    v->nprobe = ladder[lo];
    v->recall = (float)rec[lo];
  }
  free(h);
  free(rec);
  return rc;
}

/* ---- the saved index (index/lkx.h): sections of the IVF ---- */

enum { SEC_PARAM = 0x49564650 /* IVFP */, SEC_BF, SEC_WC, SEC_CENT, SEC_FMEAN, SEC_CHN, SEC_IDS, SEC_RLIST,
       SEC_FCODE, SEC_FSCALE, SEC_FSUM, SEC_LLEN, SEC_LROWS, SEC_LCODES, SEC_LSCALE, SEC_LSUM, SEC_LCOLS };

const uint32_t lk_ivf_lazy_sections[LK_IVF_NLAZY] = {SEC_FCODE, SEC_FSCALE, SEC_FSUM, SEC_LROWS, SEC_LCODES, SEC_LSCALE, SEC_LSUM};

/* The IVF sections' layout version, first in the parameters: 2 added coarse-only (pf 0: no
 * fine sections), the filter columns (SEC_LCOLS: each list's ncols columns in turn) and this
 * field; 3 the recall measured at the saved nprobe (a probe depth tuned to the catalog, so a
 * file of 2, probed at a fixed depth, is rebuilt); a parameter section of another size or
 * version is stale (LK_EMISMATCH). */
#define IVF_SECT_VERSION 3

typedef struct ivf_param {
  int32_t version, dim, pf, pc, pfl, pcl, nlist, nprobe, rerank, ncols;
  uint64_t n;
  float recall; /* (3) the recall measured at nprobe, or -1 */
  int32_t reserved;
} ivf_param;

/* Writes one section made of each list's array (member at byte offset off, elem bytes a row). */
static int save_lists(const lk_ivf *v, lk_lkx_writer *w, uint32_t tag, size_t off, size_t elem, lk_errbuf *err) {
  int rc = lk_lkx_begin(w, tag, err);
  for (int l = 0; !rc && l < v->nlist; l++) {
    const ivf_list *L = &v->lists[l];
    const void *p = *(void *const *)((const char *)L + off);
    rc = lk_lkx_write(w, p, L->len * elem, err);
  }
  return rc ? rc : lk_lkx_end(w, err);
}

/* The lists' filter columns: for each list, its ncols columns in turn. */
static int save_cols(const lk_ivf *v, lk_lkx_writer *w, lk_errbuf *err) {
  int rc = lk_lkx_begin(w, SEC_LCOLS, err);
  for (int l = 0; !rc && l < v->nlist; l++)
    for (int c = 0; !rc && c < v->ncols; c++) rc = lk_lkx_write(w, v->lists[l].cols[c], v->lists[l].len, err);
  return rc ? rc : lk_lkx_end(w, err);
}

int lk_ivf_save(const lk_ivf *v, lk_lkx_writer *w, lk_errbuf *err) {
  if (lk_ivf_check(v)) return lk_err_set(err, LK_ECORRUPT, "saving the index: the saved index it was read from is damaged");
  ivf_param p = {IVF_SECT_VERSION, v->dim, v->pf, v->pc, v->pfl, v->pcl, v->nlist, v->nprobe, v->rerank,
                 v->ncols, v->n, v->recall, 0};
  uint64_t *llen = malloc(sizeof *llen * (size_t)v->nlist);
  if (!llen) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (int l = 0; l < v->nlist; l++) llen[l] = v->lists[l].len;
  size_t nl = (size_t)v->nlist;
  int rc = lk_lkx_add(w, SEC_PARAM, &p, sizeof p, err);
  if (!rc && v->pf) rc = lk_lkx_add(w, SEC_BF, v->bf, sizeof(float) * (size_t)v->dim * v->pf, err);
  if (!rc) rc = lk_lkx_add(w, SEC_WC, v->wc, sizeof(float) * (size_t)(v->pf ? v->pf : v->dim) * v->pc, err);
  if (!rc) rc = lk_lkx_add(w, SEC_CENT, v->cent, sizeof(float) * nl * v->pc, err);
  if (!rc && v->pf) rc = lk_lkx_add(w, SEC_FMEAN, v->fmean, sizeof(float) * nl * v->pf, err);
  if (!rc) rc = lk_lkx_add(w, SEC_CHN, v->chn, sizeof(float) * nl, err);
  if (!rc) rc = lk_lkx_add(w, SEC_IDS, v->ids, sizeof(int64_t) * v->n, err);
  if (!rc && v->pf) rc = lk_lkx_add(w, SEC_RLIST, v->rlist, sizeof(uint32_t) * v->n, err);
  if (!rc && v->pf) rc = lk_lkx_add(w, SEC_FCODE, v->fcode, v->n * (size_t)v->pfl, err);
  if (!rc && v->pf) rc = lk_lkx_add(w, SEC_FSCALE, v->fscale, sizeof(float) * v->n, err);
  if (!rc && v->pf) rc = lk_lkx_add(w, SEC_FSUM, v->fsum, sizeof(int32_t) * v->n, err);
  if (!rc) rc = lk_lkx_add(w, SEC_LLEN, llen, sizeof *llen * nl, err);
  if (!rc) rc = save_lists(v, w, SEC_LROWS, offsetof(ivf_list, rows), sizeof(uint32_t), err);
  if (!rc) rc = save_lists(v, w, SEC_LCODES, offsetof(ivf_list, codes), (size_t)v->pcl, err);
  if (!rc) rc = save_lists(v, w, SEC_LSCALE, offsetof(ivf_list, scale), sizeof(float), err);
  if (!rc) rc = save_lists(v, w, SEC_LSUM, offsetof(ivf_list, sum), sizeof(int32_t), err);
  if (!rc && v->ncols) rc = save_cols(v, w, err);
  free(llen);
  return rc;
}

/* Section tag, which must hold exactly count elements of elem bytes: mapped, *dst points at
 * it (the IVF never writes through it: growing copies first); else a copy in a new malloc'd
 * *dst. */
static int load_sec(const lk_lkx *x, uint32_t tag, size_t elem, size_t count, int mapped, void **dst, lk_errbuf *err) {
  const void *p;
  size_t size;
  int rc = lk_lkx_section(x, tag, elem, count, &p, &size, err);
  if (rc) return rc;
  if (mapped) {
    *dst = (void *)p;
    return 0;
  }
  if (!(*dst = malloc(size ? size : 1))) return lk_err_set(err, LK_ENOMEM, "out of memory");
  memcpy(*dst, p, size);
  return 0;
}

/* Checks the parameters of a saved IVF as lk_ivf_train would have made them. */
static int param_check(const ivf_param *p, const lkx_meta *m) {
  if (p->dim <= 0 || p->dim > MAX_DIM || (uint32_t)p->dim != m->dim || p->n != m->items || p->n > UINT32_MAX) return 0;
  if (p->pf < 0 || p->pf > p->dim || p->pc <= 0 || p->pc > (p->pf ? p->pf : p->dim)) return 0;
  if (p->ncols < 0 || p->ncols > LK_IVF_MAX_COLS) return 0;
  if (p->pfl != lk_quant_padded(p->pf) || p->pcl != lk_quant_padded(p->pc)) return 0;
  if (p->nlist <= 0 || p->nlist > 1 << 20 || p->nprobe <= 0 || p->rerank <= 0 || p->rerank > 100000) return 0;
  if (!(p->recall == -1.0f || (p->recall >= 0.0f && p->recall <= 1.0f))) return 0;
  return 1;
}

/* 1 when each of n codes (stride bytes apart, padding zero) sums to its recorded sum: the
 * searches' int arithmetic relies on it. */
static int sums_match(const int8_t *codes, size_t n, size_t stride, const int32_t *sum) {
  for (size_t i = 0; i < n; i++) {
    int32_t t = 0;
    for (size_t j = 0; j < stride; j++) t += codes[i * stride + j];
    if (t != sum[i]) return 0;
  }
  return 1;
}

/* What is wrong with list l, or NULL: its coarse codes must sum to their sums (the searches'
 * int arithmetic relies on it), its rows ascend (as adds append them), each below n and, with
 * fine codes, in the list rlist names (so no row is in two lists or twice in one). */
static const char *list_fault(const lk_ivf *v, int l) {
  const ivf_list *L = &v->lists[l];
  size_t len = L->len;
  if (v->lok && (lk_lkx_verify(v->x, L->rows, len * sizeof *L->rows) || lk_lkx_verify(v->x, L->codes, len * (size_t)v->pcl) ||
                 lk_lkx_verify(v->x, L->scale, len * sizeof *L->scale) || lk_lkx_verify(v->x, L->sum, len * sizeof *L->sum)))
    return "its bytes do not match their checksums";
  if (!sums_match(L->codes, L->len, (size_t)v->pcl, L->sum)) return "its codes do not match their sums";
  for (size_t i = 0; i < L->len; i++) {
    uint32_t r = L->rows[i];
    if (r >= v->n || (i && r <= L->rows[i - 1]) || (v->rlist && v->rlist[r] != (uint32_t)l))
      return "names a row not in it";
  }
  return NULL;
}

static int list_good(const void *ctx, size_t l) { return !list_fault(ctx, (int)l); }

/* Fine codes of rows c * FCHUNK.. sum to their sums. */
static int fine_good(const void *ctx, size_t c) {
  const lk_ivf *v = ctx;
  size_t r0 = c * FCHUNK, m = v->n - r0 < FCHUNK ? v->n - r0 : FCHUNK;
  if (lk_lkx_verify(v->x, v->fcode + r0 * (size_t)v->pfl, m * (size_t)v->pfl) ||
      lk_lkx_verify(v->x, v->fscale + r0, m * sizeof *v->fscale) || lk_lkx_verify(v->x, v->fsum + r0, m * sizeof *v->fsum))
    return 0;
  return sums_match(v->fcode + r0 * (size_t)v->pfl, m, (size_t)v->pfl, v->fsum + r0);
}

static int list_ok(const lk_ivf *v, int l) { return !v->lok || lk_lazy_ok(v->lok, (size_t)l, list_good, v); }
static int fine_ok(const lk_ivf *v, size_t r) { return !v->fok || lk_lazy_ok(v->fok, r / FCHUNK, fine_good, v); }

int lk_ivf_check(const lk_ivf *v) {
  for (int l = 0; v && l < v->nlist; l++)
    if (!list_ok(v, l)) return LK_ECORRUPT;
  for (size_t r = 0; v && v->pf && r < v->n; r += FCHUNK)
    if (!fine_ok(v, r)) return LK_ECORRUPT;
  return 0;
}

/* The lists' rows, codes, scales, sums and columns, from the concatenated sections, by the
 * lengths; each row must be in exactly one list (and the one rlist names): checked here, or
 * (v->lok) as searches first probe each list; the presence masks are made from the columns. */
static int load_lists(lk_ivf *v, const lk_lkx *x, const uint64_t *llen, int mapped, lk_errbuf *err) {
  const void *rows, *codes, *scale, *sum, *cols = NULL;
  size_t sz;
  int rc = lk_lkx_section(x, SEC_LROWS, sizeof(uint32_t), v->n, &rows, &sz, err);
  if (!rc) rc = lk_lkx_section(x, SEC_LCODES, (size_t)v->pcl, v->n, &codes, &sz, err);
  if (!rc) rc = lk_lkx_section(x, SEC_LSCALE, sizeof(float), v->n, &scale, &sz, err);
  if (!rc) rc = lk_lkx_section(x, SEC_LSUM, sizeof(int32_t), v->n, &sum, &sz, err);
  if (!rc && v->ncols) rc = lk_lkx_section(x, SEC_LCOLS, (size_t)v->ncols, v->n, &cols, &sz, err);
  uint64_t *seen = rc ? NULL : calloc(v->n / 64 + 1, sizeof *seen);
  if (!rc && !seen) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  size_t at = 0;
  for (int l = 0; !rc && l < v->nlist; l++) {
    ivf_list *L = &v->lists[l];
    size_t len = (size_t)llen[l];
    if (!len) continue;
    const uint32_t *lrows = (const uint32_t *)rows + at;
    const int8_t *lcodes = (const int8_t *)codes + at * (size_t)v->pcl;
    const float *lscale = (const float *)scale + at;
    const int32_t *lsum = (const int32_t *)sum + at;
    const uint8_t *lcols = cols ? (const uint8_t *)cols + at * (size_t)v->ncols : NULL;
    if (mapped) { /* the list's arrays are the file's */
      L->rows = (uint32_t *)lrows, L->codes = (int8_t *)lcodes, L->scale = (float *)lscale, L->sum = (int32_t *)lsum;
      for (int c = 0; c < v->ncols; c++) L->cols[c] = (uint8_t *)lcols + (size_t)c * len;
      L->cap = len;
      L->mapped = 1;
    } else if ((rc = resize_list(v, L, len))) {
      rc = lk_err_set(err, rc, "out of memory");
      break;
    } else {
      memcpy(L->rows, lrows, len * sizeof(uint32_t));
      memcpy(L->codes, lcodes, len * (size_t)v->pcl);
      memcpy(L->scale, lscale, len * sizeof(float));
      memcpy(L->sum, lsum, len * sizeof(int32_t));
      for (int c = 0; c < v->ncols; c++) memcpy(L->cols[c], lcols + (size_t)c * len, len);
    }
    for (int c = 0; c < v->ncols; c++) {
      const uint8_t *src = L->cols[c];
      for (size_t i = 0; i < len; i++)
        v->pres[((size_t)l * v->ncols + c) * 4 + src[i] / 64] |= (uint64_t)1 << (src[i] % 64);
    }
    L->len = len;
    const char *why = v->lok ? NULL : list_fault(v, l); /* (lazy: when a search first probes it) */
    if (why) {
      rc = lk_err_set(err, LK_ECORRUPT, "saved index: list %d: %s", l, why);
      break;
    }
    for (size_t i = 0; !v->rlist && !rc && i < len; i++) { /* coarse-only: no row in two lists */
      uint32_t r = L->rows[i];
      if (r >= v->n || seen[r / 64] >> (r % 64) & 1) /* (r < n: list_fault's, run later when lazy) */
        rc = lk_err_set(err, LK_ECORRUPT, "saved index: list %d names a row not in it", l);
      else
        seen[r / 64] |= (uint64_t)1 << (r % 64);
    }
    at += len;
  }
  free(seen);
  return rc;
}

/* lk_ivf_load (mapped 0), lk_ivf_load_mapped (1) and lk_ivf_load_lazy (1, lazy 1). */
static int load(const lk_lkx *x, int mapped, int lazy, lk_ivf **out, lk_errbuf *err) {
  *out = NULL;
  const void *pp;
  size_t sz;
  ivf_param p;
  int rc = lk_lkx_section(x, SEC_PARAM, 1, 0, &pp, &sz, err);
  if (rc) return rc;
  if (sz >= sizeof p) memcpy(&p, pp, sizeof p);
  if (sz != sizeof p || p.version != IVF_SECT_VERSION)
    return lk_err_set(err, LK_EMISMATCH, "saved index: stale (IVF sections of another version)");
  if (!param_check(&p, lk_lkx_meta(x))) return lk_err_set(err, LK_ECORRUPT, "saved index: IVF parameters out of range");
  lk_ivf *v = calloc(1, sizeof *v);
  if (!v) return lk_err_set(err, LK_ENOMEM, "out of memory");
  v->dim = p.dim, v->pf = p.pf, v->pc = p.pc, v->pfl = p.pfl, v->pcl = p.pcl;
  v->nlist = p.nlist, v->nprobe = p.nprobe, v->rerank = p.rerank, v->ncols = p.ncols, v->mapped = mapped;
  v->recall = p.recall;
  size_t n = (size_t)p.n, nl = (size_t)p.nlist, pf = (size_t)p.pf;
  uint64_t *llen = NULL;
  rc = pf ? load_sec(x, SEC_BF, sizeof(float) * (size_t)p.dim, pf, 0, (void **)&v->bf, err) : 0;
  if (!rc) rc = load_sec(x, SEC_WC, sizeof(float) * (pf ? pf : (size_t)p.dim), (size_t)p.pc, 0, (void **)&v->wc, err);
  if (!rc) rc = load_sec(x, SEC_CENT, sizeof(float) * (size_t)p.pc, nl, 0, (void **)&v->cent, err);
  if (!rc && pf) rc = load_sec(x, SEC_FMEAN, sizeof(float) * pf, nl, 0, (void **)&v->fmean, err);
  if (!rc) rc = load_sec(x, SEC_CHN, sizeof(float), nl, 0, (void **)&v->chn, err);
  if (!rc && cent_codes(v)) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  if (!rc) rc = load_sec(x, SEC_IDS, sizeof(int64_t), n, mapped, (void **)&v->ids, err);
  if (!rc && pf) rc = load_sec(x, SEC_RLIST, sizeof(uint32_t), n, mapped, (void **)&v->rlist, err);
  if (!rc && pf) rc = load_sec(x, SEC_FCODE, (size_t)p.pfl, n, mapped, (void **)&v->fcode, err);
  if (!rc && pf) rc = load_sec(x, SEC_FSCALE, sizeof(float), n, mapped, (void **)&v->fscale, err);
  if (!rc && pf) rc = load_sec(x, SEC_FSUM, sizeof(int32_t), n, mapped, (void **)&v->fsum, err);
  if (!rc) rc = load_sec(x, SEC_LLEN, sizeof *llen, nl, 0, (void **)&llen, err);
  if (!rc && !(v->lists = calloc(nl, sizeof *v->lists))) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  if (!rc && !(v->pres = calloc(nl * (size_t)v->ncols * 4 + 1, sizeof *v->pres)))
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  /* coarse-only: a row in two lists is found over all of them at once, so the lists' rows
   * (4 B a row) are verified whole now; their codes still as searches first probe them */
  const void *sp = NULL;
  if (!rc && lazy && !pf && !lk_lkx_section(x, SEC_LROWS, 1, 0, &sp, &sz, NULL) && lk_lkx_verify(x, sp, sz))
    rc = lk_err_set(err, LK_ECORRUPT, "saved index: the IVF's list rows: checksum mismatch (damaged file)");
  if (!rc && lazy && (!(v->lok = calloc(nl, 1)) || !(v->fok = calloc(n / FCHUNK + 1, 1))))
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  v->x = x;
  v->n = v->cap = n;
  uint64_t total = 0;
  for (size_t l = 0; !rc && l < nl; l++)
    if ((total += llen[l]) > n) rc = lk_err_set(err, LK_ECORRUPT, "saved index: list lengths exceed the items");
  if (!rc && total != n) rc = lk_err_set(err, LK_ECORRUPT, "saved index: list lengths do not add up to the items");
  for (size_t r = 0; !rc && r < n; r++)
    if (v->ids[r] < 0 || (v->rlist && v->rlist[r] >= nl))
      rc = lk_err_set(err, LK_ECORRUPT, "saved index: row %zu out of range", r);
  if (!rc && pf && !lazy && !sums_match(v->fcode, n, (size_t)v->pfl, v->fsum))
    rc = lk_err_set(err, LK_ECORRUPT, "saved index: fine codes do not match their sums");
  if (!rc) rc = load_lists(v, x, llen, mapped, err);
  free(llen);
  if (rc) {
    lk_ivf_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

int lk_ivf_load(const lk_lkx *x, lk_ivf **out, lk_errbuf *err) { return load(x, 0, 0, out, err); }

int lk_ivf_load_mapped(const lk_lkx *x, lk_ivf **out, lk_errbuf *err) { return load(x, 1, 0, out, err); }

int lk_ivf_load_lazy(const lk_lkx *x, lk_ivf **out, lk_errbuf *err) { return load(x, 1, 1, out, err); }

const int64_t *lk_ivf_ids(const lk_ivf *v) { return v->ids; }
