/* server/api.c — the JSON endpoints (see api.h): parameter parsing, photo search with its
 * stage timings, item details, neighbours, facets, the stored map and health. Library error codes map to
 * HTTP statuses here and only here. */
#include "server/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "embed/recipe.h"
#include "map/store.h"
#include "search/calibrate.h"
#include "search/collapse.h"
#include "search/query.h"
#include "search/results.h"
#include "util/rng.h"
#include "util/size.h"
#include "util/clock.h"

/* Fields offered as facets (the others, year and productDisplayName, are not browsable). */
static const char *const FACETS[] = {"gender", "masterCategory", "subCategory", "articleType",
                                     "baseColour", "season", "usage"};
#define NFACETS (int)(sizeof FACETS / sizeof FACETS[0])

void lk_api_params_init(lk_api_params *p) {
  memset(p, 0, sizeof *p);
  p->k = LK_API_DEFAULT_K;
}

/* Strict decimal int in [lo, hi]: digits only, optional leading '-'. */
static int parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  if (!*s || (*s != '-' && (*s < '0' || *s > '9'))) return -1;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int parse_crop(const char *s, int c[4]) {
  char tmp[LK_API_MAX_VALUE];
  snprintf(tmp, sizeof tmp, "%s", s);
  char *save = NULL, *tok = strtok_r(tmp, ",", &save);
  for (int i = 0; i < 4; i++) {
    if (!tok || parse_int(tok, i < 2 ? -1000000 : 1, 1000000, &c[i])) return -1;
    tok = strtok_r(NULL, ",", &save);
  }
  return tok ? -1 : 0;
}

int lk_api_param(lk_api_params *p, const char *name, const char *value, lk_errbuf *err) {
  if (!value) value = "";
  if (strlen(value) >= LK_API_MAX_VALUE)
    return lk_err_set(err, LK_ETOOBIG, "parameter '%.40s' is longer than %d bytes", name, LK_API_MAX_VALUE - 1);
  if (!strcmp(name, "k")) {
    if (parse_int(value, 1, LK_API_MAX_K, &p->k))
      return lk_err_set(err, LK_EINVAL, "k must be an integer in 1..%d", LK_API_MAX_K);
    return 0;
  }
  if (!strcmp(name, "crop")) {
    if (!*value) return 0;
    if (parse_crop(value, p->crop))
      return lk_err_set(err, LK_EINVAL, "crop must be x,y,w,h in pixels of the photo (w, h > 0)");
    p->has_crop = 1;
    return 0;
  }
  if (!strcmp(name, "multicrop")) {
    if (!*value || !strcmp(value, "0") || !strcmp(value, "false")) p->multi_crop = 0;
    else if (!strcmp(value, "1") || !strcmp(value, "true")) p->multi_crop = 1;
    else return lk_err_set(err, LK_EINVAL, "multicrop must be 0 or 1");
    return 0;
  }
  if (!strcmp(name, "collapse")) {
    if (lk_collapse_parse(value, &p->collapse))
      return lk_err_set(err, LK_EINVAL, "collapse must be none, duplicates or variants (got '%.40s')", value);
    return 0;
  }
  if (!strcmp(name, "where")) return *value ? lk_filter_add_where(&p->filter, value, err) : 0;
  if (lk_filter_field(name) < 0)
    return lk_err_set(err, LK_EINVAL, "unknown parameter '%.60s' (expected k, crop, multicrop, collapse, where or a "
                      "field: gender, masterCategory, subCategory, articleType, baseColour, season, year, usage, "
                      "productDisplayName)", name);
  if (!*value) return 0;
  return lk_filter_add_kv(&p->filter, name, value, err);
}

int lk_api_error(lk_api_reply *r, int status, const char *fmt, ...) {
  char msg[LK_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Messages may quote request bytes; JSON strings must be UTF-8: keep printable ASCII. */
  for (char *c = msg; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) *c = '?';
  json_decref(r->body);
  r->status = status;
  r->body = json_pack("{s:s}", "error", msg);
  return r->body ? 0 : LK_ENOMEM;
}

/* {"gender":["Women"], ...}: the filter as applied, for the client to show. */
static json_t *filter_json(const lk_filter *f) {
  json_t *o = json_object();
  if (!o) return NULL;
  for (int i = 0; i < f->n; i++) {
    const char *name = lk_catalog_fields[f->cond[i].field];
    json_t *arr = json_object_get(o, name);
    if (!arr) {
      arr = json_array();
      json_object_set_new(o, name, arr);
    }
    json_array_append_new(arr, json_string(f->cond[i].value));
  }
  if (f->nwhere) { /* the comparisons, as given: {"where":["price<=50"]} */
    json_t *w = json_array();
    for (int i = 0; w && i < f->nwhere; i++) json_array_append_new(w, json_string(f->where[i].expr));
    json_object_set_new(o, "where", w);
  }
  return o;
}

/* Fills r with {"hits":[...], "count", "k", "filters"} for n hits, or n groups when the request
 * collapses (then "collapse" too); LK_ENOMEM. */
static int hits_reply(const lk_engine *e, const lk_hit *hits, const lk_group *groups, int n, const lk_api_params *p,
                      lk_api_reply *r) {
  json_t *o = p->collapse ? lk_collapse_hits_json(e, groups, n, p->collapse) : lk_results_hits_json(e, hits, n);
  if (o && p->collapse)
    json_object_set_new(o, "collapse", json_string(p->collapse == LK_COLLAPSE_DUPLICATES ? "duplicates" : "variants"));
  if (!o) return lk_api_error(r, 500, "out of memory");
  json_object_set_new(o, "count", json_integer(json_array_size(json_object_get(o, "hits"))));
  json_object_set_new(o, "k", json_integer(p->k));
  json_object_set_new(o, "filters", filter_json(&p->filter));
  r->status = 200;
  r->body = o;
  return 0;
}

static double ms(double s) { return (double)(int64_t)(s * 1e5 + 0.5) / 100.0; } /* 2 decimals */

/* The HTTP status of a photo search's failure: by the step that failed (lookalike.h
 * lk_search_info.stage) and the code. */
static int search_error(lk_api_reply *r, int rc, const lk_search_info *info, const lk_api_params *p, const lk_errbuf *eb) {
  switch (info->stage) {
  case LK_SEARCH_DECODE:
    if (rc == LK_ETOOBIG) return lk_api_error(r, 413, "image too large: %s", lk_err_msg(eb));
    if (rc == LK_EDECODE || rc == LK_EUNSUPPORTED)
      return lk_api_error(r, 415, "not a readable image (JPEG, PNG or WebP): %s", lk_err_msg(eb));
    return lk_api_error(r, 500, "decoding failed: %s", lk_err_msg(eb));
  case LK_SEARCH_CROP: return lk_api_error(r, rc == LK_ENOMEM ? 500 : 422, "%s", lk_err_msg(eb));
  case LK_SEARCH_QUERY: return lk_api_error(r, rc == LK_EINVAL ? 400 : 500, "%s", lk_err_msg(eb));
  case LK_SEARCH_PREPARE: return lk_api_error(r, 500, "%s", lk_err_msg(eb));
  default: break;
  }
  int unavailable = rc == LK_ENOTFOUND || rc == LK_EMISMATCH || rc == LK_EINTR;
  if (p->multi_crop) /* embedding and searching went together */
    return lk_api_error(r, unavailable ? 503 : rc == LK_EINVAL ? 400 : 500, "multi-crop search failed: %s", lk_err_msg(eb));
  if (info->stage == LK_SEARCH_EMBED)
    return lk_api_error(r, unavailable ? 503 : 500, "embedding failed: %s", lk_err_msg(eb));
  return lk_api_error(r, rc == LK_EINVAL ? 400 : 500, "%s", lk_err_msg(eb));
}

int lk_api_search(lk_engine *e, const uint8_t *img, size_t len, const lk_image_limits *lim, const lk_api_params *p,
                  lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  if (!img || len == 0) return lk_api_error(r, 400, "empty image: send the photo as a multipart 'image' part or as the body");
  if (lk_engine_size(e) == 0) return lk_api_error(r, 503, "the catalog has no searchable items yet");
  lk_errbuf eb = {0};
  lk_query q;
  lk_query_init(&q);
  q.k = p->k;
  q.filter = &p->filter;
  if (p->has_crop) memcpy(q.crop, p->crop, sizeof q.crop);
  q.multi_crop = p->multi_crop;
  q.collapse = p->collapse;
  lk_search_info info = {0};
  lk_hit *hits = calloc((size_t)p->k, sizeof *hits);
  if (!hits || (p->collapse && !(info.groups = calloc((size_t)p->k, sizeof *info.groups)))) {
    free(hits);
    return lk_api_error(r, 500, "out of memory");
  }
  int n = 0, rc = lk_engine_search_photo_lim(e, img, len, lim, &q, hits, &n, &info, &eb);
  if (rc) {
    rc = search_error(r, rc, &info, p, &eb);
    goto out;
  }
  if ((rc = hits_reply(e, hits, info.groups, n, p, r)) || r->status != 200) goto out;
  if ((rc = lk_calibrate_answer(e, r->body, &p->filter, 1))) goto out; /* "weak", "advice" */
  r->decode_s = info.decode_s;
  r->queue_s = info.queue_s;
  r->embed_s = info.embed_s;
  r->knn_s = info.search_s;
  if (p->has_crop) /* the photo's size and the crop as applied (clipped to the photo) */
    json_object_set_new(r->body, "crop", json_pack("{s:i, s:i, s:[i,i,i,i]}", "width", info.width, "height", info.height,
                                                   "box", info.crop[0], info.crop[1], info.crop[2], info.crop[3]));
  if (p->multi_crop) json_object_set_new(r->body, "multicrop", json_true());
  json_object_set_new(r->body, "took_ms", json_real(ms(info.decode_s + info.queue_s + info.embed_s + info.search_s)));
  json_object_set_new(r->body, "decode_ms", json_real(ms(r->decode_s)));
  json_object_set_new(r->body, "queue_ms", json_real(ms(r->queue_s)));
  json_object_set_new(r->body, "embed_ms", json_real(ms(r->embed_s)));
  json_object_set_new(r->body, "search_ms", json_real(ms(r->knn_s)));
out:
  free(hits);
  free(info.groups);
  return rc;
}

int lk_api_items(const lk_engine *e, int offset, int limit, int sample, uint64_t seed, lk_api_reply *r) {
  return lk_api_items_where(e, NULL, offset, limit, sample, seed, r);
}

int lk_api_items_where(const lk_engine *e, const lk_filter *f, int offset, int limit, int sample, uint64_t seed,
                       lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  size_t n = lk_engine_item_count(e), total = 0, bytes;
  size_t *pos = NULL; /* positions of the searchable items */
  if (lk_size_mul(n + 1, sizeof *pos, &bytes) || !(pos = malloc(bytes))) return lk_api_error(r, 500, "out of memory");
  for (size_t i = 0; i < n; i++)
    if (lk_engine_has_vector(e, lk_engine_item_at(e, i)->id) && lk_filter_match(lk_engine_item_at(e, i), f, NULL))
      pos[total++] = i;
  size_t from = 0, count = 0;
  if (sample > 0) {
    if (!seed) {
      struct timespec t;
      clock_gettime(CLOCK_REALTIME, &t);
      seed = lk_rng_mix((uint64_t)t.tv_nsec ^ (uint64_t)t.tv_sec << 30);
    }
    uint64_t x = seed; /* a private splitmix64 stream per call (no state shared between requests) */
    count = (size_t)sample < total ? (size_t)sample : total;
    for (size_t i = 0; i < count; i++) { /* partial Fisher-Yates */
      size_t j = i + (size_t)(lk_rng_next(&x) % (total - i)), t = pos[i];
      pos[i] = pos[j];
      pos[j] = t;
    }
  } else {
    from = (size_t)offset < total ? (size_t)offset : total;
    count = total - from < (size_t)limit ? total - from : (size_t)limit;
  }
  json_t *o = json_object(), *arr = json_array();
  if (!o || !arr) {
    json_decref(o);
    json_decref(arr);
    free(pos);
    return lk_api_error(r, 500, "out of memory");
  }
  for (size_t i = from; i < from + count; i++)
    json_array_append_new(arr, lk_results_item_json(lk_engine_item_at(e, pos[i]), 0, 0));
  json_object_set_new(o, "items", arr);
  json_object_set_new(o, "count", json_integer((json_int_t)count));
  json_object_set_new(o, "total", json_integer((json_int_t)total));
  if (sample <= 0) json_object_set_new(o, "offset", json_integer((json_int_t)from));
  free(pos);
  r->status = 200;
  r->body = o;
  return 0;
}

int lk_api_item(const lk_engine *e, int64_t id, lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  const lk_item *it = lk_engine_item(e, id);
  if (!it) return lk_api_error(r, 404, "no item with id %lld", (long long)id);
  json_t *o = lk_results_item_json(it, 0, 0);
  if (!o) return lk_api_error(r, 500, "out of memory");
  json_object_set_new(o, "searchable", json_boolean(lk_engine_has_vector(e, id)));
  r->status = 200;
  r->body = o;
  return 0;
}

int lk_api_similar(const lk_engine *e, int64_t id, const lk_api_params *p, lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  lk_errbuf eb = {0};
  lk_hit *hits = calloc((size_t)p->k, sizeof *hits);
  lk_group *groups = p->collapse ? calloc((size_t)p->k, sizeof *groups) : NULL;
  if (!hits || (p->collapse && !groups)) {
    free(hits);
    free(groups);
    return lk_api_error(r, 500, "out of memory");
  }
  double t0 = lk_clock_now();
  lk_group self = {0};
  int n = 0, rc = p->collapse ? lk_collapse_similar(e, id, &p->filter, p->k, p->collapse, &self, groups, &n, &eb)
                              : lk_engine_similar(e, id, &p->filter, p->k, hits, &n, &eb);
  double t1 = lk_clock_now();
  if (rc == LK_ENOTFOUND) rc = lk_api_error(r, 404, "%s", lk_err_msg(&eb));
  else if (rc) rc = lk_api_error(r, rc == LK_EINVAL ? 400 : 500, "%s", lk_err_msg(&eb));
  else if (!(rc = hits_reply(e, hits, groups, n, p, r)) && r->status == 200 &&
           !(rc = lk_calibrate_answer(e, r->body, &p->filter, 0))) { /* "weak", "advice" */
    r->knn_s = t1 - t0;
    json_object_set_new(r->body, "id", json_integer(id));
    if (p->collapse) /* the item's own duplicates / other colours among the candidates */
      json_object_set_new(r->body, p->collapse == LK_COLLAPSE_DUPLICATES ? "duplicates" : "variants",
                          lk_collapse_members_json(e, &self, p->collapse));
    json_object_set_new(r->body, "took_ms", json_real(ms(t1 - t0)));
    json_object_set_new(r->body, "search_ms", json_real(ms(t1 - t0)));
  }
  free(hits);
  free(groups);
  return rc;
}

int lk_api_health(const lk_engine *e, double uptime_s, lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  const char *rid = lk_engine_recipe_id(e);
  r->body = json_pack("{s:s, s:I, s:I, s:i, s:s, s:s, s:s, s:s, s:f}", "status", "ok", "items",
                      (json_int_t)lk_engine_item_count(e), "vectors", (json_int_t)lk_engine_size(e), "dim",
                      lk_engine_dim(e), "index", lk_engine_index_name(e), "recipe", lk_engine_recipe(e)->name, "recipe_id", rid, "version",
                      LK_VERSION, "uptime_s", (double)(int64_t)(uptime_s * 1e3 + 0.5) / 1e3);
  r->status = 200;
  return r->body ? 0 : lk_api_error(r, 500, "out of memory");
}

/* Sorts {"value","count"} objects by count descending, then value. */
static int cmp_facet(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  json_int_t cx = json_integer_value(json_object_get(x, "count"));
  json_int_t cy = json_integer_value(json_object_get(y, "count"));
  if (cx != cy) return cx > cy ? -1 : 1;
  return strcmp(json_string_value(json_object_get(x, "value")), json_string_value(json_object_get(y, "value")));
}

/* facet_subsets: for each facet field, f without its conditions on that field (so that the other
 * values of a field that is set keep their counts), in sub[0..NFACETS); sub[NFACETS] is f itself.
 * A value of the field in question is a choice instead of the one made, so it is counted among the
 * items that pass every other condition. */
static void facet_subsets(const lk_filter *f, lk_filter *sub) {
  for (int k = 0; k <= NFACETS; k++) {
    sub[k] = *f;
    if (k == NFACETS) break;
    int field = lk_filter_field(FACETS[k]), n = 0;
    for (int c = 0; c < f->n; c++)
      if (f->cond[c].field != field) sub[k].cond[n++] = f->cond[c];
    sub[k].n = n;
  }
}

int lk_api_facets(const lk_engine *e, json_t **out) { return lk_api_facets_where(e, NULL, out); }

int lk_api_facets_where(const lk_engine *e, const lk_filter *filter, json_t **out) {
  json_t *root = json_object(), *facets = json_object(), *missing = json_object();
  json_t *counts[NFACETS] = {0};
  json_t **list = NULL;
  int rc = LK_ENOMEM;
  size_t nsearch = 0;
  lk_filter *sub = NULL; /* NFACETS + 1 subsets of filter (facet_subsets), none without one */
  int filtered = filter && (filter->n || filter->nwhere);
  if (!root || !facets || !missing) goto out;
  if (filtered) {
    if (!(sub = calloc(NFACETS + 1, sizeof *sub))) goto out;
    facet_subsets(filter, sub);
  }
  for (int f = 0; f < NFACETS; f++)
    if (!(counts[f] = json_object())) goto out;
  json_int_t miss[NFACETS] = {0};
  for (size_t i = 0; i < lk_engine_item_count(e); i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    if (!lk_engine_has_vector(e, it->id)) continue; /* only what a search can return */
    if (!filtered || lk_filter_match(it, &sub[NFACETS], NULL)) nsearch++;
    for (int f = 0; f < NFACETS; f++) {
      int in = !filtered || lk_filter_match(it, &sub[f], NULL); /* else listed with count 0 */
      const char *v = it->field[lk_filter_field(FACETS[f])];
      if (!v || !*v) { miss[f] += in; continue; }
      json_t *c = json_object_get(counts[f], v);
      if (c) json_integer_set(c, json_integer_value(c) + in);
      else if (json_object_set_new(counts[f], v, json_integer(in))) goto out;
    }
  }
  for (int f = 0; f < NFACETS; f++) {
    size_t n = json_object_size(counts[f]), k = 0, bytes;
    if (lk_size_mul(n + 1, sizeof *list, &bytes) || !(list = malloc(bytes))) goto out;
    const char *key;
    json_t *val;
    json_object_foreach(counts[f], key, val) {
      json_t *o = json_pack("{s:s, s:I}", "value", key, "count", json_integer_value(val));
      if (!o) { while (k) json_decref(list[--k]); goto out; }
      list[k++] = o;
    }
    qsort(list, k, sizeof *list, cmp_facet);
    json_t *arr = json_array();
    for (size_t j = 0; j < k; j++) {
      if (arr) json_array_append(arr, list[j]);
      json_decref(list[j]);
    }
    free(list);
    list = NULL;
    if (!arr || json_object_set_new(facets, FACETS[f], arr)) goto out;
    json_object_set_new(missing, FACETS[f], json_integer(miss[f]));
  }
  json_object_set_new(root, "items", json_integer((json_int_t)nsearch));
  json_object_set_new(root, "facets", facets);
  json_object_set_new(root, "missing", missing);
  facets = missing = NULL;
  *out = root;
  root = NULL;
  rc = 0;
out:
  free(sub);
  free(list);
  for (int f = 0; f < NFACETS; f++) json_decref(counts[f]);
  json_decref(facets);
  json_decref(missing);
  json_decref(root);
  return rc;
}

typedef struct type_count {
  const char *value;
  size_t count;
} type_count;

static int cmp_type(const void *a, const void *b) {
  const type_count *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->value, y->value);
}

static int map_missing(lk_api_reply *r, const char *msg) {
  if (lk_api_error(r, 404, "%s", msg)) return LK_ENOMEM;
  json_object_set_new(r->body, "hint", json_string("run `lookalike map --db CATALOG --out map.png` to make one"));
  return 0;
}

/* {"values":[commonest first], "of":[index into values per point, -1 none]} of one filter
 * field over the layout's points, or NULL when out of memory. */
static json_t *map_field(const lk_engine *e, const lk_map_layout *l, const char *field) {
  int f = lk_filter_field(field);
  type_count *tc = malloc((l->n ? l->n : 1) * sizeof *tc);
  int *of = malloc((l->n ? l->n : 1) * sizeof *of);
  size_t nv = 0, *rank = NULL;
  json_t *values = json_array(), *jof = json_array(), *o = NULL;
  if (!tc || !of || !values || !jof) goto done;
  for (size_t i = 0; i < l->n; i++) {
    const lk_item *it = lk_engine_item(e, l->ids[i]);
    const char *v = it && f >= 0 ? it->field[f] : NULL;
    of[i] = -1;
    if (!v || !*v) continue;
    size_t k = 0;
    while (k < nv && strcmp(tc[k].value, v)) k++;
    if (k == nv) tc[nv++] = (type_count){v, 0};
    tc[k].count++;
    of[i] = (int)k;
  }
  type_count *sorted = malloc((nv ? nv : 1) * sizeof *sorted);
  rank = malloc((nv ? nv : 1) * sizeof *rank);
  if (!sorted || !rank) {
    free(sorted);
    goto done;
  }
  if (nv) memcpy(sorted, tc, nv * sizeof *tc);
  if (nv) qsort(sorted, nv, sizeof *sorted, cmp_type);
  for (size_t k = 0; k < nv; k++)
    for (size_t s = 0; s < nv; s++)
      if (sorted[s].value == tc[k].value) rank[k] = s;
  int bad = 0;
  for (size_t s = 0; s < nv; s++) bad |= json_array_append_new(values, json_string(sorted[s].value));
  for (size_t i = 0; i < l->n; i++) bad |= json_array_append_new(jof, json_integer(of[i] < 0 ? -1 : (json_int_t)rank[of[i]]));
  free(sorted);
  if (!bad) {
    o = json_pack("{s:o,s:o}", "values", values, "of", jof);
    values = jof = NULL; /* stolen by "o" (also on failure) */
  }
done:
  json_decref(values);
  json_decref(jof);
  free(tc);
  free(of);
  free(rank);
  return o;
}

/* The filter fields of each point besides articleType ("types"/"type"), for the page's map to
 * dim what the filters leave out and colour by a coarser level when zoomed out. */
static int map_fields(const lk_engine *e, const lk_map_layout *l, json_t *o) {
  static const char *const fields[] = {"gender", "masterCategory", "subCategory", "baseColour", "season", "usage"};
  json_t *jf = json_object();
  if (!jf || json_object_set_new(o, "fields", jf)) return LK_ENOMEM;
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    json_t *v = map_field(e, l, fields[i]);
    if (!v || json_object_set_new(jf, fields[i], v)) return LK_ENOMEM;
  }
  return 0;
}

int lk_api_map(const lk_engine *e, const char *db_path, lk_api_reply *r) {
  memset(r, 0, sizeof *r);
  if (!db_path) return map_missing(r, "no map: the server was started without a catalog path");
  lk_catalog *cat = NULL;
  lk_errbuf eb = {0};
  lk_map_layout l = {0};
  if (lk_catalog_open(db_path, LK_CATALOG_READONLY, &cat, &eb)) return lk_api_error(r, 500, "%s", lk_err_msg(&eb));
  int rc = lk_map_store_load(cat, &l, &eb);
  lk_catalog_close(cat);
  if (rc == LK_ENOTFOUND) return map_missing(r, "this catalog has no map yet");
  if (rc) return lk_api_error(r, 500, "%s", lk_err_msg(&eb));
  /* stale? compare with the engine's searchable items */
  size_t total = lk_engine_item_count(e), nv = 0;
  int64_t *ids = malloc((total ? total : 1) * sizeof *ids);
  type_count *tc = malloc((l.n ? l.n : 1) * sizeof *tc);
  int *type = malloc((l.n ? l.n : 1) * sizeof *type);
  json_t *o = NULL, *jids = json_array(), *jxy = json_array(), *jtypes = json_array(), *jtype = json_array(),
         *jnames = json_array();
  if (!ids || !tc || !type || !jids || !jxy || !jtypes || !jtype || !jnames) goto nomem;
  for (size_t i = 0; i < total; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    if (lk_engine_has_vector(e, it->id)) ids[nv++] = it->id;
  }
  const char *rid = lk_engine_recipe_id(e);
  int stale = !lk_map_layout_matches(&l, rid, ids, nv);
  int at = lk_filter_field("articleType");
  size_t ntypes = 0;
  for (size_t i = 0; i < l.n; i++) {
    const lk_item *it = lk_engine_item(e, l.ids[i]);
    const char *v = it && at >= 0 ? it->field[at] : NULL;
    type[i] = -1;
    if (!v || !*v) continue;
    size_t k = 0;
    while (k < ntypes && strcmp(tc[k].value, v)) k++;
    if (k == ntypes) tc[ntypes++] = (type_count){v, 0};
    tc[k].count++;
    type[i] = (int)k;
  }
  /* order the types by count; remap the per-point indices */
  size_t *rank = malloc((ntypes ? ntypes : 1) * sizeof *rank);
  type_count *sorted = malloc((ntypes ? ntypes : 1) * sizeof *sorted);
  if (!rank || !sorted) {
    free(rank);
    free(sorted);
    goto nomem;
  }
  if (ntypes) memcpy(sorted, tc, ntypes * sizeof *tc);
  if (ntypes) qsort(sorted, ntypes, sizeof *sorted, cmp_type);
  for (size_t k = 0; k < ntypes; k++)
    for (size_t s = 0; s < ntypes; s++)
      if (sorted[s].value == tc[k].value) rank[k] = s;
  int bad = 0;
  for (size_t s = 0; s < ntypes; s++) bad |= json_array_append_new(jtypes, json_string(sorted[s].value));
  for (size_t i = 0; i < l.n; i++) {
    const lk_item *it = lk_engine_item(e, l.ids[i]);
    const char *name = it ? it->field[LK_NFIELDS - 1] : NULL;
    bad |= json_array_append_new(jids, json_integer(l.ids[i]));
    bad |= json_array_append_new(jxy, json_real((double)(int64_t)(l.xy[2 * i] * 1000) / 1000));
    bad |= json_array_append_new(jxy, json_real((double)(int64_t)(l.xy[2 * i + 1] * 1000) / 1000));
    bad |= json_array_append_new(jtype, json_integer(type[i] < 0 ? -1 : (json_int_t)rank[type[i]]));
    bad |= json_array_append_new(jnames, name ? json_string(name) : json_null());
  }
  free(rank);
  free(sorted);
  if (bad) goto nomem;
  o = json_pack("{s:I,s:s,s:b,s:f,s:o,s:o,s:o,s:o,s:o}", "count", (json_int_t)l.n, "recipe_id", l.recipe_id,
                "stale", stale, "perplexity", l.perplexity, "ids", jids, "xy", jxy, "types", jtypes, "type", jtype,
                "names", jnames);
  jids = jxy = jtypes = jtype = jnames = NULL; /* stolen by "o" (also on failure) */
  if (!o) goto nomem;
  if (map_fields(e, &l, o)) {
    json_decref(o);
    o = NULL;
    goto nomem;
  }
  r->status = 200;
  r->body = o;
  free(ids);
  free(tc);
  free(type);
  lk_map_layout_free(&l);
  return 0;
nomem:
  json_decref(jids);
  json_decref(jxy);
  json_decref(jtypes);
  json_decref(jtype);
  json_decref(jnames);
  free(ids);
  free(tc);
  free(type);
  lk_map_layout_free(&l);
  return lk_api_error(r, 500, "out of memory");
}
