/* nn/qconv.c — the int8 kernels of qconv.h on AVX-512 VNNI. Shared: a block of 64 output
 * channels is four registers of 16 int32 sums, dword j of 128-bit lane l of register r holding
 * channel 16 l + 4 r + j, so that after oneDNN's requantisation packs_epi32 (registers 0 with
 * 1, 2 with 3) then packus_epi16 give the 64 bytes in channel order.
 * Depthwise: one output row at a time, 64 channels at a time; the three input rows of a column
 * are interleaved into four registers of [row0, row1, row2, 0] byte quads (the unpacks' lane
 * order is the one above), so one vpdpbusd adds a kernel column's three taps for 16 channels,
 * and a column so interleaved serves the outputs that read it.
 * 1x1: four pixels at a time; each input quad broadcast to a register meets a register of 16
 * outputs' weight quads in one vpdpbusd. An s8 input is made u8 by adding 128 (xor 0x80) and
 * the sums start at -128 * sum(w): oneDNN's exact int32 sums. */
#include "nn/qconv.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/size.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline

typedef struct quad { /* four registers: a block of 64 channels */
  __m512i v[4];
} quad;

int lk_qconv_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

/* Channel of dword j of lane l of register r in block b; lanes: the 16-channel lanes one
 * pixel fills (4, or fewer when a register holds several pixels, whose lanes repeat). */
static int chan(int b, int r, int l, int j, int lanes) {
  return 64 * b + 16 * (l % lanes) + 4 * r + j;
}

/* 1 when the float clip at hi must run: hi rounds below 255, or some channel's value could
 * reach 2^31 (where the conversion to int32 would fail). Else the packs' saturation to
 * [0, 255] gives the same bytes, the clip being monotone with the rounding. Channel c's sum
 * has at most `taps` products of |x| <= xmax with w[c * taps + i]. */
static int need_clip(float hi, const int8_t *w, const float *bias, const float *scale, int c,
                     int taps, int xmax) {
  if (!(hi > 254.5f)) return 1;
  for (int ch = 0; ch < c; ch++) {
    double big = fabs((double)bias[ch]);
    for (int i = 0; i < taps; i++)
      big += (double)xmax * abs(w[(size_t)ch * (size_t)taps + (size_t)i]);
    if (big * fabs((double)scale[ch]) >= 1e9) return 1;
  }
  return 0;
}

typedef struct affine { /* a block's bias and scale (64 floats each, in register order) */
  __m512 b[4], s[4];
} affine;

AVX512 affine affine_load(const float *bias, const float *scale) {
  affine a;
#pragma GCC unroll 4
  for (int r = 0; r < 4; r++) {
    a.b[r] = _mm512_load_ps(bias + 16 * r);
    a.s[r] = _mm512_load_ps(scale + 16 * r);
  }
  return a;
}

/* oneDNN's requantisation of a block: y = (float)acc + bias, y *= scale (two roundings,
 * never an FMA), the clip at hi (where needed), round to nearest even, saturate to u8; the
 * clip below 0 is the saturation (lo <= 0). The callers load the bias and scale into a once,
 * before a loop of byte stores, which the compiler must assume may change them in memory. */
AVX512 __m512i requant_r(quad acc, const affine *a, __m512 hi, int clip) {
  __m512i v[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; r++) {
    __m512 f = _mm512_add_round_ps(_mm512_cvtepi32_ps(acc.v[r]), a->b[r],
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    f = _mm512_mul_round_ps(f, a->s[r], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v[r] = _mm512_cvtps_epi32(clip ? _mm512_min_ps(f, hi) : f);
  }
  return _mm512_packus_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
}

AVX512 __m512i requant(quad acc, const float *bias, const float *scale, __m512 hi, int clip) {
  affine a = affine_load(bias, scale);
  return requant_r(acc, &a, hi, clip);
}

#define AVX512_ENTRY __attribute__((target("avx512f,avx512bw,avx512vnni"))) static

/* ---- depthwise 3x3 ---- */

struct lk_qconv_dw {
  int n, h, w, c, stride, oh, ow, nb; /* nb: blocks of 64 channels (the last may be short) */
  int pix;                            /* pixels a register holds: 64 / c for 16 or 32 channels
                                       * at stride 1 (lanes repeat the weights), else 1 */
  int32_t *wq;                        /* nb * 3 (kernel column) * 4 (register) * 16 dwords */
  float *bias, *scale;                /* nb * 4 * 16, in the registers' channel order */
  float hi;                           /* min(clip hi, 255) */
  int clip;                           /* 0: hi rounds to 255 or more and no sum can reach
                                       * 2^31, so the packs' saturation is the clip */
  uint8_t *zero;                      /* a row of w * c zero bytes: the padding rows */
};

int lk_qconv_dw_new(const lk_qconv_dw_params *p, lk_qconv_dw **out, lk_errbuf *err) {
  *out = NULL;
  if (!lk_qconv_available())
    return lk_err_set(err, LK_EUNSUPPORTED, "depthwise 3x3 int8: this CPU has no AVX-512 VNNI");
  if (p->n < 1 || p->h < 1 || p->w < 1 || p->c < 16 || p->c % 16 ||
      (p->stride != 1 && p->stride != 2) || (p->stride == 2 && (p->h % 2 || p->w % 2)) ||
      !(p->lo <= 0) || !(p->hi >= 0))
    return lk_err_set(err, LK_EUNSUPPORTED,
                      "depthwise 3x3 int8: shape %dx%dx%dx%d stride %d clip [%g, %g] not taken",
                      p->n, p->h, p->w, p->c, p->stride, (double)p->lo, (double)p->hi);
  size_t row;
  if (lk_size_mul((size_t)p->w, (size_t)p->c, &row))
    return lk_err_set(err, LK_ETOOBIG, "depthwise 3x3 int8: row too large");
  lk_qconv_dw *k = calloc(1, sizeof *k);
  if (!k) return lk_err_set(err, LK_ENOMEM, "out of memory");
  k->n = p->n, k->h = p->h, k->w = p->w, k->c = p->c, k->stride = p->stride;
  k->oh = p->h / p->stride, k->ow = p->w / p->stride;
  k->nb = (p->c + 63) / 64;
  k->pix = p->stride == 1 && p->c < 64 && 64 % p->c == 0 ? 64 / p->c : 1;
  k->hi = p->hi < 255 ? p->hi : 255;
  size_t nb = (size_t)k->nb;
  k->wq = aligned_alloc(64, nb * 12 * 16 * sizeof *k->wq);
  k->bias = aligned_alloc(64, nb * 4 * 16 * sizeof *k->bias);
  k->scale = aligned_alloc(64, nb * 4 * 16 * sizeof *k->scale);
  k->zero = aligned_alloc(64, (row + 63) & ~(size_t)63);
  if (!k->wq || !k->bias || !k->scale || !k->zero) {
    lk_qconv_dw_free(k);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  memset(k->zero, 0, (row + 63) & ~(size_t)63);
  k->clip = need_clip(k->hi, p->weights, p->bias, p->scale, p->c, 9, 255);
  for (int b = 0; b < k->nb; b++)
    for (int r = 0; r < 4; r++)
      for (int l = 0; l < 4; l++)
        for (int j = 0; j < 4; j++) {
          int c = chan(b, r, l, j, k->pix > 1 ? p->c / 16 : 4), in = c < p->c;
          size_t v = (size_t)(4 * b + r) * 16 + (size_t)(4 * l + j);
          k->bias[v] = in ? p->bias[c] : 0;
          k->scale[v] = in ? p->scale[c] : 0;
          for (int dx = 0; dx < 3; dx++) {
            uint32_t q = 0;
            for (int dy = 0; dy < 3 && in; dy++)
              q |= (uint32_t)(uint8_t)p->weights[(size_t)c * 9 + (size_t)(3 * dy + dx)] << (8 * dy);
            k->wq[(size_t)((3 * b + dx) * 4 + r) * 16 + (size_t)(4 * l + j)] = (int32_t)q;
          }
        }
  *out = k;
  return 0;
}

void lk_qconv_dw_free(lk_qconv_dw *k) {
  if (!k) return;
  free(k->wq);
  free(k->bias);
  free(k->scale);
  free(k->zero);
  free(k);
}

void lk_qconv_dw_out_dims(const lk_qconv_dw *k, int *oh, int *ow) {
  *oh = k->oh;
  *ow = k->ow;
}

/* Three rows' 64 bytes as four registers of [r0, r1, r2, 0] quads (see the top). */
AVX512 quad interleave(__m512i r0, __m512i r1, __m512i r2) {
  __m512i z = _mm512_setzero_si512();
  __m512i lo01 = _mm512_unpacklo_epi8(r0, r1), hi01 = _mm512_unpackhi_epi8(r0, r1);
  __m512i lo2 = _mm512_unpacklo_epi8(r2, z), hi2 = _mm512_unpackhi_epi8(r2, z);
  quad q = {{_mm512_unpacklo_epi16(lo01, lo2), _mm512_unpackhi_epi16(lo01, lo2),
             _mm512_unpacklo_epi16(hi01, hi2), _mm512_unpackhi_epi16(hi01, hi2)}};
  return q;
}

/* The column at a, b, c (three rows, same pixel, 64 channels of which m says which exist). */
AVX512 quad column(const uint8_t *a, const uint8_t *b, const uint8_t *c, __mmask64 m) {
  return interleave(_mm512_maskz_loadu_epi8(m, a), _mm512_maskz_loadu_epi8(m, b),
                    _mm512_maskz_loadu_epi8(m, c));
}

/* One output pixel's 64 channels from the columns x0, x1, x2 and kernel columns w. */
AVX512 __m512i pixel(quad x0, quad x1, quad x2, quad w0, quad w1, quad w2, const affine *af,
                     __m512 hi, int clip) {
  quad acc;
#pragma GCC unroll 4
  for (int r = 0; r < 4; r++) {
    acc.v[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), x0.v[r], w0.v[r]);
    acc.v[r] = _mm512_dpbusd_epi32(acc.v[r], x1.v[r], w1.v[r]);
    acc.v[r] = _mm512_dpbusd_epi32(acc.v[r], x2.v[r], w2.v[r]);
  }
  return requant_r(acc, af, hi, clip);
}

AVX512 quad wload(const int32_t *p) {
  quad q = {{_mm512_load_si512(p), _mm512_load_si512(p + 16), _mm512_load_si512(p + 32),
             _mm512_load_si512(p + 48)}};
  return q;
}

/* The 64 bytes of pixels s .. s + p - 1 (p * c = 64) of a row of w pixels of c channels,
 * zeros for the pixels outside the row. */
AVX512 __m512i window(const uint8_t *row, int s, int p, int w, int c) {
  if (s >= 0 && s + p <= w) return _mm512_loadu_si512(row + (size_t)s * (size_t)c);
  int lo = s > 0 ? s : 0, hi = s + p < w ? s + p : w;
  if (lo >= hi) return _mm512_setzero_si512();
  __mmask64 m = hi - lo == p ? ~(__mmask64)0 : ((__mmask64)1 << ((hi - lo) * c)) - 1;
  __m512i v = _mm512_maskz_loadu_epi8(m, row + (size_t)lo * (size_t)c);
  int sh = (lo - s) * c / 4; /* left of the row: move the pixels up by sh dwords */
  if (!sh) return v;
  __m512i idx =
      _mm512_sub_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                       _mm512_set1_epi32(sh));
  return _mm512_maskz_permutexvar_epi32((__mmask16)(0xffffu << sh), idx, v);
}

/* A column of windows at pixel s (see column). */
AVX512 quad wcolumn(const uint8_t *a, const uint8_t *b, const uint8_t *c, int s,
                    const lk_qconv_dw *k) {
  return interleave(window(a, s, k->pix, k->w, k->c), window(b, s, k->pix, k->w, k->c),
                    window(c, s, k->pix, k->w, k->c));
}

/* One output row of a kernel whose registers hold k->pix pixels (stride 1, 16 or 32
 * channels): pixels x .. x + pix - 1 from the windows at x - 1, x, x + 1. */
AVX512 void row_pixels(const lk_qconv_dw *k, const uint8_t *r0, const uint8_t *r1,
                       const uint8_t *r2, uint8_t *out, int clip) {
  const int p = k->pix;
  const __m512 hi = _mm512_set1_ps(k->hi);
  const quad w0 = wload(k->wq), w1 = wload(k->wq + 64), w2 = wload(k->wq + 128);
  const affine af = affine_load(k->bias, k->scale);
  quad q0 = wcolumn(r0, r1, r2, -1, k);
  for (int x = 0; x < k->ow; x += p) {
    if (p != 2 && x) q0 = wcolumn(r0, r1, r2, x - 1, k); /* p == 2: the last q2 */
    quad q1 = wcolumn(r0, r1, r2, x, k), q2 = wcolumn(r0, r1, r2, x + 1, k);
    __m512i o = pixel(q0, q1, q2, w0, w1, w2, &af, hi, clip);
    int left = k->ow - x;
    if (left >= p)
      _mm512_storeu_si512(out + (size_t)x * (size_t)k->c, o);
    else
      _mm512_mask_storeu_epi8(out + (size_t)x * (size_t)k->c, ((__mmask64)1 << (left * k->c)) - 1,
                              o);
    q0 = q2;
  }
}

/* One output row, one block of 64 channels (m: those that exist) at off. */
AVX512 void row_block(const lk_qconv_dw *k, const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
                      uint8_t *out, int b, __mmask64 m, int clip) {
  const size_t c = (size_t)k->c, off = (size_t)b * 64;
  const __m512 hi = _mm512_set1_ps(k->hi);
  const int32_t *wp = k->wq + (size_t)b * 12 * 16;
  const quad w0 = wload(wp), w1 = wload(wp + 64), w2 = wload(wp + 128);
  const affine af = affine_load(k->bias + off, k->scale + off);
  const __m512i z = _mm512_setzero_si512();
  const quad zq = {{z, z, z, z}};
  r0 += off, r1 += off, r2 += off, out += off;
  if (k->stride == 1) {
    quad q0 = zq, q1 = column(r0, r1, r2, m);
    for (int ox = 0; ox < k->ow; ox++) {
      size_t o = (size_t)(ox + 1) * c;
      quad q2 = ox + 1 < k->w ? column(r0 + o, r1 + o, r2 + o, m) : zq;
      _mm512_mask_storeu_epi8(out + (size_t)ox * c, m,
                              pixel(q0, q1, q2, w0, w1, w2, &af, hi, clip));
      q0 = q1;
      q1 = q2;
    }
  } else {
    quad q0 = column(r0, r1, r2, m);
    for (int ox = 0; ox < k->ow; ox++) {
      size_t o = (size_t)(2 * ox + 1) * c;
      quad q1 = column(r0 + o, r1 + o, r2 + o, m);
      quad q2 = 2 * ox + 2 < k->w ? column(r0 + o + c, r1 + o + c, r2 + o + c, m) : zq;
      _mm512_mask_storeu_epi8(out + (size_t)ox * c, m,
                              pixel(q0, q1, q2, w0, w1, w2, &af, hi, clip));
      q0 = q2;
    }
  }
}

AVX512_ENTRY void dw_run(const lk_qconv_dw *k, const uint8_t *src, uint8_t *dst) {
  const size_t c = (size_t)k->c, row = (size_t)k->w * c;
  for (int n = 0; n < k->n; n++) {
    const uint8_t *img = src + (size_t)n * (size_t)k->h * row;
    for (int oy = 0; oy < k->oh; oy++) {
      int iy = k->stride * oy - (k->stride == 1); /* the top row of the window */
      const uint8_t *r0 = iy >= 0 ? img + (size_t)iy * row : k->zero;
      const uint8_t *r1 = img + (size_t)(iy + 1) * row;
      const uint8_t *r2 = iy + 2 < k->h ? img + (size_t)(iy + 2) * row : k->zero;
      uint8_t *out = dst + ((size_t)n * (size_t)k->oh + (size_t)oy) * (size_t)k->ow * c;
      if (k->pix > 1) {
        if (k->clip)
          row_pixels(k, r0, r1, r2, out, 1);
        else
          row_pixels(k, r0, r1, r2, out, 0);
        continue;
      }
      int b = 0;
      for (; 64 * (b + 1) <= k->c; b++)
        if (k->clip)
          row_block(k, r0, r1, r2, out, b, ~(__mmask64)0, 1);
        else
          row_block(k, r0, r1, r2, out, b, ~(__mmask64)0, 0);
      if (64 * b < k->c)
        row_block(k, r0, r1, r2, out, b, ((__mmask64)1 << (k->c - 64 * b)) - 1, k->clip);
    }
  }
}

void lk_qconv_dw_run(const lk_qconv_dw *k, const uint8_t *src, uint8_t *dst) {
  dw_run(k, src, dst);
}

/* ---- 1x1 ---- */

#define GROUP 4 /* pixels a pass */

struct lk_qconv_pw {
  size_t pixels;
  int ic, oc, nb, nq, src_signed, clip; /* nb: blocks of 64 outputs; nq: input quads */
  int tpix; /* pixels the last block's registers hold: 4 or 2 for 16 or 32 outputs left over
             * (its lanes repeat the weights), else 1 */
  float hi;
  int32_t *wq;         /* nb * nq * 4 registers * 16 dwords */
  int32_t *comp;       /* nb * 4 * 16: where the sums start */
  float *bias, *scale; /* nb * 4 * 16 */
};

int lk_qconv_pw_new(const lk_qconv_pw_params *p, lk_qconv_pw **out, lk_errbuf *err) {
  *out = NULL;
  if (!lk_qconv_available())
    return lk_err_set(err, LK_EUNSUPPORTED, "1x1 int8: this CPU has no AVX-512 VNNI");
  if (p->pixels < 1 || p->ic < 4 || p->ic > 64 || p->ic % 4 || p->oc < 16 || p->oc % 16 ||
      !(p->lo <= 0) || !(p->hi >= 0))
    return lk_err_set(err, LK_EUNSUPPORTED, "1x1 int8: %d -> %d channels, clip [%g, %g] not taken",
                      p->ic, p->oc, (double)p->lo, (double)p->hi);
  lk_qconv_pw *k = calloc(1, sizeof *k);
  if (!k) return lk_err_set(err, LK_ENOMEM, "out of memory");
  k->pixels = p->pixels, k->ic = p->ic, k->oc = p->oc, k->src_signed = p->src_signed;
  k->nb = (p->oc + 63) / 64, k->nq = p->ic / 4;
  k->tpix = p->oc % 64 == 16 ? 4 : p->oc % 64 == 32 ? 2 : 1;
  k->hi = p->hi < 255 ? p->hi : 255;
  k->clip = need_clip(k->hi, p->weights, p->bias, p->scale, p->oc, p->ic, 255);
  size_t nb = (size_t)k->nb;
  k->wq = aligned_alloc(64, nb * (size_t)k->nq * 64 * sizeof *k->wq);
  k->comp = aligned_alloc(64, nb * 64 * sizeof *k->comp);
  k->bias = aligned_alloc(64, nb * 64 * sizeof *k->bias);
  k->scale = aligned_alloc(64, nb * 64 * sizeof *k->scale);
  if (!k->wq || !k->comp || !k->bias || !k->scale) {
    lk_qconv_pw_free(k);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  for (int b = 0; b < k->nb; b++)
    for (int r = 0; r < 4; r++)
      for (int l = 0; l < 4; l++)
        for (int j = 0; j < 4; j++) {
          int o = chan(b, r, l, j, b == k->nb - 1 && k->tpix > 1 ? 4 / k->tpix : 4);
          int in = o < p->oc;
          size_t v = (size_t)(4 * b + r) * 16 + (size_t)(4 * l + j);
          const int8_t *w = p->weights + (size_t)o * (size_t)p->ic;
          int32_t sum = 0;
          for (int q = 0; q < k->nq; q++) {
            uint32_t d = 0;
            for (int i = 0; i < 4 && in; i++) {
              d |= (uint32_t)(uint8_t)w[4 * q + i] << (8 * i);
              sum += w[4 * q + i];
            }
            k->wq[((size_t)(b * k->nq + q) * 4 + (size_t)r) * 16 + (size_t)(4 * l + j)] =
                (int32_t)d;
          }
          k->comp[v] = p->src_signed ? -128 * sum : 0;
          k->bias[v] = in ? p->bias[o] : 0;
          k->scale[v] = in ? p->scale[o] : 0;
        }
  *out = k;
  return 0;
}

void lk_qconv_pw_free(lk_qconv_pw *k) {
  if (!k) return;
  free(k->wq);
  free(k->comp);
  free(k->bias);
  free(k->scale);
  free(k);
}

/* The sums of block b for np pixels of x (k->ic bytes a pixel, s8 or u8); np and nq (the
 * input quads) constants once inlined, so that the sums stay in registers. Each pixel's input
 * quads are broadcast to all lanes (an s8 one made u8). */
AVX512 void block_sums(const lk_qconv_pw *k, const uint8_t *x, int b, int np, int nq, quad *acc) {
  const size_t ic = (size_t)k->ic;
  const __m512i flip = _mm512_set1_epi8(k->src_signed ? (char)0x80 : 0);
  const int32_t *cp = k->comp + (size_t)b * 64, *wp = k->wq + (size_t)b * (size_t)nq * 64;
#pragma GCC unroll 4
  for (int p = 0; p < np; p++)
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) acc[p].v[r] = _mm512_load_si512(cp + 16 * r);
#pragma GCC unroll 16
  for (int q = 0; q < nq; q++, wp += 64) {
    __m512i w0 = _mm512_load_si512(wp), w1 = _mm512_load_si512(wp + 16);
    __m512i w2 = _mm512_load_si512(wp + 32), w3 = _mm512_load_si512(wp + 48);
#pragma GCC unroll 4
    for (int p = 0; p < np; p++) {
      int32_t d;
      memcpy(&d, x + ic * (size_t)p + 4 * (size_t)q, 4);
      __m512i v = _mm512_xor_si512(_mm512_set1_epi32(d), flip);
      acc[p].v[0] = _mm512_dpbusd_epi32(acc[p].v[0], v, w0);
      acc[p].v[1] = _mm512_dpbusd_epi32(acc[p].v[1], v, w1);
      acc[p].v[2] = _mm512_dpbusd_epi32(acc[p].v[2], v, w2);
      acc[p].v[3] = _mm512_dpbusd_epi32(acc[p].v[3], v, w3);
    }
  }
}

/* The last block of GROUP pixels when its registers hold tp = k->tpix pixels (tp a constant
 * once inlined): register set g covers pixels g * tp .. g * tp + tp - 1, 16 / tp dwords each. */
AVX512 void packed_tail(const lk_qconv_pw *k, const uint8_t *x, uint8_t *out, int tp, int nq,
                        int clip) {
  const int b = k->nb - 1, nt = GROUP / tp, t = 64 / tp; /* t: outputs in the block */
  const size_t ic = (size_t)k->ic;
  const __m512i flip = _mm512_set1_epi8(k->src_signed ? (char)0x80 : 0);
  const int32_t *cp = k->comp + (size_t)b * 64, *wp = k->wq + (size_t)b * (size_t)nq * 64;
  quad acc[GROUP / 2];
#pragma GCC unroll 2
  for (int g = 0; g < nt; g++)
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) acc[g].v[r] = _mm512_load_si512(cp + 16 * r);
#pragma GCC unroll 16
  for (int q = 0; q < nq; q++, wp += 64) {
    __m512i w0 = _mm512_load_si512(wp), w1 = _mm512_load_si512(wp + 16);
    __m512i w2 = _mm512_load_si512(wp + 32), w3 = _mm512_load_si512(wp + 48);
#pragma GCC unroll 2
    for (int g = 0; g < nt; g++) {
      int32_t d;
      memcpy(&d, x + ic * (size_t)(g * tp) + 4 * (size_t)q, 4);
      __m512i v = _mm512_set1_epi32(d);
#pragma GCC unroll 4
      for (int i = 1; i < tp; i++) {
        memcpy(&d, x + ic * (size_t)(g * tp + i) + 4 * (size_t)q, 4);
        v = _mm512_mask_set1_epi32(v, (__mmask16)(((1u << (16 / tp)) - 1) << (i * 16 / tp)), d);
      }
      v = _mm512_xor_si512(v, flip);
      acc[g].v[0] = _mm512_dpbusd_epi32(acc[g].v[0], v, w0);
      acc[g].v[1] = _mm512_dpbusd_epi32(acc[g].v[1], v, w1);
      acc[g].v[2] = _mm512_dpbusd_epi32(acc[g].v[2], v, w2);
      acc[g].v[3] = _mm512_dpbusd_epi32(acc[g].v[3], v, w3);
    }
  }
  const __m512 hi = _mm512_set1_ps(k->hi);
  const affine af = affine_load(k->bias + (size_t)b * 64, k->scale + (size_t)b * 64);
#pragma GCC unroll 2
  for (int g = 0; g < nt; g++) {
    __m512i o = requant_r(acc[g], &af, hi, clip);
    /* pixel g * tp + i takes bytes [i * t, i * t + t): stored from t * i bytes before it */
#pragma GCC unroll 4
    for (int i = 0; i < tp; i++)
      _mm512_mask_storeu_epi8(
          out + (size_t)(g * tp + i) * (size_t)k->oc + (size_t)b * 64 - (size_t)(i * t),
          (((__mmask64)1 << t) - 1) << (i * t), o);
  }
}

/* np pixels (a constant once inlined) from x (k->ic bytes a pixel) to out, all blocks. */
AVX512 void pixels(const lk_qconv_pw *k, const uint8_t *x, uint8_t *out, int np, int nq, int clip) {
  const __m512 hi = _mm512_set1_ps(k->hi);
  int nb = k->tpix > 1 && np == GROUP ? k->nb - 1 : k->nb;
  for (int b = 0; b < nb; b++) {
    quad acc[GROUP];
    block_sums(k, x, b, np, nq, acc);
    int left = k->oc - 64 * b;
    __mmask64 m = left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
    const affine af = affine_load(k->bias + (size_t)b * 64, k->scale + (size_t)b * 64);
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
      _mm512_mask_storeu_epi8(out + (size_t)p * (size_t)k->oc + (size_t)b * 64, m,
                              requant_r(acc[p], &af, hi, clip));
  }
  if (nb == k->nb) return;
  if (k->tpix == 4)
    packed_tail(k, x, out, 4, nq, clip);
  else
    packed_tail(k, x, out, 2, nq, clip);
}

/* Every pixel, nq input quads (a constant once inlined, so that the sums stay in registers). */
AVX512 void pw_all(const lk_qconv_pw *k, const uint8_t *src, uint8_t *dst, int nq, int clip) {
  const size_t ic = (size_t)k->ic, oc = (size_t)k->oc;
  size_t i = 0;
  for (; i + GROUP <= k->pixels; i += GROUP) pixels(k, src + i * ic, dst + i * oc, GROUP, nq, clip);
  for (; i < k->pixels; i++) pixels(k, src + i * ic, dst + i * oc, 1, nq, clip);
}

AVX512_ENTRY void pw_run(const lk_qconv_pw *k, const uint8_t *src, uint8_t *dst) {
#define NQ_CASE(n)                                                                               \
  case n:                                                                                        \
    if (k->clip)                                                                                 \
      pw_all(k, src, dst, n, 1);                                                                 \
    else                                                                                         \
      pw_all(k, src, dst, n, 0);                                                                 \
    return;
  switch (k->nq) { /* MobileNetV2's expansions: 16, 24, 32, 64 input channels */
    NQ_CASE(4)
    NQ_CASE(6)
    NQ_CASE(8)
    NQ_CASE(16)
  default:
    pw_all(k, src, dst, k->nq, k->clip);
  }
#undef NQ_CASE
}

void lk_qconv_pw_run(const lk_qconv_pw *k, const void *src, uint8_t *dst) { pw_run(k, src, dst); }

/* ---- the first conv: 3x3 stride 2 from 3 channels to 32 ----
 * Two output pixels (A, B: neighbours in a row) share a register set: 128-bit lanes 0-1 hold
 * A's 32 channels, lanes 2-3 B's, so that requant's bytes are A's 32 then B's, the two pixels
 * as they lie in NHWC. A pixel's 27 inputs (3 rows of 3 pixels of 3 channels, 9 contiguous
 * bytes a row) plus one zero make 7 quads; B's row starts 6 bytes after A's, so one 16-byte
 * load a row serves both, the three rows in lanes 0-2 of a register (lane 3 zero), and one
 * vpermb a quad puts A's quad in lanes 0-1 and B's in lanes 2-3. The s8 inputs are made u8
 * by xor 0x80 (padding, read as s8 0, too) and the sums start at -128 * sum(w). */

#define STEM_Q 7 /* quads of a pixel's 27 inputs */

struct lk_qconv_stem {
  int n, h, w, oh, ow, clip;
  float hi;
  int32_t *wq;         /* STEM_Q * 4 registers * 16 dwords */
  int32_t *comp;       /* 4 * 16 */
  float *bias, *scale; /* 4 * 16 */
  uint8_t *idx;        /* STEM_Q * 64: vpermb indices */
  int8_t *zero;        /* a padding row, w * 3 + 64 bytes of 0 */
};

int lk_qconv_stem_new(const lk_qconv_stem_params *p, lk_qconv_stem **out, lk_errbuf *err) {
  *out = NULL;
  __builtin_cpu_init();
  if (!lk_qconv_available() || !__builtin_cpu_supports("avx512vbmi") ||
      !__builtin_cpu_supports("avx512vl"))
    return lk_err_set(err, LK_EUNSUPPORTED, "first conv int8: this CPU has no AVX-512 VBMI");
  if (p->n < 1 || p->h < 2 || p->w < 2 || p->h % 2 || p->w % 2 || p->oc != 32 ||
      !(p->lo <= 0) || !(p->hi >= 0))
    return lk_err_set(err, LK_EUNSUPPORTED, "first conv int8: shape %dx%dx%dx3 -> %d not taken",
                      p->n, p->h, p->w, p->oc);
  size_t row;
  if (lk_size_mul((size_t)p->w, 3, &row) || row > SIZE_MAX - 64)
    return lk_err_set(err, LK_ETOOBIG, "first conv int8: row too large");
  lk_qconv_stem *k = calloc(1, sizeof *k);
  if (!k) return lk_err_set(err, LK_ENOMEM, "out of memory");
  k->n = p->n, k->h = p->h, k->w = p->w, k->oh = p->h / 2, k->ow = p->w / 2;
  k->hi = p->hi < 255 ? p->hi : 255;
  k->clip = need_clip(k->hi, p->weights, p->bias, p->scale, p->oc, 27, 255);
  k->wq = aligned_alloc(64, STEM_Q * 64 * sizeof *k->wq);
  k->comp = aligned_alloc(64, 64 * sizeof *k->comp);
  k->bias = aligned_alloc(64, 64 * sizeof *k->bias);
  k->scale = aligned_alloc(64, 64 * sizeof *k->scale);
  k->idx = aligned_alloc(64, STEM_Q * 64);
  k->zero = calloc(1, row + 64);
  if (!k->wq || !k->comp || !k->bias || !k->scale || !k->idx || !k->zero) {
    lk_qconv_stem_free(k);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  for (int r = 0; r < 4; r++)
    for (int l = 0; l < 4; l++)
      for (int j = 0; j < 4; j++) {
        int o = 16 * (l % 2) + 4 * r + j; /* lanes 0-1: A, 2-3: B, the same channels */
        size_t v = (size_t)r * 16 + (size_t)(4 * l + j);
        const int8_t *w = p->weights + (size_t)o * 27;
        int32_t sum = 0;
        for (int q = 0; q < STEM_Q; q++) {
          uint32_t d = 0;
          for (int i = 0; i < 4 && 4 * q + i < 27; i++) {
            d |= (uint32_t)(uint8_t)w[4 * q + i] << (8 * i);
            sum += w[4 * q + i];
          }
          k->wq[((size_t)q * 4 + (size_t)r) * 16 + (size_t)(4 * l + j)] = (int32_t)d;
        }
        k->comp[v] = -128 * sum;
        k->bias[v] = p->bias[o];
        k->scale[v] = p->scale[o];
      }
  /* byte i of dword lane L of quad q's register: input 4 q + i (row t / 9, byte t % 9 of the
   * row) of A (L < 8) or B (6 bytes on); input 27 reads lane 3, which is 0 */
  for (int q = 0; q < STEM_Q; q++)
    for (int b = 0; b < 64; b++) {
      int t = 4 * q + b % 4, pb = b / 4 >= 8;
      k->idx[q * 64 + b] = (uint8_t)(t >= 27 ? 48 : 16 * (t / 9) + t % 9 + 6 * pb);
    }
  *out = k;
  return 0;
}

void lk_qconv_stem_free(lk_qconv_stem *k) {
  if (!k) return;
  free(k->wq);
  free(k->comp);
  free(k->bias);
  free(k->scale);
  free(k->idx);
  free(k->zero);
  free(k);
}

#define STEM_ENTRY __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"))) static
#define STEM_INLINE                                                                          \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"), always_inline)) static inline

/* Pixels ox .. ox + 2 np - 1 (np pairs, a constant once inlined) of an output row from input
 * rows a, b, c (c may be the zero row); left: output pixels from ox to the row's end. */
STEM_INLINE void stem_pairs(const lk_qconv_stem *k, const int8_t *a, const int8_t *b,
                            const int8_t *c, uint8_t *out, int ox, int left, int np,
                            const __m512i *ix, const __m512i (*wq)[4], int clip) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i x[2];
  quad acc[2];
#pragma GCC unroll 2
  for (int p = 0; p < np; p++) {
    size_t off = (size_t)(ox + 2 * p) * 6; /* A's first input column, 2 ox, times 3 channels */
    /* the last pair reads the padding column w: B's bytes 12-15 must read 0, or with an odd
     * width A's 6-15 (no B) */
    int l = left - 2 * p;
    __mmask16 m = l > 2 ? 0xffff : l == 2 ? 0x0fff : 0x003f;
    x[p] = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(m, a + off));
    x[p] = _mm512_inserti32x4(x[p], _mm_maskz_loadu_epi8(m, b + off), 1);
    x[p] = _mm512_inserti32x4(x[p], _mm_maskz_loadu_epi8(m, c + off), 2);
    x[p] = _mm512_xor_si512(x[p], flip);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) acc[p].v[r] = _mm512_load_si512(k->comp + 16 * r);
  }
#pragma GCC unroll 7
  for (int q = 0; q < STEM_Q; q++)
#pragma GCC unroll 2
    for (int p = 0; p < np; p++) {
      __m512i v = _mm512_permutexvar_epi8(ix[q], x[p]);
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++) acc[p].v[r] = _mm512_dpbusd_epi32(acc[p].v[r], v, wq[q][r]);
    }
  const __m512 hi = _mm512_set1_ps(k->hi);
#pragma GCC unroll 2
  for (int p = 0; p < np; p++) {
    __m512i o = requant(acc[p], k->bias, k->scale, hi, clip);
    if (left - 2 * p >= 2)
      _mm512_storeu_si512(out + (size_t)(ox + 2 * p) * 32, o);
    else
      _mm512_mask_storeu_epi8(out + (size_t)(ox + 2 * p) * 32, 0xffffffffull, o);
  }
}

/* One output row from input rows a, b, c (c may be the zero row), two pairs at a time. */
STEM_INLINE void stem_row(const lk_qconv_stem *k, const int8_t *a, const int8_t *b, const int8_t *c,
                          uint8_t *out, int clip) {
  __m512i ix[STEM_Q], wq[STEM_Q][4];
#pragma GCC unroll 7
  for (int q = 0; q < STEM_Q; q++) {
    ix[q] = _mm512_load_si512(k->idx + 64 * q);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) wq[q][r] = _mm512_load_si512(k->wq + (q * 4 + r) * 16);
  }
  int ox = 0;
  for (; k->ow - ox >= 4; ox += 4)
    stem_pairs(k, a, b, c, out, ox, k->ow - ox, 2, ix, (const __m512i(*)[4])wq, clip);
  for (; ox < k->ow; ox += 2)
    stem_pairs(k, a, b, c, out, ox, k->ow - ox, 1, ix, (const __m512i(*)[4])wq, clip);
}

STEM_ENTRY void stem_run(const lk_qconv_stem *k, const int8_t *src, uint8_t *dst) {
  const size_t row = (size_t)k->w * 3;
  for (int n = 0; n < k->n; n++) {
    const int8_t *img = src + (size_t)n * (size_t)k->h * row;
    for (int oy = 0; oy < k->oh; oy++) {
      const int8_t *a = img + (size_t)(2 * oy) * row, *b = a + row;
      const int8_t *c = 2 * oy + 2 < k->h ? b + row : k->zero;
      uint8_t *out = dst + ((size_t)n * (size_t)k->oh + (size_t)oy) * (size_t)k->ow * 32;
      if (k->clip)
        stem_row(k, a, b, c, out, 1);
      else
        stem_row(k, a, b, c, out, 0);
    }
  }
}

void lk_qconv_stem_run(const lk_qconv_stem *k, const int8_t *src, uint8_t *dst) {
  stem_run(k, src, dst);
}

/* ---- byte table ---- */

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void
table_vbmi(const int8_t *table, const uint8_t *src, int8_t *dst, size_t n) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  for (size_t i = 0; i < n; i += 64) {
    __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
    __m512i x = _mm512_maskz_loadu_epi8(m, src + i);
    /* vpermt2b reads an index's low 7 bits: entries 0-127 from t0:t1, 128-255 from t2:t3 */
    __m512i lo = _mm512_permutex2var_epi8(t0, x, t1), hi = _mm512_permutex2var_epi8(t2, x, t3);
    _mm512_mask_storeu_epi8(dst + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi));
  }
}

void lk_qconv_table(const int8_t table[256], const uint8_t *src, int8_t *dst, size_t n) {
  /* (libgcc's CPU model, filled by its constructor: a read, safe on any thread) */
  if (__builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw")) {
    table_vbmi(table, src, dst, n);
    return;
  }
  for (size_t i = 0; i < n; i++) dst[i] = table[src[i]];
}
