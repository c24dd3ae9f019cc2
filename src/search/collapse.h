/* search/collapse.h — results a shop can put on a page: re-listed products (the same photo, or
 * a near-identical one) folded under their best-ranked hit, or the same product in other
 * colours grouped under one hit; and the catalog's near-duplicate groups (`lookalike dups`).
 * The CLI and the HTTP API both collapse here. */
#ifndef LK_SEARCH_COLLAPSE_H
#define LK_SEARCH_COLLAPSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "search/engine.h"

/* enum lk_collapse_mode, lk_group and LK_COLLAPSE_MAX_MEMBERS (members listed under one hit;
 * more are counted, lk_group.n): lookalike.h */

/* "none", "duplicates" or "variants" -> enum lk_collapse_mode; LK_EINVAL otherwise. */
int lk_collapse_parse(const char *s, int *mode);

/* Two photos are near-identical from this cosine of their catalog vectors, when their
 * baseColour is the same too (the default recipe; measured on the fashion catalog:
 * docs/API.md "Collapsing results"). */
#define LK_COLLAPSE_DUP_COS 0.97f


/* Fills hits[0..k) (k slots) with the k best candidates for a search and *n with how many
 * there were (fewer than k only when no more match). LK_E* with a message in err. */
typedef int (*lk_collapse_fetch)(void *ctx, int k, lk_hit *hits, int *n, lk_errbuf *err);

/* Collapsed top-k: asks fetch for more candidates than k (4k + 40, then 4 times more while
 * fewer than k groups came out and more candidates exist, up to 10000), walks them in rank
 * order and folds each into the first kept hit it duplicates (same photo hash, or cosine >=
 * LK_COLLAPSE_DUP_COS and the same baseColour) or is a variant of (lk_collapse_variant_key),
 * else keeps it as a new hit while fewer than k are kept. anchor (NULL = none) is a group
 * whose hit.id the caller set, the item a search started from: candidates that fold into it
 * become its members (reset first), not hits. VARIANTS then lists, for each hit (and the
 * anchor), every searchable item of the catalog with its key that passes f (the filter fetch
 * applies; may be NULL), in id order: another colour often ranks far below. groups has k
 * slots; *ngroups gets the number filled. mode NONE returns the plain top k (no members). */
int lk_collapse_run(const lk_engine *e, int mode, int k, lk_collapse_fetch fetch, void *ctx, const lk_filter *f,
                    lk_group *anchor, lk_group *groups, int *ngroups, lk_errbuf *err);
/* The same with the engine's own searches: a query vector (lk_engine_search_vector), or the
 * neighbours of a catalog item (lk_engine_similar), whose own duplicates or variants go to
 * *self (may be NULL) rather than among the hits. */
int lk_collapse_search_vector(const lk_engine *e, const float *vec, const lk_filter *f, int k, int mode,
                              lk_group *groups, int *ngroups, lk_errbuf *err);
int lk_collapse_similar(const lk_engine *e, int64_t id, const lk_filter *f, int k, int mode, lk_group *self,
                        lk_group *groups, int *ngroups, lk_errbuf *err);
/* A group's members as JSON: [ids] (DUPLICATES) or [{"id","baseColour"}] (VARIANTS). NULL on
 * ENOMEM. */
json_t *lk_collapse_members_json(const lk_engine *e, const lk_group *g, int mode);

/* The key under which items are variants of one product: gender, articleType and the
 * productDisplayName lowercased with its colour words removed ("Puma Men Black Polo Tshirt"
 * and "Puma Men Navy Blue Polo Tshirt" -> "men|tshirts|puma men polo tshirt"). Written into
 * buf (cap bytes, truncated to fit); "" when the item has no name. */
void lk_collapse_variant_key(const lk_item *it, char *buf, size_t cap);
/* Cosine of the catalog vectors of two items (their first lk_engine_dim floats); -2 when either
 * has none. */
float lk_collapse_cosine(const lk_engine *e, int64_t a, int64_t b);

/* {"hits":[...]} as lk_results_hits_json, each hit with "duplicates":[ids] (mode DUPLICATES)
 * or "variants":[{"id","baseColour"}] (VARIANTS), and "folded": n when members went unlisted.
 * NULL on ENOMEM. */
json_t *lk_collapse_hits_json(const lk_engine *e, const lk_group *groups, int n, int mode);

/* ---------------------------------------------------------------- near-duplicate groups */

typedef struct lk_dup_member {
  int64_t id;
  float similarity; /* cosine to the group's first member (1 for itself) */
  int same_photo;   /* the same photo bytes (hash) as the first member */
} lk_dup_member;

typedef struct lk_dup_group {
  size_t first, n;  /* members[first .. first+n) of lk_dups */
  float min_similarity;
} lk_dup_group;

typedef struct lk_dups {
  lk_dup_member *members; /* grouped, each group in id order */
  lk_dup_group *groups;   /* largest first, then by first id */
  size_t ngroups, nmembers;
} lk_dups;

/* Called after each batch of searched items (done of total); nonzero stops with LK_EINTR. */
typedef int (*lk_dups_progress)(void *ctx, size_t done, size_t total);

/* The catalog's near-duplicate groups: items with the same photo hash, or whose vectors have a
 * cosine >= threshold and the same baseColour (where both have one), found by searching every
 * vector's `neighbours` nearest (lk_engine_search_rows, in batches). No chains: in id order, an
 * item not yet grouped leads a group of its own twins and near-identical neighbours (with
 * their twins), so each member is near-identical to the group's first (lowest) id.
 * *out: lk_dups_free. */
int lk_dups_find(const lk_engine *e, float threshold, int neighbours, lk_dups_progress progress, void *ctx,
                 lk_dups *out, lk_errbuf *err);
void lk_dups_free(lk_dups *d); /* NULL-safe; zeroes it */

#endif
