/* util/version.c — lk_version: the library's version (include/lookalike.h), so a program can
 * tell which liblookalike.so it was loaded with. */
#include "lookalike.h"

const char *lk_version(void) { return LK_VERSION; }
