/* fuzz/fuzz_catalog.c — fuzz target for catalog files (catalog/catalog.c over SQLite, and the
 * search engine that loads one): the bytes are written to a private temporary file, opened
 * read-only, checked (lk_catalog_check), read item by item and vector by vector, its stored map
 * loaded, then loaded by lk_engine_open and searched. A damaged or hostile file must fail with an error code and a
 * message, never crash or hang; text read back is UTF-8 whatever the file holds. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "map/store.h"
#include "search/engine.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];

static void cleanup(void) {
  char p[128];
  static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
  if (dir[0]) rmdir(dir);
}

/* Text handed out is valid UTF-8 whatever bytes the file holds (the path excepted). */
static void utf8_or_abort(const char *s) {
  char *same;
  if (s && lk_utf8_decode(s, LK_ENC_UTF8, &same, NULL, NULL)) abort();
}

static int item_cb(void *ctx, const lk_item *it) {
  size_t *n = ctx;
  (*n)++;
  if (it->path) (void)strlen(it->path);
  for (int i = 0; i < LK_NFIELDS; i++) utf8_or_abort(it->field[i]);
  utf8_or_abort(it->extra);
  utf8_or_abort(it->error);
  return *n > 100000 ? 1 : 0;
}

static int vector_cb(void *ctx, int64_t id, const float *v, int dim) {
  size_t *n = ctx;
  if (dim <= 0 || !v) abort(); /* the reader hands out only well-formed vectors */
  volatile float x = v[0] + v[dim - 1];
  (void)x;
  (*n)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lk-fuzzcat-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/c.db", dir);
    atexit(cleanup);
  }
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  lk_catalog *c = NULL;
  lk_errbuf eb = {0};
  int rc = lk_catalog_open(path, LK_CATALOG_READONLY, &c, &eb);
  if (rc) {
    if (rc > 0 || !*lk_err_msg(&eb)) abort();
  } else {
    size_t ni = 0, nv = 0;
    int64_t items, vectors, errors;
    lk_catalog_check(c, &eb);
    lk_catalog_counts(c, &items, &vectors, &errors);
    lk_catalog_foreach_item(c, item_cb, &ni);
    lk_catalog_foreach_vector(c, vector_cb, &nv);
    char *recipe = NULL;
    if (lk_catalog_get_meta(c, "recipe", &recipe) == 0) free(recipe);
    lk_map_layout l = {0}; /* the stored map, as GET /api/map reads it */
    lk_map_store_load(c, &l, &eb);
    lk_map_layout_free(&l);
    lk_catalog_close(c);
    lk_engine_opts o;
    lk_engine_opts_default(&o);
    o.lazy_model = 1;
    lk_engine *e = NULL;
    if (lk_engine_open(path, &o, &e, &eb) == 0) {
      int dim = lk_engine_dim(e);
      if (dim > 0 && dim <= 65536 && lk_engine_size(e) > 0) {
        float *q = calloc((size_t)dim, sizeof *q);
        lk_hit hits[5];
        int n = 0;
        if (q) {
          q[0] = 1;
          if (lk_engine_search_vector(e, q, NULL, 5, -1, hits, &n, &eb) == 0 && (n < 0 || n > 5)) abort();
          free(q);
        }
        if (lk_engine_item_count(e) > 0) lk_engine_similar(e, lk_engine_item_at(e, 0)->id, NULL, 5, hits, &n, &eb);
      }
      lk_engine_close(e);
    }
  }
  char p[128];
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
  return 0;
}
