"""The ``persam`` command's arguments: one sub-parser per command, nothing else (the work is in
:mod:`persam.cli.handlers`). Kept free of torch and SAM, so ``persam app`` and ``persam --help`` start at once."""

from __future__ import annotations

import argparse
from pathlib import Path

from persam.cli.clicks import add_click_options
from persam.methods.builder import DEFAULT_METHOD
from persam.metrics.paired_test import MARGIN

MODEL_OPTIONS = (("--model", "vit_t", "vit_t (MobileSAM, default), vit_b, vit_l or vit_h"),
                 ("--checkpoint", None, "path to the model's checkpoint (default: found/downloaded)"),
                 ("--device", None, "cpu or cuda (default: cuda when present)"))


EXIT_STATUS = ("exit status: 0 every input done; 2 a mistake stopped the command (one line on stderr; a bad "
               "reference stops it before any work); 3 done, but some photos or frames could not be read: they are "
               "listed with the reason{where} and got no mask")


def batch_parser(sub, name: str, help_text: str, where: str = "") -> argparse.ArgumentParser:
    """A sub-parser for a command that works through many photos or frames, its exit status in ``--help``."""
    return sub.add_parser(name, help=help_text, description=help_text, epilog=EXIT_STATUS.format(where=where))


METHOD_HELP = (f"{DEFAULT_METHOD} (default, chosen by paired verdicts over the results), persam, persam_f, or any "
               "persam/conf/method/<name>.yaml (tracking needs one with a video: block)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--checkpoint``, ``--device`` and ``--no-cache``: which SAM, and its embedding cache."""
    for flag, default, text in MODEL_OPTIONS:
        parser.add_argument(flag, default=default, help=text)
    parser.add_argument("--no-cache", action="store_true", help="do not cache image embeddings on disk")


def add_segment(sub) -> argparse.ArgumentParser:
    seg = batch_parser(sub, "segment", "find the object of a reference mask in other images",
                       " (also in scores.csv, column skipped)")
    seg.add_argument("--ref-image", type=Path, action="append", required=True,
                     help="a reference photo (repeat with --ref-mask for several references)")
    seg.add_argument("--ref-mask", type=Path, action="append", default=[],
                     help="its mask (any non-zero pixel is the object), one per --ref-image, in the same order")
    add_click_options(seg)
    seg.add_argument("--images", type=Path, nargs="+", required=True,
                     help="image files or folders (with several folders, results go to masks/<folder>/...)")
    seg.add_argument("--coco", action="store_true", help="also write <out>/masks_coco.json (COCO, RLE masks)")
    seg.add_argument("--out", type=Path, required=True, help="output folder")
    seg.add_argument("--method", default=DEFAULT_METHOD, help=METHOD_HELP)
    add_model_options(seg)
    seg.add_argument("--max-instances", type=int, default=1,
                     help="find up to N instances per image; masks/<name>.png is then a label map 1..n (default 1)")
    seg.add_argument("--always-mask", action="store_true",
                     help="never say absent: a mask for every image (the presence check is on by default)")
    seg.add_argument("--second-opinion", default="efficientnet_lite0",
                     help="the presence check's semantic second opinion, which tells other objects apart: "
                          "efficientnet_lite0 (default), none, or dinov2:<folder or hub name>")
    return seg


def add_track(sub) -> argparse.ArgumentParser:
    trk = batch_parser(sub, "track", "track the objects of the first frame's mask through a video's frames")
    trk.add_argument("--frames", type=Path, required=True, help="folder of the video's frames (sorted by name)")
    trk.add_argument("--ref-mask", type=Path, default=None,
                     help="the first frame's mask: a palette PNG with one index per object (DAVIS style), "
                          "or any one-object mask")
    add_click_options(trk)
    trk.add_argument("--out", type=Path, required=True, help="output folder (masks/ and overlay.gif)")
    trk.add_argument("--method", default=DEFAULT_METHOD, help=METHOD_HELP)
    trk.add_argument("--reacquire", action="store_true",
                     help="when an object's most similar point is far from its last box, search the whole frame "
                          "(finds objects that leave and come back; not in the original PerSAM)")
    trk.add_argument("--fps", type=float, default=10.0, help="frame rate of overlay.gif (default 10)")
    add_model_options(trk)
    return trk


def add_app(sub) -> argparse.ArgumentParser:
    app = sub.add_parser("app", help="the web page: click the object in a photo, find it in photos or a video")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    app.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    return app


def add_dreambooth_masks(sub) -> argparse.ArgumentParser:
    dbm = batch_parser(sub, "dreambooth-masks", "masks of the subject in every photo of a DreamBooth subject folder",
                       " (also in scores.csv, column skipped)")
    # --instance-dir: DreamBooth's own name for the subject's photos, kept as an alias (the README uses it).
    dbm.add_argument("--subject-dir", "--instance-dir", dest="subject_dir", type=Path, required=True,
                     help="folder of the subject's photos (DreamBooth's instance photos)")
    dbm.add_argument("--ref-mask", type=Path, default=None, help="the subject's mask in the reference photo")
    dbm.add_argument("--ref-point", default=None, help="X,Y: a click on the subject in the reference photo")
    dbm.add_argument("--ref-image", type=Path, default=None,
                     help="the reference photo (default: the folder's first photo)")
    dbm.add_argument("--out", type=Path, required=True,
                     help="output folder: <stem>.png masks, contact_sheet.png, overlays/, scores.csv")
    dbm.add_argument("--method", default="persam_f", help="persam_f (default, as the paper) or persam")
    add_model_options(dbm)
    return dbm


COMPARE_VALUE_OPTIONS = ("--results", "--out", "--margin")  # compare's options that take one value


def overrides_first(argv: list[str]) -> list[str]:
    """``compare``'s arguments with its Hydra overrides (``key=value``, anywhere on the line) moved to the front, in
    their order: argparse reads a positional list only in one piece, and ``--datasets`` would take what follows it."""
    if argv[:1] != ["compare"]:
        return argv
    overrides, options = [], []
    for i, word in enumerate(argv[1:], start=1):
        is_value = argv[i - 1] in COMPARE_VALUE_OPTIONS
        (overrides if "=" in word and not word.startswith("-") and not is_value else options).append(word)
    return ["compare", *overrides, *options]


def add_compare(sub) -> argparse.ArgumentParser:
    cmp = sub.add_parser("compare", help="run a method config on the benchmark sets and print its paired verdicts "
                                         "against every committed baseline, with a forest plot")
    cmp.add_argument("overrides", nargs="+", metavar="OVERRIDE",
                     help="Hydra overrides as python -m persam.run takes them: method=NAME (required), "
                          "hydra.searchpath=[file://DIR] for DIR/method/NAME.yaml outside the package, "
                          "method.KEY=VALUE, ...")
    cmp.add_argument("--results", type=Path, default=Path("results/table1"),
                     help="the committed baselines: one <dataset>/results.csv per benchmark set "
                          "(default results/table1)")
    cmp.add_argument("--datasets", nargs="+", default=None,
                     help="only these benchmark sets (default: every dataset folder of --results)")
    cmp.add_argument("--out", type=Path, default=None,
                     help="output folder: runs/, verdicts.csv, README.md, forest.png (default outputs/compare/<method>)")
    cmp.add_argument("--margin", type=float, default=MARGIN,
                     help=f"the equivalence margin in points (default {MARGIN:g})")
    return cmp


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``persam`` parser and its sub-parsers by command (for their usage errors)."""
    parser = argparse.ArgumentParser(prog="persam", description="One-shot personalized segmentation with SAM.")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {"segment": add_segment(sub), "track": add_track(sub), "app": add_app(sub),
                "dreambooth-masks": add_dreambooth_masks(sub), "compare": add_compare(sub)}
    return parser, commands
