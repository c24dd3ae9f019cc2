/* tests/test_csv.c — the streaming CSV reader: a table of small inputs (quoting, line ends,
 * BOM, ragged rows, NUL bytes, separators, UTF-16, limits, errors), the decoding of its text
 * into UTF-8 (util/utf8.h: Windows-1252, Latin-1, strict UTF-8), a random round trip through a file large enough to cross
 * read-chunk boundaries, and the real styles.csv when the shared data is present. The
 * writer (lk_csv_put): a table of fields and what it writes, and random fields read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog/csv.h"
#include "util/utf8.h"
#include "testutil.h"

#define MAXR 6
#define MAXF 6

typedef struct csv_case {
  const char *name;
  const char *in;
  size_t len; /* 0: strlen(in) */
  lk_csv_limits lim;
  int nrows;                     /* rows expected before the end (or the error) */
  int nf[MAXR];                  /* fields per row */
  const char *rows[MAXR][MAXF];  /* expected fields */
  long line[MAXR];               /* expected start line of each row (0: don't check) */
  int final_rc;                  /* 0 clean end, else the error code */
  const char *errsub;            /* substring of the error message */
} csv_case;

static const csv_case cases[] = {
    {"simple", "a,b,c\n1,2,3\n", 0, {0}, 2, {3, 3}, {{"a", "b", "c"}, {"1", "2", "3"}}, {1, 2}, 0,
     NULL},
    {"no final newline", "a,b\n1,2", 0, {0}, 2, {2, 2}, {{"a", "b"}, {"1", "2"}}, {1, 2}, 0, NULL},
    {"quotes", "\"a\",\"b c\"\n", 0, {0}, 1, {2}, {{"a", "b c"}}, {1}, 0, NULL},
    {"doubled quotes", "\"say \"\"hi\"\"\",x\n", 0, {0}, 1, {2}, {{"say \"hi\"", "x"}}, {1}, 0,
     NULL},
    {"embedded comma and newline", "\"a,b\",\"line1\nline2\",z\nnext,row\n", 0, {0}, 2, {3, 2},
     {{"a,b", "line1\nline2", "z"}, {"next", "row"}}, {1, 3}, 0, NULL},
    {"crlf", "a,b\r\n1,2\r\n", 0, {0}, 2, {2, 2}, {{"a", "b"}, {"1", "2"}}, {1, 2}, 0, NULL},
    {"crlf inside quotes kept", "\"x\r\ny\",1\r\n", 0, {0}, 1, {2}, {{"x\r\ny", "1"}}, {1}, 0,
     NULL},
    {"bom", "\xEF\xBB\xBFid,name\n1,x\n", 0, {0}, 2, {2, 2}, {{"id", "name"}, {"1", "x"}}, {1, 2},
     0, NULL},
    {"bom only", "\xEF\xBB\xBF", 0, {0}, 0, {0}, {{NULL}}, {0}, 0, NULL},
    {"empty fields", ",,\n\"\",x,\n", 0, {0}, 2, {3, 3}, {{"", "", ""}, {"", "x", ""}}, {1, 2}, 0,
     NULL},
    {"ragged rows", "a,b,c\n1\n1,2,3,4,5\n", 0, {0}, 3, {3, 1, 5},
     {{"a", "b", "c"}, {"1"}, {"1", "2", "3", "4", "5"}}, {1, 2, 3}, 0, NULL},
    {"blank and trailing lines skipped", "a\n\n\r\nb\n\n\n", 0, {0}, 2, {1, 1}, {{"a"}, {"b"}},
     {1, 4}, 0, NULL},
    {"empty input", "", 0, {0}, 0, {0}, {{NULL}}, {0}, 0, NULL},
    {"stray quote in unquoted field", "5\" shorts,x\n", 0, {0}, 1, {2}, {{"5\" shorts", "x"}}, {1},
     0, NULL},
    {"text after closing quote kept", "\"ab\"cd,e\n", 0, {0}, 1, {2}, {{"abcd", "e"}}, {1}, 0,
     NULL},
    {"embedded NUL byte left out", "a\0b,c\n", 6, {0}, 1, {2}, {{"ab", "c"}}, {1}, 0, NULL},
    {"NUL bytes in quotes left out", "\"\0x\0\",y\n", 8, {0}, 1, {2}, {{"x", "y"}}, {1}, 0, NULL},
    {"semicolon separator", "id;name\n1;\"a;b\",c\n", 0, {.delim = ';'}, 2, {2, 2},
     {{"id", "name"}, {"1", "a;b,c"}}, {1, 2}, 0, NULL},
    {"tab separator", "id\tname\n1\tx y\n", 0, {.delim = '\t'}, 2, {2, 2},
     {{"id", "name"}, {"1", "x y"}}, {1, 2}, 0, NULL},
    {"UTF-16 LE refused by name", "\xFF\xFEi\0d\0\n\0", 8, {0}, 0, {0}, {{NULL}}, {0},
     LK_EUNSUPPORTED, "line 1: the file is UTF-16"},
    {"UTF-16 BE refused by name", "\xFE\xFF\0i\0d", 6, {0}, 0, {0}, {{NULL}}, {0},
     LK_EUNSUPPORTED, "UTF-16"},
    {"unterminated quote", "ok,1\n\"abc\ndef\n", 0, {0}, 1, {2}, {{"ok", "1"}}, {1}, LK_ECORRUPT,
     "line 2"},
    {"field too long", "abc,de\nabcdef\n", 0, {.max_field = 5}, 1, {2}, {{"abc", "de"}}, {1},
     LK_ETOOBIG, "line 2"},
    {"field at the limit", "abcde\n", 0, {.max_field = 5}, 1, {1}, {{"abcde"}}, {1}, 0, NULL},
    {"quoted field too long", "\"ab\"\"cd\"\n", 0, {.max_field = 4}, 0, {0}, {{NULL}}, {0},
     LK_ETOOBIG, "line 1"},
    {"too many fields", "a,b,c\na,b,c,d\n", 0, {.max_fields = 3}, 1, {3}, {{"a", "b", "c"}}, {1},
     LK_ETOOBIG, "line 2"},
    {"too many rows", "a\nb\nc\n", 0, {.max_rows = 2}, 2, {1, 1}, {{"a"}, {"b"}}, {1, 2},
     LK_ETOOBIG, "line 3"},
};

static void run_case(const csv_case *tc) {
  lk_csv *c;
  lk_errbuf eb = {0};
  size_t len = tc->len ? tc->len : strlen(tc->in);
  assert_int_equal(lk_csv_open_buffer(tc->in, len, &tc->lim, &c, &eb), 0);
  char **f;
  int nf, rc;
  for (int r = 0; r < tc->nrows; r++) {
    rc = lk_csv_next(c, &f, &nf);
    if (rc != 1) fail_msg("%s: row %d: rc %d (%s)", tc->name, r, rc, lk_csv_error(c));
    if (nf != tc->nf[r]) fail_msg("%s: row %d: %d fields, want %d", tc->name, r, nf, tc->nf[r]);
    for (int i = 0; i < nf; i++)
      if (strcmp(f[i], tc->rows[r][i]) != 0)
        fail_msg("%s: row %d field %d: '%s', want '%s'", tc->name, r, i, f[i], tc->rows[r][i]);
    if (tc->line[r] && lk_csv_line(c) != tc->line[r])
      fail_msg("%s: row %d: line %ld, want %ld", tc->name, r, lk_csv_line(c), tc->line[r]);
  }
  rc = lk_csv_next(c, &f, &nf);
  if (rc != tc->final_rc) fail_msg("%s: final rc %d, want %d", tc->name, rc, tc->final_rc);
  if (tc->errsub && !strstr(lk_csv_error(c), tc->errsub))
    fail_msg("%s: message '%s' lacks '%s'", tc->name, lk_csv_error(c), tc->errsub);
  /* the end and errors are sticky */
  assert_int_equal(lk_csv_next(c, &f, &nf), tc->final_rc);
  lk_csv_close(c);
}

static void test_table(void **state) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_bad_args(void **state) {
  lk_csv *c = (lk_csv *)1;
  lk_errbuf eb = {0};
  assert_int_equal(lk_csv_open_buffer(NULL, 3, NULL, &c, &eb), LK_EINVAL);
  lk_csv_limits neg = {.max_fields = -1};
  assert_int_equal(lk_csv_open_buffer("a", 1, &neg, &c, &eb), LK_EINVAL);
  assert_null(c);
  assert_int_equal(lk_csv_open("/nonexistent/dir/x.csv", NULL, &c, &eb), LK_ENOTFOUND);
  assert_non_null(strstr(eb.msg, "/nonexistent/dir/x.csv"));
  lk_csv_close(NULL);
}

/* Random fields with every awkward byte, written RFC-style to a file much larger than one read
 * chunk, read back through both lk_csv_open and lk_csv_open_buffer. */
static void test_random_roundtrip(void **state) {
  enum { ROWS = 3000 };
  static const char alphabet[] = "ab,\"\n\r xé";
  srand(1234);
  size_t cap = 1 << 20, len = 0;
  char *text = malloc(cap);
  int *nf = malloc(ROWS * sizeof *nf);
  char ***want = malloc(ROWS * sizeof *want);
  assert_non_null(text);
  memcpy(text, "\xEF\xBB\xBF", 3); /* BOM */
  len = 3;
  for (int r = 0; r < ROWS; r++) {
    nf[r] = 1 + rand() % 7;
    want[r] = malloc((size_t)nf[r] * sizeof **want);
    for (int i = 0; i < nf[r]; i++) {
      int n = rand() % 40;
      if (nf[r] == 1 && n == 0) n = 1; /* a lone empty field would be a blank line */
      char *s = malloc((size_t)n + 1);
      int needq = 0;
      for (int j = 0; j < n; j++) {
        s[j] = alphabet[rand() % (sizeof alphabet - 1)];
        if (strchr(",\"\n\r", s[j])) needq = 1;
      }
      s[n] = '\0';
      want[r][i] = s;
      if (len + 2 * (size_t)n + 8 > cap) {
        cap *= 2;
        text = realloc(text, cap);
        assert_non_null(text);
      }
      if (i) text[len++] = ',';
      if (needq || rand() % 5 == 0) {
        text[len++] = '"';
        for (int j = 0; j < n; j++) {
          if (s[j] == '"') text[len++] = '"';
          text[len++] = s[j];
        }
        text[len++] = '"';
      } else {
        memcpy(text + len, s, (size_t)n);
        len += (size_t)n;
      }
    }
    if (rand() % 2) text[len++] = '\r';
    text[len++] = '\n';
  }
  assert_true(len > 3 * 65536);
  char *dir = lk_test_mkdtemp();
  const char *path = lk_test_path("%s/r.csv", dir);
  assert_int_equal(lk_test_write_file(path, text, len), 0);

  for (int mode = 0; mode < 2; mode++) {
    lk_csv *c;
    lk_errbuf eb = {0};
    if (mode == 0)
      assert_int_equal(lk_csv_open(path, NULL, &c, &eb), 0);
    else
      assert_int_equal(lk_csv_open_buffer(text, len, NULL, &c, &eb), 0);
    char **f;
    int n;
    for (int r = 0; r < ROWS; r++) {
      int rc = lk_csv_next(c, &f, &n);
      if (rc != 1) fail_msg("mode %d row %d: rc %d %s", mode, r, rc, lk_csv_error(c));
      if (n != nf[r]) fail_msg("mode %d row %d: %d fields want %d", mode, r, n, nf[r]);
      for (int i = 0; i < n; i++)
        if (strcmp(f[i], want[r][i]) != 0) fail_msg("mode %d row %d field %d differs", mode, r, i);
    }
    assert_int_equal(lk_csv_next(c, &f, &n), 0);
    lk_csv_close(c);
  }
  for (int r = 0; r < ROWS; r++) {
    for (int i = 0; i < nf[r]; i++) free(want[r][i]);
    free(want[r]);
  }
  free(want);
  free(nf);
  free(text);
  lk_test_rmtree(dir);
  free(dir);
}

/* A quoted field that is never closed in a file bigger than a chunk: ECORRUPT naming its line. */
static void test_unterminated_in_file(void **state) {
  size_t n = 200000;
  char *text = malloc(n + 32);
  size_t len = (size_t)sprintf(text, "a,b\nc,\"");
  memset(text + len, 'x', n);
  len += n;
  char *dir = lk_test_mkdtemp();
  const char *path = lk_test_path("%s/u.csv", dir);
  assert_int_equal(lk_test_write_file(path, text, len), 0);
  lk_csv *c;
  lk_csv_limits big = {.max_field = 1 << 20};
  assert_int_equal(lk_csv_open(path, &big, &c, NULL), 0);
  char **f;
  int nf;
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_int_equal(lk_csv_next(c, &f, &nf), LK_ECORRUPT);
  assert_non_null(strstr(lk_csv_error(c), "line 2"));
  lk_csv_close(c);
  /* the same with a field limit: the limit fires first */
  lk_csv_limits lim = {.max_field = 1000};
  assert_int_equal(lk_csv_open(path, &lim, &c, NULL), 0);
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_int_equal(lk_csv_next(c, &f, &nf), LK_ETOOBIG);
  lk_csv_close(c);
  lk_test_rmtree(dir);
  free(dir);
  free(text);
}

static void test_styles_csv(void **state) {
  const char *shared = lk_test_shared_dir();
  const char *path = shared ? lk_test_path("%s/data/fashion-catalog/styles.csv", shared) : NULL;
  size_t len = 0;
  uint8_t *raw = path ? lk_test_read_file(path, &len) : NULL;
  if (!raw) skip();
  /* independent count: the file has one quoted field and no embedded newlines */
  long lines = 0;
  for (size_t i = 0; i < len; i++) lines += raw[i] == '\n';
  if (len && raw[len - 1] != '\n') lines++;
  free(raw);

  lk_csv *c;
  lk_errbuf eb = {0};
  assert_int_equal(lk_csv_open(path, NULL, &c, &eb), 0);
  char **f;
  int nf;
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_int_equal(nf, 10);
  assert_string_equal(f[0], "id");
  assert_string_equal(f[9], "productDisplayName");
  long rows = 0, quoted = 0;
  int rc;
  while ((rc = lk_csv_next(c, &f, &nf)) == 1) {
    rows++;
    assert_true(nf >= 1);
    char *end;
    long id = strtol(f[0], &end, 10);
    if (*end || id <= 0) fail_msg("line %ld: bad id '%s'", lk_csv_line(c), f[0]);
    if (nf >= 10 && strstr(f[9], "3.5\" ")) quoted++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(rows, 35281);
  assert_int_equal(rows + 1, lines);
  assert_int_equal(quoted, 1);
  lk_csv_close(c);
}

/* NUL bytes are counted per row (for index to report them), not carried into the next row. */
static void test_nul_count(void **state) {
  lk_csv *c;
  assert_int_equal(lk_csv_open_buffer("a\0\0b,c\nd,e\n", 11, NULL, &c, NULL), 0);
  char **f;
  int nf;
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_string_equal(f[0], "ab");
  assert_int_equal(lk_csv_nuls(c), 2);
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_int_equal(lk_csv_nuls(c), 0);
  lk_csv_close(c);
  lk_csv_limits bad = {.delim = '"'};
  assert_int_equal(lk_csv_open_buffer("a", 1, &bad, &c, NULL), LK_EINVAL);
}

typedef struct dec_case {
  const char *in;
  int enc;
  int rc;
  const char *out; /* NULL: unchanged (no copy) */
  long recoded;
} dec_case;

/* Text from outside into UTF-8: what each --encoding makes of spreadsheet bytes. */
static void test_decode(void **state) {
  static const dec_case dcases[] = {
      {"plain", LK_ENC_AUTO, 0, NULL, 0},
      {"Cr\xc3\xa8me", LK_ENC_AUTO, 0, NULL, 0},                       /* valid UTF-8 kept */
      {"Cr\xe8me", LK_ENC_AUTO, 0, "Cr\xc3\xa8me", 1},                 /* cp1252 è */
      {"\x93q\x94 \x80 \x9f", LK_ENC_AUTO, 0, "\xe2\x80\x9cq\xe2\x80\x9d \xe2\x82\xac \xc5\xb8", 4},
      {"\xc3\xa8 and \xe9", LK_ENC_AUTO, 0, "\xc3\xa8 and \xc3\xa9", 1}, /* mixed: only the odd byte */
      {"\x81", LK_ENC_AUTO, 0, "\xef\xbf\xbd", 1},                     /* unassigned in cp1252 */
      {"\xed\xa0\x80", LK_ENC_AUTO, 0, "\xc3\xad\xc2\xa0\xe2\x82\xac", 3}, /* a surrogate is not UTF-8 */
      {"Cr\xe8me", LK_ENC_UTF8, LK_ECORRUPT, NULL, 0},
      {"Cr\xc3\xa8me", LK_ENC_UTF8, 0, NULL, 0},
      {"\xc3\xa8", LK_ENC_CP1252, 0, "\xc3\x83\xc2\xa8", 0},          /* declared cp1252: every byte */
      {"\x80", LK_ENC_LATIN1, 0, "\xc2\x80", 0},
      {"\xff", LK_ENC_LATIN1, 0, "\xc3\xbf", 0},
      {"ascii", LK_ENC_CP1252, 0, NULL, 0},
  };
  for (size_t i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
    const dec_case *tc = &dcases[i];
    char *out = (char *)1;
    long rec = -1;
    size_t bad = 99;
    int rc = lk_utf8_decode(tc->in, tc->enc, &out, &rec, &bad);
    if (rc != tc->rc) fail_msg("case %zu: rc %d, want %d", i, rc, tc->rc);
    if (rc) {
      assert_int_equal(bad, 2);
      continue;
    }
    if (!tc->out ? out != NULL : !out || strcmp(out, tc->out))
      fail_msg("case %zu: '%s', want '%s'", i, out ? out : "(unchanged)", tc->out ? tc->out : "(unchanged)");
    if (out) assert_int_equal(lk_utf8_fix(out, &(char *){NULL}), 0); /* the output is valid UTF-8 */
    if (rec != tc->recoded) fail_msg("case %zu: %ld recoded, want %ld", i, rec, tc->recoded);
    free(out);
  }
  assert_int_equal(lk_utf8_enc_parse("Windows-1252"), LK_ENC_CP1252);
  assert_int_equal(lk_utf8_enc_parse("UTF-8"), LK_ENC_UTF8);
  assert_int_equal(lk_utf8_enc_parse("iso-8859-1"), LK_ENC_LATIN1);
  assert_int_equal(lk_utf8_enc_parse("auto"), LK_ENC_AUTO);
  assert_int_equal(lk_utf8_enc_parse("ebcdic"), -1);
  char msg[] = "name 'Caf\xc3' cut \xe2\x80 short \xc3\xa9";
  lk_utf8_scrub(msg);
  assert_string_equal(msg, "name 'Caf?' cut ?? short \xc3\xa9");
  lk_errbuf eb = {0}; /* every error message is UTF-8: it may quote a file name or a value */
  lk_err_set(&eb, LK_EIO, "%s: gone", "/photos/caf\xe9");
  assert_string_equal(eb.msg, "/photos/caf?: gone");
}

static void test_writer(void **state) {
  static const struct { const char *in, *out; } writes[] = {
      {NULL, ""},           {"", ""},
      {"plain", "plain"},   {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""}, {"two\nlines", "\"two\nlines\""},
      {"cr\r", "\"cr\r\""},  {" lead", "\" lead\""},
      {"trail\t", "\"trail\t\""}, {"in side", "in side"},
      {"{\"k\":1}", "\"{\"\"k\"\":1}\""}, {"é;ü", "é;ü"},
  };
  for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    lk_csv_put(fp, writes[i].in);
    fclose(fp);
    assert_string_equal(buf, writes[i].out);
    free(buf);
  }
  /* random fields written as a row of 3 read back as they were */
  static const char alphabet[] = "ab,\"\n\r \txé";
  srand(99);
  for (int r = 0; r < 500; r++) {
    char f[3][24], *buf = NULL, **got;
    size_t len = 0;
    int nf;
    FILE *fp = open_memstream(&buf, &len);
    for (int i = 0; i < 3; i++) {
      int n = rand() % 23;
      for (int j = 0; j < n; j++) f[i][j] = alphabet[rand() % (sizeof alphabet - 1)];
      f[i][n] = 0;
      if (i) fputc(',', fp);
      lk_csv_put(fp, f[i]);
    }
    fputc('\n', fp);
    fclose(fp);
    lk_csv *c = NULL;
    lk_errbuf eb = {0};
    assert_int_equal(lk_csv_open_buffer(buf, len, NULL, &c, &eb), 0);
    assert_int_equal(lk_csv_next(c, &got, &nf), 1);
    assert_int_equal(nf, 3);
    for (int i = 0; i < 3; i++) assert_string_equal(got[i], f[i]);
    lk_csv_close(c);
    free(buf);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_writer),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_random_roundtrip),
      cmocka_unit_test(test_unterminated_in_file),
      cmocka_unit_test(test_styles_csv),
      cmocka_unit_test(test_nul_count),
      cmocka_unit_test(test_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
