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

/* lk_ingest_stats, lk_ingest_opts: public, lookalike.h. */

/* lk_ingest_opts_default, lk_ingest_run: public, lookalike.h. */
/* A --source name: 1 to LK_INGEST_SOURCE_MAX - 1 bytes of UTF-8 without control characters;
 * else LK_EINVAL saying so in err. */
#define LK_INGEST_SOURCE_MAX 1024
int lk_ingest_source_check(const char *name, lk_errbuf *err);
/* The shard (1..shards) an item id belongs to: a hash of the id, so the assignment is stable
 * and does not depend on which other ids exist. */
int lk_ingest_shard_of(int64_t id, int shards);

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
