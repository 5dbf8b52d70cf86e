"""What each ``persam`` command does with its parsed arguments: calls into the library (:mod:`persam.segment`,
:mod:`persam.dreambooth.subject_masks`, :mod:`persam.compare`) and prints what was written. A mistake the person
can fix is one line on stderr and exit code 2, never a traceback. A photo or frame that cannot be read is skipped,
listed with its reason, and the command ends with exit code 3 (:data:`persam.segment.unreadable.SKIPPED_EXIT_CODE`)
once every other one is done."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from persam.compare.command import compare_variant
from persam.data.io import DEFAULT_PALETTE, DataError, read_image
from persam.dreambooth.subject_masks import Reference, parse_point, segment_subject, subject_photos
from persam.methods.builder import MethodConfigError, method_spec
from persam.methods.protocol import Shot
from persam.models.checkpoints import CheckpointError
from persam.segment.click_reference import REFERENCE_MASK, REFERENCE_OVERLAY, clicked_reference
from persam.segment.coco_export import CocoMasks
from persam.segment.folder import segment_folder, summary
from persam.segment.output_paths import image_files
from persam.segment.predictor import method_config, user_method, user_predictor
from persam.segment.references import read_reference_mask, reference_labels
from persam.segment.track import track_frames
from persam.segment.unreadable import SKIPPED_EXIT_CODE, Skipped, skipped_lines

USER_ERRORS = (DataError, CheckpointError, MethodConfigError)


def click_reference(args: argparse.Namespace, predictor, image: np.ndarray, image_path) -> np.ndarray:
    """The reference mask from ``--ref-point`` / ``--ref-neg-point`` / ``--ref-box``, written under ``--out``."""
    mask, iou = clicked_reference(predictor, image, image_path, args.ref_point, args.ref_neg_point, args.ref_box,
                                  out=args.out)
    print(f"reference mask from clicks (SAM's predicted IoU {iou:.2f}): {args.out / REFERENCE_MASK}, "
          f"check it in {args.out / REFERENCE_OVERLAY}")
    return mask


def segment(args: argparse.Namespace) -> int:
    if args.ref_mask and len(args.ref_image) != len(args.ref_mask):
        raise DataError(f"--ref-image and --ref-mask come in pairs: got {len(args.ref_image)} images and "
                        f"{len(args.ref_mask)} masks")
    if not args.ref_mask and len(args.ref_image) > 1:
        raise DataError("clicks (--ref-point/--ref-box) segment one reference image; give masks for several")
    settings = method_config(args.method, presence=not args.always_mask, max_instances=args.max_instances,
                             second_opinion=args.second_opinion)
    files = image_files(args.images)
    predictor = user_predictor(args.model, args.checkpoint, args.device, cache=not args.no_cache)
    predictor.expect_images(len(files))
    shots = []
    for i, image_path in enumerate(args.ref_image):
        image = read_image(image_path)
        mask = read_reference_mask(args.ref_mask[i], image.shape[:2]) if args.ref_mask \
            else click_reference(args, predictor, image, image_path)
        shots.append(Shot(predictor.embed(image), mask))
    method = user_method(predictor, settings)
    reference = method.fit(shots)
    coco = CocoMasks(args.ref_image[0].stem) if args.coco else None
    run = segment_folder(method, reference, predictor, files, args.out, coco=coco,
                         desc=settings.get("label", args.method))
    absent = [r.file for r in run.images if not r.present]
    print(f"{len(run.images)} masks in {args.out / 'masks'}, overlays in {args.out / 'overlays'}, "
          f"scores in {args.out / 'scores.csv'}"
          + (f", COCO JSON {coco.write(args.out / 'masks_coco.json')}" if coco is not None else ""))
    if absent:
        print(f"absent ({len(absent)}): {', '.join(absent)}")
    return finish(run.skipped, summary(run))


def finish(skipped: list[Skipped], last_line: str | None = None) -> int:
    """Print the skipped inputs (if any) and ``last_line``; the exit code: 0, or 3 when some were skipped."""
    for line in skipped_lines(skipped):
        print(line)
    if last_line:
        print(last_line)
    return SKIPPED_EXIT_CODE if skipped else 0


def track(args: argparse.Namespace) -> int:
    spec = method_spec(method_config(args.method))
    if args.reacquire:
        spec.video = {**spec.video, "reacquire": True}
    frames = [path for path, _ in image_files([args.frames])]
    first = read_image(frames[0])
    if args.ref_mask is not None:
        labels, palette = reference_labels(args.ref_mask, first.shape[:2])
    predictor = user_predictor(args.model, args.checkpoint, args.device, cache=not args.no_cache)
    predictor.expect_images(len(frames))
    if args.ref_mask is None:
        labels, palette = click_reference(args, predictor, first, frames[0]).astype(np.uint8), DEFAULT_PALETTE
    gif, skipped = track_frames(spec, predictor, frames, first, labels, palette, args.out, args.fps)
    ids = f"object ids as in {args.ref_mask.name}" if args.ref_mask is not None else "1 = the clicked object"
    print(f"{len(frames) - len(skipped)} masks in {args.out / 'masks'} (palette PNGs, {ids}), overlay video {gif}")
    return finish(skipped)


def dreambooth_masks(args: argparse.Namespace) -> int:
    if (args.ref_mask is None) == (args.ref_point is None):
        raise DataError("give exactly one of --ref-mask and --ref-point")
    photos = subject_photos(args.subject_dir)
    reference = Reference(args.ref_image or photos[0], args.ref_mask,
                          parse_point(args.ref_point) if args.ref_point else None)
    predictor = user_predictor(args.model, args.checkpoint, args.device, cache=not args.no_cache)
    masks, skipped = segment_subject(photos, reference, args.out, args.method, predictor)
    print(f"{len(masks)} masks in {args.out}, contact sheet {args.out / 'contact_sheet.png'}, "
          f"scores in {args.out / 'scores.csv'}")
    missing = [m.photo.name for m in masks if not m.present]
    if missing:
        print(f"subject not found in {len(missing)} photo(s): {', '.join(missing)}")
    return finish(skipped)


def compare(args: argparse.Namespace) -> int:
    compare_variant(args.overrides, args.results, args.datasets, args.out, args.margin)  # prints its verdicts
    return 0


HANDLERS = {"segment": segment, "track": track, "dreambooth-masks": dreambooth_masks, "compare": compare}


def run(args: argparse.Namespace) -> int:
    """The command's handler; a :data:`USER_ERRORS` error is printed as one line, exit code 2."""
    try:
        return HANDLERS[args.command](args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
