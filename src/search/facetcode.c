/* search/facetcode.c — per-field dictionaries of the facet values (first-appearance ranks,
 * case-insensitive) and filters on them as IVF column filters (see facetcode.h). */
#include "search/facetcode.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const int LK_FACETCODE_FIELDS[LK_FACETCODE_NCOLS] = {LK_FIELD_GENDER, LK_FIELD_MASTER_CATEGORY, LK_FIELD_SUB_CATEGORY,
                                                LK_FIELD_ARTICLE_TYPE, LK_FIELD_BASE_COLOUR, LK_FIELD_SEASON,
                                                LK_FIELD_USAGE, LK_FIELD_YEAR};

#define SLOTS 8192 /* a power of two, >= 2 x LK_FACETCODE_MAX_VALUES: the probe always ends */
#define OTHER 255  /* the code of the values after the first 254 */

typedef struct dict {
  char *val[LK_FACETCODE_MAX_VALUES]; /* in order of first appearance (as first seen) */
  int n;
  int complete;          /* 0 once a value beyond LK_FACETCODE_MAX_VALUES was seen (not recorded) */
  uint16_t slot[SLOTS];  /* open addressing: index + 1 into val, 0 = empty */
} dict;

struct lk_facetcode {
  dict d[LK_FACETCODE_NCOLS];
};

int lk_facetcode_new(lk_facetcode **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return LK_ENOMEM;
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) (*out)->d[c].complete = 1;
  return 0;
}

void lk_facetcode_free(lk_facetcode *fc) {
  if (!fc) return;
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++)
    for (int i = 0; i < fc->d[c].n; i++) free(fc->d[c].val[i]);
  free(fc);
}

/* FNV-1a of the ASCII-lowered bytes: equal for strings strcasecmp calls equal. */
static uint32_t hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch - 'A' + 'a');
    h = (h ^ ch) * 16777619u;
  }
  return h;
}

/* The slot holding v, or the empty slot where it would go. */
static uint32_t find(const dict *d, const char *v) {
  uint32_t s = hash(v) & (SLOTS - 1);
  while (d->slot[s] && strcasecmp(d->val[d->slot[s] - 1], v)) s = (s + 1) & (SLOTS - 1);
  return s;
}

static uint8_t code_of(int index) { return index < OTHER - 1 ? (uint8_t)(index + 1) : OTHER; }

void lk_facetcode_lookup(const lk_facetcode *fc, const lk_item *it, uint8_t *codes) {
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) {
    const char *v = it->field[LK_FACETCODE_FIELDS[c]];
    if (!v) {
      codes[c] = 0;
      continue;
    }
    const dict *d = &fc->d[c];
    uint32_t s = find(d, v);
    codes[c] = d->slot[s] ? code_of(d->slot[s] - 1) : OTHER;
  }
}

int lk_facetcode_code(lk_facetcode *fc, const lk_item *it, uint8_t *codes) {
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) {
    const char *v = it->field[LK_FACETCODE_FIELDS[c]];
    if (!v) continue;
    dict *d = &fc->d[c];
    uint32_t s = find(d, v);
    if (d->slot[s]) continue;
    if (d->n == LK_FACETCODE_MAX_VALUES) { /* not recorded: "other", known no longer one by one */
      d->complete = 0;
      continue;
    }
    if (!(d->val[d->n] = strdup(v))) return LK_ENOMEM;
    d->slot[s] = (uint16_t)++d->n;
  }
  lk_facetcode_lookup(fc, it, codes);
  return 0;
}

int lk_facetcode_filter(const lk_facetcode *fc, const lk_filter *f, lk_ivf_filter *out) {
  memset(out, 0, sizeof *out);
  if (!f || (f->n == 0 && f->nwhere == 0)) return 0;
  int col[LK_NFIELDS];
  for (int i = 0; i < LK_NFIELDS; i++) col[i] = -1;
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) col[LK_FACETCODE_FIELDS[c]] = c;
  uint32_t used = 0;
  for (int i = 0; i < f->n; i++) {
    if (col[f->cond[i].field] < 0) return 0; /* productDisplayName: not a column */
    used |= 1u << col[f->cond[i].field];
  }
  for (int w = 0; w < f->nwhere; w++) {
    if (f->where[w].field < 0 || col[f->where[w].field] < 0) return 0; /* an extra column */
    used |= 1u << col[f->where[w].field];
  }
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) {
    if (!(used >> c & 1)) continue;
    const dict *d = &fc->d[c];
    int fld = LK_FACETCODE_FIELDS[c];
    uint64_t *a = out->allow[c];
    if (lk_filter_field_passes(f, fld, NULL)) a[0] |= 1; /* code 0: no value */
    for (int i = 0; i < d->n && i < OTHER - 1; i++)
      if (lk_filter_field_passes(f, fld, d->val[i])) a[(i + 1) / 64] |= 1ull << ((i + 1) % 64);
    if (d->n >= OTHER) { /* "other" holds several values: all pass or all fail, or the codes cannot tell */
      if (!d->complete) return 0;
      int any = 0, all = 1;
      for (int i = OTHER - 1; i < d->n && (all || !any); i++) {
        int p = lk_filter_field_passes(f, fld, d->val[i]);
        any |= p;
        all &= p;
      }
      if (any && !all) return 0;
      if (all) a[OTHER / 64] |= 1ull << (OTHER % 64);
    }
  }
  out->used = used;
  return 1;
}

/* ---- the dictionaries as bytes (facetcode.h lk_facetcode_encode) ---- */

int lk_facetcode_encode(const lk_facetcode *fc, uint8_t **buf, size_t *len) {
  size_t n = 0;
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) {
    n += 8;
    for (int i = 0; i < fc->d[c].n; i++) n += strlen(fc->d[c].val[i]) + 1;
  }
  uint8_t *b = malloc(n ? n : 1), *p = b;
  if (!b) return LK_ENOMEM;
  for (int c = 0; c < LK_FACETCODE_NCOLS; c++) {
    uint32_t h[2] = {(uint32_t)fc->d[c].n, (uint32_t)fc->d[c].complete};
    memcpy(p, h, 8);
    p += 8;
    for (int i = 0; i < fc->d[c].n; i++) {
      size_t l = strlen(fc->d[c].val[i]) + 1;
      memcpy(p, fc->d[c].val[i], l);
      p += l;
    }
  }
  *buf = b;
  *len = n;
  return 0;
}

int lk_facetcode_decode(const void *buf, size_t len, lk_facetcode **out) {
  const uint8_t *p = buf, *end = p + len;
  int rc = lk_facetcode_new(out);
  if (rc) return rc;
  lk_facetcode *fc = *out;
  for (int c = 0; c < LK_FACETCODE_NCOLS && !rc; c++) {
    uint32_t h[2];
    if (end - p < 8) {
      rc = LK_ECORRUPT;
      break;
    }
    memcpy(h, p, 8);
    p += 8;
    dict *d = &fc->d[c];
    if (h[0] > LK_FACETCODE_MAX_VALUES || h[1] > 1 || (!h[1] && h[0] < LK_FACETCODE_MAX_VALUES)) {
      rc = LK_ECORRUPT;
      break;
    }
    d->complete = (int)h[1];
    for (uint32_t i = 0; i < h[0] && !rc; i++) {
      const uint8_t *z = memchr(p, 0, (size_t)(end - p));
      if (!z) { /* unterminated */
        rc = LK_ECORRUPT;
        break;
      }
      uint32_t s = find(d, (const char *)p);
      if (d->slot[s]) { /* twice: not a dictionary this code wrote */
        rc = LK_ECORRUPT;
        break;
      }
      if (!(d->val[d->n] = strdup((const char *)p))) rc = LK_ENOMEM;
      else d->slot[s] = (uint16_t)++d->n;
      p = z + 1;
    }
  }
  if (!rc && p != end) rc = LK_ECORRUPT;
  if (rc) {
    lk_facetcode_free(fc);
    *out = NULL;
  }
  return rc;
}
