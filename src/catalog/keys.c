/* catalog/keys.c — API keys (see keys.h): random keys, their hashes, roles, and the
 * constant-time lookup of a presented key in a snapshot of the catalog's keys. */
#include "catalog/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nettle/memops.h>

#include "util/array.h"
#include "util/size.h"

#define KEY_BYTES 32
#define PREFIX "lk_"

static const char *const role_names[] = {"none", "read", "write", "admin"};

int lk_keys_role_parse(const char *s) {
  for (int r = LK_KEYS_READ; r <= LK_KEYS_ADMIN; r++)
    if (s && !strcmp(s, role_names[r])) return r;
  return LK_KEYS_NONE;
}

const char *lk_keys_role_name(int role) {
  return role >= LK_KEYS_READ && role <= LK_KEYS_ADMIN ? role_names[role] : role_names[0];
}

int lk_keys_allows(int role, int needed) {
  return role >= LK_KEYS_READ && role <= LK_KEYS_ADMIN && needed >= LK_KEYS_READ && needed <= LK_KEYS_ADMIN &&
         role >= needed;
}

/* base64url without padding of n bytes into dst (4*ceil(n/3) chars at most) + NUL. */
static void base64url(char *dst, const unsigned char *src, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0) | (i + 2 < n ? src[i + 2] : 0);
    size_t chars = n - i >= 3 ? 4 : n - i + 1;
    for (size_t k = 0; k < chars; k++) dst[o++] = a[(v >> (18 - 6 * k)) & 63];
  }
  dst[o] = '\0';
}

int lk_keys_generate(char key[LK_KEYS_LEN], lk_errbuf *err) {
  unsigned char raw[KEY_BYTES];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return lk_err_set(err, LK_EIO, "no random bytes from the kernel (getrandom: %s)", strerror(errno));
    got += (size_t)n;
  }
  memcpy(key, PREFIX, sizeof PREFIX - 1);
  base64url(key + sizeof PREFIX - 1, raw, sizeof raw);
  memset(raw, 0, sizeof raw);
  return 0;
}

void lk_keys_hash(const char *key, char out[LK_SHA256_HEX]) { lk_hash_sha256_hex(key, strlen(key), out); }

int lk_keys_equal(const void *a, const void *b, size_t n) { return memeql_sec(a, b, n) != 0; }

/* A name is 1..LK_KEYS_MAX_NAME printable ASCII bytes without spaces, not all digits. */
static int check_name(const char *name, lk_errbuf *err) {
  size_t n = strlen(name), digits = 0;
  if (n == 0 || n > LK_KEYS_MAX_NAME)
    return lk_err_set(err, LK_EINVAL, "--name must be 1 to %d characters", LK_KEYS_MAX_NAME);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (ch <= 0x20 || ch >= 0x7f)
      return lk_err_set(err, LK_EINVAL, "--name may hold letters, digits and punctuation, no spaces or control"
                                        " characters (byte %zu is 0x%02x)", i + 1, ch);
    digits += ch >= '0' && ch <= '9';
  }
  if (digits == n) return lk_err_set(err, LK_EINVAL, "--name '%s' is all digits, which reads as a key id: add a letter", name);
  return 0;
}

int lk_keys_add(lk_catalog *c, int role, const char *name, char key[LK_KEYS_LEN], int64_t *id, lk_errbuf *err) {
  if (!lk_keys_allows(role, LK_KEYS_READ))
    return lk_err_set(err, LK_EINVAL, "the role is read, write or admin");
  int rc;
  if (name && (rc = check_name(name, err))) return rc;
  if ((rc = lk_keys_generate(key, err))) return rc;
  char hash[LK_SHA256_HEX];
  lk_keys_hash(key, hash);
  lk_key k = {0, name, lk_keys_role_name(role), hash, (int64_t)time(NULL), 0};
  if ((rc = lk_catalog_add_key(c, &k, id))) {
    memset(key, 0, LK_KEYS_LEN);
    return lk_catalog_fail(c, rc, err, NULL);
  }
  return 0;
}

typedef struct find_ctx {
  const char *which;
  int by_id;
  int64_t want, id;
} find_ctx;

static int find_cb(void *ctx, const lk_key *k) {
  find_ctx *f = ctx;
  if (f->by_id ? k->id == f->want : k->name && !strcmp(k->name, f->which)) {
    f->id = k->id;
    return 1;
  }
  return 0;
}

int lk_keys_revoke(lk_catalog *c, const char *which, lk_errbuf *err) {
  find_ctx f = {which, which[0] != '\0', 0, -1};
  for (const char *p = which; *p && f.by_id; p++) f.by_id = *p >= '0' && *p <= '9';
  if (f.by_id) {
    if (strlen(which) > 18) return lk_err_set(err, LK_ENOTFOUND, "no key %s", which);
    f.want = strtoll(which, NULL, 10);
  }
  int rc = lk_catalog_foreach_key(c, find_cb, &f);
  if (rc < 0) return lk_catalog_fail(c, rc, err, NULL);
  if (f.id < 0)
    return lk_err_set(err, LK_ENOTFOUND, "no key with the %s '%s' (`lookalike keys list` shows them)",
                      f.by_id ? "id" : "name", which);
  if ((rc = lk_catalog_revoke_key(c, f.id))) return lk_catalog_fail(c, rc, err, NULL);
  return 0;
}

/* ------------------------------------------------------------------ lookup */

typedef struct entry {
  unsigned char hash[LK_SHA256_HEX];
  int64_t id;
  int role; /* LK_KEYS_NONE when revoked */
  char name[LK_KEYS_MAX_NAME + 1]; /* "" when the key has none */
} entry;

struct lk_keys_set {
  entry *v;
  size_t n, cap;
};

static int load_cb(void *ctx, const lk_key *k) {
  lk_keys_set *s = ctx;
  if (strlen(k->hash) != LK_SHA256_HEX - 1) return 0; /* not a hash we made: matches nothing */
  if (LK_ARRAY_RESERVE(s->v, s->cap, s->n + 1, 16)) return LK_ENOMEM;
  entry *e = &s->v[s->n++];
  memcpy(e->hash, k->hash, LK_SHA256_HEX);
  e->id = k->id;
  e->role = k->revoked ? LK_KEYS_NONE : lk_keys_role_parse(k->role);
  snprintf(e->name, sizeof e->name, "%s", k->name ? k->name : "");
  return 0;
}

int lk_keys_load(lk_catalog *c, lk_keys_set **out, lk_errbuf *err) {
  lk_keys_set *s = calloc(1, sizeof *s);
  if (!s) return lk_err_set(err, LK_ENOMEM, "out of memory");
  int rc = lk_catalog_foreach_key(c, load_cb, s);
  if (rc) {
    rc = rc == LK_ENOMEM ? lk_err_set(err, LK_ENOMEM, "out of memory") : lk_catalog_fail(c, rc, err, NULL);
    lk_keys_set_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void lk_keys_set_free(lk_keys_set *s) {
  if (!s) return;
  free(s->v);
  free(s);
}

size_t lk_keys_count(const lk_keys_set *s) { return s ? s->n : 0; }

const char *lk_keys_name(const lk_keys_set *s, int64_t id) {
  for (size_t i = 0; s && i < s->n; i++)
    if (s->v[i].id == id) return s->v[i].name;
  return "";
}

int lk_keys_find(const lk_keys_set *s, const char *key, size_t len, int64_t *id) {
  char hash[LK_SHA256_HEX];
  lk_hash_sha256_hex(key, len, hash);
  int role = LK_KEYS_NONE;
  int64_t found = -1;
  for (size_t i = 0; s && i < s->n; i++) { /* every entry, found or not */
    int eq = lk_keys_equal(hash, s->v[i].hash, LK_SHA256_HEX - 1);
    int mask = -eq; /* all ones when equal */
    role |= s->v[i].role & mask;
    found = (found & ~(int64_t)mask) | (s->v[i].id & (int64_t)mask);
  }
  if (id) *id = role ? found : -1;
  return role;
}
