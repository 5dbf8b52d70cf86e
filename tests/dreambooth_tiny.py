"""A tiny Stable Diffusion pipeline built from configs (random weights), saved as a pretrained pipeline folder,
so DreamBooth's training loads it by path exactly as it loads the real weights.

The VAE has four blocks, so it downsamples by 8 like Stable Diffusion's (a 64 x 64 image has 8 x 8 latents);
the tokenizer's vocabulary is the lowercase letters, digits and a few marks, one token per character.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import torch

MAX_TOKENS = 32


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits + ".,!'-":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)  # a character that ends a word
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=MAX_TOKENS)


def tiny_pipeline(prediction_type: str = "epsilon", seed: int = 0):
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        projection_dim=32))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=32)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[8, 8, 16, 16], layers_per_block=1,
        latent_channels=4, norm_num_groups=8, sample_size=64)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                              beta_end=0.012, steps_offset=1, clip_sample=False, prediction_type=prediction_type)
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def save_tiny_pipeline(folder: Path, prediction_type: str = "epsilon") -> Path:
    tiny_pipeline(prediction_type).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for these tests: the tiny models' operations gain nothing from a second thread, and
    on a loaded 2-core machine contending OpenMP threads made them ~100x slower (measured: a tiny UNet step
    0.1 s on one thread, 14 s on two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
