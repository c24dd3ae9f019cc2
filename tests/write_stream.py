#!/usr/bin/env python3
"""tests/write_stream.py — durability of the write API under kill -9 (tests/writes.sh).

Each round starts `lookalike serve` on the catalog, streams writes to it over one keep-alive
connection (multipart POST /api/items: a photo + fields, ids new each time, every 5th write a
PATCH of an earlier id, every 7th a DELETE of one), kills the server with SIGKILL at a random
moment, then opens the SQLite file itself and checks that every acknowledged write is there whole:
the item with the acknowledged fields, its vector, its stored photo whose SHA-256 is the item's
hash; that every acknowledged DELETE stuck; and that no item written over HTTP lacks its vector or
photo (nothing half-written). Exit 0 when every round passes within --budget seconds.
"""
import argparse, hashlib, http.client, os, random, re, signal, sqlite3, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--db", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--images", required=True)
ap.add_argument("--ids", required=True, help="file of product ids whose photos to write")
ap.add_argument("--rounds", type=int, default=20)
ap.add_argument("--budget", type=float, default=40, help="seconds for all rounds")
ap.add_argument("--seed", type=int, default=16)
a = ap.parse_args()
rng = random.Random(a.seed)
photos = [open(os.path.join(a.images, i.strip() + ".jpg"), "rb").read() for i in open(a.ids) if i.strip()]


def start():
    log = open(a.db + ".serve.log", "w+")
    p = subprocess.Popen([a.bin, "serve", "--db", a.db, "--host", "127.0.0.1", "--port", "0", "--quiet"],
                         stderr=log, stdout=subprocess.DEVNULL)
    for _ in range(200):
        log.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", log.read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    log.seek(0)
    sys.exit("server did not start: " + log.read()[-500:])


def multipart(fields, photo):
    b = "lkstream%016x" % rng.getrandbits(64)
    out = []
    for k, v in fields.items():
        out.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, v)).encode())
    out.append(('--%s\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
                'Content-Type: image/jpeg\r\n\r\n' % b).encode() + photo + b"\r\n")
    out.append(("--%s--\r\n" % b).encode())
    return b"".join(out), "multipart/form-data; boundary=" + b


t_start = time.time()
acked = {}      # id -> productDisplayName acknowledged last
deleted = set() # ids whose DELETE was acknowledged
next_id = 7_000_000_000
total_acks = 0
for rnd in range(1, a.rounds + 1):
    p, port = start()
    kill_at = time.time() + rng.uniform(0.3, 1.0)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdr = {"Authorization": "Bearer " + a.key}
    n = 0
    killed = False
    while not killed:
        n += 1
        live = [i for i in acked if i not in deleted]
        try:
            if n % 7 == 0 and live:
                i = rng.choice(live)
                conn.request("DELETE", "/api/items/%d" % i, headers=hdr)
                r = conn.getresponse(); r.read()
                if r.status == 200:
                    deleted.add(i)
                    total_acks += 1
            elif n % 5 == 0 and live:
                i = rng.choice(live)
                name = "patched r%d n%d" % (rnd, n)
                conn.request("PATCH", "/api/items/%d" % i, body='{"productDisplayName":"%s"}' % name,
                             headers=dict(hdr, **{"Content-Type": "application/json"}))
                r = conn.getresponse(); r.read()
                if r.status == 200:
                    acked[i] = name
                    total_acks += 1
            else:
                i = next_id; next_id += 1
                name = "stream r%d n%d" % (rnd, n)
                body, ct = multipart({"id": i, "productDisplayName": name, "round": rnd}, rng.choice(photos))
                conn.request("POST", "/api/items", body=body, headers=dict(hdr, **{"Content-Type": ct}))
                r = conn.getresponse(); data = r.read()
                if r.status == 201:
                    acked[i] = name
                    total_acks += 1
                elif r.status >= 500:
                    sys.exit("round %d: a write got %d: %s" % (rnd, r.status, data[:300]))
        except (ConnectionError, http.client.HTTPException, OSError):
            break  # the server is gone (killed while this write was in flight: not acknowledged)
        if time.time() >= kill_at:
            p.send_signal(signal.SIGKILL)
            killed = True
    if not killed:
        p.send_signal(signal.SIGKILL)
    p.wait()
    conn.close()
    # the file itself after the kill
    db = sqlite3.connect(a.db)
    bad = []
    for i, name in acked.items():
        if i in deleted:
            if db.execute("SELECT 1 FROM items WHERE id = ?", (i,)).fetchone():
                bad.append("item %d: its DELETE was acknowledged, it is still there" % i)
            continue
        row = db.execute("SELECT productDisplayName, hash, path FROM items WHERE id = ?", (i,)).fetchone()
        if not row:
            bad.append("item %d: acknowledged, missing" % i); continue
        if row[0] != name:
            bad.append("item %d: name %r, acknowledged %r" % (i, row[0], name))
        if not db.execute("SELECT 1 FROM vectors WHERE id = ?", (i,)).fetchone():
            bad.append("item %d: no vector" % i)
        ph = db.execute("SELECT data FROM photos WHERE id = ?", (i,)).fetchone()
        if not ph or hashlib.sha256(ph[0]).hexdigest() != row[1]:
            bad.append("item %d: photo missing or not the item's hash" % i)
    half = db.execute("SELECT count(*) FROM items i WHERE i.source = 'api' AND (NOT EXISTS (SELECT 1 FROM vectors v"
                      " WHERE v.id = i.id) OR NOT EXISTS (SELECT 1 FROM photos p WHERE p.id = i.id))").fetchone()[0]
    if half:
        bad.append("%d items written over HTTP lack their vector or photo" % half)
    db.close()
    if bad:
        print("round %d: %d problems:\n  %s" % (rnd, len(bad), "\n  ".join(bad[:10])))
        sys.exit(1)
    print("round %d: %d writes answered before the kill; all %d acknowledged so far are there" %
          (rnd, n - 1, total_acks))
elapsed = time.time() - t_start
print("%d rounds, %d acknowledged writes, all present after kill -9; %.1f s" % (a.rounds, total_acks, elapsed))
sys.exit(0 if elapsed <= a.budget else 1)
