/* cli/cli.h — what every `lookalike` subcommand shares: the exit-code mapping, the usage-error
 * message, a monotonic clock for rates, and the progress bar of long steps. */
#ifndef LK_CLI_CLI_H
#define LK_CLI_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in `lookalike --help`). */
enum { LK_EX_OK = 0, LK_EX_FAIL = 1, LK_EX_USAGE = 2, LK_EX_NOTFOUND = 3, LK_EX_BADINPUT = 4,
       LK_EX_INTR = 130 };

/* Maps an LK_E* code to the exit code. */
int lk_cli_exit_code(int rc);
/* Prints "lookalike CMD: MSG (see `lookalike CMD --help`)" to stderr; returns LK_EX_USAGE. */
int lk_cli_usage(const char *cmd, const char *msg);
/* Number options: s must be a whole integer / finite number in [lo, hi] (util/num.h); else
 * prints "lookalike CMD: OPT must be ... (got 'S')" like lk_cli_usage and returns LK_EX_USAGE. */
int lk_cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
int lk_cli_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int lk_cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
int lk_cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);
int lk_cli_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
/* Exactly n integers in [lo, hi] separated by sep ("3/8", "10,20,30,40", "800x600") into
 * out: 0, or -1 (the caller says what the option wants). */
int lk_cli_int_list(const char *s, char sep, int n, long lo, long hi, int *out);
/* Prints "lookalike CMD: note: NOTE" on stderr; nothing for a NULL note. */
void lk_cli_note(const char *cmd, const char *note);
/* Seconds on a monotonic clock. */
double lk_cli_now(void);
/* Redraws "LABEL [####    ] done/total  S s, ETA S s" on stderr (t0: lk_cli_now() at the
 * start), ending the line when done == total. The caller decides whether stderr shows it. */
void lk_cli_bar(const char *label, long done, long total, double t0);
/* A progress callback for the library's long passes (lk_dups_find, lk_recommend_run): draws
 * lk_cli_bar(label, ...) when tty is set, remembers the count shown; asks to stop (returns 1)
 * once *stop is set (main()'s signal flag; NULL: never). */
typedef struct lk_cli_progress_ctx {
  const char *label;
  int tty;      /* draw (stderr is a terminal and the output is not --json) */
  double t0;    /* lk_cli_now() at the start */
  size_t shown; /* the last count passed */
  volatile sig_atomic_t *stop;
} lk_cli_progress_ctx;
int lk_cli_progress(void *ctx, size_t done, size_t total);

#endif
