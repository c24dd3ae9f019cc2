/* server/tls.h — `serve --tls-cert FILE --tls-key FILE`: the PEM certificate (chain) and
 * private key for HTTPS, read and checked before the server starts, so that a missing,
 * oversized, malformed or mismatched file is an error naming it instead of a server that
 * fails every handshake. libmicrohttpd does the TLS itself (GnuTLS). */
#ifndef LK_SERVER_TLS_H
#define LK_SERVER_TLS_H

#include "util/err.h"

#define LK_TLS_MAX_PEM (1u << 20) /* one PEM file: a key or a certificate chain is a few KB */

typedef struct lk_tls lk_tls;

/* Reads both regular files (at most LK_TLS_MAX_PEM bytes each) and tries them with
 * libmicrohttpd's TLS, listening nowhere. Errors: LK_EINVAL when this libmicrohttpd has no
 * TLS, a file is not a PEM certificate / private key, or the key does not belong to the
 * certificate (the message names the file); LK_ETOOBIG, LK_ENOTFOUND, LK_EIO from
 * util/file.h; LK_ENOMEM. *out: lk_tls_free. */
int lk_tls_load(const char *cert_path, const char *key_path, lk_tls **out, lk_errbuf *err);
/* The PEM texts, NUL-terminated, owned by t (for MHD_OPTION_HTTPS_MEM_CERT / _KEY: t must
 * outlive the server). */
const char *lk_tls_cert(const lk_tls *t);
const char *lk_tls_key(const lk_tls *t);
/* NULL-safe; wipes the key. */
void lk_tls_free(lk_tls *t);

#endif
