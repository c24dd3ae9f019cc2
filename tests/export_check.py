#!/usr/bin/env python3
"""tests/export_check.py — round-trip check of `lookalike export` for tests/pg.sh (and, for the
csv format on a SQLite catalog, tests/cli.sh).

    export_check.py REFERENCE.csv FORMAT PATH

REFERENCE.csv is the catalog as PostgreSQL holds it (psql COPY ... CSV HEADER of id, the
vector's bytes in hex, the nine fields, path, extra; only items with a vector). The export at
PATH must parse as FORMAT describes (export/export.h) and hold every reference item exactly
once, with the same float32 vector bit for bit and the same metadata. Prints "ok ..." or the
first problems, and exits 0 or 1.
"""
import ast
import csv
import glob
import json
import os
import struct
import sys

FIELDS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
          "productDisplayName"]
TEXT = FIELDS + ["path", "extra"]


def load_ref(path):
    ref = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            item = {k: (row[k.lower()] or None) for k in TEXT}
            ref[int(row["id"])] = (bytes.fromhex(row["hex"]), item)
    return ref


def f32(values):
    return struct.pack("<%df" % len(values), *values)


class Checker:
    def __init__(self, ref):
        self.ref, self.seen, self.errors = ref, {}, []

    def err(self, msg):
        if len(self.errors) < 10:
            self.errors.append(msg)

    def item(self, id_, vec_bytes, fields, strict_empty=False):
        self.seen[id_] = self.seen.get(id_, 0) + 1
        if id_ not in self.ref:
            return self.err("id %d is not in the catalog" % id_)
        rv, rf = self.ref[id_]
        if vec_bytes != rv:
            self.err("id %d: vector differs" % id_)
        for k, v in fields.items():
            want = rf[k]
            if k == "extra" and isinstance(v, dict):
                v = json.dumps(v, separators=(",", ":"), sort_keys=True)
                want = json.dumps(json.loads(want), separators=(",", ":"), sort_keys=True) if want else None
            if strict_empty and v == "":
                v = None
            if v != want:
                self.err("id %d: %s is %r, catalog %r" % (id_, k, v, want))

    def finish(self, name):
        for id_, n in self.seen.items():
            if n != 1:
                self.err("id %d written %d times" % (id_, n))
        missing = set(self.ref) - set(self.seen)
        if missing:
            self.err("%d items missing, e.g. %d" % (len(missing), min(missing)))
        if self.errors:
            print("%s: FAILED\n  " % name + "\n  ".join(self.errors))
            return 1
        print("ok %s: %d items, each once, vectors bit-identical" % (name, len(self.seen)))
        return 0


def loose_fields(obj):
    return {k: obj.get(k) for k in TEXT}


def check_jsonl(c, path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            c.item(o["id"], f32(o["vector"]), loose_fields(o))


def check_qdrant(c, path):
    coll = json.load(open(os.path.join(path, "collection.json")))
    dim = len(next(iter(c.ref.values()))[0]) // 4
    if coll["vectors"] != {"size": dim, "distance": "Cosine"}:
        c.err("collection.json: %r" % coll)
    files = sorted(glob.glob(os.path.join(path, "points-*.json")))
    if not files:
        c.err("no points files")
    for fn in files:
        for p in json.load(open(fn, encoding="utf-8"))["points"]:
            c.item(p["id"], f32(p["vector"]), loose_fields(p["payload"]))


def check_milvus(c, path):
    schema = json.load(open(os.path.join(path, "schema.json")))
    names = [f["name"] for f in schema["fields"]]
    if names != ["id", "vector"] + TEXT:
        c.err("schema.json fields: %r" % names)
    for fn in sorted(glob.glob(os.path.join(path, "rows-*.json"))):
        for r in json.load(open(fn, encoding="utf-8"))["rows"]:
            if sorted(r) != sorted(names):
                c.err("id %s: row keys %r" % (r.get("id"), sorted(r)))
            c.item(r["id"], f32(r["vector"]), {k: r[k] for k in TEXT}, strict_empty=True)


def copy_unescape(s):
    if s == "\\N":
        return None
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def check_pgvector(c, path):
    lines = open(path, encoding="utf-8").read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("COPY ") and l.endswith("FROM stdin;"))
    if not any(l.startswith("CREATE TABLE") for l in lines[:start]):
        c.err("no CREATE TABLE before COPY")
    for l in lines[start + 1:]:
        if l == "\\.":
            break
        cols = l.split("\t")
        if len(cols) != 2 + len(TEXT):
            c.err("a COPY row has %d columns" % len(cols))
            continue
        vec = [float(x) for x in cols[1].strip("[]").split(",")]
        c.item(int(cols[0]), f32(vec), {k: copy_unescape(v) for k, v in zip(TEXT, cols[2:])})
    else:
        c.err("no \\. after the COPY data")


def read_npy(fn):
    with open(fn, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError("%s: not a .npy file" % fn)
    hl = struct.unpack("<H", data[8:10])[0]
    head = ast.literal_eval(data[10:10 + hl].decode("latin-1"))
    return head, data[10 + hl:]


def check_npy(c, path):
    h, ids = read_npy(os.path.join(path, "id.npy"))
    n = h["shape"][0]
    if h["descr"] != "<i8" or len(ids) != 8 * n:
        c.err("id.npy: %r, %d bytes" % (h, len(ids)))
    idv = struct.unpack("<%dq" % n, ids)
    h, vecs = read_npy(os.path.join(path, "vector.npy"))
    dim = h["shape"][1] if len(h["shape"]) == 2 else 0
    if h["descr"] != "<f4" or h["shape"][0] != n or len(vecs) != 4 * n * dim:
        c.err("vector.npy: %r, %d bytes" % (h, len(vecs)))
    cols = {}
    for k in TEXT:
        h, raw = read_npy(os.path.join(path, k + ".npy"))
        w = int(h["descr"][2:])
        if not h["descr"].startswith("<U") or h["shape"] != (n,) or len(raw) != 4 * w * n:
            c.err("%s.npy: %r" % (k, h))
            continue
        cols[k] = [raw[4 * w * i:4 * w * (i + 1)].decode("utf-32-le").rstrip("\0") for i in range(n)]
    for i in range(n):
        c.item(idv[i], vecs[4 * dim * i:4 * dim * (i + 1)], {k: cols[k][i] for k in cols}, strict_empty=True)


def check_csv(c, path):
    dim = len(next(iter(c.ref.values()))[0]) // 4
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        head = next(r)
        if head != ["id"] + TEXT + ["v%d" % i for i in range(dim)]:
            c.err("header %r..." % head[:13])
        for row in r:
            c.item(int(row[0]), f32([float(x) for x in row[12:]]), dict(zip(TEXT, row[1:12])), strict_empty=True)


def main():
    ref_path, fmt, path = sys.argv[1:4]
    c = Checker(load_ref(ref_path))
    try:
        {"jsonl": check_jsonl, "qdrant": check_qdrant, "milvus": check_milvus, "pgvector": check_pgvector,
         "npy": check_npy, "csv": check_csv}[fmt](c, path)
    except Exception as e:  # a parse error is a failure, not a crash
        c.err("%s: %s: %s" % (path, type(e).__name__, e))
    sys.exit(c.finish(fmt))


if __name__ == "__main__":
    main()
