/* cli/calibrate.h — `lookalike calibrate`: the catalog's match-strength calibration
 * (search/calibrate.h) computed and stored; also run at the end of `index` and `tune`.
 * Called from cli/main.c with the full argv (argv[0] == "calibrate"). */
#ifndef LK_CLI_CALIBRATE_H
#define LK_CLI_CALIBRATE_H

#include "search/calibrate.h"

/* One line a person reads: "match strength calibrated on N pairs in S s: weak below score T". */
void lk_cli_calibrate_print(const lk_calibration *c, double seconds);
/* The same line from the pairs' counts and the weak score (lk_calibration_weak_score). */
void lk_cli_calibrate_print_pairs(int product, int kind, int other, float weak, double seconds);
/* Runs `lookalike calibrate ...`; returns the process exit code. */
int lk_cli_calibrate(int argc, char **argv);

#endif
