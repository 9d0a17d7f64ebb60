"""Files optarena writes and reads: outputs written whole or not at all, inputs read to a bound.

An output goes to a temporary file in the destination's directory (so the rename cannot cross
file systems), is flushed to disk, then renamed over the destination: a kill, a full disk or an
exception at any point leaves the old file as it was (and at worst a hidden ``.NAME.*.tmp.EXT``
beside it after a kill, which nothing else can remove). Devices and pipes (``/dev/stdout``) are
written directly: there is nothing to replace. A write that fails (a full disk, a folder that went
away) raises ``optarena.errors.FileProblem`` (an ``OSError``) naming the file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .errors import FileProblem, OptarenaError, UsageError

#: The most a ``--config`` file may hold; anything larger is refused unread.
MAX_INPUT_BYTES = 64 * 2**20

__all__ = ["MAX_INPUT_BYTES", "atomic_path", "atomic_write", "destination_problem", "read_bounded"]


def _target(path: str | os.PathLike[str]) -> Path:
    """Where the bytes end up: a symlink is followed, so the link stays and its file is replaced."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def _is_special(p: Path) -> bool:
    try:
        return not stat.S_ISREG(p.stat().st_mode)
    except OSError:
        return False


def _new_file_mode(existing: Path) -> int:
    """An existing file's permissions are kept; a new file gets what ``open`` would give it."""
    try:
        return stat.S_IMODE(existing.stat().st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path (same directory, same suffix) to write; renamed over ``path`` on success.

    For writers that want a file name (matplotlib, Pillow, ffmpeg). On any exception, including
    KeyboardInterrupt, the temporary file is removed and ``path`` is left untouched.
    """
    target = _target(path)
    if _is_special(target):
        yield target
        return
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, _new_file_mode(target))
        yield tmp
        with open(tmp, "rb+") as f:  # the writer has closed it; make its bytes durable before the rename
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OptarenaError):
            raise
        raise _cannot_write(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)


def _cannot_write(path: str | os.PathLike[str], exc: OSError) -> FileProblem:
    return FileProblem(f"{os.fspath(path)}: cannot write it ({exc.strerror or exc})")


def atomic_write(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` whole or not at all (see the module's docstring); returns ``path``."""
    raw = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(raw)
    return Path(path)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every system lets a directory be opened, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def destination_problem(path: str | os.PathLike[str], suffixes: Sequence[str] | None = None) -> str | None:
    """Why ``path`` cannot be written (``None`` if it can): checked before any work is done.

    ``suffixes``: the extensions the writer knows (lower case, with the dot), or None for any.
    """
    text = os.fspath(path)
    if not text:
        return "an empty file name"
    p = Path(text)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        return f"the extension must be one of {', '.join(suffixes)}"
    if p.is_dir():
        return "is a directory"
    target = _target(p)
    parent = target.parent
    if not parent.exists():
        return f"directory {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if target.exists():
        if not os.access(target, os.W_OK):
            return "the file is not writable"
        if _is_special(target):
            return None  # a device or pipe: written directly
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    return None


def read_bounded(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of ``path``, refusing (``optarena.errors.UsageError``, a ``ValueError``) a file
    holding more than ``limit`` bytes (default ``MAX_INPUT_BYTES``); only that much is ever read,
    so ``/dev/zero`` is refused too. A file that cannot be opened raises ``FileProblem``."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise FileProblem(str(exc)) from exc  # the same words: "[Errno 2] No such file or directory: 'x'"
    if len(data) > limit:
        amount = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit:,} bytes"
        raise UsageError(f"larger than {amount}, the most an input file may hold")
    return data
