"""Pictures of predictions: the mask tinted over the image, its outline and the prompt points; and writing them."""

from __future__ import annotations

import os

import cv2
import numpy as np

from persam.atomic import atomic_path

MAX_SIDE = 1024  # overlays are for looking at; keep them small


def overlay(image: np.ndarray, mask: np.ndarray, points: np.ndarray | None = None,
            labels: np.ndarray | None = None, gt: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 picture: prediction tinted blue with a white outline, ground truth (if given) outlined in
    yellow, positive points green and negative points red."""
    scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    out = small.astype(np.float32)
    out[small_mask] = 0.55 * out[small_mask] + 0.45 * np.array([30, 144, 255], dtype=np.float32)
    out = out.astype(np.uint8)
    contours, _ = cv2.findContours(small_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 2)
    if gt is not None:
        small_gt = cv2.resize(gt.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(small_gt, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 215, 0), 1)
    if points is not None and labels is not None:
        for (x, y), label in zip(points, labels, strict=True):
            color = (0, 220, 0) if label == 1 else (230, 0, 0)
            center = (int(round(x * scale)), int(round(y * scale)))
            cv2.drawMarker(out, center, (255, 255, 255), cv2.MARKER_STAR, 22, 4)
            cv2.drawMarker(out, center, color, cv2.MARKER_STAR, 20, 2)
    return out


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB picture (format from the suffix) atomically."""
    with atomic_path(path, keep_suffix=True) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: OpenCV could not write the image")


def overlay_labels(image: np.ndarray, labels: np.ndarray, palette: list[int],
                   points: list[np.ndarray] | None = None) -> np.ndarray:
    """RGB uint8 picture of a label map (video, several objects): each object tinted with its palette colour
    and outlined in white; ``points`` (XY arrays, one per object) drawn as green stars."""
    scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.resize(labels.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    colours = np.asarray(palette[:768], dtype=np.float32).reshape(-1, 3)
    ids = [int(k) for k in np.unique(small) if k not in (0, 255)]
    for k in ids:
        region = small == k
        out[region] = 0.5 * out[region] + 0.5 * colours[k]
    out = out.astype(np.uint8)
    for k in ids:
        contours, _ = cv2.findContours((small == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 2)
    for coords in points or []:
        for x, y in coords:
            center = (int(round(x * scale)), int(round(y * scale)))
            cv2.drawMarker(out, center, (255, 255, 255), cv2.MARKER_STAR, 16, 3)
            cv2.drawMarker(out, center, (0, 220, 0), cv2.MARKER_STAR, 14, 1)
    return out
