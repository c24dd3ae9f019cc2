/* tests/test_live.c — engines derived from engines (search/engine.h "live changes"): random
 * streams of upserts, deletions and re-inserts are applied both to a catalog file and, through
 * lk_engine_derive, to the engine loaded from it; every engine call is then compared with a
 * fresh engine loaded from the final file (exact and IVF index, with and without a label
 * prior), as are lk_engine_rebuild and lk_engine_rebase. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "embed/projection.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "search/query.h"
#include "testutil.h"
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

/* A batch of 1..maxn random changes written to the catalog and applied to *e (replaced by its
 * derived engine, the old one closed). */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_exact),
      cmocka_unit_test(test_stream_ivf),
      cmocka_unit_test(test_stream_prior),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
