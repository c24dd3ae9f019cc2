/* tests/test_lkx.c — the saved index (index/lkx.h, search/engine.h lk_engine_save_index): an
 * IVF saved and mapped answers exactly as the freshly built one; a file behind the catalog by
 * added items is mapped and the items added to it; one left stale by a deletion or a replaced
 * vector, damaged, truncated or of another format version is detected, passed over (the index
 * is built) and reported in one line; the exact index saves nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "catalog/catalog.h"
#include "index/lkx.h"
#include "search/engine.h"
#include "testutil.h"

#define N 1500
#define D 24

typedef struct fixture {
  char *dir, db[512], lkx[512];
  float vec[N][D];
} fixture;

static const char *colours[] = {"Black", "Blue", "Red"};

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = lk_test_mkdtemp();
  snprintf(f->db, sizeof f->db, "%s/c.db", f->dir);
  assert_int_equal(lk_engine_index_path(f->db, f->lkx, sizeof f->lkx), 0);
  lk_catalog *c;
  assert_non_null(c = lk_test_catalog_new(f->db));
  srand(11);
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof name, "P%d", i);
    lk_item it = {.id = 10 + 2 * i, .path = "p.jpg", .hash = name, .status = "ok"};
    it.field[4] = (char *)colours[i % 3];
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    lk_test_unit_vector(f->vec[i], D);
    assert_int_equal(lk_catalog_put_vector(c, it.id, f->vec[i], D), 0);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  lk_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static lk_engine *open_engine(fixture *f, int index, int expect_state) {
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = index;
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_open(f->db, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_index_state(e), expect_state);
  return e;
}

/* Every 7th item's vector as a query, unfiltered and filtered: hits identical (ids, scores). */
static void assert_same_results(fixture *f, const lk_engine *a, const lk_engine *b) {
  lk_errbuf eb = {0};
  lk_filter flt = {0};
  assert_int_equal(lk_filter_add(&flt, "baseColour=Red", &eb), 0);
  for (int q = 0; q < N; q += 7)
    for (int filtered = 0; filtered < 2; filtered++) {
      lk_hit ha[20], hb[20];
      int na, nb;
      assert_int_equal(lk_engine_search_vector(a, f->vec[q], filtered ? &flt : NULL, 20, -1, ha, &na, &eb), 0);
      assert_int_equal(lk_engine_search_vector(b, f->vec[q], filtered ? &flt : NULL, 20, -1, hb, &nb, &eb), 0);
      assert_int_equal(na, nb);
      for (int i = 0; i < na; i++) {
        assert_int_equal(ha[i].id, hb[i].id);
        assert_true(ha[i].score == hb[i].score);
      }
    }
}

/* Builds (the file there removed) and saves the IVF; the next open maps it. */
static lk_engine *save_fresh(fixture *f) {
  unlink(f->lkx);
  lk_engine *e = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_save_index(e, f->lkx, &eb), 0);
  return e;
}

/* The catalog opened for writing, in a transaction: edit_end commits and closes. */
static lk_catalog *edit(fixture *f) {
  lk_catalog *c = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(f->db, LK_CATALOG_CREATE, &c, &eb), 0);
  assert_int_equal(lk_catalog_begin(c), 0);
  return c;
}

static void edit_end(lk_catalog *c) {
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
}

static void test_roundtrip(void **state) {
  fixture *f = *state;
  lk_engine *built = save_fresh(f);
  lk_engine *mapped = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_MAPPED);
  assert_null(lk_engine_index_note(mapped));
  assert_string_equal(lk_engine_index_name(mapped), "ivf");
  assert_same_results(f, built, mapped);
  /* the exact index ignores the file and saves nothing */
  lk_engine *exact = open_engine(f, LK_ENGINE_INDEX_EXACT, LK_ENGINE_LKX_NONE);
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_save_index(exact, f->lkx, &eb), LK_EINVAL);
  lk_engine_close(exact);
  lk_engine_close(mapped);
  lk_engine_close(built);
}

/* A catalog change after the save: the file is passed over, the index built, the results
 * those of an engine that never saw a file. */
static void test_stale(void **state) {
  fixture *f = *state;
  lk_engine_close(save_fresh(f));
  lk_catalog *c = edit(f);
  assert_int_equal(lk_catalog_delete_item(c, 10 + 2 * 5), 0);
  edit_end(c);
  lk_engine *stale = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  assert_non_null(lk_engine_index_note(stale));
  assert_non_null(strstr(lk_engine_index_note(stale), "stale"));
  assert_int_equal(lk_engine_size(stale), N - 1);
  unlink(f->lkx);
  lk_engine *fresh = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  assert_null(lk_engine_index_note(fresh));
  assert_same_results(f, fresh, stale);
  lk_engine_close(fresh);
  lk_engine_close(stale);
}

/* Items added after the save (ids after the saved ones): the file is mapped and the new rows
 * added to it; each new item finds itself, and hits agree with the exact index. A vector
 * replaced since the save: passed over. */
static void test_behind(void **state) {
  fixture *f = *state;
  lk_engine_close(save_fresh(f));
  lk_catalog *c;
  lk_errbuf eb = {0};
  float extra[40][D];
  c = edit(f);
  for (int i = 0; i < 40; i++) {
    lk_item it = {.id = 100000 + i, .path = "p.jpg", .hash = "new", .status = "ok"};
    it.field[4] = "Red";
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    lk_test_unit_vector(extra[i], D);
    assert_int_equal(lk_catalog_put_vector(c, it.id, extra[i], D), 0);
  }
  edit_end(c);
  lk_engine *behind = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BEHIND);
  lk_engine *exact = open_engine(f, LK_ENGINE_INDEX_EXACT, LK_ENGINE_LKX_NONE);
  assert_int_equal(lk_engine_size(behind), N + 40);
  for (int i = 0; i < 40; i++) {
    lk_hit ha[10], hb[10];
    int na, nb;
    assert_int_equal(lk_engine_search_vector(behind, extra[i], NULL, 10, -1, ha, &na, &eb), 0);
    assert_int_equal(lk_engine_search_vector(exact, extra[i], NULL, 10, -1, hb, &nb, &eb), 0);
    assert_int_equal(ha[0].id, 100000 + i);
    assert_int_equal(na, nb);
    for (int j = 0; j < na; j++) assert_int_equal(ha[j].id, hb[j].id);
  }
  /* saved again, it is current */
  assert_int_equal(lk_engine_save_index(behind, f->lkx, &eb), 0);
  lk_engine *again = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_MAPPED);
  assert_same_results(f, behind, again);
  lk_engine_close(again);
  lk_engine_close(exact);
  lk_engine_close(behind);
  /* a replaced vector of a saved item */
  lk_engine_close(save_fresh(f));
  c = edit(f);
  assert_int_equal(lk_catalog_put_vector(c, 10 + 2 * 9, extra[0], D), 0);
  edit_end(c);
  lk_engine *changed = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  assert_non_null(strstr(lk_engine_index_note(changed), "vectors changed"));
  lk_engine_close(changed);
}

static void rewrite(const char *path, long off, const void *bytes, size_t n) {
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, off, SEEK_SET), 0);
  assert_int_equal(fwrite(bytes, 1, n, fp), n);
  fclose(fp);
}

/* Opens with the damaged file: built, not mapped, and the note names the fault. */
static void expect_rejected(fixture *f, const char *why) {
  lk_engine *e = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  const char *note = lk_engine_index_note(e);
  assert_non_null(note);
  assert_null(strchr(note, '\n'));
  if (!strstr(note, why)) fail_msg("note '%s' does not say '%s'", note, why);
  lk_engine_close(e);
}

static void test_damaged(void **state) {
  fixture *f = *state;
  lk_engine_close(save_fresh(f));
  struct stat st;
  assert_int_equal(stat(f->lkx, &st), 0);
  /* a flipped byte in the last section (the lists' sums) and in the header */
  uint8_t b = 0x5a;
  rewrite(f->lkx, (long)st.st_size - LKX_PAGE + 3, &b, 1);
  expect_rejected(f, "checksum");
  lk_engine_close(save_fresh(f));
  rewrite(f->lkx, 50, &b, 1);
  expect_rejected(f, "header checksum");
  /* truncated: the last page gone, then all but half the header */
  lk_engine_close(save_fresh(f));
  assert_int_equal(truncate(f->lkx, st.st_size - LKX_PAGE), 0);
  expect_rejected(f, "outside the file");
  assert_int_equal(truncate(f->lkx, LKX_PAGE / 2), 0);
  expect_rejected(f, "truncated");
  /* another format version, with a valid header checksum */
  lk_engine_close(save_fresh(f));
  uint8_t h[LKX_PAGE];
  FILE *fp = fopen(f->lkx, "rb");
  assert_int_equal(fread(h, 1, LKX_PAGE, fp), LKX_PAGE);
  fclose(fp);
  uint32_t v = LKX_VERSION + 1, c;
  memcpy(h + 8, &v, 4);
  c = (uint32_t)crc32(0, h, LKX_PAGE - 4);
  memcpy(h + LKX_PAGE - 4, &c, 4);
  rewrite(f->lkx, 0, h, LKX_PAGE);
  expect_rejected(f, "format version");
  /* and the file rebuilt by a save maps again */
  lk_engine_close(save_fresh(f));
  lk_engine_close(open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_MAPPED));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
      cmocka_unit_test_setup_teardown(test_behind, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
