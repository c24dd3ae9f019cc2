/* nn/ops_ref.h — the reference kernels: plain C on float32 NHWC with TensorFlow Lite's
 * semantics (padding, pooling counts, resize sampling), plus exact emulations of the
 * runtime's integer rounding for quantised models. Used by LK_BACKEND_REF, by every op the
 * oneDNN backend does not cover, and by tests as the yardstick. Shapes are trusted (they
 * were validated at load, nn/model.c), so none of these can fail. */
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

/* ---- Exact emulation of TFLite 2.9's integer arithmetic (quantize_activations) ---- */

/* TFLite's requantisation of an integer conv, emulated on the float result. The runtime
 * adds the int32 bias to the int32 accumulator, multiplies by a 31-bit fixed-point
 * multiplier and shifts right, rounding twice: to an integer after the multiply (the
 * doubling high multiply) and again in the rounding right shift, both ties upwards (as its
 * x86 GEMM kernels do; measured against TFLite 2.9). With small shifts the first rounding
 * moves many values across a half step (12% of one MobileNetV2 layer's outputs), and a
 * value off by one step early grows to many steps later, so this is done exactly: the float
 * result is snapped to the accumulator's integer grid first (exact while float error stays
 * below half a unit, which holds for these networks), then rounded in double precision.
 * The fused activation is TFLite's clamp on the integer: qmin/qmax already include it. */
typedef struct lk_requant {
  int channels;           /* innermost axis length; the arrays have one entry per channel */
  const double *inv_unit; /* 1 / (input scale * weight scale): accumulator units per real */
  const double *mult;     /* fixed-point multiplier as a real number, left shift included */
  const double *inv_pow2; /* 2^-right_shift */
  float scale;            /* output scale */
  int zero_point, qmin, qmax;
} lk_requant;
/* TFLite's QuantizeMultiplier: real = mult * 2^-right_shift with mult = q/2^31 (times a left
 * shift for real >= 1), q a 31-bit integer. */
void lk_ref_quantize_multiplier(double real, double *mult, int *right_shift);
/* y holds real values (accumulator times input*weight scale, bias included, no activation);
 * they are replaced by the dequantised integers TFLite would output. */
void lk_ref_requant(float *y, size_t count, const lk_requant *r);

/* The other integer kernels. Activations are floats on their grids
 * (x = scale * (q - zero_point)); these recover q exactly, apply the runtime's integer
 * arithmetic and store the result back as a float on the output grid. */
typedef struct lk_qgrid {
  float scale;
  int zero_point;
} lk_qgrid;
typedef struct lk_qout {
  float scale;
  int zero_point, qmin, qmax; /* the clamp, fused activation included */
} lk_qout;
/* ADD (add.cc): both inputs rescaled to 2^20 units of twice the larger input scale, summed,
 * requantised; out may alias a or b. */
void lk_ref_add_q(const float *a, lk_qgrid qa, const float *b, lk_qgrid qb, size_t count,
                  const lk_qout *qo, float *out);
/* AVERAGE_POOL_2D: the sum of the raw integers divided by the cell count, ties away from
 * zero (input and output share one grid, as the runtime requires). */
void lk_ref_avg_pool_q(const lk_pool_params *p, const float *in, const lk_qout *qo, float *out);
/* MEAN (reference_integer_ops::Mean): sum of (q - zero_point) times the input/output scale
 * ratio as a fixed-point multiplier, then divided by the count, ties away from zero. */
void lk_ref_mean_q(const float *in, lk_qgrid qi, const int *dims, int ndims, int reduce_mask,
                   const lk_qout *qo, float *out);

#endif
