#!/usr/bin/python3
"""bench/street.py: a synthetic "street-style" query set for issue 4 part 4.

We have no camera here and no way to fetch photos, so street photos are made from the shop
photos (photos-225x300/ID.jpg) of products: each garment is cut out of its white studio
background, shrunk to 35-70 % of a 480x640 frame, rotated a little, placed off centre on a
cluttered background (a textured floor or wall, out-of-focus pieces of other products' photos,
a coloured wall with a shadow), its colours shifted by a random white balance and exposure,
and saved as a JPEG of quality 70-90, like a phone snapshot. The file keeps the product id as
its name (ID.jpg), so `lookalike eval --same-product DIR` measures both whether the product
itself is found and whether the hits share its articleType / baseColour.

    bench/street.py --photos DIR --ids ids.txt --out DIR [--n 300] [--seed 0]

ids.txt: product ids that may be used (e.g. the test split of `lookalike tune --split test`);
only ids with a photo in --photos are drawn. Deterministic for a seed. Needs python3-pil and
python3-numpy (Debian). Nothing it writes belongs in the repository.
"""
import argparse
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 480, 640


def cutout(img, rng):
    """RGBA of the product with its near-white studio background made transparent."""
    a = np.asarray(img.convert("RGB")).astype(np.int16)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    bg = np.median(border, axis=0)
    dist = np.abs(a - bg).max(axis=2)
    # background = near-background pixels connected to the border (white parts of a white
    # garment inside its outline stay)
    near = Image.fromarray(((dist <= 18) * 255).astype(np.uint8)).copy()
    w, h = near.size
    px = near.load()
    for x, y in [(x, 0) for x in range(w)] + [(x, h - 1) for x in range(w)] + \
                [(0, y) for y in range(h)] + [(w - 1, y) for y in range(h)]:
        if px[x, y] == 255:
            ImageDraw.floodfill(near, (x, y), 128)
    fg = (np.asarray(near) != 128)
    mask = Image.fromarray((fg * 255).astype(np.uint8))
    mask = mask.filter(ImageFilter.MinFilter(5)).filter(ImageFilter.GaussianBlur(1.0))
    out = img.convert("RGBA")
    out.putalpha(mask)
    box = mask.getbbox()
    return out.crop(box) if box else out


def noise_field(rng, w, h, scale):
    """Smooth value noise in [0, 1], by upsampling a small random grid."""
    gw, gh = max(2, w // scale), max(2, h // scale)
    g = (np.random.default_rng(rng.getrandbits(32)).random((gh, gw)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(g).resize((w, h), Image.BICUBIC)).astype(np.float32) / 255


def background(rng, others):
    kind = rng.choice(["floor", "wall", "clutter"])
    base = np.array([rng.randint(60, 230) for _ in range(3)], np.float32)
    if kind == "floor":  # wooden boards: stripes + grain
        n = noise_field(rng, W, H, 40)
        grain = noise_field(rng, W, H, 6)
        stripes = ((np.arange(W)[None, :] // rng.randint(50, 110)) % 2).astype(np.float32)
        img = base[None, None, :] * (0.75 + 0.25 * n[..., None]) * (0.9 + 0.1 * stripes[..., None]) \
            * (0.92 + 0.08 * grain[..., None])
    elif kind == "wall":  # a painted wall with a light gradient and a soft shadow
        yy = np.linspace(0, 1, H)[:, None]
        xx = np.linspace(0, 1, W)[None, :]
        light = 0.7 + 0.3 * (1 - np.abs(xx - rng.random())) * (1 - 0.3 * yy)
        img = base[None, None, :] * light[..., None] * (0.95 + 0.05 * noise_field(rng, W, H, 8)[..., None])
    else:  # out-of-focus pieces of other products' photos
        canvas = Image.new("RGB", (W, H), tuple(int(v) for v in base))
        for _ in range(rng.randint(4, 8)):
            o = Image.open(rng.choice(others)).convert("RGB")
            s = rng.uniform(0.8, 1.8)
            o = o.resize((int(o.width * s), int(o.height * s)))
            canvas.paste(o, (rng.randint(-o.width // 2, W - o.width // 2), rng.randint(-o.height // 2, H - o.height // 2)))
        img = np.asarray(canvas.filter(ImageFilter.GaussianBlur(rng.uniform(3, 7)))).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), kind


def make(path, others, rng):
    prod = cutout(Image.open(path), rng)
    bg, kind = background(rng, others)
    prod = prod.rotate(rng.uniform(-12, 12), resample=Image.BICUBIC, expand=True)
    frac = rng.uniform(0.35, 0.70)
    s = frac * H / prod.height
    if prod.width * s > 0.9 * W:
        s = 0.9 * W / prod.width
    prod = prod.resize((max(1, int(prod.width * s)), max(1, int(prod.height * s))), Image.LANCZOS)
    x = rng.randint(0, W - prod.width)
    y = rng.randint(0, H - prod.height)
    # a soft drop shadow under the product
    sh = Image.new("RGBA", prod.size, (0, 0, 0, 0))
    sh.putalpha(prod.getchannel("A").point(lambda v: v * 0.35).filter(ImageFilter.GaussianBlur(6)))
    bg.paste(sh, (min(W - prod.width, x + 6), min(H - prod.height, y + 8)), sh)
    bg.paste(prod, (x, y), prod)
    # white balance and exposure of a phone camera
    a = np.asarray(bg).astype(np.float32)
    a = a * np.array([rng.uniform(0.88, 1.12) for _ in range(3)], np.float32) * rng.uniform(0.8, 1.15)
    a = a + np.random.default_rng(rng.getrandbits(32)).normal(0, 3, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), kind


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    want = set()
    with open(a.ids) as f:
        for line in f:
            tok = line.split(",")[0].strip()
            if tok.isdigit():
                want.add(tok)
    allp = sorted(p for p in os.listdir(a.photos) if p.endswith(".jpg"))
    pool = [p for p in allp if p[:-4] in want]
    others = [os.path.join(a.photos, p) for p in allp if p[:-4] not in want]
    if not pool or not others:
        sys.exit("street.py: no usable photos (check --photos and --ids)")
    rng.shuffle(pool)
    os.makedirs(a.out, exist_ok=True)
    kinds = {}
    for name in pool[: a.n]:
        img, kind = make(os.path.join(a.photos, name), others, rng)
        img.save(os.path.join(a.out, name), quality=rng.randint(70, 90))
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"street.py: {min(a.n, len(pool))} photos in {a.out} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")


if __name__ == "__main__":
    main()
