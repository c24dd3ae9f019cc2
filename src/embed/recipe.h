/* embed/recipe.h — an embedding recipe: which models, which tapped tensors and poolings,
 * the weights of each part, the colour-histogram part and the preprocessing. A recipe is
 * named, versioned and serialised to canonical JSON; its id (a hash of that JSON) is stored
 * in the catalog so vectors made by one recipe are never compared with another's. */
#ifndef LK_EMBED_RECIPE_H
#define LK_EMBED_RECIPE_H

#include "util/err.h"

#define LK_RECIPE_MAX_PARTS 4
#define LK_RECIPE_FORMAT 1

enum lk_preprocess { LK_PRE_SQUASH = 0, LK_PRE_PAD = 1 };

typedef struct lk_recipe_part {
  char model[128];  /* model file name inside the models folder */
  char sha256[65];  /* expected SHA-256 of that file ("" = not checked) */
  char tap[160];    /* tensor name to pool */
  int pool;         /* enum lk_pool (nn/model.h) */
  float gem_p;      /* GeM exponent when pool == LK_POOL_GEM */
  float weight;     /* the part is L2-normalised, then scaled by this */
} lk_recipe_part;

typedef struct lk_recipe {
  char name[64];     /* e.g. "mnv2-avg+color" */
  int preprocess;    /* enum lk_preprocess */
  int nparts;
  lk_recipe_part part[LK_RECIPE_MAX_PARTS];
  int color_bins;    /* bins per channel of the RGB histogram; 0 = no colour part */
  float color_weight;
  int flip;          /* 1 = average the CNN parts over the photo and its mirror image */
} lk_recipe;

/* The default recipe, chosen by measurement (README, docs/QUALITY.md). */
void lk_recipe_default(lk_recipe *r);
/* Fills r from a named preset: "default", "mnv2-avg+color", "mnv2-avg", "mnv2+mnv1+color",
 * "color". LK_ENOTFOUND for an unknown name. */
int lk_recipe_preset(const char *name, lk_recipe *r, lk_errbuf *err);
/* A preset name, or the path of a JSON file holding a recipe (as lk_recipe_to_json writes). */
int lk_recipe_load(const char *spec, lk_recipe *r, lk_errbuf *err);
/* Canonical JSON (sorted keys, compact). Caller frees the string. NULL on ENOMEM. */
char *lk_recipe_to_json(const lk_recipe *r);
/* Parses and validates JSON from lk_recipe_to_json. */
int lk_recipe_from_json(const char *json, lk_recipe *r, lk_errbuf *err);
/* 16 hex digits of the SHA-256 of the canonical JSON. */
void lk_recipe_id(const lk_recipe *r, char out[17]);

#endif
