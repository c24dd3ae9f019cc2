/* index/quant.c — reduced basis, int8 codes and int8 dot scans for the index module (see
 * quant.h). The covariance and projections go through util/linalg.h's sgemm; the scans use AVX-512 VNNI
 * (vpdpbusd, u8 x s8 -> s32) when the CPU has it and a plain loop the compiler vectorises
 * otherwise; both compute the same integers, so results never depend on the CPU. */
#include "index/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

#include "util/linalg.h"
#include "util/rng.h"
#include "util/size.h"

/* Modified Gram-Schmidt on the p rows of q (each dim long), in double. */
static void orthonormalise(float *q, int dim, int p) {
  int axis = 0;
  for (int c = 0; c < p; c++) {
    float *v = q + (size_t)c * dim;
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i < c; i++) {
        const float *u = q + (size_t)i * dim;
        double d = 0;
        for (int j = 0; j < dim; j++) d += (double)u[j] * v[j];
        for (int j = 0; j < dim; j++) v[j] -= (float)d * u[j];
      }
    double nn = 0;
    for (int j = 0; j < dim; j++) nn += (double)v[j] * v[j];
    if (nn < 1e-20) { /* degenerate: restart from a unit axis not yet covered */
      memset(v, 0, sizeof(float) * (size_t)dim);
      v[axis++ % dim] = 1;
      c--;
      continue;
    }
    float inv = (float)(1 / sqrt(nn));
    for (int j = 0; j < dim; j++) v[j] *= inv;
  }
}

/* Cholesky QR: q = L^-1 q where L L^T = q q^T (p x p, by sgemm). Returns 0, or 1 when the
 * Gram matrix is numerically singular (the caller falls back to Gram-Schmidt). */
static int cholqr(float *q, int dim, int p, float *g, double *l) {
  if (lk_linalg_sgemm('N', 'T', p, p, dim, 1.0f, q, dim, q, dim, 0.0f, g, p)) return 1;
  for (int i = 0; i < p; i++)
    for (int j = 0; j <= i; j++) {
      double s = g[(size_t)i * p + j];
      for (int t = 0; t < j; t++) s -= l[(size_t)i * p + t] * l[(size_t)j * p + t];
      if (i == j) {
        if (!(s > 1e-9 * (double)g[0])) return 1;
        l[(size_t)i * p + i] = sqrt(s);
      } else {
        l[(size_t)i * p + j] = s / l[(size_t)j * p + j];
      }
    }
  for (int c = 0; c < p; c++) { /* forward substitution, row by row */
    float *v = q + (size_t)c * dim;
    for (int i = 0; i < c; i++) {
      float f = (float)l[(size_t)c * p + i];
      const float *u = q + (size_t)i * dim;
      for (int j = 0; j < dim; j++) v[j] -= f * u[j];
    }
    float inv = (float)(1 / l[(size_t)c * p + c]);
    for (int j = 0; j < dim; j++) v[j] *= inv;
  }
  return 0;
}

static void orthonormalise_fast(float *q, int dim, int p, float *g, double *l) {
  if (cholqr(q, dim, p, g, l) || cholqr(q, dim, p, g, l)) orthonormalise(q, dim, p);
}

int lk_quant_basis(const float *x, size_t n, int dim, int p, uint64_t seed, float **basis) {
  if (!x || !basis || n == 0 || dim <= 0 || p <= 0 || p > dim || n > INT32_MAX) return LK_EINVAL;
  *basis = NULL;
  size_t dd, pd;
  if (lk_size_mul3((size_t)dim, (size_t)dim, sizeof(float), &dd) ||
      lk_size_mul3((size_t)p, (size_t)dim, sizeof(float), &pd))
    return LK_ETOOBIG;
  float *cov = malloc(dd), *q = malloc(pd), *y = malloc(pd), *g = malloc(sizeof(float) * (size_t)p * p);
  double *l = malloc(sizeof(double) * (size_t)p * p);
  int rc = cov && q && y && g && l ? 0 : LK_ENOMEM;
  if (!rc) rc = lk_linalg_sgemm('T', 'N', dim, dim, (int64_t)n, 1.0f / (float)n, x, dim, x, dim, 0.0f, cov, dim);
  if (!rc) {
    uint64_t s = seed ^ 0x7175616e74ULL;
    for (size_t i = 0; i < (size_t)p * dim; i++)
      q[i] = (float)((double)(lk_rng_next(&s) >> 11) / 9007199254740992.0 - 0.5);
    orthonormalise(q, dim, p);
    for (int it = 0; it < 6 && !rc; it++) { /* y = q cov (cov is symmetric) */
      if ((rc = lk_linalg_sgemm('N', 'N', p, dim, dim, 1.0f, q, dim, cov, dim, 0.0f, y, dim))) break;
      float *t = q;
      q = y;
      y = t;
      orthonormalise_fast(q, dim, p, g, l);
    }
  }
  /* transpose to dim x p so a projection is a run of contiguous multiply-adds */
  for (int c = 0; !rc && c < p; c++)
    for (int j = 0; j < dim; j++) y[(size_t)j * p + c] = q[(size_t)c * dim + j];
  free(cov);
  free(q);
  free(g);
  free(l);
  if (rc) {
    free(y);
    return rc;
  }
  *basis = y;
  return 0;
}

/* Eight 8-float accumulators per pass over the basis rows: 64 outputs at a time in registers,
 * the basis read once per 64 columns (the plain loop below is left scalar at -O2: ~6x slower).
 * Columns c0.. are left to the caller. Returns the first column not done. */
__attribute__((target("avx2,fma"))) static int project_avx2(const float *basis, int dim, int p,
                                                            const float *v, float *out) {
  int c0 = 0;
  for (; c0 + 64 <= p; c0 += 64) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const float *b = basis + c0;
    for (int j = 0; j < dim; j++, b += p) {
      __m256 f = _mm256_broadcast_ss(v + j);
      a0 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b), a0);
      a1 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 8), a1);
      a2 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 16), a2);
      a3 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 24), a3);
      a4 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 32), a4);
      a5 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 40), a5);
      a6 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 48), a6);
      a7 = _mm256_fmadd_ps(f, _mm256_loadu_ps(b + 56), a7);
    }
    _mm256_storeu_ps(out + c0, a0);
    _mm256_storeu_ps(out + c0 + 8, a1);
    _mm256_storeu_ps(out + c0 + 16, a2);
    _mm256_storeu_ps(out + c0 + 24, a3);
    _mm256_storeu_ps(out + c0 + 32, a4);
    _mm256_storeu_ps(out + c0 + 40, a5);
    _mm256_storeu_ps(out + c0 + 48, a6);
    _mm256_storeu_ps(out + c0 + 56, a7);
  }
  return c0;
}

void lk_quant_project(const float *basis, int dim, int p, const float *v, float *out) {
  int c0 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? project_avx2(basis, dim, p, v, out) : 0;
  for (int c = c0; c < p; c++) out[c] = 0; /* the last p % 64 columns, or all without AVX2 */
  for (int j = 0; c0 < p && j < dim; j++) {
    const float *b = basis + (size_t)j * p;
    float f = v[j];
    for (int c = c0; c < p; c++) out[c] += f * b[c];
  }
}

int lk_quant_project_rows(const float *basis, int dim, int p, const float *x, size_t n, float *out) {
  if (n == 0) return 0;
  if (n > INT32_MAX) return LK_ETOOBIG;
  return lk_linalg_sgemm('N', 'N', (int64_t)n, p, dim, 1.0f, x, dim, basis, p, 0.0f, out, p);
}

void lk_quant_encode(const float *v, int n, int8_t *code, float *scale, int32_t *sum) {
  float mx = 0;
  for (int j = 0; j < n; j++) mx = fmaxf(mx, fabsf(v[j]));
  float inv = mx > 0 ? 127.0f / mx : 0;
  int32_t s = 0;
  for (int j = 0; j < n; j++) {
    long c = lrintf(v[j] * inv);
    c = c > 127 ? 127 : c < -127 ? -127 : c;
    code[j] = (int8_t)c;
    s += (int32_t)c;
  }
  for (int j = n; j < lk_quant_padded(n); j++) code[j] = 0;
  *scale = mx / 127.0f;
  *sum = s;
}

void lk_quant_encode_query(const float *v, int n, uint8_t *qu, float *scale) {
  float mx = 0;
  for (int j = 0; j < n; j++) mx = fmaxf(mx, fabsf(v[j]));
  float inv = mx > 0 ? 127.0f / mx : 0;
  for (int j = 0; j < n; j++) {
    long c = lrintf(v[j] * inv);
    c = c > 127 ? 127 : c < -127 ? -127 : c;
    qu[j] = (uint8_t)(c + 128);
  }
  for (int j = n; j < lk_quant_padded(n); j++) qu[j] = 128;
  *scale = mx / 127.0f;
}

int lk_quant_have_vnni(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

static int32_t dot_plain(const uint8_t *q, const int8_t *x, int len) {
  int32_t s = 0;
  for (int j = 0; j < len; j++) s += (int32_t)q[j] * x[j];
  return s;
}

/* Four rows per step so each query load feeds four multiply-adds. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
dots_vnni(const uint8_t *qu, const int8_t *codes, size_t stride, const size_t *rows, size_t first,
          int m, int len, int32_t *raw) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    const int8_t *x[4];
    for (int u = 0; u < 4; u++) x[u] = codes + (rows ? rows[i + u] : first + (size_t)(i + u)) * stride;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < len; j += 64) {
      __m512i q = _mm512_loadu_si512(qu + j);
      a0 = _mm512_dpbusd_epi32(a0, q, _mm512_loadu_si512(x[0] + j));
      a1 = _mm512_dpbusd_epi32(a1, q, _mm512_loadu_si512(x[1] + j));
      a2 = _mm512_dpbusd_epi32(a2, q, _mm512_loadu_si512(x[2] + j));
      a3 = _mm512_dpbusd_epi32(a3, q, _mm512_loadu_si512(x[3] + j));
    }
    raw[i] = _mm512_reduce_add_epi32(a0);
    raw[i + 1] = _mm512_reduce_add_epi32(a1);
    raw[i + 2] = _mm512_reduce_add_epi32(a2);
    raw[i + 3] = _mm512_reduce_add_epi32(a3);
  }
  for (; i < m; i++) {
    const int8_t *x = codes + (rows ? rows[i] : first + (size_t)i) * stride;
    __m512i a = _mm512_setzero_si512();
    for (int j = 0; j < len; j += 64)
      a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(qu + j), _mm512_loadu_si512(x + j));
    raw[i] = _mm512_reduce_add_epi32(a);
  }
}

static void dots(const uint8_t *qu, const int8_t *codes, size_t stride, const size_t *rows,
                 size_t first, int m, int len, int32_t *raw) {
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
    dots_vnni(qu, codes, stride, rows, first, m, len, raw);
    return;
  }
  for (int i = 0; i < m; i++)
    raw[i] = dot_plain(qu, codes + (rows ? rows[i] : first + (size_t)i) * stride, len);
}

static void scores_plain(const int32_t *raw, const float *scale, const int32_t *sum, float qs, float base, int m,
                         float *out) {
  for (int i = 0; i < m; i++) out[i] = base + qs * scale[i] * (float)(raw[i] - 128 * sum[i]);
}

__attribute__((target("avx512f"))) static void scores_avx512(const int32_t *raw, const float *scale, const int32_t *sum,
                                                             float qs, float base, int m, float *out) {
  int i = 0;
  const __m512 vq = _mm512_set1_ps(qs), vb = _mm512_set1_ps(base);
  for (; i + 16 <= m; i += 16) {
    __m512i d = _mm512_sub_epi32(_mm512_loadu_si512(raw + i), _mm512_slli_epi32(_mm512_loadu_si512(sum + i), 7));
    __m512 t = _mm512_mul_ps(_mm512_mul_ps(vq, _mm512_loadu_ps(scale + i)), _mm512_cvtepi32_ps(d));
    _mm512_storeu_ps(out + i, _mm512_add_ps(vb, t));
  }
  scores_plain(raw + i, scale + i, sum + i, qs, base, m - i, out + i);
}

void lk_quant_scores(const int32_t *raw, const float *scale, const int32_t *sum, float qs, float base, int m,
                     float *out) {
  if (__builtin_cpu_supports("avx512f")) {
    scores_avx512(raw, scale, sum, qs, base, m, out);
    return;
  }
  scores_plain(raw, scale, sum, qs, base, m, out);
}

void lk_quant_dots(const uint8_t *qu, const int8_t *codes, size_t stride, const size_t *rows, int m,
                   int len, int32_t *raw) {
  dots(qu, codes, stride, rows, 0, m, len, raw);
}

void lk_quant_dots_range(const uint8_t *qu, const int8_t *codes, size_t stride, size_t first, int m,
                         int len, int32_t *raw) {
  dots(qu, codes, stride, NULL, first, m, len, raw);
}

/* ---------------------------------------------------------------- best-k list */

static void sift_down(lk_hit *h, int len, int i) {
  lk_hit x = h[i];
  for (;;) {
    int c = 2 * i + 1;
    if (c >= len) break;
    if (c + 1 < len && lk_topk_worse(h[c + 1].score, h[c + 1].id, h[c].score, h[c].id)) c++;
    if (!lk_topk_worse(h[c].score, h[c].id, x.score, x.id)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

float lk_topk_floor(const lk_topk *t) { return t->len < t->k ? -INFINITY : t->h[0].score; }

void lk_topk_offer(lk_topk *t, int64_t id, float s) {
  lk_hit *h = t->h;
  if (t->len < t->k) {
    int i = t->len++;
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!lk_topk_worse(s, id, h[p].score, h[p].id)) break;
      h[i] = h[p];
      i = p;
    }
    h[i].id = id;
    h[i].score = s;
  } else if (lk_topk_worse(h[0].score, h[0].id, s, id)) {
    h[0].id = id;
    h[0].score = s;
    sift_down(h, t->k, 0);
  }
}

int lk_topk_finish(lk_topk *t) {
  lk_hit *h = t->h;
  for (int end = t->len - 1; end > 0; end--) {
    lk_hit x = h[0];
    h[0] = h[end];
    h[end] = x;
    sift_down(h, end, 0);
  }
  for (int i = t->len; i < t->k; i++) {
    h[i].id = -1;
    h[i].score = -INFINITY;
  }
  return t->len;
}

/* ---- byte sets (the IVF's filter columns) ---- */

void lk_quant_byteset_init(lk_quant_byteset *s, const uint64_t bits[4]) {
  memcpy(s->bits, bits, sizeof s->bits);
  for (int lo = 0; lo < 16; lo++) {
    uint8_t a = 0, b = 0;
    for (int h = 0; h < 8; h++) {
      int va = h << 4 | lo, vb = (h + 8) << 4 | lo;
      a |= (uint8_t)((bits[va / 64] >> (va % 64) & 1) << h);
      b |= (uint8_t)((bits[vb / 64] >> (vb % 64) & 1) << h);
    }
    s->lo8[lo] = a;
    s->hi8[lo] = b;
  }
}

/* 32 bytes at a time: the set's bit for x is table[x >> 7][x & 15] bit ((x >> 4) & 7), the
 * tables looked up with pshufb (16 entries a lane) and the bit picked by a third one. */
__attribute__((target("avx2"))) static uint32_t byteset32_avx2(const uint8_t *x, const lk_quant_byteset *s) {
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i pos = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16,
                                       32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  __m128i lo8 = _mm_loadu_si128((const __m128i *)s->lo8), hi8 = _mm_loadu_si128((const __m128i *)s->hi8);
  __m256i tl = _mm256_broadcastsi128_si256(lo8), th = _mm256_broadcastsi128_si256(hi8);
  __m256i v = _mm256_loadu_si256((const __m256i *)x);
  __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
  __m256i t = _mm256_blendv_epi8(_mm256_shuffle_epi8(tl, lo), _mm256_shuffle_epi8(th, lo), v);
  __m256i hit = _mm256_and_si256(t, _mm256_shuffle_epi8(pos, hi));
  return ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hit, _mm256_setzero_si256()));
}

uint64_t lk_quant_byteset_mask(const uint8_t *x, int n, const lk_quant_byteset *s) {
  uint64_t m = 0;
  int i = 0;
  if (__builtin_cpu_supports("avx2"))
    for (; i + 32 <= n; i += 32) m |= (uint64_t)byteset32_avx2(x + i, s) << i;
  for (; i < n; i++) m |= (s->bits[x[i] / 64] >> (x[i] % 64) & 1) << i;
  return m;
}
