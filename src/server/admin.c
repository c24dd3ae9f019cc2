/* server/admin.c — the owner's statistics (see admin.h): hourly search counts in a ring of
 * LK_ADMIN_HOURS buckets under one mutex, the weak-match threshold computed by a thread of its
 * own, and the GET /api/admin/stats answer built from the catalog and those counts. */
#include "server/admin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "catalog/catalog.h"
#include "search/calibrate.h"
#include "search/live.h"
#include "search/results.h"
#include "util/size.h"

#define K_FIRST 256   /* neighbours looked at for one of another articleType ... */
#define K_SECOND 4096 /* ... and, when all were of the item's own, this many */

typedef struct bucket {
  int64_t hour; /* Unix hours; -1: unused */
  int64_t searches, weak;
} bucket;

typedef struct pending {
  int64_t hour;
  float best;
  int nhits;
} pending;

struct lk_admin {
  pthread_mutex_t lock;
  bucket hours[LK_ADMIN_HOURS];
  int have_threshold;
  float threshold;
  int threshold_items;
  pending *pend; /* LK_ADMIN_PENDING: searches noted before the threshold was known */
  int npend;
  /* the threshold thread */
  pthread_t thread;
  int running;
  atomic_int stop;
  lk_engine *e;
  struct lk_live *f;
  void (*log)(void *, const char *);
  void *log_ctx;
};

int lk_admin_new(lk_admin **out) {
  lk_admin *a = calloc(1, sizeof *a);
  if (!a || !(a->pend = calloc(LK_ADMIN_PENDING, sizeof *a->pend))) {
    free(a);
    return LK_ENOMEM;
  }
  pthread_mutex_init(&a->lock, NULL);
  for (int i = 0; i < LK_ADMIN_HOURS; i++) a->hours[i].hour = -1;
  *out = a;
  return 0;
}

void lk_admin_free(lk_admin *a) {
  if (!a) return;
  if (a->running) {
    atomic_store(&a->stop, 1);
    pthread_join(a->thread, NULL);
  }
  pthread_mutex_destroy(&a->lock);
  free(a->pend);
  free(a);
}

/* ---------------------------------------------------------------- the weak threshold */

static int cmp_float(const void *x, const void *y) {
  float a = *(const float *)x, b = *(const float *)y;
  return (a > b) - (a < b);
}

/* Score of the best neighbour of item `it` whose articleType is known and differs from its
 * own, in *score: 0, 1 when none was found, or an error. */
static int other_kind(const lk_engine *e, const lk_item *it, int at, lk_hit *hits, float *score) {
  size_t size = lk_engine_size(e);
  for (int k = K_FIRST;; k = K_SECOND) {
    int kk = (size_t)k < size ? k : (int)size, n = 0;
    lk_errbuf eb = {0};
    int rc = lk_engine_similar(e, it->id, NULL, kk, hits, &n, &eb);
    if (rc) return rc == LK_ENOTFOUND ? 1 : rc;
    for (int i = 0; i < n; i++) {
      const lk_item *h = lk_engine_item(e, hits[i].id);
      const char *t = h ? h->field[at] : NULL;
      if (t && *t && strcasecmp(t, it->field[at])) {
        *score = hits[i].score;
        return 0;
      }
    }
    if (k == K_SECOND || n < kk || (size_t)kk >= size) return 1;
  }
}

int lk_admin_weak_threshold(const lk_engine *e, int samples, const atomic_int *stop, float *threshold, int *used) {
  int at = lk_filter_field("articleType");
  size_t n = lk_engine_item_count(e), m = 0, bytes;
  *used = 0;
  if (samples < 1 || at < 0) return LK_EINVAL;
  size_t *pos = NULL;
  float *scores = NULL;
  lk_hit *hits = NULL;
  int rc = LK_ENOMEM;
  if (lk_size_mul(n + 1, sizeof *pos, &bytes) || !(pos = malloc(bytes)) ||
      !(scores = malloc((size_t)samples * sizeof *scores)) || !(hits = malloc(K_SECOND * sizeof *hits)))
    goto out;
  for (size_t i = 0; i < n; i++) { /* the items a search can return that have a kind */
    const lk_item *it = lk_engine_item_at(e, i);
    if (it->field[at] && *it->field[at] && lk_engine_has_vector(e, it->id)) pos[m++] = i;
  }
  size_t want = (size_t)samples < m ? (size_t)samples : m;
  int got = 0;
  for (size_t j = 0; j < want; j++) { /* spread evenly over the catalog: the same every time */
    if (stop && atomic_load(stop)) {
      rc = LK_EINTR;
      goto out;
    }
    const lk_item *it = lk_engine_item_at(e, pos[j * m / want]);
    float s;
    int r = other_kind(e, it, at, hits, &s);
    if (r < 0) {
      rc = r;
      goto out;
    }
    if (r == 0) scores[got++] = s;
  }
  if (!got) {
    rc = LK_ENOTFOUND;
    goto out;
  }
  qsort(scores, (size_t)got, sizeof *scores, cmp_float);
  *threshold = got % 2 ? scores[got / 2] : (scores[got / 2 - 1] + scores[got / 2]) / 2;
  *used = got;
  rc = 0;
out:
  free(pos);
  free(scores);
  free(hits);
  return rc;
}

static void *threshold_main(void *arg) {
  lk_admin *a = arg;
  const lk_live_snap *snap = a->f ? lk_live_acquire(a->f) : NULL;
  const lk_engine *e = snap ? lk_live_engine(snap) : a->e;
  float t = 0;
  int used = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  /* a calibrated catalog (search/calibrate.h): weak = below "same kind", as answers say */
  const lk_calibration *cal = lk_engine_calibration(e);
  int rc = cal ? 0 : lk_admin_weak_threshold(e, LK_ADMIN_SAMPLE, &a->stop, &t, &used);
  if (cal) {
    t = lk_calibration_weak_score(cal);
    used = cal->pairs_kind; /* the items whose neighbours it was fitted on */
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (snap) lk_live_release(a->f, snap);
  char line[256];
  if (cal) {
    lk_admin_set_threshold(a, t, used);
    snprintf(line, sizeof line, "weak-match threshold %.4f (the catalog's calibration: below \"same kind\")", t);
  } else if (!rc) {
    lk_admin_set_threshold(a, t, used);
    snprintf(line, sizeof line, "weak-match threshold %.4f (median over %d items of the best match of another kind; %.2f s)",
             t, used, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  } else if (rc == LK_ENOTFOUND) {
    snprintf(line, sizeof line, "no weak-match threshold: no sampled item has a neighbour of another articleType");
  } else if (rc != LK_EINTR) {
    snprintf(line, sizeof line, "no weak-match threshold: %s", lk_strerror(rc));
  }
  if (rc != LK_EINTR && a->log) a->log(a->log_ctx, line);
  return NULL;
}

int lk_admin_start_threshold(lk_admin *a, lk_engine *e, struct lk_live *f, void (*log)(void *, const char *),
                             void *log_ctx) {
  if (a->running) return LK_EINVAL;
  a->e = e;
  a->f = f;
  a->log = log;
  a->log_ctx = log_ctx;
  if (pthread_create(&a->thread, NULL, threshold_main, a)) return LK_EIO;
  a->running = 1;
  return 0;
}

/* ---------------------------------------------------------------- search counts */

static bucket *bucket_at(lk_admin *a, int64_t hour) {
  bucket *b = &a->hours[hour % LK_ADMIN_HOURS];
  if (b->hour != hour) {
    if (b->hour > hour) return NULL; /* older than the ring: the clock went back a day */
    *b = (bucket){hour, 0, 0};
  }
  return b;
}

static int is_weak(const lk_admin *a, int nhits, float best) { return nhits <= 0 || best < a->threshold; }

void lk_admin_set_threshold(lk_admin *a, float threshold, int used) {
  pthread_mutex_lock(&a->lock);
  a->threshold = threshold;
  a->threshold_items = used;
  a->have_threshold = 1;
  for (int i = 0; i < a->npend; i++) {
    const pending *p = &a->pend[i];
    bucket *b = &a->hours[p->hour % LK_ADMIN_HOURS];
    if (b->hour == p->hour && is_weak(a, p->nhits, p->best)) b->weak++;
  }
  a->npend = 0;
  pthread_mutex_unlock(&a->lock);
}

void lk_admin_note_search(lk_admin *a, int64_t now_s, int nhits, float best) {
  if (!a || now_s < 0) return;
  int64_t hour = now_s / 3600;
  pthread_mutex_lock(&a->lock);
  bucket *b = bucket_at(a, hour);
  if (b) {
    b->searches++;
    if (a->have_threshold) b->weak += is_weak(a, nhits, best);
    else if (a->npend < LK_ADMIN_PENDING) a->pend[a->npend++] = (pending){hour, best, nhits};
  }
  pthread_mutex_unlock(&a->lock);
}

void lk_admin_note_search_reply(lk_admin *a, const json_t *body) {
  const json_t *hits = json_object_get(body, "hits");
  const json_t *first = json_array_get(hits, 0);
  lk_admin_note_search(a, (int64_t)time(NULL), first ? 1 : 0,
                       first ? (float)json_number_value(json_object_get(first, "score")) : 0.0f);
}

/* ---------------------------------------------------------------- the stats answer */

static int add_source(void *ctx, const char *source, int64_t items) {
  json_t *o = json_pack("{s:o, s:I}", "source", lk_results_text(source), "items", (json_int_t)items);
  return o && !json_array_append_new(ctx, o) ? 0 : LK_ENOMEM;
}

static int add_change(void *ctx, int64_t id, int64_t version, int deleted, const char *name) {
  json_t *o = json_pack("{s:I, s:I, s:b, s:o}", "id", (json_int_t)id, "version", (json_int_t)version, "deleted",
                        deleted, "productDisplayName", lk_results_text(name));
  return o && !json_array_append_new(ctx, o) ? 0 : LK_ENOMEM;
}

/* The catalog's part: counts, version, sources and recent changes, into o in that order. */
static int catalog_part(const lk_engine *e, const char *db_path, json_t *o, lk_api_reply *r) {
  json_t *sources = json_array(), *recent = json_array();
  int rc = 0;
  if (!sources || !recent) {
    rc = lk_api_error(r, 500, "out of memory");
  } else if (!db_path) {
    json_object_set_new(o, "items", e ? json_integer((json_int_t)lk_engine_item_count(e)) : json_null());
    json_object_set_new(o, "searchable", e ? json_integer((json_int_t)lk_engine_size(e)) : json_null());
    json_object_set_new(o, "errors", json_null());
    json_object_set_new(o, "catalog_version", json_null());
  } else {
    lk_catalog *cat = NULL;
    lk_errbuf eb = {0};
    int64_t items = 0, vectors = 0, errors = 0, version = 0;
    const char *what = "counting items";
    if ((rc = lk_catalog_open(db_path, LK_CATALOG_READONLY, &cat, &eb))) {
      rc = lk_api_error(r, 500, "the catalog cannot be read: %s", lk_err_msg(&eb));
    } else if (!(rc = lk_catalog_counts(cat, &items, &vectors, &errors)) &&
               !(rc = (what = "reading sources", lk_catalog_foreach_source(cat, add_source, sources))) &&
               !(rc = (what = "reading the version", lk_catalog_version(cat, &version))) &&
               !(rc = (what = "reading recent changes",
                       lk_catalog_recent_changes(cat, LK_ADMIN_RECENT, add_change, recent)))) {
      json_object_set_new(o, "items", json_integer(items));
      json_object_set_new(o, "searchable", json_integer(vectors));
      json_object_set_new(o, "errors", json_integer(errors));
      json_object_set_new(o, "catalog_version", json_integer(version));
    } else {
      rc = lk_api_error(r, 500, "the catalog cannot be read (%s): %s", what,
                        rc == LK_ENOMEM ? "out of memory" : lk_catalog_errmsg(cat));
    }
    lk_catalog_close(cat);
  }
  if (!rc && !r->body) {
    json_object_set_new(o, "sources", sources);
    json_object_set_new(o, "recent_changes", recent);
    return 0;
  }
  json_decref(sources);
  json_decref(recent);
  return rc;
}

int lk_admin_stats(lk_admin *a, const lk_engine *e, const char *db_path, int64_t now_s, lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  json_t *o = json_object(), *hours = json_array();
  if (!o || !hours) {
    json_decref(o);
    json_decref(hours);
    return lk_api_error(r, 500, "out of memory");
  }
  int rc = catalog_part(e, db_path, o, r);
  if (rc || r->body) { /* an error answer */
    json_decref(o);
    json_decref(hours);
    return rc;
  }
  int64_t now_h = now_s / 3600, total = 0, weak = 0;
  pthread_mutex_lock(&a->lock);
  int have = a->have_threshold, used = a->threshold_items;
  float t = a->threshold;
  bucket copy[LK_ADMIN_HOURS];
  memcpy(copy, a->hours, sizeof copy);
  pthread_mutex_unlock(&a->lock);
  for (int64_t h = now_h - (LK_ADMIN_HOURS - 1); h <= now_h; h++) {
    const bucket *b = h >= 0 ? &copy[h % LK_ADMIN_HOURS] : NULL;
    int64_t n = b && b->hour == h ? b->searches : 0, w = b && b->hour == h ? b->weak : 0;
    time_t ts = (time_t)(h * 3600);
    struct tm tm;
    char label[32] = "";
    if (gmtime_r(&ts, &tm)) strftime(label, sizeof label, "%Y-%m-%dT%H:00Z", &tm);
    json_array_append_new(hours, json_pack("{s:s, s:I, s:I}", "hour", label, "searches", (json_int_t)n, "weak",
                                           (json_int_t)w));
    total += n;
    weak += w;
  }
  json_object_set_new(o, "searches_per_hour", hours);
  json_object_set_new(o, "searches", json_integer(total));
  json_object_set_new(o, "weak", json_integer(weak));
  json_object_set_new(o, "weak_share",
                      total && have ? json_real((double)(int64_t)((double)weak / (double)total * 1e4 + 0.5) / 1e4)
                                    : json_null());
  json_object_set_new(o, "weak_threshold", have ? json_real((double)(int64_t)(t * 1e4f + (t < 0 ? -0.5f : 0.5f)) / 1e4)
                                                : json_null());
  json_object_set_new(o, "weak_threshold_items", json_integer(used));
  if (json_array_size(hours) != LK_ADMIN_HOURS) {
    json_decref(o);
    return lk_api_error(r, 500, "out of memory");
  }
  r->status = 200;
  r->body = o;
  return 0;
}
