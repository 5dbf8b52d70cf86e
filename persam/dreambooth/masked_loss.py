"""The masked DreamBooth loss: the diffusion loss on the subject's photos counted only where the subject is.

A photo's mask (B x 1 x H x W in [0, 1], at the training resolution) becomes per-latent-cell weights by an area
average over each cell's ``scale x scale`` pixels (``scale`` = the VAE's downsampling factor, 8 for Stable
Diffusion), so a latent cell weighs the subject's share of its pixels. The squared error between the UNet's
prediction and the target (epsilon or v, as the scheduler's ``prediction_type`` says) is summed with those
weights and divided by their sum (per photo, then averaged over the batch): a photo's loss is the mean error
over its subject, whatever the subject's size. With weights of ones this is the plain MSE. The prior-preservation
loss on the class images stays the plain (unmasked) MSE.

What the mask does and does not do: the loss ignores the prediction on zero-weight cells (no gradient reaches the
UNet through them), so the background is never a regression target. It does not make the loss independent of
the background pixels: the VAE and the UNet mix neighbouring cells, so the background still enters as context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

MASK_MODES = ("persam", "none")


def dilate(mask: Tensor, px: int) -> Tensor:
    """Grey-scale dilation of B x 1 x H x W masks by a disc of radius ``px`` pixels (0: unchanged)."""
    if px <= 0:
        return mask
    padded = F.pad(mask, (px, px, px, px))
    h, w = mask.shape[-2:]
    out = mask.clone()
    for dy in range(-px, px + 1):
        for dx in range(-px, px + 1):
            if dy * dy + dx * dx <= px * px:
                out = torch.maximum(out, padded[..., px + dy:px + dy + h, px + dx:px + dx + w])
    return out


def latent_weights(mask: Tensor, scale: int, dilate_px: int = 0) -> Tensor:
    """Per-latent-cell weights (B x 1 x H/scale x W/scale): the share of each cell's ``scale x scale`` pixels
    covered by the (optionally dilated) B x 1 x H x W mask in [0, 1]."""
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be B x 1 x H x W, got {tuple(mask.shape)}")
    h, w = mask.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"mask size {w}x{h} is not a multiple of the latent scale {scale}")
    return F.avg_pool2d(dilate(mask.float(), dilate_px), kernel_size=scale)


def diffusion_target(scheduler, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
    """What the UNet should predict for ``latents`` noised with ``noise`` at ``timesteps``: the noise
    (``prediction_type`` epsilon) or the velocity (v_prediction, ``scheduler.get_velocity``)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"prediction_type {kind!r} is not supported (epsilon or v_prediction)")


def masked_mse(prediction: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
    """Mean squared error of B x C x h x w tensors, weighted per latent cell by ``weights`` (B x 1 x h x w) and
    normalised by each photo's weight sum (times C), then averaged over the batch; ``None``: the plain MSE.
    A photo with zero total weight contributes zero."""
    error = (prediction.float() - target.float()) ** 2
    if weights is None:
        return error.mean()
    if weights.shape != (error.shape[0], 1, *error.shape[2:]):
        raise ValueError(f"weights must be {error.shape[0]} x 1 x {error.shape[2]} x {error.shape[3]}, "
                         f"got {tuple(weights.shape)}")
    weights = weights.float()
    per_photo = (error * weights).flatten(1).sum(1)
    area = weights.flatten(1).sum(1) * error.shape[1]
    return (per_photo / area.clamp_min(1e-8)).mean()


def dreambooth_loss(prediction: Tensor, target: Tensor, subject_weights: Tensor | None, num_subject: int,
                    prior_weight: float = 1.0) -> dict[str, Tensor]:
    """The DreamBooth loss of a batch whose first ``num_subject`` rows are the subject's photos and the rest class
    images: the subject's loss (masked by ``subject_weights``, or plain with ``None``) plus ``prior_weight``
    times the plain MSE on the class images. Returns ``loss``, ``instance_loss`` (the subject photos' loss, under
    DreamBooth's own name for it, as logged) and (with class rows) ``prior_loss``."""
    subject = masked_mse(prediction[:num_subject], target[:num_subject], subject_weights)
    out = {"instance_loss": subject, "loss": subject}
    if prediction.shape[0] > num_subject:
        prior = masked_mse(prediction[num_subject:], target[num_subject:])
        out.update(prior_loss=prior, loss=subject + prior_weight * prior)
    return out
