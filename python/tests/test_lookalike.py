"""python/tests/test_lookalike.py — the lookalike package on a tiny catalog (30 photos of the
shared catalog, indexed into a temporary folder): index with progress, search by path / bytes /
array, filters, crop, multi-crop, similar, zero-copy vectors, embed, errors as exceptions with
the C message, the GIL released during C calls, the struct layouts against the C header, and
examples/notebook.py. Run by tests/python.sh (LOOKALIKE_LIBRARY = the library under test)."""
import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import lookalike  # noqa: E402
from lookalike._ffi import STRUCTS, ffi  # noqa: E402

DATA = os.environ.get("LOOKALIKE_DATA", os.path.join(ROOT, "..", "shared", "data", "fashion-catalog"))
MODELS = os.environ.get("LOOKALIKE_MODELS", os.path.join(ROOT, "models"))
N = 30


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The first N products of the shared styles.csv with a photo, indexed in two runs (20, then
    all) by one Catalog: what each run reported and what the Catalog saw in between."""
    d = tmp_path_factory.mktemp("tiny")
    img = d / "images"
    img.mkdir()
    ids = []
    with open(os.path.join(DATA, "styles.csv"), encoding="utf-8") as f, open(d / "styles.csv", "w") as out:
        out.write(f.readline())
        for line in f:
            pid = line.split(",", 1)[0]
            src = os.path.join(DATA, "images", pid + ".jpg")
            if os.path.exists(src):
                shutil.copy(src, img / (pid + ".jpg"))
                out.write(line)
                ids.append(int(pid))
            if len(ids) == N:
                break
    db = str(d / "catalog.db")
    cat = lookalike.Catalog(db, models=MODELS)
    calls = []
    first = cat.index(str(img), styles=str(d / "styles.csv"), progress=calls.append, limit=20)
    len_first = len(cat)
    second = cat.index(str(img), styles=str(d / "styles.csv"), progress=False)
    return dict(dir=d, images=str(img), styles=str(d / "styles.csv"), ids=sorted(ids), db=db, cat=cat,
                calls=calls, first=first, len_first=len_first, second=second)


def photo(tiny, pid):
    return os.path.join(tiny["images"], "%d.jpg" % pid)


def pixels(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def ids_scores(hits):
    return [h["id"] for h in hits], np.array([h["score"] for h in hits])


def test_index_progress_and_stats(tiny):
    first, second, calls = tiny["first"], tiny["second"], tiny["calls"]
    assert first["embedded"] == 20 and first["failed"] == 0 and first["rows"] == N
    assert second["embedded"] == N - 20 and second["unchanged"] == 20
    assert len(calls) >= 2 and calls[-1]["done"] == calls[-1]["todo"] == 20
    assert [c["done"] for c in calls] == sorted(c["done"] for c in calls)
    assert tiny["len_first"] == 20 and len(tiny["cat"]) == N  # reloaded after index
    assert len(lookalike.Catalog(tiny["db"], models=MODELS, create=False)) == N
    items = tiny["cat"].items()
    assert [i["id"] for i in items] == tiny["ids"] and items[3] == tiny["cat"].item(tiny["ids"][3])


def test_index_progress_bar(tiny, capfd):
    stats = tiny["cat"].index(tiny["images"], styles=tiny["styles"])  # progress=True
    assert stats["unchanged"] == N and stats["embedded"] == 0
    err = capfd.readouterr().err
    assert "index [" in err and "%d/%d photos" % (0, 0) in err  # nothing to embed: 0 of 0


def test_index_callback_exception_stops_and_resumes(tiny, tmp_path):
    cat = lookalike.Catalog(str(tmp_path / "c.db"), models=MODELS)

    def boom(s):
        if s["done"] > 0:
            raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        cat.index(tiny["images"], styles=tiny["styles"], progress=boom, batch=4, workers=1)
    kept = len(cat)
    assert 0 < kept < N  # stopped after a batch; what was written is kept
    again = cat.index(tiny["images"], styles=tiny["styles"], progress=None)
    assert again["unchanged"] == kept and again["embedded"] == N - kept and len(cat) == N


def test_search_path_bytes_array_agree(tiny):
    cat, pid = tiny["cat"], tiny["ids"][3]
    path = photo(tiny, pid)
    by_path = cat.search(path, k=5)
    with open(path, "rb") as f:
        by_bytes = cat.search(f.read(), k=5)
    by_array = cat.search(pixels(path), k=5)
    assert len(by_path) == 5 and by_path[0]["id"] == pid and by_path[0]["score"] > 0.999
    for other in (by_bytes, by_array):
        assert ids_scores(other)[0] == ids_scores(by_path)[0]
        np.testing.assert_allclose(ids_scores(other)[1], ids_scores(by_path)[1], atol=1e-5)
    item = cat.item(pid)
    assert by_path[0] == dict(item, score=by_path[0]["score"])
    assert set(item) == {"id", "path", *lookalike.FIELDS}
    with open(tiny["styles"]) as f:
        row = next(line for line in f if line.startswith("%d," % pid)).rstrip("\n").split(",")
    assert [item[k] for k in lookalike.FIELDS[:8]] == row[1:9]
    # A view with odd strides (every other column, flipped) is searched as its pixels.
    a = pixels(path)[:, ::-2]
    assert ids_scores(cat.search(a, k=3))[0] == ids_scores(cat.search(np.ascontiguousarray(a), k=3))[0]


def test_where_filters(tiny):
    cat, pid = tiny["cat"], tiny["ids"][0]
    gender = cat.item(pid)["gender"]
    for where in ({"gender": gender}, "gender=" + gender, ["gender=" + gender]):
        hits = cat.search(photo(tiny, pid), k=N, where=where)
        assert hits and all(h["gender"] == gender for h in hits)
        assert len(hits) == sum(cat.item(i)["gender"] == gender for i in tiny["ids"])
    two = cat.search(photo(tiny, pid), k=N, where={"gender": ["Men", "Women"]})
    assert {h["gender"] for h in two} <= {"Men", "Women"}
    assert len(two) == sum(cat.item(i)["gender"] in ("Men", "Women") for i in tiny["ids"])
    year = cat.search(photo(tiny, pid), k=N, where="year>=2012")
    assert year and all(int(h["year"]) >= 2012 for h in year)
    assert len(year) == sum(int(cat.item(i)["year"]) >= 2012 for i in tiny["ids"])


def test_crop_is_the_region(tiny):
    cat, pid = tiny["cat"], tiny["ids"][5]
    a = pixels(photo(tiny, pid))
    h, w = a.shape[:2]
    x, y, cw, ch = w // 4, h // 4, w // 2, h // 2
    cropped = cat.search(photo(tiny, pid), k=5, crop=(x, y, cw, ch))
    region = cat.search(a[y:y + ch, x:x + cw], k=5)
    assert ids_scores(cropped)[0] == ids_scores(region)[0]
    np.testing.assert_allclose(ids_scores(cropped)[1], ids_scores(region)[1], atol=1e-5)
    assert ids_scores(cropped)[1][0] < 0.999  # not the whole photo's own perfect match
    with pytest.raises(lookalike.Error) as e:
        cat.search(photo(tiny, pid), crop=(w + 10, 0, 10, 10))
    assert "%dx%d" % (w, h) in str(e.value)


def test_multi_crop(tiny):
    cat, pid = tiny["cat"], tiny["ids"][7]
    hits = cat.search(photo(tiny, pid), k=4, multi_crop=True)
    assert len(hits) == 4 and hits[0]["id"] == pid and hits[0]["score"] > 0.999
    plain = cat.search(photo(tiny, pid), k=N)
    best = {h["id"]: h["score"] for h in plain}
    for h in hits:  # each item keeps its best score over the crops: never below the whole photo's
        assert h["score"] >= best[h["id"]] - 1e-5


def test_similar(tiny):
    cat, pid = tiny["cat"], tiny["ids"][2]
    sim = cat.similar(pid, k=5)
    by_photo = [h for h in cat.search(photo(tiny, pid), k=6) if h["id"] != pid]
    assert pid not in [h["id"] for h in sim]
    assert ids_scores(sim)[0] == ids_scores(by_photo)[0]
    np.testing.assert_allclose(ids_scores(sim)[1], ids_scores(by_photo)[1], atol=1e-5)
    gender = cat.item(pid)["gender"]
    assert all(h["gender"] == gender for h in cat.similar(pid, k=N, where={"gender": gender}))
    with pytest.raises(lookalike.NotFoundError):
        cat.similar(999999999)


def test_vectors_zero_copy(tiny):
    cat = lookalike.Catalog(tiny["db"], models=MODELS)
    ids, vecs = cat.vectors()
    assert vecs.dtype == np.float32 and vecs.shape == (len(cat), cat.dim) and len(ids) == N
    assert sorted(ids.tolist()) == tiny["ids"]
    again_ids, again = cat.vectors()
    assert np.shares_memory(vecs, again) and np.shares_memory(ids, again_ids)  # the engine's memory
    assert not vecs.flags.owndata and not vecs.flags.writeable
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-3)
    row = int(np.where(ids == tiny["ids"][4])[0][0])
    np.testing.assert_allclose(vecs[row], cat.embed(photo(tiny, tiny["ids"][4])), atol=1e-5)
    copy = vecs.copy()
    del cat, again, again_ids  # the arrays alone hold the engine now
    gc.collect()
    junk = [np.ones(1 << 16, np.float32) for _ in range(64)]  # reuse of freed memory would show
    np.testing.assert_array_equal(vecs, copy)
    del junk


def test_embed(tiny):
    cat, pid = tiny["cat"], tiny["ids"][1]
    v = cat.embed(photo(tiny, pid))
    assert v.shape == (cat.dim,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-3
    np.testing.assert_allclose(cat.embed(pixels(photo(tiny, pid))), v, atol=1e-5)
    other = cat.embed(photo(tiny, tiny["ids"][9]))
    hits = cat.search(photo(tiny, pid), k=N)
    score = {h["id"]: h["score"] for h in hits}[tiny["ids"][9]]
    assert abs(float(v @ other) - score) < 1e-4


def test_errors_carry_the_c_message(tiny, tmp_path):
    cat = tiny["cat"]
    with open(photo(tiny, tiny["ids"][0]), "rb") as f:
        jpeg = f.read()
    with pytest.raises(lookalike.Error) as e:
        cat.search(jpeg[:200])  # a truncated JPEG
    assert e.value.code < 0 and e.value.message and str(e.value) == e.value.message
    with pytest.raises(lookalike.Error, match="not an image"):
        cat.search(b"GIF89a is not what this is")
    with pytest.raises(lookalike.InvalidArgumentError, match="no item in the catalog has a column 'colour'"):
        cat.search(jpeg, where={"colour": "red"})
    with pytest.raises(ValueError):  # InvalidArgumentError is a ValueError too
        cat.search(jpeg, where="year>=")
    with pytest.raises(lookalike.InvalidArgumentError, match="k must be"):
        cat.similar(tiny["ids"][0], k=0)
    with pytest.raises(lookalike.InvalidArgumentError, match="H x W x 3 uint8"):
        cat.search(np.zeros((10, 10), np.uint8))
    with pytest.raises(lookalike.NotFoundError) as e:
        lookalike.Catalog(str(tmp_path / "missing.db"), create=False)
    assert e.value.code == -8 and "missing.db" in str(e.value)
    with pytest.raises(lookalike.Error, match="was it indexed"):
        len(lookalike.Catalog(str(tmp_path / "empty.db")))  # made, but nothing indexed yet
    with pytest.raises(lookalike.Error) as e:
        lookalike.Catalog(str(tmp_path / "no" / "such" / "folder" / "c.db"))
    assert "c.db" in str(e.value)
    with pytest.raises(FileNotFoundError):
        cat.search(str(tmp_path / "nope.jpg"))
    with pytest.raises(lookalike.Error) as e:
        cat.index(str(tmp_path / "no-photos"), progress=False)
    assert "no-photos" in str(e.value)


def test_gil_released_during_search(tiny):
    """A search in one thread leaves the other Python threads running."""
    cat, path = tiny["cat"], photo(tiny, tiny["ids"][0])
    t0 = time.perf_counter()
    cat.search(path, k=5, multi_crop=True)  # 14 embeddings: a long C call
    one = time.perf_counter() - t0
    done = threading.Event()

    def searches():
        cat.search(path, k=5, multi_crop=True)
        done.set()
    ticks = []
    t = threading.Thread(target=searches)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    gaps = np.diff(ticks)
    # Holding the GIL through a search would stall this loop for a whole search (or more).
    print("search %.3f s, longest gap %.3f s, %d ticks" % (one, gaps.max(), len(ticks)))
    assert one > 0.01 and len(ticks) > 10 and gaps.max() < one * 0.75, (one, gaps.max(), len(ticks))


def test_frame(tiny):
    cat, pid = tiny["cat"], tiny["ids"][0]
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match="pandas"):
            cat.search(photo(tiny, pid), frame=True)
        with pytest.raises(ImportError, match="pandas"):
            cat.items(frame=True)
        return
    df = cat.search(photo(tiny, pid), k=4, frame=True)
    assert list(df["id"]) == [h["id"] for h in cat.search(photo(tiny, pid), k=4)]
    assert list(df.columns[:2]) == ["id", "score"]
    assert list(cat.items(frame=True)["id"]) == tiny["ids"]


def test_struct_layouts_match_the_header(tmp_path):
    """The cdef'd structs (cffi ABI mode) have the C header's sizes and field offsets."""
    # The headers of the library under test: $LOOKALIKE_INCLUDE (folders, ':'-separated), else
    # this source tree's.
    dirs = os.environ.get("LOOKALIKE_INCLUDE", os.path.join(ROOT, "include") + ":" + os.path.join(ROOT, "src"))
    dirs = [d for d in dirs.split(":") if d]
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "lookalike.h"']
    for h in ("search/engine.h", "ingest/ingest.h"):  # where the types lived before the public header
        if any(os.path.exists(os.path.join(d, h)) for d in dirs):
            lines.append('#include "%s"' % h)
    lines.append("int main(void) {")
    want = {}
    for s in STRUCTS:
        lines.append('  printf("%s %%zu\\n", sizeof(%s));' % (s, s))
        want[s] = ffi.sizeof(s)
        for name, field in ffi.typeof(s).fields:
            lines.append('  printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (s, name, s, name))
            want["%s.%s" % (s, name)] = field.offset
    lines.append("  return 0;\n}")
    src = tmp_path / "sizes.c"
    src.write_text("\n".join(lines) + "\n")
    pq = subprocess.run(["pkg-config", "--cflags", "libpq"], capture_output=True, text=True).stdout.split()
    cc = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", *("-I" + d for d in dirs), *pq, str(src),
                         "-o", str(tmp_path / "sizes")],
                        capture_output=True, text=True)
    assert cc.returncode == 0, "the cdef names a field the C header lacks:\n" + cc.stderr
    out = subprocess.run([str(tmp_path / "sizes")], capture_output=True, text=True, check=True).stdout
    got = {k: int(v) for k, v in (line.split() for line in out.splitlines())}
    assert {k: (want[k], got[k]) for k in want if want[k] != got[k]} == {}


def test_library_not_found_is_a_clear_import_error():
    env = dict(os.environ, LOOKALIKE_LIBRARY="/nonexistent/liblookalike.so")
    r = subprocess.run([sys.executable, "-c", "import lookalike"], env=env, capture_output=True, text=True,
                       cwd=os.path.join(ROOT, "python"))
    assert r.returncode != 0 and "ImportError: lookalike: cannot load liblookalike.so" in r.stderr
    assert "LOOKALIKE_LIBRARY" in r.stderr
    env["LOOKALIKE_LIBRARY"] = "libz.so.1"  # a library, but not lookalike's
    r = subprocess.run([sys.executable, "-c", "import lookalike"], env=env, capture_output=True, text=True,
                       cwd=os.path.join(ROOT, "python"))
    assert r.returncode != 0 and "libz.so.1 lacks lk_catalog_close" in r.stderr


def test_notebook_example(tiny, tmp_path):
    out = tmp_path / "grid.png"
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "notebook.py"), "--images", tiny["images"],
                        "--styles", tiny["styles"], "--db", str(tmp_path / "nb.db"), "--models", MODELS,
                        "--item", str(tiny["ids"][0]), "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "numpy neighbours agree with similar()" in r.stdout
    from PIL import Image
    grid = Image.open(out)
    assert grid.format == "PNG" and grid.size[0] > grid.size[1] > 0
