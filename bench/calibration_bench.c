/* bench/calibration_bench.c — how well the match strength is calibrated (docs/QUALITY.md
 * "Match strength"), run by bench/calibration.sh: fits a calibration on one half of the
 * catalog's items (search/calibrate.h, split 1) and measures it on pairs of the other half
 * (split 2), then, measuring only, on shop photos of products (DIR/ID.jpg, their articleType
 * from styles.csv; in the catalog or not) and on street photos (labels.csv: image, label,
 * articleTypes that count as the same kind). Prints markdown: reliability diagrams (bins of
 * predicted probability: mean prediction vs observed frequency) and the expected calibration
 * error, for p_same_kind and p_same_product. Nothing is fitted to the photos. */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/image.h"
#include "search/calibrate.h"
#include "search/engine.h"
#include "search/query.h"
#include "util/file.h"

#define BINS 10

typedef struct rel {
  double pred[BINS], obs[BINS];
  long n[BINS], total;
} rel;

static void rel_add(rel *r, double p, int y) {
  int b = (int)(p * BINS);
  if (b >= BINS) b = BINS - 1;
  if (b < 0) b = 0;
  r->pred[b] += p;
  r->obs[b] += y;
  r->n[b]++;
  r->total++;
}

static double rel_ece(const rel *r) {
  double e = 0;
  for (int b = 0; b < BINS; b++)
    if (r->n[b]) e += fabs(r->pred[b] - r->obs[b]) / (double)r->total;
  return e;
}

static void rel_print(const char *title, const rel *r) {
  printf("\n%s: %ld, expected calibration error **%.3f**\n\n| predicted | n | mean predicted | observed |\n|---|---:|---:|---:|\n",
         title, r->total, rel_ece(r));
  for (int b = 0; b < BINS; b++)
    if (r->n[b])
      printf("| %.1f-%.1f | %ld | %.3f | %.3f |\n", (double)b / BINS, (double)(b + 1) / BINS, r->n[b], r->pred[b] / r->n[b],
             r->obs[b] / r->n[b]);
}

/* articleType of each id in styles.csv (column 5; the name, last, may hold commas). */
typedef struct kinds {
  long *id;
  char (*type)[64];
  size_t n, cap;
} kinds;

static int load_kinds(const char *csv, kinds *k) {
  FILE *f = fopen(csv, "r");
  if (!f) return -1;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    char *fld[6] = {0}, *p = line;
    int nf = 0;
    while (nf < 6 && p) {
      fld[nf++] = p;
      p = strchr(p, ',');
      if (p) *p++ = '\0';
    }
    if (nf < 6 || !isdigit((unsigned char)fld[0][0])) continue;
    if (k->n == k->cap) {
      k->cap = k->cap ? 2 * k->cap : 65536;
      k->id = realloc(k->id, k->cap * sizeof *k->id);
      k->type = realloc(k->type, k->cap * sizeof *k->type);
      if (!k->id || !k->type) exit(1);
    }
    k->id[k->n] = atol(fld[0]);
    snprintf(k->type[k->n++], 64, "%s", fld[4]);
  }
  fclose(f);
  return 0;
}

static const char *kind_of(const kinds *k, long id) {
  for (size_t i = 0; i < k->n; i++) /* a few thousand lookups: a scan will do */
    if (k->id[i] == id) return k->type[i];
  return NULL;
}

/* Searches one photo: the best hit, its match. 0 or -1 (unreadable). */
static int best_of(lk_engine *e, const lk_calibration *cal, const char *path, lk_hit *h, lk_match *m) {
  uint8_t *photo = NULL;
  size_t len = 0;
  int n = 0;
  if (lk_file_read(path, LK_IMAGE_MAX_BYTES, &photo, &len, NULL, NULL)) return -1;
  lk_query q; /* as a search from the page or the CLI runs it */
  lk_query_init(&q);
  q.k = 1;
  int rc = lk_engine_search_photo(e, photo, len, &q, h, &n, NULL, NULL);
  free(photo);
  if (rc || n != 1) return -1;
  lk_calibration_match(cal, h->score, m);
  return 0;
}

int main(int argc, char **argv) {
  const char *db = NULL, *shop = NULL, *styles = NULL, *street = NULL;
  int photos = 300, items = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--db")) db = argv[i + 1];
    else if (!strcmp(argv[i], "--shop")) shop = argv[i + 1];
    else if (!strcmp(argv[i], "--styles")) styles = argv[i + 1];
    else if (!strcmp(argv[i], "--street")) street = argv[i + 1];
    else if (!strcmp(argv[i], "--photos")) photos = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--items")) items = atoi(argv[i + 1]);
  }
  if (!db) {
    fprintf(stderr, "usage: calibration_bench --db C [--shop DIR --styles CSV] [--street DIR] [--photos N --items N]\n");
    return 2;
  }
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  if (lk_engine_open(db, &eo, &e, &eb)) {
    fprintf(stderr, "%s\n", lk_err_msg(&eb));
    return 1;
  }
  /* fit on half 1, measure on half 2's pairs; the engine then answers with the half-1 fit */
  lk_calibrate_opts o;
  lk_calibrate_opts_default(&o);
  o.photos = photos;
  o.items = items;
  o.split = 1;
  lk_calibration cal;
  if (lk_calibration_compute(e, &o, &cal, &eb)) {
    fprintf(stderr, "%s\n", lk_err_msg(&eb));
    return 1;
  }
  o.split = 2;
  float *s = NULL;
  uint8_t *cls = NULL;
  size_t n = 0;
  if (lk_calibration_pairs(e, &o, &s, &cls, &n, &eb)) {
    fprintf(stderr, "%s\n", lk_err_msg(&eb));
    return 1;
  }
  printf("Catalog %s: %zu items; fitted on %d pairs of one half of the items (%d same product, %d same kind, %d other "
         "kind), measured on %zu pairs of the other half.\n",
         db, lk_engine_size(e), cal.pairs_product + cal.pairs_kind + cal.pairs_other, cal.pairs_product, cal.pairs_kind,
         cal.pairs_other, n);
  rel hk = {0}, hp = {0};
  long lab[5][2] = {{0}}; /* label -> pairs, of which same kind */
  for (size_t i = 0; i < n; i++) {
    lk_match m;
    lk_calibration_match(&cal, s[i], &m);
    int k = cls[i] & LK_CAL_CLASS; /* each probability measured on the pairs of its own fit */
    if (!(cls[i] & LK_CAL_KIND_FIT)) rel_add(&hp, m.p_product, k == LK_CAL_PRODUCT);
    if (cls[i] & LK_CAL_PRODUCT_FIT) continue;
    rel_add(&hk, m.p_kind, k != LK_CAL_OTHER);
    lab[m.label][0]++;
    lab[m.label][1] += k != LK_CAL_OTHER;
  }
  rel_print("Held-out catalog pairs, p_same_kind", &hk);
  rel_print("Held-out catalog pairs, p_same_product", &hp);
  printf("\n| label (held-out pairs) | pairs | of the same kind |\n|---|---:|---:|\n");
  for (int l = LK_MATCH_PRODUCT; l >= LK_MATCH_NONE; l--)
    if (lab[l][0]) printf("| %s | %ld | %.3f |\n", lk_match_label_name(l), lab[l][0], (double)lab[l][1] / lab[l][0]);
  free(s);
  free(cls);
  /* the photos are measured against the half-1 fit too (not the catalog's stored one) */
  if (shop && styles) {
    kinds k = {0};
    if (load_kinds(styles, &k)) return 1;
    DIR *d = opendir(shop);
    struct dirent *de;
    rel sk = {0}, sp = {0};
    long lab2[5][3] = {{0}}, inside = 0;
    while (d && (de = readdir(d))) {
      long id = atol(de->d_name);
      const char *want = id ? kind_of(&k, id) : NULL;
      if (!want) continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", shop, de->d_name);
      lk_hit h;
      lk_match m;
      if (best_of(e, &cal, path, &h, &m)) continue;
      const lk_item *it = lk_engine_item(e, h.id);
      int same = it && it->field[3] && !strcasecmp(it->field[3], want), self = h.id == id;
      inside += lk_engine_item(e, id) != NULL;
      rel_add(&sk, m.p_kind, same);
      rel_add(&sp, m.p_product, self);
      lab2[m.label][0]++;
      lab2[m.label][1] += same;
      lab2[m.label][2] += self;
    }
    if (d) closedir(d);
    printf("\nShop photos (%s; %ld of %ld products in the catalog), best hit:\n", shop, inside, sk.total);
    rel_print("Shop photos, p_same_kind (observed: the best hit has the photo's articleType)", &sk);
    rel_print("Shop photos, p_same_product (observed: the best hit is the product)", &sp);
    printf("\n| label of the best hit (shop photos) | photos | same kind | the product |\n|---|---:|---:|---:|\n");
    for (int l = LK_MATCH_PRODUCT; l >= LK_MATCH_NONE; l--)
      if (lab2[l][0])
        printf("| %s | %ld | %.3f | %.3f |\n", lk_match_label_name(l), lab2[l][0], (double)lab2[l][1] / lab2[l][0],
               (double)lab2[l][2] / lab2[l][0]);
  }
  if (street) {
    char lpath[4096];
    snprintf(lpath, sizeof lpath, "%s/labels.csv", street);
    FILE *f = fopen(lpath, "r");
    char line[4096];
    rel sk = {0};
    long lab3[5][2] = {{0}};
    while (f && fgets(line, sizeof line, f)) {
      char *img = strtok(line, ","), *label = strtok(NULL, ","), *types = strtok(NULL, "\r\n");
      if (!img || !label || !types || !strcmp(img, "image")) continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/images/%s.jpg", street, img);
      lk_hit h;
      lk_match m;
      if (best_of(e, &cal, path, &h, &m)) continue;
      const lk_item *it = lk_engine_item(e, h.id);
      int same = 0;
      char *save = NULL;
      for (char *t = strtok_r(types, ";", &save); t && it && it->field[3]; t = strtok_r(NULL, ";", &save))
        if (!strcasecmp(t, it->field[3])) same = 1;
      rel_add(&sk, m.p_kind, same);
      lab3[m.label][0]++;
      lab3[m.label][1] += same;
    }
    if (f) fclose(f);
    rel_print("\nStreet photos, p_same_kind (observed: the best hit is of a type the photo's label accepts)", &sk);
    printf("\n| label of the best hit (street photos) | photos | same kind |\n|---|---:|---:|\n");
    for (int l = LK_MATCH_PRODUCT; l >= LK_MATCH_NONE; l--)
      if (lab3[l][0]) printf("| %s | %ld | %.3f |\n", lk_match_label_name(l), lab3[l][0], (double)lab3[l][1] / lab3[l][0]);
  }
  lk_engine_close(e);
  return 0;
}
