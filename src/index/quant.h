/* index/quant.h — internals shared by the index module (index.c, ivf.c): an orthonormal
 * reduced basis learnt from a sample of rows (leading eigenvectors of the second-moment
 * matrix), per-vector-scaled int8 codes, and int8 dot-product scans with an AVX-512 VNNI
 * kernel chosen at run time (portable C otherwise). Not part of the public API. */
#ifndef LK_INDEX_QUANT_H
#define LK_INDEX_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "lookalike.h"

/* Code lengths are padded to a multiple of this many bytes (zeros). */
#define LK_QUANT_ALIGN 64

/* Rounds n up to LK_QUANT_ALIGN. */
static inline int lk_quant_padded(int n) { return (n + LK_QUANT_ALIGN - 1) / LK_QUANT_ALIGN * LK_QUANT_ALIGN; }

/* Learns p orthonormal vectors of dim floats, stored transposed (basis[j*p + c] is component j
 * of vector c), spanning the p leading eigenvectors of (1/n) sum x x^T over the n rows of x
 * (row stride dim), by subspace iteration from a seeded start. *basis owned by the caller
 * (free). 0 < p <= dim. */
int lk_quant_basis(const float *x, size_t n, int dim, int p, uint64_t seed, float **basis);

/* out[c] = <basis vector c, v> for c < p. */
void lk_quant_project(const float *basis, int dim, int p, const float *v, float *out);
/* The same for n rows of x into n rows of p floats (one sgemm). */
int lk_quant_project_rows(const float *basis, int dim, int p, const float *x, size_t n, float *out);

/* int8 code of v[0..n): code[j] = round(v[j] / scale), |code| <= 127, zero-padded to
 * lk_quant_padded(n); *scale = max|v| / 127 (0 for a zero vector); *sum = sum of the codes. */
void lk_quant_encode(const float *v, int n, int8_t *code, float *scale, int32_t *sum);

/* Query form of a code: u8 = code + 128 (so the VNNI u8 x s8 product applies), zero-padded
 * codes get 128 too, which the caller's correction -128 * sum(row code) removes. */
void lk_quant_encode_query(const float *v, int n, uint8_t *qu, float *scale);

/* raw[i] = sum_j qu[j] * codes[rows[i]*stride + j] over len bytes (len a multiple of
 * LK_QUANT_ALIGN), for i < m. The dot of the signed codes is raw - 128 * rowsum. */
void lk_quant_dots(const uint8_t *qu, const int8_t *codes, size_t stride, const size_t *rows, int m,
                   int len, int32_t *raw);
/* Same over consecutive rows first..first+m-1. */
void lk_quant_dots_range(const uint8_t *qu, const int8_t *codes, size_t stride, size_t first, int m,
                         int len, int32_t *raw);

/* The scores of m codes from their raw dots (lk_quant_dots): out[i] = base + qs * scale[i] *
 * (float)(raw[i] - 128 * sum[i]), rounded as written (no fused multiply-add), so every CPU gets
 * the same floats. */
void lk_quant_scores(const int32_t *raw, const float *scale, const int32_t *sum, float qs, float base, int m,
                     float *out);

/* 1 when the AVX-512 VNNI kernel is in use on this CPU. */
int lk_quant_have_vnni(void);

/* A set of byte values (256 bits: value b is bit b % 64 of bits[b / 64]) with the nibble
 * tables of its AVX2 test; made by lk_quant_byteset_init, read-only after. */
typedef struct lk_quant_byteset {
  uint64_t bits[4];
  uint8_t lo8[16], hi8[16]; /* [x & 15] bit h: value h << 4 | (x & 15) (hi8: (h + 8) << 4 | ...) */
} lk_quant_byteset;
void lk_quant_byteset_init(lk_quant_byteset *s, const uint64_t bits[4]);
/* Bit i set when x[i] is in s, for i < n (n <= 64). */
uint64_t lk_quant_byteset_mask(const uint8_t *x, int n, const lk_quant_byteset *s);

/* A bounded best-k list: min-heap on (score, then larger id = worse). */
typedef struct lk_topk {
  int k, len;
  lk_hit *h; /* k entries, caller-owned storage */
} lk_topk;

/* a ranks below b: lower score, or the same score and a larger id. */
static inline int lk_topk_worse(float as, int64_t aid, float bs, int64_t bid) {
  return as < bs || (as == bs && aid > bid);
}
/* The score a candidate must beat to enter (-INFINITY while not full). */
float lk_topk_floor(const lk_topk *t);
void lk_topk_offer(lk_topk *t, int64_t id, float s);
/* Sorts best first in place; slots len..k-1 get id -1, score -INFINITY. Returns len. */
int lk_topk_finish(lk_topk *t);

#endif
