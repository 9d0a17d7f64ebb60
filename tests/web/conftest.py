"""A real server on a free loopback port, started and stopped by the tests themselves."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(port: int, log: Path | None = None, workers: int = 1) -> Iterator[subprocess.Popen]:
    """``optarena serve`` in its own process, answering on ``port``; Ctrl-C'd (killed if it
    hangs) on the way out. Its own process: the pytest process must stay free of uvicorn, whose
    logging set-up closes every logging handler in the process (absl's, imported with jax or
    keras, then closes the stream it took at import: it can be pytest's capture file; CI once
    died there), and of the server's compiles, which hold a GIL.
    Its output goes to pipes, or to ``log`` for a long-lived server (a full pipe would block it)."""
    out = open(log, "w") if log else subprocess.PIPE
    proc = subprocess.Popen([sys.executable, "-m", "optarena", "serve", "--no-browser", "--port", str(port),
                             "--workers", str(workers)],
                            stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.communicate()  # closes the pipes
        if log:
            out.close()


def wait_until_answering(url: str, timeout: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the test server exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url + "/api/optimizers", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"the test server at {url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def server_url():
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with serving(port, log=ARTIFACTS / "server.log") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url, proc=proc)
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM} (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def open_page(browser, server_url: str, width: int = 1400, height: int = 950, link: str = "", **context_args) -> Iterator:
    """The page (``link``, e.g. a ``#s=`` state, after its address), loaded and ready, in a fresh
    browser context of the given viewport. Nothing may leave the machine (requests elsewhere are
    aborted and listed) and no console error may show: both are checked on the way out."""
    # Playwright's wait_for_function evaluates its predicate strings with eval, which the page's
    # Content-Security-Policy forbids: tests bypass it, except test_origin's, which drive the page
    # under the policy and fail on any violation (the console reports each one as an error)
    context_args.setdefault("bypass_csp", True)
    context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
    pg = context.new_page()
    pg.errors = []
    pg.outside = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))

    def guard(route):
        url = route.request.url
        if url.startswith(server_url) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            pg.outside.append(url)
            route.abort()

    pg.route("**/*", guard)
    try:
        pg.goto(server_url + "/" + link)
        pg.wait_for_selector("body[data-ready='1']", timeout=30000)
        yield pg
        assert pg.errors == [], pg.errors
        assert pg.outside == [], pg.outside
    finally:
        context.close()


def run_coroutine(coro):
    """``asyncio.run(coro)`` in a thread of its own: the browser tests' Playwright (sync API) keeps an
    event loop running in the main thread for the whole session, where asyncio.run refuses to start."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
