/* cli/optimize.h — the `lookalike optimize` subcommand: builds the catalog's IVF index and
 * saves it beside the catalog (CATALOG.lkx, index/lkx.h) so that `serve` maps it at start.
 * Called from cli/main.c with the full argv (argv[0] == "optimize"). */
#ifndef LK_CLI_OPTIMIZE_H
#define LK_CLI_OPTIMIZE_H

/* Runs `lookalike optimize ...`; returns the process exit code. */
int lk_cli_optimize(int argc, char **argv);

#endif
