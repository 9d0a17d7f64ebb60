"""``optarena bench``: workloads, targets, run, report. The parser is built without importing the
bench (``optarena --help`` stays fast); each subcommand imports what it needs when it runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from ..errors import UsageError

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")


def add_parser(sub: Any) -> None:
    """``optarena bench ...`` on the CLI's subparsers."""
    p = sub.add_parser(
        "bench", help="AlgoPerf's method on this machine: time to target, tuning rulesets, profiles, intervals",
        description="Which optimizer should I use? Each submission is tuned on fixed workloads (external tuning: 3 "
                    "studies x 5 Sobol points of its declared space; self-tuning: its defaults at 1.5x the budget), "
                    "its time to each workload's target is measured in steps and seconds, the winners are rerun "
                    "from 10 seeds, and the report draws performance profiles, the AlgoPerf score with bootstrap "
                    "intervals, pairwise Wilcoxon tests and the article's table. Every finished trial is committed "
                    "to a SQLite store: a killed bench resumes where it stopped.")
    bsub = p.add_subparsers(dest="bench_command", metavar="{workloads,targets,run,report}")
    w = bsub.add_parser("workloads", help="list the workloads and their full configurations")
    w.add_argument("--format", choices=["table", "json"], default="table")
    w.set_defaults(func=_cmd_workloads)

    def selection(q: argparse.ArgumentParser) -> None:
        q.add_argument("--workload", action="append", metavar="NAME", help="repeatable (default: every workload)")
        q.add_argument("--store", metavar="PATH", help="the SQLite store of trials (default: bench.sqlite in the user's "
                                                     "data directory, $OPTARENA_DATA_DIR, printed at start)")

    def workers(q: argparse.ArgumentParser) -> None:
        q.add_argument("--processes", type=int, default=0, metavar="N", help="trials on N processes (default: here)")
        q.add_argument("--dask", metavar="SCHEDULER", help="trials on Dask: local:N or a scheduler address")
        q.add_argument("--quiet", action="store_true", help="no progress bar")

    t = bsub.add_parser("targets", help="set the workloads' targets by the stated procedure (AdamW, NAdamW, Nesterov, "
                                        "heavy ball tuned; median of reruns of the best)")
    selection(t)
    workers(t)
    t.add_argument("--trials", type=int, default=5, help="Sobol points per baseline (default 5)")
    t.add_argument("--reruns", type=int, default=3, help="seeds the best setting is rerun from (default 3)")
    t.add_argument("--output", metavar="FILE", required=True, help="the targets file to write (JSON)")
    t.set_defaults(func=_cmd_targets)

    def plan(q: argparse.ArgumentParser) -> None:
        selection(q)
        q.add_argument("--optimizer", action="append", metavar="NAME",
                       help=f"a submission: a name in the spaces file or any registered optimizer, repeatable "
                            f"(default: {', '.join(DEFAULT_OPTIMIZERS)})")
        q.add_argument("--space", metavar="FILE", help="a spaces file of your own submissions (see spaces.json)")
        q.add_argument("--ruleset", action="append", choices=["external", "self"], help="repeatable (default: both)")
        q.add_argument("--targets", metavar="FILE", help="a targets file (default: the shipped one)")
        q.add_argument("--quick", action="store_true", help="3 studies x 2 trials, 3 seeds a winner (minutes on 2 "
                                                            "cores) instead of 3 x 5 and 10 seeds")

    r = bsub.add_parser("run", help="run (or resume) the bench: every finished trial is committed to the store")
    plan(r)
    workers(r)
    r.set_defaults(func=_cmd_run)
    rp = bsub.add_parser("report", help="HTML (offline), PNGs, JSON and CSV from a finished bench's store")
    plan(rp)
    rp.add_argument("--output", metavar="DIR", required=True, help="the folder to write the report into")
    rp.add_argument("--format", default="html,png,json,csv", help="comma-separated: html, png, json, csv (default all)")
    rp.set_defaults(func=_cmd_report)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _cmd_workloads(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from .workloads import WORKLOADS

    out = out or sys.stdout
    if args.format == "json":
        print(json.dumps([w.to_json() for w in WORKLOADS], indent=1), file=out)
        return 0
    from rich.console import Console
    from rich.table import Table

    from .targets import targets_for

    goal = targets_for(list(WORKLOADS))
    t = Table(title="optarena bench workloads (optarena bench workloads --format json: every setting)")
    for col in ("workload", "kind", "metric (lower is better)", "target", "budget (steps)", "what"):
        t.add_column(col, justify="right" if col in ("target", "budget (steps)") else "left")
    for w in WORKLOADS:
        t.add_row(w.name, w.kind, w.metric, f"{goal[w.name]:.4g}", f"{w.budget:,}", w.title)
    Console(file=out, highlight=False, width=max(100, Console(file=out).width)).print(t)
    return 0


def _store_path(args: argparse.Namespace) -> Path:
    from .store import default_path

    return Path(args.store) if args.store else default_path()


def _workloads(args: argparse.Namespace) -> list[Any]:
    from .workloads import WORKLOADS, get

    return [get(n) for n in args.workload] if args.workload else list(WORKLOADS)


def _plan(args: argparse.Namespace) -> tuple[list[Any], list[Any], dict[str, float], Any, list[str]]:
    """(workloads, submissions, targets, budget, rulesets), every name checked before any work."""
    from .runner import FULL, QUICK
    from .spaces import submissions
    from .targets import targets_for

    ws = _workloads(args)
    subs = submissions(list(args.optimizer or DEFAULT_OPTIMIZERS), args.space)
    if len({s.name for s in subs}) < len(subs):
        raise UsageError("--optimizer: a submission is named twice", field="--optimizer")
    return ws, subs, targets_for(ws, args.targets), QUICK if args.quick else FULL, list(args.ruleset or ["external", "self"])


def _workers(args: argparse.Namespace) -> tuple[int, Any]:
    if args.processes < 0:
        raise UsageError(f"--processes N: N must be >= 0, got {args.processes}", field="--processes")
    if args.processes and args.dask:
        raise UsageError("give --processes or --dask, not both", field="--dask")
    return args.processes, args.dask


class _Progress:
    """A rich progress bar with one task per workload (its ETA), on stderr; nothing when quiet."""

    def __init__(self, quiet: bool, counts: Mapping[str, int]) -> None:
        self.bar: Any = None
        if quiet or not counts:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            transient=False, console=__import__("rich.console").console.Console(file=sys.stderr))
        self.tasks = {w: self.bar.add_task(w, total=n) for w, n in counts.items()}

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        if self.bar is not None:
            self.bar.advance(self.tasks[config["workload"]])


def _todo_counts(store: Any, configs: list[dict[str, Any]]) -> dict[str, int]:
    from .store import Store

    counts: dict[str, int] = {}
    for c in configs:
        if not store.has(Store.key(c)):
            counts[c["workload"]] = counts.get(c["workload"], 0) + 1
    return counts


def _cmd_run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from . import runner
    from .store import Store

    out = out or sys.stdout
    ws, subs, targets, budget, rulesets = _plan(args)  # before any work
    processes, dask = _workers(args)
    path = _store_path(args)
    print(f"optarena bench: store {path}", file=sys.stderr)
    with Store(path) as store:
        phase1 = runner.tuning_trials(ws, subs, targets, budget, rulesets)
        with _Progress(args.quiet, _todo_counts(store, phase1)) as bar:
            n1 = runner.run_trials(store, phase1, processes=processes, scheduler=dask, progress=bar)
        phase2 = runner.rerun_trials(store, ws, subs, targets, budget, rulesets)
        with _Progress(args.quiet, _todo_counts(store, phase2)) as bar:
            n2 = runner.run_trials(store, phase2, processes=processes, scheduler=dask, progress=bar)
        summary = runner.summarise(store, ws, subs, targets, budget, rulesets, quick=args.quick)
    total = len(phase1) + len(phase2)
    print(f"{total:,} trials: {n1 + n2:,} run now, {total - n1 - n2:,} found in the store", file=out)
    _score_table(summary, out)
    return 0


def _score_table(summary: Mapping[str, Any], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"AlgoPerf score (1 = fastest to every target; 0 = none within 4x); {len(summary['workloads'])} workloads")
    for col in ("submission", "score (steps)", "score (seconds)", "reruns' score (steps) [95%]", "targets reached"):
        t.add_column(col, justify="left" if col == "submission" else "right")
    for i, s in enumerate(summary["submissions"]):
        ci = summary.get("score_interval_steps")
        again = summary.get("score_reruns_steps")
        reached = sum(1 for v in summary["time_steps"][i] if v != float("inf"))
        t.add_row(s["name"], f"{summary['score_steps'][i]:.3f}", f"{summary['score_seconds'][i]:.3f}",
                  (f"{again[i]:.3f}" if again else "-") + (f" [{ci[i][0]:.3f}, {ci[i][1]:.3f}]" if ci else ""),
                  f"{reached}/{len(summary['workloads'])}")
    Console(file=out, highlight=False, width=max(100, Console(file=out).width)).print(t)


def _cmd_targets(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from . import targets
    from .store import Store

    out = out or sys.stdout
    ws = _workloads(args)
    processes, dask = _workers(args)
    dest = Path(args.output)
    if not dest.parent.is_dir():
        raise UsageError(f"--output {dest}: the folder {dest.parent} does not exist", field="--output")
    path = _store_path(args)
    print(f"optarena bench: store {path}", file=sys.stderr)
    with Store(path) as store:
        content = targets.make(store, ws, trials=args.trials, reruns=args.reruns, processes=processes, scheduler=dask)
    targets.write(content, dest)
    for name, v in content["workloads"].items():
        print(f"{name}: target {v['target']:.4g} ({v['metric']}, set by {v['set_by']})", file=out)
    print(f"wrote {dest}", file=out)
    return 0


def _cmd_report(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from . import report, runner
    from .store import Store

    out = out or sys.stdout
    ws, subs, targets, budget, rulesets = _plan(args)
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    path = _store_path(args)
    if not path.exists():
        raise UsageError(f"--store {path}: no store there; run `optarena bench run` first", field="--store")
    with Store(path, create=False) as store:
        summary = runner.summarise(store, ws, subs, targets, budget, rulesets, quick=args.quick)
    for f in report.write_report(summary, args.output, formats=formats):
        print(f"wrote {f}", file=out)
    return 0
