"""lookalike._ffi: the C declarations the package uses (cffi ABI mode) and the library lookup.

The declarations copy include/lookalike.h exactly where a struct's layout matters (lk_errbuf,
lk_hit, lk_item, lk_query, lk_engine_opts, lk_ingest_opts, lk_ingest_stats);
tests/test_lookalike.py compiles a C program that prints their sizes and field offsets and
compares them with these. Opaque handles stay opaque.
"""
import ctypes.util
import os
import sys

import cffi

CDEF = r"""
typedef struct lk_catalog lk_catalog;
typedef struct lk_engine lk_engine;
typedef struct lk_filter lk_filter;
typedef struct lk_search_info lk_search_info;
struct lk_recipe;

typedef struct lk_errbuf {
  int code;
  char msg[512];
} lk_errbuf;

typedef struct lk_hit {
  int64_t id;
  float score;
} lk_hit;

typedef struct lk_item {
  int64_t id;
  char *path, *hash;
  int64_t size, mtime;
  char *field[9];
  char *extra;
  char *status, *error;
  char *source;
} lk_item;

typedef struct lk_query {
  int k;
  const lk_filter *filter;
  int crop[4];
  int multi_crop;
  int garment;
  float prior;
  int collapse;
} lk_query;

typedef struct lk_engine_opts {
  const char *models_dir;
  int backend;
  int lazy_model;
  int embedders;
  int plain_scan;
  int search_threads;
  int index;
  float prior;
  int nprobe;
  int garment;
} lk_engine_opts;

typedef struct lk_ingest_stats {
  long rows;
  long bad_rows;
  long odd_rows;
  long recoded;
  long photos;
  long unnamed;
  long no_photo;
  long no_row;
  long selected;
  long todo;
  long done;
  long embedded;
  long unchanged;
  long failed;
  long pruned;
  long stale;
  double seconds;
  char source[4096];
} lk_ingest_stats;

typedef struct lk_ingest_opts {
  const char *images_dir;
  const char *styles_csv;
  int encoding;
  int strict;
  const char *db_path;
  const char *models_dir;
  const struct lk_recipe *recipe;
  long limit;
  long sample;
  uint64_t seed;
  int shard, shards;
  int prune;
  const char *source;
  int batch;
  int backend;
  int threads;
  int workers;
  volatile int *stop;
  void (*progress)(void *ctx, const lk_ingest_stats *s);
  void (*report)(void *ctx, int64_t id, const char *what);
  void *ctx;
} lk_ingest_opts;

const char *lk_version(void);
const char *lk_strerror(int code);
const char *lk_err_msg(const lk_errbuf *eb);

int lk_catalog_open(const char *path, int flags, lk_catalog **out, lk_errbuf *err);
void lk_catalog_close(lk_catalog *c);

void lk_ingest_opts_default(lk_ingest_opts *o);
int lk_ingest_run(const lk_ingest_opts *o, lk_ingest_stats *st, lk_errbuf *err);

int lk_filter_new(lk_filter **out);
void lk_filter_free(lk_filter *f);
int lk_filter_add(lk_filter *f, const char *expr, lk_errbuf *err);

void lk_engine_opts_default(lk_engine_opts *o);
int lk_engine_open(const char *db_path, const lk_engine_opts *o, lk_engine **out, lk_errbuf *err);
void lk_engine_close(lk_engine *e);
size_t lk_engine_size(const lk_engine *e);
size_t lk_engine_item_count(const lk_engine *e);
int lk_engine_dim(const lk_engine *e);
const lk_item *lk_engine_item(const lk_engine *e, int64_t id);
const lk_item *lk_engine_item_at(const lk_engine *e, size_t i);
int lk_engine_vectors(const lk_engine *e, const int64_t **ids, const float **vecs, size_t *n);
int lk_engine_similar(const lk_engine *e, int64_t id, const lk_filter *f, int k, lk_hit *hits,
                      int *nfound, lk_errbuf *err);

void lk_query_init(lk_query *q);
int lk_engine_search_photo(lk_engine *e, const void *bytes, size_t len, const lk_query *q,
                           lk_hit *hits, int *nfound, lk_search_info *info, lk_errbuf *err);
int lk_engine_search_pixels(lk_engine *e, const uint8_t *rgb, int w, int h, size_t stride,
                            const lk_query *q, lk_hit *hits, int *nfound, lk_search_info *info,
                            lk_errbuf *err);
int lk_engine_embed_photo(lk_engine *e, const void *bytes, size_t len, float *vec, lk_errbuf *err);
int lk_engine_embed_pixels(lk_engine *e, const uint8_t *rgb, int w, int h, size_t stride,
                           float *vec, lk_errbuf *err);
"""

# The structs whose layout tests/test_lookalike.py checks against the C header.
STRUCTS = ("lk_errbuf", "lk_hit", "lk_item", "lk_query", "lk_engine_opts", "lk_ingest_opts",
           "lk_ingest_stats")

ffi = cffi.FFI()
ffi.cdef(CDEF)


def _candidates():
    """Where the shared library is looked for, in order (see README.md)."""
    env = os.environ.get("LOOKALIKE_LIBRARY")
    if env:
        return [env]  # asked for: nothing else is tried
    out = []
    found = ctypes.util.find_library("lookalike")
    if found:
        out.append(found)
    for prefix in (sys.prefix, "/usr/local", "/usr"):
        out.append(os.path.join(prefix, "lib", "liblookalike.so"))
    here = os.path.dirname(os.path.abspath(__file__))
    out.append(os.path.join(here, "..", "..", "build", "liblookalike.so"))  # the source tree
    return out


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (no such file)")
            continue
        try:
            lib = ffi.dlopen(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        # Every function declared above must be exported: else the library is too old (or not
        # lookalike's), and saying so now beats an AttributeError in the middle of a call.
        missing = [name for name in dir(lib) if not hasattr(lib, name)]
        if missing:
            raise ImportError("lookalike: %s lacks %s: it is older than this package; rebuild it "
                              "(make) or point LOOKALIKE_LIBRARY at a current liblookalike.so"
                              % (path, ", ".join(missing)))
        return lib, os.path.abspath(path) if os.sep in path else path
    raise ImportError("lookalike: cannot load liblookalike.so; tried:\n  " + "\n  ".join(tried) +
                      "\nBuild it in the source tree (make), install it (make install), or set "
                      "LOOKALIKE_LIBRARY to its path.")


lib, library_path = _load()
