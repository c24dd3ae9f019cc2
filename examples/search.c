/* examples/search.c — the worked example of include/lookalike.h, complete: index a folder of
 * product photos into a catalog (with a progress callback), count it, open it for searching,
 * search a photo among the products of one gender, print the hits with their names.
 *
 *   search IMAGES_DIR STYLES_CSV CATALOG PHOTO [FILTER]     (FILTER default "gender=Women")
 *
 * It checks its own results, so `make test` (tests/api.sh) can run it: when PHOTO is the photo
 * of an indexed product (ID.jpg) that passes the filter, that product must come first with a
 * cosine of 1 (the same photo gives the same vector); every hit must pass a field=value FILTER;
 * lk_engine_vectors must hold every vector the catalog counts; lk_engine_similar must leave the
 * item itself out. Exit status 0 when all holds, 1 otherwise. Models: $LOOKALIKE_MODELS, ./models,
 * ../shared/models. */
#include <lookalike.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void progress(void *ctx, const lk_ingest_stats *s) {
  int *calls = ctx;
  (*calls)++;
  fprintf(stderr, "\r%ld of %ld photos embedded", s->done, s->todo);
}

/* The whole file in a malloc'd buffer (the caller frees), or NULL. */
static void *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0, got;
  do {
    if (n == cap) {
      char *p = realloc(buf, cap = cap ? 2 * cap : 65536);
      if (!p) { free(buf); fclose(f); return NULL; }
      buf = p;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); return NULL; }
  *len = n;
  return buf;
}

/* The product id of a photo named ID.jpg (any folder, any extension), or -1. */
static long long photo_id(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char *end;
  long long id = strtoll(base, &end, 10);
  return end != base && *end == '.' ? id : -1;
}

/* Does it pass a filter "field=value" on one of the fixed fields? -1: not such a filter. */
static int passes(const lk_item *it, const char *filter) {
  const char *eq = strchr(filter, '=');
  if (!eq || strpbrk(filter, "<>!")) return -1;
  for (int f = 0; f < LK_NFIELDS; f++)
    if (strlen(lk_catalog_fields[f]) == (size_t)(eq - filter) && !strncasecmp(lk_catalog_fields[f], filter, (size_t)(eq - filter)))
      return it->field[f] && !strcasecmp(it->field[f], eq + 1);
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 5 || argc > 6) {
    fprintf(stderr, "usage: %s IMAGES_DIR STYLES_CSV CATALOG PHOTO [FILTER]\n", argv[0]);
    return 2;
  }
  const char *where = argc > 5 ? argv[5] : "gender=Women";
  lk_errbuf err = {0};
  int failed = 0, calls = 0;
  printf("liblookalike %s\n", lk_version());

  /* 1. Index a folder of photos named ID.jpg, with their styles.csv, into a catalog file. */
  lk_ingest_opts io;
  lk_ingest_opts_default(&io);
  io.images_dir = argv[1];
  io.styles_csv = argv[2];
  io.db_path = argv[3];
  io.progress = progress;
  io.ctx = &calls;
  lk_ingest_stats st;
  if (lk_ingest_run(&io, &st, &err)) {
    fprintf(stderr, "index: %s\n", lk_err_msg(&err));
    return 1;
  }
  fprintf(stderr, "\n");
  printf("indexed: %ld embedded, %ld unchanged, %ld failed (%d progress calls)\n", st.embedded, st.unchanged,
         st.failed, calls);
  if (calls == 0) { fprintf(stderr, "FAIL: the progress callback was never called\n"); failed = 1; }

  /* 2. The catalog itself. */
  lk_catalog *cat;
  if (lk_catalog_open(argv[3], LK_CATALOG_READONLY, &cat, &err)) {
    fprintf(stderr, "catalog: %s\n", lk_err_msg(&err));
    return 1;
  }
  int64_t items = 0, vectors = 0, errors = 0;
  if (lk_catalog_counts(cat, &items, &vectors, &errors)) {
    fprintf(stderr, "catalog: %s\n", lk_catalog_errmsg(cat));
    lk_catalog_close(cat);
    return 1;
  }
  lk_catalog_close(cat);
  printf("catalog: %lld items, %lld with a vector, %lld errors\n", (long long)items, (long long)vectors,
         (long long)errors);

  /* 3. Load it for searching. */
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  lk_engine *eng;
  if (lk_engine_open(argv[3], &eo, &eng, &err)) {
    fprintf(stderr, "open: %s\n", lk_err_msg(&err));
    return 1;
  }
  const int64_t *ids;
  const float *vecs;
  size_t n = 0;
  if (lk_engine_vectors(eng, &ids, &vecs, &n) || (int64_t)n != vectors || n != lk_engine_size(eng)) {
    fprintf(stderr, "FAIL: lk_engine_vectors gives %zu vectors, the catalog counts %lld\n", n, (long long)vectors);
    failed = 1;
  }

  /* 4. Search the photo among the products the filter lets through. */
  size_t len;
  void *bytes = read_file(argv[4], &len);
  if (!bytes) {
    fprintf(stderr, "%s: cannot read it\n", argv[4]);
    lk_engine_close(eng);
    return 1;
  }
  lk_filter *filter = NULL;
  if (lk_filter_new(&filter) || lk_filter_add(filter, where, &err)) {
    fprintf(stderr, "filter '%s': %s\n", where, lk_err_msg(&err));
    free(bytes);
    lk_filter_free(filter);
    lk_engine_close(eng);
    return 1;
  }
  lk_query q;
  lk_query_init(&q);
  q.k = 5;
  q.filter = filter;
  lk_hit hits[5];
  int nfound = 0;
  int rc = lk_engine_search_photo(eng, bytes, len, &q, hits, &nfound, NULL, &err);
  free(bytes);
  if (rc) {
    fprintf(stderr, "search: %s\n", lk_err_msg(&err));
    lk_filter_free(filter);
    lk_engine_close(eng);
    return 1;
  }
  for (int i = 0; i < nfound; i++) {
    const lk_item *it = lk_engine_item(eng, hits[i].id);
    const char *name = it && it->field[LK_FIELD_NAME] ? it->field[LK_FIELD_NAME] : "";
    printf("%d. %lld %.3f %s\n", i + 1, (long long)hits[i].id, hits[i].score, name);
    if (!it || passes(it, where) == 0) {
      fprintf(stderr, "FAIL: hit %lld does not pass %s\n", (long long)hits[i].id, where);
      failed = 1;
    }
  }

  /* The self-checks: the photo of an indexed product that passes the filter finds itself. */
  long long self = photo_id(argv[4]);
  const lk_item *own = self >= 0 ? lk_engine_item(eng, self) : NULL;
  if (own && passes(own, where) != 0) {
    if (nfound < 1 || hits[0].id != self || hits[0].score < 0.999f) {
      fprintf(stderr, "FAIL: product %lld's own photo did not find it first with a cosine of 1\n", self);
      failed = 1;
    }
    int ns = 0;
    if (lk_engine_similar(eng, self, NULL, 5, hits, &ns, &err)) {
      fprintf(stderr, "similar: %s\n", lk_err_msg(&err));
      failed = 1;
    }
    for (int i = 0; i < ns; i++)
      if (hits[i].id == self) { fprintf(stderr, "FAIL: lk_engine_similar returned the item itself\n"); failed = 1; }
  }
  lk_filter_free(filter);
  lk_engine_close(eng);
  printf("%s\n", failed ? "FAILED" : "ok");
  return failed;
}
