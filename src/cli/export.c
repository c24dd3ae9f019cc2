/* cli/export.c — `lookalike export --format F --out PATH` and `lookalike migrate --from A
 * --to B` (see export.h): option parsing, a one-line summary (or --json), exit codes. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/export.h"

#include "catalog/catalog.h"
#include "catalog/migrate.h"
#include "cli/cli.h"
#include "export/export.h"
#include "lookalike.h"

static const char *EXPORT_HELP =
    "usage: lookalike export --db CATALOG --format F --out PATH [--name NAME] [--batch N] [--json]\n"
    "\n"
    "Writes every item that has a vector (exactly once, in id order) with its metadata in a\n"
    "format another vector engine ingests (loading each: docs/DEPLOY.md, \"Export\"):\n"
    "\n"
    "  --format jsonl     PATH is a file: one {\"id\",\"vector\",\"path\",fields...,\"extra\"} per line\n"
    "  --format qdrant    PATH is a folder: collection.json (create the collection) and\n"
    "                     points-00001.json... (bodies of PUT /collections/NAME/points)\n"
    "  --format milvus    PATH is a folder: schema.json and rows-00001.json... (bulk insert,\n"
    "                     row-based JSON {\"rows\":[...]})\n"
    "  --format pgvector  PATH is a file: an SQL script (CREATE TABLE, COPY, HNSW index) for\n"
    "                     psql into a database with the pgvector extension\n"
    "  --format npy       PATH is a folder: id.npy, vector.npy and a .npy per text field\n"
    "                     (NumPy; also Milvus's column-based bulk insert)\n"
    "  --format csv       PATH is a file: CSV (RFC 4180) with a header: id, the styles.csv\n"
    "                     fields, path, extra (JSON text), then the vector as v0..v{dim-1},\n"
    "                     one number per column (what a spreadsheet or pandas reads as is)\n"
    "\n"
    "  --db FILE|URL      the catalog (SQLite file or postgresql://...)\n"
    "  --name NAME        collection / table name (default lookalike)\n"
    "  --batch N          points per file for qdrant (default 256) and milvus (default 10000)\n"
    "  --json             print the summary as JSON\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 catalog not found\n";

static const char *MIGRATE_HELP =
    "usage: lookalike migrate --from CATALOG --to CATALOG [--json]\n"
    "\n"
    "Makes --to a copy of --from: meta (the recipe), items and vectors, in transactions of\n"
    "2,000 rows; items --to has and --from not are removed. Either side may be a SQLite file or\n"
    "a postgresql://user@host/db URL, e.g.\n"
    "  lookalike migrate --from catalog.db --to postgresql://lookalike@db.internal/shop\n"
    "Running it again finishes an interrupted copy; on an up-to-date copy it changes nothing.\n"
    "A --to catalog of another recipe is refused.\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 --from not found\n";

static void print_json(json_t *o) {
  char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s) puts(s);
  free(s);
  json_decref(o);
}

int lk_cli_export(int argc, char **argv) {
  static const struct option opts[] = {
      {"db", required_argument, 0, 'd'},    {"format", required_argument, 0, 'f'},
      {"out", required_argument, 0, 'o'},   {"name", required_argument, 0, 'n'},
      {"batch", required_argument, 0, 'b'}, {"json", no_argument, 0, 'j'},
      {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
  lk_export_opts o;
  lk_export_opts_default(&o);
  int json = 0, c, have_format = 0;
  while ((c = getopt_long(argc, argv, "d:f:o:n:b:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': o.db = optarg; break;
    case 'f':
      if (lk_export_format_parse(optarg, &o.format)) return lk_cli_usage("export", "--format is jsonl, qdrant, milvus, pgvector, npy or csv");
      have_format = 1;
      break;
    case 'o': o.out = optarg; break;
    case 'n': o.name = optarg; break;
    case 'b': if (lk_cli_long("export", "--batch", optarg, 1, 10000000, &o.batch)) return LK_EX_USAGE; break;
    case 'j': json = 1; break;
    case 'h': fputs(EXPORT_HELP, stdout); return LK_EX_OK;
    default: return lk_cli_usage("export", "unknown option");
    }
  }
  if (optind != argc) return lk_cli_usage("export", "unexpected argument");
  if (!o.db) return lk_cli_usage("export", "--db is required");
  if (!have_format) return lk_cli_usage("export", "--format is required");
  if (!o.out) return lk_cli_usage("export", "--out is required");
  lk_export_stats st;
  lk_errbuf eb = {0};
  double t0 = lk_cli_now();
  int rc = lk_export_run(&o, &st, &eb);
  if (json) {
    json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:i, s:f}", "ok", rc == 0, "out", o.out, "items",
                          (json_int_t)st.items, "exported", (json_int_t)st.exported, "skipped",
                          (json_int_t)st.skipped, "files", (json_int_t)st.files, "dim", st.dim, "seconds",
                          lk_cli_now() - t0);
    if (j && rc) json_object_set_new(j, "error", json_string(lk_err_msg(&eb)));
    if (j) print_json(j);
  } else if (rc) {
    fprintf(stderr, "lookalike export: %s\n", lk_err_msg(&eb));
  } else {
    printf("exported %ld items (%d-d vectors) to %s in %ld file%s in %.1f s", st.exported, st.dim, o.out, st.files,
           st.files == 1 ? "" : "s", lk_cli_now() - t0);
    if (st.skipped) printf("; %ld items without a vector left out", st.skipped);
    printf("\n");
  }
  return lk_cli_exit_code(rc == LK_EINVAL ? LK_EINVAL : rc);
}

static void migrate_progress(void *ctx, const lk_migrate_stats *st) {
  if (!*(int *)ctx) return;
  fprintf(stderr, "\r\033[K%ld items, %ld vectors copied", st->items, st->vectors);
}

int lk_cli_migrate(int argc, char **argv) {
  static const struct option opts[] = {{"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'},
                                       {"json", no_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *from = NULL, *to = NULL;
  int json = 0, c;
  while ((c = getopt_long(argc, argv, "f:t:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'f': from = optarg; break;
    case 't': to = optarg; break;
    case 'j': json = 1; break;
    case 'h': fputs(MIGRATE_HELP, stdout); return LK_EX_OK;
    default: return lk_cli_usage("migrate", "unknown option");
    }
  }
  if (optind != argc) return lk_cli_usage("migrate", "unexpected argument");
  if (!from || !to) return lk_cli_usage("migrate", "--from and --to are required");
  if (!strcmp(from, to)) return lk_cli_usage("migrate", "--from and --to are the same catalog");
  int tty = !json && isatty(2);
  lk_migrate_stats st;
  lk_errbuf eb = {0};
  int rc = lk_migrate_run(from, to, migrate_progress, &tty, &st, &eb);
  if (tty) fprintf(stderr, "\r\033[K");
  if (json) {
    json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:f}", "ok", rc == 0, "meta", (json_int_t)st.meta, "items",
                          (json_int_t)st.items, "vectors", (json_int_t)st.vectors, "removed", (json_int_t)st.removed,
                          "keys", (json_int_t)st.keys, "seconds", st.seconds);
    if (j && rc) json_object_set_new(j, "error", json_string(lk_err_msg(&eb)));
    if (j) print_json(j);
  } else if (rc) {
    fprintf(stderr, "lookalike migrate: %s\n", lk_err_msg(&eb));
  } else {
    printf("copied %ld items, %ld vectors and %ld meta keys in %.1f s", st.items, st.vectors, st.meta, st.seconds);
    if (st.removed) printf("; removed %ld items the source does not have", st.removed);
    if (st.keys) printf("; %ld API key%s added or revoked", st.keys, st.keys == 1 ? "" : "s");
    printf("\n");
  }
  return lk_cli_exit_code(rc);
}
