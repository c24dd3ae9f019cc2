/* embed/recipe.h — an embedding recipe: which models, which tapped tensors and poolings,
 * the weights of each part, the colour-histogram part, the preprocessing, and for tuned
 * recipes the learned projection (embed/projection.h). A recipe is named, versioned and
 * serialised to canonical JSON (optional keys — grid, color_fg, prescale, projection — only
 * when set, so older recipes keep their ids); its id (a hash of that JSON) is stored in the
 * catalog so vectors made by one recipe are never compared with another's. */
#ifndef LK_EMBED_RECIPE_H
#define LK_EMBED_RECIPE_H

#include "embed/projection.h"
#include "util/err.h"

#define LK_RECIPE_MAX_PARTS 4
#define LK_RECIPE_MAX_GRID 4
#define LK_RECIPE_FORMAT 1
#define LK_RECIPE_MAX_JSON (256 << 20) /* limit on a recipe .json file (tuned ones carry weights) */

enum lk_preprocess { LK_PRE_SQUASH = 0, LK_PRE_PAD = 1 };

typedef struct lk_recipe_part {
  char model[128];  /* model file name inside the models folder */
  char sha256[65];  /* expected SHA-256 of that file ("" = not checked) */
  char tap[160];    /* tensor name to pool */
  int pool;         /* enum lk_pool (nn/model.h) */
  float gem_p;      /* GeM exponent when pool == LK_POOL_GEM */
  float weight;     /* the part is L2-normalised, then scaled by this */
  int grid;         /* 0 or 1: pool the whole map; g = 2..LK_RECIPE_MAX_GRID: pool each cell of a
                       g x g grid (overlapping when the map's side is odd), g*g*channels values */
} lk_recipe_part;

typedef struct lk_recipe {
  char name[64];     /* e.g. "mnv2-avg+color" */
  int preprocess;    /* enum lk_preprocess */
  int nparts;
  lk_recipe_part part[LK_RECIPE_MAX_PARTS];
  int color_bins;    /* bins per channel of the RGB histogram; 0 = no colour part */
  float color_weight;
  int flip;          /* 1 = average the CNN parts over the photo and its mirror image */
  int color_fg;      /* 1 = the colour histogram counts only foreground pixels (those that differ
                        from the background colour, estimated on the photo's border) */
  int prescale;      /* > 0: photos whose longer side exceeds this are first shrunk to it (so a
                        large query photo looks like the small catalog photos); 0 = off */
  int compute;       /* enum lk_compute (nn/model.h) the CNN parts run in: 0 = exact (TFLite's
                        integer arithmetic, bit-identical; JSON key absent), 1 = fp32, 2 = int8
                        (faster, not bit-identical; "compute": "fp32" / "int8") */
  lk_projection *proj; /* NULL = none. Owned by the recipe: recipes that may hold one (parsed
                        from JSON, lk_recipe_copy, lk_recipe_set_projection) need lk_recipe_clear.
                        A plain struct copy shares it (the copy must not be cleared too). */
} lk_recipe;

/* "exact", "fp32" or "int8" for an enum lk_compute value (NULL for any other), and back: the
 * value for one of those names, -1 for anything else (NULL included). */
const char *lk_recipe_compute_name(int compute);
int lk_recipe_compute_parse(const char *s);

/* The default recipe, chosen by measurement (README, docs/QUALITY.md). */
void lk_recipe_default(lk_recipe *r);
/* Fills r from a named preset: "default" (= "mnv2-avg+color+p80+int8"), "mnv2-avg+color",
 * "mnv2-avg+color+p80" (the same, prescale 80), "mnv2-avg", "mnv2+mnv1+color", "color"; these
 * compute exact, and a CNN preset followed by "+int8" or "+fp32" is the same recipe computed
 * that way (a different recipe id). LK_ENOTFOUND for an unknown name. */
int lk_recipe_preset(const char *name, lk_recipe *r, lk_errbuf *err);
/* A preset name, or the path of a JSON file holding a recipe (as lk_recipe_to_json writes). */
int lk_recipe_load(const char *spec, lk_recipe *r, lk_errbuf *err);
/* Canonical JSON (sorted keys, compact). Caller frees the string. NULL on ENOMEM. */
char *lk_recipe_to_json(const lk_recipe *r);
/* Parses and validates JSON from lk_recipe_to_json. */
int lk_recipe_from_json(const char *json, lk_recipe *r, lk_errbuf *err);
/* 16 hex digits of the SHA-256 of the canonical JSON (so a new projection is a new id). */
void lk_recipe_id(const lk_recipe *r, char out[17]);

/* 0 when r's canonical JSON parses back to the same JSON (so every number in it is finite and
 * within the ranges lk_recipe_from_json accepts: none is lost on the way); else LK_EINVAL
 * saying which. Run before a recipe is stored. */
int lk_recipe_verify(const lk_recipe *r, lk_errbuf *err);
/* A stored recipe (`lookalike check`): json parses, round-trips (lk_recipe_verify) and has the
 * id id (NULL: not checked). LK_ECORRUPT with the reason. */
int lk_recipe_check_stored(const char *json, const char *id, lk_errbuf *err);

/* Frees the recipe's projection (NULL-safe, idempotent); the rest of *r is kept. */
void lk_recipe_clear(lk_recipe *r);
/* Deep copy (dst gets its own projection). dst is overwritten, not cleared first. */
int lk_recipe_copy(lk_recipe *dst, const lk_recipe *src);
/* Gives p to r (replacing and freeing any projection r had); r owns it from now on. */
void lk_recipe_set_projection(lk_recipe *r, lk_projection *p);

#endif
