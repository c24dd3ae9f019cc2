/* tune/run.h — the whole of `lookalike tune` as one library call: load a catalog's raw vectors
 * and labels (tune/tune.h), optionally add street-like views, train a projection (tune/train.h),
 * measure leave-one-out P@10 on both splits raw and tuned, write the tuned recipe and/or the
 * tuned catalog, and calibrate its match strength. Prints nothing: the figures land in
 * lk_tune_stats and a progress callback says when each phase is done (cli/tune.c prints them). */
#ifndef LK_TUNE_RUN_H
#define LK_TUNE_RUN_H

#include <signal.h>
#include <stdint.h>

#include "util/err.h"

/* public: lookalike.h (these types and lk_tune_opts_default / lk_tune_run) */

#define LK_TUNE_LABELS 4        /* label fields at most (= LK_TUNE_MAX_LABELS) */
#define LK_TUNE_PRIOR_REPORT 8  /* extra prior weights measured at most */

enum lk_tune_method { LK_TUNE_SOFTMAX = 0, LK_TUNE_PCA = 1 };

typedef struct lk_tune_opts {
  const char *db;          /* the catalog to learn from (made by index; not a tuned one); required */
  const char *out;         /* the tuned catalog to write (must not exist); NULL = none */
  const char *recipe_out;  /* also the tuned recipe as JSON; NULL = none (out or recipe_out needed) */
  const char *name;        /* the tuned recipe's name; NULL = the source's + "+tuned" */
  const char *models_dir;  /* the .tflite files (views, calibration); NULL = the default search */
  const char *labels[LK_TUNE_LABELS]; /* label fields (default articleType, baseColour, gender) */
  int nlabels;
  float weights[LK_TUNE_LABELS];      /* loss weight per label field (default 1) */
  int method;              /* enum lk_tune_method (default LK_TUNE_SOFTMAX) */
  int dims;                /* output dimensions (default 256) */
  int hidden;              /* hidden ReLU units (default 1024; 0 = a linear map) */
  int epochs, batch;       /* default 20, 256 */
  float lr, weight_decay;  /* AdamW's peak step and decay (default 0.002, 0.0001) */
  float scale, margin;     /* the cosine classifier's logit scale and margin (default 16, 0.1) */
  float dropout, input_dropout; /* drop rates while training (default 0.5, 0.5) */
  float prior[LK_TUNE_LABELS];  /* label-prior weight stored per field (default 0.5; 0 = off) */
  float prior_report[LK_TUNE_PRIOR_REPORT]; /* also measure P@10 with these prior weights */
  int nprior_report;
  float keep_color;        /* > 0: the raw colour histogram appended with this weight (default 0) */
  int prescale;            /* the tuned recipe's prescale in px; -1 = the source's (default) */
  int views;               /* street-like views per training photo (default 0) */
  int threads;             /* workers embedding the views (default 2) */
  uint64_t seed;           /* initial weights, batch order, views (default 0) */
  int holdout_mod;         /* hash(id) mod M == 0 is held out (default 5; 0 = none) */
  long eval_sample;        /* rows per split in the P@10 measure (default 3000; 0 = none) */
  volatile sig_atomic_t *stop; /* set asynchronously to stop (LK_EINTR) before the tuned
                                  catalog is written; NULL = none */
  /* Called as the run goes (may be NULL); never two calls at once, but the "views" calls come
   * from the threads embedding the views, the others from the caller's. phase: "load", "views",
   * "train", "evaluate", "recipe", "write", "calibrate". A phase's last call has done == total
   * and comes once its figures are in the stats (the lk_tune_stats given to lk_tune_run, which
   * the callback may read); "train" calls after each epoch (done = epochs so far; st->epoch,
   * st->loss) and once more at its end (done == total: st->train_seconds). */
  void (*progress)(void *ctx, const char *phase, double done, double total);
  void *ctx;
} lk_tune_opts;

void lk_tune_opts_default(lk_tune_opts *o);

typedef struct lk_tune_stats {
  /* load */
  long n, ntest;           /* vectors loaded, of them held out */
  int dim;                 /* the source's width */
  char recipe[64];         /* the source recipe's name */
  int nlabels;
  const char *label[LK_TUNE_LABELS]; /* canonical field names (static strings) */
  int nclass[LK_TUNE_LABELS];        /* values per field */
  double load_seconds;
  /* views (opts.views > 0) */
  long views, views_photos, views_skipped; /* views made, training photos, photos unreadable */
  double views_seconds;
  /* train */
  int epoch, epochs;       /* epochs done (0 for PCA) of epochs */
  double loss;             /* the last epoch's mean loss */
  double epoch_seconds;    /* since training began, at the last epoch */
  double train_seconds;
  /* evaluate (opts.eval_sample > 0): [split: 0 train, 1 test] */
  long eval_rows[2];       /* rows measured; < 2: that split has no figures */
  double p10[2][2][LK_TUNE_LABELS]; /* [split][0 raw, 1 tuned][field]: leave-one-out P@10 */
  int nprior;              /* prior rows measured (0 when the heads do not match the labels) */
  float prior_weight[LK_TUNE_PRIOR_REPORT]; /* < 0: the stored opts.prior */
  double p10_prior[2][LK_TUNE_PRIOR_REPORT][LK_TUNE_LABELS];
  /* the tuned recipe and catalog */
  char name[64];           /* the tuned recipe's name */
  char recipe_id[17];
  int out_dim;             /* the tuned vectors' width */
  double write_seconds;
  /* calibrate (opts.out): a failure is no error of the run: calibrated = 0, cal_error says why */
  int calibrated;
  int cal_pairs_product, cal_pairs_kind, cal_pairs_other;
  float cal_weak_score;
  double cal_seconds;
  char cal_error[256];
  double seconds;          /* the whole run */
} lk_tune_stats;

/* Runs the tune. 0, or LK_EINVAL (bad options, a tuned source, opts.out exists), LK_ENOTFOUND,
 * LK_EIO, LK_ENOMEM, LK_EINTR (stopped; the tuned catalog is not written), ... with the message
 * in err. The source catalog is only read; opts and its strings are the caller's and only read.
 * It keeps no state between calls. A calibration that fails (e.g. the photos are not at their
 * indexed paths) is no error: st->calibrated = 0 and st->cal_error says why. */
int lk_tune_run(const lk_tune_opts *o, lk_tune_stats *st, lk_errbuf *err);

#endif
