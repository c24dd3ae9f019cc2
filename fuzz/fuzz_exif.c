/* fuzz/fuzz_exif.c — fuzz target for the image module's JPEG marker walk, PNG/WebP chunk walks
 * and EXIF/TIFF orientation reader (src/image/exif.c), fed raw bytes as a whole file and as the
 * TIFF block of a JPEG APP1 segment, a PNG eXIf chunk and a WebP EXIF chunk. -DLK_LIBFUZZER for libFuzzer; otherwise fuzz/replay.c's main() replays files. */
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
  /* The PNG and WebP chunk walks, on the raw bytes and with the bytes as their EXIF chunk. */
  int p = lk_exif_png_orientation(data, size), w = lk_exif_webp_orientation(data, size);
  if (p < 1 || p > 8 || w < 1 || w > 8) abort();
  /* in a PNG or WebP chunk the TIFF data may follow an "Exif\0\0" header */
  int oc = size >= 6 && !memcmp(data, "Exif\0\0", 6) ? lk_exif_orientation(data + 6, size - 6) : o;
  uint8_t *c = malloc(size + 24);
  if (!c) return 0;
  memcpy(c, "\x89PNG\r\n\x1a\n", 8);
  c[8] = (uint8_t)(size >> 24), c[9] = (uint8_t)(size >> 16), c[10] = (uint8_t)(size >> 8), c[11] = (uint8_t)size;
  memcpy(c + 12, "eXIf", 4);
  memcpy(c + 16, data, size);
  memset(c + 16 + size, 0, 4); /* CRC: not checked by the walk */
  if (lk_exif_png_orientation(c, size + 20) != oc) abort();
  memcpy(c, "RIFF\0\0\0\0WEBPEXIF", 16);
  c[16] = (uint8_t)size, c[17] = (uint8_t)(size >> 8), c[18] = (uint8_t)(size >> 16), c[19] = (uint8_t)(size >> 24);
  memcpy(c + 20, data, size);
  if (lk_exif_webp_orientation(c, size + 20) != oc) abort();
  free(c);
  return 0;
}
