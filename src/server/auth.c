/* server/auth.c — API-key checks of `serve --require-key` (see auth.h): one read-only catalog
 * handle and one snapshot of the keys, refreshed under a mutex when older than the TTL. */
#include "server/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "server/http.h"

/* While the catalog cannot be read (a PostgreSQL restart, say), the keys last read stay in
 * use this long, then every request is refused with 503: a revocation can be missed for at
 * most this long, and only while the catalog is unreadable from here. */
#define STALE_S 60.0

struct lk_auth {
  pthread_mutex_t mu;
  char *db;
  lk_catalog *cat;   /* used under mu only; NULL after a failed read (reopened at the next) */
  lk_keys_set *set;  /* under mu */
  double tried;      /* when the keys were last read or tried (monotonic s) */
  double ok;         /* when they were last read */
  double ttl;
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads the keys again (mu held); on failure the handle is closed, so that the next try
 * connects afresh, and the keys read before stay. */
static int refresh(lk_auth *a, lk_errbuf *err) {
  lk_keys_set *s = NULL;
  a->tried = now_s();
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
  int rc = (a->db = strdup(db)) ? refresh(a, err) : lk_err_set(err, LK_ENOMEM, "out of memory");
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
  double now = now_s();
  if (now - a->tried >= a->ttl) {
    lk_errbuf eb = {0};
    refresh(a, &eb);
  }
  int status = 0, role = LK_KEYS_NONE;
  if (now - a->ok > STALE_S) {
    snprintf(msg, msgsize, "the API keys could not be read from the catalog; try again");
    status = 503;
  } else {
    role = lk_keys_find(a->set, key, len, id);
  }
  pthread_mutex_unlock(&a->mu);
  if (status) return status;
  if (role == LK_KEYS_NONE) {
    snprintf(msg, msgsize, "the API key is not valid (unknown or revoked)");
    return 401;
  }
  if (!lk_keys_allows(role, needed)) {
    snprintf(msg, msgsize, "this API key's role (%s) does not allow this; it needs a %s key", lk_keys_role_name(role),
             lk_keys_role_name(needed));
    return 403;
  }
  return 0;
}
