/* bench/catalog_bench.c — a big SQLite catalog for the saved-index start benchmark
 * (run before bench/saved_index.sh; docs/PERFORMANCE.md "Saved index"): OUT, a copy of a tuned catalog,
 * gets items until it holds N, each drawn around a real item (search_common.h's generator, as
 * `search_bench ivf` and big_bench draw them): the real item's fields (so filters and the
 * label prior work), a new id, path and hash, and a vector near the real one. Not a test.
 *   catalog_bench --db OUT --n 1000000 [--seed 1] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "util/array.h"
#include "util/err.h"

#include "search_common.h"

typedef struct items {
  lk_item *it;
  size_t n, cap;
} items;

static int item_cb(void *ctx, const lk_item *it) {
  items *a = ctx;
  if (LK_ARRAY_RESERVE(a->it, a->cap, a->n + 1, 1024)) return LK_ENOMEM;
  return lk_item_copy(&a->it[a->n++], it);
}

int main(int argc, char **argv) {
  /* (search_common.h's arg() skips a subcommand; this program has none) */
  const char *db = arg(argc + 1, argv - 1, "--db", NULL);
  long n = atol(arg(argc + 1, argv - 1, "--n", "1000000")), seed = atol(arg(argc + 1, argv - 1, "--seed", "1"));
  if (!db || n <= 0) {
    fprintf(stderr, "usage: catalog_bench --db OUT (a copy of a tuned catalog) --n ITEMS [--seed S]\n");
    return 2;
  }
  vecs a;
  items its = {0};
  lk_catalog *c;
  lk_errbuf eb = {0};
  if (load(db, &a) || lk_catalog_open(db, LK_CATALOG_CREATE, &c, &eb) || lk_catalog_foreach_item(c, item_cb, &its)) {
    fprintf(stderr, "%s: %s\n", db, eb.msg[0] ? eb.msg : "cannot read");
    return 1;
  }
  gen g;
  double nn;
  if (gen_init(&g, &a, 0, &nn)) return 1;
  int64_t next = its.it[its.n - 1].id + 1;
  size_t have = its.n;
  float *v = malloc(sizeof(float) * (size_t)a.dim);
  /* parents: the items with a vector (a.ids), found among its (both in id order) */
  size_t *pos = malloc(sizeof *pos * a.n);
  for (size_t i = 0, j = 0; i < a.n; i++) {
    while (its.it[j].id < a.ids[i]) j++;
    pos[i] = j;
  }
  double t0 = now();
  int rc = lk_catalog_begin(c);
  for (size_t r = have; !rc && r < (size_t)n; r++) {
    size_t p = gen_row(&g, (uint64_t)seed, r, v);
    lk_item it = its.it[pos[p]];
    char path[64], hash[65];
    snprintf(path, sizeof path, "synthetic/%zu.jpg", r);
    snprintf(hash, sizeof hash, "%064zx", r);
    it.id = next++;
    it.path = path;
    it.hash = hash;
    if (!(rc = lk_catalog_put_item(c, &it))) rc = lk_catalog_put_vector(c, it.id, v, a.dim);
    if (!rc && (r + 1) % 20000 == 0) {
      if (!(rc = lk_catalog_commit(c))) rc = lk_catalog_begin(c);
      fprintf(stderr, "\r%zu items, %.0f s", r + 1, now() - t0);
    }
  }
  if (!rc) rc = lk_catalog_commit(c);
  if (rc) fprintf(stderr, "\n%s: %s\n", db, lk_catalog_errmsg(c));
  else fprintf(stderr, "\n%s: %ld items (%zu real), neighbour cosine %.3f, written in %.0f s\n", db, n, have, nn, now() - t0);
  lk_catalog_close(c);
  return rc ? 1 : 0;
}
