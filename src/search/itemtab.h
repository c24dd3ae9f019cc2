/* search/itemtab.h — a catalog's items as two sections of the saved index (index/lkx.h): a
 * fixed-size record per item and a string pool, read back as lk_item structs whose strings
 * point into the mapped pool (nothing copied), a chunk at a time as they are first asked for,
 * so an engine opened from the saved index (search/engine.c) reads no item from the catalog
 * and decodes (and holds sizeof(lk_item) bytes of RAM for) only the items it is asked for.
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
/* The same for items at(ctx, 0..n) (an item NULL: LK_ECORRUPT, "damaged"). */
int lk_itemtab_write_from(lk_lkx_writer *w, const lk_item *(*at)(const void *ctx, size_t i), const void *ctx, size_t n,
                          lk_errbuf *err);

/* The items of a file x (the two sections lk_lkx_map verified, or lk_lkx_map_lazy left to
 * lk_lkx_verify), read as they are asked for: a chunk of LK_ITEMTAB_CHUNK records decoded into
 * lk_item structs (their strings point into x's mapping, which must outlive the table) when one
 * of its items is first asked for, its bytes verified then. Thread-safe for readers. */
typedef struct lk_itemtab lk_itemtab;
#define LK_ITEMTAB_CHUNK 256
/* *out (lk_itemtab_free), its sizes and the pool's last byte checked: LK_ECORRUPT with a
 * message for sections encode cannot have written, LK_ENOMEM. */
int lk_itemtab_open(const lk_lkx *x, lk_itemtab **out, lk_errbuf *err);
void lk_itemtab_free(lk_itemtab *t); /* NULL-safe */
size_t lk_itemtab_count(const lk_itemtab *t);
/* Item i (< count), or NULL when its chunk is damaged (bytes that do not match their
 * checksums, a string outside the pool or unterminated, ids not ascending). */
const lk_item *lk_itemtab_get(lk_itemtab *t, size_t i);
/* Item i's id from its record alone (nothing decoded), or -1 when its bytes are damaged. */
int64_t lk_itemtab_id(const lk_itemtab *t, size_t i);
/* Every chunk decoded (what lk_lkx_map's callers had at open): 0, or LK_ECORRUPT with a message
 * naming the first fault. */
int lk_itemtab_check(lk_itemtab *t, lk_errbuf *err);

/* The same sections built in memory an item at a time (the streamed build of the saved index,
 * search/engine.c lk_engine_build_index): the records and the pool as they will be written,
 * ~144 bytes + the strings per item, instead of an lk_item and its malloc'd strings. Zero it
 * to start; owned by the caller (lk_itembuild_clear); one thread. */
typedef struct lk_itembuild {
  uint8_t *rec; /* n records */
  char *pool;   /* plen bytes */
  size_t n, rcap, plen, pcap;
} lk_itembuild;
/* Appends a copy of it (ids ascending, else LK_EINVAL); LK_ENOMEM / LK_ETOOBIG. */
int lk_itembuild_add(lk_itembuild *t, const lk_item *it);
int64_t lk_itembuild_id(const lk_itembuild *t, size_t i);
/* Item i (< t->n) into *it, its strings pointing into t's pool (valid until the next add). */
void lk_itembuild_get(const lk_itembuild *t, size_t i, lk_item *it);
/* The two sections, byte for byte what lk_itemtab_write writes for the same items. */
int lk_itembuild_save(const lk_itembuild *t, lk_lkx_writer *w, lk_errbuf *err);
void lk_itembuild_clear(lk_itembuild *t);

#endif
