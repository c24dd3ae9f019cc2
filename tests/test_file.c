/* tests/test_file.c — only regular files are opened (util/file): the helper on a regular file,
 * a FIFO, a directory, a character device, a socket and a missing path, then every reader of
 * outside files (photos, CSV, models, recipes, catalogs, hashes) on the same non-files. An
 * alarm turns a blocking open (the bug: a FIFO waited for a writer forever) into a failure.
 * Output files (lk_file_out): written whole under PATH.tmp and renamed, or not at all. Huge-page
 * advice for mapped files only between 2 MiB and half the machine's memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "catalog/catalog.h"
#include "catalog/csv.h"
#include "embed/recipe.h"
#include "image/image.h"
#include "nn/model.h"
#include "util/file.h"
#include "util/hash.h"
#include "testutil.h"

typedef struct kind_case {
  const char *name; /* file name in the temp dir (NULL: /dev/null) */
  int rc;           /* expected code from every reader */
  const char *msg;  /* substring of the message */
} kind_case;

static char *dir;
static int sock_fd = -1;

static int setup(void **state) {
  dir = lk_test_mkdtemp();
  if (!dir) return -1;
  if (mkfifo(lk_test_path("%s/fifo.jpg", dir), 0600)) return -1;
  if (mkfifo(lk_test_path("%s/fifo.json", dir), 0600)) return -1;
  if (mkdir(lk_test_path("%s/dir.jpg", dir), 0700)) return -1;
  if (mkdir(lk_test_path("%s/dir.json", dir), 0700)) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s/sock.jpg", dir);
  sock_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (sock_fd < 0 || bind(sock_fd, (struct sockaddr *)&a, sizeof a)) return -1;
  if (lk_test_write_file(lk_test_path("%s/ok.csv", dir), "id,name\n1,a\n", 12)) return -1;
  alarm(20); /* a regression blocks in open(): fail instead of hanging the suite */
  return 0;
}

static int teardown(void **state) {
  alarm(0);
  if (sock_fd >= 0) close(sock_fd);
  lk_test_rmtree(dir);
  free(dir);
  return 0;
}

static const kind_case kinds[] = {
    {"fifo.jpg", LK_EINVAL, "is a FIFO (named pipe), not a regular file"},
    {"dir.jpg", LK_EINVAL, "is a directory, not a regular file"},
    {"sock.jpg", LK_EINVAL, "is a socket, not a regular file"}, /* open() itself fails (ENXIO) */
    {NULL, LK_EINVAL, "/dev/null is a character device, not a regular file"},
    {"missing.jpg", LK_ENOTFOUND, "No such file or directory"},
};

static const char *path_of(const kind_case *k) {
  return k->name ? lk_test_path("%s/%s", dir, k->name) : "/dev/null";
}

static void test_helper(void **state) {
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    const kind_case *k = &kinds[i];
    lk_errbuf eb = {0};
    int fd = 7;
    int rc = lk_file_open(path_of(k), &fd, NULL, &eb);
    if (rc != k->rc || !strstr(eb.msg, k->msg)) fail_msg("%s: rc %d, '%s'", path_of(k), rc, eb.msg);
    assert_int_equal(fd, -1);
    uint8_t *buf = (uint8_t *)"x";
    size_t len = 1;
    assert_int_equal(lk_file_read(path_of(k), 1 << 20, &buf, &len, NULL, &eb), k->rc);
    assert_null(buf);
    assert_int_equal(len, 0);
    FILE *f = stdin;
    assert_int_equal(lk_file_fopen(path_of(k), &f, NULL, &eb), k->rc);
    assert_null(f);
  }
  /* lk_file_check: a missing path is fine (a catalog about to be created), non-files are not */
  lk_errbuf eb = {0};
  int exists = 1;
  assert_int_equal(lk_file_check(lk_test_path("%s/missing.db", dir), &exists, &eb), 0);
  assert_int_equal(exists, 0);
  assert_int_equal(lk_file_check(lk_test_path("%s/fifo.jpg", dir), &exists, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "FIFO"));
  assert_int_equal(lk_file_check(lk_test_path("%s/ok.csv", dir), &exists, &eb), 0);
  assert_int_equal(exists, 1);
  /* A regular file reads whole, and blocking again after the non-blocking open. */
  uint8_t *buf;
  size_t len;
  struct stat st;
  assert_int_equal(lk_file_read(lk_test_path("%s/ok.csv", dir), 100, &buf, &len, &st, &eb), 0);
  assert_int_equal(len, 12);
  assert_int_equal(st.st_size, 12);
  assert_memory_equal(buf, "id,name\n1,a\n", 12);
  free(buf);
  assert_int_equal(lk_file_read(lk_test_path("%s/ok.csv", dir), 11, &buf, &len, NULL, &eb), LK_ETOOBIG);
  assert_non_null(strstr(eb.msg, "more than the limit"));
}

/* Every reader of an outside file refuses the same non-files quickly, naming what they are. */
static void test_readers(void **state) {
  const char *fifo = lk_test_path("%s/fifo.jpg", dir), *fjson = lk_test_path("%s/fifo.json", dir);
  const char *djson = lk_test_path("%s/dir.json", dir);
  lk_errbuf eb = {0};
  lk_image img;
  assert_int_equal(lk_image_load(fifo, NULL, 0, &img, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "FIFO"));
  assert_int_equal(lk_image_load(lk_test_path("%s/dir.jpg", dir), NULL, 0, &img, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "is a directory")); /* was "short read" (issue 15, item 8) */
  lk_csv *c = NULL;
  assert_int_equal(lk_csv_open(fifo, NULL, &c, &eb), LK_EINVAL);
  assert_null(c);
  assert_non_null(strstr(eb.msg, "FIFO"));
  lk_model *m = NULL;
  assert_int_equal(lk_model_load(fifo, &m, &eb), LK_EINVAL);
  assert_null(m);
  lk_recipe r;
  assert_int_equal(lk_recipe_load(fjson, &r, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "FIFO"));
  assert_int_equal(lk_recipe_load(djson, &r, &eb), LK_EINVAL);
  assert_non_null(strstr(eb.msg, "is a directory"));
  char hex[LK_SHA256_HEX];
  assert_int_equal(lk_hash_sha256_file(fifo, hex, &eb), LK_EINVAL);
  lk_catalog *cat = NULL;
  assert_int_equal(lk_catalog_open(fifo, LK_CATALOG_READONLY, &cat, &eb), LK_EINVAL);
  assert_int_equal(lk_catalog_open(fifo, LK_CATALOG_CREATE, &cat, &eb), LK_EINVAL);
  assert_int_equal(lk_catalog_open(lk_test_path("%s/dir.jpg", dir), LK_CATALOG_CREATE, &cat, &eb), LK_EINVAL);
  assert_null(cat);
  assert_non_null(strstr(eb.msg, "is a directory"));
}

static void test_out(void **state) {
  lk_file_out f;
  lk_errbuf eb = {0};
  const char *path = lk_test_path("%s/out.csv", dir), *tmp = lk_test_path("%s/out.csv.tmp", dir);
  /* committed: the content at PATH, no temporary file */
  assert_int_equal(lk_file_out_open(&f, path, &eb), 0);
  assert_int_equal(access(tmp, F_OK), 0);
  assert_int_equal(access(path, F_OK), -1); /* nothing at PATH until the commit */
  fputs("a,b\n", f.fp);
  assert_int_equal(lk_file_out_commit(&f, &eb), 0);
  assert_null(f.fp);
  assert_int_equal(lk_file_out_commit(&f, &eb), 0); /* not open: nothing to do */
  size_t len = 0;
  uint8_t *got = lk_test_read_file(path, &len);
  assert_non_null(got);
  assert_int_equal(len, 4);
  assert_memory_equal(got, "a,b\n", 4);
  free(got);
  assert_int_equal(access(tmp, F_OK), -1);
  /* abandoned: the old file stays as it was, the temporary one goes */
  assert_int_equal(lk_file_out_open(&f, path, &eb), 0);
  fputs("half", f.fp);
  lk_file_out_abandon(&f);
  lk_file_out_abandon(&f); /* twice: no-op */
  assert_int_equal(access(tmp, F_OK), -1);
  got = lk_test_read_file(path, &len);
  assert_int_equal(len, 4);
  free(got);
  /* a folder that does not exist, an empty name, a name too long */
  assert_int_equal(lk_file_out_open(&f, lk_test_path("%s/no/such.csv", dir), &eb), LK_EIO);
  assert_non_null(strstr(eb.msg, "No such file or directory"));
  assert_null(f.fp);
  assert_int_equal(lk_file_out_open(&f, "", &eb), LK_EINVAL);
  char *lng = malloc(PATH_MAX + 10);
  memset(lng, 'x', PATH_MAX + 9);
  lng[PATH_MAX + 9] = 0;
  assert_int_equal(lk_file_out_open(&f, lng, &eb), LK_EINVAL);
  free(lng);
  /* a write error the stream saw (disk full) fails the commit: the file is not replaced */
  if (access("/dev/full", W_OK) == 0) {
    assert_int_equal(lk_file_out_open(&f, path, &eb), 0);
    fclose(f.fp);
    assert_non_null(f.fp = fopen("/dev/full", "w"));
    fputs("x", f.fp);
    assert_int_equal(lk_file_out_commit(&f, &eb), LK_EIO);
    got = lk_test_read_file(path, &len);
    assert_int_equal(len, 4);
    free(got);
  }
}

/* The saved index's CRC-32 (ISA-L) gives zlib's values, continued over pieces as in one go,
 * at every length and alignment the kernels split on: files written with either read back. */
static void test_crc32(void **state) {
  (void)state;
  enum { N = 5000 };
  uint8_t *b = malloc(N + 64);
  assert_non_null(b);
  for (int i = 0; i < N + 64; i++) b[i] = (uint8_t)(i * 2654435761u >> 13);
  assert_int_equal(lk_hash_crc32(0, b, 0), 0);
  assert_int_equal(lk_hash_crc32(0, "123456789", 9), 0xcbf43926u); /* the CRC-32 check value */
  static const size_t lens[] = {1, 7, 8, 15, 16, 63, 64, 65, 255, 256, 1000, 4096, N};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
    for (int off = 0; off < 64; off += 13) {
      uint32_t z = (uint32_t)crc32(0, b + off, (uInt)lens[i]);
      assert_int_equal(lk_hash_crc32(0, b + off, lens[i]), z);
      size_t h = lens[i] / 3;
      assert_int_equal(lk_hash_crc32(lk_hash_crc32(0, b + off, h), b + off + h, lens[i] - h), z);
    }
  free(b);
}

/* lk_file_advise_huge: a file's mapping of 8 MiB is advised where the kernel has huge pages
 * (madvise answers), nothing under 2 MiB, nothing past half the memory (a reservation of the
 * whole memory's size), nothing at NULL. */
static void test_advise_huge(void **state) {
  (void)state;
  char path[] = "/tmp/lk-test-huge-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t big = (size_t)8 << 20;
  assert_int_equal(ftruncate(fd, (off_t)big), 0);
  void *p = mmap(NULL, big, PROT_READ, MAP_SHARED, fd, 0);
  assert_true(p != MAP_FAILED);
  int kernel = madvise(p, big, MADV_HUGEPAGE) == 0; /* what the kernel says to the same advice */
  madvise(p, big, MADV_NOHUGEPAGE);
  assert_int_equal(lk_file_advise_huge(p, big), kernel);
  assert_int_equal(lk_file_advise_huge(p, ((size_t)2 << 20) - 4096), 0);
  assert_int_equal(lk_file_advise_huge(NULL, big), 0);
  munmap(p, big);
  close(fd);
  unlink(path);
  size_t mem = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
  void *r = mmap(NULL, mem, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r != MAP_FAILED) {
    assert_int_equal(lk_file_advise_huge(r, mem), 0);
    munmap(r, mem);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_helper),
      cmocka_unit_test(test_readers),
      cmocka_unit_test(test_out),
      cmocka_unit_test(test_crc32),
      cmocka_unit_test(test_advise_huge),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
