"""Heavy requests (races, maps, training races) are limited per client address: the next one past
the limit is answered 429 with Retry-After and a body naming the limit, unstarted; other clients
and light requests are not held back (issue 14, "serve a room")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

from optarena.web import guard

from conftest import _free_port, run_coroutine, wait_until_answering

RACE = json.dumps({"landscape": {"name": "quadratic"}, "racers": [{"optimizer": "sgd"}], "steps": 5}).encode()


def _scope(path: str, client: str, method: str = "POST") -> dict:
    return {"type": "http", "method": method, "path": path, "client": (client, 5000), "headers": []}


def test_a_client_past_its_limit_gets_429_and_others_do_not():
    release = asyncio.Event()
    entered: list[str] = []

    async def slow_app(scope, receive, send):
        entered.append(scope["client"][0])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(limit, scope):
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        await limit(scope, receive, send)
        head = sent[0]
        return head["status"], dict(head["headers"]), b"".join(m.get("body", b"") for m in sent[1:])

    async def main():
        limit = guard.ClientLimit(slow_app, limit=2)
        held = [asyncio.ensure_future(call(limit, _scope(p, "10.0.0.1"))) for p in ("/api/race", "/api/sweep")]
        await asyncio.sleep(0.05)
        third = await call(limit, _scope("/api/train", "10.0.0.1"))  # refused at once, never reaches the app
        other = asyncio.ensure_future(call(limit, _scope("/api/race", "10.0.0.2")))  # another client: in
        light = asyncio.ensure_future(call(limit, _scope("/api/optimizers", "10.0.0.1", "GET")))  # not heavy: in
        await asyncio.sleep(0.05)
        in_flight = dict(limit.busy)
        release.set()
        done = await asyncio.gather(*held, other, light)
        again = await call(limit, _scope("/api/race", "10.0.0.1"))
        return third, in_flight, done, again, dict(limit.busy)

    third, in_flight, done, again, after = run_coroutine(main())
    status, headers, body = third
    assert status == 429 and headers[b"retry-after"] == b"1"
    detail = json.loads(body)["detail"]
    assert "at most 2 " in detail and "10.0.0.1" in detail and guard.ENV_PER_CLIENT in detail
    assert entered.count("10.0.0.1") == 4 and entered.count("10.0.0.2") == 1  # 2 heavy + 1 light, then `again`
    assert in_flight == {"10.0.0.1": 2, "10.0.0.2": 1}
    assert [d[0] for d in done] == [200, 200, 200, 200] and again[0] == 200
    assert after == {}  # idle clients are forgotten


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(guard.ENV_PER_CLIENT, "7")
    assert guard.ClientLimit(None).limit == 7
    monkeypatch.setenv(guard.ENV_PER_CLIENT, "0")  # 0: no limit
    assert guard.ClientLimit(None).limit == 0
    monkeypatch.delenv(guard.ENV_PER_CLIENT)
    assert guard.ClientLimit(None).limit == guard.PER_CLIENT


@contextlib.contextmanager
def _server(port: int, *extra: str) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-m", "optarena", "serve", "--no-browser", "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.communicate()


def _post(port: int, body: bytes, source: str = "127.0.0.1", path: str = "/api/race") -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        return _answer(s)


def _answer(s: socket.socket) -> tuple[int, dict, bytes]:
    import http.client

    resp = http.client.HTTPResponse(s, method="POST")
    resp.begin()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def test_a_real_server_answers_429_to_one_client_while_others_race():
    # the first request is held in flight by sending its headers and only half of its body: the
    # limit counts a heavy request from its arrival, so the same address's next race is refused,
    # while another loopback address (127.0.0.2) and a light GET are answered
    port = _free_port()
    with _server(port, "--per-client", "1") as proc:
        wait_until_answering(f"http://127.0.0.1:{port}", timeout=60, proc=proc)
        with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.1", 0)) as held:
            held.sendall(f"POST /api/race HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(RACE)}\r\nConnection: close\r\n\r\n".encode() + RACE[:10])
            deadline = time.time() + 10
            while (refused := _post(port, RACE))[0] != 429 and time.time() < deadline:
                time.sleep(0.05)  # until the server has read the held request's headers
            status, headers, body = refused
            assert status == 429 and headers["retry-after"] == "1"
            assert "at most 1 " in json.loads(body)["detail"]
            assert _post(port, RACE, source="127.0.0.2")[0] == 200  # another student
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"GET /api/optimizers HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                assert _answer(s)[0] == 200
            assert time.perf_counter() - t0 < 2
            held.sendall(RACE[10:])  # the held race completes and is answered
            assert _answer(held)[0] == 200
        assert _post(port, RACE)[0] == 200  # its slot is free again


def test_serve_refuses_a_negative_per_client_limit():
    out = subprocess.run([sys.executable, "-m", "optarena", "serve", "--no-browser", "--per-client", "-1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--per-client" in out.stderr and "[0, 1000]" in out.stderr
