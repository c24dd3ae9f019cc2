/* fuzz/fuzz_num.c — fuzz target for numbers from outside text (util/num.c: every number
 * option of the `lookalike` command, and the lists of --crop/--shard/--size through them),
 * with the invariants: an accepted number is finite and within the bounds asked for, an
 * accepted integer's text is digits with an optional sign, and a refusal leaves the output
 * untouched. Build with -DLK_LIBFUZZER for libFuzzer; otherwise fuzz/replay.c replays files. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/num.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 256) return 0;
  char s[257];
  memcpy(s, data, size);
  s[size] = '\0';
  static const double bounds[][2] = {{0, 1e4}, {-1e6, 1e6}, {2, 1000}, {1e-9, 10}, {-1e300, 1e300}};
  for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
    double d = -42.5;
    if (lk_num_double(s, bounds[b][0], bounds[b][1], &d) == 0) {
      if (!isfinite(d) || d < bounds[b][0] || d > bounds[b][1]) abort();
      if (strpbrk(s, "xXnNiI \t\n")) abort(); /* no hex, nan, inf, blanks */
    } else if (d != -42.5) {
      abort();
    }
  }
  static const long ibounds[][2] = {{1, 256}, {0, 2147483647L}, {-1000000, 1000000}};
  for (size_t b = 0; b < sizeof ibounds / sizeof *ibounds; b++) {
    long v = -42;
    if (lk_num_int(s, ibounds[b][0], ibounds[b][1], &v) == 0) {
      if (v < ibounds[b][0] || v > ibounds[b][1]) abort();
      const char *p = s + (*s == '-' || *s == '+');
      if (!*p || strspn(p, "0123456789") != strlen(p)) abort();
    } else if (v != -42) {
      abort();
    }
  }
  uint64_t u = 42;
  if (lk_num_u64(s, &u) == 0) {
    if (!*s || strspn(s, "0123456789") != strlen(s)) abort(); /* the text up to a NUL */
  } else if (u != 42) {
    abort();
  }
  return 0;
}
