/* nn/dw3.h — the int8 depthwise 3x3 convolution of the INT8 compute mode (nn/fastgraph.c),
 * written for AVX-512 VNNI: u8 NHWC in, s8 weights, u8 NHWC out, stride 1 with padding 1 on
 * every side or stride 2 with TFLite's SAME padding (0 top/left, 1 bottom/right). Its
 * arithmetic is oneDNN's jit_int8 depthwise kernel's, so the outputs are the same bytes:
 *   y = saturate_u8(round_nearest_even(clip(((float)acc + bias[c]) * scale[c], lo, hi)))
 * with acc the exact int32 sum of the nine products and padding read as 0. */
#ifndef LK_NN_DW3_H
#define LK_NN_DW3_H

#include <stdint.h>

#include "util/err.h"

typedef struct lk_dw3 lk_dw3; /* immutable once made: one may run on many threads at once */

typedef struct lk_dw3_params {
  int n, h, w, c;           /* input NHWC; c a multiple of 16 */
  int stride;               /* 1 (pads 1,1,1,1) or 2 (pads top/left 0, bottom/right 1) */
  const int8_t *weights;    /* c * 9: [c][ky][kx] */
  const float *bias;        /* c: added to the accumulator in float */
  const float *scale;       /* c: multiplies (acc + bias) */
  float lo, hi;             /* the activation's clip (ReLU6: 0 and 6 / output scale; none:
                             * -inf, inf), applied before the saturation to [0, 255] */
} lk_dw3_params;

/* 1 when this CPU runs the kernel (AVX-512 F, BW and VNNI), else 0. */
int lk_dw3_available(void);
/* Copies what it needs from p (the caller keeps its arrays); LK_EUNSUPPORTED for shapes it
 * does not take (c not a multiple of 16, another stride) or a CPU without VNNI. */
int lk_dw3_new(const lk_dw3_params *p, lk_dw3 **out, lk_errbuf *err);
void lk_dw3_free(lk_dw3 *k); /* NULL-safe */
/* Output height and width of k. */
void lk_dw3_out_dims(const lk_dw3 *k, int *oh, int *ow);
/* src: n*h*w*c bytes NHWC; dst: n*oh*ow*c bytes NHWC; they must not overlap. */
void lk_dw3_run(const lk_dw3 *k, const uint8_t *src, uint8_t *dst);

#endif
