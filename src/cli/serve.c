/* cli/serve.c — `lookalike serve`: loads a catalog, starts the web server (server/server.h)
 * and runs until SIGINT, SIGTERM or SIGHUP, then drains the requests in progress (within
 * server.c's 10 s bound) and exits 0.
 * Signals are blocked in every thread and taken synchronously with sigwait(), so there is
 * no handler and no global flag. */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/serve.h"

#include "cli/cli.h"
#include "util/num.h"
#include "lookalike.h"
#include "nn/model.h"
#include "search/engine.h"
#include "search/live.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/tls.h"

static const char *HELP =
    "usage: lookalike serve --db catalog.db [options]\n"
    "\n"
    "Serves the search page at http://HOST:PORT/ (https:// with --tls-cert) and the JSON\n"
    "API (docs/API.md). The shop owner's page is at /admin (not linked from the search\n"
    "page): it needs a key made by `lookalike keys add --role admin`, with or without\n"
    "--require-key, and shows the catalog's counts, recent changes and searches per hour.\n"
    "\n"
    "  --db FILE|URL    the catalog (made by `lookalike index`): a SQLite file or\n"
    "                   postgresql://user@host/db; either way its changes are followed:\n"
    "                   items indexed or deleted by any process are searchable here within\n"
    "                   about a second; /health tells the catalog version (docs/DEPLOY.md)\n"
    "  --no-follow      load the catalog once and do not follow its changes\n"
    "  --poll S         look for changes every S seconds even without a notification\n"
    "                   (default 5; changes are normally seen at once: PostgreSQL's NOTIFY,\n"
    "                   or a look at a SQLite file's version every 50 ms)\n"
    "  --optimize-after S\n"
    "                   a change is searchable at once (kept beside the index and scanned\n"
    "                   exactly); after S quiet seconds (default 10), or once the changes\n"
    "                   reach 2% of the items, the index is rebuilt in the background\n"
    "  --port N         TCP port (default 8080; 0 = any free port, printed at start)\n"
    "  --host ADDR      address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)\n"
    "  --threads N      request threads, and as many photo-search threads (default 4)\n"
    "  --embedders N    photo searches embedding at once, one model copy each\n"
    "                   (default: the number of cores, at most --threads and 8)\n"
    "  --models DIR     folder with the .tflite files\n"
    "  --backend B      ref or dnnl (default dnnl)\n"
    "  --index I        auto (default: ivf from 200,000 vectors), exact, or ivf (approximate)\n"
    "  --prior W        a tuned catalog's label-prior weight (default: as tuned; 0 = off):\n"
    "                   items whose type/colour/gender the photo most likely shows rank higher\n"
    "  --garment on|off first find the garment in an uploaded photo and put it on white, like\n"
    "                   a catalog photo (default off: docs/QUALITY.md, \"Street photos\")\n"
    "  --max-upload MB  largest request body accepted (default 20)\n"
    "  --timeout S      close a connection idle for S seconds (default 30)\n"
    "  --max-connections N\n"
    "                   open connections at once (default 256)\n"
    "  --max-per-ip N   open connections from one address (default 64)\n"
    "  --quiet          no access log on stderr (catalog updates are still logged)\n"
    "  --require-key    every /api/ request needs 'Authorization: Bearer KEY' with a key\n"
    "                   made by `lookalike keys add` (401 without one or with a revoked\n"
    "                   one; a revoked key stops working within a second; 20 failures\n"
    "                   within 60 s from an address: 429 for it until they pass). The page,\n"
    "                   /photos, /health and /metrics stay open. Without it the API is open\n"
    "  --tls-cert FILE  serve HTTPS with this PEM certificate (chain), needs --tls-key;\n"
    "  --tls-key FILE   and this unencrypted PEM private key. Both are checked before the\n"
    "                   server starts; plain HTTP to the port gets no answer. Behind a proxy\n"
    "                   that terminates TLS, leave both out (docs/DEPLOY.md, \"HTTPS\")\n"
    "  --rate-limit N   with --require-key: at most N API requests a second per key (bursts\n"
    "                   of N); beyond, 429 with Retry-After: 1 (default: no limit)\n"
    "\n"
    "Writes (POST /api/uploads, POST/PUT/PATCH/DELETE /api/items, POST /api/items/batch;\n"
    "docs/API.md) always need a key of role write or admin (`lookalike keys add --role write`),\n"
    "with or without --require-key. Each is committed and fsynced, and searchable by the next\n"
    "request, when it is answered; photos written so are stored in the catalog itself.\n"
    "\n"
    "Stops cleanly on Ctrl-C, SIGTERM or SIGHUP: new connections are refused at once, every\n"
    "request already sent gets its full reply, and it exits within 10 s (a photo search that\n"
    "could not start embedding within 6 s of the signal gets 503 with Retry-After instead).\n"
    "exit codes: 0 stopped by a signal, 1 failure (port in use, models missing, an unreadable\n"
    "            --tls-cert/--tls-key, or requests still running 10 s after the stop signal),\n"
    "            2 usage error, 3 catalog not found, 4 a --tls-cert/--tls-key that is no PEM\n"
    "            certificate/key, too large, or a key of another certificate\n";

static int usage(const char *msg) { return lk_cli_usage("serve", msg); }

#define STOP_BOUND_S 10 /* from the stop signal to the exit, whatever the requests do */

/* Makes the stop's bound a guarantee: lk_server_stop keeps to it unless a search started
 * before its cutoff runs on far longer than any should (server.c); then the process ends
 * here, saying so, with exit 1. */
static void *stop_watchdog(void *arg) {
  (void)arg;
  struct timespec ts = {STOP_BOUND_S, 0};
  while (nanosleep(&ts, &ts) != 0) {}
  fprintf(stderr, "lookalike serve: requests still running %d s after the stop signal; exiting without them\n",
          STOP_BOUND_S);
  _exit(1);
  return NULL;
}

/* Strict integer option in [lo, hi]. */
static int int_opt(const char *s, long lo, long hi, int *out) {
  long v;
  if (lk_num_int(s, lo, hi, &v)) return -1;
  *out = (int)v;
  return 0;
}

static void log_line(void *ctx, const char *line) {
  (void)ctx;
  char ts[32];
  time_t t = time(NULL);
  struct tm tm;
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", localtime_r(&t, &tm));
  fprintf(stderr, "%s %s\n", ts, line);
}

/* An IVF the engine had to build (or caught up with items added since its file) is saved beside
 * the catalog (CATALOG.lkx), while the server already answers, so that the next start maps it
 * (search/engine.h). */
static void save_index(const lk_engine *e, const char *db) {
  char path[4096];
  int state = lk_engine_index_state(e);
  if ((state != LK_ENGINE_LKX_BUILT && state != LK_ENGINE_LKX_BEHIND) || lk_engine_index_path(db, path, sizeof path)) return;
  lk_errbuf eb = {0};
  double t0 = lk_cli_now();
  if (lk_engine_save_index(e, path, &eb)) fprintf(stderr, "lookalike serve: saving the index: %s\n", lk_err_msg(&eb));
  else fprintf(stderr, "lookalike serve: saved the index to %s in %.1f s (the next start maps it)\n", path, lk_cli_now() - t0);
}

/* What the command line asks for, and what serving holds until the stop signal. */
typedef struct serve_run {
  const char *db, *models, *tls_cert, *tls_key;
  int require_key, rate, backend, max_mb, quiet, embedders, index, garment;
  float prior;
  lk_server_opts so;
  lk_live_opts fo;
  lk_tls *tls;
  lk_live *f;
  lk_auth *auth;
  lk_server *s;
} serve_run;

/* One option into r. Returns -1 to go on, else the exit code. */
static int parse_opt(serve_run *r, int c) {
  int iv;
  switch (c) {
  case 'd': r->db = optarg; break;
  case 'p': if (int_opt(optarg, 0, 65535, &r->so.port)) return usage("--port must be 0..65535"); break;
  case 'H': r->so.host = optarg; break;
  case 't': if (int_opt(optarg, 1, 256, &r->so.threads)) return usage("--threads must be 1..256"); break;
  case 'm': r->models = optarg; break;
  case 'B':
    if (!strcmp(optarg, "ref")) r->backend = LK_BACKEND_REF;
    else if (!strcmp(optarg, "dnnl") || !strcmp(optarg, "onednn")) r->backend = LK_BACKEND_DNNL;
    else return usage("--backend is ref or dnnl");
    break;
  case 'U': if (int_opt(optarg, 1, 1024, &r->max_mb)) return usage("--max-upload must be 1..1024 (MB)"); break;
  case 'q': r->quiet = 1; break;
  case 'X': if (lk_engine_index_parse(optarg, &r->index)) return usage("--index is auto, exact or ivf"); break;
  case 'P': if (lk_cli_float("serve", "--prior", optarg, 0, 100, &r->prior)) return LK_EX_USAGE; break;
  case 'G': if (lk_engine_garment_parse(optarg, &r->garment)) return usage("--garment is on or off"); break;
  case 'E': if (int_opt(optarg, 1, 64, &r->embedders)) return usage("--embedders must be 1..64"); break;
  case 'T': if (int_opt(optarg, 1, 3600, &iv)) return usage("--timeout must be 1..3600 (seconds)"); r->so.timeout_s = (unsigned)iv; break;
  case 'C': if (int_opt(optarg, 1, 65536, &iv)) return usage("--max-connections must be 1..65536"); r->so.max_connections = (unsigned)iv; break;
  case 'I': if (int_opt(optarg, 1, 65536, &iv)) return usage("--max-per-ip must be 1..65536"); r->so.max_per_ip = (unsigned)iv; break;
  case 'N': r->fo.follow = 0; break;
  case 'O': if (int_opt(optarg, 0, 86400, &iv)) return usage("--optimize-after must be 0..86400 (seconds)"); r->fo.optimize_after_s = iv; break;
  case 'W': if (int_opt(optarg, 1, 3600, &iv)) return usage("--poll must be 1..3600 (seconds)"); r->fo.poll_s = iv; break;
  case 'K': r->require_key = 1; break;
  case 'S': r->tls_cert = optarg; break;
  case 'Y': r->tls_key = optarg; break;
  case 'R': if (int_opt(optarg, 1, 1000000, &r->rate)) return usage("--rate-limit must be 1..1000000 (requests a second per key)"); break;
  case 'h': fputs(HELP, stdout); return 0;
  default: return usage("unknown option");
  }
  return -1;
}

/* The command line into r, checked, with the server options filled in. Returns -1 to go on,
 * else the exit code. */
static int parse_args(serve_run *r, int argc, char **argv) {
  static const struct option opts[] = {
      {"db", required_argument, 0, 'd'},      {"port", required_argument, 0, 'p'},
      {"host", required_argument, 0, 'H'},    {"threads", required_argument, 0, 't'},
      {"models", required_argument, 0, 'm'},  {"backend", required_argument, 0, 'B'},
      {"max-upload", required_argument, 0, 'U'}, {"quiet", no_argument, 0, 'q'},
      {"embedders", required_argument, 0, 'E'},
      {"timeout", required_argument, 0, 'T'}, {"max-connections", required_argument, 0, 'C'},
      {"max-per-ip", required_argument, 0, 'I'},
      {"prior", required_argument, 0, 'P'},   {"garment", required_argument, 0, 'G'},
      {"no-follow", no_argument, 0, 'N'},     {"poll", required_argument, 0, 'W'},
      {"optimize-after", required_argument, 0, 'O'}, {"index", required_argument, 0, 'X'},
      {"require-key", no_argument, 0, 'K'},   {"rate-limit", required_argument, 0, 'R'},
      {"tls-cert", required_argument, 0, 'S'}, {"tls-key", required_argument, 0, 'Y'},
      {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  int c, ex;
  while ((c = getopt_long(argc, argv, "d:p:H:t:m:h", opts, NULL)) != -1)
    if ((ex = parse_opt(r, c)) >= 0) return ex;
  if (optind != argc) return usage("unexpected argument");
  if (!r->db) return usage("--db is required");
  if (!r->tls_cert != !r->tls_key) return usage("--tls-cert and --tls-key go together (HTTPS needs both)");
  if (r->rate && !r->require_key) return usage("--rate-limit limits each API key: it needs --require-key");
  r->so.max_body = (size_t)r->max_mb << 20;
  if (!r->embedders) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r->embedders = cores < 1 ? 1 : cores > 8 ? 8 : (int)cores;
    if (r->embedders > r->so.threads) r->embedders = r->so.threads;
  }
  r->so.embedders = r->embedders;
  r->so.models_dir = r->models;
  r->so.backend = r->backend;
  r->so.db_path = r->db;
  if (!r->quiet) r->so.log = log_line;
  return -1;
}

/* The TLS files, the live catalog and the keys, in that order (a bad TLS file fails before
 * the catalog loads). Returns -1 to go on, else the exit code with what was opened closed. */
static int open_all(serve_run *r) {
  lk_engine_opts eo;
  lk_engine_opts_default(&eo);
  eo.models_dir = r->models;
  eo.backend = r->backend;
  eo.index = r->index;
  eo.prior = r->prior;
  eo.garment = r->garment;
  eo.embedders = r->embedders; /* the engine's pool of embedders, which the server loads at start */
  /* the engine comes from a live catalog (search/live.h), which keeps it current when the
   * catalog can be followed (SQLite, postgresql://) */
  lk_errbuf eb = {0};
  if (r->tls_cert) {
    int trc = lk_tls_load(r->tls_cert, r->tls_key, &r->tls, &eb);
    if (trc) {
      fprintf(stderr, "lookalike serve: %s\n", lk_err_msg(&eb));
      return trc == LK_EINVAL || trc == LK_ETOOBIG ? LK_EX_BADINPUT : LK_EX_FAIL;
    }
    r->so.tls = r->tls;
  }
  r->fo.log = log_line; /* catalog updates are logged even with --quiet (they are rare) */
  int rc = lk_live_open(r->db, &eo, &r->fo, &r->f, &eb);
  if (rc) {
    fprintf(stderr, "lookalike serve: %s\n", lk_err_msg(&eb));
    lk_tls_free(r->tls);
    return rc == LK_ENOTFOUND ? 3 : 1;
  }
  /* the keys: writes always need one (role write or admin); with --require-key every API
   * request does */
  if ((rc = lk_auth_open(r->db, 1.0, &r->auth, &eb))) {
    if (r->require_key) {
      fprintf(stderr, "lookalike serve: --require-key: %s\n", lk_err_msg(&eb));
      lk_live_close(r->f);
      lk_tls_free(r->tls);
      return 1;
    }
    fprintf(stderr, "lookalike serve: the keys cannot be read, so writes are refused: %s\n", lk_err_msg(&eb));
    r->auth = NULL;
  }
  if (r->auth) lk_auth_set_rate(r->auth, r->rate);
  if (r->require_key) r->so.auth = r->auth;
  r->so.write_auth = r->auth;
  return -1;
}

/* Starts the server on the live catalog's first engine and says so. Returns -1 to go on, else
 * the exit code with everything closed. */
static int start_server(serve_run *r) {
  lk_errbuf eb = {0};
  const lk_live_snap *first = lk_live_acquire(r->f);
  lk_engine *e = lk_live_engine(first);
  lk_cli_note("serve", lk_engine_note(e));
  lk_cli_note("serve", lk_engine_index_note(e));
  r->so.follow = r->f;
  int rc = lk_server_start(e, &r->so, &r->s, &eb);
  if (rc) {
    fprintf(stderr, "lookalike serve: %s\n", lk_err_msg(&eb));
    lk_live_release(r->f, first);
    lk_live_close(r->f);
    lk_auth_free(r->auth);
    lk_tls_free(r->tls);
    return rc == LK_EINVAL ? 2 : 1;
  }
  if (r->require_key)
    fprintf(stderr, "lookalike serve: the API needs a key (--require-key; %zu in the catalog%s)\n",
            lk_auth_count(r->auth), lk_auth_count(r->auth) ? "" : ": make one with `lookalike keys add`");
  int v6 = strchr(r->so.host, ':') != NULL;
  fprintf(stderr, "lookalike serve: %zu items (%zu searchable, %s index) from %s; %d request threads, %d embedders\n",
          lk_engine_item_count(e), lk_engine_size(e), lk_engine_index_name(e), r->db, r->so.threads, r->so.embedders);
  fprintf(stderr, "lookalike serve: listening on %s://%s%s%s:%d/ (Ctrl-C to stop)\n", r->tls ? "https" : "http",
          v6 ? "[" : "", r->so.host,
          v6 ? "]" : "", lk_server_port(r->s));
  if (lk_live_version(first) >= 0)
    fprintf(stderr, "lookalike serve: catalog version %lld; %s\n", (long long)lk_live_version(first),
            r->fo.follow ? "following its changes" : "not following its changes (--no-follow)");
  save_index(e, r->db);
  lk_live_release(r->f, first); /* from here on requests take the follower's current engine */
  fflush(stderr);
  return -1;
}

/* Waits for a stop signal, then drains the requests in progress (the watchdog bounds it) and
 * closes everything. */
static void wait_and_stop(serve_run *r, sigset_t *stop) {
  int sig = 0;
  sigwait(stop, &sig);
  fprintf(stderr, "lookalike serve: %s, finishing requests in progress (at most 10 s)\n",
          sig == SIGINT ? "interrupted" : sig == SIGHUP ? "hangup (SIGHUP)" : "terminated");
  fflush(stderr);
  pthread_t wd;
  int watching = pthread_create(&wd, NULL, stop_watchdog, NULL) == 0;
  lk_server_stop(r->s);
  lk_live_close(r->f);
  if (watching) { /* nanosleep is a cancellation point */
    pthread_cancel(wd);
    pthread_join(wd, NULL);
  }
  lk_auth_free(r->auth);
  lk_tls_free(r->tls);
  fprintf(stderr, "lookalike serve: stopped\n");
}

int lk_cli_serve(int argc, char **argv) {
  serve_run r = {.backend = LK_BACKEND_DNNL, .max_mb = 20, .index = LK_ENGINE_INDEX_AUTO,
                 .prior = -1.0f, .garment = LK_ENGINE_GARMENT_AUTO};
  lk_server_opts_default(&r.so);
  lk_live_opts_default(&r.fo);
  int ex = parse_args(&r, argc, argv);
  if (ex >= 0) return ex;

  /* Block the stop signals before any thread exists: every server thread inherits the mask
   * and the main thread takes them with sigwait. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP); /* a closed terminal or `kill -HUP` drains too; it is no reload */
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  if ((ex = open_all(&r)) >= 0 || (ex = start_server(&r)) >= 0) return ex;
  wait_and_stop(&r, &stop);
  return 0;
}
