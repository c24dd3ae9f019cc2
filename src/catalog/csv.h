/* catalog/csv.h — streaming RFC 4180 CSV reader with limits (field bytes, fields per row,
 * row count), for styles.csv and its relatives. Quotes, doubled quotes, CRLF, a UTF-8 BOM and
 * embedded newlines inside quotes are handled; ragged rows are returned as they are; NUL bytes
 * are left out of fields and counted (lk_csv_nuls); UTF-16 input is refused by name. Fields are
 * bytes as found: decoding them (util/utf8.h) is the caller's. lk_csv_put is the writing side
 * (export --format csv, recommend). */
#ifndef LK_CATALOG_CSV_H
#define LK_CATALOG_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

typedef struct lk_csv lk_csv;

typedef struct lk_csv_limits {
  size_t max_field; /* bytes per field; default 64 KiB */
  int max_fields;   /* fields per row; default 1024 */
  long max_rows;    /* default 10 million */
  int delim;        /* field separator (',', ';', '\t'...); default ',' */
} lk_csv_limits;

/* Opens a file (lim may be NULL for defaults). *out owned by caller: lk_csv_close. */
int lk_csv_open(const char *path, const lk_csv_limits *lim, lk_csv **out, lk_errbuf *err);
/* Reads from memory (not copied: buf must outlive the reader). */
int lk_csv_open_buffer(const char *buf, size_t len, const lk_csv_limits *lim, lk_csv **out,
                       lk_errbuf *err);
void lk_csv_close(lk_csv *c); /* NULL-safe */
/* Reads the next row. Returns 1 with *fields and *nfields set (valid until the next call, each
 * field NUL-terminated), 0 at end of input, or a negative code (LK_ETOOBIG, LK_ECORRUPT for
 * an unterminated quote, LK_EUNSUPPORTED for UTF-16 input (a byte order mark FF FE or FE FF),
 * LK_EIO) with the message, incl. line number, in lk_csv_error. */
int lk_csv_next(lk_csv *c, char ***fields, int *nfields);
/* 1-based line number where the last returned row started. */
long lk_csv_line(const lk_csv *c);
/* NUL bytes found (and left out) in the last returned row. */
long lk_csv_nuls(const lk_csv *c);
const char *lk_csv_error(const lk_csv *c);

/* Writes one field of RFC 4180 CSV to fp: as it is, or in double quotes (inner quotes doubled)
 * when it holds a comma, a quote, CR or LF, or begins or ends with a blank (which readers may
 * trim). NULL writes an empty field. The separators and line ends (CRLF or LF) are the
 * caller's. */
void lk_csv_put(FILE *fp, const char *s);

#endif
