/* server/tls.c — the HTTPS certificate and key of `serve` (tls.h): read through util/file.h
 * with a size limit, checked for PEM armour, then tried in a throwaway libmicrohttpd daemon
 * with no listening socket so that GnuTLS's own verdict (a bad PEM, a key of another
 * certificate) comes before the real server starts. */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/tls.h"

#include "util/file.h"

struct lk_tls {
  char *cert;
  char *key;
  size_t key_len;
};

/* Reads path as NUL-terminated PEM text that holds a "-----BEGIN <what>-----" block. */
static int read_pem(const char *opt, const char *path, const char *what, const char *hint, char **out,
                    size_t *out_len, lk_errbuf *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  lk_errbuf fe = {0};
  int rc = lk_file_read(path, LK_TLS_MAX_PEM, &buf, &len, NULL, &fe);
  if (rc == LK_ETOOBIG)
    return lk_err_set(err, rc, "%s %s: larger than %u KiB; a PEM %s is a few KB", opt, path,
                      LK_TLS_MAX_PEM >> 10, hint);
  if (rc) return lk_err_set(err, rc, "%s %s: %s", opt, path, lk_err_msg(&fe));
  char *text = realloc(buf, len + 1); /* len < LK_TLS_MAX_PEM: no overflow */
  if (!text) {
    free(buf);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  text[len] = '\0';
  int ok = len > 0 && memchr(text, '\0', len) == NULL;
  const char *b = ok ? strstr(text, "-----BEGIN ") : NULL;
  const char *e = b ? strchr(b + 11, '\n') : NULL;
  ok = b && e && memmem(b, (size_t)(e - b), what, strlen(what)) != NULL;
  if (!ok) {
    free(text);
    return lk_err_set(err, LK_EINVAL, "%s %s: not a PEM %s (expected a '-----BEGIN ...%s-----' block)", opt,
                      path, hint, what);
  }
  *out = text;
  *out_len = len;
  return 0;
}

/* The probe daemon never gets a connection; MHD wants a handler all the same. */
static enum MHD_Result no_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls) {
  (void)cls, (void)c, (void)url, (void)method, (void)version, (void)data, (void)size, (void)con_cls;
  return MHD_NO;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  char *msg = cls;
  if (*msg) return; /* the first complaint is the cause */
  vsnprintf(msg, 256, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.')) msg[--n] = '\0';
}

int lk_tls_load(const char *cert_path, const char *key_path, lk_tls **out, lk_errbuf *err) {
  *out = NULL;
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
    return lk_err_set(err, LK_EINVAL,
                      "--tls-cert: this libmicrohttpd (%s) was built without TLS (GnuTLS); install one "
                      "with TLS or terminate TLS at a proxy (docs/DEPLOY.md, \"HTTPS\")",
                      MHD_get_version());
  lk_tls *t = calloc(1, sizeof *t);
  if (!t) return lk_err_set(err, LK_ENOMEM, "out of memory");
  size_t cert_len;
  int rc = read_pem("--tls-cert", cert_path, "CERTIFICATE", "certificate", &t->cert, &cert_len, err);
  if (!rc) rc = read_pem("--tls-key", key_path, "PRIVATE KEY", "private key", &t->key, &t->key_len, err);
  if (!rc && (strstr(t->key, "ENCRYPTED") || strstr(t->key, "Proc-Type:")))
    rc = lk_err_set(err, LK_EINVAL,
                    "--tls-key %s: the key is encrypted (it needs a passphrase); write an unencrypted "
                    "copy readable only by the server: openssl pkey -in %s -out NEW.pem",
                    key_path, key_path);
  if (rc) {
    lk_tls_free(t);
    return rc;
  }
  char msg[256] = "";
  struct MHD_Daemon *d =
      MHD_start_daemon(MHD_USE_TLS | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL, no_request, NULL,
                       MHD_OPTION_EXTERNAL_LOGGER, on_log, msg, MHD_OPTION_HTTPS_MEM_CERT, t->cert,
                       MHD_OPTION_HTTPS_MEM_KEY, t->key, MHD_OPTION_END);
  if (!d) {
    lk_tls_free(t);
    return lk_err_set(err, LK_EINVAL,
                      "--tls-cert %s / --tls-key %s: GnuTLS refused them%s%s%s: either the certificate's "
                      "PEM is damaged or the key is not the one made with this certificate (both must be "
                      "unencrypted PEM; `openssl x509 -in FILE -noout -text` shows a certificate)",
                      cert_path, key_path, *msg ? " (" : "", msg, *msg ? ")" : "");
  }
  MHD_stop_daemon(d);
  *out = t;
  return 0;
}

const char *lk_tls_cert(const lk_tls *t) { return t->cert; }
const char *lk_tls_key(const lk_tls *t) { return t->key; }

void lk_tls_free(lk_tls *t) {
  if (!t) return;
  if (t->key) {
    volatile char *p = t->key;
    for (size_t i = 0; i < t->key_len; i++) p[i] = 0;
  }
  free(t->key);
  free(t->cert);
  free(t);
}
