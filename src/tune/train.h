/* tune/train.h — the optimiser behind `lookalike tune`: learns a projection (embed/recipe.h
 * lk_projection) of frozen, unit-norm embeddings from label fields, on the CPU, with oneDNN's
 * sgemm for the matrix work. Methods: a normalised-softmax (cosine) classifier with one head
 * per label field on the projected, L2-normalised vector (AdamW, cosine learning-rate decay),
 * and PCA-whitening (label-free) as the simple baseline. Deterministic for a seed. */
#ifndef LK_TUNE_TRAIN_H
#define LK_TUNE_TRAIN_H

#include <stdint.h>

#include "embed/recipe.h"
#include "util/err.h"

#define LK_TRAIN_MAX_HEADS 4

enum lk_train_method { LK_TRAIN_SOFTMAX = 0, LK_TRAIN_PCA = 1 };

typedef struct lk_train_data {
  long n;               /* rows */
  int dim;              /* floats per row */
  const float *x;       /* n * dim, rows L2-normalised */
  int nheads;           /* label fields (softmax method) */
  const int32_t *y;     /* n * nheads class indices in 0..nclass[h)-1, or -1 = no label */
  int nclass[LK_TRAIN_MAX_HEADS];
  const uint8_t *use;   /* n flags: 1 = a training row; NULL = every row */
  /* Optional: each head's field and class names. When given, the softmax method keeps the
   * trained class vectors in the projection (lk_projection_head) for the label prior. */
  const char *head_field[LK_TRAIN_MAX_HEADS];
  char *const *class_name[LK_TRAIN_MAX_HEADS];
} lk_train_data;

typedef struct lk_train_opts {
  int method;           /* enum lk_train_method (default SOFTMAX) */
  int dims;             /* output width (default 256) */
  int hidden;           /* 0 = a linear map (default); else one ReLU hidden layer this wide */
  int epochs;           /* passes over the training rows (default 20) */
  int batch;            /* rows per step (default 256) */
  float lr;             /* AdamW peak step (default 2e-3), cosine-decayed to 0 */
  float weight_decay;   /* decoupled, on the projection's weights (default 1e-4) */
  float scale;          /* logit scale of the cosine classifier (default 16) */
  float margin;         /* additive cosine margin on the true class (default 0.1) */
  float head_weight[LK_TRAIN_MAX_HEADS]; /* loss weight per head (default 1) */
  float dropout;        /* drop rate of the hidden units while training (default 0) */
  float input_dropout;  /* drop rate of the input values while training (default 0) */
  float pca_eps;        /* PCA-whitening: added to eigenvalues, relative to the mean (0.1) */
  float prior[LK_TRAIN_MAX_HEADS]; /* label-prior weight stored with each kept head (default 0) */
  uint64_t seed;        /* initial weights and batch order */
  /* Called after each epoch (may be NULL); a non-zero return stops training early. */
  int (*progress)(void *ctx, int epoch, int epochs, double loss);
  void *ctx;
} lk_train_opts;

void lk_train_opts_default(lk_train_opts *o);

/* Learns a projection from d (rows with use[i] only). *out: lk_projection_free. The input
 * centring and scaling are folded into the first layer, so the projection applies to raw rows.
 * loss (may be NULL) gets the last epoch's mean loss (softmax) or 0 (PCA). */
int lk_train_fit(const lk_train_data *d, const lk_train_opts *o, lk_projection **out, double *loss,
                 lk_errbuf *err);

/* Leave-one-out retrieval among a subset, as `lookalike eval` measures it: each of the rows
 * (indices into x) queries the others by cosine (x rows unit-norm); itself and rows of its
 * duplicate group (dup[i] >= 0 shared; NULL = none) are skipped. p_at_k[h] gets the mean
 * precision@k for label head h over queries with a label and >= 1 relevant row. */
int lk_train_knn_precision(const float *x, int dim, const long *rows, long nrows, const int32_t *y,
                           int nheads, const int32_t *dup, int k, double *p_at_k, lk_errbuf *err);
/* The same with queries taken from qx (same rows and width as x) and the gallery from x: for
 * scores that are not symmetric (the label prior: gallery rows carry their labels, queries
 * their predicted class probabilities). */
int lk_train_knn_precision_q(const float *x, const float *qx, int dim, const long *rows, long nrows,
                             const int32_t *y, int nheads, const int32_t *dup, int k, double *p_at_k,
                             lk_errbuf *err);
/* The same ranked by score(ctx, query row, gallery row) instead of the dot product (e.g.
 * lk_prior_score): every pair is scored, so keep nrows to a few thousand. */
typedef float (*lk_train_score_fn)(const void *ctx, const float *qrow, const float *grow);
int lk_train_knn_precision_fn(const float *x, const float *qx, int dim, const long *rows, long nrows,
                              const int32_t *y, int nheads, const int32_t *dup, int k, lk_train_score_fn score,
                              const void *ctx, double *p_at_k, lk_errbuf *err);

#endif
