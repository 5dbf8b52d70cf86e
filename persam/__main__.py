"""``persam`` (and ``python -m persam``): :func:`persam.cli.main`, after :func:`persam.allocator.keep_large_buffers`
(``persam app`` starts the page without importing torch and SAM first; they load in the background once the page
is up)."""

from __future__ import annotations

import sys

from persam.allocator import keep_large_buffers
from persam.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    keep_large_buffers()
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
