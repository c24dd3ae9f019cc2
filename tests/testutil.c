/* tests/testutil.c — see testutil.h. */
#include "testutil.h"

#include "catalog/catalog.h"
#include "embed/embed.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p) {
  struct stat st;
  return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *lk_test_shared_dir(void) {
  const char *e = getenv("LOOKALIKE_SHARED");
  if (e && is_dir(e)) return e;
  if (is_dir("../shared")) return "../shared";
  return NULL;
}

/* The binary's own search (lk_embed_find_models), so a test finds the models wherever
 * `lookalike` does ($LOOKALIKE_MODELS, ./models, ../shared/models, next to the binary). */
const char *lk_test_models_dir(void) {
  static char buf[4096];
  return lk_embed_find_models(NULL, buf, sizeof buf, NULL) == 0 ? buf : NULL;
}

char *lk_test_mkdtemp(void) {
  const char *t = getenv("TMPDIR");
  char buf[4096];
  snprintf(buf, sizeof buf, "%s/lktest-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(buf)) return NULL;
  return strdup(buf);
}

void lk_test_rmtree(const char *path) {
  if (!path || !*path || strcmp(path, "/") == 0) return;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

const char *lk_test_path(const char *fmt, ...) {
  static char bufs[8][4096];
  static int next;
  char *b = bufs[next++ & 7];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, 4096, fmt, ap);
  va_end(ap);
  return b;
}

int lk_test_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, len, f);
  if (fclose(f) != 0 || w != len) return -1;
  return 0;
}

uint8_t *lk_test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b && len) *len = (size_t)n;
  return b;
}

int lk_test_catalog_new(const char *db, lk_catalog **out) {
  lk_catalog *c = NULL;
  int rc = lk_catalog_open(db, LK_CATALOG_CREATE, &c, NULL);
  if (rc) return rc;
  lk_recipe r;
  lk_recipe_preset("color", &r, NULL);
  char *js = lk_recipe_to_json(&r);
  rc = js ? lk_catalog_set_meta(c, "recipe", js) : LK_ENOMEM;
  free(js);
  if (!rc) rc = lk_catalog_begin(c);
  if (rc) {
    lk_catalog_close(c);
    return rc;
  }
  *out = c;
  return 0;
}
