"""The predictor and the method for a person's own photos: the one place ``persam segment``, ``persam track``,
``persam dreambooth-masks`` (and DreamBooth's trainer) and the app build them.

    predictor = user_predictor("vit_t", device="cpu")          # SAM with the runs' default encoder and decoder
    method = user_method(predictor, method_config("persam_f", presence=True))

An oracle (a method that reads the target's ground truth, e.g. ``baseline_oracle_box``: an upper bound for the
paper's tables) is refused here, by :func:`refuse_oracle`, with one message for every entry.
"""

from __future__ import annotations

from persam.data.io import DataError
from persam.methods.builder import MethodSpec, build_method, composed_method, method_class, method_spec
from persam.methods.video import video_method
from persam.models import EmbeddingCache, GuidedPredictor, build_sam
from persam.models.decoders import default_decoder
from persam.models.encoders import default_encoder

# persam.experiments.evaluate.build_predictor keeps its own builder: it reads the run's Hydra config (the model
# config's encoder and decoder, the cache's folder and size limit) and shares one loaded SAM between a
# multirun's jobs, none of which a person's command has.


class OracleMethodError(DataError):
    """A method that needs the ground truth, asked for on photos that have none."""


def user_predictor(model: str = "vit_t", checkpoint: str | None = None, device: str | None = None,
                   cache: bool | EmbeddingCache = True) -> GuidedPredictor:
    """SAM ``model`` (weights found or downloaded when ``checkpoint`` is None; ``device`` None: CUDA when
    present) with the runs' default encoder and decoder (``auto``: the fastest path that passed ``make bench``'s
    accuracy checks; ``$PERSAM_ENCODER`` / ``$PERSAM_DECODER`` override). ``cache``: True for the on-disk
    embedding cache at its default place, False for none, or a cache of the caller's."""
    if cache is True:
        cache = EmbeddingCache()
    return GuidedPredictor(build_sam(model, checkpoint or None, device), cache or None, encoder=default_encoder(),
                           decoder=default_decoder())


def method_config(name: str, presence: bool | None = None, max_instances: int = 1,
                  second_opinion: str | None = None) -> dict:
    """``persam/conf/method/<name>.yaml`` composed (:func:`persam.methods.builder.composed_method`), with the
    presence check and its second opinion (:mod:`persam.methods.second_opinion`) set where the method has them
    (``None``: as its config says) and ``max_instances``. An oracle is refused here already, before SAM is
    loaded."""
    settings = composed_method(name)
    refuse_oracle(method_spec(settings))
    if presence is not None and "presence" in settings:
        settings["presence"] = presence
    if second_opinion is not None and "second_opinion" in settings:
        settings["second_opinion"] = second_opinion
    if max_instances != 1:
        if "max_instances" not in settings:
            raise DataError(f"method {name!r} finds one instance only (no max_instances setting)")
        settings["max_instances"] = max_instances
    return settings


def refuse_oracle(spec: MethodSpec) -> None:
    """Raise :class:`OracleMethodError` when the method of ``spec`` reads the ground truth."""
    if getattr(method_class(spec), "needs_ground_truth", False):
        raise OracleMethodError(f"method {spec.name!r} ({spec.label}) reads the ground truth (an oracle for the "
                                "paper's tables), which your photos do not have: choose another method, e.g. "
                                "persam or persam_f")


def user_method(predictor: GuidedPredictor, method_cfg: dict | MethodSpec, video: bool = False):
    """The method of ``method_cfg`` (a :func:`method_config` dict or a spec) built on ``predictor``; oracles
    refused. ``video``: as the video procedure runs it (``persam track``)."""
    spec = method_cfg if isinstance(method_cfg, MethodSpec) else method_spec(method_cfg)
    refuse_oracle(spec)
    return video_method(spec, predictor) if video else build_method(predictor, spec)
