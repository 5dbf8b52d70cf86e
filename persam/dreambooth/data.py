"""Photos, masks and class images as training tensors, and their latents encoded once.

Every image is resized so its short side is the training resolution and centre-cropped to a square; a mask gets
the same geometry (bilinear, so its edge cells keep their covered share). The VAE is frozen and the images are
not augmented, so each image is encoded once: its latent distribution (mean and log-variance) is kept, and a
fresh latent is drawn from it at every step, as encoding it every step would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from persam.data.io import read_image


def square_crop(picture: Image.Image, resolution: int, resample: Image.Resampling) -> Image.Image:
    """``picture`` with its short side scaled to ``resolution`` and the centre square cut out."""
    scale = resolution / min(picture.size)
    w, h = max(resolution, round(picture.width * scale)), max(resolution, round(picture.height * scale))
    picture = picture.resize((w, h), resample)
    left, top = (w - resolution) // 2, (h - resolution) // 2
    return picture.crop((left, top, left + resolution, top + resolution))


def image_tensor(path: Path, resolution: int) -> Tensor:
    """3 x R x R float in [-1, 1] (the VAE's input range)."""
    picture = square_crop(Image.fromarray(read_image(path)), resolution, Image.Resampling.BICUBIC)
    array = np.asarray(picture, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def mask_tensor(mask: np.ndarray, resolution: int) -> Tensor:
    """1 x R x R float in [0, 1] from an H x W bool mask, with the photo's geometry."""
    picture = square_crop(Image.fromarray(mask.astype(np.uint8) * 255), resolution, Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)[None]


@torch.no_grad()
def encode_moments(vae, pixels: Tensor, batch_size: int) -> Tensor:
    """N x 2C x h x w: the VAE's latent mean and log-variance of N x 3 x R x R images (frozen VAE's device/dtype)."""
    out = []
    for start in range(0, len(pixels), batch_size):
        chunk = pixels[start:start + batch_size].to(vae.device, vae.dtype)
        out.append(vae.encode(chunk).latent_dist.parameters.float().cpu())
    return torch.cat(out)


def sample_latents(moments: Tensor, scaling_factor: float, generator: torch.Generator) -> Tensor:
    """Latents drawn from N x 2C x h x w moments (mean + std * noise), scaled as the UNet expects."""
    mean, logvar = moments.chunk(2, dim=1)
    std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    return (mean + std * noise) * scaling_factor


def batch_indices(step: int, batch_size: int, count: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """The items of micro-step ``step`` on process ``rank`` of ``world``: a fresh seeded permutation of ``count``
    items per pass, read in order, so a resumed run sees the same items as an uninterrupted one."""
    first = (step * world + rank) * batch_size
    picks = []
    for position in range(first, first + batch_size):
        epoch, offset = divmod(position, count)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        picks.append(int(order[offset]))
    return picks
