/* index/lkx.h — the saved index file (CATALOG.lkx): a header and up to LKX_MAX_SECT sections,
 * written temp -> fsync -> rename (util/file.h) and read back through mmap, so a restart maps
 * the IVF instead of training and filling it again (index/ivf.h lk_ivf_save / lk_ivf_load).
 *
 * Format, version 3 (1 lacked the engine's sections: search/engine.c; 2 the chunk checksums),
 * little-endian (the writer and the reader refuse a big-endian host):
 *   offset 0, 4096 bytes (one page): the header
 *     0  magic "LKINDEX\n" (8 bytes)         8  u32 version (LKX_VERSION)
 *     12 u32 nsect (<= LKX_MAX_SECT)         16 char recipe_id[24] (NUL-padded, 16 hex digits)
 *     40 i64 catalog version it was built at 48 u64 items                56 u32 dim
 *     60 u32 rows key (the engine's: search/engine.c)
 *     64 nsect entries of 24 bytes: u32 tag, u32 crc32 of the section's bytes (read for LKX_CHUNKS
 *        only: the others are checked by their chunks), u64 offset, u64 size
 *     4088 u32 LKX_CHUNK (another is stale)  4092 u32 crc32 of bytes 0..4091
 *   then the sections, each at a page-aligned offset (zero padding between them); the last one
 *   (tag LKX_CHUNKS, written by lk_lkx_commit) holds a u32 crc32 of every LKX_CHUNK bytes of
 *   every other section, in section order (a section's last chunk shorter).
 * The checksum is CRC-32 as zlib and gzip compute it, a standard the format can name, through
 * util/hash.h lk_hash_crc32 (ISA-L: ~30 GB/s here, zlib ~4); SHA-256 would be far slower for no
 * gain against accidental damage (the file is not a security boundary: it sits beside the catalog).
 *
 * Verification: lk_lkx_map checks the header, every section's bounds (checked arithmetic against
 * the file size) and every section's crc32 before it returns, so a truncated or damaged file is
 * never served. That is one sequential read of the file, which the page cache keeps for the
 * searches that follow (measured in docs/PERFORMANCE.md "Saved index"). lk_lkx_map_lazy leaves
 * named sections to lk_lkx_verify, which checks the chunks a reader is about to read, once
 * each, so a server's start does not read gigabytes it may never need. */
#ifndef LK_INDEX_LKX_H
#define LK_INDEX_LKX_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/file.h"

#define LKX_VERSION 3
#define LKX_MAX_SECT 64
#define LKX_PAGE 4096
#define LKX_MAX_BYTES ((uint64_t)1 << 40) /* 1 TiB: a file claiming more is refused */
#define LKX_CHUNK 16384 /* bytes of a section under one chunk crc32: what a reader of one row
                           reads and checks at most (4 pages, ~0.5 us of crc32) */
#define LKX_CHUNKS 0x4b4e4843 /* "CHNK": the chunk crc32s */

typedef struct lkx_meta {
  char recipe_id[17];
  int64_t catalog_version;
  uint64_t items;
  uint32_t dim;
  uint32_t rows_key; /* what else shapes the rows (the engine's label-prior weight bits) */
} lkx_meta;

/* A mapped (or in-memory, for the fuzz target) file: read-only, owned by the caller
 * (lk_lkx_close). Section pointers stay valid until then. Thread-safe for readers. */
typedef struct lk_lkx lk_lkx;

/* Maps path and verifies it (above). LK_ENOTFOUND: no file; LK_ECORRUPT (truncated, bad magic,
 * checksum, bounds), LK_EMISMATCH (another version): the message says which, in one line. */
int lk_lkx_map(const char *path, lk_lkx **out, lk_errbuf *err);
/* lk_lkx_map, except that the sections tagged lazy[0..nlazy) are not checksummed (their bounds
 * are): the caller calls lk_lkx_verify on their bytes before it first reads them (a server's
 * engine: search/engine.c's rows, index/ivf.h lk_ivf_load_lazy, search/itemtab.h). */
int lk_lkx_map_lazy(const char *path, const uint32_t *lazy, int nlazy, lk_lkx **out, lk_errbuf *err);
/* 0 when the size bytes at p (inside one section of x) may be read: the section was verified at
 * map, or each LKX_CHUNK chunk they touch matches its crc32 (checked now if it was not yet,
 * util/lazy.h); LK_ECORRUPT when one does not (the bytes must not be used). Thread-safe. */
int lk_lkx_verify(const lk_lkx *x, const void *p, size_t size);
/* 1 when section tag was left to lk_lkx_verify (lk_lkx_map_lazy), else 0: a reader may skip
 * the calls then. */
int lk_lkx_lazy(const lk_lkx *x, uint32_t tag);
/* The header alone (one page read, its checksum and version checked), for a caller that may not
 * need the file: *m, or lk_lkx_map's errors (those of the header). */
int lk_lkx_peek(const char *path, lkx_meta *m, lk_errbuf *err);
/* The same checks over size bytes at data (not copied: they must outlive *out). */
int lk_lkx_parse(const void *data, size_t size, lk_lkx **out, lk_errbuf *err);
void lk_lkx_close(lk_lkx *x); /* NULL-safe */
const lkx_meta *lk_lkx_meta(const lk_lkx *x);
/* Section of tag: *data and *size, or LK_ECORRUPT (with a message) when absent or when its size
 * is not elem * count for the caller's expectation (count 0: any multiple of elem). */
int lk_lkx_section(const lk_lkx *x, uint32_t tag, size_t elem, size_t count, const void **data, size_t *size,
                   lk_errbuf *err);

/* Writer: lk_lkx_create, then lk_lkx_add for each section (the bytes are written at once), then
 * lk_lkx_commit (header, fsync, rename) or lk_lkx_abandon. One writer per file, not thread-safe. */
typedef struct lk_lkx_writer {
  lk_file_out out;
  lkx_meta meta;
  uint32_t nsect;
  uint64_t pos;
  struct { uint32_t tag, crc; uint64_t off, size; } sect[LKX_MAX_SECT];
  uint32_t *chunk; /* the chunk crc32s so far (LKX_CHUNKS), the current one's in cur */
  size_t nchunk, capchunk;
  uint32_t cur;
} lk_lkx_writer;
int lk_lkx_create(lk_lkx_writer *w, const char *path, const lkx_meta *meta, lk_errbuf *err);
/* A section written in pieces: lk_lkx_begin, any number of lk_lkx_write, lk_lkx_end (which pads
 * to the next page). lk_lkx_add is the three for one buffer. LK_EINVAL past LKX_MAX_SECT
 * sections, LK_EIO on a write error (the caller then abandons). */
int lk_lkx_begin(lk_lkx_writer *w, uint32_t tag, lk_errbuf *err);
int lk_lkx_write(lk_lkx_writer *w, const void *data, size_t size, lk_errbuf *err);
int lk_lkx_end(lk_lkx_writer *w, lk_errbuf *err);
int lk_lkx_add(lk_lkx_writer *w, uint32_t tag, const void *data, size_t size, lk_errbuf *err);
int lk_lkx_commit(lk_lkx_writer *w, lk_errbuf *err);
void lk_lkx_abandon(lk_lkx_writer *w);
/* The bytes written so far of the section being written (between lk_lkx_begin and lk_lkx_end),
 * mapped read-only from the temporary file (flushed first) into *data, *size bytes: e.g. rows
 * streamed to the file, read back before the file is done. Release with lk_lkx_unmap before
 * lk_lkx_commit or lk_lkx_abandon. An empty section maps to NULL, 0. LK_EIO on failure. */
int lk_lkx_map_current(lk_lkx_writer *w, const void **data, size_t *size, lk_errbuf *err);
void lk_lkx_unmap(const void *data, size_t size); /* NULL-safe */

#endif
