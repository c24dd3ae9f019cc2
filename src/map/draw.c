/* map/draw.c — PNG and SVG pictures of a catalog map (map/draw.h): points are scaled into a
 * plot area with a margin, drawn grey first and coloured on top as small blended discs; the
 * legend on the right uses an embedded 5x7 font scaled 2x; the title may span lines. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map/draw.h"
#include "util/file.h"
#include "util/size.h"

static const unsigned PALETTE[LK_MAP_COLOURS] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b,
                                                 0xe377c2, 0x17becf, 0xbcbd22, 0x393b79, 0xad494a, 0x637939};
#define GREY 0xc4c4c4u
#define LEGEND_W 300

unsigned lk_map_colour(int c) { return c >= 0 && c < LK_MAP_COLOURS ? PALETTE[c] : GREY; }

/* The classic 5x7 font, ASCII 0x20..0x7e: five columns per glyph, bit 0 at the top. */
static const unsigned char FONT[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5f, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7f, 0x14, 0x7f, 0x14}, {0x24, 0x2a, 0x7f, 0x2a, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1c, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1c, 0x00}, {0x14, 0x08, 0x3e, 0x08, 0x14}, {0x08, 0x08, 0x3e, 0x08, 0x08},
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3e, 0x51, 0x49, 0x45, 0x3e}, {0x00, 0x42, 0x7f, 0x40, 0x00},
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4b, 0x31}, {0x18, 0x14, 0x12, 0x7f, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3c, 0x4a, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1e}, {0x00, 0x36, 0x36, 0x00, 0x00},
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3e},
    {0x7e, 0x11, 0x11, 0x11, 0x7e}, {0x7f, 0x49, 0x49, 0x49, 0x36}, {0x3e, 0x41, 0x41, 0x41, 0x22},
    {0x7f, 0x41, 0x41, 0x22, 0x1c}, {0x7f, 0x49, 0x49, 0x49, 0x41}, {0x7f, 0x09, 0x09, 0x09, 0x01},
    {0x3e, 0x41, 0x49, 0x49, 0x7a}, {0x7f, 0x08, 0x08, 0x08, 0x7f}, {0x00, 0x41, 0x7f, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3f, 0x01}, {0x7f, 0x08, 0x14, 0x22, 0x41}, {0x7f, 0x40, 0x40, 0x40, 0x40},
    {0x7f, 0x02, 0x0c, 0x02, 0x7f}, {0x7f, 0x04, 0x08, 0x10, 0x7f}, {0x3e, 0x41, 0x41, 0x41, 0x3e},
    {0x7f, 0x09, 0x09, 0x09, 0x06}, {0x3e, 0x41, 0x51, 0x21, 0x5e}, {0x7f, 0x09, 0x19, 0x29, 0x46},
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7f, 0x01, 0x01}, {0x3f, 0x40, 0x40, 0x40, 0x3f},
    {0x1f, 0x20, 0x40, 0x20, 0x1f}, {0x3f, 0x40, 0x38, 0x40, 0x3f}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7f, 0x41, 0x41, 0x00},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7f, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},
    {0x7f, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7f},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7e, 0x09, 0x01, 0x02}, {0x0c, 0x52, 0x52, 0x52, 0x3e},
    {0x7f, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7d, 0x40, 0x00}, {0x20, 0x40, 0x44, 0x3d, 0x00},
    {0x7f, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7f, 0x40, 0x00}, {0x7c, 0x04, 0x18, 0x04, 0x78},
    {0x7c, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0x7c, 0x14, 0x14, 0x14, 0x08},
    {0x08, 0x14, 0x14, 0x18, 0x7c}, {0x7c, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20},
    {0x04, 0x3f, 0x44, 0x40, 0x20}, {0x3c, 0x40, 0x40, 0x20, 0x7c}, {0x1c, 0x20, 0x40, 0x20, 0x1c},
    {0x3c, 0x40, 0x30, 0x40, 0x3c}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0c, 0x50, 0x50, 0x50, 0x3c},
    {0x44, 0x64, 0x54, 0x4c, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7f, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x10, 0x08, 0x08, 0x10, 0x08},
};

typedef struct canvas {
  int w, h;
  unsigned char *px; /* RGB */
} canvas;

static void blend(canvas *c, int x, int y, unsigned rgb, float a) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
  unsigned char *p = c->px + ((size_t)y * c->w + x) * 3;
  float s[3] = {(float)(rgb >> 16 & 255), (float)(rgb >> 8 & 255), (float)(rgb & 255)};
  for (int k = 0; k < 3; k++) p[k] = (unsigned char)lrintf(p[k] * (1 - a) + s[k] * a);
}

static void fill_rect(canvas *c, int x0, int y0, int w, int h, unsigned rgb) {
  for (int y = y0; y < y0 + h; y++)
    for (int x = x0; x < x0 + w; x++) blend(c, x, y, rgb, 1);
}

/* Draws s; a newline starts a line 10*scale pixels lower. */
static void draw_text(canvas *c, int x, int y, const char *s, int scale, unsigned rgb) {
  for (int x0 = x; *s; s++, x += 6 * scale) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '\n') {
      x = x0 - 6 * scale;
      y += 10 * scale;
      continue;
    }
    if (ch < 0x20 || ch > 0x7e) ch = '?';
    for (int col = 0; col < 5; col++)
      for (int row = 0; row < 7; row++)
        if (FONT[ch - 0x20][col] >> row & 1) fill_rect(c, x + col * scale, y + row * scale, scale, scale, rgb);
  }
}

/* Maps layout coordinates into the plot area [m, pw-m] x [m, h-m], keeping the aspect. */
typedef struct xform {
  double sx, ox, oy;
} xform;

static xform fit(const float *xy, size_t n, int pw, int ph, int margin) {
  double minx = 0, maxx = 1, miny = 0, maxy = 1;
  for (size_t i = 0; i < n; i++) {
    double x = xy[2 * i], y = xy[2 * i + 1];
    if (i == 0 || x < minx) minx = x;
    if (i == 0 || x > maxx) maxx = x;
    if (i == 0 || y < miny) miny = y;
    if (i == 0 || y > maxy) maxy = y;
  }
  double w = fmax(maxx - minx, 1e-9), h = fmax(maxy - miny, 1e-9);
  double s = fmin((pw - 2.0 * margin) / w, (ph - 2.0 * margin) / h);
  xform t = {s, margin + ((pw - 2.0 * margin) - s * w) / 2 - s * minx, margin + ((ph - 2.0 * margin) - s * h) / 2 - s * miny};
  return t;
}

static void legend_line(const lk_map_picture *p, int c, char *buf, size_t cap) {
  if (c < p->ncat) {
    if (p->counts) snprintf(buf, cap, "%.18s (%zu)", p->names[c] ? p->names[c] : "?", p->counts[c]);
    else snprintf(buf, cap, "%.24s", p->names[c] ? p->names[c] : "?");
  } else {
    snprintf(buf, cap, "other (%zu)", p->other);
  }
}

static int check_picture(const lk_map_picture *p, int *w, int *h, lk_errbuf *err) {
  if (!p || (p->n && (!p->xy || !p->cat)) || p->ncat < 0 || p->ncat > LK_MAP_COLOURS || (p->ncat && !p->names))
    return lk_err_set(err, LK_EINVAL, "map picture: bad arguments");
  *w = p->width > 0 ? p->width : 1600;
  *h = p->height > 0 ? p->height : 1200;
  if (*w < LEGEND_W + 100 || *h < 300 || *w > 20000 || *h > 20000)
    return lk_err_set(err, LK_EINVAL, "map picture: size %dx%d out of range", *w, *h);
  return 0;
}

int lk_map_draw_png(const lk_map_picture *p, const char *path, lk_errbuf *err) {
  int w, h, rc = check_picture(p, &w, &h, err);
  if (rc) return rc;
  size_t bytes;
  if (lk_size_mul3((size_t)w, (size_t)h, 3, &bytes)) return lk_err_set(err, LK_ETOOBIG, "map picture too large");
  canvas c = {w, h, malloc(bytes)};
  if (!c.px) return lk_err_set(err, LK_ENOMEM, "map picture: out of memory");
  memset(c.px, 255, bytes);
  int pw = w - LEGEND_W;
  xform t = fit(p->xy, p->n, pw, h, 40);
  for (int pass = 0; pass < 2; pass++) /* grey under colour */
    for (size_t i = 0; i < p->n; i++) {
      int coloured = p->cat[i] >= 0 && p->cat[i] < p->ncat;
      if (coloured != pass) continue;
      double x = t.sx * p->xy[2 * i] + t.ox, y = t.sx * p->xy[2 * i + 1] + t.oy;
      int xi = (int)lrint(x), yi = (int)lrint(y);
      unsigned rgb = lk_map_colour(coloured ? p->cat[i] : -1);
      for (int dy = -2; dy <= 2; dy++)
        for (int dx = -2; dx <= 2; dx++) {
          int r2 = dx * dx + dy * dy;
          if (r2 <= 2) blend(&c, xi + dx, yi + dy, rgb, 0.55f);
          else if (r2 <= 4) blend(&c, xi + dx, yi + dy, rgb, 0.2f);
        }
    }
  for (size_t k = 0; k < p->nthumbs; k++) {
    const lk_image *im = p->thumbs[k].img;
    size_t i = p->thumbs[k].point;
    if (!im || !im->px || i >= p->n) continue;
    int x0 = (int)lrint(t.sx * p->xy[2 * i] + t.ox) - im->w / 2, y0 = (int)lrint(t.sx * p->xy[2 * i + 1] + t.oy) - im->h / 2;
    unsigned frame = lk_map_colour(p->cat[i] >= 0 && p->cat[i] < p->ncat ? p->cat[i] : -1);
    fill_rect(&c, x0 - 2, y0 - 2, im->w + 4, im->h + 4, frame);
    for (int y = 0; y < im->h; y++)
      for (int x = 0; x < im->w; x++) {
        const unsigned char *s = im->px + ((size_t)y * im->w + x) * 3;
        blend(&c, x0 + x, y0 + y, (unsigned)s[0] << 16 | (unsigned)s[1] << 8 | s[2], 1);
      }
  }
  /* legend */
  fill_rect(&c, pw, 0, 1, h, 0xdddddd);
  int lx = pw + 20, ly = 24;
  if (p->title) {
    draw_text(&c, lx, ly, p->title, 2, 0x222222);
    for (const char *ch = p->title; *ch; ch++) ly += *ch == '\n' ? 20 : 0;
    ly += 30;
  }
  char line[64];
  for (int k = 0; k <= p->ncat; k++) {
    if (k == p->ncat && !p->other) break;
    fill_rect(&c, lx, ly, 14, 14, lk_map_colour(k < p->ncat ? k : -1));
    legend_line(p, k, line, sizeof line);
    draw_text(&c, lx + 22, ly, line, 2, 0x222222);
    ly += 24;
  }
  lk_file_out f;
  if ((rc = lk_file_out_open(&f, path, err))) {
    free(c.px);
    return rc;
  }
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)w;
  img.height = (png_uint_32)h;
  img.format = PNG_FORMAT_RGB;
  int ok = png_image_write_to_stdio(&img, f.fp, 0, c.px, w * 3, NULL);
  free(c.px);
  if (!ok) {
    lk_file_out_abandon(&f);
    return lk_err_set(err, LK_EIO, "writing PNG %s: %s", path, img.message);
  }
  return lk_file_out_commit(&f, err);
}

static void xml_text(FILE *f, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '&': fputs("&amp;", f); break;
      case '"': fputs("&quot;", f); break;
      default:
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
  }
}

int lk_map_draw_svg(const lk_map_picture *p, const char *path, lk_errbuf *err) {
  int w, h, rc = check_picture(p, &w, &h, err);
  if (rc) return rc;
  lk_file_out out;
  if ((rc = lk_file_out_open(&out, path, err))) return rc;
  FILE *f = out.fp;
  int pw = w - LEGEND_W;
  xform t = fit(p->xy, p->n, pw, h, 40);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", w, h, w, h);
  fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", w, h);
  for (int k = -1; k < p->ncat; k++) { /* one group per colour, grey first */
    fprintf(f, "<g fill=\"#%06x\" fill-opacity=\"0.6\">\n", lk_map_colour(k));
    for (size_t i = 0; i < p->n; i++) {
      int ci = p->cat[i] >= 0 && p->cat[i] < p->ncat ? p->cat[i] : -1;
      if (ci != k) continue;
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\"/>\n", t.sx * p->xy[2 * i] + t.ox, t.sx * p->xy[2 * i + 1] + t.oy);
    }
    fputs("</g>\n", f);
  }
  fprintf(f, "<line x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", pw, pw, h);
  fputs("<g font-family=\"sans-serif\" font-size=\"14\" fill=\"#222\">\n", f);
  int lx = pw + 20, ly = 24;
  for (const char *line_at = p->title; line_at && *line_at;) { /* one <text> per line */
    const char *nl = strchr(line_at, '\n');
    size_t len = nl ? (size_t)(nl - line_at) : strlen(line_at);
    char part[256];
    snprintf(part, sizeof part, "%.*s", (int)(len < sizeof part ? len : sizeof part - 1), line_at);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"16\" font-weight=\"bold\">", lx, ly + 12);
    xml_text(f, part);
    fputs("</text>\n", f);
    ly += 22;
    line_at = nl ? nl + 1 : line_at + len;
  }
  if (p->title) ly += 8;
  char line[64];
  for (int k = 0; k <= p->ncat; k++) {
    if (k == p->ncat && !p->other) break;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"#%06x\"/>", lx, ly, lk_map_colour(k < p->ncat ? k : -1));
    legend_line(p, k, line, sizeof line);
    fprintf(f, "<text x=\"%d\" y=\"%d\">", lx + 22, ly + 12);
    xml_text(f, line);
    fputs("</text>\n", f);
    ly += 24;
  }
  fputs("</g>\n</svg>\n", f);
  return lk_file_out_commit(&out, err);
}
