/* search/live.c — the live catalog (see live.h): the engine in use and the thread that keeps it
 * current. A round reads only the changed rows and derives the next engine from the one in use
 * (lk_engine_apply_changes: the changes in a delta over a shared base, in time proportional to
 * the changes), so a change is searchable within milliseconds however big the catalog. Once
 * the delta is large, or the catalog has been quiet for optimize_after_s, an optimiser thread
 * builds a full engine again (lk_engine_rebuild, the index a fresh load builds) and swaps it
 * in with the changes that arrived meanwhile applied on top (lk_engine_rebase); an engine
 * served from the saved index gets a new file instead, streamed from the catalog and mapped
 * (optimize_mapped), once its delta is large. */
#include "search/live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search/calibrate.h"
#include "util/array.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/size.h"

struct lk_live_snap {
  lk_engine *e;
  void *user;   /* lk_live_user's slot, freed with the snapshot */
  int64_t version;
  int refs;     /* users holding it; guarded by lk_live.lock */
};

struct lk_live {
  char *db;
  lk_engine_opts eo;
  lk_live_opts o;
  lk_catalog *cat;         /* the follower's read-only handle (NULL while reconnecting) */
  pthread_mutex_t lock;    /* guards cur, refs, st, stop, opt_state, last_change, checked */
  pthread_mutex_t apply;   /* one update at a time (the follower's or lk_live_sync's); guards have */
  pthread_cond_t wake;     /* signalled to stop */
  lk_live_snap *cur;
  int stop, running;
  pthread_t thread;
  lk_live_state st;
  int64_t have;            /* the version applied (guarded by apply) */
  pthread_t opt_thread;    /* the optimiser (follower thread's own, see optimize_tend) */
  int opt_state;           /* 0 idle, 1 running, 2 finished: to be joined */
  const lk_live_snap *opt_from;
  double last_change;      /* clock of the last change applied */
  double checked;          /* clock of the last answer from the database */
};

#define LOG(l, ...) lk_log((l)->o.log, (l)->o.log_ctx, __VA_ARGS__)

void lk_live_opts_default(lk_live_opts *o) {
  *o = (lk_live_opts){.follow = 1, .poll_s = 5, .min_interval_s = 0, .optimize_after_s = 10};
}

/* ------------------------------------------------------------------ changes -> engine */

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
  if (LK_ARRAY_RESERVE(l->c, l->cap, l->n + 1, 256)) return LK_ENOMEM;
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

/* LK_EMISMATCH: the catalog now has recipe rid, not the engine's. */
static int recipe_changed(const char *rid, const lk_engine *e, lk_errbuf *err) {
  return lk_err_set(err, LK_EMISMATCH, "the catalog's recipe changed (%s, was %s): restart the server", rid,
                    lk_engine_recipe_id(e));
}

/* lk_engine_apply_changes, also counting the ids written and deleted (for the log; may be NULL). */
static int apply_changes(lk_engine *from, lk_catalog *cat, int64_t since, lk_engine **out, int64_t *version,
                         size_t *written, size_t *deleted, lk_errbuf *err) {
  changes ch = {0};
  lk_engine_change *ec = NULL;
  int64_t v = 0;
  *out = NULL;
  int rc = lk_catalog_changes(cat, since, change_cb, &ch, &v);
  if (rc == LK_EMISMATCH) { /* re-created, restored or replaced: its versions are not from's */
    rc = lk_catalog_fail(cat, LK_EUNSUPPORTED, err, NULL);
    goto out;
  }
  if (rc) {
    if (rc == LK_ENOMEM) lk_err_set(err, rc, "out of memory reading changes");
    else lk_catalog_fail(cat, rc, err, NULL);
    goto out;
  }
  *version = v;
  /* the recipe, read in the same snapshot: vectors of another recipe cannot be mixed in */
  char *rid = NULL;
  if (ch.n && lk_catalog_get_meta(cat, "recipe_id", &rid) == 0 && strcmp(rid, lk_engine_recipe_id(from))) {
    rc = recipe_changed(rid, from, err);
    free(rid);
    goto out;
  }
  free(rid);
  if (v == since) goto out;
  /* the calibration, read in the same snapshot: `lookalike calibrate` or an index run's
   * calibration reaches the served engine like its items (damaged or another recipe's:
   * uncalibrated, as at open) */
  lk_calibration cal;
  int has_cal = lk_calibration_load(cat, lk_engine_recipe_id(from), &cal, NULL, NULL) == 0;
  const lk_calibration *now = has_cal ? &cal : NULL;
  int new_cal = !lk_calibration_same(now, lk_engine_calibration(from));
  if (ch.n == 0) { /* commits without item changes (meta): from is that version, or its twin */
    if (new_cal && !(rc = lk_engine_derive(from, NULL, 0, out, err))) lk_engine_set_calibration(*out, now);
    goto out;
  }
  changes_settle(&ch);
  size_t del = 0;
  for (size_t i = 0; i < ch.n; i++) del += ch.c[i].deleted;
  if (written) *written = ch.n - del;
  if (deleted) *deleted = del;
  if (!(ec = malloc(sizeof *ec * ch.n))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ch.n; i++)
    ec[i] = (lk_engine_change){ch.c[i].id, ch.c[i].deleted ? NULL : &ch.c[i].it, ch.c[i].v, ch.c[i].dim};
  rc = lk_engine_derive(from, ec, ch.n, out, err); /* LK_EUNSUPPORTED: the catalog's first vector */
  if (!rc && new_cal) lk_engine_set_calibration(*out, now);
out:
  free(ec);
  changes_clear(&ch);
  return rc;
}

int lk_engine_apply_changes(lk_engine *from, lk_catalog *cat, int64_t since, lk_engine **out, int64_t *version,
                            lk_errbuf *err) {
  return apply_changes(from, cat, since, out, version, NULL, NULL, err);
}

/* ------------------------------------------------------------------ snapshots */

static void snap_free(lk_live_snap *s) {
  if (!s) return;
  lk_engine_close(s->e);
  free(s->user);
  free(s);
}

/* A snapshot owning e (freed on failure). */
static int snap_new(lk_engine *e, int64_t version, lk_live_snap **out, lk_errbuf *err) {
  lk_live_snap *s = calloc(1, sizeof *s);
  if (!s) {
    lk_engine_close(e);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  s->e = e;
  s->version = version;
  *out = s;
  return 0;
}

const lk_live_snap *lk_live_acquire(lk_live *l) {
  pthread_mutex_lock(&l->lock);
  lk_live_snap *s = l->cur;
  s->refs++;
  pthread_mutex_unlock(&l->lock);
  return s;
}

void lk_live_release(lk_live *l, const lk_live_snap *cs) {
  if (!cs) return;
  lk_live_snap *s = (lk_live_snap *)cs;
  pthread_mutex_lock(&l->lock);
  int last = --s->refs == 0 && s != l->cur;
  pthread_mutex_unlock(&l->lock);
  if (last) snap_free(s);
}

lk_engine *lk_live_engine(const lk_live_snap *s) { return s->e; }
int64_t lk_live_version(const lk_live_snap *s) { return s->version; }
void **lk_live_user(const lk_live_snap *s) { return &((lk_live_snap *)s)->user; }

/* Makes s the snapshot in use — only if `only_if` is (when not NULL) — and returns 1; the old
 * one goes with its last user. 0 (s freed) when another snapshot came in meanwhile. build_s < 0:
 * s is the optimised twin of the snapshot in use (no update; the version stays, which commits
 * of metadata only may have moved past the snapshot's). */
static int swap_in_if(lk_live *l, lk_live_snap *s, double build_s, const lk_live_snap *only_if) {
  pthread_mutex_lock(&l->lock);
  if (only_if && l->cur != only_if) {
    pthread_mutex_unlock(&l->lock);
    snap_free(s);
    return 0;
  }
  lk_live_snap *old = l->cur;
  l->cur = s;
  int unused = old && old->refs == 0;
  if (build_s >= 0) {
    l->st.version = s->version;
    l->st.updates++;
    l->st.last_build_s = build_s;
  }
  pthread_mutex_unlock(&l->lock);
  if (unused) snap_free(old);
  return 1;
}

void lk_live_status(lk_live *l, lk_live_state *st) {
  pthread_mutex_lock(&l->lock);
  *st = l->st;
  st->since_check_s = l->st.following ? lk_clock_now() - l->checked : 0;
  pthread_mutex_unlock(&l->lock);
}

static void set_error(lk_live *l, const char *msg) {
  pthread_mutex_lock(&l->lock);
  int changed = strcmp(l->st.error, msg) != 0;
  snprintf(l->st.error, sizeof l->st.error, "%s", msg);
  pthread_mutex_unlock(&l->lock);
  if (changed && *msg) LOG(l, "follow: %s", msg);
}

/* ------------------------------------------------------------------ the follower */

/* Sleeps up to s seconds; returns 1 when asked to stop. */
static int nap(lk_live *l, double s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double t = until.tv_sec + until.tv_nsec / 1e9 + s;
  until.tv_sec = (time_t)t;
  until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
  pthread_mutex_lock(&l->lock);
  while (!l->stop && pthread_cond_timedwait(&l->wake, &l->lock, &until) == 0) {}
  int stop = l->stop;
  pthread_mutex_unlock(&l->lock);
  return stop;
}

static int stopping(lk_live *l) {
  pthread_mutex_lock(&l->lock);
  int s = l->stop;
  pthread_mutex_unlock(&l->lock);
  return s;
}

static void answered(lk_live *l) {
  pthread_mutex_lock(&l->lock);
  l->checked = lk_clock_now();
  pthread_mutex_unlock(&l->lock);
}

/* The engine of the whole catalog and its version (-1 when it has none: *versioned 0), in one
 * snapshot: a SQLite handle reads each statement from a snapshot of its own, so a read
 * transaction makes them one (a PostgreSQL read-only handle keeps one already), and a
 * concurrent --prune cannot leave a vector without its item. held NULL: read from the catalog
 * whole; else from the saved index where one applies (lk_engine_open_saved), *held getting the
 * catalog version the engine holds. */
static int open_snapshot(lk_live *l, lk_catalog *cat, lk_engine **e, int64_t *v, int *versioned, int64_t *held,
                         lk_errbuf *err) {
  int snap = !strcmp(lk_catalog_backend(cat), "sqlite") && lk_catalog_begin(cat) == 0;
  int vrc = lk_catalog_version(cat, v);
  *versioned = vrc == 0;
  if (vrc) *v = -1;
  int rc = held ? lk_engine_open_saved(cat, l->db, &l->eo, e, held, err)
                : lk_engine_open_catalog(cat, l->db, &l->eo, e, err);
  if (snap) lk_catalog_rollback(cat);
  return rc;
}

/* The same, from the saved index where there is one (search/engine.h lk_engine_open_saved): a
 * file behind the catalog is brought up to date with the changes since its version, read
 * after the snapshot (lk_catalog_changes takes its own), so *v may be later than the first. */
static int load(lk_live *l, lk_catalog *cat, lk_engine **e, int64_t *v, int *versioned, lk_errbuf *err) {
  int64_t held = -1;
  int rc = open_snapshot(l, cat, e, v, versioned, &held, err);
  if (rc || held < 0 || held >= *v) return rc;
  /* from a saved index behind the catalog: the changes since it, as a delta (as a round does) */
  lk_engine *d = NULL;
  if ((rc = lk_engine_apply_changes(*e, cat, held, &d, v, err)) == LK_EUNSUPPORTED) { /* re-created meanwhile */
    lk_engine_close(*e);
    *e = NULL;
    return open_snapshot(l, cat, e, v, versioned, NULL, err);
  }
  if (d) {
    lk_engine_close(*e);
    *e = d;
  }
  lk_errbuf me = {0};
  if (!rc && lk_engine_check_catalog(*e, cat, &me)) { /* not this catalog's file, or a write meanwhile */
    LOG(l, "%s: %s; read the catalog whole", l->db, lk_err_msg(&me));
    lk_engine_close(*e);
    *e = NULL;
    return open_snapshot(l, cat, e, v, versioned, NULL, err);
  }
  if (rc) {
    lk_engine_close(*e);
    *e = NULL;
  }
  return rc;
}

int lk_live_load(const char *db, const lk_engine_opts *eo, lk_engine **out, lk_errbuf *err) {
  lk_live l = {.db = (char *)db}; /* (what load reads: the path, the options; no log) */
  if (eo) l.eo = *eo;
  else lk_engine_opts_default(&l.eo);
  lk_catalog *cat = NULL;
  int64_t v;
  int versioned, rc = lk_catalog_open(db, LK_CATALOG_READONLY, &cat, err);
  *out = NULL;
  if (!rc) rc = load(&l, cat, out, &v, &versioned, err);
  lk_catalog_close(cat);
  return rc;
}

/* Loads the whole catalog again from the handle's current snapshot (after a re-creation). */
static int full_reload(lk_live *l, lk_catalog *cat, const lk_engine *cur, lk_errbuf *err) {
  int64_t v;
  int versioned;
  lk_engine *e = NULL;
  lk_live_snap *s = NULL;
  double t0 = lk_clock_now();
  int rc = load(l, cat, &e, &v, &versioned, err);
  if (!rc && !versioned) { /* (it had versions a moment ago: the database's trouble) */
    lk_engine_close(e);
    rc = lk_catalog_fail(cat, LK_EDB, err, NULL);
  }
  if (rc) return rc;
  if (strcmp(lk_engine_recipe_id(e), lk_engine_recipe_id(cur))) {
    rc = recipe_changed(lk_engine_recipe_id(e), cur, err);
    lk_engine_close(e);
    return rc;
  }
  lk_engine_set_pool(e, lk_engine_pool(cur)); /* the same recipe: the loaded models serve on */
  if ((rc = snap_new(e, v, &s, err))) return rc;
  swap_in_if(l, s, lk_clock_now() - t0, NULL);
  l->have = v;
  LOG(l, "follow: catalog re-read whole at version %lld: %zu items (%zu searchable)", (long long)v,
      lk_engine_item_count(e), lk_engine_size(e));
  return 0;
}

/* One round: changes since the version in use, read through cat, applied as a new engine.
 * Caller holds l->apply. */
static int update(lk_live *l, lk_catalog *cat, lk_errbuf *err) {
  const lk_live_snap *cur = lk_live_acquire(l);
  lk_engine *e = NULL;
  lk_live_snap *s = NULL;
  int64_t v = l->have;
  size_t written = 0, deleted = 0;
  double t0 = lk_clock_now();
  int rc = apply_changes(cur->e, cat, l->have, &e, &v, &written, &deleted, err);
  if (!rc || rc == LK_EMISMATCH) answered(l); /* (the database answered) */
  if (rc == LK_EUNSUPPORTED) {
    rc = full_reload(l, cat, cur->e, err);
  } else if (!rc && !e) { /* nothing, or commits without item changes: the engine in use is that version */
    l->have = v;
    pthread_mutex_lock(&l->lock);
    l->st.version = v;
    pthread_mutex_unlock(&l->lock);
  } else if (!rc && !(rc = snap_new(e, v, &s, err))) {
    double dt = lk_clock_now() - t0;
    swap_in_if(l, s, dt, NULL);
    l->have = v;
    pthread_mutex_lock(&l->lock);
    l->last_change = lk_clock_now();
    pthread_mutex_unlock(&l->lock);
    LOG(l, "follow: catalog version %lld: %zu items written, %zu deleted; %zu items (%zu searchable), "
        "applied in %.2f ms (%zu changed since the index was built)", (long long)v, written, deleted,
        lk_engine_item_count(e), lk_engine_size(e), dt * 1e3, lk_engine_delta(e));
  }
  lk_live_release(l, cur);
  return rc;
}

/* The optimiser of an engine served from the saved index (lk_engine_mapped): a rebuild in RAM
 * would hold every item and row (~32 GB at ten million items), so the saved index is written
 * anew, streamed from the catalog (lk_engine_build_index, as `lookalike optimize` does; the
 * engine in use keeps its mapping of the old file, whose name the new one takes), and mapped
 * with the changes since applied (load); then, holding the updates off, the changes the engine
 * in use has moved on to are applied too and the new engine is swapped in. */
static int optimize_mapped(lk_live *l, const lk_live_snap *from, lk_errbuf *err) {
  double t0 = lk_clock_now();
  lk_engine_built b;
  lk_catalog *cat = NULL;
  lk_engine *e = NULL, *d = NULL;
  lk_live_snap *s = NULL;
  int64_t v = -1;
  int versioned = 0, rc = lk_engine_build_index(l->db, &l->eo, NULL, NULL, &b, err);
  if (!rc) rc = lk_catalog_open(l->db, LK_CATALOG_READONLY, &cat, err);
  if (!rc) rc = load(l, cat, &e, &v, &versioned, err);
  if (!rc && (!versioned || !lk_engine_mapped(e) || strcmp(lk_engine_recipe_id(e), lk_engine_recipe_id(from->e))))
    rc = lk_err_set(err, LK_EMISMATCH, "the new saved index does not serve this catalog");
  if (!rc) {
    pthread_mutex_lock(&l->apply);
    const lk_live_snap *cur = lk_live_acquire(l);
    if (l->have > v && !(rc = lk_engine_apply_changes(e, cat, v, &d, &v, err)) && d) {
      lk_engine_close(e);
      e = d;
    }
    if (!rc) {
      lk_engine_set_pool(e, lk_engine_pool(cur->e)); /* the same recipe: the loaded models serve on */
      rc = snap_new(e, v, &s, err);
      e = NULL; /* (the snapshot's, or freed with its failure) */
      if (!rc) {
        if (swap_in_if(l, s, lk_clock_now() - t0, cur)) {
          l->have = v;
          LOG(l, "follow: catalog version %lld: saved index written anew and mapped in %.0f ms (%zu items, %zu "
              "changed meanwhile)", (long long)v, (lk_clock_now() - t0) * 1e3, lk_engine_item_count(lk_live_engine(s)),
              lk_engine_delta(lk_live_engine(s)));
        } else rc = lk_err_set(err, LK_EMISMATCH, "the engine in use changed meanwhile");
      }
    }
    lk_live_release(l, cur);
    pthread_mutex_unlock(&l->apply);
  }
  lk_engine_close(e);
  lk_catalog_close(cat);
  return rc;
}

/* The optimiser thread: a full engine of snapshot opt_from's items (the index a fresh load
 * builds), then, holding the updates off, the changes swapped in since applied on top of it. */
static void *optimize_main(void *arg) {
  lk_live *l = arg;
  const lk_live_snap *from = l->opt_from;
  lk_engine *e = NULL, *ne = NULL;
  lk_live_snap *s = NULL;
  lk_errbuf err = {0};
  double t0 = lk_clock_now();
  int mapped = lk_engine_mapped(from->e);
  int rc = mapped ? optimize_mapped(l, from, &err) : lk_engine_rebuild(from->e, &l->eo, &e, &err);
  if (!rc && !mapped) {
    pthread_mutex_lock(&l->apply);
    const lk_live_snap *cur = lk_live_acquire(l);
    rc = lk_engine_rebase(e, from->e, cur->e, &ne, &err);
    if (!rc && !(rc = snap_new(ne, cur->version, &s, &err))) swap_in_if(l, s, -1, cur);
    if (!rc)
      LOG(l, "follow: catalog version %lld: index optimised in %.0f ms (%zu items, %zu changed meanwhile)",
          (long long)cur->version, (lk_clock_now() - t0) * 1e3, lk_engine_item_count(ne), lk_engine_delta(ne));
    lk_live_release(l, cur);
    pthread_mutex_unlock(&l->apply);
    lk_engine_close(e);
  }
  if (rc == LK_EMISMATCH && !mapped)
    LOG(l, "follow: the optimised index was dropped: the catalog was re-read whole meanwhile");
  else if (rc)
    LOG(l, "follow: optimising the index: %s (the engine in use goes on serving)", lk_err_msg(&err));
  lk_live_release(l, from);
  pthread_mutex_lock(&l->lock);
  l->opt_state = 2;
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

/* Changes a derived engine may carry before the optimiser runs without waiting for quiet:
 * 2 % of the items, within [OPT_DELTA_MIN, OPT_DELTA_MAX] (the delta is scanned exactly by
 * every search, docs/PERFORMANCE.md "Live updates"). */
#define OPT_DELTA_MIN 256
#define OPT_DELTA_MAX 20000

/* Joins a finished optimiser; starts one when the engine in use carries changes and the catalog
 * has been quiet for optimize_after_s, or the changes are many. Follower thread only. */
static void optimize_tend(lk_live *l) {
  pthread_mutex_lock(&l->lock);
  size_t d = lk_engine_delta(l->cur->e), big = lk_engine_item_count(l->cur->e) / 50;
  if (big < OPT_DELTA_MIN) big = OPT_DELTA_MIN;
  if (big > OPT_DELTA_MAX) big = OPT_DELTA_MAX;
  /* a base served from the saved index keeps a small delta even when the catalog is quiet: its
   * optimiser writes the whole file anew (optimize_mapped) */
  int quiet = lk_clock_now() - l->last_change >= l->o.optimize_after_s && !lk_engine_mapped(l->cur->e);
  int state = l->opt_state, due = d > 0 && (quiet || d >= big);
  pthread_mutex_unlock(&l->lock);
  if (state == 2) {
    pthread_join(l->opt_thread, NULL);
    pthread_mutex_lock(&l->lock);
    l->opt_state = state = 0;
    pthread_mutex_unlock(&l->lock);
  }
  if (state != 0 || !due) return;
  l->opt_from = lk_live_acquire(l);
  pthread_mutex_lock(&l->lock);
  l->opt_state = 1;
  pthread_mutex_unlock(&l->lock);
  if (pthread_create(&l->opt_thread, NULL, optimize_main, l)) {
    lk_live_release(l, l->opt_from);
    pthread_mutex_lock(&l->lock);
    l->opt_state = 0;
    pthread_mutex_unlock(&l->lock);
  }
}

static void *follow_main(void *arg) {
  lk_live *l = arg;
  double last_look = lk_clock_now(), last_build = 0;
  while (!stopping(l)) {
    lk_errbuf err = {0};
    if (!l->cat) { /* reconnect */
      int rc = lk_catalog_open(l->db, LK_CATALOG_READONLY, &l->cat, &err);
      if (rc) {
        set_error(l, lk_err_msg(&err));
        if (nap(l, 1.0)) break;
        continue;
      }
      LOG(l, "follow: connected to %s again", lk_catalog_backend(l->cat));
      last_look = 0; /* catch up at once */
    }
    int w = lk_catalog_wait_change(l->cat, 250);
    if (w < 0) {
      set_error(l, lk_catalog_errmsg(l->cat));
      lk_catalog_close(l->cat);
      l->cat = NULL;
      continue;
    }
    answered(l);
    optimize_tend(l);
    double t = lk_clock_now();
    if (w == 0 && t - last_look < l->o.poll_s) continue;
    /* under a stream of commits: at most one round per min_interval_s (a round costs what its
     * changes cost, so by default none is waited for) */
    double gap = l->o.min_interval_s;
    if (t - last_build < gap && nap(l, gap - (t - last_build))) break;
    last_look = lk_clock_now();
    pthread_mutex_lock(&l->apply);
    int rc = update(l, l->cat, &err);
    pthread_mutex_unlock(&l->apply);
    last_build = lk_clock_now();
    if (rc == LK_EIO || rc == LK_EDB) { /* connection trouble: start over with a new one */
      set_error(l, lk_err_msg(&err));
      lk_catalog_close(l->cat);
      l->cat = NULL;
    } else if (rc) {
      set_error(l, lk_err_msg(&err));
      if (nap(l, 1.0)) break;
    } else {
      set_error(l, "");
    }
  }
  return NULL;
}

int lk_live_sync(lk_live *l, lk_catalog *cat, lk_errbuf *err) {
  if (!l->st.following) return 0; /* loaded once: nothing follows */
  pthread_mutex_lock(&l->apply);
  int rc = update(l, cat, err);
  pthread_mutex_unlock(&l->apply);
  return rc;
}

/* ------------------------------------------------------------------ lifetime */

int lk_live_open(const char *db, const lk_engine_opts *eo, const lk_live_opts *lo, lk_live **out, lk_errbuf *err) {
  lk_live *l = calloc(1, sizeof *l);
  if (!l) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pthread_mutex_init(&l->lock, NULL);
  pthread_mutex_init(&l->apply, NULL);
  pthread_cond_init(&l->wake, NULL);
  if (eo) l->eo = *eo;
  else lk_engine_opts_default(&l->eo);
  if (lo) l->o = *lo;
  else lk_live_opts_default(&l->o);
  if (l->o.poll_s <= 0) l->o.poll_s = 5;
  if (l->o.min_interval_s < 0) l->o.min_interval_s = 0;
  if (l->o.optimize_after_s < 0) l->o.optimize_after_s = 0;
  l->st.version = -1;
  int rc, versioned;
  int64_t v;
  lk_engine *e = NULL;
  if (!(l->db = strdup(db))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = lk_catalog_open(db, LK_CATALOG_READONLY, &l->cat, err))) goto fail;
  /* the version first, then the engine, from the same snapshot: following starts exactly there */
  if ((rc = load(l, l->cat, &e, &v, &versioned, err))) goto fail;
  if ((rc = snap_new(e, v, &l->cur, err))) goto fail;
  l->st.version = l->have = v;
  if (!versioned || !l->o.follow) { /* nothing to follow: the handle is not needed any more */
    lk_catalog_close(l->cat);
    l->cat = NULL;
    *out = l;
    return 0;
  }
  l->checked = lk_clock_now();
  l->st.following = 1;
  if (pthread_create(&l->thread, NULL, follow_main, l)) {
    rc = lk_err_set(err, LK_ENOMEM, "cannot start the follower thread");
    goto fail;
  }
  l->running = 1;
  *out = l;
  return 0;
fail:
  lk_live_close(l);
  return rc;
}

void lk_live_close(lk_live *l) {
  if (!l) return;
  if (l->running) {
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL); /* it notices within its 250 ms wait */
  }
  pthread_mutex_lock(&l->lock); /* the optimiser, if one was started, writes its state */
  int opt = l->opt_state;
  pthread_mutex_unlock(&l->lock);
  if (opt) pthread_join(l->opt_thread, NULL);
  lk_catalog_close(l->cat);
  snap_free(l->cur);
  pthread_cond_destroy(&l->wake);
  pthread_mutex_destroy(&l->apply);
  pthread_mutex_destroy(&l->lock);
  free(l->db);
  free(l);
}
