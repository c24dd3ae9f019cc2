/* embed/recipe.c — recipe presets and their canonical JSON form (jansson). */
#include "embed/recipe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
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

void lk_recipe_default(lk_recipe *r) {
  lk_errbuf eb;
  int rc = lk_recipe_preset("mnv2-avg+color", r, &eb);
  (void)rc;
}

int lk_recipe_preset(const char *name, lk_recipe *r, lk_errbuf *err) {
  memset(r, 0, sizeof *r);
  if (!strcmp(name, "default")) name = "mnv2-avg+color";
  snprintf(r->name, sizeof r->name, "%s", name);
  r->preprocess = LK_PRE_SQUASH;
  if (!strcmp(name, "mnv2-avg+color") || !strcmp(name, "mnv2-avg")) {
    r->nparts = 1;
    set_part(&r->part[0], MNV2_FILE, MNV2_SHA, MNV2_TAP, LK_POOL_AVG, 1.0f);
    if (!strcmp(name, "mnv2-avg+color")) {
      r->color_bins = 8;
      r->color_weight = 0.3f;
    }
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
                    "unknown recipe '%s' (known: default, mnv2-avg+color, mnv2-avg, "
                    "mnv2+mnv1+color, color)",
                    name);
}

int lk_recipe_load(const char *spec, lk_recipe *r, lk_errbuf *err) {
  size_t n = strlen(spec);
  if (n < 5 || strcmp(spec + n - 5, ".json")) return lk_recipe_preset(spec, r, err);
  json_error_t je;
  json_t *o = json_load_file(spec, 0, &je);
  if (!o) return lk_err_set(err, LK_EIO, "%s: %s", spec, je.text);
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!text) return lk_err_set(err, LK_ENOMEM, "out of memory");
  int rc = lk_recipe_from_json(text, r, err);
  free(text);
  return rc;
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
    json_array_append_new(parts, j);
  }
  json_object_set_new(o, "parts", parts);
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
  r->color_bins = (int)json_integer_value(json_object_get(o, "color_bins"));
  r->color_weight = (float)json_number_value(json_object_get(o, "color_weight"));
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
    p->gem_p = (float)json_number_value(json_object_get(j, "gem_p"));
    p->weight = (float)json_number_value(json_object_get(j, "weight"));
  }
  rc = 0;
out:
  json_decref(o);
  return rc;
}

void lk_recipe_id(const lk_recipe *r, char out[17]) {
  char *s = lk_recipe_to_json(r);
  char hex[LK_SHA256_HEX];
  lk_hash_sha256_hex(s ? s : "", s ? strlen(s) : 0, hex);
  free(s);
  memcpy(out, hex, 16);
  out[16] = '\0';
}
