/* bench/engine_ivf_bench.c — the engine's IVF before issue 19 (fine + coarse codes, 768/128-d,
 * the best 50 fine-code hits re-ranked exactly) against coarse-only codes, the engine's IVF now
 * (index/ivf.h fine_dims 0, 128-d coarse, exact re-rank of the best `rerank` from the float rows), over a catalog's own index rows (with a
 * tuned catalog's label prior, the widened rows the engine searches), opened from its saved
 * index: recall@10 against the exact scan of the same rows and p50/p99 of one query per call,
 * one thread, queries = the search rows of Q items spread over the catalog (each excluded from
 * its own answer) and, with --photos, photos embedded with the catalog's recipe as a photo search
 * embeds them (nothing excluded; several folders comma-separated). docs/PERFORMANCE.md "Saved
 * index". Not a test.
 *   engine_ivf_bench --db CATALOG [--queries 200] [--photos DIR[,DIR]] [--nprobe 16,32,96]
 *                    [--rerank 100,200,1000] [--kinds both|engine|coarse]
 *   (--kinds engine: the engine's code-length rule at its cap, and the same rule capped at 128) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/image.h"
#include "index/index.h"
#include "index/ivf.h"
#include "search/engine.h"

#include "search_common.h"

typedef struct rows {
  const lk_index *ix;
} rows;

static int row_get(void *ctx, int64_t id, const float **out) {
  const rows *r = ctx;
  int64_t row = lk_index_row(r->ix, id);
  if (row < 0) return LK_ECORRUPT;
  *out = lk_index_vector(r->ix, (size_t)row);
  return 0;
}

/* An IVF over every row of ix, trained as build_ivf trains the engine's (65,536 rows spread). */
static int build(const lk_index *ix, int fine, int coarse, float share, lk_ivf **out, double *secs) {
  size_t n = lk_index_size(ix), nt = n < 65536 ? n : 65536;
  int d = lk_index_dim(ix), rc;
  lk_ivf_opts io;
  lk_ivf_opts_default(&io);
  io.expected = n;
  io.nprobe = LK_ENGINE_IVF_NPROBE;
  io.rerank = LK_ENGINE_IVF_RERANK;
  io.fine_dims = fine > d ? d : fine;
  io.coarse_dims = coarse > (fine ? io.fine_dims : d) ? (fine ? io.fine_dims : d) : coarse;
  io.code_share = share;
  float *x = malloc(sizeof(float) * nt * (size_t)d);
  if (!x) return LK_ENOMEM;
  double t0 = now();
  for (size_t i = 0; i < nt; i++) memcpy(x + i * (size_t)d, lk_index_vector(ix, i * n / nt), sizeof(float) * (size_t)d);
  rc = lk_ivf_train(&io, d, x, nt, out);
  free(x);
  for (size_t r0 = 0; !rc && r0 < n; r0 += 4096) {
    size_t m = n - r0 < 4096 ? n - r0 : 4096;
    rc = lk_ivf_add(*out, lk_index_ids(ix) + r0, lk_index_vector(ix, r0), m);
  }
  if (!rc) rc = lk_ivf_trim(*out);
  *secs = now() - t0;
  return rc;
}

/* A query set: nq search rows, the id each excludes (-1: none) and the exact scan's top-k. */
typedef struct qset {
  const char *name;
  int nq;
  float *q;
  int64_t *ex;
  lk_hit *truth;
} qset;

static int qset_alloc(qset *s, const char *name, int nq, int d, int k) {
  s->name = name;
  s->nq = nq;
  s->q = malloc(sizeof(float) * (size_t)nq * (size_t)d);
  s->ex = malloc(sizeof *s->ex * (size_t)nq);
  s->truth = malloc(sizeof *s->truth * (size_t)nq * (size_t)k);
  return s->q && s->ex && s->truth ? 0 : LK_ENOMEM;
}

/* The search rows of nq items spread over the catalog, each excluded from its own answer. */
static int row_queries(lk_engine *e, const lk_index *ix, int nq, int k, qset *s) {
  size_t n = lk_index_size(ix), d = (size_t)lk_index_dim(ix);
  if (qset_alloc(s, "catalog rows", nq, (int)d, k)) return LK_ENOMEM;
  for (int i = 0; i < nq; i++) {
    s->ex[i] = lk_index_ids(ix)[(size_t)i * n / (size_t)nq + 7];
    lk_engine_make_query(e, lk_engine_vector(e, s->ex[i]), s->q + (size_t)i * d);
    int rc = lk_index_search(ix, s->q + (size_t)i * d, 1, k, NULL, s->ex[i], s->truth + (size_t)i * (size_t)k, NULL);
    if (rc) return rc;
  }
  return 0;
}

/* Every decodable photo of dir embedded with the catalog's recipe (lk_engine_embed, then
 * lk_engine_make_query, as a photo search does); nothing excluded. */
static int photo_queries(lk_engine *e, const char *dir, int k, qset *s) {
  size_t d = (size_t)lk_engine_query_dim(e);
  DIR *dh = opendir(dir);
  struct dirent *de;
  int cap = 0, n = 0, rc = 0;
  float *vec = malloc(sizeof(float) * (size_t)lk_engine_dim(e));
  if (!dh || !vec) return LK_EIO;
  memset(s, 0, sizeof *s);
  s->name = dir;
  while (!rc && (de = readdir(dh))) {
    const char *dot = strrchr(de->d_name, '.');
    if (!dot || (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png"))) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    lk_image img = {0};
    lk_errbuf eb = {0};
    if (lk_image_load(path, NULL, 0, &img, &eb) || lk_engine_embed(e, &img, vec, &eb)) {
      fprintf(stderr, "%s: %s (skipped)\n", path, lk_err_msg(&eb));
      lk_image_free(&img);
      continue;
    }
    lk_image_free(&img);
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      float *q = realloc(s->q, sizeof(float) * (size_t)cap * d);
      if (!q) rc = LK_ENOMEM;
      else s->q = q;
    }
    if (!rc) lk_engine_make_query(e, vec, s->q + (size_t)n++ * d);
  }
  closedir(dh);
  free(vec);
  s->nq = n;
  s->ex = malloc(sizeof *s->ex * (size_t)(n ? n : 1));
  s->truth = malloc(sizeof *s->truth * (size_t)(n ? n : 1) * (size_t)k);
  if (rc || !s->ex || !s->truth || !n) return rc ? rc : LK_ENOMEM;
  for (int i = 0; i < n; i++) s->ex[i] = -1;
  /* the exact scan in groups of queries (one pass over the rows per group) */
  return lk_index_search(lk_engine_index(e), s->q, n, k, NULL, -1, s->truth, NULL);
}

/* recall@k against s's exact top-k and p50/p99 ms of one query per call, one thread. */
static int measure(const lk_ivf *v, const qset *s, int d, int k, int nprobe, double *recall, double *p50, double *p99) {
  double hit = 0, *t = malloc(sizeof *t * (size_t)s->nq);
  lk_hit *h = malloc(sizeof *h * (size_t)k);
  int rc = t && h ? 0 : LK_ENOMEM;
  for (int i = 0; i < s->nq && !rc; i++) {
    double t0 = now();
    int nf = 0;
    rc = lk_ivf_search(v, s->q + (size_t)i * (size_t)d, 1, k, nprobe, NULL, s->ex[i], h, &nf);
    t[i] = (now() - t0) * 1e3;
    for (int a = 0; a < nf; a++)
      for (int b = 0; b < k; b++) hit += h[a].id == s->truth[(size_t)i * (size_t)k + (size_t)b].id;
  }
  *recall = hit / ((double)s->nq * k);
  *p50 = pct(t, s->nq, 50);
  *p99 = pct(t, s->nq, 99);
  free(t);
  free(h);
  return rc;
}

/* A comma-separated list of positive ints into out (at most max): the count, 0 when bad. */
static int int_list(const char *s, int *out, int max) {
  int n = 0;
  for (char *end; *s && n < max; s = *end == ',' ? end + 1 : end) {
    long x = strtol(s, &end, 10);
    if (end == s || x <= 0 || x > 100000 || (*end && *end != ',')) return 0;
    out[n++] = (int)x;
  }
  return *s ? 0 : n;
}

#define MAXQS 4

int main(int argc, char **argv) {
  const char *db = arg(argc + 1, argv - 1, "--db", NULL), *photos = arg(argc + 1, argv - 1, "--photos", NULL);
  const char *only = arg(argc + 1, argv - 1, "--kinds", "both");
  int nq = atoi(arg(argc + 1, argv - 1, "--queries", "200")), probes[16], reranks[16];
  int np = int_list(arg(argc + 1, argv - 1, "--nprobe", "16,32,96"), probes, 16);
  int nr = int_list(arg(argc + 1, argv - 1, "--rerank", "100,200,1000"), reranks, 16);
  if (!db || nq <= 0 || !np || !nr || (strcmp(only, "both") && strcmp(only, "engine") && strcmp(only, "coarse"))) {
    fprintf(stderr, "usage: engine_ivf_bench --db CATALOG [--queries 200] [--photos DIR[,DIR]] [--nprobe 16,32,96] "
                    "[--rerank 100,200,1000] [--kinds both|engine|coarse]\n");
    return 2;
  }
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  if (lk_engine_open(db, &o, &e, &eb)) {
    fprintf(stderr, "%s\n", lk_err_msg(&eb));
    return 1;
  }
  const lk_index *ix = lk_engine_index(e);
  size_t n = lk_index_size(ix);
  int d = lk_index_dim(ix), k = 10, ns = 0;
  rows rr = {ix};
  qset qs[MAXQS];
  if (row_queries(e, ix, nq, k, &qs[ns++])) return 1;
  char *dirs = photos ? strdup(photos) : NULL;
  for (char *p = dirs ? strtok(dirs, ",") : NULL; p && ns < MAXQS; p = strtok(NULL, ",")) {
    double t0 = now();
    if (photo_queries(e, p, k, &qs[ns])) {
      fprintf(stderr, "%s: no photo queries\n", p);
      return 1;
    }
    fprintf(stderr, "%s: %d photos embedded, exact top-%d in %.0f s\n", p, qs[ns].nq, k, now() - t0);
    ns++;
  }
  printf("engine_ivf: %s, %zu rows of %d floats, k %d\n", db, n, d, k);
  for (int s = 0; s < ns; s++) printf("queries: %s, %d\n", qs[s].name, qs[s].nq);
  /* --kinds engine: the engine's codes (at most LK_ENGINE_IVF_CODE directions, fewer where fewer
   * hold LK_ENGINE_IVF_CODE_SHARE of the energy) beside the same rule capped at 128 (before
   * 2026-12-07 13:00); coarse: fixed 128-d codes; both: fine + coarse (the engine before issue 19)
   * and fixed 128-d */
  static const struct { const char *name; int fine, coarse; float share; int set; } kinds[] = {
      {"fine+coarse (old engine)", 768, 128, 0, 0}, {"coarse-only 128", 0, 128, 0, 1},
      {"coarse-only, the engine's share, at most the engine's cap", 0, LK_ENGINE_IVF_CODE, LK_ENGINE_IVF_CODE_SHARE, 2},
      {"coarse-only, the engine's share, at most 128", 0, 128, LK_ENGINE_IVF_CODE_SHARE, 2}};
  for (int c = 0; c < 4; c++) {
    int want = !strcmp(only, "both") ? kinds[c].set < 2 : !strcmp(only, "coarse") ? kinds[c].set == 1 : kinds[c].set == 2;
    if (!want) continue;
    lk_ivf *v = NULL;
    double bs;
    if (build(ix, kinds[c].fine, kinds[c].coarse, kinds[c].share, &v, &bs)) return 1;
    if (lk_ivf_set_refine(v, 50, row_get, &rr)) return 1;
    int nl, pf, pc;
    lk_ivf_shape(v, &nl, &pf, &pc);
    printf("%s: built in %.1f s, %.0f B/item, %d-d codes\n", kinds[c].name, bs, (double)lk_ivf_memory(v) / (double)n, pc);
    for (int pi = 0; pi < np; pi++)
      for (int ri = 0; ri < nr; ri++) {
        if (lk_ivf_set_rerank(v, reranks[ri]) || (!kinds[c].fine && lk_ivf_set_refine(v, reranks[ri], row_get, &rr)))
          return 1;
        for (int s = 0; s < ns; s++) {
          double rec, p50, p99;
          if (measure(v, &qs[s], d, k, probes[pi], &rec, &p50, &p99)) return 1;
          printf("RESULT %s | %s | nprobe=%d rerank=%d recall@10=%.3f p50_ms=%.3f p99_ms=%.3f\n", kinds[c].name,
                 qs[s].name, probes[pi], reranks[ri], rec, p50, p99);
          fflush(stdout);
        }
      }
    lk_ivf_free(v);
  }
  for (int s = 0; s < ns; s++) {
    free(qs[s].q);
    free(qs[s].ex);
    free(qs[s].truth);
  }
  free(dirs);
  lk_engine_close(e);
  return 0;
}
