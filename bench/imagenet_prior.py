#!/usr/bin/python3
"""bench/imagenet_prior.py — issue 14's experiments, offline, on bench/imagenet_prior.c's dumps
(bench/imagenet_prior.sh runs both): the tuned catalog's label prior (search/prior.h) replayed
exactly over the whole gallery, with the query's articleType distribution changed by
  (b) a logistic regression from MobileNetV2's 1001 ImageNet log-probabilities to articleType,
      learnt on training-split catalog photos and their street-like views (tune/augment.c),
      combined as p ~ p_head * p_lr^beta;
  (a) a fixed table of ImageNet classes -> articleTypes written from the class names:
      p = (1 - lam) p_head + lam (m + u p_head), m = ImageNet mass on the type's classes,
      u = the mass on no garment class;
  (2) confidence-dependent prior weights (w * max p, sharpened p, larger fixed w);
  (3) DeepLabV3's person box: the photo cropped to it when a person covers > 20 %.
Every weight is chosen on held-out (test-split) catalog photos' street-like views; the street
photos are only measured, per method. Needs numpy only."""
import json
import sqlite3
import sys

import numpy as np

D = 256
# (a) ImageNet class index (imagenet_labels.txt line - 1) -> articleType, from the names alone.
TABLE = {
    611: 'Tshirts', 842: 'Sweatshirts', 475: 'Sweaters',  # jersey/T-shirt, sweatshirt, cardigan
    870: 'Jackets', 569: 'Jackets', 618: 'Jackets', 502: 'Jackets', 736: 'Rain Jacket',  # trench/fur/lab coat, cloak, poncho
    835: 'Blazers', 579: 'Dresses', 400: 'Dresses',  # suit, gown, abaya
    656: 'Skirts', 690: 'Skirts', 602: 'Skirts', 609: 'Jeans',  # mini/over/hoopskirt, jean
    843: 'Swimwear', 446: 'Swimwear', 639: 'Swimwear', 640: 'Swimwear',  # trunks, bikini, maillot x2
    698: 'Night suits', 615: 'Robe', 516: 'Hat', 809: 'Hat', 453: 'Hat', 434: 'Caps', 794: 'Caps',
    771: 'Sports Shoes', 775: 'Sandals', 631: 'Casual Shoes', 503: 'Casual Shoes', 515: 'Casual Shoes',
    415: 'Backpacks', 749: 'Handbags', 894: 'Wallets', 637: 'Messenger Bag', 807: 'Socks', 825: 'Stoles',
    458: 'Ties', 460: 'Bra', 465: 'Belts', 837: 'Sunglasses', 838: 'Sunglasses', 532: 'Watches',
    680: 'Necklace and Chains', 659: 'Gloves', 880: 'Umbrellas', 712: 'Perfume and Body Mist',
    630: 'Lipstick', 632: 'Body Lotion'}


def rows(path):
    """A dump of photos: search rows, logits, person share, person-crop rows; and its .txt lines."""
    n, qd, nl = (int(x) for x in np.fromfile(path, np.int32, 3))
    rec = 2 * qd + nl + 1
    a = np.fromfile(path, np.float32, offset=12)
    meta = [l.rstrip('\n').split('\t') for l in open(path + '.txt') if l.endswith('\n')]
    n = min(len(a) // rec, len(meta))
    a = a[:n * rec].reshape(n, rec)
    return a[:, :qd], a[:, qd:qd + nl], a[:, qd + nl], a[:, qd + nl + 1:], meta[:n]


def is_holdout(i, mod=5):
    """tune/tune.c's split: lk_rng_mix(id ^ salt) % mod == 0."""
    m = (1 << 64) - 1
    z = ((i ^ 0x6c6f6f6b616c696b) + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return (z ^ (z >> 31)) % mod == 0


def lsm(x):
    x = x - x.max(1, keepdims=True)
    return x - np.log(np.exp(x).sum(1, keepdims=True))


class Bench:
    def __init__(self, db, d):
        heads = json.loads(sqlite3.connect(db).execute("select value from meta where key='recipe'").fetchone()[0])
        heads = heads['projection']['heads']
        self.blocks, s = [], D
        for h in heads:
            self.blocks.append((s, s + len(h['classes'])))
            s += len(h['classes'])
        self.types = heads[0]['classes']
        self.sw = np.sqrt(heads[0]['prior'])
        n, qd, _ = (int(x) for x in np.fromfile(d + '/gal.bin', np.int32, 3))
        self.g = np.fromfile(d + '/gal.bin', np.float32, offset=12).reshape(n, qd)
        lines = [l.rstrip('\n').split('\t') for l in open(d + '/gal.bin.txt')]
        self.gids = np.array([int(l[0]) for l in lines])
        self.gtypes = np.array([l[1] for l in lines])

    def ranks(self, q, ids=None, k=10):
        """search/prior.h's score over the whole gallery; the query's own item excluded."""
        cos = q[:, :D] @ self.g[:, :D].T
        keep = np.ones_like(cos)
        for s, e in self.blocks:
            keep *= 1 - np.clip(q[:, s:e] @ self.g[:, s:e].T, 0, 0.9)
        sc = 1 - (1 - cos) * keep
        if ids is not None:
            sc[np.arange(len(q)), np.searchsorted(self.gids, ids)] = -9
        return np.argsort(-sc, axis=1)[:, :k]

    def head_p(self, q):
        s, e = self.blocks[0]
        return np.clip(q[:, s:e] / self.sw, 1e-9, 1)

    def with_type(self, q, p):
        q = q.copy()
        s, e = self.blocks[0]
        q[:, s:e] = self.sw * p
        return q


def train_lr(x, y, c, steps=300, lr=0.05, l2=1e-3):
    """Multinomial logistic regression (standardised inputs, Adam, full batch)."""
    mu, sd = x.mean(0), x.std(0) + 1e-3
    xs = (x - mu) / sd
    w, b = np.zeros((x.shape[1], c), np.float32), np.zeros(c, np.float32)
    yy = np.zeros((len(y), c), np.float32)
    yy[np.arange(len(y)), y] = 1
    m, v = [0, 0], [0, 0]
    for t in range(1, steps + 1):
        g = (np.exp(lsm(xs @ w + b)) - yy) / len(y)
        for k, (p, gr) in enumerate(((w, xs.T @ g + l2 * w), (b, g.sum(0)))):
            m[k] = 0.9 * m[k] + 0.1 * gr
            v[k] = 0.999 * v[k] + 0.001 * gr * gr
            p -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return lambda z: lsm(((z - mu) / sd) @ w + b)


def nll(p, y):
    return -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1)))


def main(db, d, names_path):
    B = Bench(db, d)
    ti = {t: i for i, t in enumerate(B.types)}
    split = {}
    for name in ('train', 'test'):
        q, lg, _, _, meta = rows(f'{d}/{name}.bin')
        y = np.array([ti.get(m[1], -1) for m in meta])
        ok = y >= 0
        split[name] = (q[ok], lg[ok], y[ok], np.array([int(m[2]) for m in meta])[ok],
                       np.array([int(m[0]) for m in meta])[ok])
    names = [l.strip().split(',')[0] for l in open(names_path)]
    q0, l0, y0, v0, _ = split['train']
    print('ImageNet top-1 per articleType, training-split photos | their street-like views:')
    for t in np.argsort(-np.bincount(y0))[:12]:
        look = []
        for v in (0, 1):
            c = np.bincount(np.argmax(l0[(y0 == t) & (v0 == v)], 1), minlength=l0.shape[1])
            look.append(', '.join(f'{names[k]} {c[k] / c.sum():.2f}' for k in np.argsort(-c)[:3]))
        print(f'  {B.types[t]}: ' + ' | '.join(look))
    sq, slg, share, sqc, smeta = rows(f'{d}/street.bin')
    labels = np.array([m[1] for m in smeta])
    accept = [set(m[2].split(';')) for m in smeta]

    def street(q):
        top = B.ranks(q)
        return np.array([np.mean([B.gtypes[j] in accept[i] for j in top[i]]) for i in range(len(q))])

    def macro(x, idx=None):
        idx = np.arange(len(x)) if idx is None else idx
        return np.mean([x[idx][labels[idx] == l].mean() for l in sorted(set(labels))])

    def heldout(q, view):
        tq, _, ty, tv, tid = split['test']
        s = tv == view
        top = B.ranks(q[s], tid[s])
        return np.mean(B.gtypes[top] == np.array(B.types)[ty[s]][:, None])

    base = street(sq)
    order = sorted(set(labels), key=lambda l: -np.sum(labels == l))
    print('| street photos (458), tuned catalog | micro | macro | ' + ' | '.join(order) + ' | held-out views / clean P@10 |')
    print('|---' * (len(order) + 4) + '|')
    rng = np.random.default_rng(0)

    def row(name, q_street, q_test, first=False):
        x = base if first else street(q_street)
        d_ = [macro(x, i) - macro(base, i) for i in
              (np.concatenate([rng.choice(np.where(labels == l)[0], np.sum(labels == l)) for l in order])
               for _ in range(1000))]
        ci = '' if first else ' (%+.3f, 95%% CI %+.3f..%+.3f)' % (macro(x) - macro(base), *np.quantile(d_, [0.025, 0.975]))
        print(f'| {name} | {x.mean():.3f} | {macro(x):.3f}{ci} | ' +
              ' | '.join('%.2f' % x[labels == l].mean() for l in order) +
              ' | %.3f / %.3f |' % (heldout(q_test, 1), heldout(q_test, 0)), flush=True)

    tq, tlg, ty, tv, _ = split['test']
    row('current prior', sq, tq, first=True)
    # (b) learnt map, beta by held-out views' NLL
    f = train_lr(lsm(l0), y0, len(B.types))
    lp_t, lp_s = f(lsm(tlg)), f(lsm(slg))

    def comb(q, lp, beta):
        return np.exp(lsm(np.log(B.head_p(q)) + beta * lp))

    beta = min((0.25, 0.5, 0.75, 1.0), key=lambda b: nll(comb(tq, lp_t, b)[tv == 1], ty[tv == 1]))
    row(f'(b) ImageNet LR, beta {beta}', B.with_type(sq, comb(sq, lp_s, beta)), B.with_type(tq, comb(tq, lp_t, beta)))
    # (a) fixed table, lam by held-out views' NLL
    M = np.zeros((tlg.shape[1], len(B.types)), np.float32)
    for k, t in TABLE.items():
        M[k, ti[t]] = 1

    def tab(q, lg, lam):
        m = np.exp(lsm(lg)) @ M
        return (1 - lam) * B.head_p(q) + lam * (m + (1 - m.sum(1, keepdims=True)) * B.head_p(q))

    lam = min((0.25, 0.5, 0.75, 1.0), key=lambda a: nll(tab(tq, tlg, a)[tv == 1], ty[tv == 1]))
    row(f'(a) ImageNet table, lam {lam}', B.with_type(sq, tab(sq, slg, lam)), B.with_type(tq, tab(tq, tlg, lam)))
    # (2) confidence: the weight of every head, chosen by held-out views' P@10

    def rew(q, mode, c):
        q = q.copy()
        for s, e in B.blocks:
            p = q[:, s:e] / B.sw
            w = np.full((len(q), 1), c) if mode == 'fixed w' else c * p.max(1, keepdims=True)
            if mode == 'sharpen p^':
                p = p ** c / (p ** c).sum(1, keepdims=True)
                w = np.full((len(q), 1), B.sw ** 2)
            q[:, s:e] = w / B.sw * p
        return q

    cands = [('fixed w', 0.75), ('fixed w', 1.0), ('w = c max p, c', 1.0), ('w = c max p, c', 2.0),
             ('sharpen p^', 2.0), ('sharpen p^', 3.0)]
    best = max(cands, key=lambda mc: heldout(rew(tq, *mc), 1))
    row(f'(2) prior weight: {best[0]} {best[1]}', rew(sq, *best), rew(tq, *best))
    # (3) person crop
    fire = share > 0.2
    qq = sq.copy()
    qq[fire] = sqc[fire]
    x = street(qq)
    print(f'\n(3) person > 20 % on {fire.sum()} of {len(fire)} street photos; on those P@10 '
          f'{base[fire].mean():.3f} -> {x[fire].mean():.3f}; all photos micro {x.mean():.3f} macro {macro(x):.3f}')
    try:  # same product: held-out products' 225x300 shop photos find their own 60x80 item (or a
        # byte-identical re-listing), in the whole catalog and among the held-out products (eval's)
        hq, hl, _, _, hmeta = rows(f'{d}/shop.bin')
    except FileNotFoundError:
        return
    hid = np.array([int(m[0]) for m in hmeta])
    photo = dict(sqlite3.connect(db).execute('select id, hash from items').fetchall())
    hlp = f(lsm(hl))
    held = np.array([is_holdout(int(i)) for i in B.gids])
    for gallery, keep in (('whole catalog', np.ones(len(B.gids), bool)), ('held-out products', held)):
        g, gids = B.g, B.gids
        B.g, B.gids = g[keep], gids[keep]
        for name, q in (('current', hq), (f'(b) beta {beta}', B.with_type(hq, comb(hq, hlp, beta)))):
            top = B.ranks(q)
            found = np.array([[B.gids[j] == hid[i] or photo.get(int(B.gids[j])) == photo.get(int(hid[i]))
                               for j in top[i]] for i in range(len(hq))])
            print(f'same product, {len(hq)} shop photos, gallery {gallery} ({keep.sum()}), {name}: '
                  f'R@1 {found[:, 0].mean():.3f} R@10 {found.any(1).mean():.3f}')
        B.g, B.gids = g, gids

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else 'models/imagenet_labels.txt')
