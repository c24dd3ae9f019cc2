/* nn/model.c — lk_model: loading (tflite.c parses, this file validates the graph), freeing
 * and queries. Validation checks every op's tensor shapes and computes its padding once, so
 * the kernels in ops_ref.c and the oneDNN backend can trust the geometry they are given.
 * Sessions batch images themselves: every activation must have batch dimension 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "nn/nn_int.h"
#include "util/file.h"

void lk_nn_model_clear(lk_model *m) {
  if (!m) return;
  for (int i = 0; i < m->ntensors; i++) {
    lk_nn_tensor *t = &m->tensors[i];
    free(t->name);
    free(t->scale);
    free(t->zero_point);
    free(t->data);
  }
  free(m->tensors);
  for (int i = 0; i < m->nops; i++) {
    free(m->ops[i].in);
    free(m->ops[i].out);
  }
  free(m->ops);
  free(m->outputs);
  memset(m, 0, sizeof *m);
}

void lk_model_free(lk_model *m) {
  if (!m) return;
  lk_nn_model_clear(m);
  free(m);
}

void lk_nn_input_affine(const lk_nn_tensor *t, float *offset, float *scale) {
  float shift = t->type == LK_NN_INT8 ? -128.f : 0.f; /* pixels 0..255 -> int8 -128..127 */
  *offset = shift;
  *scale = 1;
  if (t->nq == 1 && t->type != LK_NN_FLOAT32) {
    *offset = shift - (float)t->zero_point[0];
    *scale = t->scale[0];
  }
}

void *lk_nn_big_alloc(size_t bytes, size_t *mapped) {
  const size_t huge = (size_t)2 << 20;
  if (bytes > SIZE_MAX - huge) return NULL;
  size_t len = bytes ? (bytes + huge - 1) & ~(huge - 1) : huge;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, len, MADV_HUGEPAGE); /* advice only: without THP the touch below still helps */
#endif
  memset(p, 0, len);
  *mapped = len;
  return p;
}

void lk_nn_big_free(void *p, size_t mapped) {
  if (p) munmap(p, mapped);
}

int lk_nn_tensor_fake_quant(const lk_nn_tensor *t, float *scale, int *zp, int *qmin,
                            int *qmax) {
  if (t->nq != 1 || !(t->scale[0] > 0)) return 0;
  if (t->type == LK_NN_UINT8) {
    *qmin = 0;
    *qmax = 255;
  } else if (t->type == LK_NN_INT8) {
    *qmin = -128;
    *qmax = 127;
  } else {
    return 0;
  }
  *scale = t->scale[0];
  *zp = t->zero_point[0];
  return 1;
}

/* ---- Graph validation ------------------------------------------------------------------- */

typedef struct vctx {
  lk_model *m;
  lk_nn_op *op;
  lk_errbuf *err;
} vctx;

static int bad(vctx *v, const char *fmt, const char *detail) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, detail);
  return lk_err_set(v->err, LK_ECORRUPT, "operator %d (%s): %s", v->op->index,
                    lk_nn_op_name(v->op->code), msg);
}

static lk_nn_tensor *T(vctx *v, int idx) { return &v->m->tensors[idx]; }

/* Input i must be present and an activation (not a constant). */
static int want_act_in(vctx *v, int i) {
  if (i >= v->op->nin || v->op->in[i] < 0) return bad(v, "input %s missing", i ? "n" : "0");
  if (T(v, v->op->in[i])->data)
    return lk_err_set(v->err, LK_EUNSUPPORTED, "operator %d (%s): constant input %d",
                      v->op->index, lk_nn_op_name(v->op->code), i);
  return 0;
}

/* Input i must be present and constant. */
static int want_const_in(vctx *v, int i) {
  if (i >= v->op->nin || v->op->in[i] < 0) return bad(v, "%s input missing", "constant");
  if (!T(v, v->op->in[i])->data)
    return lk_err_set(v->err, LK_EUNSUPPORTED, "operator %d (%s): input %d is not constant",
                      v->op->index, lk_nn_op_name(v->op->code), i);
  return 0;
}

static int same_shape(const lk_nn_tensor *a, const lk_nn_tensor *b) {
  if (a->ndims != b->ndims) return 0;
  for (int d = 0; d < a->ndims; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

static int is4d(const lk_nn_tensor *t) { return t->ndims == 4; }

static int check_params(vctx *v) {
  lk_nn_op *op = v->op;
  if (op->stride_w < 1 || op->stride_h < 1 || op->stride_w > LK_NN_MAX_DIM ||
      op->stride_h > LK_NN_MAX_DIM)
    return bad(v, "%s", "bad stride");
  if (op->dil_w < 1 || op->dil_h < 1 || op->dil_w > LK_NN_MAX_DIM || op->dil_h > LK_NN_MAX_DIM)
    return bad(v, "%s", "bad dilation");
  if (op->filter_w < 1 || op->filter_h < 1 || op->filter_w > LK_NN_MAX_DIM ||
      op->filter_h > LK_NN_MAX_DIM)
    return bad(v, "%s", "bad filter size");
  return 0;
}

/* TFLite's output size and padding for one spatial axis; -1 if the window does not fit. */
static int out_size(int padding, int in, int k, int stride, int dil, int *pad_before,
                    int *pad_after) {
  long eff = (long)(k - 1) * dil + 1;
  if (eff > LK_NN_MAX_DIM) return -1; /* keeps every index the kernels form within int */
  long out = padding == LK_PAD_SAME ? (in + stride - 1) / stride : (in - eff + stride) / stride;
  if (out < 1) return -1;
  long total = (out - 1) * stride + eff - in;
  if (total < 0 || padding == LK_PAD_VALID) total = 0;
  *pad_before = (int)(total / 2);
  *pad_after = (int)(total - total / 2);
  return (int)out;
}

/* Shared by conv, depthwise and the pools: checks input/output 4D shapes and sets padding. */
static int check_window(vctx *v, const lk_nn_tensor *in, const lk_nn_tensor *out, int kh, int kw,
                        int oc) {
  lk_nn_op *op = v->op;
  int rc = check_params(v);
  if (rc) return rc;
  if (kh > LK_NN_MAX_DIM || kw > LK_NN_MAX_DIM) return bad(v, "%s", "kernel too large");
  /* out_size also fails for a dilated kernel wider than LK_NN_MAX_DIM */
  int oh = out_size(op->padding, in->dims[1], kh, op->stride_h, op->dil_h, &op->pad_t, &op->pad_b);
  int ow = out_size(op->padding, in->dims[2], kw, op->stride_w, op->dil_w, &op->pad_l, &op->pad_r);
  if (oh < 1 || ow < 1) return bad(v, "%s", "window larger than the input or too wide");
  if (!is4d(out) || out->dims[0] != in->dims[0] || out->dims[1] != oh || out->dims[2] != ow ||
      out->dims[3] != oc)
    return bad(v, "%s", "output shape does not match the input and window");
  return 0;
}

static int check_conv(vctx *v) {
  lk_nn_op *op = v->op;
  int rc;
  if ((rc = want_act_in(v, 0)) || (rc = want_const_in(v, 1))) return rc;
  lk_nn_tensor *in = T(v, op->in[0]), *w = T(v, op->in[1]), *out = T(v, op->out[0]);
  if (!is4d(in) || !is4d(w)) return bad(v, "%s", "input and weights must be 4-D");
  int oc, kh = w->dims[1], kw = w->dims[2];
  if (op->code == LK_OP_CONV_2D) {
    if (w->dims[3] != in->dims[3]) return bad(v, "%s", "weights do not match input channels");
    oc = w->dims[0];
  } else {
    if (w->dims[0] != 1 || w->dims[3] % in->dims[3] != 0)
      return bad(v, "%s", "depthwise weights do not match input channels");
    oc = w->dims[3];
  }
  if (op->nin > 2 && op->in[2] >= 0) {
    if ((rc = want_const_in(v, 2))) return rc;
    lk_nn_tensor *b = T(v, op->in[2]);
    if (b->count != (size_t)oc) return bad(v, "%s", "bias length does not match channels");
    if (b->type != LK_NN_FLOAT32 && b->nq == 0 && T(v, op->in[1])->nq > 0)
      return lk_err_set(v->err, LK_EUNSUPPORTED, "operator %d (%s): integer bias without scale",
                        op->index, lk_nn_op_name(op->code));
  }
  return check_window(v, in, out, kh, kw, oc);
}

static int check_pool(vctx *v) {
  lk_nn_op *op = v->op;
  int rc = want_act_in(v, 0);
  if (rc) return rc;
  lk_nn_tensor *in = T(v, op->in[0]), *out = T(v, op->out[0]);
  if (!is4d(in)) return bad(v, "%s", "input must be 4-D");
  return check_window(v, in, out, op->filter_h, op->filter_w, in->dims[3]);
}

/* Reads a small integer vector from a constant tensor (values are exact in float). */
static int const_ints(vctx *v, int idx, int *vals, int maxn, int *n) {
  lk_nn_tensor *t = T(v, idx);
  if (t->type != LK_NN_INT32 && t->type != LK_NN_INT64)
    return bad(v, "%s", "integer parameter tensor expected");
  if (t->count > (size_t)maxn) return bad(v, "%s", "parameter tensor too long");
  for (size_t i = 0; i < t->count; i++) {
    float f = t->data[i];
    if (!(f >= -(float)LK_NN_MAX_DIM && f <= (float)LK_NN_MAX_DIM))
      return bad(v, "%s", "bad parameter");
    vals[i] = (int)f;
  }
  *n = (int)t->count;
  return 0;
}

/* Normalises a possibly negative axis; the batch axis 0 cannot be reduced/concatenated
 * because sessions stack images along it. */
static int norm_axis(vctx *v, int axis, int ndims, int *out) {
  if (axis < 0) axis += ndims;
  if (axis < 0 || axis >= ndims) return bad(v, "%s", "axis out of range");
  if (axis == 0)
    return lk_err_set(v->err, LK_EUNSUPPORTED, "operator %d (%s): operates on the batch axis",
                      v->op->index, lk_nn_op_name(v->op->code));
  *out = axis;
  return 0;
}

static int check_op(vctx *v) {
  lk_nn_op *op = v->op;
  int rc;
  if (op->nout != 1) return bad(v, "%s", "exactly one output expected");
  lk_nn_tensor *out = T(v, op->out[0]);
  switch (op->code) {
  case LK_OP_CONV_2D:
  case LK_OP_DEPTHWISE_CONV_2D:
    return check_conv(v);
  case LK_OP_AVERAGE_POOL_2D:
  case LK_OP_MAX_POOL_2D:
    return check_pool(v);
  case LK_OP_ADD:
    if (op->nin != 2) return bad(v, "%s", "two inputs expected");
    if ((rc = want_act_in(v, 0)) || (rc = want_act_in(v, 1))) return rc;
    if (!same_shape(T(v, op->in[0]), out) || !same_shape(T(v, op->in[1]), out))
      return lk_err_set(v->err, LK_EUNSUPPORTED,
                        "operator %d (ADD): broadcasting between shapes not supported",
                        op->index);
    return 0;
  case LK_OP_RESHAPE:
    if ((rc = want_act_in(v, 0))) return rc;
    if (T(v, op->in[0])->count != out->count) return bad(v, "%s", "element count changes");
    return 0;
  case LK_OP_SOFTMAX:
  case LK_OP_QUANTIZE:
  case LK_OP_DEQUANTIZE:
    if ((rc = want_act_in(v, 0))) return rc;
    if (!same_shape(T(v, op->in[0]), out)) return bad(v, "%s", "output shape differs");
    if (op->code == LK_OP_SOFTMAX && !(isfinite(op->beta) && op->beta > 0))
      return bad(v, "%s", "bad beta");
    return 0;
  case LK_OP_CONCATENATION: {
    if (op->nin < 1) return bad(v, "%s", "no inputs");
    if ((rc = norm_axis(v, op->axis, out->ndims, &op->axis))) return rc;
    long sum = 0;
    for (int i = 0; i < op->nin; i++) {
      if ((rc = want_act_in(v, i))) return rc;
      lk_nn_tensor *t = T(v, op->in[i]);
      if (t->ndims != out->ndims) return bad(v, "%s", "inputs differ in rank");
      for (int d = 0; d < out->ndims; d++)
        if (d != op->axis && t->dims[d] != out->dims[d])
          return bad(v, "%s", "inputs differ off the concatenation axis");
      sum += t->dims[op->axis];
    }
    if (sum != out->dims[op->axis]) return bad(v, "%s", "output size along axis differs");
    return 0;
  }
  case LK_OP_RESIZE_BILINEAR: {
    if ((rc = want_act_in(v, 0)) || (rc = want_const_in(v, 1))) return rc;
    lk_nn_tensor *in = T(v, op->in[0]);
    int size[2], n;
    if ((rc = const_ints(v, op->in[1], size, 2, &n))) return rc;
    if (n != 2 || size[0] < 1 || size[1] < 1) return bad(v, "%s", "bad size");
    if (op->align_corners && op->half_pixel_centers)
      return bad(v, "%s", "align_corners and half_pixel_centers both set");
    if (!is4d(in) || !is4d(out) || out->dims[0] != in->dims[0] || out->dims[1] != size[0] ||
        out->dims[2] != size[1] || out->dims[3] != in->dims[3])
      return bad(v, "%s", "output shape does not match size");
    return 0;
  }
  case LK_OP_MEAN: {
    if ((rc = want_act_in(v, 0)) || (rc = want_const_in(v, 1))) return rc;
    lk_nn_tensor *in = T(v, op->in[0]);
    int axes[LK_NN_MAX_DIMS], n;
    if ((rc = const_ints(v, op->in[1], axes, LK_NN_MAX_DIMS, &n))) return rc;
    op->reduce_mask = 0;
    for (int i = 0; i < n; i++) {
      int a;
      if ((rc = norm_axis(v, axes[i], in->ndims, &a))) return rc;
      op->reduce_mask |= 1 << a;
    }
    int k = 0, ok = 1;
    for (int d = 0; d < in->ndims; d++) {
      int r = op->reduce_mask >> d & 1;
      if (op->keep_dims) ok &= k < out->ndims && out->dims[k++] == (r ? 1 : in->dims[d]);
      else if (!r) ok &= k < out->ndims && out->dims[k++] == in->dims[d];
    }
    if (!ok || k != out->ndims) return bad(v, "%s", "output shape does not match axes");
    return 0;
  }
  case LK_OP_ARG_MAX: {
    if ((rc = want_act_in(v, 0)) || (rc = want_const_in(v, 1))) return rc;
    lk_nn_tensor *in = T(v, op->in[0]);
    int axis, n;
    if ((rc = const_ints(v, op->in[1], &axis, 1, &n))) return rc;
    if (n != 1) return bad(v, "%s", "one axis expected");
    if ((rc = norm_axis(v, axis, in->ndims, &op->axis))) return rc;
    int k = 0, ok = out->ndims == in->ndims - 1;
    for (int d = 0; d < in->ndims && ok; d++)
      if (d != op->axis) ok = out->dims[k++] == in->dims[d];
    if (!ok) return bad(v, "%s", "output shape does not match");
    return 0;
  }
  default:
    return lk_err_set(v->err, LK_EUNSUPPORTED, "unsupported op %s (code %d) at operator %d",
                      lk_nn_op_name(op->code), op->code, op->index);
  }
}

/* Checks ops are in execution order (every activation is written once, before it is read),
 * activations have batch 1, and each op's shapes. */
static int validate(lk_model *m, lk_errbuf *err) {
  lk_nn_tensor *in = &m->tensors[m->input];
  if (in->data || in->ndims != 4 || in->dims[0] != 1 || in->dims[3] != 3 ||
      (in->type != LK_NN_UINT8 && in->type != LK_NN_INT8 && in->type != LK_NN_FLOAT32))
    return lk_err_set(err, LK_EUNSUPPORTED,
                      "model input %s must be one 1xHxWx3 uint8/int8/float32 image tensor",
                      in->name);
  for (int i = 0; i < m->nops; i++) {
    lk_nn_op *op = &m->ops[i];
    vctx v = {m, op, err};
    for (int j = 0; j < op->nin; j++) {
      int t = op->in[j];
      if (t < 0) continue;
      lk_nn_tensor *ti = &m->tensors[t];
      if (!ti->data && t != m->input && ti->producer < 0)
        return lk_err_set(err, LK_ECORRUPT,
                          "operator %d (%s): input %s is read before it is written", i,
                          lk_nn_op_name(op->code), ti->name);
    }
    for (int j = 0; j < op->nout; j++) {
      lk_nn_tensor *to = &m->tensors[op->out[j]];
      if (to->data || op->out[j] == m->input || to->producer >= 0)
        return lk_err_set(err, LK_ECORRUPT,
                          "operator %d (%s): output %s is a constant, the input or written twice",
                          i, lk_nn_op_name(op->code), to->name);
      if (to->ndims < 1 || to->dims[0] != 1)
        return lk_err_set(err, LK_EUNSUPPORTED,
                          "operator %d (%s): output %s does not have batch size 1", i,
                          lk_nn_op_name(op->code), to->name);
      to->producer = i;
    }
    int rc = check_op(&v);
    if (rc) return rc;
  }
  return 0;
}

int lk_model_load_buffer(const uint8_t *buf, size_t len, lk_model **out, lk_errbuf *err) {
  *out = NULL;
  if (!buf && len) return lk_err_set(err, LK_EINVAL, "NULL buffer");
  lk_model *m = calloc(1, sizeof *m);
  if (!m) return lk_err_set(err, LK_ENOMEM, "out of memory");
  int rc = lk_tflite_parse(buf, len, m, err);
  if (!rc) rc = validate(m, err);
  if (rc) {
    lk_model_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int lk_model_load(const char *path, lk_model **out, lk_errbuf *err) {
  *out = NULL;
  uint8_t *buf;
  size_t size;
  int rc = lk_file_read(path, (size_t)LK_NN_MAX_FILE, &buf, &size, NULL, err);
  if (rc) return rc;
  rc = lk_model_load_buffer(buf, size, out, err);
  free(buf);
  return rc;
}

/* ---- Queries ---------------------------------------------------------------------------- */

int lk_model_input_hw(const lk_model *m, int *h, int *w) {
  if (!m) return LK_EINVAL;
  const lk_nn_tensor *t = &m->tensors[m->input];
  *h = t->dims[1];
  *w = t->dims[2];
  return 0;
}

int lk_model_tensor_count(const lk_model *m) { return m ? m->ntensors : 0; }

const char *lk_model_tensor_name(const lk_model *m, int i) {
  if (!m || i < 0 || i >= m->ntensors) return NULL;
  return m->tensors[i].name;
}

int lk_model_tensor_shape(const lk_model *m, int i, int dims[4], int *ndims) {
  if (!m || i < 0 || i >= m->ntensors) return LK_EINVAL;
  const lk_nn_tensor *t = &m->tensors[i];
  if (t->ndims > 4) return LK_EUNSUPPORTED;
  for (int d = 0; d < 4; d++) dims[d] = d < t->ndims ? t->dims[d] : 0;
  *ndims = t->ndims;
  return 0;
}

int lk_model_find_tensor(const lk_model *m, const char *name) {
  if (!m || !name) return LK_EINVAL;
  for (int i = 0; i < m->ntensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return i;
  return LK_ENOTFOUND;
}

int lk_model_tap_dim(const lk_model *m, const lk_tap *tap) {
  if (!m || !tap || !tap->tensor) return LK_EINVAL;
  int i = lk_model_find_tensor(m, tap->tensor);
  if (i < 0) return i;
  const lk_nn_tensor *t = &m->tensors[i];
  if (t->data || t->ndims < 1) return LK_EINVAL; /* constants are not taps */
  return t->dims[t->ndims - 1];
}
