/* util/file.h — opening outside files for reading: only regular files are opened.
 * The open is non-blocking and fstat runs before any read, so a FIFO, directory, device or
 * socket named like a photo, CSV, model, recipe or catalog is refused at once with a message
 * saying what it is, instead of hanging or failing later as a "short read". And the one way
 * an output file is written: temp file -> fsync -> rename (lk_file_out). */
#ifndef LK_UTIL_FILE_H
#define LK_UTIL_FILE_H

#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util/err.h"

/* What a file of this mode is, for messages: "a directory", "a FIFO (named pipe)", ... */
const char *lk_file_kind(mode_t mode);
/* Opens path read-only (close-on-exec, blocking reads) if it is a regular file: *fd and, if st
 * is not NULL, its stat. Errors: LK_ENOTFOUND (no such file), LK_EINVAL (not a regular file:
 * the message names what it is), LK_EIO (other open/stat failures). */
int lk_file_open(const char *path, int *fd, struct stat *st, lk_errbuf *err);
/* The same as a stdio stream ("rb"). */
int lk_file_fopen(const char *path, FILE **f, struct stat *st, lk_errbuf *err);
/* Fails with lk_file_open's codes unless path is absent (returns 0, *exists = 0) or a regular
 * file (*exists = 1). For files opened by other libraries (SQLite). */
int lk_file_check(const char *path, int *exists, lk_errbuf *err);
/* Reads a whole regular file of at most max bytes into a malloc'd *buf (caller frees; never
 * NULL on success, even when *len is 0). LK_ETOOBIG past max. st as in lk_file_open. */
int lk_file_read(const char *path, size_t max, uint8_t **buf, size_t *len, struct stat *st,
                 lk_errbuf *err);

/* Advice for a read-only mapping of size bytes at p (mmap's address, offset 0) that is read at
 * random and meant to stay in the page cache, as a saved index's vector rows: huge pages
 * (MADV_HUGEPAGE), so pages read in from then on come as 2 MiB folios mapped whole and a random
 * row costs one short page walk, not a 4 KiB page's TLB miss (docs/PERFORMANCE.md "Peers at
 * 10M", "The re-rank was not the gap"). Only when the mapping takes at most
 * half the machine's memory: a file that will not stay cached would read 2 MiB a fault. Returns
 * 1 when advised, 0 when not (too small, too big, or the kernel declined: advice only). */
int lk_file_advise_huge(void *p, size_t size);

/* An output file written whole or not at all: lk_file_out_open creates "PATH.tmp" (truncated
 * if there), the caller writes to fp, lk_file_out_commit flushes, fsyncs, closes and renames
 * it to PATH (a reader never sees half a file; a crash leaves the old PATH); on any failure,
 * and in lk_file_out_abandon, the temporary file is removed. Not thread-safe; one writer. */
typedef struct lk_file_out {
  FILE *fp; /* NULL when not open */
  char tmp[PATH_MAX + 8], path[PATH_MAX];
} lk_file_out;
/* LK_EINVAL for a path too long, LK_EIO (naming the file) when it cannot be created. */
int lk_file_out_open(lk_file_out *f, const char *path, lk_errbuf *err);
/* 0, or LK_EIO naming PATH and the reason (a write error seen by the stream, disk full at
 * flush or fsync, rename). A file not open: 0. */
int lk_file_out_commit(lk_file_out *f, lk_errbuf *err);
void lk_file_out_abandon(lk_file_out *f); /* closes and removes the temporary file; not open: no-op */

#endif
