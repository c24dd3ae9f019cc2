/* image/resize.c — antialiased separable resize, a port of Pillow's Resample.c BILINEAR path
 * (reducing_gap=None): triangle filter with support max(1, src/dst), centres at (i+0.5)*scale,
 * weights normalised per output pixel then held as 22-bit fixed point, rounding to nearest
 * with clamping. Same arithmetic as Pillow, so results match it bit for bit. Horizontal pass
 * into an intermediate image, then vertical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/size.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define PREC 22 /* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */

/* Per-axis weights: output i reads n[i] inputs from first[i] with weights k[i*ksize..]. */
typedef struct coeffs {
  int ksize;
  int *first, *n;
  int32_t *k;
} coeffs;

static void coeffs_free(coeffs *c) {
  free(c->first);
  free(c->n);
  free(c->k);
}

static double triangle(double x) {
  if (x < 0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

static int coeffs_make(int in, int out, coeffs *c) {
  memset(c, 0, sizeof *c);
  double scale = (double)in / out;
  double fscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * fscale;
  c->ksize = (int)ceil(support) * 2 + 1;
  size_t nk;
  if (lk_size_mul((size_t)out, (size_t)c->ksize, &nk)) return LK_ETOOBIG;
  c->first = malloc((size_t)out * sizeof *c->first);
  c->n = malloc((size_t)out * sizeof *c->n);
  c->k = calloc(nk, sizeof *c->k);
  double *tmp = malloc((size_t)c->ksize * sizeof *tmp);
  if (!c->first || !c->n || !c->k || !tmp) {
    free(tmp);
    coeffs_free(c);
    return LK_ENOMEM;
  }
  double ss = 1.0 / fscale;
  for (int i = 0; i < out; i++) {
    double center = (i + 0.5) * scale;
    int lo = (int)(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = (int)(center + support + 0.5);
    if (hi > in) hi = in;
    int n = hi - lo;
    if (n > c->ksize) n = c->ksize; /* cannot happen; keeps the table in bounds regardless */
    double ww = 0;
    for (int x = 0; x < n; x++) ww += tmp[x] = triangle((x + lo - center + 0.5) * ss);
    int32_t *k = c->k + (size_t)i * (size_t)c->ksize;
    for (int x = 0; x < n; x++) {
      double w = ww != 0.0 ? tmp[x] / ww : tmp[x];
      k[x] = (int32_t)(w < 0 ? -0.5 + w * (1 << PREC) : 0.5 + w * (1 << PREC));
    }
    c->first[i] = lo;
    c->n[i] = n;
  }
  free(tmp);
  return 0;
}

static inline uint8_t clip8(int32_t v) {
  v >>= PREC;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* rows x sw RGB -> rows x dw RGB. */
static void pass_h(const uint8_t *in, int sw, int rows, uint8_t *out, int dw, const coeffs *c) {
  for (int y = 0; y < rows; y++) {
    const uint8_t *src = in + (size_t)y * (size_t)sw * 3;
    uint8_t *dst = out + (size_t)y * (size_t)dw * 3;
    for (int x = 0; x < dw; x++) {
      const int32_t *k = c->k + (size_t)x * (size_t)c->ksize;
      const uint8_t *p = src + (size_t)c->first[x] * 3;
      int32_t r = 1 << (PREC - 1), g = r, b = r;
      for (int t = 0, n = c->n[x]; t < n; t++, p += 3) {
        r += p[0] * k[t];
        g += p[1] * k[t];
        b += p[2] * k[t];
      }
      dst[3 * x] = clip8(r), dst[3 * x + 1] = clip8(g), dst[3 * x + 2] = clip8(b);
    }
  }
}

/* sh rows -> dh rows, each row of len bytes; acc is len int32 scratch. */
static void pass_v(const uint8_t *in, size_t len, uint8_t *out, int dh, const coeffs *c,
                   int32_t *acc) {
  for (int y = 0; y < dh; y++) {
    const int32_t *k = c->k + (size_t)y * (size_t)c->ksize;
    for (size_t i = 0; i < len; i++) acc[i] = 1 << (PREC - 1);
    for (int t = 0, n = c->n[y]; t < n; t++) {
      const uint8_t *row = in + (size_t)(c->first[y] + t) * len;
      int32_t kt = k[t];
      size_t i = 0;
#if defined(__AVX2__)
      __m256i vk = _mm256_set1_epi32(kt);
      for (; i + 8 <= len; i += 8) {
        __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + i)));
        __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
        _mm256_storeu_si256((__m256i *)(acc + i), _mm256_add_epi32(a, _mm256_mullo_epi32(px, vk)));
      }
#endif
      for (; i < len; i++) acc[i] += row[i] * kt;
    }
    uint8_t *dst = out + (size_t)y * len;
    for (size_t i = 0; i < len; i++) dst[i] = clip8(acc[i]);
  }
}

int lk_image_resize(const lk_image *src, int w, int h, lk_image *dst) {
  if (!src || !src->px || src->w <= 0 || src->h <= 0 || w <= 0 || h <= 0 || !dst || dst == src)
    return LK_EINVAL;
  size_t out_n, mid_n, mid_row;
  if (lk_size_mul3((size_t)w, (size_t)h, 3, &out_n) ||
      lk_size_mul3((size_t)w, (size_t)src->h, 3, &mid_n) ||
      lk_size_mul((size_t)w, 3, &mid_row))
    return LK_ETOOBIG;
  uint8_t *out = malloc(out_n);
  if (!out) return LK_ENOMEM;
  int need_h = w != src->w, need_v = h != src->h;
  if (!need_h && !need_v) { /* Pillow copies in this case too */
    memcpy(out, src->px, out_n);
    *dst = (lk_image){.w = w, .h = h, .px = out};
    return 0;
  }
  coeffs ch = {0}, cv = {0};
  uint8_t *mid = NULL;
  int32_t *acc = NULL;
  int rc = 0;
  if ((need_h && (rc = coeffs_make(src->w, w, &ch))) ||
      (need_v && (rc = coeffs_make(src->h, h, &cv))))
    goto done;
  const uint8_t *vin = src->px;
  if (need_h) {
    if (!need_v) {
      pass_h(src->px, src->w, src->h, out, w, &ch);
      goto done;
    }
    if (!(mid = malloc(mid_n))) {
      rc = LK_ENOMEM;
      goto done;
    }
    pass_h(src->px, src->w, src->h, mid, w, &ch);
    vin = mid;
  }
  if (!(acc = malloc(mid_row * sizeof *acc))) {
    rc = LK_ENOMEM;
    goto done;
  }
  pass_v(vin, mid_row, out, h, &cv, acc);
done:
  coeffs_free(&ch);
  coeffs_free(&cv);
  free(mid);
  free(acc);
  if (rc) {
    free(out);
    return rc;
  }
  *dst = (lk_image){.w = w, .h = h, .px = out};
  return 0;
}
