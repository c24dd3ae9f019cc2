/* map/pca.h — principal component analysis of a row-major float matrix, the first step of
 * the catalog map (map/tsne.h): centres the rows, forms the covariance and
 * finds its leading eigenvectors (util/linalg.h's eigensolver for small dimensions, randomized
 * subspace iteration with a seed otherwise), then projects the rows onto them. */
#ifndef LK_MAP_PCA_H
#define LK_MAP_PCA_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* x: n rows of d floats, centred in place (no copy: the catalog's vectors are large). Writes
 * n rows of k floats into out (caller allocates n*k; k <= d),
 * the projections of the centred rows on the k leading principal axes, strongest first, each
 * axis signed so that its largest-magnitude component is positive. var (may be NULL) gets the
 * k eigenvalues (variances). Deterministic for a seed. */
int lk_map_pca(float *x, size_t n, int d, int k, uint64_t seed, float *out, float *var,
               lk_errbuf *err);

#endif
