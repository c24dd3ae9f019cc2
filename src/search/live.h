/* search/live.h — a live catalog: the engine of a catalog kept current while the catalog changes.
 * lk_engine_apply_changes reads the items changed and deleted since a catalog version and
 * derives the next engine from the one in use (lk_engine_derive: milliseconds, however big the
 * catalog). lk_live loads the engine and, for a catalog with a change sequence (SQLite and
 * PostgreSQL, catalog.h "Change following"), runs a thread that waits for commits (PostgreSQL's
 * LISTEN/NOTIFY, a SQLite file's version looked at every 50 ms; a periodic check as a fallback)
 * and swaps each derived engine in; once the changes carried are many (2 % of the items, at
 * most 20,000) or the catalog is quiet, a full engine is rebuilt in a thread of its own, the
 * changes that came meanwhile applied on top of it, and swapped in; an engine served from the
 * saved index (lk_engine_mapped, whose rebuild would hold every item and row in RAM) waits for
 * many changes, then gets the file written anew, streamed from the catalog
 * (lk_engine_build_index), and mapped. A user (an HTTP request)
 * holds the snapshot it started with (acquire/release), so a swap never pulls an engine from
 * under a search; the old engine is freed by its last user. A lost connection is retried
 * every second while the last engine goes on serving; lk_live_status tells. */
#ifndef LK_SEARCH_LIVE_H
#define LK_SEARCH_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "search/engine.h"
#include "util/err.h"

/* The changes committed to cat since catalog version `since` (lk_catalog_changes), applied to
 * from (lk_engine_derive). *version gets the catalog version read; *out the derived engine
 * (lk_engine_close), or NULL when no item changed since (commits of catalog metadata only:
 * from is already that version). LK_EMISMATCH: the catalog's recipe is no longer from's;
 * LK_EUNSUPPORTED: the changes cannot be applied to from (the catalog was re-created, restored
 * or replaced since, or holds its first vectors, whose dimension a load sets): load it whole
 * (lk_engine_open_catalog); else the catalog's errors. from is only read (other threads may
 * search it meanwhile, and close it before or after *out); cat is only read, outside a
 * transaction (as lk_catalog_changes needs), and not used by another thread meanwhile. */
int lk_engine_apply_changes(lk_engine *from, lk_catalog *cat, int64_t since, lk_engine **out, int64_t *version,
                            lk_errbuf *err);

/* The engine a server starts with (as lk_live_open loads it), for a one-shot command (search,
 * similar): from the saved index where it applies, a file behind the catalog brought up to
 * date with the changes since its version (a derived engine, lk_engine_derive: not for batch
 * work through lk_engine_index), else the catalog read whole. *out: lk_engine_close. */
int lk_live_load(const char *db, const lk_engine_opts *eo, lk_engine **out, lk_errbuf *err);

typedef struct lk_live lk_live;
typedef struct lk_live_snap lk_live_snap; /* one engine and what goes with it */

typedef struct lk_live_opts {
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
} lk_live_opts;
void lk_live_opts_default(lk_live_opts *o);

/* Opens the catalog at db, loads the engine (eo as for lk_engine_open) and starts following
 * when the catalog can be followed. Errors as lk_engine_open. *out: lk_live_close. */
int lk_live_open(const char *db, const lk_engine_opts *eo, const lk_live_opts *lo, lk_live **out, lk_errbuf *err);
/* Stops the follower and frees everything; no snapshot may still be held. NULL-safe. */
void lk_live_close(lk_live *l);

/* The snapshot in use now, held until lk_live_release (thread-safe, cheap). */
const lk_live_snap *lk_live_acquire(lk_live *l);
void lk_live_release(lk_live *l, const lk_live_snap *s);
/* The snapshot's engine (owned by it: valid while the snapshot is held). */
lk_engine *lk_live_engine(const lk_live_snap *s);
/* The catalog version the snapshot was built from; -1 for a catalog without versions. */
int64_t lk_live_version(const lk_live_snap *s);
/* A slot for the user's own data about this snapshot (e.g. an answer computed from its engine
 * once): NULL at first; a block from malloc put there is freed with free() when the snapshot
 * goes. The user guards it (lk_live itself never reads it but to free it). */
void **lk_live_user(const lk_live_snap *s);

/* Applies every change committed so far, read through cat (the caller's handle, e.g. the one
 * it has just committed a write with; not used by anyone else meanwhile), before it returns:
 * a search started after the return sees them. Serialised with the follower's own rounds (one
 * update at a time), and without its pacing. 0 at once when nothing is followed; else as the
 * follower's round (LK_EMISMATCH: the catalog's recipe changed). */
int lk_live_sync(lk_live *l, lk_catalog *cat, lk_errbuf *err);

typedef struct lk_live_state {
  int following;        /* a thread follows the catalog */
  int64_t version;      /* catalog version the engine in use stands for (-1: a catalog without
                           versions); later than its snapshot's after commits of metadata only */
  long updates;         /* engines swapped in since the start */
  double since_check_s; /* seconds since the database last answered the follower */
  double last_build_s;  /* seconds the last update took (reading the changes and deriving the
                           engine, or a reload) */
  char error[256];      /* the current problem ("" when following fine) */
} lk_live_state;
/* Thread-safe. */
void lk_live_status(lk_live *l, lk_live_state *st);

#endif
