#!/usr/bin/python3
"""bench/peers_report.py RESULTS DOC — turns bench/peers.sh's results.txt (search_bench ivf's and
search_peers.py's RESULT lines) into the "Peers at 1M" tables: every method's build and memory,
every setting swept, then at equal recall@10 (>= 0.95, >= 0.99) each method's fastest setting
and our ratios to each peer. Puts them between DOC's peers-bench markers (the rest is kept); a
run of 10,000,000 goes between the peers-bench-10M markers ("Peers at 10M")."""
import sys

from search_report import best_at, f, parse, write_between

BEGIN, END = "<!-- peers-bench:begin -->", "<!-- peers-bench:end -->"
BEGIN_10M, END_10M = "<!-- peers-bench-10M:begin -->", "<!-- peers-bench-10M:end -->"
TARGETS = (0.95, 0.99)


def methods(rows):
    """[{name, spec, build_s, ram, own, settings: [row with 'setting', 'mapped']}], ours first."""
    out, cur = [], None
    for r in rows:  # ours: each ivf_build opens a method, its unfiltered ivf rows follow
        if r["kind"] == "ivf_build":
            coarse_only = r["fine"] == "0"
            spec = (f"IVF{r['nlist']}, {r['coarse']}-d int8 coarse codes only" if coarse_only else
                    f"IVF{r['nlist']}, {r['coarse']}-d coarse + {r['fine']}-d fine int8 codes")
            cur = {"name": f"ours (coarse-only, {r['coarse']}-d codes)" if coarse_only else "ours (fine + coarse codes)", "ours": True,
                   "spec": spec, "build_s": float(r["train_s"]) + float(r["add_s"]), "threads": 1,
                   "ram": float(r.get("rss_bytes_per_item", r["bytes_per_item"])), "own": float(r["bytes_per_item"]),
                   "dim": int(r.get("dim", 0)), "coarse_only": coarse_only, "settings": []}
            out.append(cur)
        elif r["kind"] == "ivf" and cur and "nprobe" in r and r["filter"] == "none":
            rf = int(r["refine"])
            if cur["coarse_only"]:
                how = f"exact re-rank of {r['rerank']}" if rf else f"{r['rerank']} candidates, code scores"
            else:
                how = f"rerank {r['rerank']}, " + (f"exact re-rank of {rf}" if rf else "fine-code scores")
            cur["settings"].append(dict(r, setting=f"nprobe {r['nprobe']}, {how}", mapped=cur["dim"] * 4 if rf else 0))
    peers = {}
    for r in rows:
        if r["kind"] == "peer_build":
            peers[r["name"]] = {"name": f"{r['lib']} {r['spec']}",
                                "ours": False, "build_s": float(r["build_s"]), "threads": int(r["build_threads"]),
                                "ram": float(r["rss_bytes_per_item"]), "own": None, "mapped": 0, "settings": []}
        elif r["kind"] == "peer_size" and r["name"] in peers:
            peers[r["name"]]["own"] = float(r["index_bytes_per_item"])
            peers[r["name"]]["mapped"] = int(r["mapped_bytes_per_item"])
        elif r["kind"] == "peer" and r["name"] in peers:
            param = next(k for k in ("ef", "efSearch", "nprobe") if k in r)
            peers[r["name"]]["settings"].append(dict(r, setting=f"{param} {r[param]}"))
    for p in peers.values():
        for s in p["settings"]:
            s["mapped"] = p["mapped"]
    return out + list(peers.values())


def kb(x):
    return f"{x:,.0f}" if x is not None else "–"


def render(head, rows):
    ms = methods(rows)
    n = next((int(r["n"]) for r in rows if r["kind"] in ("ivf_build", "peer_build")), 0)
    floors = {r["lib"]: r for r in rows if r["kind"] == "peer_floor"}
    how = ("`bash bench/peers.sh --n 10000000` (`make bench-peers-10m`)" if n == 10000000 else
           "`bash bench/peers.sh` (`make bench-peers`; part of `make bench`)")
    out = [f"Measured by {how}: {n:,} vectors of the",
           "tuned 256-d recipe (the catalog's 35,281 real ones and synthetic ones drawn around them, as",
           "`bench/search.sh` does), 1,000 held-out queries, recall@10 against the exact top-10 (batched",
           "sgemm). Every method on the same files in the same run, one search thread, one query per call",
           "(as a server asks); the peers built with 2 threads, ours with one. Ours is timed from C, the peers from",
           "Python (Debian's python3-hnswlib 0.6.2 and python3-faiss, a generic build without AVX2",
           "kernels); the cost of one Python call on a tiny index is "
           + (", ".join(f"{lib} {float(r['p50_ms']) * 1e3:.0f} µs" for lib, r in sorted(floors.items())) or "not measured")
           + " (p50), inside their times. Memory: \"RAM\" is the process's",
           "anonymous RSS growth over building the index (what it holds; ours also as `lk_ivf_memory`, the",
           "peers' as the library's saved file), \"mapped\" the float vector file an exact re-rank reads",
           "(memory-mapped, page cache, shared; 1,024 B an item at 256-d), counted apart. Load is the",
           "1/5/15-minute load average of the 2-core machine: above ~1, other work shared the cores and",
           "wall-clock times are inflated, every method alike; \"CPU\" columns leave that out.", "",
           "```"] + head + ["```", "",
           "| method | build | RAM B/item (RSS) | own size B/item | mapped B/item |", "|---|---:|---:|---:|---:|"]
    for m in ms:
        mapped = max((s["mapped"] for s in m["settings"]), default=0)
        spec = f" `{m['spec']}`" if "spec" in m else ""
        out.append(f"| {m['name']}{spec} | {m['build_s']:.1f} s ({m['threads']} thread{'s' if m['threads'] > 1 else ''}) | "
                   f"{kb(m['ram'])} | {kb(m['own'])} | {kb(mapped) if mapped else '–'} |")
    out += ["", "| method | setting | recall@10 | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for m in ms:
        for s in m["settings"]:
            out.append(f"| {m['name']} | {s['setting']} | {f(s['recall10'], 3)} | {f(s['p50_ms'], 3)} | {f(s['p99_ms'], 3)} | "
                       f"{f(s.get('cpu_p50_ms'), 3)} | {f(s.get('cpu_p99_ms'), 3)} |")
    out.append("")
    for want in TARGETS:
        out += [f"**At equal recall: each method's fastest setting (p50) reaching recall@10 >= {want}**", "",
                "| method | setting | recall@10 | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | RAM B/item | + mapped |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        best = []
        for m in ms:
            b = best_at(m["settings"], want)
            if b:
                best.append((m, b))
                out.append(f"| {m['name']} | {b['setting']} | {f(b['recall10'], 3)} | {f(b['p50_ms'], 3)} | {f(b['p99_ms'], 3)} | "
                           f"{f(b.get('cpu_p50_ms'), 3)} | {f(b.get('cpu_p99_ms'), 3)} | {kb(m['ram'])} | "
                           f"{kb(b['mapped']) if b['mapped'] else '–'} |")
            elif not m["settings"]:
                out.append(f"| {m['name']} | not searched (the run stopped after its build) | | | | | | {kb(m['ram'])} | |")
            else:
                top = max(float(s["recall10"]) for s in m["settings"])
                out.append(f"| {m['name']} | never (best {top:.3f}) | | | | | | {kb(m['ram'])} | |")
        out.append("")
        ours = [x for x in best if x[0]["ours"]]
        if not ours:
            out += [f"Ours never reaches recall@10 {want} in this sweep.", ""]
            continue
        om, ob = min(ours, key=lambda x: float(x[1]["p50_ms"]))
        lines = [f"Ours at >= {want}: {om['name']}, {ob['setting']}. Each peer's figure over ours (above 1: ours "
                 "ahead; RAM + mapped counts the float file the exact re-rank reads as if all resident):"]
        for pm, pb in best:
            if pm["ours"]:
                continue
            ratios = {"p50": float(pb["p50_ms"]) / float(ob["p50_ms"]), "p99": float(pb["p99_ms"]) / float(ob["p99_ms"]),
                      "CPU p50": float(pb["cpu_p50_ms"]) / float(ob["cpu_p50_ms"]),
                      "CPU p99": float(pb["cpu_p99_ms"]) / float(ob["cpu_p99_ms"]), "RAM": pm["ram"] / om["ram"],
                      "RAM + mapped": (pm["ram"] + pb["mapped"]) / (om["ram"] + ob["mapped"])}
            wins = [k for k, v in ratios.items() if v < 1]
            verdict = (f"**{pm['name']} wins on {', '.join(wins)}**" if wins else "ours is ahead on every count")
            lines.append(f"- {pm['name']} ({pb['setting']}): " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
                         + f": {verdict}.")
        out += lines + [""]
    return "\n".join(out)


def main():
    head, rows = parse(sys.argv[1])
    n = next((int(r["n"]) for r in rows if r["kind"] in ("ivf_build", "peer_build")), 0)
    if n == 10000000:
        write_between(sys.argv[2], BEGIN_10M, END_10M, render(head, rows), "## Peers at 10M")
    else:
        write_between(sys.argv[2], BEGIN, END, render(head, rows), "## Peers at 1M")


if __name__ == "__main__":
    main()
