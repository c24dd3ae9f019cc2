/* util/clock.h — the project's one monotonic clock: seconds since an arbitrary start, for
 * timings, timeouts and rates (never for dates). Header-only (static inline). */
#ifndef LK_UTIL_CLOCK_H
#define LK_UTIL_CLOCK_H

#include <time.h>

static inline double lk_clock_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#endif
