/* server/follow.c — the served engine and the thread that keeps it current (see follow.h).
 * A rebuild reads only the changed rows; the new engine is made by lk_engine_open_catalog
 * over a read-only in-memory view of "the engine in use, with these changes applied" (a
 * catalog backend of its own, catalog_int.h), without touching the database again.
 * Two steps, so that a change is searchable fast however big the catalog: the follower swaps
 * in a "quick" engine (plain exact scan: no int8 codes or IVF to learn, which takes seconds at
 * 35k products), and once the catalog has been quiet for optimize_after_s an optimiser thread
 * builds the engine exactly as a fresh load would (same index choice and optimisation) from
 * that snapshot and swaps it in, unless newer changes came first. */
#include "server/follow.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog_int.h"
#include "server/api.h"
#include "util/size.h"

struct lk_follow_snap {
  lk_engine *e;
  char *facets;
  size_t facets_len;
  int64_t version;
  int quick; /* built with the plain scan; an optimised twin is due */
  int refs;  /* requests holding it; guarded by lk_follow.lock */
};

struct lk_follow {
  char *db;
  lk_engine_opts eo;
  lk_follow_opts o;
  char *recipe_json;       /* the catalog's recipe, for the views */
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
  double last_change;      /* clock of the last quick swap */
  double checked;          /* clock of the last answer from the database */
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

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
  o->min_interval_s = 0.25;
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
static int snap_new(lk_engine *e, int64_t version, lk_follow_snap **out, lk_errbuf *err) {
  lk_follow_snap *s = calloc(1, sizeof *s);
  json_t *fj = NULL;
  if (!s || lk_api_facets(e, &fj) || !(s->facets = json_dumps(fj, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
    json_decref(fj);
    free(s);
    lk_engine_close(e);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  json_decref(fj);
  s->facets_len = strlen(s->facets);
  s->e = e;
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
const char *lk_follow_facets(const lk_follow_snap *s, size_t *len) {
  *len = s->facets_len;
  return s->facets;
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
  st->since_check_s = f->st.following ? now_s() - f->checked : 0;
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

static char *dupz(const char *s, int *bad) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *bad = 1;
  return d;
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
  if (it) {
    int bad = 0;
    c->it.id = it->id;
    c->it.size = it->size;
    c->it.mtime = it->mtime;
    c->it.path = dupz(it->path, &bad);
    c->it.hash = dupz(it->hash, &bad);
    for (int i = 0; i < LK_NFIELDS; i++) c->it.field[i] = dupz(it->field[i], &bad);
    c->it.extra = dupz(it->extra, &bad);
    c->it.status = dupz(it->status, &bad);
    c->it.error = dupz(it->error, &bad);
    if (bad) return LK_ENOMEM;
  }
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

/* ------------------------------------------------------------------ the view */

/* A read-only catalog: the items and vectors of engine e with changes ch applied. It only
 * answers what lk_engine_open_catalog asks: the recipe, items and vectors in id order. */
typedef struct view {
  lk_catalog base;
  const lk_engine *e;
  const changes *ch;
  const char *recipe_json;
} view;

static int v_none(lk_catalog *c) {
  return lk_err_set(&c->err, LK_EUNSUPPORTED, "catalog: not available in a follower's view");
}
static void v_close(lk_catalog *c) { (void)c; }
static int v_get_meta(lk_catalog *c, const char *key, char **value) {
  view *w = (view *)c;
  if (strcmp(key, "recipe")) return lk_err_set(&c->err, LK_ENOTFOUND, "catalog: no meta key '%s'", key);
  if (!(*value = strdup(w->recipe_json))) return lk_err_set(&c->err, LK_ENOMEM, "catalog: out of memory");
  return 0;
}
static int v_set_meta(lk_catalog *c, const char *k, const char *v) { return v_none(c); }
static int v_foreach_meta(lk_catalog *c, lk_meta_cb cb, void *ctx) { return v_none(c); }
static int v_tx(lk_catalog *c) { return v_none(c); }
static int v_put_item(lk_catalog *c, const lk_item *it) { return v_none(c); }
static int v_get_item(lk_catalog *c, int64_t id, lk_item *it) { return v_none(c); }
static int v_delete_item(lk_catalog *c, int64_t id) { return v_none(c); }
static int v_put_vector(lk_catalog *c, int64_t id, const float *v, int dim) { return v_none(c); }
static int v_get_vector(lk_catalog *c, int64_t id, float *v, int cap) { return v_none(c); }
static int v_counts(lk_catalog *c, int64_t *a, int64_t *b, int64_t *d) { return v_none(c); }

/* Walks the merge of the engine's items and the changes in id order: fn gets each surviving
 * id with its item and vector (NULL when none). */
typedef int (*merge_fn)(void *ctx, const lk_item *it, const float *v, int dim);
static int merge(view *w, merge_fn fn, void *ctx) {
  const lk_engine *e = w->e;
  size_t ni = lk_engine_item_count(e), i = 0, k = 0;
  int dim = lk_engine_dim(e);
  while (i < ni || k < w->ch->n) {
    const lk_item *it = i < ni ? lk_engine_item_at(e, i) : NULL;
    const change *c = k < w->ch->n ? &w->ch->c[k] : NULL;
    int rc = 0;
    if (c && (!it || c->id <= it->id)) {
      if (it && c->id == it->id) i++; /* replaced or deleted */
      k++;
      if (!c->deleted) rc = fn(ctx, &c->it, c->v, c->dim);
    } else {
      i++;
      rc = fn(ctx, it, lk_engine_vector(e, it->id), dim);
    }
    if (rc) return rc;
  }
  return 0;
}

typedef struct cb_pair {
  lk_item_cb icb;
  lk_vector_cb vcb;
  void *ctx;
} cb_pair;

static int merge_item(void *ctx, const lk_item *it, const float *v, int dim) {
  cb_pair *p = ctx;
  return p->icb(p->ctx, it);
}
static int merge_vector(void *ctx, const lk_item *it, const float *v, int dim) {
  cb_pair *p = ctx;
  return v && dim > 0 ? p->vcb(p->ctx, it->id, v, dim) : 0;
}
static int v_foreach_item(lk_catalog *c, lk_item_cb cb, void *ctx) {
  cb_pair p = {cb, NULL, ctx};
  return merge((view *)c, merge_item, &p);
}
static int v_foreach_vector(lk_catalog *c, lk_vector_cb cb, void *ctx) {
  cb_pair p = {NULL, cb, ctx};
  return merge((view *)c, merge_vector, &p);
}
static int v_check(lk_catalog *c) { return 0; }

static const lk_catalog_ops view_ops = {
    .name = "follower view", .close = v_close, .get_meta = v_get_meta, .set_meta = v_set_meta,
    .add_meta = v_set_meta, .foreach_meta = v_foreach_meta, .begin = v_tx, .commit = v_tx,
    .rollback = v_tx, .put_item = v_put_item, .get_item = v_get_item, .delete_item = v_delete_item,
    .put_vector = v_put_vector, .get_vector = v_get_vector, .delete_all_vectors = v_tx,
    .foreach_item = v_foreach_item, .foreach_vector = v_foreach_vector, .counts = v_counts,
    .check = v_check,
};

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
  f->checked = now_s();
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
  double t0 = now_s();
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
  if ((rc = snap_new(e, v, &s, err))) return rc;
  swap_in(f, s, now_s() - t0);
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
  double t0 = now_s();
  view w = {.base = {.ops = &view_ops}, .e = cur->e, .ch = &ch, .recipe_json = f->recipe_json};
  lk_engine *e = NULL;
  lk_follow_snap *s = NULL;
  lk_engine_opts quick = f->eo;
  quick.plain_scan = 1;
#ifdef LK_ENGINE_IVF_AUTO_MIN /* an engine with a choice of index: the exact scan, nothing to train */
  quick.index = LK_ENGINE_INDEX_EXACT;
#endif
  if ((rc = lk_engine_open_catalog(&w.base, f->db, &quick, &e, err))) goto out;
  if ((rc = snap_new(e, v, &s, err))) goto out;
  s->quick = 1;
  double dt = now_s() - t0;
  swap_in(f, s, dt);
  f->have = v;
  f->last_change = now_s();
  logf_(f, "follow: catalog version %lld: %zu items written, %zu deleted; %zu items (%zu searchable), rebuilt in %.0f ms",
        (long long)v, ch.n - del, del, lk_engine_item_count(e), lk_engine_size(e), dt * 1e3);
out:
  changes_clear(&ch);
  lk_follow_release(f, cur);
  return rc;
}

/* The optimiser thread: the engine of snapshot opt_from built as a fresh load would build it. */
static void *optimize_main(void *arg) {
  lk_follow *f = arg;
  const lk_follow_snap *from = f->opt_from;
  changes none = {0};
  view w = {.base = {.ops = &view_ops}, .e = from->e, .ch = &none, .recipe_json = f->recipe_json};
  lk_engine *e = NULL;
  lk_follow_snap *s = NULL;
  lk_errbuf err = {0};
  double t0 = now_s();
  int rc = lk_engine_open_catalog(&w.base, f->db, &f->eo, &e, &err);
  if (!rc) rc = snap_new(e, from->version, &s, &err);
  if (rc) {
    logf_(f, "follow: optimising the index: %s (the plain scan goes on serving)", lk_err_msg(&err));
  } else {
    if (swap_in_if(f, s, -1, from)) /* unless newer changes were swapped in meanwhile */
      logf_(f, "follow: catalog version %lld: index optimised in %.0f ms", (long long)from->version,
            (now_s() - t0) * 1e3);
  }
  lk_follow_release(f, from);
  pthread_mutex_lock(&f->lock);
  f->opt_state = 2;
  pthread_mutex_unlock(&f->lock);
  return NULL;
}

/* Joins a finished optimiser; starts one when the engine in use is quick and the catalog has
 * been quiet for optimize_after_s. Follower thread only. */
static void optimize_tend(lk_follow *f) {
  pthread_mutex_lock(&f->lock);
  int state = f->opt_state, due = f->cur->quick && now_s() - f->last_change >= f->o.optimize_after_s;
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
  double last_look = now_s(), last_build = 0;
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
    double t = now_s();
    if (w == 0 && t - last_look < f->o.poll_s) continue;
    /* under a stream of commits: at most one rebuild per min_interval_s, and rebuilding at
     * most a third of the time (a big catalog's rebuild takes a while) */
    double gap = f->o.min_interval_s, build_s;
    pthread_mutex_lock(&f->lock);
    build_s = f->st.last_build_s;
    pthread_mutex_unlock(&f->lock);
    if (gap < 2 * build_s) gap = 2 * build_s;
    if (t - last_build < gap && nap(f, gap - (t - last_build))) break;
    last_look = now_s();
    pthread_mutex_lock(&f->apply);
    int rc = update(f, f->cat, &err);
    pthread_mutex_unlock(&f->apply);
    last_build = now_s();
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
  if (versioned && f->o.follow) {
    rc = lk_catalog_get_meta(f->cat, "recipe", &f->recipe_json);
    if (rc) {
      lk_err_set(err, rc, "%s", lk_catalog_errmsg(f->cat));
      lk_engine_close(e);
      goto fail;
    }
  }
  if ((rc = snap_new(e, v, &f->cur, err))) goto fail;
  f->st.version = f->have = v;
  if (!versioned || !f->o.follow) { /* nothing to follow: the handle is not needed any more */
    lk_catalog_close(f->cat);
    f->cat = NULL;
    *out = f;
    return 0;
  }
  f->checked = now_s();
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
  pthread_mutex_destroy(&f->lock);
  free(f->recipe_json);
  free(f->db);
  free(f);
}
