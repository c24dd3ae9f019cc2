/* util/isotonic.c — pool-adjacent-violators isotonic regression (see isotonic.h): a stack of
 * blocks, each the weighted mean of a run of values; a new value that is below the block
 * before it is merged with it, and merging goes on while the order is violated. O(n). */
#include "util/isotonic.h"

#include <math.h>
#include <stdlib.h>

#include "lookalike.h"
#include "util/size.h"

typedef struct block {
  double sum, w; /* weighted sum and weight: the block's value is sum / w */
  size_t n;      /* values pooled */
} block;

int lk_isotonic_fit(const double *y, const double *w, size_t n, double *fit) {
  if (!n) return 0;
  if (!y || !fit) return LK_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(y[i]) || (w && (!isfinite(w[i]) || w[i] <= 0))) return LK_EINVAL;
  size_t bytes;
  if (lk_size_mul(n, sizeof(block), &bytes)) return LK_ENOMEM;
  block *b = malloc(bytes);
  if (!b) return LK_ENOMEM;
  size_t nb = 0;
  for (size_t i = 0; i < n; i++) {
    double wi = w ? w[i] : 1.0;
    b[nb++] = (block){y[i] * wi, wi, 1};
    while (nb > 1 && b[nb - 2].sum / b[nb - 2].w >= b[nb - 1].sum / b[nb - 1].w) {
      b[nb - 2].sum += b[nb - 1].sum;
      b[nb - 2].w += b[nb - 1].w;
      b[nb - 2].n += b[nb - 1].n;
      nb--;
    }
  }
  size_t i = 0;
  for (size_t k = 0; k < nb; k++) {
    double v = b[k].sum / b[k].w;
    for (size_t j = 0; j < b[k].n; j++) fit[i++] = v;
  }
  free(b);
  return 0;
}
