/* index/lkx.c — the saved index file's container: header, section table, crc32 per section,
 * written through util/file.h's temp -> fsync -> rename, read through mmap with every offset
 * checked against the file size (format in lkx.h). */
#include "index/lkx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/array.h"
#include "util/hash.h"
#include "util/lazy.h"
#include "util/size.h"

#define MAGIC "LKINDEX\n"
#define HDR_TABLE 64
#define HDR_CRC (LKX_PAGE - 4)
#define HDR_CHUNK (LKX_PAGE - 8)
#define ENTRY 24

typedef struct lkx_sect {
  uint32_t tag;
  const uint8_t *data;
  size_t size;
  const uint8_t *ccrc; /* its chunks' crc32s, in LKX_CHUNKS */
  uint8_t *state;      /* a lazy section's chunks (util/lazy.h), else NULL: verified at map */
} lkx_sect;

struct lk_lkx {
  const uint8_t *base;
  size_t size;
  int mapped;
  int huge; /* mapped with huge pages (util/file.h lk_file_advise_huge): a fault reads 2 MiB */
  lkx_meta meta;
  uint32_t nsect;
  lkx_sect sect[LKX_MAX_SECT];
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
  if (rd32(b + HDR_CHUNK) != LKX_CHUNK)
    return lk_err_set(err, LK_EMISMATCH, "saved index: chunks of %u bytes, this lookalike reads %d", rd32(b + HDR_CHUNK), LKX_CHUNK);
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

/* Chunk c of section ctx matches its crc32. */
static int chunk_good(const void *ctx, size_t c) {
  const lkx_sect *s = ctx;
  size_t off = c * LKX_CHUNK, len = s->size - off < LKX_CHUNK ? s->size - off : LKX_CHUNK;
  return lk_hash_crc32(0, s->data + off, len) == rd32(s->ccrc + 4 * c);
}

static size_t nchunks(size_t size) { return size / LKX_CHUNK + (size % LKX_CHUNK != 0); }

/* Every section's bounds, the chunk checksums' section (always verified: it is 1/16384 of the
 * file) and its count, and each section's crc32 but those tagged lazy (their chunks are checked
 * by lk_lkx_verify). */
static int parse_sections(lk_lkx *x, const uint8_t *b, size_t size, const uint32_t *lazy, int nlazy, lk_errbuf *err) {
  uint32_t ns = x->nsect, ck = UINT32_MAX;
  for (uint32_t i = 0; i < ns; i++) {
    const uint8_t *e = b + HDR_TABLE + (size_t)i * ENTRY;
    uint64_t off = rd64(e + 8), len = rd64(e + 16);
    size_t end;
    if (off % LKX_PAGE || off < LKX_PAGE || off > SIZE_MAX || len > SIZE_MAX || lk_size_add((size_t)off, (size_t)len, &end) ||
        end > size)
      return lk_err_set(err, LK_ECORRUPT, "saved index: section %u lies outside the file (truncated?)", i);
    x->sect[i].tag = rd32(e);
    x->sect[i].data = b + off;
    x->sect[i].size = (size_t)len;
    if (x->sect[i].tag == LKX_CHUNKS && ck == UINT32_MAX) ck = i;
  }
  if (ck == UINT32_MAX) return lk_err_set(err, LK_ECORRUPT, "saved index: no chunk checksums");
  size_t at = 0, total = x->sect[ck].size / 4;
  for (uint32_t i = 0; i < ns; i++) {
    const uint8_t *e = b + HDR_TABLE + (size_t)i * ENTRY;
    lkx_sect *s = &x->sect[i];
    if (i == ck) { /* (verified by its own crc32 only) */
      if (lk_hash_crc32(0, s->data, s->size) != rd32(e + 4))
        return lk_err_set(err, LK_ECORRUPT, "saved index: section %u checksum mismatch (damaged file)", i);
      continue;
    }
    size_t nc = nchunks(s->size);
    if (x->sect[ck].size % 4 || nc > total - at)
      return lk_err_set(err, LK_ECORRUPT, "saved index: the chunk checksums do not cover the sections");
    s->ccrc = x->sect[ck].data + 4 * at;
    at += nc;
    if (is_lazy(s->tag, lazy, nlazy)) { /* its chunks, as readers first read them */
      if (!(s->state = calloc(nc + 1, 1))) return lk_err_set(err, LK_ENOMEM, "out of memory");
      continue;
    }
    for (size_t c = 0; c < nc; c++) /* one pass over its bytes, as a whole crc32 would be */
      if (!chunk_good(s, c)) return lk_err_set(err, LK_ECORRUPT, "saved index: section %u checksum mismatch (damaged file)", i);
  }
  if (at != total) return lk_err_set(err, LK_ECORRUPT, "saved index: the chunk checksums do not cover the sections");
  return 0;
}

static int parse(const void *data, size_t size, const uint32_t *lazy, int nlazy, lk_lkx **out, lk_errbuf *err) {
  *out = NULL;
  const uint8_t *b = data;
  lkx_meta m;
  int rc = header(b, size, &m, err);
  if (rc) return rc;
  lk_lkx *x = calloc(1, sizeof *x);
  if (!x) return lk_err_set(err, LK_ENOMEM, "out of memory");
  x->base = b;
  x->size = size;
  x->meta = m;
  x->nsect = rd32(b + 12);
  if ((rc = parse_sections(x, b, size, lazy, nlazy, err))) {
    lk_lkx_close(x);
    return rc;
  }
  *out = x;
  return 0;
}

int lk_lkx_verify(const lk_lkx *x, const void *p, size_t size) {
  if (!size) return 0;
  const uint8_t *q = p;
  for (uint32_t i = 0; i < x->nsect; i++) {
    const lkx_sect *s = &x->sect[i];
    if (q < s->data || q > s->data + s->size || size > (size_t)(s->data + s->size - q)) continue;
    if (!s->state) return 0;
    size_t c0 = (size_t)(q - s->data) / LKX_CHUNK, c1 = (size_t)(q - s->data + size - 1) / LKX_CHUNK;
    /* one read ahead, not a fault a page (huge pages: the fault reads the 2 MiB folio, and small
     * pages read ahead here would keep it from forming) */
    if (x->mapped && !x->huge && !__atomic_load_n(&s->state[c0], __ATOMIC_ACQUIRE)) {
      size_t end = (c1 + 1) * LKX_CHUNK < s->size ? (c1 + 1) * LKX_CHUNK : s->size;
      uintptr_t a = (uintptr_t)(s->data + c0 * LKX_CHUNK) & ~(uintptr_t)(LKX_PAGE - 1);
      madvise((void *)a, (uintptr_t)(s->data + end) - a, MADV_WILLNEED);
    }
    for (size_t c = c0; c <= c1; c++)
      if (!lk_lazy_ok(s->state, c, chunk_good, s)) return LK_ECORRUPT;
    return 0;
  }
  return LK_EINVAL; /* (not the file's bytes: a caller's mistake) */
}

int lk_lkx_lazy(const lk_lkx *x, uint32_t tag) {
  for (uint32_t i = 0; i < x->nsect; i++)
    if (x->sect[i].tag == tag) return x->sect[i].state != NULL;
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
  madvise(p, size, nlazy ? MADV_NORMAL : MADV_SEQUENTIAL); /* a whole verification reads it front to back */
  if ((rc = parse(p, size, lazy, nlazy, out, err))) {
    munmap(p, size);
    char why[LK_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", lk_err_msg(err));
    return lk_err_set(err, rc, "%s: %s", path, why);
  }
  madvise(p, size, MADV_RANDOM);
  (*out)->mapped = 1;
  (*out)->huge = lk_file_advise_huge(p, size);
  return 0;
}

void lk_lkx_close(lk_lkx *x) {
  if (!x) return;
  for (uint32_t i = 0; i < x->nsect && i < LKX_MAX_SECT; i++) free(x->sect[i].state);
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

/* Appends the current chunk's crc32 to the chunk checksums. */
static int push_chunk(lk_lkx_writer *w, lk_errbuf *err) {
  if (LK_ARRAY_RESERVE(w->chunk, w->capchunk, w->nchunk + 1, 1024)) return lk_err_set(err, LK_ENOMEM, "out of memory");
  w->chunk[w->nchunk++] = w->cur;
  w->cur = 0;
  return 0;
}

int lk_lkx_write(lk_lkx_writer *w, const void *data, size_t size, lk_errbuf *err) {
  if (!size) return 0;
  if (fwrite(data, 1, size, w->out.fp) != size) return lk_err_set(err, LK_EIO, "%s: write failed", w->out.path);
  w->sect[w->nsect].crc = lk_hash_crc32(w->sect[w->nsect].crc, data, size);
  for (size_t done = 0; done < size;) { /* the chunks, LKX_CHUNK bytes from the section's start */
    size_t fill = (size_t)((w->sect[w->nsect].size + done) % LKX_CHUNK), take = LKX_CHUNK - fill;
    if (take > size - done) take = size - done;
    w->cur = lk_hash_crc32(w->cur, (const uint8_t *)data + done, take);
    done += take;
    if (fill + take == LKX_CHUNK && push_chunk(w, err)) return LK_ENOMEM;
  }
  w->sect[w->nsect].size += size;
  w->pos += size;
  return 0;
}

int lk_lkx_end(lk_lkx_writer *w, lk_errbuf *err) {
  if (w->sect[w->nsect].size % LKX_CHUNK && push_chunk(w, err)) return LK_ENOMEM;
  w->nsect++;
  return pad_to_page(w, err);
}

int lk_lkx_add(lk_lkx_writer *w, uint32_t tag, const void *data, size_t size, lk_errbuf *err) {
  int rc = lk_lkx_begin(w, tag, err);
  if (!rc) rc = lk_lkx_write(w, data, size, err);
  if (!rc) rc = lk_lkx_end(w, err);
  return rc;
}

int lk_lkx_map_current(lk_lkx_writer *w, const void **data, size_t *size, lk_errbuf *err) {
  *data = NULL;
  *size = (size_t)w->sect[w->nsect].size;
  if (!*size) return 0;
  /* (a section starts on a page: the header is one, lk_lkx_end pads to the next) */
  if (fflush(w->out.fp)) return lk_err_set(err, LK_EIO, "%s: write failed: %s", w->out.path, strerror(errno));
  int fd = open(w->out.tmp, O_RDONLY | O_CLOEXEC); /* (the stream is write-only) */
  void *p = fd < 0 ? MAP_FAILED : mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, (off_t)w->sect[w->nsect].off);
  int e = errno;
  if (fd >= 0) close(fd);
  if (p == MAP_FAILED) return lk_err_set(err, LK_EIO, "%s: mapping it back: %s", w->out.path, strerror(e));
  *data = p;
  return 0;
}

void lk_lkx_unmap(const void *data, size_t size) {
  if (data && size) munmap((void *)data, size);
}

int lk_lkx_commit(lk_lkx_writer *w, lk_errbuf *err) {
  uint32_t *ck = w->chunk; /* the chunk checksums, last (their own are not counted) */
  size_t nck = w->nchunk;
  w->chunk = NULL, w->nchunk = w->capchunk = 0;
  int rc = lk_lkx_add(w, LKX_CHUNKS, ck, sizeof *ck * nck, err);
  free(ck);
  free(w->chunk);
  w->chunk = NULL;
  if (rc) {
    lk_file_out_abandon(&w->out);
    return rc;
  }
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
  uint32_t c = LKX_CHUNK;
  memcpy(h + HDR_CHUNK, &c, 4);
  c = lk_hash_crc32(0, h, HDR_CRC);
  memcpy(h + HDR_CRC, &c, 4);
  if (fflush(w->out.fp) || fseek(w->out.fp, 0, SEEK_SET) || fwrite(h, 1, LKX_PAGE, w->out.fp) != LKX_PAGE) {
    lk_file_out_abandon(&w->out);
    return lk_err_set(err, LK_EIO, "%s: write failed", w->out.path);
  }
  return lk_file_out_commit(&w->out, err);
}

void lk_lkx_abandon(lk_lkx_writer *w) {
  free(w->chunk);
  w->chunk = NULL;
  lk_file_out_abandon(&w->out);
}
