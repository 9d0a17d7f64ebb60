"""What stands between a request's bytes and the handlers, and between the results and the wire.

- Bodies are capped (``MAX_BODY`` bytes, 413 beyond, by Content-Length or by counting); JSON above
  ``PARSE_INLINE`` bytes is decoded in a worker thread, so no client holds the event loop.
- Python's JSON decoder accepts ``NaN``, ``Infinity``, ``1e999999`` (-> inf) and lone UTF-16
  surrogates (``"\\ud800"``), none of which can be answered or computed with: the first such value
  is refused with a 422 that names its field, before validation.
- Validation errors are answered with at most ``MAX_ERRORS`` entries, each input echoed in at most
  ``MAX_ECHO`` characters, and always encodable: an invalid body never becomes a 500.
- Responses are encoded by ``dumps``, which turns NumPy arrays into lists before orjson sees them:
  orjson 3.12-3.13's ``OPT_SERIALIZE_NUMPY`` corrupts the heap on some payloads (the whole server
  process aborts), and lists are written correctly by every version.
- Heavy requests (races, maps, training races) are limited per client (``ClientLimit``): a client
  with ``PER_CLIENT`` of them in flight gets 429 with Retry-After for the next, so one tab (or
  script) cannot queue a room's worth of work ahead of everyone else.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable

import numpy as np
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

#: Largest request body accepted, in bytes (413 beyond). The largest valid request (12 racers
#: with every hyperparameter, 64 starts, a 500-character formula) is under 8 KB.
MAX_BODY = 64 * 1024
#: Bodies up to this size are decoded on the event loop (microseconds); larger ones in a thread.
PARSE_INLINE = 4 * 1024
MAX_ERRORS = 20
MAX_ECHO = 200
#: Deepest nesting of arrays and objects a body may have (the deepest valid one has 4): deeper
#: bodies are refused before validation, whose error messages would recurse through them.
MAX_DEPTH = 32


class BodyLimit:
    """ASGI middleware: 413 for a body above ``limit`` bytes, announced or streamed, before any
    handler reads more than that."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            if length.isdigit() and int(length) <= DRAIN:
                await _drain(receive, 0)
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracked(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _drain(receive, seen)
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = dumps({"detail": f"the request body is above the limit of {self.limit:,} bytes"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


#: Heavy requests one client may have in flight in a worker ($OPTARENA_PER_CLIENT; 0: no limit).
#: The page has at most one race, one map and one training race in flight per tab, so 4 leaves
#: room for a second tab; a script that sends more at once is told to wait (429).
PER_CLIENT = 4
ENV_PER_CLIENT = "OPTARENA_PER_CLIENT"
#: The requests that take a core: POST to these paths.
HEAVY_PATHS = frozenset({"/api/race", "/api/sweep", "/api/train", "/api/anatomy"})


def per_client() -> int:
    """The per-client limit: $OPTARENA_PER_CLIENT when it is a whole number, else ``PER_CLIENT``."""
    text = os.environ.get(ENV_PER_CLIENT, "").strip()
    return int(text) if text.isdigit() else PER_CLIENT


class ClientLimit:
    """ASGI middleware: at most ``limit`` heavy requests (``HEAVY_PATHS``) per client address in
    flight, from the request's arrival until its answer (a training race's whole stream) has been
    sent or the client has gone; the next gets 429 with Retry-After, unstarted. The client is the
    connection's peer address: behind a reverse proxy that is the proxy (every student the same
    client) unless uvicorn is told to trust its X-Forwarded-For (``--forwarded-allow-ips``).
    Counted per worker process."""

    def __init__(self, app: Any, limit: int | None = None) -> None:
        self.app = app
        self.limit = per_client() if limit is None else limit
        self.busy: dict[str, int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (self.limit <= 0 or scope["type"] != "http" or scope.get("method") != "POST"
                or scope.get("path") not in HEAVY_PATHS):
            await self.app(scope, receive, send)
            return
        who = (scope.get("client") or ("unknown", 0))[0]
        if self.busy.get(who, 0) >= self.limit:
            body = dumps({"detail": f"too many heavy requests at once from {who}: at most {self.limit} races, maps and "
                                    f"training races in flight per client ({ENV_PER_CLIENT}); retry when one has ended"})
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"retry-after", b"1")]})
            await send({"type": "http.response.body", "body": body})
            return
        self.busy[who] = self.busy.get(who, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.busy[who] - 1  # the event loop is single-threaded: no lock needed
            if left:
                self.busy[who] = left
            else:
                del self.busy[who]  # forget idle clients: the table holds only those in flight


#: A body above the limit is still read (and dropped) up to this many bytes before the 413: a
#: server that answers and closes with the body unread makes the kernel reset the connection, and
#: the client mostly never sees the 413. Beyond it the connection is closed at once.
DRAIN = 2 * 2**20


async def _drain(receive: Any, seen: int) -> None:
    while seen <= DRAIN:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def dumps(obj: Any) -> bytes:
    """JSON bytes of a payload holding NumPy arrays and scalars (non-finite floats -> null)."""
    import orjson

    return orjson.dumps(obj, default=_plain)


#: Answers at least this large give the allocator's free memory back to the system once encoded.
TRIM_BYTES = 8 << 20


def trimmed(payload: bytes) -> bytes:
    """``payload``, after asking glibc to return freed heap to the system when it is large: the
    arrays and lists behind a 100 MB answer are freed into the heap, which otherwise keeps the
    high-water mark for the life of the worker (a 10-minute load grew RSS 2x). Elsewhere, a no-op."""
    if len(payload) >= TRIM_BYTES:
        _malloc_trim()
    return payload


def _malloc_trim() -> None:
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: nothing to trim
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()  # Python floats: orjson writes NaN and +-inf as null
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def first_unanswerable(value: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str] | None:
    """The path to the first non-finite number, lone surrogate or container nested deeper than
    MAX_DEPTH in decoded JSON, and what was expected there."""
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, (dict, list)) and len(where) - len(path) >= MAX_DEPTH:
            return where, f"a value nested at most {MAX_DEPTH} levels deep (no request needs more)"
        if isinstance(v, float):
            if not math.isfinite(v):
                return where, "a finite number (NaN, Infinity and overflowing literals are refused)"
        elif isinstance(v, str):
            if not _encodable(v):
                return where, "text without lone UTF-16 surrogates"
        elif isinstance(v, dict):
            for k, item in reversed(list(v.items())):
                if not _encodable(k):
                    return (*where, _printable(k)), "keys without lone UTF-16 surrogates"
                stack.append(((*where, k), item))
        elif isinstance(v, list):
            stack.extend(((*where, i), item) for i, item in reversed(list(enumerate(v))))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("ascii", "replace")


def _echo(value: Any) -> Any:
    """An input as an error may quote it: short, and encodable whatever it was."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 53:
        return f"an integer of {value.bit_length()} bits"  # str() of a huge int can itself fail
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=repr, allow_nan=True)
    except (RecursionError, ValueError):  # nested too deep to quote (validation saw it anyway)
        text = f"(a {type(value).__name__} nested too deeply to quote)"
    text = _printable(text)
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + f"... ({len(text):,} characters)"


def _loc(loc: Any) -> list[Any]:
    return [part if isinstance(part, int) else _printable(str(part))[:MAX_ECHO] for part in loc]


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    """422 with the errors made safe: capped in number and in size, always encodable."""
    out = []
    for err in errors[:MAX_ERRORS]:
        item: dict[str, Any] = {"loc": _loc(err.get("loc", ())), "msg": _printable(str(err.get("msg", "")))[:1000],
                                "type": str(err.get("type", "value_error"))}
        if "input" in err:
            item["input"] = _echo(err["input"])
        for key in ("position", "expected"):
            if key in err:
                item[key] = _echo(err[key])
        out.append(item)
    if len(errors) > MAX_ERRORS:
        out.append({"loc": ["body"], "msg": f"... and {len(errors) - MAX_ERRORS:,} more errors", "type": "too_many_errors"})
    return JSONResponse({"detail": out}, status_code=422)


async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return unprocessable(list(exc.errors()))


class GuardedRoute(APIRoute):
    """An API route whose JSON body is decoded here first: off the event loop when large, and
    refused (422, the field named) when it holds a value nothing downstream could answer with."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                body = await request.body()  # capped by BodyLimit: 413 beyond
                if body and _is_json(request):
                    try:
                        data = json.loads(body) if len(body) <= PARSE_INLINE else await run_in_threadpool(json.loads, body)
                    except (ValueError, RecursionError):
                        return await handler(request)  # FastAPI answers these (422 / 400) as it always has
                    bad = first_unanswerable(data)
                    if bad is not None:
                        where, expected = bad
                        return unprocessable([{"loc": ("body", *where), "msg": f"expected {expected}",
                                               "type": "value_error"}])
                    request._json = data  # starlette's cache: FastAPI validates this, not a second decode
            return await handler(request)

        return guarded


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")
