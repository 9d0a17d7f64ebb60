"""``optarena serve``: uvicorn on loopback, a browser opened on the page unless asked not to."""

from __future__ import annotations

import threading
import webbrowser


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True) -> None:
    try:
        import uvicorn
    except ImportError:
        raise RuntimeError("the web arena needs fastapi and uvicorn: pip install 'optarena[web]'") from None
    from .app import create_app

    url = f"http://{host}:{port}/"
    print(f"optarena arena on {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
