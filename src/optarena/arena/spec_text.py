"""Parse the CLI's racer text, ``adam(learning_rate=0.1, amsgrad=true)``, with our own grammar.

    racer  := NAME [ '(' [ arg { ',' arg } ] ')' ]
    arg    := NAME '=' value
    value  := NUMBER | true | false | STRING | NAME | NAME '(' ... ')'   (a nested call: a schedule)

Nothing is evaluated; errors name the position and what was expected.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError

_TOKEN = re.compile(r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<str>\"[^\"]*\"|'[^']*')|(?P<op>[(),=]))")
MAX_LEN = 500


class SpecError(UsageError):
    """A malformed racer or schedule text (a ``UsageError``, so also a ``ValueError``)."""


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LEN:
            raise SpecError(f"{text[:40]!r}...: longer than {MAX_LEN} characters")
        self.text, self.pos = text, 0

    def fail(self, expected: str) -> SpecError:
        found = self.text[self.pos:self.pos + 10] or "end of text"
        return SpecError(f"{self.text!r}: at position {self.pos} expected {expected}, found {found!r}")

    def peek(self) -> tuple[str, str] | None:
        m = _TOKEN.match(self.text, self.pos)
        if not m or m.end() == m.start() or m.lastgroup is None:
            return None
        return m.lastgroup, m.group(m.lastgroup)

    def take(self) -> tuple[str, str]:
        m = _TOKEN.match(self.text, self.pos)
        if not m or m.lastgroup is None:
            raise self.fail("a name, a number or one of ( ) , =")
        self.pos = m.end()
        return m.lastgroup, m.group(m.lastgroup)

    def call(self) -> tuple[str, dict[str, Any]]:
        kind, name = self.take() if self.peek() else (None, "")
        if kind != "name":
            self.pos -= len(name)
            raise self.fail("a name")
        args: dict[str, Any] = {}
        if self.peek() == ("op", "("):
            self.take()
            if self.peek() == ("op", ")"):
                self.take()
                return name, args
            while True:
                start = self.pos
                kind, key = self.take()
                if kind != "name":
                    self.pos = start
                    raise self.fail("an argument name")
                if self.peek() != ("op", "="):
                    raise self.fail("'='")
                self.take()
                if key in args:
                    self.pos = start
                    raise self.fail(f"a new argument ({key!r} was given twice)")
                args[key] = self.value()
                nxt = self.peek()
                if nxt == ("op", ","):
                    self.take()
                    continue
                if nxt == ("op", ")"):
                    self.take()
                    break
                raise self.fail("',' or ')'")
        return name, args

    def value(self) -> Any:
        start = self.pos
        tok = self.peek()
        if tok is None:
            raise self.fail("a value")
        kind, text = tok
        if kind == "num":
            self.take()
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "str":
            self.take()
            return text[1:-1]
        if kind == "name":
            if text.lower() in ("true", "false"):
                self.take()
                return text.lower() == "true"
            name, args = self.call()
            if not args and not self.text[start:self.pos].rstrip().endswith(")"):
                return name  # a bare name: a schedule given by name, or a wrong value to report
            return {"name": name, **args}
        self.pos = start
        raise self.fail("a value (number, true/false, \"text\" or name(...))")


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """``'adam(learning_rate=0.1)'`` -> ``('adam', {'learning_rate': 0.1})``."""
    p = _Parser(text.strip())
    name, args = p.call()
    if p.pos != len(p.text) and p.text[p.pos:].strip():
        raise p.fail("end of text")
    return name, args
