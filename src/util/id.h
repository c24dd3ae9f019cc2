/* util/id.h — the one reader of product ids, wherever they come from (styles.csv, photo file
 * names, URLs, the command line): plain decimal digits (at least one), no sign or spaces,
 * no larger than INT64_MAX (9223372036854775807). Leading zeros are allowed ("01163" is 1163). */
#ifndef LK_UTIL_ID_H
#define LK_UTIL_ID_H

#include <stddef.h>
#include <stdint.h>

/* Parses the id at s[0..n) (n = all of it: no other byte may follow). 0, or -1 when it is
 * not an id (empty, a non-digit, or past INT64_MAX). */
int lk_id_parse(const char *s, size_t n, int64_t *id);
/* Parses the digits at the start of s; *end = the first byte after them. Same rules. */
int lk_id_parse_prefix(const char *s, int64_t *id, const char **end);

#endif
