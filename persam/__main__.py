"""``persam`` (and ``python -m persam``): ``persam app`` starts the page without importing torch and SAM first
(they load in the background once the page is up); every other command is :func:`persam.cli.main`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from persam.allocator import keep_large_buffers

    keep_large_buffers()
    if argv[:1] == ["app"]:
        from persam.app.options import app_parser
        from persam.app.ui import serve

        args = app_parser().parse_args(argv[1:])
        return serve(args.host, args.port)
    from persam.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
