/* util/linalg.h — the project's dense linear algebra outside the inference engine (src/nn/):
 * one row-major sgemm (over oneDNN's dnnl_sgemm) and one symmetric eigensolver (LAPACK's
 * dsyevd through LAPACKE). PCA (map/pca.c), PCA-whitening and training (tune/train.c), the
 * reduced basis and IVF (index/), t-SNE and projections call these instead of the libraries.
 * Both are reentrant and hold no state; buffers belong to the caller. */
#ifndef LK_UTIL_LINALG_H
#define LK_UTIL_LINALG_H

#include <stdint.h>

#include "util/err.h"

/* C = alpha op(A) op(B) + beta C, all row-major: op(A) is m x k, op(B) k x n, C m x n;
 * ta / tb are 'N' or 'T' (op = transpose). An empty product (m or n == 0) does nothing; k == 0
 * gives C = beta C. Returns 0, LK_EINVAL for bad shapes or leading dimensions, or LK_ENOMEM
 * when oneDNN fails otherwise. Multi-threaded inside oneDNN (OpenMP). */
int lk_linalg_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Eigen-decomposition of the symmetric n x n matrix a (row-major, both triangles filled; it is
 * overwritten) by LAPACK's dsyevd: the eigenvalues into w (n) in descending order, the matching
 * eigenvectors into the columns of v (n x n, row-major; v may not alias a), each signed so that
 * its largest-magnitude component is positive (the first such on ties), so results are the
 * same from run to run. Returns 0, LK_EINVAL (bad arguments, or LAPACK did not converge) or
 * LK_ENOMEM, with the message in err (may be NULL). */
int lk_linalg_eigsym(double *a, int n, double *w, double *v, lk_errbuf *err);

#endif
