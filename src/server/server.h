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

/* lk_server, lk_server_opts: public, lookalike.h. Its internal members:
 *   follow      search/live.h: each request uses the live catalog's current engine and facets,
 *               /health reports its catalog version; NULL: serve the engine given to
 *               lk_server_start as it is
 *   auth        server/auth.h: every /api/ request needs a valid key (401 / 403 otherwise);
 *               NULL: the API is open. The page, /photos, /health and /metrics stay open.
 *               Borrowed: must outlive the server.
 *   write_auth  the keys writes (role write or admin) and the owner's API (admin) are checked
 *               against, whether or not auth is set; NULL: every write is refused (503). Writes
 *               (server/write.h) also need follow and db_path. Borrowed.
 *   tls         server/tls.h: serve HTTPS with its certificate and key; NULL: plain HTTP.
 *               Borrowed: must outlive the server.
 * max_per_ip keeps one slow or hostile client from holding every connection. */

/* lk_server_opts_default, lk_server_start (loads the engine's embedders when o->embedders > 0, binds and starts
 * serving e), lk_server_port, lk_server_stop: public, lookalike.h. */

#endif
