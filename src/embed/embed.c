/* embed/embed.c — the recipe executor: preprocessing (prescale, squash or pad), model parts,
 * colour part, fusion, and the recipe's learned projection (lookalike tune) when it has one. */
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

/* One model file and its session, shared by every part that taps it (one forward pass). */
typedef struct group {
  lk_model *model;
  lk_session *sess;
  int h, w, dim;    /* input size; session output width (the taps' pooled widths) */
  uint8_t *input;   /* max_batch * h * w * 3 */
  float *out;       /* max_batch * dim, twice with flip (second half: mirrored photos) */
} group;

typedef struct part {
  int g;            /* its group */
  int off;          /* where its globally pooled tap starts in the group's session output */
  int tensor, th, tw, ch; /* the tapped tensor and its shape, for grid pooling */
  int dim;          /* width of the part: ch, or ch * grid * grid */
  float *map;       /* th * tw * ch scratch for grid pooling */
} part;

struct lk_embedder {
  lk_recipe r;       /* deep copy: owns its projection */
  int max_batch, dim, side;
  int raw_dim;       /* before the projection (== dim without one) */
  float *raw;        /* max_batch * raw_dim when there is a projection */
  int ngroups;
  group groups[LK_RECIPE_MAX_PARTS];
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
    lk_session_free(e->groups[i].sess);
    lk_model_free(e->groups[i].model);
    free(e->groups[i].input);
    free(e->groups[i].out);
    free(e->parts[i].map);
  }
  free(e->raw);
  lk_recipe_clear(&e->r);
  free(e);
}

/* Loads model file `name` (checked against sha256 when asked) and plans one session for the taps
 * of every part that uses it. */
static int open_group(lk_embedder *e, const char *name, const char *models_dir, const lk_embedder_opts *o,
                      lk_errbuf *err) {
  group *g = &e->groups[e->ngroups];
  char path[PATH_MAX];
  if (strchr(name, '/'))
    return lk_err_set(err, LK_EINVAL, "recipe model name '%s' must be a plain file name", name);
  snprintf(path, sizeof path, "%s/%s", models_dir, name);
  lk_tap taps[LK_RECIPE_MAX_PARTS];
  int nt = 0, rc;
  for (int i = 0; i < e->r.nparts; i++) {
    const lk_recipe_part *rp = &e->r.part[i];
    if (strcmp(rp->model, name)) continue;
    if (o->verify_models && rp->sha256[0] && nt == 0) {
      char hex[LK_SHA256_HEX];
      if ((rc = lk_hash_sha256_file(path, hex, err))) return rc;
      if (strcmp(hex, rp->sha256))
        return lk_err_set(err, LK_EMISMATCH, "%s: SHA-256 %s does not match the recipe's %s", path,
                          hex, rp->sha256);
    }
    taps[nt++] = (lk_tap){.tensor = rp->tap, .pool = rp->pool, .gem_p = rp->gem_p};
  }
  if ((rc = lk_model_load(path, &g->model, err))) return rc;
  e->ngroups++; /* owned from here: lk_embedder_free releases it */
  if ((rc = lk_model_input_hw(g->model, &g->h, &g->w))) return lk_err_set(err, rc, "%s: no image input", path);
  lk_session_opts so;
  lk_session_opts_default(&so);
  so.backend = o->backend;
  so.max_batch = o->max_batch;
  so.threads = o->threads;
  so.quantize_activations = o->quantize_activations;
  so.compute = e->r.compute;
  if ((rc = lk_session_new(g->model, taps, nt, &so, &g->sess, err))) return rc;
  g->dim = lk_session_dim(g->sess);
  size_t in_bytes, out_n;
  if (lk_size_mul4((size_t)o->max_batch, (size_t)g->h, (size_t)g->w, 3, &in_bytes) ||
      lk_size_mul3((size_t)o->max_batch, (size_t)g->dim, 2, &out_n))
    return lk_err_set(err, LK_ETOOBIG, "batch too large");
  g->input = malloc(in_bytes);
  g->out = malloc(out_n * sizeof(float));
  if (!g->input || !g->out) return lk_err_set(err, LK_ENOMEM, "out of memory for embedder buffers");
  /* Where each of its parts lies in the session output, and the shapes for grid pooling. */
  int off = 0;
  for (int i = 0; i < e->r.nparts; i++) {
    const lk_recipe_part *rp = &e->r.part[i];
    part *p = &e->parts[i];
    if (strcmp(rp->model, name)) continue;
    lk_tap t = {.tensor = rp->tap, .pool = rp->pool, .gem_p = rp->gem_p};
    int ch = lk_model_tap_dim(g->model, &t);
    if (ch <= 0) return lk_err_set(err, LK_ENOTFOUND, "%s: no tensor '%s' to tap", path, rp->tap);
    p->g = e->ngroups - 1;
    p->off = off;
    p->ch = ch;
    p->dim = ch;
    off += ch;
    if (rp->grid > 1) {
      int dims[4], nd;
      size_t n;
      p->tensor = lk_model_find_tensor(g->model, rp->tap);
      if (p->tensor < 0 || lk_model_tensor_shape(g->model, p->tensor, dims, &nd) || nd != 4 || dims[3] != ch)
        return lk_err_set(err, LK_EINVAL, "%s: tensor '%s' is not an N x H x W x C map", path, rp->tap);
      p->th = dims[1];
      p->tw = dims[2];
      if (p->th < rp->grid || p->tw < rp->grid)
        return lk_err_set(err, LK_EINVAL, "%s: tensor '%s' is %d x %d, smaller than a %d x %d grid", path,
                          rp->tap, p->th, p->tw, rp->grid, rp->grid);
      p->dim = ch * rp->grid * rp->grid;
      if (lk_size_mul3((size_t)p->th, (size_t)p->tw, (size_t)ch, &n) || !(p->map = malloc(n * sizeof(float))))
        return lk_err_set(err, LK_ENOMEM, "out of memory for embedder buffers");
    }
  }
  if (off != g->dim) return lk_err_set(err, LK_EINVAL, "%s: session width %d != taps' %d", path, g->dim, off);
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
  if (lk_recipe_copy(&e->r, r)) {
    lk_embedder_free(e);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  e->max_batch = o.max_batch;
  e->side = 224;
  for (int i = 0; i < r->nparts; i++) {
    int seen = 0;
    for (int j = 0; j < i; j++) seen |= !strcmp(r->part[j].model, r->part[i].model);
    if (seen) continue;
    int rc = open_group(e, r->part[i].model, models_dir, &o, err);
    if (rc) {
      lk_embedder_free(e);
      return rc;
    }
    group *g = &e->groups[e->ngroups - 1];
    if (e->ngroups == 1 || g->h > e->side) e->side = g->h;
  }
  for (int i = 0; i < r->nparts; i++) e->dim += e->parts[i].dim;
  if (r->color_bins > 0) e->dim += r->color_bins * r->color_bins * r->color_bins;
  if (e->dim <= 0) {
    lk_embedder_free(e);
    return lk_err_set(err, LK_EINVAL, "recipe has no parts");
  }
  e->raw_dim = e->dim;
  if (e->r.proj) {
    size_t n;
    if (lk_projection_in(e->r.proj) != e->raw_dim) {
      int want = lk_projection_in(e->r.proj);
      lk_embedder_free(e);
      return lk_err_set(err, LK_EMISMATCH, "recipe projection takes %d dimensions, the parts make %d",
                        want, e->raw_dim);
    }
    if (lk_size_mul((size_t)o.max_batch, (size_t)e->raw_dim, &n) || !(e->raw = malloc(n * sizeof(float)))) {
      lk_embedder_free(e);
      return lk_err_set(err, LK_ENOMEM, "out of memory for embedder buffers");
    }
    e->dim = lk_projection_out(e->r.proj);
  }
  *out = e;
  return 0;
}

int lk_embedder_dim(const lk_embedder *e) { return e->dim; }
int lk_embedder_raw_dim(const lk_embedder *e) { return e->raw_dim; }
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

/* Shrinks photos larger than the recipe's prescale (dst[j] empty when kept as they are). */
static int prescale(const lk_embedder *e, const lk_image *imgs, int n, lk_image *dst, lk_errbuf *err) {
  int ps = e->r.prescale;
  for (int j = 0; j < n; j++) {
    const lk_image *im = &imgs[j];
    int big = im->w > im->h ? im->w : im->h;
    if (ps <= 0 || big <= ps) continue;
    int w = (int)((long)im->w * ps / big), h = (int)((long)im->h * ps / big);
    int rc = lk_image_resize(im, w > 0 ? w : 1, h > 0 ? h : 1, &dst[j]);
    if (rc) return lk_err_set(err, rc, "prescale failed: %s", lk_strerror(rc));
  }
  return 0;
}

static int cmp_u8(const void *a, const void *b) { return *(const uint8_t *)a - *(const uint8_t *)b; }

/* The colour histogram of lk_image_color_hist (bins^3 RGB bins, square-rooted, L2-normalised)
 * over the foreground only: pixels farther than FG_DIST (any channel) from the background colour,
 * the per-channel median of a 2-pixel frame around the photo. Falls back to every pixel when
 * less than 5% is foreground (a product that fills the frame). */
#define FG_DIST 28
static int fg_color_hist(const lk_image *img, int bins, float *out) {
  if (img->w < 5 || img->h < 5) return lk_image_color_hist(img, bins, out);
  size_t nb = (size_t)bins * bins * bins, nf = 2 * (size_t)(img->w + img->h) * 2, k = 0;
  uint8_t *frame = malloc(nf * 3);
  double *cnt = calloc(nb, sizeof *cnt);
  if (!frame || !cnt) {
    free(frame);
    free(cnt);
    return LK_ENOMEM;
  }
  for (int y = 0; y < img->h; y++)
    for (int x = 0; x < img->w; x++) {
      if (x >= 2 && x < img->w - 2 && y >= 2 && y < img->h - 2) continue;
      if (k < nf) {
        const uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
        for (int c = 0; c < 3; c++) frame[c * nf + k] = p[c];
        k++;
      }
    }
  int bg[3];
  for (int c = 0; c < 3; c++) {
    qsort(frame + c * nf, k, 1, cmp_u8);
    bg[c] = frame[c * nf + k / 2];
  }
  size_t n = (size_t)img->w * img->h, fg = 0;
  unsigned ub = (unsigned)bins;
  for (int pass = 0; pass < 2 && fg * 20 < n; pass++) { /* pass 1: every pixel */
    memset(cnt, 0, nb * sizeof *cnt);
    fg = 0;
    const uint8_t *p = img->px;
    for (size_t i = 0; i < n; i++, p += 3) {
      if (!pass && abs(p[0] - bg[0]) <= FG_DIST && abs(p[1] - bg[1]) <= FG_DIST && abs(p[2] - bg[2]) <= FG_DIST)
        continue;
      cnt[((p[0] * ub >> 8) * ub + (p[1] * ub >> 8)) * ub + (p[2] * ub >> 8)] += 1;
      fg++;
    }
  }
  double ss = 0;
  for (size_t i = 0; i < nb; i++) ss += cnt[i];
  for (size_t i = 0; i < nb; i++) out[i] = ss > 0 ? (float)sqrt(cnt[i] / ss) : 0;
  free(frame);
  free(cnt);
  return 0;
}

static int part_offset(const lk_embedder *e, int i) {
  int off = 0;
  for (int k = 0; k < i; k++) off += e->parts[k].dim;
  return off;
}

/* Pools image j's map of a grid part cell by cell into dst (grid * grid * ch values, cell-major).
 * Cell (a, b) covers rows [a*H/g, ceil((a+1)*H/g)) and likewise columns, so odd sides overlap.
 * Pass 0 writes dst; pass 1 (the mirrored photo) adds, with the columns mirrored back. */
static int grid_pool(part *p, const lk_recipe_part *rp, lk_session *sess, int j, int pass, float *dst) {
  size_t cap = (size_t)p->th * p->tw * p->ch;
  int got = lk_session_tensor(sess, p->tensor, j, p->map, cap);
  if (got < 0) return got;
  if ((size_t)got != cap) return LK_EINVAL;
  int G = rp->grid, C = p->ch;
  float gp = rp->gem_p > 0 ? rp->gem_p : 3.0f;
  for (int a = 0; a < G; a++)
    for (int b = 0; b < G; b++) {
      int y0 = a * p->th / G, y1 = ((a + 1) * p->th + G - 1) / G;
      int x0 = b * p->tw / G, x1 = ((b + 1) * p->tw + G - 1) / G;
      int cell = pass ? a * G + (G - 1 - b) : a * G + b;
      float *o = dst + (size_t)cell * C;
      float cnt = (float)((y1 - y0) * (x1 - x0));
      for (int c = 0; c < C; c++) {
        double acc = rp->pool == LK_POOL_MAX ? -INFINITY : 0;
        for (int y = y0; y < y1; y++)
          for (int x = x0; x < x1; x++) {
            float v = p->map[((size_t)y * p->tw + x) * C + c];
            if (rp->pool == LK_POOL_MAX) acc = v > acc ? v : acc;
            else if (rp->pool == LK_POOL_GEM) acc += pow(v > 0 ? v : 0, gp);
            else acc += v;
          }
        float r = rp->pool == LK_POOL_MAX ? (float)acc
                  : rp->pool == LK_POOL_GEM ? (float)pow(acc / cnt, 1.0 / gp) : (float)(acc / cnt);
        o[c] = pass ? o[c] + r : r;
      }
    }
  return 0;
}

/* Embeds n photos (already prescaled) into out: the parts, then the projection if any. */
static int run_raw(lk_embedder *e, const lk_image *imgs, int n, float *final, lk_errbuf *err) {
  float *out = e->r.proj ? e->raw : final;
  int odim = e->raw_dim;
  int off = 0;
  int passes = e->r.flip ? 2 : 1;
  for (int gi = 0; gi < e->ngroups; gi++) {
    group *g = &e->groups[gi];
    for (int pass = 0; pass < passes; pass++) {
      for (int j = 0; j < n; j++) {
        int rc = prepare(e, &imgs[j], g->w, g->h, pass, g->input + (size_t)j * g->w * g->h * 3, err);
        if (rc) return rc;
      }
      int rc = lk_session_run(g->sess, g->input, n, g->out + (size_t)pass * e->max_batch * g->dim, err);
      if (rc) return rc;
      /* Grid parts read their whole map now, before the next pass overwrites it. */
      for (int i = 0; i < e->r.nparts && !rc; i++) {
        if (e->parts[i].g != gi || !e->parts[i].map) continue;
        for (int j = 0; j < n && !rc; j++) {
          float *dst = out + (size_t)j * odim + part_offset(e, i);
          rc = grid_pool(&e->parts[i], &e->r.part[i], g->sess, j, pass, dst);
        }
        if (rc) return lk_err_set(err, rc, "reading tensor '%s' failed", e->r.part[i].tap);
      }
    }
  }
  for (int i = 0; i < e->r.nparts; i++) {
    part *p = &e->parts[i];
    group *g = &e->groups[p->g];
    const lk_recipe_part *rp = &e->r.part[i];
    for (int j = 0; j < n; j++) {
      float *dst = out + (size_t)j * odim + off;
      if (!p->map) {
        const float *a = g->out + (size_t)j * g->dim + p->off;
        if (passes == 2) {
          const float *b = g->out + ((size_t)e->max_batch + j) * g->dim + p->off;
          for (int k = 0; k < p->dim; k++) dst[k] = 0.5f * (a[k] + b[k]);
        } else {
          memcpy(dst, a, sizeof(float) * p->dim);
        }
      } else if (passes == 2) {
        for (int k = 0; k < p->dim; k++) dst[k] *= 0.5f; /* grid_pool summed both passes */
      }
      lk_embed_normalize(dst, p->dim);
      for (int k = 0; k < p->dim; k++) dst[k] *= rp->weight;
    }
    off += p->dim;
  }
  if (e->r.color_bins > 0) {
    int cd = e->r.color_bins * e->r.color_bins * e->r.color_bins;
    for (int j = 0; j < n; j++) {
      float *dst = out + (size_t)j * odim + off;
      int rc = e->r.color_fg ? fg_color_hist(&imgs[j], e->r.color_bins, dst)
                             : lk_image_color_hist(&imgs[j], e->r.color_bins, dst);
      if (rc) return lk_err_set(err, rc, "colour histogram failed");
      for (int k = 0; k < cd; k++) dst[k] *= e->r.color_weight;
    }
  }
  for (int j = 0; j < n; j++) lk_embed_normalize(out + (size_t)j * odim, odim);
  if (e->r.proj) return lk_projection_apply(e->r.proj, out, n, final, err);
  return 0;
}

int lk_embedder_run(lk_embedder *e, const lk_image *imgs, int n, float *out, lk_errbuf *err) {
  if (n < 0 || n > e->max_batch) return lk_err_set(err, LK_EINVAL, "batch of %d exceeds %d", n, e->max_batch);
  if (e->r.prescale > 0) {
    lk_image *small = calloc((size_t)(n > 0 ? n : 1), sizeof *small);
    if (!small) return lk_err_set(err, LK_ENOMEM, "out of memory");
    int rc = prescale(e, imgs, n, small, err);
    if (!rc) {
      lk_image *use = malloc(sizeof *use * (size_t)(n > 0 ? n : 1));
      if (!use) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      for (int j = 0; j < n && !rc; j++) use[j] = small[j].px ? small[j] : imgs[j];
      if (!rc) rc = run_raw(e, use, n, out, err);
      free(use);
    }
    for (int j = 0; j < n; j++) if (small[j].px) lk_image_free(&small[j]);
    free(small);
    return rc;
  }
  return run_raw(e, imgs, n, out, err);
}
