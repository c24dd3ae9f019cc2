/* search/facetcode.h — the shop's facet fields as the IVF's filter columns (index/ivf.h): each
 * item's gender, masterCategory, subCategory, articleType, baseColour, season, usage and year
 * coded as one byte per field, and a search filter on those fields turned into an
 * lk_ivf_filter, so a filtered IVF search checks rows inside its list scan instead of walking
 * every item for an allow bitmap (search/engine.c). */
#ifndef LK_SEARCH_FACETCODE_H
#define LK_SEARCH_FACETCODE_H

#include <stdint.h>

#include "index/ivf.h"
#include "search/filter.h"

/* The coded fields, column c = LK_FACETCODE_FIELDS[c] (enum lk_field). */
#define LK_FACETCODE_NCOLS 8
extern const int LK_FACETCODE_FIELDS[LK_FACETCODE_NCOLS];
/* Distinct values a field's dictionary records (beyond them, "other" values are not known one
 * by one, and a filter on such a field takes the caller's item walk). */
#define LK_FACETCODE_MAX_VALUES 4096

/* A dictionary per field. A value's code is its rank in order of first appearance over the
 * items coded so far, values compared case-insensitively as filters compare them: 0 = no
 * value, 1..254 the first 254 distinct values, 255 "other" (the rest). Coding items appended
 * later never changes the codes of earlier ones, so the codes of a saved index's rows are the
 * codes its items get again when coded in the same order. */
typedef struct lk_facetcode lk_facetcode;
/* *out: an empty dictionary, the caller's (lk_facetcode_free). LK_ENOMEM. */
int lk_facetcode_new(lk_facetcode **out);
void lk_facetcode_free(lk_facetcode *fc); /* NULL-safe */
/* The item's codes (LK_FACETCODE_NCOLS bytes into codes), its new values joining the
 * dictionaries. LK_ENOMEM (the dictionaries stay usable; codes unset). Not thread-safe. */
int lk_facetcode_code(lk_facetcode *fc, const lk_item *it, uint8_t *codes);
/* The codes an item's values have now (values not in the dictionary: 255), changing nothing.
 * Thread-safe against other readers. */
void lk_facetcode_lookup(const lk_facetcode *fc, const lk_item *it, uint8_t *codes);
/* The filter f as a filter on the columns: 1 with *out set when every condition of f is on a
 * coded field and the codes decide it exactly (an item passes f exactly when its codes pass
 * *out); 0 when they cannot (a condition on another field or on an extra column, or a field
 * whose "other" values neither all pass nor all fail): the caller then tests the items. NULL
 * or empty f: 0. Thread-safe against other readers. */
int lk_facetcode_filter(const lk_facetcode *fc, const lk_filter *f, lk_ivf_filter *out);
/* The dictionaries as bytes, for the saved index (search/engine.c), so an engine mapped from it
 * codes and filters as the one that saved it without coding every item again. Format, host
 * order (the saved index is little-endian only): per column, u32 values, u32 complete (0/1),
 * then the values, each NUL-terminated, in code order. encode: *buf is the caller's (free);
 * LK_ENOMEM. decode: a new dictionary (lk_facetcode_free), or LK_ECORRUPT for bytes encode
 * cannot have written (truncated, a count over LK_FACETCODE_MAX_VALUES, a repeated value,
 * bytes left over) / LK_ENOMEM; *out is NULL then. */
#define LK_FACETCODE_LKX_TAG 0x43494446 /* "FDIC": the saved index's section of them */
int lk_facetcode_encode(const lk_facetcode *fc, uint8_t **buf, size_t *len);
int lk_facetcode_decode(const void *buf, size_t len, lk_facetcode **out);

#endif
