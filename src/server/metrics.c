/* server/metrics.c — request counters and latency histograms for GET /metrics (see
 * metrics.h). Fixed-size tables of relaxed atomics: counts by endpoint x status, cumulative
 * latency buckets by endpoint, and per-stage search timings. */
#include "server/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lookalike.h"

/* Status codes the server answers with; anything else counts under "other". */
static const int STATUS[] = {200, 201, 304, 400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503};
#define NSTATUS (int)(sizeof STATUS / sizeof STATUS[0])
/* Upper bounds of the latency buckets, seconds (+Inf is implicit). */
static const double BUCKET[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKET (int)(sizeof BUCKET / sizeof BUCKET[0])

static const char *const EP_NAME[LK_METRICS_NENDPOINTS] = {
    "page", "search", "items", "item", "similar", "facets", "photo", "health", "metrics", "other",
    "upload", "write", "batch"};
static const char *const STAGE_NAME[LK_METRICS_NSTAGES] = {"decode", "queue", "embed", "knn"};

/* A histogram: per-bucket (not cumulative) counts, the +Inf overflow, the sum in microseconds. */
typedef struct hist {
  atomic_ullong bucket[NBUCKET + 1];
  atomic_ullong sum_us;
} hist;

struct lk_metrics {
  atomic_ullong count[LK_METRICS_NENDPOINTS][NSTATUS + 1];
  hist latency[LK_METRICS_NENDPOINTS];
  hist stage[LK_METRICS_NSTAGES];
  atomic_llong inflight;
  struct timespec started;
};

int lk_metrics_new(lk_metrics **out) {
  lk_metrics *m = calloc(1, sizeof *m); /* all-zero bytes are valid zero atomics here */
  if (!m) return LK_ENOMEM;
  clock_gettime(CLOCK_MONOTONIC, &m->started);
  *out = m;
  return 0;
}

void lk_metrics_free(lk_metrics *m) { free(m); }

static void hist_add(hist *h, double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  int b = 0;
  while (b < NBUCKET && seconds > BUCKET[b]) b++;
  atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)(seconds * 1e6 + 0.5), memory_order_relaxed);
}

void lk_metrics_request(lk_metrics *m, int endpoint, int status, double seconds) {
  if (endpoint < 0 || endpoint >= LK_METRICS_NENDPOINTS) endpoint = LK_METRICS_OTHER;
  int s = 0;
  while (s < NSTATUS && STATUS[s] != status) s++;
  atomic_fetch_add_explicit(&m->count[endpoint][s], 1, memory_order_relaxed);
  hist_add(&m->latency[endpoint], seconds);
}

void lk_metrics_stage(lk_metrics *m, int stage, double seconds) {
  if (stage < 0 || stage >= LK_METRICS_NSTAGES) return;
  hist_add(&m->stage[stage], seconds);
}

void lk_metrics_inflight(lk_metrics *m, int delta) {
  atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
}

/* Writes one histogram's series with the label text lab (e.g. endpoint="search"). */
static void hist_write(FILE *f, const char *name, const char *lab, hist *h) {
  unsigned long long cum = 0;
  for (int b = 0; b <= NBUCKET; b++) {
    cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
    if (b < NBUCKET) fprintf(f, "%s_bucket{%s,le=\"%g\"} %llu\n", name, lab, BUCKET[b], cum);
    else fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, lab, cum);
  }
  fprintf(f, "%s_sum{%s} %.6f\n", name, lab,
          (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
  fprintf(f, "%s_count{%s} %llu\n", name, lab, cum);
}

int lk_metrics_render(lk_metrics *m, const lk_metrics_gauges *g, char **out, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) return LK_ENOMEM;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double up = (double)(now.tv_sec - m->started.tv_sec) + (double)(now.tv_nsec - m->started.tv_nsec) / 1e9;

  fputs("# HELP lookalike_http_requests_total HTTP requests answered, by endpoint and status.\n"
        "# TYPE lookalike_http_requests_total counter\n", f);
  for (int e = 0; e < LK_METRICS_NENDPOINTS; e++)
    for (int s = 0; s <= NSTATUS; s++) {
      unsigned long long c = atomic_load_explicit(&m->count[e][s], memory_order_relaxed);
      if (!c) continue;
      if (s < NSTATUS)
        fprintf(f, "lookalike_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", EP_NAME[e], STATUS[s], c);
      else
        fprintf(f, "lookalike_http_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n", EP_NAME[e], c);
    }
  fputs("# HELP lookalike_http_request_duration_seconds Time from request headers to response.\n"
        "# TYPE lookalike_http_request_duration_seconds histogram\n", f);
  for (int e = 0; e < LK_METRICS_NENDPOINTS; e++) {
    char lab[64];
    snprintf(lab, sizeof lab, "endpoint=\"%s\"", EP_NAME[e]);
    hist_write(f, "lookalike_http_request_duration_seconds", lab, &m->latency[e]);
  }
  fputs("# HELP lookalike_search_stage_seconds Photo search stages: decode, queue (waiting for an embedder), embed, knn.\n"
        "# TYPE lookalike_search_stage_seconds histogram\n", f);
  for (int s = 0; s < LK_METRICS_NSTAGES; s++) {
    char lab[64];
    snprintf(lab, sizeof lab, "stage=\"%s\"", STAGE_NAME[s]);
    hist_write(f, "lookalike_search_stage_seconds", lab, &m->stage[s]);
  }
  fprintf(f,
          "# HELP lookalike_http_requests_in_flight Requests being served.\n"
          "# TYPE lookalike_http_requests_in_flight gauge\n"
          "lookalike_http_requests_in_flight %lld\n"
          "# HELP lookalike_catalog_items Items in the loaded catalog.\n"
          "# TYPE lookalike_catalog_items gauge\n"
          "lookalike_catalog_items %lld\n"
          "# HELP lookalike_catalog_vectors Searchable items (with an embedding).\n"
          "# TYPE lookalike_catalog_vectors gauge\n"
          "lookalike_catalog_vectors %lld\n"
          "# HELP lookalike_embedding_dimensions Dimensions of the catalog's embedding.\n"
          "# TYPE lookalike_embedding_dimensions gauge\n"
          "lookalike_embedding_dimensions %d\n"
          "# HELP lookalike_uptime_seconds Seconds since the server started.\n"
          "# TYPE lookalike_uptime_seconds gauge\n"
          "lookalike_uptime_seconds %.3f\n"
          "# HELP lookalike_build_info Version of the running binary.\n"
          "# TYPE lookalike_build_info gauge\n"
          "lookalike_build_info{version=\"%s\"} 1\n",
          (long long)atomic_load_explicit(&m->inflight, memory_order_relaxed), (long long)g->items,
          (long long)g->vectors, g->dim, up, LK_VERSION);
  if (g->extra) fputs(g->extra, f);
  if (fclose(f) || !buf) {
    free(buf);
    return LK_ENOMEM;
  }
  *out = buf;
  *len = n;
  return 0;
}
