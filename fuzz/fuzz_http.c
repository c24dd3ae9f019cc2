/* fuzz/fuzz_http.c — fuzz target for the whole HTTP side of `lookalike serve`: the input is
 * the raw bytes a client sends (request line, headers, query string, multipart or raw body,
 * pipelined requests), written to a real server on a loopback port (libmicrohttpd's parsing,
 * then server.c's routing, upload handling and the API of api.c on a small `color` catalog).
 * Whatever the bytes, the server answers with an HTTP status that is not 500, or closes the
 * connection, within 10 seconds, and stays up. The server starts once per process, on a
 * catalog made in a temporary folder. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "embed/recipe.h"
#include "search/engine.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], db[96];
static lk_engine *engine;
static lk_server *server;
static int port;

static void cleanup(void) {
  lk_server_stop(server);
  lk_engine_close(engine);
  char p[128];
  static const char *const sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", db, sfx[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* A catalog of 40 items (colour recipe, 512-d vectors), two of them without a vector. */
static void start(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/lk-fuzzhttp-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  if (!mkdtemp(dir)) abort();
  snprintf(db, sizeof db, "%s/c.db", dir);
  lk_catalog *c;
  lk_recipe r;
  if (lk_catalog_open(db, LK_CATALOG_CREATE, &c, NULL) || lk_recipe_preset("color", &r, NULL)) abort();
  char *js = lk_recipe_to_json(&r);
  if (!js || lk_catalog_set_meta(c, "recipe", js) || lk_catalog_begin(c)) abort();
  free(js);
  static const char *const genders[] = {"Men", "Women", "Boys"}, *const types[] = {"Tshirts", "Heels", "Watches"};
  for (int i = 0; i < 40; i++) {
    lk_item it = {.id = 1000 + i, .path = "/nonexistent.jpg", .hash = "0123456789abcdef0123", .status = "ok"};
    char name[32];
    snprintf(name, sizeof name, "Product %d", i);
    it.field[0] = (char *)genders[i % 3];
    it.field[3] = (char *)types[i % 3];
    it.field[8] = name;
    if (lk_catalog_put_item(c, &it)) abort();
    if (i % 20 == 19) continue; /* no vector: not searchable */
    float v[512] = {0};
    v[i * 7 % 512] = 1;
    v[(i * 13 + 5) % 512] = 0.5f;
    float n2 = 0;
    for (int j = 0; j < 512; j++) n2 += v[j] * v[j];
    for (int j = 0; j < 512; j++) v[j] /= sqrtf(n2); /* catalogs hold normalised vectors */
    if (lk_catalog_put_vector(c, it.id, v, 512)) abort();
  }
  if (lk_catalog_commit(c)) abort();
  lk_catalog_close(c);
  lk_errbuf eb = {0};
  if (lk_engine_open(db, NULL, &engine, &eb)) {
    fprintf(stderr, "fuzz_http: %s\n", lk_err_msg(&eb));
    abort();
  }
  lk_server_opts o;
  lk_server_opts_default(&o);
  o.port = 0;
  o.threads = 2;
  o.timeout_s = 2;
  o.max_body = 1 << 20;
  o.db_path = db;
  if (lk_server_start(engine, &o, &server, &eb)) {
    fprintf(stderr, "fuzz_http: %s\n", lk_err_msg(&eb));
    abort();
  }
  port = lk_server_port(server);
  signal(SIGPIPE, SIG_IGN);
  atexit(cleanup);
}

/* One connection to the server, each from another loopback source address: hundreds of
 * thousands of runs would otherwise exhaust one address's ports (TIME_WAIT) and meet the
 * per-address limit. The fd, -2 when a signal interrupted connect, -1 on failure. */
static int connect_once(void) {
  static unsigned next_src;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  unsigned k = next_src++ % (250u * 250u);
  struct sockaddr_in src = {.sin_family = AF_INET};
  src.sin_addr.s_addr = htonl(0x7f000000u | (1u + k / 250u) << 8 | (1u + k % 250u));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) == 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
    return fd;
  int e = errno;
  close(fd);
  if (e == EINTR || e == EADDRINUSE) return -2;
  errno = e;
  perror("fuzz_http: connect");
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  if (!server) start();
  int fd = connect_once();
  for (int tries = 1; fd == -2 && tries < 20; tries++) fd = connect_once(); /* EINTR: again */
  if (fd < 0) abort(); /* the server is gone, or stopped accepting */
  size_t off = 0;
  while (off < size) {
    ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break; /* the server may hang up early (413, a bad request): fine */
    off += (size_t)n;
  }
  shutdown(fd, SHUT_WR);
  char head[64];
  size_t got = 0;
  for (;;) {
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) break; /* reset: a refused request */
      fprintf(stderr, "fuzz_http: no end of answer within 10 s\n");
      abort();
    }
    if (got < sizeof head) memcpy(head + got, buf, (size_t)n < sizeof head - got ? (size_t)n : sizeof head - got);
    got += (size_t)n;
  }
  close(fd);
  if (getenv("LK_FUZZ_HTTP_VERBOSE")) /* the status line, to see what the corpus reaches */
    fprintf(stderr, "%zu bytes -> %.*s\n", size, got ? (int)(strcspn(head, "\r") < 40 ? strcspn(head, "\r") : 40) : 6,
            got ? head : "closed");
  if (got) {
    if (got < 12 || memcmp(head, "HTTP/1.", 7)) abort(); /* not an HTTP answer */
    if (!memcmp(head + 8, " 500", 4)) abort();            /* an internal error is a bug */
  }
  return 0;
}
