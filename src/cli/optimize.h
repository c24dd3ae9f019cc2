/* cli/optimize.h — the `lookalike optimize` subcommand: builds the catalog's IVF index and
 * saves it beside the catalog (CATALOG.lkx, index/lkx.h) so that `serve` maps it at start.
 * Called from cli/main.c with the full argv (argv[0] == "optimize"). */
#ifndef LK_CLI_OPTIMIZE_H
#define LK_CLI_OPTIMIZE_H

#include <signal.h>

/* Runs `lookalike optimize ...`; returns the process exit code (130 when *stop was set: the
 * build stops, the file there before is kept). */
int lk_cli_optimize(int argc, char **argv, volatile sig_atomic_t *stop);
/* After `lookalike index` of db: a catalog of LK_ENGINE_IVF_AUTO_MIN vectors or more gets its
 * saved index, so the first `serve` maps it (smaller ones get the exact index, built at open
 * in seconds: nothing to save). json: print nothing on stdout; quiet: no progress line.
 * Returns an exit code (a failure to save leaves the catalog as indexed; *stop set: stopped). */
int lk_cli_optimize_after_index(const char *db, int json, int quiet, volatile sig_atomic_t *stop);

#endif
