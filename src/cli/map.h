/* cli/map.h — the `lookalike map` subcommand: a 2-D map of a catalog's embedding space
 * (PCA + Barnes-Hut t-SNE, map/map.h), stored in the catalog and drawn as PNG/SVG.
 * Called from cli/main.c with the full argv (argv[0] == "map"). */
#ifndef LK_CLI_MAP_H
#define LK_CLI_MAP_H

/* Runs `lookalike map ...`; returns the process exit code. */
int lk_cli_map(int argc, char **argv);

#endif
