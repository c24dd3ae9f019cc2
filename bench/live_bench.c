/* bench/live_bench.c — what a change to a served catalog costs (search/engine.h "live
 * changes"), the work search/live.c does per write: one upsert or deletion applied with
 * lk_engine_derive to the engine in use, p50/p99 over --changes changes, and the latency of
 * searches before and after a delta of --delta items; plus the optimiser's full rebuild.
 * The catalog is synthetic: --n items whose --dim vectors are drawn around 4,096 random
 * centres (a catalog file holds the recipe and the first 1,000; the rest are derived, then
 * rebuilt into one full engine, index as a fresh load of --n items would choose). Filtered
 * searches: gender=Women (25 % of the items) and gender=Women baseColour=Navy Blue (2.1 %),
 * with their recall@10 against the exact filtered top-10 (every passing vector scored).
 *   live_bench --n 1000000 [--dim 256] [--changes 200] [--delta 10000] [--queries 200] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "embed/recipe.h"
#include "index/index.h"
#include "search/engine.h"
#include "util/rng.h"

static const char *genders[] = {"Men", "Women", "Boys", "Girls"};
static const char *types[] = {"Tshirts", "Shirts", "Jeans", "Heels", "Watches", "Kurtas", "Sarees"};
static const char *colours[] = {"Black", "White", "Blue", "Navy Blue", "Red", "Grey",
                                "Green", "Brown", "Pink", "Purple", "Beige", "Yellow"};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The calling thread's CPU time: what a search cost without the time other processes held the
 * core (the machine is shared). */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(double *t, int n, double p) {
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  int i = (int)ceil(p / 100 * n) - 1;
  return t[i < 0 ? 0 : i];
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name)) return argv[i + 1];
  return def;
}

typedef struct synth {
  int dim;
  float *centres; /* 4096 x dim */
  uint64_t rng;
} synth;

static void vec(synth *s, float *v) {
  const float *c = s->centres + (size_t)(lk_rng_next(&s->rng) % 4096) * (size_t)s->dim;
  double nn = 0;
  for (int j = 0; j < s->dim; j++) {
    v[j] = c[j] + 0.6f * (lk_rng_unit(&s->rng) - 0.5f);
    nn += (double)v[j] * v[j];
  }
  for (int j = 0; j < s->dim; j++) v[j] = (float)(v[j] / sqrt(nn));
}

static void item(synth *s, int64_t id, lk_item *it, char *name) {
  memset(it, 0, sizeof *it);
  it->id = id;
  sprintf(name, "Product %lld", (long long)id);
  it->path = "p.jpg";
  it->status = "ok";
  it->field[0] = (char *)genders[lk_rng_next(&s->rng) % 4];
  it->field[3] = (char *)types[lk_rng_next(&s->rng) % 7];
  it->field[4] = (char *)colours[id % 12]; /* (no draw: the vectors stay those of before) */
  it->field[8] = name;
}

/* p50 and p99 of nq searches (k 10; filter f or none) on e, in ms; cpu (may be NULL): the
 * thread's CPU time's p50 and p99. */
static void searches(const lk_engine *e, synth *s, int nq, const lk_filter *f, double *p50, double *p99,
                     double cpu[2]) {
  double *t = malloc(sizeof *t * (size_t)nq), *tc = malloc(sizeof *tc * (size_t)nq);
  float *v = malloc(sizeof(float) * (size_t)s->dim);
  uint64_t keep = s->rng;
  s->rng = 99; /* the same queries every time */
  for (int q = 0; q < nq; q++) {
    lk_hit hits[10];
    int n = 0;
    vec(s, v);
    double t0 = now(), c0 = cpu_now();
    if (lk_engine_search_vector(e, v, f, 10, -1, hits, &n, NULL)) { fprintf(stderr, "search failed\n"); exit(1); }
    t[q] = (now() - t0) * 1e3;
    tc[q] = (cpu_now() - c0) * 1e3;
  }
  s->rng = keep;
  *p50 = pct(t, nq, 50);
  *p99 = pct(t, nq, 99);
  if (cpu) {
    cpu[0] = pct(tc, nq, 50);
    cpu[1] = pct(tc, nq, 99);
  }
  free(t);
  free(tc);
  free(v);
}

/* recall@10 of the queries of searches() with filter f (or none) against the exact top-10 of
 * the items passing f (every passing vector scored); *frac: the share of items passing. */
static double recall(const lk_engine *e, synth *s, int nq, const lk_filter *f, double *frac) {
  size_t n = lk_engine_item_count(e), m = 0;
  const float **rows = malloc(sizeof *rows * n);
  int64_t *ids = malloc(sizeof *ids * n);
  float *sc = malloc(sizeof *sc * n), *v = malloc(sizeof(float) * (size_t)s->dim);
  for (size_t i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    const float *row = lk_engine_vector(e, it->id);
    if (row && lk_filter_match(it, f, NULL)) {
      rows[m] = row;
      ids[m++] = it->id;
    }
  }
  *frac = (double)m / (double)n;
  uint64_t keep = s->rng;
  s->rng = 99; /* the queries of searches() */
  long found = 0, want = 0;
  for (int q = 0; q < nq; q++) {
    lk_hit hits[10], best[10];
    int nh = 0, nb = 0;
    vec(s, v);
    if (lk_engine_search_vector(e, v, f, 10, -1, hits, &nh, NULL)) { fprintf(stderr, "search failed\n"); exit(1); }
    lk_index_dots(v, rows, (int)m, s->dim, sc);
    for (size_t i = 0; i < m; i++) { /* the 10 best, kept sorted */
      if (nb == 10 && sc[i] <= best[9].score) continue;
      int j = nb < 10 ? nb++ : 9;
      for (; j > 0 && best[j - 1].score < sc[i]; j--) best[j] = best[j - 1];
      best[j] = (lk_hit){ids[i], sc[i]};
    }
    for (int a = 0; a < nb; a++)
      for (int b = 0; b < nh; b++) found += best[a].id == hits[b].id;
    want += nb;
  }
  s->rng = keep;
  free(rows);
  free(ids);
  free(sc);
  free(v);
  return want ? (double)found / (double)want : 1;
}

int main(int argc, char **argv) {
  size_t N = (size_t)atoll(arg(argc, argv, "--n", "35000"));
  int dim = atoi(arg(argc, argv, "--dim", "256"));
  int nch = atoi(arg(argc, argv, "--changes", "200"));
  size_t ndelta = (size_t)atoll(arg(argc, argv, "--delta", "10000"));
  int nq = atoi(arg(argc, argv, "--queries", "200"));
  if (N < 2000 || dim < 8 || nch < 1 || nq < 1 || ndelta >= N) {
    fprintf(stderr, "usage: live_bench --n N (>= 2000) [--dim D] [--changes C] [--delta M < N] [--queries Q]\n");
    return 2;
  }
  synth s = {.dim = dim, .rng = 7};
  s.centres = malloc(sizeof(float) * 4096 * (size_t)dim);
  for (size_t i = 0; i < 4096 * (size_t)dim; i++) s.centres[i] = lk_rng_unit(&s.rng) - 0.5f;
  char dir[] = "/tmp/lk-live-bench-XXXXXX", db[64], name[64];
  if (!mkdtemp(dir)) return 1;
  snprintf(db, sizeof db, "%s/c.db", dir);
  lk_catalog *c = NULL;
  lk_errbuf eb = {0};
  float *v = malloc(sizeof(float) * (size_t)dim);
  if (lk_catalog_open(db, LK_CATALOG_CREATE, &c, &eb)) { fprintf(stderr, "%s\n", lk_err_msg(&eb)); return 1; }
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  char *js = lk_recipe_to_json(&r);
  lk_catalog_set_meta(c, "recipe", js);
  free(js);
  lk_recipe_clear(&r);
  lk_catalog_begin(c);
  for (int64_t id = 0; id < 1000; id++) {
    lk_item it;
    item(&s, id, &it, name);
    vec(&s, v);
    lk_catalog_put_item(c, &it);
    lk_catalog_put_vector(c, id, v, dim);
  }
  lk_catalog_commit(c);
  lk_catalog_close(c);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  lk_engine *e = NULL, *d = NULL;
  if (lk_engine_open(db, &o, &e, &eb)) { fprintf(stderr, "%s\n", lk_err_msg(&eb)); return 1; }
  unlink(db);
  for (int i = 0; i < 2; i++) { /* SQLite's WAL files, left by the read-only open */
    char side[80];
    snprintf(side, sizeof side, "%s%s", db, i ? "-shm" : "-wal");
    unlink(side);
  }
  rmdir(dir);
  /* the rest of the catalog, in one derivation, then one full engine */
  size_t nrest = N - 1000;
  lk_engine_change *ch = malloc(sizeof *ch * nrest);
  lk_item *its = malloc(sizeof *its * nrest);
  char (*names)[64] = malloc(64 * nrest);
  float *vs = malloc(sizeof(float) * (size_t)dim * nrest);
  for (size_t i = 0; i < nrest; i++) {
    int64_t id = (int64_t)(1000 + i);
    item(&s, id, &its[i], name);
    snprintf(names[i], 64, "%s", name);
    its[i].field[8] = names[i];
    vec(&s, vs + i * (size_t)dim);
    ch[i] = (lk_engine_change){id, &its[i], vs + i * (size_t)dim, dim};
  }
  double t0 = now();
  if (lk_engine_derive(e, ch, nrest, &d, &eb)) { fprintf(stderr, "%s\n", lk_err_msg(&eb)); return 1; }
  double t_bulk = now() - t0;
  lk_engine_close(e);
  t0 = now();
  if (lk_engine_rebuild(d, &o, &e, &eb)) { fprintf(stderr, "%s\n", lk_err_msg(&eb)); return 1; }
  double t_rebuild = now() - t0;
  lk_engine_close(d);
  free(vs);
  free(names);
  free(its);
  printf("catalog: %zu items of %d floats, index %s; %zu inserts in one derivation %.2f s; "
         "full rebuild (the optimiser) %.1f s\n", N, dim, lk_engine_index_name(e), nrest, t_bulk, t_rebuild);

  /* one change at a time, each derived from the engine before, as live.c does */
  double *tu = malloc(sizeof *tu * (size_t)nch), *td = malloc(sizeof *td * (size_t)nch);
  lk_engine *cur = NULL;
  if (lk_engine_derive(e, NULL, 0, &cur, &eb)) return 1;
  for (int i = 0; i < 2 * nch; i++) {
    int del = i % 2;
    int64_t id = (int64_t)(lk_rng_next(&s.rng) % N);
    lk_item it;
    lk_engine_change one = {id, NULL, NULL, 0};
    if (!del) {
      item(&s, id, &it, name);
      vec(&s, v);
      one = (lk_engine_change){id, &it, v, dim};
    }
    t0 = now();
    if (lk_engine_derive(cur, &one, 1, &d, &eb)) { fprintf(stderr, "%s\n", lk_err_msg(&eb)); return 1; }
    lk_engine_close(cur);
    (del ? td : tu)[i / 2] = (now() - t0) * 1e3;
    cur = d;
  }
  printf("one change, engine of %zu items: upsert p50 %.3f ms p99 %.3f ms; delete p50 %.3f ms p99 %.3f ms "
         "(%d of each, the delta growing to %zu)\n", N, pct(tu, nch, 50), pct(tu, nch, 99), pct(td, nch, 50),
         pct(td, nch, 99), nch, lk_engine_delta(cur));
  lk_engine_close(cur);

  lk_filter f = {0}, f2 = {0};
  lk_filter_add(&f, "gender=Women", NULL);
  lk_filter_add(&f2, "gender=Women", NULL);
  lk_filter_add(&f2, "baseColour=Navy Blue", NULL);
  double a50, a99, b50, b99, fa50, fa99, fb50, fb99, ga50, ga99, gb50, gb99, cpu[3][2], rc10[3], frac[3];
  searches(e, &s, nq, NULL, &a50, &a99, cpu[0]);
  searches(e, &s, nq, &f, &fa50, &fa99, cpu[1]);
  searches(e, &s, nq, &f2, &ga50, &ga99, cpu[2]);
  rc10[0] = recall(e, &s, nq, NULL, &frac[0]);
  rc10[1] = recall(e, &s, nq, &f, &frac[1]);
  rc10[2] = recall(e, &s, nq, &f2, &frac[2]);
  /* a delta of ndelta changes: a third deletions, the rest upserts (new vectors) */
  lk_item *dit = malloc(sizeof *dit * ndelta);
  float *dv = malloc(sizeof(float) * (size_t)dim * ndelta);
  size_t m = 0;
  for (size_t i = 0; i < ndelta; i++) {
    int64_t id = (int64_t)(i * (N / ndelta));
    ch[m] = (lk_engine_change){id, NULL, NULL, 0};
    if (i % 3) {
      item(&s, id, &dit[i], name); /* (one name for all: copied by the derivation) */
      vec(&s, dv + i * (size_t)dim);
      ch[m] = (lk_engine_change){id, &dit[i], dv + i * (size_t)dim, dim};
    }
    m++;
  }
  t0 = now();
  if (lk_engine_derive(e, ch, m, &d, &eb)) { fprintf(stderr, "%s\n", lk_err_msg(&eb)); return 1; }
  double t_delta = now() - t0;
  searches(d, &s, nq, NULL, &b50, &b99, NULL);
  searches(d, &s, nq, &f, &fb50, &fb99, NULL);
  searches(d, &s, nq, &f2, &gb50, &gb99, NULL);
  printf("search k=10, %d queries: p50 %.2f ms p99 %.2f ms (CPU %.2f / %.2f); with a delta of %zu: p50 %.2f ms "
         "p99 %.2f ms (applied in %.0f ms); recall@10 %.3f\n", nq, a50, a99, cpu[0][0], cpu[0][1], ndelta, b50, b99,
         t_delta * 1e3, rc10[0]);
  printf("search k=10 gender=Women (%.1f %% of items): p50 %.2f ms p99 %.2f ms (CPU %.2f / %.2f); with the delta: "
         "p50 %.2f ms p99 %.2f ms; recall@10 %.3f\n", 100 * frac[1], fa50, fa99, cpu[1][0], cpu[1][1], fb50, fb99,
         rc10[1]);
  printf("search k=10 gender=Women baseColour=Navy Blue (%.1f %% of items): p50 %.2f ms p99 %.2f ms (CPU %.2f / "
         "%.2f); with the delta: p50 %.2f ms p99 %.2f ms; recall@10 %.3f\n", 100 * frac[2], ga50, ga99, cpu[2][0],
         cpu[2][1], gb50, gb99, rc10[2]);
  lk_engine_close(d);
  lk_engine_close(e);
  free(dit);
  free(dv);
  free(ch);
  free(tu);
  free(td);
  free(v);
  free(s.centres);
  return 0;
}
