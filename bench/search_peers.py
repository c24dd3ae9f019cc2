#!/usr/bin/python3
"""bench/search_peers.py — the peers of bench/peers.sh (issue 19 item 3): hnswlib's HNSW, FAISS's
IndexHNSWFlat, IVF-Flat and IVF-SQ8 with the exact re-rank ours does, on the files `search_bench
ivf` wrote into --dir (base.npy memory-mapped, train.npy, queries.npy, gt.npy: exact top-10).
Each index is built (2 threads) and swept (one search thread, one query per call, as a server
asks) in its own subprocess, so its memory is its own: RSS growth over the process with the
queries loaded and base.npy mapped, anonymous pages only (the index's own memory; the mapped
vector file's pages are page cache, counted apart). Prints RESULT lines for peers_report.py."""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

from search_faiss import cpu, pct, recall, refined, timed

# name -> (library, spec (no "="), search parameter, default sweep); every setting is printed
PEERS = {  # the slow builds last
    "hnswlib_m16": ("hnswlib", "HNSW, M 16, ef_construction 100", "ef", "10,16,24,32,48,64,96,128,192,256,384,512"),
    "faiss_ivf_flat": ("FAISS", "IVF{nlist},Flat", "nprobe", "1,2,4,6,8,12,16,24,32,64,128"),
    "faiss_ivf_sq8": ("FAISS", "IVF{nlist},SQ8 + exact re-rank of {refine} from base.npy", "nprobe",
                      "1,2,4,6,8,12,16,24,32,64,128"),
    "hnswlib_m32": ("hnswlib", "HNSW, M 32, ef_construction 100", "ef", "10,16,24,32,48,64,96,128,192,256,384,512"),
    "faiss_hnsw32": ("FAISS", "IndexHNSWFlat, M 32, efConstruction 40 (its default)", "efSearch",
                     "10,16,24,32,48,64,96,128,192,256,384,512"),
}


def rss():
    """This process's anonymous resident bytes (its heap; not the mapped base.npy)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class Hnsw:
    """hnswlib behind FAISS's search(x, k) -> (scores, ids), so one timing loop serves both."""

    def __init__(self, ix):
        self.ix = ix

    def search(self, x, k):
        ids, dist = self.ix.knn_query(x, k=k, num_threads=1)
        return 1 - dist, ids.astype(np.int64)  # hnswlib's "ip" distance is 1 - dot


def chunks(base, step=50000):
    for i in range(0, base.shape[0], step):
        yield i, np.ascontiguousarray(base[i:i + step])


def build(name, base, train, nlist, threads):
    """The index, and the library's own size of it in bytes (its serialised form)."""
    lib = PEERS[name][0]
    n, dim = base.shape
    path = f"/tmp/lk-peer-{os.getpid()}.idx"
    if lib == "hnswlib":
        import hnswlib
        m = 16 if name == "hnswlib_m16" else 32
        ix = hnswlib.Index(space="ip", dim=dim)
        ix.init_index(max_elements=n, ef_construction=100, M=m, random_seed=100)
        for i, x in chunks(base):
            ix.add_items(x, np.arange(i, i + x.shape[0]), num_threads=threads)
        ix.set_num_threads(1)
        save = ix.save_index
        index = Hnsw(ix)
    else:
        import faiss
        faiss.omp_set_num_threads(threads)
        if name == "faiss_hnsw32":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 40
        else:
            q = faiss.IndexFlatIP(dim)
            if name == "faiss_ivf_flat":
                index = faiss.IndexIVFFlat(q, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFScalarQuantizer(q, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                      faiss.METRIC_INNER_PRODUCT)
            index.keep = q  # the Python object owns the C++ quantiser
            index.train(np.ascontiguousarray(train))
        for _, x in chunks(base):
            index.add(x)
        faiss.omp_set_num_threads(1)
        save = lambda p: faiss.write_index(index, p)
    return index, lambda: size_of(save, path)


def size_of(save, path):
    try:
        save(path)
        return os.path.getsize(path)
    finally:
        if os.path.exists(path):
            os.remove(path)


def worker(a):
    """One peer in this process: build, measure, sweep; RESULT lines on stdout."""
    lib, spec, param, sweep = PEERS[a.worker]
    base = np.load(os.path.join(a.dir, "base.npy"), mmap_mode="r")
    train = np.load(os.path.join(a.dir, "train.npy"))
    qs = np.load(os.path.join(a.dir, "queries.npy"))
    gt = np.load(os.path.join(a.dir, "gt.npy"))
    n, dim = base.shape
    nlist = a.nlist or int(1.5 * np.sqrt(n))  # as ours picks it
    spec = spec.format(nlist=nlist, refine=a.refine)
    anon0 = rss()
    t = time.perf_counter()
    index, size = build(a.worker, base, train, nlist, a.build_threads)
    tb = time.perf_counter() - t
    anon1 = rss()
    del train
    print(f"RESULT peer_build name={a.worker} lib={lib} n={n} dim={dim} build_s={tb:.1f} build_threads={a.build_threads} "
          f"rss_bytes_per_item={(anon1 - anon0) / n:.0f} spec={spec}", flush=True)
    for v in [int(x) for x in (a.sweep or sweep).split(",")]:
        if param == "ef":
            index.ix.set_ef(v)
        elif param == "efSearch":
            index.hnsw.efSearch = v
        else:
            index.nprobe = v
        if a.worker == "faiss_ivf_sq8":
            got, ts, cs = refined(index, base, qs, 10, a.refine)
        else:
            got, ts, cs = timed(index, qs, 10)
        print(f"RESULT peer name={a.worker} n={n} {param}={v} p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} "
              f"{cpu(cs)} recall10={recall(got, gt):.4f}", flush=True)
    mapped = dim * 4 if a.worker == "faiss_ivf_sq8" else 0  # the re-rank's file, as ours
    print(f"RESULT peer_size name={a.worker} n={n} index_bytes_per_item={size() / n:.0f} "
          f"mapped_bytes_per_item={mapped}", flush=True)


def floor(a):
    """The cost of one Python call into each library on a tiny index: the part of every peer
    time below that is the binding, not the search (ours is timed from C)."""
    import faiss
    import hnswlib
    qs = np.load(os.path.join(a.dir, "queries.npy"))
    dim = qs.shape[1]
    f = faiss.IndexFlatIP(dim)
    f.add(qs[:16])
    h = hnswlib.Index(space="ip", dim=dim)
    h.init_index(max_elements=16)
    h.add_items(qs[:16], np.arange(16))
    h.set_num_threads(1)
    for lib, ix in (("faiss", f), ("hnswlib", Hnsw(h))):
        _, ts, cs = timed(ix, qs, 10)
        print(f"RESULT peer_floor lib={lib} rows=16 p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} {cpu(cs)}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--nlist", type=int, default=0, help="FAISS IVF lists; 0: 1.5 sqrt(n), as ours")
    ap.add_argument("--refine", type=int, default=50, help="IVF-SQ8's exact re-rank depth (ours: 50)")
    ap.add_argument("--sweep", default="", help="the search parameter's values (default: each peer's)")
    ap.add_argument("--worker", choices=list(PEERS) + ["floor"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == "floor":
        return floor(a)
    if a.worker:
        return worker(a)
    import faiss
    import hnswlib  # fails here, before any build, when missing
    print(f"faiss {faiss.__version__} (compile options {faiss.get_compile_options().strip() or 'none'}), "
          f"hnswlib {os.path.basename(hnswlib.__file__)} (Debian python3-hnswlib); one search thread, "
          f"{a.build_threads} to build", flush=True)
    bad = []
    for w in ["floor"] + a.peers.split(","):
        if w != "floor" and w not in PEERS:
            sys.exit(f"search_peers: unknown peer {w!r} (known: {', '.join(PEERS)})")
        args = [sys.executable, os.path.abspath(__file__), "--dir", a.dir, "--worker", w, "--build-threads",
                str(a.build_threads), "--nlist", str(a.nlist), "--refine", str(a.refine)]
        if a.sweep:
            args += ["--sweep", a.sweep]
        with open("/proc/loadavg") as f:
            print(f"load before {w}: {' '.join(f.read().split()[:3])}", flush=True)
        if subprocess.run(args).returncode:
            bad.append(w)
    if bad:
        sys.exit(f"search_peers: failed: {', '.join(bad)}")


if __name__ == "__main__":
    main()
