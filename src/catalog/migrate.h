/* catalog/migrate.h — `lookalike migrate`: makes one catalog a copy of another, across
 * backends (a SQLite file to PostgreSQL, or back). Copies meta (the recipe included), items
 * and vectors in transactions of a few thousand rows, and the API keys (by hash: added, or
 * revoked to match; never removed), then removes from the destination what the source does
 * not have, so a second run after an interruption completes the first and a run on an
 * up-to-date destination changes nothing. A destination made with another recipe is
 * refused (LK_EMISMATCH): its vectors could not be compared with the source's. */
#ifndef LK_CATALOG_MIGRATE_H
#define LK_CATALOG_MIGRATE_H

#include "util/err.h"

typedef struct lk_migrate_stats {
  long meta;      /* meta keys copied */
  long items;     /* items copied */
  long vectors;   /* vectors copied */
  long removed;   /* destination items the source lacks, deleted */
  long keys;      /* API keys added, or revoked to match the source */
  double seconds;
} lk_migrate_stats;

/* Copies catalog `from` into `to` (created when missing). Progress (may be NULL) is called
 * after every transaction with the stats so far. */
int lk_migrate_run(const char *from, const char *to, void (*progress)(void *ctx, const lk_migrate_stats *st),
                   void *ctx, lk_migrate_stats *st, lk_errbuf *err);

#endif
