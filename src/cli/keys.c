/* cli/keys.c — `lookalike keys`: add prints a new key once (only its hash is stored), list
 * shows ids, names, roles and dates (never a key or a hash), revoke takes an id or a name. */
#include "cli/keys.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "catalog/keys.h"
#include "cli/cli.h"
#include "lookalike.h"

static const char *HELP =
    "usage: lookalike keys add --db CATALOG --role read|write|admin [--name NAME]\n"
    "       lookalike keys list --db CATALOG [--json]\n"
    "       lookalike keys revoke --db CATALOG ID|NAME\n"
    "\n"
    "API keys for `lookalike serve --require-key` (docs/DEPLOY.md, \"API keys\").\n"
    "  add     makes a random key and prints it once, on stdout: keep it, it cannot be shown\n"
    "          again (the catalog stores only its SHA-256). Roles: read (searches), write\n"
    "          (adds read; for the write endpoints), admin (adds write). NAME: up to 64\n"
    "          letters, digits or punctuation, not all digits, unique in the catalog.\n"
    "  list    id, name, role, created (UTC), revoked; --json for a JSON array\n"
    "  revoke  the key stops working at once for new commands, and within a second on a\n"
    "          running server\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage error (bad role or name, name in use), 3 catalog\n"
    "            or key not found\n";

static int usage(const char *msg) { return lk_cli_usage("keys", msg); }

static int fail(lk_catalog *c, int rc, const lk_errbuf *eb) {
  fprintf(stderr, "lookalike keys: %s\n", lk_err_msg(eb));
  lk_catalog_close(c);
  return lk_cli_exit_code(rc);
}

static void utc(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm)) strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  else snprintf(out, 32, "%lld", (long long)t);
}

static int list_text_cb(void *ctx, const lk_key *k) {
  char when[32], name[LK_KEYS_MAX_NAME + 1];
  utc(k->created, when);
  /* names are checked at add; one written by hand into the catalog prints as '?'s */
  size_t i = 0;
  for (const char *p = k->name ? k->name : "-"; *p && i < LK_KEYS_MAX_NAME; p++)
    name[i++] = *p > 0x20 && *p < 0x7f ? *p : '?';
  name[i] = '\0';
  printf("%-6lld %-24s %-6s %-21s %s\n", (long long)k->id, name, lk_keys_role_name(lk_keys_role_parse(k->role)), when,
         k->revoked ? "revoked" : "active");
  ++*(long *)ctx;
  return 0;
}

static int list_json_cb(void *ctx, const lk_key *k) {
  char when[32];
  utc(k->created, when);
  json_t *o = json_pack("{s:I, s:s?, s:s, s:s, s:b}", "id", (json_int_t)k->id, "name", k->name, "role", k->role,
                        "created", when, "revoked", k->revoked);
  return o && !json_array_append_new(ctx, o) ? 0 : LK_ENOMEM;
}

int lk_cli_keys(int argc, char **argv) {
  /* argv[0] is "keys" (main.c drops the program name) */
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    if (argc < 2) return usage("expected add, list or revoke");
    fputs(HELP, stdout);
    return LK_EX_OK;
  }
  const char *sub = argv[1];
  int add = !strcmp(sub, "add"), list = !strcmp(sub, "list"), revoke = !strcmp(sub, "revoke");
  if (!add && !list && !revoke) return usage("expected add, list or revoke");
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},   {"role", required_argument, 0, 'r'},
                                       {"name", required_argument, 0, 'n'}, {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
  const char *db = NULL, *role_s = NULL, *name = NULL;
  int json = 0, c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "d:r:n:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 'r': role_s = optarg; break;
    case 'n': name = optarg; break;
    case 'j': json = 1; break;
    case 'h': fputs(HELP, stdout); return LK_EX_OK;
    default: return usage("unknown option");
    }
  }
  if (!db) return usage("--db is required");
  if (!add && (role_s || name)) return usage("--role and --name are options of `keys add`");
  if (!list && json) return usage("--json is an option of `keys list`");
  if (revoke ? optind != argc - 1 : optind != argc)
    return usage(revoke ? "expected one key ID or NAME (`lookalike keys list` shows them)" : "unexpected argument");
  int role = LK_KEYS_NONE;
  if (add) {
    if (!role_s) return usage("--role is required: read, write or admin");
    if (!(role = lk_keys_role_parse(role_s))) return usage("--role is read, write or admin");
  }
  lk_catalog *cat = NULL;
  lk_errbuf eb = {0};
  /* the catalog must exist (a mistyped --db must not make an empty one) */
  int rc = lk_catalog_open(db, LK_CATALOG_READONLY, &cat, &eb);
  if (rc == LK_ENOTFOUND)
    lk_err_set(&eb, rc, "no catalog at %s: make one with `lookalike index`, then add keys to it", db);
  if (!rc && !list) {
    lk_catalog_close(cat);
    cat = NULL;
    rc = lk_catalog_open(db, LK_CATALOG_CREATE, &cat, &eb);
  }
  if (rc) return fail(cat, rc, &eb);
  if (add) {
    char key[LK_KEYS_LEN];
    int64_t id;
    if ((rc = lk_keys_add(cat, role, name, key, &id, &eb))) return fail(cat, rc, &eb);
    int shown = printf("%s\n", key) > 0 && fflush(stdout) == 0 && !ferror(stdout);
    memset(key, 0, sizeof key);
    if (!shown) { /* nobody saw it: a stored key nobody holds is revoked at once */
      char ids[24];
      snprintf(ids, sizeof ids, "%lld", (long long)id);
      rc = lk_keys_revoke(cat, ids, &eb);
      fprintf(stderr, "lookalike keys: could not write the new key to stdout; key %lld %s\n", (long long)id,
              rc ? "could not be revoked: revoke it with `lookalike keys revoke`" : "was revoked");
      lk_catalog_close(cat);
      return LK_EX_FAIL;
    }
    lk_catalog_close(cat);
    fprintf(stderr, "lookalike keys: key %lld%s%s (%s) added; it is shown only this once: keep it now\n",
            (long long)id, name ? " " : "", name ? name : "", lk_keys_role_name(role));
    return LK_EX_OK;
  }
  if (revoke) {
    if ((rc = lk_keys_revoke(cat, argv[optind], &eb))) return fail(cat, rc, &eb);
    lk_catalog_close(cat);
    fprintf(stderr, "lookalike keys: key %s revoked\n", argv[optind]);
    return LK_EX_OK;
  }
  if (json) {
    json_t *arr = json_array();
    if (!arr) return fail(cat, lk_err_set(&eb, LK_ENOMEM, "out of memory"), &eb);
    rc = lk_catalog_foreach_key(cat, list_json_cb, arr);
    if (rc) {
      json_decref(arr);
      if (rc != LK_ENOMEM) lk_catalog_fail(cat, rc, &eb, NULL);
      else lk_err_set(&eb, rc, "out of memory");
      return fail(cat, rc, &eb);
    }
    char *txt = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (txt) puts(txt);
    free(txt);
  } else {
    long n = 0;
    printf("%-6s %-24s %-6s %-21s %s\n", "ID", "NAME", "ROLE", "CREATED", "STATE");
    if ((rc = lk_catalog_foreach_key(cat, list_text_cb, &n))) {
      lk_catalog_fail(cat, rc, &eb, NULL);
      return fail(cat, rc, &eb);
    }
  }
  lk_catalog_close(cat);
  return LK_EX_OK;
}
