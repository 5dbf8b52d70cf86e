"""Click-to-reference options: ``--ref-point X,Y`` (repeatable), ``--ref-neg-point X,Y`` and
``--ref-box X0,Y0,X1,Y1`` instead of ``--ref-mask``.

SAM segments the reference from those prompts (:func:`persam.segment.click_reference.clicked_reference`);
the mask is written to ``<out>/reference_mask.png`` (palette PNG, 1 = the object) and shown in
``<out>/reference_overlay.jpg`` so the person can check what was taken as the object.
"""

from __future__ import annotations

import argparse


def numbers(count: int, what: str):
    """An argparse type: ``count`` comma-separated numbers (pixels), e.g. ``120,45``."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {what}")
        return values

    return parse


def add_click_options(parser: argparse.ArgumentParser) -> None:
    """``--ref-point``, ``--ref-neg-point`` and ``--ref-box`` (pixels of the reference image)."""
    parser.add_argument("--ref-point", type=numbers(2, "X,Y"), action="append", default=[], metavar="X,Y",
                        help="instead of --ref-mask: a click on the object (pixels; repeatable)")
    parser.add_argument("--ref-neg-point", type=numbers(2, "X,Y"), action="append", default=[], metavar="X,Y",
                        help="a click on what is NOT the object (repeatable)")
    parser.add_argument("--ref-box", type=numbers(4, "X0,Y0,X1,Y1"), default=None, metavar="X0,Y0,X1,Y1",
                        help="instead of --ref-mask: a box around the object (pixels)")


def has_clicks(args: argparse.Namespace) -> bool:
    return bool(args.ref_point or args.ref_neg_point or args.ref_box)


def check_reference_source(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one of a mask file or clicks (argparse's one-line usage error, exit 2, otherwise)."""
    if args.ref_mask and has_clicks(args):
        parser.error("give either --ref-mask or clicks (--ref-point/--ref-neg-point/--ref-box), not both")
    if not args.ref_mask and not has_clicks(args):
        parser.error("the reference object is needed: --ref-mask FILE, or --ref-point X,Y (or --ref-box)")
