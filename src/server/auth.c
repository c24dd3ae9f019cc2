/* server/auth.c — API-key checks of `serve --require-key` (see auth.h): one read-only catalog
 * handle and one snapshot of the keys, refreshed under a mutex when older than the TTL; the
 * per-key request counters and the failed-authentication limiter live under the same mutex. */
#include "server/auth.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "server/http.h"
#include "util/size.h"
#include "util/clock.h"

/* While the catalog cannot be read (a PostgreSQL restart, say), the keys last read stay in
 * use this long, then every request is refused with 503: a revocation can be missed for at
 * most this long, and only while the catalog is unreadable from here. */
#define STALE_S 60.0

/* One address of the limiter's table. */
typedef struct client {
  char addr[LK_AUTH_CLIENT_MAX]; /* "" = free slot */
  double first, last;            /* the window's start (first failure in it), the last failure */
  int fails;                     /* failures since first */
} client;

struct lk_auth_limit {
  client *v;
  size_t n, cap;
  int max;
  double window;
};

/* Requests of one key, with its name when last seen. */
typedef struct key_count {
  int64_t id;
  char name[LK_KEYS_MAX_NAME + 1];
  unsigned long long n;
  double tokens, last; /* --rate-limit's bucket: requests it may still make, when refilled */
} key_count;

struct lk_auth {
  pthread_mutex_t mu;
  lk_auth_limit *limit;      /* under mu */
  key_count *counts;         /* under mu; one per key seen, so at most the catalog's keys */
  size_t ncounts, capcounts;
  unsigned long long limited; /* requests answered 429 */
  int rate;                   /* --rate-limit, requests a second per key; 0 = none */
  char *db;
  lk_catalog *cat;   /* used under mu only; NULL after a failed read (reopened at the next) */
  lk_keys_set *set;  /* under mu */
  double tried;      /* when the keys were last read or tried (monotonic s) */
  double ok;         /* when they were last read */
  double ttl;
};

/* Reads the keys again (mu held); on failure the handle is closed, so that the next try
 * connects afresh, and the keys read before stay. */
static int refresh(lk_auth *a, lk_errbuf *err) {
  lk_keys_set *s = NULL;
  a->tried = lk_clock_now();
  int rc = a->cat ? 0 : lk_catalog_open(a->db, LK_CATALOG_READONLY, &a->cat, err);
  if (!rc) {
    rc = lk_keys_load(a->cat, &s, err);
    lk_catalog_rollback(a->cat); /* a PostgreSQL handle's snapshot ends: the next read sees new keys */
  }
  /* A SQLite file is opened afresh each time (cheap), so a catalog file replaced by another
   * (mv new.db catalog.db) is read, not the old file through an open descriptor. */
  if (rc || !lk_catalog_is_url(a->db)) {
    lk_catalog_close(a->cat);
    a->cat = NULL;
  }
  if (rc) return rc;
  /* room for a counter per key now, so that counting a request never allocates */
  size_t need = a->ncounts + lk_keys_count(s), bytes;
  if (need > a->capcounts) {
    key_count *p = lk_size_mul(need, sizeof *a->counts, &bytes) ? NULL : realloc(a->counts, bytes);
    if (!p) {
      lk_keys_set_free(s);
      return lk_err_set(err, LK_ENOMEM, "out of memory");
    }
    a->counts = p;
    a->capcounts = need;
  }
  lk_keys_set_free(a->set);
  a->set = s;
  a->ok = a->tried;
  return 0;
}

int lk_auth_open(const char *db, double ttl_s, lk_auth **out, lk_errbuf *err) {
  lk_auth *a = calloc(1, sizeof *a);
  if (!a) return lk_err_set(err, LK_ENOMEM, "out of memory");
  pthread_mutex_init(&a->mu, NULL);
  a->ttl = ttl_s > 0 ? ttl_s : 1.0;
  int rc = (a->db = strdup(db)) && !lk_auth_limit_new(LK_AUTH_MAX_FAILS, LK_AUTH_WINDOW_S, LK_AUTH_MAX_CLIENTS, &a->limit)
               ? refresh(a, err)
               : lk_err_set(err, LK_ENOMEM, "out of memory");
  if (rc) {
    lk_auth_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

void lk_auth_free(lk_auth *a) {
  if (!a) return;
  lk_keys_set_free(a->set);
  lk_catalog_close(a->cat);
  lk_auth_limit_free(a->limit);
  free(a->counts);
  free(a->db);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

size_t lk_auth_count(lk_auth *a) {
  pthread_mutex_lock(&a->mu);
  size_t n = lk_keys_count(a->set);
  pthread_mutex_unlock(&a->mu);
  return n;
}

/* One more request of key `id` (mu held); refresh made room for every key of the set.
 * Returns 1 when the key is over its --rate-limit (a token bucket of a->rate a second). */
static int count_key(lk_auth *a, int64_t id, double now) {
  key_count *k = NULL;
  for (size_t i = 0; i < a->ncounts && !k; i++)
    if (a->counts[i].id == id) k = &a->counts[i];
  if (!k) {
    if (a->ncounts == a->capcounts) return 0; /* not reached */
    k = &a->counts[a->ncounts++];
    k->id = id;
    k->n = 0;
    k->tokens = a->rate;
    k->last = now;
  }
  snprintf(k->name, sizeof k->name, "%s", lk_keys_name(a->set, id)); /* a renamed key shows its new name */
  k->n++;
  if (a->rate <= 0) return 0;
  k->tokens += (now - k->last) * a->rate;
  if (k->tokens > a->rate) k->tokens = a->rate;
  k->last = now;
  if (k->tokens < 1) return 1;
  k->tokens -= 1;
  return 0;
}

void lk_auth_set_rate(lk_auth *a, int per_s) {
  pthread_mutex_lock(&a->mu);
  a->rate = per_s > 0 ? per_s : 0;
  pthread_mutex_unlock(&a->mu);
}

int lk_auth_check(lk_auth *a, const char *authorization, int needed, int64_t *id, char *msg, size_t msgsize) {
  if (id) *id = -1;
  const char *key;
  size_t len;
  if (!authorization || !*authorization) {
    snprintf(msg, msgsize, "an API key is required: send the header 'Authorization: Bearer KEY'");
    return 401;
  }
  if (lk_http_bearer(authorization, &key, &len)) {
    snprintf(msg, msgsize, "the Authorization header must be 'Bearer KEY' (a key from `lookalike keys add`)");
    return 401;
  }
  pthread_mutex_lock(&a->mu);
  double now = lk_clock_now();
  if (now - a->tried >= a->ttl) {
    lk_errbuf eb = {0};
    refresh(a, &eb);
  }
  int status = 0, role = LK_KEYS_NONE, over = 0;
  if (now - a->ok > STALE_S) {
    snprintf(msg, msgsize, "the API keys could not be read from the catalog; try again");
    status = 503;
  } else {
    int64_t kid = -1;
    role = lk_keys_find(a->set, key, len, &kid);
    if (role != LK_KEYS_NONE) over = count_key(a, kid, now);
    if (over) a->limited++;
    if (id) *id = kid;
  }
  pthread_mutex_unlock(&a->mu);
  if (status) return status;
  if (role == LK_KEYS_NONE) {
    snprintf(msg, msgsize, "the API key is not valid (unknown or revoked)");
    return 401;
  }
  if (over) {
    snprintf(msg, msgsize, "this API key is over its limit of %d requests a second (serve --rate-limit); slow down and retry",
             a->rate);
    return 429;
  }
  if (!lk_keys_allows(role, needed)) {
    snprintf(msg, msgsize, "this API key's role (%s) does not allow this; it needs %s %s key", lk_keys_role_name(role),
             needed == LK_KEYS_ADMIN ? "an" : "a", lk_keys_role_name(needed));
    return 403;
  }
  return 0;
}

/* Writes s as a Prometheus label value: backslash, double quote and newline escaped. */
static void label_write(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '\\') fputs("\\\\", f);
    else if (*s == '"') fputs("\\\"", f);
    else if (*s == '\n') fputs("\\n", f);
    else fputc(*s, f);
  }
}

int lk_auth_render(lk_auth *a, char **out, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) return LK_ENOMEM;
  fputs("# HELP lookalike_key_requests_total API requests that presented a valid key, by key id and name.\n"
        "# TYPE lookalike_key_requests_total counter\n", f);
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->ncounts; i++) {
    fprintf(f, "lookalike_key_requests_total{key_id=\"%lld\",name=\"", (long long)a->counts[i].id);
    label_write(f, a->counts[i].name);
    fprintf(f, "\"} %llu\n", a->counts[i].n);
  }
  unsigned long long limited = a->limited;
  pthread_mutex_unlock(&a->mu);
  fprintf(f,
          "# HELP lookalike_auth_limited_total API requests refused (429): too many failed authentications from their address, or a key over --rate-limit.\n"
          "# TYPE lookalike_auth_limited_total counter\n"
          "lookalike_auth_limited_total %llu\n",
          limited);
  if (fclose(f) || !buf) {
    free(buf);
    return LK_ENOMEM;
  }
  *out = buf;
  *len = n;
  return 0;
}

void lk_auth_client(const void *sockaddr, char out[LK_AUTH_CLIENT_MAX]) {
  out[0] = '\0';
  if (!sockaddr) return;
  const struct sockaddr *sa = sockaddr;
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in in4;
    memcpy(&in4, sa, sizeof in4);
    if (!inet_ntop(AF_INET, &in4.sin_addr, out, LK_AUTH_CLIENT_MAX)) out[0] = '\0';
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 in6;
    memcpy(&in6, sa, sizeof in6);
    unsigned char *b = in6.sin6_addr.s6_addr;
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(b, v4mapped, 12)) { /* ::ffff:a.b.c.d is the IPv4 address a.b.c.d */
      if (!inet_ntop(AF_INET, b + 12, out, LK_AUTH_CLIENT_MAX)) out[0] = '\0';
      return;
    }
    memset(b + 8, 0, 8); /* the /64 prefix */
    if (!inet_ntop(AF_INET6, b, out, LK_AUTH_CLIENT_MAX - 3)) out[0] = '\0';
    else strcat(out, "/64");
  }
}

int lk_auth_limited(lk_auth *a, const char *addr, int *retry_s, char *msg, size_t msgsize) {
  *retry_s = 0;
  pthread_mutex_lock(&a->mu);
  double wait = lk_auth_limit_wait(a->limit, addr, lk_clock_now());
  if (wait > 0) a->limited++;
  pthread_mutex_unlock(&a->mu);
  if (wait <= 0) return 0;
  *retry_s = (int)ceil(wait);
  if (*retry_s < 1) *retry_s = 1;
  snprintf(msg, msgsize,
           "too many failed authentications from this address (%d within %.0f s); try again in %d s with a valid key",
           LK_AUTH_MAX_FAILS, LK_AUTH_WINDOW_S, *retry_s);
  return 429;
}

void lk_auth_failed(lk_auth *a, const char *addr) {
  pthread_mutex_lock(&a->mu);
  lk_auth_limit_fail(a->limit, addr, lk_clock_now());
  pthread_mutex_unlock(&a->mu);
}

/* ------------------------------------------------------------------ the limiter */

int lk_auth_limit_new(int max_fails, double window_s, size_t cap, lk_auth_limit **out) {
  if (max_fails < 1 || !(window_s > 0) || cap < 1) return LK_EINVAL;
  size_t bytes;
  if (lk_size_mul(cap, sizeof(client), &bytes)) return LK_ENOMEM;
  lk_auth_limit *l = calloc(1, sizeof *l);
  if (!l || !(l->v = calloc(cap, sizeof(client)))) {
    free(l);
    return LK_ENOMEM;
  }
  l->cap = cap;
  l->max = max_fails;
  l->window = window_s;
  *out = l;
  return 0;
}

void lk_auth_limit_free(lk_auth_limit *l) {
  if (!l) return;
  free(l->v);
  free(l);
}

size_t lk_auth_limit_size(const lk_auth_limit *l) { return l->n; }

/* The slot of addr, or NULL. A linear scan: the table is small and is touched only by API
 * requests of a server that asks for keys. */
static client *find_client(lk_auth_limit *l, const char *addr) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].addr, addr)) return &l->v[i];
  return NULL;
}

double lk_auth_limit_wait(lk_auth_limit *l, const char *client_addr, double now) {
  client *c = find_client(l, client_addr);
  if (!c || c->fails < l->max) return 0;
  double left = c->first + l->window - now;
  return left > 0 ? left : 0;
}

void lk_auth_limit_fail(lk_auth_limit *l, const char *addr, double now) {
  client *c = find_client(l, addr);
  if (!c) {
    if (l->n < l->cap) {
      c = &l->v[l->n++];
    } else { /* full: an ended window first, else the stalest address */
      c = &l->v[0];
      for (size_t i = 0; i < l->n; i++) {
        client *o = &l->v[i];
        if (now - o->first >= l->window) {
          c = o;
          break;
        }
        if (o->last < c->last) c = o;
      }
    }
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->first = now;
    c->fails = 0;
  } else if (now - c->first >= l->window) {
    c->first = now; /* a new window */
    c->fails = 0;
  }
  c->last = now;
  if (c->fails < l->max) c->fails++;
}
