"""The trial store: records read back exactly as put; a key is put once; two writer processes at
once give exactly the union of their trials; a writer killed with SIGKILL loses no trial it
reported committed; anything that is not a store of this format is refused, naming its path,
with its bytes unchanged; a store of another optarena version is read and kept."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import optarena
from optarena.bench import store as store_module
from optarena.bench.store import FORMAT, Store, StoreError, default_path, versions
from optarena.errors import UsageError, UsageTypeError

# The trials the writer processes put, defined once for them and for the checks here.
TRIAL_SOURCE = '''
def config(i):
    return {"workload": "quadratic", "optimizer": "adam", "hyperparameters": {"learning_rate": 10.0 ** -(1 + i % 5)},
            "seed": i % 3, "budget": 200, "target": 1e-3, "ruleset": "external", "study": i // 5, "trial": i}


def result(i, writer):
    return {"status": "ok", "writer": writer, "curve": [1.0 / (1 + k + i) for k in range(200)] + [float("nan")],
            "steps_to_target": float("inf") if i % 4 == 0 else float(i)}
'''
TRIALS: dict = {}
exec(TRIAL_SOURCE, TRIALS)
config, result = TRIALS["config"], TRIALS["result"]

# Opens the store when told "go" on stdin, puts the trials of argv[3] (a JSON list, or N for 0..N-1),
# printing each one's key once put has returned, then how many were new.
WRITER = TRIAL_SOURCE + '''
import json, sys
from optarena.bench.store import Store

path, name, trials = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
new = 0
with Store(path) as store:
    for i in (range(trials) if isinstance(trials, int) else trials):
        c = config(i)
        key = Store.key(c)
        new += store.put(key, c, result(i, name))
        print("committed", i, key, flush=True)
print("new", new, flush=True)
'''


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def integrity(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


def stored_keys(path):
    con = sqlite3.connect(path)
    try:
        return {k for (k,) in con.execute("SELECT key FROM trials")}
    finally:
        con.close()


def writer(tmp_path, path, name, trials):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), name, json.dumps(trials)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    return proc


def fill(path, trials):
    with Store(path) as store:
        for i in trials:
            store.put(Store.key(config(i)), config(i), result(i, "here"))


# --- records --------------------------------------------------------------------------------------

def test_a_record_reads_back_exactly_as_put_with_infinities_nans_and_nested_lists(tmp_path):
    cfg = {"workload": "w", "optimizer": "adam", "hyperparameters": {"learning_rate": np.float64(3e-4), "eps": 1e-8},
           "seed": np.int64(2), "target": None, "tags": ["inf", "~inf", "nan", "-inf ", "~~nan", "Infinity"]}
    res = {"status": "ok", "error": None, "steps_to_target": math.inf, "flag": True, "big": 2**70, "text": "naïve ∞",
           "curve": {"steps": np.arange(3), "metric": np.array([1.0, np.nan, -np.inf]), "rows": [[1.5, -math.inf], [], [[math.nan]]]}}
    # what each value reads back as, written out by hand: arrays and NumPy scalars as lists and Python numbers
    cfg_back = {"workload": "w", "optimizer": "adam", "hyperparameters": {"learning_rate": 3e-4, "eps": 1e-8},
                "seed": 2, "target": None, "tags": ["inf", "~inf", "nan", "-inf ", "~~nan", "Infinity"]}
    res_back = {"status": "ok", "error": None, "steps_to_target": math.inf, "flag": True, "big": 2**70, "text": "naïve ∞",
                "curve": {"steps": [0, 1, 2], "metric": [1.0, math.nan, -math.inf], "rows": [[1.5, -math.inf], [], [[math.nan]]]}}
    path = tmp_path / "s.sqlite"
    before = time.time()
    with Store(path) as store:
        key = Store.key(cfg)
        assert store.put(key, cfg, res) is True
    with Store(path) as store:  # another connection: what is in the file
        got = store.get(key)
    assert got is not None and got["key"] == key
    assert repr(got["config"]) == repr(cfg_back)  # repr: types too (2 not 2.0, "inf" not inf), NaN equal to NaN
    assert repr(got["result"]) == repr(res_back)
    assert got["versions"] == versions() and before <= got["created"] <= time.time()

    # the file holds strict JSON (no NaN or Infinity tokens), with the documented encoding
    con = sqlite3.connect(path)
    config_text, result_text = con.execute("SELECT config, result FROM trials").fetchone()
    con.close()
    strict = json.loads(result_text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    assert strict["curve"]["metric"] == [1.0, "nan", "-inf"] and strict["steps_to_target"] == "inf"
    assert json.loads(config_text)["tags"] == ["~inf", "~~inf", "~nan", "-inf ", "~~~nan", "Infinity"]


def test_the_key_is_sha256_of_the_canonical_config_and_versions():
    cfg = config(7)
    by_hand = json.dumps({"config": cfg, "versions": versions()}, sort_keys=True, separators=(",", ":"))
    assert Store.key(cfg) == hashlib.sha256(by_hand.encode()).hexdigest()
    assert Store.key(dict(reversed(list(cfg.items())))) == Store.key(cfg)  # order of the fields does not matter
    assert Store.key({**cfg, "seed": cfg["seed"] + 1}) != Store.key(cfg)
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = None
    assert versions() == {"optarena": optarena.__version__, "numpy": np.__version__, "torch": torch,
                          "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


def test_a_key_put_twice_keeps_its_first_row(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        key = Store.key(config(1))
        assert store.put(key, config(1), result(1, "first")) is True
        first = store.get(key)
        assert store.put(key, config(1), result(1, "second")) is False
        assert store.get(key) == first and first["result"]["writer"] == "first"
        assert store.count() == 1 and store.has(key) and not store.has(Store.key(config(2)))
        assert store.get(Store.key(config(2))) is None


def test_records_filter_on_config_fields_in_commit_order(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "_CHUNK", 2)  # several chunks of results
    path = tmp_path / "s.sqlite"
    order = [9, 3, 4, 0, 6, 1, 7]
    fill(path, order)
    with Store(path) as store:
        assert [r["config"]["trial"] for r in store.records()] == order
        assert [r["config"]["trial"] for r in store.records(seed=0)] == [9, 3, 0, 6]
        assert [r["config"]["trial"] for r in store.records(seed=1, study=1)] == [7]
        assert repr([r["result"] for r in store.records(seed=1, study=1)]) == repr([result(7, "here")])
        assert list(store.records(workload="elsewhere")) == [] and list(store.records(nonexistent=1)) == []
        info = store.info()
    assert info["format"] == FORMAT and info["trials"] == len(order) and info["created_by"] == optarena.__version__
    assert info["by_versions"] == [{"versions": versions(), "trials": len(order)}]


def test_a_bad_put_is_refused_naming_the_field(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        key = Store.key(config(1))
        with pytest.raises(UsageTypeError) as e:
            store.put(key, config(1), {"curve": [1.0, 2.0, object()]})
        assert e.value.field == "result.curve[2]"
        with pytest.raises(UsageTypeError) as e:
            Store.key({"hyperparameters": {1: 0.1}})
        assert e.value.field == "config.hyperparameters"
        with pytest.raises(UsageError) as e:
            store.put("0" * 64, config(1), result(1, "here"))
        assert e.value.field == "key"
        assert store.count() == 0


# --- processes --------------------------------------------------------------------------------------

def test_two_writer_processes_at_once_store_exactly_the_union(tmp_path):
    path = tmp_path / "shared.sqlite"  # created by whichever writer comes first
    shared = list(range(1000, 1050))
    mine = {name: list(range(start, start + 250)) for name, start in (("A", 0), ("B", 2000))}
    trials = {name: [i for j, own in enumerate(mine[name]) for i in ([own, shared[j // 5]] if j % 5 == 0 else [own])]
              for name in mine}
    assert all(len(t) == 300 for t in trials.values())
    procs = {name: writer(tmp_path, path, name, trials[name]) for name in trials}
    for proc in procs.values():
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = {name: proc.communicate(timeout=60) for name, proc in procs.items()}
    for name, (out, err) in outputs.items():
        assert procs[name].returncode == 0, err
        assert err == ""
    union = set(mine["A"]) | set(mine["B"]) | set(shared)
    assert stored_keys(path) == {Store.key(config(i)) for i in union}
    assert integrity(path) == [("ok",)]
    # every trial was new to exactly one of the writers
    assert sum(int(out.splitlines()[-1].split()[1]) for out, _ in outputs.values()) == len(union) == 550
    with Store(path) as store:
        rows = {r["config"]["trial"]: r for r in store.records()}
    for i, row in rows.items():
        assert row["result"]["writer"] in ("A", "B") and repr(row["result"]) == repr(result(i, row["result"]["writer"]))
    spans = {name: [rows[i]["created"] for i in mine[name]] for name in mine}
    assert min(spans["A"]) < max(spans["B"]) and min(spans["B"]) < max(spans["A"]), "the writers did not overlap"


def test_a_writer_killed_mid_loop_loses_no_trial_it_reported_committed(tmp_path):
    path = tmp_path / "s.sqlite"
    proc = writer(tmp_path, path, "killed", 10**6)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    reported = {}
    while len(reported) < 60:
        line = proc.stdout.readline()
        assert line.startswith("committed "), proc.stderr.read()
        _, i, key = line.split()
        reported[int(i)] = key
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for line in rest.splitlines():  # printed before the kill, still in the pipe
        if line.startswith("committed ") and len(line.split()) == 3:
            _, i, key = line.split()
            reported[int(i)] = key
    assert all(key == Store.key(config(i)) for i, key in reported.items())  # the same key in both processes
    assert integrity(path) == [("ok",)]
    with Store(path) as store:
        assert all(store.has(key) and store.get(key)["config"] == config(i) for i, key in reported.items())
        # at most one trial more: committed, killed before it said so
        assert len(reported) <= store.count() <= len(reported) + 1
        assert store.put(Store.key(config(10**7)), config(10**7), result(10**7, "after")) is True  # and it takes more
    assert integrity(path) == [("ok",)]


def test_a_put_waits_for_another_writer_and_gives_up_after_the_timeout(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock, as another process mid-commit
    with Store(path, timeout=0.2) as impatient:
        with pytest.raises(StoreError) as e:
            impatient.put(Store.key(config(1)), config(1), result(1, "here"))
        assert str(path) in str(e.value) and "locked" in str(e.value) and e.value.field == "store"
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    with Store(path) as store:
        start = time.perf_counter()
        release.start()
        assert store.put(Store.key(config(2)), config(2), result(2, "here")) is True
        assert time.perf_counter() - start >= 0.4
        release.join()
        assert store.count() == 1
    other.close()


# --- files that are not stores ------------------------------------------------------------------------

def sqlite_file(path, *statements):
    con = sqlite3.connect(path)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def truncated(keep):
    def make(path):
        fill(path, range(40))
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(keep(size))
    return make


def store_with(*statements):
    def make(path):
        fill(path, range(3))
        sqlite_file(path, *statements)
    return make


FOREIGN = {
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(8192)), "not an SQLite database"),
    "a text file": (lambda p: p.write_text("workload,seconds\ndigits,1.5\n"), "not an SQLite database"),
    "an empty file": (lambda p: p.write_bytes(b""), "empty"),
    "another application's database": (lambda p: sqlite_file(p, "CREATE TABLE notes (text)", "INSERT INTO notes VALUES ('x')"),
                                       "another application"),
    "a database with the store's id but no meta": (
        lambda p: sqlite_file(p, f"PRAGMA application_id = {store_module.APPLICATION_ID}", "PRAGMA user_version = 1",
                              "CREATE TABLE trials (key)"), "without optarena's meta table"),
    "a store without its trials table": (store_with("DROP TABLE trials"), "not a complete optarena bench store"),
    "a store truncated to half": (truncated(lambda size: size // 2), "truncated"),
    "a store truncated mid-page": (truncated(lambda size: size - 1000), "truncated"),
    "a store truncated into its header": (truncated(lambda size: 60), "truncated"),
    "a store whose meta says format 2": (store_with("UPDATE meta SET value = 'optarena.bench-store/2' WHERE name = 'format'"),
                                         "'optarena.bench-store/2'"),
    "a store whose header says format 2": (store_with("PRAGMA user_version = 2"), "optarena.bench-store/2"),
}


@pytest.mark.parametrize("case", FOREIGN)
def test_a_file_that_is_not_a_store_is_refused_naming_it_and_left_untouched(tmp_path, case):
    make, says = FOREIGN[case]
    path = tmp_path / "bench.sqlite"
    make(path)
    before, listing = sha(path), set(os.listdir(tmp_path))
    with pytest.raises(StoreError) as e:
        Store(path)
    message = str(e.value)
    assert str(path) in message and says in message and "left untouched" in message and "\n" not in message, message
    assert e.value.field == "store" and isinstance(e.value, UsageError)
    assert sha(path) == before
    # nothing beside it but SQLite's own companions (a read-only look at a WAL store may make them)
    assert set(os.listdir(tmp_path)) - listing <= {"bench.sqlite-wal", "bench.sqlite-shm"}


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


def test_a_store_damaged_inside_is_reported_naming_it_and_left_as_it_is(tmp_path):
    path = tmp_path / "s.sqlite"
    fill(path, range(200))
    size = path.stat().st_size
    with open(path, "r+b") as f:  # garbage over the later pages: the trials' rows, not the schema
        f.seek(size // 2 // 4096 * 4096)
        f.write(np.random.default_rng(1).bytes(size - f.tell()))
    before = sha(path)
    with Store(path) as store, pytest.raises(StoreError) as e:
        list(store.records())
    assert str(path) in str(e.value) and "corrupted" in str(e.value)
    assert sha(path) == before


def test_a_store_of_another_optarena_version_is_read_and_kept(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    old = {**versions(), "optarena": "0.0.9"}
    with monkeypatch.context() as m:
        m.setattr(store_module, "versions", lambda: dict(old))
        fill(path, range(3))
    old_keys = [hashlib.sha256(json.dumps({"config": config(i), "versions": old}, sort_keys=True,
                                          separators=(",", ":")).encode()).hexdigest() for i in range(3)]
    with Store(path) as store:
        assert store.info()["created_by"] == "0.0.9"
        old_rows = [store.get(k) for k in old_keys]
        assert repr([r["result"] for r in old_rows]) == repr([result(i, "here") for i in range(3)])
        assert all(r["versions"] == old for r in old_rows)
        new_key = Store.key(config(0))
        assert new_key not in old_keys and not store.has(new_key)
        assert store.put(new_key, config(0), result(0, "now")) is True
    with Store(path) as store:
        assert [store.get(k) for k in old_keys] == old_rows  # the old rows stay as they were
        assert store.get(new_key)["versions"] == versions()
        info = store.info()
    assert info["created_by"] == "0.0.9" and info["trials"] == 4
    assert info["by_versions"] == [{"versions": old, "trials": 3}, {"versions": versions(), "trials": 1}]


# --- paths ----------------------------------------------------------------------------------------

def test_create_false_refuses_a_missing_store_and_creating_makes_the_folders(tmp_path):
    path = tmp_path / "a" / "b" / "bench.sqlite"
    with pytest.raises(StoreError) as e:
        Store(path, create=False)
    assert str(path) in str(e.value) and e.value.field == "store"
    assert not (tmp_path / "a").exists()
    Store(path).close()
    assert os.listdir(path.parent) == ["bench.sqlite"]  # no temporary file or companion left
    with Store(path, create=False) as store:
        assert store.count() == 0 and store.info()["format"] == FORMAT


def test_the_default_path_is_in_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTARENA_DATA_DIR", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "bench.sqlite"
    monkeypatch.delenv("OPTARENA_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "optarena" / "bench.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "share" / "optarena" / "bench.sqlite"
