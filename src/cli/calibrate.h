/* cli/calibrate.h — `lookalike calibrate`: the catalog's match-strength calibration
 * (search/calibrate.h) computed and stored; also run at the end of `index` and `tune`.
 * Called from cli/main.c with the full argv (argv[0] == "calibrate"). */
#ifndef LK_CLI_CALIBRATE_H
#define LK_CLI_CALIBRATE_H

#include "search/calibrate.h"

/* Loads the catalog at db (models: NULL = default search; backend: enum lk_backend), computes
 * its calibration with o (NULL = defaults) and stores it. *out (may be NULL) gets it, *seconds
 * (may be NULL) the time taken. 0 or an LK_E* code with the message in err. */
int lk_cli_calibrate_db(const char *db, const char *models, int backend, const lk_calibrate_opts *o,
                        lk_calibration *out, double *seconds, lk_errbuf *err);
/* One line a person reads: "match strength calibrated on N pairs in S s: weak below score T". */
void lk_cli_calibrate_print(const lk_calibration *c, double seconds);
/* Runs `lookalike calibrate ...`; returns the process exit code. */
int lk_cli_calibrate(int argc, char **argv);

#endif
