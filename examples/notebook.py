#!/usr/bin/env python3
"""examples/notebook.py — the fashion-recommender notebook's flow, with lookalike doing the work.

The seed notebooks embed every product photo with a Keras CNN, pickle the matrix, fit
scikit-learn's NearestNeighbors and show a product's top-6 neighbours in a matplotlib grid.
Here: index a folder into a catalog (resumable; no pickle), reopen it in a fresh Catalog (the
reload is the catalog file itself), take the top-6 neighbours of one product both from the
library and from the zero-copy vector matrix with numpy, and draw them as an image grid with
Pillow into a PNG (headless). Run from the source tree:

    PYTHONPATH=python python3 examples/notebook.py --images ../shared/data/fashion-catalog/images \
        --styles ../shared/data/fashion-catalog/styles.csv --db /tmp/nb.db --limit 300 --out grid.png
"""
import argparse

import numpy as np
from PIL import Image, ImageDraw

import lookalike

TILE = (180, 240)  # width, height of one photo in the grid
CAPTION = 36


def tile(path, lines):
    """One cell: the photo fitted on white, two caption lines under it."""
    cell = Image.new("RGB", (TILE[0], TILE[1] + CAPTION), "white")
    photo = Image.open(path).convert("RGB")
    scale = min(TILE[0] / photo.width, TILE[1] / photo.height)  # up or down, to fill the tile
    photo = photo.resize((max(1, round(photo.width * scale)), max(1, round(photo.height * scale))),
                         Image.LANCZOS)
    cell.paste(photo, ((TILE[0] - photo.width) // 2, (TILE[1] - photo.height) // 2))
    draw = ImageDraw.Draw(cell)
    for i, text in enumerate(lines):
        draw.text((4, TILE[1] + 2 + 16 * i), text[:28], fill="black")
    return cell


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True, help="folder of ID.jpg photos")
    ap.add_argument("--styles", help="styles.csv with the products' fields")
    ap.add_argument("--db", required=True, help="the catalog file (made when missing)")
    ap.add_argument("--models", help="models folder (default: as the lookalike command finds it)")
    ap.add_argument("--limit", type=int, default=0, help="index only the first N products")
    ap.add_argument("--item", type=int, help="the product (default: the first one)")
    ap.add_argument("--out", default="neighbours.png", help="the PNG grid to write")
    a = ap.parse_args()

    # 1. Embed the catalog (only what is new or changed when run again).
    stats = lookalike.Catalog(a.db, models=a.models).index(a.images, styles=a.styles, limit=a.limit)
    print("indexed: %d embedded, %d unchanged, %d failed in %.1f s"
          % (stats["embedded"], stats["unchanged"], stats["failed"], stats["seconds"]))

    # 2. "Reload the features": a new Catalog reads the file; nothing is pickled.
    cat = lookalike.Catalog(a.db, models=a.models, create=False)
    ids, vecs = cat.vectors()  # n x dim float32, a view on the engine's memory
    print("catalog: %d products, vectors %s %s" % (len(cat), vecs.shape, vecs.dtype))
    item = a.item if a.item is not None else int(ids[0])

    # 3. Top-6 neighbours, from the library and the NearestNeighbors way (cosine on the matrix).
    hits = cat.similar(item, k=6)
    row = int(np.flatnonzero(ids == item)[0])
    scores = vecs @ vecs[row]
    scores[row] = -np.inf
    order = np.argsort(-scores, kind="stable")[:6]
    if [int(i) for i in ids[order]] != [h["id"] for h in hits]:
        raise SystemExit("numpy neighbours differ from similar(): %s vs %s"
                         % (ids[order].tolist(), [h["id"] for h in hits]))
    print("numpy neighbours agree with similar()")

    # 4. The grid: the product, then its neighbours with their scores.
    me = cat.item(item)
    cells = [tile(me["path"], ["product %d" % item, me["articleType"] or ""])]
    for h in hits:
        cells.append(tile(h["path"], ["%d  %.3f" % (h["id"], h["score"]), h["articleType"] or ""]))
        print("%8d  %.3f  %s" % (h["id"], h["score"], h["productDisplayName"]))
    grid = Image.new("RGB", (TILE[0] * len(cells), TILE[1] + CAPTION), "white")
    for i, c in enumerate(cells):
        grid.paste(c, (i * TILE[0], 0))
    grid.save(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
