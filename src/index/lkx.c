/* index/lkx.c — the saved index file's container: header, section table, crc32 per section,
 * written through util/file.h's temp -> fsync -> rename, read through mmap with every offset
 * checked against the file size (format in lkx.h). */
#include "index/lkx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/hash.h"
#include "util/size.h"

#define MAGIC "LKINDEX\n"
#define HDR_TABLE 64
#define HDR_CRC (LKX_PAGE - 4)
#define ENTRY 24

struct lk_lkx {
  const uint8_t *base;
  size_t size;
  int mapped;
  lkx_meta meta;
  uint32_t nsect;
  struct { uint32_t tag; const uint8_t *data; size_t size; } sect[LKX_MAX_SECT];
};

static int little_endian(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int is_lazy(uint32_t tag, const uint32_t *lazy, int nlazy) {
  for (int i = 0; i < nlazy; i++)
    if (lazy[i] == tag) return 1;
  return 0;
}

static int parse(const void *data, size_t size, const uint32_t *lazy, int nlazy, lk_lkx **out, lk_errbuf *err);

int lk_lkx_parse(const void *data, size_t size, lk_lkx **out, lk_errbuf *err) {
  return parse(data, size, NULL, 0, out, err);
}

/* The header page's checks (size: the file's bytes, at least the page's to be read) and its
 * fields into *m. */
static int header(const uint8_t *b, size_t size, lkx_meta *m, lk_errbuf *err) {
  if (!little_endian()) return lk_err_set(err, LK_EMISMATCH, "saved index: this host is big-endian");
  if (size < LKX_PAGE) return lk_err_set(err, LK_ECORRUPT, "saved index: truncated (%zu bytes, no header)", size);
  if (memcmp(b, MAGIC, 8)) return lk_err_set(err, LK_ECORRUPT, "saved index: not a lookalike index file");
  if (rd32(b + HDR_CRC) != lk_hash_crc32(0, b, HDR_CRC)) return lk_err_set(err, LK_ECORRUPT, "saved index: header checksum mismatch");
  if (rd32(b + 8) != LKX_VERSION)
    return lk_err_set(err, LK_EMISMATCH, "saved index: format version %u, this lookalike reads %d", rd32(b + 8), LKX_VERSION);
  uint32_t ns = rd32(b + 12);
  if (ns > LKX_MAX_SECT) return lk_err_set(err, LK_ECORRUPT, "saved index: %u sections (at most %d)", ns, LKX_MAX_SECT);
  memset(m, 0, sizeof *m);
  memcpy(m->recipe_id, b + 16, 16);
  m->recipe_id[16] = '\0';
  memcpy(&m->catalog_version, b + 40, 8);
  m->items = rd64(b + 48);
  m->dim = rd32(b + 56);
  m->rows_key = rd32(b + 60);
  return 0;
}

int lk_lkx_peek(const char *path, lkx_meta *m, lk_errbuf *err) {
  int fd, rc;
  struct stat st;
  if ((rc = lk_file_open(path, &fd, &st, err))) return rc;
  uint8_t h[LKX_PAGE];
  ssize_t got = st.st_size >= LKX_PAGE ? pread(fd, h, LKX_PAGE, 0) : 0;
  close(fd);
  size_t size = st.st_size < LKX_PAGE || got == LKX_PAGE ? (size_t)st.st_size : 0; /* (0: a short read) */
  if ((rc = header(h, size, m, err))) {
    char why[LK_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", lk_err_msg(err));
    return lk_err_set(err, rc, "%s: %s", path, why);
  }
  return 0;
}

static int parse(const void *data, size_t size, const uint32_t *lazy, int nlazy, lk_lkx **out, lk_errbuf *err) {
  *out = NULL;
  const uint8_t *b = data;
  lkx_meta m;
  int rc = header(b, size, &m, err);
  if (rc) return rc;
  uint32_t ns = rd32(b + 12);
  lk_lkx *x = calloc(1, sizeof *x);
  if (!x) return lk_err_set(err, LK_ENOMEM, "out of memory");
  x->base = b;
  x->size = size;
  x->meta = m;
  x->nsect = ns;
  for (uint32_t i = 0; i < ns; i++) {
    const uint8_t *e = b + HDR_TABLE + (size_t)i * ENTRY;
    uint64_t off = rd64(e + 8), len = rd64(e + 16);
    size_t end;
    if (off % LKX_PAGE || off < LKX_PAGE || off > SIZE_MAX || len > SIZE_MAX || lk_size_add((size_t)off, (size_t)len, &end) ||
        end > size) {
      free(x);
      return lk_err_set(err, LK_ECORRUPT, "saved index: section %u lies outside the file (truncated?)", i);
    }
    if (!is_lazy(rd32(e), lazy, nlazy) && lk_hash_crc32(0, b + off, (size_t)len) != rd32(e + 4)) {
      free(x);
      return lk_err_set(err, LK_ECORRUPT, "saved index: section %u checksum mismatch (damaged file)", i);
    }
    x->sect[i].tag = rd32(e);
    x->sect[i].data = b + off;
    x->sect[i].size = (size_t)len;
  }
  *out = x;
  return 0;
}

int lk_lkx_map(const char *path, lk_lkx **out, lk_errbuf *err) { return lk_lkx_map_lazy(path, NULL, 0, out, err); }

int lk_lkx_map_lazy(const char *path, const uint32_t *lazy, int nlazy, lk_lkx **out, lk_errbuf *err) {
  *out = NULL;
  int fd, rc;
  struct stat st;
  if ((rc = lk_file_open(path, &fd, &st, err))) return rc;
  if ((uint64_t)st.st_size > LKX_MAX_BYTES) {
    close(fd);
    return lk_err_set(err, LK_ETOOBIG, "%s: saved index larger than 1 TiB", path);
  }
  size_t size = (size_t)st.st_size;
  void *p = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  int e = errno;
  close(fd);
  if (!size) return lk_err_set(err, LK_ECORRUPT, "%s: saved index: empty file", path);
  if (p == MAP_FAILED) return lk_err_set(err, LK_EIO, "%s: mmap: %s", path, strerror(e));
  madvise(p, size, MADV_SEQUENTIAL); /* the verification reads it front to back */
  if ((rc = parse(p, size, lazy, nlazy, out, err))) {
    munmap(p, size);
    char why[LK_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", lk_err_msg(err));
    return lk_err_set(err, rc, "%s: %s", path, why);
  }
  madvise(p, size, MADV_RANDOM);
  (*out)->mapped = 1;
  return 0;
}

void lk_lkx_close(lk_lkx *x) {
  if (!x) return;
  if (x->mapped) munmap((void *)x->base, x->size);
  free(x);
}

const lkx_meta *lk_lkx_meta(const lk_lkx *x) { return &x->meta; }

int lk_lkx_section(const lk_lkx *x, uint32_t tag, size_t elem, size_t count, const void **data, size_t *size,
                   lk_errbuf *err) {
  for (uint32_t i = 0; i < x->nsect; i++) {
    if (x->sect[i].tag != tag) continue;
    size_t want;
    if (count ? lk_size_mul(elem, count, &want) || want != x->sect[i].size : x->sect[i].size % elem)
      return lk_err_set(err, LK_ECORRUPT, "saved index: section %u has %zu bytes, not the size its header implies", i,
                        x->sect[i].size);
    *data = x->sect[i].data;
    *size = x->sect[i].size;
    return 0;
  }
  return lk_err_set(err, LK_ECORRUPT, "saved index: section 0x%08x missing", tag);
}

/* ---- writer ---- */

static int pad_to_page(lk_lkx_writer *w, lk_errbuf *err) {
  static const uint8_t zero[LKX_PAGE];
  size_t n = (size_t)((LKX_PAGE - w->pos % LKX_PAGE) % LKX_PAGE);
  if (n && fwrite(zero, 1, n, w->out.fp) != n) return lk_err_set(err, LK_EIO, "%s: write failed", w->out.path);
  w->pos += n;
  return 0;
}

int lk_lkx_create(lk_lkx_writer *w, const char *path, const lkx_meta *meta, lk_errbuf *err) {
  memset(w, 0, sizeof *w);
  if (!little_endian()) return lk_err_set(err, LK_EMISMATCH, "saved index: this host is big-endian");
  w->meta = *meta;
  int rc = lk_file_out_open(&w->out, path, err);
  if (rc) return rc;
  static const uint8_t zero[LKX_PAGE]; /* the header, filled in at commit */
  if (fwrite(zero, 1, LKX_PAGE, w->out.fp) != LKX_PAGE) {
    lk_file_out_abandon(&w->out);
    return lk_err_set(err, LK_EIO, "%s: write failed", path);
  }
  w->pos = LKX_PAGE;
  return 0;
}

int lk_lkx_begin(lk_lkx_writer *w, uint32_t tag, lk_errbuf *err) {
  if (w->nsect >= LKX_MAX_SECT) return lk_err_set(err, LK_EINVAL, "saved index: more than %d sections", LKX_MAX_SECT);
  w->sect[w->nsect].tag = tag;
  w->sect[w->nsect].crc = 0;
  w->sect[w->nsect].off = w->pos;
  w->sect[w->nsect].size = 0;
  return 0;
}

int lk_lkx_write(lk_lkx_writer *w, const void *data, size_t size, lk_errbuf *err) {
  if (!size) return 0;
  if (fwrite(data, 1, size, w->out.fp) != size) return lk_err_set(err, LK_EIO, "%s: write failed", w->out.path);
  w->sect[w->nsect].crc = lk_hash_crc32(w->sect[w->nsect].crc, data, size);
  w->sect[w->nsect].size += size;
  w->pos += size;
  return 0;
}

int lk_lkx_end(lk_lkx_writer *w, lk_errbuf *err) {
  w->nsect++;
  return pad_to_page(w, err);
}

int lk_lkx_add(lk_lkx_writer *w, uint32_t tag, const void *data, size_t size, lk_errbuf *err) {
  int rc = lk_lkx_begin(w, tag, err);
  if (!rc) rc = lk_lkx_write(w, data, size, err);
  if (!rc) rc = lk_lkx_end(w, err);
  return rc;
}

int lk_lkx_commit(lk_lkx_writer *w, lk_errbuf *err) {
  uint8_t h[LKX_PAGE] = {0};
  uint32_t v = LKX_VERSION;
  memcpy(h, MAGIC, 8);
  memcpy(h + 8, &v, 4);
  memcpy(h + 12, &w->nsect, 4);
  memcpy(h + 16, w->meta.recipe_id, strnlen(w->meta.recipe_id, 16));
  memcpy(h + 40, &w->meta.catalog_version, 8);
  memcpy(h + 48, &w->meta.items, 8);
  memcpy(h + 56, &w->meta.dim, 4);
  memcpy(h + 60, &w->meta.rows_key, 4);
  for (uint32_t i = 0; i < w->nsect; i++) {
    uint8_t *e = h + HDR_TABLE + (size_t)i * ENTRY;
    memcpy(e, &w->sect[i].tag, 4);
    memcpy(e + 4, &w->sect[i].crc, 4);
    memcpy(e + 8, &w->sect[i].off, 8);
    memcpy(e + 16, &w->sect[i].size, 8);
  }
  uint32_t c = lk_hash_crc32(0, h, HDR_CRC);
  memcpy(h + HDR_CRC, &c, 4);
  if (fflush(w->out.fp) || fseek(w->out.fp, 0, SEEK_SET) || fwrite(h, 1, LKX_PAGE, w->out.fp) != LKX_PAGE) {
    lk_file_out_abandon(&w->out);
    return lk_err_set(err, LK_EIO, "%s: write failed", w->out.path);
  }
  return lk_file_out_commit(&w->out, err);
}

void lk_lkx_abandon(lk_lkx_writer *w) { lk_file_out_abandon(&w->out); }
