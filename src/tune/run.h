/* tune/run.h — the whole of `lookalike tune` as one library call: load a catalog's raw vectors
 * and labels (tune/tune.h), optionally add street-like views, train a projection (tune/train.h),
 * measure leave-one-out P@10 on both splits raw and tuned, write the tuned recipe and/or the
 * tuned catalog, and calibrate its match strength. Prints nothing: the figures land in
 * lk_tune_stats and a progress callback says when each phase is done (cli/tune.c prints them). */
#ifndef LK_TUNE_RUN_H
#define LK_TUNE_RUN_H

#include <signal.h>
#include <stdint.h>

#include "util/err.h"

/* lk_tune_opts, lk_tune_stats, lk_tune_opts_default, lk_tune_run: public, lookalike.h. */

#endif
