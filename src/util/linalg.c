/* util/linalg.c — row-major sgemm over dnnl_sgemm and the symmetric eigensolver over LAPACKE's
 * dsyevd (see util/linalg.h). */
#include "util/linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>
#include <oneapi/dnnl/dnnl.h>

int lk_linalg_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m < 0 || n < 0 || k < 0 || (ta != 'N' && ta != 'T') || (tb != 'N' && tb != 'T')) return LK_EINVAL;
  if (m == 0 || n == 0) return 0;
  if (k == 0) { /* oneDNN's answer to an empty inner dimension is not documented: C = beta C */
    if (ldc < n) return LK_EINVAL;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return 0;
  }
  dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st == dnnl_success) return 0;
  return st == dnnl_invalid_arguments ? LK_EINVAL : LK_ENOMEM;
}

int lk_linalg_eigsym(double *a, int n, double *w, double *v, lk_errbuf *err) {
  if (n <= 0 || !a || !w || !v) return lk_err_set(err, LK_EINVAL, "eigsym: bad arguments");
  /* a is symmetric, so its row-major array is also its column-major one: LAPACK's column-major
   * call needs no transposed copy, and eigenvector j comes back in row j of a, in ascending
   * order of the eigenvalues. */
  lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a, n, w);
  if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
    return lk_err_set(err, LK_ENOMEM, "eigsym: out of memory (%d x %d)", n, n);
  if (info != 0) return lk_err_set(err, LK_EINVAL, "eigsym: LAPACK dsyevd failed (info %d, n %d)", (int)info, n);
  for (int i = 0; i < n / 2; i++) { /* descending */
    double t = w[i];
    w[i] = w[n - 1 - i];
    w[n - 1 - i] = t;
  }
  for (int c = 0; c < n; c++) {
    const double *e = a + (size_t)(n - 1 - c) * n; /* the eigenvector of w[c] */
    int best = 0;
    for (int r = 1; r < n; r++)
      if (fabs(e[r]) > fabs(e[best])) best = r;
    double sign = e[best] < 0 ? -1.0 : 1.0;
    for (int r = 0; r < n; r++) v[(size_t)r * n + c] = sign * e[r];
  }
  return 0;
}
