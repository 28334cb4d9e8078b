"""Command line: ``python -m jaxmethods tour [--only NAME] [--list]``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m jaxmethods tour [--only NAME] [--list] [--float32]")
        return 0 if argv else 2
    if argv[0] == "tour":
        from ._tour import main as tour_main

        return tour_main(argv[1:])
    print(f"jaxmethods: unknown command {argv[0]!r}; try 'tour'")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
