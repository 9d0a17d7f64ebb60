"""Export speed: GIF and MP4 of a race, against a naive redraw-every-frame GIF of the same frames.

    python benchmarks/bench_export.py [--steps 100] [--rounds 3] [--naive-rounds 1] [--dpi 100]

The race: SGD, momentum and Adam on Rosenbrock for STEPS steps; one frame per step at the
default 11 x 5 inch size. Ours renders the contour once and redraws only the moving artists,
then quantises every frame against one shared palette. The naive baseline is what a plain
matplotlib animation does (FuncAnimation without blitting): a full canvas redraw per frame,
every frame handed to imageio's Pillow writer, which builds a palette per frame.
Times are medians of ROUNDS (the slow baseline runs NAIVE_ROUNDS times); the target is < 3 s
for each of ours.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from optarena.arena import race
from optarena.export import export
from optarena.export._common import frame_steps
from optarena.export.images import Scene

RACERS = ["sgd(learning_rate=0.001)", "momentum(learning_rate=0.001)", "adam(learning_rate=0.05)"]


def naive_gif(result, path: Path, dpi: int, fps: int = 20) -> None:
    import imageio.v3 as iio

    sc = Scene(result, dpi=dpi)
    frames = []
    for k in frame_steps(result.steps, fps, None):
        sc.show(int(k))
        sc.fig.canvas.draw()  # the whole figure, contour included, every frame
        sc.fig.set_layout_engine("none")  # but laid out once: the baseline is the redraw alone
        frames.append(np.asarray(sc.fig.canvas.buffer_rgba())[..., :3].copy())
    iio.imwrite(path, np.stack(frames), plugin="pillow", duration=1000 / fps, loop=0)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--naive-rounds", type=int, default=1)
    ap.add_argument("--dpi", type=int, default=100)
    args = ap.parse_args()
    res = race("rosenbrock", RACERS, steps=args.steps)
    jobs = {
        "optarena GIF": lambda d: export(res, d / "a.gif", dpi=args.dpi),
        "optarena MP4": lambda d: export(res, d / "a.mp4", dpi=args.dpi),
        "naive redraw-every-frame GIF": lambda d: naive_gif(res, d / "n.gif", args.dpi),
    }
    times: dict[str, list[float]] = {k: [] for k in jobs}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        jobs["optarena GIF"](d)  # warm-up: imports and font caches
        for r in range(args.rounds):
            for k, job in jobs.items():
                if k.startswith("naive") and r >= args.naive_rounds:
                    continue
                times[k].append(timed(lambda: job(d)))
        sizes = {k: (d / n).stat().st_size for k, n in zip(jobs, ("a.gif", "a.mp4", "n.gif"))}
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(frame_steps(args.steps, 20, None))
    print(f"\n### Export: 3 optimizers x {args.steps} steps, {n} frames at dpi {args.dpi} "
          f"(median of {args.rounds}; naive: {args.naive_rounds})\n")
    print("| export | time (s) | naive / it | file (KiB) |")
    print("|---|---:|---:|---:|")
    naive = med["naive redraw-every-frame GIF"]
    for k, v in med.items():
        print(f"| {k} | {v:.2f} | {naive / v:.2f} | {sizes[k] / 1024:.0f} |")
    ok = all(med[k] < 3.0 for k in ("optarena GIF", "optarena MP4"))
    print(f"\ntarget < 3 s each: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
