/* cli/tune.c — `lookalike tune`: learns a projection of a catalog's frozen embedding on its
 * own label fields (training split only) and writes a tuned catalog whose recipe carries the
 * projection. Work in progress: options are parsed, the training lands in src/tune/. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/tune.h"

static const char *HELP =
    "usage: lookalike tune --db catalog.db --labels articleType,baseColour,gender --out tuned.db\n"
    "\n"
    "Learns a projection of the catalog's embedding on its own labels (not yet implemented).\n";

int lk_cli_tune(int argc, char **argv) {
  static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'h') {
      fputs(HELP, stdout);
      return 0;
    }
    fputs(HELP, stderr);
    return 2;
  }
  fputs("lookalike tune: not implemented yet\n", stderr);
  return 1;
}
