/* search/itemtab.h — a catalog's items as two sections of the saved index (index/lkx.h): a
 * fixed-size record per item and a string pool, read back as lk_item structs whose strings
 * point into the mapped pool (nothing copied), so an engine opened from the saved index
 * (search/engine.c) holds sizeof(lk_item) bytes of RAM per item and reads no item from the
 * catalog.
 *
 * Format, little-endian (as the whole file): section LK_ITEMTAB_TABLE, one record of
 * LK_ITEMTAB_REC bytes per item in ascending id order: i64 id, i64 size, i64 mtime, then one
 * u64 pool offset per string (path, hash, field[0..LK_NFIELDS), extra, status, error, source;
 * UINT64_MAX = NULL). Section LK_ITEMTAB_POOL: the strings, each NUL-terminated (empty, or its
 * last byte a NUL). */
#ifndef LK_SEARCH_ITEMTAB_H
#define LK_SEARCH_ITEMTAB_H

#include <stddef.h>

#include "index/lkx.h"
#include "lookalike.h"

#define LK_ITEMTAB_TABLE 0x534d5449 /* "ITMS" */
#define LK_ITEMTAB_POOL 0x4c4f5053  /* "SPOL" */
#define LK_ITEMTAB_NSTR (LK_NFIELDS + 6)
#define LK_ITEMTAB_REC (24 + 8 * LK_ITEMTAB_NSTR)

/* Appends the two sections for items[0..n) (ascending ids) to w. LK_EIO / LK_ENOMEM with a
 * message; the caller abandons w then. */
int lk_itemtab_write(lk_lkx_writer *w, const lk_item *items, size_t n, lk_errbuf *err);
/* The items of a verified file x: *items (n of them, the caller's: free() the array, never
 * lk_item_clear its elements) point into x's mapping, which must outlive them. LK_ECORRUPT with
 * a message for sections encode cannot have written (sizes, an offset outside the pool, an
 * unterminated pool, ids not ascending). */
int lk_itemtab_read(const lk_lkx *x, lk_item **items, size_t *n, lk_errbuf *err);

#endif
