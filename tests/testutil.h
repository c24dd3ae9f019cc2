/* tests/testutil.h — shared helpers for the cmocka unit tests: where the shared data and
 * models live, temporary directories, and small file utilities. */
#ifndef LK_TESTUTIL_H
#define LK_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* ../shared (or $LOOKALIKE_SHARED); NULL when absent. */
const char *lk_test_shared_dir(void);
/* The models folder, found as the binary finds it (lk_embed_find_models: $LOOKALIKE_MODELS,
 * ./models, ../shared/models, ...); NULL when absent. */
const char *lk_test_models_dir(void);
/* A fresh empty directory under $TMPDIR, removed by lk_test_rmtree. Returns malloc'd path. */
char *lk_test_mkdtemp(void);
void lk_test_rmtree(const char *path);
/* snprintf into a static rotating buffer: handy for paths. */
const char *lk_test_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes / reads a whole file; read returns malloc'd bytes (caller frees) or NULL. */
int lk_test_write_file(const char *path, const void *data, size_t len);
uint8_t *lk_test_read_file(const char *path, size_t *len);
/* A new SQLite catalog at path with the "color" recipe and a transaction begun, for tests that
 * make their own items and vectors: put them, then lk_catalog_commit and lk_catalog_close.
 * NULL on failure. */
struct lk_catalog *lk_test_catalog_new(const char *path);
/* v = d uniform draws of rand() in [-0.5, 0.5], scaled to unit length. */
void lk_test_unit_vector(float *v, int d);
/* A new catalog at path holding the recipe preset (e.g. "color") and nothing else: 0, or the
 * first error. *out: lk_catalog_close. */
struct lk_catalog;
int lk_test_catalog_preset(const char *path, const char *preset, struct lk_catalog **out);

#endif
