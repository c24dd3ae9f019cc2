/* map/pca.c — PCA for the catalog map: covariance by sgemm, leading eigenvectors by the
 * symmetric eigensolver (small d) or randomized subspace iteration + Rayleigh-Ritz (large d),
 * projection by sgemm; both from util/linalg.h. See map/pca.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "map/pca.h"
#include "util/linalg.h"
#include "util/rng.h"
#include "util/size.h"

/* Orthonormalises the p columns of q (d x p, row-major) by modified Gram-Schmidt. */
static void orthonormalise(float *q, int d, int p) {
  for (int j = 0; j < p; j++) {
    for (int i = 0; i < j; i++) {
      double dot = 0;
      for (int r = 0; r < d; r++) dot += (double)q[(size_t)r * p + i] * q[(size_t)r * p + j];
      for (int r = 0; r < d; r++) q[(size_t)r * p + j] -= (float)(dot * q[(size_t)r * p + i]);
    }
    double nrm = 0;
    for (int r = 0; r < d; r++) nrm += (double)q[(size_t)r * p + j] * q[(size_t)r * p + j];
    nrm = sqrt(nrm);
    for (int r = 0; r < d; r++) q[(size_t)r * p + j] = nrm > 1e-30 ? (float)(q[(size_t)r * p + j] / nrm) : 0.f;
  }
}

static int gemm(char ta, char tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                float *c, int ldc, lk_errbuf *err) {
  int rc = lk_linalg_sgemm(ta, tb, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
  return rc ? lk_err_set(err, rc, "pca: sgemm failed (%d x %d x %d)", m, n, k) : 0;
}

int lk_map_pca(float *x, size_t n, int d, int k, uint64_t seed, float *out, float *var,
               lk_errbuf *err) {
  if (!x || !out || n == 0 || d <= 0 || k <= 0 || k > d || n > INT32_MAX)
    return lk_err_set(err, LK_EINVAL, "pca: bad arguments (n=%zu d=%d k=%d)", n, d, k);
  size_t nd, dd;
  if (lk_size_mul(n, (size_t)d, &nd) || lk_size_mul((size_t)d, (size_t)d, &dd))
    return lk_err_set(err, LK_ETOOBIG, "pca: matrix too large");
  int rc = 0, p = d <= 64 ? d : (k + 10 < d ? k + 10 : d);
  double *mean = calloc((size_t)d, sizeof *mean);
  float *xc = x, *cov = malloc(dd * sizeof *cov);
  float *q = malloc((size_t)d * p * sizeof *q), *z = malloc((size_t)d * p * sizeof *z);
  float *basis = malloc((size_t)d * k * sizeof *basis);
  double *small = malloc((size_t)p * p * sizeof *small), *w = malloc((size_t)p * sizeof *w);
  double *v = malloc((size_t)p * p * sizeof *v);
  if (!mean || !cov || !q || !z || !basis || !small || !w || !v) {
    rc = lk_err_set(err, LK_ENOMEM, "pca: out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (int j = 0; j < d; j++) mean[j] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < d; j++) xc[i * d + j] = (float)(xc[i * d + j] - mean[j]);
  /* cov = xc^T xc / n */
  if ((rc = gemm('T', 'N', d, d, (int)n, xc, d, xc, d, cov, d, err))) goto done;
  for (size_t i = 0; i < dd; i++) cov[i] /= (float)n;
  if (p == d) { /* exact: the eigensolver on the whole covariance */
    for (size_t i = 0; i < dd; i++) small[i] = cov[i];
    if ((rc = lk_linalg_eigsym(small, d, w, v, err))) goto done;
    for (int r = 0; r < d; r++)
      for (int c = 0; c < k; c++) basis[(size_t)r * k + c] = (float)v[(size_t)r * d + c];
  } else { /* randomized subspace iteration, then Rayleigh-Ritz on the p x p projection */
    uint64_t s = seed ^ 0x5CA1AB1Eull;
    for (size_t i = 0; i < (size_t)d * p; i++) {
      q[i] = (float)lk_rng_gauss(&s);
    }
    orthonormalise(q, d, p);
    for (int it = 0; it < 12; it++) {
      if ((rc = gemm('N', 'N', d, p, d, cov, d, q, p, z, p, err))) goto done;
      memcpy(q, z, (size_t)d * p * sizeof *q);
      orthonormalise(q, d, p);
    }
    if ((rc = gemm('N', 'N', d, p, d, cov, d, q, p, z, p, err))) goto done; /* z = C q */
    for (int i = 0; i < p; i++)
      for (int j = 0; j < p; j++) {
        double dot = 0;
        for (int r = 0; r < d; r++) dot += (double)q[(size_t)r * p + i] * z[(size_t)r * p + j];
        small[(size_t)i * p + j] = dot;
      }
    for (int i = 0; i < p; i++) /* symmetrise rounding */
      for (int j = i + 1; j < p; j++)
        small[(size_t)i * p + j] = small[(size_t)j * p + i] = 0.5 * (small[(size_t)i * p + j] + small[(size_t)j * p + i]);
    if ((rc = lk_linalg_eigsym(small, p, w, v, err))) goto done;
    for (int r = 0; r < d; r++)
      for (int c = 0; c < k; c++) {
        double acc = 0;
        for (int t = 0; t < p; t++) acc += (double)q[(size_t)r * p + t] * v[(size_t)t * p + c];
        basis[(size_t)r * k + c] = (float)acc;
      }
  }
  for (int c = 0; c < k; c++) { /* sign convention: largest-magnitude component positive */
    int best = 0;
    for (int r = 1; r < d; r++)
      if (fabsf(basis[(size_t)r * k + c]) > fabsf(basis[(size_t)best * k + c])) best = r;
    if (basis[(size_t)best * k + c] < 0)
      for (int r = 0; r < d; r++) basis[(size_t)r * k + c] = -basis[(size_t)r * k + c];
    if (var) var[c] = (float)w[c];
  }
  rc = gemm('N', 'N', (int)n, k, d, xc, d, basis, k, out, k, err);
done:
  free(mean);
  free(cov);
  free(q);
  free(z);
  free(basis);
  free(small);
  free(w);
  free(v);
  return rc;
}
