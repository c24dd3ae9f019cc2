/* tests/test_alloc.c — allocation-failure torture of the public API (SQLite's "malloc test"):
 * linked with -Wl,--wrap=malloc,... (Makefile) so that only lookalike's own allocations pass
 * through the wrappers below, each operation runs with the N-th allocation failing (and every
 * later one: a persistent failure), N = 1, 2, ... until it succeeds. Each run must return a
 * negative code (no crash, no silent success) and free everything it allocated (the wrappers
 * keep the set of live pointers; LeakSanitizer checks the rest in the ASan build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/csv.h"
#include "catalog/keys.h"
#include "embed/embed.h"
#include "embed/recipe.h"
#include "image/image.h"
#include "index/index.h"
#include "ingest/ingest.h"
#include "nn/model.h"
#include "search/engine.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/server.h"
#include "testutil.h"

/* ---------------------------------------------------------------- the wrappers */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);

#define SLOTS (1u << 18) /* live pointers tracked at once */
#define TOMB ((void *)1)
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void **live;       /* open addressing set of pointers allocated while tracking */
static void **site;       /* where each was allocated (return address), for the leak report */
static size_t nlive;
static int tracking;      /* counting and tracking on */
static long count;        /* allocations seen while tracking */
static long fail_at;      /* 0 = never; else the first allocation to fail */
static long injected;     /* failures injected */

static size_t slot_of(void *p) { return ((uintptr_t)p >> 4) * 2654435761u & (SLOTS - 1); }

static void live_add(void *p, void *from) {
  size_t i = slot_of(p);
  while (live[i] && live[i] != TOMB) i = (i + 1) & (SLOTS - 1);
  if (++nlive > SLOTS / 2) abort(); /* the test's own limit, not the library's */
  live[i] = p;
  site[i] = from;
}

/* Prints where the pointers still live were allocated (addr2line -e test_alloc ADDR). */
static void live_report(void) {
  for (size_t i = 0; i < SLOTS; i++)
    if (live[i] && live[i] != TOMB) {
      Dl_info di;
      uintptr_t base = dladdr(site[i], &di) ? (uintptr_t)di.dli_fbase : 0;
      print_message("  not freed: allocated at %s+0x%lx (addr2line -e)\n", base ? di.dli_fname : "?",
                    (unsigned long)((uintptr_t)site[i] - base));
    }
}

static void live_del(void *p) {
  for (size_t i = slot_of(p), n = 0; live[i] && n < SLOTS; i = (i + 1) & (SLOTS - 1), n++)
    if (live[i] == p) {
      live[i] = TOMB;
      nlive--;
      return;
    }
}

/* Counts one allocation; 1 when it must fail. Called with mu held. */
static int should_fail(void) {
  if (!tracking) return 0;
  count++;
  if (fail_at && count >= fail_at) {
    injected++;
    return 1;
  }
  return 0;
}

#define WRAP(call)                \
  pthread_mutex_lock(&mu);                    \
  if (should_fail()) {                        \
    pthread_mutex_unlock(&mu);                \
    return NULL;                              \
  }                                           \
  void *p = call;                             \
  if (p && tracking) live_add(p, __builtin_return_address(0)); \
  pthread_mutex_unlock(&mu);                  \
  return p;

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n) { WRAP(__real_malloc(n)) }
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m) { WRAP(__real_calloc(n, m)) }
void *__wrap_aligned_alloc(size_t a, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n) { WRAP(__real_aligned_alloc(a, n)) }
char *__wrap_strdup(const char *s);
char *__wrap_strdup(const char *s) { WRAP(__real_strdup(s)) }

void *__wrap_realloc(void *old, size_t n);
void *__wrap_realloc(void *old, size_t n) {
  pthread_mutex_lock(&mu);
  if (n && should_fail()) {
    pthread_mutex_unlock(&mu);
    return NULL;
  }
  void *p = __real_realloc(old, n);
  if (p || !n) {
    if (old && tracking) live_del(old);
    if (p && tracking) live_add(p, __builtin_return_address(0));
  }
  pthread_mutex_unlock(&mu);
  return p;
}

void __wrap_free(void *p);
void __wrap_free(void *p) {
  if (!p) return;
  pthread_mutex_lock(&mu);
  if (tracking) live_del(p);
  __real_free(p);
  pthread_mutex_unlock(&mu);
}

/* ---------------------------------------------------------------- the driver */

typedef int (*op_fn)(void *ctx);

/* Runs op with allocation N = 1, 2, ... failing (and every later one) until it succeeds; each
 * failing run must return LK_ENOMEM and leave nothing allocated. Past N = 200 the step grows
 * (about 100 more points over the rest) so that big operations stay bounded; at most max_runs
 * runs. Returns the runs made. */
static long torture(const char *name, op_fn op, void *ctx, long max_runs) {
  long n = 1, runs = 0, step = 1;
  for (;;) {
    pthread_mutex_lock(&mu);
    memset(live, 0, SLOTS * sizeof *live);
    nlive = 0, count = 0, injected = 0, fail_at = n, tracking = 1;
    pthread_mutex_unlock(&mu);
    int rc = op(ctx);
    pthread_mutex_lock(&mu);
    tracking = 0;
    long inj = injected, seen = count;
    size_t left = nlive;
    pthread_mutex_unlock(&mu);
    runs++;
    if (left) live_report();
    if (left) fail_msg("%s: allocation %ld failing: %zu allocations not freed (rc %d)", name, n, left, rc);
    if (!inj) {
      if (rc != 0) fail_msg("%s: fails (%d) with no allocation failure injected", name, rc);
      print_message("%s: %ld allocations; failing each in turn%s: %ld runs, all LK_ENOMEM, no leak\n", name,
                    seen, step > 1 ? " (every one up to 200, then 1 in step)" : "", runs - 1);
      return runs;
    }
    if (rc == 0) fail_msg("%s: allocation %ld failed, yet the call reports success", name, n);
    if (rc > 0) fail_msg("%s: allocation %ld failing: positive code %d", name, n, rc);
    if (rc != LK_ENOMEM) fail_msg("%s: allocation %ld failing gives %d (%s), not LK_ENOMEM", name, n, rc, lk_strerror(rc));
    if (runs >= max_runs) fail_msg("%s: still failing after %ld runs (N = %ld)", name, runs, n);
    if (n >= 200) step = seen / 100 > 1 ? seen / 100 : 1; /* ~100 more points over the rest */
    n += step;
  }
}

/* ---------------------------------------------------------------- the operations */

static uint8_t *slurp(const char *path, size_t *len) {
  uint8_t *b = lk_test_read_file(path, len);
  if (!b) fail_msg("cannot read %s (run from the repository root)", path);
  return b;
}

typedef struct blob {
  uint8_t *data;
  size_t len;
} blob;

static int op_csv(void *ctx) {
  blob *b = ctx;
  lk_csv_limits lim = {.max_field = 1024, .max_fields = 64, .max_rows = 1000};
  lk_csv *c;
  int rc = lk_csv_open_buffer((const char *)b->data, b->len, &lim, &c, NULL);
  if (rc) return rc;
  char **f;
  int nf;
  while ((rc = lk_csv_next(c, &f, &nf)) == 1) {}
  lk_csv_close(c);
  return rc;
}

static int op_image(void *ctx) {
  blob *b = ctx;
  lk_image_limits lim = {.max_bytes = 1 << 24, .max_pixels = 1 << 24, .max_side = 8192, .max_scans = 100};
  lk_image im, small, sq;
  int rc = lk_image_decode(b->data, b->len, &lim, 0, &im, NULL);
  if (rc) return rc;
  if (!(rc = lk_image_resize(&im, 31, 17, &small))) {
    if (!(rc = lk_image_pad_square(&small, 255, 255, 255, &sq))) lk_image_free(&sq);
    lk_image_free(&small);
  }
  lk_image_free(&im);
  return rc;
}

static int op_recipe(void *ctx) {
  blob *b = ctx;
  lk_recipe r, copy;
  int rc = lk_recipe_from_json((const char *)b->data, &r, NULL);
  if (rc) return rc;
  char *js = lk_recipe_to_json(&r);
  if (!js) rc = LK_ENOMEM;
  free(js);
  if (!rc && !(rc = lk_recipe_copy(&copy, &r))) lk_recipe_clear(&copy);
  lk_recipe_clear(&r);
  return rc;
}

static int op_model(void *ctx) {
  blob *b = ctx;
  lk_model *m;
  int rc = lk_model_load_buffer(b->data, b->len, &m, NULL);
  if (rc) return rc;
  int h, w, nt = lk_model_tensor_count(m);
  lk_model_input_hw(m, &h, &w);
  lk_tap tap = {lk_model_tensor_name(m, nt - 1), LK_POOL_AVG, 3};
  lk_session_opts o;
  lk_session_opts_default(&o);
  o.backend = LK_BACKEND_REF;
  lk_session *s;
  if (!(rc = lk_session_new(m, &tap, 1, &o, &s, NULL))) {
    uint8_t px[64 * 64 * 3];
    float out[4096];
    if ((size_t)h * w * 3 <= sizeof px && lk_session_dim(s) <= 4096) {
      for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
      rc = lk_session_run(s, px, 1, out, NULL);
    }
    lk_session_free(s);
  }
  lk_model_free(m);
  return rc;
}

static int op_index(void *ctx) {
  (void)ctx;
  enum { D = 24, NV = 300 };
  lk_index *ix;
  int rc = lk_index_new(D, &ix);
  if (rc) return rc;
  float v[D];
  for (int i = 0; i < NV && !rc; i++) {
    for (int d = 0; d < D; d++) v[d] = (float)((i * 31 + d * 17) % 23) - 11.f;
    rc = lk_index_add(ix, i, v);
  }
  lk_hit hits[10];
  int nf;
  if (!rc) rc = lk_index_search(ix, v, 1, 10, NULL, -1, hits, &nf);
  lk_index_free(ix);
  return rc;
}

typedef struct dbctx {
  const char *dir;
  char db[512];
} dbctx;

static int op_catalog_write(void *ctx) {
  dbctx *d = ctx;
  char p[600];
  snprintf(p, sizeof p, "%s/w.db", d->dir);
  unlink(p);
  lk_catalog *c;
  int rc = lk_catalog_open(p, LK_CATALOG_CREATE, &c, NULL);
  if (rc) return rc;
  if ((rc = lk_catalog_set_meta(c, "recipe", "{\"format\":1}")) || (rc = lk_catalog_begin(c))) goto out;
  for (int i = 1; i <= 5 && !rc; i++) {
    lk_item it = {.id = i, .path = "x.jpg", .hash = "abc", .status = "ok"};
    it.field[0] = "Women";
    it.field[8] = "A name, quoted \"x\"";
    float v[8] = {1, 2, 3, 4, 5, 6, 7, (float)i};
    if (!(rc = lk_catalog_put_item(c, &it))) rc = lk_catalog_put_vector(c, i, v, 8);
  }
  if (!rc) rc = lk_catalog_commit(c);
  else lk_catalog_rollback(c);
  lk_item back = {0};
  if (!rc && !(rc = lk_catalog_get_item(c, 3, &back))) lk_item_clear(&back);
  char *meta = NULL;
  if (!rc && !(rc = lk_catalog_get_meta(c, "recipe", &meta))) free(meta);
out:
  lk_catalog_close(c);
  return rc;
}

/* API keys: add two, revoke one, load and look them up, and the server's checker (opened, so
 * it reads them; its later refreshes keep the keys read last on failure, by design). */
static int op_keys(void *ctx) {
  dbctx *d = ctx;
  char p[600], k1[LK_KEYS_LEN], k2[LK_KEYS_LEN], msg[256];
  snprintf(p, sizeof p, "%s/k.db", d->dir);
  unlink(p);
  lk_catalog *c;
  int64_t id;
  int rc = lk_catalog_open(p, LK_CATALOG_CREATE, &c, NULL);
  if (rc) return rc;
  lk_keys_set *set = NULL;
  if ((rc = lk_keys_add(c, LK_KEYS_READ, "shop", k1, &id, NULL)) || (rc = lk_keys_add(c, LK_KEYS_WRITE, NULL, k2, &id, NULL)) ||
      (rc = lk_keys_revoke(c, "shop", NULL)) || (rc = lk_keys_load(c, &set, NULL)))
    goto out;
  if (lk_keys_find(set, k2, strlen(k2), NULL) != LK_KEYS_WRITE || lk_keys_find(set, k1, strlen(k1), NULL) != LK_KEYS_NONE)
    fail_msg("keys: lookup after a successful load is wrong");
  lk_auth *a;
  if ((rc = lk_auth_open(p, 3600, &a, NULL))) goto out;
  char hdr[80];
  snprintf(hdr, sizeof hdr, "Bearer %s", k2);
  if (lk_auth_check(a, hdr, LK_KEYS_WRITE, NULL, msg, sizeof msg) != 0) fail_msg("keys: auth check refused a valid key");
  lk_auth_free(a);
out:
  lk_keys_set_free(set);
  lk_catalog_close(c);
  return rc;
}

/* The search engine on a 3-item catalog of the `color` recipe (no model file needed): open,
 * then the API's JSON endpoints, a photo search included (decode, colour embedding, k-NN). */
typedef struct enginectx {
  const char *db;
  blob photo;
} enginectx;

static int op_engine(void *ctx) {
  enginectx *x = ctx;
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  lk_engine *e;
  int rc = lk_engine_open(x->db, &o, &e, NULL);
  if (rc) return rc;
  lk_api_params p;
  lk_api_params_init(&p);
  lk_api_reply r;
  lk_image_limits lim = {.max_bytes = 1 << 24, .max_pixels = 1 << 24, .max_side = 8192, .max_scans = 100};
  json_t *facets = NULL;
  /* The endpoints turn an allocation failure into a 500 reply (or LK_ENOMEM without a body). */
#define REPLY(call)                                                  \
  if (!rc) {                                                         \
    rc = call;                                                       \
    if (!rc && r.status >= 500) rc = LK_ENOMEM;                      \
    else if (!rc && r.status != 200) {                               \
      char *t = json_dumps(r.body, 0);                               \
      print_message("unexpected %d: %s\n", r.status, t ? t : "");    \
      free(t);                                                       \
      rc = LK_EINVAL;                                                \
    }                                                                \
    json_decref(r.body);                                             \
  }
  REPLY(lk_api_search(e, x->photo.data, x->photo.len, &lim, &p, &r))
  REPLY(lk_api_items(e, 0, 10, 0, 0, &r))
  int64_t id = -1; /* a searchable item */
  for (size_t i = 0; i < lk_engine_item_count(e) && id < 0; i++)
    if (lk_engine_vector(e, lk_engine_item_at(e, i)->id)) id = lk_engine_item_at(e, i)->id;
  REPLY(lk_api_item(e, id, &r))
  REPLY(lk_api_similar(e, id, &p, &r))
  if (!rc) rc = lk_api_facets(e, &facets);
  json_decref(facets);
  facets = NULL;
  lk_filter f = {0}; /* the start page's products and the menus' counts within a filter */
  lk_errbuf eb = {0};
  if (!rc) rc = lk_filter_add_kv(&f, "gender", "Men", &eb);
  REPLY(lk_api_items_where(e, &f, 0, 10, 2, 7, &r))
  if (!rc) rc = lk_api_facets_where(e, &f, &facets);
  json_decref(facets);
  lk_engine_close(e);
  return rc;
}

/* Live changes (search/engine.h): derive twice (a new item with an old one's vector, a
 * deletion), read and search the derived engine, rebuild it whole and rebase onto that. */
static int op_live(void *ctx) {
  enginectx *x = ctx;
  lk_engine *e = NULL, *d1 = NULL, *d2 = NULL, *full = NULL, *re = NULL;
  int rc = lk_engine_open(x->db, NULL, &e, NULL);
  if (rc) return rc;
  const lk_item *first = NULL; /* the first with a vector */
  for (size_t i = 0; !first && i < lk_engine_item_count(e); i++)
    if (lk_engine_vector(e, lk_engine_item_at(e, i)->id)) first = lk_engine_item_at(e, i);
  const float *v = lk_engine_vector(e, first->id);
  lk_item it = *first;
  it.id = 1000000;
  lk_engine_change a[2] = {{first->id, NULL, NULL, 0}, {it.id, &it, v, lk_engine_dim(e)}};
  lk_engine_change b = {it.id, &it, NULL, 0};
  lk_hit h[5];
  int n = 0;
  if (!(rc = lk_engine_derive(e, a, 2, &d1, NULL)) && !(rc = lk_engine_derive(d1, &b, 1, &d2, NULL)) &&
      !(rc = lk_engine_search_vector(d1, v, NULL, 5, -1, h, &n, NULL)) &&
      !(rc = lk_engine_rebuild(d1, NULL, &full, NULL)))
    rc = lk_engine_rebase(full, d1, d2, &re, NULL);
  for (size_t i = 0; !rc && d2 && i < lk_engine_item_count(d2); i++)
    if (!lk_engine_item_at(d2, i)) rc = LK_ECORRUPT;
  lk_engine_close(re);
  lk_engine_close(full);
  lk_engine_close(d2);
  lk_engine_close(d1);
  lk_engine_close(e);
  return rc;
}

/* The IVF engine (--index ivf on 80 items; built, or mapped from the saved index when the
 * file is there): a search filtered through its facet columns, the same on a derived engine
 * that deleted a passing item. (The save itself is left out: its fsync per run is slow.) */
static int op_ivf(void *ctx) {
  const char *db = ctx;
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_engine *e = NULL, *d = NULL;
  lk_filter f = {0};
  lk_hit h[5];
  int n = 0, rc = lk_filter_add_kv(&f, "gender", "Women", NULL);
  if (!rc) rc = lk_engine_open(db, &o, &e, NULL);
  const float *v = e ? lk_engine_vector(e, 1) : NULL; /* (item 1: Women) */
  lk_engine_change del = {1, NULL, NULL, 0};
  if (!rc) rc = lk_engine_search_vector(e, v, &f, 5, -1, h, &n, NULL);
  if (!rc) rc = lk_engine_derive(e, &del, 1, &d, NULL);
  if (!rc) rc = lk_engine_search_vector(d, v, &f, 5, -1, h, &n, NULL);
  lk_engine_close(d);
  lk_engine_close(e);
  return rc;
}

/* The server's start (metrics, facets, asset tags, the daemon) and stop, on a loaded engine. */
static int op_server(void *ctx) {
  lk_engine *e = ctx;
  lk_server_opts o;
  lk_server_opts_default(&o);
  o.port = 0;
  o.threads = 2;
  lk_server *s;
  int rc = lk_server_start(e, &o, &s, NULL);
  if (!rc) lk_server_stop(s);
  return rc;
}

/* The indexing pass (`lookalike index`) over 3 photos, 1 bad one and their styles rows, into
 * a new catalog, one worker. */
typedef struct ingestctx {
  const char *dir;
} ingestctx;

static int op_ingest(void *ctx) {
  ingestctx *x = ctx;
  char db[600], img[600], csv[600];
  snprintf(db, sizeof db, "%s/i.db", x->dir);
  snprintf(img, sizeof img, "%s/img", x->dir);
  snprintf(csv, sizeof csv, "%s/styles.csv", x->dir);
  unlink(db);
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  lk_ingest_opts o;
  lk_ingest_opts_default(&o);
  o.images_dir = img;
  o.styles_csv = csv;
  o.db_path = db;
  o.recipe = &r;
  o.workers = 1;
  lk_ingest_stats st;
  int rc = lk_ingest_run(&o, &st, NULL);
  if (!rc && st.embedded != 3) rc = LK_ECORRUPT; /* a photo silently lost */
  return rc;
}

/* ---------------------------------------------------------------- the tests */

static void t_csv(void **state) {
  blob b;
  b.data = slurp("fuzz/corpus/csv/products.csv", &b.len);
  torture("csv", op_csv, &b, 5000);
  free(b.data);
}

static void t_images(void **state) {
  static const char *const files[] = {"baseline.jpg", "progressive.jpg", "cmyk.jpg", "exif6.jpg",
                                      "rgb.png", "palette_trns.png", "gray16.png", "lossy.webp",
                                      "lossless_alpha.webp"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    blob b;
    b.data = slurp(lk_test_path("fuzz/corpus/image/%s", files[i]), &b.len);
    torture(lk_test_path("image decode %s", files[i]), op_image, &b, 5000);
    free(b.data);
  }
}

static void t_recipe(void **state) {
  static const char *const files[] = {"projection.json"}; /* the others allocate only in jansson */
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    blob b;
    b.data = slurp(lk_test_path("fuzz/corpus/recipe/%s", files[i]), &b.len);
    uint8_t *z = realloc(b.data, b.len + 1); /* NUL-terminated text */
    assert_non_null(z);
    z[b.len] = 0;
    b.data = z;
    torture(lk_test_path("recipe %s", files[i]), op_recipe, &b, 5000);
    free(b.data);
  }
}

static void t_model(void **state) {
  static const char *const files[] = {"tiny_conv_pool_softmax.tflite", "all_ops.tflite"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    blob b;
    b.data = slurp(lk_test_path("fuzz/corpus/tflite/%s", files[i]), &b.len);
    torture(lk_test_path("model load + session %s", files[i]), op_model, &b, 5000);
    free(b.data);
  }
}

static void t_index(void **state) { torture("index add + search", op_index, NULL, 5000); }

static void t_catalog(void **state) {
  dbctx d = {0};
  char *dir = lk_test_mkdtemp();
  d.dir = dir;
  torture("catalog create + write + read", op_catalog_write, &d, 5000);
  torture("keys add, revoke, load, find; auth open + check", op_keys, &d, 5000);
  lk_test_rmtree(dir);
  free(dir);
}

static void t_engine(void **state) {
  char *dir = lk_test_mkdtemp();
  size_t n;
  uint8_t *cat = slurp("fuzz/corpus/catalog/color3.db", &n);
  const char *db = lk_test_path("%s/e.db", dir);
  assert_int_equal(lk_test_write_file(db, cat, n), 0);
  free(cat);
  enginectx x = {db, {0}};
  x.photo.data = slurp("fuzz/corpus/image/baseline.jpg", &x.photo.len);
  torture("engine open + API search, items, item, similar, facets (whole and within a filter)", op_engine, &x, 5000);
  torture("engine derive, search, rebuild, rebase", op_live, &x, 5000);
  free(x.photo.data);
  lk_test_rmtree(dir);
  free(dir);
}

static void t_ivf(void **state) {
  char *dir = lk_test_mkdtemp();
  char db[600];
  snprintf(db, sizeof db, "%s/v.db", dir);
  struct lk_catalog *c = lk_test_catalog_new(db);
  assert_non_null(c);
  static const char *genders[] = {"Men", "Women", "Boys", "Girls"};
  srand(5);
  for (int i = 0; i < 80; i++) {
    lk_item it = {.id = i, .path = "p.jpg", .status = "ok"};
    it.field[0] = (char *)genders[i % 4];
    it.field[3] = i % 3 ? "Shirts" : "Jeans";
    float v[16];
    lk_test_unit_vector(v, 16);
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, i, v, 16), 0);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  torture("IVF engine built: facet-filtered search, derived", op_ivf, db, 5000);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_engine *e = NULL;
  assert_int_equal(lk_engine_open(db, &o, &e, NULL), 0);
  assert_int_equal(lk_engine_save_index(e, lk_test_path("%s.lkx", db), NULL), 0);
  lk_engine_close(e);
  torture("IVF engine mapped from its saved index: facet-filtered search, derived", op_ivf, db, 5000);
  lk_test_rmtree(dir);
  free(dir);
}

static void t_server(void **state) {
  char *dir = lk_test_mkdtemp();
  size_t n;
  uint8_t *cat = slurp("fuzz/corpus/catalog/color3.db", &n);
  const char *db = lk_test_path("%s/s.db", dir);
  assert_int_equal(lk_test_write_file(db, cat, n), 0);
  free(cat);
  lk_engine *e;
  assert_int_equal(lk_engine_open(db, NULL, &e, NULL), 0);
  torture("server start + stop", op_server, e, 5000);
  lk_engine_close(e);
  lk_test_rmtree(dir);
  free(dir);
}

static void t_ingest(void **state) {
  char *dir = lk_test_mkdtemp();
  const char *img = lk_test_path("%s/img", dir);
  assert_int_equal(mkdir(img, 0755), 0);
  static const char *const photos[] = {"baseline.jpg", "rgb.png", "lossy.webp"};
  const char *ext[] = {"jpg", "png", "webp"};
  for (int i = 0; i < 3; i++) {
    size_t n;
    uint8_t *b = slurp(lk_test_path("fuzz/corpus/image/%s", photos[i]), &n);
    assert_int_equal(lk_test_write_file(lk_test_path("%s/img/%d.%s", dir, 101 + i, ext[i]), b, n), 0);
    free(b);
  }
  assert_int_equal(lk_test_write_file(lk_test_path("%s/img/104.jpg", dir), "not a photo", 11), 0);
  const char csv[] = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,"
                     "productDisplayName\n"
                     "101,Men,Apparel,Topwear,Tshirts,Black,Summer,2012,Casual,One\n"
                     "102,Women,Apparel,Topwear,Tops,Red,Summer,2012,Casual,\"Two, quoted\"\n"
                     "103,Women,Footwear,Shoes,Heels,Red,Summer,2012,Casual,Caf\xe9 three\n" /* cp1252 */
                     "104,Men,Apparel,Topwear,Tshirts,Black,Summer,2012,Casual,Bad photo\n";
  assert_int_equal(lk_test_write_file(lk_test_path("%s/styles.csv", dir), csv, sizeof csv - 1), 0);
  ingestctx x = {dir};
  torture("ingest (index) 3 photos + 1 bad", op_ingest, &x, 400);
  lk_test_rmtree(dir);
  free(dir);
}

int main(void) {
  live = __real_calloc(SLOTS, sizeof *live);
  site = __real_calloc(SLOTS, sizeof *site);
  if (!live || !site) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_csv),     cmocka_unit_test(t_images), cmocka_unit_test(t_recipe),
      cmocka_unit_test(t_model),   cmocka_unit_test(t_index),  cmocka_unit_test(t_catalog),
      cmocka_unit_test(t_engine),  cmocka_unit_test(t_ivf),    cmocka_unit_test(t_server), cmocka_unit_test(t_ingest),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  __real_free(live);
  __real_free(site);
  return rc;
}
