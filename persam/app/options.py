"""``persam app``'s options, shared by the light entry point (:mod:`persam.__main__`) and ``persam --help``."""

from __future__ import annotations

import argparse


def add_app_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    return parser


def app_parser() -> argparse.ArgumentParser:
    return add_app_options(argparse.ArgumentParser(prog="persam app", description="the web page"))
