/* util/array.h — growable arrays: the project's one growth rule (start at a first capacity,
 * double until the need fits) with checked size arithmetic (util/size.h), for every array that
 * grows as it is appended to. The array, its count and its capacity belong to the caller (no
 * hidden state; not thread-safe on one array). Header-only (static inline). */
#ifndef LK_UTIL_ARRAY_H
#define LK_UTIL_ARRAY_H

#include <stdlib.h>

#include "util/size.h"

/* The capacity that holds need elements: cap (first when cap is 0, 1 when both are) doubled
 * until it is >= need, into *out. LK_ETOOBIG when it, or it times elem bytes, overflows. */
static inline int lk_array_grow_cap(size_t cap, size_t need, size_t first, size_t elem, size_t *out) {
  size_t nc = cap ? cap : first ? first : 1, bytes;
  while (nc < need)
    if (lk_size_mul(nc, 2, &nc)) return LK_ETOOBIG;
  if (lk_size_mul(nc, elem, &bytes)) return LK_ETOOBIG;
  *out = nc;
  return 0;
}

/* Reallocates *p to n elements of elem bytes (n == 0 keeps one byte). On failure *p is left as
 * it was, still the caller's: LK_ETOOBIG (n * elem overflows) or LK_ENOMEM. */
static inline int lk_array_resize(void **p, size_t n, size_t elem) {
  size_t bytes;
  if (lk_size_mul(n, elem, &bytes)) return LK_ETOOBIG;
  void *q = realloc(*p, bytes ? bytes : 1);
  if (!q) return LK_ENOMEM;
  *p = q;
  return 0;
}

/* Makes room for need elements of elem bytes in *p, whose capacity is *cap: nothing when they
 * fit, else grows by the rule above and updates *cap. On failure *p and *cap are unchanged. */
static inline int lk_array_reserve(void **p, size_t *cap, size_t need, size_t elem, size_t first) {
  if (need <= *cap) return 0;
  size_t nc;
  int rc = lk_array_grow_cap(*cap, need, first, elem, &nc);
  if (!rc) rc = lk_array_resize(p, nc, elem);
  if (!rc) *cap = nc;
  return rc;
}

/* lk_array_reserve for a typed array: arr is a T * lvalue, cap a size_t lvalue. Evaluates to
 * 0, LK_ENOMEM or LK_ETOOBIG. E.g. `if ((rc = LK_ARRAY_RESERVE(v, cap, n + 1, 64))) return rc;
 * v[n++] = x;` */
#define LK_ARRAY_RESERVE(arr, cap, need, first)                                        \
  __extension__({                                                                       \
    void *lk_array_p_ = (arr);                                                          \
    int lk_array_rc_ = lk_array_reserve(&lk_array_p_, &(cap), (need), sizeof *(arr), (first)); \
    (arr) = lk_array_p_;                                                                \
    lk_array_rc_;                                                                       \
  })

/* lk_array_resize for a typed array (arrays that grow together under one capacity). */
#define LK_ARRAY_RESIZE(arr, n)                                                       \
  __extension__({                                                                     \
    void *lk_array_p_ = (arr);                                                        \
    int lk_array_rc_ = lk_array_resize(&lk_array_p_, (n), sizeof *(arr));            \
    (arr) = lk_array_p_;                                                              \
    lk_array_rc_;                                                                     \
  })

#endif
