/* search/query.c — a photo query from bytes or pixels to hits (see query.h and lookalike.h's
 * "search a photo"): the steps every caller shares, timed, with the failing step named. */
#include "search/query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/garment.h"
#include "search/collapse.h"
#include "util/clock.h"
#include "util/size.h"

void lk_query_init(lk_query *q) {
  memset(q, 0, sizeof *q);
  q->k = 10;
  q->prior = -1.0f;
}

int lk_query_crop_box(int w, int h, const int c[4], int box[4], lk_errbuf *err) {
  int64_t x0 = c[0] > 0 ? c[0] : 0, y0 = c[1] > 0 ? c[1] : 0;
  int64_t x1 = (int64_t)c[0] + c[2] < w ? (int64_t)c[0] + c[2] : w;
  int64_t y1 = (int64_t)c[1] + c[3] < h ? (int64_t)c[1] + c[3] : h;
  if (x1 - x0 < LK_QUERY_MIN_CROP || y1 - y0 < LK_QUERY_MIN_CROP)
    return lk_err_set(err, LK_EINVAL, "crop %d,%d,%d,%d leaves less than %dx%d pixels inside the %dx%d photo", c[0],
                      c[1], c[2], c[3], LK_QUERY_MIN_CROP, LK_QUERY_MIN_CROP, w, h);
  box[0] = (int)x0;
  box[1] = (int)y0;
  box[2] = (int)(x1 - x0);
  box[3] = (int)(y1 - y0);
  return 0;
}

/* The query's own checks, before any photo is read. */
static int check_query(const lk_engine *e, const lk_query *q, lk_errbuf *err) {
  if (!q) return lk_err_set(err, LK_EINVAL, "no query");
  if (q->k < 1 || q->k > LK_QUERY_MAX_K) return lk_err_set(err, LK_EINVAL, "k must be in 1..%d", LK_QUERY_MAX_K);
  if (q->garment < LK_ENGINE_GARMENT_AUTO || q->garment > LK_ENGINE_GARMENT_ON)
    return lk_err_set(err, LK_EINVAL, "garment must be LK_ENGINE_GARMENT_AUTO, _OFF or _ON");
  if (q->collapse < LK_COLLAPSE_NONE || q->collapse > LK_COLLAPSE_VARIANTS)
    return lk_err_set(err, LK_EINVAL, "collapse must be none, duplicates or variants");
  if (q->crop[2] < 0 || q->crop[3] < 0 || (q->crop[2] == 0) != (q->crop[3] == 0))
    return lk_err_set(err, LK_EINVAL, "crop must be x,y,w,h in pixels of the photo (w, h > 0; w = 0: no crop)");
  if (q->prior >= 0 && q->prior != lk_engine_prior_weight(e))
    return lk_err_set(err, LK_EUNSUPPORTED, "the label prior's weight is set when the catalog is opened "
                      "(lk_engine_opts.prior), not per search");
  if (lk_engine_dim(e) <= 0) return lk_err_set(err, LK_ENOTFOUND, "the catalog has no vectors yet");
  return 0;
}

/* Multi-crop candidates for a collapsed search (search/collapse.h lk_collapse_fetch). */
typedef struct crop_fetch {
  lk_engine *e;
  const lk_image *img;
  const lk_filter *f;
  double wait;
} crop_fetch;

static int fetch_crops(void *ctx, int k, lk_hit *hits, int *n, lk_errbuf *err) {
  crop_fetch *c = ctx;
  double w = 0;
  int rc = lk_engine_search_crops(c->e, c->img, c->f, NULL, k, hits, n, &w, err);
  c->wait += w;
  return rc;
}

/* The plain search of an embedded photo: over the rows allow marks when given (no filter then),
 * else as lk_engine_search_vector. */
static int search_vec(lk_engine *e, const float *vec, const lk_query *q, const uint64_t *allow, lk_hit *hits, int *n,
                      lk_errbuf *err) {
  if (!allow) return lk_engine_search_vector(e, vec, q->filter, q->k, -1, hits, n, err);
  float *row = malloc(sizeof *row * (size_t)lk_engine_query_dim(e));
  if (!row) return lk_err_set(err, LK_ENOMEM, "out of memory");
  lk_engine_make_query(e, vec, row);
  int rc = lk_engine_search_rows(e, row, 1, q->k, allow, -1, hits, n);
  free(row);
  return rc ? lk_err_set(err, rc, "search failed: %s", lk_strerror(rc)) : 0;
}

/* Steps 2 to 5 on a decoded photo, over the rows allow marks (NULL: all); info's stage, size and
 * decode_s (from t0) set by the caller's step 1. */
static int search_image(lk_engine *e, const lk_image *im, const lk_query *q, const uint64_t *allow, lk_hit *hits,
                        int *nfound, lk_search_info *info, double t0, lk_errbuf *err) {
  lk_image cropped = {0}, iso = {0};
  const lk_image *use = im;
  lk_group *groups = info->groups, *own = NULL;
  float *vec = NULL;
  double wait = 0;
  int n = 0, rc = 0;
  info->width = im->w;
  info->height = im->h;
  if (q->crop[2]) {
    info->stage = LK_SEARCH_CROP;
    if ((rc = lk_query_crop_box(im->w, im->h, q->crop, info->crop, err))) goto out;
    if ((rc = lk_image_crop(im, info->crop[0], info->crop[1], info->crop[2], info->crop[3], &cropped))) {
      rc = lk_err_set(err, rc, "crop failed: %s", lk_strerror(rc));
      goto out;
    }
    use = &cropped;
  }
  info->stage = LK_SEARCH_PREPARE;
  int garment = q->garment == LK_ENGINE_GARMENT_AUTO ? lk_engine_garment(e) : q->garment == LK_ENGINE_GARMENT_ON;
  if (garment) { /* the garment on white (image/garment.h) */
    if ((rc = lk_garment_isolate(use, &iso, NULL))) {
      rc = lk_err_set(err, rc, "preparing the photo: %s", lk_strerror(rc));
      goto out;
    }
    use = &iso;
  }
  if ((q->collapse && !groups && !(groups = own = calloc((size_t)q->k, sizeof *groups))) ||
      !(vec = malloc(sizeof *vec * (size_t)lk_engine_dim(e)))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  double t1 = lk_clock_now();
  info->decode_s = t1 - t0;
  info->stage = LK_SEARCH_EMBED;
  if (q->multi_crop && q->collapse) { /* embedding and search of every crop, per round of candidates */
    crop_fetch cf = {e, use, q->filter, 0};
    rc = lk_collapse_run(e, q->collapse, q->k, fetch_crops, &cf, q->filter, NULL, groups, &n, err);
    wait = cf.wait;
  } else if (q->multi_crop) { /* embedding and search of every crop together */
    rc = lk_engine_search_crops(e, use, q->filter, allow, q->k, hits, &n, &wait, err);
  } else {
    rc = lk_engine_embed_timed(e, use, vec, &wait, err);
  }
  if (rc) goto out;
  double t2 = lk_clock_now();
  info->stage = LK_SEARCH_SEARCH;
  if (!q->multi_crop && (rc = q->collapse ? lk_collapse_search_vector(e, vec, q->filter, q->k, q->collapse, groups, &n, err)
                                          : search_vec(e, vec, q, allow, hits, &n, err)))
    goto out;
  if (q->collapse) { /* the hits are the groups' heads */
    for (int i = 0; i < n; i++) hits[i] = groups[i].hit;
    for (int i = n; i < q->k; i++) hits[i] = (lk_hit){-1, -INFINITY};
    info->ngroups = n;
  }
  double t3 = lk_clock_now();
  info->queue_s = wait;
  info->embed_s = t2 - t1 - wait;
  info->search_s = t3 - t2;
  info->stage = LK_SEARCH_DONE;
  *nfound = n;
out:
  lk_image_free(&cropped);
  lk_image_free(&iso);
  free(vec);
  free(own);
  return rc;
}

/* info ready for a call: the caller's (groups kept) or a local one. */
static lk_search_info *start_info(lk_search_info *info, lk_search_info *local, int *nfound) {
  lk_search_info *i = info ? info : local;
  lk_group *g = info ? info->groups : NULL;
  memset(i, 0, sizeof *i);
  i->groups = g;
  i->stage = LK_SEARCH_QUERY;
  *nfound = 0;
  return i;
}

/* Step 1: the photo decoded at the models' input side (full size for a crop, whose
 * coordinates are the photo's). */
static int decode(lk_engine *e, const void *bytes, size_t len, const lk_image_limits *lim, int full, lk_image *im,
                  lk_search_info *info, lk_errbuf *err) {
  if (!bytes || len == 0) {
    info->stage = LK_SEARCH_DECODE;
    return lk_err_set(err, LK_EINVAL, "empty photo");
  }
  int side = 0;
  if (!full) { /* the models tell the side (loading them if need be) */
    info->stage = LK_SEARCH_EMBED;
    if ((side = lk_engine_input_side(e, err)) < 0) return side;
  }
  info->stage = LK_SEARCH_DECODE;
  return lk_image_decode(bytes, len, lim, side, im, err);
}

/* rgb (w x h, rows stride bytes apart) copied into a tightly packed image, within image.h's
 * default limits. */
static int from_pixels(const uint8_t *rgb, int w, int h, size_t stride, lk_image *im, lk_errbuf *err) {
  size_t row, bytes;
  if (!rgb || w <= 0 || h <= 0) return lk_err_set(err, LK_EINVAL, "no pixels (%dx%d)", w, h);
  if (w > LK_IMAGE_MAX_SIDE || h > LK_IMAGE_MAX_SIDE || (uint64_t)w * (uint64_t)h > LK_IMAGE_MAX_PIXELS)
    return lk_err_set(err, LK_ETOOBIG, "%dx%d pixels: past the limits (%llu pixels, %d a side)", w, h,
                      (unsigned long long)LK_IMAGE_MAX_PIXELS, LK_IMAGE_MAX_SIDE);
  if (lk_size_mul((size_t)w, 3, &row) || stride < row)
    return lk_err_set(err, LK_EINVAL, "a row of %d RGB pixels needs %zu bytes, the stride is %zu", w, (size_t)w * 3,
                      stride);
  if (lk_size_mul(row, (size_t)h, &bytes) || !(im->px = malloc(bytes))) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (int y = 0; y < h; y++) memcpy(im->px + (size_t)y * row, rgb + (size_t)y * stride, row);
  im->w = w;
  im->h = h;
  return 0;
}

/* Steps 1 to 5 for the encoded photo bytes[0..len), or for rgb's pixels. */
typedef struct photo {
  int pixels; /* 1: rgb, w, h, stride */
  const void *bytes;
  size_t len;
  const lk_image_limits *lim;
  const uint8_t *rgb;
  int w, h;
  size_t stride;
} photo;

static int search(lk_engine *e, const photo *p, const lk_query *q, lk_hit *hits, int *nfound, lk_search_info *info,
                  lk_errbuf *err) {
  double t0 = lk_clock_now();
  lk_search_info local;
  info = start_info(info, &local, nfound);
  int rc = check_query(e, q, err);
  if (rc) return rc;
  lk_image im = {0};
  info->stage = LK_SEARCH_DECODE;
  rc = p->pixels ? from_pixels(p->rgb, p->w, p->h, p->stride, &im, err)
              : decode(e, p->bytes, p->len, p->lim, q->crop[2] != 0, &im, info, err);
  if (!rc) rc = search_image(e, &im, q, NULL, hits, nfound, info, t0, err);
  lk_image_free(&im);
  return rc;
}

int lk_query_search_image(lk_engine *e, const lk_image *im, const lk_query *q, const uint64_t *allow, lk_hit *hits,
                          int *nfound, lk_search_info *info, lk_errbuf *err) {
  double t0 = lk_clock_now();
  lk_search_info local;
  info = start_info(info, &local, nfound);
  int rc = check_query(e, q, err);
  if (rc) return rc;
  if (allow && ((q->filter && (q->filter->n || q->filter->nwhere)) || q->collapse))
    return lk_err_set(err, LK_EINVAL, "a search over chosen rows takes no filter and no collapsing");
  return search_image(e, im, q, allow, hits, nfound, info, t0, err);
}

int lk_engine_search_photo_lim(lk_engine *e, const void *bytes, size_t len, const lk_image_limits *lim,
                               const lk_query *q, lk_hit *hits, int *nfound, lk_search_info *info, lk_errbuf *err) {
  return search(e, &(photo){.bytes = bytes, .len = len, .lim = lim}, q, hits, nfound, info, err);
}

int lk_engine_search_photo(lk_engine *e, const void *bytes, size_t len, const lk_query *q, lk_hit *hits, int *nfound,
                           lk_search_info *info, lk_errbuf *err) {
  return lk_engine_search_photo_lim(e, bytes, len, NULL, q, hits, nfound, info, err);
}

int lk_engine_search_pixels(lk_engine *e, const uint8_t *rgb, int w, int h, size_t stride, const lk_query *q,
                            lk_hit *hits, int *nfound, lk_search_info *info, lk_errbuf *err) {
  return search(e, &(photo){.pixels = 1, .rgb = rgb, .w = w, .h = h, .stride = stride}, q, hits, nfound, info, err);
}

int lk_engine_embed_photo(lk_engine *e, const void *bytes, size_t len, float *vec, lk_errbuf *err) {
  lk_search_info info = {0};
  lk_image im = {0};
  int rc = decode(e, bytes, len, NULL, 0, &im, &info, err);
  if (!rc) rc = lk_engine_embed(e, &im, vec, err);
  lk_image_free(&im);
  return rc;
}

int lk_engine_embed_pixels(lk_engine *e, const uint8_t *rgb, int w, int h, size_t stride, float *vec,
                           lk_errbuf *err) {
  lk_image im = {0};
  int rc = from_pixels(rgb, w, h, stride, &im, err);
  if (!rc) rc = lk_engine_embed(e, &im, vec, err);
  lk_image_free(&im);
  return rc;
}
