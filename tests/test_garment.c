/* tests/test_garment.c — the street-photo stages: the studio foreground mask and the street-like
 * views of tune/augment.h (shape, determinism, the garment kept, the white gone), and the
 * garment isolation of image/garment.h (studio shots untouched, a garment on a textured floor
 * cut out onto white, degenerate photos left as they are). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "image/garment.h"
#include "tune/augment.h"

/* w x h filled with (r,g,b); a rectangle [x0,x1) x [y0,y1) of (R,G,B). */
static lk_image make(int w, int h, const uint8_t bg[3], int x0, int y0, int x1, int y1, const uint8_t fg[3]) {
  lk_image im = {w, h, malloc((size_t)w * h * 3)};
  assert_non_null(im.px);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const uint8_t *c = x >= x0 && x < x1 && y >= y0 && y < y1 ? fg : bg;
      memcpy(im.px + 3 * ((size_t)y * w + x), c, 3);
    }
  return im;
}

static const uint8_t WHITE[3] = {250, 250, 250}, RED[3] = {200, 20, 30};

static void test_mask_studio(void **state) {
  (void)state;
  lk_image im = make(60, 80, WHITE, 10, 20, 50, 70, RED);
  uint8_t *m = malloc(60 * 80);
  double share = lk_augment_mask(&im, m);
  /* the 40 x 50 red box, less its one-pixel rim */
  assert_float_equal(share, 38.0 * 48.0 / (60 * 80), 1e-9);
  assert_int_equal(m[0], 0);
  assert_int_equal(m[45 * 60 + 30], 1);
  assert_int_equal(m[20 * 60 + 10], 0); /* the rim */
  /* white enclosed by the garment is not background */
  for (int y = 40; y < 45; y++)
    for (int x = 25; x < 30; x++) memcpy(im.px + 3 * ((size_t)y * 60 + x), WHITE, 3);
  lk_augment_mask(&im, m);
  assert_int_equal(m[42 * 60 + 27], 1);
  lk_image empty = {0};
  assert_true(lk_augment_mask(&empty, m) < 0);
  free(m);
  lk_image_free(&im);
}

static long count_near(const lk_image *im, const uint8_t c[3], int tol) {
  long n = 0;
  for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
    int ok = 1;
    for (int k = 0; k < 3; k++) ok &= abs(im->px[3 * i + k] - c[k]) <= tol;
    n += ok;
  }
  return n;
}

static void test_views(void **state) {
  (void)state;
  lk_image im = make(60, 80, WHITE, 10, 20, 50, 70, RED);
  lk_image a = {0}, b = {0}, c = {0};
  int portrait = 0, landscape = 0, square = 0;
  for (uint64_t seed = 0; seed < 40; seed++) {
    assert_int_equal(lk_augment_view(&im, 112, seed, &a), 0);
    assert_true((a.w == 112 && a.h <= 112) || (a.h == 112 && a.w <= 112));
    portrait += a.w < a.h;
    landscape += a.w > a.h;
    square += a.w == a.h;
    /* the studio white is gone: few pixels are that white */
    assert_true(count_near(&a, WHITE, 4) < (long)a.w * a.h / 4);
    assert_int_equal(lk_augment_view(&im, 112, seed, &b), 0); /* same seed, same view */
    assert_int_equal(a.w, b.w);
    assert_memory_equal(a.px, b.px, (size_t)a.w * a.h * 3);
    lk_image_free(&a);
    lk_image_free(&b);
  }
  assert_true(portrait > 0 && landscape > 0 && square > 0);
  /* another seed, another view; the garment's colour is there (light and white balance move it) */
  assert_int_equal(lk_augment_view(&im, 112, 1, &a), 0);
  assert_int_equal(lk_augment_view(&im, 112, 2, &c), 0);
  assert_true(a.w != c.w || a.h != c.h || memcmp(a.px, c.px, (size_t)a.w * a.h * 3));
  assert_true(count_near(&a, RED, 90) > 200);
  lk_image_free(&a);
  lk_image_free(&c);
  /* bad arguments */
  assert_int_equal(lk_augment_view(&im, 8, 0, &a), LK_EINVAL);
  assert_int_equal(lk_augment_view(NULL, 112, 0, &a), LK_EINVAL);
  lk_image_free(&im);
}

static void test_isolate(void **state) {
  (void)state;
  /* a studio shot is left as it is */
  lk_image studio = make(60, 80, WHITE, 10, 20, 50, 70, RED), out = {0};
  lk_garment_info gi;
  assert_int_equal(lk_garment_isolate(&studio, &out, &gi), 0);
  assert_int_equal(gi.applied, 0);
  assert_non_null(gi.reason);
  assert_int_equal(out.w, 60);
  assert_memory_equal(out.px, studio.px, 60 * 80 * 3);
  lk_image_free(&out);
  lk_image_free(&studio);
  /* a red garment on a striped brown floor: cut out, on white, cropped near its box */
  const uint8_t BROWN[3] = {120, 80, 40};
  lk_image street = make(320, 240, BROWN, 110, 60, 230, 200, RED);
  for (int y = 0; y < 240; y++)
    for (int x = 0; x < 320; x++) {
      if (x >= 110 && x < 230 && y >= 60 && y < 200) continue;
      if ((x / 6) % 2) memset(street.px + 3 * ((size_t)y * 320 + x), 90, 1);
    }
  assert_int_equal(lk_garment_isolate(&street, &out, &gi), 0);
  assert_int_equal(gi.applied, 1);
  assert_true(gi.share > 0.15f && gi.share < 0.3f);
  assert_true(abs(gi.box[0] - 110) <= 12 && abs(gi.box[1] - 60) <= 12);
  assert_true(abs(gi.box[2] - 120) <= 20 && abs(gi.box[3] - 140) <= 20);
  assert_true(abs(out.w * 4 - out.h * 3) <= 4);
  assert_int_equal(out.px[0], 255); /* corners are white */
  assert_int_equal(count_near(&out, BROWN, 30), 0);
  assert_true(count_near(&out, RED, 10) > (long)out.w * out.h / 3);
  lk_image_free(&out);
  lk_image_free(&street);
  /* nothing stands out: a plain photo comes back as it is */
  lk_image plain = make(100, 100, BROWN, 0, 0, 0, 0, RED);
  assert_int_equal(lk_garment_isolate(&plain, &out, &gi), 0);
  assert_int_equal(gi.applied, 0);
  lk_image_free(&out);
  lk_image_free(&plain);
  /* tiny and empty photos */
  lk_image tiny = make(5, 5, BROWN, 1, 1, 3, 3, RED);
  assert_int_equal(lk_garment_isolate(&tiny, &out, &gi), 0);
  assert_int_equal(gi.applied, 0);
  lk_image_free(&out);
  lk_image_free(&tiny);
  lk_image empty = {0};
  assert_int_equal(lk_garment_isolate(&empty, &out, NULL), LK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mask_studio),
      cmocka_unit_test(test_views),
      cmocka_unit_test(test_isolate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
