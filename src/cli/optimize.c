/* cli/optimize.c — `lookalike optimize`: keeps CATALOG.lkx when it is current, else builds the
 * saved index by streaming the catalog (search/engine.h lk_engine_build_index: bounded memory,
 * progress on stderr), reporting what it did on one line or as JSON. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/optimize.h"
#include "catalog/catalog.h"
#include "search/engine.h"

static const char *HELP =
    "usage: lookalike optimize --db catalog.db [--index auto|ivf] [--json]\n"
    "\n"
    "Builds the catalog's vector index and saves it beside the catalog as CATALOG.lkx, so that\n"
    "`serve` and every other command map it at start instead of building it again (the IVF of a\n"
    "million vectors takes tens of seconds to train and fill). Only the approximate IVF index is\n"
    "saved: --index auto (the default) gives it to catalogs of 200,000 vectors and more, --index\n"
    "ivf to any (searches opened with --index ivf then use it). `serve` saves the IVF it had to\n"
    "build itself, and `index` saves one at its end for a catalog of 200,000 vectors or more\n"
    "(not after a --shard run). A saved index is used when its recipe and items are the\n"
    "catalog's; items added to the catalog since it was saved are added to it at start. One left\n"
    "stale by a deletion or a changed vector, or truncated or damaged (a checksum per section), is\n"
    "reported on one line, passed over and rebuilt, never served.\n"
    "\n"
    "optimize keeps a current file and otherwise writes it anew from the catalog, read as a\n"
    "stream (items, then vectors, in one snapshot): its memory is the IVF's codes and the items,\n"
    "never the float vectors (1.1 GB for a million products of a tuned catalog). Progress goes to\n"
    "stderr (a bar on a terminal, else a line per step and every 30 s; none with --json). An\n"
    "interrupted run leaves the file there before (or none): the new one is renamed into place\n"
    "when complete.\n"
    "\n"
    "How many of the IVF's lists a search probes is tuned as it is built: the fewest that reach a\n"
    "mean recall@10 of 0.96 against exact search, measured with 200 of the catalog's own vectors\n"
    "as queries (each excluding itself), at least 16,384 vectors' worth; saved in the file and\n"
    "printed (`lists`, `nprobe`, `recall` with --json); the library's lk_engine_opts.nprobe\n"
    "overrides it.\n"
    "\n"
    "  --db FILE         catalog made by `lookalike index` (not a postgresql:// URL)\n"
    "  --index MODE      auto (default) or ivf\n"
    "  --json            print {\"file\", \"items\", \"bytes\", \"seconds\", \"state\", \"lists\", \"nprobe\",\n"
    "                    \"recall\"} on stdout\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 catalog not found, 130 interrupted (Ctrl-C,\n"
    "SIGTERM, SIGHUP: the file there before is kept)\n";

/* Progress of the build (search/engine.h lk_engine_build_index) on stderr: a bar on a terminal,
 * else a line at each step and every PROGRESS_LINE_S seconds; nothing with --json or quiet. */
#define PROGRESS_LINE_S 30
typedef struct progress {
  const char *cmd, *step; /* the step last shown */
  int show, tty;
  double t0, next, step_t0; /* the start, the next line, the step's start (the bar's ETA) */
  volatile sig_atomic_t *stop; /* set: the build stops */
} progress;

static int on_progress(void *ctx, const char *step, size_t done, size_t total) {
  progress *p = ctx;
  double now = lk_cli_now();
  if (p->stop && *p->stop) return 1;
  if (!p->show) return 0;
  if (!p->step || strcmp(p->step, step)) p->step_t0 = now;
  if (p->tty && total) {
    char label[64];
    snprintf(label, sizeof label, "%s: %s", p->cmd, step);
    lk_cli_bar(label, (long)done, (long)total, p->step_t0);
  } else if (p->tty) {
    fprintf(stderr, "\r\033[K%s: %s %zu", p->cmd, step, done);
  } else if (now >= p->next || (total && done == total) || !p->step || strcmp(p->step, step)) {
    if (total) fprintf(stderr, "lookalike %s: %s %zu/%zu, %.0f s\n", p->cmd, step, done, total, now - p->t0);
    else fprintf(stderr, "lookalike %s: %s %zu, %.0f s\n", p->cmd, step, done, now - p->t0);
    p->next = now + PROGRESS_LINE_S;
  }
  p->step = step;
  return 0;
}

/* Builds db's saved index with eo unless it is current (lk_engine_build_index: streamed, so a
 * catalog of any size fits in memory), and reports: json 1 = the JSON line on stdout, 2 =
 * nothing on stdout (the caller prints its own JSON); quiet: no stderr lines but errors.
 * Returns the exit code. */
static int run(const char *cmd, const char *db, const lk_engine_opts *eo, int json, int quiet,
               volatile sig_atomic_t *stop) {
  char path[4096];
  if (lk_engine_index_path(db, path, sizeof path))
    return lk_cli_usage(cmd, "a saved index sits beside a catalog file (not a postgresql:// catalog)");
  if (!json && !quiet) fprintf(stderr, "lookalike %s: loading %s and its index...\n", cmd, db);
  double t0 = lk_cli_now();
  progress pg = {cmd, NULL, !json && !quiet, isatty(2), t0, t0 + PROGRESS_LINE_S, t0, stop};
  lk_engine_built b;
  lk_errbuf eb = {0};
  int rc = lk_engine_build_index(db, eo, on_progress, &pg, &b, &eb);
  lk_cli_note(cmd, b.note[0] ? b.note : NULL);
  if (rc) {
    fprintf(stderr, "lookalike %s: %s\n", cmd, lk_err_msg(&eb));
    return lk_cli_exit_code(rc);
  }
  if (b.state == LK_ENGINE_LKX_NONE) {
    if (!quiet) fprintf(stderr, "lookalike %s: %zu vectors get the exact index, built at open in seconds: nothing to save "
                    "(--index ivf saves an IVF index)\n", cmd, b.rows);
    return LK_EX_OK;
  }
  double s = lk_cli_now() - t0;
  struct stat st;
  long long bytes = stat(path, &st) ? -1 : (long long)st.st_size;
  const char *what = b.state == LK_ENGINE_LKX_MAPPED ? "up to date" : "written";
  if (json == 1) {
    json_t *j = json_pack("{s:s, s:I, s:I, s:f, s:s, s:i, s:i, s:o}", "file", path, "items", (json_int_t)b.rows,
                          "bytes", (json_int_t)bytes, "seconds", s, "state", what, "lists", b.nlist, "nprobe",
                          b.nprobe, "recall", b.recall >= 0 ? json_real(round(b.recall * 1e4) / 1e4) : json_null());
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (txt) puts(txt);
    free(txt);
    json_decref(j);
  } else if (!quiet) {
    fprintf(stderr, "lookalike %s: %s %s (%zu items, %.1f MB) in %.1f s\n", cmd, path, what, b.rows,
            (double)bytes / 1e6, s);
    if (b.recall >= 0)
      fprintf(stderr, "lookalike %s: searches probe %d of its %d lists, tuned to recall@10 %.3f against exact search "
                      "(%d of the catalog's own vectors as queries)\n",
              cmd, b.nprobe, b.nlist, b.recall, LK_ENGINE_IVF_TUNE_QUERIES);
    else if (b.nprobe)
      fprintf(stderr, "lookalike %s: searches probe %d of its %d lists\n", cmd, b.nprobe, b.nlist);
  }
  return LK_EX_OK;
}

int lk_cli_optimize(int argc, char **argv, volatile sig_atomic_t *stop) {
  static const struct option opts[] = {{"db", required_argument, 0, 'd'}, {"index", required_argument, 0, 'X'},
                                       {"json", no_argument, 0, 'j'},     {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *db = NULL;
  int json = 0, c;
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (c) {
    case 'd': db = optarg; break;
    case 'j': json = 1; break;
    case 'X':
      if (lk_engine_index_parse(optarg, &eo.index) || eo.index == LK_ENGINE_INDEX_EXACT)
        return lk_cli_usage("optimize", "--index is auto or ivf");
      break;
    case 'h': fputs(HELP, stdout); return LK_EX_OK;
    default: return lk_cli_usage("optimize", "unknown option");
    }
  if (!db) return lk_cli_usage("optimize", "--db is required");
  if (optind != argc) return lk_cli_usage("optimize", "unexpected argument");
  return run("optimize", db, &eo, json, 0, stop);
}

int lk_cli_optimize_after_index(const char *db, int json, int quiet, volatile sig_atomic_t *stop) {
  lk_catalog *cat = NULL;
  int64_t items = 0, vectors = 0, errors = 0;
  char path[4096];
  if (lk_engine_index_path(db, path, sizeof path)) return LK_EX_OK; /* postgresql://: none */
  if (lk_catalog_open(db, LK_CATALOG_READONLY, &cat, NULL) || lk_catalog_counts(cat, &items, &vectors, &errors) ||
      vectors < LK_ENGINE_IVF_AUTO_MIN) {
    lk_catalog_close(cat);
    return LK_EX_OK;
  }
  lk_catalog_close(cat);
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  return run("index", db, &eo, json ? 2 : 0, quiet, stop);
}
