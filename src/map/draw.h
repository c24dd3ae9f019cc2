/* map/draw.h — draws a 2-D catalog map: coloured points (one colour per category, grey for
 * the rest), optional thumbnails at some points, and a legend; as PNG (libpng, with a small
 * embedded 5x7 bitmap font for the text) or as SVG text. Files are written to a temporary
 * name, synced and renamed. */
#ifndef LK_MAP_DRAW_H
#define LK_MAP_DRAW_H

#include <stddef.h>

#include "image/image.h"
#include "util/err.h"

#define LK_MAP_COLOURS 12 /* categories with their own colour; the rest are grey */

/* A thumbnail drawn centred on point `point` (img owned by the caller). */
typedef struct lk_map_thumb {
  size_t point;
  const lk_image *img;
} lk_map_thumb;

typedef struct lk_map_picture {
  const float *xy;          /* n (x, y) pairs */
  size_t n;
  const int *cat;           /* per point: 0..ncat-1, or -1 for "other" */
  const char *const *names; /* ncat legend labels */
  const size_t *counts;     /* ncat counts shown in the legend (may be NULL) */
  int ncat;                 /* <= LK_MAP_COLOURS */
  size_t other;             /* count of "other" points, for the legend */
  const char *title;        /* may be NULL; '\n' separates lines */
  const lk_map_thumb *thumbs;
  size_t nthumbs;
  int width, height;        /* 0: 1600 x 1200 */
} lk_map_picture;

/* The colour of category c (c < 0 or >= LK_MAP_COLOURS: grey) as 0xRRGGBB. */
unsigned lk_map_colour(int c);

int lk_map_draw_png(const lk_map_picture *p, const char *path, lk_errbuf *err);
int lk_map_draw_svg(const lk_map_picture *p, const char *path, lk_errbuf *err);

#endif
