/* catalog/catalog.h — the catalog: items (id, photo path, content hash, every styles.csv
 * column), their embedding vectors, and the recipe they were made with. Stored in one SQLite
 * file (sqlite.c, the default), or in PostgreSQL when the path is a postgresql:// or
 * postgres:// URL (pg.c: the same tables, plus a change sequence that several servers follow;
 * schema in pg.c's header comment). Everything below works the same on both.
 *
 * Schema (version 1):
 *   meta(key TEXT PRIMARY KEY, value TEXT)      schema_version, recipe (JSON), recipe_id
 *   items(id INTEGER PRIMARY KEY, path TEXT, hash TEXT, size INTEGER, mtime INTEGER,
 *         gender, masterCategory, subCategory, articleType, baseColour, season, year, usage,
 *         productDisplayName TEXT, extra TEXT /- JSON object of other columns -/,
 *         status TEXT /- 'ok' | 'error' | 'pending' -/, error TEXT, source TEXT)
 *   vectors(id INTEGER PRIMARY KEY REFERENCES items(id), dim INTEGER, data BLOB /- float32 LE -/)
 *   api_keys(id INTEGER PRIMARY KEY, name TEXT UNIQUE, role TEXT /- read|write|admin -/,
 *            hash TEXT UNIQUE /- hex SHA-256 of the key -/, created INTEGER /- Unix s -/,
 *            revoked INTEGER /- 0|1 -/)   created by the first lk_catalog_add_key, so a
 *            catalog of an older lookalike gains it then (older versions ignore the table)
 *   photos(id INTEGER PRIMARY KEY REFERENCES items(id), type TEXT /- image/jpeg|png|webp -/,
 *          data BLOB /- the photo file's bytes -/)   the photos of items written over HTTP
 *            (source "api"); made by the first lk_catalog_put_photo like api_keys (older
 *            versions ignore it); a photo written or deleted is a change of its item
 *   catalog_version, changes, and their triggers: the change sequence (sqlite.c)
 * Writes go through transactions in WAL mode, so a killed run leaves a consistent file. */
#ifndef LK_CATALOG_CATALOG_H
#define LK_CATALOG_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Public (lookalike.h): lk_catalog, LK_CATALOG_READONLY / _CREATE, LK_NFIELDS,
 * lk_catalog_fields, lk_item, lk_item_cb; lk_catalog_open / close / errmsg / counts / get_item /
 * foreach_item / get_vector / check and lk_item_clear. */

/* Is path a PostgreSQL URL (postgresql://… or postgres://…)? */
int lk_catalog_is_url(const char *path);
/* Backend name of an open handle: "sqlite" or "postgresql". */
const char *lk_catalog_backend(const lk_catalog *c);

/* Items read back (get_item, foreach_item) hold valid UTF-8 in every text member but path
 * (a file name, bytes as on disk): bytes that are not UTF-8 read as U+FFFD. lk_item.source is
 * NULL for items older than sources: see lk_item_source. */

/* Sources: `lookalike index` stamps each item with the source it came from, and its stale
 * count and --prune only look at the items of the source being indexed, so one catalog can be
 * fed from several folders. An item without one (written before 2026-12) belongs to the folder
 * of its photo path, which is what the default source of the run that wrote it was.
 * lk_item_source writes the item's source into buf (cap bytes; truncated to fit) and returns buf. */
const char *lk_item_source(const lk_item *it, char *buf, size_t cap);
/* Calls cb once per source with its item count, in the order of first appearance by id. */
typedef int (*lk_source_cb)(void *ctx, const char *source, int64_t items);
int lk_catalog_foreach_source(lk_catalog *c, lk_source_cb cb, void *ctx);

/* A handle caches prepared statements: use it from one thread at a time (open one per thread).
 * READONLY fails with LK_ENOTFOUND for a missing file (or PostgreSQL database); a file that is
 * not a catalog gives LK_ECORRUPT, one of an unknown schema_version LK_EMISMATCH; a PostgreSQL
 * server that cannot be reached LK_EIO. A read-only PostgreSQL handle reads from one snapshot,
 * taken at its first read, until lk_catalog_commit/rollback, lk_catalog_changes or
 * lk_catalog_wait_change: a series of reads (items, then vectors) is consistent. */
/* lk_catalog_open / close / errmsg: public, lookalike.h. */
/* A failed catalog call reported to the caller: formats "WHAT: <the handle's message>" into err
 * (the message alone when fmt is NULL; err may be NULL) and returns rc. E.g.
 * `return lk_catalog_fail(c, rc, err, "%s: reading items", path);` */
int lk_catalog_fail(const lk_catalog *c, int rc, lk_errbuf *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A note on how the open went that a person should see, or NULL: a SQLite catalog whose
 * -wal/-shm files cannot be made (read-only filesystem or folder, full disk) is opened
 * read-only as an immutable file (READONLY only), and says so here. The handle owns it. */
const char *lk_catalog_note(const lk_catalog *c);

/* Recipe: a JSON text identifying how vectors were made; stored once. get returns a new
 * string (caller frees) or NULL with LK_ENOTFOUND when none is set. */
int lk_catalog_get_meta(lk_catalog *c, const char *key, char **value);
int lk_catalog_set_meta(lk_catalog *c, const char *key, const char *value);
/* Sets key only where it has no value yet: 0 when it was absent or already held value;
 * LK_EMISMATCH (and nothing written) when it holds another value, also one that a concurrent
 * writer stored first. */
int lk_catalog_add_meta(lk_catalog *c, const char *key, const char *value);
/* Every meta key and value (value may be NULL), ordered by key; valid during the callback. */
typedef int (*lk_meta_cb)(void *ctx, const char *key, const char *value);
int lk_catalog_foreach_meta(lk_catalog *c, lk_meta_cb cb, void *ctx);

/* From now on every commit of this (read-write) handle is on disk when it returns, even if the
 * machine loses power (SQLite: PRAGMA synchronous = FULL; the default NORMAL survives a killed
 * process, not a power cut; PostgreSQL commits so by default). For `serve`'s writes. */
int lk_catalog_set_durable(lk_catalog *c);

int lk_catalog_begin(lk_catalog *c);
int lk_catalog_commit(lk_catalog *c);
int lk_catalog_rollback(lk_catalog *c);

/* Inserts or replaces an item's metadata (everything except vectors). */
int lk_catalog_put_item(lk_catalog *c, const lk_item *it);
/* Fetches one item; *it filled with malloc'd strings (lk_item_clear frees). LK_ENOTFOUND. */
/* (lk_catalog_get_item, lk_item_clear: public.) */
/* A deep copy of src (every string, source included) into dst. LK_ENOMEM when a string could
 * not be copied: what was copied is dst's all the same (lk_item_clear frees it). */
int lk_item_copy(lk_item *dst, const lk_item *src);
int lk_catalog_delete_item(lk_catalog *c, int64_t id); /* item + vector + stored photo */
/* Every vector written or read is checked to be finite (LK_EINVAL on put, LK_ECORRUPT on
 * read, the message naming the item); readers that score (search/engine.c) and `check` also
 * want them normalised (lk_catalog_vector_check with norm = 1). */
int lk_catalog_put_vector(lk_catalog *c, int64_t id, const float *v, int dim);
/* 0 when v's dim floats are finite and, if norm, have an L2 norm of 1 (to
 * LK_CATALOG_NORM_TOL); else LK_ECORRUPT with "item ID: ..." saying what is wrong in err (which
 * may be NULL). */
#define LK_CATALOG_NORM_TOL 1e-3
int lk_catalog_vector_check(int64_t id, const float *v, int dim, int norm, lk_errbuf *err);
/* (lk_catalog_get_vector: public.) */
int lk_catalog_delete_all_vectors(lk_catalog *c);

/* (lk_catalog_foreach_item: public.) */
/* Iterates every stored vector (ordered by id). */
/* v is valid only during the callback. */
typedef int (*lk_vector_cb)(void *ctx, int64_t id, const float *v, int dim);
int lk_catalog_foreach_vector(lk_catalog *c, lk_vector_cb cb, void *ctx);
/* The same for readers that score: a vector that is not normalised is LK_ECORRUPT, named. */
int lk_catalog_foreach_unit_vector(lk_catalog *c, lk_vector_cb cb, void *ctx);
/* (lk_catalog_counts: public.) lk_catalog_check (public) runs PRAGMA integrity_check plus our
 * own invariants (every vector's item exists and dims agree; every vector is finite and
 * normalised; text is UTF-8; every stored photo belongs to an item and has its hash, every item
 * written over HTTP has its photo). */

/* Change following (both backends).
 * PostgreSQL: every committed transaction that changes items, vectors or meta gets the next
 * catalog version (a counter taken at commit, so versions are in commit order) and stamps the
 * items it wrote with it; deleted ids leave a tombstone with it.
 * SQLite: triggers in the file (sqlite.c) give every write of items, vectors or meta the next
 * version and record it per id in a changes table (a deleted id keeps its row), in the writing
 * transaction; writers are serialised, so versions are in commit order there too. */
/* The catalog version of the handle's snapshot (0 for a new catalog). */
int lk_catalog_version(lk_catalog *c, int64_t *version);
/* Items changed after version `since`, read from a new snapshot: cb gets every deleted id
 * first (it == NULL), then every changed item in id order with its vector (v NULL, dim 0 when
 * it has none); both valid only during the callback. *version gets the snapshot's version
 * (pass it as `since` next time). LK_EMISMATCH when the catalog's version is below `since`
 * (the catalog was re-created or restored: reload it whole). */
typedef int (*lk_change_cb)(void *ctx, int64_t id, const lk_item *it, const float *v, int dim);
int lk_catalog_changes(lk_catalog *c, int64_t since, lk_change_cb cb, void *ctx, int64_t *version);
/* Waits up to timeout_ms for another process to commit a change (PostgreSQL LISTEN/NOTIFY;
 * SQLite: the version looked at every 50 ms);
 * ends the handle's snapshot. Returns 1 when notified, 0 on timeout, or an error (LK_EIO when
 * the connection is lost). */
int lk_catalog_wait_change(lk_catalog *c, int timeout_ms);
/* The last `limit` (1..LK_CATALOG_MAX_RECENT) ids written, newest first (by version, then id
 * descending): cb gets each id, the version of its last write, whether that write deleted it
 * (name NULL then) and its productDisplayName (NULL when unknown); valid during the callback.
 * A catalog without a change sequence (an older file opened read-only) has none. For the
 * owner's page (GET /api/admin/stats). */
#define LK_CATALOG_MAX_RECENT 1000
typedef int (*lk_recent_cb)(void *ctx, int64_t id, int64_t version, int deleted, const char *name);
int lk_catalog_recent_changes(lk_catalog *c, int limit, lk_recent_cb cb, void *ctx);

/* API keys (catalog/keys.h makes and checks them; this is their storage). Only the hash of a
 * key is stored. Strings are valid only during a callback. */
typedef struct lk_key {
  int64_t id;          /* assigned by add_key, never reused */
  const char *name;    /* NULL when unnamed */
  const char *role;    /* "read", "write" or "admin" */
  const char *hash;    /* lowercase hex SHA-256 of the key */
  int64_t created;     /* Unix seconds */
  int revoked;
} lk_key;
/* Stores k (its id is ignored) and sets *id; creates the api_keys table on a catalog that has
 * none (a read-write handle). A name or hash already stored is LK_EINVAL, with a message. */
int lk_catalog_add_key(lk_catalog *c, const lk_key *k, int64_t *id);
/* Every key, revoked ones included, in id order; none on a catalog without the table. */
typedef int (*lk_key_cb)(void *ctx, const lk_key *k);
int lk_catalog_foreach_key(lk_catalog *c, lk_key_cb cb, void *ctx);
/* Marks key id revoked (again is fine); LK_ENOTFOUND when there is no such key. */
int lk_catalog_revoke_key(lk_catalog *c, int64_t id);

/* Stored photos: the bytes of a photo kept in the catalog itself (items written over HTTP by
 * `serve`, whose source is "api"), so that the catalog is one file that can be served and
 * indexed again. Such an item's path is LK_CATALOG_PHOTO_PATH followed by its id
 * ("catalog:photos/42"), and its hash is the SHA-256 of these bytes (`check` verifies it).
 * put replaces the item's photo (the item must exist: LK_ENOTFOUND otherwise; len at most
 * LK_CATALOG_MAX_PHOTO: LK_ETOOBIG); get returns malloc'd copies (caller frees both) or
 * LK_ENOTFOUND; delete_item deletes the photo with the item. */
#define LK_CATALOG_PHOTO_PATH "catalog:photos/"
#define LK_CATALOG_MAX_PHOTO ((size_t)64 << 20)
int lk_catalog_put_photo(lk_catalog *c, int64_t id, const char *type, const void *data, size_t len);
int lk_catalog_get_photo(lk_catalog *c, int64_t id, char **type, void **data, size_t *len);
/* LK_ENOTFOUND when the item has no stored photo. */
int lk_catalog_delete_photo(lk_catalog *c, int64_t id);
/* Every stored photo in id order; type and data valid only during the callback. */
typedef int (*lk_photo_cb)(void *ctx, int64_t id, const char *type, const void *data, size_t len);
int lk_catalog_foreach_photo(lk_catalog *c, lk_photo_cb cb, void *ctx);

#endif
