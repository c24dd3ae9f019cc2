/* server/server.c — the HTTP side of `lookalike serve` (see server.h): routing, request
 * bodies (multipart through MHD's post processor, or the raw photo) under size caps, the
 * embedded page, catalog photos, Prometheus metrics and the access log. The JSON endpoints
 * themselves are in api.c; this file turns HTTP into their parameters and back. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nn/model.h"
#include "server/admin.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/assets.h"
#include "server/facets.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/tls.h"
#include "server/write.h"
#include "util/array.h"
#include "util/file.h"
#include "util/gzip.h"
#include "util/size.h"
#include "util/clock.h"
#include "util/log.h"

#define MIB ((size_t)1 << 20)
#define MAX_PHOTO_BYTES (64 * MIB)    /* a catalog photo larger than this is not served */
#define MAX_FIELDS 64                 /* form fields in one multipart search */
#define MAX_OTHER_BODY ((size_t)64 << 10) /* body bytes tolerated (and dropped) on other routes */
#define POST_BUFFER 16384             /* MHD post processor buffer */
/* Each connection's memory pool (libmicrohttpd): the request line and headers, and a record per
 * query parameter. When a URL's parameters outgrow it, libmicrohttpd closes the connection
 * without an answer, so it is sized for ~3,000 short parameters (tests/server.sh sends 1,000
 * and gets our 400); longer URLs get 414 from libmicrohttpd. Pages are touched only as used. */
#define CONNECTION_MEMORY (256 * 1024)
/* The pool lets far larger headers through than a search needs, so they are limited here: more
 * is refused with 431 before any body byte is read. */
#define MAX_HEADERS 100
#define MAX_HEADER_BYTES (32 * 1024)
/* lk_server_stop's bound, from the stop to the return (docs/API.md): requests in flight
 * finish; a search that would start embedding later than LATE_SECONDS after the stop gets
 * 503 instead (it could not finish in time), and at CLOSE_SECONDS what is left is closed,
 * leaving the rest of the bound to the searches already embedding. */
#define DRAIN_SECONDS 10.0
#define LATE_SECONDS 6.0
#define CLOSE_SECONDS 8.5

static const char *const CSP =
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/* Routes are lk_http_route values (server/http.h). */
enum route { R_NONE = LK_HTTP_NONE, R_PAGE = LK_HTTP_PAGE, R_SEARCH = LK_HTTP_SEARCH, R_ITEMS = LK_HTTP_ITEMS,
             R_ITEM = LK_HTTP_ITEM, R_SIMILAR = LK_HTTP_SIMILAR, R_BADID = LK_HTTP_BADID, R_FACETS = LK_HTTP_FACETS,
             R_PHOTO = LK_HTTP_PHOTO, R_HEALTH = LK_HTTP_HEALTH, R_METRICS = LK_HTTP_METRICS, R_MAP = LK_HTTP_MAP,
             R_ADMIN = LK_HTTP_ADMIN_STATS, R_UPLOADS = LK_HTTP_UPLOADS, R_BATCH = LK_HTTP_BATCH };
#define MAX_WRITE_PARTS (LK_WRITE_MAX_BATCH + 2) /* parts of one write: a batch's photos and its csv */
_Static_assert(LK_HTTP_MAX_LIMIT == LK_API_MAX_K, "GET /api/items and search share their limit");

struct lk_server {
  lk_engine *engine;
  lk_server_opts o;
  lk_metrics *metrics;
  lk_write *writes;       /* the write API; NULL when the server cannot write (no follower) */
  struct MHD_Daemon *daemon;
  int port;
  char *facets;         /* GET /api/facets without o.follow, computed at start (the catalog does not change) */
  size_t facets_len;
  lk_facets *live_facets; /* the same per snapshot of o.follow (server/facets.h) */
  char (*etag)[24];     /* per embedded asset */
  atomic_size_t buffered; /* bytes of request bodies held by all requests */
  atomic_int active;      /* requests started and not completed */
  double started;
  /* the stop (lk_server_stop): from then on replies close their connection */
  atomic_int stopping;
  _Atomic double stop_at; /* lk_clock_now() of the stop */
  pthread_mutex_t conns_lock;
  struct conn *conns;     /* open connections (MHD_OPTION_NOTIFY_CONNECTION) */
  int nconns;
  lk_admin *admin;        /* the owner's statistics (server/admin.h) */
  atomic_int admin_started; /* its weak-match threshold is being computed (first request on) */
  /* Searches run on their own threads (o.threads of them), their connections suspended, so
   * that a request thread is never held by a search: every connection's request is read as it
   * arrives, and the stop can answer those still waiting (search_worker) */
  pthread_t *workers;
  int nworkers;
  pthread_mutex_t jobs_lock;
  pthread_cond_t jobs_cond;
  struct req *jobs_head, *jobs_tail; /* searches waiting for a search thread */
  int jobs_quit;                     /* the workers end once the queue is empty */
};

/* One open connection, so that the stop can tell idle keep-alive connections (closed at
 * once) from those carrying a request or unread bytes of one (waited for). */
typedef struct conn {
  struct conn *next, *prev;
  int fd;
  atomic_int busy;   /* a request is between its headers and its completion */
  struct req *req;   /* that request; each clears the other's link when it ends first */
  _Atomic int64_t rx_done; /* bytes received by the end of its last request (tcp_rx) */
  double idle_since; /* the drain's first pass in a row that found it idle; 0: not idle */
} conn;

/* One request, from its headers to MHD's completion callback. */
typedef struct req {
  lk_server *s;
  conn *conn;        /* its connection; NULL if MHD did not tell */
  lk_engine *e;      /* the engine this request uses (s->engine, or the follower's snapshot) */
  const lk_live_snap *snap; /* held from dispatch to completion when following */
  double t0;
  enum route route;
  int endpoint;      /* enum lk_metrics_endpoint */
  int64_t id;        /* R_ITEM, R_SIMILAR, R_PHOTO */
  const lk_asset *asset;
  int post;          /* method is POST */
  int no_host;       /* HTTP/1.1 without a Host header (RFC 9112 3.2: 400) */
  int method_ok;
  char method[12], path[160]; /* for the access log, printable */
  int status;        /* HTTP status queued, 0 until then */
  /* body */
  struct MHD_PostProcessor *pp; /* multipart/form-data */
  uint8_t *buf;      /* the raw body or the multipart image part */
  size_t len, cap, reserved;    /* reserved: counted in s->buffered */
  uint64_t seen;     /* body bytes received */
  int image_parts;
  char key[64], val[LK_API_MAX_VALUE];  /* a form field being received */
  size_t vlen;
  int have_field, nfields;
  lk_api_params params;
  int auth_status;   /* --require-key: 401 / 403 / 429 / 503 decided at the headers, 0 = allowed */
  int retry_s;       /* the Retry-After of a 429 */
  int write_op;      /* enum lk_write_op + 1 for a write request; 0 otherwise */
  lk_write_part *parts; /* a write's multipart parts (data offsets into buf until dispatch) */
  size_t nparts, parts_cap;
  int fail;          /* HTTP status of a problem met while reading the body */
  char fail_msg[LK_ERRMSG_MAX];
  /* a search handed to a search thread: JOB_QUEUED (its connection suspended) until a worker,
   * or the stop, answers it and resumes the connection: JOB_DONE */
  atomic_int job;
  int job_late;      /* answered by the stop (503) instead of searched */
  int job_rc;
  lk_api_reply job_rep;
  struct MHD_Connection *mhd;
  struct req *job_next;
} req;
enum { JOB_NONE, JOB_QUEUED, JOB_DONE };

/* Bytes a TCP socket has received so far (Linux TCP_INFO), or -1 when the kernel does not say. */
static int64_t tcp_rx(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
      len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
    return -1;
  return (int64_t)ti.tcpi_bytes_received;
}

static void logf_(lk_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(lk_server *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lk_log_v(s->o.log, s->o.log_ctx, fmt, ap);
  va_end(ap);
}

/* Records the first problem of a request; later ones are consequences. Returns MHD_NO so
 * the post processor stops. */
static enum MHD_Result fail(req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result fail(req *r, int status, const char *fmt, ...) {
  if (r->fail) return MHD_NO;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->fail_msg, sizeof r->fail_msg, fmt, ap);
  va_end(ap);
  r->fail = status;
  return MHD_NO;
}

/* Copies s into dst (size n) replacing anything unprintable by '?'. */
static void printable(char *dst, size_t n, const char *s) {
  size_t i = 0;
  for (; s && s[i] && i + 1 < n; i++) dst[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
  dst[i] = '\0';
}

/* ---------------------------------------------------------------- routing */

static const lk_asset *find_asset(const char *name) {
  for (int i = 0; i < lk_assets_count; i++)
    if (!strcmp(lk_assets[i].name, name)) return &lk_assets[i];
  return NULL;
}

/* The write API's routes and methods (server/write.h): sets r->write_op and the endpoint. */
static void route_write(req *r) {
  int op = -1;
  const char *m = r->method;
  if (r->route == R_UPLOADS) op = r->post ? LK_WRITE_UPLOAD : -2;
  else if (r->route == R_BATCH) op = r->post ? LK_WRITE_BATCH : -2;
  else if (r->route == R_ITEMS && r->post) op = LK_WRITE_POST;
  else if (r->route == R_ITEM && !strcmp(m, "PUT")) op = LK_WRITE_PUT;
  else if (r->route == R_ITEM && !strcmp(m, "PATCH")) op = LK_WRITE_PATCH;
  else if (r->route == R_ITEM && !strcmp(m, "DELETE")) op = LK_WRITE_DELETE;
  if (r->route == R_UPLOADS) r->endpoint = LK_METRICS_UPLOAD;
  if (r->route == R_BATCH) r->endpoint = LK_METRICS_BATCH;
  if (op == -2) r->method_ok = 0;
  if (op < 0) return;
  r->write_op = op + 1;
  r->method_ok = 1;
  if (op != LK_WRITE_UPLOAD && op != LK_WRITE_BATCH) r->endpoint = LK_METRICS_WRITE;
}

/* Maps the (percent-decoded) path to a route (lk_http_route). Page files are looked up by
 * exact name in the embedded table, so no path can reach the file system ("..", "%2f" and the
 * like just miss). */
static void route(req *r, const char *url) {
  static const int endpoint[] = {
      [LK_HTTP_NONE] = LK_METRICS_OTHER,       [LK_HTTP_PAGE] = LK_METRICS_PAGE,
      [LK_HTTP_SEARCH] = LK_METRICS_SEARCH,    [LK_HTTP_ITEMS] = LK_METRICS_ITEMS,
      [LK_HTTP_ITEM] = LK_METRICS_ITEM,        [LK_HTTP_SIMILAR] = LK_METRICS_SIMILAR,
      [LK_HTTP_BADID] = LK_METRICS_ITEM,       [LK_HTTP_FACETS] = LK_METRICS_FACETS,
      [LK_HTTP_PHOTO] = LK_METRICS_PHOTO,      [LK_HTTP_HEALTH] = LK_METRICS_HEALTH,
      [LK_HTTP_METRICS] = LK_METRICS_METRICS,  [LK_HTTP_MAP] = LK_METRICS_OTHER,
      [LK_HTTP_ADMIN_STATS] = LK_METRICS_OTHER,
      [LK_HTTP_UPLOADS] = LK_METRICS_UPLOAD,   [LK_HTTP_BATCH] = LK_METRICS_BATCH};
  lk_http_target t;
  lk_http_route(url, &t);
  r->route = (enum route)t.route;
  r->id = t.id;
  if (r->route == R_PAGE && !(r->asset = find_asset(t.asset))) r->route = R_NONE;
  r->endpoint = endpoint[r->route];
  if (r->route == R_BADID && t.similar) r->endpoint = LK_METRICS_SIMILAR;
  int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
  r->method_ok = r->route == R_NONE || (r->route == R_SEARCH ? r->post : get);
  route_write(r);
}

/* ---------------------------------------------------------------- responses */

/* Queues resp (consumed) with the common headers. */
static enum MHD_Result send_resp(struct MHD_Connection *c, req *r, int status, struct MHD_Response *resp,
                                 const char *type, const char *cache) {
  if (!resp) return MHD_NO;
  if (type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache ? cache : "no-store");
  if (atomic_load(&r->s->stopping)) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1"); /* another instance */
  }
  r->status = status;
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

/* Sends a JSON body (consumed). */
static enum MHD_Result send_json(struct MHD_Connection *c, req *r, int status, json_t *body) {
  /* 7 significant digits: scores have 4 decimals, timings 2 (the float noise is dropped). */
  char *txt = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7)) : NULL;
  json_decref(body);
  if (!txt) {
    static const char oom[] = "{\"error\":\"out of memory\"}";
    return send_resp(c, r, 500,
                     MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT),
                     "application/json", NULL);
  }
  return send_resp(c, r, status, MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE),
                   "application/json", NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *c, req *r, int status, const char *fmt, ...) {
  char msg[LK_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++) /* request bytes quoted in messages may not be UTF-8 */
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) *p = '?';
  return send_json(c, r, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result send_reply(struct MHD_Connection *c, req *r, int rc, lk_api_reply *rep) {
  if (rc || !rep->body) return send_error(c, r, 500, "out of memory");
  return send_json(c, r, rep->status, rep->body);
}

static uint64_t fnv1a(const unsigned char *p, size_t n);
static int not_modified(struct MHD_Connection *c, const char *etag);
static enum MHD_Result send_not_modified(struct MHD_Connection *c, req *r, const char *etag, const char *cache);

/* GET /api/map's answer: the layout is the largest JSON the page loads (~2.5 MB for 35,000
 * products), so a 200 goes gzip-compressed (zlib level 6, ~4.5x smaller) to a client whose
 * Accept-Encoding takes gzip, with an ETag of its text (a revisit costs a 304); errors get
 * plain JSON as everywhere. */
static enum MHD_Result send_map(struct MHD_Connection *c, req *r, int rc, lk_api_reply *rep) {
  if (rc || !rep->body) return send_error(c, r, 500, "out of memory");
  if (rep->status != 200) return send_json(c, r, rep->status, rep->body);
  const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
  int gzip = lk_http_accepts_gzip(ae);
  char *txt = json_dumps(rep->body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
  json_decref(rep->body);
  if (!txt) return send_error(c, r, 500, "out of memory");
  size_t n = strlen(txt);
  char etag[40]; /* the two encodings are two representations: two tags */
  snprintf(etag, sizeof etag, "\"m%016llx%s\"", (unsigned long long)fnv1a((const unsigned char *)txt, n), gzip ? "-gz" : "");
  if (not_modified(c, etag)) {
    free(txt);
    return send_not_modified(c, r, etag, "no-cache");
  }
  uint8_t *gz = NULL;
  size_t gzn = 0;
  lk_errbuf eb = {0};
  if (gzip) {
    int zrc = lk_gzip(txt, n, 6, &gz, &gzn, &eb);
    free(txt);
    txt = NULL;
    if (zrc) return send_error(c, r, 500, "%s", lk_err_msg(&eb));
  }
  struct MHD_Response *resp = gzip ? MHD_create_response_from_buffer(gzn, gz, MHD_RESPMEM_MUST_FREE)
                                   : MHD_create_response_from_buffer(n, txt, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(gz);
    free(txt);
    return MHD_NO;
  }
  if (gzip) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
  return send_resp(c, r, 200, resp, "application/json", "no-cache");
}

/* Does the request's If-None-Match carry etag? */
static int not_modified(struct MHD_Connection *c, const char *etag) {
  const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
  return inm && etag && (strstr(inm, etag) || !strcmp(inm, "*"));
}

static enum MHD_Result send_not_modified(struct MHD_Connection *c, req *r, const char *etag, const char *cache) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  if (resp) MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
  return send_resp(c, r, 304, resp, NULL, cache);
}

static enum MHD_Result serve_asset(struct MHD_Connection *c, req *r) {
  const lk_asset *a = r->asset;
  const char *etag = r->s->etag[a - lk_assets];
  if (not_modified(c, etag)) return send_not_modified(c, r, etag, "no-cache");
  struct MHD_Response *resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
  if (!strncmp(a->type, "text/html", 9)) {
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  }
  return send_resp(c, r, 200, resp, a->type, "no-cache");
}

/* Content-Type from the photo path's extension, or NULL. */
static const char *type_of_path(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot || strchr(dot, '/')) return NULL;
  if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return "image/jpeg";
  if (!strcasecmp(dot, ".png")) return "image/png";
  if (!strcasecmp(dot, ".webp")) return "image/webp";
  return NULL;
}

/* GET /photos/{id}: only the file recorded in the catalog for that item. */
static enum MHD_Result serve_photo(struct MHD_Connection *c, req *r) {
  const lk_item *it = lk_engine_item(r->e, r->id);
  if (!it || !it->path || !*it->path) return send_error(c, r, 404, "no photo for item %lld", (long long)r->id);
  char etag[24] = "";
  if (it->hash && strlen(it->hash) >= 16) snprintf(etag, sizeof etag, "\"%.16s\"", it->hash);
  const char *cache = "public, max-age=86400";
  if (etag[0] && not_modified(c, etag)) return send_not_modified(c, r, etag, cache);
  if (!strncmp(it->path, LK_CATALOG_PHOTO_PATH, sizeof LK_CATALOG_PHOTO_PATH - 1)) { /* written over HTTP */
    char *type;
    void *data;
    size_t len;
    lk_errbuf eb = {0};
    int rc = r->s->writes ? lk_write_photo(r->s->writes, r->id, &type, &data, &len, &eb) : LK_ENOTFOUND;
    if (rc == LK_ENOTFOUND) return send_error(c, r, 404, "the photo of item %lld is not in the catalog", (long long)r->id);
    if (rc) return send_error(c, r, 503, "the photo of item %lld cannot be read now: %s", (long long)r->id, eb.msg);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
      free(data), free(type);
      return MHD_NO;
    }
    if (etag[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    enum MHD_Result ok = send_resp(c, r, 200, resp, type, cache);
    free(type);
    return ok;
  }
  /* Regular files only, opened without blocking: a FIFO in place of a photo must not hold a
   * request thread. */
  int fd;
  struct stat st;
  unsigned char head[16];
  ssize_t nh;
  if (lk_file_open(it->path, &fd, &st, NULL) || st.st_size <= 0 || (uint64_t)st.st_size > MAX_PHOTO_BYTES ||
      (nh = pread(fd, head, sizeof head, 0)) <= 0) {
    if (fd >= 0) close(fd);
    return send_error(c, r, 404, "the photo of item %lld is missing or unreadable", (long long)r->id);
  }
  const char *type = lk_http_sniff(head, (size_t)nh), *by_name = type_of_path(it->path);
  if (!type) {
    close(fd);
    return send_error(c, r, 404, "the photo of item %lld is not an image", (long long)r->id);
  }
  if (by_name && strcmp(by_name, type)) type = by_name; /* trust the recorded name if both are images */
  struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
  if (!resp) {
    close(fd);
    return MHD_NO;
  }
  if (etag[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
  return send_resp(c, r, 200, resp, type, cache);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c, req *r) {
  lk_server *s = r->s;
  lk_metrics_gauges g = {(int64_t)lk_engine_item_count(r->e), (int64_t)lk_engine_size(r->e),
                         lk_engine_dim(r->e), NULL};
  char *txt, *keys = NULL;
  size_t len, klen;
  if (s->o.auth && lk_auth_render(s->o.auth, &keys, &klen)) return send_error(c, r, 500, "out of memory");
  g.extra = keys;
  int rc = lk_metrics_render(s->metrics, &g, &txt, &len);
  free(keys);
  if (rc) return send_error(c, r, 500, "out of memory");
  return send_resp(c, r, 200, MHD_create_response_from_buffer(len, txt, MHD_RESPMEM_MUST_FREE),
                   "text/plain; version=0.0.4; charset=utf-8", NULL);
}

/* --require-key: is this route part of the API? (The page, photos, /health and /metrics are
 * not.) Decided at the headers, so a refused upload's body is never read. */
static void check_role(struct MHD_Connection *c, req *r, lk_auth *auth, int role);
static void check_key(struct MHD_Connection *c, req *r) {
  lk_auth *auth = r->s->o.auth;
  int needed = LK_KEYS_READ;
  if (r->write_op) { /* writes need a write key, whether or not --require-key is on */
    auth = r->s->o.write_auth, needed = LK_KEYS_WRITE;
    if (!auth) {
      r->auth_status = 503;
      fail(r, 503, "this server cannot check keys, so it takes no writes");
      return;
    }
  } else {
    switch (r->route) {
    case R_SEARCH: case R_ITEMS: case R_ITEM: case R_SIMILAR: case R_BADID: case R_FACETS: case R_MAP: break;
    default: return;
    }
  }
  check_role(c, r, auth, needed);
}

/* GET /api/admin/...: an admin key, whether or not --require-key is on (checked against the
 * catalog's keys that writes use). */
static void check_admin(struct MHD_Connection *c, req *r) {
  lk_auth *auth = r->s->o.auth ? r->s->o.auth : r->s->o.write_auth;
  if (auth) {
    check_role(c, r, auth, LK_KEYS_ADMIN);
    return;
  }
  r->auth_status = 503;
  fail(r, 503, "the owner's API needs the catalog's keys, which this server could not read (see its log)");
}

/* The key check of one request against auth for `role`: sets r->auth_status (and the failure)
 * when refused. */
static void check_role(struct MHD_Connection *c, req *r, lk_auth *auth, int role) {
  char msg[LK_ERRMSG_MAX], addr[LK_AUTH_CLIENT_MAX];
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  lk_auth_client(ci ? ci->client_addr : NULL, addr);
  /* an address with too many failures is refused before its key is looked at (auth.h) */
  int status = lk_auth_limited(auth, addr, &r->retry_s, msg, sizeof msg);
  if (!status) {
    /* the header's value is used here only: never logged, never in a metric */
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    status = lk_auth_check(auth, h, role, NULL, msg, sizeof msg);
    if (status == 401) lk_auth_failed(auth, addr);
    if (status == 429) r->retry_s = 1; /* a key over --rate-limit */
  }
  if (status) {
    r->auth_status = status;
    fail(r, status, "%s", msg);
  }
}

/* The answer to a request refused by check_key: 401 carries WWW-Authenticate (RFC 6750),
 * 429 Retry-After. */
static enum MHD_Result send_auth_error(struct MHD_Connection *c, req *r) {
  json_t *body = json_pack("{s:s}", "error", r->fail_msg);
  char *txt = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(body);
  if (!txt) return send_error(c, r, 500, "out of memory");
  struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(txt);
    return MHD_NO;
  }
  if (r->auth_status == 401)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            (r->s->o.auth || r->write_op || r->route == R_ADMIN) && MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)
                                ? "Bearer realm=\"lookalike\", error=\"invalid_token\""
                                : "Bearer realm=\"lookalike\"");
  if (r->auth_status == 429) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", r->retry_s);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  }
  return send_resp(c, r, r->auth_status, resp, "application/json", NULL);
}

/* ---------------------------------------------------------------- request bodies */

/* Makes room for need bytes in r->buf, charging the growth to the server-wide budget. */
static int grow(req *r, size_t need) {
  lk_server *s = r->s;
  if (need <= r->cap) return 0;
  if (need > s->o.max_body) {
    fail(r, 413, "the request body is larger than the %zu MiB limit", s->o.max_body / MIB);
    return -1;
  }
  size_t ncap = r->cap ? r->cap : 64 * 1024;
  while (ncap < need) ncap = ncap > s->o.max_body / 2 ? s->o.max_body : ncap * 2;
  size_t more = ncap - r->cap;
  size_t before = atomic_fetch_add(&s->buffered, more);
  if (before + more > s->o.max_buffered || before + more < before) {
    atomic_fetch_sub(&s->buffered, more);
    fail(r, 503, "the server is busy receiving other uploads; try again");
    return -1;
  }
  r->reserved += more;
  uint8_t *p = realloc(r->buf, ncap);
  if (!p) {
    fail(r, 503, "out of memory for the upload; try again");
    return -1;
  }
  r->buf = p;
  r->cap = ncap;
  return 0;
}

static int append(req *r, const char *data, size_t n) {
  size_t need;
  if (lk_size_add(r->len, n, &need)) return fail(r, 413, "request body too large"), -1;
  if (grow(r, need)) return -1;
  memcpy(r->buf + r->len, data, n);
  r->len = need;
  return 0;
}

/* Applies the form field received so far. */
static void flush_field(req *r) {
  if (!r->have_field) return;
  r->have_field = 0;
  lk_errbuf eb = {0};
  if (lk_api_param(&r->params, r->key, r->val, &eb)) fail(r, 400, "%s", lk_err_msg(&eb));
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data,
                               uint64_t off, size_t size) {
  req *r = cls;
  if (r->fail) return MHD_NO;
  if (!key) key = "";
  /* The photo: the 'image' part, or a part sent as a file whatever its name (forms and
   * clients often call it 'file' or 'photo'). */
  if (!strcmp(key, "image") || filename) {
    flush_field(r);
    if (off == 0 && r->len > 0) return fail(r, 400, "send one photo (one 'image' part), not several");
    r->image_parts = 1;
    if (size && append(r, data, size)) return MHD_NO;
    return r->fail ? MHD_NO : MHD_YES;
  }
  /* A text field, possibly delivered in pieces (off > 0 continues the previous one). */
  if (r->have_field && (off == 0 || strcmp(r->key, key))) flush_field(r);
  if (r->fail) return MHD_NO;
  if (!r->have_field) {
    if (++r->nfields > MAX_FIELDS) return fail(r, 400, "more than %d form fields", MAX_FIELDS);
    if (strlen(key) >= sizeof r->key) return fail(r, 400, "unknown parameter '%.40s...'", key);
    strcpy(r->key, key);
    r->vlen = 0;
    r->val[0] = '\0';
    r->have_field = 1;
  }
  if (size >= sizeof r->val - r->vlen)
    return fail(r, 400, "form field '%s' is longer than %zu bytes", r->key, sizeof r->val - 1);
  memcpy(r->val + r->vlen, data, size);
  r->vlen += size;
  r->val[r->vlen] = '\0';
  return MHD_YES;
}

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  req *r = cls;
  lk_errbuf eb = {0};
  if (lk_api_param(&r->params, key, value, &eb)) return fail(r, 400, "%s", lk_err_msg(&eb));
  return MHD_YES;
}

/* Query parameters of GET /api/items (lk_http_list_param). */
typedef struct list_args {
  req *r;
  lk_http_list a;
} list_args;

/* A filter of GET /api/items or /api/facets (a field such as gender=Women, or where=...), as
 * search takes them; 0 when key is not one. */
static int is_filter_arg(const char *key) { return key && (!strcmp(key, "where") || lk_filter_field(key) >= 0); }

static enum MHD_Result on_list_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  list_args *a = cls;
  lk_errbuf eb = {0};
  if (is_filter_arg(key)) return on_arg(a->r, kind, key, value);
  if (!key || (strcmp(key, "offset") && strcmp(key, "limit") && strcmp(key, "sample") && strcmp(key, "seed")))
    return fail(a->r, 400, "unknown parameter '%.60s' (expected offset, limit, sample, seed or a filter: a field such "
                "as gender=Women, or where=...)", key ? key : "");
  if (lk_http_list_param(&a->a, key, value, &eb)) return fail(a->r, 400, "%s", lk_err_msg(&eb));
  return MHD_YES;
}

/* A part of a write's multipart body (server/write.h): every part, field or file, is kept
 * whole in r->buf, its offset recorded (data holds it until dispatch). */
static enum MHD_Result on_wpart(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                const char *content_type, const char *transfer_encoding, const char *data,
                                uint64_t off, size_t size) {
  req *r = cls;
  if (r->fail) return MHD_NO;
  if (!key) key = "";
  lk_write_part *last = r->nparts ? &r->parts[r->nparts - 1] : NULL;
  if (!last || off == 0 || strcmp(last->name, key)) { /* a new part */
    if (r->nparts == MAX_WRITE_PARTS) return fail(r, 413, "more than %d parts in one request", MAX_WRITE_PARTS);
    if (strlen(key) > 256 || (filename && strlen(filename) > 256))
      return fail(r, 400, "a part name or file name is longer than 256 bytes");
    if (LK_ARRAY_RESERVE(r->parts, r->parts_cap, r->nparts + 1, 16)) return fail(r, 503, "out of memory for the upload; try again");
    last = &r->parts[r->nparts++];
    memset(last, 0, sizeof *last);
    last->data = (const uint8_t *)(uintptr_t)r->len; /* an offset until dispatch */
    if (!(last->name = strdup(key)) || (filename && !(last->filename = strdup(filename))))
      return fail(r, 503, "out of memory for the upload; try again");
  }
  if (size && append(r, data, size)) return MHD_NO;
  last->len += size;
  return r->fail ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_facet_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  if (is_filter_arg(key)) return on_arg(cls, kind, key, value);
  return fail(cls, 400, "unknown parameter '%.60s' for /api/facets: it takes the filters of a search only (a field "
              "such as gender=Women, or where=...)", key ? key : "");
}

/* GET /api/facets: the whole catalog's counts are built once (per followed snapshot); with
 * filters they are counted for this request (lk_api_facets_where). */
static enum MHD_Result facets(struct MHD_Connection *c, req *r) {
  lk_server *s = r->s;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_facet_arg, r);
  if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
  if (!r->params.filter.n && !r->params.filter.nwhere) {
    size_t flen = s->facets_len;
    const char *all = r->snap ? lk_facets_get(s->live_facets, r->snap, &flen) : s->facets;
    return send_resp(c, r, 200, MHD_create_response_from_buffer(flen, (void *)all, MHD_RESPMEM_PERSISTENT),
                     "application/json", "no-cache");
  }
  lk_api_reply rep = {0};
  int rc = lk_api_facets_where(r->e, &r->params.filter, &rep.body);
  if (!rc) rep.status = 200;
  return send_reply(c, r, rc, &rep);
}

/* First call of POST /api/search: checks Content-Length and Content-Type before any body
 * byte is read; rejects at once (413, 415, 400) or prepares to receive. */
static enum MHD_Result begin_upload(struct MHD_Connection *c, req *r) {
  lk_server *s = r->s;
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    uint64_t n;
    if (lk_http_parse_u64(cl, s->o.max_body, &n))
      return send_error(c, r, 413, "the request body is larger than the %zu MiB limit", s->o.max_body / MIB);
  }
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
    r->pp = MHD_create_post_processor(c, POST_BUFFER, r->write_op ? on_wpart : on_part, r);
    if (!r->pp) return send_error(c, r, 400, "malformed multipart/form-data header (no boundary?)");
  }
  /* Anything else is the photo itself, whatever its Content-Type claims (`curl --data-binary
   * @photo.jpg` says x-www-form-urlencoded): the decoder sniffs the format. */
  return MHD_YES;
}

/* ---------------------------------------------------------------- dispatch */

/* Whether a search starting now would start too late to finish within the stop's bound. */
static int too_late(lk_server *s) {
  return atomic_load(&s->stopping) && lk_clock_now() - atomic_load(&s->stop_at) > LATE_SECONDS;
}

static enum MHD_Result send_late(struct MHD_Connection *c, req *r) {
  static const char body[] = "{\"error\":\"the server is stopping; send the search again\"}";
  return send_resp(c, r, 503, MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT),
                   "application/json", NULL); /* with Retry-After */
}

static enum MHD_Result search_reply(struct MHD_Connection *c, req *r, int rc, lk_api_reply *rep) {
  lk_server *s = r->s;
  if (!rc && rep->status == 200) {
    lk_metrics_stage(s->metrics, LK_METRICS_DECODE, rep->decode_s);
    lk_metrics_stage(s->metrics, LK_METRICS_QUEUE, rep->queue_s);
    lk_metrics_stage(s->metrics, LK_METRICS_EMBED, rep->embed_s);
    lk_metrics_stage(s->metrics, LK_METRICS_KNN, rep->knn_s);
    lk_admin_note_search_reply(s->admin, rep->body);
  }
  return send_reply(c, r, rc, rep);
}

/* A queued search is answered: its connection goes back to its request thread, which calls
 * on_request again and sends the reply (search). */
static void job_done(req *r) {
  atomic_store(&r->job, JOB_DONE);
  MHD_resume_connection(r->mhd);
}

static void *search_worker(void *arg) {
  lk_server *s = arg;
  pthread_mutex_lock(&s->jobs_lock);
  for (;;) {
    req *r = s->jobs_head;
    if (!r) {
      if (s->jobs_quit) break;
      pthread_cond_wait(&s->jobs_cond, &s->jobs_lock);
      continue;
    }
    if (!(s->jobs_head = r->job_next)) s->jobs_tail = NULL;
    pthread_mutex_unlock(&s->jobs_lock);
    if (too_late(s)) r->job_late = 1;
    else r->job_rc = lk_api_search(r->e, r->buf, r->len, &s->o.image, &r->params, &r->job_rep);
    job_done(r);
    pthread_mutex_lock(&s->jobs_lock);
  }
  pthread_mutex_unlock(&s->jobs_lock);
  return NULL;
}

/* The stop's late answer to every search still waiting for a search thread. */
static void reject_queued(lk_server *s) {
  pthread_mutex_lock(&s->jobs_lock);
  req *r = s->jobs_head;
  s->jobs_head = s->jobs_tail = NULL;
  pthread_mutex_unlock(&s->jobs_lock);
  while (r) {
    req *next = r->job_next;
    r->job_late = 1;
    job_done(r);
    r = next;
  }
}

static enum MHD_Result search(struct MHD_Connection *c, req *r) {
  lk_server *s = r->s;
  if (atomic_load(&r->job) == JOB_DONE) {
    if (r->job_late) return send_late(c, r);
    lk_api_reply rep = r->job_rep;
    r->job_rep.body = NULL; /* the reply's now (on_completed frees one never sent) */
    return search_reply(c, r, r->job_rc, &rep);
  }
  if (r->pp) {
    MHD_destroy_post_processor(r->pp); /* may deliver the last buffered bytes */
    r->pp = NULL;
    flush_field(r);
    if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
    if (!r->image_parts)
      return send_error(c, r, 400, "no photo in the form: send it as a file part named 'image'");
  }
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, r);
  if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
  if (!r->len)
    return send_error(c, r, 400, "no photo: send a multipart/form-data 'image' part or the image as the body");
  if (too_late(s)) return send_late(c, r);
  /* to a search thread; this request thread goes on reading the other connections */
  r->mhd = c;
  atomic_store(&r->job, JOB_QUEUED);
  MHD_suspend_connection(c);
  pthread_mutex_lock(&s->jobs_lock);
  if (s->jobs_tail) s->jobs_tail->job_next = r;
  else s->jobs_head = r;
  s->jobs_tail = r;
  pthread_cond_signal(&s->jobs_cond);
  pthread_mutex_unlock(&s->jobs_lock);
  return MHD_YES;
}

/* /health's account of the catalog being followed: "catalog_version" (of the engine in use)
 * and "follow": {"ok", "updates", "seconds_since_check", "last_build_ms", "error"}. */
static void add_follow_status(lk_live *f, json_t *body) {
  lk_live_state st;
  lk_live_status(f, &st);
  json_object_set_new(body, "catalog_version", st.version >= 0 ? json_integer(st.version) : json_null());
  if (!st.following) return;
  json_t *fo = json_pack("{s:b, s:I, s:f, s:f}", "ok", st.error[0] == '\0', "updates", (json_int_t)st.updates,
                         "seconds_since_check", (double)(int64_t)(st.since_check_s * 1e3) / 1e3, "last_build_ms",
                         (double)(int64_t)(st.last_build_s * 1e6) / 1e3);
  if (fo && st.error[0]) json_object_set_new(fo, "error", json_string(st.error));
  if (fo) json_object_set_new(body, "follow", fo);
}

/* A write (server/write.h), its body received. */
static enum MHD_Result write_request(struct MHD_Connection *c, req *r) {
  lk_server *s = r->s;
  int multipart = r->pp != NULL;
  if (r->pp) {
    MHD_destroy_post_processor(r->pp); /* may deliver the last buffered bytes */
    r->pp = NULL;
  }
  if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
  if (!s->writes)
    return send_error(c, r, 503, "this server does not take writes (it was started without a catalog it follows)");
  lk_write_body b = {0};
  b.multipart = multipart;
  for (size_t i = 0; i < r->nparts; i++) r->parts[i].data = r->buf + (uintptr_t)r->parts[i].data;
  b.parts = r->parts;
  b.nparts = r->nparts;
  b.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  b.raw = r->buf;
  b.len = r->len;
  lk_api_reply rep;
  int retry = 0, rc = lk_write_run(s->writes, r->write_op - 1, r->id, &b, &rep, &retry);
  if (rc || !rep.body) return send_error(c, r, 500, "out of memory");
  if (!retry) return send_json(c, r, rep.status, rep.body);
  char *txt = json_dumps(rep.body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(rep.body);
  if (!txt) return send_error(c, r, 500, "out of memory");
  struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(txt);
    return MHD_NO;
  }
  char ra[16];
  snprintf(ra, sizeof ra, "%d", retry);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  return send_resp(c, r, rep.status, resp, "application/json", NULL);
}

static enum MHD_Result dispatch(struct MHD_Connection *c, req *r, const char *url) {
  lk_server *s = r->s;
  if (r->no_host) return send_error(c, r, 400, "an HTTP/1.1 request needs a Host header");
  if (r->route == R_NONE) return send_error(c, r, 404, "not found: %s", r->path);
  if (r->auth_status) return send_auth_error(c, r);
  if (!r->method_ok) {
    static const char body[] = "{\"error\":\"method not allowed\"}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    const char *allow = r->route == R_SEARCH || r->route == R_UPLOADS || r->route == R_BATCH ? "POST"
                        : r->route == R_ITEMS                                                ? "GET, HEAD, POST"
                        : r->route == R_ITEM ? "GET, HEAD, PUT, PATCH, DELETE"
                                             : "GET, HEAD";
    if (resp) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return send_resp(c, r, 405, resp, "application/json", NULL);
  }
  if (r->write_op) return write_request(c, r);
  if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
  if (!r->e) { /* one engine for the whole request, even if the follower swaps in another */
    if (s->o.follow) r->e = lk_live_engine(r->snap = lk_live_acquire(s->o.follow));
    else r->e = s->engine;
  }
  lk_api_reply rep;
  int rc;
  switch (r->route) {
  case R_PAGE: return serve_asset(c, r);
  case R_SEARCH: return search(c, r);
  case R_BADID: return send_error(c, r, 400, "not an item id: %s (ids are whole numbers, 0 to 9223372036854775807)", r->path);
  case R_ITEMS: {
    list_args a = {r, {0}};
    lk_http_list_init(&a.a, LK_API_DEFAULT_K);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_list_arg, &a);
    if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
    rc = lk_api_items_where(r->e, &r->params.filter, a.a.offset, a.a.limit, a.a.sample, a.a.seed, &rep);
    return send_reply(c, r, rc, &rep);
  }
  case R_ITEM:
    rc = lk_api_item(r->e, r->id, &rep);
    return send_reply(c, r, rc, &rep);
  case R_SIMILAR:
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, r);
    if (r->fail) return send_error(c, r, r->fail, "%s", r->fail_msg);
    rc = lk_api_similar(r->e, r->id, &r->params, &rep);
    return send_reply(c, r, rc, &rep);
  case R_FACETS: return facets(c, r);
  case R_MAP:
    rc = lk_api_map(r->e, s->o.db_path, &rep);
    return send_map(c, r, rc, &rep);
  case R_PHOTO: return serve_photo(c, r);
  case R_HEALTH:
    rc = lk_api_health(r->e, lk_clock_now() - s->started, &rep);
    if (!rc && s->o.follow && rep.body) add_follow_status(s->o.follow, rep.body);
    return send_reply(c, r, rc, &rep);
  case R_METRICS: return serve_metrics(c, r);
  case R_ADMIN:
    rc = lk_admin_stats(s->admin, r->e, s->o.db_path, (int64_t)time(NULL), &rep);
    return send_reply(c, r, rc, &rep);
  default: return send_error(c, r, 404, "not found: %s", url);
  }
}

typedef struct header_tally {
  size_t n, bytes;
} header_tally;

static enum MHD_Result tally_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  header_tally *t = cls;
  t->n++;
  t->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* "key: value\r\n" */
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  lk_server *s = cls;
  req *r = *con_cls;
  if (!r) { /* headers received, no body byte read yet */
    if (!(r = calloc(1, sizeof *r))) return MHD_NO;
    r->s = s;
    r->t0 = lk_clock_now();
    lk_api_params_init(&r->params);
    /* the weak-match threshold (admin.h) is computed in the background from the first request
     * on, so that the start itself neither waits for it nor allocates in another thread */
    if (!atomic_load(&s->admin_started) && !atomic_exchange(&s->admin_started, 1) &&
        lk_admin_start_threshold(s->admin, s->engine, s->o.follow, s->o.log, s->o.log_ctx))
      logf_(s, "the weak-match threshold cannot be computed: no thread");
    printable(r->method, sizeof r->method, method);
    printable(r->path, sizeof r->path, url);
    r->post = !strcmp(method, "POST");
    r->no_host = version && !strcmp(version, MHD_HTTP_VERSION_1_1) &&
                 !MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (r->no_host) fail(r, 400, "an HTTP/1.1 request needs a Host header"); /* its body is dropped */
    route(r, url);
    if ((s->o.auth || r->write_op) && !r->no_host) check_key(c, r);
    if (r->route == R_ADMIN && !r->no_host) check_admin(c, r);
    *con_cls = r;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && (r->conn = ci->socket_context)) {
      r->conn->req = r;
      atomic_store(&r->conn->busy, 1);
    }
    atomic_fetch_add(&s->active, 1);
    lk_metrics_inflight(s->metrics, 1);
    header_tally ht = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, tally_header, &ht);
    if (ht.n > MAX_HEADERS || ht.bytes > MAX_HEADER_BYTES)
      return send_error(c, r, 431, "the request headers are too large (%zu headers, %zu bytes; at most %d headers and %d KiB)",
                        ht.n, ht.bytes, MAX_HEADERS, MAX_HEADER_BYTES / 1024);
    if (r->auth_status) return send_auth_error(c, r); /* before any body byte is read */
    if (((r->route == R_SEARCH && r->post) || r->write_op) && !r->no_host && !r->auth_status) return begin_upload(c, r);
    return MHD_YES;
  }
  if (r->status) { /* answered early; drop whatever else comes */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    r->seen += n;
    if (r->fail) return r->seen > 2 * (uint64_t)s->o.max_body ? MHD_NO : MHD_YES; /* drop, then hang up */
    if (!(r->route == R_SEARCH && r->post) && !r->write_op) {
      if (r->seen > MAX_OTHER_BODY) fail(r, 413, "unexpected request body");
      return MHD_YES;
    }
    if (r->seen > s->o.max_body) {
      fail(r, 413, "the request body is larger than the %zu MiB limit", s->o.max_body / MIB);
      return MHD_YES;
    }
    if (r->pp) {
      if (MHD_post_process(r->pp, upload_data, n) != MHD_YES && !r->fail) fail(r, 400, "malformed multipart body");
    } else {
      append(r, upload_data, n);
    }
    return MHD_YES;
  }
  return dispatch(c, r, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  lk_server *s = cls;
  req *r = *con_cls;
  if (!r) return;
  *con_cls = NULL;
  double dt = lk_clock_now() - r->t0;
  lk_metrics_request(s->metrics, r->endpoint, r->status, dt);
  lk_metrics_inflight(s->metrics, -1);
  /* the log says what the client got: a reply cut off by a closed connection is not one */
  if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
    logf_(s, "%s %s %d %.1fms", r->method, r->path, r->status, dt * 1e3);
  else if (r->status)
    logf_(s, "%s %s - %.1fms (its %d reply was not sent in full: %s)", r->method, r->path, dt * 1e3, r->status,
          toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "the server stopped" : "the connection closed early");
  else
    logf_(s, "%s %s - %.1fms (no reply: %s)", r->method, r->path, dt * 1e3,
          toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "the server stopped" : "the connection closed early");
  if (r->conn) {
    atomic_store(&r->conn->rx_done, tcp_rx(r->conn->fd)); /* later bytes belong to a next request */
    r->conn->req = NULL;
    atomic_store(&r->conn->busy, 0);
  }
  if (r->pp) MHD_destroy_post_processor(r->pp);
  json_decref(r->job_rep.body); /* a search whose client left before its reply was queued */
  if (r->snap) lk_live_release(s->o.follow, r->snap);
  for (size_t i = 0; i < r->nparts; i++) {
    free((char *)r->parts[i].name);
    free((char *)r->parts[i].filename);
  }
  free(r->parts);
  free(r->buf);
  atomic_fetch_sub(&s->buffered, r->reserved);
  free(r);
  atomic_fetch_sub(&s->active, 1);
}

/* Keeps the list of open connections for the stop's drain. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  lk_server *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn *cn = ci ? calloc(1, sizeof *cn) : NULL;
    if (!cn) return; /* not tracked: the drain cannot wait for it, the stop still closes it */
    cn->fd = ci->connect_fd;
    pthread_mutex_lock(&s->conns_lock);
    cn->next = s->conns;
    if (s->conns) s->conns->prev = cn;
    s->conns = cn;
    s->nconns++;
    pthread_mutex_unlock(&s->conns_lock);
    *socket_context = cn;
  } else if (*socket_context) {
    conn *cn = *socket_context;
    *socket_context = NULL;
    if (cn->req) cn->req->conn = NULL;
    pthread_mutex_lock(&s->conns_lock);
    if (cn->prev) cn->prev->next = cn->next;
    else s->conns = cn->next;
    if (cn->next) cn->next->prev = cn->prev;
    s->nconns--;
    pthread_mutex_unlock(&s->conns_lock);
    free(cn);
  }
}

/* Percent-decoding of paths and query values (lk_http_unescape: once, %00 becomes DEL). */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *str) { return lk_http_unescape(str); }

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  lk_server *s = cls;
  if (!s->o.log) return;
  char line[512];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  s->o.log(s->o.log_ctx, line);
}

/* ---------------------------------------------------------------- lifetime */

void lk_server_opts_default(lk_server_opts *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 8080;
  o->threads = 4;
  o->max_body = 20 * MIB;
  o->max_buffered = 256 * MIB;
  o->timeout_s = 30;
  o->max_connections = 256;
  o->max_per_ip = 64;
  o->backend = LK_BACKEND_DNNL;
}

int lk_server_port(const lk_server *s) { return s->port; }

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

int lk_server_start(lk_engine *e, const lk_server_opts *opts, lk_server **out, lk_errbuf *err) {
  lk_server_opts def;
  lk_server_opts_default(&def);
  lk_server *s = calloc(1, sizeof *s);
  if (!s) return lk_err_set(err, LK_ENOMEM, "out of memory");
  s->engine = e;
  pthread_mutex_init(&s->conns_lock, NULL);
  pthread_mutex_init(&s->jobs_lock, NULL);
  pthread_cond_init(&s->jobs_cond, NULL);
  s->o = opts ? *opts : def;
  s->started = lk_clock_now();
  if (!s->o.host || !*s->o.host) s->o.host = def.host;
  if (s->o.threads <= 0) s->o.threads = def.threads;
  if (!s->o.max_body) s->o.max_body = def.max_body;
  if (!s->o.max_buffered) s->o.max_buffered = def.max_buffered;
  if (!s->o.timeout_s) s->o.timeout_s = def.timeout_s;
  if (!s->o.max_connections) s->o.max_connections = def.max_connections;
  if (!s->o.max_per_ip) s->o.max_per_ip = def.max_per_ip;
  if (!s->o.image.max_bytes) s->o.image.max_bytes = s->o.max_body;
  if (!s->o.image.max_pixels) s->o.image.max_pixels = 40000000;
  if (!s->o.image.max_side) s->o.image.max_side = 20000;
  int rc = LK_ENOMEM;
  struct addrinfo *ai = NULL;
  if (s->o.port < 0 || s->o.port > 65535) {
    rc = lk_err_set(err, LK_EINVAL, "port %d is not in 0..65535", s->o.port);
    goto fail;
  }
  if (s->o.embedders < 0 || s->o.embedders > 64) {
    rc = lk_err_set(err, LK_EINVAL, "embedders must be 0..64, got %d", s->o.embedders);
    goto fail;
  }
  if (s->o.embedders > 0 && (rc = lk_engine_load_model(e, err))) goto fail; /* the engine's embedders, now */
  if (lk_metrics_new(&s->metrics) || lk_admin_new(&s->admin) || lk_facets_new(&s->live_facets)) goto nomem;
  if (s->o.follow && s->o.db_path) {
    lk_write_opts wo = {.db = s->o.db_path, .follow = s->o.follow, .models_dir = s->o.models_dir,
                        .backend = s->o.backend, .image = s->o.image};
    if ((rc = lk_write_new(&wo, &s->writes, err))) goto fail;
  }
  /* without a live catalog the counts are built here, once; with one, per snapshot on its first
   * request (a walk over every item, ~0.5 s a million: not a start's cost) */
  json_t *fj = NULL;
  if (!s->o.follow && (lk_api_facets(e, &fj) || !(s->facets = json_dumps(fj, JSON_COMPACT | JSON_PRESERVE_ORDER)))) {
    json_decref(fj);
    goto nomem;
  }
  json_decref(fj);
  s->facets_len = s->facets ? strlen(s->facets) : 0;
  if (!(s->etag = calloc((size_t)lk_assets_count + 1, sizeof *s->etag))) goto nomem;
  for (int i = 0; i < lk_assets_count; i++)
    snprintf(s->etag[i], sizeof s->etag[i], "\"%016llx\"",
             (unsigned long long)fnv1a(lk_assets[i].data, lk_assets[i].len));

  char port[8];
  snprintf(port, sizeof port, "%d", s->o.port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  int gai = getaddrinfo(s->o.host, port, &hints, &ai);
  if (gai) {
    rc = lk_err_set(err, LK_EINVAL, "cannot use host '%s': %s", s->o.host, gai_strerror(gai));
    goto fail;
  }
  /* the search threads, before the first request can come */
  if (!(s->workers = calloc((size_t)s->o.threads, sizeof *s->workers))) goto nomem;
  for (; s->nworkers < s->o.threads; s->nworkers++)
    if (pthread_create(&s->workers[s->nworkers], NULL, search_worker, s)) {
      rc = lk_err_set(err, LK_ENOMEM, "cannot start the search threads");
      goto fail;
    }
  /* poll(), not epoll: MHD's epoll loop accepts up to 10 connections in a row, so a burst
   * of clients lands on one pool thread and their requests (similar items, writes: the
   * searches go to the search threads) run one after another; with poll() each idle thread
   * takes its share and a busy thread takes none. */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}}; /* MHD keeps the pointers */
  if (s->o.tls) {
    flags |= MHD_USE_TLS;
    tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)lk_tls_cert(s->o.tls)};
    tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)lk_tls_key(s->o.tls)};
  }
  errno = 0;
  s->daemon = MHD_start_daemon(
      flags, (uint16_t)s->o.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
      MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(s->o.threads > 1 ? s->o.threads : 0), MHD_OPTION_CONNECTION_TIMEOUT,
      s->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT, s->o.max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->o.max_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
      on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK,
      on_unescape, s, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
  if (!s->daemon) {
    rc = lk_err_set(err, LK_EIO, "cannot listen on %s:%d: %s", s->o.host, s->o.port,
                    errno ? strerror(errno) : "address in use or not available");
    goto fail;
  }
  freeaddrinfo(ai);
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di && di->port ? di->port : s->o.port;
  *out = s;
  return 0;
nomem:
  rc = lk_err_set(err, LK_ENOMEM, "out of memory");
fail:
  if (ai) freeaddrinfo(ai);
  lk_server_stop(s);
  return rc;
}

/* Connections the kernel accepted that MHD has not taken yet are served like the others
 * (their clients sent a request before the stop); closing the socket refuses the rest. */
static void adopt_backlog(lk_server *s, MHD_socket fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return;
  int taken = 0;
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break; /* EAGAIN: the backlog is empty */
    }
    if (MHD_add_connection(s->daemon, cfd, (struct sockaddr *)&ss, len) != MHD_YES) /* it closed cfd */
      logf_(s, "a connection waiting at the stop could not be served: %s", strerror(errno));
    else
      taken++;
  }
  if (taken) logf_(s, "stop: %d connection(s) waiting to be accepted are served", taken);
}

/* Waits, until CLOSE_SECONDS after the stop, for every open connection to finish its
 * request (replies now close their connection). A connection idle for 0.2 s (no request,
 * no byte received since its last request ended, none unread) is shut down: a keep-alive
 * client between requests, or one that connected and sent nothing. One whose request is
 * still arriving (headers sent slowly) is waited for. */
/* Searches waiting for an embedder, or to come, get 503 (the engines' shared embedders:
 * lk_engine_close_queue). */
static void close_queue(lk_server *s) {
  lk_engine_close_queue(s->engine);
  if (!s->o.follow) return;
  const lk_live_snap *snap = lk_live_acquire(s->o.follow); /* (normally s->engine's pool: closing twice is harmless) */
  lk_engine_close_queue(lk_live_engine(snap));
  lk_live_release(s->o.follow, snap);
}

static void drain(lk_server *s) {
  double t0 = atomic_load(&s->stop_at);
  int late = 0;
  for (;;) {
    double now = lk_clock_now();
    if (!late && now - t0 > LATE_SECONDS) { /* searches still waiting for a thread or an embedder: 503 */
      reject_queued(s);
      close_queue(s);
      late = 1;
    }
    pthread_mutex_lock(&s->conns_lock);
    int left = s->nconns;
    for (conn *cn = s->conns; cn; cn = cn->next) {
      char b;
      ssize_t n = recv(cn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
      int idle = !atomic_load(&cn->busy) && n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      if (idle) { /* bytes of a request MHD is still reading (they left the socket) */
        int64_t rx = tcp_rx(cn->fd);
        idle = rx < 0 || rx == atomic_load(&cn->rx_done);
      }
      if (!idle) cn->idle_since = 0;
      else if (!cn->idle_since) cn->idle_since = now;
      else if (now - cn->idle_since >= 0.2) shutdown(cn->fd, SHUT_RDWR); /* MHD then closes it */
    }
    pthread_mutex_unlock(&s->conns_lock);
    if (!left && atomic_load(&s->active) == 0) return;
    if (now - t0 >= CLOSE_SECONDS) {
      logf_(s, "%d connection(s) still open %.1f s after the stop: closing them", left, CLOSE_SECONDS);
      return;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

void lk_server_stop(lk_server *s) {
  if (!s) return;
  if (s->daemon) {
    /* Stop accepting, serve what was already accepted, let the requests in progress
     * finish within the bound, then stop the threads. */
    atomic_store(&s->stop_at, lk_clock_now());
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon); /* ours to close now */
    if (fd != MHD_INVALID_SOCKET) {
      adopt_backlog(s, fd);
      close(fd);
    }
    drain(s);
  }
  /* the searches still running finish (the queue is empty by now: answered when late), so that
   * no connection is suspended when the daemon stops */
  pthread_mutex_lock(&s->jobs_lock);
  s->jobs_quit = 1;
  pthread_cond_broadcast(&s->jobs_cond);
  pthread_mutex_unlock(&s->jobs_lock);
  for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
  free(s->workers);
  if (s->daemon) MHD_stop_daemon(s->daemon); /* closes what is left, joins the threads */
  lk_admin_free(s->admin); /* stops its threshold thread */
  lk_metrics_free(s->metrics);
  lk_write_free(s->writes);
  lk_facets_free(s->live_facets);
  free(s->facets);
  free(s->etag);
  pthread_mutex_destroy(&s->conns_lock);
  pthread_mutex_destroy(&s->jobs_lock);
  pthread_cond_destroy(&s->jobs_cond);
  free(s);
}
