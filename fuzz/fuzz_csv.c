/* fuzz/fuzz_csv.c — libFuzzer target for the CSV reader (catalog/csv.c) with small limits.
 * Build with -fsanitize=fuzzer -DLK_LIBFUZZER; without LK_LIBFUZZER a main() replays every
 * file named on the command line (or every file in a named directory) through it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lk_csv_limits lim = {.max_field = 256, .max_fields = 32, .max_rows = 1000};
  lk_csv *c;
  if (lk_csv_open_buffer((const char *)data, size, &lim, &c, NULL) != 0) return 0;
  char **f;
  int nf, rc;
  size_t total = 0;
  while ((rc = lk_csv_next(c, &f, &nf)) == 1) {
    if (nf < 1 || nf > lim.max_fields) abort();
    for (int i = 0; i < nf; i++) {
      size_t n = strlen(f[i]);
      if (n > lim.max_field) abort();
      total += n;
    }
    if (lk_csv_line(c) < 1) abort();
  }
  if (rc != 0 && rc != LK_ETOOBIG && rc != LK_ECORRUPT) abort();
  if (rc != 0 && !strstr(lk_csv_error(c), "line ")) abort();
  if (total > size) abort(); /* fields never hold more bytes than the input */
  lk_csv_close(c);
  return 0;
}

#ifndef LK_LIBFUZZER
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  size_t cap = 4096, len = 0, n;
  uint8_t *buf = malloc(cap);
  while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *p = realloc(buf, cap *= 2);
      if (!p) break;
      buf = p;
    }
  }
  fclose(f);
  if (!buf) return 1;
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

static int replay(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path);
  DIR *d = opendir(path);
  if (!d) return 1;
  int bad = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    bad |= replay(sub);
  }
  closedir(d);
  return bad;
}

int main(int argc, char **argv) {
  int bad = 0;
  for (int i = 1; i < argc; i++) bad |= replay(argv[i]);
  return bad;
}
#endif
