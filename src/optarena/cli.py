"""The command line: thin, it parses, calls the core and prints."""

from __future__ import annotations

import argparse
import sys


def _cmd_optimizers(args: argparse.Namespace) -> int:
    from .optim import registry

    for spec in registry.all_specs():
        hp = ", ".join(f"{h.name}={h.default!r}" for h in spec.hypers)
        print(f"{spec.name:10s} {spec.title:12s} {hp}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optarena", description="Optimizers identical to torch.optim, racing on loss landscapes.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("optimizers", help="list the registered optimizers and their defaults")
    p.set_defaults(func=_cmd_optimizers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
