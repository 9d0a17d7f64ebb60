"""Load on one ``optarena serve`` over loopback: crashes, 5xx, latency and memory.

    python benchmarks/bench_serve.py [--duration 600] [--clients 10] [--warmup 20] [--url http://127.0.0.1:PORT]
    python benchmarks/bench_serve.py --scenario students --clients 30 --workers 2 --duration 120

``--scenario students`` (issue 14, a class sharing one server): each client is a student, on its
own loopback address (127.0.0.2, 127.0.0.3, ...: the per-client limit sees each apart), who loads
the page (the page, its lists, the landscape's grid), races, drags a slider (a burst of races one
after another, as the page sends them), opens the Maps view (a stability map) and now and then
starts a training race (read to its end; 409 while another runs is the documented answer), with
a pause of ``--think`` seconds on average between actions. A probe asks ``GET /api/optimizers``
every 0.2 s all along: its latency while heavy work is in flight is reported apart. Prints p50,
p95 and p99 per endpoint, answers by status, errors (5xx, no answer), and RSS at the start and end.
Bounded in time (``--duration``) and in requests (``--max-requests``); loopback only.

The default scenario, ``random``:

Starts ``optarena serve --no-browser`` on a free loopback port (or uses the server at ``--url``,
loopback only) and stops it at the end. ``--clients`` threads, each on its own keep-alive
connection, send random requests with no pause: races on random landscapes (random parameters)
and typed formulas, random optimizers with random hyperparameters within their ranges, random
schedules, steps and starts up to the API's limits; grids; stability and basin maps; code;
formula checks; and hostile or invalid bodies (NaN, surrogates, 4,300-digit integers, deep
nesting, bytes that are not JSON or not UTF-8, wrong content types, bodies over the limit).
The same load runs for ``--warmup`` seconds first. The RSS of the server's worker processes
(the supervisor's children) is read with the load paused after the warm-up and after the last
request, and sampled every second in between.

Prints a markdown table, and PASS or FAIL for issue 10's target: no worker died (the supervisor
would have replaced it), no 5xx, RSS at the end within 1.5x of RSS after the warm-up. A request
that got a 5xx or no answer is written whole to ``--failures`` (JSON lines).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ipaddress
import json
import math
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from optarena.web.guard import MAX_BODY
from optarena.web.schemas import COORD, MAX_GRID, MAX_MAP, MAX_MAP_WORK, MAX_RACERS, MAX_RUNS, MAX_STARTS, MAX_STEPS

RSS_TARGET = 1.5
IDLE = 3.0  # seconds a kept-alive connection may sit unused before a request opens a new one
TERMS = ["x^2", "y^2", "x*y", "sin(x)", "cos(y)", "sin(x*y)", "exp(-x^2)", "exp(-(x^2 + y^2))", "abs(x)", "abs(y)",
         "tanh(y)", "log(1 + x^2)", "sqrt(x^2 + y^2 + 1)", "x^4", "(1 - x)^2", "(y - x^2)^2", "cos(2*x)*cos(2*y)"]
# Formulas a class would type again and again; the rest of the formula load is new text each time.
USUAL = ["x^2 + 10*y^2", "sin(x)*cos(y) + 0.1*(x^2 + y^2)", "(1 - x)^2 + 100*(y - x^2)^2", "abs(x) + abs(y)",
         "x^4 - 3*x^2 + y^2", "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"]


# ----------------------------------------------------------------------------- the wire

class Wire:
    """One keep-alive HTTP/1.1 connection; each request leaves in a single write (http.client
    writes headers and body apart, which costs a 40 ms delayed ACK per answer on loopback)."""

    def __init__(self, host: str, port: int, timeout: float, source: str | None = None) -> None:
        self.host, self.port, self.timeout, self.source = host, port, timeout, source
        self.sock: socket.socket | None = None
        self.last = 0.0

    def send(self, method: str, path: str, body: bytes = b"", content_type: str | None = "application/json") -> tuple[int, bytes]:
        if self.sock is not None and time.monotonic() - self.last > IDLE:
            self.close()  # the server may be closing it (uvicorn's keep-alive timeout is 5 s): start afresh
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout,
                                                 source_address=(self.source, 0) if self.source else None)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        try:
            self.sock.sendall((head + "\r\n").encode("latin-1") + body)
            resp = http.client.HTTPResponse(self.sock, method=method)
            resp.begin()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        self.last = time.monotonic()
        if resp.will_close:
            self.close()
        return resp.status, data

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# ----------------------------------------------------------------------------- random requests

class Load:
    """Random request bodies drawn from the server's own lists (GET /api/optimizers, /api/landscapes,
    /api/schedules) and the API's limits."""

    def __init__(self, catalog: dict[str, Any]) -> None:
        self.optimizers = catalog["optimizers"]
        self.landscapes = catalog["landscapes"]
        self.schedules = catalog["schedules"]

    # ---- pieces

    @staticmethod
    def _round(v: float, digits: int = 3) -> float:
        return float(f"{v:.{digits}g}")

    def hp_value(self, rng: random.Random, h: dict[str, Any]) -> Any:
        if h["type"] == "bool":
            return rng.random() < 0.5
        lo, hi = h["min"] if h["min"] is not None else 0.0, h["max"]
        if hi is None:
            if h["log"]:
                return 0.0 if rng.random() < 0.05 and not h["min_open"] else self._round(10 ** rng.uniform(-6, 1))
            return self._round(rng.uniform(lo, lo + 2 * max(1.0, abs(h["default"] or 0.0))))
        v = self._round(rng.uniform(lo, hi))
        if h["max_open"] and v >= hi:
            v = math.nextafter(hi, lo)
        return v

    def hyperparameters(self, rng: random.Random, opt: dict[str, Any], share: float = 0.4) -> dict[str, Any]:
        return {h["name"]: self.hp_value(rng, h) for h in opt["hyperparameters"] if rng.random() < share}

    def schedule(self, rng: random.Random) -> dict[str, Any]:
        s = dict(rng.choice(self.schedules))
        for k, v in list(s.items()):
            if k != "name":
                s[k] = rng.randint(1, 2 * max(1, v)) if isinstance(v, int) else self._round(rng.uniform(0.0, 1.0))
        return s

    def racer(self, rng: random.Random, opt: dict[str, Any] | None = None) -> dict[str, Any]:
        opt = opt or rng.choice(self.optimizers)
        r: dict[str, Any] = {"optimizer": rng.choice([opt["name"], *opt["aliases"]]) if rng.random() < 0.1 else opt["name"],
                             "hyperparameters": self.hyperparameters(rng, opt)}
        if rng.random() < 0.25:
            r["schedule"] = self.schedule(rng)
        if rng.random() < 0.1:
            r["label"] = rng.choice(["mine", "fast one", "\u00e9l\u00e8ve", "\U0001f680"]) + str(rng.randint(0, 99))
        return r

    def formula(self, rng: random.Random) -> str:
        if rng.random() < 0.5:
            return rng.choice(USUAL)
        terms = rng.sample(TERMS, rng.randint(1, 5))
        return " + ".join(f"{self._round(rng.uniform(0.1, 10), 2)}*{t}" for t in terms)

    def landscape(self, rng: random.Random, formula_share: float = 0.0) -> tuple[dict[str, Any], list[list[float]]]:
        """(the body's landscape, its window)."""
        if rng.random() < formula_share:
            spec: dict[str, Any] = {"formula": self.formula(rng)}
            window = [[-3.0, 3.0], [-3.0, 3.0]]
            if rng.random() < 0.3:
                half = self._round(10 ** rng.uniform(-1, 2))
                window = [[-half, half], [-half, half]]
                spec["window"] = window
            return spec, window
        ls = rng.choice(self.landscapes)
        spec = {"name": ls["name"]}
        if ls["schema"] and rng.random() < 0.7:
            spec["params"] = {k: self._round(rng.uniform(s["min"], s["max"])) for k, s in ls["schema"].items()}
        return spec, ls["window"]

    @staticmethod
    def _log_int(rng: random.Random, lo: int, hi: int) -> int:
        return max(lo, min(hi, round(math.exp(rng.uniform(math.log(lo), math.log(hi))))))

    # ---- bodies, by kind

    def race(self, rng: random.Random, formula_share: float = 0.0) -> dict[str, Any]:
        landscape, window = self.landscape(rng, formula_share)
        n_racers = rng.randint(1, 4) if rng.random() < 0.85 else rng.randint(5, MAX_RACERS)
        body: dict[str, Any] = {"landscape": landscape, "racers": [self.racer(rng) for _ in range(n_racers)],
                                "steps": self._log_int(rng, 1, MAX_STEPS), "seed": rng.randint(0, 2**31 - 1)}
        if rng.random() < 0.4:
            n = rng.randint(1, min(MAX_STARTS, MAX_RUNS // n_racers)) if rng.random() < 0.7 else min(MAX_STARTS, MAX_RUNS // n_racers)
            (x0, x1), (y0, y1) = window
            body["starts"] = [[self._round(rng.uniform(x0, x1)), self._round(rng.uniform(y0, y1))] if rng.random() < 0.95
                              else [rng.uniform(-COORD, COORD), rng.uniform(-COORD, COORD)] for _ in range(n)]
        if rng.random() < 0.3:
            body["noise"] = self._round(rng.uniform(0, 1) if rng.random() < 0.9 else rng.uniform(0, 1e3))
        if rng.random() < 0.2:
            body["clip"] = self._round(10 ** rng.uniform(-1, 3))
        if rng.random() < 0.2:
            body["tolerance"] = self._round(10 ** rng.uniform(-8, 0))
        return body

    def grid(self, rng: random.Random) -> dict[str, Any]:
        return {"landscape": self.landscape(rng, 0.3)[0], "n": rng.randint(10, MAX_GRID)}

    def map(self, rng: random.Random) -> dict[str, Any]:
        body: dict[str, Any] = {"landscape": self.landscape(rng, 0.2)[0], "seed": rng.randint(0, 1000),
                                "objective": rng.choice(["final_loss", "best_loss", "steps_to_tolerance"])}
        if rng.random() < 0.5:
            n = rng.randint(10, MAX_MAP)
            body.update(racer=self.racer(rng), basins=n, steps=self._log_int(rng, 1, min(MAX_STEPS, MAX_MAP_WORK // n**2)))
            return body
        opt = rng.choice(self.optimizers)
        numeric = [h for h in opt["hyperparameters"] if h["type"] == "float"]
        axes = []
        for h in rng.sample(numeric, 2):
            if h["max"] is None:
                lo = self._round(10 ** rng.uniform(-5, -1))
                axes.append({"name": h["name"], "lo": lo, "hi": self._round(lo * 10 ** rng.uniform(0.5, 3)), "log": True})
            elif h["min"] is None:  # bounded above only (Adafactor's beta2_decay <= 0)
                lo = self._round(rng.uniform(h["max"] - 2.0, h["max"] - 0.5))
                axes.append({"name": h["name"], "lo": lo, "hi": self._round(rng.uniform(lo + 0.01, h["max"]))})
            else:
                lo = self._round(rng.uniform(h["min"], h["max"] * 0.5))
                axes.append({"name": h["name"], "lo": lo, "hi": self._round(rng.uniform(lo + 0.01, h["max"] * 0.999))})
        nx, ny = rng.randint(2, MAX_MAP), rng.randint(2, MAX_MAP)
        axes[0]["n"], axes[1]["n"] = nx, ny
        racer = self.racer(rng, opt)
        racer["hyperparameters"] = {k: v for k, v in racer["hyperparameters"].items() if k not in (axes[0]["name"], axes[1]["name"])}
        body.update(racer=racer, x=axes[0], y=axes[1], steps=self._log_int(rng, 1, min(MAX_STEPS, MAX_MAP_WORK // (nx * ny))))
        return body

    def code(self, rng: random.Random) -> dict[str, Any]:
        opt = rng.choice(self.optimizers)
        return {"optimizer": opt["name"], "hyperparameters": self.hyperparameters(rng, opt, 0.6),
                "framework": rng.choice(["torch", "keras", "optax"])}

    def formula_check(self, rng: random.Random) -> dict[str, Any]:
        text = self.formula(rng)
        if rng.random() < 0.3:  # typed wrong: cut, doubled operator, unknown function
            text = rng.choice([text[: rng.randint(0, len(text))], text.replace("+", "++", 1), text + " + foo(x)", text.replace("(", "", 1)])
        return {"formula": text}

    def hostile(self, rng: random.Random) -> tuple[str, bytes, str | None]:
        """(path, body, content type): an invalid or hostile request that must get a 4xx."""
        path = rng.choice(["/api/race", "/api/grid", "/api/formula", "/api/sweep", "/api/code", "/api/train"])
        bad = rng.choice(["NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", '"\\ud800"', '"\\udfff"', "true",
                          "9" * rng.randint(20, 4300), "[" * 5000 + "]" * 5000, '{"a": ' * 800 + "0" + "}" * 800, "null",
                          '"' + "x" * rng.randint(100, 3000) + '"', "[1, 2, 3]", '{"k": 1}'])
        template = rng.choice([
            '{"steps": @}', '{"noise": @}', '{"starts": [[1, @]]}', '{"racers": [{"optimizer": @}]}',
            '{"racers": [{"optimizer": "adam", "hyperparameters": {"learning_rate": @}}]}',
            '{"racers": [{"optimizer": "adam", "schedule": {"name": "cosine", "t_max": @}}]}',
            '{"landscape": {"name": "ill_conditioned", "params": {"kappa": @}}}', '{"landscape": {"formula": @}}',
            '{"n": @}', '{"formula": @}', '{"optimizer": @}', '{"basins": @}', '{"epochs": @}', '{"dataset": @}',
            '{"\\ud800": @}', '{"unknown": @}', "@"])
        how = rng.random()
        if how < 0.7:
            return path, template.replace("@", bad).encode(), "application/json"
        if how < 0.78:
            return path, json.dumps(self.race(rng)).encode(), rng.choice(["text/plain", None, "application/x-www-form-urlencoded", ""])
        if how < 0.86:
            return path, bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))), "application/json"
        if how < 0.92:
            raw = json.dumps(self.race(rng)).encode()
            i = rng.randint(0, len(raw))
            return path, raw[:i] + rng.choice([b"\xff", b"\xed\xa0\x80", b"\xc3\x28"]) + raw[i:], "application/json"
        if how < 0.97:
            return path, rng.choice([b"", b"null", b"[]", b"{", b'"x"', b"0"]), "application/json"
        return path, json.dumps({"k": "x" * (MAX_BODY + rng.randint(1, 50_000))}).encode(), "application/json"  # 413


KINDS: dict[str, tuple[str, float]] = {  # kind: (path, share of the load)
    "race": ("/api/race", 0.30), "formula race": ("/api/race", 0.10), "grid": ("/api/grid", 0.12),
    "map": ("/api/sweep", 0.08), "code": ("/api/code", 0.10), "formula check": ("/api/formula", 0.10),
    "hostile": ("", 0.20),
}


def draw(load: Load, rng: random.Random) -> tuple[str, str, bytes, str | None]:
    """(kind, path, body, content type)."""
    kind = rng.choices(list(KINDS), weights=[w for _, w in KINDS.values()])[0]
    if kind == "hostile":
        return (kind, *load.hostile(rng))
    body = {"race": load.race, "formula race": lambda r: load.race(r, 1.0), "grid": load.grid, "map": load.map,
            "code": load.code, "formula check": load.formula_check}[kind](rng)
    return kind, KINDS[kind][0], json.dumps(body).encode(), "application/json"


# ----------------------------------------------------------------------------- students

class Student:
    """What one student does on the page, as the page sends it (one race in flight at a time)."""

    def __init__(self, i: int, host: str, port: int, load: Load, seed: int, timeout: float, think: float) -> None:
        self.i, self.load, self.think = i, load, think
        self.rng = random.Random(seed * 7919 + i)
        self.source = f"127.0.{(i + 2) // 250}.{(i + 2) % 250 + 1}"  # not 127.0.0.1: every student its own address
        self.wire = Wire(host, port, timeout, source=self.source)
        self.names = [o["name"] for o in load.optimizers if o["name"] in ("sgd", "momentum", "adam", "rmsprop", "nadam",
                                                                            "adagrad", "adamw")] or [load.optimizers[0]["name"]]

    def _race(self, landscape: dict[str, Any], racers: list[dict[str, Any]], steps: int) -> bytes:
        return json.dumps({"landscape": landscape, "racers": racers, "steps": steps}).encode()

    def actions(self) -> Any:
        """(kind, method, path, body) of each request, in a student's order, forever."""
        rng = self.rng
        ls = rng.choice([{"name": "quadratic"}, {"name": "rosenbrock"}, {"name": "himmelblau"}, {"name": "beale"},
                         {"name": "ill_conditioned", "params": {"kappa": 10}}])
        racers = [{"optimizer": n, "hyperparameters": {}} for n in rng.sample(self.names, 3)]
        yield "page", "GET", "/", b""
        for what in ("optimizers", "landscapes", "schedules", "limits"):
            yield "lists", "GET", f"/api/{what}", b""
        yield "grid", "POST", "/api/grid", json.dumps({"landscape": ls, "n": 120}).encode()
        yield "race", "POST", "/api/race", self._race(ls, racers, 100)
        while True:
            action = rng.choices(["drag", "map", "train", "landscape"], weights=[0.70, 0.15, 0.03, 0.12])[0]
            if action == "drag":  # a slider dragged: a burst of races, each sent when the last is answered
                r = rng.randrange(len(racers))
                lr = 10 ** rng.uniform(-3, -0.5)
                for _ in range(rng.randint(3, 10)):
                    lr *= 10 ** rng.uniform(-0.08, 0.08)
                    racers[r]["hyperparameters"] = {"learning_rate": float(f"{lr:.4g}")}
                    if "params" in ls and rng.random() < 0.5:  # or the kappa slider
                        ls = {"name": ls["name"], "params": {"kappa": float(f"{rng.uniform(1, 200):.4g}")}}
                    yield "race (drag)", "POST", "/api/race", self._race(ls, racers, 100)
            elif action == "map":
                opt = racers[0]["optimizer"]
                yield "map", "POST", "/api/sweep", json.dumps({
                    "landscape": ls, "racer": {"optimizer": opt, "hyperparameters": {}}, "steps": 100, "objective": "final_loss",
                    "x": {"name": "learning_rate", "lo": 1e-4, "hi": 1.0, "n": 30, "log": True},
                    "y": {"name": "weight_decay", "lo": 0.0, "hi": 0.1, "n": 20}}).encode()
            elif action == "train":
                yield "train", "POST", "/api/train", json.dumps({
                    "dataset": "moons", "model": "mlp", "epochs": 3, "seeds": 1,
                    "racers": [{"optimizer": r["optimizer"]} for r in racers[:2]]}).encode()
            else:
                ls = rng.choice([{"name": "quadratic"}, {"name": "rosenbrock"}, {"name": "himmelblau"}, {"name": "booth"},
                                 {"name": "ill_conditioned", "params": {"kappa": float(f"{rng.uniform(1, 500):.4g}")}}])
                yield "grid", "POST", "/api/grid", json.dumps({"landscape": ls, "n": 120}).encode()
                yield "race", "POST", "/api/race", self._race(ls, racers, 100)
            yield "pause", "", "", b""


HEAVY_KINDS = {"race", "race (drag)", "map", "train"}


def student(st: Student, record: "Record", go: threading.Event, phase: Callable[[], str | None], heavy: list[int],
            max_requests: int) -> None:
    rng = st.rng
    try:
        for kind, method, path, body in st.actions():
            if kind == "pause":
                time.sleep(min(rng.expovariate(1 / st.think), 5 * st.think) if st.think > 0 else 0)
                continue
            go.wait()
            current = phase()
            if current is None:
                return
            with record.lock:
                if record.sent >= max_requests:
                    return
                record.sent += 1
                if kind in HEAVY_KINDS:
                    heavy[0] += 1
            t0 = time.perf_counter()
            failed = None
            try:
                status, data = st.wire.send(method, path, body, "application/json" if method == "POST" else None)
                outcome = str(status)
                broken = status >= 500 and status != 503 or (status not in (200, 409, 429, 503))
                if kind == "train" and status == 200 and b'"type":"done"' not in data:
                    outcome, broken = "stream without its end", True
            except (OSError, http.client.HTTPException) as exc:
                status, data, outcome, broken = 0, repr(exc).encode(), "no answer", True
            finally:
                with record.lock:
                    if kind in HEAVY_KINDS:
                        heavy[0] -= 1
            seconds = time.perf_counter() - t0
            if broken or status >= 500:
                failed = {"time": time.time(), "client": st.i, "kind": kind, "path": path, "status": status,
                          "answer": data[:2000].decode("utf-8", "backslashreplace"), "seconds": round(seconds, 3),
                          "body": body.decode("utf-8", "backslashreplace")}
            record.add(current, kind, outcome, seconds, failed)
    finally:
        st.wire.close()


def probe(host: str, port: int, record: "Record", heavy: list[int], stop: threading.Event, phase: Callable[[], str | None]) -> None:
    """GET /api/optimizers every 0.2 s: 'light (idle)' when no heavy request is in flight, else 'light (busy)'."""
    wire = Wire(host, port, 30)
    try:
        while not stop.wait(0.2):
            current = phase()
            if current is None:
                return
            busy = heavy[0] > 0
            t0 = time.perf_counter()
            try:
                status, _ = wire.send("GET", "/api/optimizers", content_type=None)
                outcome = str(status)
            except (OSError, http.client.HTTPException):
                outcome = "no answer"
            if heavy[0] > 0 and busy:  # heavy work in flight from before it was sent until it was answered
                record.add(current, "light while heavy work runs", outcome, time.perf_counter() - t0, None)
            elif not busy and heavy[0] == 0:
                record.add(current, "light (idle)", outcome, time.perf_counter() - t0, None)
    finally:
        wire.close()


# ----------------------------------------------------------------------------- the server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback(host: str) -> bool:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def _answering(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> dict[str, Any]:
    """The catalog (optimizers, landscapes, schedules) once the server answers."""
    deadline = time.time() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode} before answering")
        try:
            w = Wire(host, port, 30)
            catalog = {k: json.loads(w.send("GET", f"/api/{k}", content_type=None)[1])
                       for k in ("optimizers", "landscapes", "schedules")}
            w.close()
            return catalog
        except (OSError, http.client.HTTPException, ValueError):
            if time.time() > deadline:
                raise SystemExit(f"no answer from {host}:{port} within {timeout:.0f} s") from None
            time.sleep(0.2)


def _server_pid(port: int) -> int | None:
    """The supervisor listening on ``port``: psutil names one process per socket, the supervisor
    or one of its workers (which shares the socket)."""
    import psutil

    try:
        pids = {c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid}
        if len(pids) != 1:
            return None
        proc = psutil.Process(pids.pop())
        if any("spawn_main" in part for part in proc.cmdline()):  # a worker: its parent supervises it
            proc = proc.parent()
        return proc.pid if proc is not None else None
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        return None


class Monitor:
    """The supervisor's worker processes (its children but the multiprocessing resource
    tracker): their PIDs and summed RSS, sampled every second."""

    def __init__(self, server_pid: int | None) -> None:
        import psutil

        self.psutil = psutil
        self.server = psutil.Process(server_pid) if server_pid else None
        self.first = self.workers() if self.server else set()
        self.seen = set(self.first)
        self.server_exited = False
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def workers(self) -> set[int]:
        assert self.server is not None
        out = set()
        for p in self.server.children():
            try:
                if not any("resource_tracker" in part for part in p.cmdline()):
                    out.add(p.pid)
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                pass
        return out

    def rss(self) -> int:
        total = 0
        for pid in self.workers():
            try:
                total += self.psutil.Process(pid).memory_info().rss
            except self.psutil.NoSuchProcess:
                pass
        return total

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            self.sample()

    def sample(self) -> None:
        if self.server is None:
            return
        if not self.server.is_running():
            self.server_exited = True
            return
        self.seen |= self.workers()
        self.peak = max(self.peak, self.rss())

    @property
    def deaths(self) -> int:
        """Workers that were replaced: every worker PID seen that was not there at the start."""
        return len(self.seen - self.first) + self.server_exited


# ----------------------------------------------------------------------------- the run

class Record:
    def __init__(self, failures: Path) -> None:
        self.lock = threading.Lock()
        self.status: dict[str, dict[str, Counter]] = {"warm-up": defaultdict(Counter), "load": defaultdict(Counter)}
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.failures = failures
        self.n_failures = 0
        self.sent = 0

    def add(self, phase: str, kind: str, outcome: str, seconds: float, failed: dict[str, Any] | None) -> None:
        with self.lock:
            self.status[phase][kind][outcome] += 1
            if phase == "load":
                self.latency[kind].append(seconds)
            if failed is not None:
                self.n_failures += 1
                with self.failures.open("a") as f:
                    f.write(json.dumps(failed) + "\n")


def client(i: int, host: str, port: int, load: Load, record: Record, seed: int, go: threading.Event,
           phase: Callable[[], str | None], busy: list[int], max_requests: int, timeout: float, think: float) -> None:
    rng = random.Random(seed * 1000 + i)
    wire = Wire(host, port, timeout)
    try:
        while True:
            go.wait()
            current = phase()
            if current is None:
                return
            with record.lock:  # the pause for an RSS reading clears ``go`` under this lock
                if not go.is_set():
                    continue
                if record.sent >= max_requests:
                    return
                record.sent += 1
                busy[i] = 1
            kind, path, body, ctype = draw(load, rng)
            t0 = time.perf_counter()
            failed = None
            try:
                status, data = wire.send("POST", path, body, ctype)
                outcome = str(status)
                broken = status >= 500 or (status == 200 and not (data[:1] == b"{" and data.rstrip()[-1:] == b"}"))
                broken = broken or (400 <= status < 500 and not _has_detail(data))
            except (OSError, http.client.HTTPException) as exc:
                status, data = 0, repr(exc).encode()
                over = len(body) > MAX_BODY and isinstance(exc, (ConnectionResetError, BrokenPipeError))
                outcome = "reset (over the limit)" if over else "no answer"
                broken = not over
            seconds = time.perf_counter() - t0
            if broken:
                failed = {"time": time.time(), "client": i, "kind": kind, "path": path, "content_type": ctype, "status": status,
                          "answer": data[:2000].decode("utf-8", "backslashreplace"), "seconds": round(seconds, 3),
                          "body": body.decode("utf-8", "backslashreplace"), "body_base64": base64.b64encode(body).decode()}
            record.add(current, kind, outcome, seconds, failed)
            busy[i] = 0
            if think > 0:
                time.sleep(min(rng.expovariate(1 / think), 10 * think))
    finally:
        busy[i] = 0
        wire.close()


def _has_detail(data: bytes) -> bool:
    try:
        return "detail" in json.loads(data)
    except (ValueError, TypeError):
        return False


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600, help="seconds of measured load (after the warm-up)")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=20, help="seconds of the same load before RSS is first read")
    ap.add_argument("--url", help="a server already running on loopback (default: start one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds a client waits between its requests (default: none)")
    ap.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests in all")
    ap.add_argument("--timeout", type=float, default=60, help="seconds a request may go unanswered")
    ap.add_argument("--scenario", choices=["random", "students"], default="random",
                    help="random: random and hostile requests (issue 10); students: a class on the page (issue 14)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes of the server it starts (default 1)")
    ap.add_argument("--failures", type=Path, default=None, help="JSON lines of every request that got a 5xx or no answer "
                                                                  "(default /tmp/bench_serve-failures-<time>.jsonl)")
    args = ap.parse_args()
    if args.clients < 1 or args.duration <= 0 or args.warmup < 0:
        ap.error("--clients must be >= 1, --duration > 0, --warmup >= 0")
    failures = args.failures or Path(f"/tmp/bench_serve-failures-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")

    proc = None
    log = None
    if args.url:
        u = urlsplit(args.url)
        host, port = u.hostname or "", u.port or 80
        if u.scheme != "http" or not _loopback(host):
            ap.error(f"--url must be http:// on a loopback address (this load is not for other machines): {args.url}")
    else:
        host, port = "127.0.0.1", _free_port()
        log = Path(f"/tmp/bench_serve-server-{port}.log")
        proc = subprocess.Popen([sys.executable, "-m", "optarena", "serve", "--no-browser", "--port", str(port),
                                 "--workers", str(args.workers)],
                                stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        catalog = _answering(host, port, 120, proc)
        monitor = Monitor(proc.pid if proc else _server_pid(port))
        load = Load(catalog)
        record = Record(failures)
        go = threading.Event()
        go.set()
        state = {"phase": "warm-up" if args.warmup > 0 else "load"}
        busy = [0] * args.clients
        if args.scenario == "students":
            heavy = [0]
            stop_probe = threading.Event()
            threads = [threading.Thread(target=student, daemon=True,
                                        args=(Student(i, host, port, load, args.seed, args.timeout, args.think), record, go,
                                              lambda: state["phase"], heavy, args.max_requests))
                       for i in range(args.clients)]
            threads.append(threading.Thread(target=probe, daemon=True,
                                            args=(host, port, record, heavy, stop_probe, lambda: state["phase"])))
            busy = heavy  # quiet_rss waits for no heavy request in flight
        else:
            threads = [threading.Thread(target=client, daemon=True,
                                        args=(i, host, port, load, record, args.seed, go, lambda: state["phase"], busy,
                                              args.max_requests, args.timeout, args.think))
                       for i in range(args.clients)]
        monitor.thread.start()
        for t in threads:
            t.start()

        def quiet_rss() -> int:
            """RSS with no request in flight (the load paused), so both readings see the same state."""
            deadline = time.time() + args.timeout + 15
            while any(busy) and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
            return monitor.rss() if monitor.server else 0

        if args.warmup > 0:
            time.sleep(args.warmup)
            with record.lock:
                go.clear()
            rss_warm = quiet_rss()
            state["phase"] = "load"
            go.set()
        else:
            rss_warm = quiet_rss()
        t_load = time.time()
        end = t_load + args.duration
        while time.time() < end and any(t.is_alive() for t in threads):
            time.sleep(min(1.0, max(0.0, end - time.time())))
        state["phase"] = None
        for t in threads:
            t.join(args.timeout + 15)
        load_seconds = time.time() - t_load
        rss_end = quiet_rss()
        monitor.stop.set()
        monitor.sample()
        deaths = monitor.deaths
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    if args.scenario == "students":
        _report_students(args, record, load_seconds, monitor, rss_warm, rss_end, deaths, failures, log)
    else:
        _report(args, record, load_seconds, monitor, rss_warm, rss_end, deaths, failures, log)
    return 0


def _report_students(args: argparse.Namespace, record: Record, load_seconds: float, monitor: Monitor, rss_warm: int,
                     rss_end: int, deaths: int, failures: Path, log: Path | None) -> None:
    load = record.status["load"]
    kinds = [k for k in ("page", "lists", "grid", "race", "race (drag)", "map", "train", "light (idle)",
                         "light while heavy work runs") if k in load]
    outcomes = sorted({o for c in load.values() for o in c}, key=lambda o: (not o.isdigit(), o))
    n_workers = len(monitor.first) if monitor.server else "?"
    print(f"\n### bench_serve --scenario students: {args.clients} students ({args.think:g} s mean pause between actions), "
          f"{load_seconds:.0f} s after a {args.warmup:g} s warm-up, {n_workers} worker(s), loopback, seed {args.seed}\n")
    print("| endpoint | sent | " + " | ".join(outcomes) + " | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|" + "---:|" * len(outcomes) + "---:|---:|---:|")
    errors = 0
    for k in kinds:
        lat = record.latency[k]
        errors += sum(n for o, n in load[k].items() if not o.isdigit() or (int(o) >= 500 and o != "503"))
        print(f"| {k} | {sum(load[k].values())} | " + " | ".join(str(load[k][o]) for o in outcomes) +
              f" | {_pct(lat, 0.5) * 1e3:.0f} | {_pct(lat, 0.95) * 1e3:.0f} | {_pct(lat, 0.99) * 1e3:.0f} |")
    mb = 1024 * 1024
    print("\n| measure | value |\n|---|---|")
    print(f"| errors (5xx but 503, no answer, streams cut) | {errors} |")
    print(f"| refused: 429 (per-client limit) / 503 (busy or over time) / 409 (a training race runs) | "
          f"{sum(c['429'] for c in load.values())} / {sum(c['503'] for c in load.values())} / "
          f"{sum(c['409'] for c in load.values())} |")
    print(f"| worker deaths | {deaths} |")
    if monitor.server:
        print(f"| RSS of the workers after warm-up / at end / peak | {rss_warm / mb:.0f} / {rss_end / mb:.0f} / "
              f"{monitor.peak / mb:.0f} MB |")
    if record.n_failures:
        print(f"\n{record.n_failures} failed requests, written whole to {failures}")
    if log is not None:
        tracebacks = log.read_text(errors="replace").count("Traceback")
        print(f"server log: {log} ({tracebacks} tracebacks)")


def _report(args: argparse.Namespace, record: Record, load_seconds: float, monitor: Monitor, rss_warm: int, rss_end: int,
            deaths: int, failures: Path, log: Path | None) -> None:
    load, warm = record.status["load"], record.status["warm-up"]
    outcomes = sorted({o for per in (load, warm) for c in per.values() for o in c}, key=lambda o: (not o.isdigit(), o))
    kinds = [k for k in KINDS if k in load]
    n_workers = len(monitor.first) if monitor.server else "?"
    pace = f"{args.think:g} s mean pause between requests" if args.think > 0 else "no pause between requests"
    print(f"\n### bench_serve: {args.clients} clients ({pace}), {load_seconds:.0f} s of random load after a {args.warmup:g} s "
          f"warm-up, one server process ({n_workers} worker{'s' if n_workers != 1 else ''}), loopback, seed {args.seed}\n")
    print("| kind | sent | " + " | ".join(outcomes) + " | p50 ms | p95 ms |")
    print("|---|---:|" + "---:|" * len(outcomes) + "---:|---:|")
    total: Counter = Counter()
    for k in kinds:
        total.update(load[k])
        lat = record.latency[k]
        print(f"| {k} | {sum(load[k].values())} | " + " | ".join(str(load[k][o]) for o in outcomes) +
              f" | {_pct(lat, 0.5) * 1e3:.1f} | {_pct(lat, 0.95) * 1e3:.1f} |")
    every = [v for k in kinds for v in record.latency[k]]
    print(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[o]) for o in outcomes) +
          f" | {_pct(every, 0.5) * 1e3:.1f} | {_pct(every, 0.95) * 1e3:.1f} |")

    warm_total: Counter = Counter()
    for c in warm.values():
        warm_total.update(c)
    both = total + warm_total
    n5xx = sum(n for o, n in both.items() if o.isdigit() and int(o) >= 500)
    unanswered = both["no answer"]
    mb = 1024 * 1024
    known = monitor.server is not None
    ratio = rss_end / rss_warm if known and rss_warm else float("nan")
    n503 = both["503"]
    why = [f"{deaths} worker death{'s' if deaths != 1 else ''}"] * bool(deaths)
    why += [f"{n5xx} 5xx ({n503} of them 503: over the time budget)"] * bool(n5xx)
    why += [f"{unanswered} requests without an answer"] * bool(unanswered)
    why += [f"RSS x{ratio:.2f}"] * (not ratio <= RSS_TARGET) + ["the server's processes were not found"] * (not known)
    print("\n| measure | value |\n|---|---|")
    print(f"| requests sent | {sum(both.values())} ({sum(warm_total.values())} in the warm-up, "
          f"{sum(total.values()) / max(load_seconds, 1e-9):.1f}/s after) |")
    print(f"| 5xx | {n5xx} |")
    print(f"| of which 503 (over the time budget, work stopped) | {n503} |")
    print(f"| requests without an answer | {unanswered} |")
    print(f"| resets after a body over the {MAX_BODY:,} B limit (no 413 read) | {both['reset (over the limit)']} |")
    print(f"| process deaths (worker PIDs that changed) | {deaths if known else 'unknown (server PID not found)'} |")
    if known:
        print(f"| RSS after warm-up | {rss_warm / mb:.1f} MB |")
        print(f"| RSS at end | {rss_end / mb:.1f} MB |")
        print(f"| RSS peak (sampled every second) | {monitor.peak / mb:.1f} MB |")
        print(f"| RSS end / warm-up | {ratio:.2f} |")
    print(f"| issue 10 target (0 crashes, 0 5xx, RSS end <= {RSS_TARGET:g}x warm-up) | "
          f"{'FAIL: ' + ', '.join(why) if why else 'PASS'} |")
    if record.n_failures:
        print(f"\n{record.n_failures} failed requests, written whole to {failures}")
    if log is not None:
        tracebacks = log.read_text(errors="replace").count("Traceback")
        if tracebacks or record.n_failures:
            print(f"server log: {log} ({tracebacks} tracebacks)")
        else:
            log.unlink()


if __name__ == "__main__":
    sys.exit(main())
