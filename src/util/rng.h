/* util/rng.h — the project's one small deterministic random generator (splitmix64) and the
 * draws built on it: uniform floats, doubles and integers, a normal deviate, and the splitmix64
 * mix of a value (a stable hash of an id) and its finaliser. State is one uint64_t owned by the caller, so two
 * users never share a stream. Header-only (static inline). */
#ifndef LK_UTIL_RNG_H
#define LK_UTIL_RNG_H

#include <math.h>
#include <stdint.h>

/* splitmix64's finaliser alone: a bijective 64-bit mix (a hash-table slot of an id). */
static inline uint64_t lk_rng_fmix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* splitmix64's output for the value z: a well-mixed 64-bit hash (e.g. of an id and a salt). */
static inline uint64_t lk_rng_mix(uint64_t z) { return lk_rng_fmix(z + 0x9E3779B97F4A7C15ull); }

/* The next 64 random bits; advances *s. */
static inline uint64_t lk_rng_next(uint64_t *s) {
  uint64_t z = *s;
  *s += 0x9E3779B97F4A7C15ull;
  return lk_rng_mix(z);
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float lk_rng_unit(uint64_t *s) { return (float)(lk_rng_next(s) >> 40) * (1.0f / 16777216.0f); }

/* Uniform in (0, 1) with 53 random bits (never 0, so log() of it is finite). */
static inline double lk_rng_unit_double(uint64_t *s) {
  return ((lk_rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* A standard normal deviate (Box-Muller on two lk_rng_unit_double draws). */
static inline double lk_rng_gauss(uint64_t *s) {
  double u = lk_rng_unit_double(s), v = lk_rng_unit_double(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Uniform in [lo, hi). */
static inline float lk_rng_range(uint64_t *s, float lo, float hi) { return lo + (hi - lo) * lk_rng_unit(s); }

/* Uniform integer in [0, n) (n > 0). */
static inline int lk_rng_int(uint64_t *s, int n) { return (int)((lk_rng_next(s) >> 33) % (uint64_t)n); }

#endif
