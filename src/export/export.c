/* export/export.c — `lookalike export` (formats in export.h). The items' metadata is read
 * into memory first (a few hundred bytes per item); the vectors then stream through in id
 * order and each one is written with its item, so memory stays small for any catalog size. */
#include "export/export.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/csv.h"
#include "search/results.h"
#include "util/array.h"
#include "util/file.h"
#include "util/size.h"
#include "util/utf8.h"

#define NTEXT (LK_NFIELDS + 2) /* the fields, path, extra: the text columns of milvus and npy */
#define NPY_HEADER 128         /* bytes of every .npy header we write (magic included) */

static const char *text_name(int k) {
  return k < LK_NFIELDS ? lk_catalog_fields[k] : k == LK_NFIELDS ? "path" : "extra";
}

static const char *text_value(const lk_item *it, int k) {
  return k < LK_NFIELDS ? it->field[k] : k == LK_NFIELDS ? it->path : it->extra;
}

typedef lk_file_out outfile; /* temp -> fsync -> rename (util/file.h) */

typedef struct exporter {
  const lk_export_opts *o;
  lk_export_stats *st;
  lk_errbuf *err;
  lk_item *items; /* all items, id order (the catalog's foreach order) */
  size_t n, cap, next;
  int dim;
  outfile f;      /* jsonl, pgvector, the current qdrant/milvus batch file */
  long in_file, file_no;
  outfile npy[2 + NTEXT]; /* id, vector, text columns */
  int width[NTEXT];       /* npy: characters per text value */
  int begun;              /* begin() done (at the first vector, which tells the dimension) */
  int cb_rc;              /* an error of ours from the vector callback (message in err) */
  int vbytes[NTEXT];      /* milvus: longest value in bytes */
} exporter;

void lk_export_opts_default(lk_export_opts *o) {
  memset(o, 0, sizeof *o);
  o->format = LK_EXPORT_JSONL;
  o->name = "lookalike";
}

int lk_export_format_parse(const char *s, int *out) {
  static const char *const names[] = {"jsonl", "qdrant", "milvus", "pgvector", "npy", "csv"};
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (!strcmp(s, names[i])) {
      *out = i;
      return 0;
    }
  return LK_EINVAL;
}

/* ------------------------------------------------------------------ files */

static int file_open(exporter *x, outfile *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int file_open(exporter *x, outfile *f, const char *fmt, ...) {
  char path[PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(path, sizeof path, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof path) return lk_err_set(x->err, LK_EINVAL, "output path too long");
  return lk_file_out_open(f, path, x->err);
}

/* Flushes, syncs and renames a complete file into place. */
static int file_close(exporter *x, outfile *f) {
  if (!f->fp) return 0;
  int rc = lk_file_out_commit(f, x->err);
  if (!rc) x->st->files++;
  return rc;
}

static void file_abandon(outfile *f) { lk_file_out_abandon(f); }

static int make_dir(exporter *x, const char *dir) {
  struct stat sb;
  if (mkdir(dir, 0755) == 0 || (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))) return 0;
  return lk_err_set(x->err, LK_EIO, "%s: %s", dir, errno == EEXIST ? "exists and is not a folder" : strerror(errno));
}

/* ------------------------------------------------------------------ writing values */

static void put_vector(FILE *fp, const float *v, int dim) {
  fputc('[', fp);
  for (int i = 0; i < dim; i++) fprintf(fp, i ? ",%.9g" : "%.9g", (double)v[i]);
  fputc(']', fp);
}

/* A JSON string of s (valid UTF-8 forced), or null for NULL. */
static json_t *jstr(const char *s) { return lk_results_text(s); }

/* The item as a JSON object. Loose (jsonl, qdrant): "path", the known fields and "extra" (the
 * other styles.csv columns as an object), absent when unknown. Strict (milvus): every text
 * column, "" when unknown, extra as JSON text. */
static json_t *item_json(const lk_item *it, int strict) {
  json_t *o = json_object();
  if (!o) return NULL;
  for (int k = 0; k < NTEXT; k++) {
    const char *v = text_value(it, k);
    if (!strict && k == NTEXT - 1 && v) { /* extra: parse back into an object */
      json_t *e = json_loads(v, 0, NULL);
      if (e && json_object_set_new(o, "extra", e)) goto fail;
      if (e) continue;
    }
    if (!v && !strict) continue;
    json_t *s = jstr(v ? v : "");
    if (!s || json_object_set_new(o, text_name(k), s)) goto fail;
  }
  return o;
fail:
  json_decref(o);
  return NULL;
}

/* Writes {"id":ID,"vector":[...]<rest of obj>} (obj's members follow the vector). */
static int put_record(exporter *x, FILE *fp, const char *prefix, int64_t id, const float *v, json_t *obj,
                      const char *wrap) {
  char *txt = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!txt) return lk_err_set(x->err, LK_ENOMEM, "out of memory");
  fprintf(fp, "%s{\"id\":%lld,\"vector\":", prefix, (long long)id);
  put_vector(fp, v, x->dim);
  if (wrap) fprintf(fp, ",\"%s\":%s}", wrap, txt);
  else if (strlen(txt) > 2) fprintf(fp, ",%s", txt + 1);
  else fputc('}', fp);
  free(txt);
  return 0;
}

/* COPY text format: backslash, tab, newline and carriage return escaped; NULL is \N. */
static void copy_text(FILE *fp, const char *s) {
  if (!s) {
    fputs("\\N", fp);
    return;
  }
  char *fixed = NULL;
  if (lk_utf8_fix(s, &fixed) == 0 && fixed) s = fixed;
  for (const char *p = s; *p; p++) {
    switch (*p) {
    case '\\': fputs("\\\\", fp); break;
    case '\t': fputs("\\t", fp); break;
    case '\n': fputs("\\n", fp); break;
    case '\r': fputs("\\r", fp); break;
    default: fputc(*p, fp);
    }
  }
  free(fixed);
}

static int npy_header(FILE *fp, const char *descr, size_t n, int dim) {
  char dict[NPY_HEADER];
  int len = dim > 0 ? snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %d), }",
                               descr, n, dim)
                    : snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, n);
  int hl = NPY_HEADER - 10;
  if (len < 0 || len >= hl) return -1;
  memset(dict + len, ' ', (size_t)(hl - len - 1));
  dict[hl - 1] = '\n';
  unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
  if (fseek(fp, 0, SEEK_SET)) return -1;
  return fwrite(magic, 1, 10, fp) == 10 && fwrite(dict, 1, (size_t)hl, fp) == (size_t)hl ? 0 : -1;
}

static void put_le32(FILE *fp, uint32_t u) {
  unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
  fwrite(b, 1, 4, fp);
}

/* s as `width` UTF-32LE code units (U+FFFD for bad bytes), zero-padded. */
static void put_utf32(FILE *fp, const char *s, int width) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  int n = 0;
  while (*p && n < width) {
    int l = lk_utf8_len(p);
    uint32_t cp;
    if (!l) cp = 0xFFFD, l = 1;
    else if (l == 1) cp = p[0];
    else if (l == 2) cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    else if (l == 3) cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    else cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    put_le32(fp, cp);
    p += l;
    n++;
  }
  for (; n < width; n++) put_le32(fp, 0);
}

/* ------------------------------------------------------------------ per format */

static int begin_batch_file(exporter *x, const char *stem, const char *open) {
  if (x->f.fp && x->in_file < x->o->batch) return 0;
  if (x->f.fp) {
    fputs("\n]}\n", x->f.fp);
    int rc = file_close(x, &x->f);
    if (rc) return rc;
  }
  x->in_file = 0;
  int rc = file_open(x, &x->f, "%s/%s-%05ld.json", x->o->out, stem, ++x->file_no);
  if (!rc) fputs(open, x->f.fp);
  return rc;
}

static int write_one(exporter *x, const lk_item *it, const float *v) {
  const lk_export_opts *o = x->o;
  int rc = 0;
  json_t *obj = NULL;
  switch (o->format) {
  case LK_EXPORT_JSONL:
    if (!(obj = item_json(it, 0))) return lk_err_set(x->err, LK_ENOMEM, "out of memory");
    rc = put_record(x, x->f.fp, "", it->id, v, obj, NULL);
    fputc('\n', x->f.fp);
    break;
  case LK_EXPORT_QDRANT:
    if ((rc = begin_batch_file(x, "points", "{\"points\":[\n"))) return rc;
    if (!(obj = item_json(it, 0))) return lk_err_set(x->err, LK_ENOMEM, "out of memory");
    rc = put_record(x, x->f.fp, x->in_file ? ",\n" : "", it->id, v, obj, "payload");
    x->in_file++;
    break;
  case LK_EXPORT_MILVUS:
    if ((rc = begin_batch_file(x, "rows", "{\"rows\":[\n"))) return rc;
    if (!(obj = item_json(it, 1))) return lk_err_set(x->err, LK_ENOMEM, "out of memory");
    rc = put_record(x, x->f.fp, x->in_file ? ",\n" : "", it->id, v, obj, NULL);
    x->in_file++;
    break;
  case LK_EXPORT_PGVECTOR: {
    FILE *fp = x->f.fp;
    fprintf(fp, "%lld\t", (long long)it->id);
    put_vector(fp, v, x->dim);
    for (int k = 0; k < NTEXT; k++) {
      fputc('\t', fp);
      copy_text(fp, text_value(it, k));
    }
    fputc('\n', fp);
    break;
  }
  case LK_EXPORT_CSV: {
    FILE *fp = x->f.fp;
    fprintf(fp, "%lld", (long long)it->id);
    for (int k = 0; k < NTEXT; k++) {
      fputc(',', fp);
      lk_csv_put(fp, text_value(it, k));
    }
    for (int i = 0; i < x->dim; i++) fprintf(fp, ",%.9g", (double)v[i]);
    fputc('\n', fp);
    break;
  }
  case LK_EXPORT_NPY: {
    int64_t id = it->id;
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)id >> (8 * i));
    fwrite(b, 1, 8, x->npy[0].fp);
    for (int i = 0; i < x->dim; i++) {
      uint32_t u;
      memcpy(&u, &v[i], 4);
      put_le32(x->npy[1].fp, u);
    }
    for (int k = 0; k < NTEXT; k++) put_utf32(x->npy[2 + k].fp, text_value(it, k), x->width[k]);
    break;
  }
  }
  json_decref(obj);
  return rc;
}

/* Everything before the first record; needs the dimension (from the catalog's meta or the
 * first vector). */
static int begin(exporter *x) {
  const lk_export_opts *o = x->o;
  int rc = 0;
  switch (o->format) {
  case LK_EXPORT_JSONL: return file_open(x, &x->f, "%s", o->out);
  case LK_EXPORT_CSV: {
    if ((rc = file_open(x, &x->f, "%s", o->out))) return rc;
    fputs("id", x->f.fp);
    for (int k = 0; k < NTEXT; k++) fprintf(x->f.fp, ",%s", text_name(k));
    for (int i = 0; i < x->dim; i++) fprintf(x->f.fp, ",v%d", i);
    fputc('\n', x->f.fp);
    return 0;
  }
  case LK_EXPORT_PGVECTOR: {
    if ((rc = file_open(x, &x->f, "%s", o->out))) return rc;
    FILE *fp = x->f.fp;
    fprintf(fp,
            "-- lookalike export: the catalog's vectors (%d-d, unit length: use cosine distance) and\n"
            "-- metadata for pgvector. Load with: psql -v ON_ERROR_STOP=1 -f THIS_FILE postgresql://...\n"
            "CREATE EXTENSION IF NOT EXISTS vector;\n"
            "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, embedding vector(%d)",
            x->dim, o->name, x->dim);
    for (int k = 0; k < NTEXT; k++) {
      char col[64];
      snprintf(col, sizeof col, "%s", text_name(k));
      for (char *p = col; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
      fprintf(fp, ", %s %s", col, k == NTEXT - 1 ? "jsonb" : "text");
    }
    fprintf(fp, ");\nCOPY %s (id, embedding", o->name);
    for (int k = 0; k < NTEXT; k++) {
      char col[64];
      snprintf(col, sizeof col, "%s", text_name(k));
      for (char *p = col; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
      fprintf(fp, ", %s", col);
    }
    fputs(") FROM stdin;\n", fp);
    return 0;
  }
  case LK_EXPORT_QDRANT: {
    outfile c = {0};
    if ((rc = make_dir(x, o->out)) || (rc = file_open(x, &c, "%s/collection.json", o->out))) return rc;
    fprintf(c.fp, "{\"vectors\":{\"size\":%d,\"distance\":\"Cosine\"}}\n", x->dim);
    return file_close(x, &c);
  }
  case LK_EXPORT_MILVUS: {
    outfile c = {0};
    if ((rc = make_dir(x, o->out)) || (rc = file_open(x, &c, "%s/schema.json", o->out))) return rc;
    json_t *fields = json_array(), *s;
    json_array_append_new(fields, json_pack("{s:s, s:s, s:b}", "name", "id", "type", "INT64", "is_primary", 1));
    json_array_append_new(fields, json_pack("{s:s, s:s, s:i}", "name", "vector", "type", "FLOAT_VECTOR", "dim", x->dim));
    for (int k = 0; k < NTEXT; k++) {
      int ml = (x->vbytes[k] + 63) / 64 * 64; /* the longest value, rounded up */
      json_array_append_new(fields, json_pack("{s:s, s:s, s:i}", "name", text_name(k), "type", "VARCHAR",
                                              "max_length", ml < 64 ? 64 : ml > 65535 ? 65535 : ml));
    }
    s = json_pack("{s:s, s:s, s:o}", "collection_name", o->name, "metric_type", "COSINE", "fields", fields);
    rc = s && json_dumpf(s, c.fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : lk_err_set(x->err, LK_ENOMEM, "out of memory");
    json_decref(s);
    if (rc) {
      file_abandon(&c);
      return rc;
    }
    fputc('\n', c.fp);
    return file_close(x, &c);
  }
  case LK_EXPORT_NPY: {
    if ((rc = make_dir(x, o->out))) return rc;
    for (int k = 0; k < 2 + NTEXT && !rc; k++) {
      rc = file_open(x, &x->npy[k], "%s/%s.npy", o->out, k == 0 ? "id" : k == 1 ? "vector" : text_name(k - 2));
      if (!rc && fseek(x->npy[k].fp, NPY_HEADER, SEEK_SET)) rc = lk_err_set(x->err, LK_EIO, "%s: seek failed", x->npy[k].tmp);
    }
    return rc;
  }
  }
  return lk_err_set(x->err, LK_EINVAL, "unknown export format");
}

static int finish(exporter *x) {
  int rc = 0;
  switch (x->o->format) {
  case LK_EXPORT_JSONL:
  case LK_EXPORT_CSV: return file_close(x, &x->f);
  case LK_EXPORT_PGVECTOR:
    fprintf(x->f.fp, "\\.\n-- nearest neighbours by cosine distance (ORDER BY embedding <=> '[...]')\n"
                     "CREATE INDEX IF NOT EXISTS %s_embedding ON %s USING hnsw (embedding vector_cosine_ops);\n",
            x->o->name, x->o->name);
    return file_close(x, &x->f);
  case LK_EXPORT_QDRANT:
  case LK_EXPORT_MILVUS:
    if (!x->f.fp) return 0;
    fputs("\n]}\n", x->f.fp);
    return file_close(x, &x->f);
  case LK_EXPORT_NPY: {
    size_t n = (size_t)x->st->exported;
    for (int k = 0; k < 2 + NTEXT && !rc; k++) {
      char descr[16];
      if (k == 0) snprintf(descr, sizeof descr, "<i8");
      else if (k == 1) snprintf(descr, sizeof descr, "<f4");
      else snprintf(descr, sizeof descr, "<U%d", x->width[k - 2]);
      if (npy_header(x->npy[k].fp, descr, n, k == 1 ? x->dim : 0))
        rc = lk_err_set(x->err, LK_EIO, "%s: cannot write the header", x->npy[k].tmp);
      else
        rc = file_close(x, &x->npy[k]);
    }
    return rc;
  }
  }
  return rc;
}

/* ------------------------------------------------------------------ reading the catalog */

static char *dupz(const char *s, int *bad) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *bad = 1;
  return d;
}

static int item_cb(void *ctx, const lk_item *it) {
  exporter *x = ctx;
  if (LK_ARRAY_RESERVE(x->items, x->cap, x->n + 1, 1024)) return LK_ENOMEM;
  lk_item *d = &x->items[x->n++];
  memset(d, 0, sizeof *d);
  int bad = 0;
  d->id = it->id;
  d->path = dupz(it->path, &bad);
  for (int k = 0; k < LK_NFIELDS; k++) d->field[k] = dupz(it->field[k], &bad);
  d->extra = dupz(it->extra, &bad);
  if (bad) return LK_ENOMEM;
  for (int k = 0; k < NTEXT; k++) {
    const char *v = text_value(d, k);
    if (!v) continue;
    long w = lk_utf8_count(v), b = (long)strlen(v) * 3; /* bytes after U+FFFD repair, at most */
    if (w > x->width[k]) x->width[k] = w > 1000000 ? 1000000 : (int)w;
    if (b > x->vbytes[k]) x->vbytes[k] = b > 1000000 ? 1000000 : (int)b;
  }
  return 0;
}

static int vector_cb2(exporter *x, int64_t id, const float *v, int dim);
static int vector_cb(void *ctx, int64_t id, const float *v, int dim) {
  exporter *x = ctx;
  int rc = 0;
  if (!x->begun) {
    if (x->dim <= 0) x->dim = dim;
    x->begun = 1;
    rc = begin(x);
  }
  if (!rc) rc = vector_cb2(x, id, v, dim);
  return x->cb_rc = rc;
}

static int vector_cb2(exporter *x, int64_t id, const float *v, int dim) {
  while (x->next < x->n && x->items[x->next].id < id) x->next++;
  if (x->next >= x->n || x->items[x->next].id != id)
    return lk_err_set(x->err, LK_ECORRUPT, "vector %lld has no item (run `lookalike check`)", (long long)id);
  if (dim != x->dim)
    return lk_err_set(x->err, LK_ECORRUPT, "vector %lld has %d dimensions, the catalog %d", (long long)id, dim, x->dim);
  for (int i = 0; i < dim; i++)
    if (!isfinite(v[i])) return lk_err_set(x->err, LK_ECORRUPT, "vector %lld is not finite", (long long)id);
  int rc = write_one(x, &x->items[x->next], v);
  if (!rc) x->st->exported++;
  return rc;
}

static int name_ok(const char *s) {
  if (!s || !*s || strlen(s) > 63 || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++)
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return 0;
  return 1;
}

int lk_export_run(const lk_export_opts *opts, lk_export_stats *st, lk_errbuf *err) {
  memset(st, 0, sizeof *st);
  lk_export_opts o = *opts;
  if (!o.name) o.name = "lookalike";
  if (o.batch <= 0) o.batch = o.format == LK_EXPORT_QDRANT ? 256 : 10000;
  if (!o.db || !o.out) return lk_err_set(err, LK_EINVAL, "export: --db and --out are required");
  if (!name_ok(o.name)) return lk_err_set(err, LK_EINVAL, "export: the name '%s' is not [A-Za-z_][A-Za-z0-9_]* (at most 63)", o.name);
  if (o.format < LK_EXPORT_JSONL || o.format > LK_EXPORT_CSV) return lk_err_set(err, LK_EINVAL, "export: unknown format");
  exporter x = {.o = &o, .st = st, .err = err};
  lk_catalog *cat = NULL;
  char *dimtxt = NULL;
  int rc = lk_catalog_open(o.db, LK_CATALOG_READONLY, &cat, err);
  if (rc) return rc;
  /* one read-only snapshot for the items and the vectors (PostgreSQL) */
  if ((rc = lk_catalog_foreach_item(cat, item_cb, &x))) {
    if (rc == LK_ENOMEM) lk_err_set(err, rc, "out of memory");
    else lk_catalog_fail(cat, rc, err, NULL);
    goto out;
  }
  st->items = (long)x.n;
  rc = lk_catalog_get_meta(cat, "dim", &dimtxt);
  x.dim = rc == 0 ? atoi(dimtxt) : 0; /* else the first vector tells */
  if (x.dim < 0 || x.dim > (1 << 20)) x.dim = 0;
  for (int k = 0; k < NTEXT; k++)
    if (x.width[k] < 1) x.width[k] = 1;
  rc = lk_catalog_foreach_vector(cat, vector_cb, &x);
  if (rc) {
    if (!x.cb_rc) lk_catalog_fail(cat, rc, err, NULL);
    goto out;
  }
  if (!x.begun) { /* no vectors: the files are still made, empty */
    if (x.dim <= 0) x.dim = 1;
    if ((rc = begin(&x))) goto out;
  }
  st->dim = x.dim;
  st->skipped = st->items - st->exported;
  rc = finish(&x);
out:
  file_abandon(&x.f);
  for (int k = 0; k < 2 + NTEXT; k++) file_abandon(&x.npy[k]);
  for (size_t i = 0; i < x.n; i++) lk_item_clear(&x.items[i]);
  free(x.items);
  free(dimtxt);
  lk_catalog_close(cat);
  return rc;
}
