/* tune/augment.h — street-like views of catalog photos, for training that must hold on phone
 * photos (`lookalike tune --views`): the garment is cut from its near-white studio background
 * and put on a generated one (a plain sheet with folds and uneven light, stripes, plaid, wood
 * planks, carpet-like noise, tiles, floor and wall, clutter), at a random place and size, with a
 * shadow, light and white-balance changes, blur and noise. Deterministic for a seed; no photo
 * other than the catalog's own is used. */
#ifndef LK_TUNE_AUGMENT_H
#define LK_TUNE_AUGMENT_H

#include <stdint.h>

#include "image/image.h"

/* Foreground of a studio photo: mask[y*w+x] = 1 unless the pixel is near-white and connected
 * to the border through near-white pixels. mask has img->w * img->h bytes (caller's). Returns
 * the share of foreground pixels (0..1), or -1 when the image is empty. */
double lk_augment_mask(const lk_image *img, uint8_t *mask);

/* A street-like view of src (a catalog photo on a light background) on a canvas whose longer
 * side is `side` (16..1024) pixels. *out: lk_image_free. LK_EINVAL, LK_ENOMEM. */
int lk_augment_view(const lk_image *src, int side, uint64_t seed, lk_image *out);

#endif
