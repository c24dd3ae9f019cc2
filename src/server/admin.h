/* server/admin.h — the owner's side of `lookalike serve`: GET /api/admin/stats (the catalog's
 * counts, its recent changes, photo searches per hour over the last 24 hours and the share whose
 * best match was weak) for the /admin page (web/admin.*). The search counts live in memory, in
 * one lk_admin per server (thread-safe: request threads record, any thread reads).
 *
 * A "weak" best match: a photo search whose best hit scores below the catalog's weak threshold,
 * the median, over up to LK_ADMIN_SAMPLE items spread evenly over the catalog, of the score of
 * each item's best neighbour of a DIFFERENT articleType (no better than a typical wrong-kind
 * match). Computed once per server, in a thread of its own (lk_admin_start_threshold, which the
 * server calls at its first request), so the start is not delayed; searches made before it is known are classified when it is (up to
 * LK_ADMIN_PENDING of them; later ones count as searches only). That median serves uncalibrated
 * catalogs only: with a match-strength calibration (search/calibrate.h) the threshold is the
 * score where the label reaches "same kind" (lk_calibration_weak_score), so a weak search is
 * one the API answers "weak": true. */
#ifndef LK_SERVER_ADMIN_H
#define LK_SERVER_ADMIN_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "search/engine.h"
#include "server/api.h"

#define LK_ADMIN_HOURS 24     /* hours of search counts kept */
#define LK_ADMIN_SAMPLE 200   /* items sampled for the weak threshold */
#define LK_ADMIN_RECENT 50    /* recent changes listed */
#define LK_ADMIN_PENDING 4096 /* searches kept to classify once the threshold is known */

typedef struct lk_admin lk_admin;
struct lk_live;

/* *out: lk_admin_free. LK_ENOMEM. */
int lk_admin_new(lk_admin **out);
/* Stops and joins the threshold thread if one runs, then frees. NULL-safe. */
void lk_admin_free(lk_admin *a);

/* Computes the weak threshold in a new thread over the engine in use: the follower's current
 * snapshot when f is non-NULL (held while it works), else e (borrowed: must outlive a). Logs
 * one line through log (may be NULL) when done. 0, or LK_ENOMEM / LK_EIO (no thread). */
int lk_admin_start_threshold(lk_admin *a, lk_engine *e, struct lk_live *f, void (*log)(void *, const char *),
                             void *log_ctx);
/* The computation itself: *threshold gets the median described above over up to `samples`
 * items (*used: how many had a neighbour of another articleType). Stops early, LK_EINTR, when
 * *stop becomes non-zero (stop may be NULL). LK_ENOTFOUND when no sampled item has one (a
 * catalog of one articleType, or none labelled); LK_ENOMEM. */
int lk_admin_weak_threshold(const lk_engine *e, int samples, const atomic_int *stop, float *threshold, int *used);
/* Sets the threshold (what the thread does when it is done), classifying the pending searches. */
void lk_admin_set_threshold(lk_admin *a, float threshold, int used);

/* One successful photo search at Unix time now_s: nhits 0 when it found nothing (weak), else
 * best is its first hit's score. */
void lk_admin_note_search(lk_admin *a, int64_t now_s, int nhits, float best);
/* The same from a POST /api/search answer's body ({"hits":[{"score":...}, ...]}), now. */
void lk_admin_note_search_reply(lk_admin *a, const json_t *body);

/* GET /api/admin/stats at Unix time now_s: {"items", "searchable", "errors", "sources":
 * [{"source","items"}], "catalog_version", "recent_changes": [{"id","version","deleted",
 * "productDisplayName"}] (newest first, LK_ADMIN_RECENT at most), "searches_per_hour":
 * [{"hour":"YYYY-MM-DDTHH:00Z","searches","weak"}] (LK_ADMIN_HOURS entries, oldest first, the
 * current hour last), "searches", "weak" (their sums), "weak_share" (weak / searches, null
 * without searches), "weak_threshold" (null until known), "weak_threshold_items"}. The counts,
 * sources and changes are read from the catalog at db_path (a read-only handle of its own);
 * without one (db_path NULL) from e (null without one), with no sources or changes. 500 when the catalog cannot be
 * read. Returns 0 with r filled or LK_ENOMEM (as api.h). */
int lk_admin_stats(lk_admin *a, const lk_engine *e, const char *db_path, int64_t now_s, lk_api_reply *r);

#endif
