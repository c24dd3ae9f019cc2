/* search/results.c — JSON rendering of items and hits (see results.h). */
#include "search/results.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "search/calibrate.h"
#include "util/utf8.h"

json_t *lk_results_text(const char *s) {
  if (!s) return json_null();
  char *fixed = NULL;
  if (lk_utf8_fix(s, &fixed)) return NULL;
  json_t *j = json_string(fixed ? fixed : s);
  free(fixed);
  return j;
}

json_t *lk_results_item_json(const lk_item *it, float score, int with_score) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "id", json_integer(it->id));
  if (with_score) json_object_set_new(o, "score", json_real(roundf(score * 1e4f) / 1e4f));
  for (int i = 0; i < LK_NFIELDS; i++) {
    const char *v = it->field[i];
    if (!v) {
      json_object_set_new(o, lk_catalog_fields[i], json_null());
    } else if (i == 6) { /* year: a number when it is one that fits, else the text as stored */
      char *end;
      errno = 0;
      long y = strtol(v, &end, 10);
      int num = end != v && !*end && !errno && y >= -999999 && y <= 999999;
      json_object_set_new(o, lk_catalog_fields[i], num ? json_integer(y) : lk_results_text(v));
    } else {
      json_object_set_new(o, lk_catalog_fields[i], lk_results_text(v));
    }
  }
  if (it->extra) {
    json_t *x = json_loads(it->extra, 0, NULL);
    if (x) json_object_set_new(o, "extra", x);
  }
  return o;
}

json_t *lk_results_hits_json(const lk_engine *e, const lk_hit *hits, int n) {
  json_t *o = json_object(), *arr = json_array();
  if (!o || !arr) {
    json_decref(o);
    json_decref(arr);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item(e, hits[i].id);
    if (!it) continue;
    json_t *h = lk_results_item_json(it, hits[i].score, 1);
    json_t *m = h ? lk_calibrate_match_json(e, hits[i].score) : NULL; /* NULL: uncalibrated */
    if (m) json_object_set_new(h, "match", m);
    json_array_append_new(arr, h);
  }
  json_object_set_new(o, "hits", arr);
  return o;
}
