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
/* A new catalog file db with the "color" preset recipe and a transaction begun (the test
 * commits and closes it); LK_E* on failure. */
struct lk_catalog;
int lk_test_catalog_new(const char *db, struct lk_catalog **out);

#endif
