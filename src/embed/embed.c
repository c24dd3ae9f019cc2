/* embed/embed.c — the recipe executor: preprocessing, model parts, colour part, fusion. */
#include "embed/embed.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/model.h"
#include "util/hash.h"
#include "util/size.h"

typedef struct part {
  lk_model *model;
  lk_session *sess;
  int h, w, dim;
  uint8_t *input;   /* max_batch * h * w * 3 */
  float *out;       /* max_batch * dim (2x with flip) */
} part;

struct lk_embedder {
  lk_recipe r;
  int max_batch, dim, side;
  part parts[LK_RECIPE_MAX_PARTS];
};

void lk_embedder_opts_default(lk_embedder_opts *o) {
  memset(o, 0, sizeof *o);
  o->backend = LK_BACKEND_DNNL;
  o->max_batch = 8;
  o->quantize_activations = 1;
  o->verify_models = 1;
}

static int has_model(const char *dir) {
  char p[PATH_MAX];
  struct stat st;
  snprintf(p, sizeof p, "%s/mobilenet_v2_1.0_224_quant.tflite", dir);
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int lk_embed_find_models(const char *explicit_dir, char *out, size_t cap, lk_errbuf *err) {
  if (explicit_dir) {
    if (!has_model(explicit_dir))
      return lk_err_set(err, LK_ENOTFOUND, "%s holds no mobilenet_v2_1.0_224_quant.tflite",
                        explicit_dir);
    snprintf(out, cap, "%s", explicit_dir);
    return 0;
  }
  char exe_models[PATH_MAX + 16] = "";
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(exe_models, sizeof exe_models, "%s/../models", exe);
    }
  }
  const char *cands[] = {getenv("LOOKALIKE_MODELS"), "models", "../shared/models", exe_models};
  for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
    if (cands[i] && *cands[i] && has_model(cands[i])) {
      snprintf(out, cap, "%s", cands[i]);
      return 0;
    }
  }
  return lk_err_set(err, LK_ENOTFOUND,
                    "model files not found: run `make models` (scripts/models.sh), or set "
                    "LOOKALIKE_MODELS / --models to a folder holding "
                    "mobilenet_v2_1.0_224_quant.tflite");
}

void lk_embed_normalize(float *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
  if (s <= 0) return;
  float inv = (float)(1.0 / sqrt(s));
  for (int i = 0; i < n; i++) v[i] *= inv;
}

void lk_embedder_free(lk_embedder *e) {
  if (!e) return;
  for (int i = 0; i < LK_RECIPE_MAX_PARTS; i++) {
    lk_session_free(e->parts[i].sess);
    lk_model_free(e->parts[i].model);
    free(e->parts[i].input);
    free(e->parts[i].out);
  }
  free(e);
}

static int open_part(lk_embedder *e, int i, const char *models_dir, const lk_embedder_opts *o,
                     lk_errbuf *err) {
  const lk_recipe_part *rp = &e->r.part[i];
  part *p = &e->parts[i];
  char path[PATH_MAX];
  if (strchr(rp->model, '/'))
    return lk_err_set(err, LK_EINVAL, "recipe model name '%s' must be a plain file name", rp->model);
  snprintf(path, sizeof path, "%s/%s", models_dir, rp->model);
  if (o->verify_models && rp->sha256[0]) {
    char hex[LK_SHA256_HEX];
    int rc = lk_hash_sha256_file(path, hex, err);
    if (rc) return rc;
    if (strcmp(hex, rp->sha256))
      return lk_err_set(err, LK_EMISMATCH, "%s: SHA-256 %s does not match the recipe's %s", path,
                        hex, rp->sha256);
  }
  int rc = lk_model_load(path, &p->model, err);
  if (rc) return rc;
  if ((rc = lk_model_input_hw(p->model, &p->h, &p->w))) return lk_err_set(err, rc, "%s: no image input", path);
  lk_tap tap = {.tensor = rp->tap, .pool = rp->pool, .gem_p = rp->gem_p};
  lk_session_opts so;
  lk_session_opts_default(&so);
  so.backend = o->backend;
  so.max_batch = o->max_batch;
  so.threads = o->threads;
  so.quantize_activations = o->quantize_activations;
  if ((rc = lk_session_new(p->model, &tap, 1, &so, &p->sess, err))) return rc;
  p->dim = lk_session_dim(p->sess);
  size_t in_bytes, out_n;
  if (lk_size_mul4((size_t)o->max_batch, (size_t)p->h, (size_t)p->w, 3, &in_bytes) ||
      lk_size_mul3((size_t)o->max_batch, (size_t)p->dim, 2, &out_n))
    return lk_err_set(err, LK_ETOOBIG, "batch too large");
  p->input = malloc(in_bytes);
  p->out = malloc(out_n * sizeof(float));
  if (!p->input || !p->out) return lk_err_set(err, LK_ENOMEM, "out of memory for embedder buffers");
  return 0;
}

int lk_embedder_new(const lk_recipe *r, const char *models_dir, const lk_embedder_opts *opts,
                    lk_embedder **out, lk_errbuf *err) {
  lk_embedder_opts o;
  if (opts) o = *opts; else lk_embedder_opts_default(&o);
  if (o.max_batch < 1 || o.max_batch > 1024) return lk_err_set(err, LK_EINVAL, "max_batch out of range");
  if (r->nparts < 0 || r->nparts > LK_RECIPE_MAX_PARTS) return lk_err_set(err, LK_EINVAL, "bad recipe");
  lk_embedder *e = calloc(1, sizeof *e);
  if (!e) return lk_err_set(err, LK_ENOMEM, "out of memory");
  e->r = *r;
  e->max_batch = o.max_batch;
  e->side = 224;
  for (int i = 0; i < r->nparts; i++) {
    int rc = open_part(e, i, models_dir, &o, err);
    if (rc) {
      lk_embedder_free(e);
      return rc;
    }
    e->dim += e->parts[i].dim;
    if (i == 0 || e->parts[i].h > e->side) e->side = e->parts[i].h;
  }
  if (r->color_bins > 0) e->dim += r->color_bins * r->color_bins * r->color_bins;
  if (e->dim <= 0) {
    lk_embedder_free(e);
    return lk_err_set(err, LK_EINVAL, "recipe has no parts");
  }
  *out = e;
  return 0;
}

int lk_embedder_dim(const lk_embedder *e) { return e->dim; }
int lk_embedder_input_side(const lk_embedder *e) { return e->side; }
int lk_embedder_max_batch(const lk_embedder *e) { return e->max_batch; }

/* Preprocesses img into a w x h x 3 model input following the recipe. */
static int prepare(const lk_embedder *e, const lk_image *img, int w, int h, int mirror, uint8_t *dst,
                   lk_errbuf *err) {
  lk_image padded = {0}, sized = {0};
  const lk_image *src = img;
  int rc = 0;
  if (e->r.preprocess == LK_PRE_PAD && img->w != img->h) {
    if ((rc = lk_image_pad_square(img, 255, 255, 255, &padded))) goto out;
    src = &padded;
  }
  if ((rc = lk_image_resize(src, w, h, &sized))) goto out;
  if (!mirror) {
    memcpy(dst, sized.px, (size_t)w * h * 3);
  } else {
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        memcpy(dst + ((size_t)y * w + x) * 3, sized.px + ((size_t)y * w + (w - 1 - x)) * 3, 3);
  }
out:
  lk_image_free(&padded);
  lk_image_free(&sized);
  if (rc) lk_err_set(err, rc, "preprocessing failed: %s", lk_strerror(rc));
  return rc;
}

int lk_embedder_run(lk_embedder *e, const lk_image *imgs, int n, float *out, lk_errbuf *err) {
  if (n < 0 || n > e->max_batch) return lk_err_set(err, LK_EINVAL, "batch of %d exceeds %d", n, e->max_batch);
  int off = 0;
  for (int i = 0; i < e->r.nparts; i++) {
    part *p = &e->parts[i];
    const lk_recipe_part *rp = &e->r.part[i];
    int passes = e->r.flip ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
      for (int j = 0; j < n; j++) {
        int rc = prepare(e, &imgs[j], p->w, p->h, pass, p->input + (size_t)j * p->w * p->h * 3, err);
        if (rc) return rc;
      }
      int rc = lk_session_run(p->sess, p->input, n, p->out + (size_t)pass * e->max_batch * p->dim, err);
      if (rc) return rc;
    }
    for (int j = 0; j < n; j++) {
      float *dst = out + (size_t)j * e->dim + off;
      const float *a = p->out + (size_t)j * p->dim;
      if (passes == 2) {
        const float *b = p->out + ((size_t)e->max_batch + j) * p->dim;
        for (int k = 0; k < p->dim; k++) dst[k] = 0.5f * (a[k] + b[k]);
      } else {
        memcpy(dst, a, sizeof(float) * p->dim);
      }
      lk_embed_normalize(dst, p->dim);
      for (int k = 0; k < p->dim; k++) dst[k] *= rp->weight;
    }
    off += p->dim;
  }
  if (e->r.color_bins > 0) {
    int cd = e->r.color_bins * e->r.color_bins * e->r.color_bins;
    for (int j = 0; j < n; j++) {
      float *dst = out + (size_t)j * e->dim + off;
      int rc = lk_image_color_hist(&imgs[j], e->r.color_bins, dst);
      if (rc) return lk_err_set(err, rc, "colour histogram failed");
      for (int k = 0; k < cd; k++) dst[k] *= e->r.color_weight;
    }
  }
  for (int j = 0; j < n; j++) lk_embed_normalize(out + (size_t)j * e->dim, e->dim);
  return 0;
}
