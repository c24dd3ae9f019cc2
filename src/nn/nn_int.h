/* nn/nn_int.h — the inference engine's graph IR, shared inside src/nn/ only.
 * tflite.c fills it from a .tflite flatbuffer, model.c validates every op's shapes once at
 * load (so kernels can trust them), session.c plans and runs it. Constant tensors hold
 * their values dequantised to float; activations keep their quantisation parameters so a
 * session can round them to the grid the official runtime would use. */
#ifndef LK_NN_NN_INT_H
#define LK_NN_NN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/dnnl_backend.h" /* enum lk_act, shared by both backends */
#include "nn/model.h"

/* Limits on what a model file may declare (every parser has limits). */
#define LK_NN_MAX_FILE ((size_t)1 << 30)  /* bytes */
#define LK_NN_MAX_TENSORS 65536
#define LK_NN_MAX_OPS 16384
#define LK_NN_MAX_OPCODES 4096
#define LK_NN_MAX_BUFFERS 65537
#define LK_NN_MAX_OP_IO 1024              /* inputs or outputs of one op */
#define LK_NN_MAX_DIMS 8
#define LK_NN_MAX_NAME 4096               /* bytes of a tensor name */
#define LK_NN_MAX_ELEMS ((size_t)1 << 28) /* elements of one tensor */
#define LK_NN_MAX_DIM 65536               /* any single spatial/kernel/stride parameter */

/* TFLite TensorType values (schema.fbs). */
enum lk_nn_type {
  LK_NN_FLOAT32 = 0,
  LK_NN_INT32 = 2,
  LK_NN_UINT8 = 3,
  LK_NN_INT64 = 4,
  LK_NN_INT8 = 9,
};

/* TFLite BuiltinOperator values for the ops this engine runs. */
enum lk_nn_opcode {
  LK_OP_ADD = 0,
  LK_OP_AVERAGE_POOL_2D = 1,
  LK_OP_CONCATENATION = 2,
  LK_OP_CONV_2D = 3,
  LK_OP_DEPTHWISE_CONV_2D = 4,
  LK_OP_DEQUANTIZE = 6,
  LK_OP_MAX_POOL_2D = 17,
  LK_OP_RESHAPE = 22,
  LK_OP_RESIZE_BILINEAR = 23,
  LK_OP_SOFTMAX = 25,
  LK_OP_MEAN = 40,
  LK_OP_ARG_MAX = 56,
  LK_OP_QUANTIZE = 114,
};

enum lk_nn_padding { LK_PAD_SAME = 0, LK_PAD_VALID = 1 };

typedef struct lk_nn_tensor {
  char *name;                 /* never NULL ("" when the file has none) */
  int type;                   /* enum lk_nn_type */
  int ndims;                  /* 0 (scalar) .. LK_NN_MAX_DIMS */
  int dims[LK_NN_MAX_DIMS];   /* each > 0 */
  size_t count;               /* product of dims (1 for a scalar) */
  int nq;                     /* number of scales: 0 none, 1 per tensor, >1 per channel */
  int qdim;                   /* axis the scales run along when nq > 1 */
  float *scale;               /* nq values */
  int32_t *zero_point;        /* nq values */
  float *data;                /* constants: count dequantised values; activations: NULL */
  int producer;               /* op writing it, -1 for constants and the graph input */
} lk_nn_tensor;

typedef struct lk_nn_op {
  int code;    /* enum lk_nn_opcode */
  int index;   /* position in the file, for messages */
  int nin, nout;
  int *in;     /* tensor indices; -1 = optional input absent */
  int *out;
  /* Options, filled per op type (zero/default otherwise). */
  int padding; /* enum lk_nn_padding */
  int stride_w, stride_h, dil_w, dil_h;
  int filter_w, filter_h;
  int act;     /* enum lk_act */
  float beta;  /* SOFTMAX */
  int axis;    /* CONCATENATION, ARG_MAX: normalised to [1, ndims) at validation */
  int keep_dims;
  int reduce_mask; /* MEAN: bit d set when axis d is reduced (set at validation) */
  int align_corners, half_pixel_centers;
  /* Geometry computed at validation for CONV_2D, DEPTHWISE_CONV_2D and the pools. */
  int pad_t, pad_l, pad_b, pad_r;
} lk_nn_op;

struct lk_model {
  lk_nn_tensor *tensors;
  int ntensors;
  lk_nn_op *ops;
  int nops;
  int input;   /* the single image input tensor */
  int *outputs;
  int noutputs;
};

/* Parses a TFLite flatbuffer into m (zeroed by the caller); on error m may be partly
 * filled and is released with lk_nn_model_clear. Implemented in tflite.c. */
int lk_tflite_parse(const uint8_t *buf, size_t len, lk_model *m, lk_errbuf *err);
/* Frees everything m owns (not m itself). */
void lk_nn_model_clear(lk_model *m);
/* Name of a BuiltinOperator code ("CONV_2D"), "UNKNOWN" past the table; never NULL. */
const char *lk_nn_op_name(int code);

/* The input tensor's value for a pixel value px (0..255) is ((float)px + offset) * scale:
 * FLOAT32 inputs take the raw pixel values, uint8 ones (px - zero_point) * scale, int8 ones
 * (px - 128 - zero_point) * scale. Implemented in model.c. */
void lk_nn_input_affine(const lk_nn_tensor *t, float *offset, float *scale);

/* Activation memory: anonymous pages with transparent huge pages asked for (MADV_HUGEPAGE),
 * every page touched before returning, so no run pays first-touch page faults (~27 us per
 * 4 KiB page on small VMs). *mapped receives the length to give lk_nn_big_free. NULL on
 * failure. Implemented in model.c. */
void *lk_nn_big_alloc(size_t bytes, size_t *mapped);
void lk_nn_big_free(void *p, size_t mapped); /* NULL-safe */

/* True when the tensor carries one uint8/int8 scale the activations should be rounded to;
 * then qmin and qmax receive the integer range. */
int lk_nn_tensor_fake_quant(const lk_nn_tensor *t, float *scale, int *zp, int *qmin, int *qmax);

#endif
