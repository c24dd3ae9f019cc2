/* catalog/pg.c — the PostgreSQL backend of the catalog (libpq), used when --db is a
 * postgresql:// or postgres:// URL. The same tables as the SQLite file, so ingest, engine,
 * eval and tune work unchanged, plus what several servers need to follow one catalog:
 *
 *   meta(key text PRIMARY KEY, value text)     schema_version '1', recipe, recipe_id, dim, ...
 *   items(id bigint PRIMARY KEY, path, hash text, size, mtime bigint, gender, mastercategory,
 *         subcategory, articletype, basecolour, season, year, usage, productdisplayname,
 *         extra, status, error text, version bigint,    version: the commit that last wrote it
 *         source text)                                 catalog.h "Sources" (added by a writable
 *                                                      open where missing; schema still '1')
 *   vectors(id bigint PRIMARY KEY REFERENCES items ON DELETE CASCADE, dim int,
 *           data bytea /- float32 little-endian, as in SQLite -/)
 *   tombstones(id bigint PRIMARY KEY, version bigint)   deleted ids and the commit that did it
 *   catalog_version(one int PRIMARY KEY CHECK (one = 1), v bigint)   the last commit's version
 *   api_keys(id bigserial PRIMARY KEY, name text UNIQUE, role, hash text UNIQUE, created,
 *            revoked bigint)   API keys (catalog/keys.h): made by the first add_key
 *   photos(id bigint PRIMARY KEY REFERENCES items ON DELETE CASCADE, type text, data bytea)
 *            photos stored in the catalog (catalog.h "Stored photos"): made by the first
 *            put_photo; a photo written or deleted stamps its item (a change of the item)
 *
 * A transaction that changed anything takes v = v + 1 just before COMMIT, stamps the rows it
 * wrote with it and sends NOTIFY lookalike_catalog (delivered at commit). The row lock on
 * catalog_version orders committers, so versions follow commit order: a reader that sees
 * version V sees every change stamped <= V, and followers ask for "version > last seen".
 * Writes outside lk_catalog_begin/commit get a transaction of their own. Tables are created
 * under an advisory lock, so concurrent first runs (index shards) do not race. Text that is
 * not valid UTF-8 is stored with U+FFFD in place of the bad bytes (PostgreSQL refuses it). */
#include "catalog/catalog_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "util/array.h"
#include "util/size.h"
#include "util/utf8.h"

#define SCHEMA_VERSION "1"
#define FETCH_ROWS 512 /* rows per cursor fetch: bounded memory for any catalog size */
#define CHANNEL "lookalike_catalog"

enum { TX_NONE, TX_USER, TX_AUTO };

/* Statements prepared once per connection. */
enum {
  ST_GET_META,
  ST_PUT_META,
  ST_PUT_ITEM,
  ST_GET_ITEM,
  ST_DEL_ITEM,
  ST_PUT_VECTOR,
  ST_HAS_ITEM,
  ST_GET_VECTOR,
  ST_ADD_META,
  ST_N
};

#define ITEM_COLS                                                                                \
  "id, path, hash, size, mtime, gender, mastercategory, subcategory, articletype, basecolour, " \
  "season, year, usage, productdisplayname, extra, status, error, source"
#define ITEM_NCOLS 18
/* ITEM_COLS of a catalog made before sources, opened read-only (no column to add) */
#define ITEM_COLS_NOSRC                                                                          \
  "id, path, hash, size, mtime, gender, mastercategory, subcategory, articletype, basecolour, " \
  "season, year, usage, productdisplayname, extra, status, error, NULL::text"

static const char *const stmt_sql[ST_N] = {
    [ST_GET_META] = "SELECT value FROM meta WHERE key = $1",
    [ST_PUT_META] = "INSERT INTO meta(key, value) VALUES($1, $2)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    [ST_PUT_ITEM] = "INSERT INTO items(" ITEM_COLS ") VALUES($1::bigint, $2, $3, $4::bigint,"
                    " $5::bigint, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
                    " ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path, hash = EXCLUDED.hash,"
                    " size = EXCLUDED.size, mtime = EXCLUDED.mtime, gender = EXCLUDED.gender,"
                    " mastercategory = EXCLUDED.mastercategory,"
                    " subcategory = EXCLUDED.subcategory, articletype = EXCLUDED.articletype,"
                    " basecolour = EXCLUDED.basecolour, season = EXCLUDED.season,"
                    " year = EXCLUDED.year, usage = EXCLUDED.usage,"
                    " productdisplayname = EXCLUDED.productdisplayname, extra = EXCLUDED.extra,"
                    " status = EXCLUDED.status, error = EXCLUDED.error, source = EXCLUDED.source"
                    /* an identical row is left alone: no new version for followers to fetch */
                    " WHERE ROW(items.path, items.hash, items.size, items.mtime, items.gender,"
                    " items.mastercategory, items.subcategory, items.articletype,"
                    " items.basecolour, items.season, items.year, items.usage,"
                    " items.productdisplayname, items.extra, items.status, items.error,"
                    " items.source)"
                    " IS DISTINCT FROM ROW(EXCLUDED.path, EXCLUDED.hash, EXCLUDED.size,"
                    " EXCLUDED.mtime, EXCLUDED.gender, EXCLUDED.mastercategory,"
                    " EXCLUDED.subcategory, EXCLUDED.articletype, EXCLUDED.basecolour,"
                    " EXCLUDED.season, EXCLUDED.year, EXCLUDED.usage,"
                    " EXCLUDED.productdisplayname, EXCLUDED.extra, EXCLUDED.status,"
                    " EXCLUDED.error, EXCLUDED.source)",
    [ST_GET_ITEM] = "SELECT " ITEM_COLS " FROM items WHERE id = $1::bigint",
    [ST_DEL_ITEM] = "DELETE FROM items WHERE id = $1::bigint",
    [ST_PUT_VECTOR] = "INSERT INTO vectors(id, dim, data) SELECT $1::bigint, $2::integer,"
                      " $3::bytea WHERE EXISTS (SELECT 1 FROM items WHERE id = $1::bigint)"
                      " ON CONFLICT (id) DO UPDATE SET dim = EXCLUDED.dim, data = EXCLUDED.data"
                      " WHERE vectors.dim <> EXCLUDED.dim OR vectors.data <> EXCLUDED.data",
    [ST_HAS_ITEM] = "SELECT 1 FROM items WHERE id = $1::bigint",
    [ST_GET_VECTOR] = "SELECT dim, data FROM vectors WHERE id = $1::bigint",
    /* waits for a concurrent insert of the key to commit, then does nothing */
    [ST_ADD_META] = "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO NOTHING",
};

static const char *const table_names[] = {"meta", "items", "vectors", "tombstones",
                                          "catalog_version"};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value text);"
    "CREATE TABLE IF NOT EXISTS items(id bigint PRIMARY KEY, path text, hash text, size bigint,"
    " mtime bigint, gender text, mastercategory text, subcategory text, articletype text,"
    " basecolour text, season text, year text, usage text, productdisplayname text, extra text,"
    " status text, error text, version bigint NOT NULL DEFAULT 0, source text);"
    "CREATE INDEX IF NOT EXISTS items_hash ON items(hash);"
    "CREATE INDEX IF NOT EXISTS items_version ON items(version);"
    "CREATE TABLE IF NOT EXISTS vectors(id bigint PRIMARY KEY REFERENCES items(id)"
    " ON DELETE CASCADE, dim integer NOT NULL, data bytea NOT NULL);"
    /* float32 bytes do not compress: store them out of line as they are */
    "ALTER TABLE vectors ALTER COLUMN data SET STORAGE EXTERNAL;"
    "CREATE TABLE IF NOT EXISTS tombstones(id bigint PRIMARY KEY, version bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tombstones_version ON tombstones(version);"
    "CREATE TABLE IF NOT EXISTS catalog_version(one integer PRIMARY KEY CHECK (one = 1),"
    " v bigint NOT NULL);"
    "INSERT INTO catalog_version VALUES (1, 0) ON CONFLICT DO NOTHING;"
    "INSERT INTO meta VALUES ('schema_version', '" SCHEMA_VERSION "') ON CONFLICT DO NOTHING;";

typedef struct idlist {
  int64_t *v;
  size_t n, cap;
} idlist;

typedef struct pg_catalog {
  lk_catalog base; /* ops, err */
  PGconn *conn;
  int writable;
  int tx;          /* TX_NONE; TX_USER: lk_catalog_begin; TX_AUTO: opened by a call (and, on a
                      read-only handle, kept as its snapshot) */
  int cursors;     /* open cursors: nested foreach calls get their own names */
  int listening;
  int has_source;  /* items has the source column (else a read-only open of an older catalog) */
  idlist dirty;    /* ids written in this transaction */
  idlist dead;     /* ids deleted in this transaction */
  int all_dirty, meta_dirty;
  float *vbuf;     /* decoded vector for callbacks */
  size_t vcap;
  unsigned char *ebuf; /* encoded vector for writes */
  size_t ecap;
  char where[200]; /* the URL without its password, for messages */
} pg_catalog;

static const lk_catalog_ops pg_ops;

/* ------------------------------------------------------------------ errors */

/* Maps a SQLSTATE to an LK_E* code. */
static int map_state(const char *st) {
  if (!st) return LK_EDB;
  if (!strncmp(st, "08", 2)) return LK_EIO; /* connection exception */
  if (!strcmp(st, "53200")) return LK_ENOMEM;
  if (!strncmp(st, "53", 2)) return LK_EIO; /* disk full, too many connections */
  if (!strcmp(st, "3D000")) return LK_ENOTFOUND; /* no such database */
  if (!strcmp(st, "42P01") || !strcmp(st, "42703")) return LK_ECORRUPT; /* no such table/column */
  if (!strcmp(st, "54000")) return LK_ETOOBIG;
  return LK_EDB;
}

/* Copies a libpq message without its trailing newline(s). */
static void trim_msg(char *dst, size_t n, const char *msg) {
  snprintf(dst, n, "%s", msg && *msg ? msg : "unknown error");
  size_t l = strlen(dst);
  while (l && (dst[l - 1] == '\n' || dst[l - 1] == '\r' || dst[l - 1] == ' ')) dst[--l] = '\0';
  for (char *p = dst; *p; p++)
    if (*p == '\n') *p = ' ';
}

/* Records a failed statement (r may be NULL) on the handle; returns the code. */
static int pg_fail(pg_catalog *c, const PGresult *r, const char *what) {
  char msg[LK_ERRMSG_MAX];
  int code;
  if (PQstatus(c->conn) == CONNECTION_BAD) {
    code = LK_EIO;
    trim_msg(msg, sizeof msg, PQerrorMessage(c->conn));
  } else if (r) {
    code = map_state(PQresultErrorField(r, PG_DIAG_SQLSTATE));
    trim_msg(msg, sizeof msg, PQresultErrorMessage(r));
  } else {
    code = LK_ENOMEM;
    trim_msg(msg, sizeof msg, PQerrorMessage(c->conn));
  }
  return lk_err_set(&c->base.err, code, "catalog: %s: %s", what, msg);
}

/* url with any password replaced by "***" (in the userinfo and in ?password=). */
static void redact(char *dst, size_t n, const char *url) {
  const char *auth = strstr(url, "://"), *at = NULL, *colon = NULL;
  if (auth) {
    auth += 3;
    size_t alen = strcspn(auth, "/?#");
    at = memrchr(auth, '@', alen);
    if (at) colon = memchr(auth, ':', (size_t)(at - auth));
  }
  size_t o = 0;
  const char *p = url;
  while (*p) {
    const char *skip_to = NULL;
    if (colon && p == colon + 1) skip_to = at;
    else if (!strncmp(p, "password=", 9) && p > url && (p[-1] == '?' || p[-1] == '&')) {
      for (int i = 0; i < 9 && o + 1 < n; i++) dst[o++] = p[i];
      p += 9;
      skip_to = p + strcspn(p, "&");
    }
    if (skip_to) {
      for (int i = 0; i < 3 && o + 1 < n; i++) dst[o++] = '*';
      p = skip_to;
      continue;
    }
    if (o + 1 < n) dst[o++] = *p;
    p++;
  }
  if (n) dst[o < n ? o : n - 1] = '\0';
}

static int ro_fail(pg_catalog *c) {
  return lk_err_set(&c->base.err, LK_EINVAL, "catalog: %s was opened read-only", c->where);
}

/* ------------------------------------------------------------------ text and numbers */

static int64_t be64(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | u[i];
  return (int64_t)v;
}

static int32_t be32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

/* A binary bigint / integer column of row i (0 when NULL or of the wrong size). */
static int64_t col_i64(const PGresult *r, int i, int col) {
  return PQgetisnull(r, i, col) || PQgetlength(r, i, col) != 8 ? 0 : be64(PQgetvalue(r, i, col));
}
static int64_t col_i32(const PGresult *r, int i, int col) {
  return PQgetisnull(r, i, col) || PQgetlength(r, i, col) != 4 ? 0 : be32(PQgetvalue(r, i, col));
}

/* A text column of row i, NULL when SQL NULL (libpq ends every value with a NUL byte, in the
 * binary format too). */
static const char *col_text(const PGresult *r, int i, int col) {
  return PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col);
}

/* ------------------------------------------------------------------ running statements */

/* Did a statement succeed? Records the error otherwise (the result is left to the caller). */
static int ok_or_fail(pg_catalog *c, const PGresult *r, const char *what) {
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return 0;
  return pg_fail(c, r, what);
}

/* Runs a statement without parameters; NULL (error on the handle, *rc set) on failure. */
static PGresult *run(pg_catalog *c, const char *sql, int rfmt, const char *what, int *rc) {
  PGresult *r = PQexecParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, rfmt);
  if ((*rc = ok_or_fail(c, r, what)) != 0) {
    PQclear(r);
    return NULL;
  }
  return r;
}

/* Runs one or more statements (simple protocol), no rows wanted. */
static int run_cmd(pg_catalog *c, const char *sql, const char *what) {
  PGresult *r = PQexec(c->conn, sql);
  int rc = ok_or_fail(c, r, what);
  PQclear(r);
  return rc;
}

/* Runs prepared statement st with n text parameters (vals[i] NULL = SQL NULL; fmts may mark
 * binary ones, with their lengths in lens). */
static PGresult *runp(pg_catalog *c, int st, int n, const char *const *vals, const int *lens,
                      const int *fmts, int rfmt, const char *what, int *rc) {
  char name[16];
  snprintf(name, sizeof name, "lk%d", st);
  PGresult *r = PQexecPrepared(c->conn, name, n, vals, lens, fmts, rfmt);
  if ((*rc = ok_or_fail(c, r, what)) != 0) {
    PQclear(r);
    return NULL;
  }
  return r;
}

/* runp with the one parameter $1 = id. */
static PGresult *run_id(pg_catalog *c, int st, int64_t id, int rfmt, const char *what, int *rc) {
  char idb[24];
  snprintf(idb, sizeof idb, "%lld", (long long)id);
  const char *p[1] = {idb};
  return runp(c, st, 1, p, NULL, NULL, rfmt, what, rc);
}

/* The SQL text sql run with $1 = id (rfmt 1: binary results); *rc from ok_or_fail (what names
 * the step). Returns the result, which the caller clears whatever *rc is. */
static PGresult *exec_id(pg_catalog *c, const char *sql, int64_t id, int rfmt, const char *what, int *rc) {
  char idb[24];
  snprintf(idb, sizeof idb, "%lld", (long long)id);
  const char *p[1] = {idb};
  PGresult *r = PQexecParams(c->conn, sql, 1, NULL, p, NULL, NULL, rfmt);
  *rc = ok_or_fail(c, r, what);
  return r;
}

/* Rows changed by a command ("INSERT 0 1" -> 1). */
static long affected(const PGresult *r) { return strtol(PQcmdTuples((PGresult *)r), NULL, 10); }

/* ------------------------------------------------------------------ transactions */

static int ids_push(pg_catalog *c, idlist *l, int64_t id) {
  if (LK_ARRAY_RESERVE(l->v, l->cap, l->n + 1, 256)) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  l->v[l->n++] = id;
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The ids of l, sorted and unique, as a PostgreSQL array literal "{1,2,3}" (malloc'd). */
static char *array_literal(idlist *l) {
  if (l->n) qsort(l->v, l->n, sizeof *l->v, cmp_i64);
  size_t bytes;
  if (lk_size_mul(l->n, 21, &bytes) || lk_size_add(bytes, 3, &bytes)) return NULL;
  char *s = malloc(bytes), *p = s;
  if (!s) return NULL;
  *p++ = '{';
  for (size_t i = 0; i < l->n; i++) {
    if (i && l->v[i] == l->v[i - 1]) continue;
    p += sprintf(p, "%s%lld", p > s + 1 ? "," : "", (long long)l->v[i]);
  }
  *p++ = '}';
  *p = '\0';
  return s;
}

static void tx_reset(pg_catalog *c) {
  c->dirty.n = c->dead.n = 0;
  c->all_dirty = c->meta_dirty = 0;
  c->tx = TX_NONE;
  c->cursors = 0;
}

/* Takes the next catalog version and stamps this transaction's writes with it. */
static int stamp(pg_catalog *c) {
  int rc;
  PGresult *r = run(c, "UPDATE catalog_version SET v = v + 1 WHERE one = 1 RETURNING v", 0,
                    "taking a catalog version", &rc);
  if (!r) return rc;
  char ver[24];
  snprintf(ver, sizeof ver, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  if (!ver[0]) return lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: catalog_version has no row");
  const char *p1[1] = {ver};
  if (c->all_dirty) {
    r = PQexecParams(c->conn, "UPDATE items SET version = $1::bigint", 1, NULL, p1, NULL, NULL, 0);
    rc = ok_or_fail(c, r, "stamping items");
    PQclear(r);
    if (rc) return rc;
  }
  idlist *lists[2] = {&c->dirty, &c->dead};
  static const char *const sql[2] = {
      "UPDATE items SET version = $1::bigint WHERE id = ANY($2::bigint[])",
      "INSERT INTO tombstones(id, version) SELECT unnest($2::bigint[]), $1::bigint"
      " ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version"};
  for (int k = 0; k < 2; k++) {
    if (!lists[k]->n || (k == 0 && c->all_dirty)) continue;
    char *arr = array_literal(lists[k]);
    if (!arr) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    const char *p2[2] = {ver, arr};
    r = PQexecParams(c->conn, sql[k], 2, NULL, p2, NULL, NULL, 0);
    free(arr);
    rc = ok_or_fail(c, r, k ? "recording deletions" : "stamping items");
    PQclear(r);
    if (rc) return rc;
  }
  r = PQexecParams(c->conn, "SELECT pg_notify('" CHANNEL "', $1)", 1, NULL, p1, NULL, NULL, 0);
  rc = ok_or_fail(c, r, "notifying followers");
  PQclear(r);
  return rc;
}

/* Stamps (when anything changed) and commits the open transaction; rolls back on failure. */
static int commit_tx(pg_catalog *c) {
  int rc = 0;
  if (c->writable && (c->dirty.n || c->dead.n || c->all_dirty || c->meta_dirty)) rc = stamp(c);
  if (!rc) {
    PGresult *r = PQexec(c->conn, "COMMIT");
    rc = ok_or_fail(c, r, "commit");
    /* COMMIT of a transaction an earlier error aborted answers ROLLBACK */
    if (!rc && strcmp(PQcmdStatus(r), "COMMIT") != 0)
      rc = lk_err_set(&c->base.err, LK_EDB,
                      "catalog: commit: the transaction was rolled back after an earlier error");
    PQclear(r);
  } else {
    PQclear(PQexec(c->conn, "ROLLBACK"));
  }
  tx_reset(c);
  return rc;
}

static void rollback_tx(pg_catalog *c) {
  PQclear(PQexec(c->conn, "ROLLBACK"));
  tx_reset(c);
}

/* Makes sure a transaction is open for one call. A read-write handle outside
 * lk_catalog_begin gets one of its own (*owned: commit it with tx_leave); a read-only handle
 * opens its snapshot, which stays. */
static int tx_enter(pg_catalog *c, int *owned) {
  *owned = 0;
  if (c->tx != TX_NONE) return 0;
  int rc = run_cmd(c, c->writable ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                   "begin");
  if (rc) return rc;
  c->tx = TX_AUTO;
  *owned = c->writable;
  return 0;
}

/* rc < 0 rolls back; 0 or a positive value (a callback's stop, a count) commits. */
static int tx_leave(pg_catalog *c, int owned, int rc) {
  if (!owned) return rc;
  if (rc < 0) {
    rollback_tx(c);
    return rc;
  }
  int r2 = commit_tx(c);
  return r2 ? r2 : rc;
}

/* Ends a read-only handle's snapshot (the next read takes a new one). */
static int end_snapshot(pg_catalog *c) {
  if (c->tx != TX_AUTO) return 0;
  int rc = commit_tx(c);
  return rc;
}

static int pg_begin(lk_catalog *base) {
  pg_catalog *c = (pg_catalog *)base;
  if (c->tx == TX_USER) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: a transaction is already open");
  if (c->tx == TX_AUTO && !c->writable) { /* the snapshot becomes the user's transaction */
    c->tx = TX_USER;
    return 0;
  }
  int rc = run_cmd(c, c->writable ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                   "begin");
  if (!rc) c->tx = TX_USER;
  return rc;
}

static int pg_commit(lk_catalog *base) {
  pg_catalog *c = (pg_catalog *)base;
  if (c->tx != TX_USER) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: commit without a transaction");
  return commit_tx(c);
}

static int pg_rollback(lk_catalog *base) {
  pg_catalog *c = (pg_catalog *)base;
  if (c->tx == TX_NONE) return 0; /* nothing open: fine on error paths */
  rollback_tx(c);
  return 0;
}

/* ------------------------------------------------------------------ cursors */

/* Calls fn for every row of select_sql (binary results), FETCH_ROWS at a time, inside the
 * handle's transaction (or one of its own). fn's non-zero return stops and is returned. */
typedef int (*row_fn)(pg_catalog *c, const PGresult *r, int row, void *ctx);
static int each_row(pg_catalog *c, const char *select_sql, row_fn fn, void *ctx, const char *what) {
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  char name[24], sql[64];
  snprintf(name, sizeof name, "lk_cursor%d", c->cursors);
  size_t len = strlen(select_sql) + 64;
  char *decl = malloc(len);
  if (!decl) return tx_leave(c, owned, lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory"));
  snprintf(decl, len, "DECLARE %s NO SCROLL CURSOR FOR %s", name, select_sql);
  rc = run_cmd(c, decl, what);
  free(decl);
  if (rc) return tx_leave(c, owned, rc);
  c->cursors++;
  snprintf(sql, sizeof sql, "FETCH %d FROM %s", FETCH_ROWS, name);
  int stop = 0;
  while (!rc && !stop) {
    PGresult *r = run(c, sql, 1, what, &rc);
    if (!r) break;
    int n = PQntuples(r);
    for (int i = 0; i < n && !rc; i++) rc = fn(c, r, i, ctx);
    PQclear(r);
    stop = n < FETCH_ROWS;
  }
  c->cursors--;
  snprintf(sql, sizeof sql, "CLOSE %s", name);
  if (PQtransactionStatus(c->conn) == PQTRANS_INTRANS) PQclear(PQexec(c->conn, sql));
  return tx_leave(c, owned, rc);
}

/* ------------------------------------------------------------------ open / close */

static int table_count(pg_catalog *c, int64_t *n) {
  char sql[512];
  int off = snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
                     " AND tablename IN (");
  for (size_t i = 0; i < sizeof table_names / sizeof *table_names; i++)
    off += snprintf(sql + off, sizeof sql - (size_t)off, "%s'%s'", i ? ", " : "", table_names[i]);
  snprintf(sql + off, sizeof sql - (size_t)off, ")");
  int rc;
  PGresult *r = run(c, sql, 0, "reading the schema", &rc);
  if (!r) return rc;
  *n = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return 0;
}

/* Creates the tables when allowed and missing; checks them and the schema version. */
static int check_schema(pg_catalog *c) {
  const int64_t want = (int64_t)(sizeof table_names / sizeof *table_names);
  int64_t n;
  int rc = table_count(c, &n);
  if (rc) return rc;
  if (n != want && c->writable) {
    /* under a transaction-scoped advisory lock ("LKCA"): concurrent creators wait, then find
     * everything there */
    if ((rc = run_cmd(c, "BEGIN", "begin")) ||
        (rc = run_cmd(c, "SELECT pg_advisory_xact_lock(1280262977)", "locking the schema")) ||
        (rc = run_cmd(c, schema_sql, "creating the tables")) || (rc = run_cmd(c, "COMMIT", "commit"))) {
      PQclear(PQexec(c->conn, "ROLLBACK"));
      return rc;
    }
    if ((rc = table_count(c, &n))) return rc;
  }
  if (n == 0)
    return lk_err_set(&c->base.err, LK_ECORRUPT,
                      "catalog: %s holds no lookalike catalog (`lookalike index … --db URL` makes one)",
                      c->where);
  if (n != want)
    return lk_err_set(&c->base.err, LK_ECORRUPT,
                      "catalog: %s: not a lookalike catalog (missing some of the tables meta, items, "
                      "vectors, tombstones, catalog_version)",
                      c->where);
  PGresult *r = run(c, "SELECT value FROM meta WHERE key = 'schema_version'", 0, "reading schema_version", &rc);
  if (!r) return rc == LK_EDB ? lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: %s: bad meta table", c->where) : rc;
  const char *v = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL;
  if (!v)
    rc = lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: %s: not a lookalike catalog (no schema_version)", c->where);
  else if (strcmp(v, SCHEMA_VERSION) != 0)
    rc = lk_err_set(&c->base.err, LK_EMISMATCH,
                    "catalog: schema_version '%s' is not %s (made by another version of lookalike?)", v,
                    SCHEMA_VERSION);
  PQclear(r);
  return rc;
}

/* Adds items.source to a catalog made before sources when the handle may write (under the
 * schema's advisory lock); records whether items has it. */
static int add_source(pg_catalog *c) {
  static const char q[] = "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
                          " AND table_name = 'items' AND column_name = 'source'";
  int64_t n = 0;
  int rc;
  PGresult *r = run(c, q, 0, "reading the schema", &rc);
  if (!r) return rc;
  n = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  if (n || !c->writable) {
    c->has_source = n > 0;
    return 0;
  }
  if ((rc = run_cmd(c, "BEGIN", "begin")) ||
      (rc = run_cmd(c, "SELECT pg_advisory_xact_lock(1280262977)", "locking the schema")) ||
      (rc = run_cmd(c, "ALTER TABLE items ADD COLUMN IF NOT EXISTS source text", "adding items.source")) ||
      (rc = run_cmd(c, "COMMIT", "commit"))) {
    PQclear(PQexec(c->conn, "ROLLBACK"));
    return rc;
  }
  c->has_source = 1;
  return 0;
}

static void quiet_notices(void *arg, const char *message) { (void)arg, (void)message; }

static void pg_close(lk_catalog *base) {
  pg_catalog *c = (pg_catalog *)base;
  PQfinish(c->conn); /* an open transaction is rolled back by the server */
  free(c->dirty.v);
  free(c->dead.v);
  free(c->vbuf);
  free(c->ebuf);
  free(c);
}

int lk_catalog_pg_open(const char *url, int flags, lk_catalog **out, lk_errbuf *err) {
  pg_catalog *c = calloc(1, sizeof *c);
  if (!c) return lk_err_set(err, LK_ENOMEM, "catalog: out of memory");
  c->base.ops = &pg_ops;
  c->writable = flags == LK_CATALOG_CREATE;
  redact(c->where, sizeof c->where, url);
  /* defaults first: what the URL says overrides them */
  const char *const kw[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
  const char *const val[] = {"10", "lookalike", url, NULL};
  c->conn = PQconnectdbParams(kw, val, 1);
  int rc;
  if (!c->conn) {
    rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    goto fail;
  }
  if (PQstatus(c->conn) != CONNECTION_OK) {
    char msg[LK_ERRMSG_MAX];
    trim_msg(msg, sizeof msg, PQerrorMessage(c->conn));
    rc = strstr(msg, "database") && strstr(msg, "does not exist") ? LK_ENOTFOUND : LK_EIO;
    rc = lk_err_set(&c->base.err, rc, "catalog: %s: %s", c->where, msg);
    goto fail;
  }
  PQsetNoticeProcessor(c->conn, quiet_notices, NULL);
  if (PQsetClientEncoding(c->conn, "UTF8") != 0) {
    char msg[LK_ERRMSG_MAX];
    trim_msg(msg, sizeof msg, PQerrorMessage(c->conn));
    rc = lk_err_set(&c->base.err, PQstatus(c->conn) == CONNECTION_BAD ? LK_EIO : LK_EDB,
                    "catalog: %s: setting the client encoding to UTF8: %s", c->where, msg);
    goto fail;
  }
  if ((rc = check_schema(c)) || (rc = add_source(c))) goto fail;
  for (int i = 0; i < ST_N; i++) {
    char name[16];
    snprintf(name, sizeof name, "lk%d", i);
    const char *sql = stmt_sql[i];
    if (!c->has_source && i == ST_PUT_ITEM) sql = "SELECT 1"; /* read-only: never run */
    if (!c->has_source && i == ST_GET_ITEM) sql = "SELECT " ITEM_COLS_NOSRC " FROM items WHERE id = $1::bigint";
    PGresult *r = PQprepare(c->conn, name, sql, 0, NULL);
    if (ok_or_fail(c, r, "preparing statements")) {
      PQclear(r);
      rc = lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: %s: schema does not match: %s", c->where,
                      lk_err_msg(&c->base.err));
      goto fail;
    }
    PQclear(r);
  }
  lk_err_clear(&c->base.err);
  *out = &c->base;
  return 0;
fail:
  lk_err_set(err, rc, "%s", lk_err_msg(&c->base.err));
  pg_close(&c->base);
  return rc;
}

/* ------------------------------------------------------------------ meta */

static int pg_get_meta(lk_catalog *base, const char *key, char **value) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  const char *p[1] = {key};
  PGresult *r = runp(c, ST_GET_META, 1, p, NULL, NULL, 0, "reading meta", &rc);
  if (r) {
    if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
      rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no meta key '%s'", key);
    else if (!(*value = strdup(PQgetvalue(r, 0, 0))))
      rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    PQclear(r);
  }
  return tx_leave(c, owned, rc);
}

static int pg_set_meta(lk_catalog *base, const char *key, const char *value) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  char *fk = NULL, *fv = NULL;
  if (lk_utf8_fix(key, &fk) || (value && lk_utf8_fix(value, &fv))) {
    rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    goto out;
  }
  const char *p[2] = {fk ? fk : key, fv ? fv : value};
  /* unchanged values are not written: no row lock, no new version (index shards all set "dim") */
  PGresult *r = runp(c, ST_GET_META, 1, p, NULL, NULL, 0, "reading meta", &rc);
  if (!r) goto out;
  int same = PQntuples(r) == 1 && (PQgetisnull(r, 0, 0) ? !p[1] : p[1] && !strcmp(PQgetvalue(r, 0, 0), p[1]));
  PQclear(r);
  if (same) goto out;
  r = runp(c, ST_PUT_META, 2, p, NULL, NULL, 0, "writing meta", &rc);
  PQclear(r);
  if (!rc) c->meta_dirty = 1;
out:
  free(fk);
  free(fv);
  return tx_leave(c, owned, rc);
}

static int pg_add_meta(lk_catalog *base, const char *key, const char *value) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  char *fk = NULL, *fv = NULL;
  if (lk_utf8_fix(key, &fk) || lk_utf8_fix(value, &fv)) {
    free(fk);
    return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  }
  const char *p[2] = {fk ? fk : key, fv ? fv : value};
  int owned, rc = tx_enter(c, &owned);
  if (!rc) {
    PGresult *r = runp(c, ST_ADD_META, 2, p, NULL, NULL, 0, "writing meta", &rc);
    if (r && affected(r) > 0) c->meta_dirty = 1;
    PQclear(r);
    rc = tx_leave(c, owned, rc);
  }
  free(fk);
  free(fv);
  return rc;
}

static int meta_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  void **a = ctx;
  const char *k = col_text(r, i, 0);
  return k ? ((lk_meta_cb)a[0])(a[1], k, col_text(r, i, 1)) : 0;
}

static int pg_foreach_meta(lk_catalog *base, lk_meta_cb cb, void *ctx) {
  void *a[2] = {(void *)cb, ctx};
  return each_row((pg_catalog *)base, "SELECT key, value FROM meta ORDER BY key", meta_row, a, "reading meta");
}

/* ------------------------------------------------------------------ items */

static int pg_put_item(lk_catalog *base, const lk_item *it) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  char idb[24], sizeb[24], mtimeb[24];
  snprintf(idb, sizeof idb, "%lld", (long long)it->id);
  snprintf(sizeb, sizeof sizeb, "%lld", (long long)it->size);
  snprintf(mtimeb, sizeof mtimeb, "%lld", (long long)it->mtime);
  const char *vals[ITEM_NCOLS] = {idb, it->path, it->hash, sizeb, mtimeb};
  for (int i = 0; i < LK_NFIELDS; i++) vals[5 + i] = it->field[i];
  vals[14] = it->extra;
  vals[15] = it->status;
  vals[16] = it->error;
  vals[17] = it->source;
  char *fixed[ITEM_NCOLS] = {0};
  int rc = 0;
  for (int i = 0; i < ITEM_NCOLS && !rc; i++)
    if (vals[i] && lk_utf8_fix(vals[i], &fixed[i])) rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    else if (fixed[i]) vals[i] = fixed[i];
  int owned = 0;
  if (!rc) rc = tx_enter(c, &owned);
  if (!rc) {
    PGresult *r = runp(c, ST_PUT_ITEM, ITEM_NCOLS, vals, NULL, NULL, 0, "writing item", &rc);
    if (r && affected(r) > 0) rc = ids_push(c, &c->dirty, it->id);
    PQclear(r);
    rc = tx_leave(c, owned, rc);
  }
  for (int i = 0; i < ITEM_NCOLS; i++) free(fixed[i]);
  return rc;
}

/* Fills it from row i of an ITEM_COLS select (binary); with copy, strings are strdup'd,
 * otherwise they point into the result. */
static int row_to_item(const PGresult *r, int i, int col0, lk_item *it, int copy) {
  memset(it, 0, sizeof *it);
  it->id = col_i64(r, i, col0);
  it->size = col_i64(r, i, col0 + 3);
  it->mtime = col_i64(r, i, col0 + 4);
  char **dst[ITEM_NCOLS] = {NULL, &it->path, &it->hash, NULL, NULL};
  for (int k = 0; k < LK_NFIELDS; k++) dst[5 + k] = &it->field[k];
  dst[14] = &it->extra;
  dst[15] = &it->status;
  dst[16] = &it->error;
  dst[17] = &it->source;
  for (int k = 0; k < ITEM_NCOLS; k++) {
    if (!dst[k]) continue;
    const char *v = col_text(r, i, col0 + k);
    if (!v) continue;
    *dst[k] = copy ? strdup(v) : (char *)v;
    if (!*dst[k]) return LK_ENOMEM;
  }
  return 0;
}

static int pg_get_item(lk_catalog *base, int64_t id, lk_item *it) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  PGresult *r = run_id(c, ST_GET_ITEM, id, 1, "reading item", &rc);
  if (r) {
    if (PQntuples(r) == 0) {
      rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no item %lld", (long long)id);
    } else if (row_to_item(r, 0, 0, it, 1)) {
      lk_item_clear(it);
      rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    }
    PQclear(r);
  }
  return tx_leave(c, owned, rc);
}

static int pg_delete_item(lk_catalog *base, int64_t id) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  PGresult *r = run_id(c, ST_DEL_ITEM, id, 0, "deleting item", &rc); /* vector: cascade */
  if (r) {
    if (affected(r) == 0) rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no item %lld", (long long)id);
    else rc = ids_push(c, &c->dead, id);
    PQclear(r);
  }
  return tx_leave(c, owned, rc);
}

typedef struct item_ctx {
  lk_item_cb cb;
  void *ctx;
} item_ctx;

static int item_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  item_ctx *a = ctx;
  lk_item it;
  if (row_to_item(r, i, 0, &it, 0)) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  return a->cb(a->ctx, &it);
}

static int pg_foreach_item(lk_catalog *base, lk_item_cb cb, void *ctx) {
  item_ctx a = {cb, ctx};
  pg_catalog *c = (pg_catalog *)base;
  return each_row(c, c->has_source ? "SELECT " ITEM_COLS " FROM items ORDER BY id" : "SELECT " ITEM_COLS_NOSRC " FROM items ORDER BY id",
                  item_row, &a, "reading items");
}

/* ------------------------------------------------------------------ vectors */

static int pg_put_vector(lk_catalog *base, int64_t id, const float *v, int dim) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  size_t bytes = (size_t)dim * 4; /* dim <= LK_CATALOG_MAX_DIM (catalog.c): no overflow */
  if (bytes > c->ecap) {
    unsigned char *p = realloc(c->ebuf, bytes);
    if (!p) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    c->ebuf = p;
    c->ecap = bytes;
  }
  lk_catalog_encode_floats(c->ebuf, v, dim);
  char idb[24], dimb[16];
  snprintf(idb, sizeof idb, "%lld", (long long)id);
  snprintf(dimb, sizeof dimb, "%d", dim);
  const char *vals[3] = {idb, dimb, (const char *)c->ebuf};
  const int lens[3] = {0, 0, (int)bytes}, fmts[3] = {0, 0, 1};
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  PGresult *r = runp(c, ST_PUT_VECTOR, 3, vals, lens, fmts, 0, "writing vector", &rc);
  if (r) {
    if (affected(r) > 0) {
      rc = ids_push(c, &c->dirty, id);
    } else { /* the same vector again, or no such item? */
      PGresult *h = runp(c, ST_HAS_ITEM, 1, vals, NULL, NULL, 0, "writing vector", &rc);
      if (h && PQntuples(h) == 0)
        rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: vector for missing item %lld", (long long)id);
      PQclear(h);
    }
    PQclear(r);
  }
  return tx_leave(c, owned, rc);
}

/* Validates the (dim, data) binary columns of row i; returns dim or an error. */
static int vector_cols(pg_catalog *c, const PGresult *r, int i, int dcol, int64_t id) {
  int64_t dim = col_i32(r, i, dcol);
  int64_t bytes = PQgetisnull(r, i, dcol + 1) ? -1 : PQgetlength(r, i, dcol + 1);
  if (dim <= 0 || dim > LK_CATALOG_MAX_DIM || bytes != dim * 4)
    return lk_err_set(&c->base.err, LK_ECORRUPT,
                      "catalog: vector %lld has dim %lld but %lld bytes (want 4*dim)", (long long)id,
                      (long long)dim, (long long)bytes);
  return (int)dim;
}

static int grow_vbuf(pg_catalog *c, int dim) {
  if ((size_t)dim <= c->vcap) return 0;
  float *p = realloc(c->vbuf, (size_t)dim * sizeof *p);
  if (!p) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  c->vbuf = p;
  c->vcap = (size_t)dim;
  return 0;
}

static int pg_get_vector(lk_catalog *base, int64_t id, float *v, int cap) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  PGresult *r = run_id(c, ST_GET_VECTOR, id, 1, "reading vector", &rc);
  if (r) {
    if (PQntuples(r) == 0) {
      rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no vector for item %lld", (long long)id);
    } else {
      int dim = vector_cols(c, r, 0, 0, id);
      if (dim < 0) rc = dim;
      else if (dim > cap)
        rc = lk_err_set(&c->base.err, LK_ETOOBIG, "catalog: vector %lld has dim %d > %d", (long long)id, dim, cap);
      else {
        lk_catalog_decode_floats(v, PQgetvalue(r, 0, 1), dim);
        rc = dim;
      }
    }
    PQclear(r);
  }
  return tx_leave(c, owned, rc);
}

static int pg_delete_all_vectors(lk_catalog *base) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  rc = run_cmd(c, "DELETE FROM vectors", "deleting vectors");
  if (!rc) c->all_dirty = 1;
  return tx_leave(c, owned, rc);
}

typedef struct vec_ctx {
  lk_vector_cb cb;
  void *ctx;
} vec_ctx;

static int vector_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  vec_ctx *a = ctx;
  int64_t id = col_i64(r, i, 0);
  int dim = vector_cols(c, r, i, 1, id);
  if (dim < 0) return dim;
  if (grow_vbuf(c, dim)) return LK_ENOMEM;
  lk_catalog_decode_floats(c->vbuf, PQgetvalue(r, i, 2), dim);
  return a->cb(a->ctx, id, c->vbuf, dim);
}

static int pg_foreach_vector(lk_catalog *base, lk_vector_cb cb, void *ctx) {
  vec_ctx a = {cb, ctx};
  return each_row((pg_catalog *)base, "SELECT id, dim, data FROM vectors ORDER BY id", vector_row, &a,
                  "reading vectors");
}

/* ------------------------------------------------------------------ counts and check */

static int query_i64(pg_catalog *c, const char *sql, int64_t *out) {
  int rc;
  PGresult *r = run(c, sql, 0, "counting", &rc);
  if (!r) return rc;
  *out = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return 0;
}

static int pg_counts(lk_catalog *base, int64_t *items, int64_t *vectors, int64_t *errors) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if (items) rc = query_i64(c, "SELECT count(*) FROM items", items);
  if (!rc && vectors)
    rc = query_i64(c, "SELECT count(*) FROM items JOIN vectors ON vectors.id = items.id WHERE items.status = 'ok'",
                   vectors);
  if (!rc && errors) rc = query_i64(c, "SELECT count(*) FROM items WHERE status = 'error'", errors);
  return tx_leave(c, owned, rc);
}

static int pg_check(lk_catalog *base) {
  pg_catalog *c = (pg_catalog *)base;
  /* each query returns one row describing the first problem it finds */
  static const char *const checks[] = {
      "SELECT 'vector ' || v.id || ' has no item' FROM vectors v"
      " LEFT JOIN items i ON i.id = v.id WHERE i.id IS NULL LIMIT 1",
      "SELECT 'vector ' || id || ': ' || coalesce(length(data)::text, 'NULL') || ' bytes is not 4*dim"
      " (dim ' || coalesce(dim::text, 'NULL') || ')' FROM vectors WHERE dim IS NULL OR data IS NULL"
      " OR dim <= 0 OR length(data) <> 4 * dim LIMIT 1",
      "SELECT 'vector ' || v.id || ' has dim ' || v.dim || ' but vector ' || f.id || ' has ' || f.dim"
      " FROM vectors v, (SELECT id, dim FROM vectors ORDER BY id LIMIT 1) f WHERE v.dim <> f.dim LIMIT 1",
      "SELECT 'item ' || id || ' has unknown status ''' || status || '''' FROM items"
      " WHERE status IS NOT NULL AND status NOT IN ('ok', 'error', 'pending') LIMIT 1",
      "SELECT 'catalog_version holds ' || count(*) || ' rows, not 1' FROM catalog_version"
      " HAVING count(*) <> 1",
      "SELECT 'item ' || id || ' has version ' || version || ', beyond the catalog version '"
      " || (SELECT v FROM catalog_version) FROM items"
      " WHERE version > (SELECT v FROM catalog_version) LIMIT 1",
      "SELECT 'tombstone ' || id || ' has version ' || version || ', beyond the catalog version'"
      " FROM tombstones WHERE version > (SELECT v FROM catalog_version) LIMIT 1",
  };
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  for (size_t i = 0; i < sizeof checks / sizeof *checks && !rc; i++) {
    PGresult *r = run(c, checks[i], 0, "check", &rc);
    if (r && PQntuples(r) > 0)
      rc = lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: %s", PQgetisnull(r, 0, 0) ? "invariant violated" : PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  return tx_leave(c, owned, rc);
}

/* ------------------------------------------------------------------ change following */

static int read_version(pg_catalog *c, int64_t *version) {
  int rc;
  PGresult *r = run(c, "SELECT v FROM catalog_version WHERE one = 1", 0, "reading the catalog version", &rc);
  if (!r) return rc;
  if (PQntuples(r) != 1) rc = lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: catalog_version has no row");
  else *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return rc;
}

static int pg_version(lk_catalog *base, int64_t *version) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  return tx_leave(c, owned, read_version(c, version));
}

typedef struct change_ctx {
  lk_change_cb cb;
  void *ctx;
} change_ctx;

static int tombstone_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  change_ctx *a = ctx;
  return a->cb(a->ctx, col_i64(r, i, 0), NULL, NULL, 0);
}

static int change_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  change_ctx *a = ctx;
  lk_item it;
  if (row_to_item(r, i, 0, &it, 0)) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  if (PQgetisnull(r, i, ITEM_NCOLS)) return a->cb(a->ctx, it.id, &it, NULL, 0);
  int dim = vector_cols(c, r, i, ITEM_NCOLS, it.id);
  if (dim < 0) return dim;
  if (grow_vbuf(c, dim)) return LK_ENOMEM;
  lk_catalog_decode_floats(c->vbuf, PQgetvalue(r, i, ITEM_NCOLS + 1), dim);
  return a->cb(a->ctx, it.id, &it, c->vbuf, dim);
}

static int pg_changes(lk_catalog *base, int64_t since, lk_change_cb cb, void *ctx, int64_t *version) {
  pg_catalog *c = (pg_catalog *)base;
  if (c->tx == TX_USER) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: changes asked for inside a transaction");
  int rc = end_snapshot(c);
  if (rc) return rc;
  /* one snapshot for the version and the rows: what it returns is exactly "changes <= V" */
  if ((rc = run_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin"))) return rc;
  c->tx = TX_AUTO;
  int64_t v = 0;
  if ((rc = read_version(c, &v))) goto out;
  if (v < since) {
    rc = lk_err_set(&c->base.err, LK_EMISMATCH,
                    "catalog: the catalog version went back from %lld to %lld (re-created or restored?)",
                    (long long)since, (long long)v);
    goto out;
  }
  if (v > since) {
    change_ctx a = {cb, ctx};
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT id FROM tombstones WHERE version > %lld ORDER BY id", (long long)since);
    if ((rc = each_row(c, sql, tombstone_row, &a, "reading deletions"))) goto out;
    snprintf(sql, sizeof sql,
             "SELECT i.id, i.path, i.hash, i.size, i.mtime, i.gender, i.mastercategory, i.subcategory,"
             " i.articletype, i.basecolour, i.season, i.year, i.usage, i.productdisplayname, i.extra,"
             " i.status, i.error, %s, v.dim, v.data FROM items i LEFT JOIN vectors v ON v.id = i.id"
             " WHERE i.version > %lld ORDER BY i.id",
             c->has_source ? "i.source" : "NULL::text", (long long)since);
    if ((rc = each_row(c, sql, change_row, &a, "reading changes"))) goto out;
  }
  *version = v;
out:
  /* a read-write handle never keeps a snapshot; a read-only one keeps this one */
  if (c->writable || rc) {
    int r2 = commit_tx(c);
    if (!rc) rc = r2;
  }
  return rc;
}

typedef struct recent_ctx {
  lk_recent_cb cb;
  void *ctx;
} recent_ctx;

static int recent_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  recent_ctx *a = ctx;
  return a->cb(a->ctx, col_i64(r, i, 0), col_i64(r, i, 1), col_i32(r, i, 2) != 0, col_text(r, i, 3));
}

/* The last `limit` writes: items by the version that last wrote them, and tombstones of ids
 * not written again since (a re-added id keeps its older tombstone). Several items of one
 * commit share its version; ids break the tie. */
static int pg_recent(lk_catalog *base, int limit, lk_recent_cb cb, void *ctx) {
  pg_catalog *c = (pg_catalog *)base;
  char sql[768];
  snprintf(sql, sizeof sql,
           "SELECT id, version, deleted, name FROM ("
           "(SELECT id, version, 0 AS deleted, productdisplayname AS name FROM items"
           " ORDER BY version DESC, id DESC LIMIT %d) UNION ALL"
           " (SELECT t.id, t.version, 1, NULL FROM tombstones t"
           " WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.id = t.id)"
           " ORDER BY t.version DESC, t.id DESC LIMIT %d)) x ORDER BY version DESC, id DESC LIMIT %d",
           limit, limit, limit);
  recent_ctx a = {cb, ctx};
  return each_row(c, sql, recent_row, &a, "reading recent changes");
}

static int drain_notifies(pg_catalog *c) {
  int n = 0;
  PGnotify *nt;
  while ((nt = PQnotifies(c->conn))) {
    n++;
    PQfreemem(nt);
  }
  return n;
}

static int pg_wait_change(lk_catalog *base, int timeout_ms) {
  pg_catalog *c = (pg_catalog *)base;
  if (c->tx == TX_USER) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: waiting inside a transaction");
  int rc = end_snapshot(c); /* notifications arrive between transactions */
  if (rc) return rc;
  if (!c->listening) {
    if ((rc = run_cmd(c, "LISTEN " CHANNEL, "listen"))) return rc;
    c->listening = 1;
  }
  if (!PQconsumeInput(c->conn)) return pg_fail(c, NULL, "waiting for changes");
  if (drain_notifies(c)) return 1;
  struct pollfd pfd = {.fd = PQsocket(c->conn), .events = POLLIN};
  if (pfd.fd < 0) return lk_err_set(&c->base.err, LK_EIO, "catalog: %s: connection lost", c->where);
  int n = poll(&pfd, 1, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : lk_err_set(&c->base.err, LK_EIO, "catalog: poll: %s", strerror(errno));
  if (n == 0) return 0;
  if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
    char msg[LK_ERRMSG_MAX];
    trim_msg(msg, sizeof msg, PQerrorMessage(c->conn));
    return lk_err_set(&c->base.err, LK_EIO, "catalog: %s: connection lost: %s", c->where, msg);
  }
  return drain_notifies(c) > 0;
}

/* ------------------------------------------------------------------ API keys
 * api_keys(id bigserial PRIMARY KEY, name text UNIQUE, role text, hash text UNIQUE,
 * created bigint, revoked bigint 0|1): made by the first add_key under the schema's advisory
 * lock, so catalogs of older versions gain it then. Keys are not items: no catalog version. */
/* *exists = whether the table `name` (a literal) is there: api_keys and photos are made on
 * first use, so older catalogs lack them. */
static int table_exists(pg_catalog *c, const char *name, int *exists) {
  int rc;
  const char *p[1] = {name};
  PGresult *r = PQexecParams(c->conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, p, NULL, NULL, 0);
  if ((rc = ok_or_fail(c, r, "reading the schema"))) {
    PQclear(r);
    return rc;
  }
  *exists = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  return 0;
}

static int pg_add_key(lk_catalog *base, const lk_key *k, int64_t *id) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if ((rc = run_cmd(c, "SELECT pg_advisory_xact_lock(1280262977)", "locking the schema")) ||
      (rc = run_cmd(c,
                    "CREATE TABLE IF NOT EXISTS api_keys(id bigserial PRIMARY KEY, name text UNIQUE,"
                    " role text NOT NULL CHECK (role IN ('read', 'write', 'admin')), hash text NOT NULL UNIQUE,"
                    " created bigint NOT NULL, revoked bigint NOT NULL DEFAULT 0)",
                    "creating the api_keys table")))
    return tx_leave(c, owned, rc);
  char created[24];
  snprintf(created, sizeof created, "%lld", (long long)k->created);
  const char *p[5] = {k->name, k->role, k->hash, created, k->revoked ? "1" : "0"};
  PGresult *r = PQexecParams(c->conn,
                             "INSERT INTO api_keys(name, role, hash, created, revoked)"
                             " VALUES($1, $2, $3, $4::bigint, $5::bigint) RETURNING id",
                             5, NULL, p, NULL, NULL, 0);
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (st && !strcmp(st, "23505"))
    rc = lk_err_set(&c->base.err, LK_EINVAL, "catalog: a key named '%s' exists already: choose another name",
                    k->name ? k->name : "");
  else if (!(rc = ok_or_fail(c, r, "storing a key")))
    *id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
  PQclear(r);
  return tx_leave(c, owned, rc);
}

static int key_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  void **a = ctx;
  lk_key k = {col_i64(r, i, 0), col_text(r, i, 1), col_text(r, i, 2), col_text(r, i, 3), col_i64(r, i, 4),
              col_i64(r, i, 5) != 0};
  return k.role && k.hash ? ((lk_key_cb)a[0])(a[1], &k) : 0;
}

static int pg_foreach_key(lk_catalog *base, lk_key_cb cb, void *ctx) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, exists = 0, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if (!(rc = table_exists(c, "api_keys", &exists)) && exists) {
    void *a[2] = {(void *)cb, ctx};
    rc = each_row(c, "SELECT id, name, role, hash, created, revoked FROM api_keys ORDER BY id", key_row, a,
                  "reading keys");
  }
  return tx_leave(c, owned, rc);
}

static int pg_revoke_key(lk_catalog *base, int64_t id) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, exists = 0, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if ((rc = table_exists(c, "api_keys", &exists))) return tx_leave(c, owned, rc);
  if (!exists)
    return tx_leave(c, owned,
                    lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no key %lld (the catalog has no keys)", (long long)id));
  PGresult *r = exec_id(c, "UPDATE api_keys SET revoked = 1 WHERE id = $1::bigint", id, 0, "revoking a key", &rc);
  if (!rc && affected(r) == 0)
    rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no key %lld", (long long)id);
  PQclear(r);
  return tx_leave(c, owned, rc);
}

/* ------------------------------------------------------------------ stored photos
 * The photos table is made by the first put_photo under the schema's advisory lock (older
 * versions ignore it); the item's delete takes its photo (ON DELETE CASCADE). */
static int pg_put_photo(lk_catalog *base, int64_t id, const char *type, const void *data, size_t len) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, exists = 0, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if ((rc = table_exists(c, "photos", &exists))) return tx_leave(c, owned, rc);
  if (!exists && ((rc = run_cmd(c, "SELECT pg_advisory_xact_lock(1280262977)", "locking the schema")) ||
                  (rc = run_cmd(c,
                                "CREATE TABLE IF NOT EXISTS photos(id bigint PRIMARY KEY REFERENCES items(id)"
                                " ON DELETE CASCADE, type text NOT NULL, data bytea NOT NULL)",
                                "creating the photos table"))))
    return tx_leave(c, owned, rc);
  char idb[24];
  snprintf(idb, sizeof idb, "%lld", (long long)id);
  const char *vals[3] = {idb, type, len ? (const char *)data : ""};
  const int lens[3] = {0, 0, (int)len}, fmts[3] = {0, 0, 1};
  PGresult *r = PQexecParams(c->conn,
                             "INSERT INTO photos(id, type, data) VALUES($1::bigint, $2, $3)"
                             " ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, data = EXCLUDED.data",
                             3, NULL, vals, lens, fmts, 0);
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (st && !strcmp(st, "23503"))
    rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: photo for missing item %lld", (long long)id);
  else if (!(rc = ok_or_fail(c, r, "storing a photo")))
    rc = ids_push(c, &c->dirty, id);
  PQclear(r);
  return tx_leave(c, owned, rc);
}

static int pg_get_photo(lk_catalog *base, int64_t id, char **type, void **data, size_t *len) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, exists = 0, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if ((rc = table_exists(c, "photos", &exists))) return tx_leave(c, owned, rc);
  if (!exists)
    return tx_leave(c, owned, lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id));
  PGresult *r = exec_id(c, "SELECT type, data FROM photos WHERE id = $1::bigint", id, 1, "reading a photo", &rc);
  if (!rc) {
    if (PQntuples(r) == 0) {
      rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id);
    } else {
      size_t tl = (size_t)PQgetlength(r, 0, 0), n = (size_t)PQgetlength(r, 0, 1);
      *type = malloc(tl + 1);
      *data = malloc(n ? n : 1);
      if (!*type || !*data) {
        free(*type), free(*data);
        *type = NULL, *data = NULL;
        rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
      } else {
        memcpy(*type, PQgetvalue(r, 0, 0), tl);
        (*type)[tl] = '\0';
        memcpy(*data, PQgetvalue(r, 0, 1), n);
        *len = n;
      }
    }
  }
  PQclear(r);
  return tx_leave(c, owned, rc);
}

static int pg_delete_photo(lk_catalog *base, int64_t id) {
  pg_catalog *c = (pg_catalog *)base;
  if (!c->writable) return ro_fail(c);
  int owned, exists = 0, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if ((rc = table_exists(c, "photos", &exists))) return tx_leave(c, owned, rc);
  if (!exists)
    return tx_leave(c, owned, lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id));
  PGresult *r = exec_id(c, "DELETE FROM photos WHERE id = $1::bigint", id, 0, "deleting a photo", &rc);
  if (!rc)
    rc = affected(r) ? ids_push(c, &c->dirty, id)
                     : lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id);
  PQclear(r);
  return tx_leave(c, owned, rc);
}

static int photo_row(pg_catalog *c, const PGresult *r, int i, void *ctx) {
  void **a = ctx;
  char type[64];
  snprintf(type, sizeof type, "%.*s", PQgetlength(r, i, 1), PQgetvalue(r, i, 1));
  return ((lk_photo_cb)a[0])(a[1], col_i64(r, i, 0), type, PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
}

static int pg_foreach_photo(lk_catalog *base, lk_photo_cb cb, void *ctx) {
  pg_catalog *c = (pg_catalog *)base;
  int owned, exists = 0, rc = tx_enter(c, &owned);
  if (rc) return rc;
  if (!(rc = table_exists(c, "photos", &exists)) && exists) {
    void *a[2] = {(void *)cb, ctx};
    rc = each_row(c, "SELECT id, type, data FROM photos ORDER BY id", photo_row, a, "reading photos");
  }
  return tx_leave(c, owned, rc);
}

static const lk_catalog_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .get_meta = pg_get_meta,
    .set_meta = pg_set_meta,
    .add_meta = pg_add_meta,
    .foreach_meta = pg_foreach_meta,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put_item = pg_put_item,
    .get_item = pg_get_item,
    .delete_item = pg_delete_item,
    .put_vector = pg_put_vector,
    .get_vector = pg_get_vector,
    .delete_all_vectors = pg_delete_all_vectors,
    .foreach_item = pg_foreach_item,
    .foreach_vector = pg_foreach_vector,
    .counts = pg_counts,
    .check = pg_check,
    .version = pg_version,
    .changes = pg_changes,
    .wait_change = pg_wait_change,
    .recent = pg_recent,
    .add_key = pg_add_key,
    .foreach_key = pg_foreach_key,
    .revoke_key = pg_revoke_key,
    .put_photo = pg_put_photo,
    .get_photo = pg_get_photo,
    .delete_photo = pg_delete_photo,
    .foreach_photo = pg_foreach_photo,
};
