"""Click-to-reference for the command line: ``--ref-point X,Y`` (repeatable), ``--ref-neg-point X,Y`` and
``--ref-box X0,Y0,X1,Y1`` instead of ``--ref-mask``.

SAM segments the reference from those prompts (:func:`persam.click_reference.reference_mask_from_clicks`);
the mask is written to ``<out>/reference_mask.png`` (palette PNG, 1 = the object) and shown in
``<out>/reference_overlay.jpg`` so the person can check what was taken as the object.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from persam.click_reference import ClickError, reference_mask_from_clicks
from persam.data.io import DataError, write_mask
from persam.experiments.overlays import overlay, write_image
from persam.models.predictor import GuidedPredictor


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


def reference_from_clicks(args: argparse.Namespace, predictor: GuidedPredictor, image: np.ndarray,
                          image_path: Path) -> np.ndarray:
    """SAM's H x W bool reference mask from the clicks in ``args``; writes it and its overlay under ``args.out``.
    A bad click becomes a :class:`DataError` naming the reference image."""
    clicks = [*args.ref_point, *args.ref_neg_point]
    points = np.asarray(clicks, dtype=np.float64).reshape(-1, 2) if clicks else None
    labels = np.asarray([1] * len(args.ref_point) + [0] * len(args.ref_neg_point), dtype=np.int64)
    box = np.asarray(args.ref_box, dtype=np.float64) if args.ref_box else None
    try:
        mask, iou = reference_mask_from_clicks(predictor, image, points, labels if clicks else None, box)
    except ClickError as err:
        raise DataError(f"{image_path}: {err}") from None
    write_mask(args.out / "reference_mask.png", mask)
    picture = overlay(image, mask, points, labels if clicks else None)
    write_image(args.out / "reference_overlay.jpg", picture)
    print(f"reference mask from clicks (SAM's predicted IoU {iou:.2f}): {args.out / 'reference_mask.png'}, "
          f"check it in {args.out / 'reference_overlay.jpg'}")
    return mask
