#!/usr/bin/python3
"""bench/search_report.py RESULTS DOC — turns bench/search.sh's results.txt into markdown
tables and puts them between the search-bench markers of DOC's "## Search" section (the rest of
the file is left as it is)."""
import re
import sys

BEGIN, END = "<!-- search-bench:begin -->", "<!-- search-bench:end -->"


def parse(path):
    head, rows, build = [], [], -1
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("RESULT "):
            parts = line.split()
            kv = {"kind": parts[1]}
            # "filter=25 % allowed" has spaces: re-join values without '='
            key = None
            for p in parts[2:]:
                if "=" in p:
                    key, v = p.split("=", 1)
                    kv[key] = v
                elif key:
                    kv[key] += " " + p
            if kv["kind"] == "ivf_build":
                build += 1
            if kv["kind"] in ("ivf_build", "ivf"):
                kv["build"] = build  # each ivf_build opens one of our configurations; its rows follow
            rows.append(kv)
        elif line.startswith(("date ", "load ", "exact:", "ivf:", "generated", "faiss ", "blas ")):
            head.append(line)
    return head, rows


def f(x, nd=2):
    try:
        return f"{float(x):.{nd}f}"
    except (TypeError, ValueError):
        return "–"


FAISS_LARGE = {"faiss_ivf_sq8": "FAISS IVF-SQ8, all dims", "faiss_proj_ivf_sq8": "FAISS IVF-SQ8 on our 768-d projection",
               "faiss_ivfpq": "FAISS IVF-PQ"}


def best_at(rows, want=0.95):
    """The fastest (p50) unfiltered row reaching recall@10 >= want, or None."""
    ok = [r for r in rows if r.get("filter", "none") == "none" and float(r["recall10"]) >= want]
    return min(ok, key=lambda r: float(r["p50_ms"])) if ok else None


def against(x, lim):
    """'met' when x is within the limit, else by how much it is over."""
    return "met" if x <= lim else f"{x / lim:.2f}x over"


def render(head, rows):
    out = ["Measured by `bash bench/search.sh` (`make bench-search`; part of `make bench`). Load is the",
           "1/5/15-minute load average of the 2-core machine before and after the whole run: above ~1,",
           "other work shared the cores and every wall-clock time below is inflated by it, ours and FAISS's",
           "alike. \"CPU\" columns are the searching thread's own CPU time per query",
           "(`CLOCK_THREAD_CPUTIME_ID`, Python's `time.thread_time`): they leave out the time other",
           "processes held the core, so they are close to what an idle machine's wall clock would show",
           "(caches are still shared).", "",
           "```"] + head + ["```", ""]
    ex = [r for r in rows if r["kind"] in ("exact", "exact2")]
    fl = [r for r in rows if r["kind"] == "faiss_flat" and "queries" not in r]
    hn = [r for r in rows if r["kind"] == "faiss_hnsw32"]
    if ex:
        out += ["**Exact search over the catalog** (k=10, one query per call, each catalog row in turn as the",
                "query with itself excluded; the plain float scan and the int8-shortlist scan answer the same",
                "queries side by side; \"identical\" = same ids, same scores, same order as the plain scan):", "",
                "\"Back to back\" times the same queries through the int8 index alone, one after another as a",
                "server answers them (and as FAISS is timed); in the first columns each query follows a plain",
                "scan of 250 MB that has flushed the caches, so its codes come from memory every time.", "",
                "| search | threads | filter | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | back to back p50 ms | back to back p99 ms | identical top-10 |",
                "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in ex:
            if r["kind"] == "exact":
                out.append(f"| plain float scan (before) | 1 | {r['filter']} | {f(r['plain_p50_ms'])} | {f(r['plain_p99_ms'])} | | | | | |")
            t = 1 if r["kind"] == "exact" else 2
            c50, c99 = (f(r.get("fast_cpu_p50_ms"), 3), f(r.get("fast_cpu_p99_ms"))) if t == 1 else ("", "")
            out.append(f"| int8 shortlist + float re-rank | {t} | {r['filter']} | {f(r['fast_p50_ms'], 3)} | "
                       f"{f(r['fast_p99_ms'])} | {c50} | {c99} | {f(r.get('warm_p50_ms'), 3)} | {f(r.get('warm_p99_ms'))} | "
                       f"{r['identical_top10']} |")
        for r in fl:
            out.append(f"| FAISS IndexFlatIP | {r['threads']} | none | {f(r['p50_ms'])} | {f(r['p99_ms'])} | "
                       f"{f(r.get('cpu_p50_ms'))} | {f(r.get('cpu_p99_ms'))} | {f(r['p50_ms'])} | {f(r['p99_ms'])} | |")
        for r in hn:
            out.append(f"| FAISS HNSW32, efSearch 64 (approximate; build {r['build_s']} s) | 1 | none | "
                       f"{f(r['p50_ms'], 3)} | {f(r['p99_ms'])} | {f(r.get('cpu_p50_ms'), 3)} | {f(r.get('cpu_p99_ms'))} | "
                       f"{f(r['p50_ms'], 3)} | {f(r['p99_ms'])} | recall@10 {f(r['recall10'], 3)} |")
        out.append("")
        fast = next((r for r in ex if r["kind"] == "exact" and r["filter"] == "none"), None)
        if fast and fl:
            out.append(f"Ratios at p50: the int8-shortlist scan is {float(fast['plain_p50_ms']) / float(fast['fast_p50_ms']):.1f}x "
                       f"the plain scan and {float(fl[0]['p50_ms']) / float(fast['fast_p50_ms']):.1f}x FAISS IndexFlatIP"
                       + (f", {float(hn[0]['p50_ms']) / float(fast['fast_p50_ms']):.1f}x FAISS HNSW32 (which is approximate)"
                          if hn else "") + ".")
        if fast:
            def verdict(p50, p99, lim):
                if p50 <= lim and p99 <= lim:
                    return "met"
                return f"missed: p50 {against(p50, lim)}, p99 {against(p99, lim)}"
            p50, p99 = float(fast["fast_p50_ms"]), float(fast["fast_p99_ms"])
            line = (f"Target \"exact search over the catalog in <= 1 ms per query (p50/p99)\", one thread, unfiltered: "
                    f"wall clock {verdict(p50, p99, 1)} (p50 {p50:.2f}, p99 {p99:.2f} ms)")
            if "fast_cpu_p50_ms" in fast:
                c50, c99 = float(fast["fast_cpu_p50_ms"]), float(fast["fast_cpu_p99_ms"])
                line += f"; CPU time {verdict(c50, c99, 1)} (p50 {c50:.2f}, p99 {c99:.2f} ms)"
            if "warm_p50_ms" in fast:
                w50, w99 = float(fast["warm_p50_ms"]), float(fast["warm_p99_ms"])
                line += f"; back to back {verdict(w50, w99, 1)} (p50 {w50:.2f}, p99 {w99:.2f} ms)"
            two = next((r for r in ex if r["kind"] == "exact2" and r["filter"] == "none" and "warm_p50_ms" in r), None)
            if two:
                w50, w99 = float(two["warm_p50_ms"]), float(two["warm_p99_ms"])
                line += f"; both cores, back to back: {verdict(w50, w99, 1)} (p50 {w50:.2f}, p99 {w99:.2f} ms)"
            out.append(line + ".")
        out.append("")
    ib = [r for r in rows if r["kind"] == "ivf_build"]
    iv = [r for r in rows if r["kind"] == "ivf" and "nprobe" in r]
    isel = [r for r in rows if r["kind"] == "ivf" and "nprobe" not in r]
    fb = [r for r in rows if r["kind"] in FAISS_LARGE and "train_s" in r]
    fv = [r for r in rows if r["kind"] in FAISS_LARGE and "nprobe" in r]
    flb = [r for r in rows if r["kind"] == "faiss_flat" and "queries" in r]
    if ib:
        # the engine's configuration (coarse-only, as `--index ivf` builds it) leads; FAISS's
        # ratios are to it
        eng_b = next((x for x in ib if x.get("fine") == "0"), ib[0])
        def method(x):
            if x.get("fine") == "0":
                return f"ours (the engine's): IVF{x.get('nlist', '')}, coarse-only int8 {x['coarse']}-d codes"
            return f"ours: IVF{x.get('nlist', '')}, int8 codes {x['coarse']}-d coarse + {x['fine']}-d fine"
        def short(x):
            return f"ours, coarse-only {x['coarse']}-d" if x.get("fine") == "0" else f"ours, {x['coarse']}-d + {x['fine']}-d fine"
        byb = {x["build"]: x for x in ib}
        n = int(eng_b["n"])
        out += [f"**Approximate search, {n:,} vectors** (`index/ivf.h`; \"the engine's\" is what `--index ivf`",
                "builds in the engine at this size;",
                "recall@10 against the exact float top-10; \"refine R\" re-scores the R best code hits with the",
                "float vectors read from the memory-mapped vector file, which the index does not hold in RAM;",
                "FAISS gets the same refine from the same file; one query per call, one thread):", "",
                "| index | RAM bytes/item | build: train + add |", "|---|---:|---|"]
        for x in ib:
            out.append(f"| {method(x)} | {x['bytes_per_item']}"
                       + (f" ({x['before_trim']} before `lk_ivf_trim`)" if "before_trim" in x else "")
                       + f" | {x['train_s']} s + {x['add_s']} s |")
        for r in fb:
            out.append(f"| {FAISS_LARGE[r['kind']]} (`{r.get('spec', 'IVF' + r.get('nlist', '') + ',PQ' + r.get('m', '')).replace('_', ' ')}`) | {r['bytes_per_item']} | "
                       f"{r['train_s']} s + {r['add_s']} s |")
        for r in flb:
            out.append(f"| FAISS IndexFlatIP (exact, floats in RAM) | {r['bytes_per_item']} | |")
        out += ["", "| index | nprobe | rerank | refine | filter | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | recall@10 | disallowed or missing hits |",
                "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
        cpucols = lambda r, nd=3: f"{f(r.get('cpu_p50_ms'), nd)} | {f(r.get('cpu_p99_ms'), 2 if nd == 3 else nd)}"
        for r in iv:
            x = byb.get(r.get("build"), eng_b)
            dflt = r.get("engine_default") == "1" and x is eng_b
            name = f"**{short(x)}, engine default**" if dflt else short(x)
            out.append(f"| {name} | {r['nprobe']} | {r.get('rerank', '400')} | {r['refine']} | {r['filter']} | {f(r['p50_ms'], 3)} | "
                       f"{f(r['p99_ms'])} | {cpucols(r)} | {f(r['recall10'], 3)} | {r['violations']} |")
        for r in isel:
            out.append(f"| {short(byb.get(r.get('build'), eng_b))}, its default nprobe | | | | {r['filter']} | {f(r['p50_ms'], 3)} | "
                       f"{f(r['p99_ms'])} | {cpucols(r)} | | {r['violations']} |")
        for r in fv:
            out.append(f"| {FAISS_LARGE[r['kind']]} | {r['nprobe']} | | {r['refine']} | none | {f(r['p50_ms'], 3)} | {f(r['p99_ms'])} | "
                       f"{cpucols(r)} | {f(r['recall10'], 3)} | |")
        for r in flb:
            out.append(f"| FAISS IndexFlatIP ({r['queries']} queries) | all | | | none | {f(r['p50_ms'], 1)} | {f(r['p99_ms'], 1)} | "
                       f"{cpucols(r, 1)} | {f(r['recall10'], 3)} | |")
        out.append("")
        lines = []
        for x in ib:
            o = best_at([r for r in iv if r.get("build") == x["build"]])
            if o:
                lines.append(f"At recall@10 >= 0.95 (unfiltered), {short(x)} ({x['bytes_per_item']} B/item) is fastest at nprobe "
                             f"{o['nprobe']}, rerank {o.get('rerank', '400')}, refine {o['refine']}: p50 {float(o['p50_ms']):.2f} ms, "
                             f"p99 {float(o['p99_ms']):.2f} ms, recall {float(o['recall10']):.3f}.")
            else:
                top = max((float(r["recall10"]) for r in iv if r.get("build") == x["build"]), default=0)
                lines.append(f"{short(x)} never reaches recall@10 0.95 in this sweep (best {top:.3f}).")
        b = eng_b
        ours = best_at([r for r in iv if r.get("build") == b["build"]])
        if ours:
            o50 = float(ours["p50_ms"])
            for kind, label in FAISS_LARGE.items():
                fr = best_at([r for r in fv if r["kind"] == kind])
                bb = next((r for r in fb if r["kind"] == kind), None)
                if not bb:
                    continue
                mem = float(bb["bytes_per_item"]) / float(b["bytes_per_item"])
                bt = (float(bb["train_s"]) + float(bb["add_s"])) / (float(b["train_s"]) + float(b["add_s"]))
                if fr:
                    cr = ""
                    if "cpu_p50_ms" in fr and "cpu_p50_ms" in ours:
                        cr = f" (CPU time {float(fr['cpu_p50_ms']) / float(ours['cpu_p50_ms']):.1f}x)"
                    lines.append(f"{label}: fastest at >= 0.95 is nprobe {fr['nprobe']}, refine {fr['refine']}, p50 "
                                 f"{float(fr['p50_ms']):.2f} ms = {float(fr['p50_ms']) / o50:.1f}x {short(b)}{cr}; {mem:.2f}x its "
                                 f"RAM per item; build {bt:.2f}x its time.")
                else:
                    top = max((float(r["recall10"]) for r in fv if r["kind"] == kind), default=0)
                    lines.append(f"{label}: never reaches recall@10 0.95 in this sweep (best {top:.3f}); {mem:.2f}x "
                                 f"{short(b)}'s RAM per item; build {bt:.2f}x its time.")
            for r in flb:
                lines.append(f"Brute force (FAISS IndexFlatIP over all {n:,} floats): p50 {float(r['p50_ms']):.0f} ms = "
                             f"{float(r['p50_ms']) / o50:.0f}x {short(b)}.")
            build = float(b["train_s"]) + float(b["add_s"])
            eng = next((r for r in iv if r.get("engine_default") == "1" and r["filter"] == "none"
                        and r.get("build") == b["build"]), None)
            def five(r):
                t = []
                for name, pre in (("wall", ""), ("CPU", "cpu_")):
                    if pre + "p50_ms" in r:
                        a, z = float(r[pre + "p50_ms"]), float(r[pre + "p99_ms"])
                        t.append(f"{name} p50 {a:.2f} ms ({against(a, 5)}), p99 {z:.2f} ms ({against(z, 5)})")
                return "; ".join(t)
            if eng:
                lines.append(f"The engine's default (nprobe {eng['nprobe']}, rerank {eng.get('rerank', '400')}, refine {eng['refine']}): "
                             f"recall@10 {float(eng['recall10']):.3f}; {five(eng)}.")
            lines.append(f"Targets at {n:,} ({short(b)}): built in {build / 60:.1f} min ({'met' if build <= 600 else 'missed'}: minutes); "
                         f"<= 5 ms per query at recall@10 >= 0.95, fastest such setting: {five(ours)}; <= 1 KiB per item: "
                         f"{'met' if float(b['bytes_per_item']) <= 1024 else 'missed'} ({b['bytes_per_item']} B).")
        bad = sum(int(r["violations"]) for r in iv + isel)
        lines.append(f"Filters: {bad} disallowed or missing hits over every filtered and unfiltered query above "
                     "(a filtered search must return min(k, #allowed) hits, all allowed).")
        out += lines + [""]
    return "\n".join(out)


def write_between(path, begin, end, text, section):
    """Replaces what lies between the markers begin and end of the file at path with text (the
    rest is kept); exits naming section when the markers are missing."""
    doc = open(path).read()
    if begin not in doc or end not in doc:
        sys.exit(f"{path}: no {begin} / {end} markers in its {section} section")
    a, rest = doc.split(begin, 1)
    _, b = rest.split(end, 1)
    open(path, "w").write(a + begin + "\n" + text + "\n" + end + b)
    print(text)


def main():
    head, rows = parse(sys.argv[1])
    write_between(sys.argv[2], BEGIN, END, render(head, rows), "## Search")


if __name__ == "__main__":
    main()
