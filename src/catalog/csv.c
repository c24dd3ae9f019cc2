/* catalog/csv.c — streaming RFC 4180 CSV reader (see csv.h). Input is read in fixed chunks
 * from a FILE* (or walked in place for a memory buffer); one row at a time is assembled in a
 * growable buffer bounded by the limits. Blank lines are skipped; ragged rows are returned as
 * they are; NUL bytes are counted, not stored. Errors are sticky: after one, every lk_csv_next returns the same code. */
#include "catalog/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"
#include "util/file.h"
#include "util/size.h"

#define CSV_CHUNK 65536
#define CSV_DEF_FIELD ((size_t)64 * 1024)
#define CSV_DEF_FIELDS 1024
#define CSV_DEF_ROWS 10000000L

struct lk_csv {
  FILE *f;             /* owned; NULL for buffer input */
  const char *in;      /* current chunk (own buffer or the caller's memory) */
  size_t inlen, inpos;
  int eof;             /* no more chunks */
  char *chunk;         /* CSV_CHUNK bytes when reading a file */
  lk_csv_limits lim;
  char *row;           /* the row's fields, each NUL-terminated, back to back */
  size_t rowlen, rowcap;
  size_t *offs;        /* field start offsets into row */
  char **fields;       /* pointers handed out by lk_csv_next */
  int fcap;
  long line;           /* 1-based line of the next unread byte */
  long row_line;       /* line where the last returned row started */
  long rows;           /* rows returned so far */
  long nuls;           /* NUL bytes left out of the last row */
  int started;         /* BOM check done */
  int failed;          /* sticky error code, 0 when none */
  lk_errbuf err;
};

/* Next byte or -1 at end of input (or on a read error, recorded in c->failed). */
static int csv_getc(lk_csv *c) {
  if (c->inpos < c->inlen) return (unsigned char)c->in[c->inpos++];
  if (c->eof || !c->f) {
    c->eof = 1;
    return -1;
  }
  size_t n = fread(c->chunk, 1, CSV_CHUNK, c->f);
  if (n == 0) {
    c->eof = 1;
    if (ferror(c->f))
      c->failed = lk_err_set(&c->err, LK_EIO, "line %ld: read error: %s", c->line, strerror(errno));
    return -1;
  }
  c->in = c->chunk;
  c->inlen = n;
  c->inpos = 1;
  return (unsigned char)c->in[0];
}

/* Next byte without consuming it, or -1. */
static int csv_peek(lk_csv *c) {
  int ch = csv_getc(c);
  if (ch >= 0) c->inpos--;
  return ch;
}

static int csv_putc(lk_csv *c, int ch) {
  if (LK_ARRAY_RESERVE(c->row, c->rowcap, c->rowlen + 1, 512)) return LK_ENOMEM;
  c->row[c->rowlen++] = (char)ch;
  return 0;
}

/* Starts field number nf (0-based) at the current end of the row buffer. */
static int csv_field_start(lk_csv *c, int nf) {
  if (nf >= c->lim.max_fields)
    return lk_err_set(&c->err, LK_ETOOBIG, "line %ld: more than %d fields in a row", c->row_line,
                      c->lim.max_fields);
  if (nf == c->fcap) { /* offs and fields grow together, to at most max_fields */
    size_t cap;
    if (lk_array_grow_cap((size_t)c->fcap, (size_t)nf + 1, 16, sizeof(char *), &cap)) return LK_ENOMEM;
    if (cap > (size_t)c->lim.max_fields) cap = (size_t)c->lim.max_fields;
    if (LK_ARRAY_RESIZE(c->offs, cap) || LK_ARRAY_RESIZE(c->fields, cap)) return LK_ENOMEM;
    c->fcap = (int)cap;
  }
  c->offs[nf] = c->rowlen;
  return 0;
}

static void csv_init(lk_csv *c, const lk_csv_limits *lim) {
  c->lim.max_field = CSV_DEF_FIELD;
  c->lim.max_fields = CSV_DEF_FIELDS;
  c->lim.max_rows = CSV_DEF_ROWS;
  if (lim) { /* zero means "default" so callers may set only what they care about */
    if (lim->max_field) c->lim.max_field = lim->max_field;
    if (lim->max_fields) c->lim.max_fields = lim->max_fields;
    if (lim->max_rows) c->lim.max_rows = lim->max_rows;
  }
  c->lim.delim = ',';
  if (lim && lim->delim) c->lim.delim = lim->delim;
  c->line = 1;
}

static int csv_check_limits(const lk_csv_limits *lim, lk_errbuf *err) {
  if (lim && (lim->max_fields < 0 || lim->max_rows < 0))
    return lk_err_set(err, LK_EINVAL, "csv: negative limit");
  if (lim && (lim->delim < 0 || lim->delim > 127 || lim->delim == '"' || lim->delim == '\n' ||
              lim->delim == '\r'))
    return lk_err_set(err, LK_EINVAL, "csv: bad field separator");
  return 0;
}

int lk_csv_open(const char *path, const lk_csv_limits *lim, lk_csv **out, lk_errbuf *err) {
  if (!out || !path) return lk_err_set(err, LK_EINVAL, "csv: missing argument");
  *out = NULL;
  int rc = csv_check_limits(lim, err);
  if (rc) return rc;
  lk_csv *c = calloc(1, sizeof *c);
  if (!c) return lk_err_set(err, LK_ENOMEM, "csv: out of memory");
  c->chunk = malloc(CSV_CHUNK);
  if (!c->chunk) {
    free(c);
    return lk_err_set(err, LK_ENOMEM, "csv: out of memory");
  }
  rc = lk_file_fopen(path, &c->f, NULL, err); /* regular files only: a FIFO never blocks */
  if (rc) {
    free(c->chunk);
    free(c);
    return rc;
  }
  csv_init(c, lim);
  *out = c;
  return 0;
}

int lk_csv_open_buffer(const char *buf, size_t len, const lk_csv_limits *lim, lk_csv **out,
                       lk_errbuf *err) {
  if (!out || (!buf && len)) return lk_err_set(err, LK_EINVAL, "csv: missing argument");
  *out = NULL;
  int rc = csv_check_limits(lim, err);
  if (rc) return rc;
  lk_csv *c = calloc(1, sizeof *c);
  if (!c) return lk_err_set(err, LK_ENOMEM, "csv: out of memory");
  c->in = buf;
  c->inlen = len;
  csv_init(c, lim);
  *out = c;
  return 0;
}

void lk_csv_close(lk_csv *c) {
  if (!c) return;
  if (c->f) fclose(c->f);
  free(c->chunk);
  free(c->row);
  free(c->offs);
  free(c->fields);
  free(c);
}

/* Skips a UTF-8 byte order mark at the very start of the input; refuses a UTF-16 one (its
 * text, every other byte NUL, would read as garbage). */
static int csv_skip_bom(lk_csv *c) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  c->started = 1;
  if (csv_peek(c) < 0) return c->failed;
  /* the first chunk holds the whole start of the input unless it is shorter than 3 bytes */
  size_t avail = c->inlen - c->inpos;
  const unsigned char *p = (const unsigned char *)c->in + c->inpos;
  if (avail >= 3 && memcmp(p, bom, 3) == 0) c->inpos += 3;
  else if (avail >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
    c->failed = lk_err_set(&c->err, LK_EUNSUPPORTED,
                           "line 1: the file is UTF-16 text (byte order mark %02X %02X); save it as "
                           "\"CSV UTF-8\" or convert it (iconv -f UTF-16 -t UTF-8)", p[0], p[1]);
  return c->failed;
}

/* Consumes the LF of a CRLF pair after a CR that ended a row or was kept in a quoted field. */
static int csv_is_crlf(lk_csv *c) {
  if (csv_peek(c) == '\n') {
    c->inpos++;
    return 1;
  }
  return 0;
}

int lk_csv_next(lk_csv *c, char ***fields, int *nfields) {
  if (!c || !fields || !nfields) return LK_EINVAL;
  *fields = NULL;
  *nfields = 0;
  if (c->failed) return c->failed;
  if (!c->started && csv_skip_bom(c)) return c->failed;

  int ch, rc = 0;
  /* skip blank lines (this also drops the trailing empty line) */
  for (;;) {
    ch = csv_getc(c);
    if (ch == '\n') {
      c->line++;
    } else if (ch == '\r') {
      csv_is_crlf(c);
      c->line++;
    } else {
      break;
    }
  }
  if (ch < 0) return c->failed; /* 0 at a clean end, LK_EIO after a read error */
  if (c->rows >= c->lim.max_rows) {
    c->failed = lk_err_set(&c->err, LK_ETOOBIG, "line %ld: more than %ld rows", c->line,
                           c->lim.max_rows);
    return c->failed;
  }

  c->row_line = c->line;
  c->rowlen = 0;
  c->nuls = 0;
  int nf = 0;
  for (;;) { /* one field per iteration; ch is its first byte */
    if ((rc = csv_field_start(c, nf)) != 0) goto fail;
    nf++;
    size_t flen = 0;
    int quoted = 0;
    long qline = c->line;
    if (ch == '"') {
      quoted = 1;
      ch = csv_getc(c);
    }
    for (;; ch = csv_getc(c)) {
      if (ch < 0) {
        if (c->failed) return c->failed;
        if (quoted) {
          rc = lk_err_set(&c->err, LK_ECORRUPT,
                          "line %ld: unterminated quoted field (opened on line %ld)",
                          c->row_line, qline);
          goto fail;
        }
        break;
      }
      if (quoted) {
        if (ch == '"') {
          if (csv_peek(c) == '"') {
            c->inpos++; /* "" is one literal quote */
          } else {
            quoted = 0; /* closing quote; anything up to the delimiter is kept as is */
            continue;
          }
        } else if (ch == '\n') {
          c->line++;
        }
      } else if (ch == c->lim.delim || ch == '\n' || ch == '\r') {
        break;
      }
      if (ch == 0) { /* would end the field early: left out, counted for the caller to report */
        c->nuls++;
        continue;
      }
      if (flen == c->lim.max_field) {
        rc = lk_err_set(&c->err, LK_ETOOBIG, "line %ld: field %d longer than %zu bytes",
                        c->row_line, nf, c->lim.max_field);
        goto fail;
      }
      flen++;
      if ((rc = csv_putc(c, ch)) != 0) goto fail;
    }
    if ((rc = csv_putc(c, '\0')) != 0) goto fail;
    if (ch == c->lim.delim) {
      ch = csv_getc(c);
      continue;
    }
    if (ch == '\r') csv_is_crlf(c);
    if (ch >= 0) c->line++;
    break;
  }
  if (c->failed) return c->failed;
  for (int i = 0; i < nf; i++) c->fields[i] = c->row + c->offs[i];
  c->rows++;
  *fields = c->fields;
  *nfields = nf;
  return 1;

fail:
  if (rc == LK_ENOMEM) lk_err_set(&c->err, LK_ENOMEM, "line %ld: out of memory", c->row_line);
  c->failed = rc;
  return rc;
}

long lk_csv_line(const lk_csv *c) { return c ? c->row_line : 0; }

long lk_csv_nuls(const lk_csv *c) { return c ? c->nuls : 0; }

const char *lk_csv_error(const lk_csv *c) { return c ? lk_err_msg(&c->err) : "no reader"; }

void lk_csv_put(FILE *fp, const char *s) {
  if (!s || !*s) return;
  size_t n = strlen(s);
  if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' && s[n - 1] != '\t') {
    fwrite(s, 1, n, fp);
    return;
  }
  fputc('"', fp);
  for (; *s; s++) {
    if (*s == '"') fputc('"', fp);
    fputc(*s, fp);
  }
  fputc('"', fp);
}
