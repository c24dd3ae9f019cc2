/* tests/faultshim.c — an LD_PRELOAD library for tests/reliability.sh that injects storage faults
 * into a lookalike process, only on files whose path contains $LK_FAULT_PATH (default ".db"):
 *   LK_FAULT_BYTES=N    writes fail once N bytes have been written to such files (a disk that
 *                       fills up: the write that crosses N is cut short, later ones fail)
 *   LK_FAULT_ERRNO=E    the error: ENOSPC (default) or EIO
 *   LK_FAULT_FSYNC=N    the N-th fsync/fdatasync of such a file fails with LK_FAULT_ERRNO
 *   LK_FAULT_KILL=N     the process kills itself (SIGKILL) at its N-th write to such a file,
 *                       before the write: a crash at an exact point of the write sequence
 *   LK_FAULT_ROFS=1     a read-only filesystem: opening such a file for writing, or creating
 *                       one (a -wal, a -shm), fails with EROFS, and so does access(W_OK) on
 *                       any path (a folder's test); reading works
 *   LK_FAULT_SIGNAL=S   the process sends itself signal S (HUP, INT or TERM) as it opens
 *   LK_FAULT_SIGNAL_AT=N  the N-th such file (default 1): a stop at an exact point of a run
 *   LK_FAULT_LOG=FILE   appends one line per injected fault (the test counts them)
 * Built without sanitizers (Makefile: $(BUILD)/tests/faultshim.so). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long long written, limit = -1;
static long nsync, sync_at = -1, nwrites, kill_at = -1, nopens, signal_at = 1;
static int fault_errno = ENOSPC, inited, rofs, signal_no;
static const char *match = ".db";

static void init(void) {
  if (inited) return;
  inited = 1;
  const char *e;
  if ((e = getenv("LK_FAULT_BYTES"))) limit = atoll(e);
  if ((e = getenv("LK_FAULT_FSYNC"))) sync_at = atol(e);
  if ((e = getenv("LK_FAULT_KILL"))) kill_at = atol(e);
  if ((e = getenv("LK_FAULT_ERRNO")) && !strcmp(e, "EIO")) fault_errno = EIO;
  if ((e = getenv("LK_FAULT_PATH")) && *e) match = e;
  if ((e = getenv("LK_FAULT_ROFS"))) rofs = atoi(e) != 0;
  if ((e = getenv("LK_FAULT_SIGNAL")))
    signal_no = !strcmp(e, "HUP") ? SIGHUP : !strcmp(e, "INT") ? SIGINT : !strcmp(e, "TERM") ? SIGTERM : 0;
  if ((e = getenv("LK_FAULT_SIGNAL_AT"))) signal_at = atol(e);
}

static void note(const char *what) {
  const char *log = getenv("LK_FAULT_LOG");
  if (!log) return;
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[160];
  int n = snprintf(line, sizeof line, "%s after %lld bytes, %ld writes, %ld syncs\n", what, written, nwrites, nsync);
  ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
  if (n > 0) (void)!real_write(fd, line, (size_t)n);
  close(fd);
}

/* Is fd a regular file whose path contains the pattern? */
static int watched(int fd) {
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) return 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strstr(path, match) != NULL;
}

/* Decides the fate of a write of n bytes: returns how many may go through (possibly fewer),
 * or -1 with errno set. */
static ssize_t admit(int fd, size_t n) {
  init();
  if (!watched(fd)) return (ssize_t)n;
  pthread_mutex_lock(&mu);
  nwrites++;
  if (kill_at > 0 && nwrites >= kill_at) {
    note("SIGKILL");
    kill(getpid(), SIGKILL);
  }
  ssize_t ok = (ssize_t)n;
  if (limit >= 0) {
    if (written >= limit) ok = -1;
    else if ((long long)n > limit - written) ok = (ssize_t)(limit - written);
    if (ok != (ssize_t)n) note(fault_errno == EIO ? "EIO" : "ENOSPC");
  }
  if (ok > 0) written += ok;
  pthread_mutex_unlock(&mu);
  if (ok < 0) errno = fault_errno;
  return ok;
}

#define REAL(name)                    \
  static __typeof__(&name) real_##name; \
  if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
  REAL(write);
  ssize_t ok = admit(fd, n);
  if (ok < 0) return -1;
  return real_write(fd, buf, (size_t)ok);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite);
  ssize_t ok = admit(fd, n);
  if (ok < 0) return -1;
  return real_pwrite(fd, buf, (size_t)ok, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite64);
  ssize_t ok = admit(fd, n);
  if (ok < 0) return -1;
  return real_pwrite64(fd, buf, (size_t)ok, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  REAL(writev);
  size_t n = 0;
  for (int i = 0; i < cnt; i++) n += iov[i].iov_len;
  ssize_t ok = admit(fd, n);
  if (ok < 0) return -1;
  if ((size_t)ok < n) { /* a short write: only the first iovecs, as far as allowed */
    errno = fault_errno;
    return -1;
  }
  return real_writev(fd, iov, cnt);
}

static int sync_fault(int fd) {
  init();
  if (sync_at <= 0 || !watched(fd)) return 0;
  pthread_mutex_lock(&mu);
  int fail = ++nsync == sync_at;
  if (fail) note(fault_errno == EIO ? "fsync EIO" : "fsync ENOSPC");
  pthread_mutex_unlock(&mu);
  if (fail) errno = fault_errno;
  return fail;
}

int fsync(int fd) {
  REAL(fsync);
  return sync_fault(fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync);
  return sync_fault(fd) ? -1 : real_fdatasync(fd);
}

/* ---- opens: LK_FAULT_ROFS and LK_FAULT_SIGNAL */

/* Decides the fate of an open of path with flags: 0 to let it through, or -1 with errno. */
static int admit_open(const char *path, int flags) {
  init();
  if (!path || !strstr(path, match)) return 0;
  if (signal_no) {
    pthread_mutex_lock(&mu);
    int now = ++nopens == signal_at;
    pthread_mutex_unlock(&mu);
    if (now) {
      note("signal");
      raise(signal_no); /* to this thread: handled before the open goes on, even on a busy machine */
    }
  }
  if (rofs && (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC))) {
    note("EROFS");
    errno = EROFS;
    return -1;
  }
  return 0;
}

static int fopen_flags(const char *mode) {
  return mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+')) ? O_RDWR | O_CREAT : O_RDONLY;
}

#define OPEN_MODE(flags) \
  mode_t mode = 0;       \
  if ((flags) & O_CREAT) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }

int open(const char *path, int flags, ...) {
  REAL(open);
  OPEN_MODE(flags);
  return admit_open(path, flags) ? -1 : real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  REAL(open64);
  OPEN_MODE(flags);
  return admit_open(path, flags) ? -1 : real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
  REAL(openat);
  OPEN_MODE(flags);
  return admit_open(path, flags) ? -1 : real_openat(dirfd, path, flags, mode);
}

FILE *fopen(const char *path, const char *mode) {
  REAL(fopen);
  return admit_open(path, fopen_flags(mode)) ? NULL : real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode) {
  REAL(fopen64);
  return admit_open(path, fopen_flags(mode)) ? NULL : real_fopen64(path, mode);
}

int access(const char *path, int mode) {
  REAL(access);
  init();
  if (rofs && (mode & W_OK)) {
    note("EROFS (access)");
    errno = EROFS;
    return -1;
  }
  return real_access(path, mode);
}
