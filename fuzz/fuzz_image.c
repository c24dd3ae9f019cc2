/* fuzz/fuzz_image.c — fuzz target for lk_image_decode (JPEG/PNG/WebP sniffing, header
 * limits, EXIF orientation, CMYK and alpha paths) under small limits, then resize and
 * histogram of whatever decodes. Build with -DLK_LIBFUZZER for libFuzzer; otherwise main()
 * replays the files and directories named on the command line. */
#include <stdint.h>
#include <stdlib.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lk_image_limits lim = {.max_bytes = 1 << 20, .max_pixels = 4u << 20, .max_side = 8192,
                         .max_scans = 100};
  lk_errbuf err = {0};
  lk_image img;
  for (int min_side = 0; min_side <= 32; min_side += 32) {
    if (lk_image_decode(data, size, &lim, min_side, &img, &err) != 0) return 0;
    lk_image small;
    if (lk_image_resize(&img, 7, 5, &small) == 0) {
      float hist[64];
      lk_image_color_hist(&small, 4, hist);
      lk_image_free(&small);
    }
    lk_image_free(&img);
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
