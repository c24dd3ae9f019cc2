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

#endif
