/* search/filter.h — which items a search may return: text equality on the styles.csv fields
 * ("gender=Women") and comparisons on numbers, booleans or text ("price<=50", "in_stock=true",
 * "year>=2012"), on a field or on a column of the item's `extra` JSON (the styles.csv columns
 * beyond the standard ones). The engine evaluates them inside the search (search/engine.h). */
#ifndef LK_SEARCH_FILTER_H
#define LK_SEARCH_FILTER_H

#include <stddef.h>

#include "catalog/catalog.h"
#include "lookalike.h"

#define LK_FILTER_MAX 32       /* field=value conditions */
#define LK_FILTER_MAX_WHERE 16 /* comparisons */
#define LK_FILTER_MAX_EXPR 192 /* longest comparison, as typed */

/* Comparison operators, longest spelling first where one is a prefix of another. */
enum lk_filter_op { LK_FILTER_LE = 0, LK_FILTER_GE, LK_FILTER_NE, LK_FILTER_LT, LK_FILTER_GT, LK_FILTER_EQ };
/* What a comparison's value is: a number (any operator), true/false (= and != only) or text
 * (= and !=, case-insensitive). */
enum lk_filter_kind { LK_FILTER_NUM = 0, LK_FILTER_BOOL, LK_FILTER_TEXT };

typedef struct lk_filter_where {
  char column[64];   /* a styles.csv field or a key of the item's extra object */
  int field;         /* lk_catalog_fields index, or -1 for a key of extra */
  int op;            /* enum lk_filter_op */
  int kind;          /* enum lk_filter_kind */
  double num;        /* LK_FILTER_NUM */
  int truth;         /* LK_FILTER_BOOL */
  char text[128];    /* LK_FILTER_TEXT */
  char expr[LK_FILTER_MAX_EXPR]; /* as given, for echoing back */
} lk_filter_where;

/* The filter behind the public opaque lk_filter (lookalike.h: lk_filter_new / free / add /
 * add_where). Conditions "field=value": equal fields are OR-ed, different fields AND-ed; values compare
 * case-insensitively. Fields are the styles.csv columns (lk_catalog_fields). Comparisons
 * (where[]) are AND-ed with them and with each other. An item whose column is missing, or
 * holds no number for a numeric comparison (no boolean for a boolean one), fails it, with
 * != too. A zeroed lk_filter lets everything through. */
struct lk_filter {
  int n;
  struct {
    int field;        /* index into lk_catalog_fields */
    char value[128];
  } cond[LK_FILTER_MAX];
  int nwhere;
  lk_filter_where where[LK_FILTER_MAX_WHERE];
};

/* lk_filter_add (the `--where` of the CLI): public, lookalike.h. */
/* Appends (field name, value). LK_EINVAL for unknown fields or a value not UTF-8. */
int lk_filter_add_kv(lk_filter *f, const char *field, const char *value, lk_errbuf *err);
/* lk_filter_add_where (public, lookalike.h) parses "COLUMN OP VALUE" (OP one of <= >= != < > =;
 * blanks around the parts allowed; COLUMN of letters, digits, _ - . and space-free; VALUE a
 * number (util/num.h), true/false or, for = and !=, text) and appends it. */
/* Field index of a name (case-insensitive), or -1. */
int lk_filter_field(const char *name);
/* 1 when the item passes every condition of f (NULL f: 1). *seen (may be NULL) gets bit w set
 * for each comparison w on an extra column that the item has, whatever its value. */
int lk_filter_match(const lk_item *it, const lk_filter *f, unsigned *seen);
/* 1 when an item whose field `field` holds value (NULL: none) passes every condition of f on
 * that field (its field=value conditions and comparisons; conditions on other fields and on
 * extra columns are not looked at), as lk_filter_match decides them. */
int lk_filter_field_passes(const lk_filter *f, int field, const char *value);
/* The columns of comparisons on extra that no item has (bit w clear in seen, for the
 * LK_FILTER_MAX_WHERE low bits): LK_EINVAL with a message naming the first (a typo, most
 * likely), else 0. */
int lk_filter_check_seen(const lk_filter *f, unsigned seen, lk_errbuf *err);
/* Finds top-level key `key` in the JSON object text json and points *val / *len at its value's
 * text (a string's without the quotes, escapes left as they are; *is_string says which).
 * 1 when found, 0 when not or when json is not an object. Never reads past the terminating NUL. */
int lk_filter_json_get(const char *json, const char *key, const char **val, size_t *len, int *is_string);

#endif
