/* tests/test_dnnl.c — nn/dnnl_backend against a plain-C NHWC reference written here (TFLite
 * semantics) on seeded random shapes: conv and depthwise, strides, asymmetric padding,
 * dilation, batch, bias, activations, fake quantisation; sgemm; invalid parameters.
 * With LOOKALIKE_BENCH=1 it also times MobileNetV2-shaped layers (naive vs oneDNN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/dnnl_backend.h"
#include "testutil.h"
#include "util/clock.h"
#include "util/rng.h"

/* ---- seeded random numbers (util/rng.h's splitmix64; state passed explicitly) ---- */

static int rnd_int(uint64_t *s, int lo, int hi) { /* inclusive */
  return lo + (int)(lk_rng_next(s) % (uint64_t)(hi - lo + 1));
}
static float rnd_unit(uint64_t *s) { /* [-1, 1) */
  return (float)((double)(lk_rng_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *rnd_buf(uint64_t *s, size_t n) {
  float *b = malloc(n * sizeof *b + 1);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) b[i] = rnd_unit(s);
  return b;
}

/* ---- reference ---- */

static size_t in_count(const lk_conv_params *p) { return (size_t)p->n * p->ih * p->iw * p->ic; }
static size_t out_count(const lk_conv_params *p) { return (size_t)p->n * p->oh * p->ow * p->oc; }
static size_t w_count(const lk_conv_params *p) {
  return p->depthwise ? (size_t)p->kh * p->kw * p->oc : (size_t)p->oc * p->kh * p->kw * p->ic;
}

/* Fills oh/ow from the other fields (what nn/ computes from TFLite padding). */
static void set_out_size(lk_conv_params *p) {
  p->oh = (p->ih + p->pad_t + p->pad_b - ((p->kh - 1) * p->dh + 1)) / p->sh + 1;
  p->ow = (p->iw + p->pad_l + p->pad_r - ((p->kw - 1) * p->dw + 1)) / p->sw + 1;
}

/* out[n][y][x][o] = bias[o] + sum in[n][y*sh-pad_t+ky*dh][x*sw-pad_l+kx*dw][c] * w, then the
 * activation; accumulated in double. Fake quantisation is left to the caller. */
static void ref_conv(const lk_conv_params *p, const float *in, double *out) {
  int mult = p->depthwise ? p->oc / p->ic : 0;
  for (int n = 0; n < p->n; n++)
    for (int y = 0; y < p->oh; y++)
      for (int x = 0; x < p->ow; x++)
        for (int o = 0; o < p->oc; o++) {
          double acc = p->bias ? p->bias[o] : 0.0;
          for (int ky = 0; ky < p->kh; ky++) {
            int iy = y * p->sh - p->pad_t + ky * p->dh;
            if (iy < 0 || iy >= p->ih) continue;
            for (int kx = 0; kx < p->kw; kx++) {
              int ix = x * p->sw - p->pad_l + kx * p->dw;
              if (ix < 0 || ix >= p->iw) continue;
              const float *src = in + (((size_t)n * p->ih + iy) * p->iw + ix) * p->ic;
              if (p->depthwise) {
                acc += (double)src[o / mult] * p->weights[((size_t)ky * p->kw + kx) * p->oc + o];
              } else {
                const float *w = p->weights + (((size_t)o * p->kh + ky) * p->kw + kx) * p->ic;
                for (int c = 0; c < p->ic; c++) acc += (double)src[c] * w[c];
              }
            }
          }
          if (p->act == LK_ACT_RELU) acc = acc < 0 ? 0 : acc;
          if (p->act == LK_ACT_RELU6) acc = acc < 0 ? 0 : acc > 6 ? 6 : acc;
          out[(((size_t)n * p->oh + y) * p->ow + x) * p->oc + o] = acc;
        }
}

/* The naive float loop the benchmark compares against (same order, float accumulation). */
static void naive_conv_f32(const lk_conv_params *p, const float *in, float *out) {
  int mult = p->depthwise ? p->oc / p->ic : 0;
  for (int n = 0; n < p->n; n++)
    for (int y = 0; y < p->oh; y++)
      for (int x = 0; x < p->ow; x++) {
        float *dst = out + (((size_t)n * p->oh + y) * p->ow + x) * p->oc;
        for (int o = 0; o < p->oc; o++) dst[o] = p->bias ? p->bias[o] : 0.f;
        for (int ky = 0; ky < p->kh; ky++) {
          int iy = y * p->sh - p->pad_t + ky * p->dh;
          if (iy < 0 || iy >= p->ih) continue;
          for (int kx = 0; kx < p->kw; kx++) {
            int ix = x * p->sw - p->pad_l + kx * p->dw;
            if (ix < 0 || ix >= p->iw) continue;
            const float *src = in + (((size_t)n * p->ih + iy) * p->iw + ix) * p->ic;
            if (p->depthwise) {
              const float *w = p->weights + ((size_t)ky * p->kw + kx) * p->oc;
              for (int o = 0; o < p->oc; o++) dst[o] += src[o / mult] * w[o];
            } else {
              for (int o = 0; o < p->oc; o++) {
                const float *w = p->weights + (((size_t)o * p->kh + ky) * p->kw + kx) * p->ic;
                float acc = 0.f;
                for (int c = 0; c < p->ic; c++) acc += src[c] * w[c];
                dst[o] += acc;
              }
            }
          }
        }
        for (int o = 0; o < p->oc; o++) {
          if (p->act == LK_ACT_RELU) dst[o] = fmaxf(dst[o], 0.f);
          if (p->act == LK_ACT_RELU6) dst[o] = fminf(fmaxf(dst[o], 0.f), 6.f);
        }
      }
}

static const char *describe(const lk_conv_params *p, char *buf, size_t cap) {
  snprintf(buf, cap,
           "%s n%d %dx%dx%d->%dx%dx%d k%dx%d s%dx%d d%dx%d pad t%d l%d b%d r%d bias%d act%d fq%d",
           p->depthwise ? "dw" : "conv", p->n, p->ih, p->iw, p->ic, p->oh, p->ow, p->oc, p->kh,
           p->kw, p->sh, p->sw, p->dh, p->dw, p->pad_t, p->pad_l, p->pad_b, p->pad_r,
           p->bias != NULL, p->act, p->fake_quant);
  return buf;
}

static float fq_ref(double v, const lk_conv_params *p) { /* TFLite fake quant, in float */
  double q = nearbyint(v / p->q_scale) + p->q_zero_point;
  q = q < p->q_min ? p->q_min : q > p->q_max ? p->q_max : q;
  return (float)(q - p->q_zero_point) * p->q_scale;
}

/* Compares got (n*oh*ow*oc) with the double reference; fails with the shape on mismatch. */
static void compare(const lk_conv_params *p, const float *got, const double *ref,
                    const char *desc, int *near_ties) {
  size_t cnt = out_count(p);
  double mag = 1.0;
  for (size_t i = 0; i < cnt; i++) mag = fmax(mag, fabs(ref[i]));
  if (!p->fake_quant) {
    double tol = 1e-4 * mag, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < cnt; i++) {
      double e = fabs((double)got[i] - ref[i]);
      if (!(e <= worst)) worst = e, at = i; /* NaN counts as worst */
    }
    if (!(worst <= tol))
      fail_msg("%s: max abs error %g at %zu (got %g want %g), tolerance %g", desc, worst, at,
               (double)got[at], ref[at], tol);
    return;
  }
  for (size_t i = 0; i < cnt; i++) {
    float k = nearbyintf(got[i] / p->q_scale);
    if (!(got[i] == k * p->q_scale) || k < p->q_min - p->q_zero_point ||
        k > p->q_max - p->q_zero_point)
      fail_msg("%s: output %zu = %.9g is not on the grid (scale %g zp %d [%d,%d])", desc, i,
               (double)got[i], (double)p->q_scale, p->q_zero_point, p->q_min, p->q_max);
    double x = ref[i] / p->q_scale;
    if (fabs(x - floor(x) - 0.5) < 1e-3) { /* a rounding tie within float noise: either side */
      (*near_ties)++;
      if (fabsf(got[i] - fq_ref(ref[i], p)) > 1.001f * p->q_scale)
        fail_msg("%s: output %zu = %g more than one step from %g", desc, i, (double)got[i],
                 (double)fq_ref(ref[i], p));
      continue;
    }
    if (got[i] != fq_ref(ref[i], p))
      fail_msg("%s: output %zu = %.9g, want %.9g (pre-rounding %.6f)", desc, i, (double)got[i],
               (double)fq_ref(ref[i], p), x);
  }
}

static float *nan_buf(size_t n) {
  float *b = malloc(n * sizeof *b + 1);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) b[i] = NAN;
  return b;
}

/* Creates a conv for p (weights and bias drawn from *rng), runs it twice on two inputs into
 * two outputs (so the per-run data handles matter) and compares both with the reference. */
static void check_conv(lk_dnnl *d, lk_conv_params p, int with_bias, uint64_t *rng) {
  char desc[256];
  size_t wn = w_count(&p), inn = in_count(&p), outn = out_count(&p);
  float *w = rnd_buf(rng, wn), *wref = malloc(wn * sizeof *wref);
  float *bias = with_bias ? rnd_buf(rng, (size_t)p.oc) : NULL;
  assert_non_null(wref);
  memcpy(wref, w, wn * sizeof *w);
  p.weights = w;
  p.bias = bias;
  describe(&p, desc, sizeof desc);
  lk_dnnl_conv *c = NULL;
  lk_errbuf err = {0};
  int rc = lk_dnnl_conv_new(d, &p, &c, &err);
  if (rc) fail_msg("%s: conv_new %d: %s", desc, rc, err.msg);
  assert_non_null(c);
  for (size_t i = 0; i < wn; i++) w[i] = NAN; /* the backend must have copied them */
  float *in[2] = {rnd_buf(rng, inn), rnd_buf(rng, inn)};
  float *out[2] = {nan_buf(outn), nan_buf(outn)};
  for (int r = 0; r < 2; r++) {
    rc = lk_dnnl_conv_run(c, in[r], out[r], &err);
    if (rc) fail_msg("%s: conv_run %d: %s", desc, rc, err.msg);
  }
  p.weights = wref;
  double *ref = malloc(outn * sizeof *ref);
  assert_non_null(ref);
  int ties = 0;
  for (int r = 0; r < 2; r++) {
    ref_conv(&p, in[r], ref);
    compare(&p, out[r], ref, desc, &ties);
  }
  assert_true(ties * 20 <= (int)outn + 20); /* the tie exemption stays an exception */
  lk_dnnl_conv_free(c);
  for (int r = 0; r < 2; r++) free(in[r]), free(out[r]);
  free(ref);
  free(w);
  free(wref);
  free(bias);
}

static lk_dnnl *new_dnnl(int threads) {
  lk_dnnl *d = NULL;
  lk_errbuf err = {0};
  int rc = lk_dnnl_new(threads, &d, &err);
  if (rc) fail_msg("lk_dnnl_new: %d %s", rc, err.msg);
  return d;
}

/* A conv shape with TFLite defaults for the rest; oh/ow derived. */
static lk_conv_params shape(int n, int ih, int iw, int ic, int oc, int k, int s, int dil,
                            int pt, int pl, int pb, int pr, int dw, int act) {
  lk_conv_params p = {.n = n, .ih = ih, .iw = iw, .ic = ic, .oc = oc, .kh = k, .kw = k,
                      .sh = s, .sw = s, .dh = dil, .dw = dil, .pad_t = pt, .pad_l = pl,
                      .pad_b = pb, .pad_r = pr, .depthwise = dw, .act = act};
  set_out_size(&p);
  return p;
}

/* ---- tests ---- */

/* Hand-picked shapes: each named requirement at least once. */
static void test_conv_table(void **state) {
  (void)state;
  lk_dnnl *d = new_dnnl(0);
  uint64_t rng = 1;
  struct { lk_conv_params p; int bias; } t[] = {
      {shape(1, 9, 9, 3, 8, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_NONE), 0},        /* 1x1 */
      {shape(1, 9, 9, 17, 32, 1, 2, 1, 0, 0, 0, 0, 0, LK_ACT_RELU), 1},      /* 1x1 stride 2 */
      {shape(1, 12, 12, 3, 32, 3, 2, 1, 0, 0, 1, 1, 0, LK_ACT_RELU6), 1},    /* MobileNet stem */
      {shape(4, 7, 10, 8, 17, 3, 1, 1, 1, 1, 1, 1, 0, LK_ACT_NONE), 1},      /* batch 4, SAME */
      {shape(1, 11, 8, 32, 96, 3, 1, 2, 2, 2, 2, 2, 0, LK_ACT_RELU), 0},     /* dilation 2 */
      {shape(1, 10, 10, 96, 32, 3, 2, 1, 0, 1, 1, 0, 0, LK_ACT_NONE), 1},    /* asym pad */
      {shape(2, 8, 8, 17, 17, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_RELU6), 1},     /* 17 -> 17 */
      {shape(1, 14, 14, 32, 32, 3, 1, 1, 1, 1, 1, 1, 1, LK_ACT_RELU6), 1},   /* dw mult 1 */
      {shape(1, 13, 13, 96, 96, 3, 2, 1, 0, 0, 1, 1, 1, LK_ACT_RELU6), 1},   /* dw s2 asym */
      {shape(4, 9, 9, 17, 17, 3, 1, 1, 1, 1, 1, 1, 1, LK_ACT_NONE), 0},      /* dw batch 4 */
      {shape(1, 8, 9, 8, 16, 3, 1, 1, 1, 1, 1, 1, 1, LK_ACT_RELU), 1},       /* dw mult 2 */
      {shape(1, 9, 9, 3, 6, 3, 2, 2, 2, 2, 2, 2, 1, LK_ACT_NONE), 1},        /* dw mult 2 dil */
      {shape(1, 5, 7, 8, 8, 5, 1, 1, 2, 1, 3, 0, 0, LK_ACT_NONE), 1},        /* 5x5 odd pads */
      {shape(1, 1, 1, 32, 17, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_RELU), 1},      /* 1x1 spatial */
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) check_conv(d, t[i].p, t[i].bias, &rng);
  /* non-square kernel, stride and dilation: H and W must not be mixed up */
  lk_conv_params a = {.n = 2, .ih = 11, .iw = 9, .ic = 8, .oc = 17, .kh = 3, .kw = 2, .sh = 1,
                      .sw = 2, .dh = 1, .dw = 2, .pad_t = 1, .pad_l = 0, .pad_b = 0, .pad_r = 2,
                      .act = LK_ACT_RELU};
  set_out_size(&a);
  check_conv(d, a, 1, &rng);
  lk_conv_params b = a;
  b.depthwise = 1, b.oc = 16, b.kh = 2, b.kw = 3, b.sh = 2, b.sw = 1, b.dh = 2, b.dw = 1;
  set_out_size(&b);
  check_conv(d, b, 1, &rng);
  lk_dnnl_free(d);
}

/* Seeded random shapes over the grid the brief names. */
static void test_conv_random(void **state) {
  (void)state;
  lk_dnnl *d = new_dnnl(0);
  static const int chans[] = {3, 8, 16, 17, 32, 96};
  uint64_t rng = 20240601;
  for (int it = 0; it < 48; it++) {
    int dw = rnd_int(&rng, 0, 2) == 0;
    int ic = chans[rnd_int(&rng, 0, 5)];
    int oc = dw ? ic * rnd_int(&rng, 1, 2) : chans[rnd_int(&rng, 0, 5)];
    int k = rnd_int(&rng, 0, 1) ? 3 : 1;
    int s = rnd_int(&rng, 1, 2), dil = k > 1 && rnd_int(&rng, 0, 3) == 0 ? 2 : 1;
    int span = (k - 1) * dil + 1;
    int n = rnd_int(&rng, 0, 3) == 0 ? 4 : 1;
    int ih = rnd_int(&rng, span, 12), iw = rnd_int(&rng, span, 12);
    int pt = rnd_int(&rng, 0, span - 1), pb = rnd_int(&rng, 0, span - 1);
    int pl = rnd_int(&rng, 0, span - 1), pr = rnd_int(&rng, 0, span - 1);
    lk_conv_params p = shape(n, ih, iw, ic, oc, k, s, dil, pt, pl, pb, pr, dw,
                             rnd_int(&rng, 0, 2));
    check_conv(d, p, rnd_int(&rng, 0, 1), &rng);
  }
  lk_dnnl_free(d);
}

static void test_fake_quant(void **state) {
  (void)state;
  lk_dnnl *d = new_dnnl(0);
  uint64_t rng = 77;
  struct { lk_conv_params p; float scale; int zp, qmin, qmax; } t[] = {
      /* uint8 with clipping on both sides */
      {shape(1, 10, 10, 17, 32, 3, 1, 1, 1, 1, 1, 1, 0, LK_ACT_NONE), 0.1f, 10, 0, 255},
      /* int8, batch 4, 1x1 */
      {shape(4, 7, 7, 32, 96, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_NONE), 0.05f, -3, -128, 127},
      /* MobileNet style: relu6 then uint8 with zp 0 */
      {shape(1, 12, 12, 3, 32, 3, 2, 1, 0, 0, 1, 1, 0, LK_ACT_RELU6), 6.f / 255, 0, 0, 255},
      /* depthwise + relu, odd zero point */
      {shape(1, 9, 9, 96, 96, 3, 1, 1, 1, 1, 1, 1, 1, LK_ACT_RELU), 0.02f, 7, 0, 255},
      /* relu6 whose 6 lies inside the grid (index 120 < 245), so the activation clamps */
      {shape(1, 8, 8, 32, 17, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_RELU6), 0.05f, 10, 0, 255},
      /* int8 with relu: the activation's 0 is above the grid's lower end */
      {shape(1, 8, 8, 17, 32, 3, 1, 1, 1, 1, 1, 1, 0, LK_ACT_RELU), 0.05f, -3, -128, 127},
      /* relu6 depthwise with int8 grid, mult 2 */
      {shape(1, 7, 7, 8, 16, 3, 2, 1, 1, 1, 1, 1, 1, LK_ACT_RELU6), 0.03f, -1, -128, 127},
      /* coarse grid, narrow range */
      {shape(2, 6, 6, 8, 8, 3, 2, 1, 1, 1, 1, 1, 0, LK_ACT_NONE), 0.5f, 1, -5, 9},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    lk_conv_params p = t[i].p;
    p.fake_quant = 1;
    p.q_scale = t[i].scale;
    p.q_zero_point = t[i].zp;
    p.q_min = t[i].qmin;
    p.q_max = t[i].qmax;
    check_conv(d, p, 1, &rng);
  }
  lk_dnnl_free(d);
}

/* One thread and two threads give the same answers; two handles coexist. */
static void test_threads(void **state) {
  (void)state;
  lk_dnnl *d1 = new_dnnl(1), *d2 = new_dnnl(2);
  uint64_t rng = 5;
  lk_conv_params p = shape(4, 14, 14, 32, 64, 3, 1, 1, 1, 1, 1, 1, 0, LK_ACT_RELU);
  check_conv(d1, p, 1, &rng);
  check_conv(d2, p, 1, &rng);
  lk_dnnl_free(d2);
  lk_dnnl_free(d1);
}

static void expect_einval(lk_dnnl *d, lk_conv_params p, const char *what) {
  float w[4096] = {0}, bias[256] = {0};
  if (!p.weights) p.weights = w;
  if (p.weights == (const float *)1) p.weights = NULL; /* marker: really no weights */
  p.bias = bias;
  lk_dnnl_conv *c = (lk_dnnl_conv *)&p; /* must be reset to NULL */
  lk_errbuf err = {0};
  int rc = lk_dnnl_conv_new(d, &p, &c, &err);
  if (rc != LK_EINVAL) fail_msg("%s: got %d (%s), want LK_EINVAL", what, rc, err.msg);
  assert_null(c);
  assert_true(err.msg[0] != '\0');
}

static void test_invalid(void **state) {
  (void)state;
  lk_dnnl *d = new_dnnl(0);
  lk_conv_params ok = shape(1, 8, 8, 4, 8, 3, 1, 1, 1, 1, 1, 1, 0, LK_ACT_NONE), p;
  { /* the baseline is valid, so each failure below is due to its one change */
    float w[8 * 9 * 4] = {0};
    lk_conv_params q = ok;
    q.weights = w;
    lk_dnnl_conv *c = NULL;
    assert_int_equal(lk_dnnl_conv_new(d, &q, &c, NULL), 0);
    float in[8 * 8 * 4] = {0}, out[8 * 8 * 8];
    lk_errbuf err = {0};
    assert_int_equal(lk_dnnl_conv_run(c, NULL, out, &err), LK_EINVAL);
    assert_int_equal(lk_dnnl_conv_run(c, in, NULL, &err), LK_EINVAL);
    assert_int_equal(lk_dnnl_conv_run(c, in, out, &err), 0);
    lk_dnnl_conv_free(c);
  }
  p = ok, p.n = 0, expect_einval(d, p, "n=0");
  p = ok, p.ic = 0, expect_einval(d, p, "ic=0");
  p = ok, p.oc = 0, p.ow = 0, expect_einval(d, p, "oc=0");
  p = ok, p.kh = 0, expect_einval(d, p, "kh=0");
  p = ok, p.sw = 0, expect_einval(d, p, "stride 0");
  p = ok, p.dh = 0, expect_einval(d, p, "dilation 0 (TFLite convention is 1)");
  p = ok, p.pad_l = -1, expect_einval(d, p, "negative pad");
  p = ok, p.oh = 9, expect_einval(d, p, "oh inconsistent");
  p = ok, p.ih = 1, p.pad_t = p.pad_b = 0, p.oh = 1, expect_einval(d, p, "kernel > input");
  p = ok, p.depthwise = 1, p.oc = 6, expect_einval(d, p, "dw oc not multiple of ic");
  p = ok, p.act = 3, expect_einval(d, p, "unknown act");
  p = ok, p.weights = (const float *)1, expect_einval(d, p, "no weights");
  p = ok, p.fake_quant = 1, p.q_scale = 0, p.q_max = 255, expect_einval(d, p, "scale 0");
  p = ok, p.fake_quant = 1, p.q_scale = NAN, p.q_max = 255, expect_einval(d, p, "scale NaN");
  p = ok, p.fake_quant = 1, p.q_scale = 1, p.q_min = 5, expect_einval(d, p, "qmin > qmax");
  lk_dnnl *bad = (lk_dnnl *)&p;
  assert_int_equal(lk_dnnl_new(-1, &bad, NULL), LK_EINVAL);
  assert_null(bad);
  lk_dnnl_free(d);
  lk_dnnl_free(NULL);
  lk_dnnl_conv_free(NULL);
}

/* The fast path really is fast: no "ref" fallback for MobileNet's layer kinds, and weights of
 * a normal conv land in a blocked layout. */
static void test_impl_choice(void **state) {
  (void)state;
  lk_dnnl *d = new_dnnl(0);
  uint64_t rng = 3;
  lk_conv_params ps[] = {
      shape(1, 16, 16, 3, 32, 3, 2, 1, 0, 0, 1, 1, 0, LK_ACT_RELU6),
      shape(1, 14, 14, 96, 576, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_RELU6),
      shape(1, 14, 14, 576, 96, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_NONE),
      shape(1, 14, 14, 144, 144, 3, 1, 1, 1, 1, 1, 1, 1, LK_ACT_RELU6),
  };
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
    for (int fq = 0; fq < 2; fq++) {
      lk_conv_params p = ps[i];
      float *w = rnd_buf(&rng, w_count(&p));
      p.weights = w;
      p.fake_quant = fq, p.q_scale = 6.f / 255, p.q_max = 255;
      lk_dnnl_conv *c = NULL;
      lk_errbuf err = {0};
      int rc = lk_dnnl_conv_new(d, &p, &c, &err);
      if (rc) fail_msg("conv_new: %s", err.msg);
      char desc[256];
      const char *impl = lk_dnnl_conv_impl(c), *wf = lk_dnnl_conv_weights_format(c);
      if (getenv("LOOKALIKE_BENCH"))
        printf("  %-72s impl=%s weights=%s\n", describe(&p, desc, sizeof desc), impl, wf);
      if (impl[0] == '\0' || strncmp(impl, "ref", 3) == 0 || strstr(impl, ":ref"))
        fail_msg("%s: oneDNN picked the reference implementation '%s'",
                 describe(&p, desc, sizeof desc), impl);
      assert_non_null(strpbrk(wf, "0123456789")); /* blocked */
      lk_dnnl_conv_free(c);
      free(w);
    }
  lk_dnnl_free(d);
}

/* ---- benchmark (LOOKALIKE_BENCH=1) ---- */

static void bench_layer(const char *name, lk_conv_params p, int threads, uint64_t *rng) {
  lk_dnnl *d = new_dnnl(threads);
  float *w = rnd_buf(rng, w_count(&p)), *bias = rnd_buf(rng, (size_t)p.oc);
  float *in = rnd_buf(rng, in_count(&p)), *out = nan_buf(out_count(&p));
  float *out2 = nan_buf(out_count(&p));
  p.weights = w, p.bias = bias;
  lk_dnnl_conv *c = NULL;
  lk_errbuf err = {0};
  double t0 = lk_clock_now();
  if (lk_dnnl_conv_new(d, &p, &c, &err)) fail_msg("%s", err.msg);
  double t_create = lk_clock_now() - t0, best = 1e9, best_naive = 1e9;
  for (int r = 0; r < 10; r++) {
    t0 = lk_clock_now();
    if (lk_dnnl_conv_run(c, in, out, &err)) fail_msg("%s", err.msg);
    best = fmin(best, lk_clock_now() - t0);
  }
  for (int r = 0; r < 2; r++) {
    t0 = lk_clock_now();
    naive_conv_f32(&p, in, out2);
    best_naive = fmin(best_naive, lk_clock_now() - t0);
  }
  double worst = 0, mag = 1; /* the timed result is also the right one */
  for (size_t i = 0; i < out_count(&p); i++) {
    worst = fmax(worst, fabsf(out[i] - out2[i]));
    mag = fmax(mag, fabsf(out2[i]));
  }
  if (!(worst <= 1e-4 * mag)) fail_msg("%s: oneDNN vs naive differ by %g", name, worst);
  double flop = 2.0 * out_count(&p) * p.kh * p.kw * (p.depthwise ? 1 : p.ic);
  printf("  %-26s n=%d thr=%d  create %6.1f ms  naive %8.2f ms  onednn %7.3f ms  (%5.1fx, "
         "%5.1f GFLOP/s)  %s  w=%s\n",
         name, p.n, threads, t_create * 1e3, best_naive * 1e3, best * 1e3, best_naive / best,
         flop / best * 1e-9, lk_dnnl_conv_impl(c), lk_dnnl_conv_weights_format(c));
  lk_dnnl_conv_free(c);
  lk_dnnl_free(d);
  free(w), free(bias), free(in), free(out), free(out2);
}

static void test_bench(void **state) {
  (void)state;
  if (!getenv("LOOKALIKE_BENCH")) skip();
  uint64_t rng = 11;
  for (int thr = 1; thr <= 2; thr++)
    for (int n = 1; n <= 8; n += 7) {
      bench_layer("conv 224x224x3->32 s2",
                  shape(n, 224, 224, 3, 32, 3, 2, 1, 0, 0, 1, 1, 0, LK_ACT_RELU6), thr, &rng);
      bench_layer("conv1x1 14x14x96->576",
                  shape(n, 14, 14, 96, 576, 1, 1, 1, 0, 0, 0, 0, 0, LK_ACT_RELU6), thr, &rng);
      bench_layer("dw3x3 56x56x144",
                  shape(n, 56, 56, 144, 144, 3, 1, 1, 1, 1, 1, 1, 1, LK_ACT_RELU6), thr, &rng);
      bench_layer("dw3x3 56x56x144 s2",
                  shape(n, 56, 56, 144, 144, 3, 2, 1, 0, 0, 1, 1, 1, LK_ACT_RELU6), thr, &rng);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_table), cmocka_unit_test(test_conv_random),
      cmocka_unit_test(test_fake_quant), cmocka_unit_test(test_threads),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_impl_choice), cmocka_unit_test(test_bench),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
