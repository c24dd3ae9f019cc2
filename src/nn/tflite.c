/* nn/tflite.c — a hand-written, bounds-checked reader for TensorFlow Lite flatbuffers
 * (schema.fbs, file identifier "TFL3") that fills the graph IR of nn_int.h. Every offset,
 * vtable and vector is checked against the file size before it is read; counts and sizes
 * have limits; constant buffers must match their tensor's shape exactly. Shapes of the
 * ops themselves are validated afterwards by model.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_int.h"
#include "util/size.h"

/* ---- Flatbuffer primitives ------------------------------------------------------------ */

typedef struct fb {
  const uint8_t *p;
  size_t len;
} fb;

typedef struct fb_table {
  size_t pos;    /* table start (its soffset to the vtable) */
  size_t vt;     /* vtable start */
  uint16_t vtlen; /* vtable bytes */
  uint16_t tlen;  /* table bytes */
} fb_table;

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static float rdf32(const uint8_t *p) {
  uint32_t u = rd32(p);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static int corrupt(lk_errbuf *err, const char *what) {
  return lk_err_set(err, LK_ECORRUPT, "corrupt TFLite model: %s", what);
}

/* Reads the table at pos: its vtable must lie inside the file and the table's declared
 * size too. */
static int fb_table_at(const fb *b, size_t pos, fb_table *t, lk_errbuf *err) {
  if (pos > b->len - 4) return corrupt(err, "table offset outside the file");
  int64_t vt = (int64_t)pos - (int32_t)rd32(b->p + pos);
  if (vt < 0 || (uint64_t)vt > b->len - 4) return corrupt(err, "vtable outside the file");
  t->pos = pos;
  t->vt = (size_t)vt;
  t->vtlen = rd16(b->p + t->vt);
  t->tlen = rd16(b->p + t->vt + 2);
  if (t->vtlen < 4 || (t->vtlen & 1) || t->vt + t->vtlen > b->len)
    return corrupt(err, "bad vtable size");
  if (t->tlen < 4 || t->tlen > b->len - pos) return corrupt(err, "table extends past the end");
  return 0;
}

/* Position of field `slot` (0-based, schema order) of `size` bytes, or 0 when absent
 * (t == NULL stands for an absent table: every field takes its default). */
static int fb_get(const fb *b, const fb_table *t, int slot, size_t size, size_t *pos,
                  lk_errbuf *err) {
  size_t at = 4 + 2 * (size_t)slot;
  *pos = 0;
  if (!t || at + 2 > t->vtlen) return 0; /* older writer: field absent */
  uint16_t off = rd16(b->p + t->vt + at);
  if (off == 0) return 0;
  if ((size_t)off + size > t->tlen) return corrupt(err, "field outside its table");
  *pos = t->pos + off;
  return 0;
}

static int fb_i32(const fb *b, const fb_table *t, int slot, int32_t def, int32_t *v,
                  lk_errbuf *err) {
  size_t pos;
  int rc = fb_get(b, t, slot, 4, &pos, err);
  if (rc) return rc;
  *v = pos ? (int32_t)rd32(b->p + pos) : def;
  return 0;
}

static int fb_u8(const fb *b, const fb_table *t, int slot, uint8_t def, uint8_t *v,
                 lk_errbuf *err) {
  size_t pos;
  int rc = fb_get(b, t, slot, 1, &pos, err);
  if (rc) return rc;
  *v = pos ? b->p[pos] : def;
  return 0;
}

static int fb_f32(const fb *b, const fb_table *t, int slot, float def, float *v,
                  lk_errbuf *err) {
  size_t pos;
  int rc = fb_get(b, t, slot, 4, &pos, err);
  if (rc) return rc;
  *v = pos ? rdf32(b->p + pos) : def;
  return 0;
}

static int fb_u64(const fb *b, const fb_table *t, int slot, uint64_t def, uint64_t *v,
                  lk_errbuf *err) {
  size_t pos;
  int rc = fb_get(b, t, slot, 8, &pos, err);
  if (rc) return rc;
  *v = pos ? rd64(b->p + pos) : def;
  return 0;
}

/* Follows the uoffset at pos; the target must leave room for its 4-byte header. */
static int fb_deref(const fb *b, size_t pos, size_t *target, lk_errbuf *err) {
  uint32_t off = rd32(b->p + pos);
  if (off > b->len - 4 || pos > b->len - 4 - off) return corrupt(err, "offset outside the file");
  *target = pos + off;
  return 0;
}

/* Reference field `slot` -> *target (0 when absent). */
static int fb_ref(const fb *b, const fb_table *t, int slot, size_t *target, lk_errbuf *err) {
  size_t pos;
  int rc = fb_get(b, t, slot, 4, &pos, err);
  *target = 0;
  if (rc || !pos) return rc;
  return fb_deref(b, pos, target, err);
}

/* Vector field: count elements of elem bytes starting at *data; absent = empty. */
static int fb_vec(const fb *b, const fb_table *t, int slot, size_t elem, size_t maxcount,
                  size_t *count, size_t *data, lk_errbuf *err) {
  size_t at;
  int rc = fb_ref(b, t, slot, &at, err);
  *count = 0;
  *data = 0;
  if (rc || !at) return rc;
  size_t n = rd32(b->p + at), bytes;
  if (n > maxcount)
    return lk_err_set(err, LK_ETOOBIG, "TFLite model: a vector has %zu elements (limit %zu)", n,
                      maxcount);
  if (lk_size_mul(n, elem, &bytes) || bytes > b->len - at - 4)
    return corrupt(err, "vector extends past the end of the file");
  *count = n;
  *data = at + 4;
  return 0;
}

/* Element i of a vector of tables. */
static int fb_vec_table(const fb *b, size_t data, size_t i, fb_table *t, lk_errbuf *err) {
  size_t target = 0;
  int rc = fb_deref(b, data + 4 * i, &target, err);
  if (rc) return rc;
  return fb_table_at(b, target, t, err);
}

/* Sub-table field; *present = 0 when absent. */
static int fb_subtable(const fb *b, const fb_table *t, int slot, fb_table *sub, int *present,
                       lk_errbuf *err) {
  size_t target;
  int rc = fb_ref(b, t, slot, &target, err);
  *present = 0;
  if (rc || !target) return rc;
  *present = 1;
  return fb_table_at(b, target, sub, err);
}

/* ---- Schema slots (field order in schema.fbs) ------------------------------------------ */

enum { MODEL_VERSION, MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS };
enum { OPCODE_DEPRECATED, OPCODE_CUSTOM, OPCODE_VERSION, OPCODE_BUILTIN };
enum { SG_TENSORS, SG_INPUTS, SG_OUTPUTS, SG_OPERATORS, SG_NAME };
enum { TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANT, TENSOR_VARIABLE,
       TENSOR_SPARSITY };
enum { QUANT_MIN, QUANT_MAX, QUANT_SCALE, QUANT_ZERO, QUANT_DETAILS_TYPE, QUANT_DETAILS,
       QUANT_DIM };
enum { OP_OPCODE, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE, OP_OPTIONS };
enum { BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE };

/* BuiltinOptions union member numbers. */
enum {
  OPT_NONE = 0,
  OPT_CONV2D = 1,
  OPT_DEPTHWISE = 2,
  OPT_POOL2D = 5,
  OPT_SOFTMAX = 9,
  OPT_CONCAT = 10,
  OPT_ADD = 11,
  OPT_RESIZE_BILINEAR = 15,
  OPT_RESHAPE = 17,
  OPT_REDUCER = 27,
  OPT_ARG_MAX = 40,
};

/* Names of BuiltinOperator codes 0..161, for error messages. */
static const char *const op_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6",
    "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
    "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
    "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX",
    "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM",
    "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN",
    "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG",
    "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
    "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
    "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK",
    "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
    "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D",
    "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
    "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE",
    "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
    "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
};

const char *lk_nn_op_name(int code) {
  if (code >= 0 && (size_t)code < sizeof op_names / sizeof op_names[0]) return op_names[code];
  return "UNKNOWN";
}

static int op_supported(int code) {
  switch (code) {
  case LK_OP_ADD: case LK_OP_AVERAGE_POOL_2D: case LK_OP_CONCATENATION: case LK_OP_CONV_2D:
  case LK_OP_DEPTHWISE_CONV_2D: case LK_OP_DEQUANTIZE: case LK_OP_MAX_POOL_2D:
  case LK_OP_RESHAPE: case LK_OP_RESIZE_BILINEAR: case LK_OP_SOFTMAX: case LK_OP_MEAN:
  case LK_OP_ARG_MAX: case LK_OP_QUANTIZE:
    return 1;
  default:
    return 0;
  }
}

/* The options table an op's fields are read from (OPT_NONE: the op reads none). */
static int op_options_type(int code) {
  switch (code) {
  case LK_OP_CONV_2D: return OPT_CONV2D;
  case LK_OP_DEPTHWISE_CONV_2D: return OPT_DEPTHWISE;
  case LK_OP_AVERAGE_POOL_2D: case LK_OP_MAX_POOL_2D: return OPT_POOL2D;
  case LK_OP_SOFTMAX: return OPT_SOFTMAX;
  case LK_OP_CONCATENATION: return OPT_CONCAT;
  case LK_OP_ADD: return OPT_ADD;
  case LK_OP_RESIZE_BILINEAR: return OPT_RESIZE_BILINEAR;
  case LK_OP_RESHAPE: return OPT_RESHAPE;
  case LK_OP_MEAN: return OPT_REDUCER;
  case LK_OP_ARG_MAX: return OPT_ARG_MAX;
  default: return OPT_NONE; /* options unused: not checked */
  }
}

/* ---- Tensors ----------------------------------------------------------------------------- */

static int type_size(int type) {
  switch (type) {
  case LK_NN_FLOAT32: case LK_NN_INT32: return 4;
  case LK_NN_UINT8: case LK_NN_INT8: return 1;
  case LK_NN_INT64: return 8;
  default: return 0;
  }
}

static const char *type_name(int type) {
  static const char *const names[] = {"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64",
                                      "STRING", "BOOL", "INT16", "COMPLEX64", "INT8"};
  if (type >= 0 && type < (int)(sizeof names / sizeof names[0])) return names[type];
  return "unknown";
}

static int read_quant(const fb *b, const fb_table *tt, lk_nn_tensor *t, int ti, lk_errbuf *err) {
  fb_table q;
  int present, rc = fb_subtable(b, tt, TENSOR_QUANT, &q, &present, err);
  if (rc || !present) return rc;
  uint8_t details;
  if ((rc = fb_u8(b, &q, QUANT_DETAILS_TYPE, 0, &details, err))) return rc;
  if (details != 0)
    return lk_err_set(err, LK_EUNSUPPORTED, "tensor %d (%s): custom quantisation details", ti,
                      t->name);
  size_t ns, sdata, nz, zdata;
  if ((rc = fb_vec(b, &q, QUANT_SCALE, 4, LK_NN_MAX_ELEMS, &ns, &sdata, err))) return rc;
  if ((rc = fb_vec(b, &q, QUANT_ZERO, 8, LK_NN_MAX_ELEMS, &nz, &zdata, err))) return rc;
  int32_t qdim;
  if ((rc = fb_i32(b, &q, QUANT_DIM, 0, &qdim, err))) return rc;
  if (ns == 0) return 0; /* min/max only: treated as not quantised */
  if (nz != 0 && nz != ns)
    return lk_err_set(err, LK_ECORRUPT, "tensor %d (%s): %zu scales but %zu zero points", ti,
                      t->name, ns, nz);
  if (ns > 1) {
    if (qdim < 0 || qdim >= t->ndims || (size_t)t->dims[qdim] != ns)
      return lk_err_set(err, LK_ECORRUPT,
                        "tensor %d (%s): %zu scales do not match quantized_dimension %d", ti,
                        t->name, ns, (int)qdim);
  }
  t->scale = malloc(ns * sizeof *t->scale);
  t->zero_point = malloc(ns * sizeof *t->zero_point);
  if (!t->scale || !t->zero_point) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < ns; i++) {
    float s = rdf32(b->p + sdata + 4 * i);
    int64_t z = nz ? (int64_t)rd64(b->p + zdata + 8 * i) : 0;
    if (!isfinite(s) || s < 0)
      return lk_err_set(err, LK_ECORRUPT, "tensor %d (%s): bad scale %g", ti, t->name, s);
    if (z < INT32_MIN || z > INT32_MAX)
      return lk_err_set(err, LK_ECORRUPT, "tensor %d (%s): zero point out of range", ti,
                        t->name);
    t->scale[i] = s;
    t->zero_point[i] = (int32_t)z;
  }
  t->nq = (int)ns;
  t->qdim = ns > 1 ? qdim : 0;
  return 0;
}

/* Converts the raw little-endian buffer to float, dequantising with the tensor's scales. */
static void dequantise(const lk_nn_tensor *t, const uint8_t *raw, float *out) {
  size_t inner = 1; /* elements per step of the quantised axis */
  for (int d = t->qdim + 1; d < t->ndims; d++) inner *= (size_t)t->dims[d];
  for (size_t i = 0; i < t->count; i++) {
    double v;
    switch (t->type) {
    case LK_NN_FLOAT32: v = rdf32(raw + 4 * i); break;
    case LK_NN_INT32: v = (int32_t)rd32(raw + 4 * i); break;
    case LK_NN_UINT8: v = raw[i]; break;
    case LK_NN_INT8: v = (int8_t)raw[i]; break;
    default: v = (double)(int64_t)rd64(raw + 8 * i); break; /* INT64 */
    }
    if (t->nq > 0 && t->type != LK_NN_FLOAT32) {
      size_t c = t->nq > 1 ? (i / inner) % (size_t)t->nq : 0;
      v = (v - t->zero_point[c]) * t->scale[c];
    }
    out[i] = (float)v;
  }
}

static int read_tensor(const fb *b, const fb_table *tt, int ti, size_t bufvec, size_t nbuf,
                       lk_nn_tensor *t, lk_errbuf *err) {
  size_t n, data;
  int rc;
  t->producer = -1;
  /* name first, so later messages can use it */
  if ((rc = fb_vec(b, tt, TENSOR_NAME, 1, LK_NN_MAX_NAME, &n, &data, err))) return rc;
  t->name = malloc(n + 1);
  if (!t->name) return lk_err_set(err, LK_ENOMEM, "out of memory");
  if (n) memcpy(t->name, b->p + data, n);
  t->name[n] = '\0';

  if ((rc = fb_vec(b, tt, TENSOR_SHAPE, 4, LK_NN_MAX_DIMS, &n, &data, err))) return rc;
  t->ndims = (int)n;
  t->count = 1;
  for (size_t d = 0; d < n; d++) {
    int32_t v = (int32_t)rd32(b->p + data + 4 * d);
    if (v <= 0)
      return lk_err_set(err, LK_EUNSUPPORTED, "tensor %d (%s): dimension %zu is %d", ti,
                        t->name, d, (int)v);
    t->dims[d] = v;
    if (lk_size_mul(t->count, (size_t)v, &t->count) || t->count > LK_NN_MAX_ELEMS)
      return lk_err_set(err, LK_ETOOBIG, "tensor %d (%s): too many elements", ti, t->name);
  }

  uint8_t type;
  if ((rc = fb_u8(b, tt, TENSOR_TYPE, 0, &type, err))) return rc;
  t->type = type;
  if (type_size(t->type) == 0)
    return lk_err_set(err, LK_EUNSUPPORTED, "tensor %d (%s): type %s not supported", ti,
                      t->name, type_name(t->type));

  size_t sp;
  if ((rc = fb_get(b, tt, TENSOR_SPARSITY, 4, &sp, err))) return rc;
  if (sp) return lk_err_set(err, LK_EUNSUPPORTED, "tensor %d (%s): sparse tensor", ti, t->name);

  if ((rc = read_quant(b, tt, t, ti, err))) return rc;

  int32_t bi;
  if ((rc = fb_i32(b, tt, TENSOR_BUFFER, 0, &bi, err))) return rc;
  if ((uint32_t)bi >= nbuf && !(bi == 0 && nbuf == 0))
    return lk_err_set(err, LK_ECORRUPT, "tensor %d (%s): buffer index %u out of range", ti,
                      t->name, (unsigned)bi);
  if (bi == 0) return 0; /* buffer 0 is the empty sentinel: an activation */
  fb_table bt;
  if ((rc = fb_vec_table(b, bufvec, (size_t)(uint32_t)bi, &bt, err))) return rc;
  uint64_t ext;
  if ((rc = fb_u64(b, &bt, BUFFER_OFFSET, 0, &ext, err))) return rc;
  if (ext > 1)
    return lk_err_set(err, LK_EUNSUPPORTED, "tensor %d (%s): data outside the flatbuffer", ti,
                      t->name);
  if ((rc = fb_vec(b, &bt, BUFFER_DATA, 1, b->len, &n, &data, err))) return rc;
  if (n == 0) return 0; /* empty buffer: an activation */
  size_t want;
  if (lk_size_mul(t->count, (size_t)type_size(t->type), &want) || n != want)
    return lk_err_set(err, LK_ECORRUPT,
                      "tensor %d (%s): buffer has %zu bytes, shape needs %zu", ti, t->name, n,
                      want);
  t->data = malloc(t->count * sizeof *t->data);
  if (!t->data) return lk_err_set(err, LK_ENOMEM, "out of memory");
  dequantise(t, b->p + data, t->data);
  return 0;
}

/* ---- Operators --------------------------------------------------------------------------- */

static int read_index_vec(const fb *b, const fb_table *t, int slot, int allow_absent, int ntensors,
                          int **out, int *count, int opi, lk_errbuf *err) {
  size_t n, data;
  int rc = fb_vec(b, t, slot, 4, LK_NN_MAX_OP_IO, &n, &data, err);
  if (rc) return rc;
  *out = malloc((n ? n : 1) * sizeof **out);
  if (!*out) return lk_err_set(err, LK_ENOMEM, "out of memory");
  *count = (int)n;
  for (size_t i = 0; i < n; i++) {
    int32_t v = (int32_t)rd32(b->p + data + 4 * i);
    if ((v == -1 && !allow_absent) || v < -1 || v >= ntensors)
      return lk_err_set(err, LK_ECORRUPT, "operator %d: tensor index %d out of range", opi,
                        (int)v);
    (*out)[i] = v;
  }
  return 0;
}

static int map_act(int8_t a, int opi, lk_errbuf *err, int *act) {
  switch (a) {
  case 0: *act = LK_ACT_NONE; return 0;
  case 1: *act = LK_ACT_RELU; return 0;
  case 3: *act = LK_ACT_RELU6; return 0;
  default:
    return lk_err_set(err, LK_EUNSUPPORTED, "operator %d: fused activation %d not supported",
                      opi, (int)a);
  }
}

static int read_options(const fb *b, const fb_table *ot, lk_nn_op *op, lk_errbuf *err) {
  int rc = 0;
  int32_t v;
  uint8_t u;
  int i = op->index;
  op->stride_w = op->stride_h = op->dil_w = op->dil_h = 1;
  op->filter_w = op->filter_h = 1;
  op->beta = 1.0f;
#define GET_I32(slot, def, dst) \
  do { if ((rc = fb_i32(b, ot, slot, def, &v, err))) return rc; dst = v; } while (0)
#define GET_U8(slot, dst) \
  do { if ((rc = fb_u8(b, ot, slot, 0, &u, err))) return rc; dst = u; } while (0)
#define GET_ACT(slot) \
  do { if ((rc = fb_u8(b, ot, slot, 0, &u, err))) return rc; \
       if ((rc = map_act((int8_t)u, i, err, &op->act))) return rc; } while (0)
  switch (op->code) {
  case LK_OP_CONV_2D:
    GET_U8(0, op->padding);
    GET_I32(1, 1, op->stride_w);
    GET_I32(2, 1, op->stride_h);
    GET_ACT(3);
    GET_I32(4, 1, op->dil_w);
    GET_I32(5, 1, op->dil_h);
    break;
  case LK_OP_DEPTHWISE_CONV_2D:
    GET_U8(0, op->padding);
    GET_I32(1, 1, op->stride_w);
    GET_I32(2, 1, op->stride_h);
    /* slot 3 depth_multiplier: implied by the weight shape (as TFLite does) */
    GET_ACT(4);
    GET_I32(5, 1, op->dil_w);
    GET_I32(6, 1, op->dil_h);
    break;
  case LK_OP_AVERAGE_POOL_2D:
  case LK_OP_MAX_POOL_2D:
    GET_U8(0, op->padding);
    GET_I32(1, 1, op->stride_w);
    GET_I32(2, 1, op->stride_h);
    GET_I32(3, 1, op->filter_w);
    GET_I32(4, 1, op->filter_h);
    GET_ACT(5);
    break;
  case LK_OP_ADD:
    GET_ACT(0);
    break;
  case LK_OP_SOFTMAX:
    if ((rc = fb_f32(b, ot, 0, 1.0f, &op->beta, err))) return rc;
    break;
  case LK_OP_CONCATENATION:
    GET_I32(0, 0, op->axis);
    GET_ACT(1);
    break;
  case LK_OP_RESIZE_BILINEAR:
    GET_U8(2, op->align_corners);
    GET_U8(3, op->half_pixel_centers);
    break;
  case LK_OP_MEAN:
    GET_U8(0, op->keep_dims);
    break;
  default:
    break;
  }
#undef GET_I32
#undef GET_U8
#undef GET_ACT
  if (op->padding != LK_PAD_SAME && op->padding != LK_PAD_VALID)
    return lk_err_set(err, LK_ECORRUPT, "operator %d: bad padding %d", i, op->padding);
  return rc;
}

static int read_operator(const fb *b, const fb_table *t, const int *codes, size_t ncodes,
                         int ntensors, lk_nn_op *op, lk_errbuf *err) {
  int rc;
  int32_t idx;
  if ((rc = fb_i32(b, t, OP_OPCODE, 0, &idx, err))) return rc;
  if ((uint32_t)idx >= ncodes)
    return lk_err_set(err, LK_ECORRUPT, "operator %d: opcode index %u out of range", op->index,
                      (unsigned)idx);
  op->code = codes[idx];
  if (!op_supported(op->code))
    return lk_err_set(err, LK_EUNSUPPORTED, "unsupported op %s (code %d) at operator %d",
                      lk_nn_op_name(op->code), op->code, op->index);
  if ((rc = read_index_vec(b, t, OP_INPUTS, 1, ntensors, &op->in, &op->nin, op->index, err)))
    return rc;
  if ((rc = read_index_vec(b, t, OP_OUTPUTS, 0, ntensors, &op->out, &op->nout, op->index, err)))
    return rc;
  uint8_t otype;
  if ((rc = fb_u8(b, t, OP_OPTIONS_TYPE, 0, &otype, err))) return rc;
  fb_table ot;
  int present;
  if ((rc = fb_subtable(b, t, OP_OPTIONS, &ot, &present, err))) return rc;
  int want = op_options_type(op->code);
  if (present && want != OPT_NONE && otype != want)
    return lk_err_set(err, LK_ECORRUPT, "operator %d (%s): options of type %d", op->index,
                      lk_nn_op_name(op->code), otype);
  return read_options(b, present ? &ot : NULL, op, err);
}

/* ---- Model ------------------------------------------------------------------------------- */

int lk_tflite_parse(const uint8_t *buf, size_t len, lk_model *m, lk_errbuf *err) {
  fb b = {buf, len};
  int rc;
  if (len < 8) return corrupt(err, "file too small");
  if (len > LK_NN_MAX_FILE)
    return lk_err_set(err, LK_ETOOBIG, "TFLite model: %zu bytes (limit %zu)", len,
                      (size_t)LK_NN_MAX_FILE);
  if (memcmp(buf + 4, "TFL3", 4) != 0)
    return corrupt(err, "bad magic (file identifier is not TFL3)");

  fb_table root;
  if ((rc = fb_table_at(&b, rd32(buf), &root, err))) return rc;

  /* operator codes */
  size_t ncodes, codevec;
  if ((rc = fb_vec(&b, &root, MODEL_OPCODES, 4, LK_NN_MAX_OPCODES, &ncodes, &codevec, err)))
    return rc;
  int *codes = malloc((ncodes ? ncodes : 1) * sizeof *codes);
  if (!codes) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < ncodes; i++) {
    fb_table ct;
    uint8_t dep;
    int32_t code;
    if ((rc = fb_vec_table(&b, codevec, i, &ct, err)) ||
        (rc = fb_u8(&b, &ct, OPCODE_DEPRECATED, 0, &dep, err)) ||
        (rc = fb_i32(&b, &ct, OPCODE_BUILTIN, 0, &code, err))) {
      free(codes);
      return rc;
    }
    /* Old writers only fill the byte field; new ones put 127 there and use the int. */
    codes[i] = (int8_t)dep > code ? (int8_t)dep : code;
  }

  /* the first subgraph is the model */
  size_t nsg, sgvec;
  fb_table sg;
  if ((rc = fb_vec(&b, &root, MODEL_SUBGRAPHS, 4, 1024, &nsg, &sgvec, err))) goto out;
  if (nsg < 1) {
    rc = corrupt(err, "no subgraph");
    goto out;
  }
  if ((rc = fb_vec_table(&b, sgvec, 0, &sg, err))) goto out;

  size_t nbuf, bufvec;
  if ((rc = fb_vec(&b, &root, MODEL_BUFFERS, 4, LK_NN_MAX_BUFFERS, &nbuf, &bufvec, err)))
    goto out;

  size_t nt, tvec;
  if ((rc = fb_vec(&b, &sg, SG_TENSORS, 4, LK_NN_MAX_TENSORS, &nt, &tvec, err))) goto out;
  m->tensors = calloc(nt ? nt : 1, sizeof *m->tensors);
  if (!m->tensors) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  m->ntensors = (int)nt;
  for (size_t i = 0; i < nt; i++) {
    fb_table tt;
    if ((rc = fb_vec_table(&b, tvec, i, &tt, err))) goto out;
    if ((rc = read_tensor(&b, &tt, (int)i, bufvec, nbuf, &m->tensors[i], err))) goto out;
  }

  int *inputs = NULL, ninputs = 0;
  rc = read_index_vec(&b, &sg, SG_INPUTS, 0, m->ntensors, &inputs, &ninputs, -1, err);
  if (!rc && ninputs != 1)
    rc = lk_err_set(err, LK_EUNSUPPORTED, "model has %d inputs; one image input expected",
                    ninputs);
  if (!rc) m->input = inputs[0];
  free(inputs);
  if (rc) goto out;
  if ((rc = read_index_vec(&b, &sg, SG_OUTPUTS, 0, m->ntensors, &m->outputs, &m->noutputs, -1,
                           err)))
    goto out;

  size_t nops, opvec;
  if ((rc = fb_vec(&b, &sg, SG_OPERATORS, 4, LK_NN_MAX_OPS, &nops, &opvec, err))) goto out;
  m->ops = calloc(nops ? nops : 1, sizeof *m->ops);
  if (!m->ops) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nops; i++) {
    fb_table ot;
    m->ops[i].index = (int)i;
    m->nops = (int)i + 1; /* so lk_nn_model_clear frees what was allocated */
    if ((rc = fb_vec_table(&b, opvec, i, &ot, err))) goto out;
    if ((rc = read_operator(&b, &ot, codes, ncodes, m->ntensors, &m->ops[i], err))) goto out;
  }
  rc = 0;
out:
  free(codes);
  return rc;
}
