#!/usr/bin/env python3
"""tests/pgload.py — a bounded search load for tests/pg.sh and bench/replicas.sh.

    pgload.py URL --seconds S --clients C PHOTO...

C client threads POST the photos in turn to URL/api/search (the raw image as the body, k=5)
for S seconds, each on its own keep-alive connection (a new one after any failure), and
print one JSON line: requests, ok, failed (by reason), requests per second and latency
percentiles in milliseconds. A request fails when it gets no answer or a status other than
200, or when the answer has no hits.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("photos", nargs="+")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    bodies = [open(p, "rb").read() for p in a.photos]
    lock = threading.Lock()
    lat, fails = [], {}
    deadline = time.monotonic() + a.seconds

    def client(k):
        conn, i = None, k
        while time.monotonic() < deadline:
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.monotonic()
            why = None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
                conn.request("POST", "/api/search?k=5", body=body, headers={"Content-Type": "image/jpeg"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    why = "status %d" % r.status
                elif not json.loads(data).get("hits"):
                    why = "no hits"
            except Exception as e:  # connection refused, reset, timeout
                why = type(e).__name__
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
            dt = (time.monotonic() - t0) * 1e3
            with lock:
                if why:
                    fails[why] = fails.get(why, 0) + 1
                else:
                    lat.append(dt)

    t0 = time.monotonic()
    th = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    nf = sum(fails.values())
    print(json.dumps({"requests": len(lat) + nf, "ok": len(lat), "failed": nf, "fail_reasons": fails,
                      "seconds": round(wall, 2), "rps": round(len(lat) / wall, 1),
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99), "clients": a.clients}))


if __name__ == "__main__":
    main()
