"""The masked DreamBooth loss, on a tiny UNet's real predictions: gradients only inside the mask, the latent
weights as the subject's share of each cell, and a loss blind to what happens on zero-weight cells."""

from __future__ import annotations

import math

import pytest
import torch
from dreambooth_tiny import one_thread, tiny_pipeline  # noqa: F401  (one_thread: a fixture)

from persam.dreambooth.masked_loss import diffusion_target, dilate, latent_weights, masked_mse
from persam.dreambooth.train import Models, training_loss

RES, SCALE = 64, 8  # the tiny VAE downsamples by 8, as Stable Diffusion's

pytestmark = pytest.mark.usefixtures("one_thread")


def subject_mask(batch: int = 2) -> torch.Tensor:
    """B x 1 x 64 x 64: a rectangle over columns 12..35 and rows 16..47 (cells 1 and 4 half covered)."""
    mask = torch.zeros(batch, 1, RES, RES)
    mask[:, :, 16:48, 12:36] = 1.0
    return mask


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def models(request):
    pipe = tiny_pipeline(request.param)
    return Models(pipe.tokenizer, pipe.text_encoder, pipe.vae, pipe.unet, pipe.scheduler)


def test_latent_weights_are_the_subjects_share_of_each_cell():
    weights = latent_weights(subject_mask(1), SCALE)[0, 0]
    assert weights.shape == (8, 8)
    assert torch.equal(weights[2:6, 2:4], torch.ones(4, 2))
    assert torch.equal(weights[2:6, 1], torch.full((4,), 0.5))  # columns 12..15 of the cell 8..15
    assert torch.equal(weights[2:6, 4], torch.full((4,), 0.5))  # columns 32..35 of the cell 32..39
    assert weights[:2].sum() == 0 and weights[6:].sum() == 0 and weights[:, 5:].sum() == 0
    assert math.isclose(float(weights.sum()) * SCALE * SCALE, float(subject_mask(1).sum()))


def test_dilation_grows_a_point_into_a_disc():
    point = torch.zeros(1, 1, 41, 41)
    point[0, 0, 20, 20] = 1.0
    disc = dilate(point, 6)
    assert disc[0, 0, 20, 26] == 1 and disc[0, 0, 20, 27] == 0 and disc[0, 0, 24, 24] == 1 and disc[0, 0, 25, 25] == 0
    assert abs(float(disc.sum()) - math.pi * 36) < 0.1 * math.pi * 36
    assert torch.equal(dilate(point, 0), point)


def subject_batch(models, weights):
    torch.manual_seed(1)
    latents = torch.randn(2, 4, 8, 8)
    prompts = torch.randn(2, 7, 32)
    losses, prediction = training_loss(models, models.unet, latents, weights, prompts, num_subject=2,
                                       prior_weight=1.0, generator=torch.Generator().manual_seed(0))
    prediction.retain_grad()
    losses["instance_loss"].backward()
    return prediction.grad.abs().sum(1)  # B x h x w: the gradient reaching each latent cell


def test_gradient_reaches_only_the_subjects_cells(models):
    weights = latent_weights(subject_mask(), SCALE)
    grad = subject_batch(models, weights)
    inside = weights[:, 0] > 0
    assert torch.all(grad[~inside] == 0), "a latent cell outside the mask got a gradient"
    assert torch.all(grad[inside] > 0), "a latent cell inside the mask got no gradient"


def test_without_mask_the_gradient_reaches_every_cell(models):
    grad = subject_batch(models, None)
    assert torch.all(grad > 0)


def test_weights_of_ones_are_the_plain_mse():
    prediction, target = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    plain = masked_mse(prediction, target)
    assert torch.allclose(masked_mse(prediction, target, torch.ones(3, 1, 8, 8)), plain)
    assert torch.allclose(plain, torch.nn.functional.mse_loss(prediction, target))


def test_the_masked_loss_ignores_zero_weight_cells(models):
    """What the mask guarantees: values of the prediction and of the target (for v-prediction the target holds
    the latents, i.e. the photo) on cells of zero weight do not enter the loss. Changing the photo's background
    pixels is not such a change end to end: the VAE's and the UNet's receptive fields carry background pixels
    into the subject's cells, where they are context, so the test changes the cells' values directly."""
    scheduler = models.noise_scheduler
    weights = latent_weights(subject_mask(), SCALE)
    background = (weights == 0).expand(2, 4, 8, 8)
    torch.manual_seed(2)
    latents, noise, prediction = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    timesteps = torch.tensor([10, 700])
    changed_latents = torch.where(background, latents + 5 * torch.randn_like(latents), latents)
    changed_prediction = torch.where(background, prediction + 5 * torch.randn_like(prediction), prediction)
    changed_noise = torch.where(background, noise + 5 * torch.randn_like(noise), noise)

    def loss(lat, noi, pred, w):
        return masked_mse(pred, diffusion_target(scheduler, lat, noi, timesteps), w)

    masked = loss(latents, noise, prediction, weights)
    assert loss(changed_latents, changed_noise, changed_prediction, weights) == masked
    assert loss(changed_latents, changed_noise, changed_prediction, None) != loss(latents, noise, prediction, None)
    inside = (weights > 0).expand(2, 4, 8, 8)
    assert loss(latents, noise, torch.where(inside, prediction + 1, prediction), weights) != masked


def test_target_follows_the_prediction_type(models):
    scheduler = models.noise_scheduler
    latents, noise, timesteps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.tensor([3, 900])
    target = diffusion_target(scheduler, latents, noise, timesteps)
    if scheduler.config.prediction_type == "epsilon":
        assert torch.equal(target, noise)
    else:
        assert torch.allclose(target, scheduler.get_velocity(latents, noise, timesteps))
        assert not torch.allclose(target, noise)
