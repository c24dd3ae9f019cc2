/* image/garment.h — finds the garment in a photo taken outside a studio (on a bed, a floor, a
 * door) and puts it on white, as catalog photos show products: the background's colours are
 * learnt from the photo's border, the middle's from its centre, each pixel goes to the likelier
 * side, the largest foreground region (holes filled) is kept, and the photo is cropped to it
 * with a margin and everything else painted white. Photos already on a near-white background
 * (studio shots) are left as they are. Untrained and fast (a 64-pixel working copy). */
#ifndef LK_IMAGE_GARMENT_H
#define LK_IMAGE_GARMENT_H

#include "image/image.h"

typedef struct lk_garment_info {
  int applied;        /* 1 = dst is the isolated garment; 0 = dst is a copy of src */
  float share;        /* foreground share of the photo (0..1) */
  int box[4];         /* the crop in src: x, y, w, h */
  const char *reason; /* why it was not applied (static text), or NULL */
} lk_garment_info;

/* dst (lk_image_free) = the garment on white, or a copy of src when no garment stands out
 * clearly (see info, which may be NULL). LK_EINVAL for an empty image, LK_ENOMEM. */
int lk_garment_isolate(const lk_image *src, lk_image *dst, lk_garment_info *info);

#endif
