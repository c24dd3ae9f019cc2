/* server/auth.h — `serve --require-key`: checks a request's "Authorization: Bearer KEY"
 * against the catalog's API keys (catalog/keys.h). The keys are read again from the catalog
 * when the copy in memory is older than a TTL (default 1 s), so a key revoked with
 * `lookalike keys revoke` stops working on a running server within that time. While the
 * catalog cannot be read (a database restart) the keys read last stay in use for up to 60 s,
 * then requests get 503 until it can. Thread-safe: request threads share one lk_auth.
 * It also counts the requests of each key (for /metrics, by id and name, never the key) and
 * limits failed authentications per client address: after LK_AUTH_MAX_FAILS 401s within
 * LK_AUTH_WINDOW_S seconds, every API request from that address gets 429 until the window
 * that began with its first failure ends (valid keys too: the address is not trusted). */
#ifndef LK_SERVER_AUTH_H
#define LK_SERVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/keys.h"
#include "util/err.h"

typedef struct lk_auth lk_auth;

/* Opens db (read-only) and reads its keys; ttl_s <= 0 means 1 s. A catalog without any key
 * is accepted (every request is refused until one is made). *out: lk_auth_free. */
int lk_auth_open(const char *db, double ttl_s, lk_auth **out, lk_errbuf *err);
void lk_auth_free(lk_auth *a); /* NULL-safe */
/* Number of keys read (revoked ones included) at the last refresh. */
size_t lk_auth_count(lk_auth *a);

/* Checks the value of an Authorization header (NULL when absent) for an endpoint that needs
 * role `needed`. Returns the HTTP status: 0 (allowed), 401 (no key, not a Bearer key, unknown
 * or revoked key), 403 (a valid key of a weaker role), 429 (the key is over its --rate-limit)
 * or 503 (the keys could not be read for 60 s),
 * with a message for the client in msg (never the key). *id (may be NULL): the key's id. */
int lk_auth_check(lk_auth *a, const char *authorization, int needed, int64_t *id, char *msg, size_t msgsize);

/* --rate-limit: at most per_s requests a second per key (bursts up to per_s), beyond which
 * lk_auth_check answers 429 (retry after 1 s); 0 (the default) means no limit. */
void lk_auth_set_rate(lk_auth *a, int per_s);

/* Per key: the number of requests that presented it (allowed or 403), as Prometheus text
 * (lookalike_key_requests_total{key_id,name}) plus lookalike_auth_limited_total; *out is
 * malloc'd (caller frees). LK_ENOMEM. */
int lk_auth_render(lk_auth *a, char **out, size_t *len);

#define LK_AUTH_MAX_FAILS 20     /* failed authentications from one address ... */
#define LK_AUTH_WINDOW_S 60.0    /* ... within this many seconds, then 429 until it ends */
#define LK_AUTH_MAX_CLIENTS 1024 /* addresses remembered; the stalest is forgotten beyond */
#define LK_AUTH_CLIENT_MAX 64    /* bytes of a client address string, NUL included */

/* The limiter key of a client's socket address: the IPv4 address, or an IPv6 address's /64
 * prefix (one host usually holds a whole /64); "" for other families. */
void lk_auth_client(const void *sockaddr, char out[LK_AUTH_CLIENT_MAX]);
/* Before checking a key: 0 when `client` may try, or 429 with a message and *retry_s (whole
 * seconds until its window ends, >= 1). */
int lk_auth_limited(lk_auth *a, const char *client, int *retry_s, char *msg, size_t msgsize);
/* After a 401 from lk_auth_check: counts a failure of `client`. */
void lk_auth_failed(lk_auth *a, const char *client);

/* The limiter alone (lk_auth holds one), with the time passed in (monotonic seconds) so
 * that tests can move it. A bounded table: when full, an address whose window has ended is
 * reused first, else the one whose last failure is oldest. Not thread-safe by itself. */
typedef struct lk_auth_limit lk_auth_limit;
/* *out: lk_auth_limit_free. LK_EINVAL for max_fails < 1, window_s <= 0 or cap < 1. */
int lk_auth_limit_new(int max_fails, double window_s, size_t cap, lk_auth_limit **out);
void lk_auth_limit_free(lk_auth_limit *l); /* NULL-safe */
/* Seconds `client` must still wait (0: not limited). */
double lk_auth_limit_wait(lk_auth_limit *l, const char *client, double now);
void lk_auth_limit_fail(lk_auth_limit *l, const char *client, double now);
/* Addresses held (at most cap). */
size_t lk_auth_limit_size(const lk_auth_limit *l);

#endif
