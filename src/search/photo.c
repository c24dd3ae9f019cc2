/* search/photo.c — the public photo searches of include/lookalike.h (lk_query_init,
 * lk_engine_search_photo, lk_engine_embed_photo): a file's bytes decoded as `lookalike search`
 * decodes them (full size, the image module's limits), cropped, then the engine's searches.
 * INTERIM (issue 18, slice C): slice A's one query entry point replaces this file at merge;
 * until then a query asking for what only that entry point does (a per-query garment mode or
 * prior, collapsing, search info) gets LK_EUNSUPPORTED saying so. */
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "search/engine.h"

void lk_query_init(lk_query *q) {
  memset(q, 0, sizeof *q);
  q->k = 10;
  q->garment = LK_ENGINE_GARMENT_AUTO;
  q->prior = -1.0f;
}

/* Decodes bytes and applies the query's crop (crop may be NULL): *img is what is searched. */
static int query_image(const void *bytes, size_t len, const int *crop, lk_image *img, lk_errbuf *err) {
  if (!bytes || !len) return lk_err_set(err, LK_EINVAL, "no photo given (0 bytes)");
  int rc = lk_image_decode(bytes, len, NULL, 0, img, err);
  if (rc || !crop || crop[2] == 0) return rc;
  lk_image c = {0};
  rc = lk_image_crop(img, crop[0], crop[1], crop[2], crop[3], &c);
  if (rc) rc = lk_err_set(err, rc, "the crop lies outside the %dx%d photo", img->w, img->h);
  lk_image_free(img);
  *img = c;
  return rc;
}

int lk_engine_search_photo(lk_engine *e, const void *bytes, size_t len, const lk_query *q, lk_hit *hits,
                           int *nfound, lk_search_info *info, lk_errbuf *err) {
  if (!e || !q || !hits || !nfound) return lk_err_set(err, LK_EINVAL, "lk_engine_search_photo: a required argument is NULL");
  *nfound = 0;
  if (q->k <= 0) return lk_err_set(err, LK_EINVAL, "k must be at least 1 (got %d)", q->k);
  int want_garment = q->garment == LK_ENGINE_GARMENT_ON || (q->garment == LK_ENGINE_GARMENT_AUTO && lk_engine_garment(e));
  if (want_garment != lk_engine_garment(e) || q->prior >= 0 || q->collapse || info)
    return lk_err_set(err, LK_EUNSUPPORTED,
                      "this build searches with the engine's own garment mode and prior, without collapsing or search info");
  lk_image img = {0};
  int rc = query_image(bytes, len, q->crop, &img, err);
  if (!rc && q->multi_crop)
    rc = lk_engine_search_crops(e, &img, lk_engine_embed_fn, e, q->filter, NULL, q->k, hits, nfound, err);
  else if (!rc)
    rc = lk_engine_search_image(e, &img, q->filter, q->k, hits, nfound, err);
  lk_image_free(&img);
  return rc;
}

int lk_engine_embed_photo(lk_engine *e, const void *bytes, size_t len, float *vec, lk_errbuf *err) {
  if (!e || !vec) return lk_err_set(err, LK_EINVAL, "lk_engine_embed_photo: a required argument is NULL");
  lk_image img = {0}, g = {0};
  int rc = query_image(bytes, len, NULL, &img, err);
  if (!rc && lk_engine_garment(e)) rc = lk_engine_query_photo(e, &img, &g, err);
  if (!rc) rc = lk_engine_embed(e, lk_engine_garment(e) ? &g : &img, vec, err);
  lk_image_free(&img);
  lk_image_free(&g);
  return rc;
}
