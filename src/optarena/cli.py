"""The command line: thin, it parses, calls the core and prints.

optarena's own errors (``optarena.errors.OptarenaError``) are one line and exit code 2; anything
else is a bug: its traceback, a line asking to report it, and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from .errors import FileProblem, OptarenaError, UsageError, with_field
from .export import add_export_arguments

DEFAULT_RACERS = ["sgd", "momentum", "adam"]
PICTURES = (".png", ".svg", ".pdf")

#: A race the CLI runs with trajectories may need at most this much memory for them and their
#: output (README, "Output files"); beyond it the CLI refuses before any work.
MAX_RACE_BYTES = 2 * 2**30
NUMBERS_PER_STEP = 5  # recorded per run and step: x, y, loss, gradient norm, step size (float64 each)
#: Peak memory per recorded number while its JSON or CSV text is built and written, measured on
#: 3-racer races of 3,000 steps (to_json(indent=1) ~175 B, to_csv ~83 B; the files ~28 and ~24 B).
WRITE_BYTES_PER_NUMBER = {"json": 180, "csv": 85}


def _cmd_optimizers(args: argparse.Namespace) -> int:
    from .optim import FAMILIES, registry

    specs = registry.all_specs()
    width = max(len(s.name) for s in specs) + 1
    title_width = max(len(s.title) for s in specs) + 1
    for family in FAMILIES:
        members = [s for s in specs if s.family == family]
        if not members:
            continue
        print(f"{family}:")
        for spec in members:
            hp = ", ".join(f"{h.name}={h.default!r}" for h in spec.hypers)
            origin = registry.origin(spec.name)
            mark = "" if origin == "optarena" else f"  [{origin}]"
            print(f"  {spec.name:{width}s} {spec.title:{title_width}s} {hp}{mark}")
    return 0


def _cmd_landscapes(args: argparse.Namespace) -> int:
    from . import landscapes

    for name in landscapes.names(every=args.all):
        ls = landscapes.get(name)
        kind = ls.minimum_kind
        if kind == "minimum" and ls.dim > 2:
            what = f"{ls.dim}-D at its defaults; minimum {ls.min_value:g} at {_point_text(ls.minima[0])}"
        elif kind == "minimum":
            what = f"minimum {ls.min_value:g} at {', '.join(f'({x:g}, {y:g})' for x, y in ls.minima[:4])}"
        elif kind == "lower_bound":
            what = f"lower bound {ls.min_value:g} (no single minimum point: {ls.minimum_note})"
        else:
            what = f"no minimum ({ls.minimum_note})"
        if kind != "minimum" and ls.dim > 2:
            what = f"{ls.dim}-D at its defaults; {what}"
        if ls.saddle is not None:
            what += (f"; saddle at ({ls.saddle[0]:g}, {ls.saddle[1]:g}), f = {ls.saddle_value:g}: "
                     f"escaped once loss < {ls.escape_below:g}")
        print(f"{name:18s} {ls.title:28s} {what}")
    return 0


def _point(text: str) -> list[float]:
    try:
        point = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--start must be X,Y (numbers separated by commas: one per coordinate), got {text!r}",
                         field="--start") from None
    return point


def _point_text(point: Any) -> str:
    """A start as a table shows it: (x, y), or its first coordinates and its dimension."""
    if len(point) <= 3:
        return "(" + ", ".join(f"{v:g}" for v in point) + ")"
    return "(" + ", ".join(f"{v:.3g}" for v in point[:2]) + f", ... {len(point)}-D)"


def _landscape(args: argparse.Namespace) -> Any:
    """--landscape NAME(params) or --formula TEXT as the engine names a landscape, or --network's
    landscape (None: none of them)."""
    from .arena.spec_text import parse_call

    network, directions = getattr(args, "network", None), getattr(args, "directions", None)
    if network and (args.landscape or args.formula):
        raise UsageError("give --network or --landscape/--formula, not both", field="--network")
    if directions and not network:
        raise UsageError("--directions chooses the plane of --network: give --network too", field="--directions")
    if network:
        from .nn import surface

        surface.register()  # the race's config names it ({"name": "digits_mlp", ...}): a saved race replays
        return surface.network_landscape(network, directions or "random")
    if args.landscape and args.formula:
        raise UsageError("give --landscape or --formula, not both", field="--formula")
    if args.landscape:
        name, params = parse_call(args.landscape)
        return {"name": name, "params": params}
    if args.formula:
        return {"formula": args.formula}
    return None


def race_plan(args: argparse.Namespace) -> Any:
    """The race (an ``arena.RacePlan``) from --config FILE and the explicit options (which win)."""
    from .arena import RacePlan
    from .arena.plan import CONFIG_KEYS

    cfg: dict[str, Any] = {}
    if args.config:
        data = _read_json(args.config, "race")
        cfg = dict(data.get("config", data)) if isinstance(data, dict) else {}
        if not cfg:
            raise UsageError(f"--config {args.config}: no race configuration in it", field="--config")
        cfg.pop("version", None)
        if isinstance(cfg.get("landscape"), dict) and "name" in cfg["landscape"]:
            from .nn import surface

            surface.register(cfg["landscape"]["name"])  # a race on a network's surface (--network) names its factory
        unknown = sorted(set(cfg) - set(CONFIG_KEYS))
        if unknown:
            raise UsageError(f"--config {args.config}: unknown key(s) {', '.join(map(repr, unknown))} in the race "
                             f"configuration; allowed: {', '.join(CONFIG_KEYS)}", field="--config")
    landscape = _landscape(args)
    if landscape:
        cfg["landscape"] = landscape
    if args.optimizer:
        cfg["racers"] = list(args.optimizer)
    if args.start:
        cfg["starts"] = [_point(s) for s in args.start]
    for key in ("steps", "seed", "noise", "clip", "tolerance"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    # no racers: the landscape's default race (on the quadratic, the article's demo)
    return RacePlan.from_config(cfg)


def _read_json(path: str, what: str) -> Any:
    """--config FILE: at most MAX_INPUT_BYTES of JSON; anything else is a one-line error."""
    from ._files import read_bounded

    try:
        return json.loads(read_bounded(path))
    except RecursionError:
        raise UsageError(f"--config {path}: cannot read a JSON {what} file (nested too deeply)", field="--config") from None
    except (OSError, ValueError) as exc:  # also a bad encoding, a parse error and a file too large
        raise UsageError(f"--config {path}: cannot read a JSON {what} file ({exc})", field="--config") from None


def _check_outputs(*dests: tuple[str, str | None, Sequence[str] | None]) -> list[str]:
    """Every (option, path, extensions) the command will write, checked before any work; returns
    the paths that exist (they are replaced only when the command succeeds)."""
    from ._files import destination_problem

    seen: dict[str, str] = {}
    for option, path, suffixes in dests:
        if path is None:
            continue
        problem = destination_problem(path, suffixes)
        if problem:
            raise FileProblem(f"{option} {path}: {problem}".strip(), field=option or "OUT")
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{seen[key]} and {option} both name {path}: give them different files", field=option or "OUT")
        seen[key] = option or path
    return [path for _, path, _ in dests if path is not None and Path(path).is_file()]


def _say_replaced(args: argparse.Namespace, paths: list[str]) -> None:
    for path in paths:
        print(f"optarena {args.command}: {path} exists; it will be replaced when the run succeeds", file=sys.stderr)


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _check_race_size(plan: Any, writes: Sequence[str], way_out: str) -> None:
    """Refuse, before any work, a recorded race (an ``arena.RacePlan``) whose trajectories and output
    would not fit in MAX_RACE_BYTES or that the engine would not record; ``writes``: the text forms
    to be written."""
    from .arena.engine import MAX_RECORDED

    steps, runs = plan.steps, plan.runs
    numbers = runs * (steps + 1) * NUMBERS_PER_STEP
    arrays = numbers * 8
    fmt = max(writes, key=WRITE_BYTES_PER_NUMBER.__getitem__, default=None)
    text = numbers * WRITE_BYTES_PER_NUMBER[fmt] if fmt else 0
    what = f"{runs} runs x {steps + 1:,} recorded steps"
    if runs * (steps + 1) > MAX_RECORDED:
        raise UsageError(f"this race would record {what}, above the {MAX_RECORDED:,} run-steps a race keeps: {way_out}",
                         field="--steps")
    if arrays + text > MAX_RACE_BYTES:
        parts = f"{_size(arrays)} for {what}" + (f" + {_size(text)} to write them as {fmt.upper()}" if text and fmt else "")
        raise UsageError(f"this race would need about {_size(arrays + text)} of memory ({parts}), above the "
                         f"{MAX_RACE_BYTES / 2**30:g} GiB limit: {way_out}", field="--steps")


def _format(args: argparse.Namespace) -> str:
    """--format, else guessed from --output's extension, else the table."""
    if args.format:
        return args.format
    out = args.output or ""
    return "json" if out.endswith(".json") else "csv" if out.endswith(".csv") else "table"


def _write(result: Any, fmt: str, output: str | None, out: TextIO) -> None:
    """JSON or CSV to --output (whole or not at all) or stdout; with the table on screen, --output
    gets the JSON."""
    from ._files import atomic_write

    if fmt == "table" and not output:
        return
    text = result.to_json(indent=1) if fmt in ("json", "table") else result.to_csv()
    if output:
        atomic_write(output, text)
        _wrote(output, out, None)
    else:
        out.write(text if text.endswith("\n") else text + "\n")


def _wrote(path: Any, out: TextIO, args: argparse.Namespace | None) -> None:
    """``wrote FILE`` on ``out``, or on stderr when stdout carries the JSON/CSV itself."""
    data_on_stdout = args is not None and _format(args) != "table" and not args.output
    print(f"wrote {path}", file=sys.stderr if data_on_stdout else out)


#: Longest replay of the status line on a terminal, in seconds, however many steps the race has.
REPLAY_SECONDS = 3.0


def _live(result: Any, out: TextIO, delay: float, sleep: Callable[[float], None], every_step: bool = False,
          skip: Callable[[], bool] | None = None) -> None:
    """Replay the status line. On a terminal: in place, ``delay`` seconds a frame, at most
    REPLAY_SECONDS in all (a long race shows every k-th step), ending early when ``skip()`` says
    a key was pressed; the last step is always shown. Piped: the first and the last step's lines,
    or every step's with ``every_step``."""
    n = result.steps
    if not out.isatty():
        for k in (range(n + 1) if every_step else (0, n)):
            out.write(result.status_line(k) + "\n")
        return
    frames = n + 1 if delay <= 0 or delay * (n + 1) <= REPLAY_SECONDS else max(2, int(REPLAY_SECONDS / delay))
    shown = sorted({round(k * n / (frames - 1)) for k in range(frames)}) if frames > 1 else [n]
    for k in shown:
        out.write("\r\033[K" + result.status_line(k))
        out.flush()
        if k == n or (skip is not None and skip()):
            break
        if delay:
            sleep(delay)
    if k != n:  # skipped: land on the result
        out.write("\r\033[K" + result.status_line(n))
    out.write("\n")


class _KeyPress:
    """``with _KeyPress() as pressed: ... pressed()``: True once any key was typed on the terminal
    (read without waiting for Enter; the terminal's settings are restored on the way out)."""

    def __enter__(self) -> Callable[[], bool]:
        self.saved = None
        try:
            import termios
            import tty

            if sys.stdin.isatty():
                self.saved = termios.tcgetattr(sys.stdin)
                tty.setcbreak(sys.stdin)
        except (ImportError, OSError, ValueError):  # no terminal to read keys from: nothing skips
            self.saved = None
        return self.pressed

    def pressed(self) -> bool:
        if self.saved is None:
            return False
        import select

        if select.select([sys.stdin], [], [], 0)[0]:
            sys.stdin.read(1)
            return True
        return False

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self.saved)


def _colours(out: TextIO, optimizers: Sequence[str]) -> list[str]:
    """Each racer's colour (``arena.presentation``: as every face draws it), as the terminal
    behind ``out`` can tell them apart."""
    from rich.console import Console

    from .arena.presentation import terminal_colours

    return terminal_colours(optimizers, Console(file=out).color_system)


def _table(result: Any, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    from .arena.result import ESCAPE_UNKNOWN

    colours = _colours(out, result.optimizers)
    S = len(result.config["starts"])
    landscape = result.config["landscape"]
    title = landscape.get("formula") or landscape["name"]
    # What the landscape cannot measure is "-", and the caption says why.
    notes = []
    kind, saddle = result.minimum_kind, result.has_saddle
    if kind != "minimum":
        missing = "steps to tol and dist. to min" if kind == "none" else "dist. to min"
        notes.append(f"{missing}: not measured, {result.measure_note()}")
    if saddle:
        notes.append(f"steps to escape: first step with loss < {result.escape_below:g} (saddle value "
                     f"{result.saddle_value:g} minus margin {result.escape_margin:g})")
    t = Table(title=f"{title}: {result.steps} steps, tolerance {result.config['tolerance']:g}",
              caption="\n".join(notes) or None, caption_justify="left")
    counted = result.evaluations is not None  # a racer makes several evaluations a step (L-BFGS)
    if counted:
        notes.append("evaluations: f and its gradient evaluated by the last step (one a step for first-order "
                     "rules): compare budgets in evaluations, not steps")
    cols = ["racer", "start", "final loss", "best loss", "steps to tol", *(["steps to escape"] if saddle else []),
            "dist. to min", "diverged at", *(["evaluations"] if counted else [])]
    for col in cols:
        t.add_column(col, justify="left" if col == "racer" else "right")
    escape = result.steps_to_escape.ravel()  # racer-major, then start: the summary's order

    def count(v: int | None) -> str:
        return "-" if v is None or v < 0 else str(v)

    for i, row in enumerate(result.summary()):
        dead = row["diverged_at"] >= 0
        dist = row["distance_to_minimum"]
        cells = [f"[{colours[i // S]}]{row['racer']}[/]", _point_text(row["start"]),
                 "diverged" if dead else f"{row['final_loss']:.4g}", f"{row['best_loss']:.4g}",
                 count(row["steps_to_tolerance"])]
        if saddle:
            cells.append("escaped" if escape[i] == ESCAPE_UNKNOWN else count(row["steps_to_escape"]))
        cells += ["diverged" if dead else "-" if dist is None else f"{dist:.3g}", count(row["diverged_at"])]
        if counted:
            cells.append(str(row["evaluations"]))
        t.add_row(*cells)
    wide = 100 + 17 * saddle + 13 * counted  # room for the extra columns without wrapping the others
    Console(file=out, highlight=False, width=max(wide, Console(file=out).width)).print(t)


def _print_anatomy(a: Any, out: TextIO) -> None:
    """One step explained in the terminal (``arena.anatomy``): its terms as vectors (the ones that
    sum to the step taken starred), the adaptive stretch, and each formula with the step's numbers."""
    from rich.console import Console
    from rich.table import Table

    from .arena.anatomy import vector_text

    console = Console(file=out, highlight=False, width=max(100, Console(file=out).width))
    console.print("Anatomy of a step: " + a.heading())
    t = Table(caption="* these sum to the step taken", caption_justify="left")
    for col in ("term", "x", "y", ""):
        t.add_column(col, justify="left" if col in ("term", "") else "right")
    for term, v in a.terms:
        t.add_row(term.label, *vector_text(v)[1:-1].split(", "), "*" if term.key in a.composes else "")
    console.print(t)
    if a.stretch is not None:
        console.print(a.stretch_text())
    for _, numbers in a.lines:
        for line in numbers:
            console.print("  " + line)


def _cmd_race(args: argparse.Namespace, out: TextIO | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    from .arena import race
    from .export import EXTENSIONS, SUMMARIES, anatomy_arg, export_from_args

    out = out or sys.stdout  # looked up now: a test (or a caller) may have replaced it

    plan = race_plan(args)
    explained = anatomy_arg(args, len(plan.racers), plan.steps, args.save, terminal=True)  # a bad one costs no race
    fmt = _format(args)
    if explained is not None and not args.save and fmt != "table":
        raise UsageError(f"--anatomy prints under the race's table, which --format {fmt} replaces: drop --format or "
                         "--output's .json/.csv, or draw it into --save step.png", field="--anatomy")
    record = not args.no_record
    if args.save and not record and Path(args.save).suffix.lower() not in SUMMARIES:
        raise UsageError(f"--save {args.save}: with --no-record there are no trajectories to draw; "
                         f"only {' or '.join(SUMMARIES)} (the summary) can be saved", field="--save")
    replaced = _check_outputs(("--output", args.output, None), ("--save", args.save, EXTENSIONS))
    if record:
        writes = ["csv" if fmt == "csv" else "json"] if fmt != "table" or args.output else []
        writes += [Path(args.save).suffix[1:].lower()] if args.save and Path(args.save).suffix.lower() in SUMMARIES else []
        _check_race_size(plan, writes, "race fewer --steps or --start points, or pass --no-record (the summary only)")
    _say_replaced(args, replaced)
    result = race(plan, record=record)
    if fmt == "table":
        if not args.quiet and record:
            with _KeyPress() as pressed:
                _live(result, out, args.delay, sleep, args.every_step, pressed)
        _table(result, out)
        if explained is not None and not args.save:
            from .arena.anatomy import anatomy_of

            _print_anatomy(anatomy_of(plan, explained[0], 0, explained[1]), out)
    _write(result, fmt, args.output, out)
    if args.save:
        export_from_args(result, args.save, args)
        _wrote(args.save, out, args)
    return 0


def _cmd_sweep(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from .landscapes import planar, resolve
    from .measure import Axis, sweep, sweep_kwargs

    out = out or sys.stdout  # looked up now: a test (or a caller) may have replaced it

    replaced = _check_outputs(("--output", args.output, None), ("--plot", args.plot, PICTURES))  # before any work
    kwargs: dict[str, Any] = {}
    if args.config:  # a saved sweep's JSON; the options given here override it
        try:
            kwargs = sweep_kwargs(_read_json(args.config, "sweep"))
        except OptarenaError as exc:
            raise with_field(exc, "--config")
    landscape = _landscape(args)
    if landscape:
        kwargs["landscape"] = landscape
    axes: list[Any] = [Axis.parse(a) for a in (args.axis or [])]
    if args.basins:
        if not 2 <= args.basins <= 1000:
            raise UsageError(f"--basins N: N must be in [2, 1000], got {args.basins}", field="--basins")
        (x0, x1), (y0, y1) = resolve(kwargs.get("landscape")).window
        axes += [Axis.range("x", x0, x1, args.basins), Axis.range("y", y0, y1, args.basins)]
    if axes:
        kwargs["axes"] = axes
    if args.optimizer:
        kwargs["optimizers"] = args.optimizer
    if args.start:
        kwargs["starts"] = [_point(s) for s in args.start]
    for key in ("steps", "seeds", "noise", "clip", "tolerance", "radius"):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    _say_replaced(args, replaced)
    progress = None
    if not args.quiet and out.isatty():
        def progress(done: int, total: int) -> None:
            print(f"\r{done}/{total} units", end="" if done < total else "\n", file=sys.stderr, flush=True)
    from .measure.sweeps import check_objective

    check_objective(args.objective, planar(resolve(kwargs.get("landscape")), "a sweep"))  # before any work
    journal = _journal(args)
    result = sweep(**kwargs, scheduler=args.dask, progress=progress, journal=journal, resume=args.resume)
    fmt = _format(args)
    if fmt == "table":
        _sweep_table(result, args.objective, out)
    _write(result, fmt, args.output, out)
    if journal:
        journal.unlink(missing_ok=True)  # the output holds it all now
    if args.plot:
        result.plot(args.plot, metric=args.objective)
        _wrote(args.plot, out, args)
    return 0


def _journal(args: argparse.Namespace) -> Path | None:
    """Where sweep and train append finished units: FILE.journal next to --output FILE."""
    if not args.output:
        if args.resume:
            raise UsageError("--resume continues from the journal next to --output FILE: give --output", field="--resume")
        return None
    return Path(args.output + ".journal")


def _sweep_table(result: Any, objective: str, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    c = result.config
    colours = _colours(out, [o["optimizer"] for o in c["optimizers"]])
    title = c["landscape"].get("formula") or c["landscape"]["name"]
    starts = "a grid of starts" if result.start_axes else f"{len(c['starts'])} start(s)"
    t = Table(title=f"{title}: {c['steps']} steps, {starts}, {len(c['seeds'])} seed(s); best by median {objective}")
    for col in ("optimizer", "best setting", f"median {objective}", "diverged"):
        t.add_column(col, justify="left" if col in ("optimizer", "best setting") else "right")
    if result.start_axes:
        t.add_column("ends in (first setting, first seed)", justify="left")
    for o, row in enumerate(result.best(objective)):
        cells = [f"[{colours[o]}]{row['optimizer']}[/]",
                 ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["setting"].items()) or "-",
                 f"{row['value']:.4g}", f"{100 * row['diverged_fraction']:.0f}%"]
        if result.start_axes:
            names = {-1: "elsewhere", -2: "diverged"}  # measure.ELSEWHERE, measure.DIVERGED
            cells.append("; ".join(
                f"{names[m] if m in names else f'min {m + 1} ({result.minima[m][0]:.3g}, {result.minima[m][1]:.3g})'}: "
                f"{100 * v:.0f}%" for m, v in result.basin_shares(o).items()))
        t.add_row(*cells)
    Console(file=out, highlight=False, width=max(100, Console(file=out).width)).print(t)


def _cmd_serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be in [1, 65535], got {args.port}", field="--port")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers must be in [1, 64], got {args.workers}", field="--workers")
    for name in args.allowed_host:
        if not name.strip() or any(ch in name for ch in "/, "):
            raise UsageError(f"--allowed-host must be a host name or address (no scheme, path, comma or space), got {name!r}",
                             field="--allowed-host")
    for o in args.cors_origin:
        if o != "*" and (not o.startswith(("http://", "https://")) or "," in o or o.rstrip("/").count("/") > 2):
            raise UsageError(f"--cors-origin must be an origin like https://example.org (scheme, host, optional port) "
                             f"or '*', got {o!r}", field="--cors-origin")
    if args.per_client is not None and not 0 <= args.per_client <= 1000:
        raise UsageError(f"--per-client must be in [0, 1000] (0: no limit), got {args.per_client}", field="--per-client")
    from .web.server import serve

    sock = _bind(args.host, args.port)  # before serve() says where the arena is; serve() listens on it
    try:
        serve(host=args.host, port=args.port, open_browser=not args.no_browser, workers=args.workers, sock=sock,
              allowed_hosts=tuple(args.allowed_host), cors_origins=tuple(args.cors_origin), per_client=args.per_client,
              forwarded_allow_ips=args.forwarded_allow_ips)
    finally:
        sock.close()
    return 0


def _bind(host: str, port: int) -> Any:
    """The server's socket, bound, or the reason it cannot be, in one line."""
    import errno
    import socket

    from .web.server import listen_socket

    try:
        return listen_socket(host, port)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: cannot listen there ({exc.strerror or exc})", field="--host") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else port - 1
            raise UsageError(f"port {port} on {host} is taken (try --port {other})", field="--port") from None
        raise UsageError(f"cannot listen on {host} port {port} ({exc.strerror or exc})", field="--port") from None


def _add_terrain_arguments(p: argparse.ArgumentParser) -> None:
    """What race and sweep share: the landscape, starts, noise, clipping and tolerance."""
    p.add_argument("--landscape", metavar="NAME", help="built-in landscape, optionally with parameters: "
                                                       "'ill_conditioned(kappa=50, theta=30)' (default quadratic)")
    p.add_argument("--formula", metavar="TEXT", help="your own f(x, y), e.g. 'x**2 + 10*y**2', or f(x1, ..., xN), N <= 64")
    p.add_argument("--start", action="append", metavar="X,Y", help="repeatable start point (default: the landscape's)")
    p.add_argument("--noise", type=float, help="sigma of Gaussian noise added to every gradient (default 0)")
    p.add_argument("--clip", type=float, help="clip each gradient to this norm (off unless given)")
    p.add_argument("--tolerance", type=float, help="'steps to tolerance' counts until loss <= minimum + this (default 1e-4)")


def _add_race_arguments(p: argparse.ArgumentParser) -> None:
    _add_terrain_arguments(p)
    p.add_argument("--optimizer", action="append", metavar="SPEC",
                   help="repeatable: 'adam(learning_rate=0.1)', 'momentum(momentum=0.5, schedule=cosine(t_max=100))'")
    p.add_argument("--steps", type=int, help="step budget, the same for every racer (default 100; at most 100000)")
    p.add_argument("--seed", type=int, help="seed of the gradient noise (default 0)")
    p.add_argument("--config", metavar="FILE", help="replay a race from its JSON (options given here override it)")
    p.add_argument("--network", metavar="NAME", help="race on a trained network's loss over a plane through its weights: "
                                                     "digits-mlp (needs torch; trained once, cached)")
    p.add_argument("--directions", choices=["random", "pca"],
                   help="--network's plane: random filter-normalised directions (default) or the training path's PCA")


def _cmd_train(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .nn import train_race

    out = out or sys.stdout  # looked up now: a test (or a caller) may have replaced it

    racers = args.optimizer or DEFAULT_RACERS
    _say_replaced(args, _check_outputs(("--output", args.output, None), ("--plot", args.plot, PICTURES)))
    total = len(racers) * args.seeds * args.epochs
    console = Console(file=out, highlight=False)
    fmt = _format(args)
    live = fmt == "table" and not args.quiet
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not live) as progress:
        task = progress.add_task("training", total=total)

        def on_epoch(i: int, seed: int, epoch: int, m: dict[str, float]) -> None:
            if epoch == 0:  # the untrained network's numbers: nothing trained yet
                return
            if m["diverged_at"] >= 0:  # its remaining epochs will not be trained: done with them too
                progress.update(task, advance=1 + args.epochs - epoch,
                                description=f"racer {i + 1}/{len(racers)} seed {seed}: diverged at epoch {epoch}")
                return
            progress.update(task, advance=1, description=(
                f"racer {i + 1}/{len(racers)} seed {seed} epoch {epoch}: val loss {m['val_loss']:.4g}, "
                f"accuracy {m['val_accuracy']:.3f}"))

        journal = _journal(args)
        result = train_race(args.dataset, args.model, racers, epochs=args.epochs, seeds=args.seeds,
                             batch_size=args.batch_size, on_epoch=on_epoch, journal=journal, resume=args.resume)
    if fmt == "table":
        t = Table(title=f"{args.model} on {args.dataset}: {args.epochs} epochs, median of {args.seeds} seed(s)")
        for col in ("racer", "train loss", "val loss", "val accuracy", "s / epoch", "state bytes / param", "outcome"):
            t.add_column(col, justify="left" if col in ("racer", "outcome") else "right", no_wrap=col in ("racer", "outcome"))

        def num(v: float | None, fmt: str) -> str:  # None: a seed diverged (or stopped) before the last epoch
            return "-" if v is None else format(v, fmt)

        for row in result.summary():
            t.add_row(row["racer"], num(row["final_train_loss"], ".4g"), num(row["final_val_loss"], ".4g"),
                      num(row["final_val_accuracy"], ".3f"), num(row["seconds_per_epoch"], ".3f"),
                      f"{row['state_bytes_per_param']:g}", row["diverged"] or "trained")
        console.print(t)
    _write(result, fmt, args.output, out)
    if journal:
        journal.unlink(missing_ok=True)  # the output holds it all now
    if args.plot:
        result.plot(args.plot)
        _wrote(args.plot, out, args)
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    from ._files import atomic_write
    from .nn.table import measure

    _say_replaced(args, _check_outputs(("--output", args.output, None)))
    command = "optarena table " + " ".join(_shell_quote(a) for a in (args.argv or []))
    table = measure(args.optimizer or DEFAULT_RACERS, digits=not args.no_digits, seeds=args.seeds,
                    epochs=args.epochs, steps=args.steps, command=command.strip())
    text = table.to_json() if args.format == "json" else table.markdown()
    print(text)
    if args.output:
        atomic_write(args.output, text + "\n")
        print(f"wrote {args.output}", file=sys.stderr)  # stdout holds the table itself
    return 0


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _cmd_code(args: argparse.Namespace) -> int:
    from .arena.spec_text import parse_call
    from .codegen import format_snippet, generate

    name, hp = parse_call(args.name)
    hp.update(dict(_kv(item) for item in args.hp or []))
    if args.learning_rate is not None:
        hp["learning_rate"] = args.learning_rate
    schedule = hp.pop("schedule", None)
    hp.pop("label", None)  # a racer's label names it in a race; the code has no use for it
    print(format_snippet(generate(name, hp, args.framework, schedule)))
    return 0


def _kv(item: str) -> tuple[str, Any]:
    from .arena.spec_text import parse_call

    if "=" not in item:
        raise UsageError(f"--hp takes NAME=VALUE, got {item!r}", field="--hp")
    _, parsed = parse_call(f"x({item})")
    return next(iter(parsed.items()))


def _cmd_export(args: argparse.Namespace) -> int:
    from .arena import race
    from .export import EXTENSIONS, SUMMARIES, anatomy_arg, export_from_args

    plan = race_plan(args)
    anatomy_arg(args, len(plan.racers), plan.steps, args.out)  # a bad --anatomy costs no race
    replaced = _check_outputs(("", args.out, EXTENSIONS))
    ext = Path(args.out).suffix.lower()
    _check_race_size(plan, [ext[1:]] if ext in SUMMARIES else [],
                     "race fewer --steps or --start points (optarena race --no-record writes the summary only)")
    _say_replaced(args, replaced)
    path = export_from_args(race(plan), args.out, args)
    print(f"wrote {path}")
    return 0


def _cmd_gallery(args: argparse.Namespace) -> int:
    from .extras import need

    kinds: dict[str, str] = {}
    for path in args.out:
        ext = Path(path).suffix.lower()
        if ext in kinds:
            raise UsageError(f"{kinds[ext]} and {path} are both {ext} files: give one file per format", field="OUT")
        kinds[ext] = path
    _say_replaced(args, _check_outputs(*(("", path, (".png", ".svg", ".html")) for path in args.out)))
    need("matplotlib", purpose="the gallery")  # before minutes of sweeps, not after
    if ".html" in kinds:
        need("PIL", purpose="the gallery's HTML page")
    from .export.gallery import write_gallery
    from .measure.gallery import gallery

    live = not args.quiet and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if live:
            print(f"\roptarena gallery: cell {done} / {total}", end="" if done < total else "\n", file=sys.stderr,
                  flush=True)

    t0 = time.perf_counter()
    g = gallery(args.landscape, args.optimizer, quick=args.quick, steps=args.steps, objective=args.objective,
                noise=args.noise, clip=args.clip, seed=args.seed, progress=progress)
    for line in g.statement():
        print(line)
    write_gallery(g, kinds.get(".png"), kinds.get(".svg"), kinds.get(".html"), dpi=args.dpi, base_url=args.base_url)
    for path in args.out:
        print(f"wrote {path}")
    print(f"{len(g.optimizers)} optimizers x {len(g.landscapes)} landscapes in {time.perf_counter() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="optarena", description="Optimizers identical to torch.optim, racing on loss landscapes.")
    parser.add_argument("--version", action="version", version=f"optarena {__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("optimizers", help="list the registered optimizers and their defaults")
    p.set_defaults(func=_cmd_optimizers)
    p = sub.add_parser("landscapes", help="list the built-in landscapes")
    p.add_argument("--all", action="store_true", help="also those of any dimension (N-D, data and matrix landscapes)")
    p.set_defaults(func=_cmd_landscapes)

    p = sub.add_parser(
        "race", help="race optimizers on a landscape (default: the article's demo)",
        description="Race optimizers on a landscape. With no options: the article's demo, SGD, momentum and "
                    "Adam on the quadratic from loss 9.0000 for 100 steps.",
    )
    _add_race_arguments(p)
    p.add_argument("--format", choices=["table", "json", "csv"], help="table (default), json (trajectories + full config) or csv")
    p.add_argument("--output", metavar="FILE", help="write json/csv here (with --format table: the json)")
    p.add_argument("--save", metavar="FILE", help="also export the race: .png .svg .pdf .gif .mp4 .html .csv .json")
    p.add_argument("--delay", type=float, default=0.02,
                   help="seconds per frame of the live status line on a terminal; the replay takes at most "
                        f"{REPLAY_SECONDS:g} s (long races show every k-th step); any key skips to the end")
    p.add_argument("--every-step", action="store_true",
                   help="piped output: one status line per step (default: the first and the last)")
    p.add_argument("--quiet", action="store_true", help="no status lines, only the summary")
    p.add_argument("--no-record", action="store_true",
                   help="keep no trajectories: any number of steps and starts; json/csv/--save .json .csv hold the summary")
    add_export_arguments(p)
    p.set_defaults(func=_cmd_race)

    p = sub.add_parser(
        "export", help="write a race as PNG/SVG/PDF, GIF/MP4, self-contained HTML, CSV or JSON",
        description="Run a race (same options as optarena race, or --config FILE) and write it; the "
                    "extension of OUT picks the format.",
    )
    p.add_argument("out", metavar="OUT", help="race.png | .svg | .pdf | .gif | .mp4 | .html | .csv | .json")
    _add_race_arguments(p)
    add_export_arguments(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "train", help="a training race: the same network, weights and batches for every optimizer",
        description="Train the same network from the same initial weights on the same batches with each "
                    "optimizer; report per-epoch loss and accuracy, wall time and optimizer-state memory.",
    )
    p.add_argument("--dataset", default="digits", help="digits (default), breast_cancer, wine, iris, moons, spirals")
    p.add_argument("--model", default="mlp", help="logreg, mlp (default) or cnn (digits only)")
    p.add_argument("--optimizer", action="append", metavar="SPEC", help="repeatable, as in optarena race (default: sgd, momentum, adam)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=1, help="repeat with seeds 0..K-1 (initial weights, batch order); medians are reported")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--format", choices=["table", "json", "csv"])
    p.add_argument("--output", metavar="FILE", help="write json/csv here (with --format table: the json)")
    p.add_argument("--plot", metavar="FILE.png", help="write loss and accuracy curves")
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument("--resume", action="store_true",
                   help="continue a killed run: with --output FILE, each finished run is saved to FILE.journal as it "
                        "ends (removed once FILE is written); without --output there is nothing to resume")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "table", help="the article's comparison table, measured",
        description="Regenerate the article's comparison table from measurements: state bytes per parameter, "
                    "steps to a target on a suite of landscapes (lr tuned per landscape by final loss), epochs to a "
                    "target on digits, learning-rate sensitivity, hyperparameters, time per step.",
    )
    p.add_argument("--optimizer", action="append", metavar="SPEC", help="repeatable (default: sgd, momentum, adam)")
    p.add_argument("--steps", type=int, default=1000, help="step budget on each landscape (default 1000)")
    p.add_argument("--seeds", type=int, default=2, help="digits: seeds to take the median over (default 2)")
    p.add_argument("--epochs", type=int, default=15, help="digits: epoch budget (default 15)")
    p.add_argument("--no-digits", action="store_true", help="skip the digits column (no torch needed)")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.add_argument("--output", metavar="FILE")
    p.set_defaults(func=_cmd_table)

    p = sub.add_parser(
        "code", help="the same optimizer in PyTorch, Keras or optax",
        description="Print code that builds the optimizer in another framework with the same numbers, and notes "
                    "(with measured sizes) where that framework cannot match them.",
    )
    p.add_argument("name", metavar="NAME", help="a registered optimizer, optionally with settings: 'adam(beta1=0.8)'")
    p.add_argument("--framework", default="torch", help="torch (default), keras or optax")
    p.add_argument("--learning-rate", type=float, help="shorthand for --hp learning_rate=X")
    p.add_argument("--hp", action="append", metavar="NAME=VALUE", help="repeatable hyperparameter, e.g. --hp amsgrad=true")
    p.set_defaults(func=_cmd_code)

    p = sub.add_parser(
        "sweep", help="sweep settings and starts: fair tuned comparisons, stability maps, basin maps",
        description="Race every optimizer at every setting of a grid, from every start, with every seed, on the "
                    "same budget; report each optimizer's best setting by a stated objective. One axis: loss "
                    "against it; two: a stability map; --basins N: which minimum each start ends in.",
        epilog="axes: NAME=log(lo, hi, n) | NAME=lin(lo, hi, n) | NAME=v1,v2,... (NAME a hyperparameter, or x / y "
               "for the start). Examples: --axis 'learning_rate=log(1e-4, 1, 25)'; --axis "
               "'learning_rate=log(1e-3, 3, 60)' --axis 'momentum=lin(0, 0.99, 60)'; --basins 150.",
    )
    _add_terrain_arguments(p)
    p.add_argument("--optimizer", action="append", metavar="SPEC",
                   help="repeatable, fixed settings allowed: 'adam(beta2=0.99)' (default: sgd, momentum, adam)")
    p.add_argument("--axis", action="append", metavar="NAME=VALUES", help="repeatable grid axis (default learning_rate=log(1e-4, 1, 25))")
    p.add_argument("--basins", type=int, metavar="N", help="an N x N grid of starts over the landscape's window")
    p.add_argument("--steps", type=int, help="step budget of every run (default 500)")
    p.add_argument("--seeds", type=int, help="noise seeds 0..K-1 (default 1; matters with --noise)")
    p.add_argument("--radius", type=float, help="a run is in a minimum's basin when it ends this close (default 1%% of the window)")
    p.add_argument("--objective", choices=["final_loss", "best_loss", "steps_to_tolerance"], default="final_loss",
                   help="what 'best' minimises: its median over starts and seeds (default final_loss)")
    p.add_argument("--format", choices=["table", "json", "csv"], help="table (default), json (every run) or csv (one line per setting)")
    p.add_argument("--output", metavar="FILE", help="write json/csv here (with --format table: the json)")
    p.add_argument("--plot", metavar="FILE.png", help="loss against the axis, a stability map, or a basin map (.png .svg .pdf)")
    p.add_argument("--dask", metavar="SCHEDULER", help="run on Dask: local:N (N worker processes on 127.0.0.1) or a scheduler address")
    p.add_argument("--config", metavar="FILE", help="rerun a sweep from its JSON (--format json); options given here override it")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.add_argument("--resume", action="store_true",
                   help="continue a killed sweep: with --output FILE, each finished unit is saved to FILE.journal as "
                        "it ends (removed once FILE is written); without --output there is nothing to resume")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser(
        "gallery", help="every optimizer on every landscape, each at its tuned best: PNG, SVG, HTML",
        description="Draw every registered optimizer (rows, by family) on every built-in landscape (columns), each "
                    "at the learning rate (and momentum or beta1, where it has one) that the same sweep found best "
                    "there, from the same starts, for the same number of steps; divergence is drawn where it "
                    "happened; optimizers a landscape cannot race are empty cells saying why. The budget, search "
                    "space and objective are printed on the picture. The same command gives the same bytes.",
    )
    p.add_argument("out", metavar="OUT", nargs="+", help="gallery.png | gallery.svg | gallery.html (one per format)")
    p.add_argument("--quick", action="store_true",
                   help="every optimizer on a few landscapes, a small grid and fewer steps (under a minute)")
    p.add_argument("--landscape", action="append", metavar="NAME", help="repeatable (default: every built-in one)")
    p.add_argument("--optimizer", action="append", metavar="NAME", help="repeatable (default: every registered one)")
    p.add_argument("--steps", type=int, help="step budget of every run (default 300; --quick 100)")
    p.add_argument("--objective", choices=["final_loss", "best_loss", "steps_to_tolerance"], default="final_loss",
                   help="what picks each cell's setting: its median over the starts (default final_loss)")
    p.add_argument("--noise", type=float, default=0.0, help="sigma of Gaussian gradient noise (default 0: off)")
    p.add_argument("--clip", type=float, help="clip each gradient to this norm (off unless given)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of the PNG and of the HTML's pictures (default 100)")
    p.add_argument("--base-url", default="http://127.0.0.1:8000",
                   help="where the HTML's links open the web arena (default: optarena serve's address)")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(func=_cmd_gallery)

    from .bench.command import add_parser as add_bench

    add_bench(sub)

    p = sub.add_parser("serve", help="the interactive web arena in your browser",
                       description="Serve the web arena (FastAPI + uvicorn). Binds 127.0.0.1 unless told otherwise.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on, 1 to 65535 (default 8000)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1); each is restarted if it dies")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name to answer besides localhost and the bound address (repeatable; '*': any). "
                        "Others get 400: a page on another site cannot reach the arena through DNS rebinding")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="another site's origin (https://example.org) whose pages may call the API (repeatable); "
                        "other cross-origin requests get 403")
    p.add_argument("--per-client", type=int, metavar="K",
                   help="races, maps and training races one client (address) may have in flight per worker; the next "
                        "gets 429 with Retry-After (default $OPTARENA_PER_CLIENT, else 4; 0: no limit)")
    p.add_argument("--forwarded-allow-ips", metavar="IPS",
                   help="behind a reverse proxy: the proxy's address(es) (comma-separated, '*': any) whose "
                        "X-Forwarded-For names the client; without it the proxy is the client (one limit for all)")
    p.set_defaults(func=_cmd_serve)
    return parser


def _join_negative_points(argv: list[str]) -> list[str]:
    """``--start -1.2,1`` would read as an unknown option to argparse: make it ``--start=-1.2,1``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--start" and i + 1 < len(argv) and re.match(r"^-[\d.]", argv[i + 1]):
            out.append(f"--start={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_join_negative_points(argv))
    args.argv = argv[1:]  # for commands that print how they were made
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    told = _tell_slow_work(args.command)
    try:
        return int(args.func(args))
    except OptarenaError as exc:  # the request cannot be done: one line, exit 2
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"optarena {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except RecursionError:  # e.g. an input nested thousands deep that got past the readers' checks
        print(f"optarena {args.command}: error: input nested too deeply", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # the reader went away (`optarena optimizers | head`): not a bug, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return 141
    except Exception:  # anything else is a bug in optarena: say so, with the traceback
        _report_bug(args.command)
        return 1
    finally:
        if told is not None:
            logging.getLogger("optarena").removeHandler(told)


def _report_bug(command: str) -> None:
    """An error optarena did not expect: the traceback, then a line asking to report it."""
    import traceback

    from . import __version__

    traceback.print_exc()
    print(f"optarena {command}: internal error (a bug in optarena {__version__}, not in your input); "
          "please report it with the command and the traceback above", file=sys.stderr)


def _tell_slow_work(command: str) -> logging.Handler | None:
    """On a terminal, say on stderr what makes a first run wait (compiling a race loop, seconds;
    loading it from the disk cache next time), as the core reports it on the ``optarena`` logger."""
    if not sys.stderr.isatty():
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"optarena {command}: %(message)s ..."))
    log = logging.getLogger("optarena")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
