#!/usr/bin/env python3
"""tests/drain_uploads.py PORT PID SIGNAL PHOTO [N [HALF [LATE]]] — photo uploads in flight
when `serve` gets a stop signal (tests/server.sh). N clients (default 8) upload PHOTO: the
first N - HALF - LATE connect at once and send their whole upload (searches running, or queued
behind busy threads with their request still unread); HALF (default N / 2) connect at once and
send half of it, then the signal is sent, then they send the rest; LATE (default 0) connect
0.5 s later, when the request threads are busy (their connection waits in the kernel's
backlog), and send everything; the signal follows 0.05 s after them. PHOTO "png:SIDE" is a generated SIDE x SIDE PNG
(6000: about 1 MB to send, 0.2 s to decode; with --garment on, a heavy search). Every client must get a complete
reply: 200 with hits, or 503 with Retry-After (a search that could not start in time).
Prints one line per client, then "sent SIG at T; stopped after S s; 200: A, 503: B, bad: C"."""
import os
import signal
import socket
import struct
import sys
import threading
import time
import zlib


def big_png(side):
    """A side x side RGB PNG of stripes: small to send, costly to decode."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    rows = [b"\0" + bytes((x * 7 + k * 31) & 255 for x in range(side * 3)) for k in range(16)]
    z = zlib.compressobj(1)
    idat = b"".join(z.compress(rows[(y // 64) % 16]) for y in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def read_reply(s):
    s.settimeout(20)
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except OSError as e:
            return data, str(e)
        if not b:
            return data, None
        data += b


def judge(data, err):
    """'200', '503' or 'bad: why' for one raw HTTP reply."""
    if err:
        return "bad: %s after %d bytes" % (err, len(data))
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return "bad: no complete reply (%d bytes)" % len(data)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return "bad: status line %r" % lines[0]
    hdr = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if "content-length" not in hdr or int(hdr["content-length"]) != len(body):
        return "bad: body of %d bytes, Content-Length %s" % (len(body), hdr.get("content-length"))
    if parts[1] == "200" and b'"hits"' in body:
        return "200"
    if parts[1] == "503" and "retry-after" in hdr:
        return "503"
    return "bad: %s %r" % (parts[1], body[:200])


def main():
    port, pid, signame, photo = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    nhalf = int(sys.argv[6]) if len(sys.argv) > 6 else n // 2
    nlate = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    sig = getattr(signal, "SIG" + signame)
    data = big_png(int(photo[4:])) if photo.startswith("png:") else open(photo, "rb").read()
    head = (b"POST /api/search?k=3 HTTP/1.1\r\nHost: lk\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(data))
    half = len(data) // 2
    results = [None] * n
    signalled = threading.Event()
    socks = [socket.create_connection(("127.0.0.1", port)) if i < n - nlate else None for i in range(n)]

    def client(i):
        s = socks[i]
        try:
            if i >= n - nlate:
                time.sleep(0.5)
                s = socks[i] = socket.create_connection(("127.0.0.1", port))
                s.sendall(head + data)
            elif i < n - nhalf - nlate:
                s.sendall(head + data)
            else:
                s.sendall(head + data[:half])
                signalled.wait(10)
                time.sleep(0.2)
                s.sendall(data[half:])
            results[i] = judge(*read_reply(s))
        except OSError as e:
            results[i] = "bad: %s" % e
        finally:
            if s:
                s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.55 if nlate else 0.05 if nhalf == 0 else 0.3)
    t0 = time.monotonic()
    os.kill(pid, sig)
    signalled.set()
    # stopped: the process is gone or a zombie (its parent, the test script, reaps it)
    stopped = None
    while time.monotonic() - t0 < 30:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "Z"
        if state == "Z":
            stopped = time.monotonic() - t0
            break
        time.sleep(0.02)
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        print("client %d: %s" % (i, r))
    print("sent %s; stopped after %s s; 200: %d, 503: %d, bad: %d" % (
        signame, "%.2f" % stopped if stopped is not None else "never",
        results.count("200"), results.count("503"), n - results.count("200") - results.count("503")))


if __name__ == "__main__":
    main()
