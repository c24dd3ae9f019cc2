/* index/index.c — exact cosine top-k (see index.h). Rows live in one 64-byte aligned matrix;
 * the plain search walks it in blocks of 64 rows (one bitmap word), drops disallowed rows before
 * any arithmetic, scores the rest four at a time with AVX2/FMA and keeps a size-k min-heap per
 * query directly in the caller's hits array. After lk_index_optimize a search instead scans
 * compact int8 codes of each row's projection on a learnt reduced basis (index/quant.h), split
 * over threads, keeps a shortlist, and re-ranks it with the same float kernel, so scores (and
 * ties) are bit-identical to the plain scan's. Searches share nothing mutable. */
#include "index/index.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "index/quant.h"
#include "util/array.h"
#include "util/rng.h"
#include "util/size.h"
#include <pthread.h>

#define MAX_DIM (1 << 20)
#define BLOCK 64  /* rows per block: one word of the allow bitmap */
#define QGROUP 8  /* queries scored against a block while it is in cache */

struct lk_index {
  int dim;
  size_t n, cap;
  float *data;    /* cap * dim floats, row-major */
  int64_t *ids;   /* row -> id */
  int64_t *hkeys; /* id -> row map: open addressing, -1 = empty slot */
  size_t *hrows;
  size_t hcap;    /* power of two, at least twice n */
  /* fast path, built by lk_index_optimize; plen == 0 while not built */
  int p, plen;        /* reduced dimensions, padded code bytes per row */
  float *basis;       /* dim x p (index/quant.h); NULL: codes are of the raw vectors (p == dim) */
  int8_t *codes;      /* cap x plen */
  float *cscale;      /* cap: code scale */
  int32_t *csum;      /* cap: sum of the code bytes */
  int threads;        /* threads per search (>= 1) */
  int shortlist;      /* minimum shortlist length */
  int borrowed;       /* lk_index_wrap: data and ids are the caller's, ids ascending (no map) */
};

int lk_index_new(int dim, lk_index **out) {
  if (!out) return LK_EINVAL;
  *out = NULL;
  if (dim <= 0 || dim > MAX_DIM) return LK_EINVAL;
  lk_index *ix = calloc(1, sizeof *ix);
  if (!ix) return LK_ENOMEM;
  ix->dim = dim;
  ix->threads = 1;
  ix->shortlist = LK_INDEX_SHORTLIST;
  *out = ix;
  return 0;
}

int lk_index_wrap(int dim, const int64_t *ids, const float *data, size_t n, lk_index **out) {
  if (!out) return LK_EINVAL;
  *out = NULL;
  if (dim <= 0 || dim > MAX_DIM || (n && (!ids || !data))) return LK_EINVAL;
  for (size_t r = 0; r < n; r++)
    if (ids[r] < 0 || (r && ids[r] <= ids[r - 1])) return LK_ECORRUPT;
  int rc = lk_index_new(dim, out);
  if (rc) return rc;
  (*out)->borrowed = 1;
  (*out)->data = (float *)data; /* never written: adds are refused */
  (*out)->ids = (int64_t *)ids;
  (*out)->n = (*out)->cap = n;
  return 0;
}

void lk_index_free(lk_index *ix) {
  if (!ix) return;
  if (ix->borrowed) ix->data = NULL, ix->ids = NULL;
  free(ix->data);
  free(ix->ids);
  free(ix->hkeys);
  free(ix->hrows);
  free(ix->basis);
  free(ix->codes);
  free(ix->cscale);
  free(ix->csum);
  free(ix);
}

size_t lk_index_size(const lk_index *ix) { return ix ? ix->n : 0; }

int lk_index_dim(const lk_index *ix) { return ix ? ix->dim : 0; }

static size_t hash_slot(int64_t id, size_t mask) { return (size_t)lk_rng_fmix((uint64_t)id) & mask; }

int64_t lk_index_row(const lk_index *ix, int64_t id) {
  if (ix && ix->borrowed && id >= 0) { /* ids ascending: a binary search */
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (ix->ids[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo < ix->n && ix->ids[lo] == id ? (int64_t)lo : LK_ENOTFOUND;
  }
  if (!ix || id < 0 || !ix->hcap) return LK_ENOTFOUND;
  size_t mask = ix->hcap - 1;
  for (size_t s = hash_slot(id, mask);; s = (s + 1) & mask) {
    if (ix->hkeys[s] == id) return (int64_t)ix->hrows[s];
    if (ix->hkeys[s] < 0) return LK_ENOTFOUND;
  }
}

const float *lk_index_vector(const lk_index *ix, size_t row) {
  if (!ix || row >= ix->n) return NULL;
  return ix->data + row * (size_t)ix->dim;
}

const int64_t *lk_index_ids(const lk_index *ix) { return ix ? ix->ids : NULL; }

static void hash_put(int64_t *keys, size_t *rows, size_t mask, int64_t id, size_t row) {
  size_t s = hash_slot(id, mask);
  while (keys[s] >= 0) s = (s + 1) & mask;
  keys[s] = id;
  rows[s] = row;
}

/* Makes room for n rows in the matrix, the id array and the map. */
static int reserve(lk_index *ix, size_t n) {
  if (n > ix->cap) {
    size_t bytes, idbytes;
    if (lk_size_mul3(n, (size_t)ix->dim, sizeof(float), &bytes) ||
        lk_size_add(bytes, 63, &bytes) || lk_size_mul(n, sizeof(int64_t), &idbytes))
      return LK_ETOOBIG;
    float *d = aligned_alloc(64, bytes & ~(size_t)63);
    if (!d) return LK_ENOMEM;
    int64_t *ids = realloc(ix->ids, idbytes);
    if (!ids) {
      free(d);
      return LK_ENOMEM;
    }
    if (ix->plen) {
      size_t cb, sb;
      if (lk_size_mul(n, (size_t)ix->plen, &cb) || lk_size_mul(n, sizeof(float), &sb)) {
        free(d);
        return LK_ETOOBIG;
      }
      int8_t *codes = realloc(ix->codes, cb);
      if (codes) ix->codes = codes;
      float *cs = codes ? realloc(ix->cscale, sb) : NULL;
      if (cs) ix->cscale = cs;
      int32_t *su = cs ? realloc(ix->csum, sb) : NULL;
      if (su) ix->csum = su;
      if (!su) {
        free(d);
        return LK_ENOMEM;
      }
    }
    if (ix->n) memcpy(d, ix->data, ix->n * (size_t)ix->dim * sizeof(float));
    free(ix->data);
    ix->data = d;
    ix->ids = ids;
    ix->cap = n;
  }
  size_t want = 16;
  while (want / 2 < n) {
    if (lk_size_mul(want, 2, &want)) return LK_ETOOBIG;
  }
  if (want > ix->hcap) {
    size_t kb, rb;
    if (lk_size_mul(want, sizeof(int64_t), &kb) || lk_size_mul(want, sizeof(size_t), &rb))
      return LK_ETOOBIG;
    int64_t *keys = malloc(kb);
    size_t *rows = malloc(rb);
    if (!keys || !rows) {
      free(keys);
      free(rows);
      return LK_ENOMEM;
    }
    memset(keys, 0xff, kb); /* all -1 */
    for (size_t r = 0; r < ix->n; r++) hash_put(keys, rows, want - 1, ix->ids[r], r);
    free(ix->hkeys);
    free(ix->hrows);
    ix->hkeys = keys;
    ix->hrows = rows;
    ix->hcap = want;
  }
  return 0;
}

int lk_index_reserve(lk_index *ix, size_t n) {
  if (!ix) return LK_EINVAL;
  if (ix->borrowed) return LK_EUNSUPPORTED;
  return reserve(ix, n);
}

/* Code of row r from its float vector. */
static void encode_row(lk_index *ix, size_t r) {
  const float *v = ix->data + r * (size_t)ix->dim;
  int8_t *c = ix->codes + r * (size_t)ix->plen;
  if (!ix->basis) {
    lk_quant_encode(v, ix->dim, c, &ix->cscale[r], &ix->csum[r]);
    return;
  }
  float t[LK_INDEX_MAX_P];
  lk_quant_project(ix->basis, ix->dim, ix->p, v, t);
  lk_quant_encode(t, ix->p, c, &ix->cscale[r], &ix->csum[r]);
}

int lk_index_add(lk_index *ix, int64_t id, const float *vec) {
  if (!ix || !vec || id < 0) return LK_EINVAL;
  if (ix->borrowed) return LK_EUNSUPPORTED;
  if (lk_index_row(ix, id) >= 0) return LK_EINVAL; /* ids are unique */
  for (int j = 0; j < ix->dim; j++)
    if (!isfinite(vec[j])) return LK_EINVAL;
  if (ix->n == ix->cap) {
    size_t cap; /* reserve checks the matrix's and the codes' sizes */
    int rc = lk_array_grow_cap(ix->cap, ix->n + 1, 16, sizeof *ix->ids, &cap);
    if (rc || (rc = reserve(ix, cap))) return rc;
  } else if (ix->hcap / 2 < ix->n + 1) {
    int rc = reserve(ix, ix->n + 1);
    if (rc) return rc;
  }
  memcpy(ix->data + ix->n * (size_t)ix->dim, vec, (size_t)ix->dim * sizeof(float));
  if (ix->plen) encode_row(ix, ix->n);
  ix->ids[ix->n] = id;
  hash_put(ix->hkeys, ix->hrows, ix->hcap - 1, id, ix->n);
  ix->n++;
  return 0;
}

/* Dot products of q with four rows. Every row is summed in the same order whatever its place in
 * the four, so equal rows always get bit-identical scores (ties stay ties). */
static void dot4(const float *q, const float *r0, const float *r1, const float *r2,
                 const float *r3, int dim, float out[4]) {
  int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (; j + 16 <= dim; j += 16) {
    __m256 qa = _mm256_loadu_ps(q + j), qb = _mm256_loadu_ps(q + j + 8);
    a0 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r0 + j), a0);
    a1 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r1 + j), a1);
    a2 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r2 + j), a2);
    a3 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r3 + j), a3);
    b0 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(r0 + j + 8), b0);
    b1 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(r1 + j + 8), b1);
    b2 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(r2 + j + 8), b2);
    b3 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(r3 + j + 8), b3);
  }
  for (; j + 8 <= dim; j += 8) {
    __m256 qa = _mm256_loadu_ps(q + j);
    a0 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r0 + j), a0);
    a1 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r1 + j), a1);
    a2 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r2 + j), a2);
    a3 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r3 + j), a3);
  }
  a0 = _mm256_add_ps(a0, b0);
  a1 = _mm256_add_ps(a1, b1);
  a2 = _mm256_add_ps(a2, b2);
  a3 = _mm256_add_ps(a3, b3);
  /* four horizontal sums at once: lane i of s is the total of ai */
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  _mm_storeu_ps(out, t);
#else
  float s[4][4] = {{0}};
  for (; j + 4 <= dim; j += 4)
    for (int u = 0; u < 4; u++) {
      s[0][u] += q[j + u] * r0[j + u];
      s[1][u] += q[j + u] * r1[j + u];
      s[2][u] += q[j + u] * r2[j + u];
      s[3][u] += q[j + u] * r3[j + u];
    }
  for (int i = 0; i < 4; i++) out[i] = (s[i][0] + s[i][1]) + (s[i][2] + s[i][3]);
#endif
  for (; j < dim; j++) {
    out[0] += q[j] * r0[j];
    out[1] += q[j] * r1[j];
    out[2] += q[j] * r2[j];
    out[3] += q[j] * r3[j];
  }
}

/* Scores rows[0..m) against q into sc; the last group of four is padded with repeats. */
static void score_rows(const lk_index *ix, const float *q, const size_t *rows, int m, float *sc) {
  const size_t d = (size_t)ix->dim;
  for (int i = 0; i < m; i += 4) {
    const float *r[4];
    for (int u = 0; u < 4; u++) r[u] = ix->data + rows[i + u < m ? i + u : m - 1] * d;
    float out[4];
    dot4(q, r[0], r[1], r[2], r[3], ix->dim, out);
    for (int u = 0; u < 4 && i + u < m; u++) sc[i + u] = out[u];
  }
}

void lk_index_dots(const float *q, const float *const *rows, int m, int dim, float *out) {
  for (int i = 0; i < m; i += 4) {
    const float *r[4];
    for (int u = 0; u < 4; u++) r[u] = rows[i + u < m ? i + u : m - 1];
    float o[4];
    dot4(q, r[0], r[1], r[2], r[3], dim, o);
    for (int u = 0; u < 4 && i + u < m; u++) out[i + u] = o[u];
  }
}

/* a ranks below b: lower score, or the same score and a larger id. */
static int worse(float as, int64_t aid, float bs, int64_t bid) {
  return as < bs || (as == bs && aid > bid);
}

static void sift_down(lk_hit *h, int len, int i) {
  lk_hit x = h[i];
  for (;;) {
    int c = 2 * i + 1;
    if (c >= len) break;
    if (c + 1 < len && worse(h[c + 1].score, h[c + 1].id, h[c].score, h[c].id)) c++;
    if (!worse(h[c].score, h[c].id, x.score, x.id)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* Offers (id, s) to the min-heap h of *len entries (root = the worst kept), capacity k. */
static void heap_offer(lk_hit *h, int *len, int k, int64_t id, float s) {
  if (*len < k) {
    int i = (*len)++;
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!worse(s, id, h[p].score, h[p].id)) break;
      h[i] = h[p];
      i = p;
    }
    h[i].id = id;
    h[i].score = s;
  } else if (worse(h[0].score, h[0].id, s, id)) {
    h[0].id = id;
    h[0].score = s;
    sift_down(h, k, 0);
  }
}

/* Sorts the heap best first in place and pads the rest of the k slots. */
static void heap_finish(lk_hit *h, int len, int k) {
  for (int end = len - 1; end > 0; end--) {
    lk_hit t = h[0];
    h[0] = h[end];
    h[end] = t;
    sift_down(h, end, 0);
  }
  for (int i = len; i < k; i++) {
    h[i].id = -1;
    h[i].score = -INFINITY;
  }
}

/* The plain scan of every allowed float row, queries in groups of QGROUP. */
static void plain_search(const lk_index *ix, const float *queries, int nq, int k,
                         const uint64_t *allow, int64_t exrow, lk_hit *hits, int *nfound) {
  const size_t d = (size_t)ix->dim, n = ix->n;

  for (int q0 = 0; q0 < nq; q0 += QGROUP) {
    int gq = nq - q0 < QGROUP ? nq - q0 : QGROUP;
    int len[QGROUP] = {0};
    for (size_t b = 0; b < n; b += BLOCK) {
      uint64_t word = allow ? allow[b / BLOCK] : ~(uint64_t)0;
      if (n - b < BLOCK) word &= ((uint64_t)1 << (n - b)) - 1;
      if (exrow >= 0 && (size_t)exrow >= b && (size_t)exrow < b + BLOCK)
        word &= ~((uint64_t)1 << ((size_t)exrow - b));
      if (!word) continue;
      size_t rows[BLOCK];
      int m = 0;
      for (; word; word &= word - 1) rows[m++] = b + (size_t)__builtin_ctzll(word);
      for (int g = 0; g < gq; g++) {
        float sc[BLOCK];
        int q = q0 + g;
        score_rows(ix, queries + (size_t)q * d, rows, m, sc);
        lk_hit *h = hits + (size_t)q * (size_t)k;
        for (int i = 0; i < m; i++) heap_offer(h, &len[g], k, ix->ids[rows[i]], sc[i]);
      }
    }
    for (int g = 0; g < gq; g++) {
      int q = q0 + g;
      heap_finish(hits + (size_t)q * (size_t)k, len[g], k);
      if (nfound) nfound[q] = len[g];
    }
  }
}


/* ---------------------------------------------------------------- fast path */

/* Frees the int8 codes and their basis (back to a float-only index). */
static void drop_codes(lk_index *ix) {
  free(ix->basis);
  free(ix->codes);
  free(ix->cscale);
  free(ix->csum);
  ix->basis = NULL;
  ix->codes = NULL;
  ix->cscale = NULL;
  ix->csum = NULL;
}

int lk_index_optimize(lk_index *ix, int p) {
  if (!ix || p < 0 || p > LK_INDEX_MAX_P) return LK_EINVAL;
  if (p == 0) p = ix->dim < LK_INDEX_DEFAULT_P ? ix->dim : LK_INDEX_DEFAULT_P;
  if (p > ix->dim) return LK_EINVAL;
  if (p < ix->dim && ix->n < (size_t)p) return LK_EINVAL; /* too few rows to learn a basis */
  drop_codes(ix);
  ix->p = ix->plen = 0;
  int rc = 0;
  if (p < ix->dim) { /* learn the basis on up to SAMPLE rows spread over the index */
    size_t m = ix->n < LK_INDEX_SAMPLE ? ix->n : LK_INDEX_SAMPLE, bytes;
    if (lk_size_mul3(m, (size_t)ix->dim, sizeof(float), &bytes)) return LK_ETOOBIG;
    float *x = malloc(bytes);
    if (!x) return LK_ENOMEM;
    for (size_t i = 0; i < m; i++)
      memcpy(x + i * (size_t)ix->dim, ix->data + (i * ix->n / m) * (size_t)ix->dim,
             sizeof(float) * (size_t)ix->dim);
    rc = lk_quant_basis(x, m, ix->dim, p, 0x6c6b6978ULL, &ix->basis);
    free(x);
    if (rc) return rc;
  }
  size_t cap = ix->cap ? ix->cap : 1, cb, sb;
  int plen = lk_quant_padded(p);
  if (lk_size_mul(cap, (size_t)plen, &cb) || lk_size_mul(cap, sizeof(float), &sb)) rc = LK_ETOOBIG;
  if (!rc) {
    ix->codes = malloc(cb);
    ix->cscale = malloc(sb);
    ix->csum = malloc(sb);
    if (!ix->codes || !ix->cscale || !ix->csum) rc = LK_ENOMEM;
  }
  if (rc) {
    drop_codes(ix);
    return rc;
  }
  ix->p = p;
  ix->plen = plen;
  /* projections in batches by sgemm (row-by-row projection is ~10x slower) */
  enum { CHUNK = 1024 };
  float *t = ix->basis ? malloc(sizeof(float) * CHUNK * (size_t)p) : NULL;
  for (size_t r0 = 0; r0 < ix->n; r0 += CHUNK) {
    size_t m = ix->n - r0 < CHUNK ? ix->n - r0 : CHUNK;
    if (!t || lk_quant_project_rows(ix->basis, ix->dim, p, ix->data + r0 * (size_t)ix->dim, m, t)) {
      for (size_t r = r0; r < r0 + m; r++) encode_row(ix, r);
      continue;
    }
    for (size_t i = 0; i < m; i++)
      lk_quant_encode(t + i * (size_t)p, p, ix->codes + (r0 + i) * (size_t)plen, &ix->cscale[r0 + i],
                      &ix->csum[r0 + i]);
  }
  free(t);
  return 0;
}

int lk_index_set_threads(lk_index *ix, int threads) {
  if (!ix || threads < 1 || threads > LK_INDEX_MAX_THREADS) return LK_EINVAL;
  ix->threads = threads;
  return 0;
}

int lk_index_set_shortlist(lk_index *ix, int shortlist) {
  if (!ix || shortlist < 1 || shortlist > LK_INDEX_MAX_K) return LK_EINVAL;
  ix->shortlist = shortlist;
  return 0;
}

int lk_index_optimized_dims(const lk_index *ix) { return ix ? ix->p : 0; }

/* One thread's share of the code scan: rows [lo, hi), best approximate scores into top (ids
 * are rows). */
typedef struct scan_job {
  const lk_index *ix;
  const uint8_t *qu;
  float qs;
  const uint64_t *allow;
  int64_t exrow;
  size_t lo, hi;
  lk_topk top;
} scan_job;

static void *scan_codes(void *arg) {
  scan_job *j = arg;
  const lk_index *ix = j->ix;
  const size_t plen = (size_t)ix->plen;
  for (size_t b = j->lo; b < j->hi; b += BLOCK) {
    uint64_t word = j->allow ? j->allow[b / BLOCK] : ~(uint64_t)0;
    if (j->hi - b < BLOCK) word &= ((uint64_t)1 << (j->hi - b)) - 1;
    if (j->exrow >= 0 && (size_t)j->exrow >= b && (size_t)j->exrow < b + BLOCK)
      word &= ~((uint64_t)1 << ((size_t)j->exrow - b));
    if (!word) continue;
    int32_t raw[BLOCK];
    size_t rows[BLOCK];
    int m = 0;
    if (word == ~(uint64_t)0) {
      m = BLOCK;
      for (int i = 0; i < BLOCK; i++) rows[i] = b + (size_t)i;
      lk_quant_dots_range(j->qu, ix->codes, plen, b, BLOCK, ix->plen, raw);
    } else {
      for (; word; word &= word - 1) rows[m++] = b + (size_t)__builtin_ctzll(word);
      lk_quant_dots(j->qu, ix->codes, plen, rows, m, ix->plen, raw);
    }
    float floor = lk_topk_floor(&j->top);
    for (int i = 0; i < m; i++) {
      size_t r = rows[i];
      float s = j->qs * ix->cscale[r] * (float)(raw[i] - 128 * ix->csum[r]);
      if (s >= floor) {
        lk_topk_offer(&j->top, (int64_t)r, s);
        floor = lk_topk_floor(&j->top);
      }
    }
  }
  return NULL;
}

static int cmp_hit_id(const void *a, const void *b) {
  int64_t x = ((const lk_hit *)a)->id, y = ((const lk_hit *)b)->id;
  return x < y ? -1 : x > y;
}

/* One query through the codes: shortlist of sl rows by approximate score, then exact float
 * re-rank into out (k slots). */
static int fast_search(const lk_index *ix, const float *q, int k, int sl, const uint64_t *allow,
                       int64_t exrow, lk_hit *out, int *nfound) {
  float proj[LK_INDEX_MAX_P];
  uint8_t qu[LK_INDEX_MAX_P + LK_QUANT_ALIGN];
  float qs;
  if (ix->basis) {
    lk_quant_project(ix->basis, ix->dim, ix->p, q, proj);
    lk_quant_encode_query(proj, ix->p, qu, &qs);
  } else {
    lk_quant_encode_query(q, ix->dim, qu, &qs);
  }
  const size_t n = ix->n;
  int T = ix->threads;
  size_t per = (n / (size_t)T + BLOCK - 1) / BLOCK * BLOCK;
  if (per < 8192) per = 8192;
  while (T > 1 && per * (size_t)(T - 1) >= n) T--;
  lk_hit *store = malloc(sizeof(lk_hit) * (size_t)sl * (size_t)(T + 1));
  float *sc = malloc(sizeof(float) * (size_t)sl);
  size_t *rows = malloc(sizeof(size_t) * (size_t)sl);
  if (!store || !sc || !rows) {
    free(store);
    free(sc);
    free(rows);
    return LK_ENOMEM;
  }
  scan_job jobs[LK_INDEX_MAX_THREADS];
  pthread_t th[LK_INDEX_MAX_THREADS];
  int started[LK_INDEX_MAX_THREADS] = {0};
  for (int t = 0; t < T; t++) {
    size_t lo = per * (size_t)t, hi = t == T - 1 ? n : per * (size_t)(t + 1);
    jobs[t] = (scan_job){ix, qu, qs, allow, exrow, lo, hi, {sl, 0, store + (size_t)sl * (size_t)t}};
  }
  for (int t = 1; t < T; t++) started[t] = pthread_create(&th[t], NULL, scan_codes, &jobs[t]) == 0;
  scan_codes(&jobs[0]);
  for (int t = 1; t < T; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else scan_codes(&jobs[t]);
  }
  lk_topk all = {sl, 0, store + (size_t)sl * (size_t)T};
  for (int t = 0; t < T; t++)
    for (int i = 0; i < jobs[t].top.len; i++) lk_topk_offer(&all, jobs[t].top.h[i].id, jobs[t].top.h[i].score);
  qsort(all.h, (size_t)all.len, sizeof(lk_hit), cmp_hit_id); /* memory order for the re-rank */
  for (int i = 0; i < all.len; i++) rows[i] = (size_t)all.h[i].id;
  score_rows(ix, q, rows, all.len, sc);
  lk_topk best = {k, 0, out};
  for (int i = 0; i < all.len; i++) lk_topk_offer(&best, ix->ids[rows[i]], sc[i]);
  int len = lk_topk_finish(&best);
  if (nfound) *nfound = len;
  free(store);
  free(sc);
  free(rows);
  return 0;
}

int lk_index_search(const lk_index *ix, const float *queries, int nq, int k, const uint64_t *allow,
                    int64_t exclude_id, lk_hit *hits, int *nfound) {
  if (!ix || nq < 0 || k <= 0 || k > LK_INDEX_MAX_K || (nq > 0 && (!queries || !hits)))
    return LK_EINVAL;
  const size_t d = (size_t)ix->dim, n = ix->n;
  size_t total;
  if (lk_size_mul((size_t)nq, d, &total) || lk_size_mul((size_t)nq, (size_t)k, &total))
    return LK_EINVAL;
  for (size_t i = 0; i < (size_t)nq * d; i++)
    if (!isfinite(queries[i])) return LK_EINVAL;
  int64_t exrow = exclude_id >= 0 ? lk_index_row(ix, exclude_id) : -1;
  /* the shortlist: the caller's k with room to spare; when few rows are allowed (up to four
   * shortlists' worth) the plain scan of those rows is exact by construction and as cheap */
  size_t sl = (size_t)ix->shortlist > 4 * (size_t)k ? (size_t)ix->shortlist : 4 * (size_t)k;
  size_t allowed = n;
  if (ix->plen && allow) {
    allowed = 0;
    for (size_t w = 0; w < (n + BLOCK - 1) / BLOCK; w++) {
      uint64_t word = allow[w];
      if (n - w * BLOCK < BLOCK) word &= ((uint64_t)1 << (n - w * BLOCK)) - 1;
      allowed += (size_t)__builtin_popcountll(word);
    }
  }
  if (!ix->plen || allowed <= 4 * sl + 1) {
    plain_search(ix, queries, nq, k, allow, exrow, hits, nfound);
    return 0;
  }
  for (int q = 0; q < nq; q++) {
    int rc = fast_search(ix, queries + (size_t)q * d, k, (int)sl, allow, exrow, hits + (size_t)q * (size_t)k,
                         nfound ? nfound + q : NULL);
    if (rc) return rc;
  }
  return 0;
}
