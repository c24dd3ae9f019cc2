/* cli/cli.c — exit codes, usage errors, the clock and the progress bar shared by the
 * subcommands (cli.h). */
#include "cli/cli.h"

#include <stdio.h>
#include <time.h>

#include "lookalike.h"

int lk_cli_exit_code(int rc) {
  switch (rc) {
  case 0: return LK_EX_OK;
  case LK_EINVAL: return LK_EX_USAGE;
  case LK_ENOTFOUND: return LK_EX_NOTFOUND;
  case LK_EDECODE: case LK_EUNSUPPORTED: case LK_ETOOBIG: return LK_EX_BADINPUT;
  case LK_EINTR: return LK_EX_INTR;
  default: return LK_EX_FAIL;
  }
}

void lk_cli_note(const char *cmd, const char *note) {
  if (note) fprintf(stderr, "lookalike %s: note: %s\n", cmd, note);
}

int lk_cli_usage(const char *cmd, const char *msg) {
  fprintf(stderr, "lookalike %s: %s\n(see `lookalike %s --help`)\n", cmd, msg, cmd);
  return LK_EX_USAGE;
}

double lk_cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void lk_cli_bar(const char *label, long done, long total, double t0) {
  int w = 30, fill = total ? (int)(done * w / total) : w;
  double el = lk_cli_now() - t0, eta = done ? el * (double)(total - done) / (double)done : 0;
  fprintf(stderr, "\r%s [%.*s%*s] %ld/%ld  %.0f s, ETA %.0f s ", label, fill, "##############################", w - fill,
          "", done, total, el, eta);
  if (done == total) fputc('\n', stderr);
}
