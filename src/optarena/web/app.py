"""The web arena's server: a thin FastAPI layer over the registries and the race engine.

Every request is validated twice: pydantic checks shapes and documented limits, the core checks
values (hyperparameter ranges, names, formulas). Both answer 422 with the field named; nothing a
client sends can make the server answer 500.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from .. import __version__, landscapes
from ..arena import RacePlan, presentation, race
from ..errors import OptarenaError, with_field
from ..optim import registry, schedules
from . import guard, limits, origin
from .schemas import MAX_GRID, AnatomyIn, CodeIn, FormulaIn, GridIn, LandscapeIn, RaceIn, SweepIn, TrainIn

STATIC = Path(__file__).parent / "static"
#: Seconds a race or map may take before the request is answered 503 and its work is stopped
#: (the work itself is bounded by the schema's limits; this guards against a slow machine).
#: Counted from when the work starts, not from when the request arrived.
TIME_BUDGET = 10.0
#: The deadline races and maps are paced against (``engine.over_budget``): what would end past it
#: at the pace of its first part (compiles included) is refused with 422 naming steps. Below the
#: budget by a margin, because a pace measured in the first 0.3 s drifts on a shared machine.
PACE_BUDGET = 0.8 * TIME_BUDGET
#: Races and maps a worker process computes at once (one per core; $OPTARENA_HEAVY_SLOTS overrides).
#: More at once would only share the cores and make each late: under a room's load the rest wait
#: their turn and are answered 200 a little later, instead of all running slowly into the budget.
HEAVY_SLOTS = int(os.environ.get("OPTARENA_HEAVY_SLOTS", "0") or 0) or max(1, os.cpu_count() or 1)
#: Seconds a race or map may wait for a slot before it is answered 429 (busy, Retry-After) unstarted:
#: a server at capacity shedding load, not failing (5xx is kept for work that broke its budget).
QUEUE_BUDGET = 20.0
#: Niceness (Linux, per thread; the races' is 0) of a served worker's threads that compute maps and
#: step anatomies (MAP_NICE) and training races (TRAIN_NICE): a room's cores go to the page's races
#: (milliseconds each, asked on every slider move) first, and the seconds-long work takes the rest.
#: Measured with bench_serve's 100 students: see README, "Teaching with optarena".
MAP_NICE = 5
TRAIN_NICE = 10


class Problem(BaseModel):
    detail: str


_Responses = dict[int | str, dict[str, Any]]  # FastAPI's ``responses=``
_BAD_BODY: _Responses = {400: {"model": Problem, "description": "the body is not valid JSON"},
                         413: {"model": Problem, "description": f"the body is above {guard.MAX_BODY:,} bytes"}}
_OVER_TIME: _Responses = {
    429: {"model": Problem, "description": f"the server is busy: no slot freed within {QUEUE_BUDGET:g} s (Retry-After)"},
    503: {"model": Problem, "description": f"over the {TIME_BUDGET:g} s time budget: the work is stopped"}}


def _plotly_js() -> Path:
    try:
        import plotly
    except ImportError:
        raise RuntimeError("the web arena needs plotly: pip install 'optarena[web]'") from None
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _unprocessable(msg: str, loc: list[Any], **extra: Any) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["body", *loc], "msg": msg, "type": "value_error", **extra}])


def _field_loc(field: str | None) -> list[Any]:
    """``"racers[1].hyperparameters.learning_rate"`` as a 422's loc: racers, 1, hyperparameters, learning_rate."""
    loc: list[Any] = []
    for part in (field or "").split("."):
        name, *indices = part.replace("]", "").split("[")
        if name:
            loc.append(name)
        loc += [int(i) if i.isdigit() else i for i in indices]
    return loc


def _refused(exc: Exception, loc: list[Any] | tuple[Any, ...] = (), default: list[Any] | None = None) -> HTTPException:
    """A 422 for an error of the request: an ``OptarenaError`` names its field (``exc.field``,
    under ``loc``, where the face put the input it was given); a formula error also says where and
    what was expected. Any other ValueError or TypeError (from a layer that does not raise
    optarena's own errors yet) is blamed on ``default``, else on ``loc``."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    extra = {"position": exc.position, "expected": exc.expected} if isinstance(exc, landscapes.FormulaError) else {}
    if isinstance(exc, OptarenaError) and exc.field:
        return _unprocessable(msg, [*loc, *_field_loc(exc.field)], **extra)
    return _unprocessable(msg, list(loc) if default is None else default, **extra)


#: Where a map's sweep (``measure.sweep``) names a field, and where the map's request has it.
_MAP_FIELDS = {"optimizers": "racer", "starts": "start", "seeds": "seed"}


def _refused_map(exc: Exception, basins: bool) -> HTTPException:
    """A 422 for a map: the sweep's ``axes[0]`` / ``axes[1]`` are the request's x / y (or its
    basins), ``optimizers[0]`` its racer."""
    if not (isinstance(exc, OptarenaError) and exc.field):
        return _refused(exc, default=["racer"])
    loc = _field_loc(exc.field)
    if loc[0] == "axes":
        loc = ["basins"] if basins else ["x" if len(loc) < 2 or loc[1] == 0 else "y"]
    elif loc[0] in _MAP_FIELDS:
        loc = [_MAP_FIELDS[loc[0]], *(loc[2:] if loc[0] == "optimizers" else loc[1:])]
    return _unprocessable(str(exc).splitlines()[0], loc)


def _resolved(spec: LandscapeIn, loc: tuple[str, ...] = ("landscape",)) -> landscapes.AnyLandscape:
    """The landscape ``spec`` names, of any dimension (422 naming the field in the reference)."""
    try:
        return landscapes.resolve(spec.ref())
    except (OptarenaError, ValueError, TypeError) as exc:  # the field in the reference: name, params.kappa, formula
        raise _refused(exc, loc) from None


def _landscape(spec: LandscapeIn, loc: tuple[str, ...] = ("landscape",)) -> landscapes.Landscape:
    """The landscape ``spec`` names, on the plane: maps, grids and the anatomy of a step refuse the
    others (422 with the reason); only a race goes beyond 2-D."""
    ls = _resolved(spec, loc)
    try:
        return landscapes.planar(ls, "this part of the web arena (maps, grids, the anatomy of a step)", "name")
    except OptarenaError as exc:
        raise _refused(exc, loc) from None


def _grid_fields(ls: landscapes.Landscape, xs: np.ndarray, ys: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    """A contour grid as the page draws it: x, y, z (null where not finite) and the colour values
    (log10 of f above the claimed minimum or bound when ``ls.log_colour``, else f)."""
    with np.errstate(all="ignore"):
        # log colour shows f - min; without a known minimum, f - (lowest value on the grid)
        floor = ls.min_value if math.isfinite(ls.min_value) else float(np.nanmin(z)) if np.isfinite(z).any() else 0.0
        shown = np.log10(z - floor + 1e-12 * max(1.0, float(np.nanmax(np.abs(z))))) if ls.log_colour else z
    return {"x": xs.tolist(), "y": ys.tolist(), "z": _finite(z), "colour": _finite(shown), "log": ls.log_colour}


def _check_beyond_the_plane(body: RaceIn, ls: landscapes.AnyLandscape) -> None:
    """Refuse (422) what a race beyond 2-D cannot be on the web: d above ``limits.MAX_DIM``,
    racers x starts x (steps + 1) x d above ``limits.MAX_ND_WORK``, or a PCA plane whose SVD would
    pass ``limits.MAX_PCA_WORK`` (each blamed on ``landscape.params.d`` when the landscape has that
    parameter, else on ``landscape``), view coordinates outside the landscape; and a ``view`` for a
    landscape of the plane, which is drawn as it is."""
    if isinstance(ls, landscapes.Landscape):
        if body.view is not None or body.view_coordinates is not None:
            field = "view" if body.view is not None else "view_coordinates"
            raise _unprocessable(f"{field} is for landscapes beyond the plane: {ls.title!r} is drawn in its own x and y",
                                 [field])
        return
    d = ls.dim
    named = body.landscape.name is not None and "d" in landscapes.params_schema(body.landscape.name)
    where = ["landscape", "params", "d"] if named else ["landscape"]
    if d > limits.MAX_DIM:
        raise _unprocessable(f"{ls.title!r} has d = {d:,} coordinates, above the web arena's {limits.MAX_DIM:,} "
                             "(optarena race in the CLI goes further)", where)
    points = len(body.racers) * len(body.starts or [0]) * (body.steps + 1)
    if points * d > limits.MAX_ND_WORK:
        raise _unprocessable(f"racers x starts x (steps + 1) x d = {points * d:,} is above the web arena's "
                             f"{limits.MAX_ND_WORK:,}: fewer steps or racers, or a smaller d", where)
    pca = points * d * min(points, d)
    if (body.view or "pca") == "pca" and pca > limits.MAX_PCA_WORK:
        raise _unprocessable(f"the PCA plane of {points:,} recorded points in d = {d:,} costs points x d x min(points, d) "
                             f"= {pca:,}, above the web arena's {limits.MAX_PCA_WORK:,}: fewer steps or racers, a "
                             "smaller d, or view random or coordinates", where)
    if body.view_coordinates is not None:
        i, j = body.view_coordinates
        if body.view != "coordinates":
            raise _unprocessable(f"view_coordinates go with view 'coordinates', got view {body.view!r}",
                                 ["view_coordinates"])
        if not (0 <= i < d and 0 <= j < d) or i == j:
            raise _unprocessable(f"view_coordinates must be two different coordinates in [0, {d - 1}], got [{i}, {j}]",
                                 ["view_coordinates"])


def _finite(a: np.ndarray) -> list:
    return [[None if not math.isfinite(v) else v for v in row] for row in a.tolist()]


#: Warm-ups waiting at most; more are dropped (the pair's next race asks again).
WARM_QUEUE = 4


class _Warmer:
    """Compiles the race loops a client just used, off the request path, so the next drag of a
    slider runs the compiled loop instead of the NumPy engine. One at a time, at most WARM_QUEUE
    waiting; none is queued or started while ``busy()`` (every heavy slot taken): a busy server
    spends its cores on answers, and an idle one warms what is asked again."""

    def __init__(self, busy: Callable[[], bool] = lambda: False) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="optarena-warm")
        self.seen: set[Any] = set()
        self.lock = threading.Lock()
        self.busy = busy
        self.waiting = 0
        self.dropped = 0

    def submit(self, body: RaceIn) -> bool:
        """Queue a warm-up of ``body``'s race loops; False when it was not (seen, busy, queue full)."""
        if body.landscape.formula is not None:
            return False  # a typed formula is a new loop per text: not worth a core ahead of time
        ls = landscapes.resolve(body.landscape.ref())
        if isinstance(ls, landscapes.NDLandscape):
            return False  # beyond the plane races on the NumPy engine: nothing to compile
        if ls.params and ls.parametric is None:
            return False  # parameters compiled in: one loop per value a slider sends
        # a family's parameters are data (one loop for every kappa): its values are not part of the key
        where = body.landscape.name if ls.parametric is not None else body.landscape.model_dump_json()
        key = (where, tuple(r.model_dump_json() for r in body.racers))
        with self.lock:
            if key in self.seen:
                return False
            if self.busy() or self.waiting >= WARM_QUEUE:
                self.dropped += 1
                return False
            if len(self.seen) >= 4096:  # a long-lived server forgets, rather than remember every request
                self.seen.clear()
            self.seen.add(key)
            self.waiting += 1
        self.pool.submit(self._run, key, body)
        return True

    def _run(self, key: Any, body: RaceIn) -> None:
        try:
            if self.busy():  # got busy while it waited: drop it, and let a later race ask again
                with self.lock:
                    self.dropped += 1
                    self.seen.discard(key)
                return
            self._warm(body)
        finally:
            with self.lock:
                self.waiting -= 1

    @staticmethod
    def _warm(body: RaceIn) -> None:
        try:
            race(_race_plan(body, steps=2), engine="fused")
        except Exception:  # a landscape or optimizer without a compiled path stays on NumPy
            pass


def _race_plan(body: RaceIn, steps: int | None = None, ls: landscapes.AnyLandscape | None = None) -> RacePlan:
    """The request's race, validated once (``OptarenaError`` naming the field when it cannot run);
    ``ls``: its landscape, built already (a network's, which the registry does not hold)."""
    return RacePlan.build(
        landscape=body.landscape.ref() if ls is None else ls,
        racers=[{"optimizer": r.optimizer, "hyperparameters": r.hyperparameters, "schedule": r.schedule,
                 "label": r.label} for r in body.racers],
        starts=body.starts, steps=steps or body.steps, seed=body.seed, noise=body.noise, clip=body.clip,
        tolerance=body.tolerance,
    )


def _race_payload(result: Any) -> bytes:
    """The race as the page needs it: ``RaceResult.to_dict`` (the exchange format) plus each
    racer's colour, label and legend text (``arena.presentation``, as every face shows them: the
    page computes none of its own), the status line of every step and the distance to the nearest
    minimum (null when the landscape lists none; ``minimum`` says what it claims and why).
    ``guard.dumps`` writes the arrays (NaN as null); FastAPI's generic encoder would walk every
    number and take 10x longer."""
    dist = None
    if len(result.minima):
        with np.errstate(invalid="ignore"):
            dist = np.linalg.norm(result.positions[:, 0, :, None, :] - result.minima, axis=-1).min(axis=-1)
    payload = {**result.to_dict(arrays=True), **presentation.looks_json(presentation.race_looks(result)),
               "status": result.status_lines(0), "distance": dist}
    return guard.dumps(payload)


def _projected_payload(result: Any, ls: landscapes.NDLandscape, kind: str, coordinates: tuple[int, int]) -> bytes:
    """A race beyond 2-D as the page draws it: ``_race_payload``'s fields, with every position on
    the plane ``kind`` (``arena.projection.project``, what ``RaceResult.projected`` returns; random
    directions from seed 0), the minima that lie on it, and ``view``: the plane (origin and axes in
    d coordinates, title with the share of the paths' variance for "pca", axis labels, window) with
    its contour grid (``_grid_fields``, n a side from ``projection.grid_size``), so the page needs
    no /api/grid call. Losses, status lines and the distance to the nearest minimum (in d
    coordinates) are the race's own. A matrix landscape adds ``singular_values`` (racer x step x
    k, start 0, k the target's nonzero count: of W, or of W2 W1) and ``target_singular_values``."""
    from ..arena import projection

    flat, view, plane = projection.project(result, ls, kind, 0, coordinates)
    assert isinstance(view, projection.PlaneView)  # what ``Plane.view`` makes
    xs, ys, z = view.grid(projection.grid_size(ls.dim, limits.VIEW_GRID))
    dist = ls.nearest_minimum_distance(result.positions[:, 0]) if len(ls.minima) else None
    payload = {**flat.to_dict(arrays=True), "minimum": result.minimum_json(),
               **presentation.looks_json(presentation.race_looks(result)), "status": result.status_lines(0),
               "distance": dist}
    payload["view"] = {
        "kind": kind, "dim": ls.dim, "title": view.title, "axis_labels": list(view.axis_labels),
        "explained": plane.explained if kind == "pca" else None,
        "coordinates": list(coordinates) if kind == "coordinates" else None,
        "window": [list(w) for w in view.window], "origin": plane.origin, "axes": plane.axes,
        "landscape": view.to_json(), **_grid_fields(view, xs, ys, z), "n": len(xs),
    }
    if ls.blocks and (len(ls.blocks) == 1 or ls.product):
        target = np.asarray(ls.target_singular_values, dtype=np.float64)
        k = max(1, int(np.count_nonzero(target > 0)))
        payload["singular_values"] = projection.singular_values(result, ls)[:, 0, :, :k]
        payload["target_singular_values"] = target[:k]
    return guard.dumps(payload)


#: Seeds of a network the web arena trains (each is a training run and 0.8 MB in the cache;
#: ``optarena race --network`` trains any).
NETWORK_SEEDS = 4
#: A race on a network's surface: racers x starts x steps at most. Each run-step is a forward and
#: backward pass over the training split (measured 4.6 ms on two cores, idle; 25 ms with them shared
#: by eight other jobs): 1,000 is 4.6 s, half the TIME_BUDGET, on an idle machine. The page's
#: default race (3 racers, 100 steps) is 300.
NETWORK_WORK = 1_000
#: The page's name for each network's landscape (``nn.surface.FACTORIES``' keys).
NETWORK_TITLES = {"digits_mlp": "digits MLP loss surface"}


def _network_missing() -> str | None:
    """Why the networks' surfaces cannot be served here (torch or scikit-learn missing), else None.
    Asked of the import system: importing torch takes seconds and memory a page may never use."""
    import importlib.util

    lacking = [pkg for mod, pkg in (("torch", "PyTorch"), ("sklearn", "scikit-learn"))
               if importlib.util.find_spec(mod) is None]
    return (f"a network's loss surface needs {' and '.join(lacking)}: pip install 'optarena[nn]'" if lacking
            else None)


class _Networks:
    """The real networks' loss surfaces (``nn.surface``) as the page races them: listed without
    being built, and kept out of the landscape registry, whose listings (this app's, the gallery's,
    ``optarena landscapes``) build every entry they list, and building one trains a network.
    Each (network, directions, seed) is built once per process on a thread of its own (the first
    time it trains: seconds), off the event loop, every request for it sharing that one build; its
    contour grid (``surface.GRID_POINTS`` a side at most: a forward pass a point) likewise."""

    def __init__(self, initializer: Callable[[], None] | None = None) -> None:
        from ..nn import surface

        self.surface = surface
        self.missing = _network_missing()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="optarena-network", initializer=initializer)
        self.lock = threading.Lock()
        self.jobs: dict[Any, Future[Any]] = {}

    def named(self, spec: LandscapeIn) -> str | None:
        """The registry-style name when ``spec`` names a network's landscape, else None."""
        if spec.name is None:
            return None
        key = spec.name.strip().lower().replace("-", "_").replace(" ", "_")
        return key if key in self.surface.FACTORIES else None

    def entries(self) -> list[dict[str, Any]]:
        """The page's menu entries: what a network's landscape takes, without building it; ``ready``:
        the parameters built in this process, ``trained``: the seeds whose weights are in the disk
        cache (recorded; their hash is checked when built). A first build trains: the page says so."""
        if self.missing:
            return []
        out = []
        for name in self.surface.FACTORIES:
            schema = {k: {**v, "integer": True} for k, v in self._schema(name).items()}
            schema["directions"]["choices"] = list(self.surface.DIRECTIONS)
            schema["seed"]["max"] = NETWORK_SEEDS - 1
            with self.lock:
                ready = [dict(key[2]) for key, job in self.jobs.items()
                         if key[:2] == ("landscape", name) and job.done() and not job.exception()]
            network = name.replace("_", "-")
            trained = [seed for seed in range(NETWORK_SEEDS)
                       if (files := self.surface.cache_files(network, seed)) is not None and files[1].exists()]
            out.append({"name": name, "title": NETWORK_TITLES.get(name, name), "network": network,
                        "schema": schema, "grid_points": self.surface.GRID_POINTS, "max_work": NETWORK_WORK,
                        "ready": ready, "trained": trained})
        return out

    def _schema(self, name: str) -> dict[str, dict[str, Any]]:
        return dict(getattr(self.surface.FACTORIES[name], "params_schema", {}))  # the registry's slider schema

    def _params(self, name: str, spec: LandscapeIn, loc: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
        """The landscape's parameters, defaults filled in, as whole numbers (422 naming the field)."""
        schema = self._schema(name)
        for k in spec.params:
            if k not in schema:
                raise _unprocessable(f"landscape {name!r} got unknown parameter {k!r}; allowed: {', '.join(schema)}",
                                     [*loc, "params", k])
        out = []
        for k, s in schema.items():
            v = spec.params.get(k, s["default"])
            top = NETWORK_SEEDS - 1 if k == "seed" else s["max"]
            if isinstance(v, bool) or v != int(v) or not s["min"] <= v <= top:
                extra = " (the web arena trains those; optarena race --network takes any)" if k == "seed" else \
                    f" ({', '.join(f'{i}: {d}' for i, d in enumerate(self.surface.DIRECTIONS))})"
                raise _unprocessable(f"{k} must be a whole number in [{s['min']}, {top}]{extra}, got {v!r}",
                                     [*loc, "params", k])
            out.append((k, int(v)))
        return tuple(out)

    def _once(self, key: Any, work: Callable[[], Any]) -> Future[Any]:
        """``work``'s future, started once per ``key`` on the networks' thread (a failed one is forgotten)."""
        with self.lock:
            job = self.jobs.get(key)
            if job is None or (job.done() and job.exception() is not None):
                job = self.jobs[key] = self.pool.submit(work)
            return job

    async def landscape(self, spec: LandscapeIn, loc: tuple[str, ...] = ("landscape",)) -> landscapes.Landscape:
        """The network's landscape ``spec`` names, built (trained, the first time) off the event
        loop: 501 naming the extra when torch or scikit-learn is missing, 422 for a parameter."""
        name = self.named(spec)
        assert name is not None
        if self.missing:
            raise HTTPException(status_code=501, detail=self.missing)
        params = self._params(name, spec, loc)
        factory = self.surface.FACTORIES[name]
        job = self._once(("landscape", name, params), lambda: factory(**dict(params)))
        try:
            return await asyncio.wrap_future(job)
        except (OptarenaError, ValueError, TypeError) as exc:
            raise _refused(exc, loc) from None

    async def grid(self, spec: LandscapeIn, n: int) -> dict[str, Any]:
        """``/api/grid``'s answer for the network's landscape, computed once per size on its thread."""
        ls = await self.landscape(spec)
        n = min(n, self.surface.GRID_POINTS)
        params = self._params(ls.name, spec, ("landscape",))
        job = self._once(("grid", ls.name, params, n), lambda: {"landscape": ls.to_json(), "plane": self._plane(ls),
                                                                **_grid_fields(ls, *ls.grid(n))})
        return dict(await asyncio.wrap_future(job))

    def _plane(self, ls: landscapes.Landscape) -> dict[str, Any]:
        """What the map's title and axes say: the plane through the trained weights, and (PCA) the
        share of the training path's variance it holds (in the title)."""
        kind = self.surface.DIRECTIONS[int(ls.params["directions"])]
        explained = getattr(ls, "explained", math.nan)
        return {"kind": kind, "title": f"{ls.title}\nthe training loss L(θ* + a d1 + b d2)",
                "axis_labels": ["a (along d1)", "b (along d2)"],
                "explained": explained if math.isfinite(explained) else None}

    def check_race(self, body: RaceIn) -> None:
        """Refuse (422 on ``steps``) a race past ``NETWORK_WORK`` run-steps, before any work."""
        runs = len(body.racers) * len(body.starts or [0])
        if runs * body.steps > NETWORK_WORK:
            raise _unprocessable(f"racers x starts x steps = {runs * body.steps:,} is above the web arena's "
                                 f"{NETWORK_WORK:,} on a network's surface (each step of each run is a forward and "
                                 "backward pass over the training split): fewer steps or racers, or optarena race "
                                 "--network", ["steps"])


def _lowered(nice: int, torch_threads: bool = False) -> Callable[[], None]:
    """A thread initializer that lowers the thread's priority by ``nice`` (and, with ``torch_threads``,
    keeps torch's work on that thread: torch's own pool would run at the process's priority)."""
    def init() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (AttributeError, OSError):
            pass  # no per-thread priority here (not Linux): the work runs at the races' priority
        if torch_threads:
            try:
                import torch

                torch.set_num_threads(1)
            except ImportError:
                pass  # the training race says torch is missing, as it does unserved
    return init


async def _bounded(work: Callable[[Callable[[], bool]], Any], what: str, slots: asyncio.Semaphore,
                   executor: ThreadPoolExecutor | None = None) -> Any:
    """Run ``work(should_stop)`` in a worker thread once one of the ``slots`` is free (429 if none
    frees within QUEUE_BUDGET seconds), for at most TIME_BUDGET seconds; past that the client gets
    503 and ``should_stop`` turns True, so the work stops too (between steps or compiled chunks)
    instead of burning a core for nobody. The slot is given back when the work has ended."""
    try:
        await asyncio.wait_for(slots.acquire(), QUEUE_BUDGET)
    except asyncio.TimeoutError:
        raise HTTPException(status_code=429, detail=f"the server is busy: the {what} waited {QUEUE_BUDGET:g} s for one "
                            f"of its {HEAVY_SLOTS} slots and was not started", headers={"Retry-After": "5"}) from None
    stop = threading.Event()
    try:
        future = asyncio.get_running_loop().run_in_executor(executor, work, stop.is_set)
    except BaseException:
        slots.release()
        raise
    future.add_done_callback(lambda _: slots.release())
    try:
        return await asyncio.wait_for(asyncio.shield(future), TIME_BUDGET)
    except asyncio.TimeoutError:
        stop.set()
        future.add_done_callback(_quiet)
        raise HTTPException(status_code=503, detail=f"the {what} took longer than {TIME_BUDGET:g} s and was stopped",
                            headers={"Retry-After": "5"}) from None


def _quiet(future: Any) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a stopped race's Cancelled is expected, not logged


def _sweep(body: SweepIn, should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """A stability or basin map for the page: grids indexed [y][x] as Plotly draws them."""
    from ..measure import Axis, sweep

    if body.basins is not None:
        (x0, x1), (y0, y1) = landscapes.resolve(body.landscape.ref()).window
        axes = [Axis.range("x", x0, x1, body.basins), Axis.range("y", y0, y1, body.basins)]
        starts = None
    else:
        axes = []
        for k, a in enumerate((body.x, body.y)):
            assert a is not None  # SweepIn's validator: x and y whenever basins is None
            try:
                axes.append(Axis.range(a.name, a.lo, a.hi, a.n, log=a.log))
            except OptarenaError as exc:  # named as the sweep names its axes: axes[0] is x
                raise with_field(exc, f"axes[{k}]")
        starts = None if body.start is None else [list(body.start)]
    racer = {"optimizer": body.racer.optimizer, "hyperparameters": {k: v for k, v in body.racer.hyperparameters.items()
                                                                     if k not in (axes[0].name, axes[1].name)},
             "schedule": body.racer.schedule, "label": body.racer.label}
    res = sweep(body.landscape.ref(), [racer], axes, starts=starts, steps=body.steps, seeds=[body.seed],
                noise=body.noise, clip=body.clip, tolerance=body.tolerance, should_stop=should_stop,
                deadline=PACE_BUDGET)  # what cannot end in time is refused once its pace is known: 422
    out: dict[str, Any] = {"mode": "basins" if body.basins is not None else "stability",
                           "x": axes[0].to_json(), "y": axes[1].to_json(), "objective": body.objective,
                           "minima": res.minima.tolist(), "min_value": res.min_value, "config": res.config}
    if body.basins is not None:
        out["basin"] = res.basin[0, :, :, 0].T.tolist()
        out["final_loss"] = _finite(res.final_loss[0, :, :, 0].T)
    else:
        out["z"] = _finite(res.objective(body.objective)[0].T)
        out["diverged"] = res.diverged_fraction()[0].T.tolist()
        best = res.best(body.objective)[0]
        out["best"] = {**best, "value": best["value"] if math.isfinite(best["value"]) else None}
    return out


def _settle() -> None:
    """Make a served worker's later pauses short: numba's CPU target set up now (``fused.prime``),
    the engines and measures imported, and everything alive after that frozen out of the garbage
    collector's reach: a full collection of a worker's ~1M objects holds the GIL for 50-130 ms,
    which another user's request would wait through; frozen, it walks only what came later."""
    import gc

    from .. import measure  # noqa: F401  (the maps' code, imported by the first map otherwise)
    from ..arena import fused

    fused.prime()
    gc.collect()
    gc.freeze()


def create_app(warm: bool = True, policy: origin.Policy | None = None, lanes: bool | None = None) -> FastAPI:
    """The arena's app. ``policy``: the Host names and Origins it answers (default: what ``optarena
    serve`` put in the environment, else this machine's loopback names only; see ``web.origin``).
    ``lanes``: maps and training races on threads of lower priority (MAP_NICE, TRAIN_NICE); default:
    when served (``optarena serve``)."""
    app = FastAPI(
        title="optarena", version=__version__,
        description="Race optimizers identical to torch.optim on loss landscapes. "
                    "Every list and limit comes from optarena's registries and the request schemas. "
                    f"Request bodies: at most {guard.MAX_BODY:,} bytes (413 beyond); NaN, Infinity and lone "
                    f"surrogates are refused with 422 naming the field; a race or map whose pace says it would end past "
                    f"{PACE_BUDGET:g} s is refused with 422 naming steps; one that still runs past {TIME_BUDGET:g} s is "
                    f"stopped (503); one that waits {QUEUE_BUDGET:g} s for a slot is not started (429, busy).",
        docs_url=None, redoc_url=None,  # Swagger UI and ReDoc load from a CDN: the page works offline, so they are off
    )
    app.add_middleware(guard.BodyLimit)
    app.add_middleware(guard.ClientLimit)  # heavy requests per client: 429 past OPTARENA_PER_CLIENT
    app.add_middleware(origin.OriginGuard, policy=policy)  # outermost: a foreign Host is refused first
    app.router.route_class = guard.GuardedRoute
    # starlette types a handler as taking any Exception; this one is registered for RequestValidationError only
    app.add_exception_handler(RequestValidationError, guard.on_validation_error)  # type: ignore[arg-type]
    if os.environ.get("OPTARENA_COMPILE_APART") == "1":  # served (web.server): set up before the first answer
        _settle()
    heavy = asyncio.Semaphore(HEAVY_SLOTS)  # races computing at once (see HEAVY_SLOTS)
    mapping = asyncio.Semaphore(HEAVY_SLOTS)  # maps and step anatomies, on threads of their own
    low = os.environ.get("OPTARENA_COMPILE_APART") == "1" if lanes is None else lanes
    background = ThreadPoolExecutor(HEAVY_SLOTS, thread_name_prefix="optarena-map",
                                    initializer=_lowered(MAP_NICE) if low else None)
    trainer = ThreadPoolExecutor(1, thread_name_prefix="optarena-train",  # one training race at a time
                                 initializer=_lowered(TRAIN_NICE, torch_threads=True) if low else None)

    # a network's surface: built (trained, the first time) and its grid computed on a thread of its own
    networks = _Networks(initializer=_lowered(TRAIN_NICE, torch_threads=True) if low else None)

    warmer = _Warmer(busy=heavy.locked) if warm else None
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript")

    listings: dict[str, tuple[Any, bytes]] = {}

    def listing(what: str, key: Any, build: Callable[[], Any]) -> Response:
        """A list the page asks for on every load, encoded once for as long as ``key`` (what is
        registered) stays the same, and answered on the event loop: no thread, no encoder walk
        (a page load's lists cost a busy server's light requests milliseconds each before)."""
        if what not in listings or listings[what][0] != key:
            listings[what] = (key, guard.dumps(build()))
        return Response(listings[what][1], media_type="application/json")

    _array: dict[int | str, dict[str, Any]] = {
        200: {"content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}

    @app.get("/api/optimizers", summary="Registered optimizers with their hyperparameter schemas",
             response_class=Response, responses=_array)
    async def optimizers() -> Response:
        # "colour": the colour its racer keeps in any race (the article's three), else null: a race's
        # colours come with the race
        specs = registry.all_specs()
        return listing("optimizers", tuple(map(id, specs)),
                       lambda: [{**spec.to_json(), "colour": presentation.hint(spec.name)} for spec in specs])

    @app.get("/api/landscapes", summary="Built-in landscapes with their parameters, window, minima (or why none) "
             "and default racers; those beyond the plane after them, with dim (and their matrices' blocks)",
             response_class=Response, responses=_array)
    async def landscape_list() -> Response:
        # the plane's first, as before; then those beyond it, with "dim" (and matrix "blocks") for
        # the page to group them, and "integer" on each parameter that takes whole numbers only
        def build() -> list[dict[str, Any]]:  # the networks' surfaces are never listed here: /api/networks
            out = []
            for name in landscapes.names(every=True):
                ls = landscapes.get(name)
                schema = landscapes.params_schema(name)
                if isinstance(ls, landscapes.NDLandscape):
                    schema = {k: {**v, "integer": isinstance(v["default"], int)} for k, v in schema.items()}
                out.append({**ls.to_json(), "schema": schema})
            return out

        names = landscapes.names(every=True)
        if "landscapes" not in listings or listings["landscapes"][0] != tuple(names):
            # the first build loads the data landscapes' datasets (a second or so): off the event loop
            await asyncio.get_running_loop().run_in_executor(None, lambda: listing("landscapes", tuple(names), build))
        return listing("landscapes", tuple(names), build)

    @app.get("/api/networks", summary="The real networks' loss surfaces the page races (none without torch): "
             "each one's parameters (directions: 0 random, 1 pca), its grid's points a side, its race's most "
             "racers x starts x steps, and the parameters already built here (a first use trains the network)",
             response_class=Response, responses=_array)
    async def network_list() -> Response:
        return Response(guard.dumps(networks.entries()), media_type="application/json")

    @app.get("/api/schedules", summary="Learning-rate schedules and their fields")
    def schedule_list() -> list[dict[str, Any]]:
        return [cls().to_json() for cls in schedules.SCHEDULES.values()]

    @app.post("/api/formula", summary="Validate a typed formula; 422 points at the bad position", responses=_BAD_BODY)
    def formula(body: FormulaIn) -> dict[str, Any]:
        ls = _landscape(LandscapeIn(formula=body.formula), loc=()) if body.formula.strip() else None
        if ls is None:
            raise _unprocessable("formula is empty", ["formula"], position=0, expected="a formula")
        return {"ok": True, "landscape": ls.to_json()}

    @app.post("/api/grid", summary="f on an n x n grid over the window, for contours and surfaces",
              description="A network's surface (GET /api/networks): at most its grid_points a side; the first "
                          "request trains the network (seconds), off the event loop.",
              responses={**_BAD_BODY, 501: {"model": Problem, "description": "a network's surface without torch"}})
    async def grid(body: GridIn) -> Any:
        if networks.named(body.landscape):
            return await networks.grid(body.landscape, min(body.n, MAX_GRID))

        def plane() -> dict[str, Any]:  # in a worker thread, as a plain endpoint's
            ls = _landscape(body.landscape)
            n = min(body.n, MAX_GRID)
            return {"landscape": ls.to_json(), **_grid_fields(ls, *ls.grid(n))}

        return await run_in_threadpool(plane)

    @app.post("/api/race", summary="Run a race; trajectories, losses, gradient norms, divergence",
              description=f"Limits: see the RaceIn schema (steps, racers, starts, racers x starts); {TIME_BUDGET:g} s "
                          "per request, after which the race is stopped and the answer is 503. "
                          "With format=csv: the race as RaceResult.to_csv writes it (the CLI's CSV).",
              responses={200: {"content": {"application/json": {"schema": {"type": "object"}},
                                           "text/csv": {"schema": {"type": "string"}}}}, **_BAD_BODY, **_OVER_TIME},
              response_class=Response)
    async def run_race(body: RaceIn, format: Literal["json", "csv"] = "json") -> Response:
        network = networks.named(body.landscape)
        ls: landscapes.AnyLandscape
        if network:  # trained the first time: off the event loop, checked before
            networks.check_race(body)
            ls = await networks.landscape(body.landscape)
        else:
            ls = _resolved(body.landscape)  # formula errors point at their position
        _check_beyond_the_plane(body, ls)
        try:
            plan = _race_plan(body, ls=ls if network else None)  # a bad request is refused before any work

            def work(stop: Callable[[], bool]) -> bytes | str:  # encoded here too: a large answer takes ~1 s
                # a network's surface has no compiled loop: the NumPy engine, without asking
                result = race(plan, should_stop=stop, engine="numpy" if network else "auto", deadline=PACE_BUDGET)
                if format == "csv":
                    return result.to_csv()
                if isinstance(ls, landscapes.NDLandscape):
                    coordinates = body.view_coordinates or (0, 1)
                    return guard.trimmed(_projected_payload(result, ls, body.view or "pca", coordinates))
                return guard.trimmed(_race_payload(result))

            answer = await _bounded(work, "race", heavy)
        except (OptarenaError, ValueError, TypeError) as exc:  # the field the race names: racers[1].hyperparameters...
            raise _refused(exc, default=["racers"]) from None
        if warmer is not None and not network:
            warmer.submit(body)
        return Response(answer, media_type="text/csv" if format == "csv" else "application/json")

    @app.post("/api/anatomy", summary="One step of one racer explained: its terms as vectors, its formulas with numbers",
              description="The race is replayed for that racer and start alone on the NumPy engine with its state "
                          "recorded (the numbers of the whole race: same box, same noise). The term vectors are "
                          "displacements from 'position'; 'composes' marks those that sum to the step taken.",
              responses={**_BAD_BODY, **_OVER_TIME})
    async def anatomy(body: AnatomyIn) -> Response:
        from . import anatomy as panel

        net = await networks.landscape(body.race.landscape, ("race", "landscape")) \
            if networks.named(body.race.landscape) else None
        if net is None:
            _landscape(body.race.landscape, ("race", "landscape"))
        try:
            plan = _race_plan(body.race, ls=net)
        except (OptarenaError, ValueError, TypeError) as exc:
            raise _refused(exc, ("race",), default=["race", "racers"]) from None
        try:  # racer, start and step are checked against the race before any work
            answer = await _bounded(lambda stop: guard.dumps(panel.payload(plan, body.racer, body.start, body.step)),
                                    "anatomy", mapping, background)
        except (OptarenaError, ValueError, TypeError) as exc:
            raise _refused(exc, default=["step"]) from None
        return Response(answer, media_type="application/json")

    @app.post("/api/sweep", summary="A stability map (two hyperparameters) or a basin map (a grid of starts)",
              description=f"Limits: see the SweepIn schema (cells per side, cells x steps); {TIME_BUDGET:g} s per "
                          "request, after which the map is stopped and the answer is 503.",
              responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, **_BAD_BODY,
                         **_OVER_TIME}, response_class=Response)
    async def run_sweep(body: SweepIn) -> Response:
        from ..measure.sweeps import check_objective

        if networks.named(body.landscape):
            raise _unprocessable("maps are not served on a network's surface: each of a map's cells x steps is a "
                                 "forward and backward pass over the training split, far past the "
                                 f"{TIME_BUDGET:g} s budget; race it", ["landscape"])
        try:
            check_objective(body.objective, _landscape(body.landscape))  # before any work
        except OptarenaError as exc:
            raise _refused(exc) from None
        try:  # encoded in the worker thread too: FastAPI's encoder on the event loop held every other request
            answer = await _bounded(lambda stop: guard.dumps(_sweep(body, stop)), "map", mapping, background)
        except (OptarenaError, ValueError, TypeError) as exc:
            raise _refused_map(exc, basins=body.basins is not None) from None
        return Response(answer, media_type="application/json")

    training = threading.Lock()  # one training race at a time: it takes the machine's cores

    @app.post("/api/train", summary="Start a training race; its epochs stream back as server-sent events",
              response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}, **_BAD_BODY,
                         409: {"model": Problem, "description": "a training race is already running"}})
    async def train(body: TrainIn) -> StreamingResponse:
        try:
            from ..nn import train_race
        except ImportError as exc:
            raise HTTPException(status_code=501, detail=str(exc)) from None
        if body.model == "cnn" and body.dataset != "digits":
            raise _unprocessable("model 'cnn' needs image data: dataset must be 'digits'", ["model"])
        racers = [{"optimizer": r.optimizer, "hyperparameters": r.hyperparameters, "schedule": r.schedule,
                   "label": r.label} for r in body.racers]
        from ..arena.plan import Racer, resolve_racers

        try:  # as the training race will: errors name the racer's field (racers[0].hyperparameters.beta1)
            resolve_racers([Racer(r.optimizer, r.hyperparameters, r.schedule, r.label) for r in body.racers])
        except (OptarenaError, ValueError, TypeError) as exc:
            raise _refused(exc, default=["racers"]) from None
        if not training.acquire(blocking=False):
            raise HTTPException(status_code=409, detail="a training race is already running; stop it first")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def send(item: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            final: dict[str, Any]
            try:
                # the first training in a worker imports torch and loads the data: seconds with nothing
                # to show, so the page says what it is waiting for
                first = "torch" not in sys.modules
                send({"type": "status", "msg": "loading torch and the data (the first training in this worker)" if first
                      else f"preparing the {body.model} and the {body.dataset} data"})
                res = train_race(body.dataset, body.model, racers, epochs=body.epochs, seeds=body.seeds,
                                 batch_size=body.batch_size, should_stop=stop.is_set,
                                 on_epoch=lambda i, s, e, m: send({"type": "epoch", "racer": i, "seed": s, "epoch": e, **m}))
                final = {"type": "done", "stopped": res.config["stopped_early"], "summary": res.summary()}
            except Exception as exc:  # reported to the page, never a dead stream
                final = {"type": "error", "msg": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
            finally:
                training.release()  # before the last event: a page that starts again at once is not refused
            send(final)

        looks = presentation.looks_json(presentation.looks(racers))  # as the race and the result name them
        worker = loop.run_in_executor(trainer, run)

        async def events() -> Any:
            try:
                yield b"data: " + guard.dumps({"type": "start", **looks,
                                               "epochs": body.epochs, "seeds": body.seeds}) + b"\n\n"
                while True:
                    item = await queue.get()
                    yield b"data: " + guard.dumps(item) + b"\n\n"
                    if item["type"] in ("done", "error"):
                        break
            finally:
                stop.set()  # the page stopped reading (Stop button, closed tab): end the training
                await asyncio.shield(worker)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/api/code", summary="The same optimizer in PyTorch, Keras or optax, with notes on differences",
              responses=_BAD_BODY)
    def code(body: CodeIn) -> dict[str, Any]:
        from ..codegen import generate

        try:
            schedules.make(body.schedule)
        except (OptarenaError, ValueError, TypeError) as exc:
            raise _unprocessable(str(exc).splitlines()[0], ["schedule"]) from None
        try:
            snip = generate(body.optimizer, body.hyperparameters, body.framework, body.schedule)
        except (OptarenaError, ValueError, TypeError) as exc:
            field = exc.field if isinstance(exc, OptarenaError) else None
            if field in body.hyperparameters:  # a hyperparameter's name
                field = f"hyperparameters.{field}"
            elif field is None or field.split(".")[0] not in CodeIn.model_fields:
                field = "optimizer"
            raise _unprocessable(str(exc).splitlines()[0], _field_loc(field)) from None
        return {"code": snip.code, "notes": list(snip.notes), "exact": snip.exact, "framework": body.framework}

    @app.get("/api/colours", summary="The colour an optimizer keeps in any race (the article's three); the "
             "others take the palette's free colours in race order (each race's colours come with it)")
    def colours() -> dict[str, str]:
        return {spec.name: hint for spec in registry.all_specs() if (hint := presentation.hint(spec.name))}

    @app.get("/api/limits", summary="The limits the request schemas enforce, for the page's fields: "
             "{field: {min, max}}")
    def limit_list() -> dict[str, Any]:
        return limits.as_json()

    return app
