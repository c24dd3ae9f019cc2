/* server/server.h — `lookalike serve`'s HTTP server (libmicrohttpd, internal polling thread
 * plus a thread pool): the embedded page, the JSON API of api.h, catalog photos and metrics.
 * Routes and error statuses are documented in docs/API.md. The server borrows a loaded
 * engine, which must outlive it; concurrent searches share it (engine.h is thread-safe). */
#ifndef LK_SERVER_SERVER_H
#define LK_SERVER_SERVER_H

#include <stddef.h>

#include "image/image.h"
#include "search/engine.h"
#include "util/err.h"

typedef struct lk_server lk_server;

typedef struct lk_server_opts {
  const char *host;        /* numeric address or name to bind; default "127.0.0.1" */
  int port;                /* 0 = any free port (lk_server_port tells which) */
  int threads;             /* request threads (MHD thread pool); default 4 */
  size_t max_body;         /* one request body; default 20 MiB (larger: 413) */
  size_t max_buffered;     /* all request bodies held at once; default 256 MiB (then 503) */
  lk_image_limits image;   /* uploaded photos; zero fields: max_bytes = max_body, 40 MP, side 20000 */
  unsigned timeout_s;      /* idle connection timeout; default 30 */
  unsigned max_connections;/* default 256 */
  unsigned max_per_ip;     /* connections from one address; default 64 (so that one slow or
                              hostile client cannot hold every connection) */
  int embedders;           /* > 0: the engine's embedders (lk_engine_opts.embedders, which sets
                              their number) are loaded at start, not by the first search */
  const char *models_dir;  /* for the write API's embedder; NULL = lk_embed_find_models' search */
  int backend;             /* for the write API: enum lk_backend; default LK_BACKEND_DNNL */
  const char *db_path;     /* the catalog file, read by GET /api/map; NULL: no map */
  struct lk_follow *follow;/* server/follow.h: each request uses the follower's current engine
                              and facets, /health reports its catalog version; NULL: serve the
                              engine given to lk_server_start as it is */
  struct lk_auth *auth;     /* server/auth.h: every /api/ request needs a valid key (401 / 403
                              otherwise); NULL: the API is open. The page, /photos, /health
                              and /metrics stay open. Borrowed: must outlive the server. */
  struct lk_auth *write_auth; /* the keys writes (role write or admin) and the owner's API (admin) are checked against,
                              whether or not auth is set; NULL: every write is refused (503).
                              Writes (server/write.h) also need follow and db_path. Borrowed. */
  const struct lk_tls *tls; /* server/tls.h: serve HTTPS with its certificate and key; NULL:
                              plain HTTP. Borrowed: must outlive the server. */
  /* Access log and server errors, one line each (no newline); NULL = silent. Called from
   * request threads: must be thread-safe. */
  void (*log)(void *ctx, const char *line);
  void *log_ctx;
} lk_server_opts;

void lk_server_opts_default(lk_server_opts *o);

/* Loads the embedder pool (if any), binds and starts serving e. *out: lk_server_stop.
 * LK_EIO when the address cannot be bound (port in use), LK_EINVAL for a bad host or
 * option, LK_ENOTFOUND / LK_EMISMATCH for models, LK_ENOMEM. */
int lk_server_start(lk_engine *e, const lk_server_opts *o, lk_server **out, lk_errbuf *err);
/* The bound TCP port. */
int lk_server_port(const lk_server *s);
/* Stops accepting, finishes the requests in progress, frees. NULL-safe. */
void lk_server_stop(lk_server *s);

#endif
