/* nn/model.h — the inference engine's public face: load a TensorFlow Lite model, run it on
 * batches of images, and pool any named tensor ("tap") into an embedding.
 *
 * Computation is float32 with weights dequantised at load. With quantize_activations on
 * (the default) every activation that carries uint8/int8 quantisation parameters in the model
 * is rounded to its quantisation grid, which reproduces the official runtime's integer
 * arithmetic closely (golden test: cosine >= 0.999). Two backends: LK_BACKEND_REF (plain C,
 * NHWC, the reference) and LK_BACKEND_DNNL (oneDNN primitives). */
#ifndef LK_NN_MODEL_H
#define LK_NN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct lk_model lk_model;     /* immutable after load; shareable between threads */
typedef struct lk_session lk_session; /* per-thread scratch + plan; not thread-safe */

enum lk_backend { LK_BACKEND_REF = 0, LK_BACKEND_DNNL = 1 };
enum lk_pool { LK_POOL_AVG = 0, LK_POOL_MAX = 1, LK_POOL_GEM = 2 };

typedef struct lk_tap {
  const char *tensor; /* tensor name in the model, e.g. "MobilenetV2/Logits/AvgPool" */
  int pool;           /* enum lk_pool: global pooling over H and W (no-op if already 1x1) */
  float gem_p;        /* exponent for LK_POOL_GEM (e.g. 3); values clamped at >= 0 first */
} lk_tap;

/* Loads and validates a .tflite file (bounds-checked flatbuffer reader, nn/tflite.c).
 * Unknown ops are named in the error (LK_EUNSUPPORTED). *out owned by caller: lk_model_free. */
int lk_model_load(const char *path, lk_model **out, lk_errbuf *err);
/* Same, from memory (copied as needed; buf may be freed after return). */
int lk_model_load_buffer(const uint8_t *buf, size_t len, lk_model **out, lk_errbuf *err);
void lk_model_free(lk_model *m); /* NULL-safe */

/* Input geometry: the model's single image input (N,H,W,3). */
int lk_model_input_hw(const lk_model *m, int *h, int *w);
/* Number of tensors, and the name/shape of tensor i (for `lookalike model --tensors`). */
int lk_model_tensor_count(const lk_model *m);
const char *lk_model_tensor_name(const lk_model *m, int i);
int lk_model_tensor_shape(const lk_model *m, int i, int dims[4], int *ndims);
/* Index of the tensor with that name, or LK_ENOTFOUND. */
int lk_model_find_tensor(const lk_model *m, const char *name);
/* Length of the pooled vector for a tap (channels of the tensor), or a negative code. */
int lk_model_tap_dim(const lk_model *m, const lk_tap *tap);

typedef struct lk_session_opts {
  int backend;              /* enum lk_backend */
  int max_batch;            /* largest n passed to lk_session_run (>= 1) */
  int quantize_activations; /* 1 (default in lk_session_opts_default) or 0 */
  int threads;              /* 0 = backend default */
} lk_session_opts;
void lk_session_opts_default(lk_session_opts *o);

/* Plans execution of the ops needed for the taps (ops after the last tap are pruned) and
 * allocates all scratch once. The session borrows m (which must outlive it). */
int lk_session_new(const lk_model *m, const lk_tap *taps, int ntaps, const lk_session_opts *o,
                   lk_session **out, lk_errbuf *err);
void lk_session_free(lk_session *s); /* NULL-safe */
/* Total embedding length: sum of the taps' dims. */
int lk_session_dim(const lk_session *s);
/* Runs n images: input is n*H*W*3 uint8 RGB (NHWC, the model's input size), mapped to the
 * model's input domain with the input tensor's quantisation parameters. Writes n rows of
 * lk_session_dim floats (taps concatenated in order, pooled, NOT normalised) to out. */
int lk_session_run(lk_session *s, const uint8_t *input, int n, float *out, lk_errbuf *err);
/* Raw access for tests/golden: copies tensor `tensor` of image `i` of the last run into out
 * (dequantised float, NHWC), up to cap floats; returns the element count or a code. Only
 * tensors that were computed are available; the session must have been created with
 * keep_all set via lk_session_keep_all before the run. */
int lk_session_keep_all(lk_session *s, int on);
int lk_session_tensor(lk_session *s, int tensor, int i, float *out, size_t cap);

#endif
