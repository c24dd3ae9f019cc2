/* fuzz/fuzz_csv.c — libFuzzer target for the CSV reader (catalog/csv.c) with small limits and
 * the decoding of its fields into UTF-8 (util/utf8.h: auto = UTF-8 or Windows-1252, strict
 * UTF-8, Latin-1); the separator is ',' , ';' or a tab by the input's length.
 * Build with -fsanitize=fuzzer -DLK_LIBFUZZER; without LK_LIBFUZZER, fuzz/replay.c's main() replays
 * files and folders named on the command line through it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/csv.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int delims[3] = {',', ';', '\t'};
  lk_csv_limits lim = {.max_field = 256, .max_fields = 32, .max_rows = 1000, .delim = delims[size % 3]};
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
      /* auto never fails but on memory and always yields valid UTF-8; strict UTF-8 refuses
       * exactly what auto had to decode */
      char *d = NULL, *fix = NULL;
      long rec = 0;
      size_t bad = 0;
      if (lk_utf8_decode(f[i], LK_ENC_AUTO, &d, &rec, &bad) != 0) abort();
      if (d && (lk_utf8_fix(d, &fix) != 0 || fix)) abort();
      int strict = lk_utf8_decode(f[i], LK_ENC_UTF8, &fix, NULL, &bad);
      if ((strict == LK_ECORRUPT) != (rec > 0) || (strict && bad >= n)) abort();
      free(fix);
      free(d);
      if (lk_utf8_decode(f[i], LK_ENC_LATIN1, &d, NULL, NULL) != 0) abort();
      if (d && lk_utf8_count(d) != (long)n) abort(); /* one character per byte */
      free(d);
    }
    if (lk_csv_line(c) < 1) abort();
  }
  if (rc != 0 && rc != LK_ETOOBIG && rc != LK_ECORRUPT && rc != LK_EUNSUPPORTED) abort();
  if (rc != 0 && !strstr(lk_csv_error(c), "line ")) abort();
  if (total > size) abort(); /* fields never hold more bytes than the input */
  lk_csv_close(c);
  return 0;
}
