"""Secure by default (issue 14): only named Hosts are answered (DNS rebinding), cross-origin calls
only from listed origins, and every answer carries the security headers."""

from __future__ import annotations

import http.client

import pytest
from fastapi.testclient import TestClient

from optarena.cli import main as cli_main
from optarena.web.app import create_app
from optarena.web.origin import CSP, Policy, host_name
from optarena.web.server import exposure_warning


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(warm=False, policy=Policy(cors_origins=("https://school.example",))),
                    base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.mark.parametrize("host,name", [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("LocalHost", "localhost"),
                                       ("evil.example:80", "evil.example"), ("::1", "::1"), ("", "")])
def test_host_name(host, name):
    assert host_name(host) == name


def test_policy_names_what_it_answers():
    local = Policy()
    assert all(local.host_allowed(h) for h in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"))
    assert not any(local.host_allowed(h) for h in ("evil.example", "evil.example:8000", "10.0.0.5:8000", "", "127.0.0.1.evil.example"))
    room = Policy(bind="0.0.0.0", allowed_hosts=("arena.school.example",))
    assert room.host_allowed("10.0.0.5:8000") and room.host_allowed("[fe80::1]:8000")  # an IP literal: no rebinding
    assert room.host_allowed("arena.school.example") and not room.host_allowed("evil.example")
    assert Policy(bind="192.168.1.4").host_allowed("192.168.1.4:8000")
    assert not Policy(bind="192.168.1.4").host_allowed("10.0.0.5")
    assert Policy(allowed_hosts=("*",)).host_allowed("anything.example")


def test_a_foreign_host_gets_400_naming_the_flag(client):
    r = client.get("/api/optimizers", headers={"Host": "evil.example"})
    assert r.status_code == 400
    assert "evil.example" in r.json()["detail"] and "--allowed-host evil.example" in r.json()["detail"]
    assert client.get("/api/optimizers", headers={"Host": "localhost:8000"}).status_code == 200


def test_cross_origin_requests_are_refused_unless_listed(client):
    body = {"landscape": {"name": "rosenbrock"}, "racers": [{"optimizer": "adam"}], "steps": 3}
    same = client.post("/api/race", json=body, headers={"Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    evil = client.post("/api/race", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "--cors-origin https://evil.example" in evil.json()["detail"]
    listed = client.post("/api/race", json=body, headers={"Origin": "https://school.example"})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == "https://school.example"
    pre = client.options("/api/race", headers={"Origin": "https://school.example", "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
    assert client.options("/api/race", headers={"Origin": "https://evil.example",
                                                "Access-Control-Request-Method": "POST"}).status_code == 403


@pytest.mark.parametrize("path", ["/", "/api/optimizers", "/static/js/main.js", "/vendor/plotly.min.js", "/no/such/page"])
def test_every_answer_carries_the_security_headers(client, path):
    r = client.get(path)
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe-eval" not in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert client.get(path, headers={"Host": "evil.example"}).headers["content-security-policy"] == CSP  # refusals too


def test_binding_beyond_loopback_warns_what_is_exposed():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    text = exposure_warning("0.0.0.0")
    assert text is not None and "every network" in text and "Teaching with optarena" in text
    assert "192.168.1.4" in exposure_warning("192.168.1.4")


@pytest.mark.parametrize("flag,value", [("--cors-origin", "school.example"), ("--cors-origin", "https://a.example/path"),
                                        ("--allowed-host", "http://a.example"), ("--allowed-host", "a.example,b.example")])
def test_bad_flags_are_one_line_errors(flag, value, capsys):
    assert cli_main(["serve", "--no-browser", "--port", "1", flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and value in err


def test_a_real_server_refuses_a_rebinding_host(server_url):
    """The served process reads its policy from the environment optarena serve sets."""
    port = int(server_url.rsplit(":", 1)[1])
    for host, status in (("evil.example", 400), (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/optimizers", headers={"Host": host})
        r = conn.getresponse()
        r.read()
        assert r.status == status, host
        assert r.getheader("content-security-policy") == CSP
        conn.close()


def test_the_page_runs_under_its_own_policy(browser, server_url):
    """Every view under the CSP (no bypass): a race played, the 3-D surface (Plotly's WebGL), a map,
    the code panel and a PNG export; any violation is a console error, which open_page fails on."""
    import time

    from conftest import open_page

    def until(pg, check, timeout=30.0):  # polled from Python: wait_for_function would need eval in the page
        end = time.time() + timeout
        while not check():
            assert time.time() < end, "timed out"
            time.sleep(0.1)

    with open_page(browser, server_url, bypass_csp=False, accept_downloads=True) as pg:
        assert pg.evaluate("() => document.body.dataset.ready") == "1"
        pg.click("#play")
        until(pg, lambda: pg.inner_text("#status").startswith("Step 100 / 100"))
        pg.check("#surface")
        until(pg, lambda: pg.evaluate("() => document.querySelectorAll('.gl-container canvas, canvas.gl-canvas').length") > 0)
        pg.uncheck("#surface")
        pg.click("[data-code='2']")
        with pg.expect_download():
            pg.click("#dlPng")
        pg.click("#viewMaps")
        pg.click("#mapCompute")
        until(pg, lambda: pg.inner_text("#mapStatus").startswith(("best", "minimum")), timeout=60)
        time.sleep(0.5)  # let late violations reach the console before open_page checks it
