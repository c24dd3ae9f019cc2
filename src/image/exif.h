/* image/exif.h — internal to the image module: a bounds-checked walk over a JPEG's marker
 * segments (EXIF orientation, scan count, frame type, end-of-image), over PNG and WebP chunks
 * (EXIF orientation), and the small EXIF/TIFF reader behind them. Both read hostile bytes; both have fuzz targets (fuzz/fuzz_exif.c). */
#ifndef LK_IMAGE_EXIF_H
#define LK_IMAGE_EXIF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* What lk_exif_scan_jpeg learned from the marker structure. */
typedef struct lk_exif_jpeg_info {
  int orientation; /* EXIF orientation 1..8 from the first APP1 "Exif" segment; 1 if none */
  int scans;       /* number of SOS segments before EOI */
  int sof;         /* frame marker (0xC0..0xCF, not C4/C8/CC); 0 if none seen */
  int width, height; /* as declared by that frame header (0 if none) */
  int has_eoi;     /* an EOI marker ends the stream (it is not truncated) */
} lk_exif_jpeg_info;

/* Reads the orientation tag (0x0112) from IFD0 of a TIFF structure (the bytes after an APP1
 * "Exif\0\0" header), either byte order. Returns 1..8, or 1 when absent or malformed. */
int lk_exif_orientation(const uint8_t *tiff, size_t len);

/* The EXIF orientation (1..8; 1 when absent or malformed) of a PNG (its eXIf chunk) or a WebP
 * (its RIFF "EXIF" chunk): a bounds-checked walk over the file's chunks. The TIFF data may
 * start with the "Exif\0\0" header some writers put there. */
int lk_exif_png_orientation(const uint8_t *buf, size_t len);
int lk_exif_webp_orientation(const uint8_t *buf, size_t len);

/* Walks buf[0..len), a JPEG starting with SOI, segment by segment up to EOI, skipping
 * entropy-coded data. Errors: LK_EDECODE (truncated: no EOI; or a malformed segment),
 * LK_ETOOBIG (more than max_scans scans; max_scans <= 0 means no limit). */
int lk_exif_scan_jpeg(const uint8_t *buf, size_t len, int max_scans, lk_exif_jpeg_info *info,
                      lk_errbuf *err);

#endif
