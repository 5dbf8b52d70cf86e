"""``python -m persam.dreambooth.train``: DreamBooth on Stable Diffusion with PerSAM's masks (the paper's
Section 3.4 / 4.3), built on diffusers components, configured by ``persam/conf/dreambooth/default.yaml`` (``--help``
lists every option). Runs as is or under ``accelerate launch -m persam.dreambooth.train``.

    python -m persam.dreambooth.train instance.dir=dog/ instance.prompt="a photo of sks dog" \\
        class_data.prompt="a photo of dog" masks.ref_mask=dog_mask.png output_dir=runs/dog
    ... mask_mode=none                    # plain DreamBooth, for the paper's comparison

Steps: masks of the subject (PerSAM-F from one mask or click, or a folder of masks); class images topped up by
the pretrained pipeline; photos and class images encoded once by the frozen VAE; then ``train.steps`` optimizer
steps on the UNet (text encoder and VAE frozen), each a batch of subject photos (and as many class images),
loss from :func:`persam.dreambooth.masked_loss.dreambooth_loss`. Data order, noise and timesteps are seeded per
step, so a resumed run continues as the uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from persam.allocator import keep_large_buffers
from persam.config import config_file
from persam.data.io import DataError
from persam.dreambooth import checkpoints
from persam.dreambooth.class_images import class_image_files, generate_class_images
from persam.dreambooth.data import batch_indices, encode_moments, image_tensor, mask_tensor, sample_latents
from persam.dreambooth.masked_loss import MASK_MODES, diffusion_target, dreambooth_loss, latent_weights
from persam.dreambooth.subject_masks import (
    Reference,
    SubjectMask,
    parse_point,
    read_subject_masks,
    segment_subject,
    subject_photos,
)
from persam.models.checkpoints import CheckpointError
from persam.segment.predictor import user_predictor

log = logging.getLogger(__name__)
WEIGHT_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class Models:
    """The pipeline's parts: the UNet is trained, the rest frozen."""

    tokenizer: object
    text_encoder: object
    vae: object
    unet: object
    noise_scheduler: object


@dataclass
class TrainResult:
    """Where a run ended: the final pipeline folder and the step it started from (> 0 when resumed)."""

    pipeline: Path
    start_step: int


def load_models(cfg: DictConfig) -> Models:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    name, revision = cfg.pretrained_model, cfg.revision
    try:
        return Models(CLIPTokenizer.from_pretrained(name, subfolder="tokenizer", revision=revision),
                      CLIPTextModel.from_pretrained(name, subfolder="text_encoder", revision=revision),
                      AutoencoderKL.from_pretrained(name, subfolder="vae", revision=revision),
                      UNet2DConditionModel.from_pretrained(name, subfolder="unet", revision=revision),
                      DDPMScheduler.from_pretrained(name, subfolder="scheduler", revision=revision))
    except OSError as err:  # not a pipeline folder, not on the hub, or no network
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{name}: cannot load the Stable Diffusion pipeline ({first_line})") from None


def pipeline(models: Models, unet):
    """A StableDiffusionPipeline of the current parts (``unet``: the unwrapped training UNet), for sampling and
    saving; DPM-Solver++ schedules its sampling."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    sampler = DPMSolverMultistepScheduler.from_config(models.noise_scheduler.config)
    return StableDiffusionPipeline(vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer,
                                   unet=unet, scheduler=sampler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


@torch.no_grad()
def encode_prompt(models: Models, prompt: str) -> Tensor:
    """1 x L x D hidden states of the frozen text encoder."""
    tokens = models.tokenizer(prompt, padding="max_length", max_length=models.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").input_ids
    return models.text_encoder(tokens.to(models.text_encoder.device))[0].float()


def subject_masks(cfg: DictConfig, photos: list[Path], output_dir: Path) -> list[SubjectMask]:
    """The subject's masks: from ``masks.dir``, else computed once with PerSAM into ``<output_dir>/masks``."""
    if cfg.masks.dir:
        return read_subject_masks(Path(cfg.masks.dir), photos)
    folder = output_dir / "masks"
    if all((folder / f"{p.stem}.png").is_file() for p in photos):
        return read_subject_masks(folder, photos)  # computed by an earlier run into this output_dir
    if (cfg.masks.ref_mask is None) == (cfg.masks.ref_point is None):
        raise DataError("mask_mode=persam needs masks.dir, or exactly one of masks.ref_mask and masks.ref_point")
    reference = Reference(Path(cfg.masks.ref_image) if cfg.masks.ref_image else photos[0],
                          Path(cfg.masks.ref_mask) if cfg.masks.ref_mask else None,
                          parse_point(str(cfg.masks.ref_point)) if cfg.masks.ref_point else None)
    predictor = user_predictor(cfg.masks.model, cfg.masks.checkpoint)
    masks, skipped = segment_subject(photos, reference, folder, cfg.masks.method, predictor)
    for item in skipped:
        log.warning("%s: %s: left out of training", item.file, item.reason)
    return masks


def class_images(cfg: DictConfig, output_dir: Path, device, dtype) -> list[Path]:
    """The class images, the folder first topped up to ``class_data.num_images`` by the pretrained pipeline
    (loaded in the mixed-precision type only when images are missing, and dropped afterwards)."""
    from diffusers import StableDiffusionPipeline

    folder = Path(cfg.class_data.dir) if cfg.class_data.dir else output_dir / "class_images"
    if len(class_image_files(folder)) < cfg.class_data.num_images:
        pipe = StableDiffusionPipeline.from_pretrained(cfg.pretrained_model, revision=cfg.revision, dtype=dtype,
                                                       safety_checker=None, requires_safety_checker=False).to(device)
        pipe.set_progress_bar_config(disable=True)
        generate_class_images(pipe, folder, cfg.class_data.prompt, cfg.class_data.num_images, cfg.resolution,
                              cfg.class_data.batch_size, cfg.class_data.inference_steps, cfg.seed)
        del pipe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    files = class_image_files(folder)[:cfg.class_data.num_images]
    if not files:
        raise DataError(f"{folder}: no class images (class_data.num_images is {cfg.class_data.num_images})")
    return files


def training_photos(cfg: DictConfig, accelerator, output_dir: Path) -> tuple[list[Path], list[SubjectMask] | None]:
    """The subject's photos to train on and, with ``mask_mode=persam``, their masks (photos where the subject
    was not found are left out, with a warning)."""
    photos = subject_photos(Path(cfg.instance.dir))
    if cfg.mask_mode != "persam":
        return photos, None
    with accelerator.main_process_first():  # the main process computes and writes them, the others read
        masks = subject_masks(cfg, photos, output_dir)
    missing = [m.photo.name for m in masks if not m.present]
    if missing:
        log.warning("subject not found in %s: left out of training", ", ".join(missing))
    masks = [m for m in masks if m.present]
    if not masks:
        raise DataError(f"{cfg.instance.dir}: the subject was found in none of the photos")
    return [m.photo for m in masks], masks


@dataclass
class TrainingData:
    """Everything a step draws from, encoded once: latent moments of the photos (N x 2C x h x w) and class
    images (M x 2C x h x w, or None), the photos' latent weights (N x 1 x h x w, None without masks) and the two
    prompts' text-encoder states (1 x L x D)."""

    subject_moments: Tensor
    subject_weights: Tensor | None
    class_moments: Tensor | None
    subject_prompt: Tensor
    class_prompt: Tensor

    def batch(self, micro: int, cfg: DictConfig, rank: int, world: int, generator: torch.Generator,
              scaling_factor: float) -> tuple[Tensor, Tensor | None, Tensor, int]:
        """Micro-step ``micro``'s latents (photos first, then as many class images), the photos' weights, the
        prompt states and the number of photos."""
        picks = batch_indices(micro, cfg.train.batch_size, len(self.subject_moments), cfg.seed, rank, world)
        moments = self.subject_moments[picks]
        weights = self.subject_weights[picks] if self.subject_weights is not None else None
        prompts = self.subject_prompt.expand(len(picks), -1, -1)
        if self.class_moments is not None:
            class_picks = batch_indices(micro, cfg.train.batch_size, len(self.class_moments), cfg.seed + 1, rank, world)
            moments = torch.cat([moments, self.class_moments[class_picks]])
            prompts = torch.cat([prompts, self.class_prompt.expand(len(class_picks), -1, -1)])
        return sample_latents(moments, scaling_factor, generator), weights, prompts, len(picks)


def encode_training_data(cfg: DictConfig, models: Models, photos: list[Path], masks: list[SubjectMask] | None,
                         class_files: list[Path]) -> TrainingData:
    def moments(files: list[Path]) -> Tensor:
        pixels = torch.stack([image_tensor(p, cfg.resolution) for p in files])
        return encode_moments(models.vae, pixels, cfg.train.encode_batch_size)

    weights = None
    if masks is not None:
        scale = 2 ** (len(models.vae.config.block_out_channels) - 1)  # the VAE's downsampling factor
        weights = latent_weights(torch.stack([mask_tensor(m.mask, cfg.resolution) for m in masks]), scale,
                                 cfg.masks.dilate_px)
    return TrainingData(moments(photos), weights, moments(class_files) if class_files else None,
                        encode_prompt(models, cfg.instance.prompt), encode_prompt(models, cfg.class_data.prompt))


def training_loss(models: Models, unet, latents: Tensor, weights: Tensor | None, prompts: Tensor, num_subject: int,
                  prior_weight: float, generator: torch.Generator) -> tuple[dict[str, Tensor], Tensor]:
    """The DreamBooth losses of one batch (rows: ``num_subject`` photos, then class images) and the UNet's
    prediction (B x C x h x w): noise and timesteps drawn from ``generator``, target as the scheduler says."""
    scheduler = models.noise_scheduler
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    device = latents.device
    noise, timesteps = noise.to(device), timesteps.to(device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = unet(noisy, timesteps, prompts).sample
    target = diffusion_target(scheduler, latents, noise, timesteps)
    return dreambooth_loss(prediction, target, weights, num_subject, prior_weight), prediction


def write_samples(cfg: DictConfig, models: Models, unet, step: int, output_dir: Path, autocast) -> list[Path]:
    """``samples.per_prompt`` images per sample prompt into ``<output_dir>/samples/step-<step>/``."""
    pipe = pipeline(models, unet)
    pipe.set_progress_bar_config(disable=True)
    folder = output_dir / "samples" / f"step-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for p, prompt in enumerate(cfg.samples.prompts):
        generators = [torch.Generator().manual_seed(cfg.seed * 100_003 + i) for i in range(cfg.samples.per_prompt)]
        with autocast():
            images = pipe(prompt, num_images_per_prompt=cfg.samples.per_prompt, height=cfg.resolution,
                          width=cfg.resolution, num_inference_steps=cfg.samples.inference_steps,
                          guidance_scale=cfg.samples.guidance_scale, generator=generators).images
        for i, image in enumerate(images):
            paths.append(folder / f"prompt{p}-{i}.png")
            image.save(paths[-1])
    (folder / "prompts.json").write_text(json.dumps(list(cfg.samples.prompts), indent=1) + "\n")
    return paths


def train(cfg: DictConfig) -> TrainResult:
    """The whole run (see the module doc)."""
    import wandb
    from accelerate import Accelerator
    from diffusers import UNet2DConditionModel
    from diffusers.optimization import get_scheduler

    if cfg.mask_mode not in MASK_MODES:
        raise DataError(f"mask_mode must be one of {', '.join(MASK_MODES)}, got {cfg.mask_mode!r}")
    if cfg.train.mixed_precision not in WEIGHT_DTYPES:
        raise DataError(f"train.mixed_precision must be no, fp16 or bf16, got {cfg.train.mixed_precision!r}")
    accelerator = Accelerator(mixed_precision=cfg.train.mixed_precision,
                              gradient_accumulation_steps=cfg.train.gradient_accumulation_steps)
    output_dir = Path(cfg.output_dir)
    photos, masks = training_photos(cfg, accelerator, output_dir)
    models = load_models(cfg)
    weight_dtype = WEIGHT_DTYPES[cfg.train.mixed_precision]
    for frozen in (models.vae, models.text_encoder):
        frozen.requires_grad_(False)
        frozen.to(accelerator.device)
        if weight_dtype != torch.float32:
            frozen.to(dtype=weight_dtype)
    class_files = []
    if cfg.prior_preservation:
        with accelerator.main_process_first():
            class_files = class_images(cfg, output_dir, accelerator.device, weight_dtype)
    data = encode_training_data(cfg, models, photos, masks, class_files)

    unet = models.unet
    unet.train()
    if cfg.train.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.train.lr, betas=(cfg.train.adam_beta1, cfg.train.adam_beta2),
                                  weight_decay=cfg.train.adam_weight_decay, eps=cfg.train.adam_epsilon)
    lr_schedule = get_scheduler(cfg.train.lr_scheduler, optimizer, num_warmup_steps=cfg.train.lr_warmup_steps,
                                num_training_steps=cfg.train.steps)
    unet, optimizer, lr_schedule = accelerator.prepare(unet, optimizer, lr_schedule)

    def skip_model_files(models_, weights, _folder):  # the checkpoint's unet/ folder holds the UNet instead
        weights.clear()

    def load_unet(models_, folder):
        trained = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
        accelerator.unwrap_model(models_.pop()).load_state_dict(trained.state_dict())

    accelerator.register_save_state_pre_hook(skip_model_files)
    accelerator.register_load_state_pre_hook(load_unet)
    start = 0
    resume = checkpoints.resume_from(output_dir, cfg.resume)
    if resume is not None:
        accelerator.load_state(str(resume))
        start = checkpoints.checkpoint_step(resume)
        log.info("resumed from %s (step %d)", resume, start)

    run = None
    if accelerator.is_main_process:
        run = wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, name=cfg.logger.name,
                         mode=cfg.logger.mode, dir=str(output_dir), config=OmegaConf.to_container(cfg, resolve=True),
                         reinit="finish_previous")

    def save_checkpoint(step: int) -> None:
        final = checkpoints.checkpoint_dir(output_dir, step)
        partial = final.with_name(final.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        accelerator.save_state(str(partial))
        if accelerator.is_main_process:
            pipeline(models, accelerator.unwrap_model(unet)).save_pretrained(partial)
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
            checkpoints.prune(output_dir, cfg.checkpoint.keep)
        accelerator.wait_for_everyone()

    def sample(step: int) -> None:
        if accelerator.is_main_process and step in cfg.samples.at_steps:
            unet.eval()
            paths = write_samples(cfg, models, accelerator.unwrap_model(unet), step, output_dir, accelerator.autocast)
            unet.train()
            run.log({"samples": [wandb.Image(str(p), caption=p.stem) for p in paths]}, step=step)

    if start == 0:
        sample(0)
    accumulation = cfg.train.gradient_accumulation_steps
    rank, world = accelerator.process_index, accelerator.num_processes
    for step in range(start, cfg.train.steps):
        for micro in range(step * accumulation, (step + 1) * accumulation):
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + micro * world + rank)
            latents, weights, prompts, num_subject = data.batch(micro, cfg, rank, world, generator,
                                                                 models.vae.config.scaling_factor)
            device = accelerator.device
            with accelerator.accumulate(unet), accelerator.autocast():
                losses, _ = training_loss(models, unet, latents.to(device), None if weights is None else weights.to(device),
                                          prompts.to(device), num_subject, cfg.prior_loss_weight, generator)
                accelerator.backward(losses["loss"])
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(unet.parameters(), cfg.train.max_grad_norm)
                optimizer.step()
                lr_schedule.step()
                optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if run is not None:
            run.log({**{k: float(v.detach()) for k, v in losses.items()}, "lr": lr_schedule.get_last_lr()[0]}, step=done)
        if cfg.checkpoint.every and done % cfg.checkpoint.every == 0:
            save_checkpoint(done)
        sample(done)

    final = output_dir / "pipeline"
    if accelerator.is_main_process:
        pipeline(models, accelerator.unwrap_model(unet)).save_pretrained(final)
        run.finish()
    accelerator.end_training()
    return TrainResult(final, start)


@hydra.main(version_base="1.3", config_path=str(config_file("dreambooth")), config_name="default")
def main(cfg: DictConfig) -> None:
    keep_large_buffers()
    try:
        result = train(cfg)
    except (DataError, CheckpointError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"pipeline: {result.pipeline}")


if __name__ == "__main__":
    main()
