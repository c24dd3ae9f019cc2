/* export/export.h — `lookalike export`: writes a catalog's vectors and metadata in the
 * formats other vector engines ingest, for shops that move the search itself there. Every
 * item with a vector is written exactly once, in id order; items without one (photos that
 * failed) are counted and left out. Formats (docs/DEPLOY.md "Export" shows how to load each):
 *
 *   jsonl     FILE: one {"id", "vector":[...], "path", fields..., "extra":{...}} per line
 *   qdrant    DIR: collection.json (PUT /collections/NAME body: size, Cosine distance) and
 *             points-00001.json ... ({"points":[{"id","vector","payload"}]}, --batch per file,
 *             the body of PUT /collections/NAME/points)
 *   milvus    DIR: schema.json (the collection's fields) and rows-00001.json ... (bulk-insert
 *             row-based JSON {"rows":[...]}: id INT64, vector FLOAT_VECTOR, one VARCHAR per
 *             field, path, extra (JSON text); "" for unknown values)
 *   pgvector  FILE: an SQL script for psql: CREATE EXTENSION vector, CREATE TABLE, then
 *             COPY ... FROM stdin in COPY text format (vector literals '[x,y,...]'), then an
 *             HNSW index (vector_cosine_ops)
 *   npy       DIR: id.npy (<i8, n), vector.npy (<f4, n x dim) and one <U (fixed-width
 *             unicode) .npy per text field — NumPy's format, and Milvus's column-based
 *             bulk-insert layout (a file per field, named after it)
 *   csv       FILE: RFC 4180 CSV with a header: id, the styles.csv fields (gender ...
 *             productDisplayName), path, extra (JSON text), then the vector as dim columns
 *             v0 .. v{dim-1} (plain numbers a spreadsheet, pandas or COPY reads as they are;
 *             one column would hold a list to parse); unknown values empty; fields quoted only
 *             where needed (lk_csv_put); LF line ends
 *
 * Floats are printed with 9 significant digits, so the text formats give back the stored
 * float32 values exactly. Files are written under a temporary name and renamed when
 * complete. */
#ifndef LK_EXPORT_EXPORT_H
#define LK_EXPORT_EXPORT_H

#include <stddef.h>

#include "util/err.h"

/* enum lk_export_format, lk_export_opts, lk_export_stats, lk_export_opts_default,
 * lk_export_format_parse, lk_export_run: public, lookalike.h. */

#endif
