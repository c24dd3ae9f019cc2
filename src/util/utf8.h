/* util/utf8.h — UTF-8 validation for text that leaves lookalike for stricter readers
 * (PostgreSQL text columns, JSON exports): invalid bytes become U+FFFD. */
#ifndef LK_UTIL_UTF8_H
#define LK_UTIL_UTF8_H

/* Length of the valid UTF-8 sequence at s (1..4; s NUL-terminated), or 0 if none starts
 * there (overlong forms, surrogates and code points past U+10FFFF are invalid). */
int lk_utf8_len(const unsigned char *s);
/* *out = NULL when s is valid UTF-8; else a malloc'd copy with U+FFFD in place of each
 * invalid byte. 0 or LK_ENOMEM. */
int lk_utf8_fix(const char *s, char **out);
/* Code points in valid UTF-8 s (each invalid byte counts one). */
long lk_utf8_count(const char *s);

#endif
