"""The ``persam`` command, for people who just want masks.

    persam segment --ref-image dog.jpg --ref-mask dog.png --images photos/ --out masks/
    persam segment ... --method persam_f --model vit_b --checkpoint ~/sam_vit_b_01ec64.pth
    persam segment --ref-image a.jpg --ref-mask a.png --ref-image b.jpg --ref-mask b.png --max-instances 3 ...
    persam track --frames video_frames/ --ref-mask frame0.png --out tracked/

``segment`` writes ``<out>/masks/<name>.png`` (palette PNG, 1..n the instances, all 0 where the object is
absent), ``<out>/overlays/<name>.jpg`` and ``<out>/scores.csv`` (see :mod:`persam.segment_images`);
``track`` writes ``<out>/masks/<frame>.png`` (palette PNGs with the reference mask's object indices) and
``<out>/overlay.gif``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from PIL import Image
from tqdm import tqdm

from persam.data.davis import annotation_palette
from persam.data.io import IMAGE_SUFFIXES, DataError, read_image, read_label_map, read_mask, write_mask
from persam.experiments.overlays import overlay_labels
from persam.experiments.video_task import video_config, video_method
from persam.methods.builder import MethodConfigError, build_method, method_spec
from persam.methods.protocol import Shot
from persam.methods.video import start, step
from persam.models import EmbeddingCache, GuidedPredictor, build_sam
from persam.models.checkpoints import CheckpointError
from persam.run import CONFIG_DIR
from persam.segment_images import segment_files, summary


def image_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    if not files:
        raise DataError(f"{', '.join(map(str, paths))}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def segment(args: argparse.Namespace) -> int:
    if len(args.ref_image) != len(args.ref_mask):
        raise DataError(f"--ref-image and --ref-mask come in pairs: got {len(args.ref_image)} images and "
                        f"{len(args.ref_mask)} masks")
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose(config_name="config", overrides=[f"method={args.method}"])
        overrides = [f"method={args.method}"]
        if "presence" in cfg.method:  # on by default where the method has it
            overrides.append(f"method.presence={str(not args.always_mask).lower()}")
        if args.max_instances != 1:
            if "max_instances" not in cfg.method:
                raise DataError(f"method {args.method!r} finds one instance only (no max_instances setting)")
            overrides.append(f"method.max_instances={args.max_instances}")
        cfg = compose(config_name="config", overrides=overrides)
    references = []
    for image_path, mask_path in zip(args.ref_image, args.ref_mask, strict=True):
        ref_image = read_image(image_path)
        ref_mask = read_mask(mask_path, ref_image.shape[:2])
        if not ref_mask.any():
            raise DataError(f"{mask_path}: reference mask is empty (no non-zero pixel)")
        references.append((ref_image, ref_mask))
    files = image_files(args.images)
    predictor = GuidedPredictor(build_sam(args.model, args.checkpoint, args.device),
                                None if args.no_cache else EmbeddingCache())
    method = build_method(predictor, cfg.method)
    if method.needs_ground_truth:
        raise DataError(f"method {args.method!r} is an oracle: it reads the ground truth, which segment does not have")
    reference = method.fit([Shot(predictor.embed(image), mask) for image, mask in references])
    results = segment_files(method, reference, predictor, files, args.out, desc=cfg.method.label)
    absent = [r.file for r in results if not r.present]
    print(f"{len(files)} masks in {args.out / 'masks'}, overlays in {args.out / 'overlays'}, "
          f"scores in {args.out / 'scores.csv'}")
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
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose(config_name="config", overrides=[f"method={args.method}"])
    frames = image_files([args.frames])
    first = read_image(frames[0])
    labels, palette = reference_labels(args.ref_mask, first.shape[:2])
    predictor = GuidedPredictor(build_sam(args.model, args.checkpoint, args.device),
                                None if args.no_cache else EmbeddingCache())
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
    print(f"{len(frames)} masks in {args.out / 'masks'} (palette PNGs, object ids as in {args.ref_mask.name}), "
          f"overlay video {gif}")
    return 0


def gif_frame(picture: np.ndarray, max_side: int = 480) -> Image.Image:
    """An overlay picture scaled down (long side ``max_side``) for the GIF."""
    scale = min(1.0, max_side / max(picture.shape[:2]))
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    return Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="persam", description="One-shot personalized segmentation with SAM.")
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="find the object of a reference mask in other images")
    seg.add_argument("--ref-image", type=Path, action="append", required=True,
                     help="a reference photo (repeat with --ref-mask for several references)")
    seg.add_argument("--ref-mask", type=Path, action="append", required=True,
                     help="its mask (any non-zero pixel is the object), one per --ref-image, in the same order")
    seg.add_argument("--images", type=Path, nargs="+", required=True, help="image files or folders")
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
    trk.add_argument("--ref-mask", type=Path, required=True,
                     help="the first frame's mask: a palette PNG with one index per object (DAVIS style), "
                          "or any one-object mask")
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
    args = parser.parse_args(argv)
    try:
        return track(args) if args.command == "track" else segment(args)
    except (DataError, CheckpointError, MethodConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
