#!/usr/bin/env python3
"""tests/live_load.py — concurrent writes and searches against a running `lookalike serve`.

WRITERS clients write products over HTTP for SECONDS (POST /api/items with a photo, PATCH of a
field, DELETE, cycling over a fixed pool of ids so that the catalog's size stays bounded), while
SEARCHERS clients upload photos to POST /api/search. Every answer is counted by status; the
server's resident memory is sampled once a second from /proc/PID/status.

Prints one JSON object and exits 1 when any answer was a 5xx or no answer at all, when a write
was refused other than as documented, or when memory was not flat (the last quarter's median
RSS more than --rss-growth above the second quarter's).

usage: live_load.py URL KEY PHOTOS_DIR PID [--seconds S] [--writers N] [--searchers N]
                    [--id-base N] [--pool N] [--rss-growth F]
"""
import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
import uuid


def multipart(fields, photo):
    b = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    if photo is not None:
        parts.append(f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
                     'Content-Type: image/jpeg\r\n\r\n'.encode() + photo + b'\r\n')
    parts.append(f'--{b}--\r\n'.encode())
    return b''.join(parts), f'multipart/form-data; boundary={b}'


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, body bytes, seconds); status 0 when the connection failed twice."""
        for attempt in range(2):
            t0 = time.monotonic()
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader('Connection', '').lower() == 'close':
                    self.conn.close()
                    self.conn = None
                return r.status, data, time.monotonic() - t0
            except (http.client.HTTPException, OSError):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, b'', time.monotonic() - t0
        return 0, b'', 0.0


def rss_kib(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('url')
    ap.add_argument('key')
    ap.add_argument('photos')
    ap.add_argument('pid', type=int)
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--writers', type=int, default=4)
    ap.add_argument('--searchers', type=int, default=16)
    ap.add_argument('--id-base', type=int, default=800000000)
    ap.add_argument('--pool', type=int, default=50)
    ap.add_argument('--rss-growth', type=float, default=0.15)
    a = ap.parse_args()

    names = sorted(n for n in os.listdir(a.photos) if n.endswith('.jpg'))
    photos = []
    for n in names[:400]:
        with open(os.path.join(a.photos, n), 'rb') as f:
            photos.append(f.read())
    if not photos:
        sys.exit(f'live_load: no .jpg photos in {a.photos}')

    lock = threading.Lock()
    stats = {'write': {}, 'search': {}}
    lat = {'write': [], 'search': []}
    unexpected = []
    stop = time.monotonic() + a.seconds
    auth = {'Authorization': f'Bearer {a.key}'}

    def note(kind, status, dt, what, ok_statuses):
        with lock:
            stats[kind][status] = stats[kind].get(status, 0) + 1
            if 200 <= status < 300:
                lat[kind].append(dt)
            if status not in ok_statuses and len(unexpected) < 20:
                unexpected.append(f'{what}: {status}')

    def writer(w):
        c = Client(a.url)
        rnd = random.Random(w)
        while time.monotonic() < stop:
            iid = a.id_base + w * a.pool + rnd.randrange(a.pool)
            op = rnd.random()
            if op < 0.6:
                body, ctype = multipart({'id': iid, 'gender': 'Women', 'articleType': 'Tshirts',
                                         'productDisplayName': f'Load test {iid}', 'price': rnd.randrange(1, 99)},
                                        rnd.choice(photos))
                st, _, dt = c.request('POST', '/api/items', body, dict(auth, **{'Content-Type': ctype}))
                note('write', st, dt, f'POST {iid}', (200, 201))
            elif op < 0.8:
                body = json.dumps({'productDisplayName': f'Patched {iid}'}).encode()
                st, _, dt = c.request('PATCH', f'/api/items/{iid}', body,
                                      dict(auth, **{'Content-Type': 'application/json'}))
                note('write', st, dt, f'PATCH {iid}', (200, 404))
            else:
                st, _, dt = c.request('DELETE', f'/api/items/{iid}', None, auth)
                note('write', st, dt, f'DELETE {iid}', (200, 404))

    def searcher(s):
        c = Client(a.url)
        rnd = random.Random(1000 + s)
        while time.monotonic() < stop:
            st, _, dt = c.request('POST', '/api/search?k=10', rnd.choice(photos),
                                  {'Content-Type': 'application/octet-stream'})
            note('search', st, dt, 'search', (200,))

    rss = []

    def sampler():
        t0 = time.monotonic()
        while time.monotonic() < stop:
            r = rss_kib(a.pid)
            if r is not None:
                rss.append((time.monotonic() - t0, r))
            time.sleep(1.0)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(a.writers)]
    threads += [threading.Thread(target=searcher, args=(i,)) for i in range(a.searchers)]
    threads.append(threading.Thread(target=sampler))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0

    def pct(xs, p):
        if not xs:
            return None
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(p * len(xs)))] * 1e3, 1)

    n5xx = sum(v for k in stats for s, v in stats[k].items() if s >= 500 or s == 0)
    q = len(rss) // 4
    rss2 = statistics.median(r for _, r in rss[q:2 * q]) if q else None
    rss4 = statistics.median(r for _, r in rss[3 * q:]) if q else None
    flat = rss2 is not None and rss4 <= rss2 * (1 + a.rss_growth)
    out = {
        'seconds': round(wall, 1), 'writers': a.writers, 'searchers': a.searchers,
        'writes': sum(stats['write'].values()), 'writes_per_s': round(len(lat['write']) / wall, 1),
        'write_status': {str(k): v for k, v in sorted(stats['write'].items())},
        'write_p50_ms': pct(lat['write'], 0.5), 'write_p99_ms': pct(lat['write'], 0.99),
        'searches': sum(stats['search'].values()), 'searches_per_s': round(len(lat['search']) / wall, 1),
        'search_status': {str(k): v for k, v in sorted(stats['search'].items())},
        'search_p50_ms': pct(lat['search'], 0.5), 'search_p99_ms': pct(lat['search'], 0.99),
        'errors_5xx_or_none': n5xx, 'unexpected': unexpected,
        'rss_mib_q2': rss2 and round(rss2 / 1024, 1), 'rss_mib_q4': rss4 and round(rss4 / 1024, 1),
        'rss_flat': flat,
    }
    print(json.dumps(out))
    bad = n5xx > 0 or bool(unexpected) or not flat or not lat['write'] or not lat['search']
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
