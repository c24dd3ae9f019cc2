/* nn/qconv.h — int8 convolution kernels on AVX-512 VNNI for the INT8 compute mode
 * (nn/fastgraph.c runs them where the shapes fit, oneDNN elsewhere): the depthwise 3x3 and the
 * 1x1 with few input channels, MobileNetV2's slowest layers under oneDNN 2.6, and the first
 * 3x3 stride-2 conv from the 3 input channels. u8 NHWC out;
 * their arithmetic is oneDNN's int8 convolution's, so the outputs are the same bytes:
 *   y = saturate_u8(round_nearest_even(clip(((float)acc + bias[c]) * scale[c], lo, hi)))
 * with acc the exact int32 sum of the products and padding read as 0. */
#ifndef LK_NN_QCONV_H
#define LK_NN_QCONV_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* 1 when this CPU runs the kernels (AVX-512 F, BW and VNNI), else 0. */
int lk_qconv_available(void);

/* Depthwise 3x3: u8 in, stride 1 with padding 1 on every side or stride 2 with TFLite's SAME
 * padding (0 top/left, 1 bottom/right). */
typedef struct lk_qconv_dw lk_qconv_dw; /* immutable once made: may run on many threads at once */

typedef struct lk_qconv_dw_params {
  int n, h, w, c;        /* input NHWC; c a multiple of 16 */
  int stride;            /* 1 (pads 1,1,1,1) or 2 (pads top/left 0, bottom/right 1) */
  const int8_t *weights; /* c * 9: [c][ky][kx] */
  const float *bias;     /* c: added to the accumulator in float */
  const float *scale;    /* c: multiplies (acc + bias) */
  float lo, hi;          /* the activation's clip (ReLU6: 0 and 6 / output scale; none:
                          * -inf, inf), applied before the saturation to [0, 255] */
} lk_qconv_dw_params;

/* Copies what it needs from p (the caller keeps its arrays); LK_EUNSUPPORTED for shapes it
 * does not take (c not a multiple of 16, another stride) or a CPU without VNNI. */
int lk_qconv_dw_new(const lk_qconv_dw_params *p, lk_qconv_dw **out, lk_errbuf *err);
void lk_qconv_dw_free(lk_qconv_dw *k); /* NULL-safe */
/* Output height and width of k. */
void lk_qconv_dw_out_dims(const lk_qconv_dw *k, int *oh, int *ow);
/* src: n*h*w*c bytes NHWC; dst: n*oh*ow*c bytes NHWC; they must not overlap. */
void lk_qconv_dw_run(const lk_qconv_dw *k, const uint8_t *src, uint8_t *dst);

/* 1x1 with at most 64 input channels: s8 or u8 in. */
typedef struct lk_qconv_pw lk_qconv_pw; /* immutable once made: may run on many threads at once */

typedef struct lk_qconv_pw_params {
  size_t pixels;         /* n * h * w */
  int ic, oc;            /* ic a multiple of 4, at most 64; oc a multiple of 16 */
  int src_signed;        /* 1: s8 input, 0: u8 */
  const int8_t *weights; /* oc * ic: [oc][ic] */
  const float *bias;     /* oc: added to the accumulator in float */
  const float *scale;    /* oc: multiplies (acc + bias) */
  float lo, hi;          /* the activation's clip, as the depthwise one's (lo <= 0 <= hi) */
} lk_qconv_pw_params;

/* Copies what it needs from p; LK_EUNSUPPORTED for shapes it does not take or a CPU without
 * AVX-512 VNNI (the caller then keeps oneDNN's). */
int lk_qconv_pw_new(const lk_qconv_pw_params *p, lk_qconv_pw **out, lk_errbuf *err);
void lk_qconv_pw_free(lk_qconv_pw *k); /* NULL-safe */
/* src: pixels * ic bytes (s8 or u8); dst: pixels * oc bytes; they must not overlap. */
void lk_qconv_pw_run(const lk_qconv_pw *k, const void *src, uint8_t *dst);

/* A network's first layer: 3x3 stride 2 from 3 s8 channels to 32 u8 ones, TFLite's SAME
 * padding (0 top/left, 1 bottom/right; padding reads as 0), h and w even. */
typedef struct lk_qconv_stem lk_qconv_stem; /* immutable once made: may run on many threads */

typedef struct lk_qconv_stem_params {
  int n, h, w;           /* input NHWC, 3 channels, s8; h and w even */
  int oc;                /* 32 */
  const int8_t *weights; /* oc * 27: [oc][ky][kx][ic] */
  const float *bias;     /* oc: added to the accumulator in float */
  const float *scale;    /* oc: multiplies (acc + bias) */
  float lo, hi;          /* the activation's clip, as the depthwise one's (lo <= 0 <= hi) */
} lk_qconv_stem_params;

/* Copies what it needs from p; LK_EUNSUPPORTED for other shapes or a CPU without AVX-512
 * VNNI and VBMI. */
int lk_qconv_stem_new(const lk_qconv_stem_params *p, lk_qconv_stem **out, lk_errbuf *err);
void lk_qconv_stem_free(lk_qconv_stem *k); /* NULL-safe */
/* src: n*h*w*3 bytes (s8); dst: n*(h/2)*(w/2)*oc bytes; they must not overlap. */
void lk_qconv_stem_run(const lk_qconv_stem *k, const int8_t *src, uint8_t *dst);

/* dst[i] = table[src[i]] for i < n: the INT8 graph's input table (pixel value to its s8
 * code), 64 bytes an instruction group with AVX-512 VBMI, else one at a time. */
void lk_qconv_table(const int8_t table[256], const uint8_t *src, int8_t *dst, size_t n);

#endif
