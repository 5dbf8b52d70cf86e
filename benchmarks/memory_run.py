"""One run of the real image pipeline (``persam.experiments.evaluate``) over a PerSeg-layout dataset, in a
reduced-cost mode: SAM's two networks, the image encoder and the mask decoder's transformer and upscaling, are
replaced by cheap stubs (a 1,000-image run would otherwise take an hour on 2 cores); everything else is the
real code path: image reading and hashing, the embedding cache on disk (bounded at 0.25 GB, so that it also
evicts), the location prior, guidance, the prompt encoder, the decoder wrapper, both refinement steps,
upsampling to the image size, masks, overlays and results. Used by ``bench.py`` to compare the peak memory of
a 10-image and a 1,000-image run; the weights stay loaded, so the model's memory is counted as in a real run.

    python benchmarks/memory_run.py DATA_ROOT OUT_DIR CACHE_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from peak_rss import peak_rss_mib  # noqa: E402

from persam.config import compose  # noqa: E402
from persam.experiments.evaluate import build_predictor, evaluate  # noqa: E402
from persam.models.decoders import MaskDecoderRunner  # noqa: E402


class StubEncoder:
    """1 x 3 x 1024 x 1024 -> 1 x 256 x 64 x 64: a fixed random 1x1 projection of the 16 x 16 patch means.
    Cheap (milliseconds) and different for every image; its id keeps its entries apart in the cache."""

    id = "bench-stub-encoder"

    def __init__(self) -> None:
        self.weight = torch.randn(256, 3, 1, 1, generator=torch.Generator().manual_seed(0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(F.conv2d(F.avg_pool2d(x, 16), self.weight))


class StubMaskDecoder(torch.nn.Module):
    """``MaskDecoder.forward``'s contract (B x C x 256 x 256 low-res logits, B x C IoU scores) at no cost: a
    disk around the mean of the dense prompt embedding's activity, different for every prompt."""

    def forward(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
                multimask_output: bool):
        b = sparse_prompt_embeddings.shape[0]
        c = 3 if multimask_output else 1
        grid = F.interpolate(dense_prompt_embeddings.mean(1, keepdim=True), size=(256, 256), mode="nearest")
        shift = float(sparse_prompt_embeddings.mean()) * 10
        yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
        disk = (60 + 10 * torch.arange(c).view(1, c, 1, 1)) - ((yy - 128 - shift) ** 2 + (xx - 128) ** 2).sqrt()
        return disk + grid, torch.linspace(0.5, 0.9, c).repeat(b, 1)


def main() -> None:
    root, out, cache = sys.argv[1:4]
    torch.set_num_threads(1)  # memory does not depend on it; on a shared CPU one thread is much faster here
    overrides = [f"dataset.root={root}", "dataset.ref_stems=['000']", f"cache.dir={cache}", "cache.max_gb=0.25",
                 "progress=false", "model.encoder=fp32", "model.decoder=eager", "experiment_name=bench_memory"]
    cfg = compose(overrides)
    predictor = build_predictor(cfg)
    predictor.encoder = StubEncoder()
    predictor.mask_decoder = MaskDecoderRunner(StubMaskDecoder(), "cpu", "eager")
    start = time.perf_counter()
    rows = evaluate(cfg, out, predictor=predictor)
    peak = peak_rss_mib()  # VmHWM: ru_maxrss would start from the parent's peak
    units = sum(1 for _ in Path(out, "masks").rglob("*.png"))
    print(json.dumps({"peak_rss_mib": peak, "seconds": time.perf_counter() - start, "target_images": units,
                      "rows": len(rows), "encoder_calls": predictor.encoder_calls}))


if __name__ == "__main__":
    main()
