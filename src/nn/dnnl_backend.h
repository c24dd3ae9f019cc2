/* nn/dnnl_backend.h — the fast backend: oneDNN (v2.6, C API) primitives for the heavy ops,
 * created once per session for fixed shapes and run many times. Tensors are float32 NHWC
 * (oneDNN's "nhwc"/acdb tag) in caller-owned buffers; weights are float32 and copied/reordered
 * into oneDNN's preferred layout at creation. The post-op chain implements bias, the fused
 * activation and, optionally, "fake quantisation" of the output to a uint8/int8 grid:
 *   y = clamp(round(y/scale) + zero_point, qmin, qmax); y = (y - zero_point) * scale
 * which is how nn/ reproduces the official TFLite runtime's integer arithmetic in float. */
#ifndef LK_NN_DNNL_BACKEND_H
#define LK_NN_DNNL_BACKEND_H

#include <stddef.h>

#include "util/err.h"

typedef struct lk_dnnl lk_dnnl;           /* engine + stream; one per session/thread */
typedef struct lk_dnnl_conv lk_dnnl_conv; /* one primitive with its weights */

enum lk_act { LK_ACT_NONE = 0, LK_ACT_RELU = 1, LK_ACT_RELU6 = 2 };

typedef struct lk_conv_params {
  int n, ih, iw, ic;          /* input NHWC */
  int oh, ow, oc;             /* output NHWC (caller computes from padding) */
  int kh, kw;                 /* kernel */
  int sh, sw;                 /* strides */
  int dh, dw;                 /* dilation factors (1 = none, TFLite convention) */
  int pad_t, pad_l, pad_b, pad_r;
  int depthwise;              /* 1: groups = ic, oc = ic * multiplier */
  const float *weights;       /* conv: OHWI [oc][kh][kw][ic]; depthwise: [1][kh][kw][oc] (TFLite) */
  const float *bias;          /* oc floats or NULL */
  int act;                    /* enum lk_act */
  int fake_quant;             /* 1: apply the fake quantisation below to the output */
  float q_scale;
  int q_zero_point, q_min, q_max;
} lk_conv_params;

int lk_dnnl_new(int threads, lk_dnnl **out, lk_errbuf *err);
void lk_dnnl_free(lk_dnnl *d); /* NULL-safe */
/* Creates a conv/depthwise primitive for exactly these shapes (weights copied). */
int lk_dnnl_conv_new(lk_dnnl *d, const lk_conv_params *p, lk_dnnl_conv **out, lk_errbuf *err);
void lk_dnnl_conv_free(lk_dnnl_conv *c); /* NULL-safe */
/* in: n*ih*iw*ic floats NHWC; out: n*oh*ow*oc floats NHWC. Runs for batch p->n only. */
int lk_dnnl_conv_run(lk_dnnl_conv *c, const float *in, float *out, lk_errbuf *err);

/* What oneDNN chose for c, for logs and benchmarks; strings owned by c. The implementation
 * name (e.g. "brgconv_1x1:avx512_core", "brdgmm_dw:avx512_core"; "ref..." is the slow
 * fallback) and the weights layout as a oneDNN-style tag (e.g. "Acdb32a"; digits = blocked,
 * "acdb" = plain OHWI). */
const char *lk_dnnl_conv_impl(const lk_dnnl_conv *c);
/* For nn/fastgraph.c, which builds its own primitives on this handle: the engine and stream
 * (dnnl_engine_t / dnnl_stream_t, as void * so this header stays free of dnnl.h) and the
 * thread-count bracket put around every create/run call (enter returns what leave restores). */
void *lk_dnnl_engine(lk_dnnl *d);
void *lk_dnnl_stream(lk_dnnl *d);
int lk_dnnl_thr_enter(const lk_dnnl *d);
void lk_dnnl_thr_leave(const lk_dnnl *d, int saved);
/* The thread count d was made with (0: oneDNN's default). */
int lk_dnnl_threads(const lk_dnnl *d);
const char *lk_dnnl_conv_weights_format(const lk_dnnl_conv *c);

#endif
