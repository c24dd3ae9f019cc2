/* fuzz/fuzz_exif.c — fuzz target for the image module's JPEG marker walk and EXIF/TIFF
 * orientation reader (src/image/exif.c), fed raw bytes both as a whole JPEG and as the TIFF
 * block of an APP1 segment. -DLK_LIBFUZZER for libFuzzer; otherwise fuzz/replay.c's main() replays files. */
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
