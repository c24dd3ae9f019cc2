/* search/results.h — the JSON shape of items and hits, shared by the CLI's --json output and
 * the web API: {"id":…, "score":…, "gender":…, …every styles.csv field…, "extra":{…}}. */
#ifndef LK_SEARCH_RESULTS_H
#define LK_SEARCH_RESULTS_H

#include <jansson.h>

#include "catalog/catalog.h"
#include "lookalike.h"
#include "search/engine.h"

/* A JSON string of any bytes (a file name, a value from outside): what is not UTF-8 becomes
 * U+FFFD, where json_string would return NULL and the key would go missing; json null for
 * NULL. NULL only on ENOMEM. */
json_t *lk_results_text(const char *s);
/* New JSON object for an item (score omitted when with_score is 0). NULL on ENOMEM. */
json_t *lk_results_item_json(const lk_item *it, float score, int with_score);
/* {"hits":[…]} plus the given extra members added by the caller. */
json_t *lk_results_hits_json(const lk_engine *e, const lk_hit *hits, int n);

#endif
