/* bench/imagenet_prior.c — issue 14's experiments on what MobileNetV2 already knows about real
 * photos (run by bench/imagenet_prior.sh; analysed by bench/imagenet_prior.py): dumps, for a
 * tuned catalog, its search rows (gallery), and for photos (catalog photos of one split, their
 * street-like views from tune/augment.h, or labelled street photos) the query's search row, the
 * 1001 ImageNet logits of the same network on the whole photo at 224x224, and (street photos)
 * the share of DeepLabV3's "person" pixels with the search row of the photo cropped to them.
 * Nothing here searches or scores: the analysis replays the engine's prior score offline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/image.h"
#include "nn/model.h"
#include "search/engine.h"
#include "search/prior.h"
#include "tune/augment.h"
#include "tune/tune.h"
#include "catalog/csv.h"

#define LOGITS_TENSOR                                                                                  \
  "MobilenetV2/Logits/Conv2d_1c_1x1/BiasAdd;MobilenetV2/Logits/Conv2d_1c_1x1/Conv2D;MobilenetV2/Logits/Conv2d_1c_1x1/biases1"
#define NLOGITS 1001
#define PERSON 15 /* PASCAL VOC class index of "person" */

typedef struct nets {
  lk_model *mnv2, *dl;
  lk_session *cls, *seg;
  uint8_t *in224, *in513;
  float *segmap; /* DeepLab's 513x513 class map */
} nets;

static int die(const char *what, lk_errbuf *err) {
  fprintf(stderr, "imagenet_prior: %s: %s\n", what, lk_err_msg(err));
  return 1;
}

static int nets_open(nets *n, const char *models, int deeplab, lk_errbuf *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/mobilenet_v2_1.0_224_quant.tflite", models);
  if (lk_model_load(path, &n->mnv2, err)) return -1;
  lk_tap tap = {LOGITS_TENSOR, LK_POOL_AVG, 0};
  lk_session_opts o;
  lk_session_opts_default(&o);
  o.backend = LK_BACKEND_DNNL;
  o.compute = LK_COMPUTE_INT8;
  if (lk_session_new(n->mnv2, &tap, 1, &o, &n->cls, err)) return -1;
  if (!(n->in224 = malloc(224 * 224 * 3))) return lk_err_set(err, LK_ENOMEM, "out of memory");
  if (!deeplab) return 0;
  snprintf(path, sizeof path, "%s/deeplabv3_mnv2_pascal_quant.tflite", models);
  if (lk_model_load(path, &n->dl, err)) return -1;
  lk_tap at = {"ArgMax", LK_POOL_MAX, 0};
  o.compute = LK_COMPUTE_EXACT;
  if (lk_session_new(n->dl, &at, 1, &o, &n->seg, err)) return -1;
  if (lk_session_keep_all(n->seg, 1) < 0) return -1;
  if (!(n->in513 = malloc(513 * 513 * 3)) || !(n->segmap = malloc(sizeof(float) * 513 * 513)))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  return 0;
}

static void nets_close(nets *n) {
  lk_session_free(n->cls);
  lk_session_free(n->seg);
  lk_model_free(n->mnv2);
  lk_model_free(n->dl);
  free(n->in224);
  free(n->in513);
  free(n->segmap);
}

/* The photo squashed to side x side into dst. */
static int squash(const lk_image *im, int side, uint8_t *dst) {
  lk_image s = {0};
  int rc = lk_image_resize(im, side, side, &s);
  if (!rc) memcpy(dst, s.px, (size_t)side * side * 3);
  lk_image_free(&s);
  return rc;
}

/* One row: search row, logits, person share, search row of the person crop (the plain row when
 * no person). */
static int photo_row(lk_engine *e, nets *n, const lk_image *im, FILE *out, lk_errbuf *err) {
  int qd = lk_engine_query_dim(e), d = lk_engine_dim(e);
  float *vec = malloc(sizeof(float) * (size_t)d), *row = malloc(sizeof(float) * (size_t)qd),
        *crow = malloc(sizeof(float) * (size_t)qd), logits[NLOGITS], share = 0;
  int rc = vec && row && crow ? lk_engine_embed(e, im, vec, err) : lk_err_set(err, LK_ENOMEM, "out of memory");
  if (!rc) {
    lk_engine_make_query(e, vec, row);
    memcpy(crow, row, sizeof(float) * (size_t)qd);
    rc = squash(im, 224, n->in224) ? lk_err_set(err, LK_ENOMEM, "resize") : lk_session_run(n->cls, n->in224, 1, logits, err);
  }
  if (!rc && n->seg) {
    float pooled[513], *cls = n->segmap;
    rc = squash(im, 513, n->in513) ? lk_err_set(err, LK_ENOMEM, "resize") : lk_session_run(n->seg, n->in513, 1, pooled, err);
    int t = rc ? -1 : lk_model_find_tensor(n->dl, "ArgMax");
    if (!rc && (t < 0 || lk_session_tensor(n->seg, t, 0, cls, 513 * 513) != 513 * 513))
      rc = lk_err_set(err, LK_EIO, "ArgMax not readable");
    int x0 = 513, y0 = 513, x1 = -1, y1 = -1;
    long np = 0;
    for (int y = 0; !rc && y < 513; y++)
      for (int x = 0; x < 513; x++)
        if ((int)cls[y * 513 + x] == PERSON) {
          np++;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
    share = (float)np / (513.0f * 513.0f);
    if (!rc && np) { /* the person's box in the photo's pixels, 5 % margin */
      int bx = x0 * im->w / 513, by = y0 * im->h / 513, bw = (x1 + 1) * im->w / 513 - bx, bh = (y1 + 1) * im->h / 513 - by;
      int mx = bw / 20, my = bh / 20;
      bx = bx - mx < 0 ? 0 : bx - mx;
      by = by - my < 0 ? 0 : by - my;
      bw = bx + bw + 2 * mx > im->w ? im->w - bx : bw + 2 * mx;
      bh = by + bh + 2 * my > im->h ? im->h - by : bh + 2 * my;
      lk_image c = {0};
      if (bw >= 16 && bh >= 16 && !lk_image_crop(im, bx, by, bw, bh, &c) && !lk_engine_embed(e, &c, vec, err))
        lk_engine_make_query(e, vec, crow);
      lk_image_free(&c);
    }
  }
  if (!rc) {
    fwrite(row, sizeof(float), (size_t)qd, out);
    fwrite(logits, sizeof(float), NLOGITS, out);
    fwrite(&share, sizeof share, 1, out);
    fwrite(crow, sizeof(float), (size_t)qd, out);
  }
  free(vec);
  free(row);
  free(crow);
  return rc;
}

static void header(FILE *out, lk_engine *e, int n) {
  int h[3] = {n, lk_engine_query_dim(e), NLOGITS};
  fwrite(h, sizeof h, 1, out);
}

/* gallery: every item's search row (OUT) and "id \t articleType" (OUT.txt); the heads' class
 * names per line in OUT.heads ("field \t name \t name ..."). */
static int gallery(lk_engine *e, const char *outp) {
  char p[4096];
  FILE *out = fopen(outp, "wb"), *txt, *hd;
  snprintf(p, sizeof p, "%s.txt", outp);
  txt = fopen(p, "w");
  snprintf(p, sizeof p, "%s.heads", outp);
  hd = fopen(p, "w");
  if (!out || !txt || !hd) return 1;
  size_t n = lk_engine_item_count(e), m = 0;
  for (size_t i = 0; i < n; i++)
    if (lk_engine_vector(e, lk_engine_item_at(e, i)->id)) m++;
  header(out, e, (int)m);
  for (size_t i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    const float *v = lk_engine_vector(e, it->id);
    if (!v) continue;
    fwrite(v, sizeof(float), (size_t)lk_engine_query_dim(e), out);
    fprintf(txt, "%lld\t%s\n", (long long)it->id, it->field[LK_FIELD_ARTICLE_TYPE] ? it->field[LK_FIELD_ARTICLE_TYPE] : "");
  }
  const lk_prior *pr = lk_engine_prior(e);
  for (int h = 0; h < lk_prior_nheads(pr); h++) fprintf(hd, "%s\n", lk_prior_field(pr, h));
  fclose(out);
  fclose(txt);
  fclose(hd);
  return 0;
}

/* catalog: photos of the split (want_test) of DIR/images, every `every`-th in id order, plus
 * `views` augmented views each; OUT.txt "id \t articleType \t view". */
static int catalog(lk_engine *e, nets *nt, const char *dir, int want_test, int every, int views, const char *outp,
                   lk_errbuf *err) {
  char p[4096];
  FILE *out = fopen(outp, "wb"), *txt;
  snprintf(p, sizeof p, "%s.txt", outp);
  txt = fopen(p, "w");
  if (!out || !txt) return 1;
  size_t n = lk_engine_item_count(e);
  long rows = 0, k = 0;
  header(out, e, 0);
  for (size_t i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    const char *t = it->field[LK_FIELD_ARTICLE_TYPE];
    if (!t || lk_tune_is_holdout(it->id, 5) != want_test || k++ % every) continue;
    lk_image im = {0};
    snprintf(p, sizeof p, "%s/images/%lld.jpg", dir, (long long)it->id);
    if (lk_image_load(p, NULL, 0, &im, err)) continue;
    for (int v = 0; v <= views; v++) {
      lk_image view = {0};
      const lk_image *use = &im;
      if (v) {
        if (lk_augment_view(&im, 224, (uint64_t)it->id * 131 + (uint64_t)v, &view)) continue;
        use = &view;
      }
      if (photo_row(e, nt, use, out, err)) return die(p, err);
      fprintf(txt, "%lld\t%s\t%d\n", (long long)it->id, t, v);
      rows++;
      lk_image_free(&view);
    }
    lk_image_free(&im);
  }
  rewind(out);
  header(out, e, (int)rows);
  fclose(out);
  fclose(txt);
  fprintf(stderr, "%ld rows\n", rows);
  return 0;
}

/* street: DIR/labels.csv's photos; OUT.txt "image \t label \t articleTypes". */
static int street(lk_engine *e, nets *nt, const char *dir, const char *outp, lk_errbuf *err) {
  char p[4096];
  snprintf(p, sizeof p, "%s/labels.csv", dir);
  lk_csv *csv = NULL;
  if (lk_csv_open(p, NULL, &csv, err)) return die(p, err);
  FILE *out = fopen(outp, "wb"), *txt;
  snprintf(p, sizeof p, "%s.txt", outp);
  txt = fopen(p, "w");
  if (!out || !txt) return 1;
  header(out, e, 0);
  char **f;
  int nf, rows = 0;
  lk_csv_next(csv, &f, &nf); /* image,label,articleTypes */
  while (lk_csv_next(csv, &f, &nf) == 1) {
    if (nf < 3) continue;
    lk_image im = {0};
    snprintf(p, sizeof p, "%s/images/%s.jpg", dir, f[0]);
    if (lk_image_load(p, NULL, 0, &im, err)) continue;
    if (photo_row(e, nt, &im, out, err)) return die(p, err);
    fprintf(txt, "%s\t%s\t%s\n", f[0], f[1], f[2]);
    rows++;
    lk_image_free(&im);
  }
  lk_csv_close(csv);
  rewind(out);
  header(out, e, rows);
  fclose(out);
  fclose(txt);
  fprintf(stderr, "%d rows\n", rows);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: imagenet_prior DB MODELS gallery OUT\n"
                    "       imagenet_prior DB MODELS street DIR OUT\n"
                    "       imagenet_prior DB MODELS catalog DIR train|test EVERY VIEWS OUT\n");
    return 2;
  }
  lk_errbuf err = {0};
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  eo.models_dir = argv[2];
  eo.plain_scan = 1;
  lk_engine *e;
  if (lk_engine_open(argv[1], &eo, &e, &err)) return die(argv[1], &err);
  int rc = 2;
  nets nt = {0};
  if (!strcmp(argv[3], "gallery") && argc == 5) {
    rc = gallery(e, argv[4]);
  } else if (!strcmp(argv[3], "street") && argc == 6) {
    rc = nets_open(&nt, argv[2], 1, &err) ? die("models", &err) : street(e, &nt, argv[4], argv[5], &err);
  } else if (!strcmp(argv[3], "catalog") && argc == 9) {
    rc = nets_open(&nt, argv[2], 0, &err) ? die("models", &err)
                                           : catalog(e, &nt, argv[4], !strcmp(argv[5], "test"), atoi(argv[6]),
                                                     atoi(argv[7]), argv[8], &err);
  }
  nets_close(&nt);
  lk_engine_close(e);
  return rc;
}
