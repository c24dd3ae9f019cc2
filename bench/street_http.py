#!/usr/bin/env python3
"""bench/street_http.py — the real phone photos uploaded to a running `lookalike serve`, as a
shopper's page does (POST /api/search, the photo as the body, k=10, default options), one at a
time. Prints JSON: P@10 by articleType per label, micro and macro (as `lookalike eval --street`
counts them), and the upload-to-answer latency seen by the client (p50, p99).

  bench/street_http.py --url http://127.0.0.1:8099 --street ../shared/data/street-photos
"""
import argparse
import csv
import http.client
import json
import os
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--street", required=True)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    labels, ms, failed = {}, [], 0
    with open(os.path.join(a.street, "labels.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if a.limit:
        rows = rows[: a.limit]
    for r in rows:
        name = r["image"] if "." in r["image"] else r["image"] + ".jpg"
        with open(os.path.join(a.street, "images", name), "rb") as f:
            body = f.read()
        t0 = time.perf_counter()
        conn.request("POST", "/api/search?k=10", body=body, headers={"Content-Type": "image/jpeg"})
        resp = conn.getresponse()
        data = resp.read()
        ms.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            failed += 1
            print(f"{name}: HTTP {resp.status} {data[:200]!r}", file=sys.stderr)
            continue
        want = {t.strip().lower() for t in r["articleTypes"].split(";")}
        hits = json.loads(data)["hits"]
        rel = sum(1 for h in hits if str(h.get("articleType", "")).lower() in want)
        lab = labels.setdefault(r["label"], [0, 0.0])
        lab[0] += 1
        lab[1] += rel / 10.0
    n = sum(v[0] for v in labels.values())
    ms.sort()
    out = {
        "photos": n,
        "failed": failed,
        "micro_p10": sum(v[1] for v in labels.values()) / n if n else 0,
        "macro_p10": sum(v[1] / v[0] for v in labels.values()) / len(labels) if labels else 0,
        "labels": sorted(({"label": k, "photos": v[0], "p10": v[1] / v[0]} for k, v in labels.items()),
                         key=lambda x: -x["photos"]),
        "latency_ms": {"p50": ms[len(ms) // 2] if ms else 0, "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else 0},
    }
    print(json.dumps(out))
    return 0 if n and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
