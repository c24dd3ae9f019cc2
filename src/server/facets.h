/* server/facets.h — GET /api/facets's whole-catalog body for a live catalog's snapshots
 * (search/live.h): computed on a snapshot's first request and kept in its user slot; one
 * computed less than a second before, for an older snapshot, is reused, so that under a stream
 * of writes each write does not cost a walk over every item (~1 s at 1M). */
#ifndef LK_SERVER_FACETS_H
#define LK_SERVER_FACETS_H

#include <stddef.h>

#include "search/live.h"

typedef struct lk_facets lk_facets;

/* *out: lk_facets_free. LK_ENOMEM. */
int lk_facets_new(lk_facets **out);
void lk_facets_free(lk_facets *fc); /* NULL-safe */

/* The body (compact JSON, *len bytes) for snapshot s, valid while s is held; an error body
 * when out of memory. Thread-safe: fc guards every snapshot's slot it fills, so a live
 * catalog's snapshots must have one lk_facets only. */
const char *lk_facets_get(lk_facets *fc, const lk_live_snap *s, size_t *len);

#endif
