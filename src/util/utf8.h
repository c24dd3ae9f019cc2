/* util/utf8.h — UTF-8 for every text lookalike reads or writes: validation, repair (invalid
 * bytes become U+FFFD, for catalogs and JSON output) and decoding of text read from outside
 * (styles.csv) in the single-byte encodings spreadsheets export (Windows-1252, Latin-1). */
#ifndef LK_UTIL_UTF8_H
#define LK_UTIL_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4; s NUL-terminated), or 0 if none starts
 * there (overlong forms, surrogates and code points past U+10FFFF are invalid). */
int lk_utf8_len(const unsigned char *s);
/* *out = NULL when s is valid UTF-8; else a malloc'd copy with U+FFFD in place of each
 * invalid byte. 0 or LK_ENOMEM. */
int lk_utf8_fix(const char *s, char **out);
/* Code points in valid UTF-8 s (each invalid byte counts one). */
long lk_utf8_count(const char *s);

/* Replaces in place each byte of s that is not valid UTF-8 by '?' (for messages: a file name
 * in another encoding, or a "%.40s" or a full buffer that ends inside a character). */
void lk_utf8_scrub(char *s);

/* Encodings of text read from outside (`index --encoding`). LK_ENC_AUTO: UTF-8, with each
 * byte that is not part of valid UTF-8 decoded as Windows-1252 (the common spreadsheet case);
 * LK_ENC_UTF8: UTF-8 only, invalid bytes refused. */
enum lk_text_enc { LK_ENC_AUTO = 0, LK_ENC_UTF8, LK_ENC_CP1252, LK_ENC_LATIN1 };
/* "auto", "utf-8"/"utf8", "cp1252"/"windows-1252", "latin1"/"iso-8859-1" (any case) → enum
 * value; -1 for an unknown name. */
int lk_utf8_enc_parse(const char *name);
/* Decodes s (NUL-terminated) from enc into UTF-8: *out = NULL when s is already right as it
 * is (valid UTF-8 under AUTO/UTF8, pure ASCII otherwise), else a malloc'd UTF-8 copy. With
 * recoded non-NULL, *recoded = bytes decoded as Windows-1252 under AUTO (else 0). Returns 0,
 * LK_ENOMEM, or LK_ECORRUPT under LK_ENC_UTF8 when s is not valid UTF-8 (*bad_at = the
 * offset of the first invalid byte when bad_at is non-NULL). */
int lk_utf8_decode(const char *s, int enc, char **out, long *recoded, size_t *bad_at);

#endif
