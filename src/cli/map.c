/* cli/map.c — `lookalike map`: lays out every catalog item with a vector in 2-D (PCA to 50
 * dimensions, then Barnes-Hut t-SNE; map/), stores the layout in the catalog (map/store.h)
 * and reuses it while the catalog is unchanged, draws it as PNG/SVG coloured by a field, and
 * reports how many of each point's 10 map neighbours share its articleType, next to the same
 * figure in the full embedding. */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "cli/map.h"

#include "cli/cli.h"
#include "embed/recipe.h"
#include "image/image.h"
#include "map/draw.h"
#include "map/pca.h"
#include "map/store.h"
#include "map/tsne.h"
#include "search/engine.h"
#include "util/size.h"

static const char *HELP =
    "usage: lookalike map --db catalog.db --out map.png [options]\n"
    "\n"
    "Lays out every catalog item in 2-D so that look-alike products sit together: PCA of the\n"
    "embedding to 50 dimensions, then Barnes-Hut t-SNE. The layout is stored in the catalog and\n"
    "reused while the catalog is unchanged (same recipe and items); the web page's Map view and\n"
    "GET /api/map show it. Prints the share of each point's 10 nearest map neighbours with the\n"
    "same articleType, next to the same share in the full embedding.\n"
    "\n"
    "  --db FILE           catalog (made by `lookalike index`); the layout is written into it\n"
    "  --out FILE          PNG picture to write\n"
    "  --svg FILE          also (or only) an SVG picture\n"
    "  --color-by FIELD    articleType (default), masterCategory, baseColour, gender, or any\n"
    "                      styles.csv field; the 12 commonest values get colours, the rest grey\n"
    "  --thumbs N          draw N product photos at their points (default 0)\n"
    "  --size WxH          picture size (default 1600x1200)\n"
    "  --seed S            random start (default 0); the same seed gives the same layout\n"
    "  --perplexity P      t-SNE perplexity (default 30)\n"
    "  --iters N           t-SNE iterations (default 1000)\n"
    "  --recompute         compute a new layout even if a stored one is still valid\n"
    "  --eval-sample N     queries for the neighbour-agreement figures (default 2000; 0 = none)\n"
    "  --json              print the figures as JSON on stdout\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error, 3 catalog not found\n";

static int usage(const char *msg) { return lk_cli_usage("map", msg); }

typedef struct bar {
  int tty;
  double t0;
} bar;

static int on_progress(void *ctx, int done, int total) {
  bar *b = ctx;
  if (b->tty) lk_cli_bar("t-SNE", done, total, b->t0);
  return 0;
}

typedef struct value_count {
  const char *value;
  size_t count;
} value_count;

static int by_count(const void *a, const void *b) {
  const value_count *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->value, y->value);
}

/* Category of each point by a field: the LK_MAP_COLOURS commonest values, -1 for the rest.
 * names/counts get ncat entries (names point into the engine's items). */
static int categorise(const lk_item *const *items, size_t n, int field, int *cat, const char **names,
                      size_t *counts, int *ncat, size_t *other) {
  value_count *vc = malloc((n ? n : 1) * sizeof *vc);
  size_t nv = 0;
  if (!vc) return LK_ENOMEM;
  for (size_t i = 0; i < n; i++) { /* distinct values: linear probe over a small set */
    const char *v = items[i]->field[field];
    if (!v || !*v) continue;
    size_t k = 0;
    while (k < nv && strcmp(vc[k].value, v)) k++;
    if (k == nv) vc[nv++] = (value_count){v, 0};
    vc[k].count++;
  }
  if (nv) qsort(vc, nv, sizeof *vc, by_count);
  *ncat = nv < LK_MAP_COLOURS ? (int)nv : LK_MAP_COLOURS;
  for (int k = 0; k < *ncat; k++) {
    names[k] = vc[k].value;
    counts[k] = vc[k].count;
  }
  *other = 0;
  for (size_t i = 0; i < n; i++) {
    const char *v = items[i]->field[field];
    cat[i] = -1;
    for (int k = 0; v && k < *ncat; k++)
      if (!strcmp(names[k], v)) cat[i] = k;
    if (cat[i] < 0) (*other)++;
  }
  free(vc);
  return 0;
}

/* Label ids for the agreement figures: index of the value among all distinct values. */
static int label_ids(const lk_item *const *items, size_t n, int field, int *lab) {
  const char **seen = malloc((n ? n : 1) * sizeof *seen);
  size_t ns = 0;
  if (!seen) return LK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *v = items[i]->field[field];
    lab[i] = -1;
    if (!v || !*v) continue;
    size_t k = 0;
    while (k < ns && strcmp(seen[k], v)) k++;
    if (k == ns) seen[ns++] = v;
    lab[i] = (int)k;
  }
  free(seen);
  return 0;
}

typedef struct opts {
  const char *db, *out, *svg, *color_by;
  int thumbs, iters, recompute, eval_sample, json, width, height;
  double perplexity;
  uint64_t seed;
} opts;

static int parse(int argc, char **argv, opts *o) {
  static const struct option longs[] = {
      {"db", required_argument, 0, 'd'},       {"out", required_argument, 0, 'o'},
      {"svg", required_argument, 0, 's'},      {"color-by", required_argument, 0, 'c'},
      {"colour-by", required_argument, 0, 'c'}, {"thumbs", required_argument, 0, 't'},
      {"seed", required_argument, 0, 'S'},     {"perplexity", required_argument, 0, 'p'},
      {"iters", required_argument, 0, 'i'},    {"recompute", no_argument, 0, 'r'},
      {"eval-sample", required_argument, 0, 'e'}, {"json", no_argument, 0, 'j'},
      {"size", required_argument, 0, 'z'},     {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  *o = (opts){.color_by = "articleType", .iters = 1000, .perplexity = 30, .eval_sample = 2000};
  optind = 1;
  int ch;
  while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    switch (ch) {
      case 'd': o->db = optarg; break;
      case 'o': o->out = optarg; break;
      case 's': o->svg = optarg; break;
      case 'c': o->color_by = optarg; break;
      case 'r': o->recompute = 1; break;
      case 'j': o->json = 1; break;
      case 't':
        if (lk_cli_int("map", "--thumbs", optarg, 0, 100000, &o->thumbs)) return LK_EX_USAGE;
        break;
      case 'S':
        if (lk_cli_u64("map", "--seed", optarg, &o->seed)) return LK_EX_USAGE;
        break;
      case 'p':
        if (lk_cli_double("map", "--perplexity", optarg, 2, 1000, &o->perplexity)) return LK_EX_USAGE;
        break;
      case 'i':
        if (lk_cli_int("map", "--iters", optarg, 1, 100000, &o->iters)) return LK_EX_USAGE;
        break;
      case 'e':
        if (lk_cli_int("map", "--eval-sample", optarg, 0, INT_MAX, &o->eval_sample)) return LK_EX_USAGE;
        break;
      case 'z': {
        int wh[2];
        if (lk_cli_int_list(optarg, 'x', 2, 300, 20000, wh) || wh[0] < 400)
          return usage("--size wants WxH (400x300 to 20000x20000)");
        o->width = wh[0];
        o->height = wh[1];
        break;
      }
      case 'h': fputs(HELP, stdout); return -1;
      default: return usage("unknown option");
    }
  }
  if (optind < argc) return usage("unexpected argument");
  if (!o->db) return usage("--db is required");
  if (!o->out && !o->svg) return usage("--out and/or --svg is required");
  if (lk_filter_field(o->color_by) < 0) return usage("--color-by: not a styles.csv field");
  return 0;
}

/* Computes a new layout of the n vectors into l (ids already set). */
static int compute(const lk_engine *e, const lk_item *const *items, size_t n, const opts *o, lk_map_layout *l,
                   lk_errbuf *eb) {
  int dim = lk_engine_dim(e), k = dim < 50 ? dim : 50, rc;
  size_t nd, nk;
  if (lk_size_mul(n, (size_t)dim, &nd) || lk_size_mul(n, (size_t)k, &nk))
    return lk_err_set(eb, LK_ETOOBIG, "catalog too large");
  float *x = malloc(nd * sizeof *x), *red = malloc(nk * sizeof *red);
  if (!x || !red) {
    free(x);
    free(red);
    return lk_err_set(eb, LK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) memcpy(x + i * dim, lk_engine_vector(e, items[i]->id), (size_t)dim * sizeof *x);
  double t0 = lk_cli_now();
  rc = lk_map_pca(x, n, dim, k, o->seed, red, NULL, eb);
  free(x);
  if (!rc) {
    fprintf(stderr, "PCA %d -> %d dimensions: %.1f s\n", dim, k, lk_cli_now() - t0);
    lk_tsne_opts to;
    lk_tsne_opts_default(&to);
    to.perplexity = o->perplexity;
    to.iters = o->iters;
    to.seed = o->seed;
    bar b = {isatty(2), lk_cli_now()};
    to.progress = on_progress;
    to.progress_ctx = &b;
    rc = lk_tsne_run(red, n, k, &to, l->xy, eb);
    if (!rc) fprintf(stderr, "t-SNE of %zu points, %d iterations: %.1f s\n", n, o->iters, lk_cli_now() - b.t0);
  }
  free(red);
  l->perplexity = o->perplexity;
  l->iters = o->iters;
  l->seed = o->seed;
  return rc;
}

static int thumbs(const lk_map_layout *l, const lk_item *const *items, int count, lk_image **imgs, lk_map_thumb **th,
                  size_t *nth) {
  size_t want = (size_t)count < l->n ? (size_t)count : l->n;
  *imgs = calloc(want ? want : 1, sizeof **imgs);
  *th = calloc(want ? want : 1, sizeof **th);
  *nth = 0;
  if (!*imgs || !*th) return LK_ENOMEM;
  for (size_t t = 0; t < want; t++) {
    size_t i = (size_t)((double)t * l->n / want); /* evenly over the id order */
    lk_image full = {0};
    lk_errbuf ieb = {0};
    if (lk_image_load(items[i]->path, NULL, 0, &full, &ieb)) {
      fprintf(stderr, "thumbnail of %lld skipped: %s\n", (long long)items[i]->id, lk_err_msg(&ieb));
      continue;
    }
    int h = 40, w = full.h > 0 ? (int)lrint(40.0 * full.w / full.h) : 30;
    if (w < 1) w = 1;
    if (w > 80) w = 80;
    if (!lk_image_resize(&full, w, h, &(*imgs)[*nth])) {
      (*th)[*nth] = (lk_map_thumb){i, &(*imgs)[*nth]};
      (*nth)++;
    }
    lk_image_free(&full);
  }
  return 0;
}

/* One `lookalike map` run: what it holds until it ends. */
typedef struct map_run {
  opts o;
  lk_errbuf eb;
  lk_engine *e;
  lk_catalog *cat;
  lk_map_layout l;
  const lk_item **items; /* the n items with a vector, in the engine's order (l.ids alike) */
  size_t n;
  int *cls, *lab;
  lk_image *imgs;
  lk_map_thumb *th;
  size_t nth;
} map_run;

/* The items with a vector into r->items and r->l.ids: at least 4 of them. */
static int map_items(map_run *r) {
  size_t total = lk_engine_item_count(r->e);
  r->items = malloc((total ? total : 1) * sizeof *r->items);
  r->l.ids = malloc((total ? total : 1) * sizeof *r->l.ids);
  if (!r->items || !r->l.ids) return lk_err_set(&r->eb, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < total; i++) {
    const lk_item *it = lk_engine_item_at(r->e, i);
    if (!lk_engine_vector(r->e, it->id)) continue;
    r->items[r->n] = it;
    r->l.ids[r->n++] = it->id;
  }
  if (r->n < 4)
    return lk_err_set(&r->eb, LK_EINVAL, "%s has %zu items with vectors; a map needs at least 4", r->o.db, r->n);
  return 0;
}

/* The catalog's stored layout when it is of these items and recipe (and no --recompute), else
 * a new one, computed and stored. */
static int map_layout(map_run *r) {
  char rid[17];
  int rc;
  size_t n = r->n;
  lk_recipe_id(lk_engine_recipe(r->e), rid);
  if ((rc = lk_catalog_open(r->o.db, LK_CATALOG_CREATE, &r->cat, &r->eb))) return rc;
  lk_map_layout stored;
  int have = lk_map_store_load(r->cat, &stored, NULL) == 0;
  if (have && !r->o.recompute && lk_map_layout_matches(&stored, rid, r->l.ids, n)) {
    fprintf(stderr, "using the stored map (%zu items; --recompute for a new one)\n", n);
    lk_map_layout_free(&r->l);
    r->l = stored;
    return 0;
  }
  if (have) {
    fprintf(stderr, r->o.recompute ? "recomputing the map\n" : "the catalog changed since its map was made: recomputing\n");
    lk_map_layout_free(&stored);
  }
  r->l.n = n;
  r->l.xy = malloc(2 * n * sizeof *r->l.xy);
  if (!r->l.xy) return lk_err_set(&r->eb, LK_ENOMEM, "out of memory");
  snprintf(r->l.recipe_id, sizeof r->l.recipe_id, "%s", rid);
  lk_map_ids_sha256(r->l.ids, n, r->l.ids_sha256);
  if ((rc = compute(r->e, r->items, n, &r->o, &r->l, &r->eb))) return rc;
  if ((rc = lk_map_store_save(r->cat, &r->l, &r->eb))) return rc;
  fprintf(stderr, "map stored in %s\n", r->o.db);
  return 0;
}

/* The picture: the points coloured by --color-by, with thumbnails, as PNG and/or SVG. */
static int map_picture(map_run *r) {
  size_t n = r->n;
  int rc;
  r->cls = malloc(n * sizeof *r->cls);
  r->lab = malloc(n * sizeof *r->lab);
  const char *names[LK_MAP_COLOURS];
  size_t counts[LK_MAP_COLOURS], other = 0;
  int ncat = 0;
  if (!r->cls || !r->lab ||
      categorise(r->items, n, lk_filter_field(r->o.color_by), r->cls, names, counts, &ncat, &other) ||
      label_ids(r->items, n, lk_filter_field("articleType"), r->lab) ||
      thumbs(&r->l, r->items, r->o.thumbs, &r->imgs, &r->th, &r->nth))
    return lk_err_set(&r->eb, LK_ENOMEM, "out of memory");
  char title[96];
  snprintf(title, sizeof title, "%zu items\nby %.60s", n, r->o.color_by);
  lk_map_picture pic = {.xy = r->l.xy, .n = n, .cat = r->cls, .names = names, .counts = counts, .ncat = ncat,
                        .other = other, .title = title, .thumbs = r->th, .nthumbs = r->nth, .width = r->o.width,
                        .height = r->o.height};
  if (r->o.out && (rc = lk_map_draw_png(&pic, r->o.out, &r->eb))) return rc;
  if (r->o.svg && (rc = lk_map_draw_svg(&pic, r->o.svg, &r->eb))) return rc;
  return 0;
}

/* neighbour agreement: map vs full embedding, same sampled queries (10 neighbours each, so
 * only with more than 10 items) */
static int map_agreement(map_run *r) {
  size_t n = r->n;
  if (r->o.eval_sample > 0 && n <= 10)
    fprintf(stderr, "lookalike map: %zu items: too few for the 10-nearest-neighbour agreement figures\n", n);
  if (r->o.eval_sample <= 0 || n <= 10) return 0;
  size_t nq = (size_t)r->o.eval_sample < n ? (size_t)r->o.eval_sample : n;
  size_t *q = malloc(nq * sizeof *q);
  int dim = lk_engine_dim(r->e), rc;
  size_t nd;
  float *x = lk_size_mul(n, (size_t)dim, &nd) ? NULL : malloc(nd * sizeof *x);
  if (!q || !x) {
    free(q);
    free(x);
    return lk_err_set(&r->eb, LK_ENOMEM, "out of memory");
  }
  for (size_t t = 0; t < nq; t++) q[t] = (size_t)((double)t * n / nq);
  for (size_t i = 0; i < n; i++) memcpy(x + i * dim, lk_engine_vector(r->e, r->items[i]->id), (size_t)dim * sizeof *x);
  double s2 = 0, sh = 0;
  rc = lk_map_neighbour_agreement(r->l.xy, n, 2, r->lab, q, nq, 10, &s2, &r->eb);
  if (!rc) rc = lk_map_neighbour_agreement(x, n, dim, r->lab, q, nq, 10, &sh, &r->eb);
  free(q);
  free(x);
  if (rc) return rc;
  if (r->o.json)
    printf("{\"items\":%zu,\"queries\":%zu,\"map_knn10_same_articleType\":%.4f,"
           "\"embedding_knn10_same_articleType\":%.4f}\n", n, nq, s2, sh);
  else
    printf("10 nearest neighbours with the same articleType (%zu queries): map %.3f, embedding (%d-d) %.3f\n",
           nq, s2, dim, sh);
  return 0;
}

int lk_cli_map(int argc, char **argv) {
  map_run r = {0};
  int rc = parse(argc, argv, &r.o);
  if (rc) return rc < 0 ? 0 : rc;
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  eo.lazy_model = 1;
  if (!(rc = lk_engine_open(r.o.db, &eo, &r.e, &r.eb)) && !(rc = map_items(&r)) && !(rc = map_layout(&r)) &&
      !(rc = map_picture(&r)) && !(rc = map_agreement(&r))) {
    if (r.o.out) fprintf(stderr, "wrote %s\n", r.o.out);
    if (r.o.svg) fprintf(stderr, "wrote %s\n", r.o.svg);
  }
  if (rc) fprintf(stderr, "lookalike map: %s\n", lk_err_msg(&r.eb));
  for (size_t t = 0; t < r.nth; t++) lk_image_free(&r.imgs[t]);
  free(r.imgs);
  free(r.th);
  free(r.cls);
  free(r.lab);
  free(r.items);
  lk_map_layout_free(&r.l);
  lk_catalog_close(r.cat);
  lk_engine_close(r.e);
  return lk_cli_exit_code(rc);
}
