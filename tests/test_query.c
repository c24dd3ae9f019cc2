/* tests/test_query.c — the one photo query entry point (search/query.h, lookalike.h "search a
 * photo"): photo bytes and the same pixels give the same hits; the crop rules (clipping, the
 * smallest side, errors naming the step); garment isolation; multi-crop against the crops
 * searched one by one; filters; collapsed groups; the embedder pool shared by derived and
 * rebuilt engines. The embedder is a stand-in (lk_embed_pool_new_fn) that reads the pixels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "catalog/catalog.h"
#include "image/garment.h"
#include "search/collapse.h"
#include "search/engine.h"
#include "search/query.h"
#include "testutil.h"

#define N 600
#define D 16
#define NDUP 10 /* items 0..2*NDUP-1: pairs (2i, 2i+1) of the same photo */

typedef struct fixture {
  char *dir;
  lk_engine *e;
  float vec[N][D];
  const float *fixed; /* the stand-in embedder returns this vector when set */
  int calls;          /* the stand-in's runs */
  uint8_t *jpeg;      /* a 160 x 120 test photo */
  unsigned long jlen;
} fixture;

static int64_t id_of(int i) { return 100 + 2 * i; }

/* 4 x 4 grid of the cells' mean (R - B + G / 3), normalised: a vector that follows the pixels. */
static int grid_embed(void *ctx, const lk_image *img, float *vec, lk_errbuf *err) {
  fixture *f = ctx;
  __atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
  if (f->fixed) {
    memcpy(vec, f->fixed, sizeof(float) * D);
    return 0;
  }
  double s = 0;
  for (int c = 0; c < D; c++) {
    int x0 = img->w * (c % 4) / 4, x1 = img->w * (c % 4 + 1) / 4, y0 = img->h * (c / 4) / 4, y1 = img->h * (c / 4 + 1) / 4;
    double sum = 0;
    int n = 0;
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++, n++) {
        const uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
        sum += p[0] - p[2] + p[1] / 3.0;
      }
    vec[c] = (float)(n ? sum / n : 0) + 1.0f;
    s += (double)vec[c] * vec[c];
  }
  for (int c = 0; c < D; c++) vec[c] /= (float)sqrt(s);
  return 0;
}

/* A photo with shapes and gradients, so that crops differ. */
static void draw(uint8_t *px, int w, int h) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = px + ((size_t)y * w + x) * 3;
      int in = (x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) < (h / 4) * (h / 4);
      p[0] = in ? 200 : (uint8_t)(x * 255 / w);
      p[1] = (uint8_t)(y * 255 / h);
      p[2] = in ? 30 : (uint8_t)((x + y) % 256);
    }
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = lk_test_mkdtemp();
  const char *db = lk_test_path("%s/q.db", f->dir);
  lk_catalog *c;
  assert_non_null(c = lk_test_catalog_new(db));
  srand(11);
  static const char *genders[] = {"Men", "Women"};
  for (int i = 0; i < N; i++) {
    lk_item it = {0};
    char name[64], hash[64];
    snprintf(name, sizeof name, "Product %d", i);
    snprintf(hash, sizeof hash, "h%d", i < 2 * NDUP ? i / 2 : i); /* the pairs: one photo */
    it.id = id_of(i);
    it.path = "p.jpg";
    it.hash = hash;
    it.status = "ok";
    it.field[0] = (char *)genders[i % 2];
    it.field[3] = "Tshirts";
    it.field[4] = "Black";
    it.field[8] = name;
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    if (i < 2 * NDUP && i % 2) {
      memcpy(f->vec[i], f->vec[i - 1], sizeof f->vec[i]);
    } else { /* spread out: no two items near-duplicates by chance */
      double s = 0;
      for (int d = 0; d < D; d++) {
        f->vec[i][d] = (float)rand() / RAND_MAX - 0.5f;
        s += (double)f->vec[i][d] * f->vec[i][d];
      }
      for (int d = 0; d < D; d++) f->vec[i][d] /= (float)sqrt(s);
    }
    assert_int_equal(lk_catalog_put_vector(c, it.id, f->vec[i], D), 0);
  }
  lk_catalog_commit(c);
  lk_catalog_close(c);
  assert_int_equal(lk_engine_open(db, NULL, &f->e, NULL), 0);
  lk_embed_pool *pool = NULL;
  assert_int_equal(lk_embed_pool_new_fn(grid_embed, f, D, 0, &pool, NULL), 0);
  lk_engine_set_pool(f->e, pool);
  lk_embed_pool_free(pool);
  /* the test photo as JPEG bytes */
  uint8_t px[160 * 120 * 3];
  draw(px, 160, 120);
  tjhandle tj = tjInitCompress();
  assert_non_null(tj);
  unsigned char *out = NULL;
  assert_int_equal(tjCompress2(tj, px, 160, 0, 120, TJPF_RGB, &out, &f->jlen, TJSAMP_444, 92, 0), 0);
  f->jpeg = malloc(f->jlen);
  memcpy(f->jpeg, out, f->jlen);
  tjFree(out);
  tjDestroy(tj);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  lk_engine_close(f->e);
  lk_test_rmtree(f->dir);
  free(f->dir);
  free(f->jpeg);
  free(f);
  return 0;
}

static void same_hits(const lk_hit *a, int na, const lk_hit *b, int nb) {
  assert_int_equal(na, nb);
  for (int i = 0; i < na; i++) {
    assert_int_equal(a[i].id, b[i].id);
    assert_float_equal(a[i].score, b[i].score, 1e-6);
  }
}

/* The photo as the search decodes it (full size: the stand-in asks for no side). */
static lk_image decoded(const fixture *f) {
  lk_image im = {0};
  assert_int_equal(lk_image_decode(f->jpeg, f->jlen, NULL, 0, &im, NULL), 0);
  assert_int_equal(im.w, 160);
  return im;
}

static void test_photo_equals_pixels(void **state) {
  fixture *f = *state;
  lk_image im = decoded(f);
  lk_query q;
  lk_query_init(&q);
  assert_int_equal(q.k, 10);
  lk_hit a[10], b[10];
  int na = -1, nb = -1;
  lk_search_info info;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, a, &na, &info, NULL), 0);
  assert_int_equal(info.stage, LK_SEARCH_DONE);
  assert_int_equal(info.width, 160);
  assert_int_equal(info.height, 120);
  assert_int_equal(info.crop[2], 0);
  assert_true(info.decode_s >= 0 && info.embed_s >= 0 && info.search_s >= 0);
  assert_int_equal(na, 10);
  /* the same pixels, with a padded stride */
  size_t stride = 160 * 3 + 7;
  uint8_t *padded = calloc(stride, 120);
  for (int y = 0; y < 120; y++) memcpy(padded + y * stride, im.px + (size_t)y * 160 * 3, 160 * 3);
  assert_int_equal(lk_engine_search_pixels(f->e, padded, 160, 120, stride, &q, b, &nb, NULL, NULL), 0);
  same_hits(a, na, b, nb);
  /* and the hits are those of the photo's vector */
  float v[D], w[D];
  assert_int_equal(lk_engine_embed_photo(f->e, f->jpeg, f->jlen, v, NULL), 0);
  assert_int_equal(lk_engine_embed_pixels(f->e, padded, 160, 120, stride, w, NULL), 0);
  assert_memory_equal(v, w, sizeof v);
  assert_int_equal(lk_engine_search_vector(f->e, v, NULL, 10, -1, b, &nb, NULL), 0);
  same_hits(a, na, b, nb);
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_search_pixels(f->e, padded, 160, 120, 100, &q, b, &nb, NULL, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "stride"));
  free(padded);
  lk_image_free(&im);
}

static void test_crop(void **state) {
  fixture *f = *state;
  lk_image im = decoded(f);
  static const struct { int c[4], box[4]; } cases[] = {
      {{10, 20, 50, 40}, {10, 20, 50, 40}},     /* inside */
      {{-30, -10, 100, 60}, {0, 0, 70, 50}},    /* clipped at the top left */
      {{120, 90, 500, 500}, {120, 90, 40, 30}}, /* clipped at the bottom right */
      {{152, 0, 8, 120}, {152, 0, 8, 120}},     /* the smallest side */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lk_query q;
    lk_query_init(&q);
    memcpy(q.crop, cases[i].c, sizeof q.crop);
    lk_hit a[10], b[10];
    int na = 0, nb = 0;
    lk_search_info info;
    assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, a, &na, &info, NULL), 0);
    assert_memory_equal(info.crop, cases[i].box, sizeof info.crop);
    /* = the whole-photo search of the cropped pixels */
    lk_image c = {0};
    assert_int_equal(lk_image_crop(&im, cases[i].box[0], cases[i].box[1], cases[i].box[2], cases[i].box[3], &c), 0);
    lk_query whole;
    lk_query_init(&whole);
    assert_int_equal(lk_engine_search_pixels(f->e, c.px, c.w, c.h, (size_t)c.w * 3, &whole, b, &nb, NULL, NULL), 0);
    same_hits(a, na, b, nb);
    lk_image_free(&c);
  }
  /* refused: too small once clipped, outside, malformed */
  static const int bad[][4] = {{155, 0, 50, 50}, {0, 0, 7, 100}, {-100, -100, 50, 50}, {1000, 1000, 10, 10}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    lk_query q;
    lk_query_init(&q);
    memcpy(q.crop, bad[i], sizeof q.crop);
    lk_hit h[10];
    int n = -1;
    lk_errbuf eb = {0};
    lk_search_info info;
    assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h, &n, &info, &eb), LK_EINVAL);
    assert_int_equal(info.stage, LK_SEARCH_CROP);
    assert_int_equal(n, 0);
    assert_non_null(strstr(eb.msg, "leaves less than 8x8 pixels inside the 160x120 photo"));
  }
  lk_query q;
  lk_query_init(&q);
  q.crop[2] = 50; /* no height */
  lk_hit h[10];
  int n = 0;
  lk_search_info info;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h, &n, &info, NULL), LK_EINVAL);
  assert_int_equal(info.stage, LK_SEARCH_QUERY);
  lk_image_free(&im);
}

static void test_errors(void **state) {
  fixture *f = *state;
  lk_query q;
  lk_query_init(&q);
  lk_hit h[10];
  int n = 0;
  lk_errbuf eb = {0};
  lk_search_info info;
  static const char junk[] = "this is not a photo";
  int rc = lk_engine_search_photo(f->e, junk, sizeof junk, &q, h, &n, &info, &eb);
  assert_true(rc == LK_EDECODE || rc == LK_EUNSUPPORTED);
  assert_int_equal(info.stage, LK_SEARCH_DECODE);
  assert_int_equal(lk_engine_search_photo(f->e, NULL, 0, &q, h, &n, &info, &eb), LK_EINVAL);
  q.k = 0;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h, &n, &info, &eb), LK_EINVAL);
  assert_int_equal(info.stage, LK_SEARCH_QUERY);
  lk_query_init(&q);
  q.prior = 0.5f; /* the prior is the engine's */
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h, &n, &info, &eb), LK_EUNSUPPORTED);
  lk_query_init(&q);
  lk_filter fl = {0}; /* a column no item has: a typo */
  assert_int_equal(lk_filter_add_where(&fl, "pricee<=50", NULL), 0);
  q.filter = &fl;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h, &n, &info, &eb), LK_EINVAL);
  assert_int_equal(info.stage, LK_SEARCH_SEARCH);
}

static void test_filter_and_garment(void **state) {
  fixture *f = *state;
  lk_filter fl = {0};
  assert_int_equal(lk_filter_add(&fl, "gender=Women", NULL), 0);
  lk_query q;
  lk_query_init(&q);
  q.filter = &fl;
  q.k = 20;
  lk_hit a[20], b[20];
  int na = 0, nb = 0;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, a, &na, NULL, NULL), 0);
  assert_int_equal(na, 20);
  for (int i = 0; i < na; i++) assert_string_equal(lk_engine_item(f->e, a[i].id)->field[0], "Women");
  float v[D];
  assert_int_equal(lk_engine_embed_photo(f->e, f->jpeg, f->jlen, v, NULL), 0);
  assert_int_equal(lk_engine_search_vector(f->e, v, &fl, 20, -1, b, &nb, NULL), 0);
  same_hits(a, na, b, nb);
  /* garment on: the search of the isolated garment's pixels */
  lk_image im = decoded(f), iso = {0};
  assert_int_equal(lk_garment_isolate(&im, &iso, NULL), 0);
  lk_query_init(&q);
  q.garment = LK_ENGINE_GARMENT_ON;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, a, &na, NULL, NULL), 0);
  q.garment = LK_ENGINE_GARMENT_OFF;
  assert_int_equal(lk_engine_search_pixels(f->e, iso.px, iso.w, iso.h, (size_t)iso.w * 3, &q, b, &nb, NULL, NULL), 0);
  same_hits(a, na, b, nb);
  lk_image_free(&im);
  lk_image_free(&iso);
}

static int by_score(const void *x, const void *y) {
  const lk_hit *a = x, *b = y;
  return a->score < b->score ? 1 : a->score > b->score ? -1 : (a->id > b->id) - (a->id < b->id);
}

/* Multi-crop: every item keeps its best score over the photo and its crops. */
static void test_multi_crop(void **state) {
  fixture *f = *state;
  lk_image im = decoded(f);
  lk_filter fl = {0};
  assert_int_equal(lk_filter_add(&fl, "gender=Men", NULL), 0);
  lk_query q;
  lk_query_init(&q);
  q.multi_crop = 1;
  q.filter = &fl;
  lk_hit a[10];
  int na = 0, calls = f->calls;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, a, &na, NULL, NULL), 0);
  assert_int_equal(f->calls - calls, LK_ENGINE_CROPS);
  assert_int_equal(na, 10);
  int boxes[LK_ENGINE_CROPS][4], nb = lk_engine_crop_boxes(im.w, im.h, boxes);
  lk_hit all[LK_ENGINE_CROPS * 10], want[10];
  int total = 0, nw = 0;
  for (int i = 0; i < nb; i++) {
    lk_image c = {0};
    float v[D];
    int n = 0;
    assert_int_equal(lk_image_crop(&im, boxes[i][0], boxes[i][1], boxes[i][2], boxes[i][3], &c), 0);
    grid_embed(f, &c, v, NULL);
    assert_int_equal(lk_engine_search_vector(f->e, v, &fl, 10, -1, all + total, &n, NULL), 0);
    total += n;
    lk_image_free(&c);
  }
  qsort(all, (size_t)total, sizeof *all, by_score);
  for (int i = 0; i < total && nw < 10; i++) {
    int seen = 0;
    for (int j = 0; j < nw; j++) seen |= want[j].id == all[i].id;
    if (!seen) want[nw++] = all[i];
  }
  same_hits(a, na, want, nw);
  for (int i = 0; i < na; i++) assert_string_equal(lk_engine_item(f->e, a[i].id)->field[0], "Men");
  lk_image_free(&im);
}

/* Over chosen rows (evaluation's galleries): the photo's search over the rows of one gender
 * equals the filtered search, with and without crops; a filter or collapsing beside the rows
 * is refused. */
static void test_allowed_rows(void **state) {
  fixture *f = *state;
  size_t rows = lk_engine_rows(f->e);
  uint64_t *allow = calloc(rows / 64 + 1, sizeof *allow);
  assert_non_null(allow);
  const int64_t *ids;
  const float *vecs;
  size_t n;
  assert_int_equal(lk_engine_vectors(f->e, &ids, &vecs, &n), 0);
  for (size_t r = 0; r < n; r++)
    if (!strcmp(lk_engine_item(f->e, ids[r])->field[0], "Women")) allow[r / 64] |= 1ull << (r % 64);
  lk_filter fl = {0};
  assert_int_equal(lk_filter_add(&fl, "gender=Women", NULL), 0);
  lk_image im = decoded(f);
  for (int mc = 0; mc < 2; mc++) {
    lk_query q;
    lk_query_init(&q);
    q.multi_crop = mc;
    q.k = 12;
    lk_hit a[12], b[12];
    int na = 0, nb = 0;
    assert_int_equal(lk_query_search_image(f->e, &im, &q, allow, a, &na, NULL, NULL), 0);
    q.filter = &fl;
    assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, b, &nb, NULL, NULL), 0);
    assert_int_equal(na, 12);
    same_hits(a, na, b, nb);
    lk_errbuf eb = {0};
    assert_int_equal(lk_query_search_image(f->e, &im, &q, allow, a, &na, NULL, &eb), LK_EINVAL);
    assert_non_null(strstr(lk_err_msg(&eb), "no filter"));
    q.filter = NULL;
    q.collapse = LK_COLLAPSE_DUPLICATES;
    assert_int_equal(lk_query_search_image(f->e, &im, &q, allow, a, &na, NULL, NULL), LK_EINVAL);
  }
  lk_image_free(&im);
  free(allow);
}

/* Collapsed: the same photo listed twice comes back as one hit with the other under it. */
static void test_collapse_groups(void **state) {
  fixture *f = *state;
  lk_query q;
  lk_query_init(&q);
  q.k = 5;
  lk_hit plain[5], h[5];
  int np = 0, n = 0;
  f->fixed = f->vec[4]; /* the photo of items 4 and 5 */
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, plain, &np, NULL, NULL), 0);
  assert_true((plain[0].id == id_of(4) && plain[1].id == id_of(5)) || (plain[0].id == id_of(5) && plain[1].id == id_of(4)));
  q.collapse = LK_COLLAPSE_DUPLICATES;
  lk_group g[5];
  lk_search_info info = {.groups = g};
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h, &n, &info, NULL), 0);
  assert_ptr_equal(info.groups, g);
  assert_int_equal(n, 5);
  assert_int_equal(info.ngroups, 5);
  for (int i = 0; i < n; i++) assert_int_equal(h[i].id, g[i].hit.id);
  assert_int_equal(g[0].hit.id, plain[0].id);
  assert_int_equal(g[0].n, 1);
  assert_int_equal(g[0].member[0], plain[1].id);
  for (int i = 1; i < n; i++) assert_true(h[i].id != id_of(4) && h[i].id != id_of(5));
  /* without groups asked for: the same heads */
  lk_hit h2[5];
  int n2 = 0;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h2, &n2, NULL, NULL), 0);
  same_hits(h, n, h2, n2);
  /* with multi-crop too: every crop gives the same vector here, so the same groups */
  q.multi_crop = 1;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, h2, &n2, NULL, NULL), 0);
  same_hits(h, n, h2, n2);
  f->fixed = NULL;
}

/* A derived engine and a rebuilt one embed with the engine's pool (no model loaded anew). */
static void test_pool_shared(void **state) {
  fixture *f = *state;
  lk_engine *d = NULL, *r = NULL;
  lk_item it = {.id = 99, .status = "ok", .path = "new.jpg"};
  it.field[0] = "Men";
  lk_engine_change ch = {99, &it, f->vec[100], D};
  assert_int_equal(lk_engine_derive(f->e, &ch, 1, &d, NULL), 0);
  assert_int_equal(lk_engine_rebuild(d, NULL, &r, NULL), 0);
  lk_query q;
  lk_query_init(&q);
  lk_hit a[10], b[10], c[10];
  int na = 0, nb = 0, nc = 0, calls = f->calls;
  assert_int_equal(lk_engine_search_photo(d, f->jpeg, f->jlen, &q, a, &na, NULL, NULL), 0);
  assert_int_equal(lk_engine_search_photo(r, f->jpeg, f->jlen, &q, b, &nb, NULL, NULL), 0);
  assert_int_equal(f->calls - calls, 2); /* the stand-in served both */
  same_hits(a, na, b, nb);
  lk_engine_close(d);
  lk_engine_close(r);
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, c, &nc, NULL, NULL), 0);
  assert_int_equal(nc, 10);
  /* a closed queue: searches fail with LK_EINTR, on every engine sharing it */
  lk_engine *d2 = NULL;
  assert_int_equal(lk_engine_derive(f->e, &ch, 1, &d2, NULL), 0);
  lk_engine_close_queue(d2);
  lk_errbuf eb = {0};
  lk_search_info info;
  assert_int_equal(lk_engine_search_photo(f->e, f->jpeg, f->jlen, &q, c, &nc, &info, &eb), LK_EINTR);
  assert_int_equal(info.stage, LK_SEARCH_EMBED);
  lk_engine_close(d2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_photo_equals_pixels), cmocka_unit_test(test_crop),
      cmocka_unit_test(test_errors),              cmocka_unit_test(test_filter_and_garment),
      cmocka_unit_test(test_multi_crop),          cmocka_unit_test(test_collapse_groups),
      cmocka_unit_test(test_allowed_rows),
      cmocka_unit_test(test_pool_shared), /* last: it closes the queue */
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
