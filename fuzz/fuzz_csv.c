/* fuzz/fuzz_csv.c — libFuzzer target for the CSV reader (catalog/csv.c) with small limits.
 * Build with -fsanitize=fuzzer -DLK_LIBFUZZER; without LK_LIBFUZZER, fuzz/replay.c's main() replays
 * files and folders named on the command line through it. */
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
