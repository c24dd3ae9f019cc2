#!/usr/bin/env python3
"""tests/csv_check.py — checks the CSV file of `lookalike recommend` against the SQLite catalog
it came from and against `lookalike similar` (for tests/cli.sh; export --format csv is checked
by tests/export_check.py). Prints what is wrong and exits 1, or exits 0.

  csv_check.py recommend FILE.csv CATALOG.db K [--same FIELD]... [--only FIELD=VALUE]
      the header id,rank,neighbour_id,score; every product with a vector (or, with --only,
      those whose FIELD is VALUE) has exactly K rows ranked 1..K (with --same, fewer only when
      fewer other products share its values); no row names the product itself or an item
      outside the catalog (or outside --only); scores never rise; with --same, every
      neighbour shares the product's FIELD (case-insensitively; unknown with unknown)
  csv_check.py agree FILE.csv ID:SIMILAR.json...
      each `lookalike similar ID --json` answer (in SIMILAR.json) names the same neighbours,
      in the same order, with the same scores (within the JSON's 4 decimals), as the rows of
      its product
"""
import csv
import json
import sqlite3
import sys

FIELDS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
          "productDisplayName"]


def fail(msg):
    print("csv_check: " + msg)
    sys.exit(1)


def catalog(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    con.text_factory = lambda b: b.decode("utf-8", "replace")
    cols = ["id"] + FIELDS + ["path", "extra"]
    items = {r[0]: dict(zip(cols, r)) for r in con.execute("select %s from items" % ",".join(cols))}
    return items, {i for (i,) in con.execute("select id from vectors")}


def recommend(path, db, k, same, only):
    items, vecs = catalog(db)
    products = {i for i in vecs if all((items[i][f] or "") == v for f, v in only)}
    rows = {}
    with open(path, newline="") as fp:
        r = csv.reader(fp)
        if next(r) != ["id", "rank", "neighbour_id", "score"]:
            fail("recommend: bad header")
        for row in r:
            i, rank, nb, score = int(row[0]), int(row[1]), int(row[2]), float(row[3])
            rows.setdefault(i, []).append((rank, nb, score))
    if set(rows) != products:
        fail("recommend: products %d in the file, %d expected" % (len(rows), len(products)))
    def key(i):
        return tuple((items[i][f] or "\0").lower() for f in same)
    group = {}
    for i in products:
        group[key(i)] = group.get(key(i), 0) + 1
    for i, rs in rows.items():
        if [x[0] for x in rs] != list(range(1, min(k, group[key(i)] - 1) + 1)):
            fail("recommend: product %d has ranks %s" % (i, [x[0] for x in rs]))
        for n, (_, nb, score) in enumerate(rs):
            if nb == i or nb not in products:
                fail("recommend: product %d lists %d" % (i, nb))
            if n and score > rs[n - 1][2]:
                fail("recommend: product %d: scores rise at rank %d" % (i, n + 1))
            for f in same:
                a, b = items[i][f], items[nb][f]
                if (a is None) != (b is None) or (a is not None and a.lower() != b.lower()):
                    fail("recommend: product %d (%s %r) lists %d (%r)" % (i, f, a, nb, b))


def agree(path, answers):
    with open(path, newline="") as fp:
        rows = [(int(a), int(c), float(d)) for a, _, c, d in list(csv.reader(fp))[1:]]
    for arg in answers:
        pid, name = arg.split(":", 1)
        pid = int(pid)
        with open(name) as fp:
            ans = json.load(fp)
        mine = [(nb, sc) for i, nb, sc in rows if i == pid]
        theirs = [(h["id"], h["score"]) for h in ans["hits"]]
        if [m[0] for m in mine] != [t[0] for t in theirs] or any(abs(m[1] - t[1]) > 1e-4 for m, t in zip(mine, theirs)):
            fail("agree: product %d: recommend %s, similar %s" % (pid, mine, theirs))


def main(argv):
    if len(argv) >= 5 and argv[1] == "recommend":
        same, only, rest = [], [], argv[5:]
        while rest:
            if rest[0] == "--same":
                same.append(rest[1])
            elif rest[0] == "--only":
                only.append(tuple(rest[1].split("=", 1)))
            else:
                fail("unknown option " + rest[0])
            rest = rest[2:]
        recommend(argv[2], argv[3], int(argv[4]), same, only)
    elif len(argv) >= 4 and argv[1] == "agree":
        agree(argv[2], argv[3:])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv)
