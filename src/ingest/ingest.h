/* ingest/ingest.h — `lookalike index`: reads styles.csv and a folder of photos, embeds what is
 * new or changed (by size+mtime, then content hash) and writes items and vectors to the
 * catalog in small transactions, so an interrupted run leaves a consistent catalog and the
 * next run resumes where it stopped. Bad photos are recorded with the reason and skipped. */
#ifndef LK_INGEST_INGEST_H
#define LK_INGEST_INGEST_H

#include <limits.h>
#include <signal.h>
#include <stdint.h>

#include "embed/embed.h"
#include "image/image.h"
#include "util/err.h"

typedef struct lk_ingest_stats {
  long rows;          /* data rows in styles.csv */
  long bad_rows;      /* rows skipped: no/invalid id, duplicate id */
  long odd_rows;      /* rows kept with a problem reported (short/long row, NUL byte, year) */
  long recoded;       /* styles.csv fields not UTF-8, decoded as Windows-1252 (encoding auto) */
  long photos;        /* photo files found */
  long unnamed;       /* image files not named after an id (IMG_0001.JPG): not indexed */
  long no_photo;      /* rows whose photo is missing */
  long no_row;        /* photos without a row (not indexed) */
  long selected;      /* items considered this run (after --limit) */
  long todo;          /* items needing (re-)embedding */
  long done;          /* of todo, processed so far */
  long embedded;      /* newly embedded */
  long unchanged;     /* already up to date */
  long failed;        /* photos that could not be decoded (recorded, skipped) */
  long pruned;        /* items removed by --prune */
  long stale;         /* items whose photo is gone (kept without --prune) */
  double seconds;     /* elapsed */
  char source[PATH_MAX]; /* the run's source: --source, else the images folder's canonical path */
} lk_ingest_stats;

typedef struct lk_ingest_opts {
  const char *images_dir;
  const char *styles_csv;   /* may be NULL: photos indexed without metadata */
  int encoding;             /* styles.csv's text: enum lk_text_enc (util/utf8.h), 0 = auto */
  int strict;               /* refuse styles.csv (nothing written) at its first problem row */
  const char *db_path;
  const char *models_dir;   /* NULL = default search */
  const struct lk_recipe *recipe; /* NULL = the catalog's recipe, or the default; else it must
                                     equal the catalog's (when the catalog has one) */
  long limit;               /* 0 = all; else the first N items by id */
  long sample;              /* 0 = all; else N items drawn by a hash of (id, seed): a stable,
                               uniform subset (applied before limit) */
  uint64_t seed;
  int shard, shards;        /* shards > 0: only the items of shard `shard` (1..shards), by
                               lk_ingest_shard_of (applied after sample and limit); --prune and
                               the stale count then see only that shard's items too */
  int prune;
  const char *source;       /* NULL = the images folder's canonical path (realpath); the items
                               written are stamped with it, and the stale count and --prune only
                               see items of this source (catalog.h "Sources") */
  int batch;                /* images per inference batch (default 8) */
  int backend;              /* enum lk_backend */
  int threads;              /* unused (kept for the CLI); see workers */
  int workers;              /* parallel decode+embed workers, each single-threaded; 0 = 2 */
  volatile sig_atomic_t *stop; /* set asynchronously to stop after the current batch */
  /* Called after each batch (and once at the start); may be NULL. */
  void (*progress)(void *ctx, const lk_ingest_stats *s);
  /* Called for each problem worth telling the user (skipped row/photo); may be NULL. */
  void (*report)(void *ctx, int64_t id, const char *what);
  void *ctx;
} lk_ingest_opts;

void lk_ingest_opts_default(lk_ingest_opts *o);
/* A --source name: 1 to LK_INGEST_SOURCE_MAX - 1 bytes of UTF-8 without control characters;
 * else LK_EINVAL saying so in err. */
#define LK_INGEST_SOURCE_MAX 1024
int lk_ingest_source_check(const char *name, lk_errbuf *err);
/* The shard (1..shards) an item id belongs to: a hash of the id, so the assignment is stable
 * and does not depend on which other ids exist. */
int lk_ingest_shard_of(int64_t id, int shards);
/* Runs one indexing pass. Returns 0 (even when some photos failed: see stats), LK_EINTR when
 * stopped (everything committed so far is kept), or another negative code. */
int lk_ingest_run(const lk_ingest_opts *o, lk_ingest_stats *st, lk_errbuf *err);

/* The one way a catalog photo becomes its vector, shared by `lookalike index` and the writes of
 * `lookalike serve` (server/write.c), so that the same file gives the same vector either way:
 * an embedder made by lk_ingest_embedder_new (index's options: single-threaded, batches of
 * up to `batch`), the file's bytes decoded by lk_ingest_decode (at the embedder's input side,
 * within lim; NULL: the image module's defaults), then lk_embedder_run.
 * lk_ingest_photo_vector does the three for one photo: vec gets lk_embedder_dim floats. */
int lk_ingest_embedder_new(const struct lk_recipe *r, const char *models_dir, int backend, int batch,
                           lk_embedder **out, lk_errbuf *err);
int lk_ingest_decode(const lk_embedder *e, const uint8_t *buf, size_t len, const lk_image_limits *lim, lk_image *img,
                     lk_errbuf *err);
int lk_ingest_photo_vector(lk_embedder *e, const uint8_t *buf, size_t len, const lk_image_limits *lim, float *vec,
                           lk_errbuf *err);

#endif
