/* map/store.c — the catalog map layout as JSON in the catalog's meta table (map/store.h),
 * with validation of everything read back (lengths, finite numbers, ascending ids). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "map/store.h"
#include "util/hash.h"
#include "util/size.h"

void lk_map_layout_free(lk_map_layout *l) {
  if (!l) return;
  free(l->ids);
  free(l->xy);
  memset(l, 0, sizeof *l);
}

void lk_map_ids_sha256(const int64_t *ids, size_t n, char out[65]) {
  unsigned char *buf = n ? malloc(n * 8) : NULL;
  if (n && !buf) { /* cannot hash: an impossible signature */
    memset(out, '-', 64);
    out[64] = 0;
    return;
  }
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) buf[i * 8 + b] = (unsigned char)((uint64_t)ids[i] >> (8 * b));
  lk_hash_sha256_hex(buf ? (const void *)buf : "", n * 8, out);
  free(buf);
}

int lk_map_layout_matches(const lk_map_layout *l, const char *recipe_id, const int64_t *ids, size_t n) {
  if (!l || !recipe_id || l->n != n || strcmp(l->recipe_id, recipe_id)) return 0;
  char sum[65];
  lk_map_ids_sha256(ids, n, sum);
  return !strcmp(sum, l->ids_sha256);
}

int lk_map_layout_to_json(const lk_map_layout *l, char **out, lk_errbuf *err) {
  json_t *ids = json_array(), *xy = json_array();
  json_t *o = json_pack("{s:i,s:s,s:I,s:s,s:f,s:i,s:I}", "version", LK_MAP_VERSION, "recipe_id", l->recipe_id,
                        "count", (json_int_t)l->n, "ids_sha256", l->ids_sha256, "perplexity", l->perplexity,
                        "iters", l->iters, "seed", (json_int_t)l->seed);
  int rc = 0;
  if (!ids || !xy || !o) {
    rc = lk_err_set(err, LK_ENOMEM, "map: out of memory");
    goto done;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (json_array_append_new(ids, json_integer(l->ids[i])) ||
        json_array_append_new(xy, json_real(l->xy[2 * i])) ||
        json_array_append_new(xy, json_real(l->xy[2 * i + 1]))) {
      rc = lk_err_set(err, LK_ENOMEM, "map: out of memory");
      goto done;
    }
  }
  json_object_set(o, "ids", ids);
  json_object_set(o, "xy", xy);
  *out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(7));
  if (!*out) rc = lk_err_set(err, LK_ENOMEM, "map: out of memory");
done:
  json_decref(ids);
  json_decref(xy);
  json_decref(o);
  return rc;
}

int lk_map_layout_from_json(const char *text, lk_map_layout *l, lk_errbuf *err) {
  memset(l, 0, sizeof *l);
  json_error_t je;
  json_t *o = json_loads(text, 0, &je);
  if (!o) return lk_err_set(err, LK_ECORRUPT, "map layout: bad JSON: %s", je.text);
  int version = 0, iters = 0;
  json_int_t count = -1, seed = 0;
  const char *rid = NULL, *sum = NULL;
  double perp = 0;
  json_t *ids = NULL, *xy = NULL;
  int rc = 0;
  if (json_unpack_ex(o, &je, 0, "{s:i,s:s,s:I,s:s,s:F,s:i,s:I,s:o,s:o}", "version", &version, "recipe_id", &rid,
                     "count", &count, "ids_sha256", &sum, "perplexity", &perp, "iters", &iters, "seed", &seed, "ids",
                     &ids, "xy", &xy)) {
    rc = lk_err_set(err, LK_ECORRUPT, "map layout: %s", je.text);
    goto done;
  }
  if (version != LK_MAP_VERSION) {
    rc = lk_err_set(err, LK_EMISMATCH, "map layout: version %d (want %d)", version, LK_MAP_VERSION);
    goto done;
  }
  size_t n = (size_t)count, n2;
  if (count < 0 || !json_is_array(ids) || !json_is_array(xy) || json_array_size(ids) != n || lk_size_mul(n, 2, &n2) ||
      json_array_size(xy) != n2 || strlen(rid) > 16 || strlen(sum) != 64) {
    rc = lk_err_set(err, LK_ECORRUPT, "map layout: inconsistent sizes or signature");
    goto done;
  }
  l->ids = malloc((n ? n : 1) * sizeof *l->ids);
  l->xy = malloc((n ? n2 : 1) * sizeof *l->xy);
  if (!l->ids || !l->xy) {
    rc = lk_err_set(err, LK_ENOMEM, "map layout: out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(ids, i);
    if (!json_is_integer(v) || (i && json_integer_value(v) <= l->ids[i - 1])) {
      rc = lk_err_set(err, LK_ECORRUPT, "map layout: ids not ascending integers at %zu", i);
      goto done;
    }
    l->ids[i] = json_integer_value(v);
  }
  for (size_t i = 0; i < n2; i++) {
    json_t *v = json_array_get(xy, i);
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || fabs(d) > 1e30) {
      rc = lk_err_set(err, LK_ECORRUPT, "map layout: bad coordinate at %zu", i);
      goto done;
    }
    l->xy[i] = (float)d;
  }
  l->n = n;
  snprintf(l->recipe_id, sizeof l->recipe_id, "%s", rid);
  snprintf(l->ids_sha256, sizeof l->ids_sha256, "%s", sum);
  l->perplexity = perp;
  l->iters = iters;
  l->seed = (uint64_t)seed;
done:
  json_decref(o);
  if (rc) lk_map_layout_free(l);
  return rc;
}

int lk_map_store_save(lk_catalog *c, const lk_map_layout *l, lk_errbuf *err) {
  char *text = NULL;
  int rc = lk_map_layout_to_json(l, &text, err);
  if (rc) return rc;
  if ((rc = lk_catalog_begin(c))) {
    free(text);
    return lk_catalog_fail(c, rc, err, "map");
  }
  rc = lk_catalog_set_meta(c, LK_MAP_META_KEY, text);
  if (!rc) rc = lk_catalog_commit(c);
  if (rc) {
    lk_catalog_fail(c, rc, err, "map: storing the layout");
    lk_catalog_rollback(c);
  }
  free(text);
  return rc;
}

int lk_map_store_load(lk_catalog *c, lk_map_layout *l, lk_errbuf *err) {
  char *text = NULL;
  memset(l, 0, sizeof *l);
  int rc = lk_catalog_get_meta(c, LK_MAP_META_KEY, &text);
  if (rc == LK_ENOTFOUND) return lk_err_set(err, rc, "the catalog has no map (run `lookalike map`)");
  if (rc) return lk_catalog_fail(c, rc, err, "map");
  rc = lk_map_layout_from_json(text, l, err);
  free(text);
  return rc;
}
