/* catalog/keys.h — API keys: made here, stored in the catalog (only their SHA-256, through
 * lk_catalog_add_key), checked by the server (server/auth.h) and `lookalike keys`.
 * A key is "lk_" and 43 base64url characters: 32 bytes from getrandom(2). It is shown once,
 * when made; whoever reads the catalog sees only its hash. Roles are ordered: read < write
 * < admin, and a role allows what every weaker role allows. */
#ifndef LK_CATALOG_KEYS_H
#define LK_CATALOG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "util/err.h"
#include "util/hash.h"

enum lk_keys_role { LK_KEYS_NONE = 0, LK_KEYS_READ = 1, LK_KEYS_WRITE = 2, LK_KEYS_ADMIN = 3 };

#define LK_KEYS_LEN 47     /* "lk_" + 43 characters + NUL */
#define LK_KEYS_MAX_NAME 64 /* bytes of a key's name */

/* "read", "write", "admin" -> the role; anything else LK_KEYS_NONE. */
int lk_keys_role_parse(const char *s);
/* The role's name ("none" for LK_KEYS_NONE or an unknown value). */
const char *lk_keys_role_name(int role);
/* Does a key of role `role` allow an endpoint that needs `needed`? (A future write endpoint
 * calls lk_keys_allows(role, LK_KEYS_WRITE) and answers 403 when it does not.) */
int lk_keys_allows(int role, int needed);

/* A new random key into key (NUL-terminated). LK_EIO when the kernel gives no randomness. */
int lk_keys_generate(char key[LK_KEYS_LEN], lk_errbuf *err);
/* The stored form of a key: lowercase hex SHA-256 of its bytes. */
void lk_keys_hash(const char *key, char out[LK_SHA256_HEX]);
/* 1 when a and b (n bytes each) are equal, 0 otherwise, in time that depends on n only. */
int lk_keys_equal(const void *a, const void *b, size_t n);

/* Makes a key of `role` (name may be NULL; else 1..LK_KEYS_MAX_NAME printable bytes, not all
 * digits, so that it never reads as an id), stores its hash in c and gives the key (shown
 * once) and its id. LK_EINVAL with a message for a bad role or name, or a name in use. */
int lk_keys_add(lk_catalog *c, int role, const char *name, char key[LK_KEYS_LEN], int64_t *id, lk_errbuf *err);
/* Revokes the key whose id (all digits) or name is `which`. LK_ENOTFOUND when none is. */
int lk_keys_revoke(lk_catalog *c, const char *which, lk_errbuf *err);

/* The keys of a catalog as one snapshot, for checking presented keys. */
typedef struct lk_keys_set lk_keys_set;
/* Reads every key of c (none is fine: an empty set). *out: lk_keys_set_free. */
int lk_keys_load(lk_catalog *c, lk_keys_set **out, lk_errbuf *err);
void lk_keys_set_free(lk_keys_set *s); /* NULL-safe */
/* The role of presented key `key` (len bytes, need not be NUL-terminated), or LK_KEYS_NONE
 * when it is unknown or revoked. Compares its hash with every stored hash in constant time
 * (no early exit), so the answer's timing tells nothing about the stored keys. *id (may be
 * NULL) gets the key's id. */
int lk_keys_find(const lk_keys_set *s, const char *key, size_t len, int64_t *id);
size_t lk_keys_count(const lk_keys_set *s);
/* The name of key `id` ("" when it has none or is not in s); valid while s is. */
const char *lk_keys_name(const lk_keys_set *s, int64_t id);

#endif
