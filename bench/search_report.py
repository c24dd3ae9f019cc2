#!/usr/bin/python3
"""bench/search_report.py RESULTS DOC — turns bench/search.sh's results.txt into markdown
tables and puts them between the search-bench markers of DOC's "## Search" section (the rest of
the file is left as it is)."""
import re
import sys

BEGIN, END = "<!-- search-bench:begin -->", "<!-- search-bench:end -->"


def parse(path):
    head, rows = [], []
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
            rows.append(kv)
        elif line.startswith(("date ", "load ", "exact:", "ivf:", "generated", "faiss ")):
            head.append(line)
    return head, rows


def f(x, nd=2):
    try:
        return f"{float(x):.{nd}f}"
    except (TypeError, ValueError):
        return "–"


def render(head, rows):
    out = ["Measured by `bash bench/search.sh` (`make bench-search`):", "", "```"] + head + ["```", ""]
    ex = [r for r in rows if r["kind"] in ("exact", "exact2")]
    fl = [r for r in rows if r["kind"] == "faiss_flat"]
    hn = [r for r in rows if r["kind"] == "faiss_hnsw32"]
    if ex:
        n = next((h for h in head if h.startswith("exact:")), "")
        out += ["**Exact search over the catalog** (k=10, one query per call, each catalog row in turn as the",
                "query with itself excluded; the plain float scan and the int8-shortlist scan answer the same",
                "queries side by side; \"identical\" = same ids, same scores, same order as the plain scan):", "",
                "| search | threads | filter | p50 ms | p99 ms | identical top-10 |", "|---|---:|---|---:|---:|---:|"]
        for r in ex:
            if r["kind"] == "exact":
                out.append(f"| plain float scan (before) | 1 | {r['filter']} | {f(r['plain_p50_ms'])} | {f(r['plain_p99_ms'])} | |")
            t = 1 if r["kind"] == "exact" else 2
            out.append(f"| int8 shortlist + float re-rank | {t} | {r['filter']} | {f(r['fast_p50_ms'], 3)} | "
                       f"{f(r['fast_p99_ms'])} | {r['identical_top10']} |")
        for r in fl:
            out.append(f"| FAISS IndexFlatIP | {r['threads']} | none | {f(r['p50_ms'])} | {f(r['p99_ms'])} | |")
        for r in hn:
            out.append(f"| FAISS HNSW32, efSearch 64 (approximate; build {r['build_s']} s) | 1 | none | "
                       f"{f(r['p50_ms'], 3)} | {f(r['p99_ms'])} | recall@10 {f(r['recall10'], 3)} |")
        out.append("")
        fast = next((r for r in ex if r["kind"] == "exact" and r["filter"] == "none"), None)
        if fast and fl:
            out.append(f"Ratios at p50: the int8-shortlist scan is {float(fast['plain_p50_ms']) / float(fast['fast_p50_ms']):.0f}x "
                       f"the plain scan and {float(fl[0]['p50_ms']) / float(fast['fast_p50_ms']):.0f}x FAISS IndexFlatIP"
                       + (f", {float(hn[0]['p50_ms']) / float(fast['fast_p50_ms']):.1f}x FAISS HNSW32 (which is approximate)"
                          if hn else "") + ".")
            out.append("")
    ib = [r for r in rows if r["kind"] == "ivf_build"]
    iv = [r for r in rows if r["kind"] == "ivf" and "nprobe" in r]
    isel = [r for r in rows if r["kind"] == "ivf" and "nprobe" not in r]
    fb = [r for r in rows if r["kind"] == "faiss_ivfpq" and "train_s" in r]
    fv = [r for r in rows if r["kind"] == "faiss_ivfpq" and "nprobe" in r]
    if ib:
        b = ib[0]
        out += [f"**Approximate search, {int(b['n']):,} vectors** (`index/ivf.h`; recall@10 against the exact float top-10;",
                "\"refine 50\" re-scores the 50 best code hits with the float vectors read from the memory-mapped",
                "vector file, which the index does not hold in RAM):", "",
                "| index | RAM bytes/item | build (train + add) |", "|---|---:|---|",
                f"| ours: IVF, int8 codes {b['coarse']}-d coarse + {b['fine']}-d fine, rerank {b['rerank']} | "
                f"{b['bytes_per_item']} | {b['train_s']} s + {b['add_s']} s |"]
        for r in fb:
            out.append(f"| FAISS IVF{r['nlist']},PQ{r['m']} | {r['bytes_per_item']} | {r['train_s']} s + {r['add_s']} s |")
        out += ["", "| index | nprobe | refine | filter | p50 ms | p99 ms | recall@10 | disallowed hits |",
                "|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in iv:
            out.append(f"| ours IVF | {r['nprobe']} | {r['refine']} | {r['filter']} | {f(r['p50_ms'], 3)} | "
                       f"{f(r['p99_ms'])} | {f(r['recall10'], 3)} | {r['violations']} |")
        for r in isel:
            out.append(f"| ours IVF | default | 0 | {r['filter']} | {f(r['p50_ms'], 3)} | {f(r['p99_ms'])} | | {r['violations']} |")
        for r in fv:
            out.append(f"| FAISS IVF-PQ | {r['nprobe']} | {r['refine']} | none | {f(r['p50_ms'], 3)} | {f(r['p99_ms'])} | "
                       f"{f(r['recall10'], 3)} | |")
        out.append("")
    return "\n".join(out)


def main():
    head, rows = parse(sys.argv[1])
    doc = open(sys.argv[2]).read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{sys.argv[2]}: no {BEGIN} / {END} markers in its ## Search section")
    a, rest = doc.split(BEGIN, 1)
    _, b = rest.split(END, 1)
    open(sys.argv[2], "w").write(a + BEGIN + "\n" + render(head, rows) + "\n" + END + b)
    print(render(head, rows))


if __name__ == "__main__":
    main()
