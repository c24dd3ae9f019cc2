/* util/size.h — checked size arithmetic. Every size computed from outside numbers
 * (image dimensions, tensor shapes, file offsets, counts) goes through these. */
#ifndef LK_UTIL_SIZE_H
#define LK_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "lookalike.h"

/* *out = a * b; returns 0 or LK_ETOOBIG on overflow. */
static inline int lk_size_mul(size_t a, size_t b, size_t *out) {
  if (__builtin_mul_overflow(a, b, out)) return LK_ETOOBIG;
  return 0;
}
/* *out = a + b; returns 0 or LK_ETOOBIG on overflow. */
static inline int lk_size_add(size_t a, size_t b, size_t *out) {
  if (__builtin_add_overflow(a, b, out)) return LK_ETOOBIG;
  return 0;
}
/* *out = a * b * c. */
static inline int lk_size_mul3(size_t a, size_t b, size_t c, size_t *out) {
  size_t t;
  if (lk_size_mul(a, b, &t)) return LK_ETOOBIG;
  return lk_size_mul(t, c, out);
}
/* *out = a * b * c * d. */
static inline int lk_size_mul4(size_t a, size_t b, size_t c, size_t d, size_t *out) {
  size_t t;
  if (lk_size_mul3(a, b, c, &t)) return LK_ETOOBIG;
  return lk_size_mul(t, d, out);
}

#endif
