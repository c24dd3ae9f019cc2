/* cli/calibrate.c — `lookalike calibrate --db`: draws known pairs from the catalog itself,
 * fits the match-strength curves and stores them with the recipe (search/calibrate.h); prints
 * the fit (or --json). `index` and `tune` call lk_calibration_update when they change scores. */
#include "cli/calibrate.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "cli/cli.h"
#include "embed/embed.h"
#include "nn/model.h"
#include "search/engine.h"

void lk_cli_calibrate_print_pairs(int product, int kind, int other, float weak, double seconds) {
  printf("match strength calibrated on %d pairs (%d same product, %d same kind, %d other kind) in %.1f s: "
         "weak below score %.4f\n", product + kind + other, product, kind, other, seconds, weak);
}

void lk_cli_calibrate_print(const lk_calibration *c, double seconds) {
  lk_cli_calibrate_print_pairs(c->pairs_product, c->pairs_kind, c->pairs_other, lk_calibration_weak_score(c), seconds);
}

static const char *HELP =
    "usage: lookalike calibrate --db catalog.db [options]\n\n"
    "Calibrates the match strength that search, similar and serve show beside the raw score\n"
    "(\"same product\", \"very similar\", \"same kind\", \"loosely related\", \"no close match\") on\n"
    "the catalog itself: catalog photos lightly altered (crop, scale, mirror, brightness) are\n"
    "searched against their own item, and the top 10 hits of searches by sampled items and by\n"
    "those altered photos (the item itself excluded) count as of the same articleType or not, as\n"
    "a search meets them. Stored in the catalog with its recipe; `index` (when it embedded\n"
    "photos) and `tune` do this themselves. A catalog without one is \"uncalibrated\": no labels.\n\n"
    "  --db FILE|URL    the catalog (its photos must be readable at their indexed paths)\n"
    "  --photos N       catalog photos altered (2 views each, each also searched; default 80)\n"
    "  --items N        items searched, whose top 10 hits count (default 400)\n"
    "  --seed S         which photos and items (default 0)\n"
    "  --json           print the stored calibration as JSON\n"
    "  --models DIR     folder with the .tflite files\n";

int lk_cli_calibrate(int argc, char **argv) {
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},     {"photos", required_argument, 0, 'p'},
                                       {"items", required_argument, 0, 'i'},  {"seed", required_argument, 0, 's'},
                                       {"json", no_argument, 0, 'j'},         {"models", required_argument, 0, 'm'},
                                       {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  const char *db = NULL, *models = NULL;
  int json = 0, c;
  lk_calibrate_opts o;
  lk_calibrate_opts_default(&o);
  while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 'm': models = optarg; break;
    case 'j': json = 1; break;
    case 'p': if (lk_cli_int("calibrate", "--photos", optarg, 1, 100000, &o.photos)) return LK_EX_USAGE; break;
    case 'i': if (lk_cli_int("calibrate", "--items", optarg, 1, 1000000, &o.items)) return LK_EX_USAGE; break;
    case 's': if (lk_cli_u64("calibrate", "--seed", optarg, &o.seed)) return LK_EX_USAGE; break;
    case 'h': fputs(HELP, stdout); return LK_EX_OK;
    default: return lk_cli_usage("calibrate", "unknown option");
    }
  }
  if (!db) return lk_cli_usage("calibrate", "--db is required");
  if (optind != argc) return lk_cli_usage("calibrate", "unexpected argument (the catalog goes after --db)");
  lk_calibration cal;
  double secs = 0;
  lk_errbuf eb = {0};
  int rc = lk_calibration_update(db, models, LK_BACKEND_DNNL, &o, &cal, &secs, &eb);
  if (rc) {
    fprintf(stderr, "lookalike calibrate: %s\n", lk_err_msg(&eb));
    return lk_cli_exit_code(rc);
  }
  if (json) {
    char *text = NULL;
    if (lk_calibration_to_json(&cal, &text, &eb) == 0) puts(text);
    free(text);
  } else {
    lk_cli_calibrate_print(&cal, secs);
    printf("%-10s %-8s %-8s %s\n", "score", "p_kind", "p_prod", "label");
    for (int i = 0; i < cal.n; i += cal.n > 16 ? cal.n / 16 : 1) {
      lk_match m;
      lk_calibration_match(&cal, cal.score[i], &m);
      printf("%-10.4f %-8.3f %-8.3f %s\n", cal.score[i], cal.p_kind[i], cal.p_product[i], lk_match_label_name(m.label));
    }
  }
  return LK_EX_OK;
}
