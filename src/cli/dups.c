/* cli/dups.c — `lookalike dups`: lists groups of re-listed products (the same photo bytes, or
 * photos whose vectors are near-identical), largest first, with a progress bar on stderr while
 * every item's neighbours are searched (see dups.h). */
#include "cli/dups.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "search/collapse.h"
#include "search/engine.h"
#include "search/results.h"

static const char *HELP =
    "usage: lookalike dups --db catalog.db [--threshold T] [--json] [--limit N]\n\n"
    "Lists groups of near-duplicate items: the same photo bytes (content hash), or photos\n"
    "whose vectors have a cosine >= T and the same baseColour (near-identical: re-encoded,\n"
    "resized, re-listed). Each group: the lowest id, then the items near-identical to it (no\n"
    "chains). Largest groups first, each member with its similarity to the first.\n"
    "Searches every item's nearest neighbours: about 25 s for 35,000 items on 2 cores.\n\n"
    "  --db FILE          the catalog\n"
    "  --threshold T      cosine from which two photos are near-identical (default 0.97,\n"
    "                     measured on the fashion catalog: docs/API.md \"Collapsing results\")\n"
    "  --neighbours N     neighbours searched per item (default 10)\n"
    "  --limit N          groups printed (default 100; 0 = all); the totals count all\n"
    "  --json             {\"groups\":[{\"size\",\"min_similarity\",\"items\":[{id,similarity,\n"
    "                     same_photo,productDisplayName}]}], \"count\", \"items\", ...}\n";

/* 4 decimals, as scores are printed (a float's 0.97 is 0.9700000286 as a double). */
static double round4(float x) { return round((double)x * 1e4) / 1e4; }

int lk_cli_dups(int argc, char **argv) {
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},        {"threshold", required_argument, 0, 't'},
                                       {"neighbours", required_argument, 0, 'n'}, {"limit", required_argument, 0, 'l'},
                                       {"json", no_argument, 0, 'j'},             {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *db = NULL;
  float threshold = LK_COLLAPSE_DUP_COS;
  int neighbours = 10, limit = 100, json = 0, c;
  while ((c = getopt_long(argc, argv, "d:t:n:l:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 't': if (lk_cli_float("dups", "--threshold", optarg, 0.01, 1, &threshold)) return LK_EX_USAGE; break;
    case 'n': if (lk_cli_int("dups", "--neighbours", optarg, 1, 1000, &neighbours)) return LK_EX_USAGE; break;
    case 'l': if (lk_cli_int("dups", "--limit", optarg, 0, 100000000, &limit)) return LK_EX_USAGE; break;
    case 'j': json = 1; break;
    case 'h': fputs(HELP, stdout); return LK_EX_OK;
    default: return lk_cli_usage("dups", "unknown option");
    }
  }
  if (optind != argc) return lk_cli_usage("dups", "unexpected argument");
  if (!db) return lk_cli_usage("dups", "--db is required");
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  lk_dups d = {0};
  lk_cli_progress_ctx b = {"dups", !json && isatty(2), lk_cli_now(), 0, NULL};
  int rc = lk_engine_open(db, &eo, &e, &eb);
  if (!rc) {
    lk_cli_note("dups", lk_engine_note(e));
    b.t0 = lk_cli_now();
    rc = lk_dups_find(e, threshold, neighbours, lk_cli_progress, &b, &d, &eb);
  }
  double took = lk_cli_now() - b.t0;
  if (rc) {
    if (json) {
      json_t *j = json_pack("{s:s, s:s}", "error", lk_err_msg(&eb), "code", lk_strerror(rc));
      char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
      if (s) puts(s);
      free(s);
      json_decref(j);
    }
    fprintf(stderr, "lookalike dups: %s\n", lk_err_msg(&eb));
    lk_engine_close(e);
    return lk_cli_exit_code(rc);
  }
  size_t shown = limit > 0 && (size_t)limit < d.ngroups ? (size_t)limit : d.ngroups;
  if (json) {
    json_t *o = json_object(), *arr = json_array();
    for (size_t g = 0; o && arr && g < shown; g++) {
      const lk_dup_group *dg = &d.groups[g];
      json_t *items = json_array();
      for (size_t i = 0; items && i < dg->n; i++) {
        const lk_dup_member *m = &d.members[dg->first + i];
        const lk_item *it = lk_engine_item(e, m->id);
        json_array_append_new(items, json_pack("{s:I, s:f, s:b, s:o}", "id", (json_int_t)m->id, "similarity",
                                               round4(m->similarity), "same_photo", m->same_photo,
                                               "productDisplayName", lk_results_text(it ? it->field[8] : NULL)));
      }
      json_array_append_new(arr, json_pack("{s:I, s:f, s:o}", "size", (json_int_t)dg->n, "min_similarity",
                                           round4(dg->min_similarity), "items", items));
    }
    if (o && arr) {
      json_object_set_new(o, "groups", arr);
      json_object_set_new(o, "count", json_integer((json_int_t)d.ngroups));
      json_object_set_new(o, "shown", json_integer((json_int_t)shown));
      json_object_set_new(o, "items", json_integer((json_int_t)d.nmembers));
      json_object_set_new(o, "searched", json_integer((json_int_t)lk_engine_size(e)));
      json_object_set_new(o, "threshold", json_real(round4(threshold)));
      json_object_set_new(o, "took_ms", json_real(took * 1e3));
      char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      if (s) puts(s);
      free(s);
    }
    json_decref(o);
  } else {
    for (size_t g = 0; g < shown; g++) {
      const lk_dup_group *dg = &d.groups[g];
      printf("group %zu: %zu items, similarity >= %.4f\n", g + 1, dg->n, dg->min_similarity);
      for (size_t i = 0; i < dg->n; i++) {
        const lk_dup_member *m = &d.members[dg->first + i];
        const lk_item *it = lk_engine_item(e, m->id);
        printf("  %-10lld %.4f  %-10s  %s\n", (long long)m->id, m->similarity, m->same_photo ? "same photo" : "",
               it && it->field[8] ? it->field[8] : "-");
      }
    }
  }
  fprintf(stderr, "%zu groups (%zu items) among %zu items in %.1f s (threshold %.4g)%s\n", d.ngroups, d.nmembers,
          lk_engine_size(e), took, threshold, shown < d.ngroups ? "; --limit 0 prints all" : "");
  lk_dups_free(&d);
  lk_engine_close(e);
  return LK_EX_OK;
}
