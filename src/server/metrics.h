/* server/metrics.h — the web server's request counters and latency histograms, rendered in
 * the Prometheus text format (version 0.0.4) for GET /metrics. Updates are lock-free C11
 * atomics, so any server thread may record; one lk_metrics per server, no globals. */
#ifndef LK_SERVER_METRICS_H
#define LK_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* What a request was for (the "endpoint" label). */
enum lk_metrics_endpoint {
  LK_METRICS_PAGE,    /* the embedded page and its assets */
  LK_METRICS_SEARCH,  /* POST /api/search */
  LK_METRICS_ITEMS,   /* GET /api/items (sample, pages) */
  LK_METRICS_ITEM,    /* GET /api/items/{id} */
  LK_METRICS_SIMILAR, /* GET /api/items/{id}/similar */
  LK_METRICS_FACETS,  /* GET /api/facets */
  LK_METRICS_PHOTO,   /* GET /photos/{id} */
  LK_METRICS_HEALTH,  /* GET /health */
  LK_METRICS_METRICS, /* GET /metrics */
  LK_METRICS_OTHER,   /* unknown routes */
  LK_METRICS_UPLOAD,  /* POST /api/uploads */
  LK_METRICS_WRITE,   /* POST /api/items, PUT / PATCH / DELETE /api/items/{id} */
  LK_METRICS_BATCH,   /* POST /api/items/batch */
  LK_METRICS_NENDPOINTS
};

/* Stages of a photo search (the "stage" label of lookalike_search_stage_seconds); queue is
 * the wait for a free embedder. */
enum lk_metrics_stage { LK_METRICS_DECODE, LK_METRICS_QUEUE, LK_METRICS_EMBED, LK_METRICS_KNN, LK_METRICS_NSTAGES };

typedef struct lk_metrics lk_metrics;

/* Gauges the caller knows and the metrics do not. */
typedef struct lk_metrics_gauges {
  int64_t items, vectors; /* catalog size */
  int dim;                /* embedding dimension */
  const char *extra;      /* more exposition text to append (per-key counters), or NULL */
} lk_metrics_gauges;

/* *out: lk_metrics_free. LK_ENOMEM. */
int lk_metrics_new(lk_metrics **out);
void lk_metrics_free(lk_metrics *m); /* NULL-safe */

/* One finished request: its endpoint, HTTP status and duration. */
void lk_metrics_request(lk_metrics *m, int endpoint, int status, double seconds);
/* One stage of a photo search. */
void lk_metrics_stage(lk_metrics *m, int stage, double seconds);
/* Requests being served: +1 when one starts, -1 when it ends. */
void lk_metrics_inflight(lk_metrics *m, int delta);

/* The exposition text; *out is malloc'd (caller frees), *len its length. LK_ENOMEM. */
int lk_metrics_render(lk_metrics *m, const lk_metrics_gauges *g, char **out, size_t *len);

#endif
