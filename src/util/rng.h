/* util/rng.h — the project's small deterministic random generator (splitmix64) and the
 * draws built on it: uniform floats and integers. State is one uint64_t owned by the caller,
 * so two users never share a stream. Header-only (static inline). */
#ifndef LK_UTIL_RNG_H
#define LK_UTIL_RNG_H

#include <stdint.h>

/* The next 64 random bits; advances *s. */
static inline uint64_t lk_rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline float lk_rng_unit(uint64_t *s) { return (float)(lk_rng_next(s) >> 40) * (1.0f / 16777216.0f); }

/* Uniform in [lo, hi). */
static inline float lk_rng_range(uint64_t *s, float lo, float hi) { return lo + (hi - lo) * lk_rng_unit(s); }

/* Uniform integer in [0, n) (n > 0). */
static inline int lk_rng_int(uint64_t *s, int n) { return (int)((lk_rng_next(s) >> 33) % (uint64_t)n); }

#endif
