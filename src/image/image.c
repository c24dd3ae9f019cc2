/* image/image.c — decode JPEG (TurboJPEG), PNG (libpng) and WebP (libwebp) into 8-bit RGB
 * with limits checked at the header before any pixel buffer exists; EXIF orientation,
 * CMYK and alpha-over-white handled here; plus load, pad, crop and the colour histogram.
 * Resize lives in resize.c, the JPEG marker walk and EXIF reader in exif.c.
 *
 * JPEG policy: a stream without an EOI marker (truncated) is rejected with LK_EDECODE
 * before decoding, and so is one whose scan data ends early before its EOI (TurboJPEG's
 * "premature end of data segment" warning: the missing part would be painted grey); other
 * TurboJPEG *warnings* (TJERR_WARNING: recoverable corruption such as extraneous bytes before
 * a marker) are accepted and the decoded pixels returned; TJERR_FATAL is LK_EDECODE. */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/decode.h>

#include "image/exif.h"
#include "util/file.h"
#include "util/size.h"

#define DEF_MAX_BYTES LK_IMAGE_MAX_BYTES
#define DEF_MAX_PIXELS LK_IMAGE_MAX_PIXELS
#define DEF_MAX_SIDE LK_IMAGE_MAX_SIDE
#define DEF_MAX_SCANS 500

static lk_image_limits eff_limits(const lk_image_limits *lim) {
  lk_image_limits l = lim ? *lim : (lk_image_limits){0};
  if (!l.max_bytes) l.max_bytes = DEF_MAX_BYTES;
  if (!l.max_pixels) l.max_pixels = DEF_MAX_PIXELS;
  if (l.max_side <= 0) l.max_side = DEF_MAX_SIDE;
  if (l.max_scans <= 0) l.max_scans = DEF_MAX_SCANS;
  return l;
}

/* The header check every format goes through before allocating. */
static int check_dims(const char *fmt, uint64_t w, uint64_t h, const lk_image_limits *l,
                      lk_errbuf *err) {
  if (w == 0 || h == 0) return lk_err_set(err, LK_EDECODE, "%s declares an empty image", fmt);
  if (w > (uint64_t)l->max_side || h > (uint64_t)l->max_side)
    return lk_err_set(err, LK_ETOOBIG, "%s is %llux%llu, a side exceeds the limit %d", fmt,
                      (unsigned long long)w, (unsigned long long)h, l->max_side);
  if (w * h > l->max_pixels) /* both <= INT_MAX here: no overflow in 64 bits */
    return lk_err_set(err, LK_ETOOBIG, "%s is %llux%llu, more than %llu pixels", fmt,
                      (unsigned long long)w, (unsigned long long)h,
                      (unsigned long long)l->max_pixels);
  return 0;
}

static int alloc_rgb(int w, int h, size_t extra_ch, uint8_t **px, lk_errbuf *err) {
  size_t n;
  if (lk_size_mul3((size_t)w, (size_t)h, extra_ch, &n))
    return lk_err_set(err, LK_ETOOBIG, "image %dx%d too large", w, h);
  *px = malloc(n ? n : 1);
  if (!*px) return lk_err_set(err, LK_ENOMEM, "out of memory for a %dx%d image", w, h);
  return 0;
}

/* In place: n RGBA pixels -> n RGB pixels composited over white (writes trail reads). */
static void rgba_over_white(uint8_t *px, size_t n) {
  const uint8_t *s = px;
  uint8_t *d = px;
  for (size_t i = 0; i < n; i++, s += 4, d += 3) {
    unsigned a = s[3], ia = 255 - a;
    uint8_t r = (uint8_t)((s[0] * a + 255 * ia + 127) / 255);
    uint8_t g = (uint8_t)((s[1] * a + 255 * ia + 127) / 255);
    uint8_t b = (uint8_t)((s[2] * a + 255 * ia + 127) / 255);
    d[0] = r, d[1] = g, d[2] = b;
  }
}

/* Applies EXIF orientation 2..8: out(x,y) = in(start + x*dx + y*dy) in pixel units. */
static int apply_orientation(lk_image *img, int orient, lk_errbuf *err) {
  if (orient < 2 || orient > 8) return 0;
  int W = img->w, H = img->h;
  int swap = orient >= 5;
  int ow = swap ? H : W, oh = swap ? W : H;
  ptrdiff_t sx = 0, sy = 0, dx = 1, dy = W; /* start pixel, steps in source pixels */
  switch (orient) {
  case 2: sx = W - 1; dx = -1; dy = W; break;
  case 3: sx = W - 1; sy = H - 1; dx = -1; dy = -(ptrdiff_t)W; break;
  case 4: sy = H - 1; dx = 1; dy = -(ptrdiff_t)W; break;
  case 5: dx = W; dy = 1; break;
  case 6: sy = H - 1; dx = -(ptrdiff_t)W; dy = 1; break;
  case 7: sx = W - 1; sy = H - 1; dx = -(ptrdiff_t)W; dy = -1; break;
  case 8: sx = W - 1; dx = W; dy = -1; break;
  }
  uint8_t *out;
  int rc = alloc_rgb(ow, oh, 3, &out, err);
  if (rc) return rc;
  const uint8_t *in = img->px;
  uint8_t *d = out;
  for (int y = 0; y < oh; y++) {
    ptrdiff_t p = sy * W + sx + (ptrdiff_t)y * dy;
    for (int x = 0; x < ow; x++, p += dx, d += 3) memcpy(d, in + 3 * p, 3);
  }
  free(img->px);
  img->px = out;
  img->w = ow;
  img->h = oh;
  return 0;
}

/* ---- JPEG ---------------------------------------------------------------------------- */

static int jpeg_tj_error(tjhandle tj, const char *what, lk_errbuf *err) {
  return lk_err_set(err, LK_EDECODE, "JPEG %s failed: %s", what, tjGetErrorStr2(tj));
}

/* Picks the smallest DCT scale (num/denom <= 1) whose result keeps min(w,h) >= min_side. */
static void jpeg_pick_scale(int w, int h, int min_side, int *sw, int *sh) {
  *sw = w, *sh = h;
  if (min_side <= 0 || (w < h ? w : h) <= min_side) return;
  int n = 0;
  tjscalingfactor *sf = tjGetScalingFactors(&n);
  for (int i = 0; sf && i < n; i++) {
    if (sf[i].num <= 0 || sf[i].denom <= 0 || sf[i].num > sf[i].denom) continue;
    int cw = TJSCALED(w, sf[i]), ch = TJSCALED(h, sf[i]);
    if ((cw < ch ? cw : ch) >= min_side && (uint64_t)cw * ch < (uint64_t)*sw * *sh)
      *sw = cw, *sh = ch;
  }
}

static int decode_jpeg(const uint8_t *buf, size_t len, const lk_image_limits *l, int min_side,
                       lk_image *out, lk_errbuf *err) {
  lk_exif_jpeg_info info;
  int rc = lk_exif_scan_jpeg(buf, len, l->max_scans, &info, err);
  if (rc) return rc;
  if (info.sof == 0xC3 || info.sof == 0xC7 || info.sof == 0xCB || info.sof == 0xCF)
    return lk_err_set(err, LK_EUNSUPPORTED, "lossless JPEG is not supported");
  /* libjpeg itself refuses sides > 65500 with a generic error: check the SOF first. */
  if (info.sof && (rc = check_dims("JPEG", info.width, info.height, l, err))) return rc;
  if (len > (unsigned long)-1) return lk_err_set(err, LK_ETOOBIG, "JPEG too large");
  tjhandle tj = tjInitDecompress();
  if (!tj) return lk_err_set(err, LK_ENOMEM, "TurboJPEG init failed");
  int w = 0, h = 0, subsamp = 0, cs = -1;
  uint8_t *cmyk = NULL;
  if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0 &&
      tjGetErrorCode(tj) != TJERR_WARNING) {
    rc = jpeg_tj_error(tj, "header", err);
    goto done;
  }
  if ((rc = check_dims("JPEG", (uint64_t)(w > 0 ? w : 0), (uint64_t)(h > 0 ? h : 0), l, err)))
    goto done;
  int sw, sh;
  jpeg_pick_scale(w, h, min_side, &sw, &sh);
  int is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
  int flags = 0;
#ifdef TJFLAG_LIMITSCANS
  flags |= TJFLAG_LIMITSCANS; /* library's own guard (500 scans) behind our counted limit */
#endif
  if ((rc = alloc_rgb(sw, sh, is_cmyk ? 4 : 3, is_cmyk ? &cmyk : &out->px, err))) goto done;
  int tr = tjDecompress2(tj, buf, (unsigned long)len, is_cmyk ? cmyk : out->px, sw,
                         sw * (is_cmyk ? 4 : 3), sh, is_cmyk ? TJPF_CMYK : TJPF_RGB, flags);
  if (tr != 0 && tjGetErrorCode(tj) != TJERR_WARNING) {
    rc = jpeg_tj_error(tj, "decode", err);
    goto done;
  }
  /* A warning that the compressed data ran out (the scan cut short, then an EOI: libjpeg
   * paints the rest grey) means part of the picture is missing: refused like a truncation. */
  if (tr != 0 && strstr(tjGetErrorStr2(tj), "premature end")) {
    rc = lk_err_set(err, LK_EDECODE, "JPEG is cut short: part of the picture is missing (%s)",
                    tjGetErrorStr2(tj));
    goto done;
  }
  if (is_cmyk) {
    /* libjpeg-turbo returns Adobe-style inverted CMYK (255 = no ink), so R = C*K/255. */
    if ((rc = alloc_rgb(sw, sh, 3, &out->px, err))) goto done;
    size_t n = (size_t)sw * (size_t)sh;
    const uint8_t *s = cmyk;
    uint8_t *d = out->px;
    for (size_t i = 0; i < n; i++, s += 4, d += 3) {
      unsigned k = s[3];
      d[0] = (uint8_t)((s[0] * k + 127) / 255);
      d[1] = (uint8_t)((s[1] * k + 127) / 255);
      d[2] = (uint8_t)((s[2] * k + 127) / 255);
    }
  }
  out->w = sw;
  out->h = sh;
  rc = apply_orientation(out, info.orientation, err);
done:
  free(cmyk);
  tjDestroy(tj);
  return rc;
}

/* ---- PNG ----------------------------------------------------------------------------- */

/* State shared with libpng's callbacks. It lives in the caller of png_run (not in the frame
 * that calls setjmp), so its fields stay valid after a longjmp. */
typedef struct png_job {
  const uint8_t *buf;
  size_t len, pos;
  const lk_image_limits *lim;
  lk_errbuf *err;
  int code; /* error code a callback chose before png_error; LK_EDECODE if 0 */
  uint8_t *px;
  png_bytep *rows;
  int w, h;
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_job *j = png_get_error_ptr(png);
  if (!j->code) lk_err_set(j->err, LK_EDECODE, "PNG decode failed: %s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {}

static void png_on_read(png_structp png, png_bytep data, size_t n) {
  png_job *j = png_get_io_ptr(png);
  if (j->len - j->pos < n) {
    j->code = lk_err_set(j->err, LK_EDECODE, "PNG decode failed: truncated data");
    png_error(png, "truncated");
  }
  memcpy(data, j->buf + j->pos, n);
  j->pos += n;
}

/* Everything that may longjmp happens in here; allocations are recorded in j. */
static int png_run(png_structp png, png_infop info, png_job *j) {
  if (setjmp(png_jmpbuf(png))) return j->code ? j->code : LK_EDECODE;
  png_set_read_fn(png, j, png_on_read);
  png_set_user_limits(png, (png_uint_32)j->lim->max_side, (png_uint_32)j->lim->max_side);
  png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
  png_read_info(png, info);
  png_uint_32 w, h;
  int depth, ctype, interlace;
  png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
  int rc = check_dims("PNG", w, h, j->lim, j->err);
  if (rc) return rc;
  png_set_expand(png); /* palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha */
  png_set_strip_16(png);
  png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int ch = png_get_channels(png, info);
  if (ch != 3 && ch != 4)
    return lk_err_set(j->err, LK_EDECODE, "PNG decode failed: %d channels after expand", ch);
  size_t rowbytes;
  if (lk_size_mul(w, (size_t)ch, &rowbytes) || png_get_rowbytes(png, info) != rowbytes)
    return lk_err_set(j->err, LK_EDECODE, "PNG decode failed: unexpected row size");
  j->w = (int)w, j->h = (int)h;
  if ((rc = alloc_rgb(j->w, j->h, (size_t)ch, &j->px, j->err))) return rc;
  size_t nrows;
  if (lk_size_mul(h, sizeof *j->rows, &nrows)) return lk_err_set(j->err, LK_ETOOBIG, "PNG rows");
  j->rows = malloc(nrows);
  if (!j->rows) return lk_err_set(j->err, LK_ENOMEM, "out of memory for PNG rows");
  for (png_uint_32 y = 0; y < h; y++) j->rows[y] = j->px + (size_t)y * rowbytes;
  png_read_image(png, j->rows);
  if (ch == 4) rgba_over_white(j->px, (size_t)w * h);
  return 0;
}

static int decode_png(const uint8_t *buf, size_t len, const lk_image_limits *l, lk_image *out,
                      lk_errbuf *err) {
  /* Check the declared size from IHDR ourselves before libpng sees it: signature (8),
   * chunk length (4), "IHDR", width and height big-endian. */
  if (len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0) {
    uint32_t w = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 |
                 buf[19];
    uint32_t h = (uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 |
                 buf[23];
    int rc = check_dims("PNG", w, h, l, err);
    if (rc) return rc;
  }
  png_job j = {.buf = buf, .len = len, .lim = l, .err = err};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error,
                                           png_on_warning);
  if (!png) return lk_err_set(err, LK_ENOMEM, "libpng init failed");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return lk_err_set(err, LK_ENOMEM, "libpng init failed");
  }
  int rc = png_run(png, info, &j);
  png_destroy_read_struct(&png, &info, NULL);
  free(j.rows);
  if (rc) {
    free(j.px);
    return rc;
  }
  out->px = j.px;
  out->w = j.w;
  out->h = j.h;
  return apply_orientation(out, lk_exif_png_orientation(buf, len), err);
}

/* ---- WebP ---------------------------------------------------------------------------- */

static int decode_webp(const uint8_t *buf, size_t len, const lk_image_limits *l, lk_image *out,
                       lk_errbuf *err) {
  WebPBitstreamFeatures f;
  VP8StatusCode st = WebPGetFeatures(buf, len, &f);
  if (st == VP8_STATUS_NOT_ENOUGH_DATA)
    return lk_err_set(err, LK_EDECODE, "WebP decode failed: truncated header");
  if (st != VP8_STATUS_OK)
    return lk_err_set(err, LK_EDECODE, "WebP decode failed: bad header (status %d)", (int)st);
  if (f.has_animation) return lk_err_set(err, LK_EUNSUPPORTED, "animated WebP is not supported");
  int rc = check_dims("WebP", (uint64_t)(f.width > 0 ? f.width : 0),
                      (uint64_t)(f.height > 0 ? f.height : 0), l, err);
  if (rc) return rc;
  int ch = f.has_alpha ? 4 : 3;
  uint8_t *px;
  if ((rc = alloc_rgb(f.width, f.height, (size_t)ch, &px, err))) return rc;
  size_t size = (size_t)f.width * (size_t)f.height * (size_t)ch; /* checked by alloc_rgb */
  uint8_t *r = ch == 4 ? WebPDecodeRGBAInto(buf, len, px, size, f.width * 4)
                       : WebPDecodeRGBInto(buf, len, px, size, f.width * 3);
  if (!r) {
    free(px);
    return lk_err_set(err, LK_EDECODE, "WebP decode failed: corrupt or truncated data");
  }
  if (ch == 4) rgba_over_white(px, (size_t)f.width * (size_t)f.height);
  out->px = px;
  out->w = f.width;
  out->h = f.height;
  return apply_orientation(out, lk_exif_webp_orientation(buf, len), err);
}

/* ---- public entry points ------------------------------------------------------------- */

int lk_image_decode(const uint8_t *buf, size_t len, const lk_image_limits *lim, int min_side,
                    lk_image *out, lk_errbuf *err) {
  *out = (lk_image){0};
  lk_image_limits l = eff_limits(lim);
  if (!buf || len == 0) return lk_err_set(err, LK_EDECODE, "empty file");
  if (len > l.max_bytes)
    return lk_err_set(err, LK_ETOOBIG, "image is %zu bytes, more than the limit %zu", len,
                      l.max_bytes);
  int rc;
  if (len >= 2 && buf[0] == 0xFF && buf[1] == 0xD8)
    rc = decode_jpeg(buf, len, &l, min_side, out, err);
  else if (len >= 4 && memcmp(buf, "\x89PNG", 4) == 0)
    rc = decode_png(buf, len, &l, out, err);
  else if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0)
    rc = decode_webp(buf, len, &l, out, err);
  else
    return lk_err_set(err, LK_EUNSUPPORTED, "not an image (unknown format)");
  if (rc) lk_image_free(out);
  return rc;
}

int lk_image_load(const char *path, const lk_image_limits *lim, int min_side, lk_image *out,
                  lk_errbuf *err) {
  *out = (lk_image){0};
  lk_image_limits l = eff_limits(lim);
  uint8_t *buf;
  size_t got;
  int rc = lk_file_read(path, l.max_bytes, &buf, &got, NULL, err);
  if (rc) return rc;
  rc = lk_image_decode(buf, got, &l, min_side, out, err);
  free(buf);
  return rc;
}

void lk_image_free(lk_image *img) {
  if (!img) return;
  free(img->px);
  *img = (lk_image){0};
}

/* ---- geometry and descriptor --------------------------------------------------------- */

static int valid(const lk_image *img) {
  return img && img->px && img->w > 0 && img->h > 0;
}

int lk_image_pad_square(const lk_image *src, uint8_t r, uint8_t g, uint8_t b, lk_image *dst) {
  if (!valid(src) || !dst) return LK_EINVAL;
  int s = src->w > src->h ? src->w : src->h;
  uint8_t *px;
  if (alloc_rgb(s, s, 3, &px, NULL)) return LK_ENOMEM;
  size_t n = (size_t)s * (size_t)s;
  for (size_t i = 0; i < n; i++) px[3 * i] = r, px[3 * i + 1] = g, px[3 * i + 2] = b;
  int x0 = (s - src->w) / 2, y0 = (s - src->h) / 2;
  size_t row = (size_t)src->w * 3;
  for (int y = 0; y < src->h; y++)
    memcpy(px + ((size_t)(y0 + y) * s + (size_t)x0) * 3, src->px + (size_t)y * row, row);
  *dst = (lk_image){.w = s, .h = s, .px = px};
  return 0;
}

int lk_image_crop(const lk_image *src, int x, int y, int w, int h, lk_image *dst) {
  if (!valid(src) || !dst) return LK_EINVAL;
  int64_t x0 = x, y0 = y, x1 = (int64_t)x + w, y1 = (int64_t)y + h;
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > src->w) x1 = src->w;
  if (y1 > src->h) y1 = src->h;
  if (w <= 0 || h <= 0 || x1 <= x0 || y1 <= y0) return LK_EINVAL;
  int cw = (int)(x1 - x0), ch = (int)(y1 - y0);
  uint8_t *px;
  if (alloc_rgb(cw, ch, 3, &px, NULL)) return LK_ENOMEM;
  size_t row = (size_t)cw * 3;
  for (int r = 0; r < ch; r++)
    memcpy(px + (size_t)r * row, src->px + (((size_t)(y0 + r)) * (size_t)src->w + (size_t)x0) * 3,
           row);
  *dst = (lk_image){.w = cw, .h = ch, .px = px};
  return 0;
}

int lk_image_color_hist(const lk_image *img, int bins, float *out) {
  if (!valid(img) || !out || bins < 1 || bins > 16) return LK_EINVAL;
  size_t nb = (size_t)bins * (size_t)bins * (size_t)bins;
  size_t *cnt = calloc(nb, sizeof *cnt); /* at most 4096 bins */
  if (!cnt) return LK_ENOMEM;
  size_t n = (size_t)img->w * (size_t)img->h; /* valid image: already allocated, no overflow */
  const uint8_t *p = img->px;
  unsigned ub = (unsigned)bins;
  for (size_t i = 0; i < n; i++, p += 3) {
    unsigned r = p[0] * ub >> 8, g = p[1] * ub >> 8, b = p[2] * ub >> 8;
    cnt[(r * ub + g) * ub + b]++;
  }
  double ss = 0;
  for (size_t i = 0; i < nb; i++) ss += (double)cnt[i] / (double)n; /* sum of sqrt(p)^2 */
  double norm = ss > 0 ? 1.0 / sqrt(ss) : 0;
  for (size_t i = 0; i < nb; i++) out[i] = (float)(sqrt((double)cnt[i] / (double)n) * norm);
  free(cnt);
  return 0;
}

int lk_image_near_white(const uint8_t *p, int min_level, int max_spread) {
  int lo = p[0], hi = p[0];
  for (int c = 1; c < 3; c++) {
    if (p[c] < lo) lo = p[c];
    if (p[c] > hi) hi = p[c];
  }
  return lo >= min_level && hi - lo <= max_spread;
}
