"""The page's URL state from Python (links for docs, tests and benchmarks): the same base64url
JSON that static/js/state.js reads."""

from __future__ import annotations

import base64
import json
from typing import Any


def encode_state(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def link(base_url: str, state: dict[str, Any]) -> str:
    return f"{base_url.rstrip('/')}/#s={encode_state(state)}"
