"""`optarena serve` binds loopback, prints its URL, answers, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from conftest import _free_port


def test_serve_starts_answers_and_stops_on_ctrl_c():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "optarena", "serve", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/optimizers", timeout=2) as r:
                    assert any(o["name"] == "adam" for o in json.load(r))
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # closes the pipes
