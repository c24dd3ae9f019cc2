/* server/auth.h — `serve --require-key`: checks a request's "Authorization: Bearer KEY"
 * against the catalog's API keys (catalog/keys.h). The keys are read again from the catalog
 * when the copy in memory is older than a TTL (default 1 s), so a key revoked with
 * `lookalike keys revoke` stops working on a running server within that time. While the
 * catalog cannot be read (a database restart) the keys read last stay in use for up to 60 s,
 * then requests get 503 until it can. Thread-safe: request threads share one lk_auth. */
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
 * or revoked key), 403 (a valid key of a weaker role) or 503 (the keys could not be read
 * for 60 s),
 * with a message for the client in msg (never the key). *id (may be NULL): the key's id. */
int lk_auth_check(lk_auth *a, const char *authorization, int needed, int64_t *id, char *msg, size_t msgsize);

#endif
