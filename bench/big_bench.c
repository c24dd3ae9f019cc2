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
#include "util/err.h"
#include "util/linalg.h"
#include "util/size.h"

#include "search_common.h"

#define NCOL 7
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
  *o = (opts){"/tmp/p18/tuned.db", "/tmp/lk-big", "8,16,32,48,64,96,128", "50,100,200", 10000000, 131072, 65536,
              300, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long long x = 0;
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

typedef struct rss { long vm, anon, file; } rss; /* kB, /proc/self/status */

static rss rss_now(void) {
  rss r = {-1, -1, -1};
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    sscanf(line, "VmRSS: %ld", &r.vm);
    sscanf(line, "RssAnon: %ld", &r.anon);
    sscanf(line, "RssFile: %ld", &r.file);
  }
  if (f) fclose(f);
  return r;
}

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

/* Maps the vector file read-only: its rows start hdr bytes in. */
static const float *map_vectors(const char *path, size_t bytes, size_t hdr, void **map) {
  int fd = open(path, O_RDONLY);
  *map = fd >= 0 ? mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (fd >= 0) close(fd);
  if (*map == MAP_FAILED) {
    fprintf(stderr, "big_bench: mapping %s: %s\n", path, strerror(errno));
    return NULL;
  }
  return (const float *)((const char *)*map + hdr);
}

int main(int argc, char **argv) {
  opts o;
  if (parse(argc, argv, &o)) return 2;
  int probes[16], reranks[8];
  int np = int_list(o.nprobe, 1, 1 << 20, probes, 16), nr = int_list(o.rerank, 11, 10000, reranks, 8);
  if (np < 0) return usage("--nprobe: whole numbers >= 1, comma-separated, at most 16", o.nprobe);
  if (nr < 0) return usage("--rerank: whole numbers 11..10000, comma-separated, at most 8", o.rerank);
  const int k = 10, nq = o.nq;
  const size_t N = o.n;
  vecs a;
  if (load(o.db, &a)) return fail("reading the catalog's vectors", 1, NULL);
  const int d = a.dim;
  if (N < a.n) return usage("--n is below the catalog's real item count", NULL);
  size_t vbytes;
  if (lk_size_mul3(N, (size_t)d, sizeof(float), &vbytes)) return usage("--n too large", NULL);
  dict dc = {0};
  uint8_t *rcols = calloc(a.n, NCOL);
  size_t matched = 0;
  if (!rcols || load_columns(o.db, &a, &dc, rcols, &matched)) return 1;
  double nn_cos;
  gen g;
  if (gen_init(&g, &a, 0, &nn_cos)) return fail("the generator's exact index", LK_ENOMEM, NULL);
  printf("big: %zu rows (%zu real from %s + synthetic), dim %d; median nearest-neighbour cosine %.3f -> "
         "catalog-covariance noise, scale %.5f; %zu items' fields as %d uint8 columns (values:",
         N, a.n, o.db, d, nn_cos, g.sigma, matched, NCOL);
  for (int c = 0; c < NCOL; c++) printf(" %s %d%s", lk_catalog_fields[col_field[c]], dc.n[c], dc.over[c] ? "+" : "");
  printf(")\n");
  char path[4096], cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", o.out);
  if (system(cmd)) return fail("creating --out", LK_EIO, NULL);

  /* 1. generation: the vector file, written in chunks; the pair counts the filters pick from */
  snprintf(path, sizeof path, "%s/vectors.npy", o.out);
  FILE *fb = fopen(path, "wb");
  if (!fb || npy_header(fb, "<f4", N, (size_t)d)) return fail(path, LK_EIO, NULL);
  long hdr = ftell(fb);
  size_t *ga = calloc(65536, sizeof(size_t)), *ta = calloc(65536, sizeof(size_t)), *mc = calloc(65536, sizeof(size_t));
  enum { CH = 4096 };
  float *X = malloc(sizeof(float) * CH * (size_t)d);
  if (!ga || !ta || !mc || !X) return fail("memory", LK_ENOMEM, NULL);
  double t = now();
  for (size_t r0 = 0; r0 < N; r0 += CH) {
    size_t m = N - r0 < CH ? N - r0 : CH;
    for (size_t i = 0; i < m; i++) {
      const uint8_t *pc = rcols + gen_row(&g, 0, r0 + i, X + i * (size_t)d) * NCOL;
      ga[pc[C_GENDER] * 256 + pc[C_ARTICLE]]++;
      ta[pc[C_ARTICLE] * 256 + pc[C_GENDER]]++;
      mc[pc[C_MASTER] * 256 + pc[C_COLOUR]]++;
    }
    if (fwrite(X, sizeof(float) * (size_t)d, m, fb) != m) return fail(path, LK_EIO, NULL);
  }
  if (fclose(fb)) return fail(path, LK_EIO, NULL);
  double tgen = now() - t;
  void *map;
  const float *V = map_vectors(path, vbytes + (size_t)hdr, (size_t)hdr, &map);
  if (!V) return 1;
  printf("generated and wrote %.2f GB in %.0f s (%s)\n", (double)vbytes / 1e9, tgen, path);

  /* 2. queries (held-out generated rows: seed 2, never added) and their filters */
  float *Q = malloc(sizeof(float) * (size_t)nq * d);
  qfilter *qf = calloc((size_t)nq, sizeof *qf);
  lk_ivf_filter *ivf_f = calloc((size_t)nq, sizeof *ivf_f);
  if (!Q || !qf || !ivf_f) return fail("memory", LK_ENOMEM, NULL);
  int rules[4] = {0};
  double *shares = malloc(sizeof(double) * (size_t)nq);
  for (int q = 0; q < nq; q++) {
    const uint8_t *pc = rcols + gen_row(&g, 2, (size_t)q, Q + (size_t)q * d) * NCOL;
    if (choose_filter(pc, ga, ta, mc, N, &qf[q])) {
      fprintf(stderr, "big_bench: no (gender, articleType) or (masterCategory, baseColour) pair holds 1-3 %% of "
                      "the rows: no 2 %% filter to measure\n");
      return 1;
    }
    to_ivf_filter(&qf[q], &ivf_f[q]);
    rules[qf[q].rule]++;
    shares[q] = qf[q].share * 100;
  }
  printf("filters (per query: two columns, one value each; share of the %zu rows 1-3 %%):", N);
  for (int i = 0; i < 4; i++) printf(" %s %d;", rule_name[i], rules[i]);
  printf(" e.g. query 0: %s=%s & %s=%s\n", lk_catalog_fields[col_field[qf[0].ca]], dict_name(&dc, qf[0].ca, qf[0].va),
         lk_catalog_fields[col_field[qf[0].cb]], dict_name(&dc, qf[0].cb, qf[0].vb));
  double smin = pct(shares, nq, 0), smed = pct(shares, nq, 50), smax = pct(shares, nq, 100), smean = 0;
  for (int q = 0; q < nq; q++) smean += shares[q] / nq;
  printf("RESULT big_filter rule_own_pair=%d rule_own_type=%d rule_own_master=%d rule_other=%d share_min_pct=%.2f "
         "share_median_pct=%.2f share_mean_pct=%.2f share_max_pct=%.2f\n",
         rules[0], rules[1], rules[2], rules[3], smin, smed, smean, smax);

  /* 3. exact ground truth, unfiltered and filtered, by batched sgemm over the mapped file */
  gt t0 = {nq, k, calloc((size_t)nq * k, sizeof(lk_hit)), calloc((size_t)nq, sizeof(int))};
  gt t1 = {nq, k, calloc((size_t)nq * k, sizeof(lk_hit)), calloc((size_t)nq, sizeof(int))};
  enum { GCH = 8192 };
  float *S = malloc(sizeof(float) * GCH * (size_t)nq);
  if (!t0.h || !t0.len || !t1.h || !t1.len || !S) return fail("memory", LK_ENOMEM, NULL);
  t = now();
  for (size_t r0 = 0; r0 < N; r0 += GCH) {
    size_t m = N - r0 < GCH ? N - r0 : GCH;
    int rc = lk_linalg_sgemm('N', 'T', (int64_t)m, nq, d, 1.0f, V + r0 * (size_t)d, d, Q, d, 0.0f, S, nq);
    if (rc) return fail("ground truth sgemm", rc, NULL);
    for (size_t i = 0; i < m; i++) {
      const uint8_t *pc = rcols + gen_parent(&g, 0, r0 + i) * NCOL;
      for (int q = 0; q < nq; q++) {
        float sc = S[i * (size_t)nq + q];
        gt_offer(&t0, q, (int64_t)(r0 + i), sc);
        if (passes(&qf[q], pc)) gt_offer(&t1, q, (int64_t)(r0 + i), sc);
      }
    }
  }
  double tgt = now() - t;
  for (int q = 0; q < nq; q++) {
    qsort(t0.h + (size_t)q * k, (size_t)k, sizeof(lk_hit), hit_cmp);
    qsort(t1.h + (size_t)q * k, (size_t)k, sizeof(lk_hit), hit_cmp);
  }
  printf("exact ground truth by batched sgemm over the mapped file: %.1f s (%.1f ms a query)\n", tgt, tgt * 1e3 / nq);
  free(S);

  /* 4. build: train on an even sample of the rows, add every row in batches from the mapping */
  lk_ivf_opts io;
  lk_ivf_opts_default(&io);
  io.fine_dims = 0;
  io.coarse_dims = o.coarse ? o.coarse : d;
  io.ncols = NCOL;
  io.nlist = o.nlist;
  io.expected = N;
  size_t nt = o.ntrain < N ? o.ntrain : N;
  float *T = malloc(sizeof(float) * nt * (size_t)d);
  if (!T) return fail("memory", LK_ENOMEM, NULL);
  for (size_t i = 0; i < nt; i++) memcpy(T + i * (size_t)d, V + (i * N / nt) * (size_t)d, sizeof(float) * (size_t)d);
  lk_ivf *v;
  t = now();
  int rc = lk_ivf_train(&io, d, T, nt, &v);
  if (rc) return fail("ivf train", rc, NULL);
  double ttrain = now() - t;
  free(T);
  int64_t *ids = malloc(sizeof(int64_t) * o.batch);
  uint8_t *cols = malloc(o.batch * NCOL);
  if (!ids || !cols) return fail("memory", LK_ENOMEM, NULL);
  double tadd = 0;
  for (size_t r0 = 0; r0 < N; r0 += o.batch) {
    size_t m = N - r0 < o.batch ? N - r0 : o.batch;
    for (size_t i = 0; i < m; i++) {
      ids[i] = (int64_t)(r0 + i);
      memcpy(cols + i * NCOL, rcols + gen_parent(&g, 0, r0 + i) * NCOL, NCOL);
    }
    t = now();
    if ((rc = lk_ivf_add_cols(v, ids, V + r0 * (size_t)d, cols, m))) return fail("ivf add", rc, NULL);
    tadd += now() - t;
  }
  size_t grown = lk_ivf_memory(v);
  t = now();
  if ((rc = lk_ivf_trim(v))) return fail("ivf trim", rc, NULL);
  tadd += now() - t;
  size_t mem_built = lk_ivf_memory(v);
  int nlist = io.nlist ? io.nlist : (int)(1.5 * sqrt((double)N));

  /* 5. save, free, load back: the time from mapping the file to the first answered search */
  char lkx[4096];
  snprintf(lkx, sizeof lkx, "%s/index.lkx", o.out);
  lkx_meta meta = {.catalog_version = 0, .items = N, .dim = (uint32_t)d};
  snprintf(meta.recipe_id, sizeof meta.recipe_id, "%s", "0000000000b19b19");
  lk_lkx_writer w;
  lk_errbuf err = {0};
  t = now();
  if ((rc = lk_lkx_create(&w, lkx, &meta, &err))) return fail(lkx, rc, &err);
  if ((rc = lk_ivf_save(v, &w, &err))) {
    lk_lkx_abandon(&w);
    return fail("ivf save", rc, &err);
  }
  if ((rc = lk_lkx_commit(&w, &err))) return fail(lkx, rc, &err);
  double tsave = now() - t;
  struct stat st;
  if (stat(lkx, &st)) return fail(lkx, LK_EIO, NULL);
  printf("RESULT big_build n=%zu queries=%d dim=%d nlist=%d ncols=%d coarse=%d fine=0 train_rows=%zu gen_s=%.1f gt_s=%.1f "
         "train_s=%.1f add_s=%.1f build_s=%.1f save_s=%.1f lkx_bytes=%lld ivf_bytes_per_item=%.1f "
         "before_trim=%.1f vector_file_bytes=%zu\n",
         N, nq, d, nlist, NCOL, io.coarse_dims, nt, tgen, tgt, ttrain, tadd, ttrain + tadd, tsave, (long long)st.st_size,
         (double)mem_built / N, (double)grown / N, vbytes);
  fflush(stdout);
  lk_ivf_free(v);
  munmap(map, vbytes + (size_t)hdr); /* mapped again after the load: its resident pages counted afresh */
  malloc_trim(0);
  rss base = rss_now();
  t = now();
  double c0 = cpu_now();
  lk_lkx *x;
  if ((rc = lk_lkx_map(lkx, &x, &err))) return fail(lkx, rc, &err);
  if ((rc = lk_ivf_load(x, &v, &err))) return fail("ivf load", rc, &err);
  lk_lkx_close(x); /* the loaded IVF owns copies (as the engine loads it) */
  double tload = now() - t;
  V = map_vectors(path, vbytes + (size_t)hdr, (size_t)hdr, &map);
  if (!V) return 1;
  mapped mv = {V, d};
  if ((rc = lk_ivf_set_refine(v, reranks[0], mapped_get, &mv)) || (rc = lk_ivf_set_rerank(v, reranks[0])))
    return fail("ivf refine", rc, NULL);
  lk_hit h[10];
  int nf;
  if ((rc = lk_ivf_search_where(v, Q, 1, k, probes[0], NULL, -1, h, &nf))) return fail("first search", rc, NULL);
  double tfirst = now() - t, cfirst = cpu_now() - c0;
  rss after = rss_now();
  long vec_kb = mapped_rss(path), lkx_kb = mapped_rss(lkx);
  size_t mem = lk_ivf_memory(v);
  /* what a search holds: this process's resident memory, less what it held before the load and
   * less the vector file's mapped pages (the re-rank's floats, counted apart) */
  double held = (double)(after.vm - base.vm - vec_kb) * 1024.0 / N;
  printf("RESULT big_load load_s=%.2f first_search_s=%.2f first_search_cpu_s=%.2f vmrss_mb=%.0f rss_anon_mb=%.0f "
         "rss_file_mb=%.0f before_load_vmrss_mb=%.0f vector_file_rss_mb=%.1f lkx_rss_mb=%.1f ivf_bytes_per_item=%.1f "
         "rss_bytes_per_item=%.1f\n",
         tload, tfirst, cfirst, after.vm / 1024.0, after.anon / 1024.0, after.file / 1024.0, base.vm / 1024.0,
         vec_kb / 1024.0, lkx_kb / 1024.0, (double)mem / N, held);
  fflush(stdout);

  /* 6. the sweep: once through untimed (the vector file's pages into this mapping), then each
   * rerank x nprobe, unfiltered and filtered, one query per call, one thread */
  for (int q = 0; q < nq; q++)
    if ((rc = lk_ivf_search_where(v, Q + (size_t)q * d, 1, k, probes[np - 1], &ivf_f[q], -1, h, &nf)) ||
        (rc = lk_ivf_search_where(v, Q + (size_t)q * d, 1, k, probes[np - 1], NULL, -1, h, &nf)))
      return fail("search", rc, NULL);
  double *tm = malloc(sizeof(double) * nq), *tc = malloc(sizeof(double) * nq);
  if (!tm || !tc) return fail("memory", LK_ENOMEM, NULL);
  long bad_total = 0;
  for (int ri = 0; ri < nr; ri++)
    for (int pi = 0; pi < np; pi++) {
      if ((rc = lk_ivf_set_refine(v, reranks[ri], mapped_get, &mv)) || (rc = lk_ivf_set_rerank(v, reranks[ri])))
        return fail("ivf rerank", rc, NULL);
      for (int fl = 0; fl < 2; fl++) {
        double rec = 0;
        int shorts = 0, viol = 0;
        for (int q = 0; q < nq; q++) {
          double t2 = now(), c2 = cpu_now();
          rc = lk_ivf_search_where(v, Q + (size_t)q * d, 1, k, probes[pi], fl ? &ivf_f[q] : NULL, -1, h, &nf);
          tm[q] = (now() - t2) * 1e3;
          tc[q] = (cpu_now() - c2) * 1e3;
          if (rc) return fail("search", rc, NULL);
          const lk_hit *gq = (fl ? t1.h : t0.h) + (size_t)q * k;
          int hit = 0;
          for (int i = 0; i < nf; i++)
            for (int j = 0; j < k; j++) hit += h[i].id == gq[j].id;
          rec += hit / (double)k;
          shorts += nf != k;
          for (int i = 0; i < nf; i++)
            if (h[i].id < 0 || (size_t)h[i].id >= N ||
                (fl && !passes(&qf[q], rcols + gen_parent(&g, 0, (size_t)h[i].id) * NCOL)))
              viol++;
        }
        printf("RESULT big n=%zu nprobe=%d rerank=%d filter=%s p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f "
               "cpu_p99_ms=%.3f recall10=%.4f short=%d violations=%d\n",
               N, probes[pi], reranks[ri], fl ? "2%" : "none", pct(tm, nq, 50), pct(tm, nq, 99), pct(tc, nq, 50),
               pct(tc, nq, 99), rec / nq, shorts, viol);
        fflush(stdout);
        bad_total += shorts + viol;
      }
    }
  lk_ivf_free(v);
  munmap(map, vbytes + (size_t)hdr);
  for (int c = 0; c < NCOL; c++)
    for (int i = 0; i < dc.n[c]; i++) free(dc.val[c][i]);
  free(tm), free(tc), free(ids), free(cols), free(X), free(Q), free(qf), free(ivf_f), free(shares);
  free(ga), free(ta), free(mc), free(rcols), free(g.table);
  free(t0.h), free(t0.len), free(t1.h), free(t1.len), free(a.v), free(a.ids);
  if (bad_total) {
    fprintf(stderr, "big_bench: FAILED: %ld searches returned fewer than k hits or hits outside their filter\n",
            bad_total);
    return 1;
  }
  return 0;
}
