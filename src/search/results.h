/* search/results.h — the JSON shape of items and hits, shared by the CLI's --json output and
 * the web API: {"id":…, "score":…, "gender":…, …every styles.csv field…, "extra":{…}}. */
#ifndef LK_SEARCH_RESULTS_H
#define LK_SEARCH_RESULTS_H

#include <jansson.h>

#include "catalog/catalog.h"
#include "lookalike.h"
#include "search/engine.h"

/* New JSON object for an item (score omitted when with_score is 0). NULL on ENOMEM. */
json_t *lk_results_item_json(const lk_item *it, float score, int with_score);
/* {"hits":[…]} plus the given extra members added by the caller. */
json_t *lk_results_hits_json(const lk_engine *e, const lk_hit *hits, int n);

#endif
