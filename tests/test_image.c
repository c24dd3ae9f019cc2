/* tests/test_image.c — unit tests for the image module: decode of JPEG/PNG/WebP made in-test
 * with the libraries' own encoders (formats, grey, CMYK, alpha, EXIF orientation, limits,
 * truncation and corruption), DCT scaling, resize against a floating-point reference of the
 * Pillow algorithm, pad/crop/histogram, and a few real catalog photos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <webp/encode.h>

#include "image/exif.h"
#include "image/image.h"
#include "testutil.h"

/* ---- encoders ------------------------------------------------------------------------ */

typedef struct blob {
  uint8_t *p;
  size_t n;
} blob;

/* pf: TJPF_RGB (src is RGB), TJPF_GRAY, TJPF_CMYK (src is 4-channel). */
static blob make_jpeg(const uint8_t *src, int w, int h, int pf, int subsamp, int quality,
                      int flags) {
  tjhandle tj = tjInitCompress();
  assert_non_null(tj);
  unsigned char *jb = NULL;
  unsigned long jn = 0;
  int rc = tjCompress2(tj, src, w, 0, h, pf, &jb, &jn, subsamp, quality, flags);
  if (rc) fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
  assert_int_equal(rc, 0);
  blob b = {malloc(jn), jn};
  assert_non_null(b.p);
  memcpy(b.p, jb, jn);
  tjFree(jb);
  tjDestroy(tj);
  return b;
}

/* RGB image filled by a function of (x, y). */
static uint8_t *pattern(int w, int h, void (*f)(int x, int y, uint8_t *px)) {
  uint8_t *p = malloc((size_t)w * h * 3);
  assert_non_null(p);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) f(x, y, p + ((size_t)y * w + x) * 3);
  return p;
}

static void pat_gradient(int x, int y, uint8_t *px) {
  px[0] = (uint8_t)(x * 4), px[1] = (uint8_t)(y * 4), px[2] = (uint8_t)(128 + x - y);
}

static void pat_smooth(int x, int y, uint8_t *px) { /* slow gradient for big images */
  px[0] = (uint8_t)(x / 8), px[1] = (uint8_t)(y / 10), px[2] = 100;
}

/* Grow-only memory sink for libpng. */
static void png_sink(png_structp png, png_bytep d, size_t n) {
  blob *b = png_get_io_ptr(png);
  b->p = realloc(b->p, b->n + n);
  assert_non_null(b->p);
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void png_flush_noop(png_structp png) {}

/* rows: h rows of w * channels * (depth/8) bytes (big-endian 16-bit samples). */
static blob make_png(const uint8_t *data, int w, int h, int depth, int ctype, int interlace,
                     const png_color *pal, int npal, const uint8_t *trns, int ntrns) {
  blob b = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  assert_non_null(info);
  if (setjmp(png_jmpbuf(png))) fail_msg("libpng write failed");
  png_set_write_fn(png, &b, png_sink, png_flush_noop);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (pal) png_set_PLTE(png, info, pal, npal);
  if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
  png_write_info(png, info);
  int ch = ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGBA ? 4
           : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
  size_t row = ((size_t)w * ch * depth + 7) / 8;
  png_bytep *rows = malloc(sizeof *rows * (size_t)h);
  for (int y = 0; y < h; y++) rows[y] = (png_bytep)data + (size_t)y * row;
  png_write_image(png, rows);
  png_write_end(png, info);
  free(rows);
  png_destroy_write_struct(&png, &info);
  return b;
}

static blob make_webp(const uint8_t *src, int w, int h, int alpha, int lossless) {
  uint8_t *out = NULL;
  size_t n;
  if (alpha) n = lossless ? WebPEncodeLosslessRGBA(src, w, h, w * 4, &out)
                          : WebPEncodeRGBA(src, w, h, w * 4, 95, &out);
  else n = lossless ? WebPEncodeLosslessRGB(src, w, h, w * 3, &out)
                    : WebPEncodeRGB(src, w, h, w * 3, 95, &out);
  assert_true(n > 0);
  blob b = {malloc(n), n};
  memcpy(b.p, out, n);
  WebPFree(out);
  return b;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

static void put32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Offset of the first marker m in a JPEG (its 0xFF), or 0. */
static size_t find_marker(const blob *b, uint8_t m) {
  for (size_t i = 2; i + 1 < b->n; i++)
    if (b->p[i] == 0xFF && b->p[i + 1] == m) return i;
  return 0;
}

/* Returns a copy of b with ins[0..n) inserted at offset at. */
static blob splice(const blob *b, size_t at, const uint8_t *ins, size_t n) {
  blob o = {malloc(b->n + n), b->n + n};
  memcpy(o.p, b->p, at);
  memcpy(o.p + at, ins, n);
  memcpy(o.p + at + n, b->p + at, b->n - at);
  return o;
}

static void expect_px(const lk_image *img, int x, int y, int r, int g, int b, int tol) {
  assert_true(x >= 0 && x < img->w && y >= 0 && y < img->h);
  const uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
  if (abs(p[0] - r) > tol || abs(p[1] - g) > tol || abs(p[2] - b) > tol)
    fail_msg("pixel (%d,%d) = (%d,%d,%d), expected (%d,%d,%d) +-%d", x, y, p[0], p[1], p[2], r, g,
             b, tol);
}

static int max_diff(const uint8_t *a, const uint8_t *b, size_t n) {
  int m = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs(a[i] - b[i]);
    if (d > m) m = d;
  }
  return m;
}

static int decode(const blob *b, const lk_image_limits *lim, int min_side, lk_image *img) {
  lk_errbuf e = {0};
  int rc = lk_image_decode(b->p, b->n, lim, min_side, img, &e);
  if (rc) {
    assert_int_equal(e.code, rc);
    assert_true(e.msg[0] != '\0');
    assert_null(img->px);
  }
  return rc;
}

/* ---- decode: each format ------------------------------------------------------------- */

static void test_decode_formats(void **state) {
  const int w = 48, h = 40;
  uint8_t *src = pattern(w, h, pat_gradient);
  uint8_t *rgba = malloc((size_t)w * h * 4);
  for (int i = 0; i < w * h; i++) memcpy(rgba + 4 * i, src + 3 * i, 3), rgba[4 * i + 3] = 255;
  struct {
    const char *name;
    blob b;
    int tol;
  } cases[] = {
      {"jpeg 444 q100", make_jpeg(src, w, h, TJPF_RGB, TJSAMP_444, 100, 0), 4},
      {"jpeg 420 q95", make_jpeg(src, w, h, TJPF_RGB, TJSAMP_420, 95, 0), 12},
      {"jpeg progressive", make_jpeg(src, w, h, TJPF_RGB, TJSAMP_444, 100, TJFLAG_PROGRESSIVE), 4},
      {"png rgb", make_png(src, w, h, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0), 0},
      {"png rgb interlaced", make_png(src, w, h, 8, PNG_COLOR_TYPE_RGB, 1, NULL, 0, NULL, 0), 0},
      {"png rgba opaque", make_png(rgba, w, h, 8, PNG_COLOR_TYPE_RGBA, 0, NULL, 0, NULL, 0), 0},
      {"webp lossless", make_webp(src, w, h, 0, 1), 0},
      {"webp lossless rgba", make_webp(rgba, w, h, 1, 1), 0},
      {"webp lossy", make_webp(src, w, h, 0, 0), 24},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lk_image img;
    int rc = decode(&cases[i].b, NULL, 0, &img);
    if (rc) fail_msg("%s: rc %d", cases[i].name, rc);
    assert_int_equal(img.w, w);
    assert_int_equal(img.h, h);
    int d = max_diff(img.px, src, (size_t)w * h * 3);
    if (d > cases[i].tol) fail_msg("%s: max diff %d > %d", cases[i].name, d, cases[i].tol);
    lk_image_free(&img);
    assert_null(img.px);
    free(cases[i].b.p);
  }
  free(src);
  free(rgba);
}

static void test_decode_one_pixel(void **state) {
  uint8_t px[4] = {10, 200, 90, 255};
  blob bs[] = {make_jpeg(px, 1, 1, TJPF_RGB, TJSAMP_444, 100, 0),
               make_png(px, 1, 1, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0),
               make_webp(px, 1, 1, 0, 1)};
  for (size_t i = 0; i < 3; i++) {
    lk_image img;
    assert_int_equal(decode(&bs[i], NULL, 0, &img), 0);
    assert_int_equal(img.w, 1);
    assert_int_equal(img.h, 1);
    expect_px(&img, 0, 0, 10, 200, 90, 3);
    lk_image_free(&img);
    free(bs[i].p);
  }
}

static void test_decode_gray(void **state) {
  const int w = 16, h = 16;
  uint8_t g[256], g16[512];
  for (int i = 0; i < w * h; i++) {
    g[i] = (uint8_t)(i % 16 * 16);
    g16[2 * i] = g[i];
    g16[2 * i + 1] = (uint8_t)(255 - g[i]); /* low byte: tells strip_16 from scale_16 */
  }
  blob bs[] = {make_jpeg(g, w, h, TJPF_GRAY, TJSAMP_GRAY, 100, 0),
               make_png(g, w, h, 8, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0),
               make_png(g16, w, h, 16, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0)};
  int tol[] = {3, 0, 0};
  for (size_t i = 0; i < 3; i++) {
    lk_image img;
    assert_int_equal(decode(&bs[i], NULL, 0, &img), 0);
    assert_int_equal(img.w, w);
    for (int p = 0; p < w * h; p++) expect_px(&img, p % w, p / w, g[p], g[p], g[p], tol[i]);
    lk_image_free(&img);
    free(bs[i].p);
  }
  /* 1-bit grey expands to 0/255. */
  uint8_t bits[2] = {0xA0, 0x00}; /* 2x2: row0 = 1,0; row1 = 0,0 */
  blob b = make_png(bits, 2, 2, 1, PNG_COLOR_TYPE_GRAY, 0, NULL, 0, NULL, 0);
  lk_image img;
  assert_int_equal(decode(&b, NULL, 0, &img), 0);
  expect_px(&img, 0, 0, 255, 255, 255, 0);
  expect_px(&img, 1, 0, 0, 0, 0, 0);
  lk_image_free(&img);
  free(b.p);
}

static void test_decode_cmyk_jpeg(void **state) {
  /* Adobe/libjpeg-turbo convention: inverted CMYK, so RGB = C*K/255 etc. */
  const int w = 16, h = 16;
  uint8_t cmyk[16 * 16 * 4];
  for (int i = 0; i < w * h; i++) memcpy(cmyk + 4 * i, (uint8_t[4]){250, 125, 64, 200}, 4);
  blob b = make_jpeg(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 100, 0);
  lk_image img;
  assert_int_equal(decode(&b, NULL, 0, &img), 0);
  assert_int_equal(img.w, w);
  expect_px(&img, 5, 5, 250 * 200 / 255, 125 * 200 / 255, 64 * 200 / 255, 4);
  lk_image_free(&img);
  free(b.p);
}

static void test_decode_png_alpha(void **state) {
  /* Half-transparent red over white is pink; fully transparent is white. */
  uint8_t rgba[8] = {255, 0, 0, 128, 0, 0, 255, 0};
  blob b = make_png(rgba, 2, 1, 8, PNG_COLOR_TYPE_RGBA, 0, NULL, 0, NULL, 0);
  lk_image img;
  assert_int_equal(decode(&b, NULL, 0, &img), 0);
  expect_px(&img, 0, 0, 255, 127, 127, 1);
  expect_px(&img, 1, 0, 255, 255, 255, 0);
  lk_image_free(&img);
  free(b.p);
  /* Grey + alpha, 16 bit. */
  uint8_t ga16[4] = {0x00, 0x00, 0x80, 0x00}; /* black at alpha ~half */
  b = make_png(ga16, 1, 1, 16, PNG_COLOR_TYPE_GRAY_ALPHA, 0, NULL, 0, NULL, 0);
  assert_int_equal(decode(&b, NULL, 0, &img), 0);
  expect_px(&img, 0, 0, 127, 127, 127, 1);
  lk_image_free(&img);
  free(b.p);
  /* Palette with tRNS: entry 1 fully transparent -> white, entry 0 opaque blue. */
  png_color pal[2] = {{0, 0, 255}, {0, 255, 0}};
  uint8_t trns[2] = {255, 0};
  uint8_t idx[2] = {0, 1};
  b = make_png(idx, 2, 1, 8, PNG_COLOR_TYPE_PALETTE, 0, pal, 2, trns, 2);
  assert_int_equal(decode(&b, NULL, 0, &img), 0);
  expect_px(&img, 0, 0, 0, 0, 255, 0);
  expect_px(&img, 1, 0, 255, 255, 255, 0);
  lk_image_free(&img);
  free(b.p);
  /* WebP with alpha. */
  b = make_webp(rgba, 2, 1, 1, 1);
  assert_int_equal(decode(&b, NULL, 0, &img), 0);
  expect_px(&img, 0, 0, 255, 127, 127, 1);
  expect_px(&img, 1, 0, 255, 255, 255, 0);
  lk_image_free(&img);
  free(b.p);
}

/* ---- decode: bad input --------------------------------------------------------------- */

static void test_decode_bad_input(void **state) {
  uint8_t *src = pattern(32, 32, pat_gradient);
  blob jpg = make_jpeg(src, 32, 32, TJPF_RGB, TJSAMP_420, 90, 0);
  blob png = make_png(src, 32, 32, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0);
  blob webp = make_webp(src, 32, 32, 0, 0);
  free(src);

  /* corrupt JPEG: SOF component count 0 (fatal for libjpeg) */
  blob jbad = {malloc(jpg.n), jpg.n};
  memcpy(jbad.p, jpg.p, jpg.n);
  size_t sof = find_marker(&jbad, 0xC0);
  assert_true(sof > 0);
  jbad.p[sof + 9] = 0;
  /* corrupt PNG: a byte of IDAT flipped (CRC mismatch) */
  blob pbad = {malloc(png.n), png.n};
  memcpy(pbad.p, png.p, png.n);
  pbad.p[png.n - 20] ^= 0x55;
  /* corrupt PNG: IHDR CRC wrong */
  blob pbad2 = {malloc(png.n), png.n};
  memcpy(pbad2.p, png.p, png.n);
  pbad2.p[29] ^= 1;
  /* JPEG with SOF height 0 (empty image) */
  blob jzero = {malloc(jpg.n), jpg.n};
  memcpy(jzero.p, jpg.p, jpg.n);
  jzero.p[sof + 5] = 0, jzero.p[sof + 6] = 0;
  /* WebP with the VP8 payload zeroed */
  blob wbad = {malloc(webp.n), webp.n};
  memcpy(wbad.p, webp.p, webp.n);
  memset(wbad.p + 20, 0, webp.n - 20);

  struct {
    const char *name;
    const uint8_t *p;
    size_t n;
    int rc;
  } cases[] = {
      {"empty", (const uint8_t *)"", 0, LK_EDECODE},
      {"text", (const uint8_t *)"hello, world\n", 13, LK_EUNSUPPORTED},
      {"gif", (const uint8_t *)"GIF89a\1\0\1\0\0\0\0", 13, LK_EUNSUPPORTED},
      {"jpeg magic only", jpg.p, 2, LK_EDECODE},
      {"jpeg truncated header", jpg.p, 30, LK_EDECODE},
      {"jpeg truncated in scan", jpg.p, jpg.n / 2, LK_EDECODE},
      {"jpeg missing EOI", jpg.p, jpg.n - 2, LK_EDECODE},
      {"jpeg bad SOF", jbad.p, jbad.n, LK_EDECODE},
      {"jpeg zero height", jzero.p, jzero.n, LK_EDECODE},
      {"png signature only", png.p, 8, LK_EDECODE},
      {"png truncated header", png.p, 20, LK_EDECODE},
      {"png truncated in IDAT", png.p, png.n / 2, LK_EDECODE},
      {"png bad IDAT crc", pbad.p, pbad.n, LK_EDECODE},
      {"png bad IHDR crc", pbad2.p, pbad2.n, LK_EDECODE},
      {"webp truncated header", webp.p, 16, LK_EDECODE},
      {"webp truncated", webp.p, webp.n / 2, LK_EDECODE},
      {"webp zeroed payload", wbad.p, wbad.n, LK_EDECODE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    blob b = {(uint8_t *)cases[i].p, cases[i].n};
    lk_image img = {.w = 7, .h = 7};
    int rc = decode(&b, NULL, 0, &img);
    if (rc != cases[i].rc) fail_msg("%s: rc %d, expected %d", cases[i].name, rc, cases[i].rc);
    assert_int_equal(img.w, 0);
  }
  free(jpg.p), free(png.p), free(webp.p), free(jbad.p), free(pbad.p), free(pbad2.p);
  free(jzero.p), free(wbad.p);
}

static void test_decode_jpeg_warning_accepted(void **state) {
  /* Extraneous bytes before a marker: libjpeg warns (TJERR_WARNING); policy is to accept. */
  uint8_t *src = pattern(32, 32, pat_gradient);
  blob jpg = make_jpeg(src, 32, 32, TJPF_RGB, TJSAMP_444, 100, 0);
  size_t sof = find_marker(&jpg, 0xC0);
  uint8_t junk[3] = {0x12, 0x34, 0x56};
  blob b = splice(&jpg, sof, junk, 3);
  lk_image img;
  lk_errbuf e = {0};
  int rc = lk_image_decode(b.p, b.n, NULL, 0, &img, &e);
  if (rc) fail_msg("rc %d: %s", rc, lk_err_msg(&e));
  assert_int_equal(img.w, 32);
  assert_true(max_diff(img.px, src, 32 * 32 * 3) <= 4);
  lk_image_free(&img);
  free(b.p), free(jpg.p), free(src);
}

static void test_decode_jpeg_scan_cut_short(void **state) {
  /* 90% of the scan data gone but the EOI kept: libjpeg only warns ("premature end of data
   * segment") and paints the rest grey; lookalike refuses it like a truncated file. */
  uint8_t *src = pattern(64, 64, pat_gradient);
  blob jpg = make_jpeg(src, 64, 64, TJPF_RGB, TJSAMP_420, 95, 0);
  size_t sos = find_marker(&jpg, 0xDA);
  size_t start = sos + 2 + ((size_t)jpg.p[sos + 2] << 8 | jpg.p[sos + 3]);
  assert_true(start < jpg.n - 2);
  size_t keep = (jpg.n - 2 - start) / 10;
  memcpy(jpg.p + start + keep, "\xff\xd9", 2);
  lk_image img;
  lk_errbuf e = {0};
  assert_int_equal(lk_image_decode(jpg.p, start + keep + 2, NULL, 0, &img, &e), LK_EDECODE);
  assert_non_null(strstr(lk_err_msg(&e), "part of the picture is missing"));
  free(jpg.p), free(src);
}

static void test_decode_limits(void **state) {
  const int w = 20, h = 20;
  uint8_t *src = pattern(w, h, pat_gradient);
  blob bs[] = {make_jpeg(src, w, h, TJPF_RGB, TJSAMP_444, 90, 0),
               make_png(src, w, h, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0),
               make_webp(src, w, h, 0, 1)};
  free(src);
  for (size_t i = 0; i < 3; i++) {
    struct {
      lk_image_limits lim;
      int rc;
    } cases[] = {
        {{0}, 0},
        {{.max_side = 20}, 0},
        {{.max_side = 19}, LK_ETOOBIG},
        {{.max_pixels = 400}, 0},
        {{.max_pixels = 399}, LK_ETOOBIG},
        {{.max_bytes = bs[i].n}, 0},
        {{.max_bytes = bs[i].n - 1}, LK_ETOOBIG},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      lk_image img;
      int rc = decode(&bs[i], &cases[c].lim, 0, &img);
      if (rc != cases[c].rc) fail_msg("format %zu case %zu: rc %d want %d", i, c, rc, cases[c].rc);
      lk_image_free(&img);
    }
    free(bs[i].p);
  }
}

static void test_decode_declared_huge(void **state) {
  uint8_t *src = pattern(16, 16, pat_gradient);
  blob png = make_png(src, 16, 16, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0);
  blob jpg = make_jpeg(src, 16, 16, TJPF_RGB, TJSAMP_444, 90, 0);
  free(src);
  /* PNG IHDR -> 100000 x 100000 with a valid CRC */
  put32be(png.p + 16, 100000);
  put32be(png.p + 20, 100000);
  put32be(png.p + 29, crc32_png(png.p + 12, 17));
  /* JPEG SOF -> 65535 x 65535 */
  size_t sof = find_marker(&jpg, 0xC0);
  memset(jpg.p + sof + 5, 0xFF, 4);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  lk_image img;
  assert_int_equal(decode(&png, NULL, 0, &img), LK_ETOOBIG);
  assert_int_equal(decode(&jpg, NULL, 0, &img), LK_ETOOBIG);
  /* Within the side limit but over the pixel limit: 20000 x 20000 PNG. */
  put32be(png.p + 16, 20000);
  put32be(png.p + 20, 20000);
  put32be(png.p + 29, crc32_png(png.p + 12, 17));
  assert_int_equal(decode(&png, NULL, 0, &img), LK_ETOOBIG);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  assert_true(ms < 100); /* rejected at the header, nothing big decoded */
  free(png.p), free(jpg.p);
}

static void test_decode_scan_limit(void **state) {
  uint8_t *src = pattern(32, 32, pat_gradient);
  blob jpg = make_jpeg(src, 32, 32, TJPF_RGB, TJSAMP_420, 90, TJFLAG_PROGRESSIVE);
  free(src);
  lk_exif_jpeg_info info;
  assert_int_equal(lk_exif_scan_jpeg(jpg.p, jpg.n, 0, &info, NULL), 0);
  assert_true(info.scans > 3);
  assert_int_equal(info.sof, 0xC2);
  lk_image img;
  lk_image_limits lim = {.max_scans = info.scans};
  assert_int_equal(decode(&jpg, &lim, 0, &img), 0);
  lk_image_free(&img);
  lim.max_scans = info.scans - 1;
  assert_int_equal(decode(&jpg, &lim, 0, &img), LK_ETOOBIG);
  free(jpg.p);
}

static void test_decode_dct_scaling(void **state) {
  const int w = 1800, h = 2400;
  uint8_t *src = pattern(w, h, pat_smooth);
  blob jpg = make_jpeg(src, w, h, TJPF_RGB, TJSAMP_420, 85, 0);
  free(src);
  struct {
    int min_side, w, h;
  } cases[] = {{0, 1800, 2400},   {224, 225, 300}, {225, 225, 300},  {226, 450, 600},
               {451, 675, 900},   {1800, 1800, 2400}, {5000, 1800, 2400}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lk_image img;
    assert_int_equal(decode(&jpg, NULL, cases[i].min_side, &img), 0);
    if (img.w != cases[i].w || img.h != cases[i].h)
      fail_msg("min_side %d: got %dx%d want %dx%d", cases[i].min_side, img.w, img.h, cases[i].w,
               cases[i].h);
    /* content survives scaling: pixel at the centre ~ the source's */
    int sx = img.w / 2 * w / img.w, sy = img.h / 2 * h / img.h;
    expect_px(&img, img.w / 2, img.h / 2, sx / 8, sy / 10, 100, 6);
    lk_image_free(&img);
  }
  free(jpg.p);
}

/* ---- EXIF orientation ---------------------------------------------------------------- */

/* APP1 "Exif" with IFD0 holding one orientation entry, in either byte order. */
static size_t make_app1(uint8_t *o, int orient, int le) {
  uint8_t tiff[26];
  if (le) {
    uint8_t t[26] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                     (uint8_t)orient, 0, 0, 0, 0, 0, 0, 0};
    memcpy(tiff, t, 26);
  } else {
    uint8_t t[26] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
                     0, (uint8_t)orient, 0, 0, 0, 0, 0, 0};
    memcpy(tiff, t, 26);
  }
  size_t seg = 2 + 6 + sizeof tiff;
  o[0] = 0xFF, o[1] = 0xE1, o[2] = (uint8_t)(seg >> 8), o[3] = (uint8_t)seg;
  memcpy(o + 4, "Exif\0\0", 6);
  memcpy(o + 10, tiff, sizeof tiff);
  return 2 + seg;
}

static void pat_marks(int x, int y, uint8_t *px) { /* red block top-left, blue top-right */
  px[0] = px[1] = px[2] = 255;
  if (y < 8 && x < 8) px[1] = px[2] = 0;
  if (y < 8 && x >= 24) px[0] = px[1] = 0;
}

enum { TL, TR, BR, BL };

static void corner_xy(const lk_image *img, int c, int *x, int *y) {
  *x = c == TL || c == BL ? 3 : img->w - 4;
  *y = c == TL || c == TR ? 3 : img->h - 4;
}

static void test_exif_orientation(void **state) {
  const int w = 32, h = 16;
  uint8_t *src = pattern(w, h, pat_marks);
  blob jpg = make_jpeg(src, w, h, TJPF_RGB, TJSAMP_444, 100, 0);
  free(src);
  struct {
    int orient, swap, red, blue;
  } cases[] = {{1, 0, TL, TR}, {2, 0, TR, TL}, {3, 0, BR, BL}, {4, 0, BL, BR},
               {5, 1, TL, BL}, {6, 1, TR, BR}, {7, 1, BR, TR}, {8, 1, BL, TL},
               {0, 0, TL, TR}, {9, 0, TL, TR}};
  for (int le = 0; le < 2; le++) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
      uint8_t app1[64];
      size_t n = make_app1(app1, cases[i].orient, le);
      blob b = splice(&jpg, 2, app1, n);
      for (int ms = 0; ms <= 4; ms += 4) { /* also with DCT scaling to half size */
        lk_image img;
        assert_int_equal(decode(&b, NULL, ms, &img), 0);
        int div = ms ? 4 : 1; /* min_side 4 on 32x16: the smallest scale keeping 4 is 1/4 */
        int ew = (cases[i].swap ? h : w) / div, eh = (cases[i].swap ? w : h) / div;
        if (img.w != ew || img.h != eh)
          fail_msg("orient %d le %d ms %d: %dx%d want %dx%d", cases[i].orient, le, ms, img.w,
                   img.h, ew, eh);
        if (!ms) {
          int x, y;
          corner_xy(&img, cases[i].red, &x, &y);
          expect_px(&img, x, y, 255, 0, 0, 8);
          corner_xy(&img, cases[i].blue, &x, &y);
          expect_px(&img, x, y, 0, 0, 255, 8);
        }
        lk_image_free(&img);
      }
      free(b.p);
    }
  }
  free(jpg.p);
}

/* EXIF orientation in PNG (an eXIf chunk, before or after the image data) and WebP (an EXIF
 * chunk of an extended VP8X file) turns the photo like it does in JPEG (issue 15, item 9). */
static void test_exif_orientation_png_webp(void **state) {
  const int w = 32, h = 16;
  uint8_t *src = pattern(w, h, pat_marks);
  blob png = make_png(src, w, h, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0);
  blob webp = make_webp(src, w, h, 0, 1);
  free(src);
  struct {
    int orient, swap, red, blue;
  } cases[] = {{6, 1, TR, BR}, {3, 0, BR, BL}, {1, 0, TL, TR}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint8_t app1[64];
    make_app1(app1, cases[i].orient, i & 1);
    const uint8_t *tiff = app1 + 10; /* after FF E1, the length and "Exif\0\0" */
    blob files[3];
    /* PNG: eXIf after IHDR, and just before IEND */
    uint8_t chunk[4 + 4 + 26 + 4];
    chunk[0] = chunk[1] = chunk[2] = 0, chunk[3] = 26;
    memcpy(chunk + 4, "eXIf", 4);
    memcpy(chunk + 8, tiff, 26);
    put32be(chunk + 34, crc32_png(chunk + 4, 30));
    files[0] = splice(&png, 33, chunk, sizeof chunk);
    files[1] = splice(&png, png.n - 12, chunk, sizeof chunk);
    /* WebP: RIFF header, VP8X (EXIF flag, canvas size), the image's chunk, EXIF */
    size_t n = 12 + 18 + (webp.n - 12) + 8 + 26;
    blob x = {malloc(n), n};
    memcpy(x.p, "RIFF", 4);
    for (int k = 0; k < 4; k++) x.p[4 + k] = (uint8_t)((n - 8) >> (8 * k));
    memcpy(x.p + 8, "WEBPVP8X", 8);
    uint8_t vp8x[14] = {10, 0, 0, 0, 0x08, 0, 0, 0, (uint8_t)(w - 1), 0, 0, (uint8_t)(h - 1), 0, 0};
    memcpy(x.p + 16, vp8x, 14);
    memcpy(x.p + 30, webp.p + 12, webp.n - 12);
    memcpy(x.p + 30 + webp.n - 12, "EXIF\x1a\0\0\0", 8);
    memcpy(x.p + 38 + webp.n - 12, tiff, 26);
    files[2] = x;
    for (int f = 0; f < 3; f++) {
      lk_image img;
      assert_int_equal(decode(&files[f], NULL, 0, &img), 0);
      int ew = cases[i].swap ? h : w, eh = cases[i].swap ? w : h;
      if (img.w != ew || img.h != eh)
        fail_msg("file %d orient %d: %dx%d want %dx%d", f, cases[i].orient, img.w, img.h, ew, eh);
      int px, py;
      corner_xy(&img, cases[i].red, &px, &py);
      expect_px(&img, px, py, 255, 0, 0, 8);
      corner_xy(&img, cases[i].blue, &px, &py);
      expect_px(&img, px, py, 0, 0, 255, 8);
      lk_image_free(&img);
      free(files[f].p);
    }
  }
  free(png.p), free(webp.p);
}

static void test_exif_parser(void **state) {
  uint8_t app1[96];
  make_app1(app1, 6, 0);
  const uint8_t *mm = app1 + 10;
  make_app1(app1 + 32, 3, 1);
  const uint8_t *ii = app1 + 42;
  uint8_t bad_off[26], big_count[26], long_type[26], bad_type[26];
  memcpy(bad_off, mm, 26), bad_off[7] = 200;        /* IFD0 beyond the end */
  memcpy(big_count, mm, 26), big_count[8] = 0xFF;   /* 65280+ entries claimed */
  memcpy(long_type, ii, 26), long_type[12] = 4;     /* LONG instead of SHORT */
  memcpy(bad_type, ii, 26), bad_type[12] = 2;       /* ASCII: ignored */
  struct {
    const char *name;
    const uint8_t *p;
    size_t n;
    int want;
  } cases[] = {
      {"MM 6", mm, 26, 6},           {"II 3", ii, 26, 3},
      {"cut in entry", mm, 20, 1},   {"header only", mm, 8, 1},
      {"empty", mm, 0, 1},           {"bad magic", (const uint8_t *)"XX*\0\10\0\0\0", 8, 1},
      {"ifd beyond", bad_off, 26, 1}, {"huge count", big_count, 26, 6},
      {"LONG type", long_type, 26, 3}, {"ASCII type", bad_type, 26, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    /* copy to an exact-size heap buffer so ASan sees any overread */
    uint8_t *p = malloc(cases[i].n ? cases[i].n : 1);
    memcpy(p, cases[i].p, cases[i].n);
    int o = lk_exif_orientation(p, cases[i].n);
    free(p);
    if (o != cases[i].want) fail_msg("%s: %d want %d", cases[i].name, o, cases[i].want);
  }
}

/* ---- load ---------------------------------------------------------------------------- */

static void test_load(void **state) {
  char *dir = lk_test_mkdtemp();
  assert_non_null(dir);
  uint8_t *src = pattern(24, 12, pat_gradient);
  blob png = make_png(src, 24, 12, 8, PNG_COLOR_TYPE_RGB, 0, NULL, 0, NULL, 0);
  const char *p = lk_test_path("%s/a.png", dir);
  assert_int_equal(lk_test_write_file(p, png.p, png.n), 0);
  lk_image img;
  lk_errbuf e = {0};
  assert_int_equal(lk_image_load(p, NULL, 0, &img, &e), 0);
  assert_int_equal(img.w, 24);
  assert_int_equal(max_diff(img.px, src, 24 * 12 * 3), 0);
  lk_image_free(&img);
  lk_image_limits lim = {.max_bytes = png.n - 1};
  assert_int_equal(lk_image_load(p, &lim, 0, &img, &e), LK_ETOOBIG);
  assert_null(img.px);
  assert_int_equal(lk_image_load(lk_test_path("%s/missing.png", dir), NULL, 0, &img, &e), LK_ENOTFOUND);
  assert_int_equal(lk_image_load(dir, NULL, 0, &img, &e), LK_EINVAL); /* util/file: "is a directory" */
  assert_non_null(strstr(e.msg, "is a directory"));
  const char *empty = lk_test_path("%s/empty.jpg", dir);
  assert_int_equal(lk_test_write_file(empty, "", 0), 0);
  assert_int_equal(lk_image_load(empty, NULL, 0, &img, &e), LK_EDECODE);
  lk_image_free(NULL);
  free(png.p), free(src);
  lk_test_rmtree(dir);
  free(dir);
}

/* ---- resize -------------------------------------------------------------------------- */

/* Floating-point reference of Pillow's BILINEAR resize (one axis). */
static void ref_axis(const double *in, int n_in, int stride_in, double *out, int n_out,
                     int stride_out, int count, int step_in, int step_out) {
  double scale = (double)n_in / n_out, fs = scale < 1 ? 1 : scale, support = fs;
  for (int i = 0; i < n_out; i++) {
    double c = (i + 0.5) * scale;
    int lo = (int)(c - support + 0.5), hi = (int)(c + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > n_in) hi = n_in;
    double ws = 0, wt[4096];
    for (int x = lo; x < hi; x++) {
      double t = fabs((x - c + 0.5) / fs);
      ws += wt[x - lo] = t < 1 ? 1 - t : 0;
    }
    for (int j = 0; j < count; j++) {
      double s = 0;
      for (int x = lo; x < hi; x++) s += in[x * stride_in + j * step_in] * wt[x - lo] / ws;
      out[i * stride_out + j * step_out] = s;
    }
  }
}

static void test_resize_vs_reference(void **state) {
  srand(1234);
  struct {
    int sw, sh, dw, dh;
  } cases[] = {{60, 80, 224, 224}, {225, 300, 224, 224}, {97, 53, 31, 17}, {10, 10, 3, 7},
               {5, 3, 17, 11},     {1, 1, 4, 4},         {40, 30, 40, 7},  {40, 30, 9, 30},
               {300, 7, 1, 1}};
  size_t nfixed = sizeof cases / sizeof *cases;
  for (size_t c = 0; c < nfixed + 40; c++) { /* the table, then random shapes */
    int sw, sh, dw, dh;
    if (c < nfixed) sw = cases[c].sw, sh = cases[c].sh, dw = cases[c].dw, dh = cases[c].dh;
    else sw = 1 + rand() % 90, sh = 1 + rand() % 90, dw = 1 + rand() % 90, dh = 1 + rand() % 90;
    lk_image src = {sw, sh, malloc((size_t)sw * sh * 3)}, dst;
    for (int i = 0; i < sw * sh * 3; i++) src.px[i] = (uint8_t)(rand() & 255);
    assert_int_equal(lk_image_resize(&src, dw, dh, &dst), 0);
    assert_int_equal(dst.w, dw);
    assert_int_equal(dst.h, dh);
    double *in = malloc(sizeof *in * (size_t)sw * sh * 3);
    double *mid = malloc(sizeof *mid * (size_t)dw * sh * 3);
    double *out = malloc(sizeof *out * (size_t)dw * dh * 3);
    for (int i = 0; i < sw * sh * 3; i++) in[i] = src.px[i];
    /* horizontal: per row y, pixel x at y*sw*3 + x*3 + ch */
    for (int y = 0; y < sh; y++)
      ref_axis(in + (size_t)y * sw * 3, sw, 3, mid + (size_t)y * dw * 3, dw, 3, 3, 1, 1);
    ref_axis(mid, sh, dw * 3, out, dh, dw * 3, dw * 3, 1, 1);
    int worst = 0;
    for (int i = 0; i < dw * dh * 3; i++) {
      /* the reference rounds only once; ours rounds the intermediate like Pillow */
      int d = (int)fabs(dst.px[i] - floor(out[i] + 0.5));
      if (d > worst) worst = d;
    }
    if (worst > 1) fail_msg("%dx%d -> %dx%d: max diff %d", sw, sh, dw, dh, worst);
    free(in), free(mid), free(out);
    lk_image_free(&src);
    lk_image_free(&dst);
  }
}

static void test_resize_properties(void **state) {
  /* constant stays constant */
  int sizes[][4] = {{50, 40, 13, 9}, {7, 9, 64, 100}, {640, 480, 224, 224}, {3, 3, 1, 1}};
  for (size_t c = 0; c < 4; c++) {
    lk_image src = {sizes[c][0], sizes[c][1], malloc((size_t)sizes[c][0] * sizes[c][1] * 3)}, dst;
    for (int i = 0; i < src.w * src.h; i++) memcpy(src.px + 3 * i, (uint8_t[3]){17, 128, 250}, 3);
    assert_int_equal(lk_image_resize(&src, sizes[c][2], sizes[c][3], &dst), 0);
    for (int i = 0; i < dst.w * dst.h; i++) expect_px(&dst, i % dst.w, i / dst.w, 17, 128, 250, 0);
    lk_image_free(&src), lk_image_free(&dst);
  }
  /* 1-pixel checkerboard shrunk 8x is mid-grey (antialiasing, not point sampling) */
  lk_image cb = {64, 64, malloc(64 * 64 * 3)}, dst;
  for (int i = 0; i < 64 * 64; i++) memset(cb.px + 3 * i, ((i % 64) + (i / 64)) % 2 ? 255 : 0, 3);
  assert_int_equal(lk_image_resize(&cb, 8, 8, &dst), 0);
  for (int i = 0; i < 64; i++) expect_px(&dst, i % 8, i / 8, 128, 128, 128, 2);
  lk_image_free(&dst);
  /* same size is the identity */
  assert_int_equal(lk_image_resize(&cb, 64, 64, &dst), 0);
  assert_int_equal(memcmp(dst.px, cb.px, 64 * 64 * 3), 0);
  lk_image_free(&dst);
  /* upscale gives the exact size and keeps the corners */
  assert_int_equal(lk_image_resize(&cb, 131, 77, &dst), 0);
  assert_int_equal(dst.w, 131);
  assert_int_equal(dst.h, 77);
  expect_px(&dst, 0, 0, 0, 0, 0, 0);
  lk_image_free(&dst);
  /* bad arguments */
  assert_int_equal(lk_image_resize(&cb, 0, 5, &dst), LK_EINVAL);
  assert_int_equal(lk_image_resize(&cb, 5, -1, &dst), LK_EINVAL);
  assert_int_equal(lk_image_resize(NULL, 5, 5, &dst), LK_EINVAL);
  lk_image_free(&cb);
}

static void test_resize_speed(void **state) {
  lk_image src = {600, 800, malloc(600 * 800 * 3)}, dst;
  for (int i = 0; i < 600 * 800 * 3; i++) src.px[i] = (uint8_t)(i * 7);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(lk_image_resize(&src, 224, 224, &dst), 0);
    lk_image_free(&dst);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 20;
  printf("resize 600x800 -> 224x224: %.3f ms\n", ms);
  assert_true(ms < 50); /* generous: sanitizer builds are slow */
  lk_image_free(&src);
}

/* ---- pad, crop, histogram ------------------------------------------------------------ */

static void test_pad_square(void **state) {
  struct {
    int w, h, side, x0, y0;
  } cases[] = {{4, 2, 4, 0, 1}, {2, 5, 5, 1, 0}, {3, 3, 3, 0, 0}, {1, 4, 4, 1, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    lk_image src = {cases[c].w, cases[c].h, malloc((size_t)cases[c].w * cases[c].h * 3)}, dst;
    for (int i = 0; i < src.w * src.h; i++)
      memcpy(src.px + 3 * i, (uint8_t[3]){(uint8_t)i, 200, 201}, 3);
    assert_int_equal(lk_image_pad_square(&src, 1, 2, 3, &dst), 0);
    assert_int_equal(dst.w, cases[c].side);
    assert_int_equal(dst.h, cases[c].side);
    for (int y = 0; y < dst.h; y++)
      for (int x = 0; x < dst.w; x++) {
        int sx = x - cases[c].x0, sy = y - cases[c].y0;
        if (sx >= 0 && sx < src.w && sy >= 0 && sy < src.h)
          expect_px(&dst, x, y, sy * src.w + sx, 200, 201, 0);
        else
          expect_px(&dst, x, y, 1, 2, 3, 0);
      }
    lk_image_free(&src), lk_image_free(&dst);
  }
  lk_image dst;
  assert_int_equal(lk_image_pad_square(NULL, 0, 0, 0, &dst), LK_EINVAL);
}

static void test_crop(void **state) {
  lk_image src = {10, 6, malloc(10 * 6 * 3)};
  for (int i = 0; i < 60; i++) /* red = x, green = y */
    memcpy(src.px + 3 * i, (uint8_t[3]){(uint8_t)(i % 10), (uint8_t)(i / 10), 0}, 3);
  struct {
    int x, y, w, h, rc, ex, ey, ew, eh;
  } cases[] = {
      {2, 1, 3, 4, 0, 2, 1, 3, 4},        {0, 0, 10, 6, 0, 0, 0, 10, 6},
      {-3, -2, 5, 4, 0, 0, 0, 2, 2},      {8, 4, 10, 10, 0, 8, 4, 2, 2},
      {-100, -100, 1000, 1000, 0, 0, 0, 10, 6},
      {10, 0, 3, 3, LK_EINVAL, 0, 0, 0, 0},           {0, 6, 3, 3, LK_EINVAL, 0, 0, 0, 0},
      {-5, 0, 5, 3, LK_EINVAL, 0, 0, 0, 0},           {2, 2, 0, 3, LK_EINVAL, 0, 0, 0, 0},
      {2, 2, 3, -1, LK_EINVAL, 0, 0, 0, 0},
      {2147483640, 0, 2147483647, 3, LK_EINVAL, 0, 0, 0, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    lk_image dst = {0};
    int rc = lk_image_crop(&src, cases[c].x, cases[c].y, cases[c].w, cases[c].h, &dst);
    if (rc != cases[c].rc) fail_msg("case %zu: rc %d want %d", c, rc, cases[c].rc);
    if (rc) continue;
    assert_int_equal(dst.w, cases[c].ew);
    assert_int_equal(dst.h, cases[c].eh);
    for (int y = 0; y < dst.h; y++)
      for (int x = 0; x < dst.w; x++) expect_px(&dst, x, y, cases[c].ex + x, cases[c].ey + y, 0, 0);
    lk_image_free(&dst);
  }
  lk_image_free(&src);
}

static void test_color_hist(void **state) {
  lk_image img = {4, 2, malloc(4 * 2 * 3)};
  float h[16 * 16 * 16];
  /* one colour: a single bin holds 1.0 */
  for (int i = 0; i < 8; i++) img.px[3 * i] = 10, img.px[3 * i + 1] = 200, img.px[3 * i + 2] = 255;
  int bins_list[] = {1, 2, 4, 8, 16};
  for (size_t k = 0; k < 5; k++) {
    int bins = bins_list[k];
    assert_int_equal(lk_image_color_hist(&img, bins, h), 0);
    int want = ((10 * bins / 256) * bins + 200 * bins / 256) * bins + 255 * bins / 256;
    for (int i = 0; i < bins * bins * bins; i++)
      assert_float_equal(h[i], i == want ? 1.0f : 0.0f, 1e-6);
  }
  /* 3/4 black, 1/4 white: bins hold sqrt(3/4), sqrt(1/4) (already unit norm) */
  for (int i = 0; i < 8; i++) memset(img.px + 3 * i, i < 6 ? 0 : 255, 3);
  assert_int_equal(lk_image_color_hist(&img, 4, h), 0);
  assert_float_equal(h[0], sqrtf(0.75f), 1e-6);
  assert_float_equal(h[63], 0.5f, 1e-6);
  /* random image: unit L2 norm, all non-negative */
  srand(7);
  lk_image big = {50, 40, malloc(50 * 40 * 3)};
  for (int i = 0; i < 50 * 40 * 3; i++) big.px[i] = (uint8_t)rand();
  assert_int_equal(lk_image_color_hist(&big, 8, h), 0);
  double ss = 0;
  for (int i = 0; i < 512; i++) assert_true(h[i] >= 0), ss += (double)h[i] * h[i];
  assert_float_equal(ss, 1.0, 1e-5);
  assert_int_equal(lk_image_color_hist(&img, 0, h), LK_EINVAL);
  assert_int_equal(lk_image_color_hist(&img, 17, h), LK_EINVAL);
  lk_image_free(&img), lk_image_free(&big);
}

/* ---- real catalog photos ------------------------------------------------------------- */

static void test_real_photos(void **state) {
  const char *shared = lk_test_shared_dir();
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/data/fashion-catalog/images", shared ? shared : "/nonexistent");
  DIR *d = opendir(dir);
  if (!d) {
    printf("shared catalog absent: skipping real photos\n");
    skip();
  }
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d)) && n < 40) {
    if (!strstr(de->d_name, ".jpg")) continue;
    lk_image img;
    lk_errbuf e = {0};
    int rc = lk_image_load(lk_test_path("%s/%s", dir, de->d_name), NULL, 0, &img, &e);
    if (rc) fail_msg("%s: %s", de->d_name, lk_err_msg(&e));
    assert_true(img.w > 0 && img.w <= 60 && img.h > 0 && img.h <= 80);
    /* a product photo is not one flat colour */
    int lo = 255, hi = 0;
    for (int i = 0; i < img.w * img.h * 3; i++) {
      if (img.px[i] < lo) lo = img.px[i];
      if (img.px[i] > hi) hi = img.px[i];
    }
    assert_true(hi - lo > 30);
    lk_image_free(&img);
    n++;
  }
  closedir(d);
  assert_true(n > 0);
  const char *big = lk_test_path("%s/data/fashion-catalog/photos-225x300/10007.jpg", shared);
  lk_image img;
  lk_errbuf e = {0};
  int rc = lk_image_load(big, NULL, 60, &img, &e); /* 225x300 at 3/8 scale */
  if (rc) fail_msg("%s: %s", big, lk_err_msg(&e));
  assert_int_equal(img.w, 85);
  assert_int_equal(img.h, 113);
  lk_image_free(&img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_formats),
      cmocka_unit_test(test_decode_one_pixel),
      cmocka_unit_test(test_decode_gray),
      cmocka_unit_test(test_decode_cmyk_jpeg),
      cmocka_unit_test(test_decode_png_alpha),
      cmocka_unit_test(test_decode_bad_input),
      cmocka_unit_test(test_decode_jpeg_warning_accepted),
      cmocka_unit_test(test_decode_jpeg_scan_cut_short),
      cmocka_unit_test(test_exif_orientation_png_webp),
      cmocka_unit_test(test_decode_limits),
      cmocka_unit_test(test_decode_declared_huge),
      cmocka_unit_test(test_decode_scan_limit),
      cmocka_unit_test(test_decode_dct_scaling),
      cmocka_unit_test(test_exif_orientation),
      cmocka_unit_test(test_exif_parser),
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_resize_vs_reference),
      cmocka_unit_test(test_resize_properties),
      cmocka_unit_test(test_resize_speed),
      cmocka_unit_test(test_pad_square),
      cmocka_unit_test(test_crop),
      cmocka_unit_test(test_color_hist),
      cmocka_unit_test(test_real_photos),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
