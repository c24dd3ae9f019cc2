/* fuzz/fuzz_exif.c — fuzz target for the image module's JPEG marker walk and EXIF/TIFF
 * orientation reader (src/image/exif.c), fed raw bytes both as a whole JPEG and as the TIFF
 * block of an APP1 segment. -DLK_LIBFUZZER for libFuzzer; otherwise main() replays files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/exif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int o = lk_exif_orientation(data, size);
  if (o < 1 || o > 8) abort();
  lk_exif_jpeg_info info;
  if (lk_exif_scan_jpeg(data, size, 50, &info, NULL) == 0 &&
      (info.orientation < 1 || info.orientation > 8 || info.scans > 50 || !info.has_eoi))
    abort();
  /* The same bytes behind a SOI + APP1 "Exif" header, so the TIFF path runs inside a JPEG. */
  if (size <= 65000) {
    uint8_t *j = malloc(size + 14);
    if (!j) return 0;
    size_t seg = size + 8;
    memcpy(j, "\xFF\xD8\xFF\xE1", 4);
    j[4] = (uint8_t)(seg >> 8), j[5] = (uint8_t)seg;
    memcpy(j + 6, "Exif\0\0", 6);
    memcpy(j + 12, data, size);
    memcpy(j + 12 + size, "\xFF\xD9", 2);
    if (lk_exif_scan_jpeg(j, size + 14, 50, &info, NULL) != 0 || info.orientation != o) abort();
    free(j);
  }
  return 0;
}

#ifndef LK_LIBFUZZER
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

/* Replays one file through the target; returns 0, or -1 if it cannot be read. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (!buf) return -1;
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 0;
}

/* Replays every file named, descending into directories; returns how many ran. */
static int replay(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "cannot stat %s\n", path);
    return 0;
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path) == 0;
  DIR *d = opendir(path);
  if (!d) return 0;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
    n += replay(sub);
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  int n = 0;
  for (int i = 1; i < argc; i++) n += replay(argv[i]);
  printf("replayed %d inputs\n", n);
  return 0;
}
#endif
