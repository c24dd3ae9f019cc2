/* cli/cli.h — what every `lookalike` subcommand shares: the exit-code mapping, the usage-error
 * message, a monotonic clock for rates, and the progress bar of long steps. */
#ifndef LK_CLI_CLI_H
#define LK_CLI_CLI_H

/* Exit codes (documented in `lookalike --help`). */
enum { LK_EX_OK = 0, LK_EX_FAIL = 1, LK_EX_USAGE = 2, LK_EX_NOTFOUND = 3, LK_EX_BADINPUT = 4,
       LK_EX_INTR = 130 };

/* Maps an LK_E* code to the exit code. */
int lk_cli_exit_code(int rc);
/* Prints "lookalike CMD: MSG (see `lookalike CMD --help`)" to stderr; returns LK_EX_USAGE. */
int lk_cli_usage(const char *cmd, const char *msg);
/* Prints "lookalike CMD: note: NOTE" on stderr; nothing for a NULL note. */
void lk_cli_note(const char *cmd, const char *note);
/* Seconds on a monotonic clock. */
double lk_cli_now(void);
/* Redraws "LABEL [####    ] done/total  S s, ETA S s" on stderr (t0: lk_cli_now() at the
 * start), ending the line when done == total. The caller decides whether stderr shows it. */
void lk_cli_bar(const char *label, long done, long total, double t0);

#endif
