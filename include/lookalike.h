/* lookalike.h — public API of lookalike, visual search for fashion catalogs.
 *
 * Worked example (error handling elided; every call returns 0 or a negative LK_E* code):
 *
 *     lk_catalog *cat;  lk_catalog_open("catalog.db", LK_CATALOG_READONLY, &cat);
 *     lk_engine *eng;   lk_engine_open(cat, models_dir, &eng);     // model + vectors in memory
 *     lk_hit hits[10];  size_t n;
 *     lk_engine_search_file(eng, "photo.jpg", NULL, 10, hits, &n); // exact cosine top-10
 *     for (size_t i = 0; i < n; i++) printf("%lld %.3f\n", (long long)hits[i].id, hits[i].score);
 *     lk_engine_close(eng); lk_catalog_close(cat);
 *
 * Modules (see README "Source layout"): image decode/resize, nn (TFLite reader + inference),
 * embed (recipes), catalog (SQLite), index (top-k search), cli.
 */
#ifndef LOOKALIKE_H
#define LOOKALIKE_H

#include <stddef.h>
#include <stdint.h>

#define LK_VERSION "0.1.0"

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

/* Static English text for an error code; never NULL. */
const char *lk_strerror(int code);

/* One search result. Plain struct: FAISS-style, callers allocate k of them. */
typedef struct lk_hit {
  int64_t id;  /* catalog item id, -1 for padding */
  float score; /* cosine similarity in [-1, 1] (plus a tuned catalog's label-prior bonus) */
} lk_hit;

#ifndef LK_API
#define LK_API __attribute__((visibility("default")))
#endif

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
typedef struct lk_engine lk_engine;
typedef struct lk_filter lk_filter;
typedef struct lk_errbuf lk_errbuf;

enum { LK_ENGINE_GARMENT_AUTO = 0, LK_ENGINE_GARMENT_OFF = 1, LK_ENGINE_GARMENT_ON = 2 };
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

#endif
