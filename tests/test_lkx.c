/* tests/test_lkx.c — the saved index (index/lkx.h, search/engine.h lk_engine_save_index): an
 * engine served from the file alone answers exactly as the freshly built one (searches, similar,
 * item details, facet and other filters); a server (search/live.c) brings a file behind the
 * catalog up to date with the changes since (added, updated, deleted) as a delta, without a
 * rebuild; an engine that must be full maps the IVF of a file behind by added items and adds
 * them; a file left stale by a deletion or a replaced vector, damaged (any section),
 * truncated, of another format version, another recipe, or another catalog at the same
 * version is detected, passed over (the index is built) and reported in one line; the exact
 * index saves nothing; the file streamed from the catalog (lk_engine_build_index) is the one the
 * engine built in memory saves, byte for byte, with and without a label prior. */
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
#include <sqlite3.h>
#include <zlib.h>

#include "catalog/catalog.h"
#include "embed/projection.h"
#include "embed/recipe.h"
#include "index/lkx.h"
#include "search/engine.h"
#include "search/facetcode.h"
#include "search/itemtab.h"
#include "search/live.h"
#include "testutil.h"

#define N 1500
#define D 24

typedef struct fixture {
  char *dir, db[512], lkx[512];
  float vec[N][D];
} fixture;

static const char *colours[] = {"Black", "Blue", "Red"};
static const char *genders[] = {"Men", "Women", "Boys", "Girls", "Unisex"};

/* The fixture's catalog at db, the photos' hashes named prefix0, prefix1, ... */
static void make_catalog(fixture *f, const char *db, const char *prefix) {
  lk_catalog *c;
  assert_non_null(c = lk_test_catalog_new(db));
  srand(11);
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof name, "%s%d", prefix, i);
    lk_item it = {.id = 10 + 2 * i, .path = "p.jpg", .hash = name, .status = "ok", .size = i, .mtime = 7 * i,
                  .extra = i % 4 ? "{\"fit\":\"slim\"}" : NULL};
    it.field[4] = (char *)colours[i % 3];
    it.field[LK_FIELD_GENDER] = (char *)genders[i % 5];
    it.field[LK_FIELD_NAME] = i % 2 ? "Shirt" : "Dress";
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    lk_test_unit_vector(f->vec[i], D);
    assert_int_equal(lk_catalog_put_vector(c, it.id, f->vec[i], D), 0);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = lk_test_mkdtemp();
  snprintf(f->db, sizeof f->db, "%s/c.db", f->dir);
  assert_int_equal(lk_engine_index_path(f->db, f->lkx, sizeof f->lkx), 0);
  make_catalog(f, f->db, "P");
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

static void assert_same_str(const char *a, const char *b) {
  if (!a || !b) assert_ptr_equal(a, b);
  else assert_string_equal(a, b);
}

static void assert_same_item(const lk_item *a, const lk_item *b) {
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(a->id, b->id);
  assert_int_equal(a->size, b->size);
  assert_int_equal(a->mtime, b->mtime);
  assert_same_str(a->path, b->path);
  assert_same_str(a->hash, b->hash);
  for (int k = 0; k < LK_NFIELDS; k++) assert_same_str(a->field[k], b->field[k]);
  assert_same_str(a->extra, b->extra);
  assert_same_str(a->status, b->status);
  assert_same_str(a->error, b->error);
  assert_same_str(a->source, b->source);
}

static float tol; /* scores may differ by this much (0: bit-identical) */

static void assert_same_hits(const lk_hit *ha, int na, const lk_hit *hb, int nb) {
  assert_int_equal(na, nb);
  for (int i = 0; i < na; i++) {
    assert_int_equal(ha[i].id, hb[i].id);
    if (!(fabsf(ha[i].score - hb[i].score) <= tol)) fail_msg("hit %d: score %.9g vs %.9g", i, ha[i].score, hb[i].score);
  }
}

/* Every 7th item's vector as a query, unfiltered and with a facet filter (checked in the IVF's
 * columns), a facet filter of two fields, a filter on a field that is not a facet and one on
 * an extra column (walked): hits identical (ids, scores); similar to every 7th item too, and
 * every item's details. */
static void assert_same_results(fixture *f, const lk_engine *a, const lk_engine *b) {
  lk_errbuf eb = {0};
  lk_filter flt[5] = {{0}};
  assert_int_equal(lk_filter_add(&flt[1], "baseColour=Red", &eb), 0);
  assert_int_equal(lk_filter_add(&flt[2], "baseColour=Blue", &eb), 0);
  assert_int_equal(lk_filter_add(&flt[2], "gender=Women", &eb), 0);
  assert_int_equal(lk_filter_add(&flt[3], "productDisplayName=Shirt", &eb), 0);
  assert_int_equal(lk_filter_add(&flt[4], "fit=slim", &eb), 0);
  assert_int_equal(lk_engine_filter_in_index(a, &flt[1]), lk_engine_filter_in_index(b, &flt[1]));
  assert_int_equal(lk_engine_filter_in_index(a, &flt[2]), lk_engine_filter_in_index(b, &flt[2]));
  assert_int_equal(lk_engine_item_count(a), lk_engine_item_count(b));
  assert_int_equal(lk_engine_size(a), lk_engine_size(b));
  for (size_t i = 0; i < lk_engine_item_count(a); i++) {
    assert_same_item(lk_engine_item_at(a, i), lk_engine_item_at(b, i));
    int64_t id = lk_engine_item_at(a, i)->id;
    assert_same_item(lk_engine_item(a, id), lk_engine_item(b, id));
  }
  for (int q = 0; q < N; q += 7)
    for (int k = 0; k < 5; k++) {
      if (k >= 3 && q % 70) continue; /* the walked filters (slower): every 70th */
      lk_hit ha[20], hb[20];
      int na, nb;
      assert_int_equal(lk_engine_search_vector(a, f->vec[q], k ? &flt[k] : NULL, 20, -1, ha, &na, &eb), 0);
      assert_int_equal(lk_engine_search_vector(b, f->vec[q], k ? &flt[k] : NULL, 20, -1, hb, &nb, &eb), 0);
      assert_same_hits(ha, na, hb, nb);
      int64_t id = lk_engine_item_at(a, (size_t)q % lk_engine_item_count(a))->id;
      int ra = lk_engine_similar(a, id, k ? &flt[k] : NULL, 20, ha, &na, &eb);
      assert_int_equal(ra, lk_engine_similar(b, id, k ? &flt[k] : NULL, 20, hb, &nb, &eb));
      if (!ra) assert_same_hits(ha, na, hb, nb);
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
  lk_filter red = {0};
  lk_errbuf rb = {0};
  assert_int_equal(lk_filter_add(&red, "baseColour=Red", &rb), 0);
  assert_int_equal(lk_engine_filter_in_index(mapped, &red), 1); /* the dictionaries came with it */
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
  /* a flipped byte in the last section (the facet codes' crc32) and in the header */
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

/* Items added, updated (a vector and a new facet value; fields only) and deleted after the save:
 * a server's engine (search/live.c) maps the file and carries exactly those changes as a delta
 * (no rebuild), and answers as an engine built from the catalog now. */
static void test_delta(void **state) {
  fixture *f = *state;
  lk_engine_close(save_fresh(f));
  float extra[6][D];
  lk_catalog *c = edit(f);
  for (int i = 0; i < 6; i++) lk_test_unit_vector(extra[i], D);
  for (int i = 0; i < 4; i++) {
    lk_item it = {.id = 100000 + i, .path = "n.jpg", .hash = "new", .status = "ok"};
    it.field[4] = "Red";
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, it.id, extra[i], D), 0);
  }
  lk_item up = {.id = 10 + 2 * 3, .path = "u.jpg", .hash = "upd", .status = "ok"};
  up.field[4] = "Green"; /* a value the saved dictionaries lack */
  assert_int_equal(lk_catalog_put_item(c, &up), 0);
  assert_int_equal(lk_catalog_put_vector(c, up.id, extra[4], D), 0);
  lk_item re = {.id = 10 + 2 * 4, .path = "p.jpg", .hash = "P4", .status = "ok"};
  re.field[4] = "Blue"; /* was Black: fields only */
  assert_int_equal(lk_catalog_put_item(c, &re), 0);
  assert_int_equal(lk_catalog_delete_item(c, 10 + 2 * 5), 0);
  assert_int_equal(lk_catalog_delete_item(c, 10 + 2 * (N - 1)), 0);
  edit_end(c);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_live_opts lo;
  lk_live_opts_default(&lo);
  lo.follow = 0;
  lk_live *l = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_live_open(f->db, &o, &lo, &l, &eb), 0);
  const lk_live_snap *s = lk_live_acquire(l);
  lk_engine *served = lk_live_engine(s);
  assert_int_equal(lk_engine_delta(served), 8); /* the file's rows and the 8 changed ids */
  assert_int_equal(lk_engine_item_count(served), N + 4 - 2);
  lk_hit h[5];
  int n;
  lk_filter green = {0};
  assert_int_equal(lk_filter_add(&green, "baseColour=Green", &eb), 0);
  assert_int_equal(lk_engine_search_vector(served, extra[0], &green, 5, -1, h, &n, &eb), 0);
  assert_int_equal(n, 1);
  assert_int_equal(h[0].id, up.id);
  assert_null(lk_engine_item(served, 10 + 2 * 5));
  assert_null(lk_engine_vector(served, 10 + 2 * 5));
  assert_string_equal(lk_engine_item(served, re.id)->field[4], "Blue");
  /* followed, with the quiet catalog's optimiser due at once: the engine served from the file
   * keeps its small delta (a rebuild would hold every item and row in RAM) */
  lk_live_opts fo = lo;
  fo.follow = 1;
  fo.optimize_after_s = 0;
  lk_live *fl = NULL;
  assert_int_equal(lk_live_open(f->db, &o, &fo, &fl, &eb), 0);
  usleep(1200 * 1000); /* (the follower looks every 250 ms) */
  const lk_live_snap *fs = lk_live_acquire(fl);
  assert_int_equal(lk_engine_delta(lk_live_engine(fs)), 8);
  assert_int_equal(lk_engine_mapped(lk_live_engine(fs)), 1);
  lk_live_release(fl, fs);
  lk_live_close(fl);
  unlink(f->lkx);
  lk_engine *fresh = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  tol = 1e-6f; /* the delta's rows are scored by the exact scan's kernel */
  assert_same_results(f, fresh, served);
  tol = 0;
  lk_engine_close(fresh);
  lk_live_release(l, s);
  lk_live_close(l);
}

/* A server's engine served from the file, whose delta grows past what it keeps (2 % of the
 * items, at least 256 changes): its optimiser writes the file anew, streamed from the catalog
 * (a rebuild in RAM would hold every row: ~32 GB at ten million items), and maps it; the engine
 * in use is then mapped with no delta, the file at the catalog's version, and it answers as an
 * engine built from the catalog. */
static void test_delta_remap(void **state) {
  fixture *f = *state;
  lk_engine_close(save_fresh(f));
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_live_opts lo;
  lk_live_opts_default(&lo);
  lo.optimize_after_s = 0;
  lk_live *l = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_live_open(f->db, &o, &lo, &l, &eb), 0);
  const lk_live_snap *s = lk_live_acquire(l);
  assert_int_equal(lk_engine_mapped(lk_live_engine(s)), 1);
  lk_live_release(l, s);
  enum { ADD = 300 };
  lk_catalog *c = edit(f);
  for (int i = 0; i < ADD; i++) {
    float v[D];
    lk_test_unit_vector(v, D);
    lk_item it = {.id = 200000 + i, .path = "n.jpg", .hash = "new", .status = "ok"};
    it.field[4] = "Red";
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, it.id, v, D), 0);
  }
  edit_end(c);
  int done = 0;
  for (int t = 0; t < 300 && !done; t++) { /* (the follower looks every 250 ms; the build is quick) */
    s = lk_live_acquire(l);
    lk_engine *e = lk_live_engine(s);
    done = lk_engine_item_count(e) == N + ADD && lk_engine_delta(e) == 0 && lk_engine_mapped(e);
    lk_live_release(l, s);
    if (!done) usleep(100 * 1000);
  }
  assert_true(done);
  lkx_meta m;
  int64_t v = -1;
  assert_int_equal(lk_lkx_peek(f->lkx, &m, &eb), 0);
  c = edit(f);
  assert_int_equal(lk_catalog_version(c, &v), 0);
  edit_end(c);
  assert_int_equal(m.catalog_version, v);
  s = lk_live_acquire(l);
  char aside[4096];
  snprintf(aside, sizeof aside, "%s.aside", f->lkx);
  assert_int_equal(rename(f->lkx, aside), 0); /* (the served engine keeps its mapping) */
  lk_engine *fresh = open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_BUILT);
  assert_same_results(f, fresh, lk_live_engine(s));
  lk_engine_close(fresh);
  lk_live_release(l, s);
  lk_live_close(l);
  unlink(aside);
}

/* Offset of section tag in a saved index file. */
static long section_offset(const char *path, uint32_t tag) {
  uint8_t h[LKX_PAGE];
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fread(h, 1, LKX_PAGE, fp), LKX_PAGE);
  fclose(fp);
  uint32_t ns;
  memcpy(&ns, h + 12, 4);
  for (uint32_t i = 0; i < ns; i++) {
    uint32_t t;
    uint64_t off;
    memcpy(&t, h + 64 + 24 * i, 4);
    memcpy(&off, h + 64 + 24 * i + 8, 8);
    if (t == tag) return (long)off;
  }
  fail_msg("no section %08x", tag);
  return -1;
}

/* The header's recipe id changed (checksum made right): stale. */
static void set_recipe(const char *path, const char *rid) {
  uint8_t h[LKX_PAGE];
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(fread(h, 1, LKX_PAGE, fp), LKX_PAGE);
  memcpy(h + 16, rid, 16);
  uint32_t c = (uint32_t)crc32(0, h, LKX_PAGE - 4);
  memcpy(h + LKX_PAGE - 4, &c, 4);
  assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
  assert_int_equal(fwrite(h, 1, LKX_PAGE, fp), LKX_PAGE);
  fclose(fp);
}

static void expect_rejected(fixture *f, const char *why);

static void copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  assert_non_null(a);
  assert_non_null(b);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
  fclose(a);
  assert_int_equal(fclose(b), 0);
}
static void rewrite(const char *path, long off, const void *bytes, size_t n);

/* The engine a server opens (lk_engine_open_saved) from f's file, served from it (mapped). */
static lk_engine *open_served(fixture *f, int64_t *held) {
  lk_catalog *cat = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_catalog_open(f->db, LK_CATALOG_READONLY, &cat, &eb), 0);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_engine *e = NULL;
  assert_int_equal(lk_engine_open_saved(cat, f->db, &o, &e, held, &eb), 0);
  lk_catalog_close(cat);
  assert_int_equal(lk_engine_index_state(e), LK_ENGINE_LKX_MAPPED);
  return e;
}

/* The engine's own sections damaged, another recipe's file, another catalog's file at the same
 * version: each passed over, the index built, the results those of the freshly built engine. */
static void test_engine_sections(void **state) {
  fixture *f = *state;
  lk_engine *built = save_fresh(f);
  char db2[600], lkx2[620], keep[620];
  snprintf(keep, sizeof keep, "%s.keep", f->lkx);
  copy_file(f->lkx, keep);
  uint8_t b = 0x5a;
  long vecs = section_offset(f->lkx, 0x53434556 /* VECS */);
  rewrite(f->lkx, vecs + 5, &b, 1); /* in row 0 */
  expect_rejected(f, "checksum");
  /* a server's open checks the rows a chunk at a time as searches read them: the damaged
   * chunk's rows are never served (the search that needs them fails), the others are */
  lk_errbuf eb = {0};
  int64_t held = -2;
  lk_engine *lazy = open_served(f, &held);
  assert_true(held >= 0);
  int last = (LKX_CHUNK - 1) / (4 * D); /* the last row with bytes in chunk 0 (index/lkx.h) */
  assert_null(lk_engine_vector(lazy, 10));                       /* row 0: chunk 0, damaged */
  assert_null(lk_engine_vector(lazy, 10 + 2 * last));            /* chunk 0 */
  assert_non_null(lk_engine_vector(lazy, 10 + 2 * (last + 1)));  /* chunk 1, intact */
  lk_hit h[10];
  int nh;
  assert_int_equal(lk_engine_search_vector(lazy, f->vec[0], NULL, 10, -1, h, &nh, &eb), LK_ECORRUPT);
  assert_int_equal(lk_engine_save_index(lazy, lk_test_path("%s/again.lkx", f->dir), &eb), LK_ECORRUPT);
  lk_engine_close(lazy);
  /* the IVF's lists and per-row codes too (index/lkx.h chunk checksums): a byte of the coarse
   * codes (one chunk at this size: every list) damaged; the open whole refuses the file */
  copy_file(keep, f->lkx);
  rewrite(f->lkx, section_offset(f->lkx, 0x4956465d /* the lists' codes */) + 3, &b, 1);
  lazy = open_served(f, &held);
  assert_non_null(lk_engine_vector(lazy, 10 + 2 * (last + 1))); /* (the rows are intact) */
  assert_int_equal(lk_engine_search_vector(lazy, f->vec[300], NULL, 10, -1, h, &nh, &eb), LK_ECORRUPT);
  print_message("damaged list, searched: %s\n", lk_err_msg(&eb));
  assert_int_equal(lk_engine_save_index(lazy, lk_test_path("%s/again.lkx", f->dir), &eb), LK_ECORRUPT);
  lk_engine_close(lazy);
  expect_rejected(f, "checksum");
  copy_file(keep, f->lkx); /* (the opens above saved nothing: keep is the file saved) */
  set_recipe(f->lkx, "00000000deadbeef");
  expect_rejected(f, "another recipe");
  /* the same writes, other photos: the same catalog version, another catalog */
  snprintf(db2, sizeof db2, "%s/other.db", f->dir);
  snprintf(lkx2, sizeof lkx2, "%s.lkx", db2);
  make_catalog(f, db2, "Q");
  unlink(f->lkx);
  assert_int_equal(rename(keep, lkx2), 0);
  lk_engine *e = NULL;
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  assert_int_equal(lk_engine_open(db2, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_index_state(e), LK_ENGINE_LKX_BUILT);
  assert_non_null(lk_engine_index_note(e));
  if (!strstr(lk_engine_index_note(e), "not the catalog's")) fail_msg("note: %s", lk_engine_index_note(e));
  assert_string_equal(lk_engine_item(e, 10)->hash, "Q0");
  lk_engine_close(e);
  lk_engine_close(built);
}

/* A server's open of a file behind the catalog (no sample of its items is read at open): a
 * damaged byte in one item's record is found when that item is first read and never served: the
 * item is not found, lk_engine_item_at gives the placeholder, a search whose hits include it
 * fails with LK_ECORRUPT; the items of other chunks are served. */
static void test_lazy_items(void **state) {
  fixture *f = *state;
  lk_engine_close(save_fresh(f));
  lk_catalog *c = edit(f); /* one item more: the file is behind */
  lk_item add = {.id = 100000, .path = "p.jpg", .hash = "new", .status = "ok"};
  float v[D];
  lk_test_unit_vector(v, D);
  assert_int_equal(lk_catalog_put_item(c, &add), 0);
  assert_int_equal(lk_catalog_put_vector(c, add.id, v, D), 0);
  edit_end(c);
  uint8_t b = 0x5a;
  rewrite(f->lkx, section_offset(f->lkx, LK_ITEMTAB_TABLE) + 600 * LK_ITEMTAB_REC + 9, &b, 1); /* item 600's size */
  lk_errbuf eb = {0};
  int64_t held = -2;
  lk_engine *lazy = open_served(f, &held);
  assert_string_equal(lk_engine_item(lazy, 10)->hash, "P0"); /* (another chunk) */
  assert_null(lk_engine_item(lazy, 10 + 2 * 600));
  assert_int_equal(lk_engine_item_at(lazy, 600)->id, -1);
  lk_hit h[10];
  int nh;
  assert_int_equal(lk_engine_search_vector(lazy, f->vec[1400], NULL, 10, -1, h, &nh, &eb), 0);
  assert_int_equal(h[0].id, 10 + 2 * 1400);
  assert_int_equal(lk_engine_search_vector(lazy, f->vec[600], NULL, 10, -1, h, &nh, &eb), LK_ECORRUPT);
  print_message("a damaged item among the hits: %s\n", lk_err_msg(&eb));
  lk_engine_close(lazy);
}

/* The facet dictionaries as the file holds them (lk_facetcode_encode/decode): 300 values of a
 * field (so "other" holds some) come back with the same codes and the same column filters;
 * bytes encode cannot have written are refused. */
static void test_facet_dictionaries(void **state) {
  (void)state;
  lk_facetcode *fc = NULL, *back = NULL;
  assert_int_equal(lk_facetcode_new(&fc), 0);
  lk_item it[300];
  char val[300][16];
  uint8_t a[LK_FACETCODE_NCOLS], b[LK_FACETCODE_NCOLS];
  for (int i = 0; i < 300; i++) {
    memset(&it[i], 0, sizeof it[i]);
    snprintf(val[i], sizeof val[i], "Type%d", i);
    it[i].field[LK_FIELD_ARTICLE_TYPE] = val[i];
    it[i].field[LK_FIELD_GENDER] = (char *)genders[i % 5];
    it[i].field[LK_FIELD_YEAR] = i % 7 ? "" : NULL; /* an empty value is a value */
    assert_int_equal(lk_facetcode_code(fc, &it[i], a), 0);
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal(lk_facetcode_encode(fc, &buf, &len), 0);
  assert_int_equal(lk_facetcode_decode(buf, len, &back), 0);
  for (int i = 0; i < 300; i++) {
    lk_facetcode_lookup(fc, &it[i], a);
    lk_facetcode_lookup(back, &it[i], b);
    assert_memory_equal(a, b, sizeof a);
  }
  lk_filter f = {0};
  lk_errbuf eb = {0};
  lk_ivf_filter fa, fb;
  assert_int_equal(lk_filter_add(&f, "gender=Women", &eb), 0);
  assert_int_equal(lk_facetcode_filter(fc, &f, &fa), 1);
  assert_int_equal(lk_facetcode_filter(back, &f, &fb), 1);
  assert_memory_equal(&fa, &fb, sizeof fa);
  lk_facetcode_free(back);
  /* truncated; a byte too many; a repeated value; a count over the limit */
  assert_int_equal(lk_facetcode_decode(buf, len - 1, &back), LK_ECORRUPT);
  assert_null(back);
  uint8_t *more = malloc(len + 1);
  memcpy(more, buf, len);
  more[len] = 0;
  assert_int_equal(lk_facetcode_decode(more, len + 1, &back), LK_ECORRUPT);
  free(more);
  uint8_t twice[8 * LK_FACETCODE_NCOLS + 4] = {0};
  uint32_t h[2] = {2, 1};
  memcpy(twice, h, 8);
  memcpy(twice + 8, "A\0B\0", 4);
  for (int c = 1; c < LK_FACETCODE_NCOLS; c++) memcpy(twice + 12 + 8 * (c - 1), (uint32_t[2]){0, 1}, 8);
  assert_int_equal(lk_facetcode_decode(twice, sizeof twice, &back), 0); /* two values: well formed */
  lk_facetcode_free(back);
  memcpy(twice + 8, "A\0a\0", 4); /* the same value to a case-insensitive filter */
  assert_int_equal(lk_facetcode_decode(twice, sizeof twice, &back), LK_ECORRUPT);
  h[0] = LK_FACETCODE_MAX_VALUES + 1;
  memcpy(twice, h, 8);
  assert_int_equal(lk_facetcode_decode(twice, sizeof twice, &back), LK_ECORRUPT);
  free(buf);
  lk_facetcode_free(fc);
}

/* The item sections (search/itemtab.h) written for three items and read back through a file's
 * mapping, then each fault a damaged writer could leave (checksums made right: these are the
 * checks behind them) refused with a message; mapped lazily, a damaged chunk of records is
 * found when it is first read, the others served. */
static void test_item_sections(void **state) {
  fixture *f = *state;
  char path[600];
  snprintf(path, sizeof path, "%s/items.lkx", f->dir);
  lk_item in[3] = {{.id = 4, .path = "a.jpg", .hash = "h4", .size = 10, .mtime = 20, .status = "ok"},
                   {.id = 9, .path = "", .status = "error", .error = "undecodable", .source = "http"},
                   {.id = 12, .extra = "{\"fit\":\"slim\"}"}};
  in[0].field[LK_FIELD_BASE_COLOUR] = "Red";
  in[2].field[LK_FIELD_NAME] = "Shirt";
  lkx_meta m = {.recipe_id = "0123456789abcdef", .catalog_version = 1, .items = 3, .dim = 4};
  lk_lkx_writer w;
  lk_errbuf eb = {0};
  assert_int_equal(lk_lkx_create(&w, path, &m, &eb), 0);
  assert_int_equal(lk_itemtab_write(&w, in, 3, &eb), 0);
  assert_int_equal(lk_lkx_commit(&w, &eb), 0);
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  uint8_t buf[5 * LKX_PAGE];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  assert_int_equal(n, 4 * LKX_PAGE); /* the header, the two sections, the chunk checksums */
  for (int fault = 0; fault < 4; fault++) {
    uint8_t b[4 * LKX_PAGE];
    memcpy(b, buf, sizeof b);
    uint8_t *tab = b + LKX_PAGE, *pool = b + 2 * LKX_PAGE;
    uint32_t plen;
    memcpy(&plen, b + 64 + 24 + 16, 4); /* the pool's size (section 1) */
    uint64_t bad = 1u << 20;
    int64_t id = 3;
    if (fault == 1) memcpy(tab + LK_ITEMTAB_REC + 24, &bad, 8); /* item 9's path outside the pool */
    if (fault == 2) pool[plen - 1] = 'x';                        /* the last string unterminated */
    if (fault == 3) memcpy(tab + LK_ITEMTAB_REC, &id, 8);        /* ids 4, 3: not ascending */
    for (int i = 0; i < 3; i++) { /* the checksums made right (each section one chunk: the same) */
      uint64_t off, len;
      memcpy(&off, b + 64 + 24 * i + 8, 8);
      memcpy(&len, b + 64 + 24 * i + 16, 8);
      uint32_t c = (uint32_t)crc32(0, b + off, (uInt)len);
      memcpy(b + 64 + 24 * i + 4, &c, 4);
      if (i < 2) memcpy(b + 3 * LKX_PAGE + 4 * i, &c, 4);
    }
    uint32_t c = (uint32_t)crc32(0, b, LKX_PAGE - 4);
    memcpy(b + LKX_PAGE - 4, &c, 4);
    lk_lkx *x = NULL;
    assert_int_equal(lk_lkx_parse(b, sizeof b, &x, &eb), 0);
    lk_itemtab *t = NULL;
    int rc = lk_itemtab_open(x, &t, &eb);
    if (!rc) rc = lk_itemtab_check(t, &eb);
    if (fault == 0) {
      assert_int_equal(rc, 0);
      assert_int_equal(lk_itemtab_count(t), 3);
      for (int i = 0; i < 3; i++) {
        assert_same_item(&in[i], lk_itemtab_get(t, i));
        assert_int_equal(lk_itemtab_id(t, i), in[i].id);
      }
      assert_null(lk_itemtab_get(t, 3));
    } else {
      assert_int_equal(rc, LK_ECORRUPT);
      static const char *why[] = {"", "outside the pool", "not terminated", "not ascending"};
      if (!strstr(lk_err_msg(&eb), why[fault])) fail_msg("fault %d: '%s'", fault, lk_err_msg(&eb));
      if (t) assert_null(lk_itemtab_get(t, 1)); /* (the chunk stays damaged) */
    }
    lk_itemtab_free(t);
    lk_lkx_close(x);
  }
  /* mapped lazily (a server's open): 1,000 items; a byte of item 600's record damaged is found
   * when an item decoded with it (256 at a time) is first asked for; the first items are served */
  lk_item *many = calloc(1000, sizeof *many);
  for (int i = 0; i < 1000; i++) many[i] = (lk_item){.id = 3 * i + 1, .path = "p.jpg", .status = "ok"};
  assert_int_equal(lk_lkx_create(&w, path, &m, &eb), 0);
  assert_int_equal(lk_itemtab_write(&w, many, 1000, &eb), 0);
  assert_int_equal(lk_lkx_commit(&w, &eb), 0);
  uint8_t b = 0x5a;
  rewrite(path, section_offset(path, LK_ITEMTAB_TABLE) + 600 * LK_ITEMTAB_REC + 9, &b, 1); /* (its size) */
  static const uint32_t lazy[] = {LK_ITEMTAB_TABLE, LK_ITEMTAB_POOL};
  lk_lkx *x = NULL;
  assert_int_equal(lk_lkx_map(path, &x, &eb), LK_ECORRUPT);
  assert_int_equal(lk_lkx_map_lazy(path, lazy, 2, &x, &eb), 0);
  lk_itemtab *t = NULL;
  assert_int_equal(lk_itemtab_open(x, &t, &eb), 0);
  assert_int_equal(lk_itemtab_count(t), 1000);
  assert_same_item(&many[0], lk_itemtab_get(t, 0));
  assert_same_item(&many[255], lk_itemtab_get(t, 255));
  assert_null(lk_itemtab_get(t, 600));
  assert_null(lk_itemtab_get(t, 512)); /* (decoded with it) */
  assert_int_equal(lk_itemtab_id(t, 600), -1);
  assert_int_equal(lk_itemtab_id(t, 999), many[999].id); /* (its record lies in another chunk) */
  assert_int_equal(lk_itemtab_check(t, &eb), LK_ECORRUPT);
  if (!strstr(lk_err_msg(&eb), "checksum")) fail_msg("'%s'", lk_err_msg(&eb));
  lk_itemtab_free(t);
  lk_lkx_close(x);
  free(many);
}

/* The saved index of a 96-item catalog (IVF, rows, items, dictionaries), copied beside the
 * catalog, is served from: the fuzz seed fuzz/corpus/lkx/engine.lkx, written to LK_LKX_SEED_DIR
 * when that is set (small for the fuzzer). */
static void test_seed(void **state) {
  fixture *f = *state;
  const char *dir = getenv("LK_LKX_SEED_DIR") ? getenv("LK_LKX_SEED_DIR") : f->dir;
  lk_catalog *c;
  char db[600], out[600];
  snprintf(db, sizeof db, "%s/seed.db", f->dir);
  snprintf(out, sizeof out, "%s/engine.lkx", dir);
  assert_non_null(c = lk_test_catalog_new(db));
  for (int i = 0; i < 96; i++) {
    lk_item it = {.id = 5 + i, .path = "p.jpg", .hash = "h", .status = "ok", .extra = i % 3 ? NULL : "{\"fit\":\"slim\"}"};
    it.field[4] = (char *)colours[i % 3];
    it.field[LK_FIELD_GENDER] = (char *)genders[i % 5];
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    assert_int_equal(lk_catalog_put_vector(c, it.id, f->vec[i], D), 0);
  }
  assert_int_equal(lk_catalog_commit(c), 0);
  lk_catalog_close(c);
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_engine *e = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_engine_open(db, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_save_index(e, out, &eb), 0);
  char lkx[620];
  snprintf(lkx, sizeof lkx, "%s.lkx", db);
  copy_file(out, lkx);
  lk_engine *m = NULL;
  assert_int_equal(lk_engine_open(db, &o, &m, &eb), 0);
  assert_int_equal(lk_engine_index_state(m), LK_ENGINE_LKX_MAPPED);
  assert_int_equal(lk_engine_item_count(m), 96);
  assert_same_item(lk_engine_item(e, 5), lk_engine_item(m, 5));
  lk_engine_close(m);
  lk_engine_close(e);
}

/* The fixture's catalog given a label prior: an identity projection with an articleType head
 * (weight 0.3) and the items' articleType (every 4th none: a row without the label), as a
 * tuned catalog has. */
static const char *types[] = {"Shirts", "Dresses", "Jeans"};
static void add_prior(fixture *f) {
  lk_catalog *c = edit(f);
  int dims[2] = {D, D};
  lk_projection *p = NULL;
  assert_int_equal(lk_projection_new(1, dims, &p, NULL), 0);
  for (int i = 0; i < D; i++) p->layer[0].w[i * D + i] = 1;
  float hw[D * 3];
  for (int i = 0; i < D * 3; i++) hw[i] = (float)(i % 7) / 7 - 0.4f;
  assert_int_equal(lk_projection_add_head(p, "articleType", 3, types, hw, 4.0f, 0.3f, NULL), 0);
  lk_recipe r;
  assert_int_equal(lk_recipe_preset("color", &r, NULL), 0);
  lk_recipe_set_projection(&r, p);
  char *js = lk_recipe_to_json(&r);
  assert_int_equal(lk_catalog_set_meta(c, "recipe", js), 0);
  free(js);
  lk_recipe_clear(&r);
  for (int i = 0; i < N; i++) {
    lk_item it = {0};
    assert_int_equal(lk_catalog_get_item(c, 10 + 2 * i, &it), 0);
    free(it.field[LK_FIELD_ARTICLE_TYPE]);
    it.field[LK_FIELD_ARTICLE_TYPE] = i % 4 ? strdup(types[i % 3]) : NULL;
    assert_int_equal(lk_catalog_put_item(c, &it), 0);
    lk_item_clear(&it);
  }
  edit_end(c);
}

static void assert_same_file(const char *a, const char *b) {
  uint8_t *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  assert_int_equal(lk_file_read(a, (size_t)1 << 30, &x, &nx, NULL, NULL), 0);
  assert_int_equal(lk_file_read(b, (size_t)1 << 30, &y, &ny, NULL, NULL), 0);
  assert_int_equal(nx, ny);
  assert_int_equal(memcmp(x, y, nx), 0);
  free(x);
  free(y);
}

typedef struct calls {
  size_t rows, total, n;
  int stop_at; /* > 0: stop at that call */
} calls;

static int count_progress(void *ctx, const char *step, size_t done, size_t total) {
  calls *c = ctx;
  c->n++;
  if (!strcmp(step, "rows")) c->rows = done, c->total = total;
  return c->stop_at > 0 && (size_t)c->stop_at == c->n;
}

/* The streamed file equals the in-RAM engine's saved one, byte for byte (so open_saved maps it
 * as it maps that one: test_roundtrip), and a second build keeps it (current). */
static void streamed_equals_saved(fixture *f, float prior) {
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  o.prior = prior;
  lk_errbuf eb = {0};
  lk_engine *e = NULL;
  char ram[620];
  snprintf(ram, sizeof ram, "%s/ram.lkx", f->dir);
  unlink(f->lkx);
  assert_int_equal(lk_engine_open(f->db, &o, &e, &eb), 0);
  assert_int_equal(lk_engine_index_state(e), LK_ENGINE_LKX_BUILT);
  assert_int_equal(lk_engine_query_dim(e), prior != 0 ? D + 3 : D);
  assert_int_equal(lk_engine_save_index(e, ram, &eb), 0);
  lk_engine_built b;
  calls c = {0};
  assert_int_equal(lk_engine_build_index(f->db, &o, count_progress, &c, &b, &eb), 0);
  assert_int_equal(b.state, LK_ENGINE_LKX_BUILT);
  assert_int_equal(b.rows, lk_engine_size(e));
  assert_string_equal(b.note, "");
  assert_int_equal(c.rows, lk_engine_size(e)); /* the last call: every row */
  assert_int_equal(c.total, lk_engine_size(e));
  assert_same_file(ram, f->lkx);
  /* the probe depth tuned as it was built (at this size every list: LK_ENGINE_IVF_MIN_SCAN) */
  int nprobe = b.nprobe;
  double recall = b.recall;
  assert_true(b.nlist > 1 && nprobe == b.nlist);
  assert_true(recall >= LK_ENGINE_IVF_RECALL && recall <= 1.0);
  assert_int_equal(lk_engine_build_index(f->db, &o, NULL, NULL, &b, &eb), 0);
  assert_int_equal(b.state, LK_ENGINE_LKX_MAPPED);
  assert_int_equal(b.rows, lk_engine_size(e));
  assert_int_equal(b.nprobe, nprobe);
  assert_true(b.recall == recall);
  assert_same_file(ram, f->lkx);
  lk_engine_close(e);
}

/* lk_lkx_map_current reads back the bytes of the section being written (an empty one: NULL). */
static void test_map_current(void **state) {
  fixture *f = *state;
  char path[620];
  snprintf(path, sizeof path, "%s/cur.lkx", f->dir);
  lkx_meta m = {.recipe_id = "0123456789abcdef", .catalog_version = 1, .items = 0, .dim = D};
  lk_lkx_writer w;
  lk_errbuf eb = {0};
  const void *p = (void *)1;
  size_t size = 1;
  assert_int_equal(lk_lkx_create(&w, path, &m, &eb), 0);
  assert_int_equal(lk_lkx_add(&w, 7, "abc", 3, &eb), 0);
  assert_int_equal(lk_lkx_begin(&w, 8, &eb), 0);
  assert_int_equal(lk_lkx_map_current(&w, &p, &size, &eb), 0);
  assert_null(p);
  assert_int_equal(size, 0);
  assert_int_equal(lk_lkx_write(&w, f->vec, sizeof f->vec[0] * 100, &eb), 0);
  assert_int_equal(lk_lkx_write(&w, f->vec[100], sizeof f->vec[0] * 50, &eb), 0);
  assert_int_equal(lk_lkx_map_current(&w, &p, &size, &eb), 0);
  assert_int_equal(size, sizeof f->vec[0] * 150);
  assert_memory_equal(p, f->vec, size);
  lk_lkx_unmap(p, size);
  lk_lkx_unmap(NULL, 0);
  assert_int_equal(lk_lkx_end(&w, &eb), 0);
  assert_int_equal(lk_lkx_commit(&w, &eb), 0);
  lk_lkx *x = NULL;
  assert_int_equal(lk_lkx_map(path, &x, &eb), 0);
  assert_int_equal(lk_lkx_section(x, 8, sizeof f->vec[0], 150, &p, &size, &eb), 0);
  assert_memory_equal(p, f->vec, size);
  lk_lkx_close(x);
  unlink(path);
}

static void test_streamed(void **state) {
  fixture *f = *state;
  streamed_equals_saved(f, 0);
  /* the exact index for --index auto at this size: nothing written */
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  lk_engine_built b;
  lk_errbuf eb = {0};
  unlink(f->lkx);
  assert_int_equal(lk_engine_build_index(f->db, &o, NULL, NULL, &b, &eb), 0);
  assert_int_equal(b.state, LK_ENGINE_LKX_NONE);
  assert_int_equal(b.rows, N);
  assert_int_equal(access(f->lkx, F_OK), -1);
  /* a damaged file: passed over (the note says why) and written again */
  streamed_equals_saved(f, 0);
  uint8_t x = 0x5a;
  rewrite(f->lkx, section_offset(f->lkx, 0x53434556 /* VECS */) + 5, &x, 1);
  o.index = LK_ENGINE_INDEX_IVF;
  assert_int_equal(lk_engine_build_index(f->db, &o, NULL, NULL, &b, &eb), 0);
  assert_int_equal(b.state, LK_ENGINE_LKX_BUILT);
  assert_non_null(strstr(b.note, "checksum mismatch"));
  lk_engine_close(open_engine(f, LK_ENGINE_INDEX_IVF, LK_ENGINE_LKX_MAPPED));
}

static void test_streamed_prior(void **state) {
  fixture *f = *state;
  add_prior(f);
  streamed_equals_saved(f, -1.0f);
  streamed_equals_saved(f, 0.5f); /* another weight: another file (rows key), rebuilt */
}

/* A stopped build and one over a vector without an item fail (the latter with the in-RAM open's
 * message) and leave the file there before, and no temporary file. */
static void test_streamed_fails(void **state) {
  fixture *f = *state;
  lk_engine_opts o;
  lk_engine_opts_default(&o);
  o.index = LK_ENGINE_INDEX_IVF;
  lk_engine_close(save_fresh(f));
  char keep[620], tmp[620];
  snprintf(keep, sizeof keep, "%s/keep.lkx", f->dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", f->lkx);
  copy_file(f->lkx, keep);
  lk_catalog *c = edit(f); /* a change: the file is behind, so a build is due */
  lk_item it = {.id = 100000, .path = "n.jpg", .hash = "new", .status = "ok"};
  assert_int_equal(lk_catalog_put_item(c, &it), 0);
  edit_end(c);
  lk_engine_built b;
  lk_errbuf eb = {0};
  calls stop = {.stop_at = 1}; /* (the first chunk of rows) */
  assert_int_equal(lk_engine_build_index(f->db, &o, count_progress, &stop, &b, &eb), LK_EINTR);
  assert_same_file(keep, f->lkx);
  assert_int_equal(access(tmp, F_OK), -1);
  /* a vector without an item (written around the foreign key) */
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = OFF; INSERT INTO vectors SELECT 11, dim, data FROM vectors "
                                    "WHERE id = 10", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  lk_engine *e = NULL;
  lk_errbuf want = {0};
  int rc = lk_engine_open(f->db, &o, &e, &want);
  assert_int_equal(rc, LK_ECORRUPT);
  assert_non_null(strstr(lk_err_msg(&want), "a vector has no item"));
  assert_int_equal(lk_engine_build_index(f->db, &o, NULL, NULL, &b, &eb), rc);
  assert_string_equal(lk_err_msg(&eb), lk_err_msg(&want));
  assert_same_file(keep, f->lkx);
  assert_int_equal(access(tmp, F_OK), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
      cmocka_unit_test_setup_teardown(test_behind, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delta_remap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_sections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lazy_items, setup, teardown),
      cmocka_unit_test(test_facet_dictionaries),
      cmocka_unit_test_setup_teardown(test_item_sections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_current, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streamed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streamed_prior, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streamed_fails, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
