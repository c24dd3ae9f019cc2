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

/* Record r as an item whose strings point into pool (psize bytes, NUL-terminated): 0, or
 * LK_ECORRUPT when a string lies outside the pool. */
static int decode(const uint8_t *r, const char *pool, size_t psize, lk_item *it) {
  int64_t h[3];
  memcpy(h, r, 24);
  *it = (lk_item){.id = h[0], .size = h[1], .mtime = h[2]};
  char **s[LK_ITEMTAB_NSTR];
  slots(it, s);
  for (int k = 0; k < LK_ITEMTAB_NSTR; k++) {
    uint64_t o;
    memcpy(&o, r + 24 + 8 * k, 8);
    if (o == NONE) continue;
    if (o >= psize) return LK_ECORRUPT;
    *s[k] = (char *)pool + o; /* lk_item's strings are char *: never written through */
  }
  return 0;
}

int lk_itemtab_write(lk_lkx_writer *w, const lk_item *items, size_t n, lk_errbuf *err) {
  uint8_t *rec = malloc((size_t)CHUNK * LK_ITEMTAB_REC);
  if (!rec) return lk_err_set(err, LK_ENOMEM, "out of memory");
  uint64_t off = 0;
  int rc = lk_lkx_begin(w, LK_ITEMTAB_TABLE, err);
  for (size_t i0 = 0; !rc && i0 < n; i0 += CHUNK) {
    size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
    for (size_t i = 0; i < m; i++) encode(&items[i0 + i], rec + i * LK_ITEMTAB_REC, &off);
    rc = lk_lkx_write(w, rec, m * LK_ITEMTAB_REC, err);
  }
  if (!rc) rc = lk_lkx_end(w, err);
  if (!rc) rc = lk_lkx_begin(w, LK_ITEMTAB_POOL, err);
  for (size_t i = 0; !rc && i < n; i++) {
    lk_item it = items[i];
    char **s[LK_ITEMTAB_NSTR];
    slots(&it, s);
    for (int k = 0; !rc && k < LK_ITEMTAB_NSTR; k++)
      if (*s[k]) rc = lk_lkx_write(w, *s[k], strlen(*s[k]) + 1, err);
  }
  if (!rc) rc = lk_lkx_end(w, err);
  free(rec);
  return rc;
}

int lk_itemtab_add(lk_itemtab *t, const lk_item *it) {
  if (t->n && it->id <= lk_itemtab_id(t, t->n - 1)) return LK_EINVAL;
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

int64_t lk_itemtab_id(const lk_itemtab *t, size_t i) {
  int64_t id;
  memcpy(&id, t->rec + i * LK_ITEMTAB_REC, 8);
  return id;
}

void lk_itemtab_get(const lk_itemtab *t, size_t i, lk_item *it) {
  int rc = decode(t->rec + i * LK_ITEMTAB_REC, t->pool, t->plen, it);
  (void)rc; /* (add wrote every offset inside the pool) */
}

int lk_itemtab_save(const lk_itemtab *t, lk_lkx_writer *w, lk_errbuf *err) {
  int rc = lk_lkx_add(w, LK_ITEMTAB_TABLE, t->rec, t->n * LK_ITEMTAB_REC, err);
  return rc ? rc : lk_lkx_add(w, LK_ITEMTAB_POOL, t->pool, t->plen, err);
}

void lk_itemtab_clear(lk_itemtab *t) {
  free(t->rec);
  free(t->pool);
  memset(t, 0, sizeof *t);
}

int lk_itemtab_read(const lk_lkx *x, lk_item **items, size_t *n, lk_errbuf *err) {
  const void *t, *p;
  size_t tsize, psize, bytes;
  *items = NULL;
  *n = 0;
  int rc = lk_lkx_section(x, LK_ITEMTAB_TABLE, LK_ITEMTAB_REC, 0, &t, &tsize, err);
  if (!rc) rc = lk_lkx_section(x, LK_ITEMTAB_POOL, 1, 0, &p, &psize, err);
  if (rc) return rc;
  const uint8_t *tab = t;
  const char *pool = p;
  if (psize && pool[psize - 1]) return lk_err_set(err, LK_ECORRUPT, "saved index: the item strings are not terminated");
  size_t m = tsize / LK_ITEMTAB_REC;
  if (lk_size_mul(m + 1, sizeof **items, &bytes) || !(*items = malloc(bytes)))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < m; i++) {
    lk_item *it = &(*items)[i];
    int bad = decode(tab + i * LK_ITEMTAB_REC, pool, psize, it);
    long long id = (long long)it->id; /* (it lies in the array freed next) */
    if (it->id < 0 || (i && it->id <= (*items)[i - 1].id)) {
      free(*items);
      *items = NULL;
      return lk_err_set(err, LK_ECORRUPT, "saved index: item ids not ascending (record %zu)", i);
    }
    if (bad) {
      free(*items);
      *items = NULL;
      return lk_err_set(err, LK_ECORRUPT, "saved index: item %lld: a string outside the pool", id);
    }
  }
  *n = m;
  return 0;
}
