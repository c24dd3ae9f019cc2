/* embed/recipe.c — recipe presets and their canonical JSON form (jansson), including the
 * learned projection a tuned recipe carries (embed/projection.h; weights as base64 float32 LE
 * inside the JSON). */
#include "embed/recipe.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/model.h"
#include "util/file.h"
#include "util/hash.h"

#define MNV2_FILE "mobilenet_v2_1.0_224_quant.tflite"
#define MNV2_SHA "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776"
#define MNV2_TAP "MobilenetV2/Logits/AvgPool"
#define MNV1_FILE "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
#define MNV1_TAP "MobilenetV1/Logits/AvgPool_1a/AvgPool"
#define MNV1_SHA "f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319"

static void set_part(lk_recipe_part *p, const char *model, const char *sha, const char *tap,
                     int pool, float weight) {
  memset(p, 0, sizeof *p);
  snprintf(p->model, sizeof p->model, "%s", model);
  snprintf(p->sha256, sizeof p->sha256, "%s", sha);
  snprintf(p->tap, sizeof p->tap, "%s", tap);
  p->pool = pool;
  p->gem_p = 3.0f;
  p->weight = weight;
}

static const char *const compute_names[] = {[LK_COMPUTE_EXACT] = "exact", [LK_COMPUTE_FP32] = "fp32",
                                             [LK_COMPUTE_INT8] = "int8"};

const char *lk_recipe_compute_name(int compute) {
  return compute >= 0 && compute < (int)(sizeof compute_names / sizeof *compute_names) ? compute_names[compute] : NULL;
}

int lk_recipe_compute_parse(const char *s) {
  for (int c = 0; s && c < (int)(sizeof compute_names / sizeof *compute_names); c++)
    if (!strcmp(s, compute_names[c])) return c;
  return -1;
}

void lk_recipe_default(lk_recipe *r) {
  lk_errbuf eb;
  int rc = lk_recipe_preset("default", r, &eb);
  (void)rc;
}

int lk_recipe_preset(const char *name, lk_recipe *r, lk_errbuf *err) {
  memset(r, 0, sizeof *r);
  /* The default computes in int8: 3.5x faster indexing than exact with the same P@10 and
   * same-product recall (docs/PERFORMANCE.md, Indexing). */
  if (!strcmp(name, "default")) name = "mnv2-avg+color+p80+int8";
  /* "<preset>+int8" / "<preset>+fp32": that CNN preset, computed in int8 / fp32 */
  const char *plus = strrchr(name, '+');
  int mode = plus ? lk_recipe_compute_parse(plus + 1) : -1;
  if (mode > LK_COMPUTE_EXACT && plus > name && (size_t)(plus - name) < sizeof r->name) {
    char base[sizeof r->name];
    memcpy(base, name, (size_t)(plus - name));
    base[plus - name] = 0;
    int rc = lk_recipe_preset(base, r, err);
    if (rc) return rc;
    if (r->nparts == 0)
      return lk_err_set(err, LK_EINVAL, "recipe '%s' has no CNN part to compute in %s", base, plus + 1);
    r->compute = mode;
    snprintf(r->name, sizeof r->name, "%s", name);
    return 0;
  }
  snprintf(r->name, sizeof r->name, "%s", name);
  r->preprocess = LK_PRE_SQUASH;
  if (!strcmp(name, "mnv2-avg+color") || !strcmp(name, "mnv2-avg") || !strcmp(name, "mnv2-avg+color+p80")) {
    r->nparts = 1;
    set_part(&r->part[0], MNV2_FILE, MNV2_SHA, MNV2_TAP, LK_POOL_AVG, 1.0f);
    if (strcmp(name, "mnv2-avg")) {
      r->color_bins = 8;
      r->color_weight = 0.3f;
    }
    /* Queries larger than the catalog's 60x80 photos are shrunk to them first (docs/QUALITY.md:
     * same-product R@1 0.70 -> 0.99); catalog photos of <= 80 px are unchanged. */
    if (!strcmp(name, "mnv2-avg+color+p80")) r->prescale = 80;
    return 0;
  }
  if (!strcmp(name, "mnv2+mnv1+color")) {
    r->nparts = 2;
    set_part(&r->part[0], MNV2_FILE, MNV2_SHA, MNV2_TAP, LK_POOL_AVG, 1.0f);
    set_part(&r->part[1], MNV1_FILE, MNV1_SHA, MNV1_TAP, LK_POOL_AVG, 1.0f);
    r->color_bins = 8;
    r->color_weight = 0.3f;
    return 0;
  }
  if (!strcmp(name, "color")) {
    r->nparts = 0;
    r->color_bins = 8;
    r->color_weight = 1.0f;
    return 0;
  }
  return lk_err_set(err, LK_ENOTFOUND,
                    "unknown recipe '%s' (known: default, mnv2-avg+color, mnv2-avg+color+p80, "
                    "mnv2-avg, mnv2+mnv1+color, color; +int8 or +fp32 after a CNN one)",
                    name);
}

int lk_recipe_load(const char *spec, lk_recipe *r, lk_errbuf *err) {
  size_t n = strlen(spec);
  if (n < 5 || strcmp(spec + n - 5, ".json")) return lk_recipe_preset(spec, r, err);
  uint8_t *buf;
  size_t len;
  int frc = lk_file_read(spec, LK_RECIPE_MAX_JSON, &buf, &len, NULL, err);
  if (frc) return frc;
  json_error_t je;
  json_t *o = json_loadb((const char *)buf, len, 0, &je);
  free(buf);
  if (!o) return lk_err_set(err, LK_ECORRUPT, "%s line %d: %s", spec, je.line, je.text);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!text) return lk_err_set(err, LK_ENOMEM, "out of memory");
  int rc = lk_recipe_from_json(text, r, err);
  free(text);
  return rc;
}

/* ---- projections in recipes */

void lk_recipe_clear(lk_recipe *r) {
  if (!r) return;
  lk_projection_free(r->proj);
  r->proj = NULL;
}

int lk_recipe_copy(lk_recipe *dst, const lk_recipe *src) {
  *dst = *src;
  dst->proj = NULL;
  if (src->proj && !(dst->proj = lk_projection_dup(src->proj))) return LK_ENOMEM;
  return 0;
}

void lk_recipe_set_projection(lk_recipe *r, lk_projection *p) {
  if (r->proj != p) lk_projection_free(r->proj);
  r->proj = p;
}

/* float32 little-endian <-> base64, independent of the host's byte order. */
static json_t *floats_b64(const float *v, size_t n) {
  size_t nb = n * 4, ne = BASE64_ENCODE_RAW_LENGTH(nb);
  uint8_t *raw = malloc(nb ? nb : 1);
  char *txt = malloc(ne + 1);
  json_t *j = NULL;
  if (raw && txt) {
    for (size_t i = 0; i < n; i++) {
      uint32_t u;
      memcpy(&u, &v[i], 4);
      raw[4 * i] = (uint8_t)u;
      raw[4 * i + 1] = (uint8_t)(u >> 8);
      raw[4 * i + 2] = (uint8_t)(u >> 16);
      raw[4 * i + 3] = (uint8_t)(u >> 24);
    }
    base64_encode_raw(txt, nb, raw);
    txt[ne] = '\0';
    j = json_string(txt);
  }
  free(raw);
  free(txt);
  return j;
}

/* Decodes exactly n floats from a base64 string; LK_ECORRUPT otherwise. */
static int b64_floats(json_t *s, float *v, size_t n) {
  if (!json_is_string(s)) return LK_ECORRUPT;
  size_t len = json_string_length(s), nb = n * 4;
  if (len != BASE64_ENCODE_RAW_LENGTH(nb)) return LK_ECORRUPT; /* checked before allocating */
  uint8_t *raw = malloc(BASE64_DECODE_LENGTH(len) + 1);
  if (!raw) return LK_ENOMEM;
  struct base64_decode_ctx ctx;
  size_t got = 0;
  base64_decode_init(&ctx);
  int ok = base64_decode_update(&ctx, &got, raw, len, json_string_value(s)) &&
           base64_decode_final(&ctx) && got == nb;
  for (size_t i = 0; ok && i < n; i++) {
    uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 | (uint32_t)raw[4 * i + 2] << 16 |
                 (uint32_t)raw[4 * i + 3] << 24;
    memcpy(&v[i], &u, 4);
    if (!isfinite(v[i])) ok = 0;
  }
  free(raw);
  return ok ? 0 : LK_ECORRUPT;
}

static json_t *proj_to_json(const lk_projection *p) {
  json_t *layers = json_array(), *o = json_object();
  if (!layers || !o) goto fail;
  for (int i = 0; i < p->nlayers; i++) {
    const lk_projection_layer *l = &p->layer[i];
    json_t *w = floats_b64(l->w, (size_t)l->in * l->out), *b = floats_b64(l->b, (size_t)l->out);
    json_t *j = json_object();
    if (!w || !b || !j) {
      json_decref(w);
      json_decref(b);
      json_decref(j);
      goto fail;
    }
    json_object_set_new(j, "in", json_integer(l->in));
    json_object_set_new(j, "out", json_integer(l->out));
    json_object_set_new(j, "relu", json_boolean(l->relu));
    json_object_set_new(j, "w", w);
    json_object_set_new(j, "b", b);
    json_array_append_new(layers, j);
  }
  json_object_set_new(o, "layers", layers);
  layers = NULL; /* o owns it now (fail: below frees o) */
  if (p->tail > 0) {
    json_object_set_new(o, "tail", json_integer(p->tail));
    json_object_set_new(o, "tail_weight", json_real(p->tail_weight));
  }
  if (p->nheads > 0) {
    int K = p->layer[p->nlayers - 1].out;
    json_t *heads = json_array();
    if (json_object_set_new(o, "heads", heads)) goto fail; /* (takes heads, also on failure) */
    for (int h = 0; h < p->nheads; h++) {
      const lk_projection_head *hd = &p->head[h];
      json_t *j = json_object();
      if (json_array_append_new(heads, j)) goto fail; /* (takes j, also on failure) */
      json_t *cl = json_array();
      int bad = json_object_set_new(j, "classes", cl) || json_object_set_new(j, "field", json_string(hd->field)) ||
                json_object_set_new(j, "scale", json_real(hd->scale)) ||
                json_object_set_new(j, "prior", json_real(hd->prior)) ||
                json_object_set_new(j, "w", floats_b64(hd->w, (size_t)K * hd->nclass));
      for (int c = 0; c < hd->nclass && !bad; c++) bad = json_array_append_new(cl, json_string(hd->classes[c]));
      if (bad) goto fail; /* everything made so far hangs on o */
    }
  }
  return o;
fail:
  json_decref(layers);
  json_decref(o);
  return NULL;
}

/* The classifier heads of a projection (projection.h), every size checked before allocating. */
static int heads_from_json(json_t *heads, lk_projection *p, lk_errbuf *err) {
  int K = p->layer[p->nlayers - 1].out;
  if (!json_is_array(heads) || json_array_size(heads) > LK_PROJ_MAX_HEADS)
    return lk_err_set(err, LK_ECORRUPT, "recipe: projection heads must be an array of at most %d", LK_PROJ_MAX_HEADS);
  for (size_t h = 0; h < json_array_size(heads); h++) {
    json_t *j = json_array_get(heads, h), *cl = json_object_get(j, "classes"), *w = json_object_get(j, "w");
    json_t *sc = json_object_get(j, "scale"), *pr = json_object_get(j, "prior");
    const char *field = json_string_value(json_object_get(j, "field"));
    size_t C = json_array_size(cl);
    if (!field || !json_is_array(cl) || C < 1 || C > LK_PROJ_MAX_CLASSES || !json_is_number(sc) ||
        !json_is_number(pr) || !json_is_string(w) ||
        json_string_length(w) != BASE64_ENCODE_RAW_LENGTH((size_t)K * C * 4))
      return lk_err_set(err, LK_ECORRUPT, "recipe: projection head %zu: field, classes, scale, prior or w "
                        "missing or of the wrong size", h);
    const char **names = malloc(sizeof *names * C);
    float *wv = malloc(sizeof(float) * (size_t)K * C);
    int rc = names && wv ? 0 : LK_ENOMEM;
    for (size_t c = 0; !rc && c < C; c++)
      if (!(names[c] = json_string_value(json_array_get(cl, c)))) rc = LK_ECORRUPT;
    if (!rc) rc = b64_floats(w, wv, (size_t)K * C);
    if (!rc)
      rc = lk_projection_add_head(p, field, (int)C, names, wv, (float)json_number_value(sc),
                                  (float)json_number_value(pr), err);
    else
      lk_err_set(err, rc, rc == LK_ENOMEM ? "out of memory" : "recipe: projection head %zu: bad classes or weights", h);
    free(names);
    free(wv);
    if (rc) {
      if (rc == LK_EINVAL) {
        char m[256];
        snprintf(m, sizeof m, "%s", err ? lk_err_msg(err) : "bad head");
        return lk_err_set(err, LK_ECORRUPT, "recipe: projection head %zu: %s", h, m);
      }
      return rc;
    }
  }
  return 0;
}

static int proj_from_json(json_t *o, lk_projection **out, lk_errbuf *err) {
  json_t *layers = json_object_get(o, "layers");
  *out = NULL;
  if (!json_is_array(layers) || json_array_size(layers) < 1 || json_array_size(layers) > LK_PROJ_MAX_LAYERS)
    return lk_err_set(err, LK_ECORRUPT, "recipe: projection needs 1..%d layers", LK_PROJ_MAX_LAYERS);
  int n = (int)json_array_size(layers), dims[LK_PROJ_MAX_LAYERS + 1];
  for (int i = 0; i < n; i++) {
    json_t *l = json_array_get(layers, (size_t)i);
    json_t *in = json_object_get(l, "in"), *od = json_object_get(l, "out");
    if (!json_is_integer(in) || !json_is_integer(od) || json_integer_value(in) < 1 ||
        json_integer_value(in) > LK_PROJ_MAX_DIM || json_integer_value(od) < 1 ||
        json_integer_value(od) > LK_PROJ_MAX_DIM)
      return lk_err_set(err, LK_ECORRUPT, "recipe: projection layer %d: bad in/out", i);
    if (i > 0 && json_integer_value(in) != dims[i])
      return lk_err_set(err, LK_ECORRUPT, "recipe: projection layer %d: in %lld != previous out %d", i,
                        (long long)json_integer_value(in), dims[i]);
    dims[i] = (int)json_integer_value(in);
    dims[i + 1] = (int)json_integer_value(od);
    /* The weights' text must be the right size before anything is allocated for them. */
    json_t *w = json_object_get(l, "w"), *b = json_object_get(l, "b");
    size_t nw = (size_t)dims[i] * (size_t)dims[i + 1] * 4, nb = (size_t)dims[i + 1] * 4;
    if (!json_is_string(w) || !json_is_string(b) || json_string_length(w) != BASE64_ENCODE_RAW_LENGTH(nw) ||
        json_string_length(b) != BASE64_ENCODE_RAW_LENGTH(nb))
      return lk_err_set(err, LK_ECORRUPT, "recipe: projection layer %d: weights missing or of the wrong size", i);
  }
  lk_projection *p;
  int rc = lk_projection_new(n, dims, &p, err);
  if (rc) return rc;
  for (int i = 0; i < n; i++) {
    json_t *l = json_array_get(layers, (size_t)i);
    lk_projection_layer *pl = &p->layer[i];
    pl->relu = json_is_true(json_object_get(l, "relu"));
    if ((rc = b64_floats(json_object_get(l, "w"), pl->w, (size_t)pl->in * pl->out)) ||
        (rc = b64_floats(json_object_get(l, "b"), pl->b, (size_t)pl->out))) {
      lk_projection_free(p);
      return lk_err_set(err, rc, "recipe: projection layer %d: weights missing, of the wrong size or "
                        "not finite", i);
    }
  }
  json_t *tl = json_object_get(o, "tail"), *tw = json_object_get(o, "tail_weight");
  if (tl) {
    if (!json_is_integer(tl) || json_integer_value(tl) < 0 || json_integer_value(tl) > dims[0] ||
        !json_is_number(tw) || !(json_number_value(tw) >= 0) || json_number_value(tw) > 1000) {
      lk_projection_free(p);
      return lk_err_set(err, LK_ECORRUPT, "recipe: projection tail must be 0..%d with a weight >= 0", dims[0]);
    }
    p->tail = (int)json_integer_value(tl);
    p->tail_weight = (float)json_number_value(tw);
  }
  json_t *heads = json_object_get(o, "heads");
  if (heads && (rc = heads_from_json(heads, p, err))) {
    lk_projection_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

static const char *pool_name(int p) {
  return p == LK_POOL_MAX ? "max" : p == LK_POOL_GEM ? "gem" : "avg";
}

char *lk_recipe_to_json(const lk_recipe *r) {
  json_t *o = json_object(), *parts = json_array();
  if (!o || !parts) {
    json_decref(o);
    json_decref(parts);
    return NULL;
  }
  json_object_set_new(o, "format", json_integer(LK_RECIPE_FORMAT));
  json_object_set_new(o, "name", json_string(r->name));
  json_object_set_new(o, "preprocess", json_string(r->preprocess == LK_PRE_PAD ? "pad" : "squash"));
  json_object_set_new(o, "color_bins", json_integer(r->color_bins));
  json_object_set_new(o, "color_weight", json_real(r->color_weight));
  json_object_set_new(o, "flip", json_boolean(r->flip));
  for (int i = 0; i < r->nparts; i++) {
    const lk_recipe_part *p = &r->part[i];
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(p->model));
    json_object_set_new(j, "sha256", json_string(p->sha256));
    json_object_set_new(j, "tap", json_string(p->tap));
    json_object_set_new(j, "pool", json_string(pool_name(p->pool)));
    json_object_set_new(j, "gem_p", json_real(p->gem_p));
    json_object_set_new(j, "weight", json_real(p->weight));
    if (p->grid > 1) json_object_set_new(j, "grid", json_integer(p->grid)); /* only when set: ids stay */
    json_array_append_new(parts, j);
  }
  json_object_set_new(o, "parts", parts);
  /* Optional keys appear only when set, so older recipes keep their ids. */
  if (r->prescale > 0) json_object_set_new(o, "prescale", json_integer(r->prescale));
  if (r->color_fg) json_object_set_new(o, "color_fg", json_true());
  if (r->compute != LK_COMPUTE_EXACT) json_object_set_new(o, "compute", json_string(lk_recipe_compute_name(r->compute)));
  if (r->proj) {
    json_t *pj = proj_to_json(r->proj);
    if (!pj) {
      json_decref(o);
      return NULL;
    }
    json_object_set_new(o, "projection", pj);
  }
  char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(6));
  json_decref(o);
  return s;
}

static int get_str(json_t *o, const char *k, char *dst, size_t cap, lk_errbuf *err) {
  json_t *v = json_object_get(o, k);
  if (!json_is_string(v)) return lk_err_set(err, LK_ECORRUPT, "recipe: '%s' missing or not a string", k);
  if (strlen(json_string_value(v)) >= cap) return lk_err_set(err, LK_ETOOBIG, "recipe: '%s' too long", k);
  snprintf(dst, cap, "%s", json_string_value(v));
  return 0;
}

/* An optional number (absent: 0) within [lo, hi]: a float that round-trips through JSON. */
static int get_num(json_t *o, const char *key, double lo, double hi, float *out, lk_errbuf *err) {
  json_t *v = json_object_get(o, key);
  double d = json_number_value(v);
  if (v && (!json_is_number(v) || !(d >= lo && d <= hi)))
    return lk_err_set(err, LK_ECORRUPT, "recipe: '%s' must be a number in %g..%g", key, lo, hi);
  *out = (float)d;
  return 0;
}

int lk_recipe_from_json(const char *text, lk_recipe *r, lk_errbuf *err) {
  json_error_t je;
  memset(r, 0, sizeof *r);
  json_t *o = json_loads(text, 0, &je);
  if (!o) return lk_err_set(err, LK_ECORRUPT, "recipe JSON: %s (line %d)", je.text, je.line);
  int rc = LK_ECORRUPT;
  char pre[16];
  json_t *fmt = json_object_get(o, "format"), *parts = json_object_get(o, "parts");
  if (!json_is_integer(fmt) || json_integer_value(fmt) != LK_RECIPE_FORMAT) {
    rc = lk_err_set(err, LK_EMISMATCH, "recipe format is not %d", LK_RECIPE_FORMAT);
    goto out;
  }
  if ((rc = get_str(o, "name", r->name, sizeof r->name, err)) ||
      (rc = get_str(o, "preprocess", pre, sizeof pre, err)))
    goto out;
  r->preprocess = !strcmp(pre, "pad") ? LK_PRE_PAD : LK_PRE_SQUASH;
  json_t *cb = json_object_get(o, "color_bins");
  if (cb && !json_is_integer(cb)) { /* 8.5 or "8" once read as 0: no colour part */
    rc = lk_err_set(err, LK_ECORRUPT, "recipe: color_bins must be an integer in 0..16");
    goto out;
  }
  r->color_bins = json_integer_value(cb) < 0 || json_integer_value(cb) > 16 ? -1 : (int)json_integer_value(cb);
  if ((rc = get_num(o, "color_weight", -1e4, 1e4, &r->color_weight, err))) goto out;
  r->flip = json_is_true(json_object_get(o, "flip"));
  if (r->color_bins < 0 || r->color_bins > 16) {
    rc = lk_err_set(err, LK_ECORRUPT, "recipe: color_bins %d out of range", r->color_bins);
    goto out;
  }
  if (!json_is_array(parts) || json_array_size(parts) > LK_RECIPE_MAX_PARTS) {
    rc = lk_err_set(err, LK_ECORRUPT, "recipe: 'parts' missing or too long");
    goto out;
  }
  r->nparts = (int)json_array_size(parts);
  for (int i = 0; i < r->nparts; i++) {
    json_t *j = json_array_get(parts, (size_t)i);
    lk_recipe_part *p = &r->part[i];
    char pool[8];
    if ((rc = get_str(j, "model", p->model, sizeof p->model, err)) ||
        (rc = get_str(j, "sha256", p->sha256, sizeof p->sha256, err)) ||
        (rc = get_str(j, "tap", p->tap, sizeof p->tap, err)) ||
        (rc = get_str(j, "pool", pool, sizeof pool, err)))
      goto out;
    p->pool = !strcmp(pool, "max") ? LK_POOL_MAX : !strcmp(pool, "gem") ? LK_POOL_GEM : LK_POOL_AVG;
    if ((rc = get_num(j, "gem_p", 0, 100, &p->gem_p, err)) || (rc = get_num(j, "weight", -1e4, 1e4, &p->weight, err)))
      goto out;
    json_t *g = json_object_get(j, "grid");
    if (g && (!json_is_integer(g) || json_integer_value(g) < 1 || json_integer_value(g) > LK_RECIPE_MAX_GRID)) {
      rc = lk_err_set(err, LK_ECORRUPT, "recipe: part %d: grid must be 1..%d", i, LK_RECIPE_MAX_GRID);
      goto out;
    }
    p->grid = g ? (int)json_integer_value(g) : 0;
  }
  json_t *ps = json_object_get(o, "prescale"), *pj = json_object_get(o, "projection");
  r->color_fg = json_is_true(json_object_get(o, "color_fg"));
  json_t *cm = json_object_get(o, "compute"); /* absent = "exact" (0): older ids unchanged */
  if (cm) {
    r->compute = lk_recipe_compute_parse(json_string_value(cm));
    if (r->compute < 0) {
      rc = lk_err_set(err, LK_ECORRUPT, "recipe: compute must be \"exact\", \"fp32\" or \"int8\"");
      goto out;
    }
  }
  if (ps) {
    if (!json_is_integer(ps) || json_integer_value(ps) < 0 || json_integer_value(ps) > 4096) {
      rc = lk_err_set(err, LK_ECORRUPT, "recipe: prescale must be 0..4096");
      goto out;
    }
    r->prescale = (int)json_integer_value(ps);
  }
  if (pj && (rc = proj_from_json(pj, &r->proj, err))) goto out;
  rc = 0;
out:
  json_decref(o);
  return rc;
}

int lk_recipe_verify(const lk_recipe *r, lk_errbuf *err) {
  if (!isfinite(r->color_weight) || fabsf(r->color_weight) > 1e4f)
    return lk_err_set(err, LK_EINVAL, "recipe: colour weight %g is not a finite number in -10000..10000",
                      (double)r->color_weight);
  for (int i = 0; i < r->nparts; i++)
    if (!isfinite(r->part[i].weight) || fabsf(r->part[i].weight) > 1e4f || !isfinite(r->part[i].gem_p) ||
        r->part[i].gem_p < 0 || r->part[i].gem_p > 100)
      return lk_err_set(err, LK_EINVAL, "recipe: part %d: weight %g or GeM p %g is out of range", i,
                        (double)r->part[i].weight, (double)r->part[i].gem_p);
  char *a = lk_recipe_to_json(r), *b = NULL;
  if (!a) return lk_err_set(err, LK_ENOMEM, "out of memory");
  lk_recipe back;
  int rc = lk_recipe_from_json(a, &back, err);
  if (!rc) {
    b = lk_recipe_to_json(&back);
    lk_recipe_clear(&back);
    if (!b) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    else if (strcmp(a, b)) rc = lk_err_set(err, LK_EINVAL, "recipe: its JSON does not read back the same");
  } else {
    rc = LK_EINVAL;
  }
  free(a);
  free(b);
  return rc;
}

int lk_recipe_check_stored(const char *json, const char *id, lk_errbuf *err) {
  lk_recipe r;
  int rc = lk_recipe_from_json(json, &r, err);
  if (rc) return rc == LK_ENOMEM ? rc : LK_ECORRUPT;
  char have[17];
  lk_recipe_id(&r, have);
  rc = lk_recipe_verify(&r, err);
  lk_recipe_clear(&r);
  if (rc) return rc == LK_ENOMEM ? rc : LK_ECORRUPT;
  if (id && strcmp(id, have))
    return lk_err_set(err, LK_ECORRUPT, "recipe: the stored recipe's id is %s, but the catalog records %.32s", have, id);
  return 0;
}

void lk_recipe_id(const lk_recipe *r, char out[17]) {
  char *s = lk_recipe_to_json(r);
  char hex[LK_SHA256_HEX];
  lk_hash_sha256_hex(s ? s : "", s ? strlen(s) : 0, hex);
  free(s);
  memcpy(out, hex, 16);
  out[16] = '\0';
}
