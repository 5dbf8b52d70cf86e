"""The ``persam`` command, for people who just want masks.

    persam segment --ref-image dog.jpg --ref-mask dog.png --images photos/ --out masks/
    persam segment ... --method persam_f --model vit_b --checkpoint ~/sam_vit_b_01ec64.pth
    persam segment --ref-image dog.jpg --ref-point 410,220 --images photos/ --out masks/   # one click, no mask file
    persam segment --ref-image a.jpg --ref-mask a.png --ref-image b.jpg --ref-mask b.png --max-instances 3 ...
    persam track --frames video_frames/ --ref-mask frame0.png --out tracked/
    persam app                                  # the web page (http://127.0.0.1:7860)
    persam dreambooth-masks --instance-dir dog_photos/ --ref-point 410,300 --out dog_masks/

``segment`` writes ``<out>/masks/<name>.png`` (palette PNG, 1..n the instances, all 0 where the object is
absent), ``<out>/overlays/<name>.jpg`` and ``<out>/scores.csv`` (see :mod:`persam.segment_images`);
``<name>`` keeps the image's path relative to the folder given (:mod:`persam.output_paths`); ``--coco``
adds ``<out>/masks_coco.json``; with clicks instead of ``--ref-mask``, ``<out>/reference_mask.png`` and
``<out>/reference_overlay.jpg`` too (:mod:`persam.cli_clicks`);
``track`` writes ``<out>/masks/<frame>.png`` (palette PNGs with the reference mask's object indices) and
``<out>/overlay.gif``; ``dreambooth-masks`` writes ``<out>/<photo stem>.png`` and ``<out>/contact_sheet.png``
(see :mod:`persam.dreambooth.instance_masks`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from persam.app.options import add_app_options
from persam.cli_clicks import add_click_options, check_reference_source, reference_from_clicks
from persam.coco_export import CocoMasks
from persam.config import compose
from persam.data.davis import annotation_palette
from persam.data.io import DEFAULT_PALETTE, DataError, read_image, read_label_map, read_mask, write_mask
from persam.experiments.overlays import overlay_labels
from persam.experiments.video_task import video_config, video_method
from persam.methods.builder import MethodConfigError, build_method, method_spec
from persam.methods.protocol import Shot
from persam.methods.video import start, step
from persam.models import EmbeddingCache, GuidedPredictor, build_sam
from persam.models.checkpoints import CheckpointError
from persam.models.decoders import default_decoder
from persam.models.encoders import default_encoder
from persam.output_paths import image_files
from persam.segment_images import segment_files, summary


def segment(args: argparse.Namespace) -> int:
    if args.ref_mask and len(args.ref_image) != len(args.ref_mask):
        raise DataError(f"--ref-image and --ref-mask come in pairs: got {len(args.ref_image)} images and "
                        f"{len(args.ref_mask)} masks")
    if not args.ref_mask and len(args.ref_image) > 1:
        raise DataError("clicks (--ref-point/--ref-box) segment one reference image; give masks for several")
    cfg = compose([f"method={args.method}"])
    overrides = [f"method={args.method}"]
    if "presence" in cfg.method:  # on by default where the method has it
        overrides.append(f"method.presence={str(not args.always_mask).lower()}")
    if args.max_instances != 1:
        if "max_instances" not in cfg.method:
            raise DataError(f"method {args.method!r} finds one instance only (no max_instances setting)")
        overrides.append(f"method.max_instances={args.max_instances}")
    cfg = compose(overrides)
    files = image_files(args.images)
    predictor = GuidedPredictor(build_sam(args.model, args.checkpoint, args.device),
                                None if args.no_cache else EmbeddingCache(), encoder=default_encoder(),
                                decoder=default_decoder())
    predictor.expect_images(len(files))
    references = []
    for i, image_path in enumerate(args.ref_image):
        ref_image = read_image(image_path)
        if args.ref_mask:
            ref_mask = read_mask(args.ref_mask[i], ref_image.shape[:2])
            if not ref_mask.any():
                raise DataError(f"{args.ref_mask[i]}: reference mask is empty (no non-zero pixel)")
        else:
            ref_mask = reference_from_clicks(args, predictor, ref_image, image_path)
        references.append((ref_image, ref_mask))
    method = build_method(predictor, cfg.method)
    if method.needs_ground_truth:
        raise DataError(f"method {args.method!r} is an oracle: it reads the ground truth, which segment does not have")
    reference = method.fit([Shot(predictor.embed(image), mask) for image, mask in references])
    coco = CocoMasks(args.ref_image[0].stem) if args.coco else None
    results = segment_files(method, reference, predictor, files, args.out, desc=cfg.method.label, coco=coco)
    absent = [r.file for r in results if not r.present]
    print(f"{len(files)} masks in {args.out / 'masks'}, overlays in {args.out / 'overlays'}, "
          f"scores in {args.out / 'scores.csv'}"
          + (f", COCO JSON {coco.write(args.out / 'masks_coco.json')}" if coco is not None else ""))
    if absent:
        print(f"absent ({len(absent)}): {', '.join(absent)}")
    print(summary(results))
    return 0


def reference_labels(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """The first frame's object labels (H x W uint8) and palette. A palette PNG is read by index (255 = void,
    ignored); any other mask with one non-zero value is one object (label 1), else its values are the labels."""
    labels = read_label_map(path)
    if labels.shape != tuple(size):
        raise DataError(f"{path}: mask is {labels.shape[1]}x{labels.shape[0]} but the first frame is "
                        f"{size[1]}x{size[0]} (W x H)")
    palette = annotation_palette(path)
    with Image.open(path) as image:
        is_palette = image.mode == "P"
    values = [int(v) for v in np.unique(labels) if v != 0 and not (is_palette and v == 255)]
    if not values:
        raise DataError(f"{path}: reference mask is empty (no object label)")
    if not is_palette and len(values) == 1:
        return (labels > 0).astype(np.uint8), palette
    if max(values) > 254:
        raise DataError(f"{path}: object labels must be 1..254, found {max(values)}")
    return np.where(np.isin(labels, values), labels, 0).astype(np.uint8), palette


def track(args: argparse.Namespace) -> int:
    cfg = compose([f"method={args.method}"])
    frames = [path for path, _ in image_files([args.frames])]
    first = read_image(frames[0])
    if args.ref_mask is not None:
        labels, palette = reference_labels(args.ref_mask, first.shape[:2])
    predictor = GuidedPredictor(build_sam(args.model, args.checkpoint, args.device),
                                None if args.no_cache else EmbeddingCache(), encoder=default_encoder(),
                                decoder=default_decoder())
    predictor.expect_images(len(frames))
    if args.ref_mask is None:
        labels, palette = reference_from_clicks(args, predictor, first, frames[0]).astype(np.uint8), DEFAULT_PALETTE
    spec = method_spec(cfg.method)
    if args.reacquire:
        spec.video = {**spec.video, "reacquire": True}
    method = video_method(spec, predictor)
    tracker = video_config(spec)
    states = start(method, predictor.embed(first), labels, config=tracker)
    write_mask(args.out / "masks" / f"{frames[0].stem}.png", labels, palette)
    pictures = [gif_frame(overlay_labels(first, labels, palette))]  # small, so long videos fit in memory
    for path in tqdm(frames[1:], desc=f"{cfg.method.label}: {len(states)} object(s)", unit="frame"):
        image = read_image(path)
        if image.shape[:2] != first.shape[:2]:
            raise DataError(f"{path}: frame is {image.shape[1]}x{image.shape[0]} but the first frame is "
                            f"{first.shape[1]}x{first.shape[0]}")
        result, states = step(method, predictor.embed(image), states, tracker)
        points = [p.point_coords for p in result.predictions.values()]
        write_mask(args.out / "masks" / f"{path.stem}.png", result.labels, palette)
        pictures.append(gif_frame(overlay_labels(image, result.labels, palette, points)))
    gif = args.out / "overlay.gif"
    gif.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=round(1000 / args.fps), loop=0)
    ids = f"object ids as in {args.ref_mask.name}" if args.ref_mask is not None else "1 = the clicked object"
    print(f"{len(frames)} masks in {args.out / 'masks'} (palette PNGs, {ids}), "
          f"overlay video {gif}")
    return 0


def gif_frame(picture: np.ndarray, max_side: int = 480) -> Image.Image:
    """An overlay picture scaled down (long side ``max_side``) for the GIF."""
    scale = min(1.0, max_side / max(picture.shape[:2]))
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    return Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR)


def dreambooth_masks(args: argparse.Namespace) -> int:
    from persam.dreambooth.instance_masks import (
        Reference,
        build_predictor,
        instance_photos,
        parse_point,
        segment_instances,
        write_instance_masks,
    )

    if (args.ref_mask is None) == (args.ref_point is None):
        raise DataError("give exactly one of --ref-mask and --ref-point")
    photos = instance_photos(args.instance_dir)
    reference = Reference(args.ref_image or photos[0], args.ref_mask,
                          parse_point(args.ref_point) if args.ref_point else None)
    predictor = build_predictor(args.model, args.checkpoint, args.device, cache=not args.no_cache)
    masks = segment_instances(photos, reference, args.method, predictor)
    sheet = write_instance_masks(args.out, masks)
    print(f"{len(masks)} masks in {args.out}, contact sheet {sheet}")
    missing = [m.photo.name for m in masks if not m.present]
    if missing:
        print(f"subject not found in {len(missing)} photo(s): {', '.join(missing)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="persam", description="One-shot personalized segmentation with SAM.")
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="find the object of a reference mask in other images")
    seg.add_argument("--ref-image", type=Path, action="append", required=True,
                     help="a reference photo (repeat with --ref-mask for several references)")
    seg.add_argument("--ref-mask", type=Path, action="append", default=[],
                     help="its mask (any non-zero pixel is the object), one per --ref-image, in the same order")
    add_click_options(seg)
    seg.add_argument("--images", type=Path, nargs="+", required=True,
                     help="image files or folders (with several folders, results go to masks/<folder>/...)")
    seg.add_argument("--coco", action="store_true", help="also write <out>/masks_coco.json (COCO, RLE masks)")
    seg.add_argument("--out", type=Path, required=True, help="output folder")
    seg.add_argument("--method", default="persam", help="persam (training-free, default) or persam_f")
    seg.add_argument("--model", default="vit_t", help="vit_t (MobileSAM, default), vit_b, vit_l or vit_h")
    seg.add_argument("--checkpoint", default=None, help="path to the model's checkpoint (default: found/downloaded)")
    seg.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    seg.add_argument("--no-cache", action="store_true", help="do not cache image embeddings on disk")
    seg.add_argument("--max-instances", type=int, default=1,
                     help="find up to N instances per image; masks/<name>.png is then a label map 1..n (default 1)")
    seg.add_argument("--always-mask", action="store_true",
                     help="never say absent: a mask for every image (the presence check is on by default)")
    trk = sub.add_parser("track", help="track the objects of the first frame's mask through a video's frames")
    trk.add_argument("--frames", type=Path, required=True, help="folder of the video's frames (sorted by name)")
    trk.add_argument("--ref-mask", type=Path, default=None,
                     help="the first frame's mask: a palette PNG with one index per object (DAVIS style), "
                          "or any one-object mask")
    add_click_options(trk)
    trk.add_argument("--out", type=Path, required=True, help="output folder (masks/ and overlay.gif)")
    trk.add_argument("--method", default="persam", help="persam (training-free, default) or persam_f")
    trk.add_argument("--reacquire", action="store_true",
                     help="when an object's most similar point is far from its last box, search the whole frame "
                          "(finds objects that leave and come back; not in the original PerSAM)")
    trk.add_argument("--fps", type=float, default=10.0, help="frame rate of overlay.gif (default 10)")
    for flag, default, text in (("--model", "vit_t", "vit_t (MobileSAM, default), vit_b, vit_l or vit_h"),
                                ("--checkpoint", None, "path to the model's checkpoint (default: found/downloaded)"),
                                ("--device", None, "cpu or cuda (default: cuda when present)")):
        trk.add_argument(flag, default=default, help=text)
    trk.add_argument("--no-cache", action="store_true", help="do not cache image embeddings on disk")
    app = sub.add_parser("app", help="the web page: click the object in a photo, find it in photos or a video")
    add_app_options(app)
    dbm = sub.add_parser("dreambooth-masks", help="masks of the subject in every DreamBooth instance photo")
    dbm.add_argument("--instance-dir", type=Path, required=True, help="folder of the instance photos")
    dbm.add_argument("--ref-mask", type=Path, default=None, help="the subject's mask in the reference photo")
    dbm.add_argument("--ref-point", default=None, help="X,Y: a click on the subject in the reference photo")
    dbm.add_argument("--ref-image", type=Path, default=None,
                     help="the reference photo (default: the folder's first photo)")
    dbm.add_argument("--out", type=Path, required=True, help="output folder: <stem>.png masks, contact_sheet.png")
    dbm.add_argument("--method", default="persam_f", help="persam_f (default, as the paper) or persam")
    for flag, default, text in (("--model", "vit_t", "vit_t (MobileSAM, default), vit_b, vit_l or vit_h"),
                                ("--checkpoint", None, "path to the model's checkpoint (default: found/downloaded)"),
                                ("--device", None, "cpu or cuda (default: cuda when present)")):
        dbm.add_argument(flag, default=default, help=text)
    dbm.add_argument("--no-cache", action="store_true", help="do not cache image embeddings on disk")
    args = parser.parse_args(argv)
    if args.command == "app":
        from persam.app.ui import serve  # Gradio, which the other commands do not need (`persam app` skips this module)

        return serve(args.host, args.port)
    if args.command in ("segment", "track"):
        check_reference_source(seg if args.command == "segment" else trk, args)
    commands = {"track": track, "segment": segment, "dreambooth-masks": dreambooth_masks}
    try:
        return commands[args.command](args)
    except (DataError, CheckpointError, MethodConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
