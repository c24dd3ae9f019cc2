/* cli/tune.c — `lookalike tune`: learns a projection of a catalog's frozen embedding on its
 * own label fields (training split only, tune/train.h), reports leave-one-out P@10 on both
 * splits before and after, and writes a tuned catalog whose recipe carries the projection
 * (tune/tune.h). Also prints the fixed train/test split of a styles table (--split). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/tune.h"

#include "cli/calibrate.h"
#include "cli/cli.h"
#include "nn/model.h"
#include "search/prior.h"
#include "tune/train.h"
#include "tune/tune.h"
#include "util/size.h"

static const char *HELP =
    "usage: lookalike tune --db catalog.db --out tuned.db [options]\n"
    "       lookalike tune --split test|train --styles styles.csv [--holdout-mod 5] > part.csv\n"
    "\n"
    "Learns a projection of the catalog's vectors from its own labels, on the CPU: a linear map\n"
    "(or a small MLP) trained as a cosine classifier with one head per label field, or\n"
    "PCA-whitening. Only products of the training split (hash(id) mod M != 0) are used; the\n"
    "report shows leave-one-out P@10 on both splits, raw and tuned, so over-fitting shows.\n"
    "The tuned catalog holds the same items, the projected vectors and a recipe that carries the\n"
    "projection (queries get it too). The source catalog keeps the raw vectors: rerun tune on it.\n"
    "\n"
    "  --db FILE           catalog to learn from (made by `lookalike index`; not a tuned one)\n"
    "  --out FILE          tuned catalog to write (must not exist); its match strength is\n"
    "                      calibrated for the tuned recipe (`lookalike calibrate`)\n"
    "  --recipe-out FILE   also write the tuned recipe as JSON (for `index --recipe FILE`)\n"
    "  --labels A,B,C      label fields (default articleType,baseColour,gender)\n"
    "  --weights W,W,W     loss weight per label field (default 1 each)\n"
    "  --method M          softmax (default) or pca\n"
    "  --dims N            output dimensions (default 256)\n"
    "  --hidden N          one ReLU hidden layer of N units (default 1024; 0 = a linear map)\n"
    "  --epochs N          passes over the training rows (default 20)\n"
    "  --batch N           rows per step (default 256)\n"
    "  --lr X              peak AdamW step (default 0.002)\n"
    "  --weight-decay X    (default 0.0001)\n"
    "  --scale S           cosine-classifier logit scale (default 16)\n"
    "  --margin M          additive cosine margin (default 0.1)\n"
    "  --prior W[,W,W]     label prior: searches add W x the probability that an item's label\n"
    "                      (per field) is the query's, from the kept classifier heads (default\n"
    "                      0.5; 0 = off; search/prior.h); `search/serve/eval --prior W`\n"
    "                      override it at search time\n"
    "  --prior-report W,W  also report P@10 with these prior weights (to choose --prior)\n"
    "  --keep-color W      append the raw colour histogram, weight W (the projection's output\n"
    "                      has weight 1), after the projection: keeps instance-level colour\n"
    "  --prescale N        the tuned recipe shrinks photos larger than N px (longer side)\n"
    "                      before embedding (queries look like small catalog photos); only\n"
    "                      for catalogs whose photos are all <= N px (their vectors stay valid)\n"
    "  --dropout P         drop rate of hidden units while training (default 0.5)\n"
    "  --input-dropout P   drop rate of input values while training (default 0.5)\n"
    "  --views N           also learn from N street-like views of each training photo: the\n"
    "                      garment cut from its studio background and put on a generated\n"
    "                      floor, sheet or wall, embedded with the catalog's recipe (needs the\n"
    "                      photos at their indexed paths; default 0: on real phone photos it\n"
    "                      did not help, docs/QUALITY.md \"Street photos\")\n"
    "  --threads N         workers embedding the views (default 2)\n"
    "  --models DIR        folder with the .tflite files (for --views)\n"
    "  --seed S            initial weights and batch order (default 0)\n"
    "  --holdout-mod M     products with hash(id) mod M == 0 are held out (default 5; 0 = none)\n"
    "  --eval-sample N     rows per split in the P@10 report (default 3000; 0 = no report)\n"
    "  --name NAME         name of the tuned recipe (default: the source's + \"+tuned\")\n"
    "  --quiet             no per-epoch lines\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 catalog not found\n";

static int usage(const char *msg) { return lk_cli_usage("tune", msg); }
/* Number options: whole, finite and in range, or a usage error (cli.h). */
static int num(const char *s, const char *opt, long lo, long hi, int *out) { return lk_cli_int("tune", opt, s, lo, hi, out); }
static int real(const char *s, const char *opt, double lo, double hi, float *out) {
  return lk_cli_float("tune", opt, s, lo, hi, out);
}

typedef struct progress_ctx {
  int quiet;
  double t0;
} progress_ctx;

static int on_epoch(void *ctx, int epoch, int epochs, double loss) {
  progress_ctx *p = ctx;
  if (!p->quiet) fprintf(stderr, "epoch %d/%d  loss %.4f  (%.1f s)\n", epoch, epochs, loss, lk_cli_now() - p->t0);
  return 0;
}

/* Street-like views made per training photo by default: none, as measured on real phone photos
 * (docs/QUALITY.md, "Street photos"): views on generated backgrounds did not lift them. */
#define TUNE_VIEWS 0

#define TUNE_HIDDEN 1024
#define TUNE_DROPOUT 0.5f

typedef struct views_ctx {
  int quiet;
  double t0;
} views_ctx;

static int views_progress(void *ctx, long done, long total) {
  views_ctx *v = ctx;
  if (!v->quiet && (done % 256 == 0 || done == total)) lk_cli_bar("street-like views", done, total, v->t0);
  return 0; /* Ctrl-C ends the process: nothing is written before the tuned catalog, which is renamed into place */
}

typedef struct pick {
  uint64_t key;
  long row;
} pick;

static int cmp_pick(const void *a, const void *b) {
  const pick *x = a, *y = b;
  return (x->key > y->key) - (x->key < y->key);
}

/* Up to n rows of one split, in a fixed pseudo-random order (by a hash of the id). */
static long pick_rows(const lk_tune_set *s, int test, long n, long *out) {
  pick *p = malloc(sizeof *p * (size_t)s->n);
  if (!p) return -1;
  long m = 0;
  for (long i = 0; i < s->n; i++)
    if (s->test[i] == test) p[m++] = (pick){lk_tune_hash(s->id[i] ^ 0x5eed), i};
  qsort(p, (size_t)m, sizeof *p, cmp_pick);
  if (m > n) m = n;
  for (long i = 0; i < m; i++) out[i] = p[i].row;
  free(p);
  return m;
}

/* Widened gallery and query vectors of every row for a label prior of weight w on every head
 * of proj (search/prior.h), into gx and qx (s->n rows of od + extra floats). */
static int prior_rows(const lk_tune_set *s, const lk_projection *proj, const float *px, int od, float w, float **gx,
                      float **qx, int *wide, lk_prior **out, lk_errbuf *err) {
  lk_prior *pr = NULL;
  int rc = lk_prior_new(proj, w, &pr, err);
  if (rc || !pr) return rc ? rc : lk_err_set(err, LK_EINVAL, "no heads for a label prior");
  *wide = od + lk_prior_extra(pr);
  *gx = malloc(sizeof(float) * (size_t)s->n * *wide);
  *qx = malloc(sizeof(float) * (size_t)s->n * *wide);
  if (!*gx || !*qx) {
    lk_prior_free(pr);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  int cls[LK_PROJ_MAX_HEADS];
  for (long i = 0; i < s->n; i++) {
    const float *v = px + (size_t)i * od;
    for (int h = 0; h < lk_prior_nheads(pr); h++) cls[h] = s->y[(size_t)i * s->nlabels + h];
    lk_prior_gallery(pr, v, od, cls, *gx + (size_t)i * *wide);
    lk_prior_query(pr, v, od, *qx + (size_t)i * *wide);
  }
  *out = pr;
  return 0;
}

typedef struct prior_ctx {
  const lk_prior *pr;
  int dim;
} prior_ctx;

static float prior_score(const void *ctx, const float *q, const float *g) {
  const prior_ctx *c = ctx;
  return lk_prior_score(c->pr, q, g, c->dim);
}

/* P@10 per label on both splits, raw and projected: the over-fitting report. */
static int report(const lk_tune_set *s, const lk_projection *proj, long sample, const char *const *labels,
                  const float *priors, int npriors, lk_errbuf *err) {
  long *rows = malloc(sizeof *rows * (size_t)(sample > 0 ? sample : 1));
  int od = lk_projection_out(proj);
  float *px = malloc(sizeof(float) * (size_t)s->n * od);
  int rc = rows && px ? lk_projection_apply(proj, s->x, s->n, px, err) : lk_err_set(err, LK_ENOMEM, "out of memory");
  if (!rc) {
    printf("\nleave-one-out P@10 among %ld products of each split (gallery = those products)\n", sample);
    printf("%-6s %-6s", "split", "vectors");
    for (int f = 0; f < s->nlabels; f++) printf("  %12s", labels[f]);
    printf("\n");
  }
  for (int t = 0; t < 2 && !rc; t++) {
    long n = pick_rows(s, t, sample, rows);
    if (n < 0) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); break; }
    if (n < 2) continue;
    for (int v = 0; v < 2 && !rc; v++) {
      double p[LK_TUNE_MAX_LABELS];
      rc = lk_train_knn_precision(v ? px : s->x, v ? od : s->dim, rows, n, s->y, s->nlabels, s->dup, 10, p, err);
      if (rc) break;
      printf("%-6s %-6s", t ? "test" : "train", v ? "tuned" : "raw");
      for (int f = 0; f < s->nlabels; f++) printf("  %12.3f", p[f]);
      printf("   (%ld)\n", n);
    }
    /* With a label prior: the gallery's labels, the query's predicted classes. */
    for (int w = 0; w < npriors && !rc && proj->nheads == s->nlabels; w++) {
      float *gx = NULL, *qx = NULL;
      int wide = 0;
      double p[LK_TUNE_MAX_LABELS];
      lk_prior *pr = NULL;
      rc = prior_rows(s, proj, px, od, priors[w], &gx, &qx, &wide, &pr, err);
      prior_ctx pc = {pr, od}; /* ranked exactly as a search ranks (lk_prior_score) */
      if (!rc) rc = lk_train_knn_precision_fn(gx, qx, wide, rows, n, s->y, s->nlabels, s->dup, 10, prior_score, &pc, p, err);
      lk_prior_free(pr);
      if (!rc) {
        if (priors[w] < 0) printf("%-6s %-10s", t ? "test" : "train", "+prior");
        else printf("%-6s prior %-4g", t ? "test" : "train", priors[w]);
        for (int f = 0; f < s->nlabels; f++) printf("  %12.3f", p[f]);
        printf("   (%ld)\n", n);
      }
      free(gx);
      free(qx);
    }
  }
  free(rows);
  free(px);
  return rc;
}

static int split_list(const char *arg, char *buf, size_t cap, const char **out, int max) {
  snprintf(buf, cap, "%s", arg);
  int n = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (n == max) return -1;
    out[n++] = tok;
  }
  return n;
}

int lk_cli_tune(int argc, char **argv) {
  enum { O_SPLIT = 256, O_STYLES, O_HOLD, O_RECOUT, O_WEIGHTS, O_METHOD, O_HIDDEN, O_EPOCHS, O_BATCH, O_LR,
         O_WD, O_SCALE, O_MARGIN, O_SEED, O_EVAL, O_NAME, O_QUIET, O_DROP, O_IDROP, O_KEEP, O_PRESCALE,
         O_PRIOR, O_PRIOR_REPORT, O_VIEWS, O_THREADS, O_MODELS };
  static const struct option opts[] = {
      {"db", required_argument, 0, 'd'},          {"out", required_argument, 0, 'o'},
      {"labels", required_argument, 0, 'l'},      {"dims", required_argument, 0, 'n'},
      {"split", required_argument, 0, O_SPLIT},   {"styles", required_argument, 0, O_STYLES},
      {"holdout-mod", required_argument, 0, O_HOLD}, {"recipe-out", required_argument, 0, O_RECOUT},
      {"weights", required_argument, 0, O_WEIGHTS}, {"method", required_argument, 0, O_METHOD},
      {"hidden", required_argument, 0, O_HIDDEN}, {"epochs", required_argument, 0, O_EPOCHS},
      {"batch", required_argument, 0, O_BATCH},   {"lr", required_argument, 0, O_LR},
      {"weight-decay", required_argument, 0, O_WD}, {"scale", required_argument, 0, O_SCALE},
      {"margin", required_argument, 0, O_MARGIN}, {"seed", required_argument, 0, O_SEED},
      {"eval-sample", required_argument, 0, O_EVAL}, {"name", required_argument, 0, O_NAME},
      {"dropout", required_argument, 0, O_DROP},  {"input-dropout", required_argument, 0, O_IDROP},
      {"keep-color", required_argument, 0, O_KEEP}, {"prescale", required_argument, 0, O_PRESCALE},
      {"prior", required_argument, 0, O_PRIOR},   {"prior-report", required_argument, 0, O_PRIOR_REPORT},
      {"quiet", no_argument, 0, O_QUIET},         {"help", no_argument, 0, 'h'},
      {"views", required_argument, 0, O_VIEWS},   {"threads", required_argument, 0, O_THREADS},
      {"models", required_argument, 0, O_MODELS},
      {0, 0, 0, 0}};
  const char *db = NULL, *out = NULL, *split = NULL, *styles = NULL, *recipe_out = NULL, *name = NULL;
  const char *labels_arg = "articleType,baseColour,gender", *weights_arg = NULL, *prior_arg = NULL;
  const char *prior_report_arg = NULL;
  int mod = 5, c;
  long eval_sample = 3000;
  float keep_color = 0;
  int prescale = -1, views = TUNE_VIEWS, threads = 2;
  const char *models = NULL;
  lk_train_opts to;
  lk_train_opts_default(&to);
  /* `lookalike tune` with no options is the configuration measured best (docs/QUALITY.md): an
   * MLP with dropout on its input and hidden units */
  to.hidden = TUNE_HIDDEN;
  to.dropout = TUNE_DROPOUT;
  to.input_dropout = TUNE_DROPOUT;
  progress_ctx pc = {0};
  while ((c = getopt_long(argc, argv, "d:o:l:n:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 'o': out = optarg; break;
    case 'l': labels_arg = optarg; break;
    case 'n': if (num(optarg, "--dims", 1, LK_PROJ_MAX_DIM, &to.dims)) return LK_EX_USAGE; break;
    case O_SPLIT:
      if (strcmp(optarg, "test") && strcmp(optarg, "train")) return usage("--split is test or train");
      split = optarg;
      break;
    case O_STYLES: styles = optarg; break;
    case O_HOLD: if (num(optarg, "--holdout-mod", 0, 1000000, &mod)) return LK_EX_USAGE; break;
    case O_RECOUT: recipe_out = optarg; break;
    case O_WEIGHTS: weights_arg = optarg; break;
    case O_PRIOR: prior_arg = optarg; break;
    case O_PRIOR_REPORT: prior_report_arg = optarg; break;
    case O_METHOD:
      if (!strcmp(optarg, "softmax")) to.method = LK_TRAIN_SOFTMAX;
      else if (!strcmp(optarg, "pca")) to.method = LK_TRAIN_PCA;
      else return usage("--method is softmax or pca");
      break;
    case O_HIDDEN: if (num(optarg, "--hidden", 0, LK_PROJ_MAX_DIM, &to.hidden)) return LK_EX_USAGE; break;
    case O_EPOCHS: if (num(optarg, "--epochs", 1, 10000, &to.epochs)) return LK_EX_USAGE; break;
    case O_BATCH: if (num(optarg, "--batch", 2, 65536, &to.batch)) return LK_EX_USAGE; break;
    case O_LR: if (real(optarg, "--lr", 1e-9, 10, &to.lr)) return LK_EX_USAGE; break;
    case O_WD: if (real(optarg, "--weight-decay", 0, 10, &to.weight_decay)) return LK_EX_USAGE; break;
    case O_SCALE: if (real(optarg, "--scale", 1e-3, 1000, &to.scale)) return LK_EX_USAGE; break;
    case O_MARGIN: if (real(optarg, "--margin", -10, 10, &to.margin)) return LK_EX_USAGE; break;
    case O_KEEP: if (real(optarg, "--keep-color", 0, 1000, &keep_color)) return LK_EX_USAGE; break;
    case O_PRESCALE:
      if (num(optarg, "--prescale", 0, 4096, &prescale)) return LK_EX_USAGE;
      break;
    case O_DROP: if (real(optarg, "--dropout", 0, 0.999, &to.dropout)) return LK_EX_USAGE; break;
    case O_IDROP: if (real(optarg, "--input-dropout", 0, 0.999, &to.input_dropout)) return LK_EX_USAGE; break;
    case O_SEED: if (lk_cli_u64("tune", "--seed", optarg, &to.seed)) return LK_EX_USAGE; break;
    case O_EVAL: if (lk_cli_long("tune", "--eval-sample", optarg, 0, LONG_MAX, &eval_sample)) return LK_EX_USAGE; break;
    case O_NAME: name = optarg; break;
    case O_QUIET: pc.quiet = 1; break;
    case O_VIEWS: if (num(optarg, "--views", 0, 64, &views)) return LK_EX_USAGE; break;
    case O_THREADS: if (num(optarg, "--threads", 1, 64, &threads)) return LK_EX_USAGE; break;
    case O_MODELS: models = optarg; break;
    case 'h': fputs(HELP, stdout); return 0;
    default: return usage("unknown option");
    }
  }
  if (optind != argc) return usage("unexpected argument");
  lk_errbuf eb = {0};
  if (split) {
    if (!styles) return usage("--split needs --styles");
    long rows = 0;
    int rc = lk_tune_split_csv(styles, mod, !strcmp(split, "test"), stdout, &rows, &eb);
    if (rc) {
      fprintf(stderr, "lookalike tune: %s\n", lk_err_msg(&eb));
      return lk_cli_exit_code(rc == LK_EINVAL ? LK_EIO : rc);
    }
    fprintf(stderr, "%s split (hash(id) mod %d %s 0): %ld rows\n", split, mod, !strcmp(split, "test") ? "==" : "!=", rows);
    return 0;
  }
  if (!db) return usage("--db is required");
  if (!out && !recipe_out) return usage("--out (a tuned catalog) or --recipe-out is required");
  if (to.dims < 1 || to.dims > LK_PROJ_MAX_DIM) return usage("--dims must be 1..8192");
  if (to.hidden < 0 || to.hidden > LK_PROJ_MAX_DIM) return usage("--hidden must be 0..8192");
  if (!(to.dropout >= 0 && to.dropout < 1) || !(to.input_dropout >= 0 && to.input_dropout < 1))
    return usage("--dropout and --input-dropout must be in [0, 1)");
  char lbuf[512], wbuf[512];
  const char *labels[LK_TUNE_MAX_LABELS], *wts[LK_TUNE_MAX_LABELS];
  int nl = split_list(labels_arg, lbuf, sizeof lbuf, labels, LK_TUNE_MAX_LABELS);
  if (nl < 1) return usage("--labels: 1 to 4 fields");
  if (weights_arg) {
    int nw = split_list(weights_arg, wbuf, sizeof wbuf, wts, LK_TUNE_MAX_LABELS);
    if (nw != nl) return usage("--weights needs one number per label field");
    for (int i = 0; i < nw; i++) {
      if (real(wts[i], "--weights", 0, 1e4, &to.head_weight[i])) return LK_EX_USAGE;
    }
  }
  float priors_rep[8];
  int npriors_rep = 0;
  {
    char pbuf[512];
    const char *pv[LK_TUNE_MAX_LABELS];
    for (int i = 0; i < nl; i++) to.prior[i] = 0.5f; /* docs/QUALITY.md "Label prior" */
    if (prior_arg) {
      int np = split_list(prior_arg, pbuf, sizeof pbuf, pv, LK_TUNE_MAX_LABELS);
      if (np != 1 && np != nl) return usage("--prior needs one number, or one per label field");
      for (int i = 0; i < nl; i++) {
        if (real(pv[np == 1 ? 0 : i], "--prior", 0, 100, &to.prior[i])) return LK_EX_USAGE;
      }
    }
    const char *rv[8];
    if (prior_report_arg) {
      char rbuf[512];
      snprintf(rbuf, sizeof rbuf, "%s", prior_report_arg);
      for (char *tok = strtok(rbuf, ","); tok; tok = strtok(NULL, ",")) {
        if (npriors_rep == 8) return usage("--prior-report: at most 8 weights");
        rv[npriors_rep] = tok;
        if (real(tok, "--prior-report", 1e-6, 100, &priors_rep[npriors_rep])) return LK_EX_USAGE;
        npriors_rep++;
      }
    }
    (void)rv;
  }
  if (mod == 0) fprintf(stderr, "warning: --holdout-mod 0 trains on every product: no honest test numbers\n");

  double t0 = lk_cli_now();
  lk_tune_set *s = NULL;
  lk_projection *proj = NULL;
  lk_recipe tuned = {0};
  int rc = lk_tune_load(db, labels, nl, mod, &s, &eb);
  if (rc) goto fail;
  long ntest = 0;
  for (long i = 0; i < s->n; i++) ntest += s->test[i];
  printf("%s: %ld vectors (%d-d, recipe %s): %ld for training, %ld held out (hash(id) mod %d == 0)\n", db, s->n,
         s->dim, s->recipe.name, s->n - ntest, ntest, mod);
  printf("labels:");
  for (int f = 0; f < nl; f++) printf(" %s (%d values)", lk_catalog_fields[s->field[f]], s->nclass[f]);
  printf("\nloaded in %.1f s; training %s -> %d-d%s\n", lk_cli_now() - t0,
         to.method == LK_TRAIN_PCA ? "PCA-whitening" : "a cosine classifier", to.dims,
         to.hidden && to.method != LK_TRAIN_PCA ? " through a hidden layer" : "");
  fflush(stdout);
  uint8_t *use = malloc((size_t)s->n);
  if (!use) { rc = lk_err_set(&eb, LK_ENOMEM, "out of memory"); goto fail; }
  for (long i = 0; i < s->n; i++) use[i] = !s->test[i] || mod == 0;
  lk_train_data d = {.n = s->n, .dim = s->dim, .x = s->x, .nheads = nl, .y = s->y, .use = use};
  float *xall = NULL;
  int32_t *yall = NULL;
  if (views > 0) { /* street-like views of the training photos, learnt beside the photos */
    float *xv = NULL;
    long *src = NULL, nv = 0, skipped = 0;
    double tv = lk_cli_now();
    views_ctx vc = {pc.quiet || !isatty(2), tv};
    rc = lk_tune_embed_views(s, use, views, threads, models, to.seed, views_progress, &vc, &xv, &src, &nv, &skipped, &eb);
    if (rc && !vc.quiet) fputc('\n', stderr); /* the bar ends its line when it completes */
    size_t nall = 0, xn = 0;
    if (!rc && (lk_size_mul((size_t)(s->n + nv), (size_t)s->dim, &xn) || lk_size_mul((size_t)(s->n + nv), (size_t)nl, &nall)))
      rc = lk_err_set(&eb, LK_ETOOBIG, "too many rows");
    if (!rc) {
      xall = malloc(sizeof(float) * xn);
      yall = malloc(sizeof(int32_t) * nall);
      uint8_t *u2 = realloc(use, (size_t)(s->n + nv));
      if (u2) use = u2;
      if (!xall || !yall || !u2) rc = lk_err_set(&eb, LK_ENOMEM, "out of memory");
    }
    if (!rc) {
      memcpy(xall, s->x, sizeof(float) * (size_t)s->n * s->dim);
      memcpy(xall + (size_t)s->n * s->dim, xv, sizeof(float) * (size_t)nv * s->dim);
      memcpy(yall, s->y, sizeof(int32_t) * (size_t)s->n * nl);
      for (long v = 0; v < nv; v++) {
        memcpy(yall + (size_t)(s->n + v) * nl, s->y + (size_t)src[v] * nl, sizeof(int32_t) * nl);
        use[s->n + v] = 1;
      }
      d.n = s->n + nv;
      d.x = xall;
      d.y = yall;
      d.use = use;
      printf("street-like views: %ld, %d of each of %ld training photos (%ld unreadable) in %.1f s\n", nv, views,
             nv / views + skipped, skipped, lk_cli_now() - tv);
      fflush(stdout);
    }
    free(xv);
    free(src);
    if (rc) {
      free(use);
      free(xall);
      free(yall);
      goto fail;
    }
  }
  for (int f = 0; f < nl; f++) {
    d.nclass[f] = s->nclass[f] > 0 ? s->nclass[f] : 1;
    if (s->nclass[f] > 0) { /* keep the heads: the label prior (search/prior.h) needs them */
      d.head_field[f] = lk_catalog_fields[s->field[f]];
      d.class_name[f] = s->cname[f];
    }
  }
  pc.t0 = lk_cli_now();
  to.progress = on_epoch;
  to.ctx = &pc;
  double loss = 0, t_train = lk_cli_now();
  rc = lk_train_fit(&d, &to, &proj, &loss, &eb);
  free(use);
  free(xall);
  free(yall);
  if (rc) goto fail;
  t_train = lk_cli_now() - t_train;
  if (keep_color > 0) {
    int cd = s->recipe.color_bins * s->recipe.color_bins * s->recipe.color_bins;
    if (cd <= 0 || s->recipe.color_weight <= 0) {
      rc = lk_err_set(&eb, LK_EINVAL, "--keep-color: the catalog's recipe has no colour part");
      goto fail;
    }
    proj->tail = cd;
    proj->tail_weight = keep_color;
  }
  printf("trained in %.1f s\n", t_train);
  if (npriors_rep == 0 && to.prior[0] > 0) priors_rep[npriors_rep++] = -1; /* as stored */
  if (eval_sample > 0 && (rc = report(s, proj, eval_sample, labels, priors_rep, npriors_rep, &eb))) goto fail;

  /* The tuned recipe: the source's, plus the projection. */
  if ((rc = lk_recipe_copy(&tuned, &s->recipe))) { lk_err_set(&eb, rc, "out of memory"); goto fail; }
  lk_recipe_set_projection(&tuned, proj);
  proj = NULL;
  if (prescale >= 0) tuned.prescale = prescale;
  if (name) snprintf(tuned.name, sizeof tuned.name, "%s", name);
  else {
    char nm[sizeof tuned.name];
    snprintf(nm, sizeof nm, "%.50s+tuned", s->recipe.name);
    memcpy(tuned.name, nm, sizeof nm);
  }
  char tid[17];
  lk_recipe_id(&tuned, tid);
  if (recipe_out) {
    char *js = lk_recipe_to_json(&tuned);
    FILE *f = js ? fopen(recipe_out, "w") : NULL;
    int ok = f && fputs(js, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    free(js);
    if (!ok) { rc = lk_err_set(&eb, LK_EIO, "cannot write %s", recipe_out); goto fail; }
    printf("wrote recipe %s (id %s) to %s\n", tuned.name, tid, recipe_out);
  }
  if (out) {
    double tw = lk_cli_now();
    if ((rc = lk_tune_write(db, out, &tuned, &eb))) goto fail;
    printf("wrote %s: %ld vectors, %d-d, recipe %s (id %s) in %.1f s\n", out, s->n, lk_projection_out(tuned.proj),
           tuned.name, tid, lk_cli_now() - tw);
    /* the tuned recipe's scores are new: calibrate its match strength (cli/calibrate.h) */
    lk_calibration cal;
    double cs = 0;
    lk_errbuf cb = {0};
    if (lk_cli_calibrate_db(out, models, LK_BACKEND_DNNL, NULL, &cal, &cs, &cb) == 0) lk_cli_calibrate_print(&cal, cs);
    else fprintf(stderr, "lookalike tune: warning: the match strength of %s is not calibrated (%s); run "
                         "`lookalike calibrate --db %s`\n", out, lk_err_msg(&cb), out);
  }
  printf("total %.1f s\n", lk_cli_now() - t0);
  lk_recipe_clear(&tuned);
  lk_tune_set_free(s);
  return 0;
fail:
  fprintf(stderr, "lookalike tune: %s\n", lk_err_msg(&eb));
  lk_projection_free(proj);
  lk_recipe_clear(&tuned);
  lk_tune_set_free(s);
  return lk_cli_exit_code(rc);
}
