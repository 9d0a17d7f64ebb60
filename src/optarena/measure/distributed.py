"""Where a sweep's units run: here, one after the other, or on a Dask cluster.

``scheduler``:

* ``None``: here (each unit is a batched race; the compiled race loop already uses every core);
* ``"local:N"``: a ``distributed.LocalCluster`` of N worker processes (at most one per core this
  process may use: more only add start-up time and memory, so N is capped with a warning),
  everything bound to 127.0.0.1 (its HTTP status routes on a free port), started for this sweep
  and closed quietly after it;
* ``"tcp://host:port"`` (any scheduler address): an existing cluster; its workers need optarena
  installed (the same version: units are plain dicts, results plain arrays);
* a ``distributed.Client``: used as it is, left open.

Dask is imported only here, and only when asked for.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from ..errors import MissingExtraError, UsageError, UsageTypeError

EXTRA = "pip install 'optarena[dask]'"
MAX_LOCAL_WORKERS = 64


def _distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise MissingExtraError(f"running a sweep on Dask needs dask.distributed: {EXTRA}", field="scheduler") from None


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_workers(n: int, available: int | None = None) -> int:
    """``n`` capped to ``available`` cores (default: ``cores()``), saying so on stderr when capped."""
    available = cores() if available is None else available
    if n <= available:
        return n
    print(f"optarena: local:{n} asks for {n} worker processes but this machine gives {available} core(s); "
          f"starting {available}", file=sys.stderr)
    return available


class _DropClusterLogs(logging.Filter):
    NAMES = ("distributed", "tornado", "asyncio", "bokeh")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(self.NAMES)


@contextmanager
def _quiet() -> Iterator[None]:
    """No log lines from Dask while a local cluster shuts down: workers killed after a timeout and
    closed connections are expected then, and its tracebacks say nothing about the sweep."""
    names = ("", *_DropClusterLogs.NAMES)  # "": the root logger, which Dask's records reach too
    handlers = {h for name in names for h in logging.getLogger(name).handlers}
    if logging.lastResort is not None:
        handlers.add(logging.lastResort)
    drop = _DropClusterLogs()
    for h in handlers:
        h.addFilter(drop)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(drop)


def _mute() -> None:
    """Run in each worker process just before its cluster closes: its heartbeats to a scheduler
    already gone fail then, and that is expected, not news."""
    logging.disable(logging.CRITICAL)


@contextmanager
def _local_client(distributed: Any, n: int) -> Iterator[Any]:
    """A LocalCluster of ``n`` workers and its client; closed client first, then cluster, quietly."""
    # everything on 127.0.0.1 (the scheduler's HTTP routes too, on a free port, not ":8787",
    # which would mean every interface): nothing listens beyond this machine
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", worker_dashboard_address=None,
                                       silence_logs=logging.ERROR)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            with _quiet():
                try:
                    client.run(_mute)
                except Exception:  # best effort: a worker already gone has nothing left to say
                    pass
                client.close()
    finally:
        with _quiet():
            cluster.close()


@contextmanager
def client_for(scheduler: Any) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (see the module's docstring), closed after if made here."""
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise UsageTypeError(f"scheduler must be None, 'local:N', a scheduler address or a distributed.Client, got {scheduler!r}",
                             field="scheduler")
    m = re.fullmatch(r"local(?::(\d+))?", scheduler.strip())
    if m:
        n = int(m.group(1) or 2)
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise UsageError(f"scheduler 'local:N': N must be in [1, {MAX_LOCAL_WORKERS}], got {n}", field="scheduler")
        with _local_client(distributed, local_workers(n)) as client:
            yield client
        return
    if not re.fullmatch(r"(tcp|tls|inproc|ws|wss)://[^\s]+", scheduler.strip()):
        raise UsageError(f"scheduler must be 'local:N' or an address like 'tcp://127.0.0.1:8786', got {scheduler!r}",
                         field="scheduler")
    with distributed.Client(scheduler.strip(), timeout=30) as client:
        yield client


def iter_units(fn: Callable[[Any], Any], units: Sequence[Any], scheduler: Any = None,
               should_stop: Callable[[], bool] | None = None) -> Iterator[Any]:
    """``fn(u)`` for every unit, here (in order) or on Dask (in order of completion), yielded as
    each finishes, so a caller can save it at once. ``should_stop()`` is asked before each unit
    here and after each one from Dask; when it returns True, ``Cancelled`` is raised (Dask's
    remaining units are cancelled then, and when a unit fails)."""
    from ..arena.engine import Cancelled

    def stop_if_asked(done: int) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled(f"stopped after {done} of {len(units)} units")

    if scheduler is None:
        for done, u in enumerate(units):
            stop_if_asked(done)
            yield fn(u)
        return
    if not units:
        return
    distributed = _distributed()
    with client_for(scheduler) as client:
        futures = client.map(fn, list(units), pure=False)
        try:
            for done, fut in enumerate(distributed.as_completed(futures), 1):
                yield fut.result()
                if done < len(units):
                    stop_if_asked(done)
        except BaseException:
            client.cancel(futures)  # stopped, or a unit failed: nothing left running for us
            raise
