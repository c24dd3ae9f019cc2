/* tests/test_keys.c — API keys (catalog/keys.h, server/auth.h): roles and lk_keys_allows (the
 * check future write endpoints call), key format and randomness, the stored hash (never the
 * key: not in the catalog file at all), add / list / revoke by id and name, names refused,
 * catalogs made before api_keys existed (no table: no keys, then migrated by the first add),
 * keys carried by `lookalike migrate`,
 * the constant-time lookup, and lk_auth_check's 401 / 403 / revocation within the TTL;
 * per-key request counters (escaped names, never a key) and the failed-authentication
 * limiter (window, 429 with a wait, bounded table with eviction, IPv6 /64 grouping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <math.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/keys.h"
#include "catalog/migrate.h"
#include "server/auth.h"
#include "testutil.h"

typedef struct fixture {
  char *dir;
  char *db;
  lk_catalog *cat;
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  fx->dir = lk_test_mkdtemp();
  if (!fx->dir) return -1;
  fx->db = strdup(lk_test_path("%s/cat.db", fx->dir));
  lk_errbuf eb = {0};
  if (lk_catalog_open(fx->db, LK_CATALOG_CREATE, &fx->cat, &eb) != 0) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  lk_catalog_close(fx->cat);
  lk_test_rmtree(fx->dir);
  free(fx->dir);
  free(fx->db);
  free(fx);
  return 0;
}

static void test_roles(void **state) {
  (void)state;
  static const struct { const char *s; int role; } parse[] = {
      {"read", LK_KEYS_READ}, {"write", LK_KEYS_WRITE}, {"admin", LK_KEYS_ADMIN}, {"Read", LK_KEYS_NONE},
      {"", LK_KEYS_NONE},     {"none", LK_KEYS_NONE},   {"admin ", LK_KEYS_NONE}, {NULL, LK_KEYS_NONE}};
  for (size_t i = 0; i < sizeof parse / sizeof *parse; i++) assert_int_equal(lk_keys_role_parse(parse[i].s), parse[i].role);
  assert_string_equal(lk_keys_role_name(LK_KEYS_WRITE), "write");
  assert_string_equal(lk_keys_role_name(42), "none");
  /* role x needed: read < write < admin; nothing allows or is allowed by an unknown role */
  static const struct { int role, needed, ok; } allows[] = {
      {LK_KEYS_READ, LK_KEYS_READ, 1},   {LK_KEYS_READ, LK_KEYS_WRITE, 0},  {LK_KEYS_READ, LK_KEYS_ADMIN, 0},
      {LK_KEYS_WRITE, LK_KEYS_READ, 1},  {LK_KEYS_WRITE, LK_KEYS_WRITE, 1}, {LK_KEYS_WRITE, LK_KEYS_ADMIN, 0},
      {LK_KEYS_ADMIN, LK_KEYS_READ, 1},  {LK_KEYS_ADMIN, LK_KEYS_WRITE, 1}, {LK_KEYS_ADMIN, LK_KEYS_ADMIN, 1},
      {LK_KEYS_NONE, LK_KEYS_READ, 0},   {LK_KEYS_ADMIN, LK_KEYS_NONE, 0},  {99, LK_KEYS_READ, 0},
      {LK_KEYS_ADMIN, 99, 0},            {-1, -1, 0}};
  for (size_t i = 0; i < sizeof allows / sizeof *allows; i++)
    assert_int_equal(lk_keys_allows(allows[i].role, allows[i].needed), allows[i].ok);
}

static void test_generate_and_hash(void **state) {
  (void)state;
  char a[LK_KEYS_LEN], b[LK_KEYS_LEN];
  lk_errbuf eb = {0};
  assert_int_equal(lk_keys_generate(a, &eb), 0);
  assert_int_equal(lk_keys_generate(b, &eb), 0);
  assert_int_equal(strlen(a), LK_KEYS_LEN - 1);
  assert_memory_equal(a, "lk_", 3);
  for (const char *p = a + 3; *p; p++)
    assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
  assert_string_not_equal(a, b);
  char h[LK_SHA256_HEX], h2[LK_SHA256_HEX];
  lk_keys_hash(a, h);
  lk_hash_sha256_hex(a, strlen(a), h2);
  assert_string_equal(h, h2);
  assert_int_equal(strlen(h), 64);
  assert_null(strstr(h, a + 3));
  /* the constant-time compare: equal, and unequal in the first or only the last byte */
  assert_true(lk_keys_equal(h, h2, 64));
  h2[63] = h2[63] == '0' ? '1' : '0';
  assert_false(lk_keys_equal(h, h2, 64));
  h2[63] = h[63];
  h2[0] = h2[0] == '0' ? '1' : '0';
  assert_false(lk_keys_equal(h, h2, 64));
}

typedef struct seen {
  int n;
  lk_key k[8];
  char hash[8][LK_SHA256_HEX], name[8][LK_KEYS_MAX_NAME + 1], role[8][8]; /* k's strings end with the callback */
} seen;

static int collect(void *ctx, const lk_key *k) {
  seen *s = ctx;
  if (s->n == 8) return 1;
  s->k[s->n] = *k;
  snprintf(s->hash[s->n], LK_SHA256_HEX, "%s", k->hash);
  snprintf(s->name[s->n], sizeof s->name[0], "%s", k->name ? k->name : "");
  snprintf(s->role[s->n], sizeof s->role[0], "%s", k->role);
  s->n++;
  return 0;
}

/* Is needle anywhere in the file's bytes (the catalog and its WAL)? */
static int file_has(const char *path, const char *needle) {
  size_t len;
  uint8_t *b = lk_test_read_file(path, &len);
  if (!b) return 0;
  int found = memmem(b, len, needle, strlen(needle)) != NULL;
  free(b);
  return found;
}

static void test_add_list_revoke(void **state) {
  fixture *fx = *state;
  lk_errbuf eb = {0};
  seen s = {0};
  assert_int_equal(lk_catalog_foreach_key(fx->cat, collect, &s), 0); /* a new catalog: no table, no keys */
  assert_int_equal(s.n, 0);
  char k1[LK_KEYS_LEN], k2[LK_KEYS_LEN], k3[LK_KEYS_LEN];
  int64_t id1, id2, id3;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "shop-front", k1, &id1, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_WRITE, NULL, k2, &id2, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_ADMIN, "owner", k3, &id3, &eb), 0);
  assert_true(id1 < id2 && id2 < id3);
  memset(&s, 0, sizeof s);
  assert_int_equal(lk_catalog_foreach_key(fx->cat, collect, &s), 0);
  assert_int_equal(s.n, 3);
  char h1[LK_SHA256_HEX];
  lk_keys_hash(k1, h1);
  assert_string_equal(s.hash[0], h1);          /* the stored form is the hash ... */
  assert_string_not_equal(s.hash[0], k1);      /* ... never the key */
  assert_string_equal(s.name[0], "shop-front");
  assert_string_equal(s.role[1], "write");
  assert_false(s.k[0].revoked);
  assert_true(s.k[0].created > 1700000000);
  /* the key's text is nowhere in the catalog's files */
  assert_false(file_has(fx->db, k1 + 3));
  assert_false(file_has(lk_test_path("%s-wal", fx->db), k1 + 3));
  assert_true(file_has(fx->db, h1) || file_has(lk_test_path("%s-wal", fx->db), h1));

  /* names: in use, all digits, with a space, too long; a bad role */
  char kx[LK_KEYS_LEN];
  int64_t idx;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "shop-front", kx, &idx, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "exists already"));
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "123", kx, &idx, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "all digits"));
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "a b", kx, &idx, &eb), LK_EINVAL);
  char longname[LK_KEYS_MAX_NAME + 2];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, longname, kx, &idx, &eb), LK_EINVAL);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_NONE, NULL, kx, &idx, &eb), LK_EINVAL);

  /* lookup: each key its role, wrong / truncated / extended keys nothing */
  lk_keys_set *set;
  assert_int_equal(lk_keys_load(fx->cat, &set, &eb), 0);
  assert_int_equal(lk_keys_count(set), 3);
  int64_t id;
  assert_int_equal(lk_keys_find(set, k1, strlen(k1), &id), LK_KEYS_READ);
  assert_int_equal(id, id1);
  assert_int_equal(lk_keys_find(set, k2, strlen(k2), NULL), LK_KEYS_WRITE);
  assert_int_equal(lk_keys_find(set, k3, strlen(k3), NULL), LK_KEYS_ADMIN);
  assert_int_equal(lk_keys_find(set, k1, strlen(k1) - 1, &id), LK_KEYS_NONE);
  assert_int_equal(id, -1);
  assert_int_equal(lk_keys_find(set, h1, strlen(h1), NULL), LK_KEYS_NONE); /* the hash is not a key */
  assert_int_equal(lk_keys_find(set, "", 0, NULL), LK_KEYS_NONE);
  lk_keys_set_free(set);

  /* revoke by name and by id; unknown ones */
  assert_int_equal(lk_keys_revoke(fx->cat, "shop-front", &eb), 0);
  assert_int_equal(lk_keys_revoke(fx->cat, lk_test_path("%lld", (long long)id2), &eb), 0);
  assert_int_equal(lk_keys_revoke(fx->cat, "shop-front", &eb), 0); /* again: fine */
  assert_int_equal(lk_keys_revoke(fx->cat, "nobody", &eb), LK_ENOTFOUND);
  assert_int_equal(lk_keys_revoke(fx->cat, "999", &eb), LK_ENOTFOUND);
  assert_int_equal(lk_keys_revoke(fx->cat, "99999999999999999999999", &eb), LK_ENOTFOUND);
  assert_int_equal(lk_keys_revoke(fx->cat, "", &eb), LK_ENOTFOUND);
  assert_int_equal(lk_keys_load(fx->cat, &set, &eb), 0);
  assert_int_equal(lk_keys_find(set, k1, strlen(k1), NULL), LK_KEYS_NONE);
  assert_int_equal(lk_keys_find(set, k2, strlen(k2), NULL), LK_KEYS_NONE);
  assert_int_equal(lk_keys_find(set, k3, strlen(k3), NULL), LK_KEYS_ADMIN);
  lk_keys_set_free(set);
  memset(&s, 0, sizeof s);
  assert_int_equal(lk_catalog_foreach_key(fx->cat, collect, &s), 0);
  assert_true(s.k[0].revoked && s.k[1].revoked && !s.k[2].revoked);
  /* the catalog still passes check and reopens read-only with its keys */
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);
  lk_catalog *ro;
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_READONLY, &ro, &eb), 0);
  memset(&s, 0, sizeof s);
  assert_int_equal(lk_catalog_foreach_key(ro, collect, &s), 0);
  assert_int_equal(s.n, 3);
  char ky[LK_KEYS_LEN];
  assert_int_equal(lk_keys_add(ro, LK_KEYS_READ, NULL, ky, &idx, &eb), LK_EINVAL); /* read-only */
  lk_catalog_close(ro);
}

/* A catalog made before api_keys existed: readers see no keys, the first add makes the table. */
static void test_older_catalog(void **state) {
  fixture *fx = *state;
  lk_catalog_close(fx->cat);
  fx->cat = NULL;
  lk_errbuf eb = {0};
  lk_catalog *ro;
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_READONLY, &ro, &eb), 0);
  lk_keys_set *set;
  assert_int_equal(lk_keys_load(ro, &set, &eb), 0);
  assert_int_equal(lk_keys_count(set), 0);
  assert_int_equal(lk_keys_find(set, "lk_x", 4, NULL), LK_KEYS_NONE);
  lk_keys_set_free(set);
  assert_int_equal(lk_keys_revoke(ro, "1", &eb), LK_ENOTFOUND);
  lk_catalog_close(ro);
  assert_int_equal(lk_catalog_open(fx->db, LK_CATALOG_CREATE, &fx->cat, &eb), 0);
  char k[LK_KEYS_LEN];
  int64_t id;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, NULL, k, &id, &eb), 0);
  assert_int_equal(id, 1);
  assert_int_equal(lk_catalog_check(fx->cat, &eb), 0);
}

/* `lookalike migrate` carries the keys (their hashes): added once, revocations follow. */
static void test_migrate_keys(void **state) {
  fixture *fx = *state;
  lk_errbuf eb = {0};
  char k1[LK_KEYS_LEN], k2[LK_KEYS_LEN];
  int64_t id1, id2;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "shop", k1, &id1, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_ADMIN, NULL, k2, &id2, &eb), 0);
  const char *dst = lk_test_path("%s/copy.db", fx->dir);
  char dstp[512];
  snprintf(dstp, sizeof dstp, "%s", dst);
  lk_migrate_stats st;
  assert_int_equal(lk_migrate_run(fx->db, dstp, NULL, NULL, &st, &eb), 0);
  assert_int_equal(st.keys, 2);
  lk_catalog *c;
  assert_int_equal(lk_catalog_open(dstp, LK_CATALOG_READONLY, &c, &eb), 0);
  lk_keys_set *set;
  assert_int_equal(lk_keys_load(c, &set, &eb), 0);
  assert_int_equal(lk_keys_find(set, k1, strlen(k1), NULL), LK_KEYS_READ);
  assert_int_equal(lk_keys_find(set, k2, strlen(k2), NULL), LK_KEYS_ADMIN);
  lk_keys_set_free(set);
  lk_catalog_close(c);
  assert_int_equal(lk_migrate_run(fx->db, dstp, NULL, NULL, &st, &eb), 0);
  assert_int_equal(st.keys, 0); /* up to date: nothing */
  assert_int_equal(lk_keys_revoke(fx->cat, "shop", &eb), 0);
  assert_int_equal(lk_migrate_run(fx->db, dstp, NULL, NULL, &st, &eb), 0);
  assert_int_equal(st.keys, 1);
  assert_int_equal(lk_catalog_open(dstp, LK_CATALOG_READONLY, &c, &eb), 0);
  assert_int_equal(lk_keys_load(c, &set, &eb), 0);
  assert_int_equal(lk_keys_count(set), 2);
  assert_int_equal(lk_keys_find(set, k1, strlen(k1), NULL), LK_KEYS_NONE);
  assert_int_equal(lk_keys_find(set, k2, strlen(k2), NULL), LK_KEYS_ADMIN);
  lk_keys_set_free(set);
  lk_catalog_close(c);
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static void test_auth_check(void **state) {
  fixture *fx = *state;
  lk_errbuf eb = {0};
  char rk[LK_KEYS_LEN], wk[LK_KEYS_LEN], hdr[128], msg[LK_ERRMSG_MAX];
  int64_t rid, wid, id;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "reader", rk, &rid, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_WRITE, "writer", wk, &wid, &eb), 0);
  lk_auth *a;
  assert_int_equal(lk_auth_open(fx->db, 0.05, &a, &eb), 0);
  assert_int_equal(lk_auth_count(a), 2);
  static const char *const bad[] = {NULL, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearerlk_x",
                                    "Bearer lk_notakey", "Token lk_x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(lk_auth_check(a, bad[i], LK_KEYS_READ, &id, msg, sizeof msg), 401);
    assert_int_equal(id, -1);
  }
  snprintf(hdr, sizeof hdr, "Bearer %s", rk);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, &id, msg, sizeof msg), 0);
  assert_int_equal(id, rid);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_WRITE, NULL, msg, sizeof msg), 403);
  assert_null(strstr(msg, rk)); /* messages never carry the key */
  snprintf(hdr, sizeof hdr, "bearer  %s ", wk); /* the scheme is case-insensitive; spaces around */
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_WRITE, NULL, msg, sizeof msg), 0);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_ADMIN, NULL, msg, sizeof msg), 403);
  /* revoked through another handle: refused once the TTL has passed */
  assert_int_equal(lk_keys_revoke(fx->cat, "writer", &eb), 0);
  sleep_s(0.1);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 401);
  snprintf(hdr, sizeof hdr, "Bearer %s", rk);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  /* the catalog file replaced by garbage: the keys read last stay in use (for up to 60 s) */
  const char *tmp = lk_test_path("%s/garbage", fx->dir);
  assert_int_equal(lk_test_write_file(tmp, "not a catalog", 13), 0);
  lk_catalog_close(fx->cat);
  fx->cat = NULL;
  unlink(lk_test_path("%s-wal", fx->db));
  unlink(lk_test_path("%s-shm", fx->db));
  assert_int_equal(rename(tmp, fx->db), 0);
  sleep_s(0.1);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  /* then a catalog file moved in place of it is read: its keys only */
  const char *other = lk_test_path("%s/other.db", fx->dir);
  char otherp[512], ok[LK_KEYS_LEN];
  snprintf(otherp, sizeof otherp, "%s", other);
  lk_catalog *oc;
  assert_int_equal(lk_catalog_open(otherp, LK_CATALOG_CREATE, &oc, &eb), 0);
  assert_int_equal(lk_keys_add(oc, LK_KEYS_READ, NULL, ok, &id, &eb), 0);
  lk_catalog_close(oc);
  assert_int_equal(rename(otherp, fx->db), 0);
  sleep_s(0.1);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 401);
  snprintf(hdr, sizeof hdr, "Bearer %s", ok);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  lk_auth_free(a);
  lk_auth_free(NULL);
  assert_int_equal(lk_auth_open(lk_test_path("%s/missing.db", fx->dir), 1, &a, &eb), LK_ENOTFOUND);
}

/* The limiter alone, with the time moved by hand: window, bound, eviction. */
static void test_limit(void **state) {
  (void)state;
  lk_auth_limit *l;
  assert_int_equal(lk_auth_limit_new(0, 60, 4, &l), LK_EINVAL);
  assert_int_equal(lk_auth_limit_new(3, 0, 4, &l), LK_EINVAL);
  assert_int_equal(lk_auth_limit_new(3, 60, 0, &l), LK_EINVAL);
  assert_int_equal(lk_auth_limit_new(3, 60, 4, &l), 0);
  assert_true(lk_auth_limit_wait(l, "10.0.0.1", 0) == 0);
  for (int i = 0; i < 2; i++) lk_auth_limit_fail(l, "10.0.0.1", 100 + i);
  assert_true(lk_auth_limit_wait(l, "10.0.0.1", 102) == 0); /* 2 of 3 */
  lk_auth_limit_fail(l, "10.0.0.1", 110);
  assert_true(fabs(lk_auth_limit_wait(l, "10.0.0.1", 110) - 50) < 1e-9); /* the window began at 100 */
  assert_true(lk_auth_limit_wait(l, "10.0.0.2", 110) == 0);              /* per address */
  assert_true(lk_auth_limit_wait(l, "10.0.0.1", 159.5) > 0);
  assert_true(lk_auth_limit_wait(l, "10.0.0.1", 160) == 0); /* the window has passed */
  lk_auth_limit_fail(l, "10.0.0.1", 161);                    /* a new window: one failure */
  assert_true(lk_auth_limit_wait(l, "10.0.0.1", 161) == 0);
  /* a slow trickle (one failure each 30 s of a 60 s window) never adds up past two */
  lk_auth_limit_fail(l, "10.0.0.3", 0);
  lk_auth_limit_fail(l, "10.0.0.3", 30);
  lk_auth_limit_fail(l, "10.0.0.3", 60);
  lk_auth_limit_fail(l, "10.0.0.3", 90);
  assert_true(lk_auth_limit_wait(l, "10.0.0.3", 90) == 0);
  lk_auth_limit_free(l);
  /* the bound: a flood of addresses holds at most cap; a limited one survives while others'
   * windows have ended, and the stalest goes first when none has */
  assert_int_equal(lk_auth_limit_new(2, 60, 4, &l), 0);
  lk_auth_limit_fail(l, "bad", 1000);
  lk_auth_limit_fail(l, "bad", 1001);
  char addr[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(addr, sizeof addr, "10.1.%d.%d", i / 256, i % 256);
    lk_auth_limit_fail(l, addr, 900 + i * 0.001); /* windows long ended by 1002 */
    assert_true(lk_auth_limit_size(l) <= 4);
  }
  lk_auth_limit_fail(l, "new1", 1002);
  lk_auth_limit_fail(l, "new2", 1002);
  lk_auth_limit_fail(l, "new3", 1002);
  assert_int_equal(lk_auth_limit_size(l), 4);
  assert_true(lk_auth_limit_wait(l, "bad", 1002) > 0); /* the old entries were reused first */
  lk_auth_limit_fail(l, "new4", 1003);                  /* none ended: the stalest (bad, 1001) goes */
  assert_true(lk_auth_limit_wait(l, "bad", 1003) == 0);
  lk_auth_limit_fail(l, "new4", 1004);
  assert_true(lk_auth_limit_wait(l, "new4", 1004) > 0);
  lk_auth_limit_free(l);
  lk_auth_limit_free(NULL);
}

static void test_auth_client(void **state) {
  (void)state;
  char out[LK_AUTH_CLIENT_MAX];
  struct sockaddr_in a4 = {.sin_family = AF_INET};
  inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
  lk_auth_client(&a4, out);
  assert_string_equal(out, "192.0.2.7");
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &a6.sin6_addr);
  lk_auth_client(&a6, out);
  assert_string_equal(out, "2001:db8:1:2::/64"); /* one /64, one entry */
  inet_pton(AF_INET6, "2001:db8:1:2::1", &a6.sin6_addr);
  char out2[LK_AUTH_CLIENT_MAX];
  lk_auth_client(&a6, out2);
  assert_string_equal(out, out2);
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &a6.sin6_addr);
  lk_auth_client(&a6, out);
  assert_string_equal(out, "192.0.2.7");
  lk_auth_client(NULL, out);
  assert_string_equal(out, "");
}

/* Counters per key in /metrics text: id and escaped name, never the key; 429 after the limit. */
static void test_auth_counters(void **state) {
  fixture *fx = *state;
  lk_errbuf eb = {0};
  char k1[LK_KEYS_LEN], k2[LK_KEYS_LEN], hdr[128], msg[LK_ERRMSG_MAX];
  int64_t id1, id2;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "shop\"a\\b\"", k1, &id1, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, NULL, k2, &id2, &eb), 0);
  lk_auth *a;
  assert_int_equal(lk_auth_open(fx->db, 60, &a, &eb), 0);
  snprintf(hdr, sizeof hdr, "Bearer %s", k1);
  for (int i = 0; i < 3; i++) assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_ADMIN, NULL, msg, sizeof msg), 403); /* presented: counted */
  snprintf(hdr, sizeof hdr, "Bearer %s", k2);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  assert_int_equal(lk_auth_check(a, "Bearer lk_wrong", LK_KEYS_READ, NULL, msg, sizeof msg), 401);
  int retry;
  for (int i = 0; i < LK_AUTH_MAX_FAILS; i++) {
    assert_int_equal(lk_auth_limited(a, "192.0.2.1", &retry, msg, sizeof msg), 0);
    lk_auth_failed(a, "192.0.2.1");
  }
  assert_int_equal(lk_auth_limited(a, "192.0.2.1", &retry, msg, sizeof msg), 429);
  assert_true(retry >= 1 && retry <= (int)LK_AUTH_WINDOW_S);
  assert_non_null(strstr(msg, "try again in"));
  assert_int_equal(lk_auth_limited(a, "192.0.2.2", &retry, msg, sizeof msg), 0);
  char *txt;
  size_t len;
  assert_int_equal(lk_auth_render(a, &txt, &len), 0);
  assert_int_equal(strlen(txt), len);
  char want[160];
  snprintf(want, sizeof want, "lookalike_key_requests_total{key_id=\"%lld\",name=\"shop\\\"a\\\\b\\\"\"} 4\n", (long long)id1);
  assert_non_null(strstr(txt, want));
  snprintf(want, sizeof want, "lookalike_key_requests_total{key_id=\"%lld\",name=\"\"} 1\n", (long long)id2);
  assert_non_null(strstr(txt, want));
  assert_non_null(strstr(txt, "lookalike_auth_limited_total 1\n"));
  assert_null(strstr(txt, k1 + 3));
  assert_null(strstr(txt, k2 + 3));
  free(txt);
  lk_auth_free(a);
}

/* --rate-limit: a bucket of N a second per key; other keys are not affected. */
static void test_auth_rate(void **state) {
  fixture *fx = *state;
  lk_errbuf eb = {0};
  char k1[LK_KEYS_LEN], k2[LK_KEYS_LEN], hdr[128], msg[LK_ERRMSG_MAX];
  int64_t id;
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "a", k1, &id, &eb), 0);
  assert_int_equal(lk_keys_add(fx->cat, LK_KEYS_READ, "b", k2, &id, &eb), 0);
  lk_auth *a;
  assert_int_equal(lk_auth_open(fx->db, 60, &a, &eb), 0);
  lk_auth_set_rate(a, 3);
  snprintf(hdr, sizeof hdr, "Bearer %s", k1);
  for (int i = 0; i < 3; i++) assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 429);
  assert_non_null(strstr(msg, "--rate-limit"));
  snprintf(hdr, sizeof hdr, "Bearer %s", k2);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0); /* per key */
  sleep_s(0.4); /* 3 a second: one more token after a third of a second */
  snprintf(hdr, sizeof hdr, "Bearer %s", k1);
  assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  lk_auth_set_rate(a, 0); /* off */
  for (int i = 0; i < 10; i++) assert_int_equal(lk_auth_check(a, hdr, LK_KEYS_READ, NULL, msg, sizeof msg), 0);
  lk_auth_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roles),
      cmocka_unit_test(test_generate_and_hash),
      cmocka_unit_test_setup_teardown(test_add_list_revoke, setup, teardown),
      cmocka_unit_test_setup_teardown(test_older_catalog, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrate_keys, setup, teardown),
      cmocka_unit_test(test_limit),
      cmocka_unit_test(test_auth_client),
      cmocka_unit_test_setup_teardown(test_auth_counters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_rate, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
