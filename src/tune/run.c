/* tune/run.c — lk_tune_run (see run.h): the tune's phases in order over one run state, each a
 * function: load, views, train, evaluate (leave-one-out P@10, raw and tuned, with and without
 * the label prior), the tuned recipe, the tuned catalog and its calibration. */
#include "tune/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "embed/projection.h"
#include "nn/model.h"
#include "search/calibrate.h"
#include "search/prior.h"
#include "tune/train.h"
#include "tune/tune.h"
#include "util/clock.h"
#include "util/size.h"

_Static_assert(LK_TUNE_LABELS == LK_TUNE_MAX_LABELS && LK_TUNE_LABELS <= LK_TRAIN_MAX_HEADS, "label fields");

void lk_tune_opts_default(lk_tune_opts *o) {
  memset(o, 0, sizeof *o);
  static const char *const labels[] = {"articleType", "baseColour", "gender"};
  lk_train_opts to;
  lk_train_opts_default(&to);
  for (int i = 0; i < 3; i++) o->labels[i] = labels[i];
  o->nlabels = 3;
  for (int i = 0; i < LK_TUNE_LABELS; i++) {
    o->weights[i] = 1;
    o->prior[i] = 0.5f; /* docs/QUALITY.md "Label prior" */
  }
  o->method = LK_TUNE_SOFTMAX;
  o->dims = to.dims;
  /* the configuration measured best (docs/QUALITY.md): an MLP with dropout on its input and
   * hidden units */
  o->hidden = 1024;
  o->dropout = o->input_dropout = 0.5f;
  o->epochs = to.epochs;
  o->batch = to.batch;
  o->lr = to.lr;
  o->weight_decay = to.weight_decay;
  o->scale = to.scale;
  o->margin = to.margin;
  o->prescale = -1;
  o->views = 0; /* on real phone photos views did not help: docs/QUALITY.md "Street photos" */
  o->threads = 2;
  o->holdout_mod = 5;
  o->eval_sample = 3000;
}

/* One tune's state, handed from phase to phase. */
typedef struct tune_run {
  const lk_tune_opts *o;
  lk_tune_stats *st;
  lk_errbuf *err;
  double t0, t_train;
  lk_tune_set *s;
  lk_train_data d;       /* the training rows: the set's, then any views */
  uint8_t *use;          /* d.use */
  float *xall;           /* d.x and d.y when views were added */
  int32_t *yall;
  long views_total;      /* the views' progress total */
  lk_projection *proj;   /* trained; moved into tuned */
  lk_recipe tuned;
} tune_run;

static void say(const tune_run *r, const char *phase, double done, double total) {
  if (r->o->progress) r->o->progress(r->o->ctx, phase, done, total);
}

static int stopped(const tune_run *r) { return r->o->stop && *r->o->stop; }

static int check_opts(const lk_tune_opts *o, lk_errbuf *err) {
  if (!o->db) return lk_err_set(err, LK_EINVAL, "--db is required");
  if (!o->out && !o->recipe_out) return lk_err_set(err, LK_EINVAL, "--out (a tuned catalog) or --recipe-out is required");
  if (o->nlabels < 1 || o->nlabels > LK_TUNE_LABELS) return lk_err_set(err, LK_EINVAL, "--labels: 1 to 4 fields");
  if (o->dims < 1 || o->dims > LK_PROJ_MAX_DIM) return lk_err_set(err, LK_EINVAL, "--dims must be 1..8192");
  if (o->hidden < 0 || o->hidden > LK_PROJ_MAX_DIM) return lk_err_set(err, LK_EINVAL, "--hidden must be 0..8192");
  if (!(o->dropout >= 0 && o->dropout < 1) || !(o->input_dropout >= 0 && o->input_dropout < 1))
    return lk_err_set(err, LK_EINVAL, "--dropout and --input-dropout must be in [0, 1)");
  if (o->method != LK_TUNE_SOFTMAX && o->method != LK_TUNE_PCA) return lk_err_set(err, LK_EINVAL, "--method is softmax or pca");
  if (o->epochs < 1 || o->batch < 2 || o->views < 0 || o->views > 64 || o->threads < 1 || o->holdout_mod < 0 ||
      o->eval_sample < 0 || o->nprior_report < 0 || o->nprior_report > LK_TUNE_PRIOR_REPORT)
    return lk_err_set(err, LK_EINVAL, "tune: an option is out of range (epochs, batch, views, threads, "
                      "holdout-mod, eval-sample or prior-report)");
  return 0;
}

/* Loads the source catalog's vectors and labels; the training rows are the training split's. */
static int load_set(tune_run *r) {
  const lk_tune_opts *o = r->o;
  lk_tune_stats *st = r->st;
  int rc = lk_tune_load(o->db, o->labels, o->nlabels, o->holdout_mod, &r->s, r->err);
  if (rc) return rc;
  const lk_tune_set *s = r->s;
  if (o->keep_color > 0 && (s->recipe.color_bins * s->recipe.color_bins * s->recipe.color_bins <= 0 ||
                            s->recipe.color_weight <= 0))
    return lk_err_set(r->err, LK_EINVAL, "--keep-color: the catalog's recipe has no colour part");
  st->n = s->n;
  st->dim = s->dim;
  snprintf(st->recipe, sizeof st->recipe, "%s", s->recipe.name);
  for (long i = 0; i < s->n; i++) st->ntest += s->test[i];
  st->nlabels = o->nlabels;
  for (int f = 0; f < o->nlabels; f++) {
    st->label[f] = lk_catalog_fields[s->field[f]];
    st->nclass[f] = s->nclass[f];
  }
  if (!(r->use = malloc((size_t)s->n + 1))) return lk_err_set(r->err, LK_ENOMEM, "out of memory");
  for (long i = 0; i < s->n; i++) r->use[i] = !s->test[i] || o->holdout_mod == 0;
  r->d = (lk_train_data){.n = s->n, .dim = s->dim, .x = s->x, .nheads = o->nlabels, .y = s->y, .use = r->use};
  st->load_seconds = lk_clock_now() - r->t0;
  say(r, "load", 1, 1);
  return 0;
}

static int views_progress(void *ctx, long done, long total) {
  tune_run *r = ctx;
  r->views_total = total;
  if (done < total) say(r, "views", (double)done, (double)total); /* the last call once they are ready */
  return stopped(r);
}

/* The training rows followed by the views (xv, nv rows from set rows src) into r->d. */
static int append_views(tune_run *r, const float *xv, const long *src, long nv) {
  const lk_tune_set *s = r->s;
  int nl = r->o->nlabels;
  size_t nall = 0, xn = 0;
  if (lk_size_mul((size_t)(s->n + nv), (size_t)s->dim, &xn) || lk_size_mul((size_t)(s->n + nv), (size_t)nl, &nall))
    return lk_err_set(r->err, LK_ETOOBIG, "too many rows");
  r->xall = malloc(sizeof(float) * xn);
  r->yall = malloc(sizeof(int32_t) * nall);
  uint8_t *u2 = realloc(r->use, (size_t)(s->n + nv));
  if (u2) r->use = u2;
  if (!r->xall || !r->yall || !u2) return lk_err_set(r->err, LK_ENOMEM, "out of memory");
  memcpy(r->xall, s->x, sizeof(float) * (size_t)s->n * s->dim);
  memcpy(r->xall + (size_t)s->n * s->dim, xv, sizeof(float) * (size_t)nv * s->dim);
  memcpy(r->yall, s->y, sizeof(int32_t) * (size_t)s->n * nl);
  for (long v = 0; v < nv; v++) {
    memcpy(r->yall + (size_t)(s->n + v) * nl, s->y + (size_t)src[v] * nl, sizeof(int32_t) * nl);
    r->use[s->n + v] = 1;
  }
  r->d.n = s->n + nv;
  r->d.x = r->xall;
  r->d.y = r->yall;
  r->d.use = r->use;
  return 0;
}

/* Street-like views of the training photos, learnt beside the photos (opts.views > 0). */
static int add_views(tune_run *r) {
  const lk_tune_opts *o = r->o;
  float *xv = NULL;
  long *src = NULL, nv = 0, skipped = 0;
  double tv = lk_clock_now();
  int rc = lk_tune_embed_views(r->s, r->use, o->views, o->threads, o->models_dir, o->seed, views_progress, r, &xv,
                               &src, &nv, &skipped, r->err);
  if (rc == LK_EINTR) lk_err_set(r->err, rc, "interrupted while making street-like views: nothing written");
  if (!rc) rc = append_views(r, xv, src, nv);
  free(xv);
  free(src);
  if (rc) return rc;
  r->st->views = nv;
  r->st->views_photos = nv / o->views + skipped;
  r->st->views_skipped = skipped;
  r->st->views_seconds = lk_clock_now() - tv;
  say(r, "views", (double)r->views_total, (double)r->views_total);
  return 0;
}

static int on_epoch(void *ctx, int epoch, int epochs, double loss) {
  tune_run *r = ctx;
  r->st->epoch = epoch;
  r->st->epochs = epochs;
  r->st->loss = loss;
  r->st->epoch_seconds = lk_clock_now() - r->t_train;
  if (epoch < epochs) say(r, "train", epoch, epochs); /* the last once training is over */
  return stopped(r);
}

/* Trains the projection (r->proj) on r->d. */
static int train(tune_run *r) {
  const lk_tune_opts *o = r->o;
  const lk_tune_set *s = r->s;
  lk_train_opts to;
  lk_train_opts_default(&to);
  to.method = o->method == LK_TUNE_PCA ? LK_TRAIN_PCA : LK_TRAIN_SOFTMAX;
  to.dims = o->dims;
  to.hidden = o->hidden;
  to.epochs = o->epochs;
  to.batch = o->batch;
  to.lr = o->lr;
  to.weight_decay = o->weight_decay;
  to.scale = o->scale;
  to.margin = o->margin;
  to.dropout = o->dropout;
  to.input_dropout = o->input_dropout;
  to.seed = o->seed;
  for (int f = 0; f < o->nlabels; f++) {
    to.head_weight[f] = o->weights[f];
    to.prior[f] = o->prior[f];
    r->d.nclass[f] = s->nclass[f] > 0 ? s->nclass[f] : 1;
    if (s->nclass[f] > 0) { /* keep the heads: the label prior (search/prior.h) needs them */
      r->d.head_field[f] = lk_catalog_fields[s->field[f]];
      r->d.class_name[f] = s->cname[f];
    }
  }
  to.progress = on_epoch;
  to.ctx = r;
  r->t_train = lk_clock_now();
  double loss = 0;
  int rc = lk_train_fit(&r->d, &to, &r->proj, &loss, r->err);
  if (!rc && stopped(r)) rc = lk_err_set(r->err, LK_EINTR, "interrupted while training: nothing written");
  if (rc) return rc;
  r->st->train_seconds = lk_clock_now() - r->t_train;
  if (o->keep_color > 0) {
    r->proj->tail = s->recipe.color_bins * s->recipe.color_bins * s->recipe.color_bins;
    r->proj->tail_weight = o->keep_color;
  }
  say(r, "train", r->st->epoch > 0 ? r->st->epoch : 1, r->st->epoch > 0 ? r->st->epochs : 1);
  return 0;
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
  pick *p = malloc(sizeof *p * (size_t)(s->n > 0 ? s->n : 1));
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

/* P@10 of the n rows of split t with the label prior of weight w (the gallery's labels, the
 * query's predicted classes; ranked exactly as a search ranks: lk_prior_score) into p. */
static int precision_prior(tune_run *r, const float *px, const long *rows, long n, float w, double *p) {
  const lk_tune_set *s = r->s;
  int od = lk_projection_out(r->proj), wide = 0;
  float *gx = NULL, *qx = NULL;
  lk_prior *pr = NULL;
  int rc = prior_rows(s, r->proj, px, od, w, &gx, &qx, &wide, &pr, r->err);
  prior_ctx pc = {pr, od};
  if (!rc)
    rc = lk_train_knn_precision_fn(gx, qx, wide, rows, n, s->y, s->nlabels, s->dup, 10, prior_score, &pc, p, r->err);
  lk_prior_free(pr);
  free(gx);
  free(qx);
  return rc;
}

/* Leave-one-out P@10 per label on both splits, raw and projected (and with each prior weight
 * measured): the over-fitting report. */
static int evaluate(tune_run *r) {
  const lk_tune_opts *o = r->o;
  const lk_tune_set *s = r->s;
  lk_tune_stats *st = r->st;
  long sample = o->eval_sample;
  long *rows = malloc(sizeof *rows * (size_t)(sample < s->n ? sample : s->n + 1)); /* pick_rows takes <= s->n */
  int od = lk_projection_out(r->proj);
  float *px = malloc(sizeof(float) * (size_t)s->n * od);
  int rc = rows && px ? lk_projection_apply(r->proj, s->x, s->n, px, r->err) : lk_err_set(r->err, LK_ENOMEM, "out of memory");
  st->nprior = o->nprior_report;
  memcpy(st->prior_weight, o->prior_report, sizeof(float) * (size_t)o->nprior_report);
  if (st->nprior == 0 && o->prior[0] > 0) st->prior_weight[st->nprior++] = -1; /* as stored */
  if (r->proj->nheads != s->nlabels) st->nprior = 0;
  for (int t = 0; t < 2 && !rc; t++) {
    long n = pick_rows(s, t, sample, rows);
    if (n < 0) { rc = lk_err_set(r->err, LK_ENOMEM, "out of memory"); break; }
    st->eval_rows[t] = n;
    for (int v = 0; v < 2 && !rc && n >= 2; v++)
      rc = lk_train_knn_precision(v ? px : s->x, v ? od : s->dim, rows, n, s->y, s->nlabels, s->dup, 10, st->p10[t][v],
                                  r->err);
    for (int w = 0; w < st->nprior && !rc && n >= 2; w++)
      rc = precision_prior(r, px, rows, n, st->prior_weight[w], st->p10_prior[t][w]);
    if (!rc) say(r, "evaluate", t + 1, 2);
  }
  free(rows);
  free(px);
  return rc;
}

/* The tuned recipe: the source's, plus the projection (and prescale, name); written as JSON to
 * opts.recipe_out when asked. */
static int make_recipe(tune_run *r) {
  const lk_tune_opts *o = r->o;
  lk_tune_stats *st = r->st;
  int rc = lk_recipe_copy(&r->tuned, &r->s->recipe);
  if (rc) return lk_err_set(r->err, rc, "out of memory");
  lk_recipe_set_projection(&r->tuned, r->proj);
  r->proj = NULL;
  if (o->prescale >= 0) r->tuned.prescale = o->prescale;
  if (o->name) snprintf(r->tuned.name, sizeof r->tuned.name, "%s", o->name);
  else {
    char nm[sizeof r->tuned.name];
    snprintf(nm, sizeof nm, "%.50s+tuned", r->s->recipe.name);
    memcpy(r->tuned.name, nm, sizeof nm);
  }
  lk_recipe_id(&r->tuned, st->recipe_id);
  snprintf(st->name, sizeof st->name, "%s", r->tuned.name);
  st->out_dim = lk_projection_out(r->tuned.proj);
  if (!o->recipe_out) return 0;
  char *js = lk_recipe_to_json(&r->tuned);
  FILE *f = js ? fopen(o->recipe_out, "w") : NULL;
  int ok = f && fputs(js, f) >= 0 && fputc('\n', f) != EOF;
  if (f && fclose(f)) ok = 0;
  free(js);
  if (!ok) return lk_err_set(r->err, LK_EIO, "cannot write %s", o->recipe_out);
  say(r, "recipe", 1, 1);
  return 0;
}

/* The tuned catalog at opts.out, then its match strength calibrated (the tuned recipe's scores
 * are new); a calibration that fails is reported in the stats, not as the run's error. */
static int write_catalog(tune_run *r) {
  const lk_tune_opts *o = r->o;
  lk_tune_stats *st = r->st;
  double tw = lk_clock_now();
  int rc = lk_tune_write(o->db, o->out, &r->tuned, r->err);
  if (rc) return rc;
  st->write_seconds = lk_clock_now() - tw;
  say(r, "write", 1, 1);
  lk_calibration cal;
  lk_errbuf cb = {0};
  if (lk_calibration_update(o->out, o->models_dir, LK_BACKEND_DNNL, NULL, &cal, &st->cal_seconds, &cb) == 0) {
    st->calibrated = 1;
    st->cal_pairs_product = cal.pairs_product;
    st->cal_pairs_kind = cal.pairs_kind;
    st->cal_pairs_other = cal.pairs_other;
    st->cal_weak_score = lk_calibration_weak_score(&cal);
  } else {
    snprintf(st->cal_error, sizeof st->cal_error, "%s", lk_err_msg(&cb));
  }
  say(r, "calibrate", 1, 1);
  return 0;
}

static int run_phases(tune_run *r) {
  const lk_tune_opts *o = r->o;
  int rc;
  if ((rc = load_set(r))) return rc;
  if (o->views > 0 && (rc = add_views(r))) return rc;
  if ((rc = train(r))) return rc;
  if (o->eval_sample > 0 && (rc = evaluate(r))) return rc;
  if ((rc = make_recipe(r))) return rc;
  if (stopped(r)) return lk_err_set(r->err, LK_EINTR, "interrupted: the tuned catalog was not written");
  return o->out ? write_catalog(r) : 0;
}

int lk_tune_run(const lk_tune_opts *o, lk_tune_stats *st, lk_errbuf *err) {
  memset(st, 0, sizeof *st);
  int rc = check_opts(o, err);
  if (rc) return rc;
  tune_run r = {.o = o, .st = st, .err = err, .t0 = lk_clock_now()};
  rc = run_phases(&r);
  st->seconds = lk_clock_now() - r.t0;
  free(r.use);
  free(r.xall);
  free(r.yall);
  lk_projection_free(r.proj);
  lk_recipe_clear(&r.tuned);
  lk_tune_set_free(r.s);
  return rc;
}
