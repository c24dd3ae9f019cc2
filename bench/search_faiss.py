#!/usr/bin/python3
"""bench/search_faiss.py — the FAISS side of bench/search.sh, on the vectors search_bench wrote:
catalog.npy (the catalog's own vectors, with the query rows in catalog_queries.npy) and, for
the large run, base.npy / train.npy / queries.npy / gt.npy (exact top-10 rows). Prints
RESULT lines in search_bench's format. Single-query calls (as a search server makes them),
FAISS on one thread unless --threads says otherwise."""
import argparse
import os
import time

import numpy as np
import faiss


def pct(t, p):
    return float(np.percentile(np.asarray(t) * 1e3, p, method="higher"))


def timed(index, qs, k):
    out, ts = [], []
    for q in qs:
        t = time.perf_counter()
        _, i = index.search(q[None, :], k)
        ts.append(time.perf_counter() - t)
        out.append(i[0])
    return np.array(out), ts


def recall(got, want, k=10):
    return float(np.mean([len(set(g[:k]) & set(w[:k])) / k for g, w in zip(got, want)]))


def catalog(d, threads, build_threads):
    x = np.load(os.path.join(d, "catalog.npy"))
    qi = np.load(os.path.join(d, "catalog_queries.npy")).ravel()
    qs = x[qi]
    n, dim = x.shape
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    got, ts = timed(flat, qs, 11)
    exact = np.array([[j for j in g if j != q][:10] for g, q in zip(got, qi)])
    print(f"RESULT faiss_flat n={n} threads={threads} p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f}", flush=True)
    t = time.perf_counter()
    h = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    h.hnsw.efConstruction = 40
    faiss.omp_set_num_threads(build_threads)
    h.add(x)
    faiss.omp_set_num_threads(threads)
    tb = time.perf_counter() - t
    h.hnsw.efSearch = 64
    got, ts = timed(h, qs, 11)
    got = np.array([[j for j in g if j != q][:10] for g, q in zip(got, qi)])
    print(f"RESULT faiss_hnsw32 n={n} ef=64 build_s={tb:.1f} p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} "
          f"recall10={recall(got, exact):.4f} bytes_per_item={(dim * 4 + 32 * 2 * 4):.0f}", flush=True)


def large(d, nlist, m, probes, refine, threads, build_threads):
    base = np.load(os.path.join(d, "base.npy"), mmap_mode="r")
    train = np.load(os.path.join(d, "train.npy"))
    qs = np.load(os.path.join(d, "queries.npy"))
    gt = np.load(os.path.join(d, "gt.npy"))
    n, dim = base.shape
    faiss.omp_set_num_threads(build_threads)
    t = time.perf_counter()
    q = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFPQ(q, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    ivf.train(train[: min(len(train), 32 * nlist)])
    ttrain = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, n, 50000):
        ivf.add(np.ascontiguousarray(base[i:i + 50000]))
    tadd = time.perf_counter() - t
    faiss.omp_set_num_threads(threads)
    per = (m + 8) + nlist * dim * 4 / n  # codes + ids + centroids
    print(f"RESULT faiss_ivfpq n={n} nlist={nlist} m={m} train_s={ttrain:.1f} add_s={tadd:.1f} "
          f"bytes_per_item={per:.0f}", flush=True)
    for p in probes:
        ivf.nprobe = p
        got, ts = timed(ivf, qs, 10)
        print(f"RESULT faiss_ivfpq n={n} nprobe={p} refine=0 p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} "
              f"recall10={recall(got, gt):.4f}", flush=True)
        # the same exact re-rank from the memory-mapped floats as ours
        out, ts = [], []
        for qv in qs:
            t = time.perf_counter()
            _, i = ivf.search(qv[None, :], refine)
            c = i[0][i[0] >= 0]
            s = base[np.sort(c)] @ qv
            out.append(np.sort(c)[np.argsort(-s)[:10]])
            ts.append(time.perf_counter() - t)
        print(f"RESULT faiss_ivfpq n={n} nprobe={p} refine={refine} p50_ms={pct(ts, 50):.3f} "
              f"p99_ms={pct(ts, 99):.3f} recall10={recall(out, gt):.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=1, help="threads per search")
    ap.add_argument("--build-threads", type=int, default=1, help="threads for building")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--nprobe", default="16,32,64")
    ap.add_argument("--refine", type=int, default=50)
    ap.add_argument("--skip-large", action="store_true")
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    print(f"faiss {faiss.__version__}, {a.threads} thread(s)", flush=True)
    catalog(a.dir, a.threads, a.build_threads)
    if not a.skip_large and os.path.exists(os.path.join(a.dir, "base.npy")):
        large(a.dir, a.nlist, a.m, [int(p) for p in a.nprobe.split(",")], a.refine, a.threads, a.build_threads)


if __name__ == "__main__":
    main()
