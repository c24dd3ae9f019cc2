/* cli/tune.h — the `lookalike tune` subcommand: learn a projection of a catalog's frozen
 * embedding on its own labels and write a tuned catalog. Called from cli/main.c with the full
 * argv (argv[0] == "tune"). */
#ifndef LK_CLI_TUNE_H
#define LK_CLI_TUNE_H

/* Runs `lookalike tune ...`; returns the process exit code. */
int lk_cli_tune(int argc, char **argv);

#endif
