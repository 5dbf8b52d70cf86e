"""The ``persam`` command, for people who just want masks.

    persam segment --ref-image dog.jpg --ref-mask dog.png --images photos/ --out masks/
    persam segment ... --method persam_f --model vit_b --checkpoint ~/sam_vit_b_01ec64.pth

Writes ``<out>/masks/<name>.png`` (palette PNG, 1 = the object) and ``<out>/overlays/<name>.jpg``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from tqdm import tqdm

from persam.data.io import IMAGE_SUFFIXES, DataError, read_image, read_mask, write_mask
from persam.experiments.evaluate import method_config
from persam.experiments.overlays import overlay, write_image
from persam.methods import PerSAM
from persam.models import EmbeddingCache, GuidedPredictor, build_sam
from persam.models.checkpoints import CheckpointError
from persam.run import CONFIG_DIR


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
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose(config_name="config", overrides=[f"method={args.method}"])
    ref_image = read_image(args.ref_image)
    ref_mask = read_mask(args.ref_mask, ref_image.shape[:2])
    if not ref_mask.any():
        raise DataError(f"{args.ref_mask}: reference mask is empty (no non-zero pixel)")
    files = image_files(args.images)
    predictor = GuidedPredictor(build_sam(args.model, args.checkpoint, args.device),
                                None if args.no_cache else EmbeddingCache())
    method = PerSAM(predictor, method_config(cfg))
    reference = method.fit(predictor.embed(ref_image), ref_mask)
    for path in tqdm(files, desc=f"{cfg.method.label}", unit="img"):
        image = read_image(path)
        prediction = method.predict(predictor.embed(image), reference)
        write_mask(args.out / "masks" / f"{path.stem}.png", prediction.mask)
        write_image(args.out / "overlays" / f"{path.stem}.jpg",
                    overlay(image, prediction.mask, prediction.point_coords, prediction.point_labels))
    print(f"{len(files)} masks in {args.out / 'masks'}, overlays in {args.out / 'overlays'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="persam", description="One-shot personalized segmentation with SAM.")
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="find the object of a reference mask in other images")
    seg.add_argument("--ref-image", type=Path, required=True, help="the reference photo")
    seg.add_argument("--ref-mask", type=Path, required=True, help="its mask (any non-zero pixel is the object)")
    seg.add_argument("--images", type=Path, nargs="+", required=True, help="image files or folders")
    seg.add_argument("--out", type=Path, required=True, help="output folder")
    seg.add_argument("--method", default="persam", help="persam (training-free, default) or persam_f")
    seg.add_argument("--model", default="vit_t", help="vit_t (MobileSAM, default), vit_b, vit_l or vit_h")
    seg.add_argument("--checkpoint", default=None, help="path to the model's checkpoint (default: found/downloaded)")
    seg.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    seg.add_argument("--no-cache", action="store_true", help="do not cache image embeddings on disk")
    args = parser.parse_args(argv)
    try:
        return segment(args)
    except (DataError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
