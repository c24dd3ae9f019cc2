/* catalog/sqlite.c — the SQLite backend of the catalog (schema in catalog.h; the default for
 * any --db that is not a postgresql:// URL): opening and validating the file, items, vectors
 * (float32 little-endian blobs), meta, transactions and check(), and the change sequence that
 * `serve` follows (kept by triggers in the file; wait_change looks at it every 50 ms).
 * Every SQL statement is prepared once at open and cached on the handle, which is why a handle
 * must be used from one thread at a time (each thread or request opens its own handle).
 * Errors are mapped to LK_E* codes; the message is kept on the handle (lk_catalog_errmsg). */
#include "catalog/catalog_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/file.h"
#include "util/size.h"

#define SCHEMA_VERSION 1
#define APP_ID 0x4C4B4341 /* "LKCA" in PRAGMA application_id */
#define MAX_DIM LK_CATALOG_MAX_DIM

#define ITEM_COLS                                                                                \
  "id, path, hash, size, mtime, gender, masterCategory, subCategory, articleType, baseColour, " \
  "season, year, usage, productDisplayName, extra, status, error, source"
#define ITEM_NCOLS 18
/* ITEM_COLS of a catalog made before sources, opened read-only (no column to add) */
#define ITEM_COLS_NOSRC                                                                          \
  "id, path, hash, size, mtime, gender, masterCategory, subCategory, articleType, baseColour, " \
  "season, year, usage, productDisplayName, extra, status, error, NULL"

static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE items(id INTEGER PRIMARY KEY, path TEXT, hash TEXT, size INTEGER,"
    " mtime INTEGER, gender TEXT, masterCategory TEXT, subCategory TEXT, articleType TEXT,"
    " baseColour TEXT, season TEXT, year TEXT, usage TEXT, productDisplayName TEXT,"
    " extra TEXT, status TEXT, error TEXT, source TEXT);"
    "CREATE INDEX items_hash ON items(hash);"
    "CREATE TABLE vectors(id INTEGER PRIMARY KEY REFERENCES items(id), dim INTEGER NOT NULL,"
    " data BLOB NOT NULL);"
    "INSERT INTO meta(key, value) VALUES('schema_version', '1');";

/* Added to schema 1 without changing its number (older versions read and write such a file,
 * and the triggers keep the sequence right under their writes too); a writable open adds what
 * a file lacks.
 *   items.source                                  see catalog.h "Sources"
 *   catalog_version(one INTEGER PRIMARY KEY CHECK (one = 1), v INTEGER)   the last version
 *   changes(id INTEGER PRIMARY KEY, version INTEGER)   each id's last write; a deleted id keeps
 *                                                      its row (its tombstone)
 * Every row written to items, vectors or meta takes the next version (one UPDATE of a one-row
 * table and one row of changes, in the writer's transaction). */
#define BUMP "UPDATE catalog_version SET v = v + 1 WHERE one = 1;"
/* no conflict clause in a trigger: the writing statement's own (an upsert's ABORT) would override it */
#define MARK(ID)                                                                                  \
  "UPDATE changes SET version = (SELECT v FROM catalog_version) WHERE id = " ID ";"              \
  "INSERT INTO changes(id, version) SELECT " ID ", v FROM catalog_version"                      \
  " WHERE NOT EXISTS (SELECT 1 FROM changes WHERE id = " ID ");"
#define TRIGGER(NAME, WHEN, TABLE, BODY) "CREATE TRIGGER IF NOT EXISTS " NAME " AFTER " WHEN " ON " TABLE " BEGIN " BODY " END;"
/* an update that writes what was there already is no change */
#define ITEM_ROW(R)                                                                               \
  "(" R ".id, " R ".path, " R ".hash, " R ".size, " R ".mtime, " R ".gender, " R ".masterCategory, " \
  R ".subCategory, " R ".articleType, " R ".baseColour, " R ".season, " R ".year, " R ".usage, "    \
  R ".productDisplayName, " R ".extra, " R ".status, " R ".error, " R ".source)"
static const char changes_sql[] =
    "CREATE TABLE IF NOT EXISTS catalog_version(one INTEGER PRIMARY KEY CHECK (one = 1),"
    " v INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO catalog_version VALUES(1, 0);"
    "CREATE TABLE IF NOT EXISTS changes(id INTEGER PRIMARY KEY, version INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS changes_version ON changes(version);"
    TRIGGER("lk_items_ins", "INSERT", "items", BUMP MARK("NEW.id"))
    TRIGGER("lk_items_upd", "UPDATE", "items WHEN " ITEM_ROW("OLD") " IS NOT " ITEM_ROW("NEW"),
            BUMP MARK("OLD.id") MARK("NEW.id"))
    TRIGGER("lk_items_del", "DELETE", "items", BUMP MARK("OLD.id"))
    TRIGGER("lk_vectors_ins", "INSERT", "vectors", BUMP MARK("NEW.id"))
    TRIGGER("lk_vectors_upd", "UPDATE", "vectors WHEN (OLD.id, OLD.dim, OLD.data) IS NOT (NEW.id, NEW.dim, NEW.data)",
            BUMP MARK("OLD.id") MARK("NEW.id"))
    TRIGGER("lk_vectors_del", "DELETE", "vectors", BUMP MARK("OLD.id"))
    TRIGGER("lk_meta_ins", "INSERT", "meta", BUMP)
    TRIGGER("lk_meta_upd", "UPDATE", "meta WHEN (OLD.key, OLD.value) IS NOT (NEW.key, NEW.value)", BUMP)
    TRIGGER("lk_meta_del", "DELETE", "meta", BUMP);
/* The number of objects changes_sql makes (to tell whether a file has them all). */
#define CHANGES_OBJECTS 12

/* The cached statements. */
enum {
  ST_GET_META,
  ST_SET_META,
  ST_PUT_ITEM,
  ST_GET_ITEM,
  ST_DEL_ITEM,
  ST_DEL_VECTOR,
  ST_PUT_VECTOR,
  ST_GET_VECTOR,
  ST_DEL_VECTORS,
  ST_ALL_ITEMS,
  ST_ALL_VECTORS,
  ST_COUNT_ITEMS,
  ST_COUNT_VECTORS,
  ST_COUNT_ERRORS,
  ST_ALL_META,
  ST_ADD_META,
  ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_GET_META] = "SELECT value FROM meta WHERE key = ?1",
    [ST_SET_META] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_PUT_ITEM] = "INSERT INTO items(" ITEM_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                    " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) ON CONFLICT(id) DO UPDATE SET"
                    " path = ?2, hash = ?3, size = ?4, mtime = ?5, gender = ?6,"
                    " masterCategory = ?7, subCategory = ?8, articleType = ?9, baseColour = ?10,"
                    " season = ?11, year = ?12, usage = ?13, productDisplayName = ?14,"
                    " extra = ?15, status = ?16, error = ?17, source = ?18",
    [ST_GET_ITEM] = "SELECT " ITEM_COLS " FROM items WHERE id = ?1",
    [ST_DEL_ITEM] = "DELETE FROM items WHERE id = ?1",
    [ST_DEL_VECTOR] = "DELETE FROM vectors WHERE id = ?1",
    /* an upsert, not OR REPLACE (a delete and an insert): the same vector again is no change */
    [ST_PUT_VECTOR] = "INSERT INTO vectors(id, dim, data) VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE"
                      " SET dim = excluded.dim, data = excluded.data",
    [ST_GET_VECTOR] = "SELECT dim, data FROM vectors WHERE id = ?1",
    [ST_DEL_VECTORS] = "DELETE FROM vectors",
    [ST_ALL_ITEMS] = "SELECT " ITEM_COLS " FROM items ORDER BY id",
    [ST_ALL_VECTORS] = "SELECT id, dim, data FROM vectors ORDER BY id",
    [ST_COUNT_ITEMS] = "SELECT count(*) FROM items",
    [ST_COUNT_VECTORS] = "SELECT count(*) FROM items JOIN vectors ON vectors.id = items.id"
                         " WHERE items.status = 'ok'",
    [ST_COUNT_ERRORS] = "SELECT count(*) FROM items WHERE status = 'error'",
    [ST_ALL_META] = "SELECT key, value FROM meta ORDER BY key",
    [ST_ADD_META] = "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO NOTHING",
};

typedef struct sq_catalog {
  lk_catalog base; /* ops, err */
  sqlite3 *db;
  int writable;
  int sqlite_rc;  /* the extended SQLite code of the last failure (db_fail) */
  int has_source; /* items has the source column (else a read-only open of an older file) */
  int has_photos; /* the photos table was seen (it is never dropped) */
  int64_t seen;   /* the catalog version last read (version, changes): what wait_change waits past */
  char *path;     /* the file, and its identity at open: wait_change notices a file replaced */
  dev_t dev;
  ino_t ino;
  int replaced;   /* wait_change opened a file moved in place of the first: changes says so once */
  sqlite3_stmt *st[ST_N];
  float *vbuf; /* decode buffer for foreach_vector, grown as needed */
  size_t vcap;
} sq_catalog;

static const lk_catalog_ops sq_ops;
static void sq_close(lk_catalog *base);
static int photos_exist(struct sq_catalog *c, int *exists);

/* Maps an SQLite result code to an LK_E* code. */
static int map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_NOMEM: return LK_ENOMEM;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: return LK_ECORRUPT;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_FULL:
  case SQLITE_PERM: return LK_EIO;
  case SQLITE_TOOBIG: return LK_ETOOBIG;
  default: return LK_EDB;
  }
}

#define BUSY_MS 5000 /* how long a statement waits for another process's lock */

/* Records the connection's current error on the handle, prefixed by what we were doing. A
 * lock held by another process and a file that cannot be written say what to do; failures
 * of the file system carry the system's reason. */
static int db_fail(sq_catalog *c, int rc, const char *what) {
  c->sqlite_rc = sqlite3_extended_errcode(c->db);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return lk_err_set(&c->base.err, LK_EDB,
                      "catalog: %s: another process is writing this catalog (another `lookalike index` "
                      "run?) and held it for the %d s waited; wait for it to finish, then run again",
                      what, BUSY_MS / 1000);
  if ((rc & 0xff) == SQLITE_READONLY)
    return lk_err_set(&c->base.err, LK_EIO,
                      "catalog: %s: the catalog cannot be written (a read-only file, folder or "
                      "filesystem, or a full disk): %s", what, sqlite3_errmsg(c->db));
  int se = sqlite3_system_errno(c->db);
  int sys = (rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL;
  if (sys && se)
    return lk_err_set(&c->base.err, map_rc(rc), "catalog: %s: %s (%s)%s", what, sqlite3_errmsg(c->db), strerror(se),
                      se == ENOSPC || se == EDQUOT ? "; free some disk space and run again"
                      : se == EROFS || se == EACCES || se == EPERM ? "; the catalog or its folder cannot be written"
                                                                   : "");
  return lk_err_set(&c->base.err, map_rc(rc), "catalog: %s: %s", what, sqlite3_errmsg(c->db));
}

static int exec(sq_catalog *c, const char *sql) {
  int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : db_fail(c, rc, sql);
}

/* A cached statement, reset and unbound, or NULL if it is in use further up the stack
 * (a foreach callback calling back into the same statement). */
static sqlite3_stmt *stmt(sq_catalog *c, int id) {
  sqlite3_stmt *s = c->st[id];
  if (!s) { /* a write statement of a read-only handle on a file older than its columns */
    lk_err_set(&c->base.err, LK_EINVAL, "catalog: opened read-only");
    return NULL;
  }
  if (sqlite3_stmt_busy(s)) {
    lk_err_set(&c->base.err, LK_EINVAL, "catalog: statement re-entered from a callback");
    return NULL;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

static int done(sqlite3_stmt *s, int rc) {
  sqlite3_reset(s);
  return rc;
}

/* Runs a statement that returns no rows. */
static int step_done(sq_catalog *c, sqlite3_stmt *s, const char *what) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) rc = db_fail(c, rc, what);
  else rc = 0;
  return done(s, rc);
}

/* Runs a one-value "SELECT ..." with no parameters into *out. */
static int query_int(sq_catalog *c, const char *sql, int64_t *out) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, sql);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(s, 0);
    rc = 0;
  } else {
    rc = db_fail(c, rc, sql);
  }
  sqlite3_finalize(s);
  return rc;
}

static int is_little_endian(void) { return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__; }

/* Checks that the file is a lookalike catalog of a version we know; creates the schema in an
 * empty file when allowed. */
static int check_schema(sq_catalog *c, int create) {
  int64_t n;
  int rc = query_int(c, "SELECT count(*) FROM sqlite_master", &n);
  if (rc) {
    int code = c->sqlite_rc & 0xff; /* a lock or a read-only file says so itself */
    if (rc == LK_ECORRUPT || (rc == LK_EDB && code != SQLITE_BUSY && code != SQLITE_LOCKED && code != SQLITE_READONLY))
      return lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: not a lookalike catalog (%s)",
                        sqlite3_errmsg(c->db));
    return rc;
  }
  if (n == 0) {
    if (!create)
      return lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: empty database, not a lookalike catalog");
    /* two processes may race to create: the immediate transaction serialises them */
    if ((rc = exec(c, "BEGIN IMMEDIATE")) != 0) return rc;
    if ((rc = query_int(c, "SELECT count(*) FROM sqlite_master", &n)) != 0) goto rollback;
    if (n == 0) {
      char sql[64];
      snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APP_ID);
      if ((rc = exec(c, sql)) != 0 || (rc = exec(c, schema_sql)) != 0) goto rollback;
    }
    if ((rc = exec(c, "COMMIT")) != 0) goto rollback;
  }
  int64_t app;
  if ((rc = query_int(c, "PRAGMA application_id", &app)) != 0) return rc;
  if (app != 0 && app != APP_ID)
    return lk_err_set(&c->base.err, LK_ECORRUPT,
                      "catalog: not a lookalike catalog (application_id %#llx)",
                      (unsigned long long)app);
  if ((rc = query_int(c,
                      "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                      " AND name IN ('meta', 'items', 'vectors')",
                      &n)) != 0)
    return rc;
  if (n != 3)
    return lk_err_set(&c->base.err, LK_ECORRUPT,
                      "catalog: not a lookalike catalog (no meta/items/vectors tables)");
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &s,
                          NULL);
  if (rc != SQLITE_OK) return lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: bad meta table");
  rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    rc = rc == SQLITE_DONE ? lk_err_set(&c->base.err, LK_ECORRUPT,
                                        "catalog: not a lookalike catalog (no schema_version)")
                           : db_fail(c, rc, "reading schema_version");
  } else {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    char *end = NULL;
    long ver = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || ver != SCHEMA_VERSION)
      rc = lk_err_set(&c->base.err, LK_EMISMATCH,
                      "catalog: schema_version '%s' is not %d (made by another version of "
                      "lookalike?)",
                      v ? v : "(null)", SCHEMA_VERSION);
    else
      rc = 0;
  }
  sqlite3_finalize(s);
  return rc;
rollback:
  sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Opens c->db on name (a path, or a file: URI with uri set) and reads the schema. */
static int open_db(sq_catalog *c, const char *name, int uri) {
  int oflags = c->writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  if (uri) oflags |= SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(name, &c->db, oflags, NULL);
  if (rc != SQLITE_OK && c->writable && (rc & 0xff) == SQLITE_CANTOPEN && access(c->path, F_OK) != 0) {
    /* SQLite's errno is that of its last try (a read-only one): ask the system whether the
     * folder can take a new file */
    char dir[4096];
    const char *slash = strrchr(c->path, '/');
    size_t n = slash ? (size_t)(slash - c->path) : 0;
    if (n < sizeof dir) {
      memcpy(dir, c->path, n);
      strcpy(dir + n, slash ? (n ? "" : "/") : ".");
      if (access(dir, W_OK | X_OK) != 0)
        return lk_err_set(&c->base.err, LK_EIO, "catalog: cannot create %s: folder %s: %s", c->path, dir,
                          strerror(errno));
    }
  }
  if (rc != SQLITE_OK)
    return c->db ? db_fail(c, rc, c->path) : lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_timeout(c->db, BUSY_MS);
  /* SQLite opens a file it may not write read-only without a word: index must hear of it */
  if (c->writable && sqlite3_db_readonly(c->db, "main") == 1)
    return lk_err_set(&c->base.err, LK_EIO,
                      "catalog: %s cannot be written (a read-only file, folder or filesystem): "
                      "`lookalike index` needs to write it; search, serve, eval and check can read it as it is",
                      c->path);
  if ((rc = exec(c, "PRAGMA foreign_keys = ON")) != 0) return rc;
  return check_schema(c, c->writable);
}

/* "file:" URI of path with immutable=1 (SQLite URI rules: '%', '?' and '#' escaped). */
static int immutable_uri(const char *path, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = "file:"; *p; p++) out[n++] = *p;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (n + 4 > cap) return -1;
    if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20) n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
    else out[n++] = (char)*p;
  }
  const char *q = "?immutable=1";
  if (n + strlen(q) + 1 > cap) return -1;
  memcpy(out + n, q, strlen(q) + 1);
  return 0;
}

/* A read-only open that failed because the -wal / -shm files beside the catalog cannot be
 * made (read-only filesystem or folder, full disk) is tried again with immutable=1, which
 * needs neither, when no -wal holds changes that the file itself lacks. 1: tried again. */
static int reopen_immutable(sq_catalog *c, const char *path, int *rc) {
  int code = c->sqlite_rc & 0xff;
  if (c->writable || !(code == SQLITE_CANTOPEN || code == SQLITE_IOERR || code == SQLITE_READONLY ||
                       code == SQLITE_FULL))
    return 0;
  if (access(path, R_OK) != 0) return 0; /* the file itself cannot be read: that error stands */
  char wal[4096], uri[3 * 4096 + 32];
  struct stat st;
  if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int)sizeof wal || immutable_uri(path, uri, sizeof uri)) return 0;
  char first[LK_ERRMSG_MAX];
  snprintf(first, sizeof first, "%s", lk_err_msg(&c->base.err));
  if (stat(wal, &st) == 0 && st.st_size > 0) {
    *rc = lk_err_set(&c->base.err, LK_EIO,
                     "catalog: %s cannot be read: %s holds changes not yet in the file and the files SQLite "
                     "needs beside it cannot be made (read-only filesystem or full disk?): %s. Free some "
                     "space, or run `lookalike index` on it once where it can be written",
                     path, wal, sqlite3_errstr(c->sqlite_rc));
    return 1;
  }
  for (int i = 0; i < ST_N; i++) { sqlite3_finalize(c->st[i]); c->st[i] = NULL; }
  sqlite3_close(c->db);
  c->db = NULL;
  if ((*rc = open_db(c, uri, 1)) != 0) {
    *rc = lk_err_set(&c->base.err, *rc, "%s", first); /* the first reason is the one that tells */
    return 1;
  }
  snprintf(c->base.note, sizeof c->base.note,
           "%s opened read-only (immutable): files beside it cannot be made (read-only filesystem or "
           "full disk), so it is read as it is and changes made meanwhile by others are not seen", path);
  return 1;
}

/* Adds to a file what schema 1 gained since it was made (source column, change sequence), when
 * the handle may write; records whether items has its source column. */
static int add_extras(sq_catalog *c) {
  static const char has_src[] = "SELECT count(*) FROM pragma_table_info('items') WHERE name = 'source'";
  static const char n_objs[] =
      "SELECT count(*) FROM sqlite_master WHERE name IN ('catalog_version', 'changes',"
      " 'changes_version', 'lk_items_ins', 'lk_items_upd', 'lk_items_del', 'lk_vectors_ins',"
      " 'lk_vectors_upd', 'lk_vectors_del', 'lk_meta_ins', 'lk_meta_upd', 'lk_meta_del')";
  int64_t src = 0, objs = 0;
  int rc;
  if ((rc = query_int(c, has_src, &src)) || (rc = query_int(c, n_objs, &objs))) return rc;
  c->has_source = src > 0;
  if (!c->writable || (src > 0 && objs == CHANGES_OBJECTS)) return 0;
  if ((rc = exec(c, "BEGIN IMMEDIATE"))) return rc; /* a concurrent opener may add them first */
  if ((rc = query_int(c, has_src, &src)) || (!src && (rc = exec(c, "ALTER TABLE items ADD COLUMN source TEXT"))) ||
      (rc = exec(c, changes_sql)) || (rc = exec(c, "COMMIT"))) {
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  c->has_source = 1;
  return 0;
}

int lk_catalog_sqlite_open(const char *path, int flags, lk_catalog **out, lk_errbuf *err) {
  int exists, frc = lk_file_check(path, &exists, err); /* SQLite's own open would block on a FIFO */
  if (frc) return frc;
  if (flags == LK_CATALOG_READONLY && !exists)
    return lk_err_set(err, LK_ENOTFOUND, "catalog: %s: %s", path, strerror(ENOENT));
  sq_catalog *c = calloc(1, sizeof *c);
  if (!c) return lk_err_set(err, LK_ENOMEM, "catalog: out of memory");
  c->base.ops = &sq_ops;
  c->writable = flags == LK_CATALOG_CREATE;
  int rc = 0;
  struct stat sb;
  if (!(c->path = strdup(path))) {
    rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    goto fail;
  }
  if (stat(path, &sb) == 0) c->dev = sb.st_dev, c->ino = sb.st_ino;
  rc = open_db(c, path, 0);
  if (rc && rc != LK_ENOMEM) reopen_immutable(c, path, &rc);
  if (rc) goto fail;
  if (c->writable) {
    /* WAL + synchronous=NORMAL: a committed transaction survives the process being killed */
    sqlite3_stmt *s;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc != SQLITE_OK) {
      rc = db_fail(c, rc, "setting WAL mode");
      goto fail;
    }
    rc = sqlite3_step(s);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    if (!mode)
      rc = db_fail(c, rc, "setting WAL mode");
    else if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) /* ":memory:" is fine */
      rc = lk_err_set(&c->base.err, LK_EDB, "catalog: could not switch to WAL (mode %s)", mode);
    else
      rc = 0;
    sqlite3_finalize(s);
    if (rc) goto fail;
    if ((rc = exec(c, "PRAGMA synchronous = NORMAL")) != 0) goto fail;
  }
  if ((rc = add_extras(c)) != 0) goto fail;
  for (int i = 0; i < ST_N; i++) {
    const char *sql = stmt_sql[i];
    if (!c->has_source) { /* read-only, older file: its items read with no source */
      if (i == ST_PUT_ITEM) continue;
      if (i == ST_GET_ITEM) sql = "SELECT " ITEM_COLS_NOSRC " FROM items WHERE id = ?1";
      if (i == ST_ALL_ITEMS) sql = "SELECT " ITEM_COLS_NOSRC " FROM items ORDER BY id";
    }
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
    if (rc != SQLITE_OK) {
      /* the tables exist but have the wrong columns */
      rc = lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: schema does not match: %s",
                      sqlite3_errmsg(c->db));
      goto fail;
    }
  }
  lk_err_clear(&c->base.err);
  *out = &c->base;
  return 0;
fail:
  lk_err_set(err, rc, "%s", lk_err_msg(&c->base.err));
  sq_close(&c->base);
  return rc;
}

static void sq_close(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  for (int i = 0; i < ST_N; i++) sqlite3_finalize(c->st[i]);
  /* an open transaction is rolled back by sqlite3_close */
  sqlite3_close(c->db);
  free(c->vbuf);
  free(c->path);
  free(c);
}

static int sq_get_meta(lk_catalog *base, const char *key, char **value) {
  sq_catalog *c = (sq_catalog *)base;
  *value = NULL;
  sqlite3_stmt *s = stmt(c, ST_GET_META);
  if (!s) return LK_EINVAL;
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE)
    return done(s, lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no meta key '%s'", key));
  if (rc != SQLITE_ROW) return done(s, db_fail(c, rc, "reading meta"));
  const char *v = (const char *)sqlite3_column_text(s, 0);
  if (!v) return done(s, lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: meta key '%s' is NULL", key));
  *value = strdup(v);
  if (!*value) return done(s, lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory"));
  return done(s, 0);
}

static int sq_set_meta(lk_catalog *base, const char *key, const char *value) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_SET_META);
  if (!s) return LK_EINVAL;
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  if (value) sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
  return step_done(c, s, "writing meta");
}

static int sq_set_durable(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  if (!c->writable) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: opened read-only");
  return exec(c, "PRAGMA synchronous = FULL");
}

static int sq_begin(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  if (!sqlite3_get_autocommit(c->db))
    return lk_err_set(&c->base.err, LK_EINVAL, "catalog: a transaction is already open");
  /* IMMEDIATE takes the write lock now, so a writer never fails half-way on a lock upgrade */
  return exec(c, c->writable ? "BEGIN IMMEDIATE" : "BEGIN");
}

static int sq_commit(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  if (sqlite3_get_autocommit(c->db))
    return lk_err_set(&c->base.err, LK_EINVAL, "catalog: commit without a transaction");
  return exec(c, "COMMIT");
}

static int sq_rollback(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  if (sqlite3_get_autocommit(c->db)) return 0; /* nothing open: fine on error paths */
  return exec(c, "ROLLBACK");
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int sq_put_item(lk_catalog *base, const lk_item *it) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_PUT_ITEM);
  if (!s) return LK_EINVAL;
  sqlite3_bind_int64(s, 1, it->id);
  bind_text(s, 2, it->path);
  bind_text(s, 3, it->hash);
  sqlite3_bind_int64(s, 4, it->size);
  sqlite3_bind_int64(s, 5, it->mtime);
  for (int i = 0; i < LK_NFIELDS; i++) bind_text(s, 6 + i, it->field[i]);
  bind_text(s, 15, it->extra);
  bind_text(s, 16, it->status);
  bind_text(s, 17, it->error);
  bind_text(s, 18, it->source);
  return step_done(c, s, "writing item");
}

/* Fills it from the current row of an ITEM_COLS select; with copy, strings are strdup'd,
 * otherwise they point into the statement (valid until it steps again). */
static int row_to_item(sqlite3_stmt *s, lk_item *it, int copy) {
  memset(it, 0, sizeof *it);
  it->id = sqlite3_column_int64(s, 0);
  it->size = sqlite3_column_int64(s, 3);
  it->mtime = sqlite3_column_int64(s, 4);
  char **dst[ITEM_NCOLS] = {NULL, &it->path, &it->hash, NULL, NULL};
  for (int i = 0; i < LK_NFIELDS; i++) dst[5 + i] = &it->field[i];
  dst[14] = &it->extra;
  dst[15] = &it->status;
  dst[16] = &it->error;
  dst[17] = &it->source;
  for (int i = 0; i < ITEM_NCOLS; i++) {
    if (!dst[i]) continue;
    const char *v = (const char *)sqlite3_column_text(s, i);
    if (!v) {
      if (sqlite3_column_type(s, i) != SQLITE_NULL) return LK_ENOMEM;
      continue;
    }
    *dst[i] = copy ? strdup(v) : (char *)v;
    if (!*dst[i]) return LK_ENOMEM;
  }
  return 0;
}

static int sq_get_item(lk_catalog *base, int64_t id, lk_item *it) {
  sq_catalog *c = (sq_catalog *)base;
  memset(it, 0, sizeof *it);
  sqlite3_stmt *s = stmt(c, ST_GET_ITEM);
  if (!s) return LK_EINVAL;
  sqlite3_bind_int64(s, 1, id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE)
    return done(s, lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no item %lld", (long long)id));
  if (rc != SQLITE_ROW) return done(s, db_fail(c, rc, "reading item"));
  if (row_to_item(s, it, 1) != 0) {
    lk_item_clear(it);
    return done(s, lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory"));
  }
  return done(s, 0);
}

/* ------------------------------------------------------------------ stored photos
 * The photos table is made by the first put_photo (IF NOT EXISTS, with its change triggers), so
 * catalogs of older versions gain it then and older versions ignore it; its statements are
 * prepared per call, as the table may be missing. A photo written or deleted marks its item
 * changed (the follower reads the item again). */
#define PHOTOS_TABLE                                                                             \
  "CREATE TABLE IF NOT EXISTS photos(id INTEGER PRIMARY KEY REFERENCES items(id),"              \
  " type TEXT NOT NULL, data BLOB NOT NULL);"                                                    \
  TRIGGER("lk_photos_ins", "INSERT", "photos", BUMP MARK("NEW.id"))                               \
  TRIGGER("lk_photos_upd", "UPDATE", "photos WHEN (OLD.id, OLD.type, OLD.data) IS NOT (NEW.id, NEW.type, NEW.data)", \
          BUMP MARK("OLD.id") MARK("NEW.id"))                                                   \
  TRIGGER("lk_photos_del", "DELETE", "photos", BUMP MARK("OLD.id"))

/* 1 in *exists when the file has the photos table (remembered once seen: tables stay). */
static int photos_exist(sq_catalog *c, int *exists) {
  if (c->has_photos) return *exists = 1, 0;
  int64_t n;
  int rc = query_int(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'photos'", &n);
  if (rc) return rc;
  *exists = c->has_photos = n > 0;
  return 0;
}

/* Deletes id's stored photo; *deleted (may be NULL) gets whether there was one. */
static int delete_photo(sq_catalog *c, int64_t id, int *deleted) {
  int exists, rc = photos_exist(c, &exists);
  if (deleted) *deleted = 0;
  if (rc || !exists) return rc;
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "DELETE FROM photos WHERE id = ?1", -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "deleting a photo");
  sqlite3_bind_int64(s, 1, id);
  rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) rc = db_fail(c, rc, "deleting a photo");
  else {
    rc = 0;
    if (deleted) *deleted = sqlite3_changes(c->db) > 0;
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_put_photo(lk_catalog *base, int64_t id, const char *type, const void *data, size_t len) {
  sq_catalog *c = (sq_catalog *)base;
  if (!c->writable) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: opened read-only");
  int exists, rc = photos_exist(c, &exists);
  if (rc) return rc;
  if (!exists) {
    if ((rc = exec(c, "SAVEPOINT lk_photos")) != 0) return rc;
    rc = exec(c, PHOTOS_TABLE);
    if (rc) sqlite3_exec(c->db, "ROLLBACK TO lk_photos", NULL, NULL, NULL);
    sqlite3_exec(c->db, "RELEASE lk_photos", NULL, NULL, NULL);
    if (rc) return rc;
  }
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "INSERT INTO photos(id, type, data) VALUES(?1, ?2, ?3) ON CONFLICT(id) DO UPDATE"
                          " SET type = excluded.type, data = excluded.data", -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "storing a photo");
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
  sqlite3_bind_blob64(s, 3, data ? data : "", (sqlite3_uint64)len, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) rc = 0;
  else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: photo for missing item %lld", (long long)id);
  else rc = db_fail(c, rc, "storing a photo");
  sqlite3_finalize(s);
  return rc;
}

static int sq_get_photo(lk_catalog *base, int64_t id, char **type, void **data, size_t *len) {
  sq_catalog *c = (sq_catalog *)base;
  int exists, rc = photos_exist(c, &exists);
  if (rc) return rc;
  if (!exists) return lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id);
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "SELECT type, data FROM photos WHERE id = ?1", -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "reading a photo");
  sqlite3_bind_int64(s, 1, id);
  rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) {
    rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id);
  } else if (rc != SQLITE_ROW) {
    rc = db_fail(c, rc, "reading a photo");
  } else {
    const char *t = (const char *)sqlite3_column_text(s, 0);
    const void *d = sqlite3_column_blob(s, 1);
    size_t n = (size_t)sqlite3_column_bytes(s, 1);
    *type = strdup(t ? t : "application/octet-stream");
    *data = malloc(n ? n : 1);
    if (!*type || !*data) {
      free(*type), free(*data);
      *type = NULL, *data = NULL;
      rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    } else {
      if (n) memcpy(*data, d, n);
      *len = n;
      rc = 0;
    }
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_delete_photo(lk_catalog *base, int64_t id) {
  sq_catalog *c = (sq_catalog *)base;
  if (!c->writable) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: opened read-only");
  int deleted, rc = delete_photo(c, id, &deleted);
  if (!rc && !deleted) rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no stored photo for item %lld", (long long)id);
  return rc;
}

static int sq_foreach_photo(lk_catalog *base, lk_photo_cb cb, void *ctx) {
  sq_catalog *c = (sq_catalog *)base;
  int exists, rc = photos_exist(c, &exists);
  if (rc || !exists) return rc;
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "SELECT id, type, data FROM photos ORDER BY id", -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "reading photos");
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const void *d = sqlite3_column_blob(s, 2);
    int r = cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1), d ? d : "",
               (size_t)sqlite3_column_bytes(s, 2));
    if (r) {
      sqlite3_finalize(s);
      return r;
    }
  }
  rc = rc == SQLITE_DONE ? 0 : db_fail(c, rc, "reading photos");
  sqlite3_finalize(s);
  return rc;
}

static int sq_delete_item(lk_catalog *base, int64_t id) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *dv = stmt(c, ST_DEL_VECTOR), *di = stmt(c, ST_DEL_ITEM);
  if (!dv || !di) return LK_EINVAL;
  int rc;
  if ((rc = exec(c, "SAVEPOINT lk_delete")) != 0) return rc;
  sqlite3_bind_int64(dv, 1, id);
  sqlite3_bind_int64(di, 1, id);
  if ((rc = delete_photo(c, id, NULL)) == 0 && (rc = step_done(c, dv, "deleting vector")) == 0 &&
      (rc = step_done(c, di, "deleting item")) == 0 && sqlite3_changes(c->db) == 0)
    rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no item %lld", (long long)id);
  if (rc) sqlite3_exec(c->db, "ROLLBACK TO lk_delete", NULL, NULL, NULL);
  sqlite3_exec(c->db, "RELEASE lk_delete", NULL, NULL, NULL);
  return rc;
}

static int sq_put_vector(lk_catalog *base, int64_t id, const float *v, int dim) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_PUT_VECTOR);
  if (!s) return LK_EINVAL;
  size_t bytes = (size_t)dim * 4; /* dim <= MAX_DIM: no overflow */
  void *tmp = NULL;
  const void *blob = v;
  if (!is_little_endian()) {
    if (!(tmp = malloc(bytes))) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    lk_catalog_encode_floats(tmp, v, dim);
    blob = tmp;
  }
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_int(s, 2, dim);
  sqlite3_bind_blob(s, 3, blob, (int)bytes, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE)
    rc = 0;
  else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    rc = lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: vector for missing item %lld",
                    (long long)id);
  else
    rc = db_fail(c, rc, "writing vector");
  done(s, 0);
  free(tmp);
  return rc;
}

/* Validates a vector row (dim column, blob column) of statement s; returns dim or an error. */
static int vector_row(sq_catalog *c, sqlite3_stmt *s, int64_t id, int dcol, const void **blob) {
  int64_t dim = sqlite3_column_int64(s, dcol);
  *blob = sqlite3_column_blob(s, dcol + 1);
  int64_t bytes = sqlite3_column_bytes(s, dcol + 1);
  if (sqlite3_column_type(s, dcol + 1) != SQLITE_BLOB || dim <= 0 || dim > MAX_DIM ||
      bytes != dim * 4)
    return lk_err_set(&c->base.err, LK_ECORRUPT,
                      "catalog: vector %lld has dim %lld but %lld bytes (want 4*dim)",
                      (long long)id, (long long)dim, (long long)bytes);
  return (int)dim;
}

static int sq_get_vector(lk_catalog *base, int64_t id, float *v, int cap) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_GET_VECTOR);
  if (!s) return LK_EINVAL;
  sqlite3_bind_int64(s, 1, id);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE)
    return done(s, lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no vector for item %lld",
                              (long long)id));
  if (rc != SQLITE_ROW) return done(s, db_fail(c, rc, "reading vector"));
  const void *blob;
  int dim = vector_row(c, s, id, 0, &blob);
  if (dim < 0) return done(s, dim);
  if (dim > cap)
    return done(s, lk_err_set(&c->base.err, LK_ETOOBIG, "catalog: vector %lld has dim %d > %d",
                              (long long)id, dim, cap));
  lk_catalog_decode_floats(v, blob, dim);
  return done(s, dim);
}

static int sq_delete_all_vectors(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_DEL_VECTORS);
  if (!s) return LK_EINVAL;
  return step_done(c, s, "deleting vectors");
}

static int sq_foreach_item(lk_catalog *base, lk_item_cb cb, void *ctx) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_ALL_ITEMS);
  if (!s) return LK_EINVAL;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    lk_item it;
    if (row_to_item(s, &it, 0) != 0)
      return done(s, lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory"));
    int r = cb(ctx, &it);
    if (r) return done(s, r);
  }
  return done(s, rc == SQLITE_DONE ? 0 : db_fail(c, rc, "reading items"));
}

static int sq_foreach_vector(lk_catalog *base, lk_vector_cb cb, void *ctx) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_ALL_VECTORS);
  if (!s) return LK_EINVAL;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(s, 0);
    const void *blob;
    int dim = vector_row(c, s, id, 1, &blob);
    if (dim < 0) return done(s, dim);
    if ((size_t)dim > c->vcap) { /* one buffer for the whole scan: grows once in practice */
      float *p = realloc(c->vbuf, (size_t)dim * sizeof *p);
      if (!p) return done(s, lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory"));
      c->vbuf = p;
      c->vcap = (size_t)dim;
    }
    lk_catalog_decode_floats(c->vbuf, blob, dim);
    int r = cb(ctx, id, c->vbuf, dim);
    if (r) return done(s, r);
  }
  return done(s, rc == SQLITE_DONE ? 0 : db_fail(c, rc, "reading vectors"));
}

static int count_one(sq_catalog *c, int id, int64_t *out) {
  if (!out) return 0;
  sqlite3_stmt *s = stmt(c, id);
  if (!s) return LK_EINVAL;
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return done(s, db_fail(c, rc, "counting"));
  *out = sqlite3_column_int64(s, 0);
  return done(s, 0);
}

static int sq_counts(lk_catalog *base, int64_t *items, int64_t *vectors, int64_t *errors) {
  sq_catalog *c = (sq_catalog *)base;
  int rc;
  if ((rc = count_one(c, ST_COUNT_ITEMS, items)) != 0) return rc;
  if ((rc = count_one(c, ST_COUNT_VECTORS, vectors)) != 0) return rc;
  return count_one(c, ST_COUNT_ERRORS, errors);
}

/* Runs a check query: a row means a problem, described by its one text column. Returns 0, the
 * problem as LK_ECORRUPT, or a database error. */
static int check_query(sq_catalog *c, const char *sql) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "check");
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(s, 0);
    rc = lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: %s", t ? t : "invariant violated");
  } else {
    rc = rc == SQLITE_DONE ? 0 : db_fail(c, rc, "check");
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_check(lk_catalog *base) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &s, NULL);
  if (rc != SQLITE_OK) {
    rc = db_fail(c, rc, "integrity_check");
    goto out;
  }
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const char *r = (const char *)sqlite3_column_text(s, 0);
    rc = r && strcmp(r, "ok") == 0
             ? 0
             : lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: integrity_check: %s", r ? r : "?");
  } else {
    rc = db_fail(c, rc, "integrity_check");
  }
  sqlite3_finalize(s);
  if (rc) goto out;
  /* each query returns one row describing the first problem it finds */
  static const char *const checks[] = {
      "SELECT 'vector ' || v.id || ' has no item' FROM vectors v"
      " LEFT JOIN items i ON i.id = v.id WHERE i.id IS NULL LIMIT 1",
      "SELECT 'vector ' || id || ': blob length ' || ifnull(length(CAST(data AS BLOB)), 'NULL')"
      " || ' is not 4*dim (dim ' || ifnull(dim, 'NULL') || ', ' || typeof(data) || ')'"
      " FROM vectors WHERE typeof(dim) != 'integer' OR typeof(data) != 'blob' OR dim <= 0"
      " OR length(data) != 4 * dim LIMIT 1",
      "SELECT 'vector ' || v.id || ' has dim ' || v.dim || ' but vector ' || f.id || ' has '"
      " || f.dim FROM vectors v, (SELECT id, dim FROM vectors ORDER BY id LIMIT 1) f"
      " WHERE v.dim != f.dim LIMIT 1",
      "SELECT 'item ' || id || ' has unknown status ''' || status || '''' FROM items"
      " WHERE status IS NOT NULL AND status NOT IN ('ok', 'error', 'pending') LIMIT 1",
  };
  for (size_t i = 0; i < sizeof checks / sizeof checks[0] && !rc; i++)
    rc = check_query(c, checks[i]);
  int photos = 0;
  if (!rc && !(rc = photos_exist(c, &photos)) && photos)
    rc = check_query(c, "SELECT 'stored photo ' || p.id || ' has no item' FROM photos p"
                        " LEFT JOIN items i ON i.id = p.id WHERE i.id IS NULL LIMIT 1");
out:
  return rc;
}

static int sq_add_meta(lk_catalog *base, const char *key, const char *value) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_ADD_META);
  if (!s) return LK_EINVAL;
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
  return step_done(c, s, "writing meta");
}

static int sq_foreach_meta(lk_catalog *base, lk_meta_cb cb, void *ctx) {
  sq_catalog *c = (sq_catalog *)base;
  sqlite3_stmt *s = stmt(c, ST_ALL_META);
  if (!s) return LK_EINVAL;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *k = (const char *)sqlite3_column_text(s, 0);
    const char *v = (const char *)sqlite3_column_text(s, 1);
    if (!k) continue;
    int r = cb(ctx, k, v);
    if (r) return done(s, r);
  }
  return done(s, rc == SQLITE_DONE ? 0 : db_fail(c, rc, "reading meta"));
}

/* ------------------------------------------------------------------ API keys
 * The api_keys table is made by the first add_key (IF NOT EXISTS), so catalogs of older
 * versions gain it then; its statements are prepared per call, as the table may be missing at
 * open. AUTOINCREMENT: the id of a revoked key is never given to another. */
#define KEYS_TABLE                                                                               \
  "CREATE TABLE IF NOT EXISTS api_keys(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE,"  \
  " role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')), hash TEXT NOT NULL UNIQUE,"  \
  " created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)"

static int keys_table_exists(sq_catalog *c, int *exists) {
  int64_t n;
  int rc = query_int(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'", &n);
  if (!rc) *exists = n > 0;
  return rc;
}

static int sq_add_key(lk_catalog *base, const lk_key *k, int64_t *id) {
  sq_catalog *c = (sq_catalog *)base;
  if (!c->writable) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: opened read-only");
  int rc;
  if ((rc = exec(c, "SAVEPOINT lk_key")) != 0) return rc;
  sqlite3_stmt *s = NULL;
  if ((rc = exec(c, KEYS_TABLE)) != 0) goto out;
  rc = sqlite3_prepare_v2(c->db, "INSERT INTO api_keys(name, role, hash, created, revoked) VALUES(?1, ?2, ?3, ?4, ?5)",
                          -1, &s, NULL);
  if (rc != SQLITE_OK) {
    rc = db_fail(c, rc, "storing a key");
    goto out;
  }
  bind_text(s, 1, k->name);
  bind_text(s, 2, k->role);
  bind_text(s, 3, k->hash);
  sqlite3_bind_int64(s, 4, k->created);
  sqlite3_bind_int(s, 5, k->revoked != 0);
  rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) {
    *id = sqlite3_last_insert_rowid(c->db);
    rc = 0;
  } else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    rc = lk_err_set(&c->base.err, LK_EINVAL, "catalog: a key named '%s' exists already: choose another name",
                    k->name ? k->name : "");
  } else {
    rc = db_fail(c, rc, "storing a key");
  }
out:
  sqlite3_finalize(s);
  if (rc) sqlite3_exec(c->db, "ROLLBACK TO lk_key", NULL, NULL, NULL);
  sqlite3_exec(c->db, "RELEASE lk_key", NULL, NULL, NULL);
  return rc;
}

static int sq_foreach_key(lk_catalog *base, lk_key_cb cb, void *ctx) {
  sq_catalog *c = (sq_catalog *)base;
  int exists, rc = keys_table_exists(c, &exists);
  if (rc || !exists) return rc;
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "SELECT id, name, role, hash, created, revoked FROM api_keys ORDER BY id", -1, &s,
                          NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "reading keys");
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    lk_key k = {sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
                sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5) != 0};
    if (!k.role || !k.hash) continue; /* NOT NULL columns: only a hand-edited file */
    int r = cb(ctx, &k);
    if (r) {
      sqlite3_finalize(s);
      return r;
    }
  }
  rc = rc == SQLITE_DONE ? 0 : db_fail(c, rc, "reading keys");
  sqlite3_finalize(s);
  return rc;
}

/* ------------------------------------------------------------------ change following */

/* The catalog version (0 for a file without a change sequence: an older one opened read-only;
 * its first writable open starts the sequence at 0, so a follower misses nothing). */
static int read_version(sq_catalog *c, int64_t *v) {
  int64_t n;
  int rc = query_int(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'catalog_version'", &n);
  if (rc) return rc;
  *v = 0;
  if (n && (rc = query_int(c, "SELECT ifnull((SELECT v FROM catalog_version WHERE one = 1), -1)", v))) return rc;
  if (*v < 0) return lk_err_set(&c->base.err, LK_ECORRUPT, "catalog: catalog_version has no row");
  return 0;
}

static int sq_version(lk_catalog *base, int64_t *version) {
  sq_catalog *c = (sq_catalog *)base;
  int rc = read_version(c, version);
  if (!rc) c->seen = *version;
  return rc;
}

/* Grows c->vbuf to dim floats: 0, or LK_ENOMEM (the old buffer kept) on the handle. */
static int grow_vbuf(sq_catalog *c, int dim) {
  if ((size_t)dim <= c->vcap) return 0;
  float *p = realloc(c->vbuf, (size_t)dim * sizeof *p);
  if (!p) return lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
  c->vbuf = p;
  c->vcap = (size_t)dim;
  return 0;
}

/* Runs one changes query (?1 = since) and hands each row to cb: deletions (id only) when
 * items is 0, else items with their vector (columns after ITEM_NCOLS). */
static int each_change(sq_catalog *c, const char *sql, int64_t since, int items, lk_change_cb cb, void *ctx) {
  sqlite3_stmt *s;
  int step = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL), rc = 0;
  if (step != SQLITE_OK) return db_fail(c, step, "reading changes");
  sqlite3_bind_int64(s, 1, since);
  while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(s, 0);
    lk_item it;
    const void *blob;
    int dim;
    if (!items) rc = cb(ctx, id, NULL, NULL, 0);
    else if (row_to_item(s, &it, 0)) rc = lk_err_set(&c->base.err, LK_ENOMEM, "catalog: out of memory");
    else if (sqlite3_column_type(s, ITEM_NCOLS) == SQLITE_NULL) rc = cb(ctx, id, &it, NULL, 0);
    else if ((dim = vector_row(c, s, id, ITEM_NCOLS, &blob)) < 0) rc = dim;
    else if ((rc = grow_vbuf(c, dim))) break;
    else {
      lk_catalog_decode_floats(c->vbuf, blob, dim);
      rc = cb(ctx, id, &it, c->vbuf, dim);
    }
  }
  if (!rc && step != SQLITE_DONE) rc = db_fail(c, step, "reading changes");
  sqlite3_finalize(s);
  return rc;
}

static int sq_revoke_key(lk_catalog *base, int64_t id) {
  sq_catalog *c = (sq_catalog *)base;
  if (!c->writable) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: opened read-only");
  int exists, rc = keys_table_exists(c, &exists);
  if (rc) return rc;
  if (!exists) return lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no key %lld (the catalog has no keys)", (long long)id);
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(c->db, "UPDATE api_keys SET revoked = 1 WHERE id = ?1", -1, &s, NULL);
  if (rc != SQLITE_OK) return db_fail(c, rc, "revoking a key");
  sqlite3_bind_int64(s, 1, id);
  rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) rc = db_fail(c, rc, "revoking a key");
  else rc = sqlite3_changes(c->db) ? 0 : lk_err_set(&c->base.err, LK_ENOTFOUND, "catalog: no key %lld", (long long)id);
  sqlite3_finalize(s);
  return rc;
}

static int sq_changes(lk_catalog *base, int64_t since, lk_change_cb cb, void *ctx, int64_t *version) {
  sq_catalog *c = (sq_catalog *)base;
  if (!sqlite3_get_autocommit(c->db))
    return lk_err_set(&c->base.err, LK_EINVAL, "catalog: changes asked for inside a transaction");
  /* one read transaction (a WAL snapshot) for the version and the rows: exactly "changes <= v" */
  if (c->replaced) { /* its versions are another file's: the follower reads it whole */
    c->replaced = 0;
    return lk_err_set(&c->base.err, LK_EMISMATCH, "catalog: %s was replaced by another file", c->path);
  }
  int rc = exec(c, "BEGIN");
  if (rc) return rc;
  int64_t v = 0;
  if ((rc = read_version(c, &v))) goto out;
  if (v < since) {
    rc = lk_err_set(&c->base.err, LK_EMISMATCH,
                    "catalog: the catalog version went back from %lld to %lld (re-created or restored?)",
                    (long long)since, (long long)v);
    goto out;
  }
  if (v > since) {
    /* driven by the version index (CROSS JOIN: changes first), so that a few changes cost a
     * few rows at any catalog size; left to itself the planner walked every item in id order
     * (about 0.1-1 s at a million items) */
    if ((rc = each_change(c,
                          "SELECT c.id FROM changes c INDEXED BY changes_version WHERE c.version > ?1"
                          " AND NOT EXISTS (SELECT 1 FROM items i WHERE i.id = c.id) ORDER BY c.id",
                          since, 0, cb, ctx)))
      goto out;
    const char *sql = c->has_source
                          ? "SELECT i.id, i.path, i.hash, i.size, i.mtime, i.gender, i.masterCategory,"
                            " i.subCategory, i.articleType, i.baseColour, i.season, i.year, i.usage,"
                            " i.productDisplayName, i.extra, i.status, i.error, i.source, v.dim, v.data"
                            " FROM changes c INDEXED BY changes_version CROSS JOIN items i ON i.id = c.id"
                            " LEFT JOIN vectors v ON v.id = i.id WHERE c.version > ?1 ORDER BY c.id"
                          : "SELECT i.id, i.path, i.hash, i.size, i.mtime, i.gender, i.masterCategory,"
                            " i.subCategory, i.articleType, i.baseColour, i.season, i.year, i.usage,"
                            " i.productDisplayName, i.extra, i.status, i.error, NULL, v.dim, v.data"
                            " FROM changes c INDEXED BY changes_version CROSS JOIN items i ON i.id = c.id"
                            " LEFT JOIN vectors v ON v.id = i.id WHERE c.version > ?1 ORDER BY c.id";
    if ((rc = each_change(c, sql, since, 1, cb, ctx))) goto out;
  }
  *version = c->seen = v;
out:
  sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL); /* ends the read transaction */
  return rc;
}

/* The handle moved onto the file now at its path (another moved in place of the one it had):
 * the connection and statements of a new handle are swapped in, the old ones closed. */
static int reopen(sq_catalog *c) {
  lk_catalog *nb;
  lk_errbuf eb = {0};
  int rc = lk_catalog_sqlite_open(c->path, c->writable ? LK_CATALOG_CREATE : LK_CATALOG_READONLY, &nb, &eb);
  if (rc)
    return lk_err_set(&c->base.err, rc == LK_ENOTFOUND ? LK_EIO : rc, "catalog: %s was replaced or removed: %s",
                      c->path, eb.msg);
  sq_catalog *n = (sq_catalog *)nb, tmp = *c;
  c->db = n->db, n->db = tmp.db;
  memcpy(c->st, n->st, sizeof c->st), memcpy(n->st, tmp.st, sizeof c->st);
  c->has_source = n->has_source;
  c->dev = n->dev, c->ino = n->ino;
  c->replaced = 1;
  sq_close(nb); /* the old connection */
  return 0;
}

/* No notifications in SQLite: the version is looked at every 50 ms (a one-row read). */
static int sq_wait_change(lk_catalog *base, int timeout_ms) {
  sq_catalog *c = (sq_catalog *)base;
  if (!sqlite3_get_autocommit(c->db)) return lk_err_set(&c->base.err, LK_EINVAL, "catalog: waiting inside a transaction");
  for (int waited = 0;; waited += 50) {
    int64_t v;
    /* another file moved in place of this one is another catalog; while none is there, the
     * one open stays (it is what the server serves) */
    struct stat sb;
    if (c->ino && stat(c->path, &sb) == 0 && (sb.st_dev != c->dev || sb.st_ino != c->ino)) {
      int rc = reopen(c);
      return rc ? rc : 1;
    }
    int rc = read_version(c, &v);
    if (rc) return rc;
    if (v != c->seen) return 1;
    if (waited >= timeout_ms) return 0;
    int ms = timeout_ms - waited < 50 ? timeout_ms - waited : 50;
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* The last `limit` ids of the changes table, newest first; an id without an items row was
 * deleted by its last write. None on a file without a change sequence. */
static int sq_recent(lk_catalog *base, int limit, lk_recent_cb cb, void *ctx) {
  sq_catalog *c = (sq_catalog *)base;
  int64_t n;
  int rc = query_int(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'changes'", &n);
  if (rc || !n) return rc;
  sqlite3_stmt *s;
  int step = sqlite3_prepare_v2(c->db,
                                "SELECT c.id, c.version, i.id IS NULL, i.productDisplayName FROM changes c"
                                " LEFT JOIN items i ON i.id = c.id ORDER BY c.version DESC, c.id DESC LIMIT ?1",
                                -1, &s, NULL);
  if (step != SQLITE_OK) return db_fail(c, step, "reading recent changes");
  sqlite3_bind_int(s, 1, limit);
  while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = cb(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int(s, 2),
            (const char *)sqlite3_column_text(s, 3));
  if (!rc && step != SQLITE_DONE) rc = db_fail(c, step, "reading recent changes");
  sqlite3_finalize(s);
  return rc;
}

static const lk_catalog_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .get_meta = sq_get_meta,
    .set_meta = sq_set_meta,
    .add_meta = sq_add_meta,
    .foreach_meta = sq_foreach_meta,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put_item = sq_put_item,
    .get_item = sq_get_item,
    .delete_item = sq_delete_item,
    .put_vector = sq_put_vector,
    .get_vector = sq_get_vector,
    .delete_all_vectors = sq_delete_all_vectors,
    .foreach_item = sq_foreach_item,
    .foreach_vector = sq_foreach_vector,
    .counts = sq_counts,
    .check = sq_check,
    .add_key = sq_add_key,
    .foreach_key = sq_foreach_key,
    .revoke_key = sq_revoke_key,
    .version = sq_version,
    .changes = sq_changes,
    .wait_change = sq_wait_change,
    .recent = sq_recent,
    .put_photo = sq_put_photo,
    .get_photo = sq_get_photo,
    .delete_photo = sq_delete_photo,
    .foreach_photo = sq_foreach_photo,
    .set_durable = sq_set_durable,
};
