/* tests/test_export.c — `lookalike export` (export/export.c) on a small SQLite catalog made
 * through the catalog API: every format parses, holds each item with a vector exactly once
 * with its exact float32 values and metadata (awkward text included), leaves out items
 * without a vector, and refuses bad names; the csv format read back with the CSV reader. tests/pg.sh checks the same formats in depth
 * (tests/export_check.py) on a PostgreSQL catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "catalog/catalog.h"
#include "catalog/csv.h"
#include "export/export.h"
#include "testutil.h"

#define DIM 5
static const float VEC[3][DIM] = {{0.1f, -0.25f, 1e-7f, 0.333333343f, 0.9f},
                                  {0, 1, 0, 0, 0},
                                  {0.5f, 0.5f, 0.5f, 0.5f, 0.123456789f}};
static const char *NOTE = "tab\there, \"quoted\", back\\slash\nline, ünïcödé";

typedef struct fixture {
  char *dir;
  char db[512];
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  fx->dir = lk_test_mkdtemp();
  snprintf(fx->db, sizeof fx->db, "%s/c.db", fx->dir);
  lk_catalog *c = NULL;
  lk_errbuf eb = {0};
  if (lk_catalog_open(fx->db, LK_CATALOG_CREATE, &c, &eb)) return -1;
  json_t *ex = json_pack("{s:s}", "note", NOTE);
  char *extra = json_dumps(ex, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(ex);
  for (int i = 0; i < 4; i++) { /* ids 10, 20, 30 with vectors; 40 without (a failed photo) */
    lk_item it = {.id = 10 * (i + 1), .path = (char *)"/p/x.jpg", .hash = (char *)"ab", .status = (char *)(i < 3 ? "ok" : "error")};
    it.field[0] = (char *)"Women";
    it.field[3] = i == 1 ? NULL : (char *)"Heels";
    it.extra = i == 0 ? extra : NULL;
    if (lk_catalog_put_item(c, &it)) return -1;
    if (i < 3 && lk_catalog_put_vector(c, it.id, VEC[i], DIM)) return -1;
  }
  lk_catalog_set_meta(c, "dim", "5");
  free(extra);
  lk_catalog_close(c);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  lk_test_rmtree(fx->dir);
  free(fx->dir);
  free(fx);
  return 0;
}

static void run_export(fixture *fx, int format, const char *out, lk_export_stats *st) {
  lk_export_opts o;
  lk_export_opts_default(&o);
  o.db = fx->db;
  o.format = format;
  o.out = out;
  o.batch = 2;
  lk_errbuf eb = {0};
  if (lk_export_run(&o, st, &eb)) fail_msg("export: %s", eb.msg);
  assert_int_equal(st->items, 4);
  assert_int_equal(st->exported, 3);
  assert_int_equal(st->skipped, 1);
  assert_int_equal(st->dim, DIM);
}

/* One exported point: its id's row, the vector exactly, the metadata. */
static void check_point(json_t *id, json_t *vec, json_t *meta, int seen[3], int strict) {
  int i = (int)json_integer_value(id) / 10 - 1;
  assert_true(i >= 0 && i < 3);
  seen[i]++;
  assert_int_equal(json_array_size(vec), DIM);
  for (int k = 0; k < DIM; k++) assert_true((float)json_number_value(json_array_get(vec, (size_t)k)) == VEC[i][k]);
  assert_string_equal(json_string_value(json_object_get(meta, "gender")), "Women");
  json_t *type = json_object_get(meta, "articleType");
  if (i == 1) assert_true(strict ? !strcmp(json_string_value(type), "") : type == NULL);
  else assert_string_equal(json_string_value(type), "Heels");
  json_t *extra = json_object_get(meta, "extra");
  if (i == 0) {
    json_t *e = strict ? json_loads(json_string_value(extra), 0, NULL) : json_incref(extra);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "note")), NOTE);
    json_decref(e);
  }
}

static void test_jsonl_qdrant_milvus(void **state) {
  fixture *fx = *state;
  lk_export_stats st;
  int seen[3] = {0};
  const char *p = lk_test_path("%s/x.jsonl", fx->dir);
  run_export(fx, LK_EXPORT_JSONL, p, &st);
  FILE *fp = fopen(p, "r");
  char line[8192];
  while (fgets(line, sizeof line, fp)) {
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    check_point(json_object_get(o, "id"), json_object_get(o, "vector"), o, seen, 0);
    json_decref(o);
  }
  fclose(fp);
  for (int i = 0; i < 3; i++) assert_int_equal(seen[i], 1);

  const char *dq = lk_test_path("%s/q", fx->dir);
  run_export(fx, LK_EXPORT_QDRANT, dq, &st);
  assert_int_equal(st.files, 3); /* collection.json + 2 batches of 2 */
  json_t *coll = json_load_file(lk_test_path("%s/collection.json", dq), 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(coll, "vectors"), "size")), DIM);
  json_decref(coll);
  memset(seen, 0, sizeof seen);
  for (int f = 1; f <= 2; f++) {
    json_t *pts = json_load_file(lk_test_path("%s/points-%05d.json", dq, f), 0, NULL);
    assert_non_null(pts);
    size_t k;
    json_t *pt;
    json_array_foreach(json_object_get(pts, "points"), k, pt)
        check_point(json_object_get(pt, "id"), json_object_get(pt, "vector"), json_object_get(pt, "payload"), seen, 0);
    json_decref(pts);
  }
  for (int i = 0; i < 3; i++) assert_int_equal(seen[i], 1);

  const char *dm = lk_test_path("%s/m", fx->dir);
  run_export(fx, LK_EXPORT_MILVUS, dm, &st);
  memset(seen, 0, sizeof seen);
  for (int f = 1; f <= 2; f++) {
    json_t *rows = json_load_file(lk_test_path("%s/rows-%05d.json", dm, f), 0, NULL);
    assert_non_null(rows);
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(rows, "rows"), k, r) {
      assert_int_equal(json_object_size(r), 2 + LK_NFIELDS + 2); /* every field, always */
      check_point(json_object_get(r, "id"), json_object_get(r, "vector"), r, seen, 1);
    }
    json_decref(rows);
  }
  for (int i = 0; i < 3; i++) assert_int_equal(seen[i], 1);
}

static void test_pgvector_and_npy(void **state) {
  fixture *fx = *state;
  lk_export_stats st;
  const char *p = lk_test_path("%s/x.sql", fx->dir);
  run_export(fx, LK_EXPORT_PGVECTOR, p, &st);
  size_t len;
  char *sql = (char *)lk_test_read_file(p, &len);
  assert_non_null(strstr(sql, "embedding vector(5)"));
  char *copy = strstr(sql, "FROM stdin;\n"), *end = strstr(sql, "\n\\.\n");
  assert_true(copy && end && copy < end);
  /* 3 rows of 13 tab-separated columns: the tab and line break inside the note are escaped */
  int rows = 0;
  for (char *q = copy + 12; q < end + 1; rows++) {
    char *nl = strchr(q, '\n');
    int tabs = 0;
    for (char *t = q; t < nl; t++) tabs += *t == '\t';
    assert_int_equal(tabs, 12);
    q = nl + 1;
  }
  assert_int_equal(rows, 3);
  assert_non_null(strstr(copy, "tab\\\\there")); /* JSON's \t, its backslash doubled by COPY */
  assert_non_null(strstr(copy, "\\N")); /* NULL */
  free(sql);

  const char *dn = lk_test_path("%s/n", fx->dir);
  run_export(fx, LK_EXPORT_NPY, dn, &st);
  uint8_t *v = lk_test_read_file(lk_test_path("%s/vector.npy", dn), &len);
  assert_int_equal(len, 128 + 3 * DIM * 4);
  assert_memory_equal(v, "\x93NUMPY\x01\x00", 8);
  assert_non_null(strstr((char *)v + 10, "'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }"));
  assert_memory_equal(v + 128, VEC, sizeof VEC); /* little-endian float32, row-major */
  free(v);
  uint8_t *ids = lk_test_read_file(lk_test_path("%s/id.npy", dn), &len);
  assert_int_equal(len, 128 + 3 * 8);
  assert_int_equal(ids[128], 10);
  assert_int_equal(ids[136], 20);
  free(ids);
  uint8_t *g = lk_test_read_file(lk_test_path("%s/gender.npy", dn), &len);
  assert_non_null(strstr((char *)g + 10, "'descr': '<U5'"));
  assert_int_equal(len, 128 + 3 * 5 * 4);
  assert_int_equal(g[128], 'W');
  assert_int_equal(g[132], 'o');
  free(g);
}

/* csv: the header, then each item with a vector as a row the CSV reader gives back whole */
static void test_csv(void **state) {
  fixture *fx = *state;
  lk_export_stats st;
  const char *p = lk_test_path("%s/x.csv", fx->dir);
  run_export(fx, LK_EXPORT_CSV, p, &st);
  assert_int_equal(st.files, 1);
  lk_csv *c = NULL;
  lk_errbuf eb = {0};
  char **f;
  int nf;
  assert_int_equal(lk_csv_open(p, NULL, &c, &eb), 0);
  assert_int_equal(lk_csv_next(c, &f, &nf), 1);
  assert_int_equal(nf, 1 + LK_NFIELDS + 2 + DIM);
  assert_string_equal(f[0], "id");
  assert_string_equal(f[1], "gender");
  assert_string_equal(f[9], "productDisplayName");
  assert_string_equal(f[10], "path");
  assert_string_equal(f[11], "extra");
  assert_string_equal(f[12], "v0");
  assert_string_equal(f[12 + DIM - 1], "v4");
  for (int i = 0; i < 3; i++) {
    assert_int_equal(lk_csv_next(c, &f, &nf), 1);
    assert_int_equal(nf, 1 + LK_NFIELDS + 2 + DIM);
    assert_int_equal(atoi(f[0]), 10 * (i + 1));
    assert_string_equal(f[1], "Women");
    assert_string_equal(f[4], i == 1 ? "" : "Heels"); /* unknown: empty */
    assert_string_equal(f[10], "/p/x.jpg");
    if (i == 0) { /* the JSON text with its quotes and commas, whole */
      json_t *e = json_loads(f[11], 0, NULL);
      assert_non_null(e);
      assert_string_equal(json_string_value(json_object_get(e, "note")), NOTE);
      json_decref(e);
    }
    for (int k = 0; k < DIM; k++) assert_true(strtof(f[12 + k], NULL) == VEC[i][k]); /* exact */
  }
  assert_int_equal(lk_csv_next(c, &f, &nf), 0); /* 40, without a vector, left out */
  lk_csv_close(c);
  int fmt;
  assert_int_equal(lk_export_format_parse("csv", &fmt), 0);
  assert_int_equal(fmt, LK_EXPORT_CSV);
}

static void test_refusals(void **state) {
  fixture *fx = *state;
  lk_export_opts o;
  lk_export_opts_default(&o);
  lk_export_stats st;
  lk_errbuf eb = {0};
  o.db = fx->db;
  o.out = lk_test_path("%s/bad.sql", fx->dir);
  o.format = LK_EXPORT_PGVECTOR;
  o.name = "items; DROP TABLE x";
  assert_int_equal(lk_export_run(&o, &st, &eb), LK_EINVAL);
  o.name = "lookalike";
  o.db = lk_test_path("%s/missing.db", fx->dir);
  assert_int_equal(lk_export_run(&o, &st, &eb), LK_ENOTFOUND);
  int f;
  assert_int_equal(lk_export_format_parse("qdrant", &f), 0);
  assert_int_equal(f, LK_EXPORT_QDRANT);
  assert_int_equal(lk_export_format_parse("parquet", &f), LK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_jsonl_qdrant_milvus, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pgvector_and_npy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
