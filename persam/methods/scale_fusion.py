"""PerSAM-F: two learnable weights fuse SAM's three multimask outputs; SAM stays frozen.

The fused logits are ``(1 - w1 - w2) * L0 + w1 * L1 + w2 * L2``, with ``w1 = w2 = 1/3`` at the start.
The weights are fitted on the reference image against its own mask with the paper's objective, dice +
sigmoid focal loss (alpha 0.25, gamma 2), by AdamW (lr 1e-3, eps 1e-4, weight decay 0.01) with a cosine
schedule over 1000 steps. The three logit maps are computed once by the decoder and reused by every step.

Two implementations of the same optimisation:

* :func:`fit_scale_weights_autograd` is the reference: autograd and ``torch.optim.AdamW`` on every pixel.
  At 1000 steps on a 1-4 Mpixel reference it takes about a minute on a 2-core CPU.
* :func:`fit_scale_weights` (the default) first groups the pixels whose three logits agree to within
  ``quantum`` (1.0 logit) and whose targets are equal (a few thousand groups instead of millions of pixels),
  then steps the same AdamW with closed-form gradients of the loss over the count-weighted groups.
  Tests pin it to the reference's weights within 0.01 on real PerSeg references.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

ALPHA, GAMMA = 0.25, 2.0
BETAS, EPS, WEIGHT_DECAY = (0.9, 0.999), 1e-4, 0.01
DENSE_KEYS = 1 << 24  # compress: count into a dense grid up to this many cells, else hash


def full_weights(learnt: Tensor) -> Tensor:
    """The 3 fusion weights ``[1 - w1 - w2, w1, w2]`` from the 2 learnt ones."""
    return torch.cat([1 - learnt.sum(0, keepdim=True), learnt])


def fuse(logits: Tensor, weights: Tensor) -> Tensor:
    """Fused logits from 3 x ... logits and the 3 fusion weights."""
    return torch.einsum("k,k...->...", weights.to(logits.dtype), logits)


def dice_loss(logits: Tensor, target: Tensor) -> Tensor:
    prob = logits.sigmoid()
    return 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)


def focal_loss(logits: Tensor, target: Tensor, alpha: float = ALPHA, gamma: float = GAMMA) -> Tensor:
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * ce * (1 - p_t) ** gamma).mean()


def fit_scale_weights_autograd(logits: Tensor, target: Tensor, steps: int = 1000, lr: float = 1e-3) -> Tensor:
    """Reference fit. logits: 3 x H x W; target: H x W in {0, 1}. Returns the 3 fusion weights."""
    logits = logits.detach().float().flatten(1)
    target = target.float().flatten()
    weights = torch.full((2,), 1.0 / 3.0, device=logits.device, requires_grad=True)
    optimizer = torch.optim.AdamW([weights], lr=lr, eps=EPS, betas=BETAS, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    with torch.enable_grad():
        for _ in range(steps):
            fused = fuse(logits, full_weights(weights))
            loss = dice_loss(fused, target) + focal_loss(fused, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return full_weights(weights.detach())


def compress(logits: Tensor, target: Tensor, quantum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group pixels whose three logits agree to within ``quantum`` and whose targets are equal.

    Returns (3 x B mean logits per group, B targets, B pixel counts), float64. The loss is a sum over
    pixels of a function of (logits, target), so the count-weighted sum over groups equals it up to the
    quantisation, and the fit's cost no longer grows with the image size.

    The groups are the cells of a grid over (L0, L1, L2, target) of spacing ``quantum``; when the grid spans at
    most ``DENSE_KEYS`` cells (SAM's logits lie within about +-30, so ~10^5 cells at quantum 1) the pixels are
    counted straight into it (one pass of ``bincount`` per sum), else they are hashed (``pandas.factorize``).
    """
    flat = logits.detach().flatten(1).float().cpu().numpy()
    tgt = (target.detach().flatten().cpu().numpy() > 0.5).astype(np.int64)
    q = np.rint(flat / quantum if quantum != 1.0 else flat).astype(np.int64)
    q -= q.min(axis=1, keepdims=True)
    span = q.max(axis=1) + 1
    key = ((q[0] * span[1] + q[1]) * span[2] + q[2]) * 2 + tgt
    cells = int(span.prod()) * 2
    if cells <= DENSE_KEYS:
        counts = np.bincount(key, minlength=cells)
        used = np.flatnonzero(counts)
        sums = np.stack([np.bincount(key, weights=row, minlength=cells)[used] for row in flat])
        counts = counts[used].astype(np.float64)
        return sums / counts, (used & 1).astype(np.float64), counts
    groups, uniques = pd.factorize(key)  # hash-based: linear in the number of pixels
    n = len(uniques)
    counts = np.bincount(groups, minlength=n).astype(np.float64)
    means = np.stack([np.bincount(groups, weights=row, minlength=n) for row in flat]) / counts
    targets = np.bincount(groups, weights=tgt, minlength=n) / counts
    return means, targets, counts


def fit_scale_weights(
    logits: Tensor, target: Tensor, steps: int = 1000, lr: float = 1e-3, quantum: float = 1.0
) -> Tensor:
    """Fast fit (see module doc). logits: 3 x H x W; target: H x W in {0, 1}. Returns the 3 fusion weights."""
    group_logits, t, counts = compress(logits, target, quantum)
    return full_weights(torch.as_tensor(adamw_on_groups(group_logits, t, counts, steps, lr), dtype=torch.float32))


def adamw_on_groups(group_logits: np.ndarray, t: np.ndarray, counts: np.ndarray, steps: int = 1000,
                    lr: float = 1e-3) -> np.ndarray:
    """torch.optim.AdamW with CosineAnnealingLR on the 2 learnt weights, with closed-form gradients of
    dice + focal over count-weighted groups (3 x B logits, B targets in {0, 1}, B counts). Returns [w1, w2].

    Groups are pure in their target, which lets every per-group term be written with ``s = (1 - 2t) f``
    (f the fused logit): ``q = sigmoid(s)`` is both ``1 - p_t`` and ``|p - t|``, and the cross-entropy is
    ``softplus(s)``; so a step costs one ``tanh`` and one ``logaddexp`` over the groups.
    """
    base = group_logits[0]
    deltas = group_logits[1:] - base  # d fused / d w_j = L_j - L_0
    sign = 1 - 2 * t  # +1 background, -1 object
    n = counts.sum()
    ct = counts * t
    sum_t = float(ct.sum())
    sums_of_q = np.stack([counts * sign, -ct])  # @ q: S_p - S_t and S_pt - S_t
    dice_terms = np.stack([counts, ct])  # coefficients [a, -b] @ this: a * counts - b * ct
    focal_sign = counts * (ALPHA * t + (1 - ALPHA) * (1 - t)) / n * sign
    s_base, s_deltas = sign * base, np.ascontiguousarray((sign * deltas).T)  # B, B x 2
    w1 = w2 = 1.0 / 3.0
    m1 = m2 = v1 = v2 = 0.0
    half = np.empty_like(base)
    for step in range(steps):
        s = s_deltas @ np.array([w1, w2])
        s += s_base
        np.multiply(s, 0.5, out=half)
        q = np.tanh(half, out=half)
        q *= 0.5
        q += 0.5  # sigmoid(s), without overflow
        ce = np.logaddexp(0.0, s)  # softplus(s): the cross-entropy of the pixel's own target
        qq = q * q
        dp = q - qq  # p (1 - p), symmetric in p and q
        # dice = 1 - (2 S_pt + 1) / (S_p + S_t + 1), with p = t + (1 - 2t) q
        d_sp, d_spt = sums_of_q @ q
        s_pt = sum_t + d_spt
        denom = 2 * sum_t + d_sp + 1
        g = np.array([(2 * s_pt + 1) / denom**2, -2 / denom]) @ dice_terms
        g *= dp
        # focal = mean(alpha_t * ce * q^2): d/df = alpha_t * (1 - 2t) * q * (q^2 + 2 ce p(1 - p))
        ce *= dp
        ce *= 2
        ce += qq
        ce *= q
        ce *= focal_sign
        g += ce
        g1, g2 = deltas @ g
        # torch.optim.AdamW, with CosineAnnealingLR's closed form for this step's learning rate
        step_lr = lr * (1 + math.cos(math.pi * step / steps)) / 2
        decay = 1 - step_lr * WEIGHT_DECAY
        m1 = BETAS[0] * m1 + (1 - BETAS[0]) * g1
        m2 = BETAS[0] * m2 + (1 - BETAS[0]) * g2
        v1 = BETAS[1] * v1 + (1 - BETAS[1]) * g1 * g1
        v2 = BETAS[1] * v2 + (1 - BETAS[1]) * g2 * g2
        c1, c2 = 1 - BETAS[0] ** (step + 1), 1 - BETAS[1] ** (step + 1)
        w1 = w1 * decay - step_lr * (m1 / c1) / (math.sqrt(v1 / c2) + EPS)
        w2 = w2 * decay - step_lr * (m2 / c1) / (math.sqrt(v2 / c2) + EPS)
    return np.array([w1, w2])
