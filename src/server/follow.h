/* server/follow.h — keeps the catalog a server searches current. Loads the engine and, for a
 * catalog with a change sequence (SQLite and PostgreSQL, catalog.h "Change following"), runs a
 * thread that waits for commits (PostgreSQL's LISTEN/NOTIFY, a SQLite file's version looked at
 * every 50 ms; a periodic check as a fallback), reads the items
 * changed and deleted since the version it holds, derives a new engine from the one in use plus
 * those changes (lk_engine_derive: milliseconds, however big the catalog) and swaps it in; once
 * the changes carried are many (2 % of the items, at most 20,000) or the catalog is quiet, a
 * full engine is rebuilt in a thread of its own, the changes that came meanwhile applied on top
 * of it, and swapped in. A request holds the
 * snapshot it started with (acquire/release), so a swap never pulls an engine from under a
 * search; the old engine is freed by its last user. A lost connection is retried every second
 * while the last engine goes on serving; /health tells (lk_follow_status). */
#ifndef LK_SERVER_FOLLOW_H
#define LK_SERVER_FOLLOW_H

#include <stddef.h>
#include <stdint.h>

#include "search/engine.h"
#include "util/err.h"

typedef struct lk_follow lk_follow;
typedef struct lk_follow_snap lk_follow_snap; /* one engine and what goes with it */

typedef struct lk_follow_opts {
  int follow;           /* 1 (default): follow a catalog that has a change sequence; 0: load once */
  double poll_s;        /* look for changes at least this often without a notification (default 5) */
  double min_interval_s;/* under a stream of commits, at most one round per this (default 0: a
                           round costs what its changes cost) */
  double optimize_after_s; /* a change is applied at once as a delta over the engine in use;
                           after this many quiet seconds (or once the delta is large) the engine
                           is rebuilt whole as a fresh load would build it, in a thread of its
                           own (default 10) */
  /* One line per update or problem (no newline); NULL = silent. Called from the follower. */
  void (*log)(void *ctx, const char *line);
  void *log_ctx;
} lk_follow_opts;
void lk_follow_opts_default(lk_follow_opts *o);

/* Opens the catalog at db, loads the engine (eo as for lk_engine_open) and starts following
 * when the catalog can be followed. Errors as lk_engine_open. *out: lk_follow_close. */
int lk_follow_open(const char *db, const lk_engine_opts *eo, const lk_follow_opts *fo, lk_follow **out,
                   lk_errbuf *err);
/* Stops the follower and frees everything; no snapshot may still be held. NULL-safe. */
void lk_follow_close(lk_follow *f);

/* The snapshot in use now, held until lk_follow_release (thread-safe, cheap). */
const lk_follow_snap *lk_follow_acquire(lk_follow *f);
void lk_follow_release(lk_follow *f, const lk_follow_snap *s);
lk_engine *lk_follow_engine(const lk_follow_snap *s);
/* GET /api/facets's body for this engine (lk_api_facets, computed on the snapshot's first
 * request; one computed less than a second before, for an older snapshot, is reused). */
const char *lk_follow_facets(const lk_follow_snap *s, size_t *len);
/* The catalog version the snapshot was built from; -1 for a catalog without versions. */
int64_t lk_follow_version(const lk_follow_snap *s);

/* Applies every change committed so far, read through cat (the caller's handle, e.g. the one
 * it has just committed a write with; not used by anyone else meanwhile), before it returns:
 * a search started after the return sees them. Serialised with the follower's own rounds (one
 * update at a time), and without its pacing. 0 at once when nothing is followed; else as the
 * follower's round (LK_EMISMATCH: the catalog's recipe changed). */
int lk_follow_sync(lk_follow *f, struct lk_catalog *cat, lk_errbuf *err);

typedef struct lk_follow_status {
  int following;        /* a thread follows the catalog */
  int64_t version;      /* version of the engine in use (-1: a catalog without versions) */
  long updates;         /* engines swapped in since the start */
  double since_check_s; /* seconds since the database last answered the follower */
  double last_build_s;  /* seconds the last update took (deriving the engine, or a reload) */
  char error[256];      /* the current problem ("" when following fine) */
} lk_follow_status;
void lk_follow_get_status(lk_follow *f, lk_follow_status *st);

#endif
