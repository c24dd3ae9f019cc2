#!/usr/bin/python3
"""bench/embed_report.py — turns the JSON lines of bench/embed.sh and bench/decode.sh into the
markdown tables of docs/PERFORMANCE.md and writes them between the section's markers
(<!-- bench:embed --> ... <!-- /bench:embed -->), leaving the rest of the file alone.

  embed_report.py embed  RESULTS_DIR DOC   (RESULTS_DIR: *.jsonl, layers.txt, meta.json)
  embed_report.py decode RESULTS_DIR DOC

Every configuration ran once per round, the rounds alternating the engines; a table shows the
best round (highest photos/s) and the median, as stated under it.
"""
import glob
import json
import os
import re
import statistics
import sys

KEY = ("tag", "bench", "kind", "mode", "malloc", "batch", "workers", "omp", "set", "how")


def load(d):
    rows = []
    for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        tag = os.path.basename(f).split(".")[0]
        for line in open(f):
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                r["tag"] = tag
                rows.append(r)
    return rows


def aggregate(rows):
    """(key) -> dict(best, median, n, rec) over the rounds; info records kept apart."""
    agg, info = {}, {}
    for r in rows:
        if r.get("kind") == "info":
            i = info.setdefault(r["tag"], dict(r))
            for f in ("sgemm_gflops_1t", "u8s8s32_gops_1t", "memcpy_gbs_1t", "decode_resize_per_s"):
                if f in r:  # the machine's limits: the best round (the least disturbed)
                    i[f] = max(i.get(f) or 0, r[f] or 0)
            continue
        k = tuple(r.get(x) for x in KEY)
        a = agg.setdefault(k, {"vals": [], "rec": r})
        if r.get("photos_per_s") is not None:
            a["vals"].append(r["photos_per_s"])
        else:
            a["error"] = r.get("error", "refused")
    for a in agg.values():
        v = a["vals"]
        a["best"] = max(v) if v else None
        a["median"] = statistics.median(v) if v else None
        a["n"] = len(v)
    return agg, info


def fmt(x, nd=1):
    return "—" if x is None else f"{x:,.{nd}f}"


def cfg_text(r):
    b, w, o = r.get("batch"), r.get("workers"), r.get("omp")
    par = f"{w} workers x 1 thread" if w and w > 1 else (f"1 x {o} threads" if o and o > 1 else "1 thread")
    extra = f", {r['malloc']}" if r.get("malloc") else ""
    return f"batch {b}, {par}{extra}"


def best_of(agg, pred):
    c = [a for k, a in agg.items() if a["best"] is not None and pred(a["rec"])]
    return max(c, key=lambda a: a["best"]) if c else None


def replace_section(doc, name, heading, body):
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = open(doc).read() if os.path.exists(doc) else "# Performance\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        i, j = text.index(begin), text.index(end) + len(end)
        text = text[:i] + block + text[j:]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    tmp = doc + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, doc)


def layers_summary(path):
    """Per-primitive times (ONEDNN_VERBOSE=1: oneDNN's, and lookalike's own kernels' lines that
    lk_fg_set_trace prints in the same form) of the warm batch-1 runs per mode: each
    primitive's fastest time over the runs (a run preempted by other work inflates some of its
    primitives), and the fastest total."""
    if not os.path.exists(path):
        return {}
    runs, cur, acc = {}, None, None
    for line in open(path):
        m = re.match(r"embed_bench_layers_begin mode=(\S+) run=(\d+)", line)
        if m:
            cur, acc = m.group(1), []
            continue
        m = re.match(r"embed_bench_layers_end mode=(\S+) run=(\d+) ms=([\d.]+)", line)
        if m and cur:
            if m.group(2) != "0":  # the first run warms up
                runs.setdefault(cur, []).append((float(m.group(3)), acc))
            cur = None
            continue
        if cur is not None and line.startswith("onednn_verbose,exec,"):
            f = line.strip().split(",")
            kind, impl, desc, ms = f[3], f[4], f[-2], float(f[-1])
            if kind == "convolution":
                if desc.startswith("g"):
                    cls = "depthwise 3x3"
                elif "kh1" in desc and "kw1" in desc:
                    cls = "1x1 conv"
                else:
                    cls = "first 3x3 conv"
            else:
                cls = kind
            if impl.startswith("lookalike_"):  # nn/qconv's kernels (lk_fg_set_trace)
                cls += ", lookalike's kernel"
            acc.append((cls, impl, ms))
    out = {}
    for mode, rs in runs.items():
        n = min(len(p) for _, p in rs)
        tot = min(t for t, _ in rs)
        acc = {}
        for k in range(n):
            cls, impl, _ = rs[0][1][k]
            ms = min(p[k][2] for _, p in rs)
            c = acc.setdefault(cls, [0, 0.0, set()])
            c[0] += 1
            c[1] += ms
            c[2].add(impl)
        out[mode] = (tot, acc)
    return out


def embed(d, doc):
    rows = load(d)
    agg, info = aggregate(rows)
    meta = json.load(open(os.path.join(d, "meta.json")))
    li = info.get("lk_default", {})
    macs = li.get("macs", 300e6)
    gf_photo = 2 * macs / 1e9
    sg = li.get("sgemm_gflops_1t") or 0
    ig = li.get("u8s8s32_gops_1t") or 0
    bw = li.get("memcpy_gbs_1t") or 0
    fp32_bytes = 4 * (li.get("act_elems", 0) + li.get("weight_elems", 0))
    i8_bytes = li.get("act_elems", 0) + li.get("weight_elems", 0)
    rounds = meta.get("rounds")
    L = []
    L.append(f"`bench/embed.sh` on {meta['date']}: {meta['cpu']}, {meta['cores']} cores shared with other "
             f"users. Load before: `{meta['uptime0']}` (CPU idle {meta['idle0']}%); after: "
             f"`{meta['uptime1']}` (CPU idle {meta['idle1']}%). {rounds} rounds, engines alternating, "
             f"{meta['seconds']} s per configuration after warm-up; photos/s is the **best round** "
             f"(median in the full table). Input: {li.get('photos', '?')} catalog photos "
             f"({li.get('photo_w', '?')}x{li.get('photo_h', '?')}), decoded and resized to 224x224 once "
             f"(lookalike's decoder: {fmt(li.get('decode_resize_per_s'))} photos/s on one thread), "
             f"the same pixels for lookalike and TFLite; PyTorch gets random 224x224 float tensors.")
    L.append("")
    L.append(f"Work per photo (counted from the graph up to `MobilenetV2/Logits/AvgPool`): "
             f"{macs / 1e6:.1f} M MACs = {gf_photo:.2f} GFLOP ({li.get('convs', '?')} convolutions, "
             f"{li.get('dwconvs', '?')} depthwise with {li.get('dw_macs', 0) / 1e6:.1f} M MACs, "
             f"{100 * li.get('dw_macs', 0) / max(macs, 1):.0f}%); if every tensor crossed memory once: "
             f"{fp32_bytes / 1e6:.1f} MB in fp32, {i8_bytes / 1e6:.1f} MB in 8 bits. Machine limits "
             f"measured in the same run on one thread (oneDNN): sgemm {sg:.0f} GFLOP/s, u8s8s32 gemm "
             f"{ig:.0f} GOP/s, memcpy {bw:.1f} GB/s (read + write); best of the rounds.")
    L.append("")
    for t in (1, 2):
        ref_tfl = best_of(agg, lambda r: r["bench"] == "tflite" and r.get("threads") == t and r["tag"] == "tfl_default")
        ref_tfl_x = best_of(agg, lambda r: r["bench"] == "tflite" and r.get("threads") == t and r["tag"] == "tfl_tf2")
        ref_pt = best_of(agg, lambda r: r["bench"] == "torch" and r.get("threads") == t)
        L.append(f"**{t} thread{'s' if t > 1 else ''}** (best configuration of each engine at this thread count; "
                 f"share of peak = achieved GFLOP/s over {t} x the one-thread gemm figure of its arithmetic, "
                 f"sgemm for float engines, u8s8s32 for 8-bit ones; GB/s = photos/s x the bytes per photo above, "
                 f"fp32 or 8-bit, an upper bound on memory traffic since most layers fit in cache):")
        L.append("")
        L.append("| engine, mode | best configuration | photos/s | ms/photo | GFLOP/s | share of peak | GB/s | "
                 "vs TFLite (same file) | vs TFLite+XNNPACK | vs PyTorch best |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines = []
        for mode in sorted({k[3] for k in agg if k[1] == "lookalike" and k[2] == "embed" and k[0] == "lk_default"}):
            a = best_of(agg, lambda r, m=mode: r["bench"] == "lookalike" and r["kind"] == "embed" and
                        r["tag"] == "lk_default" and r["mode"] == m and r.get("threads") == t)
            if a:
                lines.append((f"lookalike `{mode}`", a))
        a = best_of(agg, lambda r: r["bench"] == "lookalike" and r["kind"] == "embed" and r["tag"] == "lk_tf2" and r.get("threads") == t)
        if a:
            lines.append((f"lookalike `{a['rec']['mode']}`, TF2 int8 file", a))
        if ref_tfl:
            lines.append(("TFLite 2.9, built-in kernels", ref_tfl))
        if ref_tfl_x:
            lines.append((f"TFLite 2.9 {ref_tfl_x['rec']['mode']}, TF2 int8 file", ref_tfl_x))
        if ref_pt:
            lines.append((f"PyTorch {info.get('torch', {}).get('version', '')} {ref_pt['rec']['mode']}", ref_pt))
        e = agg.get(("torch", "torch", "embed", "eager", "glibc", 1, 1, t, None, None))
        if e and e["best"]:
            lines.append(("PyTorch eager (naive)", e))
        for name, a in lines:
            v = a["best"]
            g = v * gf_photo
            r = a["rec"]
            eight = r["mode"] in ("int8", "builtin", "xnnpack")  # 8-bit arithmetic
            pk = ig if eight else sg
            share = f"{100 * g / (t * pk):.0f}%" if pk else "—"
            gbs = v * (i8_bytes if eight else fp32_bytes) / 1e9
            rt = f"{v / ref_tfl['best']:.1f}x" if ref_tfl else "—"
            rx = f"{v / ref_tfl_x['best']:.2f}x" if ref_tfl_x else "—"
            rp = f"{v / ref_pt['best']:.2f}x" if ref_pt else "—"
            L.append(f"| {name} | {cfg_text(a['rec'])} | {fmt(v)} | {1000 / v:.2f} | {g:.0f} | {share} | {gbs:.1f} | {rt} | {rx} | {rp} |")
        L.append("")
    # Layers
    lay = layers_summary(os.path.join(d, "layers.txt"))
    if lay:
        L.append("Where the time goes, one thread, batch 1, 10 warm runs (`ONEDNN_VERBOSE=1`: oneDNN's own "
                 "per-primitive times, and the int8 graph's own kernels (nn/qconv) timed around each "
                 "call and printed the same way; each layer's fastest; total = the fastest of 100 runs "
                 "with the verbose output off, whose printing would count as lookalike's; the rest, "
                 "outside the kernels, is lookalike's code between them: the input table, the "
                 "dispatch, copies):")
        L.append("")
        L.append("| mode | total ms | part | layers | ms | share | kernels |")
        L.append("|---|---:|---|---:|---:|---:|---|")
        for mode, (tot, acc) in lay.items():
            inside = 0.0
            for cls, (cnt, ms, impls) in sorted(acc.items(), key=lambda x: -x[1][1]):
                inside += ms
                L.append(f"| {mode} | {tot:.2f} | {cls} | {cnt} | {ms:.2f} | {100 * ms / tot:.0f}% | {', '.join(sorted(impls))} |")
            L.append(f"| {mode} | {tot:.2f} | outside the kernels | | {tot - inside:.2f} | {100 * (tot - inside) / tot:.0f}% | |")
        L.append("")
    # Full table
    L.append("<details><summary>Every configuration (best and median of the rounds)</summary>")
    L.append("")
    L.append("| engine | file | what | mode | batch | workers | threads each | best photos/s | median | ms/photo (best) | rounds |")
    L.append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    order = {"lookalike": 0, "tflite": 1, "torch": 2}
    for k, a in sorted(agg.items(), key=lambda kv: (order.get(kv[0][1], 9), str(kv[0]))):
        r = a["rec"]
        if r.get("kind") not in ("embed", "pipeline"):
            continue
        file = {"lk_default": "uint8 (default)", "tfl_default": "uint8 (default)", "lk_tf2": "TF2 int8",
                "tfl_tf2": "TF2 int8", "torch": "torchvision"}.get(r["tag"], r["tag"])
        mode = r["mode"] + (f", {r['malloc']}" if r.get("malloc") else "")
        best = fmt(a["best"]) if a["best"] is not None else "refused: " + a.get("error", "")
        ms = f"{1000 / a['best']:.2f}" if a["best"] else "—"
        L.append(f"| {r['bench']} | {file} | {r['kind']} | {mode} | {r['batch']} | {r.get('workers', 1)} | "
                 f"{r.get('omp', 1)} | {best} | {fmt(a['median'])} | {ms} | {a['n']} |")
    L.append("")
    L.append("</details>")
    L.append("")
    L.append("`embed` = the network alone on 224x224 pixels; `pipeline` = decode from memory (TurboJPEG, "
             "DCT scaling) + resize to 224x224 + the network, all inside the timed loop. Modes: `exact` = "
             "TFLite's integer requantisation emulated (bit-exact, the default); `float` = the same NHWC "
             "path without it; `fp32` / `int8` = `lk_session_opts.compute` FP32 (oneDNN blocked layouts) "
             "/ INT8 (oneDNN u8s8, VNNI). Workers are "
             "pthreads, each with its own single-threaded session (as `lookalike index` runs); threads "
             "each > 1 = one session with that many OpenMP threads (TFLite: SetNumThreads; PyTorch: "
             "set_num_threads, or separate processes for workers).")
    body = "\n".join(L)
    replace_section(doc, "embed", "## Embedding throughput", body)
    print(body)


def decode(d, doc):
    rows = load(d)
    agg, info = aggregate(rows)
    meta = json.load(open(os.path.join(d, "meta.json")))
    sets = []
    for r in rows:
        if r.get("kind") == "decode" and r["set"] not in sets:
            sets.append(r["set"])
    L = []
    L.append(f"`bench/decode.sh` on {meta['date']}: {meta['cpu']}, one thread, {meta['rounds']} rounds "
             f"alternating lookalike and PIL {info.get('pil', {}).get('version', '')}, best round. "
             f"Load before: `{meta['uptime0']}` (CPU idle {meta['idle0']}%); after: `{meta['uptime1']}` "
             f"(CPU idle {meta['idle1']}%). Each photo is read into memory first, then decoded and resized to "
             f"224x224 (antialiased bilinear in both). 60x80 are the catalog's photos; 600x800 and "
             f"1800x2400 are the 225x300 shop photos upscaled (Lanczos, JPEG quality 90) into a "
             f"temporary folder, so they carry less fine detail than real camera photos of that size.")
    L.append("")
    L.append("| photos | lookalike full decode | lookalike DCT-scaled (min side 224) | decoded at | PIL naive | PIL draft() | decoded at | lookalike DCT vs PIL draft | vs PIL naive | lookalike, min side 60 | decoded at |")
    L.append("|---|---:|---:|---|---:|---:|---|---:|---:|---:|---|")

    def get(bench, s, how):
        for k, a in agg.items():
            if k[1] == bench and k[8] == s and k[9] == how:
                return a
        return None

    for s in sets:
        lf, ld = get("lookalike", s, "full"), get("lookalike", s, "dct224")
        pn, pd = get("pil", s, "naive"), get("pil", s, "draft")
        v = lambda a: a["best"] if a and a["best"] else None
        ratio = lambda x, y: f"{v(x) / v(y):.1f}x" if v(x) and v(y) else "—"
        l6 = get("lookalike", s, "dct60")
        L.append(f"| {s} | {fmt(v(lf))} | {fmt(v(ld))} | {ld['rec']['decoded'] if ld else '—'} | {fmt(v(pn))} | "
                 f"{fmt(v(pd))} | {pd['rec']['decoded'] if pd else '—'} | {ratio(ld, pd)} | {ratio(ld, pn)} | "
                 f"{fmt(v(l6))} | {l6['rec']['decoded'] if l6 else '—'} |")
    L.append("")
    L.append("Photos/s, decode + resize to 224x224, single thread. The embedding path (`lookalike index`, "
             "the server) asks the decoder for min side 224; the last two columns show what min side 60 "
             "would give: the default recipe shrinks every photo to 80 px (60x80) before the network, so "
             "a smaller DCT scale keeps enough pixels (the vectors would change slightly, so it needs a "
             "quality check before use).")
    body = "\n".join(L)
    replace_section(doc, "decode", "## Decode", body)
    print(body)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("embed", "decode"):
        sys.exit("usage: embed_report.py embed|decode RESULTS_DIR DOC")
    (embed if sys.argv[1] == "embed" else decode)(sys.argv[2], sys.argv[3])
