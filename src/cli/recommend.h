/* cli/recommend.h — the `lookalike recommend` subcommand: every product's top-k neighbours
 * to a CSV file (search/recommend.h), a progress bar on a terminal, a summary or --json.
 * Called from cli/main.c. */
#ifndef LK_CLI_RECOMMEND_H
#define LK_CLI_RECOMMEND_H

/* Runs `lookalike recommend ...`; returns the process exit code. */
int lk_cli_recommend(int argc, char **argv);

#endif
