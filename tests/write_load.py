#!/usr/bin/env python3
"""tests/write_load.py — concurrent writes and searches against one `lookalike serve`
(tests/writes.sh; also a measurement: search latency while writing).

  python3 tests/write_load.py URL KEY IMAGES IDS [--seconds 5] [--writers 4] [--searchers 8]
      [--pid PID]

--writers threads each POST new products (multipart, a photo of IMAGES named by an id of IDS)
over keep-alive connections, --searchers threads POST photo searches, for --seconds. Prints one
JSON line: writes and searches done, any 5xx (and other failures) with their statuses, search
and write p50/p99 in ms, and, with --pid, the server's resident memory before and after (KiB).
Exit 1 when any request failed (a 5xx, or a write not answered 201).
"""
import argparse, http.client, json, os, random, threading, time, urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url"); ap.add_argument("key"); ap.add_argument("images"); ap.add_argument("ids")
ap.add_argument("--seconds", type=float, default=5)
ap.add_argument("--writers", type=int, default=4)
ap.add_argument("--searchers", type=int, default=8)
ap.add_argument("--first-id", type=int, default=6_000_000_000)
ap.add_argument("--pid", type=int, default=0)
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)
photos = [open(os.path.join(a.images, i.strip() + ".jpg"), "rb").read() for i in open(a.ids) if i.strip()]


def rss():
    if not a.pid:
        return None
    for line in open("/proc/%d/status" % a.pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def multipart(fields, photo):
    b = "lkload0123456789"
    out = [('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, v)).encode() for k, v in fields]
    out.append(('--%s\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n\r\n' % b).encode()
               + photo + b"\r\n")
    out.append(("--%s--\r\n" % b).encode())
    return b"".join(out), "multipart/form-data; boundary=" + b


lock = threading.Lock()
stats = {"writes": [], "searches": [], "failures": {}}
next_id = [a.first_id]
stop_at = time.time() + a.seconds


def fail(kind, status):
    with lock:
        k = "%s %s" % (kind, status)
        stats["failures"][k] = stats["failures"].get(k, 0) + 1


def writer(k):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    rng = random.Random(k)
    while time.time() < stop_at:
        with lock:
            i = next_id[0]; next_id[0] += 1
        body, ct = multipart([("id", i), ("productDisplayName", "load %d" % i)], rng.choice(photos))
        t0 = time.time()
        try:
            c.request("POST", "/api/items", body=body, headers={"Authorization": "Bearer " + a.key, "Content-Type": ct})
            r = c.getresponse(); r.read()
        except Exception as e:
            fail("write", type(e).__name__); c = http.client.HTTPConnection(u.hostname, u.port, timeout=60); continue
        if r.status == 201:
            with lock: stats["writes"].append(time.time() - t0)
        else:
            fail("write", r.status)


def searcher(k):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    rng = random.Random(100 + k)
    while time.time() < stop_at:
        t0 = time.time()
        try:
            c.request("POST", "/api/search?k=10", body=rng.choice(photos))
            r = c.getresponse(); r.read()
        except Exception as e:
            fail("search", type(e).__name__); c = http.client.HTTPConnection(u.hostname, u.port, timeout=60); continue
        if r.status == 200:
            with lock: stats["searches"].append(time.time() - t0)
        else:
            fail("search", r.status)


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1e3, 1) if xs else None


m0 = rss()
th = [threading.Thread(target=writer, args=(k,)) for k in range(a.writers)]
th += [threading.Thread(target=searcher, args=(k,)) for k in range(a.searchers)]
for t in th: t.start()
for t in th: t.join()
out = {"seconds": a.seconds, "writers": a.writers, "searchers": a.searchers,
       "writes": len(stats["writes"]), "searches": len(stats["searches"]), "failures": stats["failures"],
       "write_p50_ms": pct(stats["writes"], 50), "write_p99_ms": pct(stats["writes"], 99),
       "search_p50_ms": pct(stats["searches"], 50), "search_p99_ms": pct(stats["searches"], 99),
       "rss_kib_before": m0, "rss_kib_after": rss()}
print(json.dumps(out))
raise SystemExit(1 if stats["failures"] or not stats["writes"] or not stats["searches"] else 0)
