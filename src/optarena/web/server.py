"""``optarena serve``: uvicorn on loopback, supervised, a browser opened on the page unless asked not to.

The page is always served by worker processes under uvicorn's supervisor, even with one worker:
if a worker dies (a native crash in a library, the OOM killer), the supervisor starts another on
the same socket within a second or two and the other workers go on answering, so one bad
request can never take the arena down for the room.
"""

from __future__ import annotations

import os
import socket
import threading
import webbrowser

#: Race loops a worker compiles or loads at most (~4 MB each as a served worker loads them from the
#: disk cache its compiling child wrote, never given back, even once dropped; a landscape's numeric
#: parameters are data, not new loops): beyond them its races run on the NumPy engine, ~7x slower
#: for the page's small races. 64 holds a class's working set (7 optimizers x 6 landscapes measured
#: in bench_serve's students, 16 left it on NumPy after a minute) in ~256 MB a worker at most.
#: Overridden by OPTARENA_KERNEL_BUDGET; the loops a worker keeps by OPTARENA_KERNEL_CACHE (as many).
KERNEL_BUDGET = 64
#: Seconds a worker may leave the supervisor's ping unanswered before it is replaced. Generous:
#: compiling a new optimizer x landscape pair holds the GIL for a few seconds, which is not a hang.
HEALTHCHECK_S = 30
APP = "optarena.web.app:create_app"


def listen_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound. Made with IPPROTO_TCP (uvicorn's own has protocol 0): asyncio sets
    TCP_NODELAY only on connections of a socket that says TCP, and without it every answer on a
    kept-alive connection waited ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def exposure_warning(host: str) -> str | None:
    """What binding ``host`` exposes, when it is not this machine's loopback (None when it is)."""
    from .origin import LOOPBACK_NAMES, host_name

    name = host_name(host)
    if name in LOOPBACK_NAMES or name.startswith("127."):
        return None
    where = "every network this machine is on" if name in ("0.0.0.0", "::", "") else f"the network of {host}"
    return (f"warning: listening on {host}: anyone on {where} can open the arena and use its API (races, maps and "
            "training take this machine's cores; there are no accounts). Teaching a class? See README, "
            "'Teaching with optarena'.")


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, workers: int = 1,
          sock: socket.socket | None = None, allowed_hosts: tuple[str, ...] = (),
          cors_origins: tuple[str, ...] = (), per_client: int | None = None,
          forwarded_allow_ips: str | None = None) -> None:
    """Serve the arena until Ctrl-C. ``sock``: an already bound socket (the CLI binds first, so a
    taken port is reported before anything starts). ``allowed_hosts``: Host names answered besides
    the loopback names and ``host`` (``web.origin``); ``cors_origins``: other sites' pages allowed
    to call the API. ``per_client``: heavy requests one client may have in flight (``guard.ClientLimit``;
    default $OPTARENA_PER_CLIENT, else 4; 0: no limit). ``forwarded_allow_ips``: the reverse proxies
    whose X-Forwarded-For names the client (uvicorn's option; default: none, the proxy is the client)."""
    from .guard import ENV_PER_CLIENT
    from .origin import ENV_BIND, ENV_HOSTS, ENV_ORIGINS

    try:
        import uvicorn
        from uvicorn.supervisors import Multiprocess
    except ImportError:
        raise RuntimeError("the web arena needs fastapi and uvicorn: pip install 'optarena[web]'") from None
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")

    os.environ.setdefault("OPTARENA_KERNEL_BUDGET", str(KERNEL_BUDGET))  # the workers inherit it
    # keep as many as it may make: a loop dropped and loaded again would count against the budget twice
    os.environ.setdefault("OPTARENA_KERNEL_CACHE", os.environ["OPTARENA_KERNEL_BUDGET"])
    # a new race loop is compiled in a child process (arena.fused.compile_apart): a compile's seconds
    # never hold a worker's interpreter, so the other users' requests go on being answered
    os.environ.setdefault("OPTARENA_COMPILE_APART", "1")
    os.environ[ENV_BIND] = host  # and whom they answer (web.origin.Policy.from_env)
    os.environ[ENV_HOSTS] = ",".join(allowed_hosts)
    os.environ[ENV_ORIGINS] = ",".join(cors_origins)
    if per_client is not None:
        if per_client < 0:
            raise ValueError(f"per_client must be at least 0 (0: no limit), got {per_client}")
        os.environ[ENV_PER_CLIENT] = str(per_client)
    warning = exposure_warning(host)
    if warning:
        print(warning, flush=True)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers, log_level="warning",
                            timeout_worker_healthcheck=HEALTHCHECK_S,
                            # uvicorn trusts 127.0.0.1's X-Forwarded-For by default: a local proxy only when named
                            forwarded_allow_ips=forwarded_allow_ips or "", proxy_headers=bool(forwarded_allow_ips))
    sock = sock or listen_socket(host, port)
    url = f"http://{host}:{port}/"
    print(f"optarena arena on {url}  ({workers} worker{'s' if workers > 1 else ''}; Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    Multiprocess(config, sockets=[sock]).run()
