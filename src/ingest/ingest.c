/* ingest/ingest.c — the indexing pass behind `lookalike index` (see ingest.h). */
#include "ingest/ingest.h"

#include <ctype.h>
#include <pthread.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/catalog.h"
#include "catalog/csv.h"
#include "embed/embed.h"
#include "image/image.h"
#include "nn/model.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/id.h"
#include "util/rng.h"
#include "util/array.h"
#include "util/size.h"
#include "util/utf8.h"
#include "util/clock.h"

#define COMMIT_EVERY 256

typedef struct row {
  int64_t id;
  long line; /* in styles.csv */
  char *field[LK_NFIELDS];
  char *extra; /* JSON of extra columns or NULL */
} row;

typedef struct photo {
  int64_t id;
  char *name;
} photo;

typedef struct old_item {
  int64_t id;
  char *hash, *status;
  int64_t size, mtime;
  char *field[LK_NFIELDS];
  char *extra;
  char *source; /* lk_item_source */
  int seen;
} old_item;

typedef struct vec_t {
  void *p;
  size_t n, cap;
} vec_t;

static int vec_push(vec_t *v, const void *elem, size_t sz) {
  if (lk_array_reserve(&v->p, &v->cap, v->n + 1, sz, 256)) return LK_ENOMEM;
  memcpy((char *)v->p + v->n * sz, elem, sz);
  v->n++;
  return 0;
}

void lk_ingest_opts_default(lk_ingest_opts *o) {
  memset(o, 0, sizeof *o);
  o->batch = 8;
  o->backend = LK_BACKEND_DNNL;
}

static void report(const lk_ingest_opts *o, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(const lk_ingest_opts *o, int64_t id, const char *fmt, ...) {
  if (!o->report) return;
  char buf[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lk_utf8_scrub(buf); /* a cut-off or foreign name must not make the message invalid UTF-8 (JSON) */
  o->report(o->ctx, id, buf);
}

static int cmp_row(const void *a, const void *b) { /* by id, then line: the first row first */
  const row *p = a, *q = b;
  if (p->id != q->id) return (p->id > q->id) - (p->id < q->id);
  return (p->line > q->line) - (p->line < q->line);
}
static int cmp_row_id(const void *a, const void *b) {
  int64_t x = ((const row *)a)->id, y = ((const row *)b)->id;
  return (x > y) - (x < y);
}
static int cmp_photo(const void *a, const void *b) { /* by id, then name: a stable pick among twins */
  const photo *p = a, *q = b;
  return p->id != q->id ? (p->id > q->id) - (p->id < q->id) : strcmp(p->name, q->name);
}
static int cmp_old(const void *a, const void *b) {
  int64_t x = ((const old_item *)a)->id, y = ((const old_item *)b)->id;
  return (x > y) - (x < y);
}

static void free_row(row *r) {
  for (int i = 0; i < LK_NFIELDS; i++) free(r->field[i]);
  free(r->extra);
}

/* A problem with styles.csv (a row, or the header as line 1): reported; under --strict it
 * refuses the file instead (LK_ECORRUPT with the message in err; nothing has been written yet,
 * as styles.csv is read whole before the catalog is opened). Returns 0 or that code. */
static int csv_problem(const lk_ingest_opts *o, int64_t id, lk_errbuf *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int csv_problem(const lk_ingest_opts *o, int64_t id, lk_errbuf *err, const char *fmt, ...) {
  char buf[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lk_utf8_scrub(buf);
  if (o->strict) return lk_err_set(err, LK_ECORRUPT, "%s (--strict: nothing indexed)", buf);
  report(o, id, "%s", buf);
  return 0;
}

/* s without leading and trailing blanks (and a stray byte order mark), in place. */
static char *trim(char *s) {
  for (;;) {
    if (*s == ' ' || *s == '\t') s++;
    else if (!strncmp(s, "\xEF\xBB\xBF", 3)) s += 3;
    else break;
  }
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
  return s;
}

/* A header name: trimmed, and out of the quotes a blank before the opening one left in. */
static char *header_name(char *s) {
  s = trim(s);
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    s[n - 1] = '\0';
    s = trim(s + 1);
  }
  return s;
}

/* Is a styles.csv year plausible: digits only (blanks around allowed), 1..9999? */
static int year_ok(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  long v = 0;
  int digits = 0;
  for (; *s >= '0' && *s <= '9'; s++)
    if (++digits > 4 || (v = v * 10 + (*s - '0')) > 9999) return 0;
  while (*s == ' ' || *s == '\t') s++;
  return digits && !*s && v >= 1;
}

/* Where styles.csv's text first needed decoding (for the one report saying so). */
typedef struct recode_note {
  long line;
  char column[64];
} recode_note;

/* *out = val decoded from the --encoding into UTF-8 (malloc'd; NULL for an empty value).
 * LK_ECORRUPT (message in err) for bytes that are not UTF-8 under --encoding utf-8. */
static int decode_field(const lk_ingest_opts *o, const char *val, long line, const char *col,
                        lk_ingest_stats *st, recode_note *note, char **out, lk_errbuf *err) {
  *out = NULL;
  if (!val[0]) return 0;
  char *d = NULL;
  long rec = 0;
  size_t bad = 0;
  int rc = lk_utf8_decode(val, o->encoding, &d, &rec, &bad);
  if (rc == LK_ECORRUPT)
    return lk_err_set(err, rc,
                      "%s line %ld, column '%s': byte 0x%02X is not UTF-8; pass --encoding cp1252 "
                      "(or latin1) if the file is in that encoding, or save it as \"CSV UTF-8\"",
                      o->styles_csv, line, col, (unsigned char)val[bad]);
  if (rc) return lk_err_set(err, rc, "out of memory");
  if (rec) {
    if (!st->recoded++) {
      note->line = line;
      snprintf(note->column, sizeof note->column, "%s", col);
    }
  }
  *out = d ? d : strdup(val);
  return *out ? 0 : lk_err_set(err, LK_ENOMEM, "out of memory");
}

/* The separator of a header line that has no ',' but a ';', a tab or a '|' (a European
 * spreadsheet's export), else 0. */
static int other_separator(char **f, int nf) {
  if (nf != 1) return 0;
  return strchr(f[0], ';') ? ';' : strchr(f[0], '\t') ? '\t' : strchr(f[0], '|') ? '|' : 0;
}

/* The separator an Excel "sep=X" first line names ("sep=," reads as "sep=" and ""), else 0. */
static int sep_line(char **f, int nf) {
  if (nf > 2 || strncasecmp(f[0], "sep=", 4) || (nf == 2 && (f[0][4] || f[1][0]))) return 0;
  int d = nf == 2 ? ',' : (unsigned char)f[0][4];
  return (d == ',' || d == ';' || d == '\t' || d == '|') && (nf == 2 || !f[0][5]) ? d : 0;
}

/* Opens styles.csv at its header row (*f, *nf; *hline its line, *delim the separator): an
 * Excel "sep=X" line is followed, and a header that is one column holding ';', tab or '|' is
 * read again with it. */
static int open_styles(const lk_ingest_opts *o, lk_csv **out, char ***f, int *nf, long *hline,
                       int *delim, lk_errbuf *err) {
  lk_csv_limits lim = {0};
  int sep = 0, rc;
  for (;;) {
    lk_csv *csv;
    if ((rc = lk_csv_open(o->styles_csv, &lim, &csv, err))) return rc;
    rc = lk_csv_next(csv, f, nf);
    if (rc > 0 && sep) rc = lk_csv_next(csv, f, nf); /* the header after the sep= line */
    if (rc <= 0) {
      if (rc == 0) rc = lk_err_set(err, LK_ECORRUPT, "%s: empty file (expected a header row)", o->styles_csv);
      else lk_err_set(err, rc, "%s: %s", o->styles_csv, lk_csv_error(csv));
      lk_csv_close(csv);
      return rc;
    }
    int d = 0;
    if (!sep && (sep = sep_line(*f, *nf)) != 0) d = sep;
    else if (!sep && !lim.delim) d = other_separator(*f, *nf);
    if (!d || (d == ',' && !sep)) {
      *out = csv;
      *hline = lk_csv_line(csv);
      *delim = lim.delim ? lim.delim : ',';
      if (lim.delim && lim.delim != ',') report(o, -1, "%s: the columns are separated by '%s'; read as such", o->styles_csv,
                            lim.delim == '\t' ? "\\t" : lim.delim == '|' ? "|" : ";");
      return 0;
    }
    lim.delim = d; /* read it again with that separator */
    lk_csv_close(csv);
  }
}

/* styles.csv being read: the header's columns and where they go (read_styles). */
typedef struct styles {
  const lk_ingest_opts *o;
  lk_ingest_stats *st;
  lk_errbuf *err;
  lk_csv *csv;
  long hline;        /* the header's line */
  int delim;         /* the separator */
  int ncols, idcol, yearcol;
  char **names;      /* ncols column names (decoded; "column N" for an empty one) */
  int map[1024];     /* per column: an lk_catalog_fields index, -1 id, -2 extra, -3 ignored */
  recode_note note;
} styles;

/* Names the header's columns (s->names, s->map, s->idcol, s->yearcol): duplicates are reported
 * (the second ignored); a header without an 'id' column is refused. */
static int read_header(styles *s, char **f) {
  const lk_ingest_opts *o = s->o;
  lk_errbuf *err = s->err;
  int rc;
  s->idcol = s->yearcol = -1;
  if (!(s->names = calloc((size_t)s->ncols, sizeof *s->names))) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (int i = 0; i < s->ncols && i < 1024; i++) {
    char col[16];
    snprintf(col, sizeof col, "column %d", i + 1);
    if ((rc = decode_field(o, header_name(f[i]), s->hline, col, s->st, &s->note, &s->names[i], err))) return rc;
    if (!s->names[i] && !(s->names[i] = strdup(col))) return lk_err_set(err, LK_ENOMEM, "out of memory");
    s->map[i] = -2; /* extra column */
    if (!strcasecmp(s->names[i], "id")) s->map[i] = -1;
    for (int k = 0; k < LK_NFIELDS; k++)
      if (!strcasecmp(s->names[i], lk_catalog_fields[k])) s->map[i] = k;
    for (int j = 0; j < i; j++)
      if (s->map[j] != -3 && !strcasecmp(s->names[j], s->names[i])) {
        if ((rc = csv_problem(o, -1, err, "%s line %ld: column '%s' appears twice (columns %d and %d); "
                              "the second is ignored", o->styles_csv, s->hline, s->names[i], j + 1, i + 1)))
          return rc;
        s->map[i] = -3; /* ignored */
        break;
      }
    if (s->map[i] == -1) s->idcol = i;
    if (s->map[i] == 6) s->yearcol = i;
  }
  if (s->idcol >= 0) return 0;
  char seen[256] = "";
  for (int i = 0; i < s->ncols && i < 8; i++) {
    size_t n = strlen(seen);
    snprintf(seen + n, sizeof seen - n, "%s'%.24s'", i ? ", " : "", s->names[i]);
  }
  return lk_err_set(err, LK_ECORRUPT,
                    "%s: no 'id' column in the header (line %ld has %d column%s: %s%s); the first line "
                    "must name the columns, e.g. id,gender,masterCategory,...", o->styles_csv, s->hline, s->ncols,
                    s->ncols == 1 ? "" : "s", seen, s->ncols > 8 ? ", ..." : "");
}

/* Reports a row's odd shape (NUL bytes, too few or too many fields); *odd = 1 if it has one. */
static int row_shape(styles *s, const row *r, int nf, int *odd) {
  const lk_ingest_opts *o = s->o;
  long nuls = lk_csv_nuls(s->csv);
  int rc = 0;
  if (nuls) {
    *odd = 1;
    if ((rc = csv_problem(o, r->id, s->err, "%s line %ld: %ld NUL byte%s left out", o->styles_csv, r->line,
                          nuls, nuls == 1 ? "" : "s")))
      return rc;
  }
  if (nf < s->ncols) {
    *odd = 1;
    rc = csv_problem(o, r->id, s->err, "%s line %ld: %d of %d columns, the rest left empty", o->styles_csv, r->line,
                     nf, s->ncols);
  } else if (nf > s->ncols) {
    *odd = 1;
    rc = csv_problem(o, r->id, s->err,
                     "%s line %ld: %d fields for %d columns (a '%c' in a value that is not "
                     "in quotes?); fields %d to %d joined into '%s'; quote the value to fix it",
                     o->styles_csv, r->line, nf, s->ncols, s->delim == '\t' ? ' ' : s->delim, s->ncols, nf,
                     s->names[s->ncols - 1]);
  }
  return rc;
}

/* Fields from..nf-1 joined by the separator into *out (malloc'd): the spill-over of an
 * unquoted separator, kept in the last column. */
static int join_fields(char **f, int from, int nf, int delim, char **out) {
  size_t len = 1; /* the NUL */
  int over = 0;
  for (int j = from; j < nf; j++) over |= lk_size_add(len, strlen(f[j]) + 1, &len);
  if (over || !(*out = malloc(len))) return LK_ENOMEM;
  char *q = *out;
  for (int j = from; j < nf; j++) {
    if (j > from) *q++ = (char)delim;
    size_t n = strlen(f[j]);
    memcpy(q, f[j], n);
    q += n;
  }
  *q = '\0';
  return 0;
}

/* The values of a row into r->field (label columns) and *extra (other columns; created on the
 * first), decoded and trimmed; an implausible year is reported (*odd = 1) and kept as text. */
static int row_values(styles *s, char **f, int nf, row *r, json_t **extra, int *odd) {
  const lk_ingest_opts *o = s->o;
  int lastcol = s->ncols - 1, rc;
  for (int i = 0; i < nf && i < s->ncols && i < 1024; i++) {
    char *val = f[i], *joined = NULL, *text = NULL;
    if (i == lastcol && nf > s->ncols) {
      if (join_fields(f, i, nf, s->delim, &joined)) return lk_err_set(s->err, LK_ENOMEM, "out of memory");
      val = joined;
    }
    if (s->map[i] == -3 || s->map[i] == -1) { free(joined); continue; }
    rc = decode_field(o, trim(val), r->line, s->names[i], s->st, &s->note, &text, s->err); /* blanks around a
                                             value are a spreadsheet's, not the shop's */
    free(joined);
    if (rc) return rc;
    if (!text) continue;
    if (i == s->yearcol && !year_ok(text)) {
      *odd = 1;
      if ((rc = csv_problem(o, r->id, s->err, "%s line %ld: year '%.40s' is not a year from 1 to 9999; "
                            "kept as text", o->styles_csv, r->line, text))) {
        free(text);
        return rc;
      }
    }
    if (s->map[i] >= 0) {
      r->field[s->map[i]] = text;
      continue;
    }
    json_t *js = (*extra || (*extra = json_object())) ? json_string(text) : NULL;
    free(text);
    if (!js || json_object_set_new(*extra, s->names[i], js)) return lk_err_set(s->err, LK_ENOMEM, "out of memory");
  }
  return 0;
}

/* One data row (fields f[0..nf-1]) onto rows; a blank line or an invalid id (reported) adds
 * nothing. */
static int read_row(styles *s, char **f, int nf, vec_t *rows) {
  const lk_ingest_opts *o = s->o;
  lk_ingest_stats *st = s->st;
  int rc;
  st->rows++;
  row r = {.line = lk_csv_line(s->csv)};
  if (nf == 1 && f[0][0] == '\0' && !lk_csv_nuls(s->csv)) { st->rows--; return 0; } /* blank line */
  const char *idf = s->idcol < nf ? trim(f[s->idcol]) : "";
  if (lk_id_parse(idf, strlen(idf), &r.id)) {
    st->bad_rows++;
    return csv_problem(o, -1, s->err, "%s line %ld: invalid id '%.40s', row skipped", o->styles_csv, r.line, idf);
  }
  int odd = 0;
  json_t *extra = NULL;
  if (!(rc = row_shape(s, &r, nf, &odd))) rc = row_values(s, f, nf, &r, &extra, &odd);
  if (!rc) {
    st->odd_rows += odd;
    if (extra && !(r.extra = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS)))
      rc = lk_err_set(s->err, LK_ENOMEM, "out of memory");
  }
  if (!rc && (rc = vec_push(rows, &r, sizeof r))) rc = lk_err_set(s->err, rc, "out of memory");
  json_decref(extra);
  if (rc) free_row(&r);
  return rc;
}

/* Sorts rows by id and drops duplicate ids (the first row kept), each reported. */
static int drop_duplicates(const lk_ingest_opts *o, vec_t *rows, lk_ingest_stats *st, lk_errbuf *err) {
  int rc = 0;
  if (rows->n) qsort(rows->p, rows->n, sizeof(row), cmp_row);
  row *rv = rows->p;
  size_t w = 0;
  for (size_t i = 0; i < rows->n; i++) {
    if (w > 0 && rv[w - 1].id == rv[i].id) {
      st->bad_rows++;
      if (!rc)
        rc = csv_problem(o, rv[i].id, err, "%s line %ld: duplicate id %lld (first on line %ld), row ignored",
                         o->styles_csv, rv[i].line, (long long)rv[i].id, rv[w - 1].line);
      free_row(&rv[i]);
      continue;
    }
    rv[w++] = rv[i];
  }
  rows->n = w;
  return rc;
}

/* The data rows after the header onto rows. */
static int read_rows(styles *s, vec_t *rows) {
  char **f;
  int nf, rc;
  while ((rc = lk_csv_next(s->csv, &f, &nf)) == 1)
    if ((rc = read_row(s, f, nf, rows))) return rc;
  if (rc < 0) return lk_err_set(s->err, rc, "%s: %s", s->o->styles_csv, lk_csv_error(s->csv));
  return 0;
}

/* Reads styles.csv into rows (sorted by id, duplicates dropped with a report). Text is decoded
 * to UTF-8 (o->encoding); header names and values are trimmed of surrounding blanks; short, long and NUL-holding rows, duplicate
 * columns and implausible years are reported by line (refused under o->strict). */
static int read_styles(const lk_ingest_opts *o, vec_t *rows, lk_ingest_stats *st, lk_errbuf *err) {
  styles s = {.o = o, .st = st, .err = err, .hline = 1, .delim = ','};
  char **f;
  int nf, rc;
  if ((rc = open_styles(o, &s.csv, &f, &nf, &s.hline, &s.delim, err))) return rc;
  if (lk_csv_nuls(s.csv))
    rc = lk_err_set(err, LK_ECORRUPT,
                    "%s line %ld: NUL bytes in the header: the file looks like UTF-16 text; save it as "
                    "\"CSV UTF-8\" or convert it (iconv -f UTF-16 -t UTF-8)", o->styles_csv, s.hline);
  s.ncols = nf;
  if (!rc && !(rc = read_header(&s, f)) && !(rc = read_rows(&s, rows))) {
    if (st->recoded)
      report(o, -1, "%s: %ld value%s not UTF-8, read as Windows-1252 (first on line %ld, column '%s'); "
             "pass --encoding if the file is in another encoding", o->styles_csv, st->recoded,
             st->recoded == 1 ? " was" : "s were", s.note.line, s.note.column);
    rc = drop_duplicates(o, rows, st, err);
  }
  for (int i = 0; s.names && i < s.ncols; i++) free(s.names[i]);
  free(s.names);
  lk_csv_close(s.csv);
  return rc;
}

static int is_image_ext(const char *ext) {
  return !strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg") || !strcasecmp(ext, "png") ||
         !strcasecmp(ext, "webp");
}

/* The photos of the images folder (named ID.jpg/.jpeg/.png/.webp); other image files are
 * counted in *unnamed and reported, since a folder of camera names (IMG_0001.JPG) would
 * otherwise index nothing without a word. */
static int scan_photos(const lk_ingest_opts *o, vec_t *photos, long *unnamed, lk_errbuf *err) {
  DIR *d = opendir(o->images_dir);
  if (!d) return lk_err_set(err, LK_EIO, "%s: %s", o->images_dir, strerror(errno));
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d))) {
    const char *dot = strrchr(de->d_name, '.');
    if (!dot || dot == de->d_name || !is_image_ext(dot + 1)) continue;
    photo p;
    if (lk_id_parse(de->d_name, (size_t)(dot - de->d_name), &p.id)) {
      (*unnamed)++;
      report(o, -1, "%s/%s: not indexed: a photo's name must be its product id (the id column of "
             "styles.csv), e.g. 15970.jpg", o->images_dir, de->d_name);
      continue;
    }
    p.name = strdup(de->d_name);
    if (!p.name || vec_push(photos, &p, sizeof p)) {
      free(p.name);
      rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      break;
    }
  }
  closedir(d);
  if (rc || !photos->n) return rc;
  /* By id; several photos of one id (15970.jpg, 015970.png): the last by name is kept. */
  qsort(photos->p, photos->n, sizeof(photo), cmp_photo);
  photo *pv = photos->p;
  size_t w = 0;
  for (size_t i = 0; i < photos->n;) {
    size_t last = i;
    while (last + 1 < photos->n && pv[last + 1].id == pv[i].id) last++;
    if (last > i)
      report(o, pv[i].id, "several photos for id %lld (%s and %zu more); using %s", (long long)pv[i].id,
             pv[i].name, last - i, pv[last].name);
    for (size_t k = i; k < last; k++) free(pv[k].name);
    pv[w++] = pv[last];
    i = last + 1;
  }
  photos->n = w;
  return 0;
}

static int old_cb(void *ctx, const lk_item *it) {
  vec_t *v = ctx;
  old_item o = {.id = it->id, .size = it->size, .mtime = it->mtime};
  o.hash = it->hash ? strdup(it->hash) : NULL;
  o.status = it->status ? strdup(it->status) : NULL;
  o.extra = it->extra ? strdup(it->extra) : NULL;
  for (int i = 0; i < LK_NFIELDS; i++) o.field[i] = it->field[i] ? strdup(it->field[i]) : NULL;
  char src[PATH_MAX];
  o.source = strdup(lk_item_source(it, src, sizeof src));
  return vec_push(v, &o, sizeof o);
}

static old_item *find_old(vec_t *olds, int64_t id) {
  old_item key = {.id = id};
  return olds->n ? bsearch(&key, olds->p, olds->n, sizeof(old_item), cmp_old) : NULL;
}

static int streq(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return !strcmp(a, b);
}

static int meta_differs(const old_item *o, const row *r) {
  for (int i = 0; i < LK_NFIELDS; i++)
    if (!streq(o->field[i], r ? r->field[i] : NULL)) return 1;
  return !streq(o->extra, r ? r->extra : NULL);
}

/* An item chosen for this run: its photo and its styles row (NULL without --styles). */
typedef struct pick {
  size_t pi;
  int64_t id;
  const row *r;
} pick;

int lk_ingest_source_check(const char *name, lk_errbuf *err) {
  size_t n = strlen(name);
  if (n == 0 || n >= LK_INGEST_SOURCE_MAX)
    return lk_err_set(err, LK_EINVAL, "--source: a name of 1 to %d bytes, not %zu", LK_INGEST_SOURCE_MAX - 1, n);
  for (size_t i = 0; i < n; i++) /* the name is not echoed: it may hold terminal escapes */
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return lk_err_set(err, LK_EINVAL, "--source: byte %zu is a control character (0x%02x): name the source in "
                        "plain text (e.g. --source summer-2026)", i + 1, (unsigned char)name[i]);
  char *fixed = NULL;
  if (lk_utf8_fix(name, &fixed)) return lk_err_set(err, LK_ENOMEM, "out of memory");
  int bad = fixed != NULL;
  free(fixed);
  if (bad)
    return lk_err_set(err, LK_EINVAL, "--source: the name is not UTF-8 text: name the source in plain text "
                      "(e.g. --source summer-2026)");
  return 0;
}

int lk_ingest_shard_of(int64_t id, int shards) {
  if (shards <= 1) return 1;
  return (int)(lk_rng_mix((uint64_t)id ^ 0x5348415244ull /* "SHARD": not the --sample hash */) % (uint64_t)shards) + 1;
}

static int in_shard(const lk_ingest_opts *o, int64_t id) {
  return o->shards <= 0 || lk_ingest_shard_of(id, o->shards) == o->shard;
}

static int cmp_pick_hash(const void *a, const void *b, void *seedp) {
  uint64_t seed = *(const uint64_t *)seedp;
  uint64_t x = lk_rng_mix((uint64_t)((const pick *)a)->id ^ lk_rng_mix(seed));
  uint64_t y = lk_rng_mix((uint64_t)((const pick *)b)->id ^ lk_rng_mix(seed));
  return (x > y) - (x < y);
}

static int cmp_pick_id(const void *a, const void *b, void *unused) {
  (void)unused;
  int64_t x = ((const pick *)a)->id, y = ((const pick *)b)->id;
  return (x > y) - (x < y);
}

/* A unit of work for one photo. */
typedef struct job {
  int64_t id;
  const row *r;
  char path[PATH_MAX];
  char hash[LK_SHA256_HEX];
  int64_t size, mtime;
  lk_image img;
} job;

static void fill_item(lk_item *it, const job *j, const char *source, const char *status, const char *error) {
  memset(it, 0, sizeof *it);
  it->id = j->id;
  it->source = (char *)source;
  it->path = (char *)j->path;
  it->hash = (char *)j->hash;
  it->size = j->size;
  it->mtime = j->mtime;
  if (j->r) {
    for (int i = 0; i < LK_NFIELDS; i++) it->field[i] = j->r->field[i];
    it->extra = j->r->extra;
  }
  it->status = (char *)status;
  it->error = (char *)error;
}

/* State shared by the indexing workers; everything below `lock` is guarded by it. */
typedef struct shared {
  const lk_ingest_opts *o;
  lk_ingest_stats *st;
  lk_catalog *cat;
  vec_t *olds;
  const photo *pv;
  const pick *picks;
  const char *need;
  size_t n;
  const lk_recipe *recipe;
  const char *models;
  const char *source;  /* the run's source, stamped on every item written */
  int batch;
  double t0;
  pthread_mutex_t lock;
  size_t next;         /* cursor into picks */
  long since_commit;
  int rc;              /* first fatal error (or LK_EINTR) */
  lk_errbuf err;
} shared;

typedef struct worker {
  shared *sh;
  lk_embedder *emb;
  job *jobs;
  lk_image *imgs;
  float *vecs;
  int dim;
} worker;

int lk_ingest_embedder_new(const lk_recipe *r, const char *models_dir, int backend, int batch, lk_embedder **out,
                           lk_errbuf *err) {
  lk_embedder_opts eo;
  lk_embedder_opts_default(&eo);
  eo.backend = backend;
  eo.max_batch = batch > 0 ? batch : 8;
  eo.threads = 1; /* index's parallelism comes from its workers, not from oneDNN */
  return lk_embedder_new(r, models_dir, &eo, out, err);
}

int lk_ingest_decode(const lk_embedder *e, const uint8_t *buf, size_t len, const lk_image_limits *lim, lk_image *img,
                     lk_errbuf *err) {
  lk_image_limits none = {0};
  return lk_image_decode(buf, len, lim ? lim : &none, lk_embedder_input_side(e), img, err);
}

int lk_ingest_photo_vector(lk_embedder *e, const uint8_t *buf, size_t len, const lk_image_limits *lim, float *vec,
                           lk_errbuf *err) {
  lk_image img = {0};
  int rc = lk_ingest_decode(e, buf, len, lim, &img, err);
  if (!rc) rc = lk_embedder_run(e, &img, 1, vec, err);
  lk_image_free(&img);
  return rc;
}

static int worker_init(worker *w, lk_errbuf *err) {
  shared *sh = w->sh;
  int rc = lk_ingest_embedder_new(sh->recipe, sh->models, sh->o->backend, sh->batch, &w->emb, err);
  if (rc) return rc;
  w->dim = lk_embedder_dim(w->emb);
  w->jobs = calloc((size_t)sh->batch, sizeof *w->jobs);
  w->imgs = calloc((size_t)sh->batch, sizeof *w->imgs);
  w->vecs = malloc(sizeof(float) * (size_t)sh->batch * (size_t)w->dim);
  if (!w->jobs || !w->imgs || !w->vecs) return lk_err_set(err, LK_ENOMEM, "out of memory");
  return 0;
}

static void worker_fini(worker *w) {
  lk_embedder_free(w->emb);
  if (w->imgs)
    for (int b = 0; b < w->sh->batch; b++) lk_image_free(&w->imgs[b]);
  free(w->jobs);
  free(w->imgs);
  free(w->vecs);
  w->emb = NULL;
  w->jobs = NULL;
  w->imgs = NULL;
  w->vecs = NULL;
}

/* Records the first fatal error; callers hold the lock. */
static void fail_locked(shared *sh, int rc, const char *msg) {
  if (!sh->rc || (sh->rc == LK_EINTR && rc != LK_EINTR)) { /* an error outranks a stop */
    sh->rc = rc;
    lk_err_set(&sh->err, rc, "%s", msg);
  }
}

/* Writes an item (and its vector) and commits every COMMIT_EVERY; caller holds the lock. */
static int write_locked(shared *sh, const lk_item *it, const float *v, int dim) {
  int rc = lk_catalog_put_item(sh->cat, it);
  if (!rc && v) rc = lk_catalog_put_vector(sh->cat, it->id, v, dim);
  if (!rc && ++sh->since_commit >= COMMIT_EVERY) {
    rc = lk_catalog_commit(sh->cat);
    if (!rc) rc = lk_catalog_begin(sh->cat);
    sh->since_commit = 0;
  }
  if (rc) fail_locked(sh, rc, lk_catalog_errmsg(sh->cat));
  return rc;
}

/* Reads, hashes and decodes one photo. Returns 1 when it is unchanged (hash equal to the
 * catalog's), 0 when decoded into *img, or a negative code with the reason in ie. */
static int load_photo(shared *sh, job *j, const lk_embedder *emb, lk_image *img, lk_errbuf *ie) {
  struct stat sb;
  uint8_t *buf = NULL;
  size_t len = 0;
  /* A FIFO, directory or device named like a photo is refused here, without blocking. */
  int rc = lk_file_read(j->path, 64u << 20, &buf, &len, &sb, ie);
  if (!rc) {
    j->size = (int64_t)sb.st_size;
    j->mtime = (int64_t)sb.st_mtime;
  }
  if (!rc) {
    lk_hash_sha256_hex(buf, len, j->hash);
    const old_item *old = find_old(sh->olds, j->id);
    if (old && old->status && !strcmp(old->status, "ok") && old->hash && !strcmp(old->hash, j->hash)) {
      free(buf);
      return 1;
    }
    rc = lk_ingest_decode(emb, buf, len, NULL, img, ie);
  }
  free(buf);
  return rc;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  shared *sh = w->sh;
  const lk_ingest_opts *o = sh->o;
  for (;;) {
    /* Claim up to `batch` items that need work. */
    size_t claim[256];
    int nc = 0;
    pthread_mutex_lock(&sh->lock);
    if (!sh->rc && o->stop && *o->stop) sh->rc = LK_EINTR;
    int stop = sh->rc != 0;
    while (!stop && sh->next < sh->n && nc < sh->batch) {
      if (sh->need[sh->next]) claim[nc++] = sh->next;
      sh->next++;
    }
    pthread_mutex_unlock(&sh->lock);
    if (stop || nc == 0) break;
    int nb = 0;
    for (int c = 0; c < nc; c++) {
      const pick *pk = &sh->picks[claim[c]];
      const photo *p = &sh->pv[pk->pi];
      job *j = &w->jobs[nb];
      memset(j, 0, sizeof *j);
      j->id = p->id;
      j->r = pk->r;
      char rel[PATH_MAX];
      snprintf(rel, sizeof rel, "%s/%s", o->images_dir, p->name);
      if (!realpath(rel, j->path)) snprintf(j->path, sizeof j->path, "%s", rel);
      lk_errbuf ie = {0};
      int lrc = load_photo(sh, j, w->emb, &w->imgs[nb], &ie);
      if (lrc == 0) { nb++; continue; }
      lk_item it;
      pthread_mutex_lock(&sh->lock);
      if (lrc == LK_ENOMEM) { /* not the photo's fault: stop without marking it; the next run retries it */
        fail_locked(sh, lrc, lk_err_msg(&ie));
        pthread_mutex_unlock(&sh->lock);
        continue;
      }
      sh->st->done++;
      if (lrc == 1) {
        /* Touched but identical: refresh size/mtime/metadata, keep the vector. */
        fill_item(&it, j, sh->source, "ok", NULL);
        sh->st->unchanged++;
      } else {
        sh->st->failed++;
        const char *why = lk_err_msg(&ie); /* file errors name the path already */
        if (strstr(why, j->path)) report(o, j->id, "%s; skipped", why);
        else report(o, j->id, "%s: %s; skipped", j->path, why);
        fill_item(&it, j, sh->source, "error", lk_err_msg(&ie));
      }
      write_locked(sh, &it, NULL, 0);
      pthread_mutex_unlock(&sh->lock);
    }
    lk_errbuf ee = {0};
    int erc = nb ? lk_embedder_run(w->emb, w->imgs, nb, w->vecs, &ee) : 0;
    pthread_mutex_lock(&sh->lock);
    if (erc) {
      fail_locked(sh, erc, lk_err_msg(&ee));
    } else {
      /* a stop (LK_EINTR) still keeps the batch already embedded; an error does not */
      for (int b = 0; b < nb && (!sh->rc || sh->rc == LK_EINTR); b++) {
        lk_item it;
        fill_item(&it, &w->jobs[b], sh->source, "ok", NULL);
        if (write_locked(sh, &it, w->vecs + (size_t)b * w->dim, w->dim)) break;
        sh->st->embedded++;
        sh->st->done++;
      }
    }
    if (o->progress && !sh->rc) {
      sh->st->seconds = lk_clock_now() - sh->t0;
      o->progress(o->ctx, sh->st);
    }
    pthread_mutex_unlock(&sh->lock);
    for (int b = 0; b < nb; b++) lk_image_free(&w->imgs[b]);
  }
  return NULL;
}

/* One indexing run's state, handed from phase to phase (lk_ingest_run). */
typedef struct run {
  const lk_ingest_opts *o;
  lk_ingest_stats *st;
  lk_errbuf *err;
  double t0;
  int batch;            /* photos per embedding batch */
  vec_t rows, photos;   /* styles.csv's rows and the folder's photos, both by id */
  vec_t olds;           /* the catalog's items before the run, by id */
  vec_t sel;            /* the picks: the items of this run */
  char *need;           /* per pick: 1 = its photo is to be (re)embedded */
  lk_catalog *cat;
  char *stored;         /* the catalog's recipe as stored (NULL: a new catalog) */
  lk_recipe recipe;
  int own_recipe;       /* a recipe parsed here owns its projection weights */
  int finished;         /* the run got to its end: the last progress call is due */
} run;

/* The run's source: what the stale count and --prune look at (catalog.h "Sources"). */
static int pick_source(run *r) {
  const lk_ingest_opts *o = r->o;
  lk_ingest_stats *st = r->st;
  int rc;
  if (o->source) {
    if ((rc = lk_ingest_source_check(o->source, r->err))) return rc;
    snprintf(st->source, sizeof st->source, "%s", o->source);
  } else if (!realpath(o->images_dir, st->source)) {
    return lk_err_set(r->err, LK_EIO, "%s: %s", o->images_dir, strerror(errno));
  } else { /* a folder name that is not UTF-8: as text (U+FFFD), the same on every backend */
    char *fixed = NULL;
    if (lk_utf8_fix(st->source, &fixed)) return lk_err_set(r->err, LK_ENOMEM, "out of memory");
    if (fixed) snprintf(st->source, sizeof st->source, "%s", fixed);
    free(fixed);
  }
  return 0;
}

/* Opens (or creates) the catalog and settles the recipe: the catalog's own, unless the user
 * named one (which must then agree); then reads the existing items, for incremental runs. */
static int open_catalog(run *r) {
  const lk_ingest_opts *o = r->o;
  int rc;
  if ((rc = lk_catalog_open(o->db_path, LK_CATALOG_CREATE, &r->cat, r->err))) return rc;
  rc = lk_catalog_get_meta(r->cat, "recipe", &r->stored);
  if (rc && rc != LK_ENOTFOUND) return lk_catalog_fail(r->cat, rc, r->err, NULL);
  if (r->stored) {
    if ((rc = lk_recipe_from_json(r->stored, &r->recipe, r->err))) return rc;
    r->own_recipe = 1;
    if (o->recipe) {
      char a[17], b[17];
      lk_recipe_id(o->recipe, a);
      lk_recipe_id(&r->recipe, b);
      if (strcmp(a, b))
        return lk_err_set(r->err, LK_EMISMATCH,
                          "%s was built with recipe '%s' (%s); '%s' (%s) would make incomparable "
                          "vectors: index into a new --db",
                          o->db_path, r->recipe.name, b, o->recipe->name, a);
    }
  } else if (o->recipe) {
    r->recipe = *o->recipe;
  } else {
    lk_recipe_default(&r->recipe);
  }
  if ((rc = lk_catalog_foreach_item(r->cat, old_cb, &r->olds))) return lk_catalog_fail(r->cat, rc, r->err, NULL);
  if (r->olds.n) qsort(r->olds.p, r->olds.n, sizeof(old_item), cmp_old);
  return 0;
}

/* The picks: rows and photos joined by id (each side's orphans reported), then --sample,
 * --limit and this run's --shard. */
static int select_items(run *r) {
  const lk_ingest_opts *o = r->o;
  lk_ingest_stats *st = r->st;
  const row *rv = r->rows.p;
  const photo *pv = r->photos.p;
  size_t ri = 0, pi = 0, nr = r->rows.n, np = r->photos.n;
  while (ri < nr || pi < np) {
    if (pi >= np || (ri < nr && rv[ri].id < pv[pi].id)) {
      st->no_photo++;
      report(o, rv[ri].id, "no photo for id %lld in %s", (long long)rv[ri].id, o->images_dir);
      ri++;
      continue;
    }
    int matched = ri < nr && pv[pi].id == rv[ri].id;
    if (!matched && o->styles_csv) {
      st->no_row++;
      report(o, pv[pi].id, "%s/%s has no row in %s; not indexed", o->images_dir, pv[pi].name, o->styles_csv);
    } else {
      pick pk = {pi, pv[pi].id, matched ? &rv[ri] : NULL};
      if (vec_push(&r->sel, &pk, sizeof pk)) return lk_err_set(r->err, LK_ENOMEM, "out of memory");
    }
    ri += matched;
    pi++;
  }
  pick *pk = r->sel.p;
  if (o->sample > 0 && (long)r->sel.n > o->sample) {
    /* Keep the `sample` picks with the smallest hash(id, seed), then restore id order. */
    qsort_r(pk, r->sel.n, sizeof *pk, cmp_pick_hash, (void *)&o->seed);
    r->sel.n = (size_t)o->sample;
    qsort_r(pk, r->sel.n, sizeof *pk, cmp_pick_id, NULL);
  }
  if (o->limit > 0 && (long)r->sel.n > o->limit) r->sel.n = (size_t)o->limit;
  if (o->shards > 0) { /* this run's share; the other shards' runs do the rest */
    size_t w = 0;
    for (size_t i = 0; i < r->sel.n; i++)
      if (in_shard(o, pk[i].id)) pk[w++] = pk[i];
    r->sel.n = w;
  }
  st->selected = (long)r->sel.n;
  return 0;
}

/* An unchanged item whose metadata (or source) differs from this run's: rewritten with it
 * (its vector kept). An item of another source found here becomes this source's. */
static int update_meta(run *r, const old_item *old, const pick *pk) {
  lk_item it = {0};
  int rc = lk_catalog_get_item(r->cat, pk->id, &it);
  if (rc) return lk_catalog_fail(r->cat, rc, r->err, NULL);
  lk_item upd = it;
  for (int k = 0; k < LK_NFIELDS; k++) upd.field[k] = pk->r ? pk->r->field[k] : NULL;
  upd.extra = pk->r ? pk->r->extra : NULL;
  if (strcmp(old->source, r->st->source)) upd.source = r->st->source;
  rc = lk_catalog_put_item(r->cat, &upd);
  lk_item_clear(&it);
  return rc ? lk_catalog_fail(r->cat, rc, r->err, NULL) : 0;
}

/* Decides what needs work (r->need): size+mtime unchanged and status settled -> only the
 * metadata, rewritten here when it changed. Marks the catalog's items seen. */
static int diff_catalog(run *r) {
  const lk_ingest_opts *o = r->o;
  lk_ingest_stats *st = r->st;
  const pick *picks = r->sel.p;
  const photo *pv = r->photos.p;
  int rc;
  if (!(r->need = calloc(r->sel.n + 1, 1))) return lk_err_set(r->err, LK_ENOMEM, "out of memory");
  for (size_t i = 0; i < r->sel.n; i++) {
    const photo *p = &pv[picks[i].pi];
    old_item *old = find_old(&r->olds, p->id);
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", o->images_dir, p->name);
    if (old) old->seen = 1;
    if (stat(path, &sb) != 0) { r->need[i] = 1; st->todo++; continue; } /* the worker reports why */
    if (old && old->size == (int64_t)sb.st_size && old->mtime == (int64_t)sb.st_mtime && old->status &&
        (!strcmp(old->status, "ok") || !strcmp(old->status, "error"))) {
      st->unchanged++;
      if (!strcmp(old->status, "error")) st->failed++;
      /* (legacy items without a source of this folder are left as they are: nothing to write) */
      if ((meta_differs(old, picks[i].r) || strcmp(old->source, st->source)) && (rc = update_meta(r, old, &picks[i])))
        return rc;
      continue;
    }
    r->need[i] = 1;
    st->todo++;
  }
  return 0;
}

/* Stale items: their photo (or row) is gone; counted, or deleted under --prune. Items of
 * other sources and shards, and items beyond --limit, are not stale. */
static int mark_stale(run *r) {
  const lk_ingest_opts *o = r->o;
  old_item *ov = r->olds.p;
  int rc;
  for (size_t i = 0; i < r->olds.n; i++) {
    if (ov[i].seen || !in_shard(o, ov[i].id)) continue;
    if (!ov[i].source || strcmp(ov[i].source, r->st->source)) continue; /* another source's item */
    int present = 0;
    photo key = {.id = ov[i].id};
    photo *ph = r->photos.n ? bsearch(&key, r->photos.p, r->photos.n, sizeof(photo), cmp_photo) : NULL;
    if (ph) {
      row rk = {.id = ov[i].id};
      present = !o->styles_csv || (r->rows.n && bsearch(&rk, r->rows.p, r->rows.n, sizeof(row), cmp_row_id) != NULL);
    }
    if (present) continue;
    if (o->prune) {
      if ((rc = lk_catalog_delete_item(r->cat, ov[i].id))) return lk_catalog_fail(r->cat, rc, r->err, NULL);
      r->st->pruned++;
    } else {
      r->st->stale++;
    }
  }
  return 0;
}

/* A new catalog's recipe. Added, not set: an indexer started at the same time (another shard)
 * may have stored its recipe first, and a different one must not be overwritten. */
static int store_recipe(run *r) {
  if (r->stored) return 0;
  char *js = lk_recipe_to_json(&r->recipe);
  char id[17];
  lk_recipe_id(&r->recipe, id);
  int rc = js ? lk_catalog_add_meta(r->cat, "recipe_id", id) : LK_ENOMEM;
  if (!rc) rc = lk_catalog_set_meta(r->cat, "recipe", js);
  free(js);
  if (rc) return rc == LK_ENOMEM ? lk_err_set(r->err, rc, "out of memory") : lk_catalog_fail(r->cat, rc, r->err, NULL);
  return 0;
}

/* The catalog brought up to date short of the embedding, in one transaction: metadata of
 * unchanged items, stale items, the recipe. */
static int update_catalog(run *r) {
  int rc;
  if ((rc = lk_catalog_begin(r->cat))) return lk_catalog_fail(r->cat, rc, r->err, NULL);
  if ((rc = diff_catalog(r)) || (rc = mark_stale(r)) || (rc = store_recipe(r))) return rc;
  if ((rc = lk_catalog_commit(r->cat))) return lk_catalog_fail(r->cat, rc, r->err, NULL);
  if (r->o->progress) { r->st->seconds = lk_clock_now() - r->t0; r->o->progress(r->o->ctx, r->st); }
  return 0;
}

/* Workers for the photos to embed: o->workers (default 2, at most 16), no more than batches. */
static int worker_count(const run *r) {
  long batches = (r->st->todo + r->batch - 1) / r->batch;
  int nw = r->o->workers > 0 ? r->o->workers : 2;
  if (nw > 16) nw = 16;
  if ((long)nw > batches) nw = (int)batches;
  return nw < 1 ? 1 : nw;
}

/* Starts up to nw workers (*started of them run). The first worker's embedder is made before
 * any thread, so that model errors surface (returned, message in err), and the catalog's dim
 * is stored from it; a later worker that cannot start leaves the run with fewer. */
static int start_workers(run *r, worker *wk, pthread_t *th, int nw, int *started) {
  int rc = 0;
  *started = 0;
  for (int w = 0; w < nw; w++) {
    int wrc = worker_init(&wk[w], w == 0 ? r->err : NULL);
    if (wrc) {
      worker_fini(&wk[w]); /* frees what worker_init made before it failed */
      return w == 0 ? wrc : 0;
    }
    if (w == 0) {
      char dimtxt[16];
      snprintf(dimtxt, sizeof dimtxt, "%d", lk_embedder_dim(wk[0].emb));
      if ((rc = lk_catalog_set_meta(r->cat, "dim", dimtxt))) {
        lk_catalog_fail(r->cat, rc, r->err, NULL);
        worker_fini(&wk[0]);
        return rc;
      }
    }
    if (pthread_create(&th[w], NULL, worker_main, &wk[w])) { worker_fini(&wk[w]); return 0; }
    (*started)++;
  }
  return rc;
}

/* After the workers: the first error (or stop) they met, the transaction committed (a stop
 * keeps what was done) or rolled back (an error). */
static int end_workers(run *r, shared *sh, int rc, int started) {
  lk_ingest_stats *st = r->st;
  if (!rc && started == 0) rc = lk_err_set(r->err, LK_ENOMEM, "could not start an indexing worker");
  if (!rc && sh->rc) rc = lk_err_set(r->err, sh->rc, "%s", lk_err_msg(&sh->err));
  if (rc && rc != LK_EINTR) {
    lk_catalog_rollback(r->cat);
  } else {
    int crc = lk_catalog_commit(r->cat);
    if (crc && !rc) rc = lk_catalog_fail(r->cat, crc, r->err, NULL);
  }
  if (rc == LK_EINTR && st->done >= st->todo) rc = 0; /* the stop came after the last photo */
  if (rc == LK_EINTR)
    lk_err_set(r->err, LK_EINTR, "interrupted: %ld of %ld photos done, progress saved; run the same command again to resume",
               st->done, st->todo);
  return rc;
}

/* Embeds what needs it: `workers` threads each take batches from a shared cursor, decode and
 * embed them with their own single-threaded embedder, and write results under the lock. */
static int embed_photos(run *r) {
  char models[PATH_MAX];
  int rc = lk_embed_find_models(r->o->models_dir, models, sizeof models, r->err);
  if (rc) return rc;
  shared sh = {.o = r->o, .st = r->st, .cat = r->cat, .olds = &r->olds, .pv = r->photos.p, .picks = r->sel.p,
               .need = r->need, .n = r->sel.n, .recipe = &r->recipe, .models = models, .source = r->st->source,
               .batch = r->batch, .t0 = r->t0};
  pthread_t th[16];
  worker wk[16];
  memset(wk, 0, sizeof wk);
  int nw = worker_count(r), started = 0;
  for (int w = 0; w < nw; w++) wk[w].sh = &sh;
  if ((rc = lk_catalog_begin(r->cat))) return lk_catalog_fail(r->cat, rc, r->err, NULL);
  pthread_mutex_init(&sh.lock, NULL);
  r->finished = 1;
  rc = start_workers(r, wk, th, nw, &started);
  for (int w = 0; w < started; w++) pthread_join(th[w], NULL);
  for (int w = 0; w < started; w++) worker_fini(&wk[w]);
  rc = end_workers(r, &sh, rc, started);
  pthread_mutex_destroy(&sh.lock);
  return rc;
}

static void run_free(run *r) {
  if (r->own_recipe) lk_recipe_clear(&r->recipe);
  for (size_t k = 0; k < r->rows.n; k++) free_row(&((row *)r->rows.p)[k]);
  free(r->rows.p);
  for (size_t k = 0; k < r->photos.n; k++) free(((photo *)r->photos.p)[k].name);
  free(r->photos.p);
  for (size_t k = 0; k < r->olds.n; k++) {
    old_item *x = &((old_item *)r->olds.p)[k];
    free(x->hash);
    free(x->status);
    free(x->extra);
    free(x->source);
    for (int f = 0; f < LK_NFIELDS; f++) free(x->field[f]);
  }
  free(r->olds.p);
  free(r->sel.p);
  free(r->need);
  free(r->stored);
  lk_catalog_close(r->cat);
}

int lk_ingest_run(const lk_ingest_opts *o, lk_ingest_stats *st, lk_errbuf *err) {
  memset(st, 0, sizeof *st);
  if (!o->images_dir || !o->db_path) return lk_err_set(err, LK_EINVAL, "images folder and --db are required");
  /* a recipe whose numbers do not survive its JSON (inf, NaN, out of range) would be stored
   * without them: refused before the catalog is created */
  int rc;
  if (o->recipe && (rc = lk_recipe_verify(o->recipe, err))) return rc;
  run r = {.o = o, .st = st, .err = err, .t0 = lk_clock_now(), .batch = o->batch > 0 ? o->batch : 8};
  if (r.batch > 256) r.batch = 256;
  rc = o->styles_csv ? read_styles(o, &r.rows, st, err) : 0;
  if (!rc && !(rc = scan_photos(o, &r.photos, &st->unnamed, err))) st->photos = (long)r.photos.n;
  if (!rc) rc = pick_source(&r);
  if (!rc) rc = open_catalog(&r);
  if (!rc) rc = select_items(&r);
  if (!rc) rc = update_catalog(&r);
  if (!rc && st->todo == 0) r.finished = 1;
  else if (!rc) rc = embed_photos(&r);
  if (r.finished) {
    st->seconds = lk_clock_now() - r.t0;
    if (o->progress) o->progress(o->ctx, st);
  }
  run_free(&r);
  return rc;
}
