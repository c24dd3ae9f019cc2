/* cli/recommend.h — the `lookalike recommend` subcommand: every product's top-k neighbours
 * to a CSV file (search/recommend.h), a progress bar on a terminal, a summary or --json.
 * Called from cli/main.c. */
#ifndef LK_CLI_RECOMMEND_H
#define LK_CLI_RECOMMEND_H

#include <signal.h>

/* Runs `lookalike recommend ...`; returns the process exit code (130 when *stop, main()'s
 * signal flag, is set during the search: FILE is left as it was). */
int lk_cli_recommend(int argc, char **argv, volatile sig_atomic_t *stop);

#endif
