"""An append-only journal of finished units, so that long work killed half-way is not lost.

Sweeps append each finished unit, training races each finished (racer, seed) run; ``resume``
reads them back bit for bit and the work goes on from there. The store of the benchmark will be
the longer-lived home of finished runs; this file format stays readable by it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UsageError

JOURNAL_FORMAT = "optarena.journal/1"


class Journal:
    """An append-only file of finished units, so that work killed half-way is not lost.

    Line 1 is a header: the format, the kind of work and its full config. Every further line is
    one finished unit, ``{"unit": key, "data": {...}}``, written with one ``write`` and synced to
    disk before the next unit starts; arrays are stored as their raw little-endian bytes
    (base64), so a resumed run reassembles them bit for bit, NaN and infinities included. A kill
    mid-write leaves a torn last line: resuming drops it.

    ``Journal(path, resume)`` refuses at once (before any work) a file holding an earlier run
    unless ``resume``; ``start(kind, config)`` checks the file against this run, or writes the
    header, and returns the finished units by key; ``add(key, data)`` appends one.
    """

    def __init__(self, path: str | os.PathLike[str], resume: bool) -> None:
        self.path = Path(path)
        self.resume = bool(resume)
        self._file: Any = None
        if not self.resume and self.path.is_file() and self.path.stat().st_size:
            self._refuse_old()

    def _refuse_old(self) -> None:
        raise UsageError(f"{self.path} holds the finished units of an earlier run: resume it (resume=True, "
                         "CLI: --resume) or remove the file", field="journal")

    def start(self, kind: str, config: Mapping[str, Any]) -> dict[tuple, dict[str, Any]]:
        config = json.loads(json.dumps(config))  # as it reads back from the file
        f = open(self.path, "a+b")
        try:
            try:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - no fcntl (Windows): no guard against two writers
                pass
            except OSError:
                raise UsageError(f"{self.path} is in use by another run", field="journal") from None
            f.seek(0)
            data = f.read()
            if data and not self.resume:
                self._refuse_old()
            header, done, end = self._read(data)
            if header is not None:
                if header.get("format") != JOURNAL_FORMAT or header.get("kind") != kind:
                    raise UsageError(f"{self.path} is not a journal of an optarena {kind} "
                                     f"(format {header.get('format')!r}, kind {header.get('kind')!r})", field="journal")
                diff = _first_difference(header.get("config"), config)
                if diff is not None:
                    where, there, here = diff
                    raise UsageError(f"{self.path} was written by another {kind}: {where} is {_short(there)} there, "
                                     f"{_short(here)} here; run the same {kind} to resume it, or remove the file",
                                     field="journal")
            f.truncate(end)  # drop a torn last line, so the next line starts on a line of its own
            if header is None:
                self._write(f, {"format": JOURNAL_FORMAT, "kind": kind, "config": config})
        except BaseException:
            f.close()
            raise
        self._file = f
        return done

    def _read(self, data: bytes) -> tuple[dict[str, Any] | None, dict[tuple, dict[str, Any]], int]:
        """(header, finished units by key, bytes of whole lines) of the file's contents."""
        header, done, end = None, {}, 0
        lines = data.split(b"\n")[:-1]  # after the last newline: nothing, or a torn write
        for n, line in enumerate(lines):
            try:
                rec = json.loads(line)
                if n == 0:
                    if not isinstance(rec, dict):
                        raise TypeError
                    header = rec
                else:
                    done[tuple(rec["unit"])] = {k: _unpack(v) for k, v in rec["data"].items()}
            except (ValueError, TypeError, KeyError):
                if n == len(lines) - 1:  # the last line: a write the kill (or a crash) cut short
                    break
                raise UsageError(f"{self.path}: line {n + 1} is damaged; remove the file to start over",
                                 field="journal") from None
            end += len(line) + 1
        return header, done, end

    @staticmethod
    def _write(f: Any, record: Mapping[str, Any]) -> None:
        f.write((json.dumps(record, separators=(",", ":")) + "\n").encode())  # one write: a kill tears one line at most
        f.flush()
        os.fsync(f.fileno())

    def add(self, key: Sequence[Any], data: Mapping[str, Any]) -> None:
        self._write(self._file, {"unit": list(key), "data": {k: _pack(v) for k, v in data.items()}})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _pack(v: Any) -> Any:
    if isinstance(v, (np.ndarray, np.generic)):
        a = np.asarray(v)
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        return {"dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}
    return v


def _unpack(v: Any) -> Any:
    if isinstance(v, dict) and "b64" in v:
        dtype = np.dtype(v["dtype"])
        raw = np.frombuffer(base64.b64decode(v["b64"], validate=True), dtype=dtype)
        return raw.reshape(v["shape"]).astype(dtype.newbyteorder("="))
    return v


def _first_difference(a: Any, b: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """(the path of the first difference, its value in a, in b), or None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            path = f"{where}.{k}" if where else str(k)
            if k not in a or k not in b:
                return path, a.get(k, "(missing)"), b.get(k, "(missing)")
            diff = _first_difference(a[k], b[k], path)
            if diff is not None:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff = _first_difference(x, y, f"{where}[{i}]")
            if diff is not None:
                return diff
        return None
    return None if type(a) is type(b) and a == b else (where or "config", a, b)


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) or v == "(missing)" else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
