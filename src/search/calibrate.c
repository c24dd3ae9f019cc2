/* search/calibrate.c — match strength (see calibrate.h): pairs drawn from the catalog, the
 * isotonic fits compressed to breakpoints, their JSON, and the labels and advice added to
 * search answers (the one place the CLI and the HTTP API get them from). */
#include "search/calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/image.h"
#include "index/index.h"
#include "search/engine.h"
#include "search/query.h"
#include "search/results.h"
#include "util/array.h"
#include "util/isotonic.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/size.h"

static const char *const LABELS[] = {"no close match", "loosely related", "same kind", "very similar", "same product"};

const char *lk_match_label_name(int label) {
  return label >= LK_MATCH_NONE && label <= LK_MATCH_PRODUCT ? LABELS[label] : "no close match";
}

static float interp(const lk_calibration *c, const float *p, float s) {
  if (!(s > c->score[0])) return p[0]; /* NaN too */
  if (s >= c->score[c->n - 1]) return p[c->n - 1];
  int lo = 0, hi = c->n - 1; /* score[lo] < s < score[hi] */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (c->score[mid] <= s) lo = mid;
    else hi = mid;
  }
  float t = (s - c->score[lo]) / (c->score[hi] - c->score[lo]);
  return p[lo] + t * (p[hi] - p[lo]);
}

void lk_calibration_match(const lk_calibration *c, float score, lk_match *m) {
  m->p_kind = interp(c, c->p_kind, score);
  m->p_product = interp(c, c->p_product, score);
  if (m->p_product >= LK_CAL_CUT_PRODUCT) m->label = LK_MATCH_PRODUCT;
  else if (m->p_kind >= LK_CAL_CUT_SIMILAR) m->label = LK_MATCH_SIMILAR;
  else if (m->p_kind >= LK_CAL_CUT_KIND) m->label = LK_MATCH_KIND;
  else if (m->p_kind >= LK_CAL_CUT_LOOSE) m->label = LK_MATCH_LOOSE;
  else m->label = LK_MATCH_NONE;
}

float lk_calibration_weak_score(const lk_calibration *c) {
  float lo = c->score[0] - 1.0f, hi = c->score[c->n - 1] + 1.0f;
  lk_match m;
  lk_calibration_match(c, hi, &m);
  if (m.label < LK_MATCH_KIND) return hi; /* nothing is ever "same kind" */
  for (int i = 0; i < 40; i++) { /* the label rises with the score: bisect */
    float mid = (lo + hi) / 2;
    lk_calibration_match(c, mid, &m);
    if (m.label >= LK_MATCH_KIND) hi = mid;
    else lo = mid;
  }
  return hi;
}

/* ---------------------------------------------------------------- fitting */

static double round6(float x) { return round((double)x * 1e6) / 1e6; }

typedef struct pair {
  float score;
  uint8_t cls;
} pair;

static int cmp_pair(const void *a, const void *b) {
  float x = ((const pair *)a)->score, y = ((const pair *)b)->score;
  return (x > y) - (x < y);
}

/* fit[i] for every sorted pair i: the isotonic fit of y on the pairs without flag `skip`, and
 * between them the fit of the next one after (of the last one, after it): still monotone. */
static int fit_some(const pair *p, size_t n, int skip, int kind, double *fit) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!(p[i].cls & skip)) {
      int c = p[i].cls & LK_CAL_CLASS;
      fit[m++] = kind ? c != LK_CAL_OTHER : c == LK_CAL_PRODUCT;
    }
  int rc = lk_isotonic_fit(fit, NULL, m, fit);
  if (rc || !m) return rc;
  size_t j = m; /* spread the m fitted values over the n slots, from the end */
  double last = fit[m - 1];
  for (size_t i = n; i-- > 0;) {
    if (!(p[i].cls & skip)) last = fit[--j];
    fit[i] = last;
  }
  return 0;
}

int lk_calibration_fit(const float *score, const uint8_t *cls, size_t n, const char *recipe_id, lk_calibration *c,
                       lk_errbuf *err) {
  static const char *const names[] = {"other-kind", "same-kind", "same-product"};
  size_t count[3] = {0, 0, 0}, inkind[3] = {0, 0, 0}, inprod[3] = {0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    int k = cls[i] & LK_CAL_CLASS, fl = cls[i] & ~LK_CAL_CLASS;
    if (k > LK_CAL_PRODUCT || (fl & ~(LK_CAL_KIND_FIT | LK_CAL_PRODUCT_FIT)) ||
        fl == (LK_CAL_KIND_FIT | LK_CAL_PRODUCT_FIT))
      return lk_err_set(err, LK_EINVAL, "calibration: pair %zu has no class", i);
    if (!isfinite(score[i])) return lk_err_set(err, LK_EINVAL, "calibration: pair %zu has no finite score", i);
    count[k]++;
    if (!(fl & LK_CAL_PRODUCT_FIT)) inkind[k]++;
    if (!(fl & LK_CAL_KIND_FIT)) inprod[k]++;
  }
  for (int k = 0; k < 3; k++)
    if (!count[k] || !inkind[k] || !inprod[k])
      return lk_err_set(err, LK_EINVAL, "calibration: no %s pairs to fit %son", names[k],
                        !count[k] ? "" : !inkind[k] ? "p_same_kind " : "p_same_product ");
  size_t bytes;
  pair *p = NULL;
  double *yk = NULL, *yp = NULL;
  if (lk_size_mul(n, sizeof *p, &bytes) || !(p = malloc(bytes)) || !(yk = malloc(n * sizeof *yk)) ||
      !(yp = malloc(n * sizeof *yp))) {
    free(p);
    free(yk);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) p[i] = (pair){score[i], cls[i]};
  qsort(p, n, sizeof *p, cmp_pair);
  int rc = fit_some(p, n, LK_CAL_PRODUCT_FIT, 1, yk);
  if (!rc) rc = fit_some(p, n, LK_CAL_KIND_FIT, 0, yp);
  if (rc) {
    free(p);
    free(yk);
    free(yp);
    return lk_err_set(err, rc, "calibration: fitting failed: %s", lk_strerror(rc));
  }
  memset(c, 0, sizeof *c);
  snprintf(c->recipe_id, sizeof c->recipe_id, "%s", recipe_id ? recipe_id : "");
  c->pairs_other = (int)count[0];
  c->pairs_kind = (int)count[1];
  c->pairs_product = (int)count[2];
  /* breakpoints at evenly spaced ranks, the ends included, at the precision they are stored
   * with (6 decimals: scores that round alike are one point); a tie keeps the higher fit */
  size_t want = n < LK_CAL_MAX_POINTS ? n : LK_CAL_MAX_POINTS;
  for (size_t j = 0; j < want; j++) {
    size_t i = want > 1 ? j * (n - 1) / (want - 1) : 0;
    float s = (float)round6(p[i].score), fk = (float)round6((float)yk[i]), fp = (float)round6((float)yp[i]);
    if (c->n && s <= c->score[c->n - 1]) {
      c->p_kind[c->n - 1] = fk;
      c->p_product[c->n - 1] = fp;
      continue;
    }
    c->score[c->n] = s;
    c->p_kind[c->n] = fk;
    c->p_product[c->n] = fp;
    c->n++;
  }
  free(p);
  free(yk);
  free(yp);
  return 0;
}

/* ---------------------------------------------------------------- JSON */

int lk_calibration_to_json(const lk_calibration *c, char **out, lk_errbuf *err) {
  json_t *pts = json_array();
  for (int i = 0; pts && i < c->n; i++)
    json_array_append_new(pts, json_pack("[f,f,f]", (double)c->score[i], (double)c->p_kind[i], (double)c->p_product[i]));
  json_t *o = pts ? json_pack("{s:i, s:s, s:{s:i, s:i, s:i}, s:o}", "version", LK_CAL_VERSION, "recipe_id", c->recipe_id,
                              "pairs", "same_product", c->pairs_product, "same_kind", c->pairs_kind, "other_kind",
                              c->pairs_other, "points", pts)
                  : NULL;
  if (o && c->items > 0 && json_object_set_new(o, "items", json_integer((json_int_t)c->items))) {
    json_decref(o);
    o = NULL;
  }
  /* 9 significant digits: every float reads back as itself, so what parsed is written back */
  *out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
  json_decref(o);
  return *out ? 0 : lk_err_set(err, LK_ENOMEM, "out of memory");
}

static int bad(lk_errbuf *err, const char *what) {
  return lk_err_set(err, LK_ECORRUPT, "the catalog's calibration is damaged (%s): run `lookalike calibrate --db` again", what);
}

int lk_calibration_same(const lk_calibration *a, const lk_calibration *b) {
  if (!a || !b) return !a && !b;
  if (strcmp(a->recipe_id, b->recipe_id) || a->n != b->n || a->pairs_product != b->pairs_product ||
      a->pairs_kind != b->pairs_kind || a->pairs_other != b->pairs_other)
    return 0;
  size_t bytes = sizeof(float) * (size_t)(a->n > 0 && a->n <= LK_CAL_MAX_POINTS ? a->n : 0);
  return !memcmp(a->score, b->score, bytes) && !memcmp(a->p_kind, b->p_kind, bytes) &&
         !memcmp(a->p_product, b->p_product, bytes);
}

int lk_calibration_from_json(const char *s, lk_calibration *c, lk_errbuf *err) {
  memset(c, 0, sizeof *c);
  size_t len = strnlen(s, LK_CAL_MAX_JSON + 1);
  if (len > LK_CAL_MAX_JSON)
    return lk_err_set(err, LK_ETOOBIG, "the catalog's calibration is over %d bytes: run `lookalike calibrate --db` again",
                      LK_CAL_MAX_JSON);
  json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(o)) {
    json_decref(o);
    return bad(err, "not a JSON object");
  }
  int rc = 0;
  json_t *v = json_object_get(o, "version"), *rid = json_object_get(o, "recipe_id"), *pairs = json_object_get(o, "pairs"),
         *pts = json_object_get(o, "points");
  if (!json_is_integer(v) || json_integer_value(v) != LK_CAL_VERSION) rc = bad(err, "unknown version");
  else if (!json_is_string(rid) || json_string_length(rid) > 16) rc = bad(err, "recipe_id");
  else if (!json_is_object(pairs)) rc = bad(err, "pairs");
  else if (!json_is_array(pts) || json_array_size(pts) < 1 || json_array_size(pts) > LK_CAL_MAX_POINTS)
    rc = bad(err, "points: 1 to 64 expected");
  if (rc) goto out;
  snprintf(c->recipe_id, sizeof c->recipe_id, "%s", json_string_value(rid));
  static const char *const pk[3] = {"same_product", "same_kind", "other_kind"};
  int *pv[3] = {&c->pairs_product, &c->pairs_kind, &c->pairs_other};
  for (int k = 0; k < 3; k++) {
    json_t *x = json_object_get(pairs, pk[k]);
    if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 100000000) {
      rc = bad(err, "pairs");
      goto out;
    }
    *pv[k] = (int)json_integer_value(x);
  }
  json_t *items = json_object_get(o, "items"); /* (absent in older calibrations) */
  if (items && (!json_is_integer(items) || json_integer_value(items) < 0)) {
    rc = bad(err, "items");
    goto out;
  }
  c->items = items ? (int64_t)json_integer_value(items) : 0;
  size_t i;
  json_t *pt;
  json_array_foreach(pts, i, pt) {
    double d[3];
    for (int k = 0; k < 3; k++) {
      json_t *x = json_array_get(pt, (size_t)k);
      d[k] = json_is_number(x) ? json_number_value(x) : NAN;
    }
    if (!json_is_array(pt) || json_array_size(pt) != 3 || !isfinite(d[0]) || fabs(d[0]) > 100 || !(d[1] >= 0 && d[1] <= 1) ||
        !(d[2] >= 0 && d[2] <= 1)) {
      rc = bad(err, "a point is not [score, p_kind, p_product] with probabilities in 0..1");
      goto out;
    }
    c->score[i] = (float)d[0];
    c->p_kind[i] = (float)d[1];
    c->p_product[i] = (float)d[2];
    if (i && (c->score[i] <= c->score[i - 1] || c->p_kind[i] < c->p_kind[i - 1] || c->p_product[i] < c->p_product[i - 1])) {
      rc = bad(err, "points out of order");
      goto out;
    }
    c->n = (int)i + 1;
  }
out:
  json_decref(o);
  if (rc) memset(c, 0, sizeof *c);
  return rc;
}

/* ---------------------------------------------------------------- catalog */

int lk_calibration_store(lk_catalog *cat, const lk_calibration *c, lk_errbuf *err) {
  char *text = NULL;
  int rc = lk_calibration_to_json(c, &text, err);
  if (rc) return rc;
  if ((rc = lk_catalog_begin(cat))) {
    free(text);
    return lk_catalog_fail(cat, rc, err, "calibration");
  }
  rc = lk_catalog_set_meta(cat, LK_CAL_META_KEY, text);
  if (!rc) rc = lk_catalog_commit(cat);
  if (rc) {
    lk_catalog_fail(cat, rc, err, "calibration: storing it");
    lk_catalog_rollback(cat);
  }
  free(text);
  return rc;
}

int lk_calibration_load(lk_catalog *cat, const char *recipe_id, lk_calibration *c, const char **why, lk_errbuf *err) {
  char *text = NULL;
  if (why) *why = NULL;
  int rc = lk_catalog_get_meta(cat, LK_CAL_META_KEY, &text);
  if (rc == LK_ENOTFOUND) {
    if (why) *why = "uncalibrated (run `lookalike calibrate --db`)";
    return LK_ENOTFOUND;
  }
  if (rc) return lk_catalog_fail(cat, rc, err, "calibration");
  rc = lk_calibration_from_json(text, c, err);
  free(text);
  if (rc) return rc;
  if (recipe_id && strcmp(c->recipe_id, recipe_id)) {
    if (why) *why = "uncalibrated (the stored calibration is of another recipe: run `lookalike calibrate --db`)";
    memset(c, 0, sizeof *c);
    return LK_ENOTFOUND;
  }
  return 0;
}

/* ---------------------------------------------------------------- pairs from the catalog */

void lk_calibrate_opts_default(lk_calibrate_opts *o) {
  memset(o, 0, sizeof *o);
  o->photos = 80;
  o->items = 400;
  o->junk = 32;
}

typedef struct pairs {
  float *score;
  uint8_t *cls;
  size_t n, cap;
} pairs;

static int push(pairs *p, float s, uint8_t cls) {
  if (p->n == p->cap) { /* score and cls grow together */
    size_t cap;
    if (lk_array_grow_cap(p->cap, p->n + 1, 1024, sizeof *p->score, &cap) || LK_ARRAY_RESIZE(p->score, cap) ||
        LK_ARRAY_RESIZE(p->cls, cap))
      return LK_ENOMEM;
    p->cap = cap;
  }
  p->score[p->n] = s;
  p->cls[p->n++] = cls;
  return 0;
}

/* A light change of a catalog photo, as a shopper's photo of the very product differs from
 * it: view 0 crops 80-95% of it and scales it to 50-100%; view 1 mirrors it and changes its
 * brightness by up to 20%. *out: lk_image_free. */
static int alter(const lk_image *src, int view, uint64_t *rng, lk_image *out) {
  if (view == 0) {
    float f = 0.80f + 0.15f * lk_rng_unit(rng), sc = 0.5f + 0.5f * lk_rng_unit(rng);
    int w = (int)(src->w * f), h = (int)(src->h * f);
    if (w < 8 || h < 8) return LK_EINVAL;
    int x = (int)((src->w - w) * lk_rng_unit(rng)), y = (int)((src->h - h) * lk_rng_unit(rng));
    lk_image c = {0};
    int rc = lk_image_crop(src, x, y, w, h, &c);
    if (rc) return rc;
    int tw = (int)(w * sc), th = (int)(h * sc);
    rc = lk_image_resize(&c, tw < 8 ? 8 : tw, th < 8 ? 8 : th, out);
    lk_image_free(&c);
    return rc;
  }
  size_t bytes;
  if (lk_size_mul3((size_t)src->w, (size_t)src->h, 3, &bytes)) return LK_ETOOBIG;
  out->px = malloc(bytes);
  if (!out->px) return LK_ENOMEM;
  out->w = src->w;
  out->h = src->h;
  float gain = 0.8f + 0.4f * lk_rng_unit(rng);
  for (int y = 0; y < src->h; y++)
    for (int x = 0; x < src->w; x++)
      for (int ch = 0; ch < 3; ch++) {
        float v = src->px[((size_t)y * src->w + (size_t)(src->w - 1 - x)) * 3 + ch] * gain;
        out->px[((size_t)y * src->w + x) * 3 + ch] = (uint8_t)(v > 255 ? 255 : v + 0.5f);
      }
  return 0;
}

/* A photo of no product: view 0 random noise, 1 a smooth two-colour gradient, 2 src cut into
 * 8 x 8 tiles put back in random order (its colours, no garment). *out: lk_image_free. */
static int junk(const lk_image *src, int view, uint64_t *rng, lk_image *out) {
  int w = src->w, h = src->h;
  size_t bytes;
  if (w < 8 || h < 8 || lk_size_mul3((size_t)w, (size_t)h, 3, &bytes)) return LK_EINVAL;
  if (!(out->px = malloc(bytes))) return LK_ENOMEM;
  out->w = w;
  out->h = h;
  uint8_t a[3], b[3];
  for (int c = 0; c < 3; c++) a[c] = (uint8_t)(lk_rng_next(rng) >> 56), b[c] = (uint8_t)(lk_rng_next(rng) >> 56);
  int tw = w / 8, th = h / 8, perm[64];
  for (int t = 0; t < 64; t++) perm[t] = t;
  for (int t = 63; t > 0; t--) {
    int u = (int)(lk_rng_next(rng) % (uint64_t)(t + 1)), x = perm[t];
    perm[t] = perm[u];
    perm[u] = x;
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *d = out->px + ((size_t)y * w + x) * 3;
      if (view == 0) {
        uint64_t r = lk_rng_next(rng);
        d[0] = (uint8_t)r, d[1] = (uint8_t)(r >> 8), d[2] = (uint8_t)(r >> 16);
      } else if (view == 1) {
        float t = (float)(x + y) / (float)(w + h);
        for (int c = 0; c < 3; c++) d[c] = (uint8_t)(a[c] + t * (b[c] - a[c]));
      } else {
        int tx = x / tw, ty = y / th;
        if (tx > 7 || ty > 7) { /* the edge beyond the 8 x 8 tiles stays as it was */
          memcpy(d, src->px + ((size_t)y * w + x) * 3, 3);
          continue;
        }
        int from = perm[ty * 8 + tx], sx = (from % 8) * tw + x % tw, sy = (from / 8) * th + y % th;
        memcpy(d, src->px + ((size_t)sy * w + sx) * 3, 3);
      }
    }
  return 0;
}

/* The score of the altered photo against its own item: the cosine of the two vectors, or with
 * a tuned catalog's label prior the search row of its vector scored against that item's row
 * alone (so the prior counts, as in a search). */
static int own_score(lk_engine *e, const lk_image *img, int64_t id, uint64_t *allow, float *vec, float *q, float *s,
                     lk_errbuf *err) {
  int64_t row = lk_index_row(lk_engine_index(e), id);
  if (row < 0) return 1;
  lk_image g = {0};
  int garment = lk_engine_garment(e), rc = 0;
  if (garment) rc = lk_engine_query_photo(e, img, &g, err);
  if (!rc) rc = lk_engine_embed(e, garment ? &g : img, vec, err);
  lk_image_free(&g);
  if (rc) return rc;
  const float *own = lk_engine_prior(e) ? NULL : lk_engine_vector(e, id);
  if (own) { /* no label prior: the score is the cosine, as the index's float re-rank gives it */
    double dot = 0;
    for (int i = 0; i < lk_engine_dim(e); i++) dot += (double)vec[i] * own[i];
    *s = (float)dot;
    return 0;
  }
  lk_engine_make_query(e, vec, q);
  allow[row / 64] |= 1ull << (row % 64);
  lk_hit h = {-1, 0};
  int nf = 0;
  rc = lk_engine_search_rows(e, q, 1, 1, allow, -1, &h, &nf);
  allow[row / 64] &= ~(1ull << (row % 64));
  if (rc) return lk_err_set(err, rc, "calibration: search failed: %s", lk_strerror(rc));
  if (nf != 1 || h.id != id) return 1;
  *s = h.score;
  return 0;
}

#define HITS 10       /* hits per query labelled same kind or not: the default page's first row */
#define NEIGHBOURS 50 /* neighbours looked through for an item's best of each kind */

/* The n hits of a query of articleType `type`, each as a "same kind" or "other kind" pair of
 * the p_kind fit. */
static int push_hits(const lk_engine *e, pairs *p, const lk_hit *hits, int n, int at, const char *type) {
  for (int h = 0; h < n; h++) {
    const lk_item *hi = lk_engine_item(e, hits[h].id);
    const char *t = hi ? hi->field[at] : NULL;
    int rc = push(p, hits[h].score, (t && *t && !strcasecmp(t, type) ? LK_CAL_KIND : LK_CAL_OTHER) | LK_CAL_KIND_FIT);
    if (rc) return rc;
  }
  return 0;
}

/* One run of lk_calibration_pairs: its engine, options, scratch and the pairs so far. */
typedef struct cal_run {
  lk_engine *e;
  const lk_calibrate_opts *o;
  lk_errbuf *err;
  int at;          /* the articleType field */
  size_t *pos, m;  /* the sampled items' positions, shuffled */
  uint64_t *allow; /* a row bitmap for own_score */
  float *vec, *q;
  lk_hit *hits;    /* NEIGHBOURS */
  uint64_t rng;
  pairs p;
} cal_run;

static int interrupted(const cal_run *r) {
  if (r->o->stop && *r->o->stop) return lk_err_set(r->err, LK_EINTR, "calibration: interrupted");
  return 0;
}

/* The items with a vector and an articleType (of o->split's half, if any) into r->pos,
 * shuffled: the first ones are a sample without repeats. */
static int sample_items(cal_run *r) {
  size_t ni = lk_engine_item_count(r->e);
  for (size_t i = 0; i < ni; i++) {
    const lk_item *it = lk_engine_item_at(r->e, i);
    if (r->o->split && (int)(lk_rng_mix((uint64_t)it->id) & 1) != r->o->split - 1) continue;
    if (it->field[r->at] && *it->field[r->at] && lk_engine_has_vector(r->e, it->id)) r->pos[r->m++] = i;
  }
  if (r->m < 2) return lk_err_set(r->err, LK_ENOTFOUND, "calibration: fewer than 2 items with a vector and an articleType");
  r->rng = lk_rng_mix(r->o->seed ^ 0x63616c6962ull);
  for (size_t i = r->m - 1; i > 0; i--) {
    size_t j = (size_t)(lk_rng_next(&r->rng) % (i + 1)), t = r->pos[i];
    r->pos[i] = r->pos[j];
    r->pos[j] = t;
  }
  return 0;
}

/* One sampled item's pairs: its top HITS hits for p_kind, and its best neighbour of its own
 * articleType and of another among the first NEIGHBOURS for p_product. */
static int item_pairs(cal_run *r, const lk_item *it) {
  int n = 0, k = NEIGHBOURS < (int)r->m ? NEIGHBOURS : (int)r->m - 1, got_kind = 0, got_other = 0, rc;
  lk_errbuf sb = {0};
  if ((rc = lk_engine_similar(r->e, it->id, NULL, k, r->hits, &n, &sb)))
    return lk_err_set(r->err, rc, "calibration: %s", lk_err_msg(&sb));
  if ((rc = push_hits(r->e, &r->p, r->hits, n < HITS ? n : HITS, r->at, it->field[r->at])))
    return lk_err_set(r->err, rc, "out of memory");
  for (int h = 0; h < n && !(got_kind && got_other); h++) {
    const lk_item *hi = lk_engine_item(r->e, r->hits[h].id);
    const char *t = hi ? hi->field[r->at] : NULL;
    if (!t || !*t) continue;
    int same = !strcasecmp(t, it->field[r->at]);
    if (same && !got_kind) got_kind = 1, rc = push(&r->p, r->hits[h].score, LK_CAL_KIND | LK_CAL_PRODUCT_FIT);
    else if (!same && !got_other) got_other = 1, rc = push(&r->p, r->hits[h].score, LK_CAL_OTHER | LK_CAL_PRODUCT_FIT);
    if (rc) return lk_err_set(r->err, rc, "out of memory");
  }
  return 0;
}

/* Photo j, made a photo of no product: its best hit is an "other kind" pair. A failed search
 * other than for memory adds no pair. */
static int junk_pair(cal_run *r, const lk_image *img, size_t j) {
  lk_image jp = {0};
  lk_hit h = {-1, 0};
  int nf = 0, rc = junk(img, (int)(j % 3), &r->rng, &jp);
  lk_query jq;
  lk_query_init(&jq);
  jq.k = 1;
  if (!rc) rc = lk_engine_search_pixels(r->e, jp.px, jp.w, jp.h, (size_t)jp.w * 3, &jq, &h, &nf, NULL, r->err);
  lk_image_free(&jp);
  if (rc == LK_ENOMEM) return lk_err_set(r->err, rc, "out of memory");
  if (!rc && nf == 1 && (rc = push(&r->p, h.score, LK_CAL_OTHER))) return lk_err_set(r->err, rc, "out of memory");
  return 0;
}

/* Two light alterations of item it's photo: each a "same product" pair against its own item,
 * and its top hits (its own item excluded) as p_kind pairs. An alteration whose item is not
 * found adds nothing. */
static int altered_pairs(cal_run *r, const lk_image *img, const lk_item *it) {
  for (int v = 0; v < 2; v++) {
    lk_image alt = {0};
    float s = 0;
    int rc = alter(img, v, &r->rng, &alt);
    if (!rc) rc = own_score(r->e, &alt, it->id, r->allow, r->vec, r->q, &s, r->err);
    lk_image_free(&alt);
    if (rc == 0) { /* the altered photo as a search: its top hits, its own item excluded */
      int nf = 0;
      lk_engine_make_query(r->e, r->vec, r->q);
      rc = lk_engine_search_rows(r->e, r->q, 1, HITS, NULL, it->id, r->hits, &nf);
      if (rc) lk_err_set(r->err, rc, "calibration: search failed: %s", lk_strerror(rc));
      else if ((rc = push_hits(r->e, &r->p, r->hits, nf, r->at, it->field[r->at]))) lk_err_set(r->err, rc, "out of memory");
      if (rc) return rc;
    }
    if (rc < 0) {
      if (rc == LK_ENOMEM) lk_err_set(r->err, rc, "out of memory");
      return rc;
    }
    if (rc == 0 && (rc = push(&r->p, s, LK_CAL_PRODUCT))) return lk_err_set(r->err, rc, "out of memory");
  }
  return 0;
}

/* same product: catalog photos lightly altered, against their own item (and the first
 * o->junk of them made photos of no product too) */
static int photo_pairs(cal_run *r) {
  int tried = 0, read = 0, rc;
  lk_errbuf first = {0};
  for (size_t j = 0; j < (size_t)r->o->photos && j < r->m; j++) {
    if ((rc = interrupted(r))) return rc;
    const lk_item *it = lk_engine_item_at(r->e, r->pos[r->m - 1 - j]); /* from the other end: other items */
    if (!it->path) continue;
    tried++;
    lk_image img = {0};
    lk_errbuf lb = {0};
    if (lk_image_load(it->path, NULL, 0, &img, &lb)) {
      if (!first.msg[0]) lk_err_set(&first, LK_EIO, "%s", lk_err_msg(&lb));
      continue;
    }
    read++;
    rc = j < (size_t)r->o->junk ? junk_pair(r, &img, j) : 0;
    if (!rc) rc = altered_pairs(r, &img, it);
    lk_image_free(&img);
    if (rc) return rc;
  }
  if (!read && r->o->photos > 0)
    return lk_err_set(r->err, LK_ENOTFOUND, "calibration: none of the %d catalog photos tried could be read (%s)",
                      tried, first.msg[0] ? first.msg : "no item has a photo path");
  return 0;
}

int lk_calibration_pairs(lk_engine *e, const lk_calibrate_opts *o, float **score_out, uint8_t **cls_out, size_t *n_out,
                         lk_errbuf *err) {
  lk_calibrate_opts d;
  if (!o) {
    lk_calibrate_opts_default(&d);
    o = &d;
  }
  *score_out = NULL;
  *cls_out = NULL;
  *n_out = 0;
  cal_run r = {.e = e, .o = o, .err = err, .at = lk_filter_field("articleType")};
  size_t ni = lk_engine_item_count(e), bytes, words = lk_engine_rows(e) / 64 + 1;
  int dim = lk_engine_dim(e), qdim = lk_engine_query_dim(e);
  if (dim <= 0) return lk_err_set(err, LK_ENOTFOUND, "calibration: the catalog has no vectors yet");
  int rc = LK_ENOMEM;
  if (lk_size_mul(ni + 1, sizeof *r.pos, &bytes) || !(r.pos = malloc(bytes)) ||
      !(r.allow = calloc(words, sizeof *r.allow)) || !(r.vec = malloc(sizeof *r.vec * (size_t)dim)) ||
      !(r.q = malloc(sizeof *r.q * (size_t)qdim)) || !(r.hits = malloc(NEIGHBOURS * sizeof *r.hits))) {
    lk_err_set(err, rc, "out of memory");
    goto out;
  }
  if ((rc = sample_items(&r))) goto out;
  /* same kind / other kind, as searches meet them: each sampled item's top HITS hits (itself
   * excluded), each labelled by articleType (a hit without one is not of the same kind), for
   * p_kind (every query gives HITS pairs, so each counts equally); for p_product, as before,
   * its best neighbour of its own articleType and of another among the first NEIGHBOURS */
  for (size_t j = 0; j < (size_t)o->items && j < r.m; j++)
    if ((rc = interrupted(&r)) || (rc = item_pairs(&r, lk_engine_item_at(e, r.pos[j])))) goto out;
  if ((rc = photo_pairs(&r))) goto out;
  *score_out = r.p.score;
  *cls_out = r.p.cls;
  *n_out = r.p.n;
  r.p.score = NULL;
  r.p.cls = NULL;
out:
  free(r.p.score);
  free(r.p.cls);
  free(r.pos);
  free(r.allow);
  free(r.vec);
  free(r.q);
  free(r.hits);
  return rc;
}

int lk_calibration_compute(lk_engine *e, const lk_calibrate_opts *o, lk_calibration *c, lk_errbuf *err) {
  float *s = NULL;
  uint8_t *cls = NULL;
  size_t n = 0;
  int rc = lk_calibration_pairs(e, o, &s, &cls, &n, err);
  if (!rc) rc = lk_calibration_fit(s, cls, n, lk_engine_recipe_id(e), c, err);
  if (!rc) c->items = (int64_t)lk_engine_size(e); /* searchable items */
  free(s);
  free(cls);
  return rc;
}

/* ---------------------------------------------------------------- answers */

json_t *lk_calibrate_match_json(const lk_engine *e, float score) {
  const lk_calibration *c = lk_engine_calibration(e);
  if (!c) return NULL;
  lk_match m;
  lk_calibration_match(c, score, &m);
  return json_pack("{s:s, s:f, s:f}", "label", lk_match_label_name(m.label), "p_same_kind",
                   round((double)m.p_kind * 1e3) / 1e3, "p_same_product", round((double)m.p_product * 1e3) / 1e3);
}

/* "the filter gender=Men" / "the filters gender=Men, price<=50" appended to buf. */
static void filter_names(const lk_filter *f, char *buf, size_t cap) {
  size_t l = strlen(buf);
  snprintf(buf + l, cap - l, "the filter%s ", f->n + f->nwhere > 1 ? "s" : "");
  for (int i = 0; i < f->n; i++) {
    l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%s=%s", i ? ", " : "", lk_catalog_fields[f->cond[i].field], f->cond[i].value);
  }
  for (int i = 0; i < f->nwhere; i++) {
    l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%s", i || f->n ? ", " : "", f->where[i].expr);
  }
}

int lk_calibrate_answer(const lk_engine *e, json_t *answer, const lk_filter *f, int photo) {
  const lk_calibration *c = lk_engine_calibration(e);
  if (json_object_set_new(answer, "calibrated", json_boolean(c != NULL))) return LK_ENOMEM;
  if (!c) return 0;
  json_t *first = json_array_get(json_object_get(answer, "hits"), 0);
  const char *label = json_string_value(json_object_get(json_object_get(first, "match"), "label"));
  int best = LK_MATCH_NONE;
  for (int i = 0; label && i <= LK_MATCH_PRODUCT; i++)
    if (!strcmp(label, LABELS[i])) best = i;
  int weak = best < LK_MATCH_KIND;
  if (json_object_set_new(answer, "weak", json_boolean(weak))) return LK_ENOMEM;
  if (!weak) return 0;
  /* "No close match: draw a box around the garment, or remove the filter gender=Men." */
  char advice[1024];
  int filtered = f && f->n + f->nwhere > 0;
  if (!first) snprintf(advice, sizeof advice, filtered ? "No match: remove " : "No match in this catalog");
  else if (photo) snprintf(advice, sizeof advice, "No close match: draw a box around the garment%s", filtered ? ", or remove " : "");
  else snprintf(advice, sizeof advice, filtered ? "No close match: remove " : "No close match in this catalog");
  if (filtered) filter_names(f, advice, sizeof advice);
  size_t l = strlen(advice);
  snprintf(advice + l, sizeof advice - l, ".");
  /* (many long filters may cut the text inside a character: lk_results_text mends that) */
  return json_object_set_new(answer, "advice", lk_results_text(advice)) ? LK_ENOMEM : 0;
}

int lk_calibration_update(const char *db, const char *models, int backend, const lk_calibrate_opts *o,
                          lk_calibration *out, double *seconds, lk_errbuf *err) {
  double t0 = lk_clock_now();
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  eo.models_dir = models;
  eo.backend = backend;
  lk_engine *e = NULL;
  lk_catalog *cat = NULL;
  lk_calibration c;
  int rc = lk_engine_open(db, &eo, &e, err);
  if (!rc) rc = lk_calibration_compute(e, o, &c, err);
  if (!rc) rc = lk_catalog_open(db, LK_CATALOG_CREATE, &cat, err);
  if (!rc) rc = lk_calibration_store(cat, &c, err);
  lk_catalog_close(cat);
  lk_engine_close(e);
  if (!rc && out) *out = c;
  if (seconds) *seconds = lk_clock_now() - t0;
  return rc;
}

int lk_calibration_still_fits(lk_catalog *cat, size_t embedded, lk_calibration *kept) {
  char *rid = NULL;
  lk_calibration c;
  int64_t items = 0, vectors = 0, errors = 0;
  int ok = lk_catalog_get_meta(cat, "recipe_id", &rid) == 0 && lk_calibration_load(cat, rid, &c, NULL, NULL) == 0 &&
           lk_catalog_counts(cat, &items, &vectors, &errors) == 0;
  free(rid);
  if (!ok || c.items <= 0) return 0;
  double drift = fabs((double)vectors - (double)c.items), base = (double)c.items;
  if (drift >= LK_CAL_KEEP_DRIFT * base || (double)embedded >= LK_CAL_KEEP_RUN * base) return 0;
  if (kept) *kept = c;
  return 1;
}
