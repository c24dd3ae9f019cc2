/* tests/test_nn.c — the inference engine: reference kernels against hand-computed cases,
 * the TFLite reader against hand-built (and then broken) flatbuffers, sessions (batching,
 * buffer reuse, pruning, pooling), the golden test against the official TFLite runtime
 * (fixtures in tests/golden/, made by tools/golden/regen.sh) and the oneDNN backend against
 * the reference. With LK_NN_WRITE_SEEDS=DIR it also writes the fuzz seeds it builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"
#include "nn/model.h"
#include "nn/nn_int.h"
#include "nn/ops_ref.h"
#include "testutil.h"
#include "util/rng.h"

static void assert_close(const float *got, const float *want, size_t n, float tol) {
  for (size_t i = 0; i < n; i++) {
    if (!(fabsf(got[i] - want[i]) <= tol)) {
      fail_msg("element %zu: got %.7g, want %.7g", i, got[i], want[i]);
    }
  }
}

static double cosine(const float *a, const float *b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  if (aa == 0 && bb == 0) return 1;
  return ab / sqrt(aa * bb + 1e-300);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* util/rng.h's splitmix64, state passed explicitly */
static int rnd_int(uint64_t *s, int lo, int hi) { /* inclusive */
  return lo + (int)(lk_rng_next(s) % (uint64_t)(hi - lo + 1));
}
static float rnd_unit(uint64_t *s) { /* [-1, 1) */
  return (float)((double)(lk_rng_next(s) >> 11) / 9007199254740992.0 * 2 - 1);
}

/* ==== Reference kernels against hand-computed numbers ===================================== */

/* 3x3 input, two channels (v and -v); oc0 = all-ones kernel on channel 0 (neighbourhood
 * sums), oc1 = 2*centre(ch0) + 1*centre(ch1) = v; bias 0.5 / 0; SAME padding. */
static void test_ref_conv_3x3(void **state) {
  float in[9 * 2], w[2 * 3 * 3 * 2] = {0}, bias[2] = {0.5f, 0};
  for (int i = 0; i < 9; i++) {
    in[2 * i] = (float)(i + 1);
    in[2 * i + 1] = -(float)(i + 1);
  }
  for (int k = 0; k < 9; k++) w[k * 2 + 0] = 1;  /* oc0, tap k, ch0 */
  w[18 + 4 * 2 + 0] = 2;                         /* oc1, centre, ch0 */
  w[18 + 4 * 2 + 1] = 1;                         /* oc1, centre, ch1 */
  lk_conv_params p = {.n = 1, .ih = 3, .iw = 3, .ic = 2, .oh = 3, .ow = 3, .oc = 2, .kh = 3,
                      .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pad_t = 1, .pad_l = 1,
                      .pad_b = 1, .pad_r = 1, .weights = w, .bias = bias};
  float out[18];
  lk_ref_conv(&p, in, out);
  const float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; i++) {
    assert_float_equal(out[2 * i], sums[i] + 0.5f, 1e-5);
    assert_float_equal(out[2 * i + 1], (float)(i + 1), 1e-5);
  }
  /* the same with RELU6 and a fake-quant grid of 0.25 */
  p.act = LK_ACT_RELU6;
  p.fake_quant = 1;
  p.q_scale = 0.25f;
  p.q_zero_point = 0;
  p.q_min = 0;
  p.q_max = 255;
  lk_ref_conv(&p, in, out);
  assert_float_equal(out[0], 6, 0);
  assert_float_equal(out[1], 1, 0);
}

/* Stride 2 with SAME padding on a 4x4 input: TFLite pads 0 before and 1 after; with
 * dilation 2 and VALID on 5x5 the kernel samples every other pixel. */
static void test_ref_conv_stride_dilation(void **state) {
  float in[25], w[9];
  for (int i = 0; i < 25; i++) in[i] = (float)i;
  for (int i = 0; i < 9; i++) w[i] = 1;
  lk_conv_params p = {.n = 1, .ih = 4, .iw = 4, .ic = 1, .oh = 2, .ow = 2, .oc = 1, .kh = 3,
                      .kw = 3, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pad_b = 1, .pad_r = 1,
                      .weights = w};
  float in4[16], out[4];
  for (int i = 0; i < 16; i++) in4[i] = (float)i;
  lk_ref_conv(&p, in4, out);
  /* (0,0): rows 0-2, cols 0-2; (1,1): rows 2-3, cols 2-3 */
  const float want[4] = {0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10, 2 + 3 + 6 + 7 + 10 + 11,
                         8 + 9 + 10 + 12 + 13 + 14, 10 + 11 + 14 + 15};
  assert_close(out, want, 4, 1e-5f);

  lk_conv_params d = {.n = 1, .ih = 5, .iw = 5, .ic = 1, .oh = 1, .ow = 1, .oc = 1, .kh = 3,
                      .kw = 3, .sh = 1, .sw = 1, .dh = 2, .dw = 2, .weights = w};
  lk_ref_conv(&d, in, out);
  assert_float_equal(out[0], 0 + 2 + 4 + 10 + 12 + 14 + 20 + 22 + 24, 1e-5);
}

/* Depthwise, multiplier 2: output channel c*2+m reads input channel c. */
static void test_ref_depthwise(void **state) {
  /* input 1x2x2x2: pixel k has channels (k+1, 10*(k+1)) */
  float in[8] = {1, 10, 2, 20, 3, 30, 4, 40};
  /* weights [1][2][2][4]: every tap weight t+1 for oc0, 1 for oc1, -1 for oc2, t for oc3 */
  float w[16];
  for (int t = 0; t < 4; t++) {
    w[t * 4 + 0] = (float)(t + 1);
    w[t * 4 + 1] = 1;
    w[t * 4 + 2] = -1;
    w[t * 4 + 3] = (float)t;
  }
  float bias[4] = {0, 0, 100, 0}, out[4];
  lk_conv_params p = {.n = 1, .ih = 2, .iw = 2, .ic = 2, .oh = 1, .ow = 1, .oc = 4, .kh = 2,
                      .kw = 2, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .depthwise = 1,
                      .weights = w, .bias = bias};
  lk_ref_conv(&p, in, out);
  const float want[4] = {1 * 1 + 2 * 2 + 3 * 3 + 4 * 4, 1 + 2 + 3 + 4, 100 - 100,
                         0 * 10 + 1 * 20 + 2 * 30 + 3 * 40};
  assert_close(out, want, 4, 1e-4f);
}

/* 2x2 windows with SAME padding on 3x3: the last row/column windows hold fewer cells and the
 * average divides by the cells inside the input only. */
static void test_ref_pools(void **state) {
  float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, out[9];
  lk_pool_params p = {.n = 1, .ih = 3, .iw = 3, .c = 1, .oh = 3, .ow = 3, .kh = 2, .kw = 2,
                      .sh = 1, .sw = 1, .pad_t = 0, .pad_l = 0};
  lk_ref_avg_pool(&p, in, out);
  const float avg[9] = {3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9};
  assert_close(out, avg, 9, 1e-6f);
  lk_ref_max_pool(&p, in, out);
  const float mx[9] = {5, 6, 6, 8, 9, 9, 8, 9, 9};
  assert_close(out, mx, 9, 0);
  /* padding before: window of output 0 starts at -1 */
  lk_pool_params q = {.n = 1, .ih = 3, .iw = 3, .c = 1, .oh = 2, .ow = 2, .kh = 3, .kw = 3,
                      .sh = 2, .sw = 2, .pad_t = 1, .pad_l = 1, .act = LK_ACT_RELU6};
  lk_ref_avg_pool(&q, in, out);
  const float avg2[4] = {3, 4, 6, 6}; /* relu6 caps (5+6+8+9)/4 = 7 and 7 */
  assert_close(out, avg2, 4, 1e-6f);
}

static void test_ref_elementwise(void **state) {
  float a[4] = {1, 5, -3, 4}, b[4] = {2, 3, 1, -10}, out[4];
  lk_ref_add(a, b, 4, LK_ACT_RELU6, out);
  const float want[4] = {3, 6, 0, 0};
  assert_close(out, want, 4, 0);

  float x[6] = {1, 2, 3, 0, 0, 0}, y[6];
  lk_ref_softmax(x, 2, 3, 1.0f, y);
  const float sm[6] = {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f};
  assert_close(y, sm, 6, 1e-6f);
  lk_ref_softmax(x, 1, 3, 2.0f, y); /* beta 2 = softmax of 2,4,6 */
  const float sm2[3] = {0.01587624f, 0.11731043f, 0.86681333f};
  assert_close(y, sm2, 3, 1e-6f);

  /* concat along channels of two 1x2x1xC tensors (C = 1 and 2) */
  float c1[2] = {1, 2}, c2[4] = {10, 11, 20, 21}, cat[6];
  const float *ins[2] = {c1, c2};
  size_t inner[2] = {1, 2};
  lk_ref_concat(ins, inner, 2, 2, cat);
  const float wantc[6] = {1, 10, 11, 2, 20, 21};
  assert_close(cat, wantc, 6, 0);

  /* mean over axes 1,2 of 1x2x2x2; arg max over the last axis */
  float m[8] = {1, 10, 2, 20, 3, 30, 4, 40}, mo[2];
  int dims[4] = {1, 2, 2, 2};
  lk_ref_mean(m, dims, 4, 0x6, mo);
  assert_float_equal(mo[0], 2.5, 1e-6);
  assert_float_equal(mo[1], 25, 1e-5);
  float am_in[6] = {0, 3, 3, 7, -1, 2}, am[2];
  lk_ref_arg_max(am_in, 2, 3, 1, am);
  assert_float_equal(am[0], 1, 0); /* first of the tied maxima */
  assert_float_equal(am[1], 0, 0);
}

static void test_ref_resize(void **state) {
  float in[4] = {0, 1, 2, 3}, out[16];
  /* align_corners 2x2 -> 3x3: corners kept, centre is the mean */
  lk_ref_resize_bilinear(in, 1, 2, 2, 1, 3, 3, 1, 0, out);
  const float ac[9] = {0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3};
  assert_close(out, ac, 9, 1e-6f);
  /* plain 2x2 -> 4x4: source coordinate = o * 0.5, clamped at the last row/column */
  lk_ref_resize_bilinear(in, 1, 2, 2, 1, 4, 4, 0, 0, out);
  const float pl[16] = {0, 0.5f, 1, 1, 1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 2, 2.5f, 3, 3};
  assert_close(out, pl, 16, 1e-6f);
  /* half-pixel centres: source = (o + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25 */
  lk_ref_resize_bilinear(in, 1, 2, 2, 1, 4, 4, 0, 1, out);
  const float hp[4] = {0, 0.25f, 0.75f, 1}; /* first row */
  assert_close(out, hp, 4, 1e-6f);
  assert_float_equal(out[5], 0.25f + 2 * 0.25f, 1e-6); /* (y=0.25, x=0.25) */
}

static void test_ref_fake_quant(void **state) {
  static const struct {
    float x, scale;
    int zp, qmin, qmax;
    float want;
  } cases[] = {
      {0.25f, 0.5f, 10, 0, 255, 0.5f},     /* 0.5 steps: ties round away from zero */
      {-0.25f, 0.5f, 10, 0, 255, -0.5f},
      {0.74f, 0.5f, 10, 0, 255, 0.5f},
      {200, 0.5f, 10, 0, 255, 122.5f},     /* clamps at qmax */
      {-10, 0.5f, 10, 0, 255, -5},         /* clamps at qmin */
      {0.05f, 0.1f, -128, -128, 127, 0.1f}, /* int8 grid */
      {-0.3f, 0.1f, -128, -128, 127, 0},    /* below zero clamps to the zero point */
      {6.0f, 6.0f / 255, 0, 0, 255, 6.0f},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    float x = cases[i].x;
    lk_ref_fake_quant(&x, 1, cases[i].scale, cases[i].zp, cases[i].qmin, cases[i].qmax);
    if (fabsf(x - cases[i].want) > 1e-6f)
      fail_msg("case %zu: %g -> %g, want %g", i, cases[i].x, x, cases[i].want);
  }
  float nan = NAN;
  lk_ref_fake_quant(&nan, 1, 1, 0, 0, 255);
  assert_float_equal(nan, 0, 0);
}

/* TFLite's double rounding: real multiplier 0.125 = 0.5 (fixed point) * 2^-2. The product is
 * rounded to an integer first, then shifted with ties upwards, so 11 * 0.125 = 1.375 comes
 * out as 2 (not 1), 3 * 0.125 = 0.375 as 1 (not 0) and -12 * 0.125 = -1.5 as -1. */
static void test_ref_requant(void **state) {
  double mult, inv_unit = 1, inv_pow2;
  int shift;
  lk_ref_quantize_multiplier(0.125, &mult, &shift);
  assert_float_equal(mult, 0.5, 0);
  assert_int_equal(shift, 2);
  static const struct {
    double real, mult;
    int shift;
  } qm[] = {{0.75, 0.75, 0}, {3.0, 3.0, 0}, {1.0, 1.0, 0}, {0x1p-40, 0, 0}, {0.3, 0.6, 1}};
  for (size_t i = 0; i < sizeof qm / sizeof qm[0]; i++) {
    lk_ref_quantize_multiplier(qm[i].real, &mult, &shift);
    if (fabs(mult - qm[i].mult) > 1e-9 || shift != qm[i].shift)
      fail_msg("multiplier %g: %g >> %d", qm[i].real, mult, shift);
  }
  lk_ref_quantize_multiplier(0.125, &mult, &shift);
  inv_pow2 = 0.25;
  lk_requant r = {1, &inv_unit, &mult, &inv_pow2, 1.0f, 0, -128, 127};
  static const struct {
    float y, want;
  } cases[] = {{11, 2}, {-11, -1}, {-12, -1}, {12, 2}, {10.9999f, 2}, {4, 1}, {3, 1}, {2, 0},
               {2000, 127}, {-2000, -128}, {0, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    float y = cases[i].y;
    lk_ref_requant(&y, 1, &r);
    if (y != cases[i].want) fail_msg("requant %g -> %g, want %g", cases[i].y, y, cases[i].want);
  }
  /* nine channels (vector path plus tail) agree with one channel at a time */
  double iu[9], mu[9], ip[9];
  uint64_t seed = 3;
  for (int c = 0; c < 9; c++) {
    int sh;
    iu[c] = 1 / (0.001 * (c + 1));
    lk_ref_quantize_multiplier(0.001 * (c + 1) / 0.05 * (1 + 0.1 * rnd_unit(&seed)), &mu[c], &sh);
    ip[c] = ldexp(1, -sh);
  }
  float y[9 * 50], one[9 * 50];
  for (int i = 0; i < 9 * 50; i++) /* include exact accumulator values */
    one[i] = y[i] = (float)((double)rnd_int(&seed, -3000, 3000) / iu[i % 9]);
  lk_requant r9 = {9, iu, mu, ip, 0.05f, 3, -128, 127};
  lk_ref_requant(y, 9 * 50, &r9);
  for (int i = 0; i < 9 * 50; i++) {
    int c = i % 9;
    lk_requant r1 = {1, iu + c, mu + c, ip + c, 0.05f, 3, -128, 127};
    lk_ref_requant(one + i, 1, &r1);
    if (one[i] != y[i]) fail_msg("element %d: vector %g, scalar %g", i, y[i], one[i]);
  }
}

/* The integer ADD, AVERAGE_POOL and MEAN kernels, computed by hand in TFLite's arithmetic. */
static void test_ref_quantized_ops(void **state) {
  /* ADD: a on 0.5 (zp 10), b on 0.25 (zp 0), out on 1 (zp 5). 2 + 0.75 = 2.75 -> 3;
   * ties go away from zero: 2.5 -> 3, -2.5 -> -3 (clamped to 0 by a RELU range). */
  float a[3] = {2, 2, -2}, b[3] = {0.75f, 0.5f, -0.5f}, out[4];
  lk_qgrid ga = {0.5f, 10}, gb = {0.25f, 0};
  lk_qout qo = {1, 5, 0, 255};
  lk_ref_add_q(a, ga, b, gb, 3, &qo, out);
  const float want_add[3] = {3, 3, -3};
  assert_close(out, want_add, 3, 0);
  qo.qmin = 5; /* fused RELU: nothing below the zero point */
  lk_ref_add_q(a, ga, b, gb, 3, &qo, out);
  assert_float_equal(out[2], 0, 0);

  /* The vector path (16 at a time, tabulated steps) equals the scalar one (a call per
   * value) on every pair of 8-bit steps, for grids like MobileNetV2's, and past the tables
   * (steps beyond 255 and NaN fall back mid-array). */
  const lk_qgrid grids[3][2] = {{{0.0235294f, 0}, {0.0313725f, 5}},
                                {{0.1066f, 128}, {0.0417f, 131}},
                                {{0.5f, -3}, {0.5f, -3}}};
  const lk_qout outs[3] = {{0.0392157f, 3, 3, 255}, {0.1217f, 125, 0, 255}, {0.75f, -1, -128, 127}};
  const size_t nall = 511 * 511 + 40;
  float *va = malloc(nall * sizeof *va), *vb = malloc(nall * sizeof *vb);
  float *vo = malloc(nall * sizeof *vo), *so = malloc(nall * sizeof *so);
  for (int k = 0; k < 3; k++) {
    size_t n = 0;
    for (int i = -255; i <= 255; i++)
      for (int j = -255; j <= 255; j++) {
        va[n] = grids[k][0].scale * (float)i;
        vb[n++] = grids[k][1].scale * (float)j;
      }
    for (int i = 0; i < 40; i++, n++) { /* then out-of-table steps and a NaN */
      va[n] = grids[k][0].scale * (float)(i == 20 ? 300 : i - 20);
      vb[n] = i == 30 ? NAN : grids[k][1].scale * (float)(-400 + i);
    }
    lk_ref_add_q(va, grids[k][0], vb, grids[k][1], n, &outs[k], vo);
    for (size_t i = 0; i < n; i++) lk_ref_add_q(va + i, grids[k][0], vb + i, grids[k][1], 1, &outs[k], so + i);
    for (size_t i = 0; i < n; i++)
      if (memcmp(&vo[i], &so[i], sizeof(float)))
        fail_msg("add_q grid set %d value %zu: vector %g, scalar %g", k, i, vo[i], so[i]);
  }
  free(va);
  free(vb);
  free(vo);
  free(so);

  /* AVERAGE_POOL over 2x2 of raw integers: (sum + 2) / 4, ties away from zero */
  lk_pool_params p = {.n = 1, .ih = 2, .iw = 2, .c = 1, .oh = 1, .ow = 1, .kh = 2, .kw = 2,
                      .sh = 1, .sw = 1};
  lk_qout qp = {0.5f, 0, -128, 127};
  const float pin[3][4] = {{0.5f, 1, 1, 1}, {0.5f, 1, 1, 0.5f}, {-0.5f, -1, -1, -0.5f}};
  const float pwant[3] = {1, 1, -1}; /* q 7/4 -> 2, 6/4 -> 2, -6/4 -> -2 */
  for (int i = 0; i < 3; i++) {
    lk_ref_avg_pool_q(&p, pin[i], &qp, out);
    if (out[0] != pwant[i]) fail_msg("avg pool case %d: %g", i, out[0]);
  }

  /* MEAN over H, W of int8 on 0.5 (zp -128) into 0.25 (zp -128): sum of q - zp = 6, times
   * 2 (the scale ratio) = 12, / 4 cells = 3 -> 0.75 */
  float min[4] = {0.5f, 1, 1, 0.5f};
  int dims[4] = {1, 2, 2, 1};
  lk_qgrid gi = {0.5f, -128};
  lk_qout qm = {0.25f, -128, -128, 127};
  lk_ref_mean_q(min, gi, dims, 4, 0x6, &qm, out);
  assert_float_equal(out[0], 0.75f, 0);
}

/* ==== A tiny flatbuffer builder for hand-made models ====================================== */

typedef struct fbb {
  uint8_t *b;
  size_t len, cap;
} fbb;

static size_t fbb_put(fbb *f, const void *p, size_t n, size_t align) {
  while (f->len % align) f->len++;
  if (f->len + n > f->cap) {
    f->cap = (f->len + n) * 2 + 64;
    f->b = realloc(f->b, f->cap);
    assert_non_null(f->b);
  }
  memset(f->b + f->len, 0, f->cap - f->len);
  size_t at = f->len;
  if (p) memcpy(f->b + at, p, n);
  f->len += n;
  return at;
}

static void fbb_w32(fbb *f, size_t pos, uint32_t v) { memcpy(f->b + pos, &v, 4); }

/* Points the offset field at `field` to `target` (written later, so forward). */
static void fbb_link(fbb *f, size_t field, size_t target) {
  assert_true(target > field);
  fbb_w32(f, field, (uint32_t)(target - field));
}

typedef struct fbf {
  int slot, size; /* size 1, 4 or 8; 0 = an offset field whose position goes to *ref */
  uint64_t val;
  size_t *ref;
} fbf;

/* Writes a vtable then its table; fields in the order given. Returns the table position. */
static size_t fbb_table(fbb *f, const fbf *fs, int n) {
  uint16_t vt[40] = {0};
  int nslots = 0;
  size_t off = 4;
  for (int i = 0; i < n; i++) {
    int sz = fs[i].size ? fs[i].size : 4;
    while (off % (size_t)(sz < 4 ? sz : 4)) off++;
    vt[2 + fs[i].slot] = (uint16_t)off;
    off += (size_t)sz;
    if (fs[i].slot + 1 > nslots) nslots = fs[i].slot + 1;
  }
  while (off % 4) off++;
  vt[0] = (uint16_t)(4 + 2 * nslots);
  vt[1] = (uint16_t)off;
  size_t vpos = fbb_put(f, vt, vt[0], 2);
  size_t tpos = fbb_put(f, NULL, off, 4);
  fbb_w32(f, tpos, (uint32_t)(tpos - vpos));
  for (int i = 0; i < n; i++) {
    size_t at = tpos + vt[2 + fs[i].slot];
    if (fs[i].size == 0) *fs[i].ref = at;
    else memcpy(f->b + at, &fs[i].val, (size_t)fs[i].size); /* little-endian host */
  }
  return tpos;
}

/* A vector of n elements of elem bytes. */
static size_t fbb_vec(fbb *f, const void *data, size_t n, size_t elem) {
  uint32_t cnt = (uint32_t)n;
  size_t at = fbb_put(f, &cnt, 4, elem > 4 ? elem : 4);
  if (elem > 4 && (at + 4) % elem) { /* keep 8-byte elements aligned: re-place the count */
    f->len = at;
    fbb_put(f, NULL, elem - 4, 1);
    at = fbb_put(f, &cnt, 4, 4);
  }
  fbb_put(f, data, n * elem, 1);
  return at;
}

typedef struct tspec {
  const char *name;
  int type, ndims, dims[4];
  float scale; /* 0: no quantisation */
  int zp;
  const void *data; /* constant bytes or NULL */
  size_t bytes;
} tspec;

typedef struct ospec {
  int code, nin, in[4], out;
  int opt_type, nopt;
  fbf opt[8];
} ospec;

typedef struct mspec {
  int nt, nops, input, output;
  const tspec *t;
  const ospec *ops;
} mspec;

static uint8_t *build_model(const mspec *m, size_t *len) {
  fbb f = {0};
  size_t root = fbb_put(&f, NULL, 4, 4);
  fbb_put(&f, "TFL3", 4, 1);
  size_t r_codes, r_sgs, r_bufs;
  fbf mf[] = {{0, 4, 3, NULL}, {1, 0, 0, &r_codes}, {2, 0, 0, &r_sgs}, {4, 0, 0, &r_bufs}};
  fbb_link(&f, root, fbb_table(&f, mf, 4));

  /* one OperatorCode per op */
  uint32_t zeros[64] = {0};
  size_t cv = fbb_vec(&f, zeros, (size_t)m->nops, 4);
  fbb_link(&f, r_codes, cv);
  for (int i = 0; i < m->nops; i++) {
    int c = m->ops[i].code;
    fbf cf[] = {{0, 1, (uint64_t)(c < 127 ? c : 127), NULL}, {2, 4, 1, NULL},
                {3, 4, (uint64_t)c, NULL}};
    fbb_link(&f, cv + 4 + 4 * (size_t)i, fbb_table(&f, cf, 3));
  }

  size_t sv = fbb_vec(&f, zeros, 1, 4);
  fbb_link(&f, r_sgs, sv);
  size_t r_t, r_in, r_out, r_ops;
  fbf sf[] = {{0, 0, 0, &r_t}, {1, 0, 0, &r_in}, {2, 0, 0, &r_out}, {3, 0, 0, &r_ops}};
  fbb_link(&f, sv + 4, fbb_table(&f, sf, 4));
  size_t tv = fbb_vec(&f, zeros, (size_t)m->nt, 4);
  fbb_link(&f, r_t, tv);
  int nbuf = 1;
  for (int i = 0; i < m->nt; i++) {
    const tspec *t = &m->t[i];
    size_t r_shape, r_name, r_q;
    fbf tf[] = {{0, 0, 0, &r_shape}, {1, 1, (uint64_t)t->type, NULL},
                {2, 4, (uint64_t)(t->data ? nbuf++ : 0), NULL}, {3, 0, 0, &r_name},
                {4, 0, 0, &r_q}};
    fbb_link(&f, tv + 4 + 4 * (size_t)i, fbb_table(&f, tf, t->scale > 0 ? 5 : 4));
    fbb_link(&f, r_shape, fbb_vec(&f, t->dims, (size_t)t->ndims, 4));
    fbb_link(&f, r_name, fbb_vec(&f, t->name, strlen(t->name), 1));
    if (t->scale > 0) {
      size_t r_s, r_z;
      fbf qf[] = {{2, 0, 0, &r_s}, {3, 0, 0, &r_z}};
      fbb_link(&f, r_q, fbb_table(&f, qf, 2));
      int64_t zp = t->zp;
      fbb_link(&f, r_s, fbb_vec(&f, &t->scale, 1, 4));
      fbb_link(&f, r_z, fbb_vec(&f, &zp, 1, 8));
    }
  }
  int32_t io[1] = {m->input};
  fbb_link(&f, r_in, fbb_vec(&f, io, 1, 4));
  io[0] = m->output;
  fbb_link(&f, r_out, fbb_vec(&f, io, 1, 4));
  size_t ov = fbb_vec(&f, zeros, (size_t)m->nops, 4);
  fbb_link(&f, r_ops, ov);
  for (int i = 0; i < m->nops; i++) {
    const ospec *o = &m->ops[i];
    size_t r_oi, r_oo, r_opt;
    fbf of[] = {{0, 4, (uint64_t)i, NULL}, {1, 0, 0, &r_oi}, {2, 0, 0, &r_oo},
                {3, 1, (uint64_t)o->opt_type, NULL}, {4, 0, 0, &r_opt}};
    fbb_link(&f, ov + 4 + 4 * (size_t)i, fbb_table(&f, of, o->opt_type ? 5 : 3));
    fbb_link(&f, r_oi, fbb_vec(&f, o->in, (size_t)o->nin, 4));
    fbb_link(&f, r_oo, fbb_vec(&f, &o->out, 1, 4));
    if (o->opt_type) fbb_link(&f, r_opt, fbb_table(&f, o->opt, o->nopt));
  }
  size_t bv = fbb_vec(&f, zeros, (size_t)nbuf, 4);
  fbb_link(&f, r_bufs, bv);
  fbb_link(&f, bv + 4, fbb_table(&f, NULL, 0)); /* buffer 0: empty */
  for (int i = 0, b = 1; i < m->nt; i++) {
    if (!m->t[i].data) continue;
    size_t r_d;
    fbf bf[] = {{0, 0, 0, &r_d}};
    fbb_link(&f, bv + 4 + 4 * (size_t)b++, fbb_table(&f, bf, 1));
    fbb_link(&f, r_d, fbb_vec(&f, m->t[i].data, m->t[i].bytes, 1));
  }
  *len = f.len;
  return f.b;
}

/* The test model: uint8 input 1x4x4x3 -> CONV_2D 3x3 stride 2 SAME relu6 (2 channels)
 * -> AVERAGE_POOL 2x2 VALID -> RESHAPE [1,2] -> SOFTMAX. */
enum { T_IN, T_W, T_B, T_CONV, T_POOL, T_FLAT, T_SHAPE, T_PROB, T_COUNT };
static uint8_t tiny_w[2 * 3 * 3 * 3];
static int32_t tiny_b[2] = {100, -50};
static const int32_t tiny_shape[2] = {1, 2};

static void tiny_spec(tspec *t, ospec *o) {
  for (int i = 0; i < (int)sizeof tiny_w; i++) tiny_w[i] = (uint8_t)(128 + (i * 37 % 41) - 20);
  const tspec ts[T_COUNT] = {
      {"input", LK_NN_UINT8, 4, {1, 4, 4, 3}, 1 / 128.f, 128, NULL, 0},
      {"conv/weights", LK_NN_UINT8, 4, {2, 3, 3, 3}, 0.01f, 128, tiny_w, sizeof tiny_w},
      {"conv/bias", LK_NN_INT32, 1, {2}, 0.01f / 128, 0, tiny_b, sizeof tiny_b},
      {"conv/Relu6", LK_NN_UINT8, 4, {1, 2, 2, 2}, 6 / 255.f, 0, NULL, 0},
      {"pool", LK_NN_UINT8, 4, {1, 1, 1, 2}, 6 / 255.f, 0, NULL, 0},
      {"flat", LK_NN_UINT8, 2, {1, 2}, 6 / 255.f, 0, NULL, 0},
      {"flat/shape", LK_NN_INT32, 1, {2}, 0, 0, tiny_shape, sizeof tiny_shape},
      {"prob", LK_NN_UINT8, 2, {1, 2}, 1 / 256.f, 0, NULL, 0},
  };
  memcpy(t, ts, sizeof ts);
  const ospec os[4] = {
      {LK_OP_CONV_2D, 3, {T_IN, T_W, T_B}, T_CONV, 1, 4,
       {{0, 1, LK_PAD_SAME, NULL}, {1, 4, 2, NULL}, {2, 4, 2, NULL}, {3, 1, 3, NULL}}},
      {LK_OP_AVERAGE_POOL_2D, 1, {T_CONV}, T_POOL, 5, 5,
       {{0, 1, LK_PAD_VALID, NULL}, {1, 4, 2, NULL}, {2, 4, 2, NULL}, {3, 4, 2, NULL},
        {4, 4, 2, NULL}}},
      {LK_OP_RESHAPE, 2, {T_POOL, T_SHAPE}, T_FLAT, 0, 0, {{0}}},
      {LK_OP_SOFTMAX, 1, {T_FLAT}, T_PROB, 9, 1, {{0, 4, 0x3f800000, NULL}}},
  };
  memcpy(o, os, sizeof os);
}

static uint8_t *tiny_model(size_t *len) {
  tspec t[T_COUNT];
  ospec o[4];
  tiny_spec(t, o);
  mspec m = {T_COUNT, 4, T_IN, T_PROB, t, o};
  return build_model(&m, len);
}

/* A float model computing y = 1x1 conv of the raw pixels (tap "y"), for exact checks. */
static uint8_t *float_model(size_t *len) {
  static const float w[2 * 3] = {1, 0, 0, 0.5f, 0.25f, -1}, b[2] = {0, 10};
  const tspec t[4] = {
      {"x", LK_NN_FLOAT32, 4, {1, 2, 2, 3}, 0, 0, NULL, 0},
      {"w", LK_NN_FLOAT32, 4, {2, 1, 1, 3}, 0, 0, w, sizeof w},
      {"b", LK_NN_FLOAT32, 1, {2}, 0, 0, b, sizeof b},
      {"y", LK_NN_FLOAT32, 4, {1, 2, 2, 2}, 0, 0, NULL, 0},
  };
  const ospec o[1] = {{LK_OP_CONV_2D, 3, {0, 1, 2}, 3, 1, 3,
                       {{0, 1, LK_PAD_VALID, NULL}, {1, 4, 1, NULL}, {2, 4, 1, NULL}}}};
  mspec m = {4, 1, 0, 3, t, o};
  return build_model(&m, len);
}

/* Every other op on float data: DEPTHWISE (multiplier 2) -> MAX_POOL -> RESIZE_BILINEAR ->
 * ADD (with the depthwise output) -> CONCATENATION -> MEAN over H,W -> QUANTIZE (uint8,
 * scale 0.5) -> DEQUANTIZE; and ARG_MAX over the concatenation's channels. */
enum { K_X, K_W, K_DW, K_MAX, K_SIZE, K_UP, K_ADD, K_CAT, K_AXES, K_MEAN, K_Q, K_DQ, K_DIM,
       K_ARG, K_COUNT };
static uint8_t *kitchen_model(size_t *len) {
  static const float w[6] = {1, -1, 2, 0.5f, 1, 1};
  static const int32_t size[2] = {2, 2}, axes[2] = {1, 2}, dim[1] = {3};
  const tspec t[K_COUNT] = {
      {"x", LK_NN_FLOAT32, 4, {1, 2, 2, 3}, 0, 0, NULL, 0},
      {"dw/w", LK_NN_FLOAT32, 4, {1, 1, 1, 6}, 0, 0, w, sizeof w},
      {"dw", LK_NN_FLOAT32, 4, {1, 2, 2, 6}, 0, 0, NULL, 0},
      {"max", LK_NN_FLOAT32, 4, {1, 1, 1, 6}, 0, 0, NULL, 0},
      {"up/size", LK_NN_INT32, 1, {2}, 0, 0, size, sizeof size},
      {"up", LK_NN_FLOAT32, 4, {1, 2, 2, 6}, 0, 0, NULL, 0},
      {"add", LK_NN_FLOAT32, 4, {1, 2, 2, 6}, 0, 0, NULL, 0},
      {"cat", LK_NN_FLOAT32, 4, {1, 2, 2, 12}, 0, 0, NULL, 0},
      {"mean/axes", LK_NN_INT32, 1, {2}, 0, 0, axes, sizeof axes},
      {"mean", LK_NN_FLOAT32, 2, {1, 12}, 0, 0, NULL, 0},
      {"q", LK_NN_UINT8, 2, {1, 12}, 0.5f, 0, NULL, 0},
      {"dq", LK_NN_FLOAT32, 2, {1, 12}, 0, 0, NULL, 0},
      {"arg/dim", LK_NN_INT32, 0, {0}, 0, 0, dim, sizeof dim},
      {"arg", LK_NN_INT64, 3, {1, 2, 2}, 0, 0, NULL, 0},
  };
  const ospec o[9] = {
      {LK_OP_DEPTHWISE_CONV_2D, 2, {K_X, K_W}, K_DW, 2, 5,
       {{0, 1, LK_PAD_VALID, NULL}, {1, 4, 1, NULL}, {2, 4, 1, NULL}, {3, 4, 2, NULL},
        {4, 1, 0, NULL}}},
      {LK_OP_MAX_POOL_2D, 1, {K_DW}, K_MAX, 5, 5,
       {{0, 1, LK_PAD_VALID, NULL}, {1, 4, 1, NULL}, {2, 4, 1, NULL}, {3, 4, 2, NULL},
        {4, 4, 2, NULL}}},
      {LK_OP_RESIZE_BILINEAR, 2, {K_MAX, K_SIZE}, K_UP, 15, 1, {{2, 1, 0, NULL}}},
      {LK_OP_ADD, 2, {K_UP, K_DW}, K_ADD, 11, 1, {{0, 1, 0, NULL}}},
      {LK_OP_CONCATENATION, 2, {K_ADD, K_DW}, K_CAT, 10, 2, {{0, 4, 3, NULL}, {1, 1, 0, NULL}}},
      {LK_OP_MEAN, 2, {K_CAT, K_AXES}, K_MEAN, 27, 1, {{0, 1, 0, NULL}}},
      {LK_OP_QUANTIZE, 1, {K_MEAN}, K_Q, 0, 0, {{0}}},
      {LK_OP_DEQUANTIZE, 1, {K_Q}, K_DQ, 0, 0, {{0}}},
      {LK_OP_ARG_MAX, 2, {K_CAT, K_DIM}, K_ARG, 40, 1, {{0, 1, LK_NN_INT64, NULL}}},
  };
  mspec m = {K_COUNT, 9, K_X, K_DQ, t, o};
  return build_model(&m, len);
}

static void write_seed(const char *name, const uint8_t *b, size_t len) {
  const char *dir = getenv("LK_NN_WRITE_SEEDS");
  if (dir) assert_int_equal(lk_test_write_file(lk_test_path("%s/%s", dir, name), b, len), 0);
}

/* ==== Loader ============================================================================= */

static void test_load_tiny(void **state) {
  size_t len;
  uint8_t *buf = tiny_model(&len);
  write_seed("tiny_conv_pool_softmax.tflite", buf, len);
  lk_model *m;
  lk_errbuf err = {0};
  int rc = lk_model_load_buffer(buf, len, &m, &err);
  if (rc) fail_msg("load: %s", lk_err_msg(&err));
  int h, w;
  assert_int_equal(lk_model_input_hw(m, &h, &w), 0);
  assert_int_equal(h, 4);
  assert_int_equal(w, 4);
  assert_int_equal(lk_model_tensor_count(m), T_COUNT);
  assert_string_equal(lk_model_tensor_name(m, T_POOL), "pool");
  assert_int_equal(lk_model_find_tensor(m, "conv/Relu6"), T_CONV);
  assert_int_equal(lk_model_find_tensor(m, "nope"), LK_ENOTFOUND);
  int dims[4], nd;
  assert_int_equal(lk_model_tensor_shape(m, T_CONV, dims, &nd), 0);
  assert_int_equal(nd, 4);
  assert_int_equal(dims[3], 2);
  lk_tap tap = {"pool", LK_POOL_AVG, 0};
  assert_int_equal(lk_model_tap_dim(m, &tap), 2);
  /* SAME, stride 2, 4x4 input, 3x3 kernel: total padding 1, TFLite puts it after */
  const lk_nn_op *conv = &m->ops[0];
  assert_int_equal(conv->pad_t, 0);
  assert_int_equal(conv->pad_b, 1);
  assert_int_equal(conv->pad_l, 0);
  assert_int_equal(conv->pad_r, 1);
  assert_int_equal(conv->act, LK_ACT_RELU6);
  /* weights dequantised: (q - 128) * 0.01; bias: q * 0.01/128 */
  const lk_nn_tensor *wt = &m->tensors[T_W];
  assert_float_equal(wt->data[5], (tiny_w[5] - 128) * 0.01f, 1e-6);
  assert_float_equal(m->tensors[T_B].data[1], -50 * 0.01f / 128, 1e-9);
  lk_model_free(m);
  lk_model_free(NULL);
  free(buf);
}

/* Each broken variant of a valid model must be rejected with the given code and a message
 * naming the problem. */
static void test_load_rejects(void **state) {
  tspec t[T_COUNT];
  ospec o[4];
  lk_errbuf err;
  lk_model *m;
  size_t len;
  struct {
    const char *what, *msg;
    int code;
  } expect[] = {
      {"unknown op", "unsupported op FULLY_CONNECTED (code 9) at operator 1", LK_EUNSUPPORTED},
      {"tensor index", "out of range", LK_ECORRUPT},
      {"buffer size", "buffer has 2 bytes, shape needs 8", LK_ECORRUPT},
      {"shape mismatch", "output shape", LK_ECORRUPT},
      {"too many dims", "limit", LK_ETOOBIG},
      {"zero dim", "dimension 1 is 0", LK_EUNSUPPORTED},
  };
  for (int k = 0; k < (int)(sizeof expect / sizeof expect[0]); k++) {
    tiny_spec(t, o);
    int8_t small[2] = {0};
    switch (k) {
    case 0: o[1].code = 9; o[1].opt_type = 0; break;
    case 1: o[2].in[0] = 99; break;
    case 2: t[T_SHAPE].data = small; t[T_SHAPE].bytes = 2; break;
    case 3: t[T_CONV].dims[1] = 3; break;
    case 5: t[T_CONV].dims[1] = 0; break;
    }
    mspec ms = {T_COUNT, 4, T_IN, T_PROB, t, o};
    uint8_t *buf = build_model(&ms, &len);
    if (k == 4) { /* declare 9 dims on the pool tensor's shape vector [1,1,1,2] */
      int found = 0;
      for (size_t p = 0; p + 20 <= len && !found; p += 4) {
        int32_t v[5], nine = 9;
        memcpy(v, buf + p, sizeof v);
        if (v[0] == 4 && v[1] == 1 && v[2] == 1 && v[3] == 1 && v[4] == 2) {
          memcpy(buf + p, &nine, 4);
          found = 1;
        }
      }
      assert_true(found);
    }
    lk_err_clear(&err);
    int rc = lk_model_load_buffer(buf, len, &m, &err);
    if (rc != expect[k].code || !strstr(err.msg, expect[k].msg))
      fail_msg("%s: rc %d (%s), want %d and \"%s\"", expect[k].what, rc, err.msg,
               expect[k].code, expect[k].msg);
    assert_null(m);
    if (k == 0) write_seed("unknown_op.tflite", buf, len);
    free(buf);
  }

  /* bad magic, root offset outside, truncated at every length */
  uint8_t *buf = tiny_model(&len);
  uint8_t *copy = malloc(len);
  memcpy(copy, buf, len);
  copy[4] = 'X';
  assert_int_equal(lk_model_load_buffer(copy, len, &m, &err), LK_ECORRUPT);
  assert_non_null(strstr(err.msg, "magic"));
  memcpy(copy, buf, len);
  uint32_t far = (uint32_t)len + 100;
  memcpy(copy, &far, 4);
  assert_int_equal(lk_model_load_buffer(copy, len, &m, &err), LK_ECORRUPT);
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *t2 = malloc(cut ? cut : 1); /* exact size so ASan sees any over-read */
    memcpy(t2, buf, cut);
    if (lk_model_load_buffer(t2, cut, &m, &err) == 0)
      fail_msg("truncated to %zu of %zu bytes but loaded", cut, len);
    free(t2);
  }
  /* every single-byte corruption either loads or fails cleanly (ASan watches) */
  for (size_t p = 0; p < len; p++) {
    memcpy(copy, buf, len);
    copy[p] ^= 0xA5;
    if (lk_model_load_buffer(copy, len, &m, &err) == 0) lk_model_free(m);
  }
  free(copy);
  free(buf);
  assert_int_equal(lk_model_load("/nonexistent/model.tflite", &m, &err), LK_ENOTFOUND);
  assert_int_equal(lk_model_load("tests", &m, &err), LK_EINVAL); /* a directory (util/file) */
  assert_non_null(strstr(err.msg, "tests is a directory"));
}

/* ==== Sessions =========================================================================== */

static void test_session_float_exact(void **state) {
  size_t len;
  uint8_t *buf = float_model(&len);
  write_seed("float_conv1x1.tflite", buf, len);
  lk_model *m;
  lk_errbuf err = {0};
  assert_int_equal(lk_model_load_buffer(buf, len, &m, &err), 0);
  free(buf);
  lk_tap taps[3] = {{"y", LK_POOL_AVG, 0}, {"y", LK_POOL_MAX, 0}, {"y", LK_POOL_GEM, 2}};
  lk_session_opts o;
  lk_session_opts_default(&o);
  o.backend = LK_BACKEND_REF;
  o.max_batch = 2;
  lk_session *s;
  assert_int_equal(lk_session_new(m, taps, 3, &o, &s, &err), 0);
  assert_int_equal(lk_session_dim(s), 6);
  /* two images of 2x2 RGB; float input takes raw pixel values */
  const uint8_t px[2 * 12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  float out[12];
  assert_int_equal(lk_session_run(s, px, 2, out, &err), 0);
  /* y0 = r = {1, 4, 7, 10}; y1 = 0.5r + 0.25g - b + 10 = {8, 7.25, 6.5, 5.75} */
  const float want[6] = {5.5f, 6.875f,                                  /* avg */
                         10, 8,                                         /* max */
                         sqrtf((1 + 16 + 49 + 100) / 4.f),              /* GeM p=2 */
                         sqrtf((64 + 52.5625f + 42.25f + 33.0625f) / 4)};
  assert_close(out, want, 6, 1e-4f);
  const float want2[6] = {0, 10, 0, 10, 0, 10}; /* black image: bias only */
  assert_close(out + 6, want2, 6, 1e-5f);
  assert_int_equal(lk_session_run(s, px, 3, out, &err), LK_EINVAL); /* > max_batch */
  assert_int_equal(lk_session_run(s, px, 0, out, &err), LK_EINVAL);
  lk_session_free(s);
  lk_session_free(NULL);

  lk_tap bad = {"w", LK_POOL_AVG, 0}; /* a constant is not a tap */
  assert_int_equal(lk_session_new(m, &bad, 1, &o, &s, &err), LK_EINVAL);
  bad.tensor = "missing";
  assert_int_equal(lk_session_new(m, &bad, 1, &o, &s, &err), LK_ENOTFOUND);
  lk_model_free(m);
}

/* The kitchen-sink model against numbers worked out by hand (see kitchen_model): image A has
 * pixels (1,2,3) (4,5,6) (7,8,9) (10,11,12), image B is black. */
static void test_session_all_ops(void **state) {
  size_t len;
  uint8_t *buf = kitchen_model(&len);
  write_seed("all_ops.tflite", buf, len);
  lk_model *m;
  lk_errbuf err = {0};
  if (lk_model_load_buffer(buf, len, &m, &err)) fail_msg("%s", lk_err_msg(&err));
  free(buf);
  lk_tap taps[2] = {{"dq", LK_POOL_AVG, 0}, {"arg", LK_POOL_MAX, 0}};
  const uint8_t px[24] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  /* depthwise: (c0, -c0, 2c1, c1/2, c2, c2); max over pixels (10,-1,22,5.5,12,12) is added
   * back everywhere; the mean of [added, depthwise] is below; ARG_MAX picks channel 2 */
  const float exact[14] = {15.5f, -6.5f, 35,   8.75f, 19.5f, 19.5f, 5.5f,
                           -5.5f, 13,    3.25f, 7.5f, 7.5f,  2,     2};
  /* QUANTIZE to uint8 on 0.5: negatives clamp to 0, 8.75 -> 9 and 3.25 -> 3.5 (ties up) */
  const float rounded[14] = {15.5f, 0, 35, 9, 19.5f, 19.5f, 5.5f, 0, 13, 3.5f, 7.5f, 7.5f, 2, 2};
  for (int fq = 0; fq < 2; fq++) {
    lk_session_opts o;
    lk_session_opts_default(&o);
    o.backend = LK_BACKEND_REF;
    o.max_batch = 2;
    o.quantize_activations = fq;
    lk_session *s;
    if (lk_session_new(m, taps, 2, &o, &s, &err)) fail_msg("%s", lk_err_msg(&err));
    assert_int_equal(lk_session_dim(s), 14);
    float out[28];
    assert_int_equal(lk_session_run(s, px, 2, out, &err), 0);
    assert_close(out, fq ? rounded : exact, 14, 1e-5f);
    for (int i = 0; i < 14; i++) assert_float_equal(out[14 + i], 0, 0); /* black: all zero */
    lk_session_free(s);
  }
  lk_model_free(m);
}

/* Batching gives the same rows as single runs; keep_all exposes every tensor; a tap in the
 * middle prunes the later ops; the quantised chain matches a float reference. */
static void test_session_tiny(void **state) {
  size_t len;
  uint8_t *buf = tiny_model(&len);
  lk_model *m;
  lk_errbuf err = {0};
  assert_int_equal(lk_model_load_buffer(buf, len, &m, &err), 0);
  free(buf);
  uint8_t px[3 * 48];
  uint64_t seed = 7;
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)lk_rng_next(&seed);

  lk_tap taps[2] = {{"conv/Relu6", LK_POOL_AVG, 0}, {"prob", LK_POOL_AVG, 0}};
  lk_session_opts o;
  lk_session_opts_default(&o);
  o.backend = LK_BACKEND_REF;
  o.max_batch = 3;
  lk_session *s;
  assert_int_equal(lk_session_new(m, taps, 2, &o, &s, &err), 0);
  assert_int_equal(lk_session_dim(s), 4);
  float batch[12], one[4];
  assert_int_equal(lk_session_run(s, px, 3, batch, &err), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(lk_session_run(s, px + 48 * i, 1, one, &err), 0);
    assert_close(one, batch + 4 * i, 4, 0);
  }
  /* buffers are reused: the input's buffer was taken by a later tensor; taps survive */
  float pool[2], conv[8], x[48];
  assert_int_equal(lk_session_tensor(s, T_IN, 0, x, 48), LK_EINVAL);
  assert_int_equal(lk_session_tensor(s, T_PROB, 0, pool, 2), 2);
  assert_int_equal(lk_session_tensor(s, T_PROB, 1, pool, 2), LK_EINVAL); /* last run had n=1 */
  /* the pooled conv tap equals the AVERAGE_POOL output, and softmax sums to ~1 on its grid */
  assert_int_equal(lk_session_keep_all(s, 1), 0);
  assert_int_equal(lk_session_run(s, px, 3, batch, &err), 0);
  assert_int_equal(lk_session_tensor(s, T_POOL, 2, pool, 2), 2);
  assert_close(pool, batch + 8, 2, 6 / 255.f * 0.5f + 1e-6f);
  assert_float_equal(batch[2] + batch[3], 1, 1.0 / 256 + 1e-6);
  assert_int_equal(lk_session_tensor(s, T_IN, 1, x, 48), 48);
  assert_int_equal(lk_session_tensor(s, T_CONV, 1, conv, 8), 8);
  for (int i = 0; i < 48; i++) assert_float_equal(x[i], (px[48 + i] - 128) / 128.0, 1e-6);

  /* recompute conv output of image 1 with the reference kernel and the loaded weights */
  lk_conv_params p = {.n = 1, .ih = 4, .iw = 4, .ic = 3, .oh = 2, .ow = 2, .oc = 2, .kh = 3,
                      .kw = 3, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pad_b = 1, .pad_r = 1,
                      .weights = m->tensors[T_W].data, .bias = m->tensors[T_B].data,
                      .act = LK_ACT_RELU6};
  float ref[8];
  lk_ref_conv(&p, x, ref);
  for (int i = 0; i < 8; i++) {
    float q = roundf(ref[i] / (6 / 255.f)) * (6 / 255.f);
    assert_float_equal(conv[i], q, 1e-5);
    assert_float_equal(conv[i], ref[i], 6 / 255.0 / 2 + 1e-5); /* within half a step */
  }
  lk_session_free(s);

  /* a tap on the conv output prunes pool/reshape/softmax: their tensors are not computed */
  lk_tap mid = {"conv/Relu6", LK_POOL_MAX, 0};
  assert_int_equal(lk_session_new(m, &mid, 1, &o, &s, &err), 0);
  assert_int_equal(lk_session_run(s, px, 1, one, &err), 0);
  assert_int_equal(lk_session_tensor(s, T_POOL, 0, pool, 2), LK_ENOTFOUND);
  assert_int_equal(lk_session_tensor(s, T_CONV, 0, conv, 8), 8);
  for (int c = 0; c < 2; c++) {
    float mx = -1;
    for (int i = 0; i < 4; i++) mx = conv[2 * i + c] > mx ? conv[2 * i + c] : mx;
    assert_float_equal(one[c], mx, 0);
  }
  lk_session_free(s);

  /* without fake quantisation values leave the grid */
  o.quantize_activations = 0;
  assert_int_equal(lk_session_new(m, taps, 2, &o, &s, &err), 0);
  assert_int_equal(lk_session_keep_all(s, 1), 0);
  assert_int_equal(lk_session_run(s, px, 2, batch, &err), 0);
  assert_int_equal(lk_session_tensor(s, T_CONV, 1, conv, 8), 8);
  for (int i = 0; i < 8; i++) assert_float_equal(conv[i], ref[i], 1e-5);
  lk_session_free(s);
  lk_model_free(m);
}

/* ==== Golden test against the official TFLite runtime ===================================== */

#define G_MAX_TAPS 4
#define G_MAX_IMAGES 16

typedef struct gtap {
  int dim, classes, zp;
  double scale;
  char name[1024];
} gtap;

typedef struct gimage {
  char id[32], sha[65];
  float *v[G_MAX_TAPS]; /* dequantised */
  int top1[G_MAX_TAPS];
  int tie[G_MAX_TAPS];  /* the top value is shared: top-1 is not well defined */
  int top5[5], has_top5; /* the runtime's five best classes (the class tap) */
} gimage;

typedef struct golden {
  char model[256];
  int h, w, ntaps, nimages;
  gtap taps[G_MAX_TAPS];
  gimage img[G_MAX_IMAGES];
} golden;

static void golden_free(golden *g) {
  for (int i = 0; i < g->nimages; i++)
    for (int t = 0; t < g->ntaps; t++) free(g->img[i].v[t]);
}

static void golden_read(const char *path, golden *g) {
  memset(g, 0, sizeof *g);
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("cannot open %s", path);
  char *line = NULL;
  size_t cap = 0;
  gimage *cur = NULL;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = 0;
    int t, n;
    char kind[8];
    if (line[0] == '#' || !line[0]) continue;
    if (sscanf(line, "model %255s", g->model) == 1) continue;
    if (sscanf(line, "size %d %d", &g->h, &g->w) == 2) continue;
    if (sscanf(line, "taps %d", &g->ntaps) == 1) {
      assert_in_range(g->ntaps, 1, G_MAX_TAPS);
      continue;
    }
    gtap gt;
    if (sscanf(line, "tap %d %d %7s %lf %d %d %n", &t, &gt.dim, kind, &gt.scale, &gt.zp,
               &gt.classes, &n) == 6) {
      assert_in_range(t, 0, g->ntaps - 1);
      snprintf(gt.name, sizeof gt.name, "%s", line + n);
      g->taps[t] = gt;
      continue;
    }
    if (strncmp(line, "images ", 7) == 0) continue;
    if (strncmp(line, "image ", 6) == 0) {
      assert_true(g->nimages < G_MAX_IMAGES);
      cur = &g->img[g->nimages++];
      assert_int_equal(sscanf(line, "image %31s %64s", cur->id, cur->sha), 2);
      continue;
    }
    if (strncmp(line, "q ", 2) == 0) {
      assert_non_null(cur);
      char *p = line + 2, *end;
      t = (int)strtol(p, &end, 10);
      assert_in_range(t, 0, g->ntaps - 1);
      gtap *tap = &g->taps[t];
      cur->v[t] = malloc((size_t)tap->dim * sizeof(float));
      long best = -1000;
      for (int i = 0; i < tap->dim; i++) {
        p = end;
        long q = strtol(p, &end, 10);
        if (end == p) fail_msg("%s: short q line", path);
        cur->v[t][i] = (float)(tap->scale * (double)(q - tap->zp));
        if (q > best) {
          best = q;
          cur->top1[t] = i;
          cur->tie[t] = 0;
        } else if (q == best) {
          cur->tie[t] = 1;
        }
      }
      continue;
    }
    if (strncmp(line, "top5 ", 5) == 0) { /* top1 comes from q; top5 for the fast modes */
      assert_non_null(cur);
      cur->has_top5 = sscanf(line, "top5 %d %d %d %d %d", &cur->top5[0], &cur->top5[1],
                             &cur->top5[2], &cur->top5[3], &cur->top5[4]) == 5;
      continue;
    }
    fail_msg("%s: unexpected line: %.60s", path, line);
  }
  free(line);
  fclose(f);
  assert_true(g->nimages > 0 && g->h > 0 && g->w > 0);
}

/* The preprocessing the fixture was made with (tools/golden/tflite_dump.c does the same). */
static uint8_t *golden_input(const golden *g, const char *id) {
  const char *shared = lk_test_shared_dir();
  lk_image img = {0}, sized = {0};
  lk_errbuf err = {0};
  const char *path = lk_test_path("%s/data/fashion-catalog/images/%s.jpg", shared, id);
  if (lk_image_load(path, NULL, 0, &img, &err) || lk_image_resize(&img, g->w, g->h, &sized))
    fail_msg("%s: %s", path, lk_err_msg(&err));
  lk_image_free(&img);
  return sized.px; /* w*h*3 bytes, owned by the caller */
}

static void sha256_hex(const uint8_t *p, size_t n, char hex[65]) {
  struct sha256_ctx ctx;
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, n, p);
  sha256_digest(&ctx, sizeof d, d);
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++) sprintf(hex + 2 * i, "%02x", d[i]);
}

static const char *const golden_files[] = {
    "tests/golden/mobilenet_v2_1.0_224_quant.txt",
    "tests/golden/mobilenet_v1_1.0_224_quant_embedding_extractor.txt",
    "tests/golden/tf2_mobilenet_v2_1.0_224_ptq.txt",
};

/* Runs every fixture through one backend; all images in one batch. Reports every model
 * before failing. */
static void golden_run(int backend, double min_cos_required) {
  const char *models = lk_test_models_dir();
  if (!models || !lk_test_shared_dir()) skip();
  int failures = 0;
  for (size_t fi = 0; fi < sizeof golden_files / sizeof golden_files[0]; fi++) {
    golden g;
    golden_read(golden_files[fi], &g);
    lk_model *m;
    lk_errbuf err = {0};
    if (lk_model_load(lk_test_path("%s/%s", models, g.model), &m, &err))
      fail_msg("%s: %s", g.model, lk_err_msg(&err));
    lk_tap taps[G_MAX_TAPS];
    for (int t = 0; t < g.ntaps; t++) taps[t] = (lk_tap){g.taps[t].name, LK_POOL_AVG, 0};
    lk_session_opts o;
    lk_session_opts_default(&o);
    o.backend = backend;
    o.max_batch = g.nimages;
    lk_session *s;
    if (lk_session_new(m, taps, g.ntaps, &o, &s, &err)) fail_msg("%s", lk_err_msg(&err));
    size_t isz = (size_t)g.h * g.w * 3;
    uint8_t *in = malloc(isz * (size_t)g.nimages);
    for (int i = 0; i < g.nimages; i++) {
      uint8_t *px = golden_input(&g, g.img[i].id);
      char hex[65];
      sha256_hex(px, isz, hex);
      if (strcmp(hex, g.img[i].sha) != 0)
        fail_msg("%s image %s: preprocessing changed: run tools/golden/regen.sh", g.model,
                 g.img[i].id);
      memcpy(in + isz * (size_t)i, px, isz);
      free(px);
    }
    int dim = lk_session_dim(s);
    float *out = malloc((size_t)dim * (size_t)g.nimages * sizeof *out);
    double t0 = now_ms();
    if (lk_session_run(s, in, g.nimages, out, &err)) fail_msg("%s", lk_err_msg(&err));
    double ms = (now_ms() - t0) / g.nimages;
    double min_cos[G_MAX_TAPS];
    int top1_ok = 0, top1_n = 0;
    size_t same = 0, total = 0; /* tap values on exactly the runtime's grid point */
    for (int t = 0; t < g.ntaps; t++) min_cos[t] = 1;
    for (int i = 0; i < g.nimages; i++) {
      const float *row = out + (size_t)i * dim;
      for (int t = 0; t < g.ntaps; t++) {
        int d = g.taps[t].dim;
        double c = cosine(row, g.img[i].v[t], (size_t)d);
        for (int k = 0; k < d; k++) same += fabs(row[k] - g.img[i].v[t][k]) < 0.5 * g.taps[t].scale;
        total += (size_t)d;
        if (c < min_cos[t]) min_cos[t] = c;
        if (c < min_cos_required) {
          printf("FAIL: %s image %s tap %d: cosine %.6f < %.4f\n", g.model, g.img[i].id, t, c,
                 min_cos_required);
          failures++;
        }
        if (g.taps[t].classes) {
          int best = 0;
          for (int k = 1; k < d; k++) best = row[k] > row[best] ? k : best;
          /* ties in the runtime's output: any of the tied classes is the top-1 */
          int ok = best == g.img[i].top1[t] ||
                   (g.img[i].tie[t] && g.img[i].v[t][best] == g.img[i].v[t][g.img[i].top1[t]]);
          if (!ok) {
            printf("FAIL: %s image %s: top-1 class %d, runtime says %d\n", g.model, g.img[i].id,
                   best, g.img[i].top1[t]);
            failures++;
          }
          top1_ok += ok;
          top1_n++;
        }
        row += d;
      }
    }
    printf("[ golden ] %-52s %s: min cosine", g.model, backend == LK_BACKEND_REF ? "ref " : "dnnl");
    for (int t = 0; t < g.ntaps; t++) printf(" %.6f", min_cos[t]);
    if (top1_n) printf(", top-1 %d/%d", top1_ok, top1_n);
    printf(", identical values %zu/%zu, %.1f ms/image (batch %d)\n", same, total, ms, g.nimages);
    /* The integer arithmetic is emulated exactly (bit-identical when measured); cosine is
     * the contract, and losing exactness on more than 1% of values flags a regression. */
    if (same * 100 < total * 99) {
      printf("FAIL: %s: only %zu of %zu tap values identical to the runtime's\n", g.model, same,
             total);
      failures++;
    }
    free(out);
    free(in);
    lk_session_free(s);
    lk_model_free(m);
    golden_free(&g);
  }
  assert_int_equal(failures, 0);
}

static void test_golden_ref(void **state) { golden_run(LK_BACKEND_REF, 0.999); }
static void test_golden_dnnl(void **state) { golden_run(LK_BACKEND_DNNL, 0.999); }

/* ==== The fast compute modes (LK_COMPUTE_FP32, LK_COMPUTE_INT8) ============================ */

/* Every golden fixture through a fast mode, with two yardsticks:
 *  - the float path of the exact engine (quantize_activations 0, NHWC, reference-checked
 *    kernels): FP32 computes the same function, so every tap agrees to cosine >= 0.9999;
 *    INT8's embedding taps to >= 0.98 (measured: >= 0.9897);
 *  - the official runtime: embedding taps to cosine >= min_cos (measured: fp32 >= 0.981,
 *    int8 >= 0.985 on the tf2 int8 model, >= 0.989 on the others; the runtime's own integer
 *    rounding is what the fast modes skip), and the predicted class among its top 5.
 * Also: an image run alone (a tail batch: other primitives) gives its batch vector, the
 * taps are readable through lk_session_tensor and nothing else is. */
static void compute_mode_run(int compute, double min_cos) {
  const char *models = lk_test_models_dir();
  if (!models || !lk_test_shared_dir()) skip();
  const char *mode = compute == LK_COMPUTE_FP32 ? "fp32" : "int8";
  const double min_vs_float = compute == LK_COMPUTE_FP32 ? 0.9999 : 0.98;
  int failures = 0;
  for (size_t fi = 0; fi < sizeof golden_files / sizeof golden_files[0]; fi++) {
    golden g;
    golden_read(golden_files[fi], &g);
    lk_model *m;
    lk_errbuf err = {0};
    if (lk_model_load(lk_test_path("%s/%s", models, g.model), &m, &err))
      fail_msg("%s: %s", g.model, lk_err_msg(&err));
    lk_tap taps[G_MAX_TAPS];
    for (int t = 0; t < g.ntaps; t++) taps[t] = (lk_tap){g.taps[t].name, LK_POOL_AVG, 0};
    lk_session_opts o;
    lk_session_opts_default(&o);
    o.max_batch = g.nimages;
    o.quantize_activations = 0;
    lk_session *ref, *s;
    if (lk_session_new(m, taps, g.ntaps, &o, &ref, &err)) fail_msg("%s", lk_err_msg(&err));
    o.compute = compute;
    if (lk_session_new(m, taps, g.ntaps, &o, &s, &err)) fail_msg("%s: %s", g.model, lk_err_msg(&err));
    size_t isz = (size_t)g.h * g.w * 3;
    uint8_t *in = malloc(isz * (size_t)g.nimages);
    for (int i = 0; i < g.nimages; i++) {
      uint8_t *px = golden_input(&g, g.img[i].id);
      memcpy(in + isz * (size_t)i, px, isz);
      free(px);
    }
    int dim = lk_session_dim(s);
    assert_int_equal(dim, lk_session_dim(ref));
    float *out = malloc((size_t)dim * (size_t)g.nimages * sizeof *out);
    float *fl = malloc((size_t)dim * (size_t)g.nimages * sizeof *fl);
    float *one = malloc((size_t)dim * sizeof *one);
    if (lk_session_run(ref, in, g.nimages, fl, &err)) fail_msg("%s", lk_err_msg(&err));
    double t0 = now_ms();
    if (lk_session_run(s, in, g.nimages, out, &err)) fail_msg("%s", lk_err_msg(&err));
    double ms = (now_ms() - t0) / g.nimages;
    double min_rt = 1, min_fl = 1, min_tail = 1;
    for (int i = 0; i < g.nimages; i++) {
      const float *row = out + (size_t)i * dim, *frow = fl + (size_t)i * dim;
      for (int t = 0; t < g.ntaps; t++) {
        int d = g.taps[t].dim;
        double cf = cosine(row, frow, (size_t)d), cr = cosine(row, g.img[i].v[t], (size_t)d);
        /* INT8's softmax of rounded logits: judged by its class (below), not by cosine */
        if (compute == LK_COMPUTE_INT8 && g.taps[t].classes) cf = 1;
        min_fl = cf < min_fl ? cf : min_fl;
        if (cf < min_vs_float) {
          printf("FAIL: %s %s image %s tap %d: cosine vs float %.6f < %.4f\n", mode, g.model,
                 g.img[i].id, t, cf, min_vs_float);
          failures++;
        }
        if (g.taps[t].classes) {
          int best = 0, in5 = 0;
          for (int k = 1; k < d; k++) best = row[k] > row[best] ? k : best;
          for (int k = 0; k < 5; k++) in5 |= g.img[i].has_top5 && g.img[i].top5[k] == best;
          if (!in5) {
            printf("FAIL: %s %s image %s: class %d not in the runtime's top 5\n", mode, g.model,
                   g.img[i].id, best);
            failures++;
          }
        } else {
          min_rt = cr < min_rt ? cr : min_rt;
          if (cr < min_cos) {
            printf("FAIL: %s %s image %s tap %d: cosine vs runtime %.6f < %.4f\n", mode, g.model,
                   g.img[i].id, t, cr, min_cos);
            failures++;
          }
        }
        row += d;
        frow += d;
      }
    }
    if (g.nimages > 1) {
      if (lk_session_run(s, in + isz * (size_t)(g.nimages - 1), 1, one, &err))
        fail_msg("%s", lk_err_msg(&err));
      min_tail = cosine(one, out + (size_t)(g.nimages - 1) * dim, (size_t)dim);
      if (min_tail < 0.99999) {
        printf("FAIL: %s %s: an image alone differs from it in a batch: %.6f\n", mode, g.model,
               min_tail);
        failures++;
      }
    }
    int tt = lk_model_find_tensor(m, g.taps[0].name);
    size_t cnt = m->tensors[tt].count;
    float *tv = malloc(cnt * sizeof *tv);
    assert_int_equal(lk_session_tensor(s, tt, 0, tv, cnt), (int)cnt);
    if (cnt == (size_t)g.taps[0].dim) assert_true(cosine(tv, one, cnt) > 0.99999);
    assert_int_equal(lk_session_tensor(s, m->input, 0, tv, 1), LK_ENOTFOUND);
    assert_int_equal(lk_session_keep_all(s, 1), LK_EUNSUPPORTED);
    free(tv);
    printf("[ %s ] %-52s min cosine vs float path %.6f, vs runtime %.6f, alone vs batch %.6f, "
           "%.1f ms/image (batch %d)\n",
           mode, g.model, min_fl, min_rt, min_tail, ms, g.nimages);
    free(one);
    free(fl);
    free(out);
    free(in);
    lk_session_free(s);
    lk_session_free(ref);
    lk_model_free(m);
    golden_free(&g);
  }
  assert_int_equal(failures, 0);
}

static void test_compute_fp32(void **state) { compute_mode_run(LK_COMPUTE_FP32, 0.975); }
static void test_compute_int8(void **state) { compute_mode_run(LK_COMPUTE_INT8, 0.975); }

/* Bad compute options are refused at lk_session_new; the default is exact. */
static void test_compute_options(void **state) {
  size_t len;
  uint8_t *buf = tiny_model(&len);
  lk_model *m;
  lk_errbuf err = {0};
  assert_int_equal(lk_model_load_buffer(buf, len, &m, &err), 0);
  free(buf);
  lk_session_opts o;
  lk_session_opts_default(&o);
  assert_int_equal(o.compute, LK_COMPUTE_EXACT);
  lk_tap tap = {m->tensors[m->ops[m->nops - 1].out[0]].name, LK_POOL_AVG, 0};
  lk_session *s = NULL;
  const int bad[] = {-1, 3, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o.compute = bad[i];
    assert_int_equal(lk_session_new(m, &tap, 1, &o, &s, &err), LK_EINVAL);
    assert_null(s);
  }
  o.compute = LK_COMPUTE_FP32;
  o.backend = LK_BACKEND_REF; /* the fast modes are oneDNN graphs */
  assert_int_equal(lk_session_new(m, &tap, 1, &o, &s, &err), LK_EINVAL);
  assert_null(s);
  lk_model_free(m);

  /* The hand-made float model: a depthwise conv with channel multiplier 2 and a max pool run
   * in FP32 exactly as the reference computes them (batch 2 with a black image, and a tail
   * of 1); ARG_MAX is not a fast-mode op, and a float model has no ranges for INT8. */
  buf = kitchen_model(&len);
  assert_int_equal(lk_model_load_buffer(buf, len, &m, &err), 0);
  free(buf);
  lk_tap taps[2] = {{"dw", LK_POOL_AVG, 0}, {"max", LK_POOL_AVG, 0}};
  const uint8_t px[24] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  float want[24], got[24], one[12];
  lk_session *ref;
  lk_session_opts_default(&o);
  o.backend = LK_BACKEND_REF;
  o.max_batch = 2;
  assert_int_equal(lk_session_new(m, taps, 2, &o, &ref, &err), 0);
  assert_int_equal(lk_session_run(ref, px, 2, want, &err), 0);
  lk_session_free(ref);
  o.backend = LK_BACKEND_DNNL;
  o.compute = LK_COMPUTE_FP32;
  if (lk_session_new(m, taps, 2, &o, &s, &err)) fail_msg("%s", lk_err_msg(&err));
  assert_int_equal(lk_session_dim(s), 12);
  assert_int_equal(lk_session_run(s, px, 2, got, &err), 0);
  assert_close(got, want, 24, 1e-5f);
  const float max_want[6] = {10, -1, 22, 5.5f, 12, 12};
  assert_close(got + 6, max_want, 6, 1e-5f);
  assert_int_equal(lk_session_run(s, px, 1, one, &err), 0);
  assert_close(one, want, 12, 1e-5f);
  lk_session_free(s);
  lk_tap arg = {"arg", LK_POOL_MAX, 0};
  s = NULL;
  assert_int_equal(lk_session_new(m, &arg, 1, &o, &s, &err), LK_EUNSUPPORTED);
  assert_null(s);
  o.compute = LK_COMPUTE_INT8;
  assert_int_equal(lk_session_new(m, taps, 2, &o, &s, &err), LK_EUNSUPPORTED);
  assert_null(s);
  lk_model_free(m);
}

/* ==== oneDNN backend against the reference =============================================== */

/* Random conv/depthwise layers: both backends must agree closely without fake quant, and
 * with it differ by at most one grid step on a tiny fraction of elements (a rounding
 * boundary can fall between two float summation orders). */
static void test_dnnl_vs_ref_ops(void **state) {
  uint64_t seed = 42;
  lk_dnnl *d;
  lk_errbuf err = {0};
  if (lk_dnnl_new(1, &d, &err)) fail_msg("%s", lk_err_msg(&err));
  size_t flips = 0, total = 0;
  for (int iter = 0; iter < 60; iter++) {
    lk_conv_params p = {0};
    p.depthwise = iter % 3 == 1;
    p.n = rnd_int(&seed, 1, 3);
    p.ih = rnd_int(&seed, 1, 12);
    p.iw = rnd_int(&seed, 1, 12);
    p.ic = rnd_int(&seed, 1, 24);
    p.oc = p.depthwise ? p.ic * rnd_int(&seed, 1, 2) : rnd_int(&seed, 1, 24);
    p.kh = p.kw = rnd_int(&seed, 0, 1) ? 3 : 1;
    p.sh = p.sw = rnd_int(&seed, 1, 2);
    p.dh = p.dw = p.kh == 3 && rnd_int(&seed, 0, 3) == 0 ? 2 : 1;
    int same = rnd_int(&seed, 0, 1);
    /* TFLite geometry, as model.c computes it */
    int eh = (p.kh - 1) * p.dh + 1, ew = (p.kw - 1) * p.dw + 1;
    p.oh = same ? (p.ih + p.sh - 1) / p.sh : (p.ih - eh + p.sh) / p.sh;
    p.ow = same ? (p.iw + p.sw - 1) / p.sw : (p.iw - ew + p.sw) / p.sw;
    if (p.oh < 1 || p.ow < 1) continue;
    int th = same ? (p.oh - 1) * p.sh + eh - p.ih : 0;
    int tw = same ? (p.ow - 1) * p.sw + ew - p.iw : 0;
    th = th > 0 ? th : 0;
    tw = tw > 0 ? tw : 0;
    p.pad_t = th / 2;
    p.pad_b = th - th / 2;
    p.pad_l = tw / 2;
    p.pad_r = tw - tw / 2;
    p.act = rnd_int(&seed, 0, 2);
    size_t nw = p.depthwise ? (size_t)p.kh * p.kw * p.oc : (size_t)p.oc * p.kh * p.kw * p.ic;
    size_t nin = (size_t)p.n * p.ih * p.iw * p.ic, nout = (size_t)p.n * p.oh * p.ow * p.oc;
    float *w = malloc(nw * 4), *b = malloc((size_t)p.oc * 4), *in = malloc(nin * 4);
    float *o1 = malloc(nout * 4), *o2 = malloc(nout * 4);
    for (size_t i = 0; i < nw; i++) w[i] = rnd_unit(&seed);
    for (int i = 0; i < p.oc; i++) b[i] = rnd_unit(&seed);
    for (size_t i = 0; i < nin; i++) in[i] = rnd_unit(&seed) * 3;
    p.weights = w;
    p.bias = rnd_int(&seed, 0, 3) ? b : NULL;
    for (int fq = 0; fq < 2; fq++) {
      p.fake_quant = fq;
      p.q_scale = 0.05f;
      p.q_zero_point = 7;
      p.q_min = 0;
      p.q_max = 255;
      lk_dnnl_conv *c;
      if (lk_dnnl_conv_new(d, &p, &c, &err)) fail_msg("iter %d: %s", iter, lk_err_msg(&err));
      assert_int_equal(lk_dnnl_conv_run(c, in, o1, &err), 0);
      lk_ref_conv(&p, in, o2);
      for (size_t i = 0; i < nout; i++) {
        float diff = fabsf(o1[i] - o2[i]);
        if (!fq && diff > 1e-4f * (1 + fabsf(o2[i])))
          fail_msg("iter %d (%s k%d s%d d%d %s): element %zu: dnnl %g ref %g", iter,
                   p.depthwise ? "dw" : "conv", p.kh, p.sh, p.dh, same ? "SAME" : "VALID", i,
                   o1[i], o2[i]);
        if (fq) {
          if (diff > p.q_scale * 1.001f) fail_msg("iter %d: off by more than a step", iter);
          flips += diff > p.q_scale * 0.5f;
          total++;
        }
      }
      lk_dnnl_conv_free(c);
    }
    free(w);
    free(b);
    free(in);
    free(o1);
    free(o2);
  }
  lk_dnnl_free(d);
  printf("[ dnnl   ] random layers with fake quant: %zu of %zu outputs one step apart\n", flips,
         total);
  assert_true(flips * 1000 <= total); /* at most 0.1% */
}

/* End to end on MobileNetV2, both with and without quantize_activations: the backends agree
 * to cosine > 0.9999, and batch sizes below max_batch (the lazily made tail primitives) give
 * the same rows. */
static void test_dnnl_vs_ref_mobilenet(void **state) {
  const char *models = lk_test_models_dir();
  if (!models || !lk_test_shared_dir()) skip();
  lk_model *m;
  lk_errbuf err = {0};
  if (lk_model_load(lk_test_path("%s/mobilenet_v2_1.0_224_quant.tflite", models), &m, &err))
    fail_msg("%s", lk_err_msg(&err));
  golden g = {.h = 224, .w = 224};
  const char *ids[3] = {"30805", "59263", "10721"};
  size_t isz = 224 * 224 * 3;
  uint8_t *in = malloc(3 * isz);
  for (int i = 0; i < 3; i++) {
    uint8_t *px = golden_input(&g, ids[i]);
    memcpy(in + i * isz, px, isz);
    free(px);
  }
  lk_tap tap = {"MobilenetV2/Logits/AvgPool", LK_POOL_AVG, 0};
  float out[2][3 * 1280], tail[2 * 1280];
  for (int fq = 0; fq < 2; fq++) {
    double minc = 1;
    for (int b = 0; b < 2; b++) {
      lk_session_opts o;
      lk_session_opts_default(&o);
      o.backend = b ? LK_BACKEND_DNNL : LK_BACKEND_REF;
      o.max_batch = 3;
      o.quantize_activations = fq;
      lk_session *s;
      if (lk_session_new(m, &tap, 1, &o, &s, &err)) fail_msg("%s", lk_err_msg(&err));
      assert_int_equal(lk_session_run(s, in, 3, out[b], &err), 0);
      if (b) { /* batch 2 < max_batch on oneDNN: the tail primitives */
        assert_int_equal(lk_session_run(s, in + isz, 2, tail, &err), 0);
        for (int i = 0; i < 2; i++)
          if (cosine(tail + i * 1280, out[1] + (i + 1) * 1280, 1280) < 0.99999)
            fail_msg("tail batch differs from full batch");
      }
      lk_session_free(s);
    }
    int same = 0;
    for (int i = 0; i < 3; i++) {
      double c = cosine(out[0] + i * 1280, out[1] + i * 1280, 1280);
      minc = c < minc ? c : minc;
    }
    for (int k = 0; k < 3 * 1280; k++) same += out[0][k] == out[1][k];
    printf("[ dnnl   ] MobileNetV2 AvgPool, %s: min cosine ref vs dnnl %.6f, %d/%d equal\n",
           fq ? "integer emulation" : "float", minc, same, 3 * 1280);
    /* Float sums differ in order between the backends; with the integer emulation both
     * snap to the same accumulators (measured: every value equal), so the bound is tight. */
    assert_true(minc > 0.9999);
  }
  free(in);
  lk_model_free(m);
}

/* All four shared models load; DeepLab runs (a smoke test of RESIZE_BILINEAR, CONCATENATION
 * and ARG_MAX on real shapes). */
static void test_shared_models(void **state) {
  const char *models = lk_test_models_dir();
  if (!models) skip();
  static const char *const files[] = {
      "mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
      "tf2_mobilenet_v2_1.0_224_ptq.tflite", "deeplabv3_mnv2_pascal_quant.tflite"};
  for (size_t i = 0; i < 4; i++) {
    lk_model *m;
    lk_errbuf err = {0};
    if (lk_model_load(lk_test_path("%s/%s", models, files[i]), &m, &err))
      fail_msg("%s: %s", files[i], lk_err_msg(&err));
    if (i == 3) {
      int h, w;
      assert_int_equal(lk_model_input_hw(m, &h, &w), 0);
      assert_int_equal(h, 513);
      /* ArgMax is [1,513,513]: max-pooled over rows it gives the largest class per column */
      lk_tap tap = {"ArgMax", LK_POOL_MAX, 0};
      assert_int_equal(lk_model_tap_dim(m, &tap), 513);
      lk_session_opts o;
      lk_session_opts_default(&o);
      o.backend = LK_BACKEND_DNNL; /* convs on oneDNN keep this quick in sanitizer builds */
      lk_session *s;
      if (lk_session_new(m, &tap, 1, &o, &s, &err)) fail_msg("%s", lk_err_msg(&err));
      uint8_t *px = malloc((size_t)h * w * 3);
      for (size_t k = 0; k < (size_t)h * w * 3; k++) px[k] = (uint8_t)(k / 3 % 513 / 2);
      float v[513];
      double t0 = now_ms();
      assert_int_equal(lk_session_run(s, px, 1, v, &err), 0);
      printf("[ deeplab] 513x513 segmentation (oneDNN convs): %.0f ms\n", now_ms() - t0);
      for (int k = 0; k < 513; k++)
        if (!(v[k] >= 0 && v[k] <= 20 && v[k] == floorf(v[k]))) fail_msg("class %g", v[k]);
      free(px);
      lk_session_free(s);
      /* the fast modes do not run RESIZE_BILINEAR / CONCATENATION / ARG_MAX: a clean
       * LK_EUNSUPPORTED naming the op, no session */
      for (int c = LK_COMPUTE_FP32; c <= LK_COMPUTE_INT8; c++) {
        o.compute = c;
        s = NULL;
        assert_int_equal(lk_session_new(m, &tap, 1, &o, &s, &err), LK_EUNSUPPORTED);
        assert_null(s);
        assert_non_null(strstr(lk_err_msg(&err), "cannot run op"));
      }
    }
    lk_model_free(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ref_conv_3x3),
      cmocka_unit_test(test_ref_conv_stride_dilation),
      cmocka_unit_test(test_ref_depthwise),
      cmocka_unit_test(test_ref_pools),
      cmocka_unit_test(test_ref_elementwise),
      cmocka_unit_test(test_ref_resize),
      cmocka_unit_test(test_ref_fake_quant),
      cmocka_unit_test(test_ref_requant),
      cmocka_unit_test(test_ref_quantized_ops),
      cmocka_unit_test(test_load_tiny),
      cmocka_unit_test(test_load_rejects),
      cmocka_unit_test(test_session_float_exact),
      cmocka_unit_test(test_session_tiny),
      cmocka_unit_test(test_session_all_ops),
      cmocka_unit_test(test_shared_models),
      cmocka_unit_test(test_golden_ref),
      cmocka_unit_test(test_golden_dnnl),
      cmocka_unit_test(test_dnnl_vs_ref_ops),
      cmocka_unit_test(test_dnnl_vs_ref_mobilenet),
      cmocka_unit_test(test_compute_options),
      cmocka_unit_test(test_compute_fp32),
      cmocka_unit_test(test_compute_int8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
