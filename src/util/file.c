/* util/file.c — the one way lookalike opens a file it reads: O_NONBLOCK so that opening a
 * FIFO never waits for a writer, fstat before any read, only regular files kept (then the
 * descriptor is made blocking again for ordinary reads). Output files go temp -> fsync ->
 * rename (lk_file_out). Mapped files read at random get huge-page advice (lk_file_advise_huge).
 * See file.h. */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *lk_file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

static int not_regular(const char *path, mode_t mode, lk_errbuf *err) {
  return lk_err_set(err, LK_EINVAL, "%s is %s, not a regular file", path,
                    lk_file_kind(mode));
}

int lk_file_open(const char *path, int *fd, struct stat *st, lk_errbuf *err) {
  *fd = -1;
  if (!path || !*path) return lk_err_set(err, LK_EINVAL, "empty file name");
  int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat sb;
  if (f < 0) {
    int e = errno;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) return not_regular(path, sb.st_mode, err); /* a socket: ENXIO */
    return lk_err_set(err, e == ENOENT ? LK_ENOTFOUND : LK_EIO, "cannot open %s: %s", path, strerror(e));
  }
  if (fstat(f, &sb) != 0) {
    int e = errno;
    close(f);
    return lk_err_set(err, LK_EIO, "cannot stat %s: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(f);
    return not_regular(path, sb.st_mode, err);
  }
  int fl = fcntl(f, F_GETFL);
  if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    int e = errno;
    close(f);
    return lk_err_set(err, LK_EIO, "cannot open %s: %s", path, strerror(e));
  }
  if (st) *st = sb;
  *fd = f;
  return 0;
}

int lk_file_fopen(const char *path, FILE **out, struct stat *st, lk_errbuf *err) {
  *out = NULL;
  int fd, rc = lk_file_open(path, &fd, st, err);
  if (rc) return rc;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return lk_err_set(err, LK_ENOMEM, "out of memory opening %s", path);
  }
  *out = f;
  return 0;
}

int lk_file_check(const char *path, int *exists, lk_errbuf *err) {
  *exists = 0;
  struct stat sb;
  if (!path || !*path) return lk_err_set(err, LK_EINVAL, "empty file name");
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT) return 0;
    return lk_err_set(err, LK_EIO, "cannot stat %s: %s", path, strerror(errno));
  }
  if (!S_ISREG(sb.st_mode)) return not_regular(path, sb.st_mode, err);
  *exists = 1;
  return 0;
}

int lk_file_read(const char *path, size_t max, uint8_t **buf, size_t *len, struct stat *st,
                 lk_errbuf *err) {
  *buf = NULL;
  *len = 0;
  struct stat sb;
  int fd, rc = lk_file_open(path, &fd, &sb, err);
  if (rc) return rc;
  if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
    close(fd);
    return lk_err_set(err, LK_ETOOBIG, "%s is %lld bytes, more than the limit of %zu", path,
                      (long long)sb.st_size, max);
  }
  size_t size = (size_t)sb.st_size, got = 0;
  uint8_t *b = malloc(size ? size : 1);
  if (!b) {
    close(fd);
    return lk_err_set(err, LK_ENOMEM, "out of memory reading %s", path);
  }
  while (got < size) {
    ssize_t n = read(fd, b + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      free(b);
      close(fd);
      return lk_err_set(err, LK_EIO, "cannot read %s: %s", path, strerror(e));
    }
    if (n == 0) break; /* the file shrank: keep what is there */
    got += (size_t)n;
  }
  close(fd);
  if (st) *st = sb;
  *buf = b;
  *len = got;
  return 0;
}

int lk_file_out_open(lk_file_out *f, const char *path, lk_errbuf *err) {
  f->fp = NULL;
  f->tmp[0] = f->path[0] = 0;
  if (!path || !*path) return lk_err_set(err, LK_EINVAL, "empty output file name");
  if (strlen(path) >= sizeof f->path) return lk_err_set(err, LK_EINVAL, "output path too long");
  snprintf(f->path, sizeof f->path, "%s", path);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp", path);
  if (!(f->fp = fopen(f->tmp, "wb"))) return lk_err_set(err, LK_EIO, "%s: %s", f->tmp, strerror(errno));
  return 0;
}

int lk_file_out_commit(lk_file_out *f, lk_errbuf *err) {
  if (!f->fp) return 0;
  errno = 0;
  int bad = ferror(f->fp) || fflush(f->fp) || fsync(fileno(f->fp));
  int e = errno ? errno : EIO;
  if (fclose(f->fp) && !bad) bad = 1, e = errno;
  f->fp = NULL;
  if (bad || rename(f->tmp, f->path)) {
    if (!bad) e = errno;
    unlink(f->tmp);
    return lk_err_set(err, LK_EIO, "%s: %s", f->path, strerror(e));
  }
  return 0;
}

void lk_file_out_abandon(lk_file_out *f) {
  if (!f->fp) return;
  fclose(f->fp);
  f->fp = NULL;
  unlink(f->tmp);
}

int lk_file_advise_huge(void *p, size_t size) {
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  if (!p || size < ((size_t)2 << 20) || pages <= 0 || psize <= 0) return 0;
  if (size / (size_t)psize > (size_t)pages / 2) return 0;
  return madvise(p, size, MADV_HUGEPAGE) == 0;
}
