/* catalog/catalog_int.h — inside the catalog module: the table of operations each storage
 * backend implements (sqlite.c for files, pg.c for postgresql:// URLs), and the handle
 * header they all start with.
 * catalog.c checks arguments and dispatches lk_catalog_* calls through c->ops; a backend
 * only sees valid handles and non-NULL pointers where the public header requires them. */
#ifndef LK_CATALOG_CATALOG_INT_H
#define LK_CATALOG_CATALOG_INT_H

#include "catalog/catalog.h"

typedef struct lk_catalog_ops {
  const char *name; /* "sqlite", "postgresql", ... */
  void (*close)(lk_catalog *c);
  int (*get_meta)(lk_catalog *c, const char *key, char **value);
  int (*set_meta)(lk_catalog *c, const char *key, const char *value);
  int (*add_meta)(lk_catalog *c, const char *key, const char *value); /* insert if absent */
  int (*foreach_meta)(lk_catalog *c, lk_meta_cb cb, void *ctx);
  int (*begin)(lk_catalog *c);
  int (*commit)(lk_catalog *c);
  int (*rollback)(lk_catalog *c);
  int (*put_item)(lk_catalog *c, const lk_item *it);
  int (*get_item)(lk_catalog *c, int64_t id, lk_item *it);
  int (*delete_item)(lk_catalog *c, int64_t id);
  int (*put_vector)(lk_catalog *c, int64_t id, const float *v, int dim);
  int (*get_vector)(lk_catalog *c, int64_t id, float *v, int cap);
  int (*delete_all_vectors)(lk_catalog *c);
  int (*foreach_item)(lk_catalog *c, lk_item_cb cb, void *ctx);
  int (*foreach_vector)(lk_catalog *c, lk_vector_cb cb, void *ctx);
  int (*counts)(lk_catalog *c, int64_t *items, int64_t *vectors, int64_t *errors);
  int (*check)(lk_catalog *c); /* the problem goes to c->err */
  /* change following; NULL where the backend has none (LK_EUNSUPPORTED) */
  int (*version)(lk_catalog *c, int64_t *version);
  int (*changes)(lk_catalog *c, int64_t since, lk_change_cb cb, void *ctx, int64_t *version);
  int (*wait_change)(lk_catalog *c, int timeout_ms);
  int (*recent)(lk_catalog *c, int limit, lk_recent_cb cb, void *ctx);
  /* API keys (catalog.h); NULL where the backend has none (LK_EUNSUPPORTED) */
  int (*add_key)(lk_catalog *c, const lk_key *k, int64_t *id);
  int (*foreach_key)(lk_catalog *c, lk_key_cb cb, void *ctx);
  int (*revoke_key)(lk_catalog *c, int64_t id);
  /* stored photos (catalog.h); NULL where the backend has none (LK_EUNSUPPORTED) */
  int (*put_photo)(lk_catalog *c, int64_t id, const char *type, const void *data, size_t len);
  int (*get_photo)(lk_catalog *c, int64_t id, char **type, void **data, size_t *len);
  int (*delete_photo)(lk_catalog *c, int64_t id);
  int (*foreach_photo)(lk_catalog *c, lk_photo_cb cb, void *ctx);
  int (*set_durable)(lk_catalog *c); /* NULL: commits are durable already */
} lk_catalog_ops;

/* Every backend's handle starts with this. */
struct lk_catalog {
  const lk_catalog_ops *ops;
  lk_errbuf err;
  char note[LK_ERRMSG_MAX]; /* lk_catalog_note: how the open went, when users should know */
};

/* The backends' open functions (flags and out already checked). */
int lk_catalog_sqlite_open(const char *path, int flags, lk_catalog **out, lk_errbuf *err);
int lk_catalog_pg_open(const char *url, int flags, lk_catalog **out, lk_errbuf *err);

/* Vectors are stored as float32 little-endian bytes by every backend. */
void lk_catalog_decode_floats(float *dst, const void *src, int n);
/* src as float32 LE into dst (4*n bytes). */
void lk_catalog_encode_floats(void *dst, const float *src, int n);
#define LK_CATALOG_MAX_DIM (1 << 20) /* sanity bound on a stored vector's dimension */

#endif
