/* cli/main.c — the `lookalike` command: index, search, similar, info, check, model.
 * Parses arguments, runs the library, prints tables or --json, and maps errors to exit
 * codes. The only place in the project that exits. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/calibrate.h"
#include "cli/cli.h"
#include "cli/dups.h"
#include "cli/recommend.h"
#include "cli/export.h"
#include "cli/keys.h"
#include "cli/map.h"
#include "cli/optimize.h"
#include "cli/serve.h"
#include "cli/tune.h"
#include "embed/embed.h"
#include "eval/eval.h"
#include "image/image.h"
#include "ingest/ingest.h"
#include "lookalike.h"
#include "nn/model.h"
#include "search/calibrate.h"
#include "search/collapse.h"
#include "search/engine.h"
#include "search/live.h"
#include "search/query.h"
#include "search/results.h"
#include "util/file.h"
#include "util/id.h"
#include "util/utf8.h"

static const char *USAGE =
    "lookalike " LK_VERSION " — visual search for fashion catalogs\n"
    "\n"
    "usage: lookalike COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  index IMAGES_DIR --styles styles.csv --db catalog.db   embed photos into a catalog\n"
    "  search PHOTO --db catalog.db [-k 10] [--where f=v]...  products that look like PHOTO\n"
    "  similar ID --db catalog.db [-k 10] [--where f=v]...    neighbours of a catalog item\n"
    "  info --db catalog.db                                   items, sources, recipe, embedding size\n"
    "  check --db catalog.db                                  verify the catalog file\n"
    "  eval --db catalog.db [--same-product DIR]              retrieval quality (P@10, mAP@10)\n"
    "  serve --db catalog.db [--port 8080]                    the web page and JSON API\n"
    "  tune --db catalog.db --labels articleType,baseColour   learn a fashion projection\n"
    "  map --db catalog.db --out map.png                      a 2-D map of the catalog\n"
    "  optimize --db catalog.db                               save the index beside the catalog\n"
    "  export --db catalog.db --format F --out PATH           vectors for qdrant, milvus, pgvector,\n"
    "                                                         jsonl, npy, csv\n"
    "  migrate --from catalog.db --to postgresql://...        copy a catalog to another backend\n"
    "  keys add|list|revoke --db catalog.db [--role R]        API keys for serve --require-key\n"
    "  dups --db catalog.db [--threshold T] [--json]          groups of near-duplicate items\n"
    "  recommend --db catalog.db --out similar.csv [--k 10]   every product's neighbours as CSV\n"
    "  calibrate --db catalog.db                              match strength (\"same product\", ...)\n"
    "  model FILE.tflite                                      list a model's ops and tensors\n"
    "\n"
    "Run `lookalike COMMAND --help` for a command's options.\n"
    "--db takes a SQLite file or a postgresql://user@host/db URL (docs/DEPLOY.md).\n"
    "Models are found in --models DIR, $LOOKALIKE_MODELS, ./models, ../shared/models.\n"
    "\n"
    "Number options must be finite and in range (inf, nan, 1e39, 8x are usage errors);\n"
    "files must be regular files (a FIFO, folder or device is refused, or skipped by index).\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 not found, 4 bad input file,\n"
    "            130 interrupted (progress is kept; run again to resume)\n";

static volatile sig_atomic_t g_stop; /* set by SIGINT/SIGTERM/SIGHUP; main() owns signals */
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static int parse_backend(const char *s, int *out) {
  if (!strcmp(s, "ref")) *out = LK_BACKEND_REF;
  else if (!strcmp(s, "dnnl") || !strcmp(s, "onednn")) *out = LK_BACKEND_DNNL;
  else return -1;
  return 0;
}

static void print_json(json_t *o) {
  char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s) puts(s);
  free(s);
}

/* ---------------------------------------------------------------- index */

typedef struct index_ui {
  int tty, quiet, json, verbose;
  double last;
  long reported;
  json_t *problems;
} index_ui;

static void index_progress(void *ctx, const lk_ingest_stats *s) {
  index_ui *ui = ctx;
  if (!ui->tty || ui->quiet) return;
  double t = lk_cli_now();
  if (t - ui->last < 0.1 && s->done < s->todo) return;
  ui->last = t;
  double rate = s->seconds > 0 ? s->done / s->seconds : 0;
  double eta = rate > 0 ? (s->todo - s->done) / rate : 0;
  int width = 30, fill = s->todo ? (int)((double)s->done / s->todo * width) : width;
  char bar[64];
  for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  bar[width] = '\0';
  fprintf(stderr, "\r[%s] %ld/%ld  %.0f photos/s  ETA %d:%02d  (%ld failed)   ", bar, s->done, s->todo,
          rate, (int)eta / 60, (int)eta % 60, s->failed);
  fflush(stderr);
}

static void index_report(void *ctx, int64_t id, const char *what) {
  index_ui *ui = ctx;
  ui->reported++;
  if (ui->problems && json_array_size(ui->problems) < 10000) {
    json_t *p = json_object();
    json_object_set_new(p, "id", id >= 0 ? json_integer(id) : json_null());
    json_object_set_new(p, "message", json_string(what));
    json_array_append_new(ui->problems, p);
  }
  if (ui->json || ui->quiet) return;
  if (!ui->verbose && ui->reported > 20) {
    if (ui->reported == 21) fprintf(stderr, "%s(more problems not shown; use --verbose)\n", ui->tty ? "\r" : "");
    return;
  }
  fprintf(stderr, "%swarning: %s\n", ui->tty ? "\r\033[K" : "", what);
}

/* The catalog's sources with their item counts (catalog.h "Sources"), as a JSON array of
 * {"source", "items"}; NULL when they cannot be read. */
static int source_json_cb(void *ctx, const char *source, int64_t items) {
  json_array_append_new(ctx, json_pack("{s:o, s:I}", "source", lk_results_text(source), "items", (json_int_t)items));
  return 0;
}

static json_t *catalog_sources(lk_catalog *cat) {
  json_t *a = json_array();
  if (a && lk_catalog_foreach_source(cat, source_json_cb, a)) {
    json_decref(a);
    return NULL;
  }
  return a;
}

/* Prints sources as "  SOURCE  N items" lines (at most 20, then how many more). */
static void print_sources(const json_t *a, const char *mark) {
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (i == 20) {
      printf("  … and %zu more sources\n", json_array_size(a) - 20);
      break;
    }
    const char *name = json_string_value(json_object_get(v, "source"));
    printf("  %-40s %lld items%s\n", name, (long long)json_integer_value(json_object_get(v, "items")),
           mark && !strcmp(name, mark) ? " (this run)" : "");
  }
}

static const char *INDEX_HELP =
    "usage: lookalike index IMAGES_DIR --db catalog.db [--styles styles.csv] [options]\n\n"
    "Embeds every photo named ID.jpg/.png/.webp in IMAGES_DIR whose ID has a row in\n"
    "styles.csv. Incremental: only new or changed photos are embedded again. Safe to\n"
    "interrupt (Ctrl-C, kill, SIGHUP): committed work is kept and the next run resumes.\n"
    "When it embedded photos it then calibrates the match strength that searches show\n"
    "(`lookalike calibrate`; a few seconds; a failure there is a warning), except with\n"
    "--shard: run `lookalike calibrate` once every shard is done. A run that embedded\n"
    "under 2 % of a calibrated catalog keeps its calibration while the catalog stays\n"
    "within 10 % of the size it was fitted at (`lookalike calibrate` fits it again).\n\n"
    "  --styles FILE    metadata table (id,gender,masterCategory,...); without it,\n"
    "                   photos are indexed with no metadata. Names and values are\n"
    "                   trimmed of surrounding blanks. Short or long rows,\n"
    "                   NUL bytes, duplicate columns and ids, years that are not\n"
    "                   1..9999 are reported with their line; ';'-, tab- or '|'-\n"
    "                   separated files (and a 'sep=;' line) are recognised; UTF-16\n"
    "                   files are refused (save as UTF-8)\n"
    "  --encoding E     styles.csv's text: auto (default: UTF-8, and any value that is\n"
    "                   not UTF-8 read as Windows-1252, said once), utf-8 (refuse other\n"
    "                   bytes, naming the line), cp1252 (windows-1252) or latin1\n"
    "                   (iso-8859-1)\n"
    "  --strict         refuse styles.csv at its first reported row problem (exit 1,\n"
    "                   nothing written) instead of indexing around it\n"
    "  --db FILE|URL    catalog to create or update: a SQLite file, or\n"
    "                   postgresql://user@host/db (docs/DEPLOY.md)\n"
    "  --limit N        only the first N items by id (quick demos)\n"
    "  --sample N       a stable pseudo-random subset of N items (--seed S, default 0)\n"
    "  --prune          remove this source's items whose photo or row is gone\n"
    "  --source NAME    the source the items come from (default: the images folder's\n"
    "                   full path): one catalog can be fed from several folders or\n"
    "                   batches, and the stale count and --prune only look at the\n"
    "                   items of the source being indexed\n"
    "  --shard K/N      only shard K of N (1 <= K <= N; by a hash of the id): N runs,\n"
    "                   on as many machines, index a catalog together into one\n"
    "                   postgresql:// --db; re-running a shard is harmless\n"
    "  --recipe NAME    embedding recipe for a new catalog: default\n"
    "                   (= mnv2-avg+color+p80+int8), mnv2-avg+color+p80, mnv2-avg+color,\n"
    "                   mnv2-avg, mnv2+mnv1+color, color, or a recipe .json file\n"
    "  --compute C      how the CNN runs for a new catalog: int8 (the default's; oneDNN\n"
    "                   VNNI, fastest), fp32, or exact (TFLite's integer arithmetic, bit\n"
    "                   for bit; ~3.5x slower, same search quality)\n"
    "  --preprocess P   squash (default) or pad (to a white square) before resizing\n"
    "  --color-weight W weight of the colour histogram part, 0..10000 (default 0.3)\n"
    "  --flip           average the CNN part over the photo and its mirror image\n"
    "  --models DIR     folder with the .tflite files\n"
    "  --batch N        photos per inference batch (default 8)\n"
    "  --threads N      parallel workers (default 2; each decodes and embeds)\n"
    "  --backend B      dnnl (oneDNN, default) or ref (plain C reference)\n"
    "  --json           print the summary as JSON\n"
    "  --quiet          no progress bar or warnings\n"
    "  --verbose        print every skipped row/photo\n";

/* index's options besides lk_ingest_opts: how a new catalog's recipe differs from --recipe. */
typedef struct index_args {
  const char *recipe_spec, *pre;
  float color_weight;
  int flip, compute;
} index_args;

/* Parses index's options into o, a and ui. Returns -1 to go on, else the exit code. */
static int index_parse(int argc, char **argv, lk_ingest_opts *o, index_args *a, index_ui *ui) {
  static const struct option opts[] = {
      {"styles", required_argument, 0, 's'}, {"db", required_argument, 0, 'd'},
      {"models", required_argument, 0, 'm'}, {"recipe", required_argument, 0, 'r'},
      {"limit", required_argument, 0, 'n'},  {"prune", no_argument, 0, 'p'},
      {"sample", required_argument, 0, 'S'}, {"seed", required_argument, 0, 'E'},
      {"batch", required_argument, 0, 'b'},  {"backend", required_argument, 0, 'B'},
      {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
      {"quiet", no_argument, 0, 'q'},        {"verbose", no_argument, 0, 'v'},
      {"preprocess", required_argument, 0, 'P'}, {"color-weight", required_argument, 0, 'C'},
      {"flip", no_argument, 0, 'F'},         {"shard", required_argument, 0, 'K'},
      {"compute", required_argument, 0, 'X'}, {"help", no_argument, 0, 'h'},
      {"encoding", required_argument, 0, 'N'}, {"strict", no_argument, 0, 'T'},
      {"source", required_argument, 0, 'O'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "s:d:m:r:n:b:jqvh", opts, NULL)) != -1) {
    switch (c) {
    case 's': o->styles_csv = optarg; break;
    case 'd': o->db_path = optarg; break;
    case 'm': o->models_dir = optarg; break;
    case 'r': a->recipe_spec = optarg; break;
    case 'P':
      if (strcmp(optarg, "pad") && strcmp(optarg, "squash")) return lk_cli_usage("index", "--preprocess is pad or squash");
      a->pre = optarg;
      break;
    case 'C': if (lk_cli_float("index", "--color-weight", optarg, 0, 1e4, &a->color_weight)) return LK_EX_USAGE; break;
    case 'F': a->flip = 1; break;
    case 'X':
      a->compute = lk_recipe_compute_parse(optarg);
      if (a->compute < 0) return lk_cli_usage("index", "--compute is exact, fp32 or int8");
      break;
    case 'K': {
      int kn[2];
      if (lk_cli_int_list(optarg, '/', 2, 1, 1000000, kn) || kn[0] > kn[1])
        return lk_cli_usage("index", "--shard is K/N with 1 <= K <= N <= 1000000 (e.g. 3/8)");
      o->shard = kn[0];
      o->shards = kn[1];
      break;
    }
    case 'n': if (lk_cli_long("index", "--limit", optarg, 0, LONG_MAX, &o->limit)) return LK_EX_USAGE; break;
    case 'p': o->prune = 1; break;
    case 'O': {
      lk_errbuf sb = {0};
      if (lk_ingest_source_check(optarg, &sb)) return lk_cli_usage("index", lk_err_msg(&sb));
      o->source = optarg;
      break;
    }
    case 'N':
      if ((o->encoding = lk_utf8_enc_parse(optarg)) < 0)
        return lk_cli_usage("index", "--encoding is auto, utf-8, cp1252 (windows-1252) or latin1 (iso-8859-1)");
      break;
    case 'T': o->strict = 1; break;
    case 'S': if (lk_cli_long("index", "--sample", optarg, 0, LONG_MAX, &o->sample)) return LK_EX_USAGE; break;
    case 'E': if (lk_cli_u64("index", "--seed", optarg, &o->seed)) return LK_EX_USAGE; break;
    case 'b': if (lk_cli_int("index", "--batch", optarg, 1, 256, &o->batch)) return LK_EX_USAGE; break;
    case 'B': if (parse_backend(optarg, &o->backend)) return lk_cli_usage("index", "--backend is ref or dnnl"); break;
    case 't': if (lk_cli_int("index", "--threads", optarg, 1, 16, &o->workers)) return LK_EX_USAGE; break;
    case 'j': ui->json = 1; break;
    case 'q': ui->quiet = 1; break;
    case 'v': ui->verbose = 1; break;
    case 'h':
      fputs(INDEX_HELP, stdout);
      return LK_EX_OK;
    default: return lk_cli_usage("index", "unknown option");
    }
  }
  if (optind != argc - 1) return lk_cli_usage("index", "expected one IMAGES_DIR");
  o->images_dir = argv[optind];
  if (!o->db_path) return lk_cli_usage("index", "--db is required");
  if ((o->encoding || o->strict) && !o->styles_csv) return lk_cli_usage("index", "--encoding and --strict are about --styles FILE");
  return -1;
}

/* The recipe a new catalog gets from --recipe and the options that adjust it (*set = 0 when
 * none was given: the catalog's own or the default). Returns -1 to go on, else the exit code. */
static int index_recipe(const index_args *a, lk_recipe *recipe, int *set) {
  *set = 0;
  if (!(a->recipe_spec || a->pre || a->color_weight >= 0 || a->flip || a->compute >= 0)) return -1;
  lk_errbuf rb = {0};
  if (lk_recipe_load(a->recipe_spec ? a->recipe_spec : "default", recipe, &rb)) return lk_cli_usage("index", lk_err_msg(&rb));
  *set = 1;
  if (a->pre) recipe->preprocess = !strcmp(a->pre, "pad") ? LK_PRE_PAD : LK_PRE_SQUASH;
  if (a->color_weight >= 0) {
    if (recipe->color_bins == 0) recipe->color_bins = 8;
    recipe->color_weight = a->color_weight;
    if (a->color_weight == 0) recipe->color_bins = 0;
  }
  if (a->flip) recipe->flip = 1;
  if (a->compute >= 0) {
    if (recipe->nparts == 0) return lk_cli_usage("index", "--compute: this recipe has no CNN part");
    recipe->compute = a->compute;
  }
  return -1;
}

/* What index knows after the run: the calibration and the catalog's sources. */
typedef struct index_after {
  int cal_rc; /* 0 calibrated, < 0 failed (cb), 1 not run, 2 a shard's run (cannot know when the others end),
              * 3 kept (lk_calibration_still_fits: the run changed too little to refit) */
  lk_calibration cal;
  double cal_s;
  lk_errbuf cb;
  json_t *sources; /* the catalog's sources after the run, or NULL */
} index_after;

/* A run that embedded few photos into a big calibrated catalog keeps its calibration (a refit
 * loads the whole catalog; `lookalike calibrate` does it on demand). */
static int kept_calibration(const lk_ingest_opts *o, const lk_ingest_stats *st, index_after *af) {
  lk_catalog *cat = NULL;
  lk_errbuf eb = {0};
  int keep = lk_catalog_open(o->db_path, LK_CATALOG_READONLY, &cat, &eb) == 0 &&
             lk_calibration_still_fits(cat, (size_t)st->embedded, &af->cal);
  lk_catalog_close(cat);
  return keep;
}

/* Photos embedded: the scores may have changed, so the match strength is calibrated again
 * (search/calibrate.h); a failure there is a warning, the index stands. Then the sources. */
static void index_finish(const lk_ingest_opts *o, const index_ui *ui, int rc, const lk_ingest_stats *st, index_after *af) {
  af->cal_rc = 1;
  if (!rc && st->embedded > 0 && o->shards > 1) af->cal_rc = 2;
  else if (!rc && st->embedded > 0 && kept_calibration(o, st, af)) af->cal_rc = 3;
  else if (!rc && st->embedded > 0) {
    if (ui->tty && !ui->quiet && !ui->json) fprintf(stderr, "calibrating the match strength...");
    af->cal_rc = lk_calibration_update(o->db_path, o->models_dir, o->backend, NULL, &af->cal, &af->cal_s, &af->cb);
    if (ui->tty && !ui->quiet && !ui->json) fprintf(stderr, "\r\033[K");
  }
  if (!rc || rc == LK_EINTR) {
    lk_catalog *cat = NULL;
    lk_errbuf ob = {0};
    if (!lk_catalog_open(o->db_path, LK_CATALOG_READONLY, &cat, &ob)) af->sources = catalog_sources(cat);
    lk_catalog_close(cat);
  }
}

/* index --json: the summary as one object. */
static void index_print_json(const index_ui *ui, int rc, const lk_errbuf *eb, const lk_ingest_stats *st,
                             const index_after *af) {
  json_t *j = json_object();
  json_object_set_new(j, "ok", json_boolean(rc == 0));
  json_object_set_new(j, "source", st->source[0] ? lk_results_text(st->source) : json_null());
  json_object_set_new(j, "sources", af->sources ? json_incref(af->sources) : json_array());
  if (rc) json_object_set_new(j, "error", json_string(lk_err_msg(eb)));
  json_object_set_new(j, "rows", json_integer(st->rows));
  json_object_set_new(j, "bad_rows", json_integer(st->bad_rows));
  json_object_set_new(j, "rows_with_problems", json_integer(st->odd_rows));
  json_object_set_new(j, "recoded_values", json_integer(st->recoded));
  json_object_set_new(j, "photos", json_integer(st->photos));
  json_object_set_new(j, "photos_not_named_by_id", json_integer(st->unnamed));
  json_object_set_new(j, "rows_without_photo", json_integer(st->no_photo));
  json_object_set_new(j, "photos_without_row", json_integer(st->no_row));
  json_object_set_new(j, "selected", json_integer(st->selected));
  json_object_set_new(j, "todo", json_integer(st->todo)); /* photos that needed embedding */
  json_object_set_new(j, "done", json_integer(st->done)); /* of those, processed */
  json_object_set_new(j, "embedded", json_integer(st->embedded));
  json_object_set_new(j, "unchanged", json_integer(st->unchanged));
  json_object_set_new(j, "failed", json_integer(st->failed));
  json_object_set_new(j, "pruned", json_integer(st->pruned));
  json_object_set_new(j, "stale", json_integer(st->stale));
  json_object_set_new(j, "seconds", json_real(st->seconds));
  json_object_set_new(j, "photos_per_second", json_real(st->seconds > 0 ? st->embedded / st->seconds : 0));
  json_object_set_new(j, "problems", ui->problems);
  const lk_calibration *cal = &af->cal;
  if (af->cal_rc == 0)
    json_object_set_new(j, "calibration", json_pack("{s:i, s:f, s:f}", "pairs", cal->pairs_product + cal->pairs_kind + cal->pairs_other,
                                                    "weak_below", round(lk_calibration_weak_score(cal) * 1e4) / 1e4, "seconds", round(af->cal_s * 1e2) / 1e2));
  else if (af->cal_rc < 0)
    json_object_set_new(j, "calibration", json_pack("{s:s}", "error", lk_err_msg(&af->cb)));
  else if (af->cal_rc == 2)
    json_object_set_new(j, "calibration", json_pack("{s:s}", "todo", "run `lookalike calibrate --db` once every shard is done"));
  else if (af->cal_rc == 3)
    json_object_set_new(j, "calibration", json_pack("{s:b, s:I}", "kept", 1, "items", (json_int_t)cal->items));
  print_json(j);
  json_decref(j);
}

/* index's summary for a person. */
static void index_print_text(const lk_ingest_opts *o, int rc, const lk_errbuf *eb, const lk_ingest_stats *st,
                             const index_after *af) {
  if (rc && rc != LK_EINTR) {
    fprintf(stderr, "lookalike index: %s\n", lk_err_msg(eb));
    return;
  }
  if (rc == LK_EINTR) fprintf(stderr, "lookalike index: %s\n", lk_err_msg(eb));
  printf("indexed %ld photos in %.1f s (%.1f photos/s); %ld unchanged, %ld skipped (bad photo)\n",
         st->embedded, st->seconds, st->seconds > 0 ? st->embedded / st->seconds : 0.0, st->unchanged,
         st->failed);
  printf("styles rows: %ld (%ld bad, %ld without photo); photos: %ld (%ld without row)\n", st->rows,
         st->bad_rows, st->no_photo, st->photos, st->no_row);
  if (st->unnamed)
    printf("%ld image files are not named after a product id and were not indexed: name each photo "
           "ID.jpg (or .png, .webp), where ID is its row's id in styles.csv\n", st->unnamed);
  if (st->odd_rows) printf("%ld styles rows indexed with a problem reported above\n", st->odd_rows);
  if (st->pruned) printf("pruned %ld items of this source whose photo or row is gone\n", st->pruned);
  if (st->stale)
    printf("%ld items of this source have lost their photo or row; `--prune` removes them\n", st->stale);
  if (af->sources && json_array_size(af->sources)) {
    printf("catalog sources:\n");
    print_sources(af->sources, st->source);
  }
  if (af->cal_rc == 0) lk_cli_calibrate_print(&af->cal, af->cal_s);
  if (af->cal_rc == 3)
    printf("match strength: the calibration of %lld items is kept (this run embedded %ld photos; "
           "`lookalike calibrate --db %s` fits it again)\n", (long long)af->cal.items, st->embedded, o->db_path);
  if (af->cal_rc == 2)
    printf("match strength not calibrated by a shard: run `lookalike calibrate --db %s` once every shard is done\n",
           o->db_path);
}

static int cmd_index(int argc, char **argv) {
  lk_ingest_opts o;
  lk_ingest_opts_default(&o);
  index_args a = {.color_weight = -1, .compute = -1};
  index_ui ui = {.tty = isatty(2)};
  lk_recipe recipe;
  int has_recipe = 0, ex = index_parse(argc, argv, &o, &a, &ui);
  if (ex < 0) ex = index_recipe(&a, &recipe, &has_recipe);
  if (ex >= 0) {
    if (has_recipe) lk_recipe_clear(&recipe);
    return ex;
  }
  if (has_recipe) o.recipe = &recipe;
  if (ui.json) ui.problems = json_array();
  o.progress = index_progress;
  o.report = index_report;
  o.ctx = &ui;
  o.stop = &g_stop;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal); /* a closed terminal stops it the same way: progress saved */
  lk_ingest_stats st;
  lk_errbuf eb = {0};
  int rc = lk_ingest_run(&o, &st, &eb);
  if (o.recipe) lk_recipe_clear(&recipe);
  if (ui.tty && !ui.quiet) fprintf(stderr, "\r\033[K");
  index_after af = {0};
  index_finish(&o, &ui, rc, &st, &af);
  if (ui.json) index_print_json(&ui, rc, &eb, &st, &af);
  else index_print_text(&o, rc, &eb, &st, &af);
  if (af.cal_rc < 0 && !ui.quiet && !ui.json)
    fprintf(stderr, "lookalike index: warning: the match strength is not calibrated (%s); searches show no "
                    "labels until `lookalike calibrate --db %s` succeeds\n", lk_err_msg(&af.cb), o.db_path);
  json_decref(af.sources);
  /* a catalog big enough for the IVF gets its saved index (not after a shard: the others may still run) */
  if (!rc && af.cal_rc != 2) lk_cli_optimize_after_index(o.db_path, ui.json, ui.quiet, &g_stop);
  return lk_cli_exit_code(rc);
}

/* ---------------------------------------------------------------- search / similar */

typedef struct query_opts {
  const char *db, *models;
  int k, json, backend, index, multi_crop, garment, collapse;
  float prior;
  lk_filter filter;
  int crop[4], has_crop;
} query_opts;

static int parse_query_opts(const char *cmd, int argc, char **argv, query_opts *q, int *help) {
  static const struct option opts[] = {
      {"db", required_argument, 0, 'd'},     {"models", required_argument, 0, 'm'},
      {"where", required_argument, 0, 'w'},  {"json", no_argument, 0, 'j'},
      {"backend", required_argument, 0, 'B'}, {"crop", required_argument, 0, 'c'},
      {"index", required_argument, 0, 'X'},  {"prior", required_argument, 0, 'P'},
      {"multi-crop", no_argument, 0, 'U'},   {"garment", required_argument, 0, 'G'},
      {"collapse", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  memset(q, 0, sizeof *q);
  q->k = 10;
  q->prior = -1.0f;
  q->backend = LK_BACKEND_DNNL;
  *help = 0;
  int c;
  lk_errbuf eb = {0};
  while ((c = getopt_long(argc, argv, "d:m:k:w:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': q->db = optarg; break;
    case 'm': q->models = optarg; break;
    case 'k': if (lk_cli_int(cmd, "-k", optarg, 1, 10000, &q->k)) return LK_EX_USAGE; break;
    case 'w': if (lk_filter_add(&q->filter, optarg, &eb)) return lk_cli_usage(cmd, lk_err_msg(&eb)); break;
    case 'j': q->json = 1; break;
    case 'B': if (parse_backend(optarg, &q->backend)) return lk_cli_usage(cmd, "--backend is ref or dnnl"); break;
    case 'X': if (lk_engine_index_parse(optarg, &q->index)) return lk_cli_usage(cmd, "--index is auto, exact or ivf"); break;
    case 'P': if (lk_cli_float(cmd, "--prior", optarg, 0, 100, &q->prior)) return LK_EX_USAGE; break;
    case 'U': q->multi_crop = 1; break;
    case 'C':
      if (lk_collapse_parse(optarg, &q->collapse)) return lk_cli_usage(cmd, "--collapse is none, duplicates or variants");
      break;
    case 'G': if (lk_engine_garment_parse(optarg, &q->garment)) return lk_cli_usage(cmd, "--garment is on or off"); break;
    case 'c':
      if (lk_cli_int_list(optarg, ',', 4, -1000000, 1000000, q->crop) || q->crop[2] <= 0 || q->crop[3] <= 0)
        return lk_cli_usage(cmd, "--crop is X,Y,W,H in pixels of the photo");
      q->has_crop = 1;
      break;
    case 'h': *help = 1; return 0;
    default: return lk_cli_usage(cmd, "unknown option");
    }
  }
  if (!q->db) return lk_cli_usage(cmd, "--db is required");
  return 0;
}

/* The match strength of a score (search/calibrate.h), or "uncalibrated". */
static const char *match_label(const lk_engine *e, float score) {
  const lk_calibration *c = lk_engine_calibration(e);
  if (!c) return "uncalibrated";
  lk_match m;
  lk_calibration_match(c, score, &m);
  return lk_match_label_name(m.label);
}

static void print_hits(const lk_engine *e, const lk_hit *hits, int n) {
  printf("%4s  %-8s %-6s  %-15s  %-18s %-12s %s\n", "rank", "id", "score", "match", "articleType", "colour", "name");
  for (int i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item(e, hits[i].id);
    const char *at = it && it->field[3] ? it->field[3] : "-";
    const char *col = it && it->field[4] ? it->field[4] : "-";
    const char *name = it && it->field[8] ? it->field[8] : "-";
    printf("%4d  %-8lld %.4f  %-15s  %-18.18s %-12.12s %s\n", i + 1, (long long)hits[i].id, hits[i].score,
           match_label(e, hits[i].score), at, col, name);
  }
}

/* After the table: the weak-answer advice (search/calibrate.h), on stderr like the timing. */
static void print_advice(const lk_engine *e, json_t *answer) {
  if (json_is_true(json_object_get(answer, "weak")))
    fprintf(stderr, "%s\n", json_string_value(json_object_get(answer, "advice")));
  else if (!lk_engine_calibration(e))
    fprintf(stderr, "match strength: uncalibrated catalog (run `lookalike calibrate --db`)\n");
}

/* "duplicates: 12 13" or "variants: 12 (Red) 13 (Blue)", ending the line. */
static void print_members(const lk_engine *e, const lk_group *g, int mode) {
  printf("%s:", mode == LK_COLLAPSE_DUPLICATES ? "duplicates" : "variants");
  for (int j = 0; j < g->n && j < LK_COLLAPSE_MAX_MEMBERS; j++) {
    const lk_item *v = lk_engine_item(e, g->member[j]);
    if (mode == LK_COLLAPSE_DUPLICATES) printf(" %lld", (long long)g->member[j]);
    else printf(" %lld (%s)", (long long)g->member[j], v && v->field[4] ? v->field[4] : "-");
  }
  if (g->n > LK_COLLAPSE_MAX_MEMBERS) printf(" ... %d in all", g->n);
  printf("\n");
}

/* Collapsed results: the hits, each followed by what was folded under it. */
static void print_groups(const lk_engine *e, const lk_group *g, int n, int mode) {
  printf("%4s  %-8s %-6s  %-15s  %-18s %-12s %s\n", "rank", "id", "score", "match", "articleType", "colour", "name");
  for (int i = 0; i < n; i++) {
    const lk_item *it = lk_engine_item(e, g[i].hit.id);
    printf("%4d  %-8lld %.4f  %-15s  %-18.18s %-12.12s %s\n", i + 1, (long long)g[i].hit.id, g[i].hit.score,
           match_label(e, g[i].hit.score), it && it->field[3] ? it->field[3] : "-", it && it->field[4] ? it->field[4] : "-",
           it && it->field[8] ? it->field[8] : "-");
    if (!g[i].n) continue;
    printf("      ");
    print_members(e, &g[i], mode);
  }
}

static const char *QUERY_HELP =
    "  --db FILE        the catalog\n"
    "  -k N             number of results (default 10)\n"
    "  --where F=V      keep only items whose field F equals V (case-insensitive);\n"
    "                   repeat: same field = any of, different fields = all of.\n"
    "                   Fields: gender masterCategory subCategory articleType baseColour\n"
    "                   season year usage productDisplayName\n"
    "  --where C<OP>V   a comparison on a field or an extra styles.csv column (price, in_stock):\n"
    "                   OP one of <= >= != < > =; V a number, true/false, or text for = and !=\n"
    "                   (price<=50, in_stock=true, year>=2012). All comparisons must hold; an\n"
    "                   item without the column, or no number in it, fails. A column no item\n"
    "                   has is an error (a typo)\n"
    "  --collapse M     duplicates: re-listed products (same photo, or cosine >= 0.97 and the\n"
    "                   same colour) folded under the best-ranked one; variants: the same\n"
    "                   product in other colours under one hit; none (default)\n"
    "  --json           print {\"hits\":[{id,score,...fields}], ...}\n"
    "  --index I        auto (default: ivf from 200,000 vectors), exact, or ivf (approximate)\n"
    "  --prior W        a tuned catalog's label-prior weight (default: as tuned; 0 = off):\n"
    "                   items whose type/colour/gender the photo most likely shows rank higher\n"
    "  --models DIR     folder with the .tflite files\n";

static int run_query(int is_similar, int argc, char **argv) {
  const char *cmd = is_similar ? "similar" : "search";
  query_opts q;
  int help, rc = parse_query_opts(cmd, argc, argv, &q, &help);
  if (help) {
    printf(is_similar ? "usage: lookalike similar ID --db catalog.db [options]\n\n"
                      : "usage: lookalike search PHOTO --db catalog.db [options]\n\n");
    fputs(QUERY_HELP, stdout);
    if (!is_similar)
      fputs("  --crop X,Y,W,H   search only this region of the photo\n"
            "  --multi-crop     also search 13 crops of the photo, each item keeping its best score:\n"
            "                   for a photo where the product fills only part of the frame (14x slower)\n"
            "  --garment on|off first find the garment in the photo and put it on white, like a\n"
            "                   catalog photo (default off: docs/QUALITY.md, \"Street photos\")\n",
            stdout);
    return LK_EX_OK;
  }
  if (rc) return rc;
  if (optind != argc - 1) return lk_cli_usage(cmd, is_similar ? "expected one item ID" : "expected one PHOTO");
  const char *arg = argv[optind];
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  eo.models_dir = q.models;
  eo.backend = q.backend;
  eo.index = q.index;
  eo.prior = q.prior;
  eo.garment = q.garment;
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  lk_hit *hits = calloc((size_t)q.k, sizeof *hits);
  lk_group *groups = q.collapse ? calloc((size_t)q.k, sizeof *groups) : NULL, self = {0};
  int n = 0;
  double t0 = lk_cli_now(), t_load = 0, t_query = 0;
  if (!hits || (q.collapse && !groups)) {
    free(hits);
    free(groups);
    return LK_EX_FAIL;
  }
  if ((rc = lk_live_load(q.db, &eo, &e, &eb))) goto out; /* (a saved index behind: its delta applied) */
  lk_cli_note(is_similar ? "similar" : "search", lk_engine_note(e));
  if ((rc = lk_engine_filter_check(e, &q.filter, &eb))) goto out; /* a --where typo: before the photo */
  t_load = lk_cli_now() - t0;
  t0 = lk_cli_now();
  if (is_similar) {
    int64_t id;
    if (lk_id_parse(arg, strlen(arg), &id)) {
      rc = lk_err_set(&eb, LK_EINVAL, "'%s' is not an item id (ids are whole numbers, 0 to %lld)", arg,
                      (long long)INT64_MAX);
      goto out;
    }
    if (q.collapse) rc = lk_collapse_similar(e, id, &q.filter, q.k, q.collapse, &self, groups, &n, &eb);
    else rc = lk_engine_similar(e, id, &q.filter, q.k, hits, &n, &eb);
  } else {
    uint8_t *photo = NULL; /* searched as the HTTP API searches it (lk_engine_search_photo) */
    size_t len = 0;
    if ((rc = lk_file_read(arg, LK_IMAGE_MAX_BYTES, &photo, &len, NULL, &eb))) goto out;
    lk_query sq;
    lk_query_init(&sq);
    sq.k = q.k;
    sq.filter = &q.filter;
    if (q.has_crop) memcpy(sq.crop, q.crop, sizeof sq.crop);
    sq.multi_crop = q.multi_crop;
    sq.collapse = q.collapse;
    lk_search_info info = {.groups = groups};
    rc = lk_engine_search_photo(e, photo, len, &sq, hits, &n, &info, &eb);
    free(photo);
  }
  t_query = lk_cli_now() - t0;
  if (rc) goto out;
  json_t *j = q.collapse ? lk_collapse_hits_json(e, groups, n, q.collapse) : lk_results_hits_json(e, hits, n);
  if (!j || lk_calibrate_answer(e, j, &q.filter, !is_similar)) { /* "calibrated", "weak", "advice" */
    json_decref(j);
    rc = lk_err_set(&eb, LK_ENOMEM, "out of memory");
    goto out;
  }
  if (q.json) {
    if (q.collapse) json_object_set_new(j, "collapse", json_string(q.collapse == LK_COLLAPSE_DUPLICATES ? "duplicates" : "variants"));
    if (q.collapse && is_similar) /* the item's own duplicates / other colours, as the API gives them */
      json_object_set_new(j, q.collapse == LK_COLLAPSE_DUPLICATES ? "duplicates" : "variants",
                          lk_collapse_members_json(e, &self, q.collapse));
    json_object_set_new(j, "k", json_integer(q.k));
    json_object_set_new(j, "count", json_integer(n));
    json_object_set_new(j, "catalog_size", json_integer((json_int_t)lk_engine_size(e)));
    json_object_set_new(j, "load_ms", json_real(t_load * 1e3));
    json_object_set_new(j, "took_ms", json_real(t_query * 1e3));
    print_json(j);
  } else {
    if (q.collapse && is_similar && self.n) { /* the item's own group first */
      printf("item %s itself: ", arg);
      print_members(e, &self, q.collapse);
    }
    if (q.collapse) print_groups(e, groups, n, q.collapse);
    else print_hits(e, hits, n);
    fprintf(stderr, "%d results from %zu items in %.1f ms (catalog load %.0f ms)\n", n, lk_engine_size(e),
            t_query * 1e3, t_load * 1e3);
    print_advice(e, j);
  }
  json_decref(j);
out:
  if (rc) {
    if (q.json) {
      json_t *ej = json_pack("{s:s, s:s}", "error", lk_err_msg(&eb), "code", lk_strerror(rc));
      print_json(ej);
      json_decref(ej);
    }
    fprintf(stderr, "lookalike %s: %s\n", cmd, lk_err_msg(&eb));
  }
  free(hits);
  free(groups);
  lk_engine_close(e);
  return lk_cli_exit_code(rc);
}

/* ---------------------------------------------------------------- info / check */

/* `check`: the stored recipe parses, reads back the same and has the recorded id. */
static int check_recipe(lk_catalog *cat, lk_errbuf *eb) {
  char *recipe = NULL, *rid = NULL;
  int rc = lk_catalog_get_meta(cat, "recipe", &recipe);
  if (rc == LK_ENOTFOUND) return 0; /* an empty catalog: nothing indexed yet */
  if (!rc && (rc = lk_catalog_get_meta(cat, "recipe_id", &rid)) == LK_ENOTFOUND) rc = 0;
  if (rc) lk_catalog_fail(cat, rc, eb, NULL);
  else rc = lk_recipe_check_stored(recipe, rid, eb);
  free(recipe);
  free(rid);
  return rc;
}

/* `check` and `info`: the stored match-strength calibration parses and is the recipe's; 0 with
 * *why NULL when so, 0 with *why saying why not when the catalog is uncalibrated (or has
 * nothing indexed), LK_ECORRUPT when the stored text is damaged. */
static int check_calibration(lk_catalog *cat, const char **why, lk_errbuf *eb) {
  char *rid = NULL;
  lk_calibration c;
  *why = NULL;
  int rc = lk_catalog_get_meta(cat, "recipe_id", &rid);
  if (rc == LK_ENOTFOUND) {
    *why = "uncalibrated (nothing indexed yet)";
    return 0;
  }
  if (rc) return lk_catalog_fail(cat, rc, eb, NULL);
  rc = lk_calibration_load(cat, rid, &c, why, eb);
  free(rid);
  return rc == LK_ENOTFOUND ? 0 : rc;
}

/* check: the catalog verified (lk_catalog_check), its recipe and its calibration. */
static int check_catalog(lk_catalog *cat, const char *db, int json) {
  lk_errbuf eb = {0};
  int rc = lk_catalog_check(cat, &eb);
  if (!rc) rc = check_recipe(cat, &eb);
  const char *cal_why = NULL;
  if (!rc) rc = check_calibration(cat, &cal_why, &eb);
  if (json) {
    json_t *j = json_pack("{s:b}", "ok", rc == 0);
    if (rc) json_object_set_new(j, "error", json_string(lk_err_msg(&eb)));
    if (!rc) json_object_set_new(j, "calibrated", json_boolean(!cal_why));
    print_json(j);
    json_decref(j);
  } else if (rc) {
    fprintf(stderr, "lookalike check: %s: %s\n", db, lk_err_msg(&eb));
  } else {
    printf("%s: ok%s%s\n", db, cal_why ? "; match strength " : "", cal_why ? cal_why : "");
  }
  return rc ? LK_EX_FAIL : LK_EX_OK;
}

/* What info shows of a catalog. */
typedef struct info_data {
  lk_catalog *cat;
  int64_t items, vectors, errors;
  int64_t cversion; /* the change sequence's version (-1: none to read) */
  char *recipe, *rid;
  int dim, have_recipe;
  lk_recipe r;
  json_t *sources;
  lk_calibration cal;
  lk_errbuf cb;
  const char *cal_why;
  int cal_rc;
} info_data;

static void info_read(lk_catalog *cat, info_data *d) {
  d->cat = cat;
  lk_catalog_counts(cat, &d->items, &d->vectors, &d->errors);
  if (lk_catalog_version(cat, &d->cversion)) d->cversion = -1;
  lk_catalog_get_meta(cat, "recipe", &d->recipe);
  lk_catalog_get_meta(cat, "recipe_id", &d->rid);
  char *dimtxt = NULL;
  lk_catalog_get_meta(cat, "dim", &dimtxt);
  d->dim = dimtxt ? atoi(dimtxt) : 0;
  free(dimtxt);
  d->have_recipe = d->recipe && lk_recipe_from_json(d->recipe, &d->r, NULL) == 0;
  d->sources = catalog_sources(cat);
  d->cal_rc = d->rid ? lk_calibration_load(cat, d->rid, &d->cal, &d->cal_why, &d->cb) : LK_ENOTFOUND;
  if (!d->rid) d->cal_why = "uncalibrated (nothing indexed yet)";
}

static void info_free(info_data *d) {
  json_decref(d->sources);
  if (d->have_recipe) lk_recipe_clear(&d->r);
  free(d->recipe);
  free(d->rid);
}

/* The recipe's JSON (NULL: none or unreadable) with the projection's weights, which can be
 * tens of MB, summarised. */
static json_t *recipe_summary(const char *recipe) {
  json_t *rj = recipe ? json_loads(recipe, 0, NULL) : NULL;
  json_t *proj = rj ? json_object_get(rj, "projection") : NULL;
  if (json_is_object(proj)) { /* the weights can be tens of MB: summarise them */
    json_t *sum = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(proj, k, v) {
      if (!strcmp(k, "heads") && json_is_array(v)) { /* the heads without their weights */
        json_t *hs = json_array(), *h;
        size_t i;
        json_array_foreach(v, i, h) {
          json_t *hc = json_deep_copy(h);
          json_object_del(hc, "w");
          json_array_append_new(hs, hc);
        }
        json_object_set_new(sum, k, hs);
      } else if (!json_is_string(v) || json_string_length(v) < 256) {
        json_object_set(sum, k, v);
      }
    }
    json_object_set_new(rj, "projection", sum);
  }
  return rj;
}

static void info_json(const char *db, const info_data *d) {
  json_t *j = json_object();
  json_object_set_new(j, "db", lk_results_text(db));
  json_object_set_new(j, "backend", json_string(lk_catalog_backend(d->cat)));
  json_object_set_new(j, "catalog_version", d->cversion >= 0 ? json_integer(d->cversion) : json_null());
  json_object_set_new(j, "items", json_integer(d->items));
  json_object_set_new(j, "vectors", json_integer(d->vectors));
  json_object_set_new(j, "failed", json_integer(d->errors));
  json_object_set_new(j, "sources", d->sources ? json_incref(d->sources) : json_null());
  json_object_set_new(j, "dim", json_integer(d->dim));
  json_object_set_new(j, "recipe_id", d->rid ? json_string(d->rid) : json_null());
  json_object_set_new(j, "index", json_string(lk_engine_index_choice(LK_ENGINE_INDEX_AUTO, (size_t)d->vectors) == LK_ENGINE_INDEX_IVF ? "ivf" : "exact"));
  json_t *rj = recipe_summary(d->recipe);
  json_object_set_new(j, "recipe", rj ? rj : json_null());
  json_object_set_new(j, "calibration", d->cal_rc == 0 ? json_pack("{s:b, s:i, s:f}", "calibrated", 1, "pairs",
                                                                d->cal.pairs_product + d->cal.pairs_kind + d->cal.pairs_other,
                                                                "weak_below", round(lk_calibration_weak_score(&d->cal) * 1e4) / 1e4)
                                                    : json_pack("{s:b, s:s}", "calibrated", 0, "why", d->cal_why ? d->cal_why : lk_err_msg(&d->cb)));
  print_json(j);
  json_decref(j);
}

static void print_recipe(const lk_recipe *r, const char *rid) {
  printf("recipe:    %s (id %s), preprocess %s%s, compute %s\n", r->name, rid ? rid : "?",
         r->preprocess ? "pad-to-square" : "squash", r->flip ? ", flip-averaged" : "",
         lk_recipe_compute_name(r->compute));
  for (int i = 0; i < r->nparts; i++)
    printf("  part %d:  %s  tap %s  pool %d  weight %.2f\n", i + 1, r->part[i].model, r->part[i].tap,
           r->part[i].pool, r->part[i].weight);
  if (r->color_bins) printf("  colour:  %d^3-bin RGB histogram, weight %.2f\n", r->color_bins, r->color_weight);
  if (r->proj) {
    printf("  tuned:   projection %d -> %d (%d layer%s)\n", lk_projection_in(r->proj), lk_projection_out(r->proj),
           r->proj->nlayers, r->proj->nlayers > 1 ? "s" : "");
    for (int h = 0; h < r->proj->nheads; h++)
      printf("  prior:   %s, %d classes, weight %.2f%s\n", r->proj->head[h].field, r->proj->head[h].nclass,
             r->proj->head[h].prior, r->proj->head[h].prior > 0 ? "" : " (off)");
  }
  if (r->prescale) printf("  prescale: photos larger than %d px are shrunk to it first\n", r->prescale);
}

static void info_text(const char *db, const info_data *d) {
  printf("catalog:   %s\n", db);
  if (d->cversion >= 0) printf("version:   %lld (change sequence)\n", (long long)d->cversion);
  printf("dimension: %d\n", d->dim);
  printf("items:     %lld (%lld with vectors, %lld failed photos)\n", (long long)d->items,
         (long long)d->vectors, (long long)d->errors);
  if (d->sources && json_array_size(d->sources)) {
    printf("sources:   %zu (what `lookalike index` fed it from)\n", json_array_size(d->sources));
    print_sources(d->sources, NULL);
  }
  printf("index:     %s (search/serve/eval --index auto: ivf from %d vectors)\n",
         lk_engine_index_choice(LK_ENGINE_INDEX_AUTO, (size_t)d->vectors) == LK_ENGINE_INDEX_IVF ? "ivf" : "exact",
         LK_ENGINE_IVF_AUTO_MIN);
  if (d->have_recipe) {
    print_recipe(&d->r, d->rid);
  } else {
    printf("recipe:    none (nothing indexed yet)\n");
  }
  if (d->cal_rc == 0)
    printf("match:     calibrated on %d pairs; weak below score %.4f (`lookalike calibrate`)\n",
           d->cal.pairs_product + d->cal.pairs_kind + d->cal.pairs_other, lk_calibration_weak_score(&d->cal));
  else
    printf("match:     %s\n", d->cal_why ? d->cal_why : lk_err_msg(&d->cb));
}

static int cmd_info_check(int is_check, int argc, char **argv) {
  const char *cmd = is_check ? "check" : "info";
  static const struct option opts[] = {{"db", required_argument, 0, 'd'}, {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *db = NULL;
  int json = 0, c;
  while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
    if (c == 'd') db = optarg;
    else if (c == 'j') json = 1;
    else if (c == 'h') {
      printf(is_check ? "usage: lookalike check --db catalog.db [--json]\n\nVerifies the SQLite file, "
                        "the schema and that every vector belongs to an item, has the recipe's size and\n"
                        "is finite and normalised, that the recipe reads back with its recorded id, that\n"
                        "the match-strength calibration (if any) is intact, and that each photo stored in\n"
                        "the catalog (products written over HTTP) matches its item's hash; the first bad\n"
                        "item is named. Says whether the catalog is calibrated (`lookalike calibrate`).\n"
                      : "usage: lookalike info --db catalog.db [--json]\n\nItems, vectors, failures, "
                        "sources (with their item counts), change version, recipe, embedding\n"
                        "size and match-strength calibration of a catalog.\n");
      return LK_EX_OK;
    } else return lk_cli_usage(cmd, "unknown option");
  }
  if (!db) {
    if (optind < argc) db = argv[optind];
    else return lk_cli_usage(cmd, "--db is required");
  }
  lk_catalog *cat = NULL;
  lk_errbuf eb = {0};
  int rc = lk_catalog_open(db, LK_CATALOG_READONLY, &cat, &eb);
  if (rc) {
    fprintf(stderr, "lookalike %s: %s\n", cmd, lk_err_msg(&eb));
    return lk_cli_exit_code(rc);
  }
  lk_cli_note(cmd, lk_catalog_note(cat));
  int ex = LK_EX_OK;
  if (is_check) {
    ex = check_catalog(cat, db, json);
  } else {
    info_data d = {0};
    info_read(cat, &d);
    if (json) info_json(db, &d);
    else info_text(db, &d);
    info_free(&d);
  }
  lk_catalog_close(cat);
  return ex;
}

/* ---------------------------------------------------------------- eval */

/* `eval --street DIR`: labelled garment photos searched in the whole catalog (eval.h). */
static int eval_street(const char *db, const lk_engine_opts *eo, const char *dir, long limit, int json, int md) {
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  lk_eval_street *st = calloc(1, sizeof *st);
  int rc = st ? lk_engine_open(db, eo, &e, &eb) : lk_err_set(&eb, LK_ENOMEM, "out of memory");
  if (!rc) lk_cli_note("eval", lk_engine_note(e));
  if (!rc) rc = lk_eval_street_photos(e, dir, limit, st, &eb);
  if (rc) {
    fprintf(stderr, "lookalike eval: %s\n", lk_err_msg(&eb));
    free(st);
    lk_engine_close(e);
    return lk_cli_exit_code(rc);
  }
  const lk_recipe *rec = lk_engine_recipe(e);
  if (json) {
    json_t *j = json_object(), *ls = json_array();
    json_object_set_new(j, "db", lk_results_text(db));
    json_object_set_new(j, "recipe", json_string(rec->name));
    json_object_set_new(j, "items", json_integer((json_int_t)lk_engine_size(e)));
    json_object_set_new(j, "photos", json_integer(st->photos));
    json_object_set_new(j, "undecodable", json_integer(st->failed));
    json_object_set_new(j, "micro_p10", json_real(st->micro_p10));
    json_object_set_new(j, "macro_p10", json_real(st->macro_p10));
    for (int i = 0; i < st->nlabels; i++)
      json_array_append_new(ls, json_pack("{s:s,s:I,s:I,s:f,s:s}", "label", st->label[i].name, "photos",
                                          (json_int_t)st->label[i].photos, "gallery", (json_int_t)st->label[i].gallery,
                                          "p10", st->label[i].p10, "top_wrong", st->label[i].top_wrong));
    json_object_set_new(j, "labels", ls);
    json_object_set_new(j, "seconds", json_real(st->seconds));
    print_json(j);
    json_decref(j);
  } else {
    printf(md ? "Recipe `%s`, %zu items, %ld street photos (%ld undecodable): P@10 by articleType micro %.3f, macro %.3f.\n\n"
                "| label | photos | catalog items of its types | P@10 | commonest wrong type |\n|---|---:|---:|---:|---|\n"
              : "recipe %s, %zu items, %ld street photos (%ld undecodable)\nP@10 by articleType: micro %.3f, macro %.3f\n\n"
                "%-16s %7s %8s %6s  %s\n",
           rec->name, lk_engine_size(e), st->photos, st->failed, st->micro_p10, st->macro_p10, "label", "photos",
           "gallery", "P@10", "commonest wrong type");
    for (int i = 0; i < st->nlabels; i++)
      printf(md ? "| %s | %ld | %ld | %.3f | %s |\n" : "%-16.16s %7ld %8ld %6.3f  %s\n", st->label[i].name,
             st->label[i].photos, st->label[i].gallery, st->label[i].p10, st->label[i].top_wrong);
    fprintf(stderr, "eval took %.1f s\n", st->seconds);
  }
  free(st);
  lk_engine_close(e);
  return LK_EX_OK;
}

/* What `lookalike eval` was asked for. */
typedef struct eval_args {
  const char *db, *same_dir, *street_dir, *fields_arg;
  long sample, breakdown, limit;
  uint64_t seed;
  int json, md;
  lk_eval_scope scope;
  lk_engine_opts eo;
  int fields[LK_EVAL_MAX_FIELDS], nfields;
} eval_args;

/* `lookalike eval --help`. */
static void eval_help(void) {
  printf("usage: lookalike eval --db catalog.db [options]\n\n"
         "Leave-one-out retrieval quality: each sampled item queries the rest of the catalog\n"
         "(itself and byte-identical duplicates excluded); a hit is relevant when it shares the\n"
         "query's label. Reports P@1, P@10, mAP@10 and recall@10 per label field, and P@10 per\n"
         "articleType (worst first).\n\n"
         "  --sample N          queries to draw (default 3000; 0 = every item)\n"
         "  --seed S            sampling seed (default 1)\n"
         "  --fields A,B        label fields (default articleType,baseColour,gender,subCategory)\n"
         "  --same-product DIR  also: for each DIR/ID.jpg, the rank of catalog item ID, and the\n                      share of its top 10 with that item's label values (P@10)\n"
         "  --breakdown N       rows of the per-value table (default 15)\n"
         "  --holdout-mod M     only products of one split (as `lookalike tune` makes it):\n"
         "                      queries and gallery both; test = hash(id) mod M == 0\n"
         "  --split test|train  which split with --holdout-mod (default test)\n"
         "  --index I           auto (default), exact or ivf: the index the queries use\n"
         "  --prior W           a tuned catalog's label-prior weight (default: as tuned; 0 = off)\n"
         "  --multi-crop        same-product photos searched as the photo and 13 crops\n"
         "  --garment on|off    photo queries isolate the garment first (default off)\n"
         "  --street DIR        instead: labelled photos of garments (DIR/labels.csv with image,\n"
         "                      label, articleTypes; DIR/images/IMAGE.jpg), each searched in the\n"
         "                      whole catalog as an upload is; P@10 by articleType per label,\n"
         "                      micro and macro (e.g. ../shared/data/street-photos)\n"
         "  --limit N           --street: the first N photos only (default 0: all)\n"
         "  --models DIR        folder with the .tflite files (photo queries: --same-product, --street)\n"
         "  --json | --markdown output format (default: a table)\n");
}

/* The leave-one-out (and same-product) results as one JSON object on stdout. */
static void eval_print_json(const eval_args *a, lk_engine *e, const lk_eval_result *r, const lk_eval_same *sp) {
  const lk_recipe *rec = lk_engine_recipe(e);
  json_t *j = json_object(), *fm = json_object(), *gr = json_array();
  json_object_set_new(j, "db", lk_results_text(a->db));
  json_object_set_new(j, "recipe", json_string(rec->name));
  json_object_set_new(j, "items", json_integer((json_int_t)lk_engine_size(e)));
  json_object_set_new(j, "sample", json_integer(r->sample));
  json_object_set_new(j, "seed", json_integer((json_int_t)a->seed));
  if (a->scope.holdout_mod > 0)
    json_object_set_new(j, "scope", json_pack("{s:i,s:s}", "holdout_mod", a->scope.holdout_mod, "split",
                                              a->scope.split == LK_EVAL_SPLIT_TEST ? "test" : "train"));
  for (int f = 0; f < r->nfields; f++)
    json_object_set_new(fm, lk_catalog_fields[r->field[f]],
                        json_pack("{s:f,s:f,s:f,s:f,s:I}", "p1", r->m[f].p1, "p10", r->m[f].p10, "map10",
                                  r->m[f].map10, "recall10", r->m[f].r10, "queries", (json_int_t)r->m[f].queries));
  json_object_set_new(j, "metrics", fm);
  for (int g = 0; g < r->ngroups; g++)
    json_array_append_new(gr, json_pack("{s:s,s:I,s:f}", "value", r->groups[g].value, "queries",
                                        (json_int_t)r->groups[g].queries, "p10", r->groups[g].p10));
  json_object_set_new(j, "by_value", gr);
  if (a->same_dir)
    json_object_set_new(j, "same_product",
                        json_pack("{s:I,s:f,s:f,s:I,s:I}", "queries", (json_int_t)sp->queries, "recall1",
                                  sp->queries ? (double)sp->at1 / sp->queries : 0.0, "recall10",
                                  sp->queries ? (double)sp->at10 / sp->queries : 0.0, "not_in_catalog",
                                  (json_int_t)sp->missing, "undecodable", (json_int_t)sp->failed));
  if (a->same_dir) {
    json_t *sm = json_object_get(j, "same_product"), *lp = json_object();
    for (int f = 0; f < sp->nfields; f++)
      json_object_set_new(lp, lk_catalog_fields[sp->field[f]], json_real(sp->p10[f]));
    json_object_set_new(sm, "p10", lp);
  }
  json_object_set_new(j, "seconds", json_real(r->seconds + sp->seconds));
  print_json(j);
  json_decref(j);
}

/* The leave-one-out (and same-product) results as a table, or Markdown with --markdown. */
static void eval_print_table(const eval_args *a, lk_engine *e, const lk_eval_result *r, const lk_eval_same *sp) {
  const lk_recipe *rec = lk_engine_recipe(e);
  if (a->scope.holdout_mod > 0)
    printf(a->md ? "Only the %s split (hash(id) mod %d %s 0), queries and gallery.\n\n" : "only the %s split (hash(id) mod %d %s 0), queries and gallery\n",
           a->scope.split == LK_EVAL_SPLIT_TEST ? "test" : "training", a->scope.holdout_mod,
           a->scope.split == LK_EVAL_SPLIT_TEST ? "==" : "!=");
  if (a->md) printf("Recipe `%s`, %zu items, %ld queries (seed %llu), leave-one-out.\n\n| field | P@1 | P@10 | mAP@10 | R@10 | queries |\n|---|---|---|---|---|---|\n",
                 rec->name, lk_engine_size(e), r->sample, (unsigned long long)a->seed);
  else printf("recipe %s, %zu items, %ld queries (seed %llu), leave-one-out\n\n%-14s  %6s  %6s  %6s  %6s  %7s\n",
              rec->name, lk_engine_size(e), r->sample, (unsigned long long)a->seed, "relevance", "P@1", "P@10", "mAP@10", "R@10", "queries");
  for (int f = 0; f < r->nfields; f++)
    printf(a->md ? "| %s | %.3f | %.3f | %.3f | %.3f | %ld |\n" : "%-14s  %6.3f  %6.3f  %6.3f  %6.3f  %7ld\n",
           lk_catalog_fields[r->field[f]], r->m[f].p1, r->m[f].p10, r->m[f].map10, r->m[f].r10, r->m[f].queries);
  if (a->breakdown > 0 && r->ngroups) {
    printf(a->md ? "\n| %s (worst first) | queries | P@10 |\n|---|---|---|\n" : "\n%-24s  %7s  %6s   (worst first)\n",
           lk_catalog_fields[r->field[0]], "queries", "P@10");
    for (int g = 0; g < r->ngroups && g < a->breakdown; g++)
      printf(a->md ? "| %s | %ld | %.3f |\n" : "%-24.24s  %7ld  %6.3f\n", r->groups[g].value, r->groups[g].queries,
             r->groups[g].p10);
  }
  if (a->same_dir)
    printf("\nsame product (%s): %ld photos, recall@1 %.3f, recall@10 %.3f (%ld not in catalog, %ld undecodable)\n",
           a->same_dir, sp->queries, sp->queries ? (double)sp->at1 / sp->queries : 0.0,
           sp->queries ? (double)sp->at10 / sp->queries : 0.0, sp->missing, sp->failed);
  if (a->same_dir && sp->queries) {
    printf("  their top 10 share the product's");
    for (int f = 0; f < sp->nfields; f++) printf("%s %s %.3f", f ? "," : "", lk_catalog_fields[sp->field[f]], sp->p10[f]);
    printf("  (P@10)\n");
  }
  fprintf(stderr, "eval took %.1f s\n", r->seconds + sp->seconds);
}

/* One option into a. Returns -1 to go on, else the exit code. */
static int eval_opt(eval_args *a, int c) {
  switch (c) {
  case 'd': a->db = optarg; break;
  case 'n': if (lk_cli_long("eval", "--sample", optarg, 0, LONG_MAX, &a->sample)) return LK_EX_USAGE; break;
  case 's': if (lk_cli_u64("eval", "--seed", optarg, &a->seed)) return LK_EX_USAGE; break;
  case 'f': a->fields_arg = optarg; break;
  case 'p': a->same_dir = optarg; break;
  case 'j': a->json = 1; break;
  case 'M': a->md = 1; break;
  case 'm': a->eo.models_dir = optarg; break;
  case 'b': if (lk_cli_long("eval", "--breakdown", optarg, 0, 1000000, &a->breakdown)) return LK_EX_USAGE; break;
  case 'B': if (parse_backend(optarg, &a->eo.backend)) return lk_cli_usage("eval", "--backend is ref or dnnl"); break;
  case 'X': if (lk_engine_index_parse(optarg, &a->eo.index)) return lk_cli_usage("eval", "--index is auto, exact or ivf"); break;
  case 'P': if (lk_cli_float("eval", "--prior", optarg, 0, 100, &a->eo.prior)) return LK_EX_USAGE; break;
  case 'U': a->scope.multi_crop = 1; break;
  case 'T': a->street_dir = optarg; break;
  case 'G': if (lk_engine_garment_parse(optarg, &a->eo.garment)) return lk_cli_usage("eval", "--garment is on or off"); break;
  case 'L': if (lk_cli_long("eval", "--limit", optarg, 0, LONG_MAX, &a->limit)) return LK_EX_USAGE; break;
  case 'H': if (lk_cli_int("eval", "--holdout-mod", optarg, 0, 1000000, &a->scope.holdout_mod)) return LK_EX_USAGE; break;
  case 'S':
    if (!strcmp(optarg, "test")) a->scope.split = LK_EVAL_SPLIT_TEST;
    else if (!strcmp(optarg, "train")) a->scope.split = LK_EVAL_SPLIT_TRAIN;
    else return lk_cli_usage("eval", "--split is test or train");
    break;
  case 'h': eval_help(); return LK_EX_OK;
  default: return lk_cli_usage("eval", "unknown option");
  }
  return -1;
}

/* The command line into a, with --fields resolved. Returns -1 to go on, else the exit code. */
static int eval_parse(eval_args *a, int argc, char **argv) {
  static const struct option opts[] = {
      {"db", required_argument, 0, 'd'},       {"sample", required_argument, 0, 'n'},
      {"seed", required_argument, 0, 's'},     {"fields", required_argument, 0, 'f'},
      {"same-product", required_argument, 0, 'p'}, {"json", no_argument, 0, 'j'},
      {"markdown", no_argument, 0, 'M'},       {"models", required_argument, 0, 'm'},
      {"breakdown", required_argument, 0, 'b'}, {"backend", required_argument, 0, 'B'},
      {"holdout-mod", required_argument, 0, 'H'}, {"split", required_argument, 0, 'S'},
      {"index", required_argument, 0, 'X'},    {"prior", required_argument, 0, 'P'},
      {"multi-crop", no_argument, 0, 'U'},     {"street", required_argument, 0, 'T'},
      {"limit", required_argument, 0, 'L'},    {"garment", required_argument, 0, 'G'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  int c, ex;
  while ((c = getopt_long(argc, argv, "d:n:s:f:p:jMm:b:h", opts, NULL)) != -1)
    if ((ex = eval_opt(a, c)) >= 0) return ex;
  if (!a->db) return lk_cli_usage("eval", "--db is required");
  char buf[512];
  snprintf(buf, sizeof buf, "%s", a->fields_arg);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    int f = lk_filter_field(tok);
    if (f < 0) return lk_cli_usage("eval", "unknown field in --fields");
    if (a->nfields == LK_EVAL_MAX_FIELDS) return lk_cli_usage("eval", "at most 4 --fields");
    a->fields[a->nfields++] = f;
  }
  if (!a->nfields) return lk_cli_usage("eval", "--fields is empty");
  return -1;
}

static int cmd_eval(int argc, char **argv) {
  eval_args a = {.fields_arg = "articleType,baseColour,gender,subCategory", .sample = 3000, .breakdown = 15,
                 .seed = 1, .scope = {0, LK_EVAL_SPLIT_TEST, 0}};
  lk_engine_opts_default(&a.eo);
  int ex = eval_parse(&a, argc, argv);
  if (ex >= 0) return ex;
  if (a.street_dir) return eval_street(a.db, &a.eo, a.street_dir, a.limit, a.json, a.md);
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  lk_eval_result *r = calloc(1, sizeof *r);
  lk_eval_same sp = {0};
  int rc = r ? lk_engine_open(a.db, &a.eo, &e, &eb) : LK_ENOMEM;
  if (!rc) lk_cli_note("eval", lk_engine_note(e));
  if (!rc) rc = lk_eval_loo_scoped(e, &a.scope, a.fields, a.nfields, a.sample, a.seed, r, &eb);
  if (!rc && a.same_dir) rc = lk_eval_same_product_scoped(e, &a.scope, a.same_dir, 0, a.fields, a.nfields, &sp, &eb);
  if (rc) {
    fprintf(stderr, "lookalike eval: %s\n", lk_err_msg(&eb));
    free(r);
    lk_engine_close(e);
    return lk_cli_exit_code(rc);
  }
  if (a.json) eval_print_json(&a, e, r, &sp);
  else eval_print_table(&a, e, r, &sp);
  free(r);
  lk_engine_close(e);
  return LK_EX_OK;
}

/* ---------------------------------------------------------------- model */

static int cmd_model(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: lookalike model FILE.tflite\n\nLoads and validates a TFLite model and lists its "
           "tensors (index, name, shape): the names are what recipes tap.\n");
    return argc < 2 ? LK_EX_USAGE : LK_EX_OK;
  }
  lk_model *m = NULL;
  lk_errbuf eb = {0};
  int rc = lk_model_load(argv[1], &m, &eb);
  if (rc) {
    fprintf(stderr, "lookalike model: %s\n", lk_err_msg(&eb));
    return lk_cli_exit_code(rc);
  }
  int n = lk_model_tensor_count(m);
  for (int i = 0; i < n; i++) {
    int dims[4] = {0}, nd = 0;
    lk_model_tensor_shape(m, i, dims, &nd);
    printf("%4d  [", i);
    for (int d = 0; d < nd; d++) printf(d ? ",%d" : "%d", dims[d]);
    printf("]  %s\n", lk_model_tensor_name(m, i));
  }
  lk_model_free(m);
  return LK_EX_OK;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    fputs(USAGE, argc < 2 ? stderr : stdout);
    return argc < 2 ? LK_EX_USAGE : LK_EX_OK;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("lookalike %s\n", LK_VERSION);
    return LK_EX_OK;
  }
  const char *cmd = argv[1];
  argc--;
  argv++;
  optind = 1;
  if (!strcmp(cmd, "index")) return cmd_index(argc, argv);
  if (!strcmp(cmd, "search")) return run_query(0, argc, argv);
  if (!strcmp(cmd, "similar")) return run_query(1, argc, argv);
  if (!strcmp(cmd, "info")) return cmd_info_check(0, argc, argv);
  if (!strcmp(cmd, "check")) return cmd_info_check(1, argc, argv);
  if (!strcmp(cmd, "model")) return cmd_model(argc, argv);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
  if (!strcmp(cmd, "serve")) return lk_cli_serve(argc, argv);
  if (!strcmp(cmd, "tune")) return lk_cli_tune(argc, argv);
  if (!strcmp(cmd, "calibrate")) return lk_cli_calibrate(argc, argv);
  if (!strcmp(cmd, "map")) return lk_cli_map(argc, argv);
  if (!strcmp(cmd, "optimize")) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    return lk_cli_optimize(argc, argv, &g_stop);
  }
  if (!strcmp(cmd, "export")) return lk_cli_export(argc, argv);
  if (!strcmp(cmd, "migrate")) return lk_cli_migrate(argc, argv);
  if (!strcmp(cmd, "keys")) return lk_cli_keys(argc, argv);
  if (!strcmp(cmd, "dups")) return lk_cli_dups(argc, argv);
  if (!strcmp(cmd, "recommend")) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    return lk_cli_recommend(argc, argv, &g_stop);
  }
  fprintf(stderr, "lookalike: unknown command '%s'\n\n%s", cmd, USAGE);
  return LK_EX_USAGE;
}
