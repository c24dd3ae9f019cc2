#!/usr/bin/python3
"""bench/search_faiss.py — the FAISS side of bench/search.sh, on the vectors search_bench wrote:
catalog.npy (the catalog's own vectors, with the query rows in catalog_queries.npy) and, for
the large run, base.npy / train.npy / queries.npy / gt.npy (exact top-10 rows): FAISS's
PCA768,IVF,SQ8 (the closest to ours: 768 one-byte codes per item), optionally IVF-PQ, and a
brute-force IndexFlatIP over all rows. Prints RESULT lines in search_bench's format. Single-query calls (as a search server makes them),
FAISS on one thread unless --threads says otherwise."""
import argparse
import os
import time

import numpy as np
import faiss


def pct(t, p):
    return float(np.percentile(np.asarray(t) * 1e3, p, method="higher"))


def timed(index, qs, k):
    """Ids found and per-query wall and CPU times (this thread's CPU time leaves out other
    processes' turns on the core)."""
    out, ts, cs = [], [], []
    for q in qs:
        t, c = time.perf_counter(), time.thread_time()
        _, i = index.search(q[None, :], k)
        ts.append(time.perf_counter() - t)
        cs.append(time.thread_time() - c)
        out.append(i[0])
    return np.array(out), ts, cs


def refined(index, base, qs, k, refine):
    """Like timed, with the exact re-rank ours does: the index's best `refine` hits re-scored
    with the float rows of base (memory-mapped), the k best kept."""
    out, ts, cs = [], [], []
    for qv in qs:
        t, c0 = time.perf_counter(), time.thread_time()
        _, i = index.search(qv[None, :], refine)
        c = np.sort(i[0][i[0] >= 0])
        s = base[c] @ qv
        out.append(c[np.argsort(-s)[:k]])
        ts.append(time.perf_counter() - t)
        cs.append(time.thread_time() - c0)
    return out, ts, cs


def cpu(ts):
    return f"cpu_p50_ms={pct(ts, 50):.3f} cpu_p99_ms={pct(ts, 99):.3f}"


def recall(got, want, k=10):
    return float(np.mean([len(set(g[:k]) & set(w[:k])) / k for g, w in zip(got, want)]))


def catalog(d, threads, build_threads):
    x = np.load(os.path.join(d, "catalog.npy"))
    qi = np.load(os.path.join(d, "catalog_queries.npy")).ravel()
    qs = x[qi]
    n, dim = x.shape
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    got, ts, cs = timed(flat, qs, 11)
    exact = np.array([[j for j in g if j != q][:10] for g, q in zip(got, qi)])
    print(f"RESULT faiss_flat n={n} threads={threads} p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} {cpu(cs)}", flush=True)
    t = time.perf_counter()
    h = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    h.hnsw.efConstruction = 40
    faiss.omp_set_num_threads(build_threads)
    h.add(x)
    faiss.omp_set_num_threads(threads)
    tb = time.perf_counter() - t
    h.hnsw.efSearch = 64
    got, ts, cs = timed(h, qs, 11)
    got = np.array([[j for j in g if j != q][:10] for g, q in zip(got, qi)])
    print(f"RESULT faiss_hnsw32 n={n} ef=64 build_s={tb:.1f} p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} {cpu(cs)} "
          f"recall10={recall(got, exact):.4f} bytes_per_item={(dim * 4 + 32 * 2 * 4):.0f}", flush=True)


def large(d, nlist, m, probes, refine, threads, build_threads, pq, flat_queries):
    base = np.load(os.path.join(d, "base.npy"), mmap_mode="r")
    train = np.load(os.path.join(d, "train.npy"))
    qs = np.load(os.path.join(d, "queries.npy"))
    gt = np.load(os.path.join(d, "gt.npy"))
    n, dim = base.shape
    if nlist <= 0:
        nlist = int(1.5 * np.sqrt(n))  # as ours picks it
    # FAISS's IVF with 8-bit scalar codes, (a) on all dims (1,792 B/item) and (b) like ours on
    # a 768-d projection (768 B/item): the leading eigenvectors of the training rows' second
    # moments, uncentred as ours (FAISS's PCAMatrix centres, which biases inner-product
    # ranking); optionally IVF-PQ (slow to train here, and far below 0.95 recall at 64 B/item)
    def sq8(pdim):
        def build():
            q = faiss.IndexFlatIP(pdim)
            ivf = faiss.IndexIVFScalarQuantizer(q, pdim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                faiss.METRIC_INNER_PRODUCT)
            ivf.keep = q
            if pdim == dim:
                return ivf
            t = np.ascontiguousarray(train, dtype=np.float64)
            w, v = np.linalg.eigh(t.T @ t)
            lt = faiss.LinearTransform(dim, pdim, False)
            faiss.copy_array_to_vector(np.ascontiguousarray(v[:, ::-1][:, :pdim].T, dtype=np.float32).ravel(), lt.A)
            lt.is_trained = True
            pre = faiss.IndexPreTransform(lt, ivf)
            pre.keep = (lt, ivf, q)  # the Python objects own the C++ ones
            return pre
        return build
    kinds = [("faiss_ivf_sq8", f"IVF{nlist},SQ8 ({dim}-d)", sq8(dim)),
             ("faiss_proj_ivf_sq8", f"768-d projection + IVF{nlist},SQ8", sq8(768))]
    if pq:
        kinds.append(("faiss_ivfpq", f"IVF{nlist},PQ{m}",
                      lambda: faiss.index_factory(dim, f"IVF{nlist},PQ{m}", faiss.METRIC_INNER_PRODUCT)))
    for kind, spec, build in kinds:
        faiss.omp_set_num_threads(build_threads)
        t = time.perf_counter()
        ivf = build()
        ivf.train(np.ascontiguousarray(train))
        ttrain = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, n, 50000):
            ivf.add(np.ascontiguousarray(base[i:i + 50000]))
        tadd = time.perf_counter() - t
        faiss.omp_set_num_threads(threads)
        ivp = faiss.extract_index_ivf(ivf)
        per = faiss.serialize_index(ivf).nbytes / n  # codes, ids, centroids, projection
        print(f"RESULT {kind} n={n} spec={spec.replace(' ', '_')} train_s={ttrain:.1f} add_s={tadd:.1f} "
              f"bytes_per_item={per:.0f}", flush=True)
        for p in probes:
            ivp.nprobe = p
            got, ts, cs = timed(ivf, qs, 10)
            print(f"RESULT {kind} n={n} nprobe={p} refine=0 p50_ms={pct(ts, 50):.3f} p99_ms={pct(ts, 99):.3f} {cpu(cs)} "
                  f"recall10={recall(got, gt):.4f}", flush=True)
            out, ts, cs = refined(ivf, base, qs, 10, refine)
            print(f"RESULT {kind} n={n} nprobe={p} refine={refine} p50_ms={pct(ts, 50):.3f} "
                  f"p99_ms={pct(ts, 99):.3f} {cpu(cs)} recall10={recall(out, gt):.4f}", flush=True)
        del ivf
    if flat_queries > 0:  # brute force over all n, the exact answer's cost (floats in RAM)
        flat = faiss.IndexFlatIP(dim)
        for i in range(0, n, 50000):
            flat.add(np.ascontiguousarray(base[i:i + 50000]))
        got, ts, cs = timed(flat, qs[:flat_queries], 10)
        print(f"RESULT faiss_flat n={n} threads={threads} queries={flat_queries} p50_ms={pct(ts, 50):.3f} "
              f"p99_ms={pct(ts, 99):.3f} {cpu(cs)} recall10={recall(got, gt[:flat_queries]):.4f} bytes_per_item={dim * 4}", flush=True)
        del flat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=1, help="threads per search")
    ap.add_argument("--build-threads", type=int, default=1, help="threads for building")
    ap.add_argument("--nlist", type=int, default=0, help="0: 1.5 sqrt(n), as ours")
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--nprobe", default="16,32,64")
    ap.add_argument("--refine", type=int, default=50)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--pq", action="store_true", help="also IVF-PQ (slow to train)")
    ap.add_argument("--flat-queries", type=int, default=20, help="brute-force queries over the large set")
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    opts = faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else "?"
    note = ": a generic build, no AVX2 kernels" if "GENERIC" in opts else ""
    print(f"faiss {faiss.__version__} (compile options {opts.strip() or 'none'}{note}), "
          f"{a.threads} thread(s) per search, {a.build_threads} to build", flush=True)
    catalog(a.dir, a.threads, a.build_threads)
    if not a.skip_large and os.path.exists(os.path.join(a.dir, "base.npy")):
        large(a.dir, a.nlist, a.m, [int(p) for p in a.nprobe.split(",")], a.refine, a.threads, a.build_threads,
              a.pq, a.flat_queries)


if __name__ == "__main__":
    main()
