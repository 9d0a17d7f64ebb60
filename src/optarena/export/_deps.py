"""Optional packages for exporting, imported only when an export needs them (``extras.need``
with the export extra's install line)."""

from __future__ import annotations

from ..extras import EXPORT as EXTRA
from ..extras import need

__all__ = ["EXTRA", "need"]
