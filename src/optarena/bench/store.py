"""The trial store: every finished trial, committed to SQLite, so that nothing finished is lost.

One row per trial: ``key`` (``Store.key(config)``: a SHA-256 of the trial's full configuration
and of the versions that ran it), ``config``, ``result`` and ``versions`` (JSON text) and
``created`` (seconds since the epoch). Rows are only ever inserted (``INSERT OR IGNORE``): a
trial is never rewritten, so a resumed run skips what is there and a store written by another
optarena version keeps its rows (their keys differ, since the versions are part of the key).

Safety, and why:

- **WAL mode, one autocommit statement per put**: ``put`` returns only once its row is committed;
  readers never block the writer nor see half a row. ``synchronous=NORMAL``: in WAL mode a commit
  reaches the operating system before ``put`` returns, so it survives ``kill -9`` of the process;
  only a power cut or an OS crash can drop the last few commits (never corrupt the file), and a
  resumed run then reruns just those trials. FULL would add an fsync per trial for that case alone.
- **A busy timeout** (30 s by default): two processes writing at once take turns instead of failing.
- **A new store is built under a temporary name and linked into place**, so the path never holds a
  half-made store and two processes creating it at once end up sharing one.
- **Nothing else is ever opened for writing**: a file is recognised as a store from its SQLite
  header (application id, format number) and then its ``meta`` table, read through a read-only
  connection. Anything else (not SQLite, another application's database, a truncated or empty
  file, a store of another format) raises ``StoreError`` naming the path, and its bytes stay as
  they were. A store that turns out corrupted later raises ``StoreError`` on the failing call.

JSON is strict: non-finite floats are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"``
and read back as floats; a string that would read as one of them (``"inf"``, ``"~nan"`` ...) is
written with one more leading ``~``, so every value reads back exactly as it was put, apart from
tuples (lists), NumPy arrays and scalars (lists and Python numbers) and the sign of a NaN.

A ``Store`` holds one SQLite connection: use it from the thread that opened it (sqlite3 refuses
others) and open a new one in each process, never one inherited across ``fork``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .. import __version__
from ..errors import UsageError, UsageTypeError

FORMAT_VERSION = 1
FORMAT = f"optarena.bench-store/{FORMAT_VERSION}"
#: SQLite's header field for "which application's file is this" (bytes 68-71): b"OpBS".
APPLICATION_ID = int.from_bytes(b"OpBS", "big")
#: How long a call waits for another process's write to finish before giving up.
BUSY_TIMEOUT = 30.0

_SQLITE_MAGIC = b"SQLite format 3\x00"
_COLUMNS = ("key", "config", "result", "versions", "created")
_FORMAT_PREFIX = "optarena.bench-store/"
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_ESCAPED = re.compile(r"~*(?:inf|-inf|nan)")  # strings that get one more "~" when written
_CHUNK = 500  # keys per SELECT ... IN (...) when records() reads results

__all__ = ["APPLICATION_ID", "BUSY_TIMEOUT", "FORMAT", "FORMAT_VERSION", "Store", "StoreError", "default_path", "versions"]


class StoreError(UsageError):
    """The store's file cannot be used (not a store, another format, corrupted, locked too long);
    the message names the path. ``field`` is ``"store"``."""

    def __init__(self, message: str, *, field: str | None = "store", allowed: Any = None) -> None:
        super().__init__(message, field=field, allowed=allowed)


@lru_cache(maxsize=None)
def _versions() -> tuple[tuple[str, str | None], ...]:
    try:
        torch: str | None = importlib.metadata.version("torch")  # its metadata: torch is not imported for this
    except importlib.metadata.PackageNotFoundError:
        torch = None
    return (("optarena", __version__), ("numpy", np.__version__), ("torch", torch),
            ("python", f"{sys.version_info.major}.{sys.version_info.minor}"))


def versions() -> dict[str, str | None]:
    """What a trial's outcome may depend on besides its config: ``{"optarena", "numpy", "torch"
    (None when not installed), "python" (major.minor)}``, the same all through a process."""
    return dict(_versions())


def default_path() -> Path:
    """Where a store lives unless told: $OPTARENA_DATA_DIR, else $XDG_DATA_HOME/optarena, else
    ~/.local/share/optarena; the file ``bench.sqlite`` there."""
    env = os.environ.get("OPTARENA_DATA_DIR")
    if env:
        return Path(env).expanduser() / "bench.sqlite"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "optarena" / "bench.sqlite"


# --- strict JSON ----------------------------------------------------------------------------------

class _Unstorable(Exception):
    """A value JSON cannot hold; ``where`` collects the path to it, innermost first."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.where: list[str] = []


def _plain(value: Any) -> Any:
    """``value`` as strict-JSON-able Python: non-finite floats and colliding strings encoded as the
    module says, NumPy arrays and scalars as lists and Python numbers."""
    if isinstance(value, str):
        return "~" + value if _ESCAPED.fullmatch(value) else value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Unstorable(f"the key {k!r} ({type(k).__name__}; keys are strings)")
            try:
                out[k] = _plain(v)
            except _Unstorable as e:
                e.where.append(f".{k}")
                raise
        return out
    if isinstance(value, (list, tuple)):
        items = []
        for i, v in enumerate(value):
            try:
                items.append(_plain(v))
            except _Unstorable as e:
                e.where.append(f"[{i}]")
                raise
        return items
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist())
    raise _Unstorable(f"a {type(value).__name__}")


def _unplain(value: Any) -> Any:
    """The inverse of ``_plain`` on what ``json.loads`` gives."""
    if isinstance(value, str):
        number = _NON_FINITE.get(value)
        if number is not None:
            return number
        return value[1:] if _ESCAPED.fullmatch(value) else value  # a match here starts with "~"
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if isinstance(value, dict):
        return {k: _unplain(v) for k, v in value.items()}
    return value


def _plain_for(value: Any, field: str) -> Any:
    try:
        return _plain(value)
    except _Unstorable as e:
        where = field + "".join(reversed(e.where))
        raise UsageTypeError(f"{where}: {e.what} cannot be stored (a store holds dicts with string keys, lists, str, int, "
                             "float, bool, None and NumPy arrays and scalars)", field=where) from None


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def _loads(text: str, path: Path) -> Any:
    try:
        return _unplain(json.loads(text))
    except (TypeError, ValueError) as e:  # SQLite kept the row, but not as put: someone else's write, or damage
        raise StoreError(f"{path} is corrupted (a row that is not JSON: {e}); it was left as it is") from None


# --- the file -------------------------------------------------------------------------------------

def _untouched(path: Path, problem: str) -> StoreError:
    return StoreError(f"{path} {problem}; it was left untouched: choose another store path, or move the file away")


def _other_format(fmt: str) -> str:
    return f"is an optarena bench store of format {fmt!r}, which optarena {__version__} cannot read (it reads {FORMAT!r})"


def _header_problem(path: Path) -> str | None:
    """Why the file at ``path`` is not a store, judged from its bytes alone; None when it may be one."""
    if path.is_dir():
        return "is a directory, not a store file"
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not header:
        return "is an empty file, not an optarena bench store (a store is never empty: was it truncated?)"
    if not header.startswith(_SQLITE_MAGIC):
        return "is not an optarena bench store (not an SQLite database)"
    if len(header) < 100:
        return f"is truncated ({size} bytes: less than SQLite's 100-byte header)"
    if int.from_bytes(header[68:72], "big") != APPLICATION_ID:
        return "is an SQLite database of another application, not an optarena bench store"
    if int.from_bytes(header[60:64], "big") != FORMAT_VERSION:
        return _other_format(f"{_FORMAT_PREFIX}{int.from_bytes(header[60:64], 'big')}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    pages_valid = pages > 0 and header[24:28] == header[92:96]  # SQLite trusts the page count only then
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size:  # uncheckpointed commits: the main file may lag until SQLite recovers them
        return None
    if page_size < 512 or size % page_size or (pages_valid and size < pages * page_size):
        return f"is truncated ({size} bytes; its header says {pages} pages of {page_size} bytes)"
    return None


def _check_schema(path: Path, timeout: float) -> dict[str, str]:
    """The store's meta table, read through a read-only connection; StoreError when ``path`` is not
    a store of this format."""
    try:
        con = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as e:
        raise StoreError(f"{path} cannot be opened ({e})") from e
    try:
        with _sqlite_errors(path, "reading its tables", timeout):
            tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" not in tables:
                raise _untouched(path, "is an SQLite database without optarena's meta table, not an optarena bench store")
            meta = {str(k): str(v) for k, v in con.execute("SELECT name, value FROM meta")}
            fmt = meta.get("format", "")
            if fmt != FORMAT:
                raise _untouched(path, _other_format(fmt) if fmt.startswith(_FORMAT_PREFIX) else
                                 f"has a meta table that names no optarena bench store format ({fmt!r})")
            columns = {row[1] for row in con.execute("PRAGMA table_info(trials)")}
            if not set(_COLUMNS) <= columns:
                raise _untouched(path, f"is not a complete optarena bench store (its trials table has columns {sorted(columns)}, "
                                       f"a store's has {list(_COLUMNS)})")
            return meta
    finally:
        con.close()


@contextmanager
def _sqlite_errors(path: Path, doing: str, timeout: float) -> Iterator[None]:
    """sqlite3's errors as StoreError naming the path; misuse (a closed store, another thread) passes through."""
    try:
        yield
    except sqlite3.ProgrammingError:
        raise
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise StoreError(f"{path} stayed locked by another process for over {timeout:g} s while {doing}") from e
        raise StoreError(f"{path}: {doing} failed ({e})") from e
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is corrupted ({e}; while {doing}); it was left as it is") from e


def _create(path: Path) -> None:
    """A new empty store at ``path``, built aside and linked into place; if another process made
    one there first, that one stays."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise StoreError(f"{path}: cannot create a store there ({e.strerror or e})") from e
    os.close(fd)
    tmp = Path(name)
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            con.execute("BEGIN")
            con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute("CREATE TABLE trials (key TEXT PRIMARY KEY, config TEXT NOT NULL, result TEXT NOT NULL, "
                        "versions TEXT NOT NULL, created REAL NOT NULL)")
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            con.executemany("INSERT INTO meta VALUES (?, ?)",
                            [("format", FORMAT), ("created_by", str(versions()["optarena"])), ("created", created)])
            con.execute("COMMIT")
            if con.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
                raise StoreError(f"{path}: SQLite cannot use WAL mode in {path.parent} (a network file system?), which two "
                                 "processes sharing a store need; put the store on a local disk")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file before it is linked
        finally:
            con.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it meanwhile: both use that one
        except OSError:  # no hard links here (FAT, some network shares): a rename, which would replace, only onto nothing
            if not path.exists():
                os.replace(tmp, path)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot create a store there ({e})") from e
    except OSError as e:
        raise StoreError(f"{path}: cannot create a store there ({e.strerror or e})") from e
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)


# --- the store ------------------------------------------------------------------------------------

class Store:
    """Every finished trial, in the SQLite file ``path``: ``put`` commits one, ``get``/``has``/
    ``records`` read them back, from this process or any other.

    ``Store(path)`` opens the store at ``path``, creating it (and its folders) when nothing is
    there; ``create=False`` refuses a missing one instead. Anything at ``path`` that is not a store
    of this format raises ``StoreError`` and is left untouched. ``timeout``: seconds a call waits
    while another process writes. Use it from one thread; close it, or use it as a context manager.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        if not os.path.lexists(self.path):
            if not create:
                raise StoreError(f"{self.path}: no store there (the file does not exist); run the bench to create one")
            _create(self.path)
        problem = _header_problem(self.path)
        if problem:
            raise _untouched(self.path, problem)
        self._meta = _check_schema(self.path, self.timeout)
        try:
            self._con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path} cannot be opened ({e})") from e
        try:
            with self._errors("opening it"):
                mode = self._con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    raise StoreError(f"{self.path}: SQLite cannot use WAL mode there (journal mode {mode!r}; a network file "
                                     "system?), which two processes sharing a store need; copy the store to a local disk")
                self._con.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            self._con.close()
            raise

    def _errors(self, doing: str) -> Any:
        return _sqlite_errors(self.path, doing, self.timeout)

    @staticmethod
    def key(config: Mapping[str, Any]) -> str:
        """SHA-256 (hex) of the canonical JSON (sorted keys, no spaces) of ``{"config": config,
        "versions": versions()}``: the same in every process with the same versions."""
        if not isinstance(config, Mapping):
            raise UsageTypeError(f"config: a trial's config is a dict, not a {type(config).__name__}", field="config")
        canonical = json.dumps({"config": _plain_for(config, "config"), "versions": versions()},
                               allow_nan=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def has(self, key: str) -> bool:
        """Whether a trial with this key is stored."""
        with self._errors("looking up a trial"):
            return self._con.execute("SELECT 1 FROM trials WHERE key = ?", (key,)).fetchone() is not None

    def get(self, key: str) -> dict[str, Any] | None:
        """The record ``{"key", "config", "result", "versions", "created"}`` of this key, or None."""
        with self._errors("reading a trial"):
            row = self._con.execute("SELECT config, result, versions, created FROM trials WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._record(key, _loads(row[0], self.path), *row[1:])

    def put(self, key: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> bool:
        """Store a finished trial, committed before this returns: True when it is new, False when
        the key was already there (that row stays as it was). ``key`` must be ``Store.key(config)``."""
        expected = self.key(config)
        if key != expected:
            raise UsageError(f"key: {key!r} is not Store.key(config) ({expected!r}) under these versions", field="key")
        if not isinstance(result, Mapping):
            raise UsageTypeError(f"result: a trial's result is a dict, not a {type(result).__name__}", field="result")
        row = (key, _dumps(_plain_for(config, "config")), _dumps(_plain_for(result, "result")), _dumps(versions()), time.time())
        with self._errors("committing a trial"):
            # one autocommit statement: its own transaction, committed (or not at all) when execute returns
            return self._con.execute("INSERT OR IGNORE INTO trials VALUES (?, ?, ?, ?, ?)", row).rowcount == 1

    def records(self, **where: Any) -> Iterator[dict[str, Any]]:
        """Every stored record whose config has each given value (``records(workload="digits_mlp",
        seed=0)``; a config without the field does not match), in the order they were committed."""
        with self._errors("reading its trials"):
            rows = self._con.execute("SELECT key, config FROM trials ORDER BY rowid").fetchall()
        matching = []
        for key, config_text in rows:
            config = _loads(config_text, self.path)
            if all(k in config and config[k] == v for k, v in where.items()):
                matching.append((key, config))
        # the results in chunks, so that a large store is never all in memory; rows never change once written
        for start in range(0, len(matching), _CHUNK):
            chunk = matching[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            with self._errors("reading its trials"):
                found = {key: rest for key, *rest in self._con.execute(
                    f"SELECT key, result, versions, created FROM trials WHERE key IN ({marks})", [k for k, _ in chunk])}
            for key, config in chunk:
                yield self._record(key, config, *found[key])

    def count(self) -> int:
        """How many trials are stored."""
        with self._errors("counting its trials"):
            return int(self._con.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def info(self) -> dict[str, Any]:
        """What the store is: ``path``, ``format``, ``created_by`` (optarena version), ``created``
        (ISO 8601, UTC), ``trials`` (count), ``by_versions`` (``[{"versions", "trials"}]``, the
        versions that wrote its rows) and ``versions`` (this process's, which new rows get)."""
        with self._errors("reading its summary"):
            groups = self._con.execute("SELECT versions, COUNT(*) FROM trials GROUP BY versions ORDER BY MIN(rowid)").fetchall()
        return {"path": str(self.path), "format": self._meta["format"], "created_by": self._meta.get("created_by"),
                "created": self._meta.get("created"), "trials": sum(n for _, n in groups),
                "by_versions": [{"versions": _loads(v, self.path), "trials": int(n)} for v, n in groups], "versions": versions()}

    def _record(self, key: str, config: Any, result: str, versions_text: str, created: float) -> dict[str, Any]:
        return {"key": key, "config": config, "result": _loads(result, self.path), "versions": _loads(versions_text, self.path),
                "created": float(created)}

    def close(self) -> None:
        """Close the connection (a second close does nothing)."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

