/* nn/ops_ref.c — reference kernels (see ops_ref.h): plain C loops over float NHWC data
 * with TensorFlow Lite's semantics. Loop orders are chosen so the inner loop runs over
 * contiguous channels (which the compiler vectorises) but nothing cleverer than that. */
#include "nn/ops_ref.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* Dot product with eight partial sums (vectorisable without -ffast-math). */
static float dot(const float *a, const float *b, int n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
  float t = 0;
  for (; i < n; i++) t += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

void lk_ref_activate(float *x, size_t count, int act) {
  if (act == LK_ACT_RELU) {
    for (size_t i = 0; i < count; i++) x[i] = x[i] > 0 ? x[i] : 0;
  } else if (act == LK_ACT_RELU6) {
    for (size_t i = 0; i < count; i++) x[i] = x[i] > 0 ? (x[i] < 6 ? x[i] : 6) : 0;
  }
}

void lk_ref_fake_quant(float *x, size_t count, float scale, int zero_point, int qmin, int qmax) {
  assert(scale > 0 && qmin <= qmax);
  for (size_t i = 0; i < count; i++) {
    float q = roundf(x[i] / scale) + (float)zero_point;
    if (!(q >= (float)qmin)) q = (float)qmin; /* also catches NaN */
    if (q > (float)qmax) q = (float)qmax;
    x[i] = (q - (float)zero_point) * scale;
  }
}

void lk_ref_conv(const lk_conv_params *p, const float *in, float *out) {
  assert(!p->depthwise || p->oc % p->ic == 0);
  const int mult = p->depthwise ? p->oc / p->ic : 1;
  for (int n = 0; n < p->n; n++)
    for (int oy = 0; oy < p->oh; oy++)
      for (int ox = 0; ox < p->ow; ox++) {
        float *o = out + (((size_t)n * p->oh + oy) * p->ow + ox) * p->oc;
        for (int c = 0; c < p->oc; c++) o[c] = p->bias ? p->bias[c] : 0.0f;
        for (int ky = 0; ky < p->kh; ky++) {
          int iy = oy * p->sh - p->pad_t + ky * p->dh;
          if (iy < 0 || iy >= p->ih) continue; /* zero padding */
          for (int kx = 0; kx < p->kw; kx++) {
            int ix = ox * p->sw - p->pad_l + kx * p->dw;
            if (ix < 0 || ix >= p->iw) continue;
            const float *x = in + (((size_t)n * p->ih + iy) * p->iw + ix) * p->ic;
            if (p->depthwise) {
              /* weights [1][kh][kw][oc]; output channel c*mult+m reads input channel c */
              const float *w = p->weights + ((size_t)ky * p->kw + kx) * p->oc;
              if (mult == 1) {
                for (int c = 0; c < p->oc; c++) o[c] += x[c] * w[c];
              } else {
                for (int c = 0; c < p->ic; c++)
                  for (int m = 0; m < mult; m++) o[c * mult + m] += x[c] * w[c * mult + m];
              }
            } else {
              /* weights [oc][kh][kw][ic] */
              const size_t wstride = (size_t)p->kh * p->kw * p->ic;
              const float *w = p->weights + ((size_t)ky * p->kw + kx) * p->ic;
              for (int c = 0; c < p->oc; c++) o[c] += dot(x, w + c * wstride, p->ic);
            }
          }
        }
        lk_ref_activate(o, (size_t)p->oc, p->act);
        if (p->fake_quant)
          lk_ref_fake_quant(o, (size_t)p->oc, p->q_scale, p->q_zero_point, p->q_min, p->q_max);
      }
}

/* Window of output (oy, ox) clipped to the input: [y0, y1) x [x0, x1). */
static void window(const lk_pool_params *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
  int iy = oy * p->sh - p->pad_t, ix = ox * p->sw - p->pad_l;
  *y0 = iy > 0 ? iy : 0;
  *x0 = ix > 0 ? ix : 0;
  *y1 = iy + p->kh < p->ih ? iy + p->kh : p->ih;
  *x1 = ix + p->kw < p->iw ? ix + p->kw : p->iw;
}

void lk_ref_avg_pool(const lk_pool_params *p, const float *in, float *out) {
  for (int n = 0; n < p->n; n++)
    for (int oy = 0; oy < p->oh; oy++)
      for (int ox = 0; ox < p->ow; ox++) {
        float *o = out + (((size_t)n * p->oh + oy) * p->ow + ox) * p->c;
        int y0, y1, x0, x1;
        window(p, oy, ox, &y0, &y1, &x0, &x1);
        for (int c = 0; c < p->c; c++) o[c] = 0;
        for (int y = y0; y < y1; y++)
          for (int x = x0; x < x1; x++) {
            const float *v = in + (((size_t)n * p->ih + y) * p->iw + x) * p->c;
            for (int c = 0; c < p->c; c++) o[c] += v[c];
          }
        int cells = (y1 - y0) * (x1 - x0); /* only cells inside the input count */
        for (int c = 0; c < p->c; c++) o[c] = cells > 0 ? o[c] / (float)cells : 0.0f;
        lk_ref_activate(o, (size_t)p->c, p->act);
      }
}

void lk_ref_max_pool(const lk_pool_params *p, const float *in, float *out) {
  for (int n = 0; n < p->n; n++)
    for (int oy = 0; oy < p->oh; oy++)
      for (int ox = 0; ox < p->ow; ox++) {
        float *o = out + (((size_t)n * p->oh + oy) * p->ow + ox) * p->c;
        int y0, y1, x0, x1;
        window(p, oy, ox, &y0, &y1, &x0, &x1);
        for (int c = 0; c < p->c; c++) o[c] = -FLT_MAX;
        for (int y = y0; y < y1; y++)
          for (int x = x0; x < x1; x++) {
            const float *v = in + (((size_t)n * p->ih + y) * p->iw + x) * p->c;
            for (int c = 0; c < p->c; c++) o[c] = v[c] > o[c] ? v[c] : o[c];
          }
        lk_ref_activate(o, (size_t)p->c, p->act);
      }
}

void lk_ref_add(const float *a, const float *b, size_t count, int act, float *out) {
  for (size_t i = 0; i < count; i++) out[i] = a[i] + b[i];
  lk_ref_activate(out, count, act);
}

void lk_ref_softmax(const float *in, size_t rows, size_t len, float beta, float *out) {
  for (size_t r = 0; r < rows; r++) {
    const float *x = in + r * len;
    float *y = out + r * len;
    float mx = -INFINITY;
    for (size_t i = 0; i < len; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (size_t i = 0; i < len; i++) {
      y[i] = expf(beta * (x[i] - mx));
      sum += y[i];
    }
    for (size_t i = 0; i < len; i++) y[i] = (float)(y[i] / sum);
  }
}

void lk_ref_concat(const float *const *in, const size_t *inner, int nin, size_t outer,
                   float *out) {
  for (size_t o = 0; o < outer; o++)
    for (int i = 0; i < nin; i++) {
      memcpy(out, in[i] + o * inner[i], inner[i] * sizeof *out);
      out += inner[i];
    }
}

/* TFLite's ComputeInterpolationValues. */
static void interp(int o, float scale, int half_pixel, int in_size, float *v, int *lo, int *hi) {
  *v = half_pixel ? ((float)o + 0.5f) * scale - 0.5f : (float)o * scale;
  int f = (int)floorf(*v), c = (int)ceilf(*v);
  *lo = f > 0 ? f : 0;
  *hi = c < in_size - 1 ? c : in_size - 1;
}

void lk_ref_resize_bilinear(const float *in, int n, int ih, int iw, int c, int oh, int ow,
                            int align_corners, int half_pixel_centers, float *out) {
  float hs = (float)ih / (float)oh, ws = (float)iw / (float)ow;
  if (align_corners && oh > 1) hs = (float)(ih - 1) / (float)(oh - 1);
  if (align_corners && ow > 1) ws = (float)(iw - 1) / (float)(ow - 1);
  for (int b = 0; b < n; b++)
    for (int y = 0; y < oh; y++) {
      float fy;
      int y0, y1;
      interp(y, hs, half_pixel_centers, ih, &fy, &y0, &y1);
      float dy = fy - (float)y0;
      for (int x = 0; x < ow; x++) {
        float fx;
        int x0, x1;
        interp(x, ws, half_pixel_centers, iw, &fx, &x0, &x1);
        float dx = fx - (float)x0;
        const float *r0 = in + ((size_t)b * ih + y0) * iw * c, *r1 = in + ((size_t)b * ih + y1) * iw * c;
        const float *p00 = r0 + (size_t)x0 * c, *p01 = r0 + (size_t)x1 * c;
        const float *p10 = r1 + (size_t)x0 * c, *p11 = r1 + (size_t)x1 * c;
        float *o = out + (((size_t)b * oh + y) * ow + x) * c;
        for (int k = 0; k < c; k++)
          o[k] = p00[k] * (1 - dy) * (1 - dx) + p10[k] * dy * (1 - dx) + p01[k] * (1 - dy) * dx +
                 p11[k] * dy * dx;
      }
    }
}

void lk_ref_mean(const float *in, const int *dims, int ndims, int reduce_mask, float *out) {
  /* output strides per input axis (0 on reduced axes) */
  size_t ostride[32], ocount = 1, total = 1, reduced = 1;
  assert(ndims <= 32);
  for (int d = ndims - 1; d >= 0; d--) {
    total *= (size_t)dims[d];
    if (reduce_mask >> d & 1) {
      ostride[d] = 0;
      reduced *= (size_t)dims[d];
    } else {
      ostride[d] = ocount;
      ocount *= (size_t)dims[d];
    }
  }
  for (size_t i = 0; i < ocount; i++) out[i] = 0;
  int idx[32] = {0};
  size_t o = 0;
  for (size_t i = 0; i < total; i++) {
    out[o] += in[i];
    for (int d = ndims - 1; d >= 0; d--) { /* odometer step */
      o += ostride[d];
      if (++idx[d] < dims[d]) break;
      o -= ostride[d] * (size_t)dims[d];
      idx[d] = 0;
    }
  }
  for (size_t i = 0; i < ocount; i++) out[i] /= (float)reduced;
}

void lk_ref_arg_max(const float *in, size_t outer, size_t len, size_t inner, float *out) {
  for (size_t o = 0; o < outer; o++)
    for (size_t k = 0; k < inner; k++) {
      const float *x = in + o * len * inner + k;
      size_t best = 0;
      for (size_t i = 1; i < len; i++)
        if (x[i * inner] > x[best * inner]) best = i;
      out[o * inner + k] = (float)best;
    }
}
