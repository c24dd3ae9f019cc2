/* map/store.h — a catalog map layout and its place in the catalog: meta key "map" holds
 * JSON {"version":1, "recipe_id", "count", "ids_sha256", "perplexity", "iters", "seed",
 * "ids":[...], "xy":[x0,y0,x1,y1,...]}. The signature (recipe id, count, SHA-256 of the ids
 * as little-endian int64) tells whether the layout still belongs to the catalog. */
#ifndef LK_MAP_STORE_H
#define LK_MAP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "util/err.h"

#define LK_MAP_VERSION 1
#define LK_MAP_META_KEY "map"

typedef struct lk_map_layout {
  size_t n;
  int64_t *ids;           /* n ids, ascending (owned) */
  float *xy;              /* 2n coordinates (owned) */
  char recipe_id[17];
  char ids_sha256[65];
  double perplexity;
  int iters;
  uint64_t seed;
} lk_map_layout;

/* Frees ids and xy and zeroes the struct; NULL-safe. */
void lk_map_layout_free(lk_map_layout *l);
/* SHA-256 (hex) of n ids as little-endian int64. */
void lk_map_ids_sha256(const int64_t *ids, size_t n, char out[65]);
/* 1 when l was made from a catalog with this recipe id and exactly these ids. */
int lk_map_layout_matches(const lk_map_layout *l, const char *recipe_id, const int64_t *ids, size_t n);

/* JSON text (caller frees) of a layout; and back, validated (LK_ECORRUPT with a message). */
int lk_map_layout_to_json(const lk_map_layout *l, char **out, lk_errbuf *err);
int lk_map_layout_from_json(const char *text, lk_map_layout *l, lk_errbuf *err);

/* Stores (replacing) / loads the catalog's layout. load: LK_ENOTFOUND when there is none. */
int lk_map_store_save(lk_catalog *c, const lk_map_layout *l, lk_errbuf *err);
int lk_map_store_load(lk_catalog *c, lk_map_layout *l, lk_errbuf *err);

#endif
