/* cli/recommend.c — `lookalike recommend --db CATALOG --out FILE`: option parsing, the
 * progress bar on stderr (a terminal only), the summary line or --json, exit codes. The work
 * is search/recommend.c's. */
#include "cli/recommend.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "search/engine.h"
#include "search/filter.h"
#include "search/recommend.h"

static const char *HELP =
    "usage: lookalike recommend --db CATALOG --out FILE [--k 10] [--where EXPR]... [--same FIELD]...\n"
    "                           [--threads N] [--json]\n"
    "\n"
    "Writes every product's k nearest neighbours (itself left out): what a shop lists under\n"
    "\"you may also like\". One pass over the catalog's own vectors with its index, on all CPU\n"
    "cores (35,000 products: 30-50 s of CPU time); each product gets the neighbours\n"
    "`lookalike similar ID` gives it with the same --where.\n"
    "\n"
    "The CSV (RFC 4180) has one row per product and neighbour, best first:\n"
    "\n"
    "    id,rank,neighbour_id,score\n"
    "    1163,1,1164,0.908245\n"
    "\n"
    "(the long format: the same four columns for any --k, loads as it is into a table, a\n"
    "DataFrame or a join on neighbour_id; a wide row would need 2k columns). score is the cosine\n"
    "(with a tuned catalog's label prior, the search's score), 6 decimals. The file is written\n"
    "under FILE.tmp and renamed when complete; Ctrl-C, SIGTERM or SIGHUP stop the search and\n"
    "leave FILE as it was (exit 130).\n"
    "\n"
    "  --db FILE|URL      the catalog (SQLite file or postgresql://...)\n"
    "  --out FILE         the CSV file to write\n"
    "  -k, --k N          neighbours per product (default 10, at most 1000)\n"
    "  --where EXPR       only products passing it are listed and recommended: field=value or\n"
    "                     COLUMN<OP>VALUE, as `lookalike search` takes it; repeat: all must hold\n"
    "                     (same field = any of)\n"
    "  --same FIELD       neighbours share the product's value of FIELD (case-insensitively),\n"
    "                     e.g. --same gender; repeat for several fields. A product whose FIELD\n"
    "                     is unknown gets neighbours whose FIELD is unknown too, and is nobody\n"
    "                     else's. A product with fewer than k others sharing them gets fewer\n"
    "                     rows. Fields: gender masterCategory subCategory articleType\n"
    "                     baseColour season year usage productDisplayName\n"
    "  --threads N        worker threads (default: the CPU cores, at most 16)\n"
    "  --json             print the summary as JSON: {\"ok\",\"out\",\"products\",\"rows\",\"k\",\n"
    "                     \"short_lists\",\"items\",\"threads\",\"seconds\"}\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 catalog not found, 130 interrupted\n";

int lk_cli_recommend(int argc, char **argv, volatile sig_atomic_t *stop) {
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},     {"out", required_argument, 0, 'o'},
                                       {"k", required_argument, 0, 'k'},      {"where", required_argument, 0, 'w'},
                                       {"same", required_argument, 0, 's'},   {"threads", required_argument, 0, 't'},
                                       {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *db = NULL, *out = NULL;
  lk_filter filter = {0};
  lk_recommend_opts o;
  lk_recommend_opts_default(&o);
  lk_errbuf eb = {0};
  int json = 0, c;
  while ((c = getopt_long(argc, argv, "d:o:k:w:s:t:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 'o': out = optarg; break;
    case 'k': if (lk_cli_int("recommend", "--k", optarg, 1, LK_RECOMMEND_MAX_K, &o.k)) return LK_EX_USAGE; break;
    case 'w': if (lk_filter_add(&filter, optarg, &eb)) return lk_cli_usage("recommend", lk_err_msg(&eb)); break;
    case 's': {
      int f = lk_filter_field(optarg), dup = 0;
      if (f < 0)
        return lk_cli_usage("recommend", "--same takes a field: gender masterCategory subCategory articleType "
                                         "baseColour season year usage productDisplayName");
      for (int i = 0; i < o.nsame; i++) dup |= o.same[i] == f;
      if (!dup) o.same[o.nsame++] = f;
      break;
    }
    case 't':
      if (lk_cli_int("recommend", "--threads", optarg, 1, LK_RECOMMEND_MAX_THREADS, &o.threads)) return LK_EX_USAGE;
      break;
    case 'j': json = 1; break;
    case 'h': fputs(HELP, stdout); return LK_EX_OK;
    default: return lk_cli_usage("recommend", "unknown option");
    }
  }
  if (optind != argc) return lk_cli_usage("recommend", "unexpected argument");
  if (!db) return lk_cli_usage("recommend", "--db is required");
  if (!out) return lk_cli_usage("recommend", "--out is required");
  o.filter = &filter;
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  lk_engine *e = NULL;
  lk_recommend r = {0};
  lk_cli_progress_ctx b = {"recommend", !json && isatty(2), lk_cli_now(), 0, stop};
  o.progress = lk_cli_progress;
  o.ctx = &b;
  double t0 = lk_cli_now();
  int rc = lk_engine_open(db, &eo, &e, &eb);
  if (!rc) {
    lk_cli_note("recommend", lk_engine_note(e));
    b.t0 = lk_cli_now();
    rc = lk_recommend_run(e, &o, &r, &eb);
    if (!rc && b.tty && b.shown != r.n) lk_cli_bar("recommend", (long)r.n, (long)r.n, b.t0);
  }
  if (!rc) rc = lk_recommend_write_csv(&r, out, &eb);
  size_t rows = 0;
  for (size_t i = 0; !rc && i < r.n; i++) rows += (size_t)r.nfound[i];
  double took = lk_cli_now() - t0;
  if (json) {
    json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:i, s:I, s:I, s:i, s:f}", "ok", rc == 0, "out", out, "products",
                          (json_int_t)r.n, "rows", (json_int_t)rows, "k", o.k, "short_lists",
                          (json_int_t)r.short_lists, "items", (json_int_t)(e ? lk_engine_item_count(e) : 0),
                          "threads", r.threads, "seconds", took);
    if (j && rc) {
      json_object_set_new(j, "error", json_string(lk_err_msg(&eb)));
      json_object_set_new(j, "code", json_string(lk_strerror(rc)));
    }
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(j);
  }
  if (rc) {
    fprintf(stderr, "lookalike recommend: %s\n", lk_err_msg(&eb));
  } else if (!json) {
    printf("wrote %zu neighbours of %zu products (k %d) to %s in %.1f s", rows, r.n, o.k, out, took);
    if (r.short_lists) printf("; %zu products have fewer than %d", r.short_lists, o.k);
    if (r.n < lk_engine_item_count(e)) printf("; %zu items left out (no vector or --where)", lk_engine_item_count(e) - r.n);
    printf("\n");
  }
  lk_recommend_free(&r);
  lk_engine_close(e);
  return lk_cli_exit_code(rc);
}
