/* util/num.h — numbers from outside text (command-line options, query parameters): whole,
 * finite and within bounds, or refused. strtod alone takes "inf", "nan", "1e39" (inf as a
 * float) and trailing junk; these do not. */
#ifndef LK_UTIL_NUM_H
#define LK_UTIL_NUM_H

#include <stdint.h>

/* s as a decimal integer (optional sign, digits only) in [lo, hi]: 0 or LK_EINVAL. */
int lk_num_int(const char *s, long lo, long hi, long *out);
/* s as an unsigned decimal integer (digits only: no sign, no blanks) that fits 64 bits: 0 or
 * LK_EINVAL. For seeds. */
int lk_num_u64(const char *s, uint64_t *out);
/* s as a finite decimal number in [lo, hi] (lo, hi finite): 0 or LK_EINVAL. Refuses "inf",
 * "nan", hex floats, overflow and trailing text. */
int lk_num_double(const char *s, double lo, double hi, double *out);

#endif
