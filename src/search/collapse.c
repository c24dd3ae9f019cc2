/* search/collapse.c — collapsing a search's hits into duplicate or colour-variant groups inside
 * the search (more candidates fetched until k groups come out), and the catalog's
 * near-duplicate groups by batch search (see collapse.h). */
#include "search/collapse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "search/calibrate.h"
#include "search/results.h"
#include "util/size.h"

#define MAX_CANDIDATES 10000 /* lk_engine_search_vector's largest k */
#define KEY_MAX 256

int lk_collapse_parse(const char *s, int *mode) {
  if (!strcmp(s, "none") || !*s) *mode = LK_COLLAPSE_NONE;
  else if (!strcmp(s, "duplicates")) *mode = LK_COLLAPSE_DUPLICATES;
  else if (!strcmp(s, "variants")) *mode = LK_COLLAPSE_VARIANTS;
  else return LK_EINVAL;
  return 0;
}

/* The words of the catalog's baseColour values (fashion catalog, 46 colours), which product
 * names repeat ("Puma Men Navy Blue Polo Tshirt"). */
static const char *const COLOUR_WORDS[] = {
    "beige", "black", "blue", "bronze", "brown", "burgundy", "charcoal", "coffee", "copper", "cream",
    "fluorescent", "gold", "green", "grey", "gray", "khaki", "lavender", "lime", "magenta", "maroon",
    "mauve", "melange", "metallic", "multi", "mushroom", "mustard", "navy", "nude", "off", "olive",
    "orange", "peach", "pink", "purple", "red", "rose", "rust", "sea", "silver", "skin", "steel", "tan",
    "taupe", "teal", "turquoise", "white", "yellow"};

static int is_colour_word(const char *w, size_t n) {
  for (size_t i = 0; i < sizeof COLOUR_WORDS / sizeof *COLOUR_WORDS; i++)
    if (strlen(COLOUR_WORDS[i]) == n && !memcmp(COLOUR_WORDS[i], w, n)) return 1;
  return 0;
}

/* Appends s (lowercased) to buf at *at, within cap. */
static void put(char *buf, size_t cap, size_t *at, const char *s, size_t n) {
  for (size_t i = 0; i < n && *at + 1 < cap; i++) buf[(*at)++] = (char)tolower((unsigned char)s[i]);
  buf[*at] = '\0';
}

void lk_collapse_variant_key(const lk_item *it, char *buf, size_t cap) {
  size_t at = 0;
  buf[0] = '\0';
  const char *name = it->field[8];
  if (!name || !*name || cap < 2) return;
  const char *g = it->field[0] ? it->field[0] : "", *t = it->field[3] ? it->field[3] : "";
  put(buf, cap, &at, g, strlen(g));
  put(buf, cap, &at, "|", 1);
  put(buf, cap, &at, t, strlen(t));
  put(buf, cap, &at, "|", 1);
  int words = 0;
  for (const char *p = name; *p;) { /* words: runs of letters and digits (other bytes, UTF-8 too, kept) */
    while (*p && !isalnum((unsigned char)*p) && (unsigned char)*p < 0x80) p++;
    const char *w = p;
    while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) p++;
    size_t n = (size_t)(p - w);
    if (!n) continue;
    char low[32];
    size_t m = n < sizeof low ? n : sizeof low - 1;
    for (size_t i = 0; i < m; i++) low[i] = (char)tolower((unsigned char)w[i]);
    if (n < sizeof low && is_colour_word(low, n)) continue;
    if (words++) put(buf, cap, &at, " ", 1);
    put(buf, cap, &at, w, n);
  }
}

float lk_collapse_cosine(const lk_engine *e, int64_t a, int64_t b) {
  const float *x = lk_engine_vector(e, a), *y = lk_engine_vector(e, b);
  if (!x || !y) return -2.0f;
  float s = 0;
  for (int i = 0, d = lk_engine_dim(e); i < d; i++) s += x[i] * y[i];
  return s;
}

static int same_photo(const lk_item *a, const lk_item *b) {
  return a && b && a->hash && b->hash && *a->hash && !strcmp(a->hash, b->hash);
}

/* Near-identical photos of one product: cosine >= threshold, and the same baseColour where both
 * have one (different shades of a lipstick photograph alike: docs/API.md "Collapsing results"). */
static int near_identical(const lk_engine *e, const lk_item *a, const lk_item *b, float threshold) {
  if (!a || !b) return 0;
  const char *ca = a->field[4], *cb = b->field[4];
  if (ca && cb && *ca && *cb && strcasecmp(ca, cb)) return 0;
  return lk_collapse_cosine(e, a->id, b->id) >= threshold;
}

/* Does candidate it (variant key key) fold into the group headed by head (key head_key)? */
static int folds_into(const lk_engine *e, int mode, const lk_item *it, const char *key, const lk_item *head,
                      const char *head_key) {
  if (mode == LK_COLLAPSE_VARIANTS) return key[0] && !strcmp(key, head_key);
  return same_photo(it, head) || near_identical(e, it, head, LK_COLLAPSE_DUP_COS);
}

static void add_member(lk_group *g, int64_t id) {
  if (g->n < LK_COLLAPSE_MAX_MEMBERS) g->member[g->n] = id;
  g->n++;
}

/* Folds candidates cand[0..nc) into at most k groups (and into anchor's first, when given);
 * returns the number of groups. */
static int fold(const lk_engine *e, int mode, int k, const lk_hit *cand, int nc, lk_group *anchor, lk_group *groups,
                char (*keys)[KEY_MAX]) {
  int ng = 0;
  const lk_item *self = anchor ? lk_engine_item(e, anchor->hit.id) : NULL;
  char self_key[KEY_MAX] = "";
  if (anchor) anchor->n = 0;
  if (self && mode == LK_COLLAPSE_VARIANTS) lk_collapse_variant_key(self, self_key, sizeof self_key);
  for (int i = 0; i < nc; i++) {
    const lk_item *it = lk_engine_item(e, cand[i].id);
    char key[KEY_MAX] = "";
    if (!it) continue;
    if (mode == LK_COLLAPSE_VARIANTS) lk_collapse_variant_key(it, key, sizeof key);
    if (mode != LK_COLLAPSE_NONE && self && folds_into(e, mode, it, key, self, self_key)) {
      add_member(anchor, cand[i].id);
      continue;
    }
    int into = -1;
    for (int g = 0; g < ng && into < 0 && mode != LK_COLLAPSE_NONE; g++)
      if (folds_into(e, mode, it, key, lk_engine_item(e, groups[g].hit.id), keys ? keys[g] : "")) into = g;
    if (into >= 0) {
      add_member(&groups[into], cand[i].id);
    } else if (ng < k) {
      memset(&groups[ng], 0, sizeof groups[ng]);
      groups[ng].hit = cand[i];
      if (keys) memcpy(keys[ng], key, sizeof key);
      ng++;
    }
  }
  return ng;
}

/* Variants come from the whole catalog, not only the candidates (another colour of a product
 * may rank far below it: colour is part of the vectors): one pass over the items, cheap tests
 * first (articleType among the hits'), the key last. Members are listed in id order; items
 * that fail the filter or have no vector are left out. Keys: keys[0..ng) of the groups, and
 * self_key of the anchor. */
static int complete_variants(const lk_engine *e, const lk_filter *f, lk_group *anchor, const char *self_key,
                             lk_group *groups, int ng, char (*keys)[KEY_MAX]) {
  int nh = ng + (anchor ? 1 : 0);
  const char **types = malloc(sizeof *types * (size_t)(nh + 1));
  if (!types) return LK_ENOMEM;
  int nt = 0;
  for (int g = 0; g < nh; g++) { /* the distinct articleTypes of the hits */
    const lk_item *h = lk_engine_item(e, g < ng ? groups[g].hit.id : anchor->hit.id);
    const char *t = h ? h->field[3] : NULL;
    int seen = !t;
    for (int j = 0; j < nt && !seen; j++) seen = !strcasecmp(types[j], t);
    if (!seen) types[nt++] = t;
  }
  for (int g = 0; g < ng; g++) groups[g].n = 0;
  if (anchor) anchor->n = 0;
  char key[KEY_MAX];
  for (size_t i = 0, n = lk_engine_item_count(e); i < n; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    const char *t = it->field[3];
    int typed = 0;
    for (int j = 0; j < nt && t && !typed; j++) typed = !strcasecmp(types[j], t);
    if (!typed) continue;
    lk_collapse_variant_key(it, key, sizeof key);
    if (!key[0]) continue;
    lk_group *into = NULL;
    if (anchor && !strcmp(key, self_key)) into = anchor;
    for (int g = 0; g < ng && !into; g++)
      if (!strcmp(key, keys[g])) into = &groups[g];
    if (!into || into->hit.id == it->id || !lk_engine_has_vector(e, it->id) || !lk_filter_match(it, f, NULL)) continue;
    add_member(into, it->id);
  }
  free(types);
  return 0;
}

int lk_collapse_run(const lk_engine *e, int mode, int k, lk_collapse_fetch fetch, void *ctx, const lk_filter *f,
                    lk_group *anchor, lk_group *groups, int *ngroups, lk_errbuf *err) {
  if (k <= 0 || k > MAX_CANDIDATES) return lk_err_set(err, LK_EINVAL, "k must be in 1..%d", MAX_CANDIDATES);
  size_t size = lk_engine_size(e);
  long want = mode == LK_COLLAPSE_NONE ? k : 4L * k + 40;
  lk_hit *cand = NULL;
  char (*keys)[KEY_MAX] = NULL;
  int rc = 0;
  if (mode == LK_COLLAPSE_VARIANTS && !(keys = malloc(sizeof *keys * (size_t)k)))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (;;) {
    if (want > MAX_CANDIDATES) want = MAX_CANDIDATES;
    if (size && want > (long)size) want = (long)size < k ? k : (long)size;
    lk_hit *c = realloc(cand, sizeof *cand * (size_t)want);
    if (!c) {
      rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      break;
    }
    cand = c;
    int nc = 0;
    if ((rc = fetch(ctx, (int)want, cand, &nc, err))) break;
    *ngroups = fold(e, mode, k, cand, nc, anchor, groups, keys);
    /* enough groups, or every candidate there is seen */
    if (*ngroups >= k || nc < want || want >= MAX_CANDIDATES || (size_t)want >= size) break;
    want *= 4;
  }
  if (!rc && mode == LK_COLLAPSE_VARIANTS) {
    char self_key[KEY_MAX] = "";
    const lk_item *self = anchor ? lk_engine_item(e, anchor->hit.id) : NULL;
    if (self) lk_collapse_variant_key(self, self_key, sizeof self_key);
    if (complete_variants(e, f, anchor, self_key, groups, *ngroups, keys)) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  free(cand);
  free(keys);
  return rc;
}

typedef struct vec_fetch {
  const lk_engine *e;
  const float *vec;
  const lk_filter *f;
  int64_t exclude;
} vec_fetch;

static int fetch_vector(void *ctx, int k, lk_hit *hits, int *n, lk_errbuf *err) {
  vec_fetch *v = ctx;
  return lk_engine_search_vector(v->e, v->vec, v->f, k, v->exclude, hits, n, err);
}

int lk_collapse_search_vector(const lk_engine *e, const float *vec, const lk_filter *f, int k, int mode,
                              lk_group *groups, int *ngroups, lk_errbuf *err) {
  vec_fetch v = {e, vec, f, -1};
  return lk_collapse_run(e, mode, k, fetch_vector, &v, f, NULL, groups, ngroups, err);
}

int lk_collapse_similar(const lk_engine *e, int64_t id, const lk_filter *f, int k, int mode, lk_group *self,
                        lk_group *groups, int *ngroups, lk_errbuf *err) {
  const float *vec = lk_engine_vector(e, id);
  if (!vec) { /* lk_engine_similar says which of the two it is */
    lk_hit h;
    int n;
    return lk_engine_similar(e, id, f, 1, &h, &n, err);
  }
  vec_fetch v = {e, vec, f, id};
  lk_group own = {0};
  if (!self) self = &own;
  memset(self, 0, sizeof *self);
  self->hit = (lk_hit){id, 1.0f};
  return lk_collapse_run(e, mode, k, fetch_vector, &v, f, self, groups, ngroups, err);
}

json_t *lk_collapse_members_json(const lk_engine *e, const lk_group *g, int mode) {
  json_t *m = json_array();
  int listed = g->n < LK_COLLAPSE_MAX_MEMBERS ? g->n : LK_COLLAPSE_MAX_MEMBERS;
  for (int j = 0; m && j < listed; j++) {
    json_t *x;
    if (mode == LK_COLLAPSE_DUPLICATES) {
      x = json_integer(g->member[j]);
    } else {
      const lk_item *v = lk_engine_item(e, g->member[j]);
      x = json_pack("{s:I, s:o}", "id", (json_int_t)g->member[j], "baseColour", lk_results_text(v ? v->field[4] : NULL));
    }
    if (!x || json_array_append_new(m, x)) {
      json_decref(m);
      return NULL;
    }
  }
  return m;
}

json_t *lk_collapse_hits_json(const lk_engine *e, const lk_group *groups, int n, int mode) {
  json_t *o = json_object(), *arr = json_array();
  if (!o || !arr) {
    json_decref(o);
    json_decref(arr);
    return NULL;
  }
  json_object_set_new(o, "hits", arr);
  for (int i = 0; i < n; i++) {
    const lk_group *g = &groups[i];
    const lk_item *it = lk_engine_item(e, g->hit.id);
    if (!it) continue;
    json_t *h = lk_results_item_json(it, g->hit.score, 1);
    json_t *mt = h ? lk_calibrate_match_json(e, g->hit.score) : NULL; /* NULL: uncalibrated */
    if (mt) json_object_set_new(h, "match", mt);
    if (!h || json_array_append_new(arr, h)) {
      json_decref(o);
      return NULL;
    }
    if (mode == LK_COLLAPSE_NONE) continue;
    json_t *m = lk_collapse_members_json(e, g, mode);
    int listed = g->n < LK_COLLAPSE_MAX_MEMBERS ? g->n : LK_COLLAPSE_MAX_MEMBERS;
    if (!m || json_object_set_new(h, mode == LK_COLLAPSE_DUPLICATES ? "duplicates" : "variants", m)) {
      json_decref(o);
      return NULL;
    }
    if (g->n > listed) json_object_set_new(h, "folded", json_integer(g->n));
  }
  return o;
}

/* ---------------------------------------------------------------- near-duplicate groups */

#define DUPS_BATCH 256

/* Puts x and every item with its photo (the cycle same[]) not yet in a group into leader L's. */
static void join(size_t *leader, const size_t *same, size_t x, size_t L) {
  size_t y = x;
  do {
    if (leader[y] == SIZE_MAX) leader[y] = L;
    y = same[y];
  } while (y != x);
}

/* A searchable item's photo hash and its position, sorted to find the same photos. */
typedef struct hash_pos {
  const char *hash;
  size_t pos;
} hash_pos;

static int by_hash(const void *a, const void *b) {
  const hash_pos *x = a, *y = b;
  int c = strcmp(x->hash, y->hash);
  return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int by_group_size(const void *a, const void *b) {
  const lk_dup_group *x = a, *y = b;
  if (x->n != y->n) return x->n < y->n ? 1 : -1;
  return (x->first > y->first) - (x->first < y->first);
}

static int by_id(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void lk_dups_free(lk_dups *d) {
  if (!d) return;
  free(d->members);
  free(d->groups);
  memset(d, 0, sizeof *d);
}

int lk_dups_find(const lk_engine *e, float threshold, int neighbours, lk_dups_progress progress, void *ctx,
                 lk_dups *out, lk_errbuf *err) {
  memset(out, 0, sizeof *out);
  if (!(threshold > 0 && threshold <= 1)) return lk_err_set(err, LK_EINVAL, "the threshold must be in (0, 1]");
  if (neighbours < 1 || neighbours > 1000) return lk_err_set(err, LK_EINVAL, "neighbours must be in 1..1000");
  size_t nitems = lk_engine_item_count(e), n = 0, bytes;
  int qd = lk_engine_query_dim(e), k = neighbours + 1, rc = 0;
  int64_t *ids = NULL;
  size_t *leader = NULL, *size = NULL, *same = NULL, *near = NULL, nbytes;
  hash_pos *hp = NULL;
  float *q = NULL;
  lk_hit *hits = NULL;
  int *nfound = NULL;
  if (lk_size_mul(nitems + 1, sizeof(size_t), &bytes) || !(ids = malloc(sizeof *ids * (nitems + 1))) ||
      !(leader = malloc(bytes)) || !(size = malloc(bytes)) || !(same = malloc(bytes)) ||
      lk_size_mul3(nitems + 1, (size_t)neighbours, sizeof(size_t), &nbytes) || !(near = malloc(nbytes)) || !(hp = malloc(sizeof *hp * (nitems + 1))) ||
      !(q = malloc(sizeof *q * (size_t)DUPS_BATCH * (size_t)(qd > 0 ? qd : 1))) ||
      !(hits = malloc(sizeof *hits * (size_t)DUPS_BATCH * (size_t)k)) || !(nfound = malloc(sizeof *nfound * DUPS_BATCH))) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nitems; i++) { /* the searchable items, in id order */
    const lk_item *it = lk_engine_item_at(e, i);
    if (lk_engine_vector(e, it->id)) ids[n++] = it->id;
  }
  for (size_t i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item(e, ids[i]);
    leader[i] = SIZE_MAX;
    same[i] = i;
    hp[i] = (hash_pos){it->hash ? it->hash : "", i};
  }
  /* the same photo bytes: each run of equal hashes becomes a cycle in same[] */
  qsort(hp, n, sizeof *hp, by_hash);
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && hp[i].hash[0] && !strcmp(hp[i].hash, hp[j].hash); j++) same[hp[j - 1].pos] = hp[j].pos;
    same[hp[j - 1].pos] = hp[i].pos;
  }
  /* near-identical vectors: each one's nearest neighbours */
  for (size_t r0 = 0; r0 < n; r0 += DUPS_BATCH) {
    int nb = (int)(n - r0 < DUPS_BATCH ? n - r0 : DUPS_BATCH);
    for (int i = 0; i < nb; i++) lk_engine_make_query(e, lk_engine_vector(e, ids[r0 + (size_t)i]), q + (size_t)i * (size_t)qd);
    if ((rc = lk_engine_search_rows(e, q, nb, k, NULL, -1, hits, nfound))) {
      rc = lk_err_set(err, rc, "search failed: %s", lk_strerror(rc));
      goto out;
    }
    for (int i = 0; i < nb; i++) {
      int64_t self = ids[r0 + (size_t)i];
      size_t *mine = near + (r0 + (size_t)i) * (size_t)neighbours, got = 0;
      for (int j = 0; j < neighbours; j++) mine[j] = SIZE_MAX;
      for (int j = 0; j < nfound[i] && got < (size_t)neighbours; j++) {
        int64_t other = hits[(size_t)i * (size_t)k + (size_t)j].id;
        if (other == self || !near_identical(e, lk_engine_item(e, self), lk_engine_item(e, other), threshold)) continue;
        int64_t *pos = bsearch(&other, ids, n, sizeof *ids, by_id);
        if (pos) mine[got++] = (size_t)(pos - ids);
      }
    }
    if (progress && progress(ctx, r0 + (size_t)nb, n)) {
      rc = lk_err_set(err, LK_EINTR, "interrupted");
      goto out;
    }
  }
  /* groups without chains (black wallets all look alike): in id order, an item not yet in a
   * group leads one, with its photo's twins and its near-identical neighbours (each with its
   * twins), so every member is near-identical to the first, its lowest id */
  for (size_t i = 0; i < n; i++) {
    if (leader[i] != SIZE_MAX) continue;
    join(leader, same, i, i);
    for (int j = 0; j < neighbours; j++) {
      size_t o = near[i * (size_t)neighbours + (size_t)j];
      if (o != SIZE_MAX && leader[o] == SIZE_MAX) join(leader, same, o, i);
    }
  }
  size_t ng = 0, nm = 0;
  for (size_t i = 0; i < n; i++) size[i] = 0;
  for (size_t i = 0; i < n; i++) size[leader[i]]++;
  for (size_t i = 0; i < n; i++)
    if (leader[i] == i && size[i] > 1) ng++, nm += size[i];
  if (!(out->groups = calloc(ng + 1, sizeof *out->groups)) || !(out->members = calloc(nm + 1, sizeof *out->members))) {
    lk_dups_free(out);
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  size_t g = 0, at = 0;
  for (size_t i = 0; i < n; i++) { /* size[root] becomes the root's group number; roots ascend */
    if (leader[i] != i || size[i] < 2) {
      if (leader[i] == i) size[i] = SIZE_MAX;
      continue;
    }
    out->groups[g] = (lk_dup_group){at, 0, 1.0f};
    at += size[i];
    size[i] = g++;
  }
  for (size_t i = 0; i < n; i++) { /* in id order: the root, the first member, comes first */
    size_t r = leader[i];
    if (size[r] == SIZE_MAX) continue;
    lk_dup_group *dg = &out->groups[size[r]];
    lk_dup_member *m = &out->members[dg->first + dg->n++];
    m->id = ids[i];
    m->similarity = r == i ? 1.0f : lk_collapse_cosine(e, ids[r], ids[i]);
    m->same_photo = same_photo(lk_engine_item(e, ids[r]), lk_engine_item(e, ids[i]));
    if (r != i && m->similarity < dg->min_similarity) dg->min_similarity = m->similarity;
  }
  qsort(out->groups, ng, sizeof *out->groups, by_group_size);
  out->ngroups = ng;
  out->nmembers = nm;
out:
  free(ids);
  free(leader);
  free(same);
  free(near);
  free(size);
  free(hp);
  free(q);
  free(hits);
  free(nfound);
  return rc;
}
