#!/usr/bin/python3
"""bench/torch_bench.py — PyTorch peer for bench/embed.sh: torchvision's mobilenet_v2 (the same
shape and cost as the .tflite MobileNetV2; random weights, timing only) on 224x224 float input,
Debian's python3-torch 1.13. Configurations: eager and TorchScript (trace + torch.jit.freeze +
optimize_for_inference), batch 1 and 8, 1 and 2 intra-op threads, glibc malloc and tcmalloc
(libgoogle-perftools4 via LD_PRELOAD, so each allocator runs in its own child process), and
2 processes x 1 thread. Warm-up excluded. Prints a table, or JSON lines with --json.

  /usr/bin/python3 bench/torch_bench.py [--seconds 2] [--batches 1,8] [--threads 1,2] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import time

TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def child(a):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    out = []
    for t in a.threads:
        torch.set_num_threads(t)
        for b in a.batches:
            x = torch.rand(b, 3, 224, 224)
            for mode in a.modes:
                with torch.no_grad():
                    if mode == "eager":
                        f = model
                    else:
                        f = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
                    for _ in range(4):  # warm-up (the profiling executor specialises on run 2)
                        f(x)
                    if a.sync:  # several processes: start the clocks together (parent says go)
                        print("ready", flush=True)
                        sys.stdin.readline()
                    n, t0 = 0, time.perf_counter()
                    while time.perf_counter() - t0 < a.seconds:
                        f(x)
                        n += b
                    el = time.perf_counter() - t0
                rec = {"bench": "torch", "kind": "embed", "mode": mode, "malloc": a.malloc, "batch": b,
                       "threads": t, "workers": 1, "omp": t, "photos_per_s": round(n / el, 2),
                       "ms_per_photo": round(1000 * el / n, 3), "load": loadavg()}
                print(json.dumps(rec), flush=True)
                out.append(rec)
    return out


def spawn(a, malloc, threads, batches, modes, sync=False):
    env = dict(os.environ)
    if malloc == "tcmalloc":
        env["LD_PRELOAD"] = TCMALLOC
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--malloc", malloc,
           "--seconds", str(a.seconds), "--threads", ",".join(map(str, threads)),
           "--batches", ",".join(map(str, batches)), "--modes", ",".join(modes)] + (["--sync"] if sync else [])
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stdin=subprocess.PIPE if sync else None, text=True)


def collect(p):
    recs = [json.loads(l) for l in p.stdout if l.startswith("{")]
    if p.wait() != 0:
        sys.exit("torch_bench: a child failed")
    return recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--modes", default="eager,frozen")
    ap.add_argument("--malloc", default="glibc")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--sync", action="store_true")
    a = ap.parse_args()
    a.batches = [int(v) for v in a.batches.split(",")]
    a.threads = [int(v) for v in a.threads.split(",")]
    a.modes = a.modes.split(",")
    if a.child:
        child(a)
        return
    mallocs = ["glibc"] + (["tcmalloc"] if os.path.exists(TCMALLOC) else [])
    recs = []
    for m in mallocs:
        recs += collect(spawn(a, m, a.threads, a.batches, a.modes))
    # t processes x 1 thread each, best configuration (frozen, tcmalloc when present), clocks aligned.
    for t in [t for t in a.threads if t > 1]:
        for b in a.batches:
            ps = [spawn(a, mallocs[-1], [1], [b], ["frozen"], True) for _ in range(t)]
            for p in ps:  # each is ready after import + trace + freeze + warm-up
                if p.stdout.readline().strip() != "ready":
                    sys.exit("torch_bench: a child failed")
            for p in ps:
                p.stdin.write("go\n")
                p.stdin.flush()
            rs = [collect(p)[0] for p in ps]
            rate = sum(r["photos_per_s"] for r in rs)
            recs.append({"bench": "torch", "kind": "embed", "mode": "frozen", "malloc": mallocs[-1], "batch": b,
                         "threads": t, "workers": t, "omp": 1, "photos_per_s": round(rate, 2),
                         "ms_per_photo": round(1000 / rate, 3), "load": loadavg()})
    import torch
    info = {"bench": "torch", "kind": "info", "version": torch.__version__,
            "mkldnn": torch.backends.mkldnn.is_available(), "tcmalloc": os.path.exists(TCMALLOC)}
    if a.json:
        print(json.dumps(info))
        for r in recs:
            print(json.dumps(r))
        return
    print(f"PyTorch {info['version']} (mkldnn {info['mkldnn']}), torchvision mobilenet_v2, random weights")
    print(f"{'mode':7} {'malloc':8} {'batch':>5} {'workers':>7} {'omp':>4} {'photos/s':>9} {'ms/photo':>9}")
    for r in recs:
        print(f"{r['mode']:7} {r['malloc']:8} {r['batch']:5} {r['workers']:7} {r['omp']:4} "
              f"{r['photos_per_s']:9.1f} {r['ms_per_photo']:9.2f}")


if __name__ == "__main__":
    main()
