#!/usr/bin/env python3
"""tests/abuse.py PORT PID PHOTO_DIR SOAK_SECONDS MAX_PER_IP TIMEOUT_S [soak] — the server under abuse
(called by tests/reliability.sh against `lookalike serve --port 0 --timeout TIMEOUT_S
--max-per-ip MAX_PER_IP`): slow clients (idle and trickling) from 127.0.0.1 while clients from
127.0.0.2 must still be served, malformed and oversized requests (4xx or a closed connection,
never 5xx, never a hang), and a concurrent upload soak (zero 5xx, server RSS at start and end).
Prints "ok ..." / "FAIL ..." lines and "rss_start_kb N", "rss_end_kb N", "requests N"."""
import http.client
import os
import socket
import sys
import threading
import time

PORT, PID, PHOTOS, SOAK, PER_IP, TIMEOUT = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                            float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
MODE = sys.argv[7] if len(sys.argv) > 7 else "all"  # "soak": the upload soak only
fails = 0


def report(good, what):
    global fails
    print(("ok   " if good else "FAIL ") + what, flush=True)
    fails += 0 if good else 1


def rss_kb():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def conn(src="127.0.0.1", timeout=10.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", PORT))
    return s


def get(path, src="127.0.0.2", timeout=10.0):
    """One GET from another loopback address; returns the status or an exception name."""
    try:
        s = conn(src, timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while not data.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else "no response"
    except Exception as e:  # noqa: BLE001 — any failure is a failed request
        return type(e).__name__


def raw(payload, timeout=10.0):
    """Sends raw bytes from 127.0.0.2; returns the status, 'closed' (no answer) or the error."""
    try:
        s = conn("127.0.0.2", timeout)
        s.sendall(payload)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > 1 << 20:
                break
        s.close()
        if not data:
            return "closed"
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else "garbage"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except Exception as e:  # noqa: BLE001
        return type(e).__name__


photo_files = sorted(os.path.join(PHOTOS, f) for f in os.listdir(PHOTOS))[:8]
photos = [open(p, "rb").read() for p in photo_files]


def slow_and_malformed():
    """Slow clients, then malformed and oversized requests."""
    # ---------------------------------------------------------------- slow clients
    # Idle: more connections than the per-address limit, each sending half a request line, then
    # nothing. The server keeps at most PER_IP of them and closes those after TIMEOUT seconds.
    idle = []
    for _ in range(PER_IP + 24):
        try:
            s = conn("127.0.0.1", TIMEOUT + 15)
            s.sendall(b"GET /health HT")
            idle.append(s)
        except OSError:
            pass
    time.sleep(0.3)
    served = [get("/health") for _ in range(20)]
    report(all(x == 200 for x in served),
           f"{len(idle)} idle slow connections from 127.0.0.1 open: 20 of 20 GET /health from 127.0.0.2 "
           f"answered 200 (got {sorted(set(map(str, served)))})")
    t0 = time.time()
    closed = 0
    deadline_close = t0 + TIMEOUT + 15  # one bound for all of them
    for s in idle:
        try:
            s.settimeout(max(0.1, deadline_close - time.time()))
            if s.recv(1) == b"":
                closed += 1
        except (socket.timeout, TimeoutError):
            pass  # still open: the server never closed it
        except OSError:
            closed += 1  # reset by the server
    took = time.time() - t0
    report(closed == len(idle), f"the server closed all {closed} of {len(idle)} idle connections "
           f"(over the per-address limit {PER_IP}: at once; the rest after the {TIMEOUT} s timeout, "
           f"here {took:.1f} s)")
    for s in idle:
        s.close()

    # Trickling: PER_IP connections sending one header byte every 0.2 s for longer than the idle
    # timeout (so it never fires), while other addresses are served; at most PER_IP are held.
    stop = threading.Event()
    trickle_ok = [0]


    def trickler():
        try:
            s = conn("127.0.0.1", 30)
            msg = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000
            for i in range(len(msg)):
                if stop.is_set():
                    break
                s.send(msg[i:i + 1])
                time.sleep(0.2)
            trickle_ok[0] += 1
            s.close()
        except OSError:
            pass


    th = [threading.Thread(target=trickler) for _ in range(PER_IP + 8)]
    for t in th:
        t.start()
    time.sleep(TIMEOUT + 1.0)
    served = [get("/health") for _ in range(20)]
    stop.set()
    for t in th:
        t.join()
    report(all(x == 200 for x in served),
           f"{PER_IP + 8} trickling slowloris clients for {TIMEOUT + 1:.0f} s: 20 of 20 GET /health from "
           f"another address answered 200 (got {sorted(set(map(str, served)))})")

    # ---------------------------------------------------------------- malformed and oversized
    cases = [
        ("garbage request line", b"\x00\x01\x02 garbage\r\n\r\n"),
        ("no HTTP version", b"GET /health\r\n\r\n"),
        ("unknown method", b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n"),
        ("header without colon", b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"),
        ("80 KB header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 80000 + b"\r\n\r\n"),
        ("2,000 headers", b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(2000)) + b"\r\n"),
        ("64 KB URL", b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("NUL in the path", b"GET /heal\x00th HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("negative Content-Length", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabc"),
        ("two Content-Lengths", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 9\r\n\r\nabc"),
        ("Content-Length 10^30", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000000000000000\r\n\r\nabc"),
        ("Content-Length past the upload limit", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nabc"),
        ("bad chunk size", b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n"),
        ("huge chunk size", b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"),
        ("multipart without boundary", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\nContent-Length: 4\r\n\r\nabcd"),
        ("multipart, body not multipart", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 10\r\n\r\n0123456789"),
        ("multipart, 100 fields", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\n\r\n"
         + b"".join(b"--XX\r\nContent-Disposition: form-data; name=\"gender\"\r\n\r\nMen\r\n" for _ in range(100)) + b"--XX--\r\n"),
        ("multipart, two images", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\n\r\n"
         + b"".join(b"--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n" + photos[0] + b"\r\n" for _ in range(2)) + b"--XX--\r\n"),
        ("truncated JPEG body", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n" + photos[0][:300]),
        ("random body", b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + os.urandom(4096)),
        ("bad k and crop", b"POST /api/search?k=-1&crop=1,2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
        ("traversal, double-encoded", b"GET /static/%252e%252e/%252e%252e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("traversal, raw dots", b"GET /static/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("item id overflow", b"GET /api/items/99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("HTTP/0.9 style", b"GET /\r\n"),
        ("HTTP/2 preface (505 HTTP Version Not Supported is the right answer)", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ]
    for name, payload in cases:
        st = raw(payload)
        good = st == "closed" or (isinstance(st, int) and (400 <= st < 500 or (st == 505 and "HTTP/2" in name)))
        report(good, f"malformed: {name}: {st}")
    report(get("/health") == 200, "the server still answers after the malformed requests")


if MODE == "all":
    slow_and_malformed()

# ---------------------------------------------------------------- upload soak
statuses = {}
lock = threading.Lock()
count = [0]
deadline = [0.0]


def uploader(i):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    n = i
    while time.time() < deadline[0]:
        body = photos[n % len(photos)]
        n += 1
        try:
            c.request("POST", "/api/search?k=5", body=body, headers={"Content-Type": "image/jpeg"})
            r = c.getresponse()
            r.read()
            st = r.status
        except Exception as e:  # noqa: BLE001
            st = type(e).__name__
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        with lock:
            statuses[st] = statuses.get(st, 0) + 1
            count[0] += 1
    c.close()


# warm-up: a few searches, then the baseline RSS
deadline[0] = time.time() + 1.0
uploader(0)
rss0 = rss_kb()
statuses.clear()
count[0] = 0
deadline[0] = time.time() + SOAK
ups = [threading.Thread(target=uploader, args=(i,)) for i in range(8)]
for t in ups:
    t.start()
for t in ups:
    t.join()
rss1 = rss_kb()
print(f"rss_start_kb {rss0}", flush=True)
print(f"rss_end_kb {rss1}", flush=True)
print(f"requests {count[0]}", flush=True)
LABEL = sys.argv[8] if len(sys.argv) > 8 else "upload soak"
report(count[0] > 0 and set(statuses) == {200},
       f"{LABEL}: 8 clients for {SOAK:.0f} s, {count[0]} searches, statuses {statuses} (all 200, zero 5xx)")
sys.exit(1 if fails else 0)
