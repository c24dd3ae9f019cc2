/* image/image.h — decode photos (JPEG via TurboJPEG, PNG, WebP) into 8-bit RGB with limits
 * checked at the header, EXIF orientation applied, alpha composited on white; antialiased
 * resize, pad-to-square, crop, and the colour-histogram descriptor used by the embedding. */
#ifndef LK_IMAGE_H
#define LK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* An 8-bit interleaved RGB image, rows tightly packed (stride = 3*w). Owns px. */
typedef struct lk_image {
  int w, h;
  uint8_t *px;
} lk_image;

/* lk_image_limits (public, lookalike.h: lk_server_opts.image): limits applied before any pixel
 * buffer is allocated. Zero fields take the defaults. */
#define LK_IMAGE_MAX_BYTES ((size_t)64 << 20)   /* the defaults */
#define LK_IMAGE_MAX_PIXELS ((uint64_t)100000000)
#define LK_IMAGE_MAX_SIDE 30000

/* Decodes buf[0..len) (format sniffed from magic bytes). min_side > 0 lets JPEG use DCT
 * scaling: the smallest scale whose result still has min(w,h) >= min_side (or the full
 * image when it is smaller). The result is upright (EXIF orientation applied).
 * On success *out owns a new buffer (free with lk_image_free). Errors: LK_EDECODE,
 * LK_ETOOBIG, LK_EUNSUPPORTED, LK_ENOMEM, with a message in err. */
int lk_image_decode(const uint8_t *buf, size_t len, const lk_image_limits *lim, int min_side,
                    lk_image *out, lk_errbuf *err);
/* Reads a file (at most lim->max_bytes) and decodes it. Errors as above, plus LK_EIO. */
int lk_image_load(const char *path, const lk_image_limits *lim, int min_side, lk_image *out,
                  lk_errbuf *err);
/* Frees px and zeroes the struct; NULL-safe. */
void lk_image_free(lk_image *img);

/* Antialiased resize (separable triangle filter widened by the scale factor when
 * shrinking, like PIL's BILINEAR resize) to exactly w x h. */
int lk_image_resize(const lk_image *src, int w, int h, lk_image *dst);
/* Pads to a square canvas of side max(w,h) filled with (r,g,b), image centred. */
int lk_image_pad_square(const lk_image *src, uint8_t r, uint8_t g, uint8_t b, lk_image *dst);
/* Copies the rectangle [x, x+w) x [y, y+h), clipped to the image; LK_EINVAL if empty. */
int lk_image_crop(const lk_image *src, int x, int y, int w, int h, lk_image *dst);

/* 1 when the RGB pixel p is near white: every channel >= min_level and the channels at most
 * max_spread apart (a light grey counts, a pastel colour does not). */
int lk_image_near_white(const uint8_t *p, int min_level, int max_spread);

/* Colour histogram: bins^3 RGB bins (bins in 1..16), counts normalised to sum 1, then
 * square-rooted and L2-normalised (so two histograms' dot product is the Hellinger
 * affinity). out has bins^3 floats. */
int lk_image_color_hist(const lk_image *img, int bins, float *out);

#endif
