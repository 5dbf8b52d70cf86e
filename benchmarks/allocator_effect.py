"""What persam's allocator setting (``persam/allocator.py``) does to the encoder paths: run by ``make bench`` in
two fresh processes, one with the C library's default ``malloc`` settings (``PERSAM_MALLOC=default``, as a plain
script running SAM gets) and one with persam's.

    python benchmarks/allocator_effect.py IMAGE ENCODER...

Prints one JSON object: {"in_force": bool, "seconds": {encoder: median seconds of 5 calls after a first}}.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from persam.allocator import keep_large_buffers  # noqa: E402


def main() -> None:
    in_force = keep_large_buffers()  # first, before torch allocates
    import torch

    from persam.data.io import read_image
    from persam.models import GuidedPredictor, build_sam

    warnings.filterwarnings("ignore")
    image_path, encoders = sys.argv[1], sys.argv[2:]
    loaded = build_sam("vit_t", device="cpu")
    seconds = {}
    with torch.no_grad():
        for name in encoders:
            predictor = GuidedPredictor(loaded, None, encoder=name, decoder="eager")
            x, _ = predictor.encoder_input(read_image(image_path))
            predictor.encoder(x)  # builds or loads the backend
            times = []
            for _ in range(5):
                start = time.perf_counter()
                predictor.encoder(x)
                times.append(time.perf_counter() - start)
            seconds[name] = statistics.median(times)
    print(json.dumps({"in_force": in_force, "seconds": seconds}))


if __name__ == "__main__":
    main()
