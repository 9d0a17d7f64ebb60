"""Who may talk to the server: the Host a request names, the Origin a browser sends, and the
headers every answer carries (issue 14, "secure by default").

* **Host.** A page on another site can reach a server on 127.0.0.1 through DNS rebinding: its own
  name, re-pointed at 127.0.0.1, arrives as ``Host: evil.example``. Only names the server was told
  about are answered: the loopback names, the address it is bound to, IP literals when it listens
  on every address (a rebinding attack needs a name), and each ``--allowed-host``. Others: 400.
* **Origin.** A browser names the page that sent a request. The arena's own page is same-origin;
  any other origin is refused (403) unless listed with ``--cors-origin``, which then gets CORS
  headers (and its preflight an answer).
* **Headers.** A Content-Security-Policy that lets the page run only its own scripts and connect
  only to its own server, no framing, ``nosniff`` and no referrer.

The lists come from ``optarena serve`` through the environment (its workers are separate
processes started by uvicorn): ``OPTARENA_BIND``, ``OPTARENA_ALLOWED_HOSTS``, ``OPTARENA_CORS_ORIGINS``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from .guard import dumps

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ENV_BIND, ENV_HOSTS, ENV_ORIGINS = "OPTARENA_BIND", "OPTARENA_ALLOWED_HOSTS", "OPTARENA_CORS_ORIGINS"

#: The page's scripts are its own files (ES modules and the vendored Plotly.js); Plotly adds
#: <style> elements and inline styles, and draws exports through data: and blob: images.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def host_name(host: str) -> str:
    """The name part of a Host header: lower case, without the port, IPv6 without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


@dataclass(frozen=True)
class Policy:
    """Which Host names and Origins a server answers. ``bind``: the address it listens on."""

    bind: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Policy:
        return cls(bind=os.environ.get(ENV_BIND, "127.0.0.1"), allowed_hosts=_csv(os.environ.get(ENV_HOSTS)),
                   cors_origins=tuple(o.rstrip("/") for o in _csv(os.environ.get(ENV_ORIGINS))))

    @property
    def every_address(self) -> bool:
        return host_name(self.bind) in ("0.0.0.0", "::", "")

    def host_allowed(self, host: str) -> bool:
        if "*" in self.allowed_hosts:
            return True
        name = host_name(host)
        if name in LOOPBACK_NAMES or name == host_name(self.bind):
            return True
        if self.every_address and _is_ip(name):
            return True
        return name in {host_name(h) for h in self.allowed_hosts}

    def origin_allowed(self, origin: str, host: str) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in (f"http://{host.lower()}", f"https://{host.lower()}"):
            return True  # the page the server itself serves
        return "*" in self.cors_origins or origin in {o.lower() for o in self.cors_origins}


class OriginGuard:
    """ASGI middleware: 400 for a Host the policy does not name, 403 for a cross-origin request it
    does not allow (CORS headers and preflight answers for those it does), and the security
    headers on every answer."""

    def __init__(self, app: Any, policy: Policy | None = None) -> None:
        self.app = app
        self.policy = policy or Policy.from_env()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers") or ()}
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.policy.host_allowed(host):
            shown = host[:80] or "(none)"
            await _answer(send, 400, f"Host {shown!r} is not a name this server answers to; to serve it, start "
                                     f"the server with --allowed-host {host_name(host)[:80] or 'NAME'}")
            return
        origin = headers.get(b"origin", b"").decode("latin-1")
        cors: list[tuple[bytes, bytes]] = []
        if origin:
            if not self.policy.origin_allowed(origin, host):
                await _answer(send, 403, f"cross-origin requests from {origin[:80]!r} are refused; to allow them, "
                                         "start the server with --cors-origin " + origin[:80])
                return
            if origin.rstrip("/").lower() not in (f"http://{host.lower()}", f"https://{host.lower()}"):
                cors = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
                if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
                    await _answer(send, 204, None, cors + [
                        (b"access-control-allow-methods", b"GET, POST"),
                        (b"access-control-allow-headers", b"content-type"), (b"access-control-max-age", b"600")])
                    return

        async def secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *SECURITY_HEADERS, *cors]}
            await send(message)

        await self.app(scope, receive, secured)


async def _answer(send: Any, status: int, detail: str | None, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = b"" if detail is None else dumps({"detail": detail})
    head = [(b"content-length", str(len(body)).encode()), *SECURITY_HEADERS, *(extra or [])]
    if body:
        head.insert(0, (b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
