/* lookalike.h — the public API of lookalike, visual search for fashion catalogs: index a folder
 * of product photos into a catalog, then find the products that look like a photo.
 * This header is the manual; link with `pkg-config --cflags --libs lookalike` (liblookalike.so,
 * or liblookalike.a with `pkg-config --static`). Everything else under src/ is internal.
 *
 * Worked example (examples/search.c is this program, complete, and `make test` runs it):
 *
 *     #include <lookalike.h>
 *
 *     static void progress(void *ctx, const lk_ingest_stats *s) {
 *       fprintf(stderr, "\r%ld of %ld photos embedded", s->done, s->todo);
 *     }
 *
 *     lk_errbuf err = {0};
 *     // 1. Index a folder of photos named ID.jpg, with their styles.csv, into a catalog file
 *     //    (created when missing; a second run embeds only what is new or changed).
 *     lk_ingest_opts io;
 *     lk_ingest_opts_default(&io);
 *     io.images_dir = "shop/images";
 *     io.styles_csv = "shop/styles.csv";
 *     io.db_path = "shop.db";
 *     io.progress = progress;
 *     lk_ingest_stats st;
 *     if (lk_ingest_run(&io, &st, &err)) { fprintf(stderr, "%s\n", lk_err_msg(&err)); return 1; }
 *
 *     // 2. The catalog itself: counts, items.
 *     lk_catalog *cat;
 *     if (lk_catalog_open("shop.db", LK_CATALOG_READONLY, &cat, &err)) { ... }
 *     int64_t items, vectors, errors;
 *     lk_catalog_counts(cat, &items, &vectors, &errors);
 *     lk_catalog_close(cat);
 *
 *     // 3. Load it for searching (items and vectors in memory, the model on first use).
 *     lk_engine_opts eo;
 *     lk_engine_opts_default(&eo);
 *     lk_engine *eng;
 *     if (lk_engine_open("shop.db", &eo, &eng, &err)) { ... }
 *
 *     // 4. Search a photo (the bytes of a JPEG, PNG or WebP file) among women's products.
 *     lk_filter *women;
 *     lk_filter_new(&women);
 *     if (lk_filter_add(women, "gender=Women", &err)) { ... }
 *     lk_query q;
 *     lk_query_init(&q);
 *     q.k = 5;
 *     q.filter = women;
 *     lk_hit hits[5];
 *     int n;
 *     if (lk_engine_search_photo(eng, bytes, len, &q, hits, &n, NULL, &err)) { ... }
 *     for (int i = 0; i < n; i++) {
 *       const lk_item *it = lk_engine_item(eng, hits[i].id);
 *       printf("%lld %.3f %s\n", (long long)hits[i].id, hits[i].score,
 *              it->field[LK_FIELD_NAME] ? it->field[LK_FIELD_NAME] : "");
 *     }
 *     lk_filter_free(women);
 *     lk_engine_close(eng);
 *
 * Conventions, for every call below:
 * - Errors: a fallible function returns 0 or a negative LK_E* code (enum lk_error). Functions
 *   that take an lk_errbuf *err (which may be NULL) write a message a person can read into it;
 *   lk_err_msg gives it. Catalog calls keep their message on the handle (lk_catalog_errmsg).
 * - Ownership: a function named _open/_new gives a handle its caller frees with the matching
 *   _close/_free, which accept NULL. Pointers returned by accessors (items, vectors, strings)
 *   belong to the handle and live as long as it does. Output arrays (hits) are the caller's.
 * - Threads: an lk_engine is immutable once opened; every engine call may run from many
 *   threads at once. An lk_catalog handle is for one thread at a time (open one per thread).
 *   An lk_filter is built by one thread, then may be read by many searches at once.
 * - Nothing here keeps global state: two engines or catalogs live side by side.
 */
#ifndef LOOKALIKE_H
#define LOOKALIKE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public functions: the only symbols liblookalike.so exports (it is built with
 * -fvisibility=hidden). */
#define LK_API __attribute__((visibility("default")))

#define LK_VERSION "0.1.0"
#define LK_VERSION_MAJOR 0 /* liblookalike.so.LK_VERSION_MAJOR: changes when the ABI breaks */
#define LK_VERSION_MINOR 1
#define LK_VERSION_PATCH 0
/* The library's version, "MAJOR.MINOR.PATCH" (LK_VERSION of the build it came from). */
LK_API const char *lk_version(void);

/* ---------------------------------------------------------------- errors */

/* Error codes: every fallible function returns 0 or one of these. */
enum lk_error {
  LK_OK = 0,
  LK_ENOMEM = -1,       /* allocation failed */
  LK_EINVAL = -2,       /* bad argument or option */
  LK_EIO = -3,          /* read/write/open failed */
  LK_ECORRUPT = -4,     /* file structure invalid (model, catalog, CSV) */
  LK_EDECODE = -5,      /* image could not be decoded */
  LK_ETOOBIG = -6,      /* a limit (bytes, pixels, count) was exceeded */
  LK_EUNSUPPORTED = -7, /* valid but not supported (unknown op, format) */
  LK_ENOTFOUND = -8,    /* no such item, tensor, file */
  LK_EMISMATCH = -9,    /* recipe/model/catalog do not belong together */
  LK_EINTR = -10,       /* interrupted by the user */
  LK_EDB = -11,         /* database error */
};

/* Static English text for an error code; never NULL. Thread-safe. */
LK_API const char *lk_strerror(int code);

/* The caller's error buffer: a failing call sets code and a message (valid UTF-8: it may quote
 * file names and values). Zero it before use ({0}); it is the caller's, on the stack or not. */
#define LK_ERRMSG_MAX 512
typedef struct lk_errbuf {
  int code;
  char msg[LK_ERRMSG_MAX];
} lk_errbuf;
/* The message, or lk_strerror(code) when the call left none; never NULL (eb NULL: "unknown
 * error"). Points into eb. */
LK_API const char *lk_err_msg(const lk_errbuf *eb);

/* ---------------------------------------------------------------- items and hits */

/* The fixed metadata fields of an item, in styles.csv order (after id): lk_item.field[] index. */
#define LK_NFIELDS 9
enum lk_field {
  LK_FIELD_GENDER = 0, LK_FIELD_MASTER_CATEGORY, LK_FIELD_SUB_CATEGORY, LK_FIELD_ARTICLE_TYPE,
  LK_FIELD_BASE_COLOUR, LK_FIELD_SEASON, LK_FIELD_YEAR, LK_FIELD_USAGE, LK_FIELD_NAME
};
/* Their column names: "gender", "masterCategory", ..., "productDisplayName". */
LK_API extern const char *const lk_catalog_fields[LK_NFIELDS];

/* A catalog item. Items read back hold valid UTF-8 in every text member but path (a file
 * name, bytes as on disk). Who owns the strings depends on where the item came from: the
 * engine's (lk_engine_item), the callback's (lk_catalog_foreach_item), or the caller's
 * (lk_catalog_get_item: free with lk_item_clear). */
typedef struct lk_item {
  int64_t id;
  char *path, *hash;                /* photo path; hex SHA-256 of the file */
  int64_t size, mtime;
  char *field[LK_NFIELDS];          /* enum lk_field; NULL when unknown */
  char *extra;                      /* JSON object of the other styles.csv columns, or NULL */
  char *status, *error;             /* "ok" | "error" (error: why) | "pending" */
  char *source;                     /* what indexed it (lk_ingest_opts.source), or NULL */
} lk_item;

/* One search result. Plain struct: callers allocate k of them (FAISS-style). */
typedef struct lk_hit {
  int64_t id;  /* catalog item id, -1 for padding */
  float score; /* cosine similarity in [-1, 1] (plus a tuned catalog's label-prior bonus) */
} lk_hit;

/* ---------------------------------------------------------------- catalog
 * A catalog holds items, their vectors and the recipe they were made with: one SQLite file,
 * or a PostgreSQL database when the path is a postgresql:// or postgres:// URL. lookalike's
 * own commands (index, serve, ...) write it; these calls read it. A handle is used by one
 * thread at a time. Calls without an lk_errbuf fail with LK_EDB, LK_EIO or LK_ECORRUPT and
 * keep the message on the handle (lk_catalog_errmsg). */
typedef struct lk_catalog lk_catalog;
enum { LK_CATALOG_READONLY = 0, LK_CATALOG_CREATE = 1 };

/* Opens path (LK_CATALOG_CREATE makes a new catalog where there is none). READONLY fails with
 * LK_ENOTFOUND for a missing file; a file that is not a catalog gives LK_ECORRUPT, one of an
 * unknown schema LK_EMISMATCH, an unreachable PostgreSQL server LK_EIO. *out:
 * lk_catalog_close. */
LK_API int lk_catalog_open(const char *path, int flags, lk_catalog **out, lk_errbuf *err);
LK_API void lk_catalog_close(lk_catalog *c); /* NULL-safe */
/* The message of the handle's last failed call (owned by the handle). */
LK_API const char *lk_catalog_errmsg(const lk_catalog *c);
/* Counts: all items, items with status "ok" and a vector, items with status "error". */
LK_API int lk_catalog_counts(lk_catalog *c, int64_t *items, int64_t *vectors, int64_t *errors);
/* One item into *it (malloc'd strings: lk_item_clear frees them). LK_ENOTFOUND. */
LK_API int lk_catalog_get_item(lk_catalog *c, int64_t id, lk_item *it);
LK_API void lk_item_clear(lk_item *it); /* frees the strings, zeroes *it; NULL-safe */
/* Every item, in id order: cb returns 0 to go on, non-zero to stop (that value is returned).
 * it and its strings are valid only during the callback. */
typedef int (*lk_item_cb)(void *ctx, const lk_item *it);
LK_API int lk_catalog_foreach_item(lk_catalog *c, lk_item_cb cb, void *ctx);
/* The vector of one item into v (cap floats); returns its dimension, or LK_ENOTFOUND when the
 * item has none. */
LK_API int lk_catalog_get_vector(lk_catalog *c, int64_t id, float *v, int cap);
/* Integrity check of the whole catalog (the `check` command): LK_ECORRUPT naming the first bad
 * item in err. */
LK_API int lk_catalog_check(lk_catalog *c, lk_errbuf *err);

/* ---------------------------------------------------------------- ingest (`lookalike index`)
 * Reads styles.csv and a folder of photos named ID.jpg (.png, .webp), embeds what is new or
 * changed (by size + mtime, then content hash) and writes items and vectors to the catalog in
 * small transactions: an interrupted run leaves a consistent catalog and the next run resumes.
 * Photos that cannot be decoded are recorded with the reason and skipped. */
#define LK_PATH_MAX 4096
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
  char source[LK_PATH_MAX]; /* the run's source: --source, else the images folder's canonical path */
} lk_ingest_stats;

typedef struct lk_ingest_opts {
  const char *images_dir;
  const char *styles_csv;   /* may be NULL: photos indexed without metadata */
  int encoding;             /* styles.csv's text: 0 = auto (UTF-8, else Windows-1252), 1 UTF-8,
                               2 Windows-1252, 3 Latin-1 */
  int strict;               /* refuse styles.csv (nothing written) at its first problem row */
  const char *db_path;      /* the catalog (created when missing) */
  const char *models_dir;   /* NULL = default search ($LOOKALIKE_MODELS, ./models, ...) */
  const struct lk_recipe *recipe; /* NULL (from the API) = the catalog's recipe, or the default;
                                     `lookalike index --recipe` sets one, which must then equal
                                     the catalog's (when the catalog has one) */
  long limit;               /* 0 = all; else the first N items by id */
  long sample;              /* 0 = all; else N items drawn by a hash of (id, seed): a stable,
                               uniform subset (applied before limit) */
  uint64_t seed;
  int shard, shards;        /* shards > 0: only the items of shard `shard` (1..shards), by a
                               hash of the id (applied after sample and limit); prune and the
                               stale count then see only that shard's items too */
  int prune;                /* remove the source's items whose photo is gone */
  const char *source;       /* NULL = the images folder's canonical path; the items written are
                               stamped with it, and the stale count and prune only see its items */
  int batch;                /* images per inference batch (default 8) */
  int backend;              /* 0 = plain C reference, 1 = oneDNN (default) */
  int threads;              /* unused (kept for the CLI); see workers */
  int workers;              /* parallel decode+embed workers, each single-threaded; 0 = 2 */
  volatile sig_atomic_t *stop; /* may be NULL; set (e.g. from a signal handler) to stop after
                                  the current batch */
  /* Called after each batch (and once at the start), from the workers' threads one call at a
   * time (under the run's lock: keep it short); may be NULL. */
  void (*progress)(void *ctx, const lk_ingest_stats *s);
  /* Called for each problem worth telling the user (skipped row/photo); may be NULL. */
  void (*report)(void *ctx, int64_t id, const char *what);
  void *ctx;
} lk_ingest_opts;

LK_API void lk_ingest_opts_default(lk_ingest_opts *o);
/* Runs one indexing pass. Returns 0 (even when some photos failed: see st), LK_EINTR when
 * stopped (everything committed so far is kept), or another negative code with err set.
 * Runs its own worker threads; one run per catalog at a time. */
LK_API int lk_ingest_run(const lk_ingest_opts *o, lk_ingest_stats *st, lk_errbuf *err);

/* ---------------------------------------------------------------- filters
 * Which items a search may return: "field=value" on the styles.csv fields (equal fields
 * OR-ed, different fields AND-ed, case-insensitive) and comparisons on numbers, booleans or
 * text ("price<=50", "in_stock=true", "year>=2012") on a field or an extra column. A filter is
 * built by one thread; searches only read it, so many may share it. */
typedef struct lk_filter lk_filter;
/* An empty filter (lets every item through). *out: lk_filter_free. LK_ENOMEM. */
LK_API int lk_filter_new(lk_filter **out);
LK_API void lk_filter_free(lk_filter *f); /* NULL-safe */
/* Adds one condition as the CLI's --where takes it: "field=value" on a styles.csv field, else a
 * comparison (lk_filter_add_where). LK_EINVAL / LK_ETOOBIG (more than 32 field=value
 * conditions) with a message; f is unchanged then. */
LK_API int lk_filter_add(lk_filter *f, const char *expr, lk_errbuf *err);
/* Adds a comparison "COLUMN OP VALUE", OP one of <= >= != < > = (at most 16 per filter:
 * LK_ETOOBIG). LK_EINVAL with a message naming what is wrong; f is unchanged then. */
LK_API int lk_filter_add_where(lk_filter *f, const char *expr, lk_errbuf *err);

/* ---------------------------------------------------------------- engine
 * A catalog loaded for searching: its items, vectors (an exact int8-shortlisted index, or an
 * IVF for large catalogs) and the recipe's embedder (loaded on the first photo). Immutable
 * once opened: every call takes const or is internally locked, so searches may run from many
 * threads at once. */
typedef struct lk_engine lk_engine;

enum lk_engine_index { LK_ENGINE_INDEX_AUTO = 0, LK_ENGINE_INDEX_EXACT, LK_ENGINE_INDEX_IVF };
enum { LK_ENGINE_GARMENT_AUTO = 0, LK_ENGINE_GARMENT_OFF = 1, LK_ENGINE_GARMENT_ON = 2 };

typedef struct lk_engine_opts {
  const char *models_dir;  /* NULL = default search ($LOOKALIKE_MODELS, ./models, ...) */
  int backend;             /* 0 = plain C reference, 1 = oneDNN (default) */
  int lazy_model;          /* 1 = load the model on first photo search (default 1) */
  int embedders;           /* photo searches embedding at once, one model copy each (0 = 1):
                              the engine's pool, shared with the engines derived from it */
  int plain_scan;          /* 1 = search the float vectors only (no int8 shortlist, no IVF;
                              default 0) */
  int search_threads;      /* threads per search's code scan (0 = 1: the server runs searches
                              side by side) */
  int index;               /* enum lk_engine_index (default AUTO: IVF from 200,000 vectors) */
  float prior;             /* a tuned recipe's label-prior weight: < 0 = as tuned (default -1),
                              0 = off, else this weight on every head */
  int nprobe;              /* IVF lists scanned per search (0 = default) */
  int garment;             /* photo searches first isolate the garment: LK_ENGINE_GARMENT_AUTO
                              (default: as measured best, off), _OFF or _ON */
} lk_engine_opts;

LK_API void lk_engine_opts_default(lk_engine_opts *o);
/* Loads the items and vectors of the catalog at db_path (a file or postgresql:// URL; o NULL =
 * defaults). LK_ENOTFOUND for a missing catalog, LK_ECORRUPT for a bad one. *out:
 * lk_engine_close. */
LK_API int lk_engine_open(const char *db_path, const lk_engine_opts *o, lk_engine **out, lk_errbuf *err);
/* Drops the caller's reference (NULL-safe, any thread). */
LK_API void lk_engine_close(lk_engine *e);
LK_API size_t lk_engine_size(const lk_engine *e);       /* searchable items (with a vector) */
LK_API size_t lk_engine_item_count(const lk_engine *e); /* all items */
LK_API int lk_engine_dim(const lk_engine *e);           /* floats per vector */
/* The i-th item in id order (owned by the engine), NULL when i >= lk_engine_item_count. */
LK_API const lk_item *lk_engine_item_at(const lk_engine *e, size_t i);
/* An item by id (owned by the engine), or NULL. */
LK_API const lk_item *lk_engine_item(const lk_engine *e, int64_t id);
/* Every vector, zero-copy: *ids (n ids, ascending) and *vecs (n x lk_engine_dim floats,
 * row-major, unit length; row i is the vector of (*ids)[i]), owned by the engine. Only a full
 * engine as lk_engine_open made it holds them so: LK_EUNSUPPORTED for an engine derived from
 * live changes and for a tuned catalog whose label prior widens the rows (open it with
 * prior = 0). */
LK_API int lk_engine_vectors(const lk_engine *e, const int64_t **ids, const float **vecs, size_t *n);
/* The k products most like item id (the item itself left out), best first; filter may be NULL.
 * hits has k slots; *nfound gets how many were filled. LK_ENOTFOUND when the item has no
 * vector. */
LK_API int lk_engine_similar(const lk_engine *e, int64_t id, const lk_filter *filter, int k, lk_hit *hits,
                             int *nfound, lk_errbuf *err);
/* The k products nearest a vector of lk_engine_dim floats (unit length), e.g. from
 * lk_engine_embed_photo; exclude_id -1 for none. */
LK_API int lk_engine_search_vector(const lk_engine *e, const float *vec, const lk_filter *filter, int k,
                                   int64_t exclude_id, lk_hit *hits, int *nfound, lk_errbuf *err);

/* ---- search a photo
 *
 * One call answers "products like this photo": lk_engine_search_photo takes the encoded photo
 * (JPEG, PNG or WebP bytes), lk_engine_search_pixels an RGB image already in memory; both
 * follow the same steps, every caller (HTTP, the CLI, evaluation, the Python package) alike:
 *   1. decode: at the smallest DCT scale that keeps the models' input side (the recipe's
 *      embedder, as `index` decodes catalog photos), or at full size when a crop is asked for
 *      (the crop is in pixels of the photo as stored, EXIF orientation applied);
 *   2. crop: clipped to the photo; fewer than LK_QUERY_MIN_CROP pixels left on a side is
 *      LK_EINVAL with a message naming the crop and the photo's size;
 *   3. garment: the garment cut out onto white (q->garment, or as the engine was opened);
 *   4. embed with one of the engine's embedders (lk_engine_opts.embedders: photo searches
 *      embed side by side, each waiting its turn for a free one), then search with q->filter:
 *      the whole photo, or with q->multi_crop the photo and 13 crops (each item keeping its
 *      best score: for a product filling only part of the frame; 14 embeddings);
 *   5. q->collapse: duplicates or colour variants folded under one hit (info->groups).
 * hits has q->k slots; *nfound gets the number filled (hits past it: id -1). Errors: LK_EINVAL
 * (bad query, crop or filter), LK_EDECODE / LK_EUNSUPPORTED (not a readable photo), LK_ETOOBIG
 * (past the image limits: 64 MiB, 100 megapixels, 30000 pixels a side), LK_ENOTFOUND (no
 * vectors or no models), LK_EMISMATCH (models of another dimension), LK_EINTR (the engine's
 * queue was closed: a server stopping), LK_ENOMEM; the message in err. info->stage says which
 * step failed. Thread-safe: any number of threads may search one engine. */
enum lk_collapse_mode { LK_COLLAPSE_NONE = 0, LK_COLLAPSE_DUPLICATES, LK_COLLAPSE_VARIANTS };
#define LK_QUERY_MIN_CROP 8 /* smallest crop side searched, pixels */
#define LK_QUERY_MAX_K 10000

typedef struct lk_query {
  int k;                  /* results wanted, 1..LK_QUERY_MAX_K */
  const lk_filter *filter; /* NULL = none (borrowed for the call) */
  int crop[4];            /* x, y, w, h in pixels of the photo; w == 0: the whole photo */
  int multi_crop;         /* 1: the photo and 13 crops of it (step 4) */
  int garment;            /* LK_ENGINE_GARMENT_AUTO (as the engine was opened), _OFF or _ON */
  float prior;            /* < 0: the label prior as the engine was opened. The prior's weight
                             is built into the engine's rows, so it is per engine: another
                             value than the engine's is LK_EUNSUPPORTED (open the engine with
                             lk_engine_opts.prior) */
  int collapse;           /* enum lk_collapse_mode: 0 = none */
} lk_query;

/* k = 10, no filter, no crop, single crop, garment and prior as the engine was opened, no
 * collapsing. */
LK_API void lk_query_init(lk_query *q);

/* One hit of a collapsed search with what was folded under it (ids in rank order). */
#define LK_COLLAPSE_MAX_MEMBERS 32
typedef struct lk_group {
  lk_hit hit;
  int n;                                   /* members folded under it (may exceed the list) */
  int64_t member[LK_COLLAPSE_MAX_MEMBERS]; /* the first min(n, LK_COLLAPSE_MAX_MEMBERS) */
} lk_group;

/* The step a search stopped at (lk_search_info.stage), for callers that answer each with its
 * own status (the HTTP API: 413/415 decode, 422 crop, 503 embed, 400 search). */
enum lk_search_stage {
  LK_SEARCH_DONE = 0,
  LK_SEARCH_QUERY,  /* the lk_query itself (k, prior) */
  LK_SEARCH_DECODE, /* reading the photo */
  LK_SEARCH_CROP,   /* the crop (outside the photo, too small) */
  LK_SEARCH_PREPARE, /* garment isolation */
  LK_SEARCH_EMBED,  /* the models (with multi-crop: the crops' searches too) */
  LK_SEARCH_SEARCH  /* the filter, the index */
};

/* What a search did, filled by the calls that take one (may be NULL). Set groups before the
 * call; everything else is output. */
typedef struct lk_search_info {
  lk_group *groups;  /* in: NULL, or q->k slots for a collapsed search's groups (the hits
                        are their heads either way) */
  int ngroups;       /* groups filled (= *nfound) */
  int width, height; /* the photo as decoded (step 1) */
  int crop[4];       /* the crop as applied, clipped to the photo (x, y, w, h); w == 0: none */
  double decode_s;   /* seconds decoding, cropping, isolating the garment */
  double queue_s;    /* seconds waiting for a free embedder */
  double embed_s;    /* seconds embedding (multi-crop: with the crops' searches) */
  double search_s;   /* seconds searching (and collapsing) */
  int stage;         /* enum lk_search_stage: LK_SEARCH_DONE, or the step that failed */
} lk_search_info;

LK_API int lk_engine_search_photo(lk_engine *e, const void *bytes, size_t len, const lk_query *q, lk_hit *hits,
                                  int *nfound, lk_search_info *info, lk_errbuf *err);
/* The same for w x h RGB pixels (3 bytes each, rows stride >= 3 * w bytes apart; copied):
 * steps 2 to 5, the crop in these pixels. */
LK_API int lk_engine_search_pixels(lk_engine *e, const uint8_t *rgb, int w, int h, size_t stride, const lk_query *q,
                                   lk_hit *hits, int *nfound, lk_search_info *info, lk_errbuf *err);
/* The photo's vector (lk_engine_dim floats, normalised), as `index` stores a catalog photo's:
 * decoded as in step 1, embedded as is (no crop, no garment isolation). Thread-safe. */
LK_API int lk_engine_embed_photo(lk_engine *e, const void *bytes, size_t len, float *vec, lk_errbuf *err);
LK_API int lk_engine_embed_pixels(lk_engine *e, const uint8_t *rgb, int w, int h, size_t stride, float *vec,
                                  lk_errbuf *err);

/* ---------------------------------------------------------------- tune (`lookalike tune`)
 * The whole of `lookalike tune` as one call: load a catalog's raw vectors and labels,
 * optionally add street-like views, train a projection, measure leave-one-out P@10 on both
 * splits raw and tuned, write the tuned recipe and/or the tuned catalog, and calibrate its
 * match strength. Prints nothing: the figures land in lk_tune_stats, and a progress callback
 * says when each phase is done. Thread-safety: independent runs may go side by side; one run's
 * options and stats belong to it. */
#define LK_TUNE_LABELS 4        /* label fields at most (= LK_TUNE_MAX_LABELS) */
#define LK_TUNE_PRIOR_REPORT 8  /* extra prior weights measured at most */

enum lk_tune_method { LK_TUNE_SOFTMAX = 0, LK_TUNE_PCA = 1 };

typedef struct lk_tune_opts {
  const char *db;          /* the catalog to learn from (made by index; not a tuned one); required */
  const char *out;         /* the tuned catalog to write (must not exist); NULL = none */
  const char *recipe_out;  /* also the tuned recipe as JSON; NULL = none (out or recipe_out needed) */
  const char *name;        /* the tuned recipe's name; NULL = the source's + "+tuned" */
  const char *models_dir;  /* the .tflite files (views, calibration); NULL = the default search */
  const char *labels[LK_TUNE_LABELS]; /* label fields (default articleType, baseColour, gender) */
  int nlabels;
  float weights[LK_TUNE_LABELS];      /* loss weight per label field (default 1) */
  int method;              /* enum lk_tune_method (default LK_TUNE_SOFTMAX) */
  int dims;                /* output dimensions (default 256) */
  int hidden;              /* hidden ReLU units (default 1024; 0 = a linear map) */
  int epochs, batch;       /* default 20, 256 */
  float lr, weight_decay;  /* AdamW's peak step and decay (default 0.002, 0.0001) */
  float scale, margin;     /* the cosine classifier's logit scale and margin (default 16, 0.1) */
  float dropout, input_dropout; /* drop rates while training (default 0.5, 0.5) */
  float prior[LK_TUNE_LABELS];  /* label-prior weight stored per field (default 0.5; 0 = off) */
  float prior_report[LK_TUNE_PRIOR_REPORT]; /* also measure P@10 with these prior weights */
  int nprior_report;
  float keep_color;        /* > 0: the raw colour histogram appended with this weight (default 0) */
  int prescale;            /* the tuned recipe's prescale in px; -1 = the source's (default) */
  int views;               /* street-like views per training photo (default 0) */
  int threads;             /* workers embedding the views (default 2) */
  uint64_t seed;           /* initial weights, batch order, views (default 0) */
  int holdout_mod;         /* hash(id) mod M == 0 is held out (default 5; 0 = none) */
  long eval_sample;        /* rows per split in the P@10 measure (default 3000; 0 = none) */
  volatile sig_atomic_t *stop; /* set asynchronously to stop (LK_EINTR) before the tuned
                                  catalog is written; NULL = none */
  /* Called as the run goes (may be NULL); never two calls at once, but the "views" calls come
   * from the threads embedding the views, the others from the caller's. phase: "load", "views",
   * "train", "evaluate", "recipe", "write", "calibrate". A phase's last call has done == total
   * and comes once its figures are in the stats (the lk_tune_stats given to lk_tune_run, which
   * the callback may read); "train" calls after each epoch (done = epochs so far; st->epoch,
   * st->loss) and once more at its end (done == total: st->train_seconds). */
  void (*progress)(void *ctx, const char *phase, double done, double total);
  void *ctx;
} lk_tune_opts;

LK_API void lk_tune_opts_default(lk_tune_opts *o);

typedef struct lk_tune_stats {
  /* load */
  long n, ntest;           /* vectors loaded, of them held out */
  int dim;                 /* the source's width */
  char recipe[64];         /* the source recipe's name */
  int nlabels;
  const char *label[LK_TUNE_LABELS]; /* canonical field names (static strings) */
  int nclass[LK_TUNE_LABELS];        /* values per field */
  double load_seconds;
  /* views (opts.views > 0) */
  long views, views_photos, views_skipped; /* views made, training photos, photos unreadable */
  double views_seconds;
  /* train */
  int epoch, epochs;       /* epochs done (0 for PCA) of epochs */
  double loss;             /* the last epoch's mean loss */
  double epoch_seconds;    /* since training began, at the last epoch */
  double train_seconds;
  /* evaluate (opts.eval_sample > 0): [split: 0 train, 1 test] */
  long eval_rows[2];       /* rows measured; < 2: that split has no figures */
  double p10[2][2][LK_TUNE_LABELS]; /* [split][0 raw, 1 tuned][field]: leave-one-out P@10 */
  int nprior;              /* prior rows measured (0 when the heads do not match the labels) */
  float prior_weight[LK_TUNE_PRIOR_REPORT]; /* < 0: the stored opts.prior */
  double p10_prior[2][LK_TUNE_PRIOR_REPORT][LK_TUNE_LABELS];
  /* the tuned recipe and catalog */
  char name[64];           /* the tuned recipe's name */
  char recipe_id[17];
  int out_dim;             /* the tuned vectors' width */
  double write_seconds;
  /* calibrate (opts.out): a failure is no error of the run: calibrated = 0, cal_error says why */
  int calibrated;
  int cal_pairs_product, cal_pairs_kind, cal_pairs_other;
  float cal_weak_score;
  double cal_seconds;
  char cal_error[256];
  double seconds;          /* the whole run */
} lk_tune_stats;

/* Runs the tune. 0, or LK_EINVAL (bad options, a tuned source, opts.out exists), LK_ENOTFOUND,
 * LK_EIO, LK_ENOMEM, LK_EINTR (stopped; the tuned catalog is not written), ... with the message
 * in err. The source catalog is only read; opts and its strings are the caller's and only read.
 * It keeps no state between calls. A calibration that fails (e.g. the photos are not at their
 * indexed paths) is no error: st->calibrated = 0 and st->cal_error says why. */
LK_API int lk_tune_run(const lk_tune_opts *o, lk_tune_stats *st, lk_errbuf *err);

/* ---------------------------------------------------------------- export (`lookalike export`)
 * Writes a catalog's vectors and metadata in the formats other vector engines ingest (every
 * item with a vector once, in id order; files written under a temporary name, then renamed):
 *   jsonl FILE, qdrant DIR, milvus DIR, pgvector FILE (an SQL script), npy DIR, csv FILE.
 * docs/DEPLOY.md "Export" shows how to load each. */
enum lk_export_format {
  LK_EXPORT_JSONL,
  LK_EXPORT_QDRANT,
  LK_EXPORT_MILVUS,
  LK_EXPORT_PGVECTOR,
  LK_EXPORT_NPY,
  LK_EXPORT_CSV,
};

typedef struct lk_export_opts {
  const char *db;      /* catalog path or postgresql:// URL */
  int format;          /* enum lk_export_format */
  const char *out;     /* FILE (jsonl, pgvector, csv) or DIR (qdrant, milvus, npy; created) */
  const char *name;    /* collection / table name (default "lookalike") */
  long batch;          /* points per file: qdrant (default 256), milvus (default 10000) */
} lk_export_opts;

typedef struct lk_export_stats {
  long items;     /* items in the catalog */
  long exported;  /* items written (those with a vector) */
  long skipped;   /* items without a vector */
  long files;     /* files written */
  int dim;
} lk_export_stats;

LK_API void lk_export_opts_default(lk_export_opts *o);
/* "jsonl", "qdrant", "milvus", "pgvector", "npy", "csv" -> enum lk_export_format; LK_EINVAL otherwise. */
LK_API int lk_export_format_parse(const char *s, int *out);
/* Writes the export (opens its own catalog handle: runs beside anything else). LK_ENOTFOUND for
 * a missing catalog, LK_EIO for files, LK_ECORRUPT for a vector that is not finite or of
 * another size; the message in err. */
LK_API int lk_export_run(const lk_export_opts *o, lk_export_stats *st, lk_errbuf *err);

/* ---------------------------------------------------------------- server (`lookalike serve`)
 * The HTTP server: the web page, the JSON API (docs/API.md), catalog photos and /metrics, on
 * its own threads. It borrows an engine, which must outlive it. */
typedef struct lk_server lk_server;

/* Limits on an uploaded photo, checked at its header before anything is allocated. */
typedef struct lk_image_limits {
  size_t max_bytes;    /* encoded file size; default 64 MiB */
  uint64_t max_pixels; /* declared w*h at the header; default 100 megapixels */
  int max_side;        /* either declared side; default 30000 */
  int max_scans;       /* progressive JPEG scans; default 500 */
} lk_image_limits;

typedef struct lk_server_opts {
  const char *host;        /* numeric address or name to bind; default "127.0.0.1" */
  int port;                /* 0 = any free port (lk_server_port tells which) */
  int threads;             /* request threads; default 4 */
  size_t max_body;         /* one request body; default 20 MiB (larger: 413) */
  size_t max_buffered;     /* all request bodies held at once; default 256 MiB (then 503) */
  lk_image_limits image;   /* uploaded photos; zero fields: max_bytes = max_body, 40 MP, side 20000 */
  unsigned timeout_s;      /* idle connection timeout; default 30 */
  unsigned max_connections;/* default 256 */
  unsigned max_per_ip;     /* connections from one address; default 64 */
  int embedders;           /* > 0: the engine's embedders (lk_engine_opts.embedders, which sets
                              their number) are loaded at start, not by the first search */
  const char *models_dir;  /* for the write API's embedder; NULL = default search */
  int backend;             /* for the write API: 0 = reference, 1 = oneDNN (default) */
  const char *db_path;     /* the catalog file, read by GET /api/map; NULL: no map */
  /* The next four are `lookalike serve`'s internals (live catalog, API keys, HTTPS): leave them
   * NULL from the API (a read-only server of the engine as given, open, plain HTTP). */
  struct lk_live *follow;
  struct lk_auth *auth;
  struct lk_auth *write_auth;
  const struct lk_tls *tls;
  /* Access log and server errors, one line each (no newline); NULL = silent. Called from
   * request threads: must be thread-safe. */
  void (*log)(void *ctx, const char *line);
  void *log_ctx;
} lk_server_opts;

LK_API void lk_server_opts_default(lk_server_opts *o);
/* Binds and starts serving e (borrowed: close it after lk_server_stop). LK_EIO when the address
 * cannot be bound (port in use), LK_EINVAL for a bad host or option, LK_ENOTFOUND /
 * LK_EMISMATCH for models. *out: lk_server_stop. Start and stop a server from one thread; it
 * answers requests on its own. */
LK_API int lk_server_start(lk_engine *e, const lk_server_opts *o, lk_server **out, lk_errbuf *err);
/* The bound TCP port. */
LK_API int lk_server_port(const lk_server *s);
/* Stops accepting, finishes the requests in progress, frees. NULL-safe. */
LK_API void lk_server_stop(lk_server *s);

#ifdef __cplusplus
}
#endif

#endif
