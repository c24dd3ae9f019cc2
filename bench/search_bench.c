/* bench/search_bench.c — search benchmarks (docs/PERFORMANCE.md "Search"), run by
 * bench/search.sh. `exact`: the catalog's own vectors, plain float scan vs the optimized
 * (int8 shortlist + float re-rank) scan: p50/p99 per query and the share of queries whose
 * top-10 is identical, unfiltered and filtered. `ivf`: a synthetic catalog of N vectors drawn
 * around the real ones, the IVF index's build time, bytes per item, p50/p99 and recall@10
 * against exact search; it also writes the vectors, queries and ground truth for FAISS. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "index/index.h"
#include "index/ivf.h"
#include "search/engine.h" /* the engine's IVF defaults, marked in the sweep */
#include "util/err.h"
#include "util/file.h"
#include "util/linalg.h"
#include "util/rng.h"

#include "search_common.h"

#define LK_STR_(x) #x
#define LK_STR(x) LK_STR_(x)

/* ---------------------------------------------------------------- exact */

static int allowed_bit(const uint64_t *allow, size_t r) { return !allow || (allow[r / 64] >> (r % 64) & 1); }

static int same_top(const lk_hit *a, const lk_hit *b, int k) {
  for (int i = 0; i < k; i++)
    if (a[i].id != b[i].id || a[i].score != b[i].score) return 0;
  return 1;
}

static int bench_exact(int argc, char **argv) {
  const char *db = arg(argc, argv, "--db", "/tmp/full-p80.db");
  int nq = atoi(arg(argc, argv, "--queries", "1000"));
  int threads = atoi(arg(argc, argv, "--threads", "2"));
  int sl = atoi(arg(argc, argv, "--shortlist", "0"));
  int p = atoi(arg(argc, argv, "--dims", "0"));
  int reps = atoi(arg(argc, argv, "--reps", "3"));
  const int k = 10;
  vecs a;
  if (load(db, &a)) return 1;
  lk_index *plain, *fast;
  if (lk_index_new(a.dim, &plain) || lk_index_new(a.dim, &fast)) return 1;
  for (size_t i = 0; i < a.n; i++)
    if (lk_index_add(plain, a.ids[i], a.v + i * (size_t)a.dim) || lk_index_add(fast, a.ids[i], a.v + i * (size_t)a.dim))
      return 1;
  double t0 = now();
  if (lk_index_optimize(fast, p)) return 1;
  double topt = now() - t0;
  if (sl && lk_index_set_shortlist(fast, sl)) return 1;
  if (lk_index_set_threads(fast, threads)) return 1;
  printf("exact: %zu x %d vectors from %s; optimize (basis %d-d + codes) %.2f s; %d queries x %d reps, "
         "k=%d, threads %d\n",
         a.n, a.dim, db, lk_index_optimized_dims(fast), topt, nq, reps, k, threads);
  const char *outdir = arg(argc, argv, "--out", NULL);
  if (outdir) { /* the same vectors and query rows for the FAISS side */
    char path[4096];
    snprintf(path, sizeof path, "mkdir -p '%s'", outdir);
    if (system(path)) return 1;
    snprintf(path, sizeof path, "%s/catalog.npy", outdir);
    FILE *f = fopen(path, "wb");
    if (!f || npy_header(f, "<f4", a.n, (size_t)a.dim) || fwrite(a.v, sizeof(float) * a.dim, a.n, f) != a.n || fclose(f))
      return 1;
    snprintf(path, sizeof path, "%s/catalog_queries.npy", outdir);
    f = fopen(path, "wb");
    if (!f || npy_header(f, "<i8", (size_t)nq, 1)) return 1;
    for (int q = 0; q < nq; q++) {
      int64_t r = (int64_t)((size_t)q * a.n / (size_t)nq);
      fwrite(&r, sizeof r, 1, f);
    }
    if (fclose(f)) return 1;
  }
  uint64_t s = 12345;
  double *tp = malloc(sizeof(double) * (size_t)nq * reps), *tf = malloc(sizeof(double) * (size_t)nq * reps);
  double *cf = malloc(sizeof(double) * (size_t)nq * reps);
  /* filters: none, ~25 %, ~2 % of rows allowed (random bitmaps) */
  const double dens[3] = {-1, 0.25, 0.02};
  for (int f = 0; f < 3; f++) {
    uint64_t *allow = NULL;
    if (dens[f] > 0) {
      allow = calloc(a.n / 64 + 1, sizeof *allow);
      for (size_t r = 0; r < a.n; r++)
        if (unif(&s) < dens[f]) allow[r / 64] |= 1ull << (r % 64);
    }
    int same = 0, m = 0;
    for (int rep = 0; rep < reps; rep++)
      for (int q = 0; q < nq; q++) {
        size_t r = (size_t)q * a.n / (size_t)nq + (size_t)rep;
        const float *v = a.v + r * (size_t)a.dim;
        lk_hit h1[10], h2[10];
        int n1, n2;
        double t1 = now();
        if (lk_index_search(plain, v, 1, k, allow, a.ids[r], h1, &n1)) return 1;
        double t2 = now(), c2 = cpu_now();
        if (lk_index_search(fast, v, 1, k, allow, a.ids[r], h2, &n2)) return 1;
        double t3 = now();
        cf[m] = (cpu_now() - c2) * 1e3;
        tp[m] = (t2 - t1) * 1e3;
        tf[m] = (t3 - t2) * 1e3;
        m++;
        same += n1 == n2 && same_top(h1, h2, k);
      }
    double pp50 = pct(tp, m, 50), pp99 = pct(tp, m, 99), fp50 = pct(tf, m, 50), fp99 = pct(tf, m, 99);
    double c50 = pct(cf, m, 50), c99 = pct(cf, m, 99); /* threads > 1: this thread's share only */
    /* The same queries again through the fast index alone, back to back as a server answers
     * them (and as FAISS is timed): above, each one followed a plain scan of 250 MB that had
     * flushed the caches, so its codes came from memory every time. */
    int mw = 0;
    for (int rep = 0; rep < reps; rep++)
      for (int q = 0; q < nq; q++) {
        size_t r = (size_t)q * a.n / (size_t)nq + (size_t)rep;
        lk_hit h2[10];
        int n2;
        double t2 = now();
        if (lk_index_search(fast, a.v + r * (size_t)a.dim, 1, k, allow, a.ids[r], h2, &n2)) return 1;
        tf[mw++] = (now() - t2) * 1e3;
      }
    double w50 = pct(tf, mw, 50), w99 = pct(tf, mw, 99);
    char fl[32];
    if (dens[f] > 0) snprintf(fl, sizeof fl, "%.0f %% allowed", dens[f] * 100);
    else snprintf(fl, sizeof fl, "none");
    printf("RESULT exact filter=%s plain_p50_ms=%.3f plain_p99_ms=%.3f fast_p50_ms=%.3f fast_p99_ms=%.3f "
           "fast_cpu_p50_ms=%.3f fast_cpu_p99_ms=%.3f warm_p50_ms=%.3f warm_p99_ms=%.3f speedup_p50=%.1f "
           "identical_top10=%d/%d\n",
           fl, pp50, pp99, fp50, fp99, c50, c99, w50, w99, pp50 / fp50, same, m);
    free(allow);
  }
  free(tp);
  free(tf);
  free(cf);
  lk_index_free(plain);
  lk_index_free(fast);
  free(a.v);
  free(a.ids);
  return 0;
}


/* ---------------------------------------------------------------- ivf */


static int allowed10(size_t r) { /* the filtered ground truth's filter: ~10 % of rows */
  uint64_t s = r * 0x2545F4914F6CDD1DULL;
  return lk_rng_next(&s) % 10 == 3;
}

static int bench_ivf(int argc, char **argv) {
  const char *db = arg(argc, argv, "--db", "/tmp/full-p80.db");
  size_t N = (size_t)atoll(arg(argc, argv, "--n", "1000000"));
  int nq = atoi(arg(argc, argv, "--queries", "300"));
  const char *outdir = arg(argc, argv, "--out", "/tmp/lk-search-bench");
  const char *probes = arg(argc, argv, "--nprobe", "8,16,32,48,64,96");
  lk_ivf_opts io;
  lk_ivf_opts_default(&io);
  io.fine_dims = atoi(arg(argc, argv, "--fine", "768"));
  io.coarse_dims = atoi(arg(argc, argv, "--coarse", "128"));
  io.nlist = atoi(arg(argc, argv, "--nlist", "0"));
  /* --code-share S|engine: codes shortened to the directions holding share S of the energy
   * (index/ivf.h; "engine": LK_ENGINE_IVF_CODE_SHARE, as the engine builds them); the build's
   * RESULT line gives the length chosen */
  const char *share = arg(argc, argv, "--code-share", "0");
  io.code_share = !strcmp(share, "engine") ? LK_ENGINE_IVF_CODE_SHARE : (float)atof(share);
  /* --cols C: C filter columns (column 0 = 1 on the ~10 % filter's rows), the filtered runs
   * through lk_ivf_search_where instead of the row bitmap */
  io.ncols = atoi(arg(argc, argv, "--cols", "0"));
  lk_ivf_filter where = {.used = 1, .allow = {{2}}};
  uint8_t *cols = io.ncols > 0 ? calloc(4096 * (size_t)io.ncols, 1) : NULL;
  size_t ntrain = (size_t)atoll(arg(argc, argv, "--train", "65536"));
  const int k = 10;
  vecs a;
  if (load(db, &a)) return 1;
  const int d = a.dim;
  if (N < a.n) N = a.n;
  if (io.fine_dims > d) io.fine_dims = d; /* (--fine's default 768 is the raw recipe's; a tuned catalog has 256) */
  if (ntrain > N) ntrain = N;
  io.expected = N;
  double c;
  int iso = !strcmp(arg(argc, argv, "--noise", "catalog"), "iso");
  gen g;
  if (gen_init(&g, &a, iso, &c)) return 1;
  printf("ivf: %zu rows (%zu real from %s + synthetic), dim %d; median nearest-neighbour cosine %.3f -> "
         "%s noise, scale %.5f\n",
         N, a.n, db, d, c, iso ? "isotropic Gaussian" : "catalog-covariance (difference of two random items)", g.sigma);
  char path[4096];
  snprintf(path, sizeof path, "mkdir -p '%s'", outdir);
  if (system(path)) return 1;
  /* queries: fresh synthetic rows (seed 2), not in the catalog */
  float *Q = malloc(sizeof(float) * (size_t)nq * d);
  for (int q = 0; q < nq; q++) gen_row(&g, 2, (size_t)q, Q + (size_t)q * d);
  /* pass 1: write the vectors, exact ground truth (unfiltered and ~10 % filter), training sample */
  snprintf(path, sizeof path, "%s/base.npy", outdir);
  FILE *fb = fopen(path, "wb");
  if (!fb || npy_header(fb, "<f4", N, (size_t)d)) return 1;
  gt t0 = {nq, k, calloc((size_t)nq * k, sizeof(lk_hit)), calloc((size_t)nq, sizeof(int))};
  gt t1 = {nq, k, calloc((size_t)nq * k, sizeof(lk_hit)), calloc((size_t)nq, sizeof(int))};
  float *T = malloc(sizeof(float) * ntrain * d);
  size_t nt = 0;
  enum { CH = 4096 };
  float *X = malloc(sizeof(float) * CH * (size_t)d), *S = malloc(sizeof(float) * CH * (size_t)nq);
  double tgt = 0, t = now();
  for (size_t r0 = 0; r0 < N; r0 += CH) {
    size_t m = N - r0 < CH ? N - r0 : CH;
    for (size_t i = 0; i < m; i++) gen_row(&g, 0, r0 + i, X + i * (size_t)d);
    if (fwrite(X, sizeof(float) * (size_t)d, m, fb) != m) return 1;
    for (size_t i = 0; i < m; i++)
      if (nt < ntrain && (r0 + i) * ntrain / N >= nt) memcpy(T + nt++ * (size_t)d, X + i * (size_t)d, sizeof(float) * (size_t)d);
    double t2 = now();
    if (lk_linalg_sgemm('N', 'T', (int64_t)m, nq, d, 1.0f, X, d, Q, d, 0.0f, S, nq)) return 1;
    for (size_t i = 0; i < m; i++)
      for (int q = 0; q < nq; q++) {
        float sc = S[i * (size_t)nq + q];
        gt_offer(&t0, q, (int64_t)(r0 + i), sc);
        if (allowed10(r0 + i)) gt_offer(&t1, q, (int64_t)(r0 + i), sc);
      }
    tgt += now() - t2;
  }
  if (fclose(fb)) return 1;
  printf("generated and wrote %.1f GB in %.0f s (exact ground truth by batched sgemm: %.1f s = %.1f ms per query)\n",
         (double)N * d * 4 / 1e9, now() - t, tgt, tgt * 1e3 / nq);
  for (int q = 0; q < nq; q++) {
    qsort(t0.h + (size_t)q * k, (size_t)k, sizeof(lk_hit), hit_cmp);
    qsort(t1.h + (size_t)q * k, (size_t)k, sizeof(lk_hit), hit_cmp);
  }
  /* queries and ground truth for the FAISS side */
  snprintf(path, sizeof path, "%s/queries.npy", outdir);
  FILE *fq = fopen(path, "wb");
  if (!fq || npy_header(fq, "<f4", (size_t)nq, (size_t)d) || fwrite(Q, sizeof(float) * d, (size_t)nq, fq) != (size_t)nq || fclose(fq)) return 1;
  snprintf(path, sizeof path, "%s/gt.npy", outdir);
  FILE *fg = fopen(path, "wb");
  if (!fg || npy_header(fg, "<i8", (size_t)nq, (size_t)k)) return 1;
  for (size_t i = 0; i < (size_t)nq * k; i++) fwrite(&t0.h[i].id, sizeof(int64_t), 1, fg);
  if (fclose(fg)) return 1;
  snprintf(path, sizeof path, "%s/train.npy", outdir);
  FILE *ft = fopen(path, "wb");
  if (!ft || npy_header(ft, "<f4", nt, (size_t)d) || fwrite(T, sizeof(float) * d, nt, ft) != nt || fclose(ft)) return 1;
  /* build */
  lk_ivf *v;
  size_t rss0 = (size_t)rss_now().anon * 1024; /* the index's growth of the process, beside lk_ivf_memory */
  t = now();
  int rc = lk_ivf_train(&io, d, T, nt, &v);
  if (rc) {
    fprintf(stderr, "ivf train: %s\n", lk_strerror(rc));
    return 1;
  }
  double ttrain = now() - t, tadd = 0;
  int64_t *ids = malloc(sizeof(int64_t) * CH);
  for (size_t r0 = 0; r0 < N; r0 += CH) {
    size_t m = N - r0 < CH ? N - r0 : CH;
    for (size_t i = 0; i < m; i++) {
      gen_row(&g, 0, r0 + i, X + i * (size_t)d);
      ids[i] = (int64_t)(r0 + i);
      if (cols) cols[i * (size_t)io.ncols] = (uint8_t)allowed10(r0 + i);
    }
    double t2 = now();
    if ((rc = lk_ivf_add_cols(v, ids, X, cols, m))) {
      fprintf(stderr, "ivf add: %s\n", lk_strerror(rc));
      return 1;
    }
    tadd += now() - t2;
  }
  size_t grown = lk_ivf_memory(v);
  if (lk_ivf_trim(v)) return 1; /* as the engine does after loading */
  size_t mem = lk_ivf_memory(v), rss1 = (size_t)rss_now().anon * 1024;
  lk_ivf_shape(v, &io.nlist, &io.fine_dims, &io.coarse_dims); /* (coarse: as chosen) */
  printf("RESULT ivf_build n=%zu nlist=%d train_rows=%zu train_s=%.1f add_s=%.1f bytes_per_item=%.0f "
         "before_trim=%.0f fine=%d coarse=%d dim=%d rss_bytes_per_item=%.0f\n",
         N, io.nlist ? io.nlist : (int)(1.5 * sqrt((double)N)), nt, ttrain, tadd, (double)mem / N,
         (double)grown / N, io.fine_dims, io.coarse_dims, d, rss1 > rss0 ? (double)(rss1 - rss0) / N : 0.0);
  /* search: nprobe sweep, then the ~10 % filter at the default nprobe */
  uint64_t *allow = calloc(N / 64 + 1, sizeof *allow);
  size_t nallow = 0;
  for (size_t r = 0; r < N; r++)
    if (allowed10(r)) {
      allow[r / 64] |= 1ull << (r % 64);
      nallow++;
    }
  double *tm = malloc(sizeof(double) * nq), *tc = malloc(sizeof(double) * nq);
  /* the refine step reads the float vectors from base.npy, memory-mapped */
  snprintf(path, sizeof path, "%s/base.npy", outdir);
  int fd = open(path, O_RDONLY);
  size_t mapbytes = N * (size_t)d * sizeof(float) + 128;
  /* the page cache as a server started on a cold cache finds it (the file written back, so no
   * writeback runs beside the timed searches, and dropped), then read in through a mapping
   * advised as the engine advises a saved index (util/file.h lk_file_advise_huge: 2 MiB
   * folios); --huge 0: 4 KiB pages */
  int huge = atoi(arg(argc, argv, "--huge", "1"));
  if (fd >= 0 && (fdatasync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))) return 1;
  void *map = fd >= 0 ? mmap(NULL, mapbytes, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (map == MAP_FAILED) return 1;
  if (huge) huge = lk_file_advise_huge(map, mapbytes);
  printf("ivf: the exact re-rank reads the vector file through a mapping with %s\n",
         huge ? "huge pages (2 MiB folios)" : "4 KiB pages");
  mapped mv = {(const float *)((const char *)map + 128), d};
  { /* page the file in once: the first refine pass would otherwise time the disk */
    volatile unsigned char sink = 0;
    for (size_t off = 0; off < mapbytes; off += 4096) sink ^= ((const unsigned char *)map)[off];
    (void)sink;
  }
  /* rerank and refine depths to sweep (refine 0 = fine-code scores only); the engine's
   * defaults are marked */
  int refines[8], nref = 0, reranks[8], nrr = 0;
  char rl[256], pl[256], rrl[256];
  snprintf(rrl, sizeof rrl, "%s", arg(argc, argv, "--rerank", "400," LK_STR(LK_ENGINE_IVF_RERANK)));
  for (char *tok = strtok(rrl, ","); tok && nrr < 8; tok = strtok(NULL, ","))
    if (!nrr || atoi(tok) != reranks[nrr - 1]) reranks[nrr++] = atoi(tok);
  snprintf(rl, sizeof rl, "%s", arg(argc, argv, "--refine", "0,50," LK_STR(LK_ENGINE_IVF_REFINE)));
  for (char *tok = strtok(rl, ","); tok && nref < 8; tok = strtok(NULL, ","))
    if (!nref || atoi(tok) != refines[nref - 1]) refines[nref++] = atoi(tok);
  snprintf(pl, sizeof pl, "%s", probes);
  int probe_list[16], nprobes = 0;
  for (char *tok = strtok(pl, ","); tok && nprobes < 16; tok = strtok(NULL, ",")) probe_list[nprobes++] = atoi(tok);
  /* the engine's configuration (coarse-only, its code rule): its probe depth tuned as the
   * engine tunes it (bench_tune_probe), swept and marked as the engine's default */
  int engine_np = LK_ENGINE_IVF_NPROBE;
  if (io.fine_dims == 0 && !strcmp(share, "engine")) {
    double ttruth, ttune;
    int minp;
    if (bench_tune_probe(v, mv.v, N, d, &mv, &ttruth, &ttune, &minp)) return 1;
    engine_np = lk_ivf_nprobe(v);
    printf("RESULT ivf_tune nprobe=%d sample_recall=%.4f target=%.2f min_nprobe=%d truth_s=%.1f tune_s=%.1f\n", engine_np,
           lk_ivf_recall(v), LK_ENGINE_IVF_RECALL, minp, ttruth, ttune);
    sweep_insert(probe_list, &nprobes, 16, engine_np);
  }
  /* one untimed pass first: whichever setting came first was otherwise timed ~15-25 % slower
   * than the same setting later in the run */
  if (lk_ivf_set_refine(v, refines[nref - 1], mapped_get, &mv) || lk_ivf_set_rerank(v, reranks[0])) return 1;
  for (int q = 0; q < nq; q++) {
    lk_hit h[10];
    int nf;
    if (lk_ivf_search(v, Q + (size_t)q * d, 1, k, probe_list[0], NULL, -1, h, &nf)) return 1;
  }
  for (int ri = 0; ri < nrr; ri++)
  for (int pi = 0; pi < nprobes; pi++)
  for (int rf = 0; rf < nref; rf++) {
    int np = probe_list[pi], refine = refines[rf], rerank = reranks[ri];
    if (refine && refine <= k) continue;
    if (lk_ivf_set_refine(v, refine, mapped_get, &mv) || lk_ivf_set_rerank(v, rerank)) return 1;
    for (int f = 0; f < 2; f++) {
      double rec = 0;
      int bad = 0;
      struct rusage ru0, ru1; /* page faults per query: a re-rank that reads the disk shows here */
      getrusage(RUSAGE_SELF, &ru0);
      for (int q = 0; q < nq; q++) {
        lk_hit h[10];
        int nf;
        double t2 = now(), c2 = cpu_now();
        if (f && cols ? lk_ivf_search_where(v, Q + (size_t)q * d, 1, k, np, &where, -1, h, &nf)
                      : lk_ivf_search(v, Q + (size_t)q * d, 1, k, np, f ? allow : NULL, -1, h, &nf))
          return 1;
        tm[q] = (now() - t2) * 1e3;
        tc[q] = (cpu_now() - c2) * 1e3;
        const lk_hit *gq = (f ? t1.h : t0.h) + (size_t)q * k;
        int hit = 0;
        for (int i = 0; i < k; i++)
          for (int j = 0; j < k; j++) hit += h[i].id == gq[j].id;
        rec += hit / (double)k;
        if (nf != k) bad++;
        for (int i = 0; i < nf; i++) bad += !allowed_bit(f ? allow : NULL, (size_t)h[i].id);
      }
      getrusage(RUSAGE_SELF, &ru1);
      printf("RESULT ivf n=%zu nprobe=%d rerank=%d refine=%d filter=%s p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f "
             "cpu_p99_ms=%.3f recall10=%.4f violations=%d engine_default=%d minflt_per_q=%.2f majflt_per_q=%.2f\n",
             N, np, rerank, refine, f ? "10%" : "none", pct(tm, nq, 50), pct(tm, nq, 99), pct(tc, nq, 50),
             pct(tc, nq, 99), rec / nq, bad,
             np == engine_np && refine == LK_ENGINE_IVF_REFINE && rerank == LK_ENGINE_IVF_RERANK,
             (double)(ru1.ru_minflt - ru0.ru_minflt) / nq, (double)(ru1.ru_majflt - ru0.ru_majflt) / nq);
    }
  }
  /* a very selective filter (0.1 %): all hits allowed, recall against its own exact answer */
  {
    if (lk_ivf_set_refine(v, LK_ENGINE_IVF_REFINE, mapped_get, &mv) || lk_ivf_set_rerank(v, LK_ENGINE_IVF_RERANK))
      return 1;
    uint64_t *sel = calloc(N / 64 + 1, sizeof *sel);
    size_t ns = 0;
    for (size_t r = 0; r < N; r += 997) {
      sel[r / 64] |= 1ull << (r % 64);
      ns++;
    }
    int bad = 0;
    for (int q = 0; q < nq; q++) {
      lk_hit h[10];
      int nf;
      double t2 = now(), c2 = cpu_now();
      if (lk_ivf_search(v, Q + (size_t)q * d, 1, k, engine_np, sel, -1, h, &nf)) return 1;
      tm[q] = (now() - t2) * 1e3;
      tc[q] = (cpu_now() - c2) * 1e3;
      if (nf != (ns < (size_t)k ? (int)ns : k)) bad++;
      for (int i = 0; i < nf; i++) bad += !allowed_bit(sel, (size_t)h[i].id);
    }
    printf("RESULT ivf n=%zu filter=0.1%% (%zu rows) p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f cpu_p99_ms=%.3f "
           "violations=%d\n", N, ns, pct(tm, nq, 50), pct(tm, nq, 99), pct(tc, nq, 50), pct(tc, nq, 99), bad);
    free(sel);
  }
  lk_ivf_free(v);
  munmap(map, mapbytes);
  close(fd);
  free(allow);
  free(tm);
  free(tc);
  free(ids);
  free(cols);
  free(X);
  free(S);
  free(T);
  free(Q);
  free(g.table);
  free(t0.h);
  free(t0.len);
  free(t1.h);
  free(t1.len);
  free(a.v);
  free(a.ids);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "ivf")) return bench_ivf(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "exact")) return bench_exact(argc, argv);
  fprintf(stderr, "usage: search_bench exact|ivf [--db DB] [options]\n");
  return 2;
}
