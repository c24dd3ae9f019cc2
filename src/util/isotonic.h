/* util/isotonic.h — isotonic regression: the non-decreasing sequence closest (weighted least
 * squares) to given values, by pool-adjacent-violators. Generic: search/calibrate.c fits the
 * probability that a pair of items is of the same kind as a monotone function of their score. */
#ifndef LK_UTIL_ISOTONIC_H
#define LK_UTIL_ISOTONIC_H

#include <stddef.h>

/* fit[0..n) = the non-decreasing sequence minimising sum w[i] (fit[i] - y[i])^2, for y in the
 * order of the variable it should rise with (sort by it first). w may be NULL (all 1); weights
 * must be > 0 and finite, as y. fit may be y. Every fit[i] lies within [min y, max y].
 * 0, or LK_EINVAL (n == 0 is fine and does nothing), LK_ENOMEM. */
int lk_isotonic_fit(const double *y, const double *w, size_t n, double *fit);

#endif
