/* bench/big_bench.c — issue 19's ten million items (docs/PERFORMANCE.md "Ten million items"),
 * run by bench/big.sh. N rows drawn around a tuned catalog's real vectors (search_common.h's
 * generator, as `search_bench ivf` draws them) are streamed to a float32 vector file, each row
 * inheriting its parent item's 7 metadata fields as uint8 filter columns; the IVF (coarse-only
 * codes, exact re-rank from the memory-mapped file) is trained, filled, saved to an lkx file,
 * freed and loaded back; then resident memory, and p50/p99 with recall@10 against exact search,
 * unfiltered and with a ~2 % shopper's filter per query. Exits non-zero on a bad argument, a
 * filtered hit that does not pass its filter, or fewer than k hits. Not a test. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "index/ivf.h"
#include "index/lkx.h"
#include "search/engine.h"
#include "util/err.h"
#include "util/file.h"
#include "util/linalg.h"
#include "util/size.h"

#include "search_common.h"

#define NCOL 7
#define K 10 /* hits a search returns */
static const int col_field[NCOL] = {LK_FIELD_GENDER,      LK_FIELD_MASTER_CATEGORY, LK_FIELD_SUB_CATEGORY,
                                    LK_FIELD_ARTICLE_TYPE, LK_FIELD_BASE_COLOUR,     LK_FIELD_SEASON,
                                    LK_FIELD_USAGE};
enum { C_GENDER, C_MASTER, C_SUB, C_ARTICLE, C_COLOUR, C_SEASON, C_USAGE };

/* ---------------------------------------------------------------- arguments */

typedef struct opts {
  const char *db, *out, *nprobe, *rerank;
  size_t n, ntrain, batch;
  int nq, nlist, coarse;
} opts;

static int usage(const char *why, const char *what) {
  fprintf(stderr,
          "big_bench: %s%s%s\n"
          "usage: big_bench [--db TUNED_DB] [--n ROWS] [--queries Q] [--out DIR] [--nprobe 8,16,...]\n"
          "                 [--rerank 50,100,200] [--nlist L] [--train ROWS] [--coarse DIMS] [--batch ROWS]\n",
          why, what ? ": " : "", what ? what : "");
  return 2;
}

/* A whole number in [lo, hi], or -1. */
static long long whole(const char *s, long long lo, long long hi) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  return v;
}

/* A comma-separated list of whole numbers in [lo, hi] into out (at most cap); count or -1. */
static int int_list(const char *s, int lo, int hi, int *out, int cap) {
  char buf[256];
  if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) return -1;
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    long long v = whole(t, lo, hi);
    if (v < 0 || n == cap) return -1;
    out[n++] = (int)v;
  }
  return n ? n : -1;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){"/tmp/lk-bench-tuned.db", "/tmp/lk-big", "8,16,32,48,64,96,128", "50,100,200", 10000000, 131072, 65536,
              300, 0, 128}; /* codes of at most 128 directions, shortened as the engine's (to 64 on the tuned recipe).
                             * Fixed 128-d: at 10M 155 B/item, p50 0.3 ms, built in 1.7 min; 256-d: 284 B, 0.8 ms, 5.5 min (same recall) */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long long x = 0;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf("usage: big_bench [--db TUNED_DB] [--n ROWS] [--queries Q] [--out DIR] [--nprobe 8,16,...]\n"
             "                 [--rerank 50,100,200] [--nlist L] [--train ROWS] [--coarse DIMS] [--batch ROWS]\n"
             "(--coarse: the code's length, default 128; 0 = the vectors' own dimension)\n"
             "Issue 19's 10M benchmark (bench/big.sh runs it): rows drawn around TUNED_DB's vectors,\n"
             "the coarse-only IVF with 7 filter columns built, saved, loaded back and swept.\n");
      return 1;
    }
    if (!v) return usage("missing value after", a);
    if (!strcmp(a, "--db")) o->db = v;
    else if (!strcmp(a, "--out")) o->out = v;
    else if (!strcmp(a, "--nprobe")) o->nprobe = v;
    else if (!strcmp(a, "--rerank")) o->rerank = v;
    else if (!strcmp(a, "--n")) x = whole(v, 1000, 1000000000), o->n = (size_t)x;
    else if (!strcmp(a, "--queries")) x = whole(v, 1, 100000), o->nq = (int)x;
    else if (!strcmp(a, "--nlist")) x = whole(v, 0, 1 << 20), o->nlist = (int)x;
    else if (!strcmp(a, "--train")) x = whole(v, 1000, 10000000), o->ntrain = (size_t)x;
    else if (!strcmp(a, "--coarse")) x = whole(v, 0, 1 << 16), o->coarse = (int)x;
    else if (!strcmp(a, "--batch")) x = whole(v, 1, 1 << 22), o->batch = (size_t)x;
    else return usage("unknown option", a);
    if (x < 0) return usage("not a whole number in range", v);
    i++;
  }
  return 0;
}

/* ---------------------------------------------------------------- memory */

/* Resident kB of this process's mappings of path (/proc/self/smaps), 0 when none. */
static long mapped_rss(const char *path) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[4352];
  long kb = 0, v;
  unsigned long lo, hi;
  int in = 0;
  size_t pl = strlen(path);
  while (f && fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n') line[--n] = '\0';
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's header line */
      in = n >= pl && !strcmp(line + n - pl, path);
    else if (in && sscanf(line, "Rss: %ld", &v) == 1)
      kb += v;
  }
  if (f) fclose(f);
  return kb;
}

/* ---------------------------------------------------------------- metadata columns */

/* Per column, the values met (code = index + 1; 0 = no value; 255 = one of the values past the
 * 254th, which the 7 fields of the fashion catalog never reach). */
typedef struct dict {
  char *val[NCOL][255];
  int n[NCOL], over[NCOL];
} dict;

static uint8_t dict_code(dict *d, int c, const char *s) {
  if (!s || !*s) return 0;
  for (int i = 0; i < d->n[c]; i++)
    if (!strcmp(d->val[c][i], s)) return (uint8_t)(i + 1);
  if (d->n[c] == 254) return d->over[c]++, 255;
  d->val[c][d->n[c]] = strdup(s);
  return d->val[c][d->n[c]] ? (uint8_t)(++d->n[c]) : 255;
}

static const char *dict_name(const dict *d, int c, int code) {
  return code == 0 ? "(none)" : code == 255 ? "(other)" : d->val[c][code - 1];
}

typedef struct item_ctx {
  const vecs *a;
  dict *d;
  uint8_t *cols; /* a->n x NCOL */
  size_t matched;
} item_ctx;

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return a < b ? -1 : a > b;
}

static int item_cb(void *ctx, const lk_item *it) {
  item_ctx *c = ctx;
  const int64_t *p = bsearch(&it->id, c->a->ids, c->a->n, sizeof(int64_t), cmp_i64);
  if (!p) return 0; /* an item without a vector */
  uint8_t *row = c->cols + (size_t)(p - c->a->ids) * NCOL;
  for (int k = 0; k < NCOL; k++) row[k] = dict_code(c->d, k, it->field[col_field[k]]);
  c->matched++;
  return 0;
}

static int load_columns(const char *db, const vecs *a, dict *d, uint8_t *cols, size_t *matched) {
  lk_catalog *c;
  lk_errbuf err = {0};
  int rc = lk_catalog_open(db, LK_CATALOG_READONLY, &c, &err);
  if (rc) return fprintf(stderr, "%s: %s\n", db, lk_err_msg(&err)), rc;
  item_ctx ic = {a, d, cols, 0};
  rc = lk_catalog_foreach_item(c, item_cb, &ic);
  if (rc) fprintf(stderr, "%s: reading items: %s\n", db, lk_strerror(rc));
  lk_catalog_close(c);
  *matched = ic.matched;
  return rc;
}

/* ---------------------------------------------------------------- the shopper's filter */

/* Each query's filter: two columns set to one value each. */
typedef struct qfilter {
  int ca, cb, va, vb, rule;
  double share;
} qfilter;

static const char *const rule_name[4] = {"own gender + own articleType", "own articleType + another gender",
                                         "own masterCategory + a baseColour",
                                         "nearest-2% gender + articleType (not the query's)"};

/* counts[a][b]: rows with column ca = a and cb = b; the value b in [lo, hi] rows nearest 2 %
 * for a fixed a (or any a when a < 0), preferring want_b; -1 when none. */
static int pick(const size_t *counts, int a, int want_b, size_t lo, size_t hi, size_t mid, int *out_a) {
  if (a >= 0 && want_b > 0 && counts[a * 256 + want_b] >= lo && counts[a * 256 + want_b] <= hi) return *out_a = a, want_b;
  int best = -1;
  size_t bd = (size_t)-1;
  for (int x = a < 0 ? 1 : a; x <= (a < 0 ? 255 : a); x++)
    for (int b = 1; b < 256; b++) {
      size_t c = counts[x * 256 + b];
      size_t dist = c > mid ? c - mid : mid - c;
      if (c >= lo && c <= hi && dist < bd) bd = dist, best = b, *out_a = x;
    }
  return best;
}

/* The filter of a query whose parent has columns pc: its own (gender, articleType) when that pair
 * holds 1-3 % of the rows; else its articleType with the gender nearest 2 %; else its
 * masterCategory with its own or the nearest-2 % baseColour; else the (gender, articleType) pair
 * nearest 2 %. ga[g][t], ta[t][g] and mc[m][c] count the rows. -1 when no pair is in range. */
static int choose_filter(const uint8_t *pc, const size_t *ga, const size_t *ta, const size_t *mc, size_t N,
                         qfilter *f) {
  size_t lo = (N + 99) / 100, hi = 3 * N / 100, mid = N / 50;
  int x, b;
  if (pc[C_GENDER] && pc[C_ARTICLE] && (b = pick(ga, pc[C_GENDER], pc[C_ARTICLE], lo, hi, mid, &x)) == pc[C_ARTICLE])
    *f = (qfilter){C_GENDER, C_ARTICLE, x, b, 0, 0};
  else if (pc[C_ARTICLE] && (b = pick(ta, pc[C_ARTICLE], 0, lo, hi, mid, &x)) > 0)
    *f = (qfilter){C_GENDER, C_ARTICLE, b, x, 1, 0};
  else if (pc[C_MASTER] && (b = pick(mc, pc[C_MASTER], pc[C_COLOUR], lo, hi, mid, &x)) > 0)
    *f = (qfilter){C_MASTER, C_COLOUR, x, b, 2, 0};
  else if ((b = pick(ga, -1, 0, lo, hi, mid, &x)) > 0)
    *f = (qfilter){C_GENDER, C_ARTICLE, x, b, 3, 0};
  else
    return -1;
  const size_t *cnt = f->ca == C_MASTER ? mc : ga;
  f->share = (double)cnt[f->va * 256 + f->vb] / (double)N;
  return 0;
}

static int passes(const qfilter *f, const uint8_t *cols) { return cols[f->ca] == f->va && cols[f->cb] == f->vb; }

static void to_ivf_filter(const qfilter *q, lk_ivf_filter *f) {
  memset(f, 0, sizeof *f);
  f->used = 1u << q->ca | 1u << q->cb;
  f->allow[q->ca][q->va / 64] |= 1ull << (q->va % 64);
  f->allow[q->cb][q->vb / 64] |= 1ull << (q->vb % 64);
}

/* ---------------------------------------------------------------- the run */

static int fail(const char *what, int rc, const lk_errbuf *err) {
  fprintf(stderr, "big_bench: %s: %s\n", what, err ? lk_err_msg(err) : lk_strerror(rc));
  return 1;
}

/* Maps the vector file read-only, advised as the engine advises a saved index (util/file.h:
 * huge pages where the page cache's folios allow): its rows start hdr bytes in. */
static const float *map_vectors(const char *path, size_t bytes, size_t hdr, void **map) {
  int fd = open(path, O_RDONLY);
  *map = fd >= 0 ? mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (fd >= 0) close(fd);
  if (*map == MAP_FAILED) {
    fprintf(stderr, "big_bench: mapping %s: %s\n", path, strerror(errno));
    return NULL;
  }
  lk_file_advise_huge(*map, bytes);
  return (const float *)((const char *)*map + hdr);
}

/* One run's state: the real catalog, the generator, the vector file, queries, ground truth. */
typedef struct run {
  opts o;
  int probes[16], reranks[8], np, nr, d, nq;
  size_t N, vbytes, hdr;
  vecs a;
  gen g;
  dict dc;
  uint8_t *rcols;          /* a.n x NCOL: the real items' columns, which rows inherit */
  size_t *ga, *ta, *mc;    /* 256 x 256 row counts: (gender, articleType), (articleType, gender), (master, colour) */
  char vpath[4096], lkx[4096];
  void *map;
  const float *V;          /* the mapped rows */
  float *Q;                /* nq x d queries */
  qfilter *qf;             /* nq */
  lk_ivf_filter *ivf_f;    /* nq */
  gt t0, t1;               /* exact top-k: unfiltered, filtered */
} run;

static const uint8_t *row_cols(const run *r, size_t row) { return r->rcols + gen_parent(&r->g, 0, row) * NCOL; }

/* 1. The vector file, written in chunks (never all in RAM), then mapped; the pair counts. */
static int generate(run *r) {
  const int d = r->d;
  FILE *fb = fopen(r->vpath, "wb");
  if (!fb || npy_header(fb, "<f4", r->N, (size_t)d)) return fail(r->vpath, LK_EIO, NULL);
  r->hdr = (size_t)ftell(fb);
  r->ga = calloc(65536, sizeof(size_t)), r->ta = calloc(65536, sizeof(size_t)), r->mc = calloc(65536, sizeof(size_t));
  enum { CH = 4096 };
  float *X = malloc(sizeof(float) * CH * (size_t)d);
  if (!r->ga || !r->ta || !r->mc || !X) return free(X), fclose(fb), fail("memory", LK_ENOMEM, NULL);
  double t = now();
  for (size_t r0 = 0; r0 < r->N; r0 += CH) {
    size_t m = r->N - r0 < CH ? r->N - r0 : CH;
    for (size_t i = 0; i < m; i++) {
      const uint8_t *pc = r->rcols + gen_row(&r->g, 0, r0 + i, X + i * (size_t)d) * NCOL;
      r->ga[pc[C_GENDER] * 256 + pc[C_ARTICLE]]++;
      r->ta[pc[C_ARTICLE] * 256 + pc[C_GENDER]]++;
      r->mc[pc[C_MASTER] * 256 + pc[C_COLOUR]]++;
    }
    if (fwrite(X, sizeof(float) * (size_t)d, m, fb) != m) return free(X), fclose(fb), fail(r->vpath, LK_EIO, NULL);
  }
  free(X);
  if (fclose(fb)) return fail(r->vpath, LK_EIO, NULL);
  double tgen = now() - t;
  if (!(r->V = map_vectors(r->vpath, r->vbytes + r->hdr, r->hdr, &r->map))) return 1;
  printf("generated and wrote %.2f GB in %.0f s (%s)\n", (double)r->vbytes / 1e9, tgen, r->vpath);
  printf("RESULT big_gen n=%zu gen_s=%.1f\n", r->N, tgen);
  return 0;
}

/* 2. Queries (held-out generated rows: seed 2, never added) and a shopper's filter for each. */
static int make_queries(run *r, const dict *dc) {
  const int nq = r->nq, d = r->d;
  r->Q = malloc(sizeof(float) * (size_t)nq * d);
  r->qf = calloc((size_t)nq, sizeof *r->qf);
  r->ivf_f = calloc((size_t)nq, sizeof *r->ivf_f);
  double *shares = malloc(sizeof(double) * (size_t)nq);
  if (!r->Q || !r->qf || !r->ivf_f || !shares) return free(shares), fail("memory", LK_ENOMEM, NULL);
  int rules[4] = {0};
  for (int q = 0; q < nq; q++) {
    const uint8_t *pc = r->rcols + gen_row(&r->g, 2, (size_t)q, r->Q + (size_t)q * d) * NCOL;
    if (choose_filter(pc, r->ga, r->ta, r->mc, r->N, &r->qf[q])) {
      fprintf(stderr, "big_bench: no (gender, articleType) or (masterCategory, baseColour) pair holds 1-3 %% of "
                      "the rows: no 2 %% filter to measure\n");
      return free(shares), 1;
    }
    to_ivf_filter(&r->qf[q], &r->ivf_f[q]);
    rules[r->qf[q].rule]++;
    shares[q] = r->qf[q].share * 100;
  }
  const qfilter *f0 = &r->qf[0];
  printf("filters (per query: two columns, one value each; share of the %zu rows 1-3 %%):", r->N);
  for (int i = 0; i < 4; i++) printf(" %s %d;", rule_name[i], rules[i]);
  printf(" e.g. query 0: %s=%s & %s=%s\n", lk_catalog_fields[col_field[f0->ca]], dict_name(dc, f0->ca, f0->va),
         lk_catalog_fields[col_field[f0->cb]], dict_name(dc, f0->cb, f0->vb));
  double smean = 0;
  for (int q = 0; q < nq; q++) smean += shares[q] / nq;
  double smin = pct(shares, nq, 0), smed = pct(shares, nq, 50), smax = pct(shares, nq, 100);
  printf("RESULT big_filter rule_own_pair=%d rule_own_type=%d rule_own_master=%d rule_other=%d share_min_pct=%.2f "
         "share_median_pct=%.2f share_mean_pct=%.2f share_max_pct=%.2f\n",
         rules[0], rules[1], rules[2], rules[3], smin, smed, smean, smax);
  free(shares);
  return 0;
}

/* 3. Exact ground truth, unfiltered and filtered, by batched sgemm over the mapped file. */
static int ground_truth(run *r) {
  const int nq = r->nq, k = K, d = r->d;
  r->t0 = (gt){nq, k, calloc((size_t)nq * k, sizeof(lk_hit)), calloc((size_t)nq, sizeof(int))};
  r->t1 = (gt){nq, k, calloc((size_t)nq * k, sizeof(lk_hit)), calloc((size_t)nq, sizeof(int))};
  enum { GCH = 8192 };
  float *S = malloc(sizeof(float) * GCH * (size_t)nq);
  if (!r->t0.h || !r->t0.len || !r->t1.h || !r->t1.len || !S) return free(S), fail("memory", LK_ENOMEM, NULL);
  double t = now();
  for (size_t r0 = 0; r0 < r->N; r0 += GCH) {
    size_t m = r->N - r0 < GCH ? r->N - r0 : GCH;
    int rc = lk_linalg_sgemm('N', 'T', (int64_t)m, nq, d, 1.0f, r->V + r0 * (size_t)d, d, r->Q, d, 0.0f, S, nq);
    if (rc) return free(S), fail("ground truth sgemm", rc, NULL);
    for (size_t i = 0; i < m; i++) {
      const uint8_t *pc = row_cols(r, r0 + i);
      for (int q = 0; q < nq; q++) {
        float sc = S[i * (size_t)nq + q];
        gt_offer(&r->t0, q, (int64_t)(r0 + i), sc);
        if (passes(&r->qf[q], pc)) gt_offer(&r->t1, q, (int64_t)(r0 + i), sc);
      }
    }
  }
  free(S);
  double tgt = now() - t;
  for (int q = 0; q < nq; q++) {
    qsort(r->t0.h + (size_t)q * k, (size_t)k, sizeof(lk_hit), hit_cmp);
    qsort(r->t1.h + (size_t)q * k, (size_t)k, sizeof(lk_hit), hit_cmp);
  }
  printf("exact ground truth by batched sgemm over the mapped file: %.1f s (%.1f ms a query)\n", tgt, tgt * 1e3 / nq);
  printf("RESULT big_gt queries=%d gt_s=%.1f\n", nq, tgt);
  return 0;
}

/* 4. Build (train on an even sample, add every row in batches from the mapping, trim), save. */
static int build_and_save(run *r) {
  const size_t N = r->N;
  const int d = r->d;
  lk_ivf_opts io;
  lk_ivf_opts_default(&io);
  io.fine_dims = 0;
  io.coarse_dims = r->o.coarse ? r->o.coarse : d;
  io.ncols = NCOL;
  io.code_share = LK_ENGINE_IVF_CODE_SHARE;
  io.nlist = r->o.nlist;
  io.expected = N;
  size_t nt = r->o.ntrain < N ? r->o.ntrain : N;
  float *T = malloc(sizeof(float) * nt * (size_t)d);
  if (!T) return fail("memory", LK_ENOMEM, NULL);
  for (size_t i = 0; i < nt; i++) memcpy(T + i * (size_t)d, r->V + (i * N / nt) * (size_t)d, sizeof(float) * (size_t)d);
  lk_ivf *v;
  double t = now();
  int rc = lk_ivf_train(&io, d, T, nt, &v);
  free(T);
  if (rc) return fail("ivf train", rc, NULL);
  lk_ivf_shape(v, &io.nlist, &io.fine_dims, &io.coarse_dims); /* (the code length chosen) */
  double ttrain = now() - t, tadd = 0;
  int64_t *ids = malloc(sizeof(int64_t) * r->o.batch);
  uint8_t *cols = malloc(r->o.batch * NCOL);
  for (size_t r0 = 0; !rc && ids && cols && r0 < N; r0 += r->o.batch) {
    size_t m = N - r0 < r->o.batch ? N - r0 : r->o.batch;
    for (size_t i = 0; i < m; i++) {
      ids[i] = (int64_t)(r0 + i);
      memcpy(cols + i * NCOL, row_cols(r, r0 + i), NCOL);
    }
    t = now();
    rc = lk_ivf_add_cols(v, ids, r->V + r0 * (size_t)d, cols, m);
    tadd += now() - t;
  }
  if (!rc && (!ids || !cols)) rc = LK_ENOMEM;
  free(ids);
  free(cols);
  if (rc) return lk_ivf_free(v), fail("ivf add", rc, NULL);
  size_t grown = lk_ivf_memory(v);
  t = now();
  if ((rc = lk_ivf_trim(v))) return lk_ivf_free(v), fail("ivf trim", rc, NULL);
  tadd += now() - t;
  size_t mem = lk_ivf_memory(v);
  /* the engine's probe depth, tuned as search/engine.c tunes it when it builds an IVF: exact
   * top-10s of LK_ENGINE_IVF_TUNE_QUERIES rows spread over the catalog (each skipping itself),
   * the searches as served (rerank and exact refine LK_ENGINE_IVF_RERANK), at least
   * LK_ENGINE_IVF_MIN_SCAN rows' worth; saved with the index and added to the sweep */
  mapped tmv = {r->V, d};
  double ttruth, ttune;
  int minp;
  if ((rc = bench_tune_probe(v, r->V, N, d, &tmv, &ttruth, &ttune, &minp)))
    return lk_ivf_free(v), fail("tuning the probe depth", rc, NULL);
  int tuned = lk_ivf_nprobe(v);
  printf("RESULT big_tune nprobe=%d sample_recall=%.4f target=%.2f queries=%d min_nprobe=%d truth_s=%.1f tune_s=%.1f\n",
         tuned, lk_ivf_recall(v), LK_ENGINE_IVF_RECALL, N < LK_ENGINE_IVF_TUNE_QUERIES ? (int)N : LK_ENGINE_IVF_TUNE_QUERIES,
         minp, ttruth, ttune);
  sweep_insert(r->probes, &r->np, 16, tuned);
  lkx_meta meta = {.catalog_version = 0, .items = N, .dim = (uint32_t)d};
  snprintf(meta.recipe_id, sizeof meta.recipe_id, "%s", "0000000000b19b19");
  lk_lkx_writer w;
  lk_errbuf err = {0};
  t = now();
  if ((rc = lk_lkx_create(&w, r->lkx, &meta, &err))) return lk_ivf_free(v), fail(r->lkx, rc, &err);
  if ((rc = lk_ivf_save(v, &w, &err))) {
    lk_lkx_abandon(&w);
    return lk_ivf_free(v), fail("ivf save", rc, &err);
  }
  lk_ivf_free(v);
  if ((rc = lk_lkx_commit(&w, &err))) return fail(r->lkx, rc, &err);
  double tsave = now() - t;
  struct stat st;
  if (stat(r->lkx, &st)) return fail(r->lkx, LK_EIO, NULL);
  printf("RESULT big_build n=%zu dim=%d nlist=%d ncols=%d coarse=%d fine=0 train_rows=%zu train_s=%.1f add_s=%.1f "
         "build_s=%.1f save_s=%.1f lkx_bytes=%lld ivf_bytes_per_item=%.1f before_trim=%.1f vector_file_bytes=%zu\n",
         N, d, io.nlist ? io.nlist : (int)(1.5 * sqrt((double)N)), NCOL, io.coarse_dims, nt, ttrain, tadd,
         ttrain + tadd, tsave, (long long)st.st_size, (double)mem / N, (double)grown / N, r->vbytes);
  fflush(stdout);
  return 0;
}

/* 5. Load the saved index into a process holding nothing of it (the vector file unmapped too, so
 * its resident pages are counted afresh); time map -> first answered search; resident memory.
 * zero_copy: lk_ivf_load_mapped (the IVF points into the file's mapping, returned in *xo and
 * closed by the caller after the IVF); else lk_ivf_load's copies, as the engine loads it. */
static int load_back(run *r, int zero_copy, lk_ivf **out, lk_lkx **xo, mapped *mv) {
  if (r->map) munmap(r->map, r->vbytes + r->hdr);
  r->map = NULL;
  malloc_trim(0);
  rss base = rss_now();
  double t = now(), c0 = cpu_now();
  lk_lkx *x;
  lk_ivf *v;
  lk_errbuf err = {0};
  int rc = lk_lkx_map(r->lkx, &x, &err);
  if (rc) return fail(r->lkx, rc, &err);
  rc = zero_copy ? lk_ivf_load_mapped(x, &v, &err) : lk_ivf_load(x, &v, &err);
  if (rc || !zero_copy) lk_lkx_close(x), x = NULL;
  if (rc) return fail("ivf load", rc, &err);
  *out = v, *xo = x;
  double tload = now() - t;
  if (!(r->V = map_vectors(r->vpath, r->vbytes + r->hdr, r->hdr, &r->map))) return 1;
  *mv = (mapped){r->V, r->d};
  lk_hit h[K];
  int nf;
  if ((rc = lk_ivf_set_refine(v, r->reranks[0], mapped_get, mv)) || (rc = lk_ivf_set_rerank(v, r->reranks[0])) ||
      (rc = lk_ivf_search_where(v, r->Q, 1, K, r->probes[0], NULL, -1, h, &nf)))
    return fail("first search", rc, NULL);
  double tfirst = now() - t, cfirst = cpu_now() - c0;
  rss after = rss_now();
  long vec_kb = mapped_rss(r->vpath), lkx_kb = mapped_rss(r->lkx);
  double mem = (double)lk_ivf_memory(v) / r->N;
  /* what a search holds: this process's resident memory, less what it held before the load and
   * less the vector file's mapped pages (the re-rank's floats, counted apart) */
  double held = (double)(after.vm - base.vm - vec_kb) * 1024.0 / r->N;
  printf("RESULT big_load%s load_s=%.2f first_search_s=%.2f first_search_cpu_s=%.2f vmrss_mb=%.0f rss_anon_mb=%.0f "
         "rss_file_mb=%.0f before_load_vmrss_mb=%.0f before_load_anon_mb=%.0f vector_file_rss_mb=%.1f "
         "lkx_rss_mb=%.1f ivf_bytes_per_item=%.1f rss_bytes_per_item=%.1f\n",
         zero_copy ? "_mapped" : "", tload, tfirst, cfirst, after.vm / 1024.0, after.anon / 1024.0,
         after.file / 1024.0, base.vm / 1024.0, base.anon / 1024.0, vec_kb / 1024.0, lkx_kb / 1024.0, mem, held);
  return 0;
}

/* 6. The sweep: once through untimed (the vector file's pages into this mapping), then each
 * rerank x nprobe, unfiltered and filtered, one query per call, one thread. *bad counts
 * searches short of k and hits outside their filter. */
static int sweep(const run *r, lk_ivf *v, const mapped *mv, long *bad) {
  const int nq = r->nq, d = r->d;
  lk_hit h[K];
  int nf, rc;
  for (int q = 0; q < nq; q++)
    if ((rc = lk_ivf_search_where(v, r->Q + (size_t)q * d, 1, K, r->probes[r->np - 1], &r->ivf_f[q], -1, h, &nf)) ||
        (rc = lk_ivf_search_where(v, r->Q + (size_t)q * d, 1, K, r->probes[r->np - 1], NULL, -1, h, &nf)))
      return fail("search", rc, NULL);
  double *tm = malloc(sizeof(double) * nq), *tc = malloc(sizeof(double) * nq);
  if (!tm || !tc) return free(tm), free(tc), fail("memory", LK_ENOMEM, NULL);
  for (int ri = 0; ri < r->nr; ri++)
    for (int pi = 0; pi < r->np; pi++) {
      if ((rc = lk_ivf_set_refine(v, r->reranks[ri], mapped_get, (void *)mv)) ||
          (rc = lk_ivf_set_rerank(v, r->reranks[ri])))
        return free(tm), free(tc), fail("ivf rerank", rc, NULL);
      for (int fl = 0; fl < 2; fl++) {
        double rec = 0;
        int shorts = 0, viol = 0;
        for (int q = 0; q < nq; q++) {
          double t2 = now(), c2 = cpu_now();
          rc = lk_ivf_search_where(v, r->Q + (size_t)q * d, 1, K, r->probes[pi], fl ? &r->ivf_f[q] : NULL, -1, h, &nf);
          tm[q] = (now() - t2) * 1e3;
          tc[q] = (cpu_now() - c2) * 1e3;
          if (rc) return free(tm), free(tc), fail("search", rc, NULL);
          const lk_hit *gq = (fl ? r->t1.h : r->t0.h) + (size_t)q * K;
          int hit = 0;
          for (int i = 0; i < nf; i++)
            for (int j = 0; j < K; j++) hit += h[i].id == gq[j].id;
          rec += hit / (double)K;
          shorts += nf != K;
          for (int i = 0; i < nf; i++)
            viol += h[i].id < 0 || (size_t)h[i].id >= r->N || (fl && !passes(&r->qf[q], row_cols(r, (size_t)h[i].id)));
        }
        printf("RESULT big n=%zu nprobe=%d rerank=%d filter=%s p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f "
               "cpu_p99_ms=%.3f recall10=%.4f short=%d violations=%d\n",
               r->N, r->probes[pi], r->reranks[ri], fl ? "2%" : "none", pct(tm, nq, 50), pct(tm, nq, 99),
               pct(tc, nq, 50), pct(tc, nq, 99), rec / nq, shorts, viol);
        fflush(stdout);
        *bad += shorts + viol;
      }
    }
  free(tm);
  free(tc);
  return 0;
}

static void run_free(run *r) {
  if (r->map) munmap(r->map, r->vbytes + r->hdr);
  for (int c = 0; c < NCOL; c++)
    for (int i = 0; i < r->dc.n[c]; i++) free(r->dc.val[c][i]);
  free(r->Q), free(r->qf), free(r->ivf_f), free(r->ga), free(r->ta), free(r->mc), free(r->rcols), free(r->g.table);
  free(r->t0.h), free(r->t0.len), free(r->t1.h), free(r->t1.len), free(r->a.v), free(r->a.ids);
}

int main(int argc, char **argv) {
  static run r; /* large (paths) and zeroed */
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows through bench/big.sh's tee */
  int pr = parse(argc, argv, &r.o); /* 1: --help printed */
  if (pr) return pr == 1 ? 0 : 2;
  r.np = int_list(r.o.nprobe, 1, 1 << 20, r.probes, 16), r.nr = int_list(r.o.rerank, 11, 10000, r.reranks, 8);
  if (r.np < 0) return usage("--nprobe: whole numbers >= 1, comma-separated, at most 16", r.o.nprobe);
  if (r.nr < 0) return usage("--rerank: whole numbers 11..10000, comma-separated, at most 8", r.o.rerank);
  r.nq = r.o.nq, r.N = r.o.n;
  if (load(r.o.db, &r.a)) return fail("reading the catalog's vectors", 1, NULL);
  r.d = r.a.dim;
  if (r.N < r.a.n) return usage("--n is below the catalog's real item count", NULL);
  if (lk_size_mul3(r.N, (size_t)r.d, sizeof(float), &r.vbytes)) return usage("--n too large", NULL);
  size_t matched = 0;
  double nn_cos;
  if (!(r.rcols = calloc(r.a.n, NCOL)) || load_columns(r.o.db, &r.a, &r.dc, r.rcols, &matched)) return 1;
  if (gen_init(&r.g, &r.a, 0, &nn_cos)) return fail("the generator's exact index", LK_ENOMEM, NULL);
  printf("big: %zu rows (%zu real from %s + synthetic), dim %d; median nearest-neighbour cosine %.3f -> "
         "catalog-covariance noise, scale %.5f; %zu items' fields as %d uint8 columns (values:",
         r.N, r.a.n, r.o.db, r.d, nn_cos, r.g.sigma, matched, NCOL);
  for (int c = 0; c < NCOL; c++) printf(" %s %d%s", lk_catalog_fields[col_field[c]], r.dc.n[c], r.dc.over[c] ? "+" : "");
  printf(")\n");
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", r.o.out);
  if (system(cmd)) return fail("creating --out", LK_EIO, NULL);
  snprintf(r.vpath, sizeof r.vpath, "%s/vectors.npy", r.o.out);
  snprintf(r.lkx, sizeof r.lkx, "%s/index.lkx", r.o.out);
  lk_ivf *v = NULL;
  lk_lkx *x = NULL;
  mapped mv;
  long bad = 0;
  int rc = generate(&r) || make_queries(&r, &r.dc) || ground_truth(&r) || build_and_save(&r) ||
           load_back(&r, 1, &v, &x, &mv);
  lk_ivf_free(v), v = NULL;
  lk_lkx_close(x);
  /* the sweep runs on the copied load, the engine's */
  rc = rc || load_back(&r, 0, &v, &x, &mv) || sweep(&r, v, &mv, &bad);
  lk_ivf_free(v);
  run_free(&r);
  if (rc) return 1;
  if (bad) {
    fprintf(stderr, "big_bench: FAILED: %ld searches returned fewer than k hits or hits outside their filter\n", bad);
    return 1;
  }
  return 0;
}
