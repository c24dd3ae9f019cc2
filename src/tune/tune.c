/* tune/tune.c — the train/test split, a catalog's vectors and labels in memory, and the tuned
 * catalog writer (see tune.h), and street-like views of the training photos embedded on worker
 * threads (tune/augment.h makes them). The optimiser itself is tune/train.c. */
#include "tune/tune.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "embed/embed.h"
#include "image/image.h"
#include "tune/augment.h"
#include "util/file.h"
#include "util/id.h"
#include "util/array.h"
#include "util/size.h"
#include "util/rng.h"

#define SPLIT_SALT 0x6c6f6f6b616c696bull /* "lookalik": a split unrelated to index --sample */
#define MAX_ROW_BYTES (1u << 20)

uint64_t lk_tune_hash(int64_t id) { return lk_rng_mix((uint64_t)id ^ SPLIT_SALT); }

int lk_tune_is_holdout(int64_t id, int mod) {
  return mod > 0 && lk_tune_hash(id) % (uint64_t)mod == 0;
}

/* Reads one CSV record (up to and including its newline; quotes may hold newlines) into *buf.
 * Returns its length, 0 at end of file, or a negative code. */
static long read_record(FILE *f, char **buf, size_t *cap) {
  size_t n = 0;
  int q = 0, c;
  while ((c = getc(f)) != EOF) {
    if (n + 2 > *cap) {
      size_t nc;
      if (lk_array_grow_cap(*cap, n + 2, 4096, 1, &nc) || nc > MAX_ROW_BYTES + 2) return LK_ETOOBIG;
      if (LK_ARRAY_RESIZE(*buf, nc)) return LK_ENOMEM;
      *cap = nc;
    }
    (*buf)[n++] = (char)c;
    if (c == '"') q = !q;
    else if (c == '\n' && !q) break;
  }
  if (ferror(f)) return LK_EIO;
  if (n) (*buf)[n] = '\0';
  return (long)n;
}

/* The id at the start of a record ("123," or "\"123\","); -1 when there is none. */
static int parse_id(const char *s, int64_t *id) {
  if (*s == '"') s++;
  if (lk_id_parse_prefix(s, id, &s)) return -1;
  if (*s == '"') s++;
  return *s == ',' || *s == '\n' || *s == '\r' || *s == '\0' ? 0 : -1;
}

int lk_tune_split_csv(const char *csv_path, int mod, int want_test, FILE *out, long *rows_out,
                      lk_errbuf *err) {
  FILE *f;
  int rc = lk_file_fopen(csv_path, &f, NULL, err);
  if (rc) return rc;
  char *buf = NULL;
  size_t cap = 0;
  long n, line = 0, rows = 0;
  while ((n = read_record(f, &buf, &cap)) > 0) {
    int64_t id;
    line++;
    int keep = line == 1 || (parse_id(buf, &id) == 0 && lk_tune_is_holdout(id, mod) == !!want_test);
    if (!keep) continue;
    if (fwrite(buf, 1, (size_t)n, out) != (size_t)n) {
      rc = lk_err_set(err, LK_EIO, "writing the split: %s", strerror(errno));
      break;
    }
    rows += line > 1;
  }
  if (!rc && n < 0)
    rc = lk_err_set(err, (int)n, "%s: record %ld: %s", csv_path, line + 1,
                    n == LK_ETOOBIG ? "longer than 1 MiB (unterminated quote?)" : lk_strerror((int)n));
  free(buf);
  fclose(f);
  if (rows_out) *rows_out = rows;
  return rc;
}

/* ---------------------------------------------------------------- loading */

typedef struct loader {
  lk_tune_set *s;
  size_t cap;            /* rows allocated */
  /* items by id, for labels: kept from the item pass */
  int64_t *iid;
  char **ilab;           /* nitems * nlabels strdup'd values (NULL = none) */
  char **ihash;
  char **ipath;
  size_t ni, icap;
} loader;

static int item_cb(void *ctx, const lk_item *it) {
  loader *L = ctx;
  int nl = L->s->nlabels;
  if (L->ni == L->icap) {
    size_t nc, nl2;
    int rc = lk_array_grow_cap(L->icap, L->ni + 1, 1024, sizeof(char *), &nc);
    if (rc || lk_size_mul(nc, (size_t)nl, &nl2)) return LK_ETOOBIG;
    if ((rc = LK_ARRAY_RESIZE(L->iid, nc)) || (rc = LK_ARRAY_RESIZE(L->ilab, nl2)) ||
        (rc = LK_ARRAY_RESIZE(L->ihash, nc)) || (rc = LK_ARRAY_RESIZE(L->ipath, nc)))
      return rc;
    L->icap = nc;
  }
  size_t i = L->ni;
  L->iid[i] = it->id;
  L->ihash[i] = it->hash ? strdup(it->hash) : NULL;
  L->ipath[i] = it->path ? strdup(it->path) : NULL;
  L->ni++; /* counted now so cleanup frees what was copied even on failure below */
  for (int f = 0; f < nl; f++) L->ilab[i * nl + f] = NULL;
  if ((it->hash && !L->ihash[i]) || (it->path && !L->ipath[i])) return LK_ENOMEM;
  for (int f = 0; f < nl; f++) {
    const char *v = it->field[L->s->field[f]];
    if (v && *v && !(L->ilab[i * nl + f] = strdup(v))) return LK_ENOMEM;
  }
  return 0;
}

static int vector_cb(void *ctx, int64_t id, const float *v, int dim) {
  loader *L = ctx;
  lk_tune_set *s = L->s;
  if (!s->dim) s->dim = dim;
  if (dim != s->dim) return LK_ECORRUPT;
  if ((size_t)s->n == L->cap) {
    size_t nc, nx;
    int rc = lk_array_grow_cap(L->cap, (size_t)s->n + 1, 4096, sizeof(int64_t), &nc);
    if (rc || lk_size_mul(nc, (size_t)dim, &nx)) return LK_ETOOBIG;
    if ((rc = LK_ARRAY_RESIZE(s->x, nx)) || (rc = LK_ARRAY_RESIZE(s->id, nc))) return rc;
    L->cap = nc;
  }
  s->id[s->n] = id;
  memcpy(s->x + (size_t)s->n * dim, v, sizeof(float) * dim);
  s->n++;
  return 0;
}

void lk_tune_set_free(lk_tune_set *s) {
  if (!s) return;
  free(s->id);
  free(s->x);
  free(s->y);
  free(s->dup);
  free(s->test);
  if (s->path)
    for (long i = 0; i < s->n; i++) free(s->path[i]);
  free(s->path);
  for (int f = 0; f < s->nlabels; f++) {
    for (int c = 0; c < s->nclass[f]; c++) free(s->cname[f][c]);
    free(s->cname[f]);
  }
  lk_recipe_clear(&s->recipe);
  free(s);
}

typedef struct keyref {
  const char *key;
  long row;
} keyref;

static int cmp_keyref(const void *a, const void *b) {
  const keyref *x = a, *y = b;
  int c = strcasecmp(x->key, y->key);
  return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* Numbers the distinct values (case-insensitive) of keys[0..n) (NULL = none -> -1) into out;
 * names: the values, in order of first row (NULL when not wanted). */
static int number_values(const char **keys, long n, int32_t *out, int *ncls, char ***names, int maxcls) {
  keyref *k = malloc(sizeof *k * (size_t)(n + 1));
  if (!k) return LK_ENOMEM;
  long m = 0;
  for (long i = 0; i < n; i++) {
    out[i] = -1;
    if (keys[i]) k[m++] = (keyref){keys[i], i};
  }
  qsort(k, (size_t)m, sizeof *k, cmp_keyref);
  int nc = 0, rc = 0;
  char **nm = NULL;
  for (long i = 0; i < m;) {
    long j = i + 1;
    while (j < m && !strcasecmp(k[i].key, k[j].key)) j++;
    if (nc == maxcls) { rc = LK_ETOOBIG; break; }
    if (names) {
      char **p = realloc(nm, sizeof *p * (size_t)(nc + 1));
      if (!p || !(p[nc] = strdup(k[i].key))) {
        if (p) nm = p;
        rc = LK_ENOMEM;
        break;
      }
      nm = p;
    }
    for (long t = i; t < j; t++) out[k[t].row] = nc;
    nc++;
    i = j;
  }
  free(k);
  if (rc) {
    for (int c = 0; names && c < nc; c++) free(nm[c]);
    free(nm);
    return rc;
  }
  *ncls = nc;
  if (names) *names = nm;
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int lk_tune_load(const char *db_path, const char *const *fields, int nfields, int holdout_mod,
                 lk_tune_set **out, lk_errbuf *err) {
  *out = NULL;
  if (nfields < 1 || nfields > LK_TUNE_MAX_LABELS)
    return lk_err_set(err, LK_EINVAL, "1..%d label fields", LK_TUNE_MAX_LABELS);
  lk_tune_set *s = calloc(1, sizeof *s);
  if (!s) return lk_err_set(err, LK_ENOMEM, "out of memory");
  s->nlabels = nfields;
  for (int f = 0; f < nfields; f++) {
    int k = -1;
    for (int j = 0; j < LK_NFIELDS; j++)
      if (!strcasecmp(fields[f], lk_catalog_fields[j])) k = j;
    if (k < 0) {
      lk_tune_set_free(s);
      return lk_err_set(err, LK_EINVAL, "unknown label field '%s'", fields[f]);
    }
    s->field[f] = k;
  }
  loader L = {.s = s};
  lk_catalog *cat = NULL;
  char *rj = NULL;
  const char **keys = NULL;
  int rc = lk_catalog_open(db_path, LK_CATALOG_READONLY, &cat, err);
  if (rc) goto out;
  if ((rc = lk_catalog_get_meta(cat, "recipe", &rj))) {
    rc = lk_err_set(err, LK_ECORRUPT, "%s: catalog has no recipe (was it indexed?)", db_path);
    goto out;
  }
  if ((rc = lk_recipe_from_json(rj, &s->recipe, err))) goto out;
  if (s->recipe.proj) {
    char *src = NULL;
    lk_catalog_get_meta(cat, "tuned_from", &src);
    rc = lk_err_set(err, LK_EINVAL, "%s is already tuned: tune its source catalog%s%s instead (it "
                    "keeps the raw vectors)", db_path, src ? " " : "", src ? src : "");
    free(src);
    goto out;
  }
  if ((rc = lk_catalog_foreach_item(cat, item_cb, &L))) {
    lk_catalog_fail(cat, rc, err, "%s: reading items", db_path);
    goto out;
  }
  if ((rc = lk_catalog_foreach_vector(cat, vector_cb, &L))) {
    lk_catalog_fail(cat, rc, err, "%s: reading vectors", db_path);
    goto out;
  }
  if (s->n < 2) {
    rc = lk_err_set(err, LK_EINVAL, "%s: fewer than 2 vectors", db_path);
    goto out;
  }
  size_t ny;
  if (lk_size_mul((size_t)s->n, (size_t)nfields, &ny)) { rc = lk_err_set(err, LK_ETOOBIG, "too many rows"); goto out; }
  s->y = malloc(ny * sizeof *s->y);
  s->dup = malloc((size_t)s->n * sizeof *s->dup);
  s->test = malloc((size_t)s->n);
  s->path = calloc((size_t)s->n, sizeof *s->path);
  keys = malloc((size_t)s->n * sizeof *keys);
  int32_t *col = malloc((size_t)s->n * sizeof *col);
  if (!s->y || !s->dup || !s->test || !s->path || !keys || !col) {
    free(col);
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  /* Items come in id order, as do vectors: find each vector's item by binary search. */
  long *irow = malloc((size_t)s->n * sizeof *irow);
  if (!irow) {
    free(col);
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (long i = 0; i < s->n; i++) {
    int64_t *p = L.ni ? bsearch(&s->id[i], L.iid, L.ni, sizeof *L.iid, cmp_i64) : NULL;
    irow[i] = p ? (long)(p - L.iid) : -1;
    s->test[i] = (uint8_t)lk_tune_is_holdout(s->id[i], holdout_mod);
    if (irow[i] >= 0) { /* moved, not copied */
      s->path[i] = L.ipath[irow[i]];
      L.ipath[irow[i]] = NULL;
    }
  }
  for (int f = 0; f < nfields && !rc; f++) {
    for (long i = 0; i < s->n; i++) keys[i] = irow[i] >= 0 ? L.ilab[(size_t)irow[i] * nfields + f] : NULL;
    rc = number_values(keys, s->n, col, &s->nclass[f], &s->cname[f], LK_TUNE_MAX_CLASSES);
    for (long i = 0; i < s->n && !rc; i++) s->y[(size_t)i * nfields + f] = col[i];
  }
  if (!rc) {
    int nd = 0;
    for (long i = 0; i < s->n; i++) keys[i] = irow[i] >= 0 ? L.ihash[irow[i]] : NULL;
    rc = number_values(keys, s->n, s->dup, &nd, NULL, INT32_MAX);
  }
  if (!rc) { /* a group of one is no duplicate */
    int32_t *cnt = calloc((size_t)s->n + 1, sizeof *cnt);
    if (!cnt) rc = LK_ENOMEM;
    for (long i = 0; !rc && i < s->n; i++) if (s->dup[i] >= 0) cnt[s->dup[i]]++;
    for (long i = 0; !rc && i < s->n; i++) if (s->dup[i] >= 0 && cnt[s->dup[i]] < 2) s->dup[i] = -1;
    free(cnt);
  }
  free(col);
  free(irow);
  if (rc) lk_err_set(err, rc, rc == LK_ETOOBIG ? "a label field has more than %d values" : "out of memory",
                     LK_TUNE_MAX_CLASSES);
out:
  for (size_t i = 0; i < L.ni; i++) {
    for (int f = 0; f < nfields; f++) free(L.ilab[i * nfields + f]);
    free(L.ihash[i]);
    free(L.ipath[i]);
  }
  free(L.iid);
  free(L.ipath);
  free(L.ilab);
  free(L.ihash);
  free(keys);
  free(rj);
  lk_catalog_close(cat);
  if (rc) {
    lk_tune_set_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---------------------------------------------------------------- writing */

#define WBATCH 256

typedef struct writer {
  lk_catalog *dst;
  const lk_projection *p;
  int in, out;
  int64_t ids[WBATCH];
  float *x, *y;
  int n;
  lk_errbuf *err;
} writer;

static int copy_item(void *ctx, const lk_item *it) {
  writer *w = ctx;
  return lk_catalog_put_item(w->dst, it);
}

static int flush(writer *w) {
  int rc = lk_projection_apply(w->p, w->x, w->n, w->y, w->err);
  for (int i = 0; i < w->n && !rc; i++) rc = lk_catalog_put_vector(w->dst, w->ids[i], w->y + (size_t)i * w->out, w->out);
  w->n = 0;
  return rc;
}

static int copy_vector(void *ctx, int64_t id, const float *v, int dim) {
  writer *w = ctx;
  if (dim != w->in) return LK_EMISMATCH;
  w->ids[w->n] = id;
  memcpy(w->x + (size_t)w->n * dim, v, sizeof(float) * dim);
  return ++w->n == WBATCH ? flush(w) : 0;
}

int lk_tune_write(const char *src_path, const char *dst_path, const lk_recipe *tuned, lk_errbuf *err) {
  if (!tuned->proj) return lk_err_set(err, LK_EINVAL, "the recipe has no projection");
  if (access(dst_path, F_OK) == 0) return lk_err_set(err, LK_EINVAL, "%s exists (remove it first)", dst_path);
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", dst_path) >= sizeof tmp)
    return lk_err_set(err, LK_EINVAL, "output path too long");
  const char *sfx[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < 4; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s%s", tmp, sfx[i]);
    unlink(p); /* leftovers of an interrupted run */
  }
  lk_catalog *src = NULL, *dst = NULL;
  char *rj = NULL, *js = NULL;
  lk_recipe base = {0}, stripped;
  writer w = {.p = tuned->proj, .in = lk_projection_in(tuned->proj), .out = lk_projection_out(tuned->proj), .err = err};
  int rc = lk_catalog_open(src_path, LK_CATALOG_READONLY, &src, err);
  if (rc) goto out;
  if ((rc = lk_catalog_get_meta(src, "recipe", &rj)) || (rc = lk_recipe_from_json(rj, &base, err))) {
    rc = lk_err_set(err, LK_ECORRUPT, "%s: no readable recipe", src_path);
    goto out;
  }
  stripped = *tuned;
  stripped.proj = NULL;
  stripped.prescale = base.prescale; /* queries only, for catalogs of small photos: see tune.h */
  snprintf(stripped.name, sizeof stripped.name, "%s", base.name);
  char a[17], b[17], tid[17], dimtxt[16];
  lk_recipe_id(&stripped, a);
  lk_recipe_id(&base, b);
  if (strcmp(a, b)) {
    rc = lk_err_set(err, LK_EMISMATCH, "%s was made with recipe %s, the tuned recipe starts from %s", src_path, b, a);
    goto out;
  }
  w.x = malloc(sizeof(float) * WBATCH * (size_t)w.in);
  w.y = malloc(sizeof(float) * WBATCH * (size_t)w.out);
  js = lk_recipe_to_json(tuned);
  if (!w.x || !w.y || !js) { rc = lk_err_set(err, LK_ENOMEM, "out of memory"); goto out; }
  if ((rc = lk_catalog_open(tmp, LK_CATALOG_CREATE, &dst, err))) goto out;
  if ((rc = lk_catalog_begin(dst))) goto db_fail;
  w.dst = dst;
  if ((rc = lk_catalog_foreach_item(src, copy_item, &w))) goto db_fail;
  if ((rc = lk_catalog_foreach_vector(src, copy_vector, &w)) || (w.n && (rc = flush(&w)))) {
    if (rc == LK_EMISMATCH) rc = lk_err_set(err, rc, "%s: vectors are not %d-dimensional", src_path, w.in);
    else if (err && !err->code) lk_catalog_fail(dst, rc, err, NULL);
    goto out;
  }
  lk_recipe_id(tuned, tid);
  snprintf(dimtxt, sizeof dimtxt, "%d", w.out);
  if ((rc = lk_catalog_set_meta(dst, "recipe", js)) || (rc = lk_catalog_set_meta(dst, "recipe_id", tid)) ||
      (rc = lk_catalog_set_meta(dst, "dim", dimtxt)) || (rc = lk_catalog_set_meta(dst, "tuned_from", src_path)) ||
      (rc = lk_catalog_set_meta(dst, "source_recipe_id", b)) || (rc = lk_catalog_commit(dst)))
    goto db_fail;
  lk_catalog_close(dst);
  dst = NULL;
  if (rename(tmp, dst_path)) rc = lk_err_set(err, LK_EIO, "renaming %s: %s", tmp, strerror(errno));
  goto out;
db_fail:
  lk_catalog_fail(dst ? dst : src, rc, err, "%s", tmp);
out:
  if (dst) {
    lk_catalog_rollback(dst);
    lk_catalog_close(dst);
  }
  if (rc) unlink(tmp);
  lk_catalog_close(src);
  lk_recipe_clear(&base);
  free(rj);
  free(js);
  free(w.x);
  free(w.y);
  return rc;
}

/* ---------------------------------------------------------------- street-like views */

typedef struct views_job {
  const lk_tune_set *s;
  const long *rows;      /* set rows to take views of */
  long nrows;
  int views;
  uint64_t seed;
  const char *models_dir;
  float *x;              /* nrows * views rows */
  uint8_t *ok;           /* nrows: 1 = the photo was read */
  pthread_mutex_t lock;
  long next, done;       /* next row to take; rows finished */
  int rc;
  lk_errbuf err;
  int (*progress)(void *ctx, long done, long total);
  void *ctx;
} views_job;

#define VIEW_SIDE 112 /* the canvas; a recipe's prescale (80) shrinks it further */
#define VIEW_BATCH 8

/* Embeds the nb views in batch into their slots of j->x and frees them; nb = 0 after. */
static int views_flush(views_job *j, lk_embedder *emb, lk_image *batch, const long *slot, int *nb, float *out,
                       int rc, lk_errbuf *err) {
  int dim = j->s->dim;
  if (!rc && *nb > 0) rc = lk_embedder_run(emb, batch, *nb, out, err);
  for (int b = 0; b < *nb; b++) {
    if (!rc) memcpy(j->x + (size_t)slot[b] * dim, out + (size_t)b * dim, sizeof(float) * dim);
    lk_image_free(&batch[b]);
  }
  *nb = 0;
  return rc;
}

static void *views_worker(void *arg) {
  views_job *j = arg;
  lk_embedder *emb = NULL;
  lk_embedder_opts eo;
  lk_embedder_opts_default(&eo);
  eo.threads = 1;
  eo.max_batch = VIEW_BATCH;
  lk_errbuf err = {0};
  int rc = lk_embedder_new(&j->s->recipe, j->models_dir, &eo, &emb, &err);
  int dim = j->s->dim;
  if (!rc && lk_embedder_dim(emb) != dim)
    rc = lk_err_set(&err, LK_EMISMATCH, "the recipe makes %d-d vectors, the catalog holds %d-d", lk_embedder_dim(emb), dim);
  lk_image batch[VIEW_BATCH];
  long slot[VIEW_BATCH];
  int nb = 0;
  float *out = rc ? NULL : malloc(sizeof(float) * (size_t)dim * VIEW_BATCH);
  if (!rc && !out) rc = lk_err_set(&err, LK_ENOMEM, "out of memory");
  for (;;) {
    long r = -1;
    pthread_mutex_lock(&j->lock);
    if (rc && !j->rc) {
      j->rc = rc;
      j->err = err;
    }
    if (!j->rc && j->next < j->nrows) r = j->next++;
    pthread_mutex_unlock(&j->lock);
    lk_image src = {0};
    lk_errbuf ie = {0};
    int have = r >= 0 && j->s->path[j->rows[r]] && !lk_image_load(j->s->path[j->rows[r]], NULL, 0, &src, &ie);
    for (int v = 0; have && v < j->views && !rc; v++) {
      if (nb == VIEW_BATCH && (rc = views_flush(j, emb, batch, slot, &nb, out, rc, &err))) break;
      uint64_t seed = j->seed ^ ((uint64_t)j->s->id[j->rows[r]] * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)v << 56);
      if ((rc = lk_augment_view(&src, VIEW_SIDE, seed, &batch[nb]))) {
        lk_err_set(&err, rc, "making a view: %s", lk_strerror(rc));
        break;
      }
      slot[nb++] = r * j->views + v;
    }
    if (have) j->ok[r] = 1;
    lk_image_free(&src);
    /* a full batch, or the last one, or an error: embed what is waiting (frees it either way) */
    if (nb > 0 && (nb + j->views > VIEW_BATCH || r < 0 || rc)) rc = views_flush(j, emb, batch, slot, &nb, out, rc, &err);
    if (r < 0) break;
    pthread_mutex_lock(&j->lock);
    long done = ++j->done;
    int stop = !j->rc && j->progress && j->progress(j->ctx, done, j->nrows);
    if (stop && !j->rc) {
      j->rc = LK_EINTR;
      lk_err_set(&j->err, LK_EINTR, "interrupted");
    }
    pthread_mutex_unlock(&j->lock);
  }
  pthread_mutex_lock(&j->lock);
  if (rc && !j->rc) {
    j->rc = rc;
    j->err = err;
  }
  pthread_mutex_unlock(&j->lock);
  free(out);
  lk_embedder_free(emb);
  return NULL;
}

int lk_tune_embed_views(const lk_tune_set *s, const uint8_t *use, int views, int threads,
                        const char *models_dir, uint64_t seed,
                        int (*progress)(void *ctx, long done, long total), void *ctx,
                        float **x, long **src, long *nviews, long *skipped, lk_errbuf *err) {
  *x = NULL;
  *src = NULL;
  *nviews = *skipped = 0;
  if (views < 1 || views > 64) return lk_err_set(err, LK_EINVAL, "views per photo must be 1..64");
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  char dir[4096];
  int rc = lk_embed_find_models(models_dir, dir, sizeof dir, err);
  if (rc) return rc;
  views_job j = {.s = s, .views = views, .seed = seed, .models_dir = dir, .progress = progress, .ctx = ctx};
  long *rows = malloc(sizeof *rows * (size_t)s->n);
  size_t nx;
  if (!rows) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (long i = 0; i < s->n; i++)
    if (!use || use[i]) rows[j.nrows++] = i;
  if (lk_size_mul((size_t)j.nrows * (size_t)views, (size_t)s->dim, &nx)) {
    free(rows);
    return lk_err_set(err, LK_ETOOBIG, "too many views");
  }
  j.rows = rows;
  j.x = malloc(sizeof(float) * (nx ? nx : 1));
  j.ok = calloc((size_t)j.nrows + 1, 1);
  if (!j.x || !j.ok) {
    free(rows);
    free(j.x);
    free(j.ok);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&j.lock, NULL);
  pthread_t th[64];
  int started = 0;
  for (int t = 0; t < threads; t++) {
    if (pthread_create(&th[t], NULL, views_worker, &j)) break;
    started++;
  }
  if (!started) views_worker(&j);
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  pthread_mutex_destroy(&j.lock);
  rc = j.rc;
  if (rc) lk_err_set(err, rc, "%s", lk_err_msg(&j.err));
  long *sr = rc ? NULL : malloc(sizeof *sr * ((size_t)j.nrows * views + 1));
  if (!rc && !sr) rc = lk_err_set(err, LK_ENOMEM, "out of memory");
  long m = 0;
  for (long r = 0; !rc && r < j.nrows; r++) { /* compact: drop the photos that could not be read */
    if (!j.ok[r]) { (*skipped)++; continue; }
    for (int v = 0; v < views; v++, m++) {
      if (m != r * views + v) memmove(j.x + (size_t)m * s->dim, j.x + (size_t)(r * views + v) * s->dim, sizeof(float) * s->dim);
      sr[m] = rows[r];
    }
  }
  free(rows);
  free(j.ok);
  if (rc) {
    free(j.x);
    free(sr);
    return rc;
  }
  *x = j.x;
  *src = sr;
  *nviews = m;
  return 0;
}
