/* server/follow.c — the served engine and the thread that keeps it current (see follow.h).
 * A round reads only the changed rows and derives the next engine from the one in use
 * (lk_engine_derive: the changes in a delta over a shared base, in time proportional to the
 * changes), so a change is searchable within milliseconds however big the catalog. Once the
 * delta is large, or the catalog has been quiet for optimize_after_s, an optimiser thread
 * builds a full engine again (lk_engine_rebuild, the index a fresh load builds) and swaps it
 * in with the changes that arrived meanwhile applied on top (lk_engine_rebase). */
#include "server/follow.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "server/api.h"
#include "util/size.h"
#include "util/clock.h"

struct lk_follow_snap {
  lk_engine *e;
  lk_follow *f;
  char *facets; /* computed on the first /api/facets of the snapshot; guarded by f->facets_lock */
  size_t facets_len;
  int64_t version;
  int refs;  /* requests holding it; guarded by lk_follow.lock */
};

struct lk_follow {
  char *db;
  lk_engine_opts eo;
  lk_follow_opts o;
  lk_catalog *cat;         /* the follower's read-only handle (NULL while reconnecting) */
  pthread_mutex_t lock;    /* guards cur, refs, status, stop */
  pthread_mutex_t apply;   /* one update at a time (the follower's or lk_follow_sync's); guards have */
  pthread_cond_t wake;     /* signalled to stop */
  lk_follow_snap *cur;
  int stop, running;
  pthread_t thread;
  lk_follow_status st;
  int64_t have;            /* the version applied (guarded by apply) */
  pthread_t opt_thread;    /* the optimiser (follower thread's own, see optimize_start) */
  int opt_state;           /* 0 idle, 1 running, 2 finished: to be joined; guarded by lock */
  const lk_follow_snap *opt_from;
  double last_change;      /* clock of the last change applied; guarded by lock */
  pthread_mutex_t facets_lock; /* guards every snapshot's facets and the three below */
  char *facets;            /* the last facets computed, reused for FACETS_REUSE_S */
  size_t facets_len;
  double facets_at;
  double checked;          /* clock of the last answer from the database */
};

static void logf_(lk_follow *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(lk_follow *f, const char *fmt, ...) {
  if (!f->o.log) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  f->o.log(f->o.log_ctx, line);
}

void lk_follow_opts_default(lk_follow_opts *o) {
  memset(o, 0, sizeof *o);
  o->follow = 1;
  o->poll_s = 5;
  o->min_interval_s = 0;
  o->optimize_after_s = 10;
}

/* ------------------------------------------------------------------ snapshots */

static void snap_free(lk_follow_snap *s) {
  if (!s) return;
  lk_engine_close(s->e);
  free(s->facets);
  free(s);
}

/* A snapshot owning e (freed on failure). */
static int snap_new(lk_follow *f, lk_engine *e, int64_t version, lk_follow_snap **out, lk_errbuf *err) {
  lk_follow_snap *s = calloc(1, sizeof *s);
  if (!s) {
    lk_engine_close(e);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  s->e = e;
  s->f = f;
  s->version = version;
  *out = s;
  return 0;
}

const lk_follow_snap *lk_follow_acquire(lk_follow *f) {
  pthread_mutex_lock(&f->lock);
  lk_follow_snap *s = f->cur;
  s->refs++;
  pthread_mutex_unlock(&f->lock);
  return s;
}

void lk_follow_release(lk_follow *f, const lk_follow_snap *cs) {
  if (!cs) return;
  lk_follow_snap *s = (lk_follow_snap *)cs;
  pthread_mutex_lock(&f->lock);
  int last = --s->refs == 0 && s != f->cur;
  pthread_mutex_unlock(&f->lock);
  if (last) snap_free(s);
}

lk_engine *lk_follow_engine(const lk_follow_snap *s) { return s->e; }
/* The facets cost a walk over every item (~1 s at 1M): computed on a snapshot's first request,
 * and one computed less than this long ago serves a newer snapshot too (under a stream of
 * writes, counts lag by at most this much instead of each write costing a walk). */
#define FACETS_REUSE_S 1.0

const char *lk_follow_facets(const lk_follow_snap *cs, size_t *len) {
  static const char oom[] = "{\"error\":\"out of memory\"}";
  lk_follow_snap *s = (lk_follow_snap *)cs;
  lk_follow *f = s->f;
  pthread_mutex_lock(&f->facets_lock);
  if (!s->facets) {
    double t = lk_clock_now();
    if (f->facets && t - f->facets_at < FACETS_REUSE_S) {
      if ((s->facets = strdup(f->facets))) s->facets_len = f->facets_len;
    } else {
      json_t *fj = NULL;
      if (!lk_api_facets(s->e, &fj) && (s->facets = json_dumps(fj, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        s->facets_len = strlen(s->facets);
        char *copy = strdup(s->facets);
        if (copy) {
          free(f->facets);
          f->facets = copy;
          f->facets_len = s->facets_len;
          f->facets_at = t;
        }
      }
      json_decref(fj);
    }
  }
  const char *r = s->facets;
  *len = s->facets_len;
  pthread_mutex_unlock(&f->facets_lock);
  if (!r) {
    *len = sizeof oom - 1;
    return oom;
  }
  return r;
}
int64_t lk_follow_version(const lk_follow_snap *s) { return s->version; }

/* Makes s the snapshot in use — only if `only_if` is (when not NULL) — and returns 1; the old
 * one goes with its last request. 0 (s freed) when another snapshot came in meanwhile. */
static int swap_in_if(lk_follow *f, lk_follow_snap *s, double build_s, const lk_follow_snap *only_if) {
  pthread_mutex_lock(&f->lock);
  if (only_if && f->cur != only_if) {
    pthread_mutex_unlock(&f->lock);
    snap_free(s);
    return 0;
  }
  lk_follow_snap *old = f->cur;
  f->cur = s;
  int unused = old && old->refs == 0;
  f->st.version = s->version;
  if (build_s >= 0) { /* (an optimised twin of the same version is no update) */
    f->st.updates++;
    f->st.last_build_s = build_s;
  }
  pthread_mutex_unlock(&f->lock);
  if (unused) snap_free(old);
  return 1;
}

static void swap_in(lk_follow *f, lk_follow_snap *s, double build_s) { swap_in_if(f, s, build_s, NULL); }

void lk_follow_get_status(lk_follow *f, lk_follow_status *st) {
  pthread_mutex_lock(&f->lock);
  *st = f->st;
  st->since_check_s = f->st.following ? lk_clock_now() - f->checked : 0;
  pthread_mutex_unlock(&f->lock);
}

static void set_error(lk_follow *f, const char *msg) {
  pthread_mutex_lock(&f->lock);
  int changed = strcmp(f->st.error, msg) != 0;
  snprintf(f->st.error, sizeof f->st.error, "%s", msg);
  pthread_mutex_unlock(&f->lock);
  if (changed && *msg) logf_(f, "follow: %s", msg);
}

/* ------------------------------------------------------------------ changes */

typedef struct change {
  int64_t id;
  size_t seq;   /* arrival order: for one id the later entry wins */
  int deleted;
  lk_item it;
  float *v;     /* NULL: no vector */
  int dim;
} change;

typedef struct changes {
  change *c;
  size_t n, cap;
} changes;

static void changes_clear(changes *l) {
  for (size_t i = 0; i < l->n; i++) {
    lk_item_clear(&l->c[i].it);
    free(l->c[i].v);
  }
  free(l->c);
  memset(l, 0, sizeof *l);
}

static int change_cb(void *ctx, int64_t id, const lk_item *it, const float *v, int dim) {
  changes *l = ctx;
  if (v && dim > 0 && lk_catalog_vector_check(id, v, dim, 1, NULL)) return LK_ECORRUPT; /* searched: normalised */
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 256, bytes;
    if (lk_size_mul(nc, sizeof *l->c, &bytes)) return LK_ENOMEM;
    change *p = realloc(l->c, bytes);
    if (!p) return LK_ENOMEM;
    l->c = p;
    l->cap = nc;
  }
  change *c = &l->c[l->n];
  memset(c, 0, sizeof *c);
  c->id = id;
  c->seq = l->n;
  c->deleted = it == NULL;
  l->n++; /* from here on changes_clear frees what is filled */
  if (it && lk_item_copy(&c->it, it)) return LK_ENOMEM;
  if (v && dim > 0) {
    if (!(c->v = malloc(sizeof(float) * (size_t)dim))) return LK_ENOMEM;
    memcpy(c->v, v, sizeof(float) * (size_t)dim);
    c->dim = dim;
  }
  return 0;
}

static int cmp_change(const void *a, const void *b) {
  const change *x = a, *y = b;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts by id and keeps, per id, the last change (a deletion then a re-insert: the insert). */
static void changes_settle(changes *l) {
  if (l->n) qsort(l->c, l->n, sizeof *l->c, cmp_change);
  size_t w = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (w > 0 && l->c[w - 1].id == l->c[i].id) {
      lk_item_clear(&l->c[w - 1].it);
      free(l->c[w - 1].v);
      l->c[w - 1] = l->c[i];
      continue;
    }
    l->c[w++] = l->c[i];
  }
  l->n = w;
}

/* ------------------------------------------------------------------ the follower */

/* Sleeps up to s seconds; returns 1 when asked to stop. */
static int nap(lk_follow *f, double s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double t = until.tv_sec + until.tv_nsec / 1e9 + s;
  until.tv_sec = (time_t)t;
  until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
  pthread_mutex_lock(&f->lock);
  while (!f->stop && pthread_cond_timedwait(&f->wake, &f->lock, &until) == 0) {}
  int stop = f->stop;
  pthread_mutex_unlock(&f->lock);
  return stop;
}

static int stopping(lk_follow *f) {
  pthread_mutex_lock(&f->lock);
  int s = f->stop;
  pthread_mutex_unlock(&f->lock);
  return s;
}

static void answered(lk_follow *f) {
  pthread_mutex_lock(&f->lock);
  f->checked = lk_clock_now();
  pthread_mutex_unlock(&f->lock);
}

/* A SQLite handle reads each statement from a snapshot of its own: a read transaction makes the
 * version and a whole load one snapshot (a PostgreSQL read-only handle keeps one already), so a
 * concurrent --prune cannot leave a vector without its item. 1 when one was begun (rollback). */
static int sqlite_snapshot(lk_catalog *c) {
  return !strcmp(lk_catalog_backend(c), "sqlite") && lk_catalog_begin(c) == 0;
}

/* Loads the whole catalog again from the handle's current snapshot (after a re-creation). */
static int full_reload(lk_follow *f, lk_catalog *cat, const lk_engine *cur, lk_errbuf *err) {
  int64_t v;
  lk_engine *e = NULL;
  lk_follow_snap *s = NULL;
  double t0 = lk_clock_now();
  int snap = sqlite_snapshot(cat);
  int rc = lk_catalog_version(cat, &v);
  if (!rc) rc = lk_engine_open_catalog(cat, f->db, &f->eo, &e, err);
  else lk_err_set(err, rc, "%s", lk_catalog_errmsg(cat));
  if (snap) lk_catalog_rollback(cat);
  if (rc) return rc;
  if (strcmp(lk_engine_recipe_id(e), lk_engine_recipe_id(cur))) {
    lk_engine_close(e);
    return lk_err_set(err, LK_EMISMATCH, "the catalog's recipe changed (%s, was %s): restart the server",
                      lk_engine_recipe_id(e), lk_engine_recipe_id(cur));
  }
  lk_engine_set_pool(e, lk_engine_pool(cur)); /* the same recipe: the loaded models serve on */
  if ((rc = snap_new(f, e, v, &s, err))) return rc;
  swap_in(f, s, lk_clock_now() - t0);
  f->have = v;
  logf_(f, "follow: catalog re-read whole at version %lld: %zu items (%zu searchable)", (long long)v,
        lk_engine_item_count(e), lk_engine_size(e));
  return 0;
}

/* One round: changes since the version in use, read through cat, applied as a new engine.
 * Caller holds f->apply. */
static int update(lk_follow *f, lk_catalog *cat, lk_errbuf *err) {
  const lk_follow_snap *cur = lk_follow_acquire(f);
  changes ch = {0};
  int64_t v = 0;
  int rc = lk_catalog_changes(cat, f->have, change_cb, &ch, &v);
  if (rc == LK_EMISMATCH) {
    changes_clear(&ch);
    rc = full_reload(f, cat, cur->e, err);
    lk_follow_release(f, cur);
    return rc;
  }
  if (rc) {
    if (rc == LK_ENOMEM) lk_err_set(err, rc, "out of memory reading changes");
    else lk_err_set(err, rc, "%s", lk_catalog_errmsg(cat));
    goto out;
  }
  answered(f);
  /* the recipe, read in the same snapshot: vectors of another recipe cannot be mixed in */
  char *rid = NULL;
  if (ch.n && lk_catalog_get_meta(cat, "recipe_id", &rid) == 0 && strcmp(rid, lk_engine_recipe_id(cur->e))) {
    rc = lk_err_set(err, LK_EMISMATCH, "the catalog's recipe changed (%s, was %s): restart the server", rid,
                    lk_engine_recipe_id(cur->e));
    free(rid);
    goto out;
  }
  free(rid);
  if (v == f->have) goto out;
  if (ch.n == 0) { /* commits without item changes (meta): the engine in use is that version */
    f->have = v;
    pthread_mutex_lock(&f->lock);
    f->st.version = v;
    pthread_mutex_unlock(&f->lock);
    goto out;
  }
  changes_settle(&ch);
  size_t del = 0;
  for (size_t i = 0; i < ch.n; i++) del += ch.c[i].deleted;
  double t0 = lk_clock_now();
  lk_engine_change *ec = malloc(sizeof *ec * ch.n);
  if (!ec) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ch.n; i++)
    ec[i] = (lk_engine_change){ch.c[i].id, ch.c[i].deleted ? NULL : &ch.c[i].it, ch.c[i].v, ch.c[i].dim};
  lk_engine *e = NULL;
  lk_follow_snap *s = NULL;
  rc = lk_engine_derive(cur->e, ec, ch.n, &e, err);
  free(ec);
  if (rc == LK_EUNSUPPORTED) { /* the catalog's first vector: its dimension is news */
    rc = full_reload(f, cat, cur->e, err);
    goto out;
  }
  if (rc || (rc = snap_new(f, e, v, &s, err))) goto out;
  double dt = lk_clock_now() - t0;
  swap_in(f, s, dt);
  f->have = v;
  pthread_mutex_lock(&f->lock);
  f->last_change = lk_clock_now();
  pthread_mutex_unlock(&f->lock);
  logf_(f, "follow: catalog version %lld: %zu items written, %zu deleted; %zu items (%zu searchable), "
        "applied in %.2f ms (%zu changed since the index was built)", (long long)v, ch.n - del, del,
        lk_engine_item_count(e), lk_engine_size(e), dt * 1e3, lk_engine_delta(e));
out:
  changes_clear(&ch);
  lk_follow_release(f, cur);
  return rc;
}

/* The optimiser thread: a full engine of snapshot opt_from's items (the index a fresh load
 * builds), then, holding the updates off, the changes swapped in since applied on top of it. */
static void *optimize_main(void *arg) {
  lk_follow *f = arg;
  const lk_follow_snap *from = f->opt_from;
  lk_engine *e = NULL, *ne = NULL;
  lk_follow_snap *s = NULL;
  lk_errbuf err = {0};
  double t0 = lk_clock_now();
  int rc = lk_engine_rebuild(from->e, &f->eo, &e, &err);
  if (!rc) {
    pthread_mutex_lock(&f->apply);
    const lk_follow_snap *cur = lk_follow_acquire(f);
    rc = lk_engine_rebase(e, from->e, cur->e, &ne, &err);
    if (!rc && !(rc = snap_new(f, ne, cur->version, &s, &err))) swap_in_if(f, s, -1, cur);
    if (!rc)
      logf_(f, "follow: catalog version %lld: index optimised in %.0f ms (%zu items, %zu changed meanwhile)",
            (long long)cur->version, (lk_clock_now() - t0) * 1e3, lk_engine_item_count(ne), lk_engine_delta(ne));
    lk_follow_release(f, cur);
    pthread_mutex_unlock(&f->apply);
    lk_engine_close(e);
  }
  if (rc == LK_EMISMATCH)
    logf_(f, "follow: the optimised index was dropped: the catalog was re-read whole meanwhile");
  else if (rc)
    logf_(f, "follow: optimising the index: %s (the engine in use goes on serving)", lk_err_msg(&err));
  lk_follow_release(f, from);
  pthread_mutex_lock(&f->lock);
  f->opt_state = 2;
  pthread_mutex_unlock(&f->lock);
  return NULL;
}

/* Changes a derived engine may carry before the optimiser runs without waiting for quiet:
 * 2 % of the items, within [OPT_DELTA_MIN, OPT_DELTA_MAX] (the delta is scanned exactly by
 * every search, docs/PERFORMANCE.md "Live updates"). */
#define OPT_DELTA_MIN 256
#define OPT_DELTA_MAX 20000

/* Joins a finished optimiser; starts one when the engine in use carries changes and the catalog
 * has been quiet for optimize_after_s, or the changes are many. Follower thread only. */
static void optimize_tend(lk_follow *f) {
  pthread_mutex_lock(&f->lock);
  size_t d = lk_engine_delta(f->cur->e), big = lk_engine_item_count(f->cur->e) / 50;
  if (big < OPT_DELTA_MIN) big = OPT_DELTA_MIN;
  if (big > OPT_DELTA_MAX) big = OPT_DELTA_MAX;
  int state = f->opt_state, due = d > 0 && (lk_clock_now() - f->last_change >= f->o.optimize_after_s || d >= big);
  pthread_mutex_unlock(&f->lock);
  if (state == 2) {
    pthread_join(f->opt_thread, NULL);
    pthread_mutex_lock(&f->lock);
    f->opt_state = state = 0;
    pthread_mutex_unlock(&f->lock);
  }
  if (state != 0 || !due) return;
  f->opt_from = lk_follow_acquire(f);
  pthread_mutex_lock(&f->lock);
  f->opt_state = 1;
  pthread_mutex_unlock(&f->lock);
  if (pthread_create(&f->opt_thread, NULL, optimize_main, f)) {
    lk_follow_release(f, f->opt_from);
    pthread_mutex_lock(&f->lock);
    f->opt_state = 0;
    pthread_mutex_unlock(&f->lock);
  }
}

static void *follow_main(void *arg) {
  lk_follow *f = arg;
  double last_look = lk_clock_now(), last_build = 0;
  while (!stopping(f)) {
    lk_errbuf err = {0};
    if (!f->cat) { /* reconnect */
      int rc = lk_catalog_open(f->db, LK_CATALOG_READONLY, &f->cat, &err);
      if (rc) {
        set_error(f, lk_err_msg(&err));
        if (nap(f, 1.0)) break;
        continue;
      }
      logf_(f, "follow: connected to %s again", lk_catalog_backend(f->cat));
      last_look = 0; /* catch up at once */
    }
    int w = lk_catalog_wait_change(f->cat, 250);
    if (w < 0) {
      set_error(f, lk_catalog_errmsg(f->cat));
      lk_catalog_close(f->cat);
      f->cat = NULL;
      continue;
    }
    answered(f);
    optimize_tend(f);
    double t = lk_clock_now();
    if (w == 0 && t - last_look < f->o.poll_s) continue;
    /* under a stream of commits: at most one round per min_interval_s (a round costs what its
     * changes cost, so by default none is waited for) */
    double gap = f->o.min_interval_s;
    if (t - last_build < gap && nap(f, gap - (t - last_build))) break;
    last_look = lk_clock_now();
    pthread_mutex_lock(&f->apply);
    int rc = update(f, f->cat, &err);
    pthread_mutex_unlock(&f->apply);
    last_build = lk_clock_now();
    if (rc == LK_EIO || rc == LK_EDB) { /* connection trouble: start over with a new one */
      set_error(f, lk_err_msg(&err));
      lk_catalog_close(f->cat);
      f->cat = NULL;
    } else if (rc) {
      set_error(f, lk_err_msg(&err));
      if (nap(f, 1.0)) break;
    } else {
      set_error(f, "");
    }
  }
  return NULL;
}

int lk_follow_sync(lk_follow *f, lk_catalog *cat, lk_errbuf *err) {
  if (!f->st.following) return 0; /* loaded once: nothing follows */
  pthread_mutex_lock(&f->apply);
  int rc = update(f, cat, err);
  pthread_mutex_unlock(&f->apply);
  return rc;
}

/* ------------------------------------------------------------------ lifetime */

int lk_follow_open(const char *db, const lk_engine_opts *eo, const lk_follow_opts *fo, lk_follow **out,
                   lk_errbuf *err) {
  lk_follow *f = calloc(1, sizeof *f);
  if (!f) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pthread_mutex_init(&f->lock, NULL);
  pthread_mutex_init(&f->apply, NULL);
  pthread_mutex_init(&f->facets_lock, NULL);
  pthread_cond_init(&f->wake, NULL);
  if (eo) f->eo = *eo;
  else lk_engine_opts_default(&f->eo);
  if (fo) f->o = *fo;
  else lk_follow_opts_default(&f->o);
  if (f->o.poll_s <= 0) f->o.poll_s = 5;
  if (f->o.min_interval_s < 0) f->o.min_interval_s = 0;
  if (f->o.optimize_after_s < 0) f->o.optimize_after_s = 0;
  f->st.version = -1;
  int rc;
  lk_engine *e = NULL;
  if (!(f->db = strdup(db))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = lk_catalog_open(db, LK_CATALOG_READONLY, &f->cat, err))) goto fail;
  /* the version first, then the engine, from the same snapshot: following starts exactly there */
  int64_t v = -1;
  int snap = sqlite_snapshot(f->cat);
  int versioned = lk_catalog_version(f->cat, &v) == 0;
  if (!versioned) v = -1;
  rc = lk_engine_open_catalog(f->cat, db, &f->eo, &e, err);
  if (snap) lk_catalog_rollback(f->cat);
  if (rc) goto fail;
  if ((rc = snap_new(f, e, v, &f->cur, err))) goto fail;
  f->st.version = f->have = v;
  if (!versioned || !f->o.follow) { /* nothing to follow: the handle is not needed any more */
    lk_catalog_close(f->cat);
    f->cat = NULL;
    *out = f;
    return 0;
  }
  f->checked = lk_clock_now();
  f->st.following = 1;
  if (pthread_create(&f->thread, NULL, follow_main, f)) {
    rc = lk_err_set(err, LK_ENOMEM, "cannot start the follower thread");
    goto fail;
  }
  f->running = 1;
  *out = f;
  return 0;
fail:
  lk_follow_close(f);
  return rc;
}

void lk_follow_close(lk_follow *f) {
  if (!f) return;
  if (f->running) {
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL); /* it notices within its 250 ms wait */
  }
  pthread_mutex_lock(&f->lock); /* the optimiser, if one was started, writes its state */
  int opt = f->opt_state;
  pthread_mutex_unlock(&f->lock);
  if (opt) pthread_join(f->opt_thread, NULL);
  lk_catalog_close(f->cat);
  snap_free(f->cur);
  pthread_cond_destroy(&f->wake);
  pthread_mutex_destroy(&f->apply);
  pthread_mutex_destroy(&f->facets_lock);
  pthread_mutex_destroy(&f->lock);
  free(f->facets);
  free(f->db);
  free(f);
}
