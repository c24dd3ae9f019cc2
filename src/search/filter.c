/* search/filter.c — search filters: parsing "field=value" and "column OP value" conditions and
 * testing an item against them, extra columns read straight from the item's JSON text (see
 * filter.h). */
#include "search/filter.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/num.h"
#include "util/utf8.h"

int lk_filter_field(const char *name) {
  for (int i = 0; i < LK_NFIELDS; i++)
    if (!strcasecmp(name, lk_catalog_fields[i])) return i;
  return -1;
}

/* Text from outside must be UTF-8: catalog text is, and the value is echoed back as JSON. */
static int check_utf8(const char *what, const char *value, lk_errbuf *err) {
  char *same = NULL; /* stays NULL: strict UTF-8 never copies */
  if (lk_utf8_decode(value, LK_ENC_UTF8, &same, NULL, NULL))
    return lk_err_set(err, LK_EINVAL, "filter %s: the value is not UTF-8 text (bytes of another encoding?); "
                      "give it in UTF-8 (percent-encoded in a URL)", what);
  return 0;
}

int lk_filter_add_kv(lk_filter *f, const char *field, const char *value, lk_errbuf *err) {
  int fi = lk_filter_field(field);
  if (fi < 0) return lk_err_set(err, LK_EINVAL, "unknown filter field '%.60s'", field);
  if (f->n >= LK_FILTER_MAX) return lk_err_set(err, LK_ETOOBIG, "too many filters (max %d)", LK_FILTER_MAX);
  if (strlen(value) >= sizeof f->cond[0].value)
    return lk_err_set(err, LK_ETOOBIG, "filter value too long");
  int rc = check_utf8(lk_catalog_fields[fi], value, err);
  if (rc) return rc;
  f->cond[f->n].field = fi;
  strcpy(f->cond[f->n].value, value);
  f->n++;
  return 0;
}

static const char *const OPS[] = {"<=", ">=", "!=", "<", ">", "="}; /* enum lk_filter_op order */

/* Where the operator starts (first of < > ! =), or NULL. */
static const char *find_op(const char *expr) { return strpbrk(expr, "<>!="); }

static int op_at(const char *p) {
  for (int o = 0; o < 6; o++)
    if (!strncmp(p, OPS[o], strlen(OPS[o]))) return o;
  return -1;
}

/* s[0..n) without leading and trailing blanks, into out (cap bytes): 0, or -1 when too long. */
static int trimmed(const char *s, size_t n, char *out, size_t cap) {
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  if (n >= cap) return -1;
  memcpy(out, s, n);
  out[n] = '\0';
  return 0;
}

int lk_filter_add_where(lk_filter *f, const char *expr, lk_errbuf *err) {
  if (f->nwhere >= LK_FILTER_MAX_WHERE)
    return lk_err_set(err, LK_ETOOBIG, "too many comparisons (max %d)", LK_FILTER_MAX_WHERE);
  if (strlen(expr) >= LK_FILTER_MAX_EXPR)
    return lk_err_set(err, LK_ETOOBIG, "comparison '%.40s...' is longer than %d bytes", expr, LK_FILTER_MAX_EXPR - 1);
  int rc = check_utf8("comparison", expr, err);
  if (rc) return rc;
  const char *p = find_op(expr);
  int op = p ? op_at(p) : -1;
  if (op < 0)
    return lk_err_set(err, LK_EINVAL, "comparison '%s' is not COLUMN OP VALUE (OP one of <= >= != < > =, e.g. "
                      "price<=50 or in_stock=true)", expr);
  lk_filter_where w;
  memset(&w, 0, sizeof w);
  if (trimmed(expr, (size_t)(p - expr), w.column, sizeof w.column))
    return lk_err_set(err, LK_EINVAL, "comparison '%.60s': the column name is longer than %zu bytes", expr,
                      sizeof w.column - 1);
  if (!w.column[0]) return lk_err_set(err, LK_EINVAL, "comparison '%s' names no column before '%s'", expr, OPS[op]);
  for (const char *c = w.column; *c; c++)
    if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
      return lk_err_set(err, LK_EINVAL, "comparison '%.60s': a column name has no quotes, backslashes or control "
                        "characters", expr);
  const char *v = p + strlen(OPS[op]);
  if (strpbrk(v, "<>") || (op != LK_FILTER_EQ && *v == '='))
    return lk_err_set(err, LK_EINVAL, "comparison '%s' has more than one operator (one of <= >= != < > =)", expr);
  if (trimmed(v, strlen(v), w.text, sizeof w.text))
    return lk_err_set(err, LK_ETOOBIG, "comparison '%.60s': the value is longer than %zu bytes", expr, sizeof w.text - 1);
  if (!w.text[0])
    return lk_err_set(err, LK_EINVAL, "comparison '%s' has no value after '%s'", expr, OPS[op]);
  if (!lk_num_double(w.text, -DBL_MAX, DBL_MAX, &w.num)) w.kind = LK_FILTER_NUM;
  else if (!strcasecmp(w.text, "true") || !strcasecmp(w.text, "false")) {
    w.kind = LK_FILTER_BOOL;
    w.truth = !strcasecmp(w.text, "true");
  } else w.kind = LK_FILTER_TEXT;
  if (w.kind != LK_FILTER_NUM && op != LK_FILTER_EQ && op != LK_FILTER_NE)
    return lk_err_set(err, LK_EINVAL, "comparison '%s': '%s' needs a number (got '%s'); true/false and text "
                      "take = or !=", expr, OPS[op], w.text);
  w.field = lk_filter_field(w.column);
  w.op = op;
  snprintf(w.expr, sizeof w.expr, "%s", expr);
  f->where[f->nwhere++] = w;
  return 0;
}

int lk_filter_new(lk_filter **out) {
  if (!out) return LK_EINVAL;
  *out = calloc(1, sizeof **out); /* zeroed: lets everything through */
  return *out ? 0 : LK_ENOMEM;
}

void lk_filter_free(lk_filter *f) { free(f); }

int lk_filter_add(lk_filter *f, const char *expr, lk_errbuf *err) {
  const char *p = find_op(expr);
  if (p && *p == '=' && p != expr) { /* field=value on a styles.csv field: text equality */
    char field[64];
    size_t n = (size_t)(p - expr);
    if (n < sizeof field) {
      memcpy(field, expr, n);
      field[n] = '\0';
      if (lk_filter_field(field) >= 0) return lk_filter_add_kv(f, field, p + 1, err);
    }
  }
  return lk_filter_add_where(f, expr, err);
}

/* ---------------------------------------------------------------- reading extra */

static const char *ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

/* Past the string whose opening quote is at p; NULL when unterminated. */
static const char *skip_string(const char *p) {
  for (p++; *p; p++) {
    if (*p == '\\') {
      if (!*++p) return NULL;
    } else if (*p == '"') return p + 1;
  }
  return NULL;
}

/* Past the value at p (scalar, string, or nested object/array); NULL when malformed. */
static const char *skip_value(const char *p) {
  if (*p == '"') return skip_string(p);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (*p) {
      if (*p == '"') {
        if (!(p = skip_string(p))) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      p++;
    }
    return NULL;
  }
  const char *s = p;
  while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
  return p > s ? p : NULL;
}

int lk_filter_json_get(const char *json, const char *key, const char **val, size_t *len, int *is_string) {
  if (!json) return 0;
  size_t klen = strlen(key);
  const char *p = ws(json);
  if (*p != '{') return 0;
  p = ws(p + 1);
  if (*p == '}') return 0;
  for (;;) {
    if (*p != '"') return 0;
    const char *k = p + 1, *ke = skip_string(p);
    if (!ke) return 0;
    size_t kn = (size_t)(ke - 1 - k);
    p = ws(ke);
    if (*p != ':') return 0;
    p = ws(p + 1);
    const char *v = p, *ve = skip_value(p);
    if (!ve) return 0;
    if (kn == klen && !strncasecmp(k, key, klen) && !memchr(k, '\\', kn)) {
      *is_string = *v == '"';
      *val = *is_string ? v + 1 : v;
      *len = (size_t)(ve - v) - (*is_string ? 2 : 0);
      return 1;
    }
    p = ws(ve);
    if (*p == '}') return 0;
    if (*p != ',') return 0;
    p = ws(p + 1);
  }
}

/* ---------------------------------------------------------------- matching */

/* Does the value text v[0..n) (a JSON string's content when is_string) satisfy w? */
static int value_passes(const lk_filter_where *w, const char *v, size_t n, int is_string) {
  char buf[128];
  if (w->kind == LK_FILTER_TEXT || (w->kind == LK_FILTER_BOOL && is_string)) {
    if (trimmed(v, n, buf, sizeof buf)) return 0;
  } else if (n >= sizeof buf) return 0;
  else {
    memcpy(buf, v, n);
    buf[n] = '\0';
  }
  switch (w->kind) {
  case LK_FILTER_NUM: {
    char t[128];
    double x;
    if (trimmed(buf, strlen(buf), t, sizeof t) || lk_num_double(t, -DBL_MAX, DBL_MAX, &x)) return 0;
    switch (w->op) {
    case LK_FILTER_LE: return x <= w->num;
    case LK_FILTER_GE: return x >= w->num;
    case LK_FILTER_LT: return x < w->num;
    case LK_FILTER_GT: return x > w->num;
    case LK_FILTER_EQ: return x == w->num;
    default: return x != w->num;
    }
  }
  case LK_FILTER_BOOL: {
    int t;
    if (!strcasecmp(buf, "true") || (is_string && (!strcasecmp(buf, "yes") || !strcmp(buf, "1")))) t = 1;
    else if (!strcasecmp(buf, "false") || (is_string && (!strcasecmp(buf, "no") || !strcmp(buf, "0")))) t = 0;
    else if (!is_string && !strcmp(buf, "1")) t = 1;
    else if (!is_string && !strcmp(buf, "0")) t = 0;
    else return 0;
    return w->op == LK_FILTER_EQ ? t == w->truth : t != w->truth;
  }
  default: {
    int eq = !strcasecmp(buf, w->text);
    return w->op == LK_FILTER_EQ ? eq : !eq;
  }
  }
}

static int where_passes(const lk_item *it, const lk_filter_where *w, int *has) {
  const char *v;
  size_t n;
  int is_string = 1;
  if (w->field >= 0) {
    v = it->field[w->field];
    if (!v) return 0;
    n = strlen(v);
  } else if (!lk_filter_json_get(it->extra, w->column, &v, &n, &is_string)) return 0;
  *has = 1;
  if (!is_string && n == 4 && !strncmp(v, "null", 4)) return 0;
  return value_passes(w, v, n, is_string);
}

int lk_filter_match(const lk_item *it, const lk_filter *f, unsigned *seen) {
  if (!f) return 1;
  for (int c = 0; c < f->n; c++) {
    int fld = f->cond[c].field, any = 0;
    for (int d = 0; d < f->n; d++) {
      if (f->cond[d].field != fld) continue;
      if (d < c) { any = 1; break; } /* this field was decided at its first condition */
      const char *v = it->field[fld];
      if (v && !strcasecmp(v, f->cond[d].value)) { any = 1; break; }
    }
    if (!any) return 0;
  }
  int pass = 1;
  for (int w = 0; w < f->nwhere; w++) {
    int has = 0;
    if (!where_passes(it, &f->where[w], &has)) pass = 0;
    if (has && seen) *seen |= 1u << w;
    if (!pass && !seen) return 0;
  }
  return pass;
}

int lk_filter_field_passes(const lk_filter *f, int field, const char *value) {
  lk_item it;
  memset(&it, 0, sizeof it);
  it.field[field] = (char *)value;
  int conds = 0, any = 0;
  for (int c = 0; c < f->n; c++) {
    if (f->cond[c].field != field) continue;
    conds = 1;
    if (value && !strcasecmp(value, f->cond[c].value)) any = 1;
  }
  if (conds && !any) return 0;
  for (int w = 0; w < f->nwhere; w++) {
    int has = 0;
    if (f->where[w].field == field && !where_passes(&it, &f->where[w], &has)) return 0;
  }
  return 1;
}

int lk_filter_check_seen(const lk_filter *f, unsigned seen, lk_errbuf *err) {
  for (int w = 0; w < f->nwhere; w++)
    if (f->where[w].field < 0 && !(seen & (1u << w)))
      return lk_err_set(err, LK_EINVAL, "filter '%s': no item in the catalog has a column '%s' (the fields are "
                        "gender, masterCategory, subCategory, articleType, baseColour, season, year, usage, "
                        "productDisplayName, plus the extra columns of the catalog's styles.csv)",
                        f->where[w].expr, f->where[w].column);
  return 0;
}
