/* util/num.c — strict parsing of numbers from outside text (num.h). */
#include "util/num.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "lookalike.h"

int lk_num_int(const char *s, long lo, long hi, long *out) {
  if (!s) return LK_EINVAL;
  const char *d = s + (*s == '-' || *s == '+');
  if (*d < '0' || *d > '9') return LK_EINVAL; /* no spaces, no empty string */
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return LK_EINVAL;
  *out = v;
  return 0;
}

int lk_num_u64(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return LK_EINVAL;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return LK_EINVAL;
  *out = (uint64_t)v;
  return 0;
}

int lk_num_double(const char *s, double lo, double hi, double *out) {
  if (!s) return LK_EINVAL;
  const char *d = s + (*s == '-' || *s == '+');
  if (!((*d >= '0' && *d <= '9') || (*d == '.' && d[1] >= '0' && d[1] <= '9'))) return LK_EINVAL;
  for (const char *p = d; *p; p++)
    if (*p == 'x' || *p == 'X') return LK_EINVAL; /* hex floats: not what a person types */
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno == ERANGE && fabs(v) > 1) return LK_EINVAL; /* overflow (underflow to ~0 is fine) */
  if (*end || !isfinite(v) || !(v >= lo && v <= hi)) return LK_EINVAL;
  *out = v;
  return 0;
}
