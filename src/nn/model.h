/* nn/model.h — the inference engine's public face: load a TensorFlow Lite model, run it on
 * batches of images, and pool any named tensor ("tap") into an embedding.
 *
 * By default (LK_COMPUTE_EXACT) computation is float32 with weights dequantised at load, and
 * with quantize_activations on every activation that carries uint8/int8 quantisation
 * parameters is rounded to its grid exactly as the official runtime's integer arithmetic
 * does (golden test: every tapped value identical). Two backends: LK_BACKEND_REF (plain C,
 * NHWC, the reference) and LK_BACKEND_DNNL (oneDNN primitives). Faster, not bit-exact modes:
 * LK_COMPUTE_FP32 and LK_COMPUTE_INT8 (below). */
#ifndef LK_NN_MODEL_H
#define LK_NN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct lk_model lk_model;     /* immutable after load; shareable between threads */
typedef struct lk_session lk_session; /* per-thread scratch + plan; not thread-safe */

enum lk_backend { LK_BACKEND_REF = 0, LK_BACKEND_DNNL = 1 };
enum lk_pool { LK_POOL_AVG = 0, LK_POOL_MAX = 1, LK_POOL_GEM = 2 };
/* How a session computes (lk_session_opts.compute). Measured on the 2-core AVX-512 VM, one
 * thread, MobileNetV2 uint8 to Logits/AvgPool, ms/photo (batch 1 / 8): EXACT 4.8 / 5.3,
 * FP32 3.2 / 3.6, INT8 1.45 / 1.45; P@10 on the 3,000-photo sample equal within 0.002.
 *  LK_COMPUTE_EXACT  float NHWC; with quantize_activations (default) every uint8/int8
 *                    activation is rounded as TFLite 2.9's integer kernels do (bit-identical
 *                    taps on the golden fixtures); without, plain float. Any op, both backends.
 *  LK_COMPUTE_FP32   plain float (quantize_activations ignored) as one chain of oneDNN
 *                    primitives in the layouts they choose, bias+ReLU6 and residual ADDs
 *                    fused, batches run in slices of <= 4 images (nn/fastgraph.h). Same
 *                    function as EXACT without quantize_activations (cosine >= 0.9999).
 *  LK_COMPUTE_INT8   the same chain in int8 (VNNI): u8/s8 activations with one scale per
 *                    tensor from the model's ranges, s8 weights per output channel (the
 *                    model's own grid where it fits). Cosine vs the runtime >= 0.987. On
 *                    one thread the depthwise 3x3 and small 1x1 layers run lookalike's own
 *                    VNNI kernels (nn/qconv.h: the same bytes, 2.7 -> 2.0 ms a photo).
 *  FP32 and INT8 need LK_BACKEND_DNNL and run CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE/MAX
 *  POOL, MEAN over H,W, RESHAPE, SOFTMAX, (DE)QUANTIZE; other graphs get LK_EUNSUPPORTED at
 *  lk_session_new. Only the taps are readable with lk_session_tensor; keep_all is refused. */
enum lk_compute { LK_COMPUTE_EXACT = 0, LK_COMPUTE_FP32 = 1, LK_COMPUTE_INT8 = 2 };

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
  int compute;              /* enum lk_compute; LK_COMPUTE_EXACT (0) by default. FP32/INT8
                             * need LK_BACKEND_DNNL (else LK_EINVAL); a graph they cannot run
                             * is LK_EUNSUPPORTED */
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
