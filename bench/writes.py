#!/usr/bin/env python3
"""bench/writes.py — the write rate of `lookalike serve` (docs/API.md "Writing the catalog").

  python3 bench/writes.py --url http://127.0.0.1:8080 --key KEY --images DIR --ids FILE \\
      [--clients 1] [--writes 200] [--batch 500]

Single writes: --clients threads, each over its own keep-alive connection, send --writes
multipart POST /api/items (a photo from DIR named by an id of FILE, and fields; ids new each
time, from 8,000,000,000 up): items/s and latency p50/p99. Then, with --batch N: one NDJSON
batch of N items whose photos were uploaded first (POST /api/uploads, timed apart), and one
multipart CSV batch of N items with their photos as parts: items/s of each. Prints one line
per measurement.
"""
import argparse, http.client, json, os, threading, time, urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--images", required=True)
ap.add_argument("--ids", required=True)
ap.add_argument("--clients", type=int, default=1)
ap.add_argument("--writes", type=int, default=200)
ap.add_argument("--batch", type=int, default=0)
ap.add_argument("--first-id", type=int, default=8_000_000_000)
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)
ids = [i.strip() for i in open(a.ids) if i.strip() and os.path.exists(os.path.join(a.images, i.strip() + ".jpg"))]
photos = [open(os.path.join(a.images, i + ".jpg"), "rb").read() for i in ids]
AUTH = {"Authorization": "Bearer " + a.key}


def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=600)


def multipart(fields, files):
    b = "lkbench0123456789"
    out = []
    for k, v in fields:
        out.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, v)).encode())
    for name, fname, data in files:
        out.append(('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                    'Content-Type: application/octet-stream\r\n\r\n' % (b, name, fname)).encode() + data + b"\r\n")
    out.append(("--%s--\r\n" % b).encode())
    return b"".join(out), "multipart/form-data; boundary=" + b


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


lat, errors, lock = [], [], threading.Lock()
counter = [0]


def client(k):
    c = conn()
    while True:
        with lock:
            n = counter[0]
            if n >= a.writes:
                return
            counter[0] += 1
        i = a.first_id + n
        body, ct = multipart([("id", i), ("productDisplayName", "bench %d" % n), ("price", n % 100)],
                             [("image", "p.jpg", photos[n % len(photos)])])
        t0 = time.time()
        c.request("POST", "/api/items", body=body, headers=dict(AUTH, **{"Content-Type": ct}))
        r = c.getresponse(); data = r.read()
        dt = time.time() - t0
        with lock:
            if r.status in (200, 201):
                lat.append(dt)
            else:
                errors.append((r.status, data[:200]))


t0 = time.time()
th = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
for t in th: t.start()
for t in th: t.join()
el = time.time() - t0
print("single writes: %d clients, %d written in %.1f s: %.1f items/s; latency p50 %.0f ms, p99 %.0f ms; %d errors %s"
      % (a.clients, len(lat), el, len(lat) / el, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, len(errors), errors[:2]))

if a.batch:
    n = a.batch
    base = a.first_id + 1_000_000
    c = conn()
    t0 = time.time()
    ups = []
    for k in range(n):
        c.request("POST", "/api/uploads", body=photos[k % len(photos)], headers=AUTH)
        r = c.getresponse(); ups.append(json.loads(r.read())["upload"])
    t_up = time.time() - t0
    lines = "".join(json.dumps({"id": base + k, "productDisplayName": "ndjson %d" % k, "upload": ups[k]}) + "\n"
                    for k in range(n))
    t0 = time.time()
    c.request("POST", "/api/items/batch", body=lines.encode(), headers=dict(AUTH, **{"Content-Type": "application/x-ndjson"}))
    r = c.getresponse(); res = json.loads(r.read())
    t_b = time.time() - t0
    print("NDJSON batch of %d: %d stored in %.1f s: %.1f items/s (uploading the %d photos first took %.1f s: %.0f/s)"
          % (n, res.get("stored", 0), t_b, res.get("stored", 0) / t_b, n, t_up, n / t_up))
    base += n
    csv = "id,gender,productDisplayName,price\n" + "".join("%d,Women,csv %d,%d\n" % (base + k, k, k % 50) for k in range(n))
    files = [("image", "%d.jpg" % (base + k), photos[k % len(photos)]) for k in range(n)]
    body, ct = multipart([("csv", csv)], files)
    t0 = time.time()
    c.request("POST", "/api/items/batch", body=body, headers=dict(AUTH, **{"Content-Type": ct}))
    r = c.getresponse(); raw = r.read()
    t_c = time.time() - t0
    res = json.loads(raw) if r.status == 200 else {"stored": 0, "error": raw[:200]}
    print("CSV batch of %d (+ %d photo parts, %.1f MB): %d stored in %.1f s: %.1f items/s %s"
          % (n, n, len(body) / 1e6, res.get("stored", 0), t_c, res.get("stored", 0) / t_c, res.get("error", "")))
