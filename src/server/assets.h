/* server/assets.h — the web page's files (web/), compiled into the binary by
 * tools/embed_assets.sh (build/gen/assets.c). The server serves only these, looked up by
 * exact name, so no request path can reach the file system. */
#ifndef LK_SERVER_ASSETS_H
#define LK_SERVER_ASSETS_H

#include <stddef.h>

typedef struct lk_asset {
  const char *name;          /* file name in web/, e.g. "app.js" */
  const char *type;          /* Content-Type */
  const unsigned char *data; /* len bytes (plus a NUL not counted) */
  size_t len;
} lk_asset;

/* Immutable table ending with a {NULL} entry; lk_assets_count entries before it. */
extern const lk_asset lk_assets[];
extern const int lk_assets_count;

#endif
