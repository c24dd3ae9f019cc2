/* cli/dups.h — the `lookalike dups` subcommand: the catalog's near-duplicate groups
 * (search/collapse.h lk_dups_find), as a table or --json. Called from cli/main.c. */
#ifndef LK_CLI_DUPS_H
#define LK_CLI_DUPS_H

/* Runs `lookalike dups ...`; returns the process exit code. */
int lk_cli_dups(int argc, char **argv);

#endif
