/* nn/ops_ref.c — reference kernels (see ops_ref.h): plain C loops over float NHWC data
 * with TensorFlow Lite's semantics, ordered so the inner loop runs over contiguous channels
 * (which the compiler vectorises), and TFLite's fixed-point arithmetic for quantised ops. */
#include "nn/ops_ref.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

/* One value: the definition the vector path below must reproduce bit for bit. */
static float requant1(float y, double inv_unit, double mult, double inv_pow2, double lo,
                      double hi, float scale) {
  double acc = rint(y * inv_unit);         /* the int32 accumulator */
  double t = floor(acc * mult + 0.5);      /* doubling high multiply, ties up */
  double q = floor(t * inv_pow2 + 0.5);    /* rounding right shift, ties up */
  q = q < lo ? lo : q > hi ? hi : q;
  return (float)q * scale;
}

#if defined(__x86_64__)
/* AVX-512: the same operations eight channels at a time (exact: no contraction, same
 * roundings; rint = round to nearest even, floor as floor). Chosen at run time. */
__attribute__((target("avx512f"))) static int requant_row512(float *v, int nc,
                                                             const lk_requant *r, double lo,
                                                             double hi) {
  const __m512d vlo = _mm512_set1_pd(lo), vhi = _mm512_set1_pd(hi), half = _mm512_set1_pd(0.5);
  const __m256 vscale = _mm256_set1_ps(r->scale);
  int c = 0;
  for (; c + 8 <= nc; c += 8) {
    __m512d x = _mm512_cvtps_pd(_mm256_loadu_ps(v + c));
    __m512d acc = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_loadu_pd(r->inv_unit + c)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d t = _mm512_mul_pd(acc, _mm512_loadu_pd(r->mult + c));
    t = _mm512_roundscale_pd(_mm512_add_pd(t, half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512d q = _mm512_mul_pd(t, _mm512_loadu_pd(r->inv_pow2 + c));
    q = _mm512_roundscale_pd(_mm512_add_pd(q, half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    q = _mm512_min_pd(_mm512_max_pd(q, vlo), vhi);
    _mm256_storeu_ps(v + c, _mm256_mul_ps(_mm512_cvtpd_ps(q), vscale));
  }
  return c;
}
#endif

void lk_ref_requant(float *y, size_t count, const lk_requant *r) {
  assert(r->channels > 0 && count % (size_t)r->channels == 0 && r->scale > 0);
  const double lo = r->qmin - r->zero_point, hi = r->qmax - r->zero_point;
  const int nc = r->channels;
#if defined(__x86_64__)
  const int wide = __builtin_cpu_supports("avx512f");
#endif
  for (size_t i = 0; i < count; i += (size_t)nc) {
    float *v = y + i;
    int c = 0;
#if defined(__x86_64__)
    if (wide) c = requant_row512(v, nc, r, lo, hi);
#endif
#ifdef __AVX2__
    /* the same operations four channels at a time (exact: no contraction, same roundings) */
    const __m256d vlo = _mm256_set1_pd(lo), vhi = _mm256_set1_pd(hi), half = _mm256_set1_pd(0.5);
    const __m128 vscale = _mm_set1_ps(r->scale);
    for (; c + 4 <= nc; c += 4) {
      __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(v + c));
      __m256d acc = _mm256_round_pd(_mm256_mul_pd(x, _mm256_loadu_pd(r->inv_unit + c)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m256d t = _mm256_mul_pd(acc, _mm256_loadu_pd(r->mult + c));
      t = _mm256_floor_pd(_mm256_add_pd(t, half));
      __m256d q = _mm256_mul_pd(t, _mm256_loadu_pd(r->inv_pow2 + c));
      q = _mm256_floor_pd(_mm256_add_pd(q, half));
      q = _mm256_min_pd(_mm256_max_pd(q, vlo), vhi);
      _mm_storeu_ps(v + c, _mm_mul_ps(_mm256_cvtpd_ps(q), vscale));
    }
#endif
    for (; c < nc; c++)
      v[c] = requant1(v[c], r->inv_unit[c], r->mult[c], r->inv_pow2[c], lo, hi, r->scale);
  }
}

static void window(const lk_pool_params *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1);

/* ---- TFLite's fixed-point helpers (tensorflow/lite/kernels/internal/common.h) ---- */

static int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * b;
  int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^e rounded to nearest, ties away from zero. */
static int32_t rounding_divide_by_pot(int32_t x, int e) {
  int32_t mask = (int32_t)(((int64_t)1 << e) - 1), rem = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0);
  return (x >> e) + (rem > threshold);
}

static int32_t saturate32(int64_t v) {
  return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

/* QuantizeMultiplier: real = qm / 2^31 * 2^shift (shift > 0 shifts left). */
static void quantize_multiplier(double real, int32_t *qm, int *shift) {
  *qm = 0;
  *shift = 0;
  if (!(real > 0) || !isfinite(real)) return;
  int e;
  int64_t q = llround(ldexp(frexp(real, &e), 31));
  if (q == ((int64_t)1 << 31)) {
    q /= 2;
    e++;
  }
  if (e < -31) return;
  *qm = (int32_t)q;
  *shift = e;
}

void lk_ref_quantize_multiplier(double real, double *mult, int *right_shift) {
  int32_t qm;
  int shift;
  quantize_multiplier(real, &qm, &shift);
  *mult = ldexp((double)qm, -31 + (shift > 0 ? shift : 0));
  *right_shift = shift < 0 ? -shift : 0;
}

static int32_t mul_by_quantized_multiplier(int32_t x, int32_t qm, int shift) {
  int left = shift > 0 ? (shift < 32 ? shift : 32) : 0; /* beyond 32 it saturates anyway */
  int right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(
      sat_rounding_doubling_high_mul(saturate32((int64_t)x * ((int64_t)1 << left)), qm), right);
}

/* q - zero_point behind a value on a grid (inv = 1/scale; exact: values sit on the grid).
 * Clamped far outside any 8-bit range so a hostile model cannot overflow the integers. */
static int32_t grid_steps(float x, float inv) {
  float r = rintf(x * inv);
  if (!(r > -2047.0f)) return -2047; /* NaN too; 2047 << 20 still fits an int32 */
  return r < 2047.0f ? (int32_t)r : 2047;
}

static float from_q(int32_t q, const lk_qout *o) {
  q = q < o->qmin ? o->qmin : q > o->qmax ? o->qmax : q;
  return (float)(q - o->zero_point) * o->scale;
}

/* a / n rounded, ties away from zero (n > 0), saturated to int32. */
static int32_t div_round(int64_t a, int64_t n) {
  return saturate32(a > 0 ? (a + n / 2) / n : (a - n / 2) / n);
}

/* The per-input half of ADD for one grid step count d = q - zero_point. */
static int32_t add_term(int32_t d, int32_t m, int sh) {
  return mul_by_quantized_multiplier(d * (1 << 20), m, sh); /* (q - zero point) << 20 */
}

#if defined(__x86_64__)
/* ADD's arithmetic sixteen values at a time, bit for bit the scalar loop below: both grid
 * steps tabulated (gathers), the sum through MultiplyByQuantizedMultiplier in 64-bit lanes
 * (even and odd halves), the rounding right shift, the clamp. Handles a prefix of the data
 * and returns its length: it stops at the first block with a step beyond the tables (or
 * NaN), and does nothing when the output multiplier shifts left (not seen in practice). */
__attribute__((target("avx512f"))) static size_t add_q_512(const float *a, float inva,
                                                           const float *b, float invb,
                                                           size_t count, const int32_t *ta,
                                                           const int32_t *tb, int range,
                                                           int32_t mo, int so, const lk_qout *qo,
                                                           float *out) {
  if (so > 0) return 0;
  const int right = -so;
  const __m512 via = _mm512_set1_ps(inva), vib = _mm512_set1_ps(invb);
  const __m512i vr = _mm512_set1_epi32(range), vm = _mm512_set1_epi64(mo);
  const __m512i pos = _mm512_set1_epi64((int64_t)1 << 30), neg = _mm512_set1_epi64(1 - ((int64_t)1 << 30));
  const __m512i low31 = _mm512_set1_epi64(((int64_t)1 << 31) - 1);
  const __m512i mask = _mm512_set1_epi32((int32_t)(((int64_t)1 << right) - 1));
  const __m512i half = _mm512_srai_epi32(mask, 1), one = _mm512_set1_epi32(1);
  const __m512i zp = _mm512_set1_epi32(qo->zero_point);
  const __m512i lo = _mm512_set1_epi32(qo->qmin), hi = _mm512_set1_epi32(qo->qmax);
  const __m512 sc = _mm512_set1_ps(qo->scale);
  const __m512 lim = _mm512_set1_ps((float)range + 0.5f);
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    __m512 fa = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(a + i), via),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 fb = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(b + i), vib),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* |step| <= range, NaN excluded (ordered compare) */
    __mmask16 ok = _mm512_cmp_ps_mask(_mm512_abs_ps(fa), lim, _CMP_LT_OQ) &
                   _mm512_cmp_ps_mask(_mm512_abs_ps(fb), lim, _CMP_LT_OQ);
    if (ok != 0xFFFF) break;
    __m512i da = _mm512_add_epi32(_mm512_cvtps_epi32(fa), vr);
    __m512i db = _mm512_add_epi32(_mm512_cvtps_epi32(fb), vr);
    __m512i sum = _mm512_add_epi32(_mm512_i32gather_epi32(da, ta, 4), _mm512_i32gather_epi32(db, tb, 4));
    /* SaturatingRoundingDoublingHighMul(sum, mo): (sum*mo + nudge) / 2^31, toward zero */
    __m512i q[2];
    for (int h = 0; h < 2; h++) {
      __m512i x = h ? _mm512_srai_epi64(sum, 32) : _mm512_srai_epi64(_mm512_slli_epi64(sum, 32), 32);
      __m512i ab = _mm512_mul_epi32(x, vm);
      __mmask8 negm = _mm512_cmp_epi64_mask(ab, _mm512_setzero_si512(), _MM_CMPINT_LT);
      __m512i v = _mm512_add_epi64(ab, _mm512_mask_blend_epi64(negm, pos, neg));
      __mmask8 vneg = _mm512_cmp_epi64_mask(v, _mm512_setzero_si512(), _MM_CMPINT_LT);
      v = _mm512_mask_add_epi64(v, vneg, v, low31);
      q[h] = _mm512_srai_epi64(v, 31);
    }
    __m512i r = _mm512_mask_blend_epi32(0xAAAA, q[0], _mm512_slli_epi64(q[1], 32));
    /* RoundingDivideByPOT(r, right): ties away from zero */
    __m512i rem = _mm512_and_si512(r, mask);
    __mmask16 rneg = _mm512_cmp_epi32_mask(r, _mm512_setzero_si512(), _MM_CMPINT_LT);
    __m512i thr = _mm512_mask_add_epi32(half, rneg, half, one);
    __mmask16 up = _mm512_cmp_epi32_mask(rem, thr, _MM_CMPINT_GT);
    r = _mm512_mask_add_epi32(_mm512_srai_epi32(r, right), up, _mm512_srai_epi32(r, right), one);
    r = _mm512_add_epi32(r, zp);
    r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(r, zp)), sc));
  }
  return i;
}
#endif

void lk_ref_add_q(const float *a, lk_qgrid qa, const float *b, lk_qgrid qb, size_t count,
                  const lk_qout *qo, float *out) {
  const int left_shift = 20;
  double twice_max = 2.0 * (qa.scale > qb.scale ? qa.scale : qb.scale);
  int32_t ma, mb, mo;
  int sa, sb, so;
  quantize_multiplier(qa.scale / twice_max, &ma, &sa);
  quantize_multiplier(qb.scale / twice_max, &mb, &sb);
  quantize_multiplier(twice_max / ((double)(1 << left_shift) * qo->scale), &mo, &so);
  const float inva = 1 / qa.scale, invb = 1 / qb.scale;
  /* Each input's term depends only on its 8-bit grid step: tabulated for |d| <= 255 (all of
   * a uint8/int8 grid), computed directly past that; the result is the same integer. */
  enum { R = 255 };
  int32_t ta[2 * R + 1], tb[2 * R + 1];
  for (int d = -R; d <= R; d++) {
    ta[d + R] = add_term(d, ma, sa);
    tb[d + R] = add_term(d, mb, sb);
  }
  size_t i = 0;
#if defined(__x86_64__)
  if (count >= 16 && __builtin_cpu_supports("avx512f"))
    i = add_q_512(a, inva, b, invb, count, ta, tb, R, mo, so, qo, out);
#endif
  for (; i < count; i++) {
    int32_t da = grid_steps(a[i], inva), db = grid_steps(b[i], invb);
    int32_t x = da >= -R && da <= R ? ta[da + R] : add_term(da, ma, sa);
    int32_t y = db >= -R && db <= R ? tb[db + R] : add_term(db, mb, sb);
    out[i] = from_q(mul_by_quantized_multiplier(x + y, mo, so) + qo->zero_point, qo);
  }
}

void lk_ref_avg_pool_q(const lk_pool_params *p, const float *in, const lk_qout *qo, float *out) {
  const float inv = 1 / qo->scale;
  for (int n = 0; n < p->n; n++)
    for (int oy = 0; oy < p->oh; oy++)
      for (int ox = 0; ox < p->ow; ox++) {
        float *o = out + (((size_t)n * p->oh + oy) * p->ow + ox) * p->c;
        int y0, y1, x0, x1;
        window(p, oy, ox, &y0, &y1, &x0, &x1);
        int cells = (y1 - y0) * (x1 - x0);
        for (int c = 0; c < p->c; c++) {
          int64_t acc = 0; /* raw integers, zero point included, as the runtime sums them */
          for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
              acc += grid_steps(in[(((size_t)n * p->ih + y) * p->iw + x) * p->c + c], inv) +
                     qo->zero_point;
          o[c] = from_q(cells > 0 ? div_round(acc, cells) : qo->zero_point, qo);
        }
      }
}

void lk_ref_mean_q(const float *in, lk_qgrid qi, const int *dims, int ndims, int reduce_mask,
                   const lk_qout *qo, float *out) {
  size_t ostride[32], ocount = 1, total = 1, reduced = 1;
  assert(ndims <= 32);
  for (int d = ndims - 1; d >= 0; d--) {
    total *= (size_t)dims[d];
    ostride[d] = reduce_mask >> d & 1 ? 0 : ocount;
    if (reduce_mask >> d & 1) reduced *= (size_t)dims[d];
    else ocount *= (size_t)dims[d];
  }
  int32_t qm;
  int shift;
  quantize_multiplier((double)qi.scale / (double)qo->scale, &qm, &shift);
  const float inv = 1 / qi.scale;
  /* integer sums kept in out: exact while below 2^24 (reductions of up to 65793 values) */
  for (size_t o = 0; o < ocount; o++) out[o] = 0;
  int idx[32] = {0};
  size_t o = 0;
  for (size_t i = 0; i < total; i++) {
    out[o] += (float)grid_steps(in[i], inv);
    for (int d = ndims - 1; d >= 0; d--) {
      o += ostride[d];
      if (++idx[d] < dims[d]) break;
      o -= ostride[d] * (size_t)dims[d];
      idx[d] = 0;
    }
  }
  for (size_t k = 0; k < ocount; k++) {
    int32_t acc = mul_by_quantized_multiplier(saturate32((int64_t)out[k]), qm, shift);
    out[k] = from_q(saturate32((int64_t)div_round(acc, (int64_t)reduced) + qo->zero_point), qo);
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
        const float *r0 = in + ((size_t)b * ih + y0) * iw * c;
        const float *r1 = in + ((size_t)b * ih + y1) * iw * c;
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
