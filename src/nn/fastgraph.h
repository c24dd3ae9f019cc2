/* nn/fastgraph.h — the fast compute modes of a session (LK_COMPUTE_FP32, LK_COMPUTE_INT8):
 * the planned ops run as a chain of oneDNN primitives whose activations stay in the layouts
 * the primitives prefer (INT8: nhwc) from the first conv to the taps; bias and ReLU/ReLU6
 * are fused post-ops, a residual ADD is a sum post-op of the conv before it (into the
 * shortcut's buffer; a binary primitive where oneDNN cannot fuse it), pools are oneDNN
 * pooling. INT8 keeps activations as u8 (after ReLU) or s8 with one symmetric scale per
 * tensor derived from the model's quantisation ranges, and weights as s8 with per-output-
 * channel scales (VNNI). Reorders happen only at the input and at the taps. INT8 sessions of
 * one thread run the depthwise 3x3, the 1x1 convs of <= 64 input channels with u8 output and
 * the first conv (3x3 stride 2, 3 -> 32) on nn/qconv.h's kernels where the CPU has AVX-512
 * VNNI (same bytes; LOOKALIKE_QCONV=0: all oneDNN). Internal to src/nn (used by session.c). */
#ifndef LK_NN_FASTGRAPH_H
#define LK_NN_FASTGRAPH_H

#include "nn/nn_int.h"

typedef struct lk_fg lk_fg;

/* Builds the graph of the model ops `ops` (nops indices, in execution order) for exactly
 * `batch` images. Taps (ntaps tensor indices) are delivered as float NHWC. Ops or shapes it
 * cannot run give LK_EUNSUPPORTED with the op named. d must outlive the graph. */
int lk_fg_new(const lk_model *m, const int *ops, int nops, const int *taps, int ntaps,
              int compute, int batch, lk_dnnl *d, lk_fg **out, lk_errbuf *err);
void lk_fg_free(lk_fg *g); /* NULL-safe */
/* The float NHWC input buffer (batch * H * W * 3) the caller fills before lk_fg_run with the
 * model's input values (lk_nn_input_affine); NULL when the graph takes the pixels itself
 * through lk_fg_load_pixels (INT8 on a quantised input: a table to s8, no float pass). */
float *lk_fg_input(lk_fg *g);
void lk_fg_load_pixels(lk_fg *g, const uint8_t *px, size_t count);
int lk_fg_run(lk_fg *g, lk_errbuf *err);
/* Process-wide, off by default: when on, every run prints a line on stdout for each step of
 * nn/qconv's kernels, the way ONEDNN_VERBOSE=1 prints oneDNN's primitives
 * ("onednn_verbose,exec,cpu,convolution,lookalike_qconv:avx512_vnni,...,<shape>,<ms>"), so
 * that per-layer tables (bench/embed.sh) see every layer. */
void lk_fg_set_trace(int on);
/* Tap i's output after a run: batch images of the tensor's NHWC float values. */
const float *lk_fg_tap(const lk_fg *g, int i);

#endif
