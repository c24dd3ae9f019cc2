/* cli/cli.c — exit codes, usage errors, the clock and the progress bar shared by the
 * subcommands (cli.h). */
#include "cli/cli.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lookalike.h"
#include "util/num.h"

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

static int bad_number(const char *cmd, const char *opt, const char *s, const char *what, double lo, double hi) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s must be %s in %g..%g (got '%.40s')", opt, what, lo, hi, s);
  return lk_cli_usage(cmd, msg);
}

int lk_cli_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
  return lk_num_int(s, lo, hi, out) ? bad_number(cmd, opt, s, "an integer", (double)lo, (double)hi) : 0;
}

int lk_cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out) {
  long v;
  if (lk_cli_long(cmd, opt, s, lo, hi, &v)) return LK_EX_USAGE;
  *out = (int)v;
  return 0;
}

int lk_cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
  if (!lk_num_u64(s, out)) return 0;
  char msg[256];
  snprintf(msg, sizeof msg, "%s must be an integer in 0..18446744073709551615 (got '%.40s')", opt, s);
  return lk_cli_usage(cmd, msg);
}

int lk_cli_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
  return lk_num_double(s, lo, hi, out) ? bad_number(cmd, opt, s, "a finite number", lo, hi) : 0;
}

int lk_cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out) {
  double v;
  if (lk_cli_double(cmd, opt, s, lo, hi, &v)) return LK_EX_USAGE;
  if (fabs(v) > FLT_MAX) return bad_number(cmd, opt, s, "a finite number", lo, hi); /* inf as a float */
  *out = (float)v;
  return 0;
}

int lk_cli_int_list(const char *s, char sep, int n, long lo, long hi, int *out) {
  char tok[32];
  for (int i = 0; i < n; i++) {
    const char *e = i + 1 < n ? strchr(s, sep) : s + strlen(s);
    long v;
    if (!e || (size_t)(e - s) >= sizeof tok) return -1;
    memcpy(tok, s, (size_t)(e - s));
    tok[e - s] = '\0';
    if (lk_num_int(tok, lo, hi, &v)) return -1;
    out[i] = (int)v;
    s = e + 1;
  }
  return 0;
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

int lk_cli_progress(void *ctx, size_t done, size_t total) {
  lk_cli_progress_ctx *p = ctx;
  if (p->tty) lk_cli_bar(p->label, (long)done, (long)total, p->t0);
  p->shown = done;
  return p->stop && *p->stop;
}
