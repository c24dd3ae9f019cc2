/* nn/ops_ref.h — the reference kernels: plain C, float32, NHWC, written to be obviously
 * correct and to follow TensorFlow Lite's semantics (padding, pooling counts, resize
 * sampling). The session uses them for LK_BACKEND_REF and for every op the oneDNN backend
 * does not cover; tests compare the fast backend against them. Shapes are trusted: they
 * were validated when the model was loaded (nn/model.c), so these functions cannot fail. */
#ifndef LK_NN_OPS_REF_H
#define LK_NN_OPS_REF_H

#include <stddef.h>

#include "nn/dnnl_backend.h" /* lk_conv_params, enum lk_act */

/* Convolution or depthwise convolution exactly as lk_conv_params describes (weights in
 * TFLite layout, zero padding, dilation, bias, fused activation, optional fake quant). */
void lk_ref_conv(const lk_conv_params *p, const float *in, float *out);

typedef struct lk_pool_params {
  int n, ih, iw, c;       /* input NHWC */
  int oh, ow;             /* output */
  int kh, kw, sh, sw;     /* window and strides */
  int pad_t, pad_l;       /* padding before (after is implied by oh, ow) */
  int act;                /* enum lk_act */
} lk_pool_params;

/* Average pooling divides by the number of cells inside the input (padding not counted),
 * as TFLite does. Max pooling takes the largest valid cell. */
void lk_ref_avg_pool(const lk_pool_params *p, const float *in, float *out);
void lk_ref_max_pool(const lk_pool_params *p, const float *in, float *out);

/* out[i] = act(a[i] + b[i]); out may alias a or b. */
void lk_ref_add(const float *a, const float *b, size_t count, int act, float *out);
/* Applies a fused activation in place. */
void lk_ref_activate(float *x, size_t count, int act);
/* Softmax of each of `rows` rows of `len` values: exp(beta*(x-max)) / sum. */
void lk_ref_softmax(const float *in, size_t rows, size_t len, float beta, float *out);
/* Concatenation along an axis: every input is `outer` blocks of inner[i] values; the output
 * block is their concatenation (sum of inner). */
void lk_ref_concat(const float *const *in, const size_t *inner, int nin, size_t outer,
                   float *out);
/* TFLite ResizeBilinear (float reference kernel), including align_corners and
 * half_pixel_centers. */
void lk_ref_resize_bilinear(const float *in, int n, int ih, int iw, int c, int oh, int ow,
                            int align_corners, int half_pixel_centers, float *out);
/* Mean over the axes whose bit is set in reduce_mask; dims/ndims describe the input. The
 * output holds the kept axes in order. */
void lk_ref_mean(const float *in, const int *dims, int ndims, int reduce_mask, float *out);
/* Index of the largest value along the middle axis of an [outer][len][inner] array (first
 * wins on ties), written as a float. */
void lk_ref_arg_max(const float *in, size_t outer, size_t len, size_t inner, float *out);
/* Rounds to a uint8/int8 grid and back: x = (clamp(round(x/s) + zp, qmin, qmax) - zp) * s,
 * ties away from zero (as TFLite's rounding right shift). */
void lk_ref_fake_quant(float *x, size_t count, float scale, int zero_point, int qmin, int qmax);

#endif
