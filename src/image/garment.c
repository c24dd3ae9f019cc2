/* image/garment.c — the garment of a photo on white, like a catalog photo (see garment.h):
 * border/centre colour histograms on a 64-pixel working copy, a likelihood-ratio mask, a
 * majority filter, the largest region with its holes filled, then a soft-edged crop of the
 * full-size photo on a white 3:4 canvas (the catalog photos' shape). */
#include "image/garment.h"

#include <stdlib.h>
#include <string.h>

#define WORK_SIDE 64
#define LEVELS 8 /* histogram levels per channel */
#define NBINS (LEVELS * LEVELS * LEVELS)

static int bin_of(const uint8_t *p) { return (p[0] >> 5) * LEVELS * LEVELS + (p[1] >> 5) * LEVELS + (p[2] >> 5); }

/* 3 x 3 x 3 box smoothing of a histogram, so close colours share evidence. */
static void smooth(const float *h, float *out) {
  for (int r = 0; r < LEVELS; r++)
    for (int g = 0; g < LEVELS; g++)
      for (int b = 0; b < LEVELS; b++) {
        float s = 0;
        for (int dr = -1; dr <= 1; dr++)
          for (int dg = -1; dg <= 1; dg++)
            for (int db = -1; db <= 1; db++) {
              int R = r + dr, G = g + dg, B = b + db;
              if (R < 0 || G < 0 || B < 0 || R >= LEVELS || G >= LEVELS || B >= LEVELS) continue;
              s += h[R * LEVELS * LEVELS + G * LEVELS + B] * (dr || dg || db ? 0.25f : 1.0f);
            }
        out[r * LEVELS * LEVELS + g * LEVELS + b] = s;
      }
}


static int copy_of(const lk_image *src, lk_image *dst) {
  size_t n = (size_t)src->w * src->h * 3;
  dst->px = malloc(n);
  if (!dst->px) return LK_ENOMEM;
  memcpy(dst->px, src->px, n);
  dst->w = src->w;
  dst->h = src->h;
  return 0;
}

/* Keeps the largest 4-connected region of m (w x h, 1 = foreground), then fills its holes.
 * Returns the kept pixel count. q: w*h ints of scratch; lab: w*h ints of scratch. */
static int largest_region(uint8_t *m, int w, int h, int *q, int *lab) {
  int n = w * h, best = -1, bestn = 0, nl = 0;
  for (int i = 0; i < n; i++) lab[i] = -1;
  for (int i = 0; i < n; i++) {
    if (!m[i] || lab[i] >= 0) continue;
    int head = 0, tail = 0, cnt = 0;
    lab[i] = nl;
    q[tail++] = i;
    while (head < tail) {
      int j = q[head++], x = j % w, y = j / w;
      cnt++;
      int nb[4] = {x > 0 ? j - 1 : -1, x < w - 1 ? j + 1 : -1, y > 0 ? j - w : -1, y < h - 1 ? j + w : -1};
      for (int k = 0; k < 4; k++)
        if (nb[k] >= 0 && m[nb[k]] && lab[nb[k]] < 0) {
          lab[nb[k]] = nl;
          q[tail++] = nb[k];
        }
    }
    if (cnt > bestn) bestn = cnt, best = nl;
    nl++;
  }
  for (int i = 0; i < n; i++) m[i] = lab[i] == best && best >= 0;
  /* holes: background not reachable from the border becomes foreground */
  int head = 0, tail = 0;
  for (int i = 0; i < n; i++) lab[i] = 0;
  for (int i = 0; i < n; i++) {
    int x = i % w, y = i / w;
    if ((x == 0 || y == 0 || x == w - 1 || y == h - 1) && !m[i]) {
      lab[i] = 1;
      q[tail++] = i;
    }
  }
  while (head < tail) {
    int j = q[head++], x = j % w, y = j / w;
    int nb[4] = {x > 0 ? j - 1 : -1, x < w - 1 ? j + 1 : -1, y > 0 ? j - w : -1, y < h - 1 ? j + w : -1};
    for (int k = 0; k < 4; k++)
      if (nb[k] >= 0 && !m[nb[k]] && !lab[nb[k]]) {
        lab[nb[k]] = 1;
        q[tail++] = nb[k];
      }
  }
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (!lab[i]) m[i] = 1;
    kept += m[i];
  }
  return kept;
}

/* The working copy's likelihood mask into m (1 = likelier a centre colour than a border one).
 * Returns 1 without a mask when the border is mostly near-white: a studio shot, the catalog's own
 * kind of photo. */
static int centre_mask(const lk_image *work, uint8_t *m) {
  int ww = work->w, wh = work->h, n = ww * wh;
  float hb[NBINS] = {0}, hc[NBINS] = {0}, sb[NBINS], sc[NBINS];
  /* border ring and centre box */
  int ring = (ww < wh ? ww : wh) / 12;
  if (ring < 2) ring = 2;
  int nb = 0, nwhite = 0;
  for (int y = 0; y < wh; y++)
    for (int x = 0; x < ww; x++) {
      const uint8_t *p = work->px + 3 * ((size_t)y * ww + x);
      if (x < ring || y < ring || x >= ww - ring || y >= wh - ring) {
        hb[bin_of(p)] += 1;
        nb++;
        nwhite += lk_image_near_white(p, 215, 30);
      } else if (x >= ww * 3 / 10 && x < ww * 7 / 10 && y >= wh * 3 / 10 && y < wh * 7 / 10) {
        hc[bin_of(p)] += 1;
      }
    }
  if (nwhite * 10 >= nb * 7) return 1;
  smooth(hb, sb);
  smooth(hc, sc);
  float tb = 0, tc = 0;
  for (int i = 0; i < NBINS; i++) tb += sb[i], tc += sc[i];
  for (int i = 0; i < n; i++) {
    int b = bin_of(work->px + 3 * (size_t)i);
    float pb = sb[b] / tb, pc = sc[b] / tc;
    m[i] = pc > pb + 1e-6f; /* likelier in the middle than on the border */
  }
  return 0;
}

/* 3 x 3 majority filter of m into out (w x h): drops speckle, closes small gaps. */
static void majority_filter(const uint8_t *m, int w, int h, uint8_t *out) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int s = 0, c = 0;
      for (int j = -1; j <= 1; j++)
        for (int i = -1; i <= 1; i++) {
          int X = x + i, Y = y + j;
          if (X < 0 || Y < 0 || X >= w || Y >= h) continue;
          s += m[Y * w + X];
          c++;
        }
      out[y * w + x] = 2 * s > c;
    }
}

/* The mask's bounding box (ww x wh) in the full photo, with a margin of 4% of its size, as
 * box = {x0, y0, x1, y1} (x1, y1 exclusive). */
static void full_box(const uint8_t *m, int ww, int wh, const lk_image *src, int box[4]) {
  int x0 = ww, y0 = wh, x1 = -1, y1 = -1;
  for (int y = 0; y < wh; y++)
    for (int x = 0; x < ww; x++)
      if (m[y * ww + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  int bx = (int)((int64_t)x0 * src->w / ww), by = (int)((int64_t)y0 * src->h / wh);
  int bx1 = (int)((int64_t)(x1 + 1) * src->w / ww), by1 = (int)((int64_t)(y1 + 1) * src->h / wh);
  int mx = (bx1 - bx) / 25, my = (by1 - by) / 25;
  box[0] = bx - mx < 0 ? 0 : bx - mx;
  box[1] = by - my < 0 ? 0 : by - my;
  box[2] = bx1 + mx > src->w ? src->w : bx1 + mx;
  box[3] = by1 + my > src->h ? src->h : by1 + my;
}

/* The mask (ww x wh) over box = {x0, y0, x1, y1} of src, upsampled smoothly to the box's size
 * into alpha (channel 0 is the alpha): a soft edge. */
static int soft_alpha(const uint8_t *m, int ww, int wh, const lk_image *src, const int box[4], lk_image *alpha) {
  lk_image mimg = {0};
  int mx0 = box[0] * ww / src->w, my0 = box[1] * wh / src->h;
  int mx1 = (box[2] * ww + src->w - 1) / src->w, my1 = (box[3] * wh + src->h - 1) / src->h;
  if (mx1 > ww) mx1 = ww;
  if (my1 > wh) my1 = wh;
  mimg.w = mx1 - mx0;
  mimg.h = my1 - my0;
  if (mimg.w < 1 || mimg.h < 1) return LK_EINVAL;
  if (!(mimg.px = malloc((size_t)mimg.w * mimg.h * 3))) return LK_ENOMEM;
  for (int y = 0; y < mimg.h; y++)
    for (int x = 0; x < mimg.w; x++) memset(mimg.px + 3 * ((size_t)y * mimg.w + x), m[(y + my0) * ww + x + mx0] ? 255 : 0, 3);
  int rc = lk_image_resize(&mimg, box[2] - box[0], box[3] - box[1], alpha);
  lk_image_free(&mimg);
  return rc;
}

/* crop blended by alpha over a white 3:4 canvas (the catalog photos' shape), in its middle. */
static int on_white_canvas(const lk_image *crop, const lk_image *alpha, lk_image *dst) {
  int cw = crop->w, ch = crop->h, W = cw, H = ch;
  if ((int64_t)W * 4 > (int64_t)H * 3) H = (int)((int64_t)W * 4 / 3);
  else W = (int)((int64_t)H * 3 / 4);
  if (W < cw) W = cw;
  if (H < ch) H = ch;
  dst->w = W;
  dst->h = H;
  if (!(dst->px = malloc((size_t)W * H * 3))) return LK_ENOMEM;
  memset(dst->px, 255, (size_t)W * H * 3);
  int ox = (W - cw) / 2, oy = (H - ch) / 2;
  for (int y = 0; y < ch; y++)
    for (int x = 0; x < cw; x++) {
      float al = alpha->px[3 * ((size_t)y * cw + x)] / 255.0f;
      const uint8_t *p = crop->px + 3 * ((size_t)y * cw + x);
      uint8_t *o = dst->px + 3 * ((size_t)(y + oy) * W + x + ox);
      for (int c = 0; c < 3; c++) o[c] = (uint8_t)(al * p[c] + (1 - al) * 255.0f + 0.5f);
    }
  return 0;
}

int lk_garment_isolate(const lk_image *src, lk_image *dst, lk_garment_info *info) {
  lk_garment_info dummy;
  if (!info) info = &dummy;
  memset(info, 0, sizeof *info);
  memset(dst, 0, sizeof *dst);
  if (!src || !src->px || src->w < 1 || src->h < 1) return LK_EINVAL;
  info->box[2] = src->w;
  info->box[3] = src->h;
  if (src->w < 16 || src->h < 16) {
    info->reason = "too small";
    return copy_of(src, dst);
  }
  int ww = src->w >= src->h ? WORK_SIDE : (int)((int64_t)src->w * WORK_SIDE / src->h);
  int wh = src->h >= src->w ? WORK_SIDE : (int)((int64_t)src->h * WORK_SIDE / src->w);
  if (ww < 8) ww = 8;
  if (wh < 8) wh = 8;
  lk_image work = {0}, crop = {0}, malpha = {0};
  int n = ww * wh, rc = lk_image_resize(src, ww, wh, &work), box[4];
  uint8_t *m = malloc((size_t)n), *m2 = malloc((size_t)n);
  int *q = malloc(sizeof(int) * (size_t)n), *lab = malloc(sizeof(int) * (size_t)n);
  if (!rc && (!m || !m2 || !q || !lab)) rc = LK_ENOMEM;
  if (rc) goto done;
  if (centre_mask(&work, m)) {
    info->reason = "near-white background";
    rc = copy_of(src, dst);
    goto done;
  }
  majority_filter(m, ww, wh, m2);
  int kept = largest_region(m2, ww, wh, q, lab);
  info->share = (float)kept / (float)n;
  if (info->share < 0.06f || info->share > 0.95f) {
    info->reason = info->share < 0.06f ? "no clear foreground" : "foreground fills the photo";
    rc = copy_of(src, dst);
    goto done;
  }
  full_box(m2, ww, wh, src, box);
  int cw = box[2] - box[0], ch = box[3] - box[1];
  if (cw < 4 || ch < 4) {
    info->reason = "no clear foreground";
    rc = copy_of(src, dst);
    goto done;
  }
  if ((rc = lk_image_crop(src, box[0], box[1], cw, ch, &crop))) goto done;
  if ((rc = soft_alpha(m2, ww, wh, src, box, &malpha))) goto done;
  if ((rc = on_white_canvas(&crop, &malpha, dst))) goto done;
  info->applied = 1;
  info->box[0] = box[0];
  info->box[1] = box[1];
  info->box[2] = cw;
  info->box[3] = ch;
done:
  if (rc) lk_image_free(dst);
  lk_image_free(&work);
  lk_image_free(&crop);
  lk_image_free(&malpha);
  free(m);
  free(m2);
  free(q);
  free(lab);
  return rc;
}
