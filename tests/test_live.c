/* tests/test_live.c — the live catalog (search/live.h) and the engines derived from engines it
 * rests on (search/engine.h "live changes"): random streams of upserts, deletions and
 * re-inserts are applied both to a catalog file and, through lk_engine_derive, to the engine
 * loaded from it; every engine call is then compared with a fresh engine loaded from the final
 * file (exact and IVF index, with and without a label prior), as are lk_engine_rebuild,
 * lk_engine_rebase and lk_engine_apply_changes (the catalog's changes since a version). A live
 * catalog applies a write with lk_live_sync before it returns; under a stream of writes the
 * optimiser's full rebuild is swapped in with the writes that came meanwhile on top; the
 * engine served at the end equals a fresh load of the catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "embed/projection.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "search/live.h"
#include "search/query.h"
#include "testutil.h"
#include "util/clock.h"
#include "util/rng.h"

#define N 1500     /* items at the start (ids 10, 13, 16, ...) */
#define D 16
#define MAXID 6000 /* new ids are drawn below this */

static const char *genders[] = {"Men", "Women", "Boys", "Girls"};
static const char *types[] = {"Tshirts", "Shirts", "Jeans", "Heels", "Watches"};

typedef struct world {
  char *dir;
  const char *db;
  lk_catalog *cat;
  uint64_t rng;
} world;

static double uni(world *w) { return (double)(lk_rng_next(&w->rng) >> 11) / 9007199254740992.0; }

static void rand_vec(world *w, float *v) {
  double s = 0;
  for (int d = 0; d < D; d++) {
    v[d] = (float)(uni(w) - 0.5);
    s += (double)v[d] * v[d];
  }
  for (int d = 0; d < D; d++) v[d] = (float)(v[d] / sqrt(s));
}

/* The item id with random labels; name/year/status strings live in buf. */
static void rand_item(world *w, int64_t id, lk_item *it, char buf[2][64]) {
  memset(it, 0, sizeof *it);
  it->id = id;
  snprintf(buf[0], 64, "Product %lld v%u", (long long)id, (unsigned)(lk_rng_next(&w->rng) % 1000));
  snprintf(buf[1], 64, "%d", 2010 + (int)(lk_rng_next(&w->rng) % 5));
  it->path = "p.jpg";
  it->hash = buf[0];
  it->status = "ok";
  it->field[0] = (char *)genders[lk_rng_next(&w->rng) % 4];
  it->field[3] = (char *)types[lk_rng_next(&w->rng) % 5];
  it->field[4] = lk_rng_next(&w->rng) % 2 ? "Black" : "Blue";
  it->field[6] = buf[1];
  it->field[8] = buf[0];
}

/* An identity D -> D projection with an articleType head (a label prior of weight 0.3). */
static lk_projection *prior_projection(world *w) {
  int dims[2] = {D, D};
  lk_projection *p = NULL;
  assert_int_equal(lk_projection_new(1, dims, &p, NULL), 0);
  for (int i = 0; i < D; i++) p->layer[0].w[i * D + i] = 1;
  float hw[D * 5];
  for (int i = 0; i < D * 5; i++) hw[i] = (float)(uni(w) - 0.5);
  assert_int_equal(lk_projection_add_head(p, "articleType", 5, types, hw, 4.0f, 0.3f, NULL), 0);
  return p;
}

static void make_world(world *w, int prior, uint64_t seed) {
  memset(w, 0, sizeof *w);
  w->rng = seed;
  w->dir = lk_test_mkdtemp();
  w->db = strdup(lk_test_path("%s/c.db", w->dir));
  assert_int_equal(lk_catalog_open(w->db, LK_CATALOG_CREATE, &w->cat, NULL), 0);
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  if (prior) lk_recipe_set_projection(&r, prior_projection(w));
  char *js = lk_recipe_to_json(&r);
  assert_int_equal(lk_catalog_set_meta(w->cat, "recipe", js), 0);
  free(js);
  lk_recipe_clear(&r);
  assert_int_equal(lk_catalog_begin(w->cat), 0);
  for (int i = 0; i < N; i++) {
    lk_item it;
    char buf[2][64];
    float v[D];
    rand_item(w, 10 + 3 * i, &it, buf);
    assert_int_equal(lk_catalog_put_item(w->cat, &it), 0);
    if (i % 50 == 7) continue; /* some items without a vector */
    rand_vec(w, v);
    assert_int_equal(lk_catalog_put_vector(w->cat, it.id, v, D), 0);
  }
  assert_int_equal(lk_catalog_commit(w->cat), 0);
}

static void free_world(world *w) {
  lk_catalog_close(w->cat);
  lk_test_rmtree(w->dir);
  free(w->dir);
  free((char *)w->db);
}

static lk_engine *fresh(world *w, int index, int prior) {
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = index;
  o.prior = prior ? -1.0f : 0.0f;
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_open(w->db, &o, &e, &eb), 0);
  return e;
}

/* A batch of 1..maxn random changes written to the catalog and, when e is not NULL, applied to
 * *e (replaced by its derived engine, the old one closed). */
static void random_batch(world *w, lk_engine **e, int maxn) {
  int n = 1 + (int)(lk_rng_next(&w->rng) % (uint64_t)maxn);
  int64_t ids[64];
  int m = 0;
  for (int i = 0; i < n && m < 64; i++) { /* distinct ids, sorted below */
    int64_t id = (int64_t)(lk_rng_next(&w->rng) % MAXID);
    if (lk_rng_next(&w->rng) % 3) id = 10 + 3 * (int64_t)(lk_rng_next(&w->rng) % N); /* mostly known ids */
    int dup = 0;
    for (int j = 0; j < m; j++) dup |= ids[j] == id;
    if (!dup) ids[m++] = id;
  }
  for (int i = 1; i < m; i++)
    for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
      int64_t t = ids[j];
      ids[j] = ids[j - 1];
      ids[j - 1] = t;
    }
  lk_engine_change ch[64];
  lk_item items[64];
  char bufs[64][2][64];
  float vecs[64][D];
  assert_int_equal(lk_catalog_begin(w->cat), 0);
  for (int i = 0; i < m; i++) {
    int kind = (int)(lk_rng_next(&w->rng) % 10); /* 0-2 delete, 3 item without vector, else upsert */
    ch[i] = (lk_engine_change){ids[i], NULL, NULL, 0};
    int drc = lk_catalog_delete_item(w->cat, ids[i]);
    assert_true(drc == 0 || drc == LK_ENOTFOUND);
    if (kind <= 2) continue;
    rand_item(w, ids[i], &items[i], bufs[i]);
    assert_int_equal(lk_catalog_put_item(w->cat, &items[i]), 0);
    ch[i].item = &items[i];
    if (kind == 3) continue;
    rand_vec(w, vecs[i]);
    assert_int_equal(lk_catalog_put_vector(w->cat, ids[i], vecs[i], D), 0);
    ch[i].vec = vecs[i];
    ch[i].dim = D;
  }
  assert_int_equal(lk_catalog_commit(w->cat), 0);
  if (!e) return;
  lk_engine *next = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_derive(*e, ch, (size_t)m, &next, &eb), 0);
  lk_engine_close(*e); /* the derived engine keeps what it shares */
  *e = next;
}

/* A stand-in embedder for multi-crop searches: a unit vector that depends on the crop's size. */
static int size_embed(void *ctx, const lk_image *img, float *vec, lk_errbuf *err) {
  (void)ctx;
  (void)err;
  world w = {.rng = (uint64_t)img->w * 1009 + (uint64_t)img->h};
  rand_vec(&w, vec);
  return 0;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void same_hits(const lk_hit *a, int na, const lk_hit *b, int nb, int approx) {
  assert_int_equal(na, nb);
  int agree = 0;
  for (int i = 0; i < na; i++) {
    agree += a[i].id == b[i].id;
    if (!approx) {
      assert_int_equal(a[i].id, b[i].id);
      assert_true(a[i].score == b[i].score); /* the same kernel: bit-identical */
    }
  }
  if (approx) assert_true(agree >= na - 1); /* two IVFs trained on different rows */
}

/* Every engine call of e against fresh engine g. */
static void compare(world *w, lk_engine *e, lk_engine *g, int approx) {
  assert_int_equal(lk_engine_item_count(e), lk_engine_item_count(g));
  assert_int_equal(lk_engine_size(e), lk_engine_size(g));
  assert_int_equal(lk_engine_query_dim(e), lk_engine_query_dim(g));
  size_t n = lk_engine_item_count(g);
  assert_null(lk_engine_item_at(e, n));
  for (size_t i = 0; i < n; i++) {
    const lk_item *a = lk_engine_item_at(e, i), *b = lk_engine_item_at(g, i);
    assert_non_null(a);
    assert_int_equal(a->id, b->id);
    assert_true(same_str(a->field[8], b->field[8]) && same_str(a->field[3], b->field[3]));
    assert_ptr_equal(lk_engine_item(e, a->id), a);
    const float *va = lk_engine_vector(e, a->id), *vb = lk_engine_vector(g, b->id);
    assert_int_equal(va == NULL, vb == NULL);
    if (va) assert_memory_equal(va, vb, sizeof(float) * (size_t)lk_engine_query_dim(g));
  }
  for (int64_t id = 0; id < MAXID; id += 7) { /* absent ids too */
    assert_int_equal(lk_engine_item(e, id) == NULL, lk_engine_item(g, id) == NULL);
    assert_int_equal(lk_engine_vector(e, id) == NULL, lk_engine_vector(g, id) == NULL);
  }
  lk_filter fs[3] = {{0}};
  assert_int_equal(lk_filter_add(&fs[1], "gender=Women", NULL), 0);
  assert_int_equal(lk_filter_add(&fs[2], "gender=Men", NULL), 0);
  assert_int_equal(lk_filter_add(&fs[2], "articleType=Heels", NULL), 0);
  assert_int_equal(lk_filter_add(&fs[2], "baseColour=black", NULL), 0);
  for (int q = 0; q < 12; q++) {
    float v[D];
    rand_vec(w, v);
    for (int fi = 0; fi < 3; fi++) {
      lk_hit ha[20], hb[20];
      int na = 0, nb = 0;
      assert_int_equal(lk_engine_search_vector(e, v, fi ? &fs[fi] : NULL, 20, -1, ha, &na, NULL), 0);
      assert_int_equal(lk_engine_search_vector(g, v, fi ? &fs[fi] : NULL, 20, -1, hb, &nb, NULL), 0);
      same_hits(ha, na, hb, nb, approx);
      for (int i = 0; i < na && fi == 2; i++) assert_string_equal(lk_engine_item(e, ha[i].id)->field[3], "Heels");
    }
  }
  lk_image img = {64, 48, calloc(64 * 48, 3)};
  lk_embed_pool *pool = NULL; /* the crops' vectors from their sizes (size_embed) */
  assert_int_equal(lk_embed_pool_new_fn(size_embed, NULL, D, 0, &pool, NULL), 0);
  lk_engine_set_pool(e, pool);
  lk_engine_set_pool(g, pool);
  lk_embed_pool_free(pool);
  for (int fi = 0; fi < 2; fi++) { /* multi-crop: 14 searches merged */
    lk_hit ha[10], hb[10];
    int na = 0, nb = 0;
    lk_query q;
    lk_query_init(&q);
    q.filter = fi ? &fs[1] : NULL;
    q.multi_crop = 1;
    assert_int_equal(lk_engine_search_pixels(e, img.px, img.w, img.h, (size_t)img.w * 3, &q, ha, &na, NULL, NULL), 0);
    assert_int_equal(lk_engine_search_pixels(g, img.px, img.w, img.h, (size_t)img.w * 3, &q, hb, &nb, NULL, NULL), 0);
    same_hits(ha, na, hb, nb, approx);
  }
  free(img.px);
  int done = 0;
  for (size_t i = 0; i < n && done < 12; i += n / 13 + 1) {
    int64_t id = lk_engine_item_at(g, i)->id;
    lk_hit ha[10], hb[10];
    int na = 0, nb = 0, ra = lk_engine_similar(e, id, NULL, 10, ha, &na, NULL),
        rb = lk_engine_similar(g, id, NULL, 10, hb, &nb, NULL);
    assert_int_equal(ra, rb);
    if (ra) continue;
    same_hits(ha, na, hb, nb, approx);
    for (int j = 0; j < na; j++) assert_true(ha[j].id != id);
    done++;
  }
}

static void run_stream(int index, int prior, uint64_t seed) {
  world w;
  make_world(&w, prior, seed);
  int approx = index == LK_ENGINE_INDEX_IVF;
  lk_engine *e = fresh(&w, index, prior), *mid = NULL;
  assert_string_equal(lk_engine_index_name(e), approx ? "ivf" : "exact");
  for (int round = 0; round < 60; round++) {
    random_batch(&w, &e, round % 10 == 9 ? 60 : 8);
    if (round == 20) { /* the optimiser's start: a snapshot it rebuilds from */
      mid = e;
      lk_engine *keep = NULL;
      assert_int_equal(lk_engine_derive(mid, NULL, 0, &keep, NULL), 0); /* a second reference */
      e = keep;
    }
    if (round == 10 || round == 40) {
      lk_engine *g = fresh(&w, index, prior);
      compare(&w, e, g, approx);
      lk_engine_close(g);
    }
  }
  assert_true(lk_engine_delta(e) > 100);
  lk_engine *g = fresh(&w, index, prior);
  compare(&w, e, g, approx);
  /* the optimiser: a full engine of the snapshot, the changes since re-applied on top */
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = index;
  o.prior = prior ? -1.0f : 0.0f;
  lk_engine *full = NULL, *re = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_rebuild(e, &o, &full, &eb), 0);
  assert_int_equal(lk_engine_delta(full), 0);
  compare(&w, full, g, approx);
  lk_engine_close(full);
  assert_int_equal(lk_engine_rebuild(mid, &o, &full, &eb), 0);
  assert_int_equal(lk_engine_rebase(full, mid, e, &re, &eb), 0);
  assert_true(lk_engine_delta(re) < lk_engine_delta(e));
  compare(&w, re, g, approx);
  /* an engine not derived from the one rebuilt is refused */
  lk_engine *other = NULL;
  assert_int_equal(lk_engine_rebase(full, g, e, &other, &eb), LK_EMISMATCH);
  assert_null(other);
  lk_engine_close(full); /* re keeps it */
  random_batch(&w, &re, 8);
  lk_engine_close(g);
  g = fresh(&w, index, prior);
  compare(&w, re, g, approx);
  lk_engine_close(g);
  lk_engine_close(re);
  lk_engine_close(mid);
  lk_engine_close(e);
  free_world(&w);
}

static void test_stream_exact(void **state) {
  (void)state;
  run_stream(LK_ENGINE_INDEX_EXACT, 0, 11);
}
static void test_stream_ivf(void **state) {
  (void)state;
  run_stream(LK_ENGINE_INDEX_IVF, 0, 12);
}
static void test_stream_prior(void **state) {
  (void)state;
  run_stream(LK_ENGINE_INDEX_EXACT, 1, 13);
}

/* Bad changes are refused and leave nothing behind. */
static void test_refused(void **state) {
  (void)state;
  world w;
  make_world(&w, 0, 14);
  lk_engine *e = fresh(&w, LK_ENGINE_INDEX_EXACT, 0), *d = NULL;
  lk_item it = {.id = 20, .status = "ok"};
  float v[D] = {0}, big[D + 1] = {0};
  v[0] = 2; /* not normalised */
  big[0] = 1;
  lk_engine_change unsorted[2] = {{20, &it, NULL, 0}, {19, NULL, NULL, 0}};
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_derive(e, unsorted, 2, &d, &eb), LK_EINVAL);
  assert_null(d);
  lk_engine_change bad = {20, &it, v, D};
  assert_int_equal(lk_engine_derive(e, &bad, 1, &d, &eb), LK_ECORRUPT);
  lk_engine_change wide = {20, &it, big, D + 1};
  assert_int_equal(lk_engine_derive(e, &wide, 1, &d, &eb), LK_EMISMATCH);
  lk_engine_change other = {21, &it, NULL, 0};
  assert_int_equal(lk_engine_derive(e, &other, 1, &d, &eb), LK_EINVAL);
  assert_null(d);
  lk_engine_close(e);
  free_world(&w);
}

/* lk_engine_vectors (public, lookalike.h): a full engine's vectors zero-copy, in id order, each
 * row the item's vector; refused for a derived engine and for rows widened by a label prior. */
static void test_vectors(void **state) {
  (void)state;
  world w;
  make_world(&w, 0, 15);
  lk_engine *e = fresh(&w, LK_ENGINE_INDEX_EXACT, 0), *d = NULL;
  const int64_t *ids = NULL;
  const float *vecs = NULL;
  size_t n = 0;
  assert_int_equal(lk_engine_vectors(e, &ids, &vecs, &n), 0);
  assert_int_equal(n, lk_engine_size(e));
  assert_int_equal(n, N - (N + 42) / 50); /* every 50th item (from the 8th) has no vector */
  assert_int_equal(lk_engine_dim(e), D);
  for (size_t i = 0; i < n; i++) {
    if (i) assert_true(ids[i] > ids[i - 1]);
    assert_memory_equal(vecs + i * D, lk_engine_vector(e, ids[i]), sizeof(float) * D);
    float v[D];
    assert_int_equal(lk_catalog_get_vector(w.cat, ids[i], v, D), D);
    assert_memory_equal(vecs + i * D, v, sizeof v);
  }
  assert_int_equal(lk_engine_vectors(e, &ids, &vecs, NULL), LK_EINVAL);
  lk_engine_change del = {ids[0], NULL, NULL, 0};
  assert_int_equal(lk_engine_derive(e, &del, 1, &d, NULL), 0);
  assert_int_equal(lk_engine_vectors(d, &ids, &vecs, &n), LK_EUNSUPPORTED);
  lk_engine_close(d);
  lk_engine_close(e);
  free_world(&w);
  make_world(&w, 1, 16);
  e = fresh(&w, LK_ENGINE_INDEX_EXACT, 1); /* the label prior widens the rows */
  assert_int_equal(lk_engine_vectors(e, &ids, &vecs, &n), LK_EUNSUPPORTED);
  lk_engine_close(e);
  e = fresh(&w, LK_ENGINE_INDEX_EXACT, 0); /* ... and prior = 0 does not */
  assert_int_equal(lk_engine_vectors(e, &ids, &vecs, &n), 0);
  assert_int_equal(n, lk_engine_size(e));
  lk_engine_close(e);
  free_world(&w);
}

static int64_t catalog_version(world *w) {
  int64_t v = -1;
  assert_int_equal(lk_catalog_version(w->cat, &v), 0);
  return v;
}

/* The catalog's changes since a version, read and applied in one call; what it refuses. */
static void test_apply_changes(void **state) {
  (void)state;
  world w;
  make_world(&w, 0, 15);
  lk_engine *e = fresh(&w, LK_ENGINE_INDEX_EXACT, 0), *next = NULL;
  int64_t v0 = catalog_version(&w), v = -1;
  lk_errbuf eb = {0};
  for (int i = 0; i < 12; i++) random_batch(&w, NULL, 8); /* deletions, re-inserts, items without vectors */
  assert_int_equal(lk_engine_apply_changes(e, w.cat, v0, &next, &v, &eb), 0);
  assert_non_null(next);
  assert_int_equal(v, catalog_version(&w));
  assert_true(lk_engine_delta(next) > 0);
  lk_engine *g = fresh(&w, LK_ENGINE_INDEX_EXACT, 0);
  compare(&w, next, g, 0);
  lk_engine_close(g);
  /* nothing since: no engine, the same version */
  lk_engine *none = e;
  int64_t v2 = -1;
  assert_int_equal(lk_engine_apply_changes(next, w.cat, v, &none, &v2, &eb), 0);
  assert_null(none);
  assert_int_equal(v2, v);
  /* a commit of metadata only: no engine, the new version */
  assert_int_equal(lk_catalog_set_meta(w.cat, "note", "x"), 0);
  assert_int_equal(lk_engine_apply_changes(next, w.cat, v, &none, &v2, &eb), 0);
  assert_null(none);
  assert_true(v2 > v);
  /* a version the catalog never reached (re-created or restored since): load it whole */
  assert_int_equal(lk_engine_apply_changes(next, w.cat, v2 + 100, &none, &v, &eb), LK_EUNSUPPORTED);
  assert_null(none);
  /* another recipe's vectors are not mixed in */
  assert_int_equal(lk_catalog_set_meta(w.cat, "recipe_id", "0123456789abcdef"), 0);
  random_batch(&w, NULL, 1);
  assert_int_equal(lk_engine_apply_changes(next, w.cat, v2, &none, &v, &eb), LK_EMISMATCH);
  assert_non_null(strstr(lk_err_msg(&eb), "recipe changed"));
  assert_null(none);
  lk_engine_close(next);
  lk_engine_close(e);
  free_world(&w);
  /* a catalog's first vector sets the dimension: a load's work */
  make_world(&w, 0, 16);
  assert_int_equal(lk_catalog_begin(w.cat), 0);
  assert_int_equal(lk_catalog_delete_all_vectors(w.cat), 0);
  assert_int_equal(lk_catalog_commit(w.cat), 0);
  e = fresh(&w, LK_ENGINE_INDEX_EXACT, 0);
  assert_int_equal(lk_engine_size(e), 0);
  v0 = catalog_version(&w);
  float vec[D];
  rand_vec(&w, vec);
  assert_int_equal(lk_catalog_put_vector(w.cat, 10, vec, D), 0);
  assert_int_equal(lk_engine_apply_changes(e, w.cat, v0, &next, &v, &eb), LK_EUNSUPPORTED);
  assert_null(next);
  lk_engine_close(e);
  free_world(&w);
}

/* Writes item id with vector v (a fresh name, returned in name) or deletes it (v NULL), and commits. */
static void put_one(world *w, int64_t id, const float *v, char name[64]) {
  lk_item it;
  char buf[2][64];
  rand_item(w, id, &it, buf);
  if (name) snprintf(name, 64, "%s", buf[0]);
  assert_int_equal(lk_catalog_begin(w->cat), 0);
  int rc = lk_catalog_delete_item(w->cat, id);
  assert_true(rc == 0 || rc == LK_ENOTFOUND);
  if (v) {
    assert_int_equal(lk_catalog_put_item(w->cat, &it), 0);
    assert_int_equal(lk_catalog_put_vector(w->cat, id, v, D), 0);
  }
  assert_int_equal(lk_catalog_commit(w->cat), 0);
}

/* The world's catalog followed, optimised after optimize_after_s quiet seconds. */
static lk_live *open_live(world *w, double optimize_after_s) {
  lk_live_opts lo;
  lk_live_opts_default(&lo);
  lo.optimize_after_s = optimize_after_s;
  lk_live *l = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_live_open(w->db, NULL, &lo, &l, &eb), 0);
  return l;
}

static size_t served_delta(lk_live *l) {
  const lk_live_snap *s = lk_live_acquire(l);
  size_t d = lk_engine_delta(lk_live_engine(s));
  lk_live_release(l, s);
  return d;
}

static void test_live_writes(void **state) {
  (void)state;
  world w;
  make_world(&w, 0, 17);
  lk_live *l = open_live(&w, 3600); /* only a large delta starts the optimiser here */
  lk_errbuf eb = {0};

  /* a write, applied before lk_live_sync returns, as a delta */
  float v[D];
  char name[64];
  rand_vec(&w, v);
  put_one(&w, 13, v, name);
  assert_int_equal(lk_live_sync(l, w.cat, &eb), 0);
  const lk_live_snap *s = lk_live_acquire(l);
  const lk_engine *e = lk_live_engine(s);
  assert_int_equal(lk_live_version(s), catalog_version(&w));
  assert_string_equal(lk_engine_item(e, 13)->field[8], name);
  assert_int_equal(lk_engine_delta(e), 1);
  lk_hit h[3];
  int n = 0;
  assert_int_equal(lk_engine_search_vector(e, v, NULL, 3, -1, h, &n, NULL), 0);
  assert_int_equal(h[0].id, 13);
  lk_live_release(l, s);
  put_one(&w, 16, NULL, NULL);
  assert_int_equal(lk_live_sync(l, w.cat, &eb), 0);
  s = lk_live_acquire(l);
  assert_null(lk_engine_item(lk_live_engine(s), 16));
  assert_int_equal(lk_engine_item_count(lk_live_engine(s)), N - 1);
  lk_live_release(l, s);

  /* a stream of writes: past 256 changed ids the optimiser rebuilds; the writes during its
   * build are applied on top of its engine, so the delta comes down while writes go on */
  int64_t next = 10 + 3 * N;
  size_t peak = 0, after = 0;
  double end = lk_clock_now() + 30;
  int writes = 0;
  for (int i = 0; lk_clock_now() < end; i++, writes++) {
    int64_t id = i % 3 ? 10 + 3 * (int64_t)(lk_rng_next(&w.rng) % N) : next++;
    rand_vec(&w, v);
    put_one(&w, id, i % 7 == 6 ? NULL : v, NULL);
    assert_int_equal(lk_live_sync(l, w.cat, &eb), 0);
    size_t d = served_delta(l);
    if (d > peak) peak = d;
    if (peak >= 256 && d < peak / 2) {
      after = d;
      break;
    }
  }
  print_message("delta: %zu changed ids at the peak, %zu after the optimiser's swap, %d writes\n", peak, after,
                writes);
  assert_true(peak >= 256);
  assert_true(after < peak / 2); /* the optimiser won within 30 s, writes going on */
  /* what is served equals a fresh load of the catalog */
  s = lk_live_acquire(l);
  lk_engine *g = fresh(&w, LK_ENGINE_INDEX_EXACT, 0);
  compare(&w, lk_live_engine(s), g, 0);
  lk_live_release(l, s);
  lk_engine_close(g);
  lk_live_state st;
  lk_live_status(l, &st);
  assert_string_equal(st.error, "");
  assert_true(st.following);
  assert_int_equal(st.version, catalog_version(&w));
  lk_live_close(l);
  free_world(&w);
}

/* Regression: a commit of metadata only moves the version the live catalog reports past its
 * snapshot's; the optimiser's twin of that snapshot, swapped in later, moved it back. */
static void test_live_meta_version(void **state) {
  (void)state;
  world w;
  make_world(&w, 0, 18);
  lk_live *l = open_live(&w, 1);
  lk_errbuf eb = {0};
  float v[D];
  rand_vec(&w, v);
  put_one(&w, 13, v, NULL);
  assert_int_equal(lk_live_sync(l, w.cat, &eb), 0);
  int64_t v1 = catalog_version(&w);
  assert_int_equal(lk_catalog_set_meta(w.cat, "note", "calibrated"), 0); /* as index's calibration */
  assert_int_equal(lk_live_sync(l, w.cat, &eb), 0);
  int64_t v2 = catalog_version(&w);
  assert_true(v2 > v1);
  lk_live_state st;
  lk_live_status(l, &st);
  assert_int_equal(st.version, v2);
  double until = lk_clock_now() + 20;
  while (served_delta(l) > 0 && lk_clock_now() < until) {
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(served_delta(l), 0); /* the optimiser's twin is in */
  const lk_live_snap *s = lk_live_acquire(l);
  assert_int_equal(lk_live_version(s), v1);
  lk_live_release(l, s);
  lk_live_status(l, &st);
  assert_int_equal(st.version, v2);
  assert_int_equal(st.updates, 1); /* the write; neither the metadata nor the twin */
  lk_live_close(l);
  free_world(&w);
}

/* A catalog re-made with another recipe and moved in place of the followed one is refused,
 * saying so, while the engine in use goes on serving (one of the same recipe is read whole:
 * tests/server.sh). */
static void test_live_remade(void **state) {
  (void)state;
  world w, other;
  make_world(&w, 0, 19);
  lk_live *l = open_live(&w, 3600);
  const lk_live_snap *s = lk_live_acquire(l);
  char rid[17];
  snprintf(rid, sizeof rid, "%s", lk_engine_recipe_id(lk_live_engine(s)));
  lk_live_release(l, s);
  make_world(&other, 1, 20); /* a label prior: another recipe */
  /* SQLite's rule for replacing a file in use: its -wal and -shm go first */
  lk_catalog_close(w.cat);
  lk_catalog_close(other.cat);
  w.cat = other.cat = NULL;
  for (int i = 0; i < 2; i++) {
    unlink(lk_test_path("%s-wal", i ? other.db : w.db));
    unlink(lk_test_path("%s-shm", i ? other.db : w.db));
  }
  assert_int_equal(rename(other.db, w.db), 0);
  lk_live_state st;
  double until = lk_clock_now() + 20;
  do {
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    lk_live_status(l, &st);
  } while (!strstr(st.error, "recipe changed") && lk_clock_now() < until);
  assert_non_null(strstr(st.error, "recipe changed"));
  s = lk_live_acquire(l);
  assert_string_equal(lk_engine_recipe_id(lk_live_engine(s)), rid); /* the engine in use stays */
  lk_live_release(l, s);
  lk_live_close(l);
  free_world(&other);
  free_world(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_stream_exact),
      cmocka_unit_test(test_stream_ivf),
      cmocka_unit_test(test_stream_prior),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_apply_changes),
      cmocka_unit_test(test_live_writes),
      cmocka_unit_test(test_live_meta_version),
      cmocka_unit_test(test_live_remade),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
