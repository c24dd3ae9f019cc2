/* image/exif.c — JPEG marker walk and EXIF orientation reader (see exif.h). Every read is
 * checked against the buffer end; offsets from the file are compared, never added blindly. */
#include "image/exif.h"

#include <string.h>

static unsigned rd16(const uint8_t *p, int le) {
  return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
            : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* TIFF: "II*\0" or "MM\0*", u32 offset of IFD0; IFD: u16 count, count x 12-byte entries
 * (u16 tag, u16 type, u32 count, 4-byte value). Orientation is SHORT (type 3), count 1. */
int lk_exif_orientation(const uint8_t *tiff, size_t len) {
  if (!tiff || len < 8) return 1;
  int le;
  if (memcmp(tiff, "II*\0", 4) == 0) le = 1;
  else if (memcmp(tiff, "MM\0*", 4) == 0) le = 0;
  else return 1;
  uint32_t ifd = rd32(tiff + 4, le);
  if (ifd < 8 || ifd > len || len - ifd < 2) return 1;
  unsigned n = rd16(tiff + ifd, le);
  size_t avail = (len - ifd - 2) / 12; /* entries that fit; never trust n beyond that */
  if (n > avail) n = (unsigned)avail;
  const uint8_t *e = tiff + ifd + 2;
  for (unsigned i = 0; i < n; i++, e += 12) {
    if (rd16(e, le) != 0x0112) continue;
    unsigned type = rd16(e + 2, le);
    uint32_t count = rd32(e + 4, le);
    unsigned v;
    if (type == 3 && count >= 1) v = rd16(e + 8, le);           /* SHORT, as specified */
    else if (type == 4 && count >= 1) v = (unsigned)rd32(e + 8, le); /* LONG: seen in the wild */
    else return 1;
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

/* Skips entropy-coded data starting at pos; returns the offset of the next marker's 0xFF,
 * or len when the data runs out. Stuffed 0xFF00, RSTn and fill bytes are not markers. */
static size_t skip_entropy(const uint8_t *buf, size_t len, size_t pos) {
  while (pos < len) {
    const uint8_t *p = memchr(buf + pos, 0xFF, len - pos);
    if (!p) return len;
    pos = (size_t)(p - buf);
    if (pos + 1 >= len) return len;
    uint8_t b = buf[pos + 1];
    if (b == 0x00 || (b >= 0xD0 && b <= 0xD7)) pos += 2;
    else if (b == 0xFF) pos += 1;
    else return pos;
  }
  return len;
}

int lk_exif_scan_jpeg(const uint8_t *buf, size_t len, int max_scans, lk_exif_jpeg_info *info,
                      lk_errbuf *err) {
  memset(info, 0, sizeof *info);
  info->orientation = 1;
  if (len < 2 || buf[0] != 0xFF || buf[1] != 0xD8)
    return lk_err_set(err, LK_EDECODE, "not a JPEG stream (no SOI marker)");
  int have_exif = 0;
  size_t pos = 2;
  for (;;) {
    /* Find the next marker: extraneous bytes are tolerated (libjpeg warns and goes on),
     * any number of 0xFF fill bytes may precede the marker code. */
    while (pos < len && buf[pos] != 0xFF) pos++;
    while (pos < len && buf[pos] == 0xFF) pos++;
    if (pos >= len) return lk_err_set(err, LK_EDECODE, "truncated JPEG (no end-of-image marker)");
    uint8_t m = buf[pos++];
    if (m == 0xD9) break;
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* no length field */
    if (m == 0xD8) return lk_err_set(err, LK_EDECODE, "corrupt JPEG (SOI inside the stream)");
    if (len - pos < 2) return lk_err_set(err, LK_EDECODE, "truncated JPEG (segment header)");
    size_t seglen = rd16(buf + pos, 0);
    if (seglen < 2)
      return lk_err_set(err, LK_EDECODE, "corrupt JPEG (segment 0x%02X length %zu)", m, seglen);
    if (len - pos < seglen)
      return lk_err_set(err, LK_EDECODE, "truncated JPEG (segment 0x%02X)", m);
    const uint8_t *seg = buf + pos + 2;
    size_t n = seglen - 2;
    pos += seglen;
    if (m == 0xE1 && !have_exif && n >= 6 && memcmp(seg, "Exif\0\0", 6) == 0) {
      have_exif = 1;
      info->orientation = lk_exif_orientation(seg + 6, n - 6);
    } else if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      if (!info->sof && n >= 5) {
        info->sof = m;
        info->height = (int)rd16(seg + 1, 0);
        info->width = (int)rd16(seg + 3, 0);
      }
    } else if (m == 0xDA) {
      info->scans++;
      if (max_scans > 0 && info->scans > max_scans)
        return lk_err_set(err, LK_ETOOBIG, "JPEG has more than %d scans", max_scans);
      pos = skip_entropy(buf, len, pos);
    }
  }
  info->has_eoi = 1;
  return 0;
}

/* TIFF data that may carry the "Exif\0\0" header of a JPEG APP1 segment. */
static int tiff_orientation(const uint8_t *p, size_t n) {
  if (n >= 6 && !memcmp(p, "Exif\0\0", 6)) p += 6, n -= 6;
  return lk_exif_orientation(p, n);
}

int lk_exif_png_orientation(const uint8_t *buf, size_t len) {
  /* signature (8), then chunks: length (4, big-endian), type (4), data, CRC (4) */
  if (!buf || len < 8 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8)) return 1;
  size_t at = 8;
  while (len - at >= 12) {
    uint32_t n = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 | (uint32_t)buf[at + 2] << 8 | buf[at + 3];
    const uint8_t *type = buf + at + 4;
    if (n > len - at - 12) return 1; /* runs past the end */
    if (!memcmp(type, "eXIf", 4)) return tiff_orientation(buf + at + 8, n);
    if (!memcmp(type, "IEND", 4)) return 1;
    at += 12 + (size_t)n;
  }
  return 1;
}

int lk_exif_webp_orientation(const uint8_t *buf, size_t len) {
  /* "RIFF", size (4, little-endian), "WEBP", then chunks: fourcc, size (4, LE), data padded to even */
  if (!buf || len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WEBP", 4)) return 1;
  size_t at = 12;
  while (len - at >= 8) {
    uint32_t n = (uint32_t)buf[at + 4] | (uint32_t)buf[at + 5] << 8 | (uint32_t)buf[at + 6] << 16 |
                 (uint32_t)buf[at + 7] << 24;
    if (n > len - at - 8) return 1;
    if (!memcmp(buf + at, "EXIF", 4)) return tiff_orientation(buf + at + 8, n);
    at += 8 + (size_t)n + (n & 1);
    if (at > len) return 1;
  }
  return 1;
}
