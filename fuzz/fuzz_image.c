/* fuzz/fuzz_image.c — fuzz target for lk_image_decode (JPEG/PNG/WebP sniffing, header
 * limits, EXIF orientation, CMYK and alpha paths) under small limits, then resize and
 * histogram of whatever decodes. Build with -DLK_LIBFUZZER for libFuzzer; otherwise fuzz/replay.c's
 * main() replays the files and directories named on the command line. */
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
