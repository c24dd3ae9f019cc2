/* fuzz/fuzz_filter.c — fuzz target for search filters (search/filter.h): the input's first line
 * is a --where / where= expression (lk_filter_add, lk_filter_add_where), the rest an item's
 * extra JSON text that the filter reads (lk_filter_json_get, lk_filter_match). Whatever the
 * bytes, an expression is accepted within the limits or refused with a message, and reading
 * extra never goes past its end; the IVF's facet columns (search/facetcode.h) decide a filter on
 * the facet fields as lk_filter_match does. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "search/facetcode.h"
#include "search/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char *nl = strchr(s, '\n'), *extra = nl ? nl + 1 : NULL;
  if (nl) *nl = '\0';
  lk_filter f;
  memset(&f, 0, sizeof f);
  for (int pass = 0; pass < 2; pass++) {
    lk_errbuf eb = {0};
    int rc = pass ? lk_filter_add_where(&f, s, &eb) : lk_filter_add(&f, s, &eb);
    if (rc && ((rc != LK_EINVAL && rc != LK_ETOOBIG) || !*lk_err_msg(&eb))) abort();
  }
  if (f.n > LK_FILTER_MAX || f.nwhere > LK_FILTER_MAX_WHERE) abort();
  for (int i = 0; i < f.nwhere; i++) {
    const lk_filter_where *w = &f.where[i];
    if (!w->column[0] || w->op < LK_FILTER_LE || w->op > LK_FILTER_EQ || strlen(w->expr) >= sizeof w->expr) abort();
    const char *v;
    size_t n;
    int is_string;
    if (extra && lk_filter_json_get(extra, w->column, &v, &n, &is_string) &&
        (v < extra || v + n > extra + strlen(extra)))
      abort();
  }
  lk_item it;
  memset(&it, 0, sizeof it);
  it.extra = extra;
  it.field[6] = extra;
  unsigned seen = 0;
  int m = lk_filter_match(&it, &f, &seen);
  if (m != 0 && m != 1) abort();
  lk_errbuf eb = {0};
  lk_filter_check_seen(&f, seen, &eb);
  /* field by field (no comparison on extra): the same verdict as the whole filter's */
  int extra_cols = 0, all = 1;
  for (int i = 0; i < f.nwhere; i++) extra_cols |= f.where[i].field < 0;
  for (int fld = 0; fld < LK_NFIELDS; fld++) all &= lk_filter_field_passes(&f, fld, it.field[fld]);
  if (!extra_cols && all != lk_filter_match(&it, &f, NULL)) abort();
  /* the facet columns: coded after another item, the filter as a column filter when it can be */
  lk_facetcode *fc = NULL;
  if (!lk_facetcode_new(&fc)) {
    lk_item other;
    memset(&other, 0, sizeof other);
    other.field[6] = "2012";
    uint8_t codes[LK_FACETCODE_NCOLS], oc[LK_FACETCODE_NCOLS];
    lk_ivf_filter cf;
    if (!lk_facetcode_code(fc, &other, oc) && !lk_facetcode_code(fc, &it, codes) && lk_facetcode_filter(fc, &f, &cf)) {
      int pass = 1;
      for (int c = 0; c < LK_FACETCODE_NCOLS; c++)
        if (cf.used >> c & 1) pass &= (int)(cf.allow[c][codes[c] / 64] >> (codes[c] % 64) & 1);
      if (pass != lk_filter_match(&it, &f, NULL)) abort();
    }
    lk_facetcode_free(fc);
  }
  free(s);
  return 0;
}
