/* tune/augment.c — street-like views of catalog photos (see augment.h): a flood-filled
 * foreground mask, procedural backgrounds in float RGB, compositing with a soft edge and a
 * shadow, then camera-like changes (light gradient, white balance, exposure, noise, blur). */
#include "tune/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"
#include "util/size.h"

/* The studio background: near-white (lk_image_near_white) at these bounds. */
static int near_white(const uint8_t *p) { return lk_image_near_white(p, 222, 24); }

double lk_augment_mask(const lk_image *img, uint8_t *mask) {
  if (!img || !img->px || img->w <= 0 || img->h <= 0) return -1;
  int w = img->w, h = img->h;
  size_t n = (size_t)w * (size_t)h;
  int *queue = malloc(n * sizeof *queue);
  if (!queue) return -1;
  memset(mask, 1, n);
  size_t head = 0, tail = 0;
  /* seeds: near-white border pixels */
  for (int x = 0; x < w; x++)
    for (int e = 0; e < 2; e++) {
      int y = e ? h - 1 : 0, i = y * w + x;
      if (mask[i] && near_white(img->px + 3 * (size_t)i)) { mask[i] = 0; queue[tail++] = i; }
    }
  for (int y = 0; y < h; y++)
    for (int e = 0; e < 2; e++) {
      int x = e ? w - 1 : 0, i = y * w + x;
      if (mask[i] && near_white(img->px + 3 * (size_t)i)) { mask[i] = 0; queue[tail++] = i; }
    }
  while (head < tail) {
    int i = queue[head++], x = i % w, y = i / w;
    int nb[4] = {x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, y > 0 ? i - w : -1, y < h - 1 ? i + w : -1};
    for (int k = 0; k < 4; k++) {
      int j = nb[k];
      if (j >= 0 && mask[j] && near_white(img->px + 3 * (size_t)j)) { mask[j] = 0; queue[tail++] = j; }
    }
  }
  free(queue);
  /* the anti-aliased rim of the background belongs to it: drop foreground pixels next to it */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int i = y * w + x;
      if (mask[i] != 1) continue;
      if ((x > 0 && !mask[i - 1]) || (x < w - 1 && !mask[i + 1]) || (y > 0 && !mask[i - w]) || (y < h - 1 && !mask[i + w]))
        mask[i] = 2;
    }
  for (size_t i = 0; i < n; i++) mask[i] = mask[i] == 1;
  size_t fg = 0;
  for (size_t i = 0; i < n; i++) fg += mask[i];
  return (double)fg / (double)n;
}

/* ---------------------------------------------------------------- backgrounds */

typedef struct rgb {
  float r, g, b;
} rgb;

static rgb hsv(float h, float s, float v) {
  h = fmodf(h, 1.0f) * 6.0f;
  int i = (int)h;
  float f = h - (float)i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (i % 6) {
  case 0: return (rgb){v, t, p};
  case 1: return (rgb){q, v, p};
  case 2: return (rgb){p, v, t};
  case 3: return (rgb){p, q, v};
  case 4: return (rgb){t, p, v};
  default: return (rgb){v, p, q};
  }
}

/* A household colour: any hue, mostly muted, never pure white (the catalog's background). */
static rgb colour(uint64_t *s) {
  float sat = lk_rng_unit(s);
  sat = 0.75f * sat * sat;
  return hsv(lk_rng_unit(s), sat, lk_rng_range(s, 0.15f, 0.9f));
}

static rgb scale_rgb(rgb c, float k) { return (rgb){c.r * k, c.g * k, c.b * k}; }

/* Value noise: a grid of random values every `cell` pixels, bilinearly interpolated, in [-1, 1]. */
typedef struct vnoise {
  int gw, gh;
  float cell;
  float *v;
} vnoise;

static int vnoise_init(vnoise *n, int w, int h, float cell, uint64_t *s) {
  if (cell < 1) cell = 1;
  n->cell = cell;
  n->gw = (int)(w / cell) + 2;
  n->gh = (int)(h / cell) + 2;
  n->v = malloc(sizeof(float) * (size_t)n->gw * (size_t)n->gh);
  if (!n->v) return LK_ENOMEM;
  for (int i = 0; i < n->gw * n->gh; i++) n->v[i] = lk_rng_range(s, -1, 1);
  return 0;
}

static float vnoise_at(const vnoise *n, int x, int y) {
  float fx = x / n->cell, fy = y / n->cell;
  int ix = (int)fx, iy = (int)fy;
  if (ix > n->gw - 2) ix = n->gw - 2;
  if (iy > n->gh - 2) iy = n->gh - 2;
  float ax = fx - ix, ay = fy - iy;
  ax = ax * ax * (3 - 2 * ax);
  ay = ay * ay * (3 - 2 * ay);
  const float *r0 = n->v + (size_t)iy * n->gw + ix, *r1 = r0 + n->gw;
  return (r0[0] * (1 - ax) + r0[1] * ax) * (1 - ay) + (r1[0] * (1 - ax) + r1[1] * ax) * ay;
}

static void put(float *bg, int w, int x, int y, rgb c) {
  float *p = bg + 3 * ((size_t)y * w + x);
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

enum { BG_SHEET, BG_STRIPES, BG_PLAID, BG_WOOD, BG_CARPET, BG_TILES, BG_KINDS };

/* Fills rows [y0, y1) of bg (w wide) with one kind of surface. */
static int surface(float *bg, int w, int h, int y0, int y1, int kind, float px, uint64_t *s) {
  vnoise lo = {0}, hi = {0};
  int rc = vnoise_init(&lo, w, h, lk_rng_range(s, 0.25f, 0.6f) * (float)(w > h ? w : h), s);
  if (!rc) rc = vnoise_init(&hi, w, h, lk_rng_range(s, 1.5f, 5.0f) * px, s);
  if (rc) {
    free(lo.v);
    return rc;
  }
  rgb c1 = colour(s), c2 = colour(s), c3 = colour(s);
  float ang = lk_rng_range(s, 0, 3.14159265f), ca = cosf(ang), sa = sinf(ang);
  float period = lk_rng_range(s, 3, 22) * px, duty = lk_rng_range(s, 0.25f, 0.75f);
  float period2 = lk_rng_range(s, 3, 22) * px;
  float shade = lk_rng_range(s, 0.05f, 0.2f), grain = lk_rng_range(s, 0.0f, 0.12f);
  /* folds of a sheet: a few long waves */
  float fa[3], ff[3], fp[3];
  for (int i = 0; i < 3; i++) {
    fa[i] = lk_rng_range(s, 0, 3.14159265f);
    ff[i] = 6.2831853f / (lk_rng_range(s, 8, 40) * px);
    fp[i] = lk_rng_range(s, 0, 6.2831853f);
  }
  float plank = lk_rng_range(s, 8, 28) * px, tile = lk_rng_range(s, 14, 44) * px;
  int vertical = lk_rng_int(s, 2);
  if (kind == BG_WOOD) {
    c1 = hsv(lk_rng_range(s, 0.03f, 0.11f), lk_rng_range(s, 0.3f, 0.75f), lk_rng_range(s, 0.25f, 0.8f));
    c3 = scale_rgb(c1, 0.6f);
  }
  for (int y = y0; y < y1; y++)
    for (int x = 0; x < w; x++) {
      float l = 1 + shade * vnoise_at(&lo, x, y) + grain * vnoise_at(&hi, x, y);
      rgb c = c1;
      float u = x * ca + y * sa, v = -x * sa + y * ca;
      switch (kind) {
      case BG_SHEET:
        for (int i = 0; i < 3; i++) l += 0.05f * sinf((x * cosf(fa[i]) + y * sinf(fa[i])) * ff[i] + fp[i]);
        break;
      case BG_STRIPES: c = fmodf(fabsf(u) / period, 1.0f) < duty ? c1 : c2; break;
      case BG_PLAID: {
        int a = fmodf(fabsf(u) / period, 1.0f) < duty, b = fmodf(fabsf(v) / period2, 1.0f) < duty;
        c = a && b ? scale_rgb(c2, 0.8f) : a ? c2 : b ? c3 : c1;
        break;
      }
      case BG_WOOD: {
        float across = vertical ? (float)x : (float)y, along = vertical ? (float)y : (float)x;
        int k = (int)(across / plank);
        uint64_t ps = (uint64_t)k * 0x9E3779B97F4A7C15ull + s[0];
        float tone = 1 + 0.15f * lk_rng_range(&ps, -1, 1);
        float g = 1 + 0.08f * sinf(across * 0.9f / px + 2.5f * vnoise_at(&hi, (int)along, (int)across % h));
        c = scale_rgb(c1, tone * g);
        if (across - k * plank < px) c = c3;
        break;
      }
      case BG_CARPET: l += 0.12f * lk_rng_range(s, -1, 1); break;
      case BG_TILES: {
        float tx = fmodf((float)x, tile), ty = fmodf((float)y, tile);
        if (tx < px || ty < px) c = c2;
        break;
      }
      default: break;
      }
      put(bg, w, x, y, scale_rgb(c, l));
    }
  free(lo.v);
  free(hi.v);
  return 0;
}

/* Things lying around: a few flat shapes of random colours, often cut by the frame. */
static void clutter(float *bg, int w, int h, uint64_t *s) {
  int n = 1 + lk_rng_int(s, 3);
  for (int k = 0; k < n; k++) {
    rgb c = colour(s);
    float cx = lk_rng_range(s, 0, (float)w), cy = lk_rng_range(s, 0, (float)h);
    float rx = lk_rng_range(s, 0.05f, 0.3f) * w, ry = lk_rng_range(s, 0.05f, 0.3f) * h;
    int ellipse = lk_rng_int(s, 2);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        float dx = (x - cx) / rx, dy = (y - cy) / ry;
        int in = ellipse ? dx * dx + dy * dy <= 1 : fabsf(dx) <= 1 && fabsf(dy) <= 1;
        if (in) put(bg, w, x, y, c);
      }
  }
}

static int background(float *bg, int w, int h, float px, uint64_t *s) {
  int rc;
  if (lk_rng_unit(s) < 0.2f) { /* a floor below a wall */
    int split = (int)(h * lk_rng_range(s, 0.15f, 0.5f));
    rc = surface(bg, w, h, 0, split, BG_SHEET, px, s);
    if (!rc) rc = surface(bg, w, h, split, h, lk_rng_unit(s) < 0.5f ? BG_WOOD : BG_CARPET, px, s);
  } else {
    /* sheets and blankets are the commonest surface in phone photos of clothes */
    static const int pick[] = {BG_SHEET, BG_SHEET, BG_SHEET, BG_STRIPES, BG_PLAID, BG_WOOD, BG_WOOD, BG_CARPET, BG_CARPET, BG_TILES};
    rc = surface(bg, w, h, 0, h, pick[lk_rng_int(s, (int)(sizeof pick / sizeof *pick))], px, s);
  }
  if (!rc && lk_rng_unit(s) < 0.35f) clutter(bg, w, h, s);
  return rc;
}

/* ---------------------------------------------------------------- the view */

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

int lk_augment_view(const lk_image *src, int side, uint64_t seed, lk_image *out) {
  memset(out, 0, sizeof *out);
  if (!src || !src->px || src->w < 4 || src->h < 4 || side < 16 || side > 1024) return LK_EINVAL;
  uint64_t s = seed * 0xD1B54A32D192ED03ull + 0x5EEDull;
  lk_rng_next(&s);
  int W = side, H = side;
  float a = lk_rng_unit(&s);
  if (a < 0.45f) W = side * 3 / 4;
  else if (a < 0.8f) H = side * 3 / 4;
  float px = side / 112.0f; /* the generators' lengths are for a 112-pixel canvas */
  size_t n = (size_t)W * H, sn = (size_t)src->w * src->h;
  float *bg = malloc(sizeof(float) * 3 * n);
  uint8_t *m = malloc(sn);
  lk_image crop = {0}, gar = {0}, mimg = {0}, malpha = {0};
  int rc = bg && m ? 0 : LK_ENOMEM;
  if (!rc) rc = background(bg, W, H, px, &s);
  /* the garment: its mask's bounding box (the whole photo when the mask finds nothing) */
  double share = rc ? 0 : lk_augment_mask(src, m);
  if (!rc && share < 0) rc = LK_ENOMEM;
  int x0 = src->w, y0 = src->h, x1 = -1, y1 = -1;
  if (!rc && (share < 0.03 || share > 0.97)) memset(m, 1, sn);
  for (int y = 0; !rc && y < src->h; y++)
    for (int x = 0; x < src->w; x++)
      if (m[(size_t)y * src->w + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  int cw = x1 - x0 + 1, ch = y1 - y0 + 1;
  if (!rc && (cw < 2 || ch < 2)) x0 = y0 = 0, cw = src->w, ch = src->h, memset(m, 1, sn);
  if (!rc) rc = lk_image_crop(src, x0, y0, cw, ch, &crop);
  if (!rc) {
    mimg.w = cw;
    mimg.h = ch;
    if (!(mimg.px = malloc((size_t)cw * ch * 3))) rc = LK_ENOMEM;
    for (int y = 0; !rc && y < ch; y++)
      for (int x = 0; x < cw; x++) memset(mimg.px + 3 * ((size_t)y * cw + x), m[(size_t)(y + y0) * src->w + x + x0] ? 255 : 0, 3);
  }
  /* size and place: the garment fills 45-95% of the frame in its limiting direction */
  float fill = lk_rng_range(&s, 0.45f, 0.95f), sw = (float)W / cw, sh = (float)H / ch;
  float sc = fill * (sw < sh ? sw : sh);
  int tw = (int)(cw * sc + 0.5f), th = (int)(ch * sc + 0.5f);
  if (tw < 4) tw = 4;
  if (th < 4) th = 4;
  if (!rc) rc = lk_image_resize(&crop, tw, th, &gar);
  if (!rc) rc = lk_image_resize(&mimg, tw, th, &malpha);
  int ox = (int)lk_rng_range(&s, -0.08f * tw, (float)W - 0.92f * tw);
  int oy = (int)lk_rng_range(&s, -0.08f * th, (float)H - 0.92f * th);
  if (!rc) {
    /* shadow: the mask shifted down-right darkens the surface */
    int dx = (int)lk_rng_range(&s, 0, 4 * px), dy = (int)lk_rng_range(&s, 0, 4 * px);
    float dark = lk_rng_range(&s, 0.0f, 0.4f);
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++) {
        int X = ox + x + dx, Y = oy + y + dy;
        if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
        float al = malpha.px[3 * ((size_t)y * tw + x)] / 255.0f;
        float *p = bg + 3 * ((size_t)Y * W + X);
        for (int c = 0; c < 3; c++) p[c] *= 1 - dark * al;
      }
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++) {
        int X = ox + x, Y = oy + y;
        if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
        float al = malpha.px[3 * ((size_t)y * tw + x)] / 255.0f;
        float *p = bg + 3 * ((size_t)Y * W + X);
        const uint8_t *g = gar.px + 3 * ((size_t)y * tw + x);
        for (int c = 0; c < 3; c++) p[c] = al * (g[c] / 255.0f) + (1 - al) * p[c];
      }
    /* the camera: uneven light, white balance, exposure, contrast, noise, blur */
    float gx = lk_rng_range(&s, -0.35f, 0.35f), gy = lk_rng_range(&s, -0.35f, 0.35f);
    float gain[3], expo = lk_rng_range(&s, 0.75f, 1.15f), con = lk_rng_range(&s, 0.8f, 1.15f);
    for (int c = 0; c < 3; c++) gain[c] = expo * lk_rng_range(&s, 0.92f, 1.08f);
    float sigma = lk_rng_range(&s, 0, 0.03f);
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        float l = 1 + gx * ((float)x / W - 0.5f) + gy * ((float)y / H - 0.5f);
        float *p = bg + 3 * ((size_t)y * W + x);
        for (int c = 0; c < 3; c++) {
          float v = (p[c] * l * gain[c] - 0.5f) * con + 0.5f;
          v += sigma * (lk_rng_unit(&s) + lk_rng_unit(&s) - 1) * 1.7f;
          p[c] = clamp01(v);
        }
      }
    out->w = W;
    out->h = H;
    if (!(out->px = malloc(3 * n))) rc = LK_ENOMEM;
    int blur = lk_rng_unit(&s) < 0.3f;
    for (int y = 0; !rc && y < H; y++)
      for (int x = 0; x < W; x++)
        for (int c = 0; c < 3; c++) {
          float v;
          if (blur) {
            float sum = 0;
            int cnt = 0;
            for (int j = -1; j <= 1; j++)
              for (int i = -1; i <= 1; i++) {
                int X = x + i, Y = y + j;
                if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
                sum += bg[3 * ((size_t)Y * W + X) + c];
                cnt++;
              }
            v = sum / cnt;
          } else {
            v = bg[3 * ((size_t)y * W + x) + c];
          }
          out->px[3 * ((size_t)y * W + x) + c] = (uint8_t)(v * 255.0f + 0.5f);
        }
  }
  free(bg);
  free(m);
  lk_image_free(&crop);
  lk_image_free(&gar);
  lk_image_free(&mimg);
  lk_image_free(&malpha);
  if (rc) lk_image_free(out);
  return rc;
}
