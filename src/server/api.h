/* server/api.h — the JSON API's endpoints, apart from the HTTP plumbing (server.c): each
 * takes the loaded engine and parsed parameters and produces an HTTP status and a JSON body.
 * Hits have the shape of search/results.h (what `lookalike search --json` prints); errors
 * are {"error": "..."} with 400, 404, 413, 415, 422 or 5xx. */
#ifndef LK_SERVER_API_H
#define LK_SERVER_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"
#include "search/engine.h"
#include "util/err.h"

#define LK_API_DEFAULT_K 10
#define LK_API_MAX_K 500
#define LK_API_MAX_VALUE 256 /* longest parameter value accepted */

/* Parameters of a search or similar request. */
typedef struct lk_api_params {
  int k;          /* results wanted; LK_API_DEFAULT_K unless set */
  lk_filter filter;
  int crop[4];    /* x, y, w, h in pixels of the uploaded photo */
  int has_crop;
  int multi_crop; /* "multicrop=1": search the photo and 13 crops (lk_query.multi_crop) */
  int collapse;   /* "collapse=duplicates|variants": enum lk_collapse_mode (search/collapse.h) */
} lk_api_params;

void lk_api_params_init(lk_api_params *p);
/* Applies one request parameter: "k", "crop" (x,y,w,h), "multicrop" (0/1), "collapse" (none,
 * duplicates, variants), "where" (a comparison such as price<=50: lk_filter_add_where; repeated =
 * all of) or a filter field (lk_catalog_fields, case-insensitive; repeated = any of). An empty
 * filter, where or collapse value is ignored (an unset <select>).
 * LK_EINVAL for an unknown name or a malformed value, LK_ETOOBIG past a limit; message in err. */
int lk_api_param(lk_api_params *p, const char *name, const char *value, lk_errbuf *err);

/* An answer: HTTP status and JSON body (the caller owns body: json_decref), plus the stage
 * timings of a photo search in seconds (0 for other endpoints); queue_s is the wait for a
 * free embedder. */
typedef struct lk_api_reply {
  int status;
  json_t *body;
  double decode_s, queue_s, embed_s, knn_s;
} lk_api_reply;

/* Each endpoint returns 0 with r filled, error answers included, or LK_ENOMEM when not even
 * an error body could be built (r->body is then NULL). */

/* POST /api/search: the photo img[0..len), decoded within lim, searched as p asks
 * (lk_engine_search_photo: crop, multi-crop, collapse, the engine's embedders). */
int lk_api_search(lk_engine *e, const uint8_t *img, size_t len, const lk_image_limits *lim, const lk_api_params *p,
                  lk_api_reply *r);
/* GET /api/items: a page of searchable items in id order (offset, limit <= LK_API_MAX_K), or
 * with sample > 0 that many distinct ones drawn at random (seed 0 = from the clock):
 * {"items":[...], "count", "total"}. */
int lk_api_items(const lk_engine *e, int offset, int limit, int sample, uint64_t seed, lk_api_reply *r);
/* The same within the items that pass f (NULL: all): the start page's products honour the filters
 * ("total" counts the matching ones). */
int lk_api_items_where(const lk_engine *e, const lk_filter *f, int offset, int limit, int sample, uint64_t seed,
                       lk_api_reply *r);
/* GET /api/items/{id}: the item's fields (results.h shape, no score) plus "searchable". */
int lk_api_item(const lk_engine *e, int64_t id, lk_api_reply *r);
/* GET /api/items/{id}/similar: neighbours of a catalog item, the item itself excluded. */
int lk_api_similar(const lk_engine *e, int64_t id, const lk_api_params *p, lk_api_reply *r);
/* GET /health: {"status":"ok", "items", "vectors", "dim", "recipe", "version", "uptime_s"}. */
int lk_api_health(const lk_engine *e, double uptime_s, lk_api_reply *r);
/* GET /api/facets: {"items": searchable items, "facets": {field: [{"value","count"}, ...]},
 * "missing": {field: items without a value}} for the browsable fields, counts descending.
 * Computed over the whole catalog; the server builds it once. *out: json_decref. */
int lk_api_facets(const lk_engine *e, json_t **out);
/* The same within the items that pass filter (NULL or empty: all, as lk_api_facets): "items"
 * counts the items that pass all of it; a field's values are counted among the items that pass
 * every condition except those on that field (the other choices for a field already set), so a
 * value with count 0 (still listed) is one that would give nothing.
 * One walk over the items, every request (25-50 ms at 35k items). *out: json_decref. */
int lk_api_facets_where(const lk_engine *e, const lk_filter *filter, json_t **out);
/* GET /api/map: the catalog's stored 2-D layout (`lookalike map`, map/store.h), read from the
 * catalog file at db_path: {"count", "recipe_id", "stale", "perplexity", "ids":[...],
 * "xy":[x0,y0,...], "types":[articleType values, commonest first], "type":[index into types
 * per point, -1 unknown], "names":[productDisplayName per point]}. "stale" is true when the
 * catalog's recipe or items changed since the layout was made. 404 with "error" and "hint"
 * when there is none (or db_path is NULL). */
int lk_api_map(const lk_engine *e, const char *db_path, lk_api_reply *r);
/* An error answer {"error": msg} with the given status. */
int lk_api_error(lk_api_reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
