"""lookalike: visual search for fashion catalogs, from Python.

    import lookalike
    cat = lookalike.Catalog("catalog.db")                  # opens or creates the catalog file
    cat.index("photos/", styles="styles.csv")              # embeds what is new; a progress bar
    hits = cat.search("street.jpg", k=5, where={"gender": "Women"})
    ids, vecs = cat.vectors()                              # zero-copy numpy view

A thin layer over liblookalike (include/lookalike.h) through cffi's ABI mode. cffi releases
the GIL around every C call, so searches, embeddings and indexing in one thread do not block
other Python threads. A Catalog may be shared by threads: the C engine is thread-safe and the
lazy (re)load of the engine is guarded by a lock.
"""
import numbers
import os
import threading

import numpy as np

from ._ffi import ffi, lib, library_path

__all__ = ["Catalog", "Error", "InvalidArgumentError", "IoError", "CorruptError", "DecodeError",
           "TooBigError", "UnsupportedError", "NotFoundError", "MismatchError", "StoppedError",
           "DatabaseError", "NoMemoryError", "FIELDS", "version", "library_path"]

# The styles.csv fields every item has (lk_catalog_fields), in the C order of lk_item.field.
FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year",
          "usage", "productDisplayName")

_CATALOG_READONLY, _CATALOG_CREATE = 0, 1
_EINVAL = -2


class Error(Exception):
    """A lookalike call failed: .code is the negative LK_E* code, .message the C library's text."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class NoMemoryError(Error): pass                     # LK_ENOMEM
class InvalidArgumentError(Error, ValueError): pass  # LK_EINVAL
class IoError(Error): pass                           # LK_EIO
class CorruptError(Error): pass                      # LK_ECORRUPT
class DecodeError(Error): pass                       # LK_EDECODE
class TooBigError(Error): pass                       # LK_ETOOBIG
class UnsupportedError(Error): pass                  # LK_EUNSUPPORTED
class NotFoundError(Error, LookupError): pass        # LK_ENOTFOUND
class MismatchError(Error): pass                     # LK_EMISMATCH
class StoppedError(Error): pass                      # LK_EINTR
class DatabaseError(Error): pass                     # LK_EDB


_BY_CODE = {-1: NoMemoryError, -2: InvalidArgumentError, -3: IoError, -4: CorruptError,
            -5: DecodeError, -6: TooBigError, -7: UnsupportedError, -8: NotFoundError,
            -9: MismatchError, -10: StoppedError, -11: DatabaseError}


def _raise(code, err=None):
    """Raises the Error subclass of a negative code with the message in err (or lk_strerror)."""
    msg = ffi.string(lib.lk_err_msg(err) if err is not None else lib.lk_strerror(code))
    raise _BY_CODE.get(code, Error)(code, msg.decode("utf-8", "replace"))


def _check(rc, err=None):
    if rc < 0:
        _raise(rc, err)
    return rc


def version():
    """The C library's version text."""
    return ffi.string(lib.lk_version()).decode()


def _text(p):
    return None if p == ffi.NULL else ffi.string(p).decode("utf-8", "replace")


def _item_dict(item, id_):
    d = {"id": int(id_)}
    if item == ffi.NULL:  # cannot happen for hits of a consistent engine; kept honest
        d.update({f: None for f in FIELDS}, path=None)
        return d
    for i, name in enumerate(FIELDS):
        d[name] = _text(item.field[i])
    d["path"] = _text(item.path)
    return d


def _stats_dict(st):
    names = ("rows", "bad_rows", "odd_rows", "recoded", "photos", "unnamed", "no_photo", "no_row",
             "selected", "todo", "done", "embedded", "unchanged", "failed", "pruned", "stale")
    d = {n: int(getattr(st, n)) for n in names}
    d["seconds"] = float(st.seconds)
    d["source"] = ffi.string(st.source).decode("utf-8", "replace")
    return d


def _value(v):
    """A where-dict value as the filter's text: True/False as true/false, else str()."""
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


class _Filter:
    """An lk_filter built from `where`: a dict {field: value or [values]} (equality, values of
    one field OR-ed), a "field=value" / "price<=50" string, or a list of such strings."""

    def __init__(self, where):
        self.ptr = ffi.NULL
        if not where:
            return
        exprs = []
        if isinstance(where, str):
            exprs = [where]
        elif isinstance(where, dict):
            for field, value in where.items():
                values = value if isinstance(value, (list, tuple, set)) else [value]
                exprs += ["%s=%s" % (field, _value(v)) for v in values]
        else:
            exprs = list(where)
        out = ffi.new("lk_filter **")
        _check(lib.lk_filter_new(out))
        self.ptr = ffi.gc(out[0], lib.lk_filter_free)
        err = ffi.new("lk_errbuf *")
        for e in exprs:
            if not isinstance(e, str):
                raise TypeError("where: expected 'field=value' strings, got %r" % (e,))
            _check(lib.lk_filter_add(self.ptr, e.encode(), err), err)


def _pixels(arr):
    """A HxWx3 uint8 array as (array, w, h, stride) the C side can read row by row: rows may be
    apart (a view of a region is not copied), pixels within a row must be packed RGB."""
    a = np.asarray(arr)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise InvalidArgumentError(_EINVAL, "an image array must be H x W x 3 uint8 (RGB), not %s %s"
                                   % ("x".join(map(str, a.shape)), a.dtype))
    if a.strides[2] != 1 or a.strides[1] != 3 or a.strides[0] < 0:
        a = np.ascontiguousarray(a)
    return a, a.shape[1], a.shape[0], a.strides[0]


def _rows(a):
    """The first pixel of _pixels' array (which the caller keeps alive during the C call)."""
    return ffi.cast("const uint8_t *", a.ctypes.data)


def _photo(photo):
    """('bytes', data) for a path or encoded bytes, ('pixels', array...) for an array or PIL image."""
    if isinstance(photo, (str, os.PathLike)):
        with open(photo, "rb") as f:
            return "bytes", f.read()
    if isinstance(photo, (bytes, bytearray, memoryview)):
        return "bytes", bytes(photo)
    if hasattr(photo, "convert") and hasattr(photo, "mode"):  # a PIL image
        photo = photo.convert("RGB")
    return ("pixels",) + _pixels(photo)


class Catalog:
    """A lookalike catalog (a SQLite file, or a postgresql:// URL) and its search engine.

    Catalog(path, models=None, create=True): opens the catalog, creating an empty one when the
    file does not exist (create=False: NotFoundError instead). models: the models folder (None:
    $LOOKALIKE_MODELS, ./models, ../shared/models, as the `lookalike` command looks). The engine
    (items and vectors in memory) is loaded on the first search and again after index().
    """

    def __init__(self, path, models=None, create=True, garment=None):
        self.path = os.fspath(path)
        self.models = None if models is None else os.fspath(models)
        self._garment = {None: 0, False: 1, True: 2}[garment]
        self._lock = threading.Lock()
        self._engine = None
        err = ffi.new("lk_errbuf *")
        cat = ffi.new("lk_catalog **")
        mode = _CATALOG_CREATE if create else _CATALOG_READONLY
        _check(lib.lk_catalog_open(os.fsencode(self.path), mode, cat, err), err)
        lib.lk_catalog_close(cat[0])

    def __repr__(self):
        return "lookalike.Catalog(%r)" % self.path

    # ------------------------------------------------------------------ the engine
    def _eng(self):
        with self._lock:
            if self._engine is None:
                o = ffi.new("lk_engine_opts *")
                lib.lk_engine_opts_default(o)
                models = ffi.new("char[]", os.fsencode(self.models)) if self.models else ffi.NULL
                o.models_dir = models
                o.garment = self._garment
                out = ffi.new("lk_engine **")
                err = ffi.new("lk_errbuf *")
                _check(lib.lk_engine_open(os.fsencode(self.path), o, out, err), err)
                self._engine = ffi.gc(out[0], lib.lk_engine_close)
            return self._engine

    def reload(self):
        """Forgets the loaded engine: the next call reads the catalog again (arrays from
        vectors() stay valid: they keep their engine)."""
        with self._lock:
            self._engine = None

    def __len__(self):
        """Searchable items (those with a vector)."""
        return int(lib.lk_engine_size(self._eng()))

    @property
    def dim(self):
        """Width of the catalog's vectors."""
        return int(lib.lk_engine_dim(self._eng()))

    def item(self, id):
        """The item's fields as a dict (id, gender, ..., productDisplayName, path); NotFoundError."""
        it = lib.lk_engine_item(self._eng(), int(id))
        if it == ffi.NULL:
            raise NotFoundError(-8, "item %d is not in the catalog" % int(id))
        return _item_dict(it, id)

    def items(self, frame=False):
        """Every product's fields (as item()), in id order, also those without a vector;
        frame=True: a pandas DataFrame."""
        e = self._eng()
        out = [_item_dict(it, it.id) for it in (lib.lk_engine_item_at(e, i)
                                                 for i in range(lib.lk_engine_item_count(e)))]
        return _frame(out, ["id"] + list(FIELDS) + ["path"]) if frame else out

    # ------------------------------------------------------------------ index
    def index(self, folder, styles=None, progress=True, limit=0, workers=0, batch=8, prune=False,
              source=None):
        """Embeds the photos of folder (ID.jpg, ...) that are new or changed, with styles.csv's
        rows as their fields, as `lookalike index` does (resumable; bad photos are skipped and
        counted). progress: True draws a bar on stderr, a callable gets the statistics dict after
        each batch (one call at a time), False/None nothing. An
        exception raised by the callback stops the run after the current batch and is re-raised.
        Returns the statistics as a dict (rows, photos, embedded, unchanged, failed, seconds...)."""
        o = ffi.new("lk_ingest_opts *")
        lib.lk_ingest_opts_default(o)
        keep = []  # C strings alive for the call

        def cstr(s):
            p = ffi.new("char[]", os.fsencode(s))
            keep.append(p)
            return p

        o.images_dir = cstr(folder)
        o.styles_csv = cstr(styles) if styles is not None else ffi.NULL
        o.db_path = cstr(self.path)
        o.models_dir = cstr(self.models) if self.models else ffi.NULL
        o.source = cstr(source) if source is not None else ffi.NULL
        o.limit = int(limit)
        o.prune = int(bool(prune))
        if batch:
            o.batch = int(batch)
        if workers:
            o.workers = int(workers)
        stop = ffi.new("int *")
        o.stop = stop
        raised = []
        report = progress if callable(progress) else (_Bar() if progress else None)

        @ffi.callback("void(void *, const lk_ingest_stats *)")
        def on_progress(ctx, st):
            if raised or report is None:
                return
            try:
                report(_stats_dict(st))
            except BaseException as e:  # KeyboardInterrupt included: stop, then re-raise
                raised.append(e)
                stop[0] = 1

        o.progress = on_progress
        st = ffi.new("lk_ingest_stats *")
        err = ffi.new("lk_errbuf *")
        rc = lib.lk_ingest_run(o, st, err)
        if isinstance(report, _Bar):
            report.done()
        self.reload()  # the next search sees what was written
        if raised:
            raise raised[0]
        _check(rc, err)
        return _stats_dict(st)

    # ------------------------------------------------------------------ search
    def search(self, photo, k=5, where=None, crop=None, multi_crop=False, frame=False):
        """Products that look like photo: a path, encoded bytes (JPEG/PNG/WebP), a H x W x 3
        uint8 numpy array (RGB) or a PIL image. where: see _Filter (dict, string or list).
        crop=(x, y, w, h): search that region only. multi_crop: also search 13 crops, each item
        keeping its best score. Returns a list of dicts (id, score, the item's fields, path),
        best first; frame=True returns them as a pandas DataFrame (pandas must be installed)."""
        _check_k(k)
        e = self._eng()
        f = _Filter(where)
        q = ffi.new("lk_query *")
        lib.lk_query_init(q)
        q.k = int(k)
        q.filter = f.ptr
        if crop is not None:
            if len(crop) != 4:
                raise InvalidArgumentError(_EINVAL, "crop must be (x, y, w, h), not %r" % (crop,))
            q.crop = [int(v) for v in crop]
            if q.crop[2] <= 0 or q.crop[3] <= 0:
                raise InvalidArgumentError(_EINVAL, "crop width and height must be positive: %r" % (crop,))
        q.multi_crop = int(bool(multi_crop))
        hits = ffi.new("lk_hit[]", int(k))
        n = ffi.new("int *")
        err = ffi.new("lk_errbuf *")
        kind, *p = _photo(photo)
        if kind == "bytes":
            rc = lib.lk_engine_search_photo(e, p[0], len(p[0]), q, hits, n, ffi.NULL, err)
        else:
            a, w, h, stride = p
            rc = lib.lk_engine_search_pixels(e, _rows(a), w, h, stride, q, hits, n, ffi.NULL, err)
        _check(rc, err)
        return self._hits(e, hits, n[0], frame)

    def similar(self, id, k=5, where=None, frame=False):
        """Products that look like catalog item id (itself excluded); as search()."""
        _check_k(k)
        e = self._eng()
        f = _Filter(where)
        hits = ffi.new("lk_hit[]", int(k))
        n = ffi.new("int *")
        err = ffi.new("lk_errbuf *")
        _check(lib.lk_engine_similar(e, int(id), f.ptr, int(k), hits, n, err), err)
        return self._hits(e, hits, n[0], frame)

    @staticmethod
    def _hits(e, hits, n, frame):
        out = []
        for i in range(n):
            d = _item_dict(lib.lk_engine_item(e, hits[i].id), hits[i].id)
            d["score"] = float(hits[i].score)
            out.append(d)
        return _frame(out, ["id", "score"] + list(FIELDS) + ["path"]) if frame else out

    # ------------------------------------------------------------------ vectors
    def embed(self, photo):
        """The vector of a photo (as search() takes it), as the catalog's vectors are made: a
        float32 numpy array of dim values, L2-normalised."""
        e = self._eng()
        vec = np.empty(lib.lk_engine_dim(e), dtype=np.float32)
        out = ffi.from_buffer("float[]", vec)
        err = ffi.new("lk_errbuf *")
        kind, *p = _photo(photo)
        if kind == "bytes":
            rc = lib.lk_engine_embed_photo(e, p[0], len(p[0]), out, err)
        else:
            a, w, h, stride = p
            rc = lib.lk_engine_embed_pixels(e, _rows(a), w, h, stride, out, err)
        _check(rc, err)
        return vec

    def vectors(self):
        """(ids, vectors): int64 ids (n) and the float32 vectors (n x dim, row i = ids[i]) as
        read-only numpy views on the engine's own memory (no copy). The arrays keep that engine
        alive, also after index() or reload() gave the Catalog a newer one."""
        e = self._eng()
        ids_p = ffi.new("const int64_t **")
        vecs_p = ffi.new("const float **")
        n_p = ffi.new("size_t *")
        _check(lib.lk_engine_vectors(e, ids_p, vecs_p, n_p))
        n, dim = int(n_p[0]), int(lib.lk_engine_dim(e))
        if n == 0:
            return np.empty(0, np.int64), np.empty((0, dim), np.float32)
        # Each pointer becomes a cdata whose finaliser holds the engine: buffer -> cdata -> engine.
        ids_c = ffi.gc(ids_p[0], lambda _p, _e=e: None)
        vecs_c = ffi.gc(vecs_p[0], lambda _p, _e=e: None)
        ids = np.frombuffer(ffi.buffer(ids_c, n * 8), dtype=np.int64)
        vecs = np.frombuffer(ffi.buffer(vecs_c, n * dim * 4), dtype=np.float32).reshape(n, dim)
        ids.flags.writeable = False  # the engine is shared and never changes
        vecs.flags.writeable = False
        return ids, vecs


def _check_k(k):
    if not isinstance(k, numbers.Integral) or k < 1:
        raise InvalidArgumentError(_EINVAL, "k must be a whole number of at least 1, not %r" % (k,))


def _frame(rows, columns):
    try:
        import pandas
    except ImportError as x:
        raise ImportError("frame=True needs pandas (apt install python3-pandas)") from x
    return pandas.DataFrame(rows, columns=columns)


class _Bar:
    """index()'s progress=True: on a terminal one line on stderr, redrawn; elsewhere (a log, a
    notebook's captured stderr) a line at each tenth of the work."""

    def __init__(self):
        import sys
        self.out = sys.stderr
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.drawn = False
        self.tenth = -1

    def __call__(self, s):
        todo, done = s["todo"], s["done"]
        width = 30
        fill = width * done // todo if todo else width
        tenth = 10 * done // todo if todo else 10
        if not self.tty and tenth == self.tenth:
            return
        self.tenth = tenth
        self.out.write("%sindex [%s%s] %d/%d photos, %.1f s%s" % ("\r" if self.tty else "", "#" * fill,
                       "." * (width - fill), done, todo, s["seconds"], "" if self.tty else "\n"))
        self.out.flush()
        self.drawn = True

    def done(self):
        if self.drawn and self.tty:
            self.out.write("\n")
            self.out.flush()
