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
