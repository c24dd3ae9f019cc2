/* eval/eval.c — leave-one-out and same-product retrieval metrics (see eval.h), optionally
 * restricted to one split of the train/test split (tune/tune.h) for tuned catalogs. */
#include "eval/eval.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "catalog/csv.h"
#include "embed/embed.h"
#include "image/image.h"
#include "index/index.h"
#include "search/query.h"
#include "tune/tune.h"
#include "util/array.h"
#include "util/rng.h"
#include "util/clock.h"
#include "util/file.h"

double lk_eval_precision_at(const int *rel, int n, int k) {
  if (k <= 0) return 0;
  int c = 0;
  for (int i = 0; i < n && i < k; i++) c += rel[i] != 0;
  return (double)c / k;
}

double lk_eval_ap_at(const int *rel, int n, int k, long R) {
  if (R <= 0) return 0;
  double s = 0;
  int c = 0;
  for (int i = 0; i < n && i < k; i++) {
    if (!rel[i]) continue;
    c++;
    s += (double)c / (i + 1);
  }
  long denom = R < k ? R : k;
  return s / (double)denom;
}

static int same(const char *a, const char *b) { return a && b && !strcasecmp(a, b); }

typedef struct gal {
  int64_t id;
  const lk_item *it;
  const float *vec;
  int dupgroup;        /* items with the same content hash share a group */
  int dups;            /* other members of that group */
  long R[LK_EVAL_MAX_FIELDS]; /* relevant items for this query (excl. itself and its duplicates) */
} gal;

typedef struct sortref {
  const char *key;
  size_t idx;
} sortref;

static int cmp_key(const void *a, const void *b) {
  const char *x = ((const sortref *)a)->key, *y = ((const sortref *)b)->key;
  if (!x || !y) return (x != NULL) - (y != NULL);
  return strcasecmp(x, y);
}

static int cmp_group(const void *a, const void *b) {
  const lk_eval_group *x = a, *y = b;
  if (x->p10 != y->p10) return x->p10 < y->p10 ? -1 : 1;
  return strcmp(x->value, y->value);
}

/* Groups g[] by key(i) (NULL keys form no group). For each member calls back with the group's
 * size via sizes[idx] and a group number via groups[idx]. */
static int group_by(gal *g, size_t n, const char *(*key)(const gal *, int), int arg, long *sizes,
                    int *groups) {
  sortref *s = malloc(sizeof *s * (n + 1));
  if (!s) return LK_ENOMEM;
  for (size_t i = 0; i < n; i++) s[i] = (sortref){key(&g[i], arg), i};
  qsort(s, n, sizeof *s, cmp_key);
  int gno = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && s[i].key && s[j].key && !strcasecmp(s[i].key, s[j].key)) j++;
    for (size_t k = i; k < j; k++) {
      sizes[s[k].idx] = s[i].key ? (long)(j - i) : 0;
      if (groups) groups[s[k].idx] = s[i].key ? gno : -1 - (int)k;
    }
    gno++;
    i = j;
  }
  free(s);
  return 0;
}

static const char *key_hash(const gal *x, int arg) { (void)arg; return x->it->hash; }

static int in_scope(const lk_eval_scope *sc, int64_t id) {
  if (!sc || sc->holdout_mod <= 0) return 1;
  return lk_tune_is_holdout(id, sc->holdout_mod) == (sc->split == LK_EVAL_SPLIT_TEST);
}

/* Allow-bitmap over the index rows of the items in scope; *out NULL when no scope applies. */
static int scope_bitmap(const lk_engine *e, const lk_eval_scope *sc, uint64_t **out) {
  *out = NULL;
  if (!sc || sc->holdout_mod <= 0) return 0;
  const lk_index *ix = lk_engine_index(e);
  size_t n = lk_index_size(ix);
  uint64_t *bm = calloc(n / 64 + 1, sizeof *bm);
  if (!bm) return LK_ENOMEM;
  for (size_t i = 0; i < lk_engine_item_count(e); i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    int64_t r = lk_index_row(ix, it->id);
    if (r >= 0 && in_scope(sc, it->id)) bm[r / 64] |= 1ull << (r % 64);
  }
  *out = bm;
  return 0;
}
static const char *key_field(const gal *x, int f) { return x->it->field[f]; }

int lk_eval_loo(const lk_engine *e, const int *fields, int nfields, long sample, uint64_t seed,
                lk_eval_result *out, lk_errbuf *err) {
  return lk_eval_loo_scoped(e, NULL, fields, nfields, sample, seed, out, err);
}

/* The gallery of lk_eval_loo_scoped: the items in scope with a vector into g (*ng of them),
 * each with its duplicate group (by content hash) and, per field, R: the items with the same
 * value, minus the query and its same-valued duplicates. */
static int loo_gallery(const lk_engine *e, const lk_eval_scope *scope, const int *fields, int nfields, gal *g,
                       size_t *ng_out, lk_errbuf *err) {
  size_t nitems = lk_engine_item_count(e), ng = 0;
  long *sizes = calloc(nitems + 1, sizeof *sizes), *dsz = calloc(nitems + 1, sizeof *dsz);
  int *groups = calloc(nitems + 1, sizeof *groups), rc = 0;
  if (!sizes || !dsz || !groups) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nitems; i++) {
    const lk_item *it = lk_engine_item_at(e, i);
    const float *v = lk_engine_vector(e, it->id);
    if (v && in_scope(scope, it->id)) g[ng++] = (gal){.id = it->id, .it = it, .vec = v};
  }
  if (ng < 2) { rc = lk_err_set(err, LK_EINVAL, "the catalog needs at least 2 vectors"); goto out; }
  /* Duplicate groups by content hash. */
  if ((rc = group_by(g, ng, key_hash, 0, dsz, groups))) goto out;
  for (size_t i = 0; i < ng; i++) {
    g[i].dupgroup = groups[i];
    g[i].dups = dsz[i] > 0 ? (int)dsz[i] - 1 : 0;
  }
  /* R per field: items with the same value, minus the query and its same-valued duplicates. */
  for (int f = 0; f < nfields; f++) {
    if ((rc = group_by(g, ng, key_field, fields[f], sizes, NULL))) goto out;
    for (size_t i = 0; i < ng; i++) g[i].R[f] = sizes[i] > 0 ? sizes[i] - 1 : 0;
  }
  for (size_t i = 0; i < ng; i++) { /* subtract duplicates that share the value */
    if (!g[i].dups) continue;
    for (size_t j = 0; j < ng; j++) {
      if (j == i || g[j].dupgroup != g[i].dupgroup) continue;
      for (int f = 0; f < nfields; f++)
        if (same(g[i].it->field[fields[f]], g[j].it->field[fields[f]])) g[i].R[f]--;
    }
  }
  *ng_out = ng;
out:
  free(sizes);
  free(dsz);
  free(groups);
  return rc;
}

/* Sums of the leave-one-out metrics over the queries so far, per field. */
typedef struct loo_sums {
  double sum[LK_EVAL_MAX_FIELDS][4]; /* P@1, P@10, AP@10, R@10 */
  long cnt[LK_EVAL_MAX_FIELDS];
} loo_sums;

/* One query's P@10 into the per-value breakdown of fields[0] (at most LK_EVAL_MAX_GROUPS values). */
static void add_to_group(lk_eval_result *out, const char *want, double p10) {
  int gi;
  for (gi = 0; gi < out->ngroups; gi++)
    if (!strcasecmp(out->groups[gi].value, want)) break;
  if (gi == out->ngroups && out->ngroups < LK_EVAL_MAX_GROUPS) {
    snprintf(out->groups[gi].value, sizeof out->groups[gi].value, "%s", want);
    out->ngroups++;
  }
  if (gi < out->ngroups) {
    out->groups[gi].queries++;
    out->groups[gi].p10 += p10;
  }
}

/* Query qq's nh hits h (itself and its duplicates skipped, the first K kept) scored per field. */
static void loo_score(const lk_engine *e, const gal *qq, const lk_hit *h, int nh, int K, const int *fields,
                      int nfields, loo_sums *s, lk_eval_result *out) {
  const lk_item *res[64];
  int n = 0;
  for (int i = 0; i < nh && n < K; i++) {
    const lk_item *it = lk_engine_item(e, h[i].id);
    if (!it || it->id == qq->id) continue;
    if (qq->dups && it->hash && qq->it->hash && !strcmp(it->hash, qq->it->hash)) continue;
    res[n++] = it;
  }
  for (int f = 0; f < nfields; f++) {
    const char *want = qq->it->field[fields[f]];
    if (!want || qq->R[f] <= 0) continue;
    int rel[64];
    for (int i = 0; i < n; i++) rel[i] = same(res[i]->field[fields[f]], want);
    double p1 = lk_eval_precision_at(rel, n, 1), p10 = lk_eval_precision_at(rel, n, K);
    double ap = lk_eval_ap_at(rel, n, K, qq->R[f]);
    int found = 0;
    for (int i = 0; i < n; i++) found += rel[i];
    double r10 = (double)found / (double)(qq->R[f] < K ? qq->R[f] : K);
    s->sum[f][0] += p1; s->sum[f][1] += p10; s->sum[f][2] += ap; s->sum[f][3] += r10;
    s->cnt[f]++;
    if (f == 0) add_to_group(out, want, p10);
  }
}

/* The means of the sums into out, and the breakdown's means, worst first. */
static void loo_finish(const loo_sums *s, int nfields, lk_eval_result *out) {
  for (int f = 0; f < nfields; f++) {
    lk_eval_metrics *m = &out->m[f];
    m->queries = s->cnt[f];
    if (s->cnt[f]) {
      m->p1 = s->sum[f][0] / s->cnt[f];
      m->p10 = s->sum[f][1] / s->cnt[f];
      m->map10 = s->sum[f][2] / s->cnt[f];
      m->r10 = s->sum[f][3] / s->cnt[f];
    }
  }
  for (int gi = 0; gi < out->ngroups; gi++)
    if (out->groups[gi].queries) out->groups[gi].p10 /= out->groups[gi].queries;
  qsort(out->groups, (size_t)out->ngroups, sizeof *out->groups, cmp_group);
}

int lk_eval_loo_scoped(const lk_engine *e, const lk_eval_scope *scope, const int *fields, int nfields,
                       long sample, uint64_t seed, lk_eval_result *out, lk_errbuf *err) {
  memset(out, 0, sizeof *out);
  double t0 = lk_clock_now();
  if (nfields < 1 || nfields > LK_EVAL_MAX_FIELDS) return lk_err_set(err, LK_EINVAL, "1..%d fields", LK_EVAL_MAX_FIELDS);
  size_t nitems = lk_engine_item_count(e), ng = 0;
  int qdim = lk_engine_query_dim(e);
  int rc = 0;
  gal *g = calloc(nitems + 1, sizeof *g);
  size_t *order = NULL;
  float *q = NULL;
  lk_hit *hits = NULL;
  int *nf = NULL;
  uint64_t *allow = NULL;
  if (!g || scope_bitmap(e, scope, &allow)) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = loo_gallery(e, scope, fields, nfields, g, &ng, err))) goto out;
  for (int f = 0; f < nfields; f++) out->field[f] = fields[f];
  out->nfields = nfields;
  /* Sample of queries. */
  order = malloc(sizeof *order * ng);
  if (!order) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); goto out; }
  for (size_t i = 0; i < ng; i++) order[i] = i;
  size_t nq = sample > 0 && (size_t)sample < ng ? (size_t)sample : ng;
  uint64_t st = seed;
  for (size_t i = 0; i < nq; i++) {
    size_t j = i + (size_t)(lk_rng_next(&st) % (ng - i));
    size_t t = order[i]; order[i] = order[j]; order[j] = t;
  }
  out->sample = (long)nq;
  int maxdup = 0;
  for (size_t i = 0; i < ng; i++) if (g[i].dups > maxdup) maxdup = g[i].dups;
  int K = 10, kk = K + 1 + maxdup;
  if (kk > (int)ng) kk = (int)ng;
  const int B = 64;
  q = malloc(sizeof(float) * (size_t)B * qdim);
  hits = malloc(sizeof *hits * (size_t)B * kk);
  nf = malloc(sizeof *nf * B);
  if (!q || !hits || !nf) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); goto out; }
  loo_sums sums = {{{0}}, {0}};
  for (size_t b0 = 0; b0 < nq; b0 += B) {
    int nb = (int)(nq - b0 < (size_t)B ? nq - b0 : (size_t)B);
    /* the query's own vector only: with a label prior its labels are predicted, never read */
    for (int b = 0; b < nb; b++) lk_engine_make_query(e, g[order[b0 + b]].vec, q + (size_t)b * qdim);
    if ((rc = lk_engine_search_rows(e, q, nb, kk, allow, -1, hits, nf))) { lk_err_set(err, rc, "search failed"); goto out; }
    for (int b = 0; b < nb; b++)
      loo_score(e, &g[order[b0 + b]], hits + (size_t)b * kk, nf[b], K, fields, nfields, &sums, out);
  }
  loo_finish(&sums, nfields, out);
  out->seconds = lk_clock_now() - t0;
out:
  free(allow);
  free(g);
  free(order);
  free(q);
  free(hits);
  free(nf);
  return rc;
}

static int parse_id_name(const char *name, int64_t *id) {
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name) return -1;
  if (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png") && strcasecmp(dot, ".webp"))
    return -1;
  int64_t v = 0;
  for (const char *p = name; p < dot; p++) {
    if (*p < '0' || *p > '9' || v > INT64_MAX / 10) return -1;
    v = v * 10 + (*p - '0');
  }
  *id = v;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int lk_eval_same_product(lk_engine *e, const char *dir, long limit, lk_eval_same *out, lk_errbuf *err) {
  return lk_eval_same_product_scoped(e, NULL, dir, limit, NULL, 0, out, err);
}

int lk_eval_same_product_scoped(lk_engine *e, const lk_eval_scope *scope, const char *dir, long limit,
                                const int *fields, int nfields, lk_eval_same *out, lk_errbuf *err) {
  memset(out, 0, sizeof *out);
  if (nfields < 0 || nfields > LK_EVAL_MAX_FIELDS || (nfields && !fields))
    return lk_err_set(err, LK_EINVAL, "0..%d fields", LK_EVAL_MAX_FIELDS);
  out->nfields = nfields;
  for (int f = 0; f < nfields; f++) out->field[f] = fields[f];
  double t0 = lk_clock_now();
  uint64_t *allow = NULL;
  if (scope_bitmap(e, scope, &allow)) return lk_err_set(err, LK_ENOMEM, "out of memory");
  DIR *d = opendir(dir);
  if (!d) {
    free(allow);
    return lk_err_set(err, LK_EIO, "%s: cannot open folder", dir);
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d))) {
    int64_t id;
    if (parse_id_name(de->d_name, &id)) continue;
    if (LK_ARRAY_RESERVE(names, cap, n + 1, 256)) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); break; }
    if (!(names[n] = strdup(de->d_name))) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); break; }
    n++;
  }
  closedir(d);
  if (!rc) qsort(names, n, sizeof *names, cmp_str);
  lk_query q; /* the whole photo (or the photo and its crops), top 10, the engine's garment setting */
  lk_query_init(&q);
  q.multi_crop = scope && scope->multi_crop;
  lk_hit hits[10];
  int side = rc || n == 0 ? 0 : lk_engine_input_side(e, err); /* photos decoded as a search decodes them */
  if (side < 0) rc = side;
  for (size_t i = 0; i < n && !rc; i++) {
    int64_t id;
    parse_id_name(names[i], &id);
    if (!lk_engine_vector(e, id)) { out->missing++; continue; }
    if (!in_scope(scope, id)) { out->outside++; continue; }
    if (limit > 0 && out->queries >= limit) break;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    lk_image img = {0};
    lk_errbuf ie = {0};
    if (lk_image_load(path, NULL, side, &img, &ie)) { out->failed++; continue; }
    int nfound = 0; /* through the one photo query path, over the scope's gallery */
    rc = lk_query_search_image(e, &img, &q, allow, hits, &nfound, NULL, err);
    lk_image_free(&img);
    if (rc) break;
    out->queries++;
    const lk_item *own = lk_engine_item(e, id);
    for (int f = 0; f < nfields && own; f++) {
      const char *want = own->field[fields[f]];
      if (!want || !*want) continue;
      int rel = 0;
      for (int k = 0; k < nfound; k++) {
        const lk_item *it = lk_engine_item(e, hits[k].id);
        rel += it && same(it->field[fields[f]], want);
      }
      out->p10[f] += rel / 10.0;
      out->labelled[f]++;
    }
    for (int k = 0; k < nfound; k++) {
      const lk_item *it = lk_engine_item(e, hits[k].id);
      /* A byte-identical re-listing of the product is the same photo: it counts as found. */
      int twin = it && own && it->hash && own->hash && !strcmp(it->hash, own->hash);
      if (hits[k].id != id && !twin) continue;
      if (k == 0) out->at1++;
      out->at10++;
      break;
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  free(allow);
  for (int f = 0; f < nfields; f++)
    if (out->labelled[f]) out->p10[f] /= (double)out->labelled[f];
  out->seconds = lk_clock_now() - t0;
  return rc;
}

/* ---------------------------------------------------------------- street photos */

#define STREET_TYPES 32 /* articleTypes listed per label */

typedef struct street_acc {
  lk_eval_street_label *l;
  char *types[STREET_TYPES]; /* the label's articleTypes (first row's list) */
  int ntypes;
  double sum;
  char wrong[64][64];        /* wrong articleTypes seen in hits, with counts */
  long wrong_n[64];
  int nwrong;
} street_acc;

static int type_listed(const street_acc *a, const char *t) {
  for (int i = 0; i < a->ntypes; i++)
    if (same(a->types[i], t)) return 1;
  return 0;
}

static void street_wrong(street_acc *a, const char *t) {
  if (!t || !*t) return;
  for (int i = 0; i < a->nwrong; i++)
    if (same(a->wrong[i], t)) { a->wrong_n[i]++; return; }
  if (a->nwrong == 64) return;
  snprintf(a->wrong[a->nwrong], sizeof a->wrong[0], "%s", t);
  a->wrong_n[a->nwrong++] = 1;
}

static int cmp_street_label(const void *a, const void *b) {
  const lk_eval_street_label *x = a, *y = b;
  if (x->photos != y->photos) return x->photos < y->photos ? 1 : -1;
  return strcmp(x->name, y->name);
}

int lk_eval_street_photos(lk_engine *e, const char *dir, long limit, lk_eval_street *out, lk_errbuf *err) {
  memset(out, 0, sizeof *out);
  double t0 = lk_clock_now();
  int at = lk_filter_field("articleType");
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/labels.csv", dir) >= sizeof path)
    return lk_err_set(err, LK_EINVAL, "%s: path too long", dir);
  lk_csv *csv = NULL;
  int rc = lk_csv_open(path, NULL, &csv, err);
  if (rc) return rc;
  street_acc *acc = calloc(LK_EVAL_MAX_LABELS, sizeof *acc);
  if (!acc) {
    lk_csv_close(csv);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  char **f;
  int nf, col_img = -1, col_label = -1, col_types = -1, r;
  if ((r = lk_csv_next(csv, &f, &nf)) == 1) {
    for (int i = 0; i < nf; i++) {
      if (!strcasecmp(f[i], "image")) col_img = i;
      else if (!strcasecmp(f[i], "label")) col_label = i;
      else if (!strcasecmp(f[i], "articleTypes")) col_types = i;
    }
  }
  if (r < 0) rc = lk_err_set(err, r, "%s", lk_csv_error(csv));
  else if (col_img < 0 || col_label < 0 || col_types < 0)
    rc = lk_err_set(err, LK_EINVAL, "%s: needs the columns image, label and articleTypes", path);
  lk_query q; /* the whole photo, top 10, the engine's garment setting */
  lk_query_init(&q);
  lk_hit hits[10];
  while (!rc && (r = lk_csv_next(csv, &f, &nf)) == 1) {
    if (limit > 0 && out->photos >= limit) break;
    if (nf <= col_img || nf <= col_label || nf <= col_types || !*f[col_img] || !*f[col_label]) continue;
    street_acc *a = NULL;
    for (int i = 0; i < out->nlabels; i++)
      if (!strcmp(acc[i].l->name, f[col_label])) { a = &acc[i]; break; }
    if (!a) {
      if (out->nlabels == LK_EVAL_MAX_LABELS) {
        rc = lk_err_set(err, LK_ETOOBIG, "%s: more than %d labels", path, LK_EVAL_MAX_LABELS);
        break;
      }
      a = &acc[out->nlabels];
      a->l = &out->label[out->nlabels++];
      snprintf(a->l->name, sizeof a->l->name, "%s", f[col_label]);
      char *types = strdup(f[col_types]), *save = NULL;
      if (!types) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); break; }
      for (char *t = strtok_r(types, ";", &save); t && a->ntypes < STREET_TYPES; t = strtok_r(NULL, ";", &save))
        if (!(a->types[a->ntypes++] = strdup(t))) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      free(types);
      if (rc) break;
      for (size_t i = 0; i < lk_engine_item_count(e); i++) {
        const lk_item *it = lk_engine_item_at(e, i);
        if (lk_engine_vector(e, it->id) && type_listed(a, it->field[at])) a->l->gallery++;
      }
    }
    const char *img_name = f[col_img];
    int n = snprintf(path, sizeof path, "%s/images/%s", dir, img_name);
    if (n > 0 && (size_t)n < sizeof path && !strchr(img_name, '.') && (size_t)n + 4 < sizeof path) strcat(path, ".jpg");
    uint8_t *photo = NULL;
    size_t len = 0;
    lk_errbuf ie = {0};
    if (strchr(img_name, '/') || lk_file_read(path, LK_IMAGE_MAX_BYTES, &photo, &len, NULL, &ie)) {
      out->failed++;
      continue;
    }
    int nfound = 0;
    lk_search_info info = {0};
    rc = lk_engine_search_photo(e, photo, len, &q, hits, &nfound, &info, err); /* as HTTP and the CLI search it */
    free(photo);
    if (rc && info.stage == LK_SEARCH_DECODE) { /* not a readable photo */
      rc = 0;
      out->failed++;
      continue;
    }
    if (rc) break;
    int rel = 0;
    for (int k = 0; k < nfound; k++) {
      const lk_item *it = lk_engine_item(e, hits[k].id);
      const char *t = it ? it->field[at] : NULL;
      if (t && type_listed(a, t)) rel++;
      else street_wrong(a, t);
    }
    a->sum += rel / 10.0;
    a->l->photos++;
    out->photos++;
    out->micro_p10 += rel / 10.0;
  }
  if (!rc && r < 0) rc = lk_err_set(err, r, "%s", lk_csv_error(csv));
  lk_csv_close(csv);
  int used = 0;
  for (int i = 0; i < out->nlabels; i++) {
    street_acc *a = &acc[i];
    if (a->l->photos) {
      a->l->p10 = a->sum / (double)a->l->photos;
      out->macro_p10 += a->l->p10;
      used++;
    }
    long best = 0;
    for (int w = 0; w < a->nwrong; w++)
      if (a->wrong_n[w] > best) {
        best = a->wrong_n[w];
        snprintf(a->l->top_wrong, sizeof a->l->top_wrong, "%s", a->wrong[w]);
      }
    for (int t = 0; t < a->ntypes; t++) free(a->types[t]);
  }
  free(acc);
  if (out->photos) out->micro_p10 /= (double)out->photos;
  if (used) out->macro_p10 /= used;
  qsort(out->label, (size_t)out->nlabels, sizeof out->label[0], cmp_street_label);
  out->seconds = lk_clock_now() - t0;
  if (!rc && !out->photos) rc = lk_err_set(err, LK_ENOTFOUND, "%s: no photo could be searched", dir);
  return rc;
}
