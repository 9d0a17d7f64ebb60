"""A client that leaves a training stream (Stop, a closed tab, a dropped connection) frees its work
at once: the server stops the training within about one epoch, so the next student can train."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

#: a long training: 3 racers x 3 seeds x 50 epochs of the digits MLP in batches of 8, a minute or more
LONG = {"dataset": "digits", "model": "mlp", "epochs": 50, "seeds": 3, "batch_size": 8}


def _post(url: str, body: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("POST", "/api/train", body=json.dumps(body), headers={"Content-Type": "application/json"})
    return conn, conn.getresponse()


def _events(resp: http.client.HTTPResponse):
    for raw in resp:
        line = raw.decode().strip()
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_leaving_a_training_stream_stops_its_work(server_url):
    conn, resp = _post(server_url, LONG)
    assert resp.status == 200
    seen = []
    for ev in _events(resp):
        if ev["type"] == "epoch" and ev["epoch"] >= 1:
            seen.append(time.monotonic())
            if len(seen) == 3:
                break
    per_epoch = (seen[2] - seen[0]) / 2  # one racer-epoch here, as this machine runs it now
    conn.close()  # the client leaves mid-stream: 3 x 3 x 50 racer-epochs are left
    left = time.monotonic()
    while True:  # the training lock frees when the work has stopped: a new training is then accepted
        conn2, resp2 = _post(server_url, {"dataset": "iris", "model": "logreg", "epochs": 1})
        if resp2.status != 409:
            freed = time.monotonic() - left
            assert resp2.status == 200
            assert [ev["type"] for ev in _events(resp2)][-1] == "done"
            conn2.close()
            break
        resp2.read()
        conn2.close()
        assert time.monotonic() - left < 30 + 20 * per_epoch, "the abandoned training went on"
        time.sleep(0.1)
    # 447 racer-epochs were left; the server stops after the one in progress (plus noticing the close)
    assert freed < 2.0 + 5 * per_epoch
