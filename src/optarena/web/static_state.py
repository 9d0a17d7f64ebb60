"""The page's URL state from Python (links for docs, tests and benchmarks): the same base64url
JSON that static/js/state.js reads (``arena.presentation``, where every face can reach it)."""

from __future__ import annotations

from ..arena.presentation import encode_page_state as encode_state
from ..arena.presentation import page_link as link

__all__ = ["encode_state", "link"]
