"""optarena's own errors: what the user asked for cannot be done, as opposed to a bug.

Every face maps these, and only these, to a user-facing message: the CLI to one line and exit 2,
the web API to a 422 naming ``field``. Anything else that escapes is a bug (the CLI prints its
traceback and exits 1). Each class also derives from the built-in error a caller would expect
(``ValueError`` for a bad value, ``TypeError`` for a wrong type, ``ImportError`` for a missing
extra, ``OSError`` for an unusable file), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any


class OptarenaError(Exception):
    """Base class: the request, its input or the environment is at fault, not optarena.

    ``field`` names the offending input as the face shows it (``"racers[1].learning_rate"``,
    ``"landscape"``, ``"--steps"``) when one input is to blame, else None."""

    def __init__(self, message: str, *, field: str | None = None, allowed: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.allowed = allowed

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(OptarenaError, ValueError):
    """A value the user gave is not allowed (out of range, unknown name, inconsistent fields)."""


class UsageTypeError(UsageError, TypeError):
    """A value the user gave has the wrong type (a string for a number, an unknown keyword)."""


class UnknownNameError(UsageError):
    """A name (optimizer, landscape, framework ...) that is not registered; ``allowed`` lists them."""


class EngineUnavailable(UsageError):
    """The engine asked for cannot run this race (``engine='fused'`` with a racer that has no
    compiled cell, a landscape numba cannot compile, a table too large ...)."""


class OverBudget(UsageError):
    """The work would take longer than the time it was given: measured on its first steps and
    projected, before the rest is done (a server refuses it with 422 naming ``steps``)."""


class MissingExtraError(OptarenaError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class FileProblem(OptarenaError, OSError):
    """A file the user named cannot be read or written (missing folder, not a file, too large)."""

    def __init__(self, message: str, *, field: str | None = None, allowed: Any = None) -> None:
        OSError.__init__(self, message)
        self.field = field
        self.allowed = allowed


def with_field(exc: OptarenaError, field: str) -> OptarenaError:
    """``exc`` with ``field`` prefixed (``racers[1]`` + ``learning_rate``): faces nest names as
    they hand an error up, without re-parsing its text."""
    exc.field = f"{field}.{exc.field}" if exc.field else field
    return exc
