/* search/query.h — the one way a photo query runs (lk_engine_search_photo / _pixels and
 * lk_engine_embed_photo / _pixels, declared with lk_query and lk_search_info in lookalike.h):
 * decode at the models' input side, the crop rules, garment isolation, embedding through the
 * engine's embedder pool, multi-crop, collapsing. HTTP (server/api.c), the CLI's `search`,
 * evaluation and calibration all search photos through here. */
#ifndef LK_SEARCH_QUERY_H
#define LK_SEARCH_QUERY_H

#include "image/image.h"
#include "lookalike.h"
#include "search/engine.h"

/* The crop c (x, y, w, h) clipped to a w x h photo into box; LK_EINVAL, with a message naming
 * the crop and the photo's size, when fewer than LK_QUERY_MIN_CROP pixels are left on a side. */
int lk_query_crop_box(int w, int h, const int c[4], int box[4], lk_errbuf *err);
/* lk_engine_search_photo with the caller's image limits (NULL: image.h's defaults), for a
 * server that sets its own. */
int lk_engine_search_photo_lim(lk_engine *e, const void *bytes, size_t len, const lk_image_limits *lim,
                               const lk_query *q, lk_hit *hits, int *nfound, lk_search_info *info, lk_errbuf *err);
/* Steps 2 to 5 (crop, garment, embedding, multi-crop, search) on a photo already decoded at
 * the models' input side (lk_engine_input_side), over the index rows allow marks
 * (lk_engine_search_rows' bitmap; NULL: all rows, then as lk_engine_search_pixels): for
 * evaluation, whose galleries are parts of the catalog. With allow, q takes no filter and no
 * collapsing (LK_EINVAL). */
int lk_query_search_image(lk_engine *e, const lk_image *im, const lk_query *q, const uint64_t *allow, lk_hit *hits,
                          int *nfound, lk_search_info *info, lk_errbuf *err);

#endif
