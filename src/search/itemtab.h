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

/* The same sections built in memory an item at a time (the streamed build of the saved index,
 * search/engine.c lk_engine_build_index): the records and the pool as they will be written,
 * ~144 bytes + the strings per item, instead of an lk_item and its malloc'd strings. Zero it
 * to start; owned by the caller (lk_itemtab_clear); one thread. */
typedef struct lk_itemtab {
  uint8_t *rec; /* n records */
  char *pool;   /* plen bytes */
  size_t n, rcap, plen, pcap;
} lk_itemtab;
/* Appends a copy of it (ids ascending, else LK_EINVAL); LK_ENOMEM / LK_ETOOBIG. */
int lk_itemtab_add(lk_itemtab *t, const lk_item *it);
int64_t lk_itemtab_id(const lk_itemtab *t, size_t i);
/* Item i (< t->n) into *it, its strings pointing into t's pool (valid until the next add). */
void lk_itemtab_get(const lk_itemtab *t, size_t i, lk_item *it);
/* The two sections, byte for byte what lk_itemtab_write writes for the same items. */
int lk_itemtab_save(const lk_itemtab *t, lk_lkx_writer *w, lk_errbuf *err);
void lk_itemtab_clear(lk_itemtab *t);

#endif
