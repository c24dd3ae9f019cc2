/* search/recommend.c — every product's neighbours in one pass (see recommend.h). The products
 * are put in an order where those sharing their `same` values are adjacent (one group: all of
 * them, without `same`); work units are batches of one group, taken by workers from a shared
 * counter; each unit's allow bitmap is its group's rows, built by the worker in its own buffer,
 * so memory does not grow with the number of groups. */
#include "search/recommend.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "index/index.h"
#include "util/file.h"
#include "util/size.h"

#define BATCH 64 /* products searched together (one lk_engine_search_rows call) */

typedef struct unit {
  size_t first, n;         /* products order[first .. first+n) */
  size_t gfirst, gn;       /* their group: order[gfirst .. gfirst+gn) */
} unit;

typedef struct job {
  const lk_engine *e;
  const lk_recommend_opts *o;
  lk_recommend *r;
  size_t *order;
  unit *units;
  size_t nunits, words;
  int all;                 /* one group of every searchable item: no bitmap needed */
  atomic_size_t next, done;
  atomic_int stop, rc;
} job;

void lk_recommend_opts_default(lk_recommend_opts *o) {
  memset(o, 0, sizeof *o);
  o->k = 10;
}

void lk_recommend_free(lk_recommend *r) {
  if (!r) return;
  free(r->ids);
  free(r->hits);
  free(r->nfound);
  memset(r, 0, sizeof *r);
}

/* Orders products by their `same` values (unknown first, then case-insensitively), then id. */
static int by_same(const void *a, const void *b, void *ctx) {
  const job *j = ctx;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  const lk_item *ix = lk_engine_item(j->e, j->r->ids[x]), *iy = lk_engine_item(j->e, j->r->ids[y]);
  for (int s = 0; s < j->o->nsame; s++) {
    const char *u = ix->field[j->o->same[s]], *v = iy->field[j->o->same[s]];
    if (!u || !v) {
      if (u || v) return u ? 1 : -1;
      continue;
    }
    int c = strcasecmp(u, v);
    if (c) return c;
  }
  return (x > y) - (x < y);
}

static int same_group(const job *j, size_t x, size_t y) {
  const lk_item *ix = lk_engine_item(j->e, j->r->ids[x]), *iy = lk_engine_item(j->e, j->r->ids[y]);
  for (int s = 0; s < j->o->nsame; s++) {
    const char *u = ix->field[j->o->same[s]], *v = iy->field[j->o->same[s]];
    if ((!u || !v) ? u != v : strcasecmp(u, v) != 0) return 0;
  }
  return 1;
}

/* Searches one unit: k + 1 neighbours each, the product itself dropped. */
static int run_unit(job *j, const unit *u, float *q, lk_hit *hits, int *nf, uint64_t *bm) {
  const lk_engine *e = j->e;
  lk_recommend *r = j->r;
  int k = r->k, qd = lk_engine_query_dim(e);
  const lk_index *ix = lk_engine_index(e);
  if (!j->all) {
    memset(bm, 0, sizeof *bm * j->words);
    for (size_t g = 0; g < u->gn; g++) {
      int64_t row = lk_index_row(ix, r->ids[j->order[u->gfirst + g]]);
      if (row >= 0) bm[row / 64] |= 1ull << (row % 64);
    }
  }
  for (size_t i = 0; i < u->n; i++)
    lk_engine_make_query(e, lk_engine_vector(e, r->ids[j->order[u->first + i]]), q + i * (size_t)qd);
  int rc = lk_engine_search_rows(e, q, (int)u->n, k + 1, j->all ? NULL : bm, -1, hits, nf);
  if (rc) return rc;
  for (size_t i = 0; i < u->n; i++) {
    size_t pos = j->order[u->first + i];
    lk_hit *mine = r->hits + pos * (size_t)k, *got = hits + i * (size_t)(k + 1);
    int n = 0;
    for (int h = 0; h < nf[i] && n < k; h++)
      if (got[h].id != r->ids[pos]) mine[n++] = got[h];
    r->nfound[pos] = n;
  }
  return 0;
}

static void fail(job *j, int rc) {
  int zero = 0;
  atomic_compare_exchange_strong(&j->rc, &zero, rc);
  atomic_store(&j->stop, 1);
}

/* Takes units until none is left; report: also calls the progress callback after each one
 * (the calling thread). */
static void work(job *j, int report) {
  const lk_recommend_opts *o = j->o;
  int k = j->r->k, qd = lk_engine_query_dim(j->e), rc = 0;
  float *q = malloc(sizeof *q * BATCH * (size_t)qd);
  lk_hit *hits = malloc(sizeof *hits * BATCH * (size_t)(k + 1));
  int *nf = malloc(sizeof *nf * BATCH);
  uint64_t *bm = j->all ? NULL : malloc(sizeof *bm * j->words);
  if (!q || !hits || !nf || (!j->all && !bm)) rc = LK_ENOMEM;
  while (!rc && !atomic_load(&j->stop)) {
    size_t u = atomic_fetch_add(&j->next, 1);
    if (u >= j->nunits) break;
    if ((rc = run_unit(j, &j->units[u], q, hits, nf, bm))) break;
    size_t done = atomic_fetch_add(&j->done, j->units[u].n) + j->units[u].n;
    if (report && o->progress && o->progress(o->ctx, done, j->r->n)) rc = LK_EINTR;
  }
  if (rc) fail(j, rc);
  free(q);
  free(hits);
  free(nf);
  free(bm);
}

static void *worker(void *arg) {
  work(arg, 0);
  return NULL;
}

/* The products (searchable items passing the filter, id order), their grouped order and the
 * work units. */
static int plan(job *j, lk_errbuf *err) {
  const lk_engine *e = j->e;
  lk_recommend *r = j->r;
  size_t nitems = lk_engine_item_count(e), n = 0, bytes;
  if (lk_size_mul(nitems + 1, sizeof *r->ids, &bytes) || !(r->ids = malloc(bytes)) ||
      !(j->order = malloc(sizeof *j->order * (nitems + 1))))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < nitems; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    if (lk_engine_vector(e, it->id) && lk_filter_match(it, j->o->filter, NULL)) r->ids[n++] = it->id;
  }
  r->n = n;
  for (size_t i = 0; i < n; i++) j->order[i] = i;
  if (j->o->nsame) qsort_r(j->order, n, sizeof *j->order, by_same, j);
  j->all = !j->o->nsame && n == lk_engine_size(e);
  j->words = lk_engine_rows(e) / 64 + 1;
  if (lk_size_mul3(n + 1, (size_t)r->k, sizeof *r->hits, &bytes) || !(r->hits = malloc(bytes)) ||
      !(r->nfound = calloc(n + 1, sizeof *r->nfound)) || !(j->units = malloc(sizeof *j->units * (n + 1))))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < n * (size_t)r->k; i++) r->hits[i] = (lk_hit){-1, -INFINITY};
  for (size_t g = 0, end; g < n; g = end) { /* each group's products in batches */
    for (end = g + 1; end < n && same_group(j, j->order[g], j->order[end]); end++) {}
    for (size_t b = g; b < end; b += BATCH)
      j->units[j->nunits++] = (unit){b, end - b < BATCH ? end - b : BATCH, g, end - g};
  }
  return 0;
}

int lk_recommend_run(const lk_engine *e, const lk_recommend_opts *o, lk_recommend *out, lk_errbuf *err) {
  memset(out, 0, sizeof *out);
  if (o->k < 1 || o->k > LK_RECOMMEND_MAX_K) return lk_err_set(err, LK_EINVAL, "k must be in 1..%d", LK_RECOMMEND_MAX_K);
  if (o->threads < 0 || o->threads > LK_RECOMMEND_MAX_THREADS)
    return lk_err_set(err, LK_EINVAL, "threads must be in 0..%d", LK_RECOMMEND_MAX_THREADS);
  if (o->nsame < 0 || o->nsame > LK_NFIELDS) return lk_err_set(err, LK_EINVAL, "too many same fields");
  for (int s = 0; s < o->nsame; s++)
    if (o->same[s] < 0 || o->same[s] >= LK_NFIELDS) return lk_err_set(err, LK_EINVAL, "unknown same field");
  if (lk_engine_delta(e)) return lk_err_set(err, LK_EUNSUPPORTED, "recommend needs a full engine, not a derived one");
  int rc = lk_engine_filter_check(e, o->filter, err);
  if (rc) return rc;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = o->threads ? o->threads : cpus < 1 ? 1 : cpus > LK_RECOMMEND_MAX_THREADS ? LK_RECOMMEND_MAX_THREADS : (int)cpus;
  job j = {.e = e, .o = o, .r = out};
  out->k = o->k;
  if ((rc = plan(&j, err))) goto out;
  if ((size_t)threads > j.nunits) threads = j.nunits ? (int)j.nunits : 1;
  out->threads = threads;
  pthread_t th[LK_RECOMMEND_MAX_THREADS];
  int started[LK_RECOMMEND_MAX_THREADS] = {0};
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&th[t], NULL, worker, &j) == 0;
  work(&j, 1); /* the calling thread works too, reporting progress */
  for (int t = 1; t < threads; t++)
    if (started[t]) pthread_join(th[t], NULL);
  rc = atomic_load(&j.rc);
  if (rc == LK_EINTR) lk_err_set(err, rc, "interrupted");
  else if (rc == LK_ENOMEM) lk_err_set(err, rc, "out of memory");
  else if (rc) lk_err_set(err, rc, "search failed: %s", lk_strerror(rc));
  for (size_t i = 0; !rc && i < out->n; i++)
    if (out->nfound[i] < out->k) out->short_lists++;
out:
  free(j.order);
  free(j.units);
  if (rc) lk_recommend_free(out);
  return rc;
}

int lk_recommend_write_csv(const lk_recommend *r, const char *path, lk_errbuf *err) {
  lk_file_out f;
  int rc = lk_file_out_open(&f, path, err);
  if (rc) return rc;
  fputs("id,rank,neighbour_id,score\n", f.fp);
  for (size_t i = 0; i < r->n; i++)
    for (int h = 0; h < r->nfound[i]; h++) {
      const lk_hit *x = &r->hits[i * (size_t)r->k + (size_t)h];
      fprintf(f.fp, "%lld,%d,%lld,%.6f\n", (long long)r->ids[i], h + 1, (long long)x->id, (double)x->score);
    }
  return lk_file_out_commit(&f, err);
}
