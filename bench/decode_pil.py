#!/usr/bin/python3
"""bench/decode_pil.py — PIL peer of bench/decode_bench.c (Debian's python3-pil): the same
photos, read into memory first, decoded and resized to 224x224 (BILINEAR, PIL's antialiased
resize, as lookalike's), single thread, best of rounds. "naive": Image.open + convert + resize,
a full-size decode; "draft": Image.draft('RGB', (224, 224)) first, so libjpeg's DCT scaling
decodes at the smallest scale that still covers 224x224.

  /usr/bin/python3 bench/decode_pil.py [--n 40] [--seconds 1] [--rounds 3] [--json] LABEL=DIR...
"""
import argparse
import io
import json
import os
import re
import time

from PIL import Image


def pick(d, n):
    names = sorted((f for f in os.listdir(d) if f.endswith(".jpg")),
                   key=lambda s: (int(re.match(r"\d*", s).group() or 0), s))
    if n <= 0 or n > len(names):
        n = len(names)
    return [names[i * len(names) // n] for i in range(n)]


def run(bufs, draft):
    for b in bufs:
        im = Image.open(io.BytesIO(b))
        if draft:
            im.draft("RGB", (224, 224))
        im = im.convert("RGB")
        size = im.size
        im.resize((224, 224), Image.BILINEAR)
    return size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("sets", nargs="+")
    a = ap.parse_args()
    if a.json:
        import PIL
        print(json.dumps({"bench": "pil", "kind": "info", "version": PIL.__version__}))
    else:
        print(f"{'photos':10} {'decode':7} {'w x h':>9} {'photos/s':>9} {'ms/photo':>9}")
    for s in a.sets:
        label, d = s.split("=", 1)
        bufs = []
        for nm in pick(d, a.n):
            with open(os.path.join(d, nm), "rb") as f:
                bufs.append(f.read())
        for how in ("naive", "draft"):
            best = 0.0
            for _ in range(a.rounds):
                done, t0 = 0, time.perf_counter()
                while True:
                    size = run(bufs, how == "draft")
                    done += len(bufs)
                    el = time.perf_counter() - t0
                    if el >= a.seconds:
                        break
                best = max(best, done / el)
            wh = f"{size[0]}x{size[1]}"
            if a.json:
                print(json.dumps({"bench": "pil", "kind": "decode", "set": label, "how": how, "decoded": wh,
                                  "photos": len(bufs), "photos_per_s": round(best, 2),
                                  "ms_per_photo": round(1000 / best, 3), "load": os.getloadavg()[0]}), flush=True)
            else:
                print(f"{label:10} {how:7} {wh:>9} {best:9.1f} {1000 / best:9.3f}", flush=True)


if __name__ == "__main__":
    main()
