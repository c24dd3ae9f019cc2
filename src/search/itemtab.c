/* search/itemtab.c — items as a saved index's record table and string pool (see itemtab.h). */
#include "search/itemtab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"
#include "util/size.h"

#define NONE UINT64_MAX
#define CHUNK 1024

/* The string slots of an item, in record order. */
static void slots(lk_item *it, char **s[LK_ITEMTAB_NSTR]) {
  int k = 0;
  s[k++] = &it->path;
  s[k++] = &it->hash;
  for (int f = 0; f < LK_NFIELDS; f++) s[k++] = &it->field[f];
  s[k++] = &it->extra;
  s[k++] = &it->status;
  s[k++] = &it->error;
  s[k++] = &it->source;
}

/* it's record into r (LK_ITEMTAB_REC bytes), its strings laid out from pool offset *off (which
 * advances past them). */
static void encode(const lk_item *item, uint8_t *r, uint64_t *off) {
  lk_item it = *item; /* (a copy of the pointers, for slots()) */
  char **s[LK_ITEMTAB_NSTR];
  int64_t h[3] = {it.id, it.size, it.mtime};
  memcpy(r, h, 24);
  slots(&it, s);
  for (int k = 0; k < LK_ITEMTAB_NSTR; k++) {
    uint64_t o = *s[k] ? *off : NONE;
    if (*s[k]) *off += strlen(*s[k]) + 1;
    memcpy(r + 24 + 8 * k, &o, 8);
  }
}

static const lk_item *array_at(const void *ctx, size_t i) { return (const lk_item *)ctx + i; }

int lk_itemtab_write(lk_lkx_writer *w, const lk_item *items, size_t n, lk_errbuf *err) {
  return lk_itemtab_write_from(w, array_at, items, n, err);
}

int lk_itemtab_write_from(lk_lkx_writer *w, const lk_item *(*at)(const void *ctx, size_t i), const void *ctx, size_t n,
                          lk_errbuf *err) {
  for (size_t i = 0; i < n; i++) /* (every item readable before a byte is written) */
    if (!at(ctx, i)) return lk_err_set(err, LK_ECORRUPT, "saving the index: the saved index it was read from is damaged");
  uint8_t *rec = malloc((size_t)CHUNK * LK_ITEMTAB_REC);
  if (!rec) return lk_err_set(err, LK_ENOMEM, "out of memory");
  uint64_t off = 0;
  int rc = lk_lkx_begin(w, LK_ITEMTAB_TABLE, err);
  for (size_t i0 = 0; !rc && i0 < n; i0 += CHUNK) {
    size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
    for (size_t i = 0; i < m; i++) encode(at(ctx, i0 + i), rec + i * LK_ITEMTAB_REC, &off);
    rc = lk_lkx_write(w, rec, m * LK_ITEMTAB_REC, err);
  }
  if (!rc) rc = lk_lkx_end(w, err);
  if (!rc) rc = lk_lkx_begin(w, LK_ITEMTAB_POOL, err);
  for (size_t i = 0; !rc && i < n; i++) {
    lk_item it = *at(ctx, i);
    char **s[LK_ITEMTAB_NSTR];
    slots(&it, s);
    for (int k = 0; !rc && k < LK_ITEMTAB_NSTR; k++)
      if (*s[k]) rc = lk_lkx_write(w, *s[k], strlen(*s[k]) + 1, err);
  }
  if (!rc) rc = lk_lkx_end(w, err);
  free(rec);
  return rc;
}

struct lk_itemtab {
  const lk_lkx *x;
  const uint8_t *tab;
  char *pool; /* lk_item's strings are char *: never written through */
  size_t n, psize;
  int lazy; /* the sections are checked as read (lk_lkx_lazy), else verified at map */
  lk_item **chunk; /* per LK_ITEMTAB_CHUNK items: NULL until decoded, then its items or DAMAGED */
};

static lk_item damaged_chunk[1]; /* (a chunk that failed: its address marks it) */
#define DAMAGED damaged_chunk

int lk_itemtab_open(const lk_lkx *x, lk_itemtab **out, lk_errbuf *err) {
  const void *t, *p;
  size_t tsize, psize, bytes;
  *out = NULL;
  int rc = lk_lkx_section(x, LK_ITEMTAB_TABLE, LK_ITEMTAB_REC, 0, &t, &tsize, err);
  if (!rc) rc = lk_lkx_section(x, LK_ITEMTAB_POOL, 1, 0, &p, &psize, err);
  if (rc) return rc;
  if (psize && (lk_lkx_verify(x, (const char *)p + psize - 1, 1) || ((const char *)p)[psize - 1]))
    return lk_err_set(err, LK_ECORRUPT, "saved index: the item strings are not terminated");
  lk_itemtab *tb = calloc(1, sizeof *tb);
  size_t n = tsize / LK_ITEMTAB_REC;
  if (!tb || lk_size_mul(n / LK_ITEMTAB_CHUNK + 1, sizeof *tb->chunk, &bytes) || !(tb->chunk = calloc(1, bytes))) {
    free(tb);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  tb->x = x, tb->tab = t, tb->pool = (char *)p, tb->n = n, tb->psize = psize;
  tb->lazy = lk_lkx_lazy(x, LK_ITEMTAB_TABLE) || lk_lkx_lazy(x, LK_ITEMTAB_POOL);
  *out = tb;
  return 0;
}

void lk_itemtab_free(lk_itemtab *t) {
  if (!t) return;
  for (size_t c = 0; c <= t->n / LK_ITEMTAB_CHUNK; c++)
    if (t->chunk[c] != DAMAGED) free(t->chunk[c]);
  free(t->chunk);
  free(t);
}

size_t lk_itemtab_count(const lk_itemtab *t) { return t->n; }

int64_t lk_itemtab_id(const lk_itemtab *t, size_t i) {
  lk_item *p = __atomic_load_n(&t->chunk[i / LK_ITEMTAB_CHUNK], __ATOMIC_ACQUIRE);
  if (p && p != DAMAGED) return p[i % LK_ITEMTAB_CHUNK].id; /* (decoded: a lookup's usual case) */
  const uint8_t *r = t->tab + i * LK_ITEMTAB_REC;
  int64_t id;
  if (t->lazy && lk_lkx_verify(t->x, r, 8)) return -1;
  memcpy(&id, r, 8);
  return id;
}

/* The string at pool offset o, its bytes verified up to its NUL (the pool ends with one). */
static char *pool_str(const lk_itemtab *t, uint64_t o) {
  if (!t->lazy) return t->pool + o; /* (verified whole; the pool ends with a NUL) */
  for (size_t at = (size_t)o; at < t->psize;) {
    size_t end = (at / LKX_CHUNK + 1) * LKX_CHUNK < t->psize ? (at / LKX_CHUNK + 1) * LKX_CHUNK : t->psize;
    if (lk_lkx_verify(t->x, t->pool + at, end - at)) return NULL;
    if (memchr(t->pool + at, 0, end - at)) return t->pool + o;
    at = end;
  }
  return NULL;
}

/* Chunk c's items decoded into *out (a new array), or the fault. */
static const char *decode(const lk_itemtab *t, size_t c, lk_item **out) {
  size_t i0 = c * LK_ITEMTAB_CHUNK, m = t->n - i0 < LK_ITEMTAB_CHUNK ? t->n - i0 : LK_ITEMTAB_CHUNK;
  const uint8_t *tab = t->tab + i0 * LK_ITEMTAB_REC;
  *out = NULL;
  if (t->lazy && lk_lkx_verify(t->x, tab, m * LK_ITEMTAB_REC)) return "item records damaged (checksum)";
  int64_t prev = i0 ? lk_itemtab_id(t, i0 - 1) : -1; /* (ascending across chunks too) */
  if (i0 && prev < 0) return "item records damaged (checksum)";
  lk_item *items = malloc(sizeof *items * m);
  if (!items) return "out of memory";
  for (size_t i = 0; i < m; i++) {
    const uint8_t *r = tab + i * LK_ITEMTAB_REC;
    lk_item *it = &items[i];
    int64_t h[3];
    memcpy(h, r, 24);
    *it = (lk_item){.id = h[0], .size = h[1], .mtime = h[2]};
    if (it->id < 0 || it->id <= prev) {
      free(items);
      return "item ids not ascending";
    }
    prev = it->id;
    char **s[LK_ITEMTAB_NSTR];
    slots(it, s);
    for (int k = 0; k < LK_ITEMTAB_NSTR; k++) {
      uint64_t o;
      memcpy(&o, r + 24 + 8 * k, 8);
      if (o == NONE) continue;
      if (o >= t->psize || !(*s[k] = pool_str(t, o))) {
        free(items);
        return o >= t->psize ? "a string outside the pool" : "item strings damaged (checksum)";
      }
    }
  }
  *out = items;
  return NULL;
}

/* Chunk c, decoded now if it was not yet (two readers may decode it at once: one array is
 * kept); NULL when damaged, *why then says why (why may be NULL). */
static lk_item *chunk_at(lk_itemtab *t, size_t c, const char **why) {
  lk_item *p = __atomic_load_n(&t->chunk[c], __ATOMIC_ACQUIRE), *mine, *none = NULL;
  if (!p) {
    const char *w = decode(t, c, &mine);
    if (w && why) *why = w;
    if (w && !strcmp(w, "out of memory")) return NULL; /* (not kept: it may pass later) */
    if (!mine) mine = DAMAGED;
    if (__atomic_compare_exchange_n(&t->chunk[c], &none, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) p = mine;
    else {
      if (mine != DAMAGED) free(mine);
      p = none;
    }
  }
  if (p == DAMAGED && why && !*why) { /* (marked by an earlier reader: the fault again, for the message) */
    lk_item *again = NULL;
    *why = decode(t, c, &again);
    free(again);
    if (!*why) *why = "item records damaged";
  }
  return p == DAMAGED ? NULL : p;
}

const lk_item *lk_itemtab_get(lk_itemtab *t, size_t i) {
  if (i >= t->n) return NULL;
  lk_item *p = chunk_at(t, i / LK_ITEMTAB_CHUNK, NULL);
  return p ? &p[i % LK_ITEMTAB_CHUNK] : NULL;
}

int lk_itemtab_check(lk_itemtab *t, lk_errbuf *err) {
  for (size_t c = 0; c * LK_ITEMTAB_CHUNK < t->n; c++) {
    const char *why = NULL;
    if (!chunk_at(t, c, &why))
      return lk_err_set(err, why && !strcmp(why, "out of memory") ? LK_ENOMEM : LK_ECORRUPT, "saved index: %s (record %zu..)",
                        why ? why : "item records damaged", c * LK_ITEMTAB_CHUNK);
  }
  return 0;
}

int lk_itembuild_add(lk_itembuild *t, const lk_item *it) {
  if (t->n && it->id <= lk_itembuild_id(t, t->n - 1)) return LK_EINVAL;
  lk_item c = *it;
  char **s[LK_ITEMTAB_NSTR];
  size_t need = t->plen, end;
  slots(&c, s);
  for (int k = 0; k < LK_ITEMTAB_NSTR; k++)
    if (*s[k] && (lk_size_add(need, strlen(*s[k]), &need) || lk_size_add(need, 1, &need))) return LK_ETOOBIG;
  if (lk_size_mul(t->n + 1, LK_ITEMTAB_REC, &end)) return LK_ETOOBIG;
  int rc = LK_ARRAY_RESERVE(t->rec, t->rcap, end, (size_t)CHUNK * LK_ITEMTAB_REC);
  if (!rc) rc = LK_ARRAY_RESERVE(t->pool, t->pcap, need, (size_t)CHUNK * 64);
  if (rc) return rc;
  uint64_t off = t->plen;
  encode(it, t->rec + t->n * LK_ITEMTAB_REC, &off);
  for (int k = 0; k < LK_ITEMTAB_NSTR; k++)
    if (*s[k]) {
      size_t len = strlen(*s[k]) + 1;
      memcpy(t->pool + t->plen, *s[k], len);
      t->plen += len;
    }
  t->n++;
  return 0;
}

int64_t lk_itembuild_id(const lk_itembuild *t, size_t i) {
  int64_t id;
  memcpy(&id, t->rec + i * LK_ITEMTAB_REC, 8);
  return id;
}

void lk_itembuild_get(const lk_itembuild *t, size_t i, lk_item *it) {
  const uint8_t *r = t->rec + i * LK_ITEMTAB_REC;
  int64_t h[3];
  memcpy(h, r, 24);
  *it = (lk_item){.id = h[0], .size = h[1], .mtime = h[2]};
  char **s[LK_ITEMTAB_NSTR];
  slots(it, s);
  for (int k = 0; k < LK_ITEMTAB_NSTR; k++) {
    uint64_t o;
    memcpy(&o, r + 24 + 8 * k, 8);
    if (o != NONE) *s[k] = t->pool + o; /* (add wrote every offset inside the pool) */
  }
}

int lk_itembuild_save(const lk_itembuild *t, lk_lkx_writer *w, lk_errbuf *err) {
  int rc = lk_lkx_add(w, LK_ITEMTAB_TABLE, t->rec, t->n * LK_ITEMTAB_REC, err);
  return rc ? rc : lk_lkx_add(w, LK_ITEMTAB_POOL, t->pool, t->plen, err);
}

void lk_itembuild_clear(lk_itembuild *t) {
  free(t->rec);
  free(t->pool);
  memset(t, 0, sizeof *t);
}
