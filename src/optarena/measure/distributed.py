"""Where a sweep's units run: here, one after the other, or on a Dask cluster.

``scheduler``:

* ``None``: here (each unit is a batched race; the compiled race loop already uses every core);
* ``"local:N"``: a ``distributed.LocalCluster`` of N worker processes, everything bound to
  127.0.0.1 (its HTTP status routes on a free port), started for this sweep and closed after it;
* ``"tcp://host:port"`` (any scheduler address): an existing cluster; its workers need optarena
  installed (the same version: units are plain dicts, results plain arrays);
* a ``distributed.Client``: used as it is, left open.

Dask is imported only here, and only when asked for.
"""

from __future__ import annotations

import importlib
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

EXTRA = "pip install 'optarena[dask]'"
MAX_LOCAL_WORKERS = 64


def _distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ImportError(f"running a sweep on Dask needs dask.distributed: {EXTRA}") from None


@contextmanager
def client_for(scheduler: Any) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (see the module's docstring), closed after if made here."""
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be None, 'local:N', a scheduler address or a distributed.Client, got {scheduler!r}")
    m = re.fullmatch(r"local(?::(\d+))?", scheduler.strip())
    if m:
        n = int(m.group(1) or 2)
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise ValueError(f"scheduler 'local:N': N must be in [1, {MAX_LOCAL_WORKERS}], got {n}")
        # everything on 127.0.0.1 (the scheduler's HTTP routes too, on a free port, not ":8787",
        # which would mean every interface): nothing listens beyond this machine
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address="127.0.0.1:0", worker_dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    if not re.fullmatch(r"(tcp|tls|inproc|ws|wss)://[^\s]+", scheduler.strip()):
        raise ValueError(f"scheduler must be 'local:N' or an address like 'tcp://127.0.0.1:8786', got {scheduler!r}")
    with distributed.Client(scheduler.strip(), timeout=30) as client:
        yield client


def map_units(fn: Callable[[Any], Any], units: Sequence[Any], scheduler: Any = None,
              progress: Callable[[int, int], None] | None = None) -> list[Any]:
    """``[fn(u) for u in units]``, here or on Dask, in any order of completion; ``progress(done,
    total)`` after each unit."""
    total = len(units)
    if scheduler is None:
        out = []
        for u in units:
            out.append(fn(u))
            if progress:
                progress(len(out), total)
        return out
    distributed = _distributed()
    with client_for(scheduler) as client:
        futures = client.map(fn, list(units), pure=False)
        out = []
        for fut in distributed.as_completed(futures):
            out.append(fut.result())
            if progress:
                progress(len(out), total)
        return out
