/* cli/tune.c — `lookalike tune`: parses the options into lk_tune_opts, runs lk_tune_run
 * (tune/run.h: learns a projection of a catalog's frozen embedding on its own label fields,
 * measures leave-one-out P@10 on both splits before and after, writes a tuned catalog whose
 * recipe carries the projection) and prints its figures as each phase ends. Also prints the
 * fixed train/test split of a styles table (--split). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/tune.h"

#include "cli/calibrate.h"
#include "cli/cli.h"
#include "embed/projection.h"
#include "tune/run.h"
#include "tune/tune.h"

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

static int split_list(const char *arg, char *buf, size_t cap, const char **out, int max) {
  snprintf(buf, cap, "%s", arg);
  int n = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (n == max) return -1;
    out[n++] = tok;
  }
  return n;
}

/* What lk_cli_tune prints as the run goes (tune_progress). */
typedef struct print_ctx {
  const lk_tune_opts *o;
  const lk_tune_stats *st;
  int quiet;       /* --quiet: no per-epoch lines */
  int bar;         /* the views' progress bar is drawn (a terminal, not --quiet) */
  int bar_open;    /* the bar's line is not ended yet */
  double tv;       /* when the views began */
  const char *last; /* the last phase reported */
} print_ctx;

static void print_p10(const char *split, const char *what, const double *p, int nl, long n) {
  printf("%-6s %s", split, what);
  for (int f = 0; f < nl; f++) printf("  %12.3f", p[f]);
  printf("   (%ld)\n", n);
}

/* The P@10 table: per label on both splits, raw and tuned, and with the label prior. */
static void print_eval(const lk_tune_opts *o, const lk_tune_stats *st) {
  printf("\nleave-one-out P@10 among %ld products of each split (gallery = those products)\n", o->eval_sample);
  printf("%-6s %-6s", "split", "vectors");
  for (int f = 0; f < st->nlabels; f++) printf("  %12s", o->labels[f]);
  printf("\n");
  for (int t = 0; t < 2; t++) {
    const char *split = t ? "test" : "train";
    if (st->eval_rows[t] < 2) continue;
    for (int v = 0; v < 2; v++) {
      char what[16];
      snprintf(what, sizeof what, "%-6s", v ? "tuned" : "raw");
      print_p10(split, what, st->p10[t][v], st->nlabels, st->eval_rows[t]);
    }
    for (int w = 0; w < st->nprior; w++) {
      char what[32];
      if (st->prior_weight[w] < 0) snprintf(what, sizeof what, "%-10s", "+prior");
      else snprintf(what, sizeof what, "prior %-4g", st->prior_weight[w]);
      print_p10(split, what, st->p10_prior[t][w], st->nlabels, st->eval_rows[t]);
    }
  }
}

static void print_loaded(const lk_tune_opts *o, const lk_tune_stats *st) {
  printf("%s: %ld vectors (%d-d, recipe %s): %ld for training, %ld held out (hash(id) mod %d == 0)\n", o->db, st->n,
         st->dim, st->recipe, st->n - st->ntest, st->ntest, o->holdout_mod);
  printf("labels:");
  for (int f = 0; f < st->nlabels; f++) printf(" %s (%d values)", st->label[f], st->nclass[f]);
  printf("\nloaded in %.1f s; training %s -> %d-d%s\n", st->load_seconds,
         o->method == LK_TUNE_PCA ? "PCA-whitening" : "a cosine classifier", o->dims,
         o->hidden && o->method != LK_TUNE_PCA ? " through a hidden layer" : "");
  fflush(stdout);
}

static void tune_progress(void *ctx, const char *phase, double done, double total) {
  print_ctx *p = ctx;
  const lk_tune_opts *o = p->o;
  const lk_tune_stats *st = p->st;
  int end = done >= total;
  p->last = phase;
  if (!strcmp(phase, "load")) {
    print_loaded(o, st);
    p->tv = lk_cli_now(); /* the views (if any) begin */
  } else if (!strcmp(phase, "views")) {
    if (p->bar && ((long)done % 256 == 0 || end)) lk_cli_bar("street-like views", (long)done, (long)total, p->tv);
    p->bar_open = !end;
    if (end) {
      printf("street-like views: %ld, %d of each of %ld training photos (%ld unreadable) in %.1f s\n", st->views,
             o->views, st->views_photos, st->views_skipped, st->views_seconds);
      fflush(stdout);
    }
  } else if (!strcmp(phase, "train")) {
    if (!p->quiet && st->epoch > 0)
      fprintf(stderr, "epoch %d/%d  loss %.4f  (%.1f s)\n", st->epoch, st->epochs, st->loss, st->epoch_seconds);
    if (end) printf("trained in %.1f s\n", st->train_seconds);
  } else if (!strcmp(phase, "evaluate")) {
    if (end) print_eval(o, st);
  } else if (!strcmp(phase, "recipe")) {
    printf("wrote recipe %s (id %s) to %s\n", st->name, st->recipe_id, o->recipe_out);
  } else if (!strcmp(phase, "write")) {
    printf("wrote %s: %ld vectors, %d-d, recipe %s (id %s) in %.1f s\n", o->out, st->n, st->out_dim, st->name,
           st->recipe_id, st->write_seconds);
  } else if (!strcmp(phase, "calibrate")) {
    if (st->calibrated)
      lk_cli_calibrate_print_pairs(st->cal_pairs_product, st->cal_pairs_kind, st->cal_pairs_other, st->cal_weak_score,
                                   st->cal_seconds);
    else
      fprintf(stderr, "lookalike tune: warning: the match strength of %s is not calibrated (%s); run "
                      "`lookalike calibrate --db %s`\n", o->out, st->cal_error, o->out);
  }
}

/* --labels, --weights, --prior and --prior-report into o (lbuf keeps the label names). */
static int parse_lists(lk_tune_opts *o, const char *labels_arg, char *lbuf, size_t lcap, const char *weights_arg,
                       const char *prior_arg, const char *prior_report_arg) {
  char buf[512];
  const char *tok[LK_TUNE_LABELS];
  int nl = split_list(labels_arg, lbuf, lcap, o->labels, LK_TUNE_LABELS);
  if (nl < 1) return usage("--labels: 1 to 4 fields");
  o->nlabels = nl;
  if (weights_arg) {
    int nw = split_list(weights_arg, buf, sizeof buf, tok, LK_TUNE_LABELS);
    if (nw != nl) return usage("--weights needs one number per label field");
    for (int i = 0; i < nw; i++)
      if (real(tok[i], "--weights", 0, 1e4, &o->weights[i])) return LK_EX_USAGE;
  }
  if (prior_arg) {
    int np = split_list(prior_arg, buf, sizeof buf, tok, LK_TUNE_LABELS);
    if (np != 1 && np != nl) return usage("--prior needs one number, or one per label field");
    for (int i = 0; i < nl; i++)
      if (real(tok[np == 1 ? 0 : i], "--prior", 0, 100, &o->prior[i])) return LK_EX_USAGE;
  }
  if (prior_report_arg) {
    snprintf(buf, sizeof buf, "%s", prior_report_arg);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
      if (o->nprior_report == LK_TUNE_PRIOR_REPORT) return usage("--prior-report: at most 8 weights");
      if (real(t, "--prior-report", 1e-6, 100, &o->prior_report[o->nprior_report])) return LK_EX_USAGE;
      o->nprior_report++;
    }
  }
  return 0;
}

/* `tune --split test|train --styles FILE`: the split's rows of the styles table to stdout. */
static int print_split(const char *split, const char *styles, int mod) {
  if (!styles) return usage("--split needs --styles");
  lk_errbuf eb = {0};
  long rows = 0;
  int rc = lk_tune_split_csv(styles, mod, !strcmp(split, "test"), stdout, &rows, &eb);
  if (rc) {
    fprintf(stderr, "lookalike tune: %s\n", lk_err_msg(&eb));
    return lk_cli_exit_code(rc == LK_EINVAL ? LK_EIO : rc);
  }
  fprintf(stderr, "%s split (hash(id) mod %d %s 0): %ld rows\n", split, mod, !strcmp(split, "test") ? "==" : "!=", rows);
  return 0;
}

/* The run itself, printed as it goes. */
static int run_tune(lk_tune_opts *o, int quiet) {
  if (o->holdout_mod == 0) fprintf(stderr, "warning: --holdout-mod 0 trains on every product: no honest test numbers\n");
  lk_tune_stats st;
  print_ctx pc = {.o = o, .st = &st, .quiet = quiet, .bar = !quiet && isatty(2)};
  o->progress = tune_progress;
  o->ctx = &pc;
  lk_errbuf eb = {0};
  int rc = lk_tune_run(o, &st, &eb);
  if (rc) {
    /* the bar ends its line when it completes */
    if (pc.bar && (pc.bar_open || (o->views > 0 && pc.last && !strcmp(pc.last, "load")))) fputc('\n', stderr);
    fprintf(stderr, "lookalike tune: %s\n", lk_err_msg(&eb));
    return lk_cli_exit_code(rc);
  }
  printf("total %.1f s\n", st.seconds);
  return 0;
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
  const char *split = NULL, *styles = NULL;
  const char *labels_arg = "articleType,baseColour,gender", *weights_arg = NULL, *prior_arg = NULL;
  const char *prior_report_arg = NULL;
  int c, quiet = 0;
  lk_tune_opts o;
  lk_tune_opts_default(&o);
  while ((c = getopt_long(argc, argv, "d:o:l:n:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': o.db = optarg; break;
    case 'o': o.out = optarg; break;
    case 'l': labels_arg = optarg; break;
    case 'n': if (num(optarg, "--dims", 1, LK_PROJ_MAX_DIM, &o.dims)) return LK_EX_USAGE; break;
    case O_SPLIT:
      if (strcmp(optarg, "test") && strcmp(optarg, "train")) return usage("--split is test or train");
      split = optarg;
      break;
    case O_STYLES: styles = optarg; break;
    case O_HOLD: if (num(optarg, "--holdout-mod", 0, 1000000, &o.holdout_mod)) return LK_EX_USAGE; break;
    case O_RECOUT: o.recipe_out = optarg; break;
    case O_WEIGHTS: weights_arg = optarg; break;
    case O_PRIOR: prior_arg = optarg; break;
    case O_PRIOR_REPORT: prior_report_arg = optarg; break;
    case O_METHOD:
      if (!strcmp(optarg, "softmax")) o.method = LK_TUNE_SOFTMAX;
      else if (!strcmp(optarg, "pca")) o.method = LK_TUNE_PCA;
      else return usage("--method is softmax or pca");
      break;
    case O_HIDDEN: if (num(optarg, "--hidden", 0, LK_PROJ_MAX_DIM, &o.hidden)) return LK_EX_USAGE; break;
    case O_EPOCHS: if (num(optarg, "--epochs", 1, 10000, &o.epochs)) return LK_EX_USAGE; break;
    case O_BATCH: if (num(optarg, "--batch", 2, 65536, &o.batch)) return LK_EX_USAGE; break;
    case O_LR: if (real(optarg, "--lr", 1e-9, 10, &o.lr)) return LK_EX_USAGE; break;
    case O_WD: if (real(optarg, "--weight-decay", 0, 10, &o.weight_decay)) return LK_EX_USAGE; break;
    case O_SCALE: if (real(optarg, "--scale", 1e-3, 1000, &o.scale)) return LK_EX_USAGE; break;
    case O_MARGIN: if (real(optarg, "--margin", -10, 10, &o.margin)) return LK_EX_USAGE; break;
    case O_KEEP: if (real(optarg, "--keep-color", 0, 1000, &o.keep_color)) return LK_EX_USAGE; break;
    case O_PRESCALE: if (num(optarg, "--prescale", 0, 4096, &o.prescale)) return LK_EX_USAGE; break;
    case O_DROP: if (real(optarg, "--dropout", 0, 0.999, &o.dropout)) return LK_EX_USAGE; break;
    case O_IDROP: if (real(optarg, "--input-dropout", 0, 0.999, &o.input_dropout)) return LK_EX_USAGE; break;
    case O_SEED: if (lk_cli_u64("tune", "--seed", optarg, &o.seed)) return LK_EX_USAGE; break;
    case O_EVAL: if (lk_cli_long("tune", "--eval-sample", optarg, 0, LONG_MAX, &o.eval_sample)) return LK_EX_USAGE; break;
    case O_NAME: o.name = optarg; break;
    case O_QUIET: quiet = 1; break;
    case O_VIEWS: if (num(optarg, "--views", 0, 64, &o.views)) return LK_EX_USAGE; break;
    case O_THREADS: if (num(optarg, "--threads", 1, 64, &o.threads)) return LK_EX_USAGE; break;
    case O_MODELS: o.models_dir = optarg; break;
    case 'h': fputs(HELP, stdout); return 0;
    default: return usage("unknown option");
    }
  }
  if (optind != argc) return usage("unexpected argument");
  if (split) return print_split(split, styles, o.holdout_mod);
  if (!o.db) return usage("--db is required");
  if (!o.out && !o.recipe_out) return usage("--out (a tuned catalog) or --recipe-out is required");
  if (!(o.dropout >= 0 && o.dropout < 1) || !(o.input_dropout >= 0 && o.input_dropout < 1))
    return usage("--dropout and --input-dropout must be in [0, 1)");
  char lbuf[512];
  int rc = parse_lists(&o, labels_arg, lbuf, sizeof lbuf, weights_arg, prior_arg, prior_report_arg);
  return rc ? rc : run_tune(&o, quiet);
}
