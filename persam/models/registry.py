"""SAM variants by name: ``vit_h``, ``vit_l``, ``vit_b`` (segment-anything) and ``vit_t`` (MobileSAM).

``vit_t`` is MobileSAM's TinyViT image encoder (from the ``mobile_sam`` package) in front of
segment-anything's own prompt encoder and mask decoder, so every model here is a
``segment_anything.modeling.Sam`` and the guided decoder extends one decoder class only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from segment_anything import sam_model_registry as upstream_registry
from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from persam.models.checkpoints import CheckpointError, resolve_checkpoint

IMAGE_SIZE = 1024
EMBED_GRID = 64  # IMAGE_SIZE // patch size 16
PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]


def _build_vit_t() -> Sam:
    with warnings.catch_warnings():  # mobile_sam imports deprecated timm paths and re-registers timm models
        warnings.simplefilter("ignore")
        from mobile_sam.modeling import TinyViT

    embed = 256
    return Sam(
        image_encoder=TinyViT(
            img_size=IMAGE_SIZE,
            in_chans=3,
            num_classes=1000,
            embed_dims=[64, 128, 160, 320],
            depths=[2, 2, 6, 2],
            num_heads=[2, 4, 5, 10],
            window_sizes=[7, 7, 14, 7],
            mlp_ratio=4.0,
            drop_rate=0.0,
            drop_path_rate=0.0,
            use_checkpoint=False,
            mbconv_expand_ratio=4.0,
            local_conv_size=3,
            layer_lr_decay=0.8,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=embed,
            image_embedding_size=(EMBED_GRID, EMBED_GRID),
            input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=embed, mlp_dim=2048, num_heads=8),
            transformer_dim=embed,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD,
    )


# name -> builder returning an un-initialised Sam (weights are loaded by build_sam).
SAM_BUILDERS: dict[str, Callable[[], Sam]] = {
    "vit_h": lambda: upstream_registry["vit_h"](checkpoint=None),
    "vit_l": lambda: upstream_registry["vit_l"](checkpoint=None),
    "vit_b": lambda: upstream_registry["vit_b"](checkpoint=None),
    "vit_t": _build_vit_t,
}


@dataclass
class LoadedSam:
    """A SAM in eval mode on its device, with where its weights came from."""

    name: str
    sam: Sam
    checkpoint: Path
    sha256: str

    @property
    def device(self) -> torch.device:
        return self.sam.device


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_sam(
    name: str = "vit_t",
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    download: bool = True,
) -> LoadedSam:
    """Build SAM ``name`` with verified weights, frozen, in eval mode, on ``device`` (CUDA if present)."""
    if name not in SAM_BUILDERS:
        raise CheckpointError(f"unknown model {name!r}; choose one of {', '.join(SAM_BUILDERS)}")
    path, digest = resolve_checkpoint(name, checkpoint, download=download)
    sam = SAM_BUILDERS[name]()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from None
    try:
        missing, unexpected = sam.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensors of other shapes: another SAM variant
        first = str(err).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{path}: this checkpoint does not fit model {name!r} ({first}); "
                              "is it another SAM variant?") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: this checkpoint does not fit model {name!r} ({len(missing)} missing and "
            f"{len(unexpected)} unexpected weights, e.g. {(missing or unexpected)[0]}); is it another SAM variant?"
        )
    sam.eval().requires_grad_(False)
    return LoadedSam(name=name, sam=sam.to(device or default_device()), checkpoint=path, sha256=digest)
