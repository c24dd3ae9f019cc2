/* util/lazy.h — a check run once, when its data is first read (a saved index's float rows, its
 * IVF's lists and fine codes: search/engine.c, index/ivf.c), instead of over everything at open.
 * One state byte per unit (a chunk, a list): 0 unchecked, 1 good, 2 damaged. Thread-safe:
 * two readers may check one unit at once; both get the same answer, stored atomically. */
#ifndef LK_UTIL_LAZY_H
#define LK_UTIL_LAZY_H

#include <stddef.h>
#include <stdint.h>

/* 1 when unit i is good: its state, or good(ctx, i) (1 good, 0 damaged) run now and kept. */
static inline int lk_lazy_ok(uint8_t *state, size_t i, int (*good)(const void *ctx, size_t i), const void *ctx) {
  uint8_t s = __atomic_load_n(&state[i], __ATOMIC_ACQUIRE);
  if (!s) {
    s = good(ctx, i) ? 1 : 2;
    __atomic_store_n(&state[i], s, __ATOMIC_RELEASE);
  }
  return s == 1;
}

#endif
