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

static void coeffs_free(coeffs *c) { /* idempotent: a failed coeffs_make is freed again by its caller */
  free(c->first);
  free(c->n);
  free(c->k);
  c->first = c->n = NULL;
  c->k = NULL;
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

#if !defined(__AVX2__)
/* One row, sw RGB -> dw RGB, scalar: three accumulators per output pixel. */
static void pass_h_row(const uint8_t *src, uint8_t *dst, int dw, const coeffs *c) {
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
#else
/* AVX2: two taps per step. Each 8-byte load holds pixels t, t+1 (and 2 spare bytes); a
 * shuffle makes (r0 g0 b0 0 r1 g1 b1 0), widened to 8 x int32 and multiplied by the taps'
 * weights repeated 4 times (k4). Loads may read up to 5 bytes past the row's last pixel
 * (weights there are 0), so the caller passes a padded copy of a row near the buffer's end. */
static void pass_h_row_avx2(const uint8_t *src, uint8_t *dst, int dw, const coeffs *c,
                            const int32_t *k4, int ksize2) {
  const __m128i shuf = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i half = _mm_set1_epi32(1 << (PREC - 1));
  for (int x = 0; x < dw; x++) {
    const int32_t *k = k4 + (size_t)x * (size_t)ksize2 * 4;
    const uint8_t *p = src + (size_t)c->first[x] * 3;
    __m256i acc = _mm256_setzero_si256();
    for (int t = 0, n2 = (c->n[x] + 1) / 2; t < n2; t++, p += 6, k += 8) {
      __m128i v = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)p), shuf);
      __m256i w = _mm256_loadu_si256((const __m256i *)k);
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v), w));
    }
    __m128i s = _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(acc),
                                            _mm256_extracti128_si256(acc, 1)), half);
    s = _mm_srai_epi32(s, PREC);
    s = _mm_packus_epi16(_mm_packs_epi32(s, s), s); /* clamps to 0..255 like clip8 */
    uint32_t rgb = (uint32_t)_mm_cvtsi128_si32(s);
    if (x + 1 < dw) {
      memcpy(dst + 3 * x, &rgb, 4); /* the 4th byte is overwritten by the next pixel */
    } else {
      dst[3 * x] = (uint8_t)rgb, dst[3 * x + 1] = (uint8_t)(rgb >> 8);
      dst[3 * x + 2] = (uint8_t)(rgb >> 16);
    }
  }
}
#endif

static int pass_h(const uint8_t *in, int sw, int rows, uint8_t *out, int dw, const coeffs *c) {
  size_t row = (size_t)sw * 3;
#if defined(__AVX2__)
  /* Weights in pairs, each repeated for 4 lanes; odd tap counts padded with a zero weight. */
  int ksize2 = (c->ksize + 1) / 2 * 2;
  size_t nk, pad_n;
  if (lk_size_mul3((size_t)dw, (size_t)ksize2, 4 * sizeof(int32_t), &nk) ||
      lk_size_add(row, 16, &pad_n))
    return LK_ETOOBIG;
  int32_t *k4 = calloc(1, nk);
  uint8_t *pad = calloc(1, pad_n);
  if (!k4 || !pad) {
    free(k4);
    free(pad);
    return LK_ENOMEM;
  }
  for (int x = 0; x < dw; x++)
    for (int t = 0; t < c->n[x]; t++)
      for (int l = 0; l < 4; l++)
        k4[((size_t)x * (size_t)ksize2 + (size_t)t) * 4 + (size_t)l] =
            c->k[(size_t)x * (size_t)c->ksize + (size_t)t];
  for (int y = 0; y < rows; y++) {
    const uint8_t *src = in + (size_t)y * row;
    if ((size_t)(rows - 1 - y) * row < 8) { /* fewer than 8 bytes follow this row */
      memcpy(pad, src, row);
      src = pad;
    }
    pass_h_row_avx2(src, out + (size_t)y * (size_t)dw * 3, dw, c, k4, ksize2);
  }
  free(k4);
  free(pad);
#else
  for (int y = 0; y < rows; y++)
    pass_h_row(in + (size_t)y * row, out + (size_t)y * (size_t)dw * 3, dw, c);
#endif
  return 0;
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
    size_t i = 0;
#if defined(__AVX2__)
    for (; i + 8 <= len; i += 8) {
      __m256i a = _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(acc + i)), PREC);
      __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
      _mm_storel_epi64((__m128i *)(dst + i), _mm_packus_epi16(w, w));
    }
#endif
    for (; i < len; i++) dst[i] = clip8(acc[i]);
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
      rc = pass_h(src->px, src->w, src->h, out, w, &ch);
      goto done;
    }
    if (!(mid = malloc(mid_n))) {
      rc = LK_ENOMEM;
      goto done;
    }
    if ((rc = pass_h(src->px, src->w, src->h, mid, w, &ch))) goto done;
    vin = mid;
  }
  size_t acc_n;
  if (lk_size_mul(mid_row, sizeof *acc, &acc_n)) {
    rc = LK_ETOOBIG;
    goto done;
  }
  if (!(acc = malloc(acc_n))) {
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
