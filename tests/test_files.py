"""Output files are written whole or not at all; destinations are checked before any work; inputs
are read to a bound."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from optarena import _files
from optarena._files import atomic_path, atomic_write, destination_problem, read_bounded

OLD = '{"old": "a valid file"}\n'


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "out.json"
    assert atomic_write(path, "first") == path and path.read_text() == "first"
    os.chmod(path, 0o640)
    atomic_write(path, b"second")
    assert path.read_bytes() == b"second" and stat.S_IMODE(path.stat().st_mode) == 0o640
    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644  # as open() would make it
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("the writer failed"), KeyboardInterrupt()])
def test_a_writer_failing_halfway_leaves_the_old_file(tmp_path, error):
    path = tmp_path / "race.png"
    path.write_text(OLD)
    with pytest.raises(type(error)):
        with atomic_path(path) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp != path  # a name for matplotlib
            tmp.write_text("half a pic")
            raise error
    assert path.read_text() == OLD and _leftovers(tmp_path) == []


def test_a_full_disk_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "race.json"
    path.write_text(OLD)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_files.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, "x" * 100_000)
    assert path.read_text() == OLD and _leftovers(tmp_path) == []


def test_a_symlink_stays_a_link_and_its_file_is_replaced(tmp_path):
    real = tmp_path / "real.json"
    real.write_text(OLD)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_pipe_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write(fifo, "through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_export_failing_halfway_leaves_the_old_picture(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from optarena.arena import race

    path = tmp_path / "race.png"
    path.write_text(OLD)
    res = race(steps=5)

    def broken(self, fname, **kw):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise RuntimeError("renderer died")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer died"):
        res.export(path, dpi=20)
    assert path.read_text() == OLD and _leftovers(tmp_path) == []


def test_cli_output_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    from optarena.cli import main

    path = tmp_path / "race.json"
    path.write_text(OLD)
    monkeypatch.setattr(_files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    assert main(["race", "--steps", "5", "--format", "json", "--output", str(path)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert path.read_text() == OLD and _leftovers(tmp_path) == []


# The child stops inside the sync of the finished temporary file (before the rename) and says so;
# on code that writes in place, the destination changes instead. Either way it is then SIGKILLed.
KILLED_WRITER = """
import os, sys, time
from pathlib import Path
flag = Path(sys.argv[1])
def stall(fd):
    flag.write_text("writing")
    time.sleep(300)
os.fsync = stall
from optarena.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_race_killed_while_writing_leaves_the_old_json(tmp_path):
    path, flag = tmp_path / "good.json", tmp_path / "flag"
    path.write_text(OLD)
    before = path.stat()
    starts = [a for s in ("0,1", "1,0", "1,1", "2,2") for a in ("--start", s)]
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as err_file, subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(flag), "race", "--steps", "5000", *starts, "--format", "json",
             "--output", str(path)], stdout=subprocess.DEVNULL, stderr=err_file) as proc:
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None and not flag.exists():
                now = path.stat()
                if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                    break
                time.sleep(0.001)
            assert proc.poll() is None, err.read_text()
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(30)
    err.unlink()
    assert path.read_text() == OLD and json.loads(path.read_text())
    left = _leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(".good.json.") and left[0].endswith(".tmp.json")
    assert len(json.loads((tmp_path / left[0]).read_text())["runs"]) == 12  # it was whole, just not renamed yet


@pytest.mark.parametrize("name,suffixes,problem", [
    ("missing/x.json", None, "directory {tmp}/missing does not exist"),
    ("adir", None, "is a directory"),
    ("afile/x.json", None, "{tmp}/afile is not a directory"),
    ("x.bmp", (".png", ".svg"), "the extension must be one of .png, .svg"),
    ("X.PNG", (".png",), None),
    ("fine.json", None, None),
])
def test_destination_problems_are_named(tmp_path, name, suffixes, problem):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    expected = problem and problem.format(tmp=tmp_path)
    assert destination_problem(tmp_path / name, suffixes) == expected


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_destination_not_writable(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "old.json").write_text(OLD)
    os.chmod(ro / "old.json", 0o444)
    os.chmod(ro, 0o555)
    try:
        assert destination_problem(ro / "new.json") == f"directory {ro} is not writable"
        assert destination_problem(ro / "old.json") == "the file is not writable"
    finally:
        os.chmod(ro, 0o755)


def test_read_bounded_reads_no_more_than_the_limit(tmp_path):
    path = tmp_path / "in.json"
    path.write_bytes(b"x" * 1001)
    assert read_bounded(path, 1001) == b"x" * 1001
    with pytest.raises(ValueError, match="larger than 1,000 bytes"):
        read_bounded(path, 1000)
    with pytest.raises(ValueError, match="larger than 64 MiB"):
        read_bounded("/dev/zero")
