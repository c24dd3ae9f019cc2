/* fuzz/fuzz_lkx.c — fuzz target for the saved index file (index/lkx.c's reader and
 * index/ivf.c's lk_ivf_load, copying, mapped and lazy: lk_ivf_check then finds what the mapped
 * load refused, no more, no less): any bytes must be refused with a message or give an IVF that
 * answers a search, unfiltered and through its filter columns (lk_ivf_search_where); the
 * engine's sections too (search/itemtab.h's items, checked whole and read one by one, whose every string is then read, and
 * search/facetcode.h's dictionaries, which then code an item). Each
 * input runs twice: as given (the checksums then reject most damage), and with its header's
 * and sections' checksums made right, so the fuzzer reaches the section-table and IVF checks
 * behind them. Build with -DLK_LIBFUZZER for libFuzzer;
 * otherwise fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "index/ivf.h"
#include "index/lkx.h"
#include "search/facetcode.h"
#include "search/itemtab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size) {
  lk_lkx *x = NULL;
  lk_ivf *v = NULL;
  lk_errbuf eb = {0};
  int rc = lk_lkx_parse(data, size, &x, &eb);
  if (rc) {
    if (rc > 0 || !*lk_err_msg(&eb)) abort();
    return;
  }
  lk_itemtab *tab = NULL;
  const lk_item *first = NULL;
  size_t n = 0, sum = 0;
  if (lk_itemtab_open(x, &tab, &eb) == 0) {
    n = lk_itemtab_count(tab);
    int whole = lk_itemtab_check(tab, &eb); /* (then every item, as asked for one by one) */
    if (whole && !*lk_err_msg(&eb)) abort();
    for (size_t i = 0; i < n; i++) {
      const lk_item *it = lk_itemtab_get(tab, i);
      if (!it && !whole) abort(); /* a damaged item only where the check found one */
      if (!it) continue;
      if (!first) first = it;
      if (lk_itemtab_id(tab, i) != it->id) abort();
      sum += (it->path ? strlen(it->path) : 0) + (it->source ? strlen(it->source) : 0);
      for (int f = 0; f < LK_NFIELDS; f++) sum += it->field[f] ? strlen(it->field[f]) : 0;
    }
  } else if (!*lk_err_msg(&eb) || tab) {
    abort();
  }
  const void *dp;
  size_t dn;
  lk_facetcode *fc = NULL;
  if (lk_lkx_section(x, LK_FACETCODE_LKX_TAG, 1, 0, &dp, &dn, &eb) == 0 && lk_facetcode_decode(dp, dn, &fc) == 0) {
    uint8_t codes[LK_FACETCODE_NCOLS];
    lk_item probe = {0};
    probe.field[LK_FIELD_BASE_COLOUR] = "Red";
    if (lk_facetcode_code(fc, first ? first : &probe, codes)) abort();
    lk_facetcode_free(fc);
  }
  lk_itemtab_free(tab);
  (void)sum;
  int whole = -1; /* lk_ivf_load_mapped's answer: the lazy load's checks must come to the same */
  for (int mapped = 0; mapped < 3; mapped++) {
    rc = mapped == 2 ? lk_ivf_load_lazy(x, &v, &eb) : mapped ? lk_ivf_load_mapped(x, &v, &eb) : lk_ivf_load(x, &v, &eb);
    if (mapped == 1) whole = rc;
    if (rc) {
      if (rc > 0 || !*lk_err_msg(&eb) || v || (mapped == 2 && whole == 0)) abort();
    } else {
      if (lk_ivf_size(v) != lk_lkx_meta(x)->items) abort();
      int dim = (int)lk_lkx_meta(x)->dim, k = 5, nf = 0;
      float *q = calloc((size_t)dim, sizeof *q);
      lk_hit hits[5];
      if (q) {
        q[0] = 1.0f;
        if (lk_ivf_search(v, q, 1, k, 0, NULL, -1, hits, &nf) == 0 && (nf < 0 || nf > k)) abort();
        /* the filter columns and their presence masks (a filter on every column the file has) */
        lk_ivf_filter flt = {.used = (1u << lk_ivf_ncols(v)) - 1};
        for (int c = 0; c < LK_IVF_MAX_COLS; c++) flt.allow[c][0] = flt.allow[c][3] = 0x5555555555555555ULL;
        nf = 0;
        if (lk_ivf_search_where(v, q, 1, k, 0, &flt, -1, hits, &nf) == 0 && (nf < 0 || nf > k)) abort();
      }
      free(q);
      if (mapped == 2 && (lk_ivf_check(v) == 0) != (whole == 0)) abort();
      lk_ivf_free(v);
    }
  }
  lk_lkx_close(x);
}

/* The checksums the writer would have put in: each in-bounds section's chunks' (into the
 * first LKX_CHUNKS section, as far as it reaches), each section's, then the header's. */
static void fix_checksums(uint8_t *b, size_t size) {
  if (size < LKX_PAGE) return;
  uint32_t ns;
  memcpy(&ns, b + 12, 4);
  uint8_t *ck = NULL;
  size_t nck = 0, at = 0;
  for (int pass = 0; pass < 3; pass++)
    for (uint32_t i = 0; i < ns && i < LKX_MAX_SECT; i++) {
      uint8_t *e = b + 64 + (size_t)i * 24;
      uint32_t tag;
      uint64_t off, len;
      memcpy(&tag, e, 4);
      memcpy(&off, e + 8, 8);
      memcpy(&len, e + 16, 8);
      if (off > size || len > size - off || len > UINT32_MAX) continue;
      if (pass == 0 && tag == LKX_CHUNKS && !ck) ck = b + off, nck = (size_t)len / 4;
      for (uint64_t c = 0; pass == 1 && b + off != ck && c < len; c += LKX_CHUNK, at++) {
        uint32_t v = (uint32_t)crc32(0, b + off + c, (uInt)(len - c < LKX_CHUNK ? len - c : LKX_CHUNK));
        if (at < nck) memcpy(ck + 4 * at, &v, 4);
      }
      if (pass == 2) {
        uint32_t c = (uint32_t)crc32(0, b + off, (uInt)len);
        memcpy(e + 4, &c, 4);
      }
    }
  uint32_t c = (uint32_t)crc32(0, b, LKX_PAGE - 4);
  memcpy(b + LKX_PAGE - 4, &c, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (8u << 20)) return 0;
  one(data, size);
  uint8_t *b = malloc(size ? size : 1);
  if (!b) return 0;
  memcpy(b, data, size);
  fix_checksums(b, size);
  one(b, size);
  free(b);
  return 0;
}
