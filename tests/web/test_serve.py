"""`optarena serve` binds loopback, prints its URL, answers, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import urllib.request

from conftest import _free_port, serving, wait_until_answering


def test_serve_starts_answers_and_stops_on_ctrl_c():
    port = _free_port()
    with serving(port) as proc:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        wait_until_answering(f"http://127.0.0.1:{port}", timeout=30, proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/optimizers", timeout=5) as r:
            assert any(o["name"] == "adam" for o in json.load(r))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def _workers(proc) -> list:
    import psutil

    out = []
    for c in psutil.Process(proc.pid).children():
        try:
            if c.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(c.cmdline()):
                out.append(c)
        except psutil.Error:  # gone, or a killed worker not yet reaped
            pass
    return out


def test_a_worker_that_dies_is_replaced_and_the_others_keep_answering():
    # Issue 10: one request that crashed the process took the page down for everyone. Workers run
    # under a supervisor: kill one outright (as a native crash would) and the page still answers.
    import os
    import time

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(port, workers=2) as proc:
        wait_until_answering(url, timeout=60, proc=proc)
        deadline = time.time() + 30
        while len(_workers(proc)) < 2 and time.time() < deadline:
            time.sleep(0.1)
        before = _workers(proc)
        assert len(before) == 2
        os.kill(before[0].pid, signal.SIGKILL)
        for _ in range(20):  # the other worker answers meanwhile: no request is refused
            with urllib.request.urlopen(url + "/api/optimizers", timeout=10) as r:
                assert r.status == 200
        deadline = time.time() + 30
        while time.time() < deadline:
            now = {w.pid for w in _workers(proc)}
            if len(now) == 2 and before[0].pid not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and before[0].pid not in now and before[1].pid in now
        assert proc.poll() is None


def test_a_single_worker_is_restarted_after_a_crash():
    import os
    import time

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(port) as proc:
        wait_until_answering(url, timeout=60, proc=proc)
        (worker,) = _workers(proc)
        os.kill(worker.pid, signal.SIGKILL)
        time.sleep(0.2)
        wait_until_answering(url, timeout=30, proc=proc)
        assert [w.pid for w in _workers(proc)] != [worker.pid] and proc.poll() is None


def test_the_listening_socket_says_tcp_so_answers_are_not_held_back():
    # uvicorn's own socket has protocol 0, so asyncio never set TCP_NODELAY on its connections and
    # every answer on a kept-alive connection waited ~40 ms for the client's delayed ACK.
    import socket

    from optarena.web.server import listen_socket

    sock = listen_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.type == socket.SOCK_STREAM and sock.get_inheritable()
    finally:
        sock.close()
