"""Web arena: API latency over loopback and the page's frame rate, measured in one run.

    python benchmarks/bench_web.py [--requests 200] [--seconds 4]

1. POST /api/race with 5 racers x 1,000 steps on Rosenbrock (kernels warmed first, as a running
   server's would be), median and p95 over loopback with a keep-alive HTTP client.
2. Frames per second while the page animates 10 racers in headless Chromium.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time

RACE = {
    "landscape": {"name": "rosenbrock"},
    "racers": [{"optimizer": n, "hyperparameters": {"learning_rate": lr}} for n, lr in
               [("sgd", 1e-3), ("momentum", 1e-3), ("adam", 1e-2), ("rmsprop", 1e-2), ("adagrad", 0.1)]],
    "steps": 1000,
}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _server():
    import uvicorn

    from optarena.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def latency(url: str, n: int) -> None:
    import httpx

    from optarena.arena import race

    race(RACE["landscape"], [{"optimizer": r["optimizer"], "hyperparameters": r["hyperparameters"]} for r in RACE["racers"]],
         steps=5, engine="fused")  # warm the compiled loops, as a server that has seen these racers
    with httpx.Client() as client:
        for _ in range(5):
            client.post(url + "/api/race", json=RACE).raise_for_status()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.post(url + "/api/race", json=RACE)
            r.raise_for_status()
            ts.append(time.perf_counter() - t0)
    ts.sort()
    med, p95 = statistics.median(ts), ts[int(0.95 * (len(ts) - 1))]
    size = len(r.content)
    print(f"\n### API: POST /api/race, 5 racers x 1,000 steps, {n} requests over loopback ({size / 1e3:.0f} kB each)\n")
    print(f"median {med * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms (target p95 < 20 ms: {'met' if p95 < 0.02 else 'NOT met'})")


def frame_rate(url: str, seconds: float) -> None:
    from playwright.sync_api import sync_playwright

    from optarena.web.static_state import encode_state

    racers = [{"optimizer": n, "hyperparameters": {}} for n in
              ["sgd", "momentum", "adam", "adamw", "nadam", "radam", "rmsprop", "adagrad", "adadelta", "adamax"]]
    state = {"landscape": {"name": "quadratic", "params": {}}, "racers": racers, "steps": 5000, "speed": 120}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 950})
        page.goto(f"{url}/#s={encode_state(state)}")
        page.wait_for_selector("body[data-ready='1']", timeout=60000)
        page.click("#play")
        page.wait_for_timeout(500)
        f0 = page.evaluate("window.arena.frames")
        t0 = time.perf_counter()
        page.wait_for_timeout(seconds * 1000)
        f1 = page.evaluate("window.arena.frames")
        fps = (f1 - f0) / (time.perf_counter() - t0)
        b.close()
    print(f"\n### Page: 10 racers animating in headless Chromium for {seconds:g} s\n")
    print(f"{fps:.1f} frames per second (target >= 55: {'met' if fps >= 55 else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    server, url = _server()
    try:
        latency(url, args.requests)
        frame_rate(url, args.seconds)
    finally:
        server.should_exit = True


if __name__ == "__main__":
    main()
